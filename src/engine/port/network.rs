//! The network piece of the port: security groups and their rules, the target's networks,
//! subnets, routers and ports, and floating IPs.

use super::*;

/// A rule as it exists in a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    pub id: String,
    pub rule: Rule,
    pub marker: Option<Marker>,
}

/// A security group with its rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub rules: Vec<RuleInfo>,
    pub marker: Option<Marker>,
}

/// A network in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub external: bool,
}

/// Which kind of network-side resource s2d builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetKind {
    Network,
    Subnet,
    Router,
    Port,
}

/// A network, subnet, router or port in the target, as the refresh and the preflight need it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetResource {
    pub id: String,
    pub name: String,
    /// A subnet's or port's network; a router's external network.
    pub network_id: Option<String>,
    pub project_id: Option<String>,
    /// A subnet's CIDR.
    pub cidr: Option<String>,
    /// A port's fixed IPs (subnet id, address).
    pub fixed_ips: Vec<(String, String)>,
    /// A port's MAC address.
    pub mac: Option<String>,
    /// A port's device (a server, a router).
    pub device_id: Option<String>,
    /// A network's `router:external`.
    pub external: bool,
    pub marker: Option<Marker>,
}

/// The target's networks, subnets, routers and ports (those of its project, and the shared
/// and external networks with their subnets), and the project's id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetInventory {
    pub project_id: Option<String>,
    pub networks: Vec<NetResource>,
    pub subnets: Vec<NetResource>,
    pub routers: Vec<NetResource>,
    pub ports: Vec<NetResource>,
}

impl NetInventory {
    /// The resources of a kind.
    pub fn of(&self, kind: NetKind) -> &[NetResource] {
        match kind {
            NetKind::Network => &self.networks,
            NetKind::Subnet => &self.subnets,
            NetKind::Router => &self.routers,
            NetKind::Port => &self.ports,
        }
    }
}

/// What a new network-side resource is; ids of what it stands on are resolved by the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetSpec {
    Network {
        name: String,
        mtu: Option<u32>,
        port_security: Option<bool>,
    },
    Subnet {
        network_id: String,
        spec: SubnetSpec,
    },
    /// A router with its gateway on `external_network_id` and an interface on each subnet.
    Router {
        name: String,
        external_network_id: String,
        subnet_ids: Vec<String>,
    },
    Port {
        name: String,
        network_id: String,
        /// (subnet id, address): the subnet when known.
        fixed_ips: Vec<(Option<String>, String)>,
        mac: Option<String>,
        port_security: Option<bool>,
        allowed_address_pairs: Vec<AddressPair>,
        security_group_ids: Vec<String>,
    },
}

impl NetSpec {
    pub fn kind(&self) -> NetKind {
        match self {
            NetSpec::Network { .. } => NetKind::Network,
            NetSpec::Subnet { .. } => NetKind::Subnet,
            NetSpec::Router { .. } => NetKind::Router,
            NetSpec::Port { .. } => NetKind::Port,
        }
    }
}

/// Where a floating IP goes: the server's port on the NIC the plan names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FipTarget {
    /// This port (one s2d made).
    Port(String),
    /// The server's port on this network (a NIC Nova made), else its first port.
    Network(Option<String>),
}

/// A floating IP in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloatingIp {
    pub id: String,
    pub address: String,
    /// The external network it was allocated from.
    pub network_id: String,
    /// The port it is associated with, if any.
    pub port_id: Option<String>,
    /// The server behind that port, if the adapter knows it.
    pub server_id: Option<String>,
    pub marker: Option<Marker>,
}

/// The target's security groups and their rules.
pub trait SecurityGroups: Send + Sync + 'static {
    /// Every group of the target project, with its rules.
    fn security_groups(&self) -> impl Future<Output = PortResult<Vec<SecurityGroup>>> + Send;
    fn security_group(
        &self,
        id: &str,
    ) -> impl Future<Output = PortResult<Option<SecurityGroup>>> + Send;
    /// Create a group. Neutron adds its default egress rules; they come back in `rules`.
    fn create_security_group(
        &self,
        name: &str,
        description: &str,
        marker: &Marker,
    ) -> impl Future<Output = PortResult<SecurityGroup>> + Send;
    fn delete_security_group(&self, id: &str) -> impl Future<Output = PortResult<()>> + Send;
    /// Add a rule to a group; `remote_group_id`: the target group a rule admitting another
    /// group admits.
    fn create_rule(
        &self,
        group_id: &str,
        rule: &Rule,
        remote_group_id: Option<&str>,
        marker: &Marker,
    ) -> impl Future<Output = PortResult<RuleInfo>> + Send;
    fn delete_rule(&self, id: &str) -> impl Future<Output = PortResult<()>> + Send;
}

/// The target's floating IPs.
pub trait FloatingIps: Send + Sync + 'static {
    fn floating_ips(&self) -> impl Future<Output = PortResult<Vec<FloatingIp>>> + Send;
    fn floating_ip_by_address(
        &self,
        address: &str,
    ) -> impl Future<Output = PortResult<Option<FloatingIp>>> + Send;
    fn allocate_floating_ip(
        &self,
        network_id: &str,
        marker: &Marker,
    ) -> impl Future<Output = PortResult<FloatingIp>> + Send;
    /// Associate with the server's port that `to` names.
    fn associate_floating_ip(
        &self,
        id: &str,
        server_id: &str,
        to: &FipTarget,
    ) -> impl Future<Output = PortResult<FloatingIp>> + Send;
    fn disassociate_floating_ip(&self, id: &str) -> impl Future<Output = PortResult<()>> + Send;
    fn release_floating_ip(&self, id: &str) -> impl Future<Output = PortResult<()>> + Send;
}

/// The target's networks, subnets, routers and ports that s2d builds: one shape for the four
/// kinds (each carries the marker in its description).
pub trait Networking: Send + Sync + 'static {
    /// Everything network-side the target project sees (see [`NetInventory`]).
    fn net_inventory(&self) -> impl Future<Output = PortResult<NetInventory>> + Send;
    /// Make one (a router with its gateway and interfaces).
    fn create_net(
        &self,
        spec: &NetSpec,
        marker: &Marker,
    ) -> impl Future<Output = PortResult<NetResource>> + Send;
    /// Remove one (a router's interfaces first); `NotFound` when it is gone.
    fn delete_net(&self, kind: NetKind, id: &str) -> impl Future<Output = PortResult<()>> + Send;
}
