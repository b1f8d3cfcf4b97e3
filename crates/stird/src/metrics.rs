//! `/metrics` in the Prometheus text exposition format, through the `metrics`
//! facade and its Prometheus recorder.
//!
//! Two kinds of series meet here:
//!
//! - Events recorded where they happen, in the crates below. `sip` records SIP
//!   messages by transport and request handling time, `service` failed checks
//!   by check and lenient deviations, and `certstore` x5u fetches by outcome
//!   with their duration. The API router records HTTP calls and their duration.
//! - State read at each scrape. For each signing credential: days to expiry,
//!   and whether its x5u URL serves its chain. For the x5u cache: its counters
//!   and circuit breakers. For each SIP listener: calls signed, verified by
//!   verstat and rejected by code, INVITEs shed, and proxy forwarding.
//!
//! The recorder is installed before any listener starts, because a handle
//! registered without a recorder records nothing.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use certstore::{CircuitState, CredentialStore, X5uCache};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

/// The last result of the published-chain check, by credential name: the x5u
/// URL and whether it serves the credential's signer certificate.
pub type Published = Arc<Mutex<BTreeMap<String, (String, bool)>>>;

/// Histogram buckets, in seconds, of the SIP and HTTP request handling time:
/// from a cached verification (well under a millisecond) to one that waits
/// out a fetch.
const REQUEST_BUCKETS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Histogram buckets, in seconds, of x5u fetches: loopback and nearby
/// repositories, distant ones, and the default total timeout of 2 s.
const FETCH_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0];

/// Origins listed by name in the circuit-breaker series, so that a flood of
/// failing origins cannot grow the scrape without bound. The open count
/// covers every origin.
const MAX_CIRCUITS_LISTED: usize = 100;

/// Interval at which histogram samples are folded into their buckets, so the
/// samples held stay bounded when /metrics is not scraped.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Time after which a gauge that was not set leaves the output. Each scrape
/// sets the gauges of every credential and origin that still exists, so a
/// gauge left unset belongs to something removed.
const GAUGE_IDLE: Duration = Duration::from_secs(60);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder, once,
/// and returns its handle. When another recorder is installed already, the
/// series go to that recorder and the handle renders none of them.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        // The builder rejects only an empty bucket list, and none is empty.
        let recorder = builder()
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "histogram buckets not set; summaries are reported");
                PrometheusBuilder::new().idle_timeout(MetricKindMask::GAUGE, Some(GAUGE_IDLE))
            })
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed already; /metrics stays empty");
        }
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".to_owned())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "no metrics upkeep thread; histogram samples are folded at scrapes only");
        }
        handle
    })
}

/// Builds the recorder's configuration: histogram buckets and the idle
/// timeout of gauges.
fn builder() -> Result<PrometheusBuilder, metrics_exporter_prometheus::BuildError> {
    PrometheusBuilder::new()
        .idle_timeout(MetricKindMask::GAUGE, Some(GAUGE_IDLE))
        .set_buckets_for_metric(
            Matcher::Full("stird_sip_request_duration_seconds".to_owned()),
            &REQUEST_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("stird_http_request_duration_seconds".to_owned()),
            &REQUEST_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("stird_x5u_fetch_duration_seconds".to_owned()),
            &FETCH_BUCKETS,
        )
}

