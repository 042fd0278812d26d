//! Ports in Neutron's state: the API's create, Nova's boot port and binding, deletion, what
//! Nova reads back of a server's ports, and fixed-IP allocation.

use std::net::IpAddr;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::floatingips::unlink_fips;
use super::groups::ensure_default;
use super::{
    FixedIpRequest, NetError, Neutron, Port, SecurityGroup, State, Subnet, mac_from, not_found,
};

impl Neutron {
    /// Create a server's port on `network_id` with the named security groups of `project_id`
    /// (`default` when `sg_names` is empty). Fails with 404 on an unknown network or group.
    ///
    /// This is the port Nova makes when it boots a server (`POST /servers` with
    /// `networks: [{"uuid"[, "fixed_ip"]}]`); [`Neutron::create_port`] is the API's
    /// `POST /v2.0/ports`. They stay two functions because they take different requests and
    /// answer with different errors, and one function would need a mode flag at every step:
    ///
    /// - network: here the project's own, a shared or an external network (a boot on `public`
    ///   works; real Nova refuses that to non-admins with `ExternalNetworkAttachForbidden`);
    ///   `create_port` takes only the project's own or a shared one.
    /// - security groups: here by name or id, as Nova's `security_groups: [{"name"}]`, with
    ///   `SecurityGroupNotFound` / `NoUniqueMatch`; `create_port` takes ids only, 404
    ///   `Security group` otherwise.
    /// - fixed IPs: here at most one address, on whichever subnet of the network contains it,
    ///   and without one an address from the first IPv4 subnet or else any subnet (so an
    ///   IPv6-only network still gives the server an address), with Nova's messages
    ///   ("... is already in use on instance"); `create_port` takes a list of
    ///   `{subnet_id, ip_address}` checked as neutron checks them (`InvalidInput`,
    ///   `InvalidIpForNetwork`, `InvalidIpForSubnet`, `IpAddressAlreadyAllocated`, also among
    ///   the request's own addresses), and without one only the first IPv4 subnet.
    /// - result: here bound at once (`device_id` the server, `device_owner` `compute:nova`,
    ///   no name) and `nova_owned`, so it goes with the server; `create_port`'s port is
    ///   unbound until a boot binds it ([`Neutron::bind_port`]) and outlives the server.
    ///
    /// (Router ports are made apart again: the gateway port in [`Neutron::create_router`] and
    /// interface ports in the API's `add_router_interface`, each with its fixed owner.)
    #[allow(clippy::too_many_arguments)]
    pub fn create_server_port(
        &self,
        project_id: &str,
        network_id: &str,
        fixed_ip: Option<IpAddr>,
        device_id: &str,
        sg_names: &[String],
        port_id: String,
        mac: u64,
        now: OffsetDateTime,
        ids: &mut dyn FnMut() -> String,
    ) -> Result<Port, NetError> {
        let mut st = self.lock();
        let net = st
            .networks
            .get(network_id)
            .cloned()
            .ok_or_else(|| not_found("Network", network_id))?;
        if net.project_id != project_id && !net.shared && !net.external {
            return Err(not_found("Network", network_id));
        }
        let default_id = ensure_default(&mut st, project_id, now, ids);
        let mut groups = Vec::new();
        if sg_names.is_empty() {
            groups.push(default_id);
        }
        for name in sg_names {
            let matches: Vec<&SecurityGroup> = st
                .security_groups
                .values()
                .filter(|g| g.project_id == project_id && (g.name == *name || g.id == *name))
                .collect();
            match matches.as_slice() {
                [one] => groups.push(one.id.clone()),
                [] => {
                    return Err(NetError::NotFound(
                        "SecurityGroupNotFound",
                        format!("Security group {name} not found."),
                    ));
                }
                _ => {
                    return Err(NetError::Conflict(
                        "NoUniqueMatch",
                        format!(
                            "Multiple security groups found matching '{name}'. Use an ID to be more specific."
                        ),
                    ));
                }
            }
        }
        let subnet = match fixed_ip {
            Some(ip) => Some(
                st.subnets
                    .values()
                    .find(|s| s.network_id == network_id && s.cidr.contains(&ip))
                    .cloned()
                    .ok_or_else(|| {
                        NetError::BadRequest(
                            "InvalidIpForNetwork",
                            format!("Fixed IP address {ip} is not valid on network {network_id}."),
                        )
                    })?,
            ),
            None => st
                .subnets
                .values()
                .find(|s| s.network_id == network_id && s.cidr.addr().is_ipv4())
                .or_else(|| st.subnets.values().find(|s| s.network_id == network_id))
                .cloned(),
        };
        let mut fixed_ips = Vec::new();
        if let Some(subnet) = subnet {
            let ip = match fixed_ip {
                Some(ip) if used_ips(&st, &subnet).contains(&ip) => {
                    return Err(NetError::Conflict(
                        "IpAddressAlreadyAllocated",
                        format!("Fixed IP address {ip} is already in use on instance."),
                    ));
                }
                Some(ip) => ip,
                None => allocate_ip(&st, &subnet.id)?,
            };
            fixed_ips.push((subnet.id.clone(), ip));
        }
        let port = Port {
            id: port_id.clone(),
            name: String::new(),
            network_id: network_id.into(),
            project_id: project_id.into(),
            mac_address: mac_from(mac),
            fixed_ips,
            device_id: device_id.into(),
            device_owner: "compute:nova".into(),
            security_groups: groups,
            created_at: now,
            nova_owned: true,
        };
        st.ports.insert(port_id, port.clone());
        Ok(port)
    }

