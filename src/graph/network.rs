//! A server's network side in the target: where each of its source NICs lands (the plan's
//! NIC map), which NICs need a port made by s2d (a kept IP or MAC), and the networks, subnets
//! and routers the plan builds from source networks (`[[network]]`). Holds the engine-level
//! types of all of it, the resolution of a server's NICs, and their nodes in the graph (the
//! built networks with their subnets and routers, a server's ports).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use petgraph::graph::NodeIndex;

use super::Address;
use super::build::{GraphError, Node, PortIp, ResourceGraph};
use super::desired::{Desired, DesiredServer, SourceFacts};

/// How a source NIC lands in the target: on this target network, keeping its fixed IPs
/// and/or its MAC address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicTarget {
    /// The target network, by name or id.
    pub network: String,
    #[serde(default)]
    pub keep_ip: bool,
    #[serde(default)]
    pub keep_mac: bool,
}

/// A server's NIC choices as the plan gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredNics {
    /// By source network name or id.
    #[serde(default)]
    pub map: BTreeMap<String, NicTarget>,
    /// `network = "NAME"`: the target network of a server with one NIC (or of every NIC
    /// the map does not name, when the server has exactly one).
    #[serde(default)]
    pub shorthand: Option<String>,
    /// The NIC the floating IP goes to, by source or target network name (`None`: the first).
    #[serde(default)]
    pub floating_ip_nic: Option<String>,
}

/// `[[network]]`: a target network built from a source network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredNetwork {
    /// The source network, by name or id.
    pub from: String,
    /// Its name in the target.
    pub name: String,
    pub router: Option<DesiredRouter>,
}

/// A router to an external network, with an interface on each subnet of a built network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredRouter {
    pub name: String,
    /// The external network, by name or id.
    pub external: String,
}

/// One fixed IP of a source port: the subnet (by id, in the source) and the address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip: String,
}

/// An allowed address pair of a port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AddressPair {
    pub ip_address: String,
    #[serde(default)]
    pub mac_address: Option<String>,
}

/// One NIC of a source server (a port of it), in the server's NIC order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceNic {
    pub network_id: String,
    pub network_name: String,
    pub fixed_ips: Vec<FixedIp>,
    pub mac: String,
    #[serde(default)]
    pub port_security: Option<bool>,
    #[serde(default)]
    pub allowed_address_pairs: Vec<AddressPair>,
}

/// A source network that a `[[network]]` copies: its settings and its subnets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceNetwork {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub port_security: Option<bool>,
    pub subnets: Vec<SubnetSpec>,
}

/// A subnet as it is made again: everything but its ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetSpec {
    /// The source subnet's id (a kept IP names its subnet by it).
    pub source_id: String,
    pub name: String,
    pub cidr: String,
    pub ip_version: u8,
    /// `None`: no gateway.
    pub gateway_ip: Option<String>,
    #[serde(default)]
    pub allocation_pools: Vec<(String, String)>,
    #[serde(default)]
    pub dns_nameservers: Vec<String>,
    /// (destination, nexthop)
    #[serde(default)]
    pub host_routes: Vec<(String, String)>,
    pub enable_dhcp: bool,
    #[serde(default)]
    pub ipv6_address_mode: Option<String>,
    #[serde(default)]
    pub ipv6_ra_mode: Option<String>,
}

/// Where one NIC of a server lands, resolved against its source NICs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedNic {
    /// The source network's name (what the map and `floating_ip.nic` name).
    pub source_network: String,
    /// The target network, by name.
    pub network: String,
    /// The `[[network]]` that builds it, if s2d builds it.
    pub built: Option<usize>,
    /// The fixed IPs to keep (none unless `keep_ip`).
    pub keep_ips: Vec<FixedIp>,
    /// The MAC to keep.
    pub keep_mac: Option<String>,
}

impl ResolvedNic {
    /// Whether s2d makes a port for it: something of the source's port is kept.
    pub fn needs_port(&self) -> bool {
        !self.keep_ips.is_empty() || self.keep_mac.is_some()
    }
}

