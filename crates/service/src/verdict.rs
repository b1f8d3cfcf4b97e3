//! Verdict vocabulary and the mapping of failures to SIP responses.

use passport::Error;

/// The verification status carried in the `verstat` tel URI parameter
/// (3GPP TS 24.229 section 7.2A.20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verstat {
    /// The signature, the certificate and the calling number checked out.
    TnValidationPassed,
    /// Verification was attempted and failed.
    TnValidationFailed,
    /// The call carried no verifiable telephone-number identity.
    NoTnValidation,
}

impl Verstat {
    /// Returns the parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Verstat::TnValidationPassed => "TN-Validation-Passed",
            Verstat::TnValidationFailed => "TN-Validation-Failed",
            Verstat::NoTnValidation => "No-TN-Validation",
        }
    }
}

impl std::fmt::Display for Verstat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SIP final response that reports a verification failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipResponse {
    /// The status code.
    pub code: u16,
    /// The reason phrase RFC 8224 section 6.2.2 recommends.
    pub reason: &'static str,
}

impl SipResponse {
    /// 403 Stale Date: `iat` or Date outside the freshness window.
    pub const STALE_DATE: SipResponse = SipResponse {
        code: 403,
        reason: "Stale Date",
    };
    /// 428 Use Identity Header: the policy requires an Identity header.
    pub const USE_IDENTITY_HEADER: SipResponse = SipResponse {
        code: 428,
        reason: "Use Identity Header",
    };
    /// 436 Bad Identity Info: the credential at `info` cannot be obtained or used.
    pub const BAD_IDENTITY_INFO: SipResponse = SipResponse {
        code: 436,
        reason: "Bad Identity Info",
    };
    /// 437 Unsupported Credential: the credential was obtained but is not trusted
    /// or not supported.
    pub const UNSUPPORTED_CREDENTIAL: SipResponse = SipResponse {
        code: 437,
        reason: "Unsupported Credential",
    };
    /// 438 Invalid Identity Header: no valid PASSporT.
    pub const INVALID_IDENTITY_HEADER: SipResponse = SipResponse {
        code: 438,
        reason: "Invalid Identity Header",
    };
    /// 500: a failure of the verifier itself, never of the caller's input.
    pub const SERVER_INTERNAL_ERROR: SipResponse = SipResponse {
        code: 500,
        reason: "Server Internal Error",
    };

    /// Formats the Reason header value of RFC 9410 for a call that continues
    /// despite the failure: `STIR ;cause=438 ;text="Invalid Identity Header"`.
    pub fn reason_header(&self) -> String {
        format!("STIR ;cause={} ;text=\"{}\"", self.code, self.reason)
    }
}

/// Maps a PASSporT failure to the SIP response that reports it.
///
/// This is the one place where failures meet response codes. RFC 8224 section
/// 6.2.2 gives the codes; where it leaves a choice, the comment names the source.
pub fn response_for(error: &Error) -> SipResponse {
    use Error::*;
    match error {
        // An algorithm the verifier does not support makes the credential
        // unusable (RFC 8224 section 6.2.2); the French MAN profile and the
        // OpenSIPS tests respond 437 for a wrong alg or typ as well.
        UnsupportedAlg { .. } | AlgParameterMismatch { .. } | InvalidTyp { .. } => {
            SipResponse::UNSUPPORTED_CREDENTIAL
        }
        InvalidKey { .. } => SipResponse::UNSUPPORTED_CREDENTIAL,

        // An info URI that does not name the signer's certificate cannot be
        // dereferenced for this PASSporT.
        X5uMismatch { .. } => SipResponse::BAD_IDENTITY_INFO,

        StaleIat { .. } | FutureIat { .. } => SipResponse::STALE_DATE,

        Signing { .. } => SipResponse::SERVER_INTERNAL_ERROR,

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
        | CompactFormMissing { .. }
        | PptMismatch { .. }
        | PptParameterMissing { .. }
        | PptWithoutHeaderPpt { .. }
        | PptQuoted
        | UnsupportedPpt { .. }
        | MissingMember { .. }
        | MemberType { .. }
        | InvalidAttest { .. }
        | EmptyOrigid
        | InvalidOrigid { .. }
        | InvalidTn { .. }
        | NonCanonicalTn { .. }
        | MissingX5u
        | OrigMismatch { .. }
        | DestMismatch { .. }
        | BadSignature => SipResponse::INVALID_IDENTITY_HEADER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_header_uses_stir_protocol() {
        assert_eq!(
            SipResponse::INVALID_IDENTITY_HEADER.reason_header(),
            "STIR ;cause=438 ;text=\"Invalid Identity Header\""
        );
    }

    #[test]
    fn stale_iat_is_403() {
        let error = Error::StaleIat {
            iat: 0,
            now: 100,
            age: 100,
            window: 60,
        };
        assert_eq!(response_for(&error), SipResponse::STALE_DATE);
    }
}
