//! The Redis tier of the x5u cache against a real redis-server and a real
//! HTTPS repository on loopback.
//!
//! `STIRD_TEST_REDIS_URL` names the Redis server (`redis://127.0.0.1:6390/` in
//! `.ci/run`). Without it the tests that need Redis are skipped, except under
//! `CI=true`, where they fail. Tests share that server, so each one uses URL
//! paths of its own and deletes its keys before and after it runs. No test
//! flushes the database.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use certstore::fetch::tls_config;
use certstore::resolve::StaticResolver;
use certstore::tiers::{Record, RedisTier, to_pem, url_digest};
use certstore::{CacheConfig, Cached, Origin, SharedTrust, X5uCache};
use support::{Pki, Repository, Route, TempDir, now};

const LOOPBACK: &str = "127.0.0.1";

/// The environment variable that names the Redis server.
const REDIS_URL_VARIABLE: &str = "STIRD_TEST_REDIS_URL";

/// Bound on each Redis command of the caches under test.
const REDIS_TIMEOUT: Duration = Duration::from_millis(200);

/// Returns the Redis URL of the test environment, or `None` after printing that
/// the test is skipped. Panics when the variable is missing under `CI=true`.
fn redis_url(test: &str) -> Option<String> {
    match std::env::var(REDIS_URL_VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "{test}: {REDIS_URL_VARIABLE} is not set, and CI=true requires the Redis \
                     tests to run; start a redis-server and set {REDIS_URL_VARIABLE}, \
                     e.g. redis://127.0.0.1:6390/"
                );
            }
            // Written to stderr directly, so the line shows even though the test
            // harness captures the output of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "{test}: Redis tests skipped because {REDIS_URL_VARIABLE} is not set"
            );
            None
        }
    }
}

/// Opens a synchronous connection that reads and writes keys as another node would.
fn redis_connection(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap_or_else(|error| {
            panic!(
                "failed to connect to the Redis server at {url} ({REDIS_URL_VARIABLE}): {error}. \
                 Check that redis-server is running there."
            )
        })
}

/// The Redis key of one x5u URL, deleted when created and when dropped.
struct RedisKey {
    redis_url: String,
    name: String,
}

impl RedisKey {
    fn new(redis_url: &str, x5u: &str) -> RedisKey {
        let key = RedisKey {
            redis_url: redis_url.to_owned(),
            name: RedisTier::key(x5u),
        };
        key.delete();
        key
    }

    fn delete(&self) {
        let mut connection = redis_connection(&self.redis_url);
        redis::cmd("DEL")
            .arg(&self.name)
            .query::<i64>(&mut connection)
            .unwrap();
    }

    fn get(&self) -> Option<Vec<u8>> {
        let mut connection = redis_connection(&self.redis_url);
        redis::cmd("GET")
            .arg(&self.name)
            .query(&mut connection)
            .unwrap()
    }

    fn ttl(&self) -> i64 {
        let mut connection = redis_connection(&self.redis_url);
        redis::cmd("TTL")
            .arg(&self.name)
            .query(&mut connection)
            .unwrap()
    }

    fn set(&self, value: &[u8]) {
        let mut connection = redis_connection(&self.redis_url);
        redis::cmd("SET")
            .arg(&self.name)
            .arg(value)
            .arg("EX")
            .arg(600)
            .query::<()>(&mut connection)
            .unwrap();
    }

    /// Replaces the key with a Redis list, a type that GET cannot read.
    fn set_list(&self) {
        self.delete();
        let mut connection = redis_connection(&self.redis_url);
        redis::cmd("RPUSH")
            .arg(&self.name)
            .arg("not a string")
            .query::<i64>(&mut connection)
            .unwrap();
    }
}

impl Drop for RedisKey {
    fn drop(&mut self) {
        // Cleanup errors are ignored because the key expires by itself, and a
        // panic here during unwinding would abort the test binary.
        if let Ok(client) = redis::Client::open(self.redis_url.as_str())
            && let Ok(mut connection) = client.get_connection_with_timeout(Duration::from_secs(2))
        {
            let _ = redis::cmd("DEL")
                .arg(&self.name)
                .query::<i64>(&mut connection);
        }
    }
}

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

