//! A test PKI in the SHAKEN profile: a P-256 root, an intermediate STI-CA, a
//! subscriber certificate with the requested TNAuthList, a CRL signer standing in
//! for the STI-PA, and its indirect CRL. Everything it makes is for tests and
//! demos only, and the names state it.

use std::path::Path;

use aws_lc_rs::digest;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension, DnType,
    IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    PKCS_ECDSA_P384_SHA384, RevocationReason, RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// The US SHAKEN certificate policy OID (version 1.3) that real STI-CAs assert.
pub const SHAKEN_POLICY_OID: &str = "2.16.840.1.114569.1.1.3";

/// The CRL URL written into the distribution points.
pub const CRL_URL: &str = "https://crl.example.org/sti.crl";

/// A deliberate defect of the subscriber certificate, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// Valid from two years to one year before the build time.
    Expired,
    /// No TNAuthList extension.
    NoTnAuthList,
    /// keyUsage keyCertSign instead of digitalSignature.
    WrongKeyUsage,
    /// Listed on the CRL as revoked for keyCompromise.
    Revoked,
    /// A P-384 key, which ES256 cannot use.
    P384Key,
}

/// Options of the test PKI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiOptions {
    /// The Service Provider Code of the subscriber certificate.
    pub spc: String,
    /// Telephone number ranges for the TNAuthList: start and count.
    pub tn_ranges: Vec<(String, u64)>,
    /// Single telephone numbers for the TNAuthList.
    pub tns: Vec<String>,
    /// The build time, Unix seconds; validity periods are set around it.
    pub now: i64,
    /// Defects to build into the subscriber certificate.
    pub defects: Vec<Defect>,
}

/// Reason the test PKI could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("SPC '{0}' must be 1 to 10 digits or upper-case letters")]
    InvalidSpc(String),
    #[error("telephone number '{0}' must be 1 to 15 digits")]
    InvalidNumber(String),
    #[error("range count {0} must be at least 2")]
    InvalidCount(u64),
    #[error("certificate generation failed: {0}")]
    Generation(String),
    #[error("the system random generator failed")]
    Random,
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

impl From<rcgen::Error> for PkiError {
    fn from(error: rcgen::Error) -> Self {
        PkiError::Generation(error.to_string())
    }
}

/// One PEM file of the test PKI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiFile {
    /// The file name.
    pub name: &'static str,
    /// The PEM text.
    pub pem: String,
}

