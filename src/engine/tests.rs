//! Engine scenarios against the scripted fake: plan, apply, re-plan, destroy, failures,
//! crashes, adoption, drift, sharing, `--target` and timing.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use super::fake::{Contents, FakeCloud, Script, fingerprint};
use super::*;
use crate::graph::{
    Address, Desired, DesiredImage, DesiredServer, FloatingIpChoice, GroupChoice, KeypairChoice,
    KeypairMode,
};
use crate::state::{Origin, StateFile};
/// Apply options as the CLI's defaults give them.
fn options() -> ApplyOptions {
    ApplyOptions::new(
        10,
        4,
        Timeouts {
            snapshot: Duration::from_secs(30 * 60),
            image: Duration::from_secs(60 * 60),
            server: Duration::from_secs(15 * 60),
            delete: Duration::from_secs(10 * 60),
            volume: Duration::from_secs(60 * 60),
            quota: Duration::from_secs(15 * 60),
            settle: Duration::from_millis(500),
        },
    )
}

/// Plan options for the fake: a create whose answer was lost (the fake's crash) is waited
/// for half a second, not a minute.
fn quick() -> PlanOptions {
    PlanOptions {
        settle: Duration::from_millis(500),
        ..PlanOptions::default()
    }
}

// The diff and report as a user reads them: the engine's data rendered by the CLI.
use crate::cli::render;

fn server(name: &str, keypair: &str, group: GroupChoice) -> DesiredServer {
    DesiredServer {
        source: name.into(),
        name: name.into(),
        snapshot_name: format!("s2d-{name}"),
        image: DesiredImage {
            name: format!("{name}-image"),
            disk_format: None,
            visibility: "private".into(),
            transfer: Default::default(),
            properties: Default::default(),
            drop_properties: Vec::new(),
        },
        flavor: None,
        volumes: Default::default(),
        nics: crate::graph::DesiredNics {
            shorthand: Some("private".into()),
            ..Default::default()
        },
        keypair: KeypairChoice {
            mode: KeypairMode::Import,
            name: keypair.into(),
        },
        security_group: group,
        floating_ip: FloatingIpChoice::Pool("public".into()),
        availability_zone: None,
        zones: Default::default(),
        server_group: Default::default(),
        user_data: None,
    }
}

fn quickstart() -> Desired {
    Desired {
        servers: vec![server("web", "alice", GroupChoice::Named("web".into()))],
        fleets: Vec::new(),
        networks: Vec::new(),
    }
}

fn shared(names: &[&str]) -> Desired {
    Desired {
        networks: Vec::new(),
        servers: names
            .iter()
            .map(|n| server(n, "alice", GroupChoice::Default))
            .collect(),
        fleets: Vec::new(),
    }
}

struct Env {
    cloud: Arc<FakeCloud>,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Env {
    fn new(names: &[&str], script: Script) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s2d.state.json");
        Env {
            cloud: Arc::new(FakeCloud::new(names, script)),
            _dir: dir,
            path,
        }
    }

    fn state(&self) -> StateFile {
        StateFile::open(&self.path, "test").expect("state opens")
    }

    async fn plan(&self, desired: &Desired) -> PlanOutcome {
        let file = self.state();
        diff(self.cloud.as_ref(), desired, file.state(), &quick())
            .await
            .expect("plans")
    }

    async fn apply_with(&self, desired: &Desired, options: &ApplyOptions) -> ApplyReport {
        let mut file = self.state();
        let planned = diff(self.cloud.as_ref(), desired, file.state(), &quick())
            .await
            .expect("plans");
        apply(self.cloud.clone(), &planned, &mut file, options)
            .await
            .expect("applies")
    }

    async fn apply(&self, desired: &Desired) -> ApplyReport {
        self.apply_with(desired, &options()).await
    }

    async fn destroy(&self) -> ApplyReport {
        let mut file = self.state();
        destroy(self.cloud.clone(), &mut file, &[], &options()).await
    }
}

fn actions(plan: &PlanOutcome) -> BTreeMap<String, String> {
    plan.changes
        .iter()
        .map(|c| (c.address.to_string(), c.action.verb().to_string()))
        .collect()
}

/// The target holds exactly one of everything for one server in group `group` (and the source
/// one snapshot beside the base image its servers were booted from).
fn assert_one_copy(contents: &Contents, group: &str, extra_rules: usize) {
    assert_eq!(
        contents.source_images.len(),
        2,
        "{:?}",
        contents.source_images
    );
    assert_eq!(contents.images.len(), 1, "{:?}", contents.images);
    assert_eq!(contents.servers.len(), 1, "{:?}", contents.servers);
    assert_eq!(
        contents.floating_ips.len(),
        1,
        "{:?}",
        contents.floating_ips
    );
    assert_eq!(contents.keypairs.len(), 1, "{:?}", contents.keypairs);
    let groups: Vec<_> = contents
        .groups
        .values()
        .filter(|g| g.name == group)
        .collect();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(
        groups[0].rules.len(),
        2 + extra_rules,
        "{:?}",
        groups[0].rules
    );
}

