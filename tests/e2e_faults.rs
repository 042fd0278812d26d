//! End to end against devcloud's fault knobs (devcloud only: real clouds have no such knobs):
//! a server that goes to ERROR, two applies at once, a corrupted and a broken image download.

#[path = "e2e/harness.rs"]
mod harness;

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

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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
    let first = world
        .command(&["apply", &plan, "--auto-approve", "-q"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let second = world.s2d(&["apply", &plan, "--auto-approve"]).await;
    let first = tokio::task::spawn_blocking(move || first.wait_with_output().expect("waits"))
        .await
        .expect("joins");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(second.status.code(), Some(1));
    let err = stderr(&second);
    assert!(err.contains("locked"), "{err}");
    assert!(err.contains("pid"), "{err}");
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
    let child = world
        .command(&["apply", &plan, "--auto-approve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until the server is being built, then interrupt.
    let started = std::time::Instant::now();
    loop {
        let building = s2d::state::read(&world.path().join("s2d.state.json"))
            .ok()
            .flatten()
            .is_some_and(|s| s.resources.keys().any(|a| a.kind() == "image"));
        if building || started.elapsed() > std::time::Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("waits"))
        .await
        .expect("joins");
    let err = stderr(&out);
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
