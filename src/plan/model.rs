//! The plan model: what both syntaxes load into. Names follow the plan format contract in
//! `docs/plan-format.md`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

/// A literal password in a plan.
pub use crate::secret::Secret;

/// A plan file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub version: i64,
    pub source: CloudRef,
    pub target: CloudRef,
    /// `[state] location`: where the plan's state is kept (a path, relative to the plan's
    /// folder, or a `postgres://` or `swift://` URL without a password); `None`: the default,
    /// `s2d.state.json` beside the plan. `--state` overrides it.
    pub state: Option<String>,
    pub defaults: ServerOptions,
    /// `[[network]]`: the target networks built from source networks, in plan order.
    pub networks: Vec<NetworkBuild>,
    pub servers: Vec<Server>,
}

impl Plan {
    /// Every server with `[defaults]` and the format's defaults applied, in plan order.
    pub fn resolved_servers(&self) -> Vec<ResolvedServer> {
        self.servers
            .iter()
            .map(|s| s.resolved(&self.defaults))
            .collect()
    }
}

/// Which cloud: a clouds.yaml entry, or inline auth.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloudRef {
    Named(String),
    Inline(Box<InlineAuth>),
}

/// Inline Keystone v3 auth. `password_env` names an environment variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InlineAuth {
    pub auth_url: Option<String>,
    pub username: Option<String>,
    pub user_id: Option<String>,
    pub password_env: Option<String>,
    pub password: Option<Secret>,
    pub project_name: Option<String>,
    pub project_id: Option<String>,
    pub user_domain_name: Option<String>,
    pub project_domain_name: Option<String>,
    pub region: Option<String>,
    pub application_credential_id: Option<String>,
    pub application_credential_secret_env: Option<String>,
    pub cacert: Option<String>,
    pub interface: Option<String>,
}

impl InlineAuth {
    /// A text setting by its TOML key (every key of [`AUTH_KEYS`](super::validate) but
    /// `password`), for the readers and writers, which go through the keys in one order.
    pub(super) fn text_mut(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "auth_url" => &mut self.auth_url,
            "username" => &mut self.username,
            "user_id" => &mut self.user_id,
            "password_env" => &mut self.password_env,
            "project_name" => &mut self.project_name,
            "project_id" => &mut self.project_id,
            "user_domain_name" => &mut self.user_domain_name,
            "project_domain_name" => &mut self.project_domain_name,
            "region" => &mut self.region,
            "application_credential_id" => &mut self.application_credential_id,
            "application_credential_secret_env" => &mut self.application_credential_secret_env,
            "cacert" => &mut self.cacert,
            "interface" => &mut self.interface,
            _ => return None,
        })
    }

    /// A text setting by its TOML key; `None` when unset or not a text setting.
    pub(super) fn text(&self, key: &str) -> Option<&str> {
        let value = match key {
            "auth_url" => &self.auth_url,
            "username" => &self.username,
            "user_id" => &self.user_id,
            "password_env" => &self.password_env,
            "project_name" => &self.project_name,
            "project_id" => &self.project_id,
            "user_domain_name" => &self.user_domain_name,
            "project_domain_name" => &self.project_domain_name,
            "region" => &self.region,
            "application_credential_id" => &self.application_credential_id,
            "application_credential_secret_env" => &self.application_credential_secret_env,
            "cacert" => &self.cacert,
            "interface" => &self.interface,
            _ => return None,
        };
        value.as_deref()
    }
}

/// How the target keypair is obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeypairMode {
    /// Copy the source keypair of this name into the target.
    Import(String),
    /// Create a new keypair of this name in the target.
    Create(String),
    /// Use this keypair, which already exists in the target.
    Existing(String),
}

/// The floating IP of a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FloatingIp {
    /// Allocate one from this external network.
    Pool(String),
    /// Use this existing, unassociated address.
    Address(IpAddr),
    /// No floating IP.
    Disabled,
}

/// How image bytes move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    Stream,
    Spool,
}

/// How one source NIC lands in the target: `"SRC" = "DST"` or
/// `"SRC" = { network = "DST", keep_ip = true, keep_mac = true }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NicMap {
    /// The target network the NIC joins (an existing one, or one a `[[network]]` builds).
    pub network: String,
    /// Keep the NIC's fixed IPs: s2d makes the port with them.
    pub keep_ip: bool,
    /// Keep the NIC's MAC address: s2d makes the port with it.
    pub keep_mac: bool,
}

