//! The resource graph: one [`Node`] per resource, edges from a dependency to what depends on
//! it, built from [`Desired`] and the [`SourceFacts`] read for each server. Servers that share
//! a keypair or security group share its node. Exports to DOT and JSON in a stable order.
//! Each kind with more than one node adds its own in its module: networks and ports in
//! `network`, groups and rules in `security_group`, volume stages in `volume`.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};

use super::Address;
use super::address::VolumeStage;
use super::boot::{self, Boot, BootReport};
use super::desired::{
    Desired, FlavorSpec, FloatingIpChoice, KeypairMode, Rule, ServerGroupChoice, SourceFacts,
    TransferMode,
};
use super::network::{self, AddressPair, NicError, SourceNetwork, SubnetSpec};
use super::volume::{ServerVolume, VolumeError, VolumeNode};

/// One resource and what it should be. Everything needed to make it is here, so a saved plan
/// can be applied without reading the plan file again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Node {
    Snapshot {
        source: String,
        source_server_id: String,
        name: String,
    },
    Image {
        name: String,
        disk_format: String,
        visibility: String,
        snapshot: Address,
        #[serde(default)]
        transfer: TransferMode,
        /// The properties it gets as planned: the source image's boot properties with the
        /// plan's over them (at apply, the snapshot's own boot properties are read again).
        #[serde(default)]
        properties: BTreeMap<String, String>,
        /// Properties it must not have.
        #[serde(default)]
        drop_properties: Vec<String>,
    },
    Keypair {
        name: String,
        mode: KeypairMode,
        public_key: Option<String>,
        fingerprint: Option<String>,
    },
    SecurityGroup {
        name: String,
        /// The target's own `default` group: adopted, never created or deleted.
        default: bool,
    },
    SecurityGroupRule {
        group: String,
        rule: Rule,
    },
    /// A server group; `existing`: one the plan names, adopted, never made or deleted.
    ServerGroup {
        name: String,
        policy: String,
        #[serde(default)]
        existing: bool,
    },
    Server {
        name: String,
        /// A flavor named in the plan, or `None` to match `source_flavor`.
        flavor: Option<String>,
        source_flavor: FlavorSpec,
        /// Its NICs in the source's order.
        nics: Vec<ServerNic>,
        keypair: String,
        /// Its security groups, by name.
        security_groups: Vec<String>,
        /// The target image it boots from (`None`: it boots from its first volume).
        image: Option<Address>,
        /// The volumes it boots with, in the source's order (the root volume first).
        #[serde(default)]
        volumes: Vec<ServerVolume>,
        /// What it takes along from the source server (metadata, tags, description, ...).
        #[serde(default)]
        boot: Box<Boot>,
        /// The server group it boots into, by name.
        #[serde(default)]
        server_group: Option<String>,
    },
    FloatingIp {
        server: String,
        choice: FloatingIpChoice,
        /// The server's NIC it goes to (its position).
        #[serde(default)]
        nic: usize,
    },
    /// A network built from a source network, with its settings.
    Network {
        name: String,
        /// The source network it copies, by name.
        from: String,
        mtu: Option<u32>,
        port_security: Option<bool>,
    },
    /// A subnet of a built network (addressed by its position in the source network).
    Subnet {
        network: String,
        spec: SubnetSpec,
    },
    /// A router to an external network, with an interface on each subnet of `network`.
    Router {
        name: String,
        /// The external network, by name or id.
        external: String,
        network: String,
        subnets: usize,
    },
    /// The port of a server's NIC that keeps its IP or MAC (addressed by the NIC's position).
    Port {
        server: String,
        /// The target network, by name.
        network: String,
        /// Whether s2d builds that network.
        built: bool,
        fixed_ips: Vec<PortIp>,
        mac: Option<String>,
        port_security: Option<bool>,
        allowed_address_pairs: Vec<AddressPair>,
        /// Security groups by name (none when port security is off).
        security_groups: Vec<String>,
    },
    /// One stage of a volume's way from the source's Cinder to the target's.
    Volume {
        stage: VolumeStage,
        volume: Box<VolumeNode>,
    },
}

