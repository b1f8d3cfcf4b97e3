//! Revocation with CRLs (RFC 5280 sections 5 and 6.3), including the indirect CRL
//! that the STI-PA signs for the certificates of every STI-CA: a subscriber
//! certificate's CRL distribution point names the STI-PA CRL signer as cRLIssuer
//! (ATIS-1000080), so the CRL's issuer is not the certificate's issuer.

use std::path::{Path, PathBuf};

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::parse::{Certificate, parse_bundle};
use crate::validate::{
    Purpose, SignatureFailure, ValidationError, named, parse, validate_chain, verify_signed,
};

/// Maximum size of one CRL file, in bytes.
pub const MAX_CRL_FILE_BYTES: usize = 16 * 1024 * 1024;

/// Maximum number of files read from one CRL directory.
pub const MAX_CRL_DIRECTORY_FILES: usize = 1_000;

/// Policy for a CRL that is missing or past its nextUpdate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlPolicy {
    /// Seconds past nextUpdate during which a CRL is still used, with a note.
    pub stale_grace: i64,
    /// Whether a certificate that names a CRL distribution point fails when no
    /// CRL from that issuer was given.
    pub require_crl: bool,
}

impl Default for CrlPolicy {
    /// Returns the safe default: a certificate that names a CRL must have it, and
    /// a CRL may be used for one day past its nextUpdate while a new one is fetched.
    fn default() -> Self {
        CrlPolicy {
            stale_grace: 24 * 3600,
            require_crl: true,
        }
    }
}

/// Reason CRLs could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} is {length} bytes; the limit is {max}")]
    TooLarge {
        path: PathBuf,
        length: usize,
        max: usize,
    },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("directory {path} holds more than {max} files")]
    TooManyFiles { path: PathBuf, max: usize },
    #[error("no CRL found in {sources}")]
    Empty { sources: String },
}

/// One revoked certificate of a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    serial: Vec<u8>,
    revoked_at: i64,
    reason: String,
}

/// A parsed CRL, its signature not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Crl {
    der: Vec<u8>,
    issuer_raw: Vec<u8>,
    issuer: String,
    this_update: i64,
    next_update: Option<i64>,
    entries: Vec<Entry>,
}

/// The CRLs and the certificates of their signers, as loaded from files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlStore {
    crls: Vec<Crl>,
    signers: Vec<Certificate>,
    policy: CrlPolicy,
}

impl CrlStore {
    /// Loads CRLs from files and directories. A file may be a DER CRL, or PEM with
    /// `X509 CRL` blocks and `CERTIFICATE` blocks; the certificates are candidate
    /// CRL signers, each validated to a trust anchor before its CRL is used.
    pub fn load(
        files: &[PathBuf],
        directories: &[PathBuf],
        policy: CrlPolicy,
    ) -> Result<Self, CrlError> {
        let mut store = CrlStore {
            crls: Vec::new(),
            signers: Vec::new(),
            policy,
        };
        for file in files {
            store.load_file(file)?;
        }
        for directory in directories {
            for file in crl_files(directory)? {
                store.load_file(&file)?;
            }
        }
        if store.crls.is_empty() {
            let names: Vec<String> = files
                .iter()
                .chain(directories)
                .map(|p| p.display().to_string())
                .collect();
            return Err(CrlError::Empty {
                sources: names.join(", "),
            });
        }
        Ok(store)
    }

    /// Returns the number of CRLs loaded.
    pub fn len(&self) -> usize {
        self.crls.len()
    }

    /// Reports whether no CRL is loaded.
    pub fn is_empty(&self) -> bool {
        self.crls.is_empty()
    }

