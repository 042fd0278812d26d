//! The engine's port to the two clouds: every lookup and mutation the engine needs, in engine
//! terms (names, ids, rules, markers), not OpenStack JSON, one trait per resource
//! ([`SourceServers`], [`Images`], [`Catalog`], [`Keypairs`], [`SecurityGroups`],
//! [`ServerGroups`], [`Servers`], [`FloatingIps`], [`Networking`], [`Volumes`]; [`CloudPort`] is all
//! of them). The real adapter over `cloud` and the
//! scripted fake in the tests implement them.
//!
//! Knows nothing of HTTP, microversions or the state file. Lookups that feed the refresh return
//! `Option` (gone is a state, not an error). Every resource s2d creates carries a [`Marker`]
//! (the state's lineage and the resource's address) that the adapter stores as metadata,
//! tags, properties or a description, and decodes again on reads, so that after a kill -9
//! between "created" and "state written" the next plan finds the orphan and adopts it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::graph::{
    Address, AddressPair, Boot, FlavorSpec, Rule, ServerBoot, SourceGroup, SourceNetwork,
    SourceNic, SourceVolume, SubnetSpec, TransferMode,
};
pub use crate::state::Side;
pub use crate::transfer::Checksums;

/// The metadata key of the lineage marker.
pub const MARKER_LINEAGE: &str = "s2d_lineage";
/// The metadata key of the address marker.
pub const MARKER_ADDRESS: &str = "s2d_address";

/// What s2d writes on everything it creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub lineage: String,
    pub address: Address,
}

impl Marker {
    /// As key/value metadata (`s2d_lineage`, `s2d_address`).
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MARKER_LINEAGE.to_string(), self.lineage.clone()),
            (MARKER_ADDRESS.to_string(), self.address.to_string()),
        ])
    }

    /// Read back from key/value metadata; `None` unless both keys are there and valid.
    pub fn from_metadata(metadata: &BTreeMap<String, String>) -> Option<Marker> {
        Some(Marker {
            lineage: metadata.get(MARKER_LINEAGE)?.clone(),
            address: metadata.get(MARKER_ADDRESS)?.parse().ok()?,
        })
    }
}

/// A flavor in a cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flavor {
    pub id: String,
    pub spec: FlavorSpec,
}

/// A keypair (never its private key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keypair {
    pub name: String,
    pub public_key: String,
    pub fingerprint: String,
}

/// A keypair the target cloud generated: the private key is handed to the user once and is
/// never written to the state.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedKeypair {
    pub keypair: Keypair,
    pub private_key: String,
}

impl std::fmt::Debug for GeneratedKeypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKeypair")
            .field("keypair", &self.keypair)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// A rule as it exists in a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    pub id: String,
    pub rule: Rule,
    pub marker: Option<Marker>,
}

/// A security group with its rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub rules: Vec<RuleInfo>,
    pub marker: Option<Marker>,
}

/// A source server with everything the plan needs from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceServer {
    pub id: String,
    pub name: String,
    pub status: String,
    pub flavor: FlavorSpec,
    pub security_groups: Vec<SecurityGroup>,
    pub key_name: Option<String>,
    /// The keypair named by `key_name`, if the source still has it.
    pub keypair: Option<Keypair>,
    /// The image it was booted from, and that image's disk format.
    pub image_id: Option<String>,
    pub image_disk_format: Option<String>,
    /// Its metadata and tags (what a fleet selection matches on).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The settings its copy gets too (metadata and tags again, without s2d's markers).
    #[serde(default)]
    pub boot: ServerBoot,
    /// The server group it is in, if any.
    #[serde(default)]
    pub server_group: Option<SourceGroup>,
    /// Its NICs (its ports), in the server's NIC order.
    #[serde(default)]
    pub nics: Vec<SourceNic>,
    /// Its attached volumes, the root volume first, then in device order.
    #[serde(default)]
    pub volumes: Vec<SourceVolume>,
}

