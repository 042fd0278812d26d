//! End to end against devcloud's fault knobs (devcloud only: real clouds have no such knobs):
//! a server that goes to ERROR, two applies at once, a corrupted and a broken image download,
//! flaky clouds (500/503 before and after the fact) round after round, tokens expiring during
//! a copy, a rate-limited cloud (429 with Retry-After), a quota that runs out, and a kill -9
//! while Nova still carries out a create.

#[path = "e2e/harness.rs"]
mod harness;

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use devcloud::Options;
use harness::{World, both, image_sums};
use serde_json::json;

async fn world() -> World {
    World::devcloud(Options {
        image_size: 4 << 20,
        ..Options::default()
    })
    .await
}

/// The quickstart plan with `transfer = { mode = "spool" }` in its defaults; its file name.
fn spool_plan(world: &World) -> &'static str {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/quickstart.toml"),
    )
    .expect("quickstart")
    .replace(
        "floating_ip = { pool = \"public\" }",
        "floating_ip = { pool = \"public\" }\ntransfer = { mode = \"spool\" }",
    );
    std::fs::write(world.path().join("spool.toml"), text).expect("plan");
    "spool.toml"
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Ask `probe` every 20 ms until it answers `Ok`; after `within`, fail with `what` was awaited
/// and the last thing the probe saw (its `Err`).
async fn poll<T>(what: &str, within: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + within;
    loop {
        let seen = match probe() {
            Ok(found) => return found,
            Err(seen) => seen,
        };
        assert!(
            Instant::now() < deadline,
            "waited {within:?} for {what}; last seen: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Fail at once if the child has ended (it will never make the awaited event happen).
fn still_running(child: &mut std::process::Child, what: &str) {
    if let Ok(Some(status)) = child.try_wait() {
        let mut err = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut err);
        }
        panic!("s2d ended ({status}) before {what}; its stderr:\n{err}");
    }
}

/// Who holds the state lock of the folder's `s2d.state.json`: the note the state module writes
/// into `s2d.state.json.lock` once it holds the lock (and clears before releasing it).
fn lock_holder(world: &World) -> Result<s2d::state::LockInfo, String> {
    let path = world.path().join("s2d.state.json.lock");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|_| format!("lock note {text:?}"))
}

/// A child's stderr, read line by line on a thread as it comes.
struct Lines {
    seen: Arc<Mutex<(Vec<String>, bool)>>,
    reader: std::thread::JoinHandle<()>,
}

impl Lines {
    fn read(pipe: std::process::ChildStderr) -> Lines {
        let seen = Arc::new(Mutex::new((Vec::new(), false)));
        let shared = seen.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                shared.lock().expect("lines").0.push(line);
            }
            shared.lock().expect("lines").1 = true;
        });
        Lines { seen, reader }
    }

    /// Wait for a line that `matches`; fails with the lines so far after `within`, or at once
    /// when the stream ends without one.
    async fn wait_for(&self, what: &str, within: Duration, matches: impl Fn(&str) -> bool) {
        poll(what, within, || {
            let (lines, ended) = &*self.seen.lock().expect("lines");
            if lines.iter().any(|l| matches(l)) {
                return Ok(());
            }
            assert!(!ended, "stderr ended without {what}:\n{}", lines.join("\n"));
            Err(format!("stderr so far:\n{}", lines.join("\n")))
        })
        .await
    }

    /// Everything the child wrote, once it has ended.
    fn all(self) -> String {
        self.reader.join().expect("the stderr reader");
        let (lines, _) = &*self.seen.lock().expect("lines");
        lines.join("\n")
    }
}

/// A server that goes to ERROR fails apply with Nova's fault; the next plan replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_in_error_is_reported_and_replaced() {
    let world = world().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    world
        .faults("hospital", json!({"server_error": true}))
        .await;
    let out = world.s2d_ok(&["apply", &plan, "--auto-approve"], 1).await;
    let err = stderr(&out);
    assert!(err.contains("failed: server.ehr-analytics"), "{err}");
    assert!(err.contains("ERROR"), "{err}");
    assert!(err.contains("skipped: floating_ip.ehr-analytics"), "{err}");
    // What was made is recorded, the broken server included.
    let state = world.state();
    assert!(
        state
            .resources
            .keys()
            .any(|a| a.to_string() == "image.ehr-analytics-s2d")
    );
    assert!(
        state
            .resources
            .keys()
            .any(|a| a.to_string() == "server.ehr-analytics")
    );

    world
        .faults("hospital", json!({"server_error": false}))
        .await;
    let out = world
        .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 2)
        .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("-/+ server.ehr-analytics"), "{text}");
    assert!(text.contains("ERROR"), "{text}");
    world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
    world
        .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 0)
        .await;
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(both(&world).await, before);
}

