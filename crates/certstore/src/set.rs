//! The loaded credentials and the index that picks one for a call.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::credential::{Credential, CredentialConfig, CredentialError, Selector};

/// The credentials of one load, indexed for selection, immutable once built.
#[derive(Debug, Default)]
pub struct CredentialSet {
    credentials: Vec<Arc<Credential>>,
    exact: HashMap<String, usize>,
    prefixes: HashMap<String, usize>,
    longest_prefix: usize,
    /// Ranges by length, then start, as (start, last, credential index).
    ranges: Vec<(usize, u128, u128, usize)>,
    trunks: HashMap<String, usize>,
    default: Option<usize>,
}

/// The credential chosen for a call, and why.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The credential.
    pub credential: Arc<Credential>,
    /// The selector that matched.
    pub reason: Selector,
}

/// Reason a set of credentials could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error("{selector} is claimed by both '{first}' and '{second}'")]
    Conflict {
        selector: String,
        first: String,
        second: String,
    },
    #[error("two credentials are named '{0}'")]
    DuplicateName(String),
}

impl CredentialSet {
    /// Loads and checks every credential at Unix time `now` and builds the index.
    /// One bad credential fails the whole set, so a typo never silently removes
    /// a provider's signing.
    pub fn load(configs: &[CredentialConfig], now: i64) -> Result<Self, SetError> {
        let mut credentials = Vec::with_capacity(configs.len());
        for config in configs {
            if credentials
                .iter()
                .any(|c: &Credential| c.name == config.name)
            {
                return Err(SetError::DuplicateName(config.name.clone()));
            }
            credentials.push(config.load(now)?);
        }
        Self::build(credentials)
    }

    /// Builds the index over credentials already loaded.
    pub fn build(credentials: Vec<Credential>) -> Result<Self, SetError> {
        let mut set = CredentialSet {
            credentials: credentials.into_iter().map(Arc::new).collect(),
            ..CredentialSet::default()
        };
        for index in 0..set.credentials.len() {
            let selectors = set
                .credentials
                .get(index)
                .map(|c| c.selectors.clone())
                .unwrap_or_default();
            for selector in selectors {
                set.add(index, &selector)?;
            }
        }
        set.ranges.sort_unstable();
        set.check_overlapping_ranges()?;
        Ok(set)
    }

    fn name(&self, index: usize) -> String {
        self.credentials
            .get(index)
            .map(|c| c.name.clone())
            .unwrap_or_default()
    }

    fn add(&mut self, index: usize, selector: &Selector) -> Result<(), SetError> {
        let conflict = |set: &Self, other: usize| SetError::Conflict {
            selector: selector.to_string(),
            first: set.name(other),
            second: set.name(index),
        };
        let slot = match selector {
            Selector::Number(number) => self.exact.insert(number.clone(), index),
            Selector::Prefix(prefix) => {
                self.longest_prefix = self.longest_prefix.max(prefix.len());
                self.prefixes.insert(prefix.clone(), index)
            }
            Selector::Trunk(trunk) => self.trunks.insert(trunk.clone(), index),
            Selector::Default => self.default.replace(index),
            Selector::Range { start, count } => {
                let first: u128 = start.parse().unwrap_or_default();
                let last = first.saturating_add(u128::from(*count)).saturating_sub(1);
                self.ranges.push((start.len(), first, last, index));
                None
            }
        };
        match slot {
            Some(other) if other != index => Err(conflict(self, other)),
            _ => Ok(()),
        }
    }

    fn check_overlapping_ranges(&self) -> Result<(), SetError> {
        for pair in self.ranges.windows(2) {
            if let [
                (length, _, last, first_index),
                (next_length, next_first, _, second_index),
            ] = pair
                && length == next_length
                && next_first <= last
            {
                return Err(SetError::Conflict {
                    selector: "overlapping ranges".to_owned(),
                    first: self.name(*first_index),
                    second: self.name(*second_index),
                });
            }
        }
        Ok(())
    }

    /// Returns every credential, in load order.
    pub fn credentials(&self) -> &[Arc<Credential>] {
        &self.credentials
    }

    /// Picks the credential for a call from the canonical calling number and the
    /// trunk or customer id: an exact number first, then a range, then the
    /// longest prefix, then the trunk, then the default.
    pub fn select(&self, number: &str, trunk: Option<&str>) -> Option<Selection> {
        let selection = |index: usize, reason: Selector| {
            self.credentials.get(index).map(|credential| Selection {
                credential: Arc::clone(credential),
                reason,
            })
        };

        if let Some(&index) = self.exact.get(number) {
            return selection(index, Selector::Number(number.to_owned()));
        }
        if let Some(found) = self.select_range(number) {
            return Some(found);
        }
        for length in (1..=number.len().min(self.longest_prefix)).rev() {
            let Some(prefix) = number.get(..length) else {
                continue;
            };
            if let Some(&index) = self.prefixes.get(prefix) {
                return selection(index, Selector::Prefix(prefix.to_owned()));
            }
        }
        if let Some(trunk) = trunk
            && let Some(&index) = self.trunks.get(trunk)
        {
            return selection(index, Selector::Trunk(trunk.to_owned()));
        }
        self.default
            .and_then(|index| selection(index, Selector::Default))
    }

    fn select_range(&self, number: &str) -> Option<Selection> {
        let value: u128 = number.parse().ok()?;
        let key = (number.len(), value, u128::MAX, usize::MAX);
        let position = self.ranges.partition_point(|entry| *entry <= key);
        let &(length, first, last, index) = self.ranges.get(position.checked_sub(1)?)?;
        if length != number.len() || value < first || value > last {
            return None;
        }
        let credential = self.credentials.get(index)?;
        let reason = credential
            .selectors
            .iter()
            .find(|s| matches!(s, Selector::Range { start, .. } if start.parse::<u128>().ok() == Some(first)))
            .cloned()?;
        Some(Selection {
            credential: Arc::clone(credential),
            reason,
        })
    }
}

/// The current credential set, replaced as a whole on reload: a signature in
/// progress keeps the set it started with.
#[derive(Debug)]
pub struct CredentialStore {
    current: RwLock<Arc<CredentialSet>>,
}

impl CredentialStore {
    /// Wraps a first set.
    pub fn new(set: CredentialSet) -> Self {
        CredentialStore {
            current: RwLock::new(Arc::new(set)),
        }
    }

    /// Returns the current set.
    pub fn current(&self) -> Arc<CredentialSet> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Loads `configs` and swaps the new set in. A load that fails leaves the
    /// current set in place and returns why.
    pub fn reload(&self, configs: &[CredentialConfig], now: i64) -> Result<(), SetError> {
        let set = Arc::new(CredentialSet::load(configs, now)?);
        match self.current.write() {
            Ok(mut guard) => *guard = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        Ok(())
    }
}
