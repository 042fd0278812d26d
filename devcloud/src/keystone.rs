//! Keystone (identity v3 and v2.0): domains, projects, users, roles, application credentials,
//! tokens, the service catalog and version discovery, mounted at `/identity`. Knows nothing
//! about the other services except their endpoint paths for the catalog.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::auth::Auth;
use crate::clock::{iso_micros, iso_seconds};
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};

/// The default domain every seeded user and project lives in.
pub const DEFAULT_DOMAIN_ID: &str = "default";
/// Its name.
pub const DEFAULT_DOMAIN_NAME: &str = "Default";

#[derive(Debug, Clone)]
struct Project {
    id: String,
    name: String,
    domain_id: String,
}

#[derive(Debug, Clone)]
struct User {
    id: String,
    name: String,
    domain_id: String,
    password: String,
    default_project_id: Option<String>,
}

#[derive(Debug, Clone)]
struct AppCredential {
    id: String,
    name: String,
    user_id: String,
    project_id: String,
    secret: String,
}

#[derive(Debug, Clone)]
struct Token {
    user_id: String,
    project_id: Option<String>,
    methods: Vec<String>,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    audit_id: String,
    app_cred_id: Option<String>,
}

#[derive(Debug, Default)]
struct State_ {
    domains: BTreeMap<String, String>, // id -> name
    projects: BTreeMap<String, Project>,
    users: BTreeMap<String, User>,
    /// (user_id, project_id) -> role names as granted.
    assignments: BTreeMap<(String, String), Vec<String>>,
    app_creds: BTreeMap<String, AppCredential>,
    tokens: BTreeMap<String, Token>,
}

/// Keystone state of one cloud.
#[derive(Debug)]
pub struct Keystone {
    state: Mutex<State_>,
}

impl Default for Keystone {
    fn default() -> Self {
        Keystone::new()
    }
}

/// Role ids are stable names' hashes so tokens show the same ids every run.
fn role_id(name: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    hex::encode(&digest[..16])
}

/// `admin` implies `member` implies `reader`, as keystone's bootstrap sets up.
fn effective_roles(granted: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in granted {
        let chain: &[&str] = match r.as_str() {
            "admin" => &["admin", "member", "reader"],
            "member" => &["member", "reader"],
            other => &[other][..],
        };
        for c in chain {
            if !out.iter().any(|o| o == c) {
                out.push((*c).to_string());
            }
        }
    }
    out
}

fn unauthorized() -> ApiError {
    ApiError::keystone(
        StatusCode::UNAUTHORIZED,
        "The request you have made requires authentication.",
    )
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError::keystone(StatusCode::BAD_REQUEST, msg)
}

