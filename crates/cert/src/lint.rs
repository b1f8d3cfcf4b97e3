//! Certificate lint against the SHAKEN certificate profile of ATIS-1000080
//! section 6.4.1, the US SHAKEN certificate policy and RFC 5280.
//!
//! Each rule has a stable code, a severity, the document, version and section it
//! comes from, and a one-line statement. A rule applies to subscriber
//! (end-entity), intermediate or root certificates, or to all. The lint judges a
//! certificate as issued: that it has expired by now is a notice, not an error.

use aws_lc_rs::digest;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use crate::parse::Certificate;
use crate::tnauthlist::TnEntry;

/// Seriousness of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// A requirement (shall, MUST) is broken.
    Error,
    /// A recommendation (should) is not followed.
    Warning,
    /// Information an operator may want, such as expiry.
    Notice,
}

impl Severity {
    /// Returns the lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        }
    }
}

/// The place of a certificate in the SHAKEN PKI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A service provider certificate: not a CA.
    EndEntity,
    /// A CA certificate issued by another CA.
    Intermediate,
    /// A self-issued CA certificate.
    Root,
}

impl Role {
    /// Returns the lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::EndEntity => "end-entity",
            Role::Intermediate => "intermediate",
            Role::Root => "root",
        }
    }
}

/// Scope of a rule: the roles it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// Every certificate.
    All,
    /// End-entity certificates.
    EndEntity,
    /// Intermediate and root certificates.
    Ca,
    /// Intermediate certificates.
    Intermediate,
    /// Root certificates.
    Root,
    /// End-entity and intermediate certificates.
    NotRoot,
}

impl Applies {
    /// Reports whether a rule with this scope applies to `role`.
    pub fn includes(self, role: Role) -> bool {
        match self {
            Applies::All => true,
            Applies::EndEntity => role == Role::EndEntity,
            Applies::Ca => role != Role::EndEntity,
            Applies::Intermediate => role == Role::Intermediate,
            Applies::Root => role == Role::Root,
            Applies::NotRoot => role != Role::Root,
        }
    }
}

/// A lint rule.
#[derive(Debug)]
pub struct Rule {
    /// The stable code.
    pub code: &'static str,
    /// The severity of a finding.
    pub severity: Severity,
    /// The document, version and section of the requirement.
    pub source: &'static str,
    /// The requirement, in one line.
    pub statement: &'static str,
    /// The certificates it applies to.
    pub applies: Applies,
    check: fn(&Context<'_>) -> Result<(), String>,
}

/// One broken rule, with what was found.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The rule.
    pub rule: &'static Rule,
    /// Description of what the certificate has instead.
    pub detail: String,
}

/// The result of linting one certificate.
#[derive(Debug, Clone)]
pub struct Report {
    /// The role the certificate was linted as.
    pub role: Role,
    /// The broken rules, in rule order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Reports whether a finding of error severity exists.
    pub fn has_errors(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.rule.severity == Severity::Error)
    }
}

const ATIS_6_4_1: &str = "ATIS-1000080 v005 section 6.4.1";
const US_CP_3_1: &str = "US SHAKEN Certificate Policy v1.3 section 3.1";
const US_CP_1_3: &str = "US SHAKEN Certificate Policy v1.3 section 1.3";
const RFC_5280_4_2_1_1: &str = "RFC 5280 section 4.2.1.1";
const RFC_5280_4_2_1_3: &str = "RFC 5280 section 4.2.1.3";
const RFC_5280_4_1_2_5: &str = "RFC 5280 section 4.1.2.5";

/// The OID arc of the SHAKEN certificate policies of the STI-PA.
const SHAKEN_POLICY_ARC: &str = "2.16.840.1.114569.1.1.";

/// Subject attributes that name a service provider unambiguously: the C, O, CN
/// and serialNumber of the profile, and the locality (L, ST) that many STI-CAs
/// add. An organizational unit or an email address makes the name less clear.
const EXPECTED_SUBJECT_ATTRIBUTES: [&str; 6] = [
    "2.5.4.6", "2.5.4.10", "2.5.4.3", "2.5.4.5", "2.5.4.7", "2.5.4.8",
];

