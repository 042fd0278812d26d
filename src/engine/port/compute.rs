//! The compute piece of the port: the source servers (with what the graph reads from them),
//! the target's flavors, limits, keypairs, server groups and servers.

use super::*;

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
