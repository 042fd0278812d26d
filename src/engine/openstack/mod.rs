//! The real [`CloudPort`]: the engine's questions and orders turned into calls of the
//! [`crate::cloud`] client on two connected clouds, the source and the target.
//!
//! Owns the mapping between engine terms and OpenStack resources: where a [`Marker`] lives
//! (server metadata, image properties, the description of security groups, rules and floating
//! IPs), how a Neutron rule reads as a cloud-neutral [`Rule`], how a server's flavor is found
//! at every Nova microversion, and the image copy (a stream from the source Glance piped into
//! the target Glance through [`crate::transfer::pipe`], hashed on the way and checked against
//! the source's checksums, retried from the start when the connection breaks). Creates go
//! through [`cloud::create_or_adopt`], so a create whose answer was lost is looked up by its
//! marker instead of being repeated. Knows nothing of the graph, the state file or terminals.

mod catalog;
mod copy;
mod floating_ips;
mod images;
mod keypairs;
mod networks;
mod security_groups;
mod server_groups;
mod servers;
mod source_servers;
mod volumes;

pub use networks::ports_in_nic_order;
pub use source_servers::source_volumes;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cloud::compute::{ServerCreate, ServerNetwork, ServerQuery};
use crate::cloud::image::{ImageCreate, ImagePatch, ImageQuery as GlanceQuery};
use crate::cloud::network::{FloatingIpCreate, RuleCreate};
use crate::cloud::{
    self, Cloud, CloudConfig, FloatingIpId, ImageId, NetworkId, SecurityGroupId,
    SecurityGroupRuleId, ServerId,
};
use crate::graph::{Boot, FlavorSpec, Rule, RuleDirection, ServerBoot, SourceGroup};
use crate::transfer::{Checksums, PipeOptions};

use super::port::{
    Catalog, CopySpec, Diagnosis, FipTarget, Flavor, FloatingIp, FloatingIps, GeneratedKeypair,
    Image, ImageQuery, ImageSpec, ImageUpdate, Images, Keypair, Keypairs, Marker, NetInventory,
    NetKind, NetResource, NetSpec, Network, Networking, NicSpec, PortError, PortResult, Progress,
    Quota, QuotaUse, RuleInfo, SecurityGroup, SecurityGroups, Server, ServerGroup, ServerGroups,
    ServerSpec, ServerUpdate, Servers, Side, SourceServer, SourceServers,
};

/// How often a create whose outcome is unknown is looked up and tried again (a cloud failing
/// a fifth of its answers fails 8 creates in a row once in 390,000).
const CREATE_ATTEMPTS: u32 = 8;

/// How long to wait for a source server busy with another snapshot before giving up.
const SNAPSHOT_BUSY_LIMIT: Duration = Duration::from_secs(30 * 60);

/// How image bytes are copied.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    pub pipe: PipeOptions,
    /// Upload attempts when the connection breaks or the cloud answers 5xx (a stream starts
    /// again from byte 0, a spooled image from its file), within the restart budget; as many
    /// as a repeatable request gets (a flaky cloud fails three in a row often enough).
    pub attempts: u32,
    /// Where spooled downloads (and converted images) live until they are uploaded; a part
    /// file left by a killed run is resumed from here.
    pub spool_dir: PathBuf,
    /// The bytes one copy may send again over all its restarts (what broken attempts had
    /// moved); `None`: twice the image's size, at least [`MIN_RETRY_BUDGET`]. Once spent, the
    /// copy fails naming the call that broke last.
    pub retry_budget: Option<u64>,
}

/// The smallest restart budget of a copy (see [`TransferOptions::retry_budget`]).
pub const MIN_RETRY_BUDGET: u64 = 64 << 20;

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            pipe: PipeOptions::default(),
            attempts: 8,
            spool_dir: std::env::temp_dir().join("s2d-spool"),
            retry_budget: None,
        }
    }
}

