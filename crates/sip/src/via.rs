//! The Via header field (RFC 3261 section 20.42 and the `Via` rule of section
//! 25.1, with `rport` from RFC 3581).

use crate::error::{ParseError, excerpt};
use crate::syntax::{Cursor, is_token_byte, parse_bounded};

/// Maximum number of Via entries in one header value. Max-Forwards is at most
/// 255, so a request crosses at most 255 proxies and carries at most 256
/// entries.
pub const MAX_VIA_ENTRIES: usize = 256;

/// Maximum number of parameters of one Via entry.
pub const MAX_VIA_PARAMS: usize = 32;

/// One entry of a Via header: `sent-protocol LWS sent-by *( SEMI via-params )`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// The protocol name and version, `SIP/2.0`. Where the value writes white
    /// space around the `/`, as RFC 3261 allows, the field is the canonical
    /// `"SIP/2.0"` rather than a slice of the value.
    pub protocol: &'a str,
    /// The transport as written: `UDP`, `TCP`, `TLS`, `SCTP`, `WS`, `WSS` or
    /// another token.
    pub transport: &'a str,
    /// The host of `sent-by`: a host name, an IPv4 address, or an IPv6
    /// address without its brackets.
    pub host: &'a str,
    /// The port of `sent-by`, when written.
    pub port: Option<u16>,
    /// The `branch` parameter, when present with a value.
    pub branch: Option<&'a str>,
    /// The `received` parameter, when present with a value.
    pub received: Option<&'a str>,
    /// The `rport` parameter of RFC 3581: `None` when absent, `Some(None)`
    /// when present without a value (as a client writes it), `Some(Some(port))`
    /// when a server has filled it in.
    pub rport: Option<Option<u16>>,
    /// Every parameter in order, `branch`, `received` and `rport` included,
    /// as `(name, value)`. A quoted-string value keeps its quotes.
    pub params: Vec<(&'a str, Option<&'a str>)>,
}

/// Parses a Via header value, which may hold several comma-separated entries.
///
/// LWS is allowed around `/`, `:`, `;`, `=` and `,` (RFC 3261 section 25.1).
/// The `sent-protocol` must be SIP/2.0 in any letter case when written with
/// white space around the `/`, because [`Via::protocol`] then cannot be a
/// slice of the value. Parameter names are tokens. A value is a token, a host
/// or a quoted-string. `branch` and `rport` must be tokens and digits.
pub fn parse_via(value: &str) -> Result<Vec<Via<'_>>, ParseError> {
    let mut cursor = Cursor::new(value);
    let mut entries = Vec::new();
    loop {
        cursor.skip_lws();
        if entries.len() >= MAX_VIA_ENTRIES {
            return Err(ParseError::too_large(format!(
                "Via header has more than {MAX_VIA_ENTRIES} entries"
            )));
        }
        entries.push(parse_entry(&mut cursor, value)?);

        cursor.skip_lws();
        if cursor.is_at_end() {
            return Ok(entries);
        }
        if !cursor.eat(b',') {
            return Err(invalid(value, "expected ',' or ';' after a Via entry"));
        }
    }
}

fn invalid(value: &str, reason: &str) -> ParseError {
    ParseError::malformed(format!("invalid Via header {}: {reason}", excerpt(value)))
}

/// Parses one `via-parm` at the cursor.
fn parse_entry<'a>(cursor: &mut Cursor<'a>, value: &str) -> Result<Via<'a>, ParseError> {
    let protocol = parse_sent_protocol(cursor, value)?;
    let transport = expect_token(cursor, value, "transport")?;

    if !cursor.skip_lws() {
        return Err(invalid(
            value,
            "expected white space between the transport and the host",
        ));
    }
    let host = parse_host(cursor, value)?;
    let port = parse_port(cursor, value)?;

    let mut via = Via {
        protocol,
        transport,
        host,
        port,
        branch: None,
        received: None,
        rport: None,
        params: Vec::new(),
    };
    parse_params(cursor, value, &mut via)?;
    Ok(via)
}

