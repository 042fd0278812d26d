//! The steps of one node when the walk runs it: what creating, replacing, updating, adopting
//! or deleting each kind of resource takes, as calls on the cloud port. A worker runs one
//! node and returns what to record ([`NodeOutput`]) or why it failed ([`NodeFailure`]); only
//! the coordinator in [`super::apply`] writes the state.

mod floating_ip;
mod image;
mod keypair;
mod network;
mod security_groups;
mod server;
mod volume;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::apply::{Event, PrivateKey, Timeouts};
use super::diff::{Action, Change};
use super::port::{
    BootVolume, CloudPort, Diagnosis, FipTarget, ImageSpec, ImageUpdate, Marker, NicSpec,
    PortError, Progress, ServerSpec, ServerUpdate,
};
use crate::graph::{Address, FloatingIpChoice, KeypairMode, Node, ServerNic, UserDataRef};
use crate::state::{Origin, Resource, Side, now_rfc3339};

/// What a node did, to be recorded by the coordinator.
#[derive(Debug, Default)]
pub(super) struct NodeOutput {
    /// `None` removes the record.
    pub(super) records: Vec<(Address, Option<Resource>)>,
    pub(super) generated_key: Option<(Address, PrivateKey)>,
}

#[derive(Debug)]
pub(super) struct NodeFailure {
    pub(super) message: String,
    pub(super) diagnosis: Diagnosis,
    /// What was made before the failure (e.g. a server that went to ERROR).
    pub(super) records: Vec<(Address, Option<Resource>)>,
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

/// Everything a worker needs, owned, so it can run on its own task.
pub(super) struct NodeCtx {
    pub(super) change: Change,
    /// Cloud ids of everything recorded so far, by address.
    pub(super) ids: BTreeMap<Address, String>,
    pub(super) lineage: String,
    pub(super) timeouts: Timeouts,
    /// `--transfers`: image copies at once.
    pub(super) transfers: Limit,
    /// `--snapshots`: source snapshots at once.
    pub(super) snapshots: Limit,
    pub(super) events: Option<mpsc::UnboundedSender<Event>>,
    /// This node's share of `--parallelism`, given back while it only waits.
    pub(super) slot: OpSlot,
    /// To the coordinator: a create is about to be sent (see [`NodeCtx::creating`]).
    pub(super) intents: mpsc::UnboundedSender<Intent>,
    /// Set once the cloud has answered this node's create.
    pub(super) created: std::sync::atomic::AtomicBool,
}

/// A create about to be sent: the coordinator commits `pending` (a placeholder record) for
/// `address` and answers once it is written (or why it could not be).
pub(super) struct Intent {
    pub(super) address: Address,
    pub(super) pending: Resource,
    pub(super) written: oneshot::Sender<Result<(), String>>,
}

/// A limit on something in flight (snapshots, image copies), which remembers the most that
/// ever were at once.
#[derive(Clone)]
pub(super) struct Limit {
    semaphore: Arc<Semaphore>,
    gauge: Arc<(AtomicUsize, AtomicUsize)>,
}

/// One place under a [`Limit`]; given back when dropped.
pub(super) struct Held {
    _permit: tokio::sync::OwnedSemaphorePermit,
    gauge: Arc<(AtomicUsize, AtomicUsize)>,
}

impl Limit {
    pub(super) fn new(limit: std::num::NonZeroUsize) -> Limit {
        Limit {
            semaphore: Arc::new(Semaphore::new(limit.get())),
            gauge: Arc::new((AtomicUsize::new(0), AtomicUsize::new(0))),
        }
    }

    pub(super) async fn enter(&self) -> Result<Held, PortError> {
        let permit = self
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PortError::Cancelled)?;
        let now = self.gauge.0.fetch_add(1, Ordering::SeqCst) + 1;
        self.gauge.1.fetch_max(now, Ordering::SeqCst);
        Ok(Held {
            _permit: permit,
            gauge: self.gauge.clone(),
        })
    }

