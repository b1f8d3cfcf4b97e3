//! Latency and memory of the x5u certificate cache, against a real HTTPS
//! repository on loopback.
//!
//! Three measurements, each printed as a table:
//!
//! 1. cached lookups of one URL while idle, while 1,000 lookups of another URL
//!    wait on a fetch that hangs, and idle again afterwards;
//! 2. one uncached URL asked by 1,000 callers at once, beside one caller alone;
//! 3. resident memory after loading many certificates from the disk tier.
//!
//! `STIRD_BENCH_X5U_LOOKUPS` sets the lookups per latency sample (default
//! 200,000) and `STIRD_BENCH_X5U_ENTRIES` the certificates loaded from disk
//! (default 100,000).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use certstore::fetch::{FetchError, tls_config};
use certstore::resolve::StaticResolver;
use certstore::tiers::{DiskTier, Record};
use certstore::{CacheConfig, SharedTrust, X5uCache, X5uCacheBuilder, X5uError};
use support::{Pki, Repository, Route, TempDir, now};

const LOOPBACK: &str = "127.0.0.1";
const CALLERS: usize = 1_000;
const WARM_UP_LOOKUPS: usize = 10_000;
/// Maximum wait for the 1,000 hanging lookups to register before the
/// measurement starts anyway.
const REGISTER_WAIT: Duration = Duration::from_millis(1_500);

fn env_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value.replace(['_', ','], "").parse().unwrap_or_else(|_| {
            panic!("invalid {name}={value}: expected a whole number such as 100000")
        }),
        Err(_) => default,
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

fn build_cache(repository: &Repository, pki: &Pki, config: CacheConfig) -> X5uCacheBuilder {
    let mut resolver = StaticResolver::new(false);
    resolver.insert("cr.test", vec![LOOPBACK.parse().unwrap()]);
    X5uCache::builder(config)
        .tls(tls_config(Some(&repository.tls_ca_file)).unwrap())
        .resolver(Arc::new(resolver))
        .trust(Arc::new(SharedTrust::new(pki.trust(&["root.pem"]))))
}

/// A function that reads one percentile out of [`Latencies`].
type Percentile = fn(&Latencies) -> u64;

/// Nanosecond samples and their nearest-rank percentiles.
struct Latencies {
    sorted: Vec<u64>,
}

impl Latencies {
    fn new(mut samples: Vec<u64>) -> Self {
        samples.sort_unstable();
        Latencies { sorted: samples }
    }

    /// Returns the nearest-rank percentile, with `per_10k` in hundredths of a
    /// percent.
    fn percentile(&self, per_10k: usize) -> u64 {
        let rank = (self.sorted.len() * per_10k).div_ceil(10_000);
        self.sorted
            .get(rank.saturating_sub(1))
            .copied()
            .unwrap_or(0)
    }

    fn p50(&self) -> u64 {
        self.percentile(5_000)
    }

    fn p99(&self) -> u64 {
        self.percentile(9_900)
    }

    fn p999(&self) -> u64 {
        self.percentile(9_990)
    }

    fn max(&self) -> u64 {
        self.sorted.last().copied().unwrap_or(0)
    }

    /// Returns the share of samples above `nanoseconds`, in percent.
    fn percent_over(&self, nanoseconds: u64) -> f64 {
        let over = self.sorted.len() - self.sorted.partition_point(|&x| x <= nanoseconds);
        100.0 * over as f64 / self.sorted.len().max(1) as f64
    }
}

/// Times `count` sequential cached lookups of `url` on a worker thread of the
/// runtime, where a service's request handlers run.
async fn time_cached_lookups(cache: &X5uCache, url: &str, count: usize) -> Latencies {
    let (cache, url) = (cache.clone(), url.to_owned());
    tokio::spawn(async move {
        let at = now();
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            let start = Instant::now();
            let result = cache.get(&url, at).await;
            let elapsed = start.elapsed();
            let cert = result.expect("cached lookup");
            black_box(cert);
            samples.push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        }
        Latencies::new(samples)
    })
    .await
    .expect("lookup task")
}

fn format_ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}

struct Setup {
    _dir: TempDir,
    repository: Repository,
    pki: Pki,
}

