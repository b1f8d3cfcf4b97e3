//! Character classes and a byte cursor for the grammar of RFC 3261 section 25.

/// Returns whether `byte` may appear in a `token`: alphanumerics and
/// `- . ! % * _ + ` ' ~` (RFC 3261 section 25.1).
pub(crate) fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// Returns whether `text` is a non-empty `token`.
pub(crate) fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_token_byte)
}

/// Returns whether `byte` is SP or HTAB, the `WSP` of RFC 5234.
pub(crate) fn is_wsp(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// Returns whether `byte` may appear in a `word` of a Call-ID (RFC 3261
/// section 25.1).
pub(crate) fn is_word_byte(byte: u8) -> bool {
    is_token_byte(byte)
        || matches!(
            byte,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        )
}

/// Returns whether `byte` may appear in a URI outside a `%` escape: the
/// `reserved`, `unreserved` and `[` `]` characters of RFC 2396 and RFC 2732,
/// which RFC 3261 section 25.1 builds SIP-URI and absoluteURI from.
pub(crate) fn is_uri_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')'
                | b';'
                | b'/'
                | b'?'
                | b':'
                | b'@'
                | b'&'
                | b'='
                | b'+'
                | b'$'
                | b','
                | b'['
                | b']'
                | b'%'
        )
}

/// Returns whether `text` is a `SIP-Version` in the form `SIP/1*DIGIT.1*DIGIT`,
/// whatever the numbers, with `SIP` in any letter case.
pub(crate) fn is_sip_version_syntax(text: &str) -> bool {
    let Some(prefix) = text.get(..4) else {
        return false;
    };
    if !prefix.eq_ignore_ascii_case("SIP/") {
        return false;
    }
    let numbers = text.get(4..).unwrap_or_default();
    let Some((major, minor)) = numbers.split_once('.') else {
        return false;
    };
    is_digits(major) && is_digits(minor)
}

/// Returns whether `text` is one or more ASCII digits.
pub(crate) fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// Parses one or more ASCII digits into a number no greater than `max`.
/// Leading zeros are allowed, as in `Max-Forwards: 0068` (RFC 4475 section
/// 3.1.1.1). Returns `None` for other characters or a larger number.
pub(crate) fn parse_bounded(text: &str, max: u64) -> Option<u64> {
    if !is_digits(text) {
        return None;
    }
    let mut value: u64 = 0;
    for byte in text.bytes() {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(byte.wrapping_sub(b'0')))?;
        if value > max {
            return None;
        }
    }
    Some(value)
}

/// Returns `text` without leading and trailing linear white space: SP, HTAB
/// and the CRLF of folded lines.
pub(crate) fn trim_lws(text: &str) -> &str {
    text.trim_matches([' ', '\t', '\r', '\n'])
}

/// A position in a header value or line, for the small recursive-descent
/// parsers of the crate. It moves over bytes, and its callers slice the text
/// only next to ASCII bytes, so every slice falls on a character boundary.
pub(crate) struct Cursor<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Cursor<'a> {
    /// Creates a cursor at the start of `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, position: 0 }
    }

    /// Returns the byte offset of the cursor in the text.
    pub(crate) fn position(&self) -> usize {
        self.position
    }

    /// Returns whether the cursor is at the end of the text.
    pub(crate) fn is_at_end(&self) -> bool {
        self.position >= self.text.len()
    }

    /// Returns the byte at the cursor.
    pub(crate) fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.position).copied()
    }

    /// Returns the byte `offset` bytes after the cursor.
    pub(crate) fn peek_at(&self, offset: usize) -> Option<u8> {
        self.text
            .as_bytes()
            .get(self.position.saturating_add(offset))
            .copied()
    }

    /// Returns the text from the cursor to the end.
    pub(crate) fn rest(&self) -> &'a str {
        self.text.get(self.position..).unwrap_or_default()
    }

    /// Returns the text between two byte offsets, or an empty string where an
    /// offset is not on a character boundary.
    pub(crate) fn slice(&self, start: usize, end: usize) -> &'a str {
        self.text.get(start..end).unwrap_or_default()
    }

    /// Moves the cursor back to `position`, an offset it has passed.
    pub(crate) fn reset_to(&mut self, position: usize) {
        self.position = position.min(self.text.len());
    }

    /// Moves past `byte` when it is at the cursor and returns whether it was.
    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    /// Moves one byte forward.
    pub(crate) fn advance(&mut self) {
        if !self.is_at_end() {
            self.position += 1;
        }
    }

    /// Moves past every byte for which `accept` returns true and returns them.
    pub(crate) fn take_while(&mut self, accept: impl Fn(u8) -> bool) -> &'a str {
        let start = self.position;
        while let Some(byte) = self.peek() {
            if !accept(byte) {
                break;
            }
            self.position += 1;
        }
        self.slice(start, self.position)
    }

    /// Moves past `SWS`, optional linear white space: SP, HTAB, and CRLF
    /// followed by SP or HTAB (a folded line). Returns whether it moved.
    pub(crate) fn skip_lws(&mut self) -> bool {
        let start = self.position;
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.position += 1,
                Some(b'\r')
                    if self.peek_at(1) == Some(b'\n') && self.peek_at(2).is_some_and(is_wsp) =>
                {
                    self.position += 3;
                }
                _ => break,
            }
        }
        self.position > start
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn token_accepts_rfc4475_method() {
        assert!(is_token("!interesting-Method0123456789_*+`.%indeed'~"));
        assert!(!is_token(""));
        assert!(!is_token("IN VITE"));
        assert!(!is_token("SIP/2.0"));
    }

    #[test]
    fn version_syntax() {
        assert!(is_sip_version_syntax("SIP/2.0"));
        assert!(is_sip_version_syntax("sip/7.0"));
        assert!(is_sip_version_syntax("SIP/10.25"));
        assert!(!is_sip_version_syntax("SIP/2"));
        assert!(!is_sip_version_syntax("SIP/2."));
        assert!(!is_sip_version_syntax("HTTP/1.1"));
        assert!(!is_sip_version_syntax("SIP"));
    }

    #[test]
    fn bounded_numbers() {
        assert_eq!(parse_bounded("0068", 255), Some(68));
        assert_eq!(parse_bounded("255", 255), Some(255));
        assert_eq!(parse_bounded("256", 255), None);
        assert_eq!(parse_bounded("", 255), None);
        assert_eq!(parse_bounded("-1", 255), None);
        assert_eq!(parse_bounded("36893488147419103232", u64::MAX), None);
        assert_eq!(parse_bounded(&"0".repeat(1000), 1), Some(0));
    }

    #[test]
    fn cursor_skips_folding() {
        let mut cursor = Cursor::new(" \r\n\t x\r\ny");
        assert!(cursor.skip_lws());
        assert_eq!(cursor.rest(), "x\r\ny");
        cursor.advance();
        assert!(!cursor.skip_lws());
        assert_eq!(cursor.rest(), "\r\ny");
    }

    #[test]
    fn cursor_takes_ascii_runs() {
        let mut cursor = Cursor::new("abc;é");
        assert_eq!(cursor.take_while(is_token_byte), "abc");
        assert!(cursor.eat(b';'));
        assert_eq!(cursor.rest(), "é");
    }
}
