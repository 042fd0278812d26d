//! A server's volumes, as Nova keeps them: `block_device_mapping_v2` parsed and checked at
//! boot (volume, image, snapshot and blank sources with destination `volume`), the volumes
//! Nova makes for image/snapshot/blank sources, their attachment once they are available,
//! `os-volume_attachments` (list, show, attach, update, detach), and what a delete does to them
//! (detach, then delete those marked `delete_on_termination`). Cinder is reached through its
//! public functions only.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};

use super::{bad, find, not_found};
use crate::auth::Auth;
use crate::cinder::{self, NewVolume, Source};
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};
use crate::nova::Microversion;

/// One volume of a server (Nova's block device mapping of destination `volume`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVolume {
    /// The volume.
    pub volume_id: String,
    /// Its device (`/dev/vda` for the root).
    pub device: String,
    /// `0` for the root volume; others as requested (`None`: not bootable).
    pub boot_index: Option<i64>,
    /// Whether deleting the server deletes the volume.
    pub delete_on_termination: bool,
    /// Its size in GiB (Nova's `volume_size`).
    pub volume_size: u64,
    /// Whether Nova made it (image, snapshot or blank source) and must wait for it.
    pub made_by_nova: bool,
    /// The BDM's id (`bdm_uuid`, 2.89+).
    pub bdm_id: String,
}

/// A requested block device: where its bytes come from, and how it is mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDevice {
    /// `volume`, `image`, `snapshot` or `blank`.
    pub source_type: String,
    /// The source's id (none for `blank`).
    pub uuid: Option<String>,
    /// The boot index (`None` or negative: not bootable).
    pub boot_index: Option<i64>,
    /// Size in GiB for a volume Nova makes.
    pub volume_size: Option<u64>,
    /// The volume type of a volume Nova makes.
    pub volume_type: Option<String>,
    /// `delete_on_termination` (default false).
    pub delete_on_termination: bool,
}

fn invalid_bdm(why: &str) -> ApiError {
    bad(format!("Block Device Mapping is Invalid: {why}"))
}

/// `block_device_mapping_v2` of a boot request, checked as Nova's API checks it. Empty when
/// the request has none.
pub fn parse(server: &Map<String, Value>) -> Result<Vec<BlockDevice>, ApiError> {
    let Some(list) = server.get("block_device_mapping_v2") else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or_else(|| {
        bad(format!(
            "Invalid input for field/attribute block_device_mapping_v2. Value: {list}. {list} is not of type 'array'"
        ))
    })?;
    let mut out = Vec::new();
    // The boot indexes Nova validates, the local boot image's among them.
    let mut boot_indexes: Vec<i64> = Vec::new();
    for b in list {
        let b = b
            .as_object()
            .ok_or_else(|| invalid_bdm("a block device mapping must be an object"))?;
        let source_type = b
            .get("source_type")
            .and_then(Value::as_str)
            .unwrap_or("blank")
            .to_string();
        let destination = b.get("destination_type").and_then(Value::as_str).unwrap_or(
            if source_type == "volume" {
                "volume"
            } else {
                "local"
            },
        );
        let boot_index = match b.get("boot_index") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => Some(s.parse::<i64>().map_err(|_| {
                bad(format!(
                    "Invalid input for field/attribute boot_index. Value: {s}."
                ))
            })?),
            Some(other) => {
                return Err(bad(format!(
                    "Invalid input for field/attribute boot_index. Value: {other}."
                )));
            }
        };
        if destination != "volume" {
            // Local disks (the image of an image-backed boot, ephemeral, swap) have no volume.
            if source_type == "image" && boot_index == Some(0) {
                boot_indexes.push(0);
                continue;
            }
            return Err(bad(
                "devcloud maps block devices of destination_type 'volume' only (and the boot image as a local disk)",
            ));
        }
        if !matches!(
            source_type.as_str(),
            "volume" | "image" | "snapshot" | "blank"
        ) {
            return Err(bad(format!(
                "Invalid input for field/attribute source_type. Value: {source_type}. '{source_type}' is not one of ['volume', 'image', 'snapshot', 'blank']"
            )));
        }
        let uuid = b.get("uuid").and_then(Value::as_str).map(str::to_string);
        if source_type != "blank" && uuid.is_none() {
            return Err(invalid_bdm("Missing device UUID."));
        }
        let volume_size = match b.get("volume_size") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            Some(_) => None,
        };
        let delete_on_termination = match b.get("delete_on_termination") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(d)) => *d,
            Some(Value::String(s)) => matches!(
                s.to_ascii_lowercase().as_str(),
                "true" | "1" | "yes" | "on" | "y" | "t"
            ),
            Some(other) => {
                return Err(bad(format!(
                    "Invalid input for field/attribute delete_on_termination. Value: {other}."
                )));
            }
        };
        boot_indexes.extend(boot_index.filter(|i| *i >= 0));
        out.push(BlockDevice {
            source_type,
            uuid,
            boot_index,
            volume_size,
            volume_type: b
                .get("volume_type")
                .and_then(Value::as_str)
                .map(str::to_string),
            delete_on_termination,
        });
    }
    // Nova's `_validate_bdm`: the bootable devices are numbered 0, 1, 2, ... and there is
    // at least one (a server booted from an image with volumes attached lists the image as
    // its local boot disk, as python-novaclient does). An empty list is the legacy path.
    boot_indexes.sort_unstable();
    let in_sequence = boot_indexes.iter().enumerate().all(|(i, b)| *b == i as i64);
    if !list.is_empty() && (boot_indexes.is_empty() || !in_sequence) {
        return Err(invalid_bdm(
            "Boot sequence for the instance and image/block device mapping combination is not valid.",
        ));
    }
    Ok(out)
}

