//! The one error type of the crate.
//!
//! Each variant names what failed and carries the offending value, so a log line or
//! a command-line message can name the rule the input broke. [`Error::check`] tells
//! which step of the verification order a failure belongs to.

use std::fmt;

/// The steps of verification, in the order they run.
///
/// When a PASSporT has several faults, the first failing step determines the
/// response.
/// The order puts the cheap checks before anything that fetches a certificate, so a
/// stale or mismatched PASSporT never makes a verifier dereference an attacker's URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// The request carries an Identity header (RFC 8224 section 6.2, step 1).
    IdentityPresent,
    /// The Identity header and the JWS inside it parse.
    HeaderParse,
    /// `alg`, `typ` and `ppt` are supported and consistent.
    Algorithm,
    /// The claims are present, typed as RFC 8225 and RFC 8588 require.
    Claims,
    /// The `info` parameter equals the `x5u` header member.
    InfoX5u,
    /// `iat` lies within the freshness window.
    Freshness,
    /// `orig` and `dest` match the calling and called numbers of the request.
    Numbers,
    /// The signer's certificate can be fetched, validated and covers the number.
    Certificate,
    /// The ES256 signature verifies.
    Signature,
}

impl Check {
    /// Every step, in the order they run.
    pub const ALL: [Check; 9] = [
        Check::IdentityPresent,
        Check::HeaderParse,
        Check::Algorithm,
        Check::Claims,
        Check::InfoX5u,
        Check::Freshness,
        Check::Numbers,
        Check::Certificate,
        Check::Signature,
    ];

    /// Returns a short lowercase name, stable for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Check::IdentityPresent => "identity-present",
            Check::HeaderParse => "header-parse",
            Check::Algorithm => "algorithm",
            Check::Claims => "claims",
            Check::InfoX5u => "info-x5u",
            Check::Freshness => "freshness",
            Check::Numbers => "numbers",
            Check::Certificate => "certificate",
            Check::Signature => "signature",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The segment of a compact JWS that an error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// The first segment: the protected header.
    Header,
    /// The second segment: the claims.
    Payload,
    /// The third segment: the signature.
    Signature,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Segment::Header => "header",
            Segment::Payload => "payload",
            Segment::Signature => "signature",
        })
    }
}

/// Reason a base64url segment failed to decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    /// `+` or `/` from the standard alphabet of RFC 4648 section 4.
    #[error(
        "character '{character}' at offset {offset} belongs to standard base64; JWS uses base64url ('-' and '_', RFC 7515 section 2)"
    )]
    StandardAlphabet { character: char, offset: usize },
    /// `=` padding, which JWS forbids.
    #[error("padding '=' at offset {offset}; JWS base64url has no padding (RFC 7515 section 2)")]
    Padding { offset: usize },
    /// A byte outside the base64url alphabet.
    #[error("byte 0x{byte:02x} at offset {offset} is not a base64url character")]
    InvalidCharacter { byte: u8, offset: usize },
    /// A length of 4n+1 characters, which no byte string encodes to.
    #[error("length {length} is not a valid base64url length")]
    InvalidLength { length: usize },
    /// Non-zero unused bits in the last character, so the encoding is not canonical.
    #[error("the last character carries non-zero unused bits")]
    TrailingBits,
}

