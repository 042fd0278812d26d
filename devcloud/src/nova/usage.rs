//! `os-simple-tenant-usage`: per-project instance usage over a period, computed as Nova does
//! from each server's launched/terminated times and flavor (index for admins, one project for
//! its members or admins; `limit`/`marker` paging and links from 2.40). Knows nothing about
//! how servers come and go beyond their timestamps.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Flavor, Microversion, Server, policy_forbidden, py_isoformat};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::ApiError;

pub(super) fn routes() -> Router<SharedCloud> {
    Router::new()
        .route("/os-simple-tenant-usage", get(index))
        .route("/os-simple-tenant-usage/{project_id}", get(show))
}

fn parse_dt(s: Option<&String>, now: OffsetDateTime) -> Result<OffsetDateTime, ApiError> {
    match s {
        None => Ok(now),
        Some(v) => {
            let v = v.trim_end_matches('Z');
            let ok_shape = v.len() >= 19 && (v.as_bytes()[10] == b'T' || v.as_bytes()[10] == b' ');
            if !ok_shape {
                return Err(ApiError::nova(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "Invalid input for field/attribute: Datetime is in invalid format: {v}"
                    ),
                ));
            }
            crate::clock::parse_time(v).ok_or_else(|| {
                ApiError::nova(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "Invalid input for field/attribute: Datetime is in invalid format: {v}"
                    ),
                )
            })
        }
    }
}

fn period(
    cloud: &Cloud,
    q: &BTreeMap<String, String>,
) -> Result<(OffsetDateTime, OffsetDateTime), ApiError> {
    let now = cloud.clock.now();
    let start = parse_dt(q.get("start"), now)?;
    let end = parse_dt(q.get("end"), now)?;
    if start >= end {
        return Err(ApiError::nova(
            StatusCode::BAD_REQUEST,
            "Invalid start time. The start time cannot occur after the end time.",
        ));
    }
    Ok((start, end))
}

/// Hours a server counts in [start, stop), as nova's `_hours_for`.
fn hours_for(s: &Server, start: OffsetDateTime, stop: OffsetDateTime) -> f64 {
    let Some(launched) = s.launched_at else {
        return 0.0;
    };
    if s.terminated_at.is_some_and(|t| t < start) || launched > stop {
        return 0.0;
    }
    let from = launched.max(start);
    let to = s.terminated_at.map(|t| t.min(stop)).unwrap_or(stop);
    ((to - from).as_seconds_f64() / 3600.0).max(0.0)
}

struct ProjectUsage {
    project_id: String,
    total_hours: f64,
    vcpus: f64,
    memory: f64,
    local_gb: f64,
    servers: Vec<Value>,
}

/// The servers active in the window, sorted as nova pages them (created, id).
fn servers_in(
    cloud: &Cloud,
    project: Option<&str>,
    start: OffsetDateTime,
    stop: OffsetDateTime,
) -> (Vec<Server>, BTreeMap<String, Flavor>) {
    let st = cloud.nova.lock();
    let mut list: Vec<Server> = st
        .servers
        .values()
        .chain(st.deleted.values())
        .filter(|s| project.is_none_or(|p| s.project_id == p))
        .filter(|s| {
            s.terminated_at.is_none_or(|t| t > start) && s.launched_at.is_some_and(|l| l < stop)
        })
        .cloned()
        .collect();
    list.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
    (list, st.flavors.clone())
}

/// Cut `list` to the page `q` asks for (`marker`, `limit` at most `max_limit`, which is also
/// the size of a page without `limit`, as nova's `get_limit_and_marker`); the marker of the
/// next page when this one is full.
fn page(
    list: &mut Vec<Server>,
    q: &BTreeMap<String, String>,
    mv: Microversion,
    max_limit: usize,
) -> Result<Option<String>, ApiError> {
    if !mv.at_least(40) {
        return Ok(None);
    }
    if let Some(marker) = q.get("marker") {
        let pos = list.iter().position(|s| s.id == *marker).ok_or_else(|| {
            ApiError::nova(
                StatusCode::BAD_REQUEST,
                format!("Marker {marker} could not be found."),
            )
        })?;
        list.drain(..=pos);
    }
    let limit = match q.get("limit") {
        Some(limit) => limit.parse::<usize>().map_err(|_| {
            ApiError::nova(
                StatusCode::BAD_REQUEST,
                format!("Invalid input for query parameters limit. Value: {limit}."),
            )
        })?,
        None => max_limit,
    }
    .min(max_limit);
    if list.len() > limit {
        list.truncate(limit);
    }
    if limit > 0 && list.len() == limit {
        return Ok(list.last().map(|s| s.id.clone()));
    }
    Ok(None)
}

