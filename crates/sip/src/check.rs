//! The header checks a stateless server runs on a parsed message: presence,
//! count and syntax of the fields it relies on (RFC 3261 sections 8.1.1 and
//! 20).

use crate::address::{AddressField, check_address_value};
use crate::error::{ParseError, excerpt};
use crate::header::Headers;
use crate::message::{Request, Response, parse_content_length};
use crate::syntax::{Cursor, is_token_byte, is_word_byte, parse_bounded, trim_lws};
use crate::via::parse_via;

/// The largest CSeq sequence number: RFC 3261 section 8.1.1.5 requires it to
/// be less than 2^31.
pub const MAX_CSEQ: u32 = (1 << 31) - 1;

/// The largest Max-Forwards value (RFC 3261 section 20.22).
pub const MAX_FORWARDS: u8 = 255;

/// Checks the header fields of a request that a stateless server relies on,
/// in this order:
///
/// 1. Via: present, and each value parses ([`parse_via`]).
/// 2. From and To: exactly one each, `name-addr` or `addr-spec` with
///    parameters (RFC 3261 sections 20.20 and 20.39).
/// 3. Call-ID: exactly one, `word [ "@" word ]` (RFC 3261 section 20.8).
/// 4. CSeq: exactly one, with a number of at most [`MAX_CSEQ`] and the method
///    of the Request-Line (RFC 3261 section 8.1.1.5). ACK and CANCEL carry
///    their own method in CSeq, so the rule holds for them too.
/// 5. Max-Forwards: at most one, from 0 to [`MAX_FORWARDS`].
/// 6. Content-Length: at most one, a number.
/// 7. Date: at most one, an `rfc1123-date` in GMT (RFC 3261 section 20.17).
/// 8. Contact: each value is `*` or a list of addresses (RFC 3261 section
///    20.10).
///
/// Every failure is [`ErrorKind::Malformed`](crate::ErrorKind::Malformed), so
/// the server responds with 400 Bad Request. A From tag, a Max-Forwards header and a
/// branch with the `z9hG4bK` cookie are not required, so that requests in the
/// RFC 2543 style of RFC 4475 section 3.4.1 pass.
pub fn check_request(request: &Request<'_>) -> Result<(), ParseError> {
    let headers = &request.headers;
    check_via(headers)?;
    check_single_address(headers, "From")?;
    check_single_address(headers, "To")?;
    check_call_id(headers)?;

    let (_, method) = parse_cseq(required_single(headers, "CSeq")?)?;
    if method != request.method {
        return Err(ParseError::malformed(format!(
            "CSeq method {} does not match the request method {}",
            excerpt(method),
            excerpt(request.method)
        )));
    }

    check_max_forwards(headers)?;
    check_content_length(headers)?;
    check_date(headers)?;
    check_contact(headers)
}

/// Checks the header fields of a response that a stateless proxy relies on:
/// Via, From, To, Call-ID, CSeq, Content-Length, Date and Contact as for
/// [`check_request`]. The CSeq method may be any token. A proxy drops a
/// response that fails, because SIP sends no response to a response.
pub fn check_response(response: &Response<'_>) -> Result<(), ParseError> {
    let headers = &response.headers;
    check_via(headers)?;
    check_single_address(headers, "From")?;
    check_single_address(headers, "To")?;
    check_call_id(headers)?;
    parse_cseq(required_single(headers, "CSeq")?)?;
    check_content_length(headers)?;
    check_date(headers)?;
    check_contact(headers)
}

/// Parses a CSeq value, `1*DIGIT LWS Method` (RFC 3261 section 20.16), into
/// the sequence number and the method. The number may have leading zeros and
/// must be at most [`MAX_CSEQ`].
pub fn parse_cseq(value: &str) -> Result<(u32, &str), ParseError> {
    let invalid = |reason: &str| {
        ParseError::malformed(format!("invalid CSeq header {}: {reason}", excerpt(value)))
    };

    let mut cursor = Cursor::new(trim_lws(value));
    let digits = cursor.take_while(|byte| byte.is_ascii_digit());
    if digits.is_empty() {
        return Err(invalid("expected a sequence number"));
    }
    let number = parse_bounded(digits, u64::from(MAX_CSEQ))
        .and_then(|number| u32::try_from(number).ok())
        .ok_or_else(|| invalid("the sequence number exceeds 2^31 - 1"))?;

    if !cursor.skip_lws() {
        return Err(invalid("expected white space after the sequence number"));
    }
    let method = cursor.take_while(is_token_byte);
    if method.is_empty() || !cursor.is_at_end() {
        return Err(invalid("expected a method token after the sequence number"));
    }
    Ok((number, method))
}

