//! Certificate path validation (RFC 5280 section 6), focused on the SHAKEN PKI.
//!
//! The path runs from the subscriber certificate through the intermediates that
//! the x5u document served to a trust anchor, at an explicit time. Each rule is
//! its own function. The validator departs from general-purpose ones where the
//! real SHAKEN PKI requires it: certificatePolicies marked critical is understood
//! (ATIS-1000080 CAs issued such certificates), the ECDSA signature algorithm may
//! carry a NULL parameter, and the subscriber key must be P-256 because ES256
//! needs it.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION,
};
use x509_parser::prelude::FromDer;

use crate::parse::Certificate;
use crate::tnauthlist::{Coverage, TnEntry};

/// Maximum number of certificates in a path, anchor included. SHAKEN paths have
/// three; delegate certificates (RFC 9060) add one or two.
pub const MAX_PATH_LEN: usize = 6;

/// Extensions this validator understands, by OID, so that marking them critical
/// does not fail a certificate (RFC 5280 section 4.2).
const UNDERSTOOD_EXTENSIONS: [&str; 11] = [
    "2.5.29.14",          // subjectKeyIdentifier
    "2.5.29.35",          // authorityKeyIdentifier
    "2.5.29.15",          // keyUsage
    "2.5.29.19",          // basicConstraints
    "2.5.29.32",          // certificatePolicies: critical in some STI-CA certificates
    "2.5.29.31",          // cRLDistributionPoints
    "2.5.29.17",          // subjectAltName
    "2.5.29.37",          // extKeyUsage
    "1.3.6.1.5.5.7.1.26", // TNAuthList (RFC 8226)
    "1.3.6.1.5.5.7.1.27", // JWTClaimConstraints (RFC 8226)
    "1.3.6.1.5.5.7.1.33", // EnhancedJWTClaimConstraints (RFC 9118)
];

/// A certificate named in an error: subject and serial, as operators search for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The subject distinguished name.
    pub subject: String,
    /// The serial number in hexadecimal.
    pub serial: String,
}

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}' (serial {})", self.subject, self.serial)
    }
}

/// Reason a certificate path failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("certificate {certificate} could not be parsed: {reason}")]
    Malformed { certificate: Named, reason: String },
    #[error("certificate {certificate} expired at {}, before the verification time {}", utc(*not_after), utc(*at))]
    Expired {
        certificate: Named,
        not_after: i64,
        at: i64,
    },
    #[error(
        "certificate {certificate} is not valid before {}, after the verification time {}",
        utc(*not_before),
        utc(*at)
    )]
    NotYetValid {
        certificate: Named,
        not_before: i64,
        at: i64,
    },
    #[error(
        "certificate {certificate} has issuer '{issuer}', which is neither a trust anchor nor a certificate of the chain"
    )]
    UnknownIssuer { certificate: Named, issuer: String },
    #[error(
        "the chain ends at the self-signed certificate {certificate}, which is not a trust anchor"
    )]
    UntrustedRoot { certificate: Named },
    #[error(
        "the signature on certificate {certificate} does not verify with the key of '{issuer}'"
    )]
    BadSignature { certificate: Named, issuer: String },
    #[error("certificate {certificate} is signed with {algorithm}, which is not supported")]
    UnsupportedSignatureAlgorithm {
        certificate: Named,
        algorithm: String,
    },
    #[error(
        "certificate {certificate} issues another certificate but is not a CA (basicConstraints)"
    )]
    NotCa { certificate: Named },
    #[error(
        "certificate {certificate} allows {allowed} intermediate certificates below it; the path has {found}"
    )]
    PathLenExceeded {
        certificate: Named,
        allowed: u32,
        found: u32,
    },
    #[error(
        "certificate {certificate} issues another certificate but its keyUsage lacks keyCertSign"
    )]
    MissingKeyCertSign { certificate: Named },
    #[error("subscriber certificate {certificate} has a keyUsage without digitalSignature")]
    MissingDigitalSignature { certificate: Named },
    #[error("certificate {certificate} cannot be processed: {reason}")]
    BadExtension { certificate: Named, reason: String },
    #[error("certificate {certificate} has the critical extension {oid}, which is not understood")]
    UnknownCriticalExtension { certificate: Named, oid: String },
    #[error("subscriber certificate {certificate} has a {algorithm} key; ES256 needs P-256")]
    SubscriberKeyNotP256 {
        certificate: Named,
        algorithm: String,
    },
    #[error("the path from {certificate} is longer than {max} certificates")]
    PathTooLong { certificate: Named, max: usize },
    #[error("certificate {certificate} is revoked since {} ({reason})", utc(*revoked_at))]
    Revoked {
        certificate: Named,
        reason: String,
        revoked_at: i64,
    },
    #[error(
        "no CRL from '{crl_issuer}' was given for certificate {certificate}, and the policy requires one"
    )]
    CrlMissing {
        certificate: Named,
        crl_issuer: String,
    },
    #[error(
        "the CRL from '{crl_issuer}' passed its nextUpdate {} before {}, beyond the accepted grace period",
        utc(*next_update),
        utc(*at)
    )]
    CrlStale {
        crl_issuer: String,
        next_update: i64,
        at: i64,
    },
    #[error("the CRL from '{crl_issuer}' cannot be trusted: {reason}")]
    CrlUntrusted { crl_issuer: String, reason: String },
    #[error("certificate {certificate} signs a CRL but its keyUsage lacks cRLSign")]
    MissingCrlSign { certificate: Named },
    #[error(
        "the TNAuthList of certificate {certificate} is not within that of its issuer {issuer}"
    )]
    TnAuthListNotEncompassed { certificate: Named, issuer: Named },
}

