//! SHAKEN PASSporTs and the SIP Identity header, without I/O.
//!
//! This crate builds, signs, parses and checks the PASSporTs of RFC 8225, RFC 8588
//! (SHAKEN) and RFC 8946 (diversion), carried in the Identity header of RFC 8224.
//! It does no I/O and keeps no state: the caller supplies the time, the request's
//! numbers and the signer's key.
//!
//! Verification runs in the order of [`Check`]: the header parses
//! ([`IdentityHeader::parse`], [`Decoded::from_identity`]), then the I/O-free checks
//! ([`Decoded::check`]), then, once the caller has the certificate at `x5u`, the
//! signature ([`Checked::verify_signature`]).
//!
//! ```
//! use passport::{Attestation, Claims, Dest, Orig, SigningKey};
//! # let pem = include_bytes!("../tests/data/signer.key.pem");
//! let key = SigningKey::from_pem_or_der(pem)?;
//! let claims = Claims::shaken(
//!     Attestation::A,
//!     Orig::Tn("12025550100".into()),
//!     Dest { tn: vec!["12025550101".into()], uri: vec![] },
//!     1_796_396_400,
//!     "8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f".into(),
//! );
//! let identity = passport::sign_identity(&key, "https://cr.example.com/sp.pem", Some("shaken"), &claims)?;
//!
//! let parsed = passport::IdentityHeader::parse(&identity.to_string())?;
//! let request = passport::RequestIdentities {
//!     orig: Some("<sip:+12025550100@example.com;user=phone>"),
//!     dest: Some("<tel:+1-202-555-0101>"),
//! };
//! let verified = passport::Decoded::from_identity(&parsed)?
//!     .check(&parsed, request, &passport::Options::at(1_796_396_410))?
//!     .verify_signature(&key.verifying_key()?)?;
//! assert_eq!(verified.attestation(), Some(Attestation::A));
//! # Ok::<(), passport::Error>(())
//! ```
//!
//! Every input is bounded: see [`MAX_IDENTITY_LEN`], [`MAX_IDENTITY_PARAMS`],
//! [`MAX_JSON_DEPTH`] and [`MAX_MEMBERS`]. No input makes the crate panic.

pub mod base64url;
mod claims;
mod error;
mod identity;
pub mod inspect;
mod json;
mod jws;
mod key;
pub mod tn;
mod verify;

pub use claims::{
    Attestation, Claims, Dest, Div, Header, MAX_ORIGID_LEN, Orig, PPT_DIV, PPT_SHAKEN, Rph,
    check_origid,
};
pub use error::{Base64Error, Check, Error, Segment};
pub use identity::{IdentityHeader, ParamValue, Token, find_identity_values};
pub use jws::{CompactValues, Decoded, protected_header_json, sign, sign_identity};
pub use key::{ES256_SIGNATURE_LEN, SigningKey, VerifyingKey};
pub use verify::{
    Checked, DEFAULT_FRESHNESS, Options, Profile, RequestIdentities, Verified, Warning, check_alg,
    check_dest, check_iat_fresh, check_orig, check_ppt, check_ppt_claims, check_tn_canonical,
    check_typ, check_x5u_matches_info,
};

/// Maximum length of an Identity header value, in bytes. A SHAKEN Identity header
/// is 500 to 800 bytes, and Rich Call Data with an inline jCard can reach a few
/// kilobytes. The limit leaves room for that and bounds the memory of one parse.
pub const MAX_IDENTITY_LEN: usize = 16 * 1024;

/// Maximum number of Identity headers taken from one request. A call carries a
/// SHAKEN PASSporT and a few extension PASSporTs (div, rcd), far fewer than this.
pub const MAX_IDENTITY_HEADERS: usize = 16;

/// Maximum number of parameters after the PASSporT in one Identity header.
pub const MAX_IDENTITY_PARAMS: usize = 16;

/// Maximum nesting of JSON arrays and objects in a header or payload. A jCard
/// inside `rcd` needs about six levels.
pub const MAX_JSON_DEPTH: usize = 16;

/// Maximum number of members in the protected header or in the claims object.
pub const MAX_MEMBERS: usize = 64;
