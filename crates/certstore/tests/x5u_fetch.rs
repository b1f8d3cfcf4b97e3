//! The x5u fetcher and its cache against a real HTTPS repository on loopback
//! that serves good chains, bad documents and hostile behaviour.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use cert::pki::Defect;
use certstore::fetch::{FetchError, tls_config};
use certstore::resolve::StaticResolver;
use certstore::tiers::DiskTier;
use certstore::x5u_policy::{AddressClass, X5uPolicyError};
use certstore::{CacheConfig, Origin, SharedTrust, Trust, UntrustedError, X5uCache, X5uError};
use support::{Pki, Repository, Route, TempDir, now};

const LOOPBACK: &str = "127.0.0.1";

fn config(repository: &Repository) -> CacheConfig {
    let mut config = CacheConfig::default();
    config.policy.allowed_ports.push(repository.address.port());
    config
        .policy
        .allowed_networks
        .push((LOOPBACK.parse().unwrap(), 8));
    config
}

fn resolver() -> Arc<StaticResolver> {
    let mut resolver = StaticResolver::new(false);
    resolver.insert("cr.test", vec![LOOPBACK.parse().unwrap()]);
    Arc::new(resolver)
}

fn cache(repository: &Repository, config: CacheConfig, trust: Trust) -> X5uCache {
    X5uCache::builder(config)
        .tls(tls_config(Some(&repository.tls_ca_file)).unwrap())
        .resolver(resolver())
        .trust(Arc::new(SharedTrust::new(trust)))
        .build()
        .unwrap()
}

struct Setup {
    _dir: TempDir,
    repository: Repository,
    pki: Pki,
}

async fn setup(name: &str) -> Setup {
    let dir = TempDir::new(name);
    let repository = Repository::start(&dir.0).await;
    let pki = Pki::build("1234", vec![]);
    repository.route("/chain.pem", Route::ok(pki.pem("chain.pem"), &[]));
    Setup {
        _dir: dir,
        repository,
        pki,
    }
}

impl Setup {
    fn cache(&self) -> X5uCache {
        self.cache_with(config(&self.repository))
    }

    fn cache_with(&self, config: CacheConfig) -> X5uCache {
        cache(&self.repository, config, self.pki.trust(&["root.pem"]))
    }

    fn url(&self, path: &str) -> String {
        self.repository.url("cr.test", path)
    }
}

fn fetch_error(result: Result<Arc<certstore::TrustedCert>, X5uError>) -> FetchError {
    match result {
        Err(X5uError::Fetch { error, .. }) => error,
        other => panic!("expected a fetch error, got {other:?}"),
    }
}

fn untrusted(result: Result<Arc<certstore::TrustedCert>, X5uError>) -> UntrustedError {
    match result {
        Err(X5uError::Untrusted { error, .. }) => error,
        other => panic!("expected an untrusted chain, got {other:?}"),
    }
}

