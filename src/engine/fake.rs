//! A scripted in-memory pair of clouds behind [`CloudPort`], for the engine's tests: records
//! every call, takes a latency per call (use with `tokio::time::pause`), and can fail calls,
//! send servers to ERROR and "crash" after the Nth mutation (the mutation happens, its answer
//! is lost, and every later call fails, as when s2d is killed between a create and the state
//! write). Knows nothing of HTTP.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::port::*;

mod port;
use crate::graph::{FlavorSpec, Rule, RuleDirection};
use crate::transfer::Hasher;

/// What the two clouds hold: compared before and after to prove destroy undoes apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    pub source_images: BTreeMap<String, Image>,
    pub images: BTreeMap<String, Image>,
    pub keypairs: BTreeMap<String, Keypair>,
    pub groups: BTreeMap<String, SecurityGroup>,
    pub servers: BTreeMap<String, Server>,
    pub floating_ips: BTreeMap<String, FloatingIp>,
}

/// The script: how the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Added to every call.
    pub latency: Duration,
    /// How long a snapshot, an image or a server takes to become ready once asked.
    pub ready_after: Duration,
    /// How long an image upload takes.
    pub transfer_time: Duration,
    /// Calls (by method name) that fail with this message.
    pub fail: BTreeMap<&'static str, String>,
    /// Servers (by name) that go to ERROR with this fault.
    pub error_servers: BTreeMap<String, String>,
    /// Crash after this many successful mutations.
    pub crash_after: Option<usize>,
}

#[derive(Debug, Default)]
struct World {
    contents: Contents,
    source_servers: BTreeMap<String, SourceServer>,
    image_data: BTreeMap<String, Vec<u8>>,
    flavors: Vec<Flavor>,
    networks: Vec<Network>,
    calls: Vec<String>,
    next_id: u64,
    mutations: usize,
    crashed: bool,
    script: Script,
}

pub struct FakeCloud {
    world: Mutex<World>,
}

