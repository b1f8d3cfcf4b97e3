//! The verification procedure over all Identity headers of one request.
//!
//! Each Identity header runs through the checks in the order of
//! [`passport::Check`]; the certificate step calls a [`CertificateSource`]. The
//! request's verdict is the best one among its headers: one valid PASSporT is
//! enough, and otherwise the failure that got furthest through the checks is
//! reported, since it says the most about what went wrong.

use cert::tnauthlist::{Coverage, TnAuthList};
use passport::{
    Attestation, Check, CompactValues, Decoded, Error, IdentityHeader, Options, Orig, PPT_DIV,
    RequestIdentities, Token, VerifyingKey, Warning, tn,
};

use crate::verdict::{SipResponse, Verstat, response_for};

/// The `ppt` values this verifier checks. Identity headers with any other `ppt`
/// are skipped, not failed (RFC 8224 section 6.2, step 1).
///
/// TODO: add `div` together with the chain check of RFC 8946 section 4.2 (the
/// `div` claim equals the diverted PASSporT's `dest`, `orig` is unchanged).
/// Verified alone, a `div` PASSporT would let any signer vouch for a caller.
pub const SUPPORTED_PPT: [Option<&str>; 3] = [None, Some("shaken"), Some("rcd")];

/// Reason the certificate for an `x5u` is not available or not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateError {
    /// The certificate could not be obtained: 436 Bad Identity Info.
    Unavailable(String),
    /// The certificate was obtained but is not trusted or not supported:
    /// 437 Unsupported Credential.
    Unsupported(String),
}

/// Source of the signer's certificate for an `x5u` URL.
pub trait CertificateSource {
    /// Returns the first certificate at `x5u`, its path already validated.
    fn certificate_for(&self, x5u: &str) -> Result<SignerCertificate, CertificateError>;
}

/// What verification needs of a validated signer certificate: its public key,
/// parsed once, and its TNAuthList.
#[derive(Debug)]
pub struct SignerCertificate {
    /// The P-256 public key.
    pub key: VerifyingKey,
    /// The TNAuthList, absent or malformed with the reason.
    pub tn_auth_list: Option<Result<TnAuthList, String>>,
}

impl SignerCertificate {
    /// Takes the key and TNAuthList of a parsed certificate.
    pub fn from_certificate(certificate: &cert::Certificate) -> Result<Self, CertificateError> {
        let point = certificate
            .p256_public_key()
            .map_err(|error| CertificateError::Unsupported(error.to_string()))?;
        let key = VerifyingKey::from_sec1(point)
            .map_err(|error| CertificateError::Unsupported(error.to_string()))?;
        let tn_auth_list = certificate
            .tn_auth_list
            .clone()
            .map(|list| list.map_err(|error| error.to_string()));
        Ok(SignerCertificate { key, tn_auth_list })
    }
}

/// What the verifier needs from a SIP or HTTP request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyRequest {
    /// Every Identity header value, in message order.
    pub identities: Vec<String>,
    /// The calling identity: P-Asserted-Identity, else From.
    pub orig: Option<String>,
    /// The To header.
    pub to: Option<String>,
    /// The Request-URI, the current target of a diverted call.
    pub request_uri: Option<String>,
    /// The Date header in Unix seconds, when present.
    pub date: Option<i64>,
}

/// Reason a request failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The step that failed.
    pub check: Check,
    /// Description of the failure, with the offending value.
    pub reason: String,
    /// The SIP response that reports it.
    pub response: SipResponse,
}

/// The outcome of verifying one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The verstat value for the calling identity.
    pub verstat: Verstat,
    /// The attestation of the verified SHAKEN PASSporT.
    pub attestation: Option<Attestation>,
    /// The origid of the verified SHAKEN PASSporT.
    pub origid: Option<String>,
    /// Reason verification failed, or no PASSporT was checked.
    pub failure: Option<Failure>,
    /// Deviations that the lenient profile accepted.
    pub warnings: Vec<Warning>,
}

/// Policy choices of the verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// The PASSporT checks' options: time, freshness, profile, numbering plan.
    pub options: Options,
    /// Reject a request without a usable Identity header with 428 instead of
    /// passing it with No-TN-Validation.
    pub require_identity: bool,
}

/// Verifies every Identity header of `request` and returns the best verdict.
pub fn verify_request(
    request: &VerifyRequest,
    certificates: &dyn CertificateSource,
    policy: &VerifyPolicy,
) -> Verdict {
    let mut furthest: Option<Failure> = None;
    for value in &request.identities {
        let failure = match verify_one(value, request, certificates, &policy.options) {
            Outcome::Skipped => continue,
            Outcome::Passed(verified) => {
                return Verdict {
                    verstat: Verstat::TnValidationPassed,
                    attestation: verified.attestation(),
                    origid: verified.claims.origid.clone(),
                    failure: None,
                    warnings: verified.warnings,
                };
            }
            Outcome::Failed(error) => Failure {
                check: error.check(),
                reason: error.to_string(),
                response: response_for(&error),
            },
            Outcome::CertificateFailed(CertificateError::Unavailable(reason)) => Failure {
                check: Check::Certificate,
                reason,
                response: SipResponse::BAD_IDENTITY_INFO,
            },
            Outcome::CertificateFailed(CertificateError::Unsupported(reason)) => Failure {
                check: Check::Certificate,
                reason,
                response: SipResponse::UNSUPPORTED_CREDENTIAL,
            },
        };
        if furthest
            .as_ref()
            .is_none_or(|kept| failure.check > kept.check)
        {
            furthest = Some(failure);
        }
    }

    match furthest {
        Some(failure) => Verdict {
            verstat: Verstat::TnValidationFailed,
            attestation: None,
            origid: None,
            failure: Some(failure),
            warnings: Vec::new(),
        },
        None => no_identity(policy.require_identity),
    }
}

