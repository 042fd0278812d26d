//! `POST /servers/{id}/action`: `createImage` (a snapshot into Glance through nova's task
//! states), `os-stop`, `os-start`, `reboot`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Map, Value, json};

use super::{Server, bad, find, not_found};
use crate::auth::Auth;
use crate::cloud::SharedCloud;
use crate::error::{ApiError, Service, parse_json};
use crate::nova::Microversion;

pub(super) async fn action(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let server = find(&cloud, &auth, &id)?;
    let Some((name, args)) = body.as_object().and_then(|o| o.iter().next()) else {
        return Err(bad("Malformed request body"));
    };
    match name.as_str() {
        "createImage" => {
            let args = args.clone();
            crate::nova::Nova::accepted(&cloud, move |cloud| {
                create_image(cloud, &auth, mv, server, &args)
            })
            .await
        }
        "os-stop" | "os-start" => {
            let (from, to) = if name == "os-stop" {
                ("active", "stopped")
            } else {
                ("stopped", "active")
            };
            let mut st = cloud.nova.lock();
            let s = st.servers.get_mut(&id).ok_or_else(|| not_found(&id))?;
            if s.vm_state != from || s.task_state.is_some() {
                return Err(conflict_state(name, &id, s));
            }
            s.vm_state = to.into();
            s.updated = cloud.clock.now();
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "reboot" => {
            let kind = args.get("type").and_then(Value::as_str).unwrap_or_default();
            if kind != "SOFT" && kind != "HARD" {
                return Err(bad(format!(
                    "Invalid input for field/attribute type. Value: {kind}. '{kind}' is not one of ['HARD', 'Hard', 'Soft', 'SOFT']"
                )));
            }
            let st = cloud.nova.lock();
            let s = st.servers.get(&id).ok_or_else(|| not_found(&id))?;
            // No hypervisor: a reboot of a running server completes at once.
            if s.vm_state != "active" || s.task_state.is_some() {
                return Err(conflict_state(name, &id, s));
            }
            Ok(StatusCode::ACCEPTED.into_response())
        }
        other => Err(bad(format!("There is no such action: {other}"))),
    }
}

fn conflict_state(action: &str, id: &str, s: &Server) -> ApiError {
    let (attr, state) = match &s.task_state {
        Some(t) => ("task_state", t.clone()),
        None => ("vm_state", s.vm_state.clone()),
    };
    ApiError::nova(
        StatusCode::CONFLICT,
        format!("Cannot '{action}' instance {id} while it is in {attr} {state}"),
    )
}

fn create_image(
    cloud: &SharedCloud,
    auth: &Auth,
    mv: Microversion,
    server: Server,
    args: &Value,
) -> Result<Response, ApiError> {
    let name = args
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| bad("Invalid input for field/attribute createImage. Value: {}. 'name' is a required property"))?
        .to_string();
    let metadata = match args.get("metadata") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute metadata. Value: {other}. {other} is not of type 'object'"
            )));
        }
    };
    if server.volume_backed() {
        if !matches!(server.vm_state.as_str(), "active" | "stopped") || server.task_state.is_some()
        {
            return Err(conflict_state("createImage", &server.id, &server));
        }
        let image_id = snapshot_volume_backed(cloud, auth, &server, &name, &metadata)?;
        return Ok(if mv.at_least(45) {
            (StatusCode::ACCEPTED, Json(json!({"image_id": image_id}))).into_response()
        } else {
            let location = format!("{}/image/v2/images/{image_id}", cloud.base_url);
            (StatusCode::ACCEPTED, [("location", location)]).into_response()
        });
    }
    {
        let mut st = cloud.nova.lock();
        let s = st
            .servers
            .get_mut(&server.id)
            .ok_or_else(|| not_found(&server.id))?;
        if !matches!(s.vm_state.as_str(), "active" | "stopped") || s.task_state.is_some() {
            return Err(conflict_state("createImage", &server.id, s));
        }
        s.task_state = Some("image_snapshot".into());
        s.updated = cloud.clock.now();
    }
    let snapshot = snapshot_metadata(&server, auth, &metadata);
    // The snapshot is the disk in the base image's format (as nova's fake-disk drivers
    // label it); a server without a base image has a qcow2 disk.
    let disk_format = server
        .image_id
        .as_ref()
        .and_then(|i| cloud.glance.image_summary(i))
        .and_then(|b| b.disk_format)
        .unwrap_or_else(|| "qcow2".into());
    let image_id = cloud.glance.create_snapshot_image(
        &server.project_id,
        &name,
        &disk_format,
        "bare",
        snapshot.properties,
        snapshot.min_disk,
        snapshot.min_ram,
    );
    let cloud2 = Arc::clone(cloud);
    let server_id = server.id.clone();
    let image = image_id.clone();
    let delay = std::time::Duration::from_secs_f64(cloud.faults.get().snapshot_s.max(0.0));
    let disk = server.disk.clone();
    tokio::spawn(async move {
        let set_task = |t: Option<&str>| {
            if let Some(s) = cloud2.nova.lock().servers.get_mut(&server_id) {
                s.task_state = t.map(str::to_string);
                s.updated = cloud2.clock.now();
            }
        };
        tokio::time::sleep(delay / 3).await;
        set_task(Some("image_pending_upload"));
        tokio::time::sleep(delay / 3).await;
        set_task(Some("image_uploading"));
        tokio::time::sleep(delay / 3).await;
        let cloud3 = Arc::clone(&cloud2);
        let sid = server_id.clone();
        cloud2.glance.start_snapshot_upload(
            &image,
            disk,
            Box::new(move |_ok| {
                if let Some(s) = cloud3.nova.lock().servers.get_mut(&sid)
                    && s.task_state.as_deref() == Some("image_uploading")
                {
                    s.task_state = None;
                    s.updated = cloud3.clock.now();
                }
            }),
        );
    });
    if mv.at_least(45) {
        Ok((StatusCode::ACCEPTED, Json(json!({"image_id": image_id}))).into_response())
    } else {
        let location = format!("{}/image/v2/images/{image_id}", cloud.base_url);
        Ok((StatusCode::ACCEPTED, [("location", location)]).into_response())
    }
}

