#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Replays the `certificate` fuzz target's seed corpus and every saved crash
//! input through the fuzz target's body, so that they run under `cargo test`.

use std::path::{Path, PathBuf};

/// The trust anchor of the test PKI.
const ROOT_PEM: &[u8] = include_bytes!("../../../testdata/pki/root.pem");

/// The valid subscriber chain of the test PKI.
const SUBSCRIBER_CHAIN_PEM: &[u8] = include_bytes!("../../../testdata/pki/subscriber-chain.pem");

/// The subscriber chain that `CRL_PEM` revokes.
const REVOKED_CHAIN_PEM: &[u8] = include_bytes!("../../../testdata/pki/revoked-chain.pem");

/// The indirect CRL that revokes `REVOKED_CHAIN_PEM`.
const CRL_PEM: &[u8] = include_bytes!("../../../testdata/pki/crl-certificate-issuer.pem");

/// The certificate of the CRL's signer.
const CRL_SIGNER_PEM: &[u8] = include_bytes!("../../../testdata/pki/crl-signer.pem");

include!("../../../fuzz/fuzz_targets/certificate_body.rs");

/// Returns the files of `directory`, sorted by name, or none when it is missing.
fn input_files(directory: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("directory entry is readable").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every file of `directory` through the fuzz target's body and returns
/// how many ran.
fn replay(directory: &Path) -> usize {
    let files = input_files(directory);
    for path in &files {
        let data = std::fs::read(path).expect("input file is readable");
        let outcome = std::panic::catch_unwind(|| run_certificate_input(&data));
        assert!(outcome.is_ok(), "input {} panicked", path.display());
    }
    files.len()
}

#[test]
fn certificate_seed_corpus_replays() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/certificate");
    let count = replay(&corpus);
    assert!(count > 0, "no seed inputs in {}", corpus.display());
}

#[test]
fn certificate_crash_inputs_replay() {
    let regressions =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/certificate");
    replay(&regressions);
}
