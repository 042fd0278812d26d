//! Neutron's HTTP API under `/network`: version documents, extensions, and the resources
//! (networks, subnets, ports, security-groups, security-group-rules, floatingips, routers),
//! with neutron's generic list filters, `fields`, `limit`/`marker` paging and error bodies.
//! Knows nothing about Nova.

use std::collections::BTreeMap;
use std::net::IpAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::{
    FloatingIp, NetError, Network, Port, RuleSpec, SecurityGroup, State as NState, Subnet,
    not_found, ts,
};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};

type Q = Query<Vec<(String, String)>>;

impl From<NetError> for ApiError {
    fn from(e: NetError) -> ApiError {
        match e {
            NetError::NotFound(t, m) => ApiError::neutron(StatusCode::NOT_FOUND, t, m),
            NetError::Conflict(t, m) => ApiError::neutron(StatusCode::CONFLICT, t, m),
            NetError::BadRequest(t, m) => ApiError::neutron(StatusCode::BAD_REQUEST, t, m),
        }
    }
}

/// The routes under `/network`.
pub fn router() -> Router<SharedCloud> {
    Router::new()
        .route("/", get(versions))
        .route("/v2.0/", get(v2))
        .route("/v2.0/extensions", get(extensions))
        .route("/v2.0/networks", get(list_networks).post(create_network))
        .route(
            "/v2.0/networks/{id}",
            get(get_network).delete(delete_network),
        )
        .route("/v2.0/subnets", get(list_subnets).post(create_subnet))
        .route("/v2.0/subnets/{id}", get(get_subnet).delete(delete_subnet))
        .route("/v2.0/ports", get(list_ports).post(create_port))
        .route(
            "/v2.0/ports/{id}",
            get(get_port).put(update_port).delete(delete_port),
        )
        .route("/v2.0/security-groups", get(list_groups).post(create_group))
        .route(
            "/v2.0/security-groups/{id}",
            get(get_group).put(update_group).delete(delete_group),
        )
        .route(
            "/v2.0/security-group-rules",
            get(list_rules).post(create_rule),
        )
        .route(
            "/v2.0/security-group-rules/{id}",
            get(get_rule).delete(delete_rule),
        )
        .route("/v2.0/floatingips", get(list_fips).post(create_fip))
        .route(
            "/v2.0/floatingips/{id}",
            get(get_fip).put(update_fip).delete(delete_fip),
        )
        .route("/v2.0/routers", get(list_routers).post(create_router))
        .route("/v2.0/routers/{id}", get(get_router).delete(delete_router))
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            axum::routing::put(add_interface),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            axum::routing::put(remove_interface),
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
    axum::Json(json!({"extensions": ext}))
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

fn with_std(v: Value, project_id: &str, created: time::OffsetDateTime, revision: u64) -> Value {
    let mut m = match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    std_attrs(&mut m, project_id, created, revision);
    Value::Object(m)
}

pub(super) fn network_json(st: &NState, n: &Network) -> Value {
    let subnets: Vec<&str> = st
        .subnets
        .values()
        .filter(|s| s.network_id == n.id)
        .map(|s| s.id.as_str())
        .collect();
    with_std(
        json!({"id": n.id, "name": n.name, "admin_state_up": true, "mtu": if n.external {1500} else {1450},
            "status": "ACTIVE", "subnets": subnets, "shared": n.shared, "router:external": n.external,
            "availability_zone_hints": [], "availability_zones": ["nova"], "ipv4_address_scope": null,
            "ipv6_address_scope": null, "port_security_enabled": true, "is_default": false,
            "qos_policy_id": null, "l2_adjacency": true, "dns_domain": ""}),
        &n.project_id,
        n.created_at,
        1,
    )
}

pub(super) fn subnet_json(s: &Subnet) -> Value {
    let mut hosts = s.cidr.hosts();
    let first = hosts.nth(1);
    let last = s.cidr.hosts().last();
    let pools = match (first, last) {
        (Some(a), Some(b)) => json!([{"start": a.to_string(), "end": b.to_string()}]),
        _ => json!([]),
    };
    with_std(
        json!({"id": s.id, "name": s.name, "network_id": s.network_id, "cidr": s.cidr.to_string(),
            "gateway_ip": s.gateway_ip.map(|g| g.to_string()), "ip_version": if s.cidr.addr().is_ipv4() {4} else {6},
            "enable_dhcp": true, "dns_nameservers": [], "allocation_pools": pools, "host_routes": [],
            "ipv6_ra_mode": null, "ipv6_address_mode": null, "subnetpool_id": null, "service_types": [],
            "dns_publish_fixed_ip": false}),
        &s.project_id,
        s.created_at,
        0,
    )
}

pub(super) fn port_json(p: &Port) -> Value {
    let fixed: Vec<Value> = p
        .fixed_ips
        .iter()
        .map(|(s, ip)| json!({"subnet_id": s, "ip_address": ip.to_string()}))
        .collect();
    with_std(
        json!({"id": p.id, "name": p.name, "network_id": p.network_id, "mac_address": p.mac_address,
            "admin_state_up": true, "status": if p.device_id.is_empty() { "DOWN" } else { "ACTIVE" }, "device_id": p.device_id, "device_owner": p.device_owner,
            "fixed_ips": fixed, "allowed_address_pairs": [], "extra_dhcp_opts": [], "security_groups": p.security_groups,
            "binding:vnic_type": "normal", "port_security_enabled": true, "dns_name": "", "propagate_uplink_status": false}),
        &p.project_id,
        p.created_at,
        1,
    )
}

fn rule_json(r: &super::Rule, default_group: bool) -> Value {
    with_std(
        json!({"id": r.id, "security_group_id": r.security_group_id, "direction": r.spec.direction,
            "ethertype": r.spec.ethertype, "protocol": r.spec.protocol, "port_range_min": r.spec.port_range_min,
            "port_range_max": r.spec.port_range_max, "remote_ip_prefix": r.spec.remote_ip_prefix,
            "remote_group_id": r.spec.remote_group_id, "remote_address_group_id": null,
            "normalized_cidr": r.spec.normalized_cidr(), "description": r.description,
            "belongs_to_default_sg": default_group}),
        &r.project_id,
        r.created_at,
        0,
    )
}

pub(super) fn group_json(st: &NState, g: &SecurityGroup) -> Value {
    let rules: Vec<Value> = st
        .rules
        .values()
        .filter(|r| r.security_group_id == g.id)
        .map(|r| rule_json(r, g.name == "default"))
        .collect();
    with_std(
        json!({"id": g.id, "name": g.name, "description": g.description, "security_group_rules": rules,
            "stateful": true, "shared": false}),
        &g.project_id,
        g.created_at,
        g.revision,
    )
}

/// A floating IP; `port_details` describes its port when associated (Neutron's
/// `fip-port-details` extension).
pub(super) fn fip_json(st: &NState, f: &FloatingIp) -> Value {
    let port_details = f
        .port_id
        .as_ref()
        .and_then(|id| st.ports.get(id))
        .map(|p| {
            json!({"name": p.name, "network_id": p.network_id, "mac_address": p.mac_address,
                "admin_state_up": true, "status": "ACTIVE", "device_id": p.device_id,
                "device_owner": p.device_owner})
        })
        .unwrap_or(Value::Null);
    with_std(
        json!({"id": f.id, "floating_network_id": f.floating_network_id,
            "floating_ip_address": f.floating_ip_address.to_string(),
            "fixed_ip_address": f.fixed_ip_address.map(|i| i.to_string()), "port_id": f.port_id,
            "router_id": f.router_id, "status": if f.port_id.is_some() {"ACTIVE"} else {"DOWN"},
            "description": f.description, "dns_domain": "", "dns_name": "", "port_details": port_details,
            "qos_policy_id": null, "port_forwardings": []}),
        &f.project_id,
        f.created_at,
        f.revision,
    )
}

pub(super) fn router_json(st: &NState, r: &super::Router) -> Value {
    let gw = match (&r.gateway_network_id, &r.gateway_ip) {
        (Some(net), Some((subnet, ip))) => json!({"network_id": net, "enable_snat": true,
            "external_fixed_ips": [{"subnet_id": subnet, "ip_address": ip.to_string()}]}),
        _ => Value::Null,
    };
    let _ = st;
    with_std(
        json!({"id": r.id, "name": r.name, "admin_state_up": true, "status": "ACTIVE",
            "external_gateway_info": gw, "routes": [], "availability_zone_hints": [],
            "availability_zones": ["nova"], "flavor_id": null, "distributed": false, "ha": false}),
        &r.project_id,
        r.created_at,
        3,
    )
}

// ---------------------------------------------------------------- list plumbing

const NON_FILTERS: &[&str] = &[
    "fields",
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "page_reverse",
];

fn value_matches(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Bool(b) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Number(n) => n.to_string() == want,
        Value::Null => want.is_empty() || want == "None",
        Value::Array(a) => a.iter().any(|e| match (e, want.split_once('=')) {
            (Value::Object(o), Some((k, w))) => o.get(k).is_some_and(|x| value_matches(x, w)),
            (other, _) => value_matches(other, want),
        }),
        Value::Object(_) => false,
    }
}

