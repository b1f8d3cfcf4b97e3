//! `stird serve`: the SIP redirect listeners, the HTTP API with the health
//! endpoints and, in the demo, a certificate repository, in one process.
//!
//! Without `--config` it runs the demo. A test STI PKI and a TLS PKI go in the
//! data directory, and the demo chain is served over HTTPS on loopback. SIP
//! runs over UDP and TCP on 127.0.0.1:5060 with the `auto` role, which signs
//! calls without Identity and verifies calls with one.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use certstore::{
    CredentialConfig, CredentialSet, CredentialStore, FetchSettings, SharedTrust, Trust, X5uCache,
};
use passport::tn::{NationalRule, NumberPolicy};
use passport::{Options, Profile};
use service::{AuthService, CertificateSource, VerifyPolicy};
use sip::proxy::{HopTransport, ProxyConfig, ProxyServer};
use sip::redirect::{
    ExistingIdentity, ListenerPolicy, OnFailure, OrigSource, RedirectServer, Role, Services,
};
use sip::transport::{Handler as SipHandler, Limits, serve_stream, serve_udp};
use tokio::net::{TcpListener, UdpSocket};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::api::{ApiState, BearerToken};
use crate::drain::{InFlight, Tracked};
use crate::reload::{self, Reloader, Report, spawn_published_check};
use crate::serve_config::{self, ListenerTable, ServeFile};
use crate::{InputError, Outcome, timearg};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file; without it, the demo runs.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Demo data directory [default: $STIRD_DATA_DIR, else $XDG_DATA_HOME/stird,
    /// else ~/.local/share/stird].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Demo SIP address, for UDP and TCP, 127.0.0.1:5060 by default; port 0
    /// picks a free one.
    #[arg(long, value_name = "ADDR", conflicts_with = "config")]
    sip: Option<String>,
    /// HTTP address of the API, /healthz, /readyz and /metrics; port 0 picks a
    /// free one. Loopback only in the demo.
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// Demo certificate repository address, 127.0.0.1:8443 by default; port 0
    /// picks a free one.
    #[arg(long, value_name = "ADDR", conflicts_with = "config")]
    repository: Option<String>,
    /// Log filter in the RUST_LOG syntax, such as info, debug or
    /// stird=debug,certstore=warn [default: $RUST_LOG, else info].
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    /// Log line format on standard error: text for people, json for one JSON
    /// object per line.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Seconds that calls and HTTP requests in progress get to finish after
    /// SIGTERM or SIGINT, before stird exits anyway.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    shutdown_timeout: u64,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per event: timestamp, level, target, message and the
    /// event's fields.
    Json,
}

/// One listener ready to bind.
struct ListenerPlan {
    transport: String,
    bind: SocketAddr,
    policy: ListenerPolicy,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// A proxy listener's forwarding, with the advertised address left to
    /// the bound one when not configured.
    proxy: Option<ProxyPlan>,
    /// A socket bound already, as the demo binds UDP and TCP on one port.
    bound: Option<Bound>,
}

/// The forwarding of a proxy listener.
struct ProxyPlan {
    next_hop: Option<(SocketAddr, HopTransport)>,
    advertise: Option<(String, u16)>,
    mtu: usize,
}

enum Bound {
    Udp(UdpSocket),
    Tcp(TcpListener),
}

