//! The steps of a volume's way, one per stage: in the source a snapshot of the volume (also
//! of one in use), a volume made from it, and Cinder's upload of that copy into an image; the
//! image copied into the target's Glance like a server's; the target volume made from it.
//! Once the target volume is available the stages before it are removed (unless the plan
//! keeps them). Each stage first waits for the one before it, which a crash may have left
//! on its way.

use super::*;
use crate::engine::port::{VolumeSource, VolumeSpec};
use crate::engine::refresh::volume_placement;
use crate::graph::{VolumeNode, VolumeStage};

/// The side a stage lives on.
pub(super) fn side_of(address: &Address) -> Option<Side> {
    match address {
        Address::Volume { stage, .. } => Some(volume_placement(*stage).0),
        _ => None,
    }
}

fn at(volume: &VolumeNode, stage: VolumeStage) -> Address {
    Address::Volume {
        server: volume.server.clone(),
        index: volume.index,
        stage,
    }
}

/// Wait until a stage's resource is ready for the next: a volume or snapshot `available`, an
/// image `active`.
pub(super) async fn wait_ready<C: CloudPort>(
    cloud: &C,
    ctx: &NodeCtx,
    stage: VolumeStage,
    id: &str,
) -> Result<(), PortError> {
    let (side, kind) = volume_placement(stage);
    let deadline = ctx.timeouts.volume;
    match kind {
        Some(kind) => {
            within(
                &ctx.slot,
                deadline,
                stage.kind(),
                "available",
                cloud.wait_volume_available(side, kind, id, deadline),
            )
            .await?;
        }
        None => {
            within(
                &ctx.slot,
                deadline,
                stage.kind(),
                "active",
                cloud.wait_image_active(side, id, deadline),
            )
            .await?;
        }
    }
    Ok(())
}

/// Delete a stage's resource; what is gone already is fine.
pub(super) async fn remove<C: CloudPort>(
    cloud: &C,
    ctx: &NodeCtx,
    stage: VolumeStage,
    id: &str,
) -> Result<(), PortError> {
    let (side, kind) = volume_placement(stage);
    if stage == VolumeStage::Copy {
        // A copy still `uploading` (its upload cut off by a crash, now finishing) cannot be
        // deleted until Cinder is done with it; whatever the wait ends in, the delete says
        // what the cloud thinks of it.
        let _ = wait_ready(cloud, ctx, stage, id).await;
    }
    match kind {
        Some(kind) => ignore_missing(
            cloud
                .delete_volume_resource(side, kind, id, ctx.timeouts.delete)
                .await,
        ),
        None => ignore_missing(cloud.delete_image(side, id).await),
    }
}

/// Make one stage (the old one removed first when replacing).
pub(super) async fn make_volume<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::Volume { stage, volume } = node else {
        return Err(step.not_made());
    };
    let (cloud, ctx, side) = (step.cloud, step.ctx, step.side);
    let stage = *stage;
    if let Some(old) = step.replacing {
        remove(cloud, ctx, stage, old).await?;
    }
    let marker = ctx.marker();
    let name = volume.name_at(stage);
    // The stage before this one, ready.
    let input = match stage {
        VolumeStage::Snapshot => None,
        VolumeStage::Copy => Some(VolumeStage::Snapshot),
        VolumeStage::Upload => Some(VolumeStage::Copy),
        VolumeStage::Image => Some(VolumeStage::Upload),
        VolumeStage::Target => Some(VolumeStage::Image),
    };
    let input_id = match input {
        Some(before) => {
            let id = ctx.dep_id(&at(volume, before))?;
            wait_ready(cloud, ctx, before, &id).await?;
            Some(id)
        }
        None => None,
    };
    let input_id = input_id.unwrap_or_default();
    let mut extra_attrs = Map::new();
    let id = match stage {
        VolumeStage::Snapshot => {
            if volume.stop_source {
                power(cloud, ctx, volume, false).await?;
            }
            // A place under `--snapshots` from the create until the snapshot is available.
            ctx.slot.release();
            let held = ctx.snapshots.enter().await;
            ctx.slot.acquire().await?;
            let _held = held?;
            let made = ctx
                .creating(side, || {
                    cloud.create_volume_snapshot(&volume.source.id, &name, &marker)
                })
                .await?;
            wait_ready(cloud, ctx, stage, &made.id).await?;
            made.id
        }
        VolumeStage::Copy => {
            // Every snapshot of the server is taken (the graph puts them all before any copy).
            if volume.stop_source {
                power(cloud, ctx, volume, true).await?;
            }
            let spec = VolumeSpec {
                name,
                size_gb: volume.source.size_gb,
                volume_type: None,
                from: VolumeSource::Snapshot(input_id),
                marker,
            };
            let made = ctx
                .creating(side, || cloud.create_volume(Side::Source, &spec))
                .await?;
            wait_ready(cloud, ctx, stage, &made.id).await?;
            made.id
        }
        VolumeStage::Upload => {
            ctx.slot.release();
            let uploaded = ctx
                .creating(side, || {
                    cloud.upload_volume(
                        &input_id,
                        &name,
                        volume.format.as_str(),
                        &marker,
                        ctx.timeouts.volume,
                    )
                })
                .await;
            ctx.slot.acquire().await?;
            let image = uploaded?;
            wait_ready(cloud, ctx, stage, &image).await?;
            // The copy goes back to `available` once Cinder has written the image.
            wait_ready(cloud, ctx, VolumeStage::Copy, &input_id).await?;
            image
        }
        VolumeStage::Image => {
            let (id, checksums) = copy_image(step, volume, &input_id, name).await?;
            extra_attrs = extra(
                json!({"checksum": checksums.md5, "sha512": checksums.sha512, "size": checksums.size}),
            );
            id
        }
        VolumeStage::Target => {
            let spec = VolumeSpec {
                name,
                size_gb: volume.source.size_gb,
                volume_type: volume.volume_type.clone(),
                from: VolumeSource::Image(input_id),
                marker,
            };
            let made = ctx
                .creating(side, || cloud.create_volume(Side::Target, &spec))
                .await?;
            if let Err(error) = wait_ready(cloud, ctx, stage, &made.id).await {
                return Err(NodeFailure {
                    message: error.to_string(),
                    diagnosis: error.diagnosis(),
                    // It exists: recorded, so the next plan replaces it or destroy deletes it.
                    records: vec![(
                        ctx.change.address.clone(),
                        Some(ctx.record(side, &made.id, Origin::Created, Map::new())),
                    )],
                });
            }
            let mut output =
                ctx.done(ctx.record(side, &made.id, Origin::Created, extra_attrs.clone()));
            if !volume.keep_intermediates {
                output.records.extend(clean_up(cloud, ctx, volume).await?);
            }
            return Ok(output);
        }
    };
    Ok(ctx.done(ctx.record(side, &id, Origin::Created, extra_attrs)))
}

