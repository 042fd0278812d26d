//! The port traits over the fake's scripted calls.

use std::time::Duration;

use super::FakeCloud;
use crate::engine::port::*;
use crate::graph::Rule;

impl SourceServers for FakeCloud {
    async fn source_servers(&self) -> PortResult<Vec<SourceServer>> {
        FakeCloud::source_servers(self).await
    }
    async fn source_networks(&self) -> PortResult<Vec<crate::graph::SourceNetwork>> {
        FakeCloud::source_networks(self).await
    }
    async fn source_user_data(&self, server_id: &str) -> PortResult<Option<String>> {
        FakeCloud::source_user_data(self, server_id).await
    }
    async fn set_source_power(
        &self,
        server_id: &str,
        on: bool,
        _timeout: Duration,
    ) -> PortResult<()> {
        self.source_power(server_id, on).await
    }
    async fn create_snapshot(
        &self,
        server_id: &str,
        name: &str,
        marker: &Marker,
    ) -> PortResult<String> {
        self.source_create_snapshot(server_id, name, marker).await
    }
}

impl Images for FakeCloud {
    async fn images(&self, side: Side) -> PortResult<Vec<Image>> {
        match side {
            Side::Source => self.source_images().await,
            Side::Target => self.target_images().await,
        }
    }
    async fn wait_image_active(
        &self,
        side: Side,
        id: &str,
        timeout: Duration,
    ) -> PortResult<Image> {
        match side {
            Side::Source => self.source_wait_image_active(id, timeout).await,
            Side::Target => self.target_wait_image_active(id, timeout).await,
        }
    }
    async fn delete_image(&self, side: Side, id: &str) -> PortResult<()> {
        match side {
            Side::Source => self.source_delete_image(id).await,
            Side::Target => self.target_delete_image(id).await,
        }
    }
    async fn image_quota(&self, side: Side) -> PortResult<ImageQuota> {
        FakeCloud::image_quota(self, side).await
    }
    async fn create_image(&self, spec: &ImageSpec) -> PortResult<Image> {
        self.target_create_image(spec).await
    }
    async fn upload_image(
        &self,
        target_id: &str,
        source_id: &str,
        copy: &CopySpec,
        progress: Progress,
    ) -> PortResult<Checksums> {
        self.target_upload_image(target_id, source_id, copy, progress)
            .await
    }
    async fn update_image(&self, id: &str, update: &ImageUpdate) -> PortResult<()> {
        self.target_update_image(id, update).await
    }
}

impl Catalog for FakeCloud {
    async fn flavors(&self) -> PortResult<Vec<Flavor>> {
        self.target_flavors().await
    }
    async fn networks(&self) -> PortResult<Vec<Network>> {
        self.target_networks().await
    }
    async fn quota(&self) -> PortResult<Quota> {
        self.target_quota().await
    }
}

impl Keypairs for FakeCloud {
    async fn keypairs(&self) -> PortResult<Vec<Keypair>> {
        self.target_keypairs().await
    }
    async fn import_keypair(&self, name: &str, public_key: &str) -> PortResult<Keypair> {
        self.target_import_keypair(name, public_key).await
    }
    async fn create_keypair(&self, name: &str) -> PortResult<GeneratedKeypair> {
        self.target_create_keypair(name).await
    }
    async fn delete_keypair(&self, name: &str) -> PortResult<()> {
        self.target_delete_keypair(name).await
    }
}

impl SecurityGroups for FakeCloud {
    async fn security_groups(&self) -> PortResult<Vec<SecurityGroup>> {
        self.target_security_groups().await
    }
    async fn security_group(&self, id: &str) -> PortResult<Option<SecurityGroup>> {
        self.target_security_group(id).await
    }
    async fn create_security_group(
        &self,
        name: &str,
        description: &str,
        marker: &Marker,
    ) -> PortResult<SecurityGroup> {
        self.target_create_security_group(name, description, marker)
            .await
    }
    async fn delete_security_group(&self, id: &str) -> PortResult<()> {
        self.target_delete_security_group(id).await
    }
    async fn create_rule(
        &self,
        group_id: &str,
        rule: &Rule,
        remote_group_id: Option<&str>,
        marker: &Marker,
    ) -> PortResult<RuleInfo> {
        // The fake keeps the rule as written (a remote group by name), as the adapter reads
        // Neutron's back; the remote group must exist.
        if let Some(id) = remote_group_id
            && !self.lock().contents.groups.contains_key(id)
        {
            return Err(PortError::NotFound {
                what: format!("security group {id}"),
            });
        }
        self.target_create_rule(group_id, rule, marker).await
    }
    async fn delete_rule(&self, id: &str) -> PortResult<()> {
        self.target_delete_rule(id).await
    }
}