/// Two applies on one state: one runs, the other is refused at once naming the holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_applies_at_once_one_is_refused() {
    let world = world().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    // Slow servers keep the first apply running while the second starts.
    world
        .faults("hospital", json!({"server_build_s": 2.0}))
        .await;
    let mut first = world
        .command(&["apply", &plan, "--auto-approve", "-q"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // The second starts once the first holds the lock: its note names the first's pid.
    let pid = first.id();
    poll(
        "the first apply to hold the lock",
        Duration::from_secs(60),
        || {
            still_running(&mut first, "it held the lock");
            lock_holder(&world).and_then(|h| (h.pid == pid).then_some(()).ok_or(format!("{h:?}")))
        },
    )
    .await;
    let second = world.s2d(&["apply", &plan, "--auto-approve"]).await;
    let first = tokio::task::spawn_blocking(move || first.wait_with_output().expect("waits"))
        .await
        .expect("joins");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(second.status.code(), Some(1));
    let err = stderr(&second);
    assert!(err.contains("locked"), "{err}");
    assert!(err.contains("pid"), "{err}");
    assert!(err.contains(&format!("pid {pid} ")), "{err}");
    world
        .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 0)
        .await;
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(both(&world).await, before);
}

/// A flipped byte in the download: the image node fails naming both checksums, and the
/// half-made target image is deleted, never left looking like a copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_download_fails_and_leaves_no_image() {
    let world = world().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    world
        .faults("provider", json!({"corrupt_download_byte": 1000}))
        .await;
    let out = world.s2d_ok(&["apply", &plan, "--auto-approve"], 1).await;
    let err = stderr(&out);
    assert!(err.contains("failed: image.ehr-analytics-s2d"), "{err}");
    assert!(err.contains("md5: source"), "{err}");
    assert!(err.contains("was deleted"), "{err}");
    let (_, target) = both(&world).await;
    assert!(
        !target
            .images
            .iter()
            .any(|(name, _)| name == "ehr-analytics-s2d"),
        "{:?}",
        target.images
    );
    assert!(
        world
            .state()
            .resources
            .keys()
            .all(|a| a.to_string() != "image.ehr-analytics-s2d")
    );

    world
        .faults("provider", json!({"corrupt_download_byte": null}))
        .await;
    world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(both(&world).await, before);
}

/// A download reset mid-stream is retried from the start; the image ends up whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_download_is_retried_and_the_image_is_whole() {
    let world = world().await;
    let plan = world.plan("quickstart.toml");
    world
        .faults(
            "provider",
            json!({"reset_download_after_bytes": 1 << 20, "reset_count": 1}),
        )
        .await;
    let out = world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
    assert!(
        stderr(&out).contains("starting it again"),
        "{}",
        stderr(&out)
    );
    let source = world.cloud("provider").await;
    let target = world.cloud("hospital").await;
    let snapshot = image_sums(&source, &world.id("snapshot.ehr-analytics-s2d")).await;
    let image = image_sums(&target, &world.id("image.ehr-analytics-s2d")).await;
    assert_eq!(image.0, snapshot.0);
    assert_eq!(image.1, snapshot.1);
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
}

/// Ctrl-C in the middle of apply: running steps finish, the state is saved, exit 130; the next
/// apply continues from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_cleanly_and_apply_continues() {
    let world = world().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    world
        .faults("hospital", json!({"server_build_s": 3.0}))
        .await;
    let mut child = world
        .command(&["apply", &plan, "--auto-approve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Interrupt once the server step has started (its build takes 3 s): s2d says so on stderr
    // (`server.ehr-analytics: create...`).
    let lines = Lines::read(child.stderr.take().expect("stderr"));
    lines
        .wait_for("the server step to start", Duration::from_secs(60), |l| {
            l.starts_with("server.ehr-analytics: ") && l.ends_with("...")
        })
        .await;
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("waits"))
        .await
        .expect("joins");
    let err = lines.all();
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("Interrupted"), "{err}");
    // The server that was building finished and is recorded; the floating IP was not started.
    let state = world.state();
    assert!(
        state
            .resources
            .keys()
            .any(|a| a.to_string() == "server.ehr-analytics"),
        "{err}"
    );
    assert!(
        !state.resources.keys().any(|a| a.kind() == "floating_ip"),
        "{err}"
    );
    world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
    world
        .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 0)
        .await;
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(both(&world).await, before);
}

