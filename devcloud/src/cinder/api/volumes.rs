//! Cinder's volume routes: list (with `detail`, filters and paging), show, create (blank,
//! from an image or a snapshot), update, delete, and the volume actions, with Cinder's views
//! of a volume for the requested microversion.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::{
    Mv, Q, View, all_tenants, boolean, links, listing, opt_string, page, query, size_of,
    string_map, updated_at,
};
use crate::auth::Auth;
use crate::cinder::{NewVolume, Source, Upload, Volume, bad, volume_not_found};
use crate::clock::iso_micros_naive;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};

/// A volume as Cinder's v3 `detail` view shows it at `mv` to `auth`
/// (`cinder/api/v3/views/volumes.py` `legacy_detail`/`detail`), with, in the `Extended`
/// view, the fields the extensions add (`cinder/api/contrib/volume_tenant_attribute.py`,
/// `volume_image_metadata.py`, `volume_host_attribute.py`, `volume_mig_status_attribute.py`)
/// under their default policies (`cinder/policies/volumes.py`, `volume_metadata.py`):
/// - `migration_status` (the view), `provider_id` (3.21+), `cluster_name` (3.61+),
///   `os-vol-host-attr:host` and `os-vol-mig-status-attr:*`: admins only;
/// - an attachment's `host_name`: admins (and services) only, `null` to others;
/// - `encryption_key_id` (3.64+): only when the volume has a key, and devcloud's volumes have
///   none (`encrypted` is false);
/// - `os-vol-tenant-attr:tenant_id` and `volume_image_metadata`: project readers, in
///   `show`/`detail` only; the image metadata once the volume manager has stored it
///   (`_handle_bootable_volume_glance_meta` at the end of the create flow,
///   `cinder/volume/flows/manager/create_volume.py`: none while `creating` or `downloading`);
/// - `service_uuid` (3.48+): `null` until the scheduler has placed the volume (`creating`).
fn volume_json(cloud: &Cloud, v: &Volume, mv: Mv, auth: &Auth, view: View) -> Value {
    let attachments: Vec<Value> = v
        .attachments
        .iter()
        .map(|a| {
            let host_name = if auth.is_admin {
                json!("devcloud-compute")
            } else {
                Value::Null
            };
            json!({"id": v.id, "attachment_id": a.id, "volume_id": v.id, "server_id": a.server_id,
                   "host_name": host_name, "device": a.device,
                   "attached_at": iso_micros_naive(a.attached_at)})
        })
        .collect();
    let mut out = json!({
        "id": v.id,
        "name": v.name,
        "description": v.description,
        "status": v.status,
        "size": v.size,
        "availability_zone": "nova",
        "bootable": if v.bootable { "true" } else { "false" },
        "encrypted": false,
        "multiattach": false,
        "created_at": iso_micros_naive(v.created_at),
        "updated_at": updated_at(v.created_at, v.updated_at),
        "volume_type": v.volume_type_name,
        "snapshot_id": v.snapshot_id,
        "source_volid": null,
        "metadata": v.metadata,
        "user_id": v.user_id,
        "links": links(cloud, "volumes", &v.id),
        "attachments": attachments,
        "replication_status": null,
        "consistencygroup_id": null,
    });
    if auth.is_admin {
        out["migration_status"] = Value::Null;
    }
    if view == View::Extended {
        out["os-vol-tenant-attr:tenant_id"] = json!(v.project_id);
        let stored = !matches!(v.status.as_str(), "creating" | "downloading");
        if stored && !v.image_metadata.is_empty() {
            out["volume_image_metadata"] = json!(v.image_metadata);
        }
        if auth.is_admin {
            out["os-vol-host-attr:host"] = json!("devcloud@lvmdriver-1#lvmdriver-1");
            out["os-vol-mig-status-attr:migstat"] = Value::Null;
            out["os-vol-mig-status-attr:name_id"] = Value::Null;
        }
    }
    if mv.at_least(13) {
        out["group_id"] = Value::Null;
    }
    if mv.at_least(21) && auth.is_admin {
        out["provider_id"] = Value::Null;
    }
    if mv.at_least(48) {
        out["service_uuid"] = if v.status == "creating" {
            Value::Null
        } else {
            json!("5f4a2b1c-9a37-4f0c-9a0e-3c7d2e8b6a01")
        };
        out["shared_targets"] = json!(false);
    }
    if mv.at_least(61) && auth.is_admin {
        out["cluster_name"] = Value::Null;
    }
    if mv.at_least(63) {
        out["volume_type_id"] = json!(v.volume_type_id);
    }
    if mv.at_least(65) {
        out["consumes_quota"] = json!(true);
    }
    out
}

