//! The proxy front end: a stateless SIP proxy (RFC 3261 section 16.11) that
//! signs or verifies each dialog-initiating INVITE in the call path and
//! forwards it.
//!
//! A signing proxy adds its Identity header to the INVITE. A verifying proxy
//! writes `verstat` in From and in P-Asserted-Identity, sets
//! P-Attestation-Indicator and P-Origination-ID from the PASSporT (removing
//! whatever an upstream element wrote there), and forwards the call, or
//! responds with the failure response when its policy rejects. Every other
//! request, CANCEL and ACK among them, is forwarded unchanged but for the Via
//! and Max-Forwards, and responses travel back along the Via path.
//!
//! The proxy keeps no state a response needs. Its Via branch has two parts.
//! The loop part is a MAC of the Request-URI, From tag, Call-ID and CSeq
//! number, so a request that comes back to this proxy is found (section
//! 16.3). The transaction part is a MAC of the loop part and of the previous
//! hop's Via. It gives a retransmission, its CANCEL and the ACK of a failure
//! the same branch as the INVITE, and lets the proxy recognise the responses
//! it must relay. A response whose top Via this proxy did not write, or whose MAC
//! fails, is dropped, so the proxy cannot be used to send a response to an
//! address of someone's choice.
//!
//! A request forwarded over UDP that comes within 200 bytes of the path MTU
//! goes over TCP instead (RFC 3261 section 18.1.1), and goes back to UDP only
//! when the TCP connection is refused or reset, as that section allows.
//!
//! The INVITEs it answers or forwards are kept in the transaction table of the
//! redirect server it wraps, so a retransmission is sent again byte for byte
//! instead of being signed or verified again, and a CANCEL that arrives while
//! a certificate is being fetched ends the call with 487.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use aws_lc_rs::hmac;
use tokio::net::UdpSocket;
use tokio::sync::{Semaphore, mpsc};

use crate::redirect::{
    ALLOW, Decision, ListenerPolicy, LogLimiter, Outgoing, RedirectServer, Services, Transport,
    TxState, has_tag, header, header_safe, lock, top_via_with_received,
};
use crate::redirect::{network_contains, split_first_entry, tag_param};
use crate::transport::{Connections, Handler, Inbound, Limits, Shared, connect};
use crate::verstat::{with_verstat, without_verstat};
use crate::{Message, Request, Response, Via, parse, parse_cseq, parse_via};

/// The transport of a hop the proxy forwards to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopTransport {
    /// UDP, or TCP for a request too large for UDP.
    Udp,
    /// TCP.
    Tcp,
}

impl HopTransport {
    fn token(self) -> &'static str {
        match self {
            HopTransport::Udp => "UDP",
            HopTransport::Tcp => "TCP",
        }
    }
}

/// The forwarding settings of a proxy: its own address, its next hop and the
/// path MTU.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The host and port written in this proxy's Via and recognised in Via
    /// and Route headers as this proxy.
    pub advertise: (String, u16),
    /// The hop every request goes to; without it, the top Route or the
    /// Request-URI names the hop.
    pub next_hop: Option<(SocketAddr, HopTransport)>,
    /// The path MTU towards the hops, in bytes: a request over UDP must leave
    /// 200 bytes of it free, or it goes over TCP.
    pub mtu: usize,
    /// Time allowed to open a TCP connection to a hop.
    pub connect_timeout: Duration,
}

/// The path MTU assumed when none is configured: Ethernet's, which gives the
/// 1,300-byte limit of RFC 3261 section 18.1.1.
pub const DEFAULT_MTU: usize = 1500;

/// Bytes of the path MTU a UDP request leaves free (RFC 3261 section 18.1.1).
const MTU_MARGIN: usize = 200;

/// The branch cookie of RFC 3261 section 8.1.1.7.
const COOKIE: &str = "z9hG4bK";

/// The Via parameter naming the stream connection a request came in on, so
/// its responses go back on it.
const CONNECTION_PARAM: &str = "stird-conn";

/// How long a failed connection to a hop is remembered: requests to that hop
/// fail at once meanwhile.
pub const FAILED_CONNECT_MEMORY: Duration = Duration::from_secs(5);

/// An INVITE this proxy forwarded: the bytes and where they went.
#[derive(Debug)]
pub(crate) struct Forward {
    pub(crate) bytes: Arc<Vec<u8>>,
    pub(crate) address: SocketAddr,
    pub(crate) transport: HopTransport,
}

/// The stateless proxy of one listener.
pub struct ProxyServer {
    core: RedirectServer,
    config: ProxyConfig,
    udp: Arc<UdpSocket>,
    connections: Connections,
    key: hmac::Key,
    limits: Limits,
    /// Requests arriving on connections this proxy opened.
    in_flight: Arc<Semaphore>,
    log_limit: Arc<LogLimiter>,
    /// One connection attempt at a time per hop.
    connecting: moka::sync::Cache<SocketAddr, Arc<tokio::sync::Mutex<()>>>,
    /// Hops a connection to failed recently, with the error's kind, so the
    /// requests behind a failed attempt fail at once instead of each waiting
    /// for a timeout of its own.
    failed: moka::sync::Cache<SocketAddr, std::io::ErrorKind>,
    this: Weak<ProxyServer>,
}

impl std::fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyServer")
            .field("policy", self.core.policy())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A request's way out: the hop's address and transport.
#[derive(Debug, Clone, Copy)]
struct Hop {
    address: SocketAddr,
    transport: HopTransport,
}

