//! The `s2d` binary with its state in PostgreSQL and in Swift, end to end: the quickstart
//! applied with no local state file, a second run refused naming the holder, a holder killed
//! with -9 (PostgreSQL frees its lock with the session; Swift needs `force-unlock ID`), the
//! next apply converging without a duplicate, stale writes refused, the backend stopped and
//! restarted mid-apply, and `state migrate` from a file to each backend and back.
//!
//! PostgreSQL is a real server (Debian's `postgresql`, started by `tests/postgres.sh`, named
//! by `S2D_TEST_POSTGRES`); nothing is skipped when it is missing: those tests fail and say
//! how to start one. Swift is devcloud's object store (or the real tier's Swift proxy when
//! `S2D_E2E_TARGET=openstack`), reached through the `hospital` entry of clouds.yaml.

#[path = "e2e/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{World, both};
use serde_json::json;

/// The tests that point the process's `OS_CLIENT_CONFIG_FILE` at their world's clouds.yaml
/// (the library reads it as s2d does) run one at a time.
static PROCESS_ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// On the real tier every test shares the `hospital` cloud's one Swift proxy: the test that
/// stops it holds this for writing, the other Swift tests for reading. (devcloud is a world
/// of its own per test: nothing to share.)
static REAL_SWIFT_PROXY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A share of the real tier's Swift proxy (none needed on devcloud).
async fn swift_proxy_share() -> Option<tokio::sync::RwLockReadGuard<'static, ()>> {
    if harness::real_openstack() {
        Some(REAL_SWIFT_PROXY.read().await)
    } else {
        None
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The test server's URL, or a loud failure saying how to get one.
fn pg_base() -> String {
    std::env::var("S2D_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "S2D_TEST_POSTGRES is not set: start a throwaway server with \
             `eval \"$(bash tests/postgres.sh start /tmp/s2d-pg)\"` (tests/run.sh does), \
             or install Debian's postgresql package"
        )
    })
}

/// A state name of its own for each test (tests run at once against one server).
fn pg_location(test: &str) -> String {
    format!(
        "{}?name={test}-{}",
        pg_base(),
        uuid::Uuid::new_v4().simple()
    )
}

fn swift_location(test: &str) -> String {
    format!(
        "swift://hospital/s2d-states/{test}-{}.json",
        uuid::Uuid::new_v4().simple()
    )
}

async fn pg_client() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&pg_base(), tokio_postgres::NoTls)
        .await
        .expect("the test PostgreSQL answers");
    tokio::spawn(connection);
    client
}

fn pg_name(location: &str) -> String {
    location
        .rsplit_once("name=")
        .map(|(_, n)| n.to_string())
        .expect("a name")
}

