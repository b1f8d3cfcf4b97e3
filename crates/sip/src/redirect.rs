//! The redirect front end: a stateless SIP redirect server that responds to
//! each INVITE with a 302 carrying the signing or verification result, as SBCs
//! use an STI-AS or STI-VS through a redirect.
//!
//! A signing listener responds 302 with the original Request-URI as Contact and
//! our Identity header. A verifying listener responds 302 with `verstat` in
//! P-Asserted-Identity and the attestation and origid in P-Attestation-Indicator
//! and P-Origination-ID, or with the failure response when its policy rejects. An
//! `auto` listener verifies requests that carry an Identity header and signs
//! the others.
//!
//! Retransmitted INVITEs get the identical response from a table of recent
//! transactions, keyed by source address, Via sent-by and branch, whose entries
//! expire after 32 seconds (RFC 3261 section 17.2.1). The ACK of a 302 is
//! absorbed and removes its entry. A CANCEL of an INVITE still being processed
//! makes it end with 487.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passport::Attestation;
use service::{
    AuthService, CertificateSource, SignRequest, Verdict, VerifyPolicy, VerifyRequest, Verstat,
    verify_request,
};

use crate::verstat::{first_value, with_verstat};
use crate::{Message, ParseError, Request, check_request, parse, parse_cseq, parse_via};

/// The job of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sign every INVITE.
    Sign,
    /// Verify every INVITE.
    Verify,
    /// Verify INVITEs that carry an Identity header, sign the others.
    Auto,
}

/// The treatment of a call that fails verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Respond with the failure's SIP response (403, 436, 437, 438).
    Reject,
    /// Respond 302 with TN-Validation-Failed and a Reason header.
    Continue,
}

/// The header the calling number is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrigSource {
    /// P-Asserted-Identity, else From.
    AssertedThenFrom,
    /// From only.
    From,
}

/// The treatment of an existing shaken Identity header by a signing listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistingIdentity {
    /// Sign, and the SBC adds ours beside the existing one.
    Add,
    /// Sign, and the SBC replaces the existing one with ours.
    Replace,
    /// Do not sign a call already signed.
    Keep,
}

/// The policy of one listener.
#[derive(Debug, Clone)]
pub struct ListenerPolicy {
    /// A name for logs.
    pub name: String,
    /// Sign, verify or both.
    pub role: Role,
    /// The treatment of a failed verification.
    pub on_failure: OnFailure,
    /// Reject a call without Identity with 428 instead of passing it with
    /// No-TN-Validation.
    pub require_identity: bool,
    /// Put verstat in the 302's From too (off: a response's From must equal the
    /// request's).
    pub verstat_in_from: bool,
    /// Source networks allowed to use this listener; others get 403.
    pub allow_sources: Vec<(IpAddr, u8)>,
    /// Header naming the trunk or customer id, such as `X-Trunk`.
    pub trunk_header: Option<String>,
    /// Trunk ids by source network, tried when the header is absent.
    pub trunks: Vec<((IpAddr, u8), String)>,
    /// The header the calling number is taken from.
    pub orig: OrigSource,
    /// A signing listener's treatment of a call already signed.
    pub existing_identity: ExistingIdentity,
    /// A verifying proxy removes the Identity headers it verified from the
    /// INVITE it forwards.
    pub strip_identity: bool,
    /// INVITEs accepted per second from all sources; `None` for no limit.
    pub rate_limit: Option<u32>,
    /// INVITEs accepted per second from one source address.
    pub rate_limit_per_source: Option<u32>,
    /// The treatment of an INVITE over the limits.
    pub on_overload: OnOverload,
    /// Verifications in progress at once. When the limit is reached, most of
    /// them wait for a certificate fetch, so an INVITE beyond it is treated
    /// as over the rate limits.
    pub max_pending: usize,
}

/// The default of [`ListenerPolicy::max_pending`].
pub const MAX_PENDING_VERIFICATIONS: usize = 2_000;

/// The treatment of an INVITE over a listener's rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnOverload {
    /// 503 Service Unavailable with Retry-After.
    Reject,
    /// For a verifying listener, 302 with No-TN-Validation and no verification,
    /// so the call is not delayed; signing listeners still reject.
    Pass,
}

/// Verified PASSporTs remembered for replay detection.
pub const REPLAY_ENTRIES: u64 = 200_000;

/// How long a verified PASSporT is remembered: twice the default freshness
/// window, so a copy is caught for as long as its iat would pass.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(2 * passport::DEFAULT_FRESHNESS as u64);

/// Seconds a 503 for overload sets in Retry-After for the client to wait.
pub const RETRY_AFTER: u32 = 1;

/// A token bucket of `rate` tokens a second, holding at most one second's worth.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: std::time::Instant,
}

impl Bucket {
    fn full(rate: u32) -> Self {
        Bucket {
            tokens: f64::from(rate),
            last: std::time::Instant::now(),
        }
    }

