//! Cinder in both clouds in engine terms: the source's volume snapshots, their copies and the
//! upload of a copy into Glance; the target's volumes made from the copied image. The marker
//! lives in each volume's and snapshot's metadata. Cinder takes no image properties with an
//! upload, so the uploaded image gets the marker once it is active (a PATCH during the upload
//! makes Glance fail it), and an upload cut off before that is found again by its name (unique
//! per volume: see `VolumeNode::name_at`).

use super::*;
use crate::cloud::image::ImagePatch;
use crate::cloud::volume::{SnapshotCreate, UploadToImage, Volume, VolumeCreate, VolumeSnapshot};
use crate::cloud::wait::{Poll, wait_for};
use crate::cloud::{VolumeId, VolumeService, VolumeSnapshotId};
use crate::engine::port::{
    CinderResource, MARKER_ADDRESS, MARKER_LINEAGE, VolumeInventory, VolumeKind, VolumeQuota,
    VolumeSource, VolumeSpec, Volumes,
};

/// How often a volume in a status that forbids its delete (`in-use` just after its server is
/// gone, `detaching`, `uploading`) is looked at again.
const DELETE_POLL: Duration = Duration::from_secs(2);

fn from_volume(v: Volume) -> CinderResource {
    CinderResource {
        marker: Marker::from_metadata(&v.metadata),
        attached_to: v
            .attachments
            .iter()
            .map(|a| a.server_id.to_string())
            .collect(),
        id: v.id.to_string(),
        name: v.name,
        status: v.status,
        size_gb: v.size,
        volume_type: v.volume_type,
    }
}

fn from_snapshot(s: VolumeSnapshot) -> CinderResource {
    CinderResource {
        marker: Marker::from_metadata(&s.metadata),
        id: s.id.to_string(),
        name: s.name,
        status: s.status,
        size_gb: s.size,
        volume_type: None,
        attached_to: Vec::new(),
    }
}

/// A volume upload whose image went away: Cinder deletes the image of an upload that failed
/// and keeps why to itself (its log, and a user message "Failed to upload volume to image at
/// backend"), Glance's refusal of an image past its `image_size_cap` among the causes.
fn upload_failed(volume_id: &str, e: PortError) -> PortError {
    match e {
        PortError::ImageFailed { id, status } => PortError::Api {
            diagnosis: Diagnosis::new(
                "s2d::cloud::volume_upload_failed",
                Some(
                    "Cinder does not say why (its log does; `openstack --os-volume-api-version 3.3 volume message list` in the source shows that the upload failed): a volume larger than the source Glance's `image_size_cap` (glance-api.conf, 1 TiB unless its admin set another; no API shows it) or beyond its storage quota cannot be uploaded, so ask the source's admin, or move a smaller volume; otherwise run again, s2d uploads the copy again".into(),
                ),
            ),
            call: "source: upload volume to image".into(),
            status: None,
            message: format!(
                "Cinder's upload of volume {volume_id} into image {id} failed: the image went to {status}"
            ),
        },
        other => other,
    }
}

impl OpenStack {
    /// The Cinder of a side (resolved on first use: a cloud without Cinder still serves plans
    /// without volumes).
    async fn cinder(&self, side: Side) -> PortResult<VolumeService> {
        self.side(side)
            .volume()
            .await
            .map_err(api(&call(side, "block-storage endpoint")))
    }
}

impl Volumes for OpenStack {
    async fn volume_inventory(&self, side: Side) -> PortResult<VolumeInventory> {
        let cinder = self.cinder(side).await?;
        let (volumes, snapshots) = tokio::try_join!(
            async {
                cinder
                    .volumes()
                    .await
                    .map_err(api(&call(side, "list volumes")))
            },
            async {
                cinder
                    .snapshots()
                    .await
                    .map_err(api(&call(side, "list volume snapshots")))
            },
        )?;
        Ok(VolumeInventory {
            volumes: volumes.into_iter().map(from_volume).collect(),
            snapshots: snapshots.into_iter().map(from_snapshot).collect(),
        })
    }

