//! The image transfer benchmark of issue 6 (and, on the real clouds, issue 8): one image
//! copied from the source Glance to the target Glance three ways, side by side in one run:
//!
//! 1. s2d's stream copy (`engine::openstack`, through `transfer::pipe`, hashed on the way);
//! 2. `curl` GET piped into `curl` PUT between the same two endpoints with the same tokens
//!    (the best any client can do on this path);
//! 3. `openstack image save` to a file, then `openstack image create --file` (what a person
//!    does by hand with python-openstackclient).
//!
//! It prints the three rates, s2d/curl (target at least 0.9), s2d against the CLI (target at
//! least 2x) and s2d's peak resident memory during its copy. The s2d copy runs in a process of
//! its own (this program again, with `--s2d-copy`), so that figure is the `VmHWM` of a process
//! that did nothing but connect and copy: neither devcloud (in this process) nor the upload
//! of the source image counts in it, and every copy's peak is its own.
//!
//! Clouds: devcloud in-process (default), or the `provider` and `hospital` entries of the
//! clouds.yaml named by `S2D_BENCH_CLOUDS_YAML` (the real pair of tests/openstack/). Size:
//! `S2D_BENCH_IMAGE_MB` (default 1024). Needs `curl` and the `openstack` CLI
//! (`S2D_OPENSTACK_CLI`, else `.venv/bin/openstack`, else on PATH): it fails, naming what is
//! missing, rather than skipping a path.
//!
//! **Sparse mode** (issue 17: memory stays flat for a large volume image):
//! `S2D_BENCH_SPARSE_GB=20` copies a 20 GiB raw image that is mostly zeros (8 MiB of non-zero
//! bytes in four stretches: the start, two odd offsets inside, the end, so a misplaced or
//! dropped byte fails the checksums) and, in the same run, a small image of
//! `S2D_BENCH_IMAGE_MB` (default 64 here). It prints s2d's and the curl pipe's wall time and
//! rate for the large image and their ratio, then the peak RSS of s2d's copy of each image and
//! the difference. The openstack CLI path is left out in this mode (`image save` would write
//! the whole image to disk); the output says so. devcloud keeps both copies of the large image
//! as their non-zero bytes (Glance stores runs of zeros as lengths) while answering the real
//! size, md5 and sha512; on real clouds the target Glance stores every byte.
//!
//! Run: `cargo run --release --example transfer_bench`
//! (sparse: `S2D_BENCH_SPARSE_GB=20 cargo run --release --example transfer_bench`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use s2d::cloud::image::ImageCreate;
use s2d::cloud::{Cloud, ConfigEnv, ImageId};
use s2d::engine::openstack::{OpenStack, TransferOptions};
use s2d::engine::port::CopySpec;
use s2d::engine::port::Images;
use s2d::graph::TransferMode;

fn env_for(clouds_yaml: &Path) -> ConfigEnv {
    ConfigEnv {
        vars: BTreeMap::from([(
            "OS_CLIENT_CONFIG_FILE".to_string(),
            clouds_yaml.display().to_string(),
        )]),
        cwd: std::env::temp_dir(),
        home: None,
        system_dir: PathBuf::from("/nonexistent"),
    }
}

fn openstack_cli() -> PathBuf {
    if let Some(p) = std::env::var_os("S2D_OPENSTACK_CLI") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/openstack");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("openstack")
}

/// Run the openstack CLI against `cloud`; its output (never printed when it holds a token).
fn osc(clouds_yaml: &Path, cloud: &str, args: &[&str]) -> String {
    let cli = openstack_cli();
    let out = Command::new(&cli)
        .env("OS_CLIENT_CONFIG_FILE", clouds_yaml)
        .args(["--os-cloud", cloud])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "the openstack CLI ({}) is needed: {e}; `bash tests/run.sh` installs it into .venv",
                cli.display()
            )
        });
    assert!(
        out.status.success(),
        "openstack {} failed: {}",
        args.first().copied().unwrap_or(""),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Peak and current resident memory of this process, in MiB (Linux /proc).
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmHWM:"), field("VmRSS:"))
}