/// The root device first, then the bootable ones by boot index, then the others in the
/// request's order: the order libvirt names them in (`/dev/vda`, `/dev/vdb`, ...).
fn device_order(devices: &[BlockDevice]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..devices.len()).collect();
    order.sort_by_key(|&i| match devices[i].boot_index {
        Some(b) if b >= 0 => (0, b, i),
        _ => (1, 0, i),
    });
    order
}

/// The device name of the `n`th disk (`vda`, `vdb`, ..., `vdz`, `vdaa`).
fn device_name(first_local: bool, n: usize) -> String {
    let n = n + usize::from(first_local);
    let mut suffix = String::new();
    let mut k = n;
    loop {
        suffix.insert(0, char::from(b'a' + (k % 26) as u8));
        if k < 26 {
            break;
        }
        k = k / 26 - 1;
    }
    format!("/dev/vd{suffix}")
}

/// Reserve the volumes a boot names and make those it asks Nova to make (image, snapshot,
/// blank sources), in device order. On failure everything done is undone.
pub fn prepare(
    cloud: &SharedCloud,
    auth: &Auth,
    devices: &[BlockDevice],
    image_backed: bool,
) -> Result<Vec<ServerVolume>, ApiError> {
    let mut out: Vec<ServerVolume> = Vec::new();
    let undo = |out: &[ServerVolume]| {
        for v in out {
            if v.made_by_nova {
                cinder::discard_volume(cloud, &v.volume_id);
            } else {
                cinder::detach(cloud, &v.volume_id, "");
            }
        }
    };
    for (n, &i) in device_order(devices).iter().enumerate() {
        let d = &devices[i];
        let made = match d.source_type.as_str() {
            "volume" => {
                let id = d.uuid.clone().unwrap_or_default();
                let reserved = cinder::reserve(cloud, &auth.project_id, &id);
                let v = match reserved {
                    Ok(v) => v,
                    Err(e) => {
                        undo(&out);
                        return Err(if e.status == StatusCode::NOT_FOUND {
                            invalid_bdm(&format!("failed to get volume {id}."))
                        } else {
                            bad(e.body["badRequest"]["message"]
                                .as_str()
                                .unwrap_or("Invalid volume")
                                .to_string())
                        });
                    }
                };
                (v.id, v.size, false)
            }
            source => {
                let size = match (source, d.volume_size) {
                    (_, Some(s)) if s > 0 => s,
                    ("snapshot", _) => cloud
                        .cinder
                        .snapshot(d.uuid.as_deref().unwrap_or_default(), None)
                        .map_or(0, |s| s.size),
                    _ => {
                        undo(&out);
                        return Err(invalid_bdm(
                            "Images with destination_type 'volume' need to have a non-zero size specified",
                        ));
                    }
                };
                let src = match source {
                    "image" => Source::Image(d.uuid.clone().unwrap_or_default()),
                    "snapshot" => Source::Snapshot(d.uuid.clone().unwrap_or_default()),
                    _ => Source::Blank,
                };
                let req = NewVolume {
                    size: Some(size),
                    name: Some(String::new()),
                    description: Some(String::new()),
                    volume_type: d.volume_type.clone(),
                    metadata: Default::default(),
                    source: src,
                };
                match cinder::create_volume(cloud, &auth.project_id, &auth.user_id, false, req) {
                    Ok(v) => (v.id, v.size, true),
                    Err(e) => {
                        undo(&out);
                        let msg = e
                            .body
                            .as_object()
                            .and_then(|o| o.values().next())
                            .and_then(|b| b["message"].as_str())
                            .unwrap_or("")
                            .to_string();
                        return Err(invalid_bdm(&msg));
                    }
                }
            }
        };
        out.push(ServerVolume {
            volume_id: made.0,
            device: device_name(image_backed, n),
            boot_index: d.boot_index.filter(|b| *b >= 0),
            delete_on_termination: d.delete_on_termination,
            volume_size: made.1,
            made_by_nova: made.2,
            bdm_id: cloud.faults.random_uuid().to_string(),
        });
    }
    Ok(out)
}

