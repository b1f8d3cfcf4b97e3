//! `stird credentials`: create the credential database and list what loads.

use std::path::{Path, PathBuf};

use certstore::{CredentialSet, read_config_file, read_database};
use clap::Subcommand;

use crate::{InputError, Outcome, timearg};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the credential tables in a SQLite database (the file is created
    /// when missing; existing rows are kept).
    Init {
        /// The database file.
        db: PathBuf,
    },
    /// Load the credentials, run every load check, and show each one with what
    /// selects it, its attestation policy, days to expiry and warnings.
    #[command(
        after_help = "Exit status: 0 when every credential loads, 1 when one fails a check, 2 on a usage or read error."
    )]
    List {
        /// Configuration file with [[credential]] tables.
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "db",
            required_unless_present = "db"
        )]
        config: Option<PathBuf>,
        /// SQLite database of credentials.
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
    },
    /// Fetch each credential's x5u URL, as verifiers will, and check that it
    /// serves the credential's chain.
    #[command(
        after_help = "Exit status: 0 when every URL serves its credential's signer certificate, 1 otherwise, 2 on a usage or read error."
    )]
    Check {
        /// Configuration file with [[credential]] tables; its [x5u] table sets
        /// the fetch policy.
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "db",
            required_unless_present = "db"
        )]
        config: Option<PathBuf>,
        /// SQLite database of credentials.
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
        #[command(flatten)]
        fetch: crate::x5u::FetchArgs,
    },
}

/// Days before a certificate's notAfter from which listings warn.
const EXPIRY_WARNING_DAYS: i64 = 30;

pub fn run(command: &Command) -> Result<Outcome, InputError> {
    match command {
        Command::Init { db } => {
            certstore::init_database(db).map_err(|error| InputError(error.to_string()))?;
            say!("created the credential tables in {}", db.display());
            Ok(Outcome::Valid)
        }
        Command::List { config, db } => list(config.as_deref(), db.as_deref()),
        Command::Check { config, db, fetch } => check(config.as_deref(), db.as_deref(), fetch),
    }
}

fn check(
    config: Option<&Path>,
    db: Option<&Path>,
    fetch: &crate::x5u::FetchArgs,
) -> Result<Outcome, InputError> {
    let set = load(config, db)?;
    let settings = fetch.settings(config)?;
    let tls = certstore::fetch::tls_config(settings.tls_ca_file.as_deref())
        .map_err(|error| format!("--tls-ca-file: {error}"))?;
    let resolver = fetch.resolver()?;
    let results = crate::x5u::runtime()?.block_on(certstore::published::check_published(
        set.credentials(),
        &settings.cache,
        Some(tls),
        resolver.as_ref(),
    ));
    let mut outcome = Outcome::Valid;
    for result in &results {
        say!("{}: {} {}", result.name, result.x5u, result.published);
        if !result.published.is_usable() {
            outcome = Outcome::Invalid;
        }
    }
    Ok(outcome)
}

/// Loads the credentials from a configuration file or a database. A failed load
/// check is a refusal, reported as an input error with the credential named.
pub fn load(config: Option<&Path>, db: Option<&Path>) -> Result<CredentialSet, InputError> {
    let configs = match (config, db) {
        (Some(path), _) => read_config_file(path),
        (None, Some(path)) => read_database(path),
        (None, None) => return Err("give the credentials with --config or --db".into()),
    }
    .map_err(|error| InputError(error.to_string()))?;
    CredentialSet::load(&configs, timearg::now()).map_err(|error| InputError(error.to_string()))
}

fn list(config: Option<&Path>, db: Option<&Path>) -> Result<Outcome, InputError> {
    let set = match load(config, db) {
        Ok(set) => set,
        Err(InputError(message)) if message.starts_with("credential '") => {
            say!("refused: {message}");
            return Ok(Outcome::Invalid);
        }
        Err(error) => return Err(error),
    };
    let now = timearg::now();
    for credential in set.credentials() {
        let signer = credential.chain.first();
        say!("credential {}", credential.name);
        say!("  x5u: {}", credential.x5u);
        say!(
            "  certificate: {}",
            signer.map_or("", |c| c.subject.as_str())
        );
        say!(
            "  attestation: default {}, at most {}",
            credential.attest_default,
            credential.attest_max
        );
        let days = credential.days_to_expiry(now);
        say!(
            "  expires: {} ({days} days)",
            timearg::format_utc(credential.not_after)
        );
        if days < EXPIRY_WARNING_DAYS {
            say!("  warning: the certificate expires in {days} days");
        }
        for selector in &credential.selectors {
            say!("  selected by: {selector}");
        }
        for warning in &credential.warnings {
            say!("  warning: {warning}");
        }
    }
    if set.credentials().is_empty() {
        say!("no credential is declared");
    }
    Ok(Outcome::Valid)
}
