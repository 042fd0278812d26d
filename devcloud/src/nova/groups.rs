//! Server groups (`/os-server-groups`): list (the caller's project, `all_projects` for
//! admins), create (`policies: [one]` before 2.64, `policy` and `rules` from 2.64, as nova's
//! schemas check them), show, delete; members added by a boot's `group` scheduler hint and
//! removed when the server is deleted; the policy applied to devcloud's one compute host as
//! nova's scheduler filters apply it; the `server_groups` and `server_group_members` quotas.
//! Knows servers only through nova's state.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};

use super::{Microversion, State_, policy_forbidden};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};

/// A server group.
#[derive(Debug, Clone)]
pub struct ServerGroup {
    /// Id (nova's `uuid`).
    pub id: String,
    /// Name.
    pub name: String,
    /// `affinity`, `anti-affinity`, `soft-affinity` or `soft-anti-affinity`.
    pub policy: String,
    /// `max_server_per_host` of an anti-affinity group (2.64+ rules).
    pub max_server_per_host: Option<u64>,
    /// Owner project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// Member server ids, in the order they joined.
    pub members: Vec<String>,
}

/// Nova's default `server_groups` and `server_group_members` quotas.
const DEFAULT_QUOTA: u64 = 10;

pub(super) fn routes() -> Router<SharedCloud> {
    Router::new()
        .route("/os-server-groups", get(list).post(create))
        .route("/os-server-groups/{id}", get(show).delete(delete))
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::nova(StatusCode::BAD_REQUEST, msg)
}

fn not_found(id: &str) -> ApiError {
    ApiError::nova(
        StatusCode::NOT_FOUND,
        format!("Instance group {id} could not be found."),
    )
}

/// The quotas in effect: (groups per project, members per group).
fn quotas(cloud: &Cloud) -> (u64, u64) {
    let q = cloud.faults.get().quota;
    (
        q.server_groups.unwrap_or(DEFAULT_QUOTA),
        q.server_group_members.unwrap_or(DEFAULT_QUOTA),
    )
}

/// A project's server groups (for `limits`).
pub fn count(cloud: &Cloud, project_id: &str) -> u64 {
    cloud
        .nova
        .lock()
        .server_groups
        .values()
        .filter(|g| g.project_id == project_id)
        .count() as u64
}

/// The limits' `maxServerGroups` and `maxServerGroupMembers`.
pub fn limits(cloud: &Cloud) -> (u64, u64) {
    quotas(cloud)
}

/// Nova's `server_group_members` check of a boot into `group` (403).
pub fn check_member_quota(cloud: &Cloud, group: &str) -> Result<(), ApiError> {
    let (_, members) = quotas(cloud);
    let used = cloud
        .nova
        .lock()
        .server_groups
        .get(group)
        .map_or(0, |g| g.members.len() as u64);
    if used + 1 > members {
        return Err(ApiError::nova(
            StatusCode::FORBIDDEN,
            "Quota exceeded, too many servers in group",
        ));
    }
    Ok(())
}

/// Add `server` to `group` and say whether the group's policy lets it onto devcloud's one
/// host: anti-affinity admits `max_server_per_host` (default 1) members that hold the host
/// (those not in ERROR), the other policies everything.
pub fn admit(st: &mut State_, group: &str, server: &str) -> bool {
    let on_host = |st: &State_, members: &[String]| {
        members
            .iter()
            .filter(|m| {
                st.servers
                    .get(*m)
                    .is_some_and(|s| s.vm_state != "error" && s.fault.is_none())
            })
            .count() as u64
    };
    let Some(g) = st.server_groups.get(group).cloned() else {
        return true;
    };
    let fits = match g.policy.as_str() {
        "anti-affinity" => on_host(st, &g.members) < g.max_server_per_host.unwrap_or(1),
        _ => true,
    };
    if let Some(g) = st.server_groups.get_mut(group) {
        g.members.push(server.to_string());
    }
    fits
}

