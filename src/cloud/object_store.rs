//! Swift, OpenStack's object store (catalog type `object-store`): the few calls a state kept
//! in a container needs. Reading an object, writing one whole (with its MD5 as `ETag`, so
//! Swift refuses a body damaged on the way), creating one only if it does not exist
//! (`If-None-Match: *`, the lock), reading its metadata, deleting it. Requests are built by
//! pure functions on [`ObjectEndpoint`]; the session's retry rules and body limits apply.

use std::collections::BTreeMap;

use bytes::Bytes;
use reqwest::Method;
use url::Url;

use super::error::{Error, Result};
use super::http::{SendOpts, Session};
use super::request::{ApiRequest, ReqBody, endpoint_url};
use super::types::Service;

/// The largest object this client reads (a state, a lock note).
pub const MAX_OBJECT_BYTES: usize = 256 * 1024 * 1024;

/// The account URL (`https://swift.example/v1/AUTH_<project>`), from the catalog.
#[derive(Clone, Debug)]
pub struct ObjectEndpoint {
    pub base: Url,
}

/// How a conditional create ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The object did not exist and now holds the body.
    Created,
    /// An object of that name exists already (412): nothing was written.
    Exists,
}

/// An object as read: its body and its `X-Object-Meta-*` metadata (lower-case keys without
/// the prefix).
#[derive(Debug, Clone)]
pub struct Object {
    pub body: Bytes,
    pub meta: BTreeMap<String, String>,
}

const META_PREFIX: &str = "x-object-meta-";

impl ObjectEndpoint {
    fn url(&self, container: &str, object: Option<&str>) -> Url {
        let mut segments = vec![container];
        if let Some(o) = object {
            // An object name may contain `/`: each part is one path segment.
            segments.extend(o.split('/'));
        }
        endpoint_url(&self.base, &segments, &[])
    }

    pub fn create_container_request(&self, container: &str) -> ApiRequest {
        ApiRequest::new(Method::PUT, self.url(container, None))
    }

    pub fn get_request(&self, container: &str, object: &str) -> ApiRequest {
        ApiRequest::get(self.url(container, Some(object)))
    }

    pub fn head_request(&self, container: &str, object: &str) -> ApiRequest {
        ApiRequest::new(Method::HEAD, self.url(container, Some(object)))
    }

    pub fn delete_request(&self, container: &str, object: &str) -> ApiRequest {
        ApiRequest::delete(self.url(container, Some(object)))
    }

    /// A whole-object PUT of `body` (its MD5 as `ETag`) with `meta` as `X-Object-Meta-*`;
    /// `only_if_absent` adds `If-None-Match: *`.
    pub fn put_request(
        &self,
        container: &str,
        object: &str,
        body: Bytes,
        meta: &[(&str, String)],
        only_if_absent: bool,
    ) -> ApiRequest {
        let etag = hex::encode(<md5::Md5 as md5::Digest>::digest(&body));
        let mut req = ApiRequest {
            body: ReqBody::Bytes {
                bytes: body,
                content_type: "application/json",
            },
            ..ApiRequest::new(Method::PUT, self.url(container, Some(object)))
        };
        if let Ok(v) = etag.parse() {
            req.headers.insert("etag", v);
        }
        for (key, value) in meta {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(format!("{META_PREFIX}{key}").as_bytes()),
                reqwest::header::HeaderValue::from_str(value),
            ) {
                req.headers.insert(name, value);
            }
        }
        if only_if_absent {
            req = req.header("if-none-match", "*");
        }
        req
    }
}

fn meta_of(headers: &reqwest::header::HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let key = name.as_str().strip_prefix(META_PREFIX)?;
            Some((key.to_string(), value.to_str().ok()?.to_string()))
        })
        .collect()
}

/// A handle on one cloud's object store.
#[derive(Clone, Debug)]
pub struct ObjectStore {
    session: Session,
    endpoint: ObjectEndpoint,
}

impl ObjectStore {
    /// Resolve the `object-store` endpoint of the session's catalog (or its override).
    pub async fn new(session: &Session) -> Result<ObjectStore> {
        let raw = session.catalog_url(Service::ObjectStore).await?;
        let base = Url::parse(&raw).map_err(|e| Error::Catalog {
            cloud: session.name().to_string(),
            message: format!("object-store endpoint {raw:?} is not a URL: {e}"),
        })?;
        Ok(ObjectStore {
            session: session.clone(),
            endpoint: ObjectEndpoint { base },
        })
    }

