//! Cinder v3 (block storage): endpoint discovery (catalog type `block-storage`, `volumev3` or
//! `volume`) and microversion negotiation, and typed calls for volumes (list, get, create,
//! delete, upload to an image, wait), volume snapshots (the same), volume types and the
//! project's volume limits. Requests are built by pure methods on [`VolumeEndpoint`]
//! (testable without a network) and sent through the session. Knows nothing of Nova or Glance
//! bodies: an uploaded image is only its id here.

mod requests;
mod types;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use url::Url;

pub use requests::*;
pub use types::*;

use super::error::{Error, Result};
use super::http::{SendOpts, Session};
use super::request::{ApiRequest, Link, next_link};
use super::service::{gone_is_false, paged, poll_interval};
use super::types::{ImageId, Microversion, Service, VolumeId, VolumeSnapshotId};
use super::wait::{Poll, wait_for};

/// Typed Cinder calls over a session.
#[derive(Clone)]
pub struct VolumeService {
    session: Session,
    ep: VolumeEndpoint,
}

impl std::fmt::Debug for VolumeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeService")
            .field("cloud", &self.session.name())
            .field("endpoint", &self.ep)
            .finish()
    }
}

#[derive(Deserialize)]
struct VolumesPage {
    volumes: Vec<Volume>,
    #[serde(default)]
    volumes_links: Vec<Link>,
}

#[derive(Deserialize)]
struct VolumeBody {
    volume: Volume,
}

#[derive(Deserialize)]
struct SnapshotsPage {
    snapshots: Vec<VolumeSnapshot>,
    #[serde(default)]
    snapshots_links: Vec<Link>,
}

#[derive(Deserialize)]
struct SnapshotBody {
    snapshot: VolumeSnapshot,
}

#[derive(Deserialize)]
struct TypesBody {
    volume_types: Vec<VolumeType>,
}

#[derive(Deserialize)]
struct LimitsBody {
    limits: LimitsInner,
}

#[derive(Deserialize)]
struct LimitsInner {
    #[serde(default)]
    absolute: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct UploadBody {
    #[serde(rename = "os-volume_upload_image")]
    upload: UploadAnswer,
}

#[derive(Deserialize)]
struct UploadAnswer {
    image_id: ImageId,
}

/// What a wait is about: a volume or a snapshot.
#[derive(Clone, Copy)]
enum Kind {
    Volume,
    Snapshot,
}

impl VolumeService {
    /// Resolve the block-storage endpoint (catalog or override, version discovery) and
    /// negotiate the microversion; cached in the session.
    pub async fn new(session: &Session) -> Result<VolumeService> {
        let ep = session
            .endpoints()
            .volume
            .get_or_try_init(|| discover(session))
            .await?
            .clone();
        Ok(VolumeService {
            session: session.clone(),
            ep,
        })
    }

    /// A handle over a known endpoint (no discovery).
    pub fn with_endpoint(session: &Session, ep: VolumeEndpoint) -> VolumeService {
        VolumeService {
            session: session.clone(),
            ep,
        }
    }

    pub fn endpoint(&self) -> &VolumeEndpoint {
        &self.ep
    }

    pub fn microversion(&self) -> Option<Microversion> {
        self.ep.microversion
    }

    /// Every volume of the project (`/volumes/detail`, every page).
    pub async fn volumes(&self) -> Result<Vec<Volume>> {
        paged(
            &self.session,
            Service::BlockStorage,
            self.ep.list_volumes_request(None),
            |p: VolumesPage| (p.volumes, next_link(&p.volumes_links).map(str::to_string)),
        )
        .await
    }

    /// The volume, or `None` if it does not exist.
    pub async fn volume(&self, id: &VolumeId) -> Result<Option<Volume>> {
        let b: Option<VolumeBody> = self
            .session
            .send_json_opt(Service::BlockStorage, self.ep.get_volume_request(id))
            .await?;
        Ok(b.map(|b| b.volume))
    }

    /// Create a volume; it is `creating` (then `downloading` from an image): see
    /// [`VolumeService::wait_volume`].
    pub async fn create_volume(&self, v: &VolumeCreate) -> Result<Volume> {
        let b: VolumeBody = self
            .session
            .send_json(Service::BlockStorage, self.ep.create_volume_request(v))
            .await?;
        Ok(b.volume)
    }

    /// Delete a volume; `false` if it was already gone. Cinder deletes in the background
    /// (`deleting`): wait for [`VolumeService::volume`] to answer `None` when it matters.
    pub async fn delete_volume(&self, id: &VolumeId) -> Result<bool> {
        gone_is_false(
            self.session
                .send_empty(Service::BlockStorage, self.ep.delete_volume_request(id))
                .await,
        )
    }