#[tokio::test]
async fn quickstart_plans_applies_replans_clean_and_destroys_to_the_start() {
    let env = Env::new(&["web"], Script::default());
    let before = env.cloud.contents();
    let planned = env.plan(&quickstart()).await;
    let creations = planned
        .changes
        .iter()
        .filter(|c| c.action == Action::Create)
        .count();
    assert_eq!(creations, 8, "{:#?}", actions(&planned));
    let text = render::render_plan(&planned, render::Style::default());
    assert!(
        text.ends_with("Plan: 8 to add, 0 to change, 0 to destroy.\n"),
        "{text}"
    );
    assert!(
        text.contains("  + server.web {\n      flavor = \"m1.small\"\n"),
        "{text}"
    );

    let report = env.apply(&quickstart()).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    let contents = env.cloud.contents();
    assert_one_copy(&contents, "web", 2);
    let snapshot = contents.source_images.values().next().expect("snapshot");
    let image = contents.images.values().next().expect("image");
    assert_eq!(image.status, "active");
    assert_eq!(
        image.checksum, snapshot.checksum,
        "image bytes are the snapshot's"
    );
    let keypair = &contents.keypairs["alice"];
    assert_eq!(
        keypair.fingerprint,
        fingerprint("ssh-ed25519 AAAAC3Nza alice@laptop")
    );
    let server = contents.servers.values().next().expect("server");
    assert_eq!(server.status, "ACTIVE");
    assert_eq!(server.flavor_id, "f-small");
    let fip = contents.floating_ips.values().next().expect("fip");
    assert_eq!(fip.server_id.as_deref(), Some(server.id.as_str()));

    let calls_before = env.cloud.calls().len();
    let again = env.plan(&quickstart()).await;
    assert!(again.is_empty(), "{:#?}", actions(&again));
    let replan_calls = &env.cloud.calls()[calls_before..];
    // Planning reads each kind of both clouds once, with a list call, whatever the plan holds.
    let mut kinds: Vec<&str> = replan_calls
        .iter()
        .map(|c| c.split('(').next().unwrap_or(c))
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "source_images",
            "source_networks",
            "source_servers",
            "target_flavors",
            "target_floating_ips",
            "target_images",
            "target_keypairs",
            "target_net_inventory",
            "target_networks",
            "target_quota",
            "target_security_groups",
            "target_server_groups",
            "target_servers",
        ],
        "planning only lists, once per kind: {replan_calls:?}"
    );
    assert_eq!(
        render::render_plan(&again, render::Style::default()),
        "No changes. The target matches the plan.\n"
    );

    let file = env.state();
    let rows = overview(env.cloud.as_ref(), file.state(), Some(&report))
        .await
        .expect("overview");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "ACTIVE");
    assert_eq!(rows[0].floating_ips, vec![fip.address.clone()]);
    assert_eq!(rows[0].steps.len(), 4, "{:?}", rows[0].steps);
    let table = render::render_overview(&rows);
    assert!(table.starts_with("SERVER  ID"), "{table}");
    assert!(table.contains(&fip.address), "{table}");
    drop(file);

    let gone = env.destroy().await;
    assert!(gone.succeeded(), "{}", render::render_report(&gone));
    assert_eq!(env.cloud.contents(), before);
    assert!(env.state().state().is_empty());
}

#[tokio::test]
async fn a_failure_skips_its_dependents_and_a_rerun_continues() {
    let env = Env::new(
        &["web"],
        Script {
            fail: BTreeMap::from([("target_create_rule", "quota exceeded".to_string())]),
            ..Script::default()
        },
    );
    let report = env.apply(&quickstart()).await;
    assert!(!report.succeeded());
    let status: BTreeMap<String, NodeStatus> = report
        .nodes
        .iter()
        .map(|n| (n.address.to_string(), n.status.clone()))
        .collect();
    assert!(
        matches!(&status["security_group_rule.web[0]"], NodeStatus::Failed { message, .. } if message.contains("quota exceeded"))
    );
    assert!(matches!(&status["server.web"], NodeStatus::Skipped { .. }));
    assert!(matches!(
        &status["floating_ip.web"],
        NodeStatus::Skipped { .. }
    ));
    for done in [
        "snapshot.s2d-web",
        "image.web-image",
        "keypair.alice",
        "security_group.web",
    ] {
        assert_eq!(status[done], NodeStatus::Done, "{done}");
    }
    let summary = render::render_report(&report);
    assert!(
        summary.contains("failed: security_group_rule.web[0]: target_create_rule: quota exceeded"),
        "{summary}"
    );
    assert!(
        summary.contains("4 succeeded, 2 failed, 2 skipped"),
        "{summary}"
    );

    env.cloud.script(|s| s.fail.clear());
    let next = env.plan(&quickstart()).await;
    let acts = actions(&next);
    assert_eq!(acts["image.web-image"], "no-op");
    assert_eq!(acts["server.web"], "create");
    let report = env.apply(&quickstart()).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    assert_one_copy(&env.cloud.contents(), "web", 2);
}

#[tokio::test]
async fn a_server_in_error_is_reported_with_its_fault_and_replaced_next_time() {
    let env = Env::new(
        &["web"],
        Script {
            error_servers: BTreeMap::from([("web".to_string(), "No valid host was found.".into())]),
            ..Script::default()
        },
    );
    let report = env.apply(&quickstart()).await;
    let failed = report
        .nodes
        .iter()
        .find(|n| n.address.to_string() == "server.web")
        .expect("server node");
    assert!(
        matches!(&failed.status, NodeStatus::Failed { message, .. } if message.contains("No valid host was found.")),
        "{failed:?}"
    );
    env.cloud.script(|s| s.error_servers.clear());
    let next = env.plan(&quickstart()).await;
    let server = next
        .changes
        .iter()
        .find(|c| c.address.to_string() == "server.web")
        .expect("server change");
    assert!(
        matches!(&server.action, Action::Replace { reason, .. } if reason.contains("No valid host")),
        "{server:?}"
    );
    let report = env.apply(&quickstart()).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    assert_one_copy(&env.cloud.contents(), "web", 2);
    assert!(env.destroy().await.succeeded());
}

/// Kill -9 after each mutation in turn: the cloud made the resource, the state never heard of
/// it. The next apply adopts it by marker (or by the pending placeholder for keypairs), makes no
/// duplicate, and destroy leaves the clouds as they were.
#[tokio::test]
async fn a_crash_after_any_mutation_converges_without_duplicates() {
    let probe = Env::new(&["web"], Script::default());
    assert!(probe.apply(&quickstart()).await.succeeded());
    let total = probe.cloud.mutations();
    assert!(total >= 9, "{total}");
    for crash_at in 1..=total {
        let env = Env::new(
            &["web"],
            Script {
                crash_after: Some(crash_at),
                ..Script::default()
            },
        );
        let before = env.cloud.contents();
        let report = env.apply(&quickstart()).await;
        assert!(!report.succeeded(), "crash at {crash_at} went unnoticed");
        env.cloud.script(|_| {}); // the next process
        let report = env.apply(&quickstart()).await;
        assert!(
            report.succeeded(),
            "crash at {crash_at}: {}",
            render::render_report(&report)
        );
        assert_one_copy(&env.cloud.contents(), "web", 2);
        assert!(
            env.plan(&quickstart()).await.is_empty(),
            "crash at {crash_at}: not converged"
        );
        let gone = env.destroy().await;
        assert!(
            gone.succeeded(),
            "crash at {crash_at}: {}",
            render::render_report(&gone)
        );
        assert_eq!(
            env.cloud.contents(),
            before,
            "crash at {crash_at}: leftovers"
        );
    }
}

