//! Signing credentials of the agnostic model: a private key parsed once, the
//! certificate chain that verifiers fetch from x5u, and an attestation policy.

use std::path::{Path, PathBuf};

use cert::lint::{Severity, lint, role_of};
use cert::tnauthlist::Coverage;
use passport::{Attestation, SigningKey};
use serde::Deserialize;

/// Maximum size of a key or chain file, in bytes.
const MAX_FILE_BYTES: usize = 1024 * 1024;

/// A rule that selects a credential for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// One calling number, canonical.
    Number(String),
    /// Calling numbers that start with these digits.
    Prefix(String),
    /// `count` consecutive numbers from `start`, of the same length.
    Range { start: String, count: u64 },
    /// Calls that arrive on this trunk or for this customer id.
    Trunk(String),
    /// Calls that nothing else selects.
    Default,
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::Number(number) => write!(f, "number {number}"),
            Selector::Prefix(prefix) => write!(f, "prefix {prefix}"),
            Selector::Range { start, count } => write!(f, "range {start} count {count}"),
            Selector::Trunk(trunk) => write!(f, "trunk {trunk}"),
            Selector::Default => f.write_str("default"),
        }
    }
}

/// A credential as declared in the configuration file or the database, before
/// its files are read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// A name for logs and listings.
    pub name: String,
    /// The P-256 private key: PEM (PKCS#8 or SEC1) or DER, readable by its owner only.
    pub key: PathBuf,
    /// The certificate chain the x5u URL serves: the signer's certificate first.
    pub chain: PathBuf,
    /// The https URL verifiers fetch the chain from.
    pub x5u: String,
    /// The highest attestation this credential may sign: A, B or C.
    #[serde(default = "default_attestation")]
    pub attest_max: String,
    /// The attestation signed when the request names none.
    #[serde(default = "default_attestation")]
    pub attest_default: String,
    /// Calling numbers this credential signs for.
    #[serde(default)]
    pub numbers: Vec<String>,
    /// Calling number prefixes this credential signs for.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Calling number ranges, as START:COUNT.
    #[serde(default)]
    pub ranges: Vec<String>,
    /// Trunks or customer ids this credential signs for.
    #[serde(default)]
    pub trunks: Vec<String>,
    /// Whether this credential signs calls that nothing else selects.
    #[serde(default)]
    pub default: bool,
}

/// B: full attestation (A) claims the provider verified the caller's right to the
/// number, so it is never signed unless configured (RFC 8588 section 4).
fn default_attestation() -> String {
    "B".to_owned()
}

/// A loaded credential, checked and ready to sign.
#[derive(Debug)]
pub struct Credential {
    /// The configured name.
    pub name: String,
    /// The private key, parsed once.
    pub key: SigningKey,
    /// The certificate chain, the signer's certificate first.
    pub chain: Vec<cert::Certificate>,
    /// The x5u URL.
    pub x5u: String,
    /// The highest attestation this credential may sign.
    pub attest_max: Attestation,
    /// The attestation signed when none is requested.
    pub attest_default: Attestation,
    /// The rules that select this credential.
    pub selectors: Vec<Selector>,
    /// The signer certificate's notAfter, in Unix seconds.
    pub not_after: i64,
    /// Findings that did not stop the load: lint findings and SPC-only coverage.
    pub warnings: Vec<String>,
}

impl Credential {
    /// Returns the whole days left until the certificate's notAfter.
    pub fn days_to_expiry(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }

    /// Returns the attestation to sign: the request's level or the default,
    /// capped at `attest_max` (A is the highest).
    pub fn attestation_for(&self, requested: Option<Attestation>) -> Attestation {
        requested
            .unwrap_or(self.attest_default)
            .max(self.attest_max)
    }
}