    /// Every volume snapshot of the project (`/snapshots/detail`, every page).
    pub async fn snapshots(&self) -> Result<Vec<VolumeSnapshot>> {
        paged(
            &self.session,
            Service::BlockStorage,
            self.ep.list_snapshots_request(None),
            |p: SnapshotsPage| {
                (
                    p.snapshots,
                    next_link(&p.snapshots_links).map(str::to_string),
                )
            },
        )
        .await
    }

    /// The snapshot, or `None` if it does not exist.
    pub async fn snapshot(&self, id: &VolumeSnapshotId) -> Result<Option<VolumeSnapshot>> {
        let b: Option<SnapshotBody> = self
            .session
            .send_json_opt(Service::BlockStorage, self.ep.get_snapshot_request(id))
            .await?;
        Ok(b.map(|b| b.snapshot))
    }

    /// Snapshot a volume, available or in use (3.66+ without `force`, else with
    /// `force: true`); it is `creating`: see [`VolumeService::wait_snapshot`].
    pub async fn create_snapshot(&self, s: &SnapshotCreate) -> Result<VolumeSnapshot> {
        let b: SnapshotBody = self
            .session
            .send_json(Service::BlockStorage, self.ep.create_snapshot_request(s))
            .await?;
        Ok(b.snapshot)
    }

    /// Delete a snapshot; `false` if it was already gone.
    pub async fn delete_snapshot(&self, id: &VolumeSnapshotId) -> Result<bool> {
        gone_is_false(
            self.session
                .send_empty(Service::BlockStorage, self.ep.delete_snapshot_request(id))
                .await,
        )
    }

    /// `os-volume_upload_image`: the volume goes `uploading` and Glance gets a new image
    /// (queued, then saving, then active) whose id is returned; the volume returns to its
    /// status when the bytes are in Glance. An in-use volume is refused unless `force` and
    /// the cloud allows it.
    pub async fn upload_to_image(&self, id: &VolumeId, u: &UploadToImage) -> Result<ImageId> {
        let b: UploadBody = self
            .session
            .send_json(
                Service::BlockStorage,
                self.ep.upload_to_image_request(id, u),
            )
            .await?;
        Ok(b.upload.image_id)
    }

    /// The volume types the project may use.
    pub async fn types(&self) -> Result<Vec<VolumeType>> {
        let b: TypesBody = self
            .session
            .send_json(Service::BlockStorage, self.ep.list_types_request())
            .await?;
        Ok(b.volume_types)
    }

    /// The project's volume limits and use (`GET /limits`).
    pub async fn limits(&self) -> Result<VolumeLimits> {
        let b: LimitsBody = self
            .session
            .send_json(Service::BlockStorage, self.ep.limits_request())
            .await?;
        Ok(VolumeLimits::from_absolute(&b.limits.absolute))
    }

    /// Poll until the volume's status is one of `wanted` (e.g. `["available"]`,
    /// `["available", "in-use"]`). A status in `failed`, or any `error*` status, fails with
    /// Cinder's status; a volume that disappears fails too.
    pub async fn wait_volume(
        &self,
        id: &VolumeId,
        wanted: &[&str],
        failed: &[&str],
        timeout: Duration,
    ) -> Result<Volume> {
        self.wait(
            Kind::Volume,
            id.as_str(),
            wanted,
            failed,
            timeout,
            || async { Ok(self.volume(id).await?.map(|v| (v.status.clone(), v))) },
        )
        .await
    }

    /// Poll until the snapshot's status is one of `wanted` (as [`VolumeService::wait_volume`]).
    pub async fn wait_snapshot(
        &self,
        id: &VolumeSnapshotId,
        wanted: &[&str],
        failed: &[&str],
        timeout: Duration,
    ) -> Result<VolumeSnapshot> {
        self.wait(
            Kind::Snapshot,
            id.as_str(),
            wanted,
            failed,
            timeout,
            || async { Ok(self.snapshot(id).await?.map(|s| (s.status.clone(), s))) },
        )
        .await
    }

