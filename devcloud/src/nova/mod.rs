//! Nova v2.1 (servers, flavors, keypairs, createImage, os-security-groups,
//! os-simple-tenant-usage, limits, microversions), mounted at `/compute`. This file holds the
//! state, the version documents and microversion negotiation; the resources live in
//! `servers/`, `flavors.rs`, `keypairs.rs`, `usage.rs`. Talks to Neutron for ports and
//! security groups and to Glance for images; knows nothing about Keystone beyond `Auth`.

mod flavors;
pub(crate) mod groups;
mod keypairs;
mod servers;
mod usage;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use time::OffsetDateTime;

pub use flavors::Flavor;
pub use groups::ServerGroup;
pub use keypairs::{Keypair, fingerprint, generate as generate_keypair, insert as insert_keypair};
pub use servers::{
    BootRequest, Nic, Server, ServerView, boot, make_active, parse_boot_body, server_json,
};

use crate::cloud::{Cloud, SharedCloud};
use crate::error::ApiError;

/// The lowest microversion served.
pub const MIN_VERSION: Microversion = Microversion(2, 1);
/// The highest microversion served.
pub const MAX_VERSION: Microversion = Microversion(2, 96);

/// A compute API microversion (`2.79` = `Microversion(2, 79)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Microversion(pub u32, pub u32);

impl Microversion {
    /// `"2.44"` → `Microversion(2, 44)`.
    pub fn parse(s: &str) -> Option<Microversion> {
        let (a, b) = s.trim().split_once('.')?;
        Some(Microversion(a.parse().ok()?, b.parse().ok()?))
    }

    /// The highest microversion `cloud` offers: [`MAX_VERSION`], or lower when the
    /// `compute_max_microversion` knob says so (never below [`MIN_VERSION`]).
    pub fn max_of(cloud: &Cloud) -> Microversion {
        cloud
            .faults
            .get()
            .compute_max_microversion
            .as_deref()
            .and_then(Microversion::parse)
            .map_or(MAX_VERSION, |v| v.clamp(MIN_VERSION, MAX_VERSION))
    }

    /// Whether this is at least `2.minor`.
    pub fn at_least(self, minor: u32) -> bool {
        self >= Microversion(2, minor)
    }
}

impl std::fmt::Display for Microversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// Nova's state of one cloud.
#[derive(Debug, Default)]
pub struct State_ {
    /// Flavors by id.
    pub flavors: BTreeMap<String, Flavor>,
    /// Live servers by id.
    pub servers: BTreeMap<String, Server>,
    /// Deleted servers (for usage), by id.
    pub deleted: BTreeMap<String, Server>,
    /// Keypairs by (user id, name).
    pub keypairs: BTreeMap<(String, String), Keypair>,
    /// Next keypair database id.
    pub next_keypair_id: u64,
    /// Server groups by id.
    pub server_groups: BTreeMap<String, ServerGroup>,
}

/// Nova of one cloud.
#[derive(Debug, Default)]
pub struct Nova {
    state: Mutex<State_>,
    /// Creates received and still being carried out (see `create_accept_s`).
    accepting: std::sync::atomic::AtomicUsize,
}

impl Nova {
    /// An empty Nova.
    pub fn new() -> Nova {
        Nova::default()
    }

    /// Lock the state.
    pub fn lock(&self) -> MutexGuard<'_, State_> {
        self.state.lock().expect("nova mutex poisoned")
    }

    /// How many creates (`POST /servers`, `createImage`) were received and are still being
    /// carried out (see the `create_accept_s` knob).
    pub fn accepting(&self) -> usize {
        self.accepting.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Carry out a create as Nova does once it has accepted the request: after the
    /// `create_accept_s` knob's time, on its own task, so it is done even when the client
    /// has gone meanwhile.
    pub async fn accepted<T: Send + 'static>(
        cloud: &crate::cloud::SharedCloud,
        work: impl FnOnce(&crate::cloud::SharedCloud) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        use std::sync::atomic::Ordering;
        let delay = cloud.faults.get().create_accept_s;
        if delay <= 0.0 {
            return work(cloud);
        }
        cloud.nova.accepting.fetch_add(1, Ordering::SeqCst);
        let cloud = cloud.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs_f64(delay)).await;
            let made = work(&cloud);
            cloud.nova.accepting.fetch_sub(1, Ordering::SeqCst);
            made
        })
        .await
        .unwrap_or_else(|e| {
            Err(ApiError::nova(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("the create failed: {e}"),
            ))
        })
    }

    /// Add a flavor.
    pub fn add_flavor(&self, flavor: Flavor) {
        self.lock().flavors.insert(flavor.id.clone(), flavor);
    }

    /// Everything per project (servers, deleted servers) and per user (keypairs), stable order.
    pub fn dump(&self) -> Value {
        let st = self.lock();
        let mut per: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
        for (kind, map) in [("servers", &st.servers), ("deleted_servers", &st.deleted)] {
            for s in map.values() {
                let e = per.entry(s.project_id.clone()).or_default();
                let list = e.entry(kind).or_insert_with(|| json!([]));
                if let Value::Array(a) = list {
                    a.push(json!({"id": s.id, "name": s.name, "status": s.status(), "task_state": s.task_state,
                        "flavor_id": s.flavor_id, "image_id": s.image_id, "key_name": s.key_name,
                        "user_id": s.user_id, "disk_size": disk_size(&s.disk)}));
                }
            }
        }
        let mut keypairs: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for ((user, name), k) in &st.keypairs {
            keypairs
                .entry(user.clone())
                .or_default()
                .push(json!({"name": name, "fingerprint": k.fingerprint, "type": k.kind}));
        }
        json!({"projects": per, "keypairs_by_user": keypairs,
               "flavors": st.flavors.values().map(|f| json!({"id": f.id, "name": f.name})).collect::<Vec<_>>()})
    }
}

