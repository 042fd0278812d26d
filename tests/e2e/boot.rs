//! Boot fidelity end to end: a source server booted from an image with UEFI, q35 and
//! virtio-scsi properties, with metadata, two tags, a description, a config drive, user data
//! and membership of an anti-affinity group, moved by the `s2d` binary; the `openstack` CLI
//! (the referee, as a user would check) then shows the target image with every boot property
//! and none of the source's own, the plan's override and drop in effect, and the target server
//! with the metadata, tags, description, config drive and a group of the same policy; destroy
//! removes the group s2d made. Runs on devcloud and on the real clouds.

use serde_json::Value;

use crate::harness::{World, openstack};

const BOOT_PROPERTIES: [(&str, &str); 6] = [
    ("hw_firmware_type", "uefi"),
    ("hw_machine_type", "q35"),
    ("hw_disk_bus", "scsi"),
    ("hw_scsi_model", "virtio-scsi"),
    ("os_distro", "ubuntu"),
    ("os_type", "linux"),
];

/// Properties Nova or Glance put on a snapshot that belong to the source.
const SOURCE_ONLY: [&str; 8] = [
    "instance_uuid",
    "base_image_ref",
    "image_type",
    "image_location",
    "image_state",
    "user_id",
    "boot_roles",
    "owner_id",
];

