//! End-to-end tests of devcloud's Keystone, Nova and Neutron APIs (and the admin endpoints)
//! over HTTP against an in-process `DevCloud::start`, checking shapes, status codes and
//! headers against what real OpenStack answers.

use std::time::{Duration, Instant};

use devcloud::{DevCloud, Options};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An ed25519 public key and its MD5 fingerprint as `ssh-keygen -l -E md5` prints it.
const PUBKEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKYe3XRTKXGCuCDZfUWc6Wmz2P66cLSSJwBXTZfst8K5 referee@s2d";
const PUBKEY_MD5: &str = "48:92:18:44:17:53:59:81:7f:e8:cf:b6:5e:3a:5b:ec";

async fn start() -> DevCloud {
    let dc = DevCloud::start(Options {
        image_size: 1 << 20,
        seed: 7,
        ..Options::default()
    })
    .await
    .expect("devcloud starts");
    // The hospital seeds no image; give the tests one to boot from (through Glance's own
    // seeding interface, as the provider's base image is made).
    let admin = dc
        .hospital
        .cloud()
        .keystone
        .project_id("admin")
        .expect("admin project");
    dc.hospital.cloud().glance.seed_image(
        &admin,
        "test-image",
        "raw",
        "public",
        devcloud::imagedata::Content::Generated {
            seed: 99,
            size: 4096,
            format: devcloud::imagedata::Format::Raw,
        },
    );
    dc
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

fn password_body(user: &str, password: &str, project: &str) -> Value {
    json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}})
}

/// (token, token body) for a user.
async fn login(base: &str, user: &str, password: &str, project: &str) -> (String, Value) {
    let r = http()
        .post(format!("{base}/identity/v3/auth/tokens"))
        .json(&password_body(user, password, project))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    (token, r.json().await.unwrap())
}

async fn bob(dc: &DevCloud) -> String {
    login(dc.hospital.base_url(), "bob", "bob-secret", "research")
        .await
        .0
}

async fn admin(base: &str) -> String {
    login(base, "admin", "admin-secret", "admin").await.0
}

async fn get(url: &str, token: &str) -> reqwest::Response {
    http()
        .get(url)
        .header("X-Auth-Token", token)
        .send()
        .await
        .unwrap()
}

async fn get_json(url: &str, token: &str) -> Value {
    let r = get(url, token).await;
    assert_eq!(r.status(), StatusCode::OK, "GET {url}");
    r.json().await.unwrap()
}