/// Nova's `snapshot_volume_backed`: a Cinder snapshot (forced) of each volume, then a Glance
/// image without data (size 0, `raw`/`bare`) whose properties are the instance's snapshot
/// metadata (without what a virt driver adds on upload) plus `root_device_name`,
/// `block_device_mapping` (the JSON list of each volume's snapshot mapping, as
/// `block_device.snapshot_from_bdm` makes it) and `bdm_v2`. 403 when the snapshots would
/// exceed the project's Cinder quota, as Nova checks it first.
fn snapshot_volume_backed(
    cloud: &SharedCloud,
    auth: &Auth,
    server: &Server,
    name: &str,
    metadata: &Map<String, Value>,
) -> Result<String, ApiError> {
    let used = cloud.cinder.usage(&server.project_id);
    let limits = crate::cinder::Limits::of(cloud);
    if used.snapshots + server.volumes.len() as u64 > limits.snapshots {
        return Err(ApiError::nova(
            StatusCode::FORBIDDEN,
            "Quota exceeded for resources: ['snapshots'].",
        ));
    }
    let meta = snapshot_metadata(server, auth, metadata);
    let mut properties = meta.properties;
    for key in ["image_location", "image_state", "owner_id"] {
        properties.remove(key);
    }
    let mut mapping = Vec::new();
    for v in &server.volumes {
        let description = cloud
            .cinder
            .volume(&v.volume_id, None)
            .and_then(|x| x.description);
        let snap = crate::cinder::create_snapshot(
            cloud,
            &server.project_id,
            &auth.user_id,
            &v.volume_id,
            Some(format!("snapshot for {name}")),
            description,
            Default::default(),
            true,
            false,
        )?;
        mapping.push(json!({
            "source_type": "snapshot",
            "destination_type": "volume",
            "snapshot_id": snap.id,
            "disk_bus": "virtio",
            "device_type": "disk",
            "boot_index": v.boot_index,
            "delete_on_termination": v.delete_on_termination,
            "volume_size": v.volume_size,
            "device_name": v.device,
            "guest_format": null,
            "volume_id": null,
            "image_id": null,
            "no_device": null,
            "tag": null,
            "volume_type": null,
            "encrypted": null,
            "encryption_secret_uuid": null,
            "encryption_format": null,
            "encryption_options": null,
        }));
    }
    properties.insert("root_device_name".into(), json!("/dev/vda"));
    if !mapping.is_empty() {
        properties.insert(
            "block_device_mapping".into(),
            json!(Value::Array(mapping).to_string()),
        );
        properties.insert("bdm_v2".into(), json!("True"));
    }
    Ok(cloud.glance.create_empty_image(
        &server.project_id,
        name,
        properties,
        meta.min_disk,
        meta.min_ram,
    ))
}

