//! `s2d usage` against devcloud, run as a user would: the figures, JSON and CSV, rates,
//! `--managed`, a cloud that cannot be read, figures of servers created and deleted at known
//! times on devcloud's (shifted) clock, the paging of `os-simple-tenant-usage`, and agreement
//! with `openstack usage show` (python-openstackclient; the test fails when it is missing).

use std::process::Command;

use std::path::{Path, PathBuf};
use std::time::Duration;

use devcloud::faults::FaultSettings;
use devcloud::{DevCloud, Options};
use s2d::cloud::compute::ServerCreate;
use s2d::cloud::config::{CloudSource, ConfigEnv, resolve};
use s2d::cloud::{Cloud, FlavorId, ImageId, ServerId};
use s2d::graph::Address;
use s2d::state::{Origin, Resource, Side, StateFile};
use serde_json::Value;
use time::OffsetDateTime;

async fn start(dir: &std::path::Path) -> DevCloud {
    DevCloud::start(Options {
        image_size: 1 << 20,
        clouds_yaml: Some(dir.join("clouds.yaml")),
        ..Options::default()
    })
    .await
    .expect("devcloud starts")
}

fn s2d(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s2d"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1")
        .env("OS_CLIENT_CONFIG_FILE", dir.join("clouds.yaml"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs s2d")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_reports_devcloud_figures_in_every_form() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _dc = start(dir.path()).await;
    let dir = dir.path().to_path_buf();

    // The provider's seeded server has run for a day when devcloud starts.
    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || s2d(&dir, &["usage", "--cloud", "provider", "--json"])
    })
    .await
    .expect("joins");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let row = &before["instances"][0];
    assert_eq!(row["name"], "ehr-analytics");
    assert_eq!(row["cloud"], "provider");
    assert_eq!(row["vcpus"], 1);
    let hours = row["hours"].as_f64().expect("hours");
    assert!((row["cpu_hours"].as_f64().expect("cpu") - hours).abs() < 1e-9);
    assert!((row["ram_gb_hours"].as_f64().expect("ram") - 2.0 * hours).abs() < 1e-9);
    assert_eq!(before["total"]["instances"], 1);
    let id = row["id"].as_str().expect("id").to_string();

    // A period inside the server's run counts exactly its length.
    let end = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let start = end - time::Duration::hours(5);
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("formats")
    };
    let (start, end) = (fmt(start), fmt(end));
    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            s2d(
                &dir,
                &[
                    "usage", "--cloud", "provider", "--json", "--start", &start, "--end", &end,
                ],
            )
        }
    })
    .await
    .expect("joins");
    let window: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let five = window["instances"][0]["hours"].as_f64().expect("hours");
    assert!(
        (five - 5.0).abs() < 0.001,
        "a 5 h window inside the run counts {five} h"
    );
    let later = hours;

    // CSV with rates, and --managed from a state file that records the server.
    std::fs::write(
        dir.join("rates.toml"),
        "currency = \"EUR\"\nvcpu_hour = 0.5\n",
    )
    .expect("writes");
    let state_path = dir.join("s2d.state.json");
    {
        let mut state = StateFile::open(&state_path, "test").expect("state");
        state.state_mut().record(
            Address::Server {
                name: "ehr-analytics".into(),
            },
            Resource {
                side: Side::Target,
                id: id.clone(),
                origin: Origin::Created,
                attributes: serde_json::Map::new(),
                recorded_at: "2026-11-24T00:00:00Z".into(),
            },
        );
        state.commit().expect("commits");
    }
    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            (
                s2d(
                    &dir,
                    &[
                        "usage",
                        "--cloud",
                        "provider",
                        "--cloud",
                        "hospital",
                        "--csv",
                        "--rates",
                        "rates.toml",
                    ],
                ),
                s2d(
                    &dir,
                    &[
                        "usage",
                        "--cloud",
                        "provider",
                        "--managed",
                        "--state",
                        "s2d.state.json",
                    ],
                ),
                s2d(
                    &dir,
                    &[
                        "usage",
                        "--cloud",
                        "hospital",
                        "--managed",
                        "--state",
                        "s2d.state.json",
                        "--json",
                    ],
                ),
            )
        }
    })
    .await
    .expect("joins");
    let (csv, managed_table, managed_hospital) = out;
    let csv = String::from_utf8(csv.stdout).expect("utf-8");
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .expect("header")
            .starts_with("cloud,project,name,id,state,managed,")
    );
    let first = lines.next().expect("a row");
    assert!(
        first.starts_with("provider,")
            && first.contains(&format!(",ehr-analytics,{id},active,true,")),
        "{first}"
    );
    let cost: f64 = first
        .rsplit(',')
        .next()
        .expect("cost")
        .parse()
        .expect("number");
    assert!(
        (cost - 0.5 * later).abs() < 0.01,
        "{cost} for {later} h at 0.5 per vCPU-hour"
    );
    let table = String::from_utf8(managed_table.stdout).expect("utf-8");
    assert!(
        table.contains("ehr-analytics *") && table.contains("migrated by s2d"),
        "{table}"
    );
    let hospital: serde_json::Value =
        serde_json::from_slice(&managed_hospital.stdout).expect("JSON");
    assert_eq!(hospital["total"]["instances"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_that_cannot_be_read_is_a_warning_unless_strict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _dc = start(dir.path()).await;
    let dir = dir.path().to_path_buf();
    let (lenient, strict, none) = tokio::task::spawn_blocking(move || {
        (
            s2d(
                &dir,
                &["usage", "--cloud", "provider", "--cloud", "nowhere"],
            ),
            s2d(
                &dir,
                &[
                    "usage", "--cloud", "provider", "--cloud", "nowhere", "--strict",
                ],
            ),
            s2d(&dir, &["usage", "--cloud", "nowhere"]),
        )
    })
    .await
    .expect("joins");
    assert!(lenient.status.success());
    let stderr = String::from_utf8_lossy(&lenient.stderr);
    assert!(
        stderr.contains("nowhere: cannot read usage") && stderr.contains("it has: hospital"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&lenient.stdout).contains("ehr-analytics"));
    assert_eq!(strict.status.code(), Some(1));
    assert_eq!(none.status.code(), Some(1), "no cloud answered");
    for out in [&lenient, &strict, &none] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("alice-secret"), "a password leaked: {all}");
    }
}

