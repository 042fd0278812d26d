//! The steps of the image side: the snapshot of a source server, and the target image filled
//! with its bytes (streamed or spooled, checked against what was sent).

use super::*;

/// Upload the snapshot's bytes into a new target image and wait for it to be `active` with
/// the checksum of what was sent.
pub(super) async fn fill_image<C: CloudPort>(
    cloud: &C,
    ctx: &NodeCtx,
    image_id: &str,
    source_id: &str,
    copy: &crate::engine::port::CopySpec,
) -> Result<crate::engine::port::Checksums, NodeFailure> {
    // The copy is bounded by `transfers`, not by the parallelism slot.
    ctx.slot.release();
    let events = ctx.events.clone();
    let for_progress = ctx.change.address.clone();
    let progress: Progress = Arc::new(move |bytes, total| {
        if let Some(tx) = &events {
            let _ = tx.send(Event::Transfer {
                address: for_progress.clone(),
                bytes,
                total,
            });
        }
    });
    // An upload Glance refuses for its quota (images uploading at once, storage) waits
    // without its place under `transfers`, and goes again into the same (`queued`) image.
    let copied = quota_wait(ctx, || async {
        let _held = ctx.transfers.enter().await?;
        cloud
            .upload_image(image_id, source_id, copy, progress.clone())
            .await
    })
    .await;
    ctx.slot.acquire().await?;
    let checksums = copied?;
    let active = within(
        &ctx.slot,
        ctx.timeouts.image,
        "image",
        "active",
        cloud.wait_image_active(Side::Target, image_id, ctx.timeouts.image),
    )
    .await?;
    if let Some(sum) = &active.checksum
        && sum != &checksums.md5
    {
        return Err(NodeFailure {
            diagnosis: checksum_mismatch(),
            message: format!(
                "image {image_id} has checksum {sum} in the target, but {} was sent",
                checksums.md5
            ),
            records: Vec::new(),
        });
    }
    if let Some(sum) = &active.sha512
        && sum != &checksums.sha512
    {
        return Err(NodeFailure {
            diagnosis: checksum_mismatch(),
            message: format!(
                "image {image_id} has sha512 {sum} in the target, but {} was sent",
                checksums.sha512
            ),
            records: Vec::new(),
        });
    }
    Ok(checksums)
}

/// [`fill_image`], and the target image deleted when its bytes did not arrive whole or not
/// as sent: it is never left behind looking like a copy.
pub(super) async fn fill_or_delete<C: CloudPort>(
    cloud: &C,
    ctx: &NodeCtx,
    image_id: &str,
    source_id: &str,
    copy: &crate::engine::port::CopySpec,
) -> Result<crate::engine::port::Checksums, NodeFailure> {
    let mut failure = match fill_image(cloud, ctx, image_id, source_id, copy).await {
        Ok(checksums) => return Ok(checksums),
        Err(failure) => failure,
    };
    match cloud.delete_image(Side::Target, image_id).await {
        Ok(()) | Err(PortError::NotFound { .. }) => failure
            .message
            .push_str(&format!(" (the incomplete image {image_id} was deleted)")),
        Err(e) => failure.message.push_str(&format!(
            " (deleting the incomplete image {image_id} failed too: {e})"
        )),
    }
    Err(failure)
}

/// A snapshot of the source server (the old one deleted first when replacing), waited for
/// until active.
pub(super) async fn make_snapshot<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::Snapshot {
        source_server_id,
        name,
        ..
    } = node
    else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    let side = step.side;
    let replacing = step.replacing;
    if let Some(old) = replacing {
        ignore_missing(cloud.delete_image(Side::Source, old).await)?;
    }
    // From createImage until the snapshot is active it takes a place under `--snapshots`;
    // the parallelism slot is given back while waiting for one.
    ctx.slot.release();
    let held = ctx.snapshots.enter().await;
    ctx.slot.acquire().await?;
    let _held = held?;
    let marker = ctx.marker();
    let id = ctx
        .creating(side, || {
            cloud.create_snapshot(source_server_id, name, &marker)
        })
        .await?;
    let image = within(
        &ctx.slot,
        ctx.timeouts.snapshot,
        "snapshot",
        "active",
        cloud.wait_image_active(Side::Source, &id, ctx.timeouts.snapshot),
    )
    .await?;
    let extra = extra(json!({"checksum": image.checksum, "size": image.size}));
    Ok(ctx.done(ctx.record(side, &id, Origin::Created, extra)))
}

/// The target image: its visibility updated, or a new image filled with the snapshot's bytes
/// (an image whose bytes did not arrive whole, or not as sent, is deleted).
pub(super) async fn make_image<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::Image {
        name,
        disk_format,
        visibility,
        snapshot,
        transfer,
        properties,
        drop_properties,
    } = node
    else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    let side = step.side;
    let replacing = step.replacing;
    let updating = step.updating;
    let change = step.change;
    if let Some(id) = updating {
        let mut update = ImageUpdate::default();
        for c in change.action.changes() {
            match c.name.strip_prefix("properties.") {
                _ if c.name == "visibility" => update.visibility = Some(visibility.clone()),
                Some(key) => match c.after.as_str() {
                    Some(value) => {
                        update.set.insert(key.to_string(), value.to_string());
                    }
                    None => update.remove.push(key.to_string()),
                },
                None => {}
            }
        }
        cloud.update_image(id, &update).await?;
        return Ok(ctx.done(ctx.record(side, id, change.origin, Map::new())));
    }
    if let Some(old) = replacing {
        ignore_missing(cloud.delete_image(Side::Target, old).await)?;
    }
    let source_id = ctx.dep_id(snapshot)?;
    // The snapshot's own boot properties (Nova's from the instance's image metadata), with
    // what was planned over them.
    let snap = within(
        &ctx.slot,
        ctx.timeouts.snapshot,
        "snapshot",
        "active",
        cloud.wait_image_active(Side::Source, &source_id, ctx.timeouts.snapshot),
    )
    .await?;
    let spec = ImageSpec {
        name: name.clone(),
        disk_format: disk_format.clone(),
        container_format: "bare".into(),
        visibility: visibility.clone(),
        properties: crate::graph::image_properties(&snap.properties, properties, drop_properties),
        min_disk: snap.min_disk,
        min_ram: snap.min_ram,
        marker: ctx.marker(),
    };
    let image = ctx.creating(side, || cloud.create_image(&spec)).await?;
    // A target image whose bytes did not arrive whole, or not as sent, is deleted:
    // it is never left behind looking like a copy.
    let copy = crate::engine::port::CopySpec {
        disk_format: disk_format.clone(),
        transfer: *transfer,
    };
    let checksums = fill_or_delete(cloud, ctx, &image.id, &source_id, &copy).await?;
    let extra = extra(
        json!({"checksum": checksums.md5, "sha512": checksums.sha512, "size": checksums.size}),
    );
    Ok(ctx.done(ctx.record(side, &image.id, Origin::Created, extra)))
}