/// A validated path: the subscriber certificate first, the trust anchor last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedPath {
    /// The certificates of the path, each named.
    pub certificates: Vec<Named>,
    /// Whether revocation was checked, and what the CRL policy let pass.
    pub revocation: Revocation,
}

/// The revocation status of a validated path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// No CRL was given, so revocation was not checked.
    NotChecked,
    /// Every certificate of the path was checked against the CRLs. The notes
    /// name each stale or missing CRL that the policy let pass.
    Checked { notes: Vec<String> },
}

/// The use of the leaf certificate of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A subscriber certificate that signs PASSporTs: P-256 key, digitalSignature.
    PassportSigner,
    /// A certificate that signs CRLs: cRLSign.
    CrlSigner,
}

/// Validates `chain` (the subscriber certificate, then untrusted intermediates in
/// any order) against `anchors` at Unix time `at`, without revocation checks.
pub fn validate_path(
    chain: &[Certificate],
    anchors: &[Certificate],
    at: i64,
) -> Result<ValidatedPath, ValidationError> {
    let path = validate_chain(chain, &[], anchors, at, Purpose::PassportSigner)?;
    Ok(ValidatedPath {
        certificates: path.iter().map(|c| named(c)).collect(),
        revocation: Revocation::NotChecked,
    })
}

/// Validates `chain` like [`validate_path`], then checks every certificate of the
/// path below the trust anchor against `crls` (RFC 5280 section 6.3).
pub fn validate_path_with_crls(
    chain: &[Certificate],
    anchors: &[Certificate],
    crls: &crate::crl::CrlStore,
    at: i64,
) -> Result<ValidatedPath, ValidationError> {
    let path = validate_chain(chain, &[], anchors, at, Purpose::PassportSigner)?;
    let notes = crls.check_path(&path, anchors, at)?;
    Ok(ValidatedPath {
        certificates: path.iter().map(|c| named(c)).collect(),
        revocation: Revocation::Checked { notes },
    })
}