/// Builds the test PKI and returns its files: `root.pem`, `intermediate.pem`,
/// `subscriber.pem` (each with a `.key.pem`), `chain.pem` (subscriber then
/// intermediate, as an x5u URL serves it), `crl-signer.pem` with its key, and
/// `crl.pem`.
pub fn build(options: &PkiOptions) -> Result<Vec<PkiFile>, PkiError> {
    let tn_auth_list = tn_auth_list_der(options)?;
    let now = OffsetDateTime::from_unix_timestamp(options.now)
        .map_err(|e| PkiError::Generation(e.to_string()))?;

    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut root = ca_params("stird test SHAKEN ROOT", now, &root_key)?;
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root_certificate = root.self_signed(&root_key)?;
    let root_issuer = Issuer::new(root, &root_key);

    let signer_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut signer = params(
        now - Duration::days(1),
        now + Duration::days(3650),
        &signer_key,
    )?;
    name(
        &mut signer,
        "stird test STI-PA (TEST ONLY)",
        "stird test STI-PA CRL",
        None,
    );
    signer.is_ca = IsCa::ExplicitNoCa;
    signer.key_usages = vec![KeyUsagePurpose::CrlSign];
    let signer_certificate = signer.signed_by(&signer_key, &root_issuer)?;
    let signer_name = subject_der(signer_certificate.der())?;
    let crl_points = crl_distribution_points_der(&signer_name);

    let intermediate_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut intermediate = ca_params("stird test SHAKEN Intermediate", now, &intermediate_key)?;
    intermediate.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    intermediate.custom_extensions = vec![policies_extension(), crl_points_extension(&crl_points)];
    let intermediate_certificate = intermediate.signed_by(&intermediate_key, &root_issuer)?;
    let intermediate_issuer = Issuer::new(intermediate, &intermediate_key);

    let subscriber_algorithm = if options.defects.contains(&Defect::P384Key) {
        &PKCS_ECDSA_P384_SHA384
    } else {
        &PKCS_ECDSA_P256_SHA256
    };
    let subscriber_key = KeyPair::generate_for(subscriber_algorithm)?;
    let (not_before, not_after) = if options.defects.contains(&Defect::Expired) {
        (now - Duration::days(730), now - Duration::days(365))
    } else {
        (now - Duration::hours(1), now + Duration::days(365))
    };
    let mut subscriber = params(not_before, not_after, &subscriber_key)?;
    let common_name = format!("SHAKEN {}", options.spc);
    name(
        &mut subscriber,
        "stird test carrier (TEST ONLY)",
        &common_name,
        Some(&format!("TEST-{}", options.spc)),
    );
    subscriber.is_ca = IsCa::ExplicitNoCa;
    subscriber.key_usages = if options.defects.contains(&Defect::WrongKeyUsage) {
        vec![KeyUsagePurpose::KeyCertSign]
    } else {
        vec![KeyUsagePurpose::DigitalSignature]
    };
    subscriber.custom_extensions = vec![policies_extension(), crl_points_extension(&crl_points)];
    if !options.defects.contains(&Defect::NoTnAuthList) {
        subscriber
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 26],
                tn_auth_list,
            ));
    }
    let subscriber_serial = subscriber.serial_number.clone();
    let subscriber_certificate = subscriber.signed_by(&subscriber_key, &intermediate_issuer)?;

    let revoked_certs = match (
        options.defects.contains(&Defect::Revoked),
        subscriber_serial,
    ) {
        (true, Some(serial_number)) => vec![RevokedCertParams {
            serial_number,
            revocation_time: now - Duration::minutes(30),
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        }],
        _ => Vec::new(),
    };
    let crl = CertificateRevocationListParams {
        this_update: now - Duration::hours(1),
        next_update: now + Duration::days(7),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::PreSpecified(key_identifier(&signer_key)),
    };
    let crl_pem = crl.signed_by(&Issuer::new(signer, &signer_key))?.pem()?;

    let chain = format!(
        "{}{}",
        subscriber_certificate.pem(),
        intermediate_certificate.pem()
    );
    Ok(vec![
        PkiFile {
            name: "root.pem",
            pem: root_certificate.pem(),
        },
        PkiFile {
            name: "root.key.pem",
            pem: root_key.serialize_pem(),
        },
        PkiFile {
            name: "intermediate.pem",
            pem: intermediate_certificate.pem(),
        },
        PkiFile {
            name: "intermediate.key.pem",
            pem: intermediate_key.serialize_pem(),
        },
        PkiFile {
            name: "subscriber.pem",
            pem: subscriber_certificate.pem(),
        },
        PkiFile {
            name: "subscriber.key.pem",
            pem: subscriber_key.serialize_pem(),
        },
        PkiFile {
            name: "chain.pem",
            pem: chain,
        },
        PkiFile {
            name: "crl-signer.pem",
            pem: signer_certificate.pem(),
        },
        PkiFile {
            name: "crl-signer.key.pem",
            pem: signer_key.serialize_pem(),
        },
        PkiFile {
            name: "crl.pem",
            pem: crl_pem,
        },
    ])
}

