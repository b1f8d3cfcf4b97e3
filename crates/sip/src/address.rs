//! The address header fields From, To and Contact (RFC 3261 sections 20.10,
//! 20.20 and 20.39): `( name-addr / addr-spec ) *( SEMI generic-param )`.

use crate::message::check_uri;
use crate::syntax::{Cursor, is_token_byte};
use crate::via::skip_quoted_string;

/// Maximum number of parameters after one address, such as `tag` and
/// `expires`. No address in the messages of RFC 4475 has more than three.
pub const MAX_ADDRESS_PARAMS: usize = 32;

/// The header field an address belongs to. Contact differs from From and To
/// because it allows a list and `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressField {
    /// From or To: exactly one address.
    Single,
    /// Contact: `*`, or one or more comma-separated addresses.
    Contact,
}

/// Checks a From, To or Contact value and returns the reason it is invalid.
pub(crate) fn check_address_value(value: &str, field: AddressField) -> Result<(), String> {
    let mut cursor = Cursor::new(value);
    cursor.skip_lws();

    if field == AddressField::Contact && cursor.peek() == Some(b'*') {
        cursor.advance();
        check_params(&mut cursor)?;
        return expect_end(&mut cursor);
    }

    loop {
        check_address(&mut cursor)?;
        check_params(&mut cursor)?;
        cursor.skip_lws();
        if cursor.is_at_end() {
            return Ok(());
        }
        if field == AddressField::Single || !cursor.eat(b',') {
            return Err(format!(
                "unexpected text {} after the address",
                crate::error::excerpt(cursor.rest())
            ));
        }
        cursor.skip_lws();
    }
}

fn expect_end(cursor: &mut Cursor<'_>) -> Result<(), String> {
    cursor.skip_lws();
    if cursor.is_at_end() {
        Ok(())
    } else {
        Err("unexpected text after '*'".to_owned())
    }
}

/// Checks `name-addr / addr-spec` at the cursor.
///
/// The display name is a quoted-string or tokens separated by white space. A
/// token directly followed by `<` is accepted too (RFC 4475 section 3.1.1.6
/// records this as a known defect of the RFC 3261 grammar). A URI outside
/// `<>` must not contain `,`, `;` or `?` (RFC 3261 section 20.10): its `;`
/// starts the header parameters, and a `?` makes it invalid.
fn check_address(cursor: &mut Cursor<'_>) -> Result<(), String> {
    if cursor.peek() == Some(b'"') {
        skip_quoted_string(cursor).map_err(|reason| format!("display name: {reason}"))?;
        cursor.skip_lws();
        return check_bracketed_uri(cursor);
    }
    if cursor.peek() == Some(b'<') {
        return check_bracketed_uri(cursor);
    }

    let start = cursor.position();
    let first = cursor.take_while(is_token_byte);
    if cursor.peek() == Some(b':') && !first.is_empty() {
        cursor.reset_to(start);
        return check_bare_uri(cursor);
    }
    loop {
        cursor.skip_lws();
        match cursor.peek() {
            Some(b'<') => return check_bracketed_uri(cursor),
            Some(byte) if is_token_byte(byte) => {
                cursor.take_while(is_token_byte);
            }
            _ => {
                return Err(
                    "display name has a character that is not allowed outside quotes".to_owned(),
                );
            }
        }
    }
}

/// Checks `LAQUOT addr-spec RAQUOT`, with no white space inside the brackets
/// (RFC 4475 section 3.1.2.14).
fn check_bracketed_uri(cursor: &mut Cursor<'_>) -> Result<(), String> {
    if !cursor.eat(b'<') {
        return Err("expected '<' before the URI".to_owned());
    }
    let uri = cursor.take_while(|byte| byte != b'>');
    if !cursor.eat(b'>') {
        return Err("'<' has no matching '>'".to_owned());
    }
    check_uri(uri).map_err(|reason| format!("URI {} {reason}", crate::error::excerpt(uri)))?;
    Ok(())
}

/// Checks an `addr-spec` written without angle brackets.
fn check_bare_uri(cursor: &mut Cursor<'_>) -> Result<(), String> {
    let uri = cursor.take_while(|byte| !matches!(byte, b';' | b',' | b' ' | b'\t' | b'\r'));
    if uri.contains('?') {
        return Err(format!(
            "URI {} has headers after '?' but is not enclosed in '<>'",
            crate::error::excerpt(uri)
        ));
    }
    check_uri(uri).map_err(|reason| format!("URI {} {reason}", crate::error::excerpt(uri)))?;
    Ok(())
}