/// Ask `probe` every 50 ms until it answers `Ok`; after `within`, fail naming what was awaited.
async fn poll<T, F: std::future::Future<Output = Result<T, String>>>(
    what: &str,
    within: Duration,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let seen = match probe().await {
            Ok(found) => return found,
            Err(seen) => seen,
        };
        assert!(
            Instant::now() < deadline,
            "waited {within:?} for {what}; last seen: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The lock note in the backend, as the next run would see it.
async fn lock_note(world: &World, location: &str) -> Option<s2d::state::LockInfo> {
    if location.starts_with("postgres") {
        let client = pg_client().await;
        let row = client
            .query_opt(
                "SELECT info FROM s2d.locks WHERE name = $1",
                &[&pg_name(location)],
            )
            .await
            .ok()??;
        serde_json::from_str(row.get::<_, &str>(0)).ok()
    } else {
        let store = swift_store(world).await;
        let (container, object) = swift_parts(location);
        let found = store
            .get(&container, &format!("{object}.lock"))
            .await
            .expect("reads the lock object")?;
        serde_json::from_slice(&found.body).ok()
    }
}

async fn swift_store(world: &World) -> s2d::cloud::object_store::ObjectStore {
    let cloud = world.cloud("hospital").await;
    s2d::cloud::object_store::ObjectStore::new(&cloud.session)
        .await
        .expect("object store")
}

fn swift_parts(location: &str) -> (String, String) {
    let rest = location.strip_prefix("swift://hospital/").expect("swift");
    let (container, object) = rest.split_once('/').expect("container/object");
    (container.to_string(), object.to_string())
}

fn pulled(out: &std::process::Output) -> s2d::state::State {
    serde_json::from_slice(&out.stdout).expect("state pull prints a state")
}

/// Apply, look, plan, destroy: the state lives in the backend only.
async fn quickstart_with_state_in(location: &str) {
    let world = World::start().await;
    let plan = world.plan("quickstart.toml");
    let before = both(&world).await;
    // As CI does: a saved plan (which records where the state is), then its apply.
    world
        .s2d_ok(
            &[
                "plan",
                &plan,
                "--state",
                location,
                "--out",
                "reviewed.s2dplan",
                "--detailed-exitcode",
            ],
            2,
        )
        .await;
    let saved = std::fs::read_to_string(world.path().join("reviewed.s2dplan")).expect("saved");
    assert!(saved.contains(location), "{saved}");
    let started = Instant::now();
    world.s2d_ok(&["apply", "reviewed.s2dplan", "-q"], 0).await;
    eprintln!(
        "apply of the quickstart with the state in {}: {:.1} s",
        location.split(':').next().unwrap_or("?"),
        started.elapsed().as_secs_f64()
    );
    assert!(
        !world.path().join("s2d.state.json").exists(),
        "a local state file was written"
    );
    assert!(!world.path().join("s2d.state.json.lock").exists());
    let out = world
        .s2d_ok(&["state", "pull", "--state", location], 0)
        .await;
    let state = pulled(&out);
    assert!(
        state
            .resources
            .keys()
            .any(|a| a.to_string() == "server.ehr-analytics"),
        "{:?}",
        state.resources.keys()
    );
    assert!(state.serial > 0);
    let shown = world.s2d_ok(&["show", location], 0).await;
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("server.ehr-analytics"), "{shown}");
    world
        .s2d_ok(
            &["plan", &plan, "--state", location, "--detailed-exitcode"],
            0,
        )
        .await;
    assert_eq!(lock_note(&world, location).await, None, "the lock is left");
    world
        .s2d_ok(
            &["destroy", &plan, "--state", location, "--auto-approve"],
            0,
        )
        .await;
    assert_eq!(both(&world).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_applies_with_its_state_in_postgres() {
    quickstart_with_state_in(&pg_location("quickstart")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_applies_with_its_state_in_swift() {
    let _proxy = swift_proxy_share().await;
    quickstart_with_state_in(&swift_location("quickstart")).await;
}

/// A second run is refused naming the holder; the holder is killed with -9; the lock is
/// freed (by the server for PostgreSQL, by `force-unlock ID` for Swift); the next apply
/// converges with one server, not two.
async fn killed_holder(location: &str) {
    let world = World::start().await;
    let plan = world.plan("quickstart.toml");
    let (_, target_before) = both(&world).await;
    if world.devcloud.is_some() {
        world
            .faults("hospital", json!({"server_build_s": 3.0}))
            .await;
    }
    let mut first = world
        .command(&["apply", &plan, "--state", location, "--auto-approve", "-q"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = first.id();
    let first_pid = first.id();
    let holder = poll(
        "the first apply to hold the lock",
        Duration::from_secs(60),
        || async {
            assert!(
                std::path::Path::new(&format!("/proc/{first_pid}")).exists(),
                "the first apply ended before it held the lock"
            );
            match lock_note(&world, location).await {
                Some(info) if info.pid == pid => Ok(info),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let second = world.s2d_ok(&["plan", &plan, "--state", location], 1).await;
    let err = stderr(&second);
    assert!(err.contains("locked by"), "{err}");
    assert!(err.contains(&format!("pid {pid} ")), "{err}");
    assert!(err.contains(&holder.id), "{err}");
    assert!(err.contains("s2d force-unlock"), "{err}");
    assert!(err.contains("s2d::state::locked"), "{err}");

    first.kill().expect("kill -9");
    first.wait().expect("reaped");
    if world.devcloud.is_some() {
        world
            .faults("hospital", json!({"server_build_s": 0.0}))
            .await;
    }

    if location.starts_with("swift") {
        // The lock object outlives its holder: still refused, then force-unlock by its id.
        let again = world.s2d_ok(&["plan", &plan, "--state", location], 1).await;
        assert!(stderr(&again).contains(&holder.id), "{}", stderr(&again));
        world
            .s2d_ok(&["force-unlock", "--state", location, "not-the-id"], 1)
            .await;
        let out = world
            .s2d_ok(&["force-unlock", "--state", location, &holder.id], 0)
            .await;
        assert!(stderr(&out).contains(&holder.id), "{}", stderr(&out));
    } else {
        // The server ends the session of a dead client, and its advisory lock with it.
        poll(
            "PostgreSQL to free the lock",
            Duration::from_secs(30),
            || async {
                let client = pg_client().await;
                let held: i64 = client
                    .query_one(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
                        &[],
                    )
                    .await
                    .map_err(|e| e.to_string())?
                    .get(0);
                if held == 0 {
                    Ok(())
                } else {
                    Err(format!("{held} advisory locks"))
                }
            },
        )
        .await;
    }
    world
        .s2d_ok(
            &["apply", &plan, "--state", location, "--auto-approve", "-q"],
            0,
        )
        .await;
    world
        .s2d_ok(
            &["plan", &plan, "--state", location, "--detailed-exitcode"],
            0,
        )
        .await;
    let (_, target) = both(&world).await;
    assert_eq!(
        target.servers.len(),
        target_before.servers.len() + 1,
        "one server made, not two: {:?}",
        target.servers
    );
    world
        .s2d_ok(
            &["destroy", &plan, "--state", location, "--auto-approve"],
            0,
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_frees_its_postgres_lock_and_the_next_apply_converges() {
    killed_holder(&pg_location("killed")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_leaves_its_swift_lock_until_force_unlock_and_the_next_apply_converges() {
    let _proxy = swift_proxy_share().await;
    killed_holder(&swift_location("killed")).await;
}

/// A write over a serial it did not read is refused (PostgreSQL: the row moved on while
/// this run held the lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_write_to_postgres_is_refused() {
    let location: s2d::state::Location = pg_location("stale").parse().expect("location");
    let mut file = s2d::state::StateFile::open_at(&location, "test")
        .await
        .expect("locks");
    file.commit_async().await.expect("first write");
    file.commit_async().await.expect("second write");
    let client = pg_client().await;
    let name = pg_name(&location.to_string());
    client
        .execute(
            "UPDATE s2d.states SET serial = serial + 5 WHERE name = $1",
            &[&name],
        )
        .await
        .expect("moves the row on");
    let err = file.commit_async().await.expect_err("stale");
    assert!(
        matches!(
            err,
            s2d::state::StateError::Stale {
                expected: 2,
                found: 7,
                ..
            }
        ),
        "{err}"
    );
    let code = miette::Diagnostic::code(&err).map(|c| c.to_string());
    assert_eq!(code.as_deref(), Some("s2d::state::stale"));
    assert_eq!(file.state().serial, 2, "a refused write leaves the serial");
    file.release().await;
}

/// Swift: a run whose lock was force-unlocked while it was alive, and whose state was pushed
/// over meanwhile, cannot overwrite the newer state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_write_to_swift_is_refused() {
    let _proxy = swift_proxy_share().await;
    let world = World::start().await;
    let plan = world.plan("quickstart.toml");
    let location = swift_location("stale");
    if world.devcloud.is_some() {
        world
            .faults("hospital", json!({"server_build_s": 3.0}))
            .await;
    }
    let first = world
        .command(&["apply", &plan, "--state", &location, "--auto-approve", "-q"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = first.id();
    let holder = poll(
        "the apply to hold the lock",
        Duration::from_secs(60),
        || async {
            match lock_note(&world, &location).await {
                Some(info) if info.pid == pid => Ok(info),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    // Someone breaks the lock of the live run and pushes another state.
    world
        .s2d_ok(&["force-unlock", "--state", &location, &holder.id], 0)
        .await;
    let mut other = s2d::state::State::new();
    other.serial = 40;
    std::fs::write(
        world.path().join("other.json"),
        serde_json::to_vec(&other).expect("json"),
    )
    .expect("writes");
    world
        .s2d_ok(
            &[
                "state",
                "push",
                "other.json",
                "--state",
                &location,
                "--force",
            ],
            0,
        )
        .await;
    let pushed = pulled(
        &world
            .s2d_ok(&["state", "pull", "--state", &location], 0)
            .await,
    );
    let first = tokio::task::spawn_blocking(move || first.wait_with_output().expect("waits"))
        .await
        .expect("joins");
    let err = stderr(&first);
    assert_eq!(first.status.code(), Some(1), "{err}");
    assert!(
        err.contains("newer than the") || err.contains("this run's lock was removed"),
        "{err}"
    );
    let after = pulled(
        &world
            .s2d_ok(&["state", "pull", "--state", &location], 0)
            .await,
    );
    assert_eq!(after, pushed, "the stale run overwrote the pushed state");
    assert_eq!(after.lineage, other.lineage);
    // Clean up what the stopped run made (its resources are found by their markers).
    if world.devcloud.is_some() {
        world
            .faults("hospital", json!({"server_build_s": 0.0}))
            .await;
    }
}

/// file → backend → file: the resources, lineage and serial order survive both moves, and
/// the moved state drives the next plan (no changes).
async fn migrate_through(location: &str) {
    let world = World::start().await;
    let plan = world.plan("quickstart.toml");
    world
        .s2d_ok(&["apply", &plan, "--auto-approve", "-q"], 0)
        .await;
    let original = world.state();
    world
        .s2d_ok(
            &[
                "state",
                "migrate",
                "--state",
                "s2d.state.json",
                "--to",
                location,
            ],
            0,
        )
        .await;
    let remote = pulled(
        &world
            .s2d_ok(&["state", "pull", "--state", location], 0)
            .await,
    );
    assert_eq!(remote.resources, original.resources);
    assert_eq!(remote.lineage, original.lineage);
    world
        .s2d_ok(
            &["plan", &plan, "--state", location, "--detailed-exitcode"],
            0,
        )
        .await;
    // A second migrate onto a place that holds a state is refused.
    world
        .s2d_ok(
            &[
                "state",
                "migrate",
                "--state",
                "s2d.state.json",
                "--to",
                location,
            ],
            1,
        )
        .await;
    world
        .s2d_ok(
            &["state", "migrate", "--state", location, "--to", "back.json"],
            0,
        )
        .await;
    let back = s2d::state::read(&world.path().join("back.json"))
        .expect("reads")
        .expect("exists");
    assert_eq!(back.resources, original.resources);
    assert_eq!(back.lineage, original.lineage);
    world
        .s2d_ok(
            &["destroy", &plan, "--state", "back.json", "--auto-approve"],
            0,
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_migrate_moves_a_file_to_postgres_and_back() {
    migrate_through(&pg_location("migrate")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_migrate_moves_a_file_to_swift_and_back() {
    let _proxy = swift_proxy_share().await;
    migrate_through(&swift_location("migrate")).await;
}

/// No password from a postgres:// URL in anything s2d prints or stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_password_is_never_shown() {
    let world = World::start().await;
    let base = pg_base();
    let with_password = base.replacen("postgres://s2d@", "postgres://s2d:sw0rdfish@", 1);
    let location = format!(
        "{with_password}?name=secret-{}",
        uuid::Uuid::new_v4().simple()
    );
    let out = world
        .s2d_ok(&["state", "pull", "--state", &location], 1)
        .await;
    let text = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    assert!(text.contains("no state at"), "{text}");
    assert!(!text.contains("sw0rdfish"), "{text}");
}

/// Swift: a write over a serial it did not read is refused (the object moved on while this
/// run held the lock: written by hand, or by a run that ignored the lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_write_to_swift_is_refused_by_its_serial() {
    let _env = PROCESS_ENV.lock().await;
    let _proxy = swift_proxy_share().await;
    let world = World::start().await;
    // The library reads clouds.yaml as s2d does: from the process's OS_CLIENT_CONFIG_FILE.
    // SAFETY: no other test of this binary reads the process's OS_* variables (World's
    // commands set their own, World::cloud passes its own ConfigEnv), and the tests that
    // set it hold PROCESS_ENV.
    unsafe { std::env::set_var("OS_CLIENT_CONFIG_FILE", &world.clouds_yaml) };
    let text = swift_location("serial");
    let location: s2d::state::Location = text.parse().expect("location");
    let mut file = s2d::state::StateFile::open_at(&location, "test")
        .await
        .expect("locks");
    file.commit_async().await.expect("first write");
    file.commit_async().await.expect("second write");
    let (container, object) = swift_parts(&text);
    let store = swift_store(&world).await;
    let mut newer = file.state().clone();
    newer.serial = 9;
    store
        .put(
            &container,
            &object,
            serde_json::to_vec(&newer).expect("json").into(),
            &[("s2d-serial", "9".into())],
        )
        .await
        .expect("writes behind the lock");
    let err = file.commit_async().await.expect_err("stale");
    assert!(
        matches!(
            err,
            s2d::state::StateError::Stale {
                expected: 2,
                found: 9,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(file.state().serial, 2, "a refused write leaves the serial");
    file.release().await;
    assert_eq!(
        lock_note(&world, &text).await,
        None,
        "release removes the lock"
    );
}

/// A wave of its own: one server, its own snapshot, image, generated keypair and security
/// group, so that two waves share nothing in the target but the project. (With the source's
/// group names, a wave planned after the other made its `analytics` would adopt that group,
/// and the other's destroy would then be refused: the group is in use by this wave's server.)
fn wave_plan(world: &World, wave: &str) -> String {
    let name = format!("{wave}.toml");
    std::fs::write(
        world.path().join(&name),
        format!(
            "version = 1\n\n[source]\ncloud = \"provider\"\n\n[target]\ncloud = \"hospital\"\n\n\
             [defaults]\nnetwork = \"private\"\nkeypair = {{ create = \"{wave}-key\" }}\n\
             floating_ip = false\n\n[[server]]\nsource = \"ehr-analytics\"\nname = \"{wave}\"\n\
             snapshot = \"{wave}-s2d\"\nsecurity_group = \"{wave}-sg\"\n"
        ),
    )
    .expect("writes the wave");
    name
}

/// Two runners apply two waves at once, each with its own state in one backend: both
/// finish, and each state drives a plan with no changes.
async fn two_waves_at_once(location_of: impl Fn(&str) -> String) {
    let world = World::start().await;
    let waves = ["wave-a", "wave-b"];
    let runs: Vec<(String, String, std::process::Child)> = waves
        .iter()
        .map(|wave| {
            let plan = wave_plan(&world, wave);
            let location = location_of(wave);
            let child = world
                .command(&["apply", &plan, "--state", &location, "--auto-approve", "-q"])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn");
            (plan, location, child)
        })
        .collect();
    let mut finished = Vec::new();
    for (plan, location, child) in runs {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("waits"))
            .await
            .expect("joins");
        assert_eq!(out.status.code(), Some(0), "{plan}: {}", stderr(&out));
        finished.push((plan, location));
    }
    assert!(!world.path().join("s2d.state.json").exists());
    for (plan, location) in &finished {
        world
            .s2d_ok(
                &["plan", plan, "--state", location, "--detailed-exitcode"],
                0,
            )
            .await;
    }
    for (plan, location) in &finished {
        world
            .s2d_ok(
                &["destroy", plan, "--state", location, "--auto-approve", "-q"],
                0,
            )
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_apply_two_waves_at_once_with_states_in_postgres() {
    two_waves_at_once(pg_location).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_apply_two_waves_at_once_with_states_in_swift() {
    let _proxy = swift_proxy_share().await;
    two_waves_at_once(swift_location).await;
}

/// PostgreSQL stopped in the middle of an apply, then started again: the apply waits (no new
/// step starts while the write is refused), writes once the server is back, and finishes;
/// the state matches the cloud (the next plan has no changes). A cluster of its own, since
/// stopping the shared one would fail the other tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_apply_then_restarted_the_apply_finishes() {
    let world = World::start().await;
    let plan = world.plan("quickstart.toml");
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("addr").port()
    };
    let pgdir = tempfile::Builder::new()
        .prefix("s2d-pg-restart")
        .tempdir_in("/tmp")
        .expect("tempdir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(pgdir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/postgres.sh");
    let pg = |args: &[&str]| {
        let out = std::process::Command::new("bash")
            .arg(&script)
            .args(args)
            .output()
            .expect("runs tests/postgres.sh");
        assert!(
            out.status.success(),
            "tests/postgres.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let dir = pgdir.path().display().to_string();
    let port_text = port.to_string();
    pg(&["start", &dir, &port_text]);
    struct Stop<F: Fn()>(F);
    impl<F: Fn()> Drop for Stop<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let _stop = Stop(|| {
        let _ = std::process::Command::new("bash")
            .arg(&script)
            .args(["stop", &dir])
            .output();
    });
    let location = format!("postgres://s2d@127.0.0.1:{port}/s2d?name=restart");
    if world.devcloud.is_some() {
        world
            .faults("hospital", json!({"server_build_s": 3.0}))
            .await;
    }
    let mut first = world
        .command(&["apply", &plan, "--state", &location, "--auto-approve"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pipe = first.stderr.take().expect("stderr");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().expect("lines").push(line);
            }
        })
    };
    // Once the state has been written at least once (the server is in use), stop it.
    poll("the first state write", Duration::from_secs(60), || async {
        let (client, connection) = tokio_postgres::connect(
            &format!("postgres://s2d@127.0.0.1:{port}/s2d"),
            tokio_postgres::NoTls,
        )
        .await
        .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let row = client
            .query_opt("SELECT serial FROM s2d.states WHERE name = 'restart'", &[])
            .await
            .map_err(|e| e.to_string())?;
        match row {
            Some(r) if r.get::<_, i64>(0) > 0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    pg(&["ctl", &dir, &port_text, "stop"]);
    // The apply says it is trying again: the server is away while it wants to write.
    poll(
        "the apply to retry its write",
        Duration::from_secs(60),
        || async {
            let seen = lines.lock().expect("lines").clone();
            if seen.iter().any(|l| l.contains("trying again")) {
                Ok(())
            } else {
                Err(seen.join("\n"))
            }
        },
    )
    .await;
    pg(&["ctl", &dir, &port_text, "start"]);
    let status = tokio::task::spawn_blocking(move || first.wait().expect("waits"))
        .await
        .expect("joins");
    reader.join().expect("reader");
    let all = lines.lock().expect("lines").join("\n");
    assert!(status.success(), "{all}");
    if world.devcloud.is_some() {
        world
            .faults("hospital", json!({"server_build_s": 0.0}))
            .await;
    }
    world
        .s2d_ok(
            &["plan", &plan, "--state", &location, "--detailed-exitcode"],
            0,
        )
        .await;
    world
        .s2d_ok(
            &[
                "destroy",
                &plan,
                "--state",
                &location,
                "--auto-approve",
                "-q",
            ],
            0,
        )
        .await;
}

/// Swift taken away in the middle of an apply, then brought back: the apply waits (no new
/// step starts while the write is refused), writes once Swift answers again, and finishes;
/// the state matches the cloud (the next plan has no changes). On devcloud the object store
/// answers 503 meanwhile (its `object_store_down` knob: a load balancer with no proxy behind
/// it); on the real tier its Swift proxy is stopped (connections refused) and started again
/// by `tests/openstack/swift-proxy.sh`, while no other test uses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swift_stopped_mid_apply_then_restarted_the_apply_finishes() {
    let _proxy = if harness::real_openstack() {
        Some(REAL_SWIFT_PROXY.write().await)
    } else {
        None
    };
    let world = World::start().await;
    let plan = world.plan("quickstart.toml");
    let location = swift_location("restart");
    let (container, object) = swift_parts(&location);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openstack/swift-proxy.sh");
    let proxy = |action: &str| {
        let out = std::process::Command::new("bash")
            .arg(&script)
            .args([action, "hospital"])
            .output()
            .expect("runs tests/openstack/swift-proxy.sh");
        assert!(
            out.status.success(),
            "swift-proxy.sh {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    if world.devcloud.is_some() {
        world
            .faults("hospital", json!({"server_build_s": 3.0}))
            .await;
    }
    let mut first = world
        .command(&["apply", &plan, "--state", &location, "--auto-approve"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pipe = first.stderr.take().expect("stderr");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().expect("lines").push(line);
            }
        })
    };
    // Once the state has been written at least once (Swift is in use), take it away.
    let store = swift_store(&world).await;
    poll("the first state write", Duration::from_secs(60), || async {
        let meta = store
            .head(&container, &object)
            .await
            .map_err(|e| e.to_string())?;
        match meta.as_ref().and_then(|m| m.get("s2d-serial")) {
            Some(serial) if serial != "0" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let started = Instant::now();
    if world.devcloud.is_some() {
        world
            .faults("hospital", json!({"object_store_down": true}))
            .await;
    } else {
        proxy("stop");
    }
    // The apply says it is trying again: Swift is away while it wants to write (after the
    // session's own retries of each request: eight, about 70 s, at most 92 s).
    poll(
        "the apply to retry its write",
        Duration::from_secs(180),
        || async {
            let seen = lines.lock().expect("lines").clone();
            if seen.iter().any(|l| l.contains("trying again")) {
                Ok(())
            } else {
                Err(seen.join("\n"))
            }
        },
    )
    .await;
    if world.devcloud.is_some() {
        world
            .faults("hospital", json!({"object_store_down": false}))
            .await;
    } else {
        proxy("start");
    }
    eprintln!(
        "Swift away for {:.1} s in the middle of the apply",
        started.elapsed().as_secs_f64()
    );
    let status = tokio::task::spawn_blocking(move || first.wait().expect("waits"))
        .await
        .expect("joins");
    reader.join().expect("reader");
    let all = lines.lock().expect("lines").join("\n");
    assert!(status.success(), "{all}");
    assert_eq!(lock_note(&world, &location).await, None, "the lock is left");
    if world.devcloud.is_some() {
        world
            .faults("hospital", json!({"server_build_s": 0.0}))
            .await;
    }
    let state = pulled(
        &world
            .s2d_ok(&["state", "pull", "--state", &location], 0)
            .await,
    );
    assert!(
        state
            .resources
            .keys()
            .any(|a| a.to_string() == "server.ehr-analytics"),
        "{:?}",
        state.resources.keys()
    );
    world
        .s2d_ok(
            &["plan", &plan, "--state", &location, "--detailed-exitcode"],
            0,
        )
        .await;
    world
        .s2d_ok(
            &[
                "destroy",
                &plan,
                "--state",
                &location,
                "--auto-approve",
                "-q",
            ],
            0,
        )
        .await;
}

/// The plan's `[state]` names the backend: apply, plan and destroy need no `--state`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plans_state_table_keeps_its_state_in_postgres() {
    let world = World::start().await;
    let location = pg_location("table");
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/quickstart.toml"),
    )
    .expect("quickstart")
    .replace(
        "[defaults]",
        &format!("[state]\nlocation = \"{location}\"\n\n[defaults]"),
    );
    std::fs::write(world.path().join("shared.toml"), text).expect("plan");
    let before = both(&world).await;
    world
        .s2d_ok(&["apply", "shared.toml", "--auto-approve", "-q"], 0)
        .await;
    assert!(!world.path().join("s2d.state.json").exists());
    let state = pulled(
        &world
            .s2d_ok(&["state", "pull", "--state", &location], 0)
            .await,
    );
    assert!(!state.is_empty());
    world
        .s2d_ok(&["plan", "shared.toml", "--detailed-exitcode"], 0)
        .await;
    // usage --managed reads the plan's state, or the one --state names.
    let server = state
        .resources
        .iter()
        .find(|(a, _)| a.to_string() == "server.ehr-analytics")
        .map(|(_, r)| r.id.clone())
        .expect("the server is recorded");
    for args in [
        vec!["usage", "shared.toml", "--managed", "--json"],
        vec![
            "usage",
            "shared.toml",
            "--managed",
            "--json",
            "--state",
            &location,
        ],
    ] {
        let out = world.s2d_ok(&args, 0).await;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&server), "{args:?}: {text}");
    }
    world
        .s2d_ok(&["destroy", "shared.toml", "--auto-approve", "-q"], 0)
        .await;
    assert_eq!(both(&world).await, before);
}

/// The guarantees every backend gives, checked the same way on each (as Terraform runs one
/// conformance suite over its state managers): one holder at a time, the refused one told
/// who holds it, writes read back whole with their serial, the lock given back on release,
/// force-unlock that names the wrong lock refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_gives_the_same_guarantees() {
    let _env = PROCESS_ENV.lock().await;
    let _proxy = swift_proxy_share().await;
    let world = World::start().await;
    // SAFETY: as in a_stale_write_to_swift_is_refused_by_its_serial (the library reads
    // clouds.yaml from the process's environment; no test here reads OS_* otherwise).
    unsafe { std::env::set_var("OS_CLIENT_CONFIG_FILE", &world.clouds_yaml) };
    let file = world.path().join("conformance.json").display().to_string();
    for text in [
        file,
        pg_location("conformance"),
        swift_location("conformance"),
    ] {
        let location: s2d::state::Location = text.parse().expect("location");
        assert_eq!(
            s2d::state::backend::read(&location).await.expect("reads"),
            None,
            "{text}: a new place holds no state"
        );
        let mut first = s2d::state::StateFile::open_at(&location, "apply")
            .await
            .expect("locks");
        let err = s2d::state::StateFile::open_at(&location, "plan")
            .await
            .expect_err("a second holder is refused");
        let s2d::state::StateError::Locked {
            holder: Some(holder),
            ..
        } = &err
        else {
            panic!("{text}: {err}");
        };
        assert_eq!(holder.pid, std::process::id(), "{text}");
        assert_eq!(holder.operation, "apply", "{text}");
        assert!(
            !holder.id.is_empty() && holder.who.contains('@'),
            "{text}: {holder:?}"
        );
        let help = miette::Diagnostic::help(&err)
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(help.contains("s2d force-unlock"), "{text}: {help}");
        let code = miette::Diagnostic::code(&err).map(|c| c.to_string());
        assert_eq!(code.as_deref(), Some("s2d::state::locked"), "{text}");

        first.state_mut().record(
            "server.web".parse().expect("address"),
            s2d::state::Resource {
                side: s2d::state::Side::Target,
                id: "srv-1".into(),
                origin: s2d::state::Origin::Created,
                attributes: serde_json::Map::new(),
                recorded_at: "2026-12-06T00:00:00Z".into(),
            },
        );
        first.commit_async().await.expect("writes");
        first.commit_async().await.expect("writes again");
        let read = s2d::state::backend::read(&location)
            .await
            .expect("reads")
            .expect("exists");
        assert_eq!(read.serial, 2, "{text}");
        assert_eq!(read, *first.state(), "{text}: read back whole");

        // A force-unlock naming another lock removes nothing.
        let wrong = s2d::state::force_unlock(&location, Some("not-the-id")).await;
        assert!(wrong.is_err(), "{text}: {wrong:?}");
        first.release().await;
        let again = s2d::state::StateFile::open_at(&location, "plan")
            .await
            .expect("free once released");
        assert_eq!(again.state().serial, 2, "{text}");
        again.release().await;
        assert_eq!(
            s2d::state::force_unlock(&location, None)
                .await
                .map_err(|e| e.to_string()),
            Ok(s2d::state::ForceUnlockOutcome::NotLocked),
            "{text}: nothing left locked"
        );
    }
}