impl NicMap {
    /// `"SRC" = "DST"`: join `network`, keeping neither IP nor MAC.
    pub fn to(network: impl Into<String>) -> NicMap {
        NicMap {
            network: network.into(),
            keep_ip: false,
            keep_mac: false,
        }
    }
}

/// `[[network]]`: a target network built from a source network (its subnets with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkBuild {
    /// The source network to copy, by name or id.
    pub from: String,
    /// Its name in the target (default: `from`).
    pub name: Option<String>,
    /// A router from the built network to an external network.
    pub router: Option<RouterBuild>,
}

impl NetworkBuild {
    /// The name of the network in the target: `name`, else `from`.
    pub fn target_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.from)
    }

    /// The router's name in the target, when there is a router: its `name`, else
    /// `"<network name>-router"`.
    pub fn router_name(&self) -> Option<String> {
        self.router.as_ref().map(|r| match &r.name {
            Some(name) => name.clone(),
            None => format!("{}-router", self.target_name()),
        })
    }
}

/// `router = { external = "public", name = "..." }`: a router to this external network with
/// interfaces on the built network's subnets; name default: `"<network name>-router"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouterBuild {
    /// The external network of the router's gateway.
    pub external: String,
    /// The router's name (default: `"<network name>-router"`).
    pub name: Option<String>,
}

/// The disk format a volume's image travels in between the two Glances (`volume_format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeFormat {
    /// `"raw"` (the default): the volume's bytes as they are.
    #[default]
    Raw,
    /// `"qcow2"`: Cinder converts the copy (smaller for a volume mostly empty).
    Qcow2,
}

impl VolumeFormat {
    /// The word a plan spells it with (`raw`, `qcow2`).
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeFormat::Raw => "raw",
            VolumeFormat::Qcow2 => "qcow2",
        }
    }
}

/// Options that `[defaults]` sets and a `[[server]]` may override.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerOptions {
    /// `network = "NAME"`: the shorthand for a server with one NIC, which joins `NAME`.
    pub network: Option<String>,
    /// `networks = { SRC = ... }`: where each NIC goes, by its source network's name or id.
    /// A server's entries go over those of `[defaults]`.
    pub networks: BTreeMap<String, NicMap>,
    pub keypair: Option<KeypairMode>,
    /// `None`: every source group of the server comes along (as `[defaults]` says, else).
    pub security_group: Option<String>,
    pub floating_ip: Option<FloatingIp>,
    /// `floating_ip = { ..., nic = "NET" }`: the NIC the floating IP goes to, named by its
    /// source network (a key of `networks`) or its target network; `None`: the first NIC.
    /// Set only with a `pool` or `address` floating IP, and travels with it.
    pub floating_ip_nic: Option<String>,
    pub transfer: Option<TransferMode>,
    /// `availability_zone = "..."`: the target zone, whatever the source's.
    pub availability_zone: Option<String>,
    /// `zones = { SRC = DST }`: the target zone for each source zone (a zone it does not name:
    /// let the target choose). `availability_zone` wins over it.
    pub zones: BTreeMap<String, String>,
    /// `server_group = ...`: the target server group (default: the source's, copied).
    pub server_group: Option<ServerGroupMode>,
    /// `skip_volumes = ["NAME-OR-ID"]`: the source volumes left behind. A server's list
    /// replaces that of `[defaults]` (`Some(vec![])`: none, whatever `[defaults]` says);
    /// `None`: not set here.
    pub skip_volumes: Option<Vec<String>>,
    /// `volume_types = { SRC = DST }`: the target volume type for each source volume type (a
    /// type it does not name: the target's default type). A server's entries go over those of
    /// `[defaults]`.
    pub volume_types: BTreeMap<String, String>,
    /// `stop = true`: shut an ACTIVE source server off while its volumes are snapshotted, and
    /// start it again afterwards (default `false`: a crash-consistent copy).
    pub stop: Option<bool>,
    /// `keep_volume_intermediates = true`: keep the source's volume snapshots and copies and
    /// both clouds' images of each volume once the target volume is available (default
    /// `false`).
    pub keep_volume_intermediates: Option<bool>,
    /// `volume_format = "raw" | "qcow2"`: how a volume's bytes travel (default `raw`).
    pub volume_format: Option<VolumeFormat>,
}

