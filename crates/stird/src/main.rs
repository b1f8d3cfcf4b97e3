//! The stird command line: sign, verify and inspect SHAKEN Identity headers.
//!
//! Exit status of every command: 0 valid, usable or clean; 1 invalid or refused;
//! 2 usage or input error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Writes one line to standard output. A reader that went away (a closed pipe)
/// or a full disk ends the program with exit status 2 instead of a panic.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::write_line(format_args!($($arg)*))
    };
}

mod api;
mod certcmd;
mod credentials;
mod drain;
mod http;
mod inspect;
mod metrics;
mod reload;
mod serve;
mod serve_config;
mod sign;
mod timearg;
mod verify;
mod x5u;

/// STIR/SHAKEN authentication, verification and inspection for SIP networks.
#[derive(Debug, Parser)]
#[command(name = "stird", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the SIP service; without --config, a complete demo on loopback.
    Serve(serve::Args),
    /// Check a configuration file as `serve` would load it, without starting.
    CheckConfig {
        /// The configuration file.
        file: std::path::PathBuf,
    },
    /// Sign a SHAKEN PASSporT and print the Identity header value.
    Sign(sign::Args),
    /// Verify an Identity header: against a given certificate, or the chain
    /// fetched from its x5u.
    Verify(verify::Args),
    /// Fetch an x5u URL under the service's policy and show every step.
    X5u(x5u::Args),
    /// Decode an Identity header field by field, verifying nothing.
    Inspect(inspect::Args),
    /// Certificate commands: inspect, validate and lint.
    #[command(subcommand)]
    Cert(certcmd::Command),
    /// Test PKI commands.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Signing credential commands: create the database, list what loads.
    #[command(subcommand)]
    Credentials(credentials::Command),
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Write a test PKI in the SHAKEN profile: root.pem, intermediate.pem,
    /// subscriber.pem (each with a .key.pem), chain.pem, crl-signer.pem with its
    /// key, and crl.pem. For tests and demos only.
    Init(certcmd::PkiInitArgs),
    /// Write a TLS CA (tls-ca.pem) and a server certificate with its key
    /// (tls-server.pem, tls-server.key.pem) for a test certificate repository's
    /// HTTPS server. Separate from the STI PKI; for tests and demos only.
    Tls(certcmd::PkiTlsArgs),
}

/// The outcome of a command, mapped to the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0: valid, usable or clean.
    Valid,
    /// Exit 1: invalid or refused.
    Invalid,
}

/// An error in the arguments or input files: exit 2.
#[derive(Debug)]
pub struct InputError(pub String);

impl<T: Into<String>> From<T> for InputError {
    fn from(message: T) -> Self {
        InputError(message.into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::CheckConfig { file } => serve::check_config(&file),
        Command::Sign(args) => sign::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::X5u(args) => x5u::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Cert(command) => certcmd::run(&command),
        Command::Pki(PkiCommand::Init(args)) => certcmd::pki_init(&args),
        Command::Pki(PkiCommand::Tls(args)) => certcmd::pki_tls(&args),
        Command::Credentials(command) => credentials::run(&command),
    };
    match result {
        Ok(Outcome::Valid) => ExitCode::SUCCESS,
        Ok(Outcome::Invalid) => ExitCode::from(1),
        Err(InputError(message)) => {
            eprintln!("stird: {message}");
            ExitCode::from(2)
        }
    }
}

/// Maximum size of a file named on the command line: keys, certificates,
/// bundles and CRLs are far smaller.
const MAX_INPUT_FILE: u64 = 16 * 1024 * 1024;

/// Reads a file named on the command line, at most [`MAX_INPUT_FILE`] bytes,
/// naming it in the error.
pub fn read_file(path: &std::path::Path, what: &str) -> Result<Vec<u8>, InputError> {
    use std::io::Read as _;
    let error =
        |reason: String| InputError(format!("cannot read {what} {}: {reason}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| error(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| error(e.to_string()))?;
    if bytes.len() as u64 > MAX_INPUT_FILE {
        return Err(error(format!("larger than {MAX_INPUT_FILE} bytes")));
    }
    Ok(bytes)
}

/// Writes a line to standard output, exiting with status 2 when that fails.
/// Control and bidirectional-formatting characters, which an attacker can put in
/// a PASSporT or a certificate to forge output lines or recolor a terminal, are
/// written as `\u{...}` escapes.
pub fn write_line(line: std::fmt::Arguments<'_>) {
    let line = line.to_string();
    write_raw(&escape_controls(&line));
}

/// Writes text to standard output as it is, for JSON, whose strings serde_json
/// already escapes, exiting with status 2 when the write fails.
pub fn write_raw(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{text}") {
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("stird: cannot write the output: {error}");
        }
        std::process::exit(2);
    }
}

/// Escapes the characters of `text` that a terminal would act on rather than
/// show: C0 and C1 controls other than tab, and the bidirectional marks.
fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_character = |c: char| {
        (c.is_control() && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_character) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if unsafe_character(c) {
                format!("\\u{{{:x}}}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn controls_escaped() {
        assert_eq!(
            escape_controls("a\nb\u{1b}[32m\u{202e}c\td"),
            "a\\u{a}b\\u{1b}[32m\\u{202e}c\td"
        );
        assert_eq!(escape_controls("plain"), "plain");
    }
}
