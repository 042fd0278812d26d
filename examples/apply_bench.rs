//! The apply benchmark of issue 5: devcloud with 200 ms added to every request, a plan of 20
//! servers, applied through the engine and the real OpenStack adapter. Prints, side by side in
//! one run:
//!
//! - the critical path: one server's apply alone (its chain snapshot -> image -> server ->
//!   floating IP, with the keypair and rules beside it), which is the longest chain of the
//!   20-server plan too;
//! - the 20-server apply at the default parallelism (10) and at a parallelism of 40, each as a
//!   ratio to the critical path (target: at most 1.5);
//! - the 20-server apply at `--parallelism 1`, as a ratio to the default (target: at least 5).
//!
//! Run: `cargo run --release --example apply_bench` (about three minutes).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use devcloud::{DevCloud, Options};
use s2d::cli::render;
use s2d::cloud::compute::{ServerCreate, ServerNetwork};
use s2d::cloud::{Cloud, ConfigEnv};
use s2d::engine::openstack::{OpenStack, TransferOptions};
use s2d::engine::{self, ApplyOptions, PlanOptions};
use s2d::graph::Desired;
use s2d::state::StateFile;
use s2d::workflow::defaults;

fn default_options() -> ApplyOptions {
    ApplyOptions::new(
        defaults::PARALLELISM,
        defaults::TRANSFERS,
        defaults::timeouts(),
    )
}

const SERVERS: usize = 20;
const LATENCY_MS: u64 = 200;

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

/// 19 more provider servers like the seeded `ehr-analytics`.
async fn seed_sources(provider: &Cloud) -> Vec<String> {
    let original = provider
        .compute
        .list_servers(&s2d::cloud::compute::ServerQuery {
            name: Some("ehr-analytics".into()),
            ..Default::default()
        })
        .await
        .expect("list")
        .pop()
        .expect("ehr-analytics");
    let network = provider
        .network
        .networks(&[])
        .await
        .expect("networks")
        .into_iter()
        .find(|n| !n.external)
        .expect("a provider network");
    let mut names = vec!["ehr-analytics".to_string()];
    let mut ids = Vec::new();
    for n in 1..SERVERS {
        let name = format!("bench-{n:02}");
        let id = provider
            .compute
            .create_server(&ServerCreate {
                name: name.clone(),
                image: original.image.clone(),
                flavor: original
                    .flavor
                    .as_ref()
                    .and_then(|f| f.id.clone())
                    .unwrap_or_else(|| "2".into()),
                key_name: original.key_name.clone(),
                networks: vec![ServerNetwork::Network(network.id.clone())],
                security_groups: vec!["default".into()],
                ..Default::default()
            })
            .await
            .expect("create source server");
        ids.push(id);
        names.push(name);
    }
    for id in &ids {
        provider
            .compute
            .wait_for_server(id, "ACTIVE", Duration::from_secs(60))
            .await
            .expect("source server ACTIVE");
    }
    names
}

fn plan_text(sources: &[String]) -> String {
    let mut text = String::from(
        "version = 1\n[source]\ncloud = \"provider\"\n[target]\ncloud = \"hospital\"\n\
         [defaults]\nnetwork = \"private\"\nkeypair = { import = \"alice-key\" }\n\
         security_group = \"default\"\nfloating_ip = { pool = \"public\" }\n",
    );
    for source in sources {
        text.push_str(&format!("\n[[server]]\nsource = \"{source}\"\n"));
    }
    text
}

/// Apply `sources` at `parallelism` (timed), then destroy (not timed).
async fn timed_apply(dir: &Path, sources: &[String], parallelism: usize) -> Duration {
    let loaded = s2d::plan::parse_str(&plan_text(sources), s2d::plan::Syntax::Toml, "bench.toml");
    let plan = loaded.plan.expect("the plan reads");
    let desired =
        Desired::from_plan(&plan, &|p: &str| Err(format!("no files here ({p})"))).expect("desired");
    let env = env(dir);
    let cloud = Arc::new(
        OpenStack::connect(
            s2d::cloud::config::from_clouds_yaml("provider", &env).expect("provider"),
            s2d::cloud::config::from_clouds_yaml("hospital", &env).expect("hospital"),
            TransferOptions::default(),
        )
        .await
        .expect("connects"),
    );
    let state_path = dir.join(format!("bench-{}-{parallelism}.json", sources.len()));
    let mut state = StateFile::open(&state_path, "bench").expect("state");
    let outcome = engine::diff(&*cloud, &desired, state.state(), &PlanOptions::default())
        .await
        .expect("plans");
    let options = ApplyOptions::new(
        parallelism as u32,
        parallelism.min(20) as u32,
        defaults::timeouts(),
    );
    let started = Instant::now();
    let report = engine::apply(cloud.clone(), &outcome, &mut state, &options)
        .await
        .expect("applies");
    let took = started.elapsed();
    assert!(report.succeeded(), "{}", render::render_report(&report));
    let undo = engine::destroy(cloud, &mut state, &[], &default_options()).await;
    assert!(undo.succeeded(), "{}", render::render_report(&undo));
    took
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dc = DevCloud::start(Options {
        image_size: 1 << 20,
        clouds_yaml: Some(dir.path().join("clouds.yaml")),
        ..Options::default()
    })
    .await
    .expect("devcloud starts");
    let provider = connect(dir.path(), "provider").await;
    let sources = seed_sources(&provider).await;
    for name in ["provider", "hospital"] {
        let base = dc.cloud(name).expect("cloud").base_url().to_string();
        reqwest::Client::new()
            .patch(format!("{base}/devcloud/faults"))
            .json(&serde_json::json!({"latency_ms": LATENCY_MS}))
            .send()
            .await
            .expect("latency set")
            .error_for_status()
            .expect("latency accepted");
    }
    println!("devcloud with {LATENCY_MS} ms per request, {SERVERS} servers, 1 MiB images");
    let critical = timed_apply(dir.path(), &sources[..1], 10).await;
    println!(
        "critical path (one server alone):      {:>7.1} s",
        critical.as_secs_f64()
    );
    let default = timed_apply(dir.path(), &sources, 10).await;
    println!(
        "{SERVERS} servers, parallelism 10 (default): {:>7.1} s   {:.2}x the critical path (target <= 1.5)",
        default.as_secs_f64(),
        default.as_secs_f64() / critical.as_secs_f64()
    );
    let wide = timed_apply(dir.path(), &sources, 40).await;
    println!(
        "{SERVERS} servers, parallelism 40:           {:>7.1} s   {:.2}x the critical path",
        wide.as_secs_f64(),
        wide.as_secs_f64() / critical.as_secs_f64()
    );
    let serial = timed_apply(dir.path(), &sources, 1).await;
    println!(
        "{SERVERS} servers, parallelism 1:            {:>7.1} s   {:.2}x slower than parallelism 10 (target >= 5)",
        serial.as_secs_f64(),
        serial.as_secs_f64() / default.as_secs_f64()
    );
    dc.stop().await;
}