/// Returns the value of the one header named `name`, or an error when it is
/// missing or repeated.
fn required_single<'a>(headers: &Headers<'a>, name: &str) -> Result<&'a str, ParseError> {
    optional_single(headers, name)?
        .ok_or_else(|| ParseError::malformed(format!("missing {name} header")))
}

/// Returns the value of the header named `name` when it appears once, `None`
/// when it is absent, or an error when it is repeated (RFC 4475 section
/// 3.3.8).
fn optional_single<'a>(headers: &Headers<'a>, name: &str) -> Result<Option<&'a str>, ParseError> {
    let mut matching = headers.get_all(name);
    let first = matching.next().map(|header| header.value);
    if matching.next().is_some() {
        return Err(ParseError::malformed(format!(
            "{name} header appears more than once"
        )));
    }
    Ok(first)
}

fn check_via(headers: &Headers<'_>) -> Result<(), ParseError> {
    let mut count = 0;
    for header in headers.get_all("Via") {
        parse_via(header.value)?;
        count += 1;
    }
    if count == 0 {
        return Err(ParseError::malformed("missing Via header"));
    }
    Ok(())
}

fn check_single_address(headers: &Headers<'_>, name: &str) -> Result<(), ParseError> {
    let value = required_single(headers, name)?;
    check_address_value(value, AddressField::Single).map_err(|reason| {
        ParseError::malformed(format!(
            "invalid {name} header {}: {reason}",
            excerpt(value)
        ))
    })
}

fn check_contact(headers: &Headers<'_>) -> Result<(), ParseError> {
    for header in headers.get_all("Contact") {
        check_address_value(header.value, AddressField::Contact).map_err(|reason| {
            ParseError::malformed(format!(
                "invalid Contact header {}: {reason}",
                excerpt(header.value)
            ))
        })?;
    }
    Ok(())
}

/// Checks `callid = word [ "@" word ]`.
fn check_call_id(headers: &Headers<'_>) -> Result<(), ParseError> {
    let value = required_single(headers, "Call-ID")?;
    let (local, host) = value.split_once('@').unwrap_or((value, "x"));
    let is_word = |text: &str| !text.is_empty() && text.bytes().all(is_word_byte);
    if !is_word(local) || !is_word(host) {
        return Err(ParseError::malformed(format!(
            "invalid Call-ID header {}: expected word or word@word",
            excerpt(value)
        )));
    }
    Ok(())
}

fn check_max_forwards(headers: &Headers<'_>) -> Result<(), ParseError> {
    let Some(value) = optional_single(headers, "Max-Forwards")? else {
        return Ok(());
    };
    if parse_bounded(value, u64::from(MAX_FORWARDS)).is_none() {
        return Err(ParseError::malformed(format!(
            "invalid Max-Forwards header {}: expected a number from 0 to {MAX_FORWARDS}",
            excerpt(value)
        )));
    }
    Ok(())
}

fn check_content_length(headers: &Headers<'_>) -> Result<(), ParseError> {
    if let Some(value) = optional_single(headers, "Content-Length")? {
        parse_content_length(value)?;
    }
    Ok(())
}

/// Checks `rfc1123-date = wkday "," SP date1 SP time SP "GMT"` with
/// `date1 = 2DIGIT SP month SP 4DIGIT` and `time = 2DIGIT ":" 2DIGIT ":"
/// 2DIGIT` (RFC 3261 section 25.1). RFC 4475 section 3.1.2.12 shows a Date in
/// EST, which this rejects.
fn check_date(headers: &Headers<'_>) -> Result<(), ParseError> {
    let Some(value) = optional_single(headers, "Date")? else {
        return Ok(());
    };
    if is_rfc1123_date(value) {
        return Ok(());
    }
    Err(ParseError::malformed(format!(
        "invalid Date header {}: expected a date such as 'Sat, 13 Nov 2010 23:29:00 GMT'",
        excerpt(value)
    )))
}