async fn start_with(dir: &Path, faults: FaultSettings) -> DevCloud {
    DevCloud::start(Options {
        image_size: 1 << 20,
        clouds_yaml: Some(dir.join("clouds.yaml")),
        faults,
        ..Options::default()
    })
    .await
    .expect("devcloud starts")
}

/// The client on devcloud's `provider` (alice in project `ehr`), to make servers with.
async fn provider(dir: &Path) -> Cloud {
    let env = ConfigEnv {
        vars: [(
            "OS_CLIENT_CONFIG_FILE".to_string(),
            dir.join("clouds.yaml").display().to_string(),
        )]
        .into(),
        cwd: dir.to_path_buf(),
        home: None,
        system_dir: dir.join("etc"),
    };
    let cfg = resolve(&CloudSource::Named(Some("provider".into())), &env).expect("resolves");
    Cloud::connect(cfg).await.expect("connects")
}

/// Boot `name` with `flavor` from the seeded image and wait until it is ACTIVE.
async fn boot(cloud: &Cloud, name: &str, flavor: &str) -> ServerId {
    let image: ImageId = cloud
        .image
        .list(&s2d::cloud::image::ImageQuery {
            name: Some("ubuntu-22.04-base".into()),
            ..Default::default()
        })
        .await
        .expect("images")
        .remove(0)
        .id;
    let id = cloud
        .compute
        .create_server(&ServerCreate {
            name: name.into(),
            image: Some(image),
            flavor: FlavorId::from(flavor),
            ..Default::default()
        })
        .await
        .expect("boots");
    cloud
        .compute
        .wait_for_server(&id, "ACTIVE", Duration::from_secs(30))
        .await
        .expect("ACTIVE");
    id
}