/// The two connected clouds.
#[derive(Debug, Clone)]
pub struct OpenStack {
    source: Cloud,
    target: Cloud,
    transfer: TransferOptions,
    /// One createImage per source server at a time (see `source_create_snapshot`).
    snapshot_turns: Arc<std::sync::Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl OpenStack {
    /// Authenticate to both clouds (at the same time) and resolve their endpoints.
    pub async fn connect(
        source: CloudConfig,
        target: CloudConfig,
        transfer: TransferOptions,
    ) -> cloud::Result<OpenStack> {
        let (source, target) = tokio::try_join!(Cloud::connect(source), Cloud::connect(target))?;
        Ok(OpenStack::new(source, target, transfer))
    }

    /// Over clouds that are already connected.
    pub fn new(source: Cloud, target: Cloud, transfer: TransferOptions) -> OpenStack {
        OpenStack {
            source,
            target,
            transfer,
            snapshot_turns: Arc::default(),
        }
    }

    /// Wait until the source server has no task in progress (a snapshot being taken or
    /// uploaded), polling its `task_state`.
    async fn wait_source_idle(&self, server: &ServerId) -> PortResult<()> {
        let waited = cloud::wait::wait_for(
            self.source.session.name(),
            &format!("source server {server} to have no task in progress"),
            SNAPSHOT_BUSY_LIMIT,
            Duration::from_secs(3),
            || async {
                let found = self.source.compute.get_server(server).await?;
                Ok(match found.and_then(|s| s.task_state) {
                    None => cloud::wait::Poll::Ready(()),
                    Some(task) => {
                        tracing::debug!(%server, task, "the source server is busy; waiting");
                        cloud::wait::Poll::Pending(task)
                    }
                })
            },
        )
        .await;
        match waited {
            Ok(()) => Ok(()),
            // `what` names the last task seen.
            Err(cloud::Error::Timeout { what, .. }) => Err(PortError::Timeout {
                what: format!("source server {server}"),
                wanted: "no task in progress".into(),
                last: what,
                after: SNAPSHOT_BUSY_LIMIT,
            }),
            Err(e) => Err(port_error("source: get server", e)),
        }
    }

    pub fn source(&self) -> &Cloud {
        &self.source
    }

    /// The cloud of one side.
    fn side(&self, side: Side) -> &Cloud {
        match side {
            Side::Source => &self.source,
            Side::Target => &self.target,
        }
    }

    pub fn target(&self) -> &Cloud {
        &self.target
    }

    /// Filters for the target's own project (an admin token sees every project's), and a name.
    async fn target_project_filter(
        &self,
        name: Option<&str>,
    ) -> PortResult<Vec<(&'static str, String)>> {
        let mut filters = Vec::new();
        if let Some(name) = name {
            filters.push(("name", name.to_string()));
        }
        if let Some(project) = self
            .target
            .session
            .project_id()
            .await
            .map_err(api("target: project of the token"))?
        {
            filters.push(("project_id", project));
        }
        Ok(filters)
    }

    async fn group_of(&self, cloud: &Cloud, id: &str) -> PortResult<Option<SecurityGroup>> {
        let group = cloud
            .network
            .get_security_group(&SecurityGroupId::new(id))
            .await
            .map_err(api("get security group"))?;
        Ok(group.map(security_group))
    }

    /// One target server as the engine sees it (its flavor, ports and floating IPs asked for
    /// it alone; [`Servers::servers`] reads them for every server at once).
    async fn server_of(&self, s: cloud::compute::Server) -> PortResult<Server> {
        let t = &self.target;
        let flavors = match s.flavor.as_ref().and_then(|f| f.id.as_ref()) {
            Some(id) => t
                .compute
                .get_flavor(id)
                .await
                .map_err(api("target: get flavor"))?
                .into_iter()
                .collect(),
            None => t
                .compute
                .list_flavors()
                .await
                .map_err(api("target: list flavors"))?,
        };
        let (ports, fips) = if s.status.eq_ignore_ascii_case("DELETED") {
            (Vec::new(), Vec::new())
        } else {
            let ports = t
                .network
                .server_ports(&s.id)
                .await
                .map_err(api("target: ports of server"))?;
            let mut fips = Vec::new();
            for port in &ports {
                fips.extend(
                    t.network
                        .floating_ips(&[("port_id", port.id.to_string())])
                        .await
                        .map_err(api("target: list floating IPs"))?,
                );
            }
            (ports, fips)
        };
        Ok(server_from(s, &flavors, &ports, &fips))
    }

    /// Every floating IP of the target project, with the server each is on.
    async fn target_floating_ips(&self) -> PortResult<Vec<FloatingIp>> {
        let filters = self.target_project_filter(None).await?;
        let (fips, ports) = tokio::try_join!(
            async {
                self.target
                    .network
                    .floating_ips(&filters)
                    .await
                    .map_err(api("target: list floating IPs"))
            },
            async {
                self.target
                    .network
                    .ports(&filters)
                    .await
                    .map_err(api("target: list ports"))
            },
        )?;
        Ok(fips
            .into_iter()
            .map(|f| floating_ip_from(f, &ports))
            .collect())
    }

    /// One floating IP, with the server it is on.
    async fn floating_ip_of(&self, f: cloud::network::FloatingIp) -> PortResult<FloatingIp> {
        let ports = match &f.port_id {
            Some(port) => self
                .target
                .network
                .ports(&[("id", port.to_string())])
                .await
                .map_err(api("target: list ports"))?,
            None => Vec::new(),
        };
        Ok(floating_ip_from(f, &ports))
    }
}

/// A floating IP as the engine sees it; `ports` holds the one it is on, if any.
fn floating_ip_from(f: cloud::network::FloatingIp, ports: &[cloud::network::Port]) -> FloatingIp {
    let server_id = f.port_id.as_ref().and_then(|port| {
        ports
            .iter()
            .find(|p| &p.id == port)
            .map(|p| p.device_id.clone())
            .filter(|d| !d.is_empty())
    });
    FloatingIp {
        id: f.id.to_string(),
        address: f.floating_ip_address.clone(),
        network_id: f.floating_network_id.to_string(),
        port_id: f.port_id.as_ref().map(ToString::to_string),
        server_id,
        marker: f.description.as_deref().and_then(marker_from_description),
    }
}

/// A target server as the engine sees it, from the lists that say the rest: the flavors (for
/// its flavor's id and name), the ports and the floating IPs (Nova learns of a floating IP
/// asynchronously, real Nova after a network-changed event: Neutron, which made the
/// association, is asked as well).
fn server_from(
    s: cloud::compute::Server,
    flavors: &[cloud::compute::Flavor],
    ports: &[cloud::network::Port],
    fips: &[cloud::network::FloatingIp],
) -> Server {
    let flavor = s.flavor.clone().unwrap_or_default();
    let (flavor_id, flavor_name) = match flavor.id {
        Some(id) => {
            let name = flavors.iter().find(|f| f.id == id).map(|f| f.name.clone());
            (id.to_string(), name.or(flavor.original_name))
        }
        // From 2.47 the server shows its flavor's description, not its id.
        None => {
            let name = flavor.original_name.unwrap_or_default();
            let id = flavors
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.id.to_string())
                .unwrap_or_default();
            (id, Some(name))
        }
    };
    let mut fixed_ips = Vec::new();
    let mut floating_ips = Vec::new();
    for address in s.addresses.values().flatten() {
        match address.kind.as_deref() {
            Some("floating") => floating_ips.push(address.addr.clone()),
            _ => fixed_ips.push(address.addr.clone()),
        }
    }
    for port in ports.iter().filter(|p| p.device_id == s.id.as_str()) {
        for fip in fips.iter().filter(|f| f.port_id.as_ref() == Some(&port.id)) {
            if !floating_ips.contains(&fip.floating_ip_address) {
                floating_ips.push(fip.floating_ip_address.clone());
            }
        }
    }
    let mut groups: Vec<String> = s.security_groups.iter().map(|g| g.name.clone()).collect();
    groups.sort();
    groups.dedup();
    Server {
        id: s.id.to_string(),
        name: s.name.clone(),
        status: s.status.clone(),
        flavor_id,
        flavor_name,
        image_id: s.image.as_ref().map(ToString::to_string),
        key_name: s.key_name.clone(),
        security_groups: groups,
        fixed_ips,
        floating_ips,
        fault: s.fault.as_ref().map(|f| f.message.clone()),
        marker: Marker::from_metadata(&s.metadata),
        boot: Boot {
            metadata: without_marker(&s.metadata),
            tags: s.tags.clone(),
            description: s.description.clone(),
            config_drive: s.config_drive,
            hostname: s.hostname.clone(),
            availability_zone: s.availability_zone.clone(),
            user_data: None,
        },
    }
}

