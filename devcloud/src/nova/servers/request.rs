//! The boot request (`POST /servers`) parsed and checked as Nova's API does before it builds
//! anything: its schema for the microversion (names, hostnames, booleans as Python reads
//! them, base64 user data), the networks or ports, the block device mappings, the image or
//! volume to boot from, and the flavor.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::Value;

use super::bad;
use crate::auth::Auth;
use crate::cloud::Cloud;
use crate::error::ApiError;
use crate::imagedata::Content;
use crate::nova::Microversion;

/// One NIC of a boot: a network to get a (Nova-made) port on, with an optional fixed IP, or a
/// user-made port to bind.
#[derive(Debug, Clone)]
pub enum Nic {
    /// `{"uuid": network, "fixed_ip"?}`.
    Network(String, Option<std::net::IpAddr>),
    /// `{"port": id}`.
    Port(String),
}

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
    /// The NICs, in order (`eth0`, `eth1`, ...).
    pub nics: Vec<Nic>,
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
    /// `config_drive`.
    pub config_drive: bool,
    /// `hostname` (2.90+).
    pub hostname: Option<String>,
    /// `user_data` (base64).
    pub user_data: Option<String>,
    /// `availability_zone`.
    pub availability_zone: Option<String>,
    /// The server group of `os:scheduler_hints`.
    pub group: Option<String>,
    /// `block_device_mapping_v2`'s volumes.
    pub block_devices: Vec<super::volumes::BlockDevice>,
}

/// Nova's `description` (2.19+): a string of at most 255 printable characters, or null.
pub(super) fn description(v: &Value) -> Result<Option<String>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(d) if d.chars().count() <= 255 && !d.chars().any(char::is_control) => {
            Ok(Some(d.clone()))
        }
        Value::String(d) if d.chars().count() > 255 => Err(bad(format!(
            "Invalid input for field/attribute description. Value: {d}. '{d}' is too long"
        ))),
        other => Err(bad(format!(
            "Invalid input for field/attribute description. Value: {}. {} is not valid under any of the given schemas",
            py_repr(other),
            py_repr(other)
        ))),
    }
}

/// Nova's `hostname`: from 2.90 `parameter_types.hostname` (2 to 63 letters, digits and
/// inner `-`), from 2.94 `parameter_types.fqdn` (1 to 255 of `[a-zA-Z0-9-._]`).
pub(super) fn hostname(v: &Value, mv: Microversion) -> Result<String, ApiError> {
    let h = v.as_str().ok_or_else(|| {
        bad(format!(
            "Invalid input for field/attribute hostname. Value: {}. {} is not of type 'string'",
            py_repr(v),
            py_repr(v)
        ))
    })?;
    let n = h.chars().count();
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let (pattern, min, max, matches) = if mv.at_least(94) {
        (
            "^[a-zA-Z0-9-._]*$",
            1,
            255,
            h.chars().all(|c| alnum(c) || matches!(c, '-' | '.' | '_')),
        )
    } else {
        (
            "^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$",
            2,
            63,
            n >= 2
                && h.chars().all(|c| alnum(c) || c == '-')
                && h.starts_with(alnum)
                && h.ends_with(alnum),
        )
    };
    let why = if !matches {
        Some(format!("'{h}' does not match '{pattern}'"))
    } else if n < min {
        Some(format!("'{h}' is too short"))
    } else if n > max {
        Some(format!("'{h}' is too long"))
    } else {
        None
    };
    match why {
        Some(why) => Err(bad(format!(
            "Invalid input for field/attribute hostname. Value: {h}. {why}"
        ))),
        None => Ok(h.to_string()),
    }
}

