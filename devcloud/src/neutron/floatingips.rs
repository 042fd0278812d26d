//! Floating IPs in Neutron's state: allocation, association with a port (through a router
//! that joins its subnet to the external network) and unlinking when a port goes.

use std::net::IpAddr;

use time::OffsetDateTime;

use super::ipam::{allocate_ip, used_ips};
use super::{FloatingIp, NetError, Neutron, State, not_found};

impl Neutron {
    /// Allocate a floating IP from `network_id` (optionally a given address).
    pub fn create_floatingip(
        &self,
        project_id: &str,
        network_id: &str,
        address: Option<IpAddr>,
        id: String,
        now: OffsetDateTime,
    ) -> Result<FloatingIp, NetError> {
        let mut st = self.lock();
        create_fip(&mut st, project_id, network_id, address, "", id, now)
    }
}

pub(super) fn unlink_fips(st: &mut State, port_id: &str) {
    for f in st.floatingips.values_mut() {
        if f.port_id.as_deref() == Some(port_id) {
            f.port_id = None;
            f.fixed_ip_address = None;
            f.router_id = None;
            f.revision += 1;
        }
    }
}

pub(super) fn create_fip(
    st: &mut State,
    project_id: &str,
    network_id: &str,
    address: Option<IpAddr>,
    description: &str,
    id: String,
    now: OffsetDateTime,
) -> Result<FloatingIp, NetError> {
    let net = st
        .networks
        .get(network_id)
        .ok_or_else(|| not_found("Network", network_id))?;
    if !net.external {
        return Err(NetError::BadRequest(
            "ExternalNetworkNotFound",
            format!(
                "Bad floatingip request: Network {network_id} is not a valid external network."
            ),
        ));
    }
    let subnet = st
        .subnets
        .values()
        .find(|s| s.network_id == network_id)
        .cloned()
        .ok_or_else(|| {
            NetError::BadRequest(
                "BadRequest",
                format!(
                    "Bad floatingip request: Network {network_id} does not contain any IPv4 subnet."
                ),
            )
        })?;
    let ip = match address {
        Some(ip) => {
            if !subnet.cidr.contains(&ip) {
                return Err(NetError::BadRequest(
                    "InvalidIpForNetwork",
                    format!(
                        "IP address {ip} is not a valid IP for any of the subnets on the specified network."
                    ),
                ));
            }
            if used_ips(st, &subnet).contains(&ip) {
                return Err(NetError::Conflict(
                    "IpAddressAlreadyAllocated",
                    format!("IP address {ip} already allocated in subnet {}", subnet.id),
                ));
            }
            ip
        }
        None => allocate_ip(st, &subnet.id)?,
    };
    let f = FloatingIp {
        id: id.clone(),
        project_id: project_id.into(),
        floating_network_id: network_id.into(),
        floating_ip_address: ip,
        port_id: None,
        fixed_ip_address: None,
        router_id: None,
        description: description.into(),
        created_at: now,
        revision: 0,
    };
    st.floatingips.insert(id, f.clone());
    Ok(f)
}

/// Associate (Some) or disassociate (None) a floating IP.
pub(super) fn set_fip_port(
    st: &mut State,
    fip_id: &str,
    port_id: Option<&str>,
    fixed: Option<IpAddr>,
) -> Result<(), NetError> {
    let f = st
        .floatingips
        .get(fip_id)
        .cloned()
        .ok_or_else(|| not_found("Floating IP", fip_id))?;
    let Some(port_id) = port_id else {
        if let Some(f) = st.floatingips.get_mut(fip_id) {
            f.port_id = None;
            f.fixed_ip_address = None;
            f.router_id = None;
            f.revision += 1;
        }
        return Ok(());
    };
    let port = st
        .ports
        .get(port_id)
        .cloned()
        .ok_or_else(|| not_found("Port", port_id))?;
    if port.project_id != f.project_id {
        return Err(not_found("Port", port_id));
    }
    let (subnet_id, ip) = match fixed {
        Some(ip) => port.fixed_ips.iter().find(|(_, a)| *a == ip).cloned().ok_or_else(|| {
            NetError::BadRequest("BadRequest", format!("Bad floatingip request: Port {port_id} does not have fixed ip {ip}."))
        })?,
        None => port.fixed_ips.iter().find(|(_, a)| a.is_ipv4()).cloned().ok_or_else(|| {
            NetError::BadRequest("BadRequest", format!("Bad floatingip request: Port {port_id} does not have any fixed IPv4 addresses."))
        })?,
    };
    if let Some(other) = st.floatingips.values().find(|o| {
        o.id != fip_id && o.port_id.as_deref() == Some(port_id) && o.fixed_ip_address == Some(ip)
    }) {
        return Err(NetError::Conflict(
            "FloatingIPPortAlreadyAssociated",
            format!(
                "Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {ip}, as that fixed IP already has a floating IP on external network {}.",
                f.floating_ip_address, f.id, other.floating_network_id
            ),
        ));
    }
    // A router with a gateway on the pool network and an interface on the port's subnet.
    let router = st.routers.values().find(|r| {
        r.gateway_network_id.as_deref() == Some(f.floating_network_id.as_str())
            && st.ports.values().any(|p| {
                p.device_id == r.id
                    && p.device_owner == "network:router_interface"
                    && p.fixed_ips.iter().any(|(s, _)| *s == subnet_id)
            })
    });
    let router_id = router.map(|r| r.id.clone()).ok_or_else(|| {
        NetError::NotFound(
            "ExternalGatewayForFloatingIPNotFound",
            format!("External network {} is not reachable from subnet {subnet_id}.  Therefore, cannot associate Port {port_id} with a Floating IP.", f.floating_network_id),
        )
    })?;
    if let Some(f) = st.floatingips.get_mut(fip_id) {
        f.port_id = Some(port_id.into());
        f.fixed_ip_address = Some(ip);
        f.router_id = Some(router_id);
        f.revision += 1;
    }
    Ok(())
}