/// One NIC of a target server: its network and whether s2d made its port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerNic {
    /// The target network, by name.
    pub network: String,
    /// Booted on s2d's port `port.<server>[<position>]`.
    #[serde(default)]
    pub port: bool,
    /// The network is one s2d builds (`network.<name>`).
    #[serde(default)]
    pub built: bool,
}

/// A fixed IP a port keeps: the address, and the built subnet it lies in (`None`: on a
/// network of the target, whose subnet Neutron finds by the address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortIp {
    pub ip: String,
    #[serde(default)]
    pub subnet: Option<Address>,
}

impl Node {
    /// The node's address, except for a rule, whose index only the graph knows (read
    /// [`Entry::address`] instead).
    fn natural_address(&self) -> Address {
        match self {
            Node::Snapshot { name, .. } => Address::Snapshot { name: name.clone() },
            Node::Image { name, .. } => Address::Image { name: name.clone() },
            Node::Keypair { name, .. } => Address::Keypair { name: name.clone() },
            Node::SecurityGroup { name, .. } => Address::SecurityGroup { name: name.clone() },
            // Rules are addressed by position; see `ResourceGraph::build`.
            Node::SecurityGroupRule { group, .. } => Address::SecurityGroupRule {
                group: group.clone(),
                index: 0,
            },
            Node::ServerGroup { name, .. } => Address::ServerGroup { name: name.clone() },
            Node::Server { name, .. } => Address::Server { name: name.clone() },
            Node::FloatingIp { server, .. } => Address::FloatingIp {
                server: server.clone(),
            },
            Node::Network { name, .. } => Address::Network { name: name.clone() },
            Node::Router { name, .. } => Address::Router { name: name.clone() },
            // Subnets and ports are addressed by position, like rules.
            Node::Subnet { network, .. } => Address::Subnet {
                network: network.clone(),
                index: 0,
            },
            Node::Port { server, .. } => Address::Port {
                server: server.clone(),
                index: 0,
            },
            Node::Volume { stage, volume } => Address::Volume {
                server: volume.server.clone(),
                index: volume.index,
                stage: *stage,
            },
        }
    }
}

/// Why the graph cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum GraphError {
    #[error("server.{0}: no facts were read from the source for it")]
    #[diagnostic(code(s2d::graph::missing_facts))]
    MissingFacts(String),
    #[error("server.{0} appears twice in the plan")]
    #[diagnostic(
        code(s2d::plan::duplicate_server),
        help(
            "give each [[server]] its own name; when a fleet selects two source servers of one name, bring one of them over by its own [[server]] (source = its id, another name)"
        )
    )]
    DuplicateServer(String),
    #[error("{address}: two servers want it with different settings ({detail})")]
    #[diagnostic(
        code(s2d::plan::inconsistent),
        help("give the servers the same settings for it, or different names")
    )]
    Inconsistent { address: Address, detail: String },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Nic(#[from] NicError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Volume(#[from] VolumeError),
    #[error("network.{name}: the source has no network `{from}` to build it from")]
    #[diagnostic(
        code(s2d::plan::no_source_network),
        help(
            "`from` names a network of the source project, by name or id (`openstack network list` in the source)"
        )
    )]
    NoSourceNetwork { name: String, from: String },
    #[error("keypair.{name}: mode import needs the source server's public key, and it has none")]
    #[diagnostic(
        code(s2d::plan::no_public_key),
        help("use keypair = {{ create = \"NAME\" }} or {{ existing = \"NAME\" }}")
    )]
    NoPublicKey { name: String },
}

/// A node with its address (rules need their index, which the node alone does not know).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub address: Address,
    pub node: Node,
}

/// The dependency graph of the desired resources.
#[derive(Debug, Clone, Default)]
pub struct ResourceGraph {
    pub graph: DiGraph<Entry, ()>,
    index: BTreeMap<Address, NodeIndex>,
    /// What each server takes along from its source and what it leaves, in plan order.
    pub reports: Vec<BootReport>,
}