    fn take(&mut self, rate: u32) -> bool {
        let now = std::time::Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * f64::from(rate);
        self.tokens = (self.tokens + refill).min(f64::from(rate));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The rate limits' state: one bucket for the listener, one per source.
#[derive(Debug)]
struct Limiter {
    global: Mutex<Option<Bucket>>,
    sources: moka::sync::Cache<IpAddr, Arc<Mutex<Bucket>>>,
    overloaded: std::sync::atomic::AtomicBool,
}

impl Limiter {
    fn new() -> Self {
        Limiter {
            global: Mutex::new(None),
            // A source idle for a minute starts again with a full bucket.
            sources: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(60))
                .build(),
            overloaded: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Takes a token from the source's bucket and the global one; returns
    /// false when either is empty.
    fn admit(&self, policy: &ListenerPolicy, source: IpAddr) -> bool {
        if let Some(rate) = policy.rate_limit_per_source.filter(|&r| r > 0) {
            let bucket = self
                .sources
                .get_with(source, || Arc::new(Mutex::new(Bucket::full(rate))));
            if !lock(&bucket).take(rate) {
                return false;
            }
        }
        if let Some(rate) = policy.rate_limit.filter(|&r| r > 0) {
            let mut global = lock(&self.global);
            if !global.get_or_insert_with(|| Bucket::full(rate)).take(rate) {
                return false;
            }
        }
        true
    }
}

impl ListenerPolicy {
    /// Creates a policy with the defaults for `role`: loopback sources only, reject on
    /// failure, No-TN-Validation for calls without Identity.
    pub fn new(name: &str, role: Role) -> Self {
        ListenerPolicy {
            name: name.to_owned(),
            role,
            on_failure: OnFailure::Reject,
            require_identity: false,
            verstat_in_from: false,
            allow_sources: vec![
                (IpAddr::from([127, 0, 0, 0]), 8),
                (IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), 128),
            ],
            trunk_header: None,
            trunks: Vec::new(),
            orig: OrigSource::AssertedThenFrom,
            existing_identity: ExistingIdentity::Add,
            strip_identity: false,
            rate_limit: None,
            rate_limit_per_source: None,
            on_overload: OnOverload::Reject,
            max_pending: MAX_PENDING_VERIFICATIONS,
        }
    }
}

/// The services a listener calls.
#[derive(Clone)]
pub struct Services {
    /// The signing service, for sign and auto listeners.
    pub auth: Option<AuthService>,
    /// The certificate source, for verify and auto listeners.
    pub certificates: Option<Arc<dyn CertificateSource>>,
    /// The verification policy; its `now` is replaced by each call's time.
    pub verify: VerifyPolicy,
}

/// The transport a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

/// A response to send, and where it goes over UDP (RFC 3261 section 18.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The response.
    pub bytes: Arc<Vec<u8>>,
    /// The destination for a datagram. Stream transports respond on the
    /// connection the request came in on.
    pub destination: SocketAddr,
}

/// Methods this server handles; others known to RFC 3261 and its extensions get
/// 405 with this list.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, OPTIONS";

const KNOWN_METHODS: [&str; 10] = [
    "BYE",
    "REGISTER",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "REFER",
    "INFO",
    "UPDATE",
    "MESSAGE",
    "PUBLISH",
];

/// Lifetime of a transaction entry: 64 times T1 of RFC 3261 section 17.
pub const TRANSACTION_LIFETIME: Duration = Duration::from_secs(32);

/// Bytes of responses the transaction table keeps at once; the oldest entries
/// go first when it is full.
pub const MAX_TRANSACTION_BYTES: u64 = 64 * 1024 * 1024;

/// Log lines about rejected requests written per second and listener; the
/// rest are counted and the count is added to the next line written.
pub const LOG_LINES_PER_SECOND: u64 = 20;

/// Rate limit for log lines about rejected requests, so a flood of bad calls
/// cannot flood the log.
#[derive(Debug, Default)]
pub(crate) struct LogLimiter {
    second: std::sync::atomic::AtomicU64,
    written: std::sync::atomic::AtomicU64,
    suppressed: std::sync::atomic::AtomicU64,
}

impl LogLimiter {
    /// Returns the number of lines suppressed since the last one written when
    /// this line may be written, or `None` when it must be dropped.
    pub(crate) fn allow(&self) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let second = self.second.load(Relaxed);
        if second != now
            && self
                .second
                .compare_exchange(second, now, Relaxed, Relaxed)
                .is_ok()
        {
            self.written.store(0, Relaxed);
        }
        if self.written.fetch_add(1, Relaxed) < LOG_LINES_PER_SECOND {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

/// The call a PASSporT was first verified for: the digest of its Call-ID,
/// and the Call-ID's first 64 characters for logs.
#[derive(Debug, Clone)]
struct Replay {
    call: [u8; 32],
    shown: Arc<str>,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The state of an INVITE transaction.
#[derive(Debug)]
pub(crate) enum TxState {
    /// Being signed or verified.
    Pending { cancelled: bool },
    /// Completed by a response of this server, which is kept.
    Completed(Arc<Vec<u8>>),
    /// Forwarded by the proxy, which sends the same bytes again for a
    /// retransmission.
    Forwarded(Arc<crate::proxy::Forward>),
}

/// The outcome of signing or verifying an INVITE: a 302 and the headers that
/// carry the result, or a final response that ends the call.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
    pub(crate) headers: Vec<(&'static str, String)>,
    /// The verification status, for a verifying decision.
    pub(crate) verstat: Option<Verstat>,
    /// The iat of the PASSporT signed, for a signing decision.
    pub(crate) iat: Option<i64>,
}

impl Decision {
    fn new(code: u16, reason: &'static str, headers: Vec<(&'static str, String)>) -> Self {
        Decision {
            code,
            reason,
            headers,
            verstat: None,
            iat: None,
        }
    }
}

/// Counters of a listener, for metrics.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// INVITEs over the rate limits.
    pub shed_rate: std::sync::atomic::AtomicU64,
    /// INVITEs refused because too many verifications were in progress.
    pub shed_pending: std::sync::atomic::AtomicU64,
    /// Requests forwarded by a proxy over UDP.
    pub forwarded_udp: std::sync::atomic::AtomicU64,
    /// Requests forwarded by a proxy over TCP.
    pub forwarded_tcp: std::sync::atomic::AtomicU64,
    /// Requests a proxy sent over TCP because of their size, where UDP was
    /// the transport asked for.
    pub large_over_tcp: std::sync::atomic::AtomicU64,
    /// Responses a proxy relayed towards the caller.
    pub responses_relayed: std::sync::atomic::AtomicU64,
    /// Responses a proxy dropped: not for it, or undeliverable.
    pub responses_dropped: std::sync::atomic::AtomicU64,
    /// Requests a proxy could not forward.
    pub forward_failures: std::sync::atomic::AtomicU64,
    /// INVITEs signed.
    pub signed: std::sync::atomic::AtomicU64,
    /// INVITEs a signing listener passed on without a signature: no
    /// credential, a number it cannot sign, or a call already signed.
    pub not_signed: std::sync::atomic::AtomicU64,
    /// INVITEs verified, by verstat: TN-Validation-Passed,
    /// TN-Validation-Failed and No-TN-Validation.
    pub verstat: [std::sync::atomic::AtomicU64; 3],
    /// INVITEs a verifying listener rejected, by status code, in the order of
    /// [`REJECT_CODES`].
    pub rejected: [std::sync::atomic::AtomicU64; REJECT_CODES.len()],
}

/// The status codes a verifying listener rejects calls with, as counted in
/// [`ListenerStats::rejected`]; another code counts as 500.
pub const REJECT_CODES: [u16; 6] = [403, 428, 436, 437, 438, 500];

/// The verstat values counted in [`ListenerStats::verstat`], in order.
pub const VERSTATS: [Verstat; 3] = [
    Verstat::TnValidationPassed,
    Verstat::TnValidationFailed,
    Verstat::NoTnValidation,
];

impl ListenerStats {
    fn count_verification(&self, decision: &Decision) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(verstat) = decision.verstat
            && let Some(index) = VERSTATS.iter().position(|v| *v == verstat)
            && let Some(counter) = self.verstat.get(index)
        {
            counter.fetch_add(1, Relaxed);
        }
        if decision.code != 302 {
            let index = REJECT_CODES
                .iter()
                .position(|code| *code == decision.code)
                .unwrap_or(REJECT_CODES.len() - 1);
            if let Some(counter) = self.rejected.get(index) {
                counter.fetch_add(1, Relaxed);
            }
        }
    }
}

/// The stateless redirect server of one listener.
pub struct RedirectServer {
    policy: ListenerPolicy,
    services: Services,
    pub(crate) log_limit: LogLimiter,
    limiter: Limiter,
    /// Verifications in progress.
    pending: Arc<tokio::sync::Semaphore>,
    pending_full: std::sync::atomic::AtomicBool,
    pub(crate) stats: ListenerStats,
    /// Call-IDs of recently verified PASSporTs, by signature, kept for twice
    /// the default freshness window.
    replays: moka::sync::Cache<[u8; 32], Replay>,
    /// Keyed by the SHA-256 of the transaction's identifiers, so a key costs
    /// 32 bytes whatever the request carries.
    pub(crate) transactions: moka::sync::Cache<[u8; 32], Arc<Mutex<TxState>>>,
}

impl std::fmt::Debug for RedirectServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectServer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

pub(crate) fn network_contains(network: &(IpAddr, u8), address: IpAddr) -> bool {
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    };
    match (network.0, address) {
        (IpAddr::V4(net), IpAddr::V4(addr)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(network.1.min(32)))
                .unwrap_or(0);
            u32::from(net) & mask == u32::from(addr) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(addr)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(network.1.min(128)))
                .unwrap_or(0);
            u128::from(net) & mask == u128::from(addr) & mask
        }
        _ => false,
    }
}

