//! Networks: JSON shape, create and delete (`router:external` and `shared` need admin).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{bad_input, body_object, created, opt_str, owned, owner, resource, visible, with_std};
use crate::auth::Auth;
use crate::cloud::SharedCloud;
use crate::error::ApiError;
use crate::neutron::{NetError, Network, State as NState, not_found};

pub(crate) fn network_json(st: &NState, n: &Network) -> Value {
    let subnets: Vec<&str> = st
        .subnets
        .values()
        .filter(|s| s.network_id == n.id)
        .map(|s| s.id.as_str())
        .collect();
    with_std(
        json!({"id": n.id, "name": n.name, "admin_state_up": true, "mtu": n.mtu,
            "status": "ACTIVE", "subnets": subnets, "shared": n.shared, "router:external": n.external,
            "availability_zone_hints": [], "availability_zones": ["nova"], "ipv4_address_scope": null,
            "ipv6_address_scope": null, "port_security_enabled": n.port_security_enabled, "is_default": false,
            "qos_policy_id": null, "l2_adjacency": true, "dns_domain": "", "description": n.description}),
        &n.project_id,
        n.created_at,
        1,
    )
}

resource! {
    Network {
        key: "network", collection: "networks", path: "networks", kind: "Network",
        table: networks,
        json: |it, st| network_json(st, it),
        visible: |it, _st, auth| visible(auth, &it.project_id) || it.shared || it.external,
    }
}

pub(super) async fn create_network(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "network",
        &[
            "name",
            "admin_state_up",
            "shared",
            "router:external",
            "project_id",
            "tenant_id",
            "description",
            "mtu",
            "port_security_enabled",
        ],
    )?;
    let project = owner(&auth, &obj)?;
    let external = obj
        .get("router:external")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let shared = obj.get("shared").and_then(Value::as_bool).unwrap_or(false);
    if (external || shared) && !auth.is_admin {
        return Err(ApiError::neutron(
            StatusCode::FORBIDDEN,
            "PolicyNotAuthorized",
            "(rule:create_network and rule:create_network:shared) is disallowed by policy",
        ));
    }
    // The ML2 default (VXLAN) is 1450; an MTU above the segment's is refused.
    let max_mtu = if external { 1500 } else { 1450 };
    let mtu = match obj.get("mtu") {
        None | Some(Value::Null) => max_mtu,
        // neutron-lib's convert_to_int: a number or a string of one (the CLI sends "1400").
        Some(Value::Number(n)) if n.as_u64().is_some_and(|m| m <= u32::MAX as u64) => {
            n.as_u64().unwrap_or_default() as u32
        }
        Some(Value::String(t)) if t.trim().parse::<u32>().is_ok() => {
            t.trim().parse::<u32>().unwrap_or_default()
        }
        Some(other) => {
            return Err(bad_input(format!(
                "Invalid input for mtu. Reason: '{other}' is not an integer."
            )));
        }
    };
    if mtu < 68 {
        return Err(bad_input(format!(
            "Invalid input for mtu. Reason: '{mtu}' is too small - must be at least '68'."
        )));
    }
    if mtu > max_mtu {
        return Err(bad_input(format!(
            "Invalid input for operation: Requested MTU is too big, maximum is {max_mtu}."
        )));
    }
    let port_security_enabled = match obj.get("port_security_enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(bad_input(format!(
                "Invalid input for port_security_enabled. Reason: '{other}' is not a valid boolean value."
            )));
        }
    };
    let id = cloud.faults.random_uuid().to_string();
    let name = opt_str(&obj, "name")?.unwrap_or_default();
    let description = opt_str(&obj, "description")?.unwrap_or_default();
    cloud
        .neutron
        .create_network(&id, &project, &name, external, shared, cloud.clock.now());
    let mut st = cloud.neutron.lock();
    let n = st
        .networks
        .get_mut(&id)
        .ok_or_else(|| not_found("Network", &id))?;
    n.mtu = mtu;
    n.port_security_enabled = port_security_enabled;
    n.description = description;
    let n = n.clone();
    let n = &n;
    Ok(created("network", network_json(&st, n)))
}

pub(super) async fn delete_network(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut st = cloud.neutron.lock();
    let n = owned::<Network>(&st, &auth, &id)?;
    let nid = n.id.clone();
    // ML2 deletes the network's DHCP ports itself; any other port keeps the network.
    let in_use: Vec<&str> = st
        .ports
        .values()
        .filter(|p| p.network_id == nid && p.device_owner != "network:dhcp")
        .map(|p| p.id.as_str())
        .collect();
    if !in_use.is_empty() {
        return Err(NetError::Conflict(
            "NetworkInUse",
            format!(
                "Unable to complete operation on network {nid}. There are one or more ports still in use on the network, id for these ports is: {}.",
                in_use.join(",")
            ),
        )
        .into());
    }
    st.subnets.retain(|_, s| s.network_id != nid);
    st.networks.remove(&nid);
    Ok(StatusCode::NO_CONTENT)
}
