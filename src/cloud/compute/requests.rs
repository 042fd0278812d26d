//! Building Nova requests as plain data: microversion negotiation and headers, and one pure
//! function per call on [`ComputeEndpoint`] (URL, headers, JSON body), testable without a
//! network. Knows nothing of sessions or responses.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use url::Url;

use super::types::{ServerCreate, ServerNetwork, ServerQuery};
use crate::cloud::request::{ApiRequest, endpoint_url};
use crate::cloud::types::{FlavorId, ImageId, Microversion, ServerId};

/// The highest microversion whose responses s2d reads.
pub const MAX_MICROVERSION: Microversion = Microversion::new(2, 96);
/// `createImage` returns the image id in the body from here on (before: `Location` header).
pub const MV_CREATE_IMAGE_BODY: Microversion = Microversion::new(2, 45);
/// Server tags exist from here on; tags on create from 2.52.
pub const MV_TAGS: Microversion = Microversion::new(2, 26);
pub const MV_TAGS_ON_CREATE: Microversion = Microversion::new(2, 52);
/// `networks` is required on create from here on (`"auto"`/`"none"` or a list).
pub const MV_NETWORKS_REQUIRED: Microversion = Microversion::new(2, 37);
/// Server descriptions from here on.
pub const MV_DESCRIPTION: Microversion = Microversion::new(2, 19);
/// A hostname on create, and shown to the owner, from here on.
pub const MV_HOSTNAME: Microversion = Microversion::new(2, 90);
/// Server groups take one `policy` (and `rules`) instead of a `policies` list from here on.
pub const MV_GROUP_POLICY: Microversion = Microversion::new(2, 64);
/// Keypair `type` from here on.
pub const MV_KEYPAIR_TYPE: Microversion = Microversion::new(2, 2);
/// An attachment's `delete_on_termination` can be changed (`PUT os-volume_attachments`) from
/// here on; before, that `PUT` is an admin's volume swap.
pub const MV_ATTACHMENT_UPDATE: Microversion = Microversion::new(2, 85);
/// Generating a keypair on the server was removed at 2.92.
pub const MV_KEYPAIR_GENERATE_LAST: Microversion = Microversion::new(2, 91);

/// Pick the microversion: the highest both sides know. `None` when the cloud has no
/// microversions (legacy v2.0).
pub fn negotiate(
    min: Option<Microversion>,
    max: Option<Microversion>,
) -> std::result::Result<Option<Microversion>, String> {
    let Some(max) = max else { return Ok(None) };
    let chosen = max.min(MAX_MICROVERSION);
    if let Some(min) = min
        && chosen < min
    {
        return Err(format!(
            "the compute API needs at least microversion {min}, s2d reads up to {MAX_MICROVERSION}"
        ));
    }
    Ok(Some(chosen))
}

/// Where Nova lives and which microversion s2d speaks to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComputeEndpoint {
    /// The versioned base, e.g. `https://nova/v2.1` (or `.../v2.1/<project>`).
    pub base: Url,
    pub microversion: Option<Microversion>,
    /// The cloud's advertised (min, max).
    pub range: Option<(Microversion, Microversion)>,
}

/// The version root of a compute URL (`.../v2.1/<project>` -> `.../v2.1`), if it has one.
pub fn compute_version_root(url: &Url) -> Option<Url> {
    let segs: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    let pos = segs.iter().rposition(|s| is_version_segment(s))?;
    let mut root = url.clone();
    root.set_path(&format!("/{}", segs[..=pos].join("/")));
    root.set_query(None);
    Some(root)
}

