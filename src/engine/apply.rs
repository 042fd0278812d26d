//! Apply and destroy: carry out a [`PlanOutcome`] with [`walk`](super::walk::walk).
//!
//! The walk graph holds every change that does something (no-ops are already done), with an
//! edge from each dependency to its dependent; deletions run in reverse, so a server goes
//! before its group, rules, keypair and image. Workers make the cloud calls and return what to
//! record; only the coordinator (the walk's `on_event`) writes the state, committing after
//! every node that changed something, and sends the [`Event`]s. Before a keypair is created
//! the coordinator commits a *pending* placeholder: keypairs carry no marker, so the
//! placeholder is how the next plan knows a keypair found after a crash is s2d's own.
//!
//! Knows nothing of terminals; it never prints.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::plan::{Action, Change, PlanOutcome};
use super::port::{CloudPort, Diagnosis, ImageSpec, Marker, PortError, Progress, ServerSpec};
use super::walk::{Outcome, Stop, WalkEvent, walk};
use crate::graph::{Address, FloatingIpChoice, KeypairMode, Node};
use crate::state::{Origin, Resource, Side, StateError, StateFile, now_rfc3339};

/// How long to wait for things to become ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub snapshot: Duration,
    pub image: Duration,
    pub server: Duration,
    pub delete: Duration,
}

/// Options for apply and destroy (their defaults are the workflow's, `workflow::defaults`).
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// `--parallelism`: nodes making cloud calls at once. A node that only waits
    /// (for a snapshot, an upload, a server to boot) gives its slot back meanwhile.
    pub parallelism: NonZeroUsize,
    /// Image transfers running at once (a second, smaller limit).
    pub transfers: NonZeroUsize,
    pub timeouts: Timeouts,
    /// Graceful and hard stop (Ctrl-C once, twice).
    pub stop: Stop,
    /// Where progress goes; `None` to drop it.
    pub events: Option<mpsc::UnboundedSender<Event>>,
}

impl ApplyOptions {
    /// Options with these limits (0 counts as 1), no stop requested and no events.
    pub fn new(parallelism: u32, transfers: u32, timeouts: Timeouts) -> ApplyOptions {
        let at_least_one = |n: u32| NonZeroUsize::new(n as usize).unwrap_or(NonZeroUsize::MIN);
        ApplyOptions {
            parallelism: at_least_one(parallelism),
            transfers: at_least_one(transfers),
            timeouts,
            stop: Stop::default(),
            events: None,
        }
    }
}

/// Progress of an apply or destroy, for the CLI.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started {
        address: Address,
        action: String,
    },
    Finished {
        address: Address,
        action: String,
        elapsed_ms: u64,
    },
    Failed {
        address: Address,
        message: String,
        #[serde(flatten)]
        diagnosis: Diagnosis,
    },
    Skipped {
        address: Address,
        because: Address,
    },
    Cancelled {
        address: Address,
    },
    /// Image bytes moved so far (may be coalesced or dropped), of `total` when known.
    Transfer {
        address: Address,
        bytes: u64,
        total: Option<u64>,
    },
    StateSaved {
        serial: u64,
    },
    StateSaveFailed {
        message: String,
    },
}

/// How one node ended, for the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum NodeStatus {
    Done,
    Failed {
        message: String,
        #[serde(flatten)]
        diagnosis: Diagnosis,
    },
    Skipped {
        because: Address,
    },
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeReport {
    pub address: Address,
    pub action: String,
    #[serde(flatten)]
    pub status: NodeStatus,
    pub elapsed_ms: u64,
}

/// The result of an apply or destroy.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// Every node that had something to do, sorted by address.
    pub nodes: Vec<NodeReport>,
    pub total_ms: u64,
    /// Private keys of keypairs the target generated (mode `create`): shown to the user once,
    /// never written to the state.
    #[serde(skip)]
    pub generated_keys: Vec<(Address, PrivateKey)>,
    /// Set when the state could not be written (the walk then stopped).
    pub state_error: Option<String>,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        self.state_error.is_none() && self.nodes.iter().all(|n| n.status == NodeStatus::Done)
    }

    pub fn count(&self, pick: fn(&NodeStatus) -> bool) -> usize {
        self.nodes.iter().filter(|n| pick(&n.status)).count()
    }
}