/// The listeners and services of a configuration or of the demo.
struct Plan {
    listeners: Vec<ListenerPlan>,
    services: Services,
    api: SocketAddr,
    /// The bearer token the API requires, if any.
    api_token: Option<BearerToken>,
    credentials: Arc<CredentialStore>,
    trust: Arc<SharedTrust>,
    cache: X5uCache,
    /// The fetch policy and repository TLS trust, for the check that each
    /// credential's x5u serves its chain.
    fetch: (certstore::CacheConfig, Arc<rustls::ClientConfig>),
    reload: reload::Source,
    repository: Option<(TcpListener, tokio_rustls::TlsAcceptor, Bytes)>,
    /// The demo's data directory.
    data_dir: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<Outcome, InputError> {
    init_logs(args.log.as_deref(), args.log_format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the runtime: {error}"))?;
    runtime.block_on(serve(args))
}

/// Validates a configuration file without binding anything.
pub fn check_config(path: &Path) -> Result<Outcome, InputError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the runtime: {error}"))?;
    let plan = runtime.block_on(production(path, None))?;
    say!("{}: valid", path.display());
    for listener in &plan.listeners {
        let role = match listener.policy.role {
            Role::Sign => "sign",
            Role::Verify => "verify",
            Role::Auto => "auto",
        };
        say!(
            "listener {}: {} {} role {role}",
            listener.policy.name,
            listener.transport,
            listener.bind
        );
    }
    let set = plan.credentials.current();
    say!("credentials: {}", set.credentials().len());
    say!(
        "trust anchors: {}",
        plan.trust.current().anchors.anchors().len()
    );
    Ok(Outcome::Valid)
}

/// Installs the log subscriber: the filter of `--log`, else of `RUST_LOG`,
/// else `info`, writing to standard error in `format`.
fn init_logs(filter: Option<&str>, format: LogFormat) -> Result<(), InputError> {
    let from_environment = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (filter, source) = match (filter, from_environment.as_deref()) {
        (Some(filter), _) => (filter, "--log"),
        (None, Some(filter)) => (filter, "RUST_LOG"),
        (None, None) => ("info", "the default"),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|error| format!("{source} '{filter}' is not a valid log filter: {error}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    installed.map_err(|error| format!("cannot install the log subscriber: {error}"))?;
    Ok(())
}

async fn serve(args: &Args) -> Result<Outcome, InputError> {
    // Before any cache or listener registers its metrics.
    crate::metrics::install();
    let plan = match &args.config {
        Some(path) => production(path, args.http.as_deref()).await?,
        None => demo(args).await?,
    };
    let mut bound = Vec::new();
    // The repository's tasks and the SIP listeners' tasks: a shutdown stops
    // the listeners first, and the demo repository last, as calls in
    // progress may still fetch from it.
    let mut tasks = tokio::task::JoinSet::new();
    let mut sip_tasks = tokio::task::JoinSet::new();
    let in_flight = Arc::new(InFlight::default());
    let (stop_http, http_stopping) = tokio::sync::watch::channel(false);

    let (_keep_repository, repository_stopping) = tokio::sync::watch::channel(false);
    if let Some((listener, acceptor, chain)) = plan.repository {
        let address = local(&listener)?;
        bound.push(format!("repository https://{address}/sti/chain.pem"));
        let repository = axum::Router::new().route(
            "/sti/chain.pem",
            axum::routing::get(move || async move {
                (
                    [
                        ("content-type", "application/pem-certificate-chain"),
                        ("cache-control", "max-age=86400"),
                    ],
                    chain,
                )
            }),
        );
        // The sender stays alive until the end of serve, so the repository
        // stops only when its task is aborted.
        tasks.spawn(crate::http::serve(
            listener,
            Some(acceptor),
            repository,
            repository_stopping.clone(),
        ));
    }

    let limits = Limits::default();
    let mut servers: Vec<Arc<dyn SipHandler>> = Vec::new();
    for listener in plan.listeners {
        if let Some(proxy) = listener.proxy {
            // A proxy listens on UDP and TCP at one address (RFC 3261 section
            // 18.2.1): requests too large for UDP come over TCP.
            let (udp, tcp) = bind_pair(listener.bind).await?;
            let address = udp.local_addr().map_err(|e| e.to_string())?;
            let advertise = proxy
                .advertise
                .unwrap_or_else(|| (address.ip().to_string(), address.port()));
            let udp = Arc::new(udp);
            let server = ProxyServer::new(
                listener.policy,
                plan.services.clone(),
                ProxyConfig {
                    advertise,
                    next_hop: proxy.next_hop,
                    mtu: proxy.mtu,
                    connect_timeout: Duration::from_secs(2),
                },
                Arc::clone(&udp),
                limits,
            );
            bound.push(format!("sip udp {address}"));
            bound.push(format!("sip tcp {address}"));
            let server: Arc<dyn SipHandler> =
                Arc::new(Tracked::new(server, Arc::clone(&in_flight)));
            servers.push(Arc::clone(&server));
            sip_tasks.spawn(serve_udp(udp, Arc::clone(&server), limits));
            sip_tasks.spawn(serve_stream(tcp, server, None, limits));
            continue;
        }
        let server: Arc<dyn SipHandler> = Arc::new(Tracked::new(
            Arc::new(RedirectServer::new(listener.policy, plan.services.clone())),
            Arc::clone(&in_flight),
        ));
        servers.push(Arc::clone(&server));
        let (udp, tcp) = match listener.bound {
            Some(Bound::Udp(socket)) => (Some(socket), None),
            Some(Bound::Tcp(tcp)) => (None, Some(tcp)),
            None => (None, None),
        };
        match listener.transport.as_str() {
            "udp" => {
                let socket = match udp {
                    Some(socket) => socket,
                    None => UdpSocket::bind(listener.bind)
                        .await
                        .map_err(|e| format!("cannot bind UDP {}: {e}", listener.bind))?,
                };
                bound.push(format!(
                    "sip udp {}",
                    socket.local_addr().map_err(|e| e.to_string())?
                ));
                sip_tasks.spawn(serve_udp(Arc::new(socket), server, limits));
            }
            "tcp" | "tls" => {
                let tcp = match tcp {
                    Some(tcp) => tcp,
                    None => TcpListener::bind(listener.bind)
                        .await
                        .map_err(|e| format!("cannot bind TCP {}: {e}", listener.bind))?,
                };
                bound.push(format!("sip {} {}", listener.transport, local(&tcp)?));
                sip_tasks.spawn(serve_stream(tcp, server, listener.tls, limits));
            }
            other => {
                return Err(format!("listener transport '{other}' is not udp, tcp or tls").into());
            }
        }
    }

    if let Some(dir) = &plan.data_dir {
        bound.push(format!("data {}", dir.display()));
    }
    let ready = Arc::new(AtomicBool::new(false));
    let api = TcpListener::bind(plan.api)
        .await
        .map_err(|e| format!("cannot bind HTTP {}: {e}", plan.api))?;
    bound.push(format!("http {}", local(&api)?));
    let published: crate::metrics::Published = Arc::default();
    let reloader = Arc::new(Reloader::new(
        plan.reload,
        Arc::clone(&plan.credentials),
        Arc::clone(&plan.trust),
        plan.fetch.clone(),
        Arc::clone(&published),
    ));
    let state = ApiState::new(
        &plan.services,
        plan.api_token,
        Arc::clone(&ready),
        Arc::clone(&plan.credentials),
        Arc::clone(&published),
        plan.cache.clone(),
        servers,
    )
    .with_reloader(Arc::clone(&reloader));
    let mut http = tokio::spawn(crate::http::serve(
        api,
        None,
        crate::api::router(state),
        http_stopping,
    ));

    // Certificates cached on disk by an earlier run serve at once.
    let warmed = plan.cache.warm_up_from_disk(timearg::now()).await;
    if warmed > 0 {
        tracing::info!(entries = warmed, "x5u cache warmed from disk");
    }
    spawn_published_check(&plan.credentials, &plan.fetch, &published);

    let mut signals = Signals::register()?;
    ready.store(true, Ordering::SeqCst);
    // The readiness line: tests and scripts read the bound addresses from it.
    say!("stird ready: {}", bound.join(", "));
    tracing::info!(addresses = %bound.join(", "), "stird ready");

    let signal = wait_and_reload(&reloader, &mut signals).await;

    // Shutdown: refuse new work, let the work in progress finish within the
    // deadline, write the cache records still pending, and exit.
    let started = tokio::time::Instant::now();
    let deadline = Duration::from_secs(args.shutdown_timeout);
    ready.store(false, Ordering::SeqCst);
    in_flight.close();
    sip_tasks.abort_all();
    let _ = stop_http.send(true);
    let calls_finished = in_flight.wait_idle(deadline).await;
    let remaining = deadline.saturating_sub(started.elapsed());
    let http_finished = tokio::time::timeout(remaining, &mut http).await.is_ok();
    if !http_finished {
        http.abort();
    }
    let remaining = deadline.saturating_sub(started.elapsed());
    let cache_flushed = tokio::time::timeout(remaining, plan.cache.flush())
        .await
        .is_ok();
    tasks.abort_all();
    tracing::info!(
        signal,
        calls_unfinished = in_flight.handling(),
        requests_dropped = in_flight.dropped(),
        calls_finished,
        http_finished,
        cache_flushed,
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "stird stopped"
    );
    Ok(Outcome::Valid)
}

fn local(listener: &TcpListener) -> Result<SocketAddr, InputError> {
    listener
        .local_addr()
        .map_err(|error| InputError(error.to_string()))
}

/// The signals `stird serve` handles. They are registered before the
/// readiness line, because a signal that arrives before its handler takes the
/// default action, which ends the process at once.
struct Signals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn register() -> Result<Self, InputError> {
        let register = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|error| format!("cannot handle {name}: {error}"))
        };
        Ok(Signals {
            hangup: register(SignalKind::hangup(), "SIGHUP")?,
            terminate: register(SignalKind::terminate(), "SIGTERM")?,
            interrupt: register(SignalKind::interrupt(), "SIGINT")?,
        })
    }
}

