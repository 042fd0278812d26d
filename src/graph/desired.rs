//! What the user wants in the target cloud, in engine terms: one [`DesiredServer`] per server
//! of the plan with every option resolved, plus the facts read from the source cloud that the
//! graph needs ([`SourceFacts`]). The plan model is mapped into this by the engine; this file
//! knows nothing of TOML, XML or HTTP.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::boot::UserDataRef;
use super::network::{DesiredNetwork, DesiredNics, SourceNic};
use super::volume::{DesiredVolumes, SourceVolume};
use crate::plan::{SOURCE_PLACEHOLDER, Selection};

/// Every server to move, in plan order, and the fleets still to be matched against the source.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Desired {
    pub servers: Vec<DesiredServer>,
    /// `[[server]]` entries that select source servers (see [`Desired::expand`]).
    pub fleets: Vec<DesiredFleet>,
    /// The networks the plan builds from source networks (`[[network]]`), in plan order.
    pub networks: Vec<DesiredNetwork>,
}

/// A fleet: the selection, and the server each match becomes, with
/// [`SOURCE_PLACEHOLDER`] in its name, snapshot name and image name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredFleet {
    pub selection: Selection,
    pub template: DesiredServer,
}

/// A source server as a fleet selection sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub tags: &'a [String],
    pub metadata: &'a BTreeMap<String, String>,
}

/// What one fleet matched: its selection (as `Selection::describe` words it) and the target
/// names of the servers it stands for, in name order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetMatch {
    pub selection: String,
    pub servers: Vec<String>,
}

impl Desired {
    /// Every fleet matched against the source's servers: each match becomes a server named
    /// from the template (the source by id, so two source servers of one name stay apart).
    /// A source server that an explicit `[[server]]` names (by name or id) is not selected
    /// again, nor one an earlier fleet took.
    pub fn expand(&self, candidates: &[Candidate<'_>]) -> (Desired, Vec<FleetMatch>) {
        let mut taken: BTreeSet<&str> = self.servers.iter().map(|s| s.source.as_str()).collect();
        let mut servers = self.servers.clone();
        let mut matches = Vec::new();
        for fleet in &self.fleets {
            let mut picked: Vec<&Candidate<'_>> = candidates
                .iter()
                .filter(|c| !taken.contains(c.id) && !taken.contains(c.name))
                .filter(|c| fleet.selection.matches(c.name, c.tags, c.metadata))
                .collect();
            picked.sort_by(|a, b| (a.name, a.id).cmp(&(b.name, b.id)));
            let mut names = Vec::new();
            for c in picked {
                taken.insert(c.id);
                let fill = |t: &str| t.replace(SOURCE_PLACEHOLDER, c.name);
                let mut server = fleet.template.clone();
                server.source = c.id.to_string();
                server.name = fill(&fleet.template.name);
                server.snapshot_name = fill(&fleet.template.snapshot_name);
                server.image.name = fill(&fleet.template.image.name);
                names.push(server.name.clone());
                servers.push(server);
            }
            matches.push(FleetMatch {
                selection: fleet.selection.describe(),
                servers: names,
            });
        }
        (
            Desired {
                servers,
                fleets: Vec::new(),
                networks: self.networks.clone(),
            },
            matches,
        )
    }
}

/// One server to move and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredServer {
    /// The source server, by name or id.
    pub source: String,
    /// The target server's name (also the name in its address, `server.<name>`).
    pub name: String,
    /// The name of the snapshot made in the source cloud.
    pub snapshot_name: String,
    pub image: DesiredImage,
    /// A target flavor by name, or `None` to match the source flavor (by name, else by
    /// vcpus/ram/disk).
    pub flavor: Option<String>,
    /// Where its NICs land.
    #[serde(default)]
    pub nics: DesiredNics,
    /// Which of its volumes come along, and how.
    #[serde(default)]
    pub volumes: DesiredVolumes,
    pub keypair: KeypairChoice,
    pub security_group: GroupChoice,
    pub floating_ip: FloatingIpChoice,
    /// The zone to boot in, whatever the source's (`None`: see `zones`).
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// The target zone for each source zone; a zone it does not name: the target chooses.
    #[serde(default)]
    pub zones: BTreeMap<String, String>,
    #[serde(default)]
    pub server_group: ServerGroupChoice,
    /// User data the plan gives (`None`: the source's, when the source cloud shows it).
    #[serde(default)]
    pub user_data: Option<UserDataRef>,
}

/// Which target server group the server joins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "name")]
pub enum ServerGroupChoice {
    /// The source server's group (if it is in one), made again in the target.
    #[default]
    Copy,
    /// This group, which exists in the target.
    Existing(String),
    /// None.
    None,
}

/// The image made in the target cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredImage {
    pub name: String,
    /// `None`: the source image's disk format.
    pub disk_format: Option<String>,
    /// `private`, `shared`, `community` or `public`.
    pub visibility: String,
    /// How the bytes move (a conversion always spools).
    #[serde(default)]
    pub transfer: TransferMode,
    /// Properties the plan adds or overrides, and those it drops.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub drop_properties: Vec<String>,
}

/// How an image's bytes move from the source Glance to the target Glance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferMode {
    /// Download piped straight into the upload, no file.
    #[default]
    Stream,
    /// Download to a file first (resumable with Range), then upload from it.
    Spool,
}