/// A property of an `image show -f json`, wherever this CLI puts them (top level or
/// `properties`).
fn property<'a>(image: &'a Value, key: &str) -> Option<&'a Value> {
    image
        .get("properties")
        .and_then(|p| p.get(key))
        .or_else(|| image.get(key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_starts_in_the_target_as_it_booted_in_the_source() {
    let world = World::start().await;
    let dir = world.path();
    let disk = dir.join("disk.raw");
    std::fs::write(&disk, vec![0u8; 1 << 20]).expect("disk file");
    std::fs::write(
        dir.join("source-init.yaml"),
        "#cloud-config\nhostname: src\n",
    )
    .expect("ud");
    std::fs::write(
        dir.join("cloud-init.yaml"),
        "#cloud-config\nhostname: copy\n",
    )
    .expect("ud");

    // The source: an image with boot properties, a group, a server with what it takes along.
    let mut create_image = vec![
        "image",
        "create",
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "--file",
        "disk.raw",
    ];
    let props: Vec<String> = BOOT_PROPERTIES
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for p in &props {
        create_image.extend(["--property", p]);
    }
    create_image.push("boot-base");
    let base = openstack(&world, "provider", &create_image, true).await;
    let base_id = base["id"].as_str().expect("image id").to_string();
    let group = openstack(
        &world,
        "provider",
        &[
            "server",
            "group",
            "create",
            "--policy",
            "anti-affinity",
            "boot-spread",
        ],
        true,
    )
    .await;
    let group_id = group["id"].as_str().expect("group id").to_string();
    let hint = format!("group={group_id}");
    let source = openstack(
        &world,
        "provider",
        &[
            "server",
            "create",
            "--image",
            &base_id,
            "--flavor",
            "m1.small",
            "--network",
            "private",
            "--key-name",
            "alice-key",
            "--property",
            "role=db",
            "--property",
            "tier=gold",
            "--tag",
            "blue",
            "--tag",
            "prod",
            "--description",
            "the analytics db",
            "--config-drive",
            "True",
            "--hint",
            &hint,
            "--user-data",
            "source-init.yaml",
            "--wait",
            "boot-src",
        ],
        true,
    )
    .await;
    let source_id = source["id"].as_str().expect("server id").to_string();

    let plan = "version = 1\n\
        [source]\ncloud = \"provider\"\n[target]\ncloud = \"hospital\"\n\
        [defaults]\nnetwork = \"private\"\nkeypair = { import = \"alice-key\" }\n\
        security_group = \"default\"\n\
        [[server]]\nsource = \"boot-src\"\nname = \"boot-copy\"\n\
        image = { properties = { os_distro = \"rhel9\" }, drop_properties = [\"os_type\"] }\n\
        user_data = { file = \"cloud-init.yaml\" }\n";
    std::fs::write(dir.join("boot.toml"), plan).expect("plan");

    let planned = world.s2d_ok(&["plan", "boot.toml"], 0).await;
    let text = String::from_utf8_lossy(&planned.stdout);
    assert!(text.contains("server_group.boot-spread"), "{text}");
    assert!(text.contains("server.boot-copy takes along:"), "{text}");
    assert!(
        text.contains("hw_firmware_type"),
        "the plan shows the properties: {text}"
    );
    let json = world.s2d_ok(&["plan", "boot.toml", "--json"], 0).await;
    let outcome: Value = serde_json::from_slice(&json.stdout).expect("plan JSON");
    let image_change = outcome["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["address"] == "image.boot-src-s2d")
        .expect("image change");
    let planned_props = &image_change["after"]["properties"];
    assert_eq!(planned_props["os_distro"], "rhel9", "{planned_props}");
    assert!(planned_props.get("os_type").is_none(), "{planned_props}");

    world
        .s2d_ok(&["apply", "boot.toml", "--auto-approve"], 0)
        .await;

    // The target image, as the CLI shows it.
    let image_id = world.id("image.boot-src-s2d");
    let image = openstack(&world, "hospital", &["image", "show", &image_id], true).await;
    for (key, value) in BOOT_PROPERTIES {
        match key {
            "os_type" => assert!(property(&image, key).is_none(), "dropped: {image}"),
            "os_distro" => assert_eq!(property(&image, key), Some(&Value::from("rhel9"))),
            _ => assert_eq!(
                property(&image, key),
                Some(&Value::from(value)),
                "{key}: {image}"
            ),
        }
    }
    for key in SOURCE_ONLY {
        assert!(
            property(&image, key).is_none(),
            "{key} is not carried: {image}"
        );
    }
    assert!(
        image["min_disk"].as_u64().is_some_and(|d| d >= 20),
        "min_disk as the snapshot's: {image}"
    );

    // The target server.
    let server_id = world.id("server.boot-copy");
    let server = openstack(&world, "hospital", &["server", "show", &server_id], true).await;
    let metadata = &server["properties"];
    assert_eq!(metadata["role"], "db", "{server}");
    assert_eq!(metadata["tier"], "gold", "{server}");
    let mut tags: Vec<&str> = server["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, ["blue", "prod"], "{server}");
    assert_eq!(server["description"], "the analytics db", "{server}");
    let config_drive = server["config_drive"].as_str().unwrap_or_default();
    assert!(config_drive.eq_ignore_ascii_case("true"), "{server}");
    let groups = openstack(
        &world,
        "hospital",
        &["server", "group", "list", "--long"],
        true,
    )
    .await;
    let target_group = groups
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["Name"] == "boot-spread")
        .unwrap_or_else(|| panic!("a group boot-spread in the target: {groups}"));
    let policy = target_group["Policy"]
        .as_str()
        .or_else(|| target_group["Policies"].as_str())
        .unwrap_or_default();
    assert!(policy.contains("anti-affinity"), "{target_group}");
    let members = target_group["Members"].to_string();
    assert!(members.contains(&server_id), "{target_group}");

    world
        .s2d_ok(&["plan", "boot.toml", "--detailed-exitcode"], 0)
        .await;
    world
        .s2d_ok(&["destroy", "boot.toml", "--auto-approve"], 0)
        .await;
    let groups = openstack(&world, "hospital", &["server", "group", "list"], true).await;
    assert!(
        !groups.to_string().contains("boot-spread"),
        "destroy removes the group s2d made: {groups}"
    );

    // Leave the source as it was found.
    openstack(
        &world,
        "provider",
        &["server", "delete", "--wait", &source_id],
        false,
    )
    .await;
    openstack(
        &world,
        "provider",
        &["server", "group", "delete", &group_id],
        false,
    )
    .await;
    openstack(&world, "provider", &["image", "delete", &base_id], false).await;
}