#[tokio::test]
async fn pem_chain_is_fetched_validated_and_cached() {
    let setup = setup("chain").await;
    let cache = setup.cache();
    let url = setup.url("/chain.pem");

    let first = cache.lookup(&url, now()).await.unwrap();
    assert_eq!(first.info.origin, Origin::Network);
    let response = first.info.response.as_ref().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.address.ip().to_string(), LOOPBACK);
    assert_eq!(first.cert.chain.len(), 2);
    let path = first.cert.path.as_ref().unwrap();
    assert_eq!(path.certificates.len(), 3, "subscriber, intermediate, root");
    let spc = first.cert.tn_auth_list.as_ref().unwrap().as_ref().unwrap();
    assert_eq!(spc.spc(), Some("1234"));
    // No caching headers: the 24-hour floor.
    assert_eq!(
        first.info.lifetime.expires_at - first.info.fetched_at,
        86_400
    );

    // Served from memory: the same validated object, no second request.
    let second = cache.lookup(&url, now()).await.unwrap();
    assert_eq!(second.info.origin, Origin::Network);
    assert!(Arc::ptr_eq(&first.cert, &second.cert));
    assert_eq!(setup.repository.hits("/chain.pem"), 1);
    assert_eq!(
        cache
            .stats()
            .hits
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn chain_orders_follow_rfc_7515() {
    let setup = setup("orders").await;
    let other = Pki::build("5678", vec![]);
    let (leaf, intermediate) = (
        setup.pki.pem("subscriber.pem"),
        setup.pki.pem("intermediate.pem"),
    );
    let routes = [
        ("/a.pem", format!("{leaf}{intermediate}")),
        ("/b.pem", format!("{intermediate}{leaf}")),
        (
            "/c.pem",
            format!("{leaf}{intermediate}{}", other.pem("root.pem")),
        ),
        ("/d.pem", leaf.clone()),
    ];
    for (path, body) in &routes {
        setup.repository.route(path, Route::ok(body.clone(), &[]));
    }
    let cache = setup.cache();
    // Signer first, then its intermediates; an unrelated extra is ignored.
    cache.get(&setup.url("/a.pem"), now()).await.unwrap();
    cache.get(&setup.url("/c.pem"), now()).await.unwrap();
    // The first certificate is the signer: an intermediate there is refused,
    // never swapped for a later certificate.
    assert!(matches!(
        untrusted(cache.get(&setup.url("/b.pem"), now()).await),
        UntrustedError::Path(_)
    ));
    // The leaf alone has no path to the root.
    assert!(matches!(
        untrusted(cache.get(&setup.url("/d.pem"), now()).await),
        UntrustedError::Path(_)
    ));
}

#[tokio::test]
async fn single_der_certificate_is_accepted() {
    let setup = setup("der").await;
    setup.repository.route(
        "/leaf.der",
        Route::ok(
            setup.pki.der("subscriber.pem"),
            &[("Content-Type", "application/pkix-cert")],
        ),
    );
    // With the intermediate as a trust anchor, the leaf alone has a path.
    let cache = cache(
        &setup.repository,
        config(&setup.repository),
        setup.pki.trust(&["root.pem", "intermediate.pem"]),
    );
    let cert = cache.get(&setup.url("/leaf.der"), now()).await.unwrap();
    assert_eq!(cert.chain.len(), 1);
}

#[tokio::test]
async fn private_key_bodies_are_refused() {
    use base64::Engine as _;

    let setup = setup("key").await;
    let chain = setup.pki.pem("chain.pem");
    let key_pem = setup.pki.pem("subscriber.key.pem");
    let key_der = pem::parse(&key_pem).unwrap().contents().to_vec();
    let key_base64 = base64::engine::general_purpose::STANDARD.encode(&key_der);
    let mut chain_then_der = chain.clone().into_bytes();
    chain_then_der.extend_from_slice(&key_der);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("/with-key.pem", format!("{chain}{key_pem}").into_bytes()),
        // Files joined without a newline between them.
        (
            "/same-line.pem",
            format!("{}{key_pem}", chain.trim_end()).into_bytes(),
        ),
        ("/key.der", key_der.clone()),
        ("/chain-then-der.pem", chain_then_der),
        (
            "/mislabelled.pem",
            format!("-----BEGIN CERTIFICATE-----\n{key_base64}\n-----END CERTIFICATE-----\n")
                .into_bytes(),
        ),
        ("/bare-base64.txt", key_base64.clone().into_bytes()),
    ];
    for (path, body) in &bodies {
        setup.repository.route(path, Route::ok(body.clone(), &[]));
    }
    let cache = setup.cache();
    for (path, _) in &bodies {
        let result = cache.get(&setup.url(path), now()).await;
        assert!(
            matches!(result, Err(X5uError::PrivateKey { .. })),
            "{path}: {result:?}"
        );
    }
    // Other bytes after the chain are refused too, as no certificate.
    setup.repository.route(
        "/trailing.pem",
        Route::ok(format!("{chain}trailing text\n"), &[]),
    );
    let result = cache.get(&setup.url("/trailing.pem"), now()).await;
    assert!(
        matches!(result, Err(X5uError::NotCertificate { ref reason, .. }) if reason.contains("follow the last certificate")),
        "{result:?}"
    );
}

