//! Planning: refresh (read the source, the target and the state) and decide per resource one
//! [`Action`], with the attributes that change. The result, [`PlanOutcome`], is what `--json`
//! prints, what `--out` saves and what `apply` executes.
//!
//! Adoption: a resource found in the target that carries this state's marker is s2d's own
//! (made just before a crash lost the state write) and is adopted as *created*; a keypair of the
//! same name and fingerprint, the target's `default` group, an existing named group, rules that
//! already exist and a floating IP given by address are adopted as *adopted* (used, never
//! deleted). A plan that cannot fit in the clouds' quotas is refused ([`super::quota`]).
//! Knows nothing of how the plan is shown.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::facts::{read_networks, read_sources, select};
use super::inventory::{Inventory, InventoryError, Reach};
use super::port::CloudPort;
use super::refresh::Refresh;
use crate::graph::{Address, BootReport, Desired, FleetMatch, GraphError, Node, ResourceGraph};
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

/// What happens to one resource. Every action on something that exists carries its cloud id
/// (for a keypair, its name), so a delete, update or adopt cannot be planned without one.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// It exists and matches, and the state already records it.
    NoOp {
        id: String,
    },
    Create,
    /// It exists and matches: used as it is, not duplicated.
    Adopt {
        id: String,
    },
    Update {
        id: String,
        changes: Vec<AttrChange>,
    },
    /// Deleted and made again.
    Replace {
        id: String,
        reason: String,
    },
    Delete {
        id: String,
    },
    /// In the state but no longer wanted, and not s2d's to delete: dropped from the state only.
    Forget {
        id: String,
    },
}

impl Action {
    /// The glyph in the human diff.
    pub fn glyph(&self) -> &'static str {
        match self {
            Action::NoOp { .. } => " ",
            Action::Create => "+",
            Action::Adopt { .. } => "<=",
            Action::Update { .. } => "~",
            Action::Replace { .. } => "-/+",
            Action::Delete { .. } => "-",
            Action::Forget { .. } => "x",
        }
    }

    /// A word for tables and events.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::NoOp { .. } => "no-op",
            Action::Create => "create",
            Action::Adopt { .. } => "adopt",
            Action::Update { .. } => "update",
            Action::Replace { .. } => "replace",
            Action::Delete { .. } => "delete",
            Action::Forget { .. } => "forget",
        }
    }

    /// The cloud id of what exists now (none for a create).
    pub fn id(&self) -> Option<&str> {
        match self {
            Action::Create => None,
            Action::NoOp { id }
            | Action::Adopt { id }
            | Action::Update { id, .. }
            | Action::Replace { id, .. }
            | Action::Delete { id }
            | Action::Forget { id } => Some(id),
        }
    }

    /// What an update changes (nothing for the other actions).
    pub fn changes(&self) -> &[AttrChange] {
        match self {
            Action::Update { changes, .. } => changes,
            _ => &[],
        }
    }

    /// True for a no-op.
    pub fn is_no_op(&self) -> bool {
        matches!(self, Action::NoOp { .. })
    }
}

/// The planned change of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "wire::Change", into = "wire::Change")]
pub struct Change {
    pub address: Address,
    pub action: Action,
    /// Why, when it is not obvious (e.g. "deleted outside s2d").
    pub reason: Option<String>,
    /// How the state records it after apply.
    pub origin: Origin,
    pub before: Option<Map<String, Value>>,
    pub after: Option<Map<String, Value>>,
    /// What it should be (absent for delete and forget).
    pub node: Option<Node>,
    pub depends_on: Vec<Address>,
}

impl Change {
    /// The cloud id of what exists now, if anything.
    pub fn id(&self) -> Option<&str> {
        self.action.id()
    }
}

/// The plan format of a change (`--json`, `--out`, the service): the action's kind and its
/// fields in `action`, the id beside it. Reading refuses an action on something that exists
/// without its id.
mod wire {
    use serde::{Deserialize, Serialize};
    use serde_json::{Map, Value};

