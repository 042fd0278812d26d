//! Volumes against the fake: a server booted from a volume with a data volume moves with
//! both (each through a snapshot, a copy and its upload in the source, the image copied, the
//! target volume made from it), boots from its root volume with the data volume attached,
//! keeps the bytes, leaves none of the intermediates behind; a replan is clean, destroy
//! returns both clouds to the start; a crash after any mutation converges without duplicates;
//! a skipped volume stays behind; an unknown volume type and a volume beyond the quota are
//! refused before anything is made.

use serde_json::json;

use super::*;
use crate::engine::fake::GlanceLimits;
use crate::engine::port::{QuotaUse, VolumeKind};
use crate::graph::SourceVolume;

const DATA: &[u8] = b"rows of the research database";

/// The fake's `db`, booted from volume `db-root`, with data volume `db-data` (and a scratch
/// volume `db-scratch` when `scratch`).
fn env_with_volumes(scratch: bool, script: Script) -> Env {
    let env = Env::new(&["db"], script);
    env.cloud.set_volume_types(&["standard", "fast"]);
    let mut volumes = vec![
        (
            SourceVolume {
                id: "src-vol-root".into(),
                name: "db-root".into(),
                size_gb: 1,
                volume_type: Some("ceph".into()),
                device: Some("/dev/vda".into()),
                boot: true,
                delete_on_termination: true,
                ..SourceVolume::default()
            },
            b"boot sector".to_vec(),
        ),
        (
            SourceVolume {
                id: "src-vol-data".into(),
                name: "db-data".into(),
                size_gb: 2,
                volume_type: Some("ceph".into()),
                device: Some("/dev/vdb".into()),
                ..SourceVolume::default()
            },
            DATA.to_vec(),
        ),
    ];
    if scratch {
        volumes.push((
            SourceVolume {
                id: "src-vol-scratch".into(),
                name: "db-scratch".into(),
                size_gb: 5,
                device: Some("/dev/vdc".into()),
                ..SourceVolume::default()
            },
            b"tmp".to_vec(),
        ));
    }
    for (volume, data) in volumes {
        env.cloud.add_source_volume("db", volume, &data);
    }
    env
}

fn with_volumes(edit: impl FnOnce(&mut crate::graph::DesiredVolumes)) -> Desired {
    let mut server = server("db", "alice", GroupChoice::Named("db".into()));
    server.volumes.types = BTreeMap::from([("ceph".to_string(), "fast".to_string())]);
    edit(&mut server.volumes);
    Desired {
        servers: vec![server],
        fleets: Vec::new(),
        networks: Vec::new(),
    }
}

/// The target's volumes by name, and what the source holds of s2d's.
fn volumes_by_name(contents: &Contents) -> BTreeMap<String, crate::engine::port::CinderResource> {
    contents
        .volumes
        .values()
        .map(|v| (v.name.clone(), v.clone()))
        .collect()
}

fn leftovers_in_source(contents: &Contents) -> Vec<String> {
    let mut left: Vec<String> = contents
        .source_cinder
        .values()
        .filter(|(_, r)| r.marker.is_some())
        .map(|(k, r)| format!("{k:?} {}", r.name))
        .collect();
    left.extend(
        contents
            .source_images
            .values()
            .filter(|i| i.marker.is_some())
            .map(|i| format!("image {}", i.name)),
    );
    left
}

