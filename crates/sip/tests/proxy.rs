//! The stateless proxy over real UDP and TCP sockets on loopback: a client
//! socket sends requests to the proxy, a next-hop socket receives what it
//! forwards and sends responses back through it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../../certstore/tests/support/mod.rs"]
mod support;

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{header, no_services, signing, status, verifying};
use service::SignRequest;
use sip::proxy::{DEFAULT_MTU, HopTransport, ProxyConfig, ProxyServer};
use sip::redirect::{ListenerPolicy, OnFailure, OnOverload, Role, Services};
use sip::transport::{Limits, serve_stream, serve_udp};
use support::{Repository, Route, TempDir, now};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// A proxy listening on UDP and TCP at one loopback port, a client socket,
/// and a next-hop socket.
struct Rig {
    proxy: Arc<ProxyServer>,
    address: SocketAddr,
    client: UdpSocket,
    hop: UdpSocket,
    _tasks: tokio::task::JoinSet<()>,
}

async fn rig(policy: ListenerPolicy, services: Services, next_hop: Option<SocketAddr>) -> Rig {
    let hop = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            break (udp, tcp);
        }
    };
    let address = udp.local_addr().unwrap();
    let udp = Arc::new(udp);
    let limits = Limits::default();
    let proxy = ProxyServer::new(
        policy,
        services,
        ProxyConfig {
            advertise: ("127.0.0.1".to_owned(), address.port()),
            next_hop: Some((
                next_hop.unwrap_or(hop.local_addr().unwrap()),
                HopTransport::Udp,
            )),
            mtu: DEFAULT_MTU,
            connect_timeout: Duration::from_secs(2),
        },
        Arc::clone(&udp),
        limits,
    );
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(serve_udp(udp, proxy.clone(), limits));
    tasks.spawn(serve_stream(tcp, proxy.clone(), None, limits));
    Rig {
        proxy,
        address,
        client: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        hop,
        _tasks: tasks,
    }
}

