//! The fault benchmark of issue 15: devcloud answering 15% of requests with 500/503 before
//! anything happens (`fail_rate`) and 5% with a 503 after the request was carried out
//! (`fail_after_rate`: a create that happened, its answer lost), on both clouds. Each round
//! runs the real `s2d` command line on `plans/multi-server.toml`, each command once: `apply`,
//! `plan --detailed-exitcode` (must say no changes), `destroy`. A round converged when the
//! three exit codes are right and both clouds' projects are then exactly as before the round.
//! Prints per round and in total: converged, the faults answered (each one a retry by the
//! session or a marker lookup before a create was tried again), duplicates found after apply
//! (two servers, images, groups or keypairs of one name, or two floating IPs of one address),
//! and the time.
//!
//! Run: `cargo run --release --example fault_rounds [-- ROUNDS [FAIL_RATE FAIL_AFTER_RATE]]`
//! (default 20 rounds, 0.15 and 0.05).
//!
//! The `s2d` commands are this program run again as `s2d` (`S2D_FAULT_ROUNDS_AS_S2D=1`), so
//! the benchmark needs no separately built binary and runs exactly the CLI's code.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use devcloud::{DevCloud, Options};
use serde_json::{Value, json};

const AS_S2D: &str = "S2D_FAULT_ROUNDS_AS_S2D";

