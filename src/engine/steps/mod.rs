//! The steps of one node when the walk runs it: what creating, replacing, updating, adopting
//! or deleting each kind of resource takes, as calls on the cloud port. A worker runs one
//! node and returns what to record ([`NodeOutput`]) or why it failed ([`NodeFailure`]); only
//! the coordinator in [`super::apply`] writes the state.

mod network;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::{Semaphore, mpsc};

use super::apply::{Event, PrivateKey, Timeouts};
use super::diff::{Action, Change};
use super::port::{
    CloudPort, Diagnosis, FipTarget, ImageSpec, ImageUpdate, Marker, NicSpec, PortError, Progress,
    ServerSpec, ServerUpdate,
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
    // An upload Glance refuses for its quota (images uploading at once, storage) waits
    // without its place under `transfers`, and goes again into the same (`queued`) image.
    let copied = quota_wait(ctx, || async {
        let _held = ctx.transfers.enter().await?;
        cloud
            .upload_image(image_id, source_id, copy, progress.clone())
            .await
    })
    .await;
    ctx.slot.acquire().await?;
    let checksums = copied?;
    let active = within(
        &ctx.slot,
        ctx.timeouts.image,
        "image",
        "active",
        cloud.wait_image_active(Side::Target, image_id, ctx.timeouts.image),
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
    let side = if matches!(address, Address::Snapshot { .. }) {
        Side::Source
    } else {
        Side::Target
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
    match node {
        Node::Snapshot { .. } => make_snapshot(&step, node).await,
        Node::Image { .. } => make_image(&step, node).await,
        Node::Keypair { .. } => make_keypair(&step, node).await,
        Node::SecurityGroup { .. } => make_security_group(&step, node).await,
        Node::SecurityGroupRule { .. } => make_rule(&step, node).await,
        Node::ServerGroup { .. } => make_server_group(&step, node).await,
        Node::Server { .. } => make_server(&step, node).await,
        Node::FloatingIp { .. } => make_floating_ip(&step, node).await,
        Node::Network { .. } | Node::Subnet { .. } | Node::Router { .. } | Node::Port { .. } => {
            network::make_net(&step, node).await
        }
    }
}

/// A snapshot of the source server (the old one deleted first when replacing), waited for
/// until active.
async fn make_snapshot<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::Snapshot {
        source_server_id,
        name,
        ..
    } = node
    else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    let side = step.side;
    let replacing = step.replacing;
    if let Some(old) = replacing {
        ignore_missing(cloud.delete_image(Side::Source, old).await)?;
    }
    // From createImage until the snapshot is active it takes a place under `--snapshots`;
    // the parallelism slot is given back while waiting for one.
    ctx.slot.release();
    let held = ctx.snapshots.enter().await;
    ctx.slot.acquire().await?;
    let _held = held?;
    let marker = ctx.marker();
    let id = quota_wait(ctx, || {
        cloud.create_snapshot(source_server_id, name, &marker)
    })
    .await?;
    let image = within(
        &ctx.slot,
        ctx.timeouts.snapshot,
        "snapshot",
        "active",
        cloud.wait_image_active(Side::Source, &id, ctx.timeouts.snapshot),
    )
    .await?;
    let extra = extra(json!({"checksum": image.checksum, "size": image.size}));
    Ok(ctx.done(ctx.record(side, &id, Origin::Created, extra)))
}

/// The target image: its visibility updated, or a new image filled with the snapshot's bytes
/// (an image whose bytes did not arrive whole, or not as sent, is deleted).
async fn make_image<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::Image {
        name,
        disk_format,
        visibility,
        snapshot,
        transfer,
        properties,
        drop_properties,
    } = node
    else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    let side = step.side;
    let replacing = step.replacing;
    let updating = step.updating;
    let change = step.change;
    if let Some(id) = updating {
        let mut update = ImageUpdate::default();
        for c in change.action.changes() {
            match c.name.strip_prefix("properties.") {
                _ if c.name == "visibility" => update.visibility = Some(visibility.clone()),
                Some(key) => match c.after.as_str() {
                    Some(value) => {
                        update.set.insert(key.to_string(), value.to_string());
                    }
                    None => update.remove.push(key.to_string()),
                },
                None => {}
            }
        }
        cloud.update_image(id, &update).await?;
        return Ok(ctx.done(ctx.record(side, id, change.origin, Map::new())));
    }
    if let Some(old) = replacing {
        ignore_missing(cloud.delete_image(Side::Target, old).await)?;
    }
    let source_id = ctx.dep_id(snapshot)?;
    // The snapshot's own boot properties (Nova's from the instance's image metadata), with
    // what was planned over them.
    let snap = within(
        &ctx.slot,
        ctx.timeouts.snapshot,
        "snapshot",
        "active",
        cloud.wait_image_active(Side::Source, &source_id, ctx.timeouts.snapshot),
    )
    .await?;
    let spec = ImageSpec {
        name: name.clone(),
        disk_format: disk_format.clone(),
        container_format: "bare".into(),
        visibility: visibility.clone(),
        properties: crate::graph::image_properties(&snap.properties, properties, drop_properties),
        min_disk: snap.min_disk,
        min_ram: snap.min_ram,
        marker: ctx.marker(),
    };
    let image = quota_wait(ctx, || cloud.create_image(&spec)).await?;
    // A target image whose bytes did not arrive whole, or not as sent, is deleted:
    // it is never left behind looking like a copy.
    let copy = super::port::CopySpec {
        disk_format: disk_format.clone(),
        transfer: *transfer,
    };
    let filled = fill_image(cloud, ctx, &image.id, &source_id, &copy).await;
    let checksums = match filled {
        Ok(checksums) => checksums,
        Err(mut failure) => {
            match cloud.delete_image(Side::Target, &image.id).await {
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

/// The keypair: imported with the source's public key, or generated by the target (its
/// private key handed back once).
async fn make_keypair<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::Keypair {
        name,
        mode,
        public_key,
        ..
    } = node
    else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    let side = step.side;
    let address = step.change.address.clone();
    match mode {
        KeypairMode::Import => {
            let key = public_key.clone().unwrap_or_default();
            let made = quota_wait(ctx, || cloud.import_keypair(name, &key)).await?;
            let extra = extra(json!({"fingerprint": made.fingerprint}));
            Ok(ctx.done(ctx.record(side, &made.name, Origin::Created, extra)))
        }
        KeypairMode::Create => {
            let made = quota_wait(ctx, || cloud.create_keypair(name)).await?;
            let extra = extra(json!({"fingerprint": made.keypair.fingerprint}));
            let mut output = ctx.done(ctx.record(side, &made.keypair.name, Origin::Created, extra));
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
            message: format!("{address}: keypair `{name}` (mode existing) is not in the target"),
            records: Vec::new(),
        }),
    }
}

/// A security group made by s2d (the target's `default` is only ever adopted).
async fn make_security_group<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::SecurityGroup { name, default } = node else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    let side = step.side;
    let address = step.change.address.clone();
    if *default {
        return Err(NodeFailure {
                message: format!("{address}: the target has no `default` group"),
                diagnosis: Diagnosis::new("s2d::plan::missing_in_target", Some("name a security group of the target in the plan, or let s2d make one (security_group = \"NAME\")".into())),
                records: Vec::new(),
            });
    }
    let marker = ctx.marker();
    let group = quota_wait(ctx, || {
        cloud.create_security_group(name, "made by s2d", &marker)
    })
    .await?;
    Ok(ctx.done(ctx.record(side, &group.id, Origin::Created, Map::new())))
}

/// A rule in its group.
async fn make_rule<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::SecurityGroupRule { group, rule } = node else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    let side = step.side;
    let group_id = ctx.dep_id(&Address::SecurityGroup {
        name: group.clone(),
    })?;
    let remote = match &rule.remote_group {
        Some(other) => Some(ctx.dep_id(&Address::SecurityGroup {
            name: other.clone(),
        })?),
        None => None,
    };
    let marker = ctx.marker();
    let made = quota_wait(ctx, || {
        cloud.create_rule(&group_id, rule, remote.as_deref(), &marker)
    })
    .await?;
    Ok(ctx.done(ctx.record(side, &made.id, Origin::Created, Map::new())))
}