async fn post_json(url: &str, token: &str, body: Value) -> reqwest::Response {
    http()
        .post(url)
        .header("X-Auth-Token", token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn network_id(base: &str, token: &str, name: &str) -> String {
    let v = get_json(&format!("{base}/network/v2.0/networks?name={name}"), token).await;
    v["networks"][0]["id"].as_str().unwrap().to_string()
}

async fn boot(base: &str, token: &str, name: &str, net: &str) -> String {
    let r = post_json(
        &format!("{base}/compute/v2.1/servers"),
        token,
        json!({"server": {"name": name, "flavorRef": "1", "imageRef": image_id(base, token).await, "networks": [{"uuid": net}]}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(r.headers().get("location").is_some());
    let v: Value = r.json().await.unwrap();
    v["server"]["id"].as_str().unwrap().to_string()
}

/// The first active image the caller sees in Glance: the provider's public base image, or
/// the hospital's `test-image` seeded by [`start`].
async fn image_id(base: &str, token: &str) -> String {
    let v = get_json(&format!("{base}/image/v2/images?status=active"), token).await;
    v["images"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no active image in {v}"))
        .to_string()
}

async fn wait_status(base: &str, token: &str, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = get_json(&format!("{base}/compute/v2.1/servers/{id}"), token).await;
        if v["server"]["status"] == want {
            return v["server"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "server {id} never reached {want}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn keystone_discovery_password_appcred_token_and_v2() {
    let dc = start().await;
    let base = dc.provider.base_url();
    let r = http().get(format!("{base}/identity")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTIPLE_CHOICES);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["versions"]["values"][0]["id"], "v3.14");
    for root in ["identity/", "compute/", "network/"] {
        let r = http().get(format!("{base}/{root}")).send().await.unwrap();
        assert!(
            r.status().as_u16() == 300 || r.status() == StatusCode::OK,
            "{root}: {}",
            r.status()
        );
    }
    let v: Value = http()
        .get(format!("{base}/identity/v3"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["version"]["status"], "stable");

    // Password by names.
    let (token, body) = login(base, "alice", "alice-secret", "ehr").await;
    let t = &body["token"];
    assert_eq!(t["user"]["name"], "alice");
    assert_eq!(t["project"]["name"], "ehr");
    assert_eq!(t["methods"], json!(["password"]));
    assert!(t["expires_at"].as_str().unwrap().ends_with('Z'));
    let types: Vec<&str> = t["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    for ty in ["compute", "image", "network", "identity"] {
        assert!(types.contains(&ty), "{ty} in catalog");
    }
    let compute = t["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "compute")
        .unwrap();
    let ifaces: Vec<&str> = compute["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["interface"].as_str().unwrap())
        .collect();
    assert_eq!(ifaces, ["public", "internal", "admin"]);
    assert_eq!(
        compute["endpoints"][0]["url"],
        format!("{base}/compute/v2.1")
    );
    assert_eq!(compute["endpoints"][0]["region_id"], "RegionOne");
    let user_id = t["user"]["id"].as_str().unwrap().to_string();
    let project_id = t["project"]["id"].as_str().unwrap().to_string();

    // Password by ids.
    let r = post_json(
        &format!("{base}/identity/v3/auth/tokens"),
        "",
        json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": user_id, "password": "alice-secret"}}},
            "scope": {"project": {"id": project_id}}}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Wrong password: keystone's 401 body.
    let r = http()
        .post(format!("{base}/identity/v3/auth/tokens"))
        .json(&password_body("alice", "nope", "ehr"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"],
        format!("Keystone uri=\"{base}/identity\"").as_str()
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], 401);
    assert_eq!(v["error"]["title"], "Unauthorized");

    // Validation.
    let r = http()
        .get(format!("{base}/identity/v3/auth/tokens"))
        .header("X-Auth-Token", &token)
        .header("X-Subject-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-subject-token"], token.as_str());
    let r = http()
        .get(format!("{base}/identity/v3/auth/tokens"))
        .header("X-Auth-Token", &token)
        .header("X-Subject-Token", "bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Application credential by name + user, and the token method.
    let r = post_json(
        &format!("{base}/identity/v3/auth/tokens"),
        "",
        json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
            "name": "alice-appcred", "secret": "alice-appcred-secret", "user": {"name": "alice", "domain": {"id": "default"}}}}}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token"]["project"]["name"], "ehr");
    assert_eq!(
        v["token"]["application_credential"]["name"],
        "alice-appcred"
    );
    let r = post_json(
        &format!("{base}/identity/v3/auth/tokens"),
        "",
        json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}}, "scope": {"project": {"name": "ehr", "domain": {"name": "Default"}}}}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token"]["methods"], json!(["token", "password"]));
    assert_eq!(
        v["token"]["expires_at"], body["token"]["expires_at"],
        "rescoped tokens keep the expiry"
    );

    // v2.0.
    let r = post_json(
        &format!("{base}/identity/v2.0/tokens"),
        "",
        json!({"auth": {"passwordCredentials": {"username": "alice", "password": "alice-secret"}, "tenantName": "ehr"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    let a = &v["access"];
    assert_eq!(a["token"]["tenant"]["name"], "ehr");
    assert_eq!(a["user"]["name"], "alice");
    let compute = a["serviceCatalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "compute")
        .unwrap();
    assert_eq!(
        compute["endpoints"][0]["publicURL"],
        format!("{base}/compute/v2.1")
    );
    assert_eq!(compute["endpoints"][0]["region"], "RegionOne");
    // An unscoped v2.0 token lists its tenants.
    let r = post_json(
        &format!("{base}/identity/v2.0/tokens"),
        "",
        json!({"auth": {"passwordCredentials": {"username": "alice", "password": "alice-secret"}}}),
    )
    .await;
    let unscoped: Value = r.json().await.unwrap();
    assert_eq!(unscoped["access"]["serviceCatalog"], json!([]));
    let tenants = get_json(
        &format!("{base}/identity/v2.0/tenants"),
        unscoped["access"]["token"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(tenants["tenants"][0]["name"], "ehr");
    // The v2.0 token works against Nova.
    let v2 = a["token"]["id"].as_str().unwrap();
    assert_eq!(
        get(&format!("{base}/compute/v2.1/servers"), v2)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn compute_versions_and_microversions() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let v: Value = http()
        .get(format!("{base}/compute"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // As nova: the legacy v2.0 first (DEPRECATED), then v2.1.
    assert_eq!(v["versions"][0]["id"], "v2.0");
    assert_eq!(v["versions"][0]["status"], "DEPRECATED");
    let v21 = &v["versions"][1];
    assert_eq!(v21["id"], "v2.1");
    assert_eq!(v21["min_version"], "2.1");
    let max: Vec<u32> = v21["version"]
        .as_str()
        .unwrap()
        .split('.')
        .map(|x| x.parse().unwrap())
        .collect();
    assert!(max[1] >= 79);
    let token = bob(&dc).await;
    let r = http()
        .get(format!("{base}/compute/v2.1/flavors/2"))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.61")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["openstack-api-version"], "compute 2.61");
    assert_eq!(r.headers()["x-openstack-nova-api-version"], "2.61");
    assert!(
        r.headers()["vary"]
            .to_str()
            .unwrap()
            .contains("OpenStack-API-Version")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["flavor"]["extra_specs"], json!({}));
    assert_eq!(v["flavor"]["name"], "m1.small");
    assert_eq!(v["flavor"]["ram"], 2048);
    let r = http()
        .get(format!("{base}/compute/v2.1/flavors/2"))
        .header("X-Auth-Token", &token)
        .header("X-OpenStack-Nova-API-Version", "2.1")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert!(v["flavor"].get("extra_specs").is_none());
    let r = http()
        .get(format!("{base}/compute/v2.1/flavors"))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute latest")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["openstack-api-version"],
        format!("compute {}", v21["version"].as_str().unwrap()).as_str()
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["flavors"].as_array().unwrap().len(), 4);
    let r = http()
        .get(format!("{base}/compute/v2.1/flavors"))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["computeFault"]["code"], 406);
}

#[tokio::test]
async fn server_lifecycle_ports_and_shapes() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let net = network_id(base, &token, "private").await;
    let id = boot(base, &token, "web-1", &net).await;
    let v = get_json(&format!("{base}/compute/v2.1/servers/{id}"), &token).await;
    assert_eq!(v["server"]["status"], "BUILD");
    let s = wait_status(base, &token, &id, "ACTIVE").await;
    assert_eq!(s["OS-EXT-STS:vm_state"], "active");
    assert_eq!(s["OS-EXT-STS:task_state"], Value::Null);
    let addrs = s["addresses"]["private"].as_array().unwrap();
    assert_eq!(addrs[0]["OS-EXT-IPS:type"], "fixed");
    assert!(addrs[0]["addr"].as_str().unwrap().starts_with("10.20.0."));
    assert_eq!(s["security_groups"], json!([{"name": "default"}]));
    let ports = get_json(&format!("{base}/network/v2.0/ports?device_id={id}"), &token).await;
    assert_eq!(ports["ports"].as_array().unwrap().len(), 1);
    assert_eq!(ports["ports"][0]["device_owner"], "compute:nova");

    // Microversion shapes: 2.47 embeds the flavor, 2.26 shows tags.
    let r = http()
        .get(format!("{base}/compute/v2.1/servers/{id}"))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.79")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["server"]["flavor"]["original_name"], "m1.tiny");
    assert_eq!(v["server"]["tags"], json!([]));
    let v = get_json(&format!("{base}/compute/v2.1/servers/{id}"), &token).await;
    assert_eq!(v["server"]["flavor"]["id"], "1");

    // List filters: name regex and paging.
    let id2 = boot(base, &token, "db-1", &net).await;
    let v = get_json(
        &format!("{base}/compute/v2.1/servers/detail?name=^web"),
        &token,
    )
    .await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
    let v = get_json(&format!("{base}/compute/v2.1/servers?limit=1"), &token).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
    assert!(
        v["servers_links"][0]["href"]
            .as_str()
            .unwrap()
            .contains("marker=")
    );

    // Delete: 204, then 404, and the port is gone.
    let r = http()
        .delete(format!("{base}/compute/v2.1/servers/{id}"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = get(&format!("{base}/compute/v2.1/servers/{id}"), &token).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["itemNotFound"]["code"], 404);
    // changes-since shows it as DELETED.
    let v = get_json(
        &format!("{base}/compute/v2.1/servers/detail?changes-since=2000-01-01T00:00:00Z"),
        &token,
    )
    .await;
    let gone = v["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(gone["status"], "DELETED");
    let v = get_json(&format!("{base}/compute/v2.1/servers/detail"), &token).await;
    assert!(
        !v["servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str())
    );
    let ports = get_json(&format!("{base}/network/v2.0/ports?device_id={id}"), &token).await;
    assert_eq!(ports["ports"], json!([]));
    let _ = id2;
}

#[tokio::test]
async fn seeded_provider_server_keypair_and_security_groups() {
    let dc = start().await;
    let base = dc.provider.base_url();
    let (token, _) = login(base, "alice", "alice-secret", "ehr").await;
    let v = get_json(
        &format!("{base}/compute/v2.1/servers/detail?name=ehr-analytics"),
        &token,
    )
    .await;
    let s = &v["servers"][0];
    assert_eq!(s["status"], "ACTIVE");
    assert_eq!(s["key_name"], "alice-key");
    assert_eq!(s["flavor"]["id"], "2");
    let id = s["id"].as_str().unwrap();
    let v = get_json(
        &format!("{base}/compute/v2.1/servers/{id}/os-security-groups"),
        &token,
    )
    .await;
    let names: Vec<&str> = v["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "analytics"]);
    let analytics = &v["security_groups"][1];
    let rules = analytics["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4);
    assert!(rules.iter().any(|r| r["ip_protocol"] == "tcp"
        && r["from_port"] == 443
        && r["ip_range"]["cidr"] == "10.0.0.0/8"));
    let v = get_json(
        &format!("{base}/compute/v2.1/os-keypairs/alice-key"),
        &token,
    )
    .await;
    let pk = v["keypair"]["public_key"].as_str().unwrap();
    assert!(pk.starts_with("ssh-ed25519 "));
    assert_eq!(
        v["keypair"]["fingerprint"].as_str().unwrap(),
        devcloud::nova::fingerprint(pk).unwrap()
    );
    let groups = get_json(
        &format!("{base}/network/v2.0/security-groups?name=analytics"),
        &token,
    )
    .await;
    let rules = groups["security_groups"][0]["security_group_rules"]
        .as_array()
        .unwrap();
    assert_eq!(
        rules.iter().filter(|r| r["direction"] == "egress").count(),
        2
    );
    assert_eq!(
        rules
            .iter()
            .filter(|r| r["ethertype"] == "IPv6" && r["direction"] == "ingress")
            .count(),
        1
    );
}

#[tokio::test]
async fn keypairs_import_fingerprint_generate_and_per_user() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let url = format!("{base}/compute/v2.1/os-keypairs");
    let r = http()
        .post(&url)
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.2")
        .json(&json!({"keypair": {"name": "k1", "public_key": PUBKEY}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["keypair"]["fingerprint"], PUBKEY_MD5);
    assert_eq!(v["keypair"]["type"], "ssh");
    let r = post_json(
        &url,
        &token,
        json!({"keypair": {"name": "k1", "public_key": PUBKEY}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["conflictingRequest"]["message"],
        "Key pair 'k1' already exists."
    );
    let r = post_json(
        &url,
        &token,
        json!({"keypair": {"name": "bad", "public_key": "ssh-rsa notbase64"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Generated (before 2.92): private key returned and the fingerprint matches the public key.
    let r = post_json(&url, &token, json!({"keypair": {"name": "gen"}})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["keypair"]["private_key"]
            .as_str()
            .unwrap()
            .contains("BEGIN OPENSSH PRIVATE KEY")
    );
    assert_eq!(
        v["keypair"]["fingerprint"].as_str().unwrap(),
        devcloud::nova::fingerprint(v["keypair"]["public_key"].as_str().unwrap()).unwrap()
    );
    let v = get_json(&url, &token).await;
    let names: Vec<&str> = v["keypairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keypair"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gen", "k1"]);
    // Per user: admin does not see bob's keypairs.
    let admin = admin(base).await;
    let v = get_json(&url, &admin).await;
    assert_eq!(v["keypairs"], json!([]));
}

#[tokio::test]
async fn security_group_rules_validation_and_duplicates() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let v = get_json(&format!("{base}/network/v2.0/security-groups"), &token).await;
    let default = &v["security_groups"][0];
    assert_eq!(default["name"], "default");
    assert_eq!(default["security_group_rules"].as_array().unwrap().len(), 4);
    let r = post_json(
        &format!("{base}/network/v2.0/security-groups"),
        &token,
        json!({"security_group": {"name": "web", "description": "w"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let g: Value = r.json().await.unwrap();
    let gid = g["security_group"]["id"].as_str().unwrap();
    let egress: Vec<&str> = g["security_group"]["security_group_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ethertype"].as_str().unwrap())
        .collect();
    assert_eq!(egress, ["IPv4", "IPv6"]);
    let rule = json!({"security_group_rule": {"security_group_id": gid, "direction": "ingress", "ethertype": "IPv4",
        "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}});
    let url = format!("{base}/network/v2.0/security-group-rules");
    let r = post_json(&url, &token, rule.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let r = post_json(&url, &token, rule).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["NeutronError"]["type"], "SecurityGroupRuleExists");
    assert!(
        v["NeutronError"]["message"]
            .as_str()
            .unwrap()
            .contains(created["security_group_rule"]["id"].as_str().unwrap())
    );
    for (bad, kind) in [
        (
            json!({"protocol": "tcp", "port_range_min": 30, "port_range_max": 20}),
            "SecurityGroupInvalidPortRange",
        ),
        (
            json!({"protocol": "tcp", "remote_ip_prefix": "::/0"}),
            "SecurityGroupRuleParameterConflict",
        ),
        (
            json!({"protocol": "bogus"}),
            "SecurityGroupRuleInvalidProtocol",
        ),
        (
            json!({"port_range_min": 22, "port_range_max": 22}),
            "SecurityGroupProtocolRequiredWithPorts",
        ),
    ] {
        let mut body =
            json!({"security_group_id": gid, "direction": "ingress", "ethertype": "IPv4"});
        for (k, v) in bad.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = post_json(&url, &token, json!({"security_group_rule": body})).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["NeutronError"]["type"], kind);
    }
    // fields + filters as openstacksdk sends them.
    let v = get_json(
        &format!("{url}?security_group_id={gid}&fields=id&fields=direction"),
        &token,
    )
    .await;
    let rules = v["security_group_rules"].as_array().unwrap();
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn floating_ip_create_associate_disassociate() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let v = get_json(&format!("{base}/network/v2.0/floatingips"), &token).await;
    assert_eq!(
        v["floatingips"].as_array().unwrap().len(),
        1,
        "one pre-allocated floating IP"
    );
    assert_eq!(v["floatingips"][0]["port_id"], Value::Null);
    assert_eq!(v["floatingips"][0]["status"], "DOWN");
    let public = network_id(base, &token, "public").await;
    let v = get_json(
        &format!("{base}/network/v2.0/networks?router:external=true"),
        &token,
    )
    .await;
    assert_eq!(v["networks"][0]["id"], public.as_str());
    let r = post_json(&format!("{base}/network/v2.0/floatingips"), &token, json!({"floatingip": {"floating_network_id": public, "floating_ip_address": "203.0.113.77"}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let f: Value = r.json().await.unwrap();
    let fid = f["floatingip"]["id"].as_str().unwrap();
    assert_eq!(f["floatingip"]["floating_ip_address"], "203.0.113.77");
    let net = network_id(base, &token, "private").await;
    let sid = boot(base, &token, "fip-target", &net).await;
    wait_status(base, &token, &sid, "ACTIVE").await;
    let ports = get_json(
        &format!("{base}/network/v2.0/ports?device_id={sid}"),
        &token,
    )
    .await;
    let port = ports["ports"][0]["id"].as_str().unwrap();
    let fixed = ports["ports"][0]["fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap();
    let r = http()
        .put(format!("{base}/network/v2.0/floatingips/{fid}"))
        .header("X-Auth-Token", &token)
        .json(&json!({"floatingip": {"port_id": port}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["floatingip"]["port_id"], port);
    assert_eq!(v["floatingip"]["fixed_ip_address"], fixed);
    assert_eq!(v["floatingip"]["status"], "ACTIVE");
    assert!(v["floatingip"]["router_id"].is_string());
    let s = get_json(&format!("{base}/compute/v2.1/servers/{sid}"), &token).await;
    let addrs = s["server"]["addresses"]["private"].as_array().unwrap();
    assert!(
        addrs
            .iter()
            .any(|a| a["OS-EXT-IPS:type"] == "floating" && a["addr"] == "203.0.113.77")
    );
    let r = http()
        .put(format!("{base}/network/v2.0/floatingips/{fid}"))
        .header("X-Auth-Token", &token)
        .json(&json!({"floatingip": {"port_id": null}}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["floatingip"]["port_id"], Value::Null);
    let r = http()
        .delete(format!("{base}/network/v2.0/floatingips/{fid}"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = get(&format!("{base}/network/v2.0/floatingips/{fid}"), &token).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["NeutronError"]["type"], "FloatingIPNotFound");
}

#[tokio::test]
async fn usage_follows_the_shifted_clock() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let net = network_id(base, &token, "private").await;
    let id = boot(base, &token, "usage-1", &net).await;
    wait_status(base, &token, &id, "ACTIVE").await;
    let cloud = dc.hospital.cloud();
    let launched = cloud.nova.lock().servers[&id].launched_at.unwrap();
    cloud.clock.shift(time::Duration::hours(10));
    // The old token expired with the shift (1 h lifetime): log in again.
    assert_eq!(
        get(&format!("{base}/compute/v2.1/servers"), &token)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let token = bob(&dc).await;
    let project = cloud.keystone.project_id("research").unwrap();
    let fmt = |t: time::OffsetDateTime| devcloud::nova::py_isoformat(t);
    let start_s = fmt(launched - time::Duration::hours(1));
    let end_s = fmt(launched + time::Duration::hours(5));
    let v = get_json(
        &format!(
            "{base}/compute/v2.1/os-simple-tenant-usage/{project}?start={start_s}&end={end_s}"
        ),
        &token,
    )
    .await;
    let u = &v["tenant_usage"];
    let hours = u["total_hours"].as_f64().unwrap();
    assert!(
        (hours - 5.0).abs() < 1e-6,
        "5 hours in the window, got {hours}"
    );
    assert!((u["total_memory_mb_usage"].as_f64().unwrap() - 512.0 * 5.0).abs() < 1e-3);
    assert!((u["total_vcpus_usage"].as_f64().unwrap() - 5.0).abs() < 1e-6);
    assert!((u["total_local_gb_usage"].as_f64().unwrap() - 5.0).abs() < 1e-6);
    let su = &u["server_usages"][0];
    assert_eq!(su["instance_id"], id.as_str());
    assert_eq!(su["flavor"], "m1.tiny");
    assert_eq!(su["state"], "active");
    assert!(su["uptime"].as_i64().unwrap() >= 10 * 3600);
    // Delete after 2 more hours: the usage stops there.
    cloud.clock.shift(time::Duration::hours(2));
    let token = bob(&dc).await;
    http()
        .delete(format!("{base}/compute/v2.1/servers/{id}"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    let end_s = fmt(launched + time::Duration::hours(30));
    let v = get_json(
        &format!(
            "{base}/compute/v2.1/os-simple-tenant-usage/{project}?start={start_s}&end={end_s}"
        ),
        &token,
    )
    .await;
    let hours = v["tenant_usage"]["total_hours"].as_f64().unwrap();
    assert!(
        (hours - 12.0).abs() < 0.01,
        "12 hours until delete, got {hours}"
    );
    assert_eq!(v["tenant_usage"]["server_usages"][0]["state"], "terminated");
    // Index is admin-only; paging links from 2.40.
    let r = get(
        &format!("{base}/compute/v2.1/os-simple-tenant-usage"),
        &token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["forbidden"]["message"]
            .as_str()
            .unwrap()
            .contains("os-simple-tenant-usage:list")
    );
    let admin = admin(base).await;
    let v = get_json(
        &format!(
            "{base}/compute/v2.1/os-simple-tenant-usage?start={start_s}&end={end_s}&detailed=1"
        ),
        &admin,
    )
    .await;
    assert_eq!(v["tenant_usages"].as_array().unwrap().len(), 1);
    let net2 = net.clone();
    let id2 = boot(base, &token, "usage-2", &net2).await;
    wait_status(base, &token, &id2, "ACTIVE").await;
    let end2 = fmt(cloud.clock.now() + time::Duration::hours(1));
    let r = http()
        .get(format!("{base}/compute/v2.1/os-simple-tenant-usage/{project}?start={start_s}&end={end2}&limit=1"))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.40")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["tenant_usage"]["server_usages"].as_array().unwrap().len(),
        1
    );
    assert!(
        v["tenant_usage_links"][0]["href"]
            .as_str()
            .unwrap()
            .contains("marker=")
    );
}

#[tokio::test]
async fn error_shapes_auth_and_request_ids() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let r = http()
        .get(format!("{base}/compute/v2.1/servers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Keystone uri=")
    );
    assert!(
        r.headers()["x-openstack-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req-")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["error"]["message"],
        "The request you have made requires authentication."
    );
    let r = get(&format!("{base}/network/v2.0/networks"), "not-a-token").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let token = bob(&dc).await;
    let r = get(
        &format!("{base}/compute/v2.1/servers/00000000-0000-0000-0000-000000000000"),
        &token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.headers()["x-compute-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req-")
    );
    // Malformed JSON: nova and neutron answer in their own formats, not axum's text.
    let r = http()
        .post(format!("{base}/compute/v2.1/servers"))
        .header("X-Auth-Token", &token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["badRequest"]["code"], 400);
    let r = http()
        .post(format!("{base}/network/v2.0/security-groups"))
        .header("X-Auth-Token", &token)
        .body("[")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert!(v["NeutronError"]["message"].is_string());
    // Another project's server: 404 (as nova); another project's usage: 403.
    let admin = admin(base).await;
    let net = network_id(base, &token, "private").await;
    let sid = boot(base, &token, "mine", &net).await;
    let r = get(&format!("{base}/compute/v2.1/servers/{sid}"), &admin).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "admin sees every project's servers"
    );
    let admin_project = dc.hospital.cloud().keystone.project_id("admin").unwrap();
    let r = get(
        &format!("{base}/compute/v2.1/os-simple-tenant-usage/{admin_project}"),
        &token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Provider's token is unknown to the hospital.
    let (ptoken, _) = login(dc.provider.base_url(), "alice", "alice-secret", "ehr").await;
    assert_eq!(
        get(&format!("{base}/compute/v2.1/servers"), &ptoken)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Booting with an unknown flavor.
    let r = post_json(&format!("{base}/compute/v2.1/servers"), &token, json!({"server": {"name": "x", "flavorRef": "99", "imageRef": "11111111-1111-4111-8111-111111111111", "networks": "none"}})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn fault_knobs_take_effect() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let faults = format!("{base}/devcloud/faults");
    let current: Value = http()
        .get(&faults)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["fail_rate"], 0.0);

    // Latency.
    http()
        .patch(&faults)
        .json(&json!({"latency_ms": 300}))
        .send()
        .await
        .unwrap();
    let t = Instant::now();
    get_json(&format!("{base}/compute/v2.1/flavors"), &token).await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    // 500/503 in nova's and neutron's formats.
    http()
        .put(&faults)
        .json(&json!({"fail_rate": 1.0}))
        .send()
        .await
        .unwrap();
    let r = get(&format!("{base}/compute/v2.1/flavors"), &token).await;
    assert!(
        r.status() == StatusCode::INTERNAL_SERVER_ERROR
            || r.status() == StatusCode::SERVICE_UNAVAILABLE
    );
    let v: Value = r.json().await.unwrap();
    assert!(
        v.get("computeFault").is_some() || v.get("serviceUnavailable").is_some(),
        "{v}"
    );
    let r = get(&format!("{base}/network/v2.0/networks"), &token).await;
    let v: Value = r.json().await.unwrap();
    assert!(v["NeutronError"]["type"].is_string());
    // 429 with Retry-After.
    http()
        .put(&faults)
        .json(&json!({"rate_limit_rate": 1.0, "retry_after_s": 7}))
        .send()
        .await
        .unwrap();
    let r = get(&format!("{base}/compute/v2.1/flavors"), &token).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "7");
    // Token TTL: a 1 s token expires.
    http()
        .put(&faults)
        .json(&json!({"token_ttl_s": 1}))
        .send()
        .await
        .unwrap();
    let short = bob(&dc).await;
    assert_eq!(
        get(&format!("{base}/compute/v2.1/flavors"), &short)
            .await
            .status(),
        StatusCode::OK
    );
    dc.hospital.cloud().clock.shift(time::Duration::seconds(2));
    assert_eq!(
        get(&format!("{base}/compute/v2.1/flavors"), &short)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Build time and ERROR.
    http()
        .put(&faults)
        .json(&json!({"server_build_s": 1.0, "server_error": true}))
        .send()
        .await
        .unwrap();
    let token = bob(&dc).await;
    let net = network_id(base, &token, "private").await;
    let t = Instant::now();
    let id = boot(base, &token, "doomed", &net).await;
    let s = wait_status(base, &token, &id, "ERROR").await;
    assert!(t.elapsed() >= Duration::from_millis(900));
    assert_eq!(s["fault"]["code"], 500);
    assert!(
        s["fault"]["message"]
            .as_str()
            .unwrap()
            .contains("No valid host")
    );
    // Unknown knob: 400.
    let r = http()
        .put(&faults)
        .json(&json!({"no_such_knob": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The fault knobs of one cloud leave the other alone.
    let v: Value = http()
        .get(format!("{}/devcloud/faults", dc.provider.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["server_error"], false);
}

#[tokio::test]
async fn concurrent_creates_are_consistent() {
    let dc = start().await;
    let base = dc.hospital.base_url().to_string();
    let token = bob(&dc).await;
    let net = network_id(&base, &token, "private").await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (base, token, net) = (base.clone(), token.clone(), net.clone());
        tasks.push(tokio::spawn(async move {
            boot(&base, &token, &format!("par-{i}"), &net).await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 50);
    let ports = get_json(
        &format!("{base}/network/v2.0/ports?device_owner=compute:nova"),
        &token,
    )
    .await;
    let ports = ports["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 50);
    let ips: std::collections::BTreeSet<&str> = ports
        .iter()
        .map(|p| p["fixed_ips"][0]["ip_address"].as_str().unwrap())
        .collect();
    assert_eq!(ips.len(), 50, "distinct fixed IPs");
    let v = get_json(&format!("{base}/compute/v2.1/servers"), &token).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn state_dump_and_request_log() {
    let dc = start().await;
    let base = dc.provider.base_url();
    let (token, _) = login(base, "alice", "alice-secret", "ehr").await;
    http()
        .delete(format!("{base}/devcloud/requests"))
        .send()
        .await
        .unwrap();
    http()
        .get(format!("{base}/compute/v2.1/servers"))
        .header("X-Auth-Token", &token)
        .header("Range", "bytes=0-1")
        .send()
        .await
        .unwrap();
    let v: Value = http()
        .get(format!("{base}/devcloud/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reqs = v["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["method"], "GET");
    assert_eq!(reqs[0]["path"], "/compute/v2.1/servers");
    assert_eq!(reqs[0]["status"], 200);
    assert_eq!(reqs[0]["range"], "bytes=0-1");
    let c: Value = http()
        .post(format!("{base}/devcloud/clock/shift"))
        .json(&json!({"seconds": 3600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c["offset_s"], 3600);
    // The seeded base image is hashed in the background: its checksum appears once that is
    // done (on a loaded machine, after the first dump). Stable means stable from then on.
    for _ in 0..200 {
        let dump: Value = http()
            .get(format!("{base}/devcloud/state"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let hashed = dump["glance"]["images"]
            .as_array()
            .is_some_and(|images| images.iter().all(|i| !i["checksum"].is_null()));
        if hashed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let a: Value = http()
        .get(format!("{base}/devcloud/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b: Value = http()
        .get(format!("{base}/devcloud/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a, b, "stable dump");
    assert_eq!(a["projects"]["ehr"]["servers"][0]["name"], "ehr-analytics");
    let ports = a["projects"]["ehr"]["ports"].as_array().unwrap();
    assert_eq!(
        ports
            .iter()
            .filter(|p| p["device_owner"] == "compute:nova")
            .count(),
        1
    );
    let keypairs = a["projects"]["ehr"]["keypairs"].as_array().unwrap();
    assert_eq!(keypairs[0]["name"], "alice-key");
    assert_eq!(keypairs[0]["user"], "alice");
    assert_eq!(
        a["projects"]["ehr"]["security_groups"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // A new server shows up as a difference (log in again: the clock moved an hour).
    let (token, _) = login(base, "alice", "alice-secret", "ehr").await;
    let net = network_id(base, &token, "private").await;
    boot(base, &token, "extra", &net).await;
    let c: Value = http()
        .get(format!("{base}/devcloud/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c["projects"]["ehr"]["servers"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn create_image_snapshot_goes_through_task_states() {
    let dc = start().await;
    let base = dc.provider.base_url();
    let (token, _) = login(base, "alice", "alice-secret", "ehr").await;
    let v = get_json(
        &format!("{base}/compute/v2.1/servers?name=ehr-analytics"),
        &token,
    )
    .await;
    let id = v["servers"][0]["id"].as_str().unwrap().to_string();
    http()
        .patch(format!("{base}/devcloud/faults"))
        .json(&json!({"snapshot_s": 0.6}))
        .send()
        .await
        .unwrap();
    // Before 2.45: Location header.
    let r = post_json(
        &format!("{base}/compute/v2.1/servers/{id}/action"),
        &token,
        json!({"createImage": {"name": "snap-1"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let image_id = location.rsplit('/').next().unwrap().to_string();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = get_json(&format!("{base}/compute/v2.1/servers/{id}"), &token).await;
        let ts = s["server"]["OS-EXT-STS:task_state"].clone();
        if seen.last() != Some(&ts) {
            seen.push(ts.clone());
        }
        if ts.is_null() && seen.len() > 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "snapshot never finished: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.first(), Some(&json!("image_snapshot")));
    assert!(seen.contains(&json!("image_uploading")), "{seen:?}");
    // A second snapshot while one runs is refused; from 2.45 the body carries image_id.
    let r = http()
        .post(format!("{base}/compute/v2.1/servers/{id}/action"))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.45")
        .json(&json!({"createImage": {"name": "snap-2"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(r.headers().get("location").is_none());
    let v: Value = r.json().await.unwrap();
    assert!(v["image_id"].is_string());
    let r = post_json(
        &format!("{base}/compute/v2.1/servers/{id}/action"),
        &token,
        json!({"createImage": {"name": "snap-3"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["conflictingRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("task_state image_snapshot")
    );
    // The snapshot in Glance holds the server's disk size.
    let img = get_json(&format!("{base}/image/v2/images/{image_id}"), &token).await;
    assert_eq!(img["status"], "active");
    assert_eq!(img["size"], 1 << 20);
    assert_eq!(img["image_type"], "snapshot");
    assert_eq!(img["instance_uuid"], id.as_str());
}

#[tokio::test]
async fn same_seed_same_seeded_ids() {
    let dump = |dc: &DevCloud| {
        let c = dc.provider.cloud();
        let server = c.nova.lock().servers.keys().next().cloned();
        (
            c.keystone.project_id("ehr"),
            c.keystone.user_id("alice"),
            server,
            c.neutron.lock().ports.keys().cloned().collect::<Vec<_>>(),
        )
    };
    let a = start().await;
    let b = start().await;
    assert_eq!(dump(&a), dump(&b));
    let c = DevCloud::start(Options {
        image_size: 1 << 20,
        seed: 8,
        ..Options::default()
    })
    .await
    .unwrap();
    assert_ne!(dump(&a).0, dump(&c).0);
}

#[tokio::test]
async fn server_security_groups_in_nova_format() {
    let dc = start().await;
    let base = dc.provider.base_url();
    let (token, _) = login(base, "alice", "alice-secret", "ehr").await;
    let v = get_json(
        &format!("{base}/compute/v2.1/servers?name=ehr-analytics"),
        &token,
    )
    .await;
    let id = v["servers"][0]["id"].as_str().unwrap();
    let v = get_json(
        &format!("{base}/compute/v2.1/servers/{id}/os-security-groups"),
        &token,
    )
    .await;
    let default = &v["security_groups"][0];
    // Neutron's default ingress rules come from the group itself: `group`, no `ip_range`.
    for r in default["rules"].as_array().unwrap() {
        assert_eq!(r["group"]["name"], "default");
        assert_eq!(r["ip_range"], json!({}));
        assert_eq!(r["ip_protocol"], Value::Null);
    }
    let analytics = v["security_groups"][1]["rules"].as_array().unwrap();
    let icmp = analytics
        .iter()
        .find(|r| r["ip_protocol"] == "icmp")
        .unwrap();
    assert_eq!(
        (icmp["from_port"].clone(), icmp["to_port"].clone()),
        (json!(-1), json!(-1))
    );
    assert_eq!(icmp["ip_range"]["cidr"], "0.0.0.0/0");
    let ssh6 = analytics
        .iter()
        .find(|r| r["ip_range"]["cidr"] == "::/0")
        .unwrap();
    assert_eq!(ssh6["from_port"], 22);
}

#[tokio::test]
async fn server_tags_from_2_26() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let net = network_id(base, &token, "private").await;
    let id = boot(base, &token, "tagged", &net).await;
    let url = format!("{base}/compute/v2.1/servers/{id}/tags");
    let put = |mv: &'static str| {
        http()
            .put(&url)
            .header("X-Auth-Token", &token)
            .header("OpenStack-API-Version", mv)
            .json(&json!({"tags": ["s2d:a", "x"]}))
    };
    assert_eq!(
        put("compute 2.25").send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // Still building: 409, as nova.
    let r = put("compute 2.26").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    wait_status(base, &token, &id, "ACTIVE").await;
    let r = put("compute 2.26").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tags"], json!(["s2d:a", "x"]));
    let r = http()
        .get(format!("{base}/compute/v2.1/servers/detail?tags=s2d:a"))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.26")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
    assert_eq!(v["servers"][0]["tags"], json!(["s2d:a", "x"]));
}

#[tokio::test]
async fn method_not_allowed_nocatalog_and_all_tenants_policy() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let r = http()
        .patch(format!("{base}/compute/v2.1/flavors"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["badMethod"]["code"], 405);
    let r = http()
        .post(format!("{base}/identity/v3/auth/tokens?nocatalog"))
        .json(&password_body("bob", "bob-secret", "research"))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert!(v["token"].get("catalog").is_none());
    assert_eq!(v["token"]["project"]["name"], "research");
    let r = get(
        &format!("{base}/compute/v2.1/servers?all_tenants=1"),
        &token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let admin = admin(base).await;
    let net = network_id(base, &token, "private").await;
    boot(base, &token, "bobs", &net).await;
    let v = get_json(&format!("{base}/compute/v2.1/servers"), &admin).await;
    assert_eq!(
        v["servers"],
        json!([]),
        "admin sees only its own project without all_tenants"
    );
    let v = get_json(
        &format!("{base}/compute/v2.1/servers?all_tenants=1"),
        &admin,
    )
    .await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn boot_refuses_an_image_bigger_than_the_flavor_disk() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let research = dc.hospital.cloud().keystone.project_id("research").unwrap();
    let big = dc.hospital.cloud().glance.seed_image(
        &research,
        "big",
        "raw",
        "private",
        devcloud::imagedata::Content::Generated {
            seed: 5,
            size: 2 << 30,
            format: devcloud::imagedata::Format::Raw,
        },
    );
    let r = post_json(
        &format!("{base}/compute/v2.1/servers"),
        &token,
        json!({"server": {"name": "too-big", "flavorRef": "1", "imageRef": big, "networks": "none"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["badRequest"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Flavor's disk is too small"),
        "{v}"
    );
    // m1.small (20 GiB) takes it.
    let r = post_json(
        &format!("{base}/compute/v2.1/servers"),
        &token,
        json!({"server": {"name": "fits", "flavorRef": "2", "imageRef": big, "networks": "none"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn boot_on_a_user_port_keeps_the_port_after_delete() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let net = network_id(base, &token, "private").await;
    let r = post_json(
        &format!("{base}/network/v2.0/ports"),
        &token,
        json!({"port": {"network_id": net, "name": "fixed", "fixed_ips": [{"ip_address": "10.20.0.50"}]}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let p: Value = r.json().await.unwrap();
    let port = p["port"]["id"].as_str().unwrap().to_string();
    assert_eq!(p["port"]["device_id"], "");
    assert_eq!(p["port"]["status"], "DOWN", "unbound ports are DOWN");
    assert_eq!(
        p["port"]["security_groups"].as_array().unwrap().len(),
        1,
        "the default group"
    );
    // The same address again: 409.
    let r = post_json(
        &format!("{base}/network/v2.0/ports"),
        &token,
        json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.20.0.50"}]}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let image = image_id(base, &token).await;
    let r = post_json(
        &format!("{base}/compute/v2.1/servers"),
        &token,
        json!({"server": {"name": "on-port", "flavorRef": "1", "imageRef": image, "networks": [{"port": port}]}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v: Value = r.json().await.unwrap();
    let sid = v["server"]["id"].as_str().unwrap().to_string();
    let s = wait_status(base, &token, &sid, "ACTIVE").await;
    assert_eq!(s["addresses"]["private"][0]["addr"], "10.20.0.50");
    // A bound port cannot be used twice.
    let r = post_json(
        &format!("{base}/compute/v2.1/servers"),
        &token,
        json!({"server": {"name": "again", "flavorRef": "1", "imageRef": image, "networks": [{"port": port}]}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    http()
        .delete(format!("{base}/compute/v2.1/servers/{sid}"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    let p = get_json(&format!("{base}/network/v2.0/ports/{port}"), &token).await;
    assert_eq!(p["port"]["device_id"], "", "unbound, not deleted");
    let r = http()
        .delete(format!("{base}/network/v2.0/ports/{port}"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // A fixed IP next to the network uuid.
    let r = post_json(
        &format!("{base}/compute/v2.1/servers"),
        &token,
        json!({"server": {"name": "fixed", "flavorRef": "1", "imageRef": image, "networks": [{"uuid": net, "fixed_ip": "10.20.0.60"}]}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v: Value = r.json().await.unwrap();
    let sid = v["server"]["id"].as_str().unwrap().to_string();
    let s = wait_status(base, &token, &sid, "ACTIVE").await;
    assert_eq!(s["addresses"]["private"][0]["addr"], "10.20.0.60");
}

#[tokio::test]
async fn rename_stop_and_start() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let net = network_id(base, &token, "private").await;
    let id = boot(base, &token, "old-name", &net).await;
    wait_status(base, &token, &id, "ACTIVE").await;
    let r = http()
        .put(format!("{base}/compute/v2.1/servers/{id}"))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.19")
        .json(&json!({"server": {"name": "new-name", "description": "d"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["server"]["name"], "new-name");
    assert_eq!(v["server"]["description"], "d");
    let r = http()
        .put(format!("{base}/compute/v2.1/servers/{id}"))
        .header("X-Auth-Token", &token)
        .json(&json!({"server": {"flavorRef": "2"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let action = format!("{base}/compute/v2.1/servers/{id}/action");
    assert_eq!(
        post_json(&action, &token, json!({"os-stop": null}))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    wait_status(base, &token, &id, "SHUTOFF").await;
    let r = post_json(&action, &token, json!({"os-stop": null})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        post_json(&action, &token, json!({"os-start": null}))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    wait_status(base, &token, &id, "ACTIVE").await;
    let r = post_json(&action, &token, json!({"reboot": {"type": "SOFT"}})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = post_json(&action, &token, json!({"migrate": null})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn application_credentials_created_through_the_api_authenticate() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let (token, body) = login(base, "bob", "bob-secret", "research").await;
    let user = body["token"]["user"]["id"].as_str().unwrap();
    let url = format!("{base}/identity/v3/users/{user}/application_credentials");
    let r = post_json(
        &url,
        &token,
        json!({"application_credential": {"name": "ci"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let id = v["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = v["application_credential"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        v["application_credential"]["project_id"],
        body["token"]["project"]["id"]
    );
    let r = post_json(
        &url,
        &token,
        json!({"application_credential": {"name": "ci"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = post_json(
        &format!("{base}/identity/v3/auth/tokens"),
        "",
        json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": id, "secret": secret}}}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let listed = get_json(&url, &token).await;
    let names: Vec<&str> = listed["application_credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "the seeded bob-appcred and ci: {names:?}");
    assert!(
        listed.to_string().find("\"secret\"").is_none(),
        "secrets are never listed"
    );
    let r = http()
        .delete(format!("{url}/{id}"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = post_json(
        &format!("{base}/identity/v3/auth/tokens"),
        "",
        json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": id, "secret": secret}}}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn build_a_topology_network_subnet_router_interface() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let n = format!("{base}/network/v2.0");
    let r = post_json(
        &format!("{n}/networks"),
        &token,
        json!({"network": {"name": "lab"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let net: Value = r.json().await.unwrap();
    let net = net["network"]["id"].as_str().unwrap().to_string();
    let r = post_json(&format!("{n}/subnets"), &token, json!({"subnet": {"network_id": net, "cidr": "192.168.50.0/24", "ip_version": 4, "name": "lab-subnet"}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let sub: Value = r.json().await.unwrap();
    assert_eq!(sub["subnet"]["gateway_ip"], "192.168.50.1");
    let sub = sub["subnet"]["id"].as_str().unwrap().to_string();
    let r = post_json(
        &format!("{n}/subnets"),
        &token,
        json!({"subnet": {"network_id": net, "cidr": "192.168.50.128/25", "ip_version": 4}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "overlap");
    let public = network_id(base, &token, "public").await;
    let r = post_json(
        &format!("{n}/routers"),
        &token,
        json!({"router": {"name": "lab-router", "external_gateway_info": {"network_id": public}}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let router: Value = r.json().await.unwrap();
    assert_eq!(
        router["router"]["external_gateway_info"]["network_id"],
        public.as_str()
    );
    let router = router["router"]["id"].as_str().unwrap().to_string();
    let r = http()
        .put(format!("{n}/routers/{router}/add_router_interface"))
        .header("X-Auth-Token", &token)
        .json(&json!({"subnet_id": sub}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["subnet_id"], sub.as_str());
    // A server on the new network can get a floating IP through the new router.
    let sid = boot(base, &token, "lab-vm", &net).await;
    wait_status(base, &token, &sid, "ACTIVE").await;
    let ports = get_json(&format!("{n}/ports?device_id={sid}"), &token).await;
    let port = ports["ports"][0]["id"].as_str().unwrap().to_string();
    let r = post_json(
        &format!("{n}/floatingips"),
        &token,
        json!({"floatingip": {"floating_network_id": public, "port_id": port}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let fip: Value = r.json().await.unwrap();
    assert_eq!(fip["floatingip"]["router_id"], router.as_str());
    let fip = fip["floatingip"]["id"].as_str().unwrap().to_string();
    let put = |path: String, body: Value| {
        http()
            .put(path)
            .header("X-Auth-Token", &token)
            .json(&body)
            .send()
    };
    let r = put(
        format!("{n}/routers/{router}/remove_router_interface"),
        json!({"subnet_id": sub}),
    )
    .await
    .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "the floating IP needs the interface"
    );
    let r = http()
        .delete(format!("{n}/routers/{router}"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    http()
        .delete(format!("{n}/floatingips/{fip}"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    http()
        .delete(format!("{base}/compute/v2.1/servers/{sid}"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    let r = put(
        format!("{n}/routers/{router}/remove_router_interface"),
        json!({"subnet_id": sub}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for url in [
        format!("{n}/routers/{router}"),
        format!("{n}/subnets/{sub}"),
        format!("{n}/networks/{net}"),
    ] {
        let r = http()
            .delete(&url)
            .header("X-Auth-Token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{url}");
    }
}

#[tokio::test]
async fn boot_validates_availability_zone_and_count() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let image = image_id(base, &token).await;
    for (extra, needle) in [
        (
            json!({"availability_zone": "elsewhere"}),
            "availability zone",
        ),
        (json!({"max_count": 3}), "max_count"),
        (json!({"key_name": "nope"}), "Invalid key_name"),
        (json!({"security_groups": [{"name": "nope"}]}), "nope"),
    ] {
        let mut server =
            json!({"name": "v", "flavorRef": "1", "imageRef": image, "networks": "auto"});
        for (k, v) in extra.as_object().unwrap() {
            server[k] = v.clone();
        }
        let r = post_json(
            &format!("{base}/compute/v2.1/servers"),
            &token,
            json!({"server": server}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{extra}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["badRequest"]["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{v}"
        );
    }
    // Nothing was left behind by the refused boots.
    let ports = get_json(
        &format!("{base}/network/v2.0/ports?device_owner=compute:nova"),
        &token,
    )
    .await;
    assert_eq!(ports["ports"], json!([]));
}

/// One extension by alias; an alias Neutron does not load is its bare 404 (empty text/html),
/// as the real tier answers the CLI's `GET /v2.0/extensions/external-gateway-multihoming`.
#[tokio::test]
async fn network_extension_by_alias() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let v = get_json(&format!("{base}/network/v2.0/extensions/router"), &token).await;
    assert_eq!(v["extension"]["alias"], "router");
    let r = get(
        &format!("{base}/network/v2.0/extensions/external-gateway-multihoming"),
        &token,
    )
    .await;
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn addresses_keep_the_nic_order() {
    let dc = start().await;
    let base = dc.hospital.base_url();
    let token = bob(&dc).await;
    let n = format!("{base}/network/v2.0");
    let mut nets = Vec::new();
    for (name, cidr) in [("zeta-net", "10.61.0.0/24"), ("alpha-net", "10.62.0.0/24")] {
        let r = post_json(
            &format!("{n}/networks"),
            &token,
            json!({"network": {"name": name}}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        let id = v["network"]["id"].as_str().unwrap().to_string();
        let r = post_json(
            &format!("{n}/subnets"),
            &token,
            json!({"subnet": {"network_id": id, "cidr": cidr, "ip_version": 4}}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        nets.push(id);
    }
    // zeta-net, alpha-net, then zeta-net again: not name order, and a second NIC on the
    // first network (its entries go under the first NIC's key, as nova groups them).
    let r = post_json(
        &format!("{base}/compute/v2.1/servers"),
        &token,
        json!({"server": {"name": "two-nets", "flavorRef": "1", "imageRef": image_id(base, &token).await,
            "networks": [{"uuid": nets[0]}, {"uuid": nets[1]}, {"uuid": nets[0]}]}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v: Value = r.json().await.unwrap();
    let id = v["server"]["id"].as_str().unwrap().to_string();
    wait_status(base, &token, &id, "ACTIVE").await;

    let in_nic_order = |text: &str| {
        let zeta = text
            .find("\"zeta-net\"")
            .unwrap_or_else(|| panic!("{text}"));
        let alpha = text
            .find("\"alpha-net\"")
            .unwrap_or_else(|| panic!("{text}"));
        assert!(zeta < alpha, "addresses not in NIC order: {text}");
        assert_eq!(text.matches("\"zeta-net\"").count(), 1, "{text}");
    };
    for path in [format!("servers/{id}"), "servers/detail".to_string()] {
        for version in ["2.1", "2.96"] {
            let r = http()
                .get(format!("{base}/compute/v2.1/{path}"))
                .header("X-Auth-Token", &token)
                .header("OpenStack-API-Version", format!("compute {version}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let text = r.text().await.unwrap();
            in_nic_order(&text);
            let v: Value = serde_json::from_str(&text).unwrap();
            let server = if path == "servers/detail" {
                v["servers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["id"] == id.as_str())
                    .unwrap()
                    .clone()
            } else {
                v["server"].clone()
            };
            let zeta = server["addresses"]["zeta-net"].as_array().unwrap();
            assert_eq!(zeta.len(), 2, "{server}");
            assert!(
                zeta.iter()
                    .all(|a| a["addr"].as_str().unwrap().starts_with("10.61.0."))
            );
            assert_eq!(zeta[0]["OS-EXT-IPS:type"], "fixed");
            assert_eq!(
                server["addresses"]["alpha-net"][0]["OS-EXT-IPS:type"],
                "fixed"
            );
            assert_eq!(server["name"], "two-nets");
        }
    }
    // The update's answer keeps the order too, and before 2.75 drops the extensions.
    let r = http()
        .put(format!("{base}/compute/v2.1/servers/{id}"))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.1")
        .json(&json!({"server": {"name": "renamed"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    in_nic_order(&text);
    assert!(!text.contains("OS-EXT-IPS"), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["server"]["name"], "renamed");
    assert!(v["server"]["addresses"]["alpha-net"][0]["addr"].is_string());
}