/// Checks `*( SEMI generic-param )`, where `generic-param = token [ EQUAL
/// gen-value ]` and `gen-value = token / host / quoted-string`.
fn check_params(cursor: &mut Cursor<'_>) -> Result<(), String> {
    let mut count = 0;
    loop {
        let before = cursor.position();
        cursor.skip_lws();
        if !cursor.eat(b';') {
            cursor.reset_to(before);
            return Ok(());
        }
        count += 1;
        if count > MAX_ADDRESS_PARAMS {
            return Err(format!("more than {MAX_ADDRESS_PARAMS} parameters"));
        }

        cursor.skip_lws();
        if cursor.take_while(is_token_byte).is_empty() {
            return Err("a ';' is not followed by a parameter name".to_owned());
        }
        let before_equal = cursor.position();
        cursor.skip_lws();
        if !cursor.eat(b'=') {
            cursor.reset_to(before_equal);
            continue;
        }
        cursor.skip_lws();
        if cursor.peek() == Some(b'"') {
            skip_quoted_string(cursor).map_err(|reason| format!("parameter value: {reason}"))?;
        } else if cursor
            .take_while(|byte| is_token_byte(byte) || matches!(byte, b':' | b'[' | b']'))
            .is_empty()
        {
            return Err("a parameter has '=' but no value".to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn single(value: &str) -> Result<(), String> {
        check_address_value(value, AddressField::Single)
    }

    fn contact(value: &str) -> Result<(), String> {
        check_address_value(value, AddressField::Contact)
    }

    #[test]
    fn accepts_valid_forms() {
        let cases = [
            "sip:a@example.com",
            "<sip:a@example.com>",
            "<sip:a@example.com>;tag=1",
            "\"Alice\" <sip:a@example.com>;tag=1",
            "Alice Smith <sip:a@example.com>",
            "caller<sip:caller@example.com>;tag=323",
            "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
            "token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.",
            "\"BEL:\\\u{7} NUL:\\\0 DEL:\\\u{7f}\" <sip:a@example.com>",
            "isbn:2983792873",
            "<http://www.example.com>;tag=3234233",
            "<tel:+1-202-555-0101>",
            "<sip:+12025550100@example.org;user=phone>;tag=f1",
            "sip:+19725552222@gw1.example.net;unknownparam",
            "<sip:a@example.com>;maddr=[2001:db8::1]",
        ];
        for value in cases {
            assert_eq!(single(value), Ok(()), "{value:?}");
        }
    }

    #[test]
    fn rejects_rfc4475_invalid_forms() {
        let cases = [
            "\"Mr. J. User <sip:j.user@example.com>",
            "\"Watson, Thomas\" < sip:t.watson@example.org >",
            "Watson, Thomas <sip:t.watson@example.org>",
            "\"Joe\" <sip:joe@example.org>;;;;",
        ];
        for value in cases {
            assert!(single(value).is_err(), "{value:?}");
        }
        assert!(contact("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
    }

    #[test]
    fn rejects_other_errors() {
        let cases = [
            "",
            "<sip:a@example.com",
            "<>",
            "<example.com>",
            "sip:a@example.com, sip:b@example.com",
            "<sip:a@example.com>;tag=",
            "<sip:a@example.com> x",
            "\"a\" sip:a@example.com",
            "a\u{1} <sip:a@example.com>",
            "\"a\u{1}\" <sip:a@example.com>",
        ];
        for value in cases {
            assert!(single(value).is_err(), "{value:?}");
        }
    }

    #[test]
    fn contact_lists_and_star() {
        assert_eq!(contact("*"), Ok(()));
        assert_eq!(contact("* ;expires=0"), Ok(()));
        assert_eq!(
            contact("<sip:a@example.com>, \"B\" <sip:b@example.com>;q=0.5"),
            Ok(())
        );
        assert_eq!(
            contact("sip:a@example.com;expires=60, sip:b@example.com"),
            Ok(())
        );
        assert_eq!(
            contact("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>"),
            Ok(())
        );
        assert!(contact("*, <sip:a@example.com>").is_err());
        assert!(contact("<sip:a@example.com>,").is_err());
    }

    #[test]
    fn param_limit() {
        let value = format!("<sip:a@example.com>{}", ";p".repeat(MAX_ADDRESS_PARAMS));
        assert_eq!(single(&value), Ok(()));
        let value = format!("<sip:a@example.com>{}", ";p".repeat(MAX_ADDRESS_PARAMS + 1));
        assert!(single(&value).is_err());
    }
}