/// Why a request cannot be forwarded: the response to send instead.
#[derive(Debug)]
struct Refusal {
    code: u16,
    reason: &'static str,
    detail: String,
}

impl ProxyServer {
    /// Builds the proxy of a listener that receives UDP on `udp` and sends
    /// its UDP requests and responses from it.
    pub fn new(
        policy: ListenerPolicy,
        services: Services,
        config: ProxyConfig,
        udp: Arc<UdpSocket>,
        limits: Limits,
    ) -> Arc<ProxyServer> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, &random_fallback()));
        Arc::new_cyclic(|this| ProxyServer {
            core: RedirectServer::new(policy, services),
            config,
            udp,
            connections: Connections::default(),
            key,
            in_flight: Arc::new(Semaphore::new(limits.in_flight.max(1))),
            limits,
            log_limit: Arc::new(LogLimiter::default()),
            connecting: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(Duration::from_secs(60))
                .build(),
            failed: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(FAILED_CONNECT_MEMORY)
                .build(),
            this: this.clone(),
        })
    }

    /// Returns the listener's policy.
    pub fn policy(&self) -> &ListenerPolicy {
        self.core.policy()
    }

    /// Returns the listener's counters.
    pub fn stats(&self) -> &crate::redirect::ListenerStats {
        self.core.stats()
    }

    /// Handles one message received from `source`, and returns the response
    /// to send back the way it came, if any. Forwarded requests and relayed
    /// responses are sent by the proxy itself.
    pub async fn handle(
        &self,
        bytes: &[u8],
        source: SocketAddr,
        inbound: Inbound,
        now: i64,
    ) -> Option<Outgoing> {
        match parse(bytes) {
            Ok(Message::Request(request)) => self.request(&request, source, inbound, now).await,
            Ok(Message::Response(response)) => {
                self.relay(&response, source).await;
                None
            }
            Err(error) => self.core.reject_unparsed(bytes, &error, source),
        }
    }

    async fn request(
        &self,
        request: &Request<'_>,
        source: SocketAddr,
        inbound: Inbound,
        now: i64,
    ) -> Option<Outgoing> {
        let transport = inbound.transport;
        let next_hop = self.config.next_hop.map(|(address, _)| address.ip());
        if let Err(reply) = self.core.screen(request, source, transport, next_hop) {
            return reply;
        }
        let respond = |code: u16, reason: &str, extra: &[(&str, String)]| {
            self.core
                .respond(request, code, reason, extra, source, transport)
        };

        if request.method == "ACK" && self.absorbs_ack(request, source) {
            return None;
        }
        let max_forwards =
            header(request, "Max-Forwards").and_then(|v| v.trim().parse::<u8>().ok());
        if max_forwards == Some(0) {
            return match request.method {
                "OPTIONS" => respond(200, "OK", &[("Allow", ALLOW.to_owned())]),
                "ACK" => None,
                _ => respond(483, "Too Many Hops", &[]),
            };
        }

        if request.method != "ACK"
            && let Some(required) = header(request, "Proxy-Require")
        {
            // This proxy supports no extension a Proxy-Require can name
            // (RFC 3261 section 16.3, step 5).
            return respond(420, "Bad Extension", &[("Unsupported", required)]);
        }

        if self.looped(request) {
            self.log_refusal(request, source, "the request carries this proxy's Via for the same Request-URI, From tag, Call-ID and CSeq: a loop (RFC 3261 section 16.3)");
            return match request.method {
                "ACK" => None,
                _ => respond(482, "Loop Detected", &[]),
            };
        }

        if request.method == "OPTIONS" && !request.uri.contains('@') && self.names_us(request.uri) {
            // A keep-alive addressed to the proxy itself.
            return respond(200, "OK", &[("Allow", ALLOW.to_owned())]);
        }

        match request.method {
            "INVITE" if !header(request, "To").is_some_and(|to| has_tag(&to)) => {
                self.invite(request, source, inbound, now).await
            }
            "CANCEL" => self.cancel(request, source, inbound).await,
            _ => {
                match self
                    .forward(request, source, inbound, None, &Decision::pass())
                    .await
                {
                    Ok(_) => None,
                    Err(refusal) if request.method == "ACK" => {
                        self.log_refusal(request, source, &refusal.detail);
                        None
                    }
                    Err(refusal) => {
                        self.log_refusal(request, source, &refusal.detail);
                        respond(refusal.code, refusal.reason, &[])
                    }
                }
            }
        }
    }

    /// Returns true for the ACK of a final response this proxy sent itself,
    /// which ends there (RFC 3261 section 17.2.1). The transaction ends with
    /// it, so its entry is dropped at once.
    fn absorbs_ack(&self, request: &Request<'_>, source: SocketAddr) -> bool {
        let Some(key) = RedirectServer::transaction_key(request, source) else {
            return false;
        };
        let absorbed = self
            .core
            .transactions
            .get(&key)
            .is_some_and(|state| matches!(Seen::of(&state), Seen::Completed(_)));
        if absorbed {
            self.core.transactions.invalidate(&key);
        }
        absorbed
    }

    /// Returns true when a Via of the request is this proxy's with the loop
    /// part this request would get: it has been here before.
    fn looped(&self, request: &Request<'_>) -> bool {
        let loop_part = self.loop_part(request);
        request.headers.get_all("Via").any(|via| {
            let value = via.unfolded();
            parse_via(&value).is_ok_and(|entries| {
                entries.iter().any(|entry| {
                    self.is_ours(entry)
                        && entry
                            .branch
                            .and_then(|branch| branch.strip_prefix(COOKIE))
                            .and_then(|rest| rest.split_once('.'))
                            .is_some_and(|(part, _)| part == loop_part)
                })
            })
        })
    }

    fn is_ours(&self, via: &Via<'_>) -> bool {
        let (host, port) = &self.config.advertise;
        via.host
            .eq_ignore_ascii_case(host.trim_start_matches('[').trim_end_matches(']'))
            && via.port.unwrap_or(5060) == *port
    }

    async fn invite(
        &self,
        request: &Request<'_>,
        source: SocketAddr,
        inbound: Inbound,
        now: i64,
    ) -> Option<Outgoing> {
        let transport = inbound.transport;
        // A retransmission is recognised before the rate limits, so it gets
        // what its first copy got and takes no token.
        if !self.core.known_transaction(request, source) && !self.core.admitted(source) {
            let decision = self.core.overload_decision(request);
            return self
                .conclude(request, source, inbound, None, decision)
                .await;
        }
        let key = RedirectServer::transaction_key(request, source);
        let state = match &key {
            Some(key) => {
                let entry =
                    self.core.transactions.entry(*key).or_insert_with(|| {
                        Arc::new(Mutex::new(TxState::Pending { cancelled: false }))
                    });
                if !entry.is_fresh() {
                    // A retransmission: the same response or the same
                    // forwarded bytes again, or nothing while still deciding.
                    let state = entry.into_value();
                    let seen = Seen::of(&state);
                    return match seen {
                        Seen::Completed(bytes) => {
                            self.core.respond_again(request, bytes, source, transport)
                        }
                        Seen::Forwarded(forward) => {
                            let hop = Hop {
                                address: forward.address,
                                transport: forward.transport,
                            };
                            if let Err(error) = self.send(Arc::clone(&forward.bytes), hop).await {
                                tracing::debug!(%error, "retransmission not forwarded");
                            }
                            None
                        }
                        Seen::Pending => None,
                    };
                }
                Some((*key, entry.into_value()))
            }
            None => None,
        };
        let decision = self.core.decide(request, source, now).await;
        self.conclude(request, source, inbound, state, decision)
            .await
    }

    /// Forwards the INVITE with the decision's headers, or responds with the
    /// decision's response, and records which in the transaction table.
    async fn conclude(
        &self,
        request: &Request<'_>,
        source: SocketAddr,
        inbound: Inbound,
        state: Option<([u8; 32], Arc<Mutex<TxState>>)>,
        decision: Decision,
    ) -> Option<Outgoing> {
        let transport = inbound.transport;
        let cancelled = state.as_ref().is_some_and(|(_, state)| is_cancelled(state));
        let outcome = if cancelled {
            Err(self
                .core
                .respond(request, 487, "Request Terminated", &[], source, transport))
        } else if decision.code == 302 {
            match self
                .forward(request, source, inbound, None, &decision)
                .await
            {
                Ok(forward) => Ok(forward),
                Err(refusal) => {
                    self.log_refusal(request, source, &refusal.detail);
                    Err(self.core.respond(
                        request,
                        refusal.code,
                        refusal.reason,
                        &[],
                        source,
                        transport,
                    ))
                }
            }
        } else {
            Err(self
                .core
                .respond_decision(request, &decision, source, transport))
        };
        match outcome {
            Ok(forward) => {
                if let Some((key, state)) = state {
                    *lock(&state) = TxState::Forwarded(forward);
                    // Inserted again so that the table weighs the bytes it keeps.
                    self.core.transactions.insert(key, state);
                }
                None
            }
            Err(response) => {
                if let (Some((key, state)), Some(response)) = (state, &response) {
                    *lock(&state) = TxState::Completed(Arc::clone(&response.bytes));
                    self.core.transactions.insert(key, state);
                }
                response
            }
        }
    }

    async fn cancel(
        &self,
        request: &Request<'_>,
        source: SocketAddr,
        inbound: Inbound,
    ) -> Option<Outgoing> {
        let transport = inbound.transport;
        let state = RedirectServer::transaction_key(request, source)
            .and_then(|key| self.core.transactions.get(&key));
        let mut hop = None;
        if let Some(state) = &state {
            // A CANCEL of an INVITE not forwarded yet ends it with 487.
            if let TxState::Pending { cancelled } = &mut *lock(state) {
                *cancelled = true;
            }
            match Seen::of(state) {
                Seen::Pending | Seen::Completed(_) => {
                    return self
                        .core
                        .respond(request, 200, "OK", &[], source, transport);
                }
                Seen::Forwarded(forward) => {
                    hop = Some(Hop {
                        address: forward.address,
                        transport: forward.transport,
                    });
                }
            }
        }
        // The CANCEL follows its INVITE, with the same branch.
        match self
            .forward(request, source, inbound, hop, &Decision::pass())
            .await
        {
            Ok(_) => None,
            Err(refusal) => {
                self.log_refusal(request, source, &refusal.detail);
                self.core.respond(
                    request,
                    refusal.code,
                    refusal.reason,
                    &[],
                    source,
                    transport,
                )
            }
        }
    }

    /// Builds the request to forward, with the decision's headers, and sends
    /// it to `hop`, or to the hop its Route or Request-URI names.
    async fn forward(
        &self,
        request: &Request<'_>,
        source: SocketAddr,
        inbound: Inbound,
        hop: Option<Hop>,
        decision: &Decision,
    ) -> Result<Arc<Forward>, Refusal> {
        let hop = match hop {
            Some(hop) => hop,
            None => self.hop(request).await?,
        };
        if hop.address == self.udp.local_addr().unwrap_or(hop.address)
            && self.config.next_hop.is_none()
        {
            return Err(Refusal {
                code: 404,
                reason: "Not Found",
                detail: format!(
                    "the request names this proxy ({}) as its target and no next hop is configured",
                    hop.address
                ),
            });
        }

        let previous = top_via_with_received(&header(request, "Via").unwrap_or_default(), source);
        let connection = match inbound.transport {
            Transport::Udp => None,
            _ => inbound.connection,
        };
        let branch = self.branch(request, &previous, connection);
        let build = |transport: HopTransport| {
            Arc::new(self.build(request, transport, &branch, connection, source, decision))
        };

        let mut transport = hop.transport;
        let mut bytes = build(transport);
        let limit = self.config.mtu.saturating_sub(MTU_MARGIN);
        let large = transport == HopTransport::Udp && bytes.len() > limit;
        if large {
            transport = HopTransport::Tcp;
            bytes = build(transport);
            self.core.stats.large_over_tcp.fetch_add(1, Relaxed);
        }

        let over = |transport| Hop {
            address: hop.address,
            transport,
        };
        let mut sent = self.send(Arc::clone(&bytes), over(transport)).await;

        if large
            && let Err(error) = &sent
            && matches!(
                error.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
            )
        {
            // RFC 3261 section 18.1.1: a refused or reset connection for a
            // request sent over TCP because of its size is retried over UDP.
            tracing::info!(
                listener = %self.core.policy().name,
                hop = %hop.address,
                %error,
                bytes = bytes.len(),
                "large request sent over UDP: the hop refused TCP"
            );
            transport = HopTransport::Udp;
            bytes = build(transport);
            sent = self.send(Arc::clone(&bytes), over(transport)).await;
        }

        match sent {
            Ok(()) => {
                let counter = match transport {
                    HopTransport::Udp => &self.core.stats.forwarded_udp,
                    HopTransport::Tcp => &self.core.stats.forwarded_tcp,
                };
                counter.fetch_add(1, Relaxed);
                Ok(Arc::new(Forward {
                    bytes,
                    address: hop.address,
                    transport,
                }))
            }
            Err(error) => {
                self.core.stats.forward_failures.fetch_add(1, Relaxed);
                Err(Refusal {
                    code: 503,
                    reason: "Service Unavailable",
                    detail: format!(
                        "cannot send to the next hop {} over {}: {error}",
                        hop.address,
                        transport.token()
                    ),
                })
            }
        }
    }

    /// Returns the hop a request goes to: the configured next hop, else the
    /// top Route that is not this proxy's, else the Request-URI.
    async fn hop(&self, request: &Request<'_>) -> Result<Hop, Refusal> {
        if let Some((address, transport)) = self.config.next_hop {
            return Ok(Hop { address, transport });
        }
        let routes = self.routes_after_ours(request);
        let uri = match routes.first() {
            Some(route) => passport::tn::addr_spec(route).to_owned(),
            None => request.uri.to_owned(),
        };
        let target = SipTarget::parse(&uri).ok_or_else(|| Refusal {
            code: 416,
            reason: "Unsupported URI Scheme",
            detail: format!("cannot route to '{}': not a sip URI", excerpt(&uri)),
        })?;
        if target.tls {
            // TODO: TLS towards hops; this proxy opens TCP and UDP only.
            return Err(Refusal {
                code: 502,
                reason: "Bad Gateway",
                detail: format!(
                    "cannot route to '{}': this proxy does not open TLS connections",
                    excerpt(&uri)
                ),
            });
        }
        let port = target.port.unwrap_or(5060);
        let address = match target.host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port),
            Err(_) => {
                // TODO: NAPTR and SRV lookups (RFC 3263); names resolve to
                // their A or AAAA records at the URI's port.
                let lookup = tokio::net::lookup_host((target.host.as_str(), port));
                match tokio::time::timeout(self.config.connect_timeout, lookup).await {
                    Ok(Ok(mut addresses)) => addresses.next().ok_or_else(|| Refusal {
                        code: 503,
                        reason: "Service Unavailable",
                        detail: format!("{} has no address", excerpt(&target.host)),
                    })?,
                    _ => {
                        return Err(Refusal {
                            code: 503,
                            reason: "Service Unavailable",
                            detail: format!("cannot resolve {}", excerpt(&target.host)),
                        });
                    }
                }
            }
        };
        Ok(Hop {
            address,
            transport: target.transport,
        })
    }

    /// Returns the Route entries left once this proxy's own, on top, is
    /// removed (RFC 3261 section 16.4).
    fn routes_after_ours(&self, request: &Request<'_>) -> Vec<String> {
        let mut routes: Vec<String> = request
            .headers
            .get_all("Route")
            .flat_map(|route| split_entries(&route.unfolded()))
            .collect();
        if routes.first().is_some_and(|top| self.names_us(top)) {
            routes.remove(0);
        }
        routes
    }

    fn names_us(&self, route: &str) -> bool {
        SipTarget::parse(passport::tn::addr_spec(route)).is_some_and(|target| {
            let (host, port) = &self.config.advertise;
            target
                .host
                .eq_ignore_ascii_case(host.trim_start_matches('[').trim_end_matches(']'))
                && target.port.unwrap_or(5060) == *port
        })
    }

    /// Writes the request to forward: this proxy's Via on top, received and
    /// rport on the previous hop's Via, Max-Forwards one less, this proxy's
    /// Route removed, the decision's headers in place, and Content-Length
    /// set to the body.
    fn build(
        &self,
        request: &Request<'_>,
        transport: HopTransport,
        branch: &str,
        connection: Option<u64>,
        source: SocketAddr,
        decision: &Decision,
    ) -> Vec<u8> {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(request.body.len() + 2048);
        let _ = write!(out, "{} {} SIP/2.0\r\n", request.method, request.uri);
        let (host, port) = &self.config.advertise;
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let _ = write!(
            out,
            "Via: SIP/2.0/{} {host}:{port};branch={branch}",
            transport.token()
        );
        if let Some(id) = connection {
            let _ = write!(out, ";{CONNECTION_PARAM}={id}");
        }
        out.push_str("\r\n");

        let verifying = decision.verstat.is_some();
        let verifier = self.core.policy().role == crate::redirect::Role::Verify;
        let identity = decision
            .headers
            .iter()
            .find(|(name, _)| *name == "Identity")
            .map(|(_, value)| value.as_str());
        let replace_identity = (identity.is_some()
            && self.core.policy().existing_identity == crate::redirect::ExistingIdentity::Replace)
            || (verifying && self.core.policy().strip_identity);
        let mut first_via = true;
        let mut first_route = true;
        let mut wrote_max_forwards = false;
        let mut wrote_asserted = false;
        let routes_ours = self.config.next_hop.is_none()
            || request.headers.get("Route").is_some_and(|route| {
                split_entries(&route.unfolded())
                    .first()
                    .is_some_and(|top| self.names_us(top))
            });
        for field in request.headers.iter() {
            let name = field.canonical_name();
            match name {
                "Via" if first_via => {
                    first_via = false;
                    let value = top_via_with_received(&field.unfolded(), source);
                    let _ = write!(out, "{}: {value}\r\n", field.name);
                    continue;
                }
                "Max-Forwards" => {
                    let hops = field.value.trim().parse::<u8>().unwrap_or(70);
                    let _ = write!(out, "Max-Forwards: {}\r\n", hops.saturating_sub(1));
                    wrote_max_forwards = true;
                    continue;
                }
                "Route" if first_route => {
                    first_route = false;
                    let entries = split_entries(&field.unfolded());
                    if routes_ours && entries.first().is_some_and(|top| self.names_us(top)) {
                        if entries.len() > 1 {
                            let _ = write!(
                                out,
                                "{}: {}\r\n",
                                field.name,
                                entries.get(1..).unwrap_or_default().join(", ")
                            );
                        }
                        continue;
                    }
                }
                "Content-Length" => continue,
                "Identity" if replace_identity => continue,
                "P-Asserted-Identity" if verifying => {
                    // Only the identity this proxy verified, with its verstat,
                    // goes on: another could carry an upstream verstat.
                    if !wrote_asserted
                        && let Some((_, value)) = decision
                            .headers
                            .iter()
                            .find(|(name, _)| *name == "P-Asserted-Identity")
                    {
                        let _ = write!(out, "P-Asserted-Identity: {}\r\n", header_safe(value));
                        wrote_asserted = true;
                    }
                    continue;
                }
                "From" if verifying => {
                    if let Some(verstat) = decision.verstat {
                        let from = with_verstat(&field.unfolded(), verstat.as_str());
                        let _ = write!(out, "{}: {}\r\n", field.name, header_safe(&from));
                        continue;
                    }
                }
                "From" | "P-Asserted-Identity" if verifier => {
                    // A verifying proxy passes no upstream verstat, on any
                    // request.
                    let value = without_verstat(&field.unfolded());
                    let _ = write!(out, "{}: {}\r\n", field.name, header_safe(&value));
                    continue;
                }
                "P-Attestation-Indicator" | "P-Origination-ID" if verifying || verifier => continue,
                _ => {}
            }
            let _ = write!(out, "{}: {}\r\n", field.name, field.value);
        }
        if !wrote_max_forwards {
            // RFC 3261 section 16.6, step 3: a request without Max-Forwards
            // gets one, 70.
            out.push_str("Max-Forwards: 70\r\n");
        }
        // RFC 8224 section 6.1: the authentication service adds a Date when
        // none is present, the time of the PASSporT's iat.
        if let Some(iat) = decision.iat
            && request.headers.get("Date").is_none()
        {
            let time =
                std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(iat).unwrap_or_default());
            let _ = write!(out, "Date: {}\r\n", httpdate::fmt_http_date(time));
        }
        for (name, value) in &decision.headers {
            let add = match *name {
                "Identity" => true,
                "P-Attestation-Indicator" | "P-Origination-ID" | "Reason" => verifying,
                _ => false,
            };
            if add {
                let _ = write!(out, "{name}: {}\r\n", header_safe(value));
            }
        }
        let _ = write!(out, "Content-Length: {}\r\n\r\n", request.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(request.body);
        bytes
    }

    /// Returns the branch of this proxy's Via for a request whose previous hop
    /// Via, once received and rport are added, is `previous`.
    fn branch(&self, request: &Request<'_>, previous: &str, connection: Option<u64>) -> String {
        let loop_part = self.loop_part(request);
        let previous = parse_via(previous)
            .ok()
            .and_then(|vias| vias.into_iter().next())
            .map(|via| canonical_via(&via))
            .unwrap_or_default();
        format!(
            "{COOKIE}{loop_part}.{}",
            self.transaction_part(&loop_part, &previous, connection)
        )
    }

    /// Returns the part of the branch that stays the same on every hop
    /// through this proxy: a MAC of the Request-URI, From tag, Call-ID and
    /// CSeq number. RFC 3261 section 16.6, step 8, also names the To tag,
    /// which is left out because the ACK of a failure adds one.
    fn loop_part(&self, request: &Request<'_>) -> String {
        let from_tag = header(request, "From")
            .map(|from| tag_param(&from).unwrap_or_default().to_owned())
            .unwrap_or_default();
        let cseq = header(request, "CSeq")
            .and_then(|cseq| parse_cseq(&cseq).ok().map(|(number, _)| number))
            .unwrap_or(0);
        let call_id = header(request, "Call-ID").unwrap_or_default();
        let material = format!("L|{}|{from_tag}|{call_id}|{cseq}", request.uri);
        hex(hmac::sign(&self.key, material.as_bytes()).as_ref(), 8)
    }

    fn transaction_part(&self, loop_part: &str, previous: &str, connection: Option<u64>) -> String {
        let material = format!("T|{loop_part}|{previous}|{}", connection.unwrap_or(0));
        hex(hmac::sign(&self.key, material.as_bytes()).as_ref(), 8)
    }

    /// Sends a message to a hop: over UDP from the listener's socket, or over
    /// the TCP connection this proxy has open to it, opened when none is.
    async fn send(&self, bytes: Arc<Vec<u8>>, hop: Hop) -> std::io::Result<()> {
        match hop.transport {
            HopTransport::Udp => self.udp.send_to(&bytes, hop.address).await.map(|_| ()),
            HopTransport::Tcp => {
                let sender = self.stream_to(hop.address).await?;
                self.write(&sender, bytes, hop.address).await
            }
        }
    }

    async fn write(
        &self,
        sender: &mpsc::Sender<Arc<Vec<u8>>>,
        bytes: Arc<Vec<u8>>,
        peer: SocketAddr,
    ) -> std::io::Result<()> {
        match tokio::time::timeout(self.limits.write, sender.send(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                format!("the connection to {peer} closed"),
            )),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the connection to {peer} does not take more messages"),
            )),
        }
    }

    /// Returns the connection this proxy has open to `peer`, opening one
    /// when none is; one attempt at a time per peer.
    async fn stream_to(&self, peer: SocketAddr) -> std::io::Result<mpsc::Sender<Arc<Vec<u8>>>> {
        if let Some(sender) = self.connections.outbound(peer) {
            return Ok(sender);
        }
        self.recently_failed(peer)?;
        let gate = self
            .connecting
            .get_with(peer, || Arc::new(tokio::sync::Mutex::new(())));
        let Ok(_turn) = tokio::time::timeout(self.config.connect_timeout, gate.lock()).await else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("a connection to {peer} is still being opened"),
            ));
        };
        if let Some(sender) = self.connections.outbound(peer) {
            return Ok(sender);
        }
        self.recently_failed(peer)?;
        // Connections peers open do not count: they cannot use up the
        // connections this proxy needs for its own hops.
        if self.connections.outbound_len() >= self.limits.connections {
            return Err(std::io::Error::other(format!(
                "{} connections to hops are open, the limit",
                self.limits.connections
            )));
        }
        let Some(this) = self.this.upgrade() else {
            return Err(std::io::Error::other("the proxy is stopping"));
        };
        let shared = Shared {
            server: this,
            limits: self.limits,
            in_flight: Arc::clone(&self.in_flight),
            log_limit: Arc::clone(&self.log_limit),
        };
        match connect(peer, self.config.connect_timeout, shared).await {
            Ok(sender) => Ok(sender),
            Err(error) => {
                self.failed.insert(peer, error.kind());
                Err(error)
            }
        }
    }

    /// Fails with the kind of the last error when a connection to `peer`
    /// failed within [`FAILED_CONNECT_MEMORY`].
    fn recently_failed(&self, peer: SocketAddr) -> std::io::Result<()> {
        match self.failed.get(&peer) {
            Some(kind) => Err(std::io::Error::new(
                kind,
                format!(
                    "a connection to {peer} failed less than {} s ago",
                    FAILED_CONNECT_MEMORY.as_secs()
                ),
            )),
            None => Ok(()),
        }
    }

    /// Relays a response to the previous hop when its top Via is this
    /// proxy's and its MAC is valid (RFC 3261 section 16.11). Otherwise the
    /// response is dropped.
    async fn relay(&self, response: &Response<'_>, source: SocketAddr) {
        if let Err(error) = crate::check_response(response) {
            return self.drop_response(response, source, &format!("malformed: {error}"));
        }
        let values: Vec<String> = response
            .headers
            .get_all("Via")
            .map(|via| via.unfolded().into_owned())
            .collect();
        let mut entries = Vec::new();
        for value in &values {
            match parse_via(value) {
                Ok(vias) => entries.extend(vias),
                Err(_) => return self.drop_response(response, source, "a Via does not parse"),
            }
        }
        let (Some(top), Some(next)) = (entries.first(), entries.get(1)) else {
            return self.drop_response(response, source, "fewer than two Via entries");
        };
        if !self.is_ours(top) {
            return self.drop_response(response, source, "the top Via is not this proxy's");
        }
        let connection = top
            .params
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(CONNECTION_PARAM))
            .and_then(|(_, value)| value.and_then(|v| v.parse::<u64>().ok()));
        let authentic = top
            .branch
            .and_then(|branch| branch.strip_prefix(COOKIE))
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(loop_part, mac)| {
                let expected = self.transaction_part(loop_part, &canonical_via(next), connection);
                aws_lc_rs::constant_time::verify_slices_are_equal(
                    expected.as_bytes(),
                    mac.as_bytes(),
                )
                .is_ok()
            });
        if !authentic {
            return self.drop_response(
                response,
                source,
                "the top Via's branch was not made by this proxy for the next Via",
            );
        }
        let bytes = Arc::new(without_top_via(response));
        let result = if next.transport.eq_ignore_ascii_case("UDP") {
            match via_address(next, true) {
                Some(address) => self.udp.send_to(&bytes, address).await.map(|_| ()),
                None => {
                    return self.drop_response(response, source, "the next Via has no address");
                }
            }
        } else if let Some(sender) = connection.and_then(|id| self.connections.get(id)) {
            self.write(&sender, bytes, source).await
        } else if next.transport.eq_ignore_ascii_case("TCP") {
            // The connection closed: RFC 3261 section 18.2.2 opens a new one
            // to the received address and the sent-by port.
            match via_address(next, false) {
                Some(address) => match self.stream_to(address).await {
                    Ok(sender) => self.write(&sender, bytes, address).await,
                    Err(error) => Err(error),
                },
                None => {
                    return self.drop_response(response, source, "the next Via has no address");
                }
            }
        } else {
            return self.drop_response(
                response,
                source,
                "the caller's connection closed and its transport is not TCP",
            );
        };
        match result {
            Ok(()) => {
                self.core.stats.responses_relayed.fetch_add(1, Relaxed);
            }
            Err(error) => {
                self.drop_response(response, source, &format!("cannot be sent: {error}"));
            }
        }
    }

    fn drop_response(&self, response: &Response<'_>, source: SocketAddr, rule: &str) {
        self.core.stats.responses_dropped.fetch_add(1, Relaxed);
        if let Some(suppressed) = self.core.log_limit.allow() {
            tracing::warn!(
                listener = %self.core.policy().name,
                %source,
                code = response.code,
                call_id = response
                    .headers
                    .get("Call-ID")
                    .map(|h| header_safe(&h.unfolded()).into_owned())
                    .unwrap_or_default(),
                suppressed,
                "response dropped: {rule}"
            );
        }
    }

    fn log_refusal(&self, request: &Request<'_>, source: SocketAddr, detail: &str) {
        if let Some(suppressed) = self.core.log_limit.allow() {
            tracing::warn!(
                listener = %self.core.policy().name,
                %source,
                method = request.method,
                call_id = header(request, "Call-ID").unwrap_or_default(),
                suppressed,
                "request not forwarded: {detail}"
            );
        }
    }
}

