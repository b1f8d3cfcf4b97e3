//! `stird verify`: every check that needs no network, against a given certificate.

use std::path::PathBuf;

use passport::tn::{NationalRule, NumberPolicy};
use passport::{Options, Profile};
use service::{
    CertificateError, CertificateSource, SignerCertificate, VerifyPolicy, VerifyRequest,
    verify_request,
};

use crate::certcmd::{CrlArgs, TrustArgs, describe_revocation, validate};
use crate::{InputError, Outcome, read_file, timearg};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Identity header value, with or without a leading "Identity:".
    #[arg(long, value_name = "VALUE")]
    identity: String,
    /// The signer's certificate or chain (PEM or DER); the first certificate signs.
    #[arg(long, value_name = "CERT.pem", conflicts_with = "x5u_file")]
    cert: Option<PathBuf>,
    /// The document the x5u URL would serve (subscriber certificate, then
    /// intermediates), read from a file instead of fetched.
    #[arg(long, value_name = "FILE")]
    x5u_file: Option<PathBuf>,
    /// Configuration file whose [x5u.files] table maps x5u URLs to local
    /// certificate files, for certificates exchanged out of band.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "x5u_file"])]
    config: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    crls: CrlArgs,
    /// Calling number or URI to compare with orig (P-Asserted-Identity or From).
    #[arg(long, value_name = "TN")]
    orig: Option<String>,
    /// Called number or URI to compare with dest (To or Request-URI).
    #[arg(long, value_name = "TN")]
    dest: Option<String>,
    /// Verification time: Unix seconds or RFC 3339; now when absent.
    #[arg(long, value_name = "TIME", allow_negative_numbers = true)]
    at: Option<String>,
    /// Largest accepted distance between iat and the verification time, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = passport::DEFAULT_FRESHNESS)]
    freshness: u32,
    /// Reject a missing or quoted ppt parameter and non-canonical tn claims.
    #[arg(long)]
    strict: bool,
    /// Turn national numbers of DIGITS digits into international ones by
    /// prefixing the country code CC, as in 10:1 for NANP.
    #[arg(long, value_name = "DIGITS:CC")]
    national: Option<String>,
    /// Maximum length of a telephone number, in digits (E.164 allows 15).
    #[arg(long, value_name = "DIGITS", default_value_t = 15, value_parser = clap::value_parser!(u8).range(1..=64))]
    max_digits: u8,
}

pub fn run(args: &Args) -> Result<Outcome, InputError> {
    let chains = match (args.cert.as_ref().or(args.x5u_file.as_ref()), &args.config) {
        (Some(path), _) => Chains::Fixed(
            cert::parse_chain(&read_file(path, "certificate")?)
                .map_err(|error| format!("certificate {}: {error}", path.display()))?,
        ),
        (None, Some(config)) => Chains::Map(
            certstore::X5uMap::from_config_file(config)
                .map_err(|error| InputError(error.to_string()))?,
        ),
        // TODO: fetch the x5u URL once the certificate repository client exists.
        (None, None) => {
            return Err("give the signer's certificate with --cert, --x5u-file or --config; fetching x5u is not available yet".into());
        }
    };
    let anchors = if args.trust.given() {
        Some(args.trust.load()?)
    } else {
        None
    };
    let crls = args.crls.load()?;
    if crls.is_some() && anchors.is_none() {
        return Err("--crl-file and --crl-dir need trust anchors (--ca-file or --ca-dir)".into());
    }
    let now = match &args.at {
        Some(text) => timearg::parse(text, "--at")?,
        None => timearg::now(),
    };
    let options = Options {
        now,
        freshness: args.freshness,
        profile: if args.strict {
            Profile::Strict
        } else {
            Profile::Lenient
        },
        numbers: NumberPolicy {
            max_digits: usize::from(args.max_digits),
            national: args.national.as_deref().map(parse_national).transpose()?,
        },
    };
    let source = GivenCertificate {
        chains: &chains,
        signer: std::cell::RefCell::new(None),
        anchors: anchors.as_ref(),
        crls: crls.as_ref(),
        at: now,
        revocation: std::cell::RefCell::new(None),
    };
    for (option, value) in [("--orig", &args.orig), ("--dest", &args.dest)] {
        if let Some(value) = value {
            check_identity_argument(option, value)?;
        }
    }
    let request = VerifyRequest {
        identities: vec![strip_header_name(&args.identity).to_owned()],
        orig: args.orig.clone(),
        to: args.dest.clone(),
        request_uri: None,
        date: None,
    };
    let policy = VerifyPolicy {
        options,
        require_identity: true,
    };
    let verdict = verify_request(&request, &source, &policy);

    say!("verstat: {}", verdict.verstat);
    if let Some(failure) = &verdict.failure {
        say!("result: invalid");
        say!("failed check: {}", failure.check);
        say!("reason: {}", failure.reason);
        say!(
            "sip response: {} {}",
            failure.response.code,
            failure.response.reason
        );
        print_certificate_line(source.signer.borrow().as_deref(), anchors.is_some());
        return Ok(Outcome::Invalid);
    }

    say!("result: valid");
    print_certificate_line(source.signer.borrow().as_deref(), anchors.is_some());
    if let Some(revocation) = source.revocation.borrow().as_ref() {
        say!("revocation: {}", describe_revocation(revocation));
    }
    if let Some(attest) = verdict.attestation {
        say!("attest: {attest}");
    }
    if let Some(origid) = &verdict.origid {
        say!("origid: {origid}");
    }
    for warning in &verdict.warnings {
        say!("warning: {warning}");
    }
    if args.orig.is_none() {
        say!("note: orig was not compared; give the calling number with --orig");
    }
    if args.dest.is_none() {
        say!("note: dest was not compared; give the called number with --dest");
    }
    Ok(Outcome::Valid)
}