/// A private key generated by the target: its `Debug` hides it, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(String);

impl PrivateKey {
    /// The key itself, for writing to the user's chosen file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// Why an apply could not start.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    #[error(
        "the saved plan is stale: it was made for state lineage {plan_lineage} serial \
         {plan_serial}, the state is now lineage {state_lineage} serial {state_serial}: run \
         plan again"
    )]
    #[diagnostic(
        code(s2d::plan::stale),
        help(
            "the state changed since `s2d plan --out` saved this plan: make and review a new one"
        )
    )]
    Stale {
        plan_lineage: String,
        plan_serial: u64,
        state_lineage: String,
        state_serial: u64,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] StateError),
}

/// What a node did, to be recorded by the coordinator.
#[derive(Debug, Default)]
struct NodeOutput {
    /// `None` removes the record.
    records: Vec<(Address, Option<Resource>)>,
    generated_key: Option<(Address, PrivateKey)>,
}

#[derive(Debug)]
struct NodeFailure {
    message: String,
    diagnosis: Diagnosis,
    /// What was made before the failure (e.g. a server that went to ERROR).
    records: Vec<(Address, Option<Resource>)>,
}

fn checksum_mismatch() -> Diagnosis {
    Diagnosis::new(
        "s2d::transfer::checksum",
        Some("the bytes the target holds are not those sent: the image is deleted; run again to copy it anew".into()),
    )
}

impl From<PortError> for NodeFailure {
    fn from(error: PortError) -> Self {
        NodeFailure {
            message: error.to_string(),
            diagnosis: error.diagnosis(),
            records: Vec::new(),
        }
    }
}

/// Execute `plan` against the clouds, recording into `state`. A plan made against another
/// lineage or serial is refused (except a plan made against a state that did not exist yet,
/// when the state still holds nothing: it takes the plan's lineage, so markers match).
pub async fn apply<C: CloudPort>(
    cloud: Arc<C>,
    plan: &PlanOutcome,
    state: &mut StateFile,
    options: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    {
        let current = state.state();
        let fresh = plan.serial == 0 && current.serial == 0 && current.is_empty();
        if fresh {
            state.state_mut().lineage = plan.lineage.clone();
        } else if current.lineage != plan.lineage || current.serial != plan.serial {
            return Err(ApplyError::Stale {
                plan_lineage: plan.lineage.clone(),
                plan_serial: plan.serial,
                state_lineage: current.lineage.clone(),
                state_serial: current.serial,
            });
        }
    }
    Ok(execute(cloud, plan, state, options).await)
}

/// Destroy everything in the state (or `targets` and what depends on them): a destroy plan,
/// applied at once.
pub async fn destroy<C: CloudPort>(
    cloud: Arc<C>,
    state: &mut StateFile,
    targets: &[Address],
    options: &ApplyOptions,
) -> ApplyReport {
    let plan = super::plan::plan_destroy(state.state(), targets);
    execute(cloud, &plan, state, options).await
}

/// The walk graph: every change that does something; deletions ordered in reverse.
fn walk_graph(plan: &PlanOutcome) -> DiGraph<Change, ()> {
    let mut graph = DiGraph::new();
    let mut index: BTreeMap<Address, NodeIndex> = BTreeMap::new();
    for change in &plan.changes {
        if change.action != Action::NoOp {
            index.insert(change.address.clone(), graph.add_node(change.clone()));
        }
    }
    for change in &plan.changes {
        let Some(&me) = index.get(&change.address) else {
            continue;
        };
        let removing = matches!(change.action, Action::Delete | Action::Forget);
        for dep in &change.depends_on {
            let Some(&other) = index.get(dep) else {
                continue;
            };
            let other_removing = matches!(graph[other].action, Action::Delete | Action::Forget);
            match (removing, other_removing) {
                // Both go away: the dependent first.
                (true, true) => {
                    graph.add_edge(me, other, ());
                }
                // Both are made or changed: the dependency first.
                (false, false) => {
                    graph.add_edge(other, me, ());
                }
                _ => {}
            }
        }
    }
    graph
}

