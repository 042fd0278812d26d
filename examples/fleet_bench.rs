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

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use s2d::cli::render;
use s2d::cloud::compute::{ServerCreate, ServerNetwork, ServerQuery};
use s2d::cloud::{Cloud, ConfigEnv};
use s2d::engine::openstack::{OpenStack, TransferOptions};
use s2d::engine::{self, ApplyOptions, PlanOptions};
use s2d::graph::Desired;
use s2d::state::StateFile;
use s2d::workflow::defaults;

const LATENCY_MS: u64 = 20;

fn env(dir: &Path) -> ConfigEnv {
    ConfigEnv {
        vars: BTreeMap::from([(
            "OS_CLIENT_CONFIG_FILE".to_string(),
            dir.join("clouds.yaml").display().to_string(),
        )]),
        cwd: dir.to_path_buf(),
        home: None,
        system_dir: dir.join("none"),
    }
}

async fn connect(dir: &Path, name: &str) -> Cloud {
    let config = s2d::cloud::config::from_clouds_yaml(name, &env(dir)).expect("cloud config");
    Cloud::connect(config).await.expect("connects")
}

/// The child: devcloud with `count` more provider servers named `fleet-NNNNN`, then the URLs
/// on stdout; it runs until its stdin closes.
async fn serve_devcloud(dir: PathBuf, count: usize) {
    let dc = devcloud::DevCloud::start(devcloud::Options {
        image_size: 1 << 20,
        clouds_yaml: Some(dir.join("clouds.yaml")),
        ..devcloud::Options::default()
    })
    .await
    .expect("devcloud starts");
    let provider = connect(&dir, "provider").await;
    let original = provider
        .compute
        .list_servers(&ServerQuery {
            name: Some("ehr-analytics".into()),
            ..Default::default()
        })
        .await
        .expect("list")
        .pop()
        .expect("ehr-analytics");
    let private = provider
        .network
        .networks(&[])
        .await
        .expect("networks")
        .into_iter()
        .find(|n| !n.external)
        .expect("a provider network");
    // The seeded /24 holds about 250 ports: the fleet gets a network of its own, a /16.
    let project = private.project_id.clone().unwrap_or_default();
    let neutron = &dc.cloud("provider").expect("provider").cloud().neutron;
    let now = time::OffsetDateTime::now_utc();
    neutron.create_network("fleet-net-id", &project, "fleet-net", false, false, now);
    neutron.create_subnet(
        "fleet-subnet-id",
        &project,
        "fleet-net-id",
        "fleet-subnet",
        "10.77.0.0/16".parse().expect("a CIDR"),
        now,
    );
    let network_id = s2d::cloud::NetworkId::new("fleet-net-id");
    let made = futures_util::stream::iter(0..count)
        .map(|n| {
            let provider = &provider;
            let create = ServerCreate {
                name: format!("fleet-{n:05}"),
                image: original.image.clone(),
                flavor: original
                    .flavor
                    .as_ref()
                    .and_then(|f| f.id.clone())
                    .unwrap_or_else(|| "2".into()),
                key_name: original.key_name.clone(),
                networks: vec![ServerNetwork::Network(network_id.clone())],
                security_groups: vec!["default".into()],
                ..Default::default()
            };
            async move { provider.compute.create_server(&create).await }
        })
        .buffer_unordered(32)
        .filter(|r| std::future::ready(r.is_err()))
        .count()
        .await;
    assert_eq!(made, 0, "every fleet server is created");
    for name in ["provider", "hospital"] {
        println!("{}", dc.cloud(name).expect("cloud").base_url());
    }
    std::io::stdout().flush().expect("flush");
    // Until the parent closes our stdin.
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    })
    .await;
    dc.stop().await;
}

/// A devcloud child with `count` fleet servers: its admin URLs, and the child.
fn start_child(dir: &Path, count: usize) -> (Vec<String>, std::process::Child) {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .args(["--devcloud", &dir.display().to_string(), &count.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("devcloud child starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let urls = (0..2)
        .map(|_| lines.next().expect("a URL").expect("readable"))
        .collect();
    (urls, child)
}

async fn admin(base: &str, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) {
    let mut request = reqwest::Client::new().request(method, format!("{base}/devcloud/{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request
        .send()
        .await
        .expect("admin call")
        .error_for_status()
        .expect("admin call accepted");
}

async fn request_count(base: &str) -> usize {
    let log: serde_json::Value = reqwest::get(format!("{base}/devcloud/requests"))
        .await
        .expect("request log")
        .json()
        .await
        .expect("JSON");
    log.as_array()
        .or_else(|| log["requests"].as_array())
        .map_or(0, Vec::len)
}

/// The plan: one fleet entry selecting `fleet-*` (as in `plans/fleet.toml`).
fn fleet_plan() -> Desired {
    let text = "version = 1\n[source]\ncloud = \"provider\"\n[target]\ncloud = \"hospital\"\n\
                [defaults]\nnetwork = \"private\"\nkeypair = { import = \"alice-key\" }\n\
                security_group = \"default\"\nfloating_ip = { pool = \"public\" }\n\
                [[server]]\nselect = { name = \"fleet-*\" }\n";
    let loaded = s2d::plan::parse_str(text, s2d::plan::Syntax::Toml, "fleet.toml");
    let plan = loaded.plan.expect("the plan reads");
    let desired = Desired::from_plan(&plan).expect("desired");
    assert_eq!(desired.fleets.len(), 1, "one fleet");
    desired
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn adapter(dir: &Path) -> Arc<OpenStack> {
    let env = env(dir);
    Arc::new(
        OpenStack::connect(
            s2d::cloud::config::from_clouds_yaml("provider", &env).expect("provider"),
            s2d::cloud::config::from_clouds_yaml("hospital", &env).expect("hospital"),
            TransferOptions {
                spool_dir: dir.join("spool"),
                ..TransferOptions::default()
            },
        )
        .await
        .expect("connects"),
    )
}

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
    let state = StateFile::open(&dir.path().join("state.json"), "bench").expect("state");
    let started = Instant::now();
    let outcome = engine::diff(
        &*cloud,
        &fleet_plan(),
        state.state(),
        &PlanOptions::default(),
    )
    .await
    .expect("plans");
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
    let mut state = StateFile::open(&dir.path().join("state.json"), "bench").expect("state");
    let outcome = engine::diff(
        &*cloud,
        &fleet_plan(),
        state.state(),
        &PlanOptions::default(),
    )
    .await
    .expect("plans");
    let mut options = ApplyOptions::new(
        defaults::PARALLELISM,
        defaults::TRANSFERS,
        defaults::timeouts(),
    );
    options.snapshots = engine::apply::at_least_one(defaults::SNAPSHOTS);
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
