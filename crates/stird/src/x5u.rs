//! `stird x5u`: fetch an x5u URL under the policy the service applies and show
//! each step, so an operator can find out why calls from a provider fail.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use certstore::resolve::{Resolve, StaticResolver, SystemResolver};
use certstore::x5u_policy::parse_network;
use certstore::{FetchSettings, Origin, SharedTrust, Trust, X5uCache, X5uError};

use crate::certcmd::{CrlArgs, TrustArgs, describe, describe_revocation, print_certificate};
use crate::{InputError, Outcome, timearg};

/// Fetch options: the repository TLS trust and the policy limits.
#[derive(Debug, Clone, clap::Args)]
pub struct FetchArgs {
    /// PEM file of CA certificates that certificate repositories' HTTPS servers
    /// chain to; the Mozilla roots when absent. Never used as STI trust anchors.
    #[arg(long, value_name = "FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Accept this address or CIDR network although it is loopback, private or
    /// otherwise special-purpose; repeatable.
    #[arg(long, value_name = "CIDR")]
    pub allow_address: Vec<String>,
    /// Accept this port in x5u URLs besides 443 and 8443; repeatable.
    #[arg(long, value_name = "PORT")]
    pub allow_port: Vec<u16>,
    /// Time allowed for the whole fetch, in milliseconds [default: 2000].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub timeout_ms: Option<u64>,
    /// Largest body accepted, in bytes [default: 65536].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_bytes: Option<u64>,
    /// Follow one redirect, to a URL that passes the same policy.
    #[arg(long)]
    pub follow_redirect: bool,
    /// Resolve HOST to ADDRESS instead of asking DNS; repeatable. The address
    /// still has to pass the policy.
    #[arg(long, value_name = "HOST:ADDRESS")]
    pub resolve: Vec<String>,
}

impl FetchArgs {
    /// Reads the `[x5u]` and `[cache]` tables of `config` when given, then applies
    /// the command-line flags over them.
    pub fn settings(&self, config: Option<&std::path::Path>) -> Result<FetchSettings, InputError> {
        let mut settings = match config {
            Some(path) => FetchSettings::from_config_file(path)?,
            None => FetchSettings {
                redis_timeout: Duration::from_millis(200),
                ..FetchSettings::default()
            },
        };
        let cache = &mut settings.cache;
        for network in &self.allow_address {
            cache
                .policy
                .allowed_networks
                .push(parse_network(network).map_err(|error| format!("--allow-address {error}"))?);
        }
        cache.policy.allowed_ports.extend(&self.allow_port);
        if let Some(ms) = self.timeout_ms {
            cache.limits.total_timeout = Duration::from_millis(ms);
            cache.lookup_timeout = cache.limits.total_timeout + Duration::from_millis(500);
        }
        if let Some(bytes) = self.max_bytes {
            cache.limits.max_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        }
        if self.follow_redirect {
            cache.limits.follow_redirect = true;
        }
        if self.tls_ca_file.is_some() {
            settings.tls_ca_file.clone_from(&self.tls_ca_file);
        }
        Ok(settings)
    }

    /// Builds the resolver: the system's, with the `--resolve` entries first.
    pub fn resolver(&self) -> Result<Arc<dyn Resolve>, InputError> {
        if self.resolve.is_empty() {
            return Ok(Arc::new(SystemResolver));
        }
        let mut table = StaticResolver::new(true);
        for entry in &self.resolve {
            let (host, address) =
                StaticResolver::parse_entry(entry).map_err(|e| format!("--resolve {e}"))?;
            table.insert(&host, vec![address]);
        }
        Ok(Arc::new(table))
    }

    /// Builds a memory-only cache under `settings`: a command-line fetch never
    /// writes the service's disk or Redis tiers.
    pub fn cache(
        &self,
        settings: &FetchSettings,
        trust: Option<Arc<SharedTrust>>,
    ) -> Result<X5uCache, InputError> {
        let tls = certstore::fetch::tls_config(settings.tls_ca_file.as_deref())
            .map_err(|error| format!("--tls-ca-file: {error}"))?;
        let resolver = self.resolver()?;
        let mut builder = X5uCache::builder(settings.cache.clone())
            .tls(tls)
            .resolver(resolver);
        if let Some(trust) = trust {
            builder = builder.trust(trust);
        }
        Ok(builder.build()?)
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The x5u URL.
    url: String,
    /// Configuration file whose [x5u] and [cache] tables set the policy.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    crls: CrlArgs,
    #[command(flatten)]
    fetch: FetchArgs,
    /// Validation time: Unix seconds or RFC 3339; now when absent.
    #[arg(long, value_name = "TIME", allow_negative_numbers = true)]
    at: Option<String>,
}

/// Loads the STI trust anchors and CRLs named on the command line, if any.
pub fn load_trust(trust: &TrustArgs, crls: &CrlArgs) -> Result<Option<Trust>, InputError> {
    let crl_store = crls.load()?;
    if !trust.given() {
        if crl_store.is_some() {
            return Err(
                "--crl-file and --crl-dir need trust anchors (--ca-file or --ca-dir)".into(),
            );
        }
        return Ok(None);
    }
    Ok(Some(Trust::new(trust.load()?, crl_store)))
}

/// Starts a current-thread runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, InputError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| InputError(format!("cannot start the I/O runtime: {error}")))
}

