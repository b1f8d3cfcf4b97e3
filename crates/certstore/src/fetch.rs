//! One bounded HTTPS GET of an x5u URL.
//!
//! The host is resolved through a [`Resolve`], every address is checked against
//! the [`X5uPolicy`], and the TCP connection goes to an address that passed.
//! The check and the connection use the same address, so a DNS response that
//! changes in between (DNS rebinding) cannot redirect the fetch. TLS verifies the
//! repository's certificate against the repository trust (`--tls-ca-file`, or
//! the Mozilla roots), never against the STI trust anchors. The response must be
//! 200; the body is read up to a byte limit, all under one total deadline.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::lifetime::CacheHeaders;
use crate::resolve::Resolve;
use crate::x5u_policy::{X5uPolicy, X5uPolicyError, X5uUrl, check_address, check_url};

/// Bounds on one fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchLimits {
    /// Time allowed for the TCP connection to one address.
    pub connect_timeout: Duration,
    /// Time allowed for the whole fetch: resolution, connection, TLS, request,
    /// response and body, redirect included.
    pub total_timeout: Duration,
    /// Largest body accepted, in bytes.
    pub max_bytes: usize,
    /// Follow one redirect, to a URL that passes the policy again.
    pub follow_redirect: bool,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            connect_timeout: Duration::from_secs(1),
            total_timeout: Duration::from_secs(2),
            max_bytes: 64 * 1024,
            follow_redirect: false,
        }
    }
}

/// Reason a fetch failed. Verifiers respond 436 Bad Identity Info to each,
/// because the credential could not be obtained (RFC 8224 section 6.2.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Policy(#[from] X5uPolicyError),
    #[error("cannot resolve '{host}': {reason}")]
    Resolve { host: String, reason: String },
    #[error("'{host}' resolves to no address")]
    NoAddress { host: String },
    #[error("cannot connect to {address}: {reason}")]
    Connect { address: SocketAddr, reason: String },
    #[error("TLS with {address} failed: {reason}")]
    Tls { address: SocketAddr, reason: String },
    #[error("HTTP exchange with {address} failed: {reason}")]
    Http { address: SocketAddr, reason: String },
    #[error("the fetch did not finish within {ms} ms")]
    Timeout { ms: u128 },
    #[error("the server answered HTTP {status}; only 200 is accepted")]
    Status { status: u16 },
    #[error("the server redirects (HTTP {status}) to '{location}'; redirects are not followed")]
    Redirect { status: u16, location: String },
    #[error(
        "the server redirects again (HTTP {status}) to '{location}'; one redirect is followed at most"
    )]
    TooManyRedirects { status: u16, location: String },
    #[error("the body is larger than the limit of {max} bytes")]
    TooLarge { max: usize },
    #[error("the redirect to '{location}' is refused: {reason}")]
    RedirectRefused { location: String, reason: String },
}

impl FetchError {
    /// Returns a short lowercase name of the failure, stable for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Policy(_) => "policy",
            FetchError::Resolve { .. } | FetchError::NoAddress { .. } => "resolve",
            FetchError::Connect { .. } => "connect",
            FetchError::Tls { .. } => "tls",
            FetchError::Http { .. } => "http",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Status { .. } => "status",
            FetchError::Redirect { .. }
            | FetchError::TooManyRedirects { .. }
            | FetchError::RedirectRefused { .. } => "redirect",
            FetchError::TooLarge { .. } => "too_large",
        }
    }
}

/// Cuts a value from the server to 200 characters for messages and logs.
fn excerpt(value: &str) -> String {
    if value.chars().count() <= 200 {
        value.to_owned()
    } else {
        let mut cut: String = value.chars().take(200).collect();
        cut.push_str("...");
        cut
    }
}

/// A successful response.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL the body came from: the x5u, or where its one redirect led.
    pub url: String,
    /// The address connected to.
    pub address: SocketAddr,
    /// The HTTP status, 200.
    pub status: u16,
    /// `Content-Type`, when sent.
    pub content_type: Option<String>,
    /// The caching headers.
    pub cache: CacheHeaders,
    /// The body.
    pub body: Vec<u8>,
    /// Time from start to the last body byte.
    pub elapsed: Duration,
}

