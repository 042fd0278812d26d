//! Errors that teach, as a user sees them: the rendered diagnostic (message, stable code,
//! help) and its `--json` form, for a wrong password, an unknown clouds.yaml entry and a state
//! locked by another process (the real `s2d` binary against devcloud), and for a 409 and a
//! quota refusal from the target (the cloud's errors as s2d renders them).
//!
//! The expected texts are in `tests/snapshots/diagnostics/`; variable parts (ports, paths,
//! pids, times, request ids) are replaced by placeholders before comparing. After an
//! intended change, `S2D_UPDATE_SNAPSHOTS=1 cargo test --test diagnostics` rewrites them.

#[path = "e2e/harness.rs"]
mod harness;

use std::path::Path;

use devcloud::Options;
use harness::World;
use s2d::cloud::{Error, Service};
use serde_json::Value;

/// Compare `actual` with the snapshot `name` (or write it when asked to).
fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/diagnostics")
        .join(format!("{name}.txt"));
    if std::env::var_os("S2D_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (S2D_UPDATE_SNAPSHOTS=1 writes it)", path.display()));
    assert_eq!(
        actual, expected,
        "\n--- snapshot {name} differs; actual:\n{actual}\n--- expected:\n{expected}"
    );
}

/// Replace what changes from run to run.
fn normalize(text: &str, world: &World) -> String {
    let mut out = text.replace(&world.path().display().to_string(), "[DIR]");
    // http://127.0.0.1:PORT
    while let Some(at) = out.find("127.0.0.1:") {
        let rest = &out[at + 10..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        out = format!("{}[HOST]{}", &out[..at], &rest[digits..]);
    }
    let out = replace_runs(&out, "req-", "[REQUEST-ID]", |c| {
        c.is_ascii_alphanumeric() || c == '-'
    });
    let out = replace_runs(&out, "since ", "since [TIME]", |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.' | '+')
    });
    // "pid 12345" -> "pid [PID]"
    let mut result = String::new();
    let mut rest = out.as_str();
    while let Some(at) = rest.find("pid ") {
        result.push_str(&rest[..at + 4]);
        let after = &rest[at + 4..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            result.push_str("[PID]");
        }
        rest = &after[digits..];
    }
    result.push_str(rest);
    result
}

