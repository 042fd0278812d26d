//! Glance v2 (images: list/get/create/patch/delete, file upload/download with Range,
//! checksums, state machine), mounted at `/image`. Knows nothing about Nova or Neutron; Nova
//! calls the functions below. (Placeholder by CORE with the contract's interface; GLANCE owns
//! and replaces this file.)

use crate::cloud::SharedCloud;
use crate::imagedata;

/// Minimal facts Nova needs to validate a boot / show `image` on a server.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    /// Image id.
    pub id: String,
    /// Image name.
    pub name: String,
    /// Status (`queued`, `saving`, `active`, ...).
    pub status: String,
    /// Size in bytes, once known.
    pub size: Option<u64>,
    /// Minimum disk in GB.
    pub min_disk: u64,
    /// Minimum RAM in MB.
    pub min_ram: u64,
    /// Owner project id.
    pub owner: String,
    /// `public`, `private`, `shared` or `community`.
    pub visibility: String,
}

/// The Glance service of one cloud.
#[derive(Debug)]
pub struct Glance {}

impl Glance {
    /// A Glance keeping image files under `data_dir`.
    pub fn new(data_dir: &std::path::Path) -> std::io::Result<Glance> {
        let _ = data_dir;
        todo!()
    }

    /// Seed an active image whose bytes are `content` (e.g. generated pseudo-random).
    pub fn seed_image(
        &self,
        owner_project_id: &str,
        name: &str,
        disk_format: &str,
        visibility: &str,
        content: imagedata::Content,
    ) -> String {
        let _ = (owner_project_id, name, disk_format, visibility, content);
        todo!()
    }

    /// For createImage: a queued snapshot image owned by project, with Nova's properties
    /// (image_type=snapshot, instance_uuid, base_image_ref, user_id, owner_*...) merged in.
    #[allow(clippy::too_many_arguments)]
    pub fn create_snapshot_image(
        &self,
        owner_project_id: &str,
        name: &str,
        disk_format: &str,
        container_format: &str,
        properties: serde_json::Map<String, serde_json::Value>,
        min_disk: u64,
        min_ram: u64,
    ) -> String {
        let _ = (
            owner_project_id,
            name,
            disk_format,
            container_format,
            properties,
        );
        let _ = (min_disk, min_ram);
        todo!()
    }

    /// Move that image queued -> saving, fill it with `content` in the background (hashing it,
    /// taking time proportional to size), then -> active; calls `on_done(success)` when
    /// finished so Nova can clear the server's task_state.
    pub fn start_snapshot_upload(
        &self,
        image_id: &str,
        content: imagedata::Content,
        on_done: Box<dyn FnOnce(bool) + Send>,
    ) {
        let _ = (image_id, content, on_done);
        todo!()
    }

    /// The content of an active image (to become the disk of a server booted from it).
    pub fn image_content(&self, image_id: &str) -> Option<imagedata::Content> {
        let _ = image_id;
        todo!()
    }

    /// Minimal facts Nova needs to validate a boot / show `image` on a server.
    pub fn image_summary(&self, image_id: &str) -> Option<ImageSummary> {
        let _ = image_id;
        todo!()
    }

    /// Everything, for the /devcloud/state dump.
    pub fn dump(&self) -> serde_json::Value {
        todo!()
    }

    /// The Glance routes, mounted at `/image`.
    pub fn router() -> axum::Router<SharedCloud> {
        todo!()
    }
}