/// Every rule, in the order findings are reported.
pub static RULES: &[Rule] = &[
    Rule {
        code: "version_3",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "The certificate is X.509 version 3.",
        applies: Applies::All,
        check: check_version,
    },
    Rule {
        code: "serial_positive",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "The serial number is an integer greater than zero.",
        applies: Applies::All,
        check: check_serial_positive,
    },
    Rule {
        code: "serial_64_bits",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "The serial number holds at least 64 bits, as CSPRNG output.",
        applies: Applies::All,
        check: check_serial_size,
    },
    Rule {
        code: "signature_ecdsa_sha256",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "The signature algorithm is ecdsa-with-SHA256.",
        applies: Applies::All,
        check: check_signature_algorithm,
    },
    Rule {
        code: "key_p256",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "The subject public key is id-ecPublicKey on P-256.",
        applies: Applies::All,
        check: check_public_key,
    },
    Rule {
        code: "subject_c_o_cn",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "The subject DN has Country, Organization and Common Name attributes.",
        applies: Applies::All,
        check: check_subject_dn,
    },
    Rule {
        code: "subject_c_iso3166",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "The subject Country is an ISO 3166-1 alpha-2 code.",
        applies: Applies::All,
        check: check_subject_country,
    },
    Rule {
        code: "issuer_c_o_cn",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "The issuer DN has Country, Organization and Common Name attributes.",
        applies: Applies::All,
        check: check_issuer_dn,
    },
    Rule {
        code: "ca_cn_shaken",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "A CA Common Name contains the text SHAKEN.",
        applies: Applies::Ca,
        check: check_cn_shaken,
    },
    Rule {
        code: "ee_cn_shaken_spc",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "The subscriber Common Name is 'SHAKEN', one space, and the SPC of the TNAuthList.",
        applies: Applies::EndEntity,
        check: check_cn_spc,
    },
    Rule {
        code: "root_cn_root",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "A root Common Name contains the text ROOT, in any letter case.",
        applies: Applies::Root,
        check: check_cn_root,
    },
    Rule {
        code: "ee_subject_serial_number",
        severity: Severity::Error,
        source: US_CP_3_1,
        statement: "The subscriber DN has a serialNumber attribute beside the Common Name.",
        applies: Applies::EndEntity,
        check: check_subject_serial_number,
    },
    Rule {
        code: "subject_email",
        severity: Severity::Warning,
        source: US_CP_3_1,
        statement: "The subject DN carries no emailAddress, which the CA does not verify.",
        applies: Applies::All,
        check: check_subject_email,
    },
    Rule {
        code: "subject_unexpected_attribute",
        severity: Severity::Warning,
        source: US_CP_3_1,
        statement: "The subject DN has only C, O, CN, serialNumber, L and ST, so the name identifies the provider unambiguously.",
        applies: Applies::All,
        check: check_subject_attributes,
    },
    Rule {
        code: "basic_constraints_critical",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "basicConstraints is present and critical.",
        applies: Applies::All,
        check: check_basic_constraints,
    },
    Rule {
        code: "key_usage_critical",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "keyUsage is present and critical.",
        applies: Applies::All,
        check: check_key_usage_present,
    },
    Rule {
        code: "ee_key_usage_digital_signature",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "A subscriber keyUsage is exactly digitalSignature.",
        applies: Applies::EndEntity,
        check: check_key_usage_end_entity,
    },
    Rule {
        code: "ca_key_usage_cert_sign",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "A CA keyUsage has keyCertSign and at most digitalSignature and cRLSign besides.",
        applies: Applies::Ca,
        check: check_key_usage_ca,
    },
    Rule {
        code: "ca_key_usage_cert_sign_only",
        severity: Severity::Notice,
        source: "SHAKEN PKI practice",
        statement: "A CA keyUsage is keyCertSign alone, since the STI-PA signs the CRL.",
        applies: Applies::Ca,
        check: check_key_usage_ca_only,
    },
    Rule {
        code: "key_usage_der",
        severity: Severity::Error,
        source: RFC_5280_4_2_1_3,
        statement: "The keyUsage BIT STRING is DER: trailing zero bits are removed.",
        applies: Applies::All,
        check: check_key_usage_encoding,
    },
    Rule {
        code: "subject_key_identifier",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "subjectKeyIdentifier is present.",
        applies: Applies::All,
        check: check_ski_present,
    },
    Rule {
        code: "subject_key_identifier_sha1",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "subjectKeyIdentifier is the 160-bit SHA-1 hash of the public key.",
        applies: Applies::All,
        check: check_ski_sha1,
    },
    Rule {
        code: "authority_key_identifier",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "authorityKeyIdentifier is present.",
        applies: Applies::NotRoot,
        check: check_aki_present,
    },
    Rule {
        code: "authority_key_identifier_key_id",
        severity: Severity::Error,
        source: RFC_5280_4_2_1_1,
        statement: "authorityKeyIdentifier has a keyIdentifier.",
        applies: Applies::NotRoot,
        check: check_aki_key_id,
    },
    Rule {
        code: "root_authority_key_identifier",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "A root's authorityKeyIdentifier, when present, equals its subjectKeyIdentifier.",
        applies: Applies::Root,
        check: check_root_aki,
    },
    Rule {
        code: "certificate_policies_single",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "certificatePolicies is present with a single policy OID.",
        applies: Applies::NotRoot,
        check: check_policies_single,
    },
    Rule {
        code: "certificate_policies_shaken",
        severity: Severity::Error,
        source: US_CP_1_3,
        statement: "The policy OID is a SHAKEN certificate policy of the STI-PA (2.16.840.1.114569.1.1.x).",
        applies: Applies::NotRoot,
        check: check_policies_shaken,
    },
    Rule {
        code: "certificate_policies_not_critical",
        severity: Severity::Notice,
        source: ATIS_6_4_1,
        statement: "certificatePolicies should not be marked critical.",
        applies: Applies::All,
        check: check_policies_not_critical,
    },
    Rule {
        code: "root_no_certificate_policies",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "A root has no certificatePolicies.",
        applies: Applies::Root,
        check: check_root_no_policies,
    },
    Rule {
        code: "crl_distribution_point",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "cRLDistributionPoints is present with a single DistributionPoint.",
        applies: Applies::NotRoot,
        check: check_crl_dp_single,
    },
    Rule {
        code: "crl_distribution_point_form",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "The DistributionPoint has the HTTP URL of the STI-PA CRL and a cRLIssuer DN.",
        applies: Applies::NotRoot,
        check: check_crl_dp_form,
    },
    Rule {
        code: "ee_tn_auth_list",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "A subscriber certificate has a TNAuthList (RFC 8226) with a single SPC.",
        applies: Applies::EndEntity,
        check: check_tn_auth_list,
    },
    Rule {
        code: "ee_tn_auth_list_spc_format",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "The SPC holds only digits and upper-case letters.",
        applies: Applies::EndEntity,
        check: check_spc_format,
    },
    Rule {
        code: "extension_not_specified",
        severity: Severity::Error,
        source: ATIS_6_4_1,
        statement: "The certificate has no extension beyond those the profile specifies.",
        applies: Applies::All,
        check: check_extensions_specified,
    },
    Rule {
        code: "validity_order",
        severity: Severity::Error,
        source: RFC_5280_4_1_2_5,
        statement: "notBefore is earlier than notAfter.",
        applies: Applies::All,
        check: check_validity_order,
    },
];