/// Writes a request from the client socket, with rport asked for.
fn request(client: &UdpSocket, method: &str, branch: &str, extra: &str) -> Vec<u8> {
    let port = client.local_addr().unwrap().port();
    format!(
        "{method} sip:+12025550101@198.51.100.7;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:{port};branch={branch};rport\r\n\
         From: <sip:+12025550100@192.0.2.10;user=phone>;tag=abc\r\n\
         To: <sip:+12025550101@198.51.100.7;user=phone>\r\n\
         Call-ID: call-{branch}@192.0.2.10\r\n\
         CSeq: 1 {method}\r\n\
         Max-Forwards: 70\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Receives one datagram within `wait`.
async fn receive(socket: &UdpSocket, wait: Duration) -> Option<(String, SocketAddr)> {
    let mut buffer = vec![0u8; 70_000];
    let (length, from) = tokio::time::timeout(wait, socket.recv_from(&mut buffer))
        .await
        .ok()?
        .ok()?;
    Some((
        String::from_utf8_lossy(&buffer[..length]).into_owned(),
        from,
    ))
}

async fn expect(socket: &UdpSocket) -> String {
    receive(socket, Duration::from_secs(5))
        .await
        .expect("no message within 5 s")
        .0
}

/// Builds the response a UAS sends to `request`: its Via headers in order,
/// From, To with a tag, Call-ID and CSeq.
fn answer(request: &str, code: u16, reason: &str) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for line in request.lines() {
        let name = line.split(':').next().unwrap_or_default();
        match name {
            "Via" | "From" | "Call-ID" | "CSeq" => out.push_str(&format!("{line}\r\n")),
            "To" => out.push_str(&format!("{line};tag=uas1\r\n")),
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

fn count(text: &str, name: &str) -> usize {
    text.lines()
        .filter(|line| {
            line.split_once(':')
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
        })
        .count()
}

/// A signing proxy adds Identity, its own Via and one hop less of
/// Max-Forwards. The response comes back without that Via, and a
/// retransmission is forwarded byte for byte, not signed again.
#[tokio::test]
async fn signing_proxy_forwards_and_relays() {
    let signing = signing("proxy-sign", "https://cr.test/chain.pem");
    let services = Services {
        auth: Some(signing.auth.clone()),
        ..no_services()
    };
    let rig = rig(ListenerPolicy::new("sign", Role::Sign), services, None).await;
    let invite = request(&rig.client, "INVITE", "z9hG4bKsp1", "");
    rig.client.send_to(&invite, rig.address).await.unwrap();
    let forwarded = expect(&rig.hop).await;

    assert_eq!(
        forwarded.lines().next(),
        Some("INVITE sip:+12025550101@198.51.100.7;user=phone SIP/2.0")
    );
    let vias: Vec<&str> = forwarded
        .lines()
        .filter(|line| line.starts_with("Via:"))
        .collect();
    assert_eq!(vias.len(), 2);
    let ours = format!(
        "Via: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK",
        rig.address.port()
    );
    assert!(vias[0].starts_with(&ours), "{}", vias[0]);
    let client_port = rig.client.local_addr().unwrap().port();
    assert!(vias[1].contains(";received=127.0.0.1"), "{}", vias[1]);
    assert!(
        vias[1].contains(&format!(";rport={client_port}")),
        "{}",
        vias[1]
    );
    assert_eq!(header(&forwarded, "Max-Forwards"), Some("69"));
    assert!(
        header(&forwarded, "Identity").is_some_and(|v| v.starts_with("eyJ")),
        "{forwarded}"
    );
    assert!(
        header(&forwarded, "Identity")
            .is_some_and(|v| v.contains(";info=<https://cr.test/chain.pem>")),
        "{forwarded}"
    );
    assert_eq!(header(&forwarded, "Content-Length"), Some("0"));
    // RFC 8224 section 6.1: the signer adds the Date the request lacked.
    assert!(header(&forwarded, "Date").is_some_and(|d| d.ends_with(" GMT")));

    // 180 from the next hop reaches the client without the proxy's Via.
    let ringing = answer(&forwarded, 180, "Ringing");
    rig.hop
        .send_to(ringing.as_bytes(), rig.address)
        .await
        .unwrap();
    let relayed = expect(&rig.client).await;
    assert_eq!(status(&relayed), "SIP/2.0 180 Ringing");
    assert_eq!(count(&relayed, "Via"), 1);
    assert!(
        header(&relayed, "Via")
            .unwrap()
            .contains("branch=z9hG4bKsp1")
    );
    assert_eq!(
        rig.proxy.stats().responses_relayed.load(Ordering::Relaxed),
        1
    );

    // A retransmission of the INVITE: the same bytes again.
    rig.client.send_to(&invite, rig.address).await.unwrap();
    let again = expect(&rig.hop).await;
    assert_eq!(again, forwarded);
}

/// A response whose top Via is not the proxy's, or whose branch the proxy
/// did not make, goes nowhere: the proxy cannot be used to reflect traffic.
#[tokio::test]
async fn forged_responses_are_dropped() {
    let rig = rig(ListenerPolicy::new("sign", Role::Sign), no_services(), None).await;
    let victim = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let victim_port = victim.local_addr().unwrap().port();
    let port = rig.address.port();
    for top in [
        format!("SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK0011223344556677.8899aabbccddeeff"),
        format!("SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKforged"),
        "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKother".to_owned(),
    ] {
        let response = format!(
            "SIP/2.0 200 OK\r\nVia: {top}\r\nVia: SIP/2.0/UDP 127.0.0.1:{victim_port};branch=z9hG4bKv\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: forged\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        rig.hop
            .send_to(response.as_bytes(), rig.address)
            .await
            .unwrap();
    }
    assert!(receive(&victim, Duration::from_millis(500)).await.is_none());
    assert_eq!(
        rig.proxy.stats().responses_dropped.load(Ordering::Relaxed),
        3
    );
}

/// The proxy itself responds to Max-Forwards at zero, Proxy-Require and
/// keep-alives (RFC 3261 section 16.3).
#[tokio::test]
async fn proxy_answers_what_it_cannot_forward() {
    let rig = rig(ListenerPolicy::new("sign", Role::Sign), no_services(), None).await;
    let client = &rig.client;

    let exhausted = String::from_utf8(request(client, "INVITE", "z9hG4bKmf0", ""))
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    client
        .send_to(exhausted.as_bytes(), rig.address)
        .await
        .unwrap();
    assert_eq!(status(&expect(client).await), "SIP/2.0 483 Too Many Hops");

    let options = String::from_utf8(request(client, "OPTIONS", "z9hG4bKmf1", ""))
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    client
        .send_to(options.as_bytes(), rig.address)
        .await
        .unwrap();
    assert_eq!(status(&expect(client).await), "SIP/2.0 200 OK");

    let required = request(client, "INVITE", "z9hG4bKpr", "Proxy-Require: foo\r\n");
    client.send_to(&required, rig.address).await.unwrap();
    let response = expect(client).await;
    assert_eq!(status(&response), "SIP/2.0 420 Bad Extension");
    assert_eq!(header(&response, "Unsupported"), Some("foo"));

    let keepalive = String::from_utf8(request(client, "OPTIONS", "z9hG4bKka", ""))
        .unwrap()
        .replace(
            "OPTIONS sip:+12025550101@198.51.100.7;user=phone",
            &format!("OPTIONS sip:127.0.0.1:{}", rig.address.port()),
        );
    client
        .send_to(keepalive.as_bytes(), rig.address)
        .await
        .unwrap();
    assert_eq!(status(&expect(client).await), "SIP/2.0 200 OK");
    // Nothing of this reached the next hop.
    assert!(
        receive(&rig.hop, Duration::from_millis(200))
            .await
            .is_none()
    );
    // An OPTIONS for another host goes on: a ping of the next hop must reach
    // it.
    let ping = String::from_utf8(request(client, "OPTIONS", "z9hG4bKping", ""))
        .unwrap()
        .replace(
            "OPTIONS sip:+12025550101@198.51.100.7;user=phone",
            "OPTIONS sip:198.51.100.7",
        );
    client.send_to(ping.as_bytes(), rig.address).await.unwrap();
    assert!(
        expect(&rig.hop)
            .await
            .starts_with("OPTIONS sip:198.51.100.7 SIP/2.0\r\n")
    );
}

/// A proxy whose next hop is itself sees its own Via come back with the same
/// loop part, and responds 482, which travels back to the client.
#[tokio::test]
async fn loops_get_482() {
    let hop = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            break (udp, tcp);
        }
    };
    let address = udp.local_addr().unwrap();
    let udp = Arc::new(udp);
    let limits = Limits::default();
    let signing = signing("proxy-loop", "https://cr.test/chain.pem");
    let proxy = ProxyServer::new(
        ListenerPolicy::new("loop", Role::Sign),
        Services {
            auth: Some(signing.auth.clone()),
            ..no_services()
        },
        ProxyConfig {
            advertise: ("127.0.0.1".to_owned(), address.port()),
            next_hop: Some((address, HopTransport::Udp)),
            mtu: DEFAULT_MTU,
            connect_timeout: Duration::from_secs(2),
        },
        Arc::clone(&udp),
        limits,
    );
    let udp_task = tokio::spawn(serve_udp(udp, proxy.clone(), limits));
    let tcp_task = tokio::spawn(serve_stream(tcp, proxy, None, limits));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(&request(&client, "INVITE", "z9hG4bKloop", ""), address)
        .await
        .unwrap();
    let response = expect(&client).await;
    assert_eq!(status(&response), "SIP/2.0 482 Loop Detected");
    assert_eq!(count(&response, "Via"), 1);
    assert!(receive(&hop, Duration::from_millis(100)).await.is_none());
    udp_task.abort();
    tcp_task.abort();
}

/// A verifying proxy removes what an upstream element claimed: a verstat in
/// From or P-Asserted-Identity and a P-Attestation-Indicator, and writes its
/// own result.
#[tokio::test]
async fn verifying_proxy_replaces_upstream_claims() {
    let dir = TempDir::new("proxy-claims");
    let repository = Repository::start(&dir.0).await;
    let signing = signing("proxy-claims", &repository.url("cr.test", "/chain.pem"));
    let services = verifying(&signing, &repository);
    let rig = rig(ListenerPolicy::new("verify", Role::Verify), services, None).await;
    let invite = String::from_utf8(request(
        &rig.client,
        "INVITE",
        "z9hG4bKup",
        "P-Asserted-Identity: <sip:+12025550100;verstat=TN-Validation-Passed@192.0.2.10;user=phone>\r\n\
         P-Asserted-Identity: <tel:+12025550100;verstat=TN-Validation-Passed>\r\n\
         P-Attestation-Indicator: A\r\n",
    ))
    .unwrap()
    .replace(
        "From: <sip:+12025550100@192.0.2.10;user=phone>",
        "From: <sip:+12025550100;verstat=TN-Validation-Passed@192.0.2.10;user=phone>",
    );
    rig.client
        .send_to(invite.as_bytes(), rig.address)
        .await
        .unwrap();
    let forwarded = expect(&rig.hop).await;
    assert_eq!(
        header(&forwarded, "From"),
        Some("<sip:+12025550100;verstat=No-TN-Validation@192.0.2.10;user=phone>;tag=abc")
    );
    assert_eq!(count(&forwarded, "P-Asserted-Identity"), 1);
    assert_eq!(
        header(&forwarded, "P-Asserted-Identity"),
        Some("<sip:+12025550100;verstat=No-TN-Validation@192.0.2.10;user=phone>")
    );
    assert_eq!(header(&forwarded, "P-Attestation-Indicator"), None);
    assert_eq!(forwarded.matches("verstat=").count(), 2);
}

/// A verstat written after the host, where some operators put it, is removed
/// too. Under the continue policy a failed call goes on marked
/// TN-Validation-Failed with a Reason, and `strip_identity` removes the
/// Identity header it verified.
#[tokio::test]
async fn verifying_proxy_marks_failures_and_strips_identity() {
    let dir = TempDir::new("proxy-strip");
    let repository = Repository::start(&dir.0).await;
    let signing = signing("proxy-strip", &repository.url("cr.test", "/chain.pem"));
    let mut policy = ListenerPolicy::new("verify", Role::Verify);
    policy.on_failure = OnFailure::Continue;
    policy.strip_identity = true;
    let rig = rig(policy, verifying(&signing, &repository), None).await;
    let garbage =
        "eyJhbGciOiJFUzI1NiJ9.e30.c2ln;info=<https://cr.test/chain.pem>;alg=ES256;ppt=shaken";
    let invite = String::from_utf8(request(
        &rig.client,
        "INVITE",
        "z9hG4bKstrip",
        &format!("Identity: {garbage}\r\n"),
    ))
    .unwrap()
    .replace(
        "From: <sip:+12025550100@192.0.2.10;user=phone>",
        "From: <sip:+12025550100@192.0.2.10;user=phone;verstat=TN-Validation-Passed>",
    );
    rig.client
        .send_to(invite.as_bytes(), rig.address)
        .await
        .unwrap();
    let forwarded = expect(&rig.hop).await;
    assert_eq!(
        header(&forwarded, "From"),
        Some("<sip:+12025550100;verstat=TN-Validation-Failed@192.0.2.10;user=phone>;tag=abc")
    );
    assert_eq!(forwarded.matches("verstat=").count(), 1);
    assert_eq!(header(&forwarded, "Identity"), None);
    assert!(
        header(&forwarded, "Reason").is_some_and(|r| r.starts_with("STIR ;cause=")),
        "{forwarded}"
    );
}

/// An INVITE under 1,300 bytes that the Identity header pushes over the
/// limit goes over TCP, and the response on that connection comes back to
/// the client over UDP.
#[tokio::test]
async fn identity_pushing_past_1300_bytes_goes_over_tcp() {
    let signing = signing("proxy-push", "https://cr.test/chain.pem");
    let services = Services {
        auth: Some(signing.auth.clone()),
        ..no_services()
    };
    let rig = rig(ListenerPolicy::new("sign", Role::Sign), services, None).await;
    let hop_tcp = TcpListener::bind(rig.hop.local_addr().unwrap())
        .await
        .unwrap();
    let padding = format!("X-Padding: {}\r\n", "p".repeat(700));
    let invite = request(&rig.client, "INVITE", "z9hG4bKpush", &padding);
    assert!(invite.len() < 1300, "{}", invite.len());
    rig.client.send_to(&invite, rig.address).await.unwrap();

    let (mut stream, _) = tokio::time::timeout(Duration::from_secs(5), hop_tcp.accept())
        .await
        .unwrap()
        .unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    while !received.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed");
        received.extend_from_slice(&chunk[..n]);
    }
    let forwarded = String::from_utf8(received).unwrap();
    assert!(forwarded.len() > 1300, "{}", forwarded.len());
    assert!(
        header(&forwarded, "Via").is_some_and(|via| via.starts_with("SIP/2.0/TCP 127.0.0.1")),
        "{forwarded}"
    );
    assert!(header(&forwarded, "Identity").is_some());
    assert!(header(&forwarded, "Date").is_some());

    let ok = answer(&forwarded, 200, "OK");
    stream.write_all(ok.as_bytes()).await.unwrap();
    let relayed = expect(&rig.client).await;
    assert_eq!(status(&relayed), "SIP/2.0 200 OK");
    assert_eq!(count(&relayed, "Via"), 1);
}

/// Signs a PASSporT for the client's numbers with `signing`'s credential.
fn identity(signing: &common::Signing) -> String {
    signing
        .auth
        .sign(&SignRequest {
            orig: "<sip:+12025550100@192.0.2.10;user=phone>".to_owned(),
            dest: vec!["<sip:+12025550101@198.51.100.7;user=phone>".to_owned()],
            trunk: None,
            attest: None,
            origid: None,
            iat: now(),
        })
        .unwrap()
        .identity
}

/// A CANCEL while the certificate is fetched: 200 for the CANCEL, 487 for
/// the INVITE, nothing forwarded, and the ACK of the 487 absorbed.
#[tokio::test]
async fn cancel_before_forwarding_ends_with_487() {
    let dir = TempDir::new("proxy-cancel");
    let repository = Repository::start(&dir.0).await;
    let signing = signing("proxy-cancel", &repository.url("cr.test", "/slow.pem"));
    repository.route(
        "/slow.pem",
        Route::Delayed {
            delay: Duration::from_millis(600),
            route: Box::new(Route::ok(signing.pki.pem("chain.pem"), &[])),
        },
    );
    let services = verifying(&signing, &repository);
    let rig = rig(ListenerPolicy::new("verify", Role::Verify), services, None).await;
    let extra = format!("Identity: {}\r\n", identity(&signing));
    let invite = request(&rig.client, "INVITE", "z9hG4bKcx", &extra);
    rig.client.send_to(&invite, rig.address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    // A retransmission while deciding is absorbed.
    rig.client.send_to(&invite, rig.address).await.unwrap();
    let cancel = request(&rig.client, "CANCEL", "z9hG4bKcx", "");
    rig.client.send_to(&cancel, rig.address).await.unwrap();
    assert_eq!(status(&expect(&rig.client).await), "SIP/2.0 200 OK");
    let ended = expect(&rig.client).await;
    assert_eq!(status(&ended), "SIP/2.0 487 Request Terminated");
    let ack = String::from_utf8(request(&rig.client, "ACK", "z9hG4bKcx", ""))
        .unwrap()
        .replace(
            "To: <sip:+12025550101@198.51.100.7;user=phone>",
            &format!("To: {}", header(&ended, "To").unwrap()),
        );
    rig.client
        .send_to(ack.as_bytes(), rig.address)
        .await
        .unwrap();
    assert!(
        receive(&rig.hop, Duration::from_millis(300))
            .await
            .is_none()
    );
}

/// INVITEs over the rate limit get 503 with Retry-After while the accepted
/// ones are forwarded. With too many verifications waiting on a certificate
/// fetch, a further INVITE is shed at once, or passed with No-TN-Validation.
#[tokio::test]
async fn overload_sheds_the_excess() {
    let mut policy = ListenerPolicy::new("limited", Role::Sign);
    policy.rate_limit_per_source = Some(5);
    let signer = signing("proxy-limit", "https://cr.test/chain.pem");
    let services = Services {
        auth: Some(signer.auth.clone()),
        ..no_services()
    };
    let limited = rig(policy, services, None).await;
    for i in 0..20 {
        let invite = request(&limited.client, "INVITE", &format!("z9hG4bKol{i}"), "");
        limited
            .client
            .send_to(&invite, limited.address)
            .await
            .unwrap();
    }
    let mut shed = 0;
    while let Some((response, _)) = receive(&limited.client, Duration::from_millis(500)).await {
        assert_eq!(status(&response), "SIP/2.0 503 Service Unavailable");
        assert_eq!(header(&response, "Retry-After"), Some("1"));
        shed += 1;
    }
    let mut forwarded = 0;
    while receive(&limited.hop, Duration::from_millis(200))
        .await
        .is_some()
    {
        forwarded += 1;
    }
    assert_eq!(shed + forwarded, 20);
    // A full bucket admits 5 at once; a sixth may refill while the loop runs.
    assert!((5..=6).contains(&forwarded), "{forwarded}");
    assert_eq!(
        limited.proxy.stats().shed_rate.load(Ordering::Relaxed),
        shed as u64
    );

    // Verifications waiting on a repository that never responds.
    let dir = TempDir::new("proxy-pending");
    let repository = Repository::start(&dir.0).await;
    let hanging = signing("proxy-pending", &repository.url("cr.test", "/hang.pem"));
    repository.route("/hang.pem", Route::Hang);
    for (on_overload, expected) in [
        (OnOverload::Reject, "503"),
        (OnOverload::Pass, "No-TN-Validation"),
    ] {
        let mut policy = ListenerPolicy::new("pending", Role::Verify);
        policy.max_pending = 2;
        policy.on_overload = on_overload;
        let rig = rig(policy, verifying(&hanging, &repository), None).await;
        let extra = format!("Identity: {}\r\n", identity(&hanging));
        for i in 0..2 {
            let invite = request(&rig.client, "INVITE", &format!("z9hG4bKhang{i}"), &extra);
            rig.client.send_to(&invite, rig.address).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let third = request(&rig.client, "INVITE", "z9hG4bKhang2", &extra);
        rig.client.send_to(&third, rig.address).await.unwrap();
        if expected == "503" {
            let response = expect(&rig.client).await;
            assert_eq!(status(&response), "SIP/2.0 503 Service Unavailable");
            assert!(
                receive(&rig.hop, Duration::from_millis(100))
                    .await
                    .is_none()
            );
        } else {
            let forwarded = expect(&rig.hop).await;
            assert!(
                header(&forwarded, "From").is_some_and(|f| f.contains("verstat=No-TN-Validation")),
                "{forwarded}"
            );
        }
        assert_eq!(rig.proxy.stats().shed_pending.load(Ordering::Relaxed), 1);
    }
}

/// A request too large for UDP goes over TCP; when the hop refuses the TCP
/// connection, it goes over UDP after all (RFC 3261 section 18.1.1).
#[tokio::test]
async fn large_request_tcp_refused_falls_back() {
    let signing = signing("proxy-large", "https://cr.test/chain.pem");
    let services = Services {
        auth: Some(signing.auth.clone()),
        ..no_services()
    };
    // The hop socket has no TCP listener at its port.
    let rig = rig(ListenerPolicy::new("sign", Role::Sign), services, None).await;
    let padding = format!("X-Padding: {}\r\n", "p".repeat(1400));
    let invite = request(&rig.client, "INVITE", "z9hG4bKbig", &padding);
    rig.client.send_to(&invite, rig.address).await.unwrap();
    let forwarded = expect(&rig.hop).await;
    assert!(forwarded.len() > 1300);
    assert!(
        header(&forwarded, "Via").is_some_and(|via| via.starts_with("SIP/2.0/UDP 127.0.0.1")),
        "{forwarded}"
    );
    let stats = rig.proxy.stats();
    assert_eq!(stats.large_over_tcp.load(Ordering::Relaxed), 1);
    assert_eq!(stats.forwarded_udp.load(Ordering::Relaxed), 1);
}

/// A received or rport the client wrote itself is replaced by the real
/// source, also behind a quoted comma, so responses cannot be aimed at
/// another address.
#[tokio::test]
async fn client_written_received_is_replaced() {
    let signing = signing("proxy-received", "https://cr.test/chain.pem");
    let services = Services {
        auth: Some(signing.auth.clone()),
        ..no_services()
    };
    let rig = rig(ListenerPolicy::new("sign", Role::Sign), services, None).await;
    let client_port = rig.client.local_addr().unwrap().port();
    for (branch, params) in [
        ("z9hG4bKrx1", ";received=127.0.0.9;rport=9999"),
        ("z9hG4bKrx2", ";x=\"p,q\";rport"),
    ] {
        let invite = String::from_utf8(request(&rig.client, "INVITE", branch, ""))
            .unwrap()
            .replace(
                &format!("branch={branch};rport"),
                &format!("branch={branch}{params}"),
            );
        rig.client
            .send_to(invite.as_bytes(), rig.address)
            .await
            .unwrap();
        let forwarded = expect(&rig.hop).await;
        let previous = forwarded
            .lines()
            .filter(|line| line.starts_with("Via:"))
            .nth(1)
            .unwrap()
            .to_owned();
        assert!(previous.contains(";received=127.0.0.1"), "{previous}");
        assert!(!previous.contains("127.0.0.9"), "{previous}");
        assert!(
            previous.contains(&format!(";rport={client_port}")),
            "{previous}"
        );
    }
}

/// A retransmitted INVITE is recognised before the rate limit: it is
/// forwarded again, not refused with 503, and takes no token.
#[tokio::test]
async fn retransmissions_pass_the_rate_limit() {
    let signing = signing("proxy-retransmit", "https://cr.test/chain.pem");
    let mut policy = ListenerPolicy::new("sign", Role::Sign);
    policy.rate_limit_per_source = Some(1);
    let services = Services {
        auth: Some(signing.auth.clone()),
        ..no_services()
    };
    let rig = rig(policy, services, None).await;
    let first = request(&rig.client, "INVITE", "z9hG4bKrt1", "");
    rig.client.send_to(&first, rig.address).await.unwrap();
    let forwarded = expect(&rig.hop).await;
    let second = request(&rig.client, "INVITE", "z9hG4bKrt2", "");
    rig.client.send_to(&second, rig.address).await.unwrap();
    assert_eq!(
        status(&expect(&rig.client).await),
        "SIP/2.0 503 Service Unavailable"
    );
    rig.client.send_to(&first, rig.address).await.unwrap();
    assert_eq!(expect(&rig.hop).await, forwarded);
    assert!(
        receive(&rig.client, Duration::from_millis(200))
            .await
            .is_none()
    );
}

/// A verifying proxy removes upstream verstat and P-Attestation-Indicator
/// from every request it forwards, not only from the INVITE it verifies.
#[tokio::test]
async fn verifying_proxy_cleans_in_dialog_requests() {
    let dir = TempDir::new("proxy-bye");
    let repository = Repository::start(&dir.0).await;
    let signing = signing("proxy-bye", &repository.url("cr.test", "/chain.pem"));
    let services = verifying(&signing, &repository);
    let rig = rig(ListenerPolicy::new("verify", Role::Verify), services, None).await;
    let bye = String::from_utf8(request(
        &rig.client,
        "BYE",
        "z9hG4bKbye",
        "P-Asserted-Identity: <tel:+12025550100;verstat=TN-Validation-Passed>\r\n\
         P-Attestation-Indicator: A\r\n",
    ))
    .unwrap()
    .replace(
        "To: <sip:+12025550101@198.51.100.7;user=phone>",
        "To: <sip:+12025550101@198.51.100.7;user=phone>;tag=callee",
    );
    rig.client
        .send_to(bye.as_bytes(), rig.address)
        .await
        .unwrap();
    let forwarded = expect(&rig.hop).await;
    assert!(forwarded.starts_with("BYE "), "{forwarded}");
    assert!(!forwarded.contains("verstat"), "{forwarded}");
    assert_eq!(header(&forwarded, "P-Attestation-Indicator"), None);
    assert_eq!(
        header(&forwarded, "P-Asserted-Identity"),
        Some("<tel:+12025550100>")
    );
}

/// A proxy closes TCP connections from sources outside its allow list at
/// once, so they cannot fill its connection table.
#[tokio::test]
async fn proxy_closes_connections_from_other_sources() {
    let mut policy = ListenerPolicy::new("sign", Role::Sign);
    policy.allow_sources = vec![("127.0.0.1".parse().unwrap(), 32)];
    let rig = rig(policy, no_services(), None).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut stream = socket.connect(rig.address).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
        .await
        .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(rig.proxy.policy().name, "sign");
}
