//! Boot fidelity (issue 16) over HTTP against an in-process devcloud: snapshots inherit the
//! base image's properties as Nova's do; a server's description, config drive, hostname,
//! user data, availability zone, tags and metadata (and the metadata API); server groups
//! with their policies, members and quotas, and the policy applied at boot.

use std::time::{Duration, Instant};

use devcloud::{DevCloud, Options};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn start() -> DevCloud {
    DevCloud::start(Options {
        image_size: 1 << 20,
        seed: 16,
        ..Options::default()
    })
    .await
    .expect("devcloud starts")
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn login(base: &str, user: &str, password: &str, project: &str) -> String {
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
    let r = http()
        .post(format!("{base}/identity/v3/auth/tokens"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.headers()["x-subject-token"].to_str().unwrap().to_string()
}

/// One request at microversion `mv`: (status, body or Null).
async fn call(
    method: reqwest::Method,
    url: &str,
    token: &str,
    mv: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = http()
        .request(method, url)
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", format!("compute {mv}"));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(url: &str, token: &str, mv: &str) -> Value {
    let (s, v) = call(reqwest::Method::GET, url, token, mv, None).await;
    assert_eq!(s, StatusCode::OK, "GET {url}: {v}");
    v
}

async fn post(url: &str, token: &str, mv: &str, body: Value) -> (StatusCode, Value) {
    call(reqwest::Method::POST, url, token, mv, Some(body)).await
}

async fn private_net(base: &str, token: &str) -> String {
    let v = get(
        &format!("{base}/network/v2.0/networks?name=private"),
        token,
        "2.1",
    )
    .await;
    v["networks"][0]["id"].as_str().unwrap().to_string()
}

/// An uploaded raw image with `properties`, active.
async fn image_with(base: &str, token: &str, properties: Value) -> String {
    let mut body = json!({"name": "uefi-base", "disk_format": "raw", "container_format": "bare", "min_ram": 256});
    for (k, v) in properties.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = http()
        .post(format!("{base}/image/v2/images"))
        .header("X-Auth-Token", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http()
        .put(format!("{base}/image/v2/images/{id}/file"))
        .header("X-Auth-Token", token)
        .header("Content-Type", "application/octet-stream")
        .body(vec![7u8; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    id
}

async fn boot(base: &str, token: &str, mv: &str, body: Value) -> (StatusCode, Value) {
    post(&format!("{base}/compute/v2.1/servers"), token, mv, body).await
}

async fn wait_status(base: &str, token: &str, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = get(&format!("{base}/compute/v2.1/servers/{id}"), token, "2.1").await;
        if v["server"]["status"] == want {
            return v["server"].clone();
        }
        assert!(Instant::now() < deadline, "{id} never reached {want}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const BOOT_PROPS: [(&str, &str); 6] = [
    ("hw_firmware_type", "uefi"),
    ("hw_machine_type", "q35"),
    ("hw_disk_bus", "scsi"),
    ("hw_scsi_model", "virtio-scsi"),
    ("os_distro", "ubuntu"),
    ("os_type", "linux"),
];

#[tokio::test]
async fn a_snapshot_inherits_the_base_image_properties_as_nova_does() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = login(base, "bob", "bob-secret", "research").await;
    let mut props: serde_json::Map<String, Value> = BOOT_PROPS
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    // Nova's non-inheritable ones (its option's default and its fixed list).
    props.insert("cache_in_nova".into(), json!("True"));
    props.insert("img_signature".into(), json!("c2ln"));
    props.insert("img_signature_hash_method".into(), json!("SHA-256"));
    props.insert("cinder_encryption_key_id".into(), json!("k"));
    let image = image_with(base, &token, Value::Object(props)).await;
    let net = private_net(base, &token).await;
    let (s, v) = boot(
        base,
        &token,
        "2.1",
        json!({"server": {"name": "uefi-vm", "flavorRef": "1", "imageRef": image,
        "networks": [{"uuid": net}]}}),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_string();
    wait_status(base, &token, &id, "ACTIVE").await;
    let (s, v) = post(
        &format!("{base}/compute/v2.1/servers/{id}/action"),
        &token,
        "2.45",
        json!({"createImage": {"name": "uefi-snap", "metadata": {"extra": "x", "os_type": "windows"}}}),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let snap = v["image_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let img = loop {
        let img = get(&format!("{base}/image/v2/images/{snap}"), &token, "2.1").await;
        if img["status"] == "active" {
            break img;
        }
        assert!(Instant::now() < deadline, "snapshot never active: {img}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (k, v) in BOOT_PROPS.iter().filter(|(k, _)| *k != "os_type") {
        assert_eq!(img[*k], *v, "{k} in {img}");
    }
    // The request's metadata wins over what was inherited.
    assert_eq!(img["os_type"], "windows");
    assert_eq!(img["extra"], "x");
    for gone in [
        "cache_in_nova",
        "img_signature",
        "img_signature_hash_method",
        "cinder_encryption_key_id",
    ] {
        assert!(img.get(gone).is_none(), "{gone} inherited: {img}");
    }
    assert_eq!(img["image_type"], "snapshot");
    assert_eq!(img["instance_uuid"], id);
    assert_eq!(img["base_image_ref"], image);
    assert_eq!(img["owner_user_name"], "bob");
    assert_eq!(img["owner_project_name"], "research");
    assert_eq!(img["image_location"], "snapshot");
    assert_eq!(img["image_state"], "available");
    assert!(img["boot_roles"].as_str().unwrap().contains("member"));
    // min_disk: at least the flavor's root disk (m1.tiny: 1 GB); min_ram: the base image's.
    assert_eq!(img["min_disk"], 1);
    assert_eq!(img["min_ram"], 256);
    // The formats are not inherited as properties.
    assert!(img.get("image_disk_format").is_none() && img.get("min_ram_image").is_none());

    // A snapshot of a server booted from that snapshot carries the properties on.
    let (_, v) = boot(
        base,
        &token,
        "2.1",
        json!({"server": {"name": "uefi-vm2", "flavorRef": "1", "imageRef": snap,
        "networks": [{"uuid": net}]}}),
    )
    .await;
    let id2 = v["server"]["id"].as_str().unwrap().to_string();
    wait_status(base, &token, &id2, "ACTIVE").await;
    let (_, v) = post(
        &format!("{base}/compute/v2.1/servers/{id2}/action"),
        &token,
        "2.45",
        json!({"createImage": {"name": "uefi-snap2"}}),
    )
    .await;
    let snap2 = v["image_id"].as_str().unwrap().to_string();
    let img2 = get(&format!("{base}/image/v2/images/{snap2}"), &token, "2.1").await;
    assert_eq!(img2["hw_firmware_type"], "uefi");
    assert_eq!(img2["instance_uuid"], id2);
    assert_eq!(img2["base_image_ref"], snap);
    dc.stop().await;
}

#[tokio::test]
async fn a_server_keeps_description_config_drive_hostname_user_data_and_zone() {
    let dc = start().await;
    let base = dc.provider.base_url();
    let alice = login(base, "alice", "alice-secret", "ehr").await;
    let admin = login(base, "admin", "admin-secret", "admin").await;
    let net = private_net(base, &alice).await;
    let image = get(
        &format!("{base}/image/v2/images?name=ubuntu-22.04-base"),
        &alice,
        "2.1",
    )
    .await["images"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let server = |extra: Value| {
        let mut s = json!({"name": "web 1", "flavorRef": "2", "imageRef": image, "networks": [{"uuid": net}]});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        json!({"server": s})
    };
    // Nova's validation of the new fields.
    let bad = [
        ("2.90", json!({"user_data": "abc"}), "is not a 'base64'"),
        (
            "2.90",
            json!({"user_data": "a".repeat(65536)}),
            "is too long",
        ),
        (
            "2.89",
            json!({"hostname": "web-1"}),
            "'hostname' was unexpected",
        ),
        ("2.90", json!({"hostname": "web 1"}), "does not match"),
        // An FQDN only from 2.94.
        (
            "2.93",
            json!({"hostname": "web-1.example"}),
            "does not match '^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$'",
        ),
        (
            "2.18",
            json!({"description": "d"}),
            "'description' was unexpected",
        ),
        ("2.51", json!({"tags": ["a"]}), "'tags' was unexpected"),
        ("2.90", json!({"config_drive": "maybe"}), "config_drive"),
        (
            "2.90",
            json!({"availability_zone": "elsewhere"}),
            "not available",
        ),
        (
            "2.90",
            json!({"metadata": {"k": 1}}),
            "is not of type 'string'",
        ),
    ];
    for (mv, extra, want) in bad {
        let (s, v) = boot(base, &alice, mv, server(extra.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{extra}: {v}");
        assert!(v.to_string().contains(want), "{extra}: {v}");
    }
    let hint = |g: &str| json!({"group": g});
    let (s, v) = boot(base, &alice, "2.90", {
        let mut b = server(json!({}));
        b["os:scheduler_hints"] = hint("6f0c1a3e-5b7d-4c2a-9e8f-0123456789ab");
        b
    })
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v.to_string().contains("could not be found"), "{v}");

    let user_data = "I2Nsb3VkLWNvbmZpZwpwYWNrYWdlczogW25naW54XQo=";
    let (s, v) = boot(
        base,
        &alice,
        "2.94",
        server(json!({"description": "the web server",
        "config_drive": true, "hostname": "web-1.example", "user_data": user_data,
        "availability_zone": "nova", "tags": ["web", "prod"], "metadata": {"role": "web"}})),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_string();
    wait_status(base, &alice, &id, "ACTIVE").await;
    let url = format!("{base}/compute/v2.1/servers/{id}");
    let s = get(&url, &alice, "2.96").await["server"].clone();
    assert_eq!(s["description"], "the web server");
    assert_eq!(s["config_drive"], "True");
    assert_eq!(s["OS-EXT-SRV-ATTR:hostname"], "web-1.example");
    assert_eq!(s["OS-EXT-AZ:availability_zone"], "nova");
    assert_eq!(s["pinned_availability_zone"], "nova");
    // Tags come back in nova's table order.
    assert_eq!(s["tags"], json!(["prod", "web"]));
    assert_eq!(s["metadata"], json!({"role": "web"}));
    // user_data: admins only (2.3+); the owner sees the hostname only from 2.90.
    assert!(s.get("OS-EXT-SRV-ATTR:user_data").is_none(), "{s}");
    let s = get(&url, &alice, "2.89").await["server"].clone();
    assert!(s.get("OS-EXT-SRV-ATTR:hostname").is_none(), "{s}");
    assert_eq!(s["config_drive"], "True");
    let s = get(&url, &admin, "2.3").await["server"].clone();
    assert_eq!(s["OS-EXT-SRV-ATTR:user_data"], user_data);
    assert_eq!(s["OS-EXT-SRV-ATTR:hostname"], "web-1.example");
    let d = get(
        &format!("{base}/compute/v2.1/servers/detail?all_tenants=1"),
        &admin,
        "2.3",
    )
    .await;
    let mine = d["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id.as_str())
        .unwrap();
    assert_eq!(mine["OS-EXT-SRV-ATTR:user_data"], user_data);
    // The seeded server: no config drive, no user data, hostname from its name.
    let seeded = get(
        &format!("{base}/compute/v2.1/servers/detail?name=ehr-analytics"),
        &alice,
        "2.90",
    )
    .await;
    assert_eq!(seeded["servers"][0]["config_drive"], "");
    assert_eq!(
        seeded["servers"][0]["OS-EXT-SRV-ATTR:hostname"],
        "ehr-analytics"
    );
    // Without a hostname, nova sanitizes the name.
    let (_, v) = boot(
        base,
        &alice,
        "2.90",
        server(json!({"config_drive": "false"})),
    )
    .await;
    let id2 = v["server"]["id"].as_str().unwrap().to_string();
    let s = get(
        &format!("{base}/compute/v2.1/servers/{id2}"),
        &alice,
        "2.90",
    )
    .await["server"]
        .clone();
    assert_eq!(s["OS-EXT-SRV-ATTR:hostname"], "web-1");
    assert_eq!(s["config_drive"], "");
    // PUT: description (2.19+, null clears it), hostname (2.90+).
    let (st, v) = call(
        reqwest::Method::PUT,
        &url,
        &alice,
        "2.90",
        Some(json!({"server": {"description": "renamed", "hostname": "web-2"}})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["server"]["description"], "renamed");
    assert_eq!(v["server"]["OS-EXT-SRV-ATTR:hostname"], "web-2");
    let (st, v) = call(
        reqwest::Method::PUT,
        &url,
        &alice,
        "2.19",
        Some(json!({"server": {"description": null}})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["server"]["description"], Value::Null);
    // Before 2.75 the update answers a reduced view (nova's `show_all_attributes`).
    for gone in [
        "config_drive",
        "OS-EXT-AZ:availability_zone",
        "key_name",
        "OS-EXT-STS:vm_state",
        "security_groups",
    ] {
        assert!(v["server"].get(gone).is_none(), "{gone} in {v}");
    }
    let (st, v) = call(
        reqwest::Method::PUT,
        &url,
        &alice,
        "2.75",
        Some(json!({"server": {"description": "full"}})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["server"]["config_drive"], "True");
    assert_eq!(v["server"]["OS-EXT-AZ:availability_zone"], "nova");
    let (st, _) = call(
        reqwest::Method::PUT,
        &url,
        &alice,
        "2.18",
        Some(json!({"server": {"description": "x"}})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    dc.stop().await;
}

#[tokio::test]
async fn the_metadata_api_answers_as_nova() {
    let dc = start().await;
    let base = dc.provider.base_url();
    let alice = login(base, "alice", "alice-secret", "ehr").await;
    let v = get(
        &format!("{base}/compute/v2.1/servers?name=ehr-analytics"),
        &alice,
        "2.1",
    )
    .await;
    let id = v["servers"][0]["id"].as_str().unwrap().to_string();
    let url = format!("{base}/compute/v2.1/servers/{id}/metadata");
    assert_eq!(
        get(&url, &alice, "2.1").await,
        json!({"metadata": {"role": "analytics"}})
    );
    // POST merges, PUT replaces; both answer the whole metadata.
    let (s, v) = post(&url, &alice, "2.1", json!({"metadata": {"tier": "db"}})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"metadata": {"role": "analytics", "tier": "db"}}));
    let (s, v) = call(
        reqwest::Method::PUT,
        &url,
        &alice,
        "2.1",
        Some(json!({"metadata": {"a": "1", "b": "2"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"metadata": {"a": "1", "b": "2"}}));
    // One item.
    let (s, v) = call(
        reqwest::Method::PUT,
        &format!("{url}/c"),
        &alice,
        "2.1",
        Some(json!({"meta": {"c": "3"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"meta": {"c": "3"}}));
    let (s, v) = call(
        reqwest::Method::PUT,
        &format!("{url}/c"),
        &alice,
        "2.1",
        Some(json!({"meta": {"d": "3"}})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["badRequest"]["message"], "Request body and URI mismatch");
    assert_eq!(
        get(&format!("{url}/c"), &alice, "2.1").await,
        json!({"meta": {"c": "3"}})
    );
    // Nova labels its 204s application/json.
    let r = http()
        .delete(format!("{url}/a"))
        .header("X-Auth-Token", &alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["content-type"], "application/json");
    let (s, v) = call(
        reqwest::Method::DELETE,
        &format!("{url}/a"),
        &alice,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["itemNotFound"]["message"], "Metadata item was not found");
    let (s, _) = call(
        reqwest::Method::GET,
        &format!("{url}/a"),
        &alice,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&url, &alice, "2.1").await,
        json!({"metadata": {"b": "2", "c": "3"}})
    );
    // Keys nova's schema refuses; the metadata_items quota.
    let (s, v) = post(&url, &alice, "2.1", json!({"metadata": {"a/b": "1"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let many: serde_json::Map<String, Value> =
        (0..129).map(|i| (format!("k{i}"), json!("v"))).collect();
    let (s, v) = call(
        reqwest::Method::PUT,
        &url,
        &alice,
        "2.1",
        Some(json!({"metadata": many})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // Someone else's server: 404.
    let bob = login(dc.hospital.base_url(), "bob", "bob-secret", "research").await;
    let _ = bob;
    let admin = login(base, "admin", "admin-secret", "admin").await;
    let (s, _) = call(reqwest::Method::GET, &url, &admin, "2.1", None).await;
    assert_eq!(s, StatusCode::OK);
    dc.stop().await;
}

#[tokio::test]
async fn server_groups_hold_members_and_apply_their_policy() {
    let dc = start().await;
    let base = dc.provider.base_url();
    let alice = login(base, "alice", "alice-secret", "ehr").await;
    let admin = login(base, "admin", "admin-secret", "admin").await;
    let groups = format!("{base}/compute/v2.1/os-server-groups");
    // Before 2.64: `policies`; the answer (200) shows `policies` and `metadata`.
    let (s, v) = post(
        &groups,
        &alice,
        "2.1",
        json!({"server_group": {"name": "old", "policies": ["affinity"]}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let old = v["server_group"].clone();
    assert_eq!(old["policies"], json!(["affinity"]));
    assert_eq!(old["metadata"], json!({}));
    assert_eq!(old["members"], json!([]));
    assert!(old.get("project_id").is_none() && old.get("policy").is_none());
    // From 2.64: `policy` and `rules`.
    let (s, v) = post(
        &groups,
        &alice,
        "2.64",
        json!({"server_group": {"name": "web", "policy": "anti-affinity"}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let g = v["server_group"].clone();
    assert_eq!(g["policy"], "anti-affinity");
    assert_eq!(g["rules"], json!({}));
    assert!(g["project_id"].is_string() && g["user_id"].is_string());
    assert!(g.get("policies").is_none() && g.get("metadata").is_none());
    let gid = g["id"].as_str().unwrap().to_string();
    let (s, v) = post(&groups, &alice, "2.64", json!({"server_group": {"name": "x", "policy": "affinity", "rules": {"max_server_per_host": 2}}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["badRequest"]["message"],
        "Only anti-affinity policy supports rules."
    );
    let (s, _) = post(
        &groups,
        &alice,
        "2.64",
        json!({"server_group": {"name": "x", "policies": ["affinity"]}}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Lists: the caller's project; admins see all with all_projects.
    let l = get(&groups, &alice, "2.64").await;
    assert_eq!(l["server_groups"].as_array().unwrap().len(), 2);
    assert_eq!(
        get(&groups, &admin, "2.64").await["server_groups"],
        json!([])
    );
    let l = get(&format!("{groups}?all_projects=True"), &admin, "2.64").await;
    assert_eq!(l["server_groups"].as_array().unwrap().len(), 2);
    let l = get(&format!("{groups}?all_projects=True"), &alice, "2.64").await;
    assert_eq!(l["server_groups"].as_array().unwrap().len(), 2);
    // Members: a boot with the hint joins; anti-affinity on devcloud's one host admits one.
    let net = private_net(base, &alice).await;
    let image = get(
        &format!("{base}/image/v2/images?name=ubuntu-22.04-base"),
        &alice,
        "2.1",
    )
    .await["images"][0]["id"]
        .clone();
    let mut ids = Vec::new();
    for name in ["a1", "a2"] {
        let (s, v) = boot(
            base,
            &alice,
            "2.64",
            json!({"server": {"name": name, "flavorRef": "1", "imageRef": image,
            "networks": [{"uuid": net}]}, "os:scheduler_hints": {"group": gid}}),
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        ids.push(v["server"]["id"].as_str().unwrap().to_string());
    }
    wait_status(base, &alice, &ids[0], "ACTIVE").await;
    let failed = wait_status(base, &alice, &ids[1], "ERROR").await;
    assert_eq!(failed["fault"]["code"], 500);
    // Nova shows `progress` only for ACTIVE and BUILD (and migration) states.
    assert!(failed.get("progress").is_none(), "{failed}");
    assert!(
        failed["fault"]["message"]
            .as_str()
            .unwrap()
            .starts_with("No valid host was found")
    );
    let g = get(&format!("{groups}/{gid}"), &alice, "2.64").await["server_group"].clone();
    assert_eq!(g["members"], json!(ids));
    let s = get(
        &format!("{base}/compute/v2.1/servers/{}", ids[0]),
        &alice,
        "2.71",
    )
    .await;
    assert_eq!(s["server"]["server_groups"], json!([gid]));
    // Deleting a server takes it out of the group.
    let (s, _) = call(
        reqwest::Method::DELETE,
        &format!("{base}/compute/v2.1/servers/{}", ids[1]),
        &alice,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let g = get(&format!("{groups}/{gid}"), &alice, "2.64").await["server_group"].clone();
    assert_eq!(g["members"], json!([ids[0]]));
    // Limits count the groups.
    let l = get(&format!("{base}/compute/v2.1/limits"), &alice, "2.64").await;
    assert_eq!(l["limits"]["absolute"]["totalServerGroupsUsed"], 2);
    assert_eq!(l["limits"]["absolute"]["maxServerGroups"], 10);
    // Another project's group: 403 (found, then refused), an unknown one 404.
    let bob_dc = login(base, "admin", "admin-secret", "admin").await;
    let (s, _) = call(
        reqwest::Method::GET,
        &format!("{groups}/{gid}"),
        &bob_dc,
        "2.64",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "admins see every group");
    let (s, v) = call(
        reqwest::Method::GET,
        &format!("{groups}/6f0c1a3e-5b7d-4c2a-9e8f-0123456789ab"),
        &alice,
        "2.64",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        v["itemNotFound"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be found")
    );
    // The quotas.
    http()
        .patch(format!("{base}/devcloud/faults"))
        .json(&json!({"quota": {"server_groups": 2, "server_group_members": 1}}))
        .send()
        .await
        .unwrap();
    let (s, v) = post(
        &groups,
        &alice,
        "2.64",
        json!({"server_group": {"name": "third", "policy": "affinity"}}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(
        v["forbidden"]["message"],
        "Quota exceeded, too many server groups."
    );
    let (s, v) = boot(
        base,
        &alice,
        "2.64",
        json!({"server": {"name": "a3", "flavorRef": "1", "imageRef": image,
        "networks": [{"uuid": net}]}, "os:scheduler_hints": {"group": gid}}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // Delete.
    let (s, _) = call(
        reqwest::Method::DELETE,
        &format!("{groups}/{gid}"),
        &alice,
        "2.64",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        reqwest::Method::GET,
        &format!("{groups}/{gid}"),
        &alice,
        "2.64",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    dc.stop().await;
}

#[tokio::test]
async fn anti_affinity_rules_admit_as_many_as_max_server_per_host() {
    let dc = start().await;
    let base = dc.provider.base_url();
    let alice = login(base, "alice", "alice-secret", "ehr").await;
    let (_, v) = post(&format!("{base}/compute/v2.1/os-server-groups"), &alice, "2.64",
        json!({"server_group": {"name": "two", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}})).await;
    assert_eq!(
        v["server_group"]["rules"],
        json!({"max_server_per_host": 2})
    );
    let gid = v["server_group"]["id"].as_str().unwrap().to_string();
    let net = private_net(base, &alice).await;
    let image = get(
        &format!("{base}/image/v2/images?name=ubuntu-22.04-base"),
        &alice,
        "2.1",
    )
    .await["images"][0]["id"]
        .clone();
    let mut ids = Vec::new();
    for name in ["b1", "b2", "b3"] {
        let (_, v) = boot(
            base,
            &alice,
            "2.64",
            json!({"server": {"name": name, "flavorRef": "1", "imageRef": image,
            "networks": [{"uuid": net}]}, "os:scheduler_hints": {"group": gid}}),
        )
        .await;
        ids.push(v["server"]["id"].as_str().unwrap().to_string());
    }
    wait_status(base, &alice, &ids[0], "ACTIVE").await;
    wait_status(base, &alice, &ids[1], "ACTIVE").await;
    wait_status(base, &alice, &ids[2], "ERROR").await;
    dc.stop().await;
}
