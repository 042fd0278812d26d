//! Cinder's snapshot routes: list (with `detail`), show, create (`force` and its 3.66
//! change), delete, with Cinder's view of a snapshot.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::{
    Mv, Q, View, all_tenants, boolean, listing, opt_string, page, query, string_map, updated_at,
};
use crate::auth::Auth;
use crate::cinder::{Snapshot, bad};
use crate::clock::iso_micros_naive;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};

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

pub(super) async fn list_snapshots(
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
    Ok(listing(&cloud, "snapshots", "snapshots", items, &q, next))
}

pub(super) async fn detail_snapshots(
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
    Ok(listing(
        &cloud,
        "snapshots",
        "snapshots/detail",
        items,
        &q,
        next,
    ))
}

pub(super) async fn show_snapshot(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Mv>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = cloud
        .cinder
        .snapshot(&id, (!auth.is_admin).then_some(auth.project_id.as_str()))
        .ok_or_else(|| crate::cinder::snapshot_not_found(&id))?;
    Ok(Json(
        json!({"snapshot": snapshot_json(&s, mv, View::Extended)}),
    ))
}

/// The message Cinder answers a `force: false` with from 3.66 on.
const SNAPSHOT_IN_USE_FLAG_MSG: &str = "Since microversion 3.66 the 'force' flag is invalid for this request.  For backward compatability, however, when the 'force' flag is passed with a value evaluating to True, it is silently ignored.";

pub(super) async fn create_snapshot(
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
    let snap = crate::cinder::create_snapshot(
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

pub(super) async fn delete_snapshot(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let project = (!auth.is_admin).then_some(auth.project_id.as_str());
    crate::cinder::delete_snapshot(&cloud, &id, project)?;
    Ok(StatusCode::ACCEPTED)
}

// ---------------------------------------------------------------- types, limits, quotas
