//! The refresh of the server and what it stands on: its server group, its flavor (the plan's,
//! else the source's by name, else the smallest that holds it) and the reasons it is
//! replaced (ERROR, a new image or volume, a NIC made again, another flavor, what Nova cannot
//! change on a running server) or updated in place (metadata, tags, description).

use serde_json::{Map, json};

use super::{Refresh, gone, obj};
use crate::engine::diff::{Action, AttrChange, Change, PlanError, is_pending};
use crate::engine::port::{Flavor, Server, ServerGroup};
use crate::graph::{Address, Boot, FlavorSpec, Node};
use crate::state::Origin;

/// What to change on a server in place so that it has what it takes along: its metadata,
/// tags and description.
fn boot_updates(current: &Boot, wanted: &Boot) -> Vec<AttrChange> {
    let mut changes = Vec::new();
    if current.metadata != wanted.metadata {
        changes.push(AttrChange {
            name: "metadata".into(),
            before: json!(current.metadata),
            after: json!(wanted.metadata),
        });
    }
    let sorted = |tags: &[String]| {
        let mut t = tags.to_vec();
        t.sort();
        t
    };
    if sorted(&current.tags) != sorted(&wanted.tags) {
        changes.push(AttrChange {
            name: "tags".into(),
            before: json!(current.tags),
            after: json!(wanted.tags),
        });
    }
    if wanted.description.is_some() && current.description != wanted.description {
        changes.push(AttrChange {
            name: "description".into(),
            before: json!(current.description),
            after: json!(wanted.description),
        });
    }
    changes
}