impl RedirectServer {
    /// Builds the server of a listener.
    pub fn new(policy: ListenerPolicy, services: Services) -> Self {
        RedirectServer {
            pending: Arc::new(tokio::sync::Semaphore::new(policy.max_pending.max(1))),
            pending_full: std::sync::atomic::AtomicBool::new(false),
            stats: ListenerStats::default(),
            policy,
            services,
            log_limit: LogLimiter::default(),
            limiter: Limiter::new(),
            replays: moka::sync::Cache::builder()
                .max_capacity(REPLAY_ENTRIES)
                .time_to_live(REPLAY_WINDOW)
                .build(),
            // Least-recently-used eviction admits every new transaction when
            // the table is full, so a retransmission under load still finds
            // the response sent before.
            transactions: moka::sync::Cache::builder()
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .max_capacity(MAX_TRANSACTION_BYTES)
                .weigher(|_key: &[u8; 32], state: &Arc<Mutex<TxState>>| {
                    // A completed entry weighs its response; a pending one,
                    // the key and the state.
                    match &*lock(state) {
                        TxState::Completed(bytes) => {
                            u32::try_from(bytes.len() + 96).unwrap_or(u32::MAX)
                        }
                        TxState::Forwarded(forward) => {
                            u32::try_from(forward.bytes.len() + 160).unwrap_or(u32::MAX)
                        }
                        TxState::Pending { .. } => 96,
                    }
                })
                .time_to_live(TRANSACTION_LIFETIME)
                .build(),
        }
    }

    /// Returns the listener's policy.
    pub fn policy(&self) -> &ListenerPolicy {
        &self.policy
    }

    /// Returns the listener's counters.
    pub fn stats(&self) -> &ListenerStats {
        &self.stats
    }

    /// Handles one message received from `source`, and returns the response to
    /// send, if any. Responses and unparseable messages get none.
    pub async fn handle(
        &self,
        bytes: &[u8],
        source: SocketAddr,
        transport: Transport,
        now: i64,
    ) -> Option<Outgoing> {
        let message = match parse(bytes) {
            Ok(message) => message,
            Err(error) => return self.reject_unparsed(bytes, &error, source),
        };
        let Message::Request(request) = message else {
            // A stateless redirect server sends no requests, so no response is
            // for it.
            return None;
        };
        if let Err(reply) = self.screen(&request, source, transport, None) {
            return reply;
        }

        // A retransmission is recognised before the rate limits, so it gets
        // the response its first copy got and takes no token.
        if request.method == "INVITE"
            && !self.known_transaction(&request, source)
            && !self.admitted(source)
        {
            return self.overloaded(&request, source, transport);
        }

        match request.method {
            "INVITE" => self.invite(&request, source, transport, now).await,
            "ACK" => {
                // The ACK of a final response ends its transaction, so the
                // entry is dropped at once instead of after 32 seconds. A
                // retransmitted ACK is absorbed all the same.
                if let Some(key) = Self::transaction_key(&request, source) {
                    self.transactions.invalidate(&key);
                }
                None
            }
            "CANCEL" => self.cancel(&request, source, transport),
            "OPTIONS" => self.respond(
                &request,
                200,
                "OK",
                &[("Allow", ALLOW.to_owned())],
                source,
                transport,
            ),
            method if KNOWN_METHODS.contains(&method) => self.respond(
                &request,
                405,
                "Method Not Allowed",
                &[("Allow", ALLOW.to_owned())],
                source,
                transport,
            ),
            _ => self.respond(&request, 501, "Not Implemented", &[], source, transport),
        }
    }

