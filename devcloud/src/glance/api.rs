//! Glance v2's HTTP routes: version discovery, images (list with filters and paging, show,
//! create, JSON-patch update, delete) and the project's quota usage (`/v2/info/usage`), with
//! Glance's unified limits (the `quota` knobs); the image data routes are in [`super::data`].

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::data;
use super::{CONTAINER_FORMATS, DISK_FORMATS, ImageRecord, now, usage};
use crate::auth::Auth;
use crate::cloud::SharedCloud;
use crate::error::{ApiError, Service, parse_json};
use crate::imagedata::Content;

pub(super) fn router() -> Router<SharedCloud> {
    Router::new()
        .route("/", get(versions_root))
        .route("/versions", get(versions))
        .route("/v2/images", get(list).post(create))
        .route("/v2/images/{id}", get(show).patch(update).delete(remove))
        .route("/v2/info/usage", get(usage_info))
        .route(
            "/v2/images/{id}/file",
            get(data::download)
                .put(data::upload)
                .layer(DefaultBodyLimit::disable()),
        )
}

pub(super) fn err(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::new(Service::Glance, status, message)
}

/// Glance's 413 when oslo.limit finds the project over one of its unified limits
/// (`LimitExceeded` around oslo.limit's `ProjectOverLimit`).
pub(super) fn over_limit(
    owner: &str,
    resource: &str,
    limit: u64,
    usage: u64,
    delta: u64,
) -> ApiError {
    err(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "The request returned a 413 Request Entity Too Large. This generally means that rate limiting or a quota threshold was breached.\n\nThe response body:\nProject {owner} is over a limit for [Resource {resource} is over limit of {limit} due to current usage {usage} and delta {delta}]"
        ),
    )
}

/// Keystone's largest limit (a signed 32-bit integer): what devcloud shows for a Glance
/// limit its knobs leave unset while others are set, as if registered that high.
const KEYSTONE_MAX_LIMIT: u64 = 0x7FFF_FFFF;

/// `GET /v2/info/usage`: the project's unified limits and what it uses of them
/// (`{"usage": {"image_size_total": {"limit", "usage"}, ...}}`, sizes in MiB), as Glance
/// answers with `use_keystone_limits = True`; `{"usage": {}}` while no Glance limit is set, as
/// Glance answers with unified limits off (its default).
async fn usage_info(State(cloud): State<SharedCloud>, auth: Auth) -> Response {
    let quota = cloud.faults.get().quota;
    if !quota.glance_limited() {
        return axum::Json(json!({"usage": {}})).into_response();
    }
    let used = usage(&cloud.glance.lock(), &auth.project_id);
    let entry = |limit: Option<u64>, usage: u64| json!({"usage": usage, "limit": limit.unwrap_or(KEYSTONE_MAX_LIMIT)});
    axum::Json(json!({"usage": {
        "image_size_total": entry(quota.image_size_total, used.size_mib),
        "image_stage_total": entry(quota.image_stage_total, used.stage_mib),
        "image_count_total": entry(quota.image_count_total, used.count),
        "image_count_uploading": entry(quota.image_count_uploading, used.uploading),
    }}))
    .into_response()
}

pub(super) fn not_found(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("No image found with ID {id}"),
    )
}

fn version_doc(cloud: &SharedCloud) -> Value {
    let href = format!("{}/image/v2/", cloud.base_url);
    let mut values =
        vec![json!({"id": "v2.17", "status": "CURRENT", "links": [{"rel": "self", "href": href}]})];
    for minor in (0..=15).rev() {
        if minor == 14 {
            continue;
        }
        values.push(json!({"id": format!("v2.{minor}"), "status": "SUPPORTED", "links": [{"rel": "self", "href": href}]}));
    }
    json!({ "versions": values })
}

async fn versions_root(State(cloud): State<SharedCloud>) -> Response {
    (
        StatusCode::MULTIPLE_CHOICES,
        axum::Json(version_doc(&cloud)),
    )
        .into_response()
}

async fn versions(State(cloud): State<SharedCloud>) -> Response {
    axum::Json(version_doc(&cloud)).into_response()
}