struct Setup {
    _dir: TempDir,
    repository: Repository,
    pki: Pki,
}

/// Starts a repository that serves the chain of a new PKI at `path`.
async fn setup(name: &str, path: &str) -> Setup {
    let dir = TempDir::new(&format!("redis-{name}"));
    let repository = Repository::start(&dir.0).await;
    let pki = Pki::build("1234", vec![]);
    repository.route(path, Route::ok(pki.pem("chain.pem"), &[]));
    Setup {
        _dir: dir,
        repository,
        pki,
    }
}

impl Setup {
    fn url(&self, path: &str) -> String {
        self.repository.url("cr.test", path)
    }

    /// Builds a new cache, as a separate stird node would have, that uses the
    /// Redis server at `redis_url`.
    fn node(&self, redis_url: &str, config: CacheConfig) -> X5uCache {
        X5uCache::builder(config)
            .tls(tls_config(Some(&self.repository.tls_ca_file)).unwrap())
            .resolver(resolver())
            .trust(Arc::new(SharedTrust::new(self.pki.trust(&["root.pem"]))))
            .redis(RedisTier::open(redis_url, REDIS_TIMEOUT).unwrap())
            .build()
            .unwrap()
    }
}

/// Collects the DER of each certificate of a chain.
fn ders(chain: &[cert::Certificate]) -> Vec<Vec<u8>> {
    chain
        .iter()
        .map(|certificate| certificate.der.clone())
        .collect()
}

/// Parses a PEM chain and collects the DER of each certificate.
fn pem_ders(pem: &str) -> Vec<Vec<u8>> {
    ders(&cert::parse_chain(pem.as_bytes()).unwrap())
}

/// Reads the record under `key` and checks that it contains `expected`'s chain.
fn assert_record_holds(key: &RedisKey, url: &str, expected: &Cached) {
    let bytes = key.get().expect("a record under the key");
    let record = Record::from_json(&bytes, url).unwrap();
    assert_eq!(record.url, url);
    assert_eq!(record.chain_pem, to_pem(&expected.cert.chain));
}

#[tokio::test]
async fn second_node_reads_chain_from_redis() {
    let Some(redis_url) = redis_url("second_node_reads_chain_from_redis") else {
        return;
    };
    let path = "/second-node-reads-chain-from-redis.pem";
    let setup = setup("two-nodes", path).await;
    let url = setup.url(path);
    let _key = RedisKey::new(&redis_url, &url);
    let node_a = setup.node(&redis_url, config(&setup.repository));
    let node_b = setup.node(&redis_url, config(&setup.repository));

    let at = now();
    let fetched = node_a.lookup(&url, at).await.unwrap();
    node_a.flush().await;
    assert_eq!(fetched.info.origin, Origin::Network);
    assert_eq!(setup.repository.hits(path), 1);
    assert_eq!(node_a.stats().redis_hits.load(Ordering::Relaxed), 0);
    assert_eq!(node_a.stats().fetches.load(Ordering::Relaxed), 1);

    let shared = node_b.lookup(&url, now()).await.unwrap();
    assert_eq!(shared.info.origin, Origin::Redis);
    assert!(shared.info.response.is_none());
    assert_eq!(setup.repository.hits(path), 1);
    assert_eq!(node_b.stats().redis_hits.load(Ordering::Relaxed), 1);
    assert_eq!(node_b.stats().fetches.load(Ordering::Relaxed), 0);

    // Node B validated the same chain under its own anchors and kept node A's
    // fetch time and lifetime.
    assert_eq!(ders(&shared.cert.chain), ders(&fetched.cert.chain));
    assert_eq!(
        ders(&shared.cert.chain),
        pem_ders(&setup.pki.pem("chain.pem"))
    );
    assert!(shared.cert.path.is_some());
    assert_eq!(shared.info.fetched_at, at);
    assert_eq!(shared.info.lifetime, fetched.info.lifetime);

    // Node B now serves the certificate from its memory tier, with no Redis read
    // and no fetch.
    let again = node_b.lookup(&url, now()).await.unwrap();
    assert_eq!(again.info.origin, Origin::Redis);
    assert!(Arc::ptr_eq(&again.cert, &shared.cert));
    assert_eq!(node_b.stats().hits.load(Ordering::Relaxed), 1);
    assert_eq!(node_b.stats().redis_hits.load(Ordering::Relaxed), 1);
    assert_eq!(setup.repository.hits(path), 1);
}

