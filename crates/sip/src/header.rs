//! Header fields: names with their compact forms, values with folding, and the
//! split of a header section into fields.

use std::borrow::Cow;
use std::ops::Range;

use crate::error::ParseError;
use crate::syntax::{is_token_byte, is_wsp};
use crate::{MAX_HEADERS, MAX_LINE_BYTES};

/// One header field as written in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The field name as written, such as `Via`, `v` or `MaX-fOrWaRdS`.
    pub name: &'a str,
    /// The field value without leading and trailing white space. A folded
    /// value keeps its CRLF and the white space that follows; see
    /// [`Header::unfolded`].
    pub value: &'a str,
}

impl<'a> Header<'a> {
    /// Returns the full name of the field in its usual capitalisation, such
    /// as `Call-ID` for `i` or `call-id`, or the name as written for a field
    /// the crate does not know.
    pub fn canonical_name(&self) -> &str {
        canonical_header_name(self.name)
    }

    /// Returns the value with each fold, white space around a CRLF that
    /// continues the value on the next line, replaced by one SP (RFC 3261
    /// section 7.3.1). A value without folding is returned as a borrow.
    pub fn unfolded(&self) -> Cow<'a, str> {
        unfold(self.value)
    }
}

/// Replaces every run of white space that contains a CR or LF with one SP.
fn unfold(value: &str) -> Cow<'_, str> {
    if !value.contains(['\r', '\n']) {
        return Cow::Borrowed(value);
    }

    let mut unfolded = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(index) = rest.find(['\r', '\n']) {
        let (before, after) = rest.split_at_checked(index).unwrap_or((rest, ""));
        unfolded.push_str(before.trim_end_matches([' ', '\t']));
        unfolded.push(' ');
        rest = after.trim_start_matches([' ', '\t', '\r', '\n']);
    }
    unfolded.push_str(rest);
    Cow::Owned(unfolded)
}

/// The header fields of a message, in their order in the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers<'a>(Vec<Header<'a>>);

impl<'a> Headers<'a> {
    /// Returns the fields in message order.
    pub fn iter(&self) -> impl Iterator<Item = &Header<'a>> {
        self.0.iter()
    }

    /// Returns the first field named `name`. Names match without regard to
    /// letter case, and a compact form matches its full name both ways: `v`
    /// finds `Via:` and `Via` finds `v:` (RFC 3261 section 7.3.3).
    pub fn get(&self, name: &str) -> Option<&Header<'a>> {
        self.0
            .iter()
            .find(|header| header_names_match(header.name, name))
    }

    /// Returns every field named `name`, matched as by [`Headers::get`].
    pub fn get_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Header<'a>> {
        self.0
            .iter()
            .filter(move |header| header_names_match(header.name, name))
    }

    /// Returns the number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Returns whether the message has no header fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> From<Vec<Header<'a>>> for Headers<'a> {
    fn from(headers: Vec<Header<'a>>) -> Self {
        Self(headers)
    }
}

impl<'s, 'a> IntoIterator for &'s Headers<'a> {
    type Item = &'s Header<'a>;
    type IntoIter = std::slice::Iter<'s, Header<'a>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The compact forms of header names: RFC 3261 section 7.3.3 and the
/// registrations of RFC 3265 (o), RFC 3515 (r), RFC 3841 (a, d, j), RFC 3892
/// (b), RFC 4028 (x), RFC 6665 (u) and RFC 8224 (y).
const COMPACT_NAMES: &[(u8, &str)] = &[
    (b'a', "Accept-Contact"),
    (b'b', "Referred-By"),
    (b'c', "Content-Type"),
    (b'd', "Request-Disposition"),
    (b'e', "Content-Encoding"),
    (b'f', "From"),
    (b'i', "Call-ID"),
    (b'j', "Reject-Contact"),
    (b'k', "Supported"),
    (b'l', "Content-Length"),
    (b'm', "Contact"),
    (b'o', "Event"),
    (b'r', "Refer-To"),
    (b's', "Subject"),
    (b't', "To"),
    (b'u', "Allow-Events"),
    (b'v', "Via"),
    (b'x', "Session-Expires"),
    (b'y', "Identity"),
];

/// Header names whose usual capitalisation [`canonical_header_name`] restores:
/// the fields of RFC 3261 section 20, the compact forms above, and the fields a
/// STIR/SHAKEN service reads or writes.
const KNOWN_NAMES: &[&str] = &[
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Attestation-Info",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Diversion",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "History-Info",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Organization",
    "Origination-Id",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "Reason",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Retry-After",
    "Route",
    "Server",
    "Session-Expires",
    "Subject",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
];

/// Returns the full name of a header in its usual capitalisation: `Call-ID`
/// for `i`, `I`, `call-id` or `CALL-ID`. A name the crate does not know is
/// returned as written.
pub fn canonical_header_name(name: &str) -> &str {
    if let Some(full) = expand_compact(name) {
        return full;
    }
    KNOWN_NAMES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or(name)
}

/// Returns the full name for a one-letter compact form.
fn expand_compact(name: &str) -> Option<&'static str> {
    let [letter] = name.as_bytes() else {
        return None;
    };
    let letter = letter.to_ascii_lowercase();
    COMPACT_NAMES
        .iter()
        .find(|(compact, _)| *compact == letter)
        .map(|(_, full)| *full)
}