/// Waits for SIGINT or SIGTERM, reloading credentials and trust on SIGHUP and
/// when the configuration file changes, and returns the name of the signal.
async fn wait_and_reload(reloader: &Arc<Reloader>, signals: &mut Signals) -> &'static str {
    // The stamp of the file last reloaded, and of the file seen at the last
    // poll. A change is reloaded once the file is unchanged over one poll
    // interval, so a file read while an editor or `cp` is still writing it
    // is not taken for the new configuration.
    let mut loaded = reloader.config_modified();
    let mut seen = loaded;
    let mut poll = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = signals.interrupt.recv() => return "SIGINT",
            _ = signals.terminate.recv() => return "SIGTERM",
            _ = signals.hangup.recv() => {
                reload_blocking(reloader, "SIGHUP").await;
            }
            _ = poll.tick() => {
                let now = reloader.config_modified();
                if now != loaded && now == seen {
                    loaded = now;
                    reload_blocking(reloader, "configuration file change").await;
                }
                seen = now;
            }
        }
    }
}

/// Runs [`Reloader::reload`] on the blocking thread pool, as it reads files.
pub(crate) async fn reload_blocking(reloader: &Arc<Reloader>, trigger: &'static str) -> Report {
    let reloader = Arc::clone(reloader);
    match tokio::task::spawn_blocking(move || reloader.reload(trigger)).await {
        Ok(report) => report,
        Err(error) => {
            tracing::error!(%trigger, %error, "reload task failed; the current state stays in force");
            let failed = reload::Step::Failed {
                error: format!("reload task failed: {error}"),
            };
            Report {
                credentials: failed,
                trust: None,
            }
        }
    }
}

