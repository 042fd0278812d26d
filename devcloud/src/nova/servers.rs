//! Nova servers: list/detail (filters, paging), get, create (BUILD -> ACTIVE or ERROR after
//! the configured delay, ports from Neutron), delete, `createImage` (snapshot into Glance
//! with the task_state sequence), and a server's `os-security-groups`. The server body
//! follows the requested microversion. Knows Neutron and Glance only through their methods.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::{Microversion, links, nova_time, py_isoformat};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};
use crate::imagedata::{Content, Format};

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

/// The full server body for `mv`.
pub fn server_json(cloud: &Cloud, s: &Server, mv: Microversion, auth: &Auth) -> Value {
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
        "addresses": Value::Object(cloud.neutron.server_addresses(&s.id)),
        "accessIPv4": "",
        "accessIPv6": "",
        "links": links(cloud, &format!("servers/{}", s.id)),
        "key_name": s.key_name,
        "config_drive": "",
        "progress": 0,
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": if s.vm_state == "building" { "".to_string() } else { s.availability_zone.clone() },
        "OS-EXT-STS:power_state": s.power_state(),
        "OS-EXT-STS:task_state": s.task_state,
        "OS-EXT-STS:vm_state": s.vm_state,
        "OS-SRV-USG:launched_at": s.launched_at.map(py_isoformat),
        "OS-SRV-USG:terminated_at": s.terminated_at.map(py_isoformat),
        "os-extended-volumes:volumes_attached": [],
    });
    if !groups.is_empty() {
        v["security_groups"] = Value::Array(groups);
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
        v["OS-EXT-SRV-ATTR:user_data"] = Value::Null;
    }
    if (mv.at_least(3) && auth.is_admin) || mv.at_least(90) {
        v["OS-EXT-SRV-ATTR:hostname"] = json!(
            s.name
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-")
        );
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
        v["pinned_availability_zone"] = Value::Null;
    }
    if let Some((code, message, created)) = &s.fault {
        let mut f = json!({"code": code, "message": message, "created": nova_time(*created)});
        if auth.is_admin {
            f["details"] = json!(format!("devcloud: {message}"));
        }
        v["fault"] = f;
    }
    v
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
    let mut next = None;
    if let Some(limit) = get("limit") {
        let limit: usize = limit.parse().map_err(|_| {
            bad(format!(
                "Invalid input for query parameters limit. Value: {limit}."
            ))
        })?;
        if list.len() > limit {
            list.truncate(limit);
        }
        if limit > 0 && list.len() == limit {
            next = list.last().map(|s| s.id.clone());
        }
    }
    Ok((list, next))
}

