//! Certificate managing for stird.
//!
//! The agnostic model: a signing credential is a private key parsed once, the
//! certificate chain that verifiers fetch from x5u, and an attestation policy.
//! Credentials come from the `[[credential]]` tables of the configuration file
//! or from a SQLite database. They are checked once at load and picked per call
//! by calling number, number range, prefix, trunk or default. A reload swaps the whole set.
//!
//! TODO: the self-managing model (fetching x5u over HTTPS with a tiered cache),
//! the background check that each x5u URL serves the configured chain, and
//! reloading on SIGHUP or a file change are not built yet.

mod config;
mod credential;
mod set;
mod x5u_map;
pub mod x5u_policy;

pub use config::{
    ConfigError, SCHEMA, SCHEMA_VERSION, init_database, read_config_file, read_database,
};
pub use credential::{Credential, CredentialConfig, CredentialError, Selector};
pub use set::{CredentialSet, CredentialStore, Selection, SetError};
pub use x5u_map::{MAX_MAPPED_FILES, X5uMap, X5uMapError};
