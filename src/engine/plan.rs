//! Planning: refresh (read the source, the target and the state) and decide per resource one
//! [`Action`], with the attributes that change. The result, [`PlanOutcome`], is what `--json`
//! prints, what `--out` saves and what `apply` executes.
//!
//! Adoption: a resource found in the target that carries this state's marker is s2d's own
//! (made just before a crash lost the state write) and is adopted as *created*; a keypair of the
//! same name and fingerprint, the target's `default` group, an existing named group, rules that
//! already exist and a floating IP given by address are adopted as *adopted* (used, never
//! deleted). Knows nothing of how the plan is shown.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::port::{
    CloudPort, Flavor, FloatingIp, ImageQuery, Marker, PortError, RuleInfo, SecurityGroup,
};
use crate::graph::{
    Address, Desired, FlavorSpec, FloatingIpChoice, GraphError, KeypairMode, Node, ResourceGraph,
    Rule, SourceFacts,
};
use crate::state::{Origin, Resource, State};

/// The version of the plan JSON format (`--json`, `--out`).
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// One attribute that changes in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    pub name: String,
    pub before: Value,
    pub after: Value,
}

/// What happens to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    /// It exists and matches: used as it is, not duplicated.
    Adopt,
    Update {
        changes: Vec<AttrChange>,
    },
    /// Deleted and made again.
    Replace {
        reason: String,
    },
    Delete,
    /// In the state but no longer wanted, and not s2d's to delete: dropped from the state only.
    Forget,
}

impl Action {
    /// The glyph in the human diff.
    pub fn glyph(&self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Adopt => "<=",
            Action::Update { .. } => "~",
            Action::Replace { .. } => "-/+",
            Action::Delete => "-",
            Action::Forget => "x",
        }
    }

    /// A word for tables and events.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::NoOp => "no-op",
            Action::Create => "create",
            Action::Adopt => "adopt",
            Action::Update { .. } => "update",
            Action::Replace { .. } => "replace",
            Action::Delete => "delete",
            Action::Forget => "forget",
        }
    }
}

/// The planned change of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: Address,
    pub action: Action,
    /// Why, when it is not obvious (e.g. "deleted outside s2d").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How the state records it after apply.
    pub origin: Origin,
    /// The cloud id of what exists now, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub before: Option<Map<String, Value>>,
    pub after: Option<Map<String, Value>>,
    /// What it should be (absent for delete and forget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Node>,
    pub depends_on: Vec<Address>,
}

/// Counts for the `Plan:` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub adopt: usize,
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanOutcome {
    pub format_version: u32,
    /// What it is for: `apply` or `destroy`.
    pub operation: Operation,
    /// The state it was computed against; a saved plan is refused if either has changed.
    pub lineage: String,
    pub serial: u64,
    /// Every resource in the plan (no-ops included), sorted by address.
    pub changes: Vec<Change>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Apply,
    Destroy,
}

impl PlanOutcome {
    /// True when applying would change nothing (`--detailed-exitcode` 0).
    pub fn is_empty(&self) -> bool {
        self.changes.iter().all(|c| c.action == Action::NoOp)
    }
}

/// Options for planning.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--target`: only these and what they depend on (empty: everything).
    pub targets: Vec<Address>,
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("server.{server}: source server `{source_name}` not found in the source cloud")]
    SourceServerNotFound { server: String, source_name: String },
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(
        "{address}: a keypair named `{name}` already exists in the target with fingerprint \
         {existing}, but the source key has fingerprint {wanted}: rename the keypair in the plan \
         or delete the target one"
    )]
    KeypairConflict {
        address: Address,
        name: String,
        existing: String,
        wanted: String,
    },
    #[error(
        "{address}: a keypair named `{name}` already exists in the target and s2d did not make it: choose another name or mode `existing`"
    )]
    KeypairExists { address: Address, name: String },
    #[error("{address}: {what} `{name}` not found in the target cloud")]
    Missing {
        address: Address,
        what: &'static str,
        name: String,
    },
    #[error("{address}: no target flavor matches {wanted}")]
    NoFlavor { address: Address, wanted: String },
    #[error("{address}: {source}")]
    Cloud {
        address: Address,
        #[source]
        source: PortError,
    },
    #[error("--target {0}: no such resource in the plan")]
    UnknownTarget(Address),
}

