//! Application credentials: `/v3/users/{id}/application_credentials[/{id}]` (list, create,
//! show, delete; the secret is shown only on create).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{AppCredential, State_, bad_request, forbidden_policy, role_id, roles_on};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};

fn app_cred_json(cloud: &Cloud, st: &State_, a: &AppCredential) -> Value {
    let roles = roles_on(st, &a.user_id, &a.project_id);
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

pub(super) async fn list_app_creds(
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

pub(super) async fn show_app_cred(
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

pub(super) async fn delete_app_cred(
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
pub(super) async fn create_app_cred(
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
