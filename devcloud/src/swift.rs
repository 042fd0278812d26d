//! Swift (object-store): containers of objects kept in memory, with the semantics s2d's
//! state backend relies on: `PUT` of a container (201 new, 202 existing), `PUT` of an object
//! whole (422 when its `ETag` is not the body's MD5; 412 with `If-None-Match: *` when it
//! exists; `X-Object-Meta-*` kept), `GET` and `HEAD` (404 when absent; `ETag` and the
//! metadata echoed), `DELETE` (204, 404 when absent). Every call needs a valid token. The
//! account in the path (`AUTH_<project>`) is not checked against the token's project.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;

use crate::auth::Auth;
use crate::cloud::SharedCloud;

/// One stored object.
#[derive(Debug, Clone)]
pub struct Object {
    /// The body.
    pub body: Bytes,
    /// MD5 of the body, hex.
    pub etag: String,
    /// `x-object-meta-*` headers, lower-case names.
    pub meta: BTreeMap<String, String>,
}

/// The object store of one cloud.
#[derive(Debug, Default)]
pub struct Swift {
    containers: Mutex<BTreeMap<String, BTreeMap<String, Object>>>,
}

impl Swift {
    /// The containers and their objects.
    pub fn lock(&self) -> MutexGuard<'_, BTreeMap<String, BTreeMap<String, Object>>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The routes under `/object-store`.
    pub fn router() -> Router<SharedCloud> {
        Router::new()
            .route("/v1/{account}/{container}", put(put_container))
            .route(
                "/v1/{account}/{container}/{*object}",
                put(put_object)
                    .get(get_object)
                    .head(head_object)
                    .delete(delete_object),
            )
    }
}

/// What a load balancer answers for a Swift proxy that is down (the `object_store_down`
/// knob): HAProxy's 503 page.
pub fn no_backend() -> Response {
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n",
    )
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, [("content-type", "text/html; charset=UTF-8")], body).into_response()
}

async fn put_container(
    State(cloud): State<SharedCloud>,
    _auth: Auth,
    Path((_account, container)): Path<(String, String)>,
) -> Response {
    let mut all = cloud.swift.lock();
    if all.contains_key(&container) {
        return StatusCode::ACCEPTED.into_response();
    }
    all.insert(container, BTreeMap::new());
    StatusCode::CREATED.into_response()
}

async fn put_object(
    State(cloud): State<SharedCloud>,
    _auth: Auth,
    Path((_account, container, object)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let etag = hex_of(&<md5::Md5 as md5::Digest>::digest(&body));
    if let Some(given) = headers.get("etag").and_then(|v| v.to_str().ok())
        && given.trim_matches('"') != etag
    {
        return text(
            StatusCode::UNPROCESSABLE_ENTITY,
            "<html><h1>Unprocessable Entity</h1><p>Unable to process the contained instructions</p></html>",
        );
    }
    let mut all = cloud.swift.lock();
    let Some(objects) = all.get_mut(&container) else {
        return text(
            StatusCode::NOT_FOUND,
            "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>",
        );
    };
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some("*")
        && objects.contains_key(&object)
    {
        return text(
            StatusCode::PRECONDITION_FAILED,
            "<html><h1>Precondition Failed</h1><p>A precondition for this request was not met.</p></html>",
        );
    }
    let meta = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-object-meta-"))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    objects.insert(
        object,
        Object {
            body,
            etag: etag.clone(),
            meta,
        },
    );
    (StatusCode::CREATED, [("etag", etag)]).into_response()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn found(cloud: &SharedCloud, container: &str, object: &str) -> Option<Object> {
    cloud.swift.lock().get(container)?.get(object).cloned()
}

fn object_headers(object: &Object) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&object.etag) {
        headers.insert("etag", v);
    }
    for (name, value) in &object.meta {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
    headers
}

async fn get_object(
    State(cloud): State<SharedCloud>,
    _auth: Auth,
    Path((_account, container, object)): Path<(String, String, String)>,
) -> Response {
    match found(&cloud, &container, &object) {
        Some(o) => (StatusCode::OK, object_headers(&o), o.body).into_response(),
        None => text(
            StatusCode::NOT_FOUND,
            "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>",
        ),
    }
}

async fn head_object(
    State(cloud): State<SharedCloud>,
    _auth: Auth,
    Path((_account, container, object)): Path<(String, String, String)>,
) -> Response {
    match found(&cloud, &container, &object) {
        Some(o) => (StatusCode::OK, object_headers(&o)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn delete_object(
    State(cloud): State<SharedCloud>,
    _auth: Auth,
    Path((_account, container, object)): Path<(String, String, String)>,
) -> Response {
    let removed = cloud
        .swift
        .lock()
        .get_mut(&container)
        .and_then(|objects| objects.remove(&object));
    match removed {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => text(
            StatusCode::NOT_FOUND,
            "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>",
        ),
    }
}