impl Rule {
    /// Reports whether the rule applies to a certificate of `role`.
    pub fn applies_to(&self, role: Role) -> bool {
        self.applies.includes(role)
    }
}

/// Returns the rule with `code`.
pub fn rule(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.code == code)
}

/// Returns the role of a certificate: not a CA, a self-issued CA, or another CA.
pub fn role_of(certificate: &Certificate) -> Role {
    if !certificate.is_ca {
        Role::EndEntity
    } else if certificate.subject == certificate.issuer {
        Role::Root
    } else {
        Role::Intermediate
    }
}

/// Lints `certificate` as `role` at Unix time `now`, which only decides the
/// expiry notice.
pub fn lint(certificate: &Certificate, role: Role, now: i64) -> Report {
    let mut findings = Vec::new();
    let Ok((_, parsed)) = X509Certificate::from_der(&certificate.der) else {
        return Report { role, findings };
    };
    let context = Context {
        certificate,
        parsed: &parsed,
    };
    for rule in RULES {
        if !rule.applies.includes(role) {
            continue;
        }
        if let Err(detail) = (rule.check)(&context) {
            findings.push(Finding { rule, detail });
        }
    }
    if certificate.not_after < now {
        findings.push(Finding {
            rule: &EXPIRED,
            detail: format!(
                "notAfter is {}",
                crate::validate::utc(certificate.not_after)
            ),
        });
    }
    Report { role, findings }
}

