//! Cinder's HTTP routes under `/volume`: the version documents, microversion negotiation
//! (`OpenStack-API-Version: volume 3.x`, 3.0 – 3.71 as the 2026.2 Cinder), volumes,
//! snapshots, volume actions, types, limits and quota sets, with Cinder's views for the
//! requested microversion.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::{
    Limits, NewVolume, Snapshot, Source, Upload, Volume, bad, error, type_json, volume_not_found,
};
use crate::auth::Auth;
use crate::clock::iso_micros_naive;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};

/// The lowest microversion served.
pub const MIN_VERSION: (u32, u32) = (3, 0);
/// The highest microversion served (the 2026.2 Cinder's `_MAX_API_VERSION`).
pub const MAX_VERSION: (u32, u32) = (3, 71);

/// A volume API microversion (`3.66` = `Mv(3, 66)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mv(pub u32, pub u32);

impl Mv {
    fn at_least(self, minor: u32) -> bool {
        self >= Mv(3, minor)
    }
}

impl std::fmt::Display for Mv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// The requested microversion from `OpenStack-API-Version: volume X` (none: 3.0; `latest`:
/// the maximum): 400 for a malformed one, 406 outside 3.0 – 3.71, as Cinder.
pub fn negotiate(headers: &axum::http::HeaderMap) -> Result<Mv, ApiError> {
    let (min, max) = (
        Mv(MIN_VERSION.0, MIN_VERSION.1),
        Mv(MAX_VERSION.0, MAX_VERSION.1),
    );
    let mut requested = None;
    for v in headers.get_all("openstack-api-version") {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(',') {
            let mut it = part.split_whitespace();
            if let (Some(service), Some(ver)) = (it.next(), it.next())
                && service.eq_ignore_ascii_case("volume")
            {
                requested = Some(ver.to_string());
            }
        }
    }
    let Some(req) = requested else {
        return Ok(min);
    };
    if req.eq_ignore_ascii_case("latest") {
        return Ok(max);
    }
    let parsed = req
        .split_once('.')
        .and_then(|(a, b)| Some(Mv(a.parse().ok()?, b.parse().ok()?)));
    let Some(v) = parsed else {
        return Err(bad(format!(
            "API Version String {req} is of invalid format. Must be of format MajorNum.MinorNum."
        )));
    };
    if v < min || v > max {
        return Err(error(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Version {v} is not supported by the API. Minimum is {min} and maximum is {max}."
            ),
        ));
    }
    Ok(v)
}

async fn microversion(mut req: Request, next: Next) -> Response {
    let (mut resp, v) = match negotiate(req.headers()) {
        Ok(v) => {
            req.extensions_mut().insert(v);
            (next.run(req).await, v)
        }
        Err(e) => (e.into_response(), Mv(MIN_VERSION.0, MIN_VERSION.1)),
    };
    let h = resp.headers_mut();
    if let Ok(x) = HeaderValue::from_str(&format!("volume {v}")) {
        h.insert("openstack-api-version", x);
    }
    h.insert("vary", HeaderValue::from_static("OpenStack-API-Version"));
    resp
}

/// The routes under `/volume`.
pub fn router() -> Router<SharedCloud> {
    let api = Router::new()
        .route("/volumes", get(list_volumes).post(create_volume))
        .route("/volumes/detail", get(detail_volumes))
        .route(
            "/volumes/{id}",
            get(show_volume).put(update_volume).delete(delete_volume),
        )
        .route("/volumes/{id}/action", post(volume_action))
        .route("/snapshots", get(list_snapshots).post(create_snapshot))
        .route("/snapshots/detail", get(detail_snapshots))
        .route(
            "/snapshots/{id}",
            get(show_snapshot).delete(delete_snapshot),
        )
        .route("/types", get(list_types))
        .route("/types/{id}", get(show_type))
        .route("/limits", get(limits))
        .route("/os-quota-sets/{project}", get(quota_set))
        .route("/os-quota-sets/{project}/defaults", get(quota_defaults))
        .layer(axum::middleware::from_fn(microversion));
    Router::new()
        .route("/", get(versions_all))
        .route("/v3", get(versions_v3))
        .route("/v3/", get(versions_v3))
        .nest("/v3", api)
}