/// Apply neutron's filters, paging and `fields` to `items`; answer `{collection: [...]}`.
fn list_response(
    cloud: &Cloud,
    collection: &str,
    path: &str,
    items: Vec<Value>,
    q: &[(String, String)],
) -> Result<Response, ApiError> {
    let mut filters: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in q {
        if !NON_FILTERS.contains(&k.as_str()) {
            filters.entry(k.as_str()).or_default().push(v.as_str());
        }
    }
    let mut items: Vec<Value> = items
        .into_iter()
        .filter(|item| {
            filters.iter().all(|(k, wants)| match item.get(*k) {
                Some(v) => wants.iter().any(|w| value_matches(v, w)),
                None => true,
            })
        })
        .collect();
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let mut links = Vec::new();
    if let Some(limit) = get("limit") {
        let limit: usize = limit.parse().map_err(|_| {
            ApiError::neutron(
                StatusCode::BAD_REQUEST,
                "HTTPBadRequest",
                format!("Invalid input for limit. Reason: '{limit}' is not an integer."),
            )
        })?;
        items.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        if let Some(marker) = get("marker") {
            items.retain(|i| i["id"].as_str().is_some_and(|id| id > marker));
        }
        if limit > 0 && items.len() > limit {
            items.truncate(limit);
            if let Some(last) = items.last().and_then(|i| i["id"].as_str()) {
                links.push(json!({"rel": "next", "href": format!("{}/network/v2.0/{path}?limit={limit}&marker={last}", cloud.base_url)}));
            }
        }
    }
    let fields: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.as_str())
        .collect();
    if !fields.is_empty() {
        for item in &mut items {
            if let Value::Object(m) = item {
                m.retain(|k, _| fields.contains(&k.as_str()));
            }
        }
    }
    let mut body = json!({ collection: items });
    if !links.is_empty() {
        body[format!("{collection}_links")] = Value::Array(links);
    }
    Ok(axum::Json(body).into_response())
}

