//! State write latency per backend (issue 19): the same state (40 resources, about 20 KiB of
//! JSON) committed 100 times to a local file, to PostgreSQL and to Swift, each write whole
//! and with its serial check, under the backend's lock. Prints mean, median, p95 and max per
//! backend, plus the time to take and give back the lock.
//!
//! PostgreSQL is `S2D_TEST_POSTGRES` (`eval "$(bash tests/postgres.sh start /tmp/s2d-pg)"`);
//! Swift is devcloud's object store, started in-process on loopback, and, when
//! `S2D_E2E_CLOUDS_YAML` names the real tier's clouds.yaml (`tests/openstack/tier.sh` sets
//! it), also the real Swift of that tier's `hospital` cloud (proxy, keystonemiddleware,
//! account, container and object servers on loopback).
//!
//! Run: `cargo run --release --example state_latency`, or on the real tier
//! `flock /tmp/s2d-tier.lock tests/openstack/tier.sh target/release/examples/state_latency`.

use std::time::{Duration, Instant};

use devcloud::{DevCloud, Options};
use s2d::graph::Address;
use s2d::state::{Location, Origin, Resource, Side, StateFile};

const RESOURCES: usize = 40;
const WRITES: usize = 100;

fn resource(i: usize) -> Resource {
    let mut attributes = serde_json::Map::new();
    attributes.insert("name".into(), format!("server-{i}").into());
    attributes.insert("fingerprint".into(), format!("{:064x}", i * 7919).into());
    Resource {
        side: Side::Target,
        id: uuid::Uuid::new_v4().to_string(),
        origin: Origin::Created,
        attributes,
        recorded_at: s2d::state::now_rfc3339(),
    }
}

fn summary(name: &str, lock: Duration, mut times: Vec<Duration>, bytes: usize) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "{name:<11} {bytes:>7} B  lock+read {:>7.2} ms  write mean {:>6.2} ms  p50 {:>6.2} ms  p95 {:>6.2} ms  max {:>6.2} ms",
        ms(lock),
        ms(mean),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 95 / 100]),
        ms(times[times.len() - 1]),
    );
}

async fn measure(name: &str, location: &Location) {
    let started = Instant::now();
    let mut file = StateFile::open_at(location, "bench").await.expect("locks");
    let lock = started.elapsed();
    for i in 0..RESOURCES {
        file.state_mut().record(
            Address::Server {
                name: format!("s{i}"),
            },
            resource(i),
        );
    }
    let bytes = serde_json::to_vec_pretty(file.state()).expect("json").len();
    let mut times = Vec::with_capacity(WRITES);
    for _ in 0..WRITES {
        let t = Instant::now();
        file.commit_async().await.expect("writes");
        times.push(t.elapsed());
    }
    file.release().await;
    summary(name, lock, times, bytes);
}

/// devcloud's clouds.yaml with the real tier's `hospital` entry added as `tier-hospital`.
fn with_tier(devcloud: &std::path::Path, tier: &str, out: &std::path::Path) {
    let read = |path: &std::path::Path| -> serde_yaml_ng::Mapping {
        let text = std::fs::read_to_string(path).expect("reads a clouds.yaml");
        serde_yaml_ng::from_str(&text).expect("a clouds.yaml")
    };
    let mut all = read(devcloud);
    let real = read(std::path::Path::new(tier));
    let entry = real
        .get("clouds")
        .and_then(|c| c.get("hospital"))
        .cloned()
        .expect("the tier's clouds.yaml has hospital");
    all.get_mut("clouds")
        .and_then(|c| c.as_mapping_mut())
        .expect("clouds")
        .insert("tier-hospital".into(), entry);
    std::fs::write(out, serde_yaml_ng::to_string(&all).expect("yaml")).expect("writes");
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clouds_yaml = dir.path().join("clouds.yaml");
    let tier = std::env::var("S2D_E2E_CLOUDS_YAML").ok();
    // devcloud writes clouds.yaml; s2d reads all.yaml (devcloud's plus the tier's hospital).
    let all = dir.path().join("all.yaml");
    // SAFETY: set before any other thread exists (the runtime is built below).
    unsafe { std::env::set_var("OS_CLIENT_CONFIG_FILE", &all) };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let _devcloud = DevCloud::start(Options {
            clouds_yaml: Some(clouds_yaml.clone()),
            ..Options::default()
        })
        .await
        .expect("devcloud starts");
        match &tier {
            Some(tier) => with_tier(&clouds_yaml, tier, &all),
            None => {
                std::fs::copy(&clouds_yaml, &all).expect("copies");
            }
        }
        println!(
            "{RESOURCES} resources, {WRITES} writes per backend (each write whole, serial-checked)"
        );
        measure("file", &Location::File(dir.path().join("s2d.state.json"))).await;
        match std::env::var("S2D_TEST_POSTGRES") {
            Ok(base) => {
                let url = format!("{base}?name=bench-{}", uuid::Uuid::new_v4().simple());
                measure("postgresql", &url.parse().expect("location")).await;
            }
            Err(_) => println!("postgresql  (S2D_TEST_POSTGRES is not set: not measured)"),
        }
        let swift = format!(
            "swift://hospital/s2d-bench/state-{}.json",
            uuid::Uuid::new_v4().simple()
        );
        measure("swift", &swift.parse().expect("location")).await;
        if tier.is_some() {
            let real = format!(
                "swift://tier-hospital/s2d-bench/state-{}.json",
                uuid::Uuid::new_v4().simple()
            );
            measure("real swift", &real.parse().expect("location")).await;
        } else {
            println!("real swift  (S2D_E2E_CLOUDS_YAML is not set: not measured)");
        }
    });
}
