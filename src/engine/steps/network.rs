//! The steps of the network side: a built network, its subnets and router, and the ports that
//! keep a NIC's IP or MAC. Each is made with one [`Networking::create_net`] call on the ids of
//! what it stands on, and recorded like any other resource.

use serde_json::Map;

use super::{NodeFailure, NodeOutput, Step, quota_wait};
use crate::engine::port::{CloudPort, NetKind, NetSpec};
use crate::graph::{Address, Node};
use crate::state::Origin;

/// The kind of network-side resource at an address (`None`: not one).
pub(super) fn kind_of(address: &Address) -> Option<NetKind> {
    Some(match address {
        Address::Network { .. } => NetKind::Network,
        Address::Subnet { .. } => NetKind::Subnet,
        Address::Router { .. } => NetKind::Router,
        Address::Port { .. } => NetKind::Port,
        _ => return None,
    })
}

/// What to make for a network, subnet, router or port node, with the ids it stands on.
fn spec_of<C>(step: &Step<'_, C>, node: &Node) -> Result<NetSpec, NodeFailure> {
    let ctx = step.ctx;
    Ok(match node {
        Node::Network {
            name,
            mtu,
            port_security,
            ..
        } => NetSpec::Network {
            name: name.clone(),
            mtu: *mtu,
            port_security: *port_security,
        },
        Node::Subnet { network, spec } => NetSpec::Subnet {
            network_id: ctx.dep_id(&Address::Network {
                name: network.clone(),
            })?,
            spec: spec.clone(),
        },
        Node::Router {
            name,
            network,
            subnets,
            ..
        } => NetSpec::Router {
            name: name.clone(),
            external_network_id: ctx.after_str("external_network_id")?,
            subnet_ids: (0..*subnets)
                .map(|index| {
                    ctx.dep_id(&Address::Subnet {
                        network: network.clone(),
                        index,
                    })
                })
                .collect::<Result<_, _>>()?,
        },
        Node::Port {
            server,
            network,
            built,
            fixed_ips,
            mac,
            port_security,
            allowed_address_pairs,
            security_groups,
        } => NetSpec::Port {
            name: format!("{server}-nic{}", step.change.address.index().unwrap_or(0)),
            network_id: if *built {
                ctx.dep_id(&Address::Network {
                    name: network.clone(),
                })?
            } else {
                ctx.after_str("network_id")?
            },
            fixed_ips: fixed_ips
                .iter()
                .map(|f| {
                    Ok((
                        f.subnet.as_ref().map(|s| ctx.dep_id(s)).transpose()?,
                        f.ip.clone(),
                    ))
                })
                .collect::<Result<_, NodeFailure>>()?,
            mac: mac.clone(),
            port_security: *port_security,
            allowed_address_pairs: allowed_address_pairs.clone(),
            security_group_ids: security_groups
                .iter()
                .map(|g| ctx.dep_id(&Address::SecurityGroup { name: g.clone() }))
                .collect::<Result<_, _>>()?,
        },
        _ => return Err(step.not_made()),
    })
}

/// A network, subnet, router or port (the old one removed first when replacing).
pub(super) async fn make_net<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let spec = spec_of(step, node)?;
    let cloud = step.cloud;
    let ctx = step.ctx;
    if let Some(old) = step.replacing {
        super::ignore_missing(cloud.delete_net(spec.kind(), old).await)?;
    }
    let marker = ctx.marker();
    let made = quota_wait(ctx, || cloud.create_net(&spec, &marker)).await?;
    Ok(ctx.done(ctx.record(step.side, &made.id, Origin::Created, Map::new())))
}