fn next_link(
    cloud: &Cloud,
    path: &str,
    q: &[(String, String)],
    marker: Option<String>,
) -> Option<Value> {
    let marker = marker?;
    let mut parts: Vec<String> = q
        .iter()
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    parts.push(format!("marker={marker}"));
    Some(
        json!([{"href": format!("{}/compute/v2.1/{path}?{}", cloud.base_url, parts.join("&")), "rel": "next"}]),
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
) -> Result<Json<Value>, ApiError> {
    let (servers, next) = list_servers(&cloud, &auth, &q)?;
    let items: Vec<Value> = servers
        .iter()
        .map(|s| server_json(&cloud, s, mv, &auth))
        .collect();
    let mut body = json!({"servers": items});
    if let Some(l) = next_link(&cloud, "servers/detail", &q, next) {
        body["servers_links"] = l;
    }
    Ok(Json(body))
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
) -> Result<Json<Value>, ApiError> {
    let s = find(&cloud, &auth, &id)?;
    let mut v = server_json(&cloud, &s, mv, &auth);
    // From 2.71 a server's show (not its list entry) names its server groups.
    if mv.at_least(71) {
        v["server_groups"] = json!([]);
    }
    Ok(Json(json!({"server": v})))
}

// ---------------------------------------------------------------- create

/// What a boot request asks for, validated.
pub struct BootRequest {
    /// Name.
    pub name: String,
    /// Flavor id.
    pub flavor_id: String,
    /// Image id.
    pub image_id: Option<String>,
    /// Keypair name.
    pub key_name: Option<String>,
    /// Network ids (with an optional fixed IP) to get a (Nova-made) port on.
    pub networks: Vec<(String, Option<std::net::IpAddr>)>,
    /// User-made ports to bind to the server.
    pub ports: Vec<String>,
    /// Security group names.
    pub security_groups: Vec<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Description.
    pub description: Option<String>,
    /// Disk content (seeding only; else from the image).
    pub disk: Option<Content>,
}

fn parse_boot(
    cloud: &Cloud,
    auth: &Auth,
    mv: Microversion,
    body: &Value,
) -> Result<BootRequest, ApiError> {
    let s = body.get("server").and_then(Value::as_object).ok_or_else(|| bad("Invalid input for field/attribute server. Value: None. 'server' is a required property"))?;
    let str_of = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_string);
    let name = str_of("name").ok_or_else(|| {
        bad("Invalid input for field/attribute server. 'name' is a required property")
    })?;
    if name.trim().is_empty() || name.len() > 255 {
        return Err(bad(format!(
            "Invalid input for field/attribute name. Value: {name}."
        )));
    }
    let flavor_ref = s
        .get("flavorRef")
        .map(|v| match v {
            Value::String(x) => x.clone(),
            other => other.to_string(),
        })
        .ok_or_else(|| {
            bad("Invalid input for field/attribute server. 'flavorRef' is a required property")
        })?;
    let flavor_id = flavor_ref
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    if !cloud.nova.lock().flavors.contains_key(&flavor_id) {
        return Err(bad(format!("Flavor {flavor_id} could not be found.")));
    }
    let image_id = match str_of("imageRef").filter(|i| !i.is_empty()) {
        Some(r) => {
            let id = r.rsplit('/').next().unwrap_or_default().to_string();
            let summary = cloud
                .glance
                .image_summary(&id)
                .ok_or_else(|| bad("Invalid imageRef provided."))?;
            if summary.visibility == "private" && summary.owner != auth.project_id && !auth.is_admin
            {
                return Err(bad("Invalid imageRef provided."));
            }
            if summary.status != "active" {
                return Err(bad(format!("Image {id} is not active.")));
            }
            check_flavor_fits(cloud, &flavor_id, &summary)?;
            Some(id)
        }
        None => {
            return Err(bad(
                "Block Device Mapping is Invalid: You specified more local devices than the limit allows",
            ));
        }
    };
    if let Some(az) = str_of("availability_zone").filter(|az| !az.is_empty() && az != "nova") {
        return Err(bad(format!(
            "The requested availability zone is not available: {az}"
        )));
    }
    if s.get("max_count")
        .and_then(Value::as_u64)
        .is_some_and(|n| n > 1)
    {
        return Err(bad(
            "devcloud boots one server per request: max_count above 1 is not supported",
        ));
    }
    let key_name = str_of("key_name");
    if let Some(k) = &key_name
        && !cloud
            .nova
            .lock()
            .keypairs
            .contains_key(&(auth.user_id.clone(), k.clone()))
    {
        return Err(bad("Invalid key_name provided."));
    }
    let mut ports = Vec::new();
    let networks = match s.get("networks") {
        None if mv.at_least(37) => {
            return Err(bad(
                "Invalid input for field/attribute server. 'networks' is a required property",
            ));
        }
        None => auto_network(cloud, auth)?,
        Some(Value::String(x)) if x == "none" => Vec::new(),
        Some(Value::String(x)) if x == "auto" => auto_network(cloud, auth)?,
        Some(Value::Array(list)) => {
            let mut out = Vec::new();
            for n in list {
                if let Some(uuid) = n.get("uuid").and_then(Value::as_str) {
                    let ok = cloud.neutron.lock().networks.get(uuid).is_some_and(|net| {
                        net.project_id == auth.project_id || net.shared || auth.is_admin
                    });
                    if !ok {
                        return Err(bad(format!("Network {uuid} could not be found.")));
                    }
                    let fixed = match n.get("fixed_ip").and_then(Value::as_str) {
                        Some(ip) => Some(ip.parse::<std::net::IpAddr>().map_err(|_| {
                            bad(format!("Invalid input for field/attribute fixed_ip. Value: {ip}. '{ip}' is not a 'ip-address'"))
                        })?),
                        None => None,
                    };
                    out.push((uuid.to_string(), fixed));
                } else if let Some(port) = n.get("port").and_then(Value::as_str) {
                    let st = cloud.neutron.lock();
                    let p = st
                        .ports
                        .get(port)
                        .filter(|p| p.project_id == auth.project_id)
                        .ok_or_else(|| bad(format!("Port {port} could not be found.")))?;
                    if !p.device_id.is_empty() {
                        return Err(ApiError::nova(
                            StatusCode::CONFLICT,
                            format!("Port {port} is still in use."),
                        ));
                    }
                    ports.push(port.to_string());
                } else {
                    return Err(bad(
                        "Bad networks format: network uuid is not in proper format",
                    ));
                }
            }
            out
        }
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute networks. Value: {other}."
            )));
        }
    };
    let mut security_groups = Vec::new();
    if let Some(list) = s.get("security_groups").and_then(Value::as_array) {
        for g in list {
            let n = g
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("Invalid input for field/attribute security_groups."))?;
            if !security_groups.iter().any(|x| x == n) {
                security_groups.push(n.to_string());
            }
        }
    }
    let metadata: BTreeMap<String, String> = match s.get("metadata") {
        None => BTreeMap::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|v| (k.clone(), v.to_string()))
                    .ok_or_else(|| {
                        bad(format!(
                            "Invalid input for field/attribute metadata. Value: {v}."
                        ))
                    })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("Invalid input for field/attribute metadata.")),
    };
    let tags = if mv.at_least(52) {
        s.get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok(BootRequest {
        name,
        flavor_id,
        image_id,
        key_name,
        networks,
        ports,
        security_groups,
        metadata,
        tags,
        description: if mv.at_least(19) {
            str_of("description")
        } else {
            None
        },
        disk: None,
    })
}

