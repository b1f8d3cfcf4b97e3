//! Compact JWS with ES256 (RFC 7515 section 7.1, RFC 7518 section 3.4): decoding as
//! received and signing in the deterministic form of RFC 8225 section 9.

use serde_json::{Map, Value};

use crate::claims::{Claims, Dest, Header, HeaderOut, Orig};
use crate::error::{Error, Segment};
use crate::identity::{IdentityHeader, Token};
use crate::key::{ES256_SIGNATURE_LEN, SigningKey};
use crate::{PPT_SHAKEN, base64url, json, tn};

/// A PASSporT decoded from an Identity header, not yet checked or verified.
///
/// The signing input is kept exactly as received, so the signature is checked over
/// the signer's bytes and never over a re-serialization.
#[derive(Debug, Clone)]
pub struct Decoded {
    signing_input: String,
    signature: [u8; ES256_SIGNATURE_LEN],
    /// The protected header.
    pub header: Header,
    /// The claims as decoded JSON, every member kept.
    pub payload: Map<String, Value>,
    /// Whether the header and payload were rebuilt from the request (compact form).
    pub rebuilt: bool,
}

/// The values of a SIP request that rebuild a compact-form PASSporT (RFC 8224
/// section 4.1.1): canonical calling and called numbers and the Date as `iat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactValues {
    /// The canonical calling number.
    pub orig: String,
    /// The canonical called number.
    pub dest: String,
    /// The request's Date header, in seconds since the Unix epoch.
    pub iat: i64,
}

impl Decoded {
    /// Decodes the full-form PASSporT of an Identity header.
    ///
    /// A compact-form header fails here. With `ppt=shaken` it can never be valid,
    /// because `attest` and `origid` cannot be rebuilt (RFC 8588 section 3).
    /// Otherwise the caller rebuilds it with [`Decoded::from_compact`].
    pub fn from_identity(identity: &IdentityHeader) -> Result<Decoded, Error> {
        match &identity.token {
            Token::Full(token) => Decoded::from_token(token),
            Token::Compact { .. } if identity.ppt() == Some(PPT_SHAKEN) => {
                Err(Error::CompactFormShaken)
            }
            Token::Compact { .. } => Err(Error::CompactFormMissing {
                what: "calling number, called number and Date",
            }),
        }
    }

    /// Decodes `header.payload.signature`.
    pub fn from_token(token: &str) -> Result<Decoded, Error> {
        let mut segments = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(Error::SegmentCount {
                found: token.split('.').count(),
            });
        };

        let header_map = decode_json(Segment::Header, header)?;
        let payload_map = decode_json(Segment::Payload, payload)?;
        let signature = decode_signature(signature)?;
        let signing_input = token
            .get(..header.len() + 1 + payload.len())
            .unwrap_or_default()
            .to_owned();

        Ok(Decoded {
            signing_input,
            signature,
            header: Header::from_map(header_map),
            payload: payload_map,
            rebuilt: false,
        })
    }

    /// Rebuilds a compact-form PASSporT (`..signature`) from the Identity header
    /// parameters and the request's values, serialized as RFC 8225 section 9 specifies.
    pub fn from_compact(
        identity: &IdentityHeader,
        values: &CompactValues,
    ) -> Result<Decoded, Error> {
        let Token::Compact { signature } = &identity.token else {
            return Err(Error::HeaderSyntax {
                detail: "a full-form PASSporT cannot be rebuilt",
                offset: 0,
            });
        };
        if identity.ppt() == Some(PPT_SHAKEN) {
            return Err(Error::CompactFormShaken);
        }

        let header = HeaderOut {
            alg: identity.alg.as_ref().map_or("ES256", |a| a.value.as_str()),
            ppt: identity.ppt(),
            typ: "passport",
            x5u: &identity.info,
        };
        let dest = Dest {
            tn: vec![values.dest.clone()],
            uri: Vec::new(),
        };
        let claims = Claims::new(Orig::Tn(values.orig.clone()), dest, values.iat);
        let signing_input = signing_input(&header, &claims)?;
        let mut decoded = Decoded::from_token(&format!("{signing_input}.{signature}"))?;
        decoded.rebuilt = true;
        Ok(decoded)
    }

    /// Returns the JWS signing input: the header and payload segments and the dot
    /// between them, as received.
    pub fn signing_input(&self) -> &str {
        &self.signing_input
    }

    /// Returns the 64-byte r||s signature.
    pub fn signature(&self) -> &[u8; ES256_SIGNATURE_LEN] {
        &self.signature
    }
}

fn decode_json(segment: Segment, text: &str) -> Result<Map<String, Value>, Error> {
    if text.is_empty() {
        return Err(Error::EmptySegment { segment });
    }
    let bytes = base64url::decode(text).map_err(|reason| Error::Base64 { segment, reason })?;
    json::parse_object(segment, &bytes)
}

/// Decodes the signature and requires the 64-byte form of RFC 7518 section 3.4,
/// naming a DER signature or a short r or s instead of failing later in ECDSA.
pub(crate) fn decode_signature(text: &str) -> Result<[u8; ES256_SIGNATURE_LEN], Error> {
    if text.is_empty() {
        return Err(Error::EmptySegment {
            segment: Segment::Signature,
        });
    }
    let bytes = base64url::decode(text).map_err(|reason| Error::Base64 {
        segment: Segment::Signature,
        reason,
    })?;
    if let Ok(signature) = <[u8; ES256_SIGNATURE_LEN]>::try_from(bytes.as_slice()) {
        return Ok(signature);
    }
    if is_der_ecdsa_signature(&bytes) {
        Err(Error::DerSignature {
            length: bytes.len(),
        })
    } else {
        Err(Error::SignatureLength {
            length: bytes.len(),
        })
    }
}

