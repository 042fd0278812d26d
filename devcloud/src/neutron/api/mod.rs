//! Neutron's HTTP API under `/network`: version documents, extensions, and the resources
//! (networks, subnets, ports, security-groups, security-group-rules, floatingips, routers),
//! with neutron's generic list filters, `fields`, `limit`/`marker` paging and error bodies.
//! Knows nothing about Nova.
//!
//! Here: the routes, the version documents, the JSON attributes every resource has, and the
//! request helpers the handlers share. `list.rs` holds the generic list and show handlers
//! (filters, `fields`, paging) that serve every collection through the `Resource` trait;
//! each resource's own file has its JSON shape, its `Resource` impl (by the `resource!` macro)
//! and its create, update and delete handlers.

mod floatingips;
mod list;
mod networks;
mod ports;
mod routers;
mod security_groups;
mod subnets;

use std::net::IpAddr;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::{FloatingIp, NetError, Network, Port, Rule, SecurityGroup, Subnet, ts};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};
pub(super) use floatingips::fip_json;
use list::{Resource, list, owned, resource, show};

pub(super) use networks::network_json;
pub(super) use ports::port_json;
pub(super) use routers::router_json;
pub(super) use security_groups::group_json;
pub(super) use subnets::subnet_json;

type Q = Query<Vec<(String, String)>>;

impl From<NetError> for ApiError {
    fn from(e: NetError) -> ApiError {
        match e {
            NetError::NotFound(t, m) => ApiError::neutron(StatusCode::NOT_FOUND, t, m),
            NetError::Conflict(t, m) => ApiError::neutron(StatusCode::CONFLICT, t, m),
            NetError::BadRequest(t, m) => ApiError::neutron(StatusCode::BAD_REQUEST, t, m),
            NetError::Forbidden(t, m) => ApiError::neutron(StatusCode::FORBIDDEN, t, m),
        }
    }
}

/// Neutron's quota check of a create: 409 `OverQuota` when the project already has as many
/// of `resource` as its quota allows (`count` counts them).
pub(super) fn check_quota(
    cloud: &crate::cloud::Cloud,
    project: &str,
    resource: &str,
    count: impl Fn(&crate::neutron::State) -> usize,
) -> Result<(), NetError> {
    let quota = cloud.faults.get().quota;
    let limit = match resource {
        "port" => quota.port,
        "floatingip" => quota.floatingip,
        _ => None,
    };
    let Some(limit) = limit else {
        return Ok(());
    };
    let used = count(&cloud.neutron.lock()) as u64;
    tracing::debug!(project, resource, used, limit, "neutron quota");
    if used < limit {
        return Ok(());
    }
    Err(NetError::Conflict(
        "OverQuota",
        format!("Quota exceeded for resources: ['{resource}']."),
    ))
}

/// `GET /v2.0/quotas/{project_id}/details` (the `quota_details` extension): each quota's
/// `limit` (-1: unlimited), `used` and `reserved`, as Neutron answers it; a project may read
/// its own, an admin any.
async fn quota_details(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    axum::extract::Path(project): axum::extract::Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    if project != auth.project_id && !auth.is_admin {
        return Err(ApiError::neutron(
            StatusCode::FORBIDDEN,
            "HTTPForbidden",
            "rule:get_quota is disallowed by policy",
        ));
    }
    let quota = cloud.faults.get().quota;
    let st = cloud.neutron.lock();
    let ports = st
        .ports
        .values()
        .filter(|p| p.project_id == project)
        .count();
    let fips = st
        .floatingips
        .values()
        .filter(|f| f.project_id == project)
        .count();
    let detail = |limit: Option<u64>, used: usize| json!({"limit": limit.map_or(-1, |l| l as i64), "used": used, "reserved": 0});
    Ok(axum::Json(json!({"quota": {
        "port": detail(quota.port, ports),
        "floatingip": detail(quota.floatingip, fips),
    }})))
}