    pub fn name(&self) -> &str {
        self.session.name()
    }

    /// Create the container if it does not exist (Swift answers 201 or 202).
    pub async fn ensure_container(&self, container: &str) -> Result<()> {
        let req = self.endpoint.create_container_request(container);
        self.session
            .send_empty(Service::ObjectStore, req)
            .await
            .map(|_| ())
    }

    /// An object, or `None` when there is none.
    pub async fn get(&self, container: &str, object: &str) -> Result<Option<Object>> {
        let req = self.endpoint.get_request(container, object);
        let url = req.url.to_string();
        let resp = match self
            .session
            .send(Service::ObjectStore, req, SendOpts::default())
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = meta_of(resp.headers());
        let body = super::body::read(resp, MAX_OBJECT_BYTES)
            .await
            .map_err(|e| match e {
                super::body::Limited::Transport(e) => {
                    self.session.transport(Service::ObjectStore, "GET", &url, e)
                }
                super::body::Limited::TooLarge { limit, at_least } => Error::Decode {
                    cloud: self.name().to_string(),
                    service: Service::ObjectStore,
                    method: "GET".into(),
                    url: url.clone(),
                    message: super::body::Limited::too_large_message(limit, at_least),
                },
            })?;
        Ok(Some(Object { body, meta }))
    }

    /// An object's metadata, or `None` when there is none.
    pub async fn head(
        &self,
        container: &str,
        object: &str,
    ) -> Result<Option<BTreeMap<String, String>>> {
        let req = self.endpoint.head_request(container, object);
        match self.session.send_empty(Service::ObjectStore, req).await {
            Ok(headers) => Ok(Some(meta_of(&headers))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Write an object whole, replacing what was there.
    pub async fn put(
        &self,
        container: &str,
        object: &str,
        body: Bytes,
        meta: &[(&str, String)],
    ) -> Result<()> {
        let req = self
            .endpoint
            .put_request(container, object, body, meta, false);
        self.session
            .send_empty(Service::ObjectStore, req)
            .await
            .map(|_| ())
    }

    /// Write an object only if none of that name exists (`If-None-Match: *`). A retried PUT
    /// whose first try did land answers [`Created::Exists`]: callers that must tell their own
    /// object from another's read it back.
    pub async fn create(
        &self,
        container: &str,
        object: &str,
        body: Bytes,
        meta: &[(&str, String)],
    ) -> Result<Created> {
        let req = self
            .endpoint
            .put_request(container, object, body, meta, true);
        match self.session.send_empty(Service::ObjectStore, req).await {
            Ok(_) => Ok(Created::Created),
            Err(e) if e.status() == Some(412) => Ok(Created::Exists),
            Err(e) => Err(e),
        }
    }

    /// Delete an object; `false` when it was already gone.
    pub async fn delete(&self, container: &str, object: &str) -> Result<bool> {
        let req = self.endpoint.delete_request(container, object);
        super::service::gone_is_false(self.session.send_empty(Service::ObjectStore, req).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> ObjectEndpoint {
        ObjectEndpoint {
            base: Url::parse("https://swift.example/v1/AUTH_p1").expect("url"),
        }
    }

    #[test]
    fn a_conditional_put_carries_etag_metadata_and_if_none_match() {
        let req = endpoint().put_request(
            "s2d",
            "wave 1/state.json",
            Bytes::from_static(b"{}"),
            &[("s2d-serial", "3".into())],
            true,
        );
        assert_eq!(req.method, Method::PUT);
        assert_eq!(
            req.url.as_str(),
            "https://swift.example/v1/AUTH_p1/s2d/wave%201/state.json"
        );
        assert_eq!(req.header_str("if-none-match"), Some("*"));
        assert_eq!(req.header_str("x-object-meta-s2d-serial"), Some("3"));
        assert_eq!(
            req.header_str("etag"),
            Some("99914b932bd37a50b983c5e7c90ae93b")
        );
        let plain = endpoint().put_request("s2d", "o", Bytes::new(), &[], false);
        assert_eq!(plain.header_str("if-none-match"), None);
    }

    #[test]
    fn metadata_is_read_without_its_prefix() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-object-meta-s2d-serial", "7".parse().expect("value"));
        headers.insert("etag", "abc".parse().expect("value"));
        let meta = meta_of(&headers);
        assert_eq!(meta.get("s2d-serial").map(String::as_str), Some("7"));
        assert_eq!(meta.len(), 1);
    }
}
