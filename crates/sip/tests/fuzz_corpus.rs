#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Replays the `sip` fuzz target's seed corpus and every saved crash input
//! through the fuzz target's body, so that they run under `cargo test`.

use std::path::{Path, PathBuf};

include!("../../../fuzz/fuzz_targets/sip_body.rs");

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
        let outcome = std::panic::catch_unwind(|| run_sip_input(&data));
        assert!(outcome.is_ok(), "input {} panicked", path.display());
    }
    files.len()
}

#[test]
fn sip_seed_corpus_replays() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sip");
    let count = replay(&corpus);
    assert!(count > 0, "no seed inputs in {}", corpus.display());
}

#[test]
fn sip_crash_inputs_replay() {
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/sip");
    replay(&regressions);
}
