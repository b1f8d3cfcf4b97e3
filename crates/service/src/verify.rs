//! The verification procedure over all Identity headers of one request.
//!
//! Each Identity header runs through the checks in the order of
//! [`passport::Check`]; the certificate step calls a [`CertificateSource`]. The
//! request's verdict is the best one among its headers: one valid PASSporT is
//! enough, and otherwise the failure that got furthest through the checks is
//! reported, since it tells the most about what went wrong.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cert::tnauthlist::Coverage;
use certstore::{TrustedCert, X5uCache};
use passport::{
    Attestation, Check, CompactValues, Decoded, Error, IdentityHeader, Options, Orig, PPT_DIV,
    RequestIdentities, Token, Warning, tn,
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
    /// The PASSporT breaks the JWT claim constraints of the signer's
    /// certificate, which RFC 8226 section 8 makes it invalid for: 438.
    ClaimConstraints(String),
}

/// The future a [`CertificateSource`] returns.
pub type CertificateFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<TrustedCert>, CertificateError>> + Send + 'a>>;

/// Source of the signer's certificate for an `x5u` URL.
pub trait CertificateSource: Send + Sync {
    /// Returns the chain at `x5u`, its path validated for a call at Unix time
    /// `at`, its signer key parsed.
    fn certificate_for<'a>(&'a self, x5u: &'a str, at: i64) -> CertificateFuture<'a>;
}

impl CertificateSource for X5uCache {
    fn certificate_for<'a>(&'a self, x5u: &'a str, at: i64) -> CertificateFuture<'a> {
        Box::pin(async move {
            self.get(x5u, at).await.map_err(|error| {
                if error.is_untrusted() {
                    CertificateError::Unsupported(error.to_string())
                } else {
                    CertificateError::Unavailable(error.to_string())
                }
            })
        })
    }
}

/// The agnostic source: certificates exchanged out of band, from an x5u map,
/// validated like fetched ones; URLs the map does not hold go to the
/// self-managing cache when one is given.
pub struct MappedSource {
    map: certstore::X5uMap,
    trust: Arc<certstore::SharedTrust>,
    fallback: Option<X5uCache>,
    /// Validated chains by URL, reused while the trust generation holds.
    validated: std::sync::Mutex<std::collections::HashMap<String, Arc<TrustedCert>>>,
}

impl MappedSource {
    /// Serves `map` validated under `trust`, with `fallback` for other URLs.
    pub fn new(
        map: certstore::X5uMap,
        trust: Arc<certstore::SharedTrust>,
        fallback: Option<X5uCache>,
    ) -> Self {
        MappedSource {
            map,
            trust,
            fallback,
            validated: std::sync::Mutex::default(),
        }
    }

    fn mapped(&self, x5u: &str, at: i64) -> Option<Result<Arc<TrustedCert>, CertificateError>> {
        let chain = self.map.chain(x5u)?;
        let trust = self.trust.current();
        let mut validated = match self.validated.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(cert) = validated.get(x5u)
            && cert.generation == trust.generation()
        {
            return Some(
                cert.check_at(at)
                    .map(|()| Arc::clone(cert))
                    .map_err(|error| CertificateError::Unsupported(error.to_string())),
            );
        }
        let result = TrustedCert::from_chain(x5u, chain.as_ref().clone(), Some(&trust), at)
            .map(Arc::new)
            .map_err(|error| CertificateError::Unsupported(error.to_string()));
        if let Ok(cert) = &result {
            validated.insert(x5u.to_owned(), Arc::clone(cert));
        }
        Some(result)
    }
}

impl CertificateSource for MappedSource {
    fn certificate_for<'a>(&'a self, x5u: &'a str, at: i64) -> CertificateFuture<'a> {
        Box::pin(async move {
            if let Some(result) = self.mapped(x5u, at) {
                return result;
            }
            match &self.fallback {
                Some(cache) => cache.certificate_for(x5u, at).await,
                None => Err(CertificateError::Unavailable(format!(
                    "x5u {x5u} is not in the x5u map"
                ))),
            }
        })
    }
}