/// A mutex's guard; a panic elsewhere while it was held does not make the data unusable
/// (every write to it is a whole insert or remove).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn execute<C: CloudPort>(
    cloud: Arc<C>,
    plan: &PlanOutcome,
    state: &mut StateFile,
    options: &ApplyOptions,
) -> ApplyReport {
    let graph = walk_graph(plan);
    let lineage = state.state().lineage.clone();
    // Shared by the node futures and the walk's event handler; never held across an await.
    let ids: Mutex<BTreeMap<Address, String>> = Mutex::new(
        state
            .state()
            .resources
            .iter()
            .map(|(a, r)| (a.clone(), r.id.clone()))
            .chain(
                plan.changes
                    .iter()
                    .filter_map(|c| Some((c.address.clone(), c.id.clone()?))),
            )
            .collect(),
    );
    let transfers = Arc::new(Semaphore::new(options.transfers.get()));
    let ops = Arc::new(Semaphore::new(options.parallelism.get()));
    let emit = |event: Event| {
        if let Some(tx) = &options.events {
            let _ = tx.send(event);
        }
    };
    let state_cell = Mutex::new(state);
    let mut generated_keys = Vec::new();
    let mut state_error: Option<String> = None;

    let run = |_index: NodeIndex, change: &Change, hard: CancellationToken| {
        let ctx = NodeCtx {
            change: change.clone(),
            ids: lock(&ids).clone(),
            lineage: lineage.clone(),
            timeouts: options.timeouts,
            transfers: transfers.clone(),
            events: options.events.clone(),
            slot: OpSlot::new(ops.clone()),
        };
        let cloud = cloud.clone();
        async move {
            tokio::select! {
                biased;
                _ = hard.cancelled() => Err(NodeFailure::from(PortError::Cancelled)),
                result = run_node(cloud.as_ref(), ctx) => result,
            }
        }
    };

    let on_event = |event: WalkEvent<'_, NodeOutput, NodeFailure>| -> ControlFlow<()> {
        match event {
            WalkEvent::Started(index) => {
                let change = &graph[index];
                emit(Event::Started {
                    address: change.address.clone(),
                    action: change.action.verb().into(),
                });
                if let (Some(Node::Keypair { name, .. }), Action::Create) =
                    (&change.node, &change.action)
                {
                    let mut file = lock(&state_cell);
                    let mut attributes = Map::new();
                    attributes.insert("name".into(), json!(name));
                    attributes.insert("pending".into(), json!(true));
                    file.state_mut().record(
                        change.address.clone(),
                        Resource {
                            side: Side::Target,
                            id: String::new(),
                            origin: Origin::Created,
                            attributes,
                            recorded_at: now_rfc3339(),
                        },
                    );
                    return commit(&mut file, &emit, &mut state_error);
                }
                ControlFlow::Continue(())
            }
            WalkEvent::Finished {
                node,
                outcome,
                elapsed,
            } => {
                let change = &graph[node];
                let address = change.address.clone();
                let records = match outcome {
                    Outcome::Done(output) => {
                        emit(Event::Finished {
                            address,
                            action: change.action.verb().into(),
                            elapsed_ms: elapsed.as_millis() as u64,
                        });
                        if let Some(key) = &output.generated_key {
                            generated_keys.push(key.clone());
                        }
                        &output.records[..]
                    }
                    Outcome::Failed(failure) => {
                        emit(Event::Failed {
                            address,
                            message: failure.message.clone(),
                            diagnosis: failure.diagnosis.clone(),
                        });
                        &failure.records[..]
                    }
                    Outcome::Skipped { because } => {
                        emit(Event::Skipped {
                            address,
                            because: graph[*because].address.clone(),
                        });
                        &[][..]
                    }
                    Outcome::Cancelled(_) => {
                        emit(Event::Cancelled { address });
                        &[][..]
                    }
                };
                if records.is_empty() {
                    return ControlFlow::Continue(());
                }
                let mut file = lock(&state_cell);
                let mut ids = lock(&ids);
                for (address, record) in records {
                    match record {
                        Some(resource) => {
                            ids.insert(address.clone(), resource.id.clone());
                            file.state_mut().record(address.clone(), resource.clone());
                        }
                        None => {
                            ids.remove(address);
                            file.state_mut().forget(address);
                        }
                    }
                }
                commit(&mut file, &emit, &mut state_error)
            }
        }
    };

    // Every ready node starts; `ops` bounds how many make calls at once (see [`OpSlot`]).
    let starts = NonZeroUsize::new(graph.node_count()).unwrap_or(NonZeroUsize::MIN);
    let summary = walk(&graph, starts, &options.stop, run, on_event).await;

    let mut nodes: Vec<NodeReport> = summary
        .outcomes
        .iter()
        .enumerate()
        .map(|(i, outcome)| {
            let change = &graph[NodeIndex::new(i)];
            let status = match outcome {
                Outcome::Done(_) => NodeStatus::Done,
                Outcome::Failed(f) => NodeStatus::Failed {
                    message: f.message.clone(),
                    diagnosis: f.diagnosis.clone(),
                },
                Outcome::Skipped { because } => NodeStatus::Skipped {
                    because: graph[*because].address.clone(),
                },
                Outcome::Cancelled(_) => NodeStatus::Cancelled,
            };
            NodeReport {
                address: change.address.clone(),
                action: change.action.verb().into(),
                status,
                elapsed_ms: summary.elapsed[i].as_millis() as u64,
            }
        })
        .collect();
    nodes.sort_by(|a, b| a.address.cmp(&b.address));
    ApplyReport {
        nodes,
        total_ms: summary.total.as_millis() as u64,
        generated_keys,
        state_error,
    }
}

