//! Checks that each signing credential's x5u URL serves the chain the
//! credential signs with. A verifier fetches that URL for every call we sign:
//! when it serves another certificate, every call fails verification although
//! each signature is correct.
//!
//! The check fetches under the same policy and bounds as verification, and is
//! meant to run in the background after a load, never delaying startup.

use std::sync::Arc;

use crate::cache::{CacheConfig, parse_body};
use crate::credential::Credential;
use crate::fetch::{fetch, tls_config};
use crate::resolve::Resolve;
use crate::x5u_policy::check_url;

/// The outcome of comparing a credential's x5u document with its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// The same certificates, in the same order.
    Matches,
    /// The signer certificate is the configured one, but the intermediates
    /// differ; verifiers may still build a path.
    IntermediatesDiffer {
        /// Certificates served.
        served: usize,
        /// Certificates configured.
        configured: usize,
    },
    /// Another signer certificate: verifiers will check our signatures with a
    /// key that did not make them.
    OtherCertificate {
        /// The subject of the certificate served first.
        served_subject: String,
    },
    /// The URL could not be fetched or served no certificate.
    Unavailable(String),
}

impl Published {
    /// Returns true when verifiers of calls signed with this credential can
    /// succeed.
    pub fn is_usable(&self) -> bool {
        matches!(
            self,
            Published::Matches | Published::IntermediatesDiffer { .. }
        )
    }
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Published::Matches => f.write_str("serves the configured chain"),
            Published::IntermediatesDiffer { served, configured } => write!(
                f,
                "serves the configured signer certificate, but {served} certificates where {configured} are configured"
            ),
            Published::OtherCertificate { served_subject } => write!(
                f,
                "serves another certificate ('{served_subject}'): verifiers will reject every call signed with this credential"
            ),
            Published::Unavailable(reason) => write!(f, "cannot be checked: {reason}"),
        }
    }
}

/// The result for one credential.
#[derive(Debug, Clone)]
pub struct PublishedCheck {
    /// The credential's name.
    pub name: String,
    /// Its x5u URL.
    pub x5u: String,
    /// The comparison outcome.
    pub published: Published,
}

/// Fetches each credential's x5u URL, one at a time, under `config` and
/// compares what it serves with the configured chain. Each result is also
/// logged: a warning when verifiers would fail.
pub async fn check_published(
    credentials: &[Arc<Credential>],
    config: &CacheConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    resolver: &dyn Resolve,
) -> Vec<PublishedCheck> {
    let tls = match tls {
        Some(tls) => Ok(tls),
        None => tls_config(None),
    };
    let mut results = Vec::with_capacity(credentials.len());
    for credential in credentials {
        let published = match &tls {
            Ok(tls) => check_one(credential, config, tls, resolver).await,
            Err(error) => Published::Unavailable(error.clone()),
        };
        if published.is_usable() {
            tracing::info!(credential = %credential.name, x5u = %credential.x5u, "x5u {published}");
        } else {
            tracing::warn!(credential = %credential.name, x5u = %credential.x5u, "x5u {published}");
        }
        results.push(PublishedCheck {
            name: credential.name.clone(),
            x5u: credential.x5u.clone(),
            published,
        });
    }
    results
}

async fn check_one(
    credential: &Credential,
    config: &CacheConfig,
    tls: &Arc<rustls::ClientConfig>,
    resolver: &dyn Resolve,
) -> Published {
    let url = match check_url(&credential.x5u, &config.policy) {
        Ok(url) => url,
        Err(error) => return Published::Unavailable(error.to_string()),
    };
    let fetched = match fetch(&url, &config.policy, &config.limits, tls, resolver).await {
        Ok(fetched) => fetched,
        Err(error) => return Published::Unavailable(error.to_string()),
    };
    let served = match parse_body(&credential.x5u, &fetched.body) {
        Ok(chain) => chain,
        Err(error) => return Published::Unavailable(error.to_string()),
    };
    compare(&served, &credential.chain)
}

/// Compares a served chain with the configured one, by DER.
pub fn compare(served: &[cert::Certificate], configured: &[cert::Certificate]) -> Published {
    let (Some(first), Some(ours)) = (served.first(), configured.first()) else {
        return Published::Unavailable("no certificate to compare".to_owned());
    };
    if first.der != ours.der {
        return Published::OtherCertificate {
            served_subject: first.subject.clone(),
        };
    }
    let same = served.len() == configured.len()
        && served.iter().zip(configured).all(|(a, b)| a.der == b.der);
    if same {
        Published::Matches
    } else {
        Published::IntermediatesDiffer {
            served: served.len(),
            configured: configured.len(),
        }
    }
}