/// Nova's `utils.sanitize_hostname` of a display name: spaces, underscores and dots become
/// `-`, other characters than word characters and `-` go, lower case, `.`/`-` stripped at
/// both ends, at most 63 characters; `Server-<uuid>` when nothing is left.
pub fn sanitize_hostname(name: &str, id: &str) -> String {
    let h: String = name
        .chars()
        .filter(|c| (*c as u32) < 256)
        .take(63)
        .map(|c| if matches!(c, ' ' | '_' | '.') { '-' } else { c })
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
        .collect::<String>()
        .to_lowercase();
    let h = h.trim_matches(|c| c == '.' || c == '-').to_string();
    if h.is_empty() {
        format!("Server-{id}")
    } else {
        h
    }
}

/// Nova's message for a key the server schema does not have (at this microversion).
pub(super) fn unexpected(server: &serde_json::Map<String, Value>, key: &str) -> ApiError {
    bad(format!(
        "Invalid input for field/attribute server. Value: {}. Additional properties are not allowed ('{key}' was unexpected)",
        py_repr(&Value::Object(server.clone()))
    ))
}

/// Python's repr of a JSON value, as jsonschema messages show it.
pub(super) fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Number(n) => n.to_string(),
    }
}

/// Nova's `parameter_types.boolean`: an enum of `true`/`false` and these strings.
pub(super) const BOOLEAN_STRINGS: [(&str, bool); 20] = [
    ("True", true),
    ("TRUE", true),
    ("true", true),
    ("1", true),
    ("ON", true),
    ("On", true),
    ("on", true),
    ("YES", true),
    ("Yes", true),
    ("yes", true),
    ("False", false),
    ("FALSE", false),
    ("false", false),
    ("0", false),
    ("OFF", false),
    ("Off", false),
    ("off", false),
    ("NO", false),
    ("No", false),
    ("no", false),
];

pub(super) fn boolean(field: &str, v: &Value) -> Result<bool, ApiError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => BOOLEAN_STRINGS
            .iter()
            .find(|(x, _)| x == s)
            .map(|(_, b)| *b)
            .ok_or_else(|| {
                bad(format!(
                    "Invalid input for field/attribute {field}. Value: {s}. '{s}' is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']"
                ))
            }),
        other => Err(bad(format!(
            "Invalid input for field/attribute {field}. Value: {}. {} is not of type 'boolean', 'string'",
            py_repr(other),
            py_repr(other)
        ))),
    }
}

/// Nova's `base64` format check, `base64.decodebytes` (CPython's non-strict `a2b_base64`):
/// characters outside the alphabet are skipped, a complete padding ends the input, and the
/// data characters must fill whole quanta.
pub(super) fn is_base64(s: &str) -> bool {
    let (mut quad, mut pads) = (0u8, 0u8);
    for b in s.bytes() {
        if b == b'=' {
            if quad >= 2 {
                pads += 1;
                if quad + pads >= 4 {
                    return true;
                }
            }
            continue;
        }
        if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' {
            quad = (quad + 1) % 4;
        }
    }
    quad == 0
}

