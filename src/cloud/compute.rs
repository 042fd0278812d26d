//! Nova: microversion negotiation, and typed calls for servers (list, get, create, delete,
//! wait), createImage, a server's security groups, flavors, keypairs, simple tenant usage
//! and limits. Requests are built by pure methods on [`ComputeEndpoint`] (testable without a
//! network) and sent through the session. Knows nothing of Glance or Neutron bodies.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use url::Url;

use super::error::{Error, Result};
use super::http::{SendOpts, Session};
use super::request::{ApiRequest, Link, endpoint_url, next_link, next_query, with_query};
use super::types::{FlavorId, ImageId, Microversion, NetworkId, PortId, ServerId, Service};
use super::wait::{Poll, wait_for};

/// The highest microversion whose responses s2d reads.
pub const MAX_MICROVERSION: Microversion = Microversion::new(2, 96);
/// `createImage` returns the image id in the body from here on (before: `Location` header).
pub const MV_CREATE_IMAGE_BODY: Microversion = Microversion::new(2, 45);
/// Server tags exist from here on; tags on create from 2.52.
pub const MV_TAGS: Microversion = Microversion::new(2, 26);
pub const MV_TAGS_ON_CREATE: Microversion = Microversion::new(2, 52);
/// `networks` is required on create from here on (`"auto"`/`"none"` or a list).
pub const MV_NETWORKS_REQUIRED: Microversion = Microversion::new(2, 37);
/// Keypair `type` from here on.
pub const MV_KEYPAIR_TYPE: Microversion = Microversion::new(2, 2);
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

/// Typed Nova calls over a session.
#[derive(Clone)]
pub struct Compute {
    session: Session,
    ep: ComputeEndpoint,
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compute")
            .field("cloud", &self.session.name())
            .field("endpoint", &self.ep)
            .finish()
    }
}

// ---------- response and request types ----------

/// A server as `GET /servers/{id}` shows it (fields s2d reads; others are ignored).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Server {
    pub id: ServerId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: BTreeMap<String, String>,
    /// From 2.26.
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<String>,
    /// `None` for a server booted from a volume (`"image": ""`).
    #[serde(default, deserialize_with = "image_ref")]
    pub image: Option<ImageId>,
    #[serde(default)]
    pub flavor: Option<ServerFlavor>,
    #[serde(default, deserialize_with = "null_default")]
    pub addresses: BTreeMap<String, Vec<ServerAddress>>,
    #[serde(default)]
    pub key_name: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub security_groups: Vec<NamedRef>,
    #[serde(default, rename = "OS-EXT-STS:task_state")]
    pub task_state: Option<String>,
    #[serde(default, rename = "OS-EXT-STS:vm_state")]
    pub vm_state: Option<String>,
    #[serde(default, rename = "OS-EXT-STS:power_state")]
    pub power_state: Option<i64>,
    #[serde(default, rename = "OS-EXT-AZ:availability_zone")]
    pub availability_zone: Option<String>,
    #[serde(default, rename = "OS-SRV-USG:launched_at")]
    pub launched_at: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub updated: Option<String>,
    /// Set when the server is in ERROR.
    #[serde(default)]
    pub fault: Option<Fault>,
}

/// `null` reads as the empty collection.
pub(crate) fn null_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn image_ref<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<ImageId>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(v.get("id").and_then(Value::as_str).map(ImageId::from))
}

/// A server's flavor: `{id, links}` before 2.47, the embedded description after.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ServerFlavor {
    #[serde(default)]
    pub id: Option<FlavorId>,
    #[serde(default)]
    pub original_name: Option<String>,
    #[serde(default)]
    pub vcpus: Option<u32>,
    #[serde(default)]
    pub ram: Option<u64>,
    #[serde(default)]
    pub disk: Option<u64>,
    #[serde(default)]
    pub ephemeral: Option<u64>,
    #[serde(default)]
    pub swap: Option<u64>,
    #[serde(default)]
    pub extra_specs: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ServerAddress {
    pub addr: String,
    #[serde(default)]
    pub version: Option<u8>,
    #[serde(default, rename = "OS-EXT-IPS:type")]
    pub kind: Option<String>,
    #[serde(default, rename = "OS-EXT-IPS-MAC:mac_addr")]
    pub mac_addr: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct NamedRef {
    pub name: String,
}

/// A server's `fault`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Fault {
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
}

