//! `s2d usage` against devcloud, run as a user would: the figures, JSON and CSV, rates,
//! `--managed`, and a cloud that cannot be read.

use std::process::Command;

use devcloud::{DevCloud, Options};
use s2d::graph::Address;
use s2d::state::{Origin, Resource, Side, StateFile};

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
            .starts_with("cloud,name,id,state,managed,")
    );
    let first = lines.next().expect("a row");
    assert!(
        first.starts_with(&format!("provider,ehr-analytics,{id},active,true,")),
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