#[tokio::test]
async fn garbage_and_empty_bodies_are_refused() {
    let setup = setup("garbage").await;
    setup.repository.route(
        "/garbage.pem",
        Route::ok("<html>Not Found</html>", &[("Content-Type", "text/html")]),
    );
    setup.repository.route("/empty.pem", Route::ok("", &[]));
    setup.repository.route(
        "/broken.pem",
        Route::ok(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            &[],
        ),
    );
    let cache = setup.cache();
    for path in ["/garbage.pem", "/broken.pem"] {
        let result = cache.get(&setup.url(path), now()).await;
        assert!(
            matches!(result, Err(X5uError::NotCertificate { .. })),
            "{path}: {result:?}"
        );
    }
    let result = cache.get(&setup.url("/empty.pem"), now()).await;
    assert!(matches!(result, Err(X5uError::Empty { .. })), "{result:?}");
}

#[tokio::test]
async fn http_errors_are_refused_and_remembered_briefly() {
    let setup = setup("status").await;
    setup.repository.route("/500.pem", Route::status(500, &[]));
    let mut config = config(&setup.repository);
    config.negative_ttl = Duration::from_millis(300);
    let cache = setup.cache_with(config);

    let url = setup.url("/404.pem");
    assert_eq!(
        fetch_error(cache.get(&url, now()).await),
        FetchError::Status { status: 404 }
    );
    assert_eq!(
        fetch_error(cache.get(&setup.url("/500.pem"), now()).await),
        FetchError::Status { status: 500 }
    );
    // A storm of calls in the negative window does not reach the server.
    for _ in 0..50 {
        let result = cache.get(&url, now()).await;
        assert!(
            matches!(result, Err(X5uError::RecentFailure { .. })),
            "{result:?}"
        );
    }
    assert_eq!(setup.repository.hits("/404.pem"), 1);
    // After the window, the next call fetches again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        fetch_error(cache.get(&url, now()).await),
        FetchError::Status { status: 404 }
    );
    assert_eq!(setup.repository.hits("/404.pem"), 2);
}

#[tokio::test]
async fn slow_and_huge_bodies_are_cut_off() {
    let setup = setup("slow").await;
    setup.repository.route(
        "/slow.pem",
        Route::Trickle {
            interval: Duration::from_millis(100),
            body: setup.pki.pem("chain.pem").into_bytes(),
        },
    );
    setup.repository.route(
        "/big-declared.pem",
        Route::Huge {
            bytes: 100 * 1024 * 1024,
            content_length: true,
        },
    );
    setup.repository.route(
        "/big-undeclared.pem",
        Route::Huge {
            bytes: 100 * 1024 * 1024,
            content_length: false,
        },
    );
    let mut config = config(&setup.repository);
    config.limits.total_timeout = Duration::from_millis(600);
    let cache = setup.cache_with(config);

    assert_eq!(
        fetch_error(cache.get(&setup.url("/slow.pem"), now()).await),
        FetchError::Timeout { ms: 600 }
    );
    for path in ["/big-declared.pem", "/big-undeclared.pem"] {
        assert_eq!(
            fetch_error(cache.get(&setup.url(path), now()).await),
            FetchError::TooLarge { max: 64 * 1024 },
            "{path}"
        );
    }
}

#[tokio::test]
async fn redirects_are_refused_unless_enabled_and_then_one_hop() {
    let setup = setup("redirect").await;
    let target = setup.url("/chain.pem");
    setup
        .repository
        .route("/moved.pem", Route::status(301, &[("Location", &target)]));
    setup.repository.route(
        "/loop-a.pem",
        Route::status(302, &[("Location", "/loop-b.pem")]),
    );
    setup.repository.route(
        "/loop-b.pem",
        Route::status(302, &[("Location", "/loop-a.pem")]),
    );
    setup.repository.route(
        "/to-http.pem",
        Route::status(302, &[("Location", "http://cr.test/chain.pem")]),
    );

    let cache = setup.cache();
    assert_eq!(
        fetch_error(cache.get(&setup.url("/moved.pem"), now()).await),
        FetchError::Redirect {
            status: 301,
            location: target.clone()
        }
    );
    assert_eq!(setup.repository.hits("/chain.pem"), 0);

    let mut config = config(&setup.repository);
    config.limits.follow_redirect = true;
    let following = setup.cache_with(config);
    following
        .get(&setup.url("/moved.pem"), now())
        .await
        .unwrap();
    assert!(matches!(
        fetch_error(following.get(&setup.url("/loop-a.pem"), now()).await),
        FetchError::TooManyRedirects { status: 302, .. }
    ));
    // The redirect target passes the same policy as any x5u.
    assert!(matches!(
        fetch_error(following.get(&setup.url("/to-http.pem"), now()).await),
        FetchError::RedirectRefused { ref reason, .. } if reason.contains("only https is fetched")
    ));
}