/// Returns whether two header names name the same field.
pub(crate) fn header_names_match(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    let a = expand_compact(a).unwrap_or(a);
    let b = expand_compact(b).unwrap_or(b);
    a.eq_ignore_ascii_case(b)
}

/// The byte ranges of one header field inside a header section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldRanges {
    pub(crate) name: Range<usize>,
    pub(crate) value: Range<usize>,
}

/// Splits the header fields of a header section into name and value ranges.
/// It checks the line structure of RFC 3261 section 7.3: each field is a
/// `token`, optional white space, `:` and a value. A line that starts with SP
/// or HTAB continues the value before it.
///
/// `section` is the message from the start of the first header line to the
/// CRLF that ends the last one, without the empty line. A CR or LF that is not
/// part of a CRLF is malformed, and so is a control character in a value
/// unless it follows a backslash: RFC 3261 allows controls only in a
/// `quoted-pair`, as in the To header of RFC 4475 section 3.1.1.2.
///
/// NOTE: the check does not track quoted strings, because an unknown header's
/// value may hold an unbalanced `"` (a Call-ID may, for one). A control after
/// a backslash outside a quoted string is therefore accepted here.
pub(crate) struct FieldSplitter<'a> {
    section: &'a [u8],
    position: usize,
    count: usize,
}

impl<'a> FieldSplitter<'a> {
    /// Creates a splitter over `section`, whose first byte starts a header line.
    pub(crate) fn new(section: &'a [u8]) -> Self {
        Self {
            section,
            position: 0,
            count: 0,
        }
    }

    fn byte(&self, index: usize) -> Option<u8> {
        self.section.get(index).copied()
    }

    /// Parses the field that starts at `start` and returns its ranges and the
    /// offset of the next line.
    fn field_at(&self, start: usize) -> Result<(FieldRanges, usize), ParseError> {
        let line_number = self.count + 2;
        if self.byte(start).is_some_and(is_wsp) {
            return Err(ParseError::malformed(format!(
                "header line {line_number} starts with white space but no header field precedes it"
            )));
        }

        let mut index = start;
        while self.byte(index).is_some_and(is_token_byte) {
            index += 1;
        }
        let name = start..index;
        if name.is_empty() {
            return Err(ParseError::malformed(format!(
                "header line {line_number} does not start with a header name"
            )));
        }
        while self.byte(index).is_some_and(is_wsp) {
            index += 1;
        }
        if self.byte(index) != Some(b':') {
            return Err(ParseError::malformed(format!(
                "header line {line_number} has no ':' after the header name"
            )));
        }
        index += 1;

        let value_start = index;
        let value_end = self.value_end(value_start, line_number)?;
        if value_end - start > MAX_LINE_BYTES {
            return Err(ParseError::too_large(format!(
                "header line {line_number} is {} bytes with its continuation lines; the limit is {MAX_LINE_BYTES}",
                value_end - start
            )));
        }
        let value = self.trimmed(value_start, value_end);
        Ok((FieldRanges { name, value }, value_end + 2))
    }