fn visible(auth: &Auth, project_id: &str) -> bool {
    auth.is_admin || auth.project_id == project_id
}

fn ids(cloud: &Cloud) -> impl FnMut() -> String + '_ {
    || cloud.faults.random_uuid().to_string()
}

fn one(key: &str, v: Value) -> Response {
    axum::Json(json!({ key: v })).into_response()
}

fn created(key: &str, v: Value) -> Response {
    (StatusCode::CREATED, axum::Json(json!({ key: v }))).into_response()
}

/// The object under `key` of a request body, with only `allowed` attributes.
fn body_object(body: &[u8], key: &str, allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let v: Value = parse_json(Service::Neutron, body)?;
    let obj = v
        .get(key)
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| {
            ApiError::neutron(
                StatusCode::BAD_REQUEST,
                "HTTPBadRequest",
                format!("Resource body required: '{key}' not found in request body"),
            )
        })?;
    let unknown: Vec<&String> = obj
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        return Err(ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
            format!("Unrecognized attribute(s) '{}'", names.join(", ")),
        ));
    }
    Ok(obj)
}

fn opt_str(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
            format!("Invalid input for {key}. Reason: '{other}' is not a valid string."),
        )),
    }
}

fn opt_port(obj: &Map<String, Value>, key: &str) -> Result<Option<u32>, ApiError> {
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

fn owner(auth: &Auth, obj: &Map<String, Value>) -> Result<String, ApiError> {
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

// ---------------------------------------------------------------- networks, subnets, ports, routers

async fn list_networks(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let items: Vec<Value> = {
        let st = cloud.neutron.lock();
        st.networks
            .values()
            .filter(|n| visible(&auth, &n.project_id) || n.shared || n.external)
            .map(|n| network_json(&st, n))
            .collect()
    };
    list_response(&cloud, "networks", "networks", items, &q)
}

async fn get_network(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let st = cloud.neutron.lock();
    let n = st
        .networks
        .get(&id)
        .filter(|n| visible(&auth, &n.project_id) || n.shared || n.external)
        .ok_or_else(|| not_found("Network", &id))?;
    Ok(one("network", select_fields(network_json(&st, n), &q)))
}

fn select_fields(mut v: Value, q: &[(String, String)]) -> Value {
    let fields: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.as_str())
        .collect();
    if !fields.is_empty()
        && let Value::Object(m) = &mut v
    {
        m.retain(|k, _| fields.contains(&k.as_str()));
    }
    v
}

async fn create_network(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "network",
        &[
            "name",
            "admin_state_up",
            "shared",
            "router:external",
            "project_id",
            "tenant_id",
            "description",
            "mtu",
            "port_security_enabled",
        ],
    )?;
    let project = owner(&auth, &obj)?;
    let external = obj
        .get("router:external")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let shared = obj.get("shared").and_then(Value::as_bool).unwrap_or(false);
    if (external || shared) && !auth.is_admin {
        return Err(ApiError::neutron(
            StatusCode::FORBIDDEN,
            "PolicyNotAuthorized",
            "(rule:create_network and rule:create_network:shared) is disallowed by policy",
        ));
    }
    let id = cloud.faults.random_uuid().to_string();
    let name = opt_str(&obj, "name")?.unwrap_or_default();
    cloud
        .neutron
        .create_network(&id, &project, &name, external, shared, cloud.clock.now());
    let st = cloud.neutron.lock();
    let n = st
        .networks
        .get(&id)
        .ok_or_else(|| not_found("Network", &id))?;
    Ok(created("network", network_json(&st, n)))
}

async fn delete_network(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut st = cloud.neutron.lock();
    let n = st
        .networks
        .get(&id)
        .filter(|n| visible(&auth, &n.project_id))
        .ok_or_else(|| not_found("Network", &id))?;
    let nid = n.id.clone();
    if st.ports.values().any(|p| p.network_id == nid) {
        return Err(NetError::Conflict("NetworkInUse", format!("Unable to complete operation on network {nid}. There are one or more ports still in use on the network.")).into());
    }
    st.subnets.retain(|_, s| s.network_id != nid);
    st.networks.remove(&nid);
    Ok(StatusCode::NO_CONTENT)
}

async fn list_subnets(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let items: Vec<Value> = {
        let st = cloud.neutron.lock();
        st.subnets
            .values()
            .filter(|s| {
                visible(&auth, &s.project_id)
                    || st
                        .networks
                        .get(&s.network_id)
                        .is_some_and(|n| n.shared || n.external)
            })
            .map(subnet_json)
            .collect()
    };
    list_response(&cloud, "subnets", "subnets", items, &q)
}