/// The routes under `/network`.
pub fn router() -> Router<SharedCloud> {
    Router::new()
        .route("/v2.0/quotas/{project_id}/details", get(quota_details))
        .route("/", get(versions))
        .route("/v2.0/", get(v2))
        .route("/v2.0/extensions", get(extensions))
        .route("/v2.0/extensions/{alias}", get(extension))
        .route(
            "/v2.0/networks",
            get(list::<Network>).post(networks::create_network),
        )
        .route(
            "/v2.0/networks/{id}",
            get(show::<Network>).delete(networks::delete_network),
        )
        .route(
            "/v2.0/subnets",
            get(list::<Subnet>).post(subnets::create_subnet),
        )
        .route(
            "/v2.0/subnets/{id}",
            get(show::<Subnet>).delete(subnets::delete_subnet),
        )
        .route("/v2.0/ports", get(list::<Port>).post(ports::create_port))
        .route(
            "/v2.0/ports/{id}",
            get(show::<Port>)
                .put(ports::update_port)
                .delete(ports::delete_port),
        )
        .route(
            "/v2.0/security-groups",
            get(list::<SecurityGroup>).post(security_groups::create_group),
        )
        .route(
            "/v2.0/security-groups/{id}",
            get(show::<SecurityGroup>)
                .put(security_groups::update_group)
                .delete(security_groups::delete_group),
        )
        .route(
            "/v2.0/security-group-rules",
            get(list::<Rule>).post(security_groups::create_rule),
        )
        .route(
            "/v2.0/security-group-rules/{id}",
            get(show::<Rule>).delete(security_groups::delete_rule),
        )
        .route(
            "/v2.0/floatingips",
            get(list::<FloatingIp>).post(floatingips::create_fip),
        )
        .route(
            "/v2.0/floatingips/{id}",
            get(show::<FloatingIp>)
                .put(floatingips::update_fip)
                .delete(floatingips::delete_fip),
        )
        .route(
            "/v2.0/routers",
            get(list::<super::Router>).post(routers::create_router),
        )
        .route(
            "/v2.0/routers/{id}",
            get(show::<super::Router>).delete(routers::delete_router),
        )
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            axum::routing::put(routers::add_interface),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            axum::routing::put(routers::remove_interface),
        )
}

async fn versions(State(cloud): State<SharedCloud>) -> axum::Json<Value> {
    axum::Json(json!({"versions": [{"id": "v2.0", "status": "CURRENT",
        "links": [{"href": format!("{}/network/v2.0/", cloud.base_url), "rel": "self"}]}]}))
}

async fn v2(State(cloud): State<SharedCloud>) -> axum::Json<Value> {
    let res: Vec<Value> = [
        ("subnet", "subnets"),
        ("network", "networks"),
        ("port", "ports"),
        ("router", "routers"),
        ("floatingip", "floatingips"),
        ("security_group", "security-groups"),
        ("security_group_rule", "security-group-rules"),
    ]
    .iter()
    .map(|(name, coll)| {
        json!({"name": name, "collection": coll,
        "links": [{"href": format!("{}/network/v2.0/{coll}", cloud.base_url), "rel": "self"}]})
    })
    .collect();
    axum::Json(json!({"resources": res}))
}

async fn extensions() -> axum::Json<Value> {
    axum::Json(json!({"extensions": extension_list()}))
}

/// `GET /v2.0/extensions/{alias}`: one extension, or for an alias this Neutron does not load
/// neutron's bare 404 (an empty `text/html` body, not a `NeutronError`), which the CLI reads
/// when it asks whether `external-gateway-multihoming` is there before a router create.
async fn extension(axum::extract::Path(alias): axum::extract::Path<String>) -> Response {
    match extension_list()
        .into_iter()
        .find(|e| e["alias"] == alias.as_str())
    {
        Some(e) => axum::Json(json!({ "extension": e })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(axum::http::header::CONTENT_TYPE, "text/html; charset=UTF-8")],
        )
            .into_response(),
    }
}

fn extension_list() -> Vec<Value> {
    let ext: Vec<Value> = [
        ("security-group", "security-group"), ("router", "Neutron L3 Router"),
        ("external-net", "Neutron external network"), ("standard-attr-timestamp", "Resource timestamps"),
        ("standard-attr-revisions", "Resource revision numbers"), ("standard-attr-description", "standard-attr-description"),
        ("standard-attr-tag", "Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip"),
        ("binding", "Port Binding"), ("port-security", "Port Security"), ("quotas", "Quota management support"),
        ("fip-port-details", "Floating IP Port Details Extension"), ("project-id", "project_id field enabled"),
        ("stateful-security-group", "Stateful security group"), ("extra_dhcp_opt", "Neutron Extra DHCP options"),
        ("allowed-address-pairs", "Allowed Address Pairs"), ("ext-gw-mode", "Neutron L3 Configurable external gateway mode"),
    ]
    .iter()
    .map(|(alias, name)| json!({"alias": alias, "name": name, "description": name, "links": [], "updated": "2024-01-01T00:00:00-00:00"}))
    .collect();
    ext
}