/// Nova's checks of an image against the flavor (memory, then root disk in GiB).
fn check_flavor_fits(
    cloud: &Cloud,
    flavor_id: &str,
    image: &crate::glance::ImageSummary,
) -> Result<(), ApiError> {
    let Some(flavor) = cloud.nova.lock().flavors.get(flavor_id).cloned() else {
        return Err(bad(format!("Flavor {flavor_id} could not be found.")));
    };
    if image.min_ram > flavor.ram {
        return Err(bad("Flavor's memory is too small for requested image."));
    }
    if flavor.disk > 0 {
        let flavor_bytes = flavor.disk << 30;
        if let Some(size) = image.size.filter(|s| *s > flavor_bytes) {
            return Err(bad(format!(
                "Flavor's disk is too small for requested image. Flavor disk is {flavor_bytes} bytes, image is {size} bytes."
            )));
        }
        if image.min_disk > flavor.disk {
            return Err(bad(format!(
                "Flavor's disk is too small for requested image. Flavor disk is {flavor_bytes} bytes, minimum required by image is {} bytes.",
                image.min_disk << 30
            )));
        }
    }
    Ok(())
}

fn auto_network(
    cloud: &Cloud,
    auth: &Auth,
) -> Result<Vec<(String, Option<std::net::IpAddr>)>, ApiError> {
    let st = cloud.neutron.lock();
    let mine: Vec<&crate::neutron::Network> = st
        .networks
        .values()
        .filter(|n| n.project_id == auth.project_id && !n.external)
        .collect();
    let candidates: Vec<&crate::neutron::Network> = if mine.is_empty() {
        st.networks
            .values()
            .filter(|n| n.shared && !n.external)
            .collect()
    } else {
        mine
    };
    match candidates.as_slice() {
        [] => Ok(Vec::new()),
        [one] => Ok(vec![(one.id.clone(), None)]),
        _ => Err(ApiError::nova(
            StatusCode::CONFLICT,
            "Multiple possible networks found, use a Network ID to be more specific.",
        )),
    }
}

