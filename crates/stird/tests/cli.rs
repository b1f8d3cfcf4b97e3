//! The stird command line as an operator runs it: outputs, messages and exit
//! status (0 valid, 1 invalid, 2 usage or input error).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const X5U: &str = "https://cr.example.test/sti/123J.pem";
const T0: &str = "1796396400";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn stird(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stird"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn sign_with(key: &Path) -> Output {
    let key = key.to_str().unwrap();
    stird(&[
        "sign",
        "--key",
        key,
        "--x5u",
        X5U,
        "--attest",
        "B",
        "--orig",
        "+1 (202) 555-0100",
        "--dest",
        "12025550101,+1-202-555-0102",
        "--iat",
        T0,
    ])
}

fn signed() -> String {
    let output = sign_with(&data("signer.key.pem"));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    stdout(&output).trim().to_owned()
}

fn verify(identity: &str, extra: &[&str]) -> Output {
    let chain = data("signer-chain.pem");
    let mut args = vec![
        "verify",
        "--identity",
        identity,
        "--cert",
        chain.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    stird(&args)
}

#[test]
fn sign_emits_identity_header() {
    let identity = signed();
    assert!(
        identity.ends_with(&format!(";info=<{X5U}>;alg=ES256;ppt=shaken")),
        "{identity}"
    );

    let inspection = stird(&["inspect", "--json", &identity]);
    let json: Value = serde_json::from_slice(&inspection.stdout).unwrap();
    assert_eq!(json["claims"]["orig"]["tn"], "12025550100");
    assert_eq!(
        json["claims"]["dest"]["tn"],
        serde_json::json!(["12025550101", "12025550102"])
    );
    assert_eq!(json["claims"]["attest"], "B");
    assert_eq!(json["claims"]["iat"], 1796396400);
    assert_eq!(json["iat_utc"], "2026-12-04T15:00:00Z");
    assert_eq!(json["verified"], false);
    assert_eq!(json["findings"], serde_json::json!([]));
    let origid = json["claims"]["origid"].as_str().unwrap();
    assert_eq!(origid.len(), 36, "{origid}");
}

#[test]
fn sign_accepts_every_key_format() {
    for key in ["signer.key.pem", "signer.sec1.pem", "signer.key.der"] {
        let output = sign_with(&data(key));
        assert_eq!(output.status.code(), Some(0), "{key}: {}", stderr(&output));
        let identity = stdout(&output);
        let check = verify(identity.trim(), &["--at", T0]);
        assert_eq!(check.status.code(), Some(0), "{key}: {}", stdout(&check));
    }
}

#[test]
fn sign_rejects_p384_key() {
    let output = sign_with(&data("p384.key.pem"));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("P-256"), "{}", stderr(&output));
}