/// Shut the source server off, or start it again.
async fn power<C: CloudPort>(
    cloud: &C,
    ctx: &NodeCtx,
    volume: &VolumeNode,
    on: bool,
) -> Result<(), PortError> {
    within(
        &ctx.slot,
        ctx.timeouts.server,
        "source server",
        if on { "ACTIVE" } else { "SHUTOFF" },
        cloud.set_source_power(&volume.source_server_id, on, ctx.timeouts.server),
    )
    .await
}

/// The target's copy of the uploaded image: made with the upload's properties (what Cinder
/// carried over from the volume: its boot properties) and filled with its bytes; deleted
/// when its bytes did not arrive whole.
async fn copy_image<C: CloudPort>(
    step: &Step<'_, C>,
    volume: &VolumeNode,
    source_id: &str,
    name: String,
) -> Result<(String, crate::engine::port::Checksums), NodeFailure> {
    let (cloud, ctx) = (step.cloud, step.ctx);
    let upload = within(
        &ctx.slot,
        ctx.timeouts.volume,
        "volume_upload",
        "active",
        cloud.wait_image_active(Side::Source, source_id, ctx.timeouts.volume),
    )
    .await?;
    let spec = ImageSpec {
        name,
        disk_format: volume.format.as_str().to_string(),
        container_format: "bare".into(),
        visibility: "private".into(),
        properties: crate::graph::image_properties(&upload.properties, &BTreeMap::new(), &[]),
        min_disk: upload.min_disk,
        min_ram: upload.min_ram,
        marker: ctx.marker(),
    };
    let image = ctx
        .creating(Side::Target, || cloud.create_image(&spec))
        .await?;
    let copy = crate::engine::port::CopySpec {
        disk_format: volume.format.as_str().to_string(),
        transfer: crate::graph::TransferMode::Stream,
    };
    let checksums = image::fill_or_delete(cloud, ctx, &image.id, source_id, &copy).await?;
    Ok((image.id, checksums))
}

/// Remove the stages before the target volume (the later first: a copy stands on its
/// snapshot) and say so to the state.
async fn clean_up<C: CloudPort>(
    cloud: &C,
    ctx: &NodeCtx,
    volume: &VolumeNode,
) -> Result<Vec<(Address, Option<crate::state::Resource>)>, NodeFailure> {
    let mut records = Vec::new();
    for stage in VolumeStage::ALL
        .into_iter()
        .rev()
        .filter(|s| s.intermediate())
    {
        let address = at(volume, stage);
        if let Some(id) = ctx.ids.get(&address) {
            remove(cloud, ctx, stage, id).await?;
            records.push((address, None));
        }
    }
    Ok(records)
}