/// Spool mode: a download broken off mid-way resumes with a Range request from where the
/// spool file ends; the image arrives whole and the spool folder is emptied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spooled_download_resumes_with_range() {
    let world = world().await;
    let plan = spool_plan(&world);
    world
        .faults(
            "provider",
            json!({"reset_download_after_bytes": 1 << 20, "reset_count": 1}),
        )
        .await;
    world.s2d_ok(&["apply", plan, "--auto-approve"], 0).await;
    let downloads: Vec<serde_json::Value> = world
        .requests("provider")
        .await
        .into_iter()
        .filter(|r| {
            r["method"] == "GET" && r["path"].as_str().is_some_and(|p| p.ends_with("/file"))
        })
        .collect();
    assert!(downloads.len() >= 2, "{downloads:?}");
    let resumed = downloads
        .iter()
        .filter_map(|r| r["range"].as_str())
        .find(|r| r.starts_with("bytes=") && !r.starts_with("bytes=0-"));
    assert!(resumed.is_some(), "no Range resume in {downloads:?}");
    let source = world.cloud("provider").await;
    let target = world.cloud("hospital").await;
    let snapshot = image_sums(&source, &world.id("snapshot.ehr-analytics-s2d")).await;
    let image = image_sums(&target, &world.id("image.ehr-analytics-s2d")).await;
    assert_eq!(image.0, snapshot.0);
    assert_eq!(image.1, snapshot.1);
    let left: Vec<_> = std::fs::read_dir(world.path().join(".s2d-spool"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "spool files left: {left:?}");
    world.s2d_ok(&["destroy", plan, "--auto-approve"], 0).await;
}

/// A plan asking for another disk format: the snapshot is spooled, converted with qemu-img and
/// uploaded in the new format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_format_conversion_goes_through_qemu_img() {
    use s2d::cloud::compute::{ServerCreate, ServerNetwork};
    use s2d::cloud::image::ImageCreate;
    let world = world().await;
    // A real qcow2 disk with content (2 MiB of pattern in a 16 MiB disk) as a provider
    // server's disk.
    let raw_in = world.path().join("content.raw");
    let mut content = vec![0u8; 16 << 20];
    for (i, b) in content.iter_mut().enumerate().skip(1 << 20).take(2 << 20) {
        *b = (i * 7 % 251) as u8;
    }
    std::fs::write(&raw_in, &content).expect("raw");
    let qcow2 = world.path().join("disk.qcow2");
    let made = std::process::Command::new("qemu-img")
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
        .arg(&raw_in)
        .arg(&qcow2)
        .status()
        .expect("qemu-img must be installed (tests/run.sh installs qemu-utils)");
    assert!(made.success());
    let provider = world.cloud("provider").await;
    let base = provider
        .image
        .create(&ImageCreate {
            name: "conv-base".into(),
            disk_format: "qcow2".into(),
            container_format: "bare".into(),
            ..ImageCreate::default()
        })
        .await
        .expect("image");
    let bytes = std::fs::read(&qcow2).expect("read qcow2");
    let len = bytes.len() as u64;
    provider
        .image
        .upload(
            &base.id,
            Some(len),
            futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))]),
        )
        .await
        .expect("upload");
    let network = provider
        .network
        .networks(&[])
        .await
        .expect("networks")
        .into_iter()
        .find(|n| !n.external)
        .expect("network");
    let server = provider
        .compute
        .create_server(&ServerCreate {
            name: "conv-src".into(),
            image: Some(base.id.clone()),
            flavor: "2".into(),
            key_name: Some("alice-key".into()),
            networks: vec![ServerNetwork::Network(network.id.clone())],
            ..ServerCreate::default()
        })
        .await
        .expect("server");
    provider
        .compute
        .wait_for_server(&server, "ACTIVE", std::time::Duration::from_secs(60))
        .await
        .expect("ACTIVE");
    let plan = "convert.toml";
    std::fs::write(
        world.path().join(plan),
        "version = 1\n[source]\ncloud = \"provider\"\n[target]\ncloud = \"hospital\"\n\
         [defaults]\nnetwork = \"private\"\nkeypair = { import = \"alice-key\" }\n\
         floating_ip = false\n\n[[server]]\nsource = \"conv-src\"\n\
         image = { disk_format = \"raw\" }\n",
    )
    .expect("plan");
    let out = world.s2d_ok(&["apply", plan, "--auto-approve"], 0).await;
    let target = world.cloud("hospital").await;
    let image = target
        .image
        .get(&world.id("image.conv-src-s2d").as_str().into())
        .await
        .expect("get")
        .expect("image exists");
    assert_eq!(
        image.disk_format.as_deref(),
        Some("raw"),
        "{}",
        stderr(&out)
    );
    assert_eq!(image.status, "active");
    // The target's bytes are the same disk: qemu-img compare finds them identical.
    assert_eq!(image.size, Some(16 << 20));
    let mut download = target
        .image
        .download(&image.id, None)
        .await
        .expect("download");
    let mut bytes = Vec::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut download.stream).await {
        bytes.extend_from_slice(&chunk.expect("chunk"));
    }
    let raw_out = world.path().join("target.raw");
    std::fs::write(&raw_out, &bytes).expect("write");
    let compare = std::process::Command::new("qemu-img")
        .args(["compare", "-f", "qcow2", "-F", "raw"])
        .arg(&qcow2)
        .arg(&raw_out)
        .output()
        .expect("qemu-img compare");
    assert!(
        compare.status.success(),
        "{}",
        String::from_utf8_lossy(&compare.stdout)
    );
    assert_eq!(bytes, content);
    world.s2d_ok(&["destroy", plan, "--auto-approve"], 0).await;
}