/// Why a server's NICs cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum NicError {
    #[error(
        "server.{server}: its NIC on source network `{network}` is not in the plan's network map"
    )]
    #[diagnostic(
        code(s2d::plan::unmapped_network),
        help(
            "add it to `networks` (on the server or in [defaults]), e.g. networks = {{ \"{network}\" = \"TARGET-NETWORK\" }}; `network = \"NAME\"` only covers a server with one NIC"
        )
    )]
    Unmapped { server: String, network: String },
    #[error(
        "server.{server}: no target network: it has no NIC in the source and the plan names none"
    )]
    #[diagnostic(
        code(s2d::plan::no_network),
        help("set `network = \"NAME\"` on the server or in [defaults]")
    )]
    NoNetwork { server: String },
    #[error("server.{server}: floating_ip.nic `{nic}` is none of its NICs ({nics})")]
    #[diagnostic(
        code(s2d::plan::floating_ip_nic),
        help("name the NIC by its source network's name, or by the target network it lands on")
    )]
    FloatingIpNic {
        server: String,
        nic: String,
        nics: String,
    },
}

/// The NICs of a server in the source's order, each with its target network (a source server
/// with no NIC, as a fake may show it: one NIC on the shorthand network). `builds` are the
/// plan's `[[network]]`s.
pub fn resolve_nics(
    server: &str,
    nics: &DesiredNics,
    source: &[SourceNic],
    builds: &[DesiredNetwork],
) -> Result<Vec<ResolvedNic>, NicError> {
    if source.is_empty() {
        let network = nics
            .shorthand
            .clone()
            .or_else(|| match nics.map.values().collect::<Vec<_>>().as_slice() {
                [one] => Some(one.network.clone()),
                _ => None,
            })
            .filter(|n| !n.is_empty())
            .ok_or_else(|| NicError::NoNetwork {
                server: server.to_string(),
            })?;
        return Ok(vec![ResolvedNic {
            source_network: network.clone(),
            built: built_index(&network, builds),
            network,
            keep_ips: Vec::new(),
            keep_mac: None,
        }]);
    }
    let mut resolved = Vec::new();
    for nic in source {
        let mapped = nics
            .map
            .get(&nic.network_name)
            .or_else(|| nics.map.get(&nic.network_id))
            .cloned()
            .or_else(|| {
                (source.len() == 1)
                    .then(|| nics.shorthand.clone())
                    .flatten()
                    .map(|network| NicTarget {
                        network,
                        keep_ip: false,
                        keep_mac: false,
                    })
            })
            .ok_or_else(|| NicError::Unmapped {
                server: server.to_string(),
                network: nic.network_name.clone(),
            })?;
        resolved.push(ResolvedNic {
            source_network: nic.network_name.clone(),
            built: built_index(&mapped.network, builds),
            network: mapped.network,
            keep_ips: if mapped.keep_ip {
                nic.fixed_ips.clone()
            } else {
                Vec::new()
            },
            keep_mac: mapped.keep_mac.then(|| nic.mac.clone()),
        });
    }
    Ok(resolved)
}

