//! Subnets: JSON shape, create (CIDR and gateway checks, overlap 400) and delete (409 in use).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value, json};

use super::{
    bad_input, body_object, created, opt_str, owned, owner, parse_ip, required, resource, visible,
    with_std,
};
use crate::auth::Auth;
use crate::cloud::SharedCloud;
use crate::error::ApiError;
use crate::neutron::{Network, State as NState, Subnet};

pub(crate) fn subnet_json(st: &NState, s: &Subnet) -> Value {
    let external = st.networks.get(&s.network_id).is_some_and(|n| n.external);
    let pools: Vec<Value> = s
        .allocation_pools
        .iter()
        .map(|(a, b)| json!({"start": a.to_string(), "end": b.to_string()}))
        .collect();
    let dns: Vec<String> = s.dns_nameservers.iter().map(|d| d.to_string()).collect();
    let routes: Vec<Value> = s
        .host_routes
        .iter()
        .map(|(d, n)| json!({"destination": d.to_string(), "nexthop": n.to_string()}))
        .collect();
    with_std(
        json!({"id": s.id, "name": s.name, "network_id": s.network_id, "cidr": s.cidr.to_string(),
            "gateway_ip": s.gateway_ip.map(|g| g.to_string()), "ip_version": if s.cidr.addr().is_ipv4() {4} else {6},
            "enable_dhcp": s.enable_dhcp, "dns_nameservers": dns, "allocation_pools": pools, "host_routes": routes,
            "ipv6_ra_mode": s.ipv6_ra_mode, "ipv6_address_mode": s.ipv6_address_mode, "subnetpool_id": null, "service_types": [],
            "router:external": external, "description": s.description}),
        &s.project_id,
        s.created_at,
        0,
    )
}

resource! {
    Subnet {
        key: "subnet", collection: "subnets", path: "subnets", kind: "Subnet",
        table: subnets,
        json: |it, st| subnet_json(st, it),
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
        return Err(invalid_input(format!(
            "Invalid input for operation: Cidr {cidr_s} does not match the IP version {version}."
        )));
    }
    // gateway_ip: absent is the first address, null is none.
    let gateway = match obj.get("gateway_ip") {
        None => default_gateway(cidr),
        Some(Value::Null) => None,
        Some(_) => parse_ip(opt_str(&obj, "gateway_ip")?, "gateway_ip")?,
    };
    if let Some(g) = gateway {
        if g.is_ipv4() != cidr.addr().is_ipv4() {
            return Err(invalid_input(format!(
                "Invalid input for operation: {g} is not a valid IP for the defined subnet."
            )));
        }
        if gateway_invalid(cidr, g) {
            return Err(invalid_input(
                "Invalid input for operation: Gateway is not valid on subnet.",
            ));
        }
    }
    let enable_dhcp = opt_bool(&obj, "enable_dhcp")?.unwrap_or(true);
    let ra_mode = ipv6_mode(&obj, "ipv6_ra_mode")?;
    let address_mode = ipv6_mode(&obj, "ipv6_address_mode")?;
    if (ra_mode.is_some() || address_mode.is_some()) && version == 4 {
        return Err(invalid_input(
            "Invalid input for operation: ipv6_ra_mode or ipv6_address_mode cannot be set when ip_version is 4.",
        ));
    }
    if (ra_mode.is_some() || address_mode.is_some()) && !enable_dhcp {
        return Err(invalid_input(
            "Invalid input for operation: ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False.",
        ));
    }
    if let (Some(ra), Some(addr)) = (&ra_mode, &address_mode)
        && ra != addr
    {
        return Err(invalid_input(format!(
            "Invalid input for operation: ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to '{addr}' is not valid. If both attributes are set, they must be the same value."
        )));
    }
    if matches!(address_mode.as_deref(), Some("slaac" | "dhcpv6-stateless"))
        && cidr.prefix_len() != 64
    {
        return Err(invalid_input(format!(
            "Invalid input for operation: Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64."
        )));
    }
    let dns_nameservers = dns_servers(&obj, version)?;
    let host_routes = routes(&obj, version)?;
    let allocation_pools = match obj.get("allocation_pools") {
        None | Some(Value::Null) => crate::neutron::default_pools(cidr, gateway),
        Some(v) => pools(v, cidr, gateway)?,
    };
    let now = cloud.clock.now();
    let id = cloud.faults.random_uuid().to_string();
    let mut st = cloud.neutron.lock();
    let net = owned::<Network>(&st, &auth, &network)?.clone();
    if let Some(other) = st.subnets.values().find(|s| {
        s.network_id == net.id
            && (s.cidr.contains(&cidr.network()) || cidr.contains(&s.cidr.network()))
    }) {
        tracing::debug!(subnet = %other.id, "overlapping subnet");
        return Err(ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            format!(
                "Invalid input for operation: Requested subnet with cidr: {cidr} for network: {network} overlaps with another subnet."
            ),
        ));
    }
    let name = opt_str(&obj, "name")?.unwrap_or_default();
    let mut subnet = Subnet::new(&id, &project, &net.id, &name, cidr, gateway, now);
    subnet.description = opt_str(&obj, "description")?.unwrap_or_default();
    subnet.allocation_pools = allocation_pools;
    subnet.dns_nameservers = dns_nameservers;
    subnet.host_routes = host_routes;
    subnet.enable_dhcp = enable_dhcp;
    subnet.ipv6_ra_mode = ra_mode;
    subnet.ipv6_address_mode = address_mode;
    let body = subnet_json(&st, &subnet);
    st.subnets.insert(id, subnet);
    Ok(created("subnet", body))
}