pub fn fingerprint(public_key: &str) -> String {
    let mut h = Hasher::new();
    h.update(public_key.as_bytes());
    let md5 = h.finish().md5;
    md5.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

pub fn rule(direction: RuleDirection, protocol: Option<&str>, port: Option<u16>) -> Rule {
    Rule {
        direction,
        ethertype: "IPv4".into(),
        protocol: protocol.map(str::to_string),
        port_min: port,
        port_max: port,
        remote_ip_prefix: (direction == RuleDirection::Ingress && protocol.is_some())
            .then(|| "0.0.0.0/0".to_string()),
        remote_self: false,
    }
}

fn default_egress(prefix: &str, n: &mut u64) -> Vec<RuleInfo> {
    ["IPv4", "IPv6"]
        .iter()
        .map(|eth| {
            *n += 1;
            RuleInfo {
                id: format!("{prefix}-rule-{n}"),
                rule: Rule {
                    direction: RuleDirection::Egress,
                    ethertype: eth.to_string(),
                    protocol: None,
                    port_min: None,
                    port_max: None,
                    remote_ip_prefix: None,
                    remote_self: false,
                },
                marker: None,
            }
        })
        .collect()
}

impl FakeCloud {
    /// A source with servers `names` (each with ports 22 and 443 open and keypair `alice`),
    /// a target with flavors, network `private`, external network `public` and its `default`
    /// group.
    pub fn new(names: &[&str], script: Script) -> FakeCloud {
        let mut w = World {
            script,
            next_id: 0,
            ..World::default()
        };
        let public_key = "ssh-ed25519 AAAAC3Nza alice@laptop".to_string();
        for name in names {
            let server = SourceServer {
                id: format!("src-{name}-id"),
                name: name.to_string(),
                status: "ACTIVE".into(),
                flavor: FlavorSpec {
                    name: "m1.small".into(),
                    vcpus: 1,
                    ram_mb: 2048,
                    disk_gb: 20,
                },
                security_groups: vec![SecurityGroup {
                    id: "src-web".into(),
                    name: "web".into(),
                    description: String::new(),
                    rules: [22, 443]
                        .iter()
                        .enumerate()
                        .map(|(i, p)| RuleInfo {
                            id: format!("src-rule-{i}"),
                            rule: rule(RuleDirection::Ingress, Some("tcp"), Some(*p)),
                            marker: None,
                        })
                        .collect(),
                    marker: None,
                }],
                key_name: Some("alice".into()),
                keypair: Some(Keypair {
                    name: "alice".into(),
                    public_key: public_key.clone(),
                    fingerprint: fingerprint(&public_key),
                }),
                image_id: Some("src-base-image".into()),
                image_disk_format: Some("qcow2".into()),
            };
            w.source_servers.insert(name.to_string(), server);
        }
        w.flavors = vec![
            ("f-tiny", "m1.tiny", 1, 512, 1),
            ("f-small", "m1.small", 1, 2048, 20),
            ("f-large", "m1.large", 4, 8192, 80),
        ]
        .into_iter()
        .map(|(id, name, vcpus, ram_mb, disk_gb)| Flavor {
            id: id.into(),
            spec: FlavorSpec {
                name: name.into(),
                vcpus,
                ram_mb,
                disk_gb,
            },
        })
        .collect();
        w.networks = vec![
            Network {
                id: "net-private".into(),
                name: "private".into(),
                external: false,
            },
            Network {
                id: "net-public".into(),
                name: "public".into(),
                external: true,
            },
        ];
        let mut n = 0;
        let mut rules = default_egress("default", &mut n);
        rules.push(RuleInfo {
            id: "default-rule-self".into(),
            rule: Rule {
                direction: RuleDirection::Ingress,
                ethertype: "IPv4".into(),
                protocol: None,
                port_min: None,
                port_max: None,
                remote_ip_prefix: None,
                remote_self: true,
            },
            marker: None,
        });
        w.contents.groups.insert(
            "sg-default".into(),
            SecurityGroup {
                id: "sg-default".into(),
                name: "default".into(),
                description: "Default security group".into(),
                rules,
                marker: None,
            },
        );
        FakeCloud {
            world: Mutex::new(w),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("fake cloud mutex")
    }

    pub fn contents(&self) -> Contents {
        self.lock().contents.clone()
    }

    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    pub fn mutations(&self) -> usize {
        self.lock().mutations
    }

    /// Change the script (e.g. clear a failure, or "restart" after a crash).
    pub fn script(&self, edit: impl FnOnce(&mut Script)) {
        let mut w = self.lock();
        edit(&mut w.script);
        w.crashed = false;
    }

    /// Change the source servers (e.g. their rules).
    pub fn edit_source(&self, edit: impl FnOnce(&mut BTreeMap<String, SourceServer>)) {
        edit(&mut self.lock().source_servers);
    }

    /// Reach into the target by hand (drift).
    pub fn edit(&self, edit: impl FnOnce(&mut Contents)) {
        edit(&mut self.lock().contents);
    }

    /// Log the call, sleep the latency, and fail it if scripted or crashed.
    async fn enter(&self, name: &'static str, arg: &str) -> PortResult<()> {
        let latency = {
            let mut w = self.lock();
            w.calls.push(format!("{name}({arg})"));
            w.script.latency
        };
        tokio::time::sleep(latency).await;
        let w = self.lock();
        if w.crashed {
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: name.into(),
                status: None,
                message: "the process was killed".into(),
            });
        }
        if let Some(message) = w.script.fail.get(name) {
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: name.into(),
                status: Some(500),
                message: message.clone(),
            });
        }
        Ok(())
    }

    /// Count a mutation; when the crash point is reached, the change stays but the answer is
    /// lost.
    fn mutated<T>(w: &mut World, call: &str, value: T) -> PortResult<T> {
        w.mutations += 1;
        if w.script.crash_after.is_some_and(|n| w.mutations >= n) {
            w.crashed = true;
            w.script.crash_after = None;
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: call.into(),
                status: None,
                message: "the process was killed".into(),
            });
        }
        Ok(value)
    }

    fn id(w: &mut World, prefix: &str) -> String {
        w.next_id += 1;
        format!("{prefix}-{}", w.next_id)
    }

    async fn ready_delay(&self) {
        let delay = self.lock().script.ready_after;
        tokio::time::sleep(delay).await;
    }
}

fn matches(image: &Image, query: &ImageQuery) -> bool {
    query.name.as_ref().is_none_or(|n| &image.name == n)
        && query
            .marker
            .as_ref()
            .is_none_or(|m| image.marker.as_ref() == Some(m))
}

fn not_found(what: &str) -> PortError {
    PortError::NotFound {
        what: what.to_string(),
    }
}