fn versions_doc(cloud: &Cloud) -> Value {
    json!({"versions": [{
        "id": "v3.0",
        "status": "CURRENT",
        "version": format!("{}.{}", MAX_VERSION.0, MAX_VERSION.1),
        "min_version": format!("{}.{}", MIN_VERSION.0, MIN_VERSION.1),
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": format!("{}/volume/v3/", cloud.base_url)},
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    }]})
}

async fn versions_all(State(cloud): State<SharedCloud>) -> Response {
    (StatusCode::MULTIPLE_CHOICES, Json(versions_doc(&cloud))).into_response()
}

async fn versions_v3(State(cloud): State<SharedCloud>) -> Json<Value> {
    Json(versions_doc(&cloud))
}

fn links(cloud: &Cloud, kind: &str, id: &str) -> Value {
    json!([
        {"href": format!("{}/volume/v3/{kind}/{id}", cloud.base_url), "rel": "self"},
        {"href": format!("{}/volume/{kind}/{id}", cloud.base_url), "rel": "bookmark"},
    ])
}

/// Cinder's `updated_at`: `null` until the row is first updated (devcloud sets both
/// timestamps at creation, so equal ones mean never updated).
fn updated_at(created: time::OffsetDateTime, updated: time::OffsetDateTime) -> Value {
    if updated == created {
        Value::Null
    } else {
        json!(iso_micros_naive(updated))
    }
}

/// Which of Cinder's views a volume is shown in: `show` and `detail` get the controller
/// extensions' fields (`@wsgi.extends` on those two methods only); the answers of `create`
/// and `update` are the bare `detail` view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// `GET /volumes/{id}`, `GET /volumes/detail`.
    Extended,
    /// `POST /volumes`, `PUT /volumes/{id}`.
    Bare,
}

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

/// A snapshot as Cinder's v3 `detail` view shows it at `mv`; in the `Extended` view (`show`
/// and `detail` only, not the `create` answer) with the `os-extended-snapshot-attributes:*`
/// of `cinder/api/contrib/extended_snapshot_attributes.py` (project readers,
/// `cinder/policies/snapshots.py`).
fn snapshot_json(s: &Snapshot, mv: Mv, view: View) -> Value {
    let mut out = json!({
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "status": s.status,
        "size": s.size,
        "volume_id": s.volume_id,
        "created_at": iso_micros_naive(s.created_at),
        "updated_at": updated_at(s.created_at, s.updated_at),
        "metadata": s.metadata,
    });
    if view == View::Extended {
        let progress = if s.status == "creating" { "0%" } else { "100%" };
        out["os-extended-snapshot-attributes:progress"] = json!(progress);
        out["os-extended-snapshot-attributes:project_id"] = json!(s.project_id);
    }
    if mv.at_least(14) {
        out["group_snapshot_id"] = Value::Null;
    }
    if mv.at_least(41) {
        out["user_id"] = json!(s.user_id);
    }
    if mv.at_least(65) {
        out["consumes_quota"] = json!(true);
    }
    out
}

type Q = Query<Vec<(String, String)>>;

fn query<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn all_tenants(q: &[(String, String)], auth: &Auth) -> bool {
    auth.is_admin && query(q, "all_tenants").is_some_and(|v| !matches!(v, "0" | "false" | "False"))
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

fn page<T>(
    mut list: Vec<T>,
    q: &[(String, String)],
    id: impl Fn(&T) -> String,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    if let Some(marker) = query(q, "marker") {
        let pos = list.iter().position(|x| id(x) == marker).ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                format!("Marker {marker} could not be found."),
            )
        })?;
        list.drain(..=pos);
    }
    let mut next = None;
    if let Some(limit) = query(q, "limit") {
        let limit: usize = limit
            .parse()
            .map_err(|_| bad("Invalid input received: limit param must be an integer"))?;
        if list.len() > limit {
            list.truncate(limit);
            next = list.last().map(&id);
        }
    }
    Ok((list, next))
}

fn next_links(cloud: &Cloud, kind: &str, q: &[(String, String)], next: Option<String>) -> Value {
    let Some(marker) = next else {
        return Value::Null;
    };
    let mut pairs: Vec<(&str, &str)> = q
        .iter()
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.push(("marker", &marker));
    json!([{"href": format!("{}/volume/v3/{kind}?{}", cloud.base_url, crate::error::urlencode(pairs)), "rel": "next"}])
}