#[tokio::test]
async fn changing_certificate_is_seen_after_the_lifetime() {
    let setup = setup("change").await;
    let cache = setup.cache();
    let url = setup.url("/chain.pem");
    let first = cache.get(&url, now()).await.unwrap();

    let renewed = Pki::build("1234", vec![]);
    setup
        .repository
        .route("/chain.pem", Route::ok(renewed.pem("chain.pem"), &[]));
    // Still fresh, so the cached chain is returned.
    let cached = cache.get(&url, now()).await.unwrap();
    assert!(Arc::ptr_eq(&first, &cached));
    // Past the 24-hour lifetime the chain is fetched again; the new one is under
    // another root, so it is refused.
    let later = now() + 86_400 + 60;
    assert!(matches!(
        untrusted(cache.get(&url, later).await),
        UntrustedError::Path(_)
    ));
    assert_eq!(setup.repository.hits("/chain.pem"), 2);
}

#[tokio::test]
async fn cache_control_sets_the_lifetime() {
    let setup = setup("lifetime").await;
    let cases = [
        ("/short.pem", "max-age=60", 86_400),
        ("/two-days.pem", "public, max-age=172800", 172_800),
        ("/year.pem", "max-age=31536000", 7 * 86_400),
        ("/no-store.pem", "no-store", 86_400),
    ];
    for (path, control, _) in &cases {
        setup.repository.route(
            path,
            Route::ok(setup.pki.pem("chain.pem"), &[("Cache-Control", control)]),
        );
    }
    let cache = setup.cache();
    for (path, control, seconds) in cases {
        let cached = cache.lookup(&setup.url(path), now()).await.unwrap();
        let lifetime = cached.info.lifetime.expires_at - cached.info.fetched_at;
        assert_eq!(
            lifetime, seconds,
            "{control}: {}",
            cached.info.lifetime.reason
        );
    }
}

#[tokio::test]
async fn cached_certificate_is_checked_at_each_call() {
    let setup = setup("expiry").await;
    let cache = setup.cache();
    let url = setup.url("/chain.pem");
    let cert = cache.get(&url, now()).await.unwrap();
    // A call dated before the path's notBefore is refused straight from memory.
    let before = cert.valid_from - 1;
    assert!(matches!(
        untrusted(cache.get(&url, before).await),
        UntrustedError::NotValidNow { .. }
    ));
    assert_eq!(setup.repository.hits("/chain.pem"), 1);
    // The entry never outlives the certificate: a call after its notAfter
    // fetches again and finds the chain expired.
    let after = cert.valid_until + 1;
    let error = cache.get(&url, after).await.unwrap_err();
    assert!(error.is_untrusted(), "{error}");
    assert_eq!(setup.repository.hits("/chain.pem"), 2);
}

#[tokio::test]
async fn trust_reload_revalidates_cached_chains() {
    let setup = setup("reload").await;
    let trust = Arc::new(SharedTrust::new(setup.pki.trust(&["root.pem"])));
    let cache = X5uCache::builder(config(&setup.repository))
        .tls(tls_config(Some(&setup.repository.tls_ca_file)).unwrap())
        .resolver(resolver())
        .trust(Arc::clone(&trust))
        .build()
        .unwrap();
    let url = setup.url("/chain.pem");
    cache.get(&url, now()).await.unwrap();

    // The operator removes the root: the cached chain is no longer trusted, with
    // no new fetch.
    let other = Pki::build("9999", vec![]);
    trust.replace(other.trust(&["root.pem"]));
    assert!(matches!(
        untrusted(cache.get(&url, now()).await),
        UntrustedError::Path(_)
    ));
    assert_eq!(setup.repository.hits("/chain.pem"), 1);
}

