//! The one error type of the crate and its mapping to SIP status codes.

/// The kind of rule a message broke. Each kind maps to the status code of the
/// response a server sends, see [`ParseError::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The message breaks the grammar of RFC 3261 section 25 or a rule of
    /// section 7, 8.1.1 or 20 about a header field. A server responds with 400
    /// Bad Request.
    Malformed,
    /// The start line carries a well-formed SIP version other than 2.0. A
    /// server responds with 505 Version Not Supported (RFC 3261 section
    /// 21.5.7).
    UnsupportedVersion,
    /// The message, a line or a count exceeds one of the crate's limits, such
    /// as [`MAX_MESSAGE_BYTES`](crate::MAX_MESSAGE_BYTES). A server responds
    /// with 513 Message Too Large (RFC 3261 section 21.5.9).
    TooLarge,
}

/// A message or header value that the crate rejects, with the reason in
/// `detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ParseError {
    /// The rule that the input broke.
    pub kind: ErrorKind,
    /// One sentence for an operator: what is wrong, in which header or line,
    /// with at most [`MAX_EXCERPT_BYTES`] of the offending text.
    pub detail: String,
}

/// Maximum number of bytes of the input quoted in [`ParseError::detail`], so
/// that a hostile value does not grow the error or the log line that prints it.
pub const MAX_EXCERPT_BYTES: usize = 64;

impl ParseError {
    /// Creates an error of `kind` with `detail`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    /// Creates a [`ErrorKind::Malformed`] error.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, detail)
    }

    /// Creates a [`ErrorKind::TooLarge`] error.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooLarge, detail)
    }

    /// Returns the status code of the response a server sends for this
    /// error: 400 Bad Request, 505 Version Not Supported or 513 Message Too
    /// Large. A response that fails to parse is dropped instead.
    pub fn status(&self) -> u16 {
        match self.kind {
            ErrorKind::Malformed => 400,
            ErrorKind::UnsupportedVersion => 505,
            ErrorKind::TooLarge => 513,
        }
    }
}

/// Returns `text` quoted for an error detail: at most [`MAX_EXCERPT_BYTES`]
/// bytes, cut at a character boundary, with control characters escaped.
pub(crate) fn excerpt(text: &str) -> String {
    let mut end = text.len().min(MAX_EXCERPT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = text.get(..end).unwrap_or_default();
    let mut quoted: String = head.escape_debug().collect();
    if end < text.len() {
        quoted.push_str("...");
    }
    format!("'{quoted}'")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn status_per_kind() {
        assert_eq!(ParseError::malformed("x").status(), 400);
        assert_eq!(
            ParseError::new(ErrorKind::UnsupportedVersion, "x").status(),
            505
        );
        assert_eq!(ParseError::too_large("x").status(), 513);
    }

    #[test]
    fn display_is_detail() {
        let error = ParseError::malformed("missing Call-ID header");
        assert_eq!(error.to_string(), "missing Call-ID header");
    }

    #[test]
    fn excerpt_cuts_long_text() {
        let long = "é".repeat(100);
        let quoted = excerpt(&long);
        assert!(quoted.len() <= MAX_EXCERPT_BYTES + 5);
        assert!(quoted.ends_with("...'"));
    }

    #[test]
    fn excerpt_escapes_controls() {
        assert_eq!(excerpt("a\r\nb\0"), "'a\\r\\nb\\0'");
    }
}
