//! Apply and destroy: carry out a [`PlanOutcome`] with [`walk`](super::walk::walk).
//!
//! The walk graph holds every change that does something (no-ops are already done), with an
//! edge from each dependency to its dependent; deletions run in reverse, so a server goes
//! before its group, rules, keypair and image. Workers make the cloud calls and return what to
//! record; only the coordinator (the walk's `on_event`) writes the state, committing after
//! every node that changed something, and sends the [`Event`]s. Before a worker sends a
//! create, the coordinator commits a *pending* placeholder for it (an [`Intent`]): a create
//! whose answer was lost (s2d killed mid-request) may show in the cloud only after the next
//! plan has listed it, and the placeholder is how that plan knows to wait for it
//! ([`super::pending`]), and how destroy knows to look for it.
//!
//! Knows nothing of terminals; it never prints.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::diff::{Action, Change, PlanOutcome};
use super::port::{CloudPort, Diagnosis, PortError};
use super::steps::{Intent, Limit, NodeCtx, NodeFailure, NodeOutput, OpSlot, run_node};
use super::walk::{Outcome, Stop, WalkEvent, walk};
use crate::graph::Address;
use crate::state::{Resource, StateError, StateFile};

/// How long to wait for things to become ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub snapshot: Duration,
    pub image: Duration,
    pub server: Duration,
    pub delete: Duration,
    /// How long a volume, a volume snapshot or an upload of a volume into an image may take
    /// to become available (`--volume-timeout`).
    pub volume: Duration,
    /// How long one create may wait, in all, for a quota that refuses it to allow it
    /// (`--quota-timeout`; see `steps::quota_wait`).
    pub quota: Duration,
    /// How long after a create whose answer was lost (its pending record) destroy waits for
    /// it to show before it takes it for never made ([`super::pending::SETTLE`]).
    pub settle: Duration,
}

/// Options for apply and destroy (their defaults are the workflow's, `workflow::defaults`).
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// `--parallelism`: nodes making cloud calls at once. A node that only waits
    /// (for a snapshot, an upload, a server to boot) gives its slot back meanwhile.
    pub parallelism: NonZeroUsize,
    /// Image transfers running at once (a second, smaller limit).
    pub transfers: NonZeroUsize,
    /// Snapshots being taken in the source at once, from createImage until active (Nova
    /// takes 5 at a time per compute host by default, and a tenant cannot see the hosts).
    pub snapshots: NonZeroUsize,
    pub timeouts: Timeouts,
    /// Graceful and hard stop (Ctrl-C once, twice).
    pub stop: Stop,
    /// Where progress goes; `None` to drop it.
    pub events: Option<mpsc::UnboundedSender<Event>>,
}