/// Builds a TLS CA and a server certificate for a test certificate repository:
/// `tls-ca.pem`, `tls-server.pem` and `tls-server.key.pem`. `names` are the
/// server's DNS names and IP addresses. This PKI is separate from the STI PKI:
/// it only lets a verifier trust the repository's HTTPS server.
pub fn build_tls(names: &[&str], now: i64) -> Result<Vec<PkiFile>, PkiError> {
    let now = OffsetDateTime::from_unix_timestamp(now)
        .map_err(|e| PkiError::Generation(e.to_string()))?;
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut ca = params(now - Duration::days(1), now + Duration::days(3650), &ca_key)?;
    name(
        &mut ca,
        "stird test repository (TEST ONLY)",
        "stird test TLS CA",
        None,
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_certificate = ca.self_signed(&ca_key)?;
    let ca_issuer = Issuer::new(ca, &ca_key);

    let server_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut server = CertificateParams::new(names)?;
    server.not_before = now - Duration::days(1);
    server.not_after = now + Duration::days(825);
    server.serial_number = Some(random_serial()?);
    server.use_authority_key_identifier_extension = true;
    name(
        &mut server,
        "stird test repository (TEST ONLY)",
        "stird test repository",
        None,
    );
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let server_certificate = server.signed_by(&server_key, &ca_issuer)?;
    Ok(vec![
        PkiFile {
            name: "tls-ca.pem",
            pem: ca_certificate.pem(),
        },
        PkiFile {
            name: "tls-server.pem",
            pem: server_certificate.pem(),
        },
        PkiFile {
            name: "tls-server.key.pem",
            pem: server_key.serialize_pem(),
        },
    ])
}

/// Writes the files into `directory`, creating it, with private keys readable by
/// the owner only.
pub fn write(directory: &Path, files: &[PkiFile]) -> Result<(), PkiError> {
    let error = |path: &Path, reason: std::io::Error| PkiError::Write {
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    std::fs::create_dir_all(directory).map_err(|e| error(directory, e))?;
    for file in files {
        let path = directory.join(file.name);
        std::fs::write(&path, &file.pem).map_err(|e| error(&path, e))?;
        #[cfg(unix)]
        if file.name.ends_with(".key.pem") {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| error(&path, e))?;
        }
    }
    Ok(())
}

fn params(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    key: &KeyPair,
) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial()?);
    params.use_authority_key_identifier_extension = true;
    params.key_identifier_method = KeyIdMethod::PreSpecified(key_identifier(key));
    Ok(params)
}

fn ca_params(
    common_name: &str,
    now: OffsetDateTime,
    key: &KeyPair,
) -> Result<CertificateParams, PkiError> {
    let mut params = params(now - Duration::days(1), now + Duration::days(3650), key)?;
    name(
        &mut params,
        "stird test STI-CA (TEST ONLY)",
        common_name,
        None,
    );
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    Ok(params)
}

fn name(
    params: &mut CertificateParams,
    organization: &str,
    common_name: &str,
    serial_number: Option<&str>,
) {
    params.distinguished_name.push(DnType::CountryName, "US");
    params
        .distinguished_name
        .push(DnType::OrganizationName, organization);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if let Some(serial_number) = serial_number {
        params
            .distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 5]), serial_number);
    }
}

/// Returns 16 random bytes with the top bit clear and a non-zero first byte: a
/// positive serial number of 127 bits or more, where ATIS-1000080 requires 64.
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| PkiError::Random)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

/// Returns the SHA-1 of the public key, the key identifier RFC 5280 section
/// 4.2.1.2 describes and ATIS-1000080 requires.
pub fn key_identifier(key: &KeyPair) -> Vec<u8> {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, key.public_key_raw())
        .as_ref()
        .to_vec()
}

fn policies_extension() -> CustomExtension {
    policy_extension(SHAKEN_POLICY_OID)
}

/// Returns a non-critical certificatePolicies extension with the one policy
/// `oid`: `SEQUENCE { PolicyInformation ::= SEQUENCE { OID } }`.
pub fn policy_extension(oid: &str) -> CustomExtension {
    let policy = tlv(0x30, &oid_der(oid));
    CustomExtension::from_oid_content(&[2, 5, 29, 32], tlv(0x30, &policy))
}

fn crl_points_extension(der: &[u8]) -> CustomExtension {
    CustomExtension::from_oid_content(&[2, 5, 29, 31], der.to_vec())
}

/// Returns the cRLDistributionPoints extension of the SHAKEN profile: the CRL URL
/// and the DER Name `crl_issuer` as cRLIssuer.
pub fn crl_distribution_points_extension(crl_issuer: &[u8]) -> CustomExtension {
    crl_points_extension(&crl_distribution_points_der(crl_issuer))
}

/// Returns a TNAuthList extension with the given DER value, which may break RFC
/// 8226 on purpose.
pub fn tn_auth_list_extension(der: Vec<u8>) -> CustomExtension {
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 26], der)
}