/// A network for a new server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerNetwork {
    Network(NetworkId),
    Port(PortId),
}

/// What `POST /servers` needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerCreate {
    pub name: String,
    pub image: Option<ImageId>,
    pub flavor: FlavorId,
    pub key_name: Option<String>,
    /// Empty means `"auto"` at 2.37+ (and nothing before).
    pub networks: Vec<ServerNetwork>,
    pub security_groups: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub availability_zone: Option<String>,
}

impl Default for FlavorId {
    fn default() -> FlavorId {
        FlavorId::new("")
    }
}

/// Filters for `GET /servers/detail`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerQuery {
    /// Exactly this name (sent as the anchored, escaped regex Nova expects).
    pub name: Option<String>,
    pub status: Option<String>,
    /// All of these tags (2.26+).
    pub tags: Vec<String>,
    /// Page size.
    pub limit: Option<u32>,
}

/// A Nova security group as `GET /servers/{id}/os-security-groups` shows it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ServerSecurityGroup {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Flavor {
    pub id: FlavorId,
    pub name: String,
    pub ram: u64,
    pub vcpus: u32,
    pub disk: u64,
    #[serde(default, rename = "OS-FLV-EXT-DATA:ephemeral")]
    pub ephemeral: u64,
    /// Older microversions show no swap as `""`.
    #[serde(default, deserialize_with = "swap_mb")]
    pub swap: u64,
    #[serde(default)]
    pub rxtx_factor: Option<f64>,
    #[serde(default = "yes", rename = "os-flavor-access:is_public")]
    pub is_public: bool,
    #[serde(default, rename = "OS-FLV-DISABLED:disabled")]
    pub disabled: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub extra_specs: Option<BTreeMap<String, String>>,
}

fn yes() -> bool {
    true
}

fn swap_mb<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    })
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Keypair {
    pub name: String,
    #[serde(default)]
    pub public_key: String,
    #[serde(default)]
    pub fingerprint: String,
    /// `ssh` or `x509` (2.2+).
    #[serde(default, rename = "type")]
    pub key_type: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    /// Only when Nova generated the key (before 2.92); never logged.
    #[serde(default, skip_serializing)]
    pub private_key: Option<super::types::Secret>,
}

/// One project's usage over a period (simple-tenant-usage).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct TenantUsage {
    pub tenant_id: String,
    #[serde(default)]
    pub total_hours: f64,
    #[serde(default)]
    pub total_local_gb_usage: f64,
    #[serde(default)]
    pub total_memory_mb_usage: f64,
    #[serde(default)]
    pub total_vcpus_usage: f64,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub stop: Option<String>,
    #[serde(default)]
    pub server_usages: Vec<ServerUsage>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ServerUsage {
    #[serde(default)]
    pub instance_id: Option<ServerId>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub hours: f64,
    #[serde(default)]
    pub flavor: Option<String>,
    #[serde(default)]
    pub vcpus: u32,
    #[serde(default)]
    pub memory_mb: u64,
    #[serde(default)]
    pub local_gb: u64,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub uptime: u64,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

impl TenantUsage {
    /// Add another page's figures for the same project.
    fn absorb(&mut self, other: TenantUsage) {
        self.total_hours += other.total_hours;
        self.total_local_gb_usage += other.total_local_gb_usage;
        self.total_memory_mb_usage += other.total_memory_mb_usage;
        self.total_vcpus_usage += other.total_vcpus_usage;
        self.server_usages.extend(other.server_usages);
    }
}

/// `GET /limits`: the absolute limits (`maxTotalCores`, `totalCoresUsed`, ...).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Limits {
    pub absolute: BTreeMap<String, i64>,
}

