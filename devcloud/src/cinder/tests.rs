use std::time::Duration;

use futures_util::StreamExt;

use super::*;
use crate::{DevCloud, Options};

async fn start() -> DevCloud {
    let dc = DevCloud::start(Options {
        image_size: 3 << 20,
        ..Default::default()
    })
    .await
    .expect("devcloud");
    let cloud = dc.provider.cloud();
    let mut f = cloud.faults.get();
    f.volume_create_s = 0.2;
    f.volume_snapshot_s = 0.1;
    f.volume_upload_s = 0.1;
    cloud.faults.set(f);
    dc
}

fn ehr(cloud: &Cloud) -> (String, String) {
    let project = cloud.keystone.project_id("ehr").expect("ehr");
    (project, "alice".into())
}

/// Waits up to a minute: an upload hashes the whole volume (a GiB at least) in a debug build.
async fn wait_status(cloud: &Cloud, id: &str, status: &str) -> Volume {
    for _ in 0..6000 {
        if let Some(v) = cloud.cinder.volume(id, None)
            && v.status == status
        {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "volume {id} never became {status}: {:?}",
        cloud.cinder.volume(id, None).map(|v| v.status)
    );
}

async fn wait_snapshot(cloud: &Cloud, id: &str) {
    for _ in 0..200 {
        if cloud
            .cinder
            .snapshot(id, None)
            .is_some_and(|s| s.status == "available")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("snapshot {id} never became available");
}

async fn bytes_of(content: &Content) -> Vec<u8> {
    content
        .stream(0, content.size())
        .map(|c| c.expect("chunk"))
        .collect::<Vec<_>>()
        .await
        .concat()
}

fn raw_image(cloud: &Cloud, project: &str, size: u64) -> String {
    cloud.glance.seed_image(
        project,
        "raw-disk",
        "raw",
        "private",
        Content::Generated {
            seed: 42,
            size,
            format: crate::imagedata::Format::Raw,
        },
    )
}

fn new_volume(size: Option<u64>, source: Source) -> NewVolume {
    NewVolume {
        size,
        name: Some("v".into()),
        description: None,
        volume_type: None,
        metadata: BTreeMap::new(),
        source,
    }
}

/// image → volume → snapshot → bigger volume → upload: the uploaded image holds the image's
/// bytes then zeros, through every state on the way.
#[tokio::test]
async fn an_image_round_trips_through_volumes_and_snapshots() {
    let dc = start().await;
    let cloud = dc.provider.cloud();
    let (project, user) = ehr(cloud);
    let image = raw_image(cloud, &project, (1 << 20) + 7);
    let mut summary = cloud.glance.image_summary(&image).expect("image");
    for _ in 0..100 {
        if summary.checksum.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        summary = cloud.glance.image_summary(&image).expect("image");
    }
    let v = create_volume(
        cloud,
        &project,
        &user,
        false,
        new_volume(Some(1), Source::Image(image.clone())),
    )
    .expect("create");
    assert_eq!(v.status, "creating");
    assert!(v.bootable);
    assert_eq!(v.image_metadata["image_id"], image);
    assert_eq!(v.image_metadata["disk_format"], "raw");
    wait_status(cloud, &v.id, "downloading").await;
    let v = wait_status(cloud, &v.id, "available").await;
    assert_eq!(v.content.size(), GIB);

    let err = create_snapshot(
        cloud,
        &project,
        &user,
        &v.id,
        None,
        None,
        BTreeMap::new(),
        false,
        false,
    );
    assert!(err.is_ok(), "an available volume needs no force");
    let snap = err.expect("snapshot");
    wait_snapshot(cloud, &snap.id).await;
    let copy = create_volume(
        cloud,
        &project,
        &user,
        false,
        new_volume(None, Source::Snapshot(snap.id.clone())),
    )
    .expect("from snapshot");
    assert_eq!(copy.snapshot_id.as_deref(), Some(snap.id.as_str()));
    assert!(copy.bootable, "bootable as its origin");
    let copy = wait_status(cloud, &copy.id, "available").await;

    let answer = upload_to_image(
        cloud,
        &project,
        &copy.id,
        Upload {
            image_name: "up".into(),
            disk_format: "raw".into(),
            container_format: "bare".into(),
            visibility: "private".into(),
            protected: false,
        },
    )
    .expect("upload");
    assert_eq!(answer["status"], "uploading");
    assert_eq!(
        cloud.cinder.volume(&copy.id, None).expect("v").status,
        "uploading"
    );
    let uploaded = answer["image_id"].as_str().expect("id").to_string();
    wait_status(cloud, &copy.id, "available").await;
    let up = cloud.glance.image_summary(&uploaded).expect("uploaded");
    assert_eq!(up.status, "active");
    assert_eq!(up.size, Some(GIB));
    // Cinder carries the volume's image metadata, less Glance's core properties.
    assert!(up.properties.get("image_id").is_none());
    let content = cloud.glance.image_content(&uploaded).expect("content");
    let original = bytes_of(&cloud.glance.image_content(&image).expect("original")).await;
    let mut head = Vec::new();
    content
        .for_each_chunk_blocking(0, original.len() as u64 + 4096, &mut |c| {
            head.extend_from_slice(c)
        })
        .expect("read");
    assert_eq!(head[..original.len()], original[..]);
    assert!(head[original.len()..].iter().all(|b| *b == 0));
    dc.stop().await;
}

/// A qcow2 upload holds the volume as its virtual disk; a volume made from that image reads
/// the same bytes again.
#[tokio::test]
async fn a_qcow2_upload_round_trips() {
    let dc = start().await;
    let cloud = dc.provider.cloud();
    let (project, user) = ehr(cloud);
    let image = raw_image(cloud, &project, 70_000);
    let v = create_volume(
        cloud,
        &project,
        &user,
        false,
        new_volume(Some(1), Source::Image(image.clone())),
    )
    .expect("create");
    let v = wait_status(cloud, &v.id, "available").await;
    let up = Upload {
        image_name: "q".into(),
        disk_format: "qcow2".into(),
        container_format: "bare".into(),
        visibility: "private".into(),
        protected: false,
    };
    let answer = upload_to_image(cloud, &project, &v.id, up).expect("upload");
    let uploaded = answer["image_id"].as_str().expect("id").to_string();
    wait_status(cloud, &v.id, "available").await;
    let content = cloud.glance.image_content(&uploaded).expect("content");
    assert_eq!(content.inspect_virtual_size(Some("qcow2")), Some(GIB));
    let back = create_volume(
        cloud,
        &project,
        &user,
        false,
        new_volume(Some(1), Source::Image(uploaded)),
    )
    .expect("from qcow2");
    let back = wait_status(cloud, &back.id, "available").await;
    let mut head = Vec::new();
    back.content
        .for_each_chunk_blocking(0, 80_000, &mut |c| head.extend_from_slice(c))
        .expect("read");
    let original = bytes_of(&cloud.glance.image_content(&image).expect("original")).await;
    assert_eq!(head[..70_000], original[..]);
    assert!(head[70_000..].iter().all(|b| *b == 0));
    dc.stop().await;
}

#[tokio::test]
async fn deletes_and_snapshots_follow_cinders_status_rules() {
    let dc = start().await;
    let cloud = dc.provider.cloud();
    let (project, user) = ehr(cloud);
    let v = create_volume(
        cloud,
        &project,
        &user,
        false,
        new_volume(Some(1), Source::Blank),
    )
    .expect("create");
    assert!(!v.bootable);
    let creating = delete_volume(cloud, &v.id, Some(&project)).expect_err("creating");
    assert_eq!(creating.status, StatusCode::BAD_REQUEST);
    wait_status(cloud, &v.id, "available").await;
    reserve(cloud, &project, &v.id).expect("reserve");
    attach(cloud, &v.id, "server-1", "/dev/vdb").expect("attach");
    let v = cloud.cinder.volume(&v.id, None).expect("v");
    assert_eq!(v.status, "in-use");
    assert_eq!(v.attachments[0].device, "/dev/vdb");
    let e = create_snapshot(
        cloud,
        &project,
        &user,
        &v.id,
        None,
        None,
        BTreeMap::new(),
        false,
        false,
    )
    .expect_err("in-use without force");
    assert!(
        e.body["badRequest"]["message"]
            .as_str()
            .expect("msg")
            .contains("status must be available, but current status is: in-use")
    );
    let in_use = delete_volume(cloud, &v.id, Some(&project)).expect_err("attached");
    assert!(
        in_use.body["badRequest"]["message"]
            .as_str()
            .expect("msg")
            .contains("must not be migrating, attached")
    );
    let snap = create_snapshot(
        cloud,
        &project,
        &user,
        &v.id,
        None,
        None,
        BTreeMap::new(),
        false,
        true,
    )
    .expect("3.66 allows in-use");
    detach(cloud, &v.id, "server-1");
    assert_eq!(
        cloud.cinder.volume(&v.id, None).expect("v").status,
        "available"
    );
    wait_snapshot(cloud, &snap.id).await;
    delete_volume(cloud, &v.id, Some(&project)).expect_err("has snapshots");
    delete_snapshot(cloud, &snap.id, Some(&project)).expect("delete snapshot");
    for _ in 0..100 {
        if cloud.cinder.snapshot(&snap.id, None).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    delete_volume(cloud, &v.id, Some(&project)).expect("delete");
    assert_eq!(
        cloud.cinder.volume(&v.id, None).expect("v").status,
        "deleting"
    );
    dc.stop().await;
}

#[tokio::test]
async fn a_failed_upload_deletes_its_image_and_frees_the_volume() {
    let dc = start().await;
    let cloud = dc.provider.cloud();
    let (project, user) = ehr(cloud);
    let mut f = cloud.faults.get();
    f.volume_upload_error = true;
    f.quota.volumes = Some(1);
    cloud.faults.set(f);
    let v = create_volume(
        cloud,
        &project,
        &user,
        false,
        new_volume(Some(1), Source::Blank),
    )
    .expect("create");
    let over = create_volume(
        cloud,
        &project,
        &user,
        false,
        new_volume(Some(1), Source::Blank),
    )
    .expect_err("quota");
    assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        over.body["overLimit"]["message"]
            .as_str()
            .expect("msg")
            .starts_with("VolumeLimitExceeded")
    );
    wait_status(cloud, &v.id, "available").await;
    let up = Upload {
        image_name: "up".into(),
        disk_format: "raw".into(),
        container_format: "bare".into(),
        visibility: "private".into(),
        protected: false,
    };
    let answer = upload_to_image(cloud, &project, &v.id, up).expect("upload");
    let image = answer["image_id"].as_str().expect("id").to_string();
    assert!(cloud.glance.image_summary(&image).is_some());
    wait_status(cloud, &v.id, "available").await;
    assert!(
        cloud.glance.image_summary(&image).is_none(),
        "Cinder deletes the image of a failed upload"
    );
    dc.stop().await;
}

#[tokio::test]
async fn the_volume_types_knob_adds_types() {
    let dc = start().await;
    let cloud = dc.provider.cloud();
    let (project, user) = ehr(cloud);
    let mut typed = new_volume(Some(1), Source::Blank);
    typed.volume_type = Some("ceph-ssd".into());
    let unknown = create_volume(cloud, &project, &user, false, typed.clone()).expect_err("unknown");
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let mut f = cloud.faults.get();
    f.volume_types = vec!["ceph-ssd".into()];
    cloud.faults.set(f);
    let v = create_volume(cloud, &project, &user, false, typed).expect("typed");
    assert_eq!(v.volume_type_name, "ceph-ssd");
    let by_id = find_type(cloud, &v.volume_type_id).expect("by id");
    assert_eq!(by_id.name, "ceph-ssd");
    assert_eq!(types(cloud).len(), 3);
    let plain = create_volume(
        cloud,
        &project,
        &user,
        false,
        new_volume(Some(1), Source::Blank),
    )
    .expect("default");
    assert_eq!(plain.volume_type_name, "lvmdriver-1");
    dc.stop().await;
}

#[test]
fn microversions_are_negotiated_as_cinder_does() {
    use axum::http::{HeaderMap, HeaderValue};
    let with = |v: &'static str| {
        let mut h = HeaderMap::new();
        h.insert("openstack-api-version", HeaderValue::from_static(v));
        h
    };
    assert_eq!(
        api::negotiate(&HeaderMap::new()).expect("none"),
        api::Mv(3, 0)
    );
    assert_eq!(
        api::negotiate(&with("volume 3.66")).expect("3.66"),
        api::Mv(3, 66)
    );
    assert_eq!(
        api::negotiate(&with("volume latest")).expect("latest"),
        api::Mv(3, 71)
    );
    assert_eq!(
        api::negotiate(&with("compute 2.90")).expect("other service"),
        api::Mv(3, 0)
    );
    assert_eq!(
        api::negotiate(&with("volume 3.72"))
            .expect_err("above")
            .status,
        StatusCode::NOT_ACCEPTABLE
    );
    assert_eq!(
        api::negotiate(&with("volume 2.0"))
            .expect_err("below")
            .status,
        StatusCode::NOT_ACCEPTABLE
    );
    assert_eq!(
        api::negotiate(&with("volume x")).expect_err("bad").status,
        StatusCode::BAD_REQUEST
    );
}
