//! The request path against a scripted fake cloud (axum on 127.0.0.1): discovery of
//! identity/compute/image/network versions, Keystone v3 and v2.0, catalog region and
//! interface, microversion fallback, paging, retries on 500/503/429 with Retry-After (a 429
//! pausing the whole cloud), no retry of a POST that reached the server (an unconfirmed
//! create), create-or-adopt without duplicates, token renewal after a
//! 401, the stall timeout of downloads, and that no secret appears in any log line (trace
//! level) or error.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

use s2d::cloud::compute::{ServerCreate, ServerQuery};
use s2d::cloud::config::{
    AuthMethod, AuthSpec, CloudConfig, IdentityVersion, ProjectScope, RequestLimits, RetryPolicy,
    Timeouts, TlsOptions,
};
use s2d::cloud::image::ImageQuery;
use s2d::cloud::{
    Cloud, Compute, Error, FlavorId, ImageId, Interface, Microversion, Secret, ServerId, Session,
    create_or_adopt,
};

const PASSWORD: &str = "pw-Very-Secret-1";
const APPCRED: &str = "appcred-Very-Secret-2";

/// One scripted answer replacing the normal one.
#[derive(Clone)]
struct Fault {
    status: u16,
    retry_after: Option<&'static str>,
    /// Do the work first, then answer with the fault (an ambiguous failure).
    after_work: bool,
}

#[derive(Default)]
struct Fake {
    base: String,
    v3: bool,
    compute_min: &'static str,
    compute_max: &'static str,
    valid_tokens: HashSet<String>,
    issued: u32,
    faults: HashMap<String, VecDeque<Fault>>,
    log: Vec<String>,
    servers: Vec<Value>,
    images: Vec<Value>,
    /// Token lifetime (default one hour).
    ttl: Option<Duration>,
    uploaded: usize,
}

type Shared = Arc<Mutex<Fake>>;

fn token_ok(s: &Fake, h: &HeaderMap) -> bool {
    h.get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| s.valid_tokens.contains(t))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": {"code": 401, "title": "Unauthorized",
            "message": "The request you have made requires authentication."}})),
    )
        .into_response()
}

fn catalog(base: &str) -> Value {
    json!([
        {"type": "compute", "name": "nova", "endpoints": [
            {"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{base}/compute/v2.1")},
            {"interface": "internal", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{base}/internal/compute/v2.1")},
            {"interface": "public", "region": "RegionTwo", "region_id": "RegionTwo", "url": format!("{base}/two/compute/v2.1")}
        ]},
        {"type": "image", "name": "glance", "endpoints": [
            {"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{base}/image")}
        ]},
        {"type": "network", "name": "neutron", "endpoints": [
            {"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{base}/network")}
        ]}
    ])
}

async fn identity_versions(State(s): State<Shared>) -> Response {
    let s = s.lock().unwrap();
    let mut values = vec![json!({"id": "v2.0", "status": "deprecated",
        "links": [{"rel": "self", "href": format!("{}/identity/v2.0/", s.base)}]})];
    if s.v3 {
        values.push(json!({"id": "v3.14", "status": "stable",
            "links": [{"rel": "self", "href": format!("{}/identity/v3/", s.base)}]}));
    }
    (
        StatusCode::MULTIPLE_CHOICES,
        axum::Json(json!({"versions": {"values": values}})),
    )
        .into_response()
}

fn issue(s: &mut Fake) -> String {
    s.issued += 1;
    let t = format!("tok-{}-{}", s.issued, "x".repeat(20));
    s.valid_tokens.insert(t.clone());
    t
}

async fn v3_tokens(State(s): State<Shared>, axum::Json(body): axum::Json<Value>) -> Response {
    let mut s = s.lock().unwrap();
    s.log.push("POST /identity/v3/auth/tokens".into());
    let id = &body["auth"]["identity"];
    let ok = id["password"]["user"]["password"] == PASSWORD
        || id["application_credential"]["secret"] == APPCRED;
    if !ok {
        return unauthorized();
    }
    let t = issue(&mut s);
    let ttl = s.ttl.unwrap_or(Duration::from_secs(3600));
    let exp = time::OffsetDateTime::now_utc() + ttl;
    let exp = exp
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = json!({"token": {"expires_at": exp, "catalog": catalog(&s.base),
        "project": {"id": "p1", "name": "demo"}, "user": {"id": "u1", "name": "alice"}}});
    (
        [("x-subject-token", t)],
        (StatusCode::CREATED, axum::Json(body)),
    )
        .into_response()
}

async fn v2_tokens(State(s): State<Shared>, axum::Json(body): axum::Json<Value>) -> Response {
    let mut s = s.lock().unwrap();
    s.log.push("POST /identity/v2.0/tokens".into());
    if body["auth"]["passwordCredentials"]["password"] != PASSWORD {
        return unauthorized();
    }
    let t = issue(&mut s);
    let base = s.base.clone();
    let body = json!({"access": {
    "token": {"id": t, "expires": "2999-01-01T00:00:00Z", "tenant": {"id": "p1", "name": "demo"}},
    "user": {"id": "u1"},
    "serviceCatalog": [
        {"type": "compute", "name": "nova", "endpoints": [{"region": "RegionOne",
            "publicURL": format!("{base}/compute/v2.1/p1"), "internalURL": format!("{base}/internal/compute/v2.1/p1")}]},
        {"type": "image", "name": "glance", "endpoints": [{"region": "RegionOne", "publicURL": format!("{base}/image")}]},
        {"type": "network", "name": "neutron", "endpoints": [{"region": "RegionOne", "publicURL": format!("{base}/network")}]}
    ]}});
    axum::Json(body).into_response()
}