/// Neutron's default gateway (`_gateway_ip_str`): on IPv4 the address after the network
/// address, on IPv6 the network address (the subnet-router anycast address).
fn default_gateway(cidr: IpNet) -> Option<IpAddr> {
    Some(match cidr {
        IpNet::V4(n) => IpAddr::V4(u32::from(n.network()).wrapping_add(1).into()),
        IpNet::V6(n) => IpAddr::V6(n.network()),
    })
}

/// `ipam.utils.check_gateway_invalid_in_subnet`: on IPv4 the network and the last address
/// cannot be the gateway; any address can on IPv6, and an address outside the CIDR can.
fn gateway_invalid(cidr: IpNet, g: IpAddr) -> bool {
    match cidr {
        IpNet::V4(n) => g == IpAddr::V4(n.network()) || g == IpAddr::V4(n.broadcast()),
        IpNet::V6(_) => false,
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(bad_input(format!(
            "Invalid input for {key}. Reason: '{other}' cannot be converted to boolean."
        ))),
    }
}

fn ipv6_mode(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match opt_str(obj, key)? {
        None => Ok(None),
        Some(m) if ["slaac", "dhcpv6-stateful", "dhcpv6-stateless"].contains(&m.as_str()) => {
            Ok(Some(m))
        }
        Some(m) => Err(bad_input(format!(
            "Invalid input for {key}. Reason: '{m}' is not in ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac']."
        ))),
    }
}

/// `dns_nameservers`: at most 5 (neutron's `max_dns_nameservers`), addresses of the subnet's
/// version, no duplicates.
fn dns_servers(obj: &Map<String, Value>, version: u64) -> Result<Vec<IpAddr>, ApiError> {
    let list = match obj.get("dns_nameservers") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(bad_input(format!(
                "Invalid input for dns_nameservers. Reason: '{other}' is not a list."
            )));
        }
    };
    let mut out: Vec<IpAddr> = Vec::new();
    for d in list {
        let text = d.as_str().unwrap_or_default();
        let ip: IpAddr = text.parse().map_err(|_| {
            bad_input(format!(
                "Invalid input for dns_nameservers. Reason: '{text}' is not a valid nameserver."
            ))
        })?;
        if out.contains(&ip) {
            return Err(bad_input(format!(
                "Invalid input for dns_nameservers. Reason: Duplicate nameserver '{text}'."
            )));
        }
        if ip.is_ipv4() != (version == 4) {
            return Err(invalid_input(format!(
                "Invalid input for operation: {text} is not a valid IP for the defined subnet."
            )));
        }
        out.push(ip);
    }
    if out.len() > 5 {
        return Err(ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "DNSNameServersExhausted",
            "Unable to complete operation for new subnet. The number of DNS nameservers exceeds the limit 5.",
        ));
    }
    Ok(out)
}

