//! `/metrics` in the Prometheus text exposition format: the signing
//! credentials' days to expiry and whether their x5u URLs serve their chains,
//! the x5u cache's counters, and each SIP listener's calls signed, verified
//! by verstat and rejected by code, INVITEs shed and proxy forwarding.
//!
//! TODO: failed checks by check, fetch latency and request latency
//! histograms, circuit-breaker states per host, SIP messages by transport, and
//! the HTTP API's calls.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use certstore::{CredentialStore, X5uCache};

/// The last result of the published-chain check, by credential name: the x5u
/// URL and whether it serves the credential's signer certificate.
pub type Published = Arc<Mutex<BTreeMap<String, (String, bool)>>>;

/// Renders the metrics at Unix time `now`.
pub fn render(
    credentials: &CredentialStore,
    published: &Published,
    cache: &X5uCache,
    listeners: &[Arc<dyn sip::transport::Handler>],
    now: i64,
) -> String {
    let mut out = String::new();
    let set = credentials.current();
    out.push_str(
        "# HELP stird_credential_days_to_expiry Days until the signing certificate's notAfter.\n",
    );
    out.push_str("# TYPE stird_credential_days_to_expiry gauge\n");
    for credential in set.credentials() {
        let _ = writeln!(
            out,
            "stird_credential_days_to_expiry{{credential=\"{}\"}} {}",
            label(&credential.name),
            credential.days_to_expiry(now)
        );
    }
    out.push_str("# HELP stird_credential_x5u_serves_chain Whether the credential's x5u URL served its signer certificate at the last check (1) or not (0).\n");
    out.push_str("# TYPE stird_credential_x5u_serves_chain gauge\n");
    let results = match published.lock() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    for (name, (x5u, usable)) in &results {
        let _ = writeln!(
            out,
            "stird_credential_x5u_serves_chain{{credential=\"{}\",x5u=\"{}\"}} {}",
            label(name),
            label(x5u),
            u8::from(*usable)
        );
    }
    let stats = cache.stats();
    for (name, help, value) in [
        (
            "hits",
            "Lookups served from memory while fresh.",
            &stats.hits,
        ),
        (
            "stale_hits",
            "Lookups served from memory while a fetch refreshed the entry.",
            &stats.stale_hits,
        ),
        (
            "misses",
            "Lookups that found nothing fresh in memory.",
            &stats.misses,
        ),
        (
            "negative_hits",
            "Lookups answered from the negative cache.",
            &stats.negative_hits,
        ),
        (
            "fetches",
            "Fetches from certificate repositories.",
            &stats.fetches,
        ),
        (
            "fetch_failures",
            "Fetches that failed or served an unusable chain.",
            &stats.fetch_failures,
        ),
        (
            "disk_hits",
            "Chains read back from the disk tier.",
            &stats.disk_hits,
        ),
        (
            "redis_hits",
            "Chains read back from the Redis tier.",
            &stats.redis_hits,
        ),
        (
            "deadlines",
            "Lookups that gave up at their deadline.",
            &stats.deadlines,
        ),
    ] {
        let _ = writeln!(out, "# HELP stird_x5u_cache_{name}_total {help}");
        let _ = writeln!(out, "# TYPE stird_x5u_cache_{name}_total counter");
        let _ = writeln!(
            out,
            "stird_x5u_cache_{name}_total {}",
            value.load(Ordering::Relaxed)
        );
    }
    out.push_str("# HELP stird_x5u_cache_entries Certificates in the memory tier.\n");
    out.push_str("# TYPE stird_x5u_cache_entries gauge\n");
    let _ = writeln!(out, "stird_x5u_cache_entries {}", cache.len());
    render_listeners(&mut out, listeners);
    out
}

/// Escapes a label value: backslash, double quote and newline.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A counter of the SIP listeners: its name, labels, help text (empty for a
/// further series of a name already described) and how to read it.
type Counter = (
    &'static str,
    &'static str,
    &'static str,
    fn(&sip::redirect::ListenerStats) -> u64,
);

