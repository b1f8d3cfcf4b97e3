//! SHAKEN certificates.
//!
//! This crate parses the certificates that x5u repositories serve (a PEM chain, a
//! single PEM certificate or DER) into owned summaries, bounded in size and count,
//! and exposes the subscriber's P-256 public key for ES256 verification.
//!
//! It also decodes TNAuthList (RFC 8226) and JWT claim constraints (RFC 8226,
//! RFC 9118), validates paths to STI trust anchors at an explicit time, checks
//! revocation against CRLs, and keeps the trust anchors in a store that reloads
//! atomically.

mod crl;
pub mod lint;
mod parse;
pub mod pki;
pub mod tnauthlist;
mod trust;
mod validate;

pub use crl::{CrlError, CrlPolicy, CrlStore, MAX_CRL_DIRECTORY_FILES, MAX_CRL_FILE_BYTES};
pub use parse::{
    Certificate, CrlDistributionPoint, Error, MAX_BUNDLE_BYTES, MAX_BUNDLE_CERTIFICATES,
    MAX_CHAIN_BYTES, MAX_CHAIN_CERTIFICATES, parse_bundle, parse_chain, read_limited,
};
pub use trust::{MAX_DIRECTORY_FILES, SharedTrustStore, TrustError, TrustSources, TrustStore};
pub use validate::{
    MAX_PATH_LEN, Named, Revocation, ValidatedPath, ValidationError, validate_path,
    validate_path_with_crls,
};