/// Whether the caller may see an image.
fn visible(image: &ImageRecord, auth: &Auth) -> bool {
    auth.is_admin
        || image.owner == auth.project_id
        || matches!(image.visibility.as_str(), "public" | "community")
}

async fn list(
    State(cloud): State<SharedCloud>,
    auth: Auth,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let get = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    // glance: `limit_param_default` 25, capped at `api_limit_max` (1000 unless the knob says).
    let limit_max = cloud.faults.get().max_limit.unwrap_or(1000);
    let limit: usize = match get("limit") {
        Some(v) => v
            .parse()
            .map_err(|_| err(StatusCode::BAD_REQUEST, "limit param must be an integer"))?,
        None => 25,
    };
    let limit = limit.min(limit_max);
    let sort_dir_asc = get("sort_dir") == Some("asc");
    let tags: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "tag")
        .map(|(_, v)| v.as_str())
        .collect();
    let ids: Option<Vec<&str>> =
        get("id").map(|v| v.strip_prefix("in:").unwrap_or(v).split(',').collect());
    let images = cloud.glance.lock();
    let mut matching: Vec<&ImageRecord> = images
        .values()
        .filter(|i| i.status != "deleted" && visible(i, &auth))
        .filter(|i| {
            // Community images of other projects are listed only when asked for.
            get("visibility").is_some() || i.visibility != "community" || i.owner == auth.project_id
        })
        .filter(|i| get("name").is_none_or(|n| i.name.as_deref() == Some(n)))
        .filter(|i| get("status").is_none_or(|s| i.status == s))
        .filter(|i| get("visibility").is_none_or(|v| v == "all" || i.visibility == v))
        .filter(|i| get("owner").is_none_or(|o| i.owner == o))
        .filter(|i| tags.iter().all(|t| i.tags.iter().any(|x| x == t)))
        .filter(|i| ids.as_ref().is_none_or(|ids| ids.contains(&i.id.as_str())))
        .collect();
    matching.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
    if !sort_dir_asc {
        matching.reverse();
    }
    let start = match get("marker") {
        Some(marker) => match matching.iter().position(|i| i.id == marker) {
            Some(pos) => pos + 1,
            None => {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    format!("marker {marker} could not be found."),
                ));
            }
        },
        None => 0,
    };
    let page: Vec<&ImageRecord> = matching.iter().skip(start).take(limit).copied().collect();
    // glance's serializer: `params = dict(request.params)` (first position, last value of a
    // repeated key) without `marker`; `first` carries that query, `next` adds the marker of a
    // full page's last image (a full last page too, as glance).
    let mut params: Vec<(&str, &str)> = Vec::new();
    for (k, v) in &query {
        match params.iter_mut().find(|(key, _)| key == k) {
            Some(p) => p.1 = v,
            None => params.push((k, v)),
        }
    }
    params.retain(|(k, _)| *k != "marker");
    let first = if params.is_empty() {
        "/v2/images".to_string()
    } else {
        format!(
            "/v2/images?{}",
            crate::error::urlencode(params.iter().copied())
        )
    };
    let mut body = json!({
        "images": page.iter().map(|i| i.to_json()).collect::<Vec<_>>(),
        "first": first,
        "schema": "/v2/schemas/images",
    });
    if !page.is_empty()
        && page.len() == limit
        && let Some(last) = page.last()
    {
        params.push(("marker", &last.id));
        body["next"] = json!(format!(
            "/v2/images?{}",
            crate::error::urlencode(params.iter().copied())
        ));
    }
    Ok(axum::Json(body).into_response())
}

pub(super) fn lookup(cloud: &SharedCloud, auth: &Auth, id: &str) -> Result<ImageRecord, ApiError> {
    cloud
        .glance
        .lock()
        .get(id)
        .filter(|i| i.status != "deleted" && visible(i, auth))
        .cloned()
        .ok_or_else(|| not_found(id))
}

async fn show(
    State(cloud): State<SharedCloud>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(lookup(&cloud, &auth, &id)?.to_json()).into_response())
}

