//! ES256 keys, parsed once and reused for every signature.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey,
};

use crate::error::Error;

/// The length of an ES256 signature: r and s, 32 bytes each (RFC 7518 section 3.4).
pub const ES256_SIGNATURE_LEN: usize = 64;

/// A P-256 private key ready to sign PASSporTs.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    random: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    /// Shows the public key only, so a private key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &crate::base64url::encode(self.public_key()))
            .finish()
    }
}

impl SigningKey {
    /// Parses a P-256 private key from PEM or DER.
    ///
    /// PEM may hold a PKCS#8 `PRIVATE KEY` or a SEC1 `EC PRIVATE KEY`, with or
    /// without the `EC PARAMETERS` block that `openssl ecparam -genkey` writes first.
    /// DER may be PKCS#8 or SEC1.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, Error> {
        if !looks_like_pem(bytes) {
            return Self::from_der(bytes);
        }
        let blocks = pem::parse_many(bytes).map_err(|error| Error::InvalidKey {
            reason: format!("PEM: {error}"),
        })?;
        let key = blocks
            .iter()
            .find(|block| matches!(block.tag(), "PRIVATE KEY" | "EC PRIVATE KEY"))
            .ok_or_else(|| Error::InvalidKey {
                reason: describe_missing("a PRIVATE KEY or EC PRIVATE KEY block", &blocks),
            })?;
        Self::from_der(key.contents())
    }

    /// Parses a DER private key, PKCS#8 or SEC1 (RFC 5915).
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|error| Error::InvalidKey {
                reason: describe_key_rejection(&error, "private"),
            })?;
        Ok(SigningKey {
            pair,
            random: SystemRandom::new(),
        })
    }

    /// Returns the uncompressed SEC1 public point.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// Returns the key that verifies this key's signatures.
    pub fn verifying_key(&self) -> Result<VerifyingKey, Error> {
        VerifyingKey::from_sec1(self.public_key())
    }

    /// Signs `message` and returns the 64-byte r||s signature.
    pub fn sign(&self, message: &[u8]) -> Result<[u8; ES256_SIGNATURE_LEN], Error> {
        let signature = self
            .pair
            .sign(&self.random, message)
            .map_err(|_| Error::Signing {
                reason: "ECDSA P-256 signing failed".to_owned(),
            })?;
        signature.as_ref().try_into().map_err(|_| Error::Signing {
            reason: format!(
                "ECDSA produced {} bytes instead of {ES256_SIGNATURE_LEN}",
                signature.as_ref().len()
            ),
        })
    }
}

/// A P-256 public key, parsed once, that verifies ES256 signatures.
#[derive(Debug)]
pub struct VerifyingKey {
    key: ParsedPublicKey,
}

impl VerifyingKey {
    /// Parses an uncompressed or compressed SEC1 point, or a DER
    /// SubjectPublicKeyInfo, on the P-256 curve.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, Error> {
        let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, bytes).map_err(|error| {
            Error::InvalidKey {
                reason: describe_key_rejection(&error, "public"),
            }
        })?;
        Ok(VerifyingKey { key })
    }

    /// Parses a `PUBLIC KEY` PEM block or DER SubjectPublicKeyInfo.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, Error> {
        if !looks_like_pem(bytes) {
            return Self::from_sec1(bytes);
        }
        let blocks = pem::parse_many(bytes).map_err(|error| Error::InvalidKey {
            reason: format!("PEM: {error}"),
        })?;
        let block = blocks
            .iter()
            .find(|block| block.tag() == "PUBLIC KEY")
            .ok_or_else(|| Error::InvalidKey {
                reason: describe_missing("a PUBLIC KEY block", &blocks),
            })?;
        Self::from_sec1(block.contents())
    }

    /// Verifies a 64-byte r||s signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        self.key
            .verify_sig(message, signature)
            .map_err(|_| Error::BadSignature)
    }
}

/// Describes a rejected key in words: a key on another curve, or bytes that are
/// no EC key at all.
fn describe_key_rejection(error: &aws_lc_rs::error::KeyRejected, kind: &str) -> String {
    match error.to_string().as_str() {
        "WrongAlgorithm" => format!("the {kind} key is not on the P-256 curve that ES256 needs"),
        _ => format!("not a P-256 EC {kind} key (PKCS#8 or SEC1 expected)"),
    }
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes
        .windows(b"-----BEGIN ".len())
        .any(|window| window == b"-----BEGIN ")
}

fn describe_missing(wanted: &str, blocks: &[pem::Pem]) -> String {
    let found: Vec<&str> = blocks.iter().map(pem::Pem::tag).collect();
    if found.is_empty() {
        format!("PEM has no blocks; expected {wanted}")
    } else {
        format!("PEM has {}; expected {wanted}", found.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A P-256 key written by `openssl ecparam -name prime256v1 -genkey`: an
    // EC PARAMETERS block followed by a SEC1 EC PRIVATE KEY.
    const SEC1_WITH_PARAMS: &str = "-----BEGIN EC PARAMETERS-----
BggqhkjOPQMBBw==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIN8lK/drrkeD0Gq5d95G/GBt+QWxRxieAKByYHjZCJnWoAoGCCqGSM49
AwEHoUQDQgAER1t49z7dRUQZZHLNKAzlTr7jGVdGeSPyFZXjfFuT7fdp4fYseioj
eYadxxjPVPqONS3Sq/qUF619bvZM4fXCBQ==
-----END EC PRIVATE KEY-----
";

    #[test]
    fn sec1_with_parameters_parses_and_signs() {
        let key = SigningKey::from_pem_or_der(SEC1_WITH_PARAMS.as_bytes()).unwrap();
        let signature = key.sign(b"message").unwrap();
        let verifying = key.verifying_key().unwrap();
        assert_eq!(verifying.verify(b"message", &signature), Ok(()));
        assert_eq!(
            verifying.verify(b"massage", &signature),
            Err(Error::BadSignature)
        );
    }

    #[test]
    fn missing_key_block_named() {
        let error = SigningKey::from_pem_or_der(
            b"-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap_err();
        assert_eq!(
            error,
            Error::InvalidKey {
                reason: "PEM has CERTIFICATE; expected a PRIVATE KEY or EC PRIVATE KEY block"
                    .into()
            }
        );
    }

    #[test]
    fn garbage_der_rejected() {
        assert!(matches!(
            SigningKey::from_pem_or_der(b"\x30\x03\x02\x01\x01"),
            Err(Error::InvalidKey { .. })
        ));
        assert!(matches!(
            VerifyingKey::from_sec1(b"\x04\x01"),
            Err(Error::InvalidKey { .. })
        ));
    }

    #[test]
    fn debug_hides_private_key() {
        let key = SigningKey::from_pem_or_der(SEC1_WITH_PARAMS.as_bytes()).unwrap();
        let shown = format!("{key:?}");
        assert!(
            shown.starts_with("SigningKey { public_key: \"BEdbePc-3UVE"),
            "{shown}"
        );
    }
}
