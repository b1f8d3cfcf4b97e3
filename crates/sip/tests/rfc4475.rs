#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Runs the SIP torture test messages of RFC 4475 through `parse`, `frame`,
//! `check_request` and `check_response`. `tests/data/rfc4475/README.md` gives
//! the source of each message.

use std::path::Path;

use sip::{ErrorKind, Message, Request, Response, check_request, check_response, parse};

/// What RFC 4475 expects of a message, as this crate implements it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// The message parses and passes `check_request` or `check_response`.
    Valid,
    /// `parse` rejects the message with this status.
    ParseRejects(u16),
    /// The message parses, and `check_request` or `check_response` rejects it
    /// with this status.
    CheckRejects(u16),
}

use Expected::{CheckRejects, ParseRejects, Valid};

/// Every message of RFC 4475 sections 3.1.1, 3.1.2, 3.2, 3.3 and 3.4, with the
/// section and the outcome. Where the RFC allows a choice, the comment gives
/// it. A status of 400 for a response means that the proxy drops it.
const CASES: &[(&str, &str, Expected)] = &[
    // 3.1.1 Valid messages.
    ("wsinv", "3.1.1.1", Valid),
    ("intmeth", "3.1.1.2", Valid),
    ("esc01", "3.1.1.3", Valid),
    ("escnull", "3.1.1.4", Valid),
    ("esc02", "3.1.1.5", Valid),
    ("lwsdisp", "3.1.1.6", Valid),
    ("longreq", "3.1.1.7", Valid),
    ("dblreq", "3.1.1.8", Valid),
    ("semiuri", "3.1.1.9", Valid),
    ("transports", "3.1.1.10", Valid),
    ("mpart01", "3.1.1.11", Valid),
    ("unreason", "3.1.1.12", Valid),
    ("noreason", "3.1.1.13", Valid),
    // 3.1.2 Invalid messages.
    ("badinv01", "3.1.2.1", CheckRejects(400)),
    ("clerr", "3.1.2.2", ParseRejects(400)),
    ("ncl", "3.1.2.3", ParseRejects(400)),
    ("scalar02", "3.1.2.4", CheckRejects(400)),
    // A response: the proxy drops it.
    ("scalarlg", "3.1.2.5", CheckRejects(400)),
    ("quotbal", "3.1.2.6", CheckRejects(400)),
    ("ltgtruri", "3.1.2.7", ParseRejects(400)),
    ("lwsruri", "3.1.2.8", ParseRejects(400)),
    ("lwsstart", "3.1.2.9", ParseRejects(400)),
    ("trws", "3.1.2.10", ParseRejects(400)),
    ("escruri", "3.1.2.11", ParseRejects(400)),
    ("baddate", "3.1.2.12", CheckRejects(400)),
    ("regbadct", "3.1.2.13", CheckRejects(400)),
    ("badaspec", "3.1.2.14", CheckRejects(400)),
    // The archive copy ends without the empty line after the headers, so
    // `parse` rejects it first. `baddn_display_names_rejected` checks the
    // display names with the empty line added.
    ("baddn", "3.1.2.15", ParseRejects(400)),
    ("badvers", "3.1.2.16", ParseRejects(505)),
    ("mismatch01", "3.1.2.17", CheckRejects(400)),
    // The RFC prefers 501 Not Implemented and accepts 400.
    ("mismatch02", "3.1.2.18", CheckRejects(400)),
    // A response: the proxy drops it.
    ("bigcode", "3.1.2.19", ParseRejects(400)),
    // 3.2.1: the RFC lets a server reject the bare "z9hG4bK" branch or fall
    // back to RFC 2543 transaction matching. A stateless server needs no
    // branch, so it accepts the request.
    ("badbranch", "3.2.1", Valid),
    // 3.3 Application-layer semantics. Only the syntax is checked here, and
    // the responses 416, 420, 415 and 483 belong to the application.
    ("insuf", "3.3.1", CheckRejects(400)),
    ("unkscm", "3.3.2", Valid),
    ("novelsc", "3.3.3", Valid),
    ("unksm2", "3.3.4", Valid),
    ("bext01", "3.3.5", Valid),
    ("invut", "3.3.6", Valid),
    ("regaut01", "3.3.7", Valid),
    ("multi01", "3.3.8", CheckRejects(400)),
    ("mcl01", "3.3.9", ParseRejects(400)),
    ("bcast", "3.3.10", Valid),
    ("zeromf", "3.3.11", Valid),
    ("cparam01", "3.3.12", Valid),
    ("cparam02", "3.3.13", Valid),
    ("regescrt", "3.3.14", Valid),
    ("sdp01", "3.3.15", Valid),
    // 3.4 Backward compatibility.
    ("inv2543", "3.4.1", Valid),
];

