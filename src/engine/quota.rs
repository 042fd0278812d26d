//! The quota preflight of a plan: what its creates take (instances, cores, RAM, ports,
//! floating IPs, volumes and their gigabytes, images and their MiB, in the source and the
//! target) against what each cloud's limits have left, so a plan that cannot fit is refused
//! before anything is made.

use std::collections::BTreeMap;

use serde_json::Value;

use super::diff::{Action, Change, PlanError};
use super::inventory::Inventory;
use crate::graph::{Address, FloatingIpChoice, Node};
use crate::state::Side;

/// The images a plan makes in one cloud's Glance: how many, and the MiB of those whose size
/// is known before they are made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ImageCount {
    pub(super) count: u64,
    pub(super) mib: u64,
}

/// The images a plan makes in each cloud.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct NewImages {
    /// Nova's snapshots of the servers (size unknown until made) and the images Cinder
    /// uploads the volumes into (a raw one is the volume's size; a qcow2 one's is unknown).
    pub(super) source: ImageCount,
    /// The copies: a server's image (its snapshot's size, once the snapshot exists) and a
    /// volume's image (the uploaded image's size once it exists, else as above).
    pub(super) target: ImageCount,
}

/// MiB as Glance counts them: the bytes divided by 2^20, rounded down.
fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

/// What the plan's creates put into each cloud's Glance (a replaced image takes the place of
/// the one it replaces, as a replaced server does).
pub(super) fn new_images(inventory: &Inventory, changes: &BTreeMap<Address, Change>) -> NewImages {
    use crate::graph::{VolumeFormat, VolumeStage};
    let source_size = |address: &Address| {
        let id = changes.get(address)?.id()?;
        inventory.image(Side::Source, id)?.size
    };
    let volume_mib = |volume: &crate::graph::VolumeNode| match volume.format {
        VolumeFormat::Raw => volume.source.size_gb << 10,
        VolumeFormat::Qcow2 => 0,
    };
    let mut new = NewImages::default();
    for change in changes.values() {
        if !matches!(change.action, Action::Create) {
            continue;
        }
        let (side, size) = match &change.node {
            Some(Node::Snapshot { .. }) => (&mut new.source, 0),
            Some(Node::Image { snapshot, .. }) => {
                (&mut new.target, source_size(snapshot).map_or(0, mib))
            }
            Some(Node::Volume {
                stage: VolumeStage::Upload,
                volume,
            }) => (&mut new.source, volume_mib(volume)),
            Some(Node::Volume {
                stage: VolumeStage::Image,
                volume,
            }) => {
                let upload = Address::Volume {
                    server: volume.server.clone(),
                    index: volume.index,
                    stage: VolumeStage::Upload,
                };
                let size = source_size(&upload).map_or_else(|| volume_mib(volume), mib);
                (&mut new.target, size)
            }
            _ => continue,
        };
        side.count += 1;
        side.mib += size;
    }
    new
}

/// Refuse, before anything is made, a plan whose new servers, floating IPs, volumes and images
/// do not fit in what the quotas have left (a replaced server frees what its replacement
/// takes): in the target, instances, cores and RAM from the compute limits, a port per new
/// server (its NIC) and the floating IPs from Neutron's quota details, the volumes and their
/// gigabytes from Cinder's limits; in both clouds, Glance's images and their MiB
/// (`image_count_total`, `image_size_total`) where Glance tells them.
pub(super) fn check_quota(
    inventory: &Inventory,
    changes: &BTreeMap<Address, Change>,
    images: &NewImages,
) -> Result<(), PlanError> {
    let mut need = (0u64, 0u64, 0u64);
    let mut floating_ips = 0u64;
    let (mut volumes, mut gigabytes) = (0u64, 0u64);
    // In the source: a snapshot and a copy of each volume, both counted in its gigabytes.
    let (mut source_snapshots, mut source_volumes, mut source_gigabytes) = (0u64, 0u64, 0u64);
    for change in changes.values() {
        if !matches!(change.action, Action::Create) {
            continue;
        }
        if let Some(Node::Volume { stage, volume }) = &change.node {
            let size = volume.source.size_gb;
            match stage {
                crate::graph::VolumeStage::Target => {
                    volumes += 1;
                    gigabytes += size;
                }
                crate::graph::VolumeStage::Snapshot => {
                    source_snapshots += 1;
                    source_gigabytes += size;
                }
                crate::graph::VolumeStage::Copy => {
                    source_volumes += 1;
                    source_gigabytes += size;
                }
                _ => {}
            }
        }
        if let Some(Node::FloatingIp {
            choice: FloatingIpChoice::Pool(_),
            ..
        }) = &change.node
        {
            floating_ips += 1;
        }
        if !matches!(change.node, Some(Node::Server { .. })) {
            continue;
        }
        let flavor_id = change
            .after
            .as_ref()
            .and_then(|a| a.get("flavor_id"))
            .and_then(Value::as_str);
        let spec = inventory
            .flavors
            .iter()
            .find(|f| Some(f.id.as_str()) == flavor_id)
            .map(|f| (u64::from(f.spec.vcpus), f.spec.ram_mb))
            .unwrap_or_default();
        need.0 += 1;
        need.1 += spec.0;
        need.2 += spec.1;
    }
    let quota = &inventory.quota;
    let (source_glance, target_glance) = (&inventory.source_image_quota, &inventory.image_quota);
    for (cloud, what, made, wanted, have) in [
        ("target", "instances", "servers", need.0, quota.instances),
        ("target", "cores", "servers", need.1, quota.cores),
        ("target", "ram", "servers", need.2, quota.ram_mb),
        ("target", "port", "servers", need.0, quota.ports),
        (
            "target",
            "floating IP",
            "servers",
            floating_ips,
            quota.floating_ips,
        ),
        (
            "target",
            "volume",
            "volumes",
            volumes,
            inventory.volume_quota.volumes,
        ),
        (
            "target",
            "volume gigabytes",
            "volumes",
            gigabytes,
            inventory.volume_quota.gigabytes,
        ),
        (
            "source",
            "volume",
            "volume copies",
            source_volumes,
            inventory.source_volume_quota.volumes,
        ),
        (
            "source",
            "volume snapshot",
            "volume snapshots",
            source_snapshots,
            inventory.source_volume_quota.snapshots,
        ),
        (
            "source",
            "volume gigabytes",
            "volume snapshots and copies",
            source_gigabytes,
            inventory.source_volume_quota.gigabytes,
        ),
        (
            "source",
            "image_count_total (Glance)",
            "images",
            images.source.count,
            source_glance.images,
        ),
        (
            "source",
            "image_size_total (Glance, MiB)",
            "images",
            images.source.mib,
            source_glance.size_mib,
        ),
        (
            "target",
            "image_count_total (Glance)",
            "images",
            images.target.count,
            target_glance.images,
        ),
        (
            "target",
            "image_size_total (Glance, MiB)",
            "images",
            images.target.mib,
            target_glance.size_mib,
        ),
    ] {
        if let Some(q) = have {
            let free = q.limit.saturating_sub(q.used);
            if wanted > free {
                return Err(PlanError::Quota {
                    cloud,
                    what,
                    made,
                    wanted,
                    free,
                    limit: q.limit,
                });
            }
        }
    }
    Ok(())
}
