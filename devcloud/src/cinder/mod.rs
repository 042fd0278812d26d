//! Cinder v3 (block storage), mounted at `/volume`: volumes, snapshots, volume types, quotas
//! and limits, and the state machine of each (`creating` → [`downloading` →] `available`,
//! `reserved` → `in-use` while a server holds a volume, `uploading` → back, `extending`,
//! `deleting`). A volume's bytes are a [`Content`] window over the image or snapshot it was
//! made from, then zeros, so nothing is copied and a 1 TiB volume costs no memory. The HTTP
//! routes are in [`api`], the volume types in [`types`], the upload into an image in
//! [`upload`]; this module is the state and the calls Nova makes (attach, detach, volumes for
//! a boot, snapshots for createImage). Knows Glance through its public methods.

mod api;
mod types;
mod upload;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::cloud::{Cloud, SharedCloud};
use crate::error::ApiError;
use crate::imagedata::Content;

pub use api::router;
pub use types::*;
pub use upload::*;
/// One GiB, the unit of volume sizes.
pub const GIB: u64 = 1 << 30;

/// Cinder's defaults for quotas the `quota` knob leaves unset (`quota_volumes`,
/// `quota_snapshots`, `quota_gigabytes`, `quota_backups`, `quota_backup_gigabytes`,
/// `quota_groups`).
pub const DEFAULT_VOLUMES: u64 = 10;
/// See [`DEFAULT_VOLUMES`].
pub const DEFAULT_SNAPSHOTS: u64 = 10;
/// See [`DEFAULT_VOLUMES`].
pub const DEFAULT_GIGABYTES: u64 = 1000;

/// A server's hold on a volume.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The attachment's id.
    pub id: String,
    /// The server.
    pub server_id: String,
    /// The device name (`/dev/vda`).
    pub device: String,
    /// When it was attached.
    pub attached_at: OffsetDateTime,
}

/// A volume.
#[derive(Debug, Clone)]
pub struct Volume {
    /// Id.
    pub id: String,
    /// Name (`display_name`).
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `creating`, `downloading`, `available`, `reserved`, `in-use`, `uploading`,
    /// `extending`, `deleting`, `error`.
    pub status: String,
    /// Size in GiB.
    pub size: u64,
    /// Owner project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// The volume type's id.
    pub volume_type_id: String,
    /// The volume type's name.
    pub volume_type_name: String,
    /// Whether it boots.
    pub bootable: bool,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// `volume_image_metadata`: the image it was made from (empty when none).
    pub image_metadata: BTreeMap<String, String>,
    /// The snapshot it was made from.
    pub snapshot_id: Option<String>,
    /// Attachments (one at most: no multiattach).
    pub attachments: Vec<Attachment>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Updated.
    pub updated_at: OffsetDateTime,
    /// The bytes.
    pub content: Content,
}

/// A volume snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Id.
    pub id: String,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `creating`, `available`, `deleting`, `error`.
    pub status: String,
    /// Size in GiB (the volume's).
    pub size: u64,
    /// The volume.
    pub volume_id: String,
    /// Owner project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Updated.
    pub updated_at: OffsetDateTime,
    /// The volume's bytes when it was taken.
    pub content: Content,
}

/// Cinder's state of one cloud.
#[derive(Debug, Default)]
pub struct State_ {
    /// Volumes by id.
    pub volumes: BTreeMap<String, Volume>,
    /// Snapshots by id.
    pub snapshots: BTreeMap<String, Snapshot>,
    /// Volume types by id.
    pub types: BTreeMap<String, VolumeType>,
    /// The default type's id.
    pub default_type: String,
}

impl State_ {
    /// A volume of `project` (any project's when `project` is `None`) to change, or Cinder's
    /// 404 for it.
    pub fn volume_mut(&mut self, id: &str, project: Option<&str>) -> Result<&mut Volume, ApiError> {
        self.volumes
            .get_mut(id)
            .filter(|v| project.is_none_or(|p| v.project_id == p))
            .ok_or_else(|| volume_not_found(id))
    }
}

/// Cinder of one cloud.
#[derive(Debug, Default)]
pub struct Cinder {
    state: Mutex<State_>,
}

