//! `stird verify`: the whole verification of one Identity header, against a
//! given certificate, a local x5u map, or the chain fetched from x5u.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use certstore::{SharedTrust, TrustedCert, X5uCache};
use passport::tn::{NationalRule, NumberPolicy};
use passport::{Options, Profile};
use service::{
    CertificateError, CertificateFuture, CertificateSource, VerifyPolicy, VerifyRequest,
    verify_request,
};

use crate::certcmd::{CrlArgs, TrustArgs, describe_revocation};
use crate::x5u::{FetchArgs, load_trust, runtime};
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
    /// Configuration file: its [x5u.files] table maps x5u URLs to local
    /// certificate files; without that table, x5u is fetched under its [x5u]
    /// policy.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "x5u_file"])]
    config: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    crls: CrlArgs,
    #[command(flatten)]
    fetch: FetchArgs,
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
    let fixed = match args.cert.as_ref().or(args.x5u_file.as_ref()) {
        Some(path) => Some(
            cert::parse_chain(&read_file(path, "certificate")?)
                .map_err(|error| format!("certificate {}: {error}", path.display()))?,
        ),
        None => None,
    };
    let map = match &args.config {
        Some(config) => Some(
            certstore::X5uMap::from_config_file(config)
                .map_err(|error| InputError(error.to_string()))?,
        ),
        None => None,
    };
    let mut trust = load_trust(&args.trust, &args.crls)?;
    // Without trust flags, the [trust] table of --config applies.
    if trust.is_none()
        && let Some(config) = &args.config
    {
        let file = crate::serve_config::read(config)?;
        let table = &file.trust;
        if !table.ca_files.is_empty() || !table.ca_dirs.is_empty() {
            trust = Some(crate::serve::load_trust(
                table,
                crate::serve::base_of(config),
            )?);
        }
    }
    let trust = trust.map(|t| Arc::new(SharedTrust::new(t)));
    let anchored = trust.is_some();
    // Local chains (a certificate file, or an x5u map for certificates
    // exchanged out of band) are the agnostic model. Without them the x5u URL
    // is fetched, under the [x5u] policy of --config when given.
    let local = fixed.is_some() || map.as_ref().is_some_and(|map| !map.is_empty());
    let fetcher = if local {
        None
    } else {
        let settings = args.fetch.settings(args.config.as_deref())?;
        Some(args.fetch.cache(&settings, trust.clone())?)
    };
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
    let source = CliSource {
        fixed,
        map,
        fetcher,
        trust,
        used: Mutex::new(None),
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
    let verdict = runtime()?.block_on(verify_request(&request, &source, &policy));
    let used = source.used();
    let signer = used
        .as_ref()
        .and_then(|cert| cert.signer())
        .map(|c| c.subject.as_str());

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
        print_certificate_line(signer, anchored);
        return Ok(Outcome::Invalid);
    }

    say!("result: valid");
    print_certificate_line(signer, anchored);
    if let Some(revocation) = used.as_ref().and_then(|cert| cert.revocation()) {
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

/// Prints the signer's certificate and how far it was checked.
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

/// The certificate source of `stird verify`: the file of `--cert` or
/// `--x5u-file` for any x5u, else the x5u map of `--config`, else a fetch. Local
/// chains are validated like fetched ones when trust anchors were given.
struct CliSource {
    fixed: Option<Vec<cert::Certificate>>,
    map: Option<certstore::X5uMap>,
    fetcher: Option<X5uCache>,
    trust: Option<Arc<SharedTrust>>,
    /// The last certificate obtained, for output.
    used: Mutex<Option<Arc<TrustedCert>>>,
}

impl CliSource {
    fn used(&self) -> Option<Arc<TrustedCert>> {
        match self.used.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn record(&self, cert: &Arc<TrustedCert>) {
        match self.used.lock() {
            Ok(mut guard) => *guard = Some(Arc::clone(cert)),
            Err(poisoned) => *poisoned.into_inner() = Some(Arc::clone(cert)),
        }
    }

    fn local(
        &self,
        x5u: &str,
        chain: Vec<cert::Certificate>,
        at: i64,
    ) -> Result<Arc<TrustedCert>, CertificateError> {
        let trust = self.trust.as_ref().map(|trust| trust.current());
        // Without trust anchors the chain is not validated, but an expired or
        // not yet valid certificate is still refused.
        TrustedCert::from_chain(x5u, chain, trust.as_deref(), at)
            .map(Arc::new)
            .map_err(|error| CertificateError::Unsupported(error.to_string()))
    }
}

impl CertificateSource for CliSource {
    fn certificate_for<'a>(&'a self, x5u: &'a str, at: i64) -> CertificateFuture<'a> {
        Box::pin(async move {
            let mapped = self.map.as_ref().and_then(|map| map.chain(x5u));
            let result = if let Some(chain) = &self.fixed {
                self.local(x5u, chain.clone(), at)
            } else if let Some(chain) = mapped {
                self.local(x5u, chain.as_ref().clone(), at)
            } else if let Some(fetcher) = &self.fetcher {
                fetcher.certificate_for(x5u, at).await
            } else {
                Err(CertificateError::Unavailable(format!(
                    "x5u {x5u} is not in the x5u map"
                )))
            };
            if let Ok(cert) = &result {
                self.record(cert);
            }
            result
        })
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
pub(crate) fn parse_national(text: &str) -> Result<NationalRule, InputError> {
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
