//! Keystone: building the v3 and v2.0 token requests from an [`AuthSpec`], reading the
//! token, its expiry and its catalog back, and choosing the identity version by discovery.
//! The request path ([`super::http`]) sends what this module builds. Knows nothing of the
//! other services.

use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::catalog::{Catalog, V2Service, V3Service};
use super::config::{AuthMethod, AuthSpec, IdentityVersion};
use super::types::Secret;

/// An issued token with what came with it.
#[derive(Clone, Debug)]
pub struct Token {
    pub value: Secret,
    pub expires_at: Option<OffsetDateTime>,
    pub catalog: Catalog,
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    /// When s2d received it (to size the renewal margin).
    pub issued_at: OffsetDateTime,
}

impl Token {
    /// Whether the token should be renewed now: it expires within a tenth of its lifetime
    /// (at most two minutes).
    pub fn needs_renewal(&self, now: OffsetDateTime) -> bool {
        let Some(exp) = self.expires_at else {
            return false;
        };
        let life: time::Duration = exp - self.issued_at;
        let margin = (life / 10i32).min(time::Duration::minutes(2));
        now + margin >= exp
    }
}

/// The body of `POST /v3/auth/tokens`.
pub fn v3_token_body(spec: &AuthSpec) -> Value {
    let user = |name: &Option<String>,
                id: &Option<String>,
                dom_name: &Option<String>,
                dom_id: &Option<String>| {
        let mut u = serde_json::Map::new();
        if let Some(id) = id {
            u.insert("id".into(), json!(id));
        } else if let Some(name) = name {
            u.insert("name".into(), json!(name));
            u.insert(
                "domain".into(),
                domain(
                    dom_id.as_ref().or(spec.default_domain_id.as_ref()),
                    dom_name.as_ref().or(spec.default_domain_name.as_ref()),
                ),
            );
        }
        u
    };
    let identity = match &spec.method {
        AuthMethod::Password {
            username,
            user_id,
            password,
            user_domain_name,
            user_domain_id,
        } => {
            let mut u = user(username, user_id, user_domain_name, user_domain_id);
            u.insert("password".into(), json!(password.expose()));
            json!({"methods": ["password"], "password": {"user": u}})
        }
        AuthMethod::ApplicationCredential {
            id,
            name,
            secret,
            username,
            user_id,
            user_domain_name,
            user_domain_id,
        } => {
            let mut c = serde_json::Map::new();
            if let Some(id) = id {
                c.insert("id".into(), json!(id));
            } else {
                c.insert("name".into(), json!(name));
                c.insert(
                    "user".into(),
                    Value::Object(user(username, user_id, user_domain_name, user_domain_id)),
                );
            }
            c.insert("secret".into(), json!(secret.expose()));
            json!({"methods": ["application_credential"], "application_credential": c})
        }
        AuthMethod::Token { token } => {
            json!({"methods": ["token"], "token": {"id": token.expose()}})
        }
    };
    let mut auth = json!({ "identity": identity });
    let app_cred = matches!(spec.method, AuthMethod::ApplicationCredential { .. });
    if !app_cred && !spec.scope.is_empty() {
        let s = &spec.scope;
        let project = if let Some(id) = &s.project_id {
            json!({ "id": id })
        } else {
            json!({
                "name": s.project_name,
                "domain": domain(
                    s.project_domain_id.as_ref().or(spec.default_domain_id.as_ref()),
                    s.project_domain_name.as_ref().or(spec.default_domain_name.as_ref()),
                ),
            })
        };
        auth["scope"] = json!({ "project": project });
    }
    json!({ "auth": auth })
}

/// `{"id": ...}` or `{"name": ...}`, defaulting to the `default` domain as keystoneauth does.
fn domain(id: Option<&String>, name: Option<&String>) -> Value {
    match (id, name) {
        (Some(id), _) => json!({ "id": id }),
        (None, Some(name)) => json!({ "name": name }),
        (None, None) => json!({ "id": "default" }),
    }
}

