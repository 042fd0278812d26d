//! Glance v2: version discovery for the image endpoint, and typed calls for images (list
//! with filters and paging, get, create, JSON-patch update, delete, wait for a status),
//! image data (upload from a byte stream, download as a byte stream with an optional
//! Range) and the project's quota usage (`/v2/info/usage`). Requests are built by pure
//! functions on [`ImageEndpoint`]. Knows nothing of Nova or Neutron.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::error::{Error, Result};
use super::http::Session;
use super::request::{ApiRequest, ReqBody, endpoint_url};
use super::service::{gone_is_false, paged, poll_interval};
use super::stream::ByteStream;
use super::types::{ImageId, Service};
use super::wait::{Poll, wait_for};

/// A Glance image (the fields s2d reads; every other property is in `properties`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Image {
    pub id: ImageId,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub disk_format: Option<String>,
    #[serde(default)]
    pub container_format: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub virtual_size: Option<u64>,
    /// MD5 of the data.
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub os_hash_algo: Option<String>,
    #[serde(default)]
    pub os_hash_value: Option<String>,
    #[serde(default)]
    pub min_disk: u64,
    #[serde(default)]
    pub min_ram: u64,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default)]
    pub protected: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Everything else Glance showed (user properties like `s2d:address`, `instance_uuid`,
    /// and the links `self`, `file`, `schema`).
    #[serde(flatten)]
    pub properties: BTreeMap<String, Value>,
}

impl Image {
    /// A string property (user properties are strings in Glance v2).
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).and_then(Value::as_str)
    }
}

/// What `POST /v2/images` needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageCreate {
    pub name: String,
    pub disk_format: String,
    pub container_format: String,
    pub visibility: Option<String>,
    pub min_disk: Option<u64>,
    pub min_ram: Option<u64>,
    pub tags: Vec<String>,
    /// User properties (strings).
    pub properties: BTreeMap<String, String>,
}

/// Filters for `GET /v2/images`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageQuery {
    pub name: Option<String>,
    pub status: Option<String>,
    pub visibility: Option<String>,
    pub owner: Option<String>,
    /// All of these tags.
    pub tags: Vec<String>,
    pub limit: Option<u32>,
}

/// One JSON-patch operation on an image.
#[derive(Clone, Debug, PartialEq)]
pub enum ImagePatch {
    /// `add` (creates or replaces a property).
    Set(String, Value),
    /// `replace` (the property must exist).
    Replace(String, Value),
    Remove(String),
}

/// One of Glance's unified limits with the project's use of it (`GET /v2/info/usage`).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct UsageEntry {
    /// Keystone's limit for the project (its project limit, else the registered default;
    /// oslo.limit counts a resource Keystone has no limit for as 0).
    pub limit: i64,
    pub usage: i64,
}

/// The project's Glance quotas and their use, as `GET /v2/info/usage` answers (Glance 24.0.0,
/// Yoga, and later) when Glance enforces Keystone's unified limits (`use_keystone_limits`).
/// Sizes are in MiB (Glance divides the bytes by 2^20, rounding down).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageUsage {
    /// MiB of the project's images (an image in several stores counts once per store).
    pub image_size_total: Option<UsageEntry>,
    /// The project's images, whatever their status (Glance refuses a create beyond it).
    pub image_count_total: Option<UsageEntry>,
    /// The project's images receiving data at this moment.
    pub image_count_uploading: Option<UsageEntry>,
    /// MiB in the staging area of interoperable import (a plain upload is not staged).
    pub image_stage_total: Option<UsageEntry>,
}

impl ImageUsage {
    /// Read `{"usage": {"<resource>": {"limit": N, "usage": N}, ...}}`: `None` when it names
    /// none of Glance's four resources (unified limits off: Glance answers `{"usage": {}}`).
    /// A resource it does not know, or one it cannot read, is left out.
    pub fn from_body(body: &Value) -> Option<ImageUsage> {
        let usage = body.get("usage")?.as_object()?;
        let entry = |name: &str| -> Option<UsageEntry> {
            serde_json::from_value(usage.get(name)?.clone()).ok()
        };
        let read = ImageUsage {
            image_size_total: entry("image_size_total"),
            image_count_total: entry("image_count_total"),
            image_count_uploading: entry("image_count_uploading"),
            image_stage_total: entry("image_stage_total"),
        };
        (read != ImageUsage::default()).then_some(read)
    }
}