fn main() -> ExitCode {
    if std::env::var_os(AS_S2D).is_some() {
        return s2d::cli::run();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: f64| -> f64 {
        args.get(i)
            .map(|a| a.parse().unwrap_or_else(|_| panic!("not a number: {a}")))
            .unwrap_or(default)
    };
    let rounds = number(0, 20.0) as usize;
    let (fail_rate, fail_after_rate) = (number(1, 0.15), number(2, 0.05));
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(run(rounds, fail_rate, fail_after_rate))
}

/// A project's contents from devcloud's dump, without what changes with every use (deleted
/// servers, revision counters, update times).
fn projects(dump: &Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for key in ["deleted_servers", "revision_number", "updated_at"] {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut p = dump["projects"].clone();
    strip(&mut p);
    p
}

/// Images as a project sees them in the dump: (owner, name) of those not deleted.
fn images(dump: &Value) -> Vec<(String, String)> {
    dump["glance"]["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["status"] != "deleted")
        .map(|i| {
            (
                i["owner"].as_str().unwrap_or("").to_string(),
                i["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// How many resources repeat a name (or a floating address) that should be unique.
fn duplicates(dump: &Value) -> usize {
    let mut repeats = 0;
    let count = |names: Vec<String>| {
        let mut seen = BTreeMap::<String, usize>::new();
        for n in names {
            *seen.entry(n).or_default() += 1;
        }
        seen.values().map(|n| n - 1).sum::<usize>()
    };
    for project in dump["projects"].as_object().into_iter().flatten() {
        let project = project.1;
        for (kind, key) in [
            ("servers", "name"),
            ("security_groups", "name"),
            ("keypairs", "name"),
            ("floatingips", "floating_ip_address"),
        ] {
            let names = project[kind]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r[key].as_str().map(str::to_string))
                .collect();
            repeats += count(names);
        }
    }
    repeats
        + count(
            images(dump)
                .into_iter()
                .map(|(owner, name)| format!("{owner}/{name}"))
                .collect(),
        )
}

async fn get(url: String) -> Value {
    reqwest::get(url)
        .await
        .expect("devcloud answers")
        .json()
        .await
        .expect("JSON")
}

async fn set_faults(dc: &DevCloud, patch: Value) {
    for cloud in [&dc.provider, &dc.hospital] {
        let resp = reqwest::Client::new()
            .patch(format!("{}/devcloud/faults", cloud.base_url()))
            .json(&patch)
            .send()
            .await
            .expect("PATCH faults");
        assert!(resp.status().is_success());
    }
}

/// Answers of both clouds' request logs since they were last cleared: (requests, faults
/// answered (5xx and 429), creates answered 5xx).
fn faults_seen(dc: &DevCloud) -> (usize, usize, usize) {
    let mut out = (0, 0, 0);
    for cloud in [&dc.provider, &dc.hospital] {
        let log = cloud.cloud().log.entries();
        out.0 += log.len();
        out.1 += log
            .iter()
            .filter(|r| r.status >= 500 || r.status == 429)
            .count();
        out.2 += log
            .iter()
            .filter(|r| r.method == "POST" && r.status >= 500)
            .count();
        cloud.cloud().log.clear();
    }
    out
}

fn s2d(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let exe = std::env::current_exe().expect("this program");
    let out = Command::new(exe)
        .env(AS_S2D, "1")
        .env("NO_COLOR", "1")
        .env("OS_CLIENT_CONFIG_FILE", dir.join("clouds.yaml"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs s2d");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn run(rounds: usize, fail_rate: f64, fail_after_rate: f64) -> ExitCode {
    let dir = tempfile::tempdir().expect("tempdir");
    let dc = DevCloud::start(Options {
        clouds_yaml: Some(dir.path().join("clouds.yaml")),
        image_size: 1 << 20,
        seed: 15,
        ..Options::default()
    })
    .await
    .expect("devcloud starts");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/multi-server.toml"),
        dir.path().join("multi-server.toml"),
    )
    .expect("plan");
    // Seeded images are hashed in the background: "before" starts once they are.
    let state = |name: &str| {
        let base = dc.cloud(name).expect("cloud").base_url().to_string();
        get(format!("{base}/devcloud/state"))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while [state("provider").await, state("hospital").await]
        .iter()
        .any(|d| {
            d["glance"]["images"]
                .as_array()
                .is_some_and(|i| i.iter().any(|i| i["checksum"].is_null()))
        })
    {
        assert!(Instant::now() < deadline, "seeded images never hashed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = (
        projects(&state("provider").await),
        projects(&state("hospital").await),
    );
    let before_images = (
        images(&state("provider").await),
        images(&state("hospital").await),
    );
    faults_seen(&dc);
    println!(
        "fault rounds: multi-server plan (3 servers), fail_rate {fail_rate}, fail_after_rate {fail_after_rate}, {rounds} rounds"
    );
    println!(
        "{:>5}  {:>9}  {:>8}  {:>6}  {:>13}  {:>10}  {:>7}",
        "round", "converged", "requests", "faults", "creates 5xx", "duplicates", "time"
    );
    let plan = "multi-server.toml";
    let (mut converged, mut total_faults, mut total_creates, mut total_dups, mut total_requests) =
        (0, 0, 0, 0, 0);
    let started = Instant::now();
    for round in 1..=rounds {
        let t = Instant::now();
        set_faults(
            &dc,
            json!({"fail_rate": fail_rate, "fail_after_rate": fail_after_rate}),
        )
        .await;
        let dir = dir.path().to_path_buf();
        let outcome = tokio::task::spawn_blocking(move || {
            let apply = s2d(&dir, &["apply", plan, "--auto-approve", "-q"]);
            let plan = s2d(&dir, &["plan", plan, "--detailed-exitcode", "-q"]);
            (apply, plan, dir)
        })
        .await
        .expect("joins");
        let ((apply_code, apply_err), (plan_code, plan_err), dir) = outcome;
        let dups = duplicates(&state("hospital").await) + duplicates(&state("provider").await);
        let destroy = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || {
                s2d(&dir, &["destroy", plan, "--auto-approve", "-q"])
            })
            .await
            .expect("joins")
        };
        set_faults(&dc, json!({"fail_rate": 0.0, "fail_after_rate": 0.0})).await;
        let (requests, faults, creates) = faults_seen(&dc);
        let after = (
            projects(&state("provider").await),
            projects(&state("hospital").await),
        );
        let after_images = (
            images(&state("provider").await),
            images(&state("hospital").await),
        );
        let ok = apply_code == Some(0)
            && plan_code == Some(0)
            && destroy.0 == Some(0)
            && after == before
            && after_images == before_images;
        let elapsed = t.elapsed();
        println!(
            "{round:>5}  {:>9}  {requests:>8}  {faults:>6}  {creates:>13}  {dups:>10}  {:>6.1}s",
            if ok { "yes" } else { "NO" },
            elapsed.as_secs_f64()
        );
        if !ok {
            for (what, code, err) in [
                ("apply", apply_code, apply_err),
                ("plan", plan_code, plan_err),
                ("destroy", destroy.0, destroy.1),
            ] {
                eprintln!("  {what}: exit {code:?}\n{err}");
            }
            if after != before || after_images != before_images {
                eprintln!("  the clouds are not as before the round");
            }
            // Put the clouds back for the next round.
            let _ = s2d(&dir, &["destroy", plan, "--auto-approve", "-q"]);
        }
        converged += usize::from(ok);
        total_faults += faults;
        total_creates += creates;
        total_dups += dups;
        total_requests += requests;
    }
    let total = started.elapsed();
    println!(
        "rounds converged: {converged} of {rounds}; requests {total_requests}; faults answered \
         (each retried or looked up) {total_faults}; creates answered 5xx {total_creates}; \
         duplicates found {total_dups}; time {:.1}s ({:.1}s a round)",
        total.as_secs_f64(),
        total.as_secs_f64() / rounds.max(1) as f64
    );
    dc.stop().await;
    if converged == rounds && total_dups == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
