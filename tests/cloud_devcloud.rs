//! The client against devcloud (the simulated OpenStack pair in `devcloud/`): every way of
//! describing a cloud (clouds.yaml with secure.yaml, OS_* variables, inline auth with
//! `password_env`), each Keystone method (v3 password by names and by ids, application
//! credential by id and by name, token; v2.0 by `identity_api_version` and by a v2.0
//! `auth_url`), catalog selection by region and interface, the Nova microversion fallback on an
//! older Nova, token expiry in the middle of a run, injected 503s (before and after the cloud
//! acted) and 429s without duplicate resources, and no secret in any log line or error.
//!
//! Every test starts its own devcloud; what happened on the cloud's side is read from
//! devcloud's request log and state dump, not from the client.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use devcloud::faults::{FaultSettings, LoggedRequest};
use devcloud::{DevCloud, Options};
use s2d::cloud::compute::{ServerCreate, ServerQuery};
use s2d::cloud::config::{
    AuthMethod, CloudSource, ConfigEnv, IdentityVersion, InlineAuth, resolve,
};
use s2d::cloud::{
    Cloud, CloudConfig, Compute, Error, FlavorId, ImageId, Interface, Microversion,
    SecurityGroupId, Session, create_or_adopt,
};
use serde_json::Value;

const USER: &str = "s2d-client-test";
const PASSWORD: &str = "Pw-for-client-tests-9";
const APPCRED_ID: &str = "ac-client-test";
const APPCRED_SECRET: &str = "appcred-secret-for-client-tests";
const WRONG_PASSWORD: &str = "Not-The-Password-77";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKPjLKV5Pc1B2gz5pGvsoY0f2iA1oYQPk0b9hPG6hY0V s2d@test";

/// devcloud (writing its clouds.yaml into `dir`) with a user, a project and an application
/// credential of our own on `provider`.
async fn devcloud(dir: &Path) -> DevCloud {
    devcloud_with(dir, FaultSettings::default()).await
}

async fn devcloud_with(dir: &Path, faults: FaultSettings) -> DevCloud {
    let dc = DevCloud::start(Options {
        clouds_yaml: Some(dir.join("devcloud-clouds.yaml")),
        image_size: 1 << 20,
        faults,
        seed: 7,
        ..Options::default()
    })
    .await
    .expect("devcloud starts");
    let ks = &dc.provider.cloud().keystone;
    ks.create_project("p-client", "client-project");
    ks.create_user("u-client", USER, PASSWORD, Some("p-client"));
    ks.grant("u-client", "p-client", "member");
    ks.create_app_credential(
        APPCRED_ID,
        "client-ac",
        "u-client",
        "p-client",
        APPCRED_SECRET,
    );
    dc
}

fn env_in(dir: &Path, vars: &[(&str, &str)]) -> ConfigEnv {
    ConfigEnv {
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        cwd: dir.to_path_buf(),
        home: Some(dir.join("home")),
        system_dir: dir.join("etc"),
    }
}

/// A token for our user on `provider`, issued by devcloud's Keystone directly (as another
/// tool would have obtained it).
fn provider_token(dc: &DevCloud) -> String {
    let now = dc.provider.cloud().clock.now();
    dc.provider
        .cloud()
        .keystone
        .issue_token("u-client", "p-client", now, time::Duration::hours(1))
}

/// One cloud per auth method; the password of `pw` lives in secure.yaml.
fn clouds_yaml(dc: &DevCloud, token: &str) -> String {
    let url = dc.provider.auth_url();
    format!(
        r#"clouds:
  pw:
    auth_type: password
    auth:
      auth_url: {url}
      username: {USER}
      project_name: client-project
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
  pw-ids:
    auth_type: v3password
    auth:
      auth_url: {url}/v3
      user_id: u-client
      password: {PASSWORD}
      project_id: p-client
  ac:
    auth_type: v3applicationcredential
    auth:
      auth_url: {url}
      application_credential_id: {APPCRED_ID}
      application_credential_secret: {APPCRED_SECRET}
  ac-by-name:
    auth_type: v3applicationcredential
    auth:
      auth_url: {url}
      application_credential_name: alice-appcred
      application_credential_secret: alice-appcred-secret
      username: alice
      user_domain_name: Default
  tok:
    auth_type: token
    auth:
      auth_url: {url}
      token: {token}
      project_id: p-client
  legacy:
    identity_api_version: 2
    auth:
      auth_url: {url}
      username: {USER}
      password: {PASSWORD}
      project_name: client-project
  legacy-url:
    auth:
      auth_url: {url}/v2.0
      username: {USER}
      password: {PASSWORD}
      project_name: client-project
"#
    )
}

fn write_clouds_yaml(dir: &Path, dc: &DevCloud, token: &str) {
    std::fs::write(dir.join("clouds.yaml"), clouds_yaml(dc, token)).unwrap();
    std::fs::write(
        dir.join("secure.yaml"),
        format!("clouds:\n  pw:\n    auth:\n      password: {PASSWORD}\n"),
    )
    .unwrap();
}

/// The provider's request log since the last clear.
fn provider_log(dc: &DevCloud) -> Vec<LoggedRequest> {
    dc.provider.cloud().log.entries()
}

/// The token requests in a log: `(path, status)`.
fn token_posts(log: &[LoggedRequest]) -> Vec<(String, u16)> {
    log.iter()
        .filter(|e| e.method == "POST" && e.path.contains("/tokens"))
        .map(|e| (e.path.clone(), e.status))
        .collect()
}

/// Connect with `cfg`, do one call on each service, and check on devcloud's side that it
/// authenticated at `token_path` once and that the services accepted the token.
async fn connect_and_use(dc: &DevCloud, cfg: CloudConfig, token_path: &str) -> Cloud {
    let name = cfg.name.clone();
    dc.provider.cloud().log.clear();
    let cloud = Cloud::connect(cfg)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        cloud.session.project_id().await.unwrap().as_deref(),
        Some("p-client"),
        "{name}"
    );
    let flavors = cloud.compute.list_flavors().await.unwrap();
    assert!(flavors.iter().any(|f| f.name == "m1.small"), "{name}");
    let nets = cloud.network.networks(&[]).await.unwrap();
    assert!(nets.iter().any(|n| n.name == "public"), "{name}: {nets:?}");
    cloud.image.list(&Default::default()).await.unwrap();
    let log = provider_log(dc);
    assert_eq!(
        token_posts(&log),
        [(
            token_path.to_string(),
            if token_path.contains("v2.0") {
                200
            } else {
                201
            }
        )],
        "{name}: {log:?}"
    );
    assert!(
        log.iter().all(|e| e.status < 400),
        "{name}: a request failed: {log:?}"
    );
    cloud
}

