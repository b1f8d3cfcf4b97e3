//! Whole messages: the start line, the header section and the body, for
//! datagrams ([`parse`]) and streams ([`frame`]).

use crate::error::{ErrorKind, ParseError, excerpt};
use crate::header::{FieldSplitter, Header, Headers};
use crate::syntax::{is_sip_version_syntax, is_token, is_uri_byte, parse_bounded, trim_lws};
use crate::{MAX_LINE_BYTES, MAX_MESSAGE_BYTES};

/// A parsed SIP message. Every field borrows from the bytes given to
/// [`parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// A request, whose start line is a Request-Line.
    Request(Request<'a>),
    /// A response, whose start line is a Status-Line.
    Response(Response<'a>),
}

impl<'a> Message<'a> {
    /// Returns the header fields of the request or response.
    pub fn headers(&self) -> &Headers<'a> {
        match self {
            Message::Request(request) => &request.headers,
            Message::Response(response) => &response.headers,
        }
    }

    /// Returns the body of the request or response.
    pub fn body(&self) -> &'a [u8] {
        match self {
            Message::Request(request) => request.body,
            Message::Response(response) => response.body,
        }
    }
}

/// A SIP request (RFC 3261 section 7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method, a `token` compared with letter case (RFC 3261 section 7.1).
    pub method: &'a str,
    /// The Request-URI as written, with a scheme.
    pub uri: &'a str,
    /// The SIP-Version as written, `SIP/2.0` in any letter case.
    pub version: &'a str,
    /// The header fields in message order.
    pub headers: Headers<'a>,
    /// The body: the Content-Length bytes after the header section, or every
    /// byte after it when the message has no Content-Length.
    pub body: &'a [u8],
}

/// A SIP response (RFC 3261 section 7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    /// The SIP-Version as written, `SIP/2.0` in any letter case.
    pub version: &'a str,
    /// The Status-Code, from 100 to 699.
    pub code: u16,
    /// The Reason-Phrase, possibly empty.
    pub reason: &'a str,
    /// The header fields in message order.
    pub headers: Headers<'a>,
    /// The body, as for [`Request::body`].
    pub body: &'a [u8],
}

/// Parses one message received as a datagram.
///
/// The checks follow RFC 3261 section 7 and the grammar of section 25 as far
/// as a stateless server needs them: the start line, the line structure of
/// the header section and the body length. The header section must be UTF-8
/// and end with an empty line. CRLFs before the start line are skipped (RFC
/// 3261 section 7.5). With a Content-Length, the body is that many bytes and
/// the bytes after it are ignored (RFC 3261 section 18.3). Without one, the
/// body is the rest of the datagram. The values of header fields are not
/// checked here, see [`check_request`](crate::check_request).
///
/// Errors: [`ErrorKind::TooLarge`] for more than
/// [`MAX_MESSAGE_BYTES`](crate::MAX_MESSAGE_BYTES) bytes, a line longer than
/// [`MAX_LINE_BYTES`](crate::MAX_LINE_BYTES) or more than
/// [`MAX_HEADERS`](crate::MAX_HEADERS) header fields;
/// [`ErrorKind::UnsupportedVersion`] for a SIP version other than 2.0;
/// [`ErrorKind::Malformed`] for everything else, including a body shorter
/// than its Content-Length.
pub fn parse(bytes: &[u8]) -> Result<Message<'_>, ParseError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(ParseError::too_large(format!(
            "message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
            bytes.len()
        )));
    }

    let bytes = skip_leading_crlf(bytes);
    let Some(header_end) = find_header_end(bytes) else {
        return Err(ParseError::malformed(
            "message has no empty line (CRLF CRLF) that ends the header section",
        ));
    };
    let (head, rest) = bytes.split_at_checked(header_end).unwrap_or((bytes, &[]));
    let head = head.get(..header_end - 2).unwrap_or_default();
    let head = std::str::from_utf8(head).map_err(|error| {
        ParseError::malformed(format!(
            "header section is not valid UTF-8 at byte {}",
            error.valid_up_to()
        ))
    })?;

    let Some((start_line, fields)) = head.split_once("\r\n") else {
        return Err(ParseError::malformed("message has no start line"));
    };
    let start = parse_start_line(start_line)?;

    let headers = split_headers(fields)?;
    let body = message_body(&headers, rest)?;

    Ok(match start {
        StartLine::Request {
            method,
            uri,
            version,
        } => Message::Request(Request {
            method,
            uri,
            version,
            headers,
            body,
        }),
        StartLine::Response {
            version,
            code,
            reason,
        } => Message::Response(Response {
            version,
            code,
            reason,
            headers,
            body,
        }),
    })
}