#[tokio::test]
async fn a_volume_backed_server_moves_with_its_data_volume_and_leaves_nothing_on_the_way() {
    let env = env_with_volumes(false, Script::default());
    let before = env.cloud.contents();
    let desired = with_volumes(|_| {});
    let planned = env.plan(&desired).await;
    let acts = actions(&planned);
    // No snapshot or image of the server: it boots from its root volume.
    assert!(!acts.contains_key("snapshot.db-s2d"), "{acts:?}");
    for stage in [
        "volume_snapshot",
        "volume_copy",
        "volume_upload",
        "volume_image",
        "volume",
    ] {
        for index in 0..2 {
            let address = format!("{stage}.db[{index}]");
            assert_eq!(
                acts.get(&address).map(String::as_str),
                Some("create"),
                "{address}: {acts:?}"
            );
        }
    }
    let data = planned
        .changes
        .iter()
        .find(|c| c.address.to_string() == "volume.db[1]")
        .and_then(|c| c.after.clone())
        .expect("the data volume is planned");
    assert_eq!(data["size_gb"], json!(2));
    assert_eq!(data["volume_type"], json!("fast"));

    let report = env.apply(&desired).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    let contents = env.cloud.contents();
    let volumes = volumes_by_name(&contents);
    assert_eq!(volumes.len(), 2, "{volumes:?}");
    let server = contents.servers.values().next().expect("a server");
    assert_eq!(server.image_id, None, "it boots from a volume");
    for v in volumes.values() {
        assert_eq!(v.status, "in-use");
        assert_eq!(v.attached_to, vec![server.id.clone()]);
        assert_eq!(v.volume_type.as_deref(), Some("fast"));
    }
    assert_eq!(
        env.cloud.volume_bytes(&volumes["db-data"].id).as_deref(),
        Some(DATA),
        "the data volume holds the source's bytes"
    );
    // The intermediates are gone, in both clouds and in the state.
    assert_eq!(leftovers_in_source(&contents), Vec::<String>::new());
    assert!(contents.images.is_empty(), "{:?}", contents.images);
    let recorded: Vec<String> = env
        .state()
        .state()
        .resources
        .keys()
        .map(ToString::to_string)
        .collect();
    assert!(
        recorded.contains(&"volume.db[0]".to_string()),
        "{recorded:?}"
    );
    assert!(
        !recorded.iter().any(|a| a.starts_with("volume_")),
        "{recorded:?}"
    );

    assert!(env.plan(&desired).await.is_empty(), "a replan is clean");
    let gone = env.destroy().await;
    assert!(gone.succeeded(), "{}", render::render_report(&gone));
    assert_eq!(
        env.cloud.contents(),
        before,
        "destroy returns both clouds to the start"
    );
}

#[tokio::test]
async fn kept_intermediates_stay_recorded_and_destroy_removes_them() {
    let env = env_with_volumes(false, Script::default());
    let before = env.cloud.contents();
    let desired = with_volumes(|v| v.keep_intermediates = true);
    let report = env.apply(&desired).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    let contents = env.cloud.contents();
    assert_eq!(
        leftovers_in_source(&contents).len(),
        6,
        "{:?}",
        leftovers_in_source(&contents)
    );
    assert_eq!(contents.images.len(), 2);
    assert!(env.plan(&desired).await.is_empty(), "a replan is clean");
    // Without the option, the next apply removes them.
    let cleaned = env.apply(&with_volumes(|_| {})).await;
    assert!(cleaned.succeeded(), "{}", render::render_report(&cleaned));
    assert_eq!(
        leftovers_in_source(&env.cloud.contents()),
        Vec::<String>::new()
    );
    assert!(env.plan(&with_volumes(|_| {})).await.is_empty());
    assert!(env.destroy().await.succeeded());
    assert_eq!(env.cloud.contents(), before);
}

