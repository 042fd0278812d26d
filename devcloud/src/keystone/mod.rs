//! Keystone (identity v3 and v2.0): domains, projects, users, roles, application credentials,
//! tokens, the service catalog and version discovery, mounted at `/identity`. Knows nothing
//! about the other services except their endpoint paths for the catalog.
//!
//! This module holds the state, the routes and the helpers the handlers share; the handlers
//! live per concept: `discovery.rs` (version documents), `catalog.rs` (the service catalog),
//! `tokens.rs` (v3 authentication, token issue, validation and revocation), `projects.rs`
//! (projects and users), `app_creds.rs` (application credentials) and `v2.rs` (the v2.0 token
//! and tenant API).

mod app_creds;
mod catalog;
mod discovery;
mod projects;
mod tokens;
mod v2;

use app_creds::{create_app_cred, delete_app_cred, list_app_creds, show_app_cred};
pub use catalog::catalog_v3;
use catalog::v3_catalog;
use discovery::{v2_version, v3_version, versions};
use projects::{v3_auth_projects, v3_project, v3_projects, v3_user, v3_user_projects};
use tokens::{v3_check, v3_issue, v3_revoke, v3_validate};
use v2::{v2_issue, v2_tenants};

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::auth::Auth;
use crate::cloud::SharedCloud;
use crate::error::ApiError;

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

fn forbidden_policy(rule: &str) -> ApiError {
    ApiError::keystone(
        StatusCode::FORBIDDEN,
        format!("You are not authorized to perform the requested action: {rule}."),
    )
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn domain_ref(st: &State_, id: &str) -> Value {
    json!({"id": id, "name": st.domains.get(id).cloned().unwrap_or_default()})
}

/// The roles `user_id` has on `project_id`, implied ones included (none without a grant).
fn roles_on(st: &State_, user_id: &str, project_id: &str) -> Vec<String> {
    effective_roles(
        st.assignments
            .get(&(user_id.to_string(), project_id.to_string()))
            .map(Vec::as_slice)
            .unwrap_or(&[]),
    )
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