/// Image properties nova never lets a snapshot inherit: `[DEFAULT]
/// non_inheritable_image_properties` (its default) and `NON_INHERITABLE_IMAGE_PROPERTIES`
/// of `nova/compute/utils.py`.
const NON_INHERITABLE: &[&str] = &[
    "cache_in_nova",
    "bittorrent",
    "cinder_encryption_key_id",
    "cinder_encryption_key_deletion_policy",
    "img_signature",
    "img_signature_hash_method",
    "img_signature_key_type",
    "img_signature_certificate_uuid",
];

/// The keys of the instance's system metadata that are image attributes, not properties
/// (`SM_INHERITABLE_KEYS`).
const INHERITABLE_KEYS: &[&str] = &["min_ram", "min_disk", "disk_format", "container_format"];

/// What nova asks Glance for when it snapshots a server.
pub(crate) struct SnapshotMeta {
    pub properties: Map<String, Value>,
    pub min_disk: u64,
    pub min_ram: u64,
}

/// Nova's snapshot image metadata: `get_image_from_system_metadata` of the instance (the
/// `image_` prefix dropped; `min_ram`/`min_disk` become attributes, the formats are dropped
/// for a snapshot; block device mappings skipped), minus the non-inheritable properties, then
/// `instance_uuid`, `user_id`, `image_type` and the request's `metadata` over them
/// (`_create_image`, `_initialize_instance_snapshot_metadata`), then what the virt driver adds
/// on upload (`image_location`, `image_state`, `owner_id`).
pub(crate) fn snapshot_metadata(
    server: &Server,
    auth: &Auth,
    metadata: &Map<String, Value>,
) -> SnapshotMeta {
    let mut properties = Map::new();
    let (mut min_disk, mut min_ram) = (0, 0);
    for (key, value) in &server.system_metadata {
        let key = key.strip_prefix("image_").unwrap_or(key);
        if matches!(
            key,
            "mappings" | "block_device_mapping" | "img_mappings" | "img_block_device_mapping"
        ) {
            continue;
        }
        if INHERITABLE_KEYS.contains(&key) {
            match key {
                "min_disk" => min_disk = value.parse().unwrap_or(0),
                "min_ram" => min_ram = value.parse().unwrap_or(0),
                _ => {}
            }
            continue;
        }
        properties.insert(key.to_string(), json!(value));
    }
    for key in NON_INHERITABLE {
        properties.remove(*key);
    }
    properties.insert("instance_uuid".into(), json!(server.id));
    properties.insert("user_id".into(), json!(auth.user_id));
    properties.insert("image_type".into(), json!("snapshot"));
    for (k, v) in metadata {
        properties.insert(k.clone(), v.clone());
    }
    properties.insert("image_location".into(), json!("snapshot"));
    properties.insert("image_state".into(), json!("available"));
    properties.insert("owner_id".into(), json!(server.project_id));
    SnapshotMeta {
        properties,
        min_disk,
        min_ram,
    }
}