#[tokio::test]
async fn a_crash_after_any_mutation_of_the_volume_steps_converges_without_duplicates() {
    let probe = env_with_volumes(false, Script::default());
    assert!(probe.apply(&with_volumes(|_| {})).await.succeeded());
    let total = probe.cloud.mutations();
    for crash_at in 1..=total {
        let env = env_with_volumes(
            false,
            Script {
                crash_after: Some(crash_at),
                ..Script::default()
            },
        );
        let before = env.cloud.contents();
        let desired = with_volumes(|_| {});
        let report = env.apply(&desired).await;
        assert!(!report.succeeded(), "crash at {crash_at} went unnoticed");
        env.cloud.script(|_| {});
        let report = env.apply(&desired).await;
        assert!(
            report.succeeded(),
            "crash at {crash_at}: {}",
            render::render_report(&report)
        );
        let contents = env.cloud.contents();
        assert_eq!(
            volumes_by_name(&contents).len(),
            2,
            "crash at {crash_at}: {:?}",
            contents.volumes
        );
        assert_eq!(
            contents.volumes.len(),
            2,
            "crash at {crash_at}: {:?}",
            contents.volumes
        );
        assert_eq!(contents.servers.len(), 1, "crash at {crash_at}");
        assert_eq!(
            leftovers_in_source(&contents),
            Vec::<String>::new(),
            "crash at {crash_at}"
        );
        assert!(
            contents.images.is_empty(),
            "crash at {crash_at}: {:?}",
            contents.images
        );
        assert!(
            env.plan(&desired).await.is_empty(),
            "crash at {crash_at}: not converged"
        );
        assert!(env.destroy().await.succeeded(), "crash at {crash_at}");
        assert_eq!(
            env.cloud.contents(),
            before,
            "crash at {crash_at}: leftovers"
        );
    }
}

#[tokio::test]
async fn a_skipped_volume_stays_behind() {
    let env = env_with_volumes(true, Script::default());
    let desired = with_volumes(|v| v.skip = vec!["db-scratch".into()]);
    let planned = env.plan(&desired).await;
    let acts = actions(&planned);
    assert!(acts.contains_key("volume.db[1]"));
    assert!(!acts.keys().any(|a| a.ends_with("db[2]")), "{acts:?}");
    assert!(env.apply(&desired).await.succeeded());
    let names: Vec<String> = volumes_by_name(&env.cloud.contents()).into_keys().collect();
    assert_eq!(names, ["db-data", "db-root"]);
}

#[tokio::test]
async fn an_unknown_volume_type_and_a_volume_beyond_the_quota_are_refused_before_any_change() {
    let env = env_with_volumes(
        false,
        Script {
            volume_gigabytes: Some(QuotaUse { limit: 10, used: 8 }),
            ..Script::default()
        },
    );
    let before = env.cloud.contents();
    let file = env.state();
    let unknown = with_volumes(|v| {
        v.types = BTreeMap::from([("ceph".to_string(), "gold".to_string())]);
    });
    let refused = diff(env.cloud.as_ref(), &unknown, file.state(), &quick())
        .await
        .expect_err("an unknown type is refused");
    let text = refused.to_string();
    assert!(
        text.contains("gold") && text.contains("standard, fast"),
        "{text}"
    );
    let refused = diff(
        env.cloud.as_ref(),
        &with_volumes(|_| {}),
        file.state(),
        &quick(),
    )
    .await
    .expect_err("3 GiB do not fit in 2");
    assert!(
        refused.to_string().contains("volume gigabytes"),
        "{refused}"
    );
    assert_eq!(env.cloud.contents(), before);
    assert!(
        !env.cloud.calls().iter().any(|c| c.starts_with("create_")),
        "{:?}",
        env.cloud.calls()
    );
    let _ = VolumeKind::Volume;
}