impl ResourceGraph {
    /// Build the graph. `facts` is keyed by the target server name, `networks` (the source
    /// networks the plan builds from) by the `from` of each `[[network]]`.
    pub fn build(
        desired: &Desired,
        facts: &BTreeMap<String, SourceFacts>,
        networks: &BTreeMap<String, SourceNetwork>,
    ) -> Result<ResourceGraph, GraphError> {
        let mut g = ResourceGraph::default();
        g.add_networks(desired, networks)?;
        let mut seen = BTreeSet::new();
        // Rules per group: the union over every server that joins the group.
        let mut group_rules: BTreeMap<String, BTreeSet<Rule>> = BTreeMap::new();
        for server in &desired.servers {
            if !seen.insert(server.name.clone()) {
                return Err(GraphError::DuplicateServer(server.name.clone()));
            }
            let fact = facts
                .get(&server.name)
                .ok_or_else(|| GraphError::MissingFacts(server.name.clone()))?;
            for (group, rules) in super::security_group::groups_of(server, fact) {
                group_rules.entry(group).or_default().extend(rules);
            }
        }
        let mut rules_added = BTreeSet::new();
        for server in &desired.servers {
            let fact = &facts[&server.name];
            // A server booted from a volume has no image of its own: its root volume
            // comes along like its other volumes.
            let volume_backed = fact.volumes.iter().any(|v| v.boot);
            let image = if volume_backed {
                None
            } else {
                let snapshot = g.add(Node::Snapshot {
                    source: server.source.clone(),
                    source_server_id: fact.server_id.clone(),
                    name: server.snapshot_name.clone(),
                })?;
                let image = g.add(Node::Image {
                    name: server.image.name.clone(),
                    disk_format: server
                        .image
                        .disk_format
                        .clone()
                        .or_else(|| fact.disk_format.clone())
                        .unwrap_or_else(|| "qcow2".to_string()),
                    visibility: server.image.visibility.clone(),
                    transfer: server.image.transfer,
                    snapshot: g.address(snapshot),
                    properties: boot::image_properties(
                        fact.image_properties.as_ref().unwrap_or(&BTreeMap::new()),
                        &server.image.properties,
                        &server.image.drop_properties,
                    ),
                    drop_properties: server.image.drop_properties.clone(),
                })?;
                g.edge(snapshot, image);
                Some(image)
            };
            let volumes = g.add_volumes(server, fact)?;
            let report_volumes = super::volume::report(server, fact, &volumes);
            let (public_key, fingerprint) = match server.keypair.mode {
                KeypairMode::Import => {
                    let Some(key) = &fact.public_key else {
                        return Err(GraphError::NoPublicKey {
                            name: server.keypair.name.clone(),
                        });
                    };
                    (Some(key.clone()), fact.fingerprint.clone())
                }
                KeypairMode::Create | KeypairMode::Existing => (None, None),
            };
            let keypair = g.add(Node::Keypair {
                name: server.keypair.name.clone(),
                mode: server.keypair.mode,
                public_key,
                fingerprint,
            })?;
            let group_names: Vec<String> = super::security_group::groups_of(server, fact)
                .into_keys()
                .collect();
            let mut groups = Vec::new();
            for name in &group_names {
                groups.push(g.add_group(name)?);
            }
            let server_group = match (&server.server_group, &fact.server_group) {
                (ServerGroupChoice::Copy, Some(source)) => Some(g.add(Node::ServerGroup {
                    name: source.name.clone(),
                    policy: source.policy.clone(),
                    existing: false,
                })?),
                (ServerGroupChoice::Existing(name), _) => Some(g.add(Node::ServerGroup {
                    name: name.clone(),
                    policy: String::new(),
                    existing: true,
                })?),
                (ServerGroupChoice::Copy, None) | (ServerGroupChoice::None, _) => None,
            };
            let (carried, mut report) = boot::carried_by(server, fact);
            report.carried.extend(report_volumes.carried);
            report.left.extend(report_volumes.left);
            g.reports.push(report);
            let nics =
                network::resolve_nics(&server.name, &server.nics, &fact.nics, &desired.networks)?;
            let fip_nic = network::floating_ip_nic(
                &server.name,
                &nics,
                server.nics.floating_ip_nic.as_deref(),
            )?;
            let target = g.add(Node::Server {
                name: server.name.clone(),
                flavor: server.flavor.clone(),
                source_flavor: fact.flavor.clone(),
                nics: nics
                    .iter()
                    .map(|n| ServerNic {
                        network: n.network.clone(),
                        port: n.needs_port(),
                        built: n.built.is_some(),
                    })
                    .collect(),
                keypair: server.keypair.name.clone(),
                security_groups: group_names.clone(),
                image: image.map(|i| g.address(i)),
                volumes: volumes
                    .iter()
                    .map(|(index, v)| ServerVolume {
                        volume: g.address(*index),
                        boot_index: v.boot.then_some(0),
                        delete_on_termination: v.delete_on_termination,
                    })
                    .collect(),
                boot: Box::new(carried),
                server_group: server_group.map(|i| g.address(i).name().to_string()),
            })?;
            if let Some(group) = server_group {
                g.edge(group, target);
            }
            if let Some(image) = image {
                g.edge(image, target);
            }
            for (volume, _) in &volumes {
                g.edge(*volume, target);
            }
            g.edge(keypair, target);
            g.add_nics(
                server,
                fact,
                &nics,
                networks,
                &desired.networks,
                &groups,
                target,
            )?;
            for (name, group) in group_names.iter().zip(&groups) {
                g.edge(*group, target);
                if rules_added.insert(name.clone()) {
                    // The first server in this group adds its rules (the union over all).
                    let rules = group_rules.get(name).into_iter().flatten().enumerate();
                    for (index, rule) in rules {
                        g.add_rule(name, *group, index, rule)?;
                    }
                }
                // Every rule of the group comes before every server in it.
                let rules: Vec<NodeIndex> = g
                    .graph
                    .neighbors_directed(*group, petgraph::Direction::Outgoing)
                    .filter(|n| matches!(g.graph[*n].node, Node::SecurityGroupRule { .. }))
                    .collect();
                for rule in rules {
                    g.edge(rule, target);
                }
            }
            if server.floating_ip != FloatingIpChoice::None {
                let fip = g.add(Node::FloatingIp {
                    server: server.name.clone(),
                    choice: server.floating_ip.clone(),
                    nic: fip_nic,
                })?;
                g.edge(target, fip);
            }
        }
        Ok(g)
    }