/// The group as nova shows it for `mv`.
pub fn group_json(g: &ServerGroup, mv: Microversion) -> Value {
    let mut v = json!({"id": g.id, "name": g.name, "members": g.members});
    if mv.at_least(64) {
        v["policy"] = json!(g.policy);
        v["rules"] = match g.max_server_per_host {
            Some(n) => json!({"max_server_per_host": n}),
            None => json!({}),
        };
    } else {
        v["policies"] = json!([g.policy]);
        v["metadata"] = json!({});
    }
    if mv.at_least(13) {
        v["project_id"] = json!(g.project_id);
        v["user_id"] = json!(g.user_id);
    }
    v
}

type Q = Query<Vec<(String, String)>>;

async fn list(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Query(q): Q,
) -> Result<Json<Value>, ApiError> {
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    // Nova honours `all_projects` (any value) for admins and ignores it for others.
    let all = auth.is_admin && get("all_projects").is_some();
    let number = |k: &str| -> Result<Option<usize>, ApiError> {
        match get(k) {
            None => Ok(None),
            Some(v) => v.parse::<usize>().map(Some).map_err(|_| {
                bad(format!(
                    "Invalid input for query parameters {k}. Value: {v}. '{v}' does not match '^[0-9]*$'"
                ))
            }),
        }
    };
    let offset = number("offset")?.unwrap_or(0);
    let limit = cloud.faults.get().nova_limit(number("limit")?);
    let st = cloud.nova.lock();
    let groups: Vec<Value> = st
        .server_groups
        .values()
        .filter(|g| all || g.project_id == auth.project_id)
        .skip(offset)
        .take(limit)
        .map(|g| group_json(g, mv))
        .collect();
    Ok(Json(json!({"server_groups": groups})))
}

fn find(cloud: &Cloud, auth: &Auth, id: &str, rule: &str) -> Result<ServerGroup, ApiError> {
    let g = cloud
        .nova
        .lock()
        .server_groups
        .get(id)
        .cloned()
        .ok_or_else(|| not_found(id))?;
    // Found first, then the policy on the group's project (403, not 404), as nova.
    if g.project_id != auth.project_id && !auth.is_admin {
        return Err(policy_forbidden(&format!(
            "os_compute_api:os-server-groups:{rule}"
        )));
    }
    Ok(g)
}

async fn show(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let g = find(&cloud, &auth, &id, "show")?;
    Ok(Json(json!({"server_group": group_json(&g, mv)})))
}