fn commit(
    file: &mut StateFile,
    emit: &impl Fn(Event),
    state_error: &mut Option<String>,
) -> ControlFlow<()> {
    match file.commit() {
        Ok(()) => {
            emit(Event::StateSaved {
                serial: file.state().serial,
            });
            ControlFlow::Continue(())
        }
        Err(error) => {
            let message = error.to_string();
            emit(Event::StateSaveFailed {
                message: message.clone(),
            });
            *state_error = Some(message);
            ControlFlow::Break(())
        }
    }
}

/// Everything a worker needs, owned, so it can run on its own task.
struct NodeCtx {
    change: Change,
    /// Cloud ids of everything recorded so far, by address.
    ids: BTreeMap<Address, String>,
    lineage: String,
    timeouts: Timeouts,
    transfers: Arc<Semaphore>,
    events: Option<mpsc::UnboundedSender<Event>>,
    /// This node's share of `--parallelism`, given back while it only waits.
    slot: OpSlot,
}

/// A permit of the parallelism semaphore that a node holds while it makes calls and gives
/// back while it waits for the cloud (a snapshot, an upload, a server to boot): parallelism
/// bounds the work in flight, and twenty servers booting at once do not block the rest.
struct OpSlot {
    semaphore: Arc<Semaphore>,
    permit: std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>,
}

impl OpSlot {
    fn new(semaphore: Arc<Semaphore>) -> OpSlot {
        OpSlot {
            semaphore,
            permit: std::sync::Mutex::new(None),
        }
    }

