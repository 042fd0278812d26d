//! A running `s2d serve` (the real binary) and a client for its API, for the tests that
//! drive the service: `tests/e2e/serve.rs` and the browser test `tests/wizard.rs`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use super::harness::World;

/// A running `s2d serve`.
pub struct Service {
    child: Child,
    pub url: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Service {
    /// Start `s2d serve` on a free port with `data` as its data directory, and wait until it
    /// says where it listens.
    pub fn start(world: &World, data: &Path) -> Service {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_s2d"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OS_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .env("NO_COLOR", "1")
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .arg("--clouds-yaml")
            .arg(&world.clouds_yaml)
            .current_dir(world.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starts s2d serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut url = None;
        for line in lines.by_ref() {
            let line = line.expect("reads stdout");
            if let Some(rest) = line.strip_prefix("s2d serve: listening on ") {
                url = Some(rest.trim_end_matches('/').to_string());
            }
            if line.starts_with("Web wizard:") {
                break;
            }
        }
        // Keep draining stdout so the service never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let url = url.expect("s2d serve printed its address");
        let token = std::fs::read_to_string(data.join("token"))
            .expect("token file")
            .trim()
            .to_string();
        Service {
            child,
            url,
            token,
            http: reqwest::Client::new(),
        }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    pub async fn json(&self, path: &str) -> Value {
        let resp = self.get(path).send().await.expect("GET");
        let status = resp.status();
        let body: Value = resp.json().await.expect("JSON");
        assert!(status.is_success(), "GET {path}: {status} {body:#}");
        body
    }

    /// Submit a plan document; returns (status, body).
    pub async fn submit(&self, content_type: &str, text: &str) -> (u16, Value) {
        let resp = self
            .post("/v1/plans")
            .header("Content-Type", content_type)
            .body(text.to_string())
            .send()
            .await
            .expect("POST /v1/plans");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("JSON"))
    }

    /// Start a job; returns (status, body).
    pub async fn start_job(&self, plan: &str, kind: &str) -> (u16, Value) {
        let resp = self
            .post(&format!("/v1/plans/{plan}/{kind}"))
            .send()
            .await
            .expect("POST job");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("JSON"))
    }

    /// Read a job's event stream to its `end`: every (id, event, data).
    pub async fn events(&self, job: &str) -> Vec<(Option<u64>, String, Value)> {
        let resp = self
            .get(&format!("/v1/jobs/{job}/events"))
            .send()
            .await
            .expect("GET events");
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap_or("")
                .starts_with("text/event-stream")
        );
        let mut stream = resp.bytes_stream();
        let mut buffer = String::new();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            while let Some(at) = buffer.find("\n\n") {
                let block: String = buffer.drain(..at + 2).collect();
                let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.parse().ok();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let value: Value = serde_json::from_str(&data).expect("event data is JSON");
                let end = event == "end";
                out.push((id, event, value));
                if end {
                    return out;
                }
            }
        }
        panic!("the event stream closed without `end`: {out:?}");
    }

    /// Wait for a job to end; returns its record.
    pub async fn wait(&self, job: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(900);
        loop {
            let record = self.json(&format!("/v1/jobs/{job}")).await;
            if record["status"] != "running" {
                return record;
            }
            assert!(Instant::now() < deadline, "job {job} still running");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Kill the service at once (as a crash or `kill -9` would).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stop it as an operator would (SIGTERM) and wait for it to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("waits for s2d serve")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn text(path: &Path) -> String {
    std::fs::read_to_string(path).expect("reads")
}

/// Every text file under `dir`, concatenated (to look for secrets).
pub fn all_files(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).expect("reads dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push_str(&all_files(&path));
        } else if let Ok(t) = std::fs::read_to_string(&path) {
            out.push_str(&t);
        }
    }
    out
}

/// The service's OpenAPI document, as built into the binary.
const OPENAPI: &str = include_str!("../../src/serve/openapi.json");

/// Check that `value` is what the OpenAPI document says a `schema` is (its
/// `components/schemas` entry), listing every difference.
pub fn conforms(schema: &str, value: &Value) {
    let openapi: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    assert!(
        openapi["components"]["schemas"][schema].is_object(),
        "no schema {schema} in openapi.json"
    );
    let root = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{schema}"),
        "components": openapi["components"],
    });
    let validator = jsonschema::validator_for(&root).expect("openapi.json's schemas compile");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "not a {schema} as openapi.json describes it:\n{}\n{value:#}",
        errors.join("\n")
    );
}