/// The index of the NIC the floating IP goes to.
pub fn floating_ip_nic(
    server: &str,
    nics: &[ResolvedNic],
    wanted: Option<&str>,
) -> Result<usize, NicError> {
    let Some(wanted) = wanted else {
        return Ok(0);
    };
    nics.iter()
        .position(|n| n.source_network == wanted)
        .or_else(|| nics.iter().position(|n| n.network == wanted))
        .ok_or_else(|| NicError::FloatingIpNic {
            server: server.to_string(),
            nic: wanted.to_string(),
            nics: nics
                .iter()
                .map(|n| n.source_network.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn built_index(network: &str, builds: &[DesiredNetwork]) -> Option<usize> {
    builds.iter().position(|b| b.name == network)
}

impl ResourceGraph {
    /// The networks the plan builds: each with its subnets (in the source network's order)
    /// and its router, before any server.
    pub(super) fn add_networks(
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
    pub(super) fn add_nics(
        &mut self,
        server: &DesiredServer,
        fact: &SourceFacts,
        nics: &[ResolvedNic],
        sources: &BTreeMap<String, SourceNetwork>,
        builds: &[DesiredNetwork],
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(network: &str, ip: &str, mac: &str) -> SourceNic {
        SourceNic {
            network_id: format!("{network}-id"),
            network_name: network.into(),
            fixed_ips: vec![FixedIp {
                subnet_id: format!("{network}-subnet"),
                ip: ip.into(),
            }],
            mac: mac.into(),
            port_security: Some(true),
            allowed_address_pairs: Vec::new(),
        }
    }

    fn map(entries: &[(&str, &str, bool, bool)]) -> DesiredNics {
        DesiredNics {
            map: entries
                .iter()
                .map(|(from, to, ip, mac)| {
                    (
                        from.to_string(),
                        NicTarget {
                            network: to.to_string(),
                            keep_ip: *ip,
                            keep_mac: *mac,
                        },
                    )
                })
                .collect(),
            shorthand: None,
            floating_ip_nic: None,
        }
    }

    #[test]
    fn every_nic_lands_in_source_order_and_keeps_what_the_map_says() {
        let source = [
            nic("private", "10.0.0.5", "fa:16:3e:00:00:01"),
            nic("src-db", "192.168.50.10", "fa:16:3e:00:00:02"),
        ];
        let nics = map(&[
            ("private", "private", false, false),
            ("src-db", "db-net", true, true),
        ]);
        let build = DesiredNetwork {
            from: "src-db".into(),
            name: "db-net".into(),
            router: None,
        };
        let got = resolve_nics("db", &nics, &source, &[build]).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].network, "private");
        assert!(!got[0].needs_port());
        assert_eq!(got[0].built, None);
        assert_eq!(got[1].network, "db-net");
        assert_eq!(got[1].built, Some(0));
        assert_eq!(got[1].keep_ips[0].ip, "192.168.50.10");
        assert_eq!(got[1].keep_mac.as_deref(), Some("fa:16:3e:00:00:02"));
        assert_eq!(floating_ip_nic("db", &got, Some("src-db")).unwrap(), 1);
        assert_eq!(floating_ip_nic("db", &got, Some("db-net")).unwrap(), 1);
        assert_eq!(floating_ip_nic("db", &got, None).unwrap(), 0);
        let err = floating_ip_nic("db", &got, Some("nope")).unwrap_err();
        assert!(err.to_string().contains("private, src-db"), "{err}");
    }

    #[test]
    fn the_shorthand_covers_one_nic_only_and_an_unmapped_nic_is_named() {
        let one = [nic("private", "10.0.0.5", "m1")];
        let shorthand = DesiredNics {
            shorthand: Some("lan".into()),
            ..DesiredNics::default()
        };
        let got = resolve_nics("web", &shorthand, &one, &[]).unwrap();
        assert_eq!(got[0].network, "lan");
        let two = [
            nic("private", "10.0.0.5", "m1"),
            nic("src-db", "10.1.0.5", "m2"),
        ];
        let err = resolve_nics("web", &shorthand, &two, &[]).unwrap_err();
        assert_eq!(
            err,
            NicError::Unmapped {
                server: "web".into(),
                network: "private".into()
            }
        );
        let partial = map(&[("private", "lan", false, false)]);
        let err = resolve_nics("web", &partial, &two, &[]).unwrap_err();
        assert!(err.to_string().contains("`src-db`"), "{err}");
    }

    #[test]
    fn a_server_without_source_nics_lands_on_the_shorthand() {
        let got = resolve_nics(
            "web",
            &DesiredNics {
                shorthand: Some("private".into()),
                ..DesiredNics::default()
            },
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(got[0].network, "private");
        let err = resolve_nics("web", &DesiredNics::default(), &[], &[]).unwrap_err();
        assert!(matches!(err, NicError::NoNetwork { .. }));
    }
}
