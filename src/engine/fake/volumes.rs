//! The fake's Cinder: the source's volumes (attached to its servers, each with bytes), the
//! snapshots and copies s2d makes of them and their upload into an image, and the target's
//! volumes made from images, attached through the servers that boot with them. The refusals
//! the engine must live with are kept: a volume is made only from an `available` snapshot or
//! an `active` image, a volume uploads only when `available`, one in use cannot be deleted.

use super::*;

impl FakeCloud {
    /// Give source server `name` a volume of `size_gb` holding `data` (`boot`: it boots from
    /// it, and has no image).
    pub fn add_source_volume(&self, server: &str, volume: crate::graph::SourceVolume, data: &[u8]) {
        let mut w = self.lock();
        w.volume_data.insert(volume.id.clone(), data.to_vec());
        w.contents.source_cinder.insert(
            volume.id.clone(),
            (
                VolumeKind::Volume,
                CinderResource {
                    id: volume.id.clone(),
                    name: volume.name.clone(),
                    status: "in-use".into(),
                    size_gb: volume.size_gb,
                    volume_type: volume.volume_type.clone(),
                    attached_to: vec![server.to_string()],
                    marker: None,
                },
            ),
        );
        if let Some(s) = w.source_servers.get_mut(server) {
            if volume.boot {
                s.image_id = None;
                s.image_disk_format = None;
            }
            s.volumes.push(volume);
        }
    }

    pub(super) async fn source_power(&self, server_id: &str, on: bool) -> PortResult<()> {
        self.enter(if on { "start_source" } else { "stop_source" }, server_id)
            .await?;
        let mut w = self.lock();
        let server = w
            .source_servers
            .values_mut()
            .find(|s| s.id == server_id)
            .ok_or_else(|| not_found(server_id))?;
        let wanted = if on { "ACTIVE" } else { "SHUTOFF" };
        if server.status == wanted {
            return Ok(());
        }
        server.status = wanted.into();
        Self::mutated(&mut w, if on { "start_source" } else { "stop_source" }, ())
    }

    /// A source server's status.
    pub fn source_status(&self, name: &str) -> Option<String> {
        self.lock()
            .source_servers
            .get(name)
            .map(|s| s.status.clone())
    }

    /// The bytes a target volume holds.
    pub fn volume_bytes(&self, id: &str) -> Option<Vec<u8>> {
        self.lock().volume_data.get(id).cloned()
    }

    /// The target's volume types.
    pub fn set_volume_types(&self, types: &[&str]) {
        self.lock().volume_types = types.iter().map(|t| t.to_string()).collect();
    }

    fn cinder_refused(call: &str, status: u16, message: String) -> PortError {
        PortError::Api {
            diagnosis: Diagnosis::default(),
            call: call.into(),
            status: Some(status),
            message,
        }
    }

    pub(super) async fn cinder_inventory(&self, side: Side) -> PortResult<VolumeInventory> {
        self.enter("volume_inventory", &format!("{side:?}")).await?;
        let w = self.lock();
        let mut inventory = VolumeInventory::default();
        let all: Vec<(VolumeKind, CinderResource)> = match side {
            Side::Source => w.contents.source_cinder.values().cloned().collect(),
            Side::Target => w
                .contents
                .volumes
                .values()
                .map(|v| (VolumeKind::Volume, v.clone()))
                .collect(),
        };
        for (kind, r) in all {
            match kind {
                VolumeKind::Volume => inventory.volumes.push(r),
                VolumeKind::Snapshot => inventory.snapshots.push(r),
            }
        }
        Ok(inventory)
    }

    pub(super) async fn cinder_quota(&self, side: Side) -> PortResult<VolumeQuota> {
        self.enter("volume_quota", "").await?;
        let w = self.lock();
        Ok(VolumeQuota {
            gigabytes: match side {
                Side::Source => w.script.source_volume_gigabytes,
                Side::Target => w.script.volume_gigabytes,
            },
            volumes: None,
            snapshots: None,
            types: w.volume_types.clone(),
        })
    }