async fn delete(cloud: &Cloud, id: &ServerId) {
    assert!(cloud.compute.delete_server(id).await.expect("deletes"));
    cloud
        .compute
        .wait_for_server_deleted(id, Duration::from_secs(30))
        .await
        .expect("gone");
}

/// Whole seconds (what Nova's `start`/`end` carry), as RFC 3339.
fn whole(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).expect("valid")
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// `(launched_at, terminated_at, flavor id)` of every server devcloud's provider knows, by name.
fn server_times(
    dc: &DevCloud,
) -> std::collections::BTreeMap<String, (OffsetDateTime, Option<OffsetDateTime>, String)> {
    let nova = dc.provider.cloud().nova.lock();
    nova.servers
        .values()
        .chain(nova.deleted.values())
        .map(|s| {
            (
                s.name.clone(),
                (
                    s.launched_at.expect("launched"),
                    s.terminated_at,
                    s.flavor_id.clone(),
                ),
            )
        })
        .collect()
}

/// Nova's hours of a server in [start, end): the overlap of its life with the period.
fn expected_hours(
    launched: OffsetDateTime,
    terminated: Option<OffsetDateTime>,
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> f64 {
    let from = launched.max(start);
    let to = terminated.map_or(end, |t| t.min(end));
    ((to - from).as_seconds_f64() / 3600.0).max(0.0)
}

/// devcloud's flavors: id → (vCPUs, RAM MB, disk GB).
fn flavor(id: &str) -> (u64, u64, u64) {
    match id {
        "1" => (1, 512, 1),
        "2" => (1, 2048, 20),
        "3" => (2, 4096, 40),
        "4" => (4, 8192, 80),
        other => panic!("unknown flavor {other}"),
    }
}

fn usage_json(dir: &Path, start: &str, end: &str) -> Value {
    let out = s2d(
        dir,
        &[
            "usage", "--cloud", "provider", "--json", "--start", start, "--end", end,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() < 1e-6 * b.abs().max(1.0),
        "{what}: {a} != {b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_follow_devcloud_clock_for_servers_created_and_deleted_at_known_times() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let dc = start_with(
        &dir,
        FaultSettings {
            server_build_s: 0.05,
            ..FaultSettings::default()
        },
    )
    .await;
    let cloud = provider(&dir).await;
    let clock = &dc.provider.cloud().clock;
    let start = whole(clock.now() - time::Duration::hours(1));
    // `short` (m1.medium) lives three hours of the cloud's clock, `long` (m1.small) runs on;
    // `late` is booted after the period ends and must not appear.
    let short = boot(&cloud, "short", "3").await;
    boot(&cloud, "long", "2").await;
    clock.shift(time::Duration::hours(3));
    delete(&cloud, &short).await;
    clock.shift(time::Duration::hours(2));
    let end = whole(clock.now() + time::Duration::minutes(30));
    clock.shift(time::Duration::hours(1));
    boot(&cloud, "late", "1").await;

    let report = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let (s, e) = (rfc3339(start), rfc3339(end));
        move || usage_json(&dir, &s, &e)
    })
    .await
    .expect("joins");

    let times = server_times(&dc);
    let rows = report["instances"].as_array().expect("rows");
    let mut names: Vec<&str> = rows
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    names.sort();
    assert_eq!(names, ["ehr-analytics", "long", "short"], "{report:#}");
    let (mut cpu, mut ram, mut disk, mut hours_sum) = (0.0, 0.0, 0.0, 0.0);
    for row in rows {
        let name = row["name"].as_str().expect("name");
        let (launched, terminated, flavor_id) = &times[name];
        let expected = expected_hours(*launched, *terminated, start, end);
        let (vcpus, ram_mb, disk_gb) = flavor(flavor_id);
        let hours = row["hours"].as_f64().expect("hours");
        close(hours, expected, &format!("{name} hours"));
        close(
            row["cpu_hours"].as_f64().expect("cpu"),
            vcpus as f64 * expected,
            name,
        );
        close(
            row["ram_gb_hours"].as_f64().expect("ram"),
            ram_mb as f64 / 1024.0 * expected,
            name,
        );
        close(
            row["disk_gb_hours"].as_f64().expect("disk"),
            disk_gb as f64 * expected,
            name,
        );
        assert_eq!(row["vcpus"], vcpus, "{name}");
        assert_eq!(row["memory_mb"], ram_mb, "{name}");
        assert_eq!(row["local_gb"], disk_gb, "{name}");
        // Start and end as RFC 3339 (UTC), to the microsecond devcloud recorded.
        let parse = |v: &Value| {
            OffsetDateTime::parse(
                v.as_str().expect("a time"),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap_or_else(|e| panic!("{name}: {v}: {e}"))
        };
        let micros = |t: OffsetDateTime| {
            t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
                .expect("valid")
        };
        assert_eq!(parse(&row["started_at"]), micros(*launched), "{name}");
        match terminated {
            Some(t) => assert_eq!(parse(&row["ended_at"]), micros(*t), "{name}"),
            None => assert!(row["ended_at"].is_null(), "{name}"),
        }
        cpu += vcpus as f64 * expected;
        ram += ram_mb as f64 / 1024.0 * expected;
        disk += disk_gb as f64 * expected;
        hours_sum += expected;
    }
    // The known times, in plain numbers: the seeded server runs through the whole period
    // (6.5 h), `short` for the three hours between its boot and its deletion, `long` from its
    // boot to the end (5.5 h); the boots happened within seconds of the period's start + 1 h.
    let by_name = |n: &str| rows.iter().find(|r| r["name"] == n).expect("row").clone();
    let seeded = by_name("ehr-analytics")["hours"].as_f64().unwrap();
    assert!((seeded - 6.5).abs() < 0.01, "seeded: {seeded}");
    let short_row = by_name("short");
    assert!(
        (short_row["hours"].as_f64().unwrap() - 3.0).abs() < 0.01,
        "{short_row}"
    );
    assert_eq!(short_row["state"], "terminated");
    assert!(short_row["ended_at"].is_string(), "{short_row}");
    let long_row = by_name("long");
    assert!(
        (long_row["hours"].as_f64().unwrap() - 5.5).abs() < 0.01,
        "{long_row}"
    );
    assert_eq!(long_row["state"], "active");
    assert!(long_row["ended_at"].is_null(), "{long_row}");
    let total = &report["total"];
    assert_eq!(total["instances"], 3);
    close(total["hours"].as_f64().unwrap(), hours_sum, "total hours");
    close(total["cpu_hours"].as_f64().unwrap(), cpu, "total CPU hours");
    close(
        total["ram_gb_hours"].as_f64().unwrap(),
        ram,
        "total RAM GB-hours",
    );
    close(
        total["disk_gb_hours"].as_f64().unwrap(),
        disk,
        "total disk GB-hours",
    );
    assert_eq!(
        report["start"]
            .as_str()
            .map(|s| s.starts_with(&rfc3339(start)[..19])),
        Some(true),
        "{report:#}"
    );
    dc.stop().await;
}

/// `GET .../os-simple-tenant-usage/...` requests in devcloud's log.
fn usage_requests(dc: &DevCloud) -> Vec<String> {
    dc.provider
        .cloud()
        .log
        .entries()
        .into_iter()
        .filter(|e| e.method == "GET" && e.path.contains("/os-simple-tenant-usage"))
        .map(|e| e.path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_follows_the_pages_of_os_simple_tenant_usage() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let dc = start_with(
        &dir,
        FaultSettings {
            server_build_s: 0.05,
            ..FaultSettings::default()
        },
    )
    .await;
    let cloud = provider(&dir).await;
    let clock = &dc.provider.cloud().clock;
    let start = whole(clock.now() - time::Duration::hours(2));
    let gone = boot(&cloud, "p1", "1").await;
    for (name, flavor) in [("p2", "2"), ("p3", "3"), ("p4", "4")] {
        boot(&cloud, name, flavor).await;
    }
    clock.shift(time::Duration::hours(1));
    delete(&cloud, &gone).await;
    let end = whole(clock.now() + time::Duration::hours(1));
    let (s, e) = (rfc3339(start), rfc3339(end));

    // One page holds everything (nova's default max_limit of 1000).
    dc.provider.cloud().log.clear();
    let whole_report = tokio::task::spawn_blocking({
        let (dir, s, e) = (dir.clone(), s.clone(), e.clone());
        move || usage_json(&dir, &s, &e)
    })
    .await
    .expect("joins");
    assert_eq!(usage_requests(&dc).len(), 1, "{:?}", usage_requests(&dc));

    // Two servers a page: five servers come in three pages, each next page by its marker.
    dc.provider.cloud().faults.set(FaultSettings {
        usage_max_limit: 2,
        ..dc.provider.cloud().faults.get()
    });
    dc.provider.cloud().log.clear();
    let paged = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || usage_json(&dir, &s, &e)
    })
    .await
    .expect("joins");
    let requests = usage_requests(&dc);
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(!requests[0].contains("marker="), "{requests:?}");
    assert!(
        requests[1..].iter().all(|r| r.contains("marker=")),
        "{requests:?}"
    );
    let ids = |r: &Value| {
        let mut ids: Vec<String> = r["instances"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| row["id"].as_str().expect("id").to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&paged).len(), 5, "{paged:#}");
    assert_eq!(ids(&paged), ids(&whole_report));
    for key in [
        "instances",
        "hours",
        "cpu_hours",
        "ram_gb_hours",
        "disk_gb_hours",
    ] {
        assert_eq!(paged["total"][key], whole_report["total"][key], "{key}");
    }
    // Row by row the same, but for the up-time of running servers, which grows with the
    // (real) time between the two runs.
    let without_uptime = |r: &Value| {
        let mut rows = r["instances"].as_array().expect("rows").clone();
        for row in &mut rows {
            let row = row.as_object_mut().expect("row object");
            row.remove("uptime");
            row.remove("uptime_seconds");
        }
        rows
    };
    assert_eq!(without_uptime(&paged), without_uptime(&whole_report));
    dc.stop().await;
}