/// Returns the length of the first message in a stream buffer.
///
/// - `Ok(Some(n))`: `buf` starts with one complete message of `n` bytes, its
///   header section and a body of Content-Length bytes. Pass those bytes to
///   [`parse`] and drop them from the buffer.
/// - `Ok(Some(n))` where [`is_keepalive`] holds for the first `n` bytes:
///   `buf` starts with `n` bytes of CRLF, the keep-alive ping `CRLF CRLF` or
///   pong `CRLF` of RFC 5626 section 3.5.1 (or CRLFs before a start line,
///   which RFC 3261 section 7.5 requires a server to ignore). Drop them, and answer a ping
///   with a pong if the connection is a flow.
/// - `Ok(None)`: more bytes are needed.
/// - `Err`: the stream cannot be framed and the connection should be closed.
///   The header section exceeds [`MAX_MESSAGE_BYTES`](crate::MAX_MESSAGE_BYTES),
///   a header line is malformed, the Content-Length is missing (a stream
///   requires it, RFC 3261 section 18.3), invalid, repeated with different
///   values, or makes the message larger than the limit.
pub fn frame(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let crlf = leading_crlf_len(buf);
    if crlf > 0 {
        return Ok(Some(crlf));
    }
    match buf {
        [] | [b'\r'] => return Ok(None),
        [b'\r' | b'\n', ..] => {
            return Err(ParseError::malformed(
                "stream has a CR or LF before the start line that is not part of a CRLF",
            ));
        }
        _ => {}
    }

    let searched = buf.get(..MAX_MESSAGE_BYTES).unwrap_or(buf);
    let Some(header_end) = find_header_end(searched) else {
        if buf.len() >= MAX_MESSAGE_BYTES {
            return Err(ParseError::too_large(format!(
                "header section exceeds {MAX_MESSAGE_BYTES} bytes"
            )));
        }
        return Ok(None);
    };

    let head = buf.get(..header_end).unwrap_or_default();
    let Some(content_length) = stream_content_length(head)? else {
        return Err(ParseError::malformed(
            "message on a stream has no Content-Length header (RFC 3261 section 18.3)",
        ));
    };
    let total = header_end.saturating_add(content_length);
    if total > MAX_MESSAGE_BYTES {
        return Err(ParseError::too_large(format!(
            "message would be {total} bytes with its Content-Length of {content_length}; the limit is {MAX_MESSAGE_BYTES}"
        )));
    }
    Ok((buf.len() >= total).then_some(total))
}

/// Returns whether `bytes` is a keep-alive: one or more CRLFs and nothing
/// else, such as the RFC 5626 ping `CRLF CRLF` and pong `CRLF`.
pub fn is_keepalive(bytes: &[u8]) -> bool {
    !bytes.is_empty() && leading_crlf_len(bytes) == bytes.len()
}

/// Returns the number of leading bytes that form whole CRLF pairs.
fn leading_crlf_len(bytes: &[u8]) -> usize {
    bytes
        .chunks(2)
        .take_while(|pair| *pair == b"\r\n")
        .count()
        .saturating_mul(2)
}

fn skip_leading_crlf(bytes: &[u8]) -> &[u8] {
    bytes.get(leading_crlf_len(bytes)..).unwrap_or_default()
}

/// Returns the offset just after the empty line that ends the header section:
/// the position of the first `CRLF CRLF` plus 4.
fn find_header_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|position| position + 4)
}

