//! Creates whose answer was lost. Before a worker sends a create, apply commits a *pending*
//! record for it (see [`super::apply`]): when s2d is killed mid-request, or the connection is
//! cut, the cloud may go on and make the resource without s2d learning its id, and it may
//! show in the cloud's lists only a moment later (Nova's `POST /servers` and `createImage`
//! ask Glance, Neutron, Placement and Keystone before they answer).
//!
//! This module owns what such a record stands for: the resource found by this lineage's
//! marker (a keypair or a server group, which carry none, by its name), or nothing yet. A
//! plan made while a pending create may still be on its way re-reads the clouds until it
//! shows, for at most [`SETTLE`] after the record was written, rather than make a second
//! one; destroy looks for it the same way before it deletes it.

use std::time::Duration;

use serde_json::Value;

use super::inventory::{Inventory, InventoryError, Reach};
use super::port::{CloudPort, Marker, PortError, Side};
use crate::graph::Address;
use crate::state::{Resource, State};

/// How long after its pending record a create may still show up. A cloud carries out a
/// create it has accepted in seconds (the real tier's Nova: under five); a minute leaves room
/// for a loaded one, and is what a plan right after a kill may wait when the create never
/// went out.
pub const SETTLE: Duration = Duration::from_secs(60);

/// How often the clouds are read again while waiting.
const POLL: Duration = Duration::from_secs(2);

/// The id of the delete of a pending record found only by its marker: this prefix and the
/// time the record was written (`destroy` waits until [`SETTLE`] after it).
pub(crate) const PENDING_SINCE: &str = "pending-since:";

/// Whether a record is a placeholder written before a create.
pub(crate) fn is_pending(resource: &Resource) -> bool {
    resource.attributes.get("pending") == Some(&Value::Bool(true))
}

/// Whether a pending record of this kind is found by its marker (the rest by name).
pub(crate) fn by_marker(address: &Address) -> bool {
    matches!(
        address,
        Address::Snapshot { .. }
            | Address::Image { .. }
            | Address::Server { .. }
            | Address::Volume { .. }
    )
}

/// What the pending record at `address` stands for in `inventory`: its id, if it shows.
pub(crate) fn found(inventory: &Inventory, lineage: &str, address: &Address) -> Option<String> {
    let marker = Marker {
        lineage: lineage.to_string(),
        address: address.clone(),
    };
    match address {
        Address::Snapshot { .. } => first_image(inventory, Side::Source, &marker),
        Address::Image { .. } => first_image(inventory, Side::Target, &marker),
        Address::Server { name } => inventory
            .servers_named(name)
            .find(|s| s.marker.as_ref() == Some(&marker))
            .map(|s| s.id.clone()),
        Address::Volume { stage, .. } => match super::refresh::volume_placement(*stage) {
            (side, Some(kind)) => inventory
                .cinder_with(side, kind, &marker)
                .next()
                .map(|c| c.id.clone()),
            (side, None) => first_image(inventory, side, &marker),
        },
        Address::Keypair { name } => inventory.keypair(name).map(|k| k.name.clone()),
        Address::ServerGroup { name } => inventory
            .server_groups_named(name)
            .next()
            .map(|g| g.id.clone()),
        _ => None,
    }
}

fn first_image(inventory: &Inventory, side: Side, marker: &Marker) -> Option<String> {
    inventory
        .images_with(side, marker)
        .next()
        .map(|i| i.id.clone())
}

/// How much longer a create written down at `recorded_at` may take to show (zero once
/// [`SETTLE`] has passed; an unreadable time waits for nothing, one in the future at most
/// `settle` from now).
fn left(recorded_at: &str, settle: Duration) -> Duration {
    let Ok(at) =
        time::OffsetDateTime::parse(recorded_at, &time::format_description::well_known::Rfc3339)
    else {
        return Duration::ZERO;
    };
    let age = time::OffsetDateTime::now_utc() - at;
    let age = Duration::try_from(age).unwrap_or(Duration::ZERO);
    settle.saturating_sub(age)
}

/// Read the clouds again while a pending create of `state` does not show in `inventory` and
/// may still be on its way (at most `settle` after its record), and give the last reading.
pub(crate) async fn settle<C: CloudPort>(
    cloud: &C,
    state: &State,
    mut inventory: Inventory,
    settle: Duration,
) -> Result<Inventory, InventoryError> {
    let mut told = false;
    loop {
        let waiting: Vec<(&Address, Duration)> = state
            .resources
            .iter()
            .filter(|(_, r)| is_pending(r))
            .filter(|(a, _)| found(&inventory, &state.lineage, a).is_none())
            .map(|(a, r)| (a, left(&r.recorded_at, settle)))
            .filter(|(_, left)| !left.is_zero())
            .collect();
        let Some(longest) = waiting.iter().map(|(_, left)| *left).max() else {
            return Ok(inventory);
        };
        if !told {
            told = true;
            let addresses: Vec<String> = waiting.iter().map(|(a, _)| a.to_string()).collect();
            tracing::warn!(
                "waiting up to {}s for what a run cut off was still making ({}) to show in the cloud",
                longest.as_secs(),
                addresses.join(", ")
            );
        }
        tokio::time::sleep(POLL.min(longest)).await;
        inventory = Inventory::read(cloud, Reach::Both).await?;
    }
}

/// For destroy: the resource a pending record (deleted under [`PENDING_SINCE`]) stands for,
/// looked for by its marker in the lists of its kind until it shows or `settle` after the
/// record has passed.
pub(crate) async fn look_up<C: CloudPort>(
    cloud: &C,
    lineage: &str,
    address: &Address,
    recorded_at: &str,
    settle: Duration,
) -> Result<Option<String>, PortError> {
    loop {
        let mut inventory = Inventory::default();
        match address {
            Address::Snapshot { .. } => {
                inventory.source_images = cloud.images(Side::Source).await?
            }
            Address::Image { .. } => inventory.images = cloud.images(Side::Target).await?,
            Address::Server { .. } => inventory.servers = cloud.servers().await?,
            Address::Volume { stage, .. } => match super::refresh::volume_placement(*stage) {
                (Side::Source, Some(_)) => {
                    inventory.source_volumes = cloud.volume_inventory(Side::Source).await?
                }
                (Side::Target, Some(_)) => {
                    inventory.volumes = cloud.volume_inventory(Side::Target).await?
                }
                (Side::Source, None) => {
                    inventory.source_images = cloud.images(Side::Source).await?
                }
                (Side::Target, None) => inventory.images = cloud.images(Side::Target).await?,
            },
            _ => return Ok(None),
        }
        if let Some(id) = found(&inventory, lineage, address) {
            return Ok(Some(id));
        }
        let left = left(recorded_at, settle);
        if left.is_zero() {
            return Ok(None);
        }
        tokio::time::sleep(POLL.min(left)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_just_written_waits_and_an_old_or_unreadable_one_does_not() {
        let now = crate::state::now_rfc3339();
        let settle = Duration::from_secs(60);
        assert!(left(&now, settle) > Duration::from_secs(55));
        assert_eq!(left("2020-01-01T00:00:00Z", settle), Duration::ZERO);
        assert_eq!(left("yesterday", settle), Duration::ZERO);
        let future = (time::OffsetDateTime::now_utc() + time::Duration::hours(5))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        assert_eq!(left(&future, settle), settle);
    }
}
