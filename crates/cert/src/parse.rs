//! Certificate documents as x5u repositories serve them: a PEM chain, one PEM
//! certificate or one DER certificate.

use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY};
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::tnauthlist::{
    self, JwtClaimConstraints, JwtClaimConstraintsError, OID_ENHANCED_JWT_CLAIM_CONSTRAINTS,
    OID_JWT_CLAIM_CONSTRAINTS, OID_TN_AUTH_LIST, TnAuthList, TnAuthListError,
};

/// The largest certificate document accepted, in bytes, matching the x5u fetch limit.
pub const MAX_CHAIN_BYTES: usize = 64 * 1024;

/// Maximum number of certificates in one chain. SHAKEN chains have two or three.
pub const MAX_CHAIN_CERTIFICATES: usize = 8;

/// Reason a certificate document could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("certificate document is {length} bytes; the limit is {max}")]
    TooLarge { length: usize, max: usize },
    #[error("certificate document holds no certificate")]
    Empty,
    #[error("certificate document holds more than {max} certificates")]
    TooManyCertificates { max: usize },
    #[error("the file holds a private key; a certificate file must not contain one")]
    PrivateKey,
    #[error("PEM block {index} is not valid: {reason}")]
    Pem { index: usize, reason: String },
    #[error("certificate {index} is not valid DER X.509: {reason}")]
    Der { index: usize, reason: String },
    #[error("certificate {index} has {length} bytes after its end")]
    TrailingData { index: usize, length: usize },
    #[error("certificate '{subject}' has a {algorithm} key; ES256 needs a P-256 key")]
    NotP256 { subject: String, algorithm: String },
}

/// One certificate, with the fields operators ask about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The DER encoding.
    pub der: Vec<u8>,
    /// The subject distinguished name, RFC 4514 style.
    pub subject: String,
    /// The issuer distinguished name.
    pub issuer: String,
    /// The serial number in hexadecimal.
    pub serial: String,
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
    /// The public key algorithm and curve, such as `id-ecPublicKey P-256`.
    pub key_algorithm: String,
    /// The subject public key bits: the SEC1 point for an EC key.
    pub public_key: Vec<u8>,
    /// The signature algorithm OID.
    pub signature_algorithm: String,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// The keyUsage bits set, by name, empty when the extension is absent.
    pub key_usage: Vec<&'static str>,
    /// The TNAuthList (RFC 8226): absent, decoded, or malformed with the reason.
    pub tn_auth_list: Option<Result<TnAuthList, TnAuthListError>>,
    /// The JWT claim constraints (RFC 8226 id-pe 27 or RFC 9118 id-pe 33).
    pub jwt_claim_constraints: Option<Result<JwtClaimConstraints, JwtClaimConstraintsError>>,
    /// The CRL distribution points.
    pub crl_distribution_points: Vec<CrlDistributionPoint>,
    /// The certificate policy OIDs.
    pub policies: Vec<String>,
    /// Every extension, by OID, with its criticality, in certificate order.
    pub extensions: Vec<(String, bool)>,
    p256: bool,
}

/// One CRL distribution point: where the CRL is and who signs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrlDistributionPoint {
    /// The URIs of the distribution point's full name.
    pub uris: Vec<String>,
    /// The cRLIssuer directory names, present for an indirect CRL.
    pub crl_issuers: Vec<String>,
}

impl Certificate {
    /// Returns the SEC1 point of the subject's P-256 key, for ES256 verification.
    pub fn p256_public_key(&self) -> Result<&[u8], Error> {
        if self.p256 {
            Ok(&self.public_key)
        } else {
            Err(Error::NotP256 {
                subject: self.subject.clone(),
                algorithm: self.key_algorithm.clone(),
            })
        }
    }
}

/// Maximum size of a trust anchor bundle, in bytes.
pub const MAX_BUNDLE_BYTES: usize = 4 * 1024 * 1024;

/// Maximum number of certificates in a trust anchor bundle.
pub const MAX_BUNDLE_CERTIFICATES: usize = 10_000;

