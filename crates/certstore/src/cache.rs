//! The self-managing certificate source: x5u fetched on demand, validated once,
//! and cached in memory, on disk and optionally in Redis.
//!
//! A lookup waits at most its deadline. A cached certificate costs a hash
//! lookup and an `Arc` clone, plus the checks that can change without a
//! fetch: the call's time within the path's validity, and the trust generation.
//! A miss joins the one fetch in flight for that URL or starts it in its own
//! task, which runs to its end whether or not anybody still waits, under caps
//! per host and in total. A failure is remembered for a short time (negative
//! cache), and a host that keeps failing is skipped for a growing interval
//! (circuit breaker).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};

use crate::fetch::{FetchError, FetchLimits, Fetched, fetch};
use crate::lifetime::{Lifetime, LifetimeBounds, lifetime};
use crate::resolve::{Resolve, SystemResolver};
use crate::tiers::{DiskTier, Record, RedisTier, to_pem};
use crate::trusted::{SharedTrust, TrustedCert, UntrustedError};
use crate::x5u_policy::{X5uPolicy, check_url};

/// Tuning of the cache and its fetches. Every field has a safe default.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// The x5u policy: URLs and addresses that may be fetched.
    pub policy: X5uPolicy,
    /// Time and size bounds of one fetch.
    pub limits: FetchLimits,
    /// Floor and ceiling of the cache lifetime.
    pub bounds: LifetimeBounds,
    /// How long a failed fetch is remembered.
    pub negative_ttl: Duration,
    /// Maximum time a lookup waits for a fetch.
    pub lookup_timeout: Duration,
    /// Fetches running at once, in total.
    ///
    /// NOTE: many distinct hanging origins can still hold all of these for a
    /// fetch timeout, delaying uncached lookups elsewhere (cached ones are
    /// unaffected).
    pub max_fetches: usize,
    /// Fetches running at once to one host.
    pub max_fetches_per_host: usize,
    /// URLs waiting for a fetch at once; more are refused at once.
    pub max_pending: usize,
    /// Memory tier bound in bytes.
    pub memory_bytes: u64,
    /// Memory tier bound in entries.
    pub memory_entries: u64,
    /// Serve an expired entry for this long while a fetch refreshes it.
    pub stale_while_revalidate: Option<Duration>,
    /// Circuit breaker settings.
    pub breaker: BreakerConfig,
}

impl Default for CacheConfig {
    fn default() -> Self {
        let limits = FetchLimits::default();
        CacheConfig {
            policy: X5uPolicy::default(),
            lookup_timeout: limits.total_timeout + Duration::from_millis(500),
            limits,
            bounds: LifetimeBounds::default(),
            negative_ttl: Duration::from_secs(30),
            max_fetches: 256,
            max_fetches_per_host: 4,
            max_pending: 1024,
            memory_bytes: 1024 * 1024 * 1024,
            memory_entries: 100_000,
            stale_while_revalidate: None,
            breaker: BreakerConfig::default(),
        }
    }
}

/// When a failing host is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive host failures that open the circuit.
    pub failures: u32,
    /// The first skip interval; each failed retry doubles it.
    pub base: Duration,
    /// Maximum skip interval.
    pub max: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 5,
            base: Duration::from_secs(10),
            max: Duration::from_secs(600),
        }
    }
}

/// Reason the certificate for an x5u is not available.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X5uError {
    #[error("x5u '{url}': {error}")]
    Fetch { url: String, error: FetchError },
    #[error("x5u '{url}' served an empty body")]
    Empty { url: String },
    #[error("x5u '{url}' served no certificate: {reason}")]
    NotCertificate { url: String, reason: String },
    #[error("x5u '{url}' served a private key; the document was discarded")]
    PrivateKey { url: String },
    #[error("x5u '{url}': {error}")]
    Untrusted { url: String, error: UntrustedError },
    #[error("x5u host '{host}' is skipped for {seconds} s more after repeated failures")]
    CircuitOpen { host: String, seconds: u64 },
    #[error("x5u '{url}': no certificate within {ms} ms")]
    Deadline { url: String, ms: u128 },
    #[error("x5u '{url}': {pending} fetches are already waiting; the limit is {max}")]
    Overloaded {
        url: String,
        pending: usize,
        max: usize,
    },
    #[error("{error} (failed {age} s ago, retried after {retry} s)")]
    RecentFailure {
        error: Box<X5uError>,
        age: u64,
        retry: u64,
    },
}

impl X5uError {
    /// Returns true when the certificate was obtained but is not trusted or not
    /// usable (437 Unsupported Credential), false when it was not obtained (436).
    pub fn is_untrusted(&self) -> bool {
        match self {
            X5uError::Untrusted { .. } => true,
            X5uError::RecentFailure { error, .. } => error.is_untrusted(),
            _ => false,
        }
    }