async fn queued_image(cloud: &Cloud, name: &str, disk_format: &str) -> ImageId {
    cloud
        .image
        .create(&ImageCreate {
            name: name.into(),
            disk_format: disk_format.into(),
            container_format: "bare".into(),
            ..ImageCreate::default()
        })
        .await
        .expect("create a queued target image")
        .id
}

/// A chunk of zeros for the sparse image's empty stretches.
static ZEROS: [u8; 1 << 20] = [0; 1 << 20];

/// What the source image holds.
#[derive(Clone, Copy)]
enum Layout {
    /// Pseudo-random bytes throughout.
    Dense,
    /// Zeros but for the [`sparse_stretches`] of the size.
    Sparse,
}

/// The non-zero stretches `(offset, length)` of a sparse image of `size` bytes: 4 MiB at the
/// start (a partition table and a file system's metadata), 2 MiB at an odd offset a third in,
/// 1 MiB less 17 bytes at an odd offset two thirds in, and the last 1 MiB plus 17 bytes.
fn sparse_stretches(size: u64) -> [(u64, u64); 4] {
    const MIB: u64 = 1 << 20;
    [
        (0, 4 * MIB),
        (size / 3 + 12_345, 2 * MIB),
        (size / 3 * 2 + 4_093, MIB - 17),
        (size - MIB - 17, MIB + 17),
    ]
}

/// Bytes `start..start + len` of a source image.
fn source_chunk(layout: Layout, size: u64, start: u64, len: usize) -> Bytes {
    match layout {
        Layout::Dense => {
            let i = (start >> 20) as usize;
            Bytes::from(
                (0..len)
                    .map(|j| ((i * 31 + j * 7) % 251) as u8)
                    .collect::<Vec<u8>>(),
            )
        }
        Layout::Sparse => {
            let end = start + len as u64;
            let stretches = sparse_stretches(size);
            if stretches
                .iter()
                .all(|&(at, n)| at + n <= start || at >= end)
            {
                return Bytes::from_static(&ZEROS[..len]);
            }
            let mut buf = vec![0u8; len];
            for (at, n) in stretches {
                for p in at.max(start)..(at + n).min(end) {
                    // Never zero, period 251: a byte moved by any whole number of blocks shows.
                    buf[(p - start) as usize] = (p % 251) as u8 + 1;
                }
            }
            Bytes::from(buf)
        }
    }
}

/// A source image of `size` bytes laid out as `layout`, uploaded now (not timed); its id and
/// md5.
async fn source_image(provider: &Cloud, size: u64, layout: Layout) -> (ImageId, String) {
    let id = queued_image(provider, "s2d-bench-source", "raw").await;
    let chunk = 1 << 20;
    let chunks = size.div_ceil(chunk);
    let stream = futures_util::stream::iter((0..chunks).map(move |i| {
        let len = chunk.min(size - i * chunk) as usize;
        Ok::<_, std::io::Error>(source_chunk(layout, size, i * chunk, len))
    }));
    provider
        .image
        .upload(&id, Some(size), stream)
        .await
        .expect("upload the source image");
    let image = provider
        .image
        .wait_for_status(&id, "active", Duration::from_secs(3600))
        .await
        .expect("source image active");
    let md5 = image
        .checksum
        .expect("the source image has a checksum once active");
    (id, md5)
}

/// What one s2d copy, run in a process of its own, reports.
struct S2dCopy {
    md5: String,
    size: u64,
    took: Duration,
    /// The process's resident memory just before the copy (connected), MiB.
    rss_before: f64,
    /// The process's peak resident memory (VmHWM) once the copy is done, MiB.
    peak: f64,
}