    /// Checks the header fields a stateless server relies on and the allow
    /// list, where `also_allowed` is a further address a proxy's next hop
    /// sends from. Returns the response for a request that fails.
    pub(crate) fn screen(
        &self,
        request: &Request<'_>,
        source: SocketAddr,
        transport: Transport,
        also_allowed: Option<IpAddr>,
    ) -> Result<(), Option<Outgoing>> {
        if let Err(error) = check_request(request) {
            if let Some(suppressed) = self.log_limit.allow() {
                tracing::warn!(
                    listener = %self.policy.name,
                    %source,
                    call_id = header(request, "Call-ID").unwrap_or_default(),
                    error = %error,
                    suppressed,
                    "malformed request rejected"
                );
            }
            let warning = warning_value(&error.detail);
            return Err(self.respond(
                request,
                error.status(),
                status_reason(error.status()),
                &[("Warning", warning)],
                source,
                transport,
            ));
        }

        if also_allowed != Some(source.ip())
            && !self
                .policy
                .allow_sources
                .iter()
                .any(|network| network_contains(network, source.ip()))
        {
            if let Some(suppressed) = self.log_limit.allow() {
                tracing::warn!(
                    listener = %self.policy.name,
                    %source,
                    call_id = header(request, "Call-ID").unwrap_or_default(),
                    suppressed,
                    "request from a source outside the listener's allow list rejected with 403"
                );
            }
            return Err(self.respond(request, 403, "Forbidden", &[], source, transport));
        }
        Ok(())
    }

    /// Returns true when the request belongs to a transaction in the table.
    pub(crate) fn known_transaction(&self, request: &Request<'_>, source: SocketAddr) -> bool {
        Self::transaction_key(request, source)
            .is_some_and(|key| self.transactions.contains_key(&key))
    }