    /// Returns a short lowercase name of the failure, stable for metrics: the
    /// fetch failure's kind, or what was wrong with the served document.
    pub fn kind(&self) -> &'static str {
        match self {
            X5uError::Fetch { error, .. } => error.kind(),
            X5uError::Empty { .. } => "empty",
            X5uError::NotCertificate { .. } => "not_certificate",
            X5uError::PrivateKey { .. } => "private_key",
            X5uError::Untrusted { .. } => "untrusted",
            X5uError::CircuitOpen { .. } => "circuit_open",
            X5uError::Deadline { .. } => "deadline",
            X5uError::Overloaded { .. } => "overloaded",
            X5uError::RecentFailure { error, .. } => error.kind(),
        }
    }
}

/// State of an origin's circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Fetches go to the origin; it may have failed fewer times than the
    /// breaker's threshold.
    Closed,
    /// Fetches to the origin are skipped until the skip interval ends.
    Open,
    /// The skip interval has ended: the next fetch is a trial whose result
    /// closes the circuit or opens it for twice as long.
    HalfOpen,
}

impl CircuitState {
    /// Returns the state's name as metrics and logs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// One origin's circuit breaker, as [`X5uCache::circuits`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circuit {
    /// The origin: host and port.
    pub origin: String,
    /// The breaker's state.
    pub state: CircuitState,
    /// Host-level failures counted since the origin last responded.
    pub failures: u32,
}

/// The tier a lookup's certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The memory tier.
    Memory,
    /// The memory tier, expired but served while a refresh runs.
    Stale,
    /// The disk tier.
    Disk,
    /// The Redis tier.
    Redis,
    /// The certificate repository.
    Network,
}

/// Provenance of a cached certificate.
#[derive(Debug, Clone)]
pub struct FetchInfo {
    /// The tier it came from the first time.
    pub origin: Origin,
    /// The HTTP exchange, when it came from the network.
    pub response: Option<ResponseInfo>,
    /// When it was obtained, Unix seconds.
    pub fetched_at: i64,
    /// How long it stays fresh, and why.
    pub lifetime: Lifetime,
    /// Seconds it stays fresh from when it entered memory, on the call's clock.
    pub fresh_for: u64,
}

/// The HTTP exchange of a fetch, for `stird x5u` and logs.
#[derive(Debug, Clone)]
pub struct ResponseInfo {
    /// The URL the body came from.
    pub url: String,
    /// The address connected to.
    pub address: std::net::SocketAddr,
    /// The HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// Body size.
    pub bytes: usize,
    /// Time taken.
    pub elapsed: Duration,
}

/// A cache entry.
#[derive(Debug, Clone)]
pub struct Cached {
    /// The certificate.
    pub cert: Arc<TrustedCert>,
    /// Its provenance.
    pub info: Arc<FetchInfo>,
}

/// A memory-tier entry, as [`X5uCache::entries`] lists it.
#[derive(Debug, Clone)]
pub struct EntrySummary {
    /// The URL in its normalized form, the key of the entry.
    pub url: String,
    /// The tier the certificate came from when it entered memory.
    pub origin: Origin,
    /// When the certificate was obtained from the repository, Unix seconds.
    pub fetched_at: i64,
    /// When the entry stops being fresh, Unix seconds.
    pub expires_at: i64,
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Lookups served from memory while fresh.
    pub hits: AtomicU64,
    /// Lookups served from memory after expiry, while a fetch refreshes the entry.
    pub stale_hits: AtomicU64,
    /// Lookups that found nothing fresh in memory.
    pub misses: AtomicU64,
    /// Lookups that got a remembered failure from the negative cache.
    pub negative_hits: AtomicU64,
    /// Fetches from the network started.
    pub fetches: AtomicU64,
    /// Fetches that failed.
    pub fetch_failures: AtomicU64,
    /// Entries read back from disk.
    pub disk_hits: AtomicU64,
    /// Entries read back from Redis.
    pub redis_hits: AtomicU64,
    /// Lookups that gave up at their deadline.
    pub deadlines: AtomicU64,
}

type Outcome = Result<Cached, X5uError>;

#[derive(Debug)]
struct Negative {
    error: X5uError,
    at: Instant,
    /// Approximate bytes held, for the negative cache's byte bound.
    weight: u32,
}

/// Byte bound of the negative cache: failures carry server-chosen text, so
/// the cache is bounded by size as well as by entry lifetime.
const NEGATIVE_CACHE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug)]
struct HostState {
    permits: Arc<Semaphore>,
    failures: u32,
    /// When the circuit opened, and until when it stays open.
    open: Option<(Instant, Instant)>,
    interval: Duration,
}

/// The self-managing certificate source. Cloning shares the cache.
#[derive(Clone, Debug)]
pub struct X5uCache {
    inner: Arc<Inner>,
}