/// What a new volume is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Nothing: zeros.
    Blank,
    /// An image (Glance id).
    Image(String),
    /// A snapshot.
    Snapshot(String),
}

/// A volume create request, as the API and Nova's boot give it.
#[derive(Debug, Clone)]
pub struct NewVolume {
    /// Size in GiB (`None`: the snapshot's).
    pub size: Option<u64>,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Volume type name or id (`None`: the default).
    pub volume_type: Option<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Where the bytes come from.
    pub source: Source,
}

/// Cinder's error body (the same fault format as Nova's: `{"badRequest": {"code",
/// "message"}}`).
pub fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::nova(status, message)
}

fn bad(message: impl Into<String>) -> ApiError {
    error(StatusCode::BAD_REQUEST, message)
}

/// The 404 of a volume.
pub fn volume_not_found(id: &str) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        format!("Volume {id} could not be found."),
    )
}

fn snapshot_not_found(id: &str) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        format!("Snapshot {id} could not be found."),
    )
}

/// The statuses a volume may be deleted in (without `force`).
const DELETABLE: &[&str] = &[
    "available",
    "error",
    "error_restoring",
    "error_extending",
    "error_managing",
];

impl Cinder {
    /// A Cinder with devstack's volume types: `__DEFAULT__` and `lvmdriver-1`, the default.
    pub fn new() -> Cinder {
        let cinder = Cinder::default();
        cinder.add_type("__DEFAULT__", Some("Default Volume Type"), false);
        cinder.add_type("lvmdriver-1", None, true);
        cinder
    }

    /// Lock the state.
    pub fn lock(&self) -> MutexGuard<'_, State_> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a volume type (the default one when `default`); its id is derived from its name.
    pub fn add_type(&self, name: &str, description: Option<&str>, default: bool) -> String {
        let t = new_type(name, description);
        let id = t.id.clone();
        let mut st = self.lock();
        st.types.insert(id.clone(), t);
        if default || st.default_type.is_empty() {
            st.default_type = id.clone();
        }
        id
    }

    /// A volume of `project` (any project's when `project` is `None`).
    pub fn volume(&self, id: &str, project: Option<&str>) -> Option<Volume> {
        self.lock()
            .volumes
            .get(id)
            .filter(|v| project.is_none_or(|p| v.project_id == p))
            .cloned()
    }

    /// A snapshot of `project` (any project's when `project` is `None`).
    pub fn snapshot(&self, id: &str, project: Option<&str>) -> Option<Snapshot> {
        self.lock()
            .snapshots
            .get(id)
            .filter(|s| project.is_none_or(|p| s.project_id == p))
            .cloned()
    }

    /// A project's volumes, snapshots and gigabytes (volumes' and snapshots' sizes): what
    /// its quotas count.
    pub fn usage(&self, project_id: &str) -> Usage {
        let st = self.lock();
        let volumes: Vec<&Volume> = st
            .volumes
            .values()
            .filter(|v| v.project_id == project_id)
            .collect();
        let snapshots: Vec<&Snapshot> = st
            .snapshots
            .values()
            .filter(|s| s.project_id == project_id)
            .collect();
        Usage {
            volumes: volumes.len() as u64,
            snapshots: snapshots.len() as u64,
            gigabytes: volumes.iter().map(|v| v.size).sum::<u64>()
                + snapshots.iter().map(|s| s.size).sum::<u64>(),
        }
    }

    /// Everything per project, for the state dump (stable order, no timestamps).
    pub fn dump(&self) -> Value {
        let st = self.lock();
        let mut per: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for v in st.volumes.values() {
            let e = per.entry(v.project_id.clone()).or_default();
            if let Value::Array(a) = e.entry("volumes").or_insert_with(|| json!([])) {
                a.push(json!({"id": v.id, "name": v.name, "status": v.status, "size": v.size,
                    "bootable": v.bootable, "volume_type": v.volume_type_name,
                    "attachments": v.attachments.iter().map(|a| json!({"server_id": a.server_id, "device": a.device})).collect::<Vec<_>>()}));
            }
        }
        for s in st.snapshots.values() {
            let e = per.entry(s.project_id.clone()).or_default();
            if let Value::Array(a) = e.entry("volume_snapshots").or_insert_with(|| json!([])) {
                a.push(
                    json!({"id": s.id, "name": s.name, "status": s.status, "size": s.size,
                    "volume_id": s.volume_id}),
                );
            }
        }
        json!(per)
    }
}

