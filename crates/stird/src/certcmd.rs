//! `stird cert`: certificate commands.

use std::path::PathBuf;

use cert::tnauthlist::TnEntry;
use cert::{
    Certificate, CrlPolicy, CrlStore, Revocation, TrustSources, TrustStore, ValidatedPath,
    ValidationError, validate_path, validate_path_with_crls,
};
use cert::{lint, pki};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::{InputError, Outcome, read_file, timearg};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a certificate or chain: names, validity, key, TNAuthList, CRL
    /// distribution points and policies.
    #[command(
        after_help = "Exit status: 0 whenever the certificates parse, even with a malformed extension, which the output reports; 2 when they do not parse."
    )]
    Inspect(InspectArgs),
    /// Validate a certificate chain up to the STI trust anchors.
    Verify(VerifyArgs),
    /// Check each certificate against the SHAKEN certificate profile
    /// (ATIS-1000080), the US SHAKEN certificate policy and RFC 5280.
    #[command(
        after_help = "Exit status: 0 when no finding has error severity, 1 when one has, 2 when the certificates do not parse. Expiry by now is a notice."
    )]
    Lint(LintArgs),
}

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The time for the expiry notice: Unix seconds or RFC 3339; now when absent.
    #[arg(long, value_name = "TIME", allow_negative_numbers = true)]
    at: Option<String>,
    /// A certificate or chain: PEM with one or more certificates, or one DER certificate.
    file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// A certificate or chain: PEM with one or more certificates, or one DER certificate.
    file: PathBuf,
}

/// STI trust anchors: the STI-CA roots, never the TLS roots of the system.
#[derive(Debug, Clone, clap::Args)]
pub struct TrustArgs {
    /// PEM bundle (or DER file) of trusted STI-CA root certificates; repeatable.
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,
    /// Directory of trusted STI-CA root certificates (.pem, .crt, .cer, .der); repeatable.
    #[arg(long = "ca-dir", value_name = "DIR")]
    pub ca_dirs: Vec<PathBuf>,
}

impl TrustArgs {
    /// Reports whether any trust anchor source was given.
    pub fn given(&self) -> bool {
        !self.ca_files.is_empty() || !self.ca_dirs.is_empty()
    }

    /// Loads the trust anchors, naming the file at fault.
    pub fn load(&self) -> Result<TrustStore, InputError> {
        let sources = TrustSources {
            files: self.ca_files.clone(),
            directories: self.ca_dirs.clone(),
        };
        let store = TrustStore::load(&sources)
            .map_err(|error| InputError(format!("trust anchors: {error}")))?;
        for anchor in store.anchors() {
            if !anchor.is_ca || anchor.subject != anchor.issuer {
                eprintln!(
                    "stird: note: trust anchor '{}' is not a self-signed CA certificate; is a chain file given as --ca-file?",
                    anchor.subject
                );
            }
        }
        Ok(store)
    }
}

/// CRLs for revocation checks, and what to do when one is missing or stale.
#[derive(Debug, Clone, clap::Args)]
pub struct CrlArgs {
    /// CRL file: DER, or PEM with X509 CRL blocks and the CRL signer's
    /// CERTIFICATE; repeatable.
    #[arg(long = "crl-file", value_name = "FILE")]
    pub crl_files: Vec<PathBuf>,
    /// Directory of CRL files (.crl, .pem, .der); repeatable.
    #[arg(long = "crl-dir", value_name = "DIR")]
    pub crl_dirs: Vec<PathBuf>,
    /// Hours past a CRL's nextUpdate during which it is still used.
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub crl_grace: u32,
    /// Accept a certificate whose named CRL was not given, instead of rejecting it.
    #[arg(long)]
    pub crl_optional: bool,
}

impl CrlArgs {
    /// Loads the CRLs, or returns `None` when none was named.
    pub fn load(&self) -> Result<Option<CrlStore>, InputError> {
        if self.crl_files.is_empty() && self.crl_dirs.is_empty() {
            return Ok(None);
        }
        let policy = CrlPolicy {
            stale_grace: i64::from(self.crl_grace) * 3600,
            require_crl: !self.crl_optional,
        };
        CrlStore::load(&self.crl_files, &self.crl_dirs, policy)
            .map(Some)
            .map_err(|error| InputError(format!("CRLs: {error}")))
    }
}

/// Validates a chain, with revocation when CRLs were given.
pub fn validate(
    chain: &[Certificate],
    anchors: &TrustStore,
    crls: Option<&CrlStore>,
    at: i64,
) -> Result<ValidatedPath, ValidationError> {
    match crls {
        Some(crls) => validate_path_with_crls(chain, anchors.anchors(), crls, at),
        None => validate_path(chain, anchors.anchors(), at),
    }
}