/// Describes every series, and sets the failed-check and deviation counters
/// to zero so that a rate over them works from the first scrape.
fn describe() {
    describe_counter!(
        "stird_sip_messages_received_total",
        "SIP messages a listener received, by transport and kind (request or response)."
    );
    describe_counter!(
        "stird_sip_messages_sent_total",
        "SIP responses a listener sent back the way a message came, by transport."
    );
    describe_histogram!(
        "stird_sip_request_duration_seconds",
        Unit::Seconds,
        "Time from a SIP request's arrival to the listener's answer or forward, by method."
    );
    describe_counter!(
        "stird_verify_failed_checks_total",
        "Verifications that failed, by the check that failed first."
    );
    describe_counter!(
        "stird_verify_lenient_total",
        "Deviations the lenient profile accepted, by kind."
    );

    for check in passport::Check::ALL {
        counter!("stird_verify_failed_checks_total", "check" => check.name()).absolute(0);
    }
    for deviation in passport::Warning::NAMES {
        counter!("stird_verify_lenient_total", "deviation" => deviation).absolute(0);
    }

    describe_counter!(
        "stird_x5u_fetches_total",
        "x5u fetches from certificate repositories, by outcome: ok, or the failure's kind."
    );
    describe_histogram!(
        "stird_x5u_fetch_duration_seconds",
        Unit::Seconds,
        "Duration of x5u fetches, validation included, by result."
    );
    describe_counter!(
        "stird_http_requests_total",
        "HTTP API requests, by route, method and status."
    );
    describe_histogram!(
        "stird_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP API request, by route."
    );

    describe_gauge!(
        "stird_credential_days_to_expiry",
        "Days until the signing certificate's notAfter."
    );
    describe_gauge!(
        "stird_credential_x5u_serves_chain",
        "Whether the credential's x5u URL served its signer certificate at the last check (1) or not (0)."
    );
    describe_gauge!(
        "stird_x5u_cache_entries",
        "Certificates in the memory tier."
    );
    describe_gauge!(
        "stird_x5u_circuit_state",
        "Circuit breaker of an x5u origin that failed since it last answered: 0 closed, 1 open, 2 half-open (the next fetch is a trial)."
    );
    describe_gauge!(
        "stird_x5u_circuit_failures",
        "Host-level failures of an x5u origin since it last answered."
    );
    describe_gauge!(
        "stird_x5u_circuits_open",
        "x5u origins whose circuit is open now."
    );

    for (name, help, _) in CACHE_COUNTERS {
        describe_counter!(format!("stird_x5u_cache_{name}_total"), help);
    }

    describe_counter!(
        "stird_calls_signed_total",
        "INVITEs a signing listener handled, by result."
    );
    describe_counter!(
        "stird_calls_verified_total",
        "INVITEs a verifying listener passed on, by verstat."
    );
    describe_counter!(
        "stird_calls_rejected_total",
        "INVITEs a verifying listener rejected, by SIP status code."
    );
    for (name, _, help, _) in LISTENER_COUNTERS {
        if !help.is_empty() {
            describe_counter!(name, help);
        }
    }
}

/// The x5u cache's counters: name, help text and how to read it.
type CacheCounter = (
    &'static str,
    &'static str,
    fn(&certstore::CacheStats) -> u64,
);

const CACHE_COUNTERS: [CacheCounter; 9] = [
    ("hits", "Lookups served from memory while fresh.", |s| {
        s.hits.load(Ordering::Relaxed)
    }),
    (
        "stale_hits",
        "Lookups served from memory while a fetch refreshed the entry.",
        |s| s.stale_hits.load(Ordering::Relaxed),
    ),
    (
        "misses",
        "Lookups that found nothing fresh in memory.",
        |s| s.misses.load(Ordering::Relaxed),
    ),
    (
        "negative_hits",
        "Lookups answered from the negative cache.",
        |s| s.negative_hits.load(Ordering::Relaxed),
    ),
    ("fetches", "Fetches from certificate repositories.", |s| {
        s.fetches.load(Ordering::Relaxed)
    }),
    (
        "fetch_failures",
        "Fetches that failed or served an unusable chain.",
        |s| s.fetch_failures.load(Ordering::Relaxed),
    ),
    ("disk_hits", "Chains read back from the disk tier.", |s| {
        s.disk_hits.load(Ordering::Relaxed)
    }),
    ("redis_hits", "Chains read back from the Redis tier.", |s| {
        s.redis_hits.load(Ordering::Relaxed)
    }),
    (
        "deadlines",
        "Lookups that gave up at their deadline.",
        |s| s.deadlines.load(Ordering::Relaxed),
    ),
];

/// A counter of the SIP listeners: its name, one label, help text (empty for
/// a further series of a name already described) and how to read it.
type ListenerCounter = (
    &'static str,
    Option<(&'static str, &'static str)>,
    &'static str,
    fn(&sip::redirect::ListenerStats) -> u64,
);

const LISTENER_COUNTERS: [ListenerCounter; 8] = [
    (
        "stird_sip_shed_total",
        Some(("reason", "rate")),
        "INVITEs shed by overload: over the rate limits, or with too many verifications in progress.",
        |s| s.shed_rate.load(Ordering::Relaxed),
    ),
    (
        "stird_sip_shed_total",
        Some(("reason", "pending")),
        "",
        |s| s.shed_pending.load(Ordering::Relaxed),
    ),
    (
        "stird_proxy_forwarded_total",
        Some(("transport", "udp")),
        "Requests a proxy listener forwarded, by transport.",
        |s| s.forwarded_udp.load(Ordering::Relaxed),
    ),
    (
        "stird_proxy_forwarded_total",
        Some(("transport", "tcp")),
        "",
        |s| s.forwarded_tcp.load(Ordering::Relaxed),
    ),
    (
        "stird_proxy_large_over_tcp_total",
        None,
        "Requests sent over TCP because they were too large for UDP.",
        |s| s.large_over_tcp.load(Ordering::Relaxed),
    ),
    (
        "stird_proxy_responses_relayed_total",
        None,
        "Responses a proxy listener relayed towards the caller.",
        |s| s.responses_relayed.load(Ordering::Relaxed),
    ),
    (
        "stird_proxy_responses_dropped_total",
        None,
        "Responses a proxy listener dropped: not its own, or undeliverable.",
        |s| s.responses_dropped.load(Ordering::Relaxed),
    ),
    (
        "stird_proxy_forward_failures_total",
        None,
        "Requests a proxy listener could not forward.",
        |s| s.forward_failures.load(Ordering::Relaxed),
    ),
];

