//! The STI trust anchors: the STI-CA roots of the STI-PA's list, loaded from PEM
//! bundles and directories, and reloaded atomically while verifications go on.
//!
//! These anchors are a separate trust domain from the TLS roots that secure the
//! HTTPS connection to a certificate repository; the two never mix.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::parse::{Certificate, parse_bundle};

/// Maximum number of files read from one trust anchor directory.
pub const MAX_DIRECTORY_FILES: usize = 1_000;

/// Reason a trust store could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("directory {path} holds more than {max} files")]
    TooManyFiles { path: PathBuf, max: usize },
    #[error("no trust anchor found in {sources}")]
    Empty { sources: String },
}

/// Files and directories that hold the trust anchors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustSources {
    /// PEM bundles or DER files, each with one or more certificates.
    pub files: Vec<PathBuf>,
    /// Directories whose `.pem`, `.crt`, `.cer` and `.der` files are read.
    pub directories: Vec<PathBuf>,
}

/// A loaded set of trust anchors, immutable once built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustStore {
    anchors: Vec<Certificate>,
    generation: u64,
}

impl TrustStore {
    /// Builds a store from certificates already parsed, with generation 0.
    pub fn from_certificates(anchors: Vec<Certificate>) -> Self {
        TrustStore {
            anchors,
            generation: 0,
        }
    }

    /// Loads every certificate of `sources`. Any unreadable or malformed file
    /// fails the whole load, so a typo never silently drops a root.
    pub fn load(sources: &TrustSources) -> Result<Self, TrustError> {
        let mut anchors = Vec::new();
        for file in &sources.files {
            anchors.extend(load_file(file)?);
        }
        for directory in &sources.directories {
            for file in certificate_files(directory)? {
                anchors.extend(load_file(&file)?);
            }
        }
        if anchors.is_empty() {
            return Err(TrustError::Empty {
                sources: describe(sources),
            });
        }
        Ok(TrustStore::from_certificates(anchors))
    }

    /// Returns the trust anchors.
    pub fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }

    /// Returns the generation number: it grows with each reload, so a cached
    /// validation made under an older generation is known to be stale.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// A trust store shared by concurrent verifications and replaced as a whole on
/// reload: a verification keeps the store it started with.
#[derive(Debug)]
pub struct SharedTrustStore {
    current: RwLock<Arc<TrustStore>>,
    generations: AtomicU64,
}

impl SharedTrustStore {
    /// Wraps a first store, which becomes generation 1.
    pub fn new(mut store: TrustStore) -> Self {
        store.generation = 1;
        SharedTrustStore {
            current: RwLock::new(Arc::new(store)),
            generations: AtomicU64::new(1),
        }
    }

    /// Returns the current store.
    pub fn current(&self) -> Arc<TrustStore> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Loads `sources` and swaps the new store in, returning its generation. A load
    /// that fails leaves the current store in place.
    pub fn reload(&self, sources: &TrustSources) -> Result<u64, TrustError> {
        let mut store = TrustStore::load(sources)?;
        store.generation = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        let generation = store.generation;
        let store = Arc::new(store);
        match self.current.write() {
            Ok(mut guard) => *guard = store,
            Err(poisoned) => *poisoned.into_inner() = store,
        }
        Ok(generation)
    }
}

fn load_file(path: &Path) -> Result<Vec<Certificate>, TrustError> {
    let bytes =
        crate::parse::read_limited(path, crate::parse::MAX_BUNDLE_BYTES).map_err(|error| {
            TrustError::Read {
                path: path.to_owned(),
                reason: error.to_string(),
            }
        })?;
    parse_bundle(&bytes).map_err(|error| TrustError::Parse {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

/// Lists the certificate files of a directory in name order, so loads are
/// repeatable.
fn certificate_files(directory: &Path) -> Result<Vec<PathBuf>, TrustError> {
    let read_error = |error: std::io::Error| TrustError::Read {
        path: directory.to_owned(),
        reason: error.to_string(),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        let wanted = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            matches!(
                e.to_ascii_lowercase().as_str(),
                "pem" | "crt" | "cer" | "der"
            )
        });
        if wanted && path.is_file() {
            files.push(path);
        }
        if files.len() > MAX_DIRECTORY_FILES {
            return Err(TrustError::TooManyFiles {
                path: directory.to_owned(),
                max: MAX_DIRECTORY_FILES,
            });
        }
    }
    files.sort();
    Ok(files)
}

fn describe(sources: &TrustSources) -> String {
    let names: Vec<String> = sources
        .files
        .iter()
        .chain(&sources.directories)
        .map(|p| p.display().to_string())
        .collect();
    if names.is_empty() {
        "no file or directory".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata")
            .join(name)
    }

    #[test]
    fn reload_bumps_generation() {
        let first = TrustSources {
            files: vec![testdata("synthetic/syn-root.pem")],
            directories: vec![],
        };
        let shared = SharedTrustStore::new(TrustStore::load(&first).unwrap());
        let before = shared.current();
        assert_eq!(before.generation(), 1);

        let both = TrustSources {
            files: vec![
                testdata("synthetic/syn-root.pem"),
                testdata("synthetic/syn-other-root.pem"),
            ],
            directories: vec![],
        };
        assert_eq!(shared.reload(&both).unwrap(), 2);
        assert_eq!(shared.current().anchors().len(), 2);
        // A verification that took the store before the reload keeps it.
        assert_eq!(before.anchors().len(), 1);
    }

    #[test]
    fn failed_reload_keeps_store() {
        let first = TrustSources {
            files: vec![testdata("synthetic/syn-root.pem")],
            directories: vec![],
        };
        let shared = SharedTrustStore::new(TrustStore::load(&first).unwrap());
        let missing = TrustSources {
            files: vec![testdata("no-such-file.pem")],
            directories: vec![],
        };
        assert!(matches!(
            shared.reload(&missing),
            Err(TrustError::Read { .. })
        ));
        assert_eq!(shared.current().generation(), 1);
        assert_eq!(shared.current().anchors().len(), 1);
    }

    #[test]
    fn directory_loads_certificate_files() {
        let directory = std::env::temp_dir().join(format!("stird-trust-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::copy(testdata("synthetic/syn-root.pem"), directory.join("a.pem")).unwrap();
        std::fs::copy(
            testdata("synthetic/syn-other-root.pem"),
            directory.join("b.crt"),
        )
        .unwrap();
        std::fs::write(directory.join("notes.txt"), "not a certificate").unwrap();
        let sources = TrustSources {
            files: vec![],
            directories: vec![directory.clone()],
        };
        assert_eq!(TrustStore::load(&sources).unwrap().anchors().len(), 2);

        // A private key among the anchors is a mistake worth stopping for.
        std::fs::copy(
            testdata("synthetic/syn-ee-123J.key.pem"),
            directory.join("c.pem"),
        )
        .unwrap();
        let error = TrustStore::load(&sources).unwrap_err();
        std::fs::remove_dir_all(&directory).unwrap();
        assert!(matches!(error, TrustError::Parse { .. }), "{error}");
    }

    #[test]
    fn empty_sources_rejected() {
        assert_eq!(
            TrustStore::load(&TrustSources::default()),
            Err(TrustError::Empty {
                sources: "no file or directory".into()
            })
        );
    }
}