impl Handler for ProxyServer {
    fn handle<'a>(
        &'a self,
        bytes: &'a [u8],
        source: SocketAddr,
        inbound: Inbound,
        now: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Outgoing>> + Send + 'a>> {
        Box::pin(ProxyServer::handle(self, bytes, source, inbound, now))
    }

    fn name(&self) -> &str {
        &self.core.policy().name
    }

    fn connections(&self) -> Option<&Connections> {
        Some(&self.connections)
    }

    fn accepts(&self, peer: IpAddr) -> bool {
        self.config
            .next_hop
            .is_some_and(|(hop, _)| hop.ip() == peer)
            || self
                .core
                .policy()
                .allow_sources
                .iter()
                .any(|network| network_contains(network, peer))
    }

    fn stats(&self) -> Option<&crate::redirect::ListenerStats> {
        Some(self.core.stats())
    }
}

fn is_cancelled(state: &Mutex<TxState>) -> bool {
    matches!(&*lock(state), TxState::Pending { cancelled: true })
}

/// A copy of a transaction's state, taken so no lock is held across an
/// await.
enum Seen {
    Pending,
    Completed(Arc<Vec<u8>>),
    Forwarded(Arc<Forward>),
}

impl Seen {
    fn of(state: &Mutex<TxState>) -> Seen {
        match &*lock(state) {
            TxState::Pending { .. } => Seen::Pending,
            TxState::Completed(bytes) => Seen::Completed(Arc::clone(bytes)),
            TxState::Forwarded(forward) => Seen::Forwarded(Arc::clone(forward)),
        }
    }
}