    /// Applies the rate limits, logging each change between under and over.
    pub(crate) fn admitted(&self, source: SocketAddr) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let admitted = self.limiter.admit(&self.policy, source.ip());
        if !admitted {
            self.stats.shed_rate.fetch_add(1, Relaxed);
        }
        let was_overloaded = self.limiter.overloaded.swap(!admitted, Relaxed);
        if !admitted && !was_overloaded {
            tracing::warn!(listener = %self.policy.name, %source, "INVITEs over the rate limit; the excess is shed");
        } else if admitted && was_overloaded {
            tracing::info!(listener = %self.policy.name, "INVITEs back under the rate limit");
        }
        admitted
    }

    /// Responds to an INVITE over the rate limits with its [`Self::overload_decision`].
    fn overloaded(
        &self,
        request: &Request<'_>,
        source: SocketAddr,
        transport: Transport,
    ) -> Option<Outgoing> {
        let decision = self.overload_decision(request);
        self.respond_decision(request, &decision, source, transport)
    }

    /// Builds the response a decision gives.
    pub(crate) fn respond_decision(
        &self,
        request: &Request<'_>,
        decision: &Decision,
        source: SocketAddr,
        transport: Transport,
    ) -> Option<Outgoing> {
        self.respond(
            request,
            decision.code,
            decision.reason,
            &decision.headers,
            source,
            transport,
        )
    }

    /// Returns the treatment of an INVITE over the limits: 503 with Retry-After, or
    /// for a verifying listener that passes overload, the result of a call
    /// with No-TN-Validation.
    pub(crate) fn overload_decision(&self, request: &Request<'_>) -> Decision {
        if self.policy.on_overload == OnOverload::Pass && self.policy.role == Role::Verify {
            let orig = self.orig(request);
            let verdict = Verdict {
                verstat: Verstat::NoTnValidation,
                attestation: None,
                origid: None,
                failure: None,
                warnings: Vec::new(),
            };
            let call_id = header(request, "Call-ID").unwrap_or_default();
            return self.verdict_response(request, orig, &verdict, &call_id);
        }
        Decision::new(
            503,
            "Service Unavailable",
            vec![("Retry-After", RETRY_AFTER.to_string())],
        )
    }

    /// Returns the key of the INVITE transaction a request belongs to (RFC 3261 section
    /// 17.2.3): the top Via's branch and sent-by, or for a branch without the
    /// magic cookie, Call-ID, CSeq number and From tag.
    pub(crate) fn transaction_key(request: &Request<'_>, source: SocketAddr) -> Option<[u8; 32]> {
        let via_value = request.headers.get("Via")?.unfolded();
        let vias = parse_via(&via_value).ok()?;
        let top = vias.first()?;
        // The source address is part of the key: another host cannot claim a
        // transaction by copying its branch and sent-by.
        let mut material = format!(
            "{}|{}:{}|",
            source.ip(),
            top.host.to_ascii_lowercase(),
            top.port.unwrap_or(0)
        );
        match top.branch {
            Some(branch) if branch.starts_with("z9hG4bK") => material.push_str(branch),
            _ => {
                let call_id = header(request, "Call-ID")?;
                let (number, _) = parse_cseq(header(request, "CSeq")?.as_str()).ok()?;
                let from = header(request, "From")?;
                let tag = from
                    .split(';')
                    .find_map(|p| p.trim().strip_prefix("tag="))
                    .unwrap_or_default()
                    .to_owned();
                material.push_str(&format!("{call_id}|{number}|{tag}"));
            }
        }
        Some(sha256(material.as_bytes()))
    }

    async fn invite(
        &self,
        request: &Request<'_>,
        source: SocketAddr,
        transport: Transport,
        now: i64,
    ) -> Option<Outgoing> {
        let key = Self::transaction_key(request, source);
        let state = match &key {
            Some(key) => {
                let entry = self
                    .transactions
                    .entry(*key)
                    .or_insert_with(|| Arc::new(Mutex::new(TxState::Pending { cancelled: false })));
                if !entry.is_fresh() {
                    // A retransmission.
                    let state = entry.into_value();
                    let guard = lock(&state);
                    return match &*guard {
                        TxState::Completed(bytes) => Some(Outgoing {
                            bytes: Arc::clone(bytes),
                            destination: destination(request, source, transport),
                        }),
                        TxState::Pending { .. } | TxState::Forwarded(_) => {
                            drop(guard);
                            self.respond(request, 100, "Trying", &[], source, transport)
                        }
                    };
                }
                Some(entry.into_value())
            }
            None => None,
        };

        let decision = self.decide(request, source, now).await;
        let mut outgoing = self.respond_decision(request, &decision, source, transport)?;
        if let (Some(state), Some(key)) = (state, key) {
            let mut guard = lock(&state);
            if matches!(*guard, TxState::Pending { cancelled: true }) {
                drop(guard);
                outgoing =
                    self.respond(request, 487, "Request Terminated", &[], source, transport)?;
                guard = lock(&state);
            }
            *guard = TxState::Completed(Arc::clone(&outgoing.bytes));
            drop(guard);
            // Inserted again so that the table weighs the response it now keeps.
            self.transactions.insert(key, state);
        }
        Some(outgoing)
    }

    fn cancel(
        &self,
        request: &Request<'_>,
        source: SocketAddr,
        transport: Transport,
    ) -> Option<Outgoing> {
        let found = Self::transaction_key(request, source)
            .and_then(|key| self.transactions.get(&key))
            .map(|state| {
                let mut guard = lock(&state);
                if let TxState::Pending { cancelled } = &mut *guard {
                    *cancelled = true;
                }
            });
        match found {
            Some(()) => self.respond(request, 200, "OK", &[], source, transport),
            None => self.respond(
                request,
                481,
                "Call/Transaction Does Not Exist",
                &[],
                source,
                transport,
            ),
        }
    }

    /// Signs or verifies the INVITE.
    pub(crate) async fn decide(
        &self,
        request: &Request<'_>,
        source: SocketAddr,
        now: i64,
    ) -> Decision {
        let identities: Vec<String> = request
            .headers
            .get_all("Identity")
            .map(|h| h.unfolded().trim().to_owned())
            .filter(|value| !value.is_empty())
            .collect();
        let verify = match self.policy.role {
            Role::Sign => false,
            Role::Verify => true,
            Role::Auto => !identities.is_empty(),
        };
        if verify {
            use std::sync::atomic::Ordering::Relaxed;
            // The bound on calls waiting, most of them for certificate
            // fetches; a verification from the cache ends at once.
            let Ok(_slot) = self.pending.try_acquire() else {
                self.stats.shed_pending.fetch_add(1, Relaxed);
                if !self.pending_full.swap(true, Relaxed) {
                    tracing::warn!(
                        listener = %self.policy.name,
                        limit = self.policy.max_pending,
                        "verifications in progress at their limit; further INVITEs are shed"
                    );
                }
                return self.overload_decision(request);
            };
            if self.pending.available_permits() > self.policy.max_pending / 2
                && self.pending_full.swap(false, Relaxed)
            {
                tracing::info!(listener = %self.policy.name, "verifications in progress back under half their limit");
            }
            let decision = self.verify(request, identities, now).await;
            self.stats.count_verification(&decision);
            decision
        } else {
            let decision = self.sign(request, &identities, source, now);
            let counter = match decision.iat {
                Some(_) => &self.stats.signed,
                None => &self.stats.not_signed,
            };
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            decision
        }
    }

    pub(crate) fn orig(&self, request: &Request<'_>) -> Option<(&'static str, String)> {
        if self.policy.orig == OrigSource::AssertedThenFrom
            && let Some(value) = header(request, "P-Asserted-Identity")
        {
            return Some(("P-Asserted-Identity", first_value(&value).to_owned()));
        }
        header(request, "From").map(|value| ("From", value))
    }

    fn dest(request: &Request<'_>) -> String {
        header(request, "To").unwrap_or_else(|| request.uri.to_owned())
    }

    fn sign(
        &self,
        request: &Request<'_>,
        existing: &[String],
        source: SocketAddr,
        now: i64,
    ) -> Decision {
        let contact = ("Contact", format!("<{}>", request.uri));
        let call_id = header(request, "Call-ID").unwrap_or_default();
        let Some(auth) = &self.services.auth else {
            tracing::error!(listener = %self.policy.name, %call_id, "signing listener without credentials");
            return Decision::new(500, "Server Internal Error", Vec::new());
        };
        if !existing.is_empty() && self.policy.existing_identity == ExistingIdentity::Keep {
            return Decision::new(302, "Moved Temporarily", vec![contact]);
        }
        let trunk = self.trunk(request, source);
        let attest =
            header(request, "P-Attestation-Indicator").and_then(|value| match value.trim() {
                "A" => Some(Attestation::A),
                "B" => Some(Attestation::B),
                "C" => Some(Attestation::C),
                _ => None,
            });
        let orig = self
            .orig(request)
            .map(|(_, value)| value)
            .unwrap_or_default();
        let sign_request = SignRequest {
            orig,
            dest: vec![Self::dest(request)],
            trunk,
            attest,
            origid: None,
            iat: now,
        };
        let headers = match auth.sign(&sign_request) {
            Ok(signed) => {
                if let Some(asked) = signed.capped_from {
                    tracing::info!(
                        listener = %self.policy.name,
                        %call_id,
                        credential = %signed.credential,
                        requested = %asked,
                        signed = %signed.attestation,
                        "attestation capped by the credential's policy"
                    );
                }
                let mut decision = Decision::new(
                    302,
                    "Moved Temporarily",
                    vec![contact, ("Identity", signed.identity)],
                );
                decision.iat = Some(now);
                return decision;
            }
            Err(error) => {
                // An SBC expects a 302 whether or not a signature was made.
                tracing::warn!(listener = %self.policy.name, %call_id, %error, "call not signed");
                vec![contact, ("Warning", warning_value(&error.to_string()))]
            }
        };
        Decision::new(302, "Moved Temporarily", headers)
    }

    fn trunk(&self, request: &Request<'_>, source: SocketAddr) -> Option<String> {
        if let Some(name) = &self.policy.trunk_header
            && let Some(value) = header(request, name)
        {
            return Some(value.trim().to_owned());
        }
        self.policy
            .trunks
            .iter()
            .find(|(network, _)| network_contains(network, source.ip()))
            .map(|(_, trunk)| trunk.clone())
    }

    async fn verify(&self, request: &Request<'_>, identities: Vec<String>, now: i64) -> Decision {
        let call_id = header(request, "Call-ID").unwrap_or_default();
        let Some(certificates) = &self.services.certificates else {
            tracing::error!(listener = %self.policy.name, %call_id, "verifying listener without a certificate source");
            return Decision::new(500, "Server Internal Error", Vec::new());
        };
        let orig = self.orig(request);
        let verify_request_value = VerifyRequest {
            identities,
            orig: orig.as_ref().map(|(_, value)| value.clone()),
            to: header(request, "To"),
            request_uri: Some(request.uri.to_owned()),
            date: header(request, "Date")
                .and_then(|date| httpdate::parse_http_date(date.trim()).ok())
                .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_secs()).ok()),
        };
        let mut policy = self.services.verify.clone();
        policy.options.now = now;
        policy.require_identity = self.policy.require_identity;
        let verdict = verify_request(&verify_request_value, certificates.as_ref(), &policy).await;
        service::record_verdict(&verdict);
        let mut response = self.verdict_response(request, orig, &verdict, &call_id);
        if verdict.verstat == Verstat::TnValidationPassed
            && self.replayed(&verify_request_value.identities, &call_id)
        {
            response.headers.push((
                "Warning",
                warning_value(
                    "this PASSporT was verified for another call within its freshness window",
                ),
            ));
        }
        response
    }

    /// Records the signatures of a verified request's PASSporTs and reports
    /// whether one of them was verified before for another Call-ID: a PASSporT
    /// copied from a call into others, which its signature does not prevent
    /// within the freshness window.
    fn replayed(&self, identities: &[String], call_id: &str) -> bool {
        let mut replayed = false;
        for identity in identities.iter().take(passport::MAX_IDENTITY_HEADERS) {
            let token = identity.split(';').next().unwrap_or_default();
            let Some((_, signature)) = token.rsplit_once('.') else {
                continue;
            };
            if signature.is_empty() {
                continue;
            }
            // Digests, so an entry weighs the same whatever the request
            // carries.
            let key = sha256(signature.as_bytes());
            let call = sha256(call_id.as_bytes());
            if let Some(first) = self.replays.get(&key)
                && first.call != call
            {
                replayed = true;
                if let Some(suppressed) = self.log_limit.allow() {
                    tracing::warn!(
                        listener = %self.policy.name,
                        %call_id,
                        first_call_id = %first.shown,
                        suppressed,
                        "PASSporT replayed: verified before for another call"
                    );
                }
                continue;
            }
            self.replays.insert(
                key,
                Replay {
                    call,
                    shown: call_id.chars().take(64).collect::<String>().into(),
                },
            );
        }
        replayed
    }

    fn verdict_response(
        &self,
        request: &Request<'_>,
        orig: Option<(&'static str, String)>,
        verdict: &Verdict,
        call_id: &str,
    ) -> Decision {
        if let Some(failure) = &verdict.failure
            && let Some(suppressed) = self.log_limit.allow()
        {
            tracing::warn!(
                listener = %self.policy.name,
                %call_id,
                check = %failure.check,
                code = failure.response.code,
                reason = %failure.reason,
                suppressed,
                "verification failed"
            );
        }
        if let Some(failure) = &verdict.failure {
            let required = failure.response.code == 428;
            if self.policy.on_failure == OnFailure::Reject || required {
                return Decision::new(failure.response.code, failure.response.reason, Vec::new());
            }
        }
        let verstat = verdict.verstat.as_str();
        let mut headers = vec![("Contact", format!("<{}>", request.uri))];
        // Only the first identity of a list is kept: a second one could carry
        // an upstream verstat past ours.
        let asserted = match &orig {
            Some(("From", value)) => with_verstat(&without_header_params(value), verstat),
            Some((_, value)) if plausible_identity(first_value(value)) => {
                with_verstat(first_value(value), verstat)
            }
            _ => match header(request, "From") {
                Some(from) => with_verstat(&without_header_params(&from), verstat),
                None => format!("<{};verstat={verstat}>", request.uri),
            },
        };
        headers.push(("P-Asserted-Identity", asserted));
        if self.policy.verstat_in_from
            && let Some(from) = header(request, "From")
        {
            headers.push(("From", with_verstat(&from, verstat)));
        }
        if verdict.verstat == Verstat::TnValidationPassed {
            if let Some(attestation) = verdict.attestation {
                headers.push(("P-Attestation-Indicator", attestation.to_string()));
            }
            if let Some(origid) = verdict
                .origid
                .as_ref()
                .filter(|origid| passport::check_origid(origid).is_ok())
            {
                headers.push(("P-Origination-ID", origid.clone()));
            }
        }
        if let Some(failure) = &verdict.failure {
            headers.push(("Reason", failure.response.reason_header()));
        }
        Decision {
            code: 302,
            reason: "Moved Temporarily",
            headers,
            verstat: Some(verdict.verstat),
            iat: None,
        }
    }

    /// Responds to a message that does not parse when enough of it is readable
    /// to build a response (RFC 3261 sections 8.2 and 16.3). Otherwise the
    /// message is dropped.
    pub(crate) fn reject_unparsed(
        &self,
        bytes: &[u8],
        error: &ParseError,
        source: SocketAddr,
    ) -> Option<Outgoing> {
        if bytes.starts_with(b"SIP/") {
            return None;
        }
        let text =
            std::str::from_utf8(bytes.get(..bytes.len().min(crate::MAX_MESSAGE_BYTES))?).ok()?;
        let head = text.split("\r\n\r\n").next()?;
        let mut lines = head.split("\r\n");
        let _request_line = lines.next()?;
        let mut copied = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim();
            let canonical = match name.to_ascii_lowercase().as_str() {
                "via" | "v" => "Via",
                "from" | "f" => "From",
                "to" | "t" => "To",
                "call-id" | "i" => "Call-ID",
                "cseq" => "CSeq",
                _ => continue,
            };
            if value.chars().any(|c| c.is_control() && c != '\t') {
                // A value with a bare CR or LF cannot be copied safely.
                return None;
            }
            copied.push((canonical, value.trim().to_owned()));
        }
        for needed in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if !copied.iter().any(|(name, _)| *name == needed) {
                tracing::debug!(%source, %error, "unparseable message dropped");
                return None;
            }
        }
        if let Some(suppressed) = self.log_limit.allow() {
            tracing::warn!(listener = %self.policy.name, %source, %error, suppressed, "unparseable request rejected");
        }
        let status = error.status();
        let mut out = format!("SIP/2.0 {status} {}\r\n", status_reason(status));
        for (name, value) in &copied {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("Warning: {}\r\n", warning_value(&error.detail)));
        out.push_str("Content-Length: 0\r\n\r\n");
        Some(Outgoing {
            bytes: Arc::new(out.into_bytes()),
            destination: source,
        })
    }

    /// Sends a response kept in the transaction table again.
    pub(crate) fn respond_again(
        &self,
        request: &Request<'_>,
        bytes: Arc<Vec<u8>>,
        source: SocketAddr,
        transport: Transport,
    ) -> Option<Outgoing> {
        Some(Outgoing {
            bytes,
            destination: destination(request, source, transport),
        })
    }

    /// Builds a response to `request` (RFC 3261 section 8.2.6): the Via headers
    /// in order, with received and rport on the top one (section 18.2.1), From,
    /// To with a tag, Call-ID and CSeq copied.
    pub(crate) fn respond(
        &self,
        request: &Request<'_>,
        code: u16,
        reason: &str,
        extra: &[(&str, String)],
        source: SocketAddr,
        transport: Transport,
    ) -> Option<Outgoing> {
        let mut out = String::with_capacity(1024);
        out.push_str(&format!("SIP/2.0 {code} {reason}\r\n"));
        let mut first = true;
        for via in request.headers.get_all("Via") {
            let value = via.unfolded();
            if first {
                out.push_str(&format!(
                    "Via: {}\r\n",
                    top_via_with_received(&value, source)
                ));
                first = false;
            } else {
                out.push_str(&format!("Via: {value}\r\n"));
            }
        }
        let replaced_from = extra.iter().any(|(name, _)| *name == "From");
        if !replaced_from {
            out.push_str(&format!("From: {}\r\n", header(request, "From")?));
        }
        let to = header(request, "To")?;
        if code > 100 && !has_tag(&to) {
            out.push_str(&format!("To: {to};tag={}\r\n", to_tag(request)));
        } else {
            out.push_str(&format!("To: {to}\r\n"));
        }
        out.push_str(&format!("Call-ID: {}\r\n", header(request, "Call-ID")?));
        out.push_str(&format!("CSeq: {}\r\n", header(request, "CSeq")?));
        for (name, value) in extra {
            out.push_str(&format!("{name}: {}\r\n", header_safe(value)));
        }
        out.push_str(concat!("Server: stird/", env!("CARGO_PKG_VERSION"), "\r\n"));
        out.push_str("Content-Length: 0\r\n\r\n");
        Some(Outgoing {
            bytes: Arc::new(out.into_bytes()),
            destination: destination(request, source, transport),
        })
    }
}