/// Builds and checks the path of `chain[0]` through `chain[1..]` and `extra`
/// intermediates to one of `anchors`, and returns it leaf first.
pub(crate) fn validate_chain<'a>(
    chain: &'a [Certificate],
    extra: &[&'a Certificate],
    anchors: &'a [Certificate],
    at: i64,
    purpose: Purpose,
) -> Result<Vec<&'a Certificate>, ValidationError> {
    let Some(leaf) = chain.first() else {
        return Err(ValidationError::Malformed {
            certificate: Named {
                subject: String::new(),
                serial: String::new(),
            },
            reason: "the chain is empty".to_owned(),
        });
    };
    let leaf_parsed = parse(leaf)?;
    match purpose {
        Purpose::PassportSigner => {
            check_subscriber_key(leaf, &leaf_parsed)?;
            check_subscriber_key_usage(leaf, &leaf_parsed)?;
        }
        Purpose::CrlSigner => check_crl_sign(leaf, &leaf_parsed)?,
    }

    let pool: Vec<&Certificate> = chain.iter().skip(1).chain(extra.iter().copied()).collect();
    let path = build_path(leaf, &pool, anchors, at)?;

    for (depth, certificate) in path.iter().enumerate() {
        let parsed = parse(certificate)?;
        check_validity(certificate, at)?;
        check_critical_extensions(certificate, &parsed)?;
        if depth > 0 {
            check_is_ca(certificate, &parsed)?;
            check_key_cert_sign(certificate, &parsed)?;
            // Intermediates between this issuer and the leaf certificate.
            let below = u32::try_from(depth - 1).unwrap_or(u32::MAX);
            check_path_len(certificate, &parsed, below)?;
            if let Some(child) = path.get(depth - 1) {
                check_tn_auth_list_encompassed(child, certificate)?;
            }
        }
    }
    Ok(path)
}

/// Links each certificate to its issuer, by name and, when both carry them, by
/// key identifier, until a trust anchor signs one. A candidate issuer counts only
/// if its key verifies the signature, which also picks the right one of several
/// CA certificates with the same name (RFC 5280 section 6.1.3).
fn build_path<'a>(
    leaf: &'a Certificate,
    pool: &[&'a Certificate],
    anchors: &'a [Certificate],
    at: i64,
) -> Result<Vec<&'a Certificate>, ValidationError> {
    let mut path = vec![leaf];
    loop {
        let current = path.last().copied().unwrap_or(leaf);
        if path.len() >= MAX_PATH_LEN {
            return Err(ValidationError::PathTooLong {
                certificate: named(leaf),
                max: MAX_PATH_LEN,
            });
        }
        let current_parsed = parse(current)?;

        let mut signature_error = None;
        let mut issuers = Vec::new();
        for candidate in anchors.iter().chain(pool.iter().copied()) {
            if path.iter().any(|c| c.der == candidate.der) {
                continue;
            }
            let Ok(candidate_parsed) = parse(candidate) else {
                continue;
            };
            if !issued_by(&current_parsed, &candidate_parsed) {
                continue;
            }
            match check_signature(current, &current_parsed, &candidate_parsed) {
                Ok(()) => issuers.push(candidate),
                Err(error) => {
                    signature_error.get_or_insert(error);
                }
            }
        }
        // CAs re-issue their certificates with the same name and key, so several
        // candidates can verify. Prefer a trust anchor, then one valid at `at`,
        // then the one that expires last.
        let is_anchor = |c: &Certificate| anchors.iter().any(|anchor| anchor.der == c.der);
        let issuer = issuers.into_iter().max_by_key(|c| {
            (
                is_anchor(c),
                c.not_before <= at && at <= c.not_after,
                c.not_after,
            )
        });

        let Some(issuer) = issuer else {
            if let Some(error) = signature_error {
                return Err(error);
            }
            if current_parsed.subject().as_raw() == current_parsed.issuer().as_raw() {
                return Err(ValidationError::UntrustedRoot {
                    certificate: named(current),
                });
            }
            return Err(ValidationError::UnknownIssuer {
                certificate: named(current),
                issuer: current.issuer.clone(),
            });
        };
        path.push(issuer);
        if is_anchor(issuer) {
            return Ok(path);
        }
    }
}

/// Reports whether `issuer` may have issued `child`: the names match byte for
/// byte, and the child's authorityKeyIdentifier, where present, names the
/// issuer's key identifier and serial number (RFC 5280 section 4.2.1.1).
///
/// RFC 5280 section 7.1 allows a looser name comparison; every chain of the
/// SHAKEN corpus matches exactly, as issuers copy names.
fn issued_by(child: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    if child.issuer().as_raw() != issuer.subject().as_raw() {
        return false;
    }
    let Some(authority) = authority_key(child) else {
        return true;
    };
    let key_matches = match (authority.key_identifier.as_ref(), subject_key_id(issuer)) {
        (Some(authority), Some(subject)) => authority.0 == subject,
        _ => true,
    };
    let serial_matches = authority
        .authority_cert_serial
        .is_none_or(|serial| trim_zeros(serial) == trim_zeros(issuer.raw_serial()));
    key_matches && serial_matches
}