/// Parses a PEM chain (leaf first, as x5u repositories serve it), a single PEM
/// certificate, or one DER certificate.
pub fn parse_chain(bytes: &[u8]) -> Result<Vec<Certificate>, Error> {
    parse_limited(bytes, MAX_CHAIN_BYTES, MAX_CHAIN_CERTIFICATES)
}

/// Parses a bundle of trust anchors or CRL signers: PEM with any number of
/// certificates, or one DER certificate.
pub fn parse_bundle(bytes: &[u8]) -> Result<Vec<Certificate>, Error> {
    parse_limited(bytes, MAX_BUNDLE_BYTES, MAX_BUNDLE_CERTIFICATES)
}

fn parse_limited(
    bytes: &[u8],
    max_bytes: usize,
    max_certificates: usize,
) -> Result<Vec<Certificate>, Error> {
    // Some editors start a text file with a UTF-8 byte order mark.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.len() > max_bytes {
        return Err(Error::TooLarge {
            length: bytes.len(),
            max: max_bytes,
        });
    }
    if !bytes.starts_with(&[0x30]) && contains(bytes, b"-----BEGIN ") {
        return parse_pem_chain(bytes, max_certificates);
    }
    Ok(vec![parse_der(0, bytes)?])
}

fn parse_pem_chain(bytes: &[u8], max_certificates: usize) -> Result<Vec<Certificate>, Error> {
    let mut chain = Vec::new();
    for (index, block) in Pem::iter_from_buffer(bytes).enumerate() {
        let block = block.map_err(|error| Error::Pem {
            index,
            reason: error.to_string(),
        })?;
        if block.label.contains("PRIVATE KEY") {
            return Err(Error::PrivateKey);
        }
        // CRL files may carry the signer's certificate beside the CRL.
        if block.label != "CERTIFICATE" {
            continue;
        }
        if chain.len() == max_certificates {
            return Err(Error::TooManyCertificates {
                max: max_certificates,
            });
        }
        chain.push(parse_der(chain.len(), &block.contents)?);
    }
    if chain.is_empty() {
        return Err(Error::Empty);
    }
    Ok(chain)
}

fn parse_der(index: usize, der: &[u8]) -> Result<Certificate, Error> {
    let (rest, parsed) = X509Certificate::from_der(der).map_err(|error| Error::Der {
        index,
        reason: describe_der_error(der, &error),
    })?;
    if !rest.is_empty() {
        return Err(Error::TrailingData {
            index,
            length: rest.len(),
        });
    }

    let spki = parsed.public_key();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    let is_ec = spki.algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY;
    let p256 = is_ec && curve.as_ref() == Some(&OID_EC_P256);
    let key_algorithm = match (is_ec, curve) {
        (true, Some(curve)) if curve == OID_EC_P256 => "id-ecPublicKey P-256".to_owned(),
        (true, Some(curve)) => match curve.to_id_string().as_str() {
            "1.3.132.0.34" => "id-ecPublicKey P-384".to_owned(),
            "1.3.132.0.35" => "id-ecPublicKey P-521".to_owned(),
            other => format!("id-ecPublicKey {other}"),
        },
        _ => match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.2.840.113549.1.1.1" => "rsaEncryption".to_owned(),
            "1.3.101.112" => "Ed25519".to_owned(),
            other => other.to_owned(),
        },
    };

    let extensions = parsed
        .extensions()
        .iter()
        .map(|extension| (extension.oid.to_id_string(), extension.critical))
        .collect();
    let mut certificate = Certificate {
        der: der.to_vec(),
        subject: parsed.subject().to_string(),
        issuer: parsed.issuer().to_string(),
        serial: parsed.raw_serial_as_string(),
        not_before: parsed.validity().not_before.timestamp(),
        not_after: parsed.validity().not_after.timestamp(),
        key_algorithm,
        public_key: spki.subject_public_key.data.to_vec(),
        signature_algorithm: parsed.signature_algorithm.algorithm.to_id_string(),
        is_ca: parsed.is_ca(),
        key_usage: key_usage_names(&parsed),
        tn_auth_list: None,
        jwt_claim_constraints: None,
        crl_distribution_points: Vec::new(),
        policies: Vec::new(),
        extensions,
        p256,
    };
    read_extensions(&parsed, &mut certificate);
    Ok(certificate)
}

