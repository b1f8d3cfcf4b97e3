//! `stird serve` end to end: the process started as an operator starts it, its
//! readiness line read for the bound addresses, and sipp as the SIP peer over
//! UDP and TCP (a Rust client for TLS). Certificates come over real HTTPS on
//! loopback from the demo's own repository.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{
    Server, demo, free_port, http_get, metric, now, scenario, scenario_variant, sign, sipp,
    sipp_text, start, start_config, stird, temp_dir, uas, udp_invite, udp_invite_with,
    verify_scenario,
};

#[test]
fn demo_signs_then_verifies_over_udp_and_tcp() {
    let server = demo("demo");
    assert!(http_get(server.http, "/readyz").starts_with("HTTP/1.1 200"));
    assert!(http_get(server.http, "/healthz").starts_with("HTTP/1.1 200"));
    for (transport, target) in [("u1", server.sip_udp), ("t1", server.sip_tcp)] {
        let output = sipp(&scenario("demo.xml"), target, transport, &["-m", "1"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{transport}: {}",
            sipp_text(&output)
        );
    }
    assert!(
        server
            .repository
            .as_deref()
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );
}

#[test]
fn demo_answers_each_failure_with_its_code() {
    let server = demo("failures");
    let dir = server.dir.clone();
    let key = dir.join("data/pki/subscriber.key.pem");
    let x5u = server.repository.clone().unwrap();
    let (orig, dest) = ("+12025550100", "+12025550101");
    let good = sign(&server, &key, &x5u, orig, dest, now());

    // The signature's last character changed.
    let (jws, params) = good.split_once(';').unwrap();
    let mut tampered = jws.to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let tampered = format!("{tampered};{params}");
    let stale = sign(&server, &key, &x5u, orig, dest, now() - 3600);
    // An x5u the demo's fetch policy does not allow: another port on loopback.
    let elsewhere = sign(
        &server,
        &key,
        "https://127.0.0.1:9/sti/chain.pem",
        orig,
        dest,
        now(),
    );

    let cases: [(&str, &str, &str, u16); 5] = [
        ("valid", &good, dest, 302),
        ("tampered", &tampered, dest, 438),
        ("stale", &stale, dest, 403),
        ("wrong-number", &good, "+12025550199", 438),
        ("unreachable-x5u", &elsewhere, dest, 436),
    ];
    for (name, identity, to, expected) in cases {
        let path = verify_scenario(&dir, name, orig, to, expected, 0);
        let output = sipp(
            &path,
            server.sip_udp,
            "u1",
            &["-m", "1", "-key", "identity", identity],
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
fn large_invite_over_tcp_is_signed() {
    let server = demo("large");
    let path = verify_scenario(
        &server.dir,
        "large-no-identity",
        "+12025550100",
        "+12025550101",
        302,
        1500,
    );
    let output = sipp(&path, server.sip_tcp, "t1", &["-m", "1"]);
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
    // Receivers accept datagrams up to 65,535 bytes (RFC 3261 section 18.3):
    // a 3 KB INVITE over UDP is handled too.
    let path = verify_scenario(
        &server.dir,
        "udp-large-no-identity",
        "+12025550100",
        "+12025550101",
        302,
        3000,
    );
    let output = sipp(&path, server.sip_udp, "u1", &["-m", "1"]);
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
}

#[test]
fn ten_thousand_calls_without_a_failure() {
    let server = demo("load");
    let started = Instant::now();
    let output = sipp(
        &scenario("demo.xml"),
        server.sip_udp,
        "u1",
        &["-m", "10000", "-r", "500", "-l", "2000"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
    eprintln!("10,000 demo calls in {:?}", started.elapsed());
}

/// A configuration-mode verifier whose trust anchor is not the demo's root, with
/// `require_identity` and a narrow allow list on a second listener.
#[test]
fn configured_verifier_applies_its_policies() {
    let demo = demo("config-peer");
    let dir = temp_dir("config");
    let other = dir.join("other");
    let status = stird()
        .args(["pki", "init", other.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0));
    let repository = demo.repository.clone().unwrap();
    let repository_port = repository
        .trim_start_matches("https://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let tls_ca = demo.dir.join("data/tls/tls-ca.pem");
    let config = format!(
        r#"
[[listener]]
name = "verify-udp"
transport = "udp"
bind = "127.0.0.1:0"
role = "verify"
require_identity = true

[[listener]]
name = "verify-tcp"
transport = "tcp"
bind = "127.0.0.1:0"
role = "verify"
allow_sources = ["127.0.0.2/32"]

[trust]
ca_files = ["other/root.pem"]

[x5u]
allowed_ports = [{repository_port}]
allow_addresses = ["127.0.0.1"]
tls_ca_file = "{}"

[api]
bind = "127.0.0.1:0"
"#,
        tls_ca.display()
    );
    std::fs::write(dir.join("stird.toml"), config).unwrap();
    let check = stird()
        .args(["check-config", dir.join("stird.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let server = start(
        &dir,
        &["--config", dir.join("stird.toml").to_str().unwrap()],
    );
    let key = demo.dir.join("data/pki/subscriber.key.pem");
    let good = sign(
        &demo,
        &key,
        &repository,
        "+12025550100",
        "+12025550101",
        now(),
    );

    // The demo's chain does not validate to this verifier's anchor: 437.
    let path = verify_scenario(&dir, "unknown-ca", "+12025550100", "+12025550101", 437, 0);
    let output = sipp(
        &path,
        server.sip_udp,
        "u1",
        &["-m", "1", "-key", "identity", &good],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
    // No Identity where one is required: 428.
    let path = verify_scenario(&dir, "no-identity", "+12025550100", "+12025550101", 428, 0);
    let output = sipp(&path, server.sip_udp, "u1", &["-m", "1"]);
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
    // A source outside the TCP listener's allow list: 403.
    let path = verify_scenario(&dir, "forbidden", "+12025550100", "+12025550101", 403, 0);
    let output = sipp(
        &path,
        server.sip_tcp,
        "t1",
        &["-m", "1", "-key", "identity", &good],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));

    // A misspelt key is a startup error that names it.
    std::fs::write(dir.join("bad.toml"), "[[listener]]\ntransport = \"udp\"\nbind = \"127.0.0.1:0\"\nrole = \"verify\"\nrequire_identiy = true\n").unwrap();
    let bad = stird()
        .args(["check-config", dir.join("bad.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("require_identiy"));

    // Two listeners with one name would share their metrics: a startup error.
    let listener = "[[listener]]\nname = \"edge\"\ntransport = \"udp\"\nbind = \"127.0.0.1:0\"\nrole = \"verify\"\n\n";
    std::fs::write(
        dir.join("twice.toml"),
        format!(
            "{listener}{}[trust]\nca_files = [\"{}\"]\n",
            listener.replace("udp", "tcp"),
            demo.dir.join("data/pki/root.pem").display()
        ),
    )
    .unwrap();
    let twice = stird()
        .args(["check-config", dir.join("twice.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(twice.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&twice.stderr);
    assert!(
        stderr.contains("the name 'edge' is used by an earlier listener"),
        "{stderr}"
    );
    let _ = server.sip_tls;
}

/// A TLS listener, driven by a Rust TLS client since Debian's sipp has no TLS.
#[test]
fn tls_listener_signs() {
    use std::sync::Arc;

    let demo = demo("tls-peer");
    let dir = temp_dir("tls");
    let status = stird()
        .args([
            "pki",
            "tls",
            dir.join("tls").to_str().unwrap(),
            "--name",
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0));
    let pki = demo.dir.join("data/pki");
    let config = format!(
        r#"
[[listener]]
transport = "tls"
bind = "127.0.0.1:0"
role = "sign"
tls_cert = "tls/tls-server.pem"
tls_key = "tls/tls-server.key.pem"

[[listener]]
transport = "udp"
bind = "127.0.0.1:0"
role = "sign"

[[listener]]
transport = "tcp"
bind = "127.0.0.1:0"
role = "sign"

[[credential]]
name = "demo"
key = "{}"
chain = "{}"
x5u = "{}"
attest_max = "A"
default = true

[api]
bind = "127.0.0.1:0"
"#,
        pki.join("subscriber.key.pem").display(),
        pki.join("chain.pem").display(),
        demo.repository.clone().unwrap(),
    );
    std::fs::write(dir.join("stird.toml"), config).unwrap();
    let server = start(
        &dir,
        &["--config", dir.join("stird.toml").to_str().unwrap()],
    );
    let address = server.sip_tls.unwrap();

    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(dir.join("tls/tls-ca.pem")).unwrap();
    for block in pem::parse_many(ca).unwrap() {
        roots.add(block.into_contents().into()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(address).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    let invite = "INVITE sip:+12025550101@127.0.0.1;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKtls1\r\n\
         From: <sip:+12025550100@127.0.0.1;user=phone>;tag=t1\r\n\
         To: <sip:+12025550101@127.0.0.1;user=phone>\r\n\
         Call-ID: tls-1@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n";
    tls.write_all(invite.as_bytes()).unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buffer).unwrap();
        assert!(n > 0, "connection closed early");
        response.extend_from_slice(&buffer[..n]);
    }
    let response = String::from_utf8(response).unwrap();
    assert!(
        response.starts_with("SIP/2.0 302 Moved Temporarily\r\n"),
        "{response}"
    );
    assert!(response.contains("\r\nIdentity: eyJ"), "{response}");
    assert!(
        response.contains("\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKtls1"),
        "{response}"
    );
}

/// SIGHUP reloads the credentials; a reload that fails keeps the old ones.
#[test]
fn sighup_reloads_credentials() {
    let demo = demo("reload-peer");
    let dir = temp_dir("reload");
    let pki = demo.dir.join("data/pki");
    let config = |x5u: &str| {
        format!(
            "[[listener]]\ntransport = \"udp\"\nbind = \"127.0.0.1:0\"\nrole = \"sign\"\n\n\
             [[listener]]\ntransport = \"tcp\"\nbind = \"127.0.0.1:0\"\nrole = \"sign\"\n\n\
             [[credential]]\nname = \"demo\"\nkey = \"{}\"\nchain = \"{}\"\nx5u = \"{x5u}\"\ndefault = true\n\n\
             [api]\nbind = \"127.0.0.1:0\"\n",
            pki.join("subscriber.key.pem").display(),
            pki.join("chain.pem").display(),
        )
    };
    let path = dir.join("stird.toml");
    std::fs::write(&path, config("https://cr.example.com/first.pem")).unwrap();
    let server = start(&dir, &["--config", path.to_str().unwrap()]);
    let first = udp_invite(server.sip_udp, "reload1");
    assert!(
        first.contains("info=<https://cr.example.com/first.pem>"),
        "{first}"
    );

    std::fs::write(&path, config("https://cr.example.com/second.pem")).unwrap();
    let pid = server.child.id().to_string();
    let status = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(status.success());
    let mut second = String::new();
    for attempt in 0..50 {
        second = udp_invite(server.sip_udp, &format!("reload2-{attempt}"));
        if second.contains("second.pem") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        second.contains("info=<https://cr.example.com/second.pem>"),
        "{second}"
    );

    // A broken file: the reload fails and the credentials in force stay.
    std::fs::write(
        &path,
        "[[credential]]\nname = \"broken\"\nkey = \"/nonexistent\"\n",
    )
    .unwrap();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let third = udp_invite(server.sip_udp, "reload3");
    assert!(
        third.contains("info=<https://cr.example.com/second.pem>"),
        "{third}"
    );
}

/// A rewrite of the configuration file is reloaded without a signal, once the
/// file has stopped changing. A half-written file that happens to parse, here
/// one whose credential lost its `default` line, is never put in force.
#[test]
fn config_change_reloads_once_settled() {
    let demo = demo("watch-peer");
    let dir = temp_dir("watch");
    let pki = demo.dir.join("data/pki");
    let config = |x5u: &str| {
        format!(
            "[[listener]]\ntransport = \"udp\"\nbind = \"127.0.0.1:0\"\nrole = \"sign\"\n\n\
             [[listener]]\ntransport = \"tcp\"\nbind = \"127.0.0.1:0\"\nrole = \"sign\"\n\n\
             [api]\nbind = \"127.0.0.1:0\"\n\n\
             [[credential]]\nname = \"demo\"\nkey = \"{}\"\nchain = \"{}\"\nx5u = \"{x5u}\"\ndefault = true\n",
            pki.join("subscriber.key.pem").display(),
            pki.join("chain.pem").display(),
        )
    };
    let path = dir.join("stird.toml");
    std::fs::write(&path, config("https://cr.example.com/first.pem")).unwrap();
    let server = start(&dir, &["--config", path.to_str().unwrap()]);

    let complete = config("https://cr.example.com/second.pem");
    let partial = complete.trim_end().trim_end_matches("default = true");
    std::fs::write(&path, partial).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&path, &complete).unwrap();

    // Every call is signed throughout; the new x5u is in force within two
    // poll intervals and a margin.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut attempt = 0;
    loop {
        let response = udp_invite(server.sip_udp, &format!("watch{attempt}"));
        assert!(response.contains("\r\nIdentity: "), "{response}");
        if response.contains("info=<https://cr.example.com/second.pem>") {
            break;
        }
        assert!(Instant::now() < deadline, "not reloaded: {response}");
        attempt += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Certificates exchanged out of band: a verifying listener whose `[x5u.files]`
/// map names the chain of an x5u that is never fetched.
#[test]
fn x5u_map_serves_verification() {
    let demo = demo("map-peer");
    let dir = temp_dir("map");
    let pki = demo.dir.join("data/pki");
    let x5u = "https://127.0.0.2:8443/sti/1234.pem";
    let config = format!(
        "[[listener]]\ntransport = \"udp\"\nbind = \"127.0.0.1:0\"\nrole = \"verify\"\n\n\
         [[listener]]\ntransport = \"tcp\"\nbind = \"127.0.0.1:0\"\nrole = \"verify\"\n\n\
         [trust]\nca_files = [\"{}\"]\n\n[x5u.files]\n\"{x5u}\" = \"{}\"\n\n[api]\nbind = \"127.0.0.1:0\"\n",
        pki.join("root.pem").display(),
        pki.join("chain.pem").display(),
    );
    std::fs::write(dir.join("stird.toml"), config).unwrap();
    let server = start(
        &dir,
        &["--config", dir.join("stird.toml").to_str().unwrap()],
    );
    let identity = sign(
        &demo,
        &pki.join("subscriber.key.pem"),
        x5u,
        "+12025550100",
        "+12025550101",
        now(),
    );
    let path = verify_scenario(&dir, "mapped", "+12025550100", "+12025550101", 302, 0);
    let output = sipp(
        &path,
        server.sip_udp,
        "u1",
        &["-m", "1", "-key", "identity", &identity],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
    // A map entry whose file is missing is a configuration error.
    std::fs::write(
        dir.join("bad-map.toml"),
        "[[listener]]\ntransport = \"udp\"\nbind = \"127.0.0.1:0\"\nrole = \"verify\"\n\n[trust]\nca_files = [\"/nonexistent/root.pem\"]\n\n[x5u.files]\n\"https://a.example/x.pem\" = \"missing.pem\"\n",
    )
    .unwrap();
    let bad = stird()
        .args(["check-config", dir.join("bad-map.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// Writes the configuration of a verifying proxy that trusts the demo's root and
/// fetches from its repository, with `extra` keys in its listener.
fn verify_proxy_config(demo: &Server, next_hop: u16, extra: &str) -> String {
    let repository = demo.repository.clone().unwrap();
    let repository_port = repository
        .trim_start_matches("https://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    format!(
        "[[listener]]\nname = \"verify-proxy\"\ntransport = \"udp\"\nbind = \"127.0.0.1:0\"\n\
         role = \"verify\"\nmode = \"proxy\"\nnext_hop = \"127.0.0.1:{next_hop}\"\n{extra}\n\n\
         [trust]\nca_files = [\"{}\"]\n\n\
         [x5u]\nallowed_ports = [{repository_port}]\nallow_addresses = [\"127.0.0.1\"]\ntls_ca_file = \"{}\"\n\n\
         [api]\nbind = \"127.0.0.1:0\"\n",
        demo.dir.join("data/pki/root.pem").display(),
        demo.dir.join("data/tls/tls-ca.pem").display(),
    )
}

/// Writes the configuration of a signing proxy with the demo's credential.
fn sign_proxy_config(demo: &Server, next_hop: SocketAddr) -> String {
    let pki = demo.dir.join("data/pki");
    format!(
        "[[listener]]\nname = \"sign-proxy\"\ntransport = \"udp\"\nbind = \"127.0.0.1:0\"\n\
         role = \"sign\"\nmode = \"proxy\"\nnext_hop = \"{next_hop}\"\n\n\
         [[credential]]\nname = \"demo\"\nkey = \"{}\"\nchain = \"{}\"\nx5u = \"{}\"\ndefault = true\n\n\
         [api]\nbind = \"127.0.0.1:0\"\n",
        pki.join("subscriber.key.pem").display(),
        pki.join("chain.pem").display(),
        demo.repository.clone().unwrap(),
    )
}

/// Originating sipp, a signing proxy, a verifying proxy and terminating sipp:
/// every INVITE reaches the terminating side with its Identity header and
/// TN-Validation-Passed, and each dialog completes through the chain.
#[test]
fn proxy_chain_signs_and_verifies_whole_dialogs() {
    let demo = demo("proxy-chain-peer");
    let dir = temp_dir("proxy-chain");
    let port = free_port();
    let calls = 20;
    let terminating = uas(&scenario("proxy-uas.xml"), port, "u1", calls);
    let verifier = start_config(&dir, "verify", &verify_proxy_config(&demo, port, ""));
    let signer = start_config(&dir, "sign", &sign_proxy_config(&demo, verifier.sip_udp));

    let output = sipp(
        &scenario("proxy-uac.xml"),
        signer.sip_udp,
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
    // INVITE, ACK and BYE of each call, forwarded by each proxy over UDP.
    for proxy in [&signer, &verifier] {
        let forwarded = metric(
            proxy,
            &format!(
                "stird_proxy_forwarded_total{{listener=\"{}-proxy\",transport=\"udp\"}} ",
                if std::ptr::eq(proxy, &signer) {
                    "sign"
                } else {
                    "verify"
                }
            ),
        );
        assert!(forwarded >= 3 * calls as u64, "{forwarded}");
    }
}

/// INVITEs over 1,300 bytes sent over UDP: the signing proxy forwards them
/// over TCP, and no call is lost.
#[test]
fn large_invites_are_forwarded_over_tcp() {
    let demo = demo("proxy-large-peer");
    let dir = temp_dir("proxy-large");
    let port = free_port();
    let calls = 20;
    let terminating = uas(&scenario("proxy-uas.xml"), port, "t1", calls);
    let verifier = start_config(
        &dir,
        "verify",
        &verify_proxy_config(&demo, port, "next_hop_transport = \"tcp\""),
    );
    let signer = start_config(&dir, "sign", &sign_proxy_config(&demo, verifier.sip_udp));
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
        signer.sip_udp,
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
    let large = metric(
        &signer,
        "stird_proxy_large_over_tcp_total{listener=\"sign-proxy\"} ",
    );
    assert_eq!(large, calls as u64);
}

/// The failure policies in proxy mode: a PASSporT whose signature was altered
/// reaches the terminating side marked TN-Validation-Failed when the policy
/// continues, and a stale one is rejected with 403 when it rejects.
#[test]
fn proxy_applies_the_failure_policies() {
    let demo = demo("proxy-policy-peer");
    let dir = temp_dir("proxy-policy");
    let key = demo.dir.join("data/pki/subscriber.key.pem");
    let repository = demo.repository.clone().unwrap();

    // Continue: the altered call goes on, marked failed, and completes.
    let port = free_port();
    let failed_uas = scenario_variant(
        &dir,
        "failed-uas.xml",
        "proxy-uas.xml",
        &[(
            "verstat=TN-Validation-Passed",
            "verstat=TN-Validation-Failed",
        )],
    );
    let terminating = uas(&failed_uas, port, "u1", 1);
    let continuing = start_config(
        &dir,
        "continue",
        &verify_proxy_config(&demo, port, "on_failure = \"continue\""),
    );
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
        continuing.sip_udp,
        "u1",
        &["-m", "1", "-key", "identity", &altered],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
    let terminating = terminating.wait_with_output().unwrap();
    assert_eq!(
        terminating.status.code(),
        Some(0),
        "{}",
        sipp_text(&terminating)
    );

    // Reject: a PASSporT an hour old gets 403 Stale Date from the proxy.
    let rejecting = start_config(&dir, "reject", &verify_proxy_config(&demo, free_port(), ""));
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
        rejecting.sip_udp,
        "u1",
        &["-m", "1", "-key", "identity", &stale],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
}

/// Returns the resident memory of a process, in KiB.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap()
}

/// A burst of 3,000 INVITEs at a signing proxy limited to 200 a second. The
/// excess gets 503 with Retry-After and the accepted calls reach the next hop
/// signed. `/metrics` counts exactly the calls shed, and resident memory
/// grows by less than 64 MiB.
#[test]
fn proxy_overload_sheds_the_excess() {
    use std::net::UdpSocket;

    let demo = demo("proxy-overload-peer");
    let dir = temp_dir("proxy-overload");
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    sink.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let config = sign_proxy_config(&demo, sink.local_addr().unwrap())
        .replace("mode = \"proxy\"", "mode = \"proxy\"\nrate_limit = 200");
    let proxy = start_config(&dir, "limited", &config);
    let before = resident_kib(proxy.child.id());

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let local = client.local_addr().unwrap();
    let total = 3_000;
    // Both sides are read while the burst is sent, so no socket buffer
    // overflows; each reader stops after two seconds of silence.
    let read = |socket: UdpSocket, check: fn(&str)| {
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 65_536];
            let mut count = 0;
            while let Ok((n, _)) = socket.recv_from(&mut buffer) {
                check(&String::from_utf8_lossy(&buffer[..n]));
                count += 1;
            }
            count
        })
    };
    let shed = read(client.try_clone().unwrap(), |response| {
        assert!(
            response.starts_with("SIP/2.0 503 Service Unavailable\r\n"),
            "{response}"
        );
        assert!(response.contains("\r\nRetry-After: 1\r\n"), "{response}");
    });
    let forwarded = read(sink, |request| {
        assert!(request.contains("\r\nIdentity: eyJ"), "{request}");
    });
    for i in 0..total {
        let invite = format!(
            "INVITE sip:+12025550101@127.0.0.1;user=phone SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bKburst{i};rport\r\n\
             From: <sip:+12025550100@127.0.0.1;user=phone>;tag=b{i}\r\n\
             To: <sip:+12025550101@127.0.0.1;user=phone>\r\n\
             Call-ID: burst-{i}@127.0.0.1\r\n\
             CSeq: 1 INVITE\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        );
        client.send_to(invite.as_bytes(), proxy.sip_udp).unwrap();
        if i % 100 == 99 {
            // Paced at about 5,000 a second.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let (shed, forwarded) = (shed.join().unwrap(), forwarded.join().unwrap());
    assert_eq!(shed + forwarded, total);
    assert!(forwarded >= 200, "{forwarded}");
    assert!(shed >= total / 2, "{shed}");
    assert_eq!(
        metric(
            &proxy,
            "stird_sip_shed_total{listener=\"sign-proxy\",reason=\"rate\"} "
        ),
        shed as u64
    );
    let after = resident_kib(proxy.child.id());
    assert!(
        after < before + 64 * 1024,
        "{before} KiB before, {after} KiB after"
    );
}

#[test]
fn json_logs_one_object_per_line() {
    let dir = temp_dir("json-logs");
    let mut args = common::DEMO_ARGS.to_vec();
    args.extend(["--log-format", "json"]);
    let mut server = start(&dir, &args);
    // A rejected API request adds a warning with fields of its own.
    let response = common::http_get(server.http, "/no-such-path");
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let stderr = server.stop();

    let lines: Vec<&str> = stderr.lines().filter(|line| !line.is_empty()).collect();
    assert!(!lines.is_empty(), "no log lines");
    let mut events = Vec::new();
    for line in &lines {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"));
        for field in ["timestamp", "level", "target", "message"] {
            assert!(event.get(field).is_some(), "no {field}: {line}");
        }
        events.push(event);
    }
    let ready = events
        .iter()
        .find(|event| event["message"] == "stird ready")
        .unwrap_or_else(|| panic!("no readiness event: {stderr}"));
    assert_eq!(ready["level"], "INFO");
    assert!(
        ready["addresses"]
            .as_str()
            .is_some_and(|addresses| addresses.contains(&server.http.to_string())),
        "{ready}"
    );
    let rejected = events
        .iter()
        .find(|event| event["message"] == "API request rejected")
        .unwrap_or_else(|| panic!("no rejection event: {stderr}"));
    assert_eq!(rejected["level"], "WARN");
    assert_eq!(rejected["status"], 404);
    assert!(
        rejected["path"]
            .as_str()
            .is_some_and(|path| path.contains("/no-such-path")),
        "{rejected}"
    );
}

#[test]
fn rust_log_filters_without_log_flag() {
    let dir = temp_dir("rust-log");
    let demo_args = common::DEMO_ARGS;
    // RUST_LOG=warn hides the info lines, such as the readiness line.
    let mut server = common::start_env(&dir, &demo_args, &[("RUST_LOG", "warn")]);
    let stderr = server.stop();
    assert!(!stderr.contains("stird ready"), "{stderr}");

    // --log takes precedence over RUST_LOG.
    let mut args = demo_args.to_vec();
    args.extend(["--log", "info"]);
    let mut server = common::start_env(&dir, &args, &[("RUST_LOG", "warn")]);
    let stderr = server.stop();
    assert!(stderr.contains("stird ready"), "{stderr}");

    // An invalid filter is a startup error naming where it came from.
    let output = stird()
        .args(["serve", "--http", "127.0.0.1:0"])
        .env("RUST_LOG", "stird=loud")
        .env("STIRD_DATA_DIR", dir.join("data"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("RUST_LOG 'stird=loud'"), "{stderr}");
}

/// Waits at most `limit` for `child` to exit and returns its exit code.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("stird still running after {limit:?}");
}

#[test]
fn sigterm_finishes_calls_in_progress() {
    let demo = demo("shutdown-peer");
    let dir = temp_dir("shutdown");

    // A certificate repository that accepts connections and never answers,
    // so that a verification is still in progress when SIGTERM arrives.
    let slow = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let slow_port = slow.local_addr().unwrap().port();
    slow.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut held = Vec::new();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok((stream, _)) = slow.accept() {
                held.push(stream);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let config = format!(
        "[[listener]]\ntransport = \"udp\"\nbind = \"127.0.0.1:0\"\nrole = \"verify\"\n\n\
         [[listener]]\ntransport = \"tcp\"\nbind = \"127.0.0.1:0\"\nrole = \"verify\"\n\n\
         [trust]\nca_files = [\"{}\"]\n\n\
         [x5u]\nallowed_ports = [{slow_port}]\nallow_addresses = [\"127.0.0.1\"]\ntls_ca_file = \"{}\"\n\n\
         [api]\nbind = \"127.0.0.1:0\"\n",
        demo.dir.join("data/pki/root.pem").display(),
        demo.dir.join("data/tls/tls-ca.pem").display(),
    );
    let path = dir.join("stird.toml");
    std::fs::write(&path, config).unwrap();
    let mut server = start(
        &dir,
        &[
            "--config",
            path.to_str().unwrap(),
            "--shutdown-timeout",
            "10",
        ],
    );

    let identity = sign(
        &server,
        &demo.dir.join("data/pki/subscriber.key.pem"),
        &format!("https://127.0.0.1:{slow_port}/sti/chain.pem"),
        "12025550100",
        "12025550101",
        now(),
    );
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:+12025550101@127.0.0.1;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKshutdown1\r\n\
         From: <sip:+12025550100@127.0.0.1;user=phone>;tag=s1\r\n\
         To: <sip:+12025550101@127.0.0.1;user=phone>\r\n\
         Call-ID: shutdown1@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Identity: {identity}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    socket.send_to(invite.as_bytes(), server.sip_udp).unwrap();
    // The verification is waiting on the repository when SIGTERM arrives.
    std::thread::sleep(Duration::from_millis(500));
    let pid = server.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());

    // The call in progress still gets its answer: the fetch fails, so 436.
    let mut buffer = [0u8; 8192];
    let (length, _) = socket.recv_from(&mut buffer).unwrap();
    let response = String::from_utf8_lossy(&buffer[..length]).into_owned();
    assert!(response.starts_with("SIP/2.0 436"), "{response}");

    assert_eq!(
        wait_exit(&mut server.child, Duration::from_secs(30)),
        Some(0)
    );
    let stderr = server.stop();
    let stopped = stderr
        .lines()
        .find(|line| line.contains("stird stopped"))
        .unwrap_or_else(|| panic!("no shutdown line: {stderr}"));
    assert!(stopped.contains("signal=\"SIGTERM\""), "{stopped}");
    assert!(stopped.contains("calls_unfinished=0"), "{stopped}");
    assert!(stopped.contains("calls_finished=true"), "{stopped}");
    assert!(stopped.contains("cache_flushed=true"), "{stopped}");
}

#[test]
fn sigterm_stops_idle_demo() {
    let mut server = demo("shutdown-idle");
    let pid = server.child.id().to_string();
    let started = Instant::now();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    assert_eq!(
        wait_exit(&mut server.child, Duration::from_secs(30)),
        Some(0)
    );
    // Nothing is in progress, so the deadline is not waited for.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let stderr = server.stop();
    assert!(stderr.contains("stird stopped"), "{stderr}");
    assert!(
        std::net::TcpStream::connect(server.http).is_err(),
        "the HTTP port still accepts connections"
    );
}

/// `/metrics` before and after a known set of calls: three demo calls (each
/// signed, then verified) and one stale PASSporT move the counters by exactly
/// that much.
#[test]
fn metrics_count_exactly_the_calls_made() {
    let server = demo("metrics-count");
    let read = |name: &str| metric(&server, &format!("{name} "));
    let signed = "stird_calls_signed_total{listener=\"demo-udp\",result=\"signed\"}";
    let passed =
        "stird_calls_verified_total{listener=\"demo-udp\",verstat=\"TN-Validation-Passed\"}";
    let stale = "stird_calls_rejected_total{listener=\"demo-udp\",code=\"403\"}";
    let freshness = "stird_verify_failed_checks_total{check=\"freshness\"}";
    let received = "stird_sip_messages_received_total{listener=\"demo-udp\",transport=\"udp\",kind=\"request\"}";
    let sent = "stird_sip_messages_sent_total{listener=\"demo-udp\",transport=\"udp\"}";
    let invites =
        "stird_sip_request_duration_seconds_count{listener=\"demo-udp\",method=\"INVITE\"}";
    let scrapes = "stird_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"}";
    let counters = [signed, passed, stale, freshness, received, sent, invites];
    // The first scrape registers the scrape counter; it exists from the second.
    let _ = read(signed);
    let before: Vec<u64> = counters.iter().map(|name| read(name)).collect();
    let scrapes_before = read(scrapes);

    let output = sipp(&scenario("demo.xml"), server.sip_udp, "u1", &["-m", "3"]);
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));
    let key = server.dir.join("data/pki/subscriber.key.pem");
    let repository = server.repository.clone().unwrap();
    let old = sign(
        &server,
        &key,
        &repository,
        "+12025550100",
        "+12025550101",
        now() - 3600,
    );
    let path = verify_scenario(
        &server.dir,
        "metrics-stale",
        "+12025550100",
        "+12025550101",
        403,
        0,
    );
    let output = sipp(
        &path,
        server.sip_udp,
        "u1",
        &["-m", "1", "-key", "identity", &old],
    );
    assert_eq!(output.status.code(), Some(0), "{}", sipp_text(&output));

    // Each demo call is an INVITE and an ACK to sign, then the same to
    // verify: 12 requests and 6 responses. The stale call adds an INVITE,
    // its 403 and the ACK.
    let expected = [3, 3, 1, 1, 14, 7, 7];
    // sipp exits right after sending its last ACK, which stird may still be
    // handling: the counts are read again for up to 5 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut reads = 0;
    let moved = loop {
        let after: Vec<u64> = counters.iter().map(|name| read(name)).collect();
        reads += 1;
        let moved: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        if moved == expected || Instant::now() > deadline {
            break moved;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(moved, expected, "{counters:?}");
    // The scrapes between the two reads of the scrape counter: those of the
    // loop and the first read of this line.
    assert_eq!(
        read(scrapes) - scrapes_before,
        reads * counters.len() as u64 + 1
    );
}

/// An x5u origin that refuses connections: each fetch is counted by outcome
/// and timed, the circuit opens after the configured number of failures, and
/// later calls to that origin get 436 without a fetch.
#[test]
fn metrics_fetch_failures_open_circuit() {
    let demo = demo("circuit-peer");
    let dir = temp_dir("circuit");
    // A loopback port with nothing listening: connections are refused.
    let closed = free_port();
    let config = format!(
        "[[listener]]\nname = \"circuit\"\ntransport = \"udp\"\nbind = \"127.0.0.1:0\"\nrole = \"verify\"\n\n\
         [[listener]]\ntransport = \"tcp\"\nbind = \"127.0.0.1:0\"\nrole = \"verify\"\n\n\
         [trust]\nca_files = [\"{}\"]\n\n\
         [x5u]\nallowed_ports = [{closed}]\nallow_addresses = [\"127.0.0.1\"]\n\
         circuit_failures = 2\ncircuit_base = 300\n\n\
         [api]\nbind = \"127.0.0.1:0\"\n",
        demo.dir.join("data/pki/root.pem").display(),
    );
    let server = start_config(&dir, "circuit", &config);

    let key = demo.dir.join("data/pki/subscriber.key.pem");
    // Distinct URLs, so that the circuit rejects the third call rather than
    // the negative cache.
    for call in 0..3 {
        let identity = sign(
            &server,
            &key,
            &format!("https://127.0.0.1:{closed}/sti/{call}.pem"),
            "12025550100",
            "12025550101",
            now(),
        );
        let response = udp_invite_with(server.sip_udp, &format!("circuit{call}"), Some(&identity));
        // RFC 8224 section 6.2.2: a credential that cannot be obtained.
        assert!(response.starts_with("SIP/2.0 436"), "{response}");
    }
    let origin = format!("origin=\"127.0.0.1:{closed}\"");
    let read = |name: &str| metric(&server, &format!("{name} "));
    assert_eq!(read("stird_x5u_fetches_total{outcome=\"connect\"}"), 2);
    assert_eq!(
        read("stird_x5u_fetch_duration_seconds_count{result=\"failed\"}"),
        2
    );
    assert_eq!(read(&format!("stird_x5u_circuit_state{{{origin}}}")), 1);
    assert_eq!(read(&format!("stird_x5u_circuit_failures{{{origin}}}")), 2);
    assert_eq!(read("stird_x5u_circuits_open"), 1);
    assert_eq!(
        read("stird_verify_failed_checks_total{check=\"certificate\"}"),
        3
    );
    assert_eq!(
        read("stird_calls_rejected_total{listener=\"circuit\",code=\"436\"}"),
        3
    );
}

/// An origin whose circuit opened is reported half-open once the skip
/// interval ends, and closed once a trial fetch gets a response.
#[test]
fn metrics_recovered_circuit_closes() {
    let demo = demo("recovery-peer");
    let dir = temp_dir("recovery");
    let repository = demo.repository.clone().unwrap();
    let upstream: SocketAddr = repository
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Nothing listens on this port until the origin recovers.
    let port = free_port();
    let config = format!(
        "[[listener]]\nname = \"recovery\"\ntransport = \"udp\"\nbind = \"127.0.0.1:0\"\nrole = \"verify\"\n\n\
         [[listener]]\ntransport = \"tcp\"\nbind = \"127.0.0.1:0\"\nrole = \"verify\"\n\n\
         [trust]\nca_files = [\"{}\"]\n\n\
         [x5u]\nallowed_ports = [{port}]\nallow_addresses = [\"127.0.0.1\"]\ntls_ca_file = \"{}\"\n\
         circuit_failures = 1\ncircuit_base = 1\n\n\
         [api]\nbind = \"127.0.0.1:0\"\n",
        demo.dir.join("data/pki/root.pem").display(),
        demo.dir.join("data/tls/tls-ca.pem").display(),
    );
    let server = start_config(&dir, "recovery", &config);
    let key = demo.dir.join("data/pki/subscriber.key.pem");
    let x5u = |path: &str| format!("https://127.0.0.1:{port}/sti/{path}");
    let state = format!("stird_x5u_circuit_state{{origin=\"127.0.0.1:{port}\"}} ");

    let identity = sign(
        &server,
        &key,
        &x5u("down.pem"),
        "12025550100",
        "12025550101",
        now(),
    );
    let response = udp_invite_with(server.sip_udp, "recovery1", Some(&identity));
    assert!(response.starts_with("SIP/2.0 436"), "{response}");
    assert_eq!(metric(&server, &state), 1);
    assert_eq!(metric(&server, "stird_x5u_circuits_open "), 1);

    // The origin comes back: a forwarder on its port relays each connection
    // to the demo's repository, whose TLS name is 127.0.0.1 on any port.
    let forwarder = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        // Bounded: the test makes one fetch through it.
        for client in forwarder.incoming().take(4) {
            let Ok(client) = client else { continue };
            let Ok(repository) = std::net::TcpStream::connect(upstream) else {
                continue;
            };
            let (mut client_read, mut repository_write) =
                (client.try_clone().unwrap(), repository.try_clone().unwrap());
            let (mut repository_read, mut client_write) = (repository, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_read, &mut repository_write);
                let _ = repository_write.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut repository_read, &mut client_write);
                let _ = client_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        metric(&server, &state),
        2,
        "half-open after the 1 s interval"
    );

    let identity = sign(
        &server,
        &key,
        &x5u("chain.pem"),
        "12025550100",
        "12025550101",
        now(),
    );
    let response = udp_invite_with(server.sip_udp, "recovery2", Some(&identity));
    assert!(response.starts_with("SIP/2.0 302"), "{response}");
    assert!(
        response.contains("verstat=TN-Validation-Passed"),
        "{response}"
    );
    assert_eq!(metric(&server, &state), 0);
    assert_eq!(metric(&server, "stird_x5u_circuits_open "), 0);
    assert_eq!(
        metric(&server, "stird_x5u_fetches_total{outcome=\"ok\"} "),
        1
    );
}