    pub(super) async fn cinder_snapshot(
        &self,
        volume_id: &str,
        name: &str,
        marker: &Marker,
    ) -> PortResult<CinderResource> {
        self.enter("create_volume_snapshot", name).await?;
        let mut w = self.lock();
        let Some((VolumeKind::Volume, source)) = w.contents.source_cinder.get(volume_id).cloned()
        else {
            return Err(not_found(volume_id));
        };
        let id = Self::id(&mut w, "vsnap");
        let data = w.volume_data.get(volume_id).cloned().unwrap_or_default();
        w.volume_data.insert(id.clone(), data);
        let made = CinderResource {
            id: id.clone(),
            name: name.into(),
            status: "creating".into(),
            size_gb: source.size_gb,
            volume_type: source.volume_type,
            attached_to: Vec::new(),
            marker: Some(marker.clone()),
        };
        w.contents
            .source_cinder
            .insert(id, (VolumeKind::Snapshot, made.clone()));
        Self::mutated(&mut w, "create_volume_snapshot", made)
    }

    pub(super) async fn cinder_create_volume(
        &self,
        side: Side,
        spec: &VolumeSpec,
    ) -> PortResult<CinderResource> {
        self.enter("create_volume", &spec.marker.address.to_string())
            .await?;
        let mut w = self.lock();
        let call = "create_volume";
        let data = match (&spec.from, side) {
            (VolumeSource::Snapshot(snap), Side::Source) => {
                match w.contents.source_cinder.get(snap) {
                    Some((VolumeKind::Snapshot, s)) if s.status == "available" => {
                        w.volume_data.get(snap).cloned().unwrap_or_default()
                    }
                    Some((VolumeKind::Snapshot, s)) => {
                        return Err(Self::cinder_refused(
                            call,
                            400,
                            format!(
                                "Invalid snapshot: Originating snapshot status must be one of 'available' values (it is {})",
                                s.status
                            ),
                        ));
                    }
                    _ => return Err(not_found(snap)),
                }
            }
            (VolumeSource::Image(image), Side::Target) => match w.contents.images.get(image) {
                Some(i) if i.status == "active" => {
                    w.image_data.get(image).cloned().unwrap_or_default()
                }
                Some(i) => {
                    return Err(Self::cinder_refused(
                        call,
                        400,
                        format!("Image {image} is not active ({})", i.status),
                    ));
                }
                None => return Err(not_found(image)),
            },
            _ => {
                return Err(Self::cinder_refused(
                    call,
                    400,
                    "the fake makes source volumes from snapshots and target volumes from images"
                        .into(),
                ));
            }
        };
        if let Some(t) = &spec.volume_type
            && side == Side::Target
            && !w.volume_types.contains(t)
        {
            return Err(Self::cinder_refused(
                call,
                404,
                format!("Volume type with name {t} could not be found."),
            ));
        }
        let id = Self::id(&mut w, "vol");
        w.volume_data.insert(id.clone(), data);
        if let VolumeSource::Snapshot(snap) = &spec.from {
            w.volume_from.insert(id.clone(), snap.clone());
        }
        let made = CinderResource {
            id: id.clone(),
            name: spec.name.clone(),
            status: match side {
                Side::Source => "creating",
                Side::Target => "downloading",
            }
            .into(),
            size_gb: spec.size_gb,
            volume_type: spec.volume_type.clone(),
            attached_to: Vec::new(),
            marker: Some(spec.marker.clone()),
        };
        match side {
            Side::Source => {
                w.contents
                    .source_cinder
                    .insert(id, (VolumeKind::Volume, made.clone()));
            }
            Side::Target => {
                w.contents.volumes.insert(id, made.clone());
            }
        }
        Self::mutated(&mut w, call, made)
    }