/// The target server group of a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerGroupMode {
    /// `server_group = "copy"` (the default): the source server's group, made again in the
    /// target with its name and policy.
    Copy,
    /// `server_group = { existing = "NAME" }`: a group that exists in the target.
    Existing(String),
    /// `server_group = "none"`: no group, whatever the source's.
    None,
}

/// Where a server's user data (cloud-init) comes from when the plan gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserData {
    /// `user_data = { file = "cloud-init.yaml" }`: this file, relative to the plan's folder.
    File(String),
}

/// The target image's options.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImageOptions {
    pub name: Option<String>,
    pub disk_format: Option<String>,
    pub visibility: Option<String>,
    /// `properties = { key = "value" }`: added to, or overriding, what the snapshot carries.
    pub properties: BTreeMap<String, String>,
    /// `drop_properties = ["key"]`: properties the target image must not get.
    pub drop_properties: Vec<String>,
}

/// One server to bring over, or a fleet of them (`select`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Server {
    /// Name or UUID of the server in the source cloud; empty for a fleet (`select`).
    pub source: String,
    /// A fleet: every source server this matches, each brought over as if named by its own
    /// `[[server]]`, with `{source}` in `name`, `snapshot` and the image's name standing for
    /// its name. Exactly one of `source` and `select` is set.
    pub select: Option<Selection>,
    pub name: Option<String>,
    pub snapshot: Option<String>,
    pub image: ImageOptions,
    pub flavor: Option<String>,
    /// `user_data = { file = "..." }`: the user data to boot with (default: the source's,
    /// when the source cloud lets this user read it).
    pub user_data: Option<UserData>,
    pub options: ServerOptions,
}

/// The source servers a fleet entry stands for: each given criterion must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// A pattern on the server's name: `*` any run of characters, `?` any one.
    pub name: Option<String>,
    /// Tags the server carries, all of them.
    pub tags: Vec<String>,
    /// Metadata keys the server carries, each with a pattern on its value (`*`: any value).
    pub metadata: BTreeMap<String, String>,
}

/// What stands for the source server's name in a fleet's `name`, `snapshot` and image name.
pub const SOURCE_PLACEHOLDER: &str = "{source}";

impl Selection {
    /// Whether a source server of this name, tags and metadata is selected.
    pub fn matches(
        &self,
        name: &str,
        tags: &[String],
        metadata: &BTreeMap<String, String>,
    ) -> bool {
        self.name.as_deref().is_none_or(|p| glob(p, name))
            && self.tags.iter().all(|t| tags.contains(t))
            && self
                .metadata
                .iter()
                .all(|(k, p)| metadata.get(k).is_some_and(|v| glob(p, v)))
    }

    /// `name=web-* tags=a,b metadata=tier=db`, for messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(name) = &self.name {
            parts.push(format!("name={name}"));
        }
        if !self.tags.is_empty() {
            parts.push(format!("tags={}", self.tags.join(",")));
        }
        for (k, v) in &self.metadata {
            parts.push(format!("metadata.{k}={v}"));
        }
        parts.join(" ")
    }
}

/// `text` matched against `pattern` (`*` any run, `?` any one character), without recursion:
/// the classic two-pointer walk, linear in practice and never worse than their product.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A server with every default applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedServer {
    pub source: String,
    /// A fleet: `name`, `snapshot` and `image_name` hold [`SOURCE_PLACEHOLDER`].
    pub select: Option<Selection>,
    pub name: String,
    pub snapshot: String,
    pub image_name: String,
    /// `None`: the source image's format.
    pub disk_format: Option<String>,
    pub visibility: String,
    /// `None`: the source server's flavor, matched by name, else by size.
    pub flavor: Option<String>,
    pub network: Option<String>,
    /// `[defaults]`' NIC map with the server's own entries over it.
    pub networks: BTreeMap<String, NicMap>,
    pub keypair: Option<KeypairMode>,
    /// `None`: neither the server nor `[defaults]` names one, and every source group of the
    /// server comes along.
    pub security_group: Option<String>,
    pub floating_ip: Option<FloatingIp>,
    /// The NIC of the floating IP (see [`ServerOptions::floating_ip_nic`]); `None`: the first.
    pub floating_ip_nic: Option<String>,
    pub transfer: TransferMode,
    /// Properties the plan adds or overrides on the target image, and those it drops.
    pub image_properties: BTreeMap<String, String>,
    pub drop_properties: Vec<String>,
    pub availability_zone: Option<String>,
    /// `[defaults]`' zone map with the server's own entries over it.
    pub zones: BTreeMap<String, String>,
    pub server_group: ServerGroupMode,
    pub user_data: Option<UserData>,
    /// The source volumes left behind: the server's list, else `[defaults]`' (not merged).
    pub skip_volumes: Vec<String>,
    /// `[defaults]`' volume type map with the server's own entries over it.
    pub volume_types: BTreeMap<String, String>,
    /// Shut an ACTIVE source server off for its volume snapshots.
    pub stop: bool,
    /// Keep the intermediates of each volume's copy.
    pub keep_volume_intermediates: bool,
    pub volume_format: VolumeFormat,
}

