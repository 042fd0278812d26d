//! End to end, as a user runs it: the `s2d` binary against two clouds. The same scenarios run
//! against devcloud (default) and against the real OpenStack pair of `tests/openstack/`
//! (`S2D_E2E_TARGET=openstack S2D_E2E_CLOUDS_YAML=...`, run by `tests/openstack/tier.sh`).

mod boot;
mod fleet;
mod formats;
mod glance_limits;
mod harness;
mod networks;
mod serve;
mod service;
mod volumes;

use harness::{World, both, glyph_count, image_sums, server_rules};
use s2d::cloud::ServerId;

/// quickstart: plan -> apply -> the copy is right -> plan shows nothing -> destroy -> the
/// clouds hold exactly what they held before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_apply_check_replan_destroy() {
    let world = World::start().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    let dump_before = match world.devcloud {
        Some(_) => Some(world.devcloud_dump("hospital").await),
        None => None,
    };

    let out = world
        .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 2)
        .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(glyph_count(&text, "+") >= 6, "{text}");
    assert!(text.contains("Plan: "), "{text}");

    // Without a terminal and without --auto-approve, apply refuses and changes nothing.
    let out = world.s2d_ok(&["apply", &plan], 1).await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--auto-approve"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(both(&world).await, before);

    let out = world
        .s2d_ok(&["apply", &plan, "--auto-approve", "--json"], 0)
        .await;
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("apply --json");
    let server = &result["overview"][0];
    assert_eq!(server["status"], "ACTIVE", "{result:#}");
    assert_eq!(server["floating_ips"].as_array().map(Vec::len), Some(1));

    let source = world.cloud("provider").await;
    let target = world.cloud("hospital").await;
    // The image's bytes are the snapshot's.
    let snapshot = image_sums(&source, &world.id("snapshot.ehr-analytics-s2d")).await;
    let image = image_sums(&target, &world.id("image.ehr-analytics-s2d")).await;
    assert_eq!(image.2, "active");
    assert!(snapshot.0.is_some());
    assert_eq!(image.0, snapshot.0, "md5");
    assert_eq!(image.1, snapshot.1, "sha512");
    // The server is ACTIVE, runs that image, and carries the floating IP.
    let server_id = world.id("server.ehr-analytics");
    let copy = target
        .compute
        .get_server(&ServerId::new(server_id.clone()))
        .await
        .expect("get")
        .expect("server exists");
    assert_eq!(copy.status, "ACTIVE");
    assert_eq!(
        copy.image.as_ref().map(ToString::to_string),
        Some(world.id("image.ehr-analytics-s2d"))
    );
    let fip = target
        .network
        .floating_ips(&[])
        .await
        .expect("fips")
        .into_iter()
        .find(|f| f.id.to_string() == world.id("floating_ip.ehr-analytics"))
        .expect("the floating IP exists");
    let ports = target
        .network
        .server_ports(&ServerId::new(server_id.clone()))
        .await
        .expect("ports");
    assert!(ports.iter().any(|p| Some(&p.id) == fip.port_id.as_ref()));
    // The keypair is the source's.
    let source_key = source.compute.get_keypair("alice-key").await.expect("get");
    let target_key = target.compute.get_keypair("alice-key").await.expect("get");
    assert_eq!(
        target_key.expect("target key").fingerprint,
        source_key.expect("source key").fingerprint
    );
    // Every rule of the source server's groups admits the same traffic in the target.
    let original = source
        .compute
        .list_servers(&s2d::cloud::compute::ServerQuery {
            name: Some("ehr-analytics".into()),
            ..Default::default()
        })
        .await
        .expect("servers")
        .into_iter()
        .next()
        .expect("source server");
    let wanted = server_rules(&source, original.id.as_str()).await;
    let got = server_rules(&target, &server_id).await;
    for rule in &wanted {
        assert!(
            got.contains(rule),
            "rule {rule:?} missing in the target: {got:?}"
        );
    }

    let out = world
        .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 0)
        .await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("No changes"));

    // The migrated server's usage, from the target, marked as s2d's.
    let out = world
        .s2d_ok(&["usage", &plan, "--managed", "--json"], 0)
        .await;
    let usage: serde_json::Value = serde_json::from_slice(&out.stdout).expect("usage JSON");
    let rows = usage["instances"].as_array().expect("instances");
    assert!(
        rows.iter().any(|r| r["id"] == server_id.as_str()
            && r["managed"] == true
            && r["vcpus"].as_u64() >= Some(1)),
        "{usage:#}"
    );
    assert!(rows.iter().all(|r| r["managed"] == true), "{usage:#}");

    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(
        both(&world).await,
        before,
        "destroy left the clouds changed"
    );
    if let Some(dump) = dump_before {
        assert_eq!(world.devcloud_dump("hospital").await, dump);
    }
    assert!(world.state().resources.is_empty());
}