/// At the end of a build: wait (up to 3 minutes of polls, as `[DEFAULT]
/// block_device_allocate_retries`) for the volumes Nova made, then attach every volume.
/// `Err` with the fault message when one went to `error`.
pub async fn attach_all(
    cloud: &SharedCloud,
    server_id: &str,
    volumes: &[ServerVolume],
) -> Result<(), String> {
    for v in volumes.iter().filter(|v| v.made_by_nova) {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let status = cloud
                .cinder
                .volume(&v.volume_id, None)
                .map(|x| x.status)
                .unwrap_or_else(|| "deleted".into());
            match status.as_str() {
                "available" => break,
                "creating" | "downloading" if attempts < 1800 => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                other => {
                    return Err(format!(
                        "Build of instance {server_id} aborted: Volume {} did not finish being created even after we waited {} seconds or {attempts} attempts. And its status is {other}.",
                        v.volume_id,
                        attempts / 10
                    ));
                }
            }
        }
        // Nova's volumes are reserved as the user's are before attaching.
        if let Some(x) = cloud.cinder.lock().volumes.get_mut(&v.volume_id) {
            x.status = "reserved".into();
        }
    }
    for v in volumes {
        cinder::attach(cloud, &v.volume_id, server_id, &v.device);
    }
    Ok(())
}

/// What deleting a server does to its volumes: detach each, then delete those marked
/// `delete_on_termination` (a volume Cinder refuses to delete stays, as Nova only logs it).
pub fn release(cloud: &SharedCloud, server_id: &str, volumes: &[ServerVolume]) {
    for v in volumes {
        cinder::detach(cloud, &v.volume_id, server_id);
        if let Some(x) = cloud.cinder.lock().volumes.get_mut(&v.volume_id)
            && x.status == "reserved"
        {
            x.status = "available".into();
        }
        if v.delete_on_termination {
            let _ = cinder::delete_volume(cloud, &v.volume_id, None);
        }
    }
}

/// `os-extended-volumes:volumes_attached` of the server body.
pub fn volumes_attached(volumes: &[ServerVolume], mv: Microversion) -> Value {
    Value::Array(
        volumes
            .iter()
            .map(|v| {
                let mut a = json!({"id": v.volume_id});
                if mv.at_least(3) {
                    a["delete_on_termination"] = json!(v.delete_on_termination);
                }
                a
            })
            .collect(),
    )
}