/// `host_routes`: destination CIDR and nexthop address, of the subnet's version.
fn routes(obj: &Map<String, Value>, version: u64) -> Result<Vec<(IpNet, IpAddr)>, ApiError> {
    let list = match obj.get("host_routes") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(bad_input(format!(
                "Invalid input for host_routes. Reason: '{other}' is not a list."
            )));
        }
    };
    let mut out = Vec::new();
    for r in list {
        let dest = r
            .get("destination")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let hop = r.get("nexthop").and_then(Value::as_str).unwrap_or_default();
        let (Ok(d), Ok(n)) = (dest.parse::<IpNet>(), hop.parse::<IpAddr>()) else {
            return Err(bad_input(format!(
                "Invalid input for host_routes. Reason: Validation of dictionary's keys failed. Expected keys: {{'destination', 'nexthop'}} Provided keys: {r}."
            )));
        };
        for (text, v4) in [(hop, n.is_ipv4()), (dest, d.addr().is_ipv4())] {
            if v4 != (version == 4) {
                return Err(invalid_input(format!(
                    "Invalid input for operation: {text} is not a valid IP for the defined subnet."
                )));
            }
        }
        out.push((d.trunc(), n));
    }
    if out.len() > 20 {
        return Err(ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "HostRoutesExhausted",
            "Unable to complete operation for new subnet. The number of host routes exceeds the limit 20.",
        ));
    }
    Ok(out)
}

/// `allocation_pools` checked as `ipam_backend_mixin.validate_allocation_pools` does: each
/// inside the CIDR, start before end, no two overlapping, the gateway in none.
fn pools(
    v: &Value,
    cidr: IpNet,
    gateway: Option<IpAddr>,
) -> Result<Vec<(IpAddr, IpAddr)>, ApiError> {
    let list = v.as_array().cloned().unwrap_or_default();
    let mut out: Vec<(IpAddr, IpAddr)> = Vec::new();
    for p in &list {
        let start = p.get("start").and_then(Value::as_str).unwrap_or_default();
        let end = p.get("end").and_then(Value::as_str).unwrap_or_default();
        let invalid = || {
            ApiError::neutron(
                StatusCode::BAD_REQUEST,
                "InvalidAllocationPool",
                format!("The allocation pool {start}-{end} is not valid."),
            )
        };
        let (Ok(a), Ok(b)) = (start.parse::<IpAddr>(), end.parse::<IpAddr>()) else {
            return Err(invalid());
        };
        if a.is_ipv4() != cidr.addr().is_ipv4() || b.is_ipv4() != a.is_ipv4() || a > b {
            return Err(invalid());
        }
        if !cidr.contains(&a) || !cidr.contains(&b) {
            return Err(ApiError::neutron(
                StatusCode::BAD_REQUEST,
                "OutOfBoundsAllocationPool",
                format!("The allocation pool {a}-{b} spans beyond the subnet cidr {cidr}."),
            ));
        }
        if let Some((c, d)) = out.iter().find(|(c, d)| a <= *d && *c <= b) {
            return Err(ApiError::neutron(
                StatusCode::CONFLICT,
                "OverlappingAllocationPools",
                format!("Found overlapping allocation pools: {c}-{d} {a}-{b} for subnet {cidr}."),
            ));
        }
        out.push((a, b));
    }
    if let Some(g) = gateway
        && let Some((a, b)) = out.iter().find(|(a, b)| *a <= g && g <= *b)
    {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "GatewayConflictWithAllocationPools",
            format!("Gateway ip {g} conflicts with allocation pool {a}-{b}."),
        ));
    }
    Ok(out)
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

/// Neutron's `InvalidInput` (400), whose message starts "Invalid input for operation:".
fn invalid_input(msg: impl Into<String>) -> ApiError {
    ApiError::neutron(StatusCode::BAD_REQUEST, "InvalidInput", msg)
}