/// An image in either cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub name: String,
    /// Glance's status: `queued`, `saving`, `active`, `killed`, ...
    pub status: String,
    pub disk_format: Option<String>,
    pub visibility: String,
    /// Glance's md5 `checksum`, once the image has data.
    pub checksum: Option<String>,
    /// Glance's `os_hash_value` when its `os_hash_algo` is sha512.
    #[serde(default)]
    pub sha512: Option<String>,
    pub size: Option<u64>,
    pub marker: Option<Marker>,
    /// Its properties (text values; without the marker).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub min_disk: u64,
    #[serde(default)]
    pub min_ram: u64,
}

/// A change of a target image: its visibility, properties set and properties removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageUpdate {
    pub visibility: Option<String>,
    pub set: BTreeMap<String, String>,
    pub remove: Vec<String>,
}

/// A query for images: every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageQuery {
    pub name: Option<String>,
    pub marker: Option<Marker>,
}

/// What a new target image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub name: String,
    pub disk_format: String,
    pub container_format: String,
    pub visibility: String,
    /// Extra properties (besides the marker).
    pub properties: BTreeMap<String, String>,
    /// As the snapshot's (Nova sets the flavor's disk and the base image's RAM).
    pub min_disk: u64,
    pub min_ram: u64,
    pub marker: Marker,
}

/// What the target project may still make, as its compute limits and network quotas say
/// (`None`: unlimited or not told).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub instances: Option<QuotaUse>,
    pub cores: Option<QuotaUse>,
    pub ram_mb: Option<QuotaUse>,
    pub ports: Option<QuotaUse>,
    pub floating_ips: Option<QuotaUse>,
}

/// One quota: its limit and what is used of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaUse {
    pub limit: u64,
    pub used: u64,
}

/// What a project's Glance may still take, as Keystone's unified limits say (Glance's
/// `GET /v2/info/usage`); `None`: not told (a Glance that does not enforce unified limits, or
/// one older than Yoga; its legacy `user_storage_quota` and its `image_size_cap` are not
/// shown to a project).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageQuota {
    /// MiB of image data (`image_size_total`).
    pub size_mib: Option<QuotaUse>,
    /// Images, whatever their status (`image_count_total`).
    pub images: Option<QuotaUse>,
}

/// A network in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub external: bool,
}

/// Which kind of network-side resource s2d builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetKind {
    Network,
    Subnet,
    Router,
    Port,
}

/// A network, subnet, router or port in the target, as the refresh and the preflight need it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetResource {
    pub id: String,
    pub name: String,
    /// A subnet's or port's network; a router's external network.
    pub network_id: Option<String>,
    pub project_id: Option<String>,
    /// A subnet's CIDR.
    pub cidr: Option<String>,
    /// A port's fixed IPs (subnet id, address).
    pub fixed_ips: Vec<(String, String)>,
    /// A port's MAC address.
    pub mac: Option<String>,
    /// A port's device (a server, a router).
    pub device_id: Option<String>,
    /// A network's `router:external`.
    pub external: bool,
    pub marker: Option<Marker>,
}

/// The target's networks, subnets, routers and ports (those of its project, and the shared
/// and external networks with their subnets), and the project's id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetInventory {
    pub project_id: Option<String>,
    pub networks: Vec<NetResource>,
    pub subnets: Vec<NetResource>,
    pub routers: Vec<NetResource>,
    pub ports: Vec<NetResource>,
}

impl NetInventory {
    /// The resources of a kind.
    pub fn of(&self, kind: NetKind) -> &[NetResource] {
        match kind {
            NetKind::Network => &self.networks,
            NetKind::Subnet => &self.subnets,
            NetKind::Router => &self.routers,
            NetKind::Port => &self.ports,
        }
    }
}

/// What a new network-side resource is; ids of what it stands on are resolved by the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetSpec {
    Network {
        name: String,
        mtu: Option<u32>,
        port_security: Option<bool>,
    },
    Subnet {
        network_id: String,
        spec: SubnetSpec,
    },
    /// A router with its gateway on `external_network_id` and an interface on each subnet.
    Router {
        name: String,
        external_network_id: String,
        subnet_ids: Vec<String>,
    },
    Port {
        name: String,
        network_id: String,
        /// (subnet id, address): the subnet when known.
        fixed_ips: Vec<(Option<String>, String)>,
        mac: Option<String>,
        port_security: Option<bool>,
        allowed_address_pairs: Vec<AddressPair>,
        security_group_ids: Vec<String>,
    },
}

