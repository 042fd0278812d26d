//! Neutron v2.0 (networks, subnets, ports, security groups and rules, floating IPs, routers),
//! mounted at `/network`. This file holds the state, networks, subnets and routers, and the
//! operations' shared helpers; `ports.rs`, `groups.rs` (security groups and rules) and
//! `floatingips.rs` the operations on those that Nova, the seed and the API call; `api/` the
//! HTTP handlers (a file per resource, the shared list and show in `api/list.rs`), `rules.rs`
//! security-group-rule validation. Knows nothing about Nova or Glance: Nova calls in to create
//! ports.

mod api;
mod floatingips;
mod groups;
mod ipam;
mod ports;
mod rules;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use ipnet::IpNet;
use serde_json::{Value, json};
use time::OffsetDateTime;

pub use api::router;
use floatingips::{create_fip, set_fip_port};
use ipam::allocate_ip;
pub use ports::Addresses;
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
    /// Description.
    pub description: String,
    /// MTU.
    pub mtu: u32,
    /// The default of its ports' `port_security_enabled`.
    pub port_security_enabled: bool,
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
    /// Description.
    pub description: String,
    /// Allocation pools (first, last), where addresses are allocated from.
    pub allocation_pools: Vec<(IpAddr, IpAddr)>,
    /// DNS servers, in order.
    pub dns_nameservers: Vec<IpAddr>,
    /// Host routes (destination, nexthop).
    pub host_routes: Vec<(IpNet, IpAddr)>,
    /// DHCP on.
    pub enable_dhcp: bool,
    /// `ipv6_address_mode` (`slaac`, `dhcpv6-stateful`, `dhcpv6-stateless`).
    pub ipv6_address_mode: Option<String>,
    /// `ipv6_ra_mode`.
    pub ipv6_ra_mode: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

