//! The image piece of the port: images on both sides, their quota, and the copy of an image's
//! bytes from the source's Glance into the target's.

use super::*;

/// An image in either cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub name: String,
    /// Glance's status: `queued`, `saving`, `active`, `killed`, ...
    pub status: String,
    pub disk_format: Option<String>,
    pub visibility: String,
    /// Glance's md5 `checksum`, once the image has data.
    pub checksum: Option<String>,
    /// Glance's `os_hash_value` when its `os_hash_algo` is sha512.
    #[serde(default)]
    pub sha512: Option<String>,
    pub size: Option<u64>,
    pub marker: Option<Marker>,
    /// Its properties (text values; without the marker).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub min_disk: u64,
    #[serde(default)]
    pub min_ram: u64,
}

/// A change of a target image: its visibility, properties set and properties removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageUpdate {
    pub visibility: Option<String>,
    pub set: BTreeMap<String, String>,
    pub remove: Vec<String>,
}

/// A query for images: every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageQuery {
    pub name: Option<String>,
    pub marker: Option<Marker>,
}

/// What a new target image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub name: String,
    pub disk_format: String,
    pub container_format: String,
    pub visibility: String,
    /// Extra properties (besides the marker).
    pub properties: BTreeMap<String, String>,
    /// As the snapshot's (Nova sets the flavor's disk and the base image's RAM).
    pub min_disk: u64,
    pub min_ram: u64,
    pub marker: Marker,
}

/// What a project's Glance may still take, as Keystone's unified limits say (Glance's
/// `GET /v2/info/usage`); `None`: not told (a Glance that does not enforce unified limits, or
/// one older than Yoga; its legacy `user_storage_quota` and its `image_size_cap` are not
/// shown to a project).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageQuota {
    /// MiB of image data (`image_size_total`).
    pub size_mib: Option<QuotaUse>,
    /// Images, whatever their status (`image_count_total`).
    pub images: Option<QuotaUse>,
}

/// Progress of an image transfer: bytes moved so far, and the whole size when known.
pub type Progress = Arc<dyn Fn(u64, Option<u64>) + Send + Sync>;

/// How one image's bytes are to be copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// The target image's disk format; another than the source's means a conversion.
    pub disk_format: String,
    pub transfer: TransferMode,
}

/// Images, in either cloud: the source's snapshots and the target's copies.
pub trait Images: Send + Sync + 'static {
    /// Every image the project sees in that cloud (every page).
    fn images(&self, side: Side) -> impl Future<Output = PortResult<Vec<Image>>> + Send;
    /// Wait until the image is `active`; `ImageFailed` if it goes to `killed` or `deleted`.
    fn wait_image_active(
        &self,
        side: Side,
        id: &str,
        timeout: Duration,
    ) -> impl Future<Output = PortResult<Image>> + Send;
    fn delete_image(&self, side: Side, id: &str) -> impl Future<Output = PortResult<()>> + Send;
    /// The project's Glance quota in that cloud and its use; empty when the cloud does not
    /// tell it (see [`ImageQuota`]).
    fn image_quota(&self, side: Side) -> impl Future<Output = PortResult<ImageQuota>> + Send;
    /// Create an (empty, `queued`) image record in the target.
    fn create_image(&self, spec: &ImageSpec) -> impl Future<Output = PortResult<Image>> + Send;
    /// Fill target image `target_id` with the bytes of source image `source_id`; returns the
    /// checksums of what was sent. The real adapter streams it through `transfer` (or spools
    /// it, converting its format when `copy.disk_format` differs from the source's).
    fn upload_image(
        &self,
        target_id: &str,
        source_id: &str,
        copy: &CopySpec,
        progress: Progress,
    ) -> impl Future<Output = PortResult<Checksums>> + Send;
    /// Change a target image's visibility and properties.
    fn update_image(
        &self,
        id: &str,
        update: &ImageUpdate,
    ) -> impl Future<Output = PortResult<()>> + Send;
}