#[tokio::test]
async fn untrusted_and_unusable_chains_are_refused() {
    let setup = setup("untrusted").await;
    let expired = Pki::build("1234", vec![Defect::Expired]);
    let p384 = Pki::build("1234", vec![Defect::P384Key]);
    setup
        .repository
        .route("/expired.pem", Route::ok(expired.pem("chain.pem"), &[]));
    setup
        .repository
        .route("/p384.pem", Route::ok(p384.pem("chain.pem"), &[]));
    let other = Pki::build("5678", vec![]);
    setup
        .repository
        .route("/other.pem", Route::ok(other.pem("chain.pem"), &[]));
    let cache = cache(&setup.repository, config(&setup.repository), {
        let mut anchors = Vec::new();
        for pki in [&setup.pki, &expired, &p384] {
            anchors.extend(cert::parse_bundle(pki.pem("root.pem").as_bytes()).unwrap());
        }
        Trust::new(cert::TrustStore::from_certificates(anchors), None)
    });
    for path in ["/expired.pem", "/p384.pem", "/other.pem"] {
        let result = cache.get(&setup.url(path), now()).await;
        let error = result.unwrap_err();
        assert!(error.is_untrusted(), "{path}: {error}");
    }
}

#[tokio::test]
async fn one_fetch_for_a_thousand_lookups() {
    let setup = setup("single-flight").await;
    setup.repository.route(
        "/slow-chain.pem",
        Route::Delayed {
            delay: Duration::from_millis(300),
            route: Box::new(Route::ok(setup.pki.pem("chain.pem"), &[])),
        },
    );
    let cache = setup.cache();
    let url = setup.url("/slow-chain.pem");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (cache, url) = (cache.clone(), url.clone());
        tasks.spawn(async move { cache.get(&url, now()).await.is_ok() });
    }
    let mut passed = 0;
    while let Some(result) = tasks.join_next().await {
        if result.unwrap() {
            passed += 1;
        }
    }
    assert_eq!(passed, 1000);
    assert_eq!(setup.repository.hits("/slow-chain.pem"), 1);
}

#[tokio::test]
async fn a_hanging_repository_delays_only_its_own_calls() {
    let setup = setup("hang").await;
    setup.repository.route("/hang.pem", Route::Hang);
    let mut config = config(&setup.repository);
    config.limits.total_timeout = Duration::from_millis(800);
    config.lookup_timeout = Duration::from_millis(300);
    let cache = setup.cache_with(config);
    let good = setup.url("/chain.pem");
    cache.get(&good, now()).await.unwrap();

    let hanging = {
        let (cache, url) = (cache.clone(), setup.url("/hang.pem"));
        tokio::spawn(async move { cache.get(&url, now()).await })
    };
    // Cached lookups go on while the fetch hangs.
    for _ in 0..100 {
        cache.get(&good, now()).await.unwrap();
    }
    let result = hanging.await.unwrap();
    assert!(
        matches!(result, Err(X5uError::Deadline { ms: 300, .. })),
        "{result:?}"
    );
    // The fetch itself ends at its own deadline and is remembered as failed.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let again = cache.get(&setup.url("/hang.pem"), now()).await;
    assert!(
        matches!(again, Err(X5uError::RecentFailure { .. })),
        "{again:?}"
    );
    assert_eq!(setup.repository.hits("/hang.pem"), 1);
}

