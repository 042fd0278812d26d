//! Glance v2, mounted at `/image`: image records and their state machine (queued, saving,
//! active, deleted), visibility, properties and tags, and the bytes behind each image
//! ([`imagedata::Content`]). The HTTP routes are in [`api`]; this module is the state and the
//! calls Nova makes (snapshots, boot checks). Knows nothing about Nova or Neutron.

mod api;
mod data;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value, json};

use crate::cloud::SharedCloud;
use crate::imagedata::{self, Content};

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
    /// The disk format, once set.
    pub disk_format: Option<String>,
    /// The container format, once set.
    pub container_format: Option<String>,
    /// The additional (user) properties: what Nova reads as the image's `properties`.
    pub properties: Map<String, Value>,
    /// The md5 of the data, once known.
    pub checksum: Option<String>,
}

/// One image record.
#[derive(Debug, Clone)]
pub(crate) struct ImageRecord {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub visibility: String,
    pub protected: bool,
    pub os_hidden: bool,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub owner: String,
    pub min_disk: u64,
    pub min_ram: u64,
    pub size: Option<u64>,
    /// The virtual disk size Glance's format inspector finds (raw, qcow2), once known.
    pub virtual_size: Option<u64>,
    pub checksum: Option<String>,
    pub os_hash_value: Option<String>,
    pub tags: Vec<String>,
    pub properties: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
    pub content: Option<Content>,
}

/// The disk formats and container formats Glance accepts by default.
pub(crate) const DISK_FORMATS: &[&str] = &[
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];
pub(crate) const CONTAINER_FORMATS: &[&str] = &[
    "ami",
    "ari",
    "aki",
    "bare",
    "ovf",
    "ova",
    "docker",
    "compressed",
];

pub(crate) fn now() -> String {
    crate::clock::iso_seconds(time::OffsetDateTime::now_utc())
}

impl ImageRecord {
    pub(crate) fn new(id: String, owner: &str) -> ImageRecord {
        let now = now();
        ImageRecord {
            id,
            name: None,
            status: "queued".into(),
            visibility: "shared".into(),
            protected: false,
            os_hidden: false,
            disk_format: None,
            container_format: None,
            owner: owner.into(),
            min_disk: 0,
            min_ram: 0,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_value: None,
            tags: Vec::new(),
            properties: Map::new(),
            created_at: now.clone(),
            updated_at: now,
            content: None,
        }
    }

    /// The image as Glance v2 shows it.
    pub(crate) fn to_json(&self) -> Value {
        let mut out = self.properties.clone();
        let fields = json!({
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "visibility": self.visibility,
            "protected": self.protected,
            "os_hidden": self.os_hidden,
            "checksum": self.checksum,
            "os_hash_algo": self.os_hash_value.as_ref().map(|_| "sha512"),
            "os_hash_value": self.os_hash_value,
            "size": self.size,
            "virtual_size": self.virtual_size,
            "min_disk": self.min_disk,
            "min_ram": self.min_ram,
            "disk_format": self.disk_format,
            "container_format": self.container_format,
            "owner": self.owner,
            "tags": self.tags,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "self": format!("/v2/images/{}", self.id),
            "file": format!("/v2/images/{}/file", self.id),
            "schema": "/v2/schemas/image",
        });
        if let Value::Object(fields) = fields {
            out.extend(fields);
        }
        Value::Object(out)
    }

    fn summary(&self) -> ImageSummary {
        ImageSummary {
            id: self.id.clone(),
            name: self.name.clone().unwrap_or_default(),
            status: self.status.clone(),
            size: self.size,
            min_disk: self.min_disk,
            min_ram: self.min_ram,
            owner: self.owner.clone(),
            visibility: self.visibility.clone(),
            disk_format: self.disk_format.clone(),
            container_format: self.container_format.clone(),
            properties: self.properties.clone(),
            checksum: self.checksum.clone(),
        }
    }
}

/// What a project uses of Glance's unified limits, counted as Glance counts it
/// (`glance/db/sqlalchemy/api.py`): sizes of the images neither killed nor being deleted (one
/// store here, so once each) and of those staged for import, in MiB rounded down; the images
/// neither killed nor being deleted; those receiving data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub size_mib: u64,
    pub stage_mib: u64,
    pub count: u64,
    pub uploading: u64,
}

