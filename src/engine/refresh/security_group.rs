//! The refresh of security groups and their rules: a group found by its record, this
//! lineage's marker or its name; a rule kept, adopted at its new position when the source's
//! rules moved, or made.

use serde_json::json;

use super::{Refresh, gone, obj};
use crate::engine::diff::{Action, Change, PlanError};
use crate::graph::Rule;
use crate::state::Origin;

impl Refresh<'_> {
    /// A security group by name: the recorded one, else this lineage's, else any of that name
    /// (adopted). Remembered for its rules.
    pub(super) fn security_group(
        &mut self,
        change: &mut Change,
        name: &String,
        default: &bool,
    ) -> Result<(), PlanError> {
        let address = &change.address.clone();
        let gone = gone();
        change.after = Some(obj(json!({"name": name})));
        let candidates = self.inventory.security_groups_named(name);
        let recorded = self.recorded(address).cloned();
        let current = match &recorded {
            Some(r) => {
                let found = candidates.into_iter().find(|g| g.id == r.id);
                match &found {
                    Some(g) => {
                        change.action = Action::NoOp { id: g.id.clone() };
                        change.origin = r.origin;
                    }
                    None if *default => {
                        return Err(PlanError::Missing {
                            address: address.clone(),
                            what: "security group",
                            name: name.clone(),
                        });
                    }
                    None => change.reason = gone.clone(),
                }
                found
            }
            None => {
                let mine = candidates.iter().find(|g| self.ours(&g.marker, address));
                let found = mine.or(candidates.first()).cloned();
                match &found {
                    Some(g) => {
                        change.action = Action::Adopt { id: g.id.clone() };
                        change.origin = if self.ours(&g.marker, address) {
                            Origin::Created
                        } else {
                            Origin::Adopted
                        };
                    }
                    None if *default => {
                        return Err(PlanError::Missing {
                            address: address.clone(),
                            what: "security group",
                            name: name.clone(),
                        });
                    }
                    None => {}
                }
                found
            }
        };
        self.groups.insert(name.clone(), current);
        Ok(())
    }

    /// A rule of a group planned before it: kept, adopted at a new position, or made.
    pub(super) fn rule(&mut self, change: &mut Change, group: &String, rule: &Rule) {
        let address = &change.address.clone();
        let gone = gone();
        change.after = Some(obj(json!({"group": group, "rule": rule.to_string()})));
        let existing = self.groups.get(group).cloned().flatten();
        if let Some(g) = existing {
            let recorded = self.recorded(address).cloned();
            let by_id = recorded
                .as_ref()
                .and_then(|r| g.rules.iter().find(|x| x.id == r.id && &x.rule == rule));
            if let (Some(found), Some(r)) = (by_id, &recorded) {
                change.origin = r.origin;
                change.action = Action::NoOp {
                    id: found.id.clone(),
                };
            } else {
                // The recorded rule now holds other content: the source's rules changed
                // and positions shifted. The old rule is adopted at its new position, or
                // deleted (see `plan`).
                let old = recorded
                    .as_ref()
                    .and_then(|r| g.rules.iter().find(|x| x.id == r.id));
                if let (Some(old), Some(r)) = (old, &recorded)
                    && r.origin == Origin::Created
                {
                    self.stale_rules.push((group.clone(), old.clone()));
                }
                if let Some(found) = g.rules.iter().find(|x| &x.rule == rule) {
                    change.action = Action::Adopt {
                        id: found.id.clone(),
                    };
                    // Any rule with this lineage's marker is s2d's, whatever position
                    // it was made for.
                    let ours = found
                        .marker
                        .as_ref()
                        .is_some_and(|m| m.lineage == self.state.lineage);
                    change.origin = if ours {
                        Origin::Created
                    } else {
                        Origin::Adopted
                    };
                } else if old.is_some() {
                    change.reason = Some("the source's rules changed".into());
                } else if recorded.is_some() {
                    change.reason = gone.clone();
                }
            }
        }
    }
}
