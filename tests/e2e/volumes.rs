//! Volumes end to end: a source server booted from a volume, with a data volume of known
//! bytes, is moved by the `s2d` binary (each volume snapshotted, copied and uploaded in the
//! source, the image copied, a volume made from it in the target). The first apply is killed
//! (-9) in the middle of the volume steps; the next one converges without duplicates. The
//! `openstack` CLI (the referee) then shows the target server ACTIVE, booted from a volume
//! with the data volume attached; the data volume read back through upload-to-image has the
//! md5 of the source's bytes; a second plan has nothing to do; destroy returns the target's
//! volumes and images to exactly what they were, and the source keeps nothing of s2d's. Runs
//! on devcloud and on the real clouds; prints each stage's time per GiB.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{World, openstack, openstack_text};

const GIB: f64 = 1.0;

/// The known bytes of the data volume's image (2 MiB, no long runs of one value).
fn data_bytes() -> Vec<u8> {
    (0..2u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// The md5 of the file's bytes followed by zeros up to `size` bytes (what a volume made from an image
/// of `data` holds), by python3's hashlib (a debug build hashes a GiB slowly).
fn padded_md5(path: &std::path::Path, size: u64) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys\n\
             d=open(sys.argv[1],'rb').read(); h=hashlib.md5(d); n=int(sys.argv[2])-len(d)\n\
             z=bytes(1<<20)\n\
             while n>0:\n    k=min(n,len(z)); h.update(z[:k]); n-=k\n\
             print(h.hexdigest())",
            &path.display().to_string(),
            &size.to_string(),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

/// Poll `openstack <kind> show ID` until its status is `wanted` (or it is gone, for `gone`).
async fn wait_status(world: &World, cloud: &str, kind: &[&str], id: &str, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last = String::new();
    while Instant::now() < deadline {
        let mut args = kind.to_vec();
        args.extend(["show", id, "-f", "value", "-c", "status"]);
        let out = world_cli(world, cloud, &args).await;
        match out {
            None if wanted == "gone" => return,
            Some(status) if status == wanted => return,
            Some(status) if status.starts_with("error") || status == "killed" => {
                panic!("{} {id} went to {status}", kind.join(" "))
            }
            Some(status) => last = status,
            None => last = "gone".into(),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!(
        "{} {id} did not become {wanted} (last {last})",
        kind.join(" ")
    );
}

/// The CLI's answer, trimmed, or `None` when it fails (e.g. not found).
async fn world_cli(world: &World, cloud: &str, args: &[&str]) -> Option<String> {
    let mut cmd = tokio::process::Command::new(crate::harness::cli_path());
    cmd.env("OS_CLIENT_CONFIG_FILE", &world.clouds_yaml)
        .args(["--os-cloud", cloud])
        .args(args);
    let out = cmd.output().await.expect("the openstack CLI runs");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// What a project holds of volumes, volume snapshots and images (id and name).
async fn holdings(world: &World, cloud: &str) -> BTreeSet<String> {
    let mut held = BTreeSet::new();
    for kind in ["volume", "volume snapshot", "image"] {
        let mut args: Vec<&str> = kind.split(' ').collect();
        args.push("list");
        for item in openstack(world, cloud, &args, true)
            .await
            .as_array()
            .expect("a list")
        {
            held.insert(format!(
                "{kind} {} {}",
                item["ID"].as_str().unwrap_or_default(),
                item["Name"].as_str().unwrap_or_default()
            ));
        }
    }
    held
}

/// The source: a raw image of known bytes and a small root image, volume `vols-root` (1 GiB,
/// bootable) and `vols-data` (1 GiB, the known bytes), server `vols-src` booted from the first
/// with the second attached. Returns (server, [root, data], [images]).
async fn source(world: &World) -> (String, Vec<String>, Vec<String>) {
    std::fs::write(world.path().join("vols-data.raw"), data_bytes()).expect("data");
    std::fs::write(world.path().join("vols-root.raw"), vec![0u8; 1 << 20]).expect("root");
    let mut images = Vec::new();
    for name in ["vols-root", "vols-data"] {
        let file = format!("{name}.raw");
        let image = openstack(
            world,
            "provider",
            &[
                "image",
                "create",
                "--disk-format",
                "raw",
                "--container-format",
                "bare",
                "--file",
                &file,
                &format!("{name}-img"),
            ],
            true,
        )
        .await;
        images.push(id_of(&image));
    }
    let mut volumes = Vec::new();
    for (name, image) in ["vols-root", "vols-data"].iter().zip(&images) {
        let mut args = vec!["volume", "create", "--image", image.as_str(), "--size", "1"];
        if *name == "vols-root" {
            args.push("--bootable");
        }
        args.push(name);
        let volume = openstack(world, "provider", &args, true).await;
        let id = id_of(&volume);
        wait_status(world, "provider", &["volume"], &id, "available").await;
        volumes.push(id);
    }
    let server = openstack(
        world,
        "provider",
        &[
            "server",
            "create",
            "--volume",
            &volumes[0],
            "--flavor",
            "m1.small",
            "--network",
            "private",
            "--key-name",
            "alice-key",
            "--wait",
            "vols-src",
        ],
        true,
    )
    .await;
    let server = id_of(&server);
    openstack(
        world,
        "provider",
        &["server", "add", "volume", &server, &volumes[1]],
        false,
    )
    .await;
    wait_status(world, "provider", &["volume"], &volumes[1], "in-use").await;
    (server, volumes, images)
}

async fn clean_source(world: &World, server: &str, volumes: &[String], images: &[String]) {
    openstack(
        world,
        "provider",
        &["server", "delete", "--wait", server],
        false,
    )
    .await;
    for v in volumes {
        wait_status(world, "provider", &["volume"], v, "available").await;
        openstack(world, "provider", &["volume", "delete", v], false).await;
        wait_status(world, "provider", &["volume"], v, "gone").await;
    }
    for i in images {
        openstack(world, "provider", &["image", "delete", i], false).await;
    }
}

/// Read a target volume back as Cinder uploads it (a snapshot at 3.66, a volume from it, its
/// upload): the md5 of the uploaded image's bytes. Leaves nothing behind.
async fn read_back(world: &World, volume: &str) -> String {
    let snap = openstack(
        world,
        "hospital",
        &[
            "--os-volume-api-version",
            "3.66",
            "volume",
            "snapshot",
            "create",
            "--volume",
            volume,
            "vols-readback",
        ],
        true,
    )
    .await;
    let snap = id_of(&snap);
    wait_status(
        world,
        "hospital",
        &["volume", "snapshot"],
        &snap,
        "available",
    )
    .await;
    let copy = openstack(
        world,
        "hospital",
        &[
            "volume",
            "create",
            "--snapshot",
            &snap,
            "--size",
            "1",
            "vols-readback",
        ],
        true,
    )
    .await;
    let copy = id_of(&copy);
    wait_status(world, "hospital", &["volume"], &copy, "available").await;
    let image = openstack(
        world,
        "hospital",
        &[
            "image",
            "create",
            "--volume",
            &copy,
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "vols-readback",
        ],
        true,
    )
    .await;
    let image = image["image_id"]
        .as_str()
        .or(image["id"].as_str())
        .expect("the upload's image id")
        .to_string();
    wait_status(world, "hospital", &["image"], &image, "active").await;
    wait_status(world, "hospital", &["volume"], &copy, "available").await;
    // Its bytes as Glance serves them (not every Glance fills `checksum` for an upload).
    let file = world.path().join("vols-readback.raw");
    openstack(
        world,
        "hospital",
        &[
            "image",
            "save",
            "--file",
            &file.display().to_string(),
            &image,
        ],
        false,
    )
    .await;
    let md5 = padded_md5(&file, 0);
    let _ = std::fs::remove_file(&file);
    openstack(world, "hospital", &["image", "delete", &image], false).await;
    openstack(world, "hospital", &["volume", "delete", &copy], false).await;
    wait_status(world, "hospital", &["volume"], &copy, "gone").await;
    openstack(
        world,
        "hospital",
        &["volume", "snapshot", "delete", &snap],
        false,
    )
    .await;
    wait_status(world, "hospital", &["volume", "snapshot"], &snap, "gone").await;
    md5
}

/// The plan: `vols-src` as `vols-copy`, its volumes' type mapped to `to_type`.
fn plan(source_type: &str, to_type: &str) -> String {
    format!(
        "version = 1\n[source]\ncloud = \"provider\"\n[target]\ncloud = \"hospital\"\n\
         [defaults]\nkeypair = {{ import = \"alice-key\" }}\nnetwork = \"private\"\n\
         security_group = \"default\"\n\
         [[server]]\nsource = \"vols-src\"\nname = \"vols-copy\"\n\
         volume_types = {{ \"{source_type}\" = \"{to_type}\" }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_backed_server_with_a_data_volume_moves_and_a_kill_mid_way_converges() {
    let world = World::start().await;
    let (server_id, volumes, images) = source(&world).await;
    let source_before: BTreeSet<String> = holdings(&world, "provider").await;
    let target_before = holdings(&world, "hospital").await;
    let source_type = openstack_text(
        &world,
        "provider",
        &["volume", "show", &volumes[1], "-f", "value", "-c", "type"],
    )
    .await
    .trim()
    .to_string();
    let types = openstack_text(
        &world,
        "hospital",
        &["volume", "type", "list", "-f", "value", "-c", "Name"],
    )
    .await;
    let to_type = ["fast", "lvmdriver-1", "standard"]
        .into_iter()
        .find(|t| types.lines().any(|l| l.trim() == *t))
        .unwrap_or_else(|| panic!("a target volume type among {types}"));
    std::fs::write(world.path().join("vols.toml"), plan(&source_type, to_type)).expect("plan");

    let planned = world.s2d_ok(&["plan", "vols.toml"], 0).await;
    let text = String::from_utf8_lossy(&planned.stdout);
    for address in [
        "volume.vols-copy[0]",
        "volume.vols-copy[1]",
        "volume_upload.vols-copy[1]",
    ] {
        assert!(text.contains(address), "the plan shows {address}: {text}");
    }
    assert!(
        !text.contains("+ snapshot.") && !text.contains("+ image."),
        "no image of a volume-backed server: {text}"
    );
    assert!(
        text.contains("crash-consistent"),
        "the plan says how consistent the copy is: {text}"
    );

    // Killed once the first volume's snapshot is recorded: its copy is being made.
    let state_file = world.path().join("s2d.state.json");
    let mut child = world
        .command(&["apply", "vols.toml", "--auto-approve", "-q"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let recorded = std::fs::read_to_string(&state_file).unwrap_or_default();
        if recorded.contains("volume_snapshot.vols-copy[") {
            break;
        }
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "apply ended before the kill"
        );
        assert!(
            Instant::now() < deadline,
            "no volume snapshot recorded in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let killed_mid_run = child.try_wait().expect("try_wait").is_none();
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert!(killed_mid_run, "apply ended before the kill");

    let out = world
        .s2d_ok(&["apply", "vols.toml", "--auto-approve", "--json"], 0)
        .await;
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report is JSON");
    let mut figures = Vec::new();
    for node in report["report"]["nodes"].as_array().expect("nodes") {
        let address = node["address"].as_str().unwrap_or_default();
        if address.starts_with("volume") {
            let secs = node["elapsed_ms"].as_u64().unwrap_or_default() as f64 / 1000.0;
            figures.push(format!(
                "{address} {} {secs:.1} s ({:.1} s/GiB)",
                node["action"],
                secs / GIB
            ));
        }
    }
    eprintln!("volume steps after the kill:\n  {}", figures.join("\n  "));

    // One of each, the server booted from its volume with the data volume attached.
    let copy = world.id("server.vols-copy");
    let shown = openstack(&world, "hospital", &["server", "show", &copy], true).await;
    assert_eq!(shown["status"], "ACTIVE", "{shown}");
    assert!(
        shown["image"]
            .as_str()
            .is_none_or(|i| i.is_empty() || i.contains("booted from volume")),
        "booted from a volume: {}",
        shown["image"]
    );
    let root = world.id("volume.vols-copy[0]");
    let data = world.id("volume.vols-copy[1]");
    let attached = shown["volumes_attached"].to_string();
    assert!(
        attached.contains(&root) && attached.contains(&data),
        "{attached}"
    );
    let target_now = holdings(&world, "hospital").await;
    let new: Vec<&String> = target_now.difference(&target_before).collect();
    assert_eq!(
        new.len(),
        2,
        "only the two volumes are new in the target: {new:?}"
    );
    let root_shown = openstack(&world, "hospital", &["volume", "show", &root], true).await;
    // Cinder shows `bootable` as the text "true" (the CLI passes it on).
    assert!(
        root_shown["bootable"] == "true" || root_shown["bootable"] == true,
        "{root_shown}"
    );
    assert_eq!(root_shown["type"], to_type, "{root_shown}");
    assert_eq!(
        holdings(&world, "provider").await,
        source_before,
        "the source keeps nothing of s2d's once the volumes are in"
    );

    // The data volume's bytes, read back through upload-to-image.
    let expected = padded_md5(&world.path().join("vols-data.raw"), 1 << 30);
    assert_eq!(
        read_back(&world, &data).await,
        expected,
        "the data volume holds the source's bytes"
    );

    world
        .s2d_ok(&["plan", "vols.toml", "--detailed-exitcode"], 0)
        .await;
    world
        .s2d_ok(&["destroy", "vols.toml", "--auto-approve"], 0)
        .await;
    assert_eq!(
        holdings(&world, "hospital").await,
        target_before,
        "destroy returns the target's volumes, snapshots and images to what they were"
    );
    assert_eq!(
        holdings(&world, "provider").await,
        source_before,
        "nothing of s2d's in the source"
    );
    clean_source(&world, &server_id, &volumes, &images).await;
}
