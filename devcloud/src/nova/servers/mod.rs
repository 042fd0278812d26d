//! Nova servers: list/detail (filters, paging), get, create (BUILD -> ACTIVE or ERROR after
//! the configured delay, ports from Neutron), delete, `createImage` (snapshot into Glance
//! with the task_state sequence), and a server's `os-security-groups`. The server body
//! follows the requested microversion. Knows Neutron and Glance only through their methods.
//!
//! Here: the server record and body, the routes, list/detail/show, update, delete and
//! `os-security-groups`; `boot.rs` has create (parsing, checks, ports, the build), `actions.rs`
//! the server actions (`createImage`, stop/start/reboot), `tags.rs` the 2.26+ tags API.

mod actions;
mod boot;
mod metadata;
mod request;
mod tags;
pub(crate) mod volumes;

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Microversion, links, nova_time, py_isoformat};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};
use crate::imagedata::Content;
use crate::neutron::Addresses;

use actions::action;
use boot::create;
pub use boot::{boot, make_active};
pub use request::{BootRequest, Nic, parse_boot_body};
use tags::{add_tag, check_tag, delete_tag, delete_tags, list_tags, replace_tags};
/// A server.
#[derive(Debug, Clone)]
pub struct Server {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Owner project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// Flavor id.
    pub flavor_id: String,
    /// Image booted from.
    pub image_id: Option<String>,
    /// Keypair name.
    pub key_name: Option<String>,
    /// The keypair's public key at boot.
    pub key_data: Option<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Description.
    pub description: Option<String>,
    /// `building`, `active`, `error`, `deleted`.
    pub vm_state: String,
    /// Task state.
    pub task_state: Option<String>,
    /// Fault of an ERROR server.
    pub fault: Option<(u16, String, OffsetDateTime)>,
    /// Created.
    pub created: OffsetDateTime,
    /// Updated.
    pub updated: OffsetDateTime,
    /// Launched (ACTIVE).
    pub launched_at: Option<OffsetDateTime>,
    /// Terminated.
    pub terminated_at: Option<OffsetDateTime>,
    /// The disk's bytes.
    pub disk: Content,
    /// Availability zone.
    pub availability_zone: String,
    /// The availability zone the boot asked for (2.96's `pinned_availability_zone`).
    pub requested_zone: Option<String>,
    /// Nova's instance system metadata that snapshots inherit: the base image's properties and
    /// its `min_ram`/`min_disk`/formats as `image_<key>` (`image_base_image_ref` too), and the
    /// booting user's `owner_user_name`, `owner_project_name`, `boot_roles`.
    pub system_metadata: BTreeMap<String, String>,
    /// Whether the server has a config drive.
    pub config_drive: bool,
    /// The hostname (2.90+ sets it; else the sanitized name).
    pub hostname: String,
    /// The user data, base64, as sent.
    pub user_data: Option<String>,
    /// The server group the boot named in its scheduler hints.
    pub server_group: Option<String>,
    /// Its volumes (block device mappings of destination `volume`), root first.
    pub volumes: Vec<volumes::ServerVolume>,
}

impl Server {
    /// Whether it boots from a volume (no image, a root volume).
    pub fn volume_backed(&self) -> bool {
        self.image_id.is_none() && self.volumes.iter().any(|v| v.boot_index == Some(0))
    }
}

impl Server {
    /// Nova's `status` for the vm/task state.
    pub fn status(&self) -> &'static str {
        match self.vm_state.as_str() {
            "building" => "BUILD",
            "active" => "ACTIVE",
            "error" => "ERROR",
            "deleted" => "DELETED",
            "stopped" => "SHUTOFF",
            _ => "UNKNOWN",
        }
    }

    fn power_state(&self) -> u8 {
        match self.vm_state.as_str() {
            "active" => 1,
            "stopped" => 4,
            _ => 0,
        }
    }
}