/// What a project's quotas count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Volumes.
    pub volumes: u64,
    /// Snapshots.
    pub snapshots: u64,
    /// GiB of volumes and snapshots.
    pub gigabytes: u64,
}

/// The project quotas in effect: the `quota` knob's, else Cinder's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Volumes.
    pub volumes: u64,
    /// Snapshots.
    pub snapshots: u64,
    /// GiB.
    pub gigabytes: u64,
}

impl Limits {
    /// The limits of `cloud`.
    pub fn of(cloud: &Cloud) -> Limits {
        let q = cloud.faults.get().quota;
        Limits {
            volumes: q.volumes.unwrap_or(DEFAULT_VOLUMES),
            snapshots: q.snapshots.unwrap_or(DEFAULT_SNAPSHOTS),
            gigabytes: q.gigabytes.unwrap_or(DEFAULT_GIGABYTES),
        }
    }
}

/// Cinder's quota check of a new volume or snapshot of `size` GiB (`process_reserve_over_quota`:
/// 413 `overLimit`, gigabytes first).
fn check_quota(cloud: &Cloud, project_id: &str, snapshot: bool, size: u64) -> Result<(), ApiError> {
    let used = cloud.cinder.usage(project_id);
    let limits = Limits::of(cloud);
    if used.gigabytes + size > limits.gigabytes {
        let what = if snapshot {
            "SnapshotSizeExceedsAvailableQuota: Requested snapshot"
        } else {
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot"
        };
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{what} exceeds allowed gigabytes quota. Requested {size}G, quota is {}G and {}G has been consumed.",
                limits.gigabytes, used.gigabytes
            ),
        ));
    }
    let (count, limit, kind, name) = if snapshot {
        (
            used.snapshots,
            limits.snapshots,
            "SnapshotLimitExceeded",
            "snapshots",
        )
    } else {
        (
            used.volumes,
            limits.volumes,
            "VolumeLimitExceeded",
            "volumes",
        )
    };
    if count + 1 > limit {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{kind}: Maximum number of {name} allowed ({limit}) exceeded for quota '{name}'."
            ),
        ));
    }
    Ok(())
}

fn seconds(s: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(s.max(0.0))
}

/// Set a volume's status (if it still exists) and its `updated_at`.
fn set_status(cloud: &Cloud, id: &str, status: &str) {
    if let Some(v) = cloud.cinder.lock().volumes.get_mut(id) {
        v.status = status.into();
        v.updated_at = cloud.clock.now();
    }
}

