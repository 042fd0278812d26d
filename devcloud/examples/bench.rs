//! devcloud's image throughput benchmark: Glance PUT and GET of a 1 GiB image on loopback
//! next to a plain file copy of the same size on the same disk, and the process's peak
//! resident memory while a 4 GiB image streams up and down.
//!
//! Run (release, as the README says):
//!
//! ```sh
//! cargo run --release -p s2d-devcloud --example bench
//! ```
//!
//! Prints MB/s for PUT, GET and the copy, the two ratios and the peak RSS; exits 1 when a
//! target of issue 3 is missed (throughput >= 50% of the copy, RSS < 100 MiB). The RSS is the
//! whole process's (devcloud and the benchmark's own client), so it over-states devcloud's.

use std::time::Instant;

use bytes::Bytes;
use devcloud::{DevCloud, Options};
use futures_util::StreamExt;
use serde_json::{Value, json};

const MIB: u64 = 1 << 20;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

struct Bench {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Bench {
    async fn create(&self, name: &str) -> String {
        let r = self
            .http
            .post(format!("{}/image/v2/images", self.base))
            .header("X-Auth-Token", &self.token)
            .json(&json!({"name": name, "disk_format": "raw", "container_format": "bare"}))
            .send()
            .await
            .expect("create image");
        let body: Value = r.json().await.expect("json");
        body["id"].as_str().expect("id").to_string()
    }

    /// Upload `size` bytes (a 1 MiB pseudo-random block repeated) and return seconds.
    async fn put(&self, id: &str, size: u64) -> f64 {
        let mut block = vec![0u8; MIB as usize];
        devcloud::imagedata::generate(11, 0, &mut block);
        let block = Bytes::from(block);
        let chunks = size / MIB;
        let body = futures_util::stream::iter(
            (0..chunks).map(move |_| Ok::<_, std::io::Error>(block.clone())),
        );
        let started = Instant::now();
        let r = self
            .http
            .put(format!("{}/image/v2/images/{id}/file", self.base))
            .header("X-Auth-Token", &self.token)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", size.to_string())
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .expect("upload");
        assert!(r.status().is_success(), "upload failed: {}", r.status());
        started.elapsed().as_secs_f64()
    }

    /// Download the image, discarding the bytes; return (bytes, seconds).
    async fn get(&self, id: &str) -> (u64, f64) {
        let started = Instant::now();
        let r = self
            .http
            .get(format!("{}/image/v2/images/{id}/file", self.base))
            .header("X-Auth-Token", &self.token)
            .send()
            .await
            .expect("download");
        let mut stream = r.bytes_stream();
        let mut got = 0u64;
        while let Some(chunk) = stream.next().await {
            got += chunk.expect("chunk").len() as u64;
        }
        (got, started.elapsed().as_secs_f64())
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).expect("temp dir");
    let dc = DevCloud::start(Options {
        image_size: MIB,
        data_dir: Some(dir.path().join("devcloud")),
        ..Options::default()
    })
    .await
    .expect("devcloud starts");
    let base = dc.hospital.base_url().to_string();
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "bob", "domain": {"name": "Default"}, "password": "bob-secret"}}},
        "scope": {"project": {"name": "research", "domain": {"name": "Default"}}}}});
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/identity/v3/auth/tokens"))
        .json(&body)
        .send()
        .await
        .expect("auth");
    let token = r.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_string();
    let bench = Bench { base, token, http };

    let size = 1024 * MIB;
    let id = bench.create("bench-1g").await;
    let put_s = bench.put(&id, size).await;
    let (got, get_s) = bench.get(&id).await;
    assert_eq!(got, size, "downloaded size");

    // A plain copy of the same bytes on the same disk.
    let src = dir.path().join("copy-src");
    let dst = dir.path().join("copy-dst");
    {
        let mut block = vec![0u8; MIB as usize];
        devcloud::imagedata::generate(11, 0, &mut block);
        let mut f = std::fs::File::create(&src).expect("create");
        for _ in 0..size / MIB {
            std::io::Write::write_all(&mut f, &block).expect("write");
        }
        f.sync_all().expect("sync");
    }
    let started = Instant::now();
    std::fs::copy(&src, &dst).expect("copy");
    std::fs::File::open(&dst)
        .and_then(|f| f.sync_all())
        .expect("sync");
    let copy_s = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&src);
    let _ = std::fs::remove_file(&dst);

    let (put, get, copy) = (mbps(size, put_s), mbps(size, get_s), mbps(size, copy_s));
    println!("devcloud image throughput, 1 GiB on loopback:");
    println!("  PUT  {put:8.1} MB/s  ({put_s:.2} s)");
    println!("  GET  {get:8.1} MB/s  ({get_s:.2} s)");
    println!("  copy {copy:8.1} MB/s  ({copy_s:.2} s, std::fs::copy + fsync, same disk)");
    println!(
        "  PUT/copy {:.2}   GET/copy {:.2}   (target >= 0.50 each)",
        put / copy,
        get / copy
    );

    // Memory while a 4 GiB image streams up and down.
    let big = bench.create("bench-4g").await;
    let _ = bench.put(&big, 4096 * MIB).await;
    let (got, _) = bench.get(&big).await;
    assert_eq!(got, 4096 * MIB);
    let rss = peak_rss_mib();
    println!(
        "  peak RSS of the process while streaming 4 GiB up and down: {rss:.1} MiB (target < 100)"
    );

    let ok = put / copy >= 0.5 && get / copy >= 0.5 && rss < 100.0;
    dc.stop().await;
    if !ok {
        println!("bench: a target was missed");
        std::process::exit(1);
    }
    println!("bench: all targets met");
}