fn message_bytes(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/rfc4475")
        .join(format!("{name}.sip"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn check(message: &Message<'_>) -> Result<(), sip::ParseError> {
    match message {
        Message::Request(request) => check_request(request),
        Message::Response(response) => check_response(response),
    }
}

fn parse_request(bytes: &[u8]) -> Request<'_> {
    match parse(bytes).unwrap() {
        Message::Request(request) => request,
        Message::Response(_) => panic!("parsed a response"),
    }
}

fn parse_response(bytes: &[u8]) -> Response<'_> {
    match parse(bytes).unwrap() {
        Message::Response(response) => response,
        Message::Request(_) => panic!("parsed a request"),
    }
}

/// Returns the Content-Length of the message, if any.
fn content_length(message: &Message<'_>) -> Option<usize> {
    message
        .headers()
        .get("Content-Length")
        .map(|header| header.value.trim().parse().unwrap())
}

#[test]
fn every_message_has_a_case() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475");
    let mut files: Vec<String> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter_map(|name| name.strip_suffix(".sip").map(str::to_owned))
        .collect();
    files.sort();
    let mut names: Vec<String> = CASES
        .iter()
        .map(|(name, _, _)| (*name).to_owned())
        .collect();
    names.sort();
    assert_eq!(files, names);
}

#[test]
fn messages_meet_expectations() {
    for (name, section, expected) in CASES {
        let bytes = message_bytes(name);
        let outcome = parse(&bytes).and_then(|message| check(&message));
        match (expected, &outcome) {
            (Valid, Ok(())) => {}
            (ParseRejects(status), Err(error)) if parse(&bytes).is_err() => {
                assert_eq!(
                    error.status(),
                    *status,
                    "{name} (section {section}): {error}"
                );
            }
            (CheckRejects(status), Err(error)) if parse(&bytes).is_ok() => {
                assert_eq!(
                    error.status(),
                    *status,
                    "{name} (section {section}): {error}"
                );
            }
            _ => panic!("{name} (section {section}): expected {expected:?}, got {outcome:?}"),
        }
    }
}

#[test]
fn valid_messages_frame_as_stream() {
    for (name, section, expected) in CASES {
        if *expected != Valid {
            continue;
        }
        let bytes = message_bytes(name);
        let message = parse(&bytes).unwrap();
        let framed = sip::frame(&bytes);
        match content_length(&message) {
            Some(length) => {
                let framed = framed.unwrap().unwrap();
                let body_start = framed - length;
                assert_eq!(
                    &bytes[body_start..framed],
                    message.body(),
                    "{name} ({section})"
                );
            }
            None => assert!(framed.is_err(), "{name} ({section}) has no Content-Length"),
        }
    }
}

