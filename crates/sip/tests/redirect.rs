//! The redirect front end on raw SIP messages: methods, malformed requests,
//! source lists, retransmissions, CANCEL of a pending INVITE, and the 302s of
//! signing and verifying listeners. Verification fetches its certificate from
//! a real HTTPS repository on loopback.

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
use std::time::Duration;

use certstore::fetch::tls_config;
use certstore::resolve::StaticResolver;
use certstore::{
    CacheConfig, CredentialConfig, CredentialSet, CredentialStore, SharedTrust, X5uCache,
};
use common::{header, no_services, request, server, signing, source, status, text};
use passport::Options;
use passport::tn::NumberPolicy;
use service::{AuthService, CertificateSource, VerifyPolicy};
use sip::redirect::{ListenerPolicy, OnFailure, RedirectServer, Role, Services, Transport};
use support::{Pki, Repository, Route, TempDir, now};

#[tokio::test]
async fn methods_get_their_answers() {
    let server = server(Role::Verify, no_services());
    let options = server
        .handle(
            &request("OPTIONS", "z9hG4bKo1", ""),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    let options = text(&options.bytes);
    assert_eq!(status(&options), "SIP/2.0 200 OK");
    assert_eq!(
        header(&options, "Allow"),
        Some("INVITE, ACK, CANCEL, OPTIONS")
    );
    assert!(header(&options, "To").unwrap().contains(";tag="));

    let bye = server
        .handle(
            &request("BYE", "z9hG4bKb1", ""),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(status(&text(&bye.bytes)), "SIP/2.0 405 Method Not Allowed");
    let unknown = server
        .handle(
            &request("FOO", "z9hG4bKf1", ""),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(status(&text(&unknown.bytes)), "SIP/2.0 501 Not Implemented");
    // ACK is absorbed, and a response gets no response.
    assert!(
        server
            .handle(
                &request("ACK", "z9hG4bKa1", ""),
                source(),
                Transport::Udp,
                now()
            )
            .await
            .is_none()
    );
    let response = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKr\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    assert!(
        server
            .handle(response, source(), Transport::Udp, now())
            .await
            .is_none()
    );
}

#[tokio::test]
async fn responses_follow_the_via() {
    let server = server(Role::Verify, no_services());
    let outgoing = server
        .handle(
            &request("OPTIONS", "z9hG4bKv1", ""),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    let response = text(&outgoing.bytes);
    // The sent-by differs from the source: received and rport are added, and
    // the response goes to the source address and port (RFC 3581).
    let via = header(&response, "Via").unwrap();
    assert!(
        via.starts_with("SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKv1"),
        "{via}"
    );
    assert!(via.contains(";received=127.0.0.1"), "{via}");
    assert!(via.contains(";rport=5070"), "{via}");
    assert_eq!(outgoing.destination, source());
    assert_eq!(
        header(&response, "Call-ID"),
        Some("call-z9hG4bKv1@192.0.2.10")
    );
    assert_eq!(header(&response, "CSeq"), Some("1 OPTIONS"));
}

#[tokio::test]
async fn malformed_requests_get_400_or_505() {
    let server = server(Role::Verify, no_services());
    // No Call-ID.
    let missing = b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKm\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let answer = server
        .handle(missing, source(), Transport::Udp, now())
        .await;
    // Without a Call-ID no response can be built, so none is sent.
    assert!(answer.is_none());
    let bad_cseq =
        text(&request("OPTIONS", "z9hG4bKc", "")).replace("CSeq: 1 OPTIONS", "CSeq: x OPTIONS");
    let answer = server
        .handle(bad_cseq.as_bytes(), source(), Transport::Udp, now())
        .await
        .unwrap();
    let answer = text(&answer.bytes);
    assert_eq!(status(&answer), "SIP/2.0 400 Bad Request");
    assert!(
        header(&answer, "Warning")
            .unwrap()
            .starts_with("399 stird \""),
        "{answer}"
    );
    let version =
        text(&request("OPTIONS", "z9hG4bKv", "")).replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1);
    let answer = server
        .handle(version.as_bytes(), source(), Transport::Udp, now())
        .await
        .unwrap();
    assert_eq!(
        status(&text(&answer.bytes)),
        "SIP/2.0 505 Version Not Supported"
    );
}

#[tokio::test]
async fn sources_outside_the_list_get_403() {
    let server = server(Role::Verify, no_services());
    let outside: SocketAddr = "192.0.2.99:5060".parse().unwrap();
    let answer = server
        .handle(
            &request("OPTIONS", "z9hG4bKs", ""),
            outside,
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(status(&text(&answer.bytes)), "SIP/2.0 403 Forbidden");
}

#[tokio::test]
async fn signing_302_is_repeated_for_retransmissions() {
    let signing = signing("retransmit", "https://cr.example.com/sti/1234.pem");
    let services = Services {
        auth: Some(signing.auth.clone()),
        ..no_services()
    };
    let server = server(Role::Sign, services);
    let invite = request("INVITE", "z9hG4bKi1", "");
    let first = server
        .handle(&invite, source(), Transport::Udp, now())
        .await
        .unwrap();
    let response = text(&first.bytes);
    assert_eq!(status(&response), "SIP/2.0 302 Moved Temporarily");
    assert_eq!(
        header(&response, "Contact"),
        Some("<sip:+12025550101@127.0.0.1:5060;user=phone>")
    );
    let identity = header(&response, "Identity").unwrap();
    assert!(
        identity.ends_with(";info=<https://cr.example.com/sti/1234.pem>;alg=ES256;ppt=shaken"),
        "{identity}"
    );
    // A retransmission gets the identical bytes, signature included.
    let again = server
        .handle(&invite, source(), Transport::Udp, now() + 1)
        .await
        .unwrap();
    assert_eq!(first.bytes, again.bytes);
    // The same branch from another address is another transaction: it gets a
    // response of its own, not the first caller's.
    let elsewhere: SocketAddr = "127.0.0.2:5070".parse().unwrap();
    let other = server
        .handle(&invite, elsewhere, Transport::Udp, now())
        .await
        .unwrap();
    assert_ne!(first.bytes, other.bytes);
    // CANCEL of a completed transaction: 200, and the 302 remains.
    let cancel = server
        .handle(
            &request("CANCEL", "z9hG4bKi1", ""),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(status(&text(&cancel.bytes)), "SIP/2.0 200 OK");
    // CANCEL of an unknown transaction: 481.
    let unknown = server
        .handle(
            &request("CANCEL", "z9hG4bKnone", ""),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(
        status(&text(&unknown.bytes)),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
    // The ACK ends the transaction: its entry goes at once, so the same
    // INVITE afterwards is signed again rather than repeated from the table.
    let ack = server
        .handle(
            &request("ACK", "z9hG4bKi1", ""),
            source(),
            Transport::Udp,
            now(),
        )
        .await;
    assert!(ack.is_none());
    let after_ack = server
        .handle(&invite, source(), Transport::Udp, now())
        .await
        .unwrap();
    assert_eq!(
        status(&text(&after_ack.bytes)),
        "SIP/2.0 302 Moved Temporarily"
    );
    assert_ne!(after_ack.bytes, first.bytes);
    let _ = (&signing.pki, &signing.x5u);
}

#[tokio::test]
async fn cancel_ends_a_pending_invite_with_487() {
    let dir = TempDir::new("redirect-cancel");
    let repository = Repository::start(&dir.0).await;
    let x5u = repository.url("cr.test", "/slow.pem");
    let signing = signing("cancel", &x5u);
    repository.route(
        "/slow.pem",
        Route::Delayed {
            delay: Duration::from_millis(600),
            route: Box::new(Route::ok(signing.pki.pem("chain.pem"), &[])),
        },
    );
    let services = common::verifying(&signing, &repository);
    let server = Arc::new(server(Role::Auto, services));

    // Sign a call, then send it back to be verified.
    let signed = server
        .handle(
            &request("INVITE", "z9hG4bKs1", ""),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    let identity = header(&text(&signed.bytes), "Identity").unwrap().to_owned();
    let invite = request("INVITE", "z9hG4bKp1", &format!("Identity: {identity}\r\n"));
    let pending = {
        let (server, invite) = (Arc::clone(&server), invite.clone());
        tokio::spawn(async move {
            server
                .handle(&invite, source(), Transport::Udp, now())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    // A retransmission while the certificate is fetched: 100 Trying.
    let trying = server
        .handle(&invite, source(), Transport::Udp, now())
        .await
        .unwrap();
    assert_eq!(status(&text(&trying.bytes)), "SIP/2.0 100 Trying");
    let cancel = server
        .handle(
            &request("CANCEL", "z9hG4bKp1", ""),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(status(&text(&cancel.bytes)), "SIP/2.0 200 OK");
    let ended = pending.await.unwrap().unwrap();
    assert_eq!(
        status(&text(&ended.bytes)),
        "SIP/2.0 487 Request Terminated"
    );

    // The same Identity on a new transaction verifies, now from the cache.
    let verified = server
        .handle(
            &request("INVITE", "z9hG4bKp2", &format!("Identity: {identity}\r\n")),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    let response = text(&verified.bytes);
    assert_eq!(status(&response), "SIP/2.0 302 Moved Temporarily");
    assert_eq!(
        header(&response, "P-Asserted-Identity"),
        Some("<sip:+12025550100;verstat=TN-Validation-Passed@192.0.2.10;user=phone>")
    );
    assert_eq!(header(&response, "P-Attestation-Indicator"), Some("A"));
    assert_eq!(repository.hits("/slow.pem"), 1);
    // The cancelled INVITE was verified too, under another Call-ID: this one
    // carries a copy of its PASSporT, which is flagged.
    assert!(
        header(&response, "Warning").is_some_and(|w| w.contains("verified for another call")),
        "{response}"
    );
    // The call the PASSporT was first verified for is not flagged.
    let again = server
        .handle(
            &request("INVITE", "z9hG4bKp1", &format!("Identity: {identity}\r\n")),
            "127.0.0.3:5070".parse().unwrap(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(header(&text(&again.bytes), "Warning"), None);
}

#[tokio::test]
async fn continue_policy_marks_failures() {
    let signing = signing("continue", "https://cr.example.com/sti/1234.pem");
    let services = Services {
        auth: Some(signing.auth.clone()),
        ..no_services()
    };
    let signer = server(Role::Sign, services.clone());
    let signed = signer
        .handle(
            &request("INVITE", "z9hG4bKc1", ""),
            source(),
            Transport::Udp,
            now() - 600,
        )
        .await
        .unwrap();
    let stale = header(&text(&signed.bytes), "Identity").unwrap().to_owned();

    let mut policy = ListenerPolicy::new("continue", Role::Verify);
    policy.on_failure = OnFailure::Continue;
    let mut verify_services = services;
    verify_services.certificates = Some(Arc::new(
        X5uCache::builder(CacheConfig::default()).build().unwrap(),
    ) as Arc<dyn CertificateSource>);
    let verifier = RedirectServer::new(policy, verify_services);
    let answer = verifier
        .handle(
            &request("INVITE", "z9hG4bKc2", &format!("Identity: {stale}\r\nP-Asserted-Identity: <tel:+12025550100;verstat=TN-Validation-Passed>\r\n")),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    let response = text(&answer.bytes);
    assert_eq!(status(&response), "SIP/2.0 302 Moved Temporarily");
    // The upstream verstat is replaced by ours.
    assert_eq!(
        header(&response, "P-Asserted-Identity"),
        Some("<tel:+12025550100;verstat=TN-Validation-Failed>")
    );
    assert_eq!(
        header(&response, "Reason"),
        Some("STIR ;cause=403 ;text=\"Stale Date\"")
    );
    assert_eq!(header(&response, "P-Attestation-Indicator"), None);
}

/// P-Asserted-Identity, when present, is the calling number a PASSporT must
/// match; From is not.
#[tokio::test]
async fn asserted_identity_supplies_orig() {
    let dir = TempDir::new("redirect-pai");
    let repository = Repository::start(&dir.0).await;
    let x5u = repository.url("cr.test", "/chain.pem");
    let signing = signing("pai", &x5u);
    repository.route("/chain.pem", Route::ok(signing.pki.pem("chain.pem"), &[]));
    let mut config = CacheConfig::default();
    config.policy.allowed_ports.push(repository.address.port());
    config
        .policy
        .allowed_networks
        .push(("127.0.0.1".parse().unwrap(), 32));
    let mut resolver = StaticResolver::new(false);
    resolver.insert("cr.test", vec!["127.0.0.1".parse().unwrap()]);
    let cache = X5uCache::builder(config)
        .tls(tls_config(Some(&repository.tls_ca_file)).unwrap())
        .resolver(Arc::new(resolver))
        .trust(Arc::new(SharedTrust::new(signing.pki.trust(&["root.pem"]))))
        .build()
        .unwrap();
    let services = Services {
        auth: None,
        certificates: Some(Arc::new(cache) as Arc<dyn CertificateSource>),
        verify: VerifyPolicy {
            options: Options::at(0),
            require_identity: false,
        },
    };
    let server = server(Role::Verify, services);
    let identity_for = |orig: &str| {
        signing
            .auth
            .sign(&service::SignRequest {
                orig: orig.to_owned(),
                dest: vec!["+12025550101".to_owned()],
                trunk: None,
                attest: None,
                origid: None,
                iat: now(),
            })
            .unwrap()
            .identity
    };
    // From carries +12025550111, P-Asserted-Identity +12025550100.
    let headers = |identity: &str| {
        format!(
            "Identity: {identity}\r\nP-Asserted-Identity: <sip:+12025550100@carrier.example.org;user=phone>\r\n"
        )
    };
    let from_111 = |bytes: Vec<u8>| {
        text(&bytes).replace(
            "From: <sip:+12025550100@192.0.2.10;user=phone>",
            "From: \"Sales\" <sip:+12025550111@pbx.example.com;user=phone>",
        )
    };
    let passed = server
        .handle(
            from_111(request(
                "INVITE",
                "z9hG4bKpai1",
                &headers(&identity_for("+12025550100")),
            ))
            .as_bytes(),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    let passed = text(&passed.bytes);
    assert_eq!(status(&passed), "SIP/2.0 302 Moved Temporarily", "{passed}");
    assert_eq!(
        header(&passed, "P-Asserted-Identity"),
        Some("<sip:+12025550100;verstat=TN-Validation-Passed@carrier.example.org;user=phone>")
    );
    let failed = server
        .handle(
            from_111(request(
                "INVITE",
                "z9hG4bKpai2",
                &headers(&identity_for("+12025550111")),
            ))
            .as_bytes(),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(
        status(&text(&failed.bytes)),
        "SIP/2.0 438 Invalid Identity Header"
    );
}

/// Replays the INVITE an SBC sends its STI-AS in Sansay's published exchange,
/// with an empty Identity header and 10-digit NANP numbers. The 302 carries the
/// Request-URI as Contact and our Identity, whose numbers are international
/// under the national rule.
#[tokio::test]
async fn sansay_sti_as_exchange() {
    let text_file = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/messages/sansay-sti-as-302.txt"),
    )
    .unwrap();
    // The request is the first message block of the file, between comments.
    let request_text: String = text_file
        .lines()
        .skip_while(|line| !line.starts_with("INVITE"))
        .take_while(|line| !line.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\r\n");
    let request_text = format!("{}\r\n\r\n", request_text.trim_end());

    let dir = TempDir::new("redirect-sansay");
    let pki = Pki::build("1234", vec![]);
    for name in ["subscriber.key.pem", "chain.pem"] {
        std::fs::write(dir.0.join(name), pki.pem(name)).unwrap();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            dir.0.join("subscriber.key.pem"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let config = CredentialConfig {
        name: "sansay".into(),
        key: dir.0.join("subscriber.key.pem"),
        chain: dir.0.join("chain.pem"),
        x5u: "https://cr.example.com/sti/1234.pem".into(),
        attest_max: "A".into(),
        attest_default: "A".into(),
        numbers: vec![],
        prefixes: vec![],
        ranges: vec![],
        trunks: vec![],
        default: true,
    };
    let set = CredentialSet::load(&[config], now()).unwrap();
    let numbers = NumberPolicy {
        national: Some(passport::tn::NationalRule {
            digits: 10,
            country_code: "1".into(),
        }),
        ..NumberPolicy::default()
    };
    let auth = AuthService::new(Arc::new(CredentialStore::new(set)), numbers);
    let mut policy = ListenerPolicy::new("sansay", Role::Auto);
    policy.allow_sources = vec![("54.177.185.224".parse().unwrap(), 32)];
    let server = RedirectServer::new(
        policy,
        Services {
            auth: Some(auth),
            ..no_services()
        },
    );
    let sbc: SocketAddr = "54.177.185.224:5060".parse().unwrap();
    let answer = server
        .handle(request_text.as_bytes(), sbc, Transport::Udp, now())
        .await
        .unwrap();
    let response = text(&answer.bytes);
    assert_eq!(
        status(&response),
        "SIP/2.0 302 Moved Temporarily",
        "{response}"
    );
    assert_eq!(
        header(&response, "Contact"),
        Some("<sip:8587542211@nss-staging.sansay.com:5060>")
    );
    assert_eq!(
        header(&response, "Via"),
        Some("SIP/2.0/UDP 54.177.185.224:5060;branch=z9hG4bK1sansay200rdb6")
    );
    assert_eq!(
        header(&response, "Call-ID"),
        Some("sti-as-41-0-356108330@172.31.23.116")
    );
    let identity = passport::IdentityHeader::parse(header(&response, "Identity").unwrap()).unwrap();
    let decoded = passport::Decoded::from_identity(&identity).unwrap();
    assert_eq!(decoded.payload["orig"]["tn"], "18587542200");
    assert_eq!(decoded.payload["dest"]["tn"][0], "18587542211");
    assert_eq!(answer.destination, sbc);
}

/// INVITEs over a listener's rate limit get 503 with Retry-After, or, on a
/// verifying listener that passes overload, a 302 with No-TN-Validation.
#[tokio::test]
async fn rate_limits_shed_the_excess() {
    let mut policy = ListenerPolicy::new("limited", Role::Verify);
    policy.rate_limit_per_source = Some(5);
    let server = RedirectServer::new(policy, no_services());
    let mut statuses = Vec::new();
    for i in 0..20 {
        let answer = server
            .handle(
                &request("INVITE", &format!("z9hG4bKrl{i}"), ""),
                source(),
                Transport::Udp,
                now(),
            )
            .await
            .unwrap();
        statuses.push(status(&text(&answer.bytes)).to_owned());
        if i == 19 {
            let last = text(&answer.bytes);
            assert_eq!(header(&last, "Retry-After"), Some("1"));
        }
    }
    let shed = statuses
        .iter()
        .filter(|s| *s == "SIP/2.0 503 Service Unavailable")
        .count();
    // A full bucket admits 5 at once; a sixth may refill while the loop runs.
    assert!((14..=15).contains(&shed), "{statuses:?}");
    // OPTIONS is not limited.
    let options = server
        .handle(
            &request("OPTIONS", "z9hG4bKrlo", ""),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(status(&text(&options.bytes)), "SIP/2.0 200 OK");

    let mut policy = ListenerPolicy::new("passing", Role::Verify);
    policy.rate_limit = Some(1);
    policy.on_overload = sip::redirect::OnOverload::Pass;
    let server = RedirectServer::new(policy, no_services());
    let _first = server
        .handle(
            &request("INVITE", "z9hG4bKp0", ""),
            source(),
            Transport::Udp,
            now(),
        )
        .await;
    let passed = server
        .handle(
            &request("INVITE", "z9hG4bKp1", ""),
            source(),
            Transport::Udp,
            now(),
        )
        .await
        .unwrap();
    let passed = text(&passed.bytes);
    assert_eq!(status(&passed), "SIP/2.0 302 Moved Temporarily");
    assert!(
        header(&passed, "P-Asserted-Identity")
            .unwrap()
            .contains("verstat=No-TN-Validation"),
        "{passed}"
    );
}