#[test]
fn sign_rejects_bad_arguments() {
    let key = data("signer.key.pem");
    let key = key.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--attest", "D"], "--attest: attest 'D' is not A, B or C"),
        (
            &["--orig", "alice"],
            "--orig 'alice' is not a telephone number",
        ),
        (
            &["--iat", "yesterday"],
            "--iat 'yesterday' is neither Unix seconds nor an RFC 3339 time",
        ),
        (
            &["--x5u", "http://cr.example.test/a.pem"],
            "must be an https URL",
        ),
        (&["--origid", ""], "--origid must not be empty"),
    ];
    for (change, message) in cases {
        let mut options = vec![
            ("--key", key),
            ("--x5u", X5U),
            ("--attest", "A"),
            ("--orig", "12025550100"),
            ("--dest", "12025550101"),
        ];
        options.retain(|(name, _)| *name != change[0]);
        let mut args = vec!["sign"];
        args.extend(options.iter().flat_map(|(name, value)| [*name, *value]));
        args.extend_from_slice(change);
        let output = stird(&args);
        assert_eq!(output.status.code(), Some(2), "{change:?}");
        assert!(
            stderr(&output).contains(message),
            "{change:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn sign_missing_key_file_named() {
    let output = stird(&[
        "sign",
        "--key",
        "/nonexistent/key.pem",
        "--x5u",
        X5U,
        "--attest",
        "A",
        "--orig",
        "1",
        "--dest",
        "2",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot read key /nonexistent/key.pem"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn verify_valid_with_numbers() {
    let output = verify(
        &signed(),
        &[
            "--at",
            "2026-12-04T15:00:30Z",
            "--orig",
            "tel:+1-202-555-0100",
            "--dest",
            "sip:+12025550102@x.example;user=phone",
        ],
    );
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("verstat: TN-Validation-Passed"), "{text}");
    assert!(text.contains("attest: B"), "{text}");
    assert!(text.contains("NOT VALIDATED"), "{text}");
}

#[test]
fn verify_stale_names_rule() {
    let output = verify(&signed(), &["--at", "1796396712"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("iat 1796396400 is 312 s older than now (1796396712); the window is 60 s"),
        "{text}"
    );
    assert!(text.contains("sip response: 403 Stale Date"), "{text}");
    assert!(text.contains("verstat: TN-Validation-Failed"), "{text}");
}

#[test]
fn verify_freshness_configurable() {
    let output = verify(&signed(), &["--at", "1796396712", "--freshness", "600"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn verify_wrong_number_names_both() {
    let output = verify(&signed(), &["--at", T0, "--orig", "12025550111"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("orig '12025550100' does not match"), "{text}");
    assert!(text.contains("the request has 12025550111"), "{text}");
    assert!(
        text.contains("sip response: 438 Invalid Identity Header"),
        "{text}"
    );
}

#[test]
fn verify_strict_rejects_quoted_ppt() {
    let identity = signed().replace("ppt=shaken", "ppt=\"shaken\"");
    assert_eq!(verify(&identity, &["--at", T0]).status.code(), Some(0));
    let strict = verify(&identity, &["--at", T0, "--strict"]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(stdout(&strict).contains("quoted"), "{}", stdout(&strict));
}

#[test]
fn verify_accepts_pasted_header_line() {
    let output = verify(&format!("Identity: {}", signed()), &["--at", T0]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn verify_bad_inputs_exit_2() {
    let identity = signed();
    let output = verify(&identity, &["--at", "noon"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--at 'noon'"),
        "{}",
        stderr(&output)
    );

    let key = data("signer.key.pem");
    let output = stird(&[
        "verify",
        "--identity",
        &identity,
        "--cert",
        key.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("holds a private key"),
        "{}",
        stderr(&output)
    );

    let output = stird(&[
        "verify",
        "--identity",
        &identity,
        "--cert",
        "a.pem",
        "--x5u-file",
        "b.pem",
    ]);
    assert_eq!(output.status.code(), Some(2), "clap usage errors exit 2");
}

#[test]
fn verify_garbage_is_invalid_not_crash() {
    for identity in [
        "",
        "garbage",
        "a.b.c;info=<https://x.example/a>",
        "..;info=<https://x.example/a>;ppt=shaken",
    ] {
        let output = verify(identity, &["--at", T0]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{identity}: {}",
            stdout(&output)
        );
        assert!(
            stdout(&output).contains("sip response: 438"),
            "{identity}: {}",
            stdout(&output)
        );
    }
}

#[test]
fn inspect_names_header_defects() {
    let token = signed().split(';').next().unwrap().to_owned();
    let cases = [
        (token.clone(), "no info parameter"),
        (format!("{token};"), "empty parameter name"),
        (format!(";info=<{X5U}>"), "no PASSporT"),
        (
            format!(
                "..{};info=<{X5U}>;ppt=shaken",
                token.rsplit('.').next().unwrap()
            ),
            "compact form",
        ),
    ];
    for (value, defect) in cases {
        let output = stird(&["inspect", &value]);
        let text = stdout(&output);
        assert!(text.contains("UNVERIFIED"), "{text}");
        assert!(text.contains(defect), "{value}: {text}");
    }
}

#[test]
fn inspect_garbled_segment_shows_rest() {
    let value = "kjhytrciOiJFUzI1NiIsInBwdCI6InNoYWtlbiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cDovL05FVS1DMDJGRzJLN01MODU6ODA4MC9jY2lkL2F1dGhuL3YyL2NlcnRzLzExMDAxLjEwMDAxIn0.eyJhdHRlc3QiOiJBIiwiZGVzdCI6eyJ0biI6WyIxNTcxNTU1MDAwMCJdfSwiaWF0IjoxNjQ5NTM2NTMxLCJvcmlnIjp7InVyaSI6InNpcDphbGljZUBleGFtcGxlLmNvbSJ9LCJvcmlnaWQiOiJjODcyNDU3NS1iNzgxLTExZWMtYjU3NC0wMjQyYWMxMTAwMDIifQ.piGZhwqwWaKM4cOcrDTMeFKOY5UlekVDlKZTxlge4x0ERnSe9uW4400gaoVFdpGiTOzoCt9QdSfwLV_hcmvT0g;info=<http://NEU-C02FG2K7ML85:8080/ccid/authn/v2/certs/11001.10001>;alg=ES256;ppt=\"shaken\"";
    let output = stird(&["inspect", value]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("PASSporT header segment is not a JSON object"),
        "{text}"
    );
    assert!(
        text.contains("origid: c8724575-b781-11ec-b574-0242ac110002"),
        "{text}"
    );
    assert!(
        text.contains("iat: 1649536531 (2022-04-09T20:35:31Z)"),
        "{text}"
    );
}

#[test]
fn inspect_reads_sip_message_from_stdin() {
    let identity = signed();
    let message = format!(
        "INVITE sip:+12025550101@sbc.example.com SIP/2.0\r\nIdentity: {identity}\r\ny: garbage\r\nContent-Length: 0\r\n\r\n"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_stird"))
        .args(["inspect", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let list = json.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["summary"]["attest"], "B");
    assert_eq!(list[1]["form"], "unknown");
    assert_eq!(
        output.status.code(),
        Some(1),
        "the second header does not decode"
    );
}

#[test]
fn inspect_without_input_exits_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_stird"))
        .arg("inspect")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no Identity header value"),
        "{}",
        stderr(&output)
    );
}

fn testdata(name: &str) -> String {
    format!("{}/../../testdata/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn cert_verify_prints_path() {
    let output = stird(&[
        "cert",
        "verify",
        "--ca-file",
        &testdata("certs/real-martini-r1-root.pem"),
        "--at",
        "2023-09-29T15:06:40Z",
        &testdata("certs/real-martini-x5u-chain.pem"),
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("0: subscriber: 'CN=SHAKEN 709J"), "{text}");
    assert!(text.contains("2: trust anchor:"), "{text}");
}

#[test]
fn cert_verify_expired_exits_1() {
    let output = stird(&[
        "cert",
        "verify",
        "--ca-file",
        &testdata("certs/real-martini-r1-root.pem"),
        "--at",
        "2023-10-22T00:00:00Z",
        &testdata("certs/real-martini-x5u-chain.pem"),
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("expired at 2023-10-21T17:35:16Z"), "{text}");
}

#[test]
fn cert_verify_needs_trust_anchors() {
    let output = stird(&[
        "cert",
        "verify",
        &testdata("certs/real-martini-x5u-chain.pem"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--ca-file or --ca-dir"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn verify_validates_chain_with_anchors() {
    let identity = signed();
    let chain = data("signer-chain.pem");
    let trusted = stird(&[
        "verify",
        "--identity",
        &identity,
        "--x5u-file",
        chain.to_str().unwrap(),
        "--ca-file",
        &testdata("synthetic/syn-root.pem"),
        "--at",
        T0,
    ]);
    assert_eq!(trusted.status.code(), Some(0), "{}", stdout(&trusted));

    let untrusted = stird(&[
        "verify",
        "--identity",
        &identity,
        "--x5u-file",
        chain.to_str().unwrap(),
        "--ca-file",
        &testdata("synthetic/syn-other-root.pem"),
        "--at",
        T0,
    ]);
    let text = stdout(&untrusted);
    assert_eq!(untrusted.status.code(), Some(1), "{text}");
    assert!(
        text.contains("sip response: 437 Unsupported Credential"),
        "{text}"
    );
    assert!(text.contains("failed check: certificate"), "{text}");
}

#[test]
fn verify_without_certificate_fetches_x5u_under_the_policy() {
    // The name resolves to loopback through --resolve, so no DNS query leaves
    // the machine, and the default policy refuses loopback before connecting.
    let output = stird(&[
        "verify",
        "--identity",
        &signed(),
        "--resolve",
        "cr.example.test:127.0.0.1",
        "--at",
        T0,
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("sip response: 436 Bad Identity Info"),
        "{text}"
    );
    assert!(
        text.contains("address 127.0.0.1 is loopback; x5u fetches go to public addresses only"),
        "{text}"
    );
}

#[test]
fn cert_inspect_shows_tnauthlist() {
    let output = stird(&[
        "cert",
        "inspect",
        "--json",
        &testdata("certs/real-martini-ee-709J.pem"),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["tn_auth_list"], serde_json::json!([{"spc": "709J"}]));
    assert_eq!(
        json["policies"],
        serde_json::json!(["2.16.840.1.114569.1.1.3"])
    );
    assert_eq!(
        json["crl_distribution_points"][0]["uris"][0],
        "https://authenticate-api.iconectiv.com/download/v1/crl"
    );
    assert_eq!(json["key_usage"], serde_json::json!(["digitalSignature"]));
    assert_eq!(json["not_after"], "2023-10-21T17:35:16Z");
}

#[test]
fn cert_inspect_reports_malformed_extension() {
    let output = stird(&["cert", "inspect", &testdata("certs/libstirshaken-sp.pem")]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("TNAuthList: MALFORMED"), "{text}");
}

#[test]
fn cert_inspect_chain_lists_each() {
    let output = stird(&[
        "cert",
        "inspect",
        &testdata("certs/real-martini-x5u-chain.pem"),
    ]);
    let text = stdout(&output);
    assert!(text.contains("certificate 0"), "{text}");
    assert!(text.contains("certificate 1"), "{text}");
    assert!(text.contains("Martini Security SHAKEN G2"), "{text}");
}

#[test]
fn verify_rejects_certificate_without_tnauthlist() {
    let chain = testdata("synthetic/syn-x5u-ee-no-tnauthlist.pem");
    let key = testdata("synthetic/syn-ee-no-tnauthlist.key.pem");
    let signed = stird(&[
        "sign",
        "--key",
        &key,
        "--x5u",
        X5U,
        "--attest",
        "A",
        "--orig",
        "12025550100",
        "--dest",
        "12025550101",
        "--iat",
        T0,
    ]);
    let identity = stdout(&signed);
    let output = stird(&[
        "verify",
        "--identity",
        identity.trim(),
        "--x5u-file",
        &chain,
        "--ca-file",
        &testdata("synthetic/syn-root.pem"),
        "--at",
        T0,
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("no TNAuthList"), "{text}");
    assert!(text.contains("sip response: 437"), "{text}");
}

#[test]
fn cert_verify_checks_crl() {
    let pki = |name: &str| testdata(&format!("pki/{name}"));
    let run = |chain: &str| {
        stird(&[
            "cert",
            "verify",
            "--ca-file",
            &pki("root.pem"),
            "--crl-file",
            &pki("crl.pem"),
            "--crl-file",
            &pki("crl-signer.pem"),
            "--at",
            T0,
            &pki(chain),
        ])
    };
    let good = run("subscriber-chain.pem");
    assert_eq!(good.status.code(), Some(0), "{}", stdout(&good));
    assert!(
        stdout(&good).contains("revocation: checked, not revoked"),
        "{}",
        stdout(&good)
    );

    let revoked = run("revoked-chain.pem");
    assert_eq!(revoked.status.code(), Some(1), "{}", stdout(&revoked));
    assert!(
        stdout(&revoked).contains("is revoked since"),
        "{}",
        stdout(&revoked)
    );
    assert!(
        stdout(&revoked).contains("keyCompromise"),
        "{}",
        stdout(&revoked)
    );
}

#[test]
fn verify_revoked_signer_is_437() {
    let pki = |name: &str| testdata(&format!("pki/{name}"));
    let signed = stird(&[
        "sign",
        "--key",
        &pki("revoked.key.pem"),
        "--x5u",
        X5U,
        "--attest",
        "A",
        "--orig",
        "12025550100",
        "--dest",
        "12025550101",
        "--iat",
        T0,
    ]);
    let identity = stdout(&signed);
    let output = stird(&[
        "verify",
        "--identity",
        identity.trim(),
        "--x5u-file",
        &pki("revoked-chain.pem"),
        "--ca-file",
        &pki("root.pem"),
        "--crl-file",
        &pki("crl.pem"),
        "--crl-file",
        &pki("crl-signer.pem"),
        "--at",
        T0,
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("sip response: 437"), "{text}");
    assert!(text.contains("revoked"), "{text}");
}

#[test]
fn verify_crl_needs_trust_anchors() {
    let output = stird(&[
        "verify",
        "--identity",
        &signed(),
        "--cert",
        data("signer-chain.pem").to_str().unwrap(),
        "--crl-file",
        &testdata("pki/crl.pem"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("need trust anchors"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn cert_lint_exit_status_follows_errors() {
    let bad = stird(&[
        "cert",
        "lint",
        &testdata("certs/real-noncompliant-bigfattelecom-ee.pem"),
    ]);
    let text = stdout(&bad);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(
        text.contains("error   basic_constraints_critical"),
        "{text}"
    );
    assert!(text.contains("[ATIS-1000080 v005 section 6.4.1]"), "{text}");

    let good = stird(&[
        "cert",
        "lint",
        "--at",
        "1696000000",
        &testdata("certs/real-martini-x5u-chain.pem"),
    ]);
    assert_eq!(good.status.code(), Some(0), "{}", stdout(&good));

    // Expiry by now is a notice, so an expired but compliant chain still exits 0.
    let expired = stird(&[
        "cert",
        "lint",
        "--json",
        &testdata("certs/real-martini-x5u-chain.pem"),
    ]);
    assert_eq!(expired.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&expired.stdout).unwrap();
    assert_eq!(json[0]["findings"][0]["code"], "expired");
    assert_eq!(json[0]["findings"][0]["severity"], "notice");
    assert_eq!(json[0]["role"], "end-entity");
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stird-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn pki_init_lints_clean_and_validates() {
    let dir = temp_dir("pki");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let init = stird(&["pki", "init", dir.to_str().unwrap(), "--spc", "999X"]);
    assert_eq!(init.status.code(), Some(0), "{}", stderr(&init));
    for name in [
        "root.pem",
        "intermediate.pem",
        "subscriber.pem",
        "chain.pem",
        "crl-signer.pem",
        "crl.pem",
    ] {
        assert!(dir.join(name).exists(), "{name}");
    }

    for file in ["root.pem", "chain.pem"] {
        let lint = stird(&["cert", "lint", &path(file)]);
        assert_eq!(lint.status.code(), Some(0), "{file}: {}", stdout(&lint));
        assert!(
            !stdout(&lint).contains("error"),
            "{file}: {}",
            stdout(&lint)
        );
    }

    let verify = stird(&[
        "cert",
        "verify",
        "--ca-file",
        &path("root.pem"),
        "--crl-file",
        &path("crl.pem"),
        "--crl-file",
        &path("crl-signer.pem"),
        &path("chain.pem"),
    ]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));

    let openssl = Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            &path("root.pem"),
            "-untrusted",
            &path("intermediate.pem"),
            &path("subscriber.pem"),
        ])
        .output()
        .unwrap();
    assert!(
        openssl.status.success(),
        "{}",
        String::from_utf8_lossy(&openssl.stdout)
    );

    // The subscriber key signs PASSporTs that verify against the chain.
    let signed = stird(&[
        "sign",
        "--key",
        &path("subscriber.key.pem"),
        "--x5u",
        X5U,
        "--attest",
        "A",
        "--orig",
        "12025550100",
        "--dest",
        "12025550101",
    ]);
    let identity = stdout(&signed);
    let check = stird(&[
        "verify",
        "--identity",
        identity.trim(),
        "--x5u-file",
        &path("chain.pem"),
        "--ca-file",
        &path("root.pem"),
        "--crl-file",
        &path("crl.pem"),
        "--crl-file",
        &path("crl-signer.pem"),
    ]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pki_init_builds_each_defect() {
    let cases = [
        ("expired", "verify", "expired at"),
        ("revoked", "verify", "is revoked since"),
        ("no-tnauthlist", "lint", "ee_tn_auth_list"),
        ("wrong-key-usage", "lint", "ee_key_usage_digital_signature"),
        ("p384", "lint", "key_p256"),
    ];
    for (defect, command, expected) in cases {
        let dir = temp_dir(defect);
        let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
        let init = stird(&["pki", "init", dir.to_str().unwrap(), "--broken", defect]);
        assert_eq!(init.status.code(), Some(0), "{defect}: {}", stderr(&init));
        let output = match command {
            "verify" => stird(&[
                "cert",
                "verify",
                "--ca-file",
                &path("root.pem"),
                "--crl-file",
                &path("crl.pem"),
                "--crl-file",
                &path("crl-signer.pem"),
                &path("chain.pem"),
            ]),
            _ => stird(&["cert", "lint", &path("subscriber.pem")]),
        };
        assert_eq!(
            output.status.code(),
            Some(1),
            "{defect}: {}",
            stdout(&output)
        );
        assert!(
            stdout(&output).contains(expected),
            "{defect}: {}",
            stdout(&output)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn pki_init_rejects_bad_spc() {
    let dir = temp_dir("bad-spc");
    let output = stird(&["pki", "init", dir.to_str().unwrap(), "--spc", "12x"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("SPC '12x'"), "{}", stderr(&output));
}

#[test]
fn verify_without_anchors_refuses_expired_certificate() {
    let key = testdata("pki/expired.key.pem");
    let signed = stird(&[
        "sign",
        "--key",
        &key,
        "--x5u",
        X5U,
        "--attest",
        "A",
        "--orig",
        "12025550100",
        "--dest",
        "12025550101",
        "--iat",
        T0,
    ]);
    let output = stird(&[
        "verify",
        "--identity",
        stdout(&signed).trim(),
        "--cert",
        &testdata("pki/expired-chain.pem"),
        "--at",
        T0,
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("not valid at the verification time"),
        "{text}"
    );
    assert!(text.contains("sip response: 437"), "{text}");
}

#[test]
fn verify_malformed_number_is_usage_error() {
    let output = verify(&signed(), &["--orig", "junk"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--orig 'junk' is neither a telephone number"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn verify_rejects_bad_national_rule() {
    for rule in ["0:1", "10:0", "99999999999:1", "10", "10:1234"] {
        let output = verify(&signed(), &["--at", T0, "--national", rule]);
        assert_eq!(output.status.code(), Some(2), "{rule}");
    }
    assert_eq!(
        verify(&signed(), &["--at", T0, "--max-digits", "0"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn inspect_sip_message_without_identity() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stird"))
        .arg("inspect")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let message = b"INVITE sip:+12025550101@sbc.example.com SIP/2.0\r\nFrom: \"Jos\xe9\" <sip:+12025550100@x>;tag=1\r\n\r\n";
    child.stdin.take().unwrap().write_all(message).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("has no Identity or y header"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn inspect_unparsed_header_exits_1() {
    let token = signed().split(';').next().unwrap().to_owned();
    let output = stird(&["inspect", &token]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
}

#[test]
fn control_characters_escaped_in_text() {
    let payload = passport::base64url::encode(b"{\"attest\":\"X\\nresult: valid\"}");
    let value = format!("eyJhbGciOiJFUzI1NiJ9.{payload}.AA;info=<https://x.example/a>");
    let output = stird(&["inspect", &value]);
    let text = stdout(&output);
    assert!(
        !text.lines().any(|line| line.starts_with("result: valid")),
        "{text}"
    );
    assert!(text.contains("\\u{a}result: valid"), "{text}");
}

#[test]
fn sign_with_configured_credentials() {
    let dir = temp_dir("credentials");
    let init = stird(&[
        "pki",
        "init",
        dir.join("a").to_str().unwrap(),
        "--spc",
        "111A",
    ]);
    assert_eq!(init.status.code(), Some(0));
    let config = dir.join("stird.toml");
    std::fs::write(
        &config,
        "[[credential]]\nname = \"carrier-a\"\nkey = \"a/subscriber.key.pem\"\nchain = \"a/chain.pem\"\nx5u = \"https://cr.example.com/a.pem\"\nattest_max = \"B\"\nprefixes = [\"1202\"]\n",
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();

    let list = stird(&["credentials", "list", "--config", &config]);
    assert_eq!(list.status.code(), Some(0), "{}", stdout(&list));
    assert!(
        stdout(&list).contains("selected by: prefix 1202"),
        "{}",
        stdout(&list)
    );

    let signed = stird(&[
        "sign",
        "--config",
        &config,
        "--orig",
        "+1 202 555 0100",
        "--dest",
        "12025550101",
        "--attest",
        "A",
    ]);
    assert_eq!(signed.status.code(), Some(0), "{}", stderr(&signed));
    assert!(
        stderr(&signed).contains("signing with credential 'carrier-a' (prefix 1202)"),
        "{}",
        stderr(&signed)
    );
    assert!(
        stderr(&signed).contains("capped at B"),
        "{}",
        stderr(&signed)
    );
    let inspection: Value =
        serde_json::from_slice(&stird(&["inspect", "--json", stdout(&signed).trim()]).stdout)
            .unwrap();
    assert_eq!(inspection["claims"]["attest"], "B");
    assert_eq!(inspection["summary"]["x5u"], "https://cr.example.com/a.pem");

    let unselected = stird(&[
        "sign",
        "--config",
        &config,
        "--orig",
        "13035550100",
        "--dest",
        "12025550101",
    ]);
    assert_eq!(unselected.status.code(), Some(2));
    assert!(
        stderr(&unselected).contains("no credential is selected for 13035550100"),
        "{}",
        stderr(&unselected)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn credentials_database_created_and_listed() {
    let dir = temp_dir("credentials-db");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("creds.db");
    let init = stird(&["credentials", "init", db.to_str().unwrap()]);
    assert_eq!(init.status.code(), Some(0), "{}", stderr(&init));
    let list = stird(&["credentials", "list", "--db", db.to_str().unwrap()]);
    assert_eq!(list.status.code(), Some(0));
    assert!(
        stdout(&list).contains("no credential is declared"),
        "{}",
        stdout(&list)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn credentials_list_refuses_bad_credential() {
    let dir = temp_dir("credentials-bad");
    stird(&[
        "pki",
        "init",
        dir.join("a").to_str().unwrap(),
        "--broken",
        "expired",
    ]);
    let config = dir.join("stird.toml");
    std::fs::write(
        &config,
        "[[credential]]\nname = \"old\"\nkey = \"a/subscriber.key.pem\"\nchain = \"a/chain.pem\"\nx5u = \"https://cr.example.com/a.pem\"\ndefault = true\n",
    )
    .unwrap();
    let list = stird(&["credentials", "list", "--config", config.to_str().unwrap()]);
    assert_eq!(list.status.code(), Some(1), "{}", stdout(&list));
    assert!(
        stdout(&list).contains("credential 'old'"),
        "{}",
        stdout(&list)
    );
    assert!(
        stdout(&list).contains("is not valid now"),
        "{}",
        stdout(&list)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verify_with_x5u_map() {
    let dir = temp_dir("x5u-map");
    stird(&[
        "pki",
        "init",
        dir.join("a").to_str().unwrap(),
        "--spc",
        "111A",
    ]);
    let config = dir.join("stird.toml");
    std::fs::write(
        &config,
        format!("[x5u.files]\n\"{X5U}\" = \"a/chain.pem\"\n"),
    )
    .unwrap();
    let key = dir.join("a/subscriber.key.pem");
    let signed = stird(&[
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--x5u",
        X5U,
        "--attest",
        "A",
        "--orig",
        "12025550100",
        "--dest",
        "12025550101",
    ]);
    let identity = stdout(&signed);
    let root = dir.join("a/root.pem");
    let output = stird(&[
        "verify",
        "--identity",
        identity.trim(),
        "--config",
        config.to_str().unwrap(),
        "--ca-file",
        root.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("certificate: CN=SHAKEN 111A"),
        "{}",
        stdout(&output)
    );

    let other = stird(&[
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--x5u",
        "https://cr.example.test/other.pem",
        "--attest",
        "A",
        "--orig",
        "12025550100",
        "--dest",
        "12025550101",
    ]);
    let unmapped = stird(&[
        "verify",
        "--identity",
        stdout(&other).trim(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let text = stdout(&unmapped);
    assert_eq!(unmapped.status.code(), Some(1), "{text}");
    assert!(text.contains("is not in the x5u map"), "{text}");
    assert!(text.contains("sip response: 436"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn negative_times_accepted_as_values() {
    let output = verify(&signed(), &["--at", "-5"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("sip response: 403 Stale Date"), "{text}");
}

#[test]
fn pki_tls_writes_repository_certificates() {
    let dir = std::env::temp_dir().join(format!("stird-cli-pki-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let output = stird(&["pki", "tls", dir.to_str().unwrap(), "--name", "cr.test"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let ca = cert::parse_chain(&std::fs::read(dir.join("tls-ca.pem")).unwrap()).unwrap();
    let server = cert::parse_chain(&std::fs::read(dir.join("tls-server.pem")).unwrap()).unwrap();
    assert!(ca[0].is_ca);
    assert!(!server[0].is_ca);
    assert_eq!(server[0].issuer, ca[0].subject);
    assert!(dir.join("tls-server.key.pem").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The packaged configuration loads once its key, chain and trust anchors are
/// in place, as the README's deployment steps put them.
#[test]
fn packaged_config_is_valid() {
    let dir = temp_dir("packaged-config");
    let pki = dir.join("pki");
    let init = stird(&["pki", "init", pki.to_str().unwrap()]);
    assert_eq!(init.status.code(), Some(0), "{}", stderr(&init));
    let etc = dir.join("etc");
    std::fs::create_dir_all(etc.join("trust")).unwrap();
    std::fs::create_dir_all(etc.join("credentials")).unwrap();
    std::fs::copy(pki.join("root.pem"), etc.join("trust/sti-ca-roots.pem")).unwrap();
    std::fs::copy(pki.join("chain.pem"), etc.join("credentials/chain.pem")).unwrap();
    let key = etc.join("credentials/subscriber.key.pem");
    std::fs::copy(pki.join("subscriber.key.pem"), &key).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // The state directory exists only under systemd: the cache goes here.
    let packaged = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/stird.toml"),
    )
    .unwrap();
    assert!(packaged.contains("\"/var/lib/stird/cache/x5u\""));
    let cache = dir.join("cache");
    let config = etc.join("stird.toml");
    std::fs::write(
        &config,
        packaged.replace("/var/lib/stird/cache/x5u", cache.to_str().unwrap()),
    )
    .unwrap();

    let output = stird(&["check-config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("credentials: 1"), "{text}");
    assert!(text.contains("trust anchors: 1"), "{text}");
}
