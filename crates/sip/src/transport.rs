//! SIP transports: UDP, TCP and TLS listeners feeding a [`RedirectServer`].
//!
//! Every request is handled in its own task, so a verification waiting for a
//! certificate never holds up the socket loop or another call. Each listener
//! bounds the requests in flight, the connections open, the message size and
//! how long an idle connection stays open.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{Semaphore, mpsc};

use crate::redirect::{LogLimiter, RedirectServer, Transport};
use crate::{MAX_MESSAGE_BYTES, frame, is_keepalive};

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

/// Returns the time of each request's verification, in Unix seconds.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Serves SIP over UDP on `socket` until the task is dropped.
pub async fn serve_udp(socket: Arc<UdpSocket>, server: Arc<RedirectServer>, limits: Limits) {
    let permits = Arc::new(Semaphore::new(limits.in_flight.max(1)));
    let mut buffer = vec![0u8; MAX_MESSAGE_BYTES + 1];
    let mut dropped: u64 = 0;
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
                tracing::warn!(listener = %server.policy().name, dropped, "UDP requests dropped: too many in flight");
            }
            continue;
        };
        let datagram = datagram.to_vec();
        let (socket, server) = (Arc::clone(&socket), Arc::clone(&server));
        tokio::spawn(async move {
            let _permit = permit;
            if let Some(outgoing) = server
                .handle(&datagram, source, Transport::Udp, now())
                .await
                && let Err(error) = socket.send_to(&outgoing.bytes, outgoing.destination).await
            {
                tracing::warn!(destination = %outgoing.destination, %error, "UDP send failed");
            }
        });
    }
}

/// Serves SIP over TCP, or TLS when `tls` is given, on `listener`.
pub async fn serve_stream(
    listener: TcpListener,
    server: Arc<RedirectServer>,
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
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            if let Some(suppressed) = log_limit.allow() {
                tracing::warn!(listener = %server.policy().name, %peer, suppressed, "connection closed: too many open");
            }
            continue;
        };
        let Some(source_slot) = SourceSlot::take(&per_source, peer.ip(), limits.per_source) else {
            if let Some(suppressed) = log_limit.allow() {
                tracing::warn!(listener = %server.policy().name, %peer, suppressed, "connection closed: too many open from this address");
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
                        Ok(Ok(stream)) => connection(stream, peer, Transport::Tls, shared).await,
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => connection(stream, peer, Transport::Tcp, shared).await,
            }
        });
    }
}

/// The state every connection of a listener shares.
struct Shared {
    server: Arc<RedirectServer>,
    limits: Limits,
    in_flight: Arc<Semaphore>,
    log_limit: Arc<LogLimiter>,
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

async fn connection<S>(stream: S, peer: SocketAddr, transport: Transport, shared: Shared)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Shared {
        server,
        limits,
        in_flight,
        log_limit,
    } = shared;
    let (mut reader, mut writer) = tokio::io::split(stream);
    // Responses leave through one writer task, in the order they are ready. A
    // peer that stops reading is disconnected after the write timeout.
    let (sender, mut receiver) = mpsc::channel::<Arc<Vec<u8>>>(limits.per_connection.max(1));
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
                    let (server, sender) = (Arc::clone(&server), sender.clone());
                    tokio::spawn(async move {
                        let _permits = (permit, own_permit);
                        if let Some(outgoing) =
                            server.handle(&message, peer, transport, now()).await
                        {
                            let _ = sender.send(outgoing.bytes).await;
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
    drop(sender);
    let _ = writer_task.await;
}
