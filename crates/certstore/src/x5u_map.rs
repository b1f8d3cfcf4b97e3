//! The agnostic source for verification: a static map from x5u URLs to local
//! certificate files, for operators who exchange certificates out of band.
//!
//! ```toml
//! [x5u.files]
//! "https://cr.example.com/sti/709J.pem" = "certs/709J.pem"
//! # A key ending in "/" maps every file of a directory: its URL is the key
//! # followed by the file name.
//! "https://cr.partner.example/sti/" = "partner-certs/"
//! ```
//!
//! Every file is read and parsed once, at load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

/// Maximum number of files one directory entry maps.
pub const MAX_MAPPED_FILES: usize = 10_000;

/// Reason the map could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X5uMapError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: {reason}")]
    Toml { path: String, reason: String },
    #[error("x5u map entry '{url}': {reason}")]
    Entry { url: String, reason: String },
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    x5u: X5uSection,
}

#[derive(Debug, Default, Deserialize)]
struct X5uSection {
    #[serde(default)]
    files: HashMap<String, PathBuf>,
}

/// Certificate chains by x5u URL, parsed at load.
#[derive(Debug, Default)]
pub struct X5uMap {
    chains: HashMap<String, Arc<Vec<cert::Certificate>>>,
}

impl X5uMap {
    /// Reads the `[x5u.files]` table of a TOML configuration file. Relative paths
    /// are taken from the file's directory.
    pub fn from_config_file(path: &Path) -> Result<Self, X5uMapError> {
        let text = std::fs::read_to_string(path).map_err(|e| X5uMapError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let file: ConfigFile = toml::from_str(&text).map_err(|e| X5uMapError::Toml {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let entries: Vec<(String, PathBuf)> = file
            .x5u
            .files
            .into_iter()
            .map(|(url, file)| (url, base.join(file)))
            .collect();
        Self::from_entries(&entries)
    }

    /// Builds the map from (URL or URL prefix ending in `/`, file or directory)
    /// entries.
    pub fn from_entries(entries: &[(String, PathBuf)]) -> Result<Self, X5uMapError> {
        let mut map = X5uMap::default();
        for (url, path) in entries {
            let entry_error = |reason: String| X5uMapError::Entry {
                url: url.clone(),
                reason,
            };
            if !url.starts_with("https://") {
                return Err(entry_error("the URL must start with https://".to_owned()));
            }
            if url.ends_with('/') {
                for file in directory_files(path).map_err(entry_error)? {
                    let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
                        continue;
                    };
                    map.insert(format!("{url}{name}"), &file)
                        .map_err(entry_error)?;
                }
            } else {
                map.insert(url.clone(), path).map_err(entry_error)?;
            }
        }
        Ok(map)
    }

    fn insert(&mut self, url: String, path: &Path) -> Result<(), String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let chain = cert::parse_chain(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        self.chains.insert(url, Arc::new(chain));
        Ok(())
    }

    /// Returns the chain mapped to `x5u`, compared as a string (RFC 3986 section
    /// 6.2.1), as verifiers compare `info` and `x5u`.
    pub fn chain(&self, x5u: &str) -> Option<Arc<Vec<cert::Certificate>>> {
        self.chains.get(x5u).cloned()
    }

    /// Returns the number of URLs mapped.
    pub fn len(&self) -> usize {
        self.chains.len()
    }

    /// Reports whether no URL is mapped.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }
}

fn directory_files(directory: &Path) -> Result<Vec<PathBuf>, String> {
    let read_error = |e: std::io::Error| format!("cannot read {}: {e}", directory.display());
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        if path.is_file() {
            files.push(path);
        }
        if files.len() > MAX_MAPPED_FILES {
            return Err(format!(
                "{} holds more than {MAX_MAPPED_FILES} files",
                directory.display()
            ));
        }
    }
    files.sort();
    Ok(files)
}