#[tokio::test]
async fn clouds_yaml_each_auth_method() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let token = provider_token(&dc);
    write_clouds_yaml(dir.path(), &dc, &token);
    let env = env_in(dir.path(), &[]);
    let named = |n: &str| resolve(&CloudSource::Named(Some(n.into())), &env).unwrap();

    for (name, kind, version, path) in [
        (
            "pw",
            "password",
            IdentityVersion::V3,
            "/identity/v3/auth/tokens",
        ),
        (
            "pw-ids",
            "password",
            IdentityVersion::V3,
            "/identity/v3/auth/tokens",
        ),
        (
            "ac",
            "v3applicationcredential",
            IdentityVersion::V3,
            "/identity/v3/auth/tokens",
        ),
        (
            "tok",
            "token",
            IdentityVersion::V3,
            "/identity/v3/auth/tokens",
        ),
        (
            "legacy",
            "password",
            IdentityVersion::V2,
            "/identity/v2.0/tokens",
        ),
        (
            "legacy-url",
            "password",
            IdentityVersion::V2,
            "/identity/v2.0/tokens",
        ),
    ] {
        let cfg = named(name);
        assert_eq!(cfg.auth.method.kind(), kind, "{name}");
        let cloud = connect_and_use(&dc, cfg, path).await;
        assert_eq!(cloud.session.identity().version, version, "{name}");
        assert_eq!(cloud.name(), name);
    }
    // The password came from secure.yaml, merged into clouds.yaml's entry.
    match named("pw").auth.method {
        AuthMethod::Password { password, .. } => assert_eq!(password.expose(), PASSWORD),
        other => panic!("{other:?}"),
    }

    // The seeded application credential, by name with its user: alice's project `ehr`.
    let cloud = Cloud::connect(named("ac-by-name")).await.unwrap();
    let ehr = dc.provider.cloud().keystone.project_id("ehr").unwrap();
    assert_eq!(cloud.session.project_id().await.unwrap(), Some(ehr));
    let servers = cloud
        .compute
        .list_servers(&ServerQuery::default())
        .await
        .unwrap();
    assert_eq!(
        servers.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["ehr-analytics"]
    );

    // devcloud's own clouds.yaml through OS_CLIENT_CONFIG_FILE, the default cloud by OS_CLOUD.
    let own = dir.path().join("devcloud-clouds.yaml");
    let env = env_in(
        dir.path(),
        &[
            ("OS_CLIENT_CONFIG_FILE", own.to_str().unwrap()),
            ("OS_CLOUD", "hospital"),
        ],
    );
    let cloud = Cloud::connect(resolve(&CloudSource::Named(None), &env).unwrap())
        .await
        .unwrap();
    assert_eq!(cloud.name(), "hospital");
    assert_eq!(cloud.compute.microversion(), Some(Microversion::new(2, 96)));
    let research = dc.hospital.cloud().keystone.project_id("research").unwrap();
    assert_eq!(cloud.session.project_id().await.unwrap(), Some(research));

    // A name that is nowhere: the error names the files searched and the names they hold.
    let e = resolve(&CloudSource::Named(Some("nowhere".into())), &env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nowhere"), "{e}");
    assert!(e.contains("devcloud-clouds.yaml"), "{e}");
    assert!(e.contains("provider-admin"), "{e}");
}

#[tokio::test]
async fn os_environment_each_auth_method() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let url = dc.provider.auth_url();
    let token = provider_token(&dc);
    let v3 = "/identity/v3/auth/tokens";
    /// `(auth kind, OS_* variables besides OS_AUTH_URL, token path)`.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "password",
            vec![
                ("OS_USERNAME", USER),
                ("OS_PASSWORD", PASSWORD),
                ("OS_PROJECT_NAME", "client-project"),
                ("OS_USER_DOMAIN_NAME", "Default"),
                ("OS_PROJECT_DOMAIN_NAME", "Default"),
                ("OS_REGION_NAME", "RegionOne"),
                ("OS_INTERFACE", "public"),
            ],
            v3,
        ),
        (
            "v3applicationcredential",
            vec![
                ("OS_AUTH_TYPE", "v3applicationcredential"),
                ("OS_APPLICATION_CREDENTIAL_ID", APPCRED_ID),
                ("OS_APPLICATION_CREDENTIAL_SECRET", APPCRED_SECRET),
            ],
            v3,
        ),
        (
            "token",
            vec![
                ("OS_AUTH_TYPE", "token"),
                ("OS_TOKEN", token.as_str()),
                ("OS_PROJECT_ID", "p-client"),
            ],
            v3,
        ),
        (
            "password",
            vec![
                ("OS_IDENTITY_API_VERSION", "2"),
                ("OS_USERNAME", USER),
                ("OS_PASSWORD", PASSWORD),
                ("OS_TENANT_NAME", "client-project"),
            ],
            "/identity/v2.0/tokens",
        ),
    ];
    for (kind, vars, path) in cases {
        let mut vars = vars;
        vars.push(("OS_AUTH_URL", url.as_str()));
        // A process environment with other OS_* values must not matter: only ConfigEnv counts.
        let env = env_in(dir.path(), &vars);
        let cfg = resolve(&CloudSource::Env, &env).unwrap();
        assert_eq!(cfg.name, "envvars");
        assert_eq!(cfg.auth.method.kind(), kind);
        connect_and_use(&dc, cfg, path).await;
    }
}

#[tokio::test]
async fn inline_auth_reads_the_password_from_the_named_variable() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let url = dc.provider.auth_url();
    let env = env_in(
        dir.path(),
        &[
            ("CLIENT_TEST_PW", PASSWORD),
            ("CLIENT_TEST_AC", APPCRED_SECRET),
        ],
    );
    let inline = InlineAuth {
        auth_url: url.clone(),
        username: Some(USER.into()),
        password_env: Some("CLIENT_TEST_PW".into()),
        project_name: Some("client-project".into()),
        user_domain_name: Some("Default".into()),
        project_domain_name: Some("Default".into()),
        region: Some("RegionOne".into()),
        ..Default::default()
    };
    let source = |auth: &InlineAuth| CloudSource::Inline {
        name: "provider".into(),
        auth: Box::new(auth.clone()),
    };
    let cfg = resolve(&source(&inline), &env).unwrap();
    assert_eq!(cfg.auth.method.kind(), "password");
    connect_and_use(&dc, cfg, "/identity/v3/auth/tokens").await;

    let inline_ac = InlineAuth {
        auth_url: url.clone(),
        application_credential_id: Some(APPCRED_ID.into()),
        application_credential_secret_env: Some("CLIENT_TEST_AC".into()),
        ..Default::default()
    };
    let cfg = resolve(&source(&inline_ac), &env).unwrap();
    assert_eq!(cfg.auth.method.kind(), "v3applicationcredential");
    connect_and_use(&dc, cfg, "/identity/v3/auth/tokens").await;

    // The variable is not set: a configuration error naming it, before any request.
    dc.provider.cloud().log.clear();
    let unset = InlineAuth {
        password_env: Some("CLIENT_TEST_UNSET".into()),
        ..inline
    };
    let e = resolve(&source(&unset), &env).unwrap_err();
    assert!(matches!(e, Error::Config { .. }), "{e:?}");
    assert!(e.to_string().contains("CLIENT_TEST_UNSET"), "{e}");
    assert!(provider_log(&dc).is_empty());
}

#[tokio::test]
async fn wrong_credentials_name_the_cloud_and_hide_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let env = env_in(
        dir.path(),
        &[
            ("OS_AUTH_URL", dc.provider.auth_url().as_str()),
            ("OS_USERNAME", USER),
            ("OS_PASSWORD", WRONG_PASSWORD),
            ("OS_PROJECT_NAME", "client-project"),
        ],
    );
    let e = Session::connect(resolve(&CloudSource::Env, &env).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Rejected { status: 401, .. }), "{e:?}");
    assert_eq!(e.code(), "s2d::auth::rejected");
    let msg = e.to_string();
    assert!(msg.starts_with("envvars: authentication:"), "{msg}");
    assert!(msg.contains("401"), "{msg}");
    assert!(!msg.contains(WRONG_PASSWORD), "{msg}");
    assert!(!format!("{e:?}").contains(WRONG_PASSWORD));
    // One attempt: a 401 on the token request itself is not retried.
    assert_eq!(
        token_posts(&provider_log(&dc)),
        [("/identity/v3/auth/tokens".to_string(), 401)]
    );
}

