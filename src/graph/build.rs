//! The resource graph: one [`Node`] per resource, edges from a dependency to what depends on
//! it, built from [`Desired`] and the [`SourceFacts`] read for each server. Servers that share
//! a keypair or security group share its node. Exports to DOT and JSON in a stable order.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};

use super::Address;
use super::address::VolumeStage;
use super::boot::{self, Boot, BootReport, UserDataRef};
use super::desired::{
    Desired, DesiredServer, FlavorSpec, FloatingIpChoice, KeypairMode, Rule, ServerGroupChoice,
    SourceFacts, TransferMode,
};
use super::network::{self, AddressPair, NicError, ResolvedNic, SourceNetwork, SubnetSpec};
use super::volume::{ServerVolume, SourceVolume, VolumeError, VolumeNode, resolve_volumes};

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

/// What the target server gets from its source server, and the report of what it takes
/// along and what it leaves.
/// What the plan says of a server's volumes: each that comes along (size, place, type), each
/// left behind, and how consistent the copy is.
fn volume_report(
    server: &DesiredServer,
    fact: &SourceFacts,
    volumes: &[(NodeIndex, SourceVolume)],
) -> BootReport {
    let mut report = BootReport::default();
    for (_, v) in volumes {
        let place = if v.boot {
            "root".to_string()
        } else {
            v.device.clone().unwrap_or_else(|| "data".into())
        };
        let target_type = v
            .volume_type
            .as_ref()
            .and_then(|t| server.volumes.types.get(t))
            .map_or("the target's default".to_string(), |t| format!("`{t}`"));
        report.carried.push(format!(
            "volume {} ({} GiB, {place}, type {} -> {target_type})",
            if v.name.is_empty() { &v.id } else { &v.name },
            v.size_gb,
            v.volume_type.as_deref().unwrap_or("none"),
        ));
    }
    for v in &fact.volumes {
        if server
            .volumes
            .skip
            .iter()
            .any(|s| s == &v.id || s == &v.name)
        {
            report.leave(
                format!("volume {}", if v.name.is_empty() { &v.id } else { &v.name }),
                "skip_volumes leaves it behind",
            );
        }
    }
    if !volumes.is_empty() && fact.status == "ACTIVE" {
        if server.volumes.stop {
            report.carried.push(
                "volumes snapshotted with the source shut off (started again right after)".into(),
            );
        } else {
            report.leave(
                "application consistency of the volumes",
                "the source keeps running while its volumes are snapshotted: the copy is crash-consistent (set stop = true to shut it off for the snapshots)",
            );
        }
    }
    report
}

