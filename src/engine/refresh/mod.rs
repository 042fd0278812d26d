//! The refresh of one node: look at what exists (state record, the [`Inventory`] read from both
//! clouds, this lineage's markers) and decide its [`Action`] with the attributes that change.
//! Called by [`diff`](super::diff::diff) in dependency order, so a node sees its dependencies'
//! decisions. Makes no cloud call: everything it looks at is in the inventory.

mod network;
mod security_group;
mod server;
mod volume;

pub(crate) use volume::{placement as volume_placement, settle as settle_volumes};

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::diff::{Action, AttrChange, Change, PlanError, is_pending, shown};
use super::inventory::Inventory;
use super::port::{Image, Marker, RuleInfo, SecurityGroup};
use crate::graph::{Address, FloatingIpChoice, KeypairMode, Left, Node};
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
}