/// Glance's unified limits, where the clouds tell them (`GET /v2/info/usage`): the images
/// Cinder uploads the volumes into (in the source) and their copies (in the target) must fit
/// in what is left of `image_size_total` (a raw image is its volume's size) and
/// `image_count_total`, else the plan is refused before anything is made, naming the cloud. A
/// qcow2 image's size is not known before Cinder makes it: only its count is checked.
#[tokio::test]
async fn volume_images_beyond_glances_limits_are_refused_before_any_change() {
    let env = env_with_volumes(false, Script::default());
    let before = env.cloud.contents();
    let mib = |images: &BTreeMap<String, crate::engine::port::Image>| {
        images.values().filter_map(|i| i.size).sum::<u64>() >> 20
    };
    let (source_images, source_mib) = (
        before.source_images.len() as u64,
        mib(&before.source_images),
    );
    let (target_images, target_mib) = (before.images.len() as u64, mib(&before.images));
    let limits = |size_mib, images| GlanceLimits { size_mib, images };
    let none = GlanceLimits::default();
    // The volumes are 1 and 2 GiB: two raw images of 3072 MiB in all, in each cloud.
    for (source, target, said) in [
        (
            none,
            limits(Some(target_mib + 3071), None),
            format!(
                "the target's image_size_total (Glance, MiB) quota has 3071 left of {}, and the plan's new images need 3072",
                target_mib + 3071
            ),
        ),
        (
            limits(Some(source_mib + 3071), None),
            none,
            format!(
                "the source's image_size_total (Glance, MiB) quota has 3071 left of {}, and the plan's new images need 3072",
                source_mib + 3071
            ),
        ),
        (
            limits(None, Some(source_images + 1)),
            none,
            format!(
                "the source's image_count_total (Glance) quota has 1 left of {}, and the plan's new images need 2",
                source_images + 1
            ),
        ),
        (
            none,
            limits(None, Some(target_images + 1)),
            format!(
                "the target's image_count_total (Glance) quota has 1 left of {}, and the plan's new images need 2",
                target_images + 1
            ),
        ),
    ] {
        env.cloud.script(|s| {
            s.source_glance_limits = source;
            s.glance_limits = target;
        });
        let file = env.state();
        let err = diff(
            env.cloud.as_ref(),
            &with_volumes(|_| {}),
            file.state(),
            &quick(),
        )
        .await
        .expect_err("refused");
        assert_eq!(err.to_string(), said);
        assert!(matches!(err, PlanError::Quota { .. }), "{err:?}");
    }
    assert_eq!(env.cloud.contents(), before);
    assert!(
        !env.cloud.calls().iter().any(|c| c.starts_with("create_")),
        "{:?}",
        env.cloud.calls()
    );
    // Exactly what is left: the plan goes through.
    env.cloud.script(|s| {
        s.source_glance_limits = limits(Some(source_mib + 3072), Some(source_images + 2));
        s.glance_limits = limits(Some(target_mib + 3072), Some(target_images + 2));
    });
    env.plan(&with_volumes(|_| {})).await;
    // qcow2: no MiB left is no refusal, the count still is.
    env.cloud.script(|s| {
        s.source_glance_limits = limits(Some(source_mib), Some(source_images + 2));
        s.glance_limits = limits(Some(target_mib), Some(target_images + 2));
    });
    let qcow2 = with_volumes(|v| v.format = crate::graph::VolumeFormat::Qcow2);
    env.plan(&qcow2).await;
    env.cloud
        .script(|s| s.glance_limits = limits(Some(target_mib), Some(target_images + 1)));
    let file = env.state();
    let err = diff(env.cloud.as_ref(), &qcow2, file.state(), &quick())
        .await
        .expect_err("one image too many");
    assert!(
        err.to_string().contains("target's image_count_total"),
        "{err}"
    );
}

#[tokio::test]
async fn stop_shuts_the_source_off_for_the_snapshots_and_starts_it_again() {
    let env = env_with_volumes(false, Script::default());
    let desired = with_volumes(|v| v.stop = true);
    let planned = env.plan(&desired).await;
    let report = planned
        .boot
        .iter()
        .find(|r| r.server == "db")
        .expect("a report for db");
    assert!(
        report.carried.iter().any(|c| c.contains("shut off")),
        "{report:?}"
    );
    assert!(
        report
            .carried
            .iter()
            .any(|c| c.contains("db-data (2 GiB, /dev/vdb, type ceph -> `fast`)")),
        "{report:?}"
    );
    let applied = env.apply(&desired).await;
    assert!(applied.succeeded(), "{}", render::render_report(&applied));
    let calls = env.cloud.calls();
    let at = |name: &str| calls.iter().position(|c| c.starts_with(name));
    let last_at = |name: &str| calls.iter().rposition(|c| c.starts_with(name));
    let (stop, start) = (
        at("stop_source").expect("stopped"),
        at("start_source").expect("started"),
    );
    assert!(
        stop < at("create_volume_snapshot").expect("snapshots"),
        "{calls:?}"
    );
    assert!(last_at("create_volume_snapshot") < Some(start), "{calls:?}");
    assert!(Some(start) < at("create_volume("), "{calls:?}");
    assert_eq!(env.cloud.source_status("db").as_deref(), Some("ACTIVE"));

    // Without it, the plan says the copy is crash-consistent.
    let env = env_with_volumes(false, Script::default());
    let planned = env.plan(&with_volumes(|_| {})).await;
    let report = planned.boot.iter().find(|r| r.server == "db").expect("db");
    assert!(
        report
            .left
            .iter()
            .any(|l| l.why.contains("crash-consistent")),
        "{report:?}"
    );
}

