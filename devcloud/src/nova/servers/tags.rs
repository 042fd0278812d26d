//! Server tags (2.26+): list, replace, delete all, check, add, delete one.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::{bad, find, not_found, visible};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};
use crate::nova::Microversion;

/// Nova answers unknown (pre-2.26) routes with 404.
fn tags_supported(mv: Microversion) -> Result<(), ApiError> {
    if mv.at_least(26) {
        Ok(())
    } else {
        Err(ApiError::nova(
            StatusCode::NOT_FOUND,
            "The resource could not be found.",
        ))
    }
}

pub(super) fn validate_tag(tag: &str) -> Result<(), ApiError> {
    if tag.is_empty() || tag.chars().count() > 60 || tag.contains('/') || tag.contains(',') {
        return Err(bad(format!(
            "Invalid input for field/attribute tags. Value: {tag}. Tags must be 1 to 60 characters without '/' or ','"
        )));
    }
    Ok(())
}

/// Run `f` on the server's tags when its vm_state allows tag changes (nova's rule).
fn with_tags<T>(
    cloud: &Cloud,
    auth: &Auth,
    id: &str,
    f: impl FnOnce(&mut Vec<String>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut st = cloud.nova.lock();
    let s = st
        .servers
        .get_mut(id)
        .filter(|s| visible(auth, s))
        .ok_or_else(|| not_found(id))?;
    if !matches!(s.vm_state.as_str(), "active" | "stopped") {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!(
                "Cannot 'update tags' instance {id} while it is in vm_state {}",
                s.vm_state
            ),
        ));
    }
    let out = f(&mut s.tags)?;
    // Nova answers tags in its table's key order.
    s.tags.sort();
    s.tags.dedup();
    s.updated = cloud.clock.now();
    Ok(out)
}

pub(super) async fn list_tags(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    tags_supported(mv)?;
    let s = find(&cloud, &auth, &id)?;
    Ok(Json(json!({"tags": s.tags})))
}

pub(super) async fn replace_tags(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    tags_supported(mv)?;
    let body: Value = parse_json(Service::Nova, &body)?;
    let list = body.get("tags").and_then(Value::as_array).ok_or_else(|| {
        bad("Invalid input for field/attribute tags. 'tags' is a required property")
    })?;
    let mut tags: Vec<String> = Vec::new();
    for t in list {
        let t = t.as_str().ok_or_else(|| {
            bad(format!(
                "Invalid input for field/attribute tags. Value: {t}."
            ))
        })?;
        validate_tag(t)?;
        if !tags.iter().any(|x| x == t) {
            tags.push(t.to_string());
        }
    }
    if tags.len() > 50 {
        return Err(bad("The number of tags exceeded the per-server limit 50"));
    }
    let tags = with_tags(&cloud, &auth, &id, |current| {
        *current = tags;
        Ok(current.clone())
    })?;
    Ok(Json(json!({"tags": tags})))
}

pub(super) async fn delete_tags(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    tags_supported(mv)?;
    with_tags(&cloud, &auth, &id, |current| {
        current.clear();
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn check_tag(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    tags_supported(mv)?;
    let s = find(&cloud, &auth, &id)?;
    if s.tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::nova(
            StatusCode::NOT_FOUND,
            format!("Tag {tag} could not be found."),
        ))
    }
}

pub(super) async fn add_tag(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    tags_supported(mv)?;
    validate_tag(&tag)?;
    let created = with_tags(&cloud, &auth, &id, |current| {
        if current.contains(&tag) {
            return Ok(false);
        }
        if current.len() >= 50 {
            return Err(bad("The number of tags exceeded the per-server limit 50"));
        }
        current.push(tag.clone());
        Ok(true)
    })?;
    if created {
        let location = format!("{}/compute/v2.1/servers/{id}/tags/{tag}", cloud.base_url);
        Ok((StatusCode::CREATED, [("location", location)]).into_response())
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

pub(super) async fn delete_tag(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    tags_supported(mv)?;
    with_tags(&cloud, &auth, &id, |current| {
        let before = current.len();
        current.retain(|t| *t != tag);
        if current.len() == before {
            return Err(ApiError::nova(
                StatusCode::NOT_FOUND,
                format!("Tag {tag} could not be found."),
            ));
        }
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}
