//! A scripted in-memory pair of clouds behind [`CloudPort`], for the engine's tests: records
//! every call, takes a latency per call (use with `tokio::time::pause`), and can fail calls,
//! send servers to ERROR and "crash" after the Nth mutation (the mutation happens, its answer
//! is lost, and every later call fails, as when s2d is killed between a create and the state
//! write). Knows nothing of HTTP.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::port::*;

mod calls;
mod networks;
mod port;
mod volumes;
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
    pub server_groups: BTreeMap<String, ServerGroup>,
    /// Networks, subnets, routers and ports made in the target, by id.
    pub nets: BTreeMap<String, (NetKind, NetResource)>,
    /// Volumes made in the target, by id.
    pub volumes: BTreeMap<String, CinderResource>,
    /// The source's volumes and volume snapshots (its servers' and s2d's), by id.
    pub source_cinder: BTreeMap<String, (VolumeKind, CinderResource)>,
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
    /// What the crashing mutation made shows in the lists only this long after the crash: a
    /// create the cloud was still carrying out when s2d died.
    pub crash_shows_after: Duration,
    /// The target's compute quota and use, as `quota` reports it.
    pub quota: Quota,
    /// Calls (by method name) refused for a quota this many times before they go through,
    /// as a cloud whose quota frees up (a refused call makes nothing).
    pub quota_refusals: BTreeMap<&'static str, usize>,
    /// The target's volume gigabytes and their use.
    pub volume_gigabytes: Option<QuotaUse>,
    /// The source's Cinder gigabytes (its volume snapshots and copies count).
    pub source_volume_gigabytes: Option<QuotaUse>,
    /// Glance's unified limits in the source and in the target (none: Glance does not tell).
    pub source_glance_limits: GlanceLimits,
    pub glance_limits: GlanceLimits,
}

/// Glance's unified limits in one of the fake's clouds (`None`: not told); what is used of
/// them is counted from the images the fake holds there, as Glance counts it (the images
/// neither killed nor being deleted; the bytes of all of them in MiB, rounded down).
#[derive(Debug, Clone, Copy, Default)]
pub struct GlanceLimits {
    pub size_mib: Option<u64>,
    pub images: Option<u64>,
}

#[derive(Debug, Default)]
struct World {
    contents: Contents,
    source_servers: BTreeMap<String, SourceServer>,
    /// The source servers' user data (base64), by server id.
    source_user_data: BTreeMap<String, String>,
    image_data: BTreeMap<String, Vec<u8>>,
    /// The bytes of each volume and volume snapshot (both clouds), by id.
    volume_data: BTreeMap<String, Vec<u8>>,
    /// The snapshot each source copy was made from.
    volume_from: BTreeMap<String, String>,
    volume_types: Vec<String>,
    /// The volumes Nova deletes with each server.
    volume_delete_with: BTreeMap<String, Vec<String>>,
    flavors: Vec<Flavor>,
    networks: Vec<Network>,
    source_networks: Vec<crate::graph::SourceNetwork>,
    calls: Vec<String>,
    /// The calls that counted as mutations, in order.
    mutation_log: Vec<String>,
    next_id: u64,
    mutations: usize,
    crashed: bool,
    /// The id of what the crash made and when it shows (see `Script::crash_shows_after`).
    late: Option<(String, std::time::Instant)>,
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
        remote_group: None,
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
                    remote_group: None,
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
                    ..Default::default()
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
                metadata: BTreeMap::from([("role".to_string(), "web".to_string())]),
                tags: vec!["fleet".into()],
                boot: Default::default(),
                server_group: None,
                volumes: Vec::new(),
                nics: vec![crate::graph::SourceNic {
                    network_id: "src-private".into(),
                    network_name: "private".into(),
                    fixed_ips: vec![crate::graph::FixedIp {
                        subnet_id: "src-private-subnet".into(),
                        ip: format!("10.0.0.{}", 10 + w.source_servers.len()),
                    }],
                    mac: format!("fa:16:3e:00:01:{:02x}", w.source_servers.len()),
                    port_security: Some(true),
                    allowed_address_pairs: Vec::new(),
                }],
            };
            w.source_servers.insert(name.to_string(), server);
        }
        // The image the source servers were booted from, with boot properties.
        w.contents.source_images.insert(
            "src-base-image".into(),
            Image {
                id: "src-base-image".into(),
                name: "base".into(),
                status: "active".into(),
                disk_format: Some("qcow2".into()),
                visibility: "public".into(),
                checksum: None,
                sha512: None,
                size: None,
                marker: None,
                properties: BTreeMap::from([
                    ("hw_disk_bus".to_string(), "scsi".to_string()),
                    ("os_type".to_string(), "linux".to_string()),
                ]),
                min_disk: 0,
                min_ram: 0,
            },
        );
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
                ..Default::default()
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
                remote_group: None,
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

    /// The calls that counted as mutations, in order (`crash_after` counts them).
    pub fn mutation_log(&self) -> Vec<String> {
        self.lock().mutation_log.clone()
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

    /// The source's networks (what `[[network]]` copies).
    pub fn set_source_networks(&self, networks: Vec<crate::graph::SourceNetwork>) {
        self.lock().source_networks = networks;
    }

    /// Give a source server user data (base64), shown to this user.
    pub fn set_source_user_data(&self, server_id: &str, base64: &str) {
        self.lock()
            .source_user_data
            .insert(server_id.to_string(), base64.to_string());
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
        let mut w = self.lock();
        if let Some(left) = w.script.quota_refusals.get_mut(name)
            && *left > 0
        {
            *left -= 1;
            return Err(PortError::Api {
                diagnosis: Diagnosis::new("s2d::cloud::quota", Some("free some".into())),
                call: name.into(),
                status: Some(403),
                message: "Quota exceeded for instances".into(),
            });
        }
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
        w.mutation_log.push(call.to_string());
        if w.script.crash_after.is_some_and(|n| w.mutations >= n) {
            w.crashed = true;
            w.script.crash_after = None;
            // Every create takes a fresh id just before it counts as a mutation.
            let made = format!("-{}", w.next_id);
            w.late = Some((made, std::time::Instant::now() + w.script.crash_shows_after));
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: call.into(),
                status: None,
                message: "the process was killed".into(),
            });
        }
        Ok(value)
    }

    /// Whether `id` shows in the lists yet (see `Script::crash_shows_after`).
    fn shows(w: &World, id: &str) -> bool {
        match &w.late {
            Some((made, at)) => !id.ends_with(made.as_str()) || std::time::Instant::now() >= *at,
            None => true,
        }
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

fn not_found(what: &str) -> PortError {
    PortError::NotFound {
        what: what.to_string(),
    }
}