fn is_version_segment(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    !rest.is_empty()
        && rest
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Nova's time format for usage queries (UTC, no offset).
pub fn nova_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Escape a name for Nova's regex `name` filter and anchor it.
pub fn exact_name_regex(name: &str) -> String {
    let mut s = String::from("^");
    for c in name.chars() {
        if "\\.^$|?*+()[]{}".contains(c) {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('$');
    s
}

impl ComputeEndpoint {
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        endpoint_url(&self.base, segments, query)
    }

    pub(crate) fn at_least(&self, mv: Microversion) -> bool {
        self.microversion.is_some_and(|m| m >= mv)
    }

    /// Add the microversion headers (`X-OpenStack-Nova-API-Version` and
    /// `OpenStack-API-Version: compute X`), at most `cap`.
    pub fn versioned(&self, req: ApiRequest, cap: Option<Microversion>) -> ApiRequest {
        let Some(mut mv) = self.microversion else {
            return req;
        };
        if let Some(cap) = cap {
            mv = mv.min(cap);
        }
        req.header("x-openstack-nova-api-version", &mv.to_string())
            .header("openstack-api-version", &format!("compute {mv}"))
    }

    pub fn list_servers_request(&self, q: &ServerQuery) -> ApiRequest {
        let mut query = Vec::new();
        if let Some(n) = &q.name {
            query.push(("name", exact_name_regex(n)));
        }
        if let Some(s) = &q.status {
            query.push(("status", s.clone()));
        }
        if !q.tags.is_empty() {
            query.push(("tags", q.tags.join(",")));
        }
        if let Some(l) = q.limit {
            query.push(("limit", l.to_string()));
        }
        self.versioned(
            ApiRequest::get(self.url(&["servers", "detail"], &query)),
            None,
        )
    }

    pub fn get_server_request(&self, id: &ServerId) -> ApiRequest {
        self.versioned(
            ApiRequest::get(self.url(&["servers", id.as_str()], &[])),
            None,
        )
    }

    pub fn create_server_request(&self, s: &ServerCreate) -> ApiRequest {
        let mut server = json!({
            "name": s.name,
            "flavorRef": s.flavor,
        });
        if let Some(image) = &s.image {
            server["imageRef"] = json!(image);
        }
        if let Some(k) = &s.key_name {
            server["key_name"] = json!(k);
        }
        if s.networks.is_empty() {
            if self.at_least(MV_NETWORKS_REQUIRED) {
                server["networks"] = json!("auto");
            }
        } else {
            let nets: Vec<Value> = s
                .networks
                .iter()
                .map(|n| match n {
                    ServerNetwork::Network(id) => json!({ "uuid": id }),
                    ServerNetwork::Port(id) => json!({ "port": id }),
                })
                .collect();
            server["networks"] = Value::Array(nets);
        }
        if !s.security_groups.is_empty() {
            let sgs: Vec<Value> = s
                .security_groups
                .iter()
                .map(|n| json!({ "name": n }))
                .collect();
            server["security_groups"] = Value::Array(sgs);
        }
        if !s.metadata.is_empty() {
            server["metadata"] = json!(s.metadata);
        }
        if !s.tags.is_empty() && self.at_least(MV_TAGS_ON_CREATE) {
            server["tags"] = json!(s.tags);
        }
        if let Some(az) = &s.availability_zone {
            server["availability_zone"] = json!(az);
        }
        if let Some(d) = &s.description
            && self.at_least(MV_DESCRIPTION)
        {
            server["description"] = json!(d);
        }
        if s.config_drive {
            server["config_drive"] = json!(true);
        }
        if let Some(h) = &s.hostname
            && self.at_least(MV_HOSTNAME)
        {
            server["hostname"] = json!(h);
        }
        if let Some(u) = &s.user_data {
            server["user_data"] = json!(u);
        }
        if !s.block_devices.is_empty() {
            // A server booted from an image with volumes attached: the image goes first, as
            // the local boot disk (what python-novaclient inserts; Nova refuses a mapping
            // without a `boot_index` 0: "Boot sequence ... is not valid").
            let image_first = s
                .image
                .as_ref()
                .filter(|_| s.block_devices.iter().all(|b| b.boot_index != Some(0)))
                .map(|image| {
                    json!({
                        "uuid": image,
                        "source_type": "image",
                        "destination_type": "local",
                        "boot_index": 0,
                        "delete_on_termination": true,
                    })
                });
            let bdms: Vec<Value> = image_first
                .into_iter()
                .chain(s.block_devices.iter().map(|b| {
                    let mut d = json!({
                        "uuid": b.uuid,
                        "source_type": b.source_type,
                        "destination_type": b.destination_type,
                        "delete_on_termination": b.delete_on_termination,
                    });
                    if let Some(i) = b.boot_index {
                        d["boot_index"] = json!(i);
                    }
                    d
                }))
                .collect();
            server["block_device_mapping_v2"] = Value::Array(bdms);
        }
        let mut body = json!({ "server": server });
        if let Some(group) = &s.group {
            body["os:scheduler_hints"] = json!({ "group": group });
        }
        self.versioned(
            ApiRequest::json(Method::POST, self.url(&["servers"], &[]), body),
            None,
        )
    }

    /// `PUT /servers/{id}`: a new description (2.19+).
    pub fn set_server_description_request(&self, id: &ServerId, description: &str) -> ApiRequest {
        self.versioned(
            ApiRequest::json(
                Method::PUT,
                self.url(&["servers", id.as_str()], &[]),
                json!({ "server": { "description": description } }),
            ),
            None,
        )
    }

    /// `PUT /servers/{id}/metadata`: the server's metadata replaced by `metadata`.
    pub fn set_server_metadata_request(
        &self,
        id: &ServerId,
        metadata: &BTreeMap<String, String>,
    ) -> ApiRequest {
        self.versioned(
            ApiRequest::json(
                Method::PUT,
                self.url(&["servers", id.as_str(), "metadata"], &[]),
                json!({ "metadata": metadata }),
            ),
            None,
        )
    }

    pub fn list_server_groups_request(&self) -> ApiRequest {
        self.versioned(ApiRequest::get(self.url(&["os-server-groups"], &[])), None)
    }

    /// A group with one policy: `policy` from 2.64, a one-element `policies` list before.
    pub fn create_server_group_request(&self, name: &str, policy: &str) -> ApiRequest {
        let group = if self.at_least(MV_GROUP_POLICY) {
            json!({ "name": name, "policy": policy })
        } else {
            json!({ "name": name, "policies": [policy] })
        };
        self.versioned(
            ApiRequest::json(
                Method::POST,
                self.url(&["os-server-groups"], &[]),
                json!({ "server_group": group }),
            ),
            None,
        )
    }

    pub fn delete_server_group_request(&self, id: &str) -> ApiRequest {
        self.versioned(
            ApiRequest::delete(self.url(&["os-server-groups", id], &[])),
            None,
        )
    }

    pub fn set_server_tags_request(&self, id: &ServerId, tags: &[String]) -> ApiRequest {
        self.versioned(
            ApiRequest::json(
                Method::PUT,
                self.url(&["servers", id.as_str(), "tags"], &[]),
                json!({ "tags": tags }),
            ),
            None,
        )
    }

    pub fn delete_server_request(&self, id: &ServerId) -> ApiRequest {
        self.versioned(
            ApiRequest::delete(self.url(&["servers", id.as_str()], &[])),
            None,
        )
    }

    pub fn create_image_request(
        &self,
        id: &ServerId,
        name: &str,
        metadata: &BTreeMap<String, String>,
    ) -> ApiRequest {
        let mut body = json!({ "createImage": { "name": name } });
        if !metadata.is_empty() {
            body["createImage"]["metadata"] = json!(metadata);
        }
        self.versioned(
            ApiRequest::json(
                Method::POST,
                self.url(&["servers", id.as_str(), "action"], &[]),
                body,
            ),
            None,
        )
    }

    /// `os-stop` (ACTIVE or ERROR to SHUTOFF) and `os-start` (SHUTOFF to ACTIVE).
    pub fn server_action_request(&self, id: &ServerId, action: &str) -> ApiRequest {
        self.versioned(
            ApiRequest::json(
                Method::POST,
                self.url(&["servers", id.as_str(), "action"], &[]),
                json!({ action: null }),
            ),
            None,
        )
    }

    /// Change whether deleting the server deletes its attached volume `volume` (2.85+).
    pub fn delete_on_termination_request(
        &self,
        id: &ServerId,
        volume: &str,
        delete_on_termination: bool,
    ) -> ApiRequest {
        self.versioned(
            ApiRequest::json(
                Method::PUT,
                self.url(
                    &["servers", id.as_str(), "os-volume_attachments", volume],
                    &[],
                ),
                json!({"volumeAttachment": {
                    "volumeId": volume,
                    "delete_on_termination": delete_on_termination,
                }}),
            ),
            None,
        )
    }

    pub fn server_security_groups_request(&self, id: &ServerId) -> ApiRequest {
        self.versioned(
            ApiRequest::get(self.url(&["servers", id.as_str(), "os-security-groups"], &[])),
            None,
        )
    }

    pub fn list_flavors_request(&self) -> ApiRequest {
        self.versioned(ApiRequest::get(self.url(&["flavors", "detail"], &[])), None)
    }

    pub fn get_flavor_request(&self, id: &FlavorId) -> ApiRequest {
        self.versioned(
            ApiRequest::get(self.url(&["flavors", id.as_str()], &[])),
            None,
        )
    }

    pub fn list_keypairs_request(&self) -> ApiRequest {
        self.versioned(ApiRequest::get(self.url(&["os-keypairs"], &[])), None)
    }

    pub fn get_keypair_request(&self, name: &str) -> ApiRequest {
        self.versioned(ApiRequest::get(self.url(&["os-keypairs", name], &[])), None)
    }

    /// Import (`public_key` given) or, before 2.92, generate (`None`) a keypair. Generation
    /// is pinned to at most 2.91, the last microversion that offers it.
    pub fn create_keypair_request(
        &self,
        name: &str,
        public_key: Option<&str>,
        key_type: Option<&str>,
    ) -> ApiRequest {
        let mut kp = json!({ "name": name });
        if let Some(pk) = public_key {
            kp["public_key"] = json!(pk);
        }
        if let Some(t) = key_type
            && self.at_least(MV_KEYPAIR_TYPE)
        {
            kp["type"] = json!(t);
        }
        let cap = public_key.is_none().then_some(MV_KEYPAIR_GENERATE_LAST);
        self.versioned(
            ApiRequest::json(
                Method::POST,
                self.url(&["os-keypairs"], &[]),
                json!({ "keypair": kp }),
            ),
            cap,
        )
    }

    pub fn delete_keypair_request(&self, name: &str) -> ApiRequest {
        self.versioned(
            ApiRequest::delete(self.url(&["os-keypairs", name], &[])),
            None,
        )
    }

    /// `GET /os-simple-tenant-usage[/{project}]?start=&end=[&detailed=1]`.
    pub fn usage_request(
        &self,
        project: Option<&str>,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> ApiRequest {
        let mut query = vec![("start", nova_time(start)), ("end", nova_time(end))];
        let url = match project {
            Some(p) => self.url(&["os-simple-tenant-usage", p], &query),
            None => {
                query.push(("detailed", "1".into()));
                self.url(&["os-simple-tenant-usage"], &query)
            }
        };
        self.versioned(ApiRequest::get(url), None)
    }

    pub fn limits_request(&self) -> ApiRequest {
        self.versioned(ApiRequest::get(self.url(&["limits"], &[])), None)
    }
}

/// The image id from `createImage`'s `Location` header (before 2.45):
/// `http://glance/v2/images/<id>` or `.../images/<id>`.
pub fn image_id_from_location(location: &str) -> Option<ImageId> {
    let path = location.split(['?', '#']).next()?;
    let id = path.trim_end_matches('/').rsplit('/').next()?;
    (!id.is_empty()).then(|| ImageId::from(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::types::NetworkId;

    fn ep(mv: Option<&str>) -> ComputeEndpoint {
        ComputeEndpoint {
            base: Url::parse("http://h/compute/v2.1").unwrap(),
            microversion: mv.map(|m| m.parse().unwrap()),
            range: None,
        }
    }

    #[test]
    fn negotiation() {
        let mv = |s: &str| Some(s.parse::<Microversion>().unwrap());
        assert_eq!(negotiate(mv("2.1"), mv("2.79")).unwrap(), mv("2.79"));
        assert_eq!(
            negotiate(mv("2.1"), mv("2.100")).unwrap(),
            Some(MAX_MICROVERSION)
        );
        assert_eq!(negotiate(mv("2.1"), mv("2.38")).unwrap(), mv("2.38"));
        assert_eq!(negotiate(None, None).unwrap(), None);
        assert!(negotiate(mv("2.97"), mv("2.100")).is_err());
    }

    #[test]
    fn version_roots() {
        let u = Url::parse("http://h:8774/v2.1/abc123").unwrap();
        assert_eq!(
            compute_version_root(&u).unwrap().as_str(),
            "http://h:8774/v2.1"
        );
        let u = Url::parse("http://h/compute/v2.1/").unwrap();
        assert_eq!(
            compute_version_root(&u).unwrap().as_str(),
            "http://h/compute/v2.1"
        );
        assert!(compute_version_root(&Url::parse("http://h/compute").unwrap()).is_none());
    }

    #[test]
    fn create_server_body_and_header() {
        let mut s = ServerCreate {
            name: "web".into(),
            image: Some(ImageId::from("img")),
            flavor: FlavorId::from("f1"),
            key_name: Some("k".into()),
            networks: vec![ServerNetwork::Network(NetworkId::from("net"))],
            security_groups: vec!["web".into()],
            tags: vec!["s2d".into()],
            ..Default::default()
        };
        s.metadata.insert("s2d:address".into(), "server.web".into());
        let r = ep(Some("2.79")).create_server_request(&s);
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.url.as_str(), "http://h/compute/v2.1/servers");
        assert_eq!(r.header_str("x-openstack-nova-api-version"), Some("2.79"));
        assert_eq!(r.header_str("openstack-api-version"), Some("compute 2.79"));
        let crate::cloud::request::ReqBody::Json(b) = &r.body else {
            panic!("json body")
        };
        assert_eq!(
            b,
            &json!({"server": {"name": "web", "flavorRef": "f1", "imageRef": "img", "key_name": "k",
                "networks": [{"uuid": "net"}], "security_groups": [{"name": "web"}],
                "metadata": {"s2d:address": "server.web"}, "tags": ["s2d"]}})
        );
        // Before 2.52 tags are not in the body; before 2.37 no "auto" networks.
        s.networks.clear();
        let r = ep(Some("2.30")).create_server_request(&s);
        let crate::cloud::request::ReqBody::Json(b) = &r.body else {
            panic!("json body")
        };
        assert!(b["server"].get("tags").is_none());
        assert!(b["server"].get("networks").is_none());
        let r = ep(Some("2.40")).create_server_request(&s);
        let crate::cloud::request::ReqBody::Json(b) = &r.body else {
            panic!("json body")
        };
        assert_eq!(b["server"]["networks"], "auto");
        // No microversion: no header.
        let r = ep(None).get_server_request(&ServerId::from("x"));
        assert!(r.header_str("x-openstack-nova-api-version").is_none());
    }

    /// `server-create-req.json` of the boot-from-volume api-ref sample: no `imageRef`, the
    /// root volume at `boot_index` 0, a data volume without a boot index.
    #[test]
    fn boot_from_a_volume_with_bdm_v2() {
        use super::super::types::BlockDevice;
        use crate::cloud::types::VolumeId;
        let s = ServerCreate {
            name: "db".into(),
            flavor: FlavorId::from("f1"),
            networks: vec![ServerNetwork::Port(crate::cloud::types::PortId::from("p"))],
            block_devices: vec![
                BlockDevice::volume(VolumeId::from("root-vol"), Some(0), true),
                BlockDevice::volume(VolumeId::from("data-vol"), None, false),
            ],
            ..Default::default()
        };
        let r = ep(Some("2.96")).create_server_request(&s);
        let crate::cloud::request::ReqBody::Json(b) = &r.body else {
            panic!("json body")
        };
        assert_eq!(
            b,
            &json!({"server": {"name": "db", "flavorRef": "f1", "networks": [{"port": "p"}],
            "block_device_mapping_v2": [
                {"uuid": "root-vol", "source_type": "volume", "destination_type": "volume",
                 "boot_index": 0, "delete_on_termination": true},
                {"uuid": "data-vol", "source_type": "volume", "destination_type": "volume",
                 "delete_on_termination": false}
            ]}})
        );
    }

    /// Booted from an image with a data volume: the image is the first mapping, the local
    /// boot disk (`boot_index` 0), as python-novaclient sends it; `imageRef` stays.
    #[test]
    fn an_image_boot_with_a_volume_maps_the_image_first() {
        use super::super::types::BlockDevice;
        use crate::cloud::types::VolumeId;
        let s = ServerCreate {
            name: "db".into(),
            flavor: FlavorId::from("f1"),
            image: Some(ImageId::from("img")),
            networks: vec![ServerNetwork::Port(crate::cloud::types::PortId::from("p"))],
            block_devices: vec![BlockDevice::volume(VolumeId::from("data-vol"), None, false)],
            ..Default::default()
        };
        let r = ep(Some("2.96")).create_server_request(&s);
        let crate::cloud::request::ReqBody::Json(b) = &r.body else {
            panic!("json body")
        };
        assert_eq!(b["server"]["imageRef"], "img");
        assert_eq!(
            b["server"]["block_device_mapping_v2"],
            json!([
                {"uuid": "img", "source_type": "image", "destination_type": "local",
                 "boot_index": 0, "delete_on_termination": true},
                {"uuid": "data-vol", "source_type": "volume", "destination_type": "volume",
                 "delete_on_termination": false}
            ])
        );
    }

    /// `server-action-stop.json` / `server-action-start.json`: `{"os-stop": null}`.
    #[test]
    fn stop_and_start() {
        let r = ep(Some("2.96")).server_action_request(&ServerId::from("x"), "os-stop");
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.url.as_str(), "http://h/compute/v2.1/servers/x/action");
        assert_eq!(
            r.body,
            crate::cloud::request::ReqBody::Json(json!({"os-stop": null}))
        );
        let r = ep(None).server_action_request(&ServerId::from("x"), "os-start");
        assert_eq!(
            r.body,
            crate::cloud::request::ReqBody::Json(json!({"os-start": null}))
        );
    }

    /// As api-ref's "Update a volume attachment" at 2.85: the same volume, its flag.
    #[test]
    fn delete_on_termination_is_an_attachment_update() {
        let r = ep(Some("2.96")).delete_on_termination_request(&ServerId::from("x"), "v", false);
        assert_eq!(r.method, Method::PUT);
        assert_eq!(
            r.url.as_str(),
            "http://h/compute/v2.1/servers/x/os-volume_attachments/v"
        );
        assert_eq!(
            r.body,
            crate::cloud::request::ReqBody::Json(
                json!({"volumeAttachment": {"volumeId": "v", "delete_on_termination": false}})
            )
        );
    }

    #[test]
    fn list_query_anchors_the_name() {
        let r = ep(Some("2.79")).list_servers_request(&ServerQuery {
            name: Some("web.1".into()),
            tags: vec!["a".into(), "b".into()],
            ..Default::default()
        });
        let pairs: Vec<(String, String)> = r.url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                ("name".into(), "^web\\.1$".into()),
                ("tags".into(), "a,b".into())
            ]
        );
    }

    #[test]
    fn keypair_generation_is_pinned_to_2_91() {
        let e = ep(Some("2.96"));
        let r = e.create_keypair_request("k", None, Some("ssh"));
        assert_eq!(r.header_str("x-openstack-nova-api-version"), Some("2.91"));
        let r = e.create_keypair_request("k", Some("ssh-ed25519 AAA"), Some("ssh"));
        assert_eq!(r.header_str("x-openstack-nova-api-version"), Some("2.96"));
        let r = ep(Some("2.1")).create_keypair_request("k", Some("ssh-rsa AAA"), Some("ssh"));
        let crate::cloud::request::ReqBody::Json(b) = &r.body else {
            panic!("json body")
        };
        assert!(b["keypair"].get("type").is_none());
    }

    #[test]
    fn usage_times_and_location() {
        let t = time::macros::datetime!(2024-03-01 10:20:30.5 UTC);
        assert_eq!(nova_time(t), "2024-03-01T10:20:30.500000");
        let r = ep(Some("2.40")).usage_request(Some("p1"), t, t);
        assert_eq!(
            r.url.as_str(),
            "http://h/compute/v2.1/os-simple-tenant-usage/p1?start=2024-03-01T10%3A20%3A30.500000&end=2024-03-01T10%3A20%3A30.500000"
        );
        assert_eq!(
            image_id_from_location(
                "http://glance:9292/v2/images/0e7761dd-ee98-41f0-ba35-05994e446431"
            ),
            Some(ImageId::from("0e7761dd-ee98-41f0-ba35-05994e446431"))
        );
    }
}
