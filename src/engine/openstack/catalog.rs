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
                    ephemeral_gb: f.ephemeral,
                    swap_mb: f.swap,
                    extra_specs: f.extra_specs,
                },
            })
            .collect())
    }

    async fn quota(&self) -> PortResult<Quota> {
        let limits = self
            .target
            .compute
            .limits()
            .await
            .map_err(api("target: limits"))?;
        // Nova's absolute limits: -1 is unlimited.
        let pair = |max: &str, used: &str| {
            let limit = *limits.absolute.get(max)?;
            let used = limits.absolute.get(used).copied().unwrap_or(0);
            (limit >= 0).then(|| QuotaUse {
                limit: limit as u64,
                used: used.max(0) as u64,
            })
        };
        // Neutron's, where the cloud has `quota_details` and lets the project read its own.
        let project = self
            .target
            .session
            .project_id()
            .await
            .map_err(api("target: project of the token"))?;
        let details = match project {
            Some(project) => match self.target.network.quota_details(&project).await {
                Ok(details) => details.unwrap_or_default(),
                Err(e) if e.status() == Some(403) => Default::default(),
                Err(e) => return Err(port_error("target: network quotas", e)),
            },
            None => Default::default(),
        };
        let network = |name: &str| {
            let d = details.get(name)?;
            (d.limit >= 0).then(|| QuotaUse {
                limit: d.limit as u64,
                used: (d.used + d.reserved).max(0) as u64,
            })
        };
        Ok(Quota {
            instances: pair("maxTotalInstances", "totalInstancesUsed"),
            cores: pair("maxTotalCores", "totalCoresUsed"),
            ram_mb: pair("maxTotalRAMSize", "totalRAMUsed"),
            ports: network("port"),
            floating_ips: network("floatingip"),
        })
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