/// Create a volume (status `creating`) and schedule its way to `available`: a blank volume or
/// one from a snapshot after `volume_create_s`; one from an image through `downloading`
/// (`volume_create_s` split between the two), or to `error` when the `volume_create_error`
/// knob is set or the image's format cannot be converted.
pub fn create_volume(
    cloud: &SharedCloud,
    project_id: &str,
    user_id: &str,
    is_admin: bool,
    req: NewVolume,
) -> Result<Volume, ApiError> {
    let vtype = match &req.volume_type {
        Some(t) => find_type(cloud, t).ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                format!("Volume type with name {t} could not be found."),
            )
        })?,
        None => {
            let st = cloud.cinder.lock();
            st.types
                .get(&st.default_type)
                .cloned()
                .ok_or_else(|| bad("No default volume type"))?
        }
    };
    let mut image_metadata = BTreeMap::new();
    let mut bootable = false;
    let mut snapshot_id = None;
    let (size, base): (u64, Option<(Content, u64, u64)>) = match &req.source {
        Source::Blank => {
            let size = req.size.ok_or_else(|| {
                bad("Invalid input received: Volume size must be a positive integer.")
            })?;
            (size, None)
        }
        Source::Image(image_id) => {
            let summary = cloud
                .glance
                .image_summary(image_id)
                .filter(|i| is_admin || i.visibility != "private" || i.owner == project_id)
                .ok_or_else(|| {
                    bad("Invalid image identifier or unable to access requested image.")
                })?;
            if summary.status != "active" {
                return Err(bad(format!(
                    "Invalid input received: Image {image_id} is not active."
                )));
            }
            let image_bytes = summary.size.unwrap_or(0);
            let image_gb = image_bytes.div_ceil(GIB);
            let size = req.size.unwrap_or(image_gb.max(summary.min_disk).max(1));
            if image_gb > size {
                return Err(bad(format!(
                    "Invalid input received: Size of specified image {image_gb}GB is larger than volume size {size}GB."
                )));
            }
            if summary.min_disk > size {
                return Err(bad(format!(
                    "Invalid input received: Volume size {size}GB cannot be smaller than the image minDisk size {}GB.",
                    summary.min_disk
                )));
            }
            image_metadata = volume_image_metadata(&summary);
            // The volume manager checks the image's signature while it downloads the image
            // (`verify_glance_signatures`, `enabled` by default) and stores the outcome as
            // image metadata: `False` for an image without `img_signature*` properties
            // (`cinder/volume/flows/manager/create_volume.py`
            // `_create_from_image_cache_or_download`, `cinder/image/image_utils.py`
            // `verify_glance_image_signature`). devcloud verifies no signatures.
            image_metadata.insert("signature_verified".into(), "False".into());
            bootable = true;
            let content = cloud.glance.image_content(image_id);
            let converted = content.and_then(|c| {
                let (offset, len) = c.guest_bytes(summary.disk_format.as_deref()?)?;
                Some((c, offset, len))
            });
            (size, converted)
        }
        Source::Snapshot(sid) => {
            let snap = cloud
                .cinder
                .snapshot(sid, (!is_admin).then_some(project_id))
                .ok_or_else(|| snapshot_not_found(sid))?;
            if snap.status != "available" {
                return Err(bad(
                    "Invalid snapshot: Originating snapshot status must be one of 'available' values",
                ));
            }
            let size = req.size.unwrap_or(snap.size);
            if size < snap.size {
                return Err(bad(format!(
                    "Invalid input received: Volume size '{size}'GB cannot be smaller than the snapshot size {}GB. They must be >= original snapshot size.",
                    snap.size
                )));
            }
            if let Some(source) = cloud.cinder.volume(&snap.volume_id, None) {
                image_metadata = source.image_metadata;
                bootable = source.bootable;
            }
            snapshot_id = Some(snap.id.clone());
            let len = snap.content.size();
            (size, Some((snap.content, 0, len)))
        }
    };
    if size == 0 {
        return Err(bad(format!(
            "Invalid input received: Volume size '{size}' must be an integer and greater than 0"
        )));
    }
    check_quota(cloud, project_id, false, size)?;
    let now = cloud.clock.now();
    let convertible = base.is_some() || req.source == Source::Blank;
    let content = match base {
        Some((c, offset, len)) => Content::window(c, offset, len, size * GIB),
        None => Content::zeros(size * GIB),
    };
    let volume = Volume {
        id: cloud.faults.random_uuid().to_string(),
        name: req.name,
        description: req.description,
        status: "creating".into(),
        size,
        project_id: project_id.into(),
        user_id: user_id.into(),
        volume_type_id: vtype.id,
        volume_type_name: vtype.name,
        bootable,
        metadata: req.metadata,
        image_metadata,
        snapshot_id,
        attachments: Vec::new(),
        created_at: now,
        updated_at: now,
        content,
    };
    cloud
        .cinder
        .lock()
        .volumes
        .insert(volume.id.clone(), volume.clone());
    let settings = cloud.faults.get();
    let delay = seconds(settings.volume_create_s);
    let fail = settings.volume_create_error || !convertible;
    let from_image = matches!(req.source, Source::Image(_));
    let (cloud2, id) = (Arc::clone(cloud), volume.id.clone());
    tokio::spawn(async move {
        if from_image {
            tokio::time::sleep(delay / 2).await;
            if cloud2
                .cinder
                .volume(&id, None)
                .is_some_and(|v| v.status == "creating")
            {
                set_status(&cloud2, &id, "downloading");
            }
            tokio::time::sleep(delay / 2).await;
        } else {
            tokio::time::sleep(delay).await;
        }
        let done = if fail { "error" } else { "available" };
        if cloud2
            .cinder
            .volume(&id, None)
            .is_some_and(|v| matches!(v.status.as_str(), "creating" | "downloading"))
        {
            set_status(&cloud2, &id, done);
        }
    });
    Ok(volume)
}

