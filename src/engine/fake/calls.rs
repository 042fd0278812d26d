//! The fake's calls, one per port method, each entering the script (faults, delays, a lost
//! answer) before it reads or changes the contents.

use super::*;

/// The fake's calls, named as the scripts of the tests name them (`target_create_rule`, ...);
/// the port traits below hand over to them.
impl FakeCloud {
    pub(super) async fn source_servers(&self) -> PortResult<Vec<SourceServer>> {
        self.enter("source_servers", "").await?;
        Ok(self.lock().source_servers.values().cloned().collect())
    }

    pub(super) async fn source_create_snapshot(
        &self,
        server_id: &str,
        name: &str,
        marker: &Marker,
    ) -> PortResult<String> {
        self.enter("source_create_snapshot", name).await?;
        let mut w = self.lock();
        let id = Self::id(&mut w, "snap");
        // As Nova: the base image's properties, and the snapshot's own.
        let base = w
            .source_servers
            .values()
            .find(|s| s.id == server_id)
            .and_then(|s| s.image_id.clone())
            .and_then(|i| w.contents.source_images.get(&i))
            .map(|i| i.properties.clone())
            .unwrap_or_default();
        let mut properties = base;
        properties.insert("instance_uuid".into(), server_id.to_string());
        properties.insert("image_type".into(), "snapshot".into());
        w.image_data
            .insert(id.clone(), format!("disk of {server_id}").into_bytes());
        w.contents.source_images.insert(
            id.clone(),
            Image {
                id: id.clone(),
                name: name.into(),
                status: "saving".into(),
                disk_format: Some("qcow2".into()),
                visibility: "private".into(),
                checksum: None,
                sha512: None,
                size: None,
                marker: Some(marker.clone()),
                properties,
                min_disk: 20,
                min_ram: 0,
            },
        );
        Self::mutated(&mut w, "source_create_snapshot", id)
    }

    pub(super) async fn source_images(&self) -> PortResult<Vec<Image>> {
        self.enter("source_images", "").await?;
        let w = self.lock();
        Ok(w.contents
            .source_images
            .values()
            .filter(|i| Self::shows(&w, &i.id))
            .cloned()
            .collect())
    }

    pub(super) async fn source_wait_image_active(
        &self,
        id: &str,
        _timeout: Duration,
    ) -> PortResult<Image> {
        self.enter("source_wait_image_active", id).await?;
        self.ready_delay().await;
        let mut w = self.lock();
        let data = w.image_data.get(id).cloned().unwrap_or_default();
        let image = w
            .contents
            .source_images
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        let mut h = Hasher::new();
        h.update(&data);
        let sums = h.finish();
        image.status = "active".into();
        image.sha512 = Some(sums.sha512);
        image.checksum = Some(sums.md5);
        image.size = Some(sums.size);
        Ok(image.clone())
    }

    pub(super) async fn source_delete_image(&self, id: &str) -> PortResult<()> {
        self.enter("source_delete_image", id).await?;
        let mut w = self.lock();
        w.contents
            .source_images
            .remove(id)
            .ok_or_else(|| not_found(id))?;
        Self::mutated(&mut w, "source_delete_image", ())
    }

    pub(super) async fn target_flavors(&self) -> PortResult<Vec<Flavor>> {
        self.enter("target_flavors", "").await?;
        Ok(self.lock().flavors.clone())
    }

    pub(super) async fn target_networks(&self) -> PortResult<Vec<Network>> {
        self.enter("target_networks", "").await?;
        Ok(self.lock().networks.clone())
    }

    pub(super) async fn target_quota(&self) -> PortResult<Quota> {
        self.enter("target_quota", "").await?;
        Ok(self.lock().script.quota)
    }