async fn get_subnet(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let st = cloud.neutron.lock();
    let s = st
        .subnets
        .get(&id)
        .filter(|s| {
            visible(&auth, &s.project_id)
                || st
                    .networks
                    .get(&s.network_id)
                    .is_some_and(|n| n.shared || n.external)
        })
        .ok_or_else(|| not_found("Subnet", &id))?;
    Ok(one("subnet", select_fields(subnet_json(s), &q)))
}

async fn list_ports(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let items: Vec<Value> = {
        let st = cloud.neutron.lock();
        st.ports
            .values()
            .filter(|p| visible(&auth, &p.project_id))
            .map(port_json)
            .collect()
    };
    list_response(&cloud, "ports", "ports", items, &q)
}

async fn get_port(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let st = cloud.neutron.lock();
    let p = st
        .ports
        .get(&id)
        .filter(|p| visible(&auth, &p.project_id))
        .ok_or_else(|| not_found("Port", &id))?;
    Ok(one("port", select_fields(port_json(p), &q)))
}

async fn create_port(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "port",
        &[
            "network_id",
            "name",
            "fixed_ips",
            "security_groups",
            "description",
            "admin_state_up",
            "project_id",
            "tenant_id",
            "device_id",
            "device_owner",
            "port_security_enabled",
            "binding:vnic_type",
        ],
    )?;
    let project = owner(&auth, &obj)?;
    let network = opt_str(&obj, "network_id")?.ok_or_else(|| {
        ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
            "Failed to parse request. Required attribute 'network_id' not specified",
        )
    })?;
    let mut fixed = Vec::new();
    if let Some(list) = obj.get("fixed_ips") {
        let list = list.as_array().ok_or_else(|| {
            ApiError::neutron(StatusCode::BAD_REQUEST, "HTTPBadRequest", format!("Invalid input for fixed_ips. Reason: Invalid data format for fixed IP: '{list}'."))
        })?;
        for item in list {
            let o = item.as_object().cloned().unwrap_or_default();
            fixed.push(super::FixedIpRequest {
                subnet_id: opt_str(&o, "subnet_id")?,
                ip_address: parse_ip(opt_str(&o, "ip_address")?, "ip_address")?,
            });
        }
    }
    let groups = match obj.get("security_groups") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect(),
        ),
        Some(other) => {
            return Err(ApiError::neutron(
                StatusCode::BAD_REQUEST,
                "HTTPBadRequest",
                format!("Invalid input for security_groups. Reason: '{other}' is not a list."),
            ));
        }
    };
    let name = opt_str(&obj, "name")?.unwrap_or_default();
    let id = cloud.faults.random_uuid().to_string();
    let mac = cloud.faults.random_u64();
    let mut next_id = ids(&cloud);
    let port = cloud.neutron.create_port(
        &project,
        &network,
        &name,
        &fixed,
        groups,
        id,
        mac,
        cloud.clock.now(),
        &mut next_id,
    )?;
    Ok(created("port", port_json(&port)))
}

async fn update_port(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "port",
        &[
            "name",
            "security_groups",
            "description",
            "admin_state_up",
            "device_id",
            "device_owner",
        ],
    )?;
    let mut st = cloud.neutron.lock();
    let project = st
        .ports
        .get(&id)
        .filter(|p| visible(&auth, &p.project_id))
        .map(|p| p.project_id.clone())
        .ok_or_else(|| not_found("Port", &id))?;
    if let Some(Value::Array(list)) = obj.get("security_groups") {
        let groups: Vec<String> = list
            .iter()
            .filter_map(|g| g.as_str().map(str::to_string))
            .collect();
        for g in &groups {
            if st
                .security_groups
                .get(g)
                .is_none_or(|x| x.project_id != project)
            {
                return Err(not_found("Security group", g).into());
            }
        }
        if let Some(p) = st.ports.get_mut(&id) {
            p.security_groups = groups;
        }
    }
    let name = opt_str(&obj, "name")?;
    let device_id = opt_str(&obj, "device_id")?;
    let device_owner = opt_str(&obj, "device_owner")?;
    let p = st
        .ports
        .get_mut(&id)
        .ok_or_else(|| not_found("Port", &id))?;
    if let Some(n) = name {
        p.name = n;
    }
    if let Some(d) = device_id {
        p.device_id = d;
    }
    if let Some(d) = device_owner {
        p.device_owner = d;
    }
    Ok(one("port", port_json(p)))
}

async fn delete_port(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let owner = {
        let st = cloud.neutron.lock();
        st.ports
            .get(&id)
            .filter(|p| visible(&auth, &p.project_id))
            .map(|p| p.device_owner.clone())
            .ok_or_else(|| not_found("Port", &id))?
    };
    if owner == "network:router_interface" {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "L3PortInUse",
            format!(
                "Port {id} cannot be deleted directly via the port API: has device owner {owner}."
            ),
        ));
    }
    cloud.neutron.delete_port(&id);
    Ok(StatusCode::NO_CONTENT)
}

async fn list_routers(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let items: Vec<Value> = {
        let st = cloud.neutron.lock();
        st.routers
            .values()
            .filter(|r| visible(&auth, &r.project_id))
            .map(|r| router_json(&st, r))
            .collect()
    };
    list_response(&cloud, "routers", "routers", items, &q)
}

async fn get_router(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let st = cloud.neutron.lock();
    let r = st
        .routers
        .get(&id)
        .filter(|r| visible(&auth, &r.project_id))
        .ok_or_else(|| not_found("Router", &id))?;
    Ok(one("router", select_fields(router_json(&st, r), &q)))
}