    use super::AttrChange;
    use crate::graph::{Address, Node};
    use crate::state::Origin;

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub enum Action {
        NoOp,
        Create,
        Adopt,
        Update { changes: Vec<AttrChange> },
        Replace { reason: String },
        Delete,
        Forget,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Change {
        address: Address,
        action: Action,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        origin: Origin,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        before: Option<Map<String, Value>>,
        after: Option<Map<String, Value>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<Node>,
        depends_on: Vec<Address>,
    }

    impl From<super::Change> for Change {
        fn from(c: super::Change) -> Self {
            let id = c.id().map(str::to_string);
            let action = match c.action {
                super::Action::NoOp { .. } => Action::NoOp,
                super::Action::Create => Action::Create,
                super::Action::Adopt { .. } => Action::Adopt,
                super::Action::Update { changes, .. } => Action::Update { changes },
                super::Action::Replace { reason, .. } => Action::Replace { reason },
                super::Action::Delete { .. } => Action::Delete,
                super::Action::Forget { .. } => Action::Forget,
            };
            Change {
                address: c.address,
                action,
                reason: c.reason,
                origin: c.origin,
                id,
                before: c.before,
                after: c.after,
                node: c.node,
                depends_on: c.depends_on,
            }
        }
    }

    impl TryFrom<Change> for super::Change {
        type Error = String;

        fn try_from(c: Change) -> Result<Self, String> {
            let address = c.address;
            let id = match (&c.action, c.id) {
                (Action::Create, _) => String::new(),
                (_, Some(id)) => id,
                (_, None) => {
                    return Err(format!(
                        "{address}: the change has no `id`, which its action needs (the plan was \
                         written by hand or by another program: make it again with `s2d plan --out`)"
                    ));
                }
            };
            let action = match c.action {
                Action::NoOp => super::Action::NoOp { id },
                Action::Create => super::Action::Create,
                Action::Adopt => super::Action::Adopt { id },
                Action::Update { changes } => super::Action::Update { id, changes },
                Action::Replace { reason } => super::Action::Replace { id, reason },
                Action::Delete => super::Action::Delete { id },
                Action::Forget => super::Action::Forget { id },
            };
            Ok(super::Change {
                address,
                action,
                reason: c.reason,
                origin: c.origin,
                before: c.before,
                after: c.after,
                node: c.node,
                depends_on: c.depends_on,
            })
        }
    }
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
    /// What each fleet of the plan matched in the source (none for a plan without fleets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selected: Vec<FleetMatch>,
    /// For each server of the plan: what it takes along from its source (boot properties,
    /// metadata, tags, group, ...) and what it leaves behind, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boot: Vec<BootReport>,
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
        self.changes.iter().all(|c| c.action.is_no_op())
    }
}