#[tokio::test]
async fn redis_key_holds_json_record_with_ttl() {
    let Some(redis_url) = redis_url("redis_key_holds_json_record_with_ttl") else {
        return;
    };
    let path = "/redis-key-holds-json-record-with-ttl.pem";
    let setup = setup("key-format", path).await;
    let url = setup.url(path);
    let key = RedisKey::new(&redis_url, &url);
    let node = setup.node(&redis_url, config(&setup.repository));

    // The key is the prefix and the hex SHA-256 of the URL exactly as given.
    let digest = url_digest(&url);
    assert_eq!(digest.len(), 64);
    assert!(
        digest
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{digest}"
    );
    assert_eq!(key.name, format!("stird:v1:x5u:{digest}"));
    assert_eq!(key.get(), None);

    let at = now();
    let fetched = node.lookup(&url, at).await.unwrap();
    node.flush().await;
    assert_eq!(fetched.info.origin, Origin::Network);

    let bytes = key.get().expect("a record under the key after the fetch");
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["url"], url.as_str());
    assert_eq!(json["version"], 1);
    assert_eq!(json["fetched_at"], at);
    // No caching headers: the 24-hour floor.
    assert_eq!(json["expires_at"], at + 86_400);
    assert_eq!(
        json["lifetime_reason"],
        fetched.info.lifetime.reason.as_str()
    );
    let chain_pem = json["chain_pem"].as_str().unwrap();
    assert_eq!(pem_ders(chain_pem), pem_ders(&setup.pki.pem("chain.pem")));
    assert_eq!(
        Record::from_json(&bytes, &url).unwrap().chain_pem,
        chain_pem
    );

    // The key expires with the record: 86400 s from the fetch, less the
    // seconds this test has taken since.
    let ttl = key.ttl();
    assert!(ttl > 0, "TTL {ttl}");
    assert!(ttl <= 86_400, "TTL {ttl}");
    assert!(ttl >= 86_400 - 60, "TTL {ttl}");
}