pub(super) fn routes() -> Router<SharedCloud> {
    Router::new()
        .route("/servers", get(list).post(create))
        .route("/servers/detail", get(detail))
        .route("/servers/{id}", get(show).put(update).delete(delete))
        .route("/servers/{id}/action", post(action))
        .route("/servers/{id}/os-security-groups", get(security_groups))
        .route(
            "/servers/{id}/tags",
            get(list_tags).put(replace_tags).delete(delete_tags),
        )
        .route(
            "/servers/{id}/tags/{tag}",
            get(check_tag).put(add_tag).delete(delete_tag),
        )
        .merge(metadata::routes())
        .merge(volumes::routes())
}

fn not_found(id: &str) -> ApiError {
    ApiError::nova(
        StatusCode::NOT_FOUND,
        format!("Instance {id} could not be found."),
    )
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::nova(StatusCode::BAD_REQUEST, msg)
}

fn host_id(project_id: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha224::digest(
        format!("{project_id}devcloud-compute").as_bytes(),
    ))
}

/// A server's body: its fields but `addresses`, and the addresses, which keep their NIC
/// order when serialized (a `serde_json::Value` would sort their keys by network name, so
/// the body goes to the HTTP answer as this, never through a `Value`).
#[derive(Debug, Clone)]
pub struct ServerView {
    /// Every field but `addresses` (an object).
    pub fields: Value,
    /// `addresses`, in NIC order.
    pub addresses: Addresses,
}

impl serde::Serialize for ServerView {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let empty = serde_json::Map::new();
        let fields = self.fields.as_object().unwrap_or(&empty);
        let mut map = serializer.serialize_map(Some(fields.len() + 1))?;
        // The other keys in the order they always had (sorted), `addresses` in its place.
        let mut pending = true;
        for (k, v) in fields {
            if pending && k.as_str() > "addresses" {
                map.serialize_entry("addresses", &self.addresses)?;
                pending = false;
            }
            map.serialize_entry(k, v)?;
        }
        if pending {
            map.serialize_entry("addresses", &self.addresses)?;
        }
        map.end()
    }
}

/// `{"server": ...}`.
#[derive(serde::Serialize)]
struct OneServer {
    server: ServerView,
}

/// `{"servers": [...], "servers_links": ...}`.
#[derive(serde::Serialize)]
struct ServerList {
    servers: Vec<ServerView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    servers_links: Option<Value>,
}