impl NetSpec {
    pub fn kind(&self) -> NetKind {
        match self {
            NetSpec::Network { .. } => NetKind::Network,
            NetSpec::Subnet { .. } => NetKind::Subnet,
            NetSpec::Router { .. } => NetKind::Router,
            NetSpec::Port { .. } => NetKind::Port,
        }
    }
}

/// Where a floating IP goes: the server's port on the NIC the plan names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FipTarget {
    /// This port (one s2d made).
    Port(String),
    /// The server's port on this network (a NIC Nova made), else its first port.
    Network(Option<String>),
}

/// A server in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    pub id: String,
    pub name: String,
    /// Nova's status: `BUILD`, `ACTIVE`, `ERROR`, ...
    pub status: String,
    pub flavor_id: String,
    pub flavor_name: Option<String>,
    pub image_id: Option<String>,
    pub key_name: Option<String>,
    pub security_groups: Vec<String>,
    pub fixed_ips: Vec<String>,
    pub floating_ips: Vec<String>,
    /// Nova's fault message when the server is in ERROR.
    pub fault: Option<String>,
    pub marker: Option<Marker>,
    /// Its metadata (without the marker), tags, description, config drive and zone.
    #[serde(default)]
    pub boot: Boot,
}

/// A change of a target server in place: each given part replaces the server's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerUpdate {
    /// Without s2d's marker (the adapter keeps it).
    pub metadata: Option<BTreeMap<String, String>>,
    pub tags: Option<Vec<String>>,
    pub description: Option<String>,
}

/// A server group in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerGroup {
    pub id: String,
    pub name: String,
    pub policy: String,
    pub members: Vec<String>,
}

/// What a new target server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub name: String,
    pub flavor_id: String,
    /// The image it boots from (`None`: it boots from the volume of boot index 0).
    pub image_id: Option<String>,
    /// The volumes it boots with, in order.
    pub volumes: Vec<BootVolume>,
    /// Its NICs in order.
    pub nics: Vec<NicSpec>,
    pub key_name: String,
    /// Security groups, by id (Nova takes a name or an id, and refuses a name that two of the
    /// project's groups share).
    pub security_groups: Vec<String>,
    /// What it takes along from the source (its user data is in `user_data`).
    pub boot: Boot,
    /// The user data, base64, as read at apply.
    pub user_data: Option<String>,
    /// The server group to boot into.
    pub group_id: Option<String>,
    pub marker: Marker,
}

/// A volume a new server boots with (block device mapping v2, from an existing volume).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootVolume {
    pub id: String,
    /// `Some(0)`: the volume it boots from.
    pub boot_index: Option<u32>,
    pub delete_on_termination: bool,
}

/// One NIC of a new server: on a network (Nova makes the port) or on a port s2d made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicSpec {
    Network(String),
    Port(String),
}

/// A floating IP in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloatingIp {
    pub id: String,
    pub address: String,
    /// The external network it was allocated from.
    pub network_id: String,
    /// The port it is associated with, if any.
    pub port_id: Option<String>,
    /// The server behind that port, if the adapter knows it.
    pub server_id: Option<String>,
    pub marker: Option<Marker>,
}

/// Which kind of Cinder resource: a volume or a volume snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeKind {
    Volume,
    Snapshot,
}

/// A Cinder volume or volume snapshot, in either cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CinderResource {
    pub id: String,
    pub name: String,
    /// Cinder's status: `creating`, `available`, `in-use`, `downloading`, `uploading`,
    /// `error`, ...
    pub status: String,
    pub size_gb: u64,
    /// A volume's type.
    pub volume_type: Option<String>,
    /// The servers a volume is attached to.
    #[serde(default)]
    pub attached_to: Vec<String>,
    pub marker: Option<Marker>,
}

/// The Cinder volumes and snapshots of a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInventory {
    pub volumes: Vec<CinderResource>,
    pub snapshots: Vec<CinderResource>,
}

impl VolumeInventory {
    pub fn of(&self, kind: VolumeKind) -> &[CinderResource] {
        match kind {
            VolumeKind::Volume => &self.volumes,
            VolumeKind::Snapshot => &self.snapshots,
        }
    }
}

