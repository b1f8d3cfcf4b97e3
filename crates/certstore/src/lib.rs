//! Certificate managing for stird.
//!
//! The agnostic model: a signing credential is a private key parsed once, the
//! certificate chain that verifiers fetch from x5u, and an attestation policy.
//! Credentials come from the `[[credential]]` tables of the configuration file
//! or from a SQLite database. They are checked once at load and picked per call
//! by calling number, number range, prefix, trunk or default. A reload swaps the whole set.
//!
//! The self-managing model: [`X5uCache`] fetches the certificate at each x5u
//! URL over HTTPS under the [`x5u_policy`], validates it once into a
//! [`TrustedCert`], and keeps it in memory, on disk and optionally in Redis.
//!
//! [`published::check_published`] checks that each credential's x5u URL serves
//! the configured chain.
//!
//! TODO: running that check in the background after each load, and reloading
//! on SIGHUP or a file change, belong to `stird serve`.

mod cache;
mod config;
mod credential;
pub mod fetch;
mod fetch_config;
pub mod lifetime;
pub mod published;
pub mod resolve;
mod set;
pub mod tiers;
mod trusted;
mod x5u_map;
pub mod x5u_policy;

pub use cache::{
    BreakerConfig, CacheConfig, CacheStats, Cached, Circuit, CircuitState, EntrySummary, FetchInfo,
    Origin, ResponseInfo, X5uCache, X5uCacheBuilder, X5uError, parse_body, unix_now,
};
pub use fetch_config::FetchSettings;
pub use trusted::{SharedTrust, Trust, TrustedCert, UntrustedError};

pub use config::{
    ConfigError, SCHEMA, SCHEMA_VERSION, init_database, read_config_file, read_database,
};
pub use credential::{Credential, CredentialConfig, CredentialError, Selector};
pub use set::{CredentialSet, CredentialStore, Selection, SetError};
pub use x5u_map::{MAX_MAPPED_FILES, X5uMap, X5uMapError};
