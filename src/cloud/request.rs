//! [`ApiRequest`]: a request described as plain data (method, URL, headers, JSON body), built
//! by pure functions in the service modules and checked by unit tests without a network.
//! The session turns it into an HTTP request. Knows nothing of tokens or retries.

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use url::Url;

/// The body of an API request.
#[derive(Clone, Debug, PartialEq)]
pub enum ReqBody {
    Empty,
    /// `application/json`.
    Json(Value),
    /// Glance's `application/openstack-images-v2.1-json-patch`.
    JsonPatch(Value),
    /// Raw bytes of the given content type (Swift objects).
    Bytes {
        bytes: bytes::Bytes,
        content_type: &'static str,
    },
}

/// One API request, before authentication.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: ReqBody,
}

impl ApiRequest {
    pub fn new(method: Method, url: Url) -> ApiRequest {
        ApiRequest {
            method,
            url,
            headers: HeaderMap::new(),
            body: ReqBody::Empty,
        }
    }

    pub fn get(url: Url) -> ApiRequest {
        ApiRequest::new(Method::GET, url)
    }

    pub fn delete(url: Url) -> ApiRequest {
        ApiRequest::new(Method::DELETE, url)
    }

    pub fn json(method: Method, url: Url, body: Value) -> ApiRequest {
        ApiRequest {
            body: ReqBody::Json(body),
            ..ApiRequest::new(method, url)
        }
    }

    /// Add a header (names and values built by this module are always valid; an invalid
    /// value is dropped rather than sent malformed).
    pub fn header(mut self, name: &'static str, value: &str) -> ApiRequest {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(HeaderName::from_static(name), v);
        }
        self
    }

    /// A header's value, for tests and logs.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether repeating the request cannot do anything twice: GET, HEAD, PUT (the same
    /// body), DELETE, OPTIONS, and a Glance JSON patch made only of `add` and `replace`
    /// operations (setting a value twice sets it once; a `remove` repeated fails).
    pub fn is_idempotent(&self) -> bool {
        match (&self.method, &self.body) {
            (
                &Method::GET | &Method::HEAD | &Method::PUT | &Method::DELETE | &Method::OPTIONS,
                _,
            ) => true,
            (&Method::PATCH, ReqBody::JsonPatch(Value::Array(ops))) => ops.iter().all(|op| {
                matches!(
                    op.get("op").and_then(Value::as_str),
                    Some("add" | "replace")
                )
            }),
            _ => false,
        }
    }
}

/// `base` joined with path segments (each percent-encoded) and query pairs.
pub fn endpoint_url(base: &Url, segments: &[&str], query: &[(&str, String)]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        for s in segments {
            path.push(s);
        }
    }
    if !query.is_empty() {
        let mut q = url.query_pairs_mut();
        for (k, v) in query {
            q.append_pair(k, v);
        }
    }
    url
}

/// The query pairs of a `next` link (Glance's `next`, Nova's and Neutron's `*_links`): the
/// link's host and path prefix may be wrong behind proxies, so only its query is used, on
/// the URL s2d built itself.
pub fn next_query(link: &str) -> Vec<(String, String)> {
    let query = match link.split_once('?') {
        Some((_, q)) => q,
        None => return Vec::new(),
    };
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `url` with its query replaced by `pairs`.
pub fn with_query(url: &Url, pairs: &[(String, String)]) -> Url {
    let mut u = url.clone();
    u.set_query(None);
    if !pairs.is_empty() {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    u
}

/// The `href` of the `rel: next` entry of a `*_links` list.
pub fn next_link(links: &[Link]) -> Option<&str> {
    links
        .iter()
        .find(|l| l.rel == "next")
        .map(|l| l.href.as_str())
}

/// One entry of a `links` list.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Link {
    pub href: String,
    #[serde(default)]
    pub rel: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_urls() {
        let base = Url::parse("http://h/compute/v2.1/").unwrap();
        let u = endpoint_url(&base, &["servers", "a b"], &[("name", "^web$".into())]);
        assert_eq!(
            u.as_str(),
            "http://h/compute/v2.1/servers/a%20b?name=%5Eweb%24"
        );
    }

    #[test]
    fn which_requests_are_safe_to_repeat() {
        let u = Url::parse("http://h/x").unwrap();
        for m in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
            assert!(ApiRequest::new(m, u.clone()).is_idempotent());
        }
        assert!(!ApiRequest::json(Method::POST, u.clone(), Value::Null).is_idempotent());
        let patch = |ops: Value| ApiRequest {
            body: ReqBody::JsonPatch(ops),
            ..ApiRequest::new(Method::PATCH, u.clone())
        };
        assert!(
            patch(
                serde_json::json!([{"op": "replace", "path": "/visibility", "value": "private"},
                                      {"op": "add", "path": "/k", "value": "v"}])
            )
            .is_idempotent()
        );
        assert!(!patch(serde_json::json!([{"op": "remove", "path": "/k"}])).is_idempotent());
    }

    #[test]
    fn next_links_keep_only_the_query() {
        let q = next_query("http://wrong-host:9292/v2/images?marker=abc&limit=2");
        assert_eq!(
            q,
            vec![
                ("marker".to_string(), "abc".to_string()),
                ("limit".to_string(), "2".to_string())
            ]
        );
        let base = Url::parse("http://h/image/v2/images?limit=5").unwrap();
        assert_eq!(
            with_query(&base, &q).as_str(),
            "http://h/image/v2/images?marker=abc&limit=2"
        );
    }
}