/// Options for planning.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// `--target`: only these and what they depend on (empty: everything).
    pub targets: Vec<Address>,
    /// How long after a create whose answer was lost (its pending record) the plan waits for
    /// it to show in the cloud before it plans another ([`super::pending::SETTLE`]).
    pub settle: std::time::Duration,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            targets: Vec::new(),
            settle: super::pending::SETTLE,
        }
    }
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    #[error("server.{server}: source server `{source_name}` not found in the source cloud")]
    #[diagnostic(
        code(s2d::plan::source_not_found),
        help(
            "check the name (or use the id) with `openstack --os-cloud SOURCE server list`; the plan's source cloud and project decide what is visible"
        )
    )]
    SourceServerNotFound { server: String, source_name: String },
    #[error("server.{server}: {count} source servers are named `{source_name}` ({ids})", count = ids.split(", ").count())]
    #[diagnostic(
        code(s2d::plan::source_ambiguous),
        help("name the source server by its id in the plan (`source = \"ID\"`)")
    )]
    AmbiguousSource {
        server: String,
        source_name: String,
        ids: String,
    },
    #[error(transparent)]
    #[diagnostic(code(s2d::cloud::refused))]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Graph(#[from] GraphError),
    #[error(
        "{address}: a keypair named `{name}` already exists in the target with fingerprint \
         {existing}, but the source key has fingerprint {wanted}: rename the keypair in the plan \
         or delete the target one"
    )]
    #[diagnostic(code(s2d::plan::keypair_conflict))]
    KeypairConflict {
        address: Address,
        name: String,
        existing: String,
        wanted: String,
    },
    #[error(
        "{address}: a keypair named `{name}` already exists in the target and s2d did not make it: choose another name or mode `existing`"
    )]
    #[diagnostic(code(s2d::plan::keypair_exists))]
    KeypairExists { address: Address, name: String },
    #[error("{address}: {what} `{name}` not found in the target cloud")]
    #[diagnostic(
        code(s2d::plan::missing_in_target),
        help(
            "create it in the target first, or name one that exists (`openstack --os-cloud TARGET {what} list`)"
        )
    )]
    Missing {
        address: Address,
        what: &'static str,
        name: String,
    },
    #[error(
        "{address}: a server group named `{name}` exists in the target with policy {existing}, and the source's has policy {wanted}"
    )]
    #[diagnostic(
        code(s2d::plan::server_group_conflict),
        help(
            "name an existing group in the plan (server_group = {{ existing = \"NAME\" }}), rename or delete the target's, or leave the group behind (server_group = \"none\")"
        )
    )]
    ServerGroupConflict {
        address: Address,
        name: String,
        existing: String,
        wanted: String,
    },
    #[error("{address}: no target flavor matches {wanted}")]
    #[diagnostic(
        code(s2d::plan::no_flavor),
        help(
            "name a target flavor in the plan (flavor = \"NAME\"), or ask the target's admin for one of that shape (`openstack flavor list`)"
        )
    )]
    NoFlavor { address: Address, wanted: String },
    #[error(
        "the {cloud}'s {what} quota has {free} left of {limit}, and the plan's new {made} need {wanted}"
    )]
    #[diagnostic(
        code(s2d::cloud::quota),
        help(
            "ask the {cloud}'s admin to raise the quota (`openstack quota show` shows Nova's, Neutron's and Cinder's; Glance's are Keystone's unified limits, `openstack limit list`), free some in the {cloud}, or apply in waves with --target"
        )
    )]
    Quota {
        /// `source` or `target`.
        cloud: &'static str,
        what: &'static str,
        /// What the plan makes that needs it (`servers`, `volumes`, `images`).
        made: &'static str,
        wanted: u64,
        free: u64,
        limit: u64,
    },
    #[error("the source has several networks named `{name}` ({ids})")]
    #[diagnostic(
        code(s2d::plan::ambiguous_source_network),
        help("name the network to copy by its id in `[[network]] from`")
    )]
    AmbiguousSourceNetwork { name: String, ids: String },
    #[error("{address}: {reason}")]
    #[diagnostic(code(s2d::plan::preflight), help("{help}"))]
    Preflight {
        address: Address,
        reason: String,
        help: String,
    },
    #[error("--target {0}: no such resource in the plan")]
    #[diagnostic(
        code(s2d::plan::unknown_target),
        help("`s2d graph PLAN` lists the plan's addresses, `s2d state list` the state's")
    )]
    UnknownTarget(Address),
}

/// The graph alone, for `s2d graph`: the source is read, the target and the state are not.
pub async fn build_graph<C: CloudPort>(
    cloud: &C,
    desired: &Desired,
) -> Result<ResourceGraph, PlanError> {
    let inventory = Inventory::read(cloud, Reach::Source).await?;
    let (desired, _) = select(&inventory, desired);
    let facts = read_sources(&inventory, &desired)?;
    let networks = read_networks(&inventory, &desired)?;
    Ok(ResourceGraph::build(&desired, &facts, &networks)?)
}

