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
    /// Glance: webob's rendering, chosen by the request's `Accept` (HTML, plain text, or JSON
    /// `{"code": "404 Not Found", "title", "message"}`; see [`render_webob`]).
    Glance,
    /// Neutron: `{"NeutronError": {"type", "message", "detail"}}`.
    Neutron,
    /// Cinder: Nova's fault format, `{"<kind>": {"code", "message"}}`.
    Cinder,
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
        } else if path.starts_with("/volume") {
            Service::Cinder
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
    /// Rendered by webob (Glance; oslo.middleware's limits): the body is chosen by the
    /// request's `Accept` when the answer leaves the cloud ([`render_webob`]).
    pub webob: bool,
}

/// The message of an error answer that webob renders (a response extension, read by
/// [`render_webob`] once the request's `Accept` is known).
#[derive(Debug, Clone)]
pub struct Webob {
    /// The explanation (webob's `detail`).
    pub message: String,
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
            Service::Nova | Service::Cinder => ApiError::nova(status, message),
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
                webob: service == Service::Glance,
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
            webob: false,
        }
    }

    /// Neutron's `{"NeutronError": {"type", "message", "detail": ""}}`.
    pub fn neutron(status: StatusCode, kind: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({"NeutronError": {"type": kind, "message": message.into(), "detail": ""}}),
            headers: Vec::new(),
            webob: false,
        }
    }

    /// Keystone's `{"error": {"code", "title", "message"}}`.
    pub fn keystone(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({"error": {"code": status.as_u16(), "title": reason(status), "message": message.into()}}),
            headers: Vec::new(),
            webob: false,
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
        let webob = self.webob.then(|| Webob {
            message: self.body["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        });
        let mut resp = (self.status, axum::Json(self.body)).into_response();
        if let Some(w) = webob {
            resp.extensions_mut().insert(w);
        }
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
            Service::Nova | Service::Cinder => {
                format!("Invalid input for field/attribute. Value: {e}")
            }
            Service::Neutron => format!("Invalid input: {e}"),
            Service::Keystone => format!("Invalid input for field: {e}"),
            _ => format!("Malformed JSON in request body: {e}"),
        };
        ApiError::new(service, StatusCode::BAD_REQUEST, msg)
    })
}

/// webob's title of a status (its names, which differ from RFC 9110's for a few).
fn webob_title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        416 => "Request Range Not Satisfiable",
        _ => reason(status),
    }
}

/// The media type webob answers an error in for this `Accept` header: of its offers
/// `text/html` and `application/json`, the one with the highest quality (the most specific
/// matching range decides an offer's quality; a tie goes to HTML), or `text/plain` when
/// neither is acceptable or the request has no `Accept`.
pub fn webob_media_type(accept: Option<&str>) -> &'static str {
    let ranges: Vec<(String, f32)> = accept
        .unwrap_or_default()
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let range = pieces.next()?.trim().to_ascii_lowercase();
            if range.is_empty() {
                return None;
            }
            let q = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((range, q))
        })
        .collect();
    let quality = |offer: &str| {
        let kind = offer.split('/').next().unwrap_or_default();
        let specificity = |range: &str| {
            if range == offer {
                Some(3)
            } else if range.strip_suffix("/*") == Some(kind) {
                Some(2)
            } else if range == "*/*" {
                Some(1)
            } else {
                None
            }
        };
        ranges
            .iter()
            .filter_map(|(r, q)| specificity(r).map(|s| (s, *q)))
            .max_by_key(|(s, _)| *s)
            .map(|(_, q)| q)
            .unwrap_or(0.0)
    };
    let (html, json) = (quality("text/html"), quality("application/json"));
    if html <= 0.0 && json <= 0.0 {
        "text/plain"
    } else if json > html {
        "application/json"
    } else {
        "text/html"
    }
}

/// An error answer as webob renders it for this `Accept` header (Glance's errors and 401s,
/// oslo.middleware's 413): `message` in an HTML page, in plain text, or in the JSON
/// `{"message", "code": "404 Not Found", "title": "Not Found"}` whose `code` is a string.
/// Other headers of `resp` (e.g. `WWW-Authenticate`) are kept.
pub fn render_webob(resp: Response, message: &str, accept: Option<&str>) -> Response {
    let status = resp.status();
    let title = webob_title(status);
    let code = format!("{} {title}", status.as_u16());
    let media = webob_media_type(accept);
    let (content_type, body) = match media {
        "text/html" => (
            "text/html; charset=UTF-8",
            format!(
                "<html>\n <head>\n  <title>{code}</title>\n </head>\n <body>\n  <h1>{code}</h1>\n  {message}<br /><br />\n\n\n\n </body>\n</html>"
            ),
        ),
        "application/json" => (
            "application/json",
            json!({"message": format!("{message}<br /><br />\n\n\n"), "code": code, "title": title})
                .to_string(),
        ),
        _ => (
            "text/plain; charset=UTF-8",
            format!("{code}\n\n{message}\n\n   "),
        ),
    };
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    parts.extensions.remove::<Webob>();
    Response::from_parts(parts, axum::body::Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webob_negotiates_as_webob() {
        assert_eq!(webob_media_type(None), "text/plain");
        assert_eq!(webob_media_type(Some("")), "text/plain");
        assert_eq!(webob_media_type(Some("*/*")), "text/html");
        assert_eq!(
            webob_media_type(Some("application/json")),
            "application/json"
        );
        assert_eq!(
            webob_media_type(Some("application/json, text/plain;q=0.5")),
            "application/json"
        );
        assert_eq!(
            webob_media_type(Some("text/html;q=0.5, application/*")),
            "application/json"
        );
        assert_eq!(webob_media_type(Some("text/plain")), "text/plain");
        assert_eq!(webob_media_type(Some("text/*")), "text/html");
    }
}

/// Python's `urllib.parse.urlencode` of these pairs (what nova, neutron and glance build their
/// next links with): `quote_plus` of each key and value (letters, digits and `_.-~` kept, a
/// space as `+`, everything else `%XX`), joined with `&`.
pub fn urlencode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    fn quote_plus(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        quote_plus(k, &mut out);
        out.push('=');
        quote_plus(v, &mut out);
    }
    out
}

#[cfg(test)]
mod urlencode_tests {
    #[test]
    fn as_python_urlencode() {
        assert_eq!(
            super::urlencode([("name", "^web 1$"), ("marker", "a-b_c.d~")]),
            "name=%5Eweb+1%24&marker=a-b_c.d~"
        );
    }
}