/// Days before a certificate's notAfter from which loads and reloads warn.
const EXPIRY_WARNING_DAYS: i64 = 30;

pub(crate) fn warn_expiring(set: &CredentialSet, now: i64) {
    for credential in set.credentials() {
        let days = credential.days_to_expiry(now);
        if days < EXPIRY_WARNING_DAYS {
            tracing::warn!(credential = %credential.name, days, "credential certificate expires soon");
        }
    }
}

pub(crate) fn base_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// Loads the `[trust]` table's anchors and CRLs, paths taken from `base`.
pub(crate) fn load_trust(table: &serve_config::TrustTable, base: &Path) -> Result<Trust, String> {
    let resolve = |paths: &[PathBuf]| -> Vec<PathBuf> {
        paths
            .iter()
            .map(|p| serve_config::resolve(base, p))
            .collect()
    };
    let sources = cert::TrustSources {
        files: resolve(&table.ca_files),
        directories: resolve(&table.ca_dirs),
    };
    if sources.files.is_empty() && sources.directories.is_empty() {
        return Err(
            "[trust] names no ca_files or ca_dirs: a verifier needs STI trust anchors".to_owned(),
        );
    }
    let anchors = cert::TrustStore::load(&sources).map_err(|e| format!("[trust]: {e}"))?;
    let crls = if table.crl_files.is_empty() && table.crl_dirs.is_empty() {
        None
    } else {
        let policy = cert::CrlPolicy {
            stale_grace: i64::from(table.crl_grace_hours) * 3600,
            require_crl: !table.crl_optional,
        };
        Some(
            cert::CrlStore::load(
                &resolve(&table.crl_files),
                &resolve(&table.crl_dirs),
                policy,
            )
            .map_err(|e| format!("[trust] CRLs: {e}"))?,
        )
    };
    Ok(Trust::new(anchors, crls))
}

fn number_policy(profile: &serve_config::ProfileTable) -> Result<NumberPolicy, String> {
    let national = match &profile.national {
        Some(rule) => Some(parse_national(rule)?),
        None => None,
    };
    Ok(NumberPolicy {
        max_digits: usize::from(profile.max_digits.max(1)),
        national,
    })
}

fn parse_national(rule: &str) -> Result<NationalRule, String> {
    crate::verify::parse_national(rule).map_err(|error| format!("[profile] national: {}", error.0))
}

fn verify_policy(profile: &serve_config::ProfileTable, numbers: NumberPolicy) -> VerifyPolicy {
    VerifyPolicy {
        options: Options {
            now: 0,
            freshness: profile.freshness,
            profile: if profile.strict {
                Profile::Strict
            } else {
                Profile::Lenient
            },
            numbers,
        },
        require_identity: false,
    }
}