#[test]
fn wsinv_fields() {
    let bytes = message_bytes("wsinv");
    let request = parse_request(&bytes);
    assert_eq!(request.method, "INVITE");
    assert_eq!(
        request.uri,
        "sip:vivekg@chair-dnrc.example.com;unknownparam"
    );
    assert_eq!(request.body.len(), 150);

    let headers = &request.headers;
    assert_eq!(
        headers.get("To").unwrap().value,
        "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n"
    );
    assert_eq!(headers.get("Max-Forwards").unwrap().value, "0068");
    assert_eq!(headers.get("s").unwrap().value, "");
    assert_eq!(headers.get("Subject").unwrap().canonical_name(), "Subject");
    assert_eq!(
        headers.get("NewFangledHeader").unwrap().unfolded(),
        "newfangled value continued newfangled value"
    );
    assert_eq!(
        headers.get("UnknownHeaderWithUnusualValue").unwrap().value,
        ";;,,;;,;"
    );
    assert_eq!(
        sip::parse_cseq(headers.get("CSeq").unwrap().value).unwrap(),
        (9, "INVITE")
    );

    let vias: Vec<sip::Via<'_>> = headers
        .get_all("Via")
        .flat_map(|header| sip::parse_via(header.value).unwrap())
        .collect();
    let hosts: Vec<&str> = vias.iter().map(|via| via.host).collect();
    assert_eq!(
        hosts,
        ["192.0.2.2", "spindle.example.com", "192.168.255.111"]
    );
    let branches: Vec<Option<&str>> = vias.iter().map(|via| via.branch).collect();
    assert_eq!(
        branches,
        [
            Some("390skdjuw"),
            Some("z9hG4bK9ikj8"),
            Some("z9hG4bK30239")
        ]
    );
    assert!(vias.iter().all(|via| via.protocol == "SIP/2.0"));
}