/// Builds the TLS client configuration for certificate repositories: the CA
/// certificates of `ca_file` when given, else the Mozilla root program's.
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bytes = cert::read_limited(path, cert::MAX_BUNDLE_BYTES)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
            let certificates = cert::parse_bundle(&bytes)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            for certificate in certificates {
                roots
                    .add(certificate.der.into())
                    .map_err(|error| format!("{}: {error}", path.display()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Fetches `url` under `policy` and `limits`.
pub async fn fetch(
    url: &X5uUrl,
    policy: &X5uPolicy,
    limits: &FetchLimits,
    tls: &Arc<rustls::ClientConfig>,
    resolver: &dyn Resolve,
) -> Result<Fetched, FetchError> {
    let started = Instant::now();
    let work = async {
        let first = get(url, policy, limits, tls, resolver, started).await?;
        let Response::Redirect { status, location } = first else {
            return first.into_fetched();
        };
        if !limits.follow_redirect {
            return Err(FetchError::Redirect {
                status,
                location: excerpt(&location),
            });
        }
        let next = check_url(&location, policy).map_err(|error| FetchError::RedirectRefused {
            location: excerpt(&location),
            reason: error.to_string(),
        })?;
        match get(&next, policy, limits, tls, resolver, started).await? {
            Response::Redirect { status, location } => Err(FetchError::TooManyRedirects {
                status,
                location: excerpt(&location),
            }),
            response => response.into_fetched(),
        }
    };
    match tokio::time::timeout(limits.total_timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout {
            ms: limits.total_timeout.as_millis(),
        }),
    }
}

enum Response {
    Body(Box<Fetched>),
    Redirect { status: u16, location: String },
}

impl Response {
    fn into_fetched(self) -> Result<Fetched, FetchError> {
        match self {
            Response::Body(fetched) => Ok(*fetched),
            Response::Redirect { status, location } => Err(FetchError::Redirect {
                status,
                location: excerpt(&location),
            }),
        }
    }
}

/// Aborts the connection task when the fetch ends or is dropped, so a server
/// that keeps the connection open keeps no task or buffer of ours alive.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn get(
    url: &X5uUrl,
    policy: &X5uPolicy,
    limits: &FetchLimits,
    tls: &Arc<rustls::ClientConfig>,
    resolver: &dyn Resolve,
    started: Instant,
) -> Result<Response, FetchError> {
    let (stream, address) = connect(url, policy, limits, resolver).await?;

    let server_name = match url.host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(url.host.clone()).map_err(|error| FetchError::Tls {
            address,
            reason: format!("'{}' is not a valid TLS server name: {error}", url.host),
        })?,
    };
    let tls_stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
        .connect(server_name, stream)
        .await
        .map_err(|error| FetchError::Tls {
            address,
            reason: error.to_string(),
        })?;

    let http_error = |error: hyper::Error| FetchError::Http {
        address,
        reason: error.to_string(),
    };
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(16 * 1024)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(tls_stream))
        .await
        .map_err(http_error)?;
    let _connection = AbortOnDrop(tokio::spawn(async move {
        // The outcome reaches the request future; nothing more to report here.
        let _ = connection.await;
    }));

    let host_header = if url.port == 443 {
        bracketed(&url.host)
    } else {
        format!("{}:{}", bracketed(&url.host), url.port)
    };
    let path = url::Url::parse(&url.url)
        .map(|parsed| parsed.path().to_owned())
        .unwrap_or_else(|_| "/".to_owned());
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, host_header)
        .header(
            hyper::header::ACCEPT,
            "application/pem-certificate-chain, application/x-pem-file;q=0.9, */*;q=0.5",
        )
        .header(
            hyper::header::USER_AGENT,
            concat!("stird/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|error| FetchError::Http {
            address,
            reason: error.to_string(),
        })?;
    let response = sender.send_request(request).await.map_err(http_error)?;

    let status = response.status().as_u16();
    let header = |name: hyper::header::HeaderName| -> Option<String> {
        let values: Vec<&str> = response
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    if matches!(status, 301 | 302 | 303 | 307 | 308) {
        // Only the first Location counts: several are not a list of targets.
        let location = response
            .headers()
            .get(hyper::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        // A relative Location is resolved against the URL it came from.
        let location = url::Url::parse(&url.url)
            .and_then(|base| base.join(&location))
            .map(|joined| joined.to_string())
            .unwrap_or(location);
        return Ok(Response::Redirect { status, location });
    }
    if status != 200 {
        return Err(FetchError::Status { status });
    }
    let declared = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_bytes as u64) {
        return Err(FetchError::TooLarge {
            max: limits.max_bytes,
        });
    }
    let content_type = header(hyper::header::CONTENT_TYPE);
    let cache = CacheHeaders {
        cache_control: header(hyper::header::CACHE_CONTROL),
        expires: header(hyper::header::EXPIRES),
        date: header(hyper::header::DATE),
        age: header(hyper::header::AGE),
    };

    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(http_error)?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limits.max_bytes {
                return Err(FetchError::TooLarge {
                    max: limits.max_bytes,
                });
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Response::Body(Box::new(Fetched {
        url: url.url.clone(),
        address,
        status,
        content_type,
        cache,
        body: bytes,
        elapsed: started.elapsed(),
    })))
}

fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Resolves the host, checks every address against the policy, and connects to
/// the first address that accepts the connection.
async fn connect(
    url: &X5uUrl,
    policy: &X5uPolicy,
    limits: &FetchLimits,
    resolver: &dyn Resolve,
) -> Result<(TcpStream, SocketAddr), FetchError> {
    let addresses = match url.host.parse::<IpAddr>() {
        Ok(address) => vec![address],
        Err(_) => resolver
            .resolve(&url.host)
            .await
            .map_err(|error| FetchError::Resolve {
                host: url.host.clone(),
                reason: error.to_string(),
            })?,
    };
    if addresses.is_empty() {
        return Err(FetchError::NoAddress {
            host: url.host.clone(),
        });
    }
    // Every address must pass: a name that resolves to a public and an
    // internal address is refused as a whole, whichever the system would try.
    for &address in &addresses {
        check_address(address, policy)?;
    }
    let mut last_error = None;
    for address in addresses.into_iter().take(4) {
        let socket = SocketAddr::new(address, url.port);
        match tokio::time::timeout(limits.connect_timeout, TcpStream::connect(socket)).await {
            Ok(Ok(stream)) => {
                // Nagle's delay helps nothing for one small request.
                let _ = stream.set_nodelay(true);
                return Ok((stream, socket));
            }
            Ok(Err(error)) => {
                last_error = Some(FetchError::Connect {
                    address: socket,
                    reason: error.to_string(),
                })
            }
            Err(_) => {
                last_error = Some(FetchError::Connect {
                    address: socket,
                    reason: format!("no answer within {} ms", limits.connect_timeout.as_millis()),
                })
            }
        }
    }
    Err(last_error.unwrap_or(FetchError::NoAddress {
        host: url.host.clone(),
    }))
}

/// Checks `url` against `policy`: a convenience for callers holding a string.
pub fn check(url: &str, policy: &X5uPolicy) -> Result<X5uUrl, FetchError> {
    Ok(check_url(url, policy)?)
}
