//! Building Cinder v3 requests as plain data: microversion negotiation and the
//! `OpenStack-API-Version: volume X` header, and one pure function per call on
//! [`VolumeEndpoint`] (URL, headers, JSON body), testable without a network. Knows nothing of
//! sessions or responses.

use reqwest::Method;
use serde_json::json;
use url::Url;

use super::types::{SnapshotCreate, UploadToImage, VolumeCreate};
use crate::cloud::request::{ApiRequest, endpoint_url};
use crate::cloud::types::{Microversion, VolumeId, VolumeSnapshotId};

/// The highest volume microversion whose answers s2d reads (the 2026.2 Cinder's maximum).
pub const MAX_VOLUME_MICROVERSION: Microversion = Microversion::new(3, 71);
/// From here on a snapshot of an in-use volume needs no `force` (and `force: false` is
/// refused).
pub const MV_SNAPSHOT_IN_USE: Microversion = Microversion::new(3, 66);
/// From here on URLs need no project id.
pub const MV_NO_PROJECT_ID: Microversion = Microversion::new(3, 67);

/// Pick the microversion: the highest both sides know; `None` when the cloud advertises none
/// (Cinder then speaks 3.0).
pub fn negotiate_volume(
    min: Option<Microversion>,
    max: Option<Microversion>,
) -> std::result::Result<Option<Microversion>, String> {
    let Some(max) = max else { return Ok(None) };
    let chosen = max.min(MAX_VOLUME_MICROVERSION);
    if let Some(min) = min
        && chosen < min
    {
        return Err(format!(
            "the block-storage API needs at least microversion {min}, s2d reads up to {MAX_VOLUME_MICROVERSION}"
        ));
    }
    Ok(Some(chosen))
}

/// Where Cinder lives and which microversion s2d speaks to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeEndpoint {
    /// The versioned base, e.g. `https://cinder/v3` or `.../v3/<project>`.
    pub base: Url,
    pub microversion: Option<Microversion>,
    /// The cloud's advertised (min, max).
    pub range: Option<(Microversion, Microversion)>,
}

