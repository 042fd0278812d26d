//! The target's networks, subnets, routers and ports that s2d builds (markers in their
//! descriptions), and the source networks a plan copies: Neutron's topology in engine terms.

use super::*;
use crate::cloud::network::topology::{
    AddressPair as CloudPair, AllocationPool, FixedIpRequest, HostRoute, NetworkCreate, PortCreate,
    RouterCreate, SubnetCreate,
};
use crate::cloud::{RouterId, SubnetId};
use crate::graph::{AddressPair, FixedIp, SourceNetwork, SourceNic, SubnetSpec};

fn marker_of(description: &Option<String>) -> Option<Marker> {
    description.as_deref().and_then(marker_from_description)
}

fn network(n: cloud::network::Network) -> NetResource {
    NetResource {
        id: n.id.to_string(),
        marker: marker_of(&n.description),
        name: n.name,
        project_id: n.project_id,
        external: n.external,
        ..NetResource::default()
    }
}

fn subnet(s: cloud::network::Subnet) -> NetResource {
    NetResource {
        id: s.id.to_string(),
        marker: marker_of(&s.description),
        name: s.name,
        network_id: Some(s.network_id.to_string()),
        project_id: s.project_id,
        cidr: Some(s.cidr),
        ..NetResource::default()
    }
}

fn router(r: cloud::network::topology::Router) -> NetResource {
    NetResource {
        id: r.id.to_string(),
        marker: marker_of(&r.description),
        name: r.name,
        network_id: r.external_gateway_info.map(|g| g.network_id.to_string()),
        project_id: r.project_id,
        ..NetResource::default()
    }
}

fn port(p: cloud::network::Port) -> NetResource {
    NetResource {
        id: p.id.to_string(),
        marker: marker_of(&p.description),
        name: p.name,
        network_id: Some(p.network_id.to_string()),
        project_id: p.project_id,
        fixed_ips: p
            .fixed_ips
            .into_iter()
            .map(|f| {
                (
                    f.subnet_id.map(|s| s.to_string()).unwrap_or_default(),
                    f.ip_address,
                )
            })
            .collect(),
        mac: p.mac_address,
        device_id: Some(p.device_id).filter(|d| !d.is_empty()),
        ..NetResource::default()
    }
}

/// A server's ports in NIC order: by the position of their MAC among Nova's `addresses`;
/// ports Nova does not show go last, by id (the wizard lists them in this order too).
pub fn ports_in_nic_order<'a>(
    server: &cloud::compute::Server,
    mut ports: Vec<&'a cloud::network::Port>,
) -> Vec<&'a cloud::network::Port> {
    ports.sort_by_key(|p| {
        (
            p.mac_address
                .as_deref()
                .and_then(|m| server.addresses.position_of_mac(m))
                .unwrap_or(usize::MAX),
            p.id.to_string(),
        )
    });
    ports
}

/// A source server's ports as its NICs, in NIC order ([`ports_in_nic_order`]).
pub(super) fn source_nics(
    server: &cloud::compute::Server,
    ports: &[&cloud::network::Port],
    network_names: &BTreeMap<String, String>,
) -> Vec<SourceNic> {
    ports_in_nic_order(server, ports.to_vec())
        .into_iter()
        .map(|p| SourceNic {
            network_id: p.network_id.to_string(),
            network_name: network_names
                .get(p.network_id.as_str())
                .cloned()
                .unwrap_or_else(|| p.network_id.to_string()),
            fixed_ips: p
                .fixed_ips
                .iter()
                .map(|f| FixedIp {
                    subnet_id: f
                        .subnet_id
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    ip: f.ip_address.clone(),
                })
                .collect(),
            mac: p.mac_address.clone().unwrap_or_default(),
            port_security: p.port_security_enabled,
            allowed_address_pairs: p
                .allowed_address_pairs
                .iter()
                .map(|a| AddressPair {
                    ip_address: a.ip_address.clone(),
                    mac_address: a.mac_address.clone(),
                })
                .collect(),
        })
        .collect()
}

/// A source subnet as it is made again.
fn subnet_spec(s: &cloud::network::Subnet) -> SubnetSpec {
    SubnetSpec {
        source_id: s.id.to_string(),
        name: s.name.clone(),
        cidr: s.cidr.clone(),
        ip_version: s.ip_version,
        gateway_ip: s.gateway_ip.clone(),
        allocation_pools: s
            .allocation_pools
            .iter()
            .map(|p| (p.start.clone(), p.end.clone()))
            .collect(),
        dns_nameservers: s.dns_nameservers.clone(),
        host_routes: s
            .host_routes
            .iter()
            .map(|r| (r.destination.clone(), r.nexthop.clone()))
            .collect(),
        enable_dhcp: s.enable_dhcp,
        ipv6_address_mode: s.ipv6_address_mode.clone(),
        ipv6_ra_mode: s.ipv6_ra_mode.clone(),
    }
}