    async fn volume_quota(&self, side: Side) -> PortResult<VolumeQuota> {
        let cinder = self.cinder(side).await?;
        let (limits, types) = tokio::try_join!(
            async {
                cinder
                    .limits()
                    .await
                    .map_err(api(&call(side, "volume limits")))
            },
            async {
                cinder
                    .types()
                    .await
                    .map_err(api(&call(side, "list volume types")))
            },
        )?;
        let quota = |pair: Option<(u64, u64)>| pair.map(|(limit, used)| QuotaUse { limit, used });
        Ok(VolumeQuota {
            gigabytes: quota(limits.gigabytes),
            volumes: quota(limits.volumes),
            snapshots: quota(limits.snapshots),
            types: types.into_iter().map(|t| t.name).collect(),
        })
    }

    async fn create_volume_snapshot(
        &self,
        volume_id: &str,
        name: &str,
        marker: &Marker,
    ) -> PortResult<CinderResource> {
        let cinder = self.cinder(Side::Source).await?;
        let create = SnapshotCreate {
            volume_id: VolumeId::new(volume_id),
            name: name.to_string(),
            description: Some("made by s2d".into()),
            metadata: marker.to_metadata(),
        };
        // A create whose answer was lost is found again by its marker.
        cloud::create_or_adopt(
            &self.source.session.config().retry,
            CREATE_ATTEMPTS,
            || async { cinder.create_snapshot(&create).await.map(from_snapshot) },
            || async {
                Ok(cinder
                    .snapshots()
                    .await?
                    .into_iter()
                    .map(from_snapshot)
                    .find(|s| s.marker.as_ref() == Some(marker)))
            },
        )
        .await
        .map_err(api("source: create volume snapshot"))
    }

    async fn create_volume(&self, side: Side, spec: &VolumeSpec) -> PortResult<CinderResource> {
        let cinder = self.cinder(side).await?;
        let (snapshot_id, image_id) = match &spec.from {
            VolumeSource::Snapshot(id) => (Some(VolumeSnapshotId::new(id)), None),
            VolumeSource::Image(id) => (None, Some(ImageId::new(id))),
        };
        let create = VolumeCreate {
            name: spec.name.clone(),
            size: Some(spec.size_gb),
            description: Some("made by s2d".into()),
            metadata: spec.marker.to_metadata(),
            volume_type: spec.volume_type.clone(),
            snapshot_id,
            image_id,
            availability_zone: None,
        };
        let marker = &spec.marker;
        cloud::create_or_adopt(
            &self.side(side).session.config().retry,
            CREATE_ATTEMPTS,
            || async { cinder.create_volume(&create).await.map(from_volume) },
            || async {
                Ok(cinder
                    .volumes()
                    .await?
                    .into_iter()
                    .map(from_volume)
                    .find(|v| v.marker.as_ref() == Some(marker)))
            },
        )
        .await
        .map_err(api(&call(side, "create volume")))
    }