fn is_rfc1123_date(value: &str) -> bool {
    const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];

    let mut parts = value.split(' ');
    let (Some(weekday), Some(day), Some(month), Some(year), Some(time), Some(zone), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let weekday_valid = weekday
        .strip_suffix(',')
        .is_some_and(|weekday| WEEKDAYS.contains(&weekday));
    let day_valid = day.len() == 2 && parse_bounded(day, 31).is_some_and(|day| day >= 1);
    let year_valid = year.len() == 4 && parse_bounded(year, 9999).is_some();
    weekday_valid
        && day_valid
        && MONTHS.contains(&month)
        && year_valid
        && is_time(time)
        && zone == "GMT"
}

/// Returns whether `text` is `HH:MM:SS` with an hour to 23, a minute to 59
/// and a second to 60 (a leap second).
fn is_time(text: &str) -> bool {
    let mut fields = text.split(':');
    let (Some(hour), Some(minute), Some(second), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    let field = |text: &str, max: u64| text.len() == 2 && parse_bounded(text, max).is_some();
    field(hour, 23) && field(minute, 59) && field(second, 60)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;
    use crate::{Message, parse};

    const OPTIONS: &str = "OPTIONS sip:user@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i\r\n\
        To: sip:user@example.com\r\n\
        From: sip:caller@example.net;tag=3ghsd41\r\n\
        Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas\r\n\
        CSeq: 39234321 OPTIONS\r\n\
        Max-Forwards: 70\r\n\
        Content-Length: 0\r\n\
        \r\n";

    fn check(text: &str) -> Result<(), ParseError> {
        match parse(text.as_bytes()).unwrap() {
            Message::Request(request) => check_request(&request),
            Message::Response(response) => check_response(&response),
        }
    }

    fn rejects(text: &str, expected: &str) {
        let error = check(text).unwrap_err();
        assert_eq!(error.status(), 400, "{error}");
        assert!(
            error.detail.contains(expected),
            "{error} lacks '{expected}'"
        );
    }

    #[test]
    fn accepts_minimal_request() {
        assert_eq!(check(OPTIONS), Ok(()));
    }

    #[test]
    fn missing_headers() {
        for name in ["Via", "To", "From", "Call-ID", "CSeq"] {
            let line = OPTIONS.lines().find(|line| line.starts_with(name)).unwrap();
            let text = OPTIONS.replace(&format!("{line}\r\n"), "");
            rejects(&text, &format!("missing {name} header"));
        }
        let text = OPTIONS.replace("Max-Forwards: 70\r\n", "");
        assert_eq!(check(&text), Ok(()));
        let text = OPTIONS.replace("Content-Length: 0\r\n", "");
        assert_eq!(check(&text), Ok(()));
    }

    #[test]
    fn repeated_headers() {
        let cases = [
            ("To: sip:user@example.com\r\n", "To"),
            ("From: sip:caller@example.net;tag=3ghsd41\r\n", "From"),
            ("Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas\r\n", "Call-ID"),
            ("CSeq: 39234321 OPTIONS\r\n", "CSeq"),
            ("Max-Forwards: 70\r\n", "Max-Forwards"),
        ];
        for (line, name) in cases {
            let text = OPTIONS.replace(line, &format!("{line}{line}"));
            rejects(&text, &format!("{name} header appears more than once"));
        }
        let text = OPTIONS.replace(
            "To: sip:user@example.com\r\n",
            "To: sip:user@example.com\r\nt: sip:user@example.com\r\n",
        );
        rejects(&text, "To header appears more than once");
    }

    #[test]
    fn compact_names_count() {
        let text = OPTIONS
            .replace("To:", "t:")
            .replace("From:", "f:")
            .replace("Call-ID:", "i:")
            .replace("Via:", "v:")
            .replace("Content-Length:", "l:");
        assert_eq!(check(&text), Ok(()));
    }

    #[test]
    fn cseq_rules() {
        assert_eq!(parse_cseq("1 INVITE").unwrap(), (1, "INVITE"));
        assert_eq!(parse_cseq("0009\r\n  INVITE").unwrap(), (9, "INVITE"));
        assert_eq!(parse_cseq("2147483647 ACK").unwrap(), (MAX_CSEQ, "ACK"));
        assert!(parse_cseq("2147483648 ACK").is_err());
        assert!(parse_cseq("36893488147419103232 REGISTER").is_err());
        assert!(parse_cseq("INVITE").is_err());
        assert!(parse_cseq("1INVITE").is_err());
        assert!(parse_cseq("1 INVITE x").is_err());
        assert!(parse_cseq("-1 INVITE").is_err());
        assert!(parse_cseq("1 ").is_err());
        assert!(parse_cseq("").is_err());
    }

    #[test]
    fn cseq_method_must_match() {
        let text = OPTIONS.replace("39234321 OPTIONS", "39234321 INVITE");
        rejects(&text, "does not match the request method");
        let text = OPTIONS.replace("39234321 OPTIONS", "39234321 options");
        rejects(&text, "does not match the request method");
    }

    #[test]
    fn max_forwards_range() {
        for value in ["0", "0068", "255"] {
            let text = OPTIONS.replace("Max-Forwards: 70", &format!("Max-Forwards: {value}"));
            assert_eq!(check(&text), Ok(()), "{value}");
        }
        for value in ["256", "300", "-1", "", "7 0", "x"] {
            let text = OPTIONS.replace("Max-Forwards: 70", &format!("Max-Forwards: {value}"));
            rejects(&text, "invalid Max-Forwards");
        }
    }

    #[test]
    fn call_id_syntax() {
        for value in ["a", "a@b", "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"] {
            let text = OPTIONS.replace("zeromf.jfasdlfnm2o2l43r5u0asdfas", value);
            assert_eq!(check(&text), Ok(()), "{value}");
        }
        for value in ["a@", "@b", "a@b@c", "a b", "a;b", ""] {
            let text = OPTIONS.replace("zeromf.jfasdlfnm2o2l43r5u0asdfas", value);
            rejects(&text, "Call-ID");
        }
    }

    #[test]
    fn date_syntax() {
        let with_date = |date: &str| {
            OPTIONS.replace(
                "Content-Length: 0\r\n",
                &format!("Content-Length: 0\r\nDate: {date}\r\n"),
            )
        };
        assert_eq!(check(&with_date("Sat, 15 Oct 2005 04:44:56 GMT")), Ok(()));
        assert_eq!(check(&with_date("Mon, 29 Feb 2016 23:59:60 GMT")), Ok(()));
        for date in [
            "Fri, 01 Jan 2010 16:00:00 EST",
            "Fri 01 Jan 2010 16:00:00 GMT",
            "Fri, 1 Jan 2010 16:00:00 GMT",
            "Fri, 01 January 2010 16:00:00 GMT",
            "Fri, 01 Jan 2010 24:00:00 GMT",
            "Fri, 00 Jan 2010 16:00:00 GMT",
            "Fri, 01 Jan 2010 16:00 GMT",
            "Fri,  01 Jan 2010 16:00:00 GMT",
            "1262361600",
        ] {
            rejects(&with_date(date), "invalid Date");
        }
    }

    #[test]
    fn contact_checked() {
        let with_contact = |contact: &str| {
            OPTIONS.replace(
                "Content-Length: 0\r\n",
                &format!("Content-Length: 0\r\nContact: {contact}\r\n"),
            )
        };
        assert_eq!(
            check(&with_contact("<sip:a@example.com>;expires=60")),
            Ok(())
        );
        assert_eq!(check(&with_contact("*")), Ok(()));
        rejects(
            &with_contact("sip:a@example.com?Route=%3Csip:b%3E"),
            "invalid Contact",
        );
        rejects(
            &with_contact("\"Joe\" <sip:joe@example.org>;;;;"),
            "invalid Contact",
        );
    }

    #[test]
    fn via_checked() {
        let text = OPTIONS.replace(
            "SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i",
            "SIP/2.0/UDP 192.0.2.15;;,;,,",
        );
        rejects(&text, "invalid Via");
    }

    #[test]
    fn response_checks() {
        let response = "SIP/2.0 200 OK\r\n\
            Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n\
            Call-ID: a@b\r\n\
            CSeq: 35 INVITE\r\n\
            From: sip:user@example.com;tag=11141343\r\n\
            To: sip:user@example.edu;tag=2229\r\n\
            Content-Length: 0\r\n\r\n";
        assert_eq!(check(response), Ok(()));
        rejects(
            &response.replace("35 INVITE", "9292394834772304023312 OPTIONS"),
            "exceeds 2^31 - 1",
        );
        rejects(&response.replace("Call-ID: a@b\r\n", ""), "missing Call-ID");
    }
}