async fn delete(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    find(&cloud, &auth, &id, "delete")?;
    cloud.nova.lock().server_groups.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// Python's repr of a JSON value, as nova's validation messages show it.
fn py(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(a) => format!("[{}]", a.iter().map(py).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("'{k}': {}", py(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Number(n) => n.to_string(),
    }
}

fn invalid(field: &str, value: &Value, why: String) -> ApiError {
    let shown = match value {
        Value::String(s) => s.clone(),
        other => py(other),
    };
    bad(format!(
        "Invalid input for field/attribute {field}. Value: {shown}. {why}"
    ))
}

/// The policies nova's schema allows at `mv` (the soft ones from 2.15).
fn policies(mv: Microversion) -> &'static [&'static str] {
    if mv.at_least(15) {
        &[
            "anti-affinity",
            "affinity",
            "soft-anti-affinity",
            "soft-affinity",
        ]
    } else {
        &["anti-affinity", "affinity"]
    }
}

fn check_policy(field: &str, v: &Value, mv: Microversion) -> Result<String, ApiError> {
    let allowed = policies(mv);
    match v.as_str() {
        Some(p) if allowed.contains(&p) => Ok(p.to_string()),
        Some(_) => Err(invalid(
            field,
            v,
            format!(
                "{} is not one of [{}]",
                py(v),
                allowed
                    .iter()
                    .map(|p| format!("'{p}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        None => Err(invalid(
            field,
            v,
            format!("{} is not of type 'string'", py(v)),
        )),
    }
}

/// The group's name as `parameter_types.name` checks it.
fn check_name(name_v: &Value) -> Result<String, ApiError> {
    match name_v.as_str() {
        Some(n)
            if !n.is_empty()
                && n.chars().count() <= 255
                && n.trim() == n
                && !n.chars().any(char::is_control) =>
        {
            Ok(n.to_string())
        }
        Some("") => Err(invalid("name", name_v, "'' is too short".into())),
        Some(n) if n.chars().count() > 255 => {
            Err(invalid("name", name_v, format!("'{n}' is too long")))
        }
        Some(n) => Err(invalid(
            "name",
            name_v,
            format!("'{n}' does not match '^(?![\\ \\xa0]).*(?<![\\ \\xa0])$'"),
        )),
        None => Err(invalid(
            "name",
            name_v,
            format!("{} is not of type 'string'", py(name_v)),
        )),
    }
}

/// `max_server_per_host` as `parameter_types.positive_integer` checks it.
fn check_rules(rules: &Value) -> Result<Option<u64>, ApiError> {
    let m: &Map<String, Value> = rules.as_object().ok_or_else(|| {
        invalid(
            "rules",
            rules,
            format!("{} is not of type 'object'", py(rules)),
        )
    })?;
    let mut max = None;
    if let Some(v) = m.get("max_server_per_host") {
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n >= 1 => max = Some(n as u64),
            Some(n) => {
                return Err(invalid(
                    "max_server_per_host",
                    v,
                    format!("{n} is less than the minimum of 1"),
                ));
            }
            None => {
                return Err(invalid(
                    "max_server_per_host",
                    v,
                    format!("{} is not valid under any of the given schemas", py(v)),
                ));
            }
        }
    }
    if let Some(k) = m.keys().find(|k| *k != "max_server_per_host") {
        return Err(invalid(
            "rules",
            rules,
            format!("Additional properties are not allowed ('{k}' was unexpected)"),
        ));
    }
    Ok(max)
}

/// Nova's `create` schemas: (name, policy, max_server_per_host). As jsonschema reports the
/// first error it meets: the values of the known properties, then the required ones, then
/// the unknown ones.
fn parse_create(body: &Value, mv: Microversion) -> Result<(String, String, Option<u64>), ApiError> {
    let Value::Object(top) = body else {
        return Err(invalid(
            "request body",
            body,
            format!("{} is not of type 'object'", py(body)),
        ));
    };
    let sg = match top.get("server_group") {
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(invalid(
                "server_group",
                other,
                format!("{} is not of type 'object'", py(other)),
            ));
        }
        None => {
            return Err(invalid(
                "request body",
                body,
                "'server_group' is a required property".into(),
            ));
        }
    };
    let name = sg.get("name").map(check_name).transpose()?;
    let (policy, max) = if mv.at_least(64) {
        let policy = sg
            .get("policy")
            .map(|p| check_policy("policy", p, mv))
            .transpose()?;
        let max = match sg.get("rules") {
            Some(r) => check_rules(r)?,
            None => None,
        };
        (policy, max)
    } else {
        let policy = match sg.get("policies") {
            None => None,
            Some(p) => {
                let list = p.as_array().ok_or_else(|| {
                    invalid("policies", p, format!("{} is not of type 'array'", py(p)))
                })?;
                if let Some(first) = list.first() {
                    check_policy("0", first, mv)?;
                }
                if list.is_empty() {
                    return Err(invalid("policies", p, "[] should be non-empty".into()));
                }
                if list.len() > 1 {
                    return Err(invalid("policies", p, format!("{} is too long", py(p))));
                }
                list[0].as_str().map(str::to_string)
            }
        };
        (policy, None)
    };
    let whole = Value::Object(sg.clone());
    let (required, known): (&[&str], &[&str]) = if mv.at_least(64) {
        (&["name", "policy"], &["name", "policy", "rules"])
    } else {
        (&["name", "policies"], &["name", "policies"])
    };
    if let Some(r) = required.iter().find(|r| !sg.contains_key(**r)) {
        return Err(invalid(
            "server_group",
            &whole,
            format!("'{r}' is a required property"),
        ));
    }
    if let Some(k) = sg.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(
            "server_group",
            &whole,
            format!("Additional properties are not allowed ('{k}' was unexpected)"),
        ));
    }
    if let Some(k) = top.keys().find(|k| *k != "server_group") {
        return Err(invalid(
            "request body",
            body,
            format!("Additional properties are not allowed ('{k}' was unexpected)"),
        ));
    }
    let (Some(name), Some(policy)) = (name, policy) else {
        return Err(bad("The request body is invalid"));
    };
    Ok((name, policy, max))
}

async fn create(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let (name, policy, max_server_per_host) = parse_create(&body, mv)?;
    let (groups, _) = quotas(&cloud);
    if count(&cloud, &auth.project_id) + 1 > groups {
        return Err(ApiError::nova(
            StatusCode::FORBIDDEN,
            "Quota exceeded, too many server groups.",
        ));
    }
    // Checked after the quota, as nova does.
    if max_server_per_host.is_some() && policy != "anti-affinity" {
        return Err(bad("Only anti-affinity policy supports rules."));
    }
    let g = ServerGroup {
        id: cloud.faults.random_uuid().to_string(),
        name,
        policy,
        max_server_per_host,
        project_id: auth.project_id.clone(),
        user_id: auth.user_id.clone(),
        members: Vec::new(),
    };
    cloud
        .nova
        .lock()
        .server_groups
        .insert(g.id.clone(), g.clone());
    Ok(Json(json!({"server_group": group_json(&g, mv)})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(minor: u32) -> Microversion {
        Microversion(2, minor)
    }

    #[test]
    fn create_bodies_follow_the_microversion() {
        let old = json!({"server_group": {"name": "g", "policies": ["anti-affinity"]}});
        assert_eq!(
            parse_create(&old, mv(1)).unwrap(),
            ("g".into(), "anti-affinity".into(), None)
        );
        // As nova: the missing `policy` is reported before the unknown `policies`.
        let e = parse_create(&old, mv(64)).unwrap_err();
        assert!(
            e.body
                .to_string()
                .contains("'policy' is a required property"),
            "{}",
            e.body
        );
        let new = json!({"server_group": {"name": "g", "policy": "anti-affinity",
            "rules": {"max_server_per_host": 2}}});
        assert_eq!(
            parse_create(&new, mv(64)).unwrap(),
            ("g".into(), "anti-affinity".into(), Some(2))
        );
        let soft = json!({"server_group": {"name": "g", "policies": ["soft-affinity"]}});
        let e = parse_create(&soft, mv(14)).unwrap_err();
        assert!(e.body.to_string().contains("field/attribute 0. Value: soft-affinity. 'soft-affinity' is not one of ['anti-affinity', 'affinity']"), "{}", e.body);
        assert!(parse_create(&soft, mv(15)).is_ok());
    }

    #[test]
    fn create_errors_read_as_nova_words_them() {
        // Rules with another policy pass the schema; the create refuses them (after the
        // quota), as nova's controller does.
        let rules = json!({"server_group": {"name": "g", "policy": "affinity",
            "rules": {"max_server_per_host": 2}}});
        assert!(parse_create(&rules, mv(64)).is_ok());
        let zero = json!({"server_group": {"name": "g", "policy": "anti-affinity",
            "rules": {"max_server_per_host": 0}}});
        let e = parse_create(&zero, mv(64)).unwrap_err();
        assert!(
            e.body
                .to_string()
                .contains("0 is less than the minimum of 1"),
            "{}",
            e.body
        );
        let bogus = json!({"server_group": {"name": "g", "policy": "bogus"}});
        let e = parse_create(&bogus, mv(64)).unwrap_err();
        assert!(e.body.to_string().contains("Invalid input for field/attribute policy. Value: bogus. 'bogus' is not one of ['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity']"), "{}", e.body);
        let missing = json!({"server_group": {"name": "g"}});
        let e = parse_create(&missing, mv(64)).unwrap_err();
        assert!(
            e.body
                .to_string()
                .contains("'policy' is a required property"),
            "{}",
            e.body
        );
    }
}
