//! Verification over the self-managing certificate source under a burst: calls
//! that share one uncached x5u, while as many calls point at a repository that
//! never responds. Real HTTPS repository on loopback, real cache, real service.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../../certstore/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use certstore::fetch::tls_config;
use certstore::resolve::StaticResolver;
use certstore::{CacheConfig, SharedTrust, X5uCache};
use passport::{Attestation, Claims, Dest, Options, Orig, SigningKey};
use service::{VerifyPolicy, VerifyRequest, Verstat, verify_request};
use support::{Pki, Repository, Route, TempDir, now};

const CALLS: usize = 500;

fn identity(key: &SigningKey, x5u: &str, iat: i64, index: usize) -> String {
    let claims = Claims::shaken(
        Attestation::A,
        Orig::Tn("12025550100".into()),
        Dest {
            tn: vec!["12025550101".into()],
            uri: vec![],
        },
        iat,
        format!("00000000-0000-4000-8000-{index:012}"),
    );
    passport::sign_identity(key, x5u, Some("shaken"), &claims)
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_x5u_delays_only_its_calls() {
    let dir = TempDir::new("service-burst");
    let repository = Repository::start(&dir.0).await;
    let pki = Pki::build("1234", vec![]);
    repository.route(
        "/chain.pem",
        Route::Delayed {
            delay: Duration::from_millis(200),
            route: Box::new(Route::ok(pki.pem("chain.pem"), &[])),
        },
    );
    repository.route("/hang.pem", Route::Hang);

    let mut config = CacheConfig::default();
    config.policy.allowed_ports.push(repository.address.port());
    config
        .policy
        .allowed_networks
        .push(("127.0.0.0".parse().unwrap(), 8));
    config.limits.total_timeout = Duration::from_millis(1500);
    config.lookup_timeout = Duration::from_millis(1000);
    let mut resolver = StaticResolver::new(false);
    resolver.insert("cr.test", vec!["127.0.0.1".parse().unwrap()]);
    let cache = X5uCache::builder(config)
        .tls(tls_config(Some(&repository.tls_ca_file)).unwrap())
        .resolver(Arc::new(resolver))
        .trust(Arc::new(SharedTrust::new(pki.trust(&["root.pem"]))))
        .build()
        .unwrap();
    let cache = Arc::new(cache);

    let key = SigningKey::from_pem_or_der(pki.pem("subscriber.key.pem").as_bytes()).unwrap();
    let at = now();
    let good = repository.url("cr.test", "/chain.pem");
    let hanging = repository.url("cr.test", "/hang.pem");
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..2 * CALLS {
        let x5u = if index % 2 == 0 { &good } else { &hanging };
        let request = VerifyRequest {
            identities: vec![identity(&key, x5u, at, index)],
            orig: Some("<sip:+12025550100@carrier.example.org;user=phone>".into()),
            to: Some("<sip:+12025550101@sbc.example.com;user=phone>".into()),
            request_uri: None,
            date: None,
        };
        let cache = Arc::clone(&cache);
        tasks.spawn(async move {
            let policy = VerifyPolicy {
                options: Options::at(at),
                require_identity: true,
            };
            let verdict = verify_request(&request, cache.as_ref(), &policy).await;
            (index % 2 == 0, verdict)
        });
    }

    let (mut passed, mut unavailable) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        let (is_good, verdict) = result.unwrap();
        if is_good {
            assert_eq!(verdict.verstat, Verstat::TnValidationPassed, "{verdict:?}");
            passed += 1;
        } else {
            assert_eq!(verdict.verstat, Verstat::TnValidationFailed, "{verdict:?}");
            let failure = verdict.failure.unwrap();
            assert_eq!(failure.response.code, 436, "{}", failure.reason);
            assert!(
                failure.reason.contains("no certificate within 1000 ms"),
                "{}",
                failure.reason
            );
            unavailable += 1;
        }
    }
    assert_eq!(passed, CALLS);
    assert_eq!(unavailable, CALLS);
    // One upstream fetch per URL, however many calls waited for it.
    assert_eq!(repository.hits("/chain.pem"), 1);
    assert_eq!(repository.hits("/hang.pem"), 1);
}
