//! Interoperability with an independent JOSE implementation, PyJWT: it verifies
//! what `stird sign` produces, and `stird verify` accepts what it signs.
//!
//! PyJWT and `cryptography` come from pip (`.ci/run` installs them). Outside CI a
//! machine without them skips these tests with a message; under `CI=true` they fail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const X5U: &str = "https://cr.example.test/sti/123J.pem";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyjwt_interop.py")
}

fn stird() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stird"))
}

/// Reports whether PyJWT can run, failing under CI when it cannot.
fn pyjwt_available() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PyJWT and cryptography are missing; .ci/run installs them with pip"
        );
        eprintln!("skipped: python3 with PyJWT and cryptography is not installed");
    }
    found
}

#[test]
fn pyjwt_verifies_stird_signatures() {
    if !pyjwt_available() {
        return;
    }

    let mut identities = Vec::new();
    for (index, attest) in ["A", "B", "C"].iter().cycle().take(30).enumerate() {
        let output = stird()
            .args(["sign", "--key"])
            .arg(data("signer.key.pem"))
            .args(["--x5u", X5U, "--attest", attest])
            .args(["--orig", &format!("+1-202-555-{:04}", index)])
            .args(["--dest", "12025550199,12025550198"])
            .args(["--iat", &(1_796_396_400 + index as i64).to_string()])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        identities.push(String::from_utf8(output.stdout).unwrap().trim().to_owned());
    }

    let mut child = Command::new("python3")
        .arg(script())
        .arg("verify")
        .arg(data("signer-chain.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(identities.join("\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "PyJWT rejected a PASSporT:\n{stdout}"
    );

    let results: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(results.len(), identities.len());
    for (index, result) in results.iter().enumerate() {
        assert_eq!(result["header"]["alg"], "ES256");
        assert_eq!(result["header"]["typ"], "passport");
        assert_eq!(result["header"]["ppt"], "shaken");
        assert_eq!(result["header"]["x5u"], X5U);
        assert_eq!(
            result["claims"]["orig"]["tn"],
            format!("1202555{:04}", index)
        );
        assert_eq!(result["claims"]["dest"]["tn"][1], "12025550198");
        assert_eq!(result["claims"]["iat"], 1_796_396_400 + index as i64);
        assert_eq!(
            result["parameters"],
            format!("info=<{X5U}>;alg=ES256;ppt=shaken")
        );
    }
}

#[test]
fn stird_verifies_pyjwt_signatures() {
    if !pyjwt_available() {
        return;
    }

    let output = Command::new("python3")
        .arg(script())
        .arg("sign")
        .arg(data("signer.key.pem"))
        .arg(X5U)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cases: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(cases.len(), 7);

    for case in &cases {
        let name = case["case"].as_str().unwrap();
        let output = stird()
            .args([
                "verify",
                "--identity",
                case["identity"].as_str().unwrap(),
                "--cert",
            ])
            .arg(data("signer-chain.pem"))
            .args(["--orig", case["orig"].as_str().unwrap()])
            .args(["--dest", case["dest"].as_str().unwrap()])
            .args(["--at", &case["at"].to_string()])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        match case["expect"].as_str().unwrap() {
            "valid" => {
                assert_eq!(output.status.code(), Some(0), "{name}:\n{stdout}");
                assert!(
                    stdout.contains("verstat: TN-Validation-Passed"),
                    "{name}:\n{stdout}"
                );
            }
            _ => {
                assert_eq!(output.status.code(), Some(1), "{name}:\n{stdout}");
                let code = case["code"].as_u64().unwrap();
                assert!(
                    stdout.contains(&format!("sip response: {code} ")),
                    "{name}:\n{stdout}"
                );
            }
        }
    }
}