/// Finds the Content-Length of a stream message from its header section,
/// including the empty line. The start line is not checked here.
fn stream_content_length(head: &[u8]) -> Result<Option<usize>, ParseError> {
    let Some(first_crlf) = head.windows(2).position(|pair| pair == b"\r\n") else {
        return Ok(None);
    };
    let fields = head
        .get(first_crlf + 2..head.len().saturating_sub(2))
        .unwrap_or_default();

    let mut found: Option<usize> = None;
    for field in FieldSplitter::new(fields) {
        let field = field?;
        let name = fields.get(field.name).unwrap_or_default();
        if !(name.eq_ignore_ascii_case(b"Content-Length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = fields.get(field.value).unwrap_or_default();
        let value = std::str::from_utf8(value).unwrap_or_default();
        found = Some(merge_content_length(found, value)?);
    }
    Ok(found)
}

/// Parses one Content-Length value and checks it against an earlier one.
fn merge_content_length(previous: Option<usize>, value: &str) -> Result<usize, ParseError> {
    let length = parse_content_length(value)?;
    match previous {
        Some(previous) if previous != length => Err(ParseError::malformed(format!(
            "message has conflicting Content-Length values {previous} and {length}"
        ))),
        _ => Ok(length),
    }
}

/// Parses a Content-Length value: `1*DIGIT` (RFC 3261 section 20.14).
pub(crate) fn parse_content_length(value: &str) -> Result<usize, ParseError> {
    let value = trim_lws(value);
    let max = u64::try_from(usize::MAX).unwrap_or(u64::MAX);
    parse_bounded(value, max)
        .and_then(|length| usize::try_from(length).ok())
        .ok_or_else(|| {
            ParseError::malformed(format!(
                "invalid Content-Length {}; expected a decimal number of bytes",
                excerpt(value)
            ))
        })
}

/// Returns the header fields of a header section, each line ending in CRLF.
fn split_headers(fields: &str) -> Result<Headers<'_>, ParseError> {
    let mut headers = Vec::new();
    for field in FieldSplitter::new(fields.as_bytes()) {
        let field = field?;
        let (Some(name), Some(value)) = (fields.get(field.name), fields.get(field.value)) else {
            return Err(ParseError::malformed(
                "header field does not split at character boundaries",
            ));
        };
        headers.push(Header { name, value });
    }
    Ok(Headers::from(headers))
}

/// Returns the body of a datagram from the bytes after the header section.
fn message_body<'a>(headers: &Headers<'_>, rest: &'a [u8]) -> Result<&'a [u8], ParseError> {
    let mut content_length = None;
    for header in headers.get_all("Content-Length") {
        content_length = Some(merge_content_length(content_length, header.value)?);
    }
    let Some(length) = content_length else {
        return Ok(rest);
    };
    rest.get(..length).ok_or_else(|| {
        ParseError::malformed(format!(
            "body is {} bytes, shorter than its Content-Length of {length}",
            rest.len()
        ))
    })
}

/// The parts of a start line.
enum StartLine<'a> {
    Request {
        method: &'a str,
        uri: &'a str,
        version: &'a str,
    },
    Response {
        version: &'a str,
        code: u16,
        reason: &'a str,
    },
}

fn parse_start_line(line: &str) -> Result<StartLine<'_>, ParseError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(ParseError::too_large(format!(
            "start line is {} bytes; the limit is {MAX_LINE_BYTES}",
            line.len()
        )));
    }
    let is_status_line = line
        .get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("SIP/"));
    if is_status_line {
        parse_status_line(line)
    } else {
        parse_request_line(line)
    }
}

/// Parses `Method SP Request-URI SP SIP-Version` (RFC 3261 section 7.1), with
/// exactly one SP between the elements and none at the end. RFC 4475 sections
/// 3.1.2.7 to 3.1.2.10 show the violations this rejects.
fn parse_request_line(line: &str) -> Result<StartLine<'_>, ParseError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::malformed(format!(
            "Request-Line {} is not 'Method SP Request-URI SP SIP-Version' with single spaces",
            excerpt(line)
        )));
    };

    if !is_token(method) {
        return Err(ParseError::malformed(format!(
            "request method {} is not a token",
            excerpt(method)
        )));
    }
    check_version(version)?;
    check_request_uri(uri)?;
    Ok(StartLine::Request {
        method,
        uri,
        version,
    })
}

