//! A fleet end to end: 50 source servers (and a few that must not match) seeded in the
//! provider, one `[[server]]` with `select` standing for all of them; `s2d plan` lists exactly
//! the matches, `s2d apply` brings every one over (each target server ACTIVE under its derived
//! name, from its own image), a second plan has nothing to do, and `s2d destroy` leaves the
//! target as it was. Runs on devcloud and on the real clouds (`S2D_E2E_TARGET=openstack`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use s2d::cloud::compute::{ServerCreate, ServerNetwork, ServerQuery};
use s2d::cloud::image::ImageQuery;
use s2d::cloud::{Cloud, FlavorId, ServerId};

use crate::harness::{World, both, real_openstack};

/// How many source servers the fleet selects.
const FLEET: usize = 50;

/// Each seeded server's pretend disk on the real clouds (the fake driver's
/// `s2d-test-disk-bytes`; devcloud ignores it): 50 snapshots of the default 64 MiB would spend
/// minutes hashing and copying bytes that prove nothing more than 1 MiB does.
const DISK_BYTES: &str = "1048576";

const PLAN: &str = r#"# 50 servers selected by name pattern and metadata, each under a derived name.
version = 1

[source]
cloud = "provider"

[target]
cloud = "hospital"

[defaults]
network = "private"
keypair = { import = "alice-key" }
security_group = "analytics"

[[server]]
select = { name = "fleet-*", metadata = { wave = "1" } }
name = "{source}-copy"
snapshot = "{source}-fleet-s2d"
image = { name = "{source}-fleet", visibility = "private" }
flavor = "m1.tiny"
"#;

/// The seeded servers: name and metadata; `true` for those the fleet must select.
fn seeds() -> Vec<(String, BTreeMap<String, String>, bool)> {
    let meta = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("s2d-test-disk-bytes".to_string(), DISK_BYTES.to_string())])
            .collect()
    };
    let mut seeds: Vec<_> = (0..FLEET)
        .map(|i| (format!("fleet-{i:02}"), meta(&[("wave", "1")]), true))
        .collect();
    // The name matches, the metadata does not; the metadata matches, the name does not; the
    // metadata key is missing.
    seeds.push(("fleet-late".into(), meta(&[("wave", "2")]), false));
    seeds.push(("batch-01".into(), meta(&[("wave", "1")]), false));
    seeds.push(("fleet-untagged".into(), meta(&[]), false));
    seeds
}

