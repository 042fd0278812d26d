//! End-to-end tests of devcloud's Cinder v3 over HTTP against an in-process
//! `DevCloud::start`: version documents, microversion negotiation, status codes and error
//! bodies of the volume, snapshot and action calls, and Nova's side of volumes (boot from
//! `block_device_mapping_v2`, `os-volume_attachments`, delete).

use std::time::{Duration, Instant};

use devcloud::{DevCloud, Options};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn start() -> (DevCloud, String, String) {
    let dc = DevCloud::start(Options {
        image_size: 1 << 20,
        ..Options::default()
    })
    .await
    .expect("devcloud starts");
    let base = dc.provider.base_url().to_string();
    let r = reqwest::Client::new()
        .post(format!("{base}/identity/v3/auth/tokens"))
        .json(&json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "alice", "domain": {"name": "Default"}, "password": "alice-secret"}}},
            "scope": {"project": {"name": "ehr", "domain": {"name": "Default"}}}}}))
        .send()
        .await
        .expect("login");
    let token = r.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_string();
    (dc, base, token)
}

async fn call(
    method: reqwest::Method,
    url: &str,
    token: &str,
    version: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new()
        .request(method, url)
        .header("X-Auth-Token", token);
    if let Some(v) = version {
        req = req.header("OpenStack-API-Version", v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("send");
    let (status, headers) = (r.status(), r.headers().clone());
    let text = r.text().await.expect("body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn wait_volume(base: &str, token: &str, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, _, v) = call(
            reqwest::Method::GET,
            &format!("{base}/volume/v3/volumes/{id}"),
            token,
            None,
            None,
        )
        .await;
        if v["volume"]["status"] == status {
            return v["volume"].clone();
        }
        assert!(Instant::now() < deadline, "volume {id}: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn versions_and_microversions_as_cinder() {
    let (dc, base, token) = start().await;
    let r = reqwest::get(format!("{base}/volume/")).await.expect("get");
    assert_eq!(r.status(), StatusCode::MULTIPLE_CHOICES);
    let doc: Value = r.json().await.expect("json");
    assert_eq!(doc["versions"][0]["id"], "v3.0");
    assert_eq!(doc["versions"][0]["version"], "3.71");
    assert_eq!(doc["versions"][0]["min_version"], "3.0");
    let (status, headers, _) = call(
        reqwest::Method::GET,
        &format!("{base}/volume/v3/volumes"),
        &token,
        Some("volume 3.66"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["openstack-api-version"], "volume 3.66");
    assert_eq!(headers["vary"], "OpenStack-API-Version");
    let (status, _, body) = call(
        reqwest::Method::GET,
        &format!("{base}/volume/v3/volumes"),
        &token,
        Some("volume 3.72"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(
        body["computeFault"]["message"],
        "Version 3.72 is not supported by the API. Minimum is 3.0 and maximum is 3.71."
    );
    // The project id may sit in the URL.
    let project = dc.provider.cloud().keystone.project_id("ehr").expect("ehr");
    let (status, _, body) = call(
        reqwest::Method::GET,
        &format!("{base}/volume/v3/{project}/types"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["volume_types"].to_string().contains("lvmdriver-1"));
    let (status, _, body) = call(
        reqwest::Method::GET,
        &format!("{base}/volume/v3/volumes/nope"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["itemNotFound"]["message"],
        "Volume nope could not be found."
    );
    let r = reqwest::get(format!("{base}/volume/v3/volumes"))
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    dc.stop().await;
}

/// A boot from an image with a volume attached through `block_device_mapping_v2`: refused
/// as Nova refuses it without the image as the local boot disk (`boot_index` 0: no boot
/// device), booted with it; the volume is the server's second disk.
#[tokio::test]
async fn an_image_boot_with_a_volume_lists_the_image_as_its_boot_disk() {
    let (_dc, base, token) = start().await;
    let (_, _, images) = call(
        reqwest::Method::GET,
        &format!("{base}/image/v2/images?name=ubuntu-22.04-base"),
        &token,
        None,
        None,
    )
    .await;
    let image = images["images"][0]["id"]
        .as_str()
        .expect("base image")
        .to_string();
    let (_, _, data) = call(
        reqwest::Method::POST,
        &format!("{base}/volume/v3/volumes"),
        &token,
        None,
        Some(json!({"volume": {"size": 1, "name": "data"}})),
    )
    .await;
    let data_id = data["volume"]["id"].as_str().expect("id").to_string();
    wait_volume(&base, &token, &data_id, "available").await;
    let volume = json!({"uuid": data_id, "source_type": "volume", "destination_type": "volume"});
    let boot = |bdms: Value| {
        json!({"server": {"name": "img-and-vol", "flavorRef": "2", "networks": "none",
            "imageRef": image, "block_device_mapping_v2": bdms}})
    };
    for bdms in [
        json!([volume]),
        json!([{"uuid": image, "source_type": "image", "destination_type": "local", "boot_index": 0},
               {"uuid": data_id, "source_type": "volume", "destination_type": "volume", "boot_index": 2}]),
    ] {
        let (status, _, body) = call(
            reqwest::Method::POST,
            &format!("{base}/compute/v2.1/servers"),
            &token,
            Some("compute 2.79"),
            Some(boot(bdms)),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            body["badRequest"]["message"],
            "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid."
        );
    }
    let (status, _, server) = call(
        reqwest::Method::POST,
        &format!("{base}/compute/v2.1/servers"),
        &token,
        Some("compute 2.79"),
        Some(boot(json!([
            {"uuid": image, "source_type": "image", "destination_type": "local",
             "boot_index": 0, "delete_on_termination": true},
            volume,
        ]))),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{server}");
    let id = server["server"]["id"].as_str().expect("id").to_string();
    let attached = wait_volume(&base, &token, &data_id, "in-use").await;
    assert_eq!(attached["attachments"][0]["server_id"], id.as_str());
    assert_eq!(attached["attachments"][0]["device"], "/dev/vdb");
}

/// Boot from an image-sourced volume Nova makes, with a data volume; the in-use rules; the
/// 3.66 force rule; the delete of the server releasing its volumes.
#[tokio::test]
async fn boot_from_volume_and_the_in_use_rules() {
    let (dc, base, token) = start().await;
    let cinder = format!("{base}/volume/v3");
    let (_, _, images) = call(
        reqwest::Method::GET,
        &format!("{base}/image/v2/images?name=ubuntu-22.04-base"),
        &token,
        None,
        None,
    )
    .await;
    let image = images["images"][0]["id"]
        .as_str()
        .expect("base image")
        .to_string();
    let (status, _, small) = call(
        reqwest::Method::POST,
        &format!("{cinder}/volumes"),
        &token,
        None,
        Some(json!({"volume": {"size": 1, "imageRef": image, "name": "ok"}})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{small}");
    assert_eq!(small["volume"]["status"], "creating");
    let (_, _, data) = call(
        reqwest::Method::POST,
        &format!("{cinder}/volumes"),
        &token,
        None,
        Some(json!({"volume": {"size": 2, "name": "data"}})),
    )
    .await;
    let data_id = data["volume"]["id"].as_str().expect("id").to_string();
    wait_volume(&base, &token, &data_id, "available").await;

    let boot = json!({"server": {"name": "bfv", "flavorRef": "2", "networks": "none",
        "block_device_mapping_v2": [
            {"boot_index": 0, "uuid": image, "source_type": "image", "destination_type": "volume", "volume_size": 1, "delete_on_termination": true},
            {"uuid": data_id, "source_type": "volume", "destination_type": "volume"}]}});
    let (status, _, server) = call(
        reqwest::Method::POST,
        &format!("{base}/compute/v2.1/servers"),
        &token,
        Some("compute 2.79"),
        Some(boot),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{server}");
    let id = server["server"]["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let (_, _, s) = call(
            reqwest::Method::GET,
            &format!("{base}/compute/v2.1/servers/{id}"),
            &token,
            Some("compute 2.79"),
            None,
        )
        .await;
        if s["server"]["status"] != "BUILD" {
            break s["server"].clone();
        }
        assert!(Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(shown["status"], "ACTIVE", "{shown}");
    assert_eq!(shown["image"], "");
    let attached = shown["os-extended-volumes:volumes_attached"]
        .as_array()
        .expect("list")
        .clone();
    assert_eq!(attached.len(), 2);
    assert_eq!(attached[0]["delete_on_termination"], true);
    let root_id = attached[0]["id"].as_str().expect("id").to_string();
    let (_, _, list) = call(
        reqwest::Method::GET,
        &format!("{base}/compute/v2.1/servers/{id}/os-volume_attachments"),
        &token,
        Some("compute 2.79"),
        None,
    )
    .await;
    assert_eq!(list["volumeAttachments"][0]["device"], "/dev/vda");
    assert_eq!(list["volumeAttachments"][1]["device"], "/dev/vdb");
    assert_eq!(list["volumeAttachments"][1]["volumeId"], data_id.as_str());
    let root = wait_volume(&base, &token, &root_id, "in-use").await;
    assert_eq!(root["bootable"], "true");
    assert_eq!(root["attachments"][0]["server_id"], id.as_str());
    assert_eq!(root["attachments"][0]["device"], "/dev/vda");

    // In use: no delete, no snapshot without force below 3.66, force false refused from 3.66.
    let (status, _, body) = call(
        reqwest::Method::DELETE,
        &format!("{cinder}/volumes/{data_id}"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["badRequest"]["message"]
            .as_str()
            .expect("message")
            .starts_with("Invalid volume: Volume status must be available or error or"),
        "{body}"
    );
    let snap = |force: Option<bool>| {
        let mut s = json!({"volume_id": data_id, "name": "s"});
        if let Some(f) = force {
            s["force"] = json!(f);
        }
        json!({"snapshot": s})
    };
    let (status, _, _) = call(
        reqwest::Method::POST,
        &format!("{cinder}/snapshots"),
        &token,
        Some("volume 3.65"),
        Some(snap(None)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, body) = call(
        reqwest::Method::POST,
        &format!("{cinder}/snapshots"),
        &token,
        Some("volume 3.66"),
        Some(snap(Some(false))),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["badRequest"]["message"]
            .as_str()
            .expect("message")
            .starts_with("Since microversion 3.66 the 'force' flag is invalid"),
        "{body}"
    );
    let (status, _, forced) = call(
        reqwest::Method::POST,
        &format!("{cinder}/snapshots"),
        &token,
        None,
        Some(snap(Some(true))),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{forced}");
    assert_eq!(forced["snapshot"]["status"], "creating");

    // `PUT os-volume_attachments/{volume}`: a swap (before 2.85, or another volume) is an
    // admin's; from 2.85 the same volume's `delete_on_termination` changes, nothing else.
    let put = |volume: &str, version: &str, body: Value| {
        let url = format!("{base}/compute/v2.1/servers/{id}/os-volume_attachments/{volume}");
        let (version, token) = (version.to_string(), token.clone());
        async move {
            call(
                reqwest::Method::PUT,
                &url,
                &token,
                Some(&version),
                Some(json!({"volumeAttachment": body})),
            )
            .await
        }
    };
    let (status, _, body) = put(&root_id, "compute 2.84", json!({"volumeId": root_id})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["forbidden"]["message"],
        "Policy doesn't allow os_compute_api:os-volumes-attachments:swap to be performed."
    );
    let (status, _, body) = put(&root_id, "compute 2.85", json!({"volumeId": data_id})).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "another volume is a swap: {body}"
    );
    let (status, _, body) = put(
        &root_id,
        "compute 2.85",
        json!({"volumeId": root_id, "device": "/dev/vdz"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["badRequest"]["message"],
        "The device property is not mutable"
    );
    let unknown = "0b7e9a3c-5a43-4f1e-9b43-4c1b1f1d2e3f";
    let (status, _, _) = put(unknown, "compute 2.85", json!({"volumeId": unknown})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let root_flag = || async {
        let (_, _, list) = call(
            reqwest::Method::GET,
            &format!("{base}/compute/v2.1/servers/{id}/os-volume_attachments"),
            &token,
            Some("compute 2.85"),
            None,
        )
        .await;
        list["volumeAttachments"][0]["delete_on_termination"].clone()
    };
    for wanted in [false, true] {
        let (status, _, body) = put(
            &root_id,
            "compute 2.85",
            json!({"volumeId": root_id, "delete_on_termination": wanted}),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body, Value::Null, "no body");
        assert_eq!(root_flag().await, json!(wanted));
    }

    // Deleting the server: the root volume (delete_on_termination) goes, the data volume stays.
    let (status, _, _) = call(
        reqwest::Method::DELETE,
        &format!("{base}/compute/v2.1/servers/{id}"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    wait_volume(&base, &token, &data_id, "available").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, _) = call(
            reqwest::Method::GET,
            &format!("{cinder}/volumes/{root_id}"),
            &token,
            None,
            None,
        )
        .await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(Instant::now() < deadline, "the root volume stays");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dc.stop().await;
}

/// A volume Nova makes that goes to `error` (the `volume_create_error` knob) fails the boot
/// with Nova's fault, and the state dump lists the project's volumes.
#[tokio::test]
async fn a_volume_in_error_fails_the_boot() {
    let (dc, base, token) = start().await;
    let mut f = dc.provider.cloud().faults.get();
    f.volume_create_error = true;
    f.volume_create_s = 0.05;
    dc.provider.cloud().faults.set(f);
    let boot = json!({"server": {"name": "bfv", "flavorRef": "2", "networks": "none",
        "block_device_mapping_v2": [{"boot_index": 0, "source_type": "blank",
            "destination_type": "volume", "volume_size": 1, "delete_on_termination": true}]}});
    let (status, _, server) = call(
        reqwest::Method::POST,
        &format!("{base}/compute/v2.1/servers"),
        &token,
        Some("compute 2.79"),
        Some(boot),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{server}");
    let id = server["server"]["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let (_, _, s) = call(
            reqwest::Method::GET,
            &format!("{base}/compute/v2.1/servers/{id}"),
            &token,
            None,
            None,
        )
        .await;
        if s["server"]["status"] != "BUILD" {
            break s["server"].clone();
        }
        assert!(Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(shown["status"], "ERROR", "{shown}");
    let message = shown["fault"]["message"].as_str().expect("fault");
    assert!(
        message.contains("did not finish being created")
            && message.ends_with("its status is error."),
        "{message}"
    );
    assert_eq!(shown["os-extended-volumes:volumes_attached"], json!([]));
    let (_, _, v) = call(
        reqwest::Method::POST,
        &format!("{base}/volume/v3/volumes"),
        &token,
        None,
        Some(json!({"volume": {"size": 1, "name": "dumped"}})),
    )
    .await;
    assert_eq!(v["volume"]["status"], "creating");
    let state: Value = reqwest::get(format!("{base}/devcloud/state"))
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let volumes = state["projects"]["ehr"]["volumes"].to_string();
    assert!(volumes.contains("dumped"), "{state}");
    dc.stop().await;
}

async fn login(base: &str, user: &str, password: &str, project: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{base}/identity/v3/auth/tokens"))
        .json(&json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}))
        .send()
        .await
        .expect("login");
    r.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_string()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect::<Vec<_>>()
}

/// What Cinder shows a project member and what only an admin: the views and the controller
/// extensions under their default policies (`cinder/api/v3/views/volumes.py`,
/// `cinder/api/v3/views/types.py`, `cinder/api/contrib/*`, `cinder/policies/*`), the fields
/// the extensions add to `show`/`detail` only (not to a create's answer), the image metadata
/// once stored (with `signature_verified`), and the raw type object of an upload's answer
/// (`cinder/volume/api.py` `copy_volume_to_image`).
#[tokio::test]
async fn member_and_admin_views_as_cinder() {
    let (dc, base, token) = start().await;
    let cinder = format!("{base}/volume/v3");
    let admin = login(&base, "admin", "admin-secret", "admin").await;
    let latest = Some("volume 3.71");
    let (_, _, images) = call(
        reqwest::Method::GET,
        &format!("{base}/image/v2/images?name=ubuntu-22.04-base"),
        &token,
        None,
        None,
    )
    .await;
    let image = images["images"][0]["id"]
        .as_str()
        .expect("image")
        .to_string();

    // The create's answer: the bare detail view.
    let (status, _, created) = call(
        reqwest::Method::POST,
        &format!("{cinder}/volumes"),
        &token,
        latest,
        Some(json!({"volume": {"size": 1, "imageRef": image, "name": "views"}})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let created = &created["volume"];
    for absent in [
        "os-vol-tenant-attr:tenant_id",
        "volume_image_metadata",
        "migration_status",
        "provider_id",
        "encryption_key_id",
        "os-vol-host-attr:host",
        "cluster_name",
    ] {
        assert!(created.get(absent).is_none(), "{absent}: {created}");
    }
    assert_eq!(created["service_uuid"], Value::Null, "{created}");
    assert_eq!(created["updated_at"], Value::Null, "{created}");
    assert_eq!(created["volume_type_id"].as_str().map(str::len), Some(36));
    let id = created["id"].as_str().expect("id").to_string();

    // Show, to the member: the tenant attribute and the image metadata, nothing admin-only.
    wait_volume(&base, &token, &id, "available").await;
    let (_, _, shown) = call(
        reqwest::Method::GET,
        &format!("{cinder}/volumes/{id}"),
        &token,
        latest,
        None,
    )
    .await;
    let shown = &shown["volume"];
    assert!(shown["os-vol-tenant-attr:tenant_id"].is_string(), "{shown}");
    assert_eq!(shown["volume_image_metadata"]["image_id"], image.as_str());
    assert_eq!(
        shown["volume_image_metadata"]["signature_verified"],
        "False"
    );
    for absent in [
        "migration_status",
        "provider_id",
        "encryption_key_id",
        "os-vol-host-attr:host",
        "os-vol-mig-status-attr:migstat",
        "cluster_name",
    ] {
        assert!(shown.get(absent).is_none(), "{absent}: {shown}");
    }
    assert!(shown["service_uuid"].is_string() && shown["updated_at"].is_string());
    let (_, _, detail) = call(
        reqwest::Method::GET,
        &format!("{cinder}/volumes/detail"),
        &token,
        latest,
        None,
    )
    .await;
    assert_eq!(keys(&detail["volumes"][0]), keys(shown));

    // The same volume to an admin: the admin-only fields too.
    let (status, _, as_admin) = call(
        reqwest::Method::GET,
        &format!("{cinder}/volumes/{id}"),
        &admin,
        latest,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{as_admin}");
    let as_admin = &as_admin["volume"];
    for present in [
        "migration_status",
        "provider_id",
        "os-vol-host-attr:host",
        "os-vol-mig-status-attr:migstat",
        "os-vol-mig-status-attr:name_id",
        "cluster_name",
        "os-vol-tenant-attr:tenant_id",
        "volume_image_metadata",
    ] {
        assert!(as_admin.get(present).is_some(), "{present}: {as_admin}");
    }
    assert!(as_admin.get("encryption_key_id").is_none());

    // Types: the member sees only the user-visible extra specs and no QoS id.
    let (_, _, types) = call(
        reqwest::Method::GET,
        &format!("{cinder}/types"),
        &token,
        latest,
        None,
    )
    .await;
    let lvm = types["volume_types"]
        .as_array()
        .expect("types")
        .iter()
        .find(|t| t["name"] == "lvmdriver-1")
        .expect("lvmdriver-1")
        .clone();
    assert_eq!(lvm["extra_specs"], json!({}), "{lvm}");
    assert!(lvm.get("qos_specs_id").is_none(), "{lvm}");
    assert_eq!(lvm["os-volume-type-access:is_public"], true);
    let type_id = lvm["id"].as_str().expect("id").to_string();
    let (_, _, admin_type) = call(
        reqwest::Method::GET,
        &format!("{cinder}/types/{type_id}"),
        &admin,
        latest,
        None,
    )
    .await;
    let admin_type = &admin_type["volume_type"];
    assert_eq!(
        admin_type["extra_specs"]["volume_backend_name"],
        "lvmdriver-1"
    );
    assert!(admin_type.get("qos_specs_id").is_some(), "{admin_type}");

    // A snapshot's create answer has no extended attributes; its show has them.
    let (status, _, snap) = call(
        reqwest::Method::POST,
        &format!("{cinder}/snapshots"),
        &token,
        latest,
        Some(json!({"snapshot": {"volume_id": id, "name": "s"}})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{snap}");
    let snap = &snap["snapshot"];
    assert!(
        snap.get("os-extended-snapshot-attributes:progress")
            .is_none()
            && snap
                .get("os-extended-snapshot-attributes:project_id")
                .is_none(),
        "{snap}"
    );
    let snap_id = snap["id"].as_str().expect("id");
    let (_, _, snap_shown) = call(
        reqwest::Method::GET,
        &format!("{cinder}/snapshots/{snap_id}"),
        &token,
        latest,
        None,
    )
    .await;
    assert!(
        snap_shown["snapshot"]["os-extended-snapshot-attributes:project_id"].is_string(),
        "{snap_shown}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, _, s) = call(
            reqwest::Method::GET,
            &format!("{cinder}/snapshots/{snap_id}"),
            &token,
            latest,
            None,
        )
        .await;
        if s["snapshot"]["status"] == "available" {
            break;
        }
        assert!(Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The upload's answer carries the volume's type object as it serializes, to anyone.
    let (status, _, up) = call(
        reqwest::Method::POST,
        &format!("{cinder}/volumes/{id}/action"),
        &token,
        latest,
        Some(json!({"os-volume_upload_image": {"image_name": "views-up", "disk_format": "raw"}})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{up}");
    let vt = &up["os-volume_upload_image"]["volume_type"];
    let mut vt_keys = keys(vt);
    vt_keys.sort();
    assert_eq!(
        vt_keys,
        [
            "created_at",
            "deleted",
            "deleted_at",
            "description",
            "extra_specs",
            "id",
            "is_public",
            "name",
            "qos_specs_id",
            "updated_at"
        ]
    );
    assert_eq!(vt["extra_specs"]["volume_backend_name"], "lvmdriver-1");
    // The image gets the volume's image metadata but Glance's reserved namespaces.
    let image_up = up["os-volume_upload_image"]["image_id"]
        .as_str()
        .expect("image id");
    let (_, _, img) = call(
        reqwest::Method::GET,
        &format!("{base}/image/v2/images/{image_up}"),
        &token,
        None,
        None,
    )
    .await;
    assert!(img.get("signature_verified").is_none(), "{img}");
    dc.stop().await;
}

/// Lists page as Cinder's do: `limit` cuts the list and `volumes_links` holds the next page's
/// address (the same query, the next `marker`); a page shorter than its limit is the last and
/// has none (for snapshots too).
#[tokio::test]
async fn lists_page_with_next_links() {
    let (_dc, base, token) = start().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let (status, _, v) = call(
            reqwest::Method::POST,
            &format!("{base}/volume/v3/volumes"),
            &token,
            None,
            Some(json!({"volume": {"size": 1, "name": format!("paged-{n}")}})),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");
        let id = v["volume"]["id"].as_str().expect("id").to_string();
        wait_volume(&base, &token, &id, "available").await;
        ids.push(id);
    }
    for (path, key) in [("volumes", "volumes"), ("volumes/detail", "volumes")] {
        let mut seen = Vec::new();
        let mut url = format!("{base}/volume/v3/{path}?limit=2");
        let mut pages = 0;
        loop {
            let (status, _, v) = call(reqwest::Method::GET, &url, &token, None, None).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            pages += 1;
            let items = v[key].as_array().expect("items");
            assert!(items.len() <= 2, "{v}");
            seen.extend(
                items
                    .iter()
                    .map(|i| i["id"].as_str().expect("id").to_string()),
            );
            let Some(next) = v[format!("{key}_links")][0]["href"].as_str() else {
                break;
            };
            assert!(next.contains(&format!("/volume/v3/{path}?")), "{next}");
            assert!(
                next.contains("limit=2") && next.contains("marker="),
                "{next}"
            );
            url = next.to_string();
        }
        let mut all = ids.clone();
        all.sort();
        seen.sort();
        assert_eq!(seen, all, "{path}");
        assert_eq!(pages, 2, "{path}");
    }
    let (status, _, v) = call(
        reqwest::Method::POST,
        &format!("{base}/volume/v3/snapshots"),
        &token,
        None,
        Some(json!({"snapshot": {"volume_id": ids[0], "name": "paged-snap"}})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let (_, _, v) = call(
        reqwest::Method::GET,
        &format!("{base}/volume/v3/snapshots/detail?limit=2"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(v["snapshots"].as_array().map(Vec::len), Some(1), "{v}");
    assert!(
        v.get("snapshots_links").is_none(),
        "a short page is the last: {v}"
    );
}