/// Three servers sharing one keypair and one new group; one without a floating IP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_server_plan_applies_and_destroys() {
    let world = World::start().await;
    let plan = world.plan("multi-server.toml");
    let before = both(&world).await;
    world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
    let state = world.state();
    let count = |kind: &str| state.resources.keys().filter(|a| a.kind() == kind).count();
    assert_eq!(count("server"), 3);
    assert_eq!(count("image"), 3);
    assert_eq!(count("snapshot"), 3);
    assert_eq!(count("keypair"), 1);
    assert_eq!(count("floating_ip"), 2);
    let target = world.cloud("hospital").await;
    let groups = target
        .network
        .security_groups(&[("name", "analytics".to_string())])
        .await
        .expect("groups");
    assert_eq!(groups.len(), 1, "one shared group");
    for name in ["ehr-analytics", "ehr-analytics-2", "ehr-analytics-batch"] {
        let server = target
            .compute
            .get_server(&ServerId::new(world.id(&format!("server.{name}"))))
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(server.status, "ACTIVE");
        assert!(server.security_groups.iter().any(|g| g.name == "analytics"));
    }
    world
        .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 0)
        .await;
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(both(&world).await, before);
}

/// Drift: a rule and the server deleted by hand are planned back and repaired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_planned_and_repaired() {
    let world = World::start().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
    let target = world.cloud("hospital").await;
    let state = world.state();
    let rule = state
        .resources
        .iter()
        .find(|(a, r)| a.kind() == "security_group_rule" && r.origin == s2d::state::Origin::Created)
        .map(|(a, r)| (a.clone(), r.id.clone()))
        .expect("a rule s2d made");
    target
        .network
        .delete_rule(&rule.1.as_str().into())
        .await
        .expect("delete rule");
    let server = world.id("server.ehr-analytics");
    target
        .compute
        .delete_server(&ServerId::new(server.clone()))
        .await
        .expect("delete server");
    target
        .compute
        .wait_for_server_deleted(
            &ServerId::new(server.clone()),
            std::time::Duration::from_secs(120),
        )
        .await
        .expect("gone");

    let out = world
        .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 2)
        .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("+ {}", rule.0)), "{text}");
    assert!(text.contains("server.ehr-analytics"), "{text}");
    assert!(text.contains("deleted outside s2d"), "{text}");

    world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
    assert_ne!(world.id("server.ehr-analytics"), server);
    world
        .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 0)
        .await;
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(both(&world).await, before);
}

/// A saved plan applies exactly; once the state moved on, the same saved plan is stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_plans_apply_once_and_then_are_stale() {
    let world = World::start().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    world
        .s2d_ok(
            &["plan", &plan, "--out", "saved.json", "--detailed-exitcode"],
            2,
        )
        .await;
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(world.path().join("saved.json")).expect("saved"))
            .expect("JSON");
    assert_eq!(saved["format_version"], 1);
    assert!(saved["summary"]["add"].as_u64().unwrap_or(0) >= 6);
    // A saved plan was reviewed when it was made: no prompt, even without a terminal.
    world.s2d_ok(&["apply", "saved.json"], 0).await;
    let out = world.s2d_ok(&["apply", "saved.json"], 1).await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stale"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(both(&world).await, before);
}