/// What the target's Cinder may still hold (`None`: unlimited or not told), and its volume
/// types by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeQuota {
    /// GiB of volumes and snapshots together (Cinder counts both).
    pub gigabytes: Option<QuotaUse>,
    pub volumes: Option<QuotaUse>,
    pub snapshots: Option<QuotaUse>,
    pub types: Vec<String>,
}

/// What a new volume is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A snapshot in the source (the source's copy of a volume).
    Snapshot(String),
    /// An image in the target (the target volume).
    Image(String),
}

/// A new volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    pub name: String,
    pub size_gb: u64,
    /// `None`: the cloud's default (or, from a snapshot, its volume's type).
    pub volume_type: Option<String>,
    pub from: VolumeSource,
    pub marker: Marker,
}

/// Progress of an image transfer: bytes moved so far, and the whole size when known.
pub type Progress = Arc<dyn Fn(u64, Option<u64>) + Send + Sync>;

/// How one image's bytes are to be copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// The target image's disk format; another than the source's means a conversion.
    pub disk_format: String,
    pub transfer: TransferMode,
}

/// What a user is told beside a failure: a stable code (`s2d::cloud::quota`, ...), what to
/// do, and the cloud's request id. The adapter fills it from the cloud's error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Diagnosis {
    pub fn new(code: &str, help: Option<String>) -> Diagnosis {
        Diagnosis {
            code: code.to_string(),
            help,
            request_id: None,
        }
    }
}

impl Default for Diagnosis {
    fn default() -> Self {
        Diagnosis::new("s2d::cloud::refused", None)
    }
}

/// What a cloud call can fail with, in engine terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("{what} not found")]
    NotFound { what: String },
    /// The cloud refused or failed a call; `message` is the cloud's own.
    #[error("{call}: {message}")]
    Api {
        call: String,
        status: Option<u16>,
        message: String,
        diagnosis: Diagnosis,
    },
    #[error("{what} did not become {wanted} within {}s (last status {last})", after.as_secs())]
    Timeout {
        what: String,
        wanted: String,
        last: String,
        after: Duration,
    },
    /// A server went to ERROR; `fault` is Nova's fault message.
    #[error("server {id} went to ERROR: {fault}")]
    ServerFault { id: String, fault: String },
    #[error("image {id} went to {status}")]
    ImageFailed { id: String, status: String },
    #[error("transferring image data: {0}")]
    Transfer(String),
    #[error("cancelled")]
    Cancelled,
}

impl PortError {
    /// The code, help and request id of this failure.
    pub fn diagnosis(&self) -> Diagnosis {
        match self {
            PortError::Api { diagnosis, .. } => diagnosis.clone(),
            PortError::NotFound { .. } => Diagnosis::new(
                "s2d::cloud::not_found",
                Some("it was deleted meanwhile: run `s2d plan` to see the current state".into()),
            ),
            PortError::Timeout { .. } => Diagnosis::new(
                "s2d::engine::timeout",
                Some(
                    "run again (s2d continues where it stopped), or allow more time with --snapshot-timeout, --image-timeout, --volume-timeout, --server-timeout or --delete-timeout"
                        .into(),
                ),
            ),
            PortError::ServerFault { .. } => Diagnosis::new(
                "s2d::cloud::server_fault",
                Some(
                    "Nova's fault says why (\"No valid host\": no host of the target can take the flavor, or its image properties ask for what the hosts lack); the next apply replaces the server"
                        .into(),
                ),
            ),
            PortError::ImageFailed { .. } => Diagnosis::new(
                "s2d::cloud::image_failed",
                Some("the cloud's image service gave up on the image: run again, s2d makes a new one".into()),
            ),
            PortError::Transfer(_) => Diagnosis::new(
                "s2d::transfer::failed",
                Some("run again: a spooled copy resumes where it stopped, a streamed one starts over".into()),
            ),
            PortError::Cancelled => Diagnosis::new(
                "s2d::interrupted",
                Some("apply again to finish: the state holds what was done".into()),
            ),
        }
    }
}