/// Expiry by the time of the lint: a notice, since the lint judges the
/// certificate as issued.
static EXPIRED: Rule = Rule {
    code: "expired",
    severity: Severity::Notice,
    source: RFC_5280_4_1_2_5,
    statement: "The certificate has expired by the time of the lint.",
    applies: Applies::All,
    check: |_| Ok(()),
};

struct Context<'a> {
    certificate: &'a Certificate,
    parsed: &'a X509Certificate<'a>,
}

impl Context<'_> {
    fn extension(&self, oid: &str) -> Option<&x509_parser::extensions::X509Extension<'_>> {
        self.parsed
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == oid)
    }
}

fn check_version(context: &Context<'_>) -> Result<(), String> {
    match context.parsed.version().0 {
        2 => Ok(()),
        other => Err(format!("version {}", other + 1)),
    }
}

fn serial_bytes<'a>(context: &'a Context<'_>) -> &'a [u8] {
    context.parsed.raw_serial()
}

fn check_serial_positive(context: &Context<'_>) -> Result<(), String> {
    let raw = serial_bytes(context);
    if raw.first().is_some_and(|b| b & 0x80 != 0) {
        return Err("the serial number is negative".to_owned());
    }
    if raw.iter().all(|&b| b == 0) {
        return Err("the serial number is zero".to_owned());
    }
    Ok(())
}

fn check_serial_size(context: &Context<'_>) -> Result<(), String> {
    let raw = serial_bytes(context);
    let significant = raw.iter().skip_while(|&&b| b == 0).count();
    if significant >= 8 {
        Ok(())
    } else {
        Err(format!("the serial number has {} bits", significant * 8))
    }
}

fn check_signature_algorithm(context: &Context<'_>) -> Result<(), String> {
    match context.certificate.signature_algorithm.as_str() {
        "1.2.840.10045.4.3.2" => Ok(()),
        other => Err(format!("signature algorithm {other}")),
    }
}

fn check_public_key(context: &Context<'_>) -> Result<(), String> {
    if context.certificate.p256_public_key().is_ok() {
        Ok(())
    } else {
        Err(format!("key {}", context.certificate.key_algorithm))
    }
}

/// Returns the string values of the attributes of `name` with OID `oid`.
fn attributes<'a>(name: &'a X509Name<'_>, oid: &str) -> Vec<&'a str> {
    name.iter_attributes()
        .filter(|attribute| attribute.attr_type().to_id_string() == oid)
        .map(|attribute| attribute.as_str().unwrap_or(""))
        .collect()
}

fn check_dn(name: &X509Name<'_>) -> Result<(), String> {
    let missing: Vec<&str> = [("2.5.4.6", "C"), ("2.5.4.10", "O"), ("2.5.4.3", "CN")]
        .into_iter()
        .filter(|(oid, _)| attributes(name, oid).is_empty())
        .map(|(_, label)| label)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("no {} attribute", missing.join(", ")))
    }
}

fn check_subject_dn(context: &Context<'_>) -> Result<(), String> {
    check_dn(context.parsed.subject())
}

fn check_issuer_dn(context: &Context<'_>) -> Result<(), String> {
    check_dn(context.parsed.issuer())
}

fn check_subject_country(context: &Context<'_>) -> Result<(), String> {
    for country in attributes(context.parsed.subject(), "2.5.4.6") {
        let valid = country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase());
        if !valid {
            return Err(format!("C is '{country}'"));
        }
    }
    Ok(())
}