async fn compute_version(State(s): State<Shared>) -> Response {
    let s = s.lock().unwrap();
    axum::Json(json!({"version": {"id": "v2.1", "status": "CURRENT",
        "version": s.compute_max, "min_version": s.compute_min,
        "links": [{"rel": "self", "href": format!("{}/compute/v2.1/", s.base)}]}}))
    .into_response()
}

/// Everything under /compute/v2.1, /image/v2 and /network/v2.0 that needs a token.
async fn api(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let path = uri.path().to_string();
    let key = format!("{method} {path}");
    let mut st = s.lock().unwrap();
    st.log.push(key.clone());
    if !token_ok(&st, &headers) {
        return unauthorized();
    }
    let fault = st.faults.get_mut(&key).and_then(VecDeque::pop_front);
    if let Some(f) = &fault
        && !f.after_work
    {
        let mut r = (
            StatusCode::from_u16(f.status).unwrap(),
            "<html><body><h1>503 Service Unavailable</h1>No server is available</body></html>",
        )
            .into_response();
        if let Some(ra) = f.retry_after {
            r.headers_mut().insert("retry-after", ra.parse().unwrap());
        }
        return r;
    }
    let mv = headers
        .get("x-openstack-nova-api-version")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Microversion>().ok());
    let resp = match (method.as_str(), path.as_str()) {
        ("GET", "/compute/v2.1/servers/detail") | ("GET", "/compute/v2.1/p1/servers/detail") => {
            let name = q.get("name").cloned();
            let all: Vec<Value> = st
                .servers
                .iter()
                .filter(|sv| {
                    name.as_ref()
                        .is_none_or(|n| format!("^{}$", sv["name"].as_str().unwrap()) == *n)
                })
                .cloned()
                .collect();
            let start = q
                .get("marker")
                .and_then(|m| all.iter().position(|sv| sv["id"] == m.as_str()).map(|p| p + 1))
                .unwrap_or(0);
            let page: Vec<Value> = all.iter().skip(start).take(2).cloned().collect();
            let mut body = json!({"servers": page});
            if start + 2 < all.len() {
                let last = page.last().unwrap()["id"].as_str().unwrap().to_string();
                body["servers_links"] = json!([{"rel": "next",
                    "href": format!("http://wrong-host/compute/v2.1/servers/detail?marker={last}")}]);
            }
            axum::Json(body).into_response()
        }
        ("GET", "/compute/v2.1/servers/elsewhere") => {
            // A redirect to another origin (localhost instead of 127.0.0.1).
            let to = st.base.replace("127.0.0.1", "localhost") + "/compute/v2.1/servers/x";
            (StatusCode::FOUND, [("location", to)]).into_response()
        }
        ("GET", "/compute/v2.1/servers/moved") => {
            let to = format!("{}/compute/v2.1/servers/srv-1", st.base);
            (StatusCode::FOUND, [("location", to)]).into_response()
        }
        ("POST", "/compute/v2.1/servers") => {
            let b: Value = serde_json::from_slice(&body).unwrap();
            let id = format!("srv-{}", st.servers.len() + 1);
            st.servers.push(json!({"id": id, "name": b["server"]["name"], "status": "ACTIVE",
                "image": {"id": b["server"]["imageRef"]}, "flavor": {"id": b["server"]["flavorRef"]},
                "metadata": b["server"]["metadata"].clone()}));
            (StatusCode::ACCEPTED, axum::Json(json!({"server": {"id": id, "adminPass": "ADMINPASS-secret"}})))
                .into_response()
        }
        ("POST", p) if p.starts_with("/compute/v2.1/servers/") && p.ends_with("/action") => {
            let image_id = "11111111-2222-3333-4444-555555555555";
            if mv.is_some_and(|m| m >= Microversion::new(2, 45)) {
                (StatusCode::ACCEPTED, axum::Json(json!({"image_id": image_id}))).into_response()
            } else {
                (
                    StatusCode::ACCEPTED,
                    [("location", format!("{}/image/v2/images/{image_id}", st.base))],
                )
                    .into_response()
            }
        }
        ("GET", p) if p.starts_with("/compute/v2.1/servers/") => {
            let id = p.rsplit('/').next().unwrap();
            match st.servers.iter().find(|sv| sv["id"] == id) {
                Some(sv) => axum::Json(json!({"server": sv})).into_response(),
                None => (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"itemNotFound": {"code": 404,
                        "message": format!("Instance {id} could not be found.")}})),
                )
                    .into_response(),
            }
        }
        ("GET", "/image/v2/images") => {
            let start: usize = q.get("marker").map(|m| m.parse().unwrap()).unwrap_or(0);
            let page: Vec<Value> = st.images.iter().skip(start).take(2).cloned().collect();
            let mut body = json!({"images": page, "first": "/v2/images", "schema": "/v2/schemas/images"});
            if start + 2 < st.images.len() {
                body["next"] = json!(format!("/v2/images?marker={}", start + 2));
            }
            axum::Json(body).into_response()
        }
        ("GET", "/compute/v2.1/os-simple-tenant-usage") => {
            // Two pages (2.40 paging): project p1 spans both, p2 only the second.
            let usage = |tenant: &str, server: &str, hours: f64| {
                json!({"tenant_id": tenant, "total_hours": hours, "total_vcpus_usage": hours,
                    "total_memory_mb_usage": hours * 512.0, "total_local_gb_usage": hours,
                    "start": q["start"], "stop": q["end"],
                    "server_usages": [{"instance_id": server, "name": server, "hours": hours,
                        "flavor": "m1.tiny", "vcpus": 1, "memory_mb": 512, "local_gb": 1,
                        "started_at": "2024-03-01T00:00:00.000000", "ended_at": null,
                        "state": "active", "uptime": 3600, "tenant_id": tenant}]})
            };
            if !q.contains_key("marker") {
                axum::Json(json!({"tenant_usages": [usage("p1", "a", 1.0)],
                    "tenant_usages_links": [{"rel": "next", "href": format!(
                        "http://x/v2.1/os-simple-tenant-usage?detailed=1&end={}&marker=a&start={}",
                        q["end"], q["start"])}]}))
                .into_response()
            } else {
                assert_eq!(q["start"], "2024-03-01T00:00:00.000000");
                axum::Json(json!({"tenant_usages": [usage("p1", "b", 2.0), usage("p2", "c", 4.0)]}))
                    .into_response()
            }
        }
        ("PUT", "/image/v2/images/ok/file") => {
            st.uploaded += body.len();
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", "/image/v2/images/slow/file") => {
            drop(st);
            let stream = async_stream_bytes();
            return Response::builder()
                .status(200)
                .header("content-md5", "abc")
                .header("content-length", "1000")
                .body(Body::from_stream(stream))
                .unwrap();
        }
        ("GET", "/network/v2.0/networks") => axum::Json(json!({"networks": [
            {"id": "net-1", "name": "public", "router:external": true, "subnets": ["sub-1"], "status": "ACTIVE"}
        ]}))
        .into_response(),
        ("GET", "/network/v2.0/subnets") => {
            // A broken cloud whose next links never end: always one more page.
            let n: u64 = q.get("marker").and_then(|m| m.parse().ok()).unwrap_or(0) + 1;
            axum::Json(json!({"subnets": [{"id": n.to_string(), "network_id": "net-1",
                "cidr": "10.0.0.0/24", "ip_version": 4}],
                "subnets_links": [{"rel": "next",
                    "href": format!("http://x/network/v2.0/subnets?marker={n}")}]}))
            .into_response()
        }
        _ => (StatusCode::NOT_FOUND, "404 Not Found\n\nThe resource could not be found.\n\n   ")
            .into_response(),
    };
    if let Some(f) = fault {
        // The work is done, but the client sees an error.
        let _ = resp;
        return StatusCode::from_u16(f.status).unwrap().into_response();
    }
    resp
}

