//! The refresh of a volume's way: each stage (the source's snapshot and copy of the volume,
//! the image Cinder uploads it into, the target's copy of that image, the target volume) found
//! by its record or this lineage's marker and kept, adopted or made again by its status; once
//! the target volume is there, the stages before it are not wanted any more ([`settle`]:
//! leftovers are deleted, missing ones not made again). And the preflight of the target volume:
//! a volume type the target lacks is refused before anything is made.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Refresh, gone, obj};
use crate::engine::diff::{Action, Change, PlanError};
use crate::engine::port::{Side, VolumeKind};
use crate::graph::{Address, Node, VolumeNode, VolumeStage};

/// Where a stage lives: its cloud, and its Cinder kind (`None`: a Glance image).
pub(crate) fn placement(stage: VolumeStage) -> (Side, Option<VolumeKind>) {
    match stage {
        VolumeStage::Snapshot => (Side::Source, Some(VolumeKind::Snapshot)),
        VolumeStage::Copy => (Side::Source, Some(VolumeKind::Volume)),
        VolumeStage::Upload => (Side::Source, None),
        VolumeStage::Image => (Side::Target, None),
        VolumeStage::Target => (Side::Target, Some(VolumeKind::Volume)),
    }
}

/// How a found stage stands.
enum Standing {
    /// Done, or on its way there (a later step waits for it).
    Fine,
    /// Broken or half made: made again.
    Broken(String),
}

fn standing(stage: VolumeStage, status: &str) -> Standing {
    match (stage, status) {
        (_, s) if s.starts_with("error") => Standing::Broken(format!("it is in {s}")),
        (VolumeStage::Upload | VolumeStage::Image, "killed" | "deleted" | "pending_delete") => {
            Standing::Broken(format!("its image is {status}"))
        }
        // s2d fills the target image itself: one not active was cut off mid-copy.
        (VolumeStage::Image, s) if s != "active" => {
            Standing::Broken(format!("image is {s}: its upload did not finish"))
        }
        _ => Standing::Fine,
    }
}

impl Refresh<'_> {
    /// One stage of a volume's way.
    pub(super) fn volume(
        &mut self,
        change: &mut Change,
        stage: VolumeStage,
        volume: &VolumeNode,
    ) -> Result<(), PlanError> {
        let address = change.address.clone();
        let mut after = json!({"name": volume.name_at(stage)});
        match stage {
            VolumeStage::Snapshot => {
                after["source_volume"] = json!(volume.source.id);
                after["size_gb"] = json!(volume.source.size_gb);
            }
            VolumeStage::Upload | VolumeStage::Image => {
                after["disk_format"] = json!(volume.format.as_str());
            }
            VolumeStage::Copy => after["size_gb"] = json!(volume.source.size_gb),
            VolumeStage::Target => {
                after["size_gb"] = json!(volume.source.size_gb);
                after["volume_type"] = json!(volume.volume_type);
                after["source_volume"] = json!(volume.source.id);
                if volume.source.boot {
                    after["boot"] = json!(true);
                }
                self.volume_preflight(&address, volume)?;
            }
        }
        change.after = Some(obj(after));
        let (side, kind) = placement(stage);
        let marker = self.marker(&address);
        let found: Option<(String, String, bool)> = match (self.recorded(&address), kind) {
            (Some(r), Some(kind)) => self
                .inventory
                .cinder(side, kind, &r.id)
                .map(|c| (c.id.clone(), c.status.clone(), false)),
            (Some(r), None) => self
                .inventory
                .image(side, &r.id)
                .map(|i| (i.id.clone(), i.status.clone(), false)),
            (None, Some(kind)) => self
                .inventory
                .cinder_with(side, kind, &marker)
                .next()
                .map(|c| (c.id.clone(), c.status.clone(), true)),
            (None, None) => self
                .inventory
                .images_with(side, &marker)
                .next()
                .map(|i| (i.id.clone(), i.status.clone(), true)),
        };
        if let Some(r) = self.recorded(&address) {
            change.origin = r.origin;
            if found.is_none() {
                change.reason = gone();
            }
        }
        if let Some((id, status, adopted)) = found {
            change.action = match standing(stage, &status) {
                Standing::Broken(reason) => Action::Replace { id, reason },
                Standing::Fine if adopted => Action::Adopt { id },
                Standing::Fine => Action::NoOp { id },
            };
        }
        Ok(())
    }

    /// Refused before anything is made: a volume type the target lacks (named by the plan's
    /// map, or the source's own when the map does not name it and the target has a type of
    /// that name it is used, else the target's default).
    fn volume_preflight(&self, address: &Address, volume: &VolumeNode) -> Result<(), PlanError> {
        let types = &self.inventory.volume_quota.types;
        if let Some(wanted) = &volume.volume_type
            && !types.iter().any(|t| t == wanted)
        {
            return Err(PlanError::Preflight {
                address: address.clone(),
                reason: format!(
                    "volume type `{wanted}` (for the source's `{}`) is not a type of the target ({})",
                    volume.source.volume_type.as_deref().unwrap_or("none"),
                    if types.is_empty() {
                        "it shows none".to_string()
                    } else {
                        types.join(", ")
                    }
                ),
                help: "map the source's type to one the target has in `volume_types` (`openstack volume type list` in the target), or leave it out for the target's default".into(),
            });
        }
        Ok(())
    }
}

/// Once a target volume is there, the stages on its way are not wanted any more: a leftover is
/// deleted (unless the plan keeps them), a missing one is not made again.
pub(crate) fn settle(changes: &mut BTreeMap<Address, Change>) {
    let settled: Vec<(String, usize, bool)> = changes
        .values()
        .filter_map(|c| match (&c.node, &c.action) {
            (
                Some(Node::Volume {
                    stage: VolumeStage::Target,
                    volume,
                }),
                Action::NoOp { .. } | Action::Adopt { .. },
            ) => Some((
                volume.server.clone(),
                volume.index,
                volume.keep_intermediates,
            )),
            _ => None,
        })
        .collect();
    for (server, index, keep) in settled {
        for stage in VolumeStage::ALL.into_iter().filter(|s| s.intermediate()) {
            let address = Address::Volume {
                server: server.clone(),
                index,
                stage,
            };
            let Some(change) = changes.get_mut(&address) else {
                continue;
            };
            match (&change.action, keep) {
                (Action::Create, _) => {
                    changes.remove(&address);
                }
                (Action::NoOp { .. }, true) => {}
                (Action::NoOp { id } | Action::Adopt { id } | Action::Replace { id, .. }, _) => {
                    change.action = Action::Delete { id: id.clone() };
                    change.reason = Some(format!(
                        "volume.{server}[{index}] is in the target: not needed any more"
                    ));
                    change.after = None;
                }
                _ => {}
            }
        }
    }
}