fn attachment_json(server_id: &str, v: &ServerVolume, mv: Microversion) -> Value {
    let mut a = json!({"device": v.device, "serverId": server_id, "volumeId": v.volume_id});
    if !mv.at_least(89) {
        a["id"] = json!(v.volume_id);
    }
    if mv.at_least(70) {
        a["tag"] = Value::Null;
    }
    if mv.at_least(79) {
        a["delete_on_termination"] = json!(v.delete_on_termination);
    }
    if mv.at_least(89) {
        a["bdm_uuid"] = json!(v.bdm_id);
    }
    a
}

pub(super) fn routes() -> Router<SharedCloud> {
    Router::new()
        .route(
            "/servers/{id}/os-volume_attachments",
            get(list).post(attach),
        )
        .route(
            "/servers/{id}/os-volume_attachments/{volume}",
            get(show).put(update).delete(detach),
        )
}

async fn list(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = find(&cloud, &auth, &id)?;
    let list: Vec<Value> = s
        .volumes
        .iter()
        .map(|v| attachment_json_with(&cloud, &s.id, v, mv))
        .collect();
    Ok(Json(json!({"volumeAttachments": list})))
}

fn attachment_json_with(
    cloud: &Cloud,
    server_id: &str,
    v: &ServerVolume,
    mv: Microversion,
) -> Value {
    let mut a = attachment_json(server_id, v, mv);
    if mv.at_least(89) {
        let id = cloud.cinder.volume(&v.volume_id, None).and_then(|x| {
            x.attachments
                .iter()
                .find(|a| a.server_id == server_id)
                .map(|a| a.id.clone())
        });
        a["attachment_id"] = json!(id);
    }
    a
}

async fn show(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path((id, volume)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let s = find(&cloud, &auth, &id)?;
    let v = s
        .volumes
        .iter()
        .find(|v| v.volume_id == volume)
        .ok_or_else(|| {
            ApiError::nova(
                StatusCode::NOT_FOUND,
                format!("Instance {id} is not attached."),
            )
        })?;
    Ok(Json(
        json!({"volumeAttachment": attachment_json_with(&cloud, &s.id, v, mv)}),
    ))
}

async fn attach(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let a = body.get("volumeAttachment").and_then(Value::as_object).ok_or_else(|| {
        bad("Invalid input for field/attribute volumeAttachment. Value: None. 'volumeAttachment' is a required property")
    })?;
    let volume_id = a.get("volumeId").and_then(Value::as_str).ok_or_else(|| {
        bad("Invalid input for field/attribute volumeAttachment. 'volumeId' is a required property")
    })?;
    let delete_on_termination = match a.get("delete_on_termination") {
        Some(_) if !mv.at_least(79) => {
            return Err(bad(
                "Invalid input for field/attribute volumeAttachment. Additional properties are not allowed ('delete_on_termination' was unexpected)",
            ));
        }
        Some(Value::Bool(b)) => *b,
        _ => false,
    };
    let s = find(&cloud, &auth, &id)?;
    if !matches!(s.vm_state.as_str(), "active" | "stopped") || s.task_state.is_some() {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!(
                "Cannot 'attach_volume' instance {id} while it is in vm_state {}",
                s.vm_state
            ),
        ));
    }
    cinder::reserve(&cloud, &auth.project_id, volume_id).map_err(|e| {
        if e.status == StatusCode::NOT_FOUND {
            ApiError::nova(
                StatusCode::NOT_FOUND,
                format!("Volume {volume_id} could not be found."),
            )
        } else {
            bad(e.body["badRequest"]["message"]
                .as_str()
                .unwrap_or("Invalid volume")
                .to_string())
        }
    })?;
    let image_backed = s.image_id.is_some();
    let sv = {
        let mut st = cloud.nova.lock();
        let server = st.servers.get_mut(&id).ok_or_else(|| not_found(&id))?;
        let sv = ServerVolume {
            volume_id: volume_id.to_string(),
            device: device_name(image_backed, server.volumes.len()),
            boot_index: None,
            delete_on_termination,
            volume_size: cloud.cinder.volume(volume_id, None).map_or(0, |v| v.size),
            made_by_nova: false,
            bdm_id: cloud.faults.random_uuid().to_string(),
        };
        server.volumes.push(sv.clone());
        sv
    };
    cinder::attach(&cloud, volume_id, &id, &sv.device);
    Ok(
        Json(json!({"volumeAttachment": attachment_json_with(&cloud, &id, &sv, mv)}))
            .into_response(),
    )
}