impl OpenStack {
    /// Every network the source project sees, with its subnets (in Neutron's order, by id
    /// when it gives none).
    pub(super) async fn read_source_networks(&self) -> PortResult<Vec<SourceNetwork>> {
        let (networks, subnets) = tokio::try_join!(
            async {
                self.source
                    .network
                    .networks(&[])
                    .await
                    .map_err(api("source: list networks"))
            },
            async {
                self.source
                    .network
                    .subnets(&[])
                    .await
                    .map_err(api("source: list subnets"))
            },
        )?;
        Ok(networks
            .into_iter()
            .map(|n| {
                let mut own: Vec<&cloud::network::Subnet> =
                    subnets.iter().filter(|s| s.network_id == n.id).collect();
                // Neutron's own order of the network's subnets, where it gives one.
                own.sort_by_key(|s| {
                    (
                        n.subnets
                            .iter()
                            .position(|id| *id == s.id)
                            .unwrap_or(usize::MAX),
                        s.id.to_string(),
                    )
                });
                SourceNetwork {
                    id: n.id.to_string(),
                    name: n.name.clone(),
                    mtu: n.mtu,
                    port_security: n.port_security_enabled,
                    subnets: own.into_iter().map(subnet_spec).collect(),
                }
            })
            .collect())
    }

    /// The router's interfaces removed (each by its subnet), so that it can be deleted.
    async fn clear_router(&self, id: &str) -> PortResult<()> {
        let ports = self
            .target
            .network
            .ports(&[("device_id", id.to_string())])
            .await
            .map_err(api("target: ports of router"))?;
        for p in ports
            .iter()
            .filter(|p| p.device_owner.starts_with("network:router_interface"))
        {
            for f in &p.fixed_ips {
                if let Some(subnet) = &f.subnet_id {
                    self.target
                        .network
                        .remove_router_interface(&RouterId::new(id), subnet)
                        .await
                        .map_err(api("target: remove router interface"))?;
                }
            }
        }
        Ok(())
    }
}