/// 10 bytes, then silence.
fn async_stream_bytes() -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures_util::stream::unfold(0u8, |n| async move {
        match n {
            0 => Some((Ok(bytes::Bytes::from_static(b"0123456789")), 1)),
            _ => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                None
            }
        }
    })
}

async fn versions_doc(State(s): State<Shared>, uri: Uri) -> Response {
    let s = s.lock().unwrap();
    let body = if uri.path().starts_with("/image") {
        json!({"versions": [
            {"id": "v2.16", "status": "CURRENT", "links": [{"rel": "self", "href": format!("{}/image/v2/", s.base)}]},
            {"id": "v1.0", "status": "DELETED", "links": [{"rel": "self", "href": format!("{}/image/v1/", s.base)}]}
        ]})
    } else {
        json!({"versions": [
            {"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": format!("{}/network/v2.0/", s.base)}]}
        ]})
    };
    (StatusCode::MULTIPLE_CHOICES, axum::Json(body)).into_response()
}

async fn start(v3: bool, min: &'static str, max: &'static str) -> (Shared, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state: Shared = Arc::new(Mutex::new(Fake {
        base: base.clone(),
        v3,
        compute_min: min,
        compute_max: max,
        ..Fake::default()
    }));
    let app = Router::new()
        .route("/identity", get(identity_versions))
        .route("/identity/v3/auth/tokens", post(v3_tokens))
        .route("/identity/v2.0/tokens", post(v2_tokens))
        .route("/compute/v2.1", get(compute_version))
        .route("/internal/compute/v2.1", get(compute_version))
        .route("/image", get(versions_doc))
        .route("/network", get(versions_doc))
        .route("/internal/compute/v2.1/{*rest}", any(internal_marker))
        .route("/image/v2/images/stuck/file", axum::routing::put(stuck))
        .route("/compute/v2.1/servers/{id}", get(hostile_server))
        .fallback(api)
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (state, base)
}