/// Boot every seed in the provider (a few at a time) and wait until all are ACTIVE.
async fn seed(source: &Cloud) -> BTreeMap<String, ServerId> {
    let image = source
        .image
        .list(&ImageQuery {
            name: Some("ubuntu-22.04-base".into()),
            ..Default::default()
        })
        .await
        .expect("images")
        .into_iter()
        .next()
        .expect("the base image")
        .id;
    let network = source
        .network
        .networks(&[("name", "private".to_string())])
        .await
        .expect("networks")
        .into_iter()
        .next()
        .expect("the private network")
        .id;
    let made: Vec<(String, ServerId)> = futures_util::stream::iter(seeds())
        .map(|(name, metadata, _)| {
            let create = ServerCreate {
                name: name.clone(),
                image: Some(image.clone()),
                // m1.tiny: id 1 in devcloud and in the harness clouds.
                flavor: FlavorId::from("1"),
                key_name: Some("alice-key".into()),
                networks: vec![ServerNetwork::Network(network.clone())],
                security_groups: vec!["analytics".into()],
                metadata,
                ..Default::default()
            };
            async move {
                let id = source.compute.create_server(&create).await.expect("boots");
                (name, id)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let ids: BTreeMap<String, ServerId> = made.into_iter().collect();
    let wanted: BTreeSet<String> = ids.values().map(ToString::to_string).collect();
    poll_servers(source, "the seeded servers to be ACTIVE", |servers| {
        let active = servers
            .iter()
            .filter(|s| wanted.contains(s.id.as_str()) && s.status == "ACTIVE")
            .count();
        let failed: Vec<_> = servers
            .iter()
            .filter(|s| wanted.contains(s.id.as_str()) && s.status == "ERROR")
            .map(|s| s.name.clone())
            .collect();
        assert!(failed.is_empty(), "seeded servers in ERROR: {failed:?}");
        (active == wanted.len())
            .then_some(())
            .ok_or(format!("{active} of {} ACTIVE", wanted.len()))
    })
    .await;
    ids
}

/// Delete the seeded servers and wait until they are gone.
async fn unseed(source: &Cloud, ids: &BTreeMap<String, ServerId>) {
    for id in ids.values() {
        source.compute.delete_server(id).await.expect("deletes");
    }
    let ids: BTreeSet<String> = ids.values().map(ToString::to_string).collect();
    poll_servers(source, "the seeded servers to be gone", |servers| {
        let left = servers
            .iter()
            .filter(|s| ids.contains(s.id.as_str()) && !s.status.eq_ignore_ascii_case("DELETED"))
            .count();
        (left == 0).then_some(()).ok_or(format!("{left} left"))
    })
    .await;
}

/// List the project's servers every 250 ms until `done` says so (at most 5 minutes).
async fn poll_servers<T>(
    cloud: &Cloud,
    what: &str,
    mut done: impl FnMut(&[s2d::cloud::compute::Server]) -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let servers = cloud
            .compute
            .list_servers(&ServerQuery::default())
            .await
            .expect("servers");
        let seen = match done(&servers) {
            Ok(v) => return v,
            Err(seen) => seen,
        };
        assert!(Instant::now() < deadline, "waited 5 min for {what}: {seen}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selected_fleet_of_fifty_comes_over_and_goes() {
    // devcloud's images are 4 MiB by default: 50 of them hashed and copied by debug builds
    // take minutes and prove nothing more than small ones do.
    let world = if real_openstack() {
        World::start().await
    } else {
        World::devcloud(devcloud::Options {
            image_size: 256 << 10,
            ..devcloud::Options::default()
        })
        .await
    };
    let source = world.cloud("provider").await;
    let target = world.cloud("hospital").await;
    let before = both(&world).await;
    let started = Instant::now();
    let ids = seed(&source).await;
    let seeded = started.elapsed();
    std::fs::write(world.path().join("fleet.toml"), PLAN).expect("plan");
    let matched: BTreeSet<String> = seeds()
        .into_iter()
        .filter(|(_, _, selected)| *selected)
        .map(|(name, _, _)| name)
        .collect();
    let copies: BTreeSet<String> = matched.iter().map(|n| format!("{n}-copy")).collect();

    // The plan lists exactly the matches, by their target names, and makes each one's chain.
    let t = Instant::now();
    let out = world.s2d_ok(&["plan", "fleet.toml", "--json"], 0).await;
    let planned = t.elapsed();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan --json");
    let selected = plan["selected"].as_array().expect("selected");
    assert_eq!(selected.len(), 1, "{:#}", plan["selected"]);
    let listed: BTreeSet<String> = selected[0]["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| s.as_str().expect("name").to_string())
        .collect();
    assert_eq!(listed, copies);
    let servers: BTreeSet<String> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["node"]["type"] == "server")
        .map(|c| c["node"]["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(servers, copies);
    assert_eq!(
        plan["summary"]["add"]
            .as_u64()
            .map(|n| n as usize >= 3 * FLEET),
        Some(true)
    );
    let out = world
        .s2d_ok(&["plan", "fleet.toml", "--detailed-exitcode"], 2)
        .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("selects {FLEET} source servers")),
        "{text}"
    );

    // Apply brings all of them over.
    let t = Instant::now();
    let out = world
        .s2d_ok(&["apply", "fleet.toml", "--auto-approve", "--json"], 0)
        .await;
    let applied = t.elapsed();
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("apply --json");
    assert_eq!(
        result["overview"].as_array().map(Vec::len),
        Some(FLEET),
        "{:#}",
        result["overview"]
    );
    let in_target: BTreeMap<String, s2d::cloud::compute::Server> = target
        .compute
        .list_servers(&ServerQuery::default())
        .await
        .expect("target servers")
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    let mut images = BTreeSet::new();
    for source_name in &matched {
        let name = format!("{source_name}-copy");
        let server = in_target
            .get(&name)
            .unwrap_or_else(|| panic!("{name} is not in the target"));
        assert_eq!(server.status, "ACTIVE", "{name}");
        assert_eq!(server.id.to_string(), world.id(&format!("server.{name}")));
        let image = world.id(&format!("image.{source_name}-fleet"));
        assert_eq!(
            server.image.as_ref().map(ToString::to_string),
            Some(image.clone()),
            "{name} runs its own image"
        );
        let (md5, _, status) = crate::harness::image_sums(&target, &image).await;
        let (source_md5, _, _) = crate::harness::image_sums(
            &source,
            &world.id(&format!("snapshot.{source_name}-fleet-s2d")),
        )
        .await;
        assert_eq!(status, "active", "{name}'s image");
        assert_eq!(md5, source_md5, "{name}'s image holds its snapshot's bytes");
        images.insert(image);
    }
    assert_eq!(images.len(), FLEET, "one image per server");
    for stray in ["fleet-late-copy", "batch-01-copy", "fleet-untagged-copy"] {
        assert!(!in_target.contains_key(stray), "{stray} was not selected");
    }

    // Nothing left to do.
    let t = Instant::now();
    let out = world
        .s2d_ok(&["plan", "fleet.toml", "--detailed-exitcode"], 0)
        .await;
    let replanned = t.elapsed();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No changes"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Destroy removes everything s2d made, in both clouds.
    let t = Instant::now();
    world
        .s2d_ok(&["destroy", "fleet.toml", "--auto-approve"], 0)
        .await;
    let destroyed = t.elapsed();
    assert!(world.state().resources.is_empty(), "the state is empty");
    unseed(&source, &ids).await;
    assert_eq!(both(&world).await, before, "both clouds as before");
    eprintln!(
        "fleet of {FLEET} on {}: seed {:.1}s, plan {:.1}s, apply {:.1}s, plan again {:.1}s, destroy {:.1}s, all {:.1}s",
        if real_openstack() {
            "openstack"
        } else {
            "devcloud"
        },
        seeded.as_secs_f64(),
        planned.as_secs_f64(),
        applied.as_secs_f64(),
        replanned.as_secs_f64(),
        destroyed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