/// Read the source facts the graph needs, for every server of `desired`.
pub async fn read_sources<C: CloudPort>(
    cloud: &C,
    desired: &Desired,
) -> Result<BTreeMap<String, SourceFacts>, PlanError> {
    let mut facts = BTreeMap::new();
    for server in &desired.servers {
        let address = Address::Server {
            name: server.name.clone(),
        };
        let found = cloud
            .source_server(&server.source)
            .await
            .map_err(|source| PlanError::Cloud {
                address: address.clone(),
                source,
            })?
            .ok_or_else(|| PlanError::SourceServerNotFound {
                server: server.name.clone(),
                source_name: server.source.clone(),
            })?;
        let rules: BTreeSet<Rule> = found
            .security_groups
            .iter()
            .flat_map(|g| g.rules.iter().map(|r| r.rule.clone()))
            .collect();
        facts.insert(
            server.name.clone(),
            SourceFacts {
                server_id: found.id.clone(),
                flavor: found.flavor.clone(),
                rules: rules.into_iter().collect(),
                public_key: found.keypair.as_ref().map(|k| k.public_key.clone()),
                fingerprint: found.keypair.as_ref().map(|k| k.fingerprint.clone()),
                disk_format: found.image_disk_format.clone(),
            },
        );
    }
    Ok(facts)
}

/// The graph alone, for `s2d graph`: the source is read, the target and the state are not.
pub async fn build_graph<C: CloudPort>(
    cloud: &C,
    desired: &Desired,
) -> Result<ResourceGraph, PlanError> {
    let facts = read_sources(cloud, desired).await?;
    Ok(ResourceGraph::build(desired, &facts)?)
}

/// Plan `desired` against the clouds and `state`.
pub async fn plan<C: CloudPort>(
    cloud: &C,
    desired: &Desired,
    state: &State,
    options: &PlanOptions,
) -> Result<PlanOutcome, PlanError> {
    let facts = read_sources(cloud, desired).await?;
    let graph = ResourceGraph::build(desired, &facts)?;
    for target in &options.targets {
        if graph.find(target).is_none() && state.get(target).is_none() {
            return Err(PlanError::UnknownTarget(target.clone()));
        }
    }
    let wanted = if options.targets.is_empty() {
        graph.addresses().cloned().collect()
    } else {
        graph.closure(&options.targets)
    };
    let mut refresh = Refresh {
        cloud,
        state,
        flavors: None,
        groups: BTreeMap::new(),
        floating_ips: None,
        changes: BTreeMap::new(),
        stale_rules: Vec::new(),
    };
    let order =
        petgraph::algo::toposort(&graph.graph, None).map_err(|cycle| GraphError::Inconsistent {
            address: graph.graph[cycle.node_id()].address.clone(),
            detail: "dependency cycle".into(),
        })?;
    for index in order {
        let entry = &graph.graph[index];
        if !wanted.contains(&entry.address) {
            continue;
        }
        let deps = graph.dependencies(&entry.address);
        let change = refresh.plan_node(&entry.address, &entry.node, deps).await?;
        refresh.changes.insert(entry.address.clone(), change);
    }
    let mut changes = refresh.changes;
    // A recorded rule displaced by a change of the source's rules, and no longer wanted at
    // any position, is deleted under a free index of its group.
    for (group, old) in refresh.stale_rules {
        let wanted_elsewhere = changes.values().any(|c| {
            c.id.as_deref() == Some(old.id.as_str())
                || matches!(&c.node, Some(Node::SecurityGroupRule { group: g, rule }) if g == &group && rule == &old.rule)
        });
        if wanted_elsewhere {
            continue;
        }
        let free = (0..)
            .map(|index| Address::SecurityGroupRule {
                group: group.clone(),
                index,
            })
            .find(|a| !changes.contains_key(a) && state.get(a).is_none());
        if let Some(address) = free {
            let mut before = Map::new();
            before.insert("group".into(), json!(group));
            before.insert("rule".into(), json!(old.rule.to_string()));
            changes.insert(
                address.clone(),
                Change {
                    address,
                    action: Action::Delete,
                    reason: Some("no longer among the source's rules".into()),
                    origin: Origin::Created,
                    id: Some(old.id.clone()),
                    before: Some(before),
                    after: None,
                    node: None,
                    depends_on: Vec::new(),
                },
            );
        }
    }
    for (address, resource) in &state.resources {
        if graph.find(address).is_some() {
            continue;
        }
        if !options.targets.is_empty() && !options.targets.contains(address) {
            continue;
        }
        changes.insert(address.clone(), removal(address, resource));
    }
    Ok(outcome(
        Operation::Apply,
        state,
        changes.into_values().collect(),
    ))
}