/// The result of a port call.
pub type PortResult<T> = Result<T, PortError>;

/// The port is one trait per resource; a cloud adapter implements each of them, and
/// [`CloudPort`] is all of them together. A new resource kind adds one small trait here, one
/// `impl` in the adapter (`engine/openstack/<resource>.rs`) and one in the fake. Methods act on
/// the target unless they take a [`Side`] (images live on both sides) or say `source`. Waits
/// take their deadline from the caller; implementations poll until it passes.
pub trait CloudPort:
    SourceServers
    + Images
    + Catalog
    + Keypairs
    + SecurityGroups
    + ServerGroups
    + Servers
    + FloatingIps
    + Networking
    + Volumes
{
}

impl<T> CloudPort for T where
    T: SourceServers
        + Images
        + Catalog
        + Keypairs
        + SecurityGroups
        + ServerGroups
        + Servers
        + FloatingIps
        + Networking
        + Volumes
{
}

/// The source servers to copy, and their snapshots.
pub trait SourceServers: Send + Sync + 'static {
    /// Every server of the source project, each with its flavor, security groups (with rules),
    /// keypair, metadata and tags: read with list calls, not per server.
    fn source_servers(&self) -> impl Future<Output = PortResult<Vec<SourceServer>>> + Send;
    /// The source server's user data (base64), read again at apply; `None` when it has none
    /// or the source cloud does not show it to this user.
    fn source_user_data(
        &self,
        server_id: &str,
    ) -> impl Future<Output = PortResult<Option<String>>> + Send;
    /// Every network the source project sees, with its subnets (what `[[network]]` copies).
    fn source_networks(&self) -> impl Future<Output = PortResult<Vec<SourceNetwork>>> + Send;
    /// Shut a source server off (`on`: start it) and wait until it is SHUTOFF (ACTIVE); one
    /// that already is stays as it is.
    fn set_source_power(
        &self,
        server_id: &str,
        on: bool,
        timeout: Duration,
    ) -> impl Future<Output = PortResult<()>> + Send;
    /// createImage on a source server; returns the new image's id.
    fn create_snapshot(
        &self,
        server_id: &str,
        name: &str,
        marker: &Marker,
    ) -> impl Future<Output = PortResult<String>> + Send;
}

/// Images, in either cloud: the source's snapshots and the target's copies.
pub trait Images: Send + Sync + 'static {
    /// Every image the project sees in that cloud (every page).
    fn images(&self, side: Side) -> impl Future<Output = PortResult<Vec<Image>>> + Send;
    /// Wait until the image is `active`; `ImageFailed` if it goes to `killed` or `deleted`.
    fn wait_image_active(
        &self,
        side: Side,
        id: &str,
        timeout: Duration,
    ) -> impl Future<Output = PortResult<Image>> + Send;
    fn delete_image(&self, side: Side, id: &str) -> impl Future<Output = PortResult<()>> + Send;
    /// The project's Glance quota in that cloud and its use; empty when the cloud does not
    /// tell it (see [`ImageQuota`]).
    fn image_quota(&self, side: Side) -> impl Future<Output = PortResult<ImageQuota>> + Send;
    /// Create an (empty, `queued`) image record in the target.
    fn create_image(&self, spec: &ImageSpec) -> impl Future<Output = PortResult<Image>> + Send;
    /// Fill target image `target_id` with the bytes of source image `source_id`; returns the
    /// checksums of what was sent. The real adapter streams it through `transfer` (or spools
    /// it, converting its format when `copy.disk_format` differs from the source's).
    fn upload_image(
        &self,
        target_id: &str,
        source_id: &str,
        copy: &CopySpec,
        progress: Progress,
    ) -> impl Future<Output = PortResult<Checksums>> + Send;
    /// Change a target image's visibility and properties.
    fn update_image(
        &self,
        id: &str,
        update: &ImageUpdate,
    ) -> impl Future<Output = PortResult<()>> + Send;
}

/// What the target offers to build on: flavors and networks.
pub trait Catalog: Send + Sync + 'static {
    fn flavors(&self) -> impl Future<Output = PortResult<Vec<Flavor>>> + Send;
    /// Every network the project sees (its own, shared and external ones).
    fn networks(&self) -> impl Future<Output = PortResult<Vec<Network>>> + Send;
    /// The target project's compute and network quotas and their use.
    fn quota(&self) -> impl Future<Output = PortResult<Quota>> + Send;
}