/// Metadata without s2d's marker keys.
fn without_marker(metadata: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    metadata
        .iter()
        .filter(|(k, _)| {
            k.as_str() != super::port::MARKER_LINEAGE && k.as_str() != super::port::MARKER_ADDRESS
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What a source server's copy gets too, as the source shows it.
fn server_boot(s: &cloud::compute::Server) -> ServerBoot {
    let user_data = s.user_data.clone();
    ServerBoot {
        metadata: without_marker(&s.metadata),
        tags: s.tags.clone(),
        description: s.description.clone(),
        config_drive: s.config_drive,
        hostname: s.hostname.clone(),
        availability_zone: s.availability_zone.clone(),
        user_data_readable: user_data.is_some(),
        user_data_sha256: user_data
            .flatten()
            .filter(|u| !u.is_empty())
            .map(|u| crate::files::user_data_digest(&u)),
    }
}

/// `source: WHAT` or `target: WHAT`, naming a call in errors.
fn call(side: Side, what: &str) -> String {
    format!("{}: {what}", side_name(side))
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Source => "source",
        Side::Target => "target",
    }
}

/// A cloud error in engine terms, naming the call.
fn api(call: &str) -> impl Fn(cloud::Error) -> PortError + '_ {
    move |e| port_error(call, e)
}

fn port_error(call: &str, e: cloud::Error) -> PortError {
    match e {
        cloud::Error::Timeout { what, after, .. } => PortError::Timeout {
            what,
            wanted: "an answer".into(),
            last: "none".into(),
            after,
        },
        other => PortError::Api {
            diagnosis: Diagnosis {
                code: other.code().to_string(),
                help: other.help(),
                request_id: other.request_id().map(str::to_string),
            },
            call: call.to_string(),
            status: other.status(),
            message: other.to_string(),
        },
    }
}

/// A wait's failure: a resource in a failed state, a timeout, or a call that failed.
fn wait_error<'a>(
    what: &'a str,
    wanted: &'a str,
    timeout: Duration,
) -> impl Fn(cloud::Error) -> PortError + 'a {
    move |e| match e {
        cloud::Error::Timeout { after, .. } => PortError::Timeout {
            what: what.to_string(),
            wanted: wanted.to_string(),
            last: "unknown".into(),
            after: after.max(timeout),
        },
        other => port_error(what, other),
    }
}

