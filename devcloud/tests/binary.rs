//! The `s2d-devcloud` binary: starts fast, writes clouds.yaml and the ready file only once
//! listening, serves both clouds, and exits 0 on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn starts_writes_files_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let yaml = dir.path().join("clouds.yaml");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_s2d-devcloud"))
        .arg("--clouds-yaml")
        .arg(&yaml)
        .arg("--ready-file")
        .arg(&ready)
        .args(["--image-size", "20GiB", "--seed", "5"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while !ready.exists() {
        assert!(started.elapsed() < Duration::from_secs(5), "no ready file");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "started in {:?}",
        started.elapsed()
    );
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    let port = info["hospital"]["port"].as_u64().unwrap();
    assert_eq!(
        info["hospital"]["auth_url"],
        format!("http://127.0.0.1:{port}/identity")
    );
    assert!(info["provider"]["port"].as_u64().unwrap() != port);
    let text = std::fs::read_to_string(&yaml).unwrap();
    for entry in [
        "provider:",
        "hospital:",
        "provider-admin:",
        "hospital-admin:",
        "identity_api_version: 3",
        "user_domain_name: Default",
    ] {
        assert!(text.contains(entry), "{entry} in {text}");
    }
    // Listening: a plain TCP connect to each port succeeds.
    for cloud in ["provider", "hospital"] {
        let port = info[cloud]["port"].as_u64().unwrap() as u16;
        std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn rejects_bad_sizes() {
    let out = Command::new(env!("CARGO_BIN_EXE_s2d-devcloud"))
        .args(["--image-size", "12XB"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid size unit"));
}
