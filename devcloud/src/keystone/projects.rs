//! Projects and users: `/v3/auth/projects`, `/v3/projects[/{id}]`, `/v3/users/{id}` and
//! `/v3/users/{id}/projects`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Project, forbidden_policy};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::ApiError;

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

pub(super) async fn v3_auth_projects(
    auth: Auth,
    State(cloud): State<SharedCloud>,
) -> axum::Json<Value> {
    axum::Json(projects_of(&cloud, &auth.user_id))
}

pub(super) async fn v3_user_projects(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    if id != auth.user_id && !auth.is_admin {
        return Err(forbidden_policy("identity:list_user_projects"));
    }
    Ok(axum::Json(projects_of(&cloud, &id)))
}

pub(super) async fn v3_projects(
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

pub(super) async fn v3_project(
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

pub(super) async fn v3_user(
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