/// The routes under `/compute`.
pub fn router(cloud: SharedCloud) -> Router<SharedCloud> {
    let api = Router::new()
        .merge(servers::routes())
        .merge(flavors::routes())
        .merge(keypairs::routes())
        .merge(groups::routes())
        .merge(usage::routes())
        .route("/limits", get(limits))
        .layer(axum::middleware::from_fn_with_state(cloud, microversion));
    Router::new()
        .route("/", get(versions))
        .route("/v2.1", get(version))
        .route("/v2.1/", get(version))
        .route("/v2", get(legacy_version))
        .route("/v2/", get(legacy_version))
        .nest("/v2.1", api)
}

/// The legacy v2.0 API, listed as nova lists it (its document only: devcloud serves no v2.0
/// API behind it).
fn legacy_entry(cloud: &Cloud) -> Value {
    json!({
        "id": "v2.0",
        "status": "DEPRECATED",
        "version": "",
        "min_version": "",
        "updated": "2025-07-04T12:00:00Z",
        "links": [{"href": format!("{}/compute/v2/", cloud.base_url), "rel": "self"}],
    })
}

async fn legacy_version(State(cloud): State<SharedCloud>) -> axum::Json<Value> {
    let mut v = legacy_entry(&cloud);
    v["links"] = json!([
        {"href": format!("{}/compute/v2/", cloud.base_url), "rel": "self"},
        {"href": "http://docs.openstack.org/", "rel": "describedby", "type": "text/html"}
    ]);
    v["media-types"] = json!([{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}]);
    axum::Json(json!({"version": v}))
}

fn version_entry(cloud: &Cloud) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": Microversion::max_of(cloud).to_string(),
        "min_version": MIN_VERSION.to_string(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"href": format!("{}/compute/v2.1/", cloud.base_url), "rel": "self"}],
    })
}

async fn versions(State(cloud): State<SharedCloud>) -> axum::Json<Value> {
    axum::Json(json!({"versions": [legacy_entry(&cloud), version_entry(&cloud)]}))
}

async fn version(State(cloud): State<SharedCloud>) -> axum::Json<Value> {
    let mut v = version_entry(&cloud);
    v["links"] = json!([
        {"href": format!("{}/compute/v2.1/", cloud.base_url), "rel": "self"},
        {"href": "http://docs.openstack.org/", "rel": "describedby", "type": "text/html"}
    ]);
    v["media-types"] = json!([{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]);
    axum::Json(json!({"version": v}))
}

/// Parse the requested microversion from `OpenStack-API-Version: compute X` or
/// `X-OpenStack-Nova-API-Version: X` (`latest` = the maximum; none = 2.1), against the
/// highest version served, `max`.
pub fn negotiate(
    headers: &axum::http::HeaderMap,
    max: Microversion,
) -> Result<Microversion, ApiError> {
    let mut requested: Option<String> = None;
    for v in headers.get_all("openstack-api-version") {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(',') {
            let mut it = part.split_whitespace();
            if let (Some(service), Some(ver)) = (it.next(), it.next())
                && service.eq_ignore_ascii_case("compute")
            {
                requested = Some(ver.to_string());
            }
        }
    }
    if requested.is_none() {
        requested = headers
            .get("x-openstack-nova-api-version")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string());
    }
    let Some(req) = requested else {
        return Ok(MIN_VERSION);
    };
    if req.eq_ignore_ascii_case("latest") {
        return Ok(max);
    }
    let Some(v) = Microversion::parse(&req) else {
        return Err(ApiError::nova(
            StatusCode::BAD_REQUEST,
            format!(
                "API Version String {req} is of invalid format. Must be of format MajorNum.MinorNum."
            ),
        ));
    };
    if v < MIN_VERSION || v > max {
        return Err(ApiError::nova(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Version {v} is not supported by the API. Minimum is {MIN_VERSION} and maximum is {max}."
            ),
        ));
    }
    Ok(v)
}