#[test]
fn intmeth_fields() {
    let bytes = message_bytes("intmeth");
    let request = parse_request(&bytes);
    assert_eq!(
        request.method,
        "!interesting-Method0123456789_*+`.%indeed'~"
    );
    let extension = request.headers.get("extensionHeader-!.%*+_`'~").unwrap();
    assert_eq!(extension.value, "\u{feff}大停電");
    assert_eq!(
        request.headers.get("Call-ID").unwrap().value,
        "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    );
    let via = &sip::parse_via(request.headers.get("Via").unwrap().value).unwrap()[0];
    assert_eq!(via.branch, Some("z9hG4bK-.!%66*_+`'~"));
}

#[test]
fn esc02_has_two_contacts() {
    let bytes = message_bytes("esc02");
    let request = parse_request(&bytes);
    assert_eq!(request.method, "RE%47IST%45R");
    assert_eq!(request.headers.get_all("Contact").count(), 2);
    assert_eq!(
        request.headers.get("C%6Fntact").unwrap().canonical_name(),
        "C%6Fntact"
    );
}

#[test]
fn longreq_compact_vias() {
    let bytes = message_bytes("longreq");
    let request = parse_request(&bytes);
    assert_eq!(request.headers.get_all("Via").count(), 34);
    assert_eq!(request.headers.get_all("v").count(), 34);
    let last = request.headers.get_all("Via").last().unwrap();
    let via = &sip::parse_via(last.value).unwrap()[0];
    assert_eq!(via.received, Some("192.0.2.5"));
    assert!(via.branch.unwrap().ends_with("branchvalue"));
}

#[test]
fn dblreq_ignores_second_request() {
    let bytes = message_bytes("dblreq");
    let request = parse_request(&bytes);
    assert_eq!(request.method, "REGISTER");
    assert!(request.body.is_empty());

    let first = sip::frame(&bytes).unwrap().unwrap();
    assert_eq!(&bytes[first..first + 2], b"\r\n");
    let keepalive = sip::frame(&bytes[first..]).unwrap().unwrap();
    assert!(sip::is_keepalive(&bytes[first..first + keepalive]));
    let second = &bytes[first + keepalive..];
    let Message::Request(invite) = parse(second).unwrap() else {
        panic!("parsed a response");
    };
    assert_eq!(invite.method, "INVITE");
}

#[test]
fn transports_as_written() {
    let bytes = message_bytes("transports");
    let request = parse_request(&bytes);
    let transports: Vec<&str> = request
        .headers
        .get_all("Via")
        .map(|header| sip::parse_via(header.value).unwrap()[0].transport)
        .collect();
    assert_eq!(transports, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
}

#[test]
fn mpart01_binary_body() {
    let bytes = message_bytes("mpart01");
    let request = parse_request(&bytes);
    assert_eq!(request.body.len(), 553);
    assert!(request.body.contains(&0));
    assert!(request.body.ends_with(b"--7a9cbec02ceef655--\r\n"));
    let via = &sip::parse_via(request.headers.get("Via").unwrap().value).unwrap()[0];
    assert_eq!(via.rport, Some(None));
    assert_eq!(via.port, Some(5070));
    assert!(request.headers.get("y").is_some());
}

#[test]
fn unreason_and_noreason() {
    let bytes = message_bytes("unreason");
    let response = parse_response(&bytes);
    assert_eq!(response.code, 200);
    assert_eq!(
        response.reason,
        "= 2**3 * 5**2 но сто девяносто девять - простое"
    );

    let bytes = message_bytes("noreason");
    let response = parse_response(&bytes);
    assert_eq!(response.code, 100);
    assert_eq!(response.reason, "");
}

#[test]
fn inv2543_body_is_datagram_rest() {
    let bytes = message_bytes("inv2543");
    let request = parse_request(&bytes);
    assert!(request.headers.get("Content-Length").is_none());
    assert!(request.body.starts_with(b"v=0\r\n"));
    assert!(request.body.ends_with(b"RTP/AVP 0\r\n"));
}

#[test]
fn baddn_display_names_rejected() {
    let mut bytes = message_bytes("baddn");
    assert!(bytes.ends_with(b"l: 0\r\n"));
    bytes.extend_from_slice(b"\r\n");
    let request = parse_request(&bytes);
    let error = check_request(&request).unwrap_err();
    assert_eq!(error.status(), 400);
    assert!(error.detail.contains("display name"), "{error}");
}

#[test]
fn badvers_is_unsupported_version() {
    let bytes = message_bytes("badvers");
    let error = parse(&bytes).unwrap_err();
    assert_eq!(error.kind, ErrorKind::UnsupportedVersion);
}

#[test]
fn clerr_waits_on_stream() {
    let bytes = message_bytes("clerr");
    assert_eq!(sip::frame(&bytes).unwrap(), None);
}

#[test]
fn ncl_and_mcl01_cannot_frame() {
    for name in ["ncl", "mcl01"] {
        let bytes = message_bytes(name);
        let error = sip::frame(&bytes).unwrap_err();
        assert_eq!(error.status(), 400, "{name}: {error}");
    }
}

#[test]
fn rejection_details_name_the_field() {
    let cases = [
        ("badinv01", "Via"),
        ("scalar02", "CSeq"),
        ("scalarlg", "CSeq"),
        ("quotbal", "To"),
        ("baddate", "Date"),
        ("regbadct", "Contact"),
        ("badaspec", "To"),
        ("mismatch01", "CSeq method"),
        ("mismatch02", "CSeq method"),
        ("insuf", "missing"),
        ("multi01", "more than once"),
        ("ltgtruri", "Request-URI"),
        ("escruri", "Request-URI"),
        ("lwsruri", "Request-Line"),
        ("lwsstart", "Request-Line"),
        ("trws", "Request-Line"),
        ("clerr", "Content-Length"),
        ("ncl", "Content-Length"),
        ("mcl01", "Content-Length"),
        ("bigcode", "Status-Code"),
    ];
    for (name, field) in cases {
        let bytes = message_bytes(name);
        let error = parse(&bytes)
            .and_then(|message| check(&message))
            .unwrap_err();
        assert!(
            error.detail.contains(field),
            "{name}: '{error}' lacks '{field}'"
        );
    }
}
