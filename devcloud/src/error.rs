//! API errors in each service's own body format (Nova's `{"itemNotFound": {...}}`, Neutron's
//! `{"NeutronError": {...}}`, Keystone's `{"error": {...}}`), and JSON body parsing that turns
//! malformed bodies into those errors. Knows nothing about any service's state.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Which service's error format to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Keystone: `{"error": {"code", "title", "message"}}`.
    Keystone,
    /// Nova: `{"<kind>": {"code", "message"}}`.
    Nova,
    /// Glance: webob-style text / JSON; devcloud uses `{"code","title","message"}` shapes.
    Glance,
    /// Neutron: `{"NeutronError": {"type", "message", "detail"}}`.
    Neutron,
    /// devcloud's own admin endpoints.
    Admin,
}

impl Service {
    /// The service a request path belongs to.
    pub fn of_path(path: &str) -> Service {
        if path.starts_with("/compute") {
            Service::Nova
        } else if path.starts_with("/image") {
            Service::Glance
        } else if path.starts_with("/network") {
            Service::Neutron
        } else if path.starts_with("/identity") {
            Service::Keystone
        } else {
            Service::Admin
        }
    }
}

/// An error response: status, JSON body and extra headers.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body.
    pub body: Value,
    /// Extra headers (e.g. `Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(header::HeaderName, String)>,
}

fn nova_kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    }
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl ApiError {
    /// An error in `service`'s format. For Neutron the `type` is derived from the status
    /// unless given with [`ApiError::neutron`].
    pub fn new(service: Service, status: StatusCode, message: impl Into<String>) -> ApiError {
        let message = message.into();
        match service {
            Service::Nova => ApiError::nova(status, message),
            Service::Neutron => {
                let kind = match status.as_u16() {
                    400 => "HTTPBadRequest",
                    401 => "HTTPUnauthorized",
                    403 => "HTTPForbidden",
                    404 => "HTTPNotFound",
                    409 => "HTTPConflict",
                    429 => "HTTPTooManyRequests",
                    503 => "HTTPServiceUnavailable",
                    _ => "HTTPInternalServerError",
                };
                ApiError::neutron(status, kind, message)
            }
            Service::Keystone => ApiError::keystone(status, message),
            Service::Glance | Service::Admin => ApiError {
                status,
                body: json!({"code": status.as_u16(), "title": reason(status), "message": message}),
                headers: Vec::new(),
            },
        }
    }

    /// Nova's `{"itemNotFound": {"code": 404, "message": ...}}` family.
    pub fn nova(status: StatusCode, message: impl Into<String>) -> ApiError {
        let kind = nova_kind(status);
        ApiError {
            status,
            body: json!({ kind: {"code": status.as_u16(), "message": message.into()} }),
            headers: Vec::new(),
        }
    }

    /// Neutron's `{"NeutronError": {"type", "message", "detail": ""}}`.
    pub fn neutron(status: StatusCode, kind: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({"NeutronError": {"type": kind, "message": message.into(), "detail": ""}}),
            headers: Vec::new(),
        }
    }

    /// Keystone's `{"error": {"code", "title", "message"}}`.
    pub fn keystone(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({"error": {"code": status.as_u16(), "title": reason(status), "message": message.into()}}),
            headers: Vec::new(),
        }
    }

    /// Add a response header.
    pub fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> ApiError {
        self.headers.push((name, value.into()));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body)).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}

/// Parse a JSON request body, answering malformed bodies with a 400 in `service`'s format
/// (as the real services do, instead of axum's plain-text rejection).
pub fn parse_json<T: DeserializeOwned>(service: Service, body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::new(
            service,
            StatusCode::BAD_REQUEST,
            "The request body is empty or is not valid JSON.",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let msg = match service {
            Service::Nova => format!("Invalid input for field/attribute. Value: {e}"),
            Service::Neutron => format!("Invalid input: {e}"),
            Service::Keystone => format!("Invalid input for field: {e}"),
            _ => format!("Malformed JSON in request body: {e}"),
        };
        ApiError::new(service, StatusCode::BAD_REQUEST, msg)
    })
}