impl Networking for OpenStack {
    async fn net_inventory(&self) -> PortResult<NetInventory> {
        let project = self
            .target
            .session
            .project_id()
            .await
            .map_err(api("target: project of the token"))?;
        let own: Vec<(&'static str, String)> =
            project.iter().map(|p| ("project_id", p.clone())).collect();
        let net = &self.target.network;
        let (networks, subnets, routers, ports) = tokio::try_join!(
            async {
                net.networks(&[])
                    .await
                    .map_err(api("target: list networks"))
            },
            async { net.subnets(&[]).await.map_err(api("target: list subnets")) },
            async { net.routers(&own).await.map_err(api("target: list routers")) },
            async { net.ports(&own).await.map_err(api("target: list ports")) },
        )?;
        Ok(NetInventory {
            project_id: project,
            networks: networks.into_iter().map(network).collect(),
            subnets: subnets.into_iter().map(subnet).collect(),
            routers: routers.into_iter().map(router).collect(),
            ports: ports.into_iter().map(port).collect(),
        })
    }

    async fn create_net(&self, spec: &NetSpec, marker: &Marker) -> PortResult<NetResource> {
        let description = description_with_marker("made by s2d", marker);
        let net = &self.target.network;
        let retry = &self.target.session.config().retry;
        // A create whose answer was lost is found again by its description (the marker).
        let kind = spec.kind();
        let find = || async {
            let inventory = self
                .net_inventory()
                .await
                .map_err(|e| cloud::Error::Unsupported {
                    cloud: self.target.name().to_string(),
                    message: e.to_string(),
                })?;
            Ok(inventory
                .of(kind)
                .iter()
                .find(|r| r.marker.as_ref() == Some(marker))
                .cloned())
        };
        let made = match spec {
            NetSpec::Network {
                name,
                mtu,
                port_security,
            } => {
                let create = NetworkCreate {
                    name: name.clone(),
                    description: Some(description.clone()),
                    mtu: *mtu,
                    port_security_enabled: *port_security,
                };
                cloud::create_or_adopt(
                    retry,
                    CREATE_ATTEMPTS,
                    || async { net.create_network(&create).await.map(network) },
                    find,
                )
                .await
                .map_err(api("target: create network"))?
            }
            NetSpec::Subnet { network_id, spec } => {
                let create = SubnetCreate {
                    name: spec.name.clone(),
                    description: Some(description.clone()),
                    network_id: NetworkId::new(network_id),
                    cidr: spec.cidr.clone(),
                    ip_version: spec.ip_version,
                    gateway_ip: spec.gateway_ip.clone(),
                    allocation_pools: spec
                        .allocation_pools
                        .iter()
                        .map(|(start, end)| AllocationPool {
                            start: start.clone(),
                            end: end.clone(),
                        })
                        .collect(),
                    dns_nameservers: spec.dns_nameservers.clone(),
                    host_routes: spec
                        .host_routes
                        .iter()
                        .map(|(destination, nexthop)| HostRoute {
                            destination: destination.clone(),
                            nexthop: nexthop.clone(),
                        })
                        .collect(),
                    enable_dhcp: spec.enable_dhcp,
                    ipv6_address_mode: spec.ipv6_address_mode.clone(),
                    ipv6_ra_mode: spec.ipv6_ra_mode.clone(),
                };
                cloud::create_or_adopt(
                    retry,
                    CREATE_ATTEMPTS,
                    || async { net.create_subnet(&create).await.map(subnet) },
                    find,
                )
                .await
                .map_err(api("target: create subnet"))?
            }
            NetSpec::Router {
                name,
                external_network_id,
                subnet_ids,
            } => {
                let create = RouterCreate {
                    name: name.clone(),
                    description: Some(description.clone()),
                    external_network_id: Some(NetworkId::new(external_network_id)),
                };
                let made = cloud::create_or_adopt(
                    retry,
                    CREATE_ATTEMPTS,
                    || async { net.create_router(&create).await.map(router) },
                    find,
                )
                .await
                .map_err(api("target: create router"))?;
                // Interfaces it has already (a create adopted after a lost answer, or a run
                // killed between two interfaces) are not added twice.
                let has: Vec<String> = net
                    .ports(&[("device_id", made.id.clone())])
                    .await
                    .map_err(api("target: ports of router"))?
                    .into_iter()
                    .flat_map(|p| p.fixed_ips)
                    .filter_map(|f| f.subnet_id.map(|s| s.to_string()))
                    .collect();
                for subnet_id in subnet_ids.iter().filter(|s| !has.contains(s)) {
                    net.add_router_interface(&RouterId::new(&made.id), &SubnetId::new(subnet_id))
                        .await
                        .map_err(api("target: add router interface"))?;
                }
                made
            }
            NetSpec::Port {
                name,
                network_id,
                fixed_ips,
                mac,
                port_security,
                allowed_address_pairs,
                security_group_ids,
            } => {
                let create = PortCreate {
                    name: name.clone(),
                    description: Some(description.clone()),
                    network_id: NetworkId::new(network_id),
                    fixed_ips: fixed_ips
                        .iter()
                        .map(|(subnet, ip)| FixedIpRequest {
                            subnet_id: subnet.as_deref().map(SubnetId::new),
                            ip_address: Some(ip.clone()),
                        })
                        .collect(),
                    mac_address: mac.clone(),
                    port_security_enabled: *port_security,
                    allowed_address_pairs: allowed_address_pairs
                        .iter()
                        .map(|a| CloudPair {
                            ip_address: a.ip_address.clone(),
                            mac_address: a.mac_address.clone(),
                        })
                        .collect(),
                    security_groups: Some(
                        security_group_ids
                            .iter()
                            .map(SecurityGroupId::new)
                            .collect(),
                    ),
                };
                cloud::create_or_adopt(
                    retry,
                    CREATE_ATTEMPTS,
                    || async { net.create_port(&create).await.map(port) },
                    find,
                )
                .await
                .map_err(api("target: create port"))?
            }
        };
        Ok(made)
    }

    async fn delete_net(&self, kind: NetKind, id: &str) -> PortResult<()> {
        let (resource, what) = match kind {
            NetKind::Network => ("networks", "network"),
            NetKind::Subnet => ("subnets", "subnet"),
            NetKind::Router => {
                self.clear_router(id).await?;
                ("routers", "router")
            }
            NetKind::Port => ("ports", "port"),
        };
        deleted(
            format!("{what} {id}"),
            self.target.network.delete_resource(resource, id).await,
            &format!("target: delete {what}"),
        )
    }
}