/// How the target keypair comes to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeypairMode {
    /// Import the source server's public key under `name`.
    Import,
    /// Let the target cloud generate a new keypair named `name`.
    Create,
    /// Use the keypair `name` that already exists in the target.
    Existing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeypairChoice {
    pub mode: KeypairMode,
    pub name: String,
}

/// Which target security groups the server joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "name")]
pub enum GroupChoice {
    /// Every group of the source server, each made again by its name (the source's
    /// `default` is the target's own `default`, whose missing rules s2d adds).
    Copy,
    /// The target project's `default` group, with the rules of all the server's groups:
    /// s2d only adds the missing rules to it.
    Default,
    /// A group of this name, made (or adopted) by s2d, with the rules of all the server's
    /// groups.
    Named(String),
}

impl GroupChoice {
    /// The one group a merging choice puts every rule in (`None`: copy each group).
    pub fn merged(&self) -> Option<&str> {
        match self {
            GroupChoice::Copy => None,
            GroupChoice::Default => Some("default"),
            GroupChoice::Named(name) => Some(name),
        }
    }
}

/// Whether and how the server gets a floating IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "value")]
pub enum FloatingIpChoice {
    None,
    /// Allocate one from this external network.
    Pool(String),
    /// Use this existing floating IP address.
    Address(String),
}

/// A flavor's size (what a target flavor is matched on), its ephemeral and swap disks, and its
/// extra specs (`None`: not shown to this user or at this microversion).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlavorSpec {
    pub name: String,
    pub vcpus: u32,
    pub ram_mb: u64,
    pub disk_gb: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ephemeral_gb: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub swap_mb: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_specs: Option<BTreeMap<String, String>>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Which way a security group rule lets traffic through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleDirection {
    Ingress,
    Egress,
}

/// A security group rule, cloud-neutral: what it allows, not its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rule {
    pub direction: RuleDirection,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// `tcp`, `udp`, `icmp`, ... or `None` for any.
    pub protocol: Option<String>,
    pub port_min: Option<u16>,
    pub port_max: Option<u16>,
    pub remote_ip_prefix: Option<String>,
    /// The rule admits members of its own group (Neutron `remote_group_id` = the group).
    #[serde(default)]
    pub remote_self: bool,
    /// The rule admits members of another group, by name (in the target: s2d's copy of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_group: Option<String>,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dir = match self.direction {
            RuleDirection::Ingress => "ingress",
            RuleDirection::Egress => "egress",
        };
        write!(
            f,
            "{dir} {} {}",
            self.ethertype,
            self.protocol.as_deref().unwrap_or("any")
        )?;
        match (self.port_min, self.port_max) {
            (Some(a), Some(b)) if a == b => write!(f, " port {a}")?,
            (Some(a), Some(b)) => write!(f, " ports {a}-{b}")?,
            (Some(a), None) | (None, Some(a)) => write!(f, " port {a}")?,
            (None, None) => {}
        }
        if let Some(prefix) = &self.remote_ip_prefix {
            write!(f, " from {prefix}")?;
        }
        if self.remote_self {
            write!(f, " from its own group")?;
        }
        if let Some(group) = &self.remote_group {
            write!(f, " from group {group}")?;
        }
        Ok(())
    }
}

/// What the graph needs to know about one source server, read from the source cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFacts {
    pub server_id: String,
    /// Nova's status of the source server (`ACTIVE`, `SHUTOFF`, ...).
    #[serde(default)]
    pub status: String,
    pub flavor: FlavorSpec,
    /// The rules of all the server's source security groups, sorted, without duplicates.
    pub rules: Vec<Rule>,
    /// Each of the server's source security groups by name, with its rules.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<Rule>>,
    /// The source keypair's public key and fingerprint (for `import`).
    pub public_key: Option<String>,
    pub fingerprint: Option<String>,
    /// The disk format of the image the source server was booted from.
    pub disk_format: Option<String>,
    /// That image's properties (`None`: the image is gone or not visible to this user).
    #[serde(default)]
    pub image_properties: Option<BTreeMap<String, String>>,
    /// The server's own settings that the target server gets too.
    #[serde(default)]
    pub boot: ServerBoot,
    /// The source server's group, if it is in one.
    #[serde(default)]
    pub server_group: Option<SourceGroup>,
    /// Its NICs, in the server's order.
    #[serde(default)]
    pub nics: Vec<SourceNic>,
    /// Its attached volumes, the root volume first, then in device order.
    #[serde(default)]
    pub volumes: Vec<SourceVolume>,
}

/// A source server's settings that its copy in the target gets as well.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerBoot {
    /// Without s2d's markers.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub config_drive: bool,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// Whether the source cloud showed this user the server's user data (Nova shows it to
    /// admins only by default).
    #[serde(default)]
    pub user_data_readable: bool,
    /// The SHA-256 of the source's user data (as Nova holds it, base64), when it has some and
    /// it was readable: the content itself is read again at apply, never kept.
    #[serde(default)]
    pub user_data_sha256: Option<String>,
}

/// A source server group: its name and policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceGroup {
    pub name: String,
    pub policy: String,
}