    /// Returns the offset of the CRLF that ends the value starting at
    /// `start`, following continuation lines.
    fn value_end(&self, start: usize, line_number: usize) -> Result<usize, ParseError> {
        let mut index = start;
        loop {
            match self.byte(index) {
                None => {
                    return Err(ParseError::malformed(format!(
                        "header line {line_number} does not end with CRLF"
                    )));
                }
                Some(b'\r') => {
                    if self.byte(index + 1) != Some(b'\n') {
                        return Err(ParseError::malformed(format!(
                            "header line {line_number} has a CR that is not followed by LF"
                        )));
                    }
                    if !self.byte(index + 2).is_some_and(is_wsp) {
                        return Ok(index);
                    }
                    index += 3;
                }
                Some(b'\n') => {
                    return Err(ParseError::malformed(format!(
                        "header line {line_number} has an LF that does not follow a CR"
                    )));
                }
                Some(byte) if is_disallowed_control(byte) => {
                    if index == start || self.byte(index - 1) != Some(b'\\') {
                        return Err(ParseError::malformed(format!(
                            "header line {line_number} has the control character 0x{byte:02x} outside a quoted-pair"
                        )));
                    }
                    index += 1;
                }
                Some(_) => index += 1,
            }
        }
    }

    /// Returns `start..end` without leading and trailing white space and folds.
    fn trimmed(&self, mut start: usize, mut end: usize) -> Range<usize> {
        while start < end && self.byte(start).is_some_and(is_lws_byte) {
            start += 1;
        }
        while end > start && self.byte(end - 1).is_some_and(is_lws_byte) {
            end -= 1;
        }
        start..end
    }
}

impl Iterator for FieldSplitter<'_> {
    type Item = Result<FieldRanges, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.section.len() {
            return None;
        }
        if self.count >= MAX_HEADERS {
            self.position = self.section.len();
            return Some(Err(ParseError::too_large(format!(
                "message has more than {MAX_HEADERS} header fields"
            ))));
        }

        match self.field_at(self.position) {
            Ok((field, next)) => {
                self.position = next;
                self.count += 1;
                Some(Ok(field))
            }
            Err(error) => {
                self.position = self.section.len();
                Some(Err(error))
            }
        }
    }
}

/// Returns whether `byte` is a control character that RFC 3261 allows in a
/// header value only inside a `quoted-pair`: everything below SP except HTAB,
/// and DEL. CR and LF are handled as line ends.
fn is_disallowed_control(byte: u8) -> bool {
    (byte < 0x20 && byte != b'\t' && byte != b'\r' && byte != b'\n') || byte == 0x7f
}