/// A create the cloud was still carrying out when s2d died shows in the lists only after the
/// next run has read them (Nova's `POST /servers` and `createImage` ask other services before
/// they answer). Its pending record makes the next apply wait for it and adopt it, with no
/// second server, snapshot or image; and a destroy right after the crash finds it by its
/// marker and deletes it.
#[tokio::test]
async fn a_create_cut_off_mid_request_is_waited_for_not_made_twice() {
    let probe = Env::new(&["web"], Script::default());
    assert!(probe.apply(&quickstart()).await.succeeded());
    let log = probe.cloud.mutation_log();
    // The crash point of each create of a kind that may show late.
    let creates: Vec<(String, usize)> = log
        .iter()
        .enumerate()
        .filter(|(_, call)| {
            matches!(
                call.as_str(),
                "source_create_snapshot" | "target_create_image" | "target_create_server"
            )
        })
        .map(|(i, call)| (call.clone(), i + 1))
        .collect();
    assert_eq!(creates.len(), 3, "{log:?}");
    for (call, crash_at) in creates {
        for destroy_at_once in [false, true] {
            let env = Env::new(
                &["web"],
                Script {
                    crash_after: Some(crash_at),
                    crash_shows_after: Duration::from_millis(300),
                    ..Script::default()
                },
            );
            let before = env.cloud.contents();
            let report = env.apply(&quickstart()).await;
            assert!(!report.succeeded(), "{call}: the crash went unnoticed");
            env.cloud.script(|_| {}); // the next process, at once
            if destroy_at_once {
                let gone = env.destroy().await;
                assert!(gone.succeeded(), "{call}: {}", render::render_report(&gone));
                assert_eq!(
                    env.cloud.contents(),
                    before,
                    "{call}: destroy left it behind"
                );
                continue;
            }
            let report = env.apply(&quickstart()).await;
            assert!(
                report.succeeded(),
                "{call}: {}",
                render::render_report(&report)
            );
            assert_one_copy(&env.cloud.contents(), "web", 2);
            assert!(
                env.plan(&quickstart()).await.is_empty(),
                "{call}: not converged"
            );
            let gone = env.destroy().await;
            assert!(gone.succeeded(), "{call}: {}", render::render_report(&gone));
            assert_eq!(env.cloud.contents(), before, "{call}: leftovers");
        }
    }
}

#[tokio::test]
async fn a_keypair_with_another_fingerprint_is_a_conflict_naming_both() {
    let env = Env::new(&["web"], Script::default());
    env.cloud.edit(|c| {
        c.keypairs.insert(
            "alice".into(),
            super::port::Keypair {
                name: "alice".into(),
                public_key: "ssh-rsa OTHER".into(),
                fingerprint: fingerprint("ssh-rsa OTHER"),
            },
        );
    });
    let file = env.state();
    let err = diff(env.cloud.as_ref(), &quickstart(), file.state(), &quick())
        .await
        .expect_err("conflict");
    let message = err.to_string();
    assert!(
        message.contains(&fingerprint("ssh-rsa OTHER"))
            && message.contains(&fingerprint("ssh-ed25519 AAAAC3Nza alice@laptop"))
            && message.starts_with("keypair.alice: "),
        "{message}"
    );
}

#[tokio::test]
async fn an_existing_keypair_with_the_same_fingerprint_is_adopted_and_never_deleted() {
    let env = Env::new(&["web"], Script::default());
    let key = "ssh-ed25519 AAAAC3Nza alice@laptop";
    env.cloud.edit(|c| {
        c.keypairs.insert(
            "alice".into(),
            super::port::Keypair {
                name: "alice".into(),
                public_key: key.into(),
                fingerprint: fingerprint(key),
            },
        );
    });
    let before = env.cloud.contents();
    let planned = env.plan(&quickstart()).await;
    let keypair = planned
        .changes
        .iter()
        .find(|c| c.address.to_string() == "keypair.alice")
        .expect("keypair");
    assert_eq!(keypair.action, Action::Adopt { id: "alice".into() });
    assert_eq!(keypair.origin, Origin::Adopted);
    let text = render::render_plan(&planned, render::Style::default());
    assert!(text.contains("  <= keypair.alice {"), "{text}");
    assert!(
        text.contains("7 to add, 0 to change, 0 to destroy, 1 to adopt."),
        "{text}"
    );
    assert!(env.apply(&quickstart()).await.succeeded());
    assert!(env.destroy().await.succeeded());
    assert_eq!(env.cloud.contents(), before, "the adopted keypair stays");
}

#[tokio::test]
async fn drift_is_planned_and_repaired() {
    let env = Env::new(&["web"], Script::default());
    assert!(env.apply(&quickstart()).await.succeeded());
    // By hand: one rule deleted, the server deleted.
    env.cloud.edit(|c| {
        let group = c
            .groups
            .values_mut()
            .find(|g| g.name == "web")
            .expect("group");
        let port22 = group
            .rules
            .iter()
            .position(|r| r.rule.port_min == Some(22))
            .expect("rule");
        group.rules.remove(port22);
        let id = c.servers.keys().next().cloned().expect("server");
        c.servers.remove(&id);
        for fip in c.floating_ips.values_mut() {
            fip.server_id = None;
            fip.port_id = None;
        }
    });
    let planned = env.plan(&quickstart()).await;
    let acts = actions(&planned);
    assert_eq!(acts["security_group_rule.web[0]"], "create");
    assert_eq!(acts["server.web"], "create");
    assert_eq!(acts["floating_ip.web"], "update");
    assert_eq!(acts["image.web-image"], "no-op");
    let rule = planned
        .changes
        .iter()
        .find(|c| c.address.to_string() == "security_group_rule.web[0]")
        .expect("rule");
    assert_eq!(rule.reason.as_deref(), Some("deleted outside s2d"));
    assert_eq!(
        planned.summary,
        Summary {
            add: 2,
            change: 1,
            destroy: 0,
            adopt: 0
        }
    );
    let report = env.apply(&quickstart()).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    assert_one_copy(&env.cloud.contents(), "web", 2);
    assert!(env.plan(&quickstart()).await.is_empty());
}

