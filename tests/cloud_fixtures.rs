//! OpenStack's own published response samples (nova `doc/api_samples`, the keystone, glance
//! and neutron-lib api-ref samples; see `tests/fixtures/openstack/README.md`) parsed into the
//! client's types, with the values checked.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde_json::Value;

use s2d::cloud::auth::{
    choose_identity, discovery_versions, parse_time, parse_v2_token, parse_v3_token,
};
use s2d::cloud::compute::{
    Flavor, Keypair, Limits, Server, ServerSecurityGroup, TenantUsage, image_id_from_location,
    negotiate,
};
use s2d::cloud::config::IdentityVersion;
use s2d::cloud::image::Image;
use s2d::cloud::network::{FloatingIp, Network, Port, SecurityGroup, SecurityGroupRule, Subnet};
use s2d::cloud::request::{Link, next_link, next_query};
use s2d::cloud::{Interface, Microversion, Secret};

fn fixture(path: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/openstack")
        .join(path);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn parse<T: DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v:#}"))
}

fn list<T: DeserializeOwned>(doc: &Value, key: &str) -> Vec<T> {
    doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} list"))
        .iter()
        .map(parse)
        .collect()
}

#[test]
fn nova_servers_across_microversions() {
    // 2.1: flavor and image are references.
    let s: Server = parse(&fixture("nova/servers_server-get-resp.json")["server"]);
    assert_eq!(s.status, "ACTIVE");
    assert_eq!(
        s.flavor.as_ref().unwrap().id.as_ref().unwrap().as_str(),
        "1"
    );
    assert_eq!(
        s.image.as_ref().unwrap().as_str(),
        "70a599e0-31e7-49b7-b260-868f441e862b"
    );
    assert!(!s.addresses.is_empty());
    // 2.47+: the flavor is embedded.
    for path in [
        "nova/servers_v2.47_server-get-resp.json",
        "nova/servers_v2.73_server-get-resp.json",
        "nova/servers_v2.96_server-get-resp.json",
    ] {
        let s: Server = parse(&fixture(path)["server"]);
        let f = s.flavor.unwrap();
        assert!(f.id.is_none(), "{path}");
        assert!(
            f.original_name
                .as_deref()
                .is_some_and(|n| n.starts_with("m1.tiny")),
            "{path}"
        );
        assert_eq!(
            (f.vcpus, f.ram, f.disk),
            (Some(1), Some(512), Some(1)),
            "{path}"
        );
        assert_eq!(s.vm_state.as_deref(), Some("active"));
        assert_eq!(s.power_state, Some(1));
    }
    let s: Server = parse(&fixture("nova/servers_v2.96_server-get-resp.json")["server"]);
    assert!(s.tags.is_empty());
    assert_eq!(s.availability_zone.as_deref(), Some("us-west"));
    for path in [
        "nova/servers_servers-details-resp.json",
        "nova/servers_v2.100_servers-details-resp.json",
    ] {
        let doc = fixture(path);
        let servers: Vec<Server> = list(&doc, "servers");
        assert!(!servers.is_empty());
        let links: Vec<Link> = parse(&doc["servers_links"]);
        let next = next_link(&links).expect("a next link");
        assert!(
            next_query(next).iter().any(|(k, _)| k == "marker"),
            "{path}"
        );
    }
    // A create answer holds the id (and an adminPass, which s2d never keeps).
    let created = fixture("nova/servers_server-create-resp.json");
    assert!(created["server"]["id"].is_string());
    // createImage at 2.45+ answers with the id in the body.
    let ci = fixture("nova/servers_v2.45_server-action-create-image-resp.json");
    assert_eq!(ci["image_id"], "0e7761dd-ee98-41f0-ba35-05994e446431");
    assert_eq!(
        image_id_from_location(
            "http://openstack.example.com/images/0e7761dd-ee98-41f0-ba35-05994e446431"
        )
        .unwrap()
        .as_str(),
        "0e7761dd-ee98-41f0-ba35-05994e446431"
    );
}