/// Create a server (ports included) and schedule its BUILD -> ACTIVE/ERROR transition.
pub fn boot(cloud: &SharedCloud, auth: &Auth, req: BootRequest) -> Result<Server, ApiError> {
    let now = cloud.clock.now();
    let id = cloud.faults.random_uuid().to_string();
    let disk = match (&req.disk, &req.image_id) {
        (Some(d), _) => d.clone(),
        (None, Some(img)) => cloud
            .glance
            .image_content(img)
            .ok_or_else(|| bad(format!("Image {img} is not active.")))?,
        (None, None) => Content::Generated {
            seed: 0,
            size: 0,
            format: Format::Raw,
        },
    };
    let key_data = req.key_name.as_ref().and_then(|k| {
        cloud
            .nova
            .lock()
            .keypairs
            .get(&(auth.user_id.clone(), k.clone()))
            .map(|kp| kp.public_key.clone())
    });
    let mut created_ports = Vec::new();
    for (net, fixed_ip) in &req.networks {
        let port_id = cloud.faults.random_uuid().to_string();
        let mac = cloud.faults.random_u64();
        let mut next_id = || cloud.faults.random_uuid().to_string();
        match cloud.neutron.create_server_port(
            &auth.project_id,
            net,
            *fixed_ip,
            &id,
            &req.security_groups,
            port_id,
            mac,
            now,
            &mut next_id,
        ) {
            Ok(p) => created_ports.push(p.id),
            Err(e) => {
                cloud.neutron.delete_device_ports(&id);
                return Err(match e {
                    crate::neutron::NetError::NotFound(_, m) => bad(m),
                    crate::neutron::NetError::Conflict(_, m) => {
                        ApiError::nova(StatusCode::CONFLICT, m)
                    }
                    crate::neutron::NetError::BadRequest(_, m) => bad(m),
                });
            }
        }
    }
    for port in &req.ports {
        if let Err(e) = cloud.neutron.bind_port(port, &auth.project_id, &id) {
            cloud.neutron.delete_device_ports(&id);
            return Err(match e {
                crate::neutron::NetError::Conflict(_, m) => ApiError::nova(StatusCode::CONFLICT, m),
                crate::neutron::NetError::NotFound(_, m)
                | crate::neutron::NetError::BadRequest(_, m) => bad(m),
            });
        }
    }
    let server = Server {
        id: id.clone(),
        name: req.name,
        project_id: auth.project_id.clone(),
        user_id: auth.user_id.clone(),
        flavor_id: req.flavor_id,
        image_id: req.image_id,
        key_name: req.key_name,
        key_data,
        metadata: req.metadata,
        tags: req.tags,
        description: req.description,
        vm_state: "building".into(),
        task_state: Some("scheduling".into()),
        fault: None,
        created: now,
        updated: now,
        launched_at: None,
        terminated_at: None,
        disk,
        availability_zone: "nova".into(),
    };
    cloud.nova.lock().servers.insert(id.clone(), server.clone());
    let faults = cloud.faults.get();
    let cloud2 = Arc::clone(cloud);
    let delay = std::time::Duration::from_secs_f64(faults.server_build_s.max(0.0));
    let fail = faults.server_error;
    tokio::spawn(async move {
        tokio::time::sleep(delay / 2).await;
        if let Some(s) = cloud2.nova.lock().servers.get_mut(&id)
            && s.vm_state == "building"
        {
            s.task_state = Some("spawning".into());
            s.updated = cloud2.clock.now();
        }
        tokio::time::sleep(delay / 2).await;
        finish_build(&cloud2, &id, fail);
    });
    Ok(server)
}

fn finish_build(cloud: &Cloud, id: &str, fail: bool) {
    let now = cloud.clock.now();
    let mut st = cloud.nova.lock();
    let Some(s) = st.servers.get_mut(id) else {
        return;
    };
    if s.vm_state != "building" {
        return;
    }
    s.task_state = None;
    s.updated = now;
    if fail {
        s.vm_state = "error".into();
        s.fault = Some((
            500,
            "No valid host was found. There are not enough hosts available.".into(),
            now,
        ));
        drop(st);
        cloud.neutron.delete_device_ports(id);
    } else {
        s.vm_state = "active".into();
        s.launched_at = Some(now);
    }
}