/// The full server body for `mv`.
pub fn server_json(cloud: &Cloud, s: &Server, mv: Microversion, auth: &Auth) -> ServerView {
    let (flavor, image_ref) = {
        let st = cloud.nova.lock();
        (st.flavors.get(&s.flavor_id).cloned(), s.image_id.clone())
    };
    let flavor_json = if mv.at_least(47) {
        match &flavor {
            Some(f) => {
                let mut v = json!({"vcpus": f.vcpus, "ram": f.ram, "disk": f.disk, "ephemeral": f.ephemeral,
                    "swap": f.swap, "original_name": f.name});
                if mv.at_least(47) {
                    v["extra_specs"] = json!(f.extra_specs);
                }
                v
            }
            None => json!({}),
        }
    } else {
        json!({"id": s.flavor_id, "links": [{"href": format!("{}/compute/flavors/{}", cloud.base_url, s.flavor_id), "rel": "bookmark"}]})
    };
    let image_json = match &image_ref {
        Some(id) => {
            json!({"id": id, "links": [{"href": format!("{}/compute/images/{id}", cloud.base_url), "rel": "bookmark"}]})
        }
        None => json!(""),
    };
    let groups: Vec<Value> = cloud
        .neutron
        .device_groups(&s.id)
        .iter()
        .map(|g| json!({"name": g.name}))
        .collect();
    let mut v = json!({
        "id": s.id,
        "name": s.name,
        "status": s.status(),
        "tenant_id": s.project_id,
        "user_id": s.user_id,
        "metadata": s.metadata,
        "hostId": if s.vm_state == "active" { host_id(&s.project_id) } else { String::new() },
        "image": image_json,
        "flavor": flavor_json,
        "created": nova_time(s.created),
        "updated": nova_time(s.updated),
        "accessIPv4": "",
        "accessIPv6": "",
        "links": links(cloud, &format!("servers/{}", s.id)),
        "key_name": s.key_name,
        "config_drive": if s.config_drive { "True" } else { "" },
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": if s.vm_state == "building" { "".to_string() } else { s.availability_zone.clone() },
        "OS-EXT-STS:power_state": s.power_state(),
        "OS-EXT-STS:task_state": s.task_state,
        "OS-EXT-STS:vm_state": s.vm_state,
        "OS-SRV-USG:launched_at": s.launched_at.map(py_isoformat),
        "OS-SRV-USG:terminated_at": s.terminated_at.map(py_isoformat),
        "os-extended-volumes:volumes_attached": volumes::volumes_attached(&s.volumes, mv),
    });
    if !groups.is_empty() {
        v["security_groups"] = Value::Array(groups);
    }
    // Nova shows `progress` only in these states (`_progress_statuses`).
    if matches!(s.status(), "ACTIVE" | "BUILD") {
        v["progress"] = json!(0);
    }
    if auth.is_admin {
        v["OS-EXT-SRV-ATTR:host"] = json!("devcloud-compute");
        v["OS-EXT-SRV-ATTR:hypervisor_hostname"] = json!("devcloud-compute");
        v["OS-EXT-SRV-ATTR:instance_name"] = json!(format!("instance-{}", &s.id[..8]));
    }
    if mv.at_least(3) && auth.is_admin {
        v["OS-EXT-SRV-ATTR:reservation_id"] = json!(format!("r-{}", &s.id[..8]));
        v["OS-EXT-SRV-ATTR:launch_index"] = json!(0);
        v["OS-EXT-SRV-ATTR:kernel_id"] = json!("");
        v["OS-EXT-SRV-ATTR:ramdisk_id"] = json!("");
        v["OS-EXT-SRV-ATTR:root_device_name"] = json!("/dev/vda");
        v["OS-EXT-SRV-ATTR:user_data"] = json!(s.user_data);
    }
    // Admins see the hostname from 2.3 (extended attributes), everyone from 2.90.
    if (mv.at_least(3) && auth.is_admin) || mv.at_least(90) {
        v["OS-EXT-SRV-ATTR:hostname"] = json!(s.hostname);
    }
    if mv.at_least(9) {
        v["locked"] = json!(false);
    }
    if mv.at_least(16) && auth.is_admin {
        v["host_status"] = json!(if s.vm_state == "active" { "UP" } else { "" });
    }
    if mv.at_least(19) {
        v["description"] = json!(s.description);
    }
    if mv.at_least(26) {
        v["tags"] = json!(s.tags);
    }
    if mv.at_least(63) {
        v["trusted_image_certificates"] = Value::Null;
    }
    if mv.at_least(73) {
        v["locked_reason"] = Value::Null;
    }
    if mv.at_least(96) {
        v["pinned_availability_zone"] = json!(s.requested_zone);
    }
    if let Some((code, message, created)) = &s.fault {
        let mut f = json!({"code": code, "message": message, "created": nova_time(*created)});
        if auth.is_admin {
            f["details"] = json!(format!("devcloud: {message}"));
        }
        v["fault"] = f;
    }
    ServerView {
        fields: v,
        addresses: cloud.neutron.server_addresses(&s.id),
    }
}

// ---------------------------------------------------------------- list

fn visible(auth: &Auth, s: &Server) -> bool {
    auth.is_admin || s.project_id == auth.project_id
}

