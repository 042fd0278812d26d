//! Ports: JSON shape, create (`POST /ports`), update and delete.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{
    bad_input, body_object, created, ids, one, opt_str, owned, owner, parse_ip, required, resource,
    visible, with_std,
};
use crate::auth::Auth;
use crate::cloud::SharedCloud;
use crate::error::ApiError;
use crate::neutron::{Port, PortRequest, not_found};

pub(crate) fn port_json(p: &Port) -> Value {
    let fixed: Vec<Value> = p
        .fixed_ips
        .iter()
        .map(|(s, ip)| json!({"subnet_id": s, "ip_address": ip.to_string()}))
        .collect();
    let pairs: Vec<Value> = p
        .allowed_address_pairs
        .iter()
        .map(|(ip, mac)| json!({"ip_address": ip, "mac_address": mac}))
        .collect();
    with_std(
        json!({"id": p.id, "name": p.name, "network_id": p.network_id, "mac_address": p.mac_address,
            "admin_state_up": true, "status": if p.device_id.is_empty() { "DOWN" } else { "ACTIVE" }, "device_id": p.device_id, "device_owner": p.device_owner,
            "fixed_ips": fixed, "allowed_address_pairs": pairs, "extra_dhcp_opts": [], "security_groups": p.security_groups,
            "binding:vnic_type": "normal", "port_security_enabled": p.port_security_enabled, "dns_name": "", "propagate_uplink_status": false,
            "description": p.description}),
        &p.project_id,
        p.created_at,
        1,
    )
}

resource! {
    Port {
        key: "port", collection: "ports", path: "ports", kind: "Port",
        table: ports,
        json: |it, _st| port_json(it),
        visible: |it, _st, auth| visible(auth, &it.project_id),
    }
}

pub(super) async fn create_port(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "port",
        &[
            "network_id",
            "name",
            "fixed_ips",
            "security_groups",
            "description",
            "admin_state_up",
            "project_id",
            "tenant_id",
            "device_id",
            "device_owner",
            "port_security_enabled",
            "binding:vnic_type",
            "mac_address",
            "allowed_address_pairs",
        ],
    )?;
    let project = owner(&auth, &obj)?;
    super::check_quota(&cloud, &project, "port", |st| {
        st.ports
            .values()
            .filter(|p| p.project_id == project)
            .count()
    })?;
    let network = required(&obj, "network_id")?;
    let fixed_ips = match obj.get("fixed_ips") {
        None => None,
        Some(Value::Array(list)) => {
            let mut out = Vec::new();
            for item in list {
                let o = item.as_object().cloned().ok_or_else(|| {
                    bad_input(format!(
                        "Invalid input for fixed_ips. Reason: Invalid data format for fixed IP: '{item}'."
                    ))
                })?;
                out.push(crate::neutron::FixedIpRequest {
                    subnet_id: opt_str(&o, "subnet_id")?,
                    ip_address: parse_ip(opt_str(&o, "ip_address")?, "ip_address")?,
                });
            }
            Some(out)
        }
        Some(other) => {
            return Err(bad_input(format!(
                "Invalid input for fixed_ips. Reason: Invalid data format for fixed IP: '{other}'."
            )));
        }
    };
    let security_groups = match obj.get("security_groups") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect(),
        ),
        Some(other) => {
            return Err(bad_input(format!(
                "Invalid input for security_groups. Reason: '{other}' is not a list."
            )));
        }
    };
    let mac_address = opt_str(&obj, "mac_address")?
        .map(|m| parse_mac(&m, "mac_address"))
        .transpose()?;
    let port_security_enabled = match obj.get("port_security_enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(bad_input(format!(
                "Invalid input for port_security_enabled. Reason: '{other}' is not a valid boolean value."
            )));
        }
    };
    let allowed_address_pairs = match obj.get("allowed_address_pairs") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => Some(address_pairs(list)?),
        Some(other) => {
            return Err(ApiError::neutron(
                StatusCode::BAD_REQUEST,
                "AllowedAddressPairsMissingIP",
                format!(
                    "Invalid input for allowed_address_pairs. Reason: Allowed address pairs must be a list. {other}"
                ),
            ));
        }
    };
    let req = PortRequest {
        network_id: network,
        name: opt_str(&obj, "name")?.unwrap_or_default(),
        description: opt_str(&obj, "description")?.unwrap_or_default(),
        fixed_ips,
        mac_address,
        security_groups,
        port_security_enabled,
        allowed_address_pairs,
    };
    let id = cloud.faults.random_uuid().to_string();
    let mac = cloud.faults.random_u64();
    let mut next_id = ids(&cloud);
    let port = cloud.neutron.create_port(
        &project,
        auth.is_admin,
        &req,
        id,
        mac,
        cloud.clock.now(),
        &mut next_id,
    )?;
    Ok(created("port", port_json(&port)))
}