/// Writes the SIP listeners' counters: INVITEs signed, verified and rejected,
/// INVITEs shed by overload, and the forwarding of proxy listeners.
fn render_listeners(out: &mut String, listeners: &[Arc<dyn sip::transport::Handler>]) {
    render_calls(out, listeners);
    let counters: [Counter; 8] = [
        (
            "stird_sip_shed_total",
            "reason=\"rate\"",
            "INVITEs shed by overload: over the rate limits, or with too many verifications in progress.",
            |s| s.shed_rate.load(Ordering::Relaxed),
        ),
        ("stird_sip_shed_total", "reason=\"pending\"", "", |s| {
            s.shed_pending.load(Ordering::Relaxed)
        }),
        (
            "stird_proxy_forwarded_total",
            "transport=\"udp\"",
            "Requests a proxy listener forwarded, by transport.",
            |s| s.forwarded_udp.load(Ordering::Relaxed),
        ),
        (
            "stird_proxy_forwarded_total",
            "transport=\"tcp\"",
            "",
            |s| s.forwarded_tcp.load(Ordering::Relaxed),
        ),
        (
            "stird_proxy_large_over_tcp_total",
            "",
            "Requests sent over TCP because they were too large for UDP.",
            |s| s.large_over_tcp.load(Ordering::Relaxed),
        ),
        (
            "stird_proxy_responses_relayed_total",
            "",
            "Responses a proxy listener relayed towards the caller.",
            |s| s.responses_relayed.load(Ordering::Relaxed),
        ),
        (
            "stird_proxy_responses_dropped_total",
            "",
            "Responses a proxy listener dropped: not its own, or undeliverable.",
            |s| s.responses_dropped.load(Ordering::Relaxed),
        ),
        (
            "stird_proxy_forward_failures_total",
            "",
            "Requests a proxy listener could not forward.",
            |s| s.forward_failures.load(Ordering::Relaxed),
        ),
    ];
    for (name, labels, help, read) in counters {
        if !help.is_empty() {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
        }
        for listener in listeners {
            let Some(stats) = listener.stats() else {
                continue;
            };
            let separator = if labels.is_empty() { "" } else { "," };
            let _ = writeln!(
                out,
                "{name}{{listener=\"{}\"{separator}{labels}}} {}",
                label(listener.name()),
                read(stats)
            );
        }
    }
}

/// Writes the calls each listener signed, verified by verstat and rejected by
/// status code.
fn render_calls(out: &mut String, listeners: &[Arc<dyn sip::transport::Handler>]) {
    let stats: Vec<(&str, &sip::redirect::ListenerStats)> = listeners
        .iter()
        .filter_map(|listener| listener.stats().map(|stats| (listener.name(), stats)))
        .collect();
    out.push_str(
        "# HELP stird_calls_signed_total INVITEs a signing listener handled, by result.\n",
    );
    out.push_str("# TYPE stird_calls_signed_total counter\n");
    for (name, stats) in &stats {
        for (result, counter) in [("signed", &stats.signed), ("not_signed", &stats.not_signed)] {
            let _ = writeln!(
                out,
                "stird_calls_signed_total{{listener=\"{}\",result=\"{result}\"}} {}",
                label(name),
                counter.load(Ordering::Relaxed)
            );
        }
    }
    out.push_str(
        "# HELP stird_calls_verified_total INVITEs a verifying listener passed on, by verstat.\n",
    );
    out.push_str("# TYPE stird_calls_verified_total counter\n");
    for (name, stats) in &stats {
        for (verstat, counter) in sip::redirect::VERSTATS.iter().zip(&stats.verstat) {
            let _ = writeln!(
                out,
                "stird_calls_verified_total{{listener=\"{}\",verstat=\"{}\"}} {}",
                label(name),
                verstat.as_str(),
                counter.load(Ordering::Relaxed)
            );
        }
    }
    out.push_str("# HELP stird_calls_rejected_total INVITEs a verifying listener rejected, by SIP status code.\n");
    out.push_str("# TYPE stird_calls_rejected_total counter\n");
    for (name, stats) in &stats {
        for (code, counter) in sip::redirect::REJECT_CODES.iter().zip(&stats.rejected) {
            let _ = writeln!(
                out,
                "stird_calls_rejected_total{{listener=\"{}\",code=\"{code}\"}} {}",
                label(name),
                counter.load(Ordering::Relaxed)
            );
        }
    }
}
