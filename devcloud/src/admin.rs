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
    cloud.faults.set(settings.clone());
    Ok(Json(settings))
}

async fn state(State(cloud): State<SharedCloud>) -> Json<Value> {
    Json(json!({
        "cloud": cloud.name,
        "keystone": cloud.keystone.dump(),
        "nova": cloud.nova.dump(),
        "neutron": cloud.neutron.dump(),
        "glance": cloud.glance.dump(),
    }))
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
