//! Creating a server: the boot request parsed and checked as nova does (networks, image
//! against flavor), its ports made or bound in Neutron, and the BUILD -> ACTIVE/ERROR step.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Server, bad};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};
use crate::imagedata::{Content, Format};
use crate::nova::{Microversion, links};

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

pub(super) async fn create(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let req = parse_boot(&cloud, &auth, mv, &body)?;
    crate::nova::check_boot_quota(&cloud, &auth.project_id, &req.flavor_id)?;
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