    pub(super) fn add(&mut self, node: Node) -> Result<NodeIndex, GraphError> {
        self.add_at(node.natural_address(), node)
    }

    /// Add a node, or return the one already at this address if it is the same resource.
    pub(super) fn add_at(&mut self, address: Address, node: Node) -> Result<NodeIndex, GraphError> {
        if let Some(&existing) = self.index.get(&address) {
            let old = &self.graph[existing].node;
            if old != &node {
                return Err(GraphError::Inconsistent {
                    address,
                    detail: format!("{old:?} versus {node:?}"),
                });
            }
            return Ok(existing);
        }
        let index = self.graph.add_node(Entry {
            address: address.clone(),
            node,
        });
        self.index.insert(address, index);
        Ok(index)
    }

    pub(super) fn edge(&mut self, from: NodeIndex, to: NodeIndex) {
        if self.graph.find_edge(from, to).is_none() {
            self.graph.add_edge(from, to, ());
        }
    }

    pub(super) fn address(&self, index: NodeIndex) -> Address {
        self.graph[index].address.clone()
    }

    /// The node at an address.
    pub fn find(&self, address: &Address) -> Option<NodeIndex> {
        self.index.get(address).copied()
    }

    /// Every address, sorted.
    pub fn addresses(&self) -> impl Iterator<Item = &Address> {
        self.index.keys()
    }

    /// What a node depends on directly, sorted.
    pub fn dependencies(&self, address: &Address) -> Vec<Address> {
        let Some(index) = self.find(address) else {
            return Vec::new();
        };
        let mut deps: Vec<Address> = self
            .graph
            .neighbors_directed(index, petgraph::Direction::Incoming)
            .map(|n| self.address(n))
            .collect();
        deps.sort();
        deps
    }

