//! The world an end-to-end test runs in: two clouds (devcloud started in-process, or the real
//! OpenStack pair of `tests/openstack/` when `S2D_E2E_TARGET=openstack`), a temporary folder
//! with a clouds.yaml and the plan files, the `s2d` binary, and a client to look at the
//! clouds the way a user's `openstack` CLI would.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use devcloud::{DevCloud, Options};
use s2d::cloud::network::SecurityGroupRule;
use s2d::cloud::{Cloud, ConfigEnv, ImageId, ServerId};

/// Where the tests run.
pub struct World {
    pub dir: tempfile::TempDir,
    pub clouds_yaml: PathBuf,
    pub devcloud: Option<DevCloud>,
    /// The real clouds are shared: their tests take turns.
    _turn: Option<std::sync::MutexGuard<'static, ()>>,
}

static REAL_CLOUDS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `S2D_E2E_RECORD_SHAPES=DIR`: every answer's shape is recorded (`src/cloud/shapes.rs`) into
/// `DIR/<test binary>/` (`DIR/e2e`, `DIR/wizard`, `DIR/e2e_faults`, ...), by this process
/// and by the `s2d` it runs, as `S2D_RECORD_SHAPES=DIR/<test binary>` would; so one run of
/// the whole suite (`tests/run.sh` in `.ci/run`) records the scenarios that
/// `tests/openstack/ci-tier.sh` compares apart from the fault tests' answers. An
/// `S2D_RECORD_SHAPES` that is set wins. Set before `main` (from `.init_array`, Linux), when
/// no other thread can be reading the environment.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static RECORD_SHAPES_PER_BINARY: extern "C" fn() = {
    extern "C" fn record_shapes_per_binary() {
        if std::env::var_os("S2D_RECORD_SHAPES").is_some() {
            return;
        }
        if let Some(dir) = std::env::var_os("S2D_E2E_RECORD_SHAPES").filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir).join(env!("CARGO_CRATE_NAME"));
            // SAFETY: before `main`: this process has no other thread yet.
            unsafe { std::env::set_var("S2D_RECORD_SHAPES", dir) };
        }
    }
    record_shapes_per_binary
};

/// Whether the tests run against the real OpenStack pair.
pub fn real_openstack() -> bool {
    std::env::var("S2D_E2E_TARGET").is_ok_and(|t| t == "openstack")
}

impl World {
    /// The target chosen by `S2D_E2E_TARGET` (`devcloud`, the default, or `openstack` with
    /// `S2D_E2E_CLOUDS_YAML` naming the harness's clouds.yaml).
    pub async fn start() -> World {
        if real_openstack() {
            let clouds = std::env::var("S2D_E2E_CLOUDS_YAML")
                .expect("S2D_E2E_TARGET=openstack needs S2D_E2E_CLOUDS_YAML");
            let dir = tempfile::tempdir().expect("tempdir");
            let clouds_yaml = dir.path().join("clouds.yaml");
            std::fs::copy(&clouds, &clouds_yaml).expect("copy clouds.yaml");
            let turn = REAL_CLOUDS.lock().unwrap_or_else(|e| e.into_inner());
            return World {
                dir,
                clouds_yaml,
                devcloud: None,
                _turn: Some(turn),
            };
        }
        World::devcloud(Options {
            image_size: 4 << 20,
            ..Options::default()
        })
        .await
    }

