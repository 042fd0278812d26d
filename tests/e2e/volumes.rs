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

use crate::harness::{
    World, id_of, image_backed_source, openstack, openstack_text, remove_volume,
    volume_backed_source, wait_status,
};

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
    let made = volume_backed_source(world, "vols-src", "vols", Some(&data_bytes())).await;
    (made.server, made.volumes, made.images)
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
        remove_volume(world, "provider", v).await;
    }
    for i in images {
        openstack(world, "provider", &["image", "delete", i], false).await;
    }
}

/// Read a target volume back as Cinder uploads it (a snapshot at 3.66, a volume from it, its
/// upload): the md5 of the uploaded image's bytes. Leaves nothing behind.
async fn read_back(world: &World, volume: &str) -> String {
    // The same Cinder calls as s2d's first three volume steps, timed as the referee sees them
    // (the CLI's own start-up included): a figure per GiB for each.
    let started = Instant::now();
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
    let snapshot_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
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
    let copy_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
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
    eprintln!(
        "read back through the CLI, per GiB: snapshot of the in-use volume {:.1} s, volume from \
         the snapshot {:.1} s, upload to an image {:.1} s",
        snapshot_secs / GIB,
        copy_secs / GIB,
        started.elapsed().as_secs_f64() / GIB
    );
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
/// The plan; `more` is added to the server's table.
fn plan(source_type: &str, to_type: &str, more: &str) -> String {
    format!(
        "version = 1\n[source]\ncloud = \"provider\"\n[target]\ncloud = \"hospital\"\n\
         [defaults]\nkeypair = {{ import = \"alice-key\" }}\nnetwork = \"private\"\n\
         security_group = \"default\"\n\
         [[server]]\nsource = \"vols-src\"\nname = \"vols-copy\"\n\
         volume_types = {{ \"{source_type}\" = \"{to_type}\" }}\n{more}"
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
    std::fs::write(
        world.path().join("vols.toml"),
        plan(&source_type, to_type, ""),
    )
    .expect("plan");

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
    // Its progress lines (stderr) give the figures of the steps it finished.
    let killed_log = world.path().join("killed-apply.log");
    let mut child = world
        .command(&["apply", "vols.toml", "--auto-approve", "--color", "never"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&killed_log).expect("the log"))
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
    // Each volume is 1 GiB: a step's seconds are its seconds per GiB.
    let mut figures: Vec<String> = std::fs::read_to_string(&killed_log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("volume") && l.contains(" done after "))
        .map(|l| format!("{l} (killed apply)"))
        .collect();
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
    eprintln!("volume steps:\n  {}", figures.join("\n  "));

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
    let expected = padded_md5(&world.path().join("vols-data-img.raw"), 1 << 30);
    assert_eq!(
        read_back(&world, &data).await,
        expected,
        "the data volume holds the source's bytes"
    );

    world
        .s2d_ok(&["plan", "vols.toml", "--detailed-exitcode"], 0)
        .await;

    // Another flavor replaces the server; its volumes outlive the old one (the root volume,
    // `delete_on_termination` as in the source, is unmarked first) and the new one boots from
    // the same two.
    std::fs::write(
        world.path().join("vols.toml"),
        plan(&source_type, to_type, "flavor = \"m1.medium\"\n"),
    )
    .expect("plan");
    world
        .s2d_ok(&["apply", "vols.toml", "--auto-approve"], 0)
        .await;
    let replaced = world.id("server.vols-copy");
    assert_ne!(replaced, copy, "the server was replaced");
    let shown = openstack(&world, "hospital", &["server", "show", &replaced], true).await;
    assert_eq!(shown["status"], "ACTIVE", "{shown}");
    let attached = shown["volumes_attached"].to_string();
    assert!(
        attached.contains(&root) && attached.contains(&data),
        "the replacement boots from the same volumes: {attached}"
    );
    assert_eq!(world.id("volume.vols-copy[0]"), root);
    assert_eq!(world.id("volume.vols-copy[1]"), data);
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

/// A server booted from an image, with a data volume of known bytes attached: the image comes
/// along as any server's does (a snapshot, its copy) and the data volume through the five
/// volume steps, as qcow2 (Cinder converts on upload and back to raw for the target volume),
/// its intermediates kept; the target server boots from the copied image with the one volume
/// attached, which holds the source's bytes; a second plan has nothing to do, and destroy
/// removes the intermediates too and returns both clouds to what they held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_backed_server_moves_with_its_data_volume() {
    let world = World::start().await;
    let made = image_backed_source(&world, "vold-src", "vold", Some(&data_bytes())).await;
    let source_before = holdings(&world, "provider").await;
    let target_before = holdings(&world, "hospital").await;
    std::fs::write(
        world.path().join("vold.toml"),
        "version = 1\n[source]\ncloud = \"provider\"\n[target]\ncloud = \"hospital\"\n\
         [defaults]\nkeypair = { import = \"alice-key\" }\nnetwork = \"private\"\n\
         security_group = \"default\"\n\
         [[server]]\nsource = \"vold-src\"\nname = \"vold-copy\"\n\
         volume_format = \"qcow2\"\nkeep_volume_intermediates = true\n",
    )
    .expect("plan");
    let planned = world.s2d_ok(&["plan", "vold.toml"], 0).await;
    let text = String::from_utf8_lossy(&planned.stdout);
    for address in ["snapshot.", "image.", "volume.vold-copy[0]"] {
        assert!(text.contains(address), "the plan shows {address}: {text}");
    }
    assert!(
        !text.contains("vold-copy[1]"),
        "one volume, the data volume: {text}"
    );

    world
        .s2d_ok(&["apply", "vold.toml", "--auto-approve"], 0)
        .await;
    let copy = world.id("server.vold-copy");
    let shown = openstack(&world, "hospital", &["server", "show", &copy], true).await;
    assert_eq!(shown["status"], "ACTIVE", "{shown}");
    assert!(
        shown["image"]
            .as_str()
            .is_some_and(|i| !i.is_empty() && !i.contains("booted from volume")),
        "booted from its image: {}",
        shown["image"]
    );
    let data = world.id("volume.vold-copy[0]");
    let attached = shown["volumes_attached"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(attached.len(), 1, "{shown}");
    assert!(attached[0].to_string().contains(&data), "{shown}");
    for (cloud, address) in [
        ("provider", "volume_upload.vold-copy[0]"),
        ("hospital", "volume_image.vold-copy[0]"),
    ] {
        let format = openstack_text(
            &world,
            cloud,
            &[
                "image",
                "show",
                &world.id(address),
                "-f",
                "value",
                "-c",
                "disk_format",
            ],
        )
        .await;
        assert_eq!(format.trim(), "qcow2", "{address}");
    }
    let expected = padded_md5(&world.path().join("vold-data-img.raw"), 1 << 30);
    assert_eq!(
        read_back(&world, &data).await,
        expected,
        "the data volume holds the source's bytes"
    );

    world
        .s2d_ok(&["plan", "vold.toml", "--detailed-exitcode"], 0)
        .await;
    world
        .s2d_ok(&["destroy", "vold.toml", "--auto-approve"], 0)
        .await;
    assert_eq!(holdings(&world, "hospital").await, target_before);
    assert_eq!(
        holdings(&world, "provider").await,
        source_before,
        "nothing of s2d's in the source"
    );
    clean_source(&world, &made.server, &made.volumes, &made.images).await;
}
