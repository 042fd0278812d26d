//! Neutron's IPAM: which addresses of a subnet are in use, the fixed IPs a port asks for or
//! is given (from the allocation pools, or SLAAC's EUI-64 on IPv6), as Neutron picks them.

use std::net::IpAddr;

use super::{FixedIpRequest, NetError, State, Subnet, not_found};
/// Every address in use on a subnet (ports, floating IPs, router gateways).
pub(super) fn used_ips(st: &State, subnet: &Subnet) -> Vec<IpAddr> {
    let mut used: Vec<IpAddr> = st
        .ports
        .values()
        .flat_map(|p| {
            p.fixed_ips
                .iter()
                .filter(|(s, _)| *s == subnet.id)
                .map(|(_, ip)| *ip)
        })
        .collect();
    used.extend(
        st.floatingips
            .values()
            .map(|f| f.floating_ip_address)
            .filter(|ip| subnet.cidr.contains(ip)),
    );
    used.extend(
        st.routers
            .values()
            .filter_map(|r| r.gateway_ip.as_ref())
            .filter(|(s, _)| *s == subnet.id)
            .map(|(_, ip)| *ip),
    );
    // The gateway address is free until a router interface takes it (Neutron lets any port
    // of the network's owner have it); the pools leave it out of automatic allocation.
    used
}

pub(super) fn allocate_ip(st: &State, subnet_id: &str) -> Result<IpAddr, NetError> {
    let subnet = st
        .subnets
        .get(subnet_id)
        .ok_or_else(|| not_found("Subnet", subnet_id))?;
    allocate_from(st, subnet, &[])
}

/// The subnets of a network, in Neutron's order (by id).
pub(super) fn network_subnets<'a>(st: &'a State, network_id: &str) -> Vec<&'a Subnet> {
    st.subnets
        .values()
        .filter(|s| s.network_id == network_id)
        .collect()
}

/// Whether an address can be a port's on this CIDR (`ipam.utils.check_subnet_ip`): not the
/// network address, nor on IPv4 up to /30 the broadcast address.
pub(super) fn subnet_ip_ok(subnet: &Subnet, ip: IpAddr) -> bool {
    if !subnet.cidr.contains(&ip) {
        return false;
    }
    match subnet.cidr {
        ipnet::IpNet::V4(n) if n.prefix_len() <= 30 => {
            ip != IpAddr::V4(n.network()) && ip != IpAddr::V4(n.broadcast())
        }
        ipnet::IpNet::V4(_) => true,
        ipnet::IpNet::V6(n) => ip != IpAddr::V6(n.network()),
    }
}

/// The fixed IPs a port create asked for, checked as Neutron's IPAM does.
pub(super) fn requested_ips(
    st: &State,
    network_id: &str,
    list: &[FixedIpRequest],
) -> Result<Vec<(String, IpAddr)>, NetError> {
    let subnets = network_subnets(st, network_id);
    let mut out: Vec<(String, IpAddr)> = Vec::new();
    for req in list {
        let subnet = match (&req.subnet_id, req.ip_address) {
            (Some(sid), ip) => {
                let Some(s) = subnets.iter().find(|s| s.id == *sid) else {
                    if !st.subnets.contains_key(sid) {
                        return Err(not_found("Subnet", sid));
                    }
                    return Err(NetError::BadRequest(
                        "InvalidInput",
                        format!(
                            "Invalid input for operation: Failed to create port on network {network_id}, because fixed_ips included invalid subnet {sid}."
                        ),
                    ));
                };
                if let Some(ip) = ip.filter(|ip| !subnet_ip_ok(s, *ip)) {
                    return Err(NetError::BadRequest(
                        "InvalidIpForSubnet",
                        format!("IP address {ip} is not a valid IP for the specified subnet."),
                    ));
                }
                *s
            }
            (None, Some(ip)) => subnets
                .iter()
                .find(|s| subnet_ip_ok(s, ip))
                .copied()
                .ok_or_else(|| {
                    NetError::BadRequest(
                        "InvalidIpForNetwork",
                        format!(
                            "IP address {ip} is not a valid IP for any of the subnets on the specified network."
                        ),
                    )
                })?,
            (None, None) => {
                return Err(NetError::BadRequest(
                    "InvalidInput",
                    "Invalid input for operation: IP allocation requires subnet_id or ip_address."
                        .into(),
                ));
            }
        };
        let ip = match req.ip_address {
            Some(ip) => {
                if used_ips(st, subnet).contains(&ip) || out.iter().any(|(_, a)| *a == ip) {
                    return Err(NetError::Conflict(
                        "IpAddressAlreadyAllocated",
                        format!("IP address {ip} already allocated in subnet {}", subnet.id),
                    ));
                }
                ip
            }
            None => allocate_from(st, subnet, &out)?,
        };
        out.push((subnet.id.clone(), ip));
    }
    Ok(out)
}