#[tokio::test]
async fn fetches_per_host_are_capped() {
    let setup = setup("per-host").await;
    for i in 0..6 {
        setup.repository.route(
            &format!("/slow-{i}.pem"),
            Route::Delayed {
                delay: Duration::from_millis(150),
                route: Box::new(Route::ok(setup.pki.pem("chain.pem"), &[])),
            },
        );
    }
    let mut config = config(&setup.repository);
    config.max_fetches_per_host = 2;
    let cache = setup.cache_with(config);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..6 {
        let (cache, url) = (cache.clone(), setup.url(&format!("/slow-{i}.pem")));
        tasks.spawn(async move { cache.get(&url, now()).await.is_ok() });
    }
    while let Some(result) = tasks.join_next().await {
        assert!(result.unwrap());
    }
    assert_eq!(setup.repository.most_active(), 2);
}

#[tokio::test]
async fn failing_port_leaves_other_ports_open() {
    let setup = setup("breaker-origin").await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut config = config(&setup.repository);
    config.policy.allowed_ports.push(port);
    config.breaker.failures = 2;
    let cache = setup.cache_with(config);
    for i in 0..4 {
        let _ = cache
            .get(&format!("https://cr.test:{port}/{i}.pem"), now())
            .await;
    }
    let result = cache
        .get(&format!("https://cr.test:{port}/9.pem"), now())
        .await;
    assert!(
        matches!(result, Err(X5uError::CircuitOpen { .. })),
        "{result:?}"
    );
    // The same host on the repository's port is another origin.
    cache.get(&setup.url("/chain.pem"), now()).await.unwrap();
}