/// Parses `protocol-name SLASH protocol-version SLASH`, leaving the cursor at
/// the transport, and returns the protocol.
fn parse_sent_protocol<'a>(cursor: &mut Cursor<'a>, value: &str) -> Result<&'a str, ParseError> {
    let start = cursor.position();
    let name = expect_token(cursor, value, "protocol name")?;
    expect_separator(cursor, value, b'/', "'/' after the protocol name")?;
    let version = expect_token(cursor, value, "protocol version")?;
    let end = cursor.position();
    expect_separator(cursor, value, b'/', "'/' after the protocol version")?;

    let written = cursor.slice(start, end);
    if written.len() == name.len() + 1 + version.len() {
        return Ok(written);
    }
    if name.eq_ignore_ascii_case("SIP") && version == "2.0" {
        return Ok("SIP/2.0");
    }
    Err(invalid(
        value,
        "a protocol other than SIP/2.0 is written with white space around '/'",
    ))
}

/// Moves past `SWS separator SWS`.
fn expect_separator(
    cursor: &mut Cursor<'_>,
    value: &str,
    separator: u8,
    what: &str,
) -> Result<(), ParseError> {
    cursor.skip_lws();
    if !cursor.eat(separator) {
        return Err(invalid(value, &format!("expected {what}")));
    }
    cursor.skip_lws();
    Ok(())
}

fn expect_token<'a>(
    cursor: &mut Cursor<'a>,
    value: &str,
    what: &str,
) -> Result<&'a str, ParseError> {
    let token = cursor.take_while(is_token_byte);
    if token.is_empty() {
        return Err(invalid(value, &format!("expected the {what}, a token")));
    }
    Ok(token)
}

/// Parses the host of `sent-by`: `hostname / IPv4address / IPv6reference`.
fn parse_host<'a>(cursor: &mut Cursor<'a>, value: &str) -> Result<&'a str, ParseError> {
    if cursor.eat(b'[') {
        let address =
            cursor.take_while(|byte| byte.is_ascii_hexdigit() || byte == b':' || byte == b'.');
        if !cursor.eat(b']') || !address.contains(':') {
            return Err(invalid(
                value,
                "expected an IPv6 address between '[' and ']'",
            ));
        }
        return Ok(address);
    }

    let host =
        cursor.take_while(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.');
    let labels = host.strip_suffix('.').unwrap_or(host);
    if labels.is_empty() || !labels.split('.').all(is_host_label) {
        return Err(invalid(value, "expected a host name or an IP address"));
    }
    Ok(host)
}

/// Returns whether `label` is a `domainlabel` or a part of an IPv4 address:
/// alphanumerics and `-`, not starting or ending with `-`.
fn is_host_label(label: &str) -> bool {
    !label.is_empty() && !label.starts_with('-') && !label.ends_with('-')
}

/// Parses the optional `COLON port` of `sent-by`.
fn parse_port(cursor: &mut Cursor<'_>, value: &str) -> Result<Option<u16>, ParseError> {
    let before = cursor.position();
    cursor.skip_lws();
    if !cursor.eat(b':') {
        cursor.reset_to(before);
        return Ok(None);
    }
    cursor.skip_lws();
    let digits = cursor.take_while(|byte| byte.is_ascii_digit());
    let port = parse_bounded(digits, u64::from(u16::MAX))
        .and_then(|port| u16::try_from(port).ok())
        .ok_or_else(|| invalid(value, "expected a port number from 0 to 65535 after ':'"))?;
    Ok(Some(port))
}

/// Parses `*( SEMI via-params )` into `via`.
fn parse_params<'a>(
    cursor: &mut Cursor<'a>,
    value: &str,
    via: &mut Via<'a>,
) -> Result<(), ParseError> {
    loop {
        let before = cursor.position();
        cursor.skip_lws();
        if !cursor.eat(b';') {
            cursor.reset_to(before);
            return Ok(());
        }
        if via.params.len() >= MAX_VIA_PARAMS {
            return Err(ParseError::too_large(format!(
                "Via entry has more than {MAX_VIA_PARAMS} parameters"
            )));
        }
        cursor.skip_lws();
        let name = expect_token(cursor, value, "parameter name")?;

        let before_equal = cursor.position();
        cursor.skip_lws();
        let param_value = if cursor.eat(b'=') {
            cursor.skip_lws();
            Some(parse_param_value(cursor, value)?)
        } else {
            cursor.reset_to(before_equal);
            None
        };

        record_param(via, name, param_value, value)?;
    }
}

