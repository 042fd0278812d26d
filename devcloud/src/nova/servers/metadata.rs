//! Server metadata: `GET`/`PUT` (replace)/`POST` (merge) `/servers/{id}/metadata`, `GET`/`PUT`/
//! `DELETE` `/servers/{id}/metadata/{key}`, checked as nova's schema, its instance-state rule
//! and its `metadata_items` quota (128) check them.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router, routing::get};
use serde_json::{Value, json};

use super::{bad, find, not_found, visible};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};

/// Nova's default `metadata_items` quota.
const MAX_ITEMS: usize = 128;

pub(super) fn routes() -> Router<SharedCloud> {
    Router::new()
        .route(
            "/servers/{id}/metadata",
            get(index).put(replace).post(merge),
        )
        .route(
            "/servers/{id}/metadata/{key}",
            get(show).put(set_one).delete(delete_one),
        )
}

fn py(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::String(s) => format!("'{s}'"),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("'{k}': {}", py(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// Nova's `parameter_types.metadata`: keys of 1-255 characters of `[a-zA-Z0-9-_:. ]`, string
/// values of at most 255 characters.
pub fn validate(field: &str, v: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    let m = v.as_object().ok_or_else(|| {
        bad(format!(
            "Invalid input for field/attribute {field}. Value: {}. {} is not of type 'object'",
            py(v),
            py(v)
        ))
    })?;
    let mut out = BTreeMap::new();
    for (k, val) in m {
        let key_ok = (1..=255).contains(&k.chars().count())
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.' | ' '));
        if !key_ok {
            return Err(bad(format!(
                "Invalid input for field/attribute {field}. Value: {}. '{k}' does not match any of the regexes: '^[a-zA-Z0-9-_:. ]{{1,255}}$'",
                py(v)
            )));
        }
        match val {
            Value::String(s) if s.chars().count() <= 255 => {
                out.insert(k.clone(), s.clone());
            }
            Value::String(s) => {
                return Err(bad(format!(
                    "Invalid input for field/attribute {k}. Value: {s}. '{s}' is too long"
                )));
            }
            other => {
                return Err(bad(format!(
                    "Invalid input for field/attribute {k}. Value: {}. {} is not of type 'string'",
                    py(other),
                    py(other)
                )));
            }
        }
    }
    Ok(out)
}

/// Nova's `metadata_items` quota (403).
pub fn check_quota(items: usize) -> Result<(), ApiError> {
    if items > MAX_ITEMS {
        return Err(ApiError::nova(
            StatusCode::FORBIDDEN,
            format!("Maximum number of metadata items exceeds {MAX_ITEMS}"),
        ));
    }
    Ok(())
}

/// Run `f` on the metadata of a server whose state allows changes (nova's
/// `check_instance_state`: ACTIVE, PAUSED, SUSPENDED or STOPPED, no task), else 409.
fn with_metadata<T>(
    cloud: &Cloud,
    auth: &Auth,
    id: &str,
    action: &str,
    f: impl FnOnce(&mut BTreeMap<String, String>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut st = cloud.nova.lock();
    let s = st
        .servers
        .get_mut(id)
        .filter(|s| visible(auth, s))
        .ok_or_else(|| not_found(id))?;
    let (attr, state) = match &s.task_state {
        Some(t) => ("task_state", t.clone()),
        None => ("vm_state", s.vm_state.clone()),
    };
    if !matches!(s.vm_state.as_str(), "active" | "stopped") || s.task_state.is_some() {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!("Cannot '{action}' instance {id} while it is in {attr} {state}"),
        ));
    }
    let mut meta = s.metadata.clone();
    let out = f(&mut meta)?;
    s.metadata = meta;
    s.updated = cloud.clock.now();
    Ok(out)
}

fn body_of(body: &Bytes, top: &str) -> Result<Value, ApiError> {
    let v: Value = parse_json(Service::Nova, body)?;
    v.get(top).cloned().ok_or_else(|| {
        bad(format!(
            "Invalid input for field/attribute request body. Value: {}. '{top}' is a required property",
            py(&v)
        ))
    })
}

async fn index(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = find(&cloud, &auth, &id)?;
    Ok(Json(json!({"metadata": s.metadata})))
}

async fn replace(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let new = validate("metadata", &body_of(&body, "metadata")?)?;
    let meta = with_metadata(&cloud, &auth, &id, "update metadata", |m| {
        check_quota(new.len())?;
        *m = new;
        Ok(m.clone())
    })?;
    Ok(Json(json!({"metadata": meta})))
}

async fn merge(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let new = validate("metadata", &body_of(&body, "metadata")?)?;
    let meta = with_metadata(&cloud, &auth, &id, "update metadata", |m| {
        let mut merged = m.clone();
        merged.extend(new);
        check_quota(merged.len())?;
        *m = merged;
        Ok(m.clone())
    })?;
    Ok(Json(json!({"metadata": meta})))
}

fn item_not_found() -> ApiError {
    ApiError::nova(StatusCode::NOT_FOUND, "Metadata item was not found")
}

async fn show(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let s = find(&cloud, &auth, &id)?;
    let v = s.metadata.get(&key).ok_or_else(item_not_found)?;
    Ok(Json(json!({"meta": {key: v}})))
}

async fn set_one(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let raw = body_of(&body, "meta")?;
    if let Some(m) = raw.as_object() {
        if m.is_empty() {
            return Err(bad(
                "Invalid input for field/attribute meta. Value: {}. {} should be non-empty",
            ));
        }
        if m.len() > 1 {
            return Err(bad(format!(
                "Invalid input for field/attribute meta. Value: {}. {} has too many properties",
                py(&raw),
                py(&raw)
            )));
        }
    }
    let item = validate("meta", &raw)?;
    let Some(value) = item.get(&key).cloned() else {
        return Err(bad("Request body and URI mismatch"));
    };
    with_metadata(&cloud, &auth, &id, "update metadata", |m| {
        m.insert(key.clone(), value.clone());
        check_quota(m.len())
    })?;
    Ok(Json(json!({"meta": {key: value}})))
}

async fn delete_one(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    // Nova looks the item up before it checks the server's state.
    let s = find(&cloud, &auth, &id)?;
    if !s.metadata.contains_key(&key) {
        return Err(item_not_found());
    }
    with_metadata(&cloud, &auth, &id, "delete metadata", |m| {
        m.remove(&key);
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}