/// kill -9 while a spooled download runs: the part file survives, and the next apply
/// resumes the download from its end with a Range request instead of starting again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_spool_download_resumes_from_its_offset() {
    let world = World::devcloud(Options {
        image_size: 16 << 20,
        ..Options::default()
    })
    .await;
    let plan = spool_plan(&world);
    // Every download breaks after 2 MiB: the spool keeps resuming (with growing pauses)
    // while we kill it.
    world
        .faults(
            "provider",
            json!({"reset_download_after_bytes": 2 << 20, "reset_count": 0}),
        )
        .await;
    let mut child = world
        .command(&["apply", plan, "--auto-approve", "-q"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let spool = world.path().join(".s2d-spool");
    let part = poll("a part file of 4 MiB", Duration::from_secs(60), || {
        still_running(&mut child, "a part file of 4 MiB appeared");
        let files: Vec<(std::path::PathBuf, u64)> = std::fs::read_dir(&spool)
            .map(|d| {
                d.flatten()
                    .map(|e| (e.path(), e.metadata().map_or(0, |m| m.len())))
                    .collect()
            })
            .unwrap_or_default();
        files
            .iter()
            .find(|(p, len)| p.extension().is_some_and(|x| x == "part") && *len >= 4 << 20)
            .map(|(p, _)| p.clone())
            .ok_or(format!("{} holds {files:?}", spool.display()))
    })
    .await;
    child.kill().expect("kill -9");
    let _ = child.wait();
    let kept = std::fs::metadata(&part)
        .expect("the part file survives")
        .len();
    assert!((4 << 20..16 << 20).contains(&kept), "{kept}");

    world
        .faults("provider", json!({"reset_download_after_bytes": null}))
        .await;
    let before_rerun = world.requests("provider").await.len();
    world.s2d_ok(&["apply", plan, "--auto-approve"], 0).await;
    let downloads: Vec<serde_json::Value> = world.requests("provider").await[before_rerun..]
        .iter()
        .filter(|r| {
            r["method"] == "GET" && r["path"].as_str().is_some_and(|p| p.ends_with("/file"))
        })
        .cloned()
        .collect();
    // The re-run asked only for what was not on disk.
    assert!(!downloads.is_empty());
    for d in &downloads {
        let range = d["range"].as_str().unwrap_or("");
        let from: u64 = range
            .strip_prefix("bytes=")
            .and_then(|r| r.trim_end_matches('-').parse().ok())
            .unwrap_or(0);
        assert!(
            from >= kept,
            "a download from {from} < {kept}: {downloads:?}"
        );
    }
    let source = world.cloud("provider").await;
    let target = world.cloud("hospital").await;
    let snapshot = image_sums(&source, &world.id("snapshot.ehr-analytics-s2d")).await;
    let image = image_sums(&target, &world.id("image.ehr-analytics-s2d")).await;
    assert_eq!(image.0, snapshot.0);
    assert_eq!(image.1, snapshot.1);
    world.s2d_ok(&["destroy", plan, "--auto-approve"], 0).await;
}

/// A flaky pair of clouds: 15% of requests answered 500/503 before anything happens, 5% served
/// but answered 503 (a create that happened). Each round of apply -> plan (no changes) ->
/// destroy of the multi-server plan converges without a re-run, and both clouds end exactly as
/// before: no duplicate made by a lost answer, nothing left behind. `S2D_FAULT_ROUNDS` rounds
/// (default 3; `examples/fault_rounds.rs` runs 20 and prints the figures).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_clouds_converge_round_after_round() {
    let world = World::devcloud(Options {
        image_size: 1 << 20,
        seed: 15,
        ..Options::default()
    })
    .await;
    let plan = world.plan("multi-server.toml");
    let before = both(&world).await;
    let dump_before = world.devcloud_dump("hospital").await;
    let rounds: usize = std::env::var("S2D_FAULT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    for round in 0..rounds {
        for cloud in ["provider", "hospital"] {
            world
                .faults(cloud, json!({"fail_rate": 0.15, "fail_after_rate": 0.05}))
                .await;
        }
        world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
        let out = world
            .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 0)
            .await;
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("No changes"),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
        for cloud in ["provider", "hospital"] {
            world
                .faults(cloud, json!({"fail_rate": 0.0, "fail_after_rate": 0.0}))
                .await;
        }
        assert_eq!(both(&world).await, before, "round {round}");
        assert_eq!(
            world.devcloud_dump("hospital").await["projects"],
            dump_before["projects"],
            "round {round}"
        );
    }
    // The faults did happen, creates included.
    let log = world.requests("hospital").await;
    let failed_creates = log
        .iter()
        .filter(|r| r["method"] == "POST" && r["status"].as_u64().is_some_and(|s| s >= 500))
        .count();
    assert!(failed_creates > 0, "no create was answered 5xx");
}