fn is_lws_byte(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn split(section: &str) -> Result<Vec<(&str, &str)>, ParseError> {
        FieldSplitter::new(section.as_bytes())
            .map(|field| field.map(|field| (&section[field.name], &section[field.value])))
            .collect()
    }

    #[test]
    fn compact_forms_expand() {
        let pairs = [
            ("i", "Call-ID"),
            ("m", "Contact"),
            ("e", "Content-Encoding"),
            ("l", "Content-Length"),
            ("c", "Content-Type"),
            ("f", "From"),
            ("s", "Subject"),
            ("k", "Supported"),
            ("t", "To"),
            ("v", "Via"),
            ("y", "Identity"),
            ("o", "Event"),
            ("u", "Allow-Events"),
            ("r", "Refer-To"),
            ("b", "Referred-By"),
            ("x", "Session-Expires"),
            ("j", "Reject-Contact"),
            ("a", "Accept-Contact"),
            ("d", "Request-Disposition"),
        ];
        for (compact, full) in pairs {
            assert_eq!(
                canonical_header_name(compact),
                full,
                "compact form {compact}"
            );
            assert_eq!(
                canonical_header_name(&compact.to_ascii_uppercase()),
                full,
                "upper-case compact form {compact}"
            );
        }
    }

    #[test]
    fn full_names_get_usual_case() {
        assert_eq!(canonical_header_name("call-id"), "Call-ID");
        assert_eq!(canonical_header_name("CSEQ"), "CSeq");
        assert_eq!(canonical_header_name("MaX-fOrWaRdS"), "Max-Forwards");
        assert_eq!(
            canonical_header_name("www-authenticate"),
            "WWW-Authenticate"
        );
        assert_eq!(canonical_header_name("X-Custom"), "X-Custom");
        assert_eq!(canonical_header_name("q"), "q");
    }

    #[test]
    fn names_match_both_ways() {
        assert!(header_names_match("v", "Via"));
        assert!(header_names_match("VIA", "v"));
        assert!(header_names_match("V", "via"));
        assert!(header_names_match("y", "identity"));
        assert!(header_names_match("X-Foo", "x-foo"));
        assert!(!header_names_match("x", "X-Foo"));
        assert!(!header_names_match("t", "From"));
    }

    #[test]
    fn headers_lookup() {
        let headers = Headers::from(vec![
            Header {
                name: "v",
                value: "SIP/2.0/UDP a",
            },
            Header {
                name: "To",
                value: "<sip:b@example.com>",
            },
            Header {
                name: "VIA",
                value: "SIP/2.0/UDP c",
            },
        ]);
        assert_eq!(headers.len(), 3);
        assert!(!headers.is_empty());
        assert_eq!(headers.get("Via").unwrap().value, "SIP/2.0/UDP a");
        assert_eq!(headers.get("t").unwrap().value, "<sip:b@example.com>");
        let vias: Vec<&str> = headers.get_all("via").map(|header| header.value).collect();
        assert_eq!(vias, ["SIP/2.0/UDP a", "SIP/2.0/UDP c"]);
        assert!(headers.get("From").is_none());
        assert_eq!(headers.iter().count(), 3);
        assert_eq!((&headers).into_iter().count(), 3);
    }

    #[test]
    fn unfold_replaces_folds() {
        let header = Header {
            name: "Subject",
            value: "newfangled value\r\n continued newfangled value",
        };
        assert_eq!(
            header.unfolded(),
            "newfangled value continued newfangled value"
        );
        let header = Header {
            name: "CSeq",
            value: "0009 \t\r\n  INVITE",
        };
        assert_eq!(header.unfolded(), "0009 INVITE");
        let header = Header {
            name: "To",
            value: "a\r\n \r\n\tb",
        };
        assert_eq!(header.unfolded(), "a b");
    }

    #[test]
    fn unfold_borrows_plain_value() {
        let header = Header {
            name: "To",
            value: "sip:a@example.com",
        };
        assert!(matches!(header.unfolded(), Cow::Borrowed(_)));
    }

    #[test]
    fn split_fields_and_folds() {
        let fields =
            split("TO :\r\n sip:a@example.com ;tag=1\r\ns :\r\nVia  : x\r\n y \r\n").unwrap();
        assert_eq!(
            fields,
            [
                ("TO", "sip:a@example.com ;tag=1"),
                ("s", ""),
                ("Via", "x\r\n y"),
            ]
        );
    }

    #[test]
    fn split_rejects_broken_lines() {
        let cases = [
            (" leading: space\r\n", "starts with white space"),
            ("NoColon\r\n", "no ':'"),
            (": value\r\n", "does not start with a header name"),
            ("Bad Name: x\r\n", "no ':'"),
            ("A: x\ry\r\n", "CR that is not followed by LF"),
            ("A: x\ny\r\n", "LF that does not follow a CR"),
            ("A: x", "does not end with CRLF"),
            ("A: x\0y\r\n", "control character 0x00"),
        ];
        for (section, expected) in cases {
            let error = split(section).unwrap_err();
            assert!(
                error.detail.contains(expected),
                "{section:?} gave {error}, expected {expected}"
            );
        }
    }

    #[test]
    fn split_allows_quoted_pair_controls() {
        let fields = split("To: \"a\\\u{7} b\\\0\" <sip:a@example.com>\r\n").unwrap();
        assert_eq!(fields.len(), 1);
    }

    #[test]
    fn split_limits_line_length() {
        let section = format!("Subject: {}\r\n", "a".repeat(MAX_LINE_BYTES));
        let error = split(&section).unwrap_err();
        assert_eq!(error.kind, crate::ErrorKind::TooLarge);
    }

    #[test]
    fn split_limits_field_count() {
        let section = "A: b\r\n".repeat(MAX_HEADERS + 1);
        let error = split(&section).unwrap_err();
        assert_eq!(error.kind, crate::ErrorKind::TooLarge);
        let section = "A: b\r\n".repeat(MAX_HEADERS);
        assert_eq!(split(&section).unwrap().len(), MAX_HEADERS);
    }
}