/// `PUT /servers/{id}/os-volume_attachments/{volume}`, as Nova's `update`: before 2.85 (or
/// with another `volumeId`) a swap, which policy keeps to admins (devcloud swaps no volumes:
/// an admin gets 400); from 2.85 with the same volume, the attachment's
/// `delete_on_termination` changes (`id`, `serverId`, `device` and `tag` are not mutable).
/// 202 without a body.
async fn update(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path((id, volume)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let a = body.get("volumeAttachment").and_then(Value::as_object).ok_or_else(|| {
        bad("Invalid input for field/attribute volumeAttachment. Value: None. 'volumeAttachment' is a required property")
    })?;
    let volume_id = a.get("volumeId").and_then(Value::as_str).ok_or_else(|| {
        bad("Invalid input for field/attribute volumeAttachment. 'volumeId' is a required property")
    })?;
    let allowed: &[&str] = if mv.at_least(85) {
        &[
            "volumeId",
            "id",
            "serverId",
            "device",
            "tag",
            "delete_on_termination",
        ]
    } else {
        &["volumeId"]
    };
    if let Some(extra) = a.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(format!(
            "Invalid input for field/attribute volumeAttachment. Additional properties are not allowed ('{extra}' was unexpected)"
        )));
    }
    let delete_on_termination = match a.get("delete_on_termination") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        // Nova's `parameter_types.boolean` takes these words too.
        Some(Value::String(w))
            if ["true", "1", "on", "yes"].contains(&w.to_lowercase().as_str()) =>
        {
            Some(true)
        }
        Some(Value::String(w))
            if ["false", "0", "off", "no"].contains(&w.to_lowercase().as_str()) =>
        {
            Some(false)
        }
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute delete_on_termination. Value: {other}. {other} is not valid under any of the given schemas"
            )));
        }
    };
    let s = find(&cloud, &auth, &id)?;
    if !mv.at_least(85) || volume_id != volume {
        if !auth.is_admin {
            return Err(crate::nova::policy_forbidden(
                "os_compute_api:os-volumes-attachments:swap",
            ));
        }
        return Err(bad("devcloud does not swap volumes"));
    }
    let mut st = cloud.nova.lock();
    let server = st.servers.get_mut(&s.id).ok_or_else(|| not_found(&id))?;
    let Some(v) = server.volumes.iter_mut().find(|v| v.volume_id == volume) else {
        return Err(ApiError::nova(
            StatusCode::NOT_FOUND,
            format!("No volume Block Device Mapping with id {volume}."),
        ));
    };
    for (key, now) in [
        ("id", Some(volume.as_str())),
        ("serverId", Some(s.id.as_str())),
        ("device", Some(v.device.as_str())),
        ("tag", None),
    ] {
        if let Some(asked) = a.get(key)
            && asked.as_str() != now
        {
            return Err(bad(format!("The {key} property is not mutable")));
        }
    }
    if let Some(d) = delete_on_termination {
        v.delete_on_termination = d;
    }
    Ok(StatusCode::ACCEPTED)
}

async fn detach(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path((id, volume)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    find(&cloud, &auth, &id)?;
    {
        let mut st = cloud.nova.lock();
        let server = st.servers.get_mut(&id).ok_or_else(|| not_found(&id))?;
        let pos = server
            .volumes
            .iter()
            .position(|v| v.volume_id == volume)
            .ok_or_else(|| {
                ApiError::nova(
                    StatusCode::NOT_FOUND,
                    format!("Volume {volume} is not attached to the instance {id}."),
                )
            })?;
        if server.volumes[pos].boot_index == Some(0) {
            return Err(bad("Cannot detach a root device volume"));
        }
        server.volumes.remove(pos);
    }
    cinder::detach(&cloud, &volume, &id);
    Ok(StatusCode::ACCEPTED)
}
