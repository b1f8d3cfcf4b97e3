//! A small HTTP/1.1 server for the health endpoints and the demo certificate
//! repository. Each connection is bounded in time; requests have no body.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A response: status, content type, extra headers and body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The Content-Type.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// Creates a plain-text response.
    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: Bytes::from(format!("{body}\n")),
        }
    }
}

/// Maps a request's method and path to a response.
pub type Handler = Arc<dyn Fn(&str, &str) -> Reply + Send + Sync>;

/// Serves `handler` on `listener`, over TLS when `tls` is given, until the task
/// is dropped.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handler: Handler,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (tls, handler) = (tls.clone(), Arc::clone(&handler));
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<Incoming>| {
                let reply = handler(request.method().as_str(), request.uri().path());
                async move { Ok::<_, std::convert::Infallible>(to_response(reply)) }
            });
            let builder = hyper::server::conn::http1::Builder::new();
            // No connection outlives a minute, because these endpoints respond
            // at once.
            let limit = Duration::from_secs(60);
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => {
                            tokio::time::timeout(
                                limit,
                                builder.serve_connection(TokioIo::new(stream), service),
                            )
                            .await
                        }
                        _ => return,
                    }
                }
                None => {
                    tokio::time::timeout(
                        limit,
                        builder.serve_connection(TokioIo::new(stream), service),
                    )
                    .await
                }
            };
            if let Ok(Err(error)) = result {
                tracing::debug!(%peer, %error, "HTTP connection failed");
            }
        });
    }
}

fn to_response(reply: Reply) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(reply.body));
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Ok(value) = hyper::header::HeaderValue::from_str(reply.content_type) {
        headers.insert(hyper::header::CONTENT_TYPE, value);
    }
    for (name, value) in reply.headers {
        if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}