/// Plan `desired` against the clouds and `state`.
pub async fn diff<C: CloudPort>(
    cloud: &C,
    desired: &Desired,
    state: &State,
    options: &PlanOptions,
) -> Result<PlanOutcome, PlanError> {
    let inventory = Inventory::read(cloud, Reach::Both).await?;
    let mut inventory = super::pending::settle(cloud, state, inventory, options.settle).await?;
    let (desired, selected) = select(&inventory, desired);
    let facts = read_sources(&inventory, &desired)?;
    let networks = read_networks(&inventory, &desired)?;
    let graph = ResourceGraph::build(&desired, &facts, &networks)?;
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
        inventory: &inventory,
        state,
        groups: BTreeMap::new(),
        changes: BTreeMap::new(),
        stale_rules: Vec::new(),
        left: Vec::new(),
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
        let change = refresh.plan_node(&entry.address, &entry.node, deps)?;
        refresh.changes.insert(entry.address.clone(), change);
    }
    let mut changes = refresh.changes;
    super::refresh::settle_volumes(&mut changes);
    let mut reports = graph.reports.clone();
    for (server, left) in refresh.left {
        if let Some(r) = reports.iter_mut().find(|r| r.server == server) {
            r.left.push(left);
        }
    }
    // A recorded rule displaced by a change of the source's rules, and no longer wanted at
    // any position, is deleted under a free index of its group.
    for (group, old) in refresh.stale_rules {
        let wanted_elsewhere = changes.values().any(|c| {
            c.id() == Some(old.id.as_str())
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
                    action: Action::Delete { id: old.id.clone() },
                    reason: Some("no longer among the source's rules".into()),
                    origin: Origin::Created,
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
    let images = super::quota::new_images(&inventory, &changes);
    inventory
        .read_image_quotas(cloud, images.source.count > 0, images.target.count > 0)
        .await?;
    super::quota::check_quota(&inventory, &changes, &images)?;
    let mut planned = outcome(Operation::Apply, state, changes.into_values().collect());
    planned.selected = selected;
    planned.boot = reports
        .into_iter()
        .filter(|r| {
            wanted.contains(&Address::Server {
                name: r.server.clone(),
            })
        })
        .collect();
    Ok(planned)
}

/// Plan the destruction of everything in `state` (or only `targets` and what depends on them):
/// delete what s2d created, forget what it adopted.
pub fn diff_destroy(state: &State, targets: &[Address]) -> PlanOutcome {
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
            Action::Delete { .. } => summary.destroy += 1,
            Action::Adopt { .. } => summary.adopt += 1,
            Action::NoOp { .. } | Action::Forget { .. } => {}
        }
    }
    PlanOutcome {
        format_version: PLAN_FORMAT_VERSION,
        operation,
        lineage: state.lineage.clone(),
        serial: state.serial,
        changes,
        summary,
        selected: Vec::new(),
        boot: Vec::new(),
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

/// Removing a recorded resource: deleted when s2d made it, forgotten when it was adopted or when
/// the state holds no id to find it by. A pending record (a create whose answer was lost) is
/// deleted by what finds it: a keypair by its name (its id), a server group by its name, the
/// rest by their marker ([`super::pending::look_up`]).
fn removal(address: &Address, resource: &Resource) -> Change {
    let id = match address {
        Address::Keypair { name } if resource.id.is_empty() => name.clone(),
        Address::ServerGroup { name } if resource.id.is_empty() && is_pending(resource) => {
            format!("{PENDING_GROUP}{name}")
        }
        _ if resource.id.is_empty()
            && is_pending(resource)
            && super::pending::by_marker(address) =>
        {
            format!("{}{}", super::pending::PENDING_SINCE, resource.recorded_at)
        }
        _ => resource.id.clone(),
    };
    let (action, reason) = match resource.origin {
        Origin::Created if is_pending(resource) => (
            Action::Delete { id },
            Some("a run was cut off while it made this: looked for when deleted".to_string()),
        ),
        Origin::Created if !id.is_empty() => (Action::Delete { id }, None),
        Origin::Created => (
            Action::Forget { id },
            Some("the state records no id for it: nothing to find and delete".to_string()),
        ),
        Origin::Adopted => (Action::Forget { id }, None),
    };
    Change {
        address: address.clone(),
        action,
        reason,
        origin: resource.origin,
        before: Some(shown(resource)),
        after: None,
        node: None,
        depends_on: recorded_deps(resource),
    }
}

/// The id of a delete of a pending server group: this prefix and the group's name.
pub(crate) const PENDING_GROUP: &str = "pending-name:";

pub(crate) use super::pending::is_pending;