#[tokio::test]
async fn servers_share_one_keypair_and_the_default_group_which_destroy_restores() {
    let env = Env::new(&["a", "b"], Script::default());
    let before = env.cloud.contents();
    let desired = shared(&["a", "b"]);
    let planned = env.plan(&desired).await;
    let acts = actions(&planned);
    assert_eq!(acts["keypair.alice"], "create");
    assert_eq!(acts["security_group.default"], "adopt");
    assert_eq!(acts["security_group_rule.default[0]"], "create");
    assert_eq!(acts["security_group_rule.default[1]"], "create");
    assert_eq!(acts.len(), 2 * 4 + 1 + 1 + 2, "{acts:#?}");
    let report = env.apply(&desired).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    let contents = env.cloud.contents();
    assert_eq!(contents.servers.len(), 2);
    assert_eq!(contents.keypairs.len(), 1);
    assert_eq!(contents.groups.len(), 1);
    assert_eq!(contents.groups["sg-default"].rules.len(), 3 + 2);
    assert!(env.plan(&desired).await.is_empty());

    // Dropping a server from the plan deletes its resources only.
    let fewer = shared(&["a"]);
    let planned = env.plan(&fewer).await;
    let acts = actions(&planned);
    for gone in [
        "server.b",
        "image.b-image",
        "snapshot.s2d-b",
        "floating_ip.b",
    ] {
        assert_eq!(acts[gone], "delete", "{gone}");
    }
    assert_eq!(planned.summary.destroy, 4);
    let report = env.apply(&fewer).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    assert_eq!(env.cloud.contents().servers.len(), 1);

    assert!(env.destroy().await.succeeded());
    assert_eq!(
        env.cloud.contents(),
        before,
        "only the rules s2d added are removed"
    );
}

#[tokio::test]
async fn target_limits_the_plan_to_a_server_and_its_dependencies() {
    let env = Env::new(&["a", "b"], Script::default());
    let file = env.state();
    let planned = diff(
        env.cloud.as_ref(),
        &shared(&["a", "b"]),
        file.state(),
        &PlanOptions {
            targets: vec!["server.a".parse().expect("address")],
            ..quick()
        },
    )
    .await
    .expect("plans");
    let addresses: Vec<String> = planned
        .changes
        .iter()
        .map(|c| c.address.to_string())
        .collect();
    assert_eq!(
        addresses,
        [
            "snapshot.s2d-a",
            "image.a-image",
            "keypair.alice",
            "security_group.default",
            "security_group_rule.default[0]",
            "security_group_rule.default[1]",
            "server.a"
        ]
    );
    let err = diff(
        env.cloud.as_ref(),
        &shared(&["a", "b"]),
        file.state(),
        &PlanOptions {
            targets: vec!["server.zzz".parse().expect("address")],
            ..quick()
        },
    )
    .await
    .expect_err("unknown target");
    assert!(err.to_string().contains("server.zzz"), "{err}");
}

#[tokio::test]
async fn a_saved_plan_is_refused_once_the_state_has_moved_on() {
    let env = Env::new(&["web"], Script::default());
    assert!(env.apply(&quickstart()).await.succeeded());
    env.cloud.edit(|c| c.servers.clear());
    let saved = env.plan(&quickstart()).await;
    let json = serde_json::to_string(&saved).expect("serializes");
    let saved: PlanOutcome = serde_json::from_str(&json).expect("round-trips");
    assert_eq!(saved.format_version, PLAN_FORMAT_VERSION);
    // Something else writes the state in between.
    {
        let mut file = env.state();
        file.commit().expect("commits");
    }
    let mut file = env.state();
    let err = apply(env.cloud.clone(), &saved, &mut file, &options())
        .await
        .expect_err("stale");
    assert!(matches!(err, ApplyError::Stale { .. }), "{err}");
    drop(file);
    // A fresh saved plan applies exactly as planned.
    let saved = env.plan(&quickstart()).await;
    let mut file = env.state();
    let report = apply(env.cloud.clone(), &saved, &mut file, &options())
        .await
        .expect("applies");
    assert!(report.succeeded());
}

