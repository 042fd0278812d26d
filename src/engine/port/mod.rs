//! The engine's port to the two clouds: every lookup and mutation the engine needs, in engine
//! terms (names, ids, rules, markers), not OpenStack JSON, one trait per resource
//! ([`SourceServers`], [`Images`], [`Catalog`], [`Keypairs`], [`SecurityGroups`],
//! [`ServerGroups`], [`Servers`], [`FloatingIps`], [`Networking`], [`Volumes`]; [`CloudPort`] is all
//! of them), each with its types in the piece of its service (`compute`, `image`, `network`,
//! `volume`). The real adapter over `cloud` and the scripted fake in the tests implement them.
//!
//! Knows nothing of HTTP, microversions or the state file. Lookups that feed the refresh return
//! `Option` (gone is a state, not an error). Every resource s2d creates carries a [`Marker`]
//! (the state's lineage and the resource's address) that the adapter stores as metadata,
//! tags, properties or a description, and decodes again on reads, so that after a kill -9
//! between "created" and "state written" the next plan finds the orphan and adopts it.

mod compute;
mod image;
mod network;
mod volume;

pub use compute::*;
pub use image::*;
pub use network::*;
pub use volume::*;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::graph::{
    Address, AddressPair, Boot, FlavorSpec, Rule, ServerBoot, SourceGroup, SourceNetwork,
    SourceNic, SourceVolume, SubnetSpec, TransferMode,
};

pub use crate::state::Side;
pub use crate::transfer::Checksums;

/// The metadata key of the lineage marker.
pub const MARKER_LINEAGE: &str = "s2d_lineage";

/// The metadata key of the address marker.
pub const MARKER_ADDRESS: &str = "s2d_address";

/// What s2d writes on everything it creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub lineage: String,
    pub address: Address,
}

impl Marker {
    /// As key/value metadata (`s2d_lineage`, `s2d_address`).
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MARKER_LINEAGE.to_string(), self.lineage.clone()),
            (MARKER_ADDRESS.to_string(), self.address.to_string()),
        ])
    }

    /// Read back from key/value metadata; `None` unless both keys are there and valid.
    pub fn from_metadata(metadata: &BTreeMap<String, String>) -> Option<Marker> {
        Some(Marker {
            lineage: metadata.get(MARKER_LINEAGE)?.clone(),
            address: metadata.get(MARKER_ADDRESS)?.parse().ok()?,
        })
    }
}

/// One quota: its limit and what is used of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaUse {
    pub limit: u64,
    pub used: u64,
}

/// What a user is told beside a failure: a stable code (`s2d::cloud::quota`, ...), what to
/// do, and the cloud's request id. The adapter fills it from the cloud's error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Diagnosis {
    pub fn new(code: &str, help: Option<String>) -> Diagnosis {
        Diagnosis {
            code: code.to_string(),
            help,
            request_id: None,
        }
    }
}

impl Default for Diagnosis {
    fn default() -> Self {
        Diagnosis::new("s2d::cloud::refused", None)
    }
}

/// What a cloud call can fail with, in engine terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("{what} not found")]
    NotFound { what: String },
    /// The cloud refused or failed a call; `message` is the cloud's own.
    #[error("{call}: {message}")]
    Api {
        call: String,
        status: Option<u16>,
        message: String,
        diagnosis: Diagnosis,
    },
    #[error("{what} did not become {wanted} within {}s (last status {last})", after.as_secs())]
    Timeout {
        what: String,
        wanted: String,
        last: String,
        after: Duration,
    },
    /// A server went to ERROR; `fault` is Nova's fault message.
    #[error("server {id} went to ERROR: {fault}")]
    ServerFault { id: String, fault: String },
    #[error("image {id} went to {status}")]
    ImageFailed { id: String, status: String },
    #[error("transferring image data: {0}")]
    Transfer(String),
    #[error("cancelled")]
    Cancelled,
}

impl PortError {
    /// The code, help and request id of this failure.
    pub fn diagnosis(&self) -> Diagnosis {
        match self {
            PortError::Api { diagnosis, .. } => diagnosis.clone(),
            PortError::NotFound { .. } => Diagnosis::new(
                "s2d::cloud::not_found",
                Some("it was deleted meanwhile: run `s2d plan` to see the current state".into()),
            ),
            PortError::Timeout { .. } => Diagnosis::new(
                "s2d::engine::timeout",
                Some(
                    "run again (s2d continues where it stopped), or allow more time with --snapshot-timeout, --image-timeout, --volume-timeout, --server-timeout or --delete-timeout"
                        .into(),
                ),
            ),
            PortError::ServerFault { .. } => Diagnosis::new(
                "s2d::cloud::server_fault",
                Some(
                    "Nova's fault says why (\"No valid host\": no host of the target can take the flavor, or its image properties ask for what the hosts lack); the next apply replaces the server"
                        .into(),
                ),
            ),
            PortError::ImageFailed { .. } => Diagnosis::new(
                "s2d::cloud::image_failed",
                Some("the cloud's image service gave up on the image: run again, s2d makes a new one".into()),
            ),
            PortError::Transfer(_) => Diagnosis::new(
                "s2d::transfer::failed",
                Some("run again: a spooled copy resumes where it stopped, a streamed one starts over".into()),
            ),
            PortError::Cancelled => Diagnosis::new(
                "s2d::interrupted",
                Some("apply again to finish: the state holds what was done".into()),
            ),
        }
    }
}

/// The result of a port call.
pub type PortResult<T> = Result<T, PortError>;

/// The port is one trait per resource; a cloud adapter implements each of them, and
/// [`CloudPort`] is all of them together. A new resource kind adds one small trait (with its
/// types) in the piece of its service, one `impl` in the adapter
/// (`engine/openstack/<resource>.rs`) and one in the fake. Methods act on the target unless
/// they take a [`Side`] (images live on both sides) or say `source`. Waits take their
/// deadline from the caller; implementations poll until it passes.
pub trait CloudPort:
    SourceServers
    + Images
    + Catalog
    + Keypairs
    + SecurityGroups
    + ServerGroups
    + Servers
    + FloatingIps
    + Networking
    + Volumes
{
}

impl<T> CloudPort for T where
    T: SourceServers
        + Images
        + Catalog
        + Keypairs
        + SecurityGroups
        + ServerGroups
        + Servers
        + FloatingIps
        + Networking
        + Volumes
{
}
