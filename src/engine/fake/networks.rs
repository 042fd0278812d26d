//! The fake's network side: the source's networks and the target's networks, subnets,
//! routers and ports, made and removed through the script like every other call. Neutron's
//! refusals that the engine relies on are kept: a port's address must lie in a subnet of its
//! network and be free there, and a network with subnets or ports cannot be removed.

use super::*;
use crate::graph::SourceNetwork;

impl FakeCloud {
    pub(super) async fn source_networks(&self) -> PortResult<Vec<SourceNetwork>> {
        self.enter("source_networks", "").await?;
        Ok(self.lock().source_networks.clone())
    }

    pub(super) async fn target_net_inventory(&self) -> PortResult<NetInventory> {
        self.enter("target_net_inventory", "").await?;
        let w = self.lock();
        let mut inventory = NetInventory {
            project_id: Some(FAKE_PROJECT.to_string()),
            networks: w
                .networks
                .iter()
                .map(|n| NetResource {
                    id: n.id.clone(),
                    name: n.name.clone(),
                    external: n.external,
                    project_id: Some(if n.external { "admin" } else { FAKE_PROJECT }.into()),
                    ..NetResource::default()
                })
                .collect(),
            ..NetInventory::default()
        };
        for (kind, r) in w.contents.nets.values() {
            match kind {
                NetKind::Network => inventory.networks.push(r.clone()),
                NetKind::Subnet => inventory.subnets.push(r.clone()),
                NetKind::Router => inventory.routers.push(r.clone()),
                NetKind::Port => inventory.ports.push(r.clone()),
            }
        }
        Ok(inventory)
    }

    pub(super) async fn target_create_net(
        &self,
        spec: &NetSpec,
        marker: &Marker,
    ) -> PortResult<NetResource> {
        self.enter("target_create_net", &marker.address.to_string())
            .await?;
        let mut w = self.lock();
        let refused = |message: String| PortError::Api {
            diagnosis: Diagnosis::default(),
            call: "target_create_net".into(),
            status: Some(409),
            message,
        };
        let kind = spec.kind();
        let id = Self::id(&mut w, &format!("{kind:?}").to_lowercase());
        let mut made = NetResource {
            id: id.clone(),
            project_id: Some(FAKE_PROJECT.into()),
            marker: Some(marker.clone()),
            ..NetResource::default()
        };
        match spec {
            NetSpec::Network { name, .. } => made.name = name.clone(),
            NetSpec::Subnet { network_id, spec } => {
                made.name = spec.name.clone();
                made.network_id = Some(network_id.clone());
                made.cidr = Some(spec.cidr.clone());
            }
            NetSpec::Router {
                name,
                external_network_id,
                ..
            } => {
                made.name = name.clone();
                made.network_id = Some(external_network_id.clone());
            }
            NetSpec::Port {
                name,
                network_id,
                fixed_ips,
                mac,
                ..
            } => {
                made.name = name.clone();
                made.network_id = Some(network_id.clone());
                for (_, ip) in fixed_ips {
                    let taken = w.contents.nets.values().any(|(k, p)| {
                        *k == NetKind::Port
                            && p.network_id.as_deref() == Some(network_id)
                            && p.fixed_ips.iter().any(|(_, a)| a == ip)
                    });
                    if taken {
                        return Err(refused(format!("IP address {ip} already allocated")));
                    }
                    made.fixed_ips.push((String::new(), ip.clone()));
                }
                made.mac = Some(
                    mac.clone()
                        .unwrap_or_else(|| format!("fa:16:3e:00:00:{:02x}", w.next_id % 256)),
                );
            }
        }
        w.contents.nets.insert(id, (kind, made.clone()));
        Self::mutated(&mut w, "target_create_net", made)
    }

    pub(super) async fn target_delete_net(&self, kind: NetKind, id: &str) -> PortResult<()> {
        self.enter("target_delete_net", id).await?;
        let mut w = self.lock();
        let in_use = w.contents.nets.values().any(|(k, r)| {
            kind == NetKind::Network
                && matches!(k, NetKind::Subnet | NetKind::Port)
                && r.network_id.as_deref() == Some(id)
        });
        if in_use {
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: "target_delete_net".into(),
                status: Some(409),
                message: format!("network {id} is in use"),
            });
        }
        match w.contents.nets.remove(id) {
            Some((k, _)) if k == kind => {}
            Some(other) => {
                w.contents.nets.insert(id.to_string(), other);
                return Err(not_found(id));
            }
            None => return Err(not_found(id)),
        }
        Self::mutated(&mut w, "target_delete_net", ())
    }
}

/// The project the fake's token is scoped to.
pub(super) const FAKE_PROJECT: &str = "project-1";
