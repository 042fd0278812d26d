//! What the fleet examples share (`fleet_bench`, `kill_trials`): devcloud in a child process
//! (the example started again with `--devcloud DIR COUNT`) holding `COUNT` more provider servers
//! named `fleet-NNNNN` on a network of their own, the admin calls that tune it, the plan that
//! selects the fleet, and the adapter on both clouds. Each example uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use futures_util::StreamExt;
use s2d::cloud::compute::{ServerCreate, ServerNetwork, ServerQuery};
use s2d::cloud::{Cloud, ConfigEnv};
use s2d::engine::openstack::{OpenStack, TransferOptions};
use s2d::graph::Desired;

pub const LATENCY_MS: u64 = 20;

pub fn env(dir: &Path) -> ConfigEnv {
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

pub async fn connect(dir: &Path, name: &str) -> Cloud {
    let config = s2d::cloud::config::from_clouds_yaml(name, &env(dir)).expect("cloud config");
    Cloud::connect(config).await.expect("connects")
}

/// The child: devcloud with `count` more provider servers named `fleet-NNNNN`, then the URLs
/// on stdout; it runs until its stdin closes.
pub async fn serve_devcloud(dir: PathBuf, count: usize) {
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
pub fn start_child(dir: &Path, count: usize) -> (Vec<String>, std::process::Child) {
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

pub async fn admin(
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) {
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

pub async fn request_count(base: &str) -> usize {
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
pub fn fleet_plan() -> Desired {
    let text = "version = 1\n[source]\ncloud = \"provider\"\n[target]\ncloud = \"hospital\"\n\
                [defaults]\nnetwork = \"private\"\nkeypair = { import = \"alice-key\" }\n\
                security_group = \"default\"\nfloating_ip = { pool = \"public\" }\n\
                [[server]]\nselect = { name = \"fleet-*\" }\n";
    let loaded = s2d::plan::parse_str(text, s2d::plan::Syntax::Toml, "fleet.toml");
    let plan = loaded.plan.expect("the plan reads");
    let desired =
        Desired::from_plan(&plan, &|p: &str| Err(format!("no files here ({p})"))).expect("desired");
    assert_eq!(desired.fleets.len(), 1, "one fleet");
    desired
}

pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

pub async fn adapter(dir: &Path) -> Arc<OpenStack> {
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

/// The state of the examples' runs, in `dir`.
pub fn state(dir: &Path, who: &str) -> s2d::state::StateFile {
    s2d::state::StateFile::open(&dir.join("state.json"), who).expect("state")
}

/// The fleet planned against both clouds and `state`.
pub async fn plan_fleet(
    cloud: &OpenStack,
    state: &s2d::state::StateFile,
) -> s2d::engine::PlanOutcome {
    s2d::engine::diff(
        cloud,
        &fleet_plan(),
        state.state(),
        &s2d::engine::PlanOptions::default(),
    )
    .await
    .expect("plans")
}

/// Apply with the workflow's defaults (parallelism, transfers, snapshots, timeouts).
pub fn default_options() -> s2d::engine::ApplyOptions {
    use s2d::workflow::defaults;
    let mut options = s2d::engine::ApplyOptions::new(
        defaults::PARALLELISM,
        defaults::TRANSFERS,
        defaults::timeouts(),
    );
    options.snapshots = s2d::engine::apply::at_least_one(defaults::SNAPSHOTS);
    options
}
