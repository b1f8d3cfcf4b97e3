//! `stird cert`: certificate commands.

use std::path::PathBuf;

use cert::{TrustSources, TrustStore, validate_path};
use clap::Subcommand;

use crate::{InputError, Outcome, read_file, timearg};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a certificate chain up to the STI trust anchors.
    Verify(VerifyArgs),
}

/// STI trust anchors: the STI-CA roots, never the TLS roots of the system.
#[derive(Debug, Clone, clap::Args)]
pub struct TrustArgs {
    /// PEM bundle (or DER file) of trusted STI-CA root certificates; repeatable.
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,
    /// Directory of trusted STI-CA root certificates (.pem, .crt, .cer, .der); repeatable.
    #[arg(long = "ca-dir", value_name = "DIR")]
    pub ca_dirs: Vec<PathBuf>,
}

impl TrustArgs {
    /// Reports whether any trust anchor source was given.
    pub fn given(&self) -> bool {
        !self.ca_files.is_empty() || !self.ca_dirs.is_empty()
    }

    /// Loads the trust anchors, naming the file at fault.
    pub fn load(&self) -> Result<TrustStore, InputError> {
        let sources = TrustSources {
            files: self.ca_files.clone(),
            directories: self.ca_dirs.clone(),
        };
        TrustStore::load(&sources).map_err(|error| InputError(format!("trust anchors: {error}")))
    }
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    trust: TrustArgs,
    /// Validation time: Unix seconds or RFC 3339; now when absent.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// The chain to validate: subscriber certificate first, then intermediates
    /// (PEM, or one DER certificate).
    chain: PathBuf,
}

pub fn run(command: &Command) -> Result<Outcome, InputError> {
    match command {
        Command::Verify(args) => verify(args),
    }
}

fn verify(args: &VerifyArgs) -> Result<Outcome, InputError> {
    if !args.trust.given() {
        return Err("give the STI trust anchors with --ca-file or --ca-dir".into());
    }
    let store = args.trust.load()?;
    let chain = cert::parse_chain(&read_file(&args.chain, "certificate chain")?)
        .map_err(|error| format!("certificate chain {}: {error}", args.chain.display()))?;
    let at = match &args.at {
        Some(text) => timearg::parse(text, "--at")?,
        None => timearg::now(),
    };

    match validate_path(&chain, store.anchors(), at) {
        Ok(path) => {
            println!("result: valid at {} ({at})", timearg::format_utc(at));
            for (depth, certificate) in path.certificates.iter().enumerate() {
                let role = match depth {
                    0 => "subscriber",
                    _ if depth + 1 == path.certificates.len() => "trust anchor",
                    _ => "intermediate",
                };
                println!("  {depth}: {role}: {certificate}");
            }
            println!("revocation: not checked (no CRL given)");
            Ok(Outcome::Valid)
        }
        Err(error) => {
            println!("result: invalid at {} ({at})", timearg::format_utc(at));
            println!("reason: {error}");
            Ok(Outcome::Invalid)
        }
    }
}
