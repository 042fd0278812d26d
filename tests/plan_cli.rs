//! `s2d validate` and `s2d init`, run as a user would, over the example plans and the fixtures
//! in `tests/fixtures/plans/` (`expected.toml` there gives each invalid fixture's first error).

use std::path::{Path, PathBuf};
use std::process::Command;

fn s2d() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s2d"));
    cmd.env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn files(dir: &str, prefix: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(prefix) && name.ends_with(".toml")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_example_plan_and_valid_fixture_validates() {
    let mut all = files("plans", "");
    all.extend(files("tests/fixtures/plans", "valid-"));
    assert!(all.len() >= 5, "{all:?}");
    for file in all {
        let out = s2d().arg("validate").arg(&file).output().expect("runs");
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains(": valid"));
    }
}

#[test]
fn every_invalid_fixture_is_rejected_at_its_line() {
    let expected: toml::Table = toml::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plans/expected.toml"),
        )
        .expect("expected.toml"),
    )
    .expect("parses");
    let invalid = files("tests/fixtures/plans", "invalid-");
    assert_eq!(
        invalid.len(),
        expected.len(),
        "every invalid fixture has an expectation"
    );
    for file in invalid {
        let name = file.file_name().and_then(|n| n.to_str()).expect("name");
        let want = &expected[name];
        let out = s2d()
            .args(["validate", "--json"])
            .arg(&file)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{name}");
        let diags: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let first = &diags[0];
        assert_eq!(first["file"], file.display().to_string().as_str(), "{name}");
        assert_eq!(first["severity"], "error", "{name}");
        assert_eq!(
            first["line"].as_i64(),
            want["line"].as_integer(),
            "{name}: {diags:#}"
        );
        let message = first["message"].as_str().expect("message");
        assert!(
            message.contains(want["message"].as_str().expect("str")),
            "{name}: {message}"
        );
        assert!(first["column"].as_u64().is_some_and(|c| c >= 1), "{name}");
    }
}

#[test]
fn human_output_points_at_the_place_with_a_hint() {
    let out = s2d()
        .args(["validate", "tests/fixtures/plans/invalid-unknown-key.toml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid-unknown-key.toml:8:11"), "{stderr}");
    assert!(stderr.contains("did you mean `disk_format`?"), "{stderr}");
    assert!(
        stderr.contains("invalid-unknown-key.toml: 1 error"),
        "{stderr}"
    );
}

#[test]
fn a_literal_password_is_a_warning_and_never_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "version = 1\n[source]\ncloud = \"provider\"\n[target]\nauth_url = \"https://h:5000/v3\"\nusername = \"bob\"\npassword = \"hunter2-secret\"\nproject_name = \"r\"\n[[server]]\nsource = \"x\"\n",
    )
    .expect("writes");
    let out = s2d().arg("validate").arg(&path).output().expect("runs");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("literal password") && stderr.contains("1 warning"),
        "{stderr}"
    );
    let json = s2d()
        .args(["validate", "--json"])
        .arg(&path)
        .output()
        .expect("runs");
    for text in [String::from_utf8_lossy(&json.stdout), stderr] {
        assert!(!text.contains("hunter2"), "the password leaked: {text}");
    }
}

#[test]
fn oversized_and_unnamed_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.toml");
    let f = std::fs::File::create(&big).expect("creates");
    f.set_len(11 * 1024 * 1024).expect("sizes");
    let out = s2d().arg("validate").arg(&big).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("10 MiB"));
    let odd = dir.path().join("plan.txt");
    std::fs::write(&odd, "version = 1").expect("writes");
    let out = s2d().arg("validate").arg(&odd).output().expect("runs");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format"));
}

#[test]
fn init_writes_a_valid_plan_and_keeps_existing_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s2d.toml");
    let out = s2d().arg("init").arg(&path).output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s2d().arg("validate").arg(&path).output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s2d().arg("init").arg(&path).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert!(
        s2d()
            .args(["init", "--force"])
            .arg(&path)
            .output()
            .expect("runs")
            .status
            .success()
    );
}