// ---------------------------------------------------------------- security groups

fn ensure_default_for(cloud: &Cloud, auth: &Auth) {
    let now = cloud.clock.now();
    let mut next_id = ids(cloud);
    cloud
        .neutron
        .ensure_default_group(&auth.project_id, now, &mut next_id);
}

async fn list_groups(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    ensure_default_for(&cloud, &auth);
    let items: Vec<Value> = {
        let st = cloud.neutron.lock();
        st.security_groups
            .values()
            .filter(|g| visible(&auth, &g.project_id))
            .map(|g| group_json(&st, g))
            .collect()
    };
    list_response(&cloud, "security_groups", "security-groups", items, &q)
}

async fn get_group(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    ensure_default_for(&cloud, &auth);
    let st = cloud.neutron.lock();
    let g = st
        .security_groups
        .get(&id)
        .filter(|g| visible(&auth, &g.project_id))
        .ok_or_else(|| not_found("Security group", &id))?;
    Ok(one("security_group", select_fields(group_json(&st, g), &q)))
}

async fn create_group(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "security_group",
        &["name", "description", "project_id", "tenant_id", "stateful"],
    )?;
    let project = owner(&auth, &obj)?;
    let name = opt_str(&obj, "name")?.unwrap_or_default();
    if name == "default" {
        let exists = cloud
            .neutron
            .lock()
            .security_groups
            .values()
            .any(|g| g.project_id == project && g.name == "default");
        if exists {
            return Err(ApiError::neutron(
                StatusCode::CONFLICT,
                "SecurityGroupDefaultAlreadyExists",
                "Default security group already exists.",
            ));
        }
    }
    let desc = opt_str(&obj, "description")?.unwrap_or_default();
    let now = cloud.clock.now();
    let mut next_id = ids(&cloud);
    let g = cloud
        .neutron
        .create_group(&project, &name, &desc, now, &mut next_id);
    let st = cloud.neutron.lock();
    Ok(created("security_group", group_json(&st, &g)))
}

async fn update_group(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "security_group",
        &["name", "description", "stateful"],
    )?;
    let mut st = cloud.neutron.lock();
    let g = st
        .security_groups
        .get_mut(&id)
        .filter(|g| visible(&auth, &g.project_id))
        .ok_or_else(|| not_found("Security group", &id))?;
    if let Some(name) = opt_str(&obj, "name")? {
        if g.name == "default" && name != "default" {
            return Err(ApiError::neutron(
                StatusCode::CONFLICT,
                "SecurityGroupCannotUpdateDefault",
                "Updating default security group not allowed.",
            ));
        }
        g.name = name;
    }
    if let Some(d) = opt_str(&obj, "description")? {
        g.description = d;
    }
    g.revision += 1;
    let g = g.clone();
    Ok(one("security_group", group_json(&st, &g)))
}

async fn delete_group(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut st = cloud.neutron.lock();
    let g = st
        .security_groups
        .get(&id)
        .filter(|g| visible(&auth, &g.project_id))
        .ok_or_else(|| not_found("Security group", &id))?;
    if g.name == "default" && !auth.is_admin {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "SecurityGroupCannotRemoveDefault",
            "Insufficient rights for removing default security group.",
        ));
    }
    if st.ports.values().any(|p| p.security_groups.contains(&id)) {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "SecurityGroupInUse",
            format!("Security Group {id} in use."),
        ));
    }
    st.security_groups.remove(&id);
    st.rules.retain(|_, r| r.security_group_id != id);
    Ok(StatusCode::NO_CONTENT)
}

async fn list_rules(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    ensure_default_for(&cloud, &auth);
    let items: Vec<Value> = {
        let st = cloud.neutron.lock();
        st.rules
            .values()
            .filter(|r| visible(&auth, &r.project_id))
            .map(|r| {
                rule_json(
                    r,
                    st.security_groups
                        .get(&r.security_group_id)
                        .is_some_and(|g| g.name == "default"),
                )
            })
            .collect()
    };
    list_response(
        &cloud,
        "security_group_rules",
        "security-group-rules",
        items,
        &q,
    )
}

async fn get_rule(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let st = cloud.neutron.lock();
    let r = st
        .rules
        .get(&id)
        .filter(|r| visible(&auth, &r.project_id))
        .ok_or_else(|| not_found("Security group rule", &id))?;
    let default = st
        .security_groups
        .get(&r.security_group_id)
        .is_some_and(|g| g.name == "default");
    Ok(one(
        "security_group_rule",
        select_fields(rule_json(r, default), &q),
    ))
}