impl Subnet {
    /// A subnet with Neutron's defaults: gateway and pools as given, no DNS servers, no
    /// routes, DHCP on, no IPv6 modes.
    pub fn new(
        id: &str,
        project_id: &str,
        network_id: &str,
        name: &str,
        cidr: IpNet,
        gateway_ip: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Subnet {
        Subnet {
            id: id.into(),
            name: name.into(),
            network_id: network_id.into(),
            project_id: project_id.into(),
            cidr,
            gateway_ip,
            description: String::new(),
            allocation_pools: default_pools(cidr, gateway_ip),
            dns_nameservers: Vec::new(),
            host_routes: Vec::new(),
            enable_dhcp: true,
            ipv6_address_mode: None,
            ipv6_ra_mode: None,
            created_at: now,
        }
    }

    /// Whether `ip` lies in one of the allocation pools.
    pub fn in_pools(&self, ip: IpAddr) -> bool {
        self.allocation_pools
            .iter()
            .any(|(a, b)| *a <= ip && ip <= *b)
    }

    /// SLAAC or DHCPv6-stateless: every port of the network gets an EUI-64 address here.
    pub fn is_auto_address(&self) -> bool {
        matches!(
            self.ipv6_address_mode.as_deref(),
            Some("slaac" | "dhcpv6-stateless")
        )
    }
}

/// Neutron's default allocation pools (`ipam.utils.generate_pools`): the CIDR without its
/// first address (and, IPv4 up to /30, its last), without the gateway.
pub fn default_pools(cidr: IpNet, gateway: Option<IpAddr>) -> Vec<(IpAddr, IpAddr)> {
    let (first, last) = match cidr {
        IpNet::V4(n) => {
            let (a, b) = (u32::from(n.network()), u32::from(n.broadcast()));
            if a == b {
                return vec![(IpAddr::V4(a.into()), IpAddr::V4(b.into()))];
            }
            let (a, b) = if n.prefix_len() <= 30 {
                (a + 1, b - 1)
            } else {
                (a, b)
            };
            (u128::from(a), u128::from(b))
        }
        IpNet::V6(n) => {
            let (a, b) = (u128::from(n.network()), u128::from(n.broadcast()));
            if a == b {
                return vec![(IpAddr::V6(a.into()), IpAddr::V6(b.into()))];
            }
            (a + 1, b)
        }
    };
    let v4 = cidr.addr().is_ipv4();
    let ip = |x: u128| -> IpAddr {
        if v4 {
            IpAddr::V4((x as u32).into())
        } else {
            IpAddr::V6(x.into())
        }
    };
    let g = gateway.filter(|g| cidr.contains(g)).map(|g| match g {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    });
    match g {
        Some(g) if g >= first && g <= last => {
            let mut out = Vec::new();
            if g > first {
                out.push((ip(first), ip(g - 1)));
            }
            if g < last {
                out.push((ip(g + 1), ip(last)));
            }
            out
        }
        _ => vec![(ip(first), ip(last))],
    }
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
    /// Description.
    pub description: String,
    /// Allowed address pairs (`ip_address`: an address or CIDR, `mac_address`).
    pub allowed_address_pairs: Vec<(String, String)>,
    /// Port security (anti-spoofing and security groups) on.
    pub port_security_enabled: bool,
    /// Its place among the server's NICs (Nova's order of `networks` in the boot).
    pub nic_index: usize,
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

/// A port create (`POST /v2.0/ports`) as the API parsed it.
#[derive(Debug, Clone, Default)]
pub struct PortRequest {
    /// The network.
    pub network_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `fixed_ips` (absent: one address from the network's first IPv4 subnet).
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    /// A chosen MAC address (lower case).
    pub mac_address: Option<String>,
    /// Security group ids (absent: the project's `default`).
    pub security_groups: Option<Vec<String>>,
    /// Port security (absent: the network's default).
    pub port_security_enabled: Option<bool>,
    /// Allowed address pairs (`ip_address`, optional `mac_address`).
    pub allowed_address_pairs: Option<Vec<(String, Option<String>)>>,
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
    /// Description.
    pub description: String,
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
    /// 403 with this type (a policy refusal).
    #[error("{1}")]
    Forbidden(&'static str, String),
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
            add(&s.project_id, "subnets", api::subnet_json(&st, s));
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
                description: String::new(),
                mtu: if external { 1500 } else { 1450 },
                port_security_enabled: true,
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
            Subnet::new(id, project_id, network_id, name, cidr, gateway_ip, now),
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
                description: String::new(),
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
                description: String::new(),
                allowed_address_pairs: Vec::new(),
                port_security_enabled: true,
                nic_index: 0,
                created_at: now,
                nova_owned: false,
            },
        );
        Ok(())
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

/// Neutron's timestamp format (`2026-11-24T18:50:00Z`).
pub fn ts(t: OffsetDateTime) -> String {
    iso_seconds(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools(cidr: &str, gateway: Option<&str>) -> Vec<String> {
        default_pools(cidr.parse().unwrap(), gateway.map(|g| g.parse().unwrap()))
            .into_iter()
            .map(|(a, b)| format!("{a}-{b}"))
            .collect()
    }

    #[test]
    fn default_pools_are_neutrons() {
        // As the real tier answered them (tests/openstack/probe.py, "subnet (...)").
        assert_eq!(
            pools("10.97.0.0/24", Some("10.97.0.1")),
            ["10.97.0.2-10.97.0.254"]
        );
        assert_eq!(pools("10.96.0.0/24", None), ["10.96.0.1-10.96.0.254"]);
        assert_eq!(
            pools("fd00:99::/64", Some("fd00:99::")),
            ["fd00:99::1-fd00:99::ffff:ffff:ffff:ffff"]
        );
        // A gateway in the middle splits the pool; /31 and /32 keep every address.
        assert_eq!(
            pools("10.0.0.0/28", Some("10.0.0.5")),
            ["10.0.0.1-10.0.0.4", "10.0.0.6-10.0.0.14"]
        );
        assert_eq!(pools("10.0.0.0/31", None), ["10.0.0.0-10.0.0.1"]);
        assert_eq!(pools("10.0.0.7/32", None), ["10.0.0.7-10.0.0.7"]);
    }
}