impl ServerGroups for FakeCloud {
    async fn server_groups(&self) -> PortResult<Vec<ServerGroup>> {
        self.target_server_groups().await
    }
    async fn create_server_group(&self, name: &str, policy: &str) -> PortResult<ServerGroup> {
        self.target_create_server_group(name, policy).await
    }
    async fn delete_server_group(&self, id: &str) -> PortResult<()> {
        self.target_delete_server_group(id).await
    }
}

impl Servers for FakeCloud {
    async fn server(&self, id: &str) -> PortResult<Option<Server>> {
        self.target_server(id).await
    }
    async fn servers(&self) -> PortResult<Vec<Server>> {
        self.target_servers().await
    }
    async fn create_server(&self, spec: &ServerSpec) -> PortResult<Server> {
        self.target_create_server(spec).await
    }
    async fn wait_server_active(&self, id: &str, timeout: Duration) -> PortResult<Server> {
        self.target_wait_server_active(id, timeout).await
    }
    async fn update_server(&self, id: &str, update: &ServerUpdate) -> PortResult<()> {
        self.target_update_server(id, update).await
    }
    async fn keep_volume_on_delete(&self, id: &str, volume: &str) -> PortResult<()> {
        self.target_keep_volume_on_delete(id, volume).await
    }
    async fn delete_server(&self, id: &str) -> PortResult<()> {
        self.target_delete_server(id).await
    }
    async fn wait_server_gone(&self, id: &str, timeout: Duration) -> PortResult<()> {
        self.target_wait_server_gone(id, timeout).await
    }
}

impl FloatingIps for FakeCloud {
    async fn floating_ips(&self) -> PortResult<Vec<FloatingIp>> {
        self.target_floating_ips().await
    }
    async fn floating_ip_by_address(&self, address: &str) -> PortResult<Option<FloatingIp>> {
        self.target_floating_ip_by_address(address).await
    }
    async fn allocate_floating_ip(
        &self,
        network_id: &str,
        marker: &Marker,
    ) -> PortResult<FloatingIp> {
        self.target_allocate_floating_ip(network_id, marker).await
    }
    async fn associate_floating_ip(
        &self,
        id: &str,
        server_id: &str,
        to: &FipTarget,
    ) -> PortResult<FloatingIp> {
        self.target_associate_floating_ip(id, server_id, to).await
    }
    async fn disassociate_floating_ip(&self, id: &str) -> PortResult<()> {
        self.target_disassociate_floating_ip(id).await
    }
    async fn release_floating_ip(&self, id: &str) -> PortResult<()> {
        self.target_release_floating_ip(id).await
    }
}

impl Networking for FakeCloud {
    async fn net_inventory(&self) -> PortResult<NetInventory> {
        self.target_net_inventory().await
    }
    async fn create_net(&self, spec: &NetSpec, marker: &Marker) -> PortResult<NetResource> {
        self.target_create_net(spec, marker).await
    }
    async fn delete_net(&self, kind: NetKind, id: &str) -> PortResult<()> {
        self.target_delete_net(kind, id).await
    }
}

impl Volumes for FakeCloud {
    async fn volume_inventory(&self, side: Side) -> PortResult<VolumeInventory> {
        self.cinder_inventory(side).await
    }
    async fn volume_quota(&self, side: Side) -> PortResult<VolumeQuota> {
        self.cinder_quota(side).await
    }
    async fn create_volume_snapshot(
        &self,
        volume_id: &str,
        name: &str,
        marker: &Marker,
    ) -> PortResult<CinderResource> {
        self.cinder_snapshot(volume_id, name, marker).await
    }
    async fn create_volume(&self, side: Side, spec: &VolumeSpec) -> PortResult<CinderResource> {
        self.cinder_create_volume(side, spec).await
    }
    async fn upload_volume(
        &self,
        volume_id: &str,
        image_name: &str,
        disk_format: &str,
        marker: &Marker,
        timeout: Duration,
    ) -> PortResult<String> {
        let id = self
            .cinder_upload(volume_id, image_name, disk_format, marker)
            .await?;
        self.source_wait_image_active(&id, timeout).await?;
        Ok(id)
    }
    async fn wait_volume_available(
        &self,
        side: Side,
        kind: VolumeKind,
        id: &str,
        _timeout: Duration,
    ) -> PortResult<CinderResource> {
        self.cinder_wait(side, kind, id).await
    }
    async fn delete_volume_resource(
        &self,
        side: Side,
        kind: VolumeKind,
        id: &str,
        _timeout: Duration,
    ) -> PortResult<()> {
        self.cinder_delete(side, kind, id).await
    }
}