/// The target's keypairs.
pub trait Keypairs: Send + Sync + 'static {
    /// Every keypair of the user.
    fn keypairs(&self) -> impl Future<Output = PortResult<Vec<Keypair>>> + Send;
    fn import_keypair(
        &self,
        name: &str,
        public_key: &str,
    ) -> impl Future<Output = PortResult<Keypair>> + Send;
    fn create_keypair(
        &self,
        name: &str,
    ) -> impl Future<Output = PortResult<GeneratedKeypair>> + Send;
    fn delete_keypair(&self, name: &str) -> impl Future<Output = PortResult<()>> + Send;
}

/// The target's security groups and their rules.
pub trait SecurityGroups: Send + Sync + 'static {
    /// Every group of the target project, with its rules.
    fn security_groups(&self) -> impl Future<Output = PortResult<Vec<SecurityGroup>>> + Send;
    fn security_group(
        &self,
        id: &str,
    ) -> impl Future<Output = PortResult<Option<SecurityGroup>>> + Send;
    /// Create a group. Neutron adds its default egress rules; they come back in `rules`.
    fn create_security_group(
        &self,
        name: &str,
        description: &str,
        marker: &Marker,
    ) -> impl Future<Output = PortResult<SecurityGroup>> + Send;
    fn delete_security_group(&self, id: &str) -> impl Future<Output = PortResult<()>> + Send;
    /// Add a rule to a group; `remote_group_id`: the target group a rule admitting another
    /// group admits.
    fn create_rule(
        &self,
        group_id: &str,
        rule: &Rule,
        remote_group_id: Option<&str>,
        marker: &Marker,
    ) -> impl Future<Output = PortResult<RuleInfo>> + Send;
    fn delete_rule(&self, id: &str) -> impl Future<Output = PortResult<()>> + Send;
}

/// The target's server groups. A group carries no marker (Nova keeps no metadata on it): a
/// pending record in the state, written before the create, is how a group found after a
/// crash is known to be s2d's.
pub trait ServerGroups: Send + Sync + 'static {
    /// Every group of the target project.
    fn server_groups(&self) -> impl Future<Output = PortResult<Vec<ServerGroup>>> + Send;
    fn create_server_group(
        &self,
        name: &str,
        policy: &str,
    ) -> impl Future<Output = PortResult<ServerGroup>> + Send;
    fn delete_server_group(&self, id: &str) -> impl Future<Output = PortResult<()>> + Send;
}

/// The target's servers.
pub trait Servers: Send + Sync + 'static {
    fn server(&self, id: &str) -> impl Future<Output = PortResult<Option<Server>>> + Send;
    /// Servers with this name.
    /// Every server of the target project.
    fn servers(&self) -> impl Future<Output = PortResult<Vec<Server>>> + Send;
    /// Create a server (it starts in `BUILD`).
    fn create_server(&self, spec: &ServerSpec) -> impl Future<Output = PortResult<Server>> + Send;
    /// Wait for `ACTIVE`; `ServerFault` with Nova's fault if it goes to `ERROR`.
    fn wait_server_active(
        &self,
        id: &str,
        timeout: Duration,
    ) -> impl Future<Output = PortResult<Server>> + Send;
    /// Change a server in place (metadata, tags, description).
    fn update_server(
        &self,
        id: &str,
        update: &ServerUpdate,
    ) -> impl Future<Output = PortResult<()>> + Send;
    /// Keep the attached volume `volume` when the server is deleted (its
    /// `delete_on_termination` turned off), before a replacement deletes the server;
    /// `NotFound` when it is not attached.
    fn keep_volume_on_delete(
        &self,
        id: &str,
        volume: &str,
    ) -> impl Future<Output = PortResult<()>> + Send;
    fn delete_server(&self, id: &str) -> impl Future<Output = PortResult<()>> + Send;
    fn wait_server_gone(
        &self,
        id: &str,
        timeout: Duration,
    ) -> impl Future<Output = PortResult<()>> + Send;
}