// ---------------------------------------------------------------- JSON shapes

fn std_attrs(
    obj: &mut Map<String, Value>,
    project_id: &str,
    created: time::OffsetDateTime,
    revision: u64,
) {
    obj.insert("tenant_id".into(), json!(project_id));
    obj.insert("project_id".into(), json!(project_id));
    obj.insert("created_at".into(), json!(ts(created)));
    obj.insert("updated_at".into(), json!(ts(created)));
    obj.insert("revision_number".into(), json!(revision));
    obj.insert("tags".into(), json!([]));
    obj.entry("description").or_insert(json!(""));
}

pub(super) fn with_std(
    v: Value,
    project_id: &str,
    created: time::OffsetDateTime,
    revision: u64,
) -> Value {
    let mut m = match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    std_attrs(&mut m, project_id, created, revision);
    Value::Object(m)
}

// ---------------------------------------------------------------- request helpers

pub(super) fn visible(auth: &Auth, project_id: &str) -> bool {
    auth.is_admin || auth.project_id == project_id
}

pub(super) fn ids(cloud: &Cloud) -> impl FnMut() -> String + '_ {
    || cloud.faults.random_uuid().to_string()
}

pub(super) fn one(key: &str, v: Value) -> Response {
    axum::Json(json!({ key: v })).into_response()
}

pub(super) fn created(key: &str, v: Value) -> Response {
    (StatusCode::CREATED, axum::Json(json!({ key: v }))).into_response()
}

/// The object under `key` of a request body, with only `allowed` attributes.
pub(super) fn body_object(
    body: &[u8],
    key: &str,
    allowed: &[&str],
) -> Result<Map<String, Value>, ApiError> {
    let v: Value = parse_json(Service::Neutron, body)?;
    let obj = v
        .get(key)
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| {
            bad_input(format!(
                "Resource body required: '{key}' not found in request body"
            ))
        })?;
    let unknown: Vec<&String> = obj
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        return Err(bad_input(format!(
            "Unrecognized attribute(s) '{}'",
            names.join(", ")
        )));
    }
    Ok(obj)
}

pub(super) fn opt_str(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad_input(format!(
            "Invalid input for {key}. Reason: '{other}' is not a valid string."
        ))),
    }
}

pub(super) fn opt_port(obj: &Map<String, Value>, key: &str) -> Result<Option<u32>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|x| x <= u32::MAX as u64) => {
            Ok(n.as_u64().map(|x| x as u32))
        }
        Some(Value::String(s)) if s.parse::<u32>().is_ok() => Ok(s.parse().ok()),
        Some(other) => Err(ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "SecurityGroupInvalidPortValue",
            format!("Invalid value for port {other}."),
        )),
    }
}

pub(super) fn owner(auth: &Auth, obj: &Map<String, Value>) -> Result<String, ApiError> {
    let requested = opt_str(obj, "project_id")?.or(opt_str(obj, "tenant_id")?);
    match requested {
        Some(p) if p != auth.project_id && !auth.is_admin => Err(ApiError::neutron(
            StatusCode::FORBIDDEN,
            "HTTPForbidden",
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
        )),
        Some(p) => Ok(p),
        None => Ok(auth.project_id.clone()),
    }
}

/// A string attribute the request must have: neutron's 400 when it is missing.
pub(super) fn required(obj: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    opt_str(obj, key)?.ok_or_else(|| {
        bad_input(format!(
            "Failed to parse request. Required attribute '{key}' not specified"
        ))
    })
}

pub(super) fn bad_input(msg: impl Into<String>) -> ApiError {
    ApiError::neutron(StatusCode::BAD_REQUEST, "HTTPBadRequest", msg)
}

pub(super) fn parse_ip(s: Option<String>, key: &str) -> Result<Option<IpAddr>, ApiError> {
    s.map(|s| {
        s.parse::<IpAddr>().map_err(|_| {
            bad_input(format!(
                "Invalid input for {key}. Reason: '{s}' is not a valid IP address."
            ))
        })
    })
    .transpose()
}