    async fn acquire(&self) -> Result<(), PortError> {
        let permit = self
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PortError::Cancelled)?;
        *self.permit.lock().unwrap_or_else(|e| e.into_inner()) = Some(permit);
        Ok(())
    }

    fn release(&self) {
        self.permit.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl NodeCtx {
    fn marker(&self) -> Marker {
        Marker {
            lineage: self.lineage.clone(),
            address: self.change.address.clone(),
        }
    }

    fn dep_id(&self, address: &Address) -> Result<String, NodeFailure> {
        self.ids.get(address).cloned().ok_or_else(|| NodeFailure {
            message: format!("{address} has no id in the state (was it made?)"),
            diagnosis: Diagnosis::new("s2d::state::inconsistent", Some("run `s2d plan` to see what the state holds; `s2d state rm ADDRESS` forgets an entry".into())),
            records: Vec::new(),
        })
    }

    fn after_str(&self, key: &str) -> Result<String, NodeFailure> {
        self.change
            .after
            .as_ref()
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| NodeFailure {
                message: format!("the plan has no `{key}` for {}", self.change.address),
                diagnosis: Diagnosis::new(
                    "s2d::plan::incomplete",
                    Some("run `s2d plan --out` again with this s2d".into()),
                ),
                records: Vec::new(),
            })
    }

    /// The record to write for this node.
    fn record(&self, side: Side, id: &str, origin: Origin, extra: Map<String, Value>) -> Resource {
        let mut attributes = self.change.after.clone().unwrap_or_default();
        attributes.extend(extra);
        attributes.insert(
            "depends_on".into(),
            json!(
                self.change
                    .depends_on
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            ),
        );
        Resource {
            side,
            id: id.to_string(),
            origin,
            attributes,
            recorded_at: now_rfc3339(),
        }
    }

    fn done(&self, resource: Resource) -> NodeOutput {
        NodeOutput {
            records: vec![(self.change.address.clone(), Some(resource))],
            generated_key: None,
        }
    }
}

/// Run a wait under its deadline even if the port does not enforce it, with a little grace
/// so a port that does gets to report its own (more precise) timeout first.
/// The node's parallelism slot is given back for the wait and taken again after it.
async fn within<T>(
    slot: &OpSlot,
    deadline: Duration,
    what: &str,
    wanted: &str,
    wait: impl std::future::Future<Output = Result<T, PortError>>,
) -> Result<T, PortError> {
    let grace = Duration::from_secs(5).min(deadline / 10);
    slot.release();
    let result = match tokio::time::timeout(deadline + grace, wait).await {
        Ok(result) => result,
        Err(_) => Err(PortError::Timeout {
            what: what.to_string(),
            wanted: wanted.to_string(),
            last: "unknown".to_string(),
            after: deadline,
        }),
    };
    slot.acquire().await?;
    result
}

fn ignore_missing(result: Result<(), PortError>) -> Result<(), PortError> {
    match result {
        Err(PortError::NotFound { .. }) => Ok(()),
        other => other,
    }
}

/// Upload the snapshot's bytes into a new target image and wait for it to be `active` with
/// the checksum of what was sent.
async fn fill_image<C: CloudPort>(
    cloud: &C,
    ctx: &NodeCtx,
    image_id: &str,
    source_id: &str,
    copy: &super::port::CopySpec,
) -> Result<super::port::Checksums, NodeFailure> {
    // The copy is bounded by `transfers`, not by the parallelism slot.
    ctx.slot.release();
    let copied = async {
        let _permit = ctx
            .transfers
            .acquire()
            .await
            .map_err(|_| PortError::Cancelled)?;
        let events = ctx.events.clone();
        let for_progress = ctx.change.address.clone();
        let progress: Progress = Arc::new(move |bytes, total| {
            if let Some(tx) = &events {
                let _ = tx.send(Event::Transfer {
                    address: for_progress.clone(),
                    bytes,
                    total,
                });
            }
        });
        cloud
            .target_upload_image(image_id, source_id, copy, progress)
            .await
    }
    .await;
    ctx.slot.acquire().await?;
    let checksums = copied?;
    let active = within(
        &ctx.slot,
        ctx.timeouts.image,
        "image",
        "active",
        cloud.target_wait_image_active(image_id, ctx.timeouts.image),
    )
    .await?;
    if let Some(sum) = &active.checksum
        && sum != &checksums.md5
    {
        return Err(NodeFailure {
            diagnosis: checksum_mismatch(),
            message: format!(
                "image {image_id} has checksum {sum} in the target, but {} was sent",
                checksums.md5
            ),
            records: Vec::new(),
        });
    }
    if let Some(sum) = &active.sha512
        && sum != &checksums.sha512
    {
        return Err(NodeFailure {
            diagnosis: checksum_mismatch(),
            message: format!(
                "image {image_id} has sha512 {sum} in the target, but {} was sent",
                checksums.sha512
            ),
            records: Vec::new(),
        });
    }
    Ok(checksums)
}