/// Tokens that expire behind the client's back in the middle of an image copy: once the
/// first (spooled) download has broken off, both clouds' clocks jump two hours, so the
/// ranged request that resumes the download and the upload that follows meet a 401 with
/// tokens the client still believes valid. Each is renewed and the copy goes on; the image
/// arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expiring_during_a_copy_are_renewed() {
    let world = World::devcloud(Options {
        image_size: 8 << 20,
        ..Options::default()
    })
    .await;
    let plan = spool_plan(&world);
    for cloud in ["provider", "hospital"] {
        world.faults(cloud, json!({"token_ttl_s": 600})).await;
    }
    world
        .faults(
            "provider",
            json!({"reset_download_after_bytes": 1 << 20, "reset_count": 2}),
        )
        .await;
    let mut child = world
        .command(&["apply", plan, "--auto-approve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let lines = Lines::read(child.stderr.take().expect("stderr"));
    let dc = world.devcloud.as_ref().expect("devcloud");
    let provider = dc.provider.cloud().clone();
    // The first download of the snapshot's bytes (reset after 1 MiB) has been answered.
    poll(
        "the first download of the snapshot",
        Duration::from_secs(60),
        || {
            still_running(&mut child, "the download started");
            provider
                .log
                .entries()
                .iter()
                .any(|r| r.method == "GET" && r.path.ends_with("/file") && r.status == 200)
                .then_some(())
                .ok_or_else(|| "no download yet".to_string())
        },
    )
    .await;
    for cloud in [&dc.provider, &dc.hospital] {
        cloud.cloud().clock.shift(time::Duration::hours(2));
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("waits"))
        .await
        .expect("joins");
    let err = lines.all();
    assert_eq!(out.status.code(), Some(0), "{err}");
    // The provider refused a token after the jump, then served the resumed range.
    let log = dc.provider.cloud().log.entries();
    let refused = log
        .iter()
        .position(|r| r.status == 401)
        .unwrap_or_else(|| panic!("no 401 on the provider: {log:?}"));
    assert!(
        log[refused..]
            .iter()
            .any(|r| r.path.ends_with("/file") && r.status == 206),
        "no resumed download after the 401: {log:?}"
    );
    let hospital = dc.hospital.cloud().log.entries();
    assert!(hospital.iter().any(|r| r.status == 401), "{hospital:?}");
    let source = world.cloud("provider").await;
    let target = world.cloud("hospital").await;
    let snapshot = image_sums(&source, &world.id("snapshot.ehr-analytics-s2d")).await;
    let image = image_sums(&target, &world.id("image.ehr-analytics-s2d")).await;
    assert_eq!(image.0, snapshot.0);
    assert_eq!(image.1, snapshot.1);
    world.s2d_ok(&["destroy", plan, "--auto-approve"], 0).await;
}

/// A cloud that limits the rate: a fifth of its answers are 429 with `Retry-After: 1`. Apply,
/// plan and destroy go through without a re-run, each 429 holding back that cloud's requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_cloud_is_waited_for() {
    let world = world().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    world
        .faults(
            "hospital",
            json!({"rate_limit_rate": 0.2, "retry_after_s": 1}),
        )
        .await;
    let started = Instant::now();
    world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
    let took = started.elapsed();
    world
        .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 0)
        .await;
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    let limited = world
        .requests("hospital")
        .await
        .iter()
        .filter(|r| r["status"] == 429)
        .count();
    assert!(limited > 0, "no 429 was answered");
    // Every 429 paused the cloud for its Retry-After (pauses may overlap, not vanish).
    assert!(
        took >= Duration::from_secs(1),
        "{took:?} with {limited} 429s"
    );
    world
        .faults("hospital", json!({"rate_limit_rate": 0.0}))
        .await;
    assert_eq!(both(&world).await, before);
}