/// Builds the x5u cache, and returns it with its repository TLS configuration.
fn build_cache(
    settings: &FetchSettings,
    trust: &Arc<SharedTrust>,
) -> Result<(X5uCache, Arc<rustls::ClientConfig>), InputError> {
    let tls = certstore::fetch::tls_config(settings.tls_ca_file.as_deref())
        .map_err(|error| format!("[x5u] tls_ca_file: {error}"))?;
    let mut builder = X5uCache::builder(settings.cache.clone())
        .tls(Arc::clone(&tls))
        .trust(Arc::clone(trust));
    if let Some(dir) = &settings.disk_dir {
        let disk = certstore::tiers::DiskTier::open(dir)
            .map_err(|error| format!("[cache] disk_dir {}: {error}", dir.display()))?;
        builder = builder.disk(disk);
    }
    if let Some(url) = &settings.redis_url {
        let redis = certstore::tiers::RedisTier::open(url, settings.redis_timeout)
            .map_err(|error| format!("[cache] redis_url: {error}"))?;
        builder = builder.redis(redis);
    }
    Ok((builder.build()?, tls))
}

fn listener_policy(table: &ListenerTable, index: usize) -> Result<ListenerPolicy, String> {
    let key = |name: &str| format!("listener {} {name}", index + 1);
    let role = match table.role.as_str() {
        "sign" => Role::Sign,
        "verify" => Role::Verify,
        "auto" => Role::Auto,
        other => {
            return Err(format!(
                "{} = '{other}': use sign, verify or auto",
                key("role")
            ));
        }
    };
    if table.mode != "redirect" && table.mode != "proxy" {
        return Err(format!(
            "{} = '{}': use redirect or proxy",
            key("mode"),
            table.mode
        ));
    }
    let name = table
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", table.transport, table.bind));
    let mut policy = ListenerPolicy::new(&name, role);
    policy.on_failure = match table.on_failure.as_str() {
        "reject" => OnFailure::Reject,
        "continue" => OnFailure::Continue,
        other => {
            return Err(format!(
                "{} = '{other}': use reject or continue",
                key("on_failure")
            ));
        }
    };
    policy.require_identity = table.require_identity;
    policy.verstat_in_from = table.verstat_in_from;
    if let Some(sources) = &table.allow_sources {
        policy.allow_sources = sources
            .iter()
            .map(|s| serve_config::network(&key("allow_sources"), s))
            .collect::<Result<_, _>>()?;
    }
    policy.trunk_header.clone_from(&table.trunk_header);
    policy.trunks = table
        .trunks
        .iter()
        .map(|(network, trunk)| {
            serve_config::network(&key("trunks"), network).map(|n| (n, trunk.clone()))
        })
        .collect::<Result<_, _>>()?;
    policy.orig = match table.orig.as_str() {
        "pai" => OrigSource::AssertedThenFrom,
        "from" => OrigSource::From,
        other => return Err(format!("{} = '{other}': use pai or from", key("orig"))),
    };
    policy.rate_limit = table.rate_limit;
    policy.max_pending = table.max_pending_verifications.max(1);
    policy.rate_limit_per_source = table.rate_limit_per_source;
    policy.on_overload = match table.on_overload.as_str() {
        "reject" => sip::redirect::OnOverload::Reject,
        "pass" => sip::redirect::OnOverload::Pass,
        other => {
            return Err(format!(
                "{} = '{other}': use reject or pass",
                key("on_overload")
            ));
        }
    };
    policy.strip_identity = table.strip_identity;
    policy.existing_identity = match table.existing_identity.as_str() {
        "add" => ExistingIdentity::Add,
        "replace" => ExistingIdentity::Replace,
        "keep" => ExistingIdentity::Keep,
        other => {
            return Err(format!(
                "{} = '{other}': use add, replace or keep",
                key("existing_identity")
            ));
        }
    };
    Ok(policy)
}

/// Reads the forwarding keys of a proxy listener; `None` for a redirect one.
fn proxy_plan(
    table: &ListenerTable,
    name: &str,
    bind: SocketAddr,
) -> Result<Option<ProxyPlan>, String> {
    let key = |key: &str| format!("listener {name} {key}");
    if table.mode != "proxy" {
        for (set, field) in [
            (table.next_hop.is_some(), "next_hop"),
            (table.advertise.is_some(), "advertise"),
        ] {
            if set {
                return Err(format!("{}: only a proxy listener forwards", key(field)));
            }
        }
        return Ok(None);
    }
    if table.transport == "tls" {
        // TODO: TLS proxy listeners, with TLS towards the hops.
        return Err(format!(
            "{}: a proxy listener uses udp or tcp (it listens on both at its address)",
            key("transport")
        ));
    }
    let transport = match table.next_hop_transport.as_str() {
        "udp" => HopTransport::Udp,
        "tcp" => HopTransport::Tcp,
        other => {
            return Err(format!(
                "{} = '{other}': use udp or tcp",
                key("next_hop_transport")
            ));
        }
    };
    let next_hop = match &table.next_hop {
        Some(value) => Some((
            serve_config::socket_address(&key("next_hop"), value)?,
            transport,
        )),
        None => None,
    };
    let advertise = match &table.advertise {
        Some(value) => {
            let (host, port) = value
                .rsplit_once(':')
                .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
                .filter(|(host, _)| !host.is_empty())
                .ok_or_else(|| format!("{} = '{value}': expected host:port", key("advertise")))?;
            Some((
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port,
            ))
        }
        None if bind.ip().is_unspecified() => {
            return Err(format!(
                "{}: a proxy bound to {bind} needs advertise, the address its Via names",
                key("advertise")
            ));
        }
        None => None,
    };
    if !(576..=65_535).contains(&table.mtu) {
        return Err(format!(
            "{} = {}: expected 576 to 65535 bytes",
            key("mtu"),
            table.mtu
        ));
    }
    Ok(Some(ProxyPlan {
        next_hop,
        advertise,
        mtu: table.mtu,
    }))
}