async fn create_rule(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "security_group_rule",
        &[
            "security_group_id",
            "direction",
            "ethertype",
            "protocol",
            "port_range_min",
            "port_range_max",
            "remote_ip_prefix",
            "remote_group_id",
            "remote_address_group_id",
            "description",
            "project_id",
            "tenant_id",
        ],
    )?;
    let group_id = opt_str(&obj, "security_group_id")?.ok_or_else(|| {
        ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
            "Failed to parse request. Required attribute 'security_group_id' not specified",
        )
    })?;
    let direction = opt_str(&obj, "direction")?.ok_or_else(|| {
        ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
            "Failed to parse request. Required attribute 'direction' not specified",
        )
    })?;
    let protocol = match obj.get("protocol") {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => opt_str(&obj, "protocol")?,
    };
    let spec = RuleSpec {
        direction,
        ethertype: opt_str(&obj, "ethertype")?.unwrap_or_else(|| "IPv4".into()),
        protocol,
        port_range_min: opt_port(&obj, "port_range_min")?,
        port_range_max: opt_port(&obj, "port_range_max")?,
        remote_ip_prefix: opt_str(&obj, "remote_ip_prefix")?,
        remote_group_id: opt_str(&obj, "remote_group_id")?,
    };
    // The group must be visible to the caller; the rule belongs to the group's project.
    let project = {
        let st = cloud.neutron.lock();
        let g = st
            .security_groups
            .get(&group_id)
            .filter(|g| visible(&auth, &g.project_id))
            .ok_or_else(|| not_found("Security group", &group_id))?;
        g.project_id.clone()
    };
    let desc = opt_str(&obj, "description")?.unwrap_or_default();
    let id = cloud.faults.random_uuid().to_string();
    let rule = cloud
        .neutron
        .add_rule(&project, &group_id, spec, &desc, id, cloud.clock.now())?;
    let default = cloud
        .neutron
        .lock()
        .security_groups
        .get(&group_id)
        .is_some_and(|g| g.name == "default");
    Ok(created("security_group_rule", rule_json(&rule, default)))
}

async fn delete_rule(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut st = cloud.neutron.lock();
    let r = st
        .rules
        .get(&id)
        .filter(|r| visible(&auth, &r.project_id))
        .ok_or_else(|| not_found("Security group rule", &id))?;
    let gid = r.security_group_id.clone();
    st.rules.remove(&id);
    if let Some(g) = st.security_groups.get_mut(&gid) {
        g.revision += 1;
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- floating IPs

async fn list_fips(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let items: Vec<Value> = {
        let st = cloud.neutron.lock();
        st.floatingips
            .values()
            .filter(|f| visible(&auth, &f.project_id))
            .map(|f| fip_json(&st, f))
            .collect()
    };
    list_response(&cloud, "floatingips", "floatingips", items, &q)
}

async fn get_fip(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let st = cloud.neutron.lock();
    let f = st
        .floatingips
        .get(&id)
        .filter(|f| visible(&auth, &f.project_id))
        .ok_or_else(|| not_found("Floating IP", &id))?;
    Ok(one("floatingip", select_fields(fip_json(&st, f), &q)))
}

fn parse_ip(s: Option<String>, key: &str) -> Result<Option<IpAddr>, ApiError> {
    s.map(|s| {
        s.parse::<IpAddr>().map_err(|_| {
            ApiError::neutron(
                StatusCode::BAD_REQUEST,
                "HTTPBadRequest",
                format!("Invalid input for {key}. Reason: '{s}' is not a valid IP address."),
            )
        })
    })
    .transpose()
}

async fn create_fip(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "floatingip",
        &[
            "floating_network_id",
            "floating_ip_address",
            "port_id",
            "fixed_ip_address",
            "description",
            "project_id",
            "tenant_id",
            "subnet_id",
            "dns_name",
            "dns_domain",
            "qos_policy_id",
        ],
    )?;
    let project = owner(&auth, &obj)?;
    let net = opt_str(&obj, "floating_network_id")?.ok_or_else(|| {
        ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
            "Failed to parse request. Required attribute 'floating_network_id' not specified",
        )
    })?;
    let address = parse_ip(opt_str(&obj, "floating_ip_address")?, "floating_ip_address")?;
    let fixed = parse_ip(opt_str(&obj, "fixed_ip_address")?, "fixed_ip_address")?;
    let port = opt_str(&obj, "port_id")?;
    let desc = opt_str(&obj, "description")?.unwrap_or_default();
    let id = cloud.faults.random_uuid().to_string();
    let now = cloud.clock.now();
    let mut st = cloud.neutron.lock();
    if let Some(p) = &port
        && !st
            .ports
            .get(p)
            .is_some_and(|p| visible(&auth, &p.project_id))
    {
        return Err(not_found("Port", p).into());
    }
    let f = super::create_fip(&mut st, &project, &net, address, &desc, id.clone(), now)?;
    if port.is_some()
        && let Err(e) = super::set_fip_port(&mut st, &f.id, port.as_deref(), fixed)
    {
        st.floatingips.remove(&f.id);
        return Err(e.into());
    }
    let f = st
        .floatingips
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("Floating IP", &id))?;
    Ok(created("floatingip", fip_json(&st, &f)))
}

async fn update_fip(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "floatingip",
        &[
            "port_id",
            "fixed_ip_address",
            "description",
            "qos_policy_id",
        ],
    )?;
    let mut st = cloud.neutron.lock();
    if !st
        .floatingips
        .get(&id)
        .is_some_and(|f| visible(&auth, &f.project_id))
    {
        return Err(not_found("Floating IP", &id).into());
    }
    if obj.contains_key("port_id") {
        let port = opt_str(&obj, "port_id")?;
        let fixed = parse_ip(opt_str(&obj, "fixed_ip_address")?, "fixed_ip_address")?;
        super::set_fip_port(&mut st, &id, port.as_deref(), fixed)?;
    }
    if let Some(d) = opt_str(&obj, "description")?
        && let Some(f) = st.floatingips.get_mut(&id)
    {
        f.description = d;
        f.revision += 1;
    }
    let f = st
        .floatingips
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("Floating IP", &id))?;
    Ok(one("floatingip", fip_json(&st, &f)))
}