/// Returns an unsigned big-endian integer without its leading zero bytes.
pub(crate) fn trim_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn authority_key<'a>(
    certificate: &'a X509Certificate<'_>,
) -> Option<&'a x509_parser::extensions::AuthorityKeyIdentifier<'a>> {
    certificate
        .iter_extensions()
        .find_map(|extension| match extension.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(aki) => Some(aki),
            _ => None,
        })
}

fn subject_key_id<'a>(certificate: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    certificate
        .iter_extensions()
        .find_map(|extension| match &extension.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0),
            _ => None,
        })
}

/// Checks that the issuer's key verifies the signature over the TBSCertificate
/// (RFC 5280 section 6.1.3 (a)(1)).
fn check_signature(
    certificate: &Certificate,
    parsed: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
) -> Result<(), ValidationError> {
    verify_signed(
        parsed.tbs_certificate.as_ref(),
        &parsed.signature_algorithm.algorithm.to_id_string(),
        parsed.signature_value.data.as_ref(),
        issuer,
    )
    .map_err(|failure| match failure {
        SignatureFailure::Unsupported(algorithm) => {
            ValidationError::UnsupportedSignatureAlgorithm {
                certificate: named(certificate),
                algorithm,
            }
        }
        SignatureFailure::Invalid => ValidationError::BadSignature {
            certificate: named(certificate),
            issuer: issuer.subject().to_string(),
        },
    })
}

/// Reason a signature check failed.
pub(crate) enum SignatureFailure {
    /// The algorithm, by OID, or its pairing with the issuer's key is not supported.
    Unsupported(String),
    /// The signature does not verify.
    Invalid,
}

/// Verifies a signature made by `issuer` over `signed` with the algorithm
/// `algorithm_oid`: ECDSA on P-256, P-384 or P-521 with SHA-2, or RSA PKCS#1 v1.5
/// with SHA-2. Parameters of the ECDSA algorithm identifier are ignored, since
/// some STI-CAs encode them as NULL where RFC 5758 says absent.
pub(crate) fn verify_signed(
    signed: &[u8],
    algorithm_oid: &str,
    signature_value: &[u8],
    issuer: &X509Certificate<'_>,
) -> Result<(), SignatureFailure> {
    let unsupported = || SignatureFailure::Unsupported(algorithm_oid.to_owned());
    let key = issuer.public_key();
    let curve = key
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    let is_ec = key.algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY;
    let is_rsa = key.algorithm.algorithm == OID_PKCS1_RSAENCRYPTION;

    let algorithm: &'static dyn VerificationAlgorithm = match algorithm_oid {
        "1.2.840.10045.4.3.2" | "1.2.840.10045.4.3.3" | "1.2.840.10045.4.3.4" if is_ec => curve
            .as_ref()
            .and_then(|curve| ecdsa_algorithm(curve, algorithm_oid))
            .ok_or_else(unsupported)?,
        "1.2.840.113549.1.1.11" if is_rsa => &signature::RSA_PKCS1_2048_8192_SHA256,
        "1.2.840.113549.1.1.12" if is_rsa => &signature::RSA_PKCS1_2048_8192_SHA384,
        "1.2.840.113549.1.1.13" if is_rsa => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return Err(unsupported()),
    };

    UnparsedPublicKey::new(algorithm, key.subject_public_key.data.as_ref())
        .verify(signed, signature_value)
        .map_err(|_| SignatureFailure::Invalid)
}

fn ecdsa_algorithm(
    curve: &x509_parser::der_parser::oid::Oid<'_>,
    signature_oid: &str,
) -> Option<&'static dyn VerificationAlgorithm> {
    let digest = match signature_oid {
        "1.2.840.10045.4.3.2" => 256,
        "1.2.840.10045.4.3.3" => 384,
        _ => 512,
    };
    let algorithm: &'static dyn VerificationAlgorithm = if *curve == OID_EC_P256 {
        match digest {
            256 => &signature::ECDSA_P256_SHA256_ASN1,
            384 => &signature::ECDSA_P256_SHA384_ASN1,
            _ => return None,
        }
    } else if *curve == OID_NIST_EC_P384 {
        match digest {
            256 => &signature::ECDSA_P384_SHA256_ASN1,
            384 => &signature::ECDSA_P384_SHA384_ASN1,
            _ => &signature::ECDSA_P384_SHA512_ASN1,
        }
    } else if *curve == OID_NIST_EC_P521 {
        match digest {
            256 => &signature::ECDSA_P521_SHA256_ASN1,
            384 => &signature::ECDSA_P521_SHA384_ASN1,
            _ => &signature::ECDSA_P521_SHA512_ASN1,
        }
    } else {
        return None;
    };
    Some(algorithm)
}