impl Decision {
    /// Returns the decision for a request forwarded unchanged.
    fn pass() -> Decision {
        Decision {
            code: 302,
            reason: "Moved Temporarily",
            headers: Vec::new(),
            verstat: None,
            iat: None,
        }
    }
}

/// The parts of a sip or sips URI that name a hop.
#[derive(Debug)]
struct SipTarget {
    host: String,
    port: Option<u16>,
    transport: HopTransport,
    tls: bool,
}

impl SipTarget {
    fn parse(uri: &str) -> Option<SipTarget> {
        let lower = uri.to_ascii_lowercase();
        let (rest, mut tls) = if let Some(rest) = lower.strip_prefix("sips:") {
            (rest, true)
        } else {
            (lower.strip_prefix("sip:")?, false)
        };
        // Headers after '?' and parameters after ';' follow the host part.
        let rest = rest.split('?').next().unwrap_or_default();
        let mut parts = rest.split(';');
        let hostport = parts.next().unwrap_or_default();
        let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);

        let mut transport = HopTransport::Udp;
        for param in parts {
            match param.split_once('=') {
                Some(("transport", "tcp")) => transport = HopTransport::Tcp,
                Some(("transport", "tls")) => tls = true,
                Some(("transport", "udp")) | None | Some(_) => {}
            }
        }

