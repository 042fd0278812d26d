//! How s2d finds a cloud: clouds.yaml search order, secure.yaml merge, OS_CLOUD, each
//! auth_type, the OS_* variables and inline auth. Every test passes its own environment
//! (a temporary home, cwd and variables) instead of touching the process environment.

use std::collections::BTreeMap;
use std::path::Path;

use s2d::cloud::config::{
    AuthMethod, CloudSource, ConfigEnv, IdentityVersion, InlineAuth, resolve, resolve_first,
};
use s2d::cloud::{Interface, Secret, Service};

struct Dirs {
    _tmp: tempfile::TempDir,
    env: ConfigEnv,
}

fn dirs(vars: &[(&str, &str)]) -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("cwd");
    let home = tmp.path().join("home");
    let etc = tmp.path().join("etc-openstack");
    for d in [&cwd, &home.join(".config/openstack"), &etc] {
        std::fs::create_dir_all(d).unwrap();
    }
    let env = ConfigEnv {
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        cwd,
        home: Some(home),
        system_dir: etc,
    };
    Dirs { _tmp: tmp, env }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const PROVIDER: &str = r#"
clouds:
  provider:
    auth:
      auth_url: https://provider.example:5000/v3
      username: alice
      project_name: web
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionTwo
    interface: internal
    identity_api_version: 3
    compute_endpoint_override: https://nova.example/v2.1
  hospital:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://hospital.example/identity
      application_credential_id: ac-1
      application_credential_secret: s3cr3t
    cacert: /etc/ssl/hospital.pem
    verify: false
"#;

