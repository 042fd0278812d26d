//! devcloud's own admin endpoints under `/devcloud`: fault knobs (`GET/PUT/PATCH /faults`),
//! the state dump (`GET /state`), the request log (`GET/DELETE /requests`) and the clock
//! (`GET /clock`, `POST /clock/shift`). No authentication: loopback test tooling only.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, response::IntoResponse};
use serde_json::{Value, json};

use crate::clock::iso_micros;
use crate::cloud::SharedCloud;
use crate::error::{ApiError, Service, parse_json};
use crate::faults::FaultSettings;

/// The routes under `/devcloud`.
pub fn router() -> Router<SharedCloud> {
    Router::new()
        .route(
            "/faults",
            get(get_faults).put(put_faults).patch(patch_faults),
        )
        .route("/state", get(state))
        .route("/requests", get(get_requests).delete(delete_requests))
        .route("/clock", get(get_clock))
        .route("/clock/shift", post(shift_clock))
}

async fn get_faults(State(cloud): State<SharedCloud>) -> Json<FaultSettings> {
    Json(cloud.faults.get())
}

async fn put_faults(
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Json<FaultSettings>, ApiError> {
    let settings: FaultSettings = parse_json(Service::Admin, &body)?;
    check_settings(&settings)?;
    cloud.faults.set(settings.clone());
    Ok(Json(settings))
}

async fn patch_faults(
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Json<FaultSettings>, ApiError> {
    let patch: Value = parse_json(Service::Admin, &body)?;
    let Value::Object(patch) = patch else {
        return Err(ApiError::new(
            Service::Admin,
            StatusCode::BAD_REQUEST,
            "expected a JSON object",
        ));
    };
    let mut current = serde_json::to_value(cloud.faults.get()).map_err(|e| {
        ApiError::new(
            Service::Admin,
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        )
    })?;
    if let Value::Object(cur) = &mut current {
        for (k, v) in patch {
            cur.insert(k, v);
        }
    }
    let settings: FaultSettings = serde_json::from_value(current)
        .map_err(|e| ApiError::new(Service::Admin, StatusCode::BAD_REQUEST, e.to_string()))?;
    check_settings(&settings)?;
    cloud.faults.set(settings.clone());
    Ok(Json(settings))
}

/// What serde cannot check: the microversion cap must read `2.N`.
fn check_settings(settings: &FaultSettings) -> Result<(), ApiError> {
    match settings.compute_max_microversion.as_deref() {
        Some(v) if crate::nova::Microversion::parse(v).is_none() => Err(ApiError::new(
            Service::Admin,
            StatusCode::BAD_REQUEST,
            format!("compute_max_microversion {v:?} is not of the form 2.N"),
        )),
        _ => Ok(()),
    }
}

/// `{"cloud", "projects": {<name>: {"id", "servers", "deleted_servers", "keypairs" (of the
/// users whose default project it is), "networks", "subnets", "ports", "security_groups",
/// "floatingips", "routers"}}, "users", "application_credentials", "flavors", "glance"}`;
/// every list in a stable order (by id), so two dumps compare equal when nothing changed.
async fn state(State(cloud): State<SharedCloud>) -> Json<Value> {
    Json(state_dump(&cloud))
}

/// The state dump of a cloud (see `GET /devcloud/state`).
pub fn state_dump(cloud: &crate::cloud::Cloud) -> Value {
    let keystone = cloud.keystone.dump();
    let nova = cloud.nova.dump();
    let neutron = cloud.neutron.dump();
    let cinder = cloud.cinder.dump();
    let mut projects = serde_json::Map::new();
    for p in keystone["projects"].as_array().into_iter().flatten() {
        let (Some(id), Some(name)) = (p["id"].as_str(), p["name"].as_str()) else {
            continue;
        };
        let mut entry = serde_json::Map::new();
        entry.insert("id".into(), json!(id));
        for source in [&nova["projects"][id], &neutron[id], &cinder[id]] {
            if let Value::Object(m) = source {
                for (k, v) in m {
                    entry.insert(k.clone(), v.clone());
                }
            }
        }
        let mut keypairs = Vec::new();
        for u in keystone["users"].as_array().into_iter().flatten() {
            if u["default_project_id"].as_str() != Some(id) {
                continue;
            }
            for k in nova["keypairs_by_user"][u["id"].as_str().unwrap_or_default()]
                .as_array()
                .into_iter()
                .flatten()
            {
                let mut k = k.clone();
                k["user"] = u["name"].clone();
                keypairs.push(k);
            }
        }
        entry.insert("keypairs".into(), Value::Array(keypairs));
        projects.insert(name.to_string(), Value::Object(entry));
    }
    json!({
        "cloud": cloud.name,
        "projects": projects,
        "users": keystone["users"],
        "application_credentials": keystone["application_credentials"],
        "flavors": nova["flavors"],
        "glance": cloud.glance.dump(),
    })
}

async fn get_requests(State(cloud): State<SharedCloud>) -> Json<Value> {
    Json(json!({"requests": cloud.log.entries()}))
}

async fn delete_requests(State(cloud): State<SharedCloud>) -> impl IntoResponse {
    cloud.log.clear();
    StatusCode::NO_CONTENT
}

async fn get_clock(State(cloud): State<SharedCloud>) -> Json<Value> {
    Json(
        json!({"now": iso_micros(cloud.clock.now()), "offset_s": cloud.clock.offset().whole_seconds()}),
    )
}

async fn shift_clock(
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    #[derive(serde::Deserialize)]
    struct Shift {
        seconds: i64,
    }
    let shift: Shift = parse_json(Service::Admin, &body)?;
    cloud.clock.shift(time::Duration::seconds(shift.seconds));
    Ok(get_clock(State(cloud)).await)
}