/// Reports whether `bytes` is `SEQUENCE { INTEGER r, INTEGER s }` in DER.
fn is_der_ecdsa_signature(bytes: &[u8]) -> bool {
    let [0x30, length, rest @ ..] = bytes else {
        return false;
    };
    if usize::from(*length) != rest.len() {
        return false;
    }
    let Some(after_r) = skip_der_integer(rest) else {
        return false;
    };
    skip_der_integer(after_r).is_some_and(<[u8]>::is_empty)
}

fn skip_der_integer(bytes: &[u8]) -> Option<&[u8]> {
    let [0x02, length, rest @ ..] = bytes else {
        return None;
    };
    rest.get(usize::from(*length)..)
}

/// Signs a PASSporT and returns the compact JWS `header.payload.signature`.
///
/// The header carries `alg` ES256, `typ` passport, the given `ppt` and `x5u`. The
/// claims must be signable: `tn` values canonical, no unknown claims, and for
/// `ppt` shaken an `attest` and a non-empty `origid`.
pub fn sign(
    key: &SigningKey,
    x5u: &str,
    ppt: Option<&str>,
    claims: &Claims,
) -> Result<String, Error> {
    check_signable(ppt, claims)?;
    let header = HeaderOut {
        alg: "ES256",
        ppt,
        typ: "passport",
        x5u,
    };
    let mut jws = signing_input(&header, claims)?;
    let signature = key.sign(jws.as_bytes())?;
    jws.push('.');
    base64url::encode_into(&signature, &mut jws);
    Ok(jws)
}

/// Signs a PASSporT and wraps it in the Identity header value our signer emits:
/// `<jws>;info=<x5u>;alg=ES256;ppt=<ppt>`.
pub fn sign_identity(
    key: &SigningKey,
    x5u: &str,
    ppt: Option<&str>,
    claims: &Claims,
) -> Result<IdentityHeader, Error> {
    let jws = sign(key, x5u, ppt, claims)?;
    Ok(IdentityHeader::new(jws, x5u.to_owned(), ppt))
}

/// Returns the protected header our signer writes, in the deterministic JSON of
/// RFC 8225 section 9: `alg` ES256, the given `ppt`, `typ` passport and `x5u`.
pub fn protected_header_json(ppt: Option<&str>, x5u: &str) -> Result<Vec<u8>, Error> {
    header_json(&HeaderOut {
        alg: "ES256",
        ppt,
        typ: "passport",
        x5u,
    })
}

fn header_json(header: &HeaderOut<'_>) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(header).map_err(|error| Error::Signing {
        reason: error.to_string(),
    })
}

fn signing_input(header: &HeaderOut<'_>, claims: &Claims) -> Result<String, Error> {
    let header_json = header_json(header)?;
    let claims_json = claims.to_json()?;
    let mut text = String::with_capacity((header_json.len() + claims_json.len()) * 4 / 3 + 96);
    base64url::encode_into(&header_json, &mut text);
    text.push('.');
    base64url::encode_into(&claims_json, &mut text);
    Ok(text)
}

fn check_signable(ppt: Option<&str>, claims: &Claims) -> Result<(), Error> {
    if let Some((name, _)) = claims.other.iter().next() {
        return Err(Error::Signing {
            reason: format!("claim '{name}' is not one this signer can place in canonical order"),
        });
    }
    for (claim, value) in claims.telephone_numbers() {
        if !tn::is_canonical(value) {
            return Err(Error::NonCanonicalTn {
                claim,
                value: value.to_owned(),
            });
        }
    }
    if ppt == Some(PPT_SHAKEN) {
        if claims.attest.is_none() {
            return Err(Error::MissingMember {
                segment: Segment::Payload,
                name: "attest",
            });
        }
        match claims.origid.as_deref() {
            None => {
                return Err(Error::MissingMember {
                    segment: Segment::Payload,
                    name: "origid",
                });
            }
            Some(origid) => crate::claims::check_origid(origid)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_counts_rejected() {
        assert_eq!(
            Decoded::from_token("a.b").unwrap_err(),
            Error::SegmentCount { found: 2 }
        );
        assert_eq!(
            Decoded::from_token("a.b.c.d").unwrap_err(),
            Error::SegmentCount { found: 4 }
        );
    }

    #[test]
    fn der_signature_named() {
        // SEQUENCE { INTEGER 33 bytes, INTEGER 32 bytes }: 71 bytes in all.
        let mut der = vec![0x30, 69, 0x02, 33, 0x00];
        der.extend([0x81; 32]);
        der.extend([0x02, 32]);
        der.extend([0x11; 32]);
        assert_eq!(
            decode_signature(&base64url::encode(&der)),
            Err(Error::DerSignature { length: 71 })
        );
    }

    #[test]
    fn short_signature_named() {
        assert_eq!(
            decode_signature(&base64url::encode(&[7u8; 63])),
            Err(Error::SignatureLength { length: 63 })
        );
        assert_eq!(
            decode_signature(&base64url::encode(&[7u8; 65])),
            Err(Error::SignatureLength { length: 65 })
        );
    }
}
