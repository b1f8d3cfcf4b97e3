//! SIP transports: UDP, TCP and TLS listeners feeding a [`Handler`], such as
//! the redirect server or the stateless proxy.
//!
//! Every message is handled in its own task, so a verification waiting for a
//! certificate never holds up the socket loop or another call. Each listener
//! bounds the requests in flight, the connections open, the message size and
//! how long an idle connection stays open. Stream connections are entered in
//! a [`Connections`] table while open, so a proxy can send a response back on
//! the connection its request came in on, and can reuse the connections it
//! opened itself.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{Semaphore, mpsc};

use crate::redirect::{LogLimiter, Outgoing, Transport};
use crate::{MAX_MESSAGE_BYTES, frame, is_keepalive};

/// The origin of a message: its transport and, for TCP and TLS, the
/// connection's number in the handler's [`Connections`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inbound {
    /// The transport.
    pub transport: Transport,
    /// The connection, for a stream transport whose handler keeps a table.
    pub connection: Option<u64>,
}

/// The front end a listener feeds: it handles one message and returns the
/// response to send back the way the message came, if any.
pub trait Handler: Send + Sync + 'static {
    /// Handles one message received from `source`.
    fn handle<'a>(
        &'a self,
        bytes: &'a [u8],
        source: SocketAddr,
        inbound: Inbound,
        now: i64,
    ) -> Pin<Box<dyn Future<Output = Option<Outgoing>> + Send + 'a>>;

    /// Returns the listener's name, for logs.
    fn name(&self) -> &str;

    /// Returns the listener's counters.
    fn stats(&self) -> Option<&crate::redirect::ListenerStats> {
        None
    }

    /// Returns false for a peer whose connections are closed at once. A
    /// proxy keeps its connections for its allowed sources and hops.
    fn accepts(&self, _peer: IpAddr) -> bool {
        true
    }

    /// The table stream connections are entered in, for a handler that sends
    /// on connections other than the one a message came in on.
    fn connections(&self) -> Option<&Connections> {
        None
    }
}

/// The sending side of a stream connection: each message put in it is written
/// in turn.
pub type Writer = mpsc::Sender<Arc<Vec<u8>>>;

/// The stream connections of a listener that are open, by number, and the
/// connections it opened itself, by peer address.
#[derive(Debug, Default)]
pub struct Connections {
    next: AtomicU64,
    open: Mutex<HashMap<u64, (SocketAddr, Writer)>>,
    outbound: Mutex<HashMap<SocketAddr, u64>>,
}

impl Connections {
    /// Enters a connection and returns its number.
    fn register(
        &self,
        peer: SocketAddr,
        sender: mpsc::Sender<Arc<Vec<u8>>>,
        outbound: bool,
    ) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.open).insert(id, (peer, sender));
        if outbound {
            lock(&self.outbound).insert(peer, id);
        }
        id
    }

    fn remove(&self, id: u64) {
        if let Some((peer, _)) = lock(&self.open).remove(&id) {
            let mut outbound = lock(&self.outbound);
            if outbound.get(&peer) == Some(&id) {
                outbound.remove(&peer);
            }
        }
    }

    /// Returns the sender of connection `id` while it is open.
    pub fn get(&self, id: u64) -> Option<mpsc::Sender<Arc<Vec<u8>>>> {
        lock(&self.open).get(&id).map(|(_, sender)| sender.clone())
    }

    /// Returns the sender of the open connection this listener made to `peer`.
    pub fn outbound(&self, peer: SocketAddr) -> Option<mpsc::Sender<Arc<Vec<u8>>>> {
        let id = *lock(&self.outbound).get(&peer)?;
        self.get(id)
    }

    /// Returns the number of open connections this listener made.
    pub fn outbound_len(&self) -> usize {
        lock(&self.outbound).len()
    }

    /// Returns the number of open connections.
    pub fn len(&self) -> usize {
        lock(&self.open).len()
    }

    /// Returns true when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Bounds of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests being handled at once; over UDP further datagrams are dropped
    /// (the client retransmits), over TCP reading pauses.
    pub in_flight: usize,
    /// Connections open at once; further connections are closed at once.
    pub connections: usize,
    /// A connection with no complete message for this long is closed.
    pub idle: Duration,
    /// Time allowed for a TLS handshake.
    pub handshake: Duration,
    /// Connections open at once from one address.
    pub per_source: usize,
    /// Requests of one connection being handled at once; reading from that
    /// connection pauses beyond it.
    pub per_connection: usize,
    /// Time a message may take to arrive once its first byte has.
    pub message: Duration,
    /// Time a response may take to be written before the connection is closed.
    pub write: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            in_flight: 10_000,
            connections: 1_024,
            idle: Duration::from_secs(120),
            handshake: Duration::from_secs(10),
            per_source: 64,
            per_connection: 64,
            message: Duration::from_secs(30),
            write: Duration::from_secs(10),
        }
    }
}