/// Delete a volume: refused (400) unless it is in a deletable status, unattached and without
/// snapshots; else `deleting`, gone after half of `volume_create_s`.
pub fn delete_volume(cloud: &SharedCloud, id: &str, project: Option<&str>) -> Result<(), ApiError> {
    {
        let mut st = cloud.cinder.lock();
        let has_snapshots = st.snapshots.values().any(|s| s.volume_id == id);
        let v = st.volume_mut(id, project)?;
        if !DELETABLE.contains(&v.status.as_str()) || !v.attachments.is_empty() || has_snapshots {
            return Err(bad(format!(
                "Invalid volume: Volume status must be {} and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.",
                DELETABLE.join(" or ")
            )));
        }
        v.status = "deleting".into();
        v.updated_at = cloud.clock.now();
    }
    let delay = seconds(cloud.faults.get().volume_create_s) / 2;
    let (cloud2, id) = (Arc::clone(cloud), id.to_string());
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        cloud2.cinder.lock().volumes.remove(&id);
    });
    Ok(())
}

/// Drop a volume whatever its status: Nova's clean-up of a volume it made for a boot that
/// failed before the volume was used.
pub fn discard_volume(cloud: &Cloud, id: &str) {
    cloud.cinder.lock().volumes.remove(id);
}

/// Take a snapshot of a volume (`creating`, `available` after `volume_snapshot_s`). An
/// in-use volume needs `force` (or `allow_in_use`, microversion 3.66+).
#[allow(clippy::too_many_arguments)]
pub fn create_snapshot(
    cloud: &SharedCloud,
    project_id: &str,
    user_id: &str,
    volume_id: &str,
    name: Option<String>,
    description: Option<String>,
    metadata: BTreeMap<String, String>,
    force: bool,
    allow_in_use: bool,
) -> Result<Snapshot, ApiError> {
    let volume = cloud
        .cinder
        .volume(volume_id, Some(project_id))
        .ok_or_else(|| volume_not_found(volume_id))?;
    if volume.status == "error" {
        return Err(bad(
            "Invalid volume: The snapshot cannot be created when the volume is in error status.",
        ));
    }
    let valid: &[&str] = if force || allow_in_use {
        &["available", "in-use"]
    } else {
        &["available"]
    };
    if !valid.contains(&volume.status.as_str()) {
        return Err(bad(format!(
            "Invalid volume: Volume {volume_id} status must be {}, but current status is: {}.",
            valid.join(", "),
            volume.status
        )));
    }
    check_quota(cloud, project_id, true, volume.size)?;
    let now = cloud.clock.now();
    let snap = Snapshot {
        id: cloud.faults.random_uuid().to_string(),
        name,
        description,
        status: "creating".into(),
        size: volume.size,
        volume_id: volume_id.into(),
        project_id: project_id.into(),
        user_id: user_id.into(),
        metadata,
        created_at: now,
        updated_at: now,
        content: volume.content,
    };
    cloud
        .cinder
        .lock()
        .snapshots
        .insert(snap.id.clone(), snap.clone());
    let delay = seconds(cloud.faults.get().volume_snapshot_s);
    let (cloud2, id) = (Arc::clone(cloud), snap.id.clone());
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let now = cloud2.clock.now();
        if let Some(s) = cloud2.cinder.lock().snapshots.get_mut(&id)
            && s.status == "creating"
        {
            s.status = "available".into();
            s.updated_at = now;
        }
    });
    Ok(snap)
}