#[test]
fn nova_flavors_keypairs_security_groups_limits() {
    let old: Vec<Flavor> = list(&fixture("nova/flavors_flavors-detail-resp.json"), "flavors");
    let tiny = old.iter().find(|f| f.name == "m1.tiny").unwrap();
    assert_eq!((tiny.vcpus, tiny.ram, tiny.disk, tiny.swap), (1, 512, 1, 0));
    assert!(tiny.is_public);
    let new: Flavor = parse(&fixture("nova/flavors_v2.75_flavor-get-resp.json")["flavor"]);
    assert_eq!(new.swap, 0);
    let with_specs: Vec<Flavor> = list(
        &fixture("nova/flavors_v2.61_flavors-detail-resp.json"),
        "flavors",
    );
    assert!(
        with_specs
            .iter()
            .any(|f| f.extra_specs.as_ref().is_some_and(|e| !e.is_empty()))
    );

    let doc = fixture("nova/os-keypairs_v2.35_keypairs-list-resp.json");
    let kps: Vec<Keypair> = doc["keypairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| parse(&k["keypair"]))
        .collect();
    assert_eq!(kps[0].key_type.as_deref(), Some("ssh"));
    assert_eq!(
        kps[0].fingerprint,
        "7e:eb:ab:24:ba:d1:e1:88:ae:9a:fb:66:53:df:d3:bd"
    );
    let links: Vec<Link> = parse(&doc["keypairs_links"]);
    assert!(next_link(&links).is_some());
    let _: Keypair =
        parse(&fixture("nova/os-keypairs_keypairs-list-resp.json")["keypairs"][0]["keypair"]);
    let got: Keypair = parse(&fixture("nova/os-keypairs_keypairs-get-resp.json")["keypair"]);
    assert!(got.public_key.starts_with("ssh-rsa "));
    // A generated key carries its private key, held as a Secret that never prints.
    let generated: Keypair =
        parse(&fixture("nova/os-keypairs_v2.2_keypairs-post-resp.json")["keypair"]);
    let pk = generated.private_key.as_ref().expect("private key");
    assert!(pk.expose().contains("PRIVATE KEY"));
    assert!(!format!("{generated:?}").contains("PRIVATE KEY"));
    let imported: Keypair =
        parse(&fixture("nova/os-keypairs_v2.92_keypairs-import-post-resp.json")["keypair"]);
    assert!(imported.private_key.is_none());

    let sgs: Vec<ServerSecurityGroup> = list(
        &fixture("nova/os-security-groups_server-security-groups-list-resp.json"),
        "security_groups",
    );
    assert_eq!(sgs[0].name, "default");

    for path in [
        "nova/limits_limit-get-resp.json",
        "nova/limits_v2.57_limit-get-resp.json",
    ] {
        let l: Limits = parse(&fixture(path)["limits"]);
        assert!(l.absolute.contains_key("maxTotalCores"), "{path}");
        assert!(l.absolute.contains_key("totalCoresUsed"), "{path}");
    }
}

#[test]
fn nova_tenant_usage_with_and_without_paging() {
    let all: Vec<TenantUsage> = list(
        &fixture("nova/os-simple-tenant-usage_simple-tenant-usage-get-detail.json"),
        "tenant_usages",
    );
    assert!(!all[0].server_usages.is_empty());
    let u = &all[0].server_usages[0];
    assert_eq!(u.flavor.as_deref(), Some("m1.tiny"));
    assert!(parse_time(u.started_at.as_deref().unwrap()).is_some());
    let _: Vec<TenantUsage> = list(
        &fixture("nova/os-simple-tenant-usage_v2.40_simple-tenant-usage-get-all.json"),
        "tenant_usages",
    );
    let one: TenantUsage = parse(
        &fixture("nova/os-simple-tenant-usage_simple-tenant-usage-get-specific.json")["tenant_usage"],
    );
    assert_eq!(one.total_memory_mb_usage, 512.0);
    let doc = fixture("nova/os-simple-tenant-usage_v2.40_simple-tenant-usage-get-specific.json");
    let paged: TenantUsage = parse(&doc["tenant_usage"]);
    assert_eq!(paged.server_usages[0].uptime, 3600);
    let links: Vec<Link> = parse(&doc["tenant_usage_links"]);
    let q = next_query(next_link(&links).unwrap());
    // The next link repeats the period: s2d uses its query as a whole.
    for key in ["start", "end", "marker", "limit"] {
        assert!(q.iter().any(|(k, _)| k == key), "{key}");
    }
}

#[test]
fn nova_version_documents_and_negotiation() {
    let v = discovery_versions(&fixture("nova/versions_v21-version-get-resp.json"));
    assert_eq!(v[0].id, "v2.1");
    let max: Microversion = v[0].max_microversion.as_deref().unwrap().parse().unwrap();
    let min: Microversion = v[0].min_microversion.as_deref().unwrap().parse().unwrap();
    assert_eq!(
        negotiate(Some(min), Some(max)).unwrap(),
        Some(Microversion::new(2, 96))
    );
    let all = discovery_versions(&fixture("nova/versions_versions-get-resp.json"));
    let legacy = all.iter().find(|v| v.id == "v2.0").unwrap();
    assert_eq!(legacy.max_microversion, None);
    assert_eq!(negotiate(None, None).unwrap(), None);
}

#[test]
fn keystone_tokens_and_versions() {
    let now = time::OffsetDateTime::now_utc();
    let body = serde_json::to_vec(&fixture(
        "keystone/auth-password-project-scoped-response.json",
    ))
    .unwrap();
    let t = parse_v3_token(Secret::new("subject"), &body, now).unwrap();
    // The token's lifetime on the cloud's clock (expires_at - issued_at), counted from `now`.
    let life = parse_time("2015-11-07T02:58:43.578887Z").unwrap()
        - parse_time("2015-11-07T01:58:43.578929Z").unwrap();
    assert_eq!(t.expires_at, Some(now + life));
    assert!(t.project_id.is_some());
    let compute = t
        .catalog
        .endpoint("compute", Interface::Public, None)
        .unwrap();
    assert!(compute.starts_with("http"), "{compute}");
    let body = serde_json::to_vec(&fixture(
        "keystone/auth-application-credential-response.json",
    ))
    .unwrap();
    let t = parse_v3_token(Secret::new("subject"), &body, now).unwrap();
    assert!(t.user_id.is_some());

    let body = serde_json::to_vec(&fixture("keystone/v2.0-authenticate-response.json")).unwrap();
    let t = parse_v2_token(&body, now).unwrap();
    let life = parse_time("2014-01-31T17:09:57Z").unwrap()
        - parse_time("2014-01-30T17:09:57.647795").unwrap();
    assert_eq!(t.expires_at, Some(now + life));
    assert_eq!(
        t.project_id.as_deref(),
        Some("73f0aa26640f4971864919d0eb0f0880")
    );
    assert_eq!(
        t.catalog
            .endpoint("compute", Interface::Admin, Some("RegionOne"))
            .unwrap(),
        "http://23.253.72.207:8774/v2/73f0aa26640f4971864919d0eb0f0880"
    );
    assert_eq!(format!("{:?}", t.value), "Secret(***)");

    let doc = fixture("keystone/identity-versions-response.json");
    let e = choose_identity("https://keystone.example/identity", &doc, None).unwrap();
    assert_eq!(e.version, IdentityVersion::V3);
    assert_eq!(e.url, "https://keystone.example/identity/v3");
}

#[test]
fn glance_images_and_versions() {
    let doc = fixture("glance/images-list-response.json");
    let images: Vec<Image> = list(&doc, "images");
    let cirros = &images[0];
    assert_eq!(cirros.status, "active");
    assert_eq!(cirros.disk_format.as_deref(), Some("qcow2"));
    assert_eq!(cirros.virtual_size, None);
    assert!(
        cirros
            .property("file")
            .is_some_and(|f| f.ends_with("/file"))
    );
    for path in [
        "glance/image-show-response.json",
        "glance/image-create-response.json",
        "glance/image-update-response.json",
    ] {
        let i: Image = parse(&fixture(path));
        assert!(!i.id.as_str().is_empty(), "{path}");
    }
    let created: Image = parse(&fixture("glance/image-create-response.json"));
    assert_eq!(created.status, "queued");
    let v = discovery_versions(&fixture("glance/image-versions-response.json"));
    assert!(
        v.iter()
            .any(|v| v.id.starts_with("v2.") && v.status == "CURRENT")
    );
}

#[test]
fn neutron_resources_and_versions() {
    let nets: Vec<Network> = list(&fixture("neutron/networks-list-response.json"), "networks");
    assert!(!nets.is_empty());
    let subnets: Vec<Subnet> = list(&fixture("neutron/subnets-list-response.json"), "subnets");
    assert!(subnets.iter().all(|s| !s.cidr.is_empty()));
    let ports: Vec<Port> = list(&fixture("neutron/ports-list-response.json"), "ports");
    assert!(ports.iter().any(|p| !p.fixed_ips.is_empty()));
    let sgs: Vec<SecurityGroup> = list(
        &fixture("neutron/security-groups-list-response.json"),
        "security_groups",
    );
    assert!(sgs.iter().any(|g| !g.security_group_rules.is_empty()));
    let _: SecurityGroup =
        parse(&fixture("neutron/security-group-show-response.json")["security_group"]);
    let _: SecurityGroup =
        parse(&fixture("neutron/security-group-create-response.json")["security_group"]);
    let rule: SecurityGroupRule =
        parse(&fixture("neutron/security-group-rule-create-response.json")["security_group_rule"]);
    assert_eq!(
        (rule.port_range_min, rule.port_range_max),
        (Some(80), Some(80))
    );
    assert_eq!(rule.remote_ip_prefix, None);
    let fips: Vec<FloatingIp> = list(
        &fixture("neutron/floating-ips-list-response.json"),
        "floatingips",
    );
    assert!(!fips.is_empty());
    let fip: FloatingIp = parse(&fixture("neutron/floatingip-create-response.json")["floatingip"]);
    assert_eq!(fip.floating_ip_address, "172.24.4.228");
    assert_eq!(
        fip.port_id.as_ref().unwrap().as_str(),
        "ce705c24-c1ef-408a-bda3-7bbd946164ab"
    );
    let upd: FloatingIp = parse(&fixture("neutron/floatingip-update-response.json")["floatingip"]);
    assert!(!upd.id.as_str().is_empty());
    let v = discovery_versions(&fixture("neutron/versions-list-response.json"));
    assert_eq!(v[0].id, "v2.0");
}
