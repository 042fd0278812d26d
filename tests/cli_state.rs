//! `s2d show`, `s2d state list/rm` and `s2d force-unlock`, run as a user would.

use std::process::Command;

use s2d::graph::Address;
use s2d::state::{Origin, Resource, Side, StateFile};

fn s2d() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s2d"));
    cmd.env("NO_COLOR", "1");
    cmd
}

fn seeded_state(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("s2d.state.json");
    let mut file = StateFile::open(&path, "test").expect("opens");
    for (address, id, origin) in [
        ("server.web", "srv-1", Origin::Created),
        ("keypair.alice-key", "alice-key", Origin::Adopted),
        ("security_group_rule.default[0]", "rule-1", Origin::Created),
    ] {
        file.state_mut().record(
            address.parse::<Address>().expect("address"),
            Resource {
                side: Side::Target,
                id: id.into(),
                origin,
                attributes: serde_json::Map::new(),
                recorded_at: "2026-11-24T00:00:00Z".into(),
            },
        );
    }
    file.commit().expect("commits");
    path
}

#[test]
fn show_lists_every_resource_as_a_table_and_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = seeded_state(dir.path());

    let out = s2d().arg("show").arg(&path).output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("3 resources"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("server.web") && l.contains("created") && l.ends_with("srv-1")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("keypair.alice-key") && l.contains("adopted")),
        "{text}"
    );

    let out = s2d()
        .args(["show", "--json"])
        .arg(&path)
        .output()
        .expect("runs");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["resources"]["server.web"]["id"], "srv-1");
}

#[test]
fn state_rm_forgets_and_list_shows_what_is_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = seeded_state(dir.path());

    let out = s2d()
        .args(["state", "rm", "server.web", "--state"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("still exists in the cloud"));

    let out = s2d()
        .args(["state", "list", "--state"])
        .arg(&path)
        .output()
        .expect("runs");
    let listed = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        listed,
        "keypair.alice-key\nsecurity_group_rule.default[0]\n"
    );

    // Unknown and malformed addresses are errors that say so.
    let out = s2d()
        .args(["state", "rm", "server.nope", "--state"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in the state: server.nope"));
    let out = s2d()
        .args(["state", "rm", "volumes.x", "--state"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a resource type"));
}

#[test]
fn a_held_lock_names_its_holder_and_force_unlock_clears_only_stale_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = seeded_state(dir.path());

    let held = StateFile::open(&path, "apply").expect("locks");
    let out = s2d()
        .args(["state", "rm", "server.web", "--state"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("locked by") && stderr.contains(&format!(" pid {} ", std::process::id())),
        "{stderr}"
    );
    let out = s2d()
        .args(["force-unlock", "--state"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "a live holder keeps its lock");
    drop(held);

    let out = s2d()
        .args(["force-unlock", "--state"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not locked"));
}

#[test]
fn engine_commands_name_a_cloud_missing_from_clouds_yaml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clouds = dir.path().join("clouds.yaml");
    std::fs::write(
        &clouds,
        "clouds:\n  elsewhere:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n",
    )
    .expect("write");
    let plan = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/quickstart.toml");
    for command in ["plan", "graph"] {
        let out = s2d()
            .env("OS_CLIENT_CONFIG_FILE", &clouds)
            .env("HOME", dir.path())
            .current_dir(dir.path())
            .arg(command)
            .arg(&plan)
            .args(
                ["--state", "s.json"]
                    .iter()
                    .take(if command == "plan" { 2 } else { 0 }),
            )
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {err}");
        assert!(err.contains("provider"), "{command}: {err}");
        assert!(err.contains("elsewhere"), "{command}: {err}");
    }
    // Nothing was written: no state, no lock left behind.
    assert!(!dir.path().join("s.json").exists());
}