/// Everything that can go wrong while parsing, checking, signing or verifying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    // Identity header syntax, RFC 8224 section 4.
    #[error("Identity header is {length} bytes; the limit is {max}")]
    IdentityTooLong { length: usize, max: usize },
    #[error("Identity header has no PASSporT before the first ';'")]
    EmptyToken,
    #[error(
        "Identity header token has character '{character}' at offset {offset}; only base64url characters and '.' are allowed"
    )]
    TokenCharacter { character: char, offset: usize },
    #[error("Identity header token: {0}")]
    TokenBase64(Base64Error),
    #[error(
        "Identity header has byte 0x{byte:02x} at offset {offset}, which a SIP header value cannot contain"
    )]
    ControlCharacter { byte: u8, offset: usize },
    #[error("Identity header: {detail} at offset {offset}")]
    HeaderSyntax { detail: &'static str, offset: usize },
    #[error("Identity header has no info parameter; RFC 8224 section 4 requires ';info=<URI>'")]
    MissingInfo,
    #[error("Identity header info parameter '{value}' is not an absolute URI in angle brackets")]
    InvalidInfo { value: String },
    #[error("Identity header has the parameter '{name}' more than once")]
    DuplicateParameter { name: String },
    #[error("Identity header parameter '{name}' has the invalid value '{value}'")]
    InvalidParameter { name: String, value: String },
    #[error("Identity header has {count} parameters; the limit is {max}")]
    TooManyParameters { count: usize, max: usize },

    // Compact JWS, RFC 7515 section 7.1.
    #[error("PASSporT has {found} '.'-separated segments; a compact JWS has exactly 3")]
    SegmentCount { found: usize },
    #[error("PASSporT {segment} segment is empty")]
    EmptySegment { segment: Segment },
    #[error("PASSporT {segment} segment: {reason}")]
    Base64 {
        segment: Segment,
        reason: Base64Error,
    },
    #[error("PASSporT {segment} segment is not a JSON object: {reason}")]
    Json { segment: Segment, reason: String },
    #[error("PASSporT {segment} JSON nests {depth} levels deep; the limit is {max}")]
    JsonTooDeep {
        segment: Segment,
        depth: usize,
        max: usize,
    },
    #[error("PASSporT {segment} has {count} members; the limit is {max}")]
    TooManyMembers {
        segment: Segment,
        count: usize,
        max: usize,
    },
    #[error(
        "signature is a {length}-byte DER SEQUENCE; ES256 needs the 64-byte r||s form of RFC 7518 section 3.4"
    )]
    DerSignature { length: usize },
    #[error(
        "signature is {length} bytes; ES256 needs exactly 64 (r and s as 32 bytes each, leading zeros kept, RFC 7518 section 3.4)"
    )]
    SignatureLength { length: usize },
    #[error(
        "compact form '..signature' cannot carry a SHAKEN PASSporT, because attest and origid cannot be rebuilt from SIP (RFC 8588 section 3)"
    )]
    CompactFormShaken,
    #[error("compact form '..signature' needs the {what} from the request to rebuild the PASSporT")]
    CompactFormMissing { what: &'static str },

    // Protected header, RFC 8225 section 4 and RFC 8224 section 4.
    #[error("alg '{found}' is not supported; SHAKEN PASSporTs use ES256")]
    UnsupportedAlg { found: String },
    #[error("Identity alg parameter '{parameter}' differs from the PASSporT alg '{header}'")]
    AlgParameterMismatch { parameter: String, header: String },
    #[error("typ '{found}' is not 'passport' (RFC 8225 section 4.1)")]
    InvalidTyp { found: String },
    #[error("Identity ppt parameter '{parameter}' differs from the PASSporT ppt '{header}'")]
    PptMismatch { parameter: String, header: String },
    #[error(
        "Identity header has no ppt parameter although the PASSporT ppt is '{header}' (RFC 8224 section 4, strict profile)"
    )]
    PptParameterMissing { header: String },
    #[error("Identity ppt parameter '{parameter}' labels a PASSporT whose header has no ppt")]
    PptWithoutHeaderPpt { parameter: String },
    #[error(
        "Identity ppt parameter is a quoted string; RFC 8224 section 4 makes it a token (strict profile)"
    )]
    PptQuoted,
    #[error("PASSporT ppt '{found}' is not supported here")]
    UnsupportedPpt { found: String },

    // Claims, RFC 8225 section 5 and RFC 8588.
    #[error("PASSporT {segment} member '{name}' is missing")]
    MissingMember {
        segment: Segment,
        name: &'static str,
    },
    #[error("PASSporT {segment} member '{name}' must be {expected}, found {found}")]
    MemberType {
        segment: Segment,
        name: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("attest '{found}' is not A, B or C (RFC 8588 section 4)")]
    InvalidAttest { found: String },
    #[error("origid is empty; RFC 8588 section 5 requires an opaque identifier, normally a UUID")]
    EmptyOrigid,
    #[error(
        "origid '{found}' ({length} bytes) is not an identifier: at most 128 printable ASCII characters without spaces, normally a UUID"
    )]
    InvalidOrigid { found: String, length: usize },
    #[error("{claim} '{value}' is not a telephone number: {reason}")]
    InvalidTn {
        claim: &'static str,
        value: String,
        reason: String,
    },
    #[error("{claim} '{value}' is not in canonical form (RFC 8224 section 8.3, strict profile)")]
    NonCanonicalTn { claim: &'static str, value: String },

    // info and x5u, RFC 8224 section 4.1.
    #[error("PASSporT header has no x5u; SHAKEN requires it (RFC 8588 section 3)")]
    MissingX5u,
    #[error("info <{info}> differs from the PASSporT x5u '{x5u}'")]
    X5uMismatch { x5u: String, info: String },

    // Freshness, RFC 8224 section 6.2 step 4.
    #[error("iat {iat} is {age} s older than now ({now}); the window is {window} s")]
    StaleIat {
        iat: i64,
        now: i64,
        age: i64,
        window: u32,
    },
    #[error("iat {iat} is {ahead} s ahead of now ({now}); the window is {window} s")]
    FutureIat {
        iat: i64,
        now: i64,
        ahead: i64,
        window: u32,
    },

    // Numbers, RFC 8224 section 6.2.
    #[error("orig '{passport}' does not match the calling number from the request: {reason}")]
    OrigMismatch { passport: String, reason: String },
    #[error("dest {passport:?} does not match the called number from the request: {reason}")]
    DestMismatch {
        passport: Vec<String>,
        reason: String,
    },

    // Keys and signatures.
    #[error("key rejected: {reason}")]
    InvalidKey { reason: String },
    #[error("signature does not verify with the signer's public key")]
    BadSignature,
    #[error("signing failed: {reason}")]
    Signing { reason: String },
}