/// The body of `POST /v2.0/tokens`. Application credentials do not exist in v2.0.
pub fn v2_token_body(spec: &AuthSpec) -> Result<Value, String> {
    let mut auth = match &spec.method {
        AuthMethod::Password {
            username,
            user_id,
            password,
            ..
        } => {
            let mut c = serde_json::Map::new();
            match (username, user_id) {
                (Some(n), _) => c.insert("username".into(), json!(n)),
                (None, Some(id)) => c.insert("userId".into(), json!(id)),
                (None, None) => return Err("password auth needs a username".into()),
            };
            c.insert("password".into(), json!(password.expose()));
            json!({ "passwordCredentials": c })
        }
        AuthMethod::Token { token } => json!({ "token": { "id": token.expose() } }),
        AuthMethod::ApplicationCredential { .. } => {
            return Err(
                "application credentials need Keystone v3 (this cloud offers only v2.0)".into(),
            );
        }
    };
    if let Some(id) = &spec.scope.project_id {
        auth["tenantId"] = json!(id);
    } else if let Some(name) = &spec.scope.project_name {
        auth["tenantName"] = json!(name);
    }
    Ok(json!({ "auth": auth }))
}

#[derive(Deserialize)]
struct V3TokenBody {
    token: V3Token,
}

#[derive(Deserialize)]
struct V3Token {
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    issued_at: Option<String>,
    #[serde(default)]
    catalog: Vec<V3Service>,
    #[serde(default)]
    project: Option<IdOnly>,
    #[serde(default)]
    user: Option<IdOnly>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// A token's expiry on the local clock: its lifetime as the cloud states it (`expires_at`
/// minus `issued_at`, both on the cloud's clock) counted from `now`, when s2d received it. So
/// a cloud whose clock is behind ours does not make every request renew the token, and one
/// whose clock is ahead does not let it run out unnoticed. Without `issued_at`: the cloud's
/// `expires_at` as it is.
pub fn local_expiry(
    issued_at: Option<&str>,
    expires_at: Option<&str>,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let expires = parse_time(expires_at?)?;
    match issued_at.and_then(parse_time) {
        Some(issued) if expires >= issued => Some(now + (expires - issued)),
        _ => Some(expires),
    }
}

/// Read a v3 token response: the token value is the `X-Subject-Token` header.
pub fn parse_v3_token(
    subject_token: Secret,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Token, String> {
    let b: V3TokenBody = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(Token {
        value: subject_token,
        expires_at: local_expiry(
            b.token.issued_at.as_deref(),
            b.token.expires_at.as_deref(),
            now,
        ),
        catalog: Catalog::from_v3(b.token.catalog),
        project_id: b.token.project.map(|p| p.id),
        user_id: b.token.user.map(|u| u.id),
        issued_at: now,
    })
}

#[derive(Deserialize)]
struct V2Access {
    access: V2AccessBody,
}

#[derive(Deserialize)]
struct V2AccessBody {
    token: V2Token,
    #[serde(default, rename = "serviceCatalog")]
    service_catalog: Vec<V2Service>,
    #[serde(default)]
    user: Option<IdOnly>,
}

#[derive(Deserialize)]
struct V2Token {
    id: Secret,
    #[serde(default)]
    expires: Option<String>,
    #[serde(default)]
    issued_at: Option<String>,
    #[serde(default)]
    tenant: Option<IdOnly>,
}

/// Read a v2.0 `access` response.
pub fn parse_v2_token(body: &[u8], now: OffsetDateTime) -> Result<Token, String> {
    let b: V2Access = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(Token {
        value: b.access.token.id,
        expires_at: local_expiry(
            b.access.token.issued_at.as_deref(),
            b.access.token.expires.as_deref(),
            now,
        ),
        catalog: Catalog::from_v2(b.access.service_catalog),
        project_id: b.access.token.tenant.map(|t| t.id),
        user_id: b.access.user.map(|u| u.id),
        issued_at: now,
    })
}

/// OpenStack timestamps: RFC 3339 (`2015-11-06T15:32:17.893769Z`, `...+00:00`) or without an
/// offset (`2012-10-08T21:10:44.587336`, meaning UTC).
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let with_z = format!("{s}Z");
    OffsetDateTime::parse(&with_z, &Rfc3339).ok()
}

/// Where the identity API lives, by version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityEndpoint {
    pub version: IdentityVersion,
    /// The versioned root, e.g. `https://keystone/v3`.
    pub url: String,
}

