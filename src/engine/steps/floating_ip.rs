//! The step of the floating IP: allocated (or the named one), then associated with the port
//! of the NIC the plan names.

use super::*;

/// Where the floating IP goes: s2d's port of the NIC, else the server's port on that NIC's
/// network (as planned: see the refresh of a floating IP).
pub(super) fn fip_target(ctx: &NodeCtx) -> Result<FipTarget, NodeFailure> {
    let nic = ctx.change.after.as_ref().and_then(|a| a.get("nic"));
    let text = |key: &str| nic.and_then(|n| n.get(key)).and_then(Value::as_str);
    if let Some(port) = text("port") {
        let address: Address = port.parse().map_err(|_| NodeFailure {
            message: format!("`{port}` is not a port address"),
            diagnosis: Diagnosis::new("s2d::plan::incomplete", None),
            records: Vec::new(),
        })?;
        return Ok(FipTarget::Port(ctx.dep_id(&address)?));
    }
    if let Some(id) = text("network_id") {
        return Ok(FipTarget::Network(Some(id.to_string())));
    }
    match text("network") {
        Some(name) => Ok(FipTarget::Network(Some(ctx.dep_id(&Address::Network {
            name: name.to_string(),
        })?))),
        None => Ok(FipTarget::Network(None)),
    }
}

/// The floating IP: allocated from the pool unless one is named or recorded, then associated
/// with the server.
pub(super) async fn make_floating_ip<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::FloatingIp { server, choice, .. } = node else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    let side = step.side;
    let change = step.change;
    let address = step.change.address.clone();
    let server_id = ctx.dep_id(&Address::Server {
        name: server.clone(),
    })?;
    let (id, origin) = match (change.id(), choice) {
        (Some(id), _) => (id.to_string(), change.origin),
        (None, FloatingIpChoice::Pool(_)) => {
            let network_id = ctx.after_str("network_id")?;
            let marker = ctx.marker();
            let fip = quota_wait(ctx, || cloud.allocate_floating_ip(&network_id, &marker)).await?;
            (fip.id, Origin::Created)
        }
        (None, _) => {
            return Err(NodeFailure {
                message: format!("{address}: no floating IP to associate"),
                diagnosis: Diagnosis::new(
                    "s2d::plan::incomplete",
                    Some("name a pool or an address in the plan's floating_ip".into()),
                ),
                records: Vec::new(),
            });
        }
    };
    let made_record = |fip_address: Option<&str>| {
        ctx.record(
            side,
            &id,
            origin,
            extra(json!({"address": fip_address, "server_id": server_id})),
        )
    };
    let to = fip_target(ctx)?;
    match cloud.associate_floating_ip(&id, &server_id, &to).await {
        Ok(fip) => Ok(ctx.done(made_record(Some(&fip.address)))),
        Err(error) => Err(NodeFailure {
            message: error.to_string(),
            diagnosis: error.diagnosis(),
            records: vec![(address.clone(), Some(made_record(None)))],
        }),
    }
}
