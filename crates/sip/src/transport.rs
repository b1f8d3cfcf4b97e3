//! SIP transports: UDP, TCP and TLS listeners feeding a [`RedirectServer`].
//!
//! Every request is handled in its own task, so a verification waiting for a
//! certificate never holds up the socket loop or another call. Each listener
//! bounds the requests in flight, the connections open, the message size and
//! how long an idle connection stays open.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{Semaphore, mpsc};

use crate::redirect::{RedirectServer, Transport};
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            in_flight: 10_000,
            connections: 1_024,
            idle: Duration::from_secs(120),
            handshake: Duration::from_secs(10),
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
            tracing::warn!(listener = %server.policy().name, %peer, "connection closed: too many open");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (server, tls, in_flight) = (Arc::clone(&server), tls.clone(), Arc::clone(&in_flight));
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(limits.handshake, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            connection(stream, peer, server, Transport::Tls, limits, in_flight)
                                .await
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => connection(stream, peer, server, Transport::Tcp, limits, in_flight).await,
            }
        });
    }
}

async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    server: Arc<RedirectServer>,
    transport: Transport,
    limits: Limits,
    in_flight: Arc<Semaphore>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    // Responses leave through one writer task, in the order they are ready.
    let (sender, mut receiver) = mpsc::channel::<Arc<Vec<u8>>>(64);
    let writer_task = tokio::spawn(async move {
        while let Some(bytes) = receiver.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });

    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    'read: loop {
        // Hand every complete message to its own task.
        loop {
            match frame(&buffer) {
                Ok(Some(length)) => {
                    let message: Vec<u8> = buffer.drain(..length).collect();
                    if is_keepalive(&message) {
                        continue;
                    }
                    let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                        break 'read;
                    };
                    let (server, sender) = (Arc::clone(&server), sender.clone());
                    tokio::spawn(async move {
                        let _permit = permit;
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
                    tracing::warn!(%peer, %error, "closing a connection whose message cannot be framed");
                    break 'read;
                }
            }
        }
        match tokio::time::timeout(limits.idle, reader.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => buffer.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(_) => {
                tracing::debug!(%peer, "closing an idle connection");
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