    /// The most that were in flight at once.
    pub(super) fn peak(&self) -> usize {
        self.gauge.1.load(Ordering::SeqCst)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.gauge.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A permit of the parallelism semaphore that a node holds while it makes calls and gives
/// back while it waits for the cloud (a snapshot, an upload, a server to boot): parallelism
/// bounds the work in flight, and twenty servers booting at once do not block the rest.
pub(super) struct OpSlot {
    semaphore: Arc<Semaphore>,
    permit: std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>,
}

impl OpSlot {
    pub(super) fn new(semaphore: Arc<Semaphore>) -> OpSlot {
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

    fn held(&self) -> bool {
        self.permit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
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

    /// Send a create whose answer may be lost: s2d killed while the cloud carries it out, or
    /// the connection cut. A pending record is committed before the request, so the next
    /// plan waits for what the cloud was still making and adopts it by its marker (or, for a
    /// keypair or a server group, by its name), and destroy looks for it. When the cloud
    /// refuses the create (a 4xx answer: nothing was made) the record goes with the failure.
    async fn creating<T, F, Fut>(&self, side: Side, call: F) -> Result<T, NodeFailure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, PortError>>,
    {
        let address = self.change.address.clone();
        let mut pending = self.record(side, "", Origin::Created, Map::new());
        pending.attributes.insert("pending".into(), json!(true));
        let (written, answer) = oneshot::channel();
        let sent = self.intents.send(Intent {
            address: address.clone(),
            pending,
            written,
        });
        let answer = match sent {
            Ok(()) => answer
                .await
                .unwrap_or_else(|_| Err("the apply stopped".into())),
            Err(_) => Err("the apply stopped".into()),
        };
        if let Err(message) = answer {
            return Err(NodeFailure {
                message: format!(
                    "{address}: not made, its pending record was not written: {message}"
                ),
                diagnosis: Diagnosis::new(
                    "s2d::state::write",
                    Some(
                        "nothing was sent to the cloud; check the state's location and run again"
                            .into(),
                    ),
                ),
                records: Vec::new(),
            });
        }
        let answered = quota_wait(self, call).await;
        if answered.is_ok() {
            self.created.store(true, Ordering::SeqCst);
        }
        answered.map_err(|error| {
            let refused = matches!(
                &error,
                PortError::Api { status: Some(status), .. } if (400..500).contains(status) && *status != 408
            );
            let mut failure = NodeFailure::from(error);
            if refused {
                failure.records.push((address, None));
            }
            failure
        })
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

/// The code of a quota refusal (Nova's 403 "Quota exceeded", Neutron's 409 `OverQuota`,
/// Glance's 413), as `cloud::Error::code` gives it.
const QUOTA: &str = "s2d::cloud::quota";
/// The first pause of a quota wait; each next one twice as long, at most [`QUOTA_PAUSE_MAX`].
const QUOTA_PAUSE: Duration = Duration::from_secs(1);
const QUOTA_PAUSE_MAX: Duration = Duration::from_secs(15);

fn is_quota(error: &PortError) -> bool {
    matches!(error, PortError::Api { diagnosis, .. } if diagnosis.code == QUOTA)
}

/// Run a create that a quota the plan could not foresee may refuse, and wait for room.
///
/// A quota refusal is a definite "no": the cloud made nothing (Nova checks before it builds,
/// Neutron before it inserts, Glance puts a refused upload's image back to `queued`), so the
/// call is sent again, unlike a create whose answer was lost (that one is looked up by its
/// marker first, inside `call`: `cloud::create_or_adopt`). Pauses from 1 s doubling to 15 s
/// (with jitter), the node's parallelism slot given back meanwhile, until `timeouts.quota`
/// has passed since the first refusal; then the last refusal is the node's failure
/// (`s2d::cloud::quota`, its help), saying how long it waited. The first refusal of a wait
/// is told once ([`Event::WaitingForQuota`]); any other failure ends the wait at once.
async fn quota_wait<T, F, Fut>(ctx: &NodeCtx, mut call: F) -> Result<T, PortError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, PortError>>,
{
    let limit = ctx.timeouts.quota;
    let mut since: Option<tokio::time::Instant> = None;
    let mut pause = QUOTA_PAUSE;
    loop {
        let error = match call().await {
            Err(error) if is_quota(&error) => error,
            other => return other,
        };
        let now = tokio::time::Instant::now();
        let first = since.is_none();
        let waited = now - *since.get_or_insert(now);
        if waited >= limit {
            return Err(match error {
                PortError::Api {
                    call,
                    status,
                    message,
                    diagnosis,
                } => PortError::Api {
                    call,
                    status,
                    message: format!(
                        "{message} (still refused after waiting {}s for the quota; --quota-timeout sets how long)",
                        waited.as_secs()
                    ),
                    diagnosis,
                },
                other => other,
            });
        }
        if first && let Some(tx) = &ctx.events {
            let _ = tx.send(Event::WaitingForQuota {
                address: ctx.change.address.clone(),
                message: error.to_string(),
                limit_s: limit.as_secs(),
            });
        }
        tracing::debug!(address = %ctx.change.address, error = %error, "waiting for quota");
        let nap = pause
            .mul_f64(0.5 + fastrand::f64() * 0.5)
            .min(limit - waited);
        pause = (pause * 2).min(QUOTA_PAUSE_MAX);
        let held = ctx.slot.held();
        if held {
            ctx.slot.release();
        }
        tokio::time::sleep(nap).await;
        if held {
            ctx.slot.acquire().await?;
        }
    }
}

fn ignore_missing(result: Result<(), PortError>) -> Result<(), PortError> {
    match result {
        Err(PortError::NotFound { .. }) => Ok(()),
        other => other,
    }
}

/// What every step needs: the cloud, the node's context and change, the side it is made in,
/// and the id of what it replaces or updates.
struct Step<'a, C> {
    cloud: &'a C,
    ctx: &'a NodeCtx,
    change: &'a Change,
    side: Side,
    /// Replacing: the old one's id (deleted before the new one is made).
    replacing: Option<&'a str>,
    /// Updating in place: its id.
    updating: Option<&'a str>,
}

impl<C> Step<'_, C> {
    /// The failure of a step called for a node of another kind (a bug in the dispatch).
    fn not_made(&self) -> NodeFailure {
        NodeFailure {
            message: format!(
                "{}: no step makes this kind of resource",
                self.change.address
            ),
            diagnosis: Diagnosis::new("s2d::engine::bug", None),
            records: Vec::new(),
        }
    }
}

/// Run one node: adopt, forget, delete, or make it with the step of its kind.
pub(super) async fn run_node<C: CloudPort>(
    cloud: &C,
    ctx: NodeCtx,
) -> Result<NodeOutput, NodeFailure> {
    ctx.slot.acquire().await?;
    let change = &ctx.change;
    let address = change.address.clone();
    let side = match volume::side_of(&address) {
        Some(side) => side,
        None if matches!(address, Address::Snapshot { .. }) => Side::Source,
        None => Side::Target,
    };
    match &change.action {
        Action::NoOp { .. } => return Ok(NodeOutput::default()),
        Action::Forget { .. } => {
            return Ok(NodeOutput {
                records: vec![(address, None)],
                generated_key: None,
            });
        }
        Action::Delete { id } => {
            delete(cloud, &ctx, id).await?;
            return Ok(NodeOutput {
                records: vec![(address, None)],
                generated_key: None,
            });
        }
        Action::Adopt { id } => {
            if let Some(Node::Server { .. }) = &change.node {
                // An orphan found after a crash may still be building.
                within(
                    &ctx.slot,
                    ctx.timeouts.server,
                    "server",
                    "ACTIVE",
                    cloud.wait_server_active(id, ctx.timeouts.server),
                )
                .await?;
            }
            if let Some(Node::Volume { stage, .. }) = &change.node {
                // Found after a crash: it may still be on its way.
                volume::wait_ready(cloud, &ctx, *stage, id).await?;
            }
            return Ok(ctx.done(ctx.record(side, id, change.origin, Map::new())));
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
    let step = Step {
        cloud,
        ctx: &ctx,
        change,
        side,
        replacing: match &change.action {
            Action::Replace { id, .. } => Some(id),
            _ => None,
        },
        updating: match &change.action {
            Action::Update { id, .. } => Some(id),
            _ => None,
        },
    };
    let made = match node {
        Node::Snapshot { .. } => image::make_snapshot(&step, node).await,
        Node::Image { .. } => image::make_image(&step, node).await,
        Node::Keypair { .. } => keypair::make_keypair(&step, node).await,
        Node::SecurityGroup { .. } => security_groups::make_security_group(&step, node).await,
        Node::SecurityGroupRule { .. } => security_groups::make_rule(&step, node).await,
        Node::ServerGroup { .. } => server::make_server_group(&step, node).await,
        Node::Server { .. } => server::make_server(&step, node).await,
        Node::FloatingIp { .. } => floating_ip::make_floating_ip(&step, node).await,
        Node::Network { .. } | Node::Subnet { .. } | Node::Router { .. } | Node::Port { .. } => {
            network::make_net(&step, node).await
        }
        Node::Volume { .. } => volume::make_volume(&step, node).await,
    };
    // A step that failed after its create was answered either recorded what it made (a
    // server in ERROR) or deleted it (an image whose bytes did not arrive whole); what it
    // left unrecorded carries its marker. Its pending record is not needed either way: the
    // next plan must not wait for a create that was answered.
    made.map_err(|mut failure| {
        if ctx.created.load(Ordering::SeqCst) && !failure.records.iter().any(|(a, _)| a == &address)
        {
            failure.records.push((address, None));
        }
        failure
    })
}

fn extra(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => Map::new(),
    }
}

/// Delete what a Delete change names by its id, tolerating what is already gone.
async fn delete<C: CloudPort>(cloud: &C, ctx: &NodeCtx, id: &str) -> Result<(), NodeFailure> {
    // A create whose answer was lost: what carries its marker, once it shows (or nothing).
    let looked_up;
    let id = match id.strip_prefix(super::pending::PENDING_SINCE) {
        Some(since) => {
            looked_up = super::pending::look_up(
                cloud,
                &ctx.lineage,
                &ctx.change.address,
                since,
                ctx.timeouts.settle,
            )
            .await?;
            match &looked_up {
                Some(id) => id.as_str(),
                None => return Ok(()),
            }
        }
        None => id,
    };
    match &ctx.change.address {
        Address::Snapshot { .. } => ignore_missing(cloud.delete_image(Side::Source, id).await)?,
        Address::Image { .. } => ignore_missing(cloud.delete_image(Side::Target, id).await)?,
        // A keypair's id is its name (also for a pending placeholder, see `diff::removal`).
        Address::Keypair { .. } => ignore_missing(cloud.delete_keypair(id).await)?,
        Address::SecurityGroup { .. } => ignore_missing(cloud.delete_security_group(id).await)?,
        Address::SecurityGroupRule { .. } => ignore_missing(cloud.delete_rule(id).await)?,
        Address::ServerGroup { .. } => match id.strip_prefix(super::diff::PENDING_GROUP) {
            // A run died between creating the group and recording it: the group of that name
            // is s2d's when it is the only one and has no members.
            Some(name) => {
                let groups = cloud.server_groups().await?;
                let named: Vec<_> = groups.iter().filter(|g| g.name == name).collect();
                if let [one] = named.as_slice()
                    && one.members.is_empty()
                {
                    ignore_missing(cloud.delete_server_group(&one.id).await)?;
                }
            }
            None => ignore_missing(cloud.delete_server_group(id).await)?,
        },
        Address::Server { .. } => {
            ignore_missing(cloud.delete_server(id).await)?;
            within(
                &ctx.slot,
                ctx.timeouts.delete,
                "server",
                "deleted",
                cloud.wait_server_gone(id, ctx.timeouts.delete),
            )
            .await?;
        }
        Address::FloatingIp { .. } => {
            ignore_missing(cloud.disassociate_floating_ip(id).await)?;
            ignore_missing(cloud.release_floating_ip(id).await)?;
        }
        Address::Network { .. }
        | Address::Subnet { .. }
        | Address::Router { .. }
        | Address::Port { .. } => {
            if let Some(kind) = network::kind_of(&ctx.change.address) {
                ignore_missing(cloud.delete_net(kind, id).await)?;
            }
        }
        Address::Volume { stage, .. } => volume::remove(cloud, ctx, *stage, id).await?,
    }
    Ok(())
}