fn list_servers(
    cloud: &Cloud,
    auth: &Auth,
    q: &[(String, String)],
) -> Result<(Vec<Server>, Option<String>), ApiError> {
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let all_tenants = get("all_tenants").is_some_and(|v| !matches!(v, "0" | "false" | "False"));
    if all_tenants && !auth.is_admin {
        return Err(super::policy_forbidden(
            "os_compute_api:servers:index:get_all_tenants",
        ));
    }
    let project = match get("project_id").or(get("tenant_id")) {
        Some(p) if auth.is_admin && all_tenants => Some(p.to_string()),
        _ if all_tenants => None,
        _ => Some(auth.project_id.clone()),
    };
    let name_re = match get("name") {
        Some(n) => Some(
            regex::Regex::new(n)
                .map_err(|_| bad(format!("Invalid regular expression in name filter: {n}")))?,
        ),
        None => None,
    };
    let status = get("status").map(str::to_ascii_uppercase);
    // Deleted servers show up only with `changes-since` (or `deleted=true` for admins), as in nova.
    let with_deleted = get("changes-since").is_some()
        || (auth.is_admin && get("deleted").is_some_and(|d| d == "true" || d == "True"));
    let st = cloud.nova.lock();
    let mut list: Vec<Server> = st
        .servers
        .values()
        .chain(st.deleted.values().filter(|_| with_deleted))
        .filter(|s| project.as_ref().is_none_or(|p| s.project_id == *p))
        .filter(|s| name_re.as_ref().is_none_or(|re| re.is_match(&s.name)))
        .filter(|s| status.as_ref().is_none_or(|st| s.status() == st))
        .filter(|s| get("image").is_none_or(|i| s.image_id.as_deref() == Some(i)))
        .filter(|s| get("flavor").is_none_or(|f| s.flavor_id == f))
        .filter(|s| get("key_name").is_none_or(|k| s.key_name.as_deref() == Some(k)))
        .filter(|s| get("tags").is_none_or(|t| t.split(',').all(|t| s.tags.iter().any(|x| x == t))))
        .cloned()
        .collect();
    drop(st);
    if let Some(since) = get("changes-since") {
        let t = crate::clock::parse_time(since).ok_or_else(|| {
            bad(format!(
                "Invalid input for query parameters changes-since. Value: {since}."
            ))
        })?;
        list.retain(|s| s.updated >= t);
    }
    if let Some(ip) = get("ip") {
        let re = regex::Regex::new(ip).map_err(|_| bad("Invalid ip filter"))?;
        list.retain(|s| {
            cloud
                .neutron
                .device_ports(&s.id)
                .iter()
                .any(|p| p.fixed_ips.iter().any(|(_, a)| re.is_match(&a.to_string())))
        });
    }
    // Nova's default order: created_at desc, then id desc.
    list.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
    if let Some(marker) = get("marker") {
        let pos = list
            .iter()
            .position(|s| s.id == marker)
            .ok_or_else(|| bad(format!("marker [{marker}] not found")))?;
        list.drain(..=pos);
    }
    // Nova's page: `limit` capped at `[api] max_limit`, which is also the size of a page
    // without `limit`; a full page gets a next link (the last one too, as nova).
    let asked = match get("limit") {
        Some(limit) => Some(limit.parse::<usize>().map_err(|_| {
            bad(format!(
                "Invalid input for query parameters limit. Value: {limit}."
            ))
        })?),
        None => None,
    };
    let limit = cloud.faults.get().nova_limit(asked);
    list.truncate(limit);
    let next = if limit > 0 && list.len() == limit {
        list.last().map(|s| s.id.clone())
    } else {
        None
    };
    Ok((list, next))
}

