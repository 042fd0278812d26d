//! The refresh of one node: look at what exists (state record, the [`Inventory`] read from both
//! clouds, this lineage's markers) and decide its [`Action`] with the attributes that change.
//! Called by [`diff`](super::diff::diff) in dependency order, so a node sees its dependencies'
//! decisions. Makes no cloud call: everything it looks at is in the inventory.

mod network;
mod volume;

pub(crate) use volume::{placement as volume_placement, settle as settle_volumes};

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::diff::{Action, AttrChange, Change, PlanError, is_pending, shown};
use super::inventory::Inventory;
use super::port::{Flavor, Image, Marker, RuleInfo, SecurityGroup, Server, ServerGroup};
use crate::graph::{Address, Boot, FlavorSpec, FloatingIpChoice, KeypairMode, Left, Node, Rule};
use crate::state::{Origin, Resource, Side, State};

/// The refresh: the inventory, and the changes planned so far (dependencies first).
pub(super) struct Refresh<'a> {
    pub(super) inventory: &'a Inventory,
    pub(super) state: &'a State,
    /// Target groups by name as they exist now (`None`: to be made).
    pub(super) groups: BTreeMap<String, Option<SecurityGroup>>,
    pub(super) changes: BTreeMap<Address, Change>,
    /// Recorded rules whose position now holds another rule: (group, the old rule).
    pub(super) stale_rules: Vec<(String, RuleInfo)>,
    /// What servers leave behind that only the target's inventory tells (their flavor's
    /// differences), by server name.
    pub(super) left: Vec<(String, Left)>,
}

/// The reason a recorded resource is to be made again.
fn gone() -> Option<String> {
    Some("deleted outside s2d".to_string())
}

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

fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl Refresh<'_> {
    fn marker(&self, address: &Address) -> Marker {
        Marker {
            lineage: self.state.lineage.clone(),
            address: address.clone(),
        }
    }

    fn ours(&self, marker: &Option<Marker>, address: &Address) -> bool {
        marker.as_ref() == Some(&self.marker(address))
    }

    /// The state's record, unless it is only a placeholder.
    fn recorded(&self, address: &Address) -> Option<&Resource> {
        self.state.get(address).filter(|r| !is_pending(r))
    }

    fn will_be_new(&self, address: &Address) -> bool {
        self.changes
            .get(address)
            .is_some_and(|c| matches!(c.action, Action::Create | Action::Replace { .. }))
    }

    fn id_of(&self, address: &Address) -> Option<String> {
        self.changes
            .get(address)
            .and_then(|c| c.id().map(str::to_string))
    }

    /// The image (a snapshot in the source, a copy in the target) this node stands for: the
    /// recorded one (a recorded id that is gone sets the change's reason), else one carrying
    /// this lineage's marker; with whether it was found by marker (to be adopted).
    fn existing_image(&self, change: &mut Change, side: Side) -> Option<(Image, bool)> {
        let address = &change.address.clone();
        match self.recorded(address) {
            Some(r) => {
                let found = self.inventory.image(side, &r.id).cloned();
                if found.is_none() {
                    change.reason = gone();
                }
                found.map(|img| (img, false))
            }
            None => self
                .inventory
                .images_with(side, &self.marker(address))
                .next()
                .cloned()
                .map(|img| (img, true)),
        }
    }

    pub(super) fn plan_node(
        &mut self,
        address: &Address,
        node: &Node,
        depends_on: Vec<Address>,
    ) -> Result<Change, PlanError> {
        let before = self.recorded(address).map(shown);
        let mut change = Change {
            address: address.clone(),
            action: Action::Create,
            reason: None,
            origin: Origin::Created,
            before,
            after: None,
            node: Some(node.clone()),
            depends_on,
        };
        match node {
            Node::Snapshot {
                name,
                source_server_id,
                ..
            } => self.snapshot(&mut change, name, source_server_id),
            Node::Image {
                name,
                disk_format,
                visibility,
                properties,
                drop_properties,
                ..
            } => self.image(
                &mut change,
                name,
                disk_format,
                visibility,
                properties,
                drop_properties,
            ),
            Node::Keypair {
                name,
                mode,
                fingerprint,
                ..
            } => self.keypair(&mut change, name, mode, fingerprint)?,
            Node::SecurityGroup { name, default } => {
                self.security_group(&mut change, name, default)?
            }
            Node::SecurityGroupRule { group, rule } => self.rule(&mut change, group, rule),
            Node::ServerGroup {
                name,
                policy,
                existing,
            } => self.server_group(&mut change, name, policy, *existing)?,
            Node::Server { .. } => self.server(&mut change, node)?,
            Node::FloatingIp {
                server,
                choice,
                nic,
            } => {
                self.floating_ip(&mut change, server, choice)?;
                self.floating_ip_nic(&mut change, server, *nic);
            }
            Node::Network { .. } => self.network(&mut change, node)?,
            Node::Subnet { .. } => self.subnet(&mut change, node)?,
            Node::Router { .. } => self.router(&mut change, node)?,
            Node::Port { .. } => self.port(&mut change, node)?,
            Node::Volume { stage, volume } => self.volume(&mut change, *stage, volume)?,
        }
        Ok(change)
    }

    /// A snapshot of a source server: found by its recorded id or by this lineage's marker;
    /// replaced unless active.
    fn snapshot(&mut self, change: &mut Change, name: &str, source_server_id: &str) {
        change.after = Some(obj(
            json!({"name": name, "source_server_id": source_server_id}),
        ));
        let existing = self.existing_image(change, Side::Source);
        if let Some((img, adopted)) = existing {
            let id = img.id.clone();
            change.action = match img.status.as_str() {
                "active" if adopted => Action::Adopt { id },
                "active" => Action::NoOp { id },
                other => Action::Replace {
                    id,
                    reason: format!("snapshot is {other}, not active"),
                },
            };
        }
    }

    /// The target image: found by id or marker; replaced when its upload did not finish, updated
    /// when its visibility or a planned property differs, or it has a dropped property.
    fn image(
        &mut self,
        change: &mut Change,
        name: &str,
        disk_format: &str,
        visibility: &String,
        properties: &BTreeMap<String, String>,
        drops: &[String],
    ) {
        let mut after = json!({"name": name, "disk_format": disk_format, "visibility": visibility});
        if !properties.is_empty() {
            after["properties"] = json!(properties);
        }
        if !drops.is_empty() {
            after["drop_properties"] = json!(drops);
        }
        change.after = Some(obj(after));
        let existing = self.existing_image(change, Side::Target);
        if let Some((img, adopted)) = existing {
            let id = img.id.clone();
            let mut changes = Vec::new();
            if &img.visibility != visibility {
                changes.push(AttrChange {
                    name: "visibility".into(),
                    before: json!(img.visibility),
                    after: json!(visibility),
                });
            }
            for (k, v) in properties {
                if img.properties.get(k) != Some(v) {
                    changes.push(AttrChange {
                        name: format!("properties.{k}"),
                        before: json!(img.properties.get(k)),
                        after: json!(v),
                    });
                }
            }
            for k in drops {
                if let Some(v) = img.properties.get(k) {
                    changes.push(AttrChange {
                        name: format!("properties.{k}"),
                        before: json!(v),
                        after: Value::Null,
                    });
                }
            }
            change.action = if img.status != "active" {
                Action::Replace {
                    id,
                    reason: format!("image is {}: its upload did not finish", img.status),
                }
            } else if !changes.is_empty() {
                Action::Update { id, changes }
            } else if adopted {
                Action::Adopt { id }
            } else {
                Action::NoOp { id }
            };
        }
    }

    /// A keypair, by name in the target: adopted, kept, or refused when it is someone else's
    /// with another key.
    fn keypair(
        &mut self,
        change: &mut Change,
        name: &String,
        mode: &KeypairMode,
        fingerprint: &Option<String>,
    ) -> Result<(), PlanError> {
        let address = &change.address.clone();
        let gone = gone();
        change.after = Some(obj(
            json!({"name": name, "mode": mode, "fingerprint": fingerprint}),
        ));
        let found = self.inventory.keypair(name).cloned();
        let ours_pending = self.state.get(address).is_some_and(is_pending);
        let recorded = self.recorded(address).cloned();
        match (mode, found) {
            (KeypairMode::Existing, None) => {
                return Err(PlanError::Missing {
                    address: address.clone(),
                    what: "keypair",
                    name: name.clone(),
                });
            }
            (KeypairMode::Existing, Some(k)) => {
                change.origin = Origin::Adopted;
                let id = k.name.clone();
                change.action = if recorded.is_some() {
                    Action::NoOp { id }
                } else {
                    Action::Adopt { id }
                };
            }
            (_, None) => {
                if recorded.is_some() {
                    change.reason = gone.clone();
                }
            }
            (KeypairMode::Import, Some(k)) => {
                let wanted = fingerprint.clone().unwrap_or_default();
                if !wanted.is_empty() && k.fingerprint != wanted {
                    return Err(PlanError::KeypairConflict {
                        address: address.clone(),
                        name: name.clone(),
                        existing: k.fingerprint,
                        wanted,
                    });
                }
                let id = k.name.clone();
                match recorded {
                    Some(r) => {
                        change.origin = r.origin;
                        change.action = Action::NoOp { id };
                    }
                    None => {
                        change.origin = if ours_pending {
                            Origin::Created
                        } else {
                            Origin::Adopted
                        };
                        change.action = Action::Adopt { id };
                    }
                }
            }
            (KeypairMode::Create, Some(k)) => {
                let id = k.name.clone();
                if let Some(r) = recorded {
                    change.origin = r.origin;
                    change.action = Action::NoOp { id };
                } else if ours_pending {
                    change.action = Action::Adopt { id };
                } else {
                    return Err(PlanError::KeypairExists {
                        address: address.clone(),
                        name: name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// A security group by name: the recorded one, else this lineage's, else any of that name
    /// (adopted). Remembered for its rules.
    fn security_group(
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
    fn rule(&mut self, change: &mut Change, group: &String, rule: &Rule) {
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

    /// A server group: one the plan names (it must exist), else the recorded one, else one of
    /// that name and policy (s2d's own when the state holds its pending record, adopted
    /// otherwise); a group of that name with another policy is refused.
    fn server_group(
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
    fn server(&mut self, change: &mut Change, node: &Node) -> Result<(), PlanError> {
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

    /// A floating IP: a named address (adopted), or one from a pool (found by id or marker),
    /// updated when it is not on the server.
    fn floating_ip(
        &mut self,
        change: &mut Change,
        server: &String,
        choice: &FloatingIpChoice,
    ) -> Result<(), PlanError> {
        let address = &change.address.clone();
        let gone = gone();
        let server_address = Address::Server {
            name: server.clone(),
        };
        let server_new = self.will_be_new(&server_address);
        let server_id = self.id_of(&server_address);
        let all = &self.inventory.floating_ips;
        let existing = match choice {
            FloatingIpChoice::None => None,
            FloatingIpChoice::Address(ip) => {
                change.origin = Origin::Adopted;
                change.after = Some(obj(json!({"server": server, "address": ip})));
                let found = all
                    .iter()
                    .find(|f| &f.address == ip)
                    .cloned()
                    .ok_or_else(|| PlanError::Missing {
                        address: address.clone(),
                        what: "floating IP",
                        name: ip.clone(),
                    })?;
                Some((found, self.recorded(address).is_none()))
            }
            FloatingIpChoice::Pool(pool) => {
                let net = self
                    .inventory
                    .network(pool)
                    .filter(|n| n.external)
                    .ok_or_else(|| PlanError::Missing {
                        address: address.clone(),
                        what: "external network (floating IP pool)",
                        name: pool.clone(),
                    })?;
                change.after = Some(obj(
                    json!({"server": server, "pool": pool, "network_id": net.id}),
                ));
                match self.recorded(address) {
                    Some(r) => {
                        let found = all.iter().find(|f| f.id == r.id).cloned();
                        if found.is_none() {
                            change.reason = gone.clone();
                        }
                        found.map(|f| (f, false))
                    }
                    None => all
                        .iter()
                        .find(|f| self.ours(&f.marker, address))
                        .cloned()
                        .map(|f| (f, true)),
                }
            }
        };
        if let Some((f, adopted)) = existing {
            let id = f.id.clone();
            if let Some(after) = change.after.as_mut() {
                after.insert("address".into(), json!(f.address));
            }
            let attached = !server_new && server_id.is_some() && f.server_id == server_id;
            change.action = if !attached {
                Action::Update {
                    id,
                    changes: vec![AttrChange {
                        name: "server".into(),
                        before: json!(f.server_id),
                        after: json!(if server_new {
                            "(known after apply)".to_string()
                        } else {
                            server_id.unwrap_or_default()
                        }),
                    }],
                }
            } else if adopted {
                Action::Adopt { id }
            } else {
                Action::NoOp { id }
            };
        }
        Ok(())
    }

    /// The NIC a floating IP goes to, as its server's refresh planned it (network, its id or
    /// s2d's port), for the step to find the port by.
    fn floating_ip_nic(&self, change: &mut Change, server: &str, nic: usize) {
        let planned = self
            .changes
            .get(&Address::Server {
                name: server.to_string(),
            })
            .and_then(|c| c.after.as_ref())
            .and_then(|a| a.get("nics"))
            .and_then(|n| n.get(nic))
            .cloned();
        if let (Some(mut planned), Some(after)) = (planned, change.after.as_mut()) {
            planned["index"] = json!(nic);
            after.insert("nic".into(), planned);
        }
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