/// The child's side of [`s2d_copy`]: `--s2d-copy CLOUDS_YAML SOURCE TARGET`. Connects, copies
/// and prints one `s2d-copy` line with the checksums, the time and its memory figures.
async fn s2d_copy_child(args: &[String]) {
    let [clouds_yaml, source, target] = args else {
        panic!("usage: transfer_bench --s2d-copy CLOUDS_YAML SOURCE TARGET");
    };
    let env = env_for(Path::new(clouds_yaml));
    let config = |name: &str| s2d::cloud::config::from_clouds_yaml(name, &env).expect(name);
    let cloud = OpenStack::connect(
        config("provider"),
        config("hospital"),
        TransferOptions::default(),
    )
    .await
    .expect("connects");
    let before = memory_mib();
    let started = Instant::now();
    let sums = cloud
        .upload_image(
            target,
            source,
            &CopySpec {
                disk_format: "raw".into(),
                transfer: TransferMode::Stream,
            },
            Arc::new(|_, _| {}),
        )
        .await
        .expect("s2d copies");
    let took = started.elapsed();
    let after = memory_mib();
    println!(
        "s2d-copy {} {} {} {} {}",
        sums.md5,
        sums.size,
        took.as_secs_f64(),
        before.1,
        after.0
    );
}

/// Copy `source` into the queued `target` with s2d, in a child process (see the module doc).
fn s2d_copy(clouds_yaml: &Path, source: &ImageId, target: &ImageId) -> S2dCopy {
    let exe = std::env::current_exe().expect("the path of this benchmark");
    let out = Command::new(exe)
        .arg("--s2d-copy")
        .arg(clouds_yaml)
        .args([source.as_str(), target.as_str()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("starts the s2d copy");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the s2d copy failed: {stdout}");
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("s2d-copy "))
        .unwrap_or_else(|| panic!("the s2d copy printed no figures: {stdout}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    let number = |i: usize| -> f64 {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("field {i} of the s2d copy's figures: {line}"))
    };
    S2dCopy {
        md5: fields.first().copied().unwrap_or_default().to_string(),
        size: number(1) as u64,
        took: Duration::from_secs_f64(number(2)),
        rss_before: number(3),
        peak: number(4),
    }
}

/// Pipe the source's download into the target's upload with two curls; the wall time.
fn curl_pipe(
    clouds_yaml: &Path,
    provider: &Cloud,
    hospital: &Cloud,
    source: &ImageId,
    target: &ImageId,
) -> Duration {
    // Same endpoints, same tokens (passed in the environment, never printed).
    let src_token = osc(
        clouds_yaml,
        "provider",
        &["token", "issue", "-f", "value", "-c", "id"],
    );
    let dst_token = osc(
        clouds_yaml,
        "hospital",
        &["token", "issue", "-f", "value", "-c", "id"],
    );
    let url = |cloud: &Cloud, id: &ImageId| {
        format!(
            "{}/images/{id}/file",
            cloud.image.endpoint().base.as_str().trim_end_matches('/')
        )
    };
    let started = Instant::now();
    let status = Command::new("bash")
        .args([
            "-c",
            "set -o pipefail; curl -sS -f -H \"X-Auth-Token: $SRC_TOKEN\" \"$SRC_URL\" \
             | curl -sS -f -X PUT -H \"X-Auth-Token: $DST_TOKEN\" \
               -H 'Content-Type: application/octet-stream' -H 'Expect:' -T - \"$DST_URL\"",
        ])
        .env("SRC_TOKEN", &src_token)
        .env("DST_TOKEN", &dst_token)
        .env("SRC_URL", url(provider, source))
        .env("DST_URL", url(hospital, target))
        .status()
        .expect("runs curl");
    let took = started.elapsed();
    assert!(status.success(), "curl | curl failed");
    took
}

/// The image's md5 once it is active.
async fn active_md5(cloud: &Cloud, id: &ImageId) -> Option<String> {
    cloud
        .image
        .wait_for_status(id, "active", Duration::from_secs(600))
        .await
        .expect("the copied image is active")
        .checksum
}

fn rate(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

fn mib_or_gib(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--s2d-copy") {
        return s2d_copy_child(&args[1..]).await;
    }
    let number = |name: &str| {
        std::env::var(name).ok().map(|v| {
            v.parse::<u64>()
                .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}"))
        })
    };
    let sparse_gb = number("S2D_BENCH_SPARSE_GB");
    let size_mb =
        number("S2D_BENCH_IMAGE_MB").unwrap_or(if sparse_gb.is_some() { 64 } else { 1024 });
    let size = size_mb << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let (clouds_yaml, _devcloud, label) = match std::env::var_os("S2D_BENCH_CLOUDS_YAML") {
        Some(path) => (
            PathBuf::from(path),
            None,
            "the clouds of S2D_BENCH_CLOUDS_YAML",
        ),
        None => {
            let path = dir.path().join("clouds.yaml");
            let dc = devcloud::DevCloud::start(devcloud::Options {
                image_size: 1 << 20,
                clouds_yaml: Some(path.clone()),
                ..devcloud::Options::default()
            })
            .await
            .expect("devcloud starts");
            (path, Some(dc), "devcloud on loopback")
        }
    };
    which("curl");
    let env = env_for(&clouds_yaml);
    let config = |name: &str| s2d::cloud::config::from_clouds_yaml(name, &env).expect(name);
    let cloud = OpenStack::connect(
        config("provider"),
        config("hospital"),
        TransferOptions::default(),
    )
    .await
    .expect("connects");
    let provider = cloud.source().clone();
    let hospital = cloud.target().clone();
    if let Some(gb) = sparse_gb {
        return sparse(&clouds_yaml, &provider, &hospital, label, gb << 30, size).await;
    }
    let (source, md5) = source_image(&provider, size, Layout::Dense).await;
    println!("{label}: one {size_mb} MiB image, provider Glance -> hospital Glance");

    // 1. s2d, in a process of its own.
    let target = queued_image(&hospital, "s2d-bench-s2d", "raw").await;
    let copy = s2d_copy(&clouds_yaml, &source, &target);
    assert_eq!(copy.md5, md5, "s2d's copy has the source's checksum");
    assert_eq!(copy.size, size);
    let s2d_took = copy.took;

    // 2. curl | curl.
    let curl_target = queued_image(&hospital, "s2d-bench-curl", "raw").await;
    let curl_took = curl_pipe(&clouds_yaml, &provider, &hospital, &source, &curl_target);
    assert_eq!(
        active_md5(&hospital, &curl_target).await.as_deref(),
        Some(md5.as_str())
    );

    // 3. openstack image save + image create --file.
    let file = dir.path().join("saved.img");
    let file_arg = file.display().to_string();
    let started = Instant::now();
    osc(
        &clouds_yaml,
        "provider",
        &["image", "save", "--file", &file_arg, source.as_str()],
    );
    let osc_id = osc(
        &clouds_yaml,
        "hospital",
        &[
            "image",
            "create",
            "--file",
            &file_arg,
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "-f",
            "value",
            "-c",
            "id",
            "s2d-bench-osc",
        ],
    );
    let osc_took = started.elapsed();
    let _ = std::fs::remove_file(&file);

    let (s2d, curl, cli) = (
        rate(size, s2d_took),
        rate(size, curl_took),
        rate(size, osc_took),
    );
    println!(
        "s2d stream copy:                         {s2d:>8.1} MB/s ({:.1} s)",
        s2d_took.as_secs_f64()
    );
    println!(
        "curl GET | curl PUT:                     {curl:>8.1} MB/s ({:.1} s)",
        curl_took.as_secs_f64()
    );
    println!(
        "openstack image save + image create:     {cli:>8.1} MB/s ({:.1} s)",
        osc_took.as_secs_f64()
    );
    println!(
        "s2d / curl:              {:.2}   (target >= 0.90)",
        s2d / curl
    );
    println!("s2d / openstack CLI:     {:.2}x  (target >= 2)", s2d / cli);
    println!(
        "peak RSS of the s2d copy: {:.1} MiB (VmHWM of its own process; {:.1} MiB resident \
         before the copy, once connected)",
        copy.peak, copy.rss_before
    );

    for id in [target, curl_target, ImageId::new(osc_id), source.clone()] {
        let which = if id == source { &provider } else { &hospital };
        let _ = which.image.delete(&id).await;
    }
}

/// Sparse mode (see the module doc): a `size` image mostly zeros, copied by s2d and by the
/// curl pipe, and a `small` dense image copied by s2d for the memory comparison.
async fn sparse(
    clouds_yaml: &Path,
    provider: &Cloud,
    hospital: &Cloud,
    label: &str,
    size: u64,
    small: u64,
) {
    let data: u64 = sparse_stretches(size).iter().map(|(_, n)| n).sum();
    println!(
        "{label}: a {} raw image, zeros but for {:.1} MiB of data in 4 stretches, and a {} one, \
         provider Glance -> hospital Glance",
        mib_or_gib(size),
        data as f64 / (1 << 20) as f64,
        mib_or_gib(small)
    );
    let mut delete = Vec::new();

    // The small image first: s2d's copy of it is the reference for the memory.
    let (small_source, small_md5) = source_image(provider, small, Layout::Dense).await;
    let small_target = queued_image(hospital, "s2d-bench-s2d-small", "raw").await;
    let small_copy = s2d_copy(clouds_yaml, &small_source, &small_target);
    assert_eq!(
        small_copy.md5, small_md5,
        "s2d's small copy has its checksum"
    );
    assert_eq!(small_copy.size, small);
    delete.extend([(provider, small_source), (hospital, small_target)]);

    let started = Instant::now();
    let (source, md5) = source_image(provider, size, Layout::Sparse).await;
    println!(
        "source image uploaded and hashed by Glance in {:.1} s (not part of the figures)",
        started.elapsed().as_secs_f64()
    );

    // 1. s2d, in a process of its own.
    let target = queued_image(hospital, "s2d-bench-s2d", "raw").await;
    let copy = s2d_copy(clouds_yaml, &source, &target);
    assert_eq!(copy.md5, md5, "s2d's copy has the source's checksum");
    assert_eq!(copy.size, size);
    assert_eq!(
        active_md5(hospital, &target).await.as_deref(),
        Some(md5.as_str()),
        "the target Glance hashed s2d's copy to the source's md5"
    );

    // Gone before the curl copy: a real Glance stores every byte, and two copies of the
    // large image besides the source would need three times its size on disk.
    let _ = hospital.image.delete(&target).await;

    // 2. curl | curl.
    let curl_target = queued_image(hospital, "s2d-bench-curl", "raw").await;
    let curl_took = curl_pipe(clouds_yaml, provider, hospital, &source, &curl_target);
    assert_eq!(
        active_md5(hospital, &curl_target).await.as_deref(),
        Some(md5.as_str()),
        "the target Glance hashed curl's copy to the source's md5"
    );
    delete.extend([(provider, source), (hospital, curl_target)]);

    let (s2d, curl) = (rate(size, copy.took), rate(size, curl_took));
    let big = mib_or_gib(size);
    println!(
        "s2d stream copy, {big} sparse:        {s2d:>8.1} MB/s ({:.1} s)",
        copy.took.as_secs_f64()
    );
    println!(
        "curl GET | curl PUT, {big} sparse:    {curl:>8.1} MB/s ({:.1} s)",
        curl_took.as_secs_f64()
    );
    println!(
        "s2d / curl:              {:.2}   (target >= 0.90)",
        s2d / curl
    );
    println!(
        "s2d stream copy, {} dense:        {:>8.1} MB/s ({:.1} s)",
        mib_or_gib(small),
        rate(small, small_copy.took),
        small_copy.took.as_secs_f64()
    );
    println!(
        "openstack image save + image create:     skipped in sparse mode (`image save` writes \
         the whole {big} to disk)"
    );
    println!(
        "peak RSS of the s2d copy (VmHWM of its own process): {big}: {:.1} MiB, {}: {:.1} MiB, \
         difference {:+.1} MiB (resident before the copy, once connected: {:.1} and {:.1} MiB)",
        copy.peak,
        mib_or_gib(small),
        small_copy.peak,
        copy.peak - small_copy.peak,
        copy.rss_before,
        small_copy.rss_before
    );
    for (cloud, id) in delete {
        let _ = cloud.image.delete(&id).await;
    }
}

fn which(program: &str) {
    let found = Command::new(program).arg("--version").output().is_ok();
    assert!(
        found,
        "{program} is needed for this benchmark (apt-get install {program})"
    );
}