/// Renders the metrics at Unix time `now`: reads the state series into the
/// recorder, then renders everything it holds.
pub fn render(
    credentials: &CredentialStore,
    published: &Published,
    cache: &X5uCache,
    listeners: &[Arc<dyn sip::transport::Handler>],
    now: i64,
) -> String {
    let handle = install();
    let set = credentials.current();
    for credential in set.credentials() {
        gauge!("stird_credential_days_to_expiry", "credential" => credential.name.clone())
            .set(credential.days_to_expiry(now) as f64);
    }
    let results = match published.lock() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    for (name, (x5u, usable)) in results {
        gauge!("stird_credential_x5u_serves_chain", "credential" => name, "x5u" => x5u)
            .set(f64::from(u8::from(usable)));
    }
    read_cache(cache);
    read_listeners(listeners);
    handle.render()
}

/// Reads the x5u cache's counters, its size and its circuit breakers.
fn read_cache(cache: &X5uCache) {
    let stats = cache.stats();
    for (name, _, read) in CACHE_COUNTERS {
        counter!(format!("stird_x5u_cache_{name}_total")).absolute(read(stats));
    }
    gauge!("stird_x5u_cache_entries").set(cache.len() as f64);

    let circuits = cache.circuits(usize::MAX);
    let open = circuits
        .iter()
        .filter(|circuit| circuit.state == CircuitState::Open)
        .count();
    gauge!("stird_x5u_circuits_open").set(open as f64);

    let mut listed = HashSet::new();
    for circuit in circuits.into_iter().take(MAX_CIRCUITS_LISTED) {
        let state = match circuit.state {
            CircuitState::Closed => 0.0,
            CircuitState::Open => 1.0,
            CircuitState::HalfOpen => 2.0,
        };
        gauge!("stird_x5u_circuit_state", "origin" => circuit.origin.clone()).set(state);
        gauge!("stird_x5u_circuit_failures", "origin" => circuit.origin.clone())
            .set(f64::from(circuit.failures));
        listed.insert(circuit.origin);
    }
    // An origin listed at the last scrape and not now has responded again, so
    // its circuit is closed with no failures. Its series then age out with
    // the gauge idle timeout.
    static LISTED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut last = LISTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for origin in last
        .iter()
        .flatten()
        .filter(|origin| !listed.contains(*origin))
    {
        gauge!("stird_x5u_circuit_state", "origin" => origin.clone()).set(0.0);
        gauge!("stird_x5u_circuit_failures", "origin" => origin.clone()).set(0.0);
    }
    *last = Some(listed);
}

/// Reads each SIP listener's counters: INVITEs signed, verified and rejected,
/// INVITEs shed by overload, and the forwarding of proxy listeners.
fn read_listeners(listeners: &[Arc<dyn sip::transport::Handler>]) {
    for listener in listeners {
        let Some(stats) = listener.stats() else {
            continue;
        };
        let name = listener.name().to_owned();
        for (result, value) in [("signed", &stats.signed), ("not_signed", &stats.not_signed)] {
            counter!("stird_calls_signed_total", "listener" => name.clone(), "result" => result)
                .absolute(value.load(Ordering::Relaxed));
        }
        for (verstat, value) in sip::redirect::VERSTATS.iter().zip(&stats.verstat) {
            counter!("stird_calls_verified_total", "listener" => name.clone(), "verstat" => verstat.as_str())
                .absolute(value.load(Ordering::Relaxed));
        }
        for (code, value) in sip::redirect::REJECT_CODES.iter().zip(&stats.rejected) {
            counter!("stird_calls_rejected_total", "listener" => name.clone(), "code" => code.to_string())
                .absolute(value.load(Ordering::Relaxed));
        }
        for (metric, label, _, read) in LISTENER_COUNTERS {
            let value = read(stats);
            match label {
                Some((key, label_value)) => {
                    counter!(metric, "listener" => name.clone(), key => label_value).absolute(value)
                }
                None => counter!(metric, "listener" => name.clone()).absolute(value),
            }
        }
    }
}