/// Reason a credential could not be loaded, naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("credential '{name}': cannot read {path}: {reason}")]
    Read {
        name: String,
        path: String,
        reason: String,
    },
    #[error(
        "credential '{name}': key file {path} is readable by group or others (mode {mode:o}); run chmod 600"
    )]
    KeyPermissions {
        name: String,
        path: String,
        mode: u32,
    },
    #[error("credential '{name}': {reason}")]
    Invalid { name: String, reason: String },
    #[error(
        "credential '{name}': the key does not match the public key of certificate '{subject}'"
    )]
    KeyMismatch { name: String, subject: String },
    #[error(
        "credential '{name}': certificate '{subject}' is not valid now (valid {not_before} to {not_after}, now {now})"
    )]
    NotValidNow {
        name: String,
        subject: String,
        not_before: i64,
        not_after: i64,
        now: i64,
    },
    #[error(
        "credential '{name}': certificate '{subject}' has no TNAuthList, so every verifier rejects its signatures"
    )]
    NoTnAuthList { name: String, subject: String },
    #[error(
        "credential '{name}': the TNAuthList of certificate '{subject}' does not cover {selector}"
    )]
    NotCovered {
        name: String,
        subject: String,
        selector: String,
    },
}

impl CredentialConfig {
    /// Reads the files and runs every load check at Unix time `now`.
    pub fn load(&self, now: i64) -> Result<Credential, CredentialError> {
        let invalid = |reason: String| CredentialError::Invalid {
            name: self.name.clone(),
            reason,
        };

        check_key_permissions(&self.name, &self.key)?;
        let key = SigningKey::from_pem_or_der(&read(&self.name, &self.key)?)
            .map_err(|e| invalid(e.to_string()))?;
        let chain = cert::parse_chain(&read(&self.name, &self.chain)?)
            .map_err(|e| invalid(format!("chain {}: {e}", self.chain.display())))?;
        let signer = chain
            .first()
            .ok_or_else(|| invalid("the chain is empty".to_owned()))?;
        if !self.x5u.starts_with("https://") || self.x5u.len() <= "https://".len() {
            return Err(invalid(format!("x5u '{}' must be an https URL", self.x5u)));
        }
        let attest_max = Attestation::parse(&self.attest_max)
            .map_err(|e| invalid(format!("attest_max: {e}")))?;
        let attest_default = Attestation::parse(&self.attest_default)
            .map_err(|e| invalid(format!("attest_default: {e}")))?;
        let selectors = self.selectors().map_err(invalid)?;

        check_key_matches(&self.name, &key, signer)?;
        check_valid_now(&self.name, signer, now)?;
        let mut warnings = check_coverage(&self.name, signer, &selectors)?;
        for finding in lint(signer, role_of(signer), now).findings {
            if finding.rule.severity != Severity::Notice {
                warnings.push(format!(
                    "lint {}: {} Found: {}.",
                    finding.rule.code, finding.rule.statement, finding.detail
                ));
            }
        }

        Ok(Credential {
            name: self.name.clone(),
            key,
            not_after: signer.not_after,
            chain,
            x5u: self.x5u.clone(),
            attest_max,
            attest_default,
            selectors,
            warnings,
        })
    }

    /// Returns the selectors, with numbers in canonical form.
    fn selectors(&self) -> Result<Vec<Selector>, String> {
        let canonical = |number: &str| {
            passport::tn::apply_policy(number, &passport::tn::NumberPolicy::default())
                .map_err(|e| format!("'{number}' is not a telephone number: {e}"))
        };
        let mut selectors = Vec::new();
        for number in &self.numbers {
            selectors.push(Selector::Number(canonical(number)?));
        }
        for prefix in &self.prefixes {
            selectors.push(Selector::Prefix(canonical(prefix)?));
        }
        for range in &self.ranges {
            let invalid = || format!("range '{range}' is not START:COUNT with COUNT of 2 or more");
            let (start, count) = range.split_once(':').ok_or_else(invalid)?;
            let count = count.trim().parse::<u64>().map_err(|_| invalid())?;
            if count < 2 {
                return Err(invalid());
            }
            selectors.push(Selector::Range {
                start: canonical(start.trim())?,
                count,
            });
        }
        for trunk in &self.trunks {
            if trunk.trim().is_empty() {
                return Err("an empty trunk id".to_owned());
            }
            selectors.push(Selector::Trunk(trunk.trim().to_owned()));
        }
        if self.default {
            selectors.push(Selector::Default);
        }
        if selectors.is_empty() {
            return Err(
                "nothing selects it: give numbers, prefixes, ranges, trunks or default = true"
                    .to_owned(),
            );
        }
        Ok(selectors)
    }
}