        let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(port) => Some(port.parse().ok()?),
                None => None,
            };
            (host.to_owned(), port)
        } else {
            match hostport.split_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port.parse().ok()?)),
                None => (hostport.to_owned(), None),
            }
        };

        if host.is_empty() {
            return None;
        }
        Some(SipTarget {
            host,
            port,
            transport,
            tls,
        })
    }
}

/// Writes the fields of a Via that a downstream element copies into its
/// responses, in a form that does not depend on spacing or letter case.
fn canonical_via(via: &Via<'_>) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}",
        via.transport.to_ascii_uppercase(),
        via.host.to_ascii_lowercase(),
        via.port.unwrap_or(0),
        via.branch.unwrap_or_default(),
        via.received.unwrap_or_default(),
        match via.rport {
            Some(Some(port)) => port.to_string(),
            Some(None) => "-".to_owned(),
            None => String::new(),
        }
    )
}

/// Returns the address a response goes to for a Via (RFC 3261 section
/// 18.2.2, RFC 3581). The host is the received address, else the sent-by
/// host. The port is the rport for UDP when filled in, else the sent-by port.
fn via_address(via: &Via<'_>, udp: bool) -> Option<SocketAddr> {
    let ip: IpAddr = via.received.unwrap_or(via.host).parse().ok()?;
    let port = match via.rport {
        Some(Some(port)) if udp => port,
        _ => via.port.unwrap_or(5060),
    };
    Some(SocketAddr::new(ip, port))
}