fn new_token_id() -> String {
    use base64::Engine;
    let mut raw = Vec::with_capacity(96);
    raw.extend_from_slice(b"\x80\x00\x00\x00");
    for _ in 0..6 {
        raw.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

impl Keystone {
    /// A Keystone with only the `Default` domain.
    pub fn new() -> Keystone {
        let mut st = State_::default();
        st.domains
            .insert(DEFAULT_DOMAIN_ID.into(), DEFAULT_DOMAIN_NAME.into());
        Keystone {
            state: Mutex::new(st),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State_> {
        self.state.lock().expect("keystone mutex poisoned")
    }

    /// Create a project in the default domain.
    pub fn create_project(&self, id: &str, name: &str) {
        self.lock().projects.insert(
            id.into(),
            Project {
                id: id.into(),
                name: name.into(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
            },
        );
    }

    /// Create a user in the default domain.
    pub fn create_user(
        &self,
        id: &str,
        name: &str,
        password: &str,
        default_project_id: Option<&str>,
    ) {
        self.lock().users.insert(
            id.into(),
            User {
                id: id.into(),
                name: name.into(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
                password: password.into(),
                default_project_id: default_project_id.map(str::to_string),
            },
        );
    }

    /// Grant `role` (`admin`, `member`, `reader`) to a user on a project.
    pub fn grant(&self, user_id: &str, project_id: &str, role: &str) {
        let mut st = self.lock();
        let roles = st
            .assignments
            .entry((user_id.into(), project_id.into()))
            .or_default();
        if !roles.iter().any(|r| r == role) {
            roles.push(role.into());
        }
    }

    /// Create an application credential of a user on a project.
    pub fn create_app_credential(
        &self,
        id: &str,
        name: &str,
        user_id: &str,
        project_id: &str,
        secret: &str,
    ) {
        self.lock().app_creds.insert(
            id.into(),
            AppCredential {
                id: id.into(),
                name: name.into(),
                user_id: user_id.into(),
                project_id: project_id.into(),
                secret: secret.into(),
            },
        );
    }

    /// The id of the project called `name`.
    pub fn project_id(&self, name: &str) -> Option<String> {
        self.lock()
            .projects
            .values()
            .find(|p| p.name == name)
            .map(|p| p.id.clone())
    }

    /// The name of the project with this id.
    pub fn project_name(&self, id: &str) -> Option<String> {
        self.lock().projects.get(id).map(|p| p.name.clone())
    }

    /// The id of the user called `name`.
    pub fn user_id(&self, name: &str) -> Option<String> {
        self.lock()
            .users
            .values()
            .find(|u| u.name == name)
            .map(|u| u.id.clone())
    }

    /// Issue a project-scoped token for a user directly (for tests and tooling).
    pub fn issue_token(
        &self,
        user_id: &str,
        project_id: &str,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> String {
        let id = new_token_id();
        self.lock().tokens.insert(
            id.clone(),
            Token {
                user_id: user_id.into(),
                project_id: Some(project_id.into()),
                methods: vec!["password".into()],
                issued_at: now,
                expires_at: now + ttl,
                audit_id: audit_id(),
                app_cred_id: None,
            },
        );
        id
    }

    /// Validate a token at time `now`: the caller, or None when unknown, expired or unscoped.
    pub fn validate(&self, token: &str, now: OffsetDateTime) -> Option<Auth> {
        let st = self.lock();
        let t = st.tokens.get(token)?;
        if t.expires_at <= now {
            return None;
        }
        let project_id = t.project_id.clone()?;
        let user = st.users.get(&t.user_id)?;
        let project = st.projects.get(&project_id)?;
        let roles = effective_roles(st.assignments.get(&(user.id.clone(), project_id.clone()))?);
        Some(Auth {
            token: token.to_string(),
            user_id: user.id.clone(),
            user_name: user.name.clone(),
            project_id,
            project_name: project.name.clone(),
            is_admin: roles.iter().any(|r| r == "admin"),
            roles,
        })
    }

    /// The ids of every token issued so far, for tests that check that no token value leaks
    /// into a client's logs or errors (never served over HTTP).
    pub fn issued_token_ids(&self) -> Vec<String> {
        self.lock().tokens.keys().cloned().collect()
    }

    /// Everything, for the state dump (no passwords, secrets or token ids).
    pub fn dump(&self) -> Value {
        let st = self.lock();
        json!({
            "projects": st.projects.values().map(|p| json!({"id": p.id, "name": p.name, "domain_id": p.domain_id})).collect::<Vec<_>>(),
            "users": st.users.values().map(|u| {
                let roles: BTreeMap<String, Vec<String>> = st.assignments.iter()
                    .filter(|((uid, _), _)| *uid == u.id)
                    .map(|((_, pid), r)| (pid.clone(), r.clone())).collect();
                json!({"id": u.id, "name": u.name, "domain_id": u.domain_id, "default_project_id": u.default_project_id, "roles": roles})
            }).collect::<Vec<_>>(),
            "application_credentials": st.app_creds.values().map(|a| json!({"id": a.id, "name": a.name, "user_id": a.user_id, "project_id": a.project_id})).collect::<Vec<_>>(),
            "tokens": st.tokens.len(),
        })
    }
}

fn audit_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&uuid::Uuid::new_v4().as_bytes()[..16])
}

/// The routes under `/identity`.
pub fn router() -> Router<SharedCloud> {
    Router::new()
        .route("/", get(versions))
        .route("/v3", get(v3_version))
        .route("/v3/", get(v3_version))
        .route(
            "/v3/auth/tokens",
            post(v3_issue)
                .get(v3_validate)
                .head(v3_check)
                .delete(v3_revoke),
        )
        .route("/v3/auth/catalog", get(v3_catalog))
        .route("/v3/auth/projects", get(v3_auth_projects))
        .route("/v3/projects", get(v3_projects))
        .route("/v3/projects/{id}", get(v3_project))
        .route("/v3/users/{id}", get(v3_user))
        .route("/v3/users/{id}/projects", get(v3_user_projects))
        .route(
            "/v3/users/{id}/application_credentials",
            get(list_app_creds).post(create_app_cred),
        )
        .route(
            "/v3/users/{id}/application_credentials/{cred}",
            get(show_app_cred).delete(delete_app_cred),
        )
        .route("/v2.0", get(v2_version))
        .route("/v2.0/", get(v2_version))
        .route("/v2.0/tokens", post(v2_issue))
        .route("/v2.0/tenants", get(v2_tenants))
}

fn v3_entry(cloud: &Cloud) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/v3/", cloud.auth_url())}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

fn v2_entry(cloud: &Cloud) -> Value {
    json!({
        "id": "v2.0",
        "status": "deprecated",
        "updated": "2016-08-04T00:00:00Z",
        "links": [
            {"rel": "self", "href": format!("{}/v2.0/", cloud.auth_url())},
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v2.0+json"}],
    })
}

async fn versions(State(cloud): State<SharedCloud>) -> Response {
    let body = json!({"versions": {"values": [v3_entry(&cloud), v2_entry(&cloud)]}});
    // As keystone: Location names the preferred version.
    let location = [(
        axum::http::header::LOCATION,
        format!("{}/v3/", cloud.auth_url()),
    )];
    (StatusCode::MULTIPLE_CHOICES, location, axum::Json(body)).into_response()
}

async fn v3_version(State(cloud): State<SharedCloud>) -> axum::Json<Value> {
    axum::Json(json!({"version": v3_entry(&cloud)}))
}

async fn v2_version(State(cloud): State<SharedCloud>) -> axum::Json<Value> {
    axum::Json(json!({"version": v2_entry(&cloud)}))
}

/// The service catalog of a cloud in v3 form.
pub fn catalog_v3(cloud: &Cloud) -> Value {
    let placements = placements(cloud);
    Value::Array(
        services(cloud)
            .into_iter()
            .map(|(ty, name, path, sid)| {
                let endpoints: Vec<Value> = placements
                    .iter()
                    .flat_map(|(region, prefixes)| {
                        prefixes.iter().map(move |(iface, prefix)| (region, iface, prefix))
                    })
                    .map(|(region, iface, prefix)| {
                        let key = if *region == cloud.region {
                            format!("{sid}-{iface}")
                        } else {
                            format!("{sid}-{region}-{iface}")
                        };
                        json!({"id": role_id(&key), "interface": iface,
                               "region_id": region, "region": region, "url": format!("{prefix}{path}")})
                    })
                    .collect();
                json!({"endpoints": endpoints, "id": role_id(&sid), "type": ty, "name": name})
            })
            .collect(),
    )
}

/// Where the catalog puts endpoints: per region, the URL prefix of each interface. One region
/// with the base URL for all three interfaces, or (knob `catalog_regions`) a distinct
/// `{base}/ep/{region}/{interface}` prefix for each.
fn placements(cloud: &Cloud) -> Vec<(String, Vec<(&'static str, String)>)> {
    let regions = cloud.faults.get().catalog_regions;
    let b = &cloud.base_url;
    if regions.is_empty() {
        return vec![(
            cloud.region.clone(),
            ["public", "internal", "admin"]
                .into_iter()
                .map(|i| (i, b.clone()))
                .collect(),
        )];
    }
    regions
        .into_iter()
        .map(|r| {
            let prefixes = ["public", "internal", "admin"]
                .into_iter()
                .map(|i| (i, format!("{b}/ep/{r}/{i}")))
                .collect();
            (r, prefixes)
        })
        .collect()
}

/// `(type, name, path under the prefix, service id)` of each service.
fn services(cloud: &Cloud) -> Vec<(&'static str, &'static str, &'static str, String)> {
    vec![
        (
            "compute",
            "nova",
            "/compute/v2.1",
            format!("{}-nova", cloud.name),
        ),
        (
            "image",
            "glance",
            "/image",
            format!("{}-glance", cloud.name),
        ),
        (
            "network",
            "neutron",
            "/network",
            format!("{}-neutron", cloud.name),
        ),
        (
            "identity",
            "keystone",
            "/identity",
            format!("{}-keystone", cloud.name),
        ),
    ]
}

fn catalog_v2(cloud: &Cloud) -> Value {
    let placements = placements(cloud);
    Value::Array(
        services(cloud)
            .into_iter()
            .map(|(ty, name, path, sid)| {
                let path = if ty == "identity" {
                    format!("{path}/v2.0")
                } else {
                    path.to_string()
                };
                let endpoints: Vec<Value> = placements
                    .iter()
                    .map(|(region, prefixes)| {
                        let url = |iface: &str| {
                            prefixes
                                .iter()
                                .find(|(i, _)| *i == iface)
                                .map(|(_, p)| format!("{p}{path}"))
                        };
                        let key = if *region == cloud.region {
                            sid.clone()
                        } else {
                            format!("{sid}-{region}")
                        };
                        json!({"adminURL": url("admin"), "region": region, "internalURL": url("internal"),
                               "id": role_id(&key), "publicURL": url("public")})
                    })
                    .collect();
                json!({"endpoints": endpoints, "endpoints_links": [], "type": ty, "name": name})
            })
            .collect(),
    )
}

fn domain_ref(st: &State_, id: &str) -> Value {
    json!({"id": id, "name": st.domains.get(id).cloned().unwrap_or_default()})
}

/// Who and what a token stands for, resolved from a request.
struct Resolved {
    user_id: String,
    project_id: Option<String>,
    methods: Vec<String>,
    app_cred_id: Option<String>,
    expires_at: Option<OffsetDateTime>,
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn find_domain(st: &State_, d: &Value) -> Result<String, ApiError> {
    if let Some(id) = str_field(d, "id") {
        return st
            .domains
            .contains_key(id)
            .then(|| id.to_string())
            .ok_or_else(unauthorized);
    }
    if let Some(name) = str_field(d, "name") {
        return st
            .domains
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(id, _)| id.clone())
            .ok_or_else(unauthorized);
    }
    Err(bad_request(
        "Expecting to find domain id or name in request.",
    ))
}

fn find_user(st: &State_, u: &Value) -> Result<String, ApiError> {
    if let Some(id) = str_field(u, "id") {
        return st
            .users
            .contains_key(id)
            .then(|| id.to_string())
            .ok_or_else(unauthorized);
    }
    let Some(name) = str_field(u, "name") else {
        return Err(bad_request("Expecting to find user id or name in request."));
    };
    let Some(domain) = u.get("domain") else {
        return Err(bad_request(
            "Expecting to find domain in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.",
        ));
    };
    let domain_id = find_domain(st, domain)?;
    st.users
        .values()
        .find(|x| x.name == name && x.domain_id == domain_id)
        .map(|x| x.id.clone())
        .ok_or_else(unauthorized)
}

fn find_project(st: &State_, p: &Value) -> Result<String, ApiError> {
    if let Some(id) = str_field(p, "id") {
        return st
            .projects
            .contains_key(id)
            .then(|| id.to_string())
            .ok_or_else(unauthorized);
    }
    let Some(name) = str_field(p, "name") else {
        return Err(bad_request(
            "Expecting to find project id or name in request.",
        ));
    };
    let Some(domain) = p.get("domain") else {
        return Err(bad_request("Expecting to find domain in project."));
    };
    let domain_id = find_domain(st, domain)?;
    st.projects
        .values()
        .find(|x| x.name == name && x.domain_id == domain_id)
        .map(|x| x.id.clone())
        .ok_or_else(unauthorized)
}

fn resolve_v3(cloud: &Cloud, body: &Value) -> Result<Resolved, ApiError> {
    let now = cloud.clock.now();
    let auth = body.get("auth").ok_or_else(|| {
        bad_request("Invalid input for field 'auth': 'auth' is a required property")
    })?;
    let identity = auth.get("identity").ok_or_else(|| {
        bad_request("Invalid input for field 'identity': 'identity' is a required property")
    })?;
    let methods: Vec<String> = identity
        .get("methods")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            bad_request(
                "Invalid input for field 'identity/methods': 'methods' is a required property",
            )
        })?
        .iter()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect();
    let st = cloud.keystone.lock();
    let mut resolved = if methods.iter().any(|m| m == "password") {
        let user = identity
            .get("password")
            .and_then(|p| p.get("user"))
            .ok_or_else(|| bad_request("Expecting to find user in password."))?;
        let user_id = find_user(&st, user)?;
        let password = str_field(user, "password").ok_or_else(unauthorized)?;
        if st.users.get(&user_id).map(|u| u.password.as_str()) != Some(password) {
            return Err(unauthorized());
        }
        Resolved {
            user_id,
            project_id: None,
            methods: vec!["password".into()],
            app_cred_id: None,
            expires_at: None,
        }
    } else if methods.iter().any(|m| m == "application_credential") {
        let ac = identity
            .get("application_credential")
            .ok_or_else(|| bad_request("Expecting to find application_credential in identity."))?;
        let secret = str_field(ac, "secret").ok_or_else(unauthorized)?;
        let cred = if let Some(id) = str_field(ac, "id") {
            st.app_creds.get(id)
        } else if let Some(name) = str_field(ac, "name") {
            let user = ac
                .get("user")
                .ok_or_else(|| bad_request("Expecting to find user in application_credential."))?;
            let user_id = find_user(&st, user)?;
            st.app_creds
                .values()
                .find(|a| a.name == name && a.user_id == user_id)
        } else {
            return Err(bad_request(
                "Expecting to find id or name in application_credential.",
            ));
        };
        let cred = cred.ok_or_else(unauthorized)?;
        if cred.secret != secret {
            return Err(unauthorized());
        }
        if auth.get("scope").is_some() {
            let scope = auth.get("scope").and_then(|s| s.get("project"));
            if let Some(p) = scope
                && find_project(&st, p)? != cred.project_id
            {
                return Err(unauthorized());
            }
        }
        Resolved {
            user_id: cred.user_id.clone(),
            project_id: Some(cred.project_id.clone()),
            methods: vec!["application_credential".into()],
            app_cred_id: Some(cred.id.clone()),
            expires_at: None,
        }
    } else if methods.iter().any(|m| m == "token") {
        let id = identity
            .get("token")
            .and_then(|t| str_field(t, "id"))
            .ok_or_else(|| bad_request("Expecting to find id in token."))?;
        let t = st
            .tokens
            .get(id)
            .filter(|t| t.expires_at > now)
            .ok_or_else(unauthorized)?;
        let mut m = t.methods.clone();
        if !m.iter().any(|x| x == "token") {
            m.insert(0, "token".into());
        }
        Resolved {
            user_id: t.user_id.clone(),
            project_id: t.project_id.clone(),
            methods: m,
            app_cred_id: t.app_cred_id.clone(),
            expires_at: Some(t.expires_at),
        }
    } else {
        return Err(unauthorized());
    };
    if resolved.app_cred_id.is_none() {
        match auth.get("scope") {
            Some(scope) => {
                if let Some(p) = scope.get("project") {
                    resolved.project_id = Some(find_project(&st, p)?);
                } else if scope.get("system").is_some() || scope.get("domain").is_some() {
                    return Err(unauthorized());
                }
            }
            None if resolved.project_id.is_none() => {
                resolved.project_id = st
                    .users
                    .get(&resolved.user_id)
                    .and_then(|u| u.default_project_id.clone());
            }
            None => {}
        }
    }
    if let Some(pid) = &resolved.project_id
        && !st
            .assignments
            .contains_key(&(resolved.user_id.clone(), pid.clone()))
    {
        return Err(unauthorized());
    }
    Ok(resolved)
}

fn token_body_v3(cloud: &Cloud, st: &State_, t: &Token) -> Value {
    let user = st.users.get(&t.user_id);
    let mut token = json!({
        "methods": t.methods,
        "user": {
            "domain": domain_ref(st, user.map(|u| u.domain_id.as_str()).unwrap_or(DEFAULT_DOMAIN_ID)),
            "id": t.user_id,
            "name": user.map(|u| u.name.clone()).unwrap_or_default(),
            "password_expires_at": null,
        },
        "audit_ids": [t.audit_id],
        "expires_at": iso_micros(t.expires_at),
        "issued_at": iso_micros(t.issued_at),
    });
    if let Some(pid) = &t.project_id
        && let Some(p) = st.projects.get(pid)
    {
        let roles = effective_roles(
            st.assignments
                .get(&(t.user_id.clone(), pid.clone()))
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        );
        token["project"] =
            json!({"domain": domain_ref(st, &p.domain_id), "id": p.id, "name": p.name});
        token["is_domain"] = json!(false);
        token["roles"] = Value::Array(
            roles
                .iter()
                .map(|r| json!({"id": role_id(r), "name": r}))
                .collect(),
        );
        token["catalog"] = catalog_v3(cloud);
    }
    if let Some(ac) = t.app_cred_id.as_ref().and_then(|id| st.app_creds.get(id)) {
        token["application_credential"] = json!({"id": ac.id, "name": ac.name, "restricted": true});
    }
    json!({"token": token})
}

async fn v3_issue(
    State(cloud): State<SharedCloud>,
    axum::extract::Query(q): axum::extract::Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(Service::Keystone, &body)?;
    let resolved = resolve_v3(&cloud, &body).map_err(|e| with_www_authenticate(&cloud, e))?;
    let now = cloud.clock.now();
    let ttl = cloud.faults.get().token_ttl();
    let token = Token {
        user_id: resolved.user_id,
        project_id: resolved.project_id,
        methods: resolved.methods,
        issued_at: now,
        expires_at: resolved.expires_at.unwrap_or(now + ttl),
        audit_id: audit_id(),
        app_cred_id: resolved.app_cred_id,
    };
    let id = new_token_id();
    let mut st = cloud.keystone.lock();
    let mut body = token_body_v3(&cloud, &st, &token);
    if q.contains_key("nocatalog")
        && let Some(t) = body.get_mut("token").and_then(Value::as_object_mut)
    {
        t.remove("catalog");
    }
    st.tokens.insert(id.clone(), token);
    drop(st);
    Ok((
        StatusCode::CREATED,
        [("x-subject-token", id)],
        axum::Json(body),
    )
        .into_response())
}

/// Keystone's 401s carry `WWW-Authenticate: Keystone uri="<identity endpoint>"`.
fn with_www_authenticate(cloud: &Cloud, e: ApiError) -> ApiError {
    if e.status == StatusCode::UNAUTHORIZED {
        e.with_header(
            axum::http::header::WWW_AUTHENTICATE,
            format!("Keystone uri=\"{}\"", cloud.auth_url()),
        )
    } else {
        e
    }
}

fn subject(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| bad_request("Expecting to find X-Subject-Token in request."))
}

fn validated_subject(cloud: &Cloud, headers: &HeaderMap) -> Result<(String, Value), ApiError> {
    let id = subject(headers)?;
    let now = cloud.clock.now();
    let st = cloud.keystone.lock();
    let t = st
        .tokens
        .get(&id)
        .filter(|t| t.expires_at > now)
        .ok_or_else(|| {
            ApiError::keystone(
                StatusCode::NOT_FOUND,
                format!("Could not find token: {id}."),
            )
        })?;
    Ok((id.clone(), token_body_v3(cloud, &st, t)))
}

async fn v3_validate(
    _auth: Auth,
    State(cloud): State<SharedCloud>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (id, body) = validated_subject(&cloud, &headers)?;
    Ok((StatusCode::OK, [("x-subject-token", id)], axum::Json(body)).into_response())
}

async fn v3_check(
    _auth: Auth,
    State(cloud): State<SharedCloud>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (id, _) = validated_subject(&cloud, &headers)?;
    Ok((StatusCode::OK, [("x-subject-token", id)]).into_response())
}

async fn v3_revoke(
    _auth: Auth,
    State(cloud): State<SharedCloud>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = subject(&headers)?;
    match cloud.keystone.lock().tokens.remove(&id) {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::keystone(
            StatusCode::NOT_FOUND,
            format!("Could not find token: {id}."),
        )),
    }
}

async fn v3_catalog(_auth: Auth, State(cloud): State<SharedCloud>) -> axum::Json<Value> {
    axum::Json(
        json!({"catalog": catalog_v3(&cloud), "links": {"self": format!("{}/v3/auth/catalog", cloud.auth_url()), "previous": null, "next": null}}),
    )
}

fn project_json(cloud: &Cloud, p: &Project) -> Value {
    json!({"id": p.id, "name": p.name, "domain_id": p.domain_id, "description": "", "enabled": true,
           "is_domain": false, "parent_id": p.domain_id, "tags": [], "options": {},
           "links": {"self": format!("{}/v3/projects/{}", cloud.auth_url(), p.id)}})
}

fn projects_of(cloud: &Cloud, user_id: &str) -> Value {
    let st = cloud.keystone.lock();
    let list: Vec<Value> = st
        .projects
        .values()
        .filter(|p| {
            st.assignments
                .contains_key(&(user_id.to_string(), p.id.clone()))
        })
        .map(|p| project_json(cloud, p))
        .collect();
    json!({"projects": list, "links": {"self": format!("{}/v3/auth/projects", cloud.auth_url()), "previous": null, "next": null}})
}

async fn v3_auth_projects(auth: Auth, State(cloud): State<SharedCloud>) -> axum::Json<Value> {
    axum::Json(projects_of(&cloud, &auth.user_id))
}

async fn v3_user_projects(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    if id != auth.user_id && !auth.is_admin {
        return Err(forbidden_policy("identity:list_user_projects"));
    }
    Ok(axum::Json(projects_of(&cloud, &id)))
}

fn forbidden_policy(rule: &str) -> ApiError {
    ApiError::keystone(
        StatusCode::FORBIDDEN,
        format!("You are not authorized to perform the requested action: {rule}."),
    )
}

async fn v3_projects(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    axum::extract::Query(q): axum::extract::Query<BTreeMap<String, String>>,
) -> Result<axum::Json<Value>, ApiError> {
    if !auth.is_admin {
        return Err(forbidden_policy("identity:list_projects"));
    }
    let st = cloud.keystone.lock();
    let list: Vec<Value> = st
        .projects
        .values()
        .filter(|p| q.get("name").is_none_or(|n| *n == p.name))
        .map(|p| project_json(&cloud, p))
        .collect();
    Ok(axum::Json(
        json!({"projects": list, "links": {"self": format!("{}/v3/projects", cloud.auth_url()), "previous": null, "next": null}}),
    ))
}

async fn v3_project(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    if id != auth.project_id && !auth.is_admin {
        return Err(forbidden_policy("identity:get_project"));
    }
    let st = cloud.keystone.lock();
    let p = st.projects.get(&id).ok_or_else(|| {
        ApiError::keystone(
            StatusCode::NOT_FOUND,
            format!("Could not find project: {id}."),
        )
    })?;
    Ok(axum::Json(json!({"project": project_json(&cloud, p)})))
}

async fn v3_user(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    if id != auth.user_id && !auth.is_admin {
        return Err(forbidden_policy("identity:get_user"));
    }
    let st = cloud.keystone.lock();
    let u = st.users.get(&id).ok_or_else(|| {
        ApiError::keystone(StatusCode::NOT_FOUND, format!("Could not find user: {id}."))
    })?;
    Ok(axum::Json(
        json!({"user": {"id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": true,
        "default_project_id": u.default_project_id, "password_expires_at": null, "options": {},
        "links": {"self": format!("{}/v3/users/{}", cloud.auth_url(), u.id)}}}),
    ))
}

/// `GET /v2.0/tenants`: the projects the token's user has a role on (v2.0 clients list them
/// after an unscoped login). Accepts v2.0 and v3 tokens, scoped or not.
fn app_cred_json(cloud: &Cloud, st: &State_, a: &AppCredential) -> Value {
    let roles = effective_roles(
        st.assignments
            .get(&(a.user_id.clone(), a.project_id.clone()))
            .map(Vec::as_slice)
            .unwrap_or(&[]),
    );
    json!({"id": a.id, "name": a.name, "description": null, "project_id": a.project_id, "user_id": a.user_id,
           "expires_at": null, "unrestricted": false, "access_rules": [],
           "roles": roles.iter().map(|r| json!({"id": role_id(r), "name": r, "domain_id": null})).collect::<Vec<_>>(),
           "links": {"self": format!("{}/v3/users/{}/application_credentials/{}", cloud.auth_url(), a.user_id, a.id)}})
}

fn own_user(auth: &Auth, user_id: &str, rule: &str) -> Result<(), ApiError> {
    if auth.user_id == user_id || auth.is_admin {
        Ok(())
    } else {
        Err(forbidden_policy(rule))
    }
}

async fn list_app_creds(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(user): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    own_user(&auth, &user, "identity:list_application_credentials")?;
    let st = cloud.keystone.lock();
    let list: Vec<Value> = st
        .app_creds
        .values()
        .filter(|a| a.user_id == user)
        .map(|a| app_cred_json(&cloud, &st, a))
        .collect();
    Ok(axum::Json(json!({"application_credentials": list,
        "links": {"self": format!("{}/v3/users/{user}/application_credentials", cloud.auth_url()), "previous": null, "next": null}})))
}

async fn show_app_cred(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path((user, cred)): Path<(String, String)>,
) -> Result<axum::Json<Value>, ApiError> {
    own_user(&auth, &user, "identity:get_application_credential")?;
    let st = cloud.keystone.lock();
    let a = st
        .app_creds
        .get(&cred)
        .filter(|a| a.user_id == user)
        .ok_or_else(|| {
            ApiError::keystone(
                StatusCode::NOT_FOUND,
                format!("Could not find Application Credential: {cred}."),
            )
        })?;
    Ok(axum::Json(
        json!({"application_credential": app_cred_json(&cloud, &st, a)}),
    ))
}

async fn delete_app_cred(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path((user, cred)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    own_user(&auth, &user, "identity:delete_application_credential")?;
    let mut st = cloud.keystone.lock();
    if st.app_creds.get(&cred).is_none_or(|a| a.user_id != user) {
        return Err(ApiError::keystone(
            StatusCode::NOT_FOUND,
            format!("Could not find Application Credential: {cred}."),
        ));
    }
    st.app_creds.remove(&cred);
    st.tokens
        .retain(|_, t| t.app_cred_id.as_deref() != Some(cred.as_str()));
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v3/users/{id}/application_credentials`: for the token's own user on the token's
/// project (as keystone); the secret is generated unless given, and shown only here.
async fn create_app_cred(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if auth.user_id != user {
        return Err(forbidden_policy("identity:create_application_credential"));
    }
    let body: Value = parse_json(Service::Keystone, &body)?;
    let ac = body
        .get("application_credential")
        .and_then(Value::as_object)
        .ok_or_else(|| bad_request("Invalid input for field 'application_credential': 'application_credential' is a required property"))?;
    let name = ac
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            bad_request("Invalid input for field 'name': 'name' is a required property")
        })?
        .to_string();
    let secret = match ac.get("secret").and_then(Value::as_str) {
        Some(s) => s.to_string(),
        None => {
            use base64::Engine;
            let mut raw = Vec::new();
            for _ in 0..4 {
                raw.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            }
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        }
    };
    let id = cloud.faults.random_uuid().simple().to_string();
    let mut st = cloud.keystone.lock();
    if st
        .app_creds
        .values()
        .any(|a| a.user_id == user && a.name == name)
    {
        return Err(ApiError::keystone(
            StatusCode::CONFLICT,
            "Conflict occurred attempting to store application_credential - Duplicate entry.",
        ));
    }
    let cred = AppCredential {
        id: id.clone(),
        name,
        user_id: user,
        project_id: auth.project_id.clone(),
        secret: secret.clone(),
    };
    let mut v = app_cred_json(&cloud, &st, &cred);
    v["secret"] = json!(secret);
    st.app_creds.insert(id, cred);
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"application_credential": v})),
    )
        .into_response())
}

async fn v2_tenants(
    State(cloud): State<SharedCloud>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let now = cloud.clock.now();
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let st = cloud.keystone.lock();
    let t = st
        .tokens
        .get(token)
        .filter(|t| t.expires_at > now)
        .ok_or_else(unauthorized)?;
    let tenants: Vec<Value> = st
        .projects
        .values()
        .filter(|p| {
            st.assignments
                .contains_key(&(t.user_id.clone(), p.id.clone()))
        })
        .map(|p| json!({"id": p.id, "name": p.name, "description": "", "enabled": true}))
        .collect();
    Ok(axum::Json(json!({"tenants": tenants, "tenants_links": []})))
}

async fn v2_issue(
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<axum::Json<Value>, ApiError> {
    let body: Value = parse_json(Service::Keystone, &body)?;
    let auth = body
        .get("auth")
        .ok_or_else(|| bad_request("Expecting auth"))?;
    let now = cloud.clock.now();
    let mut st = cloud.keystone.lock();
    let (user_id, mut project_id, expires) = if let Some(pc) = auth.get("passwordCredentials") {
        let (user_id, password) = if let Some(name) = str_field(pc, "username") {
            let u = st
                .users
                .values()
                .find(|u| u.name == name && u.domain_id == DEFAULT_DOMAIN_ID)
                .ok_or_else(unauthorized)?;
            (u.id.clone(), str_field(pc, "password"))
        } else if let Some(id) = str_field(pc, "userId") {
            (
                st.users.get(id).ok_or_else(unauthorized)?.id.clone(),
                str_field(pc, "password"),
            )
        } else {
            return Err(bad_request(
                "Expecting to find username or userId in passwordCredentials - the server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.",
            ));
        };
        if st.users.get(&user_id).map(|u| u.password.as_str()) != password {
            return Err(unauthorized());
        }
        (user_id, None, None)
    } else if let Some(id) = auth.get("token").and_then(|t| str_field(t, "id")) {
        let t = st
            .tokens
            .get(id)
            .filter(|t| t.expires_at > now)
            .ok_or_else(unauthorized)?;
        (t.user_id.clone(), t.project_id.clone(), Some(t.expires_at))
    } else {
        return Err(bad_request(
            "Expecting to find passwordCredentials or token in auth.",
        ));
    };
    if let Some(name) = str_field(auth, "tenantName") {
        project_id = Some(
            st.projects
                .values()
                .find(|p| p.name == name && p.domain_id == DEFAULT_DOMAIN_ID)
                .ok_or_else(unauthorized)?
                .id
                .clone(),
        );
    } else if let Some(id) = str_field(auth, "tenantId") {
        project_id = Some(st.projects.get(id).ok_or_else(unauthorized)?.id.clone());
    }
    if let Some(pid) = &project_id
        && !st.assignments.contains_key(&(user_id.clone(), pid.clone()))
    {
        return Err(unauthorized());
    }
    let token = Token {
        user_id: user_id.clone(),
        project_id: project_id.clone(),
        methods: vec!["password".into()],
        issued_at: now,
        expires_at: expires.unwrap_or(now + cloud.faults.get().token_ttl()),
        audit_id: audit_id(),
        app_cred_id: None,
    };
    let id = new_token_id();
    let user = st.users.get(&user_id).cloned().ok_or_else(unauthorized)?;
    let mut token_json = json!({"issued_at": iso_micros(now).trim_end_matches('Z'), "expires": iso_seconds(token.expires_at),
        "id": id, "audit_ids": [token.audit_id]});
    let mut roles: Vec<String> = Vec::new();
    if let Some(p) = project_id.as_ref().and_then(|pid| st.projects.get(pid)) {
        token_json["tenant"] =
            json!({"description": null, "enabled": true, "id": p.id, "name": p.name});
        roles = effective_roles(
            st.assignments
                .get(&(user_id.clone(), p.id.clone()))
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        );
    }
    let mut access = json!({
        "token": token_json,
        "serviceCatalog": if project_id.is_some() { catalog_v2(&cloud) } else { json!([]) },
        "user": {"username": user.name, "roles_links": [], "id": user.id,
                 "roles": roles.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(), "name": user.name},
        "metadata": {"is_admin": 0, "roles": roles.iter().map(|r| role_id(r)).collect::<Vec<_>>()},
    });
    if project_id.is_none() {
        access["serviceCatalog"] = json!([]);
    }
    st.tokens.insert(id, token);
    Ok(axum::Json(json!({"access": access})))
}
