//! Tests of `config`.

#[test]
fn rate_limit_and_concurrency_are_read_from_the_entry() {
    let entry = |extra: &str| -> serde_json::Map<String, serde_json::Value> {
        serde_yaml_ng::from_str(&format!(
            "auth: {{auth_url: http://k, token: t}}\nauth_type: token\n{extra}"
        ))
        .unwrap()
    };
    let c = super::from_entry("c", &entry("")).unwrap();
    assert_eq!(c.limits, super::RequestLimits::default());
    let c = super::from_entry("c", &entry("rate_limit: 5\nconcurrency: 3\n")).unwrap();
    assert_eq!(c.limits.requests_per_second, Some(5.0));
    assert_eq!(c.limits.concurrency, Some(3));
    let c = super::from_entry("c", &entry("rate_limit: {compute: 4, image: 2.5}\n")).unwrap();
    assert_eq!(c.limits.requests_per_second, Some(2.5));
    for bad in [
        "rate_limit: 0",
        "rate_limit: fast",
        "concurrency: 0",
        "concurrency: -2",
    ] {
        assert!(super::from_entry("c", &entry(bad)).is_err(), "{bad}");
    }
}

#[test]
fn an_api_timeout_too_big_for_a_duration_is_an_error() {
    let entry = |t: &str| {
        let doc: serde_json::Value = serde_yaml_ng::from_str(&format!(
            "auth: {{auth_url: http://k, token: t}}\nauth_type: token\napi_timeout: {t}\n"
        ))
        .unwrap();
        super::from_entry("c", doc.as_object().unwrap())
    };
    assert_eq!(
        entry("2.5").unwrap().timeouts.request,
        std::time::Duration::from_millis(2500)
    );
    for huge in ["18446744073709551615", "1.0e+300"] {
        let e = entry(huge).unwrap_err();
        assert!(e.contains("api_timeout"), "{huge}: {e}");
    }
}
