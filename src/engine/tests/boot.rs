//! Boot fidelity against the fake: the target image gets the snapshot's boot properties and
//! never the source's own, with the plan's overrides and drops; the server takes along its
//! metadata, tags, description, config drive and group (made again with its policy, removed
//! by destroy); drift is updated in place or replaced; user data is read again and checked.

use serde_json::json;

use super::*;
use crate::graph::{ServerBoot, ServerGroupChoice, SourceGroup, UserDataRef};

/// The nodes that failed, with their messages.
fn failures(report: &ApplyReport) -> Vec<(String, String)> {
    report
        .nodes
        .iter()
        .filter_map(|n| match &n.status {
            NodeStatus::Failed { message, .. } => Some((n.address.to_string(), message.clone())),
            _ => None,
        })
        .collect()
}

/// The fake's `web`, booted from an image with boot properties, with what it takes along.
fn env_with_boot() -> Env {
    let env = Env::new(&["web"], Script::default());
    env.cloud.edit_source(|servers| {
        let web = servers.get_mut("web").expect("web");
        web.boot = ServerBoot {
            metadata: BTreeMap::from([("role".to_string(), "web".to_string())]),
            tags: vec!["blue".into(), "prod".into()],
            description: Some("the web tier".into()),
            config_drive: true,
            hostname: Some("web-1".into()),
            availability_zone: Some("az-src".into()),
            user_data_readable: false,
            user_data_sha256: None,
        };
        web.server_group = Some(SourceGroup {
            name: "web-spread".into(),
            policy: "anti-affinity".into(),
        });
    });
    env
}

fn with_overrides(mut desired: Desired) -> Desired {
    let image = &mut desired.servers[0].image;
    image.properties = BTreeMap::from([("hw_firmware_type".to_string(), "uefi".to_string())]);
    image.drop_properties = vec!["os_type".into()];
    desired.servers[0].zones = BTreeMap::from([("az-src".to_string(), "az-dst".to_string())]);
    desired
}

#[tokio::test]
async fn a_server_takes_along_how_it_boots_and_destroy_removes_its_group() {
    let env = env_with_boot();
    let desired = with_overrides(quickstart());
    let planned = env.plan(&desired).await;
    let acts = actions(&planned);
    assert_eq!(acts["server_group.web-spread"], "create");
    let image = planned
        .changes
        .iter()
        .find(|c| c.address.kind() == "image")
        .expect("image change");
    // The plan shows the properties the image will get: the source image's boot properties
    // (hw_disk_bus, not os_type: dropped) and the override.
    assert_eq!(
        image.after.as_ref().expect("after")["properties"],
        json!({"hw_disk_bus": "scsi", "hw_firmware_type": "uefi"})
    );
    let report = &planned.boot[0];
    assert!(
        report.carried.iter().any(|c| c == "tags blue, prod"),
        "{report:?}"
    );
    assert!(
        report
            .carried
            .iter()
            .any(|c| c == "availability zone az-dst")
    );
    assert!(
        report.left.iter().any(|l| l.what == "user data"),
        "the unreadable user data is reported: {report:?}"
    );
    let text = render::render_plan(&planned, render::Style::default());
    assert!(text.contains("server.web takes along:"), "{text}");
    assert!(text.contains("Left behind: user data of web"), "{text}");

    let report = env.apply(&desired).await;
    assert!(failures(&report).is_empty(), "{:?}", failures(&report));
    let contents = env.cloud.contents();
    let target = contents.images.values().next().expect("target image");
    assert_eq!(target.properties["hw_disk_bus"], "scsi");
    assert_eq!(target.properties["hw_firmware_type"], "uefi");
    for never in ["os_type", "instance_uuid", "image_type"] {
        assert!(
            !target.properties.contains_key(never),
            "{never} is not carried: {:?}",
            target.properties
        );
    }
    assert_eq!(target.min_disk, 20, "min_disk as the snapshot's");
    let group = contents.server_groups.values().next().expect("group");
    assert_eq!(
        (group.name.as_str(), group.policy.as_str()),
        ("web-spread", "anti-affinity")
    );
    let server = contents.servers.values().next().expect("server");
    assert_eq!(group.members, vec![server.id.clone()]);
    assert_eq!(server.boot.metadata["role"], "web");
    assert_eq!(
        server.boot.tags,
        vec!["blue".to_string(), "prod".to_string()]
    );
    assert_eq!(server.boot.description.as_deref(), Some("the web tier"));
    assert!(server.boot.config_drive);
    assert_eq!(server.boot.hostname.as_deref(), Some("web-1"));
    assert_eq!(server.boot.availability_zone.as_deref(), Some("az-dst"));
    assert!(
        env.plan(&desired).await.is_empty(),
        "a second plan is clean"
    );

    env.destroy().await;
    let after = env.cloud.contents();
    assert!(
        after.server_groups.is_empty(),
        "destroy removes the group s2d made"
    );
    assert!(after.servers.is_empty() && after.images.is_empty());
}