impl ApplyOptions {
    /// Options with these limits (0 counts as 1; snapshots as many as `parallelism` until set
    /// otherwise), no stop requested and no events.
    pub fn new(parallelism: u32, transfers: u32, timeouts: Timeouts) -> ApplyOptions {
        ApplyOptions {
            parallelism: at_least_one(parallelism),
            transfers: at_least_one(transfers),
            snapshots: at_least_one(parallelism),
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
    /// A create was refused for a quota the plan could not foresee (Glance's images uploading
    /// at once, another user's servers or floating IPs): it waits and is tried again, for at
    /// most `limit_s` seconds. Sent once per wait, with the cloud's refusal.
    WaitingForQuota {
        address: Address,
        message: String,
        limit_s: u64,
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
#[derive(Debug, Clone, Default, Serialize)]
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
    /// The most snapshots and image copies that were in flight at one moment.
    #[serde(default)]
    pub peak: Peak,
}

/// High-water marks of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peak {
    pub snapshots: usize,
    pub transfers: usize,
}

/// A limit given as a count: 0 counts as 1.
pub fn at_least_one(n: u32) -> NonZeroUsize {
    NonZeroUsize::new(n as usize).unwrap_or(NonZeroUsize::MIN)
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
pub struct PrivateKey(pub(super) String);

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
    let plan = super::diff::diff_destroy(state.state(), targets);
    execute(cloud, &plan, state, options).await
}

/// The walk graph: every change that does something; deletions ordered in reverse.
fn walk_graph(plan: &PlanOutcome) -> DiGraph<Change, ()> {
    let mut graph = DiGraph::new();
    let mut index: BTreeMap<Address, NodeIndex> = BTreeMap::new();
    for change in &plan.changes {
        if !change.action.is_no_op() {
            index.insert(change.address.clone(), graph.add_node(change.clone()));
        }
    }
    for change in &plan.changes {
        let Some(&me) = index.get(&change.address) else {
            continue;
        };
        let removing = matches!(change.action, Action::Delete { .. } | Action::Forget { .. });
        for dep in &change.depends_on {
            let Some(&other) = index.get(dep) else {
                continue;
            };
            let other_removing = matches!(
                graph[other].action,
                Action::Delete { .. } | Action::Forget { .. }
            );
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
                    .filter_map(|c| Some((c.address.clone(), c.id()?.to_string()))),
            )
            .collect(),
    );
    let transfers = Limit::new(options.transfers);
    let snapshots = Limit::new(options.snapshots);
    let ops = Arc::new(Semaphore::new(options.parallelism.get()));
    let emit = |event: Event| {
        if let Some(tx) = &options.events {
            let _ = tx.send(event);
        }
    };
    let state_cell = Mutex::new(state);
    let mut generated_keys = Vec::new();
    let state_error: Mutex<Option<String>> = Mutex::new(None);
    let (intents, mut intended) = mpsc::unbounded_channel::<Intent>();

    let run = |_index: NodeIndex, change: &Change, hard: CancellationToken| {
        let ctx = NodeCtx {
            change: change.clone(),
            ids: lock(&ids).clone(),
            lineage: lineage.clone(),
            timeouts: options.timeouts,
            transfers: transfers.clone(),
            snapshots: snapshots.clone(),
            events: options.events.clone(),
            slot: OpSlot::new(ops.clone()),
            intents: intents.clone(),
            created: Default::default(),
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
                commit(&mut file, &emit, &state_error)
            }
        }
    };

    // Every ready node starts; `ops` bounds how many make calls at once (see [`OpSlot`]).
    let starts = NonZeroUsize::new(graph.node_count()).unwrap_or(NonZeroUsize::MIN);
    // The walk, and meanwhile the pending records workers ask for before a create. The walk
    // is polled first, and the intents after it, every time: a remote state is written with
    // a nested `block_on` on this thread (`StateFile::commit`), which takes any wake-up that
    // arrives meanwhile, so a future must be polled again after every write, never left
    // waiting on a wake-up registered before one.
    let summary = {
        let walking = walk(&graph, starts, &options.stop, run, on_event);
        tokio::pin!(walking);
        loop {
            tokio::select! {
                biased;
                summary = &mut walking => break summary,
                Some(intent) = intended.recv() => {
                    let written = pend(&state_cell, intent.address, intent.pending, &emit, &state_error);
                    let _ = intent.written.send(written);
                }
            }
        }
    };
    let state_error = state_error.into_inner().unwrap_or_else(|e| e.into_inner());

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
        peak: Peak {
            snapshots: snapshots.peak(),
            transfers: transfers.peak(),
        },
    }
}

/// Commit a pending record before a create (see `NodeCtx::creating`): refused once the state
/// could not be written, so nothing is made that the state cannot hold.
fn pend(
    state_cell: &Mutex<&mut StateFile>,
    address: Address,
    pending: Resource,
    emit: &impl Fn(Event),
    state_error: &Mutex<Option<String>>,
) -> Result<(), String> {
    if let Some(message) = lock(state_error).clone() {
        return Err(message);
    }
    let mut file = lock(state_cell);
    let previous = file.state().get(&address).cloned();
    file.state_mut().record(address.clone(), pending);
    match commit(&mut file, emit, state_error) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => {
            // Not sent: the record must not reach the state with a later write either.
            match previous {
                Some(resource) => file.state_mut().record(address, resource),
                None => {
                    file.state_mut().forget(&address);
                }
            }
            Err(lock(state_error).clone().unwrap_or_default())
        }
    }
}

fn commit(
    file: &mut StateFile,
    emit: &impl Fn(Event),
    state_error: &Mutex<Option<String>>,
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
            *lock(state_error) = Some(message);
            ControlFlow::Break(())
        }
    }
}