    /// Bind a user-created port to a server (Nova boot with `networks: [{"port": id}]`).
    pub fn bind_port(
        &self,
        port_id: &str,
        project_id: &str,
        device_id: &str,
    ) -> Result<Port, NetError> {
        let mut st = self.lock();
        let port = st
            .ports
            .get_mut(port_id)
            .filter(|p| p.project_id == project_id)
            .ok_or_else(|| not_found("Port", port_id))?;
        if !port.device_id.is_empty() {
            return Err(NetError::Conflict(
                "PortInUse",
                format!("Port {port_id} is still in use."),
            ));
        }
        port.device_id = device_id.into();
        port.device_owner = "compute:nova".into();
        Ok(port.clone())
    }

    /// Create a port (Neutron `POST /ports`): fixed IPs as requested (or one from the
    /// network's first IPv4 subnet), security groups by id (default: the project's `default`).
    /// Why this is not [`Neutron::create_server_port`]: see there.
    #[allow(clippy::too_many_arguments)]
    pub fn create_port(
        &self,
        project_id: &str,
        network_id: &str,
        name: &str,
        fixed: &[FixedIpRequest],
        security_groups: Option<Vec<String>>,
        port_id: String,
        mac: u64,
        now: OffsetDateTime,
        ids: &mut dyn FnMut() -> String,
    ) -> Result<Port, NetError> {
        let mut st = self.lock();
        let net = st
            .networks
            .get(network_id)
            .cloned()
            .ok_or_else(|| not_found("Network", network_id))?;
        if net.project_id != project_id && !net.shared {
            return Err(not_found("Network", network_id));
        }
        let groups = match security_groups {
            Some(list) => {
                for g in &list {
                    if st
                        .security_groups
                        .get(g)
                        .is_none_or(|x| x.project_id != project_id)
                    {
                        return Err(not_found("Security group", g));
                    }
                }
                list
            }
            None => vec![ensure_default(&mut st, project_id, now, ids)],
        };
        let mut fixed_ips: Vec<(String, IpAddr)> = Vec::new();
        let requests: Vec<FixedIpRequest> = if fixed.is_empty() {
            vec![FixedIpRequest::default()]
        } else {
            fixed.to_vec()
        };
        for req in requests {
            let subnet = match (&req.subnet_id, req.ip_address) {
                (Some(sid), _) => st.subnets.get(sid).filter(|s| s.network_id == network_id).cloned().ok_or_else(|| {
                    NetError::BadRequest("InvalidInput", format!("Invalid input for operation: Failed to create port on network {network_id}, because fixed_ips included invalid subnet {sid}."))
                })?,
                (None, Some(ip)) => st.subnets.values().find(|s| s.network_id == network_id && s.cidr.contains(&ip)).cloned().ok_or_else(|| {
                    NetError::BadRequest("InvalidIpForNetwork", format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."))
                })?,
                (None, None) => match st.subnets.values().find(|s| s.network_id == network_id && s.cidr.addr().is_ipv4()) {
                    Some(s) => s.clone(),
                    None => continue,
                },
            };
            let ip = match req.ip_address {
                Some(ip) => {
                    if !subnet.cidr.contains(&ip) {
                        return Err(NetError::BadRequest(
                            "InvalidIpForSubnet",
                            format!("IP address {ip} is not a valid IP for the specified subnet."),
                        ));
                    }
                    if used_ips(&st, &subnet).contains(&ip)
                        || fixed_ips.iter().any(|(_, a)| *a == ip)
                    {
                        return Err(NetError::Conflict(
                            "IpAddressAlreadyAllocated",
                            format!("IP address {ip} already allocated in subnet {}", subnet.id),
                        ));
                    }
                    ip
                }
                None => allocate_ip(&st, &subnet.id)?,
            };
            fixed_ips.push((subnet.id.clone(), ip));
        }
        let port = Port {
            id: port_id.clone(),
            name: name.into(),
            network_id: network_id.into(),
            project_id: project_id.into(),
            mac_address: mac_from(mac),
            fixed_ips,
            device_id: String::new(),
            device_owner: String::new(),
            security_groups: groups,
            created_at: now,
            nova_owned: false,
        };
        st.ports.insert(port_id, port.clone());
        Ok(port)
    }

    /// Delete a port, disassociating its floating IPs.
    pub fn delete_port(&self, port_id: &str) {
        let mut st = self.lock();
        st.ports.remove(port_id);
        unlink_fips(&mut st, port_id);
    }

    /// A server goes: delete the ports Nova made for it, unbind those the user passed in, and
    /// disassociate floating IPs from the deleted ones (as Nova's delete does).
    pub fn delete_device_ports(&self, device_id: &str) {
        let mut st = self.lock();
        let ids: Vec<String> = st
            .ports
            .values()
            .filter(|p| p.device_id == device_id)
            .map(|p| p.id.clone())
            .collect();
        for id in &ids {
            if let Some(p) = st.ports.get_mut(id).filter(|p| !p.nova_owned) {
                p.device_id = String::new();
                p.device_owner = String::new();
                continue;
            }
            st.ports.remove(id);
            unlink_fips(&mut st, id);
        }
    }

    /// A server's ports.
    pub fn device_ports(&self, device_id: &str) -> Vec<Port> {
        self.lock()
            .ports
            .values()
            .filter(|p| p.device_id == device_id)
            .cloned()
            .collect()
    }

    /// Nova's `addresses` for a server: network name -> [{addr, version, OS-EXT-IPS:type,
    /// OS-EXT-IPS-MAC:mac_addr}], fixed then floating.
    pub fn server_addresses(&self, device_id: &str) -> serde_json::Map<String, Value> {
        let st = self.lock();
        let mut out = serde_json::Map::new();
        for p in st.ports.values().filter(|p| p.device_id == device_id) {
            let name = st
                .networks
                .get(&p.network_id)
                .map(|n| n.name.clone())
                .unwrap_or_default();
            let mut list = Vec::new();
            for (_, ip) in &p.fixed_ips {
                list.push(
                    json!({"version": if ip.is_ipv4() {4} else {6}, "addr": ip.to_string(),
                    "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": p.mac_address}),
                );
            }
            for f in st
                .floatingips
                .values()
                .filter(|f| f.port_id.as_deref() == Some(&p.id))
            {
                list.push(
                    json!({"version": if f.floating_ip_address.is_ipv4() {4} else {6},
                    "addr": f.floating_ip_address.to_string(), "OS-EXT-IPS:type": "floating",
                    "OS-EXT-IPS-MAC:mac_addr": p.mac_address}),
                );
            }
            if let Some(Value::Array(existing)) = out.get_mut(&name) {
                existing.extend(list);
            } else {
                out.insert(name, Value::Array(list));
            }
        }
        out
    }
}

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
    if let Some(g) = subnet.gateway_ip {
        used.push(g);
    }
    used
}

pub(super) fn allocate_ip(st: &State, subnet_id: &str) -> Result<IpAddr, NetError> {
    let subnet = st
        .subnets
        .get(subnet_id)
        .ok_or_else(|| not_found("Subnet", subnet_id))?;
    let used = used_ips(st, subnet);
    // neutron's default allocation pool starts after the gateway: .2 onwards.
    subnet
        .cidr
        .hosts()
        .take(1 << 16)
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