fn version_headers(resp: &mut Response, v: Microversion) {
    let h = resp.headers_mut();
    if let Ok(x) = HeaderValue::from_str(&format!("compute {v}")) {
        h.insert("openstack-api-version", x);
    }
    if let Ok(x) = HeaderValue::from_str(&v.to_string()) {
        h.insert("x-openstack-nova-api-version", x);
    }
    h.insert(
        "vary",
        HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
    );
}

/// Negotiates the microversion, puts it in the request's extensions, echoes it back.
async fn microversion(State(cloud): State<SharedCloud>, mut req: Request, next: Next) -> Response {
    match negotiate(req.headers(), Microversion::max_of(&cloud)) {
        Ok(v) => {
            req.extensions_mut().insert(v);
            let mut resp = next.run(req).await;
            version_headers(&mut resp, v);
            // Nova's `ResponseObject.serialize` labels every answer it makes, a 204 without a
            // body too, `application/json`.
            if resp.status() == StatusCode::NO_CONTENT
                && !resp
                    .headers()
                    .contains_key(axum::http::header::CONTENT_TYPE)
            {
                resp.headers_mut().insert(
                    axum::http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            resp
        }
        Err(e) => {
            let mut resp = e.into_response();
            version_headers(&mut resp, MIN_VERSION);
            resp
        }
    }
}

async fn limits(
    auth: crate::auth::Auth,
    State(cloud): State<SharedCloud>,
    axum::Extension(mv): axum::Extension<Microversion>,
) -> axum::Json<Value> {
    let (instances, cores, ram) = usage(&cloud, &auth.project_id);
    let quota = cloud.faults.get().quota;
    let (max_groups, max_members) = groups::limits(&cloud);
    let groups_used = groups::count(&cloud, &auth.project_id);
    let max = |q: Option<u64>| q.map_or(json!(-1), |n| json!(n));
    let mut absolute = json!({
        "maxServerMeta": 128, "maxTotalCores": max(quota.cores),
        "maxTotalInstances": max(quota.instances), "maxTotalKeypairs": 100,
        "maxTotalRAMSize": max(quota.ram), "maxServerGroups": max_groups, "maxServerGroupMembers": max_members,
        "totalCoresUsed": cores, "totalInstancesUsed": instances, "totalRAMUsed": ram, "totalServerGroupsUsed": groups_used,
    });
    // 2.39 dropped the image-metadata quota from the limits.
    if !mv.at_least(39) {
        absolute["maxImageMeta"] = json!(128);
    }
    if !mv.at_least(36) {
        absolute["maxSecurityGroupRules"] = json!(-1);
        absolute["maxSecurityGroups"] = json!(-1);
        absolute["maxTotalFloatingIps"] = json!(-1);
        absolute["totalSecurityGroupsUsed"] = json!(0);
        absolute["totalFloatingIpsUsed"] = json!(0);
    }
    if !mv.at_least(57) {
        absolute["maxPersonality"] = json!(5);
        absolute["maxPersonalitySize"] = json!(10240);
    }
    axum::Json(json!({"limits": {"absolute": absolute, "rate": []}}))
}

/// A project's servers, their vCPUs and their RAM (MiB): what its quotas count.
pub fn usage(cloud: &Cloud, project_id: &str) -> (u64, u64, u64) {
    let st = cloud.nova.lock();
    let mine: Vec<&Server> = st
        .servers
        .values()
        .filter(|s| s.project_id == project_id)
        .collect();
    let flavors = || mine.iter().filter_map(|s| st.flavors.get(&s.flavor_id));
    let cores: u64 = flavors().map(|f| f.vcpus).sum();
    let ram: u64 = flavors().map(|f| f.ram).sum();
    (mine.len() as u64, cores, ram)
}

/// A resource over quota: its name, what was asked, what is used, the quota.
type Over = (&'static str, u64, u64, u64);

/// Nova's quota check of a boot (`check_num_instances_quota`): the resources over quota, in
/// order, as `TooManyInstances` words them (403 `forbidden`).
pub fn check_boot_quota(cloud: &Cloud, project_id: &str, flavor_id: &str) -> Result<(), ApiError> {
    let quota = cloud.faults.get().quota;
    let (instances, cores, ram) = usage(cloud, project_id);
    let (vcpus, mib) = cloud
        .nova
        .lock()
        .flavors
        .get(flavor_id)
        .map_or((0, 0), |f| (f.vcpus, f.ram));
    let mut overs: Vec<Over> = Vec::new();
    for (name, limit, used, wanted) in [
        ("cores", quota.cores, cores, vcpus),
        ("instances", quota.instances, instances, 1),
        ("ram", quota.ram, ram, mib),
    ] {
        if let Some(limit) = limit
            && used + wanted > limit
        {
            overs.push((name, wanted, used, limit));
        }
    }
    if overs.is_empty() {
        return Ok(());
    }
    let join = |column: fn(&Over) -> u64| {
        overs
            .iter()
            .map(|o| column(o).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let names = overs.iter().map(|o| o.0).collect::<Vec<_>>().join(", ");
    Err(ApiError::new(
        crate::error::Service::Nova,
        axum::http::StatusCode::FORBIDDEN,
        format!(
            "Quota exceeded for {names}: Requested {}, but already used {} of {} {names}",
            join(|o| o.1),
            join(|o| o.2),
            join(|o| o.3),
        ),
    ))
}

/// The byte length of a server disk.
fn disk_size(c: &crate::imagedata::Content) -> u64 {
    c.size()
}

/// Nova's `created`/`updated` format.
pub fn nova_time(t: OffsetDateTime) -> String {
    crate::clock::iso_seconds(t)
}

/// Python's `datetime.isoformat()` of a naive UTC time (micros omitted when zero), as Nova's
/// `launched_at` and usage `started_at`.
pub fn py_isoformat(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.microsecond() == 0 {
        base
    } else {
        format!("{base}.{:06}", t.microsecond())
    }
}

/// `{"href": ".../compute/v2.1/<what>", "rel": "self"}` + bookmark links.
pub fn links(cloud: &Cloud, what: &str) -> Value {
    json!([
        {"href": format!("{}/compute/v2.1/{what}", cloud.base_url), "rel": "self"},
        {"href": format!("{}/compute/{what}", cloud.base_url), "rel": "bookmark"}
    ])
}

/// 403 as Nova's policy enforcement words it.
pub fn policy_forbidden(rule: &str) -> ApiError {
    ApiError::nova(
        StatusCode::FORBIDDEN,
        format!("Policy doesn't allow {rule} to be performed."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn negotiate_max(h: &HeaderMap) -> Result<Microversion, ApiError> {
        negotiate(h, MAX_VERSION)
    }

    #[test]
    fn a_capped_maximum_refuses_what_is_above_it() {
        let cap = Microversion(2, 44);
        let req = |v: &'static str| headers(&[("openstack-api-version", v)]);
        assert_eq!(negotiate(&req("compute latest"), cap).unwrap(), cap);
        assert_eq!(negotiate(&req("compute 2.44"), cap).unwrap(), cap);
        let e = negotiate(&req("compute 2.45"), cap).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(Microversion::parse("2.44"), Some(cap));
        assert_eq!(Microversion::parse("two"), None);
    }

    #[test]
    fn negotiation_follows_both_headers() {
        assert_eq!(negotiate_max(&headers(&[])).unwrap(), MIN_VERSION);
        assert_eq!(
            negotiate_max(&headers(&[("openstack-api-version", "compute 2.79")])).unwrap(),
            Microversion(2, 79)
        );
        assert_eq!(
            negotiate_max(&headers(&[(
                "openstack-api-version",
                "image 2.5, compute 2.60"
            )]))
            .unwrap(),
            Microversion(2, 60)
        );
        assert_eq!(
            negotiate_max(&headers(&[("x-openstack-nova-api-version", "2.45")])).unwrap(),
            Microversion(2, 45)
        );
        assert_eq!(
            negotiate_max(&headers(&[("openstack-api-version", "compute latest")])).unwrap(),
            MAX_VERSION
        );
        // The new header wins over the old one.
        let both = headers(&[
            ("openstack-api-version", "compute 2.30"),
            ("x-openstack-nova-api-version", "2.10"),
        ]);
        assert_eq!(negotiate_max(&both).unwrap(), Microversion(2, 30));
        assert_eq!(
            negotiate_max(&headers(&[("openstack-api-version", "compute 3.0")]))
                .unwrap_err()
                .status,
            StatusCode::NOT_ACCEPTABLE
        );
        assert_eq!(
            negotiate_max(&headers(&[("openstack-api-version", "compute two")]))
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
        // 2.10 sorts above 2.9.
        assert!(Microversion(2, 10) > Microversion(2, 9));
    }

    #[test]
    fn python_isoformat_drops_zero_micros() {
        let t = time::macros::datetime!(2026-11-24 18:50:00 UTC);
        assert_eq!(py_isoformat(t), "2026-11-24T18:50:00");
        assert_eq!(
            py_isoformat(t + time::Duration::microseconds(5)),
            "2026-11-24T18:50:00.000005"
        );
    }
}