/// `Ok(false)` from a delete (already gone) reads as `NotFound`.
fn deleted(what: String, result: cloud::Result<bool>, call: &str) -> PortResult<()> {
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err(PortError::NotFound { what }),
        Err(e) => Err(port_error(call, e)),
    }
}

const DESCRIPTION_MARKER: &str = "[s2d_lineage=";
const DESCRIPTION_ADDRESS: &str = "; s2d_address=";

/// A description carrying the marker: `<text> [s2d_lineage=<l>; s2d_address=<a>]`.
pub fn description_with_marker(text: &str, marker: &Marker) -> String {
    let tag = format!(
        "{DESCRIPTION_MARKER}{}{DESCRIPTION_ADDRESS}{}]",
        marker.lineage, marker.address
    );
    if text.is_empty() {
        tag
    } else {
        format!("{text} {tag}")
    }
}

/// The marker in a description written by [`description_with_marker`].
pub fn marker_from_description(description: &str) -> Option<Marker> {
    let start = description.rfind(DESCRIPTION_MARKER)?;
    let rest = description[start + DESCRIPTION_MARKER.len()..].strip_suffix(']')?;
    let (lineage, address) = rest.split_once(DESCRIPTION_ADDRESS)?;
    Some(Marker {
        lineage: lineage.to_string(),
        address: address.parse().ok()?,
    })
}