    /// Glance's quota on that side: the script's limits, and what the images there use.
    pub(super) async fn image_quota(&self, side: Side) -> PortResult<ImageQuota> {
        let name = match side {
            Side::Source => "source_image_quota",
            Side::Target => "target_image_quota",
        };
        self.enter(name, "").await?;
        let w = self.lock();
        let (limits, images) = match side {
            Side::Source => (w.script.source_glance_limits, &w.contents.source_images),
            Side::Target => (w.script.glance_limits, &w.contents.images),
        };
        // As Glance counts: what is neither killed nor being deleted.
        let counted: Vec<&Image> = images
            .values()
            .filter(|i| !matches!(i.status.as_str(), "killed" | "deleted" | "pending_delete"))
            .collect();
        let bytes: u64 = counted.iter().filter_map(|i| i.size).sum();
        let count = counted.len() as u64;
        let quota = |limit: Option<u64>, used: u64| limit.map(|limit| QuotaUse { limit, used });
        Ok(ImageQuota {
            size_mib: quota(limits.size_mib, bytes >> 20),
            images: quota(limits.images, count),
        })
    }

    pub(super) async fn target_images(&self) -> PortResult<Vec<Image>> {
        self.enter("target_images", "").await?;
        let w = self.lock();
        Ok(w.contents
            .images
            .values()
            .filter(|i| Self::shows(&w, &i.id))
            .cloned()
            .collect())
    }

    pub(super) async fn target_create_image(&self, spec: &ImageSpec) -> PortResult<Image> {
        self.enter("target_create_image", &spec.name).await?;
        let mut w = self.lock();
        let id = Self::id(&mut w, "img");
        let image = Image {
            id: id.clone(),
            name: spec.name.clone(),
            status: "queued".into(),
            disk_format: Some(spec.disk_format.clone()),
            visibility: spec.visibility.clone(),
            checksum: None,
            sha512: None,
            size: None,
            marker: Some(spec.marker.clone()),
            properties: spec.properties.clone(),
            min_disk: spec.min_disk,
            min_ram: spec.min_ram,
        };
        w.contents.images.insert(id, image.clone());
        Self::mutated(&mut w, "target_create_image", image)
    }

    pub(super) async fn target_upload_image(
        &self,
        target_id: &str,
        source_id: &str,
        _copy: &crate::engine::port::CopySpec,
        progress: Progress,
    ) -> PortResult<Checksums> {
        self.enter("target_upload_image", target_id).await?;
        let time = self.lock().script.transfer_time;
        tokio::time::sleep(time).await;
        let mut w = self.lock();
        let data = w
            .image_data
            .get(source_id)
            .cloned()
            .ok_or_else(|| not_found(source_id))?;
        let mut h = Hasher::new();
        h.update(&data);
        let sums = h.finish();
        progress(sums.size, Some(sums.size));
        let image = w
            .contents
            .images
            .get_mut(target_id)
            .ok_or_else(|| not_found(target_id))?;
        image.status = "active".into();
        image.checksum = Some(sums.md5.clone());
        image.sha512 = Some(sums.sha512.clone());
        image.size = Some(sums.size);
        w.image_data.insert(target_id.to_string(), data);
        Self::mutated(&mut w, "target_upload_image", sums)
    }

    pub(super) async fn target_wait_image_active(
        &self,
        id: &str,
        _timeout: Duration,
    ) -> PortResult<Image> {
        self.enter("target_wait_image_active", id).await?;
        self.ready_delay().await;
        let w = self.lock();
        let image = w.contents.images.get(id).ok_or_else(|| not_found(id))?;
        if image.status != "active" {
            return Err(PortError::ImageFailed {
                id: id.into(),
                status: image.status.clone(),
            });
        }
        Ok(image.clone())
    }

    pub(super) async fn target_update_image(
        &self,
        id: &str,
        update: &ImageUpdate,
    ) -> PortResult<()> {
        self.enter("target_update_image", id).await?;
        let mut w = self.lock();
        let image = w.contents.images.get_mut(id).ok_or_else(|| not_found(id))?;
        if let Some(visibility) = &update.visibility {
            image.visibility = visibility.clone();
        }
        image.properties.extend(update.set.clone());
        for key in &update.remove {
            image.properties.remove(key);
        }
        Self::mutated(&mut w, "target_update_image", ())
    }

    pub(super) async fn source_user_data(&self, server_id: &str) -> PortResult<Option<String>> {
        self.enter("source_user_data", server_id).await?;
        Ok(self.lock().source_user_data.get(server_id).cloned())
    }