/// Nova's `_get_next_link`: the request's query sorted by key (webob's `params`, the last value
/// of a repeated key), `marker` set to the last item, url-encoded.
fn next_link(
    cloud: &Cloud,
    path: &str,
    q: &[(String, String)],
    marker: Option<String>,
) -> Option<Value> {
    let marker = marker?;
    let mut params: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for (k, v) in q {
        params.insert(k, v);
    }
    params.insert("marker", &marker);
    let query = crate::error::urlencode(params);
    Some(
        json!([{"href": format!("{}/compute/v2.1/{path}?{query}", cloud.base_url), "rel": "next"}]),
    )
}

type Q = Query<Vec<(String, String)>>;

async fn list(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Query(q): Q,
) -> Result<Json<Value>, ApiError> {
    let (servers, next) = list_servers(&cloud, &auth, &q)?;
    let items: Vec<Value> = servers
        .iter()
        .map(|s| json!({"id": s.id, "name": s.name, "links": links(&cloud, &format!("servers/{}", s.id))}))
        .collect();
    let mut body = json!({"servers": items});
    if let Some(l) = next_link(&cloud, "servers", &q, next) {
        body["servers_links"] = l;
    }
    Ok(Json(body))
}

async fn detail(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Query(q): Q,
) -> Result<Json<ServerList>, ApiError> {
    let (servers, next) = list_servers(&cloud, &auth, &q)?;
    let items: Vec<ServerView> = servers
        .iter()
        .map(|s| server_json(&cloud, s, mv, &auth))
        .collect();
    Ok(Json(ServerList {
        servers: items,
        servers_links: next_link(&cloud, "servers/detail", &q, next),
    }))
}

fn find(cloud: &Cloud, auth: &Auth, id: &str) -> Result<Server, ApiError> {
    cloud
        .nova
        .lock()
        .servers
        .get(id)
        .filter(|s| visible(auth, s))
        .cloned()
        .ok_or_else(|| not_found(id))
}

async fn show(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Json<OneServer>, ApiError> {
    let s = find(&cloud, &auth, &id)?;
    let mut v = server_json(&cloud, &s, mv, &auth);
    // From 2.71 a server's show (not its list entry) names its server groups.
    if mv.at_least(71) {
        v.fields["server_groups"] = json!(s.server_group.iter().collect::<Vec<_>>());
    }
    Ok(Json(OneServer { server: v }))
}

// ---------------------------------------------------------------- update

async fn update(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<OneServer>, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let u = body
        .get("server")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("Invalid input for field/attribute server. Value: None. None is not of type 'object'"))?;
    for key in u.keys() {
        let allowed = matches!(
            key.as_str(),
            "name" | "accessIPv4" | "accessIPv6" | "OS-DCF:diskConfig"
        ) || (key == "description" && mv.at_least(19))
            || (key == "hostname" && mv.at_least(90));
        if !allowed {
            return Err(bad(format!(
                "Invalid input for field/attribute server. Additional properties are not allowed ('{key}' was unexpected)"
            )));
        }
    }
    let server = {
        let mut st = cloud.nova.lock();
        let s = st
            .servers
            .get_mut(&id)
            .filter(|s| visible(&auth, s))
            .ok_or_else(|| not_found(&id))?;
        if let Some(v) = u.get("name") {
            let name = v
                .as_str()
                .filter(|n| !n.trim().is_empty() && n.len() <= 255)
                .ok_or_else(|| {
                    bad(format!(
                        "Invalid input for field/attribute name. Value: {v}."
                    ))
                })?;
            s.name = name.to_string();
        }
        if let Some(v) = u.get("description") {
            s.description = request::description(v)?;
        }
        if let Some(v) = u.get("hostname") {
            s.hostname = request::hostname(v, mv)?;
        }
        s.updated = cloud.clock.now();
        s.clone()
    };
    Ok(Json(OneServer {
        server: update_json(&cloud, &server, mv, &auth),
    }))
}