pub fn run(args: &Args) -> Result<Outcome, InputError> {
    let settings = args.fetch.settings(args.config.as_deref())?;
    let trust = load_trust(&args.trust, &args.crls)?;
    let anchored = trust.is_some();
    let cache = args
        .fetch
        .cache(&settings, trust.map(|t| Arc::new(SharedTrust::new(t))))?;
    let now = match &args.at {
        Some(text) => timearg::parse(text, "--at")?,
        None => timearg::now(),
    };

    say!("url: {}", args.url);
    let result = runtime()?.block_on(cache.lookup(&args.url, now));
    let cached = match result {
        Ok(cached) => cached,
        Err(error) => {
            say!("result: refused");
            say!("rule: {}", rule_of(&error));
            say!("reason: {error}");
            let code = if error.is_untrusted() { 437 } else { 436 };
            say!(
                "sip response: {code} {}",
                if code == 437 {
                    "Unsupported Credential"
                } else {
                    "Bad Identity Info"
                }
            );
            return Ok(Outcome::Invalid);
        }
    };

    if let Some(response) = &cached.info.response {
        say!("address: {}", response.address);
        if response.url != args.url {
            say!("redirected to: {}", response.url);
        }
        say!("http status: {}", response.status);
        say!(
            "content type: {}",
            response.content_type.as_deref().unwrap_or("(none)")
        );
        say!("bytes: {}", response.bytes);
        say!("time: {} ms", response.elapsed.as_millis());
    }
    if cached.info.origin != Origin::Network {
        say!("source: {:?} cache", cached.info.origin);
    }
    let lifetime = &cached.info.lifetime;
    say!(
        "cache lifetime: {} ({}), until {}",
        certstore::lifetime::duration(lifetime.remaining(now)),
        lifetime.reason,
        timearg::format_utc(lifetime.expires_at)
    );
    for (index, certificate) in cached.cert.chain.iter().enumerate() {
        say!("certificate {}:", index + 1);
        print_certificate(certificate, &describe(certificate));
    }
    match &cached.cert.path {
        Some(path) => {
            let names: Vec<&str> = path
                .certificates
                .iter()
                .map(|named| named.subject.as_str())
                .collect();
            say!("path: validated: {}", names.join(" -> "));
            say!("revocation: {}", describe_revocation(&path.revocation));
        }
        None if !anchored => {
            say!("path: NOT VALIDATED (give --ca-file or --ca-dir to validate the chain)")
        }
        None => {}
    }
    if let Some(signer) = cached.cert.signer() {
        match &signer.tn_auth_list {
            None => say!("signer TNAuthList: absent, which SHAKEN requires"),
            Some(Err(reason)) => say!("signer TNAuthList: MALFORMED: {reason}"),
            Some(Ok(_)) => say!(
                "signer TNAuthList: {}",
                describe(signer)
                    .get("tn_auth_list")
                    .cloned()
                    .unwrap_or_default()
            ),
        }
    }
    say!("result: usable");
    Ok(Outcome::Valid)
}

/// Names the rule an error comes from, in a word or two an operator can grep.
fn rule_of(error: &X5uError) -> &'static str {
    use certstore::fetch::FetchError;
    use certstore::x5u_policy::X5uPolicyError;
    match error {
        X5uError::Fetch { error, .. } => match error {
            FetchError::Policy(policy) => match policy {
                X5uPolicyError::TooLong { .. } => "url-length",
                X5uPolicyError::Malformed { .. } => "url-syntax",
                X5uPolicyError::Scheme { .. } => "https-only",
                X5uPolicyError::Port { .. } => "port",
                X5uPolicyError::ForbiddenPart { .. } => "url-parts",
                X5uPolicyError::HostRefused { .. } => "host-list",
                X5uPolicyError::AddressRefused { .. } => "address-class",
            },
            FetchError::Resolve { .. } | FetchError::NoAddress { .. } => "dns",
            FetchError::Connect { .. } => "connect",
            FetchError::Tls { .. } => "tls",
            FetchError::Http { .. } => "http",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Status { .. } => "http-status",
            FetchError::Redirect { .. }
            | FetchError::TooManyRedirects { .. }
            | FetchError::RedirectRefused { .. } => "redirect",
            FetchError::TooLarge { .. } => "size",
        },
        X5uError::Empty { .. } | X5uError::NotCertificate { .. } => "body",
        X5uError::PrivateKey { .. } => "private-key-leak",
        X5uError::Untrusted { .. } => "certificate",
        X5uError::CircuitOpen { .. } => "circuit-breaker",
        X5uError::Deadline { .. } => "deadline",
        X5uError::Overloaded { .. } => "overload",
        X5uError::RecentFailure { error, .. } => rule_of(error),
    }
}