/// If `auth_url` already names a version (`.../v3`, `.../v2.0`), that version.
pub fn versioned_auth_url(auth_url: &str) -> Option<IdentityEndpoint> {
    let trimmed = auth_url.trim_end_matches('/');
    let last = trimmed.rsplit('/').next().unwrap_or("");
    let version = if last == "v3" || last.starts_with("v3.") {
        IdentityVersion::V3
    } else if last == "v2.0" || last == "v2" {
        IdentityVersion::V2
    } else {
        return None;
    };
    Some(IdentityEndpoint {
        version,
        url: trimmed.to_string(),
    })
}

/// Pick the identity endpoint from Keystone's version document at the unversioned
/// `auth_url` (`{"versions": {"values": [...]}}`, also the flat `{"versions": [...]}` form):
/// v3 unless `wanted` says v2, and the path is rebuilt on `auth_url` (discovery documents
/// behind proxies often carry the wrong scheme or host).
pub fn choose_identity(
    auth_url: &str,
    doc: &Value,
    wanted: Option<IdentityVersion>,
) -> Result<IdentityEndpoint, String> {
    let versions = discovery_versions(doc);
    let mut best: Option<IdentityEndpoint> = None;
    for v in &versions {
        let version = if v.id.starts_with("v3") {
            IdentityVersion::V3
        } else if v.id.starts_with("v2") {
            IdentityVersion::V2
        } else {
            continue;
        };
        if v.status.eq_ignore_ascii_case("deprecated") && wanted.is_none() && best.is_some() {
            continue;
        }
        if wanted.is_some_and(|w| w != version) {
            continue;
        }
        let url = rebase(auth_url, v.self_href.as_deref(), &v.id);
        let better = match &best {
            None => true,
            Some(b) => b.version == IdentityVersion::V2 && version == IdentityVersion::V3,
        };
        if better {
            best = Some(IdentityEndpoint { version, url });
        }
    }
    best.ok_or_else(|| {
        let ids: Vec<&str> = versions.iter().map(|v| v.id.as_str()).collect();
        format!(
            "no usable identity version at {auth_url} (it offers: {})",
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        )
    })
}

/// One entry of a version discovery document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveredVersion {
    pub id: String,
    pub status: String,
    pub self_href: Option<String>,
    /// Nova's `version` (max microversion) and `min_version`.
    pub max_microversion: Option<String>,
    pub min_microversion: Option<String>,
}

/// Read a discovery document: `{"versions": [...]}`, `{"versions": {"values": [...]}}` or a
/// single `{"version": {...}}`.
pub fn discovery_versions(doc: &Value) -> Vec<DiscoveredVersion> {
    let list: Vec<&Value> = match (doc.get("versions"), doc.get("version")) {
        (Some(Value::Array(a)), _) => a.iter().collect(),
        (Some(Value::Object(o)), _) => o
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        (None, Some(v @ Value::Object(_))) => vec![v],
        _ => Vec::new(),
    };
    list.into_iter()
        .filter_map(|v| {
            let s = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            let self_href = v
                .get("links")
                .and_then(Value::as_array)
                .and_then(|links| {
                    links
                        .iter()
                        .find(|l| l.get("rel").and_then(Value::as_str) == Some("self"))
                })
                .and_then(|l| l.get("href"))
                .and_then(Value::as_str)
                .map(str::to_string);
            Some(DiscoveredVersion {
                id: s("id")?,
                status: s("status").unwrap_or_default(),
                self_href,
                max_microversion: s("version"),
                min_microversion: s("min_version"),
            })
        })
        .collect()
}