#[test]
fn home_clouds_yaml_with_secure_yaml_password() {
    let d = dirs(&[]);
    let home = d.env.home.clone().unwrap();
    write(&home.join(".config/openstack/clouds.yaml"), PROVIDER);
    write(
        &home.join(".config/openstack/secure.yaml"),
        "clouds:\n  provider:\n    auth:\n      password: from-secure\n",
    );
    let c = resolve(&CloudSource::Named(Some("provider".into())), &d.env).unwrap();
    assert_eq!(c.name, "provider");
    assert_eq!(c.auth.auth_url, "https://provider.example:5000/v3");
    assert_eq!(c.region.as_deref(), Some("RegionTwo"));
    assert_eq!(c.interface, Interface::Internal);
    assert_eq!(c.identity_api_version, Some(IdentityVersion::V3));
    assert_eq!(
        c.endpoint_overrides
            .get(&Service::Compute)
            .map(String::as_str),
        Some("https://nova.example/v2.1")
    );
    match &c.auth.method {
        AuthMethod::Password {
            username,
            password,
            user_domain_name,
            ..
        } => {
            assert_eq!(username.as_deref(), Some("alice"));
            assert_eq!(password, &Secret::new("from-secure"));
            assert_eq!(user_domain_name.as_deref(), Some("Default"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.auth.scope.project_name.as_deref(), Some("web"));
    // The secret never shows in Debug output of the whole config.
    assert!(!format!("{c:?}").contains("from-secure"));
}

#[test]
fn appcred_cacert_and_verify_false() {
    let d = dirs(&[("OS_CLOUD", "hospital")]);
    write(&d.env.cwd.join("clouds.yaml"), PROVIDER);
    let c = resolve(&CloudSource::Named(None), &d.env).unwrap();
    assert_eq!(c.name, "hospital");
    assert!(!c.tls.verify);
    assert_eq!(
        c.tls.cacert.as_deref(),
        Some(Path::new("/etc/ssl/hospital.pem"))
    );
    match &c.auth.method {
        AuthMethod::ApplicationCredential { id, secret, .. } => {
            assert_eq!(id.as_deref(), Some("ac-1"));
            assert_eq!(secret.expose(), "s3cr3t");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn search_order_env_file_then_cwd_then_home_then_etc() {
    let d = dirs(&[]);
    let one = |name: &str| {
        format!(
            "clouds:\n  {name}:\n    auth:\n      auth_url: http://x/v3\n      username: u\n      password: p\n"
        )
    };
    write(&d.env.system_dir.join("clouds.yaml"), &one("from-etc"));
    assert!(resolve(&CloudSource::Named(Some("from-etc".into())), &d.env).is_ok());
    let home = d.env.home.clone().unwrap();
    write(
        &home.join(".config/openstack/clouds.yaml"),
        &one("from-home"),
    );
    // The first file found is the only one read, as openstacksdk does.
    assert!(resolve(&CloudSource::Named(Some("from-etc".into())), &d.env).is_err());
    assert!(resolve(&CloudSource::Named(Some("from-home".into())), &d.env).is_ok());
    write(&d.env.cwd.join("clouds.yaml"), &one("from-cwd"));
    assert!(resolve(&CloudSource::Named(Some("from-cwd".into())), &d.env).is_ok());
    let explicit = d.env.cwd.join("elsewhere/my.yaml");
    write(&explicit, &one("from-env-file"));
    let mut env = d.env.clone();
    env.vars.insert(
        "OS_CLIENT_CONFIG_FILE".into(),
        explicit.display().to_string(),
    );
    assert!(resolve(&CloudSource::Named(Some("from-env-file".into())), &env).is_ok());
    assert_eq!(env.clouds_yaml_candidates()[0], explicit);
}

#[test]
fn missing_cloud_names_the_file_and_its_clouds() {
    let d = dirs(&[]);
    write(&d.env.cwd.join("clouds.yaml"), PROVIDER);
    let e = resolve(&CloudSource::Named(Some("nowhere".into())), &d.env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cloud \"nowhere\" not found in"), "{e}");
    assert!(e.contains("cwd/clouds.yaml"), "{e}");
    assert!(e.contains("it has: hospital, provider"), "{e}");
}

#[test]
fn no_clouds_yaml_lists_every_place_searched() {
    let d = dirs(&[]);
    let e = resolve(&CloudSource::Named(Some("x".into())), &d.env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no clouds.yaml found"), "{e}");
    assert!(e.contains("cwd/clouds.yaml"), "{e}");
    assert!(e.contains(".config/openstack/clouds.yaml"), "{e}");
    assert!(e.contains("etc-openstack/clouds.yaml"), "{e}");
    let e = resolve(&CloudSource::Named(None), &d.env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("OS_CLOUD is not set"), "{e}");
}

#[test]
fn token_auth_and_v2_and_unsupported_types() {
    let d = dirs(&[]);
    write(
        &d.env.cwd.join("clouds.yaml"),
        r#"
clouds:
  tok:
    auth_type: token
    auth: {auth_url: "http://k/identity", token: abc, project_id: p1}
  legacy:
    identity_api_version: 2
    auth: {auth_url: "http://k:5000", username: u, password: p, tenant_name: t}
  odd:
    auth_type: v3oidcpassword
    auth: {auth_url: "http://k"}
  nopw:
    auth: {auth_url: "http://k", username: u}
"#,
    );
    let c = resolve(&CloudSource::Named(Some("tok".into())), &d.env).unwrap();
    assert!(matches!(c.auth.method, AuthMethod::Token { .. }));
    assert_eq!(c.auth.scope.project_id.as_deref(), Some("p1"));
    let c = resolve(&CloudSource::Named(Some("legacy".into())), &d.env).unwrap();
    assert_eq!(c.identity_api_version, Some(IdentityVersion::V2));
    assert_eq!(c.auth.scope.project_name.as_deref(), Some("t"));
    let e = resolve(&CloudSource::Named(Some("odd".into())), &d.env)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("auth_type \"v3oidcpassword\" is not supported"),
        "{e}"
    );
    let e = resolve(&CloudSource::Named(Some("nopw".into())), &d.env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("auth.password is missing"), "{e}");
}

#[test]
fn os_environment_variables() {
    let d = dirs(&[
        ("OS_AUTH_URL", "http://k/identity"),
        ("OS_USERNAME", "bob"),
        ("OS_PASSWORD", "pw-env"),
        ("OS_PROJECT_NAME", "demo"),
        ("OS_USER_DOMAIN_NAME", "Default"),
        ("OS_PROJECT_DOMAIN_NAME", "Default"),
        ("OS_REGION_NAME", "RegionOne"),
        ("OS_INTERFACE", "admin"),
        ("OS_CACERT", "/ca.pem"),
    ]);
    let c = resolve(&CloudSource::Env, &d.env).unwrap();
    assert_eq!(c.name, "envvars");
    assert_eq!(c.interface, Interface::Admin);
    assert_eq!(c.region.as_deref(), Some("RegionOne"));
    assert_eq!(c.tls.cacert.as_deref(), Some(Path::new("/ca.pem")));
    assert!(
        matches!(&c.auth.method, AuthMethod::Password { password, .. } if password.expose() == "pw-env")
    );

    let d = dirs(&[
        ("OS_AUTH_URL", "http://k/identity"),
        ("OS_APPLICATION_CREDENTIAL_ID", "ac"),
        ("OS_APPLICATION_CREDENTIAL_SECRET", "sec"),
    ]);
    let c = resolve(&CloudSource::Env, &d.env).unwrap();
    assert_eq!(c.auth.method.kind(), "v3applicationcredential");

    let d = dirs(&[]);
    let e = resolve(&CloudSource::Env, &d.env).unwrap_err().to_string();
    assert!(e.contains("OS_AUTH_URL is not set"), "{e}");
}

#[test]
fn inline_auth_reads_the_password_from_the_named_variable() {
    let d = dirs(&[("HOSPITAL_PW", "pw-inline")]);
    let inline = InlineAuth {
        auth_url: "http://h/identity".into(),
        username: Some("carol".into()),
        password_env: Some("HOSPITAL_PW".into()),
        project_name: Some("ward".into()),
        user_domain_name: Some("Default".into()),
        project_domain_name: Some("Default".into()),
        region: Some("RegionOne".into()),
        interface: Some("public".into()),
        ..Default::default()
    };
    let src = CloudSource::Inline {
        name: "hospital".into(),
        auth: Box::new(inline.clone()),
    };
    let c = resolve(&src, &d.env).unwrap();
    assert_eq!(c.name, "hospital");
    assert!(
        matches!(&c.auth.method, AuthMethod::Password { password, .. } if password.expose() == "pw-inline")
    );

    let missing = CloudSource::Inline {
        name: "hospital".into(),
        auth: Box::new(InlineAuth {
            password_env: Some("NOT_SET_ANYWHERE".into()),
            ..inline
        }),
    };
    let e = resolve(&missing, &d.env).unwrap_err().to_string();
    assert!(
        e.contains("environment variable NOT_SET_ANYWHERE is not set"),
        "{e}"
    );
}

#[test]
fn resolve_first_reports_every_failure() {
    let d = dirs(&[]);
    let e = resolve_first(
        &[CloudSource::Named(Some("a".into())), CloudSource::Env],
        &d.env,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("clouds.yaml cloud \"a\": "), "{e}");
    assert!(
        e.contains("OS_* environment: OS_AUTH_URL is not set"),
        "{e}"
    );
}

/// Hostile clouds.yaml files: one over the size limit is refused by its size, a billion-laughs
/// one (aliases of aliases) and a deeply nested one are refused quickly, never expanded.
#[test]
fn oversized_aliased_and_deep_clouds_yaml_are_refused() {
    let source = CloudSource::Named(Some("provider".into()));

    let d = dirs(&[]);
    let mut big = PROVIDER.to_string();
    big.push_str(&format!("# {}\n", "x".repeat(5 * 1024 * 1024)));
    write(&d.env.cwd.join("clouds.yaml"), &big);
    let e = resolve(&source, &d.env).unwrap_err().to_string();
    assert!(e.contains("over the limit of 4194304 bytes"), "{e}");
    assert!(e.contains("clouds.yaml"), "{e}");

    let d = dirs(&[]);
    let mut laughs = String::from(
        "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    laughs.push_str("clouds:\n  provider:\n    auth: *a9\n");
    write(&d.env.cwd.join("clouds.yaml"), &laughs);
    let started = std::time::Instant::now();
    let e = resolve(&source, &d.env).unwrap_err().to_string();
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert!(e.contains("clouds.yaml"), "{e}");
    assert!(
        e.contains("more than 100000 values once its aliases are expanded"),
        "{e}"
    );

    let d = dirs(&[]);
    let deep = format!("clouds: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    write(&d.env.cwd.join("clouds.yaml"), &deep);
    let started = std::time::Instant::now();
    let e = resolve(&source, &d.env).unwrap_err().to_string();
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert!(e.contains("deeper than 128 levels"), "{e}");
}
