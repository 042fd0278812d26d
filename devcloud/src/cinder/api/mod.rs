//! Cinder's HTTP routes under `/volume`: the version documents, microversion negotiation
//! (`OpenStack-API-Version: volume 3.x`, 3.0 – 3.71 as the 2026.2 Cinder) and what the
//! routes share (query filters, paging, links, request field parsing); the routes themselves
//! are per resource: [`volumes`] (with the volume actions), [`snapshots`], [`types`] and
//! [`quotas`] (limits and quota sets).

mod quotas;
mod snapshots;
mod types;
mod volumes;

use std::collections::BTreeMap;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use self::quotas::{limits, quota_defaults, quota_set};
use self::snapshots::{
    create_snapshot, delete_snapshot, detail_snapshots, list_snapshots, show_snapshot,
};
use self::types::{list_types, show_type};
use self::volumes::{
    create_volume, delete_volume, detail_volumes, list_volumes, show_volume, update_volume,
    volume_action,
};
use super::{bad, error};
use crate::auth::Auth;
use crate::clock::iso_micros_naive;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::ApiError;

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

/// A list's answer: `{"<key>": items}`, with `<key>_links` holding the next page's address
/// (the listed `path`, the same query with the next `marker`) while there is one.
fn listing(
    cloud: &Cloud,
    key: &str,
    path: &str,
    items: Vec<Value>,
    q: &[(String, String)],
    next: Option<String>,
) -> Json<Value> {
    let mut body = serde_json::Map::new();
    body.insert(key.to_string(), Value::Array(items));
    if let Some(marker) = next {
        let mut pairs: Vec<(&str, &str)> = q
            .iter()
            .filter(|(k, _)| k != "marker")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.push(("marker", &marker));
        let href = format!(
            "{}/volume/v3/{path}?{}",
            cloud.base_url,
            crate::error::urlencode(pairs)
        );
        body.insert(
            format!("{key}_links"),
            json!([{"href": href, "rel": "next"}]),
        );
    }
    Json(Value::Object(body))
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