    pub(super) async fn cinder_upload(
        &self,
        volume_id: &str,
        image_name: &str,
        disk_format: &str,
        marker: &Marker,
    ) -> PortResult<String> {
        self.enter("upload_volume", image_name).await?;
        let mut w = self.lock();
        let call = "upload_volume";
        match w.contents.source_cinder.get_mut(volume_id) {
            Some((VolumeKind::Volume, v)) if v.status == "available" => {
                v.status = "uploading".into();
            }
            Some((VolumeKind::Volume, v)) => {
                return Err(Self::cinder_refused(
                    call,
                    400,
                    format!(
                        "Invalid volume: Volume {volume_id} status must be available, but current status is: {}.",
                        v.status
                    ),
                ));
            }
            _ => return Err(not_found(volume_id)),
        }
        let id = Self::id(&mut w, "vimg");
        let data = w.volume_data.get(volume_id).cloned().unwrap_or_default();
        w.image_data.insert(id.clone(), data);
        // As Cinder: the image metadata of the volume's own image comes along.
        let properties = BTreeMap::from([("hw_disk_bus".to_string(), "virtio".to_string())]);
        w.contents.source_images.insert(
            id.clone(),
            Image {
                id: id.clone(),
                name: image_name.into(),
                status: "saving".into(),
                disk_format: Some(disk_format.into()),
                visibility: "private".into(),
                checksum: None,
                sha512: None,
                size: None,
                marker: Some(marker.clone()),
                properties,
                min_disk: 0,
                min_ram: 0,
            },
        );
        Self::mutated(&mut w, call, id)
    }

    pub(super) async fn cinder_wait(
        &self,
        side: Side,
        kind: VolumeKind,
        id: &str,
    ) -> PortResult<CinderResource> {
        self.enter("wait_volume_available", id).await?;
        self.ready_delay().await;
        let mut w = self.lock();
        let found = match side {
            Side::Source => w
                .contents
                .source_cinder
                .get_mut(id)
                .filter(|(k, _)| *k == kind)
                .map(|(_, r)| r),
            Side::Target => w.contents.volumes.get_mut(id),
        };
        let r = found.ok_or_else(|| not_found(id))?;
        if r.status.starts_with("error") {
            return Err(Self::cinder_refused(
                "wait_volume_available",
                500,
                format!("{id} went to {}", r.status),
            ));
        }
        if r.attached_to.is_empty() {
            r.status = "available".into();
        }
        Ok(r.clone())
    }

    pub(super) async fn cinder_delete(
        &self,
        side: Side,
        kind: VolumeKind,
        id: &str,
    ) -> PortResult<()> {
        self.enter("delete_volume_resource", id).await?;
        let mut w = self.lock();
        let call = "delete_volume_resource";
        let found = match side {
            Side::Source => w
                .contents
                .source_cinder
                .get(id)
                .filter(|(k, _)| *k == kind)
                .map(|(_, r)| r),
            Side::Target => w.contents.volumes.get(id),
        };
        let Some(r) = found else {
            return Err(not_found(id));
        };
        if !r.attached_to.is_empty() || r.status == "uploading" {
            return Err(Self::cinder_refused(
                call,
                400,
                format!(
                    "Invalid volume: Volume status must be available or error, but current status is: {}.",
                    r.status
                ),
            ));
        }
        if kind == VolumeKind::Snapshot
            && w.contents.source_cinder.values().any(|(k, v)| {
                *k == VolumeKind::Volume && w.volume_from.get(&v.id).map(String::as_str) == Some(id)
            })
        {
            return Err(Self::cinder_refused(
                call,
                400,
                format!("Invalid snapshot: snapshot {id} has dependent volumes"),
            ));
        }
        match side {
            Side::Source => {
                w.contents.source_cinder.remove(id);
            }
            Side::Target => {
                w.contents.volumes.remove(id);
            }
        }
        w.volume_data.remove(id);
        Self::mutated(&mut w, call, ())
    }
}