impl crate::transport::Handler for RedirectServer {
    fn handle<'a>(
        &'a self,
        bytes: &'a [u8],
        source: SocketAddr,
        inbound: crate::transport::Inbound,
        now: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Outgoing>> + Send + 'a>> {
        Box::pin(RedirectServer::handle(
            self,
            bytes,
            source,
            inbound.transport,
            now,
        ))
    }

    fn name(&self) -> &str {
        &self.policy.name
    }

    fn stats(&self) -> Option<&ListenerStats> {
        Some(&self.stats)
    }
}

/// Returns the first value of a header, unfolded, with control characters
/// replaced by spaces.
pub(crate) fn header(request: &Request<'_>, name: &str) -> Option<String> {
    request
        .headers
        .get(name)
        .map(|h| header_safe(&h.unfolded()).into_owned())
}

/// Replaces control characters (CR and LF among them) by spaces, so that no
/// value taken from a request or a PASSporT can end a header line or the
/// header section of a response.
pub(crate) fn header_safe(value: &str) -> std::borrow::Cow<'_, str> {
    if value.chars().any(|c| c.is_control() && c != '\t') {
        value
            .chars()
            .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
            .collect::<String>()
            .into()
    } else {
        value.into()
    }
}

/// Returns true when a P-Asserted-Identity value contains one sip, sips or tel URI
/// in a well-formed name-addr or addr-spec; otherwise From is used instead.
fn plausible_identity(value: &str) -> bool {
    let uri = passport::tn::addr_spec(value).to_ascii_lowercase();
    let scheme = uri.starts_with("sip:") || uri.starts_with("sips:") || uri.starts_with("tel:");
    let opens = value.matches('<').count();
    let closes = value.matches('>').count();
    scheme && opens <= 1 && opens == closes && !uri.contains(['<', '>', '"', ' '])
}

