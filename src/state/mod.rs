//! The state: the record of every resource s2d created or adopted, so that `plan` can
//! compare, `apply` can continue, and `destroy` can undo.
//!
//! Owns the format (JSON, versioned by `format_version`, identified by `lineage` and
//! `serial`), the lock that keeps two s2d runs off one state, and where the state is kept
//! ([`backend`]: the local file by default, written atomically — temp file in the same
//! folder, fsync, rename, fsync of the folder, mode 0600 — or PostgreSQL, or Swift). Holds
//! no password, token or secret: nothing in [`State`] can carry one, and a location shows
//! without its password. Knows nothing of the plan's clouds: the Swift backend reaches its
//! object store through [`crate::cloud::object_store`] alone.

pub mod backend;
mod file;
mod lock;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::graph::Address;

pub use backend::{ForceUnlockOutcome, Location, force_unlock};
pub use file::{StateError, StateFile, default_path, read};
pub(crate) use lock::Lock;
pub use lock::LockInfo;

/// The version of the state file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Which cloud a resource lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Source,
    Target,
}

/// Whether s2d made a resource (and so may delete it) or found it and uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// s2d created it; `destroy` deletes it.
    Created,
    /// It existed and s2d uses it; `destroy` leaves it alone.
    Adopted,
}

/// One resource as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub side: Side,
    /// The cloud's id for it.
    pub id: String,
    pub origin: Origin,
    /// What the diff needs to know about it (name, fingerprint, checksum, rules, ...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// When s2d recorded it (RFC 3339, UTC).
    pub recorded_at: String,
}

/// The whole state: what s2d knows it made, keyed by address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    /// Set once when the state is first created; a saved plan for another lineage is refused.
    pub lineage: String,
    /// Bumped on every write; a saved plan made at another serial is stale.
    pub serial: u64,
    /// The s2d version that last wrote the file.
    pub s2d_version: String,
    #[serde(default)]
    pub resources: BTreeMap<Address, Resource>,
}

impl State {
    /// An empty state with a fresh lineage.
    pub fn new() -> Self {
        State {
            format_version: FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            s2d_version: env!("CARGO_PKG_VERSION").to_string(),
            resources: BTreeMap::new(),
        }
    }

    /// Record (or replace) a resource.
    pub fn record(&mut self, address: Address, resource: Resource) {
        self.resources.insert(address, resource);
    }

    /// Forget a resource without touching the cloud (`s2d state rm`). Returns what was there.
    pub fn forget(&mut self, address: &Address) -> Option<Resource> {
        self.resources.remove(address)
    }

    pub fn get(&self, address: &Address) -> Option<&Resource> {
        self.resources.get(address)
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// The cloud ids of the servers s2d made or adopted (for usage's `managed` mark).
    pub fn server_ids(&self) -> std::collections::BTreeSet<String> {
        self.resources
            .iter()
            .filter(|(address, _)| matches!(address, crate::graph::Address::Server { .. }))
            .map(|(_, r)| r.id.clone())
            .collect()
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// Now, as RFC 3339 in UTC, for [`Resource::recorded_at`].
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}
