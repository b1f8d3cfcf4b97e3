//! A signer certificate ready for verification: its chain parsed, its path
//! validated once, its P-256 key parsed once, its TNAuthList decoded.
//!
//! Every certificate source returns a [`TrustedCert`] behind an `Arc`, so a
//! cache hit costs a reference count and the few checks of
//! [`TrustedCert::check_at`].

use std::sync::{Arc, RwLock};

use cert::tnauthlist::{JwtClaimConstraints, TnAuthList};
use cert::{Certificate, CrlStore, Revocation, TrustStore, ValidatedPath};
use passport::VerifyingKey;

/// The STI trust anchors and CRLs a verifier validates chains against, with the
/// generation number that distinguishes a current cached validation from a
/// stale one.
#[derive(Debug)]
pub struct Trust {
    /// The trust anchors.
    pub anchors: TrustStore,
    /// The CRLs, when revocation is checked.
    pub crls: Option<CrlStore>,
    generation: u64,
}

impl Trust {
    /// Wraps anchors and CRLs as generation 1.
    pub fn new(anchors: TrustStore, crls: Option<CrlStore>) -> Self {
        Trust {
            anchors,
            crls,
            generation: 1,
        }
    }

    /// Returns the generation, which grows with each [`SharedTrust::replace`].
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// The current [`Trust`], replaced as a whole when anchors or CRLs are reloaded.
/// A validation keeps the snapshot it started with.
#[derive(Debug)]
pub struct SharedTrust {
    current: RwLock<Arc<Trust>>,
}

impl SharedTrust {
    /// Starts with `trust`.
    pub fn new(trust: Trust) -> Self {
        SharedTrust {
            current: RwLock::new(Arc::new(trust)),
        }
    }

    /// Returns the current snapshot.
    pub fn current(&self) -> Arc<Trust> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Swaps in new anchors and CRLs under the next generation number and
    /// returns it. Cached certificates validated under an older generation are
    /// validated again on their next use.
    pub fn replace(&self, mut trust: Trust) -> u64 {
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        trust.generation = guard.generation + 1;
        let generation = trust.generation;
        *guard = Arc::new(trust);
        generation
    }
}

/// Reason a chain is not usable for verification. Verifiers respond 437
/// Unsupported Credential (RFC 8224 section 6.2.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UntrustedError {
    #[error("the document holds no certificate")]
    Empty,
    #[error("{0}")]
    Key(String),
    #[error("the chain does not validate: {0}")]
    Path(String),
    #[error(
        "the certificate '{subject}' is not valid at the verification time {} (valid {} to {})",
        utc(*at), utc(*not_before), utc(*not_after)
    )]
    NotValidNow {
        subject: String,
        at: i64,
        not_before: i64,
        not_after: i64,
    },
}

/// Formats Unix seconds as RFC 3339 UTC.
fn utc(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{seconds} (Unix seconds)"))
}

/// A signer certificate that verification can use without further checks.
#[derive(Debug)]
pub struct TrustedCert {
    /// The x5u URL the chain came from, or the file it was read from.
    pub source: String,
    /// The chain as served: the signer certificate first.
    pub chain: Vec<Certificate>,
    /// The validated path and revocation status, or `None` when no trust anchors
    /// were configured and the chain was taken as it is.
    pub path: Option<ValidatedPath>,
    /// The signer's P-256 key, parsed for ECDSA.
    pub key: VerifyingKey,
    /// The signer's TNAuthList: absent, decoded, or malformed with the reason.
    pub tn_auth_list: Option<Result<TnAuthList, String>>,
    /// The signer's JWT claim constraints, absent or malformed with the reason.
    pub jwt_claim_constraints: Option<Result<JwtClaimConstraints, String>>,
    /// The latest notBefore and earliest notAfter along the path, Unix seconds.
    pub valid_from: i64,
    /// See `valid_from`.
    pub valid_until: i64,
    /// The trust generation the path was validated under; 0 when unvalidated.
    pub generation: u64,
}