struct Inner {
    config: CacheConfig,
    tls: Arc<rustls::ClientConfig>,
    resolver: Arc<dyn Resolve>,
    trust: Option<Arc<SharedTrust>>,
    memory: moka::sync::Cache<Arc<str>, Cached>,
    negative: moka::sync::Cache<Arc<str>, Arc<Negative>>,
    inflight: Mutex<HashMap<Arc<str>, watch::Receiver<Option<Outcome>>>>,
    /// Fetch permits and circuit breakers by origin (host and port).
    hosts: moka::sync::Cache<String, Arc<Mutex<HostState>>>,
    total: Arc<Semaphore>,
    disk: Option<DiskTier>,
    redis: Option<RedisTier>,
    stats: CacheStats,
    /// Disk and Redis writes still running.
    writes: std::sync::atomic::AtomicUsize,
    written: tokio::sync::Notify,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X5uCache")
            .field("entries", &self.memory.entry_count())
            .finish_non_exhaustive()
    }
}

/// Expiry of memory entries: the fresh lifetime plus the stale window, counted
/// from insertion on the monotonic clock.
struct EntryExpiry {
    stale: Duration,
}

impl moka::Expiry<Arc<str>, Cached> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &Arc<str>,
        value: &Cached,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(Duration::from_secs(value.info.fresh_for) + self.stale)
    }
}

/// Seconds a disk or Redis record's fetch time may lie ahead of this node's
/// clock, for nodes whose clocks differ a little.
const RECORD_CLOCK_SKEW: i64 = 300;

/// Returns the current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Builder for [`X5uCache`].
#[derive(Debug)]
pub struct X5uCacheBuilder {
    config: CacheConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    resolver: Arc<dyn Resolve>,
    trust: Option<Arc<SharedTrust>>,
    disk: Option<DiskTier>,
    redis: Option<RedisTier>,
}