/// The project's volumes (all for an admin with `all_tenants`), newest first, filtered by
/// `name` and `status` (exact, as Cinder's allowed filters), paged by `limit`/`marker`.
fn volumes(
    cloud: &Cloud,
    auth: &Auth,
    q: &[(String, String)],
) -> Result<(Vec<Volume>, Option<String>), ApiError> {
    let all = all_tenants(q, auth);
    let mut list: Vec<Volume> = cloud
        .cinder
        .lock()
        .volumes
        .values()
        .filter(|v| all || v.project_id == auth.project_id)
        .filter(|v| query(q, "name").is_none_or(|n| v.name.as_deref() == Some(n)))
        .filter(|v| query(q, "status").is_none_or(|s| v.status == s))
        .filter(|v| query(q, "bootable").is_none_or(|b| v.bootable == (b == "true" || b == "True")))
        .cloned()
        .collect();
    list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    page(list, q, |v| v.id.clone())
}

pub(super) async fn list_volumes(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Query(q): Q,
) -> Result<Json<Value>, ApiError> {
    let (list, next) = volumes(&cloud, &auth, &q)?;
    let items: Vec<Value> = list
        .iter()
        .map(|v| json!({"id": v.id, "name": v.name, "links": links(&cloud, "volumes", &v.id)}))
        .collect();
    Ok(listing(&cloud, "volumes", "volumes", items, &q, next))
}

pub(super) async fn detail_volumes(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Mv>,
    Query(q): Q,
) -> Result<Json<Value>, ApiError> {
    let (list, next) = volumes(&cloud, &auth, &q)?;
    let items: Vec<Value> = list
        .iter()
        .map(|v| volume_json(&cloud, v, mv, &auth, View::Extended))
        .collect();
    Ok(listing(
        &cloud,
        "volumes",
        "volumes/detail",
        items,
        &q,
        next,
    ))
}

fn find_volume(cloud: &Cloud, auth: &Auth, id: &str) -> Result<Volume, ApiError> {
    cloud
        .cinder
        .volume(id, (!auth.is_admin).then_some(auth.project_id.as_str()))
        .ok_or_else(|| volume_not_found(id))
}

pub(super) async fn show_volume(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Mv>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = find_volume(&cloud, &auth, &id)?;
    Ok(Json(
        json!({"volume": volume_json(&cloud, &v, mv, &auth, View::Extended)}),
    ))
}

pub(super) async fn create_volume(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Mv>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let v = body
        .get("volume")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            bad("Invalid input for field/attribute volume. Value: None. 'volume' is a required property")
        })?;
    let image = opt_string("imageRef", v.get("imageRef").or_else(|| v.get("image_id")))?;
    let snapshot = opt_string("snapshot_id", v.get("snapshot_id"))?;
    if v.get("source_volid").is_some_and(|s| !s.is_null()) {
        return Err(bad(
            "Invalid input received: devcloud does not clone volumes (source_volid)",
        ));
    }
    let source = match (image, snapshot) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "Invalid input received: Cannot create a volume from an image and a snapshot at once.",
            ));
        }
        (Some(i), None) => Source::Image(i.rsplit('/').next().unwrap_or_default().to_string()),
        (None, Some(s)) => Source::Snapshot(s),
        (None, None) => Source::Blank,
    };
    let size = size_of(v.get("size"))?;
    if size.is_none() && source == Source::Blank {
        return Err(bad(
            "Invalid input received: Volume size must be a positive integer.",
        ));
    }
    let req = NewVolume {
        size,
        name: opt_string("name", v.get("name").or_else(|| v.get("display_name")))?,
        description: opt_string(
            "description",
            v.get("description")
                .or_else(|| v.get("display_description")),
        )?,
        volume_type: opt_string("volume_type", v.get("volume_type"))?,
        metadata: string_map("metadata", v.get("metadata"))?,
        source,
    };
    let volume =
        crate::cinder::create_volume(&cloud, &auth.project_id, &auth.user_id, auth.is_admin, req)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"volume": volume_json(&cloud, &volume, mv, &auth, View::Bare)})),
    )
        .into_response())
}

