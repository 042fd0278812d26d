//! The fleet benchmark of issue 15. Prints, in one run:
//!
//! - **plan at fleet scale**: one plan whose single `[[server]]` selects every `fleet-*` server
//!   of the provider (1,000, then 10,000 of them), planned against devcloud with 20 ms added to
//!   every request: the wall time, the API calls both clouds served (targets: 1,000 servers in
//!   at most 10 s and 60 calls; 10,000 in at most 60 s), and this process's peak RSS (target:
//!   at most 300 MiB at 10,000). devcloud runs in a child process (this program started again
//!   with `--devcloud`), so the RSS is s2d's alone.
//! - **apply at fleet scale**: 200 of those servers applied with the default limits, snapshots
//!   taking 1 s each: the wall time beside the time the snapshot and transfer limits allow at
//!   best (target: at most 1.5x), and the most snapshots and copies in flight at once (never
//!   more than `--snapshots` and `--transfers`).
//!
//! Run: `cargo run --release --example fleet_bench` (about five minutes; `-- --quick` for
//! 1,000 servers and a 50-server apply).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use s2d::cli::render;
use s2d::engine;
use s2d::workflow::defaults;

#[path = "fleet/mod.rs"]
mod fleet;
use fleet::*;

async fn plan_at(count: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (urls, mut child) = start_child(dir.path(), count);
    for base in &urls {
        admin(
            base,
            reqwest::Method::PATCH,
            "faults",
            Some(serde_json::json!({ "latency_ms": LATENCY_MS })),
        )
        .await;
        admin(base, reqwest::Method::DELETE, "requests", None).await;
    }
    let cloud = adapter(dir.path()).await;
    let state = state(dir.path(), "bench");
    let started = Instant::now();
    let outcome = plan_fleet(&cloud, &state).await;
    let took = started.elapsed();
    let mut calls = 0;
    for base in &urls {
        calls += request_count(base).await;
    }
    let selected = outcome.selected.first().map_or(0, |f| f.servers.len());
    let (time_target, calls_target) = if count <= 1_000 {
        ("<= 10 s", "<= 60")
    } else {
        ("<= 60 s", "-")
    };
    println!(
        "plan, {count:>6} servers selected ({selected} matched, {} changes): {:>6.2} s (target {time_target}), {calls:>4} API calls (target {calls_target}), peak RSS {:>6.1} MiB{}",
        outcome.changes.len(),
        took.as_secs_f64(),
        peak_rss_mib(),
        if count > 1_000 {
            " (target <= 300)"
        } else {
            ""
        }
    );
    drop(child.stdin.take());
    let _ = child.wait();
}

async fn apply_at(count: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (urls, mut child) = start_child(dir.path(), count);
    let snapshot_s = 1.0;
    for base in &urls {
        admin(
            base,
            reqwest::Method::PATCH,
            "faults",
            Some(serde_json::json!({ "latency_ms": LATENCY_MS, "snapshot_s": snapshot_s })),
        )
        .await;
    }
    let cloud = adapter(dir.path()).await;
    let mut state = state(dir.path(), "bench");
    let outcome = plan_fleet(&cloud, &state).await;
    let options = default_options();
    let started = Instant::now();
    let report = engine::apply(cloud.clone(), &outcome, &mut state, &options)
        .await
        .expect("applies");
    let took = started.elapsed();
    assert!(report.succeeded(), "{}", render::render_report(&report));
    // At best, the snapshots go through `--snapshots` at a time, each taking `snapshot_s`.
    let waves = count.div_ceil(defaults::SNAPSHOTS as usize);
    let bound = Duration::from_secs_f64(waves as f64 * snapshot_s);
    println!(
        "apply, {count} servers (defaults: parallelism {}, snapshots {}, transfers {}): {:.1} s; the snapshot limit allows {:.1} s at best: {:.2}x (target <= 1.5)",
        defaults::PARALLELISM,
        defaults::SNAPSHOTS,
        defaults::TRANSFERS,
        took.as_secs_f64(),
        bound.as_secs_f64(),
        took.as_secs_f64() / bound.as_secs_f64()
    );
    println!(
        "        most in flight at once: {} snapshots (limit {}), {} image copies (limit {})",
        report.peak.snapshots,
        defaults::SNAPSHOTS,
        report.peak.transfers,
        defaults::TRANSFERS
    );
    drop(child.stdin.take());
    let _ = child.wait();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    if args.get(1).map(String::as_str) == Some("--devcloud") {
        let dir = PathBuf::from(&args[2]);
        let count = args[3].parse().expect("a count");
        runtime.block_on(serve_devcloud(dir, count));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    println!("devcloud with {LATENCY_MS} ms per request (in a child process), 1 MiB images");
    runtime.block_on(async {
        plan_at(1_000).await;
        if !quick {
            plan_at(10_000).await;
        }
        apply_at(if quick { 50 } else { 200 }).await;
    });
}