/// Mark a server ACTIVE now (seeding).
pub fn make_active(cloud: &Cloud, id: &str, launched_at: OffsetDateTime) {
    if let Some(s) = cloud.nova.lock().servers.get_mut(id) {
        s.vm_state = "active".into();
        s.task_state = None;
        s.launched_at = Some(launched_at);
        s.created = launched_at;
        s.updated = launched_at;
    }
}

/// Parse and validate a boot request body (for seeding and the API).
pub fn parse_boot_body(
    cloud: &Cloud,
    auth: &Auth,
    mv: Microversion,
    body: &Value,
) -> Result<BootRequest, ApiError> {
    parse_boot(cloud, auth, mv, body)
}

async fn create(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let req = parse_boot(&cloud, &auth, mv, &body)?;
    let server = boot(&cloud, &auth, req)?;
    let groups: Vec<Value> = {
        let mut names: Vec<String> = cloud
            .neutron
            .device_groups(&server.id)
            .into_iter()
            .map(|g| g.name)
            .collect();
        if names.is_empty() {
            names.push("default".into());
        }
        names.into_iter().map(|n| json!({"name": n})).collect()
    };
    let admin_pass: String = (0..12)
        .map(|_| char::from(b'a' + (cloud.faults.random_u64() % 26) as u8))
        .collect();
    let body = json!({"server": {"id": server.id, "links": links(&cloud, &format!("servers/{}", server.id)),
        "OS-DCF:diskConfig": "MANUAL", "security_groups": groups, "adminPass": admin_pass}});
    let location = format!("{}/compute/v2.1/servers/{}", cloud.base_url, server.id);
    Ok((StatusCode::ACCEPTED, [("location", location)], Json(body)).into_response())
}

// ---------------------------------------------------------------- update

async fn update(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
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
            s.description = v.as_str().map(str::to_string);
        }
        s.updated = cloud.clock.now();
        s.clone()
    };
    Ok(Json(
        json!({"server": server_json(&cloud, &server, mv, &auth)}),
    ))
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
    st.deleted.insert(id.clone(), s);
    drop(st);
    cloud.neutron.delete_device_ports(&id);
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- actions