/// Delete a snapshot (`available` or `error` only; 400 else).
pub fn delete_snapshot(
    cloud: &SharedCloud,
    id: &str,
    project: Option<&str>,
) -> Result<(), ApiError> {
    {
        let mut st = cloud.cinder.lock();
        let s = st
            .snapshots
            .get_mut(id)
            .filter(|s| project.is_none_or(|p| s.project_id == p))
            .ok_or_else(|| snapshot_not_found(id))?;
        if !matches!(s.status.as_str(), "available" | "error") {
            return Err(bad(
                "Invalid snapshot: Snapshot status must be available or error and must not be part of a group.",
            ));
        }
        s.status = "deleting".into();
        s.updated_at = cloud.clock.now();
    }
    let delay = seconds(cloud.faults.get().volume_snapshot_s) / 2;
    let (cloud2, id) = (Arc::clone(cloud), id.to_string());
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        cloud2.cinder.lock().snapshots.remove(&id);
    });
    Ok(())
}

/// `os-extend`: `available` volumes only (in-use from 3.42); the new size above the old.
pub fn extend(
    cloud: &SharedCloud,
    project_id: &str,
    volume_id: &str,
    new_size: u64,
    in_use_ok: bool,
) -> Result<(), ApiError> {
    let extra = {
        let st = cloud.cinder.lock();
        let v = st
            .volumes
            .get(volume_id)
            .filter(|v| v.project_id == project_id)
            .ok_or_else(|| volume_not_found(volume_id))?;
        let ok = v.status == "available" || (in_use_ok && v.status == "in-use");
        if !ok {
            let expected = if in_use_ok {
                "available or in-use"
            } else {
                "available"
            };
            return Err(bad(format!(
                "Invalid volume: Volume {volume_id} status must be '{expected}' to extend, currently {}.",
                v.status
            )));
        }
        if new_size <= v.size {
            return Err(bad(format!(
                "Invalid input received: New size for extend must be greater than current size. (current: {}, extended: {new_size}).",
                v.size
            )));
        }
        new_size - v.size
    };
    check_quota(cloud, project_id, false, extra)?;
    let previous = {
        let mut st = cloud.cinder.lock();
        let v = st.volume_mut(volume_id, None)?;
        let previous = std::mem::replace(&mut v.status, "extending".into());
        v.size = new_size;
        let len = v.content.size();
        v.content = Content::window(v.content.clone(), 0, len, new_size * GIB);
        v.updated_at = cloud.clock.now();
        previous
    };
    let delay = seconds(cloud.faults.get().volume_create_s) / 2;
    let (cloud2, id) = (Arc::clone(cloud), volume_id.to_string());
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        set_status(&cloud2, &id, &previous);
    });
    Ok(())
}

/// For Nova's boot: check that a volume can be attached by `project` (`available`), and
/// reserve it (`reserved`).
pub fn reserve(cloud: &Cloud, project_id: &str, volume_id: &str) -> Result<Volume, ApiError> {
    let mut st = cloud.cinder.lock();
    let v = st.volume_mut(volume_id, Some(project_id))?;
    if v.status != "available" {
        return Err(bad(format!(
            "Invalid volume: Volume {volume_id} status must be available to reserve, but the status is {}.",
            v.status
        )));
    }
    v.status = "reserved".into();
    v.updated_at = cloud.clock.now();
    Ok(v.clone())
}

/// Attach a volume to a server as `device` (`in-use`, with an attachment).
pub fn attach(cloud: &Cloud, volume_id: &str, server_id: &str, device: &str) -> Option<String> {
    let now = cloud.clock.now();
    let attachment_id = cloud.faults.random_uuid().to_string();
    let mut st = cloud.cinder.lock();
    let v = st.volumes.get_mut(volume_id)?;
    v.status = "in-use".into();
    v.attachments.push(Attachment {
        id: attachment_id.clone(),
        server_id: server_id.into(),
        device: device.into(),
        attached_at: now,
    });
    v.updated_at = now;
    Some(attachment_id)
}

/// Detach a volume from a server (`available` again).
pub fn detach(cloud: &Cloud, volume_id: &str, server_id: &str) {
    let mut st = cloud.cinder.lock();
    if let Some(v) = st.volumes.get_mut(volume_id) {
        v.attachments.retain(|a| a.server_id != server_id);
        if v.attachments.is_empty() && matches!(v.status.as_str(), "in-use" | "reserved") {
            v.status = "available".into();
        }
        v.updated_at = cloud.clock.now();
    }
}

#[cfg(test)]
mod tests;
