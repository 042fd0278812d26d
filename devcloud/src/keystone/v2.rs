//! Keystone v2.0: `POST /v2.0/tokens` and `GET /v2.0/tenants` (current keystone removed v2.0;
//! s2d's original clouds used it).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::{
    DEFAULT_DOMAIN_ID, Token, audit_id, bad_request, catalog::catalog_v2, new_token_id, role_id,
    roles_on, str_field, unauthorized,
};
use crate::clock::{iso_micros, iso_seconds};
use crate::cloud::SharedCloud;
use crate::error::{ApiError, Service, parse_json};

/// `GET /v2.0/tenants`: the projects the token's user has a role on (v2.0 clients list them
/// after an unscoped login). Accepts v2.0 and v3 tokens, scoped or not.
pub(super) async fn v2_tenants(
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

pub(super) async fn v2_issue(
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
        roles = roles_on(&st, &user_id, &p.id);
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
