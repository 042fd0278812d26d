//! devcloud's Glance v2 over HTTP: create, streamed upload with checksums, download with
//! Range and Content-MD5, JSON patch, paging, visibility, and the transfer fault knobs.

use devcloud::{DevCloud, Options};
use md5::{Digest, Md5};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn start() -> DevCloud {
    DevCloud::start(Options {
        image_size: 1 << 20,
        seed: 3,
        ..Options::default()
    })
    .await
    .expect("devcloud starts")
}

async fn login(base: &str, user: &str, password: &str, project: &str) -> String {
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
    let r = reqwest::Client::new()
        .post(format!("{base}/identity/v3/auth/tokens"))
        .json(&body)
        .send()
        .await
        .expect("auth");
    assert_eq!(r.status(), StatusCode::CREATED);
    r.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_string()
}

struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    async fn bob(dc: &DevCloud) -> Client {
        let base = dc.hospital.base_url().to_string();
        let token = login(&base, "bob", "bob-secret", "research").await;
        Client {
            base,
            token,
            http: reqwest::Client::new(),
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/image{path}", self.base))
            .header("X-Auth-Token", &self.token)
    }

    async fn create(&self, name: &str) -> String {
        let r = self
            .req(reqwest::Method::POST, "/v2/images")
            .json(&json!({"name": name, "disk_format": "qcow2", "container_format": "bare"}))
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["status"], "queued");
        body["id"].as_str().expect("id").to_string()
    }

    async fn upload(&self, id: &str, data: Vec<u8>) -> reqwest::Response {
        self.req(reqwest::Method::PUT, &format!("/v2/images/{id}/file"))
            .header("Content-Type", "application/octet-stream")
            .body(data)
            .send()
            .await
            .expect("upload")
    }

    async fn show(&self, id: &str) -> Value {
        self.req(reqwest::Method::GET, &format!("/v2/images/{id}"))
            .send()
            .await
            .expect("show")
            .json()
            .await
            .expect("json")
    }
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 256) as u8).collect()
}

