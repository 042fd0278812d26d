//! Tests of `validate`.

use super::*;

#[test]
fn near_misses_get_a_hint() {
    assert_eq!(
        did_you_mean("diskformat", &["disk_format", "visibility"]).as_deref(),
        Some("did you mean `disk_format`?")
    );
    assert_eq!(did_you_mean("zzz", &["disk_format", "visibility"]), None);
}

#[test]
fn env_names() {
    assert!(is_env_name("HOSPITAL_PASSWORD"));
    assert!(is_env_name("_x1"));
    assert!(!is_env_name("1abc"));
    assert!(!is_env_name("hunter 2!"));
    assert!(!is_env_name(""));
}

fn inline(auth: InlineAuth) -> (Option<CloudRef>, Diagnostics, Vec<Range<usize>>) {
    let mut d = Diagnostics::default();
    let mut secrets = Vec::new();
    let spans: BTreeMap<&'static str, Range<usize>> =
        AUTH_KEYS.iter().map(|(k, _)| (*k, 1..2)).collect();
    let r = cloud_ref(
        CloudFound {
            what: "[target]",
            span: 0..10,
            cloud: None,
            cloud_invalid: false,
            inline: Some((auth, spans)),
        },
        Spelling::Toml,
        &mut d,
        &mut secrets,
    );
    (r, d, secrets)
}

fn messages(d: &Diagnostics) -> String {
    d.iter().map(|x| format!("{}\n", x.message)).collect()
}

#[test]
fn complete_password_auth_passes() {
    let (r, d, _) = inline(InlineAuth {
        auth_url: Some("https://k:5000/v3".into()),
        username: Some("bob".into()),
        password_env: Some("PW".into()),
        project_name: Some("research".into()),
        ..InlineAuth::default()
    });
    assert!(d.0.is_empty(), "{d:?}");
    assert!(matches!(r, Some(CloudRef::Inline(_))));
}

#[test]
fn incomplete_password_auth_lists_every_gap() {
    let (_, d, _) = inline(InlineAuth {
        auth_url: Some("ftp://k".into()),
        ..InlineAuth::default()
    });
    let all = messages(&d);
    for needle in [
        "must be an http or https URL",
        "needs `username` or `user_id`",
        "needs `password_env`",
        "needs `project_name` or `project_id`",
    ] {
        assert!(all.contains(needle), "{needle} missing from {all}");
    }
}

#[test]
fn a_secret_in_password_env_is_masked_and_not_echoed() {
    let (_, d, secrets) = inline(InlineAuth {
        auth_url: Some("https://k:5000/v3".into()),
        username: Some("bob".into()),
        password_env: Some("s3cr3t!pass".into()),
        project_name: Some("p".into()),
        ..InlineAuth::default()
    });
    assert!(messages(&d).contains("must be the name of an environment variable"));
    assert!(!messages(&d).contains("s3cr3t"));
    assert_eq!(secrets, vec![1..2]);
}

#[test]
fn application_credentials_stand_alone() {
    let (_, d, _) = inline(InlineAuth {
        auth_url: Some("https://k:5000/v3".into()),
        application_credential_id: Some("abc".into()),
        application_credential_secret_env: Some("APP_SECRET".into()),
        ..InlineAuth::default()
    });
    assert!(d.0.is_empty(), "{d:?}");
    let (_, d, _) = inline(InlineAuth {
        auth_url: Some("https://k:5000/v3".into()),
        application_credential_id: Some("abc".into()),
        project_name: Some("p".into()),
        ..InlineAuth::default()
    });
    let all = messages(&d);
    assert!(
        all.contains("needs `application_credential_secret_env`"),
        "{all}"
    );
    assert!(
        all.contains("`project_name` does not go with an application credential"),
        "{all}"
    );
}

#[test]
fn xml_spelling_names_attributes() {
    assert_eq!(Spelling::Xml.auth_key("password_env"), "passwordEnv");
    assert_eq!(Spelling::Xml.auth_key("auth_url"), "url");
    assert_eq!(Spelling::Toml.auth_key("auth_url"), "auth_url");
}

#[test]
fn keypair_needs_exactly_one_mode() {
    let mut d = Diagnostics::default();
    assert_eq!(
        keypair(&[("create", "k".into())], 0..1, "x", &mut d),
        Some(KeypairMode::Create("k".into()))
    );
    assert_eq!(keypair(&[], 0..1, "x", &mut d), None);
    assert_eq!(
        keypair(
            &[("import", "a".into()), ("existing", "b".into())],
            0..1,
            "x",
            &mut d
        ),
        None
    );
    assert_eq!(d.0.len(), 2);
    assert!(d.0[1].message.contains("(it has 2)"));
}

#[test]
fn addresses_parse_both_families() {
    let mut d = Diagnostics::default();
    assert!(ip_address("203.0.113.10", 0..1, &mut d).is_some());
    assert!(ip_address("2001:db8::1", 0..1, &mut d).is_some());
    assert!(ip_address("300.1.2.3", 0..1, &mut d).is_none());
    assert_eq!(d.0.len(), 1);
}

fn found(source: &str, name: Option<&str>, at: usize) -> ServerFound {
    ServerFound {
        server: Server {
            select: None,
            source: source.into(),
            name: name.map(Into::into),
            snapshot: None,
            image: Default::default(),
            flavor: None,
            user_data: None,
            options: ServerOptions::default(),
        },
        origin_span: at..at + 1,
        name_span: at..at + 1,
        snapshot_span: at..at + 1,
        image_span: at..at + 1,
    }
}

#[test]
fn effective_names_must_be_unique() {
    let text = "a\nb\nc\n";
    let mut d = Diagnostics::default();
    // The second server's explicit name is the first one's default (its source).
    servers(
        &[found("web", None, 0), found("db", Some("web"), 2)],
        &ServerOptions::default(),
        text,
        &mut d,
    );
    assert_eq!(d.0.len(), 1, "{d:?}");
    assert_eq!(d.0[0].message, "two servers are named `web` in the target");
    assert_eq!(d.0[0].span, Some(2..3));
    assert!(d.0[0].help.as_deref().is_some_and(|h| h.contains("line 1")));

    // Same source twice under two names: their default snapshot names collide.
    let mut d = Diagnostics::default();
    servers(
        &[found("web", Some("a"), 0), found("web", Some("b"), 4)],
        &ServerOptions::default(),
        text,
        &mut d,
    );
    assert_eq!(d.0.len(), 1, "{d:?}");
    assert!(d.0[0].message.contains("snapshot name `web-s2d`"));
}