/// Quotas: the compute limits and Neutron's quotas are read in `plan`, so servers or floating
/// IPs that would not fit are refused before anything is made (`s2d::cloud::quota`, naming
/// what is left). A quota plan cannot read (Glance's images uploading at once) makes its step
/// wait for room; when `--quota-timeout` runs out first, the step fails with the cloud's
/// refusal under the same code and its help, what was made before stays recorded, and once
/// the quota allows, the next apply finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_refusal_is_a_clear_diagnostic() {
    let world = world().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    for (quota, said) in [
        (
            json!({"instances": 0}),
            "the target's instances quota has 0 left of 0, and the plan's new servers need 1",
        ),
        (
            json!({"floatingip": 0}),
            "the target's floating IP quota has 0 left of 0, and the plan's new servers need 1",
        ),
    ] {
        world.faults("hospital", json!({ "quota": quota })).await;
        let out = world.s2d_ok(&["apply", &plan, "--auto-approve"], 1).await;
        let err = stderr(&out);
        assert!(err.contains("s2d::cloud::quota"), "{err}");
        assert!(err.contains(said), "{err}");
        assert!(err.contains("openstack quota show"), "{err}");
        assert_eq!(both(&world).await, before, "nothing was made");
    }

    world
        .faults("hospital", json!({"quota": {"image_count_uploading": 0}}))
        .await;
    let started = Instant::now();
    let out = world
        .s2d_ok(
            &["apply", &plan, "--auto-approve", "--quota-timeout", "3"],
            1,
        )
        .await;
    let took = started.elapsed();
    let err = stderr(&out);
    // One line when the wait starts, however often the upload is refused meanwhile.
    assert_eq!(
        err.matches("image.ehr-analytics-s2d: waiting for quota")
            .count(),
        1,
        "{err}"
    );
    assert!(err.contains("failed: image.ehr-analytics-s2d"), "{err}");
    assert!(err.contains("s2d::cloud::quota"), "{err}");
    assert!(err.contains("image_count_uploading"), "{err}");
    // How long it waited: the timeout, and the last refused call on top (an upload that
    // broke and started again can take a second more on a loaded machine).
    let waited: u64 = err
        .split("still refused after waiting ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no wait told: {err}"));
    assert!((3..10).contains(&waited), "{err}");
    assert!(err.contains("openstack quota show"), "{err}");
    assert!(took >= Duration::from_secs(3), "{took:?}");
    assert!(
        world
            .state()
            .resources
            .keys()
            .any(|a| a.to_string() == "snapshot.ehr-analytics-s2d"),
        "{err}"
    );
    world.faults("hospital", json!({"quota": {}})).await;
    world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(both(&world).await, before);
}

/// The project's use of a Glance limit, as `GET /v2/info/usage` shows it (the limit on).
async fn glance_used(world: &World, cloud: &str, resource: &str) -> u64 {
    let usage = world
        .cloud(cloud)
        .await
        .image
        .usage()
        .await
        .expect("usage")
        .expect("Glance tells its usage once a limit is set");
    let entry = match resource {
        "image_count_total" => usage.image_count_total,
        "image_size_total" => usage.image_size_total,
        other => panic!("no such resource {other}"),
    };
    entry.expect("the resource is told").usage as u64
}