/// A volume-backed server replaced (another flavor) keeps its volumes: the root volume,
/// marked `delete_on_termination` as in the source, is unmarked before the old server is
/// deleted, so the replacement boots from the same two volumes and nothing is copied again.
#[tokio::test]
async fn a_replaced_volume_backed_server_keeps_its_volumes() {
    let env = env_with_volumes(false, Script::default());
    let before = env.cloud.contents();
    let report = env.apply(&with_volumes(|_| {})).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    let volumes: BTreeMap<String, String> = volumes_by_name(&env.cloud.contents())
        .into_iter()
        .map(|(name, v)| (name, v.id))
        .collect();
    assert_eq!(volumes.len(), 2, "{volumes:?}");

    let mut larger = with_volumes(|_| {});
    larger.servers[0].flavor = Some("m1.large".into());
    let planned = env.plan(&larger).await;
    let acts = actions(&planned);
    assert_eq!(
        acts.get("server.db").map(String::as_str),
        Some("replace"),
        "{acts:?}"
    );
    assert!(
        acts.iter()
            .all(|(a, act)| !a.starts_with("volume") || act == "no-op"),
        "no volume step runs again: {acts:?}"
    );
    let replaced = env.apply(&larger).await;
    assert!(replaced.succeeded(), "{}", render::render_report(&replaced));
    let contents = env.cloud.contents();
    let after: BTreeMap<String, String> = volumes_by_name(&contents)
        .into_iter()
        .map(|(name, v)| (name, v.id))
        .collect();
    assert_eq!(after, volumes, "the same two volumes");
    let server = contents.servers.values().next().expect("the server");
    for v in volumes_by_name(&contents).values() {
        assert_eq!(v.status, "in-use", "{v:?}");
        assert_eq!(v.attached_to, vec![server.id.clone()], "{v:?}");
    }
    assert!(env.plan(&larger).await.is_empty(), "a replan is clean");
    assert!(env.destroy().await.succeeded());
    assert_eq!(env.cloud.contents(), before);
}

/// The source makes a snapshot and a copy of each volume, both counted in its Cinder
/// gigabytes: a plan whose snapshots and copies do not fit there is refused before anything
/// is made, naming the source.
#[tokio::test]
async fn volume_snapshots_and_copies_beyond_the_source_quota_are_refused() {
    let env = env_with_volumes(
        false,
        Script {
            // 1 + 2 GiB of volumes: 6 GiB of snapshots and copies; 5 are free.
            source_volume_gigabytes: Some(QuotaUse { limit: 10, used: 5 }),
            ..Script::default()
        },
    );
    let before = env.cloud.contents();
    let file = env.state();
    let refused = diff(
        env.cloud.as_ref(),
        &with_volumes(|_| {}),
        file.state(),
        &quick(),
    )
    .await
    .expect_err("6 GiB do not fit in 5");
    let text = refused.to_string();
    assert!(
        text.contains("source") && text.contains("volume gigabytes") && text.contains('6'),
        "{text}"
    );
    assert_eq!(env.cloud.contents(), before);
    assert!(
        !env.cloud.calls().iter().any(|c| c.starts_with("create_")),
        "{:?}",
        env.cloud.calls()
    );
    // With room for them, the move goes through.
    let env = env_with_volumes(
        false,
        Script {
            source_volume_gigabytes: Some(QuotaUse { limit: 10, used: 4 }),
            ..Script::default()
        },
    );
    let report = env.apply(&with_volumes(|_| {})).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
}