async fn list_volumes(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Query(q): Q,
) -> Result<Json<Value>, ApiError> {
    let (list, next) = volumes(&cloud, &auth, &q)?;
    let items: Vec<Value> = list
        .iter()
        .map(|v| json!({"id": v.id, "name": v.name, "links": links(&cloud, "volumes", &v.id)}))
        .collect();
    let mut body = json!({"volumes": items});
    let l = next_links(&cloud, "volumes", &q, next);
    if !l.is_null() {
        body["volumes_links"] = l;
    }
    Ok(Json(body))
}

async fn detail_volumes(
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
    let mut body = json!({"volumes": items});
    let l = next_links(&cloud, "volumes/detail", &q, next);
    if !l.is_null() {
        body["volumes_links"] = l;
    }
    Ok(Json(body))
}

fn find_volume(cloud: &Cloud, auth: &Auth, id: &str) -> Result<Volume, ApiError> {
    cloud
        .cinder
        .volume(id, (!auth.is_admin).then_some(auth.project_id.as_str()))
        .ok_or_else(|| volume_not_found(id))
}

async fn show_volume(
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

fn string_map(field: &str, v: Option<&Value>) -> Result<BTreeMap<String, String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if !k.is_empty() && k.len() <= 255 && s.len() <= 255 => {
                    Ok((k.clone(), s.clone()))
                }
                other => Err(bad(format!(
                    "Invalid input for field/attribute {field}. Value: {other}."
                ))),
            })
            .collect(),
        Some(other) => Err(bad(format!(
            "Invalid input for field/attribute {field}. Value: {other}. {other} is not of type 'object'"
        ))),
    }
}

fn opt_string(field: &str, v: Option<&Value>) -> Result<Option<String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= 255 || field == "description" => {
            Ok(Some(s.trim().to_string()))
        }
        Some(other) => Err(bad(format!(
            "Invalid input for field/attribute {field}. Value: {other}."
        ))),
    }
}

/// Cinder's size: a positive integer, or a string of one.
fn size_of(v: Option<&Value>) -> Result<Option<u64>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => Ok(n.as_u64()),
        Some(Value::String(s)) if s.parse::<u64>().is_ok_and(|n| n > 0) => Ok(s.parse().ok()),
        Some(other) => Err(bad(format!(
            "Invalid input for field/attribute size. Value: {other}. {other} is not valid under any of the given schemas"
        ))),
    }
}

async fn create_volume(
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
    let volume = super::create_volume(&cloud, &auth.project_id, &auth.user_id, auth.is_admin, req)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"volume": volume_json(&cloud, &volume, mv, &auth, View::Bare)})),
    )
        .into_response())
}

async fn update_volume(
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
        let v = st
            .volumes
            .get_mut(&id)
            .ok_or_else(|| volume_not_found(&id))?;
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

async fn delete_volume(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let project = (!auth.is_admin).then_some(auth.project_id.as_str());
    super::delete_volume(&cloud, &id, project)?;
    Ok(StatusCode::ACCEPTED)
}

/// oslo's `bool_from_string(strict=True)` as Cinder's schemas accept booleans.
fn boolean(field: &str, v: Option<&Value>, default: bool) -> Result<bool, ApiError> {
    match v {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
            "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
            _ => Err(bad(format!(
                "Invalid input for field/attribute {field}. Value: {s}. '{s}' is not valid under any of the given schemas"
            ))),
        },
        Some(other) => Err(bad(format!(
            "Invalid input for field/attribute {field}. Value: {other}. {other} is not valid under any of the given schemas"
        ))),
    }
}

