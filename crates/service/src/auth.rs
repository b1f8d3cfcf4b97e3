//! The authentication service (STI-AS): from a call's numbers and trunk, pick a
//! signing credential, decide the attestation, and sign a SHAKEN PASSporT.
//!
//! Nothing here parses a key or a certificate: the credential set was loaded
//! and checked once, and a reload swaps it whole, so a signature never mixes two
//! generations of configuration.

use std::sync::Arc;

use certstore::{CredentialStore, Selector};
use passport::tn::{self, NumberPolicy};
use passport::{Attestation, Claims, Dest, Orig, PPT_SHAKEN};

/// The call details the signer uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    /// The calling identity: a number, or a SIP or tel URI or name-addr.
    pub orig: String,
    /// The called identities, in the same forms.
    pub dest: Vec<String>,
    /// The trunk or customer id the call came from, if known.
    pub trunk: Option<String>,
    /// The attestation requested, which the credential's policy caps.
    pub attest: Option<Attestation>,
    /// The origination identifier; a fresh UUID when absent.
    pub origid: Option<String>,
    /// The `iat` claim, Unix seconds.
    pub iat: i64,
}

/// A signed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The Identity header value.
    pub identity: String,
    /// The credential that signed.
    pub credential: String,
    /// The selector that picked the credential.
    pub selected_by: String,
    /// The attestation signed.
    pub attestation: Attestation,
    /// The attestation requested, when the credential's policy lowered it.
    pub capped_from: Option<Attestation>,
    /// The origination identifier signed.
    pub origid: String,
}

/// Reason a call could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("calling number '{value}' is not a telephone number: {reason}")]
    InvalidOrig { value: String, reason: String },
    #[error("called number '{value}' is not a telephone number: {reason}")]
    InvalidDest { value: String, reason: String },
    #[error("the call names no called number")]
    NoDest,
    #[error(
        "no credential is selected for calling number {orig}{} and no default is configured",
        trunk.as_deref().map(|t| format!(" on trunk '{t}'")).unwrap_or_default()
    )]
    NoCredential { orig: String, trunk: Option<String> },
    #[error("signing failed: {0}")]
    Signing(String),
    #[error("the system random generator failed")]
    Random,
}

/// The signing service over a reloadable credential set.
#[derive(Debug, Clone)]
pub struct AuthService {
    credentials: Arc<CredentialStore>,
    numbers: NumberPolicy,
}

impl AuthService {
    /// Signs with the credentials of `credentials`, reading numbers under
    /// `numbers`.
    pub fn new(credentials: Arc<CredentialStore>, numbers: NumberPolicy) -> Self {
        AuthService {
            credentials,
            numbers,
        }
    }

    /// Returns the credential store, for reloads.
    pub fn credentials(&self) -> &Arc<CredentialStore> {
        &self.credentials
    }

    /// Picks the credential for `request`, decides the attestation and signs.
    pub fn sign(&self, request: &SignRequest) -> Result<Signed, SignError> {
        let orig =
            tn::from_sip(&request.orig, &self.numbers).map_err(|error| SignError::InvalidOrig {
                value: request.orig.clone(),
                reason: error.to_string(),
            })?;
        let dest = request
            .dest
            .iter()
            .map(|value| {
                tn::from_sip(value, &self.numbers).map_err(|error| SignError::InvalidDest {
                    value: value.clone(),
                    reason: error.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if dest.is_empty() {
            return Err(SignError::NoDest);
        }

        // The set in force when the call arrived signs it, even if a reload
        // swaps it meanwhile.
        let set = self.credentials.current();
        let selection =
            set.select(&orig, request.trunk.as_deref())
                .ok_or_else(|| SignError::NoCredential {
                    orig: orig.clone(),
                    trunk: request.trunk.clone(),
                })?;
        let credential = &selection.credential;
        let attestation = credential.attestation_for(request.attest);
        let capped_from = request.attest.filter(|&asked| asked != attestation);
        let origid = match &request.origid {
            Some(origid) if !origid.is_empty() => origid.clone(),
            _ => random_uuid().ok_or(SignError::Random)?,
        };
        let claims = Claims::shaken(
            attestation,
            Orig::Tn(orig),
            Dest {
                tn: dest,
                uri: Vec::new(),
            },
            request.iat,
            origid.clone(),
        );
        let identity =
            passport::sign_identity(&credential.key, &credential.x5u, Some(PPT_SHAKEN), &claims)
                .map_err(|error| SignError::Signing(error.to_string()))?;
        Ok(Signed {
            identity: identity.to_string(),
            credential: credential.name.clone(),
            selected_by: describe_selector(&selection.reason),
            attestation,
            capped_from,
            origid,
        })
    }
}

fn describe_selector(selector: &Selector) -> String {
    selector.to_string()
}

/// Returns a random UUID version 4 (RFC 9562 section 5.4), or `None` when the
/// system random generator fails.
pub fn random_uuid() -> Option<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        hex.get(0..8)?,
        hex.get(8..12)?,
        hex.get(12..16)?,
        hex.get(16..20)?,
        hex.get(20..32)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_version_4() {
        let first = random_uuid().unwrap();
        let second = random_uuid().unwrap();
        assert_eq!(first.len(), 36);
        assert_eq!(first.as_bytes()[14], b'4');
        assert!(matches!(first.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert_ne!(first, second);
    }
}
