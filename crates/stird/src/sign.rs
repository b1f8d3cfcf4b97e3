//! `stird sign`: build and sign a SHAKEN PASSporT.

use std::path::PathBuf;

use passport::{Attestation, Claims, Dest, Orig, PPT_SHAKEN, SigningKey, tn};

use crate::{InputError, Outcome, read_file, timearg};

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("credential").required(true).args(["key", "config", "db"]))]
pub struct Args {
    /// P-256 private key: PEM (PKCS#8, or SEC1 with or without EC PARAMETERS) or DER.
    #[arg(long, value_name = "KEY.pem", requires_all = ["x5u", "attest"])]
    key: Option<PathBuf>,
    /// The https URL where verifiers fetch the signer's certificate chain.
    #[arg(long, value_name = "URL", requires = "key")]
    x5u: Option<String>,
    /// Configuration file whose [[credential]] tables pick the credential by
    /// calling number or trunk.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// SQLite database of credentials (see stird credentials init).
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// Trunk or customer id, for credentials selected by trunk.
    #[arg(long, value_name = "ID")]
    trunk: Option<String>,
    /// Attestation level: A (full), B (partial) or C (gateway). With --config or
    /// --db, the credential's policy caps it and gives the default.
    #[arg(long, value_name = "A|B|C")]
    attest: Option<String>,
    /// Calling number; '+' and visual separators are removed.
    #[arg(long, value_name = "TN")]
    orig: String,
    /// Called numbers, comma-separated or repeated.
    #[arg(long, value_name = "TN", value_delimiter = ',', required = true)]
    dest: Vec<String>,
    /// Origination identifier, opaque (RFC 8588); a random UUID v4 when absent.
    #[arg(long, value_name = "ID")]
    origid: Option<String>,
    /// Issued-at time: Unix seconds or RFC 3339; now when absent.
    #[arg(long, value_name = "TIME", allow_negative_numbers = true)]
    iat: Option<String>,
}

pub fn run(args: &Args) -> Result<Outcome, InputError> {
    let requested = args
        .attest
        .as_deref()
        .map(Attestation::parse)
        .transpose()
        .map_err(|error| format!("--attest: {error}"))?;
    let orig = canonical(&args.orig, "--orig")?;
    if let (Some(path), Some(x5u)) = (&args.key, &args.x5u) {
        let key = SigningKey::from_pem_or_der(&read_file(path, "key")?)
            .map_err(|error| format!("key {}: {error}", path.display()))?;
        let attest = requested.ok_or("--attest is required with --key")?;
        return sign_and_print(&key, check_x5u(x5u)?, attest, orig, args);
    }

    let credentials = crate::credentials::load(args.config.as_deref(), args.db.as_deref())?;
    let selection = credentials
        .select(&orig, args.trunk.as_deref())
        .ok_or_else(|| {
            format!("no credential is selected for {orig} and no default is configured")
        })?;
    let credential = &selection.credential;
    eprintln!(
        "stird: signing with credential '{}' ({})",
        credential.name, selection.reason
    );
    let attest = credential.attestation_for(requested);
    if requested.is_some_and(|level| level != attest) {
        eprintln!("stird: note: attestation capped at {attest} by the credential's policy");
    }
    sign_and_print(&credential.key, &credential.x5u, attest, orig, args)
}

/// Builds the SHAKEN claims, signs them and prints the Identity header value.
fn sign_and_print(
    key: &SigningKey,
    x5u: &str,
    attest: Attestation,
    orig: String,
    args: &Args,
) -> Result<Outcome, InputError> {
    let dest = args
        .dest
        .iter()
        .map(|number| canonical(number, "--dest"))
        .collect::<Result<Vec<_>, _>>()?;
    let iat = match &args.iat {
        Some(text) => timearg::parse(text, "--iat")?,
        None => timearg::now(),
    };
    let origid = match &args.origid {
        Some(origid) if origid.is_empty() => return Err("--origid must not be empty".into()),
        Some(origid) => origid.clone(),
        None => random_uuid()?,
    };
    let claims = Claims::shaken(
        attest,
        Orig::Tn(orig),
        Dest {
            tn: dest,
            uri: Vec::new(),
        },
        iat,
        origid,
    );
    let identity = passport::sign_identity(key, x5u, Some(PPT_SHAKEN), &claims)
        .map_err(|error| format!("signing failed: {error}"))?;
    say!("{identity}");
    Ok(Outcome::Valid)
}

/// Canonicalizes a number given on the command line, which E.164 caps at 15 digits.
fn canonical(number: &str, option: &str) -> Result<String, InputError> {
    tn::apply_policy(number, &tn::NumberPolicy::default()).map_err(|error| {
        InputError(format!(
            "{option} '{number}' is not a telephone number: {error}"
        ))
    })
}

/// Requires an https URL that fits in `info=<...>`. Verifiers refuse other
/// schemes (ATIS-1000080), so signing with one would only produce failed calls.
fn check_x5u(url: &str) -> Result<&str, InputError> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(format!("--x5u '{url}' must be an https URL").into());
    };
    if rest.is_empty()
        || url
            .bytes()
            .any(|b| b <= b' ' || matches!(b, b'<' | b'>' | b'"' | 0x7f))
    {
        return Err(format!("--x5u '{url}' is not a valid URL").into());
    }
    Ok(url)
}

fn random_uuid() -> Result<String, InputError> {
    service::random_uuid().ok_or_else(|| "the system random generator failed".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x5u_must_be_https() {
        assert!(check_x5u("http://cr.example.com/a.pem").is_err());
        assert!(check_x5u("https://cr.example.com/a b.pem").is_err());
        assert!(check_x5u("https://cr.example.com/a.pem").is_ok());
    }
}