const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
    "created_at",
    "updated_at",
    "self",
    "file",
    "schema",
    "direct_url",
    "locations",
];

fn check_enum(key: &str, value: &Value, allowed: &[&str]) -> Result<String, ApiError> {
    match value.as_str() {
        Some(v) if allowed.contains(&v) => Ok(v.to_string()),
        _ => Err(err(
            StatusCode::BAD_REQUEST,
            format!(
                "Invalid value '{}' for {key}: must be one of {}",
                value.as_str().unwrap_or(&value.to_string()),
                allowed.join(", ")
            ),
        )),
    }
}

/// Set one attribute (create and PATCH share this).
fn set_attr(image: &mut ImageRecord, key: &str, value: &Value) -> Result<(), ApiError> {
    let bad = |what: &str| {
        err(
            StatusCode::BAD_REQUEST,
            format!("Invalid value for {key}: {what}"),
        )
    };
    match key {
        k if READ_ONLY.contains(&k) => {
            return Err(err(
                StatusCode::FORBIDDEN,
                format!("Attribute '{key}' is read-only."),
            ));
        }
        "name" => image.name = value.as_str().map(str::to_string),
        "visibility" => {
            image.visibility =
                check_enum(key, value, &["public", "private", "shared", "community"])?
        }
        "protected" => image.protected = value.as_bool().ok_or_else(|| bad("must be a boolean"))?,
        "os_hidden" => image.os_hidden = value.as_bool().ok_or_else(|| bad("must be a boolean"))?,
        "min_disk" => {
            image.min_disk = value
                .as_u64()
                .ok_or_else(|| bad("must be a non-negative integer"))?
        }
        "min_ram" => {
            image.min_ram = value
                .as_u64()
                .ok_or_else(|| bad("must be a non-negative integer"))?
        }
        "owner" => {
            image.owner = value
                .as_str()
                .ok_or_else(|| bad("must be a string"))?
                .to_string()
        }
        "disk_format" | "container_format" => {
            if image.status != "queued" {
                return Err(err(
                    StatusCode::FORBIDDEN,
                    format!("Attribute {key} can be only replaced for a queued image."),
                ));
            }
            let allowed = if key == "disk_format" {
                DISK_FORMATS
            } else {
                CONTAINER_FORMATS
            };
            let v = check_enum(key, value, allowed)?;
            if key == "disk_format" {
                image.disk_format = Some(v)
            } else {
                image.container_format = Some(v)
            }
        }
        "tags" => {
            let tags = value.as_array().ok_or_else(|| bad("must be a list"))?;
            image.tags = tags
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect();
        }
        _ => {
            if !value.is_string() && !value.is_null() {
                return Err(bad("additional properties must be strings"));
            }
            image.properties.insert(key.to_string(), value.clone());
        }
    }
    Ok(())
}