    pub(super) async fn target_server_groups(&self) -> PortResult<Vec<ServerGroup>> {
        self.enter("target_server_groups", "").await?;
        Ok(self
            .lock()
            .contents
            .server_groups
            .values()
            .cloned()
            .collect())
    }

    pub(super) async fn target_create_server_group(
        &self,
        name: &str,
        policy: &str,
    ) -> PortResult<ServerGroup> {
        self.enter("target_create_server_group", name).await?;
        let mut w = self.lock();
        let id = Self::id(&mut w, "grp");
        let group = ServerGroup {
            id: id.clone(),
            name: name.into(),
            policy: policy.into(),
            members: Vec::new(),
        };
        w.contents.server_groups.insert(id, group.clone());
        Self::mutated(&mut w, "target_create_server_group", group)
    }

    pub(super) async fn target_delete_server_group(&self, id: &str) -> PortResult<()> {
        self.enter("target_delete_server_group", id).await?;
        let mut w = self.lock();
        w.contents
            .server_groups
            .remove(id)
            .ok_or_else(|| not_found(id))?;
        Self::mutated(&mut w, "target_delete_server_group", ())
    }

    pub(super) async fn target_update_server(
        &self,
        id: &str,
        update: &ServerUpdate,
    ) -> PortResult<()> {
        self.enter("target_update_server", id).await?;
        let mut w = self.lock();
        let server = w
            .contents
            .servers
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        if let Some(metadata) = &update.metadata {
            server.boot.metadata = metadata.clone();
        }
        if let Some(tags) = &update.tags {
            server.boot.tags = tags.clone();
        }
        if let Some(description) = &update.description {
            server.boot.description = Some(description.clone());
        }
        Self::mutated(&mut w, "target_update_server", ())
    }

    pub(super) async fn target_delete_image(&self, id: &str) -> PortResult<()> {
        self.enter("target_delete_image", id).await?;
        let mut w = self.lock();
        w.contents.images.remove(id).ok_or_else(|| not_found(id))?;
        Self::mutated(&mut w, "target_delete_image", ())
    }

    pub(super) async fn target_keypairs(&self) -> PortResult<Vec<Keypair>> {
        self.enter("target_keypairs", "").await?;
        Ok(self.lock().contents.keypairs.values().cloned().collect())
    }