/// Writes a response without its top Via entry, with Content-Length set to
/// its body.
fn without_top_via(response: &Response<'_>) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(response.body.len() + 1024);
    let _ = write!(out, "SIP/2.0 {} {}\r\n", response.code, response.reason);
    let mut first_via = true;
    for field in response.headers.iter() {
        match field.canonical_name() {
            "Via" if first_via => {
                first_via = false;
                let entries = split_entries(&field.unfolded());
                if entries.len() > 1 {
                    let _ = write!(
                        out,
                        "{}: {}\r\n",
                        field.name,
                        entries.get(1..).unwrap_or_default().join(", ")
                    );
                }
            }
            "Content-Length" => {}
            _ => {
                let _ = write!(out, "{}: {}\r\n", field.name, field.value);
            }
        }
    }
    let _ = write!(out, "Content-Length: {}\r\n\r\n", response.body.len());
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(response.body);
    bytes
}

/// Splits a header value into its comma-separated entries, ignoring commas
/// inside quotes and angle brackets.
fn split_entries(value: &str) -> Vec<String> {
    let mut entries = Vec::new();
    let mut rest = Some(value);
    while let Some(text) = rest {
        let (first, more) = split_first_entry(text);
        if !first.is_empty() {
            entries.push(first.to_owned());
        }
        rest = more;
    }
    entries
}

