//! One cloud (`provider` or `hospital`): its services' state, fault knobs, clock and request
//! log, and the HTTP router that puts the services under their path prefixes (`/identity`,
//! `/compute`, `/image`, `/network`, `/volume`, `/object-store`, `/devcloud`) plus the per-request middleware (request id,
//! latency, injected failures, request log). Knows nothing about processes or ports.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::clock::Clock;
use crate::error::{ApiError, Service};
use crate::faults::{Faults, Injected, LoggedRequest, RequestLog};
use crate::{admin, cinder, glance, keystone, neutron, nova, swift};

/// One cloud: all its services and their shared knobs.
pub struct Cloud {
    /// `provider` or `hospital`.
    pub name: String,
    /// The region of every catalog endpoint (`RegionOne`).
    pub region: String,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Identity.
    pub keystone: keystone::Keystone,
    /// Compute.
    pub nova: nova::Nova,
    /// Image.
    pub glance: glance::Glance,
    /// Network.
    pub neutron: neutron::Neutron,
    /// Block storage.
    pub cinder: cinder::Cinder,
    /// Object store.
    pub swift: swift::Swift,
    /// Fault knobs.
    pub faults: Faults,
    /// The cloud's clock.
    pub clock: Clock,
    /// The request log.
    pub log: RequestLog,
}

/// A cloud shared between handlers.
pub type SharedCloud = Arc<Cloud>;

impl Cloud {
    /// The unversioned identity endpoint clients start from.
    pub fn auth_url(&self) -> String {
        format!("{}/identity", self.base_url)
    }

    /// The full router of this cloud.
    pub fn router(cloud: SharedCloud) -> Router {
        Router::new()
            .nest("/identity", keystone::router())
            .nest("/compute", nova::router(cloud.clone()))
            .nest("/image", glance::Glance::router())
            .nest("/network", neutron::router())
            .nest("/volume", cinder::router())
            .nest("/object-store", swift::Swift::router())
            .nest("/devcloud", admin::router())
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::from_fn_with_state(
                cloud.clone(),
                middleware,
            ))
            .with_state(cloud)
    }
}

/// The router wrapped so that `/identity/`, `/compute/`, `/image/` and `/network/` (the
/// service roots with a trailing slash, which clients also request) reach the version
/// documents at `/identity` etc. The rewrite must happen before routing, hence outside the
/// router.
pub fn with_service_roots(
    router: Router,
) -> tower::util::MapRequest<Router, fn(Request) -> Request> {
    tower::util::MapRequest::new(router, strip_root_slash as fn(Request) -> Request)
}

/// The path a request was sent to before [`with_service_roots`] removed a
/// `/ep/{region}/{interface}` catalog prefix (see the `catalog_regions` knob); the request
/// log records this one.
#[derive(Debug, Clone)]
pub struct OriginalPath(pub String);

/// `/ep/{region}/{interface}/rest` → `/rest`, or None when the path has no such prefix.
fn strip_endpoint_prefix(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/ep/")?;
    let mut parts = rest.splitn(3, '/');
    let (_region, _interface, rest) = (parts.next()?, parts.next()?, parts.next()?);
    Some(&path[path.len() - rest.len() - 1..])
}