/// The versioned Glance base (`.../v2`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageEndpoint {
    pub base: Url,
}

impl ImageEndpoint {
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        endpoint_url(&self.base, segments, query)
    }

    pub fn list_request(&self, q: &ImageQuery) -> ApiRequest {
        let mut query = Vec::new();
        for (k, v) in [
            ("name", &q.name),
            ("status", &q.status),
            ("visibility", &q.visibility),
            ("owner", &q.owner),
        ] {
            if let Some(v) = v {
                query.push((k, v.clone()));
            }
        }
        for t in &q.tags {
            query.push(("tag", t.clone()));
        }
        if let Some(l) = q.limit {
            query.push(("limit", l.to_string()));
        }
        ApiRequest::get(self.url(&["images"], &query))
    }

    pub fn get_request(&self, id: &ImageId) -> ApiRequest {
        ApiRequest::get(self.url(&["images", id.as_str()], &[]))
    }

    pub fn create_request(&self, c: &ImageCreate) -> ApiRequest {
        let mut body = serde_json::Map::new();
        for (k, v) in &c.properties {
            body.insert(k.clone(), json!(v));
        }
        body.insert("name".into(), json!(c.name));
        body.insert("disk_format".into(), json!(c.disk_format));
        body.insert("container_format".into(), json!(c.container_format));
        if let Some(v) = &c.visibility {
            body.insert("visibility".into(), json!(v));
        }
        if let Some(v) = c.min_disk {
            body.insert("min_disk".into(), json!(v));
        }
        if let Some(v) = c.min_ram {
            body.insert("min_ram".into(), json!(v));
        }
        if !c.tags.is_empty() {
            body.insert("tags".into(), json!(c.tags));
        }
        ApiRequest::json(
            Method::POST,
            self.url(&["images"], &[]),
            Value::Object(body),
        )
    }

    pub fn patch_request(&self, id: &ImageId, ops: &[ImagePatch]) -> ApiRequest {
        let path = |k: &str| format!("/{}", k.replace('~', "~0").replace('/', "~1"));
        let ops: Vec<Value> = ops
            .iter()
            .map(|op| match op {
                ImagePatch::Set(k, v) => json!({"op": "add", "path": path(k), "value": v}),
                ImagePatch::Replace(k, v) => json!({"op": "replace", "path": path(k), "value": v}),
                ImagePatch::Remove(k) => json!({"op": "remove", "path": path(k)}),
            })
            .collect();
        ApiRequest {
            body: ReqBody::JsonPatch(Value::Array(ops)),
            ..ApiRequest::new(Method::PATCH, self.url(&["images", id.as_str()], &[]))
        }
    }

    pub fn delete_request(&self, id: &ImageId) -> ApiRequest {
        ApiRequest::delete(self.url(&["images", id.as_str()], &[]))
    }

    /// `GET /v2/info/usage`: the project's quotas and their use.
    pub fn usage_request(&self) -> ApiRequest {
        ApiRequest::get(self.url(&["info", "usage"], &[]))
    }

    pub fn file_url(&self, id: &ImageId) -> Url {
        self.url(&["images", id.as_str(), "file"], &[])
    }

    /// `GET .../file`, from byte `from` on if given (`Range: bytes=N-`).
    pub fn download_request(&self, id: &ImageId, from: Option<u64>) -> ApiRequest {
        let req = ApiRequest::get(self.file_url(id));
        match from {
            Some(n) if n > 0 => req.header("range", &format!("bytes={n}-")),
            _ => req,
        }
    }
}

#[derive(Deserialize)]
struct ImagesPage {
    images: Vec<Image>,
    #[serde(default)]
    next: Option<String>,
}

/// Typed Glance calls over a session.
#[derive(Clone)]
pub struct ImageService {
    session: Session,
    ep: ImageEndpoint,
}