    async fn upload_volume(
        &self,
        volume_id: &str,
        image_name: &str,
        disk_format: &str,
        marker: &Marker,
        timeout: Duration,
    ) -> PortResult<String> {
        let cinder = self.cinder(Side::Source).await?;
        let glance = &self.source.image;
        // An upload of this volume whose answer was lost: its image is there by name, without
        // a marker (or with this one), and the copy is `uploading` (a second upload would be
        // refused for it).
        let earlier = glance
            .list(&GlanceQuery {
                name: Some(image_name.to_string()),
                ..GlanceQuery::default()
            })
            .await
            .map_err(api("source: list images"))?
            .into_iter()
            .map(image)
            .find(|i| {
                !matches!(i.status.as_str(), "killed" | "deleted" | "pending_delete")
                    && i.marker.as_ref().is_none_or(|m| m == marker)
            });
        let id = match earlier {
            Some(found) => ImageId::new(found.id),
            None => cinder
                .upload_to_image(
                    &VolumeId::new(volume_id),
                    &UploadToImage {
                        image_name: image_name.to_string(),
                        disk_format: disk_format.to_string(),
                        container_format: "bare".into(),
                        force: false,
                    },
                )
                .await
                .map_err(api("source: upload volume to image"))?,
        };
        // Marked once active: a PATCH while Cinder writes the image saves the image's status
        // back over the upload's, and Glance then ends the upload with 410 Gone (seen on the
        // real tier). Until then the image is found by its name (above).
        wait_image(&self.source, id.as_str(), timeout, "volume upload")
            .await
            .map_err(|e| upload_failed(volume_id, e))?;
        let patch = [
            ImagePatch::Set(
                MARKER_LINEAGE.into(),
                serde_json::Value::String(marker.lineage.clone()),
            ),
            ImagePatch::Set(
                MARKER_ADDRESS.into(),
                serde_json::Value::String(marker.address.to_string()),
            ),
        ];
        glance
            .patch(&id, &patch)
            .await
            .map_err(api("source: mark the uploaded image"))?;
        Ok(id.to_string())
    }

    async fn wait_volume_available(
        &self,
        side: Side,
        kind: VolumeKind,
        id: &str,
        timeout: Duration,
    ) -> PortResult<CinderResource> {
        let cinder = self.cinder(side).await?;
        match kind {
            // Attached to its server is as ready as a volume gets.
            VolumeKind::Volume => cinder
                .wait_volume(&VolumeId::new(id), &["available", "in-use"], &[], timeout)
                .await
                .map(from_volume)
                .map_err(wait_error("volume", "available", timeout)),
            VolumeKind::Snapshot => cinder
                .wait_snapshot(&VolumeSnapshotId::new(id), &["available"], &[], timeout)
                .await
                .map(from_snapshot)
                .map_err(wait_error("volume snapshot", "available", timeout)),
        }
    }

    async fn delete_volume_resource(
        &self,
        side: Side,
        kind: VolumeKind,
        id: &str,
        timeout: Duration,
    ) -> PortResult<()> {
        let cinder = self.cinder(side).await?;
        let name = side_name(side);
        let cloud_name = self.side(side).name().to_string();
        match kind {
            VolumeKind::Snapshot => {
                let sid = VolumeSnapshotId::new(id);
                deleted(
                    format!("{name} volume snapshot {id}"),
                    cinder.delete_snapshot(&sid).await,
                    &call(side, "delete volume snapshot"),
                )?;
                wait_for(
                    &cloud_name,
                    "volume snapshot gone",
                    timeout,
                    DELETE_POLL,
                    || async {
                        Ok(match cinder.snapshot(&sid).await? {
                            None => Poll::Ready(()),
                            Some(s) => Poll::Pending(s.status),
                        })
                    },
                )
                .await
                .map_err(wait_error("volume snapshot", "deleted", timeout))
            }
            VolumeKind::Volume => {
                let vid = VolumeId::new(id);
                // A volume whose server was just deleted is `in-use` or `detaching` for a
                // moment, and Cinder refuses its delete until then: look again until the
                // delete is taken (or the volume is gone), then until it is gone.
                let asked = std::sync::atomic::AtomicBool::new(false);
                let asked = &asked;
                wait_for(&cloud_name, "volume gone", timeout, DELETE_POLL, || async {
                    let Some(v) = cinder.volume(&vid).await? else {
                        return Ok(Poll::Ready(()));
                    };
                    if !asked.load(std::sync::atomic::Ordering::SeqCst)
                        && (v.status == "available"
                            || v.status.starts_with("error")
                            || v.attachments.is_empty()
                                && !matches!(
                                    v.status.as_str(),
                                    "creating"
                                        | "downloading"
                                        | "uploading"
                                        | "detaching"
                                        | "attaching"
                                        | "deleting"
                                ))
                    {
                        cinder.delete_volume(&vid).await?;
                        asked.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(Poll::Pending(v.status))
                })
                .await
                .map_err(wait_error("volume", "deleted", timeout))
            }
        }
    }
}