pub(super) fn parse_boot(
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
    let block_devices = super::volumes::parse(s)?;
    let boots_from_volume = block_devices.iter().any(|b| b.boot_index == Some(0));
    let image_id = match str_of("imageRef").filter(|i| !i.is_empty()) {
        _ if boots_from_volume => None,
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
        None if block_devices.is_empty() => {
            return Err(bad(
                "Block Device Mapping is Invalid: You specified more local devices than the limit allows",
            ));
        }
        None => {
            return Err(bad(
                "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.",
            ));
        }
    };
    if str_of("availability_zone").is_some_and(|az| !az.is_empty() && az != "nova") {
        return Err(bad("The requested availability zone is not available"));
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
    let nics: Vec<Nic> = match s.get("networks") {
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
                    out.push(Nic::Network(uuid.to_string(), fixed));
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
                    out.push(Nic::Port(port.to_string()));
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
    let metadata = match s.get("metadata") {
        None => BTreeMap::new(),
        Some(m) => super::metadata::validate("metadata", m)?,
    };
    super::metadata::check_quota(metadata.len())?;
    let tags = match s.get("tags") {
        None => Vec::new(),
        Some(_) if !mv.at_least(52) => {
            return Err(unexpected(s, "tags"));
        }
        Some(Value::Array(a)) => {
            if a.len() > 50 {
                return Err(bad(format!(
                    "Invalid input for field/attribute tags. Value: {}. {} is too long",
                    Value::Array(a.clone()),
                    Value::Array(a.clone())
                )));
            }
            let mut tags: Vec<String> = Vec::new();
            for t in a {
                let t = t.as_str().ok_or_else(|| {
                    bad(format!(
                        "Invalid input for field/attribute tags. Value: {t}. {t} is not of type 'string'"
                    ))
                })?;
                super::tags::validate_tag(t)?;
                tags.push(t.to_string());
            }
            // Nova answers tags in its table's key order.
            tags.sort();
            tags.dedup();
            tags
        }
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute tags. Value: {other}. {other} is not of type 'array'"
            )));
        }
    };
    let config_drive = match s.get("config_drive") {
        None => false,
        Some(v) => boolean("config_drive", v)?,
    };
    let user_data = match s.get("user_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => {
            if u.len() > 65535 {
                return Err(bad(format!(
                    "Invalid input for field/attribute user_data. Value: {u}. '{u}' is too long"
                )));
            }
            if !is_base64(u) {
                return Err(bad(format!(
                    "Invalid input for field/attribute user_data. Value: {u}. '{u}' is not a 'base64'"
                )));
            }
            Some(u.clone())
        }
        Some(v) => {
            return Err(bad(format!(
                "Invalid input for field/attribute user_data. Value: {}. {} is not of type 'string'",
                py_repr(v),
                py_repr(v)
            )));
        }
    };
    let hostname = match s.get("hostname") {
        Some(v) if mv.at_least(90) => Some(hostname(v, mv)?),
        Some(_) => {
            return Err(unexpected(s, "hostname"));
        }
        None => None,
    };
    let description = match s.get("description") {
        Some(v) if mv.at_least(19) => description(v)?,
        Some(_) => {
            return Err(unexpected(s, "description"));
        }
        None => None,
    };
    let group = match body
        .get("os:scheduler_hints")
        .or_else(|| body.get("OS-SCH-HNT:scheduler_hints"))
        .and_then(|h| h.get("group"))
    {
        None => None,
        Some(Value::String(g)) => {
            if uuid::Uuid::parse_str(g).is_err() {
                return Err(bad(format!(
                    "Invalid input for field/attribute group. Value: {g}. '{g}' is not a 'uuid'"
                )));
            }
            let known = cloud
                .nova
                .lock()
                .server_groups
                .get(g)
                .is_some_and(|sg| sg.project_id == auth.project_id || auth.is_admin);
            if !known {
                return Err(bad(format!("Instance group {g} could not be found.")));
            }
            Some(g.clone())
        }
        Some(v) => {
            return Err(bad(format!(
                "Invalid input for field/attribute group. Value: {}. {} is not of type 'string'",
                py_repr(v),
                py_repr(v)
            )));
        }
    };
    Ok(BootRequest {
        name,
        flavor_id,
        image_id,
        key_name,
        nics,
        security_groups,
        metadata,
        tags,
        description,
        disk: None,
        config_drive,
        hostname,
        user_data,
        availability_zone: str_of("availability_zone").filter(|az| !az.is_empty()),
        group,
        block_devices,
    })
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

/// Nova's checks of an image against the flavor (memory, then root disk in GiB).
pub(super) fn check_flavor_fits(
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

pub(super) fn auto_network(cloud: &Cloud, auth: &Auth) -> Result<Vec<Nic>, ApiError> {
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
        [one] => Ok(vec![Nic::Network(one.id.clone(), None)]),
        _ => Err(ApiError::nova(
            StatusCode::CONFLICT,
            "Multiple possible networks found, use a Network ID to be more specific.",
        )),
    }
}