impl std::fmt::Debug for ImageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageService")
            .field("cloud", &self.session.name())
            .field("endpoint", &self.ep)
            .finish()
    }
}

impl ImageService {
    /// Resolve the image endpoint (catalog or override, then discovery of `/v2`); cached.
    pub async fn new(session: &Session) -> Result<ImageService> {
        let base = session
            .endpoints()
            .image
            .get_or_try_init(|| super::service::discover_versioned(session, Service::Image, "v2"))
            .await?
            .clone();
        Ok(ImageService {
            session: session.clone(),
            ep: ImageEndpoint { base },
        })
    }

    pub fn endpoint(&self) -> &ImageEndpoint {
        &self.ep
    }

    /// All images matching `q` (every page).
    pub async fn list(&self, q: &ImageQuery) -> Result<Vec<Image>> {
        paged(
            &self.session,
            Service::Image,
            self.ep.list_request(q),
            |p: ImagesPage| (p.images, p.next),
        )
        .await
    }

    pub async fn get(&self, id: &ImageId) -> Result<Option<Image>> {
        self.session
            .send_json_opt(Service::Image, self.ep.get_request(id))
            .await
    }

    /// Create an image record (status `queued`).
    pub async fn create(&self, c: &ImageCreate) -> Result<Image> {
        self.session
            .send_json(Service::Image, self.ep.create_request(c))
            .await
    }

    pub async fn patch(&self, id: &ImageId, ops: &[ImagePatch]) -> Result<Image> {
        self.session
            .send_json(Service::Image, self.ep.patch_request(id, ops))
            .await
    }

    /// Delete an image; `false` if it was already gone.
    pub async fn delete(&self, id: &ImageId) -> Result<bool> {
        gone_is_false(
            self.session
                .send_empty(Service::Image, self.ep.delete_request(id))
                .await,
        )
    }

    /// The project's quotas and their use (`GET /v2/info/usage`); `None` when Glance does not
    /// tell them: a Glance before Yoga has no such call (404), and one that does not enforce
    /// Keystone's unified limits answers `{"usage": {}}` (its legacy `user_storage_quota` and
    /// its `image_size_cap` are not shown to a project at all).
    pub async fn usage(&self) -> Result<Option<ImageUsage>> {
        let body: Option<Value> = self
            .session
            .send_json_opt(Service::Image, self.ep.usage_request())
            .await?;
        Ok(body.as_ref().and_then(ImageUsage::from_body))
    }