/// `/volume/v3/{project_id}/rest` → `/volume/v3/rest`: Cinder serves its API with or
/// without the project id in the URL (3.67), devcloud's routes without it.
fn strip_volume_project(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/volume/v3/")?;
    let (segment, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let is_project = segment.len() == 32 && segment.bytes().all(|b| b.is_ascii_hexdigit());
    is_project.then(|| {
        format!("/volume/v3/{tail}")
            .trim_end_matches('/')
            .to_string()
    })
}

fn strip_root_slash(mut req: Request) -> Request {
    if let Some(stripped) = strip_endpoint_prefix(req.uri().path()) {
        let original = req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let mut target = stripped.to_string();
        if let Some(q) = req.uri().query() {
            target.push('?');
            target.push_str(q);
        }
        if let Ok(uri) = target.parse() {
            *req.uri_mut() = uri;
            req.extensions_mut().insert(OriginalPath(original));
        }
    }
    if let Some(stripped) = strip_volume_project(req.uri().path()) {
        let mut target = stripped;
        if let Some(q) = req.uri().query() {
            target.push('?');
            target.push_str(q);
        }
        if let Ok(uri) = target.parse() {
            *req.uri_mut() = uri;
        }
    }
    let path = req.uri().path();
    if matches!(
        path,
        "/identity/" | "/compute/" | "/image/" | "/network/" | "/volume/"
    ) {
        let mut target = path.trim_end_matches('/').to_string();
        if let Some(q) = req.uri().query() {
            target.push('?');
            target.push_str(q);
        }
        if let Ok(uri) = target.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// A path no route serves. As the real pipelines: Nova, Glance and Neutron authenticate
/// before they route (401 without a valid token); Nova's and Glance's routers answer webob's
/// 404, Neutron its `NeutronError`, Keystone (Flask) an HTML page whatever the `Accept`.
async fn not_found(State(cloud): State<SharedCloud>, req: Request) -> Response {
    let service = Service::of_path(req.uri().path());
    if matches!(
        service,
        Service::Nova | Service::Glance | Service::Neutron | Service::Cinder
    ) {
        let valid = header_string(&req, "x-auth-token")
            .is_some_and(|t| cloud.keystone.validate(&t, cloud.clock.now()).is_some());
        if !valid {
            return crate::auth::Unauthorized::of(&cloud).into_response();
        }
    }
    let message = "The resource could not be found.";
    match service {
        Service::Keystone => {
            let page = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n";
            let html = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
            (StatusCode::NOT_FOUND, html, page).into_response()
        }
        // Nova's, Cinder's and Glance's routers all let webob render the 404.
        Service::Nova | Service::Cinder => {
            ApiError::new(Service::Glance, StatusCode::NOT_FOUND, message).into_response()
        }
        _ => ApiError::new(service, StatusCode::NOT_FOUND, message).into_response(),
    }
}

fn header_string(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn method_not_allowed(req: Request) -> ApiError {
    let service = Service::of_path(req.uri().path());
    ApiError::new(
        service,
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "The method {} is not allowed for this resource.",
            req.method()
        ),
    )
}

/// oslo.middleware's default `max_request_body_size` (Keystone's request size limit).
const KEYSTONE_MAX_BODY: u64 = 114_688;

/// webob's explanation of a 401 (what Glance answers a request without a valid token).
const WEBOB_401: &str = "This server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.";

/// Request id, latency, injected 5xx/429, request log; applied to every request (the
/// `/devcloud` admin paths get only the request id: no faults, not logged).
async fn middleware(State(cloud): State<SharedCloud>, req: Request, next: Next) -> Response {
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let logged_path = req
        .extensions()
        .get::<OriginalPath>()
        .map(|p| p.0.clone())
        .unwrap_or_else(|| path.clone());
    let range = header_string(&req, "range");
    let api_version = header_string(&req, "openstack-api-version")
        .or_else(|| header_string(&req, "x-openstack-nova-api-version"));
    let is_admin_path = path.starts_with("/devcloud");
    let service = Service::of_path(&path);
    let accept = header_string(&req, "accept");
    // Keystone's pipeline refuses bodies over oslo.middleware's max_request_body_size.
    let too_large = service == Service::Keystone
        && header_string(&req, "content-length")
            .and_then(|l| l.parse::<u64>().ok())
            .is_some_and(|l| l > KEYSTONE_MAX_BODY);

    let mut resp = if is_admin_path {
        next.run(req).await
    } else {
        let settings = cloud.faults.get();
        if settings.latency_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(settings.latency_ms)).await;
        }
        let down = settings.object_store_down && path.starts_with("/object-store");
        match if down {
            Injected::None
        } else {
            cloud.faults.draw()
        } {
            Injected::None if down => swift::no_backend(),
            Injected::None if too_large => {
                let resp = StatusCode::PAYLOAD_TOO_LARGE.into_response();
                let message = format!(
                    "Request is too large. Larger than max_request_body_size ({KEYSTONE_MAX_BODY})."
                );
                crate::error::render_webob(resp, &message, accept.as_deref())
            }
            Injected::None => {
                let resp = next.run(req).await;
                if cloud.faults.draw_after() {
                    // Served, effects and all, but the client hears a 503.
                    ApiError::new(
                        service,
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The server is currently unavailable. Please try again at a later time.",
                    )
                    .into_response()
                } else {
                    resp
                }
            }
            Injected::ServerError(code) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let msg = match (code, service) {
                    (503, _) => {
                        "The server is currently unavailable. Please try again at a later time."
                    }
                    (_, Service::Nova) => {
                        "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible."
                    }
                    _ => "Request Failed: internal server error while processing your request.",
                };
                ApiError::new(service, status, msg).into_response()
            }
            Injected::RateLimited(secs) => ApiError::new(
                service,
                StatusCode::TOO_MANY_REQUESTS,
                "This request was rate-limited.",
            )
            .with_header(header::RETRY_AFTER, secs.to_string())
            .into_response(),
        }
    };
    // Glance's errors (its 401s too) are rendered by webob, for the request's Accept.
    if let Some(w) = resp.extensions().get::<crate::error::Webob>().cloned() {
        resp = crate::error::render_webob(resp, &w.message, accept.as_deref());
    } else if service == Service::Glance && resp.status() == StatusCode::UNAUTHORIZED {
        resp = crate::error::render_webob(resp, WEBOB_401, accept.as_deref());
    } else if service == Service::Glance
        && resp.status() == StatusCode::NO_CONTENT
        && !resp.headers().contains_key(header::CONTENT_TYPE)
    {
        // webob's default content type, which Glance's empty answers carry too.
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=UTF-8"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut()
            .insert("x-openstack-request-id", v.clone());
        if service == Service::Nova {
            resp.headers_mut().insert("x-compute-request-id", v);
        }
    }
    if !is_admin_path {
        cloud.log.push(LoggedRequest {
            method,
            path: logged_path,
            status: resp.status().as_u16(),
            range,
            api_version,
        });
    }
    resp
}