/// Describes the revocation status for output.
pub fn describe_revocation(revocation: &Revocation) -> String {
    match revocation {
        Revocation::NotChecked => "not checked (no CRL given)".to_owned(),
        Revocation::Checked { notes } if notes.is_empty() => "checked, not revoked".to_owned(),
        Revocation::Checked { notes } => format!("checked, not revoked; {}", notes.join("; ")),
    }
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    crls: CrlArgs,
    /// Validation time: Unix seconds or RFC 3339; now when absent.
    #[arg(long, value_name = "TIME", allow_negative_numbers = true)]
    at: Option<String>,
    /// The chain to validate: subscriber certificate first, then intermediates
    /// (PEM, or one DER certificate).
    chain: PathBuf,
}

pub fn run(command: &Command) -> Result<Outcome, InputError> {
    match command {
        Command::Inspect(args) => inspect(args),
        Command::Verify(args) => verify(args),
        Command::Lint(args) => lint_command(args),
    }
}

fn lint_command(args: &LintArgs) -> Result<Outcome, InputError> {
    let certificates = cert::parse_bundle(&read_file(&args.file, "certificate")?)
        .map_err(|error| format!("certificate {}: {error}", args.file.display()))?;
    let now = match &args.at {
        Some(text) => timearg::parse(text, "--at")?,
        None => timearg::now(),
    };
    let reports: Vec<(&Certificate, lint::Report)> = certificates
        .iter()
        .map(|certificate| {
            (
                certificate,
                lint::lint(certificate, lint::role_of(certificate), now),
            )
        })
        .collect();

    if args.json {
        let documents: Vec<Value> = reports
            .iter()
            .map(|(certificate, report)| {
                json!({
                    "subject": certificate.subject,
                    "serial": certificate.serial,
                    "role": report.role.as_str(),
                    "findings": report.findings.iter().map(|finding| json!({
                        "code": finding.rule.code,
                        "severity": finding.rule.severity.as_str(),
                        "source": finding.rule.source,
                        "rule": finding.rule.statement,
                        "found": finding.detail,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        crate::write_raw(
            &serde_json::to_string_pretty(&Value::Array(documents)).unwrap_or_default(),
        );
    } else {
        for (index, (certificate, report)) in reports.iter().enumerate() {
            say!(
                "certificate {index} ({}): {}",
                report.role.as_str(),
                certificate.subject
            );
            if report.findings.is_empty() {
                say!("  clean");
            }
            for finding in &report.findings {
                say!(
                    "  {:<7} {}: {} Found: {}. [{}]",
                    finding.rule.severity.as_str(),
                    finding.rule.code,
                    finding.rule.statement,
                    finding.detail,
                    finding.rule.source
                );
            }
        }
    }

    let errors = reports.iter().any(|(_, report)| report.has_errors());
    Ok(if errors {
        Outcome::Invalid
    } else {
        Outcome::Valid
    })
}

fn inspect(args: &InspectArgs) -> Result<Outcome, InputError> {
    let certificates = cert::parse_bundle(&read_file(&args.file, "certificate")?)
        .map_err(|error| format!("certificate {}: {error}", args.file.display()))?;
    let documents: Vec<Value> = certificates.iter().map(describe).collect();
    if args.json {
        let output = if documents.len() == 1 {
            documents.into_iter().next().unwrap_or_default()
        } else {
            Value::Array(documents)
        };
        crate::write_raw(&serde_json::to_string_pretty(&output).unwrap_or_default());
        return Ok(Outcome::Valid);
    }
    for (index, (certificate, document)) in certificates.iter().zip(&documents).enumerate() {
        if certificates.len() > 1 {
            say!("certificate {index}");
        }
        print_certificate(certificate, document);
    }
    Ok(Outcome::Valid)
}

/// Describes a certificate as JSON, the form both outputs print from.
pub fn describe(certificate: &Certificate) -> Value {
    let tn_auth_list = match &certificate.tn_auth_list {
        None => Value::Null,
        Some(Ok(list)) => Value::Array(list.entries().iter().map(tn_entry).collect()),
        Some(Err(error)) => json!({ "error": error.to_string() }),
    };
    let jwt_claim_constraints = match &certificate.jwt_claim_constraints {
        None => Value::Null,
        Some(Ok(constraints)) => json!({
            "mustInclude": constraints.must_include,
            "permittedValues": constraints.permitted_values.iter().map(|(claim, values)| json!({ "claim": claim, "values": values })).collect::<Vec<_>>(),
            "mustExclude": constraints.must_exclude,
        }),
        Some(Err(error)) => json!({ "error": error.to_string() }),
    };
    json!({
        "subject": certificate.subject,
        "issuer": certificate.issuer,
        "serial": certificate.serial,
        "not_before": timearg::format_utc(certificate.not_before),
        "not_after": timearg::format_utc(certificate.not_after),
        "key": certificate.key_algorithm,
        "signature_algorithm": certificate.signature_algorithm,
        "ca": certificate.is_ca,
        "key_usage": certificate.key_usage,
        "tn_auth_list": tn_auth_list,
        "jwt_claim_constraints": jwt_claim_constraints,
        "crl_distribution_points": certificate.crl_distribution_points.iter().map(|point| json!({ "uris": point.uris, "crl_issuers": point.crl_issuers })).collect::<Vec<_>>(),
        "policies": certificate.policies,
        "extensions": certificate.extensions.iter().map(|(oid, critical)| json!({ "oid": oid, "critical": critical })).collect::<Vec<_>>(),
    })
}

fn tn_entry(entry: &TnEntry) -> Value {
    match entry {
        TnEntry::Spc(spc) => json!({ "spc": spc }),
        TnEntry::Range { start, count } => json!({ "range": { "start": start, "count": count } }),
        TnEntry::One(number) => json!({ "one": number }),
    }
}

pub fn print_certificate(certificate: &Certificate, document: &Value) {
    say!("  subject: {}", certificate.subject);
    say!("  issuer: {}", certificate.issuer);
    say!("  serial: {}", certificate.serial);
    say!(
        "  validity: {} to {}",
        document["not_before"].as_str().unwrap_or_default(),
        document["not_after"].as_str().unwrap_or_default()
    );
    say!("  key: {}", certificate.key_algorithm);
    say!(
        "  signature algorithm: {}",
        oid_name(&certificate.signature_algorithm)
    );
    say!("  CA: {}", certificate.is_ca);
    say!(
        "  key usage: {}",
        if certificate.key_usage.is_empty() {
            "(absent)".to_owned()
        } else {
            certificate.key_usage.join(", ")
        }
    );
    match &certificate.tn_auth_list {
        None => say!("  TNAuthList: (absent)"),
        Some(Ok(_)) => say!("  TNAuthList: {}", document["tn_auth_list"]),
        Some(Err(error)) => say!("  TNAuthList: MALFORMED: {error}"),
    }
    if certificate.jwt_claim_constraints.is_some() {
        say!(
            "  JWT claim constraints: {}",
            document["jwt_claim_constraints"]
        );
    }
    for point in &certificate.crl_distribution_points {
        say!(
            "  CRL distribution point: {} (CRL issuer: {})",
            point.uris.join(", "),
            if point.crl_issuers.is_empty() {
                "the certificate's issuer".to_owned()
            } else {
                point.crl_issuers.join("; ")
            }
        );
    }
    say!(
        "  policies: {}",
        if certificate.policies.is_empty() {
            "(absent)".to_owned()
        } else {
            certificate.policies.join(", ")
        }
    );
    for (oid, critical) in &certificate.extensions {
        say!(
            "  extension: {}{}",
            oid_name(oid),
            if *critical { " (critical)" } else { "" }
        );
    }
}

fn verify(args: &VerifyArgs) -> Result<Outcome, InputError> {
    if !args.trust.given() {
        return Err("give the STI trust anchors with --ca-file or --ca-dir".into());
    }
    let store = args.trust.load()?;
    let crls = args.crls.load()?;
    let chain = cert::parse_chain(&read_file(&args.chain, "certificate chain")?)
        .map_err(|error| format!("certificate chain {}: {error}", args.chain.display()))?;
    let at = match &args.at {
        Some(text) => timearg::parse(text, "--at")?,
        None => timearg::now(),
    };

    match validate(&chain, &store, crls.as_ref(), at) {
        Ok(path) => {
            say!("result: valid at {} ({at})", timearg::format_utc(at));
            for (depth, certificate) in path.certificates.iter().enumerate() {
                let role = match depth {
                    0 => "subscriber",
                    _ if depth + 1 == path.certificates.len() => "trust anchor",
                    _ => "intermediate",
                };
                say!("  {depth}: {role}: {certificate}");
            }
            say!("revocation: {}", describe_revocation(&path.revocation));
            if chain
                .first()
                .is_some_and(|leaf| leaf.tn_auth_list.is_none())
            {
                say!(
                    "note: the subscriber certificate has no TNAuthList, so a SHAKEN verifier rejects it (437)"
                );
            }
            Ok(Outcome::Valid)
        }
        Err(error) => {
            say!("result: invalid at {} ({at})", timearg::format_utc(at));
            say!("reason: {error}");
            Ok(Outcome::Invalid)
        }
    }
}

/// Returns a readable name for the OIDs found in SHAKEN certificates, or the OID.
fn oid_name(oid: &str) -> String {
    let name = match oid {
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "2.5.29.14" => "subjectKeyIdentifier",
        "2.5.29.15" => "keyUsage",
        "2.5.29.17" => "subjectAltName",
        "2.5.29.19" => "basicConstraints",
        "2.5.29.31" => "cRLDistributionPoints",
        "2.5.29.32" => "certificatePolicies",
        "2.5.29.35" => "authorityKeyIdentifier",
        "2.5.29.37" => "extKeyUsage",
        "1.3.6.1.5.5.7.1.1" => "authorityInfoAccess",
        "1.3.6.1.5.5.7.1.26" => "TNAuthList",
        "1.3.6.1.5.5.7.1.27" => "JWTClaimConstraints",
        "1.3.6.1.5.5.7.1.33" => "EnhancedJWTClaimConstraints",
        _ => return oid.to_owned(),
    };
    format!("{name} ({oid})")
}

/// `stird pki init`: writes a test PKI in the SHAKEN profile.
#[derive(Debug, clap::Args)]
pub struct PkiInitArgs {
    /// The directory to write into; created when missing.
    dir: PathBuf,
    /// Service Provider Code of the subscriber certificate (digits and upper-case letters).
    #[arg(long, default_value = "1234")]
    spc: String,
    /// A telephone number range for the TNAuthList, as START:COUNT; repeatable.
    #[arg(long = "tn-range", value_name = "START:COUNT")]
    tn_ranges: Vec<String>,
    /// A single telephone number for the TNAuthList; repeatable.
    #[arg(long = "tn", value_name = "NUMBER")]
    tns: Vec<String>,
    /// Build the subscriber certificate with a defect, for tests; repeatable.
    #[arg(long = "broken", value_enum, value_name = "DEFECT")]
    defects: Vec<DefectArg>,
}

/// A deliberate defect of the test subscriber certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DefectArg {
    /// Valid from two years to one year ago.
    Expired,
    /// Without a TNAuthList.
    NoTnauthlist,
    /// keyUsage keyCertSign instead of digitalSignature.
    WrongKeyUsage,
    /// Listed as revoked on the CRL.
    Revoked,
    /// A P-384 key, which ES256 cannot use.
    P384,
}

pub fn pki_init(args: &PkiInitArgs) -> Result<Outcome, InputError> {
    let tn_ranges = args
        .tn_ranges
        .iter()
        .map(|range| {
            let invalid = || {
                InputError(format!(
                    "--tn-range '{range}' is not START:COUNT, as in 12025550100:100"
                ))
            };
            let (start, count) = range.split_once(':').ok_or_else(invalid)?;
            let count = count.parse::<u64>().map_err(|_| invalid())?;
            Ok((start.to_owned(), count))
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    let defects = args
        .defects
        .iter()
        .map(|defect| match defect {
            DefectArg::Expired => pki::Defect::Expired,
            DefectArg::NoTnauthlist => pki::Defect::NoTnAuthList,
            DefectArg::WrongKeyUsage => pki::Defect::WrongKeyUsage,
            DefectArg::Revoked => pki::Defect::Revoked,
            DefectArg::P384 => pki::Defect::P384Key,
        })
        .collect();
    let options = pki::PkiOptions {
        spc: args.spc.clone(),
        tn_ranges,
        tns: args.tns.clone(),
        now: timearg::now(),
        defects,
    };
    let files = pki::build(&options).map_err(|error| InputError(error.to_string()))?;
    pki::write(&args.dir, &files).map_err(|error| InputError(error.to_string()))?;
    for file in &files {
        say!("wrote {}", args.dir.join(file.name).display());
    }
    Ok(Outcome::Valid)
}

#[derive(Debug, clap::Args)]
pub struct PkiTlsArgs {
    /// The directory to write into; created when missing.
    dir: PathBuf,
    /// A DNS name or IP address of the repository server; repeatable.
    #[arg(long = "name", value_name = "NAME", default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()])]
    names: Vec<String>,
}

/// Writes a TLS CA and a server certificate for a test certificate repository.
pub fn pki_tls(args: &PkiTlsArgs) -> Result<Outcome, InputError> {
    let names: Vec<&str> = args.names.iter().map(String::as_str).collect();
    let files =
        pki::build_tls(&names, timearg::now()).map_err(|error| InputError(error.to_string()))?;
    pki::write(&args.dir, &files).map_err(|error| InputError(error.to_string()))?;
    for file in &files {
        say!("wrote {}", args.dir.join(file.name).display());
    }
    Ok(Outcome::Valid)
}
