//! The configuration of `stird serve`: one TOML file whose `[[listener]]`,
//! `[trust]`, `[profile]` and `[api]` tables are read here, `[[credential]]` by
//! the credential loader, and `[x5u]` and `[cache]` by the fetch settings.
//!
//! Every table rejects unknown keys, so a misspelt key is a startup error that
//! names it rather than a silently ignored setting.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole file, as far as `serve` reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    #[serde(default)]
    pub listener: Vec<ListenerTable>,
    #[serde(default)]
    pub trust: TrustTable,
    #[serde(default)]
    pub profile: ProfileTable,
    #[serde(default)]
    pub api: ApiTable,
    /// Read by the credential loader.
    #[serde(default)]
    pub credential: Option<toml::Value>,
    /// Read by the fetch settings.
    #[serde(default, rename = "x5u")]
    pub _x5u: Option<toml::Value>,
    /// Read by the fetch settings.
    #[serde(default, rename = "cache")]
    pub _cache: Option<toml::Value>,
}

/// One `[[listener]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTable {
    /// A name for logs; the transport and address by default.
    pub name: Option<String>,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
    /// The address to bind, such as `0.0.0.0:5060`.
    pub bind: String,
    /// `sign`, `verify` or `auto`.
    pub role: String,
    /// `redirect` or `proxy`.
    #[serde(default = "redirect")]
    pub mode: String,
    /// A proxy's next hop, `address:port`; without it, the Route or the
    /// Request-URI names the hop.
    pub next_hop: Option<String>,
    /// The transport to the next hop: `udp` or `tcp`.
    #[serde(default = "udp")]
    pub next_hop_transport: String,
    /// The `host:port` a proxy writes in its Via; the bound address by
    /// default.
    pub advertise: Option<String>,
    /// The path MTU towards a proxy's hops, in bytes.
    #[serde(default = "mtu")]
    pub mtu: usize,
    /// Verifications in progress at once before further INVITEs are shed.
    #[serde(default = "max_pending")]
    pub max_pending_verifications: usize,
    /// Source networks allowed; loopback only by default.
    #[serde(default)]
    pub allow_sources: Option<Vec<String>>,
    /// `reject` or `continue`.
    #[serde(default = "reject")]
    pub on_failure: String,
    /// Respond 428 to calls without Identity.
    #[serde(default)]
    pub require_identity: bool,
    /// Put verstat in the 302's From as well.
    #[serde(default)]
    pub verstat_in_from: bool,
    /// Header naming the trunk or customer id.
    pub trunk_header: Option<String>,
    /// Trunk ids by source network.
    #[serde(default)]
    pub trunks: std::collections::BTreeMap<String, String>,
    /// `pai` (P-Asserted-Identity, else From) or `from`.
    #[serde(default = "pai")]
    pub orig: String,
    /// `add`, `replace` or `keep`.
    #[serde(default = "add")]
    pub existing_identity: String,
    /// A verifying proxy removes the Identity headers it verified.
    #[serde(default)]
    pub strip_identity: bool,
    /// INVITEs accepted per second from all sources; no limit by default.
    pub rate_limit: Option<u32>,
    /// INVITEs accepted per second from one source address.
    pub rate_limit_per_source: Option<u32>,
    /// `reject` (503 with Retry-After) or `pass` (a verifying listener responds
    /// 302 with No-TN-Validation without verifying).
    #[serde(default = "reject")]
    pub on_overload: String,
    /// The TLS certificate chain of a `tls` listener (PEM).
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub tls_key: Option<PathBuf>,
}

fn redirect() -> String {
    "redirect".to_owned()
}
fn udp() -> String {
    "udp".to_owned()
}
fn mtu() -> usize {
    sip::proxy::DEFAULT_MTU
}
fn max_pending() -> usize {
    sip::redirect::MAX_PENDING_VERIFICATIONS
}
fn reject() -> String {
    "reject".to_owned()
}
fn pai() -> String {
    "pai".to_owned()
}
fn add() -> String {
    "add".to_owned()
}

/// `[trust]`: the STI trust anchors and CRLs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustTable {
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
    #[serde(default)]
    pub ca_dirs: Vec<PathBuf>,
    #[serde(default)]
    pub crl_files: Vec<PathBuf>,
    #[serde(default)]
    pub crl_dirs: Vec<PathBuf>,
    /// Hours past nextUpdate during which a CRL is still used.
    #[serde(default = "grace")]
    pub crl_grace_hours: u32,
    /// Accept a certificate whose CRL was not given.
    #[serde(default)]
    pub crl_optional: bool,
}

fn grace() -> u32 {
    24
}

/// `[profile]`: how PASSporTs and numbers are judged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileTable {
    /// The strict profile.
    #[serde(default)]
    pub strict: bool,
    /// Freshness window in seconds.
    #[serde(default = "freshness")]
    pub freshness: u32,
    /// National number rule `DIGITS:CC`, such as `10:1`.
    pub national: Option<String>,
    /// Maximum digits in a number.
    #[serde(default = "max_digits")]
    pub max_digits: u8,
}

impl Default for ProfileTable {
    fn default() -> Self {
        ProfileTable {
            strict: false,
            freshness: freshness(),
            national: None,
            max_digits: max_digits(),
        }
    }
}

fn freshness() -> u32 {
    passport::DEFAULT_FRESHNESS
}
fn max_digits() -> u8 {
    15
}

/// `[api]`: the HTTP listener of the signing and verification API, the
/// OpenAPI document, health, readiness and metrics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTable {
    /// The address to bind; loopback by default.
    #[serde(default = "api_bind")]
    pub bind: String,
    /// Allow a bind address other than loopback, which also requires
    /// `token_file`.
    #[serde(default)]
    pub allow_remote: bool,
    /// A file holding the bearer token that the signing, verification and
    /// metrics endpoints then require.
    pub token_file: Option<PathBuf>,
}

impl Default for ApiTable {
    fn default() -> Self {
        ApiTable {
            bind: api_bind(),
            allow_remote: false,
            token_file: None,
        }
    }
}

fn api_bind() -> String {
    "127.0.0.1:8080".to_owned()
}

/// Reads and parses the file; paths stay relative until [`resolve`] is applied.
pub fn read(path: &Path) -> Result<ServeFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    toml::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}

/// Makes `path` relative to the configuration file's directory.
pub fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

/// Parses a socket address, naming the key in the error.
pub fn socket_address(key: &str, value: &str) -> Result<SocketAddr, String> {
    value.parse().map_err(|_| {
        format!("{key} = '{value}' is not an address with a port, such as 0.0.0.0:5060")
    })
}

/// Parses a CIDR network, naming the key in the error.
pub fn network(key: &str, value: &str) -> Result<(IpAddr, u8), String> {
    certstore::x5u_policy::parse_network(value).map_err(|error| format!("{key}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stird.example.toml");
        let file = read(&path).unwrap();
        assert!(!file.listener.is_empty());
    }

    #[test]
    fn unknown_keys_named() {
        for (text, expected) in [
            (
                "[[listener]]\ntransport = \"udp\"\nbind = \"0.0.0.0:5060\"\nrole = \"sign\"\nrol = 1\n",
                "unknown field `rol`",
            ),
            ("[trust]\nca_file = \"x\"\n", "unknown field `ca_file`"),
            ("[listner]\n", "unknown field `listner`"),
        ] {
            let error = toml::from_str::<ServeFile>(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