/// The fake's calls, named as the scripts of the tests name them (`target_create_rule`, ...);
/// the port traits below hand over to them.
impl FakeCloud {
    async fn source_server(&self, name_or_id: &str) -> PortResult<Option<SourceServer>> {
        self.enter("source_server", name_or_id).await?;
        let w = self.lock();
        Ok(w.source_servers
            .values()
            .find(|s| s.name == name_or_id || s.id == name_or_id)
            .cloned())
    }

    async fn source_create_snapshot(
        &self,
        server_id: &str,
        name: &str,
        marker: &Marker,
    ) -> PortResult<String> {
        self.enter("source_create_snapshot", name).await?;
        let mut w = self.lock();
        let id = Self::id(&mut w, "snap");
        w.image_data
            .insert(id.clone(), format!("disk of {server_id}").into_bytes());
        w.contents.source_images.insert(
            id.clone(),
            Image {
                id: id.clone(),
                name: name.into(),
                status: "saving".into(),
                disk_format: Some("qcow2".into()),
                visibility: "private".into(),
                checksum: None,
                sha512: None,
                size: None,
                marker: Some(marker.clone()),
            },
        );
        Self::mutated(&mut w, "source_create_snapshot", id)
    }

    async fn source_image(&self, id: &str) -> PortResult<Option<Image>> {
        self.enter("source_image", id).await?;
        Ok(self.lock().contents.source_images.get(id).cloned())
    }

    async fn source_find_images(&self, query: &ImageQuery) -> PortResult<Vec<Image>> {
        self.enter("source_find_images", "").await?;
        let w = self.lock();
        Ok(w.contents
            .source_images
            .values()
            .filter(|i| matches(i, query))
            .cloned()
            .collect())
    }

    async fn source_wait_image_active(&self, id: &str, _timeout: Duration) -> PortResult<Image> {
        self.enter("source_wait_image_active", id).await?;
        self.ready_delay().await;
        let mut w = self.lock();
        let data = w.image_data.get(id).cloned().unwrap_or_default();
        let image = w
            .contents
            .source_images
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        let mut h = Hasher::new();
        h.update(&data);
        let sums = h.finish();
        image.status = "active".into();
        image.sha512 = Some(sums.sha512);
        image.checksum = Some(sums.md5);
        image.size = Some(sums.size);
        Ok(image.clone())
    }

    async fn source_delete_image(&self, id: &str) -> PortResult<()> {
        self.enter("source_delete_image", id).await?;
        let mut w = self.lock();
        w.contents
            .source_images
            .remove(id)
            .ok_or_else(|| not_found(id))?;
        Self::mutated(&mut w, "source_delete_image", ())
    }

    async fn target_flavors(&self) -> PortResult<Vec<Flavor>> {
        self.enter("target_flavors", "").await?;
        Ok(self.lock().flavors.clone())
    }

    async fn target_network(&self, name: &str) -> PortResult<Option<Network>> {
        self.enter("target_network", name).await?;
        Ok(self
            .lock()
            .networks
            .iter()
            .find(|n| n.name == name)
            .cloned())
    }

    async fn target_image(&self, id: &str) -> PortResult<Option<Image>> {
        self.enter("target_image", id).await?;
        Ok(self.lock().contents.images.get(id).cloned())
    }

    async fn target_find_images(&self, query: &ImageQuery) -> PortResult<Vec<Image>> {
        self.enter("target_find_images", "").await?;
        let w = self.lock();
        Ok(w.contents
            .images
            .values()
            .filter(|i| matches(i, query))
            .cloned()
            .collect())
    }

    async fn target_create_image(&self, spec: &ImageSpec) -> PortResult<Image> {
        self.enter("target_create_image", &spec.name).await?;
        let mut w = self.lock();
        let id = Self::id(&mut w, "img");
        let image = Image {
            id: id.clone(),
            name: spec.name.clone(),
            status: "queued".into(),
            disk_format: Some(spec.disk_format.clone()),
            visibility: spec.visibility.clone(),
            checksum: None,
            sha512: None,
            size: None,
            marker: Some(spec.marker.clone()),
        };
        w.contents.images.insert(id, image.clone());
        Self::mutated(&mut w, "target_create_image", image)
    }