/// The server as nova's `update` answers it: before 2.75 without the addresses' extensions,
/// the zone, config drive, key, usage dates, security groups, extended status, volumes and
/// extended attributes (`show_all_attributes`); from 2.71 with `server_groups`.
fn update_json(cloud: &Cloud, s: &Server, mv: Microversion, auth: &Auth) -> ServerView {
    let mut v = server_json(cloud, s, mv, auth);
    if !mv.at_least(75)
        && let Value::Object(m) = &mut v.fields
    {
        m.retain(|k, _| {
            !(k.starts_with("OS-EXT-SRV-ATTR:")
                || k.starts_with("OS-EXT-STS:")
                || k.starts_with("OS-SRV-USG:")
                || matches!(
                    k.as_str(),
                    "OS-EXT-AZ:availability_zone"
                        | "config_drive"
                        | "key_name"
                        | "security_groups"
                        | "os-extended-volumes:volumes_attached"
                        | "host_status"
                ))
        });
        v.addresses.strip_extensions();
    }
    if mv.at_least(71) {
        v.fields["server_groups"] = json!(s.server_group.iter().collect::<Vec<_>>());
    }
    v
}

// ---------------------------------------------------------------- delete

async fn delete(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let now = cloud.clock.now();
    let mut st = cloud.nova.lock();
    let mut s = st
        .servers
        .get(&id)
        .filter(|s| visible(&auth, s))
        .cloned()
        .ok_or_else(|| not_found(&id))?;
    st.servers.remove(&id);
    s.vm_state = "deleted".into();
    s.task_state = None;
    s.terminated_at = Some(now);
    s.updated = now;
    let attached = std::mem::take(&mut s.volumes);
    st.deleted.insert(id.clone(), s);
    for g in st.server_groups.values_mut() {
        g.members.retain(|m| *m != id);
    }
    drop(st);
    cloud.neutron.delete_device_ports(&id);
    volumes::release(&cloud, &id, &attached);
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- os-security-groups

async fn security_groups(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let server = find(&cloud, &auth, &id)?;
    let groups = cloud.neutron.device_groups(&server.id);
    let all_names: BTreeMap<String, (String, String)> = cloud
        .neutron
        .lock()
        .security_groups
        .values()
        .map(|g| (g.id.clone(), (g.name.clone(), g.project_id.clone())))
        .collect();
    let out: Vec<Value> = groups
        .iter()
        .map(|g| {
            let rules: Vec<Value> = cloud
                .neutron
                .group_rules(&g.id)
                .iter()
                .filter(|r| r.spec.direction == "ingress")
                .map(|r| {
                    let group = match r.spec.remote_group_id.as_ref().and_then(|rg| all_names.get(rg)) {
                        Some((name, tenant)) => json!({"name": name, "tenant_id": tenant}),
                        None => json!({}),
                    };
                    // As nova's neutron translation: a remote group shows `group`, anything
                    // else an `ip_range` (no prefix = 0.0.0.0/0, whatever the ethertype).
                    let ip_range = match (&r.spec.remote_ip_prefix, &r.spec.remote_group_id) {
                        (_, Some(_)) => json!({}),
                        (Some(p), None) => json!({"cidr": p}),
                        (None, None) => json!({"cidr": "0.0.0.0/0"}),
                    };
                    let (from, to) = match (&r.spec.protocol, r.spec.port_range_min, r.spec.port_range_max) {
                        (Some(p), None, None) if p.eq_ignore_ascii_case("tcp") || p.eq_ignore_ascii_case("udp") => (json!(1), json!(65535)),
                        (Some(_), None, None) => (json!(-1), json!(-1)),
                        (_, a, b) => (json!(a), json!(b)),
                    };
                    json!({"id": r.id, "parent_group_id": g.id, "ip_protocol": r.spec.protocol,
                           "from_port": from, "to_port": to, "ip_range": ip_range, "group": group})
                })
                .collect();
            json!({"id": g.id, "name": g.name, "description": g.description, "tenant_id": g.project_id, "rules": rules})
        })
        .collect();
    Ok(Json(json!({"security_groups": out})))
}