/// `base` + the version segment of `href` (or `id`): `http://h/identity` + `v3`.
pub(crate) fn rebase(base: &str, href: Option<&str>, id: &str) -> String {
    let segment = href
        .and_then(|h| {
            h.trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|s| s.starts_with('v'))
                .map(str::to_string)
        })
        .unwrap_or_else(|| id.split('.').next().unwrap_or(id).to_string());
    let base = base.trim_end_matches('/');
    if base.ends_with(&format!("/{segment}")) {
        base.to_string()
    } else {
        format!("{base}/{segment}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_counted_on_the_local_clock() {
        let now = parse_time("2026-11-25T12:00:00Z").unwrap();
        // The cloud's clock is three hours behind: the token still has its hour.
        assert_eq!(
            local_expiry(
                Some("2026-11-25T09:00:00.000000Z"),
                Some("2026-11-25T10:00:00.000000Z"),
                now
            ),
            Some(now + time::Duration::hours(1))
        );
        // No issued_at: the cloud's word.
        assert_eq!(
            local_expiry(None, Some("2026-11-25T10:00:00Z"), now),
            parse_time("2026-11-25T10:00:00Z")
        );
        assert_eq!(local_expiry(Some("2026-11-25T09:00:00Z"), None, now), None);
    }
    use crate::cloud::config::ProjectScope;

    fn spec(method: AuthMethod) -> AuthSpec {
        AuthSpec {
            auth_url: "http://k/identity".into(),
            method,
            scope: ProjectScope {
                project_name: Some("demo".into()),
                project_domain_name: Some("Default".into()),
                ..Default::default()
            },
            default_domain_id: None,
            default_domain_name: None,
        }
    }

    #[test]
    fn v3_password_body() {
        let b = v3_token_body(&spec(AuthMethod::Password {
            username: Some("alice".into()),
            user_id: None,
            password: Secret::new("pw"),
            user_domain_name: Some("Default".into()),
            user_domain_id: None,
        }));
        assert_eq!(
            b,
            json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": "alice", "domain": {"name": "Default"}, "password": "pw"}}},
                "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}}
            }})
        );
    }

    #[test]
    fn v3_appcred_body_has_no_scope() {
        let b = v3_token_body(&spec(AuthMethod::ApplicationCredential {
            id: Some("ac1".into()),
            name: None,
            secret: Secret::new("s3"),
            username: None,
            user_id: None,
            user_domain_name: None,
            user_domain_id: None,
        }));
        assert_eq!(
            b,
            json!({"auth": {"identity": {"methods": ["application_credential"],
                "application_credential": {"id": "ac1", "secret": "s3"}}}})
        );
    }

    #[test]
    fn v3_token_body_rescopes() {
        let b = v3_token_body(&spec(AuthMethod::Token {
            token: Secret::new("tok"),
        }));
        assert_eq!(b["auth"]["identity"]["token"]["id"], "tok");
        assert_eq!(b["auth"]["scope"]["project"]["name"], "demo");
    }

    #[test]
    fn v2_body() {
        let b = v2_token_body(&spec(AuthMethod::Password {
            username: Some("alice".into()),
            user_id: None,
            password: Secret::new("pw"),
            user_domain_name: None,
            user_domain_id: None,
        }))
        .unwrap();
        assert_eq!(
            b,
            json!({"auth": {"passwordCredentials": {"username": "alice", "password": "pw"}, "tenantName": "demo"}})
        );
    }

    #[test]
    fn identity_discovery() {
        let doc = json!({"versions": {"values": [
            {"id": "v3.14", "status": "stable", "links": [{"rel": "self", "href": "http://other:5000/v3/"}]},
            {"id": "v2.0", "status": "deprecated", "links": [{"rel": "self", "href": "http://other:5000/v2.0/"}]}
        ]}});
        let e = choose_identity("https://k/identity", &doc, None).unwrap();
        assert_eq!(e.version, IdentityVersion::V3);
        assert_eq!(e.url, "https://k/identity/v3");
        let e = choose_identity("https://k/identity/", &doc, Some(IdentityVersion::V2)).unwrap();
        assert_eq!(e.url, "https://k/identity/v2.0");
        let err = choose_identity("https://k", &json!({"versions": []}), None).unwrap_err();
        assert!(err.contains("offers: none"));
        assert_eq!(
            versioned_auth_url("http://k:5000/v3/").unwrap().version,
            IdentityVersion::V3
        );
        assert!(versioned_auth_url("http://k/identity").is_none());
    }

    #[test]
    fn times() {
        assert!(parse_time("2015-11-06T15:32:17.893769Z").is_some());
        assert!(parse_time("2012-10-08T21:10:44.587336").is_some());
        assert!(parse_time("2012-10-08T21:10:44+02:00").is_some());
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn renewal_margin() {
        let now = OffsetDateTime::now_utc();
        let mut t = Token {
            value: Secret::new("x"),
            expires_at: Some(now + time::Duration::hours(1)),
            catalog: Catalog::default(),
            project_id: None,
            user_id: None,
            issued_at: now,
        };
        assert!(!t.needs_renewal(now));
        assert!(t.needs_renewal(now + time::Duration::minutes(59)));
        t.expires_at = Some(now + time::Duration::seconds(10));
        assert!(!t.needs_renewal(now + time::Duration::seconds(8)));
        assert!(t.needs_renewal(now + time::Duration::seconds(9)));
    }
}
