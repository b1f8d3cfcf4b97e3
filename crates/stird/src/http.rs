//! The HTTP/1.1 server of the API and of the demo certificate repository: an
//! axum router served on a listener, over TLS when an acceptor is given, with
//! each connection bounded in time.

use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Time a client has to send a request's header section.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Age after which a connection finishes the request in progress and closes,
/// so that a client cannot hold a connection open forever.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(60);

/// Time a connection past [`MAX_CONNECTION_AGE`] has to finish its request.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Time allowed for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener`, over TLS when `tls` is given, until
/// `shutdown` turns true or its sender is dropped. Then it stops accepting,
/// lets each open connection finish the request in progress, and returns once
/// every connection has closed.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: axum::Router,
    shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    let mut stop = shutdown.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopping| *stopping) => break,
        };
        // Reap the tasks of closed connections, so the set does not grow.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Running out of file descriptors is the usual cause: wait
                // for connections to close instead of spinning.
                tracing::warn!(%error, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (tls, router, shutdown) = (tls.clone(), router.clone(), shutdown.clone());
        connections.spawn(async move {
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(stream, router, shutdown).await,
                        Ok(Err(error)) => Err(error.to_string()),
                        Err(_) => Err("TLS handshake timed out".to_owned()),
                    }
                }
                None => serve_connection(stream, router, shutdown).await,
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "HTTP connection failed");
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Serves HTTP/1.1 on one connection: requests until the client closes it,
/// until [`MAX_CONNECTION_AGE`], or until `shutdown` turns true, after which
/// the request in progress finishes and the connection closes.
async fn serve_connection<S>(
    stream: S,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let connection =
        builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => return result.map_err(|error| error.to_string()),
        () = tokio::time::sleep(MAX_CONNECTION_AGE) => {}
        _ = shutdown.wait_for(|stopping| *stopping) => {}
    }
    connection.as_mut().graceful_shutdown();
    match tokio::time::timeout(SHUTDOWN_GRACE, connection).await {
        Ok(result) => result.map_err(|error| error.to_string()),
        Err(_) => Err("connection closed: request not finished in time".to_owned()),
    }
}
