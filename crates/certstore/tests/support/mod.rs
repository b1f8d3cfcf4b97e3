//! A certificate repository for tests: a real HTTPS server on loopback where
//! each path responds as the test sets it, correctly or not.
//!
//! Responses are written by hand, byte by byte, so a test can serve what no
//! well-behaved HTTP server would: a body that trickles, one that never ends, a
//! redirect loop, a connection that never responds.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The response of a path.
#[derive(Debug, Clone)]
pub enum Route {
    /// A complete response.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A 200 response whose body comes one byte per `interval`.
    Trickle { interval: Duration, body: Vec<u8> },
    /// A 200 response of `bytes` bytes, announced in Content-Length or not.
    Huge { bytes: usize, content_length: bool },
    /// TLS completes, then the server never responds.
    Hang,
    /// The response comes after `delay`.
    Delayed { delay: Duration, route: Box<Route> },
}

impl Route {
    /// Returns a 200 response with `body` and extra `headers`.
    pub fn ok(body: impl Into<Vec<u8>>, headers: &[(&str, &str)]) -> Route {
        Route::Respond {
            status: 200,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.into(),
        }
    }

    /// Returns a bodiless response with `status` and `headers`.
    pub fn status(status: u16, headers: &[(&str, &str)]) -> Route {
        Route::Respond {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
        }
    }
}

/// The running server.
pub struct Repository {
    /// Where it listens.
    pub address: SocketAddr,
    /// The TLS CA file that verifies its certificate.
    pub tls_ca_file: PathBuf,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    active: Arc<AtomicUsize>,
    most_active: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Repository {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Repository {
    /// Starts a server on 127.0.0.1 with a new TLS PKI written into `dir`, its
    /// certificate naming `cr.test`, `localhost`, 127.0.0.1 and ::1.
    pub async fn start(dir: &Path) -> Repository {
        let files = cert::pki::build_tls(&["cr.test", "localhost", "127.0.0.1", "::1"], now())
            .expect("TLS PKI");
        cert::pki::write(dir, &files).expect("write TLS PKI");
        let pem_of = |name: &str| {
            files
                .iter()
                .find(|file| file.name == name)
                .map(|file| file.pem.clone())
                .expect("file")
        };
        let certificate = pem::parse(pem_of("tls-server.pem")).expect("server PEM");
        let key = pem::parse(pem_of("tls-server.key.pem")).expect("key PEM");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![certificate.contents().to_vec().into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.contents().to_vec().into()),
            )
            .expect("server TLS config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let active = Arc::new(AtomicUsize::new(0));
        let most_active = Arc::new(AtomicUsize::new(0));
        let task = {
            let (routes, hits, active, most_active) = (
                Arc::clone(&routes),
                Arc::clone(&hits),
                Arc::clone(&active),
                Arc::clone(&most_active),
            );
            tokio::spawn(async move {
                // Each connection is served in its own task; none outlives the
                // test's runtime.
                while let Ok((stream, _)) = listener.accept().await {
                    let acceptor = acceptor.clone();
                    let (routes, hits, active, most_active) = (
                        Arc::clone(&routes),
                        Arc::clone(&hits),
                        Arc::clone(&active),
                        Arc::clone(&most_active),
                    );
                    tokio::spawn(async move {
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        let now_active = active.fetch_add(1, Ordering::SeqCst) + 1;
                        most_active.fetch_max(now_active, Ordering::SeqCst);
                        serve(stream, &routes, &hits).await;
                        active.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            })
        };
        Repository {
            address,
            tls_ca_file: dir.join("tls-ca.pem"),
            routes,
            hits,
            active,
            most_active,
            task,
        }
    }

    /// Sets the response of `path`.
    pub fn route(&self, path: &str, route: Route) {
        self.routes
            .lock()
            .expect("routes")
            .insert(path.to_owned(), route);
    }

    /// Requests received for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .expect("hits")
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Returns the maximum number of requests served at once so far.
    pub fn most_active(&self) -> usize {
        self.most_active.load(Ordering::SeqCst)
    }

    /// Returns the URL of `path` under the name `host` (`cr.test` resolves through the
    /// tests' own resolver).
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.address.port())
    }
}

async fn serve<S>(
    mut stream: S,
    routes: &Mutex<HashMap<String, Route>>,
    hits: &Mutex<HashMap<String, usize>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
        if head.len() > 16 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    *hits.lock().expect("hits").entry(path.clone()).or_default() += 1;
    let route = routes.lock().expect("routes").get(&path).cloned();
    let route = route.unwrap_or_else(|| Route::status(404, &[]));
    respond(&mut stream, route).await;
    let _ = stream.shutdown().await;
}

fn respond<'a, S>(
    stream: &'a mut S,
    route: Route,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>
where
    S: tokio::io::AsyncWrite + Unpin + Send,
{
    Box::pin(async move {
        match route {
            Route::Respond {
                status,
                headers,
                body,
            } => {
                let mut response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    response.push_str(&format!("{name}: {value}\r\n"));
                }
                response.push_str("\r\n");
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            }
            Route::Trickle { interval, body } => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                for byte in body.iter().take(200) {
                    if stream.write_all(&[*byte]).await.is_err() || stream.flush().await.is_err() {
                        return;
                    }
                    tokio::time::sleep(interval).await;
                }
            }
            Route::Huge {
                bytes,
                content_length,
            } => {
                let head = if content_length {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {bytes}\r\nConnection: close\r\n\r\n"
                    )
                } else {
                    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_owned()
                };
                let _ = stream.write_all(head.as_bytes()).await;
                let chunk = vec![b'A'; 64 * 1024];
                let mut sent = 0;
                while sent < bytes {
                    let n = chunk.len().min(bytes - sent);
                    if stream.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    sent += n;
                }
            }
            Route::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
            Route::Delayed { delay, route } => {
                tokio::time::sleep(delay).await;
                respond(stream, *route).await;
            }
        }
    })
}

/// Returns the current Unix time.
pub fn now() -> i64 {
    certstore::unix_now()
}

/// A directory removed when the test ends.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("stird-x5u-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test STI PKI: its files by name.
pub struct Pki {
    pub files: HashMap<&'static str, String>,
}

impl Pki {
    pub fn build(spc: &str, defects: Vec<cert::pki::Defect>) -> Pki {
        let options = cert::pki::PkiOptions {
            spc: spc.into(),
            tn_ranges: vec![],
            tns: vec![],
            now: now(),
            defects,
        };
        let files = cert::pki::build(&options).expect("PKI");
        Pki {
            files: files.into_iter().map(|f| (f.name, f.pem)).collect(),
        }
    }

    pub fn pem(&self, name: &str) -> String {
        self.files.get(name).cloned().expect("PKI file")
    }

    pub fn der(&self, name: &str) -> Vec<u8> {
        pem::parse(self.pem(name)).expect("PEM").contents().to_vec()
    }

    /// Returns a trust store with the named certificates as anchors.
    pub fn trust(&self, names: &[&str]) -> certstore::Trust {
        let mut anchors = Vec::new();
        for name in names {
            anchors.extend(cert::parse_bundle(self.pem(name).as_bytes()).expect("anchor"));
        }
        certstore::Trust::new(cert::TrustStore::from_certificates(anchors), None)
    }
}
