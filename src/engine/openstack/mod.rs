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

mod copy;

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
use crate::graph::{FlavorSpec, Rule, RuleDirection};
use crate::transfer::{Checksums, PipeOptions};

use super::port::{
    CloudPort, CopySpec, Diagnosis, Flavor, FloatingIp, GeneratedKeypair, Image, ImageQuery,
    ImageSpec, Keypair, Marker, Network, PortError, PortResult, Progress, RuleInfo, SecurityGroup,
    Server, ServerSpec, SourceServer,
};

/// How often a create whose outcome is unknown is looked up and tried again.
const CREATE_ATTEMPTS: u32 = 4;

/// How long to wait for a source server busy with another snapshot before giving up.
const SNAPSHOT_BUSY_LIMIT: Duration = Duration::from_secs(30 * 60);

/// How image bytes are copied.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    pub pipe: PipeOptions,
    /// Upload attempts when the connection breaks (a stream starts again from byte 0, a
    /// spooled image from its file).
    pub attempts: u32,
    /// Where spooled downloads (and converted images) live until they are uploaded; a part
    /// file left by a killed run is resumed from here.
    pub spool_dir: PathBuf,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            pipe: PipeOptions::default(),
            attempts: 3,
            spool_dir: std::env::temp_dir().join("s2d-spool"),
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

    async fn server_of(&self, s: cloud::compute::Server) -> PortResult<Server> {
        let flavor = s.flavor.clone().unwrap_or_default();
        let (flavor_id, flavor_name) = match flavor.id {
            Some(id) => {
                let name = self
                    .target
                    .compute
                    .get_flavor(&id)
                    .await
                    .map_err(api("get flavor"))?
                    .map(|f| f.name);
                (id.to_string(), name.or(flavor.original_name))
            }
            // From 2.47 the server shows its flavor's description, not its id.
            None => {
                let name = flavor.original_name.unwrap_or_default();
                let flavors = self
                    .target
                    .compute
                    .list_flavors()
                    .await
                    .map_err(api("list flavors"))?;
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
        // Nova learns of a floating IP asynchronously (real Nova after a network-changed
        // event): Neutron, which made the association, is asked as well.
        if !s.status.eq_ignore_ascii_case("DELETED") {
            let ports = self
                .target
                .network
                .server_ports(&s.id)
                .await
                .map_err(api("target: ports of server"))?;
            for port in &ports {
                let fips = self
                    .target
                    .network
                    .floating_ips(&[("port_id", port.id.to_string())])
                    .await
                    .map_err(api("target: list floating IPs"))?;
                for fip in fips {
                    if !floating_ips.contains(&fip.floating_ip_address) {
                        floating_ips.push(fip.floating_ip_address);
                    }
                }
            }
        }
        let mut groups: Vec<String> = s.security_groups.iter().map(|g| g.name.clone()).collect();
        groups.sort();
        groups.dedup();
        Ok(Server {
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
        })
    }

    async fn floating_ip_of(&self, f: cloud::network::FloatingIp) -> PortResult<FloatingIp> {
        let server_id = match &f.port_id {
            Some(port) => self
                .target
                .network
                .ports(&[("id", port.to_string())])
                .await
                .map_err(api("list ports"))?
                .into_iter()
                .next()
                .map(|p| p.device_id)
                .filter(|d| !d.is_empty()),
            None => None,
        };
        Ok(FloatingIp {
            id: f.id.to_string(),
            address: f.floating_ip_address.clone(),
            network_id: f.floating_network_id.to_string(),
            port_id: f.port_id.as_ref().map(ToString::to_string),
            server_id,
            marker: f.description.as_deref().and_then(marker_from_description),
        })
    }
}

/// A cloud error in engine terms, naming the call.
fn api(call: &'static str) -> impl Fn(cloud::Error) -> PortError {
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
fn deleted(what: String, result: cloud::Result<bool>, call: &'static str) -> PortResult<()> {
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

fn looks_like_uuid(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            matches!(i, 8 | 13 | 18 | 23) == (c == '-') && (c == '-' || c.is_ascii_hexdigit())
        })
}

impl CloudPort for OpenStack {
    async fn source_server(&self, name_or_id: &str) -> PortResult<Option<SourceServer>> {
        let compute = &self.source.compute;
        let mut found = None;
        if looks_like_uuid(name_or_id) {
            found = compute
                .get_server(&ServerId::new(name_or_id))
                .await
                .map_err(api("source: get server"))?;
        }
        if found.is_none() {
            let mut named = compute
                .list_servers(&ServerQuery {
                    name: Some(name_or_id.to_string()),
                    ..ServerQuery::default()
                })
                .await
                .map_err(api("source: list servers"))?;
            named.retain(|s| s.name == name_or_id);
            if named.len() > 1 {
                return Err(PortError::Api {
                    diagnosis: Diagnosis::default(),
                    call: "source: find server".into(),
                    status: None,
                    message: format!(
                        "{} servers are named `{name_or_id}` in the source cloud ({}): name it by id",
                        named.len(),
                        named
                            .iter()
                            .map(|s| s.id.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            found = named.pop();
        }
        let Some(server) = found else {
            return Ok(None);
        };
        let flavor = server.flavor.clone().unwrap_or_default();
        let spec = match (flavor.vcpus, flavor.ram, flavor.disk, &flavor.id) {
            (Some(vcpus), Some(ram), Some(disk), _) => FlavorSpec {
                name: flavor.original_name.clone().unwrap_or_default(),
                vcpus,
                ram_mb: ram,
                disk_gb: disk,
            },
            (_, _, _, Some(id)) => {
                let f = compute
                    .get_flavor(id)
                    .await
                    .map_err(api("source: get flavor"))?
                    .ok_or_else(|| PortError::NotFound {
                        what: format!("flavor {id} of source server {}", server.name),
                    })?;
                FlavorSpec {
                    name: f.name,
                    vcpus: f.vcpus,
                    ram_mb: f.ram,
                    disk_gb: f.disk,
                }
            }
            _ => {
                return Err(PortError::Api {
                    diagnosis: Diagnosis::default(),
                    call: "source: server flavor".into(),
                    status: None,
                    message: format!("source server {} shows no flavor", server.name),
                });
            }
        };
        // The groups the server's ports are in (Neutron's truth); Nova's names as a fallback.
        let ports = self
            .source
            .network
            .server_ports(&server.id)
            .await
            .map_err(api("source: ports of server"))?;
        let mut group_ids: Vec<String> = ports
            .iter()
            .flat_map(|p| p.security_groups.iter().map(ToString::to_string))
            .collect();
        if ports.is_empty() {
            for named in &server.security_groups {
                let groups = self
                    .source
                    .network
                    .security_groups(&[("name", named.name.clone())])
                    .await
                    .map_err(api("source: list security groups"))?;
                let owner = server.tenant_id.clone();
                group_ids.extend(
                    groups
                        .into_iter()
                        .filter(|g| owner.is_none() || g.project_id == owner)
                        .map(|g| g.id.to_string()),
                );
            }
        }
        group_ids.sort();
        group_ids.dedup();
        let mut security_groups = Vec::new();
        for id in &group_ids {
            let Some(mut group) = self.group_of(&self.source, id).await? else {
                continue;
            };
            group.rules.retain(|r| {
                let foreign = r
                    .rule
                    .remote_ip_prefix
                    .as_deref()
                    .is_some_and(|p| p.starts_with("group:"));
                if foreign {
                    tracing::warn!(
                        group = %group.name,
                        rule = %r.id,
                        "a source rule admits another security group; rules between groups are not copied"
                    );
                }
                !foreign
            });
            security_groups.push(group);
        }
        let keypair = match &server.key_name {
            Some(name) if !name.is_empty() => compute
                .get_keypair(name)
                .await
                .map_err(api("source: get keypair"))?
                .as_ref()
                .map(keypair),
            _ => None,
        };
        let image_disk_format = match &server.image {
            Some(id) => self
                .source
                .image
                .get(id)
                .await
                .map_err(api("source: get image"))?
                .and_then(|i| i.disk_format),
            None => None,
        };
        Ok(Some(SourceServer {
            id: server.id.to_string(),
            name: server.name.clone(),
            status: server.status.clone(),
            flavor: spec,
            security_groups,
            key_name: server.key_name.clone(),
            keypair,
            image_id: server.image.as_ref().map(ToString::to_string),
            image_disk_format,
        }))
    }

    async fn source_create_snapshot(
        &self,
        server_id: &str,
        name: &str,
        marker: &Marker,
    ) -> PortResult<String> {
        let metadata = marker.to_metadata();
        let server = ServerId::new(server_id);
        // Nova takes one snapshot of a server at a time: while one is taken or uploaded, a
        // second createImage is refused (devcloud: 409; real Nova may answer 500 and leave a
        // queued image behind). Two servers of a plan may copy one source, so s2d takes its
        // turns: one createImage per server at a time, each once the server is idle.
        let turn = {
            let mut turns = self
                .snapshot_turns
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            turns.entry(server_id.to_string()).or_default().clone()
        };
        let _turn = turn.lock().await;
        self.wait_source_idle(&server).await?;
        let mut pause = Duration::from_millis(250);
        let mut busy_since = None;
        let id = loop {
            let made = cloud::create_or_adopt(
                &self.source.session.config().retry,
                CREATE_ATTEMPTS,
                || self.source.compute.create_image(&server, name, &metadata),
                || async {
                    let images = self
                        .source
                        .image
                        .list(&GlanceQuery {
                            name: Some(name.to_string()),
                            ..GlanceQuery::default()
                        })
                        .await?;
                    Ok(images
                        .into_iter()
                        .map(image)
                        .find(|i| i.marker.as_ref() == Some(marker))
                        .map(|i| ImageId::new(i.id)))
                },
            )
            .await;
            match made {
                Ok(id) => break id,
                Err(e) if e.is_conflict() && e.to_string().contains("task_state") => {
                    let since = *busy_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() > SNAPSHOT_BUSY_LIMIT {
                        return Err(port_error("source: createImage", e));
                    }
                    tracing::debug!(
                        server = server_id,
                        "the server is busy with another snapshot; waiting"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 3 / 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(port_error("source: createImage", e)),
            }
        };
        Ok(id.to_string())
    }

    async fn source_image(&self, id: &str) -> PortResult<Option<Image>> {
        get_image(&self.source, id, "source: get image").await
    }

    async fn source_find_images(&self, query: &ImageQuery) -> PortResult<Vec<Image>> {
        find_images(&self.source, query, "source: list images").await
    }

    async fn source_wait_image_active(&self, id: &str, timeout: Duration) -> PortResult<Image> {
        wait_image(&self.source, id, timeout, "snapshot").await
    }

    async fn source_delete_image(&self, id: &str) -> PortResult<()> {
        deleted(
            format!("source image {id}"),
            self.source.image.delete(&ImageId::new(id)).await,
            "source: delete image",
        )
    }

    async fn target_flavors(&self) -> PortResult<Vec<Flavor>> {
        Ok(self
            .target
            .compute
            .list_flavors()
            .await
            .map_err(api("target: list flavors"))?
            .into_iter()
            .filter(|f| !f.disabled)
            .map(|f| Flavor {
                id: f.id.to_string(),
                spec: FlavorSpec {
                    name: f.name,
                    vcpus: f.vcpus,
                    ram_mb: f.ram,
                    disk_gb: f.disk,
                },
            })
            .collect())
    }

    async fn target_network(&self, name: &str) -> PortResult<Option<Network>> {
        let networks = self
            .target
            .network
            .networks(&[("name", name.to_string())])
            .await
            .map_err(api("target: list networks"))?;
        Ok(networks
            .into_iter()
            .find(|n| n.name == name)
            .map(|n| Network {
                id: n.id.to_string(),
                name: n.name,
                external: n.external,
            }))
    }

    async fn target_image(&self, id: &str) -> PortResult<Option<Image>> {
        get_image(&self.target, id, "target: get image").await
    }

    async fn target_find_images(&self, query: &ImageQuery) -> PortResult<Vec<Image>> {
        find_images(&self.target, query, "target: list images").await
    }

    async fn target_create_image(&self, spec: &ImageSpec) -> PortResult<Image> {
        let mut properties = spec.properties.clone();
        properties.extend(spec.marker.to_metadata());
        let create = ImageCreate {
            name: spec.name.clone(),
            disk_format: spec.disk_format.clone(),
            container_format: spec.container_format.clone(),
            visibility: Some(spec.visibility.clone()),
            properties,
            ..ImageCreate::default()
        };
        let query = ImageQuery {
            name: Some(spec.name.clone()),
            marker: Some(spec.marker.clone()),
        };
        let made = cloud::create_or_adopt(
            &self.target.session.config().retry,
            CREATE_ATTEMPTS,
            || async { self.target.image.create(&create).await.map(image) },
            || async {
                let found = self
                    .target
                    .image
                    .list(&GlanceQuery {
                        name: query.name.clone(),
                        ..GlanceQuery::default()
                    })
                    .await?;
                Ok(found
                    .into_iter()
                    .map(image)
                    .find(|i| i.marker == query.marker))
            },
        )
        .await
        .map_err(api("target: create image"))?;
        Ok(made)
    }

    async fn target_upload_image(
        &self,
        target_id: &str,
        source_id: &str,
        copy: &CopySpec,
        progress: Progress,
    ) -> PortResult<Checksums> {
        self.copy_image(target_id, source_id, copy, progress).await
    }

    async fn target_wait_image_active(&self, id: &str, timeout: Duration) -> PortResult<Image> {
        wait_image(&self.target, id, timeout, "image").await
    }

    async fn target_set_image_visibility(&self, id: &str, visibility: &str) -> PortResult<()> {
        self.target
            .image
            .patch(
                &ImageId::new(id),
                &[ImagePatch::Replace(
                    "visibility".into(),
                    serde_json::Value::String(visibility.to_string()),
                )],
            )
            .await
            .map_err(api("target: update image"))?;
        Ok(())
    }

    async fn target_delete_image(&self, id: &str) -> PortResult<()> {
        deleted(
            format!("target image {id}"),
            self.target.image.delete(&ImageId::new(id)).await,
            "target: delete image",
        )
    }

    async fn target_keypair(&self, name: &str) -> PortResult<Option<Keypair>> {
        Ok(self
            .target
            .compute
            .get_keypair(name)
            .await
            .map_err(api("target: get keypair"))?
            .as_ref()
            .map(keypair))
    }

    async fn target_import_keypair(&self, name: &str, public_key: &str) -> PortResult<Keypair> {
        let made = cloud::create_or_adopt(
            &self.target.session.config().retry,
            CREATE_ATTEMPTS,
            || self.target.compute.import_keypair(name, public_key, None),
            || async {
                let found = self.target.compute.get_keypair(name).await?;
                Ok(found.filter(|k| k.public_key.trim() == public_key.trim()))
            },
        )
        .await
        .map_err(api("target: import keypair"))?;
        Ok(keypair(&made))
    }

    async fn target_create_keypair(&self, name: &str) -> PortResult<GeneratedKeypair> {
        // Not retried blindly: a lost answer would have carried the only copy of the key.
        let made = self
            .target
            .compute
            .create_keypair(name, None)
            .await
            .map_err(api("target: create keypair"))?;
        let private_key = made
            .private_key
            .as_ref()
            .map(|k| k.expose().to_string())
            .ok_or_else(|| PortError::Api {
                diagnosis: Diagnosis::default(),
                call: "target: create keypair".into(),
                status: None,
                message: "the cloud made the keypair but sent no private key".into(),
            })?;
        Ok(GeneratedKeypair {
            keypair: keypair(&made),
            private_key,
        })
    }

    async fn target_delete_keypair(&self, name: &str) -> PortResult<()> {
        deleted(
            format!("keypair {name}"),
            self.target.compute.delete_keypair(name).await,
            "target: delete keypair",
        )
    }

    async fn target_security_groups(&self, name: &str) -> PortResult<Vec<SecurityGroup>> {
        let filters = self.target_project_filter(Some(name)).await?;
        Ok(self
            .target
            .network
            .security_groups(&filters)
            .await
            .map_err(api("target: list security groups"))?
            .into_iter()
            .filter(|g| g.name == name)
            .map(security_group)
            .collect())
    }

    async fn target_security_group(&self, id: &str) -> PortResult<Option<SecurityGroup>> {
        self.group_of(&self.target, id).await
    }

    async fn target_create_security_group(
        &self,
        name: &str,
        description: &str,
        marker: &Marker,
    ) -> PortResult<SecurityGroup> {
        let description = description_with_marker(description, marker);
        let made = cloud::create_or_adopt(
            &self.target.session.config().retry,
            CREATE_ATTEMPTS,
            || {
                self.target
                    .network
                    .create_security_group(name, Some(&description))
            },
            || async {
                let filters = self.target_project_filter(Some(name)).await.map_err(|e| {
                    cloud::Error::Unsupported {
                        cloud: self.target.name().to_string(),
                        message: e.to_string(),
                    }
                })?;
                let found = self.target.network.security_groups(&filters).await?;
                Ok(found
                    .into_iter()
                    .find(|g| g.description.as_deref() == Some(description.as_str())))
            },
        )
        .await
        .map_err(api("target: create security group"))?;
        Ok(security_group(made))
    }

    async fn target_delete_security_group(&self, id: &str) -> PortResult<()> {
        deleted(
            format!("security group {id}"),
            self.target
                .network
                .delete_security_group(&SecurityGroupId::new(id))
                .await,
            "target: delete security group",
        )
    }

    async fn target_create_rule(
        &self,
        group_id: &str,
        rule: &Rule,
        marker: &Marker,
    ) -> PortResult<RuleInfo> {
        let group = SecurityGroupId::new(group_id);
        let description = description_with_marker("", marker);
        let create = RuleCreate {
            direction: match rule.direction {
                RuleDirection::Ingress => "ingress".into(),
                RuleDirection::Egress => "egress".into(),
            },
            ethertype: Some(rule.ethertype.clone()),
            protocol: rule.protocol.clone(),
            port_range_min: rule.port_min.map(u32::from),
            port_range_max: rule.port_max.map(u32::from),
            remote_ip_prefix: rule.remote_ip_prefix.clone(),
            remote_group_id: rule.remote_self.then(|| group.clone()),
            description: Some(description.clone()),
        };
        let made = cloud::create_or_adopt(
            &self.target.session.config().retry,
            CREATE_ATTEMPTS,
            || self.target.network.create_rule(&group, &create),
            || async {
                let found = self
                    .target
                    .network
                    .rules(&[("security_group_id", group_id.to_string())])
                    .await?;
                Ok(found
                    .into_iter()
                    .find(|r| r.description.as_deref() == Some(description.as_str())))
            },
        )
        .await;
        match made {
            Ok(made) => Ok(rule_info(&made)),
            // Neutron gives a new group its own egress rules, and refuses a second copy of a
            // rule: the one that is there is the rule wanted.
            Err(e) if e.is_conflict() => {
                let existing = self
                    .target
                    .network
                    .rules(&[("security_group_id", group_id.to_string())])
                    .await
                    .map_err(api("target: list security group rules"))?
                    .iter()
                    .map(rule_info)
                    .find(|r| &r.rule == rule);
                existing.ok_or_else(|| port_error("target: create security group rule", e))
            }
            Err(e) => Err(port_error("target: create security group rule", e)),
        }
    }

    async fn target_delete_rule(&self, id: &str) -> PortResult<()> {
        deleted(
            format!("security group rule {id}"),
            self.target
                .network
                .delete_rule(&SecurityGroupRuleId::new(id))
                .await,
            "target: delete security group rule",
        )
    }

    async fn target_server(&self, id: &str) -> PortResult<Option<Server>> {
        match self
            .target
            .compute
            .get_server(&ServerId::new(id))
            .await
            .map_err(api("target: get server"))?
        {
            Some(s) if !s.status.eq_ignore_ascii_case("DELETED") => {
                Ok(Some(self.server_of(s).await?))
            }
            _ => Ok(None),
        }
    }

    async fn target_find_servers(&self, name: &str) -> PortResult<Vec<Server>> {
        let found = self
            .target
            .compute
            .list_servers(&ServerQuery {
                name: Some(name.to_string()),
                ..ServerQuery::default()
            })
            .await
            .map_err(api("target: list servers"))?;
        let mut servers = Vec::new();
        for s in found.into_iter().filter(|s| s.name == name) {
            servers.push(self.server_of(s).await?);
        }
        Ok(servers)
    }

    async fn target_create_server(&self, spec: &ServerSpec) -> PortResult<Server> {
        let create = ServerCreate {
            name: spec.name.clone(),
            image: Some(ImageId::new(spec.image_id.clone())),
            flavor: spec.flavor_id.as_str().into(),
            key_name: Some(spec.key_name.clone()),
            networks: vec![ServerNetwork::Network(NetworkId::new(
                spec.network_id.clone(),
            ))],
            security_groups: spec.security_groups.clone(),
            metadata: spec.marker.to_metadata(),
            ..ServerCreate::default()
        };
        let id = cloud::create_or_adopt(
            &self.target.session.config().retry,
            CREATE_ATTEMPTS,
            || self.target.compute.create_server(&create),
            || async {
                let found = self
                    .target
                    .compute
                    .list_servers(&ServerQuery {
                        name: Some(spec.name.clone()),
                        ..ServerQuery::default()
                    })
                    .await?;
                Ok(found
                    .into_iter()
                    .find(|s| Marker::from_metadata(&s.metadata).as_ref() == Some(&spec.marker))
                    .map(|s| s.id))
            },
        )
        .await
        .map_err(api("target: create server"))?;
        let server = self
            .target
            .compute
            .get_server(&id)
            .await
            .map_err(api("target: get server"))?
            .ok_or_else(|| PortError::NotFound {
                what: format!("server {id}, just created"),
            })?;
        self.server_of(server).await
    }

    async fn target_wait_server_active(&self, id: &str, timeout: Duration) -> PortResult<Server> {
        let what = format!("server {id}");
        let server = self
            .target
            .compute
            .wait_for_server(&ServerId::new(id), "ACTIVE", timeout)
            .await
            .map_err(|e| match e {
                cloud::Error::Failed {
                    status, message, ..
                } if status.eq_ignore_ascii_case("ERROR") => PortError::ServerFault {
                    id: id.to_string(),
                    fault: message,
                },
                other => wait_error(&what, "ACTIVE", timeout)(other),
            })?;
        self.server_of(server).await
    }

    async fn target_delete_server(&self, id: &str) -> PortResult<()> {
        deleted(
            format!("server {id}"),
            self.target.compute.delete_server(&ServerId::new(id)).await,
            "target: delete server",
        )
    }

    async fn target_wait_server_gone(&self, id: &str, timeout: Duration) -> PortResult<()> {
        let what = format!("deletion of server {id}");
        self.target
            .compute
            .wait_for_server_deleted(&ServerId::new(id), timeout)
            .await
            .map_err(wait_error(&what, "gone", timeout))
    }

    async fn target_floating_ips(&self) -> PortResult<Vec<FloatingIp>> {
        let filters = self.target_project_filter(None).await?;
        let found = self
            .target
            .network
            .floating_ips(&filters)
            .await
            .map_err(api("target: list floating IPs"))?;
        let mut out = Vec::new();
        for f in found {
            out.push(self.floating_ip_of(f).await?);
        }
        Ok(out)
    }

    async fn target_floating_ip_by_address(&self, address: &str) -> PortResult<Option<FloatingIp>> {
        let found = self
            .target
            .network
            .floating_ips(&[("floating_ip_address", address.to_string())])
            .await
            .map_err(api("target: list floating IPs"))?;
        match found.into_iter().find(|f| f.floating_ip_address == address) {
            Some(f) => Ok(Some(self.floating_ip_of(f).await?)),
            None => Ok(None),
        }
    }

    async fn target_allocate_floating_ip(
        &self,
        network_id: &str,
        marker: &Marker,
    ) -> PortResult<FloatingIp> {
        let description = description_with_marker("", marker);
        let create = FloatingIpCreate {
            floating_network_id: NetworkId::new(network_id),
            description: Some(description.clone()),
            ..FloatingIpCreate::default()
        };
        let made = cloud::create_or_adopt(
            &self.target.session.config().retry,
            CREATE_ATTEMPTS,
            || self.target.network.create_floating_ip(&create),
            || async {
                let found = self
                    .target
                    .network
                    .floating_ips(&[("floating_network_id", network_id.to_string())])
                    .await?;
                Ok(found
                    .into_iter()
                    .find(|f| f.description.as_deref() == Some(description.as_str())))
            },
        )
        .await
        .map_err(api("target: allocate floating IP"))?;
        self.floating_ip_of(made).await
    }

    async fn target_associate_floating_ip(
        &self,
        id: &str,
        server_id: &str,
    ) -> PortResult<FloatingIp> {
        let ports = self
            .target
            .network
            .server_ports(&ServerId::new(server_id))
            .await
            .map_err(api("target: ports of server"))?;
        let port = ports
            .iter()
            .find(|p| !p.fixed_ips.is_empty())
            .or(ports.first())
            .ok_or_else(|| PortError::NotFound {
                what: format!("a port of server {server_id} for the floating IP"),
            })?;
        let fip = self
            .target
            .network
            .associate_floating_ip(&FloatingIpId::new(id), Some(&port.id))
            .await
            .map_err(api("target: associate floating IP"))?;
        self.floating_ip_of(fip).await
    }

    async fn target_disassociate_floating_ip(&self, id: &str) -> PortResult<()> {
        match self
            .target
            .network
            .associate_floating_ip(&FloatingIpId::new(id), None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Err(PortError::NotFound {
                what: format!("floating IP {id}"),
            }),
            Err(e) => Err(port_error("target: disassociate floating IP", e)),
        }
    }

    async fn target_release_floating_ip(&self, id: &str) -> PortResult<()> {
        deleted(
            format!("floating IP {id}"),
            self.target
                .network
                .delete_floating_ip(&FloatingIpId::new(id))
                .await,
            "target: release floating IP",
        )
    }
}

async fn get_image(cloud: &Cloud, id: &str, call: &'static str) -> PortResult<Option<Image>> {
    Ok(cloud
        .image
        .get(&ImageId::new(id))
        .await
        .map_err(api(call))?
        .map(image))
}

async fn find_images(
    cloud: &Cloud,
    query: &ImageQuery,
    call: &'static str,
) -> PortResult<Vec<Image>> {
    let found = cloud
        .image
        .list(&GlanceQuery {
            name: query.name.clone(),
            ..GlanceQuery::default()
        })
        .await
        .map_err(api(call))?;
    Ok(found
        .into_iter()
        .map(image)
        .filter(|i| query.marker.is_none() || i.marker == query.marker)
        .collect())
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

    #[test]
    fn uuids_are_told_from_names() {
        assert!(looks_like_uuid("0b6f3c2e-1111-4222-8333-944455556666"));
        assert!(!looks_like_uuid("ehr-analytics"));
        assert!(!looks_like_uuid("0b6f3c2e-1111-4222-8333-94445555666z"));
    }
}