    fn load_file(&mut self, path: &Path) -> Result<(), CrlError> {
        let bytes = crate::parse::read_limited(path, MAX_CRL_FILE_BYTES).map_err(|error| {
            CrlError::Read {
                path: path.to_owned(),
                reason: error.to_string(),
            }
        })?;
        if bytes.len() > MAX_CRL_FILE_BYTES {
            return Err(CrlError::TooLarge {
                path: path.to_owned(),
                length: bytes.len(),
                max: MAX_CRL_FILE_BYTES,
            });
        }
        let parse_error = |reason: String| CrlError::Parse {
            path: path.to_owned(),
            reason,
        };

        if bytes.starts_with(&[0x30]) {
            self.crls.push(parse_crl(&bytes).map_err(parse_error)?);
            return Ok(());
        }
        for block in Pem::iter_from_buffer(&bytes) {
            let block = block.map_err(|error| parse_error(error.to_string()))?;
            match block.label.as_str() {
                "X509 CRL" => self
                    .crls
                    .push(parse_crl(&block.contents).map_err(parse_error)?),
                "CERTIFICATE" => {
                    let signers = parse_bundle(&block.contents)
                        .map_err(|error| parse_error(error.to_string()))?;
                    self.signers.extend(signers);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks every certificate of `path` below its trust anchor against the CRLs
    /// and returns notes on the CRLs the policy let pass (RFC 5280 section 6.3).
    pub(crate) fn check_path(
        &self,
        path: &[&Certificate],
        anchors: &[Certificate],
        at: i64,
    ) -> Result<Vec<String>, ValidationError> {
        let mut notes = Vec::new();
        let below_anchor = path.len().saturating_sub(1);
        for (index, certificate) in path.iter().enumerate().take(below_anchor) {
            let issuers = path.get(index + 1..).unwrap_or_default();
            self.check_certificate(certificate, issuers, anchors, at, &mut notes)?;
        }
        Ok(notes)
    }

    fn check_certificate(
        &self,
        certificate: &Certificate,
        issuers: &[&Certificate],
        anchors: &[Certificate],
        at: i64,
        notes: &mut Vec<String>,
    ) -> Result<(), ValidationError> {
        let parsed = parse(certificate)?;
        let points = crl_issuers(&parsed);
        // Without a distribution point the certificate's own issuer is the one
        // that would list it, and a missing CRL is no failure (RFC 5280 4.2.1.13).
        let (expected, named_point) = match points {
            Some(names) if !names.is_empty() => (names, true),
            _ => (vec![parsed.issuer().as_raw().to_vec()], false),
        };

        let Some(crl) = self
            .crls
            .iter()
            .filter(|crl| expected.contains(&crl.issuer_raw))
            .max_by_key(|crl| crl.this_update)
        else {
            if named_point && self.policy.require_crl {
                return Err(ValidationError::CrlMissing {
                    certificate: named(certificate),
                    crl_issuer: describe_names(&expected),
                });
            }
            if named_point {
                notes.push(format!("no CRL was given for {}", named(certificate)));
            }
            return Ok(());
        };

        self.check_crl_signature(crl, issuers, anchors, at)?;
        check_crl_freshness(crl, at, self.policy, notes)?;

        let serial = crate::validate::trim_zeros(parsed.raw_serial()).to_vec();
        // NOTE: entries are matched by serial number alone. STI-CAs draw serial
        // numbers of 64 random bits or more, and the indirect CRL of the STI-PA
        // does not always carry the certificateIssuer entry extension.
        if let Some(entry) = crl
            .entries
            .iter()
            .find(|e| e.serial == serial && e.revoked_at <= at)
        {
            return Err(ValidationError::Revoked {
                certificate: named(certificate),
                reason: entry.reason.clone(),
                revoked_at: entry.revoked_at,
            });
        }
        Ok(())
    }

    /// Checks that a certificate named as the CRL's issuer signed it, and that this
    /// signer is a certificate of the path, a trust anchor, or a CRL signer that
    /// itself validates to a trust anchor (RFC 5280 section 6.3.3 (f)).
    fn check_crl_signature(
        &self,
        crl: &Crl,
        issuers: &[&Certificate],
        anchors: &[Certificate],
        at: i64,
    ) -> Result<(), ValidationError> {
        let untrusted = |reason: String| ValidationError::CrlUntrusted {
            crl_issuer: crl.issuer.clone(),
            reason,
        };
        let parsed_crl = CertificateRevocationList::from_der(&crl.der)
            .map(|(_, parsed)| parsed)
            .map_err(|error| untrusted(error.to_string()))?;
        let algorithm = parsed_crl.signature_algorithm.algorithm.to_id_string();

        let known = issuers.iter().copied().chain(anchors.iter());
        let mut last_error = format!("no certificate named '{}' was given", crl.issuer);
        for (candidate, in_path) in known
            .map(|c| (c, true))
            .chain(self.signers.iter().map(|c| (c, false)))
        {
            let Ok(signer) = parse(candidate) else {
                continue;
            };
            if signer.subject().as_raw() != crl.issuer_raw.as_slice() {
                continue;
            }
            match verify_signed(
                parsed_crl.tbs_cert_list.as_ref(),
                &algorithm,
                parsed_crl.signature_value.data.as_ref(),
                &signer,
            ) {
                Ok(()) => {}
                Err(SignatureFailure::Unsupported(oid)) => {
                    last_error = format!("signature algorithm {oid} is not supported");
                    continue;
                }
                Err(SignatureFailure::Invalid) => {
                    last_error = format!(
                        "the signature does not verify with the key of {}",
                        named(candidate)
                    );
                    continue;
                }
            }
            if in_path {
                return Ok(());
            }
            let intermediates: Vec<&Certificate> = issuers.to_vec();
            return validate_chain(
                std::slice::from_ref(candidate),
                &intermediates,
                anchors,
                at,
                Purpose::CrlSigner,
            )
            .map(|_| ())
            .map_err(|error| untrusted(format!("its signer does not validate: {error}")));
        }
        Err(untrusted(last_error))
    }
}

/// Checks that the CRL is current: past nextUpdate it is stale, and the policy's
/// grace period decides whether it is still used (RFC 5280 section 6.3.3 (a)).
fn check_crl_freshness(
    crl: &Crl,
    at: i64,
    policy: CrlPolicy,
    notes: &mut Vec<String>,
) -> Result<(), ValidationError> {
    let Some(next_update) = crl.next_update else {
        return Ok(());
    };
    if at <= next_update {
        return Ok(());
    }
    if at - next_update <= policy.stale_grace {
        notes.push(format!(
            "the CRL from '{}' passed its nextUpdate {} and is used within the grace period",
            crl.issuer,
            crate::validate::utc(next_update)
        ));
        return Ok(());
    }
    Err(ValidationError::CrlStale {
        crl_issuer: crl.issuer.clone(),
        next_update,
        at,
    })
}

/// Returns the CRL issuer names of a certificate's CRL distribution points: the
/// cRLIssuer when present (an indirect CRL), else the certificate's issuer.
/// `None` means the certificate has no distribution point.
fn crl_issuers(
    certificate: &x509_parser::certificate::X509Certificate<'_>,
) -> Option<Vec<Vec<u8>>> {
    let points =
        certificate
            .iter_extensions()
            .find_map(|extension| match extension.parsed_extension() {
                ParsedExtension::CRLDistributionPoints(points) => Some(points),
                _ => None,
            })?;
    let mut names = Vec::new();
    for point in points.iter() {
        match &point.crl_issuer {
            Some(issuers) => names.extend(issuers.iter().filter_map(|name| match name {
                GeneralName::DirectoryName(name) => Some(name.as_raw().to_vec()),
                _ => None,
            })),
            None => names.push(certificate.issuer().as_raw().to_vec()),
        }
    }
    names.dedup();
    Some(names)
}

fn parse_crl(der: &[u8]) -> Result<Crl, String> {
    let (rest, crl) = CertificateRevocationList::from_der(der)
        .map_err(|error| format!("not a valid DER CRL: {error}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the CRL", rest.len()));
    }
    let entries = crl
        .iter_revoked_certificates()
        .map(|entry| Entry {
            serial: crate::validate::trim_zeros(entry.raw_serial()).to_vec(),
            revoked_at: entry.revocation_date.timestamp(),
            reason: entry.reason_code().map_or_else(
                || "no reason given".to_owned(),
                |(_, code)| reason_name(code.0).to_owned(),
            ),
        })
        .collect();
    Ok(Crl {
        der: der.to_vec(),
        issuer_raw: crl.issuer().as_raw().to_vec(),
        issuer: crl.issuer().to_string(),
        this_update: crl.last_update().timestamp(),
        next_update: crl.next_update().map(|time| time.timestamp()),
        entries,
    })
}

/// Names a CRLReason code (RFC 5280 section 5.3.1).
fn reason_name(code: u8) -> &'static str {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "unknown reason code",
    }
}

fn describe_names(names: &[Vec<u8>]) -> String {
    names
        .iter()
        .filter_map(|raw| {
            x509_parser::x509::X509Name::from_der(raw)
                .ok()
                .map(|(_, name)| name.to_string())
        })
        .collect::<Vec<_>>()
        .join("', '")
}

/// Lists the CRL files of a directory in name order.
fn crl_files(directory: &Path) -> Result<Vec<PathBuf>, CrlError> {
    let read_error = |error: std::io::Error| CrlError::Read {
        path: directory.to_owned(),
        reason: error.to_string(),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "crl" | "pem" | "der"));
        if wanted && path.is_file() {
            files.push(path);
        }
        if files.len() > MAX_CRL_DIRECTORY_FILES {
            return Err(CrlError::TooManyFiles {
                path: directory.to_owned(),
                max: MAX_CRL_DIRECTORY_FILES,
            });
        }
    }
    files.sort();
    Ok(files)
}