/// A broken or hostile cloud's answers for three server ids: a Content-Length of 4 GiB, an
/// endless chunked body, a 100,000-deep JSON document. Any other id is the fake's own.
async fn hostile_server(
    state: State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
) -> Response {
    let endless = || {
        futures_util::stream::unfold(0u64, |n| async move {
            let chunk = if n == 0 {
                bytes::Bytes::from_static(b"{\"server\": {\"name\": \"")
            } else {
                bytes::Bytes::from(vec![b'a'; 1 << 20])
            };
            Some((Ok::<_, std::io::Error>(chunk), n + 1))
        })
    };
    match id.as_str() {
        "declared-huge" => {
            let mut r = Body::from_stream(endless()).into_response();
            r.headers_mut()
                .insert("content-length", (4u64 << 30).to_string().parse().unwrap());
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r
        }
        "endless" => {
            let mut r = Body::from_stream(endless()).into_response();
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r
        }
        "deep" => {
            let depth = 100_000;
            let body = format!(
                "{{\"server\": {{\"id\": \"deep\", \"name\": \"deep\", \"status\": \"ACTIVE\", \"unknown\": {}{}}}}}",
                "[".repeat(depth),
                "]".repeat(depth)
            );
            ([("content-type", "application/json")], body).into_response()
        }
        _ => api(state, method, uri, headers, query, axum::body::Bytes::new()).await,
    }
}

/// Never reads the body.
async fn stuck() -> Response {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    StatusCode::NO_CONTENT.into_response()
}

async fn internal_marker(Path(rest): Path<String>) -> Response {
    axum::Json(json!({"servers": [{"id": "internal", "name": rest, "status": "ACTIVE"}]}))
        .into_response()
}

fn config(base: &str, method: AuthMethod) -> CloudConfig {
    CloudConfig {
        name: "fake".into(),
        auth: AuthSpec {
            auth_url: format!("{base}/identity"),
            method,
            scope: ProjectScope {
                project_name: Some("demo".into()),
                project_domain_name: Some("Default".into()),
                ..Default::default()
            },
            default_domain_id: None,
            default_domain_name: None,
        },
        region: None,
        interface: Interface::Public,
        identity_api_version: None,
        endpoint_overrides: Default::default(),
        tls: TlsOptions::default(),
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(5),
            stall: Duration::from_millis(300),
        },
        retry: RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(5),
        },
        limits: RequestLimits::default(),
    }
}

fn password() -> AuthMethod {
    AuthMethod::Password {
        username: Some("alice".into()),
        user_id: None,
        password: Secret::new(PASSWORD),
        user_domain_name: Some("Default".into()),
        user_domain_id: None,
    }
}

fn fault(st: &Shared, key: &str, f: Fault, times: usize) {
    let mut s = st.lock().unwrap();
    let q = s.faults.entry(key.to_string()).or_default();
    for _ in 0..times {
        q.push_back(f.clone());
    }
}

fn count(st: &Shared, key: &str) -> usize {
    st.lock().unwrap().log.iter().filter(|l| *l == key).count()
}

fn server(name: &str) -> ServerCreate {
    ServerCreate {
        name: name.into(),
        image: Some(ImageId::from("img-1")),
        flavor: FlavorId::from("f1"),
        ..Default::default()
    }
}

