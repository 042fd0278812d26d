//! v3 authentication (`password`, `application_credential`, `token` methods; project scope)
//! and `/v3/auth/tokens`: issue, validate, check and revoke.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{
    DEFAULT_DOMAIN_ID, State_, Token, audit_id, bad_request, catalog_v3, domain_ref, new_token_id,
    role_id, roles_on, str_field, unauthorized,
};
use crate::auth::Auth;
use crate::clock::iso_micros;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};

/// Who and what a token stands for, resolved from a request.
struct Resolved {
    user_id: String,
    project_id: Option<String>,
    methods: Vec<String>,
    app_cred_id: Option<String>,
    expires_at: Option<OffsetDateTime>,
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
        let roles = roles_on(st, &t.user_id, pid);
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

pub(super) async fn v3_issue(
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

pub(super) async fn v3_validate(
    _auth: Auth,
    State(cloud): State<SharedCloud>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (id, body) = validated_subject(&cloud, &headers)?;
    Ok((StatusCode::OK, [("x-subject-token", id)], axum::Json(body)).into_response())
}

pub(super) async fn v3_check(
    _auth: Auth,
    State(cloud): State<SharedCloud>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (id, _) = validated_subject(&cloud, &headers)?;
    Ok((StatusCode::OK, [("x-subject-token", id)]).into_response())
}

pub(super) async fn v3_revoke(
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