fn tls_acceptor(certificate: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, String> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
    };
    let chain: Vec<rustls::pki_types::CertificateDer<'static>> =
        pem::parse_many(read(certificate)?)
            .map_err(|error| format!("{}: {error}", certificate.display()))?
            .into_iter()
            .filter(|block| block.tag() == "CERTIFICATE")
            .map(|block| block.into_contents().into())
            .collect();
    if chain.is_empty() {
        return Err(format!("{} holds no certificate", certificate.display()));
    }
    let key_block = pem::parse_many(read(key)?)
        .map_err(|error| format!("{}: {error}", key.display()))?
        .into_iter()
        .find(|block| block.tag().ends_with("PRIVATE KEY"))
        .ok_or_else(|| format!("{} holds no private key", key.display()))?;
    let key_der = match key_block.tag() {
        "EC PRIVATE KEY" => {
            rustls::pki_types::PrivateKeyDer::Sec1(key_block.into_contents().into())
        }
        "RSA PRIVATE KEY" => {
            rustls::pki_types::PrivateKeyDer::Pkcs1(key_block.into_contents().into())
        }
        _ => rustls::pki_types::PrivateKeyDer::Pkcs8(key_block.into_contents().into()),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|error| format!("{}: {error}", certificate.display()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Loads a production configuration.
async fn production(path: &Path, http: Option<&str>) -> Result<Plan, InputError> {
    let file: ServeFile = serve_config::read(path)?;
    let base = base_of(path);
    let now = timearg::now();
    if file.listener.is_empty() {
        return Err(format!("{}: no [[listener]] is configured", path.display()).into());
    }

    let numbers = number_policy(&file.profile)?;
    let configs = if file.credential.is_some() {
        certstore::read_config_file(path).map_err(|error| InputError(error.to_string()))?
    } else {
        Vec::new()
    };
    let set = CredentialSet::load(&configs, now).map_err(|error| InputError(error.to_string()))?;
    for credential in set.credentials() {
        for warning in &credential.warnings {
            tracing::warn!(credential = %credential.name, "{warning}");
        }
    }
    warn_expiring(&set, now);
    let credentials = Arc::new(CredentialStore::new(set));

    let needs_verify = file.listener.iter().any(|l| l.role != "sign");
    let trust = if needs_verify || !file.trust.ca_files.is_empty() || !file.trust.ca_dirs.is_empty()
    {
        load_trust(&file.trust, base)?
    } else {
        Trust::new(cert::TrustStore::from_certificates(Vec::new()), None)
    };
    let trust = Arc::new(SharedTrust::new(trust));
    let settings = FetchSettings::from_config_file(path)?;
    let (cache, fetch_tls) = build_cache(&settings, &trust)?;

    let mut listeners = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (index, table) in file.listener.iter().enumerate() {
        let policy = listener_policy(table, index)?;
        // Logs and metrics label each listener by its name.
        if !names.insert(policy.name.clone()) {
            return Err(format!(
                "listener {}: the name '{}' is used by an earlier listener; give each a distinct name",
                index + 1,
                policy.name
            )
            .into());
        }
        if policy.role != Role::Verify && configs.is_empty() {
            return Err(format!(
                "listener {} signs, but no [[credential]] is configured",
                policy.name
            )
            .into());
        }
        let bind =
            serve_config::socket_address(&format!("listener {} bind", index + 1), &table.bind)?;
        let tls = match table.transport.as_str() {
            "udp" | "tcp" => None,
            "tls" => {
                let (Some(certificate), Some(key)) = (&table.tls_cert, &table.tls_key) else {
                    return Err(format!(
                        "listener {} uses tls and needs tls_cert and tls_key",
                        policy.name
                    )
                    .into());
                };
                Some(tls_acceptor(
                    &serve_config::resolve(base, certificate),
                    &serve_config::resolve(base, key),
                )?)
            }
            other => {
                return Err(format!(
                    "listener {} transport = '{other}': use udp, tcp or tls",
                    index + 1
                )
                .into());
            }
        };
        let proxy = proxy_plan(table, &policy.name, bind)?;
        listeners.push(ListenerPlan {
            transport: table.transport.clone(),
            bind,
            policy,
            tls,
            proxy,
            bound: None,
        });
    }
    let api = serve_config::socket_address("api bind", http.unwrap_or(&file.api.bind))?;
    let api_token = match &file.api.token_file {
        Some(path) => Some(BearerToken::read(&serve_config::resolve(base, path))?),
        None => None,
    };
    crate::api::check_exposure(api, file.api.allow_remote, api_token.as_ref())?;
    // Certificates exchanged out of band come from the [x5u.files] map; other
    // URLs are fetched.
    let map = certstore::X5uMap::from_config_file(path).map_err(|e| InputError(e.to_string()))?;
    let certificates: Arc<dyn CertificateSource> = if map.is_empty() {
        Arc::new(cache.clone())
    } else {
        tracing::info!(urls = map.len(), "x5u map loaded");
        Arc::new(service::MappedSource::new(
            map,
            Arc::clone(&trust),
            Some(cache.clone()),
        ))
    };
    if trust.current().crls.is_none() && needs_verify {
        tracing::warn!("no CRLs are configured in [trust]: revocation is not checked");
    }
    let services = Services {
        auth: Some(AuthService::new(Arc::clone(&credentials), numbers.clone())),
        certificates: Some(certificates),
        verify: verify_policy(&file.profile, numbers),
    };
    Ok(Plan {
        listeners,
        services,
        api,
        api_token,
        credentials,
        trust,
        cache,
        fetch: (settings.cache, fetch_tls),
        reload: reload::Source::Config(path.to_owned()),
        repository: None,
        data_dir: None,
    })
}

/// Returns the demo's data directory.
fn data_dir(args: &Args) -> Result<PathBuf, InputError> {
    if let Some(dir) = &args.data_dir {
        return Ok(dir.clone());
    }
    if let Some(dir) = std::env::var_os("STIRD_DATA_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return Ok(PathBuf::from(dir).join("stird"));
    }
    match std::env::var_os("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/stird")),
        None => Err("no data directory: give --data-dir or set STIRD_DATA_DIR".into()),
    }
}