/// Parts of a SIP or HTTP request that verification uses.
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

/// Counts the verdict of one call in the `metrics` facade, which records
/// nothing until a recorder is installed. A failed verdict increments
/// `stird_verify_failed_checks_total` for the check that failed, and each
/// deviation the lenient profile accepted increments `stird_verify_lenient_total`.
///
/// A caller that runs several verifications for one call, such as one per
/// called number, records only the verdict it reports.
pub fn record_verdict(verdict: &Verdict) {
    if let Some(failure) = &verdict.failure {
        metrics::counter!("stird_verify_failed_checks_total", "check" => failure.check.name())
            .increment(1);
    }
    for warning in &verdict.warnings {
        metrics::counter!("stird_verify_lenient_total", "deviation" => warning.name()).increment(1);
    }
}

/// Verifies every Identity header of `request` and returns the best verdict.
/// Only the certificate step waits, and only on a certificate cache miss.
pub async fn verify_request(
    request: &VerifyRequest,
    certificates: &dyn CertificateSource,
    policy: &VerifyPolicy,
) -> Verdict {
    let mut furthest: Option<Failure> = None;
    // Beyond this many, Identity headers are ignored: each may point at
    // another repository, and one request must not start unbounded fetches.
    for value in request
        .identities
        .iter()
        .take(passport::MAX_IDENTITY_HEADERS)
    {
        let failure = match verify_one(value, request, certificates, &policy.options).await {
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
            Outcome::CertificateFailed(CertificateError::ClaimConstraints(reason)) => Failure {
                check: Check::Certificate,
                reason,
                response: SipResponse::INVALID_IDENTITY_HEADER,
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
async fn verify_one(
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
    // The lenient profile accepts a header without the ppt parameter, so the
    // signed header's ppt decides too: a div or unknown PASSporT is skipped
    // whether or not its Identity header names it.
    let signed_ppt = decoded.header.ppt().ok().flatten();
    if !SUPPORTED_PPT.contains(&signed_ppt) && identity.ppt().is_none() {
        return Outcome::Skipped;
    }
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

    let signer = match certificates
        .certificate_for(checked.x5u(), options.now)
        .await
    {
        Ok(signer) => signer,
        Err(error) => return Outcome::CertificateFailed(error),
    };
    if let Err(error) =
        check_tn_authority(&signer, &checked.claims_unverified().orig, &options.numbers)
    {
        return Outcome::CertificateFailed(error);
    }
    if let Err(error) = check_claim_constraints(&signer, checked.payload_unverified()) {
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
fn check_tn_authority(
    signer: &TrustedCert,
    orig: &Orig,
    numbers: &tn::NumberPolicy,
) -> Result<(), CertificateError> {
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
    // ATIS-1000080 gives a SHAKEN certificate a single SPC: a second one makes the
    // signer's identity ambiguous.
    let spcs = list.spcs().count();
    if list.spcs().any(str::is_empty) {
        return Err(CertificateError::Unsupported(
            "the signer's TNAuthList carries an empty SPC".to_owned(),
        ));
    }
    if spcs > 1 {
        return Err(CertificateError::Unsupported(format!(
            "the signer's TNAuthList carries {spcs} SPCs; a SHAKEN certificate carries one"
        )));
    }
    let covered = match orig {
        Orig::Tn(number) => {
            // The same numbering-plan rule as the number comparison, so a national
            // orig that matched the request is looked up in international form.
            let canonical = tn::apply_policy(number, numbers).unwrap_or_else(|_| number.clone());
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

/// Checks the PASSporT against the JWT claim constraints of the signer's
/// certificate: each `mustInclude` claim present, each constrained claim with a
/// permitted value, each `mustExclude` claim absent (RFC 8226 section 8, RFC 9118
/// section 3). A malformed constraints extension fails, since its rules are unknown.
fn check_claim_constraints(
    signer: &TrustedCert,
    payload: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), CertificateError> {
    let constraints = match &signer.jwt_claim_constraints {
        None => return Ok(()),
        Some(Err(reason)) => {
            return Err(CertificateError::Unsupported(format!(
                "the signer's certificate has malformed JWT claim constraints: {reason}"
            )));
        }
        Some(Ok(constraints)) => constraints,
    };
    let broken = |rule: String| Err(CertificateError::ClaimConstraints(rule));

    for claim in &constraints.must_include {
        if !payload.contains_key(claim) {
            return broken(format!(
                "the signer's certificate requires the claim '{claim}', which is missing"
            ));
        }
    }
    for (claim, permitted) in &constraints.permitted_values {
        if let Some(value) = payload.get(claim)
            && !value
                .as_str()
                .is_some_and(|text| permitted.iter().any(|p| p == text))
        {
            return broken(format!(
                "claim '{claim}' is {value}; the signer's certificate permits only {permitted:?}"
            ));
        }
    }
    for claim in &constraints.must_exclude {
        if payload.contains_key(claim) {
            return broken(format!(
                "the signer's certificate forbids the claim '{claim}'"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cert::tnauthlist::JwtClaimConstraints;
    use serde_json::json;

    fn signer(tn_auth_list: &[u8], constraints: Option<JwtClaimConstraints>) -> TrustedCert {
        let key = passport::SigningKey::from_pem_or_der(include_bytes!(
            "../../passport/tests/data/signer.key.pem"
        ))
        .unwrap()
        .verifying_key()
        .unwrap();
        TrustedCert {
            source: "test".to_owned(),
            chain: Vec::new(),
            path: None,
            key,
            tn_auth_list: Some(cert::tnauthlist::decode(tn_auth_list).map_err(|e| e.to_string())),
            jwt_claim_constraints: constraints.map(Ok),
            valid_from: 0,
            valid_until: i64::MAX,
            generation: 0,
        }
    }

    /// TNAuthList with the one SPC "999X".
    const ONE_SPC: &[u8] = &[0x30, 0x08, 0xA0, 0x06, 0x16, 0x04, b'9', b'9', b'9', b'X'];

    fn payload(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn two_spcs_rejected() {
        let two = [
            0x30, 0x10, 0xA0, 0x06, 0x16, 0x04, b'9', b'9', b'9', b'X', 0xA0, 0x06, 0x16, 0x04,
            b'8', b'8', b'8', b'Y',
        ];
        let error = check_tn_authority(
            &signer(&two, None),
            &Orig::Tn("12025550100".into()),
            &Default::default(),
        )
        .unwrap_err();
        assert!(
            matches!(&error, CertificateError::Unsupported(reason) if reason.contains("2 SPCs")),
            "{error:?}"
        );
        assert_eq!(
            check_tn_authority(
                &signer(ONE_SPC, None),
                &Orig::Tn("12025550100".into()),
                &Default::default()
            ),
            Ok(())
        );
    }

    #[test]
    fn claim_constraints_enforced() {
        // The constraints of the RFC 9118 example certificate.
        let constraints = JwtClaimConstraints {
            must_include: vec!["confidence".into()],
            permitted_values: vec![("confidence".into(), vec!["high".into(), "medium".into()])],
            must_exclude: vec!["priority".into()],
        };
        let signer = signer(ONE_SPC, Some(constraints));

        assert_eq!(
            check_claim_constraints(&signer, &payload(json!({"confidence": "high"}))),
            Ok(())
        );
        let cases = [
            (json!({}), "requires the claim 'confidence'"),
            (json!({"confidence": "low"}), "permits only"),
            (json!({"confidence": 5}), "permits only"),
            (
                json!({"confidence": "medium", "priority": "1"}),
                "forbids the claim 'priority'",
            ),
        ];
        for (claims, message) in cases {
            let error = check_claim_constraints(&signer, &payload(claims.clone())).unwrap_err();
            assert!(
                matches!(&error, CertificateError::ClaimConstraints(reason) if reason.contains(message)),
                "{claims}: {error:?}"
            );
        }
    }

    #[test]
    fn no_constraints_accept_anything() {
        assert_eq!(
            check_claim_constraints(&signer(ONE_SPC, None), &payload(json!({"x": 1}))),
            Ok(())
        );
    }
}