    /// devcloud with these options (fault tests).
    pub async fn devcloud(options: Options) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let clouds_yaml = dir.path().join("clouds.yaml");
        let dc = DevCloud::start(Options {
            clouds_yaml: Some(clouds_yaml.clone()),
            ..options
        })
        .await
        .expect("devcloud starts");
        let world = World {
            dir,
            clouds_yaml,
            devcloud: Some(dc),
            _turn: None,
        };
        // Seeded images are hashed in the background; the "before" of a test starts once
        // their checksums are there.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        for cloud in ["provider", "hospital"] {
            loop {
                let dump = world.devcloud_dump(cloud).await;
                let unhashed: Vec<&serde_json::Value> = dump["glance"]["images"]
                    .as_array()
                    .map(|images| {
                        images
                            .iter()
                            .filter(|i| i["checksum"].is_null())
                            .map(|i| &i["name"])
                            .collect()
                    })
                    .unwrap_or_default();
                if unhashed.is_empty() {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{cloud}'s seeded images still have no checksum after 60 s: {unhashed:?}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        world
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copy `plans/<name>` into the folder; returns its name there.
    pub fn plan(&self, name: &str) -> String {
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("plans")
            .join(name);
        std::fs::copy(&from, self.path().join(name)).expect("copy plan");
        name.to_string()
    }

    /// The `s2d` command (`S2D_BIN`, else the one cargo built with the tests), set up as a
    /// user's shell would be: clouds.yaml, no colour, no stray `OS_*` variables.
    pub fn command(&self, args: &[&str]) -> Command {
        let bin = std::env::var_os("S2D_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_s2d")));
        let mut cmd = Command::new(bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OS_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("NO_COLOR", "1")
            .env("OS_CLIENT_CONFIG_FILE", &self.clouds_yaml)
            .current_dir(self.path())
            .args(args);
        cmd
    }

    /// Run `s2d` to the end (off the async runtime's threads).
    pub async fn s2d(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        tokio::task::spawn_blocking(move || cmd.output().expect("runs s2d"))
            .await
            .expect("joins")
    }

    /// Run `s2d` and insist on exit code `code`.
    pub async fn s2d_ok(&self, args: &[&str], code: i32) -> Output {
        let out = self.s2d(args).await;
        assert_eq!(
            out.status.code(),
            Some(code),
            "s2d {args:?}\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A client for a cloud of the clouds.yaml.
    pub async fn cloud(&self, name: &str) -> Cloud {
        let env = ConfigEnv {
            vars: BTreeMap::from([(
                "OS_CLIENT_CONFIG_FILE".to_string(),
                self.clouds_yaml.display().to_string(),
            )]),
            cwd: self.path().to_path_buf(),
            home: None,
            system_dir: self.path().join("no-system-config"),
        };
        let config = s2d::cloud::config::from_clouds_yaml(name, &env).expect("cloud config");
        Cloud::connect(config).await.expect("connects")
    }

    /// The state file the plans in the folder use.
    pub fn state(&self) -> s2d::state::State {
        s2d::state::read(&self.path().join("s2d.state.json"))
            .expect("state readable")
            .expect("state exists")
    }

    /// The id recorded for an address.
    pub fn id(&self, address: &str) -> String {
        let address: s2d::graph::Address = address.parse().expect("address");
        self.state()
            .resources
            .get(&address)
            .unwrap_or_else(|| panic!("{address} not in the state"))
            .id
            .clone()
    }

    /// devcloud's own dump of a cloud, without its usage history (deleted servers stay in
    /// it, as in Nova's database) and the revision counters Neutron bumps on every change.
    pub async fn devcloud_dump(&self, cloud: &str) -> serde_json::Value {
        let dc = self.devcloud.as_ref().expect("devcloud");
        let base = dc.cloud(cloud).expect("cloud").base_url().to_string();
        let mut dump: serde_json::Value = reqwest::get(format!("{base}/devcloud/state"))
            .await
            .expect("GET state")
            .json()
            .await
            .expect("JSON");
        strip(&mut dump);
        dump
    }

    /// devcloud's request log of one cloud (method, path, status, Range header, ...).
    pub async fn requests(&self, cloud: &str) -> Vec<serde_json::Value> {
        let dc = self.devcloud.as_ref().expect("devcloud");
        let base = dc.cloud(cloud).expect("cloud").base_url().to_string();
        let log: serde_json::Value = reqwest::get(format!("{base}/devcloud/requests"))
            .await
            .expect("GET requests")
            .json()
            .await
            .expect("JSON");
        match log {
            serde_json::Value::Array(items) => items,
            serde_json::Value::Object(mut map) => match map.remove("requests") {
                Some(serde_json::Value::Array(items)) => items,
                other => panic!("unexpected request log {other:?}"),
            },
            other => panic!("unexpected request log {other}"),
        }
    }

    /// Change devcloud's fault knobs on one cloud.
    pub async fn faults(&self, cloud: &str, patch: serde_json::Value) {
        let dc = self.devcloud.as_ref().expect("devcloud");
        let base = dc.cloud(cloud).expect("cloud").base_url().to_string();
        let resp = reqwest::Client::new()
            .patch(format!("{base}/devcloud/faults"))
            .json(&patch)
            .send()
            .await
            .expect("PATCH faults");
        assert!(resp.status().is_success(), "faults: {}", resp.status());
    }
}

fn strip(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("deleted_servers");
            map.remove("revision_number");
            map.remove("updated_at");
            for v in map.values_mut() {
                strip(v);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

/// What a project holds, as the API shows it: enough to tell "exactly as before".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub servers: BTreeSet<(String, String)>,
    pub images: BTreeSet<(String, String)>,
    pub keypairs: BTreeSet<String>,
    pub groups: BTreeSet<(String, String)>,
    pub rules: BTreeSet<String>,
    pub floating_ips: BTreeSet<(String, Option<String>)>,
}

pub async fn inventory(cloud: &Cloud) -> Inventory {
    let project = cloud.session.project_id().await.expect("project");
    let by_project = |p: &Option<String>| project.is_none() || p == &project;
    let servers = cloud
        .compute
        .list_servers(&Default::default())
        .await
        .expect("servers")
        .into_iter()
        .filter(|s| !s.status.eq_ignore_ascii_case("DELETED"))
        .map(|s| (s.name, s.id.to_string()))
        .collect();
    let images = cloud
        .image
        .list(&Default::default())
        .await
        .expect("images")
        .into_iter()
        .map(|i| (i.name.unwrap_or_default(), i.id.to_string()))
        .collect();
    let keypairs = cloud
        .compute
        .list_keypairs()
        .await
        .expect("keypairs")
        .into_iter()
        .map(|k| k.name)
        .collect();
    let all_groups = cloud.network.security_groups(&[]).await.expect("groups");
    let groups = all_groups
        .iter()
        .filter(|g| by_project(&g.project_id))
        .map(|g| (g.name.clone(), g.id.to_string()))
        .collect();
    let rules = all_groups
        .iter()
        .filter(|g| by_project(&g.project_id))
        .flat_map(|g| g.security_group_rules.iter().map(|r| r.id.to_string()))
        .collect();
    let floating_ips = cloud
        .network
        .floating_ips(&[])
        .await
        .expect("floating ips")
        .into_iter()
        .filter(|f| by_project(&f.project_id))
        .map(|f| (f.floating_ip_address, f.port_id.map(|p| p.to_string())))
        .collect();
    Inventory {
        servers,
        images,
        keypairs,
        groups,
        rules,
        floating_ips,
    }
}

/// A rule as a comparable tuple; `remote_self` when it admits its own group.
pub type RuleKey = (
    String,
    String,
    Option<String>,
    Option<u32>,
    Option<u32>,
    Option<String>,
    bool,
);

pub fn rule_key(r: &SecurityGroupRule) -> RuleKey {
    (
        r.direction.clone(),
        r.ethertype.clone().unwrap_or_else(|| "IPv4".into()),
        r.protocol.clone().map(|p| p.to_ascii_lowercase()),
        r.port_range_min,
        r.port_range_max,
        r.remote_ip_prefix.clone(),
        r.remote_group_id.as_ref() == Some(&r.security_group_id),
    )
}

/// The rules of every group a server's ports are in.
pub async fn server_rules(cloud: &Cloud, server: &str) -> BTreeSet<RuleKey> {
    let ports = cloud
        .network
        .server_ports(&ServerId::new(server))
        .await
        .expect("ports");
    let mut rules = BTreeSet::new();
    for group in ports.iter().flat_map(|p| p.security_groups.iter()) {
        let g = cloud
            .network
            .get_security_group(group)
            .await
            .expect("group")
            .expect("group exists");
        rules.extend(g.security_group_rules.iter().map(rule_key));
    }
    rules
}

/// An image's md5 and sha512 as Glance publishes them.
pub async fn image_sums(cloud: &Cloud, id: &str) -> (Option<String>, Option<String>, String) {
    let image = cloud
        .image
        .get(&ImageId::new(id))
        .await
        .expect("image")
        .unwrap_or_else(|| panic!("image {id} exists"));
    (image.checksum, image.os_hash_value, image.status)
}

/// Count the `+`/`-`/`~`/`-/+`/`<=` blocks of a human plan.
pub fn glyph_count(plan: &str, glyph: &str) -> usize {
    plan.lines()
        .filter(|l| l.trim_start().starts_with(&format!("{glyph} ")))
        .count()
}

/// Every server, image, keypair, group, rule and floating IP of both clouds.
pub async fn both(world: &World) -> (Inventory, Inventory) {
    let source = world.cloud("provider").await;
    let target = world.cloud("hospital").await;
    (inventory(&source).await, inventory(&target).await)
}

/// The `openstack` CLI: `S2D_OPENSTACK_CLI`, else the harness's on PATH for the real clouds,
/// else the one `tests/run.sh` installs in `.venv/`.
pub fn cli_path() -> PathBuf {
    if let Some(path) = std::env::var_os("S2D_OPENSTACK_CLI") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/openstack");
    if !real_openstack() && venv.exists() {
        return venv;
    }
    PathBuf::from("openstack")
}

/// Run `openstack --os-cloud CLOUD ARGS` (at a compute microversion that shows tags and
/// descriptions) and return its output; the test fails when the command does.
async fn run_cli(world: &World, cloud: &str, args: &[&str]) -> Vec<u8> {
    let mut cmd = Command::new(cli_path());
    cmd.env("OS_CLIENT_CONFIG_FILE", &world.clouds_yaml)
        .env("OS_COMPUTE_API_VERSION", "2.79")
        .current_dir(world.path())
        .args(["--os-cloud", cloud])
        .args(args);
    let shown = format!("openstack --os-cloud {cloud} {}", args.join(" "));
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("joins")
        .unwrap_or_else(|e| panic!("{shown}: {e} (install the referee: bash tests/run.sh)"));
    assert!(
        out.status.success(),
        "{shown}\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `openstack --os-cloud CLOUD ARGS -f json` as JSON (or without `-f json` when `json` is
/// false: then `Null`).
pub async fn openstack(world: &World, cloud: &str, args: &[&str], json: bool) -> serde_json::Value {
    if !json {
        run_cli(world, cloud, args).await;
        return serde_json::Value::Null;
    }
    let mut with_format = args.to_vec();
    with_format.extend(["-f", "json"]);
    let out = run_cli(world, cloud, &with_format).await;
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("openstack {}: not JSON: {e}", args.join(" ")))
}

/// `openstack --os-cloud CLOUD ARGS`, its standard output as text.
pub async fn openstack_text(world: &World, cloud: &str, args: &[&str]) -> String {
    String::from_utf8_lossy(&run_cli(world, cloud, args).await).into_owned()
}

/// The `id` of an `openstack ... -f json` answer.
pub fn id_of(v: &serde_json::Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

/// Poll `openstack <kind> show ID` until its status is `wanted` (or it is gone, for `gone`);
/// a status `error...` or `killed` fails at once.
pub async fn wait_status(world: &World, cloud: &str, kind: &[&str], id: &str, wanted: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        let mut args = kind.to_vec();
        args.extend(["show", id, "-f", "value", "-c", "status"]);
        let mut cmd = tokio::process::Command::new(cli_path());
        cmd.env("OS_CLIENT_CONFIG_FILE", &world.clouds_yaml)
            .args(["--os-cloud", cloud])
            .args(&args);
        let out = cmd.output().await.expect("the openstack CLI runs");
        let status = out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string());
        match status {
            None if wanted == "gone" => return,
            Some(status) if status == wanted => return,
            Some(status) if status.starts_with("error") || status == "killed" => {
                panic!("{} {id} went to {status}", kind.join(" "))
            }
            Some(status) => last = status,
            None => last = "gone".into(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    panic!(
        "{} {id} did not become {wanted} (last {last})",
        kind.join(" ")
    );
}

/// A source server with volumes, made with the `openstack` CLI in `provider`.
pub struct VolumeBackedSource {
    pub server: String,
    /// The root volume (when the server boots from one), then the data volume.
    pub volumes: Vec<String>,
    /// The raw images the volumes (or the server) were made from.
    pub images: Vec<String>,
}

/// Make in `provider`: volume `PREFIX-root` (1 GiB, bootable, from a raw image `PREFIX-root-img`
/// of 1 MiB of zeros), volume `PREFIX-data` (1 GiB; from a raw image of `data` when given,
/// else empty), both of the default type, and server `server` (m1.small on `private`, key
/// `alice-key`) booted from the first (`delete_on_termination`, as when Nova makes the root
/// volume), with the second attached.
pub async fn volume_backed_source(
    world: &World,
    server: &str,
    prefix: &str,
    data: Option<&[u8]>,
) -> VolumeBackedSource {
    source_with_volumes(world, server, prefix, data, true).await
}

/// As [`volume_backed_source`], but the server boots from image `PREFIX-root-img` itself and
/// has only the data volume.
pub async fn image_backed_source(
    world: &World,
    server: &str,
    prefix: &str,
    data: Option<&[u8]>,
) -> VolumeBackedSource {
    source_with_volumes(world, server, prefix, data, false).await
}

async fn source_with_volumes(
    world: &World,
    server: &str,
    prefix: &str,
    data: Option<&[u8]>,
    from_volume: bool,
) -> VolumeBackedSource {
    let mut contents: Vec<(String, Vec<u8>)> = vec![(format!("{prefix}-root"), vec![0u8; 1 << 20])];
    if let Some(data) = data {
        contents.push((format!("{prefix}-data"), data.to_vec()));
    }
    let mut images = Vec::new();
    for (name, bytes) in &contents {
        images.push(raw_image(world, "provider", &format!("{name}-img"), bytes).await);
    }
    let mut volumes = Vec::new();
    for (index, name) in [format!("{prefix}-root"), format!("{prefix}-data")]
        .iter()
        .enumerate()
    {
        if index == 0 && !from_volume {
            continue;
        }
        let mut args = vec!["volume", "create", "--size", "1"];
        if let Some(image) = images.get(index) {
            args.extend(["--image", image.as_str()]);
        }
        if index == 0 {
            args.push("--bootable");
        }
        args.push(name);
        let volume = openstack(world, "provider", &args, true).await;
        let id = id_of(&volume);
        wait_status(world, "provider", &["volume"], &id, "available").await;
        volumes.push(id);
    }
    let boot = if from_volume {
        vec![
            "--block-device".to_string(),
            format!(
                "uuid={},source_type=volume,destination_type=volume,boot_index=0,\
                 delete_on_termination=true",
                volumes[0]
            ),
        ]
    } else {
        vec!["--image".to_string(), images[0].clone()]
    };
    let mut args: Vec<&str> = vec!["server", "create"];
    args.extend(boot.iter().map(String::as_str));
    args.extend([
        "--flavor",
        "m1.small",
        "--network",
        "private",
        "--key-name",
        "alice-key",
        "--wait",
        server,
    ]);
    let made = openstack(world, "provider", &args, true).await;
    let server = id_of(&made);
    let data_volume = volumes.last().expect("the data volume").clone();
    openstack(
        world,
        "provider",
        &["server", "add", "volume", &server, &data_volume],
        false,
    )
    .await;
    wait_status(world, "provider", &["volume"], &data_volume, "in-use").await;
    VolumeBackedSource {
        server,
        volumes,
        images,
    }
}

/// Delete a volume once Cinder lets it (it is `in-use` or `detaching` for a moment after its
/// server is gone), and wait until it is gone.
pub async fn remove_volume(world: &World, cloud: &str, volume: &str) {
    let cli = |args: Vec<String>| {
        let mut cmd = tokio::process::Command::new(cli_path());
        cmd.env("OS_CLIENT_CONFIG_FILE", &world.clouds_yaml)
            .args(["--os-cloud", cloud])
            .args(args);
        cmd
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let mut asked = false;
    loop {
        let shown = cli(vec!["volume".into(), "show".into(), volume.into()])
            .output()
            .await
            .expect("the openstack CLI runs");
        if !shown.status.success() {
            return;
        }
        if !asked {
            asked = cli(vec!["volume".into(), "delete".into(), volume.into()])
                .output()
                .await
                .expect("the openstack CLI runs")
                .status
                .success();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "volume {volume} is still there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Upload `bytes` as raw image `name` into `cloud` with the `openstack` CLI (through a file
/// `NAME.raw` in the world's directory); returns its id.
pub async fn raw_image(world: &World, cloud: &str, name: &str, bytes: &[u8]) -> String {
    let file = format!("{name}.raw");
    std::fs::write(world.path().join(&file), bytes).expect("the image's file");
    let image = openstack(
        world,
        cloud,
        &[
            "image",
            "create",
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--file",
            &file,
            name,
        ],
        true,
    )
    .await;
    id_of(&image)
}