/// Checks that `at` lies within notBefore and notAfter, both inclusive
/// (RFC 5280 section 4.1.2.5 and 6.1.3 (a)(2)).
fn check_validity(certificate: &Certificate, at: i64) -> Result<(), ValidationError> {
    if at < certificate.not_before {
        return Err(ValidationError::NotYetValid {
            certificate: named(certificate),
            not_before: certificate.not_before,
            at,
        });
    }
    if at > certificate.not_after {
        return Err(ValidationError::Expired {
            certificate: named(certificate),
            not_after: certificate.not_after,
            at,
        });
    }
    Ok(())
}

/// Checks that every critical extension is one this validator understands
/// (RFC 5280 section 4.2).
fn check_critical_extensions(
    certificate: &Certificate,
    parsed: &X509Certificate<'_>,
) -> Result<(), ValidationError> {
    let mut seen = Vec::new();
    for extension in parsed.extensions() {
        let oid = extension.oid.to_id_string();
        // RFC 5280 section 4.2: an extension appears at most once.
        if seen.contains(&oid) {
            return Err(ValidationError::BadExtension {
                certificate: named(certificate),
                reason: format!("the extension {oid} appears more than once"),
            });
        }
        if extension.critical && !UNDERSTOOD_EXTENSIONS.contains(&oid.as_str()) {
            return Err(ValidationError::UnknownCriticalExtension {
                certificate: named(certificate),
                oid,
            });
        }
        // A critical extension that cannot be decoded cannot be processed either.
        if extension.critical
            && let x509_parser::extensions::ParsedExtension::ParseError { error } =
                extension.parsed_extension()
        {
            return Err(ValidationError::BadExtension {
                certificate: named(certificate),
                reason: format!("the critical extension {oid} is malformed: {error}"),
            });
        }
        seen.push(oid);
    }
    Ok(())
}

/// Checks that an issuing certificate asserts cA in basicConstraints (RFC 5280
/// section 6.1.4 (k)).
fn check_is_ca(
    certificate: &Certificate,
    parsed: &X509Certificate<'_>,
) -> Result<(), ValidationError> {
    match parsed.basic_constraints() {
        Ok(Some(constraints)) if constraints.value.ca => Ok(()),
        _ => Err(ValidationError::NotCa {
            certificate: named(certificate),
        }),
    }
}

/// Checks that an issuing certificate's keyUsage, when present, allows
/// keyCertSign (RFC 5280 section 6.1.4 (n)).
fn check_key_cert_sign(
    certificate: &Certificate,
    parsed: &X509Certificate<'_>,
) -> Result<(), ValidationError> {
    match parsed.key_usage() {
        Ok(Some(usage)) if !usage.value.key_cert_sign() => {
            Err(ValidationError::MissingKeyCertSign {
                certificate: named(certificate),
            })
        }
        Err(error) => Err(ValidationError::BadExtension {
            certificate: named(certificate),
            reason: format!("keyUsage cannot be processed: {error}"),
        }),
        _ => Ok(()),
    }
}

/// Checks that no more intermediates sit below an issuer than its
/// pathLenConstraint allows (RFC 5280 section 6.1.4 (m)).
fn check_path_len(
    certificate: &Certificate,
    parsed: &X509Certificate<'_>,
    below: u32,
) -> Result<(), ValidationError> {
    if let Ok(Some(constraints)) = parsed.basic_constraints()
        && let Some(allowed) = constraints.value.path_len_constraint
        && below > allowed
    {
        return Err(ValidationError::PathLenExceeded {
            certificate: named(certificate),
            allowed,
            found: below,
        });
    }
    Ok(())
}

