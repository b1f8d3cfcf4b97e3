//! The HTTP API of `stird serve` end to end: the demo started as an operator
//! starts it, a hyper HTTP/1.1 client, sipp for the SIP side, and certificates
//! fetched over real HTTPS from the demo's repository on loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use common::{
    Server, demo, http_get, metric, now, sign, sipp, sipp_text, start, stird, temp_dir, udp_invite,
};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// A response: status, headers and body.
struct Reply {
    status: u16,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "status {}: body is not JSON ({error}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends one request over a new connection and returns the response, within
/// 30 seconds.
fn send(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let body = body.into();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let exchange = async {
            let stream = tokio::net::TcpStream::connect(address).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let mut request = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header("host", address.to_string());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let response = sender
                .send_request(request.body(Full::new(body)).unwrap())
                .await
                .unwrap();
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            Reply {
                status,
                headers,
                body,
            }
        };
        tokio::time::timeout(Duration::from_secs(30), exchange)
            .await
            .expect("no response within 30 s")
    })
}

fn post(address: SocketAddr, path: &str, body: &Value) -> Reply {
    send(
        address,
        "POST",
        path,
        &[("content-type", "application/json")],
        body.to_string(),
    )
}

fn api_demo(name: &str) -> Server {
    demo(&format!("api-{name}"))
}