/// Encodes cRLDistributionPoints with one DistributionPoint: the HTTP URL as
/// fullName and the CRL signer's DN as cRLIssuer (RFC 5280 section 4.2.1.13,
/// IMPLICIT tags).
fn crl_distribution_points_der(crl_issuer: &[u8]) -> Vec<u8> {
    let uri = tlv(0x86, CRL_URL.as_bytes());
    let full_name = tlv(0xA0, &uri);
    let distribution_point = tlv(0xA0, &full_name);
    let directory_name = tlv(0xA4, crl_issuer);
    let crl_issuer = tlv(0xA2, &directory_name);
    let point = tlv(0x30, &[distribution_point, crl_issuer].concat());
    tlv(0x30, &point)
}

/// Encodes the TNAuthList of RFC 8226 section 9 with EXPLICIT tags: the SPC,
/// then each range, then each single number.
fn tn_auth_list_der(options: &PkiOptions) -> Result<Vec<u8>, PkiError> {
    let spc = &options.spc;
    if spc.is_empty()
        || spc.len() > 10
        || !spc
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return Err(PkiError::InvalidSpc(spc.clone()));
    }
    let number = |tn: &str| -> Result<Vec<u8>, PkiError> {
        if tn.is_empty() || tn.len() > 15 || !tn.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PkiError::InvalidNumber(tn.to_owned()));
        }
        Ok(tlv(0x16, tn.as_bytes()))
    };

    let mut entries = vec![tlv(0xA0, &tlv(0x16, spc.as_bytes()))];
    for (start, count) in &options.tn_ranges {
        if *count < 2 {
            return Err(PkiError::InvalidCount(*count));
        }
        let range = tlv(0x30, &[number(start)?, integer_der(*count)].concat());
        entries.push(tlv(0xA1, &range));
    }
    for tn in &options.tns {
        entries.push(tlv(0xA2, &number(tn)?));
    }
    Ok(tlv(0x30, &entries.concat()))
}

/// Returns the DER of the subject Name of a certificate.
fn subject_der(certificate: &[u8]) -> Result<Vec<u8>, PkiError> {
    use x509_parser::prelude::FromDer as _;
    let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(certificate)
        .map_err(|e| PkiError::Generation(e.to_string()))?;
    Ok(parsed.subject().as_raw().to_vec())
}

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = value.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes: Vec<u8> = length
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(value);
    out
}

fn integer_der(value: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = value
        .to_be_bytes()
        .into_iter()
        .skip_while(|&b| b == 0)
        .collect();
    if bytes.first().is_none_or(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    tlv(0x02, &bytes)
}

fn oid_der(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .filter_map(|arc| arc.parse().ok())
        .collect();
    let mut body = Vec::new();
    if let [first, second, rest @ ..] = arcs.as_slice() {
        body.extend(base128(first * 40 + second));
        for arc in rest {
            body.extend(base128(*arc));
        }
    }
    tlv(0x06, &body)
}

fn base128(mut value: u64) -> Vec<u8> {
    let mut out = vec![(value & 0x7f) as u8];
    value >>= 7;
    while value > 0 {
        out.insert(0, 0x80 | (value & 0x7f) as u8);
        value >>= 7;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tn_auth_list_encodes_like_rfc_8226() {
        let options = PkiOptions {
            spc: "999X".into(),
            tn_ranges: vec![],
            tns: vec![],
            now: 0,
            defects: vec![],
        };
        assert_eq!(
            tn_auth_list_der(&options).unwrap(),
            vec![0x30, 0x08, 0xA0, 0x06, 0x16, 0x04, b'9', b'9', b'9', b'X']
        );
    }

    #[test]
    fn policy_oid_encodes() {
        assert_eq!(
            oid_der(SHAKEN_POLICY_OID),
            vec![
                0x06, 0x0A, 0x60, 0x86, 0x48, 0x01, 0x86, 0xFF, 0x09, 0x01, 0x01, 0x03
            ]
        );
    }

    #[test]
    fn bad_spc_rejected() {
        let options = PkiOptions {
            spc: "99x".into(),
            tn_ranges: vec![],
            tns: vec![],
            now: 0,
            defects: vec![],
        };
        assert!(matches!(
            tn_auth_list_der(&options),
            Err(PkiError::InvalidSpc(_))
        ));
    }
}