/// Checks that the subscriber key is P-256, the only curve ES256 uses
/// (RFC 7518 section 3.4, ATIS-1000080).
fn check_subscriber_key(
    certificate: &Certificate,
    _parsed: &X509Certificate<'_>,
) -> Result<(), ValidationError> {
    let not_p256 = |algorithm: String| ValidationError::SubscriberKeyNotP256 {
        certificate: named(certificate),
        algorithm,
    };
    let point = certificate
        .p256_public_key()
        .map_err(|_| not_p256(certificate.key_algorithm.clone()))?;
    // The curve OID alone does not make the point lie on the curve.
    signature::ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
        .map(|_| ())
        .map_err(|_| not_p256("id-ecPublicKey P-256 with a point off the curve".to_owned()))
}

/// Checks that the subscriber's keyUsage, when present, allows digitalSignature,
/// which signing PASSporTs needs (RFC 5280 section 4.2.1.3).
fn check_subscriber_key_usage(
    certificate: &Certificate,
    parsed: &X509Certificate<'_>,
) -> Result<(), ValidationError> {
    match parsed.key_usage() {
        Ok(Some(usage)) if !usage.value.digital_signature() => {
            Err(ValidationError::MissingDigitalSignature {
                certificate: named(certificate),
            })
        }
        Err(error) => Err(ValidationError::BadExtension {
            certificate: named(certificate),
            reason: format!("keyUsage cannot be processed: {error}"),
        }),
        _ => Ok(()),
    }
}

/// Checks that a certificate's TNAuthList lies within its issuer's, where the
/// issuer has one with telephone numbers (RFC 9060 section 6; checking it at the
/// verifier is this validator's choice, which the RFC allows). An issuer whose list
/// has only an SPC encompasses any list, since SPCs do not map to numbers here.
fn check_tn_auth_list_encompassed(
    child: &Certificate,
    issuer: &Certificate,
) -> Result<(), ValidationError> {
    let (Some(Ok(issuer_list)), Some(Ok(child_list))) = (&issuer.tn_auth_list, &child.tn_auth_list)
    else {
        return Ok(());
    };
    let issuer_has_numbers = issuer_list
        .entries()
        .iter()
        .any(|e| !matches!(e, TnEntry::Spc(_)));
    if !issuer_has_numbers {
        return Ok(());
    }
    let covered = |number: &str| issuer_list.covers(number) == Coverage::Number;
    for entry in child_list.entries() {
        let inside = match entry {
            TnEntry::Spc(spc) => issuer_list.spcs().any(|s| s == spc),
            TnEntry::One(number) => covered(number),
            TnEntry::Range { start, count } => {
                covered(start)
                    && crate::tnauthlist::range_end(start, *count).is_some_and(|end| covered(&end))
            }
        };
        if !inside {
            return Err(ValidationError::TnAuthListNotEncompassed {
                certificate: named(child),
                issuer: named(issuer),
            });
        }
    }
    Ok(())
}

/// Checks that a CRL signer's keyUsage, when present, allows cRLSign
/// (RFC 5280 section 6.3.3 (f)).
fn check_crl_sign(
    certificate: &Certificate,
    parsed: &X509Certificate<'_>,
) -> Result<(), ValidationError> {
    match parsed.key_usage() {
        Ok(Some(usage)) if !usage.value.crl_sign() => Err(ValidationError::MissingCrlSign {
            certificate: named(certificate),
        }),
        Err(error) => Err(ValidationError::BadExtension {
            certificate: named(certificate),
            reason: format!("keyUsage cannot be processed: {error}"),
        }),
        _ => Ok(()),
    }
}

pub(crate) fn parse(certificate: &Certificate) -> Result<X509Certificate<'_>, ValidationError> {
    X509Certificate::from_der(&certificate.der)
        .map(|(_, parsed)| parsed)
        .map_err(|error| ValidationError::Malformed {
            certificate: named(certificate),
            reason: error.to_string(),
        })
}

pub(crate) fn named(certificate: &Certificate) -> Named {
    Named {
        subject: certificate.subject.clone(),
        serial: certificate.serial.clone(),
    }
}

/// Formats Unix seconds as an RFC 3339 UTC time, for messages.
pub(crate) fn utc(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|moment| {
            moment
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{seconds} (Unix seconds)"))
}