/// Drops the header parameters (such as the From tag) of a name-addr, keeping
/// the display name and URI, for a P-Asserted-Identity built from From.
fn without_header_params(value: &str) -> String {
    match value.rfind('>') {
        Some(index) => value.get(..=index).unwrap_or(value).to_owned(),
        None => {
            let uri = passport::tn::addr_spec(value);
            // A bare addr-spec: its parameters after the host are the header's.
            match uri
                .find('@')
                .and_then(|at| uri.get(at..)?.find(';').map(|i| at + i))
            {
                Some(end) => uri.get(..end).unwrap_or(uri).to_owned(),
                None => uri.split(";tag=").next().unwrap_or(uri).to_owned(),
            }
        }
    }
}

pub(crate) fn has_tag(value: &str) -> bool {
    tag_param(value).is_some()
}

/// Returns the tag parameter of a From or To value, a header parameter after
/// the closing bracket when there is one.
pub(crate) fn tag_param(value: &str) -> Option<&str> {
    let params = match value.rfind('>') {
        Some(index) => value.get(index..).unwrap_or_default(),
        None => value,
    };
    params.split(';').skip(1).find_map(|p| {
        let (name, tag) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("tag")
            .then_some(tag.trim())
    })
}

/// Derives the To tag from the transaction, so a retransmission gets the same
/// one even after its table entry expired.
fn to_tag(request: &Request<'_>) -> String {
    let mut material = String::new();
    for name in ["Call-ID", "CSeq", "From"] {
        if let Some(value) = header(request, name) {
            material.push_str(&value);
        }
    }
    if let Some(via) = header(request, "Via") {
        material.push_str(&via);
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, material.as_bytes());
    digest
        .as_ref()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Returns a Via header value with received and rport written on its top
/// entry as RFC 3261 section 18.2.1 and RFC 3581 require. A received the client
/// wrote itself is replaced, and an rport, with or without a value, gets the
/// source port. So a response goes back to where the request came from, not
/// to an address of the client's choosing.
pub(crate) fn top_via_with_received(value: &str, source: SocketAddr) -> String {
    let (top, rest) = split_first_entry(value);
    let Ok(vias) = parse_via(top) else {
        return value.to_owned();
    };
    let Some(via) = vias.first() else {
        return value.to_owned();
    };
    let host = if via.host.contains(':') {
        format!("[{}]", via.host)
    } else {
        via.host.to_owned()
    };
    let mut out = format!("{}/{} {host}", via.protocol, via.transport);
    if let Some(port) = via.port {
        out.push_str(&format!(":{port}"));
    }
    for (name, param) in &via.params {
        if name.eq_ignore_ascii_case("received") {
            continue;
        }
        if name.eq_ignore_ascii_case("rport") {
            out.push_str(&format!(";rport={}", source.port()));
            continue;
        }
        match param {
            Some(param) => out.push_str(&format!(";{name}={param}")),
            None => out.push_str(&format!(";{name}")),
        }
    }
    let source_ip = source.ip().to_string();
    if via.host != source_ip {
        out.push_str(&format!(";received={source_ip}"));
    }
    match rest {
        Some(rest) => format!("{out}, {rest}"),
        None => out,
    }
}

/// Splits a header value at its first comma outside quotes and angle
/// brackets: the first entry and the rest, both trimmed.
pub(crate) fn split_first_entry(value: &str) -> (&str, Option<&str>) {
    let (mut quoted, mut bracketed, mut escaped) = (false, false, false);
    for (index, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => bracketed = true,
            '>' if !quoted => bracketed = false,
            ',' if !quoted && !bracketed => {
                let first = value.get(..index).unwrap_or_default().trim();
                let rest = value.get(index + 1..).unwrap_or_default().trim();
                return (first, (!rest.is_empty()).then_some(rest));
            }
            _ => {}
        }
    }
    (value.trim(), None)
}