/// Reads the ATIS-1000082 examples of the test data.
fn atis_examples() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/atis-1000082-examples.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Signs through the API and returns the Identity header value.
fn api_sign(server: &Server, orig: &str, dest: &str, iat: i64) -> String {
    let reply = post(
        server.http,
        "/stir/v1/signing",
        &json!({"signingRequest": {"attest": "A", "orig": {"tn": orig}, "dest": {"tn": [dest]},
                "iat": iat, "origid": "de305d54-75b4-431b-adb2-eb6b9e546014"}}),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["signingResponse"]["identity"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Verifies through the API and returns the `verificationResponse`.
fn api_verify(server: &Server, from: &str, to: &str, identity: &str, time: i64) -> Value {
    let reply = post(
        server.http,
        "/stir/v1/verification",
        &json!({"verificationRequest": {"from": {"tn": from}, "to": {"tn": [to]},
                "time": time, "identity": identity}}),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["verificationResponse"].clone()
}

#[test]
fn atis_examples_sign_and_verify() {
    let server = api_demo("atis");
    let examples = atis_examples();
    let iat = now();

    // The ATIS-1000082 signing request, with the current time as iat.
    let mut request = examples["signing"]["request"].clone();
    request["signingRequest"]["iat"] = json!(iat);
    let reply = post(server.http, "/stir/v1/signing", &request);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        reply.headers["content-type"].to_str().unwrap(),
        "application/json"
    );
    let identity = reply.json()["signingResponse"]["identity"]
        .as_str()
        .unwrap()
        .to_owned();
    let x5u = server.repository.clone().unwrap();
    assert!(
        identity.ends_with(&format!(";info=<{x5u}>;alg=ES256;ppt=shaken")),
        "{identity}"
    );
    assert!(identity.starts_with("eyJ"), "{identity}");

    // The ATIS-1000082 verification request of the same call.
    let mut request = examples["verification"]["request"].clone();
    request["verificationRequest"]["from"]["tn"] = json!("12155551212");
    request["verificationRequest"]["to"]["tn"] = json!(["12355551212"]);
    request["verificationRequest"]["time"] = json!(iat + 2);
    request["verificationRequest"]["identity"] = json!(identity);
    let reply = post(server.http, "/stir/v1/verification", &request);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let response = reply.json();
    assert_eq!(
        response["verificationResponse"]["verstat"],
        examples["verification"]["response_200"]["verificationResponse"]["verstat"]
    );
    assert_eq!(
        response["verificationResponse"]["verstat"],
        "TN-Validation-Passed"
    );
    assert_eq!(response["verificationResponse"]["attest"], "A");
    assert_eq!(
        response["verificationResponse"]["origid"],
        "de305d54-75b4-431b-adb2-eb6b9e546014"
    );
    assert!(response["verificationResponse"].get("reasonCode").is_none());

    // The example's own iat, 2021-09-23, is stale now: 403 Stale Date.
    let stale = post(
        server.http,
        "/stir/v1/signing",
        &examples["signing"]["request"],
    );
    assert_eq!(stale.status, 200);
    let stale = stale.json()["signingResponse"]["identity"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = api_verify(&server, "12155551212", "12355551212", &stale, now());
    assert_eq!(response["verstat"], "TN-Validation-Failed");
    assert_eq!(response["reasonCode"], 403);
    assert_eq!(response["reasonText"], "Stale Date");
}

#[test]
fn sbc_variants_accepted() {
    let server = api_demo("variants");
    // tn as a one-element array and as a string, iat and origid absent, an
    // unknown member, a national number under the demo's 10:1 rule.
    let reply = post(
        server.http,
        "/stir/v1/signing",
        &json!({"signingRequest": {"orig": {"tn": ["+1 (202) 555-0100"]}, "dest": {"tn": "2025550101"},
                "requestId": "sbc-1"}, "extra": true}),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let identity = reply.json()["signingResponse"]["identity"]
        .as_str()
        .unwrap()
        .to_owned();

    // Verification without time, numbers in other shapes, and the identity
    // without its header parameters.
    let bare = identity.split(';').next().unwrap();
    for value in [json!(identity), json!(bare), json!([bare])] {
        let reply = post(
            server.http,
            "/stir/v1/verification",
            &json!({"verificationRequest": {"from": {"tn": ["12025550100"]},
                    "to": {"tn": "+12025550101"}, "identity": value, "callId": "x"}}),
        );
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let response = &reply.json()["verificationResponse"];
        assert_eq!(response["verstat"], "TN-Validation-Passed", "{value}");
        // The default attestation of the demo credential.
        assert_eq!(response["attest"], "A", "{value}");
        let origid = response["origid"].as_str().unwrap();
        assert_eq!(origid.len(), 36, "{origid}");
    }
    // The 3GPP name of the member.
    let reply = post(
        server.http,
        "/stir/v1/verification",
        &json!({"verificationRequest": {"from": {"tn": "12025550100"},
                "to": {"tn": ["12025550101"]}, "identityHeader": identity}}),
    );
    assert_eq!(
        reply.json()["verificationResponse"]["verstat"],
        "TN-Validation-Passed"
    );
    // Without Content-Type the body is read as JSON.
    let reply = send(
        server.http,
        "POST",
        "/stir/v1/verification",
        &[],
        json!({"verificationRequest": {"from": {"tn": "12025550100"},
               "to": {"tn": ["12025550101"]}, "identity": identity}})
        .to_string(),
    );
    assert_eq!(
        reply.json()["verificationResponse"]["verstat"],
        "TN-Validation-Passed"
    );
}

#[test]
fn verification_failures_report_sip_codes() {
    let server = api_demo("failures");
    let (orig, dest) = ("12025550100", "12025550101");
    let good = api_sign(&server, orig, dest, now());

    let (jws, params) = good.split_once(';').unwrap();
    // A character inside the signature changes, not the last one, whose
    // unused bits would make some signatures fail to decode instead.
    let mut tampered: Vec<char> = jws.chars().collect();
    let inside = tampered.len() - 10;
    tampered[inside] = if tampered[inside] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let tampered = format!("{tampered};{params}");
    let stale = api_sign(&server, orig, dest, now() - 3600);
    // An x5u that the demo's fetch policy does not allow: another port.
    let key = server.dir.join("data/pki/subscriber.key.pem");
    let elsewhere = sign(
        &server,
        &key,
        "https://127.0.0.1:9/sti/chain.pem",
        &format!("+{orig}"),
        &format!("+{dest}"),
        now(),
    );
    // A PASSporT whose ppt this verifier does not check: skipped.
    let div = good.replace("ppt=shaken", "ppt=div");

    // Name, Identity, from, to, time, and the expected reasonCode, reasonText
    // and failedCheck.
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        i64,
        (u16, &'a str, &'a str),
    );
    let cases: [Case; 6] = [
        (
            "tampered",
            &tampered,
            orig,
            dest,
            now(),
            (438, "Invalid Identity Header", "signature"),
        ),
        (
            "stale",
            &stale,
            orig,
            dest,
            now(),
            (403, "Stale Date", "freshness"),
        ),
        (
            "future time",
            &good,
            orig,
            dest,
            now() + 3600,
            (403, "Stale Date", "freshness"),
        ),
        (
            "other called number",
            &good,
            orig,
            "12025550199",
            now(),
            (438, "Invalid Identity Header", "numbers"),
        ),
        (
            "unreachable x5u",
            &elsewhere,
            orig,
            dest,
            now(),
            (436, "Bad Identity Info", "certificate"),
        ),
        (
            "other calling number",
            &good,
            "12025550111",
            dest,
            now(),
            (438, "Invalid Identity Header", "numbers"),
        ),
    ];
    for (name, identity, from, to, time, (code, text, check)) in cases {
        let response = api_verify(&server, from, to, identity, time);
        assert_eq!(
            response["verstat"], "TN-Validation-Failed",
            "{name}: {response}"
        );
        assert_eq!(response["reasonCode"], code, "{name}: {response}");
        assert_eq!(response["reasonText"], text, "{name}: {response}");
        assert_eq!(response["failedCheck"], check, "{name}: {response}");
        assert!(
            response["reasonDetail"]
                .as_str()
                .is_some_and(|detail| !detail.is_empty()),
            "{name}: {response}"
        );
        assert!(response.get("attest").is_none(), "{name}: {response}");
    }
    let response = api_verify(&server, orig, dest, &div, now());
    assert_eq!(response["verstat"], "No-TN-Validation", "{response}");
    assert!(response.get("reasonCode").is_none(), "{response}");
    assert!(response.get("failedCheck").is_none(), "{response}");

    // Two called numbers: both must be covered.
    let reply = post(
        server.http,
        "/stir/v1/verification",
        &json!({"verificationRequest": {"from": {"tn": orig}, "to": {"tn": [dest, "12025550199"]},
                "identity": good}}),
    );
    let response = &reply.json()["verificationResponse"];
    assert_eq!(response["verstat"], "TN-Validation-Failed", "{response}");
    assert_eq!(response["reasonCode"], 438, "{response}");
}

#[test]
fn api_signature_verifies_over_sip() {
    let server = api_demo("to-sip");
    let identity = api_sign(&server, "12025550100", "12025550101", now());
    // The called number signed: 302. Another one: 438 over SIP as well.
    for (name, to, expected) in [
        ("api-signed", "+12025550101", 302),
        ("api-signed-other", "+12025550199", 438),
    ] {
        let path = common::verify_scenario(&server.dir, name, "+12025550100", to, expected, 0);
        let output = sipp(
            &path,
            server.sip_udp,
            "u1",
            &["-m", "1", "-key", "identity", &identity],
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {}",
            sipp_text(&output)
        );
    }
}

#[test]
fn sip_signature_verifies_over_api() {
    let server = api_demo("from-sip");
    let response = udp_invite(server.sip_udp, "apisip1");
    assert!(
        response.starts_with("SIP/2.0 302 Moved Temporarily\r\n"),
        "{response}"
    );
    let identity = response
        .split("\r\n")
        .find_map(|line| line.strip_prefix("Identity: "))
        .unwrap()
        .to_owned();
    // udp_invite calls +12025550101 from +12025550100.
    let response = api_verify(&server, "+12025550100", "+12025550101", &identity, now());
    assert_eq!(response["verstat"], "TN-Validation-Passed", "{response}");
    assert_eq!(response["attest"], "A", "{response}");
    let response = api_verify(&server, "+12025550100", "+12025550102", &identity, now());
    assert_eq!(response["reasonCode"], 438, "{response}");
}

#[test]
fn invalid_fields_get_400() {
    let mut server = api_demo("400");
    let signing = |request: Value| json!({ "signingRequest": request });
    let verification = |request: Value| json!({ "verificationRequest": request });
    let orig = json!({"tn": "12025550100"});
    let dest = json!({"tn": ["12025550101"]});
    let identity = api_sign(&server, "12025550100", "12025550101", now());

    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "/stir/v1/signing",
            json!([]),
            "body",
            "must be a JSON object",
        ),
        ("/stir/v1/signing", json!({}), "signingRequest", "required"),
        (
            "/stir/v1/signing",
            json!({"signingRequest": "x"}),
            "signingRequest",
            "must be an object",
        ),
        (
            "/stir/v1/signing",
            signing(json!({"dest": dest})),
            "signingRequest.orig",
            "required",
        ),
        (
            "/stir/v1/signing",
            signing(json!({"orig": {}, "dest": dest})),
            "signingRequest.orig.tn",
            "required",
        ),
        (
            "/stir/v1/signing",
            signing(json!({"orig": {"tn": ["1", "2"]}, "dest": dest})),
            "signingRequest.orig.tn",
            "must be a string or an array of one string",
        ),
        (
            "/stir/v1/signing",
            signing(json!({"orig": {"tn": "alice"}, "dest": dest})),
            "signingRequest.orig.tn",
            "must be a telephone number",
        ),
        (
            "/stir/v1/signing",
            signing(json!({"orig": orig})),
            "signingRequest.dest",
            "required",
        ),
        (
            "/stir/v1/signing",
            signing(json!({"orig": orig, "dest": {"tn": []}})),
            "signingRequest.dest.tn",
            "must hold at least one string",
        ),
        (
            "/stir/v1/signing",
            signing(json!({"orig": orig, "dest": {"tn": ["12025550101", "bob"]}})),
            "signingRequest.dest.tn[1]",
            "must be a telephone number",
        ),
        (
            "/stir/v1/signing",
            signing(json!({"orig": orig, "dest": dest, "attest": "a"})),
            "signingRequest.attest",
            "must be \"A\", \"B\" or \"C\"",
        ),
        (
            "/stir/v1/signing",
            signing(json!({"orig": orig, "dest": dest, "iat": "soon"})),
            "signingRequest.iat",
            "must be an integer number of seconds",
        ),
        (
            "/stir/v1/signing",
            signing(json!({"orig": orig, "dest": dest, "iat": -5})),
            "signingRequest.iat",
            "must be an integer number of seconds",
        ),
        (
            "/stir/v1/signing",
            signing(json!({"orig": orig, "dest": dest, "origid": "a\nb"})),
            "signingRequest.origid",
            "origid",
        ),
        (
            "/stir/v1/verification",
            json!({}),
            "verificationRequest",
            "required",
        ),
        (
            "/stir/v1/verification",
            verification(json!({"to": dest, "identity": identity})),
            "verificationRequest.from",
            "required",
        ),
        (
            "/stir/v1/verification",
            verification(json!({"from": {"tn": "x1"}, "to": dest, "identity": identity})),
            "verificationRequest.from.tn",
            "must be a telephone number",
        ),
        (
            "/stir/v1/verification",
            verification(json!({"from": orig, "identity": identity})),
            "verificationRequest.to",
            "required",
        ),
        (
            "/stir/v1/verification",
            verification(json!({"from": orig, "to": {"tn": 5}, "identity": identity})),
            "verificationRequest.to.tn",
            "must be a string or an array of strings",
        ),
        (
            "/stir/v1/verification",
            verification(json!({"from": orig, "to": dest})),
            "verificationRequest.identity",
            "required",
        ),
        (
            "/stir/v1/verification",
            verification(json!({"from": orig, "to": dest, "identity": ""})),
            "verificationRequest.identity",
            "must not be empty",
        ),
        (
            "/stir/v1/verification",
            verification(json!({"from": orig, "to": dest, "identity": identity, "time": 1.5})),
            "verificationRequest.time",
            "must be an integer number of seconds",
        ),
    ];
    for (path, body, field, rule) in &cases {
        let reply = post(server.http, path, body);
        assert_eq!(reply.status, 400, "{path} {body}");
        let error = &reply.json()["error"];
        assert_eq!(error["field"], *field, "{path} {body}: {error}");
        let text = error["rule"].as_str().unwrap();
        assert!(text.starts_with(rule), "{path} {body}: {text}");
    }

    // A body that is not JSON, and one that is empty.
    for (body, rule) in [("{\"signingRequest\":", "must be JSON"), ("", "required")] {
        let reply = send(
            server.http,
            "POST",
            "/stir/v1/signing",
            &[("content-type", "application/json")],
            body,
        );
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.json()["error"]["field"], "body");
        assert!(
            reply.json()["error"]["rule"]
                .as_str()
                .unwrap()
                .starts_with(rule)
        );
    }
    // A media type other than JSON: 415.
    let reply = send(
        server.http,
        "POST",
        "/stir/v1/signing",
        &[("content-type", "text/plain")],
        signing(json!({"orig": orig, "dest": dest})).to_string(),
    );
    assert_eq!(reply.status, 415);
    assert_eq!(reply.json()["error"]["field"], "Content-Type");

    // An Accept header that admits no JSON response: 406. Ranges that admit
    // it, and a request id that comes back on the response.
    for accept in [
        "text/plain",
        "application/xml, text/*",
        "application/json;q=0",
    ] {
        let reply = send(
            server.http,
            "POST",
            "/stir/v1/signing",
            &[("content-type", "application/json"), ("accept", accept)],
            signing(json!({"orig": orig, "dest": dest})).to_string(),
        );
        assert_eq!(reply.status, 406, "{accept}");
        assert_eq!(reply.json()["error"]["field"], "Accept", "{accept}");
    }
    for accept in ["application/json", "*/*", "text/plain, application/*;q=0.5"] {
        let reply = send(
            server.http,
            "POST",
            "/stir/v1/signing",
            &[
                ("content-type", "application/json"),
                ("accept", accept),
                ("x-requestid", "req-42"),
            ],
            signing(json!({"orig": orig, "dest": dest})).to_string(),
        );
        assert_eq!(reply.status, 200, "{accept}");
        assert_eq!(reply.headers["x-requestid"], "req-42", "{accept}");
    }

    // Each rejection is logged with the field, the value and the rule, at
    // most ten lines a second: the next second's first line is written.
    std::thread::sleep(Duration::from_millis(1100));
    let reply = post(
        server.http,
        "/stir/v1/signing",
        &signing(json!({"orig": orig, "dest": dest, "attest": "a"})),
    );
    assert_eq!(reply.status, 400);
    let log = server.stop();
    let line = log
        .lines()
        .find(|line| {
            line.contains("API request rejected") && line.contains("signingRequest.attest")
        })
        .unwrap_or_else(|| panic!("no log line for the attest rejection:\n{log}"));
    assert!(line.contains("value=\"\\\"a\\\"\""), "{line}");
    assert!(
        line.contains("rule=must be \"A\", \"B\" or \"C\""),
        "{line}"
    );
}

#[test]
fn oversized_body_gets_413() {
    let server = api_demo("413");
    // Valid JSON over 64 KiB: the padding is an unknown member.
    let padding = "p".repeat(70 * 1024);
    let body = json!({"signingRequest": {"orig": {"tn": "12025550100"},
                      "dest": {"tn": ["12025550101"]}, "padding": padding}});
    let reply = post(server.http, "/stir/v1/signing", &body);
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["error"]["field"], "body");
    assert_eq!(reply.json()["error"]["rule"], "must be at most 65536 bytes");

    // A body just under the limit is read.
    let padding = "p".repeat(60 * 1024);
    let body = json!({"signingRequest": {"orig": {"tn": "12025550100"},
                      "dest": {"tn": ["12025550101"]}, "padding": padding}});
    assert_eq!(post(server.http, "/stir/v1/signing", &body).status, 200);

    // A body declared far larger gets 413 before it is sent.
    let mut stream = std::net::TcpStream::connect(server.http).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /stir/v1/verification HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 2000000\r\n\r\n",
        server.http
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");
}