    async fn target_upload_image(
        &self,
        target_id: &str,
        source_id: &str,
        _copy: &super::port::CopySpec,
        progress: Progress,
    ) -> PortResult<Checksums> {
        self.enter("target_upload_image", target_id).await?;
        let time = self.lock().script.transfer_time;
        tokio::time::sleep(time).await;
        let mut w = self.lock();
        let data = w
            .image_data
            .get(source_id)
            .cloned()
            .ok_or_else(|| not_found(source_id))?;
        let mut h = Hasher::new();
        h.update(&data);
        let sums = h.finish();
        progress(sums.size, Some(sums.size));
        let image = w
            .contents
            .images
            .get_mut(target_id)
            .ok_or_else(|| not_found(target_id))?;
        image.status = "active".into();
        image.checksum = Some(sums.md5.clone());
        image.sha512 = Some(sums.sha512.clone());
        image.size = Some(sums.size);
        Self::mutated(&mut w, "target_upload_image", sums)
    }

    async fn target_wait_image_active(&self, id: &str, _timeout: Duration) -> PortResult<Image> {
        self.enter("target_wait_image_active", id).await?;
        self.ready_delay().await;
        let w = self.lock();
        let image = w.contents.images.get(id).ok_or_else(|| not_found(id))?;
        if image.status != "active" {
            return Err(PortError::ImageFailed {
                id: id.into(),
                status: image.status.clone(),
            });
        }
        Ok(image.clone())
    }

    async fn target_set_image_visibility(&self, id: &str, visibility: &str) -> PortResult<()> {
        self.enter("target_set_image_visibility", id).await?;
        let mut w = self.lock();
        let image = w.contents.images.get_mut(id).ok_or_else(|| not_found(id))?;
        image.visibility = visibility.into();
        Self::mutated(&mut w, "target_set_image_visibility", ())
    }

    async fn target_delete_image(&self, id: &str) -> PortResult<()> {
        self.enter("target_delete_image", id).await?;
        let mut w = self.lock();
        w.contents.images.remove(id).ok_or_else(|| not_found(id))?;
        Self::mutated(&mut w, "target_delete_image", ())
    }

    async fn target_keypair(&self, name: &str) -> PortResult<Option<Keypair>> {
        self.enter("target_keypair", name).await?;
        Ok(self.lock().contents.keypairs.get(name).cloned())
    }

