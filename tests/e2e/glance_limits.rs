//! Glance's unified limits end to end: `s2d plan` reads what is left of each cloud's
//! `image_count_total` (`GET /v2/info/usage`) and refuses, before anything is made, a server
//! whose snapshot has no room in the source's Glance, or whose copy has none in the target's,
//! naming the cloud and the limit; with room again it plans. On devcloud the limit is its
//! `quota` knob; on the real clouds (Glance with `use_keystone_limits`, the four resources
//! registered in Keystone by tests/openstack/provision.py) a project limit that the cloud's
//! admin sets with `openstack limit create` and deletes afterwards.

use crate::harness::{World, both, openstack, real_openstack};

/// The tenant project of a cloud of the harness.
fn project(cloud: &str) -> &'static str {
    match cloud {
        "provider" => "ehr",
        _ => "research",
    }
}

/// What the tenant uses of `image_count_total`, as Glance shows it.
async fn images_used(world: &World, cloud: &str) -> u64 {
    let usage = world
        .cloud(cloud)
        .await
        .image
        .usage()
        .await
        .expect("usage")
        .expect("Glance tells its usage");
    let entry = usage.image_count_total.expect("image_count_total");
    u64::try_from(entry.usage).expect("a count")
}

/// A limit on the tenant's `image_count_total`: devcloud's knob, or a project limit in
/// Keystone (its id, to delete).
async fn set_limit(world: &World, cloud: &str, limit: u64) -> Option<String> {
    if !real_openstack() {
        world
            .faults(
                cloud,
                serde_json::json!({"quota": {"image_count_total": limit}}),
            )
            .await;
        return None;
    }
    let made = openstack(
        world,
        &format!("{cloud}-admin"),
        &[
            "limit",
            "create",
            "--service",
            "glance",
            "--region",
            "RegionOne",
            "--project",
            project(cloud),
            "--project-domain",
            "Default",
            "--resource-limit",
            &limit.to_string(),
            "image_count_total",
        ],
        true,
    )
    .await;
    Some(made["id"].as_str().expect("the limit's id").to_string())
}

async fn clear_limit(world: &World, cloud: &str, id: Option<String>) {
    match id {
        Some(id) => {
            openstack(
                world,
                &format!("{cloud}-admin"),
                &["limit", "delete", &id],
                false,
            )
            .await;
        }
        None => world.faults(cloud, serde_json::json!({"quota": {}})).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_beyond_glances_image_count_is_refused_before_anything_is_made() {
    let world = World::start().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    for (cloud, side) in [("provider", "source"), ("hospital", "target")] {
        // devcloud's Glance tells its usage once a limit is set, the real ones always.
        let roomy = set_limit(&world, cloud, 1_000_000).await;
        let used = images_used(&world, cloud).await;
        clear_limit(&world, cloud, roomy).await;
        let full = set_limit(&world, cloud, used).await;
        let out = world.s2d(&["plan", &plan]).await;
        clear_limit(&world, cloud, full).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("s2d::cloud::quota"), "{err}");
        assert!(
            err.contains(&format!(
                "the {side}'s image_count_total (Glance) quota has 0 left of {used}, and the plan's new images need 1"
            )),
            "{err}"
        );
        assert_eq!(both(&world).await, before, "nothing was made");
        // One image of room: the plan goes through.
        let room = set_limit(&world, cloud, used + 1).await;
        let out = world.s2d(&["plan", &plan, "--detailed-exitcode"]).await;
        clear_limit(&world, cloud, room).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