fn aggregate(
    cloud: &Cloud,
    servers: &[Server],
    flavors: &BTreeMap<String, Flavor>,
    start: OffsetDateTime,
    stop: OffsetDateTime,
) -> Vec<ProjectUsage> {
    let now = cloud.clock.now();
    let mut per: BTreeMap<String, ProjectUsage> = BTreeMap::new();
    for s in servers {
        let hours = hours_for(s, start, stop);
        let f = flavors.get(&s.flavor_id);
        let (vcpus, ram, gb, fname) = f
            .map(|f| (f.vcpus, f.ram, f.disk + f.ephemeral, f.name.clone()))
            .unwrap_or((0, 0, 0, String::new()));
        let u = per
            .entry(s.project_id.clone())
            .or_insert_with(|| ProjectUsage {
                project_id: s.project_id.clone(),
                total_hours: 0.0,
                vcpus: 0.0,
                memory: 0.0,
                local_gb: 0.0,
                servers: Vec::new(),
            });
        u.total_hours += hours;
        u.vcpus += vcpus as f64 * hours;
        u.memory += ram as f64 * hours;
        u.local_gb += gb as f64 * hours;
        let started = s.launched_at.unwrap_or(s.created);
        let ended = s.terminated_at;
        let uptime = ((ended.unwrap_or(now) - started).whole_seconds()).max(0);
        let state = if s.terminated_at.is_some() {
            "terminated".to_string()
        } else {
            s.vm_state.clone()
        };
        u.servers.push(json!({
            "instance_id": s.id, "name": s.name, "hours": hours, "memory_mb": ram, "local_gb": gb,
            "vcpus": vcpus, "tenant_id": s.project_id, "flavor": fname, "started_at": py_isoformat(started),
            "ended_at": ended.map(py_isoformat), "state": state, "uptime": uptime,
        }));
    }
    per.into_values().collect()
}

fn usage_json(
    u: &ProjectUsage,
    start: OffsetDateTime,
    stop: OffsetDateTime,
    detailed: bool,
) -> Value {
    let mut v = json!({
        "tenant_id": u.project_id, "start": py_isoformat(start), "stop": py_isoformat(stop),
        "total_hours": u.total_hours, "total_vcpus_usage": u.vcpus, "total_memory_mb_usage": u.memory,
        "total_local_gb_usage": u.local_gb,
    });
    if detailed {
        v["server_usages"] = json!(u.servers);
    }
    v
}

fn link(cloud: &Cloud, path: &str, q: &BTreeMap<String, String>, marker: &str) -> Value {
    let mut q = q.clone();
    q.insert("marker".into(), marker.into());
    let qs: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!([{"href": format!("{}/compute/v2.1/{path}?{}", cloud.base_url, qs.join("&")), "rel": "next"}])
}

async fn index(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if !auth.is_admin {
        return Err(policy_forbidden(
            "os_compute_api:os-simple-tenant-usage:list",
        ));
    }
    let (start, stop) = period(&cloud, &q)?;
    // As nova: only `detailed=1` (the CLI's `detailed=True` gets the summary).
    let detailed = q.get("detailed").is_some_and(|d| d == "1");
    let (mut servers, flavors) = servers_in(&cloud, None, start, stop);
    let next = page(&mut servers, &q, mv, cloud.faults.get().usage_max_limit)?;
    let usages: Vec<Value> = aggregate(&cloud, &servers, &flavors, start, stop)
        .iter()
        .map(|u| usage_json(u, start, stop, detailed))
        .collect();
    let mut body = json!({"tenant_usages": usages});
    if let Some(m) = next {
        body["tenant_usages_links"] = link(&cloud, "os-simple-tenant-usage", &q, &m);
    }
    Ok(Json(body))
}

async fn show(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(project_id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if !auth.is_admin && auth.project_id != project_id {
        return Err(policy_forbidden(
            "os_compute_api:os-simple-tenant-usage:show",
        ));
    }
    let (start, stop) = period(&cloud, &q)?;
    let (mut servers, flavors) = servers_in(&cloud, Some(&project_id), start, stop);
    let next = page(&mut servers, &q, mv, cloud.faults.get().usage_max_limit)?;
    let usage = aggregate(&cloud, &servers, &flavors, start, stop)
        .into_iter()
        .next();
    let body_usage = match usage {
        Some(u) => usage_json(&u, start, stop, true),
        None => json!({}),
    };
    let mut body = json!({"tenant_usage": body_usage});
    if let Some(m) = next {
        body["tenant_usage_links"] = link(
            &cloud,
            &format!("os-simple-tenant-usage/{project_id}"),
            &q,
            &m,
        );
    }
    Ok(Json(body))
}