    pub(super) async fn target_import_keypair(
        &self,
        name: &str,
        public_key: &str,
    ) -> PortResult<Keypair> {
        self.enter("target_import_keypair", name).await?;
        let mut w = self.lock();
        if w.contents.keypairs.contains_key(name) {
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: "target_import_keypair".into(),
                status: Some(409),
                message: format!("Key pair '{name}' already exists."),
            });
        }
        let keypair = Keypair {
            name: name.into(),
            public_key: public_key.into(),
            fingerprint: fingerprint(public_key),
        };
        w.contents.keypairs.insert(name.into(), keypair.clone());
        Self::mutated(&mut w, "target_import_keypair", keypair)
    }

    pub(super) async fn target_create_keypair(&self, name: &str) -> PortResult<GeneratedKeypair> {
        self.enter("target_create_keypair", name).await?;
        let mut w = self.lock();
        let n = Self::id(&mut w, "key");
        let public_key = format!("ssh-ed25519 GENERATED{n}");
        let keypair = Keypair {
            name: name.into(),
            fingerprint: fingerprint(&public_key),
            public_key,
        };
        w.contents.keypairs.insert(name.into(), keypair.clone());
        Self::mutated(
            &mut w,
            "target_create_keypair",
            GeneratedKeypair {
                keypair,
                private_key: format!("PRIVATE {n}"),
            },
        )
    }

    pub(super) async fn target_delete_keypair(&self, name: &str) -> PortResult<()> {
        self.enter("target_delete_keypair", name).await?;
        let mut w = self.lock();
        w.contents
            .keypairs
            .remove(name)
            .ok_or_else(|| not_found(name))?;
        Self::mutated(&mut w, "target_delete_keypair", ())
    }

    pub(super) async fn target_security_groups(&self) -> PortResult<Vec<SecurityGroup>> {
        self.enter("target_security_groups", "").await?;
        Ok(self.lock().contents.groups.values().cloned().collect())
    }

    pub(super) async fn target_security_group(
        &self,
        id: &str,
    ) -> PortResult<Option<SecurityGroup>> {
        self.enter("target_security_group", id).await?;
        Ok(self.lock().contents.groups.get(id).cloned())
    }

    pub(super) async fn target_create_security_group(
        &self,
        name: &str,
        description: &str,
        marker: &Marker,
    ) -> PortResult<SecurityGroup> {
        self.enter("target_create_security_group", name).await?;
        let mut w = self.lock();
        let id = Self::id(&mut w, "sg");
        let mut n = w.next_id;
        let rules = default_egress(&id, &mut n);
        w.next_id = n;
        let group = SecurityGroup {
            id: id.clone(),
            name: name.into(),
            description: description.into(),
            rules,
            marker: Some(marker.clone()),
        };
        w.contents.groups.insert(id, group.clone());
        Self::mutated(&mut w, "target_create_security_group", group)
    }

    pub(super) async fn target_delete_security_group(&self, id: &str) -> PortResult<()> {
        self.enter("target_delete_security_group", id).await?;
        let mut w = self.lock();
        if w.contents.servers.values().any(|s| {
            s.security_groups
                .iter()
                .any(|g| w.contents.groups.get(id).is_some_and(|x| &x.name == g))
        }) {
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: "target_delete_security_group".into(),
                status: Some(409),
                message: format!("Security Group {id} in use."),
            });
        }
        w.contents.groups.remove(id).ok_or_else(|| not_found(id))?;
        Self::mutated(&mut w, "target_delete_security_group", ())
    }

    pub(super) async fn target_create_rule(
        &self,
        group_id: &str,
        rule: &Rule,
        marker: &Marker,
    ) -> PortResult<RuleInfo> {
        self.enter("target_create_rule", group_id).await?;
        let mut w = self.lock();
        let id = Self::id(&mut w, "rule");
        let group = w
            .contents
            .groups
            .get_mut(group_id)
            .ok_or_else(|| not_found(group_id))?;
        if group.rules.iter().any(|r| &r.rule == rule) {
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: "target_create_rule".into(),
                status: Some(409),
                message: "Security group rule already exists.".into(),
            });
        }
        let info = RuleInfo {
            id,
            rule: rule.clone(),
            marker: Some(marker.clone()),
        };
        group.rules.push(info.clone());
        Self::mutated(&mut w, "target_create_rule", info)
    }

    pub(super) async fn target_delete_rule(&self, id: &str) -> PortResult<()> {
        self.enter("target_delete_rule", id).await?;
        let mut w = self.lock();
        let mut found = false;
        for group in w.contents.groups.values_mut() {
            let before = group.rules.len();
            group.rules.retain(|r| r.id != id);
            found |= group.rules.len() != before;
        }
        if !found {
            return Err(not_found(id));
        }
        Self::mutated(&mut w, "target_delete_rule", ())
    }

    pub(super) async fn target_server(&self, id: &str) -> PortResult<Option<Server>> {
        self.enter("target_server", id).await?;
        Ok(self.lock().contents.servers.get(id).cloned())
    }

    pub(super) async fn target_servers(&self) -> PortResult<Vec<Server>> {
        self.enter("target_servers", "").await?;
        let w = self.lock();
        Ok(w.contents
            .servers
            .values()
            .filter(|s| Self::shows(&w, &s.id))
            .cloned()
            .collect())
    }

    pub(super) async fn target_create_server(&self, spec: &ServerSpec) -> PortResult<Server> {
        self.enter("target_create_server", &spec.name).await?;
        let mut w = self.lock();
        if let Some(image) = &spec.image_id
            && !w.contents.images.contains_key(image)
        {
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: "target_create_server".into(),
                status: Some(400),
                message: format!("Image {image} could not be found."),
            });
        }
        // As Nova: every volume must be there and free, and one without an image must boot
        // from a volume.
        for v in &spec.volumes {
            match w.contents.volumes.get(&v.id) {
                Some(vol) if vol.status == "available" => {}
                other => {
                    return Err(PortError::Api {
                        diagnosis: Diagnosis::default(),
                        call: "target_create_server".into(),
                        status: Some(400),
                        message: format!(
                            "Block Device Mapping is Invalid: volume {} is {}",
                            v.id,
                            other.map_or("missing", |o| o.status.as_str())
                        ),
                    });
                }
            }
        }
        if spec.image_id.is_none() && !spec.volumes.iter().any(|v| v.boot_index == Some(0)) {
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: "target_create_server".into(),
                status: Some(400),
                message: "Block Device Mapping is Invalid: no image and no boot volume".into(),
            });
        }
        let id = Self::id(&mut w, "srv");
        let flavor_name = w
            .flavors
            .iter()
            .find(|f| f.id == spec.flavor_id)
            .map(|f| f.spec.name.clone());
        let fixed = format!("10.0.0.{}", w.next_id);
        let server = Server {
            id: id.clone(),
            name: spec.name.clone(),
            status: "BUILD".into(),
            flavor_id: spec.flavor_id.clone(),
            flavor_name,
            image_id: spec.image_id.clone(),
            key_name: Some(spec.key_name.clone()),
            // As Nova shows them: by name (the spec names them by id).
            security_groups: spec
                .security_groups
                .iter()
                .map(|id| {
                    w.contents
                        .groups
                        .get(id)
                        .map_or_else(|| id.clone(), |g| g.name.clone())
                })
                .collect(),
            fixed_ips: vec![fixed],
            floating_ips: Vec::new(),
            fault: None,
            marker: Some(spec.marker.clone()),
            boot: crate::graph::Boot {
                user_data: None,
                ..spec.boot.clone()
            },
        };
        if let Some(group) = &spec.group_id {
            let Some(g) = w.contents.server_groups.get_mut(group) else {
                return Err(PortError::Api {
                    diagnosis: Diagnosis::default(),
                    call: "target_create_server".into(),
                    status: Some(400),
                    message: format!("Invalid server group {group}"),
                });
            };
            g.members.push(id.clone());
        }
        for v in &spec.volumes {
            if let Some(vol) = w.contents.volumes.get_mut(&v.id) {
                vol.status = "in-use".into();
                vol.attached_to = vec![id.clone()];
            }
        }
        w.volume_delete_with.insert(
            id.clone(),
            spec.volumes
                .iter()
                .filter(|v| v.delete_on_termination)
                .map(|v| v.id.clone())
                .collect(),
        );
        w.contents.servers.insert(id, server.clone());
        Self::mutated(&mut w, "target_create_server", server)
    }

    pub(super) async fn target_wait_server_active(
        &self,
        id: &str,
        _timeout: Duration,
    ) -> PortResult<Server> {
        self.enter("target_wait_server_active", id).await?;
        self.ready_delay().await;
        let mut w = self.lock();
        let fault = {
            let server = w.contents.servers.get(id).ok_or_else(|| not_found(id))?;
            w.script.error_servers.get(&server.name).cloned()
        };
        let server = w
            .contents
            .servers
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        match fault {
            Some(fault) => {
                server.status = "ERROR".into();
                server.fault = Some(fault.clone());
                Err(PortError::ServerFault {
                    id: id.into(),
                    fault,
                })
            }
            None => {
                server.status = "ACTIVE".into();
                Ok(server.clone())
            }
        }
    }

    pub(super) async fn target_keep_volume_on_delete(
        &self,
        id: &str,
        volume: &str,
    ) -> PortResult<()> {
        self.enter("target_keep_volume_on_delete", id).await?;
        let mut w = self.lock();
        let attached = w
            .contents
            .volumes
            .get(volume)
            .is_some_and(|v| v.attached_to.iter().any(|s| s == id));
        if !w.contents.servers.contains_key(id) || !attached {
            return Err(not_found(volume));
        }
        if let Some(with) = w.volume_delete_with.get_mut(id) {
            with.retain(|v| v != volume);
        }
        Self::mutated(&mut w, "target_keep_volume_on_delete", ())
    }

    pub(super) async fn target_delete_server(&self, id: &str) -> PortResult<()> {
        self.enter("target_delete_server", id).await?;
        let mut w = self.lock();
        w.contents.servers.remove(id).ok_or_else(|| not_found(id))?;
        // As Nova: its volumes are detached, those marked so deleted with it.
        let with = w.volume_delete_with.remove(id).unwrap_or_default();
        for vol in w.contents.volumes.values_mut() {
            if vol.attached_to.iter().any(|s| s == id) {
                vol.attached_to.clear();
                vol.status = "available".into();
            }
        }
        for v in with {
            w.contents.volumes.remove(&v);
        }
        for group in w.contents.server_groups.values_mut() {
            group.members.retain(|m| m != id);
        }
        for fip in w.contents.floating_ips.values_mut() {
            if fip.server_id.as_deref() == Some(id) {
                fip.server_id = None;
                fip.port_id = None;
            }
        }
        Self::mutated(&mut w, "target_delete_server", ())
    }

    pub(super) async fn target_wait_server_gone(
        &self,
        id: &str,
        _timeout: Duration,
    ) -> PortResult<()> {
        self.enter("target_wait_server_gone", id).await?;
        self.ready_delay().await;
        Ok(())
    }

    pub(super) async fn target_floating_ips(&self) -> PortResult<Vec<FloatingIp>> {
        self.enter("target_floating_ips", "").await?;
        Ok(self
            .lock()
            .contents
            .floating_ips
            .values()
            .cloned()
            .collect())
    }

    pub(super) async fn target_floating_ip_by_address(
        &self,
        address: &str,
    ) -> PortResult<Option<FloatingIp>> {
        self.enter("target_floating_ip_by_address", address).await?;
        let w = self.lock();
        Ok(w.contents
            .floating_ips
            .values()
            .find(|f| f.address == address)
            .cloned())
    }

    pub(super) async fn target_allocate_floating_ip(
        &self,
        network_id: &str,
        marker: &Marker,
    ) -> PortResult<FloatingIp> {
        self.enter("target_allocate_floating_ip", network_id)
            .await?;
        let mut w = self.lock();
        let id = Self::id(&mut w, "fip");
        let fip = FloatingIp {
            id: id.clone(),
            address: format!("203.0.113.{}", w.next_id),
            network_id: network_id.into(),
            port_id: None,
            server_id: None,
            marker: Some(marker.clone()),
        };
        w.contents.floating_ips.insert(id, fip.clone());
        Self::mutated(&mut w, "target_allocate_floating_ip", fip)
    }

    pub(super) async fn target_associate_floating_ip(
        &self,
        id: &str,
        server_id: &str,
        to: &FipTarget,
    ) -> PortResult<FloatingIp> {
        self.enter("target_associate_floating_ip", id).await?;
        let mut w = self.lock();
        if !w.contents.servers.contains_key(server_id) {
            return Err(not_found(server_id));
        }
        let fip = w
            .contents
            .floating_ips
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        fip.port_id = Some(match to {
            FipTarget::Port(port) => port.clone(),
            FipTarget::Network(_) => format!("port-{server_id}"),
        });
        fip.server_id = Some(server_id.into());
        let fip = fip.clone();
        if let Some(server) = w.contents.servers.get_mut(server_id)
            && !server.floating_ips.contains(&fip.address)
        {
            server.floating_ips.push(fip.address.clone());
        }
        Self::mutated(&mut w, "target_associate_floating_ip", fip)
    }

    pub(super) async fn target_disassociate_floating_ip(&self, id: &str) -> PortResult<()> {
        self.enter("target_disassociate_floating_ip", id).await?;
        let mut w = self.lock();
        let fip = w
            .contents
            .floating_ips
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        let (address, server) = (fip.address.clone(), fip.server_id.take());
        fip.port_id = None;
        if let Some(server) = server.and_then(|s| w.contents.servers.get_mut(&s)) {
            server.floating_ips.retain(|a| a != &address);
        }
        Self::mutated(&mut w, "target_disassociate_floating_ip", ())
    }

    pub(super) async fn target_release_floating_ip(&self, id: &str) -> PortResult<()> {
        self.enter("target_release_floating_ip", id).await?;
        let mut w = self.lock();
        w.contents
            .floating_ips
            .remove(id)
            .ok_or_else(|| not_found(id))?;
        Self::mutated(&mut w, "target_release_floating_ip", ())
    }
}