/// Returns the destination of a response over UDP (RFC 3261 section 18.2.2, RFC 3581):
/// the source address, at the source port when rport was asked for, else at
/// the sent-by port.
fn destination(request: &Request<'_>, source: SocketAddr, transport: Transport) -> SocketAddr {
    if transport != Transport::Udp {
        return source;
    }
    let port = header(request, "Via")
        .and_then(|value| {
            parse_via(&value).ok().and_then(|vias| {
                vias.first().map(|via| match via.rport {
                    Some(_) => source.port(),
                    None => via.port.unwrap_or(5060),
                })
            })
        })
        .unwrap_or(source.port());
    SocketAddr::new(source.ip(), port)
}

pub(crate) fn warning_value(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '\''
            } else {
                c
            }
        })
        .take(200)
        .collect();
    format!("399 stird \"{clean}\"")
}

fn status_reason(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        _ => "Bad Request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_limiter_counts_what_it_drops() {
        let limiter = LogLimiter::default();
        for _ in 0..LOG_LINES_PER_SECOND {
            assert_eq!(limiter.allow(), Some(0));
        }
        assert_eq!(limiter.allow(), None);
        assert_eq!(limiter.allow(), None);
        // A new second: the next line carries the count of lines dropped.
        limiter
            .second
            .store(0, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(limiter.allow(), Some(2));
        assert_eq!(limiter.allow(), Some(0));
    }
}