async fn create(
    State(cloud): State<SharedCloud>,
    auth: Auth,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Map<String, Value> = parse_json(Service::Glance, &body)?;
    let id = match body.get("id") {
        Some(Value::String(id)) => {
            if uuid::Uuid::parse_str(id).is_err() {
                return Err(err(StatusCode::BAD_REQUEST, format!("Invalid id: {id}")));
            }
            id.clone()
        }
        Some(_) => return Err(err(StatusCode::BAD_REQUEST, "Invalid id")),
        None => cloud.faults.random_uuid().to_string(),
    };
    let mut image = ImageRecord::new(id.clone(), &auth.project_id);
    for (key, value) in &body {
        if key == "id" {
            continue;
        }
        set_attr(&mut image, key, value)?;
    }
    let mut images = cloud.glance.lock();
    // glance's `enforce_image_count_total` (oslo.limit, delta 1), before the image is made.
    if let Some(limit) = cloud.faults.get().quota.image_count_total {
        let count = usage(&images, &auth.project_id).count;
        if count + 1 > limit {
            return Err(over_limit(
                &auth.project_id,
                "image_count_total",
                limit,
                count,
                1,
            ));
        }
    }
    if images.contains_key(&id) {
        return Err(err(
            StatusCode::CONFLICT,
            format!("Image with identifier {id} already exists!"),
        ));
    }
    let json = image.to_json();
    images.insert(id.clone(), image);
    let mut resp = (StatusCode::CREATED, axum::Json(json)).into_response();
    if let Ok(v) = format!("/v2/images/{id}").parse() {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn update(
    State(cloud): State<SharedCloud>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/openstack-images-v2.1-json-patch")
        && !content_type.starts_with("application/openstack-images-v2.0-json-patch")
    {
        return Err(err(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported Content-Type: {content_type}"),
        ));
    }
    let ops: Vec<Map<String, Value>> = parse_json(Service::Glance, &body)?;
    lookup(&cloud, &auth, &id)?;
    let mut images = cloud.glance.lock();
    let image = images.get_mut(&id).ok_or_else(|| not_found(&id))?;
    if image.owner != auth.project_id && !auth.is_admin {
        return Err(err(
            StatusCode::FORBIDDEN,
            "You are not permitted to modify this image.",
        ));
    }
    let mut changed = image.clone();
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        let key = path
            .strip_prefix('/')
            .unwrap_or(path)
            .replace("~1", "/")
            .replace("~0", "~");
        if key.is_empty() || key.contains('/') && !key.starts_with("tags") {
            return Err(err(
                StatusCode::BAD_REQUEST,
                format!("Invalid JSON pointer for this resource: '{path}'"),
            ));
        }
        match kind {
            "add" | "replace" => {
                let value = op.get("value").ok_or_else(|| {
                    err(
                        StatusCode::BAD_REQUEST,
                        "Operation objects must contain exactly one member named \"value\".",
                    )
                })?;
                if kind == "replace" && !changed.properties.contains_key(&key) && !is_base(&key) {
                    return Err(err(
                        StatusCode::CONFLICT,
                        format!("Property {key} does not exist."),
                    ));
                }
                set_attr(&mut changed, &key, value)?;
            }
            "remove" => {
                if is_base(&key) {
                    return Err(err(
                        StatusCode::FORBIDDEN,
                        format!("Properties {key} must not be removed"),
                    ));
                }
                if changed.properties.remove(&key).is_none() {
                    return Err(err(
                        StatusCode::CONFLICT,
                        format!("Property {key} does not exist."),
                    ));
                }
            }
            other => {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    format!("Operation \"{other}\" not supported"),
                ));
            }
        }
    }
    changed.updated_at = now();
    *image = changed;
    Ok(axum::Json(image.to_json()).into_response())
}

fn is_base(key: &str) -> bool {
    READ_ONLY.contains(&key)
        || matches!(
            key,
            "name"
                | "visibility"
                | "protected"
                | "os_hidden"
                | "min_disk"
                | "min_ram"
                | "owner"
                | "disk_format"
                | "container_format"
                | "tags"
        )
}

async fn remove(
    State(cloud): State<SharedCloud>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    lookup(&cloud, &auth, &id)?;
    let removed = {
        let mut images = cloud.glance.lock();
        let image = images.get(&id).ok_or_else(|| not_found(&id))?;
        if image.owner != auth.project_id && !auth.is_admin {
            return Err(err(
                StatusCode::FORBIDDEN,
                "You are not permitted to delete this image.",
            ));
        }
        if image.protected {
            return Err(err(
                StatusCode::FORBIDDEN,
                format!("Image {id} is protected and cannot be deleted."),
            ));
        }
        images.remove(&id)
    };
    // The file goes with the image unless a server booted from it still uses it as its disk.
    if let Some(path) = removed.and_then(|i| i.content).and_then(unshared_file) {
        let _ = tokio::fs::remove_file(path).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The file holding `content`'s bytes when nothing else (a server's disk, a volume) still
/// shares it: a file, or the packed data of sparse content.
fn unshared_file(content: Content) -> Option<std::path::PathBuf> {
    match content {
        Content::File { path, .. } => Arc::try_unwrap(path).ok(),
        Content::Sparse { data, .. } => Arc::try_unwrap(data).ok().and_then(unshared_file),
        _ => None,
    }
}