/// Names the signer's certificate and says how far it was checked.
fn print_certificate_line(signer: Option<&str>, anchored: bool) {
    let Some(signer) = signer else {
        return;
    };
    if anchored {
        say!("certificate: {signer} (path checked against the given trust anchors)");
    } else {
        say!(
            "certificate: {signer} (NOT VALIDATED: only its validity dates were checked; give --ca-file to validate the chain)"
        );
    }
}

/// Rejects a calling or called identity that is neither a URI nor a number, as a
/// usage error rather than a failed call.
fn check_identity_argument(option: &str, value: &str) -> Result<(), InputError> {
    let looks_like_uri = value.contains(':') || value.contains('<');
    if looks_like_uri || passport::tn::canonicalize(value).is_ok() {
        Ok(())
    } else {
        Err(
            format!("{option} '{value}' is neither a telephone number nor a tel, sip or sips URI")
                .into(),
        )
    }
}

/// The certificate chain named by `--cert` or `--x5u-file`, used for whatever
/// x5u the PASSporT names, and validated when trust anchors were given.
/// Where the signer's chain comes from: one file for any x5u, or a map by x5u.
enum Chains {
    Fixed(Vec<cert::Certificate>),
    Map(certstore::X5uMap),
}

struct GivenCertificate<'a> {
    chains: &'a Chains,
    /// The subject of the signer certificate used, for output.
    signer: std::cell::RefCell<Option<String>>,
    anchors: Option<&'a cert::TrustStore>,
    crls: Option<&'a cert::CrlStore>,
    at: i64,
    /// The revocation status of the last successful validation, for output.
    revocation: std::cell::RefCell<Option<cert::Revocation>>,
}

impl CertificateSource for GivenCertificate<'_> {
    fn certificate_for(&self, x5u: &str) -> Result<SignerCertificate, CertificateError> {
        let mapped;
        let chain: &[cert::Certificate] = match self.chains {
            Chains::Fixed(chain) => chain,
            Chains::Map(map) => {
                mapped = map.chain(x5u).ok_or_else(|| {
                    CertificateError::Unavailable(format!("x5u {x5u} is not in the x5u map"))
                })?;
                &mapped
            }
        };
        if let Some(signer) = chain.first() {
            self.signer.replace(Some(signer.subject.clone()));
        }
        if let Some(store) = self.anchors {
            let path = validate(chain, store, self.crls, self.at)
                .map_err(|error| CertificateError::Unsupported(error.to_string()))?;
            self.revocation.replace(Some(path.revocation));
        }
        let signer = chain.first().ok_or_else(|| {
            CertificateError::Unavailable("the certificate file holds no certificate".to_owned())
        })?;
        // Without trust anchors the chain is not validated, but an expired or
        // not yet valid certificate is still refused.
        if self.anchors.is_none() && !(signer.not_before..=signer.not_after).contains(&self.at) {
            return Err(CertificateError::Unsupported(format!(
                "the certificate '{}' is not valid at the verification time (valid {} to {})",
                signer.subject,
                timearg::format_utc(signer.not_before),
                timearg::format_utc(signer.not_after)
            )));
        }
        SignerCertificate::from_certificate(signer)
    }
}

/// Accepts a pasted header line: drops a leading `Identity:` or `y:`.
pub fn strip_header_name(value: &str) -> &str {
    let trimmed = value.trim();
    for name in ["identity:", "y:"] {
        if trimmed.len() >= name.len()
            && trimmed
                .get(..name.len())
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(name))
        {
            return trimmed.get(name.len()..).unwrap_or_default().trim_start();
        }
    }
    trimmed
}

/// Parses `--national DIGITS:CC`.
fn parse_national(text: &str) -> Result<NationalRule, InputError> {
    let invalid = || InputError(format!("--national '{text}' is not DIGITS:CC, as in 10:1"));
    let (digits, country_code) = text.split_once(':').ok_or_else(invalid)?;
    let digits = digits.parse::<usize>().map_err(|_| invalid())?;
    // E.164 country codes are 1 to 3 digits and never start with 0.
    let code_valid = (1..=3).contains(&country_code.len())
        && country_code.bytes().all(|b| b.is_ascii_digit())
        && !country_code.starts_with('0');
    if !(1..=15).contains(&digits) || !code_valid {
        return Err(invalid());
    }
    Ok(NationalRule {
        digits,
        country_code: country_code.to_owned(),
    })
}