/// Glance's unified limits, set with devcloud's `quota` knobs (tests/e2e/glance_limits.rs
/// checks the count on the real clouds too): `plan` reads what is left in both clouds
/// (`GET /v2/info/usage`) and refuses, before anything is made, a server whose snapshot has no
/// room in the source's `image_count_total`, or whose copy has none in the target's; once
/// the snapshot exists its size is known, and a copy beyond what is left of the target's
/// `image_size_total` (MiB) is refused too. With exactly enough, the apply goes through
/// Glance's own checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_beyond_glances_limits_is_refused_before_anything_is_made() {
    let world = world().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    for (cloud, side) in [("provider", "source"), ("hospital", "target")] {
        world
            .faults(cloud, json!({"quota": {"image_count_total": 1_000_000}}))
            .await;
        let count = glance_used(&world, cloud, "image_count_total").await;
        world
            .faults(cloud, json!({"quota": {"image_count_total": count}}))
            .await;
        let out = world.s2d_ok(&["plan", &plan], 1).await;
        let err = stderr(&out);
        assert!(err.contains("s2d::cloud::quota"), "{err}");
        assert!(
            err.contains(&format!(
                "the {side}'s image_count_total (Glance) quota has 0 left of {count}, and the plan's new images need 1"
            )),
            "{err}"
        );
        assert!(err.contains("openstack limit list"), "{err}");
        assert_eq!(both(&world).await, before, "nothing was made");
        world.faults(cloud, json!({"quota": {}})).await;
    }

    // The snapshot alone; then its copy needs its size of the target's MiB.
    world
        .s2d_ok(
            &[
                "apply",
                &plan,
                "--auto-approve",
                "--target",
                "snapshot.ehr-analytics-s2d",
            ],
            0,
        )
        .await;
    let snapshot = world
        .cloud("provider")
        .await
        .image
        .get(&s2d::cloud::ImageId::new(
            world.id("snapshot.ehr-analytics-s2d"),
        ))
        .await
        .expect("get")
        .expect("the snapshot");
    let mib = snapshot.size.expect("its size") >> 20;
    assert!(mib >= 1, "{snapshot:?}");
    world
        .faults(
            "hospital",
            json!({"quota": {"image_size_total": 1_000_000}}),
        )
        .await;
    let used = glance_used(&world, "hospital", "image_size_total").await;
    world
        .faults(
            "hospital",
            json!({"quota": {"image_size_total": used + mib - 1}}),
        )
        .await;
    let (_, target_before) = both(&world).await;
    let out = world.s2d_ok(&["plan", &plan], 1).await;
    let err = stderr(&out);
    assert!(err.contains("s2d::cloud::quota"), "{err}");
    assert!(
        err.contains(&format!(
            "the target's image_size_total (Glance, MiB) quota has {} left of {}, and the plan's new images need {mib}",
            mib - 1,
            used + mib - 1
        )),
        "{err}"
    );
    assert_eq!(both(&world).await.1, target_before, "nothing was made");

    // Exactly enough: Glance takes the copy.
    world
        .faults(
            "hospital",
            json!({"quota": {"image_size_total": used + mib}}),
        )
        .await;
    world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
    world.faults("hospital", json!({"quota": {}})).await;
    world
        .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 0)
        .await;
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(both(&world).await, before);
}

/// Glance's `image_size_cap` is no quota a project can read: the copy fails at its upload,
/// with its own code and a help naming the cap, at once (no wait for quota, no copy started
/// over), and the half-made target image is deleted; with the cap raised the next apply
/// finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_above_glances_size_cap_fails_clearly() {
    let world = world().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    world
        .faults("hospital", json!({"image_size_cap": 1 << 20}))
        .await;
    let out = world.s2d_ok(&["apply", &plan, "--auto-approve"], 1).await;
    let err = stderr(&out);
    assert!(err.contains("failed: image.ehr-analytics-s2d"), "{err}");
    assert!(err.contains("s2d::cloud::image_size_cap"), "{err}");
    assert!(err.contains("The incoming image is too large"), "{err}");
    assert!(err.contains("`image_size_cap`"), "{err}");
    assert!(!err.contains("waiting for quota"), "{err}");
    let uploads = world
        .requests("hospital")
        .await
        .into_iter()
        .filter(|r| {
            r["method"] == "PUT" && r["path"].as_str().is_some_and(|p| p.ends_with("/file"))
        })
        .count();
    assert_eq!(uploads, 1, "the copy was not started over: {err}");
    let (_, target) = both(&world).await;
    assert!(
        !target
            .images
            .iter()
            .any(|(name, _)| name == "ehr-analytics-s2d"),
        "{target:?}"
    );
    world
        .faults("hospital", json!({"image_size_cap": null}))
        .await;
    world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(both(&world).await, before);
}

/// A plan reviewed while there was room, applied after others took it: Glance refuses the
/// upload (413, images uploading at once), Nova the server (403 "Quota exceeded for
/// instances"), Neutron the floating IP (409 `OverQuota`). Each step says once that it waits
/// for quota and tries again as room comes back; the apply finishes with exactly one of each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_waits_for_quota_and_finishes() {
    let world = world().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    world
        .s2d_ok(&["plan", &plan, "--out", "saved.json"], 0)
        .await;
    world
        .faults(
            "hospital",
            json!({"quota": {"image_count_uploading": 0, "instances": 0, "floatingip": 0}}),
        )
        .await;
    let mut child = world
        .command(&["apply", "saved.json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let lines = Lines::read(child.stderr.take().expect("stderr"));
    // Room comes back one quota at a time, each once its step has said it waits.
    for (address, still) in [
        (
            "image.ehr-analytics-s2d",
            json!({"instances": 0, "floatingip": 0}),
        ),
        ("server.ehr-analytics", json!({"floatingip": 0})),
        ("floating_ip.ehr-analytics", json!({})),
    ] {
        lines
            .wait_for(
                &format!("{address} to wait for quota"),
                Duration::from_secs(60),
                |l| l.starts_with(&format!("{address}: waiting for quota")),
            )
            .await;
        world.faults("hospital", json!({ "quota": still })).await;
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("waits"))
        .await
        .expect("joins");
    let err = lines.all();
    assert_eq!(out.status.code(), Some(0), "{err}");
    for (address, refusal) in [
        ("image.ehr-analytics-s2d", "image_count_uploading"),
        ("server.ehr-analytics", "Quota exceeded for instances"),
        ("floating_ip.ehr-analytics", "OverQuota"),
    ] {
        let waits: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with(&format!("{address}: waiting for quota")))
            .collect();
        assert_eq!(waits.len(), 1, "{err}");
        assert!(waits[0].contains(refusal), "{err}");
    }
    // Exactly one of each: a refused create made nothing.
    let (_, target) = both(&world).await;
    let named = |set: &std::collections::BTreeSet<(String, String)>, name: &str| {
        set.iter().filter(|(n, _)| n == name).count()
    };
    assert_eq!(named(&target.servers, "ehr-analytics"), 1, "{target:?}");
    assert_eq!(named(&target.images, "ehr-analytics-s2d"), 1, "{target:?}");
    assert_eq!(
        target.floating_ips.len(),
        before.1.floating_ips.len() + 1,
        "{target:?}"
    );
    world
        .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 0)
        .await;
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(both(&world).await, before);
}

