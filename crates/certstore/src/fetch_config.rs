//! The `[x5u]` and `[cache]` tables of the configuration file: the fetch
//! policy and the cache tiers of the self-managing model.
//!
//! ```toml
//! [x5u]
//! allowed_ports = [443, 8443]
//! allowed_hosts = []            # when not empty, only these hosts (".example.com" for subdomains)
//! denied_hosts = []
//! allow_addresses = []          # CIDRs accepted although special-purpose
//! connect_timeout_ms = 1000
//! timeout_ms = 2000
//! lookup_timeout_ms = 2500
//! max_bytes = 65536
//! follow_redirect = false
//! tls_ca_file = "repository-ca.pem"   # else the Mozilla roots
//! max_fetches = 256
//! max_fetches_per_host = 4
//! max_pending = 1024
//! circuit_failures = 5
//! circuit_base = 10             # seconds
//! circuit_max = 600
//!
//! [cache]
//! memory = 100000               # entries
//! memory_bytes = 1073741824
//! disk_dir = "cache/x5u"
//! redis_url = "redis://127.0.0.1:6379/"
//! redis_timeout_ms = 200
//! ttl_floor = 86400             # seconds
//! ttl_ceiling = 604800
//! negative_ttl = 30
//! stale_while_revalidate = 0
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cache::CacheConfig;
use crate::x5u_policy::parse_network;

/// The fetch and cache settings of a configuration file.
#[derive(Debug, Clone, Default)]
pub struct FetchSettings {
    /// The cache configuration, fetch policy included.
    pub cache: CacheConfig,
    /// The repository TLS trust; `None` means the Mozilla roots.
    pub tls_ca_file: Option<PathBuf>,
    /// The disk tier's directory.
    pub disk_dir: Option<PathBuf>,
    /// The Redis tier's URL.
    pub redis_url: Option<String>,
    /// Bound on each Redis command.
    pub redis_timeout: Duration,
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    x5u: X5uTable,
    #[serde(default)]
    cache: CacheTable,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct X5uTable {
    /// The x5u map, read by [`crate::X5uMap`]; named here so that it is not an
    /// unknown key.
    #[serde(default, rename = "files")]
    _files: Option<toml::Value>,
    allowed_ports: Option<Vec<u16>>,
    allowed_hosts: Option<Vec<String>>,
    denied_hosts: Option<Vec<String>>,
    allow_addresses: Option<Vec<String>>,
    connect_timeout_ms: Option<u64>,
    timeout_ms: Option<u64>,
    lookup_timeout_ms: Option<u64>,
    max_bytes: Option<usize>,
    follow_redirect: Option<bool>,
    tls_ca_file: Option<PathBuf>,
    max_fetches: Option<usize>,
    max_fetches_per_host: Option<usize>,
    max_pending: Option<usize>,
    circuit_failures: Option<u32>,
    circuit_base: Option<u64>,
    circuit_max: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheTable {
    memory: Option<u64>,
    memory_bytes: Option<u64>,
    disk_dir: Option<PathBuf>,
    redis_url: Option<String>,
    redis_timeout_ms: Option<u64>,
    ttl_floor: Option<u64>,
    ttl_ceiling: Option<u64>,
    negative_ttl: Option<u64>,
    stale_while_revalidate: Option<u64>,
}

/// Largest value accepted for a timeout in milliseconds: one minute.
const MAX_TIMEOUT_MS: u64 = 60_000;

impl FetchSettings {
    /// Reads the `[x5u]` and `[cache]` tables of `path`; missing keys keep their
    /// defaults, unknown keys are errors. Relative paths are taken from the
    /// file's directory.
    pub fn from_config_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, base).map_err(|error| format!("{}: {error}", path.display()))
    }

    /// Reads the tables from TOML text, with relative paths taken from `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|error| error.to_string())?;
        let mut settings = FetchSettings {
            redis_timeout: Duration::from_millis(200),
            ..FetchSettings::default()
        };
        let x5u = file.x5u;
        let config = &mut settings.cache;
        let policy = &mut config.policy;
        if let Some(ports) = x5u.allowed_ports {
            policy.allowed_ports = ports;
        }
        if let Some(hosts) = x5u.allowed_hosts {
            policy.allowed_hosts = hosts;
        }
        if let Some(hosts) = x5u.denied_hosts {
            policy.denied_hosts = hosts;
        }
        for network in x5u.allow_addresses.unwrap_or_default() {
            policy.allowed_networks.push(
                parse_network(&network).map_err(|error| format!("x5u.allow_addresses: {error}"))?,
            );
        }
        let millis = |name: &str, value: u64| -> Result<Duration, String> {
            if value == 0 || value > MAX_TIMEOUT_MS {
                return Err(format!(
                    "{name} = {value}: it must be between 1 and {MAX_TIMEOUT_MS}"
                ));
            }
            Ok(Duration::from_millis(value))
        };
        if let Some(value) = x5u.connect_timeout_ms {
            config.limits.connect_timeout = millis("x5u.connect_timeout_ms", value)?;
        }
        if let Some(value) = x5u.timeout_ms {
            config.limits.total_timeout = millis("x5u.timeout_ms", value)?;
            config.lookup_timeout = config.limits.total_timeout + Duration::from_millis(500);
        }
        if let Some(value) = x5u.lookup_timeout_ms {
            config.lookup_timeout = millis("x5u.lookup_timeout_ms", value)?;
        }
        if let Some(value) = x5u.max_bytes {
            if value == 0 || value > cert::MAX_CHAIN_BYTES {
                return Err(format!(
                    "x5u.max_bytes = {value}: it must be between 1 and {}",
                    cert::MAX_CHAIN_BYTES
                ));
            }
            config.limits.max_bytes = value;
        }
        if let Some(value) = x5u.follow_redirect {
            config.limits.follow_redirect = value;
        }
        settings.tls_ca_file = x5u.tls_ca_file.map(|p| base.join(p));
        let positive = |name: &str, value: usize| -> Result<usize, String> {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
            Ok(value)
        };
        if let Some(value) = x5u.max_fetches {
            config.max_fetches = positive("x5u.max_fetches", value)?;
        }
        if let Some(value) = x5u.max_fetches_per_host {
            config.max_fetches_per_host = positive("x5u.max_fetches_per_host", value)?;
        }
        if let Some(value) = x5u.max_pending {
            config.max_pending = positive("x5u.max_pending", value)?;
        }
        if let Some(value) = x5u.circuit_failures {
            config.breaker.failures = value.max(1);
        }
        if let Some(value) = x5u.circuit_base {
            config.breaker.base = Duration::from_secs(value.max(1));
        }
        if let Some(value) = x5u.circuit_max {
            config.breaker.max = Duration::from_secs(value.max(1));
        }

