//! The target's floating IPs (markers in their descriptions).

use super::*;

impl FloatingIps for OpenStack {
    async fn floating_ips(&self) -> PortResult<Vec<FloatingIp>> {
        self.target_floating_ips().await
    }

    async fn floating_ip_by_address(&self, address: &str) -> PortResult<Option<FloatingIp>> {
        let found = self
            .target
            .network
            .floating_ips(&[("floating_ip_address", address.to_string())])
            .await
            .map_err(api("target: list floating IPs"))?;
        match found.into_iter().find(|f| f.floating_ip_address == address) {
            Some(f) => Ok(Some(self.floating_ip_of(f).await?)),
            None => Ok(None),
        }
    }

    async fn allocate_floating_ip(
        &self,
        network_id: &str,
        marker: &Marker,
    ) -> PortResult<FloatingIp> {
        let description = description_with_marker("", marker);
        let create = FloatingIpCreate {
            floating_network_id: NetworkId::new(network_id),
            description: Some(description.clone()),
            ..FloatingIpCreate::default()
        };
        let made = cloud::create_or_adopt(
            &self.target.session.config().retry,
            CREATE_ATTEMPTS,
            || self.target.network.create_floating_ip(&create),
            || async {
                let found = self
                    .target
                    .network
                    .floating_ips(&[("floating_network_id", network_id.to_string())])
                    .await?;
                Ok(found
                    .into_iter()
                    .find(|f| f.description.as_deref() == Some(description.as_str())))
            },
        )
        .await
        .map_err(api("target: allocate floating IP"))?;
        self.floating_ip_of(made).await
    }

    async fn associate_floating_ip(
        &self,
        id: &str,
        server_id: &str,
        to: &FipTarget,
    ) -> PortResult<FloatingIp> {
        let port_id = match to {
            FipTarget::Port(port) => cloud::PortId::new(port),
            FipTarget::Network(network) => {
                let ports = self
                    .target
                    .network
                    .server_ports(&ServerId::new(server_id))
                    .await
                    .map_err(api("target: ports of server"))?;
                let with_ip = |p: &&cloud::network::Port| !p.fixed_ips.is_empty();
                let port = match network {
                    Some(net) => ports
                        .iter()
                        .filter(with_ip)
                        .find(|p| p.network_id.as_str() == net),
                    None => ports.iter().find(with_ip).or(ports.first()),
                };
                port.ok_or_else(|| PortError::NotFound {
                    what: format!(
                        "a port of server {server_id}{} for the floating IP",
                        network
                            .as_deref()
                            .map(|n| format!(" on network {n}"))
                            .unwrap_or_default()
                    ),
                })?
                .id
                .clone()
            }
        };
        let fip = self
            .target
            .network
            .associate_floating_ip(&FloatingIpId::new(id), Some(&port_id))
            .await
            .map_err(api("target: associate floating IP"))?;
        self.floating_ip_of(fip).await
    }

    async fn disassociate_floating_ip(&self, id: &str) -> PortResult<()> {
        match self
            .target
            .network
            .associate_floating_ip(&FloatingIpId::new(id), None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Err(PortError::NotFound {
                what: format!("floating IP {id}"),
            }),
            Err(e) => Err(port_error("target: disassociate floating IP", e)),
        }
    }

    async fn release_floating_ip(&self, id: &str) -> PortResult<()> {
        deleted(
            format!("floating IP {id}"),
            self.target
                .network
                .delete_floating_ip(&FloatingIpId::new(id))
                .await,
            "target: release floating IP",
        )
    }
}
