//! Routers: JSON shape, create (with `external_gateway_info`), delete, and adding or removing
//! interfaces by subnet or port.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{bad_input, body_object, created, opt_str, owned, owner, resource, visible, with_std};
use crate::auth::Auth;
use crate::cloud::SharedCloud;
use crate::error::{ApiError, Service, parse_json};
use crate::neutron::{Port, Router, State as NState, Subnet};

pub(crate) fn router_json(st: &NState, r: &Router) -> Value {
    let gw = match (&r.gateway_network_id, &r.gateway_ip) {
        (Some(net), Some((subnet, ip))) => json!({"network_id": net, "enable_snat": true,
            "external_fixed_ips": [{"subnet_id": subnet, "ip_address": ip.to_string()}]}),
        _ => Value::Null,
    };
    let _ = st;
    with_std(
        json!({"id": r.id, "name": r.name, "admin_state_up": true, "status": "ACTIVE",
            "external_gateway_info": gw, "routes": [], "availability_zone_hints": [],
            "availability_zones": ["nova"], "flavor_id": null, "description": r.description}),
        &r.project_id,
        r.created_at,
        3,
    )
}

resource! {
    Router {
        key: "router", collection: "routers", path: "routers", kind: "Router",
        table: routers,
        json: |it, st| router_json(st, it),
        visible: |it, _st, auth| visible(auth, &it.project_id),
    }
}

pub(super) async fn create_router(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "router",
        &[
            "name",
            "admin_state_up",
            "external_gateway_info",
            "description",
            "project_id",
            "tenant_id",
            "distributed",
            "ha",
            "availability_zone_hints",
        ],
    )?;
    let project = owner(&auth, &obj)?;
    let name = opt_str(&obj, "name")?.unwrap_or_default();
    let gateway_net = obj
        .get("external_gateway_info")
        .and_then(|g| g.get("network_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let id = cloud.faults.random_uuid().to_string();
    let now = cloud.clock.now();
    let mut st = cloud.neutron.lock();
    let gateway_ip = match &gateway_net {
        Some(net) => {
            if !st.networks.get(net).is_some_and(|n| n.external) {
                return Err(ApiError::neutron(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("Bad router request: Network {net} is not an external network."),
                ));
            }
            let subnet = st
                .subnets
                .values()
                .find(|s| s.network_id == *net)
                .map(|s| s.id.clone())
                .ok_or_else(|| {
                    ApiError::neutron(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        format!("Bad router request: No subnets on network {net}."),
                    )
                })?;
            let ip = crate::neutron::allocate_ip(&st, &subnet)?;
            Some((subnet, ip))
        }
        None => None,
    };
    let router = Router {
        id: id.clone(),
        name,
        project_id: project,
        gateway_network_id: gateway_net,
        gateway_ip,
        description: opt_str(&obj, "description")?.unwrap_or_default(),
        created_at: now,
    };
    st.routers.insert(id, router.clone());
    Ok(created("router", router_json(&st, &router)))
}

pub(super) async fn delete_router(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut st = cloud.neutron.lock();
    owned::<Router>(&st, &auth, &id)?;
    // l3_db._ensure_router_not_in_use: the interfaces, in the order they were added.
    let mut attached: Vec<&Port> = st
        .ports
        .values()
        .filter(|p| p.device_id == id && p.device_owner == "network:router_interface")
        .collect();
    attached.sort_by_key(|p| p.created_at);
    if !attached.is_empty() {
        let ids: Vec<&str> = attached.iter().map(|p| p.id.as_str()).collect();
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "RouterInUse",
            format!("Router {id} has ports still attached: {}", ids.join(", ")),
        ));
    }
    if st
        .floatingips
        .values()
        .any(|f| f.router_id.as_deref() == Some(id.as_str()))
    {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "RouterInUse",
            format!("Router {id} still has floating IPs"),
        ));
    }
    st.routers.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

fn interface_json(router: &Router, port: &Port) -> Value {
    let subnet_ids: Vec<&str> = port.fixed_ips.iter().map(|(s, _)| s.as_str()).collect();
    json!({"id": router.id, "project_id": router.project_id,
           "port_id": port.id, "network_id": port.network_id, "subnet_id": subnet_ids.first(),
           "subnet_ids": subnet_ids})
}