#[tokio::test]
async fn drift_in_what_a_server_takes_along_is_updated_in_place_or_replaced() {
    let env = env_with_boot();
    let desired = with_overrides(quickstart());
    env.apply(&desired).await;
    // Someone edits the copy: its tags and metadata, and the image's properties.
    env.cloud.edit(|c| {
        let server = c.servers.values_mut().next().expect("server");
        server.boot.tags = vec!["stale".into()];
        server.boot.metadata.insert("extra".into(), "x".into());
        let image = c.images.values_mut().next().expect("image");
        image.properties.remove("hw_firmware_type");
        image.properties.insert("os_type".into(), "linux".into());
    });
    let planned = env.plan(&desired).await;
    let acts = actions(&planned);
    assert_eq!(acts["server.web"], "update", "{acts:?}");
    assert_eq!(acts["image.web-image"], "update", "{acts:?}");
    env.apply(&desired).await;
    let contents = env.cloud.contents();
    let server = contents.servers.values().next().expect("server");
    assert_eq!(
        server.boot.tags,
        vec!["blue".to_string(), "prod".to_string()]
    );
    assert!(!server.boot.metadata.contains_key("extra"));
    let image = contents.images.values().next().expect("image");
    assert_eq!(image.properties["hw_firmware_type"], "uefi");
    assert!(!image.properties.contains_key("os_type"));
    assert!(env.plan(&desired).await.is_empty());

    // A config drive cannot be added to a running server: it is made again.
    env.cloud.edit(|c| {
        c.servers
            .values_mut()
            .next()
            .expect("server")
            .boot
            .config_drive = false;
    });
    let planned = env.plan(&desired).await;
    assert_eq!(actions(&planned)["server.web"], "replace");
}

#[tokio::test]
async fn a_group_the_plan_names_is_used_and_left_alone() {
    let env = env_with_boot();
    env.cloud.edit(|c| {
        c.server_groups.insert(
            "grp-ops".into(),
            crate::engine::port::ServerGroup {
                id: "grp-ops".into(),
                name: "ops".into(),
                policy: "affinity".into(),
                members: Vec::new(),
            },
        );
    });
    let mut desired = quickstart();
    desired.servers[0].server_group = ServerGroupChoice::Existing("ops".into());
    let planned = env.plan(&desired).await;
    assert_eq!(actions(&planned)["server_group.ops"], "adopt");
    env.apply(&desired).await;
    let contents = env.cloud.contents();
    let server = contents.servers.values().next().expect("server");
    assert_eq!(
        contents.server_groups["grp-ops"].members,
        vec![server.id.clone()]
    );
    env.destroy().await;
    assert!(
        env.cloud.contents().server_groups.contains_key("grp-ops"),
        "a group s2d did not make stays"
    );

    // A group of the source's name with another policy is refused before anything is made.
    let env = env_with_boot();
    env.cloud.edit(|c| {
        c.server_groups.insert(
            "grp-x".into(),
            crate::engine::port::ServerGroup {
                id: "grp-x".into(),
                name: "web-spread".into(),
                policy: "affinity".into(),
                members: Vec::new(),
            },
        );
    });
    let file = env.state();
    let err = diff(env.cloud.as_ref(), &quickstart(), file.state(), &quick())
        .await
        .expect_err("conflicting policy");
    assert!(
        matches!(err, PlanError::ServerGroupConflict { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn the_sources_user_data_is_read_again_and_must_be_what_was_planned() {
    let env = env_with_boot();
    let text = "I2Nsb3VkLWNvbmZpZwo="; // "#cloud-config\n"
    env.cloud.set_source_user_data("src-web-id", text);
    env.cloud.edit_source(|servers| {
        let web = servers.get_mut("web").expect("web");
        web.boot.user_data_readable = true;
        web.boot.user_data_sha256 = Some(crate::files::user_data_digest(text));
    });
    let desired = quickstart();
    let planned = env.plan(&desired).await;
    assert!(
        !planned.boot[0].left.iter().any(|l| l.what == "user data"),
        "readable user data is carried"
    );
    // The source's user data changes between plan and apply: the apply refuses the server.
    env.cloud.set_source_user_data("src-web-id", "Y2hhbmdlZAo=");
    let mut file = env.state();
    let report = apply(env.cloud.clone(), &planned, &mut file, &options())
        .await
        .expect("applies");
    let failed = failures(&report);
    assert!(
        failed
            .iter()
            .any(|(a, m)| a == "server.web" && m.contains("changed since the plan")),
        "{failed:?}"
    );
    assert!(env.cloud.contents().servers.is_empty());
    // A plan file's user data goes by its digest too.
    let mut desired = quickstart();
    desired.servers[0].user_data = Some(UserDataRef::File {
        path: "/nonexistent/cloud-init.yaml".into(),
        sha256: "00".into(),
    });
    drop(file);
    let report = env.apply(&desired).await;
    assert!(
        failures(&report)
            .iter()
            .any(|(_, m)| m.contains("cloud-init.yaml")),
        "{:?}",
        failures(&report)
    );
}