/// Sets up the demo: its PKIs, its repository, its listeners.
async fn demo(args: &Args) -> Result<Plan, InputError> {
    let dir = data_dir(args)?;
    let pki_dir = dir.join("pki");
    let tls_dir = dir.join("tls");
    let now = timearg::now();
    let subscriber = pki_dir.join("subscriber.pem");
    let expired = cert::parse_chain(&std::fs::read(&subscriber).unwrap_or_default())
        .ok()
        .and_then(|chain| chain.first().map(|c| c.not_after < now + 86_400))
        .unwrap_or(true);
    if expired {
        let options = cert::pki::PkiOptions {
            spc: "1234".into(),
            tn_ranges: vec![],
            tns: vec![],
            now,
            defects: vec![],
        };
        let files = cert::pki::build(&options).map_err(|e| InputError(e.to_string()))?;
        cert::pki::write(&pki_dir, &files).map_err(|e| InputError(e.to_string()))?;
        tracing::info!(dir = %pki_dir.display(), "demo STI PKI written");
    }
    if !tls_dir.join("tls-server.pem").exists() || expired {
        let files = cert::pki::build_tls(&["localhost", "127.0.0.1", "::1"], now)
            .map_err(|e| InputError(e.to_string()))?;
        cert::pki::write(&tls_dir, &files).map_err(|e| InputError(e.to_string()))?;
    }

    // The repository first: the x5u URL and the fetch policy follow its real
    // address.
    let repository_address = serve_config::socket_address(
        "--repository",
        args.repository.as_deref().unwrap_or("127.0.0.1:8443"),
    )?;
    let repository = TcpListener::bind(repository_address)
        .await
        .map_err(|e| format!("cannot bind the demo repository {repository_address}: {e}"))?;
    let repository_address = local(&repository)?;
    let acceptor = tls_acceptor(
        &tls_dir.join("tls-server.pem"),
        &tls_dir.join("tls-server.key.pem"),
    )?;
    let chain = Bytes::from(
        std::fs::read(pki_dir.join("chain.pem"))
            .map_err(|e| format!("cannot read the demo chain: {e}"))?,
    );
    let host = match repository_address.ip() {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    let x5u = format!("https://{host}:{}/sti/chain.pem", repository_address.port());

    let configs = vec![CredentialConfig {
        name: "demo".into(),
        key: pki_dir.join("subscriber.key.pem"),
        chain: pki_dir.join("chain.pem"),
        x5u,
        attest_max: "A".into(),
        attest_default: "A".into(),
        numbers: vec![],
        prefixes: vec![],
        ranges: vec![],
        trunks: vec![],
        default: true,
    }];
    let set = CredentialSet::load(&configs, now).map_err(|e| InputError(e.to_string()))?;
    let credentials = Arc::new(CredentialStore::new(set));
    let anchors = cert::TrustStore::load(&cert::TrustSources {
        files: vec![pki_dir.join("root.pem")],
        directories: vec![],
    })
    .map_err(|e| InputError(e.to_string()))?;
    let crls = cert::CrlStore::load(
        &[pki_dir.join("crl.pem"), pki_dir.join("crl-signer.pem")],
        &[],
        cert::CrlPolicy::default(),
    )
    .map_err(|e| InputError(e.to_string()))?;
    let trust = Arc::new(SharedTrust::new(Trust::new(anchors, Some(crls))));

    let mut settings = FetchSettings {
        redis_timeout: Duration::from_millis(200),
        tls_ca_file: Some(tls_dir.join("tls-ca.pem")),
        ..FetchSettings::default()
    };
    // Only the demo repository's origin may be fetched.
    settings.cache.policy.allowed_ports = vec![repository_address.port()];
    settings.cache.policy.allowed_hosts = vec![repository_address.ip().to_string()];
    settings.cache.policy.allowed_networks.push((
        repository_address.ip(),
        if repository_address.is_ipv4() {
            32
        } else {
            128
        },
    ));
    let (cache, tls) = build_cache(&settings, &trust)?;

    let sip =
        serve_config::socket_address("--sip", args.sip.as_deref().unwrap_or("127.0.0.1:5060"))?;
    let (udp, tcp) = bind_pair(sip).await?;
    let sip = udp.local_addr().map_err(|e| e.to_string())?;
    let numbers = NumberPolicy {
        national: Some(parse_national("10:1")?),
        ..NumberPolicy::default()
    };
    let listeners = vec![
        ListenerPlan {
            transport: "udp".to_owned(),
            bind: sip,
            policy: ListenerPolicy::new("demo-udp", Role::Auto),
            tls: None,
            proxy: None,
            bound: Some(Bound::Udp(udp)),
        },
        ListenerPlan {
            transport: "tcp".to_owned(),
            bind: sip,
            policy: ListenerPolicy::new("demo-tcp", Role::Auto),
            tls: None,
            proxy: None,
            bound: Some(Bound::Tcp(tcp)),
        },
    ];
    let api =
        serve_config::socket_address("--http", args.http.as_deref().unwrap_or("127.0.0.1:8080"))?;
    // The demo has no token to protect the API with.
    crate::api::check_exposure(api, false, None)
        .map_err(|_| format!("--http {api}: the demo serves the HTTP API on loopback only"))?;
    let services = Services {
        auth: Some(AuthService::new(Arc::clone(&credentials), numbers.clone())),
        certificates: Some(Arc::new(cache.clone()) as Arc<dyn CertificateSource>),
        verify: verify_policy(&serve_config::ProfileTable::default(), numbers),
    };
    Ok(Plan {
        listeners,
        services,
        api,
        api_token: None,
        credentials,
        trust,
        cache,
        fetch: (settings.cache, tls),
        reload: reload::Source::Demo(configs),
        repository: Some((repository, acceptor, chain)),
        data_dir: Some(dir),
    })
}

/// Binds UDP and TCP on the same address; with port 0, on the same free port.
async fn bind_pair(address: SocketAddr) -> Result<(UdpSocket, TcpListener), InputError> {
    for _ in 0..20 {
        let udp = UdpSocket::bind(address)
            .await
            .map_err(|e| format!("cannot bind UDP {address}: {e}"))?;
        let bound = udp.local_addr().map_err(|e| e.to_string())?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(error) if address.port() != 0 => {
                return Err(format!("cannot bind TCP {bound}: {error}").into());
            }
            Err(_) => continue,
        }
    }
    Err(format!("no free port for UDP and TCP on {}", address.ip()).into())
}