/// A port's addresses when it asks for none: one from the first IPv4 subnet, one from the
/// first IPv6 subnet that is not auto-address.
pub(super) fn default_ips(st: &State, network_id: &str) -> Result<Vec<(String, IpAddr)>, NetError> {
    let subnets = network_subnets(st, network_id);
    let mut out = Vec::new();
    if let Some(s) = subnets.iter().find(|s| s.cidr.addr().is_ipv4()) {
        out.push((s.id.clone(), allocate_from(st, s, &out)?));
    }
    if let Some(s) = subnets
        .iter()
        .find(|s| !s.cidr.addr().is_ipv4() && !s.is_auto_address())
    {
        out.push((s.id.clone(), allocate_from(st, s, &out)?));
    }
    Ok(out)
}

/// The EUI-64 addresses a port gets on the network's auto-address subnets it has none on.
pub(super) fn auto_addresses(
    st: &State,
    network_id: &str,
    mac: &str,
    have: &[(String, IpAddr)],
) -> Vec<(String, IpAddr)> {
    network_subnets(st, network_id)
        .into_iter()
        .filter(|s| s.is_auto_address() && !have.iter().any(|(id, _)| *id == s.id))
        .filter_map(|s| eui64(s.cidr, mac).map(|ip| (s.id.clone(), ip)))
        .collect()
}

/// The EUI-64 address of a MAC in a /64 (RFC 4291 appendix A).
pub(super) fn eui64(cidr: ipnet::IpNet, mac: &str) -> Option<IpAddr> {
    let ipnet::IpNet::V6(net) = cidr else {
        return None;
    };
    let b: Vec<u8> = mac
        .split(':')
        .map(|x| u8::from_str_radix(x, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let [m0, m1, m2, m3, m4, m5] = b.as_slice() else {
        return None;
    };
    let iid = u64::from_be_bytes([m0 ^ 2, *m1, *m2, 0xff, 0xfe, *m3, *m4, *m5]);
    let prefix = u128::from(net.network()) & !u128::from(u64::MAX);
    Some(IpAddr::V6((prefix | u128::from(iid)).into()))
}

/// The first free address of a subnet's allocation pools (not among `taken` either).
pub(super) fn allocate_from(
    st: &State,
    subnet: &Subnet,
    taken: &[(String, IpAddr)],
) -> Result<IpAddr, NetError> {
    let mut used = used_ips(st, subnet);
    used.extend(taken.iter().map(|(_, ip)| *ip));
    pool_addresses(subnet)
        .find(|ip| !used.contains(ip))
        .ok_or_else(|| {
            NetError::Conflict(
                "IpAddressGenerationFailure",
                format!(
                    "No more IP addresses available on network {}.",
                    subnet.network_id
                ),
            )
        })
}

/// The addresses of a subnet's pools, in order (at most 65536 of each pool looked at).
pub(super) fn pool_addresses(subnet: &Subnet) -> impl Iterator<Item = IpAddr> + '_ {
    subnet.allocation_pools.iter().flat_map(|(a, b)| {
        let (a, b) = (to_u128(*a), to_u128(*b));
        let v4 = subnet.cidr.addr().is_ipv4();
        (a..=b.min(a.saturating_add(1 << 16))).map(move |x| {
            if v4 {
                IpAddr::V4((x as u32).into())
            } else {
                IpAddr::V6(x.into())
            }
        })
    })
}

pub(super) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}
