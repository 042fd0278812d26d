//! The steps of the server: its group, its NICs, its user data read again and checked, the
//! boot and the wait for ACTIVE.

use super::*;

/// The server (the old one deleted and gone first when replacing), waited for until ACTIVE; a
/// server that fails to start is recorded so the next plan replaces it.
pub(super) async fn make_server<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::Server {
        name,
        keypair,
        security_groups,
        image,
        volumes,
        boot,
        server_group,
        nics,
        ..
    } = node
    else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    let side = step.side;
    let replacing = step.replacing;
    let address = step.change.address.clone();
    if let Some(id) = step.updating {
        let mut update = ServerUpdate::default();
        for c in step.change.action.changes() {
            match c.name.as_str() {
                "metadata" => update.metadata = Some(boot.metadata.clone()),
                "tags" => update.tags = Some(boot.tags.clone()),
                "description" => update.description = boot.description.clone(),
                _ => {}
            }
        }
        cloud.update_server(id, &update).await?;
        return Ok(ctx.done(ctx.record(side, id, step.change.origin, Map::new())));
    }
    let user_data = match &boot.user_data {
        None => None,
        Some(wanted) => Some(user_data_of(cloud, wanted).await?),
    };
    let group_id = match server_group {
        Some(name) => Some(ctx.dep_id(&Address::ServerGroup { name: name.clone() })?),
        None => None,
    };
    if let Some(old) = replacing {
        // Its volumes outlive it: Nova would delete those marked `delete_on_termination`
        // with it, and the replacement boots from them (a cloud that cannot unmark them
        // fails here, before anything is deleted).
        for v in volumes.iter().filter(|v| v.delete_on_termination) {
            let id = ctx.dep_id(&v.volume)?;
            ignore_missing(cloud.keep_volume_on_delete(old, &id).await)?;
        }
        ignore_missing(cloud.delete_server(old).await)?;
        within(
            &ctx.slot,
            ctx.timeouts.delete,
            "server",
            "deleted",
            cloud.wait_server_gone(old, ctx.timeouts.delete),
        )
        .await?;
    }
    // Its volumes available (one recorded by a run cut off while it downloaded, or adopted,
    // may still be on its way).
    for v in volumes {
        let id = ctx.dep_id(&v.volume)?;
        within(
            &ctx.slot,
            ctx.timeouts.volume,
            "volume",
            "available",
            cloud.wait_volume_available(
                Side::Target,
                crate::engine::port::VolumeKind::Volume,
                &id,
                ctx.timeouts.volume,
            ),
        )
        .await?;
    }
    let spec = ServerSpec {
        name: name.clone(),
        flavor_id: ctx.after_str("flavor_id")?,
        image_id: match image {
            Some(image) => Some(ctx.dep_id(image)?),
            None => None,
        },
        volumes: volumes
            .iter()
            .map(|v| {
                Ok(BootVolume {
                    id: ctx.dep_id(&v.volume)?,
                    boot_index: v.boot_index,
                    delete_on_termination: v.delete_on_termination,
                })
            })
            .collect::<Result<_, NodeFailure>>()?,
        nics: nic_specs(ctx, name, nics)?,
        key_name: keypair.clone(),
        // Nova applies the groups to the ports it makes; s2d's ports have theirs already. By
        // id: another group of the same name (another wave's copy) must not make it ambiguous.
        security_groups: if nics.iter().all(|n| n.port) {
            Vec::new()
        } else {
            security_groups
                .iter()
                .map(|g| ctx.dep_id(&Address::SecurityGroup { name: g.clone() }))
                .collect::<Result<_, _>>()?
        },
        boot: (**boot).clone(),
        user_data,
        group_id,
        marker: ctx.marker(),
    };
    let server = ctx.creating(side, || cloud.create_server(&spec)).await?;
    let extra = extra(json!({"image_id": spec.image_id}));
    match within(
        &ctx.slot,
        ctx.timeouts.server,
        "server",
        "ACTIVE",
        cloud.wait_server_active(&server.id, ctx.timeouts.server),
    )
    .await
    {
        Ok(_) => Ok(ctx.done(ctx.record(side, &server.id, Origin::Created, extra))),
        Err(error) => Err(NodeFailure {
            message: error.to_string(),
            diagnosis: error.diagnosis(),
            // It exists: record it, so the next plan replaces it and destroy deletes it.
            records: vec![(
                address,
                Some(ctx.record(side, &server.id, Origin::Created, extra)),
            )],
        }),
    }
}

/// The server's NICs in order: s2d's port, a built network, or a network of the target (its
/// id as planned).
pub(super) fn nic_specs(
    ctx: &NodeCtx,
    server: &str,
    nics: &[ServerNic],
) -> Result<Vec<NicSpec>, NodeFailure> {
    let planned = ctx.change.after.as_ref().and_then(|a| a.get("nics"));
    nics.iter()
        .enumerate()
        .map(|(index, nic)| {
            if nic.port {
                return Ok(NicSpec::Port(ctx.dep_id(&Address::Port {
                    server: server.to_string(),
                    index,
                })?));
            }
            if nic.built {
                return Ok(NicSpec::Network(ctx.dep_id(&Address::Network {
                    name: nic.network.clone(),
                })?));
            }
            planned
                .and_then(|n| n.get(index))
                .and_then(|n| n.get("network_id"))
                .and_then(Value::as_str)
                .map(|id| NicSpec::Network(id.to_string()))
                .ok_or_else(|| NodeFailure {
                    message: format!(
                        "the plan has no network id for NIC {index} of {}",
                        ctx.change.address
                    ),
                    diagnosis: Diagnosis::new(
                        "s2d::plan::incomplete",
                        Some("run `s2d plan --out` again with this s2d".into()),
                    ),
                    records: Vec::new(),
                })
        })
        .collect()
}

/// The user data as planned: the plan's file or the source's, read again now and refused
/// when it is not what was planned (its digest differs).
pub(super) async fn user_data_of<C: CloudPort>(
    cloud: &C,
    wanted: &UserDataRef,
) -> Result<String, NodeFailure> {
    let (text, what) = match wanted {
        UserDataRef::File { path, .. } => (
            crate::files::user_data(std::path::Path::new(path))
                .map_err(|e| NodeFailure {
                    message: format!("user data file {path}: {e}"),
                    diagnosis: Diagnosis::new(
                        "s2d::plan::user_data",
                        Some(
                            "the plan's user_data file must stay where it was when planned".into(),
                        ),
                    ),
                    records: Vec::new(),
                })?
                .0,
            format!("the user data file {path}"),
        ),
        UserDataRef::Source { server_id, .. } => (
            cloud.source_user_data(server_id).await?.unwrap_or_default(),
            format!("the user data of source server {server_id}"),
        ),
    };
    if crate::files::user_data_digest(&text) != wanted.sha256() {
        return Err(NodeFailure {
            message: format!("{what} changed since the plan was made"),
            diagnosis: Diagnosis::new(
                "s2d::plan::stale",
                Some("run `s2d plan` again to see the change, then apply".into()),
            ),
            records: Vec::new(),
        });
    }
    Ok(text)
}

/// The server group: made with its policy (its pending record lets the next plan adopt a
/// group made by a run that died before it recorded it).
pub(super) async fn make_server_group<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::ServerGroup { name, policy, .. } = node else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    if let Some(old) = step.replacing {
        ignore_missing(cloud.delete_server_group(old).await)?;
    }
    let made = ctx
        .creating(step.side, || cloud.create_server_group(name, policy))
        .await?;
    Ok(ctx.done(ctx.record(step.side, &made.id, Origin::Created, Map::new())))
}
