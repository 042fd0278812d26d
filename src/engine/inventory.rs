//! The inventory: what both clouds hold, read once per plan with one list call per kind and
//! cloud (every page), all kinds of both clouds at the same time. Refresh then decides every
//! node in memory, so the calls grow with list pages, not with servers, and nothing seen in a
//! list is fetched again.

use super::port::{
    CinderResource, CloudPort, Flavor, FloatingIp, Image, ImageQuota, Keypair, Marker,
    NetInventory, Network, PortError, Quota, SecurityGroup, Server, ServerGroup, Side,
    SourceServer, VolumeInventory, VolumeKind, VolumeQuota,
};
use crate::graph::SourceNetwork;

/// Everything s2d reads from the two clouds to plan.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub source_servers: Vec<SourceServer>,
    pub source_images: Vec<Image>,
    pub images: Vec<Image>,
    pub keypairs: Vec<Keypair>,
    pub security_groups: Vec<SecurityGroup>,
    pub networks: Vec<Network>,
    pub servers: Vec<Server>,
    pub floating_ips: Vec<FloatingIp>,
    pub flavors: Vec<Flavor>,
    pub quota: Quota,
    pub server_groups: Vec<ServerGroup>,
    /// The source's networks with their subnets (what `[[network]]` copies).
    pub source_networks: Vec<SourceNetwork>,
    /// The target's networks, subnets, routers and ports, with its project's id.
    pub nets: NetInventory,
    /// Cinder's volumes and snapshots in each cloud, and each cloud's volume quota (the
    /// source's for the snapshots and copies of the volumes) and types: read only when a
    /// source server has volumes (a cloud may have no Cinder).
    pub source_volumes: VolumeInventory,
    pub volumes: VolumeInventory,
    pub source_volume_quota: VolumeQuota,
    pub volume_quota: VolumeQuota,
    /// Glance's quota in each cloud (`GET /v2/info/usage`): read only for a cloud the plan
    /// makes images in, once the plan is known ([`Inventory::read_image_quotas`]).
    pub source_image_quota: ImageQuota,
    pub image_quota: ImageQuota,
}

/// A list that could not be read: which one, and why.
#[derive(Debug, thiserror::Error)]
#[error("reading the {what}: {source}")]
pub struct InventoryError {
    pub what: &'static str,
    #[source]
    pub source: Box<PortError>,
}

fn named(what: &'static str) -> impl Fn(PortError) -> InventoryError {
    move |source| InventoryError {
        what,
        source: Box::new(source),
    }
}

/// Which lists a plan needs: the source's alone (`s2d graph`), or both clouds'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Source,
    Both,
}

impl Inventory {
    /// Read every list `reach` needs, concurrently.
    pub async fn read<C: CloudPort>(cloud: &C, reach: Reach) -> Result<Inventory, InventoryError> {
        let source = async {
            tokio::try_join!(
                async {
                    cloud
                        .source_servers()
                        .await
                        .map_err(named("source's servers"))
                },
                // Also for the graph alone: the images' properties are the boot properties.
                async {
                    cloud
                        .images(Side::Source)
                        .await
                        .map_err(named("source's images"))
                },
                async {
                    cloud
                        .source_networks()
                        .await
                        .map_err(named("source's networks"))
                },
            )
        };
        if reach == Reach::Source {
            let (source_servers, source_images, source_networks) = source.await?;
            return Ok(Inventory {
                source_servers,
                source_images,
                source_networks,
                ..Inventory::default()
            });
        }
        let target = async {
            tokio::try_join!(
                async {
                    cloud
                        .images(Side::Target)
                        .await
                        .map_err(named("target's images"))
                },
                async { cloud.keypairs().await.map_err(named("target's keypairs")) },
                async {
                    cloud
                        .security_groups()
                        .await
                        .map_err(named("target's security groups"))
                },
                async { cloud.networks().await.map_err(named("target's networks")) },
                async { cloud.servers().await.map_err(named("target's servers")) },
                async {
                    cloud
                        .floating_ips()
                        .await
                        .map_err(named("target's floating IPs"))
                },
                async { cloud.flavors().await.map_err(named("target's flavors")) },
                async {
                    cloud
                        .quota()
                        .await
                        .map_err(named("target's compute limits"))
                },
                async {
                    cloud
                        .server_groups()
                        .await
                        .map_err(named("target's server groups"))
                },
                async {
                    cloud
                        .net_inventory()
                        .await
                        .map_err(named("target's networks, subnets, routers and ports"))
                },
            )
        };
        let ((source_servers, source_images, source_networks), target) =
            tokio::try_join!(source, target)?;
        let (source_volumes, volumes, source_volume_quota, volume_quota) =
            if source_servers.iter().any(|s| !s.volumes.is_empty()) {
                tokio::try_join!(
                    async {
                        cloud
                            .volume_inventory(Side::Source)
                            .await
                            .map_err(named("source's volumes and volume snapshots"))
                    },
                    async {
                        cloud
                            .volume_inventory(Side::Target)
                            .await
                            .map_err(named("target's volumes"))
                    },
                    async {
                        cloud
                            .volume_quota(Side::Source)
                            .await
                            .map_err(named("source's volume limits and types"))
                    },
                    async {
                        cloud
                            .volume_quota(Side::Target)
                            .await
                            .map_err(named("target's volume limits and types"))
                    },
                )?
            } else {
                Default::default()
            };
        let (
            images,
            keypairs,
            security_groups,
            networks,
            servers,
            floating_ips,
            flavors,
            quota,
            server_groups,
            nets,
        ) = target;
        Ok(Inventory {
            source_servers,
            source_images,
            images,
            keypairs,
            security_groups,
            networks,
            servers,
            floating_ips,
            flavors,
            quota,
            server_groups,
            source_networks,
            nets,
            source_volumes,
            volumes,
            source_volume_quota,
            volume_quota,
            ..Inventory::default()
        })
    }