// ---------- pure request builders ----------

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

    fn at_least(&self, mv: Microversion) -> bool {
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
        self.versioned(
            ApiRequest::json(
                Method::POST,
                self.url(&["servers"], &[]),
                json!({ "server": server }),
            ),
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

// ---------- calls ----------

#[derive(Deserialize)]
struct ServersPage {
    servers: Vec<Server>,
    #[serde(default)]
    servers_links: Vec<Link>,
}

#[derive(Deserialize)]
struct ServerBody {
    server: Server,
}

#[derive(Deserialize)]
struct CreatedServer {
    server: CreatedServerId,
}

#[derive(Deserialize)]
struct CreatedServerId {
    id: ServerId,
}

#[derive(Deserialize)]
struct SecurityGroupsBody {
    security_groups: Vec<ServerSecurityGroup>,
}

#[derive(Deserialize)]
struct FlavorsPage {
    flavors: Vec<Flavor>,
    #[serde(default)]
    flavors_links: Vec<Link>,
}

#[derive(Deserialize)]
struct FlavorBody {
    flavor: Flavor,
}

#[derive(Deserialize)]
struct KeypairsPage {
    keypairs: Vec<KeypairWrap>,
    #[serde(default)]
    keypairs_links: Vec<Link>,
}

#[derive(Deserialize)]
struct KeypairWrap {
    keypair: Keypair,
}

#[derive(Deserialize)]
struct UsagesPage {
    tenant_usages: Vec<TenantUsage>,
    #[serde(default)]
    tenant_usages_links: Vec<Link>,
}

#[derive(Deserialize)]
struct UsagePage {
    tenant_usage: Option<TenantUsageOrEmpty>,
    #[serde(default)]
    tenant_usage_links: Vec<Link>,
}

/// A project with no usage is shown as `{"tenant_usage": {}}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum TenantUsageOrEmpty {
    Usage(TenantUsage),
    Empty(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct LimitsBody {
    limits: Limits,
}

#[derive(Deserialize)]
struct CreateImageBody {
    image_id: ImageId,
}

/// A page of results: the items and the query of the next page.
pub(crate) async fn paged<T, P, F>(
    session: &Session,
    service: Service,
    first: ApiRequest,
    split: F,
) -> Result<Vec<T>>
where
    P: serde::de::DeserializeOwned,
    F: Fn(P) -> (Vec<T>, Option<String>),
{
    let mut out = Vec::new();
    let mut req = first;
    // A cloud that keeps returning the same next link must not loop forever.
    let mut seen = std::collections::HashSet::new();
    loop {
        let page: P = session.send_json(service, req.clone()).await?;
        let (items, next) = split(page);
        let got = items.len();
        out.extend(items);
        match next {
            Some(link) if got > 0 && seen.insert(link.clone()) => {
                req.url = with_query(&req.url, &next_query(&link));
            }
            _ => return Ok(out),
        }
    }
}

impl Compute {
    /// Resolve the compute endpoint (catalog, override, version discovery) and negotiate the
    /// microversion; cached in the session.
    pub async fn new(session: &Session) -> Result<Compute> {
        let ep = session
            .endpoints()
            .compute
            .get_or_try_init(|| discover(session))
            .await?
            .clone();
        Ok(Compute {
            session: session.clone(),
            ep,
        })
    }

    /// A handle over a known endpoint (no discovery).
    pub fn with_endpoint(session: &Session, ep: ComputeEndpoint) -> Compute {
        Compute {
            session: session.clone(),
            ep,
        }
    }

    pub fn endpoint(&self) -> &ComputeEndpoint {
        &self.ep
    }

    pub fn microversion(&self) -> Option<Microversion> {
        self.ep.microversion
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// All servers matching `q` (every page).
    pub async fn list_servers(&self, q: &ServerQuery) -> Result<Vec<Server>> {
        paged(
            &self.session,
            Service::Compute,
            self.ep.list_servers_request(q),
            |p: ServersPage| (p.servers, next_link(&p.servers_links).map(str::to_string)),
        )
        .await
    }

    /// The server, or `None` if it does not exist.
    pub async fn get_server(&self, id: &ServerId) -> Result<Option<Server>> {
        let b: Option<ServerBody> = self
            .session
            .send_json_opt(Service::Compute, self.ep.get_server_request(id))
            .await?;
        Ok(b.map(|b| b.server))
    }

    /// Create a server; returns its id (it is still BUILD: see [`Compute::wait_for_server`]).
    /// Tags are sent on create from 2.52, or set right after from 2.26.
    pub async fn create_server(&self, s: &ServerCreate) -> Result<ServerId> {
        let created: CreatedServer = self
            .session
            .send_json(Service::Compute, self.ep.create_server_request(s))
            .await?;
        let id = created.server.id;
        if !s.tags.is_empty() && self.ep.at_least(MV_TAGS) && !self.ep.at_least(MV_TAGS_ON_CREATE) {
            self.session
                .send_empty(
                    Service::Compute,
                    self.ep.set_server_tags_request(&id, &s.tags),
                )
                .await?;
        }
        Ok(id)
    }

    /// Delete a server; `false` if it was already gone.
    pub async fn delete_server(&self, id: &ServerId) -> Result<bool> {
        gone_is_false(
            self.session
                .send_empty(Service::Compute, self.ep.delete_server_request(id))
                .await,
        )
    }

    /// Poll until the server has `status` (e.g. `ACTIVE`, `SHUTOFF`). ERROR fails with the
    /// server's fault; a vanished server fails too.
    pub async fn wait_for_server(
        &self,
        id: &ServerId,
        status: &str,
        timeout: Duration,
    ) -> Result<Server> {
        let what = format!("server {id}");
        wait_for(
            self.session.name(),
            &what,
            timeout,
            poll_interval(timeout),
            || async {
                match self.get_server(id).await? {
                    None => Err(Error::Failed {
                        cloud: self.session.name().to_string(),
                        what: what.clone(),
                        status: "deleted".into(),
                        message: format!("the server disappeared while waiting for {status}"),
                    }),
                    Some(s) if s.status.eq_ignore_ascii_case(status) => Ok(Poll::Ready(s)),
                    Some(s) if s.status.eq_ignore_ascii_case("ERROR") => Err(Error::Failed {
                        cloud: self.session.name().to_string(),
                        what: what.clone(),
                        status: s.status.clone(),
                        message: s
                            .fault
                            .as_ref()
                            .map(|f| match f.code {
                                Some(c) => format!("{} (fault code {c})", f.message),
                                None => f.message.clone(),
                            })
                            .unwrap_or_else(|| "no fault recorded".into()),
                    }),
                    Some(s) => Ok(Poll::Pending(format!(
                        "status {}{}",
                        s.status,
                        s.task_state
                            .map(|t| format!(", task {t}"))
                            .unwrap_or_default()
                    ))),
                }
            },
        )
        .await
    }

    /// Poll until the server is gone (404 or DELETED).
    pub async fn wait_for_server_deleted(&self, id: &ServerId, timeout: Duration) -> Result<()> {
        let what = format!("deletion of server {id}");
        wait_for(
            self.session.name(),
            &what,
            timeout,
            poll_interval(timeout),
            || async {
                match self.get_server(id).await? {
                    None => Ok(Poll::Ready(())),
                    Some(s) if s.status.eq_ignore_ascii_case("DELETED") => Ok(Poll::Ready(())),
                    Some(s) => Ok(Poll::Pending(format!("status {}", s.status))),
                }
            },
        )
        .await
    }

    /// `createImage`: snapshot the server; returns the new image's id (from the body at 2.45+,
    /// from the `Location` header before).
    pub async fn create_image(
        &self,
        id: &ServerId,
        name: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<ImageId> {
        let req = self.ep.create_image_request(id, name, metadata);
        let (method, url) = (req.method.to_string(), req.url.to_string());
        let resp = self
            .session
            .send(Service::Compute, req, SendOpts::default())
            .await?;
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.session.transport(Service::Compute, &method, &url, e))?;
        let decode = |message: String| Error::Decode {
            cloud: self.session.name().to_string(),
            service: Service::Compute,
            method: method.clone(),
            url: url.clone(),
            message,
        };
        if self.ep.at_least(MV_CREATE_IMAGE_BODY) {
            let b: CreateImageBody =
                serde_json::from_slice(&body).map_err(|e| decode(e.to_string()))?;
            Ok(b.image_id)
        } else {
            location
                .as_deref()
                .and_then(image_id_from_location)
                .ok_or_else(|| decode("createImage answered without a Location header".into()))
        }
    }

    pub async fn server_security_groups(&self, id: &ServerId) -> Result<Vec<ServerSecurityGroup>> {
        let b: SecurityGroupsBody = self
            .session
            .send_json(Service::Compute, self.ep.server_security_groups_request(id))
            .await?;
        Ok(b.security_groups)
    }

    pub async fn list_flavors(&self) -> Result<Vec<Flavor>> {
        paged(
            &self.session,
            Service::Compute,
            self.ep.list_flavors_request(),
            |p: FlavorsPage| (p.flavors, next_link(&p.flavors_links).map(str::to_string)),
        )
        .await
    }

    pub async fn get_flavor(&self, id: &FlavorId) -> Result<Option<Flavor>> {
        let b: Option<FlavorBody> = self
            .session
            .send_json_opt(Service::Compute, self.ep.get_flavor_request(id))
            .await?;
        Ok(b.map(|b| b.flavor))
    }

    pub async fn list_keypairs(&self) -> Result<Vec<Keypair>> {
        paged(
            &self.session,
            Service::Compute,
            self.ep.list_keypairs_request(),
            |p: KeypairsPage| {
                (
                    p.keypairs.into_iter().map(|k| k.keypair).collect(),
                    next_link(&p.keypairs_links).map(str::to_string),
                )
            },
        )
        .await
    }

    pub async fn get_keypair(&self, name: &str) -> Result<Option<Keypair>> {
        let b: Option<KeypairWrap> = self
            .session
            .send_json_opt(Service::Compute, self.ep.get_keypair_request(name))
            .await?;
        Ok(b.map(|b| b.keypair))
    }

    /// Import a public key as keypair `name`.
    pub async fn import_keypair(
        &self,
        name: &str,
        public_key: &str,
        key_type: Option<&str>,
    ) -> Result<Keypair> {
        let b: KeypairWrap = self
            .session
            .send_json(
                Service::Compute,
                self.ep
                    .create_keypair_request(name, Some(public_key), key_type),
            )
            .await?;
        Ok(b.keypair)
    }

    /// Have Nova generate keypair `name` (the private key is in the answer, once). Clouds
    /// whose minimum microversion is above 2.91 cannot do this.
    pub async fn create_keypair(&self, name: &str, key_type: Option<&str>) -> Result<Keypair> {
        if let Some((min, _)) = self.ep.range
            && min > MV_KEYPAIR_GENERATE_LAST
        {
            return Err(Error::Unsupported {
                cloud: self.session.name().to_string(),
                message: format!(
                    "this cloud cannot generate keypairs (minimum microversion {min}); import a public key instead"
                ),
            });
        }
        let b: KeypairWrap = self
            .session
            .send_json(
                Service::Compute,
                self.ep.create_keypair_request(name, None, key_type),
            )
            .await?;
        Ok(b.keypair)
    }

    pub async fn delete_keypair(&self, name: &str) -> Result<bool> {
        gone_is_false(
            self.session
                .send_empty(Service::Compute, self.ep.delete_keypair_request(name))
                .await,
        )
    }

    /// Usage of every project over [start, end), all pages merged per project.
    pub async fn usage_all(
        &self,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Result<Vec<TenantUsage>> {
        let pages = paged(
            &self.session,
            Service::Compute,
            self.ep.usage_request(None, start, end),
            |p: UsagesPage| {
                (
                    p.tenant_usages,
                    next_link(&p.tenant_usages_links).map(str::to_string),
                )
            },
        )
        .await?;
        let mut merged: Vec<TenantUsage> = Vec::new();
        for u in pages {
            match merged.iter_mut().find(|m| m.tenant_id == u.tenant_id) {
                Some(m) => m.absorb(u),
                None => merged.push(u),
            }
        }
        Ok(merged)
    }

    /// Usage of one project over [start, end), all pages merged; `None` if it had none.
    pub async fn usage_project(
        &self,
        project_id: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Result<Option<TenantUsage>> {
        let pages = paged(
            &self.session,
            Service::Compute,
            self.ep.usage_request(Some(project_id), start, end),
            |p: UsagePage| {
                let items = match p.tenant_usage {
                    Some(TenantUsageOrEmpty::Usage(u)) => vec![u],
                    _ => Vec::new(),
                };
                (items, next_link(&p.tenant_usage_links).map(str::to_string))
            },
        )
        .await?;
        let mut iter = pages.into_iter();
        let Some(mut first) = iter.next() else {
            return Ok(None);
        };
        for u in iter {
            first.absorb(u);
        }
        Ok(Some(first))
    }

    pub async fn limits(&self) -> Result<Limits> {
        let b: LimitsBody = self
            .session
            .send_json(Service::Compute, self.ep.limits_request())
            .await?;
        Ok(b.limits)
    }
}

pub(crate) fn gone_is_false<T>(r: Result<T>) -> Result<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Poll every 2 s for short waits, up to every 5 s for long ones.
pub(crate) fn poll_interval(timeout: Duration) -> Duration {
    (timeout / 60).clamp(Duration::from_millis(500), Duration::from_secs(5))
}

/// Find the compute endpoint and its microversion range.
async fn discover(session: &Session) -> Result<ComputeEndpoint> {
    let cloud = session.name().to_string();
    let raw = session.catalog_url(Service::Compute).await?;
    let url = Url::parse(&raw).map_err(|e| Error::Catalog {
        cloud: cloud.clone(),
        message: format!("compute endpoint {raw:?} is not a URL: {e}"),
    })?;
    let opts = SendOpts {
        accept: Some(300),
        ..SendOpts::default()
    };
    let parse = |v: Option<String>| v.and_then(|m| m.parse::<Microversion>().ok());
    let (base, min, max) = match compute_version_root(&url) {
        Some(root) => {
            let doc: Result<Value> = session
                .send_json_opts(Service::Compute, ApiRequest::get(root.clone()), opts)
                .await;
            let doc = match doc {
                Ok(d) => Some(d),
                Err(Error::Api { .. }) | Err(Error::Decode { .. }) => {
                    // Some deployments only answer under `root/`.
                    let mut slash = root.clone();
                    slash.set_path(&format!("{}/", root.path()));
                    session
                        .send_json_opts::<Value>(Service::Compute, ApiRequest::get(slash), opts)
                        .await
                        .ok()
                }
                Err(e) => return Err(e),
            };
            let v = doc.and_then(|d| super::auth::discovery_versions(&d).into_iter().next());
            match v {
                Some(v) => (url, parse(v.min_microversion), parse(v.max_microversion)),
                None => (url, None, None),
            }
        }
        None => {
            let doc: Value = session
                .send_json_opts(Service::Compute, ApiRequest::get(url.clone()), opts)
                .await?;
            let versions = super::auth::discovery_versions(&doc);
            let pick = versions
                .iter()
                .find(|v| v.id == "v2.1")
                .or_else(|| versions.iter().find(|v| v.id.starts_with("v2")))
                .ok_or_else(|| Error::Unsupported {
                    cloud: cloud.clone(),
                    message: format!("the compute endpoint {url} offers no v2 API"),
                })?;
            let base = super::auth::rebase(url.as_str(), pick.self_href.as_deref(), &pick.id);
            let base = Url::parse(&base).map_err(|e| Error::Catalog {
                cloud: cloud.clone(),
                message: format!("compute endpoint {base:?}: {e}"),
            })?;
            (
                base,
                parse(pick.min_microversion.clone()),
                parse(pick.max_microversion.clone()),
            )
        }
    };
    let microversion = negotiate(min, max).map_err(|m| Error::Unsupported {
        cloud: cloud.clone(),
        message: m,
    })?;
    tracing::debug!(cloud = %cloud, base = %base, ?min, ?max, ?microversion, "compute endpoint");
    Ok(ComputeEndpoint {
        base,
        microversion,
        range: min.zip(max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let super::super::request::ReqBody::Json(b) = &r.body else {
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
        let super::super::request::ReqBody::Json(b) = &r.body else {
            panic!("json body")
        };
        assert!(b["server"].get("tags").is_none());
        assert!(b["server"].get("networks").is_none());
        let r = ep(Some("2.40")).create_server_request(&s);
        let super::super::request::ReqBody::Json(b) = &r.body else {
            panic!("json body")
        };
        assert_eq!(b["server"]["networks"], "auto");
        // No microversion: no header.
        let r = ep(None).get_server_request(&ServerId::from("x"));
        assert!(r.header_str("x-openstack-nova-api-version").is_none());
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
        let super::super::request::ReqBody::Json(b) = &r.body else {
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