pub(super) async fn update_volume(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Mv>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let u = body
        .get("volume")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("Invalid input for field/attribute volume. Value: None. 'volume' is a required property"))?;
    find_volume(&cloud, &auth, &id)?;
    let name = opt_string("name", u.get("name").or_else(|| u.get("display_name")))?;
    let description = opt_string(
        "description",
        u.get("description")
            .or_else(|| u.get("display_description")),
    )?;
    let metadata = match u.get("metadata") {
        Some(m) => Some(string_map("metadata", Some(m))?),
        None => None,
    };
    let v = {
        let mut st = cloud.cinder.lock();
        let v = st.volume_mut(&id, None)?;
        if u.contains_key("name") || u.contains_key("display_name") {
            v.name = name;
        }
        if u.contains_key("description") || u.contains_key("display_description") {
            v.description = description;
        }
        if let Some(m) = metadata {
            v.metadata = m;
        }
        v.updated_at = cloud.clock.now();
        v.clone()
    };
    Ok(Json(
        json!({"volume": volume_json(&cloud, &v, mv, &auth, View::Bare)}),
    ))
}

pub(super) async fn delete_volume(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let project = (!auth.is_admin).then_some(auth.project_id.as_str());
    crate::cinder::delete_volume(&cloud, &id, project)?;
    Ok(StatusCode::ACCEPTED)
}

pub(super) async fn volume_action(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Mv>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let Some((name, args)) = body.as_object().and_then(|o| o.iter().next()) else {
        return Err(bad("Malformed request body"));
    };
    let volume = find_volume(&cloud, &auth, &id)?;
    match name.as_str() {
        "os-volume_upload_image" => {
            let image_name = args
                .get("image_name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| bad("Invalid input for field/attribute os-volume_upload_image. Value: {}. 'image_name' is a required property"))?;
            let disk_format = args
                .get("disk_format")
                .and_then(Value::as_str)
                .unwrap_or("raw")
                .to_string();
            if !crate::glance::DISK_FORMATS.contains(&disk_format.as_str()) {
                return Err(bad(format!(
                    "Invalid input for field/attribute disk_format. Value: {disk_format}. '{disk_format}' is not one of {:?}",
                    crate::glance::DISK_FORMATS
                )));
            }
            boolean("force", args.get("force"), false)?;
            let (visibility, protected) = if mv.at_least(1) {
                (
                    args.get("visibility")
                        .and_then(Value::as_str)
                        .unwrap_or("private")
                        .to_string(),
                    boolean("protected", args.get("protected"), false)?,
                )
            } else {
                ("private".to_string(), false)
            };
            let up = Upload {
                image_name: image_name.to_string(),
                disk_format,
                container_format: args
                    .get("container_format")
                    .and_then(Value::as_str)
                    .unwrap_or("bare")
                    .to_string(),
                visibility,
                protected,
            };
            let answer = crate::cinder::upload_to_image(&cloud, &volume.project_id, &id, up)?;
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"os-volume_upload_image": answer})),
            )
                .into_response())
        }
        "os-extend" => {
            let new_size = size_of(args.get("new_size"))?.ok_or_else(|| {
                bad("Invalid input for field/attribute os-extend. Value: {}. 'new_size' is a required property")
            })?;
            crate::cinder::extend(&cloud, &volume.project_id, &id, new_size, mv.at_least(42))?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-set_bootable" => {
            let b = boolean("bootable", args.get("bootable"), false)?;
            if args.get("bootable").is_none() {
                return Err(bad(
                    "Invalid input for field/attribute os-set_bootable. Value: {}. 'bootable' is a required property",
                ));
            }
            if let Some(v) = cloud.cinder.lock().volumes.get_mut(&id) {
                v.bootable = b;
                v.updated_at = cloud.clock.now();
            }
            Ok(StatusCode::OK.into_response())
        }
        other => Err(bad(format!("There is no such action: {other}"))),
    }
}

// ---------------------------------------------------------------- snapshots