impl Server {
    /// The target name: `name`, else the source's (a fleet: `{source}`).
    pub fn target_name(&self) -> &str {
        match (&self.name, &self.select) {
            (Some(name), _) => name,
            (None, Some(_)) => SOURCE_PLACEHOLDER,
            (None, None) => &self.source,
        }
    }

    /// Apply `defaults` and the format's defaults.
    pub fn resolved(&self, defaults: &ServerOptions) -> ResolvedServer {
        let snapshot = self.snapshot.clone().unwrap_or_else(|| match &self.select {
            Some(_) => format!("{SOURCE_PLACEHOLDER}-s2d"),
            None => format!("{}-s2d", self.source),
        });
        let pick = |own: &Option<String>, default: &Option<String>| {
            own.clone().or_else(|| default.clone())
        };
        // The NIC travels with the floating IP it was given with, as one setting.
        let (floating_ip, floating_ip_nic) = match &self.options.floating_ip {
            Some(own) => (Some(own.clone()), self.options.floating_ip_nic.clone()),
            None => (
                defaults.floating_ip.clone(),
                defaults.floating_ip_nic.clone(),
            ),
        };
        let floating_ip_nic = match floating_ip {
            Some(FloatingIp::Pool(_) | FloatingIp::Address(_)) => floating_ip_nic,
            _ => None,
        };
        ResolvedServer {
            source: self.source.clone(),
            select: self.select.clone(),
            name: self.target_name().to_string(),
            image_name: self.image.name.clone().unwrap_or_else(|| snapshot.clone()),
            snapshot,
            disk_format: self.image.disk_format.clone(),
            visibility: self
                .image
                .visibility
                .clone()
                .unwrap_or_else(|| "private".into()),
            flavor: self.flavor.clone(),
            network: pick(&self.options.network, &defaults.network),
            keypair: self
                .options
                .keypair
                .clone()
                .or_else(|| defaults.keypair.clone()),
            networks: defaults
                .networks
                .iter()
                .chain(&self.options.networks)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            security_group: pick(&self.options.security_group, &defaults.security_group),
            floating_ip,
            floating_ip_nic,
            transfer: self
                .options
                .transfer
                .or(defaults.transfer)
                .unwrap_or(TransferMode::Stream),
            image_properties: self.image.properties.clone(),
            drop_properties: self.image.drop_properties.clone(),
            availability_zone: pick(&self.options.availability_zone, &defaults.availability_zone),
            zones: defaults
                .zones
                .iter()
                .chain(&self.options.zones)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            server_group: self
                .options
                .server_group
                .clone()
                .or_else(|| defaults.server_group.clone())
                .unwrap_or(ServerGroupMode::Copy),
            user_data: self.user_data.clone(),
            skip_volumes: self
                .options
                .skip_volumes
                .clone()
                .or_else(|| defaults.skip_volumes.clone())
                .unwrap_or_default(),
            volume_types: defaults
                .volume_types
                .iter()
                .chain(&self.options.volume_types)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            stop: self.options.stop.or(defaults.stop).unwrap_or(false),
            keep_volume_intermediates: self
                .options
                .keep_volume_intermediates
                .or(defaults.keep_volume_intermediates)
                .unwrap_or(false),
            volume_format: self
                .options
                .volume_format
                .or(defaults.volume_format)
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_field_by_field() {
        let defaults = ServerOptions {
            network: Some("private".into()),
            keypair: Some(KeypairMode::Import("alice-key".into())),
            security_group: None,
            floating_ip: Some(FloatingIp::Pool("public".into())),
            transfer: None,
            ..ServerOptions::default()
        };
        let server = Server {
            source: "ehr".into(),
            select: None,
            name: None,
            snapshot: None,
            image: ImageOptions::default(),
            flavor: None,
            user_data: None,
            options: ServerOptions {
                network: Some("other".into()),
                ..ServerOptions::default()
            },
        };
        let r = server.resolved(&defaults);
        assert_eq!(r.name, "ehr");
        assert_eq!(r.snapshot, "ehr-s2d");
        assert_eq!(r.image_name, "ehr-s2d");
        assert_eq!(r.visibility, "private");
        assert_eq!(r.network.as_deref(), Some("other"));
        assert_eq!(r.keypair, Some(KeypairMode::Import("alice-key".into())));
        assert_eq!(r.security_group, None);
        assert_eq!(r.transfer, TransferMode::Stream);
        assert_eq!(r.floating_ip, Some(FloatingIp::Pool("public".into())));
        assert_eq!(r.flavor, None);
        assert_eq!(r.disk_format, None);

        // A server's own settings win, field by field; the image name follows the snapshot.
        let own = Server {
            snapshot: Some("snap".into()),
            name: Some("target-name".into()),
            options: ServerOptions {
                keypair: Some(KeypairMode::Existing("k".into())),
                security_group: Some("web".into()),
                floating_ip: Some(FloatingIp::Disabled),
                transfer: Some(TransferMode::Spool),
                ..ServerOptions::default()
            },
            ..server
        };
        let r = own.resolved(&defaults);
        assert_eq!(r.name, "target-name");
        assert_eq!(r.snapshot, "snap");
        assert_eq!(r.image_name, "snap");
        assert_eq!(r.network.as_deref(), Some("private"));
        assert_eq!(r.keypair, Some(KeypairMode::Existing("k".into())));
        assert_eq!(r.security_group.as_deref(), Some("web"));
        assert_eq!(r.floating_ip, Some(FloatingIp::Disabled));
        assert_eq!(r.transfer, TransferMode::Spool);
    }

    #[test]
    fn nic_maps_merge_and_the_floating_ip_nic_travels_with_its_floating_ip() {
        let defaults = ServerOptions {
            networks: BTreeMap::from([
                ("private".to_string(), NicMap::to("private")),
                ("src-db".to_string(), NicMap::to("db-net")),
            ]),
            floating_ip: Some(FloatingIp::Pool("public".into())),
            floating_ip_nic: Some("private".into()),
            ..ServerOptions::default()
        };
        let server = Server {
            source: "ehr-db".into(),
            select: None,
            name: None,
            snapshot: None,
            image: ImageOptions::default(),
            flavor: None,
            user_data: None,
            options: ServerOptions {
                networks: BTreeMap::from([(
                    "src-db".to_string(),
                    NicMap {
                        network: "db-net".into(),
                        keep_ip: true,
                        keep_mac: false,
                    },
                )]),
                ..ServerOptions::default()
            },
        };
        let r = server.resolved(&defaults);
        assert_eq!(r.networks.len(), 2);
        assert_eq!(r.networks["private"], NicMap::to("private"));
        assert!(r.networks["src-db"].keep_ip);
        assert_eq!(r.floating_ip_nic.as_deref(), Some("private"));
        assert_eq!(r.security_group, None);

        // A server's own floating IP replaces the default's, NIC included.
        let own = Server {
            options: ServerOptions {
                floating_ip: Some(FloatingIp::Pool("other".into())),
                ..ServerOptions::default()
            },
            ..server.clone()
        };
        assert_eq!(own.resolved(&defaults).floating_ip_nic, None);
        let off = Server {
            options: ServerOptions {
                floating_ip: Some(FloatingIp::Disabled),
                ..ServerOptions::default()
            },
            ..server
        };
        assert_eq!(off.resolved(&defaults).floating_ip_nic, None);
    }

    #[test]
    fn volume_options_resolve_key_by_key_and_the_skip_list_is_replaced() {
        let defaults = ServerOptions {
            skip_volumes: Some(vec!["scratch".into(), "tmp".into()]),
            volume_types: BTreeMap::from([
                ("ceph".to_string(), "fast".to_string()),
                ("hdd".to_string(), "slow".to_string()),
            ]),
            stop: Some(true),
            volume_format: Some(VolumeFormat::Qcow2),
            ..ServerOptions::default()
        };
        let server = Server {
            source: "ehr-db".into(),
            select: None,
            name: None,
            snapshot: None,
            image: ImageOptions::default(),
            flavor: None,
            user_data: None,
            options: ServerOptions::default(),
        };
        // Nothing anywhere: every volume, no type map, a running copy, raw, cleaned up.
        let bare = server.resolved(&ServerOptions::default());
        assert!(bare.skip_volumes.is_empty() && bare.volume_types.is_empty());
        assert!(!bare.stop && !bare.keep_volume_intermediates);
        assert_eq!(bare.volume_format, VolumeFormat::Raw);

        let r = server.resolved(&defaults);
        assert_eq!(r.skip_volumes, ["scratch", "tmp"]);
        assert_eq!(r.volume_types.len(), 2);
        assert!(r.stop);
        assert!(!r.keep_volume_intermediates);
        assert_eq!(r.volume_format, VolumeFormat::Qcow2);

        let own = Server {
            options: ServerOptions {
                skip_volumes: Some(vec!["logs".into()]),
                volume_types: BTreeMap::from([("ceph".to_string(), "nvme".to_string())]),
                stop: Some(false),
                keep_volume_intermediates: Some(true),
                volume_format: Some(VolumeFormat::Raw),
                ..ServerOptions::default()
            },
            ..server.clone()
        };
        let r = own.resolved(&defaults);
        assert_eq!(r.skip_volumes, ["logs"]);
        assert_eq!(r.volume_types["ceph"], "nvme");
        assert_eq!(r.volume_types["hdd"], "slow");
        assert!(!r.stop);
        assert!(r.keep_volume_intermediates);
        assert_eq!(r.volume_format, VolumeFormat::Raw);

        // An empty list of its own: the server skips none, whatever [defaults] says.
        let none = Server {
            options: ServerOptions {
                skip_volumes: Some(Vec::new()),
                ..ServerOptions::default()
            },
            ..server
        };
        assert!(none.resolved(&defaults).skip_volumes.is_empty());
    }

    #[test]
    fn built_networks_and_routers_take_default_names() {
        let mut n = NetworkBuild {
            from: "src-db".into(),
            name: None,
            router: Some(RouterBuild {
                external: "public".into(),
                name: None,
            }),
        };
        assert_eq!(n.target_name(), "src-db");
        assert_eq!(n.router_name().as_deref(), Some("src-db-router"));
        n.name = Some("db-net".into());
        assert_eq!(n.router_name().as_deref(), Some("db-net-router"));
        n.router = Some(RouterBuild {
            external: "public".into(),
            name: Some("edge".into()),
        });
        assert_eq!(n.router_name().as_deref(), Some("edge"));
        n.router = None;
        assert_eq!(n.router_name(), None);
    }

    #[test]
    fn globs_match_runs_and_single_characters() {
        assert!(glob("web-*", "web-1"));
        assert!(glob("web-*", "web-"));
        assert!(!glob("web-*", "db-1"));
        assert!(glob("*-db-?", "eu-db-7"));
        assert!(!glob("*-db-?", "eu-db-17"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        // Adversarial: many stars against a long text stays quick (no backtracking blow-up).
        let text = "a".repeat(5_000);
        assert!(!glob(&format!("{}b", "*a".repeat(50)), &text));
    }

    #[test]
    fn a_selection_needs_every_criterion() {
        let sel = Selection {
            name: Some("ana-*".into()),
            tags: vec!["migrate".into()],
            metadata: BTreeMap::from([("tier".to_string(), "d*".to_string())]),
        };
        let meta = BTreeMap::from([("tier".to_string(), "db".to_string())]);
        let tags = vec!["migrate".to_string(), "x".to_string()];
        assert!(sel.matches("ana-1", &tags, &meta));
        assert!(!sel.matches("web-1", &tags, &meta));
        assert!(!sel.matches("ana-1", &["x".to_string()], &meta));
        assert!(!sel.matches("ana-1", &tags, &BTreeMap::new()));
        assert_eq!(sel.describe(), "name=ana-* tags=migrate metadata.tier=d*");
        let fleet = Server {
            source: String::new(),
            select: Some(sel),
            name: None,
            snapshot: None,
            image: ImageOptions::default(),
            flavor: None,
            user_data: None,
            options: ServerOptions::default(),
        };
        let r = fleet.resolved(&ServerOptions::default());
        assert_eq!(r.name, "{source}");
        assert_eq!(r.snapshot, "{source}-s2d");
        assert_eq!(r.image_name, "{source}-s2d");
    }

    #[test]
    fn secrets_never_show() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(serde_json::to_string(&s).expect("json"), "\"***\"");
        assert_eq!(s.expose(), "hunter2");
    }
}