#[tokio::test]
async fn v3_discovery_paging_and_microversion() {
    let (st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    assert_eq!(cloud.session.identity().version, IdentityVersion::V3);
    assert_eq!(cloud.compute.microversion(), Some(Microversion::new(2, 79)));
    assert_eq!(
        cloud.image.endpoint().base.as_str(),
        format!("{base}/image/v2")
    );
    assert_eq!(
        cloud.network.endpoint().base.as_str(),
        format!("{base}/network/v2.0")
    );
    for i in 0..5 {
        cloud
            .compute
            .create_server(&server(&format!("s{i}")))
            .await
            .unwrap();
    }
    // Five servers in pages of two; the next links carry a wrong host, only their query is used.
    let all = cloud
        .compute
        .list_servers(&ServerQuery::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(count(&st, "GET /compute/v2.1/servers/detail"), 3);
    let one = cloud
        .compute
        .list_servers(&ServerQuery {
            name: Some("s3".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].name, "s3");
    // get_opt: a missing server is None, not an error.
    assert!(
        cloud
            .compute
            .get_server(&ServerId::from("nope"))
            .await
            .unwrap()
            .is_none()
    );
    // createImage at 2.79 reads the body.
    let img = cloud
        .compute
        .create_image(&all[0].id, "snap", &Default::default())
        .await
        .unwrap();
    assert_eq!(img.as_str(), "11111111-2222-3333-4444-555555555555");
    // Glance paging via `next` (relative, without the /image prefix).
    st.lock().unwrap().images = (0..5)
        .map(|i| json!({"id": format!("i{i}"), "status": "active"}))
        .collect();
    let images = cloud.image.list(&ImageQuery::default()).await.unwrap();
    assert_eq!(images.len(), 5);
    let nets = cloud
        .network
        .networks(&[("router:external", "true".into())])
        .await
        .unwrap();
    assert!(nets[0].external);
}

fn assert_send<T: Send>(_: &T) {}

/// The engine runs calls in spawned tasks: every call's future must be `Send`.
#[tokio::test]
async fn call_futures_are_send() {
    let (_st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    let q = ServerQuery::default();
    let sid = ServerId::from("x");
    let iid = ImageId::from("i");
    let t = time::OffsetDateTime::now_utc();
    assert_send(&cloud.compute.list_servers(&q));
    assert_send(
        &cloud
            .compute
            .wait_for_server(&sid, "ACTIVE", Duration::from_secs(1)),
    );
    assert_send(&cloud.compute.create_image(&sid, "n", &Default::default()));
    assert_send(&cloud.compute.usage_all(t, t));
    assert_send(&cloud.image.upload(&iid, None, chunks(1, 1)));
    assert_send(&cloud.image.download(&iid, Some(5)));
    assert_send(
        &cloud
            .image
            .wait_for_status(&iid, "active", Duration::from_secs(1)),
    );
    assert_send(&cloud.network.floating_ips(&[]));
    assert_send(&Cloud::connect(config(&base, password())));
}

#[tokio::test]
async fn old_cloud_gets_the_image_id_from_location() {
    let (_st, base) = start(true, "2.1", "2.38").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    assert_eq!(cloud.compute.microversion(), Some(Microversion::new(2, 38)));
    let id = cloud.compute.create_server(&server("old")).await.unwrap();
    let img = cloud
        .compute
        .create_image(&id, "snap", &Default::default())
        .await
        .unwrap();
    assert_eq!(img.as_str(), "11111111-2222-3333-4444-555555555555");
}

#[tokio::test]
async fn too_new_a_minimum_is_refused() {
    let (_st, base) = start(true, "2.97", "2.100").await;
    let session = Session::connect(config(&base, password())).await.unwrap();
    let e = Compute::new(&session).await.unwrap_err().to_string();
    assert!(e.contains("needs at least microversion 2.97"), "{e}");
}

#[tokio::test]
async fn keystone_v2_only_cloud() {
    let (st, base) = start(false, "2.1", "2.60").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    assert_eq!(cloud.session.identity().version, IdentityVersion::V2);
    assert_eq!(count(&st, "POST /identity/v2.0/tokens"), 1);
    // The v2 catalog's compute URL carries the project id; the version doc is found above it.
    assert_eq!(cloud.compute.microversion(), Some(Microversion::new(2, 60)));
    let listed = cloud
        .compute
        .list_servers(&ServerQuery::default())
        .await
        .unwrap();
    assert!(listed.is_empty());
    assert_eq!(count(&st, "GET /compute/v2.1/p1/servers/detail"), 1);
    // Application credentials cannot work on v2.0, and say so.
    let e = Cloud::connect(config(
        &base,
        AuthMethod::ApplicationCredential {
            id: Some("ac".into()),
            name: None,
            secret: Secret::new(APPCRED),
            username: None,
            user_id: None,
            user_domain_name: None,
            user_domain_id: None,
        },
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("application credentials need Keystone v3"),
        "{e}"
    );
}

#[tokio::test]
async fn catalog_interface_and_region() {
    let (_st, base) = start(true, "2.1", "2.79").await;
    let mut cfg = config(&base, password());
    cfg.interface = Interface::Internal;
    let session = Session::connect(cfg).await.unwrap();
    let compute = Compute::new(&session).await.unwrap();
    assert_eq!(
        compute.endpoint().base.as_str(),
        format!("{base}/internal/compute/v2.1")
    );
    let mut cfg = config(&base, password());
    cfg.region = Some("RegionNine".into());
    let session = Session::connect(cfg).await.unwrap();
    let e = Compute::new(&session).await.unwrap_err().to_string();
    assert!(
        e.starts_with(
            "fake: the catalog has no compute endpoint with interface public in region RegionNine"
        ),
        "{e}"
    );
    assert!(e.contains("public in RegionTwo"), "{e}");
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_naming_the_cloud() {
    let (_st, base) = start(true, "2.1", "2.79").await;
    let e = Session::connect(config(
        &base,
        AuthMethod::Password {
            username: Some("alice".into()),
            user_id: None,
            password: Secret::new("wrong-Secret-3"),
            user_domain_name: None,
            user_domain_id: None,
        },
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(e, Error::Auth { .. } | Error::Rejected { .. }),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.starts_with("fake: authentication:"), "{msg}");
    assert!(msg.contains("requires authentication"), "{msg}");
    assert!(!msg.contains("wrong-Secret-3"));
}

#[tokio::test]
async fn retries_503_and_honours_retry_after() {
    let (st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    let id = cloud.compute.create_server(&server("r")).await.unwrap();
    let key = format!("GET /compute/v2.1/servers/{id}");
    let f = Fault {
        status: 503,
        retry_after: None,
        after_work: false,
    };
    fault(&st, &key, f, 2);
    assert!(cloud.compute.get_server(&id).await.unwrap().is_some());
    assert_eq!(count(&st, &key), 3);

    let f = Fault {
        status: 429,
        retry_after: Some("1"),
        after_work: false,
    };
    fault(&st, &key, f, 1);
    let t = Instant::now();
    assert!(cloud.compute.get_server(&id).await.unwrap().is_some());
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t.elapsed()
    );

    // Too many failures: the error is the last one, decoded (HTML body stripped).
    let f = Fault {
        status: 503,
        retry_after: None,
        after_work: false,
    };
    fault(&st, &key, f, 10);
    let e = cloud.compute.get_server(&id).await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert!(
        e.to_string()
            .contains("503 Service Unavailable No server is available"),
        "{e}"
    );
}

#[tokio::test]
async fn a_post_that_reached_the_server_is_not_repeated_and_is_adopted() {
    let (st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    let key = "POST /compute/v2.1/servers";
    // 503 before any work: a POST is still not retried blindly.
    fault(
        &st,
        key,
        Fault {
            status: 503,
            retry_after: None,
            after_work: false,
        },
        1,
    );
    let e = cloud
        .compute
        .create_server(&server("web"))
        .await
        .unwrap_err();
    assert!(e.is_ambiguous());
    assert_eq!(count(&st, key), 1);

    // 503 *after* the server was created: create_or_adopt finds it by name, no duplicate.
    fault(
        &st,
        key,
        Fault {
            status: 503,
            retry_after: None,
            after_work: true,
        },
        1,
    );
    let policy = cloud.session.config().retry;
    let compute = cloud.compute.clone();
    let (web, db) = (server("web"), server("db"));
    let id = create_or_adopt(
        &policy,
        3,
        || compute.create_server(&web),
        || async {
            let found = compute
                .list_servers(&ServerQuery {
                    name: Some("web".into()),
                    ..Default::default()
                })
                .await?;
            Ok(found.into_iter().next().map(|s| s.id))
        },
    )
    .await
    .unwrap();
    assert_eq!(count(&st, key), 2);
    let named: Vec<_> = st
        .lock()
        .unwrap()
        .servers
        .iter()
        .filter(|s| s["name"] == "web")
        .cloned()
        .collect();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0]["id"], id.as_str());

    // 503 before work twice, then success: created once.
    fault(
        &st,
        key,
        Fault {
            status: 503,
            retry_after: None,
            after_work: false,
        },
        2,
    );
    create_or_adopt(
        &policy,
        4,
        || compute.create_server(&db),
        || async {
            let found = compute
                .list_servers(&ServerQuery {
                    name: Some("db".into()),
                    ..Default::default()
                })
                .await?;
            Ok(found.into_iter().next().map(|s| s.id))
        },
    )
    .await
    .unwrap();
    let dbs = st
        .lock()
        .unwrap()
        .servers
        .iter()
        .filter(|s| s["name"] == "db")
        .count();
    assert_eq!(dbs, 1);
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_request_repeated() {
    let (st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    let id = cloud.compute.create_server(&server("t")).await.unwrap();
    let before = st.lock().unwrap().issued;
    st.lock().unwrap().valid_tokens.clear();
    assert!(cloud.compute.get_server(&id).await.unwrap().is_some());
    assert_eq!(st.lock().unwrap().issued, before + 1);
    // Concurrent requests after expiry share one renewal.
    st.lock().unwrap().valid_tokens.clear();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let c = cloud.compute.clone();
        let id = id.clone();
        set.spawn(async move { c.get_server(&id).await.map(|s| s.is_some()) });
    }
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap().unwrap());
    }
    assert_eq!(st.lock().unwrap().issued, before + 2);
}

#[tokio::test]
async fn a_stalled_download_times_out() {
    let (_st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    let mut dl = cloud
        .image
        .download(&ImageId::from("slow"), None)
        .await
        .unwrap();
    assert_eq!(dl.content_length, Some(1000));
    assert_eq!(dl.content_md5.as_deref(), Some("abc"));
    use futures_util::StreamExt;
    let first = dl.stream.next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"0123456789");
    let t = Instant::now();
    let e = dl.stream.next().await.unwrap().unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains("no bytes received (stall)"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

fn chunks(
    n: usize,
    size: usize,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::iter((0..n).map(move |i| Ok(bytes::Bytes::from(vec![i as u8; size]))))
}

#[tokio::test]
async fn uploads_stream_and_a_stuck_upload_times_out() {
    let (st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    cloud
        .image
        .upload(&ImageId::from("ok"), Some(3 * 65536), chunks(3, 65536))
        .await
        .unwrap();
    assert_eq!(st.lock().unwrap().uploaded, 3 * 65536);
    // The server never reads: once the socket buffers are full, no bytes move; the stall
    // timeout (300 ms here) ends the upload, long before a total timeout would.
    let t = Instant::now();
    let e = cloud
        .image
        .upload(&ImageId::from("stuck"), None, chunks(1024, 1 << 20))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains("no bytes taken (stall)"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_token_about_to_expire_is_renewed_before_use() {
    let (st, base) = start(true, "2.1", "2.79").await;
    st.lock().unwrap().ttl = Some(Duration::from_secs(2));
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    let id = cloud.compute.create_server(&server("ttl")).await.unwrap();
    let issued = st.lock().unwrap().issued;
    // Within the last tenth of its life the token is replaced before the request, so the
    // service never sees the old one (no 401 round trip).
    tokio::time::sleep(Duration::from_millis(1850)).await;
    let key = format!("GET /compute/v2.1/servers/{id}");
    cloud.compute.get_server(&id).await.unwrap().unwrap();
    assert_eq!(st.lock().unwrap().issued, issued + 1);
    assert_eq!(count(&st, &key), 1);
}

#[tokio::test]
async fn usage_pages_are_merged_per_project() {
    let (st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    let start = time::macros::datetime!(2024-03-01 00:00 UTC);
    let end = time::macros::datetime!(2024-04-01 00:00 UTC);
    let usages = cloud.compute.usage_all(start, end).await.unwrap();
    assert_eq!(count(&st, "GET /compute/v2.1/os-simple-tenant-usage"), 2);
    assert_eq!(usages.len(), 2);
    let p1 = usages.iter().find(|u| u.tenant_id == "p1").unwrap();
    assert_eq!(p1.total_hours, 3.0);
    assert_eq!(p1.total_memory_mb_usage, 1536.0);
    assert_eq!(p1.server_usages.len(), 2);
    let p2 = usages.iter().find(|u| u.tenant_id == "p2").unwrap();
    assert_eq!(p2.total_vcpus_usage, 4.0);
}

#[tokio::test]
async fn waiting_for_a_server_reports_its_fault() {
    let (st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    st.lock().unwrap().servers.push(json!({"id": "bad", "name": "bad", "status": "ERROR",
        "fault": {"code": 500, "message": "No valid host was found. There are not enough hosts available.",
            "created": "2024-03-01T00:00:00Z"}}));
    let e = cloud
        .compute
        .wait_for_server(&ServerId::from("bad"), "ACTIVE", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "fake: server bad is in status ERROR: No valid host was found. There are not enough hosts available. (fault code 500)"
    );
    let id = cloud.compute.create_server(&server("good")).await.unwrap();
    let s = cloud
        .compute
        .wait_for_server(&id, "ACTIVE", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(s.name, "good");
    cloud
        .compute
        .wait_for_server_deleted(&ServerId::from("gone"), Duration::from_secs(5))
        .await
        .unwrap();
}

#[tokio::test]
async fn redirects_are_followed_only_within_the_origin() {
    let (st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    let id = cloud.compute.create_server(&server("r")).await.unwrap();
    let key = format!("GET /compute/v2.1/servers/{id}");
    // Same origin: followed (the fake answers `moved` with a 302 to srv-1).
    let got = cloud
        .compute
        .get_server(&ServerId::from("moved"))
        .await
        .unwrap();
    assert_eq!(got.unwrap().id, id);
    assert_eq!(count(&st, &key), 1);
    let before = count(&st, &key);
    let e = cloud
        .compute
        .get_server(&ServerId::from("elsewhere"))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(302), "{e}");
    // Nothing reached the other origin (it is the same fake; it would log the request).
    assert_eq!(count(&st, "GET /compute/v2.1/servers/x"), 0);
    assert_eq!(count(&st, &key), before);
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

#[tokio::test]
async fn a_refused_connection_is_retried_then_reported() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let e = Session::connect(config(&base, password()))
        .await
        .unwrap_err();
    match &e {
        Error::Transport { connect, .. } => assert!(connect),
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("fake: identity GET {base}/identity: ")),
        "{msg}"
    );
    // A connect error means the server never acted: even a create may be repeated.
    assert!(!e.is_ambiguous());
}

/// The buffer of the process-wide TRACE subscriber, installed once per test binary (a
/// per-test `set_default` misses events when tests run on parallel threads: callsite
/// interest is cached globally). Every test of the binary logs into it.
fn log_buffer() -> Buf {
    static BUF: std::sync::OnceLock<Buf> = std::sync::OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buf
    })
    .clone()
}

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_in_any_log_line_or_error() {
    let buf = log_buffer();

    let (st, base) = start(true, "2.1", "2.79").await;
    let mut errors = Vec::new();
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    let id = cloud.compute.create_server(&server("log")).await.unwrap();
    st.lock().unwrap().valid_tokens.clear();
    cloud.compute.get_server(&id).await.unwrap();
    fault(
        &st,
        &format!("GET /compute/v2.1/servers/{id}"),
        Fault {
            status: 503,
            retry_after: None,
            after_work: false,
        },
        10,
    );
    errors.push(format!(
        "{:?} / {}",
        cloud.compute.get_server(&id).await.unwrap_err(),
        "x"
    ));
    let appcred = Cloud::connect(config(
        &base,
        AuthMethod::ApplicationCredential {
            id: Some("ac".into()),
            name: None,
            secret: Secret::new(APPCRED),
            username: None,
            user_id: None,
            user_domain_name: None,
            user_domain_id: None,
        },
    ))
    .await
    .unwrap();
    errors.push(format!("{appcred:?}"));
    let bad = Session::connect(config(
        &base,
        AuthMethod::Password {
            username: Some("alice".into()),
            user_id: None,
            password: Secret::new("wrong-Secret-3"),
            user_domain_name: None,
            user_domain_id: None,
        },
    ))
    .await
    .unwrap_err();
    errors.push(format!("{bad} {bad:?}"));
    errors.push(format!("{:?}", config(&base, password())));

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("request"), "the debug lines were captured");
    assert!(
        logs.contains("status=200") || logs.contains("status=201"),
        "{logs}"
    );
    let tokens: Vec<String> = st.lock().unwrap().valid_tokens.iter().cloned().collect();
    let issued = st.lock().unwrap().issued;
    let mut secrets: Vec<String> = vec![
        PASSWORD.into(),
        APPCRED.into(),
        "wrong-Secret-3".into(),
        "ADMINPASS-secret".into(),
    ];
    secrets.extend(tokens);
    secrets.extend((1..=issued).map(|n| format!("tok-{n}-")));
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "secret {s:?} in the logs");
        for e in &errors {
            assert!(!e.contains(s.as_str()), "secret {s:?} in an error: {e}");
        }
    }
}

#[tokio::test]
async fn a_hostile_cloud_answer_is_refused_not_buffered() {
    let (_st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    // Declared too large: refused from the header, before a byte of the body is read.
    let t = Instant::now();
    let e = cloud
        .compute
        .get_server(&ServerId::from("declared-huge"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    assert!(e.to_string().contains("4294967296 bytes or more"), "{e}");
    assert!(e.to_string().contains("limit of 128 MiB"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // Endless: refused as soon as it passes the limit.
    let e = cloud
        .compute
        .get_server(&ServerId::from("endless"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("limit of 128 MiB"), "{e}");
    // 100,000 levels deep in a field s2d does not read: skipped without recursion (serde_json
    // stops at 128 levels in the fields it builds), never a stack overflow.
    let deep = cloud
        .compute
        .get_server(&ServerId::from("deep"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deep.name, "deep");
    // The session goes on serving ordinary calls.
    let id = cloud.compute.create_server(&server("after")).await.unwrap();
    assert!(cloud.compute.get_server(&id).await.unwrap().is_some());
}

/// A 500 on a GET is the cloud failing on its side: repeated like a 503.
#[tokio::test]
async fn a_500_on_a_get_is_retried() {
    let (st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    let id = cloud.compute.create_server(&server("r500")).await.unwrap();
    let key = format!("GET /compute/v2.1/servers/{id}");
    let f = Fault {
        status: 500,
        retry_after: None,
        after_work: false,
    };
    fault(&st, &key, f, 2);
    let before = cloud.session.stats();
    assert!(cloud.compute.get_server(&id).await.unwrap().is_some());
    assert_eq!(count(&st, &key), 3);
    assert_eq!(cloud.session.stats().retries - before.retries, 2);
}

/// A 5xx on a POST is not repeated: the typed error says the create may have happened, with
/// its own code, and still gives the status and request of the cloud's answer.
#[tokio::test]
async fn a_5xx_on_a_create_is_unconfirmed() {
    let (st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    let key = "POST /compute/v2.1/servers";
    let f = Fault {
        status: 500,
        retry_after: None,
        after_work: true,
    };
    fault(&st, key, f, 1);
    let e = cloud
        .compute
        .create_server(&server("maybe"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unconfirmed { .. }), "{e:?}");
    assert_eq!(e.code(), "s2d::cloud::unconfirmed");
    assert_eq!(e.status(), Some(500));
    assert!(e.is_ambiguous());
    assert!(e.to_string().contains("may have taken effect"), "{e}");
    assert!(e.help().unwrap().contains("marker"));
    assert_eq!(count(&st, key), 1);
}

/// A 429 with `Retry-After` on one task holds back the other tasks' requests to that cloud
/// too; a 429 on a POST (refused unseen) is repeated.
#[tokio::test]
async fn a_429_pauses_the_whole_cloud() {
    let (st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    let id = cloud.compute.create_server(&server("rl")).await.unwrap();
    let key = format!("GET /compute/v2.1/servers/{id}");
    fault(
        &st,
        &key,
        Fault {
            status: 429,
            retry_after: Some("1"),
            after_work: false,
        },
        1,
    );
    let t = Instant::now();
    let limited = {
        let c = cloud.compute.clone();
        let id = id.clone();
        tokio::spawn(async move { c.get_server(&id).await })
    };
    // Once the 429 has been answered, another task's request to the same cloud waits too.
    while count(&st, &key) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Whatever the fake answers it: what matters is when.
    let _ = cloud.compute.list_flavors().await;
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "the other task went ahead after {:?}",
        t.elapsed()
    );
    assert!(limited.await.unwrap().unwrap().is_some());
    assert_eq!(cloud.session.stats().rate_limited, 1);

    let key = "POST /compute/v2.1/servers";
    fault(
        &st,
        key,
        Fault {
            status: 429,
            retry_after: Some("0"),
            after_work: false,
        },
        1,
    );
    cloud
        .compute
        .create_server(&server("after-429"))
        .await
        .unwrap();
    assert_eq!(count(&st, key), 3); // rl, the refused one, its repeat
}

/// A cloud whose next links never end: the list stops at 10,000 pages with an error naming the
/// call, instead of looping for ever.
#[tokio::test]
async fn endless_next_links_stop_at_the_page_bound() {
    let (st, base) = start(true, "2.1", "2.79").await;
    let cloud = Cloud::connect(config(&base, password())).await.unwrap();
    let e = cloud.network.subnets(&[]).await.unwrap_err();
    assert_eq!(e.code(), "s2d::cloud::bad_answer", "{e}");
    assert!(e.to_string().contains("past 10000 pages"), "{e}");
    assert!(e.to_string().contains("/network/v2.0/subnets"), "{e}");
    assert_eq!(count(&st, "GET /network/v2.0/subnets"), 10_000);
}