impl VolumeEndpoint {
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        endpoint_url(&self.base, segments, query)
    }

    pub(crate) fn at_least(&self, mv: Microversion) -> bool {
        self.microversion.is_some_and(|m| m >= mv)
    }

    /// Add `OpenStack-API-Version: volume X` (none without a microversion: 3.0).
    pub fn versioned(&self, req: ApiRequest) -> ApiRequest {
        match self.microversion {
            Some(mv) => req.header("openstack-api-version", &format!("volume {mv}")),
            None => req,
        }
    }

    /// `GET /volumes/detail` (the first page; `limit` is the page size).
    pub fn list_volumes_request(&self, limit: Option<u32>) -> ApiRequest {
        let q: Vec<(&str, String)> = limit
            .map(|l| ("limit", l.to_string()))
            .into_iter()
            .collect();
        self.versioned(ApiRequest::get(self.url(&["volumes", "detail"], &q)))
    }

    pub fn get_volume_request(&self, id: &VolumeId) -> ApiRequest {
        self.versioned(ApiRequest::get(self.url(&["volumes", id.as_str()], &[])))
    }

    /// `POST /volumes`: only what is set is sent; the image goes as `imageRef`.
    pub fn create_volume_request(&self, v: &VolumeCreate) -> ApiRequest {
        let mut vol = json!({ "name": v.name });
        if let Some(s) = v.size {
            vol["size"] = json!(s);
        }
        if let Some(d) = &v.description {
            vol["description"] = json!(d);
        }
        if !v.metadata.is_empty() {
            vol["metadata"] = json!(v.metadata);
        }
        if let Some(t) = &v.volume_type {
            vol["volume_type"] = json!(t);
        }
        if let Some(s) = &v.snapshot_id {
            vol["snapshot_id"] = json!(s);
        }
        if let Some(i) = &v.image_id {
            vol["imageRef"] = json!(i);
        }
        if let Some(az) = &v.availability_zone {
            vol["availability_zone"] = json!(az);
        }
        self.versioned(ApiRequest::json(
            Method::POST,
            self.url(&["volumes"], &[]),
            json!({ "volume": vol }),
        ))
    }

    pub fn delete_volume_request(&self, id: &VolumeId) -> ApiRequest {
        self.versioned(ApiRequest::delete(self.url(&["volumes", id.as_str()], &[])))
    }

    /// `GET /snapshots/detail` (the first page).
    pub fn list_snapshots_request(&self, limit: Option<u32>) -> ApiRequest {
        let q: Vec<(&str, String)> = limit
            .map(|l| ("limit", l.to_string()))
            .into_iter()
            .collect();
        self.versioned(ApiRequest::get(self.url(&["snapshots", "detail"], &q)))
    }

    pub fn get_snapshot_request(&self, id: &VolumeSnapshotId) -> ApiRequest {
        self.versioned(ApiRequest::get(self.url(&["snapshots", id.as_str()], &[])))
    }

    /// `POST /snapshots`, valid for an in-use volume too: from 3.66 without `force` (Cinder
    /// then refuses `force: false` and ignores `force: true`), before with `force: true`.
    pub fn create_snapshot_request(&self, s: &SnapshotCreate) -> ApiRequest {
        let mut snap = json!({ "volume_id": s.volume_id, "name": s.name });
        if let Some(d) = &s.description {
            snap["description"] = json!(d);
        }
        if !s.metadata.is_empty() {
            snap["metadata"] = json!(s.metadata);
        }
        if !self.at_least(MV_SNAPSHOT_IN_USE) {
            snap["force"] = json!(true);
        }
        self.versioned(ApiRequest::json(
            Method::POST,
            self.url(&["snapshots"], &[]),
            json!({ "snapshot": snap }),
        ))
    }

    pub fn delete_snapshot_request(&self, id: &VolumeSnapshotId) -> ApiRequest {
        self.versioned(ApiRequest::delete(
            self.url(&["snapshots", id.as_str()], &[]),
        ))
    }

    /// `POST /volumes/{id}/action` `os-volume_upload_image`.
    pub fn upload_to_image_request(&self, id: &VolumeId, u: &UploadToImage) -> ApiRequest {
        self.versioned(ApiRequest::json(
            Method::POST,
            self.url(&["volumes", id.as_str(), "action"], &[]),
            json!({ "os-volume_upload_image": {
                "image_name": u.image_name,
                "disk_format": u.disk_format,
                "container_format": u.container_format,
                "force": u.force,
            }}),
        ))
    }

    pub fn list_types_request(&self) -> ApiRequest {
        self.versioned(ApiRequest::get(self.url(&["types"], &[])))
    }

    pub fn limits_request(&self) -> ApiRequest {
        self.versioned(ApiRequest::get(self.url(&["limits"], &[])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::types::ImageId;
    use serde_json::Value;

    /// The JSON body of a request.
    fn body(r: &ApiRequest) -> &Value {
        match &r.body {
            crate::cloud::request::ReqBody::Json(v) => v,
            other => panic!("not a JSON body: {other:?}"),
        }
    }

    fn ep(mv: Option<&str>) -> VolumeEndpoint {
        VolumeEndpoint {
            base: Url::parse("http://h/volume/v3/p1").unwrap(),
            microversion: mv.map(|m| m.parse().unwrap()),
            range: None,
        }
    }

    #[test]
    fn negotiation() {
        let mv = |s: &str| Some(s.parse::<Microversion>().unwrap());
        assert_eq!(negotiate_volume(mv("3.0"), mv("3.60")).unwrap(), mv("3.60"));
        assert_eq!(
            negotiate_volume(mv("3.0"), mv("3.90")).unwrap(),
            Some(MAX_VOLUME_MICROVERSION)
        );
        assert_eq!(negotiate_volume(None, None).unwrap(), None);
        assert!(negotiate_volume(mv("3.80"), mv("3.90")).is_err());
    }

    /// `volume-create-request.json` of the api-ref: `imageRef`, `volume_type`, `metadata`.
    #[test]
    fn create_volume_from_an_image() {
        let r = ep(Some("3.71")).create_volume_request(&VolumeCreate {
            name: "vol-web-root".into(),
            size: Some(10),
            description: Some("root of web".into()),
            metadata: [("s2d".to_string(), "1".to_string())].into(),
            volume_type: Some("lvmdriver-1".into()),
            image_id: Some(ImageId::from("img-1")),
            availability_zone: Some("nova".into()),
            ..Default::default()
        });
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.url.as_str(), "http://h/volume/v3/p1/volumes");
        assert_eq!(r.header_str("openstack-api-version"), Some("volume 3.71"));
        assert_eq!(
            body(&r),
            &json!({"volume": {"name": "vol-web-root", "size": 10,
                "description": "root of web", "metadata": {"s2d": "1"},
                "volume_type": "lvmdriver-1", "imageRef": "img-1",
                "availability_zone": "nova"}})
        );
        let r = ep(None).create_volume_request(&VolumeCreate {
            name: "copy".into(),
            snapshot_id: Some(VolumeSnapshotId::from("s1")),
            ..Default::default()
        });
        assert_eq!(r.header_str("openstack-api-version"), None);
        assert_eq!(
            body(&r),
            &json!({"volume": {"name": "copy", "snapshot_id": "s1"}})
        );
    }

    /// `snapshot-create-request.json`: `force` before 3.66, never from 3.66.
    #[test]
    fn snapshots_of_in_use_volumes() {
        let s = SnapshotCreate {
            volume_id: VolumeId::from("v1"),
            name: "snap".into(),
            description: None,
            metadata: Default::default(),
        };
        let r = ep(Some("3.66")).create_snapshot_request(&s);
        assert_eq!(r.url.as_str(), "http://h/volume/v3/p1/snapshots");
        assert_eq!(r.header_str("openstack-api-version"), Some("volume 3.66"));
        assert_eq!(
            body(&r),
            &json!({"snapshot": {"volume_id": "v1", "name": "snap"}})
        );
        for mv in [Some("3.65"), None] {
            let r = ep(mv).create_snapshot_request(&s);
            assert_eq!(
                body(&r),
                &json!({"snapshot": {"volume_id": "v1", "name": "snap", "force": true}})
            );
        }
    }

    /// `volume-upload-to-image-request.json`.
    #[test]
    fn upload_to_image() {
        let r = ep(Some("3.1"))
            .upload_to_image_request(&VolumeId::from("v1"), &UploadToImage::raw("img"));
        assert_eq!(r.url.as_str(), "http://h/volume/v3/p1/volumes/v1/action");
        assert_eq!(
            body(&r),
            &json!({"os-volume_upload_image": {"image_name": "img", "disk_format": "raw",
                "container_format": "bare", "force": false}})
        );
        assert!(!r.is_idempotent());
    }

    #[test]
    fn reads_and_deletes() {
        let e = ep(Some("3.50"));
        assert_eq!(
            e.list_volumes_request(Some(2)).url.as_str(),
            "http://h/volume/v3/p1/volumes/detail?limit=2"
        );
        assert_eq!(
            e.list_snapshots_request(None).url.as_str(),
            "http://h/volume/v3/p1/snapshots/detail"
        );
        let d = e.delete_volume_request(&VolumeId::from("v1"));
        assert_eq!(d.method, Method::DELETE);
        assert_eq!(d.url.as_str(), "http://h/volume/v3/p1/volumes/v1");
        assert_eq!(
            e.get_snapshot_request(&VolumeSnapshotId::from("s1"))
                .url
                .as_str(),
            "http://h/volume/v3/p1/snapshots/s1"
        );
        assert_eq!(
            e.limits_request().url.as_str(),
            "http://h/volume/v3/p1/limits"
        );
        assert_eq!(
            e.list_types_request().url.as_str(),
            "http://h/volume/v3/p1/types"
        );
    }
}
