//! Reloading the signing credentials, trust anchors and CRLs of a running
//! `stird serve`, started by SIGHUP, by a change of the configuration file or
//! by `POST /admin/reload`. Every start runs the same steps, one at a time.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use certstore::{CredentialConfig, CredentialStore, SharedTrust};

use crate::metrics::Published;
use crate::serve::{base_of, load_trust, warn_expiring};
use crate::{serve_config, timearg};

/// The source that reloads read the credentials and trust from.
#[derive(Clone)]
pub(crate) enum Source {
    /// A configuration file, read again at each reload.
    Config(PathBuf),
    /// The demo's credentials, whose files are read again; its trust anchors
    /// are not reloaded.
    Demo(Vec<CredentialConfig>),
}

/// The result of one reload step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub(crate) enum Step {
    /// The step loaded new state, now in force.
    Reloaded {
        /// Credentials loaded, for the credentials step.
        #[serde(skip_serializing_if = "Option::is_none")]
        credentials: Option<usize>,
        /// Trust anchors loaded, for the trust step.
        #[serde(skip_serializing_if = "Option::is_none")]
        anchors: Option<usize>,
        /// The trust store's generation after the reload, for the trust step.
        #[serde(skip_serializing_if = "Option::is_none")]
        generation: Option<u64>,
    },
    /// The step failed, and the state loaded before stays in force.
    Failed {
        /// The reason the step failed.
        error: String,
    },
}

impl Step {
    fn is_reloaded(&self) -> bool {
        matches!(self, Step::Reloaded { .. })
    }
}

/// The results of a reload: credentials, and trust anchors with CRLs.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Report {
    /// The signing credentials.
    pub credentials: Step,
    /// The trust anchors and CRLs; absent in the demo, which keeps its own,
    /// and for a configuration without trust anchors or verifying listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<Step>,
}

impl Report {
    /// Returns true when every step reloaded.
    pub fn succeeded(&self) -> bool {
        self.credentials.is_reloaded() && self.trust.as_ref().is_none_or(Step::is_reloaded)
    }
}

/// The state reloads replace, and what they read it from.
pub(crate) struct Reloader {
    source: Source,
    credentials: Arc<CredentialStore>,
    trust: Arc<SharedTrust>,
    /// The fetch policy and repository TLS trust, for the check that each
    /// credential's x5u serves its chain.
    fetch: (certstore::CacheConfig, Arc<rustls::ClientConfig>),
    published: Published,
    /// Held while a reload runs, so that reloads started at once run in turn.
    running: Mutex<()>,
}

impl Reloader {
    pub fn new(
        source: Source,
        credentials: Arc<CredentialStore>,
        trust: Arc<SharedTrust>,
        fetch: (certstore::CacheConfig, Arc<rustls::ClientConfig>),
        published: Published,
    ) -> Self {
        Reloader {
            source,
            credentials,
            trust,
            fetch,
            published,
            running: Mutex::new(()),
        }
    }

    /// Returns the configuration file's modification time and length, `None`
    /// in the demo or when the file cannot be read.
    pub fn config_modified(&self) -> Option<(std::time::SystemTime, u64)> {
        match &self.source {
            Source::Config(path) => std::fs::metadata(path)
                .and_then(|m| Ok((m.modified()?, m.len())))
                .ok(),
            Source::Demo(_) => None,
        }
    }

    /// Reloads the credentials and, from a configuration file, the trust
    /// anchors and CRLs, logging each result with `trigger`, the event that
    /// started the reload. A step that fails keeps the state it would have
    /// replaced. Reads files, so it blocks.
    ///
    /// Must run inside the Tokio runtime, because after new credentials it
    /// spawns the check that their x5u URLs serve their chains.
    pub fn reload(&self, trigger: &str) -> Report {
        let _running = match self.running.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = timearg::now();
        let credentials = self.reload_credentials(trigger, now);
        let trust = match &self.source {
            Source::Config(path) => self.reload_trust(path, trigger),
            Source::Demo(_) => None,
        };
        if credentials.is_reloaded() {
            spawn_published_check(&self.credentials, &self.fetch, &self.published);
        }
        Report { credentials, trust }
    }

    fn reload_credentials(&self, trigger: &str, now: i64) -> Step {
        let configs = match &self.source {
            Source::Config(path) => match certstore::read_config_file(path) {
                Ok(configs) => configs,
                Err(error) => {
                    tracing::error!(%trigger, %error, "credential reload failed; the current credentials stay in force");
                    return Step::Failed {
                        error: error.to_string(),
                    };
                }
            },
            Source::Demo(configs) => configs.clone(),
        };
        match self.credentials.reload(&configs, now) {
            Ok(()) => {
                tracing::info!(
                    %trigger,
                    credentials = configs.len(),
                    "credentials reloaded; changes to listeners, [x5u], [cache] and [profile] take effect at the next start"
                );
                warn_expiring(&self.credentials.current(), now);
                Step::Reloaded {
                    credentials: Some(configs.len()),
                    anchors: None,
                    generation: None,
                }
            }
            Err(error) => {
                tracing::error!(%trigger, %error, "credential reload failed; the current credentials stay in force");
                Step::Failed {
                    error: error.to_string(),
                }
            }
        }
    }

    /// Reloads `[trust]`, or returns `None` when the file names no trust
    /// anchors and has no verifying listener, as startup then loads none.
    fn reload_trust(&self, path: &std::path::Path, trigger: &str) -> Option<Step> {
        let loaded = serve_config::read(path).and_then(|file| {
            let verifies = file.listener.iter().any(|l| l.role != "sign");
            if !verifies && file.trust.ca_files.is_empty() && file.trust.ca_dirs.is_empty() {
                return Ok(None);
            }
            load_trust(&file.trust, base_of(path)).map(Some)
        });
        match loaded {
            Ok(None) => None,
            Ok(Some(new)) => {
                let anchors = new.anchors.anchors().len();
                let generation = self.trust.replace(new);
                tracing::info!(%trigger, generation, anchors, "trust anchors and CRLs reloaded");
                Some(Step::Reloaded {
                    credentials: None,
                    anchors: Some(anchors),
                    generation: Some(generation),
                })
            }
            Err(error) => {
                tracing::error!(%trigger, %error, "trust reload failed; the current anchors and CRLs stay in force");
                Some(Step::Failed { error })
            }
        }
    }
}

/// Checks in the background that each credential's x5u URL serves its chain,
/// and logs each result. Startup and reloads do not wait for the check.
///
/// The results also feed the `stird_credential_x5u_serves_chain` metric.
pub(crate) fn spawn_published_check(
    credentials: &Arc<CredentialStore>,
    fetch: &(certstore::CacheConfig, Arc<rustls::ClientConfig>),
    published: &Published,
) {
    let set = credentials.current();
    if set.credentials().is_empty() {
        return;
    }
    let (config, tls, published) = (fetch.0.clone(), Arc::clone(&fetch.1), Arc::clone(published));
    tokio::spawn(async move {
        let results = certstore::published::check_published(
            set.credentials(),
            &config,
            Some(tls),
            &certstore::resolve::SystemResolver,
        )
        .await;
        let mut table = match published.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        table.clear();
        for result in results {
            table.insert(result.name, (result.x5u, result.published.is_usable()));
        }
    });
}