impl TrustedCert {
    /// Validates `chain` against `trust` at Unix time `at` (or takes it unvalidated
    /// when `trust` is `None`, checking only that `at` is within the signer's
    /// validity) and parses the signer key.
    pub fn from_chain(
        source: &str,
        chain: Vec<Certificate>,
        trust: Option<&Trust>,
        at: i64,
    ) -> Result<Self, UntrustedError> {
        let mut trusted = Self::unvalidated(source, chain)?;
        if let Some(trust) = trust {
            let path = validate(&trusted.chain, trust, at)?;
            let (from, until) = path_validity(&trusted.chain, trust.anchors.anchors(), &path);
            trusted.path = Some(path);
            trusted.generation = trust.generation;
            trusted.valid_from = from;
            trusted.valid_until = until;
        }
        trusted.check_at(at)?;
        Ok(trusted)
    }

    /// Takes `chain` as it is: parses the signer key and TNAuthList, validates
    /// nothing. For inspection and for tests of the checks that follow.
    pub fn unvalidated(source: &str, chain: Vec<Certificate>) -> Result<Self, UntrustedError> {
        let signer = chain.first().ok_or(UntrustedError::Empty)?;
        let point = signer
            .p256_public_key()
            .map_err(|error| UntrustedError::Key(error.to_string()))?;
        let key = VerifyingKey::from_sec1(point)
            .map_err(|error| UntrustedError::Key(error.to_string()))?;
        Ok(TrustedCert {
            source: source.to_owned(),
            tn_auth_list: signer
                .tn_auth_list
                .clone()
                .map(|list| list.map_err(|error| error.to_string())),
            jwt_claim_constraints: signer
                .jwt_claim_constraints
                .clone()
                .map(|constraints| constraints.map_err(|error| error.to_string())),
            valid_from: signer.not_before,
            valid_until: signer.not_after,
            chain,
            path: None,
            key,
            generation: 0,
        })
    }

    /// Checks what can change without a new fetch: that `at` falls within the
    /// validity of every certificate of the path.
    pub fn check_at(&self, at: i64) -> Result<(), UntrustedError> {
        if (self.valid_from..=self.valid_until).contains(&at) {
            return Ok(());
        }
        let subject = self
            .chain
            .first()
            .map(|c| c.subject.clone())
            .unwrap_or_default();
        Err(UntrustedError::NotValidNow {
            subject,
            at,
            not_before: self.valid_from,
            not_after: self.valid_until,
        })
    }

    /// Returns the signer certificate.
    pub fn signer(&self) -> Option<&Certificate> {
        self.chain.first()
    }

    /// Returns the revocation status of the validated path, if validated.
    pub fn revocation(&self) -> Option<&Revocation> {
        self.path.as_ref().map(|path| &path.revocation)
    }

    /// Approximate heap bytes held, for cache weighing.
    pub fn weight(&self) -> usize {
        // Measured with 100,000 cached two-certificate chains: about five times
        // the DER, counting the parsed fields, the key and the allocator.
        let der: usize = self.chain.iter().map(|c| c.der.len()).sum();
        std::mem::size_of::<Self>() + self.source.len() + 5 * der
    }
}

fn validate(
    chain: &[Certificate],
    trust: &Trust,
    at: i64,
) -> Result<ValidatedPath, UntrustedError> {
    let anchors = trust.anchors.anchors();
    let result = match &trust.crls {
        Some(crls) => cert::validate_path_with_crls(chain, anchors, crls, at),
        None => cert::validate_path(chain, anchors, at),
    };
    result.map_err(|error| UntrustedError::Path(error.to_string()))
}

/// Computes the window in which every certificate of the validated path is
/// valid. The path names its certificates by subject and serial, so they are
/// looked up again in the chain and the anchors.
fn path_validity(
    chain: &[Certificate],
    anchors: &[Certificate],
    path: &ValidatedPath,
) -> (i64, i64) {
    let mut from = i64::MIN;
    let mut until = i64::MAX;
    for named in &path.certificates {
        if let Some(certificate) = chain
            .iter()
            .chain(anchors)
            .find(|c| c.subject == named.subject && c.serial == named.serial)
        {
            from = from.max(certificate.not_before);
            until = until.min(certificate.not_after);
        }
    }
    if let Some(signer) = chain.first() {
        from = from.max(signer.not_before);
        until = until.min(signer.not_after);
    }
    (from, until)
}