async fn run_node<C: CloudPort>(cloud: &C, ctx: NodeCtx) -> Result<NodeOutput, NodeFailure> {
    ctx.slot.acquire().await?;
    let change = &ctx.change;
    let address = change.address.clone();
    let side = if matches!(address, Address::Snapshot { .. }) {
        Side::Source
    } else {
        Side::Target
    };
    match &change.action {
        Action::NoOp => return Ok(NodeOutput::default()),
        Action::Forget => {
            return Ok(NodeOutput {
                records: vec![(address, None)],
                generated_key: None,
            });
        }
        Action::Delete => {
            delete(cloud, &ctx).await?;
            return Ok(NodeOutput {
                records: vec![(address, None)],
                generated_key: None,
            });
        }
        Action::Adopt => {
            let id = change.id.clone().unwrap_or_default();
            if let Some(Node::Server { .. }) = &change.node {
                // An orphan found after a crash may still be building.
                within(
                    &ctx.slot,
                    ctx.timeouts.server,
                    "server",
                    "ACTIVE",
                    cloud.target_wait_server_active(&id, ctx.timeouts.server),
                )
                .await?;
            }
            return Ok(ctx.done(ctx.record(side, &id, change.origin, Map::new())));
        }
        Action::Update { .. } | Action::Create | Action::Replace { .. } => {}
    }
    let Some(node) = &change.node else {
        return Err(NodeFailure {
            message: format!("{address}: the plan does not say what to make"),
            diagnosis: Diagnosis::new(
                "s2d::plan::incomplete",
                Some("run `s2d plan --out` again with this s2d".into()),
            ),
            records: Vec::new(),
        });
    };
    let replacing = matches!(change.action, Action::Replace { .. });
    let updating = matches!(change.action, Action::Update { .. });
    match node {
        Node::Snapshot {
            source_server_id,
            name,
            ..
        } => {
            if replacing && let Some(old) = &change.id {
                ignore_missing(cloud.source_delete_image(old).await)?;
            }
            let id = cloud
                .source_create_snapshot(source_server_id, name, &ctx.marker())
                .await?;
            let image = within(
                &ctx.slot,
                ctx.timeouts.snapshot,
                "snapshot",
                "active",
                cloud.source_wait_image_active(&id, ctx.timeouts.snapshot),
            )
            .await?;
            let extra = extra(json!({"checksum": image.checksum, "size": image.size}));
            Ok(ctx.done(ctx.record(side, &id, Origin::Created, extra)))
        }
        Node::Image {
            name,
            disk_format,
            visibility,
            snapshot,
            transfer,
        } => {
            if updating {
                let id = change.id.clone().unwrap_or_default();
                cloud.target_set_image_visibility(&id, visibility).await?;
                return Ok(ctx.done(ctx.record(side, &id, change.origin, Map::new())));
            }
            if replacing && let Some(old) = &change.id {
                ignore_missing(cloud.target_delete_image(old).await)?;
            }
            let source_id = ctx.dep_id(snapshot)?;
            let image = cloud
                .target_create_image(&ImageSpec {
                    name: name.clone(),
                    disk_format: disk_format.clone(),
                    container_format: "bare".into(),
                    visibility: visibility.clone(),
                    properties: BTreeMap::new(),
                    marker: ctx.marker(),
                })
                .await?;
            // A target image whose bytes did not arrive whole, or not as sent, is deleted:
            // it is never left behind looking like a copy.
            let copy = super::port::CopySpec {
                disk_format: disk_format.clone(),
                transfer: *transfer,
            };
            let filled = fill_image(cloud, &ctx, &image.id, &source_id, &copy).await;
            let checksums = match filled {
                Ok(checksums) => checksums,
                Err(mut failure) => {
                    match cloud.target_delete_image(&image.id).await {
                        Ok(()) | Err(PortError::NotFound { .. }) => failure
                            .message
                            .push_str(&format!(" (the incomplete image {} was deleted)", image.id)),
                        Err(e) => failure.message.push_str(&format!(
                            " (deleting the incomplete image {} failed too: {e})",
                            image.id
                        )),
                    }
                    return Err(failure);
                }
            };
            let extra = extra(
                json!({"checksum": checksums.md5, "sha512": checksums.sha512, "size": checksums.size}),
            );
            Ok(ctx.done(ctx.record(side, &image.id, Origin::Created, extra)))
        }
        Node::Keypair {
            name,
            mode,
            public_key,
            ..
        } => match mode {
            KeypairMode::Import => {
                let key = public_key.clone().unwrap_or_default();
                let made = cloud.target_import_keypair(name, &key).await?;
                let extra = extra(json!({"fingerprint": made.fingerprint}));
                Ok(ctx.done(ctx.record(side, &made.name, Origin::Created, extra)))
            }
            KeypairMode::Create => {
                let made = cloud.target_create_keypair(name).await?;
                let extra = extra(json!({"fingerprint": made.keypair.fingerprint}));
                let mut output =
                    ctx.done(ctx.record(side, &made.keypair.name, Origin::Created, extra));
                output.generated_key = Some((address, PrivateKey(made.private_key)));
                Ok(output)
            }
            KeypairMode::Existing => Err(NodeFailure {
                diagnosis: Diagnosis::new(
                    "s2d::plan::missing_in_target",
                    Some(format!(
                        "import the key into the target (`openstack keypair create --public-key FILE {name}`), or use keypair = {{ import = \"{name}\" }}"
                    )),
                ),
                message: format!(
                    "{address}: keypair `{name}` (mode existing) is not in the target"
                ),
                records: Vec::new(),
            }),
        },
        Node::SecurityGroup { name, default } => {
            if *default {
                return Err(NodeFailure {
                    message: format!("{address}: the target has no `default` group"),
                    diagnosis: Diagnosis::new("s2d::plan::missing_in_target", Some("name a security group of the target in the plan, or let s2d make one (security_group = \"NAME\")".into())),
                    records: Vec::new(),
                });
            }
            let group = cloud
                .target_create_security_group(name, "made by s2d", &ctx.marker())
                .await?;
            Ok(ctx.done(ctx.record(side, &group.id, Origin::Created, Map::new())))
        }
        Node::SecurityGroupRule { group, rule } => {
            let group_id = ctx.dep_id(&Address::SecurityGroup {
                name: group.clone(),
            })?;
            let made = cloud
                .target_create_rule(&group_id, rule, &ctx.marker())
                .await?;
            Ok(ctx.done(ctx.record(side, &made.id, Origin::Created, Map::new())))
        }
        Node::Server {
            name,
            keypair,
            security_group,
            image,
            ..
        } => {
            if replacing && let Some(old) = &change.id {
                ignore_missing(cloud.target_delete_server(old).await)?;
                within(
                    &ctx.slot,
                    ctx.timeouts.delete,
                    "server",
                    "deleted",
                    cloud.target_wait_server_gone(old, ctx.timeouts.delete),
                )
                .await?;
            }
            let spec = ServerSpec {
                name: name.clone(),
                flavor_id: ctx.after_str("flavor_id")?,
                image_id: ctx.dep_id(image)?,
                network_id: ctx.after_str("network_id")?,
                key_name: keypair.clone(),
                security_groups: vec![security_group.clone()],
                marker: ctx.marker(),
            };
            let server = cloud.target_create_server(&spec).await?;
            let extra = extra(json!({"image_id": spec.image_id}));
            match within(
                &ctx.slot,
                ctx.timeouts.server,
                "server",
                "ACTIVE",
                cloud.target_wait_server_active(&server.id, ctx.timeouts.server),
            )
            .await
            {
                Ok(_) => Ok(ctx.done(ctx.record(side, &server.id, Origin::Created, extra))),
                Err(error) => Err(NodeFailure {
                    message: error.to_string(),
                    diagnosis: error.diagnosis(),
                    // It exists: record it, so the next plan replaces it and destroy deletes it.
                    records: vec![(
                        address,
                        Some(ctx.record(side, &server.id, Origin::Created, extra)),
                    )],
                }),
            }
        }
        Node::FloatingIp { server, choice } => {
            let server_id = ctx.dep_id(&Address::Server {
                name: server.clone(),
            })?;
            let (id, origin) = match (&change.id, choice) {
                (Some(id), _) => (id.clone(), change.origin),
                (None, FloatingIpChoice::Pool(_)) => {
                    let network_id = ctx.after_str("network_id")?;
                    let fip = cloud
                        .target_allocate_floating_ip(&network_id, &ctx.marker())
                        .await?;
                    (fip.id, Origin::Created)
                }
                (None, _) => {
                    return Err(NodeFailure {
                        message: format!("{address}: no floating IP to associate"),
                        diagnosis: Diagnosis::new(
                            "s2d::plan::incomplete",
                            Some("name a pool or an address in the plan's floating_ip".into()),
                        ),
                        records: Vec::new(),
                    });
                }
            };
            let made_record = |fip_address: Option<&str>| {
                ctx.record(
                    side,
                    &id,
                    origin,
                    extra(json!({"address": fip_address, "server_id": server_id})),
                )
            };
            match cloud.target_associate_floating_ip(&id, &server_id).await {
                Ok(fip) => Ok(ctx.done(made_record(Some(&fip.address)))),
                Err(error) => Err(NodeFailure {
                    message: error.to_string(),
                    diagnosis: error.diagnosis(),
                    records: vec![(address.clone(), Some(made_record(None)))],
                }),
            }
        }
    }
}