fn common_names<'a>(context: &'a Context<'_>) -> Vec<&'a str> {
    attributes(context.parsed.subject(), "2.5.4.3")
}

fn check_cn_shaken(context: &Context<'_>) -> Result<(), String> {
    let names = common_names(context);
    if names.iter().any(|cn| cn.contains("SHAKEN")) {
        Ok(())
    } else {
        Err(format!("CN is {names:?}"))
    }
}

fn check_cn_spc(context: &Context<'_>) -> Result<(), String> {
    let names = common_names(context);
    let spc = match &context.certificate.tn_auth_list {
        Some(Ok(list)) => list.spc(),
        _ => None,
    };
    let Some(spc) = spc else {
        // Without an SPC to compare with, only the form can be checked.
        return if names
            .iter()
            .any(|cn| cn.starts_with("SHAKEN ") && cn.len() > 7)
        {
            Ok(())
        } else {
            Err(format!("CN is {names:?}; expected 'SHAKEN <SPC>'"))
        };
    };
    let expected = format!("SHAKEN {spc}");
    if names.iter().any(|cn| *cn == expected) {
        Ok(())
    } else {
        Err(format!("CN is {names:?}; expected '{expected}'"))
    }
}

fn check_cn_root(context: &Context<'_>) -> Result<(), String> {
    let names = common_names(context);
    if names
        .iter()
        .any(|cn| cn.to_ascii_uppercase().contains("ROOT"))
    {
        Ok(())
    } else {
        Err(format!("CN is {names:?}"))
    }
}

fn check_subject_serial_number(context: &Context<'_>) -> Result<(), String> {
    if attributes(context.parsed.subject(), "2.5.4.5").is_empty() {
        Err("no serialNumber attribute".to_owned())
    } else {
        Ok(())
    }
}

fn check_subject_email(context: &Context<'_>) -> Result<(), String> {
    let emails = attributes(context.parsed.subject(), "1.2.840.113549.1.9.1");
    if emails.is_empty() {
        Ok(())
    } else {
        Err(format!("emailAddress {emails:?}"))
    }
}

fn check_subject_attributes(context: &Context<'_>) -> Result<(), String> {
    let unexpected: Vec<String> = context
        .parsed
        .subject()
        .iter_attributes()
        .map(|attribute| attribute.attr_type().to_id_string())
        .filter(|oid| !EXPECTED_SUBJECT_ATTRIBUTES.contains(&oid.as_str()))
        .collect();
    if unexpected.is_empty() {
        Ok(())
    } else {
        Err(format!("attributes {}", unexpected.join(", ")))
    }
}

fn check_basic_constraints(context: &Context<'_>) -> Result<(), String> {
    match context.parsed.basic_constraints() {
        Ok(Some(constraints)) if constraints.critical => Ok(()),
        Ok(Some(_)) => Err("basicConstraints is not critical".to_owned()),
        _ => Err("no basicConstraints".to_owned()),
    }
}

fn check_key_usage_present(context: &Context<'_>) -> Result<(), String> {
    match context.parsed.key_usage() {
        Ok(Some(usage)) if usage.critical => Ok(()),
        Ok(Some(_)) => Err("keyUsage is not critical".to_owned()),
        _ => Err("no keyUsage".to_owned()),
    }
}

fn check_key_usage_end_entity(context: &Context<'_>) -> Result<(), String> {
    let usage = &context.certificate.key_usage;
    if usage.is_empty() || usage.as_slice() == ["digitalSignature"] {
        Ok(())
    } else {
        Err(format!("keyUsage {}", usage.join(", ")))
    }
}

fn check_key_usage_ca(context: &Context<'_>) -> Result<(), String> {
    let usage = &context.certificate.key_usage;
    if usage.is_empty() {
        return Ok(());
    }
    let allowed = usage
        .iter()
        .all(|u| matches!(*u, "keyCertSign" | "digitalSignature" | "cRLSign"));
    if usage.contains(&"keyCertSign") && allowed {
        Ok(())
    } else {
        Err(format!("keyUsage {}", usage.join(", ")))
    }
}

