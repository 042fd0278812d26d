//! Neutron v2.0 (networks, subnets, ports, security groups and rules, floating IPs, routers),
//! mounted at `/network`. This file holds the state and the operations Nova and the seed call;
//! `api/` the HTTP handlers (a file per resource, the shared list and show in `api/list.rs`),
//! `rules.rs` security-group-rule validation. Knows nothing about Nova or Glance: Nova calls in
//! to create ports.

mod api;
mod rules;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use ipnet::IpNet;
use serde_json::{Value, json};
use time::OffsetDateTime;

pub use api::router;
pub use rules::RuleSpec;

use crate::clock::iso_seconds;

/// A network.
#[derive(Debug, Clone)]
pub struct Network {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Owner project.
    pub project_id: String,
    /// `router:external`.
    pub external: bool,
    /// Shared with all projects.
    pub shared: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A subnet.
#[derive(Debug, Clone)]
pub struct Subnet {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Network.
    pub network_id: String,
    /// Owner project.
    pub project_id: String,
    /// CIDR.
    pub cidr: IpNet,
    /// Gateway.
    pub gateway_ip: Option<IpAddr>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A port.
#[derive(Debug, Clone)]
pub struct Port {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Network.
    pub network_id: String,
    /// Owner project.
    pub project_id: String,
    /// MAC address.
    pub mac_address: String,
    /// (subnet id, address).
    pub fixed_ips: Vec<(String, IpAddr)>,
    /// Server id, router id, floating ip id, ...
    pub device_id: String,
    /// `compute:nova`, `network:router_interface`, ...
    pub device_owner: String,
    /// Security group ids.
    pub security_groups: Vec<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Created by Nova for a boot (deleted with the server) rather than passed in by the user
    /// (only unbound when the server goes).
    pub nova_owned: bool,
}

/// A fixed IP request of a port create: a subnet, an address, or both.
#[derive(Debug, Clone, Default)]
pub struct FixedIpRequest {
    /// The subnet.
    pub subnet_id: Option<String>,
    /// The address.
    pub ip_address: Option<IpAddr>,
}

/// A security group rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Id.
    pub id: String,
    /// Group.
    pub security_group_id: String,
    /// Owner project.
    pub project_id: String,
    /// The rule's fields.
    pub spec: RuleSpec,
    /// Description.
    pub description: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A security group.
#[derive(Debug, Clone)]
pub struct SecurityGroup {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Owner project.
    pub project_id: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Revision.
    pub revision: u64,
}

/// A floating IP.
#[derive(Debug, Clone)]
pub struct FloatingIp {
    /// Id.
    pub id: String,
    /// Owner project.
    pub project_id: String,
    /// The pool network.
    pub floating_network_id: String,
    /// The address.
    pub floating_ip_address: IpAddr,
    /// The associated port.
    pub port_id: Option<String>,
    /// The fixed address it maps to.
    pub fixed_ip_address: Option<IpAddr>,
    /// The router doing the NAT.
    pub router_id: Option<String>,
    /// Description.
    pub description: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Revision.
    pub revision: u64,
}

/// A router.
#[derive(Debug, Clone)]
pub struct Router {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Owner project.
    pub project_id: String,
    /// External gateway network.
    pub gateway_network_id: Option<String>,
    /// Gateway address on that network.
    pub gateway_ip: Option<(String, IpAddr)>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// Neutron's state of one cloud.
#[derive(Debug, Default)]
pub struct State {
    /// Networks by id.
    pub networks: BTreeMap<String, Network>,
    /// Subnets by id.
    pub subnets: BTreeMap<String, Subnet>,
    /// Ports by id.
    pub ports: BTreeMap<String, Port>,
    /// Security groups by id.
    pub security_groups: BTreeMap<String, SecurityGroup>,
    /// Rules by id.
    pub rules: BTreeMap<String, Rule>,
    /// Floating IPs by id.
    pub floatingips: BTreeMap<String, FloatingIp>,
    /// Routers by id.
    pub routers: BTreeMap<String, Router>,
}

/// Neutron errors the operations return (turned into `NeutronError` bodies by the API).
#[derive(Debug, Clone, thiserror::Error)]
pub enum NetError {
    /// 404 with this type.
    #[error("{1}")]
    NotFound(&'static str, String),
    /// 409 with this type.
    #[error("{1}")]
    Conflict(&'static str, String),
    /// 400 with this type.
    #[error("{1}")]
    BadRequest(&'static str, String),
}

/// Neutron of one cloud.
#[derive(Debug, Default)]
pub struct Neutron {
    state: Mutex<State>,
}

/// A locally administered MAC from a seed-derived value, like neutron's `fa:16:3e:..` base.
pub fn mac_from(r: u64) -> String {
    let b = r.to_le_bytes();
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

impl Neutron {
    /// An empty Neutron.
    pub fn new() -> Neutron {
        Neutron::default()
    }

    /// Lock the state.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("neutron mutex poisoned")
    }

    /// Everything, per project, stable order (for `/devcloud/state`).
    pub fn dump(&self) -> Value {
        let st = self.lock();
        let mut per: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
        let mut add = |project: &str, kind: &str, v: Value| {
            let entry = per.entry(project.to_string()).or_default();
            let list = entry.entry(kind.to_string()).or_insert_with(|| json!([]));
            if let Value::Array(a) = list {
                a.push(v);
            }
        };
        for n in st.networks.values() {
            add(&n.project_id, "networks", api::network_json(&st, n));
        }
        for s in st.subnets.values() {
            add(&s.project_id, "subnets", api::subnet_json(s));
        }
        for p in st.ports.values() {
            add(&p.project_id, "ports", api::port_json(p));
        }
        for g in st.security_groups.values() {
            add(&g.project_id, "security_groups", api::group_json(&st, g));
        }
        for f in st.floatingips.values() {
            add(&f.project_id, "floatingips", api::fip_json(&st, f));
        }
        for r in st.routers.values() {
            add(&r.project_id, "routers", api::router_json(&st, r));
        }
        json!(per)
    }

    /// Create a network.
    pub fn create_network(
        &self,
        id: &str,
        project_id: &str,
        name: &str,
        external: bool,
        shared: bool,
        now: OffsetDateTime,
    ) {
        self.lock().networks.insert(
            id.into(),
            Network {
                id: id.into(),
                name: name.into(),
                project_id: project_id.into(),
                external,
                shared,
                created_at: now,
            },
        );
    }

    /// Create a subnet (gateway = first host address).
    pub fn create_subnet(
        &self,
        id: &str,
        project_id: &str,
        network_id: &str,
        name: &str,
        cidr: IpNet,
        now: OffsetDateTime,
    ) {
        let gateway_ip = cidr.hosts().next();
        self.lock().subnets.insert(
            id.into(),
            Subnet {
                id: id.into(),
                name: name.into(),
                network_id: network_id.into(),
                project_id: project_id.into(),
                cidr,
                gateway_ip,
                created_at: now,
            },
        );
    }

    /// Create a router with a gateway on `external_network_id` and an interface on `subnet_id`.
    #[allow(clippy::too_many_arguments)]
    pub fn create_router(
        &self,
        id: &str,
        port_id: &str,
        project_id: &str,
        name: &str,
        external_network_id: &str,
        subnet_id: &str,
        mac: u64,
        now: OffsetDateTime,
    ) -> Result<(), NetError> {
        let mut st = self.lock();
        let ext_subnet = st
            .subnets
            .values()
            .find(|s| s.network_id == external_network_id)
            .map(|s| s.id.clone())
            .ok_or_else(|| {
                NetError::NotFound(
                    "ExternalNetworkNotFound",
                    "external network has no subnet".into(),
                )
            })?;
        let gw = allocate_ip(&st, &ext_subnet)?;
        st.routers.insert(
            id.into(),
            Router {
                id: id.into(),
                name: name.into(),
                project_id: project_id.into(),
                gateway_network_id: Some(external_network_id.into()),
                gateway_ip: Some((ext_subnet, gw)),
                created_at: now,
            },
        );
        let subnet = st
            .subnets
            .get(subnet_id)
            .cloned()
            .ok_or_else(|| not_found("Subnet", subnet_id))?;
        let ip = subnet
            .gateway_ip
            .ok_or_else(|| NetError::BadRequest("BadRequest", "subnet has no gateway".into()))?;
        st.ports.insert(
            port_id.into(),
            Port {
                id: port_id.into(),
                name: String::new(),
                network_id: subnet.network_id.clone(),
                project_id: project_id.into(),
                mac_address: mac_from(mac),
                fixed_ips: vec![(subnet.id.clone(), ip)],
                device_id: id.into(),
                device_owner: "network:router_interface".into(),
                security_groups: Vec::new(),
                created_at: now,
                nova_owned: false,
            },
        );
        Ok(())
    }

    /// The project's `default` security group, created (with neutron's default rules) on
    /// first use. `ids` supplies fresh ids.
    pub fn ensure_default_group(
        &self,
        project_id: &str,
        now: OffsetDateTime,
        ids: &mut dyn FnMut() -> String,
    ) -> String {
        let mut st = self.lock();
        ensure_default(&mut st, project_id, now, ids)
    }

    /// Create a security group with the two default egress rules.
    pub fn create_group(
        &self,
        project_id: &str,
        name: &str,
        description: &str,
        now: OffsetDateTime,
        ids: &mut dyn FnMut() -> String,
    ) -> SecurityGroup {
        let mut st = self.lock();
        ensure_default(&mut st, project_id, now, ids);
        create_group(&mut st, project_id, name, description, now, ids)
    }

    /// Add a rule (validated; 409 on a duplicate).
    pub fn add_rule(
        &self,
        project_id: &str,
        group_id: &str,
        spec: RuleSpec,
        description: &str,
        id: String,
        now: OffsetDateTime,
    ) -> Result<Rule, NetError> {
        let mut st = self.lock();
        add_rule(&mut st, project_id, group_id, spec, description, id, now)
    }

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

    /// The security groups on a server's ports (unique, in port order).
    pub fn device_groups(&self, device_id: &str) -> Vec<SecurityGroup> {
        let st = self.lock();
        let mut out: Vec<SecurityGroup> = Vec::new();
        for p in st.ports.values().filter(|p| p.device_id == device_id) {
            for g in &p.security_groups {
                if let Some(g) = st.security_groups.get(g)
                    && !out.iter().any(|o| o.id == g.id)
                {
                    out.push(g.clone());
                }
            }
        }
        out
    }

    /// The rules of a group.
    pub fn group_rules(&self, group_id: &str) -> Vec<Rule> {
        self.lock()
            .rules
            .values()
            .filter(|r| r.security_group_id == group_id)
            .cloned()
            .collect()
    }

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

fn unlink_fips(st: &mut State, port_id: &str) {
    for f in st.floatingips.values_mut() {
        if f.port_id.as_deref() == Some(port_id) {
            f.port_id = None;
            f.fixed_ip_address = None;
            f.router_id = None;
            f.revision += 1;
        }
    }
}

fn not_found(kind: &str, id: &str) -> NetError {
    let ty: &'static str = match kind {
        "Network" => "NetworkNotFound",
        "Subnet" => "SubnetNotFound",
        "Port" => "PortNotFound",
        "Router" => "RouterNotFound",
        "Security group" => "SecurityGroupNotFound",
        "Security group rule" => "SecurityGroupRuleNotFound",
        "Floating IP" => "FloatingIPNotFound",
        _ => "NotFound",
    };
    let msg = match kind {
        "Security group" => format!("Security group {id} does not exist"),
        "Security group rule" => format!("Security group rule {id} does not exist"),
        "Floating IP" => format!("Floating IP {id} could not be found"),
        other => format!("{other} {id} could not be found."),
    };
    NetError::NotFound(ty, msg)
}

/// Every address in use on a subnet (ports, floating IPs, router gateways).
fn used_ips(st: &State, subnet: &Subnet) -> Vec<IpAddr> {
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

fn allocate_ip(st: &State, subnet_id: &str) -> Result<IpAddr, NetError> {
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

fn ensure_default(
    st: &mut State,
    project_id: &str,
    now: OffsetDateTime,
    ids: &mut dyn FnMut() -> String,
) -> String {
    if let Some(g) = st
        .security_groups
        .values()
        .find(|g| g.project_id == project_id && g.name == "default")
    {
        return g.id.clone();
    }
    let g = create_group(
        st,
        project_id,
        "default",
        "Default security group",
        now,
        ids,
    );
    for ethertype in ["IPv4", "IPv6"] {
        let id = ids();
        let spec = RuleSpec {
            direction: "ingress".into(),
            ethertype: ethertype.into(),
            protocol: None,
            port_range_min: None,
            port_range_max: None,
            remote_ip_prefix: None,
            remote_group_id: Some(g.id.clone()),
        };
        st.rules.insert(
            id.clone(),
            Rule {
                id,
                security_group_id: g.id.clone(),
                project_id: project_id.into(),
                spec,
                description: String::new(),
                created_at: now,
            },
        );
    }
    g.id
}

fn create_group(
    st: &mut State,
    project_id: &str,
    name: &str,
    description: &str,
    now: OffsetDateTime,
    ids: &mut dyn FnMut() -> String,
) -> SecurityGroup {
    let g = SecurityGroup {
        id: ids(),
        name: name.into(),
        description: description.into(),
        project_id: project_id.into(),
        created_at: now,
        revision: 1,
    };
    st.security_groups.insert(g.id.clone(), g.clone());
    for ethertype in ["IPv4", "IPv6"] {
        let id = ids();
        let spec = RuleSpec {
            direction: "egress".into(),
            ethertype: ethertype.into(),
            protocol: None,
            port_range_min: None,
            port_range_max: None,
            remote_ip_prefix: None,
            remote_group_id: None,
        };
        st.rules.insert(
            id.clone(),
            Rule {
                id,
                security_group_id: g.id.clone(),
                project_id: project_id.into(),
                spec,
                description: String::new(),
                created_at: now,
            },
        );
    }
    g
}

fn add_rule(
    st: &mut State,
    project_id: &str,
    group_id: &str,
    spec: RuleSpec,
    description: &str,
    id: String,
    now: OffsetDateTime,
) -> Result<Rule, NetError> {
    let group = st
        .security_groups
        .get(group_id)
        .ok_or_else(|| not_found("Security group", group_id))?;
    if group.project_id != project_id {
        return Err(not_found("Security group", group_id));
    }
    let spec = spec.validated()?;
    if let Some(remote) = &spec.remote_group_id
        && !st.security_groups.contains_key(remote)
    {
        return Err(not_found("Security group", remote));
    }
    if let Some(existing) = st
        .rules
        .values()
        .find(|r| r.security_group_id == group_id && r.spec.same_as(&spec))
    {
        return Err(NetError::Conflict(
            "SecurityGroupRuleExists",
            format!(
                "Security group rule already exists. Rule id is {}.",
                existing.id
            ),
        ));
    }
    let rule = Rule {
        id: id.clone(),
        security_group_id: group_id.into(),
        project_id: project_id.into(),
        spec,
        description: description.into(),
        created_at: now,
    };
    st.rules.insert(id, rule.clone());
    if let Some(g) = st.security_groups.get_mut(group_id) {
        g.revision += 1;
    }
    Ok(rule)
}

fn create_fip(
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
fn set_fip_port(
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

/// Neutron's timestamp format (`2026-11-24T18:50:00Z`).
pub fn ts(t: OffsetDateTime) -> String {
    iso_seconds(t)
}
