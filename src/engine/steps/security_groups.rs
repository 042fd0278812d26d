//! The steps of security groups and their rules (a rule admitting another group admits
//! the target's copy of it).

use super::*;

/// A security group made by s2d (the target's `default` is only ever adopted).
pub(super) async fn make_security_group<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::SecurityGroup { name, default } = node else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    let side = step.side;
    let address = step.change.address.clone();
    if *default {
        return Err(NodeFailure {
                message: format!("{address}: the target has no `default` group"),
                diagnosis: Diagnosis::new("s2d::plan::missing_in_target", Some("name a security group of the target in the plan, or let s2d make one (security_group = \"NAME\")".into())),
                records: Vec::new(),
            });
    }
    let marker = ctx.marker();
    let group = quota_wait(ctx, || {
        cloud.create_security_group(name, "made by s2d", &marker)
    })
    .await?;
    Ok(ctx.done(ctx.record(side, &group.id, Origin::Created, Map::new())))
}

/// A rule in its group.
pub(super) async fn make_rule<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::SecurityGroupRule { group, rule } = node else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    let side = step.side;
    let group_id = ctx.dep_id(&Address::SecurityGroup {
        name: group.clone(),
    })?;
    let remote = match &rule.remote_group {
        Some(other) => Some(ctx.dep_id(&Address::SecurityGroup {
            name: other.clone(),
        })?),
        None => None,
    };
    let marker = ctx.marker();
    let made = quota_wait(ctx, || {
        cloud.create_rule(&group_id, rule, remote.as_deref(), &marker)
    })
    .await?;
    Ok(ctx.done(ctx.record(side, &made.id, Origin::Created, Map::new())))
}
