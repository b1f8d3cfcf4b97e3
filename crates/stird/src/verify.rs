//! `stird verify`: every check that needs no network, against a given certificate.

use std::path::PathBuf;

use passport::tn::{NationalRule, NumberPolicy};
use passport::{Decoded, IdentityHeader, Options, Profile, RequestIdentities, VerifyingKey};
use service::{SipResponse, Verstat, response_for};

use crate::{InputError, Outcome, read_file, timearg};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Identity header value, with or without a leading "Identity:".
    #[arg(long, value_name = "VALUE")]
    identity: String,
    /// The signer's certificate or chain (PEM or DER); the first certificate signs.
    #[arg(long, value_name = "CERT.pem")]
    cert: PathBuf,
    /// Calling number or URI to compare with orig (P-Asserted-Identity or From).
    #[arg(long, value_name = "TN")]
    orig: Option<String>,
    /// Called number or URI to compare with dest (To or Request-URI).
    #[arg(long, value_name = "TN")]
    dest: Option<String>,
    /// Verification time: Unix seconds or RFC 3339; now when absent.
    #[arg(long, value_name = "TIME")]
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
    /// Longest telephone number accepted, in digits (E.164 allows 15).
    #[arg(long, value_name = "DIGITS", default_value_t = 15)]
    max_digits: usize,
}

pub fn run(args: &Args) -> Result<Outcome, InputError> {
    let chain = cert::parse_chain(&read_file(&args.cert, "certificate")?)
        .map_err(|error| format!("certificate {}: {error}", args.cert.display()))?;
    let now = match &args.at {
        Some(text) => timearg::parse(text, "--at")?,
        None => timearg::now(),
    };
    let options = Options {
        now,
        freshness: args.freshness,
        profile: if args.strict { Profile::Strict } else { Profile::Lenient },
        numbers: NumberPolicy {
            max_digits: args.max_digits,
            national: args.national.as_deref().map(parse_national).transpose()?,
        },
    };
    let request = RequestIdentities {
        orig: args.orig.as_deref(),
        dest: args.dest.as_deref(),
    };

    let value = strip_header_name(&args.identity);
    let result = IdentityHeader::parse(value).and_then(|identity| {
        let signer = chain
            .first()
            .ok_or(passport::Error::InvalidKey {
                reason: "the certificate file holds no certificate".to_owned(),
            })?;
        let checked = Decoded::from_identity(&identity)?.check(&identity, request, &options)?;
        let point = signer.p256_public_key().map_err(|error| passport::Error::InvalidKey {
            reason: error.to_string(),
        })?;
        checked.verify_signature(&VerifyingKey::from_sec1(point)?)
    });

    println!("certificate: {} (not validated: no trust anchor was given)", chain.first().map_or("", |c| c.subject.as_str()));
    match result {
        Ok(verified) => {
            println!("result: valid");
            println!("verstat: {}", Verstat::TnValidationPassed);
            if let Some(attest) = verified.attestation() {
                println!("attest: {attest}");
            }
            if let Some(origid) = &verified.claims.origid {
                println!("origid: {origid}");
            }
            println!("iat: {} ({})", verified.claims.iat, timearg::format_utc(verified.claims.iat));
            for warning in &verified.warnings {
                println!("warning: {warning}");
            }
            if args.orig.is_none() || args.dest.is_none() {
                println!("note: orig and dest are compared only when --orig and --dest are given");
            }
            Ok(Outcome::Valid)
        }
        Err(error) => {
            let response: SipResponse = response_for(&error);
            println!("result: invalid");
            println!("verstat: {}", Verstat::TnValidationFailed);
            println!("failed check: {}", error.check());
            println!("reason: {error}");
            println!("sip response: {} {}", response.code, response.reason);
            Ok(Outcome::Invalid)
        }
    }
}

/// Accepts a pasted header line: drops a leading `Identity:` or `y:`.
pub fn strip_header_name(value: &str) -> &str {
    let trimmed = value.trim();
    for name in ["identity:", "y:"] {
        if trimmed.len() >= name.len()
            && trimmed.get(..name.len()).is_some_and(|prefix| prefix.eq_ignore_ascii_case(name))
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
    if country_code.is_empty() || !country_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    Ok(NationalRule {
        digits,
        country_code: country_code.to_owned(),
    })
}