/// The paths under which the non-identity requests of a log arrived, cut to their
/// `/ep/{region}/{interface}` prefix.
fn endpoint_prefixes(log: &[LoggedRequest]) -> std::collections::BTreeSet<String> {
    log.iter()
        .filter(|e| !e.path.contains("/identity"))
        .map(|e| {
            let p: Vec<&str> = e.path.splitn(5, '/').collect();
            if p.get(1) == Some(&"ep") {
                format!("/ep/{}/{}", p[2], p[3])
            } else {
                "(none)".to_string()
            }
        })
        .collect()
}

#[tokio::test]
async fn catalog_selection_by_region_and_interface() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud_with(
        dir.path(),
        FaultSettings {
            catalog_regions: vec!["RegionOne".into(), "RegionTwo".into()],
            ..FaultSettings::default()
        },
    )
    .await;
    let token = provider_token(&dc);
    write_clouds_yaml(dir.path(), &dc, &token);
    let env = env_in(dir.path(), &[]);
    let base = dc.provider.base_url().to_string();
    for (cloud_name, region, interface) in [
        ("pw-ids", Some("RegionTwo"), Interface::Internal),
        ("pw-ids", Some("RegionOne"), Interface::Admin),
        ("pw-ids", Some("RegionTwo"), Interface::Public),
        // No region: the first the catalog lists. Public is the default interface.
        ("pw-ids", None, Interface::Public),
        // v2.0 catalogs carry the three interfaces as publicURL/internalURL/adminURL.
        ("legacy", Some("RegionTwo"), Interface::Admin),
    ] {
        let mut cfg = resolve(&CloudSource::Named(Some(cloud_name.into())), &env).unwrap();
        cfg.region = region.map(str::to_string);
        cfg.interface = interface;
        let prefix = format!("/ep/{}/{interface}", region.unwrap_or("RegionOne"));
        let token_path = if cloud_name == "legacy" {
            "/identity/v2.0/tokens"
        } else {
            "/identity/v3/auth/tokens"
        };
        let cloud = connect_and_use(&dc, cfg, token_path).await;
        assert_eq!(
            cloud.compute.endpoint().base.as_str().trim_end_matches('/'),
            format!("{base}{prefix}/compute/v2.1"),
            "{cloud_name} {region:?} {interface}"
        );
        // Every service request, discovery included, went to the chosen endpoints.
        let log = provider_log(&dc);
        assert_eq!(
            endpoint_prefixes(&log).into_iter().collect::<Vec<_>>(),
            [prefix],
            "{cloud_name} {region:?} {interface}: {log:?}"
        );
    }
    // The default interface from clouds.yaml/OS_INTERFACE spelling.
    let env_vars = env_in(
        dir.path(),
        &[
            ("OS_AUTH_URL", dc.provider.auth_url().as_str()),
            ("OS_USERNAME", USER),
            ("OS_PASSWORD", PASSWORD),
            ("OS_PROJECT_NAME", "client-project"),
            ("OS_REGION_NAME", "RegionTwo"),
            ("OS_INTERFACE", "internal"),
        ],
    );
    let cfg = resolve(&CloudSource::Env, &env_vars).unwrap();
    assert_eq!(cfg.interface, Interface::Internal);
    let cloud = connect_and_use(&dc, cfg, "/identity/v3/auth/tokens").await;
    assert!(
        cloud
            .network
            .endpoint()
            .base
            .as_str()
            .starts_with(&format!("{base}/ep/RegionTwo/internal/network")),
        "{:?}",
        cloud.network.endpoint()
    );

    // A region the catalog does not have: the error names what it has.
    let mut cfg = resolve(&CloudSource::Named(Some("pw-ids".into())), &env).unwrap();
    cfg.region = Some("RegionNine".into());
    cfg.interface = Interface::Internal;
    let session = Session::connect(cfg).await.unwrap();
    let e = Compute::new(&session).await.unwrap_err();
    assert!(matches!(e, Error::Catalog { .. }), "{e:?}");
    let e = e.to_string();
    assert!(
        e.contains("no compute endpoint with interface internal in region RegionNine"),
        "{e}"
    );
    assert!(e.contains("internal in RegionOne"), "{e}");
    assert!(e.contains("internal in RegionTwo"), "{e}");
}

/// A connection through devcloud's own clouds.yaml (`provider`, `hospital`, `*-admin`).
async fn connect(dir: &Path, name: &str) -> Cloud {
    let own = dir.join("devcloud-clouds.yaml");
    let env = env_in(dir, &[("OS_CLIENT_CONFIG_FILE", own.to_str().unwrap())]);
    let mut cfg = resolve(&CloudSource::Named(Some(name.into())), &env).unwrap();
    // Short backoffs keep the fault tests quick; the rules are the same.
    cfg.retry.base_delay = Duration::from_millis(20);
    cfg.retry.max_delay = Duration::from_millis(200);
    cfg.retry.max_retries = 8;
    Cloud::connect(cfg).await.unwrap()
}

fn compute_requests(log: &[LoggedRequest]) -> Vec<&LoggedRequest> {
    log.iter()
        .filter(|e| e.path.starts_with("/compute/v2.1/"))
        .collect()
}