async fn volume_action(
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
            let answer = super::upload_to_image(&cloud, &volume.project_id, &id, up)?;
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
            super::extend(&cloud, &volume.project_id, &id, new_size, mv.at_least(42))?;
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

fn snapshots(
    cloud: &Cloud,
    auth: &Auth,
    q: &[(String, String)],
) -> Result<(Vec<Snapshot>, Option<String>), ApiError> {
    let all = all_tenants(q, auth);
    let mut list: Vec<Snapshot> = cloud
        .cinder
        .lock()
        .snapshots
        .values()
        .filter(|s| all || s.project_id == auth.project_id)
        .filter(|s| query(q, "name").is_none_or(|n| s.name.as_deref() == Some(n)))
        .filter(|s| query(q, "status").is_none_or(|x| s.status == x))
        .filter(|s| query(q, "volume_id").is_none_or(|x| s.volume_id == x))
        .cloned()
        .collect();
    list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    page(list, q, |s| s.id.clone())
}

async fn list_snapshots(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Mv>,
    Query(q): Q,
) -> Result<Json<Value>, ApiError> {
    // Cinder's snapshot index shows the summary view, which has every field but the
    // extended attributes (the extension extends `show` and `detail` only).
    let (list, next) = snapshots(&cloud, &auth, &q)?;
    let items: Vec<Value> = list
        .iter()
        .map(|s| snapshot_json(s, mv, View::Bare))
        .collect();
    let mut body = json!({"snapshots": items});
    let l = next_links(&cloud, "snapshots", &q, next);
    if !l.is_null() {
        body["snapshots_links"] = l;
    }
    Ok(Json(body))
}

async fn detail_snapshots(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Mv>,
    Query(q): Q,
) -> Result<Json<Value>, ApiError> {
    let (list, next) = snapshots(&cloud, &auth, &q)?;
    let items: Vec<Value> = list
        .iter()
        .map(|s| snapshot_json(s, mv, View::Extended))
        .collect();
    let mut body = json!({"snapshots": items});
    let l = next_links(&cloud, "snapshots/detail", &q, next);
    if !l.is_null() {
        body["snapshots_links"] = l;
    }
    Ok(Json(body))
}

async fn show_snapshot(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Mv>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = cloud
        .cinder
        .snapshot(&id, (!auth.is_admin).then_some(auth.project_id.as_str()))
        .ok_or_else(|| super::snapshot_not_found(&id))?;
    Ok(Json(
        json!({"snapshot": snapshot_json(&s, mv, View::Extended)}),
    ))
}

/// The message Cinder answers a `force: false` with from 3.66 on.
const SNAPSHOT_IN_USE_FLAG_MSG: &str = "Since microversion 3.66 the 'force' flag is invalid for this request.  For backward compatability, however, when the 'force' flag is passed with a value evaluating to True, it is silently ignored.";

async fn create_snapshot(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Mv>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let s = body
        .get("snapshot")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("Invalid input for field/attribute snapshot. Value: None. 'snapshot' is a required property"))?;
    let volume_id = s.get("volume_id").and_then(Value::as_str).ok_or_else(|| {
        bad("Invalid input for field/attribute snapshot. 'volume_id' is a required property")
    })?;
    let force = boolean("force", s.get("force"), false)?;
    if s.get("force").is_some() && mv.at_least(66) && !force {
        return Err(bad(SNAPSHOT_IN_USE_FLAG_MSG));
    }
    let snap = super::create_snapshot(
        &cloud,
        &auth.project_id,
        &auth.user_id,
        volume_id,
        opt_string("name", s.get("name").or_else(|| s.get("display_name")))?,
        opt_string(
            "description",
            s.get("description")
                .or_else(|| s.get("display_description")),
        )?,
        string_map("metadata", s.get("metadata"))?,
        force,
        mv.at_least(66),
    )?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"snapshot": snapshot_json(&snap, mv, View::Bare)})),
    )
        .into_response())
}

async fn delete_snapshot(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let project = (!auth.is_admin).then_some(auth.project_id.as_str());
    super::delete_snapshot(&cloud, &id, project)?;
    Ok(StatusCode::ACCEPTED)
}

// ---------------------------------------------------------------- types, limits, quotas

async fn list_types(auth: Auth, State(cloud): State<SharedCloud>) -> Json<Value> {
    let types: Vec<Value> = super::types(&cloud)
        .values()
        .map(|t| type_json(t, auth.is_admin))
        .collect();
    Json(json!({"volume_types": types}))
}

async fn show_type(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = if id == "default" {
        let st = cloud.cinder.lock();
        st.types.get(&st.default_type).cloned()
    } else {
        super::types(&cloud).get(&id).cloned()
    };
    let t = t.ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            format!("Volume type {id} could not be found."),
        )
    })?;
    Ok(Json(json!({"volume_type": type_json(&t, auth.is_admin)})))
}