/// The receive buffer asked for on each UDP socket, in bytes: about 10,000
/// INVITEs of 400 bytes.
pub const UDP_RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

/// Returns the time of each request's verification, in Unix seconds.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Methods whose handling time is reported under their own name; every other
/// request counts as `other`.
const TIMED_METHODS: [&str; 6] = ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "other"];

/// The metrics of one listener's messages on one transport, registered once
/// per UDP reader or stream connection so that each message costs atomic
/// operations only.
///
/// - `stird_sip_messages_received_total{listener, transport, kind}`: requests
///   and responses handed to the listener.
/// - `stird_sip_messages_sent_total{listener, transport}`: responses the
///   listener sent back the way a message came. A proxy's forwarding is
///   counted by the proxy.
/// - `stird_sip_request_duration_seconds{listener, method}`: from a request's
///   arrival until the listener responds or forwards it, fetches included.
#[derive(Clone)]
struct Meters {
    requests: metrics::Counter,
    responses: metrics::Counter,
    sent: metrics::Counter,
    durations: [metrics::Histogram; TIMED_METHODS.len()],
}

impl Meters {
    fn new(listener: &str, transport: Transport) -> Self {
        let transport = match transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        };
        let received = |kind: &'static str| {
            metrics::counter!(
                "stird_sip_messages_received_total",
                "listener" => listener.to_owned(),
                "transport" => transport,
                "kind" => kind
            )
        };
        Meters {
            requests: received("request"),
            responses: received("response"),
            sent: metrics::counter!(
                "stird_sip_messages_sent_total",
                "listener" => listener.to_owned(),
                "transport" => transport
            ),
            durations: TIMED_METHODS.map(|method| {
                metrics::histogram!(
                    "stird_sip_request_duration_seconds",
                    "listener" => listener.to_owned(),
                    "method" => method
                )
            }),
        }
    }

    /// Hands `message` to `server`, counting it and timing a request.
    async fn handle(
        &self,
        server: &dyn Handler,
        message: &[u8],
        peer: SocketAddr,
        inbound: Inbound,
    ) -> Option<Outgoing> {
        if message.starts_with(b"SIP/2.0 ") {
            self.responses.increment(1);
            return server.handle(message, peer, inbound, now()).await;
        }
        self.requests.increment(1);
        let method = message.split(|&b| b == b' ').next().unwrap_or_default();
        let slot = TIMED_METHODS
            .iter()
            .position(|known| known.as_bytes() == method)
            .unwrap_or(TIMED_METHODS.len() - 1);
        let started = std::time::Instant::now();
        let outgoing = server.handle(message, peer, inbound, now()).await;
        if let Some(histogram) = self.durations.get(slot) {
            histogram.record(started.elapsed().as_secs_f64());
        }
        outgoing
    }
}

/// Serves SIP over UDP on `socket` until the task is dropped, with one reader
/// task per core.
pub async fn serve_udp(socket: Arc<UdpSocket>, server: Arc<dyn Handler>, limits: Limits) {
    // A burst waits in the kernel's buffer rather than being dropped there;
    // the kernel caps the size at net.core.rmem_max.
    let buffer = socket2::SockRef::from(&*socket);
    if let Err(error) = buffer.set_recv_buffer_size(UDP_RECEIVE_BUFFER) {
        tracing::warn!(listener = %server.name(), %error, "cannot enlarge the UDP receive buffer");
    }
    tracing::debug!(
        listener = %server.name(),
        bytes = buffer.recv_buffer_size().unwrap_or(0),
        "UDP receive buffer"
    );
    let permits = Arc::new(Semaphore::new(limits.in_flight.max(1)));
    // Every reader waits on the same socket, so one datagram may wake more
    // than one. On 2 cores at 1,000 calls/s the second reader cost about 5% of
    // CPU per call, within the spread of the runs (BENCHMARKS.md).
    let readers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 1..readers {
        tasks.spawn(udp_reader(
            Arc::clone(&socket),
            Arc::clone(&server),
            Arc::clone(&permits),
        ));
    }
    udp_reader(socket, server, permits).await;
}