/// The `openstack` CLI: `S2D_OPENSTACK_CLI` (tests/run.sh sets it), else the workspace's
/// `.venv/bin/openstack`. Missing is a failure, never a skip.
fn openstack_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("S2D_OPENSTACK_CLI") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/openstack");
    assert!(
        venv.exists(),
        "python-openstackclient is not installed: run `bash tests/run.sh` (it installs it into \
         .venv/), or `pip install -r tests/referee-requirements.txt` and set S2D_OPENSTACK_CLI"
    );
    venv
}

/// `openstack --os-cloud provider usage show --start DAY --end DAY -f json`.
fn osc_usage_show(dir: &Path, start_day: &str, end_day: &str) -> Value {
    let mut cmd = std::process::Command::new(openstack_cli());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OS_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .env("OS_CLIENT_CONFIG_FILE", dir.join("clouds.yaml"))
        .current_dir(dir)
        .args([
            "--os-cloud",
            "provider",
            "usage",
            "show",
            "--start",
            start_day,
            "--end",
            end_day,
            "-f",
            "json",
        ])
        .output()
        .expect("runs openstack");
    assert!(
        out.status.success(),
        "openstack usage show: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("OSC prints JSON")
}

fn number(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_agrees_with_openstack_usage_show() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let dc = start_with(
        &dir,
        FaultSettings {
            server_build_s: 0.05,
            ..FaultSettings::default()
        },
    )
    .await;
    let cloud = provider(&dir).await;
    let clock = &dc.provider.cloud().clock;
    let short = boot(&cloud, "short", "3").await;
    boot(&cloud, "long", "4").await;
    clock.shift(time::Duration::hours(3));
    delete(&cloud, &short).await;
    clock.shift(time::Duration::hours(2));
    // OSC takes days (UTC midnight): yesterday (before everything but the seeded server's
    // start) to the day after tomorrow of the cloud's clock (a fixed end in its future).
    let today = clock.now().date();
    let start_day = (today - time::Duration::days(1)).to_string();
    let end_day = (today + time::Duration::days(2)).to_string();

    // At nova's default page size only: openstacksdk's `get_usage` (what `usage show` calls)
    // reads the first page of a paged answer and stops (seen with a page limit of 2: it
    // reports two of the three servers), so with small pages it is OSC that is short; that
    // s2d's paged figures equal its unpaged ones is checked above.
    {
        assert_eq!(dc.provider.cloud().faults.get().usage_max_limit, 1000);
        let (osc, ours) = tokio::task::spawn_blocking({
            let (dir, s, e) = (dir.clone(), start_day.clone(), end_day.clone());
            move || {
                (
                    osc_usage_show(&dir, &s, &e),
                    usage_json(&dir, &format!("{s}T00:00:00Z"), &format!("{e}T00:00:00Z")),
                )
            }
        })
        .await
        .expect("joins");
        let total = &ours["total"];
        let servers = osc["Servers"]
            .as_array()
            .map(|a| a.len() as u64)
            .or_else(|| osc["Servers"].as_u64())
            .unwrap_or_else(|| panic!("Servers in {osc:#}"));
        assert_eq!(
            total["instances"].as_u64(),
            Some(servers),
            "{osc:#} vs {ours:#}"
        );
        assert_eq!(servers, 3, "{osc:#}");
        // OSC rounds to two decimals.
        for (osc_key, ours_value) in [
            ("CPU Hours", number(&total["cpu_hours"])),
            ("RAM MB-Hours", number(&total["ram_gb_hours"]) * 1024.0),
            ("Disk GB-Hours", number(&total["disk_gb_hours"])),
        ] {
            let theirs = number(&osc[osc_key]);
            assert!(
                (theirs - ours_value).abs() <= 0.005 + 1e-9 * ours_value.abs(),
                "{osc_key}: openstack {theirs}, s2d {ours_value}"
            );
        }
    }
    dc.stop().await;
}

/// `--all-projects`: an admin sees every project's instances with their project ids; a
/// member's token is refused by the policy, which is that cloud's warning (or, with
/// `--strict`, an error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_projects_needs_an_admin_and_names_each_project() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _dc = start(dir.path()).await;
    let dir = dir.path().to_path_buf();
    let (admin, member, strict) = tokio::task::spawn_blocking(move || {
        (
            s2d(
                &dir,
                &[
                    "usage",
                    "--cloud",
                    "provider-admin",
                    "--all-projects",
                    "--json",
                ],
            ),
            s2d(
                &dir,
                &[
                    "usage",
                    "--cloud",
                    "provider",
                    "--cloud",
                    "provider-admin",
                    "--all-projects",
                ],
            ),
            s2d(
                &dir,
                &["usage", "--cloud", "provider", "--all-projects", "--strict"],
            ),
        )
    })
    .await
    .expect("joins");
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&admin.stdout).expect("JSON");
    let row = report["instances"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "ehr-analytics"))
        .expect("the provider's server, seen by the admin");
    assert_eq!(row["project"].as_str().map(str::len), Some(32), "{row}");
    assert!(member.status.success());
    let err = String::from_utf8_lossy(&member.stderr);
    assert!(
        err.contains("provider: cannot read usage") && err.contains("403"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&member.stdout).contains("provider-admin/"));
    assert_eq!(strict.status.code(), Some(1));
}