async fn limits(auth: Auth, State(cloud): State<SharedCloud>) -> Json<Value> {
    let used = cloud.cinder.usage(&auth.project_id);
    let l = Limits::of(&cloud);
    Json(json!({"limits": {"rate": [], "absolute": {
        "totalSnapshotsUsed": used.snapshots,
        "maxTotalBackups": 10,
        "maxTotalVolumeGigabytes": l.gigabytes,
        "maxTotalSnapshots": l.snapshots,
        "maxTotalBackupGigabytes": 1000,
        "totalBackupGigabytesUsed": 0,
        "maxTotalVolumes": l.volumes,
        "totalVolumesUsed": used.volumes,
        "totalBackupsUsed": 0,
        "totalGigabytesUsed": used.gigabytes,
    }}}))
}

/// The quota set of a project: each resource's limit, with `{"limit", "in_use",
/// "reserved", "allocated"}` when `usage` is asked; the per-type resources of every type.
fn quota_set_json(cloud: &Cloud, project: &str, usage: bool) -> Value {
    let l = Limits::of(cloud);
    let used = cloud.cinder.usage(project);
    let all_types = super::types(cloud);
    let per_type: Vec<(String, super::Usage)> = {
        let st = cloud.cinder.lock();
        all_types
            .values()
            .map(|t| {
                let vols: Vec<&Volume> = st
                    .volumes
                    .values()
                    .filter(|v| v.project_id == project && v.volume_type_id == t.id)
                    .collect();
                let snaps: Vec<&Snapshot> = st
                    .snapshots
                    .values()
                    .filter(|s| {
                        s.project_id == project
                            && st
                                .volumes
                                .get(&s.volume_id)
                                .is_some_and(|v| v.volume_type_id == t.id)
                    })
                    .collect();
                (
                    t.name.clone(),
                    super::Usage {
                        volumes: vols.len() as u64,
                        snapshots: snaps.len() as u64,
                        gigabytes: vols.iter().map(|v| v.size).sum::<u64>()
                            + snaps.iter().map(|s| s.size).sum::<u64>(),
                    },
                )
            })
            .collect()
    };
    let entry = |limit: i64, in_use: u64| {
        if usage {
            json!({"limit": limit, "in_use": in_use, "reserved": 0, "allocated": 0})
        } else {
            json!(limit)
        }
    };
    let mut out = serde_json::Map::new();
    out.insert("id".into(), json!(project));
    out.insert("volumes".into(), entry(l.volumes as i64, used.volumes));
    out.insert(
        "snapshots".into(),
        entry(l.snapshots as i64, used.snapshots),
    );
    out.insert(
        "gigabytes".into(),
        entry(l.gigabytes as i64, used.gigabytes),
    );
    out.insert("backups".into(), entry(10, 0));
    out.insert("backup_gigabytes".into(), entry(1000, 0));
    out.insert("groups".into(), entry(10, 0));
    out.insert("per_volume_gigabytes".into(), entry(-1, 0));
    for (name, u) in per_type {
        out.insert(format!("volumes_{name}"), entry(-1, u.volumes));
        out.insert(format!("snapshots_{name}"), entry(-1, u.snapshots));
        out.insert(format!("gigabytes_{name}"), entry(-1, u.gigabytes));
    }
    json!({"quota_set": out})
}

async fn quota_set(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(project): Path<String>,
    Query(q): Q,
) -> Result<Json<Value>, ApiError> {
    if project != auth.project_id && !auth.is_admin {
        return Err(error(
            StatusCode::FORBIDDEN,
            "Policy doesn't allow volume_extension:quotas:show to be performed.",
        ));
    }
    let usage = query(&q, "usage").is_some_and(|u| {
        matches!(
            u.to_ascii_lowercase().as_str(),
            "true" | "1" | "t" | "yes" | "y" | "on"
        )
    });
    Ok(Json(quota_set_json(&cloud, &project, usage)))
}

async fn quota_defaults(
    _auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(project): Path<String>,
) -> Json<Value> {
    Json(quota_set_json(&cloud, &project, false))
}
