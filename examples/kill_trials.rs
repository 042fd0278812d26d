//! The kill -9 trials of issue 15: a fleet of 50 servers applied against devcloud (20 ms per
//! request), the applying process killed with SIGKILL at a random moment, then applied again
//! until the plan is empty, then destroyed. Each trial counts the duplicates (two target
//! servers or images of one name, two snapshots of one source) after convergence and the
//! orphans after destroy (anything in either cloud that was not there before), and prints:
//!
//! - trials converged (the plan after the re-apply is empty) and re-applies needed;
//! - duplicates and orphans over all trials (target: 0 and 0).
//!
//! The applying process is this program started again with `--apply DIR`: the engine's apply
//! through the real OpenStack adapter, exactly what `s2d apply` runs, with its state in DIR.
//!
//! Run: `cargo run --release --example kill_trials` (20 trials, about ten minutes;
//! `-- --trials N --servers M` for others).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use s2d::cloud::Cloud;
use s2d::cloud::compute::ServerQuery;
use s2d::cloud::image::ImageQuery;
use s2d::engine;

#[path = "fleet/mod.rs"]
mod fleet;
use fleet::*;

/// The child: plan and apply the fleet with the state in `dir` (until killed).
async fn apply_child(dir: PathBuf) {
    let cloud = adapter(&dir).await;
    let mut state = state(&dir, "apply");
    let outcome = plan_fleet(&cloud, &state).await;
    let _ = engine::apply(cloud, &outcome, &mut state, &default_options()).await;
}

/// Everything both clouds hold that s2d could have made, by kind: ids, and names per kind.
async fn inventory(dir: &Path) -> (BTreeSet<String>, BTreeMap<String, usize>) {
    let mut ids = BTreeSet::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for name in ["provider", "hospital"] {
        let cloud: Cloud = connect(dir, name).await;
        for s in cloud
            .compute
            .list_servers(&ServerQuery::default())
            .await
            .expect("servers")
        {
            ids.insert(format!("{name} server {}", s.id));
            *names
                .entry(format!("{name} server {}", s.name))
                .or_default() += 1;
        }
        for i in cloud
            .image
            .list(&ImageQuery::default())
            .await
            .expect("images")
        {
            ids.insert(format!("{name} image {}", i.id));
            let image_name = i.name.unwrap_or_default();
            *names
                .entry(format!("{name} image {image_name}"))
                .or_default() += 1;
        }
        for k in cloud.compute.list_keypairs().await.expect("keypairs") {
            ids.insert(format!("{name} keypair {}", k.name));
        }
        for g in cloud.network.security_groups(&[]).await.expect("groups") {
            ids.insert(format!("{name} group {}", g.id));
            for r in &g.security_group_rules {
                ids.insert(format!("{name} rule {}", r.id));
            }
        }
        for f in cloud.network.floating_ips(&[]).await.expect("fips") {
            ids.insert(format!("{name} floating ip {}", f.id));
        }
    }
    (ids, names)
}

/// Plan and apply in this process until the plan is empty (at most `rounds`): the re-applies.
async fn converge(dir: &Path, rounds: usize) -> Option<usize> {
    let cloud = adapter(dir).await;
    for round in 1..=rounds {
        let mut state = state(dir, "converge");
        let outcome = plan_fleet(&cloud, &state).await;
        if outcome.is_empty() {
            return Some(round - 1);
        }
        let _ = engine::apply(cloud.clone(), &outcome, &mut state, &default_options()).await;
    }
    None
}

async fn destroy(dir: &Path) -> bool {
    let cloud = adapter(dir).await;
    let mut state = state(dir, "destroy");
    engine::destroy(cloud, &mut state, &[], &default_options())
        .await
        .succeeded()
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    match args.get(1).map(String::as_str) {
        Some("--devcloud") => {
            let count = args[3].parse().expect("a count");
            runtime.block_on(serve_devcloud(PathBuf::from(&args[2]), count));
            return;
        }
        Some("--apply") => {
            runtime.block_on(apply_child(PathBuf::from(&args[2])));
            return;
        }
        _ => {}
    }
    let trials = arg(&args, "--trials", 20);
    let servers = arg(&args, "--servers", 50);
    let dir = tempfile::tempdir().expect("tempdir");
    let (urls, mut devcloud) = start_child(dir.path(), servers);
    runtime.block_on(async {
        for base in &urls {
            admin(
                base,
                reqwest::Method::PATCH,
                "faults",
                Some(serde_json::json!({ "latency_ms": LATENCY_MS, "snapshot_s": 0.5 })),
            )
            .await;
        }
        let (before, _) = inventory(dir.path()).await;
        // One uninterrupted apply measures how long the kills may wait.
        let started = Instant::now();
        assert_eq!(converge(dir.path(), 3).await, Some(1), "a clean apply converges");
        let whole = started.elapsed();
        assert!(destroy(dir.path()).await, "the clean apply is destroyed");
        println!(
            "devcloud with {LATENCY_MS} ms per request, {servers} servers; an uninterrupted apply takes {:.1} s",
            whole.as_secs_f64()
        );
        let mut rng = fastrand::Rng::with_seed(15);
        let (mut converged, mut reapplies, mut duplicates, mut orphans) = (0, 0, 0, 0);
        for trial in 1..=trials {
            let wait = Duration::from_secs_f64(rng.f64() * whole.as_secs_f64());
            let mut child = Command::new(std::env::current_exe().expect("own path"))
                .args(["--apply", &dir.path().display().to_string()])
                .spawn()
                .expect("apply child starts");
            tokio::time::sleep(wait).await;
            let _ = child.kill();
            let _ = child.wait();
            let rounds = converge(dir.path(), 4).await;
            let (_, names) = inventory(dir.path()).await;
            let dup: usize = names
                .iter()
                .filter(|(name, _)| name.contains(" server fleet-") || name.contains(" image fleet-"))
                .map(|(_, n)| n.saturating_sub(1))
                .sum();
            let destroyed = destroy(dir.path()).await;
            let (after, _) = inventory(dir.path()).await;
            let orphaned: Vec<&String> = after.difference(&before).collect();
            println!(
                "trial {trial:>2}: killed after {:>5.1} s; {}; {dup} duplicates; destroy {}; {} orphans{}",
                wait.as_secs_f64(),
                match rounds {
                    Some(n) => format!("converged after {n} re-apply(s)"),
                    None => "did NOT converge".to_string(),
                },
                if destroyed { "ok" } else { "FAILED" },
                orphaned.len(),
                if orphaned.is_empty() {
                    String::new()
                } else {
                    format!(" {orphaned:?}")
                }
            );
            if let Some(n) = rounds {
                converged += 1;
                reapplies += n;
            }
            duplicates += dup;
            orphans += orphaned.len();
        }
        println!(
            "{converged} of {trials} trials converged ({reapplies} re-applies in all); {duplicates} duplicates (target 0); {orphans} orphans after destroy (target 0)"
        );
    });
    drop(devcloud.stdin.take());
    let _ = devcloud.wait();
}
