//! Name resolution for x5u fetches, behind a trait so that tests and operators
//! can pin names to addresses without touching the system resolver.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;

/// The future a [`Resolve`] implementation returns.
pub type ResolveFuture = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Resolves a host name to the addresses a fetch may connect to. The fetcher
/// checks each address against the x5u policy and connects only to one that
/// passed, so the result cannot change between the check and the connection.
pub trait Resolve: Send + Sync + std::fmt::Debug {
    /// Looks up `host`.
    fn resolve(&self, host: &str) -> ResolveFuture;
}

/// The system resolver (getaddrinfo on tokio's blocking pool).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str) -> ResolveFuture {
        let host = host.to_owned();
        Box::pin(async move {
            let addresses = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addresses.map(|address| address.ip()).collect())
        })
    }
}

/// Fixed addresses for some names, like curl's `--resolve`. Other names go to
/// the system resolver, or fail when `fallback` is off.
#[derive(Debug, Default, Clone)]
pub struct StaticResolver {
    names: HashMap<String, Vec<IpAddr>>,
    fallback: bool,
}

impl StaticResolver {
    /// Creates an empty table that falls back to the system resolver when
    /// `fallback` is true.
    pub fn new(fallback: bool) -> Self {
        StaticResolver {
            names: HashMap::new(),
            fallback,
        }
    }

    /// Maps `host` to `addresses`.
    pub fn insert(&mut self, host: &str, addresses: Vec<IpAddr>) {
        self.names.insert(host.to_ascii_lowercase(), addresses);
    }

    /// Parses `HOST:ADDRESS` entries, as `--resolve` takes them; an IPv6 address
    /// may be written in brackets.
    pub fn parse_entry(entry: &str) -> Result<(String, IpAddr), String> {
        let (host, address) = entry
            .split_once(':')
            .ok_or_else(|| format!("'{entry}' is not HOST:ADDRESS"))?;
        let address = address.trim_start_matches('[').trim_end_matches(']');
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("'{address}' in '{entry}' is not an IP address"))?;
        if host.is_empty() {
            return Err(format!("'{entry}' names no host"));
        }
        Ok((host.to_ascii_lowercase(), address))
    }
}

impl Resolve for StaticResolver {
    fn resolve(&self, host: &str) -> ResolveFuture {
        match self.names.get(&host.to_ascii_lowercase()) {
            Some(addresses) => {
                let addresses = addresses.clone();
                Box::pin(async move { Ok(addresses) })
            }
            None if self.fallback => SystemResolver.resolve(host),
            None => {
                let message = format!("no address is configured for '{host}'");
                Box::pin(async move { Err(io::Error::new(io::ErrorKind::NotFound, message)) })
            }
        }
    }
}
