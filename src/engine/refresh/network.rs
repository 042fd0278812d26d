//! The refresh of the network side: built networks, their subnets and routers, the ports that
//! keep a NIC's IP or MAC, and the preflight that tells before anything is made whether the
//! target will let them be made (Neutron lets a project choose fixed IPs and MACs only on
//! networks it owns; an address must lie in a subnet and be free; a built network's CIDRs
//! must not overlap the target's).

use std::net::IpAddr;

use ipnet::IpNet;

use serde_json::{Value, json};

use super::{Refresh, gone, obj};
use crate::engine::diff::{Action, Change, PlanError};
use crate::engine::port::{NetKind, NetResource};
use crate::graph::{Address, AddressPair, Node, PortIp, ServerNic, SubnetSpec};

/// A CIDR as Neutron writes it (`None`: not one).
fn cidr(text: &str) -> Option<IpNet> {
    text.trim().parse().ok()
}

/// Whether two networks share an address.
fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl Refresh<'_> {
    /// The recorded resource of this kind, else one with this lineage's marker (adopted).
    fn net_existing(&self, change: &mut Change, kind: NetKind) -> Option<(NetResource, bool)> {
        let address = change.address.clone();
        let all = self.inventory.nets.of(kind);
        match self.recorded(&address) {
            Some(r) => {
                let found = all.iter().find(|n| n.id == r.id).cloned();
                match &found {
                    Some(_) => change.origin = r.origin,
                    None => change.reason = gone(),
                }
                found.map(|n| (n, false))
            }
            None => all
                .iter()
                .find(|n| self.ours(&n.marker, &address))
                .cloned()
                .map(|n| (n, true)),
        }
    }

    fn settle(change: &mut Change, existing: Option<(NetResource, bool)>, replace: Option<String>) {
        if let Some((found, adopted)) = existing {
            let id = found.id;
            change.action = match replace {
                Some(reason) => Action::Replace { id, reason },
                None if adopted => Action::Adopt { id },
                None => Action::NoOp { id },
            };
        }
    }

    fn preflight(address: &Address, reason: String, help: &str) -> PlanError {
        PlanError::Preflight {
            address: address.clone(),
            reason,
            help: help.to_string(),
        }
    }

    /// A network built from a source network; refused when the target has another of its
    /// name (the NICs mapped to that name would be ambiguous).
    pub(super) fn network(&mut self, change: &mut Change, node: &Node) -> Result<(), PlanError> {
        let Node::Network {
            name, from, mtu, ..
        } = node
        else {
            return Ok(());
        };
        change.after = Some(obj(json!({"name": name, "from": from, "mtu": mtu})));
        let existing = self.net_existing(change, NetKind::Network);
        if existing.is_none() {
            let address = change.address.clone();
            if let Some(other) = self
                .inventory
                .nets
                .networks
                .iter()
                .find(|n| &n.name == name && !self.ours(&n.marker, &address))
            {
                return Err(Refresh::preflight(
                    &address,
                    format!(
                        "the target already has a network named `{name}` ({})",
                        other.id
                    ),
                    "map the NIC to that network instead of building one (networks = { SRC = \"NAME\" }), or give the built one another name ([[network]] name = \"...\")",
                ));
            }
        }
        Refresh::settle(change, existing, None);
        Ok(())
    }

    /// A subnet of a built network; its CIDR must not overlap a subnet the target has.
    pub(super) fn subnet(&mut self, change: &mut Change, node: &Node) -> Result<(), PlanError> {
        let Node::Subnet { network, spec } = node else {
            return Ok(());
        };
        let address = change.address.clone();
        change.after = Some(obj(json!({
            "network": network,
            "name": spec.name,
            "cidr": spec.cidr,
            "gateway_ip": spec.gateway_ip,
        })));
        let network_new = self.will_be_new(&Address::Network {
            name: network.clone(),
        });
        let existing = if network_new {
            None
        } else {
            self.net_existing(change, NetKind::Subnet)
        };
        if existing.is_none() {
            self.check_overlap(&address, spec)?;
        }
        Refresh::settle(change, existing, None);
        Ok(())
    }

    fn check_overlap(&self, address: &Address, spec: &SubnetSpec) -> Result<(), PlanError> {
        let Some(wanted) = cidr(&spec.cidr) else {
            return Err(Refresh::preflight(
                address,
                format!(
                    "the source subnet's CIDR `{}` does not read as one",
                    spec.cidr
                ),
                "check the source subnet (`openstack subnet show`)",
            ));
        };
        let own_project = self.inventory.nets.project_id.as_deref();
        for s in &self.inventory.nets.subnets {
            if s.marker
                .as_ref()
                .is_some_and(|m| m.lineage == self.state.lineage)
            {
                continue;
            }
            // The target's external and shared networks are routed elsewhere: only the
            // project's own subnets can clash with a subnet on one of its routers.
            if own_project.is_some() && s.project_id.as_deref() != own_project {
                continue;
            }
            if let Some(theirs) = s.cidr.as_deref().and_then(cidr)
                && overlaps(&wanted, &theirs)
            {
                return Err(Refresh::preflight(
                    address,
                    format!(
                        "its CIDR {} overlaps the target's subnet {} ({})",
                        spec.cidr,
                        s.cidr.as_deref().unwrap_or_default(),
                        if s.name.is_empty() { &s.id } else { &s.name }
                    ),
                    "map the NIC to the target's network instead of building one, or renumber one of them",
                ));
            }
        }
        Ok(())
    }

    /// A router of a built network, to an external network of the target.
    pub(super) fn router(&mut self, change: &mut Change, node: &Node) -> Result<(), PlanError> {
        let Node::Router {
            name,
            external,
            network,
            ..
        } = node
        else {
            return Ok(());
        };
        let address = change.address.clone();
        let ext = self
            .inventory
            .network(external)
            .filter(|n| n.external)
            .ok_or_else(|| PlanError::Missing {
                address: address.clone(),
                what: "external network",
                name: external.clone(),
            })?;
        change.after = Some(obj(json!({
            "name": name,
            "external": external,
            "external_network_id": ext.id,
            "network": network,
        })));
        let network_new = self.will_be_new(&Address::Network {
            name: network.clone(),
        });
        let existing = self.net_existing(change, NetKind::Router);
        let replace =
            (network_new && existing.is_some()).then(|| format!("network.{network} will be made"));
        Refresh::settle(change, existing, replace);
        Ok(())
    }

    /// A port that keeps a NIC's IP or MAC: on a built network, or on one of the target's,
    /// where the preflight checks that the target lets it be made.
    pub(super) fn port(&mut self, change: &mut Change, node: &Node) -> Result<(), PlanError> {
        let Node::Port {
            server,
            network,
            built,
            fixed_ips,
            mac,
            allowed_address_pairs,
            ..
        } = node
        else {
            return Ok(());
        };
        let address = change.address.clone();
        let ips: Vec<&str> = fixed_ips.iter().map(|f| f.ip.as_str()).collect();
        let mut after = json!({
            "server": server,
            "network": network,
            "fixed_ips": ips,
            "mac": mac,
        });
        if !allowed_address_pairs.is_empty() {
            after["allowed_address_pairs"] = json!(pairs(allowed_address_pairs));
        }
        let net_id = if *built {
            None
        } else {
            let net = self
                .inventory
                .network(network)
                .ok_or_else(|| PlanError::Missing {
                    address: address.clone(),
                    what: "network",
                    name: network.clone(),
                })?;
            after["network_id"] = json!(net.id);
            Some(net.id.clone())
        };
        change.after = Some(obj(after));
        let network_new = *built
            && self.will_be_new(&Address::Network {
                name: network.clone(),
            });
        let existing = if network_new {
            None
        } else {
            self.net_existing(change, NetKind::Port)
        };
        let replace = existing.as_ref().and_then(|(p, _)| {
            let has: Vec<&str> = p.fixed_ips.iter().map(|(_, ip)| ip.as_str()).collect();
            if let Some(ip) = ips.iter().find(|ip| !has.contains(ip)) {
                return Some(format!("it does not hold {ip}"));
            }
            match (mac, &p.mac) {
                (Some(want), Some(got)) if !want.eq_ignore_ascii_case(got) => {
                    Some(format!("its MAC is {got}, not {want}"))
                }
                _ => None,
            }
        });
        if (existing.is_none() || replace.is_some())
            && let Some(net_id) = &net_id
        {
            self.check_port(&address, network, net_id, fixed_ips, mac.as_deref())?;
        }
        Refresh::settle(change, existing, replace);
        Ok(())
    }

    /// Whether the target lets a port with these addresses be made on its network `net_id`.
    fn check_port(
        &self,
        address: &Address,
        network: &str,
        net_id: &str,
        fixed_ips: &[PortIp],
        mac: Option<&str>,
    ) -> Result<(), PlanError> {
        let nets = &self.inventory.nets;
        let owner = nets
            .networks
            .iter()
            .find(|n| n.id == net_id)
            .and_then(|n| n.project_id.clone());
        if let (Some(project), Some(owner)) = (&nets.project_id, &owner)
            && project != owner
        {
            let kept = match (fixed_ips.is_empty(), mac.is_some()) {
                (false, true) => "its fixed IP and MAC",
                (false, false) => "its fixed IP",
                _ => "its MAC",
            };
            return Err(Refresh::preflight(
                address,
                format!(
                    "network `{network}` belongs to another project ({owner}): Neutron lets a project choose {kept} only on networks it owns"
                ),
                "map the NIC to a network of the target project, build its network from the source ([[network]] from = \"...\"), or drop keep_ip/keep_mac",
            ));
        }
        let subnets: Vec<&NetResource> = nets
            .subnets
            .iter()
            .filter(|s| s.network_id.as_deref() == Some(net_id))
            .collect();
        let theirs = |p: &&NetResource| {
            p.network_id.as_deref() == Some(net_id)
                && !p
                    .marker
                    .as_ref()
                    .is_some_and(|m| m.lineage == self.state.lineage && &m.address == address)
        };
        for f in fixed_ips {
            let Ok(ip) = f.ip.parse::<IpAddr>() else {
                return Err(Refresh::preflight(
                    address,
                    format!("`{}` is not an IP address", f.ip),
                    "check the source port (`openstack port show`)",
                ));
            };
            let inside = subnets.iter().any(|s| {
                s.cidr
                    .as_deref()
                    .and_then(cidr)
                    .is_some_and(|c| c.contains(&ip))
            });
            if !inside {
                let cidrs: Vec<&str> = subnets.iter().filter_map(|s| s.cidr.as_deref()).collect();
                return Err(Refresh::preflight(
                    address,
                    format!(
                        "{ip} lies in none of network `{network}`'s subnets ({})",
                        if cidrs.is_empty() {
                            "it has none".to_string()
                        } else {
                            cidrs.join(", ")
                        }
                    ),
                    "map the NIC to a network whose subnet holds the address, build the source's network ([[network]]), or drop keep_ip",
                ));
            }
            if let Some(user) = nets.ports.iter().filter(theirs).find(|p| {
                p.fixed_ips
                    .iter()
                    .any(|(_, a)| a.parse::<IpAddr>() == Ok(ip))
            }) {
                return Err(Refresh::preflight(
                    address,
                    format!(
                        "{ip} is already in use on network `{network}` (port {})",
                        user.id
                    ),
                    "free the address in the target, or drop keep_ip",
                ));
            }
        }
        if let Some(mac) = mac
            && let Some(user) = nets.ports.iter().filter(theirs).find(|p| {
                p.mac
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(mac))
            })
        {
            return Err(Refresh::preflight(
                address,
                format!(
                    "MAC {mac} is already in use on network `{network}` (port {})",
                    user.id
                ),
                "free it in the target, or drop keep_mac",
            ));
        }
        Ok(())
    }

    /// The server's NICs as the plan shows them: each with its network and, for a network of
    /// the target, its id; whether one of them will be made (the server is then made again).
    pub(super) fn server_nics(
        &self,
        address: &Address,
        server: &str,
        nics: &[ServerNic],
    ) -> Result<(Value, Option<String>), PlanError> {
        let mut shown = Vec::new();
        let mut remade = None;
        for (index, nic) in nics.iter().enumerate() {
            let mut entry = json!({"network": nic.network});
            if nic.port {
                let port = Address::Port {
                    server: server.to_string(),
                    index,
                };
                if self.will_be_new(&port) {
                    remade.get_or_insert_with(|| format!("{port} will be made"));
                }
                entry["port"] = json!(port.to_string());
            } else if nic.built {
                let net = Address::Network {
                    name: nic.network.clone(),
                };
                if self.will_be_new(&net) {
                    remade.get_or_insert_with(|| format!("{net} will be made"));
                }
            } else {
                let net =
                    self.inventory
                        .network(&nic.network)
                        .ok_or_else(|| PlanError::Missing {
                            address: address.clone(),
                            what: "network",
                            name: nic.network.clone(),
                        })?;
                entry["network_id"] = json!(net.id);
            }
            shown.push(entry);
        }
        Ok((Value::Array(shown), remade))
    }
}

fn pairs(pairs: &[AddressPair]) -> Vec<String> {
    pairs
        .iter()
        .map(|p| match &p.mac_address {
            Some(mac) => format!("{} ({mac})", p.ip_address),
            None => p.ip_address.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_overlap_when_one_holds_the_other() {
        let a = cidr("192.168.50.0/24").unwrap();
        let b = cidr("192.168.0.0/16").unwrap();
        assert!(overlaps(&a, &b) && overlaps(&b, &a));
        assert!(!overlaps(&a, &cidr("192.168.51.0/24").unwrap()));
        assert!(!overlaps(&a, &cidr("fd00:50::/64").unwrap()));
        assert!(cidr("10.0.0.0/33").is_none());
    }
}