#[test]
fn unknown_path_404_and_method_405() {
    let server = api_demo("404");
    for path in ["/stir/v1/nothing", "/", "/stir/v2/signing"] {
        let reply = send(server.http, "GET", path, &[], "");
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.json()["error"]["field"], "path");
    }
    for (method, path, allowed) in [
        ("GET", "/stir/v1/signing", "POST"),
        ("PUT", "/stir/v1/verification", "POST"),
        ("DELETE", "/healthz", "GET"),
        ("POST", "/metrics", "GET"),
    ] {
        let reply = send(server.http, method, path, &[], "");
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.headers["allow"].to_str().unwrap(), allowed);
        assert_eq!(reply.json()["error"]["field"], "method");
    }
}

/// Writes a configuration with the demo's credential, trust anchor and
/// repository, an `auto` SIP listener, and `api` as the `[api]` table.
fn configure(dir: &Path, peer: &Server, api: &str) -> std::path::PathBuf {
    let pki = peer.dir.join("data/pki");
    let repository = peer.repository.clone().unwrap();
    let port = repository
        .trim_start_matches("https://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let config = format!(
        "[[listener]]\ntransport = \"udp\"\nbind = \"127.0.0.1:0\"\nrole = \"auto\"\n\n\
         [[listener]]\ntransport = \"tcp\"\nbind = \"127.0.0.1:0\"\nrole = \"auto\"\n\n\
         [[credential]]\nname = \"demo\"\nkey = \"{}\"\nchain = \"{}\"\nx5u = \"{repository}\"\n\
         attest_max = \"A\"\nattest_default = \"A\"\ndefault = true\n\n\
         [trust]\nca_files = [\"{}\"]\n\n\
         [x5u]\nallowed_ports = [{port}]\nallow_addresses = [\"127.0.0.1\"]\ntls_ca_file = \"{}\"\n\n\
         [api]\n{api}\n",
        pki.join("subscriber.key.pem").display(),
        pki.join("chain.pem").display(),
        pki.join("root.pem").display(),
        peer.dir.join("data/tls/tls-ca.pem").display(),
    );
    let path = dir.join("stird.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// Runs `POST /admin/reload`, asserts 200 and returns the `reload` report.
fn reload_ok(server: &Server) -> Value {
    let reply = send(server.http, "POST", "/admin/reload", &[], "");
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["reload"].clone()
}

/// The administration endpoints, which require the token when one is set.
const ADMIN_ENDPOINTS: [(&str, &str); 4] = [
    ("POST", "/admin/reload"),
    ("GET", "/admin/cache"),
    ("DELETE", "/admin/cache"),
    ("POST", "/admin/cache"),
];

fn write_token(path: &Path, token: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("{token}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn token_required_when_configured() {
    let peer = api_demo("token-peer");
    let dir = temp_dir("api-token");
    let token = "c2VjcmV0LXRva2VuLWZvci10ZXN0cw";
    write_token(&dir.join("api.token"), token, 0o600);
    let config = configure(
        &dir,
        &peer,
        "bind = \"127.0.0.1:0\"\ntoken_file = \"api.token\"",
    );
    let server = start(&dir, &["--config", config.to_str().unwrap()]);
    let body =
        json!({"signingRequest": {"orig": {"tn": "12025550100"}, "dest": {"tn": ["12025550101"]}}});

    let bearer = format!("Bearer {token}");
    let wrong = format!("Bearer {token}x");
    for (path, headers) in [
        (
            "/stir/v1/signing",
            vec![("content-type", "application/json")],
        ),
        ("/stir/v1/signing", vec![("authorization", wrong.as_str())]),
        (
            "/stir/v1/signing",
            vec![("authorization", "Basic dXNlcjpwYXNz")],
        ),
        ("/stir/v1/verification", vec![]),
    ] {
        let reply = send(server.http, "POST", path, &headers, body.to_string());
        assert_eq!(reply.status, 401, "{path} {headers:?}");
        assert_eq!(
            reply.headers["www-authenticate"].to_str().unwrap(),
            "Bearer realm=\"stird\""
        );
        assert_eq!(reply.json()["error"]["field"], "Authorization");
    }
    assert_eq!(send(server.http, "GET", "/metrics", &[], "").status, 401);
    for (method, path) in ADMIN_ENDPOINTS {
        let reply = send(server.http, method, path, &[], "");
        assert_eq!(reply.status, 401, "{method} {path}");
    }

    // With the token: signed, then verified.
    let auth = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let reply = send(
        server.http,
        "POST",
        "/stir/v1/signing",
        &auth,
        body.to_string(),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let identity = reply.json()["signingResponse"]["identity"].clone();
    let verification = json!({"verificationRequest": {"from": {"tn": "12025550100"},
                              "to": {"tn": ["12025550101"]}, "identity": identity}});
    let reply = send(
        server.http,
        "POST",
        "/stir/v1/verification",
        &auth,
        verification.to_string(),
    );
    assert_eq!(
        reply.json()["verificationResponse"]["verstat"],
        "TN-Validation-Passed"
    );
    let lower = format!("bearer {token}");
    assert_eq!(
        send(
            server.http,
            "GET",
            "/metrics",
            &[("authorization", &lower)],
            ""
        )
        .status,
        200
    );

    let reply = send(server.http, "POST", "/admin/reload", &auth, "");
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );

    // Health, readiness and the document stay open.
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        assert_eq!(
            send(server.http, "GET", path, &[], "").status,
            200,
            "{path}"
        );
    }
}

#[test]
fn remote_bind_needs_setting_and_token() {
    let peer = api_demo("remote-peer");
    let dir = temp_dir("api-remote");
    write_token(
        &dir.join("api.token"),
        "c2VjcmV0LXRva2VuLWZvci10ZXN0cw",
        0o600,
    );
    write_token(
        &dir.join("open.token"),
        "c2VjcmV0LXRva2VuLWZvci10ZXN0cw",
        0o644,
    );
    write_token(&dir.join("short.token"), "short", 0o600);
    let cases = [
        ("bind = \"0.0.0.0:0\"", Some("allow_remote = true")),
        (
            "bind = \"0.0.0.0:0\"\ntoken_file = \"api.token\"",
            Some("allow_remote = true"),
        ),
        (
            "bind = \"0.0.0.0:0\"\nallow_remote = true",
            Some("needs authentication"),
        ),
        (
            "bind = \"127.0.0.1:0\"\ntoken_file = \"open.token\"",
            Some("chmod 600"),
        ),
        (
            "bind = \"127.0.0.1:0\"\ntoken_file = \"short.token\"",
            Some("at least 16"),
        ),
        (
            "bind = \"0.0.0.0:0\"\nallow_remote = true\ntoken_file = \"api.token\"",
            None,
        ),
        ("bind = \"[::1]:0\"", None),
    ];
    for (api, error) in cases {
        let config = configure(&dir, &peer, api);
        let output = stird()
            .args(["check-config", config.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        match error {
            Some(message) => {
                assert_eq!(output.status.code(), Some(2), "{api}: {stderr}");
                assert!(stderr.contains(message), "{api}: {stderr}");
            }
            None => assert_eq!(output.status.code(), Some(0), "{api}: {stderr}"),
        }
    }
    // The demo has no token: it refuses a non-loopback HTTP address.
    let output = stird()
        .args([
            "serve",
            "--http",
            "0.0.0.0:0",
            "--sip",
            "127.0.0.1:0",
            "--repository",
            "127.0.0.1:0",
        ])
        .env("STIRD_DATA_DIR", dir.join("data"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback only"));
}

/// The served document is the repository's, each documented operation is
/// served and no other method is, and each example request gets the status of
/// the response example of the same name.
#[test]
fn openapi_document_matches_server() {
    let server = api_demo("openapi");
    let reply = send(server.http, "GET", "/openapi.json", &[], "");
    assert_eq!(reply.status, 200);
    let file = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json")).unwrap();
    assert_eq!(reply.body.as_ref(), file.as_slice());
    let document = reply.json();

    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let mut examples = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in methods {
            let operation = item.get(method.to_ascii_lowercase());
            let reply = send(server.http, method, path, &[], "");
            match operation {
                Some(_) => assert!(
                    ![404, 405].contains(&reply.status),
                    "{method} {path}: {}",
                    reply.status
                ),
                None => assert_eq!(reply.status, 405, "{method} {path}"),
            }
            let Some(operation) = operation else { continue };
            let Some(requests) =
                operation.pointer("/requestBody/content/application~1json/examples")
            else {
                continue;
            };
            for (name, example) in requests.as_object().unwrap() {
                let (status, expected) = operation["responses"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .find_map(|(status, response)| {
                        response
                            .pointer(&format!("/content/application~1json/examples/{name}/value"))
                            .map(|value| (status.parse::<u16>().unwrap(), value.clone()))
                    })
                    .unwrap_or_else(|| panic!("{method} {path}: no response example {name}"));
                let reply = post(server.http, path, &example["value"]);
                assert_eq!(reply.status, status, "{path} example {name}");
                let body = reply.json();
                if path == "/stir/v1/signing" && status == 200 {
                    // A new signature each time: compare the shape.
                    let identity = body["signingResponse"]["identity"].as_str().unwrap();
                    assert!(identity.starts_with("eyJ"), "{identity}");
                } else {
                    assert_eq!(body, expected, "{path} example {name}");
                }
                examples += 1;
            }
        }
    }
    assert_eq!(examples, 7);
}

/// Returns the x5u URL of an Identity header value's info parameter.
fn info_of(identity: &str) -> &str {
    identity
        .split(";info=<")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .unwrap_or_else(|| panic!("no info parameter: {identity}"))
}

#[test]
fn admin_reload_applies_new_x5u() {
    let peer = api_demo("reload-peer");
    let dir = temp_dir("api-reload");
    let config = configure(&dir, &peer, "bind = \"127.0.0.1:0\"");
    let server = start(&dir, &["--config", config.to_str().unwrap()]);
    let old_x5u = peer.repository.clone().unwrap();
    assert_eq!(
        info_of(&api_sign(&server, "12025550100", "12025550101", now())),
        old_x5u
    );

    // A new x5u in the file, in force after the reload for API and SIP signing.
    let new_x5u = old_x5u.replace("/sti/chain.pem", "/sti/renewed.pem");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace(&old_x5u, &new_x5u)).unwrap();
    let report = reload_ok(&server);
    assert_eq!(report["credentials"]["status"], "reloaded", "{report}");
    assert_eq!(report["credentials"]["credentials"], 1, "{report}");
    assert_eq!(report["trust"]["status"], "reloaded", "{report}");
    assert_eq!(report["trust"]["anchors"], 1, "{report}");
    assert_eq!(
        info_of(&api_sign(&server, "12025550100", "12025550101", now())),
        new_x5u
    );
    let response = udp_invite(server.sip_udp, "reload1");
    assert!(response.starts_with("SIP/2.0 302"), "{response}");
    let identity = response
        .lines()
        .find_map(|line| line.strip_prefix("Identity: "))
        .unwrap_or_else(|| panic!("no Identity header: {response}"));
    assert_eq!(info_of(identity), new_x5u);

    // A broken file: an error response, and the credentials in force stay.
    std::fs::write(&config, "[[credential]\nname = ").unwrap();
    let reply = send(server.http, "POST", "/admin/reload", &[], "");
    assert_eq!(
        reply.status,
        500,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let report = reply.json()["reload"].clone();
    assert_eq!(report["credentials"]["status"], "failed", "{report}");
    assert!(
        report["credentials"]["error"]
            .as_str()
            .is_some_and(|error| !error.is_empty()),
        "{report}"
    );
    assert_eq!(report["trust"]["status"], "failed", "{report}");
    assert_eq!(
        info_of(&api_sign(&server, "12025550100", "12025550101", now())),
        new_x5u
    );
    let response = udp_invite(server.sip_udp, "reload2");
    assert!(
        response.contains(&format!(";info=<{new_x5u}>")),
        "{response}"
    );
}

#[test]
fn admin_cache_lists_flushes_and_warms() {
    let server = api_demo("cache");
    let repository = server.repository.clone().unwrap();

    // Emptied first, as the startup check may have fetched the demo chain.
    let reply = send(server.http, "DELETE", "/admin/cache", &[], "");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["flushed"]["tier"], "memory");
    let reply = send(server.http, "GET", "/admin/cache", &[], "");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["count"], 0, "{}", reply.json());

    // Warming fetches the chain from the repository into memory.
    let before = now();
    let reply = post(server.http, "/admin/cache", &json!({"urls": [repository]}));
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let warmed = reply.json();
    assert_eq!(warmed["warmed"], 1, "{warmed}");
    assert_eq!(warmed["results"][0]["url"], repository.as_str());
    assert_eq!(warmed["results"][0]["status"], "cached", "{warmed}");
    assert_eq!(warmed["results"][0]["tier"], "network", "{warmed}");

    let listing = send(server.http, "GET", "/admin/cache", &[], "").json();
    assert_eq!(listing["count"], 1, "{listing}");
    let entry = &listing["entries"][0];
    assert_eq!(entry["url"], repository.as_str());
    assert_eq!(entry["tier"], "network");
    assert_eq!(entry["fresh"], true);
    let fetched_at = entry["fetchedAt"].as_i64().unwrap();
    assert!((before..=now()).contains(&fetched_at), "{entry}");
    assert!(entry["expiresAt"].as_i64().unwrap() > now(), "{entry}");

    // A URL outside the fetch policy fails on its own line; the others stay.
    let outside = "https://127.0.0.1:1/sti/chain.pem";
    let reply = post(server.http, "/admin/cache", &json!({"urls": [outside]}));
    assert_eq!(reply.status, 200);
    let warmed = reply.json();
    assert_eq!(warmed["warmed"], 0, "{warmed}");
    assert_eq!(warmed["results"][0]["status"], "failed", "{warmed}");
    assert!(
        warmed["results"][0]["error"]
            .as_str()
            .is_some_and(|error| !error.is_empty()),
        "{warmed}"
    );

    // Invalid bodies name the field.
    for (body, field) in [
        ("{}", "urls"),
        (r#"{"urls":"https://a.example/x.pem"}"#, "urls"),
        (r#"{"urls":[]}"#, "urls"),
        (r#"{"urls":["https://a.example/x.pem", 7]}"#, "urls[1]"),
        (r#"{"urls":[""]}"#, "urls[0]"),
        ("not json", "body"),
    ] {
        let reply = send(
            server.http,
            "POST",
            "/admin/cache",
            &[("content-type", "application/json")],
            body,
        );
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.json()["error"]["field"], field, "{body}");
    }
    let many: Vec<String> = (0..101)
        .map(|i| format!("https://a.example/{i}.pem"))
        .collect();
    let reply = post(server.http, "/admin/cache", &json!({ "urls": many }));
    assert_eq!(reply.status, 400);

    // Flushing says how many entries it removed.
    let reply = send(server.http, "DELETE", "/admin/cache", &[], "");
    assert_eq!(reply.json()["flushed"]["entries"], 1, "{}", reply.json());
    let listing = send(server.http, "GET", "/admin/cache", &[], "").json();
    assert_eq!(listing["count"], 0, "{listing}");

    // Verification fetches the chain again after the flush.
    let iat = now();
    let identity = api_sign(&server, "12025550100", "12025550101", iat);
    let response = api_verify(&server, "12025550100", "12025550101", &identity, iat);
    assert_eq!(response["verstat"], "TN-Validation-Passed", "{response}");
    let listing = send(server.http, "GET", "/admin/cache", &[], "").json();
    assert_eq!(listing["count"], 1, "{listing}");
}

/// Every API call is counted by route, method and status, and timed by
/// route; unknown paths share one route label.
#[test]
fn api_calls_are_counted_in_metrics() {
    let server = api_demo("metrics");
    let identity = api_sign(&server, "12025550100", "12025550101", now());
    api_verify(&server, "12025550100", "12025550101", &identity, now());
    let reply = post(
        server.http,
        "/stir/v1/signing",
        &json!({"signingRequest": {}}),
    );
    assert_eq!(reply.status, 400);
    for path in ["/a", "/b/c", "/stir/v9"] {
        assert_eq!(send(server.http, "GET", path, &[], "").status, 404);
    }
    assert_eq!(
        send(server.http, "PUT", "/stir/v1/verification", &[], "").status,
        405
    );

    let calls = |route: &str, method: &str, status: u16| {
        metric(
            &server,
            &format!(
                "stird_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} "
            ),
        )
    };
    assert_eq!(calls("/stir/v1/signing", "POST", 200), 1);
    assert_eq!(calls("/stir/v1/signing", "POST", 400), 1);
    assert_eq!(calls("/stir/v1/verification", "POST", 200), 1);
    assert_eq!(calls("unmatched", "GET", 404), 3);
    assert_eq!(calls("/stir/v1/verification", "other", 405), 1);
    assert_eq!(
        metric(
            &server,
            "stird_http_request_duration_seconds_count{route=\"/stir/v1/signing\"} "
        ),
        2
    );
    let text = http_get(server.http, "/metrics");
    assert!(
        !text.contains("route=\"/a\""),
        "an unknown path became a label:\n{text}"
    );
}

/// Reloads while sipp sends calls at a steady rate: the credentials and the
/// trust anchors change every half second, and no call fails.
#[test]
fn reload_under_load_fails_no_call() {
    let peer = api_demo("load-peer");
    let dir = temp_dir("api-reload-load");
    let config = configure(&dir, &peer, "bind = \"127.0.0.1:0\"");
    let pki = peer.dir.join("data/pki");
    // Two copies of the credential under other names, and two trust lists:
    // each reload reads files other than those in force.
    for side in ["a", "b"] {
        std::fs::copy(
            pki.join("subscriber.key.pem"),
            dir.join(format!("key-{side}.pem")),
        )
        .unwrap();
        std::fs::copy(pki.join("chain.pem"), dir.join(format!("chain-{side}.pem"))).unwrap();
    }
    let original = std::fs::read_to_string(&config).unwrap();
    let root = pki.join("root.pem").display().to_string();
    let second_anchor = peer.dir.join("data/tls/tls-ca.pem").display().to_string();
    let variant = |side: &str| {
        let anchors = if side == "a" {
            format!("\"{root}\"")
        } else {
            format!("\"{root}\", \"{second_anchor}\"")
        };
        original
            .replace(
                &pki.join("subscriber.key.pem").display().to_string(),
                &dir.join(format!("key-{side}.pem")).display().to_string(),
            )
            .replace(
                &pki.join("chain.pem").display().to_string(),
                &dir.join(format!("chain-{side}.pem")).display().to_string(),
            )
            .replace(&format!("\"{root}\""), &anchors)
    };
    assert_ne!(variant("a"), variant("b"));
    let server = start(&dir, &["--config", config.to_str().unwrap()]);

    let calls = 500;
    let target = server.sip_udp;
    let load = std::thread::spawn(move || {
        sipp(
            &common::scenario("demo.xml"),
            target,
            "u1",
            &["-m", &calls.to_string(), "-r", "50"],
        )
    });
    let mut reloads = 0;
    // Bounded: 60 reloads at most, stopping when sipp ends.
    while !load.is_finished() && reloads < 60 {
        std::thread::sleep(Duration::from_millis(500));
        let side = if reloads % 2 == 0 { "b" } else { "a" };
        std::fs::write(&config, variant(side)).unwrap();
        let report = reload_ok(&server);
        assert_eq!(report["credentials"]["status"], "reloaded", "{report}");
        let anchors = if side == "a" { 1 } else { 2 };
        assert_eq!(report["trust"]["anchors"], anchors, "{report}");
        reloads += 1;
    }
    let output = load.join().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
    assert!(reloads >= 10, "only {reloads} reloads during the load");

    let value = |line_start: &str| metric(&server, line_start);
    // Every call was signed, then verified with TN-Validation-Passed.
    let listener = "listener=\"udp-127.0.0.1:0\"";
    assert_eq!(
        value(&format!(
            "stird_calls_signed_total{{{listener},result=\"signed\"}} "
        )),
        calls
    );
    assert_eq!(
        value(&format!(
            "stird_calls_verified_total{{{listener},verstat=\"TN-Validation-Passed\"}} "
        )),
        calls
    );
}