    async fn target_import_keypair(&self, name: &str, public_key: &str) -> PortResult<Keypair> {
        self.enter("target_import_keypair", name).await?;
        let mut w = self.lock();
        if w.contents.keypairs.contains_key(name) {
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: "target_import_keypair".into(),
                status: Some(409),
                message: format!("Key pair '{name}' already exists."),
            });
        }
        let keypair = Keypair {
            name: name.into(),
            public_key: public_key.into(),
            fingerprint: fingerprint(public_key),
        };
        w.contents.keypairs.insert(name.into(), keypair.clone());
        Self::mutated(&mut w, "target_import_keypair", keypair)
    }

    async fn target_create_keypair(&self, name: &str) -> PortResult<GeneratedKeypair> {
        self.enter("target_create_keypair", name).await?;
        let mut w = self.lock();
        let n = Self::id(&mut w, "key");
        let public_key = format!("ssh-ed25519 GENERATED{n}");
        let keypair = Keypair {
            name: name.into(),
            fingerprint: fingerprint(&public_key),
            public_key,
        };
        w.contents.keypairs.insert(name.into(), keypair.clone());
        Self::mutated(
            &mut w,
            "target_create_keypair",
            GeneratedKeypair {
                keypair,
                private_key: format!("PRIVATE {n}"),
            },
        )
    }

    async fn target_delete_keypair(&self, name: &str) -> PortResult<()> {
        self.enter("target_delete_keypair", name).await?;
        let mut w = self.lock();
        w.contents
            .keypairs
            .remove(name)
            .ok_or_else(|| not_found(name))?;
        Self::mutated(&mut w, "target_delete_keypair", ())
    }

    async fn target_security_groups(&self, name: &str) -> PortResult<Vec<SecurityGroup>> {
        self.enter("target_security_groups", name).await?;
        let w = self.lock();
        Ok(w.contents
            .groups
            .values()
            .filter(|g| g.name == name)
            .cloned()
            .collect())
    }

    async fn target_security_group(&self, id: &str) -> PortResult<Option<SecurityGroup>> {
        self.enter("target_security_group", id).await?;
        Ok(self.lock().contents.groups.get(id).cloned())
    }

    async fn target_create_security_group(
        &self,
        name: &str,
        description: &str,
        marker: &Marker,
    ) -> PortResult<SecurityGroup> {
        self.enter("target_create_security_group", name).await?;
        let mut w = self.lock();
        let id = Self::id(&mut w, "sg");
        let mut n = w.next_id;
        let rules = default_egress(&id, &mut n);
        w.next_id = n;
        let group = SecurityGroup {
            id: id.clone(),
            name: name.into(),
            description: description.into(),
            rules,
            marker: Some(marker.clone()),
        };
        w.contents.groups.insert(id, group.clone());
        Self::mutated(&mut w, "target_create_security_group", group)
    }

    async fn target_delete_security_group(&self, id: &str) -> PortResult<()> {
        self.enter("target_delete_security_group", id).await?;
        let mut w = self.lock();
        if w.contents.servers.values().any(|s| {
            s.security_groups
                .iter()
                .any(|g| w.contents.groups.get(id).is_some_and(|x| &x.name == g))
        }) {
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: "target_delete_security_group".into(),
                status: Some(409),
                message: format!("Security Group {id} in use."),
            });
        }
        w.contents.groups.remove(id).ok_or_else(|| not_found(id))?;
        Self::mutated(&mut w, "target_delete_security_group", ())
    }

    async fn target_create_rule(
        &self,
        group_id: &str,
        rule: &Rule,
        marker: &Marker,
    ) -> PortResult<RuleInfo> {
        self.enter("target_create_rule", group_id).await?;
        let mut w = self.lock();
        let id = Self::id(&mut w, "rule");
        let group = w
            .contents
            .groups
            .get_mut(group_id)
            .ok_or_else(|| not_found(group_id))?;
        if group.rules.iter().any(|r| &r.rule == rule) {
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: "target_create_rule".into(),
                status: Some(409),
                message: "Security group rule already exists.".into(),
            });
        }
        let info = RuleInfo {
            id,
            rule: rule.clone(),
            marker: Some(marker.clone()),
        };
        group.rules.push(info.clone());
        Self::mutated(&mut w, "target_create_rule", info)
    }

    async fn target_delete_rule(&self, id: &str) -> PortResult<()> {
        self.enter("target_delete_rule", id).await?;
        let mut w = self.lock();
        let mut found = false;
        for group in w.contents.groups.values_mut() {
            let before = group.rules.len();
            group.rules.retain(|r| r.id != id);
            found |= group.rules.len() != before;
        }
        if !found {
            return Err(not_found(id));
        }
        Self::mutated(&mut w, "target_delete_rule", ())
    }

    async fn target_server(&self, id: &str) -> PortResult<Option<Server>> {
        self.enter("target_server", id).await?;
        Ok(self.lock().contents.servers.get(id).cloned())
    }

    async fn target_find_servers(&self, name: &str) -> PortResult<Vec<Server>> {
        self.enter("target_find_servers", name).await?;
        let w = self.lock();
        Ok(w.contents
            .servers
            .values()
            .filter(|s| s.name == name)
            .cloned()
            .collect())
    }

    async fn target_create_server(&self, spec: &ServerSpec) -> PortResult<Server> {
        self.enter("target_create_server", &spec.name).await?;
        let mut w = self.lock();
        if !w.contents.images.contains_key(&spec.image_id) {
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: "target_create_server".into(),
                status: Some(400),
                message: format!("Image {} could not be found.", spec.image_id),
            });
        }
        let id = Self::id(&mut w, "srv");
        let flavor_name = w
            .flavors
            .iter()
            .find(|f| f.id == spec.flavor_id)
            .map(|f| f.spec.name.clone());
        let fixed = format!("10.0.0.{}", w.next_id);
        let server = Server {
            id: id.clone(),
            name: spec.name.clone(),
            status: "BUILD".into(),
            flavor_id: spec.flavor_id.clone(),
            flavor_name,
            image_id: Some(spec.image_id.clone()),
            key_name: Some(spec.key_name.clone()),
            security_groups: spec.security_groups.clone(),
            fixed_ips: vec![fixed],
            floating_ips: Vec::new(),
            fault: None,
            marker: Some(spec.marker.clone()),
        };
        w.contents.servers.insert(id, server.clone());
        Self::mutated(&mut w, "target_create_server", server)
    }

    async fn target_wait_server_active(&self, id: &str, _timeout: Duration) -> PortResult<Server> {
        self.enter("target_wait_server_active", id).await?;
        self.ready_delay().await;
        let mut w = self.lock();
        let fault = {
            let server = w.contents.servers.get(id).ok_or_else(|| not_found(id))?;
            w.script.error_servers.get(&server.name).cloned()
        };
        let server = w
            .contents
            .servers
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        match fault {
            Some(fault) => {
                server.status = "ERROR".into();
                server.fault = Some(fault.clone());
                Err(PortError::ServerFault {
                    id: id.into(),
                    fault,
                })
            }
            None => {
                server.status = "ACTIVE".into();
                Ok(server.clone())
            }
        }
    }

    async fn target_delete_server(&self, id: &str) -> PortResult<()> {
        self.enter("target_delete_server", id).await?;
        let mut w = self.lock();
        w.contents.servers.remove(id).ok_or_else(|| not_found(id))?;
        for fip in w.contents.floating_ips.values_mut() {
            if fip.server_id.as_deref() == Some(id) {
                fip.server_id = None;
                fip.port_id = None;
            }
        }
        Self::mutated(&mut w, "target_delete_server", ())
    }

    async fn target_wait_server_gone(&self, id: &str, _timeout: Duration) -> PortResult<()> {
        self.enter("target_wait_server_gone", id).await?;
        self.ready_delay().await;
        Ok(())
    }

    async fn target_floating_ips(&self) -> PortResult<Vec<FloatingIp>> {
        self.enter("target_floating_ips", "").await?;
        Ok(self
            .lock()
            .contents
            .floating_ips
            .values()
            .cloned()
            .collect())
    }

    async fn target_floating_ip_by_address(&self, address: &str) -> PortResult<Option<FloatingIp>> {
        self.enter("target_floating_ip_by_address", address).await?;
        let w = self.lock();
        Ok(w.contents
            .floating_ips
            .values()
            .find(|f| f.address == address)
            .cloned())
    }

    async fn target_allocate_floating_ip(
        &self,
        network_id: &str,
        marker: &Marker,
    ) -> PortResult<FloatingIp> {
        self.enter("target_allocate_floating_ip", network_id)
            .await?;
        let mut w = self.lock();
        let id = Self::id(&mut w, "fip");
        let fip = FloatingIp {
            id: id.clone(),
            address: format!("203.0.113.{}", w.next_id),
            network_id: network_id.into(),
            port_id: None,
            server_id: None,
            marker: Some(marker.clone()),
        };
        w.contents.floating_ips.insert(id, fip.clone());
        Self::mutated(&mut w, "target_allocate_floating_ip", fip)
    }

    async fn target_associate_floating_ip(
        &self,
        id: &str,
        server_id: &str,
    ) -> PortResult<FloatingIp> {
        self.enter("target_associate_floating_ip", id).await?;
        let mut w = self.lock();
        if !w.contents.servers.contains_key(server_id) {
            return Err(not_found(server_id));
        }
        let fip = w
            .contents
            .floating_ips
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        fip.port_id = Some(format!("port-{server_id}"));
        fip.server_id = Some(server_id.into());
        let fip = fip.clone();
        if let Some(server) = w.contents.servers.get_mut(server_id)
            && !server.floating_ips.contains(&fip.address)
        {
            server.floating_ips.push(fip.address.clone());
        }
        Self::mutated(&mut w, "target_associate_floating_ip", fip)
    }

    async fn target_disassociate_floating_ip(&self, id: &str) -> PortResult<()> {
        self.enter("target_disassociate_floating_ip", id).await?;
        let mut w = self.lock();
        let fip = w
            .contents
            .floating_ips
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        let (address, server) = (fip.address.clone(), fip.server_id.take());
        fip.port_id = None;
        if let Some(server) = server.and_then(|s| w.contents.servers.get_mut(&s)) {
            server.floating_ips.retain(|a| a != &address);
        }
        Self::mutated(&mut w, "target_disassociate_floating_ip", ())
    }

    async fn target_release_floating_ip(&self, id: &str) -> PortResult<()> {
        self.enter("target_release_floating_ip", id).await?;
        let mut w = self.lock();
        w.contents
            .floating_ips
            .remove(id)
            .ok_or_else(|| not_found(id))?;
        Self::mutated(&mut w, "target_release_floating_ip", ())
    }
}