async fn udp_reader(socket: Arc<UdpSocket>, server: Arc<dyn Handler>, permits: Arc<Semaphore>) {
    let mut buffer = vec![0u8; MAX_MESSAGE_BYTES + 1];
    let mut dropped: u64 = 0;
    let meters = Meters::new(server.name(), Transport::Udp);
    loop {
        let (length, source) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                // ICMP errors from earlier sends surface here on some systems.
                tracing::debug!(%error, "UDP receive failed");
                continue;
            }
        };
        let Some(datagram) = buffer.get(..length) else {
            continue;
        };
        if length > MAX_MESSAGE_BYTES || is_keepalive(datagram) {
            continue;
        }
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            dropped += 1;
            if dropped.is_power_of_two() {
                tracing::warn!(listener = %server.name(), dropped, "UDP requests dropped: too many in flight");
            }
            continue;
        };
        let datagram = datagram.to_vec();
        let (socket, server, meters) = (Arc::clone(&socket), Arc::clone(&server), meters.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let inbound = Inbound {
                transport: Transport::Udp,
                connection: None,
            };
            if let Some(outgoing) = meters.handle(&*server, &datagram, source, inbound).await {
                match socket.send_to(&outgoing.bytes, outgoing.destination).await {
                    Ok(_) => meters.sent.increment(1),
                    Err(error) => {
                        tracing::warn!(destination = %outgoing.destination, %error, "UDP send failed")
                    }
                }
            }
        });
    }
}

/// Serves SIP over TCP, or TLS when `tls` is given, on `listener`.
pub async fn serve_stream(
    listener: TcpListener,
    server: Arc<dyn Handler>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
) {
    let connections = Arc::new(Semaphore::new(limits.connections.max(1)));
    let in_flight = Arc::new(Semaphore::new(limits.in_flight.max(1)));
    let per_source: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let log_limit = Arc::new(LogLimiter::default());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if !server.accepts(peer.ip()) {
            if let Some(suppressed) = log_limit.allow() {
                tracing::warn!(listener = %server.name(), %peer, suppressed, "connection closed: the source is not allowed");
            }
            continue;
        }
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            if let Some(suppressed) = log_limit.allow() {
                tracing::warn!(listener = %server.name(), %peer, suppressed, "connection closed: too many open");
            }
            continue;
        };
        let Some(source_slot) = SourceSlot::take(&per_source, peer.ip(), limits.per_source) else {
            if let Some(suppressed) = log_limit.allow() {
                tracing::warn!(listener = %server.name(), %peer, suppressed, "connection closed: too many open from this address");
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (server, tls, in_flight, log_limit) = (
            Arc::clone(&server),
            tls.clone(),
            Arc::clone(&in_flight),
            Arc::clone(&log_limit),
        );
        tokio::spawn(async move {
            let _permit = permit;
            let _source_slot = source_slot;
            let shared = Shared {
                server,
                limits,
                in_flight,
                log_limit,
            };
            match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(limits.handshake, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => inbound(stream, peer, Transport::Tls, shared).await,
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => inbound(stream, peer, Transport::Tcp, shared).await,
            }
        });
    }
}

/// The state every connection of a listener shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) server: Arc<dyn Handler>,
    pub(crate) limits: Limits,
    pub(crate) in_flight: Arc<Semaphore>,
    pub(crate) log_limit: Arc<LogLimiter>,
}

/// Opens a TCP connection to `peer` within `timeout`, enters it in the
/// handler's table as an outbound connection, and reads the messages that
/// come back on it (responses, and requests the peer sends on it) into the
/// handler. Returns the sender that writes on it.
pub(crate) async fn connect(
    peer: SocketAddr,
    timeout: Duration,
    shared: Shared,
) -> std::io::Result<mpsc::Sender<Arc<Vec<u8>>>> {
    let stream = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(peer)).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no TCP connection to {peer} within {timeout:?}"),
            ));
        }
    };
    let _ = stream.set_nodelay(true);
    let (sender, receiver) = mpsc::channel(shared.limits.per_connection.max(1));
    let id = shared
        .server
        .connections()
        .map(|table| table.register(peer, sender.clone(), true));
    tokio::spawn(connection(
        stream,
        peer,
        Transport::Tcp,
        shared,
        (sender.clone(), receiver, id),
    ));
    Ok(sender)
}