async fn seeded_server(cloud: &Cloud) -> s2d::cloud::compute::Server {
    cloud
        .compute
        .list_servers(&ServerQuery {
            name: Some("ehr-analytics".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0)
}

async fn base_image(cloud: &Cloud) -> ImageId {
    cloud
        .image
        .list(&s2d::cloud::image::ImageQuery {
            name: Some("ubuntu-22.04-base".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0)
        .id
}

#[tokio::test]
async fn create_image_reads_the_body_from_2_45() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let provider = connect(dir.path(), "provider").await;
    assert_eq!(
        provider.compute.microversion(),
        Some(Microversion::new(2, 96))
    );
    let server = seeded_server(&provider).await;
    dc.provider.cloud().log.clear();
    let id = provider
        .compute
        .create_image(&server.id, "snap-new", &Default::default())
        .await
        .unwrap();
    let img = provider
        .image
        .wait_for_status(&id, "active", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(img.name.as_deref(), Some("snap-new"));
    let log = provider_log(&dc);
    let action = log
        .iter()
        .find(|e| e.path.ends_with("/action"))
        .expect("createImage was sent");
    assert_eq!(action.api_version.as_deref(), Some("compute 2.96"));
    assert_eq!(action.status, 202);
}

#[tokio::test]
async fn an_older_nova_gets_the_requests_it_understands() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud_with(
        dir.path(),
        FaultSettings {
            compute_max_microversion: Some("2.44".into()),
            ..FaultSettings::default()
        },
    )
    .await;
    let provider = connect(dir.path(), "provider").await;
    assert_eq!(
        provider.compute.microversion(),
        Some(Microversion::new(2, 44))
    );
    assert_eq!(
        provider.compute.endpoint().range,
        Some((Microversion::new(2, 1), Microversion::new(2, 44)))
    );
    let server = seeded_server(&provider).await;
    dc.provider.cloud().log.clear();
    // Before 2.45 the image id is only in the Location header.
    let id = provider
        .compute
        .create_image(&server.id, "snap-2.44", &Default::default())
        .await
        .unwrap();
    let img = provider
        .image
        .wait_for_status(&id, "active", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(img.name.as_deref(), Some("snap-2.44"));
    // Tags between 2.26 and 2.51 are set after the boot (and Nova refuses them while the
    // server builds).
    let image = base_image(&provider).await;
    let tagged = provider
        .compute
        .create_server(&ServerCreate {
            name: "tagged-2.44".into(),
            image: Some(image.clone()),
            flavor: FlavorId::from("1"),
            tags: vec!["s2d".into(), "wave-1".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let s = provider
        .compute
        .wait_for_server(&tagged, "ACTIVE", Duration::from_secs(30))
        .await
        .unwrap();
    let mut tags = s.tags.clone();
    tags.sort();
    assert_eq!(tags, ["s2d", "wave-1"]);
    let log = provider_log(&dc);
    let compute = compute_requests(&log);
    assert!(!compute.is_empty());
    for e in &compute {
        assert_eq!(e.api_version.as_deref(), Some("compute 2.44"), "{e:?}");
    }
    assert!(log.iter().all(|e| e.status != 406), "{log:?}");

    // The oldest Nova: 2.1. A keypair without `type`, a boot without `networks`, a snapshot.
    dc.provider.cloud().faults.set(FaultSettings {
        compute_max_microversion: Some("2.1".into()),
        ..FaultSettings::default()
    });
    let old = connect(dir.path(), "provider").await;
    assert_eq!(old.compute.microversion(), Some(Microversion::new(2, 1)));
    dc.provider.cloud().log.clear();
    let kp = old
        .compute
        .import_keypair("old-key", KEY, Some("ssh"))
        .await
        .unwrap();
    assert_eq!(kp.name, "old-key");
    assert!(old.compute.get_keypair("old-key").await.unwrap().is_some());
    let booted = old
        .compute
        .create_server(&ServerCreate {
            name: "booted-2.1".into(),
            image: Some(image),
            flavor: FlavorId::from("1"),
            key_name: Some("old-key".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let s = old
        .compute
        .wait_for_server(&booted, "ACTIVE", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(s.key_name.as_deref(), Some("old-key"));
    let snap = old
        .compute
        .create_image(&booted, "snap-2.1", &Default::default())
        .await
        .unwrap();
    let img = old
        .image
        .wait_for_status(&snap, "active", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(img.name.as_deref(), Some("snap-2.1"));
    let log = provider_log(&dc);
    for e in compute_requests(&log) {
        assert_eq!(e.api_version.as_deref(), Some("compute 2.1"), "{e:?}");
        assert!(e.status < 400, "{e:?}");
    }
}

#[tokio::test]
async fn token_expiry_in_the_middle_of_a_run_goes_unnoticed() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let faults = &dc.provider.cloud().faults;
    // Tokens last 2 s; a server takes 3 s to build: its wait crosses an expiry or two.
    faults.set(FaultSettings {
        token_ttl_s: Some(2),
        server_build_s: 3.0,
        ..faults.get()
    });
    let provider = connect(dir.path(), "provider").await;
    let image = base_image(&provider).await;
    let started = Instant::now();
    let id = provider
        .compute
        .create_server(&ServerCreate {
            name: "long-build".into(),
            image: Some(image),
            flavor: FlavorId::from("1"),
            ..Default::default()
        })
        .await
        .unwrap();
    let s = provider
        .compute
        .wait_for_server(&id, "ACTIVE", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(s.status, "ACTIVE");
    while started.elapsed() < Duration::from_secs(5) {
        provider.compute.list_flavors().await.unwrap();
        provider.network.networks(&[]).await.unwrap();
        provider.image.list(&Default::default()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(provider.compute.delete_server(&id).await.unwrap());
    let log = dc.provider.cloud().log.entries();
    let issued = token_posts(&log);
    assert!(issued.len() >= 3, "tokens issued: {issued:?}");
    // Renewed before expiry every time: no service saw an expired token.
    assert!(
        !log.iter().any(|e| e.status == 401),
        "a request carried an expired token: {log:?}"
    );
}

#[tokio::test]
async fn a_token_expired_behind_the_clients_back_is_renewed_after_one_401() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let token = provider_token(&dc);
    write_clouds_yaml(dir.path(), &dc, &token);
    let env = env_in(dir.path(), &[]);
    for (name, token_path) in [
        ("hospital", "/identity/v3/auth/tokens"),
        ("legacy", "/identity/v2.0/tokens"),
    ] {
        let (cloud, running) = if name == "hospital" {
            (connect(dir.path(), name).await, &dc.hospital)
        } else {
            let cfg = resolve(&CloudSource::Named(Some(name.into())), &env).unwrap();
            (Cloud::connect(cfg).await.unwrap(), &dc.provider)
        };
        cloud.compute.list_flavors().await.unwrap();
        // The cloud's clock jumps two hours: every token it issued has expired, while the
        // client still believes its one-hour token is good.
        running.cloud().clock.shift(time::Duration::hours(2));
        running.cloud().log.clear();
        let flavors = cloud.compute.list_flavors().await.unwrap();
        assert!(!flavors.is_empty());
        cloud.network.networks(&[]).await.unwrap();
        cloud.image.list(&Default::default()).await.unwrap();
        let log: Vec<(String, String, u16)> = running
            .cloud()
            .log
            .entries()
            .into_iter()
            .map(|e| (e.method, e.path, e.status))
            .collect();
        let statuses: Vec<u16> = log.iter().map(|e| e.2).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 1, "{log:?}");
        assert_eq!(log[0].2, 401, "{log:?}");
        assert_eq!(log[1].1, token_path, "{log:?}");
        assert!(log[1].2 < 300, "{log:?}");
        // The refused request was repeated with the new token, then the rest went through.
        assert_eq!(log[2].1, log[0].1, "{log:?}");
        assert!(log[2..].iter().all(|e| e.2 < 400), "{log:?}");
        assert_eq!(token_posts(&running.cloud().log.entries()).len(), 1);
    }
}

#[tokio::test]
async fn a_cloud_clock_far_from_ours_neither_renews_every_time_nor_misses_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let token = provider_token(&dc);
    write_clouds_yaml(dir.path(), &dc, &token);
    let env = env_in(dir.path(), &[]);
    for (name, token_path) in [
        ("pw-ids", "/identity/v3/auth/tokens"),
        ("legacy", "/identity/v2.0/tokens"),
    ] {
        // The cloud's clock is three hours behind ours: its one-hour tokens "expired" two
        // hours ago by our clock, yet they are good for an hour.
        dc.provider.cloud().clock.shift(time::Duration::hours(-3));
        let cfg = resolve(&CloudSource::Named(Some(name.into())), &env).unwrap();
        let cloud = Cloud::connect(cfg).await.unwrap();
        for _ in 0..5 {
            cloud.compute.list_flavors().await.unwrap();
            cloud.network.networks(&[]).await.unwrap();
        }
        let log = provider_log(&dc);
        assert_eq!(
            token_posts(&log).len(),
            1,
            "{name}: one token for the whole run: {log:?}"
        );
        assert!(log.iter().all(|e| e.status < 400), "{name}: {log:?}");
        dc.provider.cloud().log.clear();
        // Back to our time, then past the token's hour on the cloud's clock: the next call
        // renews once (after a 401) and goes through.
        dc.provider.cloud().clock.shift(time::Duration::hours(3));
        dc.provider.cloud().clock.shift(time::Duration::minutes(61));
        cloud.compute.list_flavors().await.unwrap();
        let log = provider_log(&dc);
        assert_eq!(
            token_posts(&log),
            [(
                token_path.to_string(),
                if name == "legacy" { 200 } else { 201 }
            )],
            "{name}: {log:?}"
        );
        dc.provider.cloud().log.clear();
    }
}

/// devcloud's own view of one project: the names of its `kind` (`servers`,
/// `security_groups`, `keypairs`, `floatingips`) resources.
fn state_names(cloud: &devcloud::RunningCloud, project: &str, kind: &str) -> Vec<String> {
    let state = devcloud::admin::state_dump(cloud.cloud());
    let list = &state["projects"][project][kind];
    list.as_array()
        .unwrap_or_else(|| panic!("{kind} of {project} in {state}"))
        .iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

#[tokio::test]
async fn injected_503s_after_the_fact_create_each_resource_once() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let provider = connect(dir.path(), "provider").await;
    let image = base_image(&provider).await;
    let faults = &dc.provider.cloud().faults;
    dc.provider.cloud().log.clear();
    // A third of the requests are carried out but answered 503 (the proxy gave up); a
    // tenth more are refused with a 503 before anything happens.
    faults.set(FaultSettings {
        fail_after_rate: 0.3,
        fail_rate: 0.0,
        ..faults.get()
    });
    let policy = provider.session.config().retry;
    let (net, nova) = (provider.network.clone(), provider.compute.clone());
    let names = ["w1", "w2", "w3", "w4", "w5", "w6"];
    for name in names {
        create_or_adopt(
            &policy,
            10,
            || net.create_security_group(name, Some("s2d test")),
            || async {
                let found = net.security_groups(&[("name", name.to_string())]).await?;
                Ok(found.into_iter().next())
            },
        )
        .await
        .unwrap();
        create_or_adopt(
            &policy,
            10,
            || nova.import_keypair(name, KEY, Some("ssh")),
            || nova.get_keypair(name),
        )
        .await
        .unwrap();
        let server = ServerCreate {
            name: name.into(),
            image: Some(image.clone()),
            flavor: FlavorId::from("1"),
            ..Default::default()
        };
        let id = create_or_adopt(
            &policy,
            10,
            || nova.create_server(&server),
            || async {
                let q = ServerQuery {
                    name: Some(name.to_string()),
                    ..Default::default()
                };
                Ok(nova
                    .list_servers(&q)
                    .await?
                    .into_iter()
                    .next()
                    .map(|s| s.id))
            },
        )
        .await
        .unwrap();
        // Reads are retried by the session itself.
        nova.wait_for_server(&id, "ACTIVE", Duration::from_secs(30))
            .await
            .unwrap();
    }
    faults.set(FaultSettings {
        fail_after_rate: 0.0,
        ..faults.get()
    });
    let log = dc.provider.cloud().log.entries();
    // The faults did hit creates that nevertheless happened.
    for (method, path) in [
        ("POST", "/compute/v2.1/servers"),
        ("POST", "/network/v2.0/security-groups"),
        ("POST", "/compute/v2.1/os-keypairs"),
    ] {
        let hit = log
            .iter()
            .filter(|e| e.method == method && e.path == path && e.status == 503)
            .count();
        assert!(hit >= 1, "no 503 on {method} {path}: {log:?}");
    }
    // Exactly one of each, on devcloud's side.
    for kind in ["servers", "security_groups", "keypairs"] {
        let mut got = state_names(&dc.provider, "ehr", kind);
        got.retain(|n| names.contains(&n.as_str()));
        got.sort();
        assert_eq!(got, names, "{kind}");
    }
}

#[tokio::test]
async fn injected_503s_and_429s_before_the_fact_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let hospital = connect(dir.path(), "hospital").await;
    let faults = &dc.hospital.cloud().faults;
    faults.set(FaultSettings {
        fail_rate: 0.2,
        rate_limit_rate: 0.2,
        retry_after_s: 0,
        ..faults.get()
    });
    let policy = hospital.session.config().retry;
    let net = hospital.network.clone();
    for name in ["web", "db", "cache"] {
        let group = create_or_adopt(
            &policy,
            10,
            || net.create_security_group(name, Some("s2d")),
            || async {
                let found = net.security_groups(&[("name", name.to_string())]).await?;
                Ok(found.into_iter().next())
            },
        )
        .await
        .unwrap();
        assert_eq!(group.name, name);
    }
    // Reads through the session alone (no create_or_adopt): 503 and 429 are retried.
    let mut reads = 0;
    for _ in 0..10 {
        match hospital.compute.list_flavors().await {
            Ok(f) => {
                assert_eq!(f.len(), 4);
                reads += 1;
            }
            // A 500 is not retried (nothing says it is transient): it surfaces, located.
            Err(e) => {
                assert_eq!(e.status(), Some(500), "{e}");
                assert!(e.to_string().contains("hospital"), "{e}");
            }
        }
    }
    assert!(reads >= 1);
    let log = dc.hospital.cloud().log.entries();
    assert!(log.iter().any(|e| e.status == 429), "429s were injected");
    assert!(log.iter().any(|e| e.status == 503), "503s were injected");
    faults.set(FaultSettings {
        fail_rate: 0.0,
        rate_limit_rate: 0.0,
        ..faults.get()
    });
    let mut got = state_names(&dc.hospital, "research", "security_groups");
    got.retain(|n| ["web", "db", "cache"].contains(&n.as_str()));
    got.sort();
    assert_eq!(got, ["cache", "db", "web"]);
    let gone = net
        .delete_security_group(&SecurityGroupId::from("no-such-group"))
        .await
        .unwrap();
    assert!(!gone);
}

#[tokio::test]
async fn typed_calls_on_the_seeded_clouds() {
    let dir = tempfile::tempdir().unwrap();
    let _dc = devcloud(dir.path()).await;
    let hospital = connect(dir.path(), "hospital").await;
    let flavors = hospital.compute.list_flavors().await.unwrap();
    assert!(flavors.iter().any(|f| f.name == "m1.small"), "{flavors:?}");
    let public = hospital
        .network
        .networks(&[("router:external", "true".into())])
        .await
        .unwrap();
    assert_eq!(
        public.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        ["public"]
    );
    let provider = connect(dir.path(), "provider").await;
    let s = seeded_server(&provider).await;
    assert_eq!(s.key_name.as_deref(), Some("alice-key"));
    let sgs = provider
        .compute
        .server_security_groups(&s.id)
        .await
        .unwrap();
    let mut names: Vec<_> = sgs.iter().map(|g| g.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["analytics", "default"]);
    let ports = provider.network.server_ports(&s.id).await.unwrap();
    assert_eq!(ports.len(), 1);
    assert!(
        provider
            .compute
            .get_keypair("alice-key")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        provider
            .compute
            .get_keypair("nope")
            .await
            .unwrap()
            .is_none()
    );
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The buffer of the process-wide TRACE subscriber (every crate, every level), installed once
/// per test binary: a per-test `set_default` misses events of other threads, and callsite
/// interest is cached globally. Every test of this binary logs into it, which only widens
/// what the secrets check below sees.
fn log_buffer() -> Buf {
    static BUF: std::sync::OnceLock<Buf> = std::sync::OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buf
    })
    .clone()
}

#[tokio::test]
async fn no_secret_in_logs_or_errors() {
    let buf = log_buffer();
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let token = provider_token(&dc);
    write_clouds_yaml(dir.path(), &dc, &token);
    let env = env_in(dir.path(), &[]);
    let mut texts = Vec::new();
    // `tok` first: the clock shifts below expire the token it starts from.
    for name in ["tok", "pw", "pw-ids", "ac", "ac-by-name", "legacy"] {
        let mut cfg = resolve(&CloudSource::Named(Some(name.into())), &env).unwrap();
        cfg.retry.base_delay = Duration::from_millis(10);
        texts.push(format!("{cfg:?}"));
        let cloud = Cloud::connect(cfg).await.unwrap();
        texts.push(format!("{cloud:?}"));
        cloud.compute.list_flavors().await.unwrap();
        // Errors of every kind: a 404, a 401 renewal, a 400 with a body, a 503 retried.
        let e = cloud
            .compute
            .get_flavor(&FlavorId::from("no-such-flavor"))
            .await;
        texts.push(format!("{e:?}"));
        dc.provider.cloud().clock.shift(time::Duration::hours(2));
        let nets = cloud.network.networks(&[]).await;
        if name == "tok" {
            // Renewing from a token keeps that token's expiry, which has now passed: a
            // clean authentication error, nothing else to do with this cloud.
            let e = nets.unwrap_err();
            assert!(
                matches!(e, Error::Auth { .. } | Error::Rejected { .. }),
                "{e:?}"
            );
            texts.push(format!("{e} {e:?}"));
            continue;
        }
        nets.unwrap();
        let e = cloud
            .compute
            .create_server(&ServerCreate {
                name: "bad".into(),
                flavor: FlavorId::from("no-such-flavor"),
                image: Some(ImageId::from("no-such-image")),
                ..Default::default()
            })
            .await
            .unwrap_err();
        texts.push(format!("{e} {e:?}"));
        dc.provider.cloud().faults.set(FaultSettings {
            fail_rate: 0.5,
            ..FaultSettings::default()
        });
        for _ in 0..4 {
            if let Err(e) = cloud.image.list(&Default::default()).await {
                texts.push(format!("{e} {e:?}"));
            }
        }
        dc.provider.cloud().faults.set(FaultSettings::default());
    }
    let env_vars = |vars: &[(&str, &str)]| {
        let mut all = vec![("OS_AUTH_URL", dc.provider.auth_url())];
        all.extend(vars.iter().map(|(k, v)| (*k, v.to_string())));
        let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env_in(dir.path(), &all)
    };
    // Refused credentials of each kind, and a refused token.
    let stale = provider_token(&dc);
    dc.provider.cloud().clock.shift(time::Duration::hours(2));
    for vars in [
        vec![("OS_USERNAME", USER), ("OS_PASSWORD", WRONG_PASSWORD)],
        vec![
            ("OS_AUTH_TYPE", "v3applicationcredential"),
            ("OS_APPLICATION_CREDENTIAL_ID", APPCRED_ID),
            ("OS_APPLICATION_CREDENTIAL_SECRET", WRONG_PASSWORD),
        ],
        vec![
            ("OS_AUTH_TYPE", "token"),
            ("OS_TOKEN", stale.as_str()),
            ("OS_PROJECT_ID", "p-client"),
        ],
        vec![
            ("OS_IDENTITY_API_VERSION", "2"),
            ("OS_USERNAME", USER),
            ("OS_PASSWORD", WRONG_PASSWORD),
            ("OS_TENANT_NAME", "client-project"),
        ],
    ] {
        let cfg = resolve(&CloudSource::Env, &env_vars(&vars)).unwrap();
        texts.push(format!("{cfg:?}"));
        let e = Session::connect(cfg).await.unwrap_err();
        assert!(
            matches!(e, Error::Auth { .. } | Error::Rejected { .. }),
            "{e:?}"
        );
        texts.push(format!("{e} {e:?}"));
    }

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    // The log is real: requests at debug, and the HTTP stack's own trace events.
    assert!(
        logs.contains("/compute/v2.1/flavors/detail"),
        "requests were logged"
    );
    assert!(logs.contains("TRACE"), "trace level was captured");
    assert!(logs.contains("401"), "the renewal after a 401 was logged");
    let mut secrets: Vec<String> = [
        PASSWORD,
        APPCRED_SECRET,
        WRONG_PASSWORD,
        "alice-secret",
        "bob-secret",
        "alice-appcred-secret",
        "bob-appcred-secret",
        "admin-secret",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Every token either cloud ever issued, including the ones the client received.
    let tokens: Vec<String> = [&dc.provider, &dc.hospital]
        .iter()
        .flat_map(|c| c.cloud().keystone.issued_token_ids())
        .collect();
    assert!(tokens.len() >= 12, "{} tokens", tokens.len());
    secrets.extend(tokens);
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "{secret:?} in the logs");
        for t in &texts {
            assert!(!t.contains(secret.as_str()), "{secret:?} in {t}");
        }
    }
}

/// With devcloud's page maximum at 2 (nova `max_limit`, glance `api_limit_max`, neutron
/// `pagination_max_limit`), every list still returns everything: the client follows Nova's
/// `servers_links`, Glance's `next` (which keeps the filters) and Neutron's `*_links`.
#[tokio::test]
async fn lists_follow_every_page_of_a_small_page_size() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud_with(
        dir.path(),
        FaultSettings {
            max_limit: Some(2),
            ..FaultSettings::default()
        },
    )
    .await;
    let provider = connect(dir.path(), "provider").await;
    let image = base_image(&provider).await;
    let names = ["pg1", "pg2", "pg3", "pg4", "pg5"];
    for name in names {
        provider
            .network
            .create_security_group(name, Some("paging"))
            .await
            .unwrap();
        provider
            .compute
            .create_server(&ServerCreate {
                name: name.into(),
                image: Some(image.clone()),
                flavor: FlavorId::from("1"),
                ..Default::default()
            })
            .await
            .unwrap();
        provider
            .image
            .create(&s2d::cloud::image::ImageCreate {
                name: name.into(),
                disk_format: "raw".into(),
                container_format: "bare".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    dc.provider.cloud().log.clear();
    let servers = provider
        .compute
        .list_servers(&ServerQuery::default())
        .await
        .unwrap();
    assert_eq!(servers.len(), 6, "{servers:?}"); // ehr-analytics and the five
    let groups = provider.network.security_groups(&[]).await.unwrap();
    assert_eq!(groups.len(), 7); // default, analytics and the five
    let queued = provider
        .image
        .list(&s2d::cloud::image::ImageQuery {
            status: Some("queued".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut got: Vec<String> = queued.iter().filter_map(|i| i.name.clone()).collect();
    got.sort();
    assert_eq!(got, names);
    let log = provider_log(&dc);
    let pages = |prefix: &str| log.iter().filter(|e| e.path.starts_with(prefix)).count();
    assert_eq!(pages("/compute/v2.1/servers/detail"), 4, "{log:?}"); // 2+2+2, then empty
    assert_eq!(pages("/network/v2.0/security-groups"), 4, "{log:?}"); // 2+2+2+1
    assert_eq!(pages("/image/v2/images"), 3, "{log:?}"); // 2+2+1, all queued
    assert!(
        log.iter()
            .filter(|e| e.path.starts_with("/image/v2/images?"))
            .all(|e| e.path.contains("status=queued")),
        "a next page lost the filter: {log:?}"
    );
}

/// Quotas refuse as the services do, and the client reads each refusal as
/// `s2d::cloud::quota`: Nova 403, Neutron 409 `OverQuota`, Glance 413 on upload.
#[tokio::test]
async fn quota_refusals_are_quota_errors() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let provider = connect(dir.path(), "provider").await;
    let image = base_image(&provider).await;
    let faults = &dc.provider.cloud().faults;
    faults.set(FaultSettings {
        quota: devcloud::faults::Quotas {
            instances: Some(2),
            floatingip: Some(0),
            image_count_uploading: Some(0),
            ..Default::default()
        },
        ..faults.get()
    });
    let limits = provider.compute.limits().await.unwrap();
    let limits = serde_json::to_value(&limits).unwrap();
    assert_eq!(limits["absolute"]["maxTotalInstances"], 2, "{limits}");
    let boot = |name: &str| ServerCreate {
        name: name.into(),
        image: Some(image.clone()),
        flavor: FlavorId::from("1"),
        ..Default::default()
    };
    provider.compute.create_server(&boot("q1")).await.unwrap();
    let e = provider
        .compute
        .create_server(&boot("q2"))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");
    assert_eq!(e.code(), "s2d::cloud::quota", "{e}");
    assert!(
        e.to_string().contains(
            "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
        ),
        "{e}"
    );
    let public = provider
        .network
        .networks(&[("router:external", "true".into())])
        .await
        .unwrap()
        .remove(0);
    let e = provider
        .network
        .create_floating_ip(&s2d::cloud::network::FloatingIpCreate {
            floating_network_id: public.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(409), "{e}");
    assert_eq!(e.code(), "s2d::cloud::quota", "{e}");
    assert!(
        e.to_string()
            .contains("OverQuota: Quota exceeded for resources: ['floatingip']."),
        "{e}"
    );
    let made = provider
        .image
        .create(&s2d::cloud::image::ImageCreate {
            name: "q-image".into(),
            disk_format: "raw".into(),
            container_format: "bare".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let e = provider
        .image
        .upload(
            &made.id,
            Some(3),
            futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
                b"abc",
            ))]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(413), "{e}");
    assert_eq!(e.code(), "s2d::cloud::quota", "{e}");
    let again = provider.image.get(&made.id).await.unwrap().unwrap();
    assert_eq!(again.status, "queued");
}

/// Cinder through the client: a volume from an image, its snapshot, a volume from the
/// snapshot, that copy uploaded to Glance (the image has the volume's bytes), types, limits,
/// and everything deleted again, each step waited for.
#[tokio::test]
async fn volumes_snapshots_and_upload_to_image() {
    use s2d::cloud::volume::{SnapshotCreate, UploadToImage, VolumeCreate};
    use s2d::cloud::{VolumeId, VolumeSnapshotId};
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let provider = connect(dir.path(), "provider").await;
    let cinder = provider.volume().await.unwrap();
    assert_eq!(cinder.microversion(), Some(Microversion::new(3, 71)));
    let wait = Duration::from_secs(60);
    let image = base_image(&provider).await;
    dc.provider.cloud().log.clear();
    let root = cinder
        .create_volume(&VolumeCreate {
            name: "vol-root".into(),
            size: Some(1),
            description: Some("from the base image".into()),
            metadata: [("s2d".to_string(), "test".to_string())].into(),
            image_id: Some(image.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(root.status, "creating");
    let root = cinder
        .wait_volume(&root.id, &["available"], &[], wait)
        .await
        .unwrap();
    assert!(root.bootable);
    assert_eq!(root.size, 1);
    assert_eq!(root.metadata["s2d"], "test");
    assert_eq!(
        root.volume_image_metadata
            .get("image_id")
            .map(String::as_str),
        Some(image.as_str())
    );
    let log = provider_log(&dc);
    let sent = log
        .iter()
        .find(|e| e.method == "POST" && e.path.ends_with("/volumes"))
        .expect("the create was sent");
    assert_eq!(sent.api_version.as_deref(), Some("volume 3.71"));
    assert_eq!(sent.status, 202);
    assert!(
        cinder
            .volumes()
            .await
            .unwrap()
            .iter()
            .any(|v| v.id == root.id)
    );

    let snap = cinder
        .create_snapshot(&SnapshotCreate {
            volume_id: root.id.clone(),
            name: "snap-root".into(),
            description: None,
            metadata: Default::default(),
        })
        .await
        .unwrap();
    let snap = cinder
        .wait_snapshot(&snap.id, &["available"], &[], wait)
        .await
        .unwrap();
    assert_eq!((snap.size, &snap.volume_id), (1, &root.id));
    assert!(
        cinder
            .snapshots()
            .await
            .unwrap()
            .iter()
            .any(|s| s.id == snap.id)
    );

    let copy = cinder
        .create_volume(&VolumeCreate {
            name: "vol-copy".into(),
            snapshot_id: Some(snap.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let copy = cinder
        .wait_volume(&copy.id, &["available"], &[], wait)
        .await
        .unwrap();
    assert_eq!(copy.snapshot_id.as_ref(), Some(&snap.id));
    assert_eq!(copy.size, 1);

    let uploaded = cinder
        .upload_to_image(&copy.id, &UploadToImage::raw("img-of-copy"))
        .await
        .unwrap();
    let img = provider
        .image
        .wait_for_status(&uploaded, "active", wait)
        .await
        .unwrap();
    assert_eq!(img.name.as_deref(), Some("img-of-copy"));
    assert_eq!(
        img.size,
        Some(copy.bytes()),
        "a raw image of the whole volume"
    );
    cinder
        .wait_volume(&copy.id, &["available"], &[], wait)
        .await
        .unwrap();

    let types = cinder.types().await.unwrap();
    assert!(!types.is_empty());
    assert!(types.iter().all(|t| !t.id.is_empty() && !t.name.is_empty()));
    let limits = cinder.limits().await.unwrap();
    assert_eq!(limits.volumes, Some((10, 2)), "{limits:?}");
    assert_eq!(limits.gigabytes.map(|g| g.0), Some(1000), "{limits:?}");

    // Deleting in dependency order: the copy, the snapshot, then its volume.
    assert!(provider.image.delete(&uploaded).await.unwrap());
    assert!(cinder.delete_volume(&copy.id).await.unwrap());
    let gone = cinder
        .wait_volume(&copy.id, &["available"], &[], wait)
        .await
        .unwrap_err()
        .to_string();
    assert!(gone.contains("disappeared"), "{gone}");
    assert!(cinder.delete_snapshot(&snap.id).await.unwrap());
    wait_until(|| async { cinder.snapshot(&snap.id).await.unwrap().is_none() }).await;
    assert!(!cinder.delete_snapshot(&snap.id).await.unwrap());
    assert!(cinder.delete_volume(&root.id).await.unwrap());
    wait_until(|| async { cinder.volume(&root.id).await.unwrap().is_none() }).await;
    assert!(!cinder.delete_volume(&root.id).await.unwrap());
    assert!(
        cinder
            .volume(&VolumeId::from("no-such-volume"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        cinder
            .snapshot(&VolumeSnapshotId::from("no-such-snapshot"))
            .await
            .unwrap()
            .is_none()
    );
    // Cinder's own words come back, with the request id.
    let e = cinder
        .create_volume(&VolumeCreate {
            name: "bad-type".into(),
            size: Some(1),
            volume_type: Some("no-such-type".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    match &e {
        Error::Api {
            status, message, ..
        } => {
            assert_eq!(*status, 404);
            assert!(message.contains("no-such-type"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// Poll `cond` (every 50 ms, at most 30 s).
async fn wait_until<F, Fut>(mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !cond().await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "condition never met"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server booted from a volume through `block_device_mapping_v2` shows it in
/// `volumes_attached`; its in-use volume can be snapshotted (3.66, no `force`); the server
/// stops and starts.
#[tokio::test]
async fn a_server_boots_from_a_volume_and_stops_and_starts() {
    use s2d::cloud::compute::{AttachedVolume, BlockDevice};
    use s2d::cloud::volume::{SnapshotCreate, VolumeCreate};
    let dir = tempfile::tempdir().unwrap();
    let _dc = devcloud(dir.path()).await;
    let provider = connect(dir.path(), "provider").await;
    let cinder = provider.volume().await.unwrap();
    let wait = Duration::from_secs(60);
    let image = base_image(&provider).await;
    let root = cinder
        .create_volume(&VolumeCreate {
            name: "bfv-root".into(),
            size: Some(1),
            image_id: Some(image),
            ..Default::default()
        })
        .await
        .unwrap();
    cinder
        .wait_volume(&root.id, &["available"], &[], wait)
        .await
        .unwrap();
    let data = cinder
        .create_volume(&VolumeCreate {
            name: "bfv-data".into(),
            size: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    cinder
        .wait_volume(&data.id, &["available"], &[], wait)
        .await
        .unwrap();
    let id = provider
        .compute
        .create_server(&ServerCreate {
            name: "bfv".into(),
            image: None,
            flavor: FlavorId::from("1"),
            block_devices: vec![
                BlockDevice::volume(root.id.clone(), Some(0), true),
                BlockDevice::volume(data.id.clone(), None, false),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    let s = provider
        .compute
        .wait_for_server(&id, "ACTIVE", wait)
        .await
        .unwrap();
    assert_eq!(s.image, None);
    assert_eq!(
        s.volumes_attached,
        [
            AttachedVolume {
                id: root.id.clone(),
                delete_on_termination: Some(true)
            },
            AttachedVolume {
                id: data.id.clone(),
                delete_on_termination: Some(false)
            }
        ]
    );
    let root_now = cinder
        .wait_volume(&root.id, &["in-use"], &[], wait)
        .await
        .unwrap();
    assert_eq!(root_now.attachments.len(), 1);
    assert_eq!(root_now.attachments[0].server_id, id);
    assert!(!root_now.attachments[0].attachment_id.is_empty());

    // A snapshot of the in-use data volume.
    let snap = cinder
        .create_snapshot(&SnapshotCreate {
            volume_id: data.id.clone(),
            name: "snap-in-use".into(),
            description: Some("crash-consistent".into()),
            metadata: Default::default(),
        })
        .await
        .unwrap();
    cinder
        .wait_snapshot(&snap.id, &["available"], &[], wait)
        .await
        .unwrap();

    provider.compute.stop_server(&id).await.unwrap();
    provider
        .compute
        .wait_for_server(&id, "SHUTOFF", wait)
        .await
        .unwrap();
    provider.compute.start_server(&id).await.unwrap();
    provider
        .compute
        .wait_for_server(&id, "ACTIVE", wait)
        .await
        .unwrap();

    assert!(provider.compute.delete_server(&id).await.unwrap());
    provider
        .compute
        .wait_for_server_deleted(&id, wait)
        .await
        .unwrap();
    // delete_on_termination: the root goes with the server, the data volume stays.
    wait_until(|| async { cinder.volume(&root.id).await.unwrap().is_none() }).await;
    cinder
        .wait_volume(&data.id, &["available"], &[], wait)
        .await
        .unwrap();
    assert!(cinder.delete_snapshot(&snap.id).await.unwrap());
    wait_until(|| async { cinder.snapshot(&snap.id).await.unwrap().is_none() }).await;
    assert!(cinder.delete_volume(&data.id).await.unwrap());
}

/// An unversioned block-storage endpoint (`.../volume`, as an override here) is resolved
/// through its version document (a 300) to the `v3` entry, with no project id from 3.67.
#[tokio::test]
async fn an_unversioned_block_storage_endpoint_is_discovered() {
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let own = dir.path().join("devcloud-clouds.yaml");
    let env = env_in(
        dir.path(),
        &[("OS_CLIENT_CONFIG_FILE", own.to_str().unwrap())],
    );
    let mut cfg = resolve(&CloudSource::Named(Some("provider".into())), &env).unwrap();
    cfg.endpoint_overrides.insert(
        s2d::cloud::Service::BlockStorage,
        format!("{}/volume", dc.provider.base_url()),
    );
    let cloud = Cloud::connect(cfg).await.unwrap();
    let cinder = cloud.volume().await.unwrap();
    assert_eq!(
        cinder.endpoint().base.as_str().trim_end_matches('/'),
        format!("{}/volume/v3", dc.provider.base_url())
    );
    assert_eq!(cinder.microversion(), Some(Microversion::new(3, 71)));
    assert!(cinder.volumes().await.is_ok());
}

/// A volume larger than the source Glance's `image_size_cap`: Cinder's upload fails (the image
/// deleted, the volume `available` again) without saying why, and the engine's upload says
/// so with its own code and a help naming the cap.
#[tokio::test]
async fn a_volume_upload_past_glances_size_cap_names_the_cap() {
    use s2d::cloud::volume::VolumeCreate;
    use s2d::engine::openstack::{OpenStack, TransferOptions};
    use s2d::engine::port::Volumes;
    use s2d::engine::{Marker, PortError};
    let dir = tempfile::tempdir().unwrap();
    let dc = devcloud(dir.path()).await;
    let provider = connect(dir.path(), "provider").await;
    let hospital = connect(dir.path(), "hospital").await;
    let cinder = provider.volume().await.unwrap();
    let wait = Duration::from_secs(60);
    let volume = cinder
        .create_volume(&VolumeCreate {
            name: "past-the-cap".into(),
            size: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    cinder
        .wait_volume(&volume.id, &["available"], &[], wait)
        .await
        .unwrap();
    let mut faults = dc.provider.cloud().faults.get();
    faults.image_size_cap = Some(1 << 20);
    dc.provider.cloud().faults.set(faults);
    let engine = OpenStack::new(provider, hospital, TransferOptions::default());
    let marker = Marker {
        lineage: "lineage-of-the-test".into(),
        address: "volume_upload.db[0]".parse().unwrap(),
    };
    let err = engine
        .upload_volume(
            volume.id.as_str(),
            "s2d-db-0-volume_upload",
            "raw",
            &marker,
            wait,
        )
        .await
        .unwrap_err();
    let PortError::Api {
        diagnosis, message, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(diagnosis.code, "s2d::cloud::volume_upload_failed", "{err}");
    assert!(
        diagnosis
            .help
            .as_deref()
            .is_some_and(|h| h.contains("`image_size_cap`")),
        "{diagnosis:?}"
    );
    assert!(message.contains(volume.id.as_str()), "{message}");
    cinder
        .wait_volume(&volume.id, &["available"], &[], wait)
        .await
        .unwrap();
}