/// Every `prefix` followed by characters that `more` accepts, replaced by `with`.
fn replace_runs(text: &str, prefix: &str, with: &str, more: impl Fn(char) -> bool) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at]);
        out.push_str(with);
        let after = &rest[at + prefix.len()..];
        let len: usize = after
            .chars()
            .take_while(|c| more(*c))
            .map(char::len_utf8)
            .sum();
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn world() -> World {
    World::devcloud(Options {
        image_size: 1 << 20,
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_names_the_entry_to_check() {
    let world = world().await;
    let plan = world.plan("quickstart.toml");
    let yaml = std::fs::read_to_string(&world.clouds_yaml).expect("clouds.yaml");
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).expect("yaml");
    doc["clouds"]["hospital"]["auth"]["password"] = "not-the-password".into();
    std::fs::write(
        &world.clouds_yaml,
        serde_yaml_ng::to_string(&doc).expect("yaml"),
    )
    .expect("write");

    let out = world.s2d_ok(&["plan", &plan], 1).await;
    let text = normalize(&stderr(&out), &world);
    assert!(!text.contains("not-the-password"), "{text}");
    assert!(text.contains("s2d::auth::rejected"), "{text}");
    snapshot("wrong-password", &text);

    let out = world.s2d_ok(&["plan", &plan, "--json"], 1).await;
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON error on stdout");
    assert_eq!(json["error"]["code"], "s2d::auth::rejected");
    assert!(
        json["error"]["help"]
            .as_str()
            .is_some_and(|h| h.contains("`hospital`") && h.contains("secure.yaml")),
        "{json:#}"
    );
    assert!(!out.stdout.windows(16).any(|w| w == b"not-the-password"));
    snapshot(
        "wrong-password.json",
        &normalize(&serde_json::to_string_pretty(&json).expect("json"), &world),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_clouds_yaml_entry_lists_the_known_ones() {
    let world = world().await;
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/quickstart.toml"),
    )
    .expect("plan")
    .replace("cloud = \"hospital\"", "cloud = \"hopsital\"");
    std::fs::write(world.path().join("typo.toml"), text).expect("write");
    let out = world.s2d_ok(&["plan", "typo.toml"], 1).await;
    let text = normalize(&stderr(&out), &world);
    assert!(text.contains("s2d::config::unknown_cloud"), "{text}");
    snapshot("unknown-cloud", &text);

    let out = world.s2d_ok(&["apply", "typo.toml", "--json"], 1).await;
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON error on stdout");
    assert_eq!(json["error"]["code"], "s2d::config::unknown_cloud");
    snapshot(
        "unknown-cloud.json",
        &normalize(&serde_json::to_string_pretty(&json).expect("json"), &world),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_state_names_its_holder_and_force_unlock() {
    let world = world().await;
    let plan = world.plan("quickstart.toml");
    // This test process holds the state's lock, as another `s2d apply` would.
    let state_path = world.path().join("s2d.state.json");
    let _held = s2d::state::StateFile::open(&state_path, "apply").expect("lock");
    let note: s2d::state::LockInfo = serde_json::from_str(
        &std::fs::read_to_string(world.path().join("s2d.state.json.lock")).expect("lock note"),
    )
    .expect("lock note JSON");
    // The lock's id and its holder's user@host differ from run to run and machine to machine.
    let holder = |text: String| {
        text.replace(&note.id, "[LOCK-ID]")
            .replace(&note.who, "[USER]@[HOST]")
    };

    let out = world.s2d_ok(&["plan", &plan], 1).await;
    let text = holder(normalize(&stderr(&out), &world));
    assert!(text.contains("s2d::state::locked"), "{text}");
    assert!(text.contains("force-unlock"), "{text}");
    snapshot("state-locked", &text);

    let out = world.s2d_ok(&["plan", &plan, "--json"], 1).await;
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON error on stdout");
    assert_eq!(json["error"]["code"], "s2d::state::locked");
    assert!(
        json["error"]["help"]
            .as_str()
            .is_some_and(|h| h.contains(&format!(
                "`s2d force-unlock --state s2d.state.json {}`",
                note.id
            ))),
        "{json:#}"
    );
    snapshot(
        "state-locked.json",
        &holder(normalize(
            &serde_json::to_string_pretty(&json).expect("json"),
            &world,
        )),
    );
}

/// The target's refusals as the CLI renders them (the cloud's own error bodies, decoded by
/// `cloud::error`): a 409 and a quota refusal each get their code and help.
#[test]
fn a_conflict_and_a_quota_refusal_say_what_to_do() {
    let conflict = Error::Api {
        cloud: "hospital".into(),
        service: Service::Network,
        method: "POST".into(),
        url: "https://hospital.example:9696/v2.0/security-groups".into(),
        status: 409,
        message: "Security group default already exists for project p-1".into(),
        request_id: Some("req-5a1e".into()),
    };
    let quota = Error::Api {
        cloud: "hospital".into(),
        service: Service::Compute,
        method: "POST".into(),
        url: "https://hospital.example:8774/v2.1/servers".into(),
        status: 403,
        message: "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"
            .into(),
        request_id: Some("req-9c0d".into()),
    };
    for (name, error) in [("conflict", conflict), ("quota", quota)] {
        let err = anyhow::Error::new(error).context("connecting to the clouds");
        let taught = s2d::workflow::teach(err.as_ref());
        snapshot(name, &s2d::cli::report::human(&taught, false, None));
        snapshot(&format!("{name}.json"), &s2d::cli::report::json(&taught));
    }
}