fn boot_of(server: &DesiredServer, fact: &SourceFacts) -> (Boot, BootReport) {
    let source = &fact.boot;
    let mut report = BootReport {
        server: server.name.clone(),
        ..BootReport::default()
    };
    let availability_zone = server.availability_zone.clone().or_else(|| {
        source
            .availability_zone
            .as_ref()
            .and_then(|zone| server.zones.get(zone).cloned())
    });
    if let (None, Some(zone)) = (&availability_zone, &source.availability_zone) {
        report.leave(
            format!("availability zone {zone}"),
            "the plan maps no target zone to it (zones = { SRC = DST }): the target chooses",
        );
    }
    let user_data = match (&server.user_data, &source.user_data_sha256) {
        (Some(planned), _) => Some(planned.clone()),
        (None, Some(sha256)) => Some(UserDataRef::Source {
            server_id: fact.server_id.clone(),
            sha256: sha256.clone(),
        }),
        (None, None) => {
            if !source.user_data_readable {
                report.leave(
                    "user data",
                    "the source cloud does not show it to this user (Nova shows it to admins); give it in the plan: user_data = { file = \"...\" }",
                );
            }
            None
        }
    };
    let image_props = fact.image_properties.as_ref();
    let volume_backed = fact.volumes.iter().any(|v| v.boot);
    match image_props {
        // Cinder carries the root volume's image metadata into its uploaded image.
        None if volume_backed => report
            .carried
            .push("boot properties of the root volume's image metadata".into()),
        None => report.leave(
            "the source image's properties",
            "the image the source server was booted from is gone or not visible: the snapshot's are read at apply",
        ),
        Some(props) => {
            // Properties that are neither the source's own (never carried, by design) nor
            // boot properties, unless the plan carries them anyway.
            let dropped: Vec<String> = props
                .keys()
                .filter(|k| !server.image.properties.contains_key(*k))
                .filter(|k| boot::carried(k) == Err(boot::NOT_BOOT))
                .cloned()
                .collect();
            if !dropped.is_empty() {
                report.leave(
                    format!("image properties {}", dropped.join(", ")),
                    "not boot properties (name them in image.properties to carry them)",
                );
            }
        }
    }
    if !server.image.drop_properties.is_empty() {
        report.leave(
            format!(
                "image properties {}",
                server.image.drop_properties.join(", ")
            ),
            "the plan drops them",
        );
    }
    let carried = Boot {
        metadata: source.metadata.clone(),
        tags: source.tags.clone(),
        description: source.description.clone(),
        config_drive: source.config_drive,
        hostname: source.hostname.clone(),
        availability_zone,
        user_data,
    };
    let mut words = Vec::new();
    if !carried.metadata.is_empty() {
        words.push(format!("metadata {}", keys(carried.metadata.keys())));
    }
    if !carried.tags.is_empty() {
        words.push(format!("tags {}", carried.tags.join(", ")));
    }
    if carried.description.is_some() {
        words.push("description".to_string());
    }
    if carried.config_drive {
        words.push("config drive".to_string());
    }
    if let Some(h) = &carried.hostname {
        words.push(format!("hostname {h}"));
    }
    if let Some(z) = &carried.availability_zone {
        words.push(format!("availability zone {z}"));
    }
    if let Some(u) = &carried.user_data {
        words.push(match u {
            UserDataRef::File { path, .. } => format!("user data from {path}"),
            UserDataRef::Source { .. } => "the source's user data".to_string(),
        });
    }
    match (&server.server_group, &fact.server_group) {
        (ServerGroupChoice::Copy, Some(g)) => {
            words.push(format!("server group {} ({})", g.name, g.policy))
        }
        (ServerGroupChoice::Existing(name), _) => {
            words.push(format!("server group {name} (existing)"))
        }
        (ServerGroupChoice::None, Some(g)) => report.leave(
            format!("server group {} ({})", g.name, g.policy),
            "the plan says server_group = \"none\"",
        ),
        _ => {}
    }
    if let Some(merged) = server.security_group.merged() {
        for rule in &fact.rules {
            if let Some(other) = rule
                .remote_group
                .as_ref()
                .filter(|g| !fact.groups.contains_key(*g))
            {
                report.leave(
                    format!("security group rule \"{rule}\""),
                    format!("it admits group {other}, which security_group = \"{merged}\" does not bring along (without security_group every group comes along)"),
                );
            }
        }
    }
    report.carried = words;
    (carried, report)
}