fn check_key_usage_ca_only(context: &Context<'_>) -> Result<(), String> {
    let usage = &context.certificate.key_usage;
    if usage.is_empty() || usage.as_slice() == ["keyCertSign"] {
        Ok(())
    } else {
        Err(format!("keyUsage {}", usage.join(", ")))
    }
}

/// DER requires the named bits of a BIT STRING without trailing zero bits
/// (X.690 section 11.2.2), so the last used bit must be set.
fn check_key_usage_encoding(context: &Context<'_>) -> Result<(), String> {
    let Some(extension) = context.extension("2.5.29.15") else {
        return Ok(());
    };
    let [0x03, length, unused, bits @ ..] = extension.value else {
        return Err("keyUsage is not a BIT STRING".to_owned());
    };
    if usize::from(*length) != bits.len() + 1 || *unused > 7 {
        return Err("keyUsage BIT STRING length is wrong".to_owned());
    }
    match bits.last() {
        None => Ok(()),
        Some(last) if last & (1u8 << unused) != 0 => Ok(()),
        Some(_) => Err("keyUsage has trailing zero bits".to_owned()),
    }
}

fn subject_key_id<'a>(context: &'a Context<'_>) -> Option<&'a [u8]> {
    context
        .parsed
        .iter_extensions()
        .find_map(|extension| match extension.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0),
            _ => None,
        })
}

fn authority_key<'a>(
    context: &'a Context<'_>,
) -> Option<&'a x509_parser::extensions::AuthorityKeyIdentifier<'a>> {
    context
        .parsed
        .iter_extensions()
        .find_map(|extension| match extension.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => Some(aki),
            _ => None,
        })
}

fn check_ski_present(context: &Context<'_>) -> Result<(), String> {
    subject_key_id(context)
        .map(|_| ())
        .ok_or_else(|| "no subjectKeyIdentifier".to_owned())
}

/// RFC 5280 section 4.2.1.2 method (1): the SHA-1 of the subjectPublicKey bits.
fn check_ski_sha1(context: &Context<'_>) -> Result<(), String> {
    let Some(identifier) = subject_key_id(context) else {
        return Ok(());
    };
    let expected = digest::digest(
        &digest::SHA1_FOR_LEGACY_USE_ONLY,
        &context.certificate.public_key,
    );
    if identifier == expected.as_ref() {
        Ok(())
    } else {
        Err(format!(
            "subjectKeyIdentifier is {} bytes and not the SHA-1 of the key",
            identifier.len()
        ))
    }
}

fn check_aki_present(context: &Context<'_>) -> Result<(), String> {
    authority_key(context)
        .map(|_| ())
        .ok_or_else(|| "no authorityKeyIdentifier".to_owned())
}

fn check_aki_key_id(context: &Context<'_>) -> Result<(), String> {
    match authority_key(context) {
        Some(aki) if aki.key_identifier.is_none() => {
            Err("authorityKeyIdentifier has no keyIdentifier".to_owned())
        }
        _ => Ok(()),
    }
}

fn check_root_aki(context: &Context<'_>) -> Result<(), String> {
    let Some(aki) = authority_key(context) else {
        return Ok(());
    };
    match (aki.key_identifier.as_ref(), subject_key_id(context)) {
        (Some(authority), Some(subject)) if authority.0 == subject => Ok(()),
        _ => Err("authorityKeyIdentifier differs from subjectKeyIdentifier".to_owned()),
    }
}

fn check_policies_single(context: &Context<'_>) -> Result<(), String> {
    match context.certificate.policies.len() {
        1 => Ok(()),
        0 => Err("no certificatePolicies".to_owned()),
        count => Err(format!("{count} policy OIDs")),
    }
}

fn check_policies_shaken(context: &Context<'_>) -> Result<(), String> {
    let policies = &context.certificate.policies;
    if policies.is_empty() || policies.iter().all(|p| p.starts_with(SHAKEN_POLICY_ARC)) {
        Ok(())
    } else {
        Err(format!("policies {}", policies.join(", ")))
    }
}