/// The description without its marker.
fn description_text(description: &str) -> String {
    match description.rfind(DESCRIPTION_MARKER) {
        Some(start) => description[..start].trim_end().to_string(),
        None => description.to_string(),
    }
}

fn image(i: cloud::image::Image) -> Image {
    let metadata: BTreeMap<String, String> =
        [super::port::MARKER_LINEAGE, super::port::MARKER_ADDRESS]
            .into_iter()
            .filter_map(|k| i.property(k).map(|v| (k.to_string(), v.to_string())))
            .collect();
    Image {
        id: i.id.to_string(),
        name: i.name.unwrap_or_default(),
        status: i.status,
        disk_format: i.disk_format,
        visibility: i.visibility.unwrap_or_else(|| "shared".into()),
        sha512: (i.os_hash_algo.as_deref() == Some("sha512"))
            .then_some(i.os_hash_value)
            .flatten(),
        checksum: i.checksum,
        size: i.size,
        marker: Marker::from_metadata(&metadata),
        properties: i
            .properties
            .iter()
            .filter(|(k, _)| {
                k.as_str() != super::port::MARKER_LINEAGE
                    && k.as_str() != super::port::MARKER_ADDRESS
            })
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect(),
        min_disk: i.min_disk,
        min_ram: i.min_ram,
    }
}

/// A Neutron rule as a cloud-neutral rule. A rule admitting another group (not its own) has no
/// neutral form: it reads with a `group:<id>` prefix, which never equals a wanted rule.
fn rule_of(r: &cloud::network::SecurityGroupRule) -> Rule {
    let remote_self = r.remote_group_id.as_ref() == Some(&r.security_group_id);
    let remote_ip_prefix = match (&r.remote_ip_prefix, &r.remote_group_id) {
        (Some(prefix), _) => Some(prefix.clone()),
        (None, Some(group)) if !remote_self => Some(format!("group:{group}")),
        _ => None,
    };
    Rule {
        direction: if r.direction.eq_ignore_ascii_case("egress") {
            RuleDirection::Egress
        } else {
            RuleDirection::Ingress
        },
        ethertype: r.ethertype.clone().unwrap_or_else(|| "IPv4".into()),
        protocol: r.protocol.as_ref().map(|p| p.to_ascii_lowercase()),
        port_min: r.port_range_min.and_then(|p| u16::try_from(p).ok()),
        port_max: r.port_range_max.and_then(|p| u16::try_from(p).ok()),
        remote_ip_prefix,
        remote_self,
        remote_group: None,
    }
}

/// Rules that admit another group (read as `group:<id>`) named by that group's name, where
/// `groups` holds it: the cloud-neutral form, which the other cloud's copy of the group has
/// too.
fn name_remote_groups(groups: &mut [SecurityGroup]) {
    let names: BTreeMap<String, String> = groups
        .iter()
        .map(|g| (g.id.clone(), g.name.clone()))
        .collect();
    for group in groups.iter_mut() {
        for info in &mut group.rules {
            let named = info
                .rule
                .remote_ip_prefix
                .as_deref()
                .and_then(|p| p.strip_prefix("group:"))
                .and_then(|id| names.get(id));
            if let Some(name) = named {
                info.rule.remote_group = Some(name.clone());
                info.rule.remote_ip_prefix = None;
            }
        }
    }
}