async fn action(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let server = find(&cloud, &auth, &id)?;
    let Some((name, args)) = body.as_object().and_then(|o| o.iter().next()) else {
        return Err(bad("Malformed request body"));
    };
    match name.as_str() {
        "createImage" => create_image(&cloud, &auth, mv, server, args),
        "os-stop" | "os-start" => {
            let (from, to) = if name == "os-stop" {
                ("active", "stopped")
            } else {
                ("stopped", "active")
            };
            let mut st = cloud.nova.lock();
            let s = st.servers.get_mut(&id).ok_or_else(|| not_found(&id))?;
            if s.vm_state != from || s.task_state.is_some() {
                return Err(conflict_state(name, &id, s));
            }
            s.vm_state = to.into();
            s.updated = cloud.clock.now();
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "reboot" => {
            let kind = args.get("type").and_then(Value::as_str).unwrap_or_default();
            if kind != "SOFT" && kind != "HARD" {
                return Err(bad(format!(
                    "Invalid input for field/attribute type. Value: {kind}. '{kind}' is not one of ['HARD', 'Hard', 'Soft', 'SOFT']"
                )));
            }
            let st = cloud.nova.lock();
            let s = st.servers.get(&id).ok_or_else(|| not_found(&id))?;
            // No hypervisor: a reboot of a running server completes at once.
            if s.vm_state != "active" || s.task_state.is_some() {
                return Err(conflict_state(name, &id, s));
            }
            Ok(StatusCode::ACCEPTED.into_response())
        }
        other => Err(bad(format!("There is no such action: {other}"))),
    }
}

fn conflict_state(action: &str, id: &str, s: &Server) -> ApiError {
    let (attr, state) = match &s.task_state {
        Some(t) => ("task_state", t.clone()),
        None => ("vm_state", s.vm_state.clone()),
    };
    ApiError::nova(
        StatusCode::CONFLICT,
        format!("Cannot '{action}' instance {id} while it is in {attr} {state}"),
    )
}

fn create_image(
    cloud: &SharedCloud,
    auth: &Auth,
    mv: Microversion,
    server: Server,
    args: &Value,
) -> Result<Response, ApiError> {
    let name = args
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| bad("Invalid input for field/attribute createImage. Value: {}. 'name' is a required property"))?
        .to_string();
    let mut properties = Map::new();
    if let Some(Value::Object(m)) = args.get("metadata") {
        for (k, v) in m {
            properties.insert(k.clone(), v.clone());
        }
    }
    let (min_disk, min_ram) = {
        let mut st = cloud.nova.lock();
        let flavor_disk = st
            .flavors
            .get(&server.flavor_id)
            .map(|f| f.disk)
            .unwrap_or(0);
        let s = st
            .servers
            .get_mut(&server.id)
            .ok_or_else(|| not_found(&server.id))?;
        if !matches!(s.vm_state.as_str(), "active" | "stopped") || s.task_state.is_some() {
            return Err(conflict_state("createImage", &server.id, s));
        }
        s.task_state = Some("image_snapshot".into());
        s.updated = cloud.clock.now();
        (flavor_disk, 0)
    };
    let base = server
        .image_id
        .as_ref()
        .and_then(|i| cloud.glance.image_summary(i));
    properties.insert("image_type".into(), json!("snapshot"));
    properties.insert("instance_uuid".into(), json!(server.id));
    properties.insert(
        "base_image_ref".into(),
        json!(server.image_id.clone().unwrap_or_default()),
    );
    properties.insert("user_id".into(), json!(auth.user_id));
    properties.insert("owner_user_name".into(), json!(auth.user_name));
    properties.insert("owner_project_name".into(), json!(auth.project_name));
    properties.insert("boot_roles".into(), json!(auth.roles.join(",")));
    properties.insert("image_location".into(), json!("snapshot"));
    properties.insert("image_state".into(), json!("available"));
    properties.insert("owner_id".into(), json!(server.project_id));
    let min_ram = base.as_ref().map(|b| b.min_ram).unwrap_or(min_ram);
    // The snapshot is the disk in the base image's format (as nova's fake-disk drivers
    // label it); a server without a base image has a qcow2 disk.
    let disk_format = base
        .as_ref()
        .and_then(|b| b.disk_format.clone())
        .unwrap_or_else(|| "qcow2".into());
    let image_id = cloud.glance.create_snapshot_image(
        &server.project_id,
        &name,
        &disk_format,
        "bare",
        properties,
        min_disk,
        min_ram,
    );
    let cloud2 = Arc::clone(cloud);
    let server_id = server.id.clone();
    let image = image_id.clone();
    let delay = std::time::Duration::from_secs_f64(cloud.faults.get().snapshot_s.max(0.0));
    let disk = server.disk.clone();
    tokio::spawn(async move {
        let set_task = |t: Option<&str>| {
            if let Some(s) = cloud2.nova.lock().servers.get_mut(&server_id) {
                s.task_state = t.map(str::to_string);
                s.updated = cloud2.clock.now();
            }
        };
        tokio::time::sleep(delay / 3).await;
        set_task(Some("image_pending_upload"));
        tokio::time::sleep(delay / 3).await;
        set_task(Some("image_uploading"));
        tokio::time::sleep(delay / 3).await;
        let cloud3 = Arc::clone(&cloud2);
        let sid = server_id.clone();
        cloud2.glance.start_snapshot_upload(
            &image,
            disk,
            Box::new(move |_ok| {
                if let Some(s) = cloud3.nova.lock().servers.get_mut(&sid)
                    && s.task_state.as_deref() == Some("image_uploading")
                {
                    s.task_state = None;
                    s.updated = cloud3.clock.now();
                }
            }),
        );
    });
    if mv.at_least(45) {
        Ok((StatusCode::ACCEPTED, Json(json!({"image_id": image_id}))).into_response())
    } else {
        let location = format!("{}/image/v2/images/{image_id}", cloud.base_url);
        Ok((StatusCode::ACCEPTED, [("location", location)]).into_response())
    }
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

// ---------------------------------------------------------------- tags (2.26+)

/// Nova answers unknown (pre-2.26) routes with 404.
fn tags_supported(mv: Microversion) -> Result<(), ApiError> {
    if mv.at_least(26) {
        Ok(())
    } else {
        Err(ApiError::nova(
            StatusCode::NOT_FOUND,
            "The resource could not be found.",
        ))
    }
}

fn validate_tag(tag: &str) -> Result<(), ApiError> {
    if tag.is_empty() || tag.chars().count() > 60 || tag.contains('/') || tag.contains(',') {
        return Err(bad(format!(
            "Invalid input for field/attribute tags. Value: {tag}. Tags must be 1 to 60 characters without '/' or ','"
        )));
    }
    Ok(())
}

/// Run `f` on the server's tags when its vm_state allows tag changes (nova's rule).
fn with_tags<T>(
    cloud: &Cloud,
    auth: &Auth,
    id: &str,
    f: impl FnOnce(&mut Vec<String>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut st = cloud.nova.lock();
    let s = st
        .servers
        .get_mut(id)
        .filter(|s| visible(auth, s))
        .ok_or_else(|| not_found(id))?;
    if !matches!(s.vm_state.as_str(), "active" | "stopped") {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!(
                "Cannot 'update tags' instance {id} while it is in vm_state {}",
                s.vm_state
            ),
        ));
    }
    let out = f(&mut s.tags)?;
    s.updated = cloud.clock.now();
    Ok(out)
}

