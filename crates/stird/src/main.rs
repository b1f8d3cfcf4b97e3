//! The stird command line: sign, verify and inspect SHAKEN Identity headers.
//!
//! Exit status of every command: 0 valid, usable or clean; 1 invalid or refused;
//! 2 usage or input error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod certcmd;
mod inspect;
mod sign;
mod timearg;
mod verify;

/// STIR/SHAKEN authentication, verification and inspection for SIP networks.
#[derive(Debug, Parser)]
#[command(name = "stird", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign a SHAKEN PASSporT and print the Identity header value.
    Sign(sign::Args),
    /// Check an Identity header against a certificate without network access.
    Verify(verify::Args),
    /// Decode an Identity header field by field, verifying nothing.
    Inspect(inspect::Args),
    /// Certificate commands: inspect, validate and lint.
    #[command(subcommand)]
    Cert(certcmd::Command),
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
        Command::Sign(args) => sign::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Cert(command) => certcmd::run(&command),
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

/// Reads a file named on the command line, naming it in the error.
pub fn read_file(path: &std::path::Path, what: &str) -> Result<Vec<u8>, InputError> {
    std::fs::read(path)
        .map_err(|error| InputError(format!("cannot read {what} {}: {error}", path.display())))
}