/// The server (the old one deleted and gone first when replacing), waited for until ACTIVE; a
/// server that fails to start is recorded so the next plan replaces it.
async fn make_server<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::Server {
        name,
        keypair,
        security_groups,
        image,
        boot,
        server_group,
        nics,
        ..
    } = node
    else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    let side = step.side;
    let replacing = step.replacing;
    let address = step.change.address.clone();
    if let Some(id) = step.updating {
        let mut update = ServerUpdate::default();
        for c in step.change.action.changes() {
            match c.name.as_str() {
                "metadata" => update.metadata = Some(boot.metadata.clone()),
                "tags" => update.tags = Some(boot.tags.clone()),
                "description" => update.description = boot.description.clone(),
                _ => {}
            }
        }
        cloud.update_server(id, &update).await?;
        return Ok(ctx.done(ctx.record(side, id, step.change.origin, Map::new())));
    }
    let user_data = match &boot.user_data {
        None => None,
        Some(wanted) => Some(user_data_of(cloud, wanted).await?),
    };
    let group_id = match server_group {
        Some(name) => Some(ctx.dep_id(&Address::ServerGroup { name: name.clone() })?),
        None => None,
    };
    if let Some(old) = replacing {
        ignore_missing(cloud.delete_server(old).await)?;
        within(
            &ctx.slot,
            ctx.timeouts.delete,
            "server",
            "deleted",
            cloud.wait_server_gone(old, ctx.timeouts.delete),
        )
        .await?;
    }
    let spec = ServerSpec {
        name: name.clone(),
        flavor_id: ctx.after_str("flavor_id")?,
        image_id: ctx.dep_id(image)?,
        nics: nic_specs(ctx, name, nics)?,
        key_name: keypair.clone(),
        // Nova applies the groups to the ports it makes; s2d's ports have theirs already.
        security_groups: if nics.iter().all(|n| n.port) {
            Vec::new()
        } else {
            security_groups.clone()
        },
        boot: (**boot).clone(),
        user_data,
        group_id,
        marker: ctx.marker(),
    };
    let server = quota_wait(ctx, || cloud.create_server(&spec)).await?;
    let extra = extra(json!({"image_id": spec.image_id}));
    match within(
        &ctx.slot,
        ctx.timeouts.server,
        "server",
        "ACTIVE",
        cloud.wait_server_active(&server.id, ctx.timeouts.server),
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

/// The server's NICs in order: s2d's port, a built network, or a network of the target (its
/// id as planned).
fn nic_specs(ctx: &NodeCtx, server: &str, nics: &[ServerNic]) -> Result<Vec<NicSpec>, NodeFailure> {
    let planned = ctx.change.after.as_ref().and_then(|a| a.get("nics"));
    nics.iter()
        .enumerate()
        .map(|(index, nic)| {
            if nic.port {
                return Ok(NicSpec::Port(ctx.dep_id(&Address::Port {
                    server: server.to_string(),
                    index,
                })?));
            }
            if nic.built {
                return Ok(NicSpec::Network(ctx.dep_id(&Address::Network {
                    name: nic.network.clone(),
                })?));
            }
            planned
                .and_then(|n| n.get(index))
                .and_then(|n| n.get("network_id"))
                .and_then(Value::as_str)
                .map(|id| NicSpec::Network(id.to_string()))
                .ok_or_else(|| NodeFailure {
                    message: format!(
                        "the plan has no network id for NIC {index} of {}",
                        ctx.change.address
                    ),
                    diagnosis: Diagnosis::new(
                        "s2d::plan::incomplete",
                        Some("run `s2d plan --out` again with this s2d".into()),
                    ),
                    records: Vec::new(),
                })
        })
        .collect()
}

/// Where the floating IP goes: s2d's port of the NIC, else the server's port on that NIC's
/// network (as planned: see the refresh of a floating IP).
fn fip_target(ctx: &NodeCtx) -> Result<FipTarget, NodeFailure> {
    let nic = ctx.change.after.as_ref().and_then(|a| a.get("nic"));
    let text = |key: &str| nic.and_then(|n| n.get(key)).and_then(Value::as_str);
    if let Some(port) = text("port") {
        let address: Address = port.parse().map_err(|_| NodeFailure {
            message: format!("`{port}` is not a port address"),
            diagnosis: Diagnosis::new("s2d::plan::incomplete", None),
            records: Vec::new(),
        })?;
        return Ok(FipTarget::Port(ctx.dep_id(&address)?));
    }
    if let Some(id) = text("network_id") {
        return Ok(FipTarget::Network(Some(id.to_string())));
    }
    match text("network") {
        Some(name) => Ok(FipTarget::Network(Some(ctx.dep_id(&Address::Network {
            name: name.to_string(),
        })?))),
        None => Ok(FipTarget::Network(None)),
    }
}

/// The user data as planned: the plan's file or the source's, read again now and refused
/// when it is not what was planned (its digest differs).
async fn user_data_of<C: CloudPort>(
    cloud: &C,
    wanted: &UserDataRef,
) -> Result<String, NodeFailure> {
    let (text, what) = match wanted {
        UserDataRef::File { path, .. } => (
            crate::files::user_data(std::path::Path::new(path))
                .map_err(|e| NodeFailure {
                    message: format!("user data file {path}: {e}"),
                    diagnosis: Diagnosis::new(
                        "s2d::plan::user_data",
                        Some(
                            "the plan's user_data file must stay where it was when planned".into(),
                        ),
                    ),
                    records: Vec::new(),
                })?
                .0,
            format!("the user data file {path}"),
        ),
        UserDataRef::Source { server_id, .. } => (
            cloud.source_user_data(server_id).await?.unwrap_or_default(),
            format!("the user data of source server {server_id}"),
        ),
    };
    if crate::files::user_data_digest(&text) != wanted.sha256() {
        return Err(NodeFailure {
            message: format!("{what} changed since the plan was made"),
            diagnosis: Diagnosis::new(
                "s2d::plan::stale",
                Some("run `s2d plan` again to see the change, then apply".into()),
            ),
            records: Vec::new(),
        });
    }
    Ok(text)
}

/// The server group: made with its policy (a pending record, written when the step starts,
/// lets the next plan adopt a group made by a run that died before it recorded it).
async fn make_server_group<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::ServerGroup { name, policy, .. } = node else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    if let Some(old) = step.replacing {
        ignore_missing(cloud.delete_server_group(old).await)?;
    }
    let made = quota_wait(ctx, || cloud.create_server_group(name, policy)).await?;
    Ok(ctx.done(ctx.record(step.side, &made.id, Origin::Created, Map::new())))
}

