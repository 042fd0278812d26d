//! The volume piece of the port: Cinder's volumes and volume snapshots in both clouds, their
//! quota and types, and the upload of a volume into an image.

use super::*;

/// Which kind of Cinder resource: a volume or a volume snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeKind {
    Volume,
    Snapshot,
}

/// A Cinder volume or volume snapshot, in either cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CinderResource {
    pub id: String,
    pub name: String,
    /// Cinder's status: `creating`, `available`, `in-use`, `downloading`, `uploading`,
    /// `error`, ...
    pub status: String,
    pub size_gb: u64,
    /// A volume's type.
    pub volume_type: Option<String>,
    /// The servers a volume is attached to.
    #[serde(default)]
    pub attached_to: Vec<String>,
    pub marker: Option<Marker>,
}

/// The Cinder volumes and snapshots of a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInventory {
    pub volumes: Vec<CinderResource>,
    pub snapshots: Vec<CinderResource>,
}

impl VolumeInventory {
    pub fn of(&self, kind: VolumeKind) -> &[CinderResource] {
        match kind {
            VolumeKind::Volume => &self.volumes,
            VolumeKind::Snapshot => &self.snapshots,
        }
    }
}

/// What the target's Cinder may still hold (`None`: unlimited or not told), and its volume
/// types by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeQuota {
    /// GiB of volumes and snapshots together (Cinder counts both).
    pub gigabytes: Option<QuotaUse>,
    pub volumes: Option<QuotaUse>,
    pub snapshots: Option<QuotaUse>,
    pub types: Vec<String>,
}

/// What a new volume is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A snapshot in the source (the source's copy of a volume).
    Snapshot(String),
    /// An image in the target (the target volume).
    Image(String),
}

/// A new volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    pub name: String,
    pub size_gb: u64,
    /// `None`: the cloud's default (or, from a snapshot, its volume's type).
    pub volume_type: Option<String>,
    pub from: VolumeSource,
    pub marker: Marker,
}

/// Cinder in both clouds: the source's volume snapshots, their copies and the upload of a
/// copy into Glance; the target's volumes made from the copied image. A volume lives on the
/// side the method says: a source copy is made from a snapshot, a target volume from an image.
/// Every volume and snapshot carries the marker in its metadata; an uploaded image gets it
/// as properties.
pub trait Volumes: Send + Sync + 'static {
    /// Every volume and snapshot of the project on that side.
    fn volume_inventory(
        &self,
        side: Side,
    ) -> impl Future<Output = PortResult<VolumeInventory>> + Send;
    /// A cloud's volume quota (volumes, snapshots, gigabytes) and volume types.
    fn volume_quota(&self, side: Side) -> impl Future<Output = PortResult<VolumeQuota>> + Send;
    /// Snapshot a source volume (in use or not); it starts `creating`.
    fn create_volume_snapshot(
        &self,
        volume_id: &str,
        name: &str,
        marker: &Marker,
    ) -> impl Future<Output = PortResult<CinderResource>> + Send;
    /// Make a volume: in the source from a snapshot, in the target from an image.
    fn create_volume(
        &self,
        side: Side,
        spec: &VolumeSpec,
    ) -> impl Future<Output = PortResult<CinderResource>> + Send;
    /// Upload a source volume into a new source image (Cinder's `os-volume_upload_image`)
    /// and wait (at most `timeout`) until the image is `active`; returns the image's id. The
    /// volume is `uploading` until the image is written. The image gets the marker once it is
    /// active: Glance saves a PATCH over an upload in progress and the upload then fails.
    fn upload_volume(
        &self,
        volume_id: &str,
        image_name: &str,
        disk_format: &str,
        marker: &Marker,
        timeout: Duration,
    ) -> impl Future<Output = PortResult<String>> + Send;
    /// Wait until a volume or snapshot is `available`; `Api` with Cinder's status if it goes
    /// to an error status.
    fn wait_volume_available(
        &self,
        side: Side,
        kind: VolumeKind,
        id: &str,
        timeout: Duration,
    ) -> impl Future<Output = PortResult<CinderResource>> + Send;
    /// Delete a volume or snapshot and wait until it is gone; `NotFound` when it is gone
    /// already.
    fn delete_volume_resource(
        &self,
        side: Side,
        kind: VolumeKind,
        id: &str,
        timeout: Duration,
    ) -> impl Future<Output = PortResult<()>> + Send;
}