/// Decodes the SHAKEN extensions, the CRL distribution points and the policies.
fn read_extensions(parsed: &X509Certificate<'_>, certificate: &mut Certificate) {
    for extension in parsed.extensions() {
        let oid = extension.oid.to_id_string();
        match (oid.as_str(), extension.parsed_extension()) {
            (OID_TN_AUTH_LIST, _) => {
                certificate.tn_auth_list = Some(tnauthlist::decode(extension.value))
            }
            (OID_JWT_CLAIM_CONSTRAINTS, _) => {
                certificate.jwt_claim_constraints =
                    Some(tnauthlist::decode_jwt_claim_constraints(extension.value));
            }
            (OID_ENHANCED_JWT_CLAIM_CONSTRAINTS, _) => {
                certificate.jwt_claim_constraints = Some(
                    tnauthlist::decode_enhanced_jwt_claim_constraints(extension.value),
                );
            }
            (_, ParsedExtension::CRLDistributionPoints(points)) => {
                certificate.crl_distribution_points =
                    points.iter().map(distribution_point).collect();
            }
            (_, ParsedExtension::CertificatePolicies(policies)) => {
                certificate.policies = policies
                    .iter()
                    .map(|p| p.policy_id.to_id_string())
                    .collect();
            }
            _ => {}
        }
    }
}

fn distribution_point(
    point: &x509_parser::extensions::CRLDistributionPoint<'_>,
) -> CrlDistributionPoint {
    let uris = match &point.distribution_point {
        Some(DistributionPointName::FullName(names)) => names
            .iter()
            .filter_map(|name| match name {
                GeneralName::URI(uri) => Some((*uri).to_owned()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let crl_issuers = point
        .crl_issuer
        .iter()
        .flatten()
        .filter_map(|name| match name {
            GeneralName::DirectoryName(name) => Some(name.to_string()),
            _ => None,
        })
        .collect();
    CrlDistributionPoint { uris, crl_issuers }
}

fn key_usage_names(parsed: &X509Certificate<'_>) -> Vec<&'static str> {
    let Ok(Some(usage)) = parsed.key_usage() else {
        return Vec::new();
    };
    let usage = usage.value;
    [
        (usage.digital_signature(), "digitalSignature"),
        (usage.non_repudiation(), "nonRepudiation"),
        (usage.key_encipherment(), "keyEncipherment"),
        (usage.data_encipherment(), "dataEncipherment"),
        (usage.key_agreement(), "keyAgreement"),
        (usage.key_cert_sign(), "keyCertSign"),
        (usage.crl_sign(), "cRLSign"),
        (usage.encipher_only(), "encipherOnly"),
        (usage.decipher_only(), "decipherOnly"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Describes why bytes are not a DER certificate, in words rather than parser
/// internals.
fn describe_der_error(
    der: &[u8],
    error: &x509_parser::nom::Err<x509_parser::error::X509Error>,
) -> String {
    if der.is_empty() {
        return "the file is empty".to_owned();
    }
    if der.first() != Some(&0x30) {
        return "it does not start with a DER SEQUENCE; is it PEM without a BEGIN CERTIFICATE line?".to_owned();
    }
    match error {
        x509_parser::nom::Err::Incomplete(_) => "the DER is truncated".to_owned(),
        x509_parser::nom::Err::Error(inner) | x509_parser::nom::Err::Failure(inner) => {
            match inner {
                x509_parser::error::X509Error::Der(_) => {
                    "the DER structure is not a certificate".to_owned()
                }
                other => format!("{other}"),
            }
        }
    }
}

/// Reads at most `max` bytes of a file and fails when it holds more, so a device
/// or a huge file never fills memory.
pub fn read_limited(path: &std::path::Path, max: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Err(std::io::Error::other(format!(
            "the file is larger than {max} bytes"
        )));
    }
    Ok(bytes)
}