/// The target's floating IPs.
pub trait FloatingIps: Send + Sync + 'static {
    fn floating_ips(&self) -> impl Future<Output = PortResult<Vec<FloatingIp>>> + Send;
    fn floating_ip_by_address(
        &self,
        address: &str,
    ) -> impl Future<Output = PortResult<Option<FloatingIp>>> + Send;
    fn allocate_floating_ip(
        &self,
        network_id: &str,
        marker: &Marker,
    ) -> impl Future<Output = PortResult<FloatingIp>> + Send;
    /// Associate with the server's port that `to` names.
    fn associate_floating_ip(
        &self,
        id: &str,
        server_id: &str,
        to: &FipTarget,
    ) -> impl Future<Output = PortResult<FloatingIp>> + Send;
    fn disassociate_floating_ip(&self, id: &str) -> impl Future<Output = PortResult<()>> + Send;
    fn release_floating_ip(&self, id: &str) -> impl Future<Output = PortResult<()>> + Send;
}

/// Cinder in both clouds: the source's volume snapshots, their copies and the upload of a
/// copy into Glance; the target's volumes made from the copied image. A volume lives on the
/// side the method says: a source copy is made from a snapshot, a target volume from an image.
/// Every volume and snapshot carries the marker in its metadata; an uploaded image gets it
/// as properties.
pub trait Volumes: Send + Sync + 'static {
    /// Every volume and snapshot of the project on that side.
    fn volume_inventory(
        &self,
        side: Side,
    ) -> impl Future<Output = PortResult<VolumeInventory>> + Send;
    /// A cloud's volume quota (volumes, snapshots, gigabytes) and volume types.
    fn volume_quota(&self, side: Side) -> impl Future<Output = PortResult<VolumeQuota>> + Send;
    /// Snapshot a source volume (in use or not); it starts `creating`.
    fn create_volume_snapshot(
        &self,
        volume_id: &str,
        name: &str,
        marker: &Marker,
    ) -> impl Future<Output = PortResult<CinderResource>> + Send;
    /// Make a volume: in the source from a snapshot, in the target from an image.
    fn create_volume(
        &self,
        side: Side,
        spec: &VolumeSpec,
    ) -> impl Future<Output = PortResult<CinderResource>> + Send;
    /// Upload a source volume into a new source image (Cinder's `os-volume_upload_image`)
    /// and wait (at most `timeout`) until the image is `active`; returns the image's id. The
    /// volume is `uploading` until the image is written. The image gets the marker once it is
    /// active: Glance saves a PATCH over an upload in progress and the upload then fails.
    fn upload_volume(
        &self,
        volume_id: &str,
        image_name: &str,
        disk_format: &str,
        marker: &Marker,
        timeout: Duration,
    ) -> impl Future<Output = PortResult<String>> + Send;
    /// Wait until a volume or snapshot is `available`; `Api` with Cinder's status if it goes
    /// to an error status.
    fn wait_volume_available(
        &self,
        side: Side,
        kind: VolumeKind,
        id: &str,
        timeout: Duration,
    ) -> impl Future<Output = PortResult<CinderResource>> + Send;
    /// Delete a volume or snapshot and wait until it is gone; `NotFound` when it is gone
    /// already.
    fn delete_volume_resource(
        &self,
        side: Side,
        kind: VolumeKind,
        id: &str,
        timeout: Duration,
    ) -> impl Future<Output = PortResult<()>> + Send;
}

/// The target's networks, subnets, routers and ports that s2d builds: one shape for the four
/// kinds (each carries the marker in its description).
pub trait Networking: Send + Sync + 'static {
    /// Everything network-side the target project sees (see [`NetInventory`]).
    fn net_inventory(&self) -> impl Future<Output = PortResult<NetInventory>> + Send;
    /// Make one (a router with its gateway and interfaces).
    fn create_net(
        &self,
        spec: &NetSpec,
        marker: &Marker,
    ) -> impl Future<Output = PortResult<NetResource>> + Send;
    /// Remove one (a router's interfaces first); `NotFound` when it is gone.
    fn delete_net(&self, kind: NetKind, id: &str) -> impl Future<Output = PortResult<()>> + Send;
}