/// One of an address's connection slots, given back when dropped.
struct SourceSlot {
    table: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl SourceSlot {
    fn take(
        table: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        address: IpAddr,
        max: usize,
    ) -> Option<SourceSlot> {
        let mut counts = match table.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let count = counts.entry(address).or_insert(0);
        if *count >= max.max(1) {
            return None;
        }
        *count += 1;
        Some(SourceSlot {
            table: Arc::clone(table),
            address,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut counts = match self.table.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(count) = counts.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// Serves a connection a peer opened.
async fn inbound<S>(stream: S, peer: SocketAddr, transport: Transport, shared: Shared)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(shared.limits.per_connection.max(1));
    let id = shared
        .server
        .connections()
        .map(|table| table.register(peer, sender.clone(), false));
    connection(stream, peer, transport, shared, (sender, receiver, id)).await;
}

/// The sender and receiver of a connection's outgoing messages, and its
/// number in the handler's table.
type Channel = (
    mpsc::Sender<Arc<Vec<u8>>>,
    mpsc::Receiver<Arc<Vec<u8>>>,
    Option<u64>,
);

async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    transport: Transport,
    shared: Shared,
    (sender, mut receiver, id): Channel,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Shared {
        server,
        limits,
        in_flight,
        log_limit,
    } = shared;
    // Removes the connection from the table however this function ends.
    let _entry = Entry {
        server: Arc::clone(&server),
        id,
    };
    let (mut reader, mut writer) = tokio::io::split(stream);
    // Messages leave through one writer task, in the order they are ready. A
    // peer that stops reading is disconnected after the write timeout.
    let write_limit = limits.write;
    let writer_task = tokio::spawn(async move {
        while let Some(bytes) = receiver.recv().await {
            match tokio::time::timeout(write_limit, writer.write_all(&bytes)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                Err(_) => {
                    tracing::debug!(%peer, "closing a connection that does not read its responses");
                    break;
                }
            }
        }
        let _ = writer.shutdown().await;
    });

    // Requests of this connection being handled: one connection cannot take
    // the listener's whole in-flight budget.
    let own = Arc::new(Semaphore::new(limits.per_connection.max(1)));
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut message_started: Option<tokio::time::Instant> = None;
    let meters = Meters::new(server.name(), transport);
    'read: loop {
        // Hand every complete message to its own task.
        loop {
            match frame(&buffer) {
                Ok(Some(length)) => {
                    let message: Vec<u8> = buffer.drain(..length).collect();
                    message_started = None;
                    if is_keepalive(&message) {
                        continue;
                    }
                    if writer_task.is_finished() {
                        break 'read;
                    }
                    let Ok(own_permit) = Arc::clone(&own).acquire_owned().await else {
                        break 'read;
                    };
                    let Ok(Ok(permit)) =
                        tokio::time::timeout(limits.write, Arc::clone(&in_flight).acquire_owned())
                            .await
                    else {
                        if let Some(suppressed) = log_limit.allow() {
                            tracing::warn!(%peer, suppressed, "request dropped: too many in flight");
                        }
                        continue;
                    };
                    let (server, sender, meters) =
                        (Arc::clone(&server), sender.clone(), meters.clone());
                    tokio::spawn(async move {
                        let _permits = (permit, own_permit);
                        let inbound = Inbound {
                            transport,
                            connection: id,
                        };
                        if let Some(outgoing) =
                            meters.handle(&*server, &message, peer, inbound).await
                            && sender.send(outgoing.bytes).await.is_ok()
                        {
                            meters.sent.increment(1);
                        }
                    });
                }
                Ok(None) => break,
                Err(error) => {
                    // A stream that cannot be framed cannot be resynchronised.
                    if let Some(suppressed) = log_limit.allow() {
                        tracing::warn!(%peer, %error, suppressed, "closing a connection whose message cannot be framed");
                    }
                    break 'read;
                }
            }
        }
        if !buffer.is_empty() && message_started.is_none() {
            message_started = Some(tokio::time::Instant::now());
        }
        // An idle connection gets the idle timeout; a message that has begun
        // must be complete within the message timeout, however it trickles.
        let wait = match message_started {
            Some(started) => limits.message.saturating_sub(started.elapsed()),
            None => limits.idle,
        };
        match tokio::time::timeout(wait, reader.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => buffer.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(_) => {
                tracing::debug!(%peer, "closing an idle or trickling connection");
                break;
            }
        }
        if buffer.len() > MAX_MESSAGE_BYTES * 2 {
            break;
        }
    }
    drop(_entry);
    drop(sender);
    // The writer ends once every sender is gone. One held by a task that
    // waits on a full queue is released after the write timeout.
    let _ = tokio::time::timeout(limits.write, writer_task).await;
}

/// A connection's place in its handler's table, removed when dropped.
struct Entry {
    server: Arc<dyn Handler>,
    id: Option<u64>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let (Some(table), Some(id)) = (self.server.connections(), self.id) {
            table.remove(id);
        }
    }
}