fn hex(bytes: &[u8], count: usize) -> String {
    bytes
        .iter()
        .take(count)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn excerpt(value: &str) -> String {
    header_safe(value).chars().take(80).collect()
}

/// A key for when the system's random generator fails, which it does not on
/// any system stird runs on: the time and the process id, so the proxy still
/// starts.
fn random_fallback() -> Vec<u8> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos}|{}", std::process::id()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_targets_parse() {
        let target = SipTarget::parse("sip:+12025550101@192.0.2.7:5070;transport=tcp").unwrap();
        assert_eq!(
            (
                target.host.as_str(),
                target.port,
                target.transport,
                target.tls
            ),
            ("192.0.2.7", Some(5070), HopTransport::Tcp, false)
        );
        let target = SipTarget::parse("sips:[2001:db8::1]:5061").unwrap();
        assert_eq!(
            (target.host.as_str(), target.port, target.tls),
            ("2001:db8::1", Some(5061), true)
        );
        let target = SipTarget::parse("sip:proxy.example.net;lr").unwrap();
        assert_eq!(
            (target.host.as_str(), target.port),
            ("proxy.example.net", None)
        );
        assert!(SipTarget::parse("tel:+12025550101").is_none());
        assert!(SipTarget::parse("sip:user@host:notaport").is_none());
    }

    #[test]
    fn entries_split_outside_quotes_and_brackets() {
        assert_eq!(
            split_entries(r#""Smith, J" <sip:a@b;x=1,2>, <sip:c@d>"#),
            vec![
                r#""Smith, J" <sip:a@b;x=1,2>"#.to_owned(),
                "<sip:c@d>".to_owned()
            ]
        );
        assert_eq!(
            split_entries(" a , b "),
            vec!["a".to_owned(), "b".to_owned()]
        );
    }

    #[test]
    fn tags_are_found_after_the_uri() {
        assert_eq!(tag_param("<sip:a@b;tag=uri>;tag=abc"), Some("abc"));
        assert_eq!(tag_param("sip:a@b;TAG=x"), Some("x"));
        assert_eq!(tag_param("<sip:a@b>"), None);
    }
}