/// kill -9 at random moments of apply; the next apply converges with no duplicates, and
/// destroy leaves nothing behind. `S2D_E2E_KILL_TRIALS` trials (default 20).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_during_apply_then_apply_converges() {
    let world = World::start().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    let trials: u32 = std::env::var("S2D_E2E_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    // How long a whole apply takes here, to spread the kills over it.
    let started = std::time::Instant::now();
    world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
    let full = started.elapsed();
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(both(&world).await, before);

    let mut killed_mid_run = 0;
    for trial in 0..trials {
        let delay = full.mul_f64(fastrand::f64());
        let mut child = world
            .command(&["apply", &plan, "--auto-approve", "-q"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        tokio::time::sleep(delay).await;
        let finished = child.try_wait().expect("try_wait").is_some();
        if !finished {
            child.kill().expect("kill -9");
            killed_mid_run += 1;
        }
        let _ = child.wait();
        // A killed s2d may leave a lock file behind, but the OS lock died with it.
        let out = world.s2d(&["apply", &plan, "--auto-approve"]).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "trial {trial} (kill after {delay:?}): the converging apply failed\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (_, target) = both(&world).await;
        let servers = target
            .servers
            .iter()
            .filter(|(name, _)| name == "ehr-analytics")
            .count();
        let images = target
            .images
            .iter()
            .filter(|(name, _)| name == "ehr-analytics-s2d")
            .count();
        assert_eq!(
            servers, 1,
            "trial {trial}: duplicate servers {:?}",
            target.servers
        );
        assert_eq!(
            images, 1,
            "trial {trial}: duplicate images {:?}",
            target.images
        );
        let fips = target.floating_ips.len() - before.1.floating_ips.len();
        assert_eq!(
            fips, 1,
            "trial {trial}: floating IPs {:?}",
            target.floating_ips
        );
        world
            .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 0)
            .await;
        world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
        assert_eq!(
            both(&world).await,
            before,
            "trial {trial}: destroy left something behind"
        );
    }
    eprintln!("{trials} trials, {killed_mid_run} killed while running (full apply {full:?})");
    assert!(
        killed_mid_run * 2 >= trials,
        "most trials must kill a running apply"
    );
}

/// `s2d graph` shows the dependency graph; a target keypair of the plan's name with another
/// key is a conflict naming both fingerprints, and nothing is changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_and_a_keypair_conflict() {
    let world = World::start().await;
    let plan = world.plan("quickstart.toml");
    let out = world.s2d_ok(&["graph", &plan], 0).await;
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(dot.starts_with("digraph"), "{dot}");
    assert!(
        dot.contains("\"snapshot.ehr-analytics-s2d\" -> \"image.ehr-analytics-s2d\""),
        "{dot}"
    );
    assert!(
        dot.contains("\"server.ehr-analytics\" -> \"floating_ip.ehr-analytics\""),
        "{dot}"
    );
    let out = world.s2d_ok(&["graph", &plan, "--format", "json"], 0).await;
    let graph: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(graph["nodes"].as_array().is_some_and(|n| n.len() >= 6));

    let target = world.cloud("hospital").await;
    // A keypair of that name already in the target (the real clouds may hold one) is put
    // back afterwards.
    let existing = target.compute.get_keypair("alice-key").await.expect("get");
    if existing.is_some() {
        target
            .compute
            .delete_keypair("alice-key")
            .await
            .expect("set the existing key aside");
    }
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIVykAM05ETLhzlpek44UZWpeELJ3UX+juY/+kSZM8E6 other@example";
    let made = target
        .compute
        .import_keypair("alice-key", other, None)
        .await
        .expect("import a different key");
    let before = both(&world).await;
    let out = world.s2d_ok(&["plan", &plan], 1).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&made.fingerprint), "{err}");
    let source = world.cloud("provider").await;
    let wanted = source
        .compute
        .get_keypair("alice-key")
        .await
        .expect("get")
        .expect("source key");
    assert!(err.contains(&wanted.fingerprint), "{err}");
    let out = world.s2d_ok(&["apply", &plan, "--auto-approve"], 1).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("fingerprint"));
    assert_eq!(both(&world).await, before);
    target
        .compute
        .delete_keypair("alice-key")
        .await
        .expect("clean up");
    if let Some(key) = existing {
        target
            .compute
            .import_keypair("alice-key", &key.public_key, None)
            .await
            .expect("put the existing key back");
    }
}