    /// `targets` and everything they depend on, at any depth (`--target`).
    pub fn closure(&self, targets: &[Address]) -> BTreeSet<Address> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<NodeIndex> = targets.iter().filter_map(|a| self.find(a)).collect();
        while let Some(n) = stack.pop() {
            if out.insert(self.address(n)) {
                stack.extend(
                    self.graph
                        .neighbors_directed(n, petgraph::Direction::Incoming),
                );
            }
        }
        out
    }

    /// Graphviz DOT, nodes and edges sorted by address.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph s2d {\n  rankdir = \"LR\";\n");
        for address in self.index.keys() {
            out.push_str(&format!("  \"{address}\";\n"));
        }
        for (from, to) in self.sorted_edges() {
            out.push_str(&format!("  \"{from}\" -> \"{to}\";\n"));
        }
        out.push_str("}\n");
        out
    }

    /// JSON: `{"nodes": [{"address", "type", "depends_on": [...]}], "edges": [[from, to]]}`,
    /// sorted by address.
    pub fn to_json(&self) -> serde_json::Value {
        let nodes: Vec<serde_json::Value> = self
            .index
            .keys()
            .map(|address| {
                serde_json::json!({
                    "address": address.to_string(),
                    "type": address.kind(),
                    "depends_on": self
                        .dependencies(address)
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        let edges: Vec<[String; 2]> = self
            .sorted_edges()
            .into_iter()
            .map(|(a, b)| [a.to_string(), b.to_string()])
            .collect();
        serde_json::json!({ "nodes": nodes, "edges": edges })
    }

    fn sorted_edges(&self) -> Vec<(Address, Address)> {
        let mut edges: Vec<(Address, Address)> = self
            .graph
            .edge_indices()
            .filter_map(|e| self.graph.edge_endpoints(e))
            .map(|(a, b)| (self.address(a), self.address(b)))
            .collect();
        edges.sort();
        edges
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GroupChoice;
    use crate::graph::desired::{DesiredImage, DesiredServer, KeypairChoice, RuleDirection};

    pub(crate) fn server(name: &str, keypair: &str, group: GroupChoice) -> DesiredServer {
        DesiredServer {
            source: format!("src-{name}"),
            name: name.into(),
            snapshot_name: format!("s2d-{name}"),
            image: DesiredImage {
                name: format!("{name}-image"),
                disk_format: None,
                visibility: "private".into(),
                transfer: Default::default(),
                properties: Default::default(),
                drop_properties: Vec::new(),
            },
            flavor: None,
            volumes: Default::default(),
            nics: crate::graph::DesiredNics {
                shorthand: Some("private".into()),
                ..Default::default()
            },
            keypair: KeypairChoice {
                mode: KeypairMode::Import,
                name: keypair.into(),
            },
            security_group: group,
            floating_ip: FloatingIpChoice::Pool("public".into()),
            availability_zone: None,
            zones: Default::default(),
            server_group: Default::default(),
            user_data: None,
        }
    }

    fn facts(rules: &[u16]) -> SourceFacts {
        SourceFacts {
            status: "ACTIVE".into(),
            server_id: "sid".into(),
            flavor: FlavorSpec {
                name: "m1.small".into(),
                vcpus: 1,
                ram_mb: 2048,
                disk_gb: 20,
                ..Default::default()
            },
            rules: rules
                .iter()
                .map(|port| Rule {
                    direction: RuleDirection::Ingress,
                    ethertype: "IPv4".into(),
                    protocol: Some("tcp".into()),
                    port_min: Some(*port),
                    port_max: Some(*port),
                    remote_ip_prefix: Some("0.0.0.0/0".into()),
                    remote_self: false,
                    remote_group: None,
                })
                .collect(),
            public_key: Some("ssh-ed25519 AAAA alice".into()),
            fingerprint: Some("aa:bb".into()),
            disk_format: Some("qcow2".into()),
            image_properties: None,
            boot: Default::default(),
            server_group: None,
            volumes: Vec::new(),
            nics: Vec::new(),
            groups: BTreeMap::new(),
        }
    }

    #[test]
    fn one_server_gives_the_quickstart_graph() {
        let desired = Desired {
            servers: vec![server("web", "alice", GroupChoice::Named("web".into()))],
            fleets: Vec::new(),
            networks: Vec::new(),
        };
        let facts = BTreeMap::from([("web".to_string(), facts(&[22, 443]))]);
        let g = ResourceGraph::build(&desired, &facts, &BTreeMap::new()).expect("builds");
        assert_eq!(
            g.to_dot(),
            "digraph s2d {
  rankdir = \"LR\";
  \"snapshot.s2d-web\";
  \"image.web-image\";
  \"keypair.alice\";
  \"security_group.web\";
  \"security_group_rule.web[0]\";
  \"security_group_rule.web[1]\";
  \"server.web\";
  \"floating_ip.web\";
  \"snapshot.s2d-web\" -> \"image.web-image\";
  \"image.web-image\" -> \"server.web\";
  \"keypair.alice\" -> \"server.web\";
  \"security_group.web\" -> \"security_group_rule.web[0]\";
  \"security_group.web\" -> \"security_group_rule.web[1]\";
  \"security_group.web\" -> \"server.web\";
  \"security_group_rule.web[0]\" -> \"server.web\";
  \"security_group_rule.web[1]\" -> \"server.web\";
  \"server.web\" -> \"floating_ip.web\";
}
"
        );
        let json = g.to_json();
        assert_eq!(
            json["nodes"][6],
            serde_json::json!({
                "address": "server.web",
                "type": "server",
                "depends_on": [
                    "image.web-image",
                    "keypair.alice",
                    "security_group.web",
                    "security_group_rule.web[0]",
                    "security_group_rule.web[1]"
                ]
            })
        );
        assert_eq!(json["edges"].as_array().map(Vec::len), Some(9));
    }

    #[test]
    fn servers_share_keypair_and_group_and_the_group_gets_the_union_of_rules() {
        let desired = Desired {
            networks: Vec::new(),
            servers: vec![
                server("a", "team", GroupChoice::Default),
                server("b", "team", GroupChoice::Default),
            ],
            fleets: Vec::new(),
        };
        let facts = BTreeMap::from([
            ("a".to_string(), facts(&[22])),
            ("b".to_string(), facts(&[22, 80])),
        ]);
        let g = ResourceGraph::build(&desired, &facts, &BTreeMap::new()).expect("builds");
        let addresses: Vec<String> = g.addresses().map(ToString::to_string).collect();
        assert_eq!(
            addresses,
            [
                "snapshot.s2d-a",
                "snapshot.s2d-b",
                "image.a-image",
                "image.b-image",
                "keypair.team",
                "security_group.default",
                "security_group_rule.default[0]",
                "security_group_rule.default[1]",
                "server.a",
                "server.b",
                "floating_ip.a",
                "floating_ip.b",
            ]
        );
        // Both servers wait for both rules.
        for s in ["server.a", "server.b"] {
            let deps = g.dependencies(&s.parse().expect("address"));
            assert_eq!(deps.len(), 5, "{s}: {deps:?}");
        }
        // --target server.a: only what it needs.
        let closure: Vec<String> = g
            .closure(&["server.a".parse().expect("address")])
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            closure,
            [
                "snapshot.s2d-a",
                "image.a-image",
                "keypair.team",
                "security_group.default",
                "security_group_rule.default[0]",
                "security_group_rule.default[1]",
                "server.a",
            ]
        );
    }

    #[test]
    fn conflicting_settings_for_a_shared_node_are_an_error() {
        let mut b = server("b", "team", GroupChoice::Default);
        b.keypair.mode = KeypairMode::Existing;
        let desired = Desired {
            servers: vec![server("a", "team", GroupChoice::Default), b],
            fleets: Vec::new(),
            networks: Vec::new(),
        };
        let facts = BTreeMap::from([
            ("a".to_string(), facts(&[22])),
            ("b".to_string(), facts(&[22])),
        ]);
        let err = ResourceGraph::build(&desired, &facts, &BTreeMap::new()).expect_err("conflict");
        assert!(
            matches!(&err, GraphError::Inconsistent { address, .. } if address.to_string() == "keypair.team"),
            "{err}"
        );
    }
}