    /// Read Glance's quota in the clouds the plan makes images in (the source: snapshots and
    /// volume uploads; the target: the copies), both at the same time. A Glance that does
    /// not tell it leaves it empty.
    pub async fn read_image_quotas<C: CloudPort>(
        &mut self,
        cloud: &C,
        source: bool,
        target: bool,
    ) -> Result<(), InventoryError> {
        let read = |side: Side, wanted: bool, what: &'static str| async move {
            if wanted {
                cloud.image_quota(side).await.map_err(named(what))
            } else {
                Ok(ImageQuota::default())
            }
        };
        let (source_quota, target_quota) = tokio::try_join!(
            read(Side::Source, source, "source's image quota"),
            read(Side::Target, target, "target's image quota"),
        )?;
        self.source_image_quota = source_quota;
        self.image_quota = target_quota;
        Ok(())
    }

    /// A volume or snapshot by id on that side, unless it is being deleted.
    pub fn cinder(&self, side: Side, kind: VolumeKind, id: &str) -> Option<&CinderResource> {
        self.cinder_of(side)
            .of(kind)
            .iter()
            .find(|r| r.id == id && !r.status.starts_with("delet"))
    }

    /// The volumes or snapshots on that side carrying `marker`, unless being deleted.
    pub fn cinder_with<'a>(
        &'a self,
        side: Side,
        kind: VolumeKind,
        marker: &'a Marker,
    ) -> impl Iterator<Item = &'a CinderResource> {
        self.cinder_of(side)
            .of(kind)
            .iter()
            .filter(move |r| r.marker.as_ref() == Some(marker) && !r.status.starts_with("delet"))
    }

    fn cinder_of(&self, side: Side) -> &VolumeInventory {
        match side {
            Side::Source => &self.source_volumes,
            Side::Target => &self.volumes,
        }
    }

    /// The target project's server groups of this name.
    pub fn server_groups_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a ServerGroup> {
        self.server_groups.iter().filter(move |g| g.name == name)
    }

    fn images_of(&self, side: Side) -> &[Image] {
        match side {
            Side::Source => &self.source_images,
            Side::Target => &self.images,
        }
    }

    /// An image by id, unless it is being deleted.
    pub fn image(&self, side: Side, id: &str) -> Option<&Image> {
        self.images_of(side)
            .iter()
            .find(|i| i.id == id && !matches!(i.status.as_str(), "deleted" | "pending_delete"))
    }

    /// The images carrying `marker`.
    pub fn images_with(&self, side: Side, marker: &Marker) -> impl Iterator<Item = &Image> {
        self.images_of(side)
            .iter()
            .filter(move |i| i.marker.as_ref() == Some(marker))
    }

    pub fn keypair(&self, name: &str) -> Option<&Keypair> {
        self.keypairs.iter().find(|k| k.name == name)
    }

    /// The target project's groups of this name.
    pub fn security_groups_named(&self, name: &str) -> Vec<SecurityGroup> {
        self.security_groups
            .iter()
            .filter(|g| g.name == name)
            .cloned()
            .collect()
    }

    /// A network by name (or id).
    pub fn network(&self, name: &str) -> Option<&Network> {
        self.networks
            .iter()
            .find(|n| n.name == name)
            .or_else(|| self.networks.iter().find(|n| n.id == name))
    }

    pub fn server(&self, id: &str) -> Option<&Server> {
        self.servers.iter().find(|s| s.id == id)
    }

    pub fn servers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Server> {
        self.servers.iter().filter(move |s| s.name == name)
    }

    /// A source server by id, else by a name only one server has.
    pub fn source_server(&self, name_or_id: &str) -> Result<Option<&SourceServer>, Ambiguous> {
        if let Some(found) = self.source_servers.iter().find(|s| s.id == name_or_id) {
            return Ok(Some(found));
        }
        let named: Vec<&SourceServer> = self
            .source_servers
            .iter()
            .filter(|s| s.name == name_or_id)
            .collect();
        match named.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            many => Err(Ambiguous {
                name: name_or_id.to_string(),
                ids: many.iter().map(|s| s.id.clone()).collect(),
            }),
        }
    }
}

/// Several source servers of one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguous {
    pub name: String,
    pub ids: Vec<String>,
}