impl Setup {
    async fn start() -> Setup {
        let dir = TempDir::new("bench");
        let repository = Repository::start(&dir.0).await;
        let pki = Pki::build("1234", vec![]);
        Setup {
            _dir: dir,
            repository,
            pki,
        }
    }

    fn chain(&self) -> Route {
        Route::ok(self.pki.pem("chain.pem"), &[])
    }

    fn url(&self, path: &str) -> String {
        self.repository.url("cr.test", path)
    }
}

/// Times cached lookups idle, during a hanging fetch with 1,000 waiters, and
/// idle again.
async fn cached_during_hang(setup: &Setup, lookups: usize) {
    setup.repository.route("/chain.pem", setup.chain());
    setup.repository.route("/hang.pem", Route::Hang);
    let cache = build_cache(&setup.repository, &setup.pki, config(&setup.repository))
        .build()
        .unwrap();
    let good = setup.url("/chain.pem");
    let hanging = setup.url("/hang.pem");
    cache.get(&good, now()).await.expect("first lookup");
    time_cached_lookups(&cache, &good, WARM_UP_LOOKUPS).await;

    let idle = time_cached_lookups(&cache, &good, lookups).await;

    let misses_before = cache.stats().misses.load(Ordering::Relaxed);
    let fetches_before = cache.stats().fetches.load(Ordering::Relaxed);
    let answered = Arc::new(AtomicUsize::new(0));
    let hang_start = Instant::now();
    let mut waiters = tokio::task::JoinSet::new();
    for _ in 0..CALLERS {
        let (cache, url, answered) = (cache.clone(), hanging.clone(), Arc::clone(&answered));
        waiters.spawn(async move {
            let result = cache.get(&url, now()).await;
            answered.fetch_add(1, Ordering::SeqCst);
            (result.map(|_| ()), hang_start.elapsed())
        });
    }
    // Every waiter has passed the memory tier once the miss counter moved by
    // 1,000, and the fetch is hanging once the repository received its request.
    let mut polls = 0;
    loop {
        let misses = cache.stats().misses.load(Ordering::Relaxed) - misses_before;
        let registered = usize::try_from(misses).unwrap_or(usize::MAX) >= CALLERS;
        if (registered && setup.repository.hits("/hang.pem") >= 1)
            || hang_start.elapsed() > REGISTER_WAIT
        {
            break;
        }
        polls += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let registered_after = hang_start.elapsed();
    let registered = cache.stats().misses.load(Ordering::Relaxed) - misses_before;

    let during = time_cached_lookups(&cache, &good, lookups).await;
    let during_ended = hang_start.elapsed();
    let answered_during = answered.load(Ordering::SeqCst);

    let mut outcomes: std::collections::BTreeMap<String, usize> = Default::default();
    let mut waited = Vec::with_capacity(CALLERS);
    while let Some(joined) = waiters.join_next().await {
        let (result, elapsed) = joined.expect("waiter task");
        let outcome = match result {
            Ok(()) => "certificate".to_owned(),
            Err(X5uError::Fetch {
                error: FetchError::Timeout { ms },
                ..
            }) => format!("fetch timed out ({ms} ms)"),
            Err(X5uError::Deadline { ms, .. }) => format!("lookup deadline ({ms} ms)"),
            Err(other) => format!("other: {other}"),
        };
        *outcomes.entry(outcome).or_default() += 1;
        waited.push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }
    let waited = Latencies::new(waited);
    let fetches = cache.stats().fetches.load(Ordering::Relaxed) - fetches_before;

    let after = time_cached_lookups(&cache, &good, lookups).await;

    println!("## Cached lookups while a fetch hangs");
    println!();
    println!(
        "{lookups} sequential `get` calls of one cached URL per column, nanoseconds per call."
    );
    println!();
    println!("| percentile | idle | during the hang | idle after |");
    println!("| --- | ---: | ---: | ---: |");
    let rows: [(&str, Percentile); 4] = [
        ("p50", Latencies::p50),
        ("p99", Latencies::p99),
        ("p99.9", Latencies::p999),
        ("max", Latencies::max),
    ];
    for (name, value) in rows {
        println!(
            "| {name} | {} | {} | {} |",
            value(&idle),
            value(&during),
            value(&after)
        );
    }
    println!(
        "| calls over 1 µs | {:.2}% | {:.2}% | {:.2}% |",
        idle.percent_over(1_000),
        during.percent_over(1_000),
        after.percent_over(1_000)
    );
    println!();
    println!(
        "p99 during the hang / idle p99: {:.2}; idle-after p99 / idle p99: {:.2}",
        during.p99() as f64 / idle.p99().max(1) as f64,
        after.p99() as f64 / idle.p99().max(1) as f64
    );
    println!(
        "hanging lookups registered: {registered} of {CALLERS} after {} ({polls} polls); \
         measurement ended {} after they started; answered before it ended: {answered_during}",
        format_ms(registered_after),
        format_ms(during_ended),
    );
    println!(
        "repository requests for /hang.pem: {}; upstream fetches started: {fetches}",
        setup.repository.hits("/hang.pem")
    );
    for (outcome, count) in &outcomes {
        println!("hanging lookups answered with {outcome}: {count}");
    }
    println!(
        "hanging lookups answered after: p50 {}, max {}",
        format_ms(Duration::from_nanos(waited.p50())),
        format_ms(Duration::from_nanos(waited.max()))
    );
    println!();
}

/// Runs `callers` concurrent lookups of one uncached URL and returns the wall
/// time, each caller's latency and how many callers got a certificate.
async fn cold_lookups(cache: &X5uCache, url: &str, callers: usize) -> (Duration, Latencies, usize) {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..callers {
        let (cache, url) = (cache.clone(), url.to_owned());
        tasks.spawn(async move {
            let result = cache.get(&url, now()).await;
            (result.is_ok(), start.elapsed())
        });
    }
    let mut answered = Vec::with_capacity(callers);
    let mut succeeded = 0;
    while let Some(joined) = tasks.join_next().await {
        let (ok, elapsed) = joined.expect("caller task");
        if ok {
            succeeded += 1;
        }
        answered.push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }
    (start.elapsed(), Latencies::new(answered), succeeded)
}

/// Times one uncached URL looked up by one caller, then another by 1,000
/// callers.
async fn cold_single_flight(setup: &Setup) {
    for path in ["/cold-warm-up.pem", "/cold-one.pem", "/cold-many.pem"] {
        setup.repository.route(path, setup.chain());
    }
    let cache = build_cache(&setup.repository, &setup.pki, config(&setup.repository))
        .build()
        .unwrap();
    // The first fetch of this cache creates the host's state and warms the code
    // paths, so it is not timed.
    cache
        .get(&setup.url("/cold-warm-up.pem"), now())
        .await
        .expect("warm-up fetch");

    let fetches_before = cache.stats().fetches.load(Ordering::Relaxed);
    let (one_wall, _, one_ok) = cold_lookups(&cache, &setup.url("/cold-one.pem"), 1).await;
    let fetches_one = cache.stats().fetches.load(Ordering::Relaxed) - fetches_before;
    let (many_wall, many, many_ok) =
        cold_lookups(&cache, &setup.url("/cold-many.pem"), CALLERS).await;
    let fetches_many = cache.stats().fetches.load(Ordering::Relaxed) - fetches_before - fetches_one;

    println!("## Cold lookup of one uncached URL");
    println!();
    println!(
        "| callers | answered with a certificate | wall time | caller p50 | caller p99 | upstream fetches | repository requests |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| 1 | {one_ok} | {} | | | {fetches_one} | {} |",
        format_ms(one_wall),
        setup.repository.hits("/cold-one.pem")
    );
    println!(
        "| {CALLERS} | {many_ok} | {} | {} | {} | {fetches_many} | {} |",
        format_ms(many_wall),
        format_ms(Duration::from_nanos(many.p50())),
        format_ms(Duration::from_nanos(many.p99())),
        setup.repository.hits("/cold-many.pem")
    );
    println!();
    println!(
        "wall time with {CALLERS} callers / with 1 caller: {:.2}",
        many_wall.as_secs_f64() / one_wall.as_secs_f64()
    );
    println!();
}

/// Reads VmRSS and VmHWM of this process, in KiB.
fn resident_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /proc/self/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Writes `entries` records of the same chain under different URLs.
async fn write_records(disk: &DiskTier, setup: &Setup, entries: usize, at: i64) {
    let chain_pem = setup.pki.pem("chain.pem");
    let mut writes: tokio::task::JoinSet<Result<(), String>> = tokio::task::JoinSet::new();
    for index in 0..entries {
        // At most 64 writes in flight.
        if writes.len() >= 64 {
            writes
                .join_next()
                .await
                .expect("write task")
                .expect("write task")
                .expect("record written");
        }
        let record = Record {
            version: 1,
            url: setup.url(&format!("/c/{index}.pem")),
            fetched_at: at,
            expires_at: at + 86_400,
            lifetime_reason: "benchmark".to_owned(),
            chain_pem: chain_pem.clone(),
        };
        let disk = disk.clone();
        writes.spawn(async move { disk.write(&record).await });
    }
    while let Some(joined) = writes.join_next().await {
        joined.expect("write task").expect("record written");
    }
}

/// Measures the resident memory of a cache with `entries` certificates loaded
/// from disk.
async fn memory_per_entry(setup: &Setup, entries: usize) {
    let directory = TempDir::new("bench-disk-tier");
    let disk = DiskTier::open(&directory.0).unwrap();
    let at = now();
    let write_start = Instant::now();
    write_records(&disk, setup, entries, at).await;
    let write_time = write_start.elapsed();

    let mut config = config(&setup.repository);
    let capacity = u64::try_from(entries).unwrap_or(u64::MAX).max(100_000);
    config.memory_entries = capacity;
    // The byte bound is raised so that nothing is evicted. This measures what the
    // entries take, not the bound.
    config.memory_bytes = 64 * 1024 * 1024 * 1024;
    let cache = build_cache(&setup.repository, &setup.pki, config)
        .disk(disk.clone())
        .build()
        .unwrap();

    let (start_rss, _) = resident_kib();
    // Listing the record files costs little: warm-up reads one record at a
    // time, so the figure after it is what the entries keep.
    let list_start = Instant::now();
    let listed = disk.record_paths(entries).await.len();
    let list_time = list_start.elapsed();
    let (listed_rss, _) = resident_kib();

    let warm_start = Instant::now();
    let loaded = cache.warm_up_from_disk(at).await;
    let warm_time = warm_start.elapsed();
    let in_memory = cache.len();
    let (after_rss, peak_rss) = resident_kib();

    let sample = cache
        .lookup(&setup.url("/c/0.pem"), now())
        .await
        .expect("loaded certificate");
    let weight = sample.cert.weight();
    let chain_der: usize = sample.cert.chain.iter().map(|c| c.der.len()).sum();
    let requests = setup.repository.hits("/c/0.pem");

    let per_entry = |kib: u64| (kib * 1024) as f64 / loaded.max(1) as f64;
    println!("## Resident memory of {entries} cached certificates");
    println!();
    println!(
        "records written: {entries} in {}; loaded by warm_up_from_disk: {loaded} in {}; \
         entries in memory: {in_memory}; records listed beforehand: {listed} in {}",
        format_ms(write_time),
        format_ms(warm_time),
        format_ms(list_time)
    );
    println!();
    println!("| point | VmRSS | since the start | per loaded entry |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| cache built, nothing loaded | {start_rss} KiB | | |");
    println!(
        "| the record files listed | {listed_rss} KiB | {} KiB | |",
        listed_rss - start_rss
    );
    println!(
        "| after warm_up_from_disk | {after_rss} KiB | {} KiB | {:.0} B |",
        after_rss - start_rss,
        per_entry(after_rss - start_rss)
    );
    println!();
    println!(
        "growth from warm_up_from_disk alone: {} KiB, {:.0} B per entry; peak VmRSS (VmHWM): {peak_rss} KiB",
        after_rss - listed_rss,
        per_entry(after_rss.saturating_sub(listed_rss))
    );
    println!(
        "one entry's own estimate (TrustedCert::weight): {weight} B for a chain of {chain_der} B of DER; \
         repository requests for /c/0.pem: {requests}"
    );
    println!();
}

fn main() {
    let lookups = env_count("STIRD_BENCH_X5U_LOOKUPS", 200_000);
    let entries = env_count("STIRD_BENCH_X5U_ENTRIES", 100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let start = Instant::now();
    runtime.block_on(async {
        let setup = Setup::start().await;
        cached_during_hang(&setup, lookups).await;
        cold_single_flight(&setup).await;
        memory_per_entry(&setup, entries).await;
    });
    println!("total run time: {:.1} s", start.elapsed().as_secs_f64());
}
