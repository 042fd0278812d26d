//! What the target offers to build on: flavors and networks.

use super::*;

impl Catalog for OpenStack {
    async fn flavors(&self) -> PortResult<Vec<Flavor>> {
        Ok(self
            .target
            .compute
            .list_flavors()
            .await
            .map_err(api("target: list flavors"))?
            .into_iter()
            .filter(|f| !f.disabled)
            .map(|f| Flavor {
                id: f.id.to_string(),
                spec: FlavorSpec {
                    name: f.name,
                    vcpus: f.vcpus,
                    ram_mb: f.ram,
                    disk_gb: f.disk,
                },
            })
            .collect())
    }

    async fn networks(&self) -> PortResult<Vec<Network>> {
        Ok(self
            .target
            .network
            .networks(&[])
            .await
            .map_err(api("target: list networks"))?
            .into_iter()
            .map(|n| Network {
                id: n.id.to_string(),
                name: n.name,
                external: n.external,
            })
            .collect())
    }
}
