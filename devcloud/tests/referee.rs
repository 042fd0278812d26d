//! The referee: the standard `openstack` CLI (python-openstackclient, pinned in
//! `tests/referee-requirements.txt`) run against devcloud through the clouds.yaml that
//! `s2d-devcloud` writes. Every command must succeed and show what devcloud holds.
//!
//! The CLI is found through `S2D_OPENSTACK_CLI` (set by `tests/run.sh`), else `.venv/bin/openstack`
//! at the workspace root, else `openstack` on PATH. When none is there these tests fail, saying
//! how to install it: they are never skipped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde_json::Value;

/// An ed25519 public key and its MD5 fingerprint as `ssh-keygen -l -E md5` prints it.
const PUBKEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKYe3XRTKXGCuCDZfUWc6Wmz2P66cLSSJwBXTZfst8K5 referee@s2d";
const PUBKEY_MD5: &str = "48:92:18:44:17:53:59:81:7f:e8:cf:b6:5e:3a:5b:ec";

/// One `s2d-devcloud` process with its own clouds.yaml, stopped (SIGTERM, then kill) on drop.
struct DevCloudProcess {
    child: Child,
    dir: tempfile::TempDir,
}

impl DevCloudProcess {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ready = dir.path().join("ready.json");
        let child = Command::new(env!("CARGO_BIN_EXE_s2d-devcloud"))
            .arg("--clouds-yaml")
            .arg(dir.path().join("clouds.yaml"))
            .arg("--ready-file")
            .arg(&ready)
            .args(["--image-size", "3MiB", "--seed", "7"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start s2d-devcloud");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready.exists() {
            assert!(
                Instant::now() < deadline,
                "s2d-devcloud wrote no ready file in 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        DevCloudProcess { child, dir }
    }

    fn clouds_yaml(&self) -> PathBuf {
        self.dir.path().join("clouds.yaml")
    }

    /// Run `openstack --os-cloud CLOUD ARGS...` and return its stdout; panic with its stderr
    /// when it fails.
    fn osc(&self, cloud: &str, args: &[&str]) -> String {
        let mut cmd = Command::new(openstack_cli());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OS_") {
                cmd.env_remove(key);
            }
        }
        let out = cmd
            .env("OS_CLIENT_CONFIG_FILE", self.clouds_yaml())
            .arg("--os-cloud")
            .arg(cloud)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run openstack");
        assert!(
            out.status.success(),
            "openstack --os-cloud {cloud} {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Run `openstack --os-cloud CLOUD ARGS...`, which must fail; its stderr.
    fn osc_fails(&self, cloud: &str, args: &[&str]) -> String {
        let mut cmd = Command::new(openstack_cli());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OS_") {
                cmd.env_remove(key);
            }
        }
        let out = cmd
            .env("OS_CLIENT_CONFIG_FILE", self.clouds_yaml())
            .arg("--os-cloud")
            .arg(cloud)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run openstack");
        assert!(
            !out.status.success(),
            "openstack --os-cloud {cloud} {} succeeded, expected a failure",
            args.join(" ")
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Poll `openstack ... show NAME -f value -c status` until it prints `status`.
    fn wait_status(&self, cloud: &str, kind: &[&str], name: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut args = kind.to_vec();
            args.extend(["show", name, "-f", "value", "-c", "status"]);
            let now = self.osc(cloud, &args);
            if now.trim() == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} {name} is still {now:?}, not {status}",
                kind.join(" ")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Like [`Self::osc`] with `-f json`, parsed.
    fn osc_json(&self, cloud: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-f", "json"]);
        let text = self.osc(cloud, &all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

impl Drop for DevCloudProcess {
    fn drop(&mut self) {
        // SIGTERM first: the binary must exit cleanly on it.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openstack_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("S2D_OPENSTACK_CLI") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/openstack");
    if venv.exists() {
        return venv;
    }
    let found = Command::new("openstack")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "python-openstackclient is not installed: run `bash tests/run.sh` (it installs it into \
         .venv/), or `pip install -r tests/referee-requirements.txt` and set S2D_OPENSTACK_CLI"
    );
    PathBuf::from("openstack")
}

/// Rows of a `-f json` list, looked up by a column.
fn row<'a>(rows: &'a Value, column: &str, value: &str) -> &'a Value {
    rows.as_array()
        .expect("a JSON list")
        .iter()
        .find(|r| r[column] == value)
        .unwrap_or_else(|| panic!("no row with {column} = {value} in {rows:#}"))
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn token_issue_and_catalog() {
    let dc = DevCloudProcess::start();
    for cloud in ["provider", "hospital"] {
        let token = dc.osc_json(cloud, &["token", "issue"]);
        assert!(!token["id"].as_str().unwrap_or("").is_empty(), "{token}");
        assert!(token["expires"].is_string(), "{token}");
        assert!(token["project_id"].is_string(), "{token}");
    }
    let catalog = dc.osc_json("hospital", &["catalog", "list"]);
    for service in ["compute", "image", "network", "identity"] {
        row(&catalog, "Type", service);
    }
}

#[test]
fn servers_flavors_networks_and_groups() {
    let dc = DevCloudProcess::start();

    let servers = dc.osc_json("provider", &["server", "list"]);
    let ehr = row(&servers, "Name", "ehr-analytics");
    assert_eq!(ehr["Status"], "ACTIVE");

    let server = dc.osc_json("provider", &["server", "show", "ehr-analytics"]);
    assert_eq!(server["key_name"], "alice-key");
    assert_eq!(server["status"], "ACTIVE");
    let flavor = server["flavor"].to_string();
    assert!(flavor.contains("m1.small"), "flavor: {flavor}");
    let groups = server["security_groups"].to_string();
    assert!(
        groups.contains("analytics") && groups.contains("default"),
        "{groups}"
    );

    let keypair = dc.osc_json("provider", &["keypair", "show", "alice-key"]);
    assert!(
        keypair["fingerprint"]
            .as_str()
            .is_some_and(|f| f.len() == 47),
        "{keypair}"
    );
    let keypairs = dc.osc_json("provider", &["keypair", "list"]);
    row(&keypairs, "Name", "alice-key");

    let flavors = dc.osc_json("hospital", &["flavor", "list"]);
    for name in ["m1.tiny", "m1.small", "m1.medium", "m1.large"] {
        row(&flavors, "Name", name);
    }

    let networks = dc.osc_json("hospital", &["network", "list"]);
    row(&networks, "Name", "private");
    row(&networks, "Name", "public");

    let groups = dc.osc_json("provider", &["security", "group", "list"]);
    row(&groups, "Name", "default");
    row(&groups, "Name", "analytics");
    let rules = dc.osc_json(
        "provider",
        &["security", "group", "rule", "list", "analytics"],
    );
    let rules_text = rules.to_string();
    for needle in ["0.0.0.0/0", "10.0.0.0/8", "icmp", "IPv6"] {
        assert!(
            rules_text.contains(needle),
            "{needle} missing from {rules:#}"
        );
    }

    let before = dc
        .osc_json(
            "hospital",
            &["security", "group", "rule", "list", "default"],
        )
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    let made = dc.osc_json(
        "hospital",
        &[
            "security",
            "group",
            "rule",
            "create",
            "--protocol",
            "tcp",
            "--dst-port",
            "8443",
            "--remote-ip",
            "10.1.0.0/16",
            "default",
        ],
    );
    assert_eq!(made["port_range_min"], 8443);
    let after = dc.osc_json(
        "hospital",
        &["security", "group", "rule", "list", "default"],
    );
    assert_eq!(
        after.as_array().map(Vec::len),
        Some(before + 1),
        "{after:#}"
    );
}

#[test]
fn snapshot_save_and_upload() {
    let dc = DevCloudProcess::start();

    let snap = dc.osc_json(
        "provider",
        &[
            "server",
            "image",
            "create",
            "--name",
            "referee-snap",
            "--wait",
            "ehr-analytics",
        ],
    );
    assert_eq!(snap["name"], "referee-snap");

    let shown = dc.osc_json("provider", &["image", "show", "referee-snap"]);
    assert_eq!(shown["status"], "active");
    let checksum = shown["checksum"].as_str().expect("checksum").to_string();
    let images = dc.osc_json("provider", &["image", "list"]);
    row(&images, "Name", "referee-snap");

    let saved = dc.dir.path().join("snap.raw");
    dc.osc(
        "provider",
        &[
            "image",
            "save",
            "--file",
            saved.to_str().expect("utf-8 path"),
            "referee-snap",
        ],
    );
    let bytes = std::fs::read(&saved).expect("saved image");
    assert_eq!(bytes.len(), 3 * 1024 * 1024);
    assert_eq!(
        md5_hex(&bytes),
        checksum,
        "image save bytes differ from the checksum"
    );

    let created = dc.osc_json(
        "hospital",
        &[
            "image",
            "create",
            "--file",
            saved.to_str().expect("utf-8 path"),
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "referee-upload",
        ],
    );
    assert_eq!(created["name"], "referee-upload");
    let uploaded = dc.osc_json("hospital", &["image", "show", "referee-upload"]);
    assert_eq!(uploaded["status"], "active");
    assert_eq!(uploaded["checksum"], checksum.as_str());
    assert_eq!(uploaded["size"], 3 * 1024 * 1024);
}

#[test]
fn keypair_import_and_floating_ips() {
    let dc = DevCloudProcess::start();

    let key_file = dc.dir.path().join("referee.pub");
    std::fs::write(&key_file, format!("{PUBKEY}\n")).expect("write key");
    let key = dc.osc_json(
        "hospital",
        &[
            "keypair",
            "create",
            "--public-key",
            key_file.to_str().expect("utf-8 path"),
            "referee",
        ],
    );
    assert_eq!(key["fingerprint"], PUBKEY_MD5);
    let shown = dc.osc_json("hospital", &["keypair", "show", "referee"]);
    assert_eq!(shown["fingerprint"], PUBKEY_MD5);

    // A server in the target to attach an address to.
    dc.osc_json(
        "hospital",
        &[
            "image",
            "create",
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--file",
            key_file.to_str().expect("utf-8 path"),
            "tiny-image",
        ],
    );
    let server = dc.osc_json(
        "hospital",
        &[
            "server",
            "create",
            "--flavor",
            "m1.tiny",
            "--image",
            "tiny-image",
            "--network",
            "private",
            "--key-name",
            "referee",
            "--wait",
            "referee-vm",
        ],
    );
    assert_eq!(server["status"], "ACTIVE");
    let ports = dc.osc_json("hospital", &["port", "list", "--server", "referee-vm"]);
    let port_id = ports[0]["ID"]
        .as_str()
        .expect("a port of the server")
        .to_string();

    let fip = dc.osc_json("hospital", &["floating", "ip", "create", "public"]);
    let address = fip["floating_ip_address"]
        .as_str()
        .expect("address")
        .to_string();
    let listed = dc.osc_json("hospital", &["floating", "ip", "list"]);
    row(&listed, "Floating IP Address", &address);
    // The seeded, pre-allocated one is listed too.
    assert!(
        listed.as_array().map(Vec::len).unwrap_or(0) >= 2,
        "{listed:#}"
    );

    dc.osc(
        "hospital",
        &["floating", "ip", "set", "--port", &port_id, &address],
    );
    let attached = dc.osc_json("hospital", &["floating", "ip", "show", &address]);
    assert_eq!(attached["port_id"], port_id.as_str());
    let shown = dc.osc_json("hospital", &["server", "show", "referee-vm"]);
    assert!(
        shown["addresses"].to_string().contains(&address),
        "{shown:#}"
    );

    dc.osc("hospital", &["floating", "ip", "delete", &address]);
    let listed = dc.osc_json("hospital", &["floating", "ip", "list"]);
    assert!(!listed.to_string().contains(&address), "{listed:#}");
}

#[test]
fn usage_list_and_show() {
    let dc = DevCloudProcess::start();
    // With `-f json`, OSC 10.5 gives `Servers` as the list of server usages (the table view
    // shows their count).
    let shown = dc.osc_json("provider", &["usage", "show"]);
    let servers = shown["Servers"]
        .as_array()
        .map(Vec::len)
        .or_else(|| shown["Servers"].as_u64().map(|n| n as usize));
    assert!(servers.unwrap_or(0) >= 1, "{shown:#}");
    assert!(
        shown["CPU Hours"].as_f64().is_some() || shown["CPU Hours"].is_string(),
        "{shown:#}"
    );
    let listed = dc.osc_json("provider-admin", &["usage", "list"]);
    let rows = listed.as_array().expect("rows");
    assert!(!rows.is_empty(), "{listed:#}");
}

/// Issue 16 through the CLI: an anti-affinity group, an image with boot properties, a server
/// booted from it with properties, tags, a description, a config drive, the group hint and
/// user data; `server show` shows them and the group lists the member; the snapshot carries
/// the boot properties.
#[test]
fn boot_fidelity_server_group_properties_and_snapshot() {
    let dc = DevCloudProcess::start();
    let group = dc.osc_json(
        "provider",
        &[
            "server",
            "group",
            "create",
            "--policy",
            "anti-affinity",
            "referee-group",
        ],
    );
    assert_eq!(group["name"], "referee-group");
    let group_id = group["id"].as_str().expect("group id").to_string();
    let disk = dc.dir.path().join("disk.raw");
    std::fs::write(&disk, vec![0u8; 4096]).expect("write disk");
    let user_data = dc.dir.path().join("user-data.yaml");
    std::fs::write(&user_data, "#cloud-config\npackages: [nginx]\n").expect("write user data");
    let mut image_args = vec![
        "image",
        "create",
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "--file",
        disk.to_str().expect("utf-8 path"),
    ];
    let props = [
        "hw_firmware_type=uefi",
        "hw_machine_type=q35",
        "hw_disk_bus=scsi",
        "hw_scsi_model=virtio-scsi",
        "os_distro=ubuntu",
        "os_type=linux",
    ];
    for p in &props {
        image_args.extend(["--property", p]);
    }
    image_args.push("referee-uefi");
    dc.osc_json("provider", &image_args);
    let hint = format!("group={group_id}");
    let server = dc.osc_json(
        "provider",
        &[
            "--os-compute-api-version",
            "2.90",
            "server",
            "create",
            "--flavor",
            "m1.tiny",
            "--image",
            "referee-uefi",
            "--network",
            "private",
            "--property",
            "role=web",
            "--tag",
            "web",
            "--tag",
            "prod",
            "--description",
            "the web server",
            "--config-drive",
            "True",
            "--hint",
            &hint,
            "--user-data",
            user_data.to_str().expect("utf-8 path"),
            "--wait",
            "referee-web",
        ],
    );
    assert_eq!(server["status"], "ACTIVE");
    let shown = dc.osc_json(
        "provider",
        &[
            "--os-compute-api-version",
            "2.90",
            "server",
            "show",
            "referee-web",
        ],
    );
    assert_eq!(shown["description"], "the web server");
    assert_eq!(shown["config_drive"], "True");
    assert_eq!(shown["OS-EXT-SRV-ATTR:hostname"], "referee-web");
    let text = shown.to_string();
    assert!(text.contains("role") && text.contains("web"), "{shown:#}");
    assert!(text.contains("prod"), "{shown:#}");
    let g = dc.osc_json("provider", &["server", "group", "show", "referee-group"]);
    assert!(
        g["members"]
            .to_string()
            .contains(shown["id"].as_str().unwrap()),
        "{g:#}"
    );
    assert!(g.to_string().contains("anti-affinity"), "{g:#}");
    dc.osc_json(
        "provider",
        &[
            "server",
            "image",
            "create",
            "--name",
            "referee-uefi-snap",
            "--wait",
            "referee-web",
        ],
    );
    let snap = dc.osc_json("provider", &["image", "show", "referee-uefi-snap"]);
    for p in &props {
        let (k, v) = p.split_once('=').unwrap();
        assert_eq!(snap["properties"][k], v, "{k} in {snap:#}");
    }
    assert_eq!(snap["properties"]["image_type"], "snapshot");
    dc.osc("provider", &["server", "delete", "--wait", "referee-web"]);
    let g = dc.osc_json("provider", &["server", "group", "show", "referee-group"]);
    assert!(
        !g["members"]
            .to_string()
            .contains(shown["id"].as_str().unwrap()),
        "{g:#}"
    );
    dc.osc("provider", &["server", "group", "delete", "referee-group"]);
}

/// The volume path of issue 17 with the standard CLI: volumes from images, boot from volume
/// with a data volume through `--block-device`, the in-use rules, a snapshot (3.66 without
/// `force`), a volume from it, its upload to an image whose bytes are the source image's then
/// zeros, the zero-byte snapshot of the volume-backed server with its block device mapping,
/// quotas and limits, and everything deleted in reverse.
#[test]
fn volumes_snapshots_and_boot_from_volume() {
    let dc = DevCloudProcess::start();
    let p = "provider";
    let source: Vec<u8> = (0..(1u32 << 20) + 5)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let file = dc.dir.path().join("data.raw");
    std::fs::write(&file, &source).expect("write");
    let path = file.to_str().expect("utf-8 path");
    dc.osc_json(
        p,
        &[
            "image",
            "create",
            "--file",
            path,
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "data-src",
        ],
    );
    let types = dc.osc_json(p, &["volume", "type", "list"]);
    row(&types, "Name", "lvmdriver-1");

    dc.osc_json(
        p,
        &[
            "volume", "create", "--image", "data-src", "--size", "1", "data1",
        ],
    );
    dc.osc_json(
        p,
        &[
            "volume",
            "create",
            "--image",
            "ubuntu-22.04-base",
            "--size",
            "1",
            "--bootable",
            "root1",
        ],
    );
    dc.wait_status(p, &["volume"], "data1", "available");
    dc.wait_status(p, &["volume"], "root1", "available");
    let data1 = dc.osc_json(p, &["volume", "show", "data1"]);
    assert_eq!(data1["bootable"], true, "{data1}");
    assert_eq!(
        data1["volume_image_metadata"]["image_name"], "data-src",
        "{data1}"
    );
    let data_id = data1["id"].as_str().expect("id").to_string();
    let root_id = dc
        .osc(p, &["volume", "show", "root1", "-f", "value", "-c", "id"])
        .trim()
        .to_string();

    let root_bd = format!(
        "source_type=volume,uuid={root_id},destination_type=volume,boot_index=0,delete_on_termination=false"
    );
    let data_bd = format!(
        "source_type=volume,uuid={data_id},destination_type=volume,delete_on_termination=false"
    );
    let server = dc.osc_json(
        p,
        &[
            "server",
            "create",
            "--flavor",
            "m1.small",
            "--network",
            "private",
            "--block-device",
            &root_bd,
            "--block-device",
            &data_bd,
            "--wait",
            "bfv",
        ],
    );
    assert_eq!(server["status"], "ACTIVE", "{server}");
    let shown = dc.osc_json(p, &["server", "show", "bfv"]);
    let attached = shown["volumes_attached"].to_string();
    assert!(
        attached.contains(&root_id) && attached.contains(&data_id),
        "{shown}"
    );
    let attachments = dc.osc_json(p, &["server", "volume", "list", "bfv"]);
    assert_eq!(
        row(&attachments, "Volume ID", &root_id)["Device"],
        "/dev/vda"
    );
    assert_eq!(
        row(&attachments, "Volume ID", &data_id)["Device"],
        "/dev/vdb"
    );
    let volumes = dc.osc_json(p, &["volume", "list"]);
    assert_eq!(row(&volumes, "Name", "data1")["Status"], "in-use");

    let refused = dc.osc_fails(p, &["volume", "delete", "data1"]);
    assert!(refused.contains("failed to delete"), "{refused}");
    let refused = dc.osc_fails(
        p,
        &[
            "volume",
            "snapshot",
            "create",
            "--volume",
            "data1",
            "snap-data",
        ],
    );
    assert!(
        refused.contains("status must be available, but current status is: in-use"),
        "{refused}"
    );
    dc.osc_json(
        p,
        &[
            "--os-volume-api-version",
            "3.66",
            "volume",
            "snapshot",
            "create",
            "--volume",
            "data1",
            "snap-data",
        ],
    );
    dc.wait_status(p, &["volume", "snapshot"], "snap-data", "available");
    dc.osc_json(p, &["volume", "create", "--snapshot", "snap-data", "copy1"]);
    dc.wait_status(p, &["volume"], "copy1", "available");

    let upload = dc.osc_json(
        p,
        &[
            "image",
            "create",
            "--volume",
            "copy1",
            "--disk-format",
            "raw",
            "up1",
        ],
    );
    assert_eq!(upload["status"], "uploading", "{upload}");
    dc.wait_status(p, &["volume"], "copy1", "available");
    dc.wait_status(p, &["image"], "up1", "active");
    let saved = dc.dir.path().join("up1.raw");
    dc.osc(
        p,
        &[
            "image",
            "save",
            "--file",
            saved.to_str().expect("utf-8 path"),
            "up1",
        ],
    );
    let bytes = std::fs::read(&saved).expect("saved");
    assert_eq!(bytes.len(), 1 << 30);
    assert!(
        bytes[..source.len()] == source[..],
        "the volume's bytes are the image's"
    );
    assert!(bytes[source.len()..].iter().all(|b| *b == 0), "then zeros");
    drop(bytes);

    let snap = dc.osc_json(
        p,
        &[
            "server", "image", "create", "--name", "bfv-snap", "--wait", "bfv",
        ],
    );
    assert_eq!(snap["name"], "bfv-snap");
    let image = dc.osc_json(p, &["image", "show", "bfv-snap"]);
    assert_eq!(image["size"], 0, "{image}");
    assert_eq!(image["properties"]["bdm_v2"], "True", "{image}");
    assert_eq!(
        image["properties"]["root_device_name"], "/dev/vda",
        "{image}"
    );
    let mapping: Value = serde_json::from_str(
        image["properties"]["block_device_mapping"]
            .as_str()
            .expect("mapping"),
    )
    .expect("JSON mapping");
    assert_eq!(mapping.as_array().map(Vec::len), Some(2), "{mapping}");
    assert_eq!(mapping[0]["source_type"], "snapshot");
    assert_eq!(mapping[0]["boot_index"], 0);
    let empty = dc.dir.path().join("bfv-snap.raw");
    dc.osc(
        p,
        &[
            "image",
            "save",
            "--file",
            empty.to_str().expect("utf-8 path"),
            "bfv-snap",
        ],
    );
    assert_eq!(std::fs::metadata(&empty).map(|m| m.len()).unwrap_or(1), 0);
    let snapshots = dc.osc_json(p, &["volume", "snapshot", "list"]);
    assert_eq!(snapshots.as_array().map(Vec::len), Some(3), "{snapshots}");

    let quota = dc.osc_json(p, &["quota", "show", "--volume", "--usage"]);
    assert_eq!(row(&quota, "Resource", "volumes")["In Use"], 3, "{quota}");
    assert_eq!(row(&quota, "Resource", "snapshots")["In Use"], 3, "{quota}");
    let limits = dc.osc_json(p, &["limits", "show", "--absolute"]);
    assert_eq!(
        row(&limits, "Name", "max_total_volume_gigabytes")["Value"],
        1000,
        "{limits}"
    );

    // Everything in reverse.
    dc.osc(p, &["server", "delete", "--wait", "bfv"]);
    dc.wait_status(p, &["volume"], "data1", "available");
    dc.osc(p, &["image", "delete", "bfv-snap", "up1", "data-src"]);
    for s in snapshots.as_array().expect("list") {
        dc.osc(
            p,
            &[
                "volume",
                "snapshot",
                "delete",
                s["ID"].as_str().expect("id"),
            ],
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dc
        .osc_json(p, &["volume", "snapshot", "list"])
        .as_array()
        .is_some_and(Vec::is_empty)
    {
        assert!(Instant::now() < deadline, "snapshots stay");
        std::thread::sleep(Duration::from_millis(200));
    }
    dc.osc(p, &["volume", "delete", "copy1", "data1", "root1"]);
    while !dc
        .osc_json(p, &["volume", "list"])
        .as_array()
        .is_some_and(Vec::is_empty)
    {
        assert!(Instant::now() < deadline, "volumes stay");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Issue 18's networks with the CLI: a network built as s2d builds one (MTU, subnet with an
/// allocation pool, DNS server and host route, a router to `public` with an interface), a
/// port with a chosen fixed IP, MAC and address pair, its conflicts, the policy on the
/// shared network the project does not own, a boot on two NICs (the port first), and the
/// delete order with its refusals.
#[test]
fn networks_ports_subnets_and_routers() {
    let dc = DevCloudProcess::start();
    let cloud = "provider";
    let net = dc.osc_json(
        cloud,
        &[
            "network",
            "create",
            "--mtu",
            "1400",
            "--description",
            "built",
            "refnet",
        ],
    );
    assert_eq!(net["mtu"], 1400);
    let subnet = dc.osc_json(
        cloud,
        &[
            "subnet",
            "create",
            "--network",
            "refnet",
            "--subnet-range",
            "10.77.0.0/24",
            "--allocation-pool",
            "start=10.77.0.10,end=10.77.0.50",
            "--dns-nameserver",
            "10.0.0.53",
            "--host-route",
            "destination=10.78.0.0/24,gateway=10.77.0.254",
            "--no-dhcp",
            "refsub",
        ],
    );
    let text = subnet.to_string();
    for want in [
        "10.77.0.10",
        "10.77.0.50",
        "10.0.0.53",
        "10.78.0.0/24",
        "10.77.0.254",
    ] {
        assert!(text.contains(want), "{want} not in {text}");
    }
    assert_eq!(subnet["gateway_ip"], "10.77.0.1");
    assert_eq!(subnet["enable_dhcp"], false);
    let err = dc.osc_fails(
        cloud,
        &[
            "subnet",
            "create",
            "--network",
            "refnet",
            "--subnet-range",
            "10.77.0.128/25",
            "x",
        ],
    );
    assert!(err.contains("overlaps with another subnet"), "{err}");

    let port = dc.osc_json(
        cloud,
        &[
            "port",
            "create",
            "--network",
            "refnet",
            "--fixed-ip",
            "subnet=refsub,ip-address=10.77.0.20",
            "--mac-address",
            "fa:16:3e:77:00:20",
            "--allowed-address",
            "ip-address=10.77.0.200",
            "refport",
        ],
    );
    assert_eq!(port["mac_address"], "fa:16:3e:77:00:20");
    let text = port.to_string();
    assert!(
        text.contains("10.77.0.20") && text.contains("10.77.0.200"),
        "{text}"
    );
    let err = dc.osc_fails(
        cloud,
        &[
            "port",
            "create",
            "--network",
            "refnet",
            "--fixed-ip",
            "ip-address=10.77.0.20",
            "x",
        ],
    );
    assert!(err.contains("already allocated"), "{err}");
    let err = dc.osc_fails(
        cloud,
        &[
            "port",
            "create",
            "--network",
            "refnet",
            "--mac-address",
            "fa:16:3e:77:00:20",
            "x",
        ],
    );
    assert!(err.contains("is in use"), "{err}");
    let err = dc.osc_fails(
        cloud,
        &[
            "port",
            "create",
            "--network",
            "refnet",
            "--fixed-ip",
            "subnet=refsub,ip-address=10.9.0.1",
            "x",
        ],
    );
    assert!(
        err.contains("is not a valid IP for the specified subnet"),
        "{err}"
    );
    // The shared network is admin's: a port, yes; a chosen address, no.
    dc.osc_json(
        cloud,
        &["port", "create", "--network", "shared-net", "refshared"],
    );
    let err = dc.osc_fails(
        cloud,
        &[
            "port",
            "create",
            "--network",
            "shared-net",
            "--fixed-ip",
            "subnet=shared-net-subnet,ip-address=10.30.0.40",
            "x",
        ],
    );
    assert!(err.contains("disallowed by policy"), "{err}");

    dc.osc_json(
        cloud,
        &[
            "router",
            "create",
            "--external-gateway",
            "public",
            "refrouter",
        ],
    );
    dc.osc(cloud, &["router", "add", "subnet", "refrouter", "refsub"]);
    let ports = dc.osc_json(cloud, &["port", "list", "--router", "refrouter", "--long"]);
    let text = ports.to_string();
    assert!(text.contains("10.77.0.1"), "{text}");
    assert!(text.contains("network:router_interface"), "{text}");
    let err = dc.osc_fails(cloud, &["subnet", "delete", "refsub"]);
    assert!(err.contains("refsub") || err.contains("Failed"), "{err}");
    let err = dc.osc_fails(cloud, &["router", "delete", "refrouter"]);
    assert!(err.contains("refrouter") || err.contains("Failed"), "{err}");
    let err = dc.osc_fails(cloud, &["network", "delete", "refnet"]);
    assert!(err.contains("refnet") || err.contains("Failed"), "{err}");

    // Two NICs, the port first: addresses on both networks, the port bound, then kept.
    dc.osc_json(
        cloud,
        &[
            "server",
            "create",
            "--flavor",
            "m1.tiny",
            "--image",
            "ubuntu-22.04-base",
            "--nic",
            "port-id=refport",
            "--nic",
            "net-id=private",
            "--wait",
            "refvm",
        ],
    );
    let server = dc.osc_json(cloud, &["server", "show", "refvm"]);
    let addresses = server["addresses"].to_string();
    assert!(
        addresses.contains("refnet")
            && addresses.contains("10.77.0.20")
            && addresses.contains("private"),
        "{addresses}"
    );
    // In NIC order (refnet, then private), as nova answers: the text output keeps it.
    let text = dc.osc(
        cloud,
        &["server", "show", "-f", "value", "-c", "addresses", "refvm"],
    );
    let (refnet, private) = (text.find("refnet"), text.find("private"));
    assert!(
        matches!((refnet, private), (Some(r), Some(p)) if r < p),
        "addresses not in NIC order: {text}"
    );
    let port = dc.osc_json(cloud, &["port", "show", "refport"]);
    assert_eq!(port["device_owner"], "compute:nova");
    assert_eq!(port["status"], "ACTIVE");
    dc.osc(cloud, &["server", "delete", "--wait", "refvm"]);
    let port = dc.osc_json(cloud, &["port", "show", "refport"]);
    assert_eq!(port["device_id"], "");
    assert_eq!(port["status"], "DOWN");

    // The delete order: interface, router, ports, subnet, network.
    dc.osc(
        cloud,
        &["router", "remove", "subnet", "refrouter", "refsub"],
    );
    dc.osc(cloud, &["router", "delete", "refrouter"]);
    dc.osc(cloud, &["port", "delete", "refport", "refshared"]);
    dc.osc(cloud, &["network", "delete", "refnet"]);
    let subnets = dc.osc_json(cloud, &["subnet", "list"]);
    assert!(!subnets.to_string().contains("refsub"), "{subnets}");
}