#[tokio::test]
async fn redis_records_are_validated_again() {
    let Some(redis_url) = redis_url("redis_records_are_validated_again") else {
        return;
    };
    let path = "/redis-records-are-validated-again.pem";
    let setup = setup("revalidated", path).await;
    let url = setup.url(path);
    let key = RedisKey::new(&redis_url, &url);

    let first = setup
        .node(&redis_url, config(&setup.repository))
        .lookup(&url, now())
        .await
        .unwrap();
    assert_eq!(first.info.origin, Origin::Network);
    assert_eq!(setup.repository.hits(path), 1);
    assert_record_holds(&key, &url, &first);

    // Another node, or anyone with write access to Redis, stores a chain under a
    // root this node does not trust. The record parses and is fresh, so only the
    // validation can reject it.
    let other = Pki::build("5678", vec![]);
    let at = now();
    let forged = Record {
        version: 1,
        url: url.clone(),
        fetched_at: at,
        expires_at: at + 3_600,
        lifetime_reason: "forged".to_owned(),
        chain_pem: other.pem("chain.pem"),
    };
    key.set(&forged.to_json());

    let node = setup.node(&redis_url, config(&setup.repository));
    let cached = node.lookup(&url, now()).await.unwrap();
    node.flush().await;
    assert_eq!(cached.info.origin, Origin::Network);
    assert_eq!(setup.repository.hits(path), 2);
    assert_eq!(node.stats().redis_hits.load(Ordering::Relaxed), 0);
    assert_eq!(
        ders(&cached.cert.chain),
        pem_ders(&setup.pki.pem("chain.pem"))
    );
    // The fetch replaced the forged record with the trusted chain.
    assert_record_holds(&key, &url, &cached);

    // For each value that is not a valid, fresh record of this URL, the lookup
    // fetches from the network, succeeds and writes a good record back.
    let mut wrong_version = forged.clone();
    wrong_version.version = 2;
    wrong_version.chain_pem = setup.pki.pem("chain.pem");
    let mut other_url = forged.clone();
    other_url.url = setup.url("/another-url.pem");
    other_url.chain_pem = setup.pki.pem("chain.pem");
    let mut expired = forged.clone();
    expired.chain_pem = setup.pki.pem("chain.pem");
    expired.fetched_at = at - 7_200;
    expired.expires_at = at - 1;
    let values: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\x00\xffnot a cache record{".to_vec()),
        ("empty", Vec::new()),
        ("JSON of another shape", br#"{"url": 5}"#.to_vec()),
        ("unknown version", wrong_version.to_json()),
        ("record of another URL", other_url.to_json()),
        ("expired record", expired.to_json()),
        ("oversized value", vec![b' '; 300 * 1024]),
    ];
    let mut expected_hits = 2;
    for (case, value) in values {
        key.set(&value);
        let node = setup.node(&redis_url, config(&setup.repository));
        let cached = node.lookup(&url, now()).await;
        node.flush().await;
        let cached = cached.unwrap_or_else(|error| panic!("{case}: {error}"));
        expected_hits += 1;
        assert_eq!(cached.info.origin, Origin::Network, "{case}");
        assert_eq!(setup.repository.hits(path), expected_hits, "{case}");
        assert_eq!(node.stats().redis_hits.load(Ordering::Relaxed), 0, "{case}");
        assert_record_holds(&key, &url, &cached);
    }

    // A key of another Redis type makes GET fail with WRONGTYPE. The lookup
    // still succeeds from the network, and SET replaces the key.
    key.set_list();
    let node = setup.node(&redis_url, config(&setup.repository));
    let cached = node.lookup(&url, now()).await.unwrap();
    node.flush().await;
    assert_eq!(cached.info.origin, Origin::Network);
    assert_eq!(setup.repository.hits(path), expected_hits + 1);
    assert_record_holds(&key, &url, &cached);
}

#[tokio::test]
async fn unreachable_redis_falls_back_to_network() {
    // This test needs no Redis server, so it runs even when
    // STIRD_TEST_REDIS_URL is not set.
    let path = "/unreachable-redis-falls-back-to-network.pem";
    let setup = setup("redis-down", path).await;
    let url = setup.url(path);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut config = config(&setup.repository);
    config.lookup_timeout = Duration::from_millis(1_500);
    let node = setup.node(&format!("redis://127.0.0.1:{port}/"), config);

    let started = Instant::now();
    let cached = node.lookup(&url, now()).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(cached.info.origin, Origin::Network);
    assert!(elapsed < Duration::from_millis(1_500), "took {elapsed:?}");
    assert_eq!(setup.repository.hits(path), 1);
    assert_eq!(node.stats().redis_hits.load(Ordering::Relaxed), 0);
    assert_eq!(node.stats().deadlines.load(Ordering::Relaxed), 0);

    // The next lookup is served from memory.
    let again = node.lookup(&url, now()).await.unwrap();
    assert!(Arc::ptr_eq(&again.cert, &cached.cert));
    assert_eq!(setup.repository.hits(path), 1);
}

#[tokio::test]
async fn silent_redis_delays_lookup_within_deadline() {
    // A server that accepts connections and never replies, so every Redis
    // command of the cache runs into REDIS_TIMEOUT. This needs no real Redis.
    let path = "/silent-redis-delays-lookup-within-deadline.pem";
    let setup = setup("redis-silent", path).await;
    let url = setup.url(path);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            connections.push(stream);
        }
    });
    let mut config = config(&setup.repository);
    config.lookup_timeout = Duration::from_millis(1_500);
    let node = setup.node(&format!("redis://127.0.0.1:{port}/"), config);

    let started = Instant::now();
    let cached = node.lookup(&url, now()).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(cached.info.origin, Origin::Network);
    // The GET before the fetch waits its whole timeout.
    assert!(elapsed >= REDIS_TIMEOUT, "took {elapsed:?}");
    assert!(elapsed < Duration::from_millis(1_500), "took {elapsed:?}");
    assert_eq!(setup.repository.hits(path), 1);
    assert_eq!(node.stats().deadlines.load(Ordering::Relaxed), 0);
    silent.abort();
}
