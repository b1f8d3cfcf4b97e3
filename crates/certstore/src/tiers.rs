//! The disk and Redis tiers of the x5u cache.
//!
//! Both keep the chain as it was fetched, in PEM, with the URL and the lifetime,
//! never a verdict. The reader of a record parses and validates the chain again
//! under its own trust anchors, so a tampered file or a Redis entry written by a
//! node with other anchors cannot make a certificate trusted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Largest record read back from disk or Redis, in bytes.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// Redis key prefix; the key ends with the hex SHA-256 of the URL.
pub const REDIS_PREFIX: &str = "stird:v1:x5u:";

/// One cached chain, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Format version, 1.
    pub version: u32,
    /// The x5u URL.
    pub url: String,
    /// When it was fetched, Unix seconds.
    pub fetched_at: i64,
    /// When it stops being fresh, Unix seconds.
    pub expires_at: i64,
    /// The reason for that lifetime.
    pub lifetime_reason: String,
    /// The chain in PEM, signer first.
    pub chain_pem: String,
}

impl Record {
    /// Encodes the record as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes a record and checks that it belongs to `url`.
    pub fn from_json(bytes: &[u8], url: &str) -> Result<Self, String> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(format!(
                "the record is {} bytes; the limit is {MAX_RECORD_BYTES}",
                bytes.len()
            ));
        }
        let record: Record = serde_json::from_slice(bytes)
            .map_err(|error| format!("not a cache record: {error}"))?;
        if record.version != 1 {
            return Err(format!("record version {} is not known", record.version));
        }
        if record.url != url {
            return Err(format!("the record is for '{}'", record.url));
        }
        Ok(record)
    }
}

/// Encodes DER certificates as a PEM chain.
pub fn to_pem(chain: &[cert::Certificate]) -> String {
    let blocks: Vec<pem::Pem> = chain
        .iter()
        .map(|certificate| pem::Pem::new("CERTIFICATE", certificate.der.clone()))
        .collect();
    pem::encode_many_config(
        &blocks,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Returns the hex SHA-256 of a URL: the record's file name and Redis key suffix.
pub fn url_digest(url: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, url.as_bytes());
    digest
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The disk tier: one file per URL, written atomically.
#[derive(Debug, Clone)]
pub struct DiskTier {
    directory: PathBuf,
}

impl DiskTier {
    /// Uses `directory`, creating it when missing.
    pub fn open(directory: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(directory)?;
        Ok(DiskTier {
            directory: directory.to_owned(),
        })
    }

    fn path(&self, url: &str) -> PathBuf {
        self.directory.join(format!("{}.json", url_digest(url)))
    }

    /// Reads the record for `url`, if any.
    pub async fn read(&self, url: &str) -> Result<Option<Record>, String> {
        let path = self.path(url);
        let bytes = match read_bounded(&path).await {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(format!("{}: {error}", path.display())),
        };
        Record::from_json(&bytes, url)
            .map(Some)
            .map_err(|error| format!("{}: {error}", path.display()))
    }

    /// Writes the record: to a temporary file first, then renamed over the old
    /// one, so a reader never sees half a record.
    pub async fn write(&self, record: &Record) -> Result<(), String> {
        let path = self.path(&record.url);
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        let bytes = record.to_json();
        let result = async {
            tokio::fs::write(&temporary, &bytes).await?;
            tokio::fs::rename(&temporary, &path).await
        }
        .await;
        if let Err(error) = result {
            let _ = tokio::fs::remove_file(&temporary).await;
            return Err(format!("{}: {error}", path.display()));
        }
        Ok(())
    }

    /// Lists the record files on disk, at most `max`, for warm-up.
    pub async fn record_paths(&self, max: usize) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        let Ok(mut entries) = tokio::fs::read_dir(&self.directory).await else {
            return paths;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            if paths.len() >= max {
                break;
            }
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) == Some("json") {
                paths.push(path);
            }
        }
        paths
    }

    /// Reads one record file; `None` when it is unreadable, not a record, or
    /// not named after the URL inside it.
    pub async fn read_path(&self, path: &Path) -> Option<Record> {
        let bytes = read_bounded(path).await.ok()?;
        let record = serde_json::from_slice::<Record>(&bytes).ok()?;
        let stem = path.file_stem().and_then(|s| s.to_str())?;
        (stem == url_digest(&record.url)).then_some(record)
    }
}

async fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || cert::read_limited(&path, MAX_RECORD_BYTES))
        .await
        .map_err(std::io::Error::other)?
}

/// How long the Redis tier is skipped after a failed command.
pub const REDIS_BACKOFF: Duration = Duration::from_secs(10);

/// The Redis tier, shared by several stird nodes. After a failed command it is
/// skipped for [`REDIS_BACKOFF`], so a Redis that is down costs one timeout per
/// interval rather than one per lookup. Each change of state is logged once.
#[derive(Clone)]
pub struct RedisTier {
    connection: redis::aio::ConnectionManager,
    timeout: Duration,
    skip_until: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl std::fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTier").finish_non_exhaustive()
    }
}

impl RedisTier {
    /// Connects lazily to `url` (`redis://host:port/db`); each command is
    /// bounded by `timeout`, so a slow Redis delays no call past it.
    pub fn open(url: &str, timeout: Duration) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|error| format!("Redis '{url}': {error}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let connection = redis::aio::ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|error| format!("Redis '{url}': {error}"))?;
        Ok(RedisTier {
            connection,
            timeout,
            skip_until: std::sync::Arc::default(),
        })
    }

    /// Returns true while the tier is skipped after a failure.
    fn skipped(&self) -> bool {
        let mut guard = match self.skip_until.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match *guard {
            Some(until) if std::time::Instant::now() < until => true,
            Some(_) => {
                *guard = None;
                tracing::info!("Redis tier tried again after its backoff");
                false
            }
            None => false,
        }
    }

    /// Records a failed command and starts the backoff.
    fn failed(&self, error: &str) {
        let mut guard = match self.skip_until.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.is_none() {
            tracing::warn!(
                %error,
                seconds = REDIS_BACKOFF.as_secs(),
                "Redis tier failed; lookups skip it for the backoff"
            );
        }
        *guard = Some(std::time::Instant::now() + REDIS_BACKOFF);
    }

    /// Returns the Redis key for `url`.
    pub fn key(url: &str) -> String {
        format!("{REDIS_PREFIX}{}", url_digest(url))
    }

    /// Reads the record for `url`, if any. While the tier is skipped after a
    /// failure, finds nothing.
    pub async fn read(&self, url: &str) -> Result<Option<Record>, String> {
        if self.skipped() {
            return Ok(None);
        }
        let mut connection = self.connection.clone();
        let mut get = redis::cmd("GET");
        get.arg(Self::key(url));
        let command = get.query_async::<Option<Vec<u8>>>(&mut connection);
        let bytes = match tokio::time::timeout(self.timeout, command).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(error))
                if !(error.is_io_error()
                    || error.is_timeout()
                    || error.is_connection_dropped()
                    || error.is_connection_refusal()) =>
            {
                // The server responded with an error about the data (such as a
                // key of another type), so Redis itself is up.
                return Err(format!("Redis GET: {error}"));
            }
            Ok(Err(error)) => {
                let error = format!("Redis GET: {error}");
                self.failed(&error);
                return Err(error);
            }
            Err(_) => {
                let error = format!("Redis GET took over {} ms", self.timeout.as_millis());
                self.failed(&error);
                return Err(error);
            }
        };
        match bytes {
            Some(bytes) => Record::from_json(&bytes, url).map(Some),
            None => Ok(None),
        }
    }

    /// Stores the record until it stops being fresh at `now`.
    pub async fn write(&self, record: &Record, now: i64) -> Result<(), String> {
        let seconds = record.expires_at.saturating_sub(now);
        if seconds <= 0 || self.skipped() {
            return Ok(());
        }
        let mut connection = self.connection.clone();
        let mut set = redis::cmd("SET");
        set.arg(Self::key(&record.url))
            .arg(record.to_json())
            .arg("EX")
            .arg(seconds);
        let command = set.query_async::<()>(&mut connection);
        let error = match tokio::time::timeout(self.timeout, command).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(error)) => format!("Redis SET: {error}"),
            Err(_) => format!("Redis SET took over {} ms", self.timeout.as_millis()),
        };
        self.failed(&error);
        Err(error)
    }
}