impl X5uCacheBuilder {
    /// Sets the TLS configuration for certificate repositories; the default is
    /// the Mozilla roots.
    pub fn tls(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the resolver; the default is the system's.
    pub fn resolver(mut self, resolver: Arc<dyn Resolve>) -> Self {
        self.resolver = resolver;
        self
    }

    /// Sets the STI trust anchors and CRLs. Without them chains are taken
    /// unvalidated, which only inspection should do.
    pub fn trust(mut self, trust: Arc<SharedTrust>) -> Self {
        self.trust = Some(trust);
        self
    }

    /// Adds the disk tier.
    pub fn disk(mut self, disk: DiskTier) -> Self {
        self.disk = Some(disk);
        self
    }

    /// Adds the Redis tier.
    pub fn redis(mut self, redis: RedisTier) -> Self {
        self.redis = Some(redis);
        self
    }

    /// Builds the cache.
    pub fn build(self) -> Result<X5uCache, String> {
        let config = self.config;
        let tls = match self.tls {
            Some(tls) => tls,
            None => crate::fetch::tls_config(None)?,
        };
        let entries = config.memory_entries.max(1);
        // Each entry weighs at least the byte bound divided by the entry bound,
        // so the one weighted capacity enforces both.
        let minimum_weight = u32::try_from(config.memory_bytes / entries).unwrap_or(u32::MAX);
        let memory = moka::sync::Cache::builder()
            .max_capacity(config.memory_bytes)
            .weigher(move |_key: &Arc<str>, value: &Cached| {
                u32::try_from(value.cert.weight())
                    .unwrap_or(u32::MAX)
                    .max(minimum_weight)
            })
            .expire_after(EntryExpiry {
                stale: config.stale_while_revalidate.unwrap_or_default(),
            })
            .build();
        let negative = moka::sync::Cache::builder()
            .max_capacity(NEGATIVE_CACHE_BYTES)
            .weigher(|key: &Arc<str>, value: &Arc<Negative>| {
                value
                    .weight
                    .saturating_add(u32::try_from(key.len()).unwrap_or(u32::MAX))
            })
            .time_to_live(config.negative_ttl.max(Duration::from_millis(1)))
            .build();
        Ok(X5uCache {
            inner: Arc::new(Inner {
                total: Arc::new(Semaphore::new(config.max_fetches.max(1))),
                config,
                tls,
                resolver: self.resolver,
                trust: self.trust,
                memory,
                negative,
                inflight: Mutex::new(HashMap::new()),
                // Origins idle for 15 minutes are forgotten, open circuits
                // included: by then the longest skip interval has passed.
                hosts: moka::sync::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_idle(Duration::from_secs(900))
                    .build(),
                disk: self.disk,
                redis: self.redis,
                stats: CacheStats::default(),
                writes: std::sync::atomic::AtomicUsize::new(0),
                written: tokio::sync::Notify::new(),
            }),
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl X5uCache {
    /// Starts a builder with `config`.
    pub fn builder(config: CacheConfig) -> X5uCacheBuilder {
        X5uCacheBuilder {
            config,
            tls: None,
            resolver: Arc::new(SystemResolver),
            trust: None,
            disk: None,
            redis: None,
        }
    }

    /// Returns the configuration in force.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    /// The counters.
    pub fn stats(&self) -> &CacheStats {
        &self.inner.stats
    }

    /// Entries in the memory tier.
    pub fn len(&self) -> u64 {
        self.inner.memory.run_pending_tasks();
        self.inner.memory.entry_count()
    }

    /// Lists the entries of the memory tier, sorted by URL. An entry past its
    /// expiry stays listed while it may still be served stale.
    pub fn entries(&self) -> Vec<EntrySummary> {
        let mut entries: Vec<EntrySummary> = self
            .inner
            .memory
            .iter()
            .map(|(url, cached)| EntrySummary {
                url: url.to_string(),
                origin: cached.info.origin,
                fetched_at: cached.info.fetched_at,
                expires_at: cached.info.lifetime.expires_at,
            })
            .collect();
        entries.sort_by(|a, b| a.url.cmp(&b.url));
        entries
    }

    /// Returns true when the memory tier is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until the disk and Redis writes started so far have finished, as a
    /// shutdown does before exiting.
    pub async fn flush(&self) {
        loop {
            let notified = self.inner.written.notified();
            if self.inner.writes.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Removes every entry of the memory and negative caches.
    pub fn clear(&self) {
        self.inner.memory.invalidate_all();
        self.inner.negative.invalidate_all();
    }

    /// Returns the validated certificate at `x5u` for a call at Unix time `now`.
    pub async fn get(&self, x5u: &str, now: i64) -> Result<Arc<TrustedCert>, X5uError> {
        self.lookup(x5u, now).await.map(|cached| cached.cert)
    }

    /// Like [`X5uCache::get`], with how the certificate was obtained.
    pub async fn lookup(&self, x5u: &str, now: i64) -> Result<Cached, X5uError> {
        let inner = &self.inner;
        let url = check_url(x5u, &inner.config.policy).map_err(|error| X5uError::Fetch {
            url: x5u.to_owned(),
            error: error.into(),
        })?;
        // Every spelling of one URL shares one entry and one fetch.
        let x5u = url.key.as_str();

        if let Some(cached) = inner.memory.get(x5u) {
            let fresh = now < cached.info.lifetime.expires_at;
            if fresh || inner.config.stale_while_revalidate.is_some() {
                let cached = self.recheck(x5u, cached, now)?;
                if fresh {
                    inner.stats.hits.fetch_add(1, Ordering::Relaxed);
                } else {
                    inner.stats.stale_hits.fetch_add(1, Ordering::Relaxed);
                    // The refresh runs on its own, and this call returns now.
                    let _ = self.start(x5u, &origin(&url), now, true);
                }
                return Ok(cached);
            }
        }
        inner.stats.misses.fetch_add(1, Ordering::Relaxed);

        if let Some(negative) = inner.negative.get(x5u) {
            inner.stats.negative_hits.fetch_add(1, Ordering::Relaxed);
            let age = negative.at.elapsed();
            return Err(X5uError::RecentFailure {
                error: Box::new(negative.error.clone()),
                age: age.as_secs(),
                retry: inner.config.negative_ttl.saturating_sub(age).as_secs(),
            });
        }

        let mut receiver = self.start(x5u, &origin(&url), now, false)?;
        let deadline = inner.config.lookup_timeout;
        match tokio::time::timeout(deadline, receiver.wait_for(Option::is_some)).await {
            Ok(Ok(outcome)) => match outcome.as_ref() {
                Some(outcome) => outcome.clone(),
                None => Err(self.deadline(x5u)),
            },
            // The fetch task ended without a result, because it was cancelled
            // with the runtime.
            Ok(Err(_)) => Err(self.deadline(x5u)),
            Err(_) => Err(self.deadline(x5u)),
        }
    }

    fn deadline(&self, x5u: &str) -> X5uError {
        self.inner.stats.deadlines.fetch_add(1, Ordering::Relaxed);
        X5uError::Deadline {
            url: x5u.to_owned(),
            ms: self.inner.config.lookup_timeout.as_millis(),
        }
    }

    /// Checks a memory entry at `now`, validating its chain again when the trust
    /// anchors or CRLs changed since it was cached.
    fn recheck(&self, x5u: &str, cached: Cached, now: i64) -> Result<Cached, X5uError> {
        let untrusted = |error| X5uError::Untrusted {
            url: x5u.to_owned(),
            error,
        };
        if let Some(trust) = &self.inner.trust {
            let current = trust.current();
            if current.generation() != cached.cert.generation {
                let revalidated = TrustedCert::from_chain(
                    &cached.cert.source,
                    cached.cert.chain.clone(),
                    Some(&current),
                    now,
                )
                .map_err(untrusted)?;
                let cached = Cached {
                    cert: Arc::new(revalidated),
                    info: cached.info,
                };
                self.inner.memory.insert(Arc::from(x5u), cached.clone());
                return Ok(cached);
            }
        }
        cached.cert.check_at(now).map_err(untrusted)?;
        Ok(cached)
    }

    /// Joins the fetch in flight for `x5u`, or starts one.
    fn start(
        &self,
        x5u: &str,
        host: &str,
        now: i64,
        refresh: bool,
    ) -> Result<watch::Receiver<Option<Outcome>>, X5uError> {
        let inner = &self.inner;
        let mut inflight = lock(&inner.inflight);
        if let Some(receiver) = inflight.get(x5u) {
            return Ok(receiver.clone());
        }
        if inflight.len() >= inner.config.max_pending {
            return Err(X5uError::Overloaded {
                url: x5u.to_owned(),
                pending: inflight.len(),
                max: inner.config.max_pending,
            });
        }
        // The tiers are read before the circuit breaker is asked: a host that is
        // down does not stop a chain cached on disk or in Redis from serving.
        let (sender, receiver) = watch::channel(None);
        let key: Arc<str> = Arc::from(x5u);
        inflight.insert(Arc::clone(&key), receiver.clone());
        drop(inflight);

        let cache = self.clone();
        let host = host.to_owned();
        tokio::spawn(async move {
            let _guard = InflightGuard {
                cache: &cache,
                key: &key,
            };
            let outcome = cache.obtain(&key, &host, now, refresh).await;
            match &outcome {
                Ok(cached) => {
                    cache.inner.memory.insert(Arc::clone(&key), cached.clone());
                    cache.inner.negative.invalidate(&key);
                }
                Err(error) => {
                    let weight = u32::try_from(error.to_string().len() + 128).unwrap_or(u32::MAX);
                    cache.inner.negative.insert(
                        Arc::clone(&key),
                        Arc::new(Negative {
                            error: error.clone(),
                            at: Instant::now(),
                            weight,
                        }),
                    );
                }
            }
            let _ = sender.send(Some(outcome));
        });
        Ok(receiver)
    }

    /// Gets the chain from the disk or Redis tier, else from the network.
    async fn obtain(&self, x5u: &str, host: &str, now: i64, refresh: bool) -> Outcome {
        let inner = &self.inner;
        if !refresh {
            if let Some(disk) = &inner.disk {
                match disk.read(x5u).await {
                    Ok(Some(record)) if record.expires_at > now => {
                        match self.cached_from_record(x5u, &record, Origin::Disk, now) {
                            Ok(cached) => {
                                inner.stats.disk_hits.fetch_add(1, Ordering::Relaxed);
                                return Ok(cached);
                            }
                            Err(error) => {
                                tracing::warn!(url = x5u, %error, "x5u disk cache record rejected")
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(url = x5u, %error, "x5u disk cache unreadable"),
                }
            }
            if let Some(redis) = &inner.redis {
                match redis.read(x5u).await {
                    Ok(Some(record)) if record.expires_at > now => {
                        match self.cached_from_record(x5u, &record, Origin::Redis, now) {
                            Ok(cached) => {
                                inner.stats.redis_hits.fetch_add(1, Ordering::Relaxed);
                                return Ok(cached);
                            }
                            Err(error) => {
                                tracing::warn!(url = x5u, %error, "x5u Redis record rejected")
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(url = x5u, %error, "x5u Redis tier unavailable"),
                }
            }
        }

        // The origin's permit first, then one of the global permits: a fetch
        // queued behind a slow origin holds no global permit while it waits,
        // and neither wait outlasts a caller's deadline.
        let permits = self.host_permits(host)?;
        let wait = inner.config.lookup_timeout;
        let _host = match tokio::time::timeout(wait, permits.acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(self.deadline(x5u)),
        };
        let _total =
            match tokio::time::timeout(wait, Arc::clone(&inner.total).acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                _ => return Err(self.deadline(x5u)),
            };
        // The breaker may have opened while this fetch waited for a permit.
        self.host_permits(host)?;
        let started = Instant::now();
        let outcome = self.fetch_and_validate(x5u, host, now, started).await;
        let result = match &outcome {
            Ok(_) => "ok",
            Err(error) => error.kind(),
        };
        metrics::counter!("stird_x5u_fetches_total", "outcome" => result).increment(1);
        metrics::histogram!(
            "stird_x5u_fetch_duration_seconds",
            "result" => if outcome.is_ok() { "ok" } else { "failed" }
        )
        .record(started.elapsed().as_secs_f64());
        outcome
    }

    /// Fetches `x5u` from its repository and validates the chain. The caller
    /// has acquired the origin's fetch permit and a global one.
    async fn fetch_and_validate(
        &self,
        x5u: &str,
        host: &str,
        now: i64,
        started: Instant,
    ) -> Outcome {
        let inner = &self.inner;

        inner.stats.fetches.fetch_add(1, Ordering::Relaxed);
        let url = check_url(x5u, &inner.config.policy).map_err(|error| X5uError::Fetch {
            url: x5u.to_owned(),
            error: error.into(),
        })?;
        let result = fetch(
            &url,
            &inner.config.policy,
            &inner.config.limits,
            &inner.tls,
            inner.resolver.as_ref(),
        )
        .await;
        let fetched = match result {
            Ok(fetched) => {
                self.host_answered(host);
                fetched
            }
            Err(error) => {
                inner.stats.fetch_failures.fetch_add(1, Ordering::Relaxed);
                if host_failure(&error) {
                    self.host_failed(host, &error, started);
                } else {
                    self.host_answered(host);
                }
                tracing::warn!(url = x5u, %error, "x5u fetch failed");
                return Err(X5uError::Fetch {
                    url: x5u.to_owned(),
                    error,
                });
            }
        };
        let outcome = self.cached_from_response(x5u, fetched, now);
        match &outcome {
            Ok(cached) => {
                tracing::info!(
                    url = x5u,
                    expires_at = cached.info.lifetime.expires_at,
                    reason = %cached.info.lifetime.reason,
                    "x5u fetched and validated"
                );
                // The tiers are written in the background: callers waiting for
                // this fetch get the certificate without waiting for Redis.
                let (cache, url, cached) = (self.clone(), x5u.to_owned(), cached.clone());
                inner.writes.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    cache.store(&url, &cached, now).await;
                    cache.inner.writes.fetch_sub(1, Ordering::SeqCst);
                    cache.inner.written.notify_waiters();
                });
            }
            Err(error) => {
                inner.stats.fetch_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(url = x5u, %error, "x5u chain rejected");
            }
        }
        outcome
    }

    fn cached_from_response(&self, x5u: &str, fetched: Fetched, now: i64) -> Outcome {
        let chain = parse_body(x5u, &fetched.body)?;
        if let Some(content_type) = &fetched.content_type {
            let media = content_type.split(';').next().unwrap_or("").trim();
            if !media.eq_ignore_ascii_case("application/pem-certificate-chain") {
                tracing::debug!(url = x5u, content_type = %content_type, "x5u served with an unusual Content-Type");
            }
        }
        let trust = self.inner.trust.as_ref().map(|trust| trust.current());
        let cert = TrustedCert::from_chain(x5u, chain, trust.as_deref(), now).map_err(|error| {
            X5uError::Untrusted {
                url: x5u.to_owned(),
                error,
            }
        })?;
        let lifetime = lifetime(
            &fetched.cache,
            self.inner.config.bounds,
            now,
            cert.valid_until,
        );
        Ok(Cached {
            cert: Arc::new(cert),
            info: Arc::new(FetchInfo {
                origin: Origin::Network,
                response: Some(ResponseInfo {
                    url: fetched.url,
                    address: fetched.address,
                    status: fetched.status,
                    content_type: fetched.content_type,
                    bytes: fetched.body.len(),
                    elapsed: fetched.elapsed,
                }),
                fetched_at: now,
                fresh_for: lifetime.remaining(now),
                lifetime,
            }),
        })
    }

    fn cached_from_record(&self, x5u: &str, record: &Record, origin: Origin, now: i64) -> Outcome {
        let chain = parse_body(x5u, record.chain_pem.as_bytes())?;
        let trust = self.inner.trust.as_ref().map(|trust| trust.current());
        let cert = TrustedCert::from_chain(x5u, chain, trust.as_deref(), now).map_err(|error| {
            X5uError::Untrusted {
                url: x5u.to_owned(),
                error,
            }
        })?;
        // A record is data from outside, so its times are bounded like a
        // fetch's: write access to the disk or Redis cannot pin a chain longer.
        if record.fetched_at > now.saturating_add(RECORD_CLOCK_SKEW) {
            return Err(X5uError::NotCertificate {
                url: x5u.to_owned(),
                reason: format!(
                    "the cache record says it was fetched at {}, after now ({now})",
                    record.fetched_at
                ),
            });
        }
        let ceiling = i64::try_from(self.inner.config.bounds.ceiling).unwrap_or(i64::MAX);
        let expires_at = record
            .expires_at
            .min(cert.valid_until)
            .min(record.fetched_at.saturating_add(ceiling))
            .min(now.saturating_add(ceiling));
        Ok(Cached {
            cert: Arc::new(cert),
            info: Arc::new(FetchInfo {
                origin,
                response: None,
                fetched_at: record.fetched_at,
                fresh_for: u64::try_from(expires_at.saturating_sub(now)).unwrap_or(0),
                lifetime: Lifetime {
                    expires_at,
                    reason: record.lifetime_reason.clone(),
                },
            }),
        })
    }

    async fn store(&self, x5u: &str, cached: &Cached, now: i64) {
        let inner = &self.inner;
        if inner.disk.is_none() && inner.redis.is_none() {
            return;
        }
        let record = Record {
            version: 1,
            url: x5u.to_owned(),
            fetched_at: cached.info.fetched_at,
            expires_at: cached.info.lifetime.expires_at,
            lifetime_reason: cached.info.lifetime.reason.clone(),
            chain_pem: to_pem(&cached.cert.chain),
        };
        if let Some(disk) = &inner.disk
            && let Err(error) = disk.write(&record).await
        {
            tracing::warn!(url = x5u, %error, "x5u disk cache not written");
        }
        if let Some(redis) = &inner.redis
            && let Err(error) = redis.write(&record, now).await
        {
            tracing::warn!(url = x5u, %error, "x5u Redis tier not written");
        }
    }

    fn host_state(&self, origin: &str) -> Arc<Mutex<HostState>> {
        let inner = &self.inner;
        inner.hosts.get_with(origin.to_owned(), || {
            Arc::new(Mutex::new(HostState {
                permits: Arc::new(Semaphore::new(inner.config.max_fetches_per_host.max(1))),
                failures: 0,
                open: None,
                interval: inner.config.breaker.base,
            }))
        })
    }

    /// Returns the circuit breakers of the origins fetched from, at most
    /// `limit` of them: open ones first, then half-open ones, then closed ones
    /// that have failed since they last responded. Origins whose last fetch got
    /// a response are left out, because the cache may track 100,000 origins.
    pub fn circuits(&self, limit: usize) -> Vec<Circuit> {
        let now = Instant::now();
        let mut circuits: Vec<Circuit> = self
            .inner
            .hosts
            .iter()
            .filter_map(|(origin, state)| {
                let state = lock(&state);
                let circuit_state = match state.open {
                    Some((_, until)) if now < until => CircuitState::Open,
                    Some(_) => CircuitState::HalfOpen,
                    None if state.failures > 0 => CircuitState::Closed,
                    None => return None,
                };
                Some(Circuit {
                    origin: origin.as_ref().clone(),
                    state: circuit_state,
                    failures: state.failures,
                })
            })
            .collect();
        let rank = |state: CircuitState| match state {
            CircuitState::Open => 0,
            CircuitState::HalfOpen => 1,
            CircuitState::Closed => 2,
        };
        circuits.sort_by(|a, b| {
            rank(a.state)
                .cmp(&rank(b.state))
                .then_with(|| b.failures.cmp(&a.failures))
                .then_with(|| a.origin.cmp(&b.origin))
        });
        circuits.truncate(limit);
        circuits
    }

    /// Returns the origin's fetch permits, or the open circuit.
    fn host_permits(&self, origin: &str) -> Result<Arc<Semaphore>, X5uError> {
        let state = self.host_state(origin);
        let state = lock(&state);
        if let Some((_, until)) = state.open {
            let now = Instant::now();
            if now < until {
                return Err(X5uError::CircuitOpen {
                    host: origin.to_owned(),
                    seconds: (until - now).as_secs().max(1),
                });
            }
        }
        Ok(Arc::clone(&state.permits))
    }

    fn host_answered(&self, origin: &str) {
        let state = self.host_state(origin);
        let mut state = lock(&state);
        if state.open.is_some() {
            tracing::info!(origin, "x5u host responds again; its circuit is closed");
        }
        state.failures = 0;
        state.open = None;
        state.interval = self.inner.config.breaker.base;
    }

    /// Counts a host-level failure of a fetch that started at `started`.
    fn host_failed(&self, origin: &str, error: &FetchError, started: Instant) {
        let breaker = self.inner.config.breaker;
        let state = self.host_state(origin);
        let mut state = lock(&state);
        let now = Instant::now();
        let interval = match state.open {
            // A fetch that was already running when the circuit opened shows
            // nothing new about the host.
            Some((opened, _)) if started < opened => return,
            // A retry after the skip interval failed: skip twice as long.
            Some(_) => (state.interval * 2).min(breaker.max),
            None => {
                state.failures = state.failures.saturating_add(1);
                if state.failures < breaker.failures {
                    return;
                }
                breaker.base
            }
        };
        state.interval = interval;
        state.open = Some((now, now + interval));
        tracing::warn!(
            origin,
            failures = state.failures,
            seconds = interval.as_secs(),
            %error,
            "x5u host skipped after repeated failures; its circuit is open"
        );
    }

    /// Fetches every URL of `urls` into the cache, at most the configured number
    /// at once, and returns how many succeeded.
    pub async fn warm_up(&self, urls: &[String], now: i64) -> usize {
        let mut tasks = tokio::task::JoinSet::new();
        for url in urls {
            let cache = self.clone();
            let url = url.clone();
            tasks.spawn(async move { cache.lookup(&url, now).await.is_ok() });
        }
        let mut loaded = 0;
        while let Some(result) = tasks.join_next().await {
            if matches!(result, Ok(true)) {
                loaded += 1;
            }
        }
        loaded
    }

    /// Loads every fresh record of the disk tier into memory, validating each,
    /// and returns how many were loaded.
    pub async fn warm_up_from_disk(&self, now: i64) -> usize {
        let Some(disk) = &self.inner.disk else {
            return 0;
        };
        let max = usize::try_from(self.inner.config.memory_entries).unwrap_or(usize::MAX);
        let mut loaded = 0;
        // One record at a time, so warm-up keeps at most one record in memory
        // beyond the entries it loads.
        for path in disk.record_paths(max).await {
            let Some(record) = disk.read_path(&path).await else {
                continue;
            };
            if record.expires_at <= now {
                continue;
            }
            match self.cached_from_record(&record.url, &record, Origin::Disk, now) {
                Ok(cached) => {
                    self.inner
                        .memory
                        .insert(Arc::from(record.url.as_str()), cached);
                    loaded += 1;
                }
                Err(error) => {
                    tracing::warn!(url = %record.url, %error, "x5u disk cache record rejected")
                }
            }
        }
        loaded
    }
}

/// Returns the origin of an x5u URL, which the circuit breaker and the
/// per-host cap count by, so a failing port does not stop the host's others.
fn origin(url: &crate::x5u_policy::X5uUrl) -> String {
    format!("{}:{}", url.host, url.port)
}

/// Removes the in-flight entry when the fetch task ends, however it ends.
struct InflightGuard<'a> {
    cache: &'a X5uCache,
    key: &'a Arc<str>,
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        lock(&self.cache.inner.inflight).remove(self.key);
    }
}

/// Returns true when a fetch error shows a failing host rather than a bad URL.
fn host_failure(error: &FetchError) -> bool {
    match error {
        FetchError::Resolve { .. }
        | FetchError::NoAddress { .. }
        | FetchError::Connect { .. }
        | FetchError::Tls { .. }
        | FetchError::Http { .. }
        | FetchError::Timeout { .. } => true,
        FetchError::Status { status } => *status >= 500,
        _ => false,
    }
}

/// Reads a repository's body: a PEM chain, one PEM certificate or one DER
/// certificate. A body holding a private key, in any encoding found anywhere in
/// it, is refused and logged as a leak.
pub fn parse_body(x5u: &str, body: &[u8]) -> Result<Vec<cert::Certificate>, X5uError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(X5uError::Empty {
            url: x5u.to_owned(),
        });
    }
    let leak = || {
        tracing::error!(
            url = x5u,
            "x5u serves a private key: its owner has leaked it and should revoke the certificate"
        );
        X5uError::PrivateKey {
            url: x5u.to_owned(),
        }
    };
    if contains(body, b"PRIVATE KEY") || looks_like_der_private_key(trim_start(body)) {
        return Err(leak());
    }
    let not_certificate = |reason: String| X5uError::NotCertificate {
        url: x5u.to_owned(),
        reason,
    };
    let chain = match cert::parse_chain(body) {
        Ok(chain) => chain,
        Err(cert::Error::PrivateKey) => return Err(leak()),
        Err(error) => {
            // A key inside a block with another label, or base64 without PEM
            // lines, is still a leak.
            if pem_blocks(body)
                .iter()
                .any(|der| looks_like_der_private_key(der))
            {
                return Err(leak());
            }
            return Err(not_certificate(error.to_string()));
        }
    };
    // Anything after the last PEM certificate is refused: bytes there can be a
    // DER key appended to the chain.
    if let Some(end) = rfind(body, b"-----END CERTIFICATE-----") {
        let rest = body
            .get(end + b"-----END CERTIFICATE-----".len()..)
            .unwrap_or_default();
        let rest = trim_start(rest);
        if !rest.is_empty() {
            if looks_like_der_private_key(rest) {
                return Err(leak());
            }
            return Err(not_certificate(format!(
                "{} bytes follow the last certificate",
                rest.len()
            )));
        }
    }
    Ok(chain)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .rposition(|window| window == needle)
}

/// Skips whitespace and byte order marks.
fn trim_start(mut bytes: &[u8]) -> &[u8] {
    loop {
        if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
            bytes = rest;
        } else if let Some((first, rest)) = bytes.split_first()
            && first.is_ascii_whitespace()
        {
            bytes = rest;
        } else {
            return bytes;
        }
    }
}

/// Decodes the base64 of every PEM block, whatever its label, and the whole
/// body when it is bare base64; bad blocks are skipped.
fn pem_blocks(body: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(body);
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN") {
            current = Some(String::new());
        } else if line.starts_with("-----END") {
            if let Some(data) = current.take()
                && let Ok(der) = base64::engine::general_purpose::STANDARD.decode(data)
            {
                blocks.push(der);
            }
        } else if let Some(data) = current.as_mut()
            && !line.contains(':')
        {
            // Lines with a colon are PEM headers such as Proc-Type.
            data.push_str(line);
        }
    }
    let bare: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(bare) {
        blocks.push(der);
    }
    blocks
}

/// Detects a DER private key. A DER certificate is a SEQUENCE whose first
/// element is another SEQUENCE (the TBSCertificate), while PKCS#1, PKCS#8 and
/// SEC1 private keys are SEQUENCEs that start with an INTEGER version.
fn looks_like_der_private_key(body: &[u8]) -> bool {
    let Some((&0x30, rest)) = body.split_first() else {
        return false;
    };
    let Some((&length, rest)) = rest.split_first() else {
        return false;
    };
    let skip = if length & 0x80 == 0 {
        0
    } else {
        usize::from(length & 0x7f)
    };
    rest.get(skip) == Some(&0x02)
}