    async fn wait<T, F, Fut>(
        &self,
        kind: Kind,
        id: &str,
        wanted: &[&str],
        failed: &[&str],
        timeout: Duration,
        mut look: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<(String, T)>>>,
    {
        let noun = match kind {
            Kind::Volume => "volume",
            Kind::Snapshot => "volume snapshot",
        };
        let what = format!("{noun} {id}");
        let cloud = self.session.name().to_string();
        wait_for(&cloud, &what, timeout, poll_interval(timeout), || {
            let seen = look();
            let (cloud, what) = (cloud.clone(), what.clone());
            async move {
                match seen.await? {
                    None => Err(Error::Failed {
                        cloud,
                        what,
                        status: "deleted".into(),
                        message: format!(
                            "the {noun} disappeared while waiting for {}",
                            wanted.join(" or ")
                        ),
                    }),
                    Some((status, v)) if is_one_of(&status, wanted) => Ok(Poll::Ready(v)),
                    Some((status, _)) if is_failure(&status, failed) => Err(Error::Failed {
                        cloud,
                        what,
                        message: format!(
                            "Cinder reports status {status} while s2d waited for {}",
                            wanted.join(" or ")
                        ),
                        status,
                    }),
                    Some((status, _)) => Ok(Poll::Pending(format!("status {status}"))),
                }
            }
        })
        .await
    }
}

fn is_one_of(status: &str, list: &[&str]) -> bool {
    list.iter().any(|w| w.eq_ignore_ascii_case(status))
}

/// `error`, `error_deleting`, `error_restoring`, `error_extending`, `error_managing`, ... and
/// whatever the caller names.
fn is_failure(status: &str, failed: &[&str]) -> bool {
    status.to_ascii_lowercase().starts_with("error") || is_one_of(status, failed)
}

/// Find the block-storage endpoint and its microversion range. A catalog URL with a version
/// (`.../v3` or `.../v3/<project>`) is used as it is, its version document read at the
/// version root; an unversioned one (`.../volume`) is resolved by its version document to
/// the `v3` entry, with the project id appended when the cloud is older than 3.67 (before,
/// Cinder's URLs carry it).
async fn discover(session: &Session) -> Result<VolumeEndpoint> {
    let cloud = session.name().to_string();
    let raw = session.catalog_url(Service::BlockStorage).await?;
    let url = Url::parse(&raw).map_err(|e| Error::Catalog {
        cloud: cloud.clone(),
        message: format!("block-storage endpoint {raw:?} is not a URL: {e}"),
    })?;
    let opts = SendOpts {
        accept: Some(300),
        ..SendOpts::default()
    };
    let parse = |v: Option<String>| v.and_then(|m| m.parse::<Microversion>().ok());
    let is_v3 = |id: &str| id == "v3" || id.starts_with("v3.");
    let (base, min, max) = match super::compute::compute_version_root(&url) {
        Some(root) => {
            let doc: Result<Value> = session
                .send_json_opts(Service::BlockStorage, ApiRequest::get(root.clone()), opts)
                .await;
            let doc = match doc {
                Ok(d) => Some(d),
                Err(Error::Api { .. }) | Err(Error::Decode { .. }) => {
                    // Some deployments only answer under `root/`.
                    let mut slash = root.clone();
                    slash.set_path(&format!("{}/", root.path()));
                    session
                        .send_json_opts::<Value>(
                            Service::BlockStorage,
                            ApiRequest::get(slash),
                            opts,
                        )
                        .await
                        .ok()
                }
                Err(e) => return Err(e),
            };
            let versions = doc
                .map(|d| super::auth::discovery_versions(&d))
                .unwrap_or_default();
            let v = versions
                .iter()
                .find(|v| is_v3(&v.id))
                .or_else(|| versions.first());
            match v {
                Some(v) => (
                    url,
                    parse(v.min_microversion.clone()),
                    parse(v.max_microversion.clone()),
                ),
                None => (url, None, None),
            }
        }
        None => {
            let doc: Value = session
                .send_json_opts(Service::BlockStorage, ApiRequest::get(url.clone()), opts)
                .await?;
            let versions = super::auth::discovery_versions(&doc);
            let pick =
                versions
                    .iter()
                    .find(|v| is_v3(&v.id))
                    .ok_or_else(|| Error::Unsupported {
                        cloud: cloud.clone(),
                        message: format!(
                            "the block-storage endpoint {url} offers no v3 API (it offers: {})",
                            versions
                                .iter()
                                .map(|v| v.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })?;
            let mut base = super::auth::rebase(url.as_str(), pick.self_href.as_deref(), "v3");
            let (min, max) = (
                parse(pick.min_microversion.clone()),
                parse(pick.max_microversion.clone()),
            );
            if max.is_none_or(|m| m < MV_NO_PROJECT_ID)
                && let Some(project) = session.project_id().await?
            {
                base = format!("{}/{project}", base.trim_end_matches('/'));
            }
            let base = Url::parse(&base).map_err(|e| Error::Catalog {
                cloud: cloud.clone(),
                message: format!("block-storage endpoint {base:?}: {e}"),
            })?;
            (base, min, max)
        }
    };
    let microversion = negotiate_volume(min, max).map_err(|m| Error::Unsupported {
        cloud: cloud.clone(),
        message: m,
    })?;
    tracing::debug!(cloud = %cloud, base = %base, ?min, ?max, ?microversion, "block-storage endpoint");
    Ok(VolumeEndpoint {
        base,
        microversion,
        range: min.zip(max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_error_statuses_and_the_named_ones() {
        assert!(is_failure("error", &[]));
        assert!(is_failure("error_deleting", &[]));
        assert!(is_failure("ERROR_extending", &[]));
        assert!(!is_failure("available", &[]));
        assert!(is_failure("in-use", &["in-use"]));
        assert!(is_one_of("Available", &["available", "in-use"]));
    }
}
