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

    async fn network(&self, name: &str) -> PortResult<Option<Network>> {
        let networks = self
            .target
            .network
            .networks(&[("name", name.to_string())])
            .await
            .map_err(api("target: list networks"))?;
        Ok(networks
            .into_iter()
            .find(|n| n.name == name)
            .map(|n| Network {
                id: n.id.to_string(),
                name: n.name,
                external: n.external,
            }))
    }
}