fn keys<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    keys.map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// The target groups a server joins, each with the rules it gets from this server: every
/// source group by its name, or (a merging choice) one group with the rules of all of them,
/// where a rule admitting one of the server's groups admits the merged group itself and a rule
/// admitting any other group has no counterpart (left out).
fn groups_of(server: &DesiredServer, fact: &SourceFacts) -> BTreeMap<String, Vec<Rule>> {
    match server.security_group.merged() {
        Some(name) => {
            let rules = fact
                .rules
                .iter()
                .filter_map(|r| match &r.remote_group {
                    None => Some(r.clone()),
                    Some(g) if fact.groups.contains_key(g) => Some(Rule {
                        remote_group: None,
                        remote_self: true,
                        ..r.clone()
                    }),
                    Some(_) => None,
                })
                .collect();
            BTreeMap::from([(name.to_string(), rules)])
        }
        None if fact.groups.is_empty() => BTreeMap::from([("default".to_string(), Vec::new())]),
        None => fact.groups.clone(),
    }
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
            for (group, rules) in groups_of(server, fact) {
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
            let report_volumes = volume_report(server, fact, &volumes);
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
            let group_names: Vec<String> = groups_of(server, fact).into_keys().collect();
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
            let (carried, mut report) = boot_of(server, fact);
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

    /// The networks the plan builds: each with its subnets (in the source network's order)
    /// and its router, before any server.
    fn add_networks(
        &mut self,
        desired: &Desired,
        sources: &BTreeMap<String, SourceNetwork>,
    ) -> Result<(), GraphError> {
        for build in &desired.networks {
            let source = sources
                .get(&build.from)
                .ok_or_else(|| GraphError::NoSourceNetwork {
                    name: build.name.clone(),
                    from: build.from.clone(),
                })?;
            let net = self.add(Node::Network {
                name: build.name.clone(),
                from: source.name.clone(),
                mtu: source.mtu,
                port_security: source.port_security,
            })?;
            let mut subnets = Vec::new();
            for (index, spec) in source.subnets.iter().enumerate() {
                let address = Address::Subnet {
                    network: build.name.clone(),
                    index,
                };
                let subnet = self.add_at(
                    address,
                    Node::Subnet {
                        network: build.name.clone(),
                        spec: spec.clone(),
                    },
                )?;
                self.edge(net, subnet);
                subnets.push(subnet);
            }
            if let Some(router) = &build.router {
                let r = self.add(Node::Router {
                    name: router.name.clone(),
                    external: router.external.clone(),
                    network: build.name.clone(),
                    subnets: subnets.len(),
                })?;
                for subnet in &subnets {
                    self.edge(*subnet, r);
                }
            }
        }
        Ok(())
    }

    /// A server's NICs: a port for each that keeps its IP or MAC, and edges from what each
    /// NIC needs (a built network with its subnets and router, a port) to the server.
    #[allow(clippy::too_many_arguments)]
    fn add_nics(
        &mut self,
        server: &DesiredServer,
        fact: &SourceFacts,
        nics: &[ResolvedNic],
        sources: &BTreeMap<String, SourceNetwork>,
        builds: &[network::DesiredNetwork],
        groups: &[NodeIndex],
        target: NodeIndex,
    ) -> Result<(), GraphError> {
        for (index, nic) in nics.iter().enumerate() {
            // What a NIC on a built network waits for: the network, its subnets, its router.
            let mut needs = Vec::new();
            let mut built_subnets: Vec<(String, Address)> = Vec::new();
            if let Some(b) = nic.built.and_then(|i| builds.get(i)) {
                if let Some(n) = self.find(&Address::Network {
                    name: b.name.clone(),
                }) {
                    needs.push(n);
                }
                for (i, spec) in sources
                    .get(&b.from)
                    .map(|s| s.subnets.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                {
                    let address = Address::Subnet {
                        network: b.name.clone(),
                        index: i,
                    };
                    if let Some(n) = self.find(&address) {
                        needs.push(n);
                    }
                    built_subnets.push((spec.source_id.clone(), address));
                }
                if let Some(r) = b.router.as_ref().and_then(|r| {
                    self.find(&Address::Router {
                        name: r.name.clone(),
                    })
                }) {
                    needs.push(r);
                }
            }
            for n in &needs {
                self.edge(*n, target);
            }
            if !nic.needs_port() {
                continue;
            }
            let source_nic = fact.nics.get(index);
            let port_security = source_nic.and_then(|n| n.port_security);
            let port = self.add_at(
                Address::Port {
                    server: server.name.clone(),
                    index,
                },
                Node::Port {
                    server: server.name.clone(),
                    network: nic.network.clone(),
                    built: nic.built.is_some(),
                    fixed_ips: nic
                        .keep_ips
                        .iter()
                        .map(|f| PortIp {
                            ip: f.ip.clone(),
                            subnet: built_subnets
                                .iter()
                                .find(|(id, _)| *id == f.subnet_id)
                                .map(|(_, a)| a.clone()),
                        })
                        .collect(),
                    mac: nic.keep_mac.clone(),
                    port_security,
                    allowed_address_pairs: source_nic
                        .map(|n| n.allowed_address_pairs.clone())
                        .unwrap_or_default(),
                    security_groups: if port_security == Some(false) {
                        Vec::new()
                    } else {
                        groups
                            .iter()
                            .map(|g| self.address(*g).name().to_string())
                            .collect()
                    },
                },
            )?;
            for n in &needs {
                self.edge(*n, port);
            }
            if port_security != Some(false) {
                for group in groups {
                    self.edge(*group, port);
                }
            }
            self.edge(port, target);
        }
        Ok(())
    }

    /// A security group by name (the target's `default` is adopted, never made).
    fn add_group(&mut self, name: &str) -> Result<NodeIndex, GraphError> {
        self.add(Node::SecurityGroup {
            name: name.to_string(),
            default: name == "default",
        })
    }

    /// The `index`th rule of a group; a rule that admits another group comes after that
    /// group (made too, when no server of the plan is in it).
    fn add_rule(
        &mut self,
        group_name: &str,
        group: NodeIndex,
        index: usize,
        rule: &Rule,
    ) -> Result<(), GraphError> {
        let address = Address::SecurityGroupRule {
            group: group_name.to_string(),
            index,
        };
        let node = Node::SecurityGroupRule {
            group: group_name.to_string(),
            rule: rule.clone(),
        };
        let at = self.add_at(address, node)?;
        self.edge(group, at);
        if let Some(remote) = &rule.remote_group {
            let other = self.add_group(remote)?;
            self.edge(other, at);
        }
        Ok(())
    }

    /// The stages of each volume the server takes along, chained in order; returns each
    /// target volume's node with its source volume.
    fn add_volumes(
        &mut self,
        server: &DesiredServer,
        fact: &SourceFacts,
    ) -> Result<Vec<(NodeIndex, SourceVolume)>, GraphError> {
        let mut out = Vec::new();
        let (mut snapshots, mut copies) = (Vec::new(), Vec::new());
        for (index, source, volume_type) in
            resolve_volumes(&server.name, &server.volumes, &fact.volumes)?
        {
            let volume = Box::new(VolumeNode {
                server: server.name.clone(),
                index,
                source_server_id: fact.server_id.clone(),
                name: if source.name.is_empty() {
                    format!("{}-volume-{index}", server.name)
                } else {
                    source.name.clone()
                },
                source: source.clone(),
                volume_type,
                format: server.volumes.format,
                keep_intermediates: server.volumes.keep_intermediates,
                stop_source: server.volumes.stop && fact.status == "ACTIVE",
            });
            let mut previous = None;
            for stage in VolumeStage::ALL {
                let node = self.add(Node::Volume {
                    stage,
                    volume: volume.clone(),
                })?;
                if let Some(previous) = previous {
                    self.edge(previous, node);
                }
                match stage {
                    VolumeStage::Snapshot => snapshots.push(node),
                    VolumeStage::Copy => copies.push(node),
                    _ => {}
                }
                previous = Some(node);
            }
            if let Some(target) = previous {
                out.push((target, source.clone()));
            }
        }
        // A source stopped for its snapshots: one snapshot after the other while it is off,
        // and every copy (whose step starts it again) after the last of them.
        if server.volumes.stop && fact.status == "ACTIVE" {
            for pair in snapshots.windows(2) {
                self.edge(pair[0], pair[1]);
            }
            if let Some(last) = snapshots.last() {
                for copy in &copies {
                    self.edge(*last, *copy);
                }
            }
        }
        Ok(out)
    }

    fn add(&mut self, node: Node) -> Result<NodeIndex, GraphError> {
        self.add_at(node.natural_address(), node)
    }

    /// Add a node, or return the one already at this address if it is the same resource.
    fn add_at(&mut self, address: Address, node: Node) -> Result<NodeIndex, GraphError> {
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

    fn edge(&mut self, from: NodeIndex, to: NodeIndex) {
        if self.graph.find_edge(from, to).is_none() {
            self.graph.add_edge(from, to, ());
        }
    }

    fn address(&self, index: NodeIndex) -> Address {
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
