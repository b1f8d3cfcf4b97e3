//! Kamailio from Debian's packages in front of stird, in the redirect model:
//! the configuration of integrations/kamailio/redirect, started with its
//! placeholders filled in, between an originating and a terminating sipp.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Server, demo, free_port, now, scenario, scenario_variant, sign, sipp, sipp_text, start_config,
    temp_dir, uas, verify_scenario,
};

/// Returns true when Kamailio is installed. Without it the tests are skipped
/// with a message, except under `CI=true`, where they fail.
fn have_kamailio() -> bool {
    let found = Command::new("kamailio")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "kamailio must be installed (Debian package kamailio)"
        );
        eprintln!("skipped: kamailio is not installed (Debian package kamailio)");
    }
    found
}

/// A running Kamailio, stopped when dropped.
struct Kamailio {
    child: Child,
    originating: u16,
    terminating: u16,
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // Kamailio's main process stops its children on SIGTERM.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Kamailio with the redirect-model configuration, its two sides on
/// free ports, and waits until both accept TCP connections.
fn kamailio(dir: &Path, sign: u16, verify: u16, called_party: &str) -> Kamailio {
    start_kamailio(
        dir,
        "redirect",
        &[
            ("STIRD_SIGN", format!("127.0.0.1:{sign}")),
            ("STIRD_VERIFY", format!("127.0.0.1:{verify}")),
            ("CALLED_PARTY", called_party.to_owned()),
        ],
    )
}

/// Starts Kamailio with the configuration of `model`, its two sides on free
/// ports and the other placeholders replaced as `values` gives.
fn start_kamailio(dir: &Path, model: &str, values: &[(&str, String)]) -> Kamailio {
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../integrations/kamailio/{model}/kamailio.cfg")),
    )
    .unwrap();
    let (originating, terminating) = (free_port(), free_port());
    let mut config = template
        .replace("ORIG_PORT", &originating.to_string())
        .replace("TERM_PORT", &terminating.to_string());
    for (placeholder, value) in values {
        config = config.replace(placeholder, value);
    }
    let path = dir.join("kamailio.cfg");
    std::fs::write(&path, config).unwrap();
    let child = Command::new("kamailio")
        .arg("-f")
        .arg(&path)
        // In the foreground, logging to standard error, with small memory
        // pools and no runtime directory.
        .args(["-DD", "-E", "-m", "64", "-M", "8", "-Y"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("kamailio.log")).unwrap(),
        ))
        .spawn()
        .expect("kamailio must be installed (Debian package kamailio)");
    let kamailio = Kamailio {
        child,
        originating,
        terminating,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    for port in [originating, terminating] {
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Kamailio did not listen within 20 s:\n{}",
                std::fs::read_to_string(dir.join("kamailio.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    kamailio
}

/// Starts the stird behind Kamailio: a signing and a verifying redirect
/// listener, each on UDP and TCP at one port, trusting the demo's root and
/// fetching from its repository.
fn stird(demo: &Server, dir: &Path, on_failure: &str) -> (Server, u16, u16) {
    stird_trusting(demo, dir, on_failure, &demo.dir.join("data/pki/root.pem"))
}

/// Starts the stird behind Kamailio with `root` as its only trust anchor.
fn stird_trusting(demo: &Server, dir: &Path, on_failure: &str, root: &Path) -> (Server, u16, u16) {
    let (sign, verify) = (free_port(), free_port());
    let pki = demo.dir.join("data/pki");
    let repository = demo.repository.clone().unwrap();
    let repository_port = repository
        .trim_start_matches("https://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut config = String::new();
    for transport in ["udp", "tcp"] {
        config.push_str(&format!(
            "[[listener]]\nname = \"sign-{transport}\"\ntransport = \"{transport}\"\n\
             bind = \"127.0.0.1:{sign}\"\nrole = \"sign\"\n\n\
             [[listener]]\nname = \"verify-{transport}\"\ntransport = \"{transport}\"\n\
             bind = \"127.0.0.1:{verify}\"\nrole = \"verify\"\non_failure = \"{on_failure}\"\n\n"
        ));
    }
    config.push_str(&format!(
        "[[credential]]\nname = \"demo\"\nkey = \"{}\"\nchain = \"{}\"\nx5u = \"{repository}\"\ndefault = true\n\n\
         [trust]\nca_files = [\"{}\"]\n\n\
         [x5u]\nallowed_ports = [{repository_port}]\nallow_addresses = [\"127.0.0.1\"]\ntls_ca_file = \"{}\"\n\n\
         [api]\nbind = \"127.0.0.1:0\"\n",
        pki.join("subscriber.key.pem").display(),
        pki.join("chain.pem").display(),
        root.display(),
        demo.dir.join("data/tls/tls-ca.pem").display(),
    ));
    (start_config(dir, "stird", &config), sign, verify)
}

/// Writes the terminating scenario that checks verstat in
/// P-Asserted-Identity, where the redirect model puts it.
fn terminating_scenario(dir: &Path, verstat: &str) -> std::path::PathBuf {
    scenario_variant(
        dir,
        &format!("uas-{verstat}.xml"),
        "proxy-uas.xml",
        &[(
            "regexp=\"verstat=TN-Validation-Passed\" search_in=\"hdr\" header=\"From:\"",
            &format!(
                "regexp=\"verstat={verstat}\" search_in=\"hdr\" header=\"P-Asserted-Identity:\""
            ),
        )],
    )
}

/// Reads the CPU time a process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // utime and stime: fields 14 and 15 of the whole line, 12 and 13 after
    // the command name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// 2,000 calls at a steady 100 a second: Kamailio signs each through stird,
/// verifies it through stird, and the terminating sipp receives every INVITE
/// with its Identity header and TN-Validation-Passed. Every dialog completes.
#[test]
fn kamailio_signs_and_verifies_through_stird() {
    if !have_kamailio() {
        return;
    }
    let demo = demo("kamailio-peer");
    let dir = temp_dir("kamailio");
    let (server, sign, verify) = stird(&demo, &dir, "reject");
    // A signed INVITE with its SDP exceeds 1,300 bytes, so Kamailio sends it
    // on over TCP (udp_mtu), and the called party takes TCP.
    let called = free_port();
    let kamailio = kamailio(
        &dir,
        sign,
        verify,
        &format!("127.0.0.1:{called};transport=tcp"),
    );
    let calls = 2_000;
    let terminating = uas(
        &terminating_scenario(&dir, "TN-Validation-Passed"),
        called,
        "t1",
        calls,
    );
    let before = cpu_ticks(server.child.id());
    let started = Instant::now();
    let output = sipp(
        &scenario("proxy-uac.xml"),
        format!("127.0.0.1:{}", kamailio.originating)
            .parse()
            .unwrap(),
        "u1",
        &["-m", &calls.to_string(), "-r", "100", "-l", "500"],
    );
    let elapsed = started.elapsed();
    let ticks = cpu_ticks(server.child.id()) - before;
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
    let terminating = terminating.wait_with_output().unwrap();
    assert_eq!(
        terminating.status.code(),
        Some(0),
        "{}",
        sipp_text(&terminating)
    );
    // Clock ticks are 1/100 s on Linux.
    eprintln!(
        "{calls} calls through Kamailio in {elapsed:?}; stird CPU {} ms in all, {:.3} ms per call",
        ticks * 10,
        ticks as f64 * 10.0 / calls as f64
    );
}

/// A PASSporT whose signature was altered gets 438, a stale one 403 Stale
/// Date, one from an unknown CA 437: Kamailio ends the call with stird's
/// code under the reject policy.
#[test]
fn kamailio_rejects_with_stirds_code() {
    if !have_kamailio() {
        return;
    }
    let demo = demo("kamailio-reject-peer");
    let dir = temp_dir("kamailio-reject");
    let (_server, sign_port, verify) = stird(&demo, &dir, "reject");
    let front = kamailio(
        &dir,
        sign_port,
        verify,
        &format!("127.0.0.1:{}", free_port()),
    );
    let terminating = format!("127.0.0.1:{}", front.terminating).parse().unwrap();
    let key = demo.dir.join("data/pki/subscriber.key.pem");
    let repository = demo.repository.clone().unwrap();

    let good = sign(
        &demo,
        &key,
        &repository,
        "+12025550100",
        "+12025550101",
        now(),
    );
    let (token, params) = good.split_once(';').unwrap();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let middle = signature.len() / 2;
    let flipped = if &signature[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    let altered = format!(
        "{signed}.{}{flipped}{};{params}",
        &signature[..middle],
        &signature[middle + 1..]
    );
    let path = verify_scenario(&dir, "altered", "+12025550100", "+12025550101", 438, 0);
    let output = sipp(
        &path,
        terminating,
        "u1",
        &["-m", "1", "-key", "identity", &altered],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));

    let stale = sign(
        &demo,
        &key,
        &repository,
        "+12025550100",
        "+12025550101",
        now() - 3600,
    );
    let path = verify_scenario(&dir, "stale", "+12025550100", "+12025550101", 403, 0);
    let output = sipp(
        &path,
        terminating,
        "u1",
        &["-m", "1", "-key", "identity", &stale],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));

    // A verifier whose only anchor is another root: the demo's chain is
    // from an unknown CA, 437.
    let other = dir.join("other");
    let init = common::stird()
        .args(["pki", "init", other.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(init.status.code(), Some(0));
    let unknown_dir = dir.join("unknown-ca");
    std::fs::create_dir_all(&unknown_dir).unwrap();
    let (_strict, sign_port, verify) =
        stird_trusting(&demo, &unknown_dir, "reject", &other.join("root.pem"));
    let strict = kamailio(
        &unknown_dir,
        sign_port,
        verify,
        &format!("127.0.0.1:{}", free_port()),
    );
    let path = verify_scenario(&dir, "unknown-ca", "+12025550100", "+12025550101", 437, 0);
    let output = sipp(
        &path,
        format!("127.0.0.1:{}", strict.terminating).parse().unwrap(),
        "u1",
        &["-m", "1", "-key", "identity", &good],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
}

/// Under stird's continue policy, an altered call reaches the called party
/// marked TN-Validation-Failed, and the dialog completes.
#[test]
fn kamailio_marks_failures_under_continue() {
    if !have_kamailio() {
        return;
    }
    let demo = demo("kamailio-continue-peer");
    let dir = temp_dir("kamailio-continue");
    let (_server, sign_port, verify) = stird(&demo, &dir, "continue");
    let called = free_port();
    let kamailio = kamailio(&dir, sign_port, verify, &format!("127.0.0.1:{called}"));
    let terminating = uas(
        &terminating_scenario(&dir, "TN-Validation-Failed"),
        called,
        "u1",
        1,
    );
    let key = demo.dir.join("data/pki/subscriber.key.pem");
    // Signed for another calling number than the call's: the orig check fails.
    let other = sign(
        &demo,
        &key,
        &demo.repository.clone().unwrap(),
        "+12025550199",
        "+12025550101",
        now(),
    );
    let with_identity = scenario_variant(
        &dir,
        "identity-uac.xml",
        "proxy-uac.xml",
        &[(
            "      Max-Forwards: 70\n      Content-Type",
            "      Identity: [identity]\n      Max-Forwards: 70\n      Content-Type",
        )],
    );
    let output = sipp(
        &with_identity,
        format!("127.0.0.1:{}", kamailio.terminating)
            .parse()
            .unwrap(),
        "u1",
        &["-m", "1", "-key", "identity", &other],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
    let terminating = terminating.wait_with_output().unwrap();
    assert_eq!(
        terminating.status.code(),
        Some(0),
        "{}",
        sipp_text(&terminating)
    );
}

/// INVITEs over 1,300 bytes sent over UDP: Kamailio relays them over TCP
/// (udp_mtu) to stird and on, and no call is lost.
#[test]
fn kamailio_relays_large_invites_over_tcp() {
    if !have_kamailio() {
        return;
    }
    let demo = demo("kamailio-large-peer");
    let dir = temp_dir("kamailio-large");
    let (_server, sign_port, verify) = stird(&demo, &dir, "reject");
    let called = free_port();
    let kamailio = kamailio(
        &dir,
        sign_port,
        verify,
        &format!("127.0.0.1:{called};transport=tcp"),
    );
    let calls = 20;
    let terminating = uas(
        &terminating_scenario(&dir, "TN-Validation-Passed"),
        called,
        "t1",
        calls,
    );
    let padding = format!(
        "      X-Padding: {}\n      Max-Forwards: 70\n",
        "p".repeat(1200)
    );
    let large = scenario_variant(
        &dir,
        "large-uac.xml",
        "proxy-uac.xml",
        &[(
            "      Max-Forwards: 70\n      Content-Type",
            &format!("{padding}      Content-Type"),
        )],
    );
    let output = sipp(
        &large,
        format!("127.0.0.1:{}", kamailio.originating)
            .parse()
            .unwrap(),
        "u1",
        &["-m", &calls.to_string(), "-r", "10"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
    let terminating = terminating.wait_with_output().unwrap();
    assert_eq!(
        terminating.status.code(),
        Some(0),
        "{}",
        sipp_text(&terminating)
    );
}

/// The HTTP model: Kamailio calls stird's HTTP API from async task routes.
/// Calls reach the called party signed and TN-Validation-Passed, and an
/// altered PASSporT gets 438 when failures are rejected.
#[test]
fn kamailio_http_model_signs_and_verifies() {
    if !have_kamailio() {
        return;
    }
    let demo = demo("kamailio-http-peer");
    let dir = temp_dir("kamailio-http");
    let (server, _, _) = stird(&demo, &dir, "reject");
    let called = free_port();
    let kamailio = start_kamailio(
        &dir,
        "http",
        &[
            ("STIRD_API", server.http.to_string()),
            ("CALLED_PARTY", format!("127.0.0.1:{called};transport=tcp")),
            ("REJECT_FAILURES", "1".to_owned()),
        ],
    );
    let calls = 20;
    let terminating = uas(
        &terminating_scenario(&dir, "TN-Validation-Passed"),
        called,
        "t1",
        calls,
    );
    let output = sipp(
        &scenario("proxy-uac.xml"),
        format!("127.0.0.1:{}", kamailio.originating)
            .parse()
            .unwrap(),
        "u1",
        &["-m", &calls.to_string(), "-r", "10"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
    let terminating = terminating.wait_with_output().unwrap();
    assert_eq!(
        terminating.status.code(),
        Some(0),
        "{}",
        sipp_text(&terminating)
    );

    let key = demo.dir.join("data/pki/subscriber.key.pem");
    let other = sign(
        &demo,
        &key,
        &demo.repository.clone().unwrap(),
        "+12025550199",
        "+12025550101",
        now(),
    );
    let path = verify_scenario(&dir, "http-orig", "+12025550100", "+12025550101", 438, 0);
    let output = sipp(
        &path,
        format!("127.0.0.1:{}", kamailio.terminating)
            .parse()
            .unwrap(),
        "u1",
        &["-m", "1", "-key", "identity", &other],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
}