#[tokio::test]
async fn events_report_every_node_and_every_state_write() {
    let env = Env::new(&["web"], Script::default());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let options = ApplyOptions {
        events: Some(tx),
        ..options()
    };
    let report = env.apply_with(&quickstart(), &options).await;
    assert!(report.succeeded());
    drop(options);
    let mut started = 0;
    let mut finished = 0;
    let mut saved = 0;
    let mut transfer = 0;
    while let Some(event) = rx.recv().await {
        match event {
            Event::Started { .. } => started += 1,
            Event::Finished { .. } => finished += 1,
            Event::StateSaved { .. } => saved += 1,
            Event::Transfer { .. } => transfer += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((started, finished, transfer), (8, 8, 1));
    // One write per node, plus a pending placeholder before each create whose answer may be
    // lost and show late or only by name: the keypair, the snapshot, the image, the server.
    assert_eq!(saved, 12);
}

/// A create refused for a quota waits and goes again (a refusal made nothing): the server
/// is made once, the wait is told once, and the apply finishes.
#[tokio::test(start_paused = true)]
async fn a_quota_refusal_waits_and_the_create_goes_again() {
    let env = Env::new(
        &["web"],
        Script {
            quota_refusals: BTreeMap::from([("target_create_server", 3)]),
            ..Script::default()
        },
    );
    let before = env.cloud.contents();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let options = ApplyOptions {
        events: Some(tx),
        ..options()
    };
    let report = env.apply_with(&quickstart(), &options).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    drop(options);
    let mut waits = Vec::new();
    while let Some(event) = rx.recv().await {
        if let Event::WaitingForQuota {
            address, limit_s, ..
        } = event
        {
            waits.push((address.to_string(), limit_s));
        }
    }
    assert_eq!(waits, vec![("server.web".to_string(), 15 * 60)]);
    let creates = env
        .cloud
        .calls()
        .iter()
        .filter(|c| c.starts_with("target_create_server("))
        .count();
    assert_eq!(creates, 4);
    assert_eq!(env.cloud.contents().servers.len(), 1);
    assert!(env.destroy().await.succeeded());
    assert_eq!(env.cloud.contents(), before);
}

/// A quota that does not free up within `timeouts.quota`: the node fails with the quota's
/// code and says how long it waited; its dependents are skipped.
#[tokio::test(start_paused = true)]
async fn a_quota_wait_is_bounded() {
    let env = Env::new(
        &["web"],
        Script {
            quota_refusals: BTreeMap::from([("target_allocate_floating_ip", usize::MAX)]),
            ..Script::default()
        },
    );
    let mut options = options();
    options.timeouts.quota = Duration::from_secs(40);
    let started = tokio::time::Instant::now();
    let report = env.apply_with(&quickstart(), &options).await;
    let waited = started.elapsed();
    let failed = report
        .nodes
        .iter()
        .find(|n| n.address.to_string() == "floating_ip.web")
        .expect("the floating IP's node");
    match &failed.status {
        NodeStatus::Failed { message, diagnosis } => {
            assert_eq!(diagnosis.code, "s2d::cloud::quota");
            assert!(
                message.contains("still refused after waiting 40s for the quota"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(waited >= Duration::from_secs(40), "{waited:?}");
    assert!(waited < Duration::from_secs(60), "{waited:?}");
}

/// 20 servers with latency: the parallel apply stays close to the critical path, and is far
/// faster than one node at a time.
#[tokio::test(start_paused = true)]
async fn parallel_apply_runs_close_to_the_critical_path() {
    let names: Vec<String> = (0..20).map(|i| format!("s{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let script = Script {
        latency: Duration::from_millis(200),
        ready_after: Duration::from_secs(2),
        transfer_time: Duration::from_secs(5),
        ..Script::default()
    };
    let l = script.latency;
    let r = script.ready_after;
    // snapshot: create + wait; image: create + upload + wait; server: create + wait;
    // floating IP: allocate + associate.
    let critical = (l + l + r) + (l + l + script.transfer_time + l + r) + (l + l + r) + (l + l);
    let desired = shared(&refs);
    let mut totals = Vec::new();
    for (parallelism, transfers) in [(20, 20), (1, 20), (10, 4)] {
        let env = Env::new(&refs, script.clone());
        let options = ApplyOptions {
            parallelism: NonZeroUsize::new(parallelism).expect("non-zero"),
            transfers: NonZeroUsize::new(transfers).expect("non-zero"),
            snapshots: NonZeroUsize::new(parallelism).expect("non-zero"),
            ..options()
        };
        let report = env.apply_with(&desired, &options).await;
        assert!(report.succeeded(), "{}", render::render_report(&report));
        totals.push(Duration::from_millis(report.total_ms));
        eprintln!(
            "parallelism {parallelism}, transfers {transfers}: {:?} ({:.2}x the critical path)",
            totals[totals.len() - 1],
            report.total_ms as f64 / critical.as_millis() as f64
        );
    }
    let (parallel, serial) = (totals[0], totals[1]);
    let ratio_critical = parallel.as_secs_f64() / critical.as_secs_f64();
    let ratio_serial = serial.as_secs_f64() / parallel.as_secs_f64();
    eprintln!(
        "critical path {critical:?}, parallel {parallel:?} ({ratio_critical:.2}x the critical \
         path), parallelism 1 {serial:?} ({ratio_serial:.1}x slower)"
    );
    assert!(
        ratio_critical <= 1.5,
        "parallel {parallel:?} vs critical path {critical:?}"
    );
    // Parallelism bounds the nodes making calls at once; waits (snapshots, uploads, boots)
    // give their slot back. So at parallelism 1 every call of the 20 chains is made one after
    // the other (at least the 5 creating calls of each of the 20 chains: snapshot, image,
    // server, floating IP allocate and associate), and the waits still overlap.
    let calls = 20 * 5;
    assert!(
        serial >= l * calls,
        "serial {serial:?} is shorter than {calls} calls one after the other"
    );
    assert!(
        ratio_serial >= 1.5,
        "serial {serial:?} vs parallel {parallel:?}"
    );
}

#[test]
fn a_multi_line_update_renders_as_a_unified_diff() {
    let change = Change {
        address: Address::Keypair {
            name: "alice".into(),
        },
        action: Action::Update {
            id: "alice".into(),
            changes: vec![AttrChange {
                name: "public_key".into(),
                before: serde_json::json!("line one\nline two\n"),
                after: serde_json::json!("line one\nline 2\n"),
            }],
        },
        reason: None,
        origin: Origin::Created,
        before: None,
        after: None,
        node: None,
        depends_on: vec![],
    };
    let plan = PlanOutcome {
        format_version: PLAN_FORMAT_VERSION,
        operation: Operation::Apply,
        lineage: "l".into(),
        serial: 3,
        changes: vec![change],
        summary: Summary {
            change: 1,
            ..Summary::default()
        },
        selected: Vec::new(),
        boot: Vec::new(),
    };
    assert_eq!(
        render::render_plan(&plan, render::Style::default()),
        "  # keypair.alice will be updated in place
  ~ keypair.alice {
    ~ public_key = <<-EOT
          @@ -1,2 +1,2 @@
           line one
          -line two
          +line 2
      EOT
    }

Plan: 0 to add, 1 to change, 0 to destroy.
"
    );
    let json = serde_json::to_value(&plan).expect("json");
    assert_eq!(json["changes"][0]["action"]["kind"], "update");
    assert_eq!(json["changes"][0]["address"], "keypair.alice");
    assert_eq!(json["serial"], 3);
}

#[tokio::test(start_paused = true)]
async fn a_graceful_stop_keeps_what_finished_and_a_rerun_completes() {
    let env = Env::new(
        &["web"],
        Script {
            latency: Duration::from_secs(1),
            ready_after: Duration::from_secs(2),
            transfer_time: Duration::from_secs(5),
            ..Script::default()
        },
    );
    let options = options();
    let mut file = env.state();
    let planned = diff(env.cloud.as_ref(), &quickstart(), file.state(), &quick())
        .await
        .expect("plans");
    let trigger = options.stop.graceful.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        trigger.cancel();
    });
    let report = apply(env.cloud.clone(), &planned, &mut file, &options)
        .await
        .expect("applies");
    drop(file);
    assert!(!report.succeeded());
    assert!(
        report.count(|s| *s == NodeStatus::Cancelled) > 0,
        "{report:#?}"
    );
    // What finished is in the state, on disk.
    let on_disk = crate::state::read(&env.path)
        .expect("reads")
        .expect("exists");
    let done: Vec<String> = report
        .nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Done)
        .map(|n| n.address.to_string())
        .collect();
    assert!(!done.is_empty());
    for address in &done {
        assert!(
            on_disk
                .resources
                .contains_key(&address.parse().expect("address")),
            "{address} finished but is not in the state"
        );
    }
    let report = env.apply(&quickstart()).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    assert_one_copy(&env.cloud.contents(), "web", 2);
}

#[tokio::test]
async fn image_visibility_drift_is_updated_in_place() {
    let env = Env::new(&["web"], Script::default());
    assert!(env.apply(&quickstart()).await.succeeded());
    env.cloud.edit(|c| {
        for image in c.images.values_mut() {
            image.visibility = "public".into();
        }
    });
    let planned = env.plan(&quickstart()).await;
    assert_eq!(actions(&planned)["image.web-image"], "update");
    assert_eq!(actions(&planned)["server.web"], "no-op");
    let text = render::render_plan(&planned, render::Style::default());
    assert!(
        text.contains(
            "  ~ image.web-image {\n    ~ visibility = \"public\" -> \"private\"\n    }\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("Plan: 0 to add, 1 to change, 0 to destroy.\n"),
        "{text}"
    );
    assert!(env.apply(&quickstart()).await.succeeded());
    assert!(env.plan(&quickstart()).await.is_empty());
}

#[tokio::test]
async fn a_generated_private_key_is_returned_once_and_never_stored() {
    let env = Env::new(&["web"], Script::default());
    let mut desired = quickstart();
    desired.servers[0].keypair = KeypairChoice {
        mode: KeypairMode::Create,
        name: "generated".into(),
    };
    let report = env.apply(&desired).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    assert_eq!(report.generated_keys.len(), 1);
    assert!(report.generated_keys[0].1.expose().starts_with("PRIVATE"));
    let text = std::fs::read_to_string(&env.path).expect("state");
    assert!(!text.contains("PRIVATE"), "{text}");
    assert!(
        !format!("{report:?}").contains("PRIVATE"),
        "Debug hides the key"
    );
    let json = serde_json::to_string(&report).expect("json");
    assert!(!json.contains("PRIVATE"), "{json}");
    assert!(env.plan(&desired).await.is_empty());
    assert!(env.destroy().await.succeeded());
    assert!(env.cloud.contents().keypairs.is_empty());
}

#[tokio::test]
async fn destroy_with_a_target_removes_it_and_what_depends_on_it_only() {
    let env = Env::new(&["web"], Script::default());
    assert!(env.apply(&quickstart()).await.succeeded());
    let mut file = env.state();
    let report = destroy(
        env.cloud.clone(),
        &mut file,
        &["server.web".parse().expect("address")],
        &options(),
    )
    .await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    let removed: Vec<String> = report.nodes.iter().map(|n| n.address.to_string()).collect();
    assert_eq!(removed, ["server.web", "floating_ip.web"]);
    let contents = env.cloud.contents();
    assert!(contents.servers.is_empty() && contents.floating_ips.is_empty());
    assert_eq!(contents.images.len(), 1);
    assert_eq!(file.state().resources.len(), 6);
}

#[tokio::test]
async fn the_graph_alone_reads_only_the_source() {
    let env = Env::new(&["web"], Script::default());
    let graph = build_graph(env.cloud.as_ref(), &quickstart())
        .await
        .expect("builds");
    assert_eq!(graph.addresses().count(), 8);
    assert!(
        graph
            .to_dot()
            .contains("\"server.web\" -> \"floating_ip.web\";")
    );
    assert!(env.cloud.calls().iter().all(|c| c.starts_with("source_")));
}

#[tokio::test]
async fn a_crash_in_a_shared_plan_converges_and_destroy_restores_the_default_group() {
    let desired = shared(&["a", "b"]);
    let probe = Env::new(&["a", "b"], Script::default());
    assert!(probe.apply(&desired).await.succeeded());
    let total = probe.cloud.mutations();
    for crash_at in 1..=total {
        let env = Env::new(
            &["a", "b"],
            Script {
                crash_after: Some(crash_at),
                ..Script::default()
            },
        );
        let before = env.cloud.contents();
        assert!(!env.apply(&desired).await.succeeded());
        env.cloud.script(|_| {});
        let report = env.apply(&desired).await;
        assert!(
            report.succeeded(),
            "crash at {crash_at}: {}",
            render::render_report(&report)
        );
        let contents = env.cloud.contents();
        assert_eq!(contents.servers.len(), 2, "crash at {crash_at}");
        assert_eq!(contents.images.len(), 2, "crash at {crash_at}");
        assert_eq!(contents.floating_ips.len(), 2, "crash at {crash_at}");
        assert_eq!(
            contents.groups["sg-default"].rules.len(),
            5,
            "crash at {crash_at}"
        );
        assert!(env.plan(&desired).await.is_empty(), "crash at {crash_at}");
        assert!(env.destroy().await.succeeded(), "crash at {crash_at}");
        assert_eq!(
            env.cloud.contents(),
            before,
            "crash at {crash_at}: leftovers"
        );
    }
}

#[tokio::test]
async fn an_image_that_never_finished_is_replaced_and_so_is_its_server() {
    let env = Env::new(&["web"], Script::default());
    assert!(env.apply(&quickstart()).await.succeeded());
    env.cloud.edit(|c| {
        for image in c.images.values_mut() {
            image.status = "killed".into();
        }
    });
    let planned = env.plan(&quickstart()).await;
    let acts = actions(&planned);
    assert_eq!(acts["image.web-image"], "replace");
    assert_eq!(acts["server.web"], "replace");
    assert_eq!(acts["floating_ip.web"], "update");
    let server = planned
        .changes
        .iter()
        .find(|c| c.address.to_string() == "server.web")
        .expect("server");
    assert!(
        matches!(&server.action, Action::Replace { id, reason } if !id.is_empty() && reason == "image.web-image will be replaced"),
        "{:?}",
        server.action
    );
    let text = render::render_plan(&planned, render::Style::default());
    assert!(
        text.contains(
            "  # server.web must be replaced: image.web-image will be replaced\n  -/+ server.web {"
        ),
        "{text}"
    );
    let report = env.apply(&quickstart()).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    assert_one_copy(&env.cloud.contents(), "web", 2);
    assert!(env.plan(&quickstart()).await.is_empty());
}

#[tokio::test]
async fn changed_source_rules_shift_positions_without_leaking_or_duplicating() {
    use crate::graph::RuleDirection;
    let env = Env::new(&["web"], Script::default());
    let before = env.cloud.contents();
    assert!(env.apply(&quickstart()).await.succeeded());
    let set_ports = |ports: &[u16]| {
        env.cloud.edit_source(|servers| {
            for server in servers.values_mut() {
                server.security_groups[0].rules = ports
                    .iter()
                    .enumerate()
                    .map(|(i, p)| super::port::RuleInfo {
                        id: format!("src-rule-{i}"),
                        rule: super::fake::rule(RuleDirection::Ingress, Some("tcp"), Some(*p)),
                        marker: None,
                    })
                    .collect();
            }
        })
    };
    let ports = |env: &Env| -> Vec<Option<u16>> {
        let contents = env.cloud.contents();
        let group = contents
            .groups
            .values()
            .find(|g| g.name == "web")
            .expect("group");
        let mut ports: Vec<_> = group.rules.iter().map(|r| r.rule.port_min).collect();
        ports.sort();
        ports
    };

    // 80 inserted: 443 moves from [1] to [2] and is kept.
    set_ports(&[22, 80, 443]);
    let planned = env.plan(&quickstart()).await;
    let acts = actions(&planned);
    assert_eq!(acts["security_group_rule.web[0]"], "no-op");
    assert_eq!(acts["security_group_rule.web[1]"], "create");
    assert_eq!(acts["security_group_rule.web[2]"], "adopt");
    assert!(env.apply(&quickstart()).await.succeeded());
    assert_eq!(ports(&env), [None, None, Some(22), Some(80), Some(443)]);
    assert!(env.plan(&quickstart()).await.is_empty());

    // 80 and 443 dropped, 8080 added: the dropped one without a position is deleted.
    set_ports(&[22, 8080]);
    let planned = env.plan(&quickstart()).await;
    let acts = actions(&planned);
    assert_eq!(acts["security_group_rule.web[1]"], "create");
    assert_eq!(acts["security_group_rule.web[2]"], "delete");
    let report = env.apply(&quickstart()).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    assert_eq!(ports(&env), [None, None, Some(22), Some(8080)]);
    assert!(env.plan(&quickstart()).await.is_empty());

    assert!(env.destroy().await.succeeded());
    assert_eq!(env.cloud.contents(), before);
}

/// Ctrl-C twice: running calls are abandoned mid-flight (their results lost, as in a kill), the
/// state keeps what finished, and the next apply adopts the orphans instead of duplicating.
#[tokio::test(start_paused = true)]
async fn a_hard_stop_mid_flight_is_recovered_by_the_next_apply() {
    for stop_after in [1, 2, 3, 5, 8] {
        let env = Env::new(
            &["web"],
            Script {
                latency: Duration::from_millis(700),
                ready_after: Duration::from_secs(2),
                transfer_time: Duration::from_secs(3),
                ..Script::default()
            },
        );
        let before = env.cloud.contents();
        let options = options();
        let mut file = env.state();
        let planned = diff(env.cloud.as_ref(), &quickstart(), file.state(), &quick())
            .await
            .expect("plans");
        let stop = options.stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(stop_after)).await;
            stop.graceful.cancel();
            stop.hard.cancel();
        });
        let report = apply(env.cloud.clone(), &planned, &mut file, &options)
            .await
            .expect("applies");
        drop(file);
        assert!(!report.succeeded(), "stopped after {stop_after}s");
        let report = env.apply(&quickstart()).await;
        assert!(
            report.succeeded(),
            "stopped after {stop_after}s: {}",
            render::render_report(&report)
        );
        assert_one_copy(&env.cloud.contents(), "web", 2);
        assert!(env.destroy().await.succeeded());
        assert_eq!(env.cloud.contents(), before, "stopped after {stop_after}s");
    }
}

#[tokio::test(start_paused = true)]
async fn a_wait_past_its_timeout_fails_the_node_and_keeps_the_server_recorded() {
    let env = Env::new(
        &["web"],
        Script {
            ready_after: Duration::from_secs(60),
            ..Script::default()
        },
    );
    let options = ApplyOptions {
        timeouts: Timeouts {
            snapshot: Duration::from_secs(120),
            image: Duration::from_secs(120),
            server: Duration::from_secs(10),
            delete: Duration::from_secs(120),
            volume: Duration::from_secs(120),
            quota: Duration::from_secs(120),
            settle: Duration::from_millis(500),
        },
        ..options()
    };
    let report = env.apply_with(&quickstart(), &options).await;
    let server = report
        .nodes
        .iter()
        .find(|n| n.address.to_string() == "server.web")
        .expect("server");
    assert!(
        matches!(&server.status, NodeStatus::Failed { message, .. } if message == "server did not become ACTIVE within 10s (last status unknown)"),
        "{server:?}"
    );
    let state = crate::state::read(&env.path)
        .expect("reads")
        .expect("exists");
    assert!(
        state
            .resources
            .contains_key(&"server.web".parse().expect("address"))
    );
}

#[test]
fn the_plan_format_keeps_the_id_beside_the_action_and_refuses_an_action_without_one() {
    let change = Change {
        address: Address::Keypair {
            name: "alice".into(),
        },
        action: Action::Delete { id: "alice".into() },
        reason: None,
        origin: Origin::Created,
        before: None,
        after: None,
        node: None,
        depends_on: vec![],
    };
    let json = serde_json::to_value(&change).expect("serialize");
    assert_eq!(json["action"], serde_json::json!({"kind": "delete"}));
    assert_eq!(json["id"], "alice");
    let back: Change = serde_json::from_value(json.clone()).expect("read back");
    assert_eq!(back, change);
    let mut without = json;
    without.as_object_mut().expect("object").remove("id");
    let err = serde_json::from_value::<Change>(without).expect_err("refused");
    assert!(
        err.to_string()
            .contains("keypair.alice: the change has no `id`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_fleet_selects_source_servers_by_pattern_and_becomes_one_server_each() {
    let env = Env::new(&["web-1", "web-2", "db"], Script::default());
    let mut template = server("{source}-copy", "alice", GroupChoice::Default);
    template.source = String::new();
    template.snapshot_name = "{source}-snap".into();
    template.image.name = "{source}-image".into();
    let desired = Desired {
        networks: Vec::new(),
        servers: vec![server("web-2", "alice", GroupChoice::Default)],
        fleets: vec![
            crate::graph::DesiredFleet {
                selection: crate::plan::Selection {
                    name: Some("web-*".into()),
                    tags: vec!["fleet".into()],
                    ..Default::default()
                },
                template: template.clone(),
            },
            crate::graph::DesiredFleet {
                selection: crate::plan::Selection {
                    name: Some("nothing-*".into()),
                    ..Default::default()
                },
                template,
            },
        ],
    };
    let planned = env.plan(&desired).await;
    // web-2 is named by its own entry, so the fleet takes web-1 only.
    assert_eq!(planned.selected.len(), 2);
    assert_eq!(planned.selected[0].selection, "name=web-* tags=fleet");
    assert_eq!(planned.selected[0].servers, ["web-1-copy"]);
    assert!(planned.selected[1].servers.is_empty());
    let acts = actions(&planned);
    assert_eq!(acts["server.web-1-copy"], "create");
    assert_eq!(acts["snapshot.web-1-snap"], "create");
    assert_eq!(acts["image.web-1-image"], "create");
    assert_eq!(acts["server.web-2"], "create");
    assert!(!acts.keys().any(|a| a.contains("db")), "{acts:?}");
    let text = render::render_plan(&planned, render::Style::default());
    assert!(
        text.starts_with(
            "Fleet `name=web-* tags=fleet` selects 1 source server: web-1-copy.\n\n\
             Fleet `name=nothing-*` selects 0 source servers (nothing matches"
        ),
        "{text}"
    );
    // Applied, then planned again: nothing to do; the fleet still lists its match.
    let report = env.apply(&desired).await;
    assert!(report.succeeded(), "{report:?}");
    let again = env.plan(&desired).await;
    assert!(again.is_empty(), "{:?}", actions(&again));
    assert_eq!(again.selected[0].servers, ["web-1-copy"]);
}

/// A fleet of 12 with 3 snapshots and 2 copies at once: never more in flight, and the limits
/// are reached (the report's peaks say both).
#[tokio::test(start_paused = true)]
async fn snapshots_and_transfers_stay_within_their_own_limits() {
    let names: Vec<String> = (0..12).map(|i| format!("f{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let script = Script {
        latency: Duration::from_millis(50),
        ready_after: Duration::from_secs(3),
        transfer_time: Duration::from_secs(4),
        ..Script::default()
    };
    let env = Env::new(&refs, script);
    let options = ApplyOptions {
        parallelism: NonZeroUsize::new(20).expect("non-zero"),
        transfers: NonZeroUsize::new(2).expect("non-zero"),
        snapshots: NonZeroUsize::new(3).expect("non-zero"),
        ..options()
    };
    let report = env.apply_with(&shared(&refs), &options).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    assert_eq!(report.peak.snapshots, 3, "{:?}", report.peak);
    assert_eq!(report.peak.transfers, 2, "{:?}", report.peak);
}

/// The target's compute quota is read in `plan`: new servers that would not fit are refused
/// before anything is made, naming the quota and what is left of it.
#[tokio::test]
async fn a_plan_beyond_the_targets_quota_is_refused_before_any_change() {
    let quota = |limit| crate::engine::port::Quota {
        instances: Some(crate::engine::port::QuotaUse { limit, used: 1 }),
        ..Default::default()
    };
    let env = Env::new(
        &["a", "b", "c"],
        Script {
            quota: quota(3),
            ..Script::default()
        },
    );
    let file = env.state();
    let err = diff(
        env.cloud.as_ref(),
        &shared(&["a", "b", "c"]),
        file.state(),
        &quick(),
    )
    .await
    .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "the target's instances quota has 2 left of 3, and the plan's new servers need 3"
    );
    assert!(matches!(err, PlanError::Quota { .. }));
    assert!(env.cloud.calls().iter().all(|c| !c.contains("create")));
    drop(file);
    // Two fit.
    let planned = env.plan(&shared(&["a", "b"])).await;
    assert_eq!(planned.summary.add, 11, "{:?}", actions(&planned));
}

/// A server's snapshot is a new image in the source and its copy one in the target: both
/// count against Glance's `image_count_total` where the clouds tell it (`GET /v2/info/usage`),
/// and a plan beyond it is refused before anything is made, naming the cloud. The copy's size
/// is not known before its snapshot is made; once it is (an earlier apply made it), the copy
/// counts against the target's `image_size_total` too.
#[tokio::test]
async fn server_images_beyond_glances_limits_are_refused_before_any_change() {
    use super::fake::GlanceLimits;
    let env = Env::new(&["web"], Script::default());
    let before = env.cloud.contents();
    let source_images = before.source_images.len() as u64;
    let target_images = before.images.len() as u64;
    let target_mib = before.images.values().filter_map(|i| i.size).sum::<u64>() >> 20;
    let refused = |said: String| {
        let env = &env;
        async move {
            let file = env.state();
            let err = diff(env.cloud.as_ref(), &quickstart(), file.state(), &quick())
                .await
                .expect_err("refused");
            assert_eq!(err.to_string(), said);
            assert!(matches!(err, PlanError::Quota { .. }), "{err:?}");
            let code = miette::Diagnostic::code(&err).map(|c| c.to_string());
            assert_eq!(code.as_deref(), Some("s2d::cloud::quota"));
        }
    };
    env.cloud
        .script(|s| s.source_glance_limits.images = Some(source_images));
    refused(format!(
        "the source's image_count_total (Glance) quota has 0 left of {source_images}, and the plan's new images need 1"
    ))
    .await;
    env.cloud.script(|s| {
        s.source_glance_limits = GlanceLimits::default();
        s.glance_limits.images = Some(target_images);
    });
    refused(format!(
        "the target's image_count_total (Glance) quota has 0 left of {target_images}, and the plan's new images need 1"
    ))
    .await;
    assert_eq!(env.cloud.contents(), before);
    assert!(env.cloud.calls().iter().all(|c| !c.contains("create")));

    // No MiB left, but the snapshot's size is not known yet: the plan goes through.
    env.cloud.script(|s| {
        s.glance_limits = GlanceLimits {
            size_mib: Some(target_mib),
            images: Some(target_images + 1),
        }
    });
    let planned = env.plan(&quickstart()).await;
    assert_eq!(actions(&planned)["image.web-image"], "create");
    // The snapshot made alone, 5 MiB: the copy needs 5 MiB of the target's.
    let snapshot: Address = "snapshot.s2d-web".parse().expect("address");
    {
        let mut file = env.state();
        let planned = diff(
            env.cloud.as_ref(),
            &quickstart(),
            file.state(),
            &PlanOptions {
                targets: vec![snapshot.clone()],
                ..quick()
            },
        )
        .await
        .expect("plans");
        let report = apply(env.cloud.clone(), &planned, &mut file, &options())
            .await
            .expect("applies");
        assert!(report.succeeded(), "{}", render::render_report(&report));
    }
    env.cloud.edit(|c| {
        for image in c.source_images.values_mut() {
            if image.name == "s2d-web" {
                image.size = Some(5 << 20);
            }
        }
    });
    env.cloud
        .script(|s| s.glance_limits.size_mib = Some(target_mib + 4));
    refused(format!(
        "the target's image_size_total (Glance, MiB) quota has 4 left of {}, and the plan's new images need 5",
        target_mib + 4
    ))
    .await;
    env.cloud
        .script(|s| s.glance_limits.size_mib = Some(target_mib + 5));
    let planned = env.plan(&quickstart()).await;
    assert_eq!(actions(&planned)["image.web-image"], "create");
    assert!(
        env.cloud
            .calls()
            .iter()
            .any(|c| c == "target_image_quota()"),
        "{:?}",
        env.cloud.calls()
    );
}

mod boot;
mod networks;
mod volumes;
