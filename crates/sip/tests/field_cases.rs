#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Requests as SHAKEN peers send them: Identity headers that are empty,
//! folded, compact, repeated, oversized or carry a NUL byte, and a stream of
//! several messages with keep-alives.

use sip::{ErrorKind, Message, Request, check_request, frame, is_keepalive, parse, parse_via};

const IDENTITY: &str = "eyJhbGciOiJFUzI1NiJ9.eyJhdHRlc3QiOiJBIn0.c2lnbmF0dXJl";

const INFO: &str = ";info=<https://cert.example.com/sp/shaken.pem>;alg=ES256;ppt=shaken";

/// Returns an INVITE with `extra` header lines (each ending in CRLF) before
/// Content-Length.
fn invite(extra: &str) -> String {
    format!(
        "INVITE sip:+12025550101@sbc.example.com;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK-case01\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+12025550100@carrier.example.org;user=phone>;tag=f1\r\n\
         To: <sip:+12025550101@sbc.example.com;user=phone>\r\n\
         Call-ID: case01@192.0.2.10\r\n\
         CSeq: 1 INVITE\r\n\
         {extra}\
         Content-Length: 0\r\n\
         \r\n"
    )
}

fn request(text: &str) -> Request<'_> {
    match parse(text.as_bytes()).unwrap() {
        Message::Request(request) => request,
        Message::Response(_) => panic!("parsed a response"),
    }
}

#[test]
fn identity_full_form() {
    let text = invite(&format!("Identity: {IDENTITY}{INFO}\r\n"));
    let request = request(&text);
    check_request(&request).unwrap();
    let identity = request.headers.get("Identity").unwrap();
    assert_eq!(identity.value, format!("{IDENTITY}{INFO}"));
}

#[test]
fn identity_empty_value() {
    let text = invite("Identity:\r\n");
    let request = request(&text);
    check_request(&request).unwrap();
    assert_eq!(request.headers.get("Identity").unwrap().value, "");
}

#[test]
fn identity_compact_name() {
    let text = invite(&format!("y: {IDENTITY}{INFO}\r\n"));
    let request = request(&text);
    let identity = request.headers.get("Identity").unwrap();
    assert_eq!(identity.name, "y");
    assert_eq!(identity.canonical_name(), "Identity");
}

#[test]
fn identity_folded_value() {
    let text = invite(&format!(
        "Identity: {IDENTITY}\r\n ;info=<https://cert.example.com/sp/shaken.pem>\r\n\t;alg=ES256;ppt=shaken\r\n"
    ));
    let request = request(&text);
    let identity = request.headers.get("identity").unwrap();
    assert_eq!(
        identity.unfolded(),
        format!("{IDENTITY} ;info=<https://cert.example.com/sp/shaken.pem> ;alg=ES256;ppt=shaken")
    );
}

#[test]
fn identity_repeated_in_order() {
    let text = invite(&format!(
        "Identity: rcd{INFO}\r\nIDENTITY: shaken{INFO}\r\ny: div{INFO}\r\n"
    ));
    let request = request(&text);
    let values: Vec<&str> = request
        .headers
        .get_all("Identity")
        .map(|header| header.value.split(';').next().unwrap())
        .collect();
    assert_eq!(values, ["rcd", "shaken", "div"]);
}

#[test]
fn identity_with_nul_rejected() {
    let text = invite(&format!("Identity: eyJhbGciOiJFUzI1NiJ9\0.x{INFO}\r\n"));
    let error = parse(text.as_bytes()).unwrap_err();
    assert_eq!(error.status(), 400);
    assert!(error.detail.contains("0x00"), "{error}");
}

#[test]
fn identity_oversized_rejected() {
    let text = invite(&format!("Identity: {}{INFO}\r\n", "a".repeat(70_000)));
    let error = parse(text.as_bytes()).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge);
    assert_eq!(error.status(), 513);

    let text = invite(&format!("Identity: {}{INFO}\r\n", "a".repeat(20_000)));
    let error = parse(text.as_bytes()).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge);
    assert!(error.detail.contains("header line"), "{error}");
}

#[test]
fn identity_long_within_limit() {
    let text = invite(&format!("Identity: {}{INFO}\r\n", "a".repeat(12_000)));
    let request = request(&text);
    check_request(&request).unwrap();
}

#[test]
fn compact_request_checks() {
    let text = "INVITE sip:+12025550101@sbc.example.com SIP/2.0\r\n\
        v: SIP/2.0/UDP [2001:db8::10]:5060;branch=z9hG4bK-compact;rport\r\n\
        f: \"Caller\" <sip:+12025550100@carrier.example.org;user=phone>;tag=c1\r\n\
        t: <tel:+12025550101>\r\n\
        i: compact@192.0.2.10\r\n\
        CSeq: 7 INVITE\r\n\
        m: <sip:[2001:db8::10]:5060>\r\n\
        l: 0\r\n\r\n";
    let request = request(text);
    check_request(&request).unwrap();
    let via = &parse_via(request.headers.get("Via").unwrap().value).unwrap()[0];
    assert_eq!(via.host, "2001:db8::10");
    assert_eq!(via.rport, Some(None));
}

#[test]
fn stream_of_messages_and_keepalives() {
    let first = invite("");
    let second = invite(&format!("Identity: {IDENTITY}{INFO}\r\n"));
    let stream = format!("\r\n\r\n{first}\r\n{second}\r\n\r\n");
    let mut buffer = stream.as_bytes();

    let mut messages = Vec::new();
    let mut keepalives = 0;
    while let Some(length) = frame(buffer).unwrap() {
        let (head, rest) = buffer.split_at(length);
        if is_keepalive(head) {
            keepalives += 1;
        } else {
            messages.push(parse(head).unwrap().headers().len());
        }
        buffer = rest;
    }
    assert!(buffer.is_empty());
    assert_eq!(keepalives, 3);
    assert_eq!(messages, [7, 8]);
}

#[test]
fn stream_byte_by_byte() {
    let message = invite("");
    let stream = format!("{message}{message}");
    let bytes = stream.as_bytes();
    let mut received = 0;
    let mut start = 0;
    let mut lengths = Vec::new();
    while received < bytes.len() {
        received += 1;
        if let Some(length) = frame(&bytes[start..received]).unwrap() {
            lengths.push(length);
            start += length;
        }
    }
    assert_eq!(lengths, [message.len(), message.len()]);
}