#[tokio::test]
async fn upload_download_checksums_and_ranges() {
    let dc = start().await;
    let c = Client::bob(&dc).await;
    let id = c.create("round-trip").await;
    let bytes = data(3_000_000);
    assert_eq!(
        c.upload(&id, bytes.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    let shown = c.show(&id).await;
    let md5 = hex::encode(Md5::digest(&bytes));
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["size"], 3_000_000);
    assert_eq!(shown["checksum"], md5.as_str());
    assert_eq!(shown["os_hash_algo"], "sha512");
    assert_eq!(shown["os_hash_value"].as_str().map(str::len), Some(128));

    // Uploading again is a conflict.
    assert_eq!(
        c.upload(&id, vec![1, 2, 3]).await.status(),
        StatusCode::CONFLICT
    );

    let r = c
        .req(reqwest::Method::GET, &format!("/v2/images/{id}/file"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-md5"], md5.as_str());
    assert_eq!(r.bytes().await.expect("body").to_vec(), bytes);

    for (range, start, end) in [
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=2999000-", 2_999_000, 2_999_999),
        ("bytes=-10", 2_999_990, 2_999_999),
    ] {
        let r = c
            .req(reqwest::Method::GET, &format!("/v2/images/{id}/file"))
            .header("Range", range)
            .send()
            .await
            .expect("range");
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes {start}-{end}/3000000").as_str()
        );
        assert_eq!(
            r.headers()["content-md5"],
            md5.as_str(),
            "Content-MD5 is the whole image's"
        );
        assert_eq!(r.bytes().await.expect("body").to_vec(), bytes[start..=end]);
    }
    let r = c
        .req(reqwest::Method::GET, &format!("/v2/images/{id}/file"))
        .header("Range", "bytes=5000000-")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // An image without data answers 204.
    let empty = c.create("empty").await;
    let r = c
        .req(reqwest::Method::GET, &format!("/v2/images/{empty}/file"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn patch_paging_visibility_and_delete() {
    let dc = start().await;
    let c = Client::bob(&dc).await;
    let id = c.create("patched").await;
    let r = c
        .req(reqwest::Method::PATCH, &format!("/v2/images/{id}"))
        .header("Content-Type", "application/openstack-images-v2.1-json-patch")
        .body(r#"[{"op":"replace","path":"/name","value":"renamed"},{"op":"add","path":"/s2d_lineage","value":"L"},{"op":"replace","path":"/visibility","value":"public"}]"#)
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        (
            body["name"].as_str(),
            body["s2d_lineage"].as_str(),
            body["visibility"].as_str()
        ),
        (Some("renamed"), Some("L"), Some("public"))
    );
    let r = c
        .req(reqwest::Method::PATCH, &format!("/v2/images/{id}"))
        .json(&json!([]))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = c
        .req(reqwest::Method::PATCH, &format!("/v2/images/{id}"))
        .header(
            "Content-Type",
            "application/openstack-images-v2.1-json-patch",
        )
        .body(r#"[{"op":"replace","path":"/status","value":"active"}]"#)
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    for i in 0..5 {
        c.create(&format!("page-{i}")).await;
    }
    let mut seen = Vec::new();
    let mut next = Some("/v2/images?limit=2".to_string());
    while let Some(path) = next {
        let page: Value = c
            .req(reqwest::Method::GET, &path)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        for image in page["images"].as_array().expect("images") {
            seen.push(image["id"].as_str().expect("id").to_string());
        }
        next = page["next"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), 6, "every image exactly once across pages");
    let filtered: Value = c
        .req(reqwest::Method::GET, "/v2/images?name=page-3")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(filtered["images"].as_array().map(Vec::len), Some(1));

    // Another project's private image is not found.
    let private = c.create("private-one").await;
    // Another cloud (and another project) knows nothing of it.
    let provider_user = login(dc.provider.base_url(), "alice", "alice-secret", "ehr").await;
    let r = reqwest::Client::new()
        .get(format!(
            "{}/image/v2/images/{private}",
            dc.provider.base_url()
        ))
        .header("X-Auth-Token", provider_user)
        .send()
        .await
        .expect("get");
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "another cloud knows nothing of it"
    );

    let r = c
        .req(reqwest::Method::DELETE, &format!("/v2/images/{id}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = c
        .req(reqwest::Method::GET, &format!("/v2/images/{id}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn transfer_faults_take_effect() {
    let dc = start().await;
    let c = Client::bob(&dc).await;
    let id = c.create("faulty").await;
    let bytes = data(2_000_000);
    assert_eq!(
        c.upload(&id, bytes.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    let faults = &dc.hospital.cloud().faults;

    // A download reset after 500000 bytes: the client gets a short body and an error.
    let mut settings = faults.get();
    settings.reset_download_after_bytes = Some(500_000);
    settings.reset_count = 1;
    faults.set(settings);
    let r = c
        .req(reqwest::Method::GET, &format!("/v2/images/{id}/file"))
        .send()
        .await
        .expect("get");
    assert!(r.bytes().await.is_err(), "the body must break off");
    // One-shot: the next download is whole.
    let r = c
        .req(reqwest::Method::GET, &format!("/v2/images/{id}/file"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.bytes().await.expect("whole").len(), 2_000_000);

    // A corrupted byte.
    let mut settings = faults.get();
    settings.corrupt_download_byte = Some(1234);
    faults.set(settings);
    let r = c
        .req(reqwest::Method::GET, &format!("/v2/images/{id}/file"))
        .send()
        .await
        .expect("get");
    let got = r.bytes().await.expect("body");
    assert_eq!(got.len(), bytes.len());
    assert_ne!(got[1234], bytes[1234]);
    assert_eq!(got[..1234], bytes[..1234]);
    let mut settings = faults.get();
    settings.corrupt_download_byte = None;
    faults.set(settings);

    // An upload reset leaves the image queued, ready for another try.
    let second = c.create("reset-upload").await;
    let mut settings = faults.get();
    settings.reset_upload_after_bytes = Some(100_000);
    settings.reset_count = 1;
    faults.set(settings);
    assert!(!c.upload(&second, bytes.clone()).await.status().is_success());
    assert_eq!(c.show(&second).await["status"], "queued");
    assert_eq!(
        c.upload(&second, bytes.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        c.show(&second).await["checksum"],
        hex::encode(Md5::digest(&bytes)).as_str()
    );
}

#[tokio::test]
async fn version_discovery_lists_v2() {
    let dc = start().await;
    let r = reqwest::get(format!("{}/image", dc.hospital.base_url()))
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::MULTIPLE_CHOICES);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["versions"][0]["id"], "v2.17");
    assert_eq!(body["versions"][0]["status"], "CURRENT");
}

/// Errors as Glance renders them (webob): plain text without `Accept`, an HTML page for
/// `*/*`, JSON whose `code` is a string for `application/json`; 401s too (with
/// `WWW-Authenticate`); a 416 carries no `Content-Range`. Keystone's 413 for an oversized body
/// is webob's too, and Neutron's `/v2.0` without the slash is a 404.
#[tokio::test]
async fn errors_are_rendered_for_the_accept_header() {
    let dc = start().await;
    let c = Client::bob(&dc).await;
    let unknown = "/v2/images/6f0c1a3e-5b7d-4c2a-9e8f-0123456789ab";
    let content_type = |r: &reqwest::Response| {
        r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_string()
    };
    // reqwest sends `Accept: */*` unless told otherwise: webob's first offer, HTML.
    let r = c.req(reqwest::Method::GET, unknown).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(content_type(&r), "text/html; charset=UTF-8");
    assert!(r.text().await.unwrap().contains("<h1>404 Not Found</h1>"));
    let r = c
        .req(reqwest::Method::GET, unknown)
        .header("Accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(content_type(&r), "text/plain; charset=UTF-8");
    assert!(
        r.text()
            .await
            .unwrap()
            .starts_with("404 Not Found\n\nNo image found")
    );
    let r = c
        .req(reqwest::Method::GET, unknown)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(content_type(&r), "application/json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "404 Not Found");
    assert_eq!(v["title"], "Not Found");

    let r = reqwest::Client::new()
        .get(format!("{}/image/v2/images", c.base))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "401 Unauthorized");

    let base = c.create("ranged").await;
    assert_eq!(
        c.upload(&base, data(1000)).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = c
        .req(reqwest::Method::GET, &format!("/v2/images/{base}/file"))
        .header("Range", "bytes=999999999-")
        .header("Accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert!(!r.headers().contains_key("content-range"));
    assert_eq!(content_type(&r), "text/plain; charset=UTF-8");

    let big = format!("{{\"auth\": \"{}\"}}", "x".repeat(200_000));
    let r = reqwest::Client::new()
        .post(format!("{}/identity/v3/auth/tokens", c.base))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "413 Request Entity Too Large");

    let neutron = |path: &str| {
        reqwest::Client::new()
            .get(format!("{}/network{path}", c.base))
            .header("X-Auth-Token", &c.token)
            .send()
    };
    assert_eq!(
        neutron("/v2.0").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // Paths no route serves: authentication first (Nova, Glance, Neutron), then webob's 404
    // (Nova, Glance) or Flask's HTML page (Keystone); Nova's legacy v2.0 document is served.
    let get = |path: String, token: bool| {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", c.base))
            .header("Accept", "application/json");
        if token {
            r.header("X-Auth-Token", &c.token).send()
        } else {
            r.send()
        }
    };
    let r = get("/image/v2/".into(), false).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "401 Unauthorized");
    let r = get("/compute/v2.1/no-such-thing".into(), true)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "404 Not Found");
    let r = get("/identity/v3/no-such-thing".into(), true)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(content_type(&r), "text/html; charset=utf-8");
    let r = get("/compute/v2".into(), false).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["version"]["status"],
        "DEPRECATED"
    );
    assert_eq!(neutron("/v2.0/").await.unwrap().status(), StatusCode::OK);
}

/// `virtual_size` as Glance's format inspector reports it: the size of a raw image, the
/// header's of a qcow2 (uploaded, or the seeded base image), none for a label the bytes do
/// not match.
#[tokio::test]
async fn virtual_size_is_inspected() {
    let dc = start().await;
    let c = Client::bob(&dc).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let qcow2 = dir.path().join("d.qcow2");
    let made = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&qcow2)
        .arg("5M")
        .status()
        .expect("qemu-img must be installed (tests/run.sh installs qemu-utils)");
    assert!(made.success());
    let id = c.create("inspected").await;
    let bytes = std::fs::read(&qcow2).expect("read");
    assert_eq!(c.upload(&id, bytes).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(c.show(&id).await["virtual_size"], 5 << 20);
    // Labelled qcow2, but not one.
    let id = c.create("not-qcow2").await;
    assert_eq!(
        c.upload(&id, data(1000)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(c.show(&id).await["virtual_size"], Value::Null);

    // The provider's seeded base image is a generated qcow2.
    let base = dc.provider.base_url().to_string();
    let token = login(&base, "alice", "alice-secret", "ehr").await;
    let provider = Client {
        base,
        token,
        http: reqwest::Client::new(),
    };
    let images: Value = provider
        .req(reqwest::Method::GET, "/v2/images?name=ubuntu-22.04-base")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let image = &images["images"][0];
    let id = image["id"].as_str().expect("id").to_string();
    for _ in 0..100 {
        if !provider.show(&id).await["virtual_size"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let shown = provider.show(&id).await;
    let virtual_size = shown["virtual_size"].as_u64().expect("virtual_size");
    assert!(virtual_size > 0 && virtual_size < 1 << 20, "{shown}");
}

/// An upload that is mostly zeros (a raw volume image) is kept as its non-zero blocks only:
/// the file on disk is small, yet Glance answers the real size, md5 and sha512 of every byte
/// and gives every byte back, whole and by range; deleting the image removes the file.
#[tokio::test]
async fn runs_of_zeros_are_stored_as_lengths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dc = DevCloud::start(Options {
        image_size: 1 << 20,
        seed: 3,
        data_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    })
    .await
    .expect("devcloud starts");
    let c = Client::bob(&dc).await;
    let id = c.create("mostly-zeros").await;
    let size = 8 << 20;
    let mut bytes = vec![0u8; size];
    bytes[(1 << 20) + 100..(1 << 20) + 5000].copy_from_slice(&data(4900));
    bytes[5 << 20] = 1;
    bytes[size - 3..].copy_from_slice(&[7, 8, 9]);
    assert_eq!(
        c.upload(&id, bytes.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    let shown = c.show(&id).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["size"], size);
    assert_eq!(shown["virtual_size"], Value::Null, "qcow2-labeled, not one");
    assert_eq!(shown["checksum"], hex::encode(Md5::digest(&bytes)).as_str());
    assert_eq!(
        shown["os_hash_value"],
        hex::encode(sha2::Sha512::digest(&bytes)).as_str()
    );
    let file = dir.path().join("hospital").join("glance").join(&id);
    let on_disk = std::fs::metadata(&file).expect("the image's file").len();
    assert!(on_disk <= 4 * 4096, "{on_disk} bytes stored for {size}");

    let get = |range: Option<&'static str>| {
        let mut r = c.req(reqwest::Method::GET, &format!("/v2/images/{id}/file"));
        if let Some(range) = range {
            r = r.header("Range", range);
        }
        async move { r.send().await.expect("get").bytes().await.expect("body") }
    };
    assert_eq!(get(None).await.to_vec(), bytes);
    for (range, start, end) in [
        ("bytes=1048000-1053000", 1_048_000, 1_053_000),
        ("bytes=5242879-5242881", 5_242_879, 5_242_881),
        ("bytes=-5", size - 5, size - 1),
    ] {
        assert_eq!(
            get(Some(range)).await.to_vec(),
            bytes[start..=end],
            "{range}"
        );
    }

    let r = c
        .req(reqwest::Method::DELETE, &format!("/v2/images/{id}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!file.exists(), "the image's file goes with it");
}

/// Glance's unified limits: while no Glance `quota` knob is set, `GET /v2/info/usage` answers
/// as Glance with `use_keystone_limits = False`, its default (`{"usage": {}}`); once one is,
/// as with them on: the four resources of the api-ref's sample, each with its limit (an unset
/// one as Keystone's largest) and the project's use (sizes in MiB), a create beyond
/// `image_count_total` and an upload beyond `image_size_total` refused with 413, the image
/// still `queued`. `image_size_cap` refuses an upload past it the same way.
#[tokio::test]
async fn unified_limits_show_their_usage_and_refuse() {
    let dc = start().await;
    let c = Client::bob(&dc).await;
    let faults = &dc.hospital.cloud().faults;
    let usage = || async {
        let r = c
            .req(reqwest::Method::GET, "/v2/info/usage")
            .send()
            .await
            .expect("usage");
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.expect("json")
    };
    assert_eq!(usage().await, json!({"usage": {}}));

    let mut settings = faults.get();
    settings.quota.image_size_total = Some(1000);
    faults.set(settings);
    let before = usage().await;
    let names: Vec<&String> = before["usage"].as_object().expect("usage").keys().collect();
    assert_eq!(
        names,
        [
            "image_count_total",
            "image_count_uploading",
            "image_size_total",
            "image_stage_total"
        ]
    );
    for entry in before["usage"].as_object().expect("usage").values() {
        let keys: Vec<&String> = entry.as_object().expect("entry").keys().collect();
        assert_eq!(keys, ["limit", "usage"], "{before}");
        assert!(
            entry["limit"].is_u64() && entry["usage"].is_u64(),
            "{before}"
        );
    }
    assert_eq!(before["usage"]["image_size_total"]["limit"], 1000);
    assert_eq!(
        before["usage"]["image_count_total"]["limit"],
        0x7FFF_FFFF_u64
    );
    let used = |v: &Value, name: &str| v["usage"][name]["usage"].as_u64().expect("usage");
    let (size0, count0) = (
        used(&before, "image_size_total"),
        used(&before, "image_count_total"),
    );

    // 3 MiB uploaded: 3 more MiB and one more image.
    let id = c.create("counted").await;
    assert_eq!(
        c.upload(&id, data(3 << 20)).await.status(),
        StatusCode::NO_CONTENT
    );
    let after = usage().await;
    assert_eq!(used(&after, "image_size_total"), size0 + 3);
    assert_eq!(used(&after, "image_count_total"), count0 + 1);

    // An upload of 2 MiB (its Content-Length) beyond size0 + 4 MiB: refused before any byte.
    let mut settings = faults.get();
    settings.quota.image_size_total = Some(size0 + 4);
    faults.set(settings);
    let second = c.create("too-much").await;
    let r = c.upload(&second, data(2 << 20)).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let text = r.text().await.expect("body");
    assert!(
        text.contains(&format!(
            "Resource image_size_total is over limit of {} due to current usage {} and delta 2",
            size0 + 4,
            size0 + 3
        )),
        "{text}"
    );
    assert_eq!(c.show(&second).await["status"], "queued");

    // No room for one more image: the create is refused.
    let mut settings = faults.get();
    settings.quota.image_count_total = Some(count0 + 2);
    faults.set(settings);
    let r = c
        .req(reqwest::Method::POST, "/v2/images")
        .json(&json!({"name": "one-too-many", "disk_format": "raw", "container_format": "bare"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let text = r.text().await.expect("body");
    assert!(
        text.contains("Resource image_count_total is over limit of"),
        "{text}"
    );

    // The size cap: no quota, an upload past 1 MiB refused, the image back to `queued`.
    let mut settings = faults.get();
    settings.quota = Default::default();
    settings.image_size_cap = Some(1 << 20);
    faults.set(settings);
    assert_eq!(usage().await, json!({"usage": {}}));
    let r = c.upload(&second, data(2 << 20)).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let text = r.text().await.expect("body");
    assert!(text.contains("The incoming image is too large"), "{text}");
    assert_eq!(c.show(&second).await["status"], "queued");
    assert_eq!(
        c.upload(&second, data(1 << 20)).await.status(),
        StatusCode::NO_CONTENT
    );
}

/// An upload refused while the client still sends (past `image_size_cap`, or beyond a unified
/// limit before the first byte) is answered with its 413 every time, not reset: Glance reads
/// and drops the rest of the body first, as eventlet's wsgi does, so a client learns why.
#[tokio::test]
async fn a_refused_upload_is_answered_not_reset() {
    let dc = start().await;
    let c = Client::bob(&dc).await;
    let faults = &dc.hospital.cloud().faults;
    let id = c.create("refused").await;
    let big = data(48 << 20);

    let mut settings = faults.get();
    settings.image_size_cap = Some(1 << 20);
    faults.set(settings);
    for _ in 0..3 {
        let r = c.upload(&id, big.clone()).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let text = r.text().await.expect("body");
        assert!(text.contains("The incoming image is too large"), "{text}");
        assert_eq!(c.show(&id).await["status"], "queued");
    }

    let mut settings = faults.get();
    settings.image_size_cap = None;
    settings.quota.image_size_total = Some(1);
    faults.set(settings);
    for _ in 0..3 {
        let r = c.upload(&id, big.clone()).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let text = r.text().await.expect("body");
        assert!(
            text.contains("Resource image_size_total is over limit"),
            "{text}"
        );
        assert_eq!(c.show(&id).await["status"], "queued");
    }
}
