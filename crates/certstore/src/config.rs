//! Sources of credential declarations: the `[[credential]]` tables of the TOML
//! configuration file, or a SQLite database.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::Deserialize;

use crate::credential::CredentialConfig;

/// The schema version that [`init_database`] writes into `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 1;

/// The database schema. One row of `credential` per credential, with paths to
/// its key and chain files (keys stay in files, where their permissions are
/// checked), and one row of `credential_selector` per number, prefix, range or
/// trunk that selects it. `count` is set for ranges only.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS credential (
    name TEXT PRIMARY KEY,
    key_path TEXT NOT NULL,
    chain_path TEXT NOT NULL,
    x5u TEXT NOT NULL,
    attest_max TEXT NOT NULL DEFAULT 'B' CHECK (attest_max IN ('A', 'B', 'C')),
    attest_default TEXT NOT NULL DEFAULT 'B' CHECK (attest_default IN ('A', 'B', 'C')),
    is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1))
);
CREATE TABLE IF NOT EXISTS credential_selector (
    credential TEXT NOT NULL REFERENCES credential (name) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('number', 'prefix', 'range', 'trunk')),
    value TEXT NOT NULL,
    count INTEGER CHECK ((kind = 'range') = (count IS NOT NULL)),
    PRIMARY KEY (credential, kind, value)
);
";

/// Reason declarations could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: {reason}")]
    Toml { path: String, reason: String },
    #[error("database {path}: {reason}")]
    Database { path: String, reason: String },
}

#[derive(Debug, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    credential: Vec<CredentialConfig>,
}

/// Reads the `[[credential]]` tables of a TOML configuration file. Relative key
/// and chain paths are taken from the file's directory. Other sections are left
/// to their readers.
pub fn read_config_file(path: &Path) -> Result<Vec<CredentialConfig>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| ConfigError::Toml {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(file
        .credential
        .into_iter()
        .map(|mut config| {
            config.key = base.join(&config.key);
            config.chain = base.join(&config.chain);
            config
        })
        .collect())
}

/// Creates the credential tables in the SQLite database at `path`, creating the
/// file when missing; an existing database keeps its rows.
pub fn init_database(path: &Path) -> Result<(), ConfigError> {
    let error = database_error(path);
    let connection = Connection::open(path).map_err(error)?;
    connection.execute_batch(SCHEMA).map_err(error)?;
    connection
        .pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(error)?;
    Ok(())
}

/// Reads the credential declarations of a SQLite database made by
/// [`init_database`].
pub fn read_database(path: &Path) -> Result<Vec<CredentialConfig>, ConfigError> {
    let error = database_error(path);
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(error)?;
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(error)?;
    if version != SCHEMA_VERSION {
        return Err(ConfigError::Database {
            path: path.display().to_string(),
            reason: format!(
                "schema version {version}; expected {SCHEMA_VERSION} (create it with stird credentials init)"
            ),
        });
    }

    let mut statement = connection
        .prepare("SELECT name, key_path, chain_path, x5u, attest_max, attest_default, is_default FROM credential ORDER BY name")
        .map_err(error)?;
    let mut configs: Vec<CredentialConfig> = statement
        .query_map([], |row| {
            Ok(CredentialConfig {
                name: row.get(0)?,
                key: PathBuf::from(row.get::<_, String>(1)?),
                chain: PathBuf::from(row.get::<_, String>(2)?),
                x5u: row.get(3)?,
                attest_max: row.get(4)?,
                attest_default: row.get(5)?,
                numbers: Vec::new(),
                prefixes: Vec::new(),
                ranges: Vec::new(),
                trunks: Vec::new(),
                default: row.get::<_, i64>(6)? == 1,
            })
        })
        .map_err(error)?
        .collect::<Result<_, _>>()
        .map_err(error)?;

    let mut selectors = connection
        .prepare("SELECT credential, kind, value, count FROM credential_selector ORDER BY credential, kind, value")
        .map_err(error)?;
    let rows = selectors
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<i64>>(3)?,
            ))
        })
        .map_err(error)?;
    for row in rows {
        let (name, kind, value, count) = row.map_err(error)?;
        let Some(config) = configs.iter_mut().find(|c| c.name == name) else {
            continue;
        };
        match kind.as_str() {
            "number" => config.numbers.push(value),
            "prefix" => config.prefixes.push(value),
            "range" => config
                .ranges
                .push(format!("{value}:{}", count.unwrap_or(0))),
            _ => config.trunks.push(value),
        }
    }
    Ok(configs)
}

fn database_error(path: &Path) -> impl Fn(rusqlite::Error) -> ConfigError + Copy + '_ {
    move |error| ConfigError::Database {
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}