/// Parses `SIP-Version SP Status-Code SP Reason-Phrase` (RFC 3261 section
/// 7.2).
///
/// A Status-Line that ends right after the code, without the SP before an
/// empty Reason-Phrase, is accepted, because a stateless proxy that dropped
/// such a response would break the call for a cosmetic fault.
fn parse_status_line(line: &str) -> Result<StartLine<'_>, ParseError> {
    let (version, rest) = line.split_once(' ').unwrap_or((line, ""));
    check_version(version)?;

    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let is_code = code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_digit());
    let code_value = parse_bounded(code, 699).filter(|value| is_code && *value >= 100);
    let Some(code) = code_value.and_then(|value| u16::try_from(value).ok()) else {
        return Err(ParseError::malformed(format!(
            "Status-Code {} is not a three-digit number from 100 to 699",
            excerpt(code)
        )));
    };

    if let Some(control) = reason
        .bytes()
        .find(|byte| byte.is_ascii_control() && *byte != b'\t')
    {
        return Err(ParseError::malformed(format!(
            "Reason-Phrase has the control character 0x{control:02x}"
        )));
    }
    Ok(StartLine::Response {
        version,
        code,
        reason,
    })
}

/// Checks a SIP-Version: `SIP/2.0` in any letter case (RFC 3261 section 7.1).
fn check_version(version: &str) -> Result<(), ParseError> {
    if version.eq_ignore_ascii_case("SIP/2.0") {
        return Ok(());
    }
    if is_sip_version_syntax(version) {
        return Err(ParseError::new(
            ErrorKind::UnsupportedVersion,
            format!(
                "SIP version {} is not supported; this server implements SIP/2.0",
                excerpt(version)
            ),
        ));
    }
    Err(ParseError::malformed(format!(
        "SIP-Version {} is not 'SIP/' followed by a version number",
        excerpt(version)
    )))
}

/// Checks a Request-URI: a scheme (RFC 3986 section 3.1), then URI characters
/// with valid `%` escapes. A SIP or SIPS Request-URI must not carry headers
/// after `?` (RFC 3261 section 19.1.1, table 1); RFC 4475 section 3.1.2.11
/// shows such a request.
fn check_request_uri(uri: &str) -> Result<(), ParseError> {
    let scheme = check_uri(uri).map_err(|reason| {
        ParseError::malformed(format!("Request-URI {} {reason}", excerpt(uri)))
    })?;

    if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        let after_userinfo = uri.split_once('@').map_or(uri, |(_, host)| host);
        if after_userinfo.contains('?') {
            return Err(ParseError::malformed(format!(
                "Request-URI {} carries headers after '?', which a SIP Request-URI must not",
                excerpt(uri)
            )));
        }
    }
    Ok(())
}