fn no_identity(require_identity: bool) -> Verdict {
    let failure = require_identity.then(|| Failure {
        check: Check::IdentityPresent,
        reason: "the request carries no Identity header with a supported ppt".to_owned(),
        response: SipResponse::USE_IDENTITY_HEADER,
    });
    Verdict {
        verstat: Verstat::NoTnValidation,
        attestation: None,
        origid: None,
        failure,
        warnings: Vec::new(),
    }
}

enum Outcome {
    Skipped,
    Passed(Box<passport::Verified>),
    Failed(Error),
    CertificateFailed(CertificateError),
}

/// Runs one Identity header through the checks, stopping at the first failure.
fn verify_one(
    value: &str,
    request: &VerifyRequest,
    certificates: &dyn CertificateSource,
    options: &Options,
) -> Outcome {
    let identity = match IdentityHeader::parse(value) {
        Ok(identity) => identity,
        Err(error) => return Outcome::Failed(error),
    };
    if !SUPPORTED_PPT.contains(&identity.ppt()) {
        return Outcome::Skipped;
    }

    let decoded = match decode(&identity, request, options) {
        Ok(decoded) => decoded,
        Err(error) => return Outcome::Failed(error),
    };
    // A diverted call's current target is the Request-URI (RFC 8946 section 4.2);
    // every other PASSporT names the To header's identity.
    let dest = if identity.ppt() == Some(PPT_DIV) {
        request.request_uri.as_deref().or(request.to.as_deref())
    } else {
        request.to.as_deref().or(request.request_uri.as_deref())
    };
    let identities = RequestIdentities {
        orig: request.orig.as_deref(),
        dest,
    };
    let checked = match decoded.check(&identity, identities, options) {
        Ok(checked) => checked,
        Err(error) => return Outcome::Failed(error),
    };

    let signer = match certificates.certificate_for(checked.x5u()) {
        Ok(signer) => signer,
        Err(error) => return Outcome::CertificateFailed(error),
    };
    if let Err(error) = check_tn_authority(&signer, &checked.claims_unverified().orig) {
        return Outcome::CertificateFailed(error);
    }
    match checked.verify_signature(&signer.key) {
        Ok(verified) => Outcome::Passed(Box::new(verified)),
        Err(error) => Outcome::Failed(error),
    }
}

/// Decodes the full form as received, or rebuilds the compact form from the
/// request (RFC 8224 section 4.1.1).
fn decode(
    identity: &IdentityHeader,
    request: &VerifyRequest,
    options: &Options,
) -> Result<Decoded, Error> {
    if matches!(identity.token, Token::Full(_)) {
        return Decoded::from_identity(identity);
    }
    // The shaken check comes first: such a header can never be rebuilt.
    Decoded::from_identity(identity).or_else(|error| match error {
        Error::CompactFormMissing { .. } => {
            let number = |value: Option<&String>, what| {
                value
                    .and_then(|v| tn::from_sip(v, &options.numbers).ok())
                    .ok_or(Error::CompactFormMissing { what })
            };
            let values = CompactValues {
                orig: number(request.orig.as_ref(), "calling number")?,
                dest: number(
                    request.to.as_ref().or(request.request_uri.as_ref()),
                    "called number",
                )?,
                iat: request.date.ok_or(Error::CompactFormMissing {
                    what: "Date header",
                })?,
            };
            Decoded::from_compact(identity, &values)
        }
        other => Err(other),
    })
}

/// Checks that the signer's certificate has a TNAuthList (ATIS-1000080 requires
/// one) that covers the calling number, or carries an SPC: a SHAKEN service
/// provider certificate names only its SPC and may sign for any of its numbers
/// (RFC 8226 section 9, RFC 9060 for number-based certificates).
fn check_tn_authority(signer: &SignerCertificate, orig: &Orig) -> Result<(), CertificateError> {
    let list = match &signer.tn_auth_list {
        None => {
            return Err(CertificateError::Unsupported(
                "the signer's certificate has no TNAuthList, which SHAKEN requires".to_owned(),
            ));
        }
        Some(Err(reason)) => {
            return Err(CertificateError::Unsupported(format!(
                "the signer's certificate has a malformed TNAuthList: {reason}"
            )));
        }
        Some(Ok(list)) => list,
    };
    let covered = match orig {
        Orig::Tn(number) => {
            let canonical = tn::canonicalize(number).unwrap_or_else(|_| number.clone());
            list.covers(&canonical) != Coverage::No
        }
        // A URI identity can only rest on an SPC.
        Orig::Uri(_) => list.spc().is_some(),
    };
    if covered {
        Ok(())
    } else {
        Err(CertificateError::Unsupported(
            "the signer's TNAuthList does not cover the calling number".to_owned(),
        ))
    }
}