pub(super) async fn update_port(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "port",
        &[
            "name",
            "security_groups",
            "description",
            "admin_state_up",
            "device_id",
            "device_owner",
        ],
    )?;
    let mut st = cloud.neutron.lock();
    let project = owned::<Port>(&st, &auth, &id).map(|p| p.project_id.clone())?;
    if let Some(Value::Array(list)) = obj.get("security_groups") {
        let groups: Vec<String> = list
            .iter()
            .filter_map(|g| g.as_str().map(str::to_string))
            .collect();
        for g in &groups {
            if st
                .security_groups
                .get(g)
                .is_none_or(|x| x.project_id != project)
            {
                return Err(not_found("Security group", g).into());
            }
        }
        if let Some(p) = st.ports.get_mut(&id) {
            p.security_groups = groups;
        }
    }
    let name = opt_str(&obj, "name")?;
    let device_id = opt_str(&obj, "device_id")?;
    let device_owner = opt_str(&obj, "device_owner")?;
    let p = st
        .ports
        .get_mut(&id)
        .ok_or_else(|| not_found("Port", &id))?;
    if let Some(n) = name {
        p.name = n;
    }
    if let Some(d) = device_id {
        p.device_id = d;
    }
    if let Some(d) = device_owner {
        p.device_owner = d;
    }
    Ok(one("port", port_json(p)))
}

pub(super) async fn delete_port(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let owner = {
        let st = cloud.neutron.lock();
        owned::<Port>(&st, &auth, &id).map(|p| p.device_owner.clone())?
    };
    if owner == "network:router_interface" {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "L3PortInUse",
            format!(
                "Port {id} cannot be deleted directly via the port API: has device owner {owner}."
            ),
        ));
    }
    cloud.neutron.delete_port(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// A MAC address as Neutron takes it (`xx:xx:xx:xx:xx:xx` or with `-`, any case; not all
/// zeros nor broadcast), in Neutron's lower-case colon form.
pub(super) fn parse_mac(m: &str, key: &str) -> Result<String, ApiError> {
    let parts: Vec<&str> = m.split([':', '-']).collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    let norm = parts.join(":").to_ascii_lowercase();
    if !ok || norm == "00:00:00:00:00:00" || norm == "ff:ff:ff:ff:ff:ff" {
        return Err(bad_input(format!(
            "Invalid input for {key}. Reason: '{m}' is not a valid MAC address."
        )));
    }
    Ok(norm)
}

/// `allowed_address_pairs`: each an `ip_address` (an address or a CIDR) and an optional
/// `mac_address`, as neutron-lib's validator checks them.
fn address_pairs(list: &[Value]) -> Result<Vec<(String, Option<String>)>, ApiError> {
    let mut out = Vec::new();
    for item in list {
        let o = item.as_object().cloned().unwrap_or_default();
        let ip = opt_str(&o, "ip_address")?.ok_or_else(|| {
            ApiError::neutron(
                StatusCode::BAD_REQUEST,
                "AllowedAddressPairsMissingIP",
                "AllowedAddressPair must contain ip_address",
            )
        })?;
        if ip.parse::<std::net::IpAddr>().is_err() && ip.parse::<ipnet::IpNet>().is_err() {
            return Err(bad_input(format!(
                "Invalid input for allowed_address_pairs. Reason: '{ip}' is not a valid IP address."
            )));
        }
        let mac = opt_str(&o, "mac_address")?
            .map(|m| parse_mac(&m, "allowed_address_pairs"))
            .transpose()?;
        if out.iter().any(|(i, m)| *i == ip && *m == mac) {
            return Err(ApiError::neutron(
                StatusCode::BAD_REQUEST,
                "DuplicateAddressPairInRequest",
                format!(
                    "Request contains duplicate address pair: mac_address {} ip_address {ip}.",
                    mac.as_deref().unwrap_or("None")
                ),
            ));
        }
        out.push((ip, mac));
    }
    Ok(out)
}