fn check_policies_not_critical(context: &Context<'_>) -> Result<(), String> {
    match context.extension("2.5.29.32") {
        Some(extension) if extension.critical => Err("certificatePolicies is critical".to_owned()),
        _ => Ok(()),
    }
}

fn check_root_no_policies(context: &Context<'_>) -> Result<(), String> {
    if context.extension("2.5.29.32").is_some() {
        Err("certificatePolicies is present".to_owned())
    } else {
        Ok(())
    }
}

fn check_crl_dp_single(context: &Context<'_>) -> Result<(), String> {
    match context.certificate.crl_distribution_points.len() {
        1 => Ok(()),
        0 => Err("no cRLDistributionPoints".to_owned()),
        count => Err(format!("{count} distribution points")),
    }
}

fn check_crl_dp_form(context: &Context<'_>) -> Result<(), String> {
    let points: Vec<_> = context
        .parsed
        .iter_extensions()
        .filter_map(|extension| match extension.parsed_extension() {
            ParsedExtension::CRLDistributionPoints(points) => Some(points),
            _ => None,
        })
        .flat_map(|points| points.iter())
        .collect();
    let Some(point) = points.first() else {
        return Ok(());
    };
    let http = match &point.distribution_point {
        Some(DistributionPointName::FullName(names)) => names
            .iter()
            .any(|name| matches!(name, GeneralName::URI(uri) if uri.starts_with("http"))),
        _ => false,
    };
    let issuer = point
        .crl_issuer
        .iter()
        .flatten()
        .any(|name| matches!(name, GeneralName::DirectoryName(_)));
    match (http, issuer) {
        (true, true) => Ok(()),
        (false, _) => Err("the distribution point has no HTTP URL".to_owned()),
        (true, false) => Err("the distribution point has no cRLIssuer".to_owned()),
    }
}

fn check_tn_auth_list(context: &Context<'_>) -> Result<(), String> {
    match &context.certificate.tn_auth_list {
        None => Err("no TNAuthList".to_owned()),
        Some(Err(error)) => Err(format!("malformed TNAuthList: {error}")),
        Some(Ok(list)) => {
            let spcs = list.spcs().count();
            let numbers = list
                .entries()
                .iter()
                .filter(|e| !matches!(e, TnEntry::Spc(_)))
                .count();
            if spcs == 1 && numbers == 0 {
                Ok(())
            } else {
                Err(format!("{spcs} SPCs and {numbers} number entries"))
            }
        }
    }
}

fn check_spc_format(context: &Context<'_>) -> Result<(), String> {
    let Some(Ok(list)) = &context.certificate.tn_auth_list else {
        return Ok(());
    };
    for spc in list.spcs() {
        if spc.is_empty()
            || !spc
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            return Err(format!("SPC '{spc}'"));
        }
    }
    Ok(())
}

fn check_extensions_specified(context: &Context<'_>) -> Result<(), String> {
    let role = role_of(context.certificate);
    let specified: &[&str] = match role {
        Role::EndEntity => &[
            "2.5.29.15",
            "2.5.29.19",
            "2.5.29.14",
            "2.5.29.35",
            "2.5.29.32",
            "2.5.29.31",
            "1.3.6.1.5.5.7.1.26",
        ],
        Role::Intermediate => &[
            "2.5.29.15",
            "2.5.29.19",
            "2.5.29.14",
            "2.5.29.35",
            "2.5.29.32",
            "2.5.29.31",
        ],
        Role::Root => &["2.5.29.15", "2.5.29.19", "2.5.29.14", "2.5.29.35"],
    };
    let extra: Vec<String> = context
        .certificate
        .extensions
        .iter()
        .map(|(oid, _)| oid.clone())
        .filter(|oid| !specified.contains(&oid.as_str()))
        .collect();
    if extra.is_empty() {
        Ok(())
    } else {
        Err(format!("extensions {}", extra.join(", ")))
    }
}

fn check_validity_order(context: &Context<'_>) -> Result<(), String> {
    if context.certificate.not_before < context.certificate.not_after {
        Ok(())
    } else {
        Err("notBefore is not earlier than notAfter".to_owned())
    }
}
