// The body of the `sip` fuzz target. The fuzz target and the sip crate's
// `fuzz_corpus` test both include this file with `include!`, so a crash input
// replays through the same code under `cargo test`.

use sip::{
    Message, check_request, check_response, frame, is_keepalive, parse, parse_cseq, parse_via,
};

/// The maximum number of lines of the input tried as Via and CSeq values, so
/// that an input of many short lines does not slow the fuzzer down.
const FUZZ_MAX_VALUE_LINES: usize = 16;

/// Runs one input through the parser, the checks, the stream framer and the
/// Via and CSeq parsers. Errors are expected results. A panic means that the
/// crate panicked or that one of the invariants asserted here broke.
pub fn run_sip_input(data: &[u8]) {
    if let Ok(message) = parse(data) {
        check_message(&message, data);
    }
    check_frame(data);

    let text = String::from_utf8_lossy(data);
    check_via_value(&text);
    let _ = parse_cseq(&text);
    for line in text.split("\r\n").take(FUZZ_MAX_VALUE_LINES) {
        let value = line.split_once(':').map_or(line, |(_, value)| value);
        check_via_value(value);
        let _ = parse_cseq(value);
    }
}

/// Asserts the invariants of a parsed message and runs the header checks.
fn check_message(message: &Message<'_>, data: &[u8]) {
    let headers = message.headers();
    assert!(headers.len() <= sip::MAX_HEADERS, "too many headers parsed");
    assert!(message.body().len() <= data.len(), "body longer than input");

    for header in headers.iter() {
        assert!(!header.name.is_empty(), "empty header name");
        assert!(!header.canonical_name().is_empty(), "empty canonical name");
        assert_eq!(
            header.value.trim_matches([' ', '\t', '\r', '\n']),
            header.value,
            "value not trimmed"
        );
        let unfolded = header.unfolded();
        assert!(
            !unfolded.contains(['\r', '\n']),
            "unfolded value {unfolded:?} keeps a line break"
        );
        let found = headers
            .get(header.name)
            .expect("a header finds itself by name");
        assert!(
            found
                .canonical_name()
                .eq_ignore_ascii_case(header.canonical_name()),
            "get() found another field"
        );
        let found = headers
            .get(header.canonical_name())
            .expect("a header finds itself by its full name");
        assert!(
            found
                .canonical_name()
                .eq_ignore_ascii_case(header.canonical_name()),
            "get() found another field by full name"
        );
        if header.canonical_name() == "Via" {
            check_via_value(header.value);
        }
    }

    if let Some(length) = headers.get("Content-Length") {
        let length: usize = length
            .value
            .trim()
            .parse()
            .expect("parse() checked Content-Length");
        assert_eq!(
            message.body().len(),
            length,
            "body length differs from Content-Length"
        );
    }

    match message {
        Message::Request(request) => {
            if check_request(request).is_ok() {
                let cseq = headers.get("CSeq").expect("check_request() requires CSeq");
                let (_, method) = parse_cseq(cseq.value).expect("check_request() checked CSeq");
                assert_eq!(
                    method, request.method,
                    "CSeq method differs from the request method"
                );
                for via in headers.get_all("Via") {
                    assert!(
                        parse_via(via.value).is_ok(),
                        "check_request() accepted an invalid Via"
                    );
                }
            }
        }
        Message::Response(response) => {
            assert!(
                (100..=699).contains(&response.code),
                "status code out of range"
            );
            let _ = check_response(response);
        }
    }
}

/// Asserts the invariants of `frame` on the input and on its prefixes.
fn check_frame(data: &[u8]) {
    let Ok(Some(length)) = frame(data) else {
        return;
    };
    assert!(
        length > 0 && length <= data.len(),
        "frame length {length} out of range"
    );
    assert!(
        length <= sip::MAX_MESSAGE_BYTES,
        "framed message over the limit"
    );

    let framed = &data[..length];
    assert_eq!(
        frame(framed),
        Ok(Some(length)),
        "frame() differs on the framed bytes"
    );
    if is_keepalive(framed) {
        return;
    }
    assert_eq!(
        frame(&framed[..length - 1]),
        Ok(None),
        "frame() found a message in a prefix"
    );
    if let Ok(message) = parse(framed) {
        check_message(&message, framed);
    }
}

/// Asserts the invariants of `parse_via` on one value.
fn check_via_value(value: &str) {
    let Ok(entries) = parse_via(value) else {
        return;
    };
    assert!(!entries.is_empty(), "parse_via() returned no entry");
    assert!(
        entries.len() <= sip::MAX_VIA_ENTRIES,
        "too many Via entries"
    );
    for via in &entries {
        assert!(
            via.protocol.contains('/'),
            "protocol {:?} has no '/'",
            via.protocol
        );
        assert!(!via.transport.is_empty(), "empty transport");
        assert!(!via.host.is_empty(), "empty host");
        assert!(
            via.params.len() <= sip::MAX_VIA_PARAMS,
            "too many Via parameters"
        );
        let branch = via
            .params
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("branch"));
        assert_eq!(
            branch.and_then(|(_, value)| *value).is_some(),
            via.branch.is_some(),
            "branch field differs from params"
        );
    }
}