impl Refresh<'_> {
    /// A server group: one the plan names (it must exist), else the recorded one, else one of
    /// that name and policy (s2d's own when the state holds its pending record, adopted
    /// otherwise); a group of that name with another policy is refused.
    pub(super) fn server_group(
        &mut self,
        change: &mut Change,
        name: &str,
        policy: &str,
        existing: bool,
    ) -> Result<(), PlanError> {
        let address = &change.address.clone();
        let mut named: Vec<&ServerGroup> = self.inventory.server_groups_named(name).collect();
        named.sort_by(|a, b| a.id.cmp(&b.id));
        if existing {
            let found = named.first().ok_or_else(|| PlanError::Missing {
                address: address.clone(),
                what: "server group",
                name: name.to_string(),
            })?;
            change.after = Some(obj(json!({"name": name, "policy": found.policy})));
            change.origin = Origin::Adopted;
            let id = found.id.clone();
            change.action = if self.recorded(address).is_some() {
                Action::NoOp { id }
            } else {
                Action::Adopt { id }
            };
            return Ok(());
        }
        change.after = Some(obj(json!({"name": name, "policy": policy})));
        if let Some(r) = self.recorded(address).cloned() {
            match named.iter().find(|g| g.id == r.id) {
                Some(g) if g.policy == policy => {
                    change.origin = r.origin;
                    change.action = Action::NoOp { id: g.id.clone() };
                }
                Some(g) => {
                    change.action = Action::Replace {
                        id: g.id.clone(),
                        reason: format!("policy changes from {} to {policy}", g.policy),
                    };
                }
                None => change.reason = gone(),
            }
            return Ok(());
        }
        let pending = self.state.get(address).is_some_and(is_pending);
        match named.first() {
            Some(g) if g.policy != policy => Err(PlanError::ServerGroupConflict {
                address: address.clone(),
                name: name.to_string(),
                existing: g.policy.clone(),
                wanted: policy.to_string(),
            }),
            Some(g) => {
                change.origin = if pending {
                    Origin::Created
                } else {
                    Origin::Adopted
                };
                change.action = Action::Adopt { id: g.id.clone() };
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The target server: flavor and network resolved, then found by id or marker; replaced when
    /// in ERROR, when its image is replaced or changed, or when its flavor changes.
    pub(super) fn server(&mut self, change: &mut Change, node: &Node) -> Result<(), PlanError> {
        let Node::Server {
            name,
            flavor,
            source_flavor,
            nics,
            keypair,
            security_groups,
            image,
            volumes,
            boot,
            server_group,
        } = node
        else {
            return Ok(());
        };
        let address = &change.address.clone();
        let gone = gone();
        let chosen = self.flavor(address, flavor.as_deref(), source_flavor)?;
        for left in crate::graph::flavor_differences(source_flavor, &chosen.spec) {
            self.left.push((name.clone(), left));
        }
        let (shown_nics, nic_remade) = self.server_nics(address, name, nics)?;
        let mut after = json!({
            "name": name,
            "flavor": chosen.spec.name,
            "flavor_id": chosen.id,
            "nics": shown_nics,
            "keypair": keypair,
            "security_groups": security_groups,
        });
        // What it takes along (the user data by its digest only).
        for (key, value) in [
            ("metadata", json!(boot.metadata)),
            ("tags", json!(boot.tags)),
            ("description", json!(boot.description)),
            ("config_drive", json!(boot.config_drive)),
            ("hostname", json!(boot.hostname)),
            ("availability_zone", json!(boot.availability_zone)),
            ("server_group", json!(server_group)),
            (
                "user_data_sha256",
                json!(boot.user_data.as_ref().map(|u| u.sha256())),
            ),
        ] {
            let empty = value.is_null()
                || value == json!(false)
                || value.as_object().is_some_and(Map::is_empty)
                || value.as_array().is_some_and(Vec::is_empty);
            if !empty {
                after[key] = value;
            }
        }
        if let Some(image) = image {
            after["image"] = json!(image.to_string());
        }
        if !volumes.is_empty() {
            after["volumes"] = json!(
                volumes
                    .iter()
                    .map(|v| v.volume.to_string())
                    .collect::<Vec<_>>()
            );
        }
        change.after = Some(obj(after));
        let group_address = server_group
            .as_ref()
            .map(|name| Address::ServerGroup { name: name.clone() });
        let group_new = group_address.as_ref().is_some_and(|a| self.will_be_new(a));
        let group_id = group_address.as_ref().and_then(|a| self.id_of(a));
        let recorded_user_data = self
            .recorded(address)
            .and_then(|r| r.attributes.get("user_data_sha256").cloned());
        let image_new = image.as_ref().filter(|i| self.will_be_new(i));
        let image_id = image.as_ref().and_then(|i| self.id_of(i));
        let volume_new = volumes
            .iter()
            .map(|v| &v.volume)
            .find(|v| self.will_be_new(v));
        let (existing, adopted) = match self.recorded(address) {
            Some(r) => {
                let found = self.inventory.server(&r.id).cloned();
                if found.is_none() {
                    change.reason = gone.clone();
                }
                (found, false)
            }
            None => (
                self.inventory
                    .servers_named(name)
                    .find(|s| self.ours(&s.marker, address))
                    .cloned(),
                true,
            ),
        };
        if let Some(s) = existing {
            let id = s.id.clone();
            let reason = if s.status == "ERROR" {
                Some(format!(
                    "server is in ERROR: {}",
                    s.fault.clone().unwrap_or_else(|| "no fault message".into())
                ))
            } else if let Some(image) = image_new {
                Some(format!("{image} will be replaced"))
            } else if let Some(volume) = volume_new {
                Some(format!("{volume} will be made"))
            } else if let Some(nic) = nic_remade {
                Some(nic)
            } else if image_id.is_some() && s.image_id != image_id {
                Some("its image changed".into())
            } else if s.flavor_id != chosen.id {
                Some(format!(
                    "flavor changes from {} to {}",
                    s.flavor_name.clone().unwrap_or(s.flavor_id.clone()),
                    chosen.spec.name
                ))
            } else {
                self.boot_replacement(&s, boot, group_new, group_id.as_deref(), server_group)
                    .or_else(|| {
                        let planned = boot.user_data.as_ref().map(|u| json!(u.sha256()));
                        (!adopted && recorded_user_data != planned)
                            .then(|| "its user data changes".to_string())
                    })
            };
            let changes = boot_updates(&s.boot, boot);
            change.action = match reason {
                Some(reason) => Action::Replace { id, reason },
                None if !changes.is_empty() => Action::Update { id, changes },
                None if adopted => Action::Adopt { id },
                None => Action::NoOp { id },
            };
        }
        Ok(())
    }

    /// Why a server must be made again for what it takes along (what Nova cannot change on a
    /// running server: its config drive, zone and server group), if it must.
    fn boot_replacement(
        &self,
        s: &Server,
        boot: &Boot,
        group_new: bool,
        group_id: Option<&str>,
        group: &Option<String>,
    ) -> Option<String> {
        if s.boot.config_drive != boot.config_drive {
            return Some(format!(
                "config drive changes from {} to {}",
                s.boot.config_drive, boot.config_drive
            ));
        }
        if let Some(zone) = &boot.availability_zone
            && s.boot.availability_zone.as_ref() != Some(zone)
        {
            return Some(format!(
                "availability zone changes from {} to {zone}",
                s.boot.availability_zone.as_deref().unwrap_or("none")
            ));
        }
        let name = group.as_deref().unwrap_or_default();
        if group_new {
            return Some(format!("server group {name} will be made"));
        }
        if let Some(gid) = group_id {
            let member = self
                .inventory
                .server_groups
                .iter()
                .any(|g| g.id == gid && g.members.contains(&s.id));
            if !member {
                return Some(format!("it is not in server group {name}"));
            }
        }
        None
    }

    /// The target flavor: by the plan's name, else the source's name, else the smallest one
    /// with at least the source's vcpus, ram and disk.
    fn flavor(
        &self,
        address: &Address,
        named: Option<&str>,
        source: &FlavorSpec,
    ) -> Result<Flavor, PlanError> {
        let flavors = &self.inventory.flavors;
        if let Some(name) = named {
            return flavors
                .iter()
                .find(|f| f.spec.name == name)
                .cloned()
                .ok_or_else(|| PlanError::Missing {
                    address: address.clone(),
                    what: "flavor",
                    name: name.to_string(),
                });
        }
        if let Some(same) = flavors.iter().find(|f| f.spec.name == source.name) {
            return Ok(same.clone());
        }
        flavors
            .iter()
            .filter(|f| {
                f.spec.vcpus >= source.vcpus
                    && f.spec.ram_mb >= source.ram_mb
                    && f.spec.disk_gb >= source.disk_gb
            })
            .min_by_key(|f| {
                (
                    f.spec.vcpus,
                    f.spec.ram_mb,
                    f.spec.disk_gb,
                    f.spec.name.clone(),
                )
            })
            .cloned()
            .ok_or_else(|| PlanError::NoFlavor {
                address: address.clone(),
                wanted: format!(
                    "{} ({} vcpus, {} MB ram, {} GB disk)",
                    source.name, source.vcpus, source.ram_mb, source.disk_gb
                ),
            })
    }
}