        let cache = file.cache;
        if let Some(value) = cache.memory {
            config.memory_entries = value.max(1);
        }
        if let Some(value) = cache.memory_bytes {
            config.memory_bytes = value.max(1);
        }
        if let Some(value) = cache.ttl_floor {
            config.bounds.floor = value;
        }
        if let Some(value) = cache.ttl_ceiling {
            config.bounds.ceiling = value;
        }
        if config.bounds.ceiling < config.bounds.floor {
            return Err(format!(
                "cache.ttl_ceiling ({}) is below cache.ttl_floor ({})",
                config.bounds.ceiling, config.bounds.floor
            ));
        }
        if let Some(value) = cache.negative_ttl {
            config.negative_ttl = Duration::from_secs(value);
        }
        if let Some(value) = cache.stale_while_revalidate {
            config.stale_while_revalidate = (value > 0).then(|| Duration::from_secs(value));
        }
        settings.disk_dir = cache.disk_dir.map(|p| base.join(p));
        settings.redis_url = cache.redis_url;
        if let Some(value) = cache.redis_timeout_ms {
            settings.redis_timeout = millis("cache.redis_timeout_ms", value)?;
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_tables() {
        let settings = FetchSettings::from_toml("", Path::new("/etc/stird")).unwrap();
        assert_eq!(settings.cache.policy.allowed_ports, vec![443, 8443]);
        assert_eq!(settings.cache.limits.max_bytes, 65_536);
        assert_eq!(settings.cache.limits.total_timeout, Duration::from_secs(2));
        assert_eq!(settings.cache.bounds.floor, 86_400);
        assert!(settings.tls_ca_file.is_none());
    }

    #[test]
    fn every_key_read() {
        let text = r#"
[x5u]
allowed_ports = [443]
denied_hosts = ["bad.example"]
allow_addresses = ["10.1.0.0/16", "192.0.2.7"]
timeout_ms = 1500
max_bytes = 32768
follow_redirect = true
tls_ca_file = "repo-ca.pem"
[x5u.files]
"https://cr.example.com/a.pem" = "a.pem"
[cache]
disk_dir = "cache"
redis_url = "redis://127.0.0.1:6390/"
ttl_ceiling = 172800
negative_ttl = 5
"#;
        let settings = FetchSettings::from_toml(text, Path::new("/etc/stird")).unwrap();
        let config = &settings.cache;
        assert_eq!(config.policy.allowed_ports, vec![443]);
        assert_eq!(config.policy.denied_hosts, vec!["bad.example"]);
        assert_eq!(
            config.policy.allowed_networks,
            vec![
                ("10.1.0.0".parse().unwrap(), 16),
                ("192.0.2.7".parse().unwrap(), 32)
            ]
        );
        assert_eq!(config.limits.total_timeout, Duration::from_millis(1500));
        assert_eq!(config.lookup_timeout, Duration::from_millis(2000));
        assert!(config.limits.follow_redirect);
        assert_eq!(config.bounds.ceiling, 172_800);
        assert_eq!(config.negative_ttl, Duration::from_secs(5));
        assert_eq!(
            settings.tls_ca_file.as_deref(),
            Some(Path::new("/etc/stird/repo-ca.pem"))
        );
        assert_eq!(
            settings.disk_dir.as_deref(),
            Some(Path::new("/etc/stird/cache"))
        );
    }

    /// The example file documents every key with its default value.
    #[test]
    fn example_file_shows_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stird.example.toml");
        let example = FetchSettings::from_config_file(&path).unwrap();
        let defaults = FetchSettings::from_toml("", Path::new(".")).unwrap();
        assert_eq!(
            format!("{:?}", example.cache),
            format!("{:?}", defaults.cache)
        );
        assert_eq!(example.redis_timeout, defaults.redis_timeout);
        assert!(example.disk_dir.is_none());
    }

    #[test]
    fn mistakes_named() {
        for (text, expected) in [
            ("[x5u]\ntimeout = 5\n", "unknown field `timeout`"),
            ("[x5u]\ntimeout_ms = 0\n", "x5u.timeout_ms = 0"),
            ("[x5u]\nmax_bytes = 100000000\n", "x5u.max_bytes"),
            (
                "[x5u]\nallow_addresses = [\"10.0.0.0/33\"]\n",
                "x5u.allow_addresses",
            ),
            (
                "[cache]\nttl_floor = 10\nttl_ceiling = 5\n",
                "below cache.ttl_floor",
            ),
            ("[cache]\nmemroy = 5\n", "unknown field `memroy`"),
        ] {
            let error = FetchSettings::from_toml(text, Path::new(".")).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