/// The floating IP: allocated from the pool unless one is named or recorded, then associated
/// with the server.
async fn make_floating_ip<C: CloudPort>(
    step: &Step<'_, C>,
    node: &Node,
) -> Result<NodeOutput, NodeFailure> {
    let Node::FloatingIp { server, choice, .. } = node else {
        return Err(step.not_made());
    };
    let cloud = step.cloud;
    let ctx = step.ctx;
    let side = step.side;
    let change = step.change;
    let address = step.change.address.clone();
    let server_id = ctx.dep_id(&Address::Server {
        name: server.clone(),
    })?;
    let (id, origin) = match (change.id(), choice) {
        (Some(id), _) => (id.to_string(), change.origin),
        (None, FloatingIpChoice::Pool(_)) => {
            let network_id = ctx.after_str("network_id")?;
            let marker = ctx.marker();
            let fip = quota_wait(ctx, || cloud.allocate_floating_ip(&network_id, &marker)).await?;
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
    let to = fip_target(ctx)?;
    match cloud.associate_floating_ip(&id, &server_id, &to).await {
        Ok(fip) => Ok(ctx.done(made_record(Some(&fip.address)))),
        Err(error) => Err(NodeFailure {
            message: error.to_string(),
            diagnosis: error.diagnosis(),
            records: vec![(address.clone(), Some(made_record(None)))],
        }),
    }
}

fn extra(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => Map::new(),
    }
}

/// Delete what a Delete change names by its id, tolerating what is already gone.
async fn delete<C: CloudPort>(cloud: &C, ctx: &NodeCtx, id: &str) -> Result<(), NodeFailure> {
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
    }
    Ok(())
}