async fn list_tags(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    tags_supported(mv)?;
    let s = find(&cloud, &auth, &id)?;
    Ok(Json(json!({"tags": s.tags})))
}

async fn replace_tags(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    tags_supported(mv)?;
    let body: Value = parse_json(Service::Nova, &body)?;
    let list = body.get("tags").and_then(Value::as_array).ok_or_else(|| {
        bad("Invalid input for field/attribute tags. 'tags' is a required property")
    })?;
    let mut tags: Vec<String> = Vec::new();
    for t in list {
        let t = t.as_str().ok_or_else(|| {
            bad(format!(
                "Invalid input for field/attribute tags. Value: {t}."
            ))
        })?;
        validate_tag(t)?;
        if !tags.iter().any(|x| x == t) {
            tags.push(t.to_string());
        }
    }
    if tags.len() > 50 {
        return Err(bad("The number of tags exceeded the per-server limit 50"));
    }
    let tags = with_tags(&cloud, &auth, &id, |current| {
        *current = tags;
        Ok(current.clone())
    })?;
    Ok(Json(json!({"tags": tags})))
}

async fn delete_tags(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    tags_supported(mv)?;
    with_tags(&cloud, &auth, &id, |current| {
        current.clear();
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn check_tag(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    tags_supported(mv)?;
    let s = find(&cloud, &auth, &id)?;
    if s.tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::nova(
            StatusCode::NOT_FOUND,
            format!("Tag {tag} could not be found."),
        ))
    }
}

async fn add_tag(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    tags_supported(mv)?;
    validate_tag(&tag)?;
    let created = with_tags(&cloud, &auth, &id, |current| {
        if current.contains(&tag) {
            return Ok(false);
        }
        if current.len() >= 50 {
            return Err(bad("The number of tags exceeded the per-server limit 50"));
        }
        current.push(tag.clone());
        Ok(true)
    })?;
    if created {
        let location = format!("{}/compute/v2.1/servers/{id}/tags/{tag}", cloud.base_url);
        Ok((StatusCode::CREATED, [("location", location)]).into_response())
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

async fn delete_tag(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    tags_supported(mv)?;
    with_tags(&cloud, &auth, &id, |current| {
        let before = current.len();
        current.retain(|t| *t != tag);
        if current.len() == before {
            return Err(ApiError::nova(
                StatusCode::NOT_FOUND,
                format!("Tag {tag} could not be found."),
            ));
        }
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}