pub(crate) fn usage(images: &BTreeMap<String, ImageRecord>, owner: &str) -> Usage {
    let gone =
        |i: &ImageRecord| matches!(i.status.as_str(), "killed" | "deleted" | "pending_delete");
    let mine = || images.values().filter(move |i| i.owner == owner);
    let size = |i: &ImageRecord| i.size.unwrap_or(0);
    Usage {
        size_mib: mine().filter(|i| !gone(i)).map(size).sum::<u64>() >> 20,
        stage_mib: mine()
            .filter(|i| matches!(i.status.as_str(), "uploading" | "importing"))
            .map(size)
            .sum::<u64>()
            >> 20,
        count: mine().filter(|i| !gone(i)).count() as u64,
        uploading: mine()
            .filter(|i| matches!(i.status.as_str(), "saving" | "uploading" | "importing"))
            .count() as u64,
    }
}

/// The Glance service of one cloud.
#[derive(Debug)]
pub struct Glance {
    dir: PathBuf,
    images: Arc<Mutex<BTreeMap<String, ImageRecord>>>,
}

impl Glance {
    /// A Glance keeping image files under `data_dir`.
    pub fn new(data_dir: &Path) -> std::io::Result<Glance> {
        let dir = data_dir.join("glance");
        std::fs::create_dir_all(&dir)?;
        Ok(Glance {
            dir,
            images: Arc::default(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, BTreeMap<String, ImageRecord>> {
        self.images.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn file_path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Hash `content` on a blocking thread, then record size and checksums on image `id`,
    /// set it `active` and call `on_done`.
    fn finish_in_background(
        &self,
        id: String,
        content: Content,
        on_done: Option<Box<dyn FnOnce(bool) + Send>>,
    ) {
        let images = self.images.clone();
        std::thread::spawn(move || {
            let hashed = content.checksums_blocking();
            let ok = {
                let mut images = images.lock().unwrap_or_else(|e| e.into_inner());
                match (images.get_mut(&id), hashed) {
                    (Some(image), Ok((md5, sha512))) if image.status != "deleted" => {
                        image.size = Some(content.size());
                        image.virtual_size =
                            content.inspect_virtual_size(image.disk_format.as_deref());
                        image.checksum = Some(md5);
                        image.os_hash_value = Some(sha512);
                        image.content = Some(content);
                        image.status = "active".into();
                        image.updated_at = now();
                        true
                    }
                    (Some(image), Err(_)) => {
                        image.status = "killed".into();
                        false
                    }
                    _ => false,
                }
            };
            if let Some(done) = on_done {
                done(ok);
            }
        });
    }

    /// Seed an active image whose bytes are `content` (e.g. generated pseudo-random). Its size
    /// is known at once; its checksums are computed on a background thread (a few hundred
    /// milliseconds per GiB), so startup does not wait for a large seed image.
    pub fn seed_image(
        &self,
        owner_project_id: &str,
        name: &str,
        disk_format: &str,
        visibility: &str,
        content: imagedata::Content,
    ) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let mut image = ImageRecord::new(id.clone(), owner_project_id);
        image.name = Some(name.into());
        image.disk_format = Some(disk_format.into());
        image.container_format = Some("bare".into());
        image.visibility = visibility.into();
        image.status = "active".into();
        image.size = Some(content.size());
        image.content = Some(content.clone());
        self.lock().insert(id.clone(), image);
        self.finish_in_background(id.clone(), content, None);
        id
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
        let id = uuid::Uuid::new_v4().to_string();
        let mut image = ImageRecord::new(id.clone(), owner_project_id);
        image.name = Some(name.into());
        image.disk_format = Some(disk_format.into());
        image.container_format = Some(container_format.into());
        image.visibility = "private".into();
        image.min_disk = min_disk;
        image.min_ram = min_ram;
        image.properties = properties;
        self.lock().insert(id.clone(), image);
        id
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
        let known = {
            let mut images = self.lock();
            match images.get_mut(image_id) {
                Some(image) if image.status == "queued" => {
                    image.status = "saving".into();
                    image.updated_at = now();
                    true
                }
                _ => false,
            }
        };
        if known {
            self.finish_in_background(image_id.to_string(), content, Some(on_done));
        } else {
            on_done(false);
        }
    }

    /// Set an image's visibility and protection (Cinder's upload-to-image, 3.1+).
    pub fn set_visibility(&self, image_id: &str, visibility: &str, protected: bool) {
        if let Some(image) = self.lock().get_mut(image_id) {
            image.visibility = visibility.into();
            image.protected = protected;
        }
    }

    /// Delete an image record whatever its state (what Cinder does to the image of a failed
    /// upload: `_delete_image` of a queued or saving image). Its bytes are not a file Glance
    /// owns, so none is removed.
    pub fn discard_image(&self, image_id: &str) {
        self.lock().remove(image_id);
    }

    /// A Nova snapshot of a volume-backed server: an `active` image without data (`size` 0,
    /// the md5 of nothing; its download answers 204), `raw`/`bare` as Nova's zero-length
    /// upload hack makes it.
    pub fn create_empty_image(
        &self,
        owner_project_id: &str,
        name: &str,
        properties: Map<String, Value>,
        min_disk: u64,
        min_ram: u64,
    ) -> String {
        let id = self.create_snapshot_image(
            owner_project_id,
            name,
            "raw",
            "bare",
            properties,
            min_disk,
            min_ram,
        );
        if let Some(image) = self.lock().get_mut(&id) {
            image.status = "active".into();
            image.size = Some(0);
            image.checksum = Some("d41d8cd98f00b204e9800998ecf8427e".into());
            image.os_hash_value = Some("cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e".into());
        }
        id
    }

    /// A queued image starts receiving data (`saving`).
    pub fn set_saving(&self, image_id: &str) {
        if let Some(image) = self
            .lock()
            .get_mut(image_id)
            .filter(|i| i.status == "queued")
        {
            image.status = "saving".into();
            image.updated_at = now();
        }
    }

    /// Cinder's upload of a volume: the image goes `active` with `content` at once (size and
    /// virtual size known), and its checksums appear when a background thread has hashed it,
    /// as for seeded images (a volume is GiBs, mostly zeros: hashing it first would keep a
    /// debug build waiting for minutes). False when the image is gone or not queued.
    pub fn activate_then_hash(&self, image_id: &str, content: Content) -> bool {
        {
            let mut images = self.lock();
            let Some(image) = images
                .get_mut(image_id)
                .filter(|i| matches!(i.status.as_str(), "queued" | "saving"))
            else {
                return false;
            };
            image.status = "active".into();
            image.size = Some(content.size());
            image.virtual_size = content.inspect_virtual_size(image.disk_format.as_deref());
            image.content = Some(content.clone());
            image.updated_at = now();
        }
        let images = self.images.clone();
        let id = image_id.to_string();
        std::thread::spawn(move || {
            if let Ok((md5, sha512)) = content.checksums_blocking() {
                let mut images = images.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(image) = images.get_mut(&id) {
                    image.checksum = Some(md5);
                    image.os_hash_value = Some(sha512);
                }
            }
        });
        true
    }

    /// The content of an active image (to become the disk of a server booted from it).
    pub fn image_content(&self, image_id: &str) -> Option<imagedata::Content> {
        self.lock()
            .get(image_id)
            .filter(|i| i.status == "active")
            .and_then(|i| i.content.clone())
    }

    /// Minimal facts Nova needs to validate a boot / show `image` on a server.
    pub fn image_summary(&self, image_id: &str) -> Option<ImageSummary> {
        self.lock().get(image_id).map(ImageRecord::summary)
    }

    /// Everything, for the /devcloud/state dump (ids, names, owners, status, checksums; no
    /// timestamps, so dumps compare across runs).
    pub fn dump(&self) -> serde_json::Value {
        let images: Vec<Value> = self
            .lock()
            .values()
            .map(|i| {
                json!({"id": i.id, "name": i.name, "owner": i.owner, "status": i.status,
                       "visibility": i.visibility, "disk_format": i.disk_format,
                       "size": i.size, "checksum": i.checksum, "properties": i.properties,
                       "tags": i.tags})
            })
            .collect();
        json!({ "images": images })
    }

    /// The Glance routes, mounted at `/image`.
    pub fn router() -> axum::Router<SharedCloud> {
        api::router()
    }
}