async fn delete_fip(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut st = cloud.neutron.lock();
    if !st
        .floatingips
        .get(&id)
        .is_some_and(|f| visible(&auth, &f.project_id))
    {
        return Err(not_found("Floating IP", &id).into());
    }
    st.floatingips.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- subnet and router changes

fn bad_input(msg: impl Into<String>) -> ApiError {
    ApiError::neutron(StatusCode::BAD_REQUEST, "HTTPBadRequest", msg)
}

async fn create_subnet(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "subnet",
        &[
            "network_id",
            "cidr",
            "ip_version",
            "name",
            "gateway_ip",
            "enable_dhcp",
            "dns_nameservers",
            "allocation_pools",
            "host_routes",
            "description",
            "project_id",
            "tenant_id",
            "ipv6_ra_mode",
            "ipv6_address_mode",
        ],
    )?;
    let project = owner(&auth, &obj)?;
    let network = opt_str(&obj, "network_id")?.ok_or_else(|| {
        bad_input("Failed to parse request. Required attribute 'network_id' not specified")
    })?;
    let cidr_s = opt_str(&obj, "cidr")?.ok_or_else(|| {
        bad_input("Bad subnets request: a cidr must be specified in the absence of a subnet pool.")
    })?;
    let cidr: ipnet::IpNet = cidr_s.parse().map_err(|_| {
        bad_input(format!(
            "Invalid input for cidr. Reason: '{cidr_s}' is not a valid IP subnet."
        ))
    })?;
    let version = obj.get("ip_version").and_then(Value::as_u64).unwrap_or(4);
    if (version == 4) != cidr.addr().is_ipv4() {
        return Err(bad_input(format!(
            "Invalid input for operation: Cidr {cidr_s} does not match the IP version {version}."
        )));
    }
    let gateway = parse_ip(opt_str(&obj, "gateway_ip")?, "gateway_ip")?;
    if gateway.is_some_and(|g| !cidr.contains(&g)) {
        return Err(bad_input(
            "Invalid input for operation: Gateway is not valid on subnet.",
        ));
    }
    let now = cloud.clock.now();
    let id = cloud.faults.random_uuid().to_string();
    {
        let st = cloud.neutron.lock();
        let net = st
            .networks
            .get(&network)
            .filter(|n| visible(&auth, &n.project_id))
            .ok_or_else(|| not_found("Network", &network))?;
        if let Some(other) = st.subnets.values().find(|s| {
            s.network_id == net.id
                && (s.cidr.contains(&cidr.network()) || cidr.contains(&s.cidr.network()))
        }) {
            return Err(bad_input(format!(
                "Invalid input for operation: Requested subnet with cidr: {cidr} for network: {network} overlaps with another subnet {}.",
                other.id
            )));
        }
    }
    let name = opt_str(&obj, "name")?.unwrap_or_default();
    cloud
        .neutron
        .create_subnet(&id, &project, &network, &name, cidr, now);
    let mut st = cloud.neutron.lock();
    let subnet = st
        .subnets
        .get_mut(&id)
        .ok_or_else(|| not_found("Subnet", &id))?;
    if gateway.is_some() {
        subnet.gateway_ip = gateway;
    }
    Ok(created("subnet", subnet_json(subnet)))
}

async fn delete_subnet(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut st = cloud.neutron.lock();
    if !st
        .subnets
        .get(&id)
        .is_some_and(|s| visible(&auth, &s.project_id))
    {
        return Err(not_found("Subnet", &id).into());
    }
    if st
        .ports
        .values()
        .any(|p| p.fixed_ips.iter().any(|(s, _)| *s == id))
    {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "SubnetInUse",
            format!(
                "Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."
            ),
        ));
    }
    st.subnets.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

async fn create_router(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "router",
        &[
            "name",
            "admin_state_up",
            "external_gateway_info",
            "description",
            "project_id",
            "tenant_id",
            "distributed",
            "ha",
            "availability_zone_hints",
        ],
    )?;
    let project = owner(&auth, &obj)?;
    let name = opt_str(&obj, "name")?.unwrap_or_default();
    let gateway_net = obj
        .get("external_gateway_info")
        .and_then(|g| g.get("network_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let id = cloud.faults.random_uuid().to_string();
    let now = cloud.clock.now();
    let mut st = cloud.neutron.lock();
    let gateway_ip = match &gateway_net {
        Some(net) => {
            if !st.networks.get(net).is_some_and(|n| n.external) {
                return Err(ApiError::neutron(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("Bad router request: Network {net} is not an external network."),
                ));
            }
            let subnet = st
                .subnets
                .values()
                .find(|s| s.network_id == *net)
                .map(|s| s.id.clone())
                .ok_or_else(|| {
                    ApiError::neutron(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        format!("Bad router request: No subnets on network {net}."),
                    )
                })?;
            let ip = super::allocate_ip(&st, &subnet)?;
            Some((subnet, ip))
        }
        None => None,
    };
    let router = super::Router {
        id: id.clone(),
        name,
        project_id: project,
        gateway_network_id: gateway_net,
        gateway_ip,
        created_at: now,
    };
    st.routers.insert(id, router.clone());
    Ok(created("router", router_json(&st, &router)))
}

async fn delete_router(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut st = cloud.neutron.lock();
    if !st
        .routers
        .get(&id)
        .is_some_and(|r| visible(&auth, &r.project_id))
    {
        return Err(not_found("Router", &id).into());
    }
    if st.ports.values().any(|p| p.device_id == id) {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "RouterInUse",
            format!("Router {id} still has ports"),
        ));
    }
    if st
        .floatingips
        .values()
        .any(|f| f.router_id.as_deref() == Some(id.as_str()))
    {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "RouterInUse",
            format!("Router {id} still has floating IPs"),
        ));
    }
    st.routers.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