/// Checks the syntax shared by every URI the crate reads: a scheme, `:`, and
/// one or more URI characters with valid `%` escapes. Returns the scheme, or
/// the reason the URI is invalid.
pub(crate) fn check_uri(uri: &str) -> Result<&str, &'static str> {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err("has no scheme");
    };
    let mut scheme_bytes = scheme.bytes();
    let starts_alpha = scheme_bytes
        .next()
        .is_some_and(|byte| byte.is_ascii_alphabetic());
    let scheme_valid =
        scheme_bytes.all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'-' | b'.'));
    if !starts_alpha || !scheme_valid {
        return Err("does not start with a valid scheme");
    }
    if rest.is_empty() {
        return Err("is empty after the scheme");
    }

    let bytes = rest.as_bytes();
    for (index, byte) in bytes.iter().enumerate() {
        if !is_uri_byte(*byte) {
            return Err("has a character that is not allowed in a URI");
        }
        if *byte == b'%' {
            let escape = bytes.get(index + 1..index + 3);
            let valid = escape.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit));
            if !valid {
                return Err("has a '%' that is not followed by two hexadecimal digits");
            }
        }
    }
    Ok(scheme)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    const INVITE: &str = "INVITE sip:+12025550101@example.com;user=phone SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:+12025550100@example.org;user=phone>;tag=f1\r\n\
        To: <sip:+12025550101@example.com;user=phone>\r\n\
        Call-ID: c1@192.0.2.10\r\n\
        CSeq: 1 INVITE\r\n\
        Content-Length: 4\r\n\
        \r\n\
        v=0\r";

    fn request(text: &str) -> Request<'_> {
        match parse(text.as_bytes()).unwrap() {
            Message::Request(request) => request,
            Message::Response(_) => panic!("parsed a response"),
        }
    }

    fn error(text: &str) -> ParseError {
        parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn request_parts() {
        let request = request(INVITE);
        assert_eq!(request.method, "INVITE");
        assert_eq!(request.uri, "sip:+12025550101@example.com;user=phone");
        assert_eq!(request.version, "SIP/2.0");
        assert_eq!(request.headers.len(), 7);
        assert_eq!(request.body, b"v=0\r");
    }

    #[test]
    fn response_parts() {
        let text = "SIP/2.0 302 Moved Temporarily\r\nContact: <sip:a@example.com>\r\nl: 0\r\n\r\n";
        let Message::Response(response) = parse(text.as_bytes()).unwrap() else {
            panic!("parsed a request");
        };
        assert_eq!(response.code, 302);
        assert_eq!(response.reason, "Moved Temporarily");
        assert_eq!(response.headers.len(), 2);
        assert!(response.body.is_empty());
    }

    #[test]
    fn status_line_without_reason() {
        for line in ["SIP/2.0 100 ", "SIP/2.0 100"] {
            let text = format!("{line}\r\nl: 0\r\n\r\n");
            let Message::Response(response) = parse(text.as_bytes()).unwrap() else {
                panic!("parsed a request");
            };
            assert_eq!(response.reason, "", "{line:?}");
        }
    }

    #[test]
    fn status_codes_outside_range() {
        for code in ["099", "700", "4294967301", "20", "2x0", ""] {
            let text = format!("SIP/2.0 {code} OK\r\n\r\n");
            assert_eq!(error(&text).kind, ErrorKind::Malformed, "code {code:?}");
        }
    }

    #[test]
    fn version_any_case() {
        let text = INVITE.replacen("SIP/2.0\r\n", "sip/2.0\r\n", 1);
        assert_eq!(request(&text).version, "sip/2.0");
    }

    #[test]
    fn other_versions_unsupported() {
        let text = INVITE.replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1);
        assert_eq!(error(&text).kind, ErrorKind::UnsupportedVersion);
        assert_eq!(error(&text).status(), 505);
        let text = "SIP/1.0 200 OK\r\nl: 0\r\n\r\n";
        assert_eq!(error(text).kind, ErrorKind::UnsupportedVersion);
        let text = INVITE.replacen("SIP/2.0\r\n", "SIP/two\r\n", 1);
        assert_eq!(error(&text).kind, ErrorKind::Malformed);
        let text = INVITE.replacen("SIP/2.0\r\n", "HTTP/1.1\r\n", 1);
        assert_eq!(error(&text).kind, ErrorKind::Malformed);
    }

    #[test]
    fn request_line_spacing() {
        let cases = [
            "INVITE  sip:a@example.com SIP/2.0",
            "INVITE sip:a@example.com  SIP/2.0",
            "INVITE sip:a@example.com SIP/2.0 ",
            " INVITE sip:a@example.com SIP/2.0",
            "INVITE\tsip:a@example.com SIP/2.0",
            "INVITE sip:a@example.com",
            "INVITE sip:a@example.com; lr SIP/2.0",
        ];
        for line in cases {
            let text = format!("{line}\r\nl: 0\r\n\r\n");
            assert_eq!(error(&text).kind, ErrorKind::Malformed, "{line:?}");
        }
    }

    #[test]
    fn request_uri_rules() {
        let valid = [
            "sip:a@example.com",
            "sips:a@[2001:db8::1]:5061",
            "tel:+1-202-555-0101;phone-context=example.com",
            "soap.beep://192.0.2.103:3002",
            "sip:user;par=u%40example.net@example.com",
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com",
        ];
        for uri in valid {
            let text = format!("OPTIONS {uri} SIP/2.0\r\nl: 0\r\n\r\n");
            assert!(parse(text.as_bytes()).is_ok(), "{uri}");
        }
        let invalid = [
            "<sip:a@example.com>",
            "example.com",
            "1sip:a",
            "sip:",
            "sip:a@example.com?Route=%3Csip:example.com%3E",
            "sip:a@example.com;x=%zz",
            "sip:a@example.com;x=%4",
            "sip:a\"b@example.com",
            "sip:a@éxample.com",
        ];
        for uri in invalid {
            let text = format!("OPTIONS {uri} SIP/2.0\r\nl: 0\r\n\r\n");
            assert_eq!(error(&text).kind, ErrorKind::Malformed, "{uri}");
        }
    }

    #[test]
    fn method_must_be_token() {
        let text = "IN\"VITE sip:a@example.com SIP/2.0\r\nl: 0\r\n\r\n";
        assert!(error(text).detail.contains("not a token"));
    }

    #[test]
    fn body_follows_content_length() {
        let text = INVITE.replace("Content-Length: 4", "Content-Length: 2");
        assert_eq!(request(&text).body, b"v=");
        let text = INVITE.replace("Content-Length: 4", "l: 5");
        assert!(
            error(&text)
                .detail
                .contains("shorter than its Content-Length")
        );
        let text = INVITE.replace("Content-Length: 4", "Content-Length: -4");
        assert!(error(&text).detail.contains("invalid Content-Length"));
        let text = INVITE.replace(
            "Content-Length: 4",
            "Content-Length: 99999999999999999999999",
        );
        assert_eq!(error(&text).kind, ErrorKind::Malformed);
    }

    #[test]
    fn body_without_content_length() {
        let text = INVITE.replace("Content-Length: 4\r\n", "");
        assert_eq!(request(&text).body, b"v=0\r");
    }

    #[test]
    fn repeated_content_length() {
        let text = INVITE.replace("Content-Length: 4\r\n", "Content-Length: 4\r\nl: 4\r\n");
        assert_eq!(request(&text).body, b"v=0\r");
        let text = INVITE.replace("Content-Length: 4\r\n", "Content-Length: 4\r\nl: 3\r\n");
        assert!(error(&text).detail.contains("conflicting Content-Length"));
    }

    #[test]
    fn leading_crlf_skipped() {
        let text = format!("\r\n\r\n{INVITE}");
        assert_eq!(request(&text).method, "INVITE");
    }

    #[test]
    fn header_section_must_end() {
        let text = INVITE.replace("\r\n\r\n", "\r\n");
        assert!(error(&text).detail.contains("no empty line"));
        assert!(error("").detail.contains("no empty line"));
        assert!(error("\r\n\r\n").detail.contains("no empty line"));
    }

    #[test]
    fn message_without_headers() {
        let request = request("OPTIONS sip:a@example.com SIP/2.0\r\n\r\n");
        assert!(request.headers.is_empty());
        assert!(request.body.is_empty());
    }

    #[test]
    fn header_section_must_be_utf8() {
        let mut bytes = INVITE.as_bytes().to_vec();
        let position = INVITE.find("c1@").unwrap();
        bytes[position] = 0xff;
        let error = parse(&bytes).unwrap_err();
        assert!(error.detail.contains("not valid UTF-8"));
    }

    #[test]
    fn binary_body_allowed() {
        let mut bytes = INVITE
            .replace("Content-Length: 4", "Content-Length: 3")
            .into_bytes();
        let length = bytes.len();
        bytes[length - 4..].copy_from_slice(&[0x00, 0xff, 0x0d, 0x0a]);
        let Message::Request(request) = parse(&bytes).unwrap() else {
            panic!("parsed a response");
        };
        assert_eq!(request.body, &[0x00, 0xff, 0x0d]);
    }

    #[test]
    fn message_size_limit() {
        let padding = "a".repeat(MAX_MESSAGE_BYTES);
        let text = INVITE.replace("v=0\r", &padding);
        assert_eq!(error(&text).kind, ErrorKind::TooLarge);
        assert_eq!(error(&text).status(), 513);
    }

    #[test]
    fn start_line_limit() {
        let uri = format!("sip:{}@example.com", "a".repeat(MAX_LINE_BYTES));
        let text = format!("OPTIONS {uri} SIP/2.0\r\nl: 0\r\n\r\n");
        assert_eq!(error(&text).kind, ErrorKind::TooLarge);
    }

    #[test]
    fn frame_complete_message() {
        assert_eq!(frame(INVITE.as_bytes()).unwrap(), Some(INVITE.len()));
    }

    #[test]
    fn frame_partial_message() {
        for end in 0..INVITE.len() {
            assert_eq!(
                frame(&INVITE.as_bytes()[..end]).unwrap(),
                None,
                "prefix {end}"
            );
        }
    }

    #[test]
    fn frame_two_messages() {
        let stream = format!("{INVITE}{INVITE}");
        let first = frame(stream.as_bytes()).unwrap().unwrap();
        assert_eq!(first, INVITE.len());
        let second = frame(&stream.as_bytes()[first..]).unwrap().unwrap();
        assert_eq!(second, INVITE.len());
    }

    #[test]
    fn frame_keepalives() {
        assert_eq!(frame(b"\r\n\r\n").unwrap(), Some(4));
        assert_eq!(frame(b"\r\n").unwrap(), Some(2));
        assert_eq!(frame(b"\r").unwrap(), None);
        assert_eq!(frame(b"").unwrap(), None);
        let stream = format!("\r\n\r\n{INVITE}");
        assert_eq!(frame(stream.as_bytes()).unwrap(), Some(4));
        assert!(is_keepalive(b"\r\n\r\n"));
        assert!(is_keepalive(b"\r\n"));
        assert!(!is_keepalive(b""));
        assert!(!is_keepalive(b"\r\n\r"));
        assert!(!is_keepalive(b"\n\n"));
        assert!(!is_keepalive(INVITE.as_bytes()));
        let stream = b"\r\n\rINVITE";
        assert_eq!(frame(stream).unwrap(), Some(2));
        assert!(frame(&stream[2..]).is_err());
        assert!(frame(b"\nINVITE").is_err());
    }

    #[test]
    fn frame_requires_content_length() {
        let text = INVITE.replace("Content-Length: 4\r\n", "");
        let error = frame(text.as_bytes()).unwrap_err();
        assert!(error.detail.contains("no Content-Length"));
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn frame_compact_and_folded_length() {
        let text = INVITE.replace("Content-Length: 4", "L:\r\n 4");
        assert_eq!(frame(text.as_bytes()).unwrap(), Some(text.len()));
    }

    #[test]
    fn frame_invalid_content_length() {
        for value in ["-1", "4 4", "x", ""] {
            let text = INVITE.replace("Content-Length: 4", &format!("Content-Length: {value}"));
            assert!(frame(text.as_bytes()).is_err(), "{value:?}");
        }
        let text = INVITE.replace("Content-Length: 4\r\n", "Content-Length: 4\r\nl: 5\r\n");
        assert!(frame(text.as_bytes()).is_err());
    }

    #[test]
    fn frame_size_limits() {
        let text = INVITE.replace("Content-Length: 4", "Content-Length: 65535");
        assert_eq!(
            frame(text.as_bytes()).unwrap_err().kind,
            ErrorKind::TooLarge
        );
        let text = INVITE.replace(
            "Content-Length: 4",
            "Content-Length: 99999999999999999999999",
        );
        assert!(frame(text.as_bytes()).is_err());

        let endless = format!(
            "INVITE sip:a@example.com SIP/2.0\r\nSubject: {}",
            "a".repeat(MAX_MESSAGE_BYTES)
        );
        assert_eq!(
            frame(endless.as_bytes()).unwrap_err().kind,
            ErrorKind::TooLarge
        );
        assert_eq!(frame(&endless.as_bytes()[..1000]).unwrap(), None);
    }

    #[test]
    fn frame_malformed_header_line() {
        let text = INVITE.replace("Max-Forwards: 70", "Max-Forwards 70");
        assert!(frame(text.as_bytes()).is_err());
    }

    #[test]
    fn message_accessors() {
        let message = parse(INVITE.as_bytes()).unwrap();
        assert_eq!(message.headers().len(), 7);
        assert_eq!(message.body(), b"v=0\r");
    }
}