impl Error {
    /// Returns the verification step this error belongs to.
    pub fn check(&self) -> Check {
        use Error::*;
        match self {
            IdentityTooLong { .. }
            | EmptyToken
            | TokenCharacter { .. }
            | TokenBase64(_)
            | ControlCharacter { .. }
            | HeaderSyntax { .. }
            | MissingInfo
            | InvalidInfo { .. }
            | DuplicateParameter { .. }
            | InvalidParameter { .. }
            | TooManyParameters { .. }
            | SegmentCount { .. }
            | EmptySegment { .. }
            | Base64 { .. }
            | Json { .. }
            | JsonTooDeep { .. }
            | TooManyMembers { .. }
            | DerSignature { .. }
            | SignatureLength { .. }
            | CompactFormShaken
            | CompactFormMissing { .. } => Check::HeaderParse,
            UnsupportedAlg { .. }
            | AlgParameterMismatch { .. }
            | InvalidTyp { .. }
            | PptMismatch { .. }
            | PptParameterMissing { .. }
            | PptWithoutHeaderPpt { .. }
            | PptQuoted
            | UnsupportedPpt { .. } => Check::Algorithm,
            MissingMember { .. }
            | MemberType { .. }
            | InvalidAttest { .. }
            | EmptyOrigid
            | InvalidOrigid { .. }
            | InvalidTn { .. }
            | NonCanonicalTn { .. } => Check::Claims,
            MissingX5u | X5uMismatch { .. } => Check::InfoX5u,
            StaleIat { .. } | FutureIat { .. } => Check::Freshness,
            OrigMismatch { .. } | DestMismatch { .. } => Check::Numbers,
            InvalidKey { .. } => Check::Certificate,
            BadSignature | Signing { .. } => Check::Signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Check;

    #[test]
    fn all_checks_are_listed_once_in_order() {
        // The match fails to compile when a step is added without a position.
        let position = |check: Check| match check {
            Check::IdentityPresent => 0,
            Check::HeaderParse => 1,
            Check::Algorithm => 2,
            Check::Claims => 3,
            Check::InfoX5u => 4,
            Check::Freshness => 5,
            Check::Numbers => 6,
            Check::Certificate => 7,
            Check::Signature => 8,
        };
        for (index, check) in Check::ALL.into_iter().enumerate() {
            assert_eq!(position(check), index, "{check}");
        }
        assert!(Check::ALL.is_sorted());
    }
}