fn extra(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => Map::new(),
    }
}

/// Delete what a Delete change names, tolerating what is already gone.
async fn delete<C: CloudPort>(cloud: &C, ctx: &NodeCtx) -> Result<(), NodeFailure> {
    let change = &ctx.change;
    let id = change.id.clone().unwrap_or_default();
    match &change.address {
        Address::Snapshot { .. } => ignore_missing(cloud.source_delete_image(&id).await)?,
        Address::Image { .. } => ignore_missing(cloud.target_delete_image(&id).await)?,
        Address::Keypair { name } => {
            // By name: a pending placeholder has no id, but the keypair may exist.
            ignore_missing(cloud.target_delete_keypair(name).await)?
        }
        Address::SecurityGroup { .. } => {
            ignore_missing(cloud.target_delete_security_group(&id).await)?
        }
        Address::SecurityGroupRule { .. } => ignore_missing(cloud.target_delete_rule(&id).await)?,
        Address::Server { .. } => {
            ignore_missing(cloud.target_delete_server(&id).await)?;
            within(
                &ctx.slot,
                ctx.timeouts.delete,
                "server",
                "deleted",
                cloud.target_wait_server_gone(&id, ctx.timeouts.delete),
            )
            .await?;
        }
        Address::FloatingIp { .. } => {
            ignore_missing(cloud.target_disassociate_floating_ip(&id).await)?;
            ignore_missing(cloud.target_release_floating_ip(&id).await)?;
        }
    }
    Ok(())
}
