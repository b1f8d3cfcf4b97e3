//! Strict base64url without padding, as JWS uses it (RFC 7515 section 2).
//!
//! Decoding names the first character that breaks the rule, so an operator can tell a
//! signer that used standard base64 from one that added padding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::Base64Error;

/// Encodes bytes as base64url without padding.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends the base64url form of `bytes` to `out`.
pub fn encode_into(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// Decodes base64url without padding, rejecting the standard alphabet, padding and
/// non-canonical trailing bits.
pub fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    check_alphabet(text.as_bytes())?;
    URL_SAFE_NO_PAD.decode(text).map_err(|error| match error {
        base64::DecodeError::InvalidByte(offset, byte) => {
            Base64Error::InvalidCharacter { byte, offset }
        }
        base64::DecodeError::InvalidLastSymbol(_, _) => Base64Error::TrailingBits,
        base64::DecodeError::InvalidLength(_) | base64::DecodeError::InvalidPadding => {
            Base64Error::InvalidLength { length: text.len() }
        }
    })
}

/// Finds the first byte outside the base64url alphabet and classifies it.
pub(crate) fn check_alphabet(bytes: &[u8]) -> Result<(), Base64Error> {
    for (offset, &byte) in bytes.iter().enumerate() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => {}
            b'+' | b'/' => {
                return Err(Base64Error::StandardAlphabet {
                    character: char::from(byte),
                    offset,
                });
            }
            b'=' => return Err(Base64Error::Padding { offset }),
            _ => return Err(Base64Error::InvalidCharacter { byte, offset }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_lengths() {
        for length in 0..70u8 {
            let bytes: Vec<u8> = (0..length).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(decode(&encode(&bytes)), Ok(bytes));
        }
    }

    #[test]
    fn standard_alphabet_rejected() {
        assert_eq!(
            decode("ab+c"),
            Err(Base64Error::StandardAlphabet {
                character: '+',
                offset: 2
            })
        );
        assert_eq!(
            decode("a/bc"),
            Err(Base64Error::StandardAlphabet {
                character: '/',
                offset: 1
            })
        );
    }

    #[test]
    fn padding_rejected() {
        assert_eq!(decode("YQ=="), Err(Base64Error::Padding { offset: 2 }));
    }

    #[test]
    fn trailing_bits_rejected() {
        // "YR" decodes to 'a' only if the low four bits of 'R' are ignored.
        assert_eq!(decode("YR"), Err(Base64Error::TrailingBits));
    }

    #[test]
    fn impossible_length_rejected() {
        assert_eq!(decode("Y"), Err(Base64Error::InvalidLength { length: 1 }));
    }

    #[test]
    fn control_byte_rejected() {
        assert_eq!(
            decode("YW\0J"),
            Err(Base64Error::InvalidCharacter { byte: 0, offset: 2 })
        );
    }
}
