//! Swift (object-store): containers of objects kept in memory, with the semantics s2d's
//! state backend relies on: `PUT` of a container (201 new, 202 existing), `PUT` of an object
//! whole (422 when its `ETag` is not the body's MD5; its `Content-Type` kept; 412 with `If-None-Match: *` when it
//! exists, 400 for any other `If-None-Match`; `X-Object-Meta-*` kept), `GET` and `HEAD` (404
//! when absent; `ETag` and the metadata echoed), `DELETE` (204, 404 when absent); `HEAD` of a
//! container (204 with its counts, 404) and its `DELETE` (204, 404, 409 while not empty).
//! Every answer but a `GET` of an object is typed as swob types them: `text/html;
//! charset=UTF-8`, with its HTML explanation (202, 4xx) or empty (201, 204, any `HEAD`). Every call needs a valid token. The
//! account in the path (`AUTH_<project>`) is not checked against the token's project.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;

use crate::auth::Auth;
use crate::cloud::SharedCloud;

/// A valid token, refused as Swift's proxy refuses it: keystoneauth's 401 is swob's HTML page
/// (not Keystone's JSON), with authtoken's `WWW-Authenticate: Keystone uri=...`.
pub struct SwiftAuth;

impl FromRequestParts<SharedCloud> for SwiftAuth {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        cloud: &SharedCloud,
    ) -> Result<Self, Self::Rejection> {
        match Auth::from_request_parts(parts, cloud).await {
            Ok(_) => Ok(SwiftAuth),
            Err(refused) => {
                let keystone = refused.into_response();
                let mut resp = text(
                    StatusCode::UNAUTHORIZED,
                    "<html><h1>Unauthorized</h1><p>This server could not verify that you are authorized to access the document you requested.</p></html>",
                );
                if let Some(v) = keystone.headers().get("www-authenticate") {
                    resp.headers_mut().insert("www-authenticate", v.clone());
                }
                Err(resp)
            }
        }
    }
}

/// One stored object.
#[derive(Debug, Clone)]
pub struct Object {
    /// The body.
    pub body: Bytes,
    /// MD5 of the body, hex.
    pub etag: String,
    /// `x-object-meta-*` headers, lower-case names.
    pub meta: BTreeMap<String, String>,
    /// The `Content-Type` it was written with (answered by `GET` and `HEAD`).
    pub content_type: String,
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
            .route(
                "/v1/{account}/{container}",
                put(put_container)
                    .head(head_container)
                    .delete(delete_container),
            )
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
    _auth: SwiftAuth,
    Path((_account, container)): Path<(String, String)>,
) -> Response {
    let mut all = cloud.swift.lock();
    if all.contains_key(&container) {
        return text(
            StatusCode::ACCEPTED,
            "<html><h1>Accepted</h1><p>The request is accepted for processing.</p></html>",
        );
    }
    all.insert(container, BTreeMap::new());
    text(StatusCode::CREATED, "")
}

/// `HEAD` of a container: 204 with its object count and bytes used, 404 when absent.
async fn head_container(
    State(cloud): State<SharedCloud>,
    _auth: SwiftAuth,
    Path((_account, container)): Path<(String, String)>,
) -> Response {
    let all = cloud.swift.lock();
    let Some(objects) = all.get(&container) else {
        return not_found_empty();
    };
    let bytes: usize = objects.values().map(|o| o.body.len()).sum();
    (
        StatusCode::NO_CONTENT,
        [
            ("content-type", "text/plain; charset=utf-8".to_string()),
            ("x-container-object-count", objects.len().to_string()),
            ("x-container-bytes-used", bytes.to_string()),
            ("x-storage-policy", "Policy-0".to_string()),
        ],
    )
        .into_response()
}

/// `DELETE` of a container: 204, 404 when absent, 409 while it holds objects.
async fn delete_container(
    State(cloud): State<SharedCloud>,
    _auth: SwiftAuth,
    Path((_account, container)): Path<(String, String)>,
) -> Response {
    let mut all = cloud.swift.lock();
    match all.get(&container) {
        None => text(
            StatusCode::NOT_FOUND,
            "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>",
        ),
        Some(objects) if !objects.is_empty() => text(
            StatusCode::CONFLICT,
            "<html><h1>Conflict</h1><p>There was a conflict when trying to complete your request.</p></html>",
        ),
        Some(_) => {
            all.remove(&container);
            text(StatusCode::NO_CONTENT, "")
        }
    }
}

/// The answer to a `HEAD` of something absent: 404, no body.
fn not_found_empty() -> Response {
    (
        StatusCode::NOT_FOUND,
        [("content-type", "text/html; charset=UTF-8")],
    )
        .into_response()
}

async fn put_object(
    State(cloud): State<SharedCloud>,
    _auth: SwiftAuth,
    Path((_account, container, object)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let if_none_match = headers.get("if-none-match").and_then(|v| v.to_str().ok());
    if if_none_match.is_some_and(|v| !v.split(',').any(|t| t.trim() == "*")) {
        // The proxy refuses etag-based If-None-Match on a PUT.
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "text/plain")],
            "If-None-Match only supports *",
        )
            .into_response();
    }
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
    if if_none_match.is_some() && objects.contains_key(&object) {
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
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    objects.insert(
        object,
        Object {
            body,
            etag: etag.clone(),
            meta,
            content_type,
        },
    );
    let mut created = text(StatusCode::CREATED, "");
    if let Ok(v) = HeaderValue::from_str(&etag) {
        created.headers_mut().insert("etag", v);
    }
    created
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn found(cloud: &SharedCloud, container: &str, object: &str) -> Option<Object> {
    cloud.swift.lock().get(container)?.get(object).cloned()
}

fn object_headers(object: &Object) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&object.content_type) {
        headers.insert("content-type", v);
    }
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
    _auth: SwiftAuth,
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
    _auth: SwiftAuth,
    Path((_account, container, object)): Path<(String, String, String)>,
) -> Response {
    match found(&cloud, &container, &object) {
        Some(o) => (StatusCode::OK, object_headers(&o)).into_response(),
        None => not_found_empty(),
    }
}

async fn delete_object(
    State(cloud): State<SharedCloud>,
    _auth: SwiftAuth,
    Path((_account, container, object)): Path<(String, String, String)>,
) -> Response {
    let removed = cloud
        .swift
        .lock()
        .get_mut(&container)
        .and_then(|objects| objects.remove(&object));
    match removed {
        Some(_) => text(StatusCode::NO_CONTENT, ""),
        None => text(
            StatusCode::NOT_FOUND,
            "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>",
        ),
    }
}