fn interface_json(router: &super::Router, port: &Port) -> Value {
    let subnet_ids: Vec<&str> = port.fixed_ips.iter().map(|(s, _)| s.as_str()).collect();
    json!({"id": router.id, "tenant_id": router.project_id, "project_id": router.project_id,
           "port_id": port.id, "network_id": port.network_id, "subnet_id": subnet_ids.first(),
           "subnet_ids": subnet_ids})
}

async fn add_interface(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let v: Value = parse_json(Service::Neutron, &body)?;
    let subnet_id = v.get("subnet_id").and_then(Value::as_str).ok_or_else(|| {
        bad_input("Bad router request: Either subnet_id or port_id must be specified.")
    })?;
    let now = cloud.clock.now();
    let port_id = cloud.faults.random_uuid().to_string();
    let mac = cloud.faults.random_u64();
    let mut st = cloud.neutron.lock();
    let router = st
        .routers
        .get(&id)
        .filter(|r| visible(&auth, &r.project_id))
        .cloned()
        .ok_or_else(|| not_found("Router", &id))?;
    let subnet = st
        .subnets
        .get(subnet_id)
        .filter(|s| visible(&auth, &s.project_id))
        .cloned()
        .ok_or_else(|| not_found("Subnet", subnet_id))?;
    if st
        .ports
        .values()
        .any(|p| p.device_id == id && p.fixed_ips.iter().any(|(s, _)| *s == subnet.id))
    {
        return Err(ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!(
                "Bad router request: Router already has a port on subnet {}.",
                subnet.id
            ),
        ));
    }
    let ip = subnet.gateway_ip.ok_or_else(|| {
        ApiError::neutron(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!(
                "Bad router request: Subnet {} does not have a gateway IP.",
                subnet.id
            ),
        )
    })?;
    let port = Port {
        id: port_id.clone(),
        name: String::new(),
        network_id: subnet.network_id.clone(),
        project_id: router.project_id.clone(),
        mac_address: super::mac_from(mac),
        fixed_ips: vec![(subnet.id.clone(), ip)],
        device_id: id.clone(),
        device_owner: "network:router_interface".into(),
        security_groups: Vec::new(),
        created_at: now,
        nova_owned: false,
    };
    st.ports.insert(port_id, port.clone());
    Ok(axum::Json(interface_json(&router, &port)).into_response())
}

async fn remove_interface(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let v: Value = parse_json(Service::Neutron, &body)?;
    let mut st = cloud.neutron.lock();
    let router = st
        .routers
        .get(&id)
        .filter(|r| visible(&auth, &r.project_id))
        .cloned()
        .ok_or_else(|| not_found("Router", &id))?;
    let port = match (
        v.get("subnet_id").and_then(Value::as_str),
        v.get("port_id").and_then(Value::as_str),
    ) {
        (_, Some(port_id)) => st
            .ports
            .values()
            .find(|p| p.id == port_id && p.device_id == id)
            .cloned()
            .ok_or_else(|| {
                ApiError::neutron(
                    StatusCode::NOT_FOUND,
                    "RouterInterfaceNotFound",
                    format!("Router {id} does not have an interface with id {port_id}"),
                )
            })?,
        (Some(subnet_id), None) => st
            .ports
            .values()
            .find(|p| p.device_id == id && p.fixed_ips.iter().any(|(s, _)| s == subnet_id))
            .cloned()
            .ok_or_else(|| {
                ApiError::neutron(
                    StatusCode::NOT_FOUND,
                    "RouterInterfaceNotFoundForSubnet",
                    format!("Router {id} has no interface on subnet {subnet_id}"),
                )
            })?,
        (None, None) => {
            return Err(bad_input(
                "Bad router request: Either subnet_id or port_id must be specified.",
            ));
        }
    };
    let subnets: Vec<&String> = port.fixed_ips.iter().map(|(s, _)| s).collect();
    if st.floatingips.values().any(|f| {
        f.router_id.as_deref() == Some(id.as_str())
            && f.port_id
                .as_ref()
                .and_then(|p| st.ports.get(p))
                .is_some_and(|p| p.fixed_ips.iter().any(|(s, _)| subnets.contains(&s)))
    }) {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "RouterInterfaceInUseByFloatingIP",
            format!(
                "Router interface for subnet {} on router {id} cannot be deleted, as it is required by one or more floating IPs.",
                subnets.first().map(|s| s.as_str()).unwrap_or_default()
            ),
        ));
    }
    st.ports.remove(&port.id);
    Ok(axum::Json(interface_json(&router, &port)).into_response())
}