fn read(name: &str, path: &Path) -> Result<Vec<u8>, CredentialError> {
    cert::read_limited(path, MAX_FILE_BYTES).map_err(|e| CredentialError::Read {
        name: name.to_owned(),
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Checks that the key file is readable by its owner only.
fn check_key_permissions(name: &str, path: &Path) -> Result<(), CredentialError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let metadata = std::fs::metadata(path).map_err(|e| CredentialError::Read {
            name: name.to_owned(),
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CredentialError::KeyPermissions {
                name: name.to_owned(),
                path: path.display().to_string(),
                mode,
            });
        }
    }
    Ok(())
}

/// Checks that the private key is the one whose public key the certificate
/// carries, so verifiers that fetch x5u can verify what this credential signs.
fn check_key_matches(
    name: &str,
    key: &SigningKey,
    signer: &cert::Certificate,
) -> Result<(), CredentialError> {
    match signer.p256_public_key() {
        Ok(point) if point == key.public_key() => Ok(()),
        _ => Err(CredentialError::KeyMismatch {
            name: name.to_owned(),
            subject: signer.subject.clone(),
        }),
    }
}

fn check_valid_now(
    name: &str,
    signer: &cert::Certificate,
    now: i64,
) -> Result<(), CredentialError> {
    if (signer.not_before..=signer.not_after).contains(&now) {
        Ok(())
    } else {
        Err(CredentialError::NotValidNow {
            name: name.to_owned(),
            subject: signer.subject.clone(),
            not_before: signer.not_before,
            not_after: signer.not_after,
            now,
        })
    }
}

/// Checks that the TNAuthList covers every configured number, range end and
/// prefix. An SPC-only certificate covers any number under SHAKEN, which is
/// noted when numbers were configured.
fn check_coverage(
    name: &str,
    signer: &cert::Certificate,
    selectors: &[Selector],
) -> Result<Vec<String>, CredentialError> {
    let subject = || signer.subject.clone();
    let list = match &signer.tn_auth_list {
        Some(Ok(list)) => list,
        _ => {
            return Err(CredentialError::NoTnAuthList {
                name: name.to_owned(),
                subject: subject(),
            });
        }
    };
    let mut warnings = Vec::new();
    for selector in selectors {
        let numbers: Vec<String> = match selector {
            Selector::Number(number) => vec![number.clone()],
            Selector::Prefix(prefix) => vec![prefix.clone()],
            Selector::Range { start, count } => {
                vec![
                    start.clone(),
                    cert::tnauthlist::range_end(start, *count).unwrap_or_default(),
                ]
            }
            Selector::Trunk(_) | Selector::Default => continue,
        };
        for number in numbers {
            match list.covers(&number) {
                Coverage::Number => {}
                Coverage::SpcOnly => warnings.push(format!(
                    "{selector} is covered only by the SPC {}, as SHAKEN certificates are",
                    list.spc().unwrap_or_default()
                )),
                Coverage::No if matches!(selector, Selector::Prefix(_)) => {
                    warnings.push(format!(
                        "{selector} cannot be checked against the TNAuthList number entries"
                    ));
                }
                Coverage::No => {
                    return Err(CredentialError::NotCovered {
                        name: name.to_owned(),
                        subject: subject(),
                        selector: selector.to_string(),
                    });
                }
            }
        }
    }
    warnings.dedup();
    Ok(warnings)
}
