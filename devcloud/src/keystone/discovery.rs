//! Keystone's version discovery: the `300 Multiple Choices` list at `/identity` and the v3
//! and v2.0 version documents.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::cloud::{Cloud, SharedCloud};

fn v3_entry(cloud: &Cloud) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/v3/", cloud.auth_url())}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

fn v2_entry(cloud: &Cloud) -> Value {
    json!({
        "id": "v2.0",
        "status": "deprecated",
        "updated": "2016-08-04T00:00:00Z",
        "links": [
            {"rel": "self", "href": format!("{}/v2.0/", cloud.auth_url())},
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v2.0+json"}],
    })
}

pub(super) async fn versions(State(cloud): State<SharedCloud>) -> Response {
    let body = json!({"versions": {"values": [v3_entry(&cloud), v2_entry(&cloud)]}});
    // As keystone: Location names the preferred version.
    let location = [(
        axum::http::header::LOCATION,
        format!("{}/v3/", cloud.auth_url()),
    )];
    (StatusCode::MULTIPLE_CHOICES, location, axum::Json(body)).into_response()
}

pub(super) async fn v3_version(State(cloud): State<SharedCloud>) -> axum::Json<Value> {
    axum::Json(json!({"version": v3_entry(&cloud)}))
}

pub(super) async fn v2_version(State(cloud): State<SharedCloud>) -> axum::Json<Value> {
    axum::Json(json!({"version": v2_entry(&cloud)}))
}
