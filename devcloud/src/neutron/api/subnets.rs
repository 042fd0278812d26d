//! Subnets: JSON shape, create (CIDR and gateway checks, overlap 400) and delete (409 in use).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{
    bad_input, body_object, created, opt_str, owned, owner, parse_ip, required, resource, visible,
    with_std,
};
use crate::auth::Auth;
use crate::cloud::SharedCloud;
use crate::error::ApiError;
use crate::neutron::{Network, Subnet, not_found};

pub(crate) fn subnet_json(s: &Subnet) -> Value {
    let mut hosts = s.cidr.hosts();
    let first = hosts.nth(1);
    let last = s.cidr.hosts().last();
    let pools = match (first, last) {
        (Some(a), Some(b)) => json!([{"start": a.to_string(), "end": b.to_string()}]),
        _ => json!([]),
    };
    with_std(
        json!({"id": s.id, "name": s.name, "network_id": s.network_id, "cidr": s.cidr.to_string(),
            "gateway_ip": s.gateway_ip.map(|g| g.to_string()), "ip_version": if s.cidr.addr().is_ipv4() {4} else {6},
            "enable_dhcp": true, "dns_nameservers": [], "allocation_pools": pools, "host_routes": [],
            "ipv6_ra_mode": null, "ipv6_address_mode": null, "subnetpool_id": null, "service_types": [],
            "dns_publish_fixed_ip": false}),
        &s.project_id,
        s.created_at,
        0,
    )
}

resource! {
    Subnet {
        key: "subnet", collection: "subnets", path: "subnets", kind: "Subnet",
        table: subnets,
        json: |it, _st| subnet_json(it),
        visible: |it, st, auth| {
            visible(auth, &it.project_id)
                || st
                    .networks
                    .get(&it.network_id)
                    .is_some_and(|n| n.shared || n.external)
        },
    }
}

pub(super) async fn create_subnet(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "subnet",
        &[
            "network_id",
            "cidr",
            "ip_version",
            "name",
            "gateway_ip",
            "enable_dhcp",
            "dns_nameservers",
            "allocation_pools",
            "host_routes",
            "description",
            "project_id",
            "tenant_id",
            "ipv6_ra_mode",
            "ipv6_address_mode",
        ],
    )?;
    let project = owner(&auth, &obj)?;
    let network = required(&obj, "network_id")?;
    let cidr_s = opt_str(&obj, "cidr")?.ok_or_else(|| {
        bad_input("Bad subnets request: a cidr must be specified in the absence of a subnet pool.")
    })?;
    let cidr: ipnet::IpNet = cidr_s.parse().map_err(|_| {
        bad_input(format!(
            "Invalid input for cidr. Reason: '{cidr_s}' is not a valid IP subnet."
        ))
    })?;
    let version = obj.get("ip_version").and_then(Value::as_u64).unwrap_or(4);
    if (version == 4) != cidr.addr().is_ipv4() {
        return Err(bad_input(format!(
            "Invalid input for operation: Cidr {cidr_s} does not match the IP version {version}."
        )));
    }
    let gateway = parse_ip(opt_str(&obj, "gateway_ip")?, "gateway_ip")?;
    if gateway.is_some_and(|g| !cidr.contains(&g)) {
        return Err(bad_input(
            "Invalid input for operation: Gateway is not valid on subnet.",
        ));
    }
    let now = cloud.clock.now();
    let id = cloud.faults.random_uuid().to_string();
    {
        let st = cloud.neutron.lock();
        let net = owned::<Network>(&st, &auth, &network)?;
        if let Some(other) = st.subnets.values().find(|s| {
            s.network_id == net.id
                && (s.cidr.contains(&cidr.network()) || cidr.contains(&s.cidr.network()))
        }) {
            return Err(bad_input(format!(
                "Invalid input for operation: Requested subnet with cidr: {cidr} for network: {network} overlaps with another subnet {}.",
                other.id
            )));
        }
    }
    let name = opt_str(&obj, "name")?.unwrap_or_default();
    cloud
        .neutron
        .create_subnet(&id, &project, &network, &name, cidr, now);
    let mut st = cloud.neutron.lock();
    let subnet = st
        .subnets
        .get_mut(&id)
        .ok_or_else(|| not_found("Subnet", &id))?;
    if gateway.is_some() {
        subnet.gateway_ip = gateway;
    }
    Ok(created("subnet", subnet_json(subnet)))
}

pub(super) async fn delete_subnet(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut st = cloud.neutron.lock();
    owned::<Subnet>(&st, &auth, &id)?;
    if st
        .ports
        .values()
        .any(|p| p.fixed_ips.iter().any(|(s, _)| *s == id))
    {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "SubnetInUse",
            format!(
                "Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."
            ),
        ));
    }
    st.subnets.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}