/// Plan the destruction of everything in `state` (or only `targets` and what depends on them):
/// delete what s2d created, forget what it adopted.
pub fn plan_destroy(state: &State, targets: &[Address]) -> PlanOutcome {
    let mut selected: BTreeSet<Address> = BTreeSet::new();
    if targets.is_empty() {
        selected.extend(state.resources.keys().cloned());
    } else {
        // A target and everything recorded as depending on it, at any depth.
        let mut stack: Vec<Address> = targets.to_vec();
        while let Some(next) = stack.pop() {
            if !selected.insert(next.clone()) {
                continue;
            }
            for (address, resource) in &state.resources {
                if recorded_deps(resource).contains(&next) {
                    stack.push(address.clone());
                }
            }
        }
    }
    let changes = state
        .resources
        .iter()
        .filter(|(a, _)| selected.contains(*a))
        .map(|(a, r)| removal(a, r))
        .collect();
    outcome(Operation::Destroy, state, changes)
}

fn outcome(operation: Operation, state: &State, changes: Vec<Change>) -> PlanOutcome {
    let mut summary = Summary::default();
    for change in &changes {
        match change.action {
            Action::Create => summary.add += 1,
            Action::Update { .. } => summary.change += 1,
            Action::Replace { .. } => {
                summary.add += 1;
                summary.destroy += 1;
            }
            Action::Delete => summary.destroy += 1,
            Action::Adopt => summary.adopt += 1,
            Action::NoOp | Action::Forget => {}
        }
    }
    PlanOutcome {
        format_version: PLAN_FORMAT_VERSION,
        operation,
        lineage: state.lineage.clone(),
        serial: state.serial,
        changes,
        summary,
    }
}