    /// Upload the image's data from a byte stream. Sent once (see [`Session`]'s upload rules):
    /// on failure the caller starts over (a fresh image if Glance killed this one).
    pub async fn upload<S, E>(&self, id: &ImageId, size: Option<u64>, data: S) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        self.session
            .upload(Service::Image, self.ep.file_url(id), size, data)
            .await
    }

    /// Download the image's data, from byte `from` on when given (the answer is then 206
    /// with `Content-Range`, or 200 if the server ignored the Range: check `status`).
    pub async fn download(&self, id: &ImageId, from: Option<u64>) -> Result<ByteStream> {
        self.session
            .download(Service::Image, self.ep.download_request(id, from))
            .await
    }

    /// Poll until the image has `status` (e.g. `active`); `killed`, `deleted` and
    /// `pending_delete` fail, as does the image vanishing.
    pub async fn wait_for_status(
        &self,
        id: &ImageId,
        status: &str,
        timeout: Duration,
    ) -> Result<Image> {
        let what = format!("image {id}");
        let cloud = self.session.name().to_string();
        wait_for(&cloud, &what, timeout, poll_interval(timeout), || async {
            match self.get(id).await? {
                None => Err(Error::Failed {
                    cloud: cloud.clone(),
                    what: what.clone(),
                    status: "deleted".into(),
                    message: format!("the image disappeared while waiting for {status}"),
                }),
                Some(i) if i.status == status => Ok(Poll::Ready(i)),
                Some(i) if matches!(i.status.as_str(), "killed" | "deleted" | "pending_delete") => {
                    Err(Error::Failed {
                        cloud: cloud.clone(),
                        what: what.clone(),
                        status: i.status.clone(),
                        message: format!("waiting for {status}"),
                    })
                }
                Some(i) => Ok(Poll::Pending(format!("status {}", i.status))),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep() -> ImageEndpoint {
        ImageEndpoint {
            base: Url::parse("http://h/image/v2").unwrap(),
        }
    }

    #[test]
    fn patch_uses_the_json_patch_body() {
        let r = ep().patch_request(
            &ImageId::from("i1"),
            &[
                ImagePatch::Set("s2d:address".into(), json!("image.web")),
                ImagePatch::Replace("name".into(), json!("n")),
                ImagePatch::Remove("old".into()),
            ],
        );
        assert_eq!(r.method, Method::PATCH);
        assert_eq!(r.url.as_str(), "http://h/image/v2/images/i1");
        assert_eq!(
            r.body,
            ReqBody::JsonPatch(json!([
                {"op": "add", "path": "/s2d:address", "value": "image.web"},
                {"op": "replace", "path": "/name", "value": "n"},
                {"op": "remove", "path": "/old"}
            ]))
        );
    }

    #[test]
    fn list_filters_and_range() {
        let r = ep().list_request(&ImageQuery {
            name: Some("web snap".into()),
            tags: vec!["s2d".into()],
            limit: Some(2),
            ..Default::default()
        });
        assert_eq!(
            r.url.as_str(),
            "http://h/image/v2/images?name=web+snap&tag=s2d&limit=2"
        );
        let r = ep().download_request(&ImageId::from("i1"), Some(1024));
        assert_eq!(r.header_str("range"), Some("bytes=1024-"));
        assert_eq!(r.url.as_str(), "http://h/image/v2/images/i1/file");
        assert!(
            ep().download_request(&ImageId::from("i1"), Some(0))
                .header_str("range")
                .is_none()
        );
    }

    /// The api-ref's sample answer (api-ref/source/v2/samples/usage-response.json), and what
    /// Glance answers with unified limits off.
    #[test]
    fn usage_is_read_from_the_info_call() {
        let r = ep().usage_request();
        assert_eq!(r.method, Method::GET);
        assert_eq!(r.url.as_str(), "http://h/image/v2/info/usage");
        let sample = json!({
            "usage": {
                "image_size_total": {"limit": 1024, "usage": 256},
                "image_count_total": {"limit": 10, "usage": 2},
                "image_stage_total": {"limit": 512, "usage": 0},
                "image_count_uploading": {"limit": 2, "usage": 0}
            }
        });
        assert_eq!(
            ImageUsage::from_body(&sample),
            Some(ImageUsage {
                image_size_total: Some(UsageEntry {
                    limit: 1024,
                    usage: 256
                }),
                image_count_total: Some(UsageEntry {
                    limit: 10,
                    usage: 2
                }),
                image_count_uploading: Some(UsageEntry { limit: 2, usage: 0 }),
                image_stage_total: Some(UsageEntry {
                    limit: 512,
                    usage: 0
                }),
            })
        );
        assert_eq!(ImageUsage::from_body(&json!({"usage": {}})), None);
        assert_eq!(ImageUsage::from_body(&json!({})), None);
        // A resource of a later Glance, or one whose numbers cannot be read, is left out.
        assert_eq!(
            ImageUsage::from_body(&json!({"usage": {
                "image_count_total": {"limit": 5, "usage": 5},
                "image_size_total": {"limit": "many"},
                "image_member_total": {"limit": 1, "usage": 0}
            }})),
            Some(ImageUsage {
                image_count_total: Some(UsageEntry { limit: 5, usage: 5 }),
                ..ImageUsage::default()
            })
        );
    }

    #[test]
    fn create_body_carries_properties() {
        let mut c = ImageCreate {
            name: "snap".into(),
            disk_format: "qcow2".into(),
            container_format: "bare".into(),
            visibility: Some("private".into()),
            ..Default::default()
        };
        c.properties
            .insert("s2d:address".into(), "image.web".into());
        let r = ep().create_request(&c);
        assert_eq!(
            r.body,
            ReqBody::Json(
                json!({"name": "snap", "disk_format": "qcow2", "container_format": "bare",
                "visibility": "private", "s2d:address": "image.web"})
            )
        );
    }
}