/// Parses a `gen-value`: a token, a host (which may be a bracketed IPv6
/// reference) or a quoted-string.
fn parse_param_value<'a>(cursor: &mut Cursor<'a>, value: &str) -> Result<&'a str, ParseError> {
    let start = cursor.position();
    if cursor.peek() == Some(b'"') {
        skip_quoted_string(cursor).map_err(|reason| invalid(value, reason))?;
        return Ok(cursor.slice(start, cursor.position()));
    }
    let text = cursor.take_while(|byte| is_token_byte(byte) || matches!(byte, b':' | b'[' | b']'));
    if text.is_empty() {
        return Err(invalid(value, "expected a parameter value after '='"));
    }
    Ok(text)
}

/// Moves past a `quoted-string` that starts at the cursor.
pub(crate) fn skip_quoted_string(cursor: &mut Cursor<'_>) -> Result<(), &'static str> {
    if !cursor.eat(b'"') {
        return Err("expected '\"'");
    }
    loop {
        match cursor.peek() {
            None => return Err("a quoted string has no closing '\"'"),
            Some(b'"') => {
                cursor.advance();
                return Ok(());
            }
            Some(b'\\') => {
                let escaped = cursor.peek_at(1);
                let valid =
                    escaped.is_some_and(|byte| byte <= 0x7f && byte != b'\r' && byte != b'\n');
                if !valid {
                    return Err("a quoted string has an invalid quoted-pair");
                }
                cursor.advance();
                cursor.advance();
            }
            Some(b'\r' | b' ' | b'\t') => {
                if !cursor.skip_lws() {
                    return Err("a quoted string has a CR that is not part of a fold");
                }
            }
            Some(byte) if byte >= 0x80 || (0x21..=0x7e).contains(&byte) => cursor.advance(),
            Some(_) => return Err("a quoted string has a control character"),
        }
    }
}

/// Stores a parameter in `via`, filling `branch`, `received` and `rport`.
fn record_param<'a>(
    via: &mut Via<'a>,
    name: &'a str,
    param_value: Option<&'a str>,
    value: &str,
) -> Result<(), ParseError> {
    if name.eq_ignore_ascii_case("branch") {
        match param_value {
            Some(branch) if branch.bytes().all(is_token_byte) => via.branch = Some(branch),
            _ => return Err(invalid(value, "the branch parameter needs a token value")),
        }
    } else if name.eq_ignore_ascii_case("received") {
        match param_value {
            Some(received) if !received.starts_with('"') => via.received = Some(received),
            _ => return Err(invalid(value, "the received parameter needs an address")),
        }
    } else if name.eq_ignore_ascii_case("rport") {
        let port = match param_value {
            None => None,
            Some(digits) => Some(
                parse_bounded(digits, u64::from(u16::MAX))
                    .and_then(|port| u16::try_from(port).ok())
                    .ok_or_else(|| invalid(value, "the rport parameter needs a port number"))?,
            ),
        };
        via.rport = Some(port);
    }
    via.params.push((name, param_value));
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn one(value: &str) -> Via<'_> {
        let mut entries = parse_via(value).unwrap();
        assert_eq!(entries.len(), 1, "{value}");
        entries.remove(0)
    }

    #[test]
    fn simple_entry() {
        let via = one("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1");
        assert_eq!(via.protocol, "SIP/2.0");
        assert_eq!(via.transport, "UDP");
        assert_eq!(via.host, "192.0.2.10");
        assert_eq!(via.port, Some(5060));
        assert_eq!(via.branch, Some("z9hG4bK-1"));
        assert_eq!(via.received, None);
        assert_eq!(via.rport, None);
        assert_eq!(via.params, [("branch", Some("z9hG4bK-1"))]);
    }

    #[test]
    fn rport_forms() {
        let via = one("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d8;rport");
        assert_eq!(via.rport, Some(None));
        let via = one("SIP/2.0/UDP host.example.com;received=192.0.2.1;rport=5061;branch=z9hG4bK1");
        assert_eq!(via.rport, Some(Some(5061)));
        assert_eq!(via.received, Some("192.0.2.1"));
        assert_eq!(via.params.len(), 3);
        assert!(parse_via("SIP/2.0/UDP h;rport=70000").is_err());
        assert!(parse_via("SIP/2.0/UDP h;rport=x").is_err());
    }

    #[test]
    fn ipv6_host() {
        let via = one("SIP/2.0/TLS [2001:db8::9:1]:5061;branch=z9hG4bKas;received=2001:db8::9:255");
        assert_eq!(via.host, "2001:db8::9:1");
        assert_eq!(via.port, Some(5061));
        assert_eq!(via.received, Some("2001:db8::9:255"));
        assert!(parse_via("SIP/2.0/UDP [2001:db8::1;branch=z9hG4bK").is_err());
        assert!(parse_via("SIP/2.0/UDP []").is_err());
    }

    #[test]
    fn lws_everywhere() {
        let value = "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239";
        let entries = parse_via(value).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].protocol, "SIP/2.0");
        assert_eq!(entries[0].transport, "TCP");
        assert_eq!(entries[0].host, "spindle.example.com");
        assert_eq!(entries[0].branch, Some("z9hG4bK9ikj8"));
        assert_eq!(entries[1].transport, "UDP");
        assert_eq!(entries[1].host, "192.168.255.111");
        assert_eq!(entries[1].branch, Some("z9hG4bK30239"));
    }

    #[test]
    fn folded_protocol() {
        let via = one("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw");
        assert_eq!(via.protocol, "SIP/2.0");
        assert_eq!(via.transport, "UDP");
        assert_eq!(via.host, "192.0.2.2");
    }

    #[test]
    fn other_protocol_as_written() {
        let via = one("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw");
        assert_eq!(via.protocol, "SIP/7.0");
        assert!(parse_via("SIP / 7.0 / UDP c.example.com").is_err());
    }

    #[test]
    fn port_with_lws() {
        let via = one("SIP/2.0/UDP host.example.com : 5060 ; branch=z9hG4bK1");
        assert_eq!(via.port, Some(5060));
        assert_eq!(via.branch, Some("z9hG4bK1"));
    }

    #[test]
    fn quoted_and_valueless_params() {
        let via =
            one("SIP/2.0/UDP h.example.com;branch=z9hG4bK1;x=\"a, b;c\";lr;maddr=[2001:db8::1]");
        assert_eq!(
            via.params,
            [
                ("branch", Some("z9hG4bK1")),
                ("x", Some("\"a, b;c\"")),
                ("lr", None),
                ("maddr", Some("[2001:db8::1]")),
            ]
        );
    }

    #[test]
    fn transports_as_written() {
        for transport in ["UDP", "TCP", "TLS", "SCTP", "WS", "WSS", "UNKNOWN", "udp"] {
            let value = format!("SIP/2.0/{transport} t.example.com;branch=z9hG4bK1");
            assert_eq!(one(&value).transport, transport);
        }
    }

    #[test]
    fn rejects_rfc4475_badinv01() {
        assert!(parse_via("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
    }

    #[test]
    fn rejects_malformed_entries() {
        let cases = [
            "",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP ",
            "SIP/2.0 192.0.2.1",
            "SIP/2.0/UDP192.0.2.1",
            "SIP/2.0/UDP 192.0.2.1:",
            "SIP/2.0/UDP 192.0.2.1:65536",
            "SIP/2.0/UDP host_1.example.com",
            "SIP/2.0/UDP -host.example.com",
            "SIP/2.0/UDP a..b",
            "SIP/2.0/UDP 192.0.2.1;branch",
            "SIP/2.0/UDP 192.0.2.1;branch=\"x\"",
            "SIP/2.0/UDP 192.0.2.1;received",
            "SIP/2.0/UDP 192.0.2.1;x=\"open",
            "SIP/2.0/UDP 192.0.2.1;x=",
            "SIP/2.0/UDP 192.0.2.1,",
            "SIP/2.0/UDP 192.0.2.1 junk",
        ];
        for value in cases {
            assert!(parse_via(value).is_err(), "{value:?}");
        }
    }

    #[test]
    fn trailing_dot_host() {
        assert_eq!(one("SIP/2.0/UDP example.com.").host, "example.com.");
    }

    #[test]
    fn entry_and_param_limits() {
        let value = vec!["SIP/2.0/UDP h"; MAX_VIA_ENTRIES + 1].join(",");
        assert_eq!(
            parse_via(&value).unwrap_err().kind,
            crate::ErrorKind::TooLarge
        );
        let value = vec!["SIP/2.0/UDP h"; MAX_VIA_ENTRIES].join(",");
        assert_eq!(parse_via(&value).unwrap().len(), MAX_VIA_ENTRIES);
        let value = format!("SIP/2.0/UDP h{}", ";p".repeat(MAX_VIA_PARAMS + 1));
        assert_eq!(
            parse_via(&value).unwrap_err().kind,
            crate::ErrorKind::TooLarge
        );
    }
}