fn rule_info(r: &cloud::network::SecurityGroupRule) -> RuleInfo {
    RuleInfo {
        id: r.id.to_string(),
        rule: rule_of(r),
        marker: r.description.as_deref().and_then(marker_from_description),
    }
}

fn security_group(g: cloud::network::SecurityGroup) -> SecurityGroup {
    let description = g.description.clone().unwrap_or_default();
    SecurityGroup {
        id: g.id.to_string(),
        name: g.name.clone(),
        description: description_text(&description),
        rules: g.security_group_rules.iter().map(rule_info).collect(),
        marker: marker_from_description(&description),
    }
}

fn keypair(k: &cloud::compute::Keypair) -> Keypair {
    Keypair {
        name: k.name.clone(),
        public_key: k.public_key.clone(),
        fingerprint: k.fingerprint.clone(),
    }
}

async fn wait_image(cloud: &Cloud, id: &str, timeout: Duration, what: &str) -> PortResult<Image> {
    let label = format!("{what} {id}");
    cloud
        .image
        .wait_for_status(&ImageId::new(id), "active", timeout)
        .await
        .map(image)
        .map_err(|e| match e {
            cloud::Error::Failed { status, .. } => PortError::ImageFailed {
                id: id.to_string(),
                status,
            },
            other => wait_error(&label, "active", timeout)(other),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Address;

    #[test]
    fn markers_survive_a_description() {
        let marker = Marker {
            lineage: "0b6f3c2e-1111-4222-8333-944455556666".into(),
            address: "security_group_rule.web[3]".parse().expect("address"),
        };
        let text = description_with_marker("made by s2d", &marker);
        assert_eq!(marker_from_description(&text), Some(marker.clone()));
        assert_eq!(description_text(&text), "made by s2d");
        let bare = description_with_marker("", &marker);
        assert_eq!(marker_from_description(&bare), Some(marker));
        assert_eq!(marker_from_description("Default security group"), None);
        assert_eq!(marker_from_description("x [s2d_lineage=abc]"), None);
    }

    #[test]
    fn a_server_address_with_spaces_survives() {
        let marker = Marker {
            lineage: "l".into(),
            address: Address::Server {
                name: "web one".into(),
            },
        };
        let text = description_with_marker("", &marker);
        assert_eq!(marker_from_description(&text), Some(marker));
    }

    #[test]
    fn neutron_rules_read_as_neutral_rules() {
        let raw = |remote_group: Option<&str>, prefix: Option<&str>| {
            serde_json::from_value::<cloud::network::SecurityGroupRule>(serde_json::json!({
                "id": "r1", "security_group_id": "g1", "direction": "ingress",
                "ethertype": "IPv4", "protocol": "TCP", "port_range_min": 22,
                "port_range_max": 22, "remote_ip_prefix": prefix,
                "remote_group_id": remote_group,
            }))
            .expect("rule")
        };
        let own = rule_of(&raw(Some("g1"), None));
        assert!(own.remote_self);
        assert_eq!(own.remote_ip_prefix, None);
        assert_eq!(own.protocol.as_deref(), Some("tcp"));
        let other = rule_of(&raw(Some("g2"), None));
        assert!(!other.remote_self);
        assert_eq!(other.remote_ip_prefix.as_deref(), Some("group:g2"));
        let open = rule_of(&raw(None, Some("0.0.0.0/0")));
        assert_eq!(open.port_min, Some(22));
        assert_eq!(open.remote_ip_prefix.as_deref(), Some("0.0.0.0/0"));
    }
}
