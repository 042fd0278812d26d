//! The OpenStack client: the one place that knows OpenStack's HTTP APIs. Nothing outside it
//! builds a URL or parses an OpenStack JSON body.
//!
//! - [`config`]: finding a cloud (clouds.yaml + secure.yaml, `OS_*` variables, inline auth)
//!   into a [`CloudConfig`].
//! - [`auth`]: Keystone v3 (password, application credential, token) and v2.0 bodies,
//!   tokens, identity version discovery. [`catalog`]: endpoint choice.
//! - [`http`]: [`Session`], the one request path (token renewal, retries with backoff and
//!   jitter, timeouts, stall timeouts for streams, error bodies, request ids, tracing);
//!   `client` builds its HTTP client (TLS, same-origin redirects), `retry` holds the rules.
//! - [`compute`], [`image`], [`network`]: typed Nova, Glance and Neutron calls; requests
//!   are built by pure functions on the `*Endpoint` types.
//! - [`volume`]: typed Cinder v3 calls (volumes, volume snapshots, upload to an image,
//!   types, limits), resolved on first use so a cloud without Cinder still connects.
//! - [`object_store`]: Swift objects (a state kept in a container, its lock object).
//! - `service`: paging, delete-404 and endpoint discovery shared by the handles.
//! - [`body`]: reading answers within size limits (a hostile cloud's gigabytes are refused).
//! - [`wait`]: polling with a deadline. [`error`]: [`Error`], which names the cloud.
//!
//! Knows nothing of plans, graphs, state or terminals.

pub mod auth;
pub mod body;
pub mod catalog;
mod client;
pub mod compute;
pub mod config;
pub mod error;
pub mod http;
pub mod image;
pub mod network;
pub mod object_store;
pub mod request;
mod retry;
mod service;
pub mod shapes;
mod stream;
pub mod types;
pub mod volume;
pub mod wait;

use std::future::Future;

pub use compute::Compute;
pub use config::{
    AuthMethod, AuthSpec, CloudConfig, CloudSource, ConfigEnv, InlineAuth, RequestLimits,
    RetryPolicy, Timeouts, TlsOptions,
};
pub use error::{Error, Result};
pub use http::{Session, Stats};
pub use image::ImageService;
pub use network::NetworkService;
pub use stream::ByteStream;
pub use types::{
    FlavorId, FloatingIpId, ImageId, Interface, Microversion, NetworkId, PortId, ProjectId,
    RouterId, Secret, SecurityGroupId, SecurityGroupRuleId, ServerId, Service, SubnetId, VolumeId,
    VolumeSnapshotId,
};
pub use volume::VolumeService;

/// A connected cloud: the session and its three service handles.
#[derive(Clone, Debug)]
pub struct Cloud {
    pub session: Session,
    pub compute: Compute,
    pub image: ImageService,
    pub network: NetworkService,
}

impl Cloud {
    /// Authenticate and resolve the compute, image and network endpoints.
    pub async fn connect(config: CloudConfig) -> Result<Cloud> {
        let session = Session::connect(config).await?;
        let compute = Compute::new(&session).await?;
        let image = ImageService::new(&session).await?;
        let network = NetworkService::new(&session).await?;
        Ok(Cloud {
            session,
            compute,
            image,
            network,
        })
    }

    pub fn name(&self) -> &str {
        self.session.name()
    }

    /// The Cinder v3 handle, its endpoint resolved (and the microversion negotiated) on the
    /// first call and cached in the session: [`Cloud::connect`] does not need Cinder, so a
    /// cloud without one still serves servers booted from images.
    pub async fn volume(&self) -> Result<VolumeService> {
        VolumeService::new(&self.session).await
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("cloud", &self.name())
            .field("identity", self.identity())
            .finish_non_exhaustive()
    }
}

/// Create a resource without ever creating it twice: call `create`; if it fails in a way
/// that may nevertheless have created the resource ([`Error::is_ambiguous`]: timeouts,
/// resets, 5xx, 429), look it up by the name or tag s2d gave it with `lookup` and adopt what
/// is found; only if the lookup says it does not exist, create again. `attempts` bounds both
/// the creates and the lookups (a lookup that itself fails ambiguously is repeated, never
/// skipped), with the session's backoff between tries.
pub async fn create_or_adopt<T, C, CF, L, LF>(
    policy: &RetryPolicy,
    attempts: u32,
    mut create: C,
    mut lookup: L,
) -> Result<T>
where
    C: FnMut() -> CF,
    CF: Future<Output = Result<T>>,
    L: FnMut() -> LF,
    LF: Future<Output = Result<Option<T>>>,
{
    let attempts = attempts.max(1);
    let mut creates = 0;
    loop {
        let failure = match create().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_ambiguous() => e,
            Err(e) => return Err(e),
        };
        creates += 1;
        tracing::debug!(error = %failure, "create failed ambiguously; looking the resource up");
        let mut lookups = 0;
        let exists = loop {
            match lookup().await {
                Ok(found) => break found,
                Err(e) if e.is_ambiguous() && lookups + 1 < attempts => {
                    tokio::time::sleep(retry::backoff(policy, lookups, None)).await;
                    lookups += 1;
                }
                Err(e) => return Err(e),
            }
        };
        if let Some(found) = exists {
            return Ok(found);
        }
        if creates >= attempts {
            return Err(failure);
        }
        tokio::time::sleep(retry::backoff(policy, creates - 1, None)).await;
    }
}