pub(super) async fn add_interface(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let v: Value = parse_json(Service::Neutron, &body)?;
    let subnet_id = v.get("subnet_id").and_then(Value::as_str).ok_or_else(|| {
        bad_input("Bad router request: Either subnet_id or port_id must be specified.")
    })?;
    let now = cloud.clock.now();
    let port_id = cloud.faults.random_uuid().to_string();
    let mac = cloud.faults.random_u64();
    let mut st = cloud.neutron.lock();
    let router = owned::<Router>(&st, &auth, &id).cloned()?;
    let subnet = owned::<Subnet>(&st, &auth, subnet_id).cloned()?;
    if st
        .ports
        .values()
        .any(|p| p.device_id == id && p.fixed_ips.iter().any(|(s, _)| *s == subnet.id))
    {
        return Err(ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!(
                "Bad router request: Router already has a port on subnet {}.",
                subnet.id
            ),
        ));
    }
    let ip = subnet.gateway_ip.ok_or_else(|| {
        ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Bad router request: Subnet for router interface must have a gateway IP.",
        )
    })?;
    // The interface takes the subnet's gateway address: a port holding it already is a
    // conflict, as Neutron's IPAM answers it.
    if st
        .ports
        .values()
        .any(|p| p.fixed_ips.iter().any(|(s, a)| *s == subnet.id && *a == ip))
    {
        return Err(crate::neutron::NetError::Conflict(
            "IpAddressAlreadyAllocated",
            format!("IP address {ip} already allocated in subnet {}", subnet.id),
        )
        .into());
    }
    let port = Port {
        id: port_id.clone(),
        name: String::new(),
        network_id: subnet.network_id.clone(),
        project_id: router.project_id.clone(),
        mac_address: crate::neutron::mac_from(mac),
        fixed_ips: vec![(subnet.id.clone(), ip)],
        device_id: id.clone(),
        device_owner: "network:router_interface".into(),
        security_groups: Vec::new(),
        description: String::new(),
        allowed_address_pairs: Vec::new(),
        port_security_enabled: true,
        nic_index: 0,
        created_at: now,
        nova_owned: false,
    };
    st.ports.insert(port_id, port.clone());
    Ok(axum::Json(interface_json(&router, &port)).into_response())
}

pub(super) async fn remove_interface(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let v: Value = parse_json(Service::Neutron, &body)?;
    let mut st = cloud.neutron.lock();
    let router = owned::<Router>(&st, &auth, &id).cloned()?;
    let port = match (
        v.get("subnet_id").and_then(Value::as_str),
        v.get("port_id").and_then(Value::as_str),
    ) {
        (_, Some(port_id)) => st
            .ports
            .values()
            .find(|p| p.id == port_id && p.device_id == id)
            .cloned()
            .ok_or_else(|| {
                ApiError::neutron(
                    StatusCode::NOT_FOUND,
                    "RouterInterfaceNotFound",
                    format!("Router {id} does not have an interface with id {port_id}"),
                )
            })?,
        (Some(subnet_id), None) => st
            .ports
            .values()
            .find(|p| p.device_id == id && p.fixed_ips.iter().any(|(s, _)| s == subnet_id))
            .cloned()
            .ok_or_else(|| {
                ApiError::neutron(
                    StatusCode::NOT_FOUND,
                    "RouterInterfaceNotFoundForSubnet",
                    format!("Router {id} has no interface on subnet {subnet_id}"),
                )
            })?,
        (None, None) => {
            return Err(bad_input(
                "Bad router request: Either subnet_id or port_id must be specified.",
            ));
        }
    };
    let subnets: Vec<&String> = port.fixed_ips.iter().map(|(s, _)| s).collect();
    if st.floatingips.values().any(|f| {
        f.router_id.as_deref() == Some(id.as_str())
            && f.port_id
                .as_ref()
                .and_then(|p| st.ports.get(p))
                .is_some_and(|p| p.fixed_ips.iter().any(|(s, _)| subnets.contains(&s)))
    }) {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "RouterInterfaceInUseByFloatingIP",
            format!(
                "Router interface for subnet {} on router {id} cannot be deleted, as it is required by one or more floating IPs.",
                subnets.first().map(|s| s.as_str()).unwrap_or_default()
            ),
        ));
    }
    st.ports.remove(&port.id);
    Ok(axum::Json(interface_json(&router, &port)).into_response())
}