#[tokio::test]
async fn failing_host_opens_its_circuit() {
    let setup = setup("breaker").await;
    // A port on loopback where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut config = config(&setup.repository);
    config.policy.allowed_ports.push(port);
    config.breaker.failures = 3;
    config.breaker.base = Duration::from_millis(400);
    let cache = setup.cache_with(config);
    let url = |i: usize| format!("https://127.0.0.1:{port}/{i}.pem");
    for i in 0..3 {
        let error = fetch_error(cache.get(&url(i), now()).await);
        assert!(matches!(error, FetchError::Connect { .. }), "{error}");
    }
    // Open: refused without connecting.
    let result = cache.get(&url(3), now()).await;
    assert!(
        matches!(result, Err(X5uError::CircuitOpen { .. })),
        "{result:?}"
    );
    // After the interval one retry is let through; it fails and the interval
    // doubles.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let error = fetch_error(cache.get(&url(4), now()).await);
    assert!(matches!(error, FetchError::Connect { .. }), "{error}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let result = cache.get(&url(5), now()).await;
    assert!(
        matches!(result, Err(X5uError::CircuitOpen { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn internal_addresses_are_refused_before_connecting() {
    let setup = setup("ssrf").await;
    let mut resolver = StaticResolver::new(false);
    // Names the test's resolver points at loopback, alone or beside a public
    // address.
    resolver.insert("inside.test", vec![LOOPBACK.parse().unwrap()]);
    resolver.insert(
        "mixed.test",
        vec!["8.8.8.8".parse().unwrap(), LOOPBACK.parse().unwrap()],
    );
    let mut config = CacheConfig::default();
    config
        .policy
        .allowed_ports
        .push(setup.repository.address.port());
    let cache = X5uCache::builder(config)
        .tls(tls_config(Some(&setup.repository.tls_ca_file)).unwrap())
        .resolver(Arc::new(resolver))
        .trust(Arc::new(SharedTrust::new(setup.pki.trust(&["root.pem"]))))
        .build()
        .unwrap();
    for host in ["inside.test", "mixed.test", LOOPBACK, "[::1]"] {
        let url = setup.repository.url(host, "/chain.pem");
        let error = fetch_error(cache.get(&url, now()).await);
        assert!(
            matches!(
                error,
                FetchError::Policy(X5uPolicyError::AddressRefused {
                    class: AddressClass::Loopback,
                    ..
                })
            ),
            "{host}: {error}"
        );
    }
    assert_eq!(setup.repository.hits("/chain.pem"), 0);
}

#[tokio::test]
async fn repository_tls_is_verified() {
    let setup = setup("tls").await;
    // The Mozilla roots do not include the test repository's CA.
    let cache = X5uCache::builder(config(&setup.repository))
        .resolver(resolver())
        .trust(Arc::new(SharedTrust::new(setup.pki.trust(&["root.pem"]))))
        .build()
        .unwrap();
    let error = fetch_error(cache.get(&setup.url("/chain.pem"), now()).await);
    assert!(matches!(error, FetchError::Tls { .. }), "{error}");
    // A name the server certificate does not carry.
    let mut resolver = StaticResolver::new(false);
    resolver.insert("other.test", vec![LOOPBACK.parse::<IpAddr>().unwrap()]);
    let cache = X5uCache::builder(config(&setup.repository))
        .tls(tls_config(Some(&setup.repository.tls_ca_file)).unwrap())
        .resolver(Arc::new(resolver))
        .build()
        .unwrap();
    let error = fetch_error(
        cache
            .get(&setup.repository.url("other.test", "/chain.pem"), now())
            .await,
    );
    assert!(matches!(error, FetchError::Tls { .. }), "{error}");
}

#[tokio::test]
async fn disk_tier_survives_a_restart() {
    let setup = setup("disk").await;
    let disk_dir = TempDir::new("disk-tier");
    let url = setup.url("/chain.pem");
    let first = X5uCache::builder(config(&setup.repository))
        .tls(tls_config(Some(&setup.repository.tls_ca_file)).unwrap())
        .resolver(resolver())
        .trust(Arc::new(SharedTrust::new(setup.pki.trust(&["root.pem"]))))
        .disk(DiskTier::open(&disk_dir.0).unwrap())
        .build()
        .unwrap();
    first.get(&url, now()).await.unwrap();
    assert_eq!(setup.repository.hits("/chain.pem"), 1);
    first.flush().await;
    drop(first);

    // A new process: the repository fails, so the disk record is used after it
    // is validated again.
    setup
        .repository
        .route("/chain.pem", Route::status(503, &[]));
    let restarted = || {
        X5uCache::builder(config(&setup.repository))
            .tls(tls_config(Some(&setup.repository.tls_ca_file)).unwrap())
            .resolver(resolver())
            .trust(Arc::new(SharedTrust::new(setup.pki.trust(&["root.pem"]))))
            .disk(DiskTier::open(&disk_dir.0).unwrap())
            .build()
            .unwrap()
    };
    let second = restarted();
    let cached = second.lookup(&url, now()).await.unwrap();
    assert_eq!(cached.info.origin, Origin::Disk);
    assert_eq!(setup.repository.hits("/chain.pem"), 1);

    let third = restarted();
    assert_eq!(third.warm_up_from_disk(now()).await, 1);
    assert_eq!(third.len(), 1);

    // A record altered on disk is validated like a fetch: a chain swapped for
    // one under an unknown root is refused, and the network is asked instead.
    let other = Pki::build("5678", vec![]);
    for entry in std::fs::read_dir(&disk_dir.0).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut record: serde_json::Value = serde_json::from_str(&text).unwrap();
        record["chain_pem"] = other.pem("chain.pem").into();
        std::fs::write(&path, record.to_string()).unwrap();
    }
    let fourth = restarted();
    assert_eq!(
        fetch_error(fourth.get(&url, now()).await),
        FetchError::Status { status: 503 }
    );
}

#[tokio::test]
async fn lookups_have_a_bounded_queue() {
    let setup = setup("pending").await;
    setup.repository.route("/hang.pem", Route::Hang);
    let mut config = config(&setup.repository);
    config.max_pending = 2;
    config.lookup_timeout = Duration::from_millis(200);
    config.limits.total_timeout = Duration::from_millis(400);
    let cache = setup.cache_with(config);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..3 {
        let path = format!("/hang-{i}.pem");
        setup.repository.route(&path, Route::Hang);
        let (cache, url) = (cache.clone(), setup.url(&path));
        tasks.spawn(async move { cache.get(&url, now()).await });
        // Let each lookup register before the next one.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut overloaded = 0;
    let mut deadlines = 0;
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Err(X5uError::Overloaded {
                pending: 2, max: 2, ..
            }) => overloaded += 1,
            Err(X5uError::Deadline { .. }) => deadlines += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((overloaded, deadlines), (1, 2));
}

#[tokio::test]
async fn cache_records_cannot_extend_lifetimes() {
    use certstore::tiers::{Record, to_pem};

    let setup = setup("record-bounds").await;
    let disk_dir = TempDir::new("record-bounds-tier");
    let disk = DiskTier::open(&disk_dir.0).unwrap();
    let chain = cert::parse_chain(setup.pki.pem("chain.pem").as_bytes()).unwrap();
    let at = now();
    let long = setup.url("/long.pem");
    let future = setup.url("/future.pem");
    for (url, fetched_at) in [(&long, at), (&future, at + 86_400)] {
        let record = Record {
            version: 1,
            url: url.clone(),
            fetched_at,
            expires_at: at + 365 * 86_400,
            lifetime_reason: "written by someone else".to_owned(),
            chain_pem: to_pem(&chain),
        };
        disk.write(&record).await.unwrap();
    }
    let cache = X5uCache::builder(config(&setup.repository))
        .tls(tls_config(Some(&setup.repository.tls_ca_file)).unwrap())
        .resolver(resolver())
        .trust(Arc::new(SharedTrust::new(setup.pki.trust(&["root.pem"]))))
        .disk(disk)
        .build()
        .unwrap();

    // A record asking for a year is held to the 7-day ceiling.
    let cached = cache.lookup(&long, at).await.unwrap();
    assert_eq!(cached.info.origin, Origin::Disk);
    assert_eq!(cached.info.lifetime.expires_at, at + 7 * 86_400);
    // A record fetched "tomorrow" is rejected, and the network asked instead.
    let error = cache.lookup(&future, at).await.unwrap_err();
    assert_eq!(
        error,
        X5uError::Fetch {
            url: future.clone(),
            error: FetchError::Status { status: 404 }
        }
    );
    assert_eq!(setup.repository.hits("/future.pem"), 1);
}

#[tokio::test]
async fn stale_entry_served_while_refreshing() {
    let setup = setup("stale").await;
    let mut config = config(&setup.repository);
    config.stale_while_revalidate = Some(Duration::from_secs(3600));
    let cache = setup.cache_with(config);
    let url = setup.url("/chain.pem");
    let first = cache.get(&url, now()).await.unwrap();

    // Past the 24-hour lifetime but within the stale window: the old entry
    // is returned at once, and a fetch refreshes it in the background.
    let later = now() + 86_400 + 60;
    let stale = cache.lookup(&url, later).await.unwrap();
    assert!(Arc::ptr_eq(&first, &stale.cert));
    assert_eq!(
        cache
            .stats()
            .stale_hits
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    for _ in 0..100 {
        if setup.repository.hits("/chain.pem") == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(setup.repository.hits("/chain.pem"), 2);
}

#[tokio::test]
async fn warm_up_fetches_a_list() {
    let setup = setup("warm-up").await;
    setup
        .repository
        .route("/second.pem", Route::ok(setup.pki.pem("chain.pem"), &[]));
    let cache = setup.cache();
    let urls = vec![
        setup.url("/chain.pem"),
        setup.url("/second.pem"),
        setup.url("/missing.pem"),
    ];
    assert_eq!(cache.warm_up(&urls, now()).await, 2);
    assert_eq!(cache.len(), 2);
    // Warm entries are served without another request.
    cache.get(&setup.url("/second.pem"), now()).await.unwrap();
    assert_eq!(setup.repository.hits("/second.pem"), 1);
}

#[tokio::test]
async fn spellings_of_one_url_share_a_fetch() {
    let setup = setup("spellings").await;
    let cache = setup.cache();
    let port = setup.repository.address.port();
    for url in [
        format!("https://cr.test:{port}/chain.pem"),
        format!("HTTPS://CR.TEST:{port}/chain.pem"),
        format!("https://cr.test.:{port}/chain.pem"),
        format!("https://cr.test:0{port}/chain.pem"),
    ] {
        cache.get(&url, now()).await.unwrap();
    }
    assert_eq!(setup.repository.hits("/chain.pem"), 1);
}