/// The addresses a recorded resource depends on (kept in its attributes).
pub(crate) fn recorded_deps(resource: &Resource) -> Vec<Address> {
    resource
        .attributes
        .get("depends_on")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .filter_map(|s| s.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The attributes shown in diffs (the bookkeeping ones left out).
pub(crate) fn shown(resource: &Resource) -> Map<String, Value> {
    resource
        .attributes
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "depends_on" | "pending"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn removal(address: &Address, resource: &Resource) -> Change {
    let action = match resource.origin {
        Origin::Created => Action::Delete,
        Origin::Adopted => Action::Forget,
    };
    Change {
        address: address.clone(),
        action,
        reason: None,
        origin: resource.origin,
        id: (!resource.id.is_empty()).then(|| resource.id.clone()),
        before: Some(shown(resource)),
        after: None,
        node: None,
        depends_on: recorded_deps(resource),
    }
}

/// Whether a record is a placeholder written before a create (see `apply`).
pub(crate) fn is_pending(resource: &Resource) -> bool {
    resource.attributes.get("pending") == Some(&Value::Bool(true))
}

/// The refresh: caches of target lookups and the changes planned so far (dependencies first).
struct Refresh<'a, C> {
    cloud: &'a C,
    state: &'a State,
    flavors: Option<Vec<Flavor>>,
    /// Target groups by name as they exist now (`None`: to be made).
    groups: BTreeMap<String, Option<SecurityGroup>>,
    floating_ips: Option<Vec<FloatingIp>>,
    changes: BTreeMap<Address, Change>,
    /// Recorded rules whose position now holds another rule: (group, the old rule).
    stale_rules: Vec<(String, RuleInfo)>,
}

fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl<C: CloudPort> Refresh<'_, C> {
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
        self.changes.get(address).and_then(|c| c.id.clone())
    }

    async fn plan_node(
        &mut self,
        address: &Address,
        node: &Node,
        depends_on: Vec<Address>,
    ) -> Result<Change, PlanError> {
        let cloud_err = |source| PlanError::Cloud {
            address: address.clone(),
            source,
        };
        let before = self.recorded(address).map(shown);
        let mut change = Change {
            address: address.clone(),
            action: Action::Create,
            reason: None,
            origin: Origin::Created,
            id: None,
            before,
            after: None,
            node: Some(node.clone()),
            depends_on,
        };
        let gone = Some("deleted outside s2d".to_string());
        match node {
            Node::Snapshot {
                name,
                source_server_id,
                ..
            } => {
                change.after = Some(obj(
                    json!({"name": name, "source_server_id": source_server_id}),
                ));
                let existing = match self.recorded(address) {
                    Some(r) => {
                        let found = self.cloud.source_image(&r.id).await.map_err(cloud_err)?;
                        if found.is_none() {
                            change.reason = gone.clone();
                        }
                        found.map(|img| (img, false))
                    }
                    None => self
                        .cloud
                        .source_find_images(&ImageQuery {
                            name: None,
                            marker: Some(self.marker(address)),
                        })
                        .await
                        .map_err(cloud_err)?
                        .into_iter()
                        .next()
                        .map(|img| (img, true)),
                };
                if let Some((img, adopted)) = existing {
                    change.id = Some(img.id.clone());
                    change.action = match img.status.as_str() {
                        "active" if adopted => Action::Adopt,
                        "active" => Action::NoOp,
                        other => Action::Replace {
                            reason: format!("snapshot is {other}, not active"),
                        },
                    };
                }
            }
            Node::Image {
                name,
                disk_format,
                visibility,
                ..
            } => {
                change.after = Some(obj(
                    json!({"name": name, "disk_format": disk_format, "visibility": visibility}),
                ));
                let existing = match self.recorded(address) {
                    Some(r) => {
                        let found = self.cloud.target_image(&r.id).await.map_err(cloud_err)?;
                        if found.is_none() {
                            change.reason = gone.clone();
                        }
                        found.map(|img| (img, false))
                    }
                    None => self
                        .cloud
                        .target_find_images(&ImageQuery {
                            name: None,
                            marker: Some(self.marker(address)),
                        })
                        .await
                        .map_err(cloud_err)?
                        .into_iter()
                        .next()
                        .map(|img| (img, true)),
                };
                if let Some((img, adopted)) = existing {
                    change.id = Some(img.id.clone());
                    change.action = if img.status != "active" {
                        Action::Replace {
                            reason: format!("image is {}: its upload did not finish", img.status),
                        }
                    } else if &img.visibility != visibility {
                        Action::Update {
                            changes: vec![AttrChange {
                                name: "visibility".into(),
                                before: json!(img.visibility),
                                after: json!(visibility),
                            }],
                        }
                    } else if adopted {
                        Action::Adopt
                    } else {
                        Action::NoOp
                    };
                }
            }
            Node::Keypair {
                name,
                mode,
                fingerprint,
                ..
            } => {
                change.after = Some(obj(
                    json!({"name": name, "mode": mode, "fingerprint": fingerprint}),
                ));
                let found = self.cloud.target_keypair(name).await.map_err(cloud_err)?;
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
                        change.id = Some(k.name.clone());
                        change.action = if recorded.is_some() {
                            Action::NoOp
                        } else {
                            Action::Adopt
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
                        change.id = Some(k.name.clone());
                        match recorded {
                            Some(r) => {
                                change.origin = r.origin;
                                change.action = Action::NoOp;
                            }
                            None => {
                                change.origin = if ours_pending {
                                    Origin::Created
                                } else {
                                    Origin::Adopted
                                };
                                change.action = Action::Adopt;
                            }
                        }
                    }
                    (KeypairMode::Create, Some(k)) => {
                        change.id = Some(k.name.clone());
                        if let Some(r) = recorded {
                            change.origin = r.origin;
                            change.action = Action::NoOp;
                        } else if ours_pending {
                            change.action = Action::Adopt;
                        } else {
                            return Err(PlanError::KeypairExists {
                                address: address.clone(),
                                name: name.clone(),
                            });
                        }
                    }
                }
            }
            Node::SecurityGroup { name, default } => {
                change.after = Some(obj(json!({"name": name})));
                let candidates = self
                    .cloud
                    .target_security_groups(name)
                    .await
                    .map_err(cloud_err)?;
                let recorded = self.recorded(address).cloned();
                let current = match &recorded {
                    Some(r) => {
                        let found = candidates.into_iter().find(|g| g.id == r.id);
                        match &found {
                            Some(_) => {
                                change.action = Action::NoOp;
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
                                change.action = Action::Adopt;
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
                change.id = current.as_ref().map(|g| g.id.clone());
                self.groups.insert(name.clone(), current);
            }
            Node::SecurityGroupRule { group, rule } => {
                change.after = Some(obj(json!({"group": group, "rule": rule.to_string()})));
                let existing = self.groups.get(group).cloned().flatten();
                if let Some(g) = existing {
                    let recorded = self.recorded(address).cloned();
                    let by_id = recorded
                        .as_ref()
                        .and_then(|r| g.rules.iter().find(|x| x.id == r.id && &x.rule == rule));
                    if let (Some(found), Some(r)) = (by_id, &recorded) {
                        change.id = Some(found.id.clone());
                        change.origin = r.origin;
                        change.action = Action::NoOp;
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
                            change.id = Some(found.id.clone());
                            change.action = Action::Adopt;
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
            Node::Server {
                name,
                flavor,
                source_flavor,
                network,
                keypair,
                security_group,
                image,
            } => {
                let chosen = self
                    .flavor(address, flavor.as_deref(), source_flavor)
                    .await?;
                let net = self
                    .cloud
                    .target_network(network)
                    .await
                    .map_err(cloud_err)?
                    .ok_or_else(|| PlanError::Missing {
                        address: address.clone(),
                        what: "network",
                        name: network.clone(),
                    })?;
                change.after = Some(obj(json!({
                    "name": name,
                    "flavor": chosen.spec.name,
                    "flavor_id": chosen.id,
                    "image": image.to_string(),
                    "network": network,
                    "network_id": net.id,
                    "keypair": keypair,
                    "security_group": security_group,
                })));
                let image_new = self.will_be_new(image);
                let image_id = self.id_of(image);
                let (existing, adopted) = match self.recorded(address) {
                    Some(r) => {
                        let found = self.cloud.target_server(&r.id).await.map_err(cloud_err)?;
                        if found.is_none() {
                            change.reason = gone.clone();
                        }
                        (found, false)
                    }
                    None => (
                        self.cloud
                            .target_find_servers(name)
                            .await
                            .map_err(cloud_err)?
                            .into_iter()
                            .find(|s| self.ours(&s.marker, address)),
                        true,
                    ),
                };
                if let Some(s) = existing {
                    change.id = Some(s.id.clone());
                    let reason = if s.status == "ERROR" {
                        Some(format!(
                            "server is in ERROR: {}",
                            s.fault.clone().unwrap_or_else(|| "no fault message".into())
                        ))
                    } else if image_new {
                        Some(format!("{image} will be replaced"))
                    } else if image_id.is_some() && s.image_id != image_id {
                        Some("its image changed".into())
                    } else if s.flavor_id != chosen.id {
                        Some(format!(
                            "flavor changes from {} to {}",
                            s.flavor_name.clone().unwrap_or(s.flavor_id.clone()),
                            chosen.spec.name
                        ))
                    } else {
                        None
                    };
                    change.action = match reason {
                        Some(reason) => Action::Replace { reason },
                        None if adopted => Action::Adopt,
                        None => Action::NoOp,
                    };
                }
            }
            Node::FloatingIp { server, choice } => {
                let server_address = Address::Server {
                    name: server.clone(),
                };
                let server_new = self.will_be_new(&server_address);
                let server_id = self.id_of(&server_address);
                if self.floating_ips.is_none() {
                    self.floating_ips =
                        Some(self.cloud.target_floating_ips().await.map_err(cloud_err)?);
                }
                let all = self.floating_ips.clone().unwrap_or_default();
                let existing =
                    match choice {
                        FloatingIpChoice::None => None,
                        FloatingIpChoice::Address(ip) => {
                            change.origin = Origin::Adopted;
                            change.after = Some(obj(json!({"server": server, "address": ip})));
                            let found = all.iter().find(|f| &f.address == ip).cloned().ok_or_else(
                                || PlanError::Missing {
                                    address: address.clone(),
                                    what: "floating IP",
                                    name: ip.clone(),
                                },
                            )?;
                            Some((found, self.recorded(address).is_none()))
                        }
                        FloatingIpChoice::Pool(pool) => {
                            let net = self
                                .cloud
                                .target_network(pool)
                                .await
                                .map_err(cloud_err)?
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
                    change.id = Some(f.id.clone());
                    if let Some(after) = change.after.as_mut() {
                        after.insert("address".into(), json!(f.address));
                    }
                    let attached = !server_new && server_id.is_some() && f.server_id == server_id;
                    change.action = if !attached {
                        Action::Update {
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
                        Action::Adopt
                    } else {
                        Action::NoOp
                    };
                }
            }
        }
        Ok(change)
    }

    /// The target flavor: by the plan's name, else the source's name, else the smallest one
    /// with at least the source's vcpus, ram and disk.
    async fn flavor(
        &mut self,
        address: &Address,
        named: Option<&str>,
        source: &FlavorSpec,
    ) -> Result<Flavor, PlanError> {
        if self.flavors.is_none() {
            let list = self
                .cloud
                .target_flavors()
                .await
                .map_err(|source| PlanError::Cloud {
                    address: address.clone(),
                    source,
                })?;
            self.flavors = Some(list);
        }
        let flavors = self.flavors.as_deref().unwrap_or_default();
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