/// Every upload breaks after 1 MiB: the copy starts again while its restart budget lasts,
/// then the image node fails with an error naming the call that broke and the budget spent;
/// nothing half-made is left recorded as a copy, and once the cloud behaves the next apply
/// finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_that_keeps_breaking_stops_at_its_budget() {
    let world = World::devcloud(Options {
        image_size: 4 << 20,
        ..Options::default()
    })
    .await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    world
        .faults(
            "hospital",
            json!({"reset_upload_after_bytes": 1 << 20, "reset_count": 0}),
        )
        .await;
    let out = world.s2d_ok(&["apply", &plan, "--auto-approve"], 1).await;
    let err = stderr(&out);
    assert!(err.contains("failed: image.ehr-analytics-s2d"), "{err}");
    assert!(err.contains("target upload"), "{err}");
    assert!(err.contains("PUT"), "{err}");
    assert!(err.contains("restart budget"), "{err}");
    world
        .faults("hospital", json!({"reset_upload_after_bytes": null}))
        .await;
    world.s2d_ok(&["apply", &plan, "--auto-approve"], 0).await;
    world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
    assert_eq!(both(&world).await, before);
}

/// kill -9 while Nova is still carrying out a create (`create_accept_s`: the snapshot or the
/// server exists only once Nova answers, and Nova goes on with the client gone), then apply
/// at once: the apply waits for what the killed run's request made to show, adopts it, and
/// makes no second snapshot or server; destroy leaves both clouds as they were. The real
/// tier's Nova did this to the kill -9 test until the pending creates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_while_nova_carries_out_a_create_makes_no_duplicate() {
    let world = world().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    let dc = world.devcloud.as_ref().expect("devcloud");
    for (cloud, what) in [("provider", "createImage"), ("hospital", "POST /servers")] {
        world.faults(cloud, json!({"create_accept_s": 3.0})).await;
        let nova = dc.cloud(cloud).expect("cloud").cloud().clone();
        let mut child = world
            .command(&["apply", &plan, "--auto-approve", "-q"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        poll(
            &format!("{what} under way"),
            Duration::from_secs(120),
            || {
                still_running(&mut child, what);
                (nova.nova.accepting() > 0)
                    .then_some(())
                    .ok_or_else(|| "not yet".to_string())
            },
        )
        .await;
        child.kill().expect("kill -9");
        let _ = child.wait();
        assert_eq!(nova.nova.accepting(), 1, "{what} ended with the client");
        world.faults(cloud, json!({"create_accept_s": 0.0})).await;

        let out = world.s2d(&["apply", &plan, "--auto-approve"]).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{what}: {err}");
        assert!(err.contains("waiting up to"), "{what}: no wait told\n{err}");
        assert_eq!(nova.nova.accepting(), 0, "{what}");
        let (source, target) = both(&world).await;
        let named = |set: &std::collections::BTreeSet<(String, String)>, name: &str| {
            set.iter().filter(|(n, _)| n == name).count()
        };
        assert_eq!(
            named(&source.images, "ehr-analytics-s2d"),
            1,
            "{what}: source snapshots {:?}",
            source.images
        );
        assert_eq!(
            named(&target.servers, "ehr-analytics"),
            1,
            "{what}: target servers {:?}",
            target.servers
        );
        world
            .s2d_ok(&["plan", &plan, "--detailed-exitcode"], 0)
            .await;
        world.s2d_ok(&["destroy", &plan, "--auto-approve"], 0).await;
        assert_eq!(both(&world).await, before, "{what}: leftovers");
    }
}
