//! The routes: `/healthz`, the wizard's files, and `/v1/...` behind the bearer token. Each
//! handler reads its request, calls [`App`](super::App) (or `browse`, or the usage report),
//! and answers JSON; the contract is `docs/serve.md` and `/v1/openapi.json`.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Value, json};

use super::app::{self, syntax_of_content_type};
use super::auth::{self, Token};
use super::error::{ApiError, ApiResult};
use super::jobs::{Job, JobOptions};
use super::store::{JobKind, valid_id};
use super::{Shared, browse, ui};
use crate::plan::{MAX_PLAN_BYTES, Syntax};
use crate::usage::{Period, collect};

/// The OpenAPI document of this API.
const OPENAPI: &str = include_str!("openapi.json");

/// Every route of the service.
pub fn router(app: Shared, token: Token) -> Router {
    let v1 = Router::new()
        .route("/openapi.json", get(openapi))
        .route("/clouds", get(browse::clouds))
        .route("/clouds/{cloud}/servers", get(browse::servers))
        .route(
            "/clouds/{cloud}/servers/{id}/nics",
            get(browse::server_nics),
        )
        .route(
            "/clouds/{cloud}/servers/{id}/volumes",
            get(browse::server_volumes),
        )
        .route("/clouds/{cloud}/volume-types", get(browse::volume_types))
        .route("/clouds/{cloud}/keypairs", get(browse::keypairs))
        .route(
            "/clouds/{cloud}/security-groups",
            get(browse::security_groups),
        )
        .route("/clouds/{cloud}/networks", get(browse::networks))
        .route("/clouds/{cloud}/floating-ips", get(browse::floating_ips))
        .route("/clouds/{cloud}/flavors", get(browse::flavors))
        .route(
            "/plans",
            get(list_plans).post(submit_plan).layer(plan_body_limit()),
        )
        .route(
            "/plans/{id}",
            get(get_plan)
                .put(replace_plan)
                .delete(delete_plan)
                .layer(plan_body_limit()),
        )
        .route("/plans/{id}/document", get(document))
        .route("/plans/{id}/diff", get(diff))
        .route("/plans/{id}/apply", post(apply).layer(options_body_limit()))
        .route(
            "/plans/{id}/destroy",
            post(destroy).layer(options_body_limit()),
        )
        .route("/plans/{id}/jobs", get(plan_jobs))
        .route("/plans/{id}/keys/{name}", get(private_key))
        .route("/jobs/{id}", get(job))
        .route("/jobs/{id}/cancel", post(cancel))
        .route("/jobs/{id}/events", get(events))
        .route("/usage", get(usage))
        .fallback(|| async { ApiError::not_found("such API path") })
        // Routes that read no body read none: the default for every route is nothing.
        .layer(DefaultBodyLimit::max(0))
        .layer(axum::middleware::from_fn_with_state(token, auth::require));
    Router::new()
        .route("/healthz", get(health))
        .route("/", get(ui::index))
        .route("/ui/app.js", get(ui::script))
        .route("/ui/app.css", get(ui::style))
        .nest("/v1", v1)
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(axum::middleware::from_fn(log_request))
        .with_state(app)
}

/// The largest options body of `apply` and `destroy` (a list of targets and two numbers).
pub const MAX_OPTIONS_BYTES: usize = 64 * 1024;

/// A plan's document (POST, PUT): up to the plan reader's own limit.
fn plan_body_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(MAX_PLAN_BYTES as usize)
}

fn options_body_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(MAX_OPTIONS_BYTES)
}

/// The header that carries a request's id, in every answer.
pub const REQUEST_ID: &str = "x-request-id";

/// Every request gets an id (in the `x-request-id` answer header and in its log line) and one
/// log line at `info` (`s2d -v serve`): method, path (never the query or a header, so nothing
/// secret), status and time taken. A handler that panics fails alone: its request is answered
/// 500 with the id, the panic is logged at `error` with the same id, and the service, its
/// other requests and its jobs go on.
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use futures_util::FutureExt;

    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let id = format!("req-{}", uuid::Uuid::new_v4().simple());
    let started = std::time::Instant::now();
    let mut response = match std::panic::AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            tracing::error!(
                "{method} {path} [{id}]: the handler panicked: {}",
                panic_message(panic.as_ref())
            );
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the service failed on this request (a bug in s2d)",
            )
            .help(format!(
                "the service goes on; report the request id {id} with the service's log"
            ))
            .with("request_id", Value::String(id.clone()))
            .into_response()
        }
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    tracing::info!(
        "{method} {path} -> {} in {} ms [{id}]",
        response.status().as_u16(),
        started.elapsed().as_millis()
    );
    response
}

/// The text of a panic's payload, when it has one.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

fn plan_id(id: &str) -> ApiResult<()> {
    if valid_id("p", id) {
        Ok(())
    } else {
        Err(ApiError::not_found("such plan"))
    }
}

#[derive(Deserialize)]
struct SubmitQuery {
    name: Option<String>,
}

fn body_text(body: &Bytes) -> ApiResult<&str> {
    std::str::from_utf8(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the plan is not UTF-8 text (at byte {})", e.valid_up_to()),
        )
        .help("send it as UTF-8")
    })
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// `POST /v1/plans`: 201 with the new plan, or 422 with located diagnostics.
async fn submit_plan(
    State(app): State<Shared>,
    Query(query): Query<SubmitQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let syntax = syntax_of_content_type(content_type(&headers))?;
    let text = body_text(&body)?;
    let (summary, diagnostics) = app.submit(text, syntax, query.name)?;
    let location = format!("/v1/plans/{}", summary.id);
    let body = json!({
        "id": summary.id,
        "plan": summary,
        "diagnostics": app::warnings(diagnostics),
    });
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// `PUT /v1/plans/{id}`: a new document for a plan (its state stays).
async fn replace_plan(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<SubmitQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    plan_id(&id)?;
    let syntax = syntax_of_content_type(content_type(&headers))?;
    let text = body_text(&body)?;
    let (summary, diagnostics) = app.replace(&id, text, syntax, query.name)?;
    Ok(Json(json!({
        "id": summary.id,
        "plan": summary,
        "diagnostics": app::warnings(diagnostics),
    })))
}

async fn list_plans(State(app): State<Shared>) -> Json<Value> {
    Json(json!({ "plans": app.list() }))
}

async fn get_plan(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    plan_id(&id)?;
    Ok(Json(app.get(&id)?))
}

async fn delete_plan(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    plan_id(&id)?;
    app.delete(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct DocumentQuery {
    format: Option<String>,
}

/// `GET /v1/plans/{id}/document?format=toml|xml`: the plan file, as a download.
async fn document(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<DocumentQuery>,
) -> ApiResult<Response> {
    plan_id(&id)?;
    let syntax = match query.format.as_deref() {
        None | Some("toml") => Syntax::Toml,
        Some("xml") => Syntax::Xml,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format {other:?}: choose toml or xml"
            )));
        }
    };
    let text = app.document(&id, syntax)?;
    let (mime, ext) = match syntax {
        Syntax::Toml => ("application/toml", "toml"),
        Syntax::Xml => ("application/xml", "xml"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"s2d-{id}.{ext}\""),
            ),
        ],
        text,
    )
        .into_response())
}

#[derive(Deserialize)]
struct DiffQuery {
    operation: Option<String>,
}

/// `GET /v1/plans/{id}/diff`: the `s2d plan --json` document.
async fn diff(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    plan_id(&id)?;
    let destroy = match query.operation.as_deref() {
        None | Some("apply") => false,
        Some("destroy") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "operation {other:?}: choose apply or destroy"
            )));
        }
    };
    let outcome = app.diff(&id, destroy).await?;
    Ok(Json(json!(outcome)))
}

fn job_options(body: &Bytes) -> ApiResult<JobOptions> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(JobOptions::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the options are not valid: {e}"))
            .help("send {\"targets\": [...], \"parallelism\": N, \"transfers\": N} or nothing")
    })
}

async fn start(app: Shared, id: String, kind: JobKind, body: Bytes) -> ApiResult<Response> {
    plan_id(&id)?;
    let options = job_options(&body)?;
    let record = app.start(&id, kind, options)?;
    let location = format!("/v1/jobs/{}", record.id);
    let mut response = (StatusCode::ACCEPTED, Json(json!(record))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn apply(
    State(app): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    start(app, id, JobKind::Apply, body).await
}

async fn destroy(
    State(app): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    start(app, id, JobKind::Destroy, body).await
}

async fn plan_jobs(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    plan_id(&id)?;
    if !app.has_plan(&id) {
        return Err(ApiError::not_found("such plan"));
    }
    Ok(Json(json!({ "jobs": app.jobs_of(&id) })))
}

/// `GET /v1/plans/{id}/keys/{name}`: the private key of a keypair the target generated.
async fn private_key(
    State(app): State<Shared>,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    plan_id(&id)?;
    let name = name.strip_prefix("keypair.").unwrap_or(&name);
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(ApiError::not_found("such key"));
    }
    let path = app.store().keys_dir(&id).join(format!("{name}.pem"));
    let key = match std::fs::read_to_string(&path) {
        Ok(k) => k,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found("such key"));
        }
        Err(e) => {
            return Err(ApiError::internal(format!(
                "reading {}: {e}",
                path.display()
            )));
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.pem\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        key,
    )
        .into_response())
}

async fn job(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.job(&id)?.record())))
}

/// `POST /v1/jobs/{id}/cancel`: start no new step (running ones end; the state is saved).
async fn cancel(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let job = app.job(&id)?;
    if !job.is_running() {
        return Err(ApiError::conflict("the job has ended"));
    }
    job.cancel();
    Ok((StatusCode::ACCEPTED, Json(json!(job.record()))).into_response())
}

/// Where an event stream is: what is queued to send, how far the log has been read.
struct Cursor {
    job: std::sync::Arc<Job>,
    app: Shared,
    next: usize,
    pending: VecDeque<sse::Event>,
    changed: tokio::sync::watch::Receiver<u64>,
    ended: bool,
}

fn sse_event(n: usize, line: String) -> sse::Event {
    let kind = serde_json::from_str::<Value>(&line)
        .ok()
        .and_then(|v| v.get("event").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "message".into());
    sse::Event::default()
        .id(n.to_string())
        .event(kind)
        .data(line)
}

impl Cursor {
    /// The next event to send, waiting for one; `None` after `end`.
    async fn next_event(mut self) -> Option<(sse::Event, Cursor)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((event, self));
            }
            if self.ended {
                return None;
            }
            self.changed.borrow_and_update();
            // Whether it runs is read before the events: a job that has ended has logged all.
            let running = self.job.is_running();
            let record = self.job.record();
            let lines = match self.job.events_since(self.next) {
                Some(lines) => lines,
                None => self
                    .app
                    .store()
                    .read_events(&record.plan_id, &record.id)
                    .map(|all| {
                        all.get(self.next..)
                            .map(<[String]>::to_vec)
                            .unwrap_or_default()
                    })
                    .unwrap_or_default(),
            };
            for line in lines {
                self.next += 1;
                self.pending.push_back(sse_event(self.next, line));
            }
            if !running {
                let end = serde_json::to_string(&self.job.record()).unwrap_or_default();
                self.pending
                    .push_back(sse::Event::default().event("end").data(end));
                self.ended = true;
                continue;
            }
            if self.pending.is_empty() && self.changed.changed().await.is_err() {
                // The job is gone (its plan was deleted): end the stream.
                self.ended = true;
            }
        }
    }
}

/// `GET /v1/jobs/{id}/events`: every event of the job, then live ones, then `end`.
async fn events(
    State(app): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>> {
    let job = app.job(&id)?;
    let next = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let changed = job.subscribe();
    let cursor = Cursor {
        job,
        app,
        next,
        pending: VecDeque::new(),
        changed,
        ended: false,
    };
    let stream = futures_util::stream::unfold(cursor, |cursor| async move {
        cursor
            .next_event()
            .await
            .map(|(event, cursor)| (Ok(event), cursor))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// `GET /v1/usage`: the `s2d usage --json` report (or its CSV).
async fn usage(State(app): State<Shared>, RawQuery(query): RawQuery) -> ApiResult<Response> {
    let mut clouds = Vec::new();
    let (mut start, mut end, mut plan, mut format) = (None, None, None, None);
    let (mut all_projects, mut managed_only) = (false, false);
    let flag = |v: &str| matches!(v, "1" | "true" | "yes" | "on");
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "cloud" => clouds.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            ),
            "start" if !value.is_empty() => start = Some(value),
            "end" if !value.is_empty() => end = Some(value),
            "plan" if !value.is_empty() => plan = Some(value),
            "format" => format = Some(value),
            "all_projects" => all_projects = flag(&value),
            "managed" => managed_only = flag(&value),
            "start" | "end" | "plan" => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}: cloud, start, end, plan, managed, all_projects, format"
                )));
            }
        }
    }
    let local = time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC);
    let period = Period::parse(start.as_deref(), end.as_deref(), local)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut managed = std::collections::BTreeSet::new();
    if let Some(plan) = &plan {
        plan_id(plan)?;
        if !app.has_plan(plan) {
            return Err(ApiError::not_found("such plan"));
        }
        if let Some(state) = app.read_state_of(plan).map_err(ApiError::internal)? {
            managed = state.server_ids();
        }
    } else if managed_only {
        return Err(ApiError::bad_request(
            "managed=true needs plan=<id>: its state says which servers s2d made",
        ));
    }
    let configs = if !clouds.is_empty() {
        clouds
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    crate::cloud::config::from_clouds_yaml(name, app.env())
                        .map_err(|e| e.to_string()),
                )
            })
            .collect()
    } else if let Some(plan) = &plan {
        app.plan_clouds(plan)?
    } else {
        let (_, names) =
            crate::cloud::config::cloud_names(app.env()).map_err(ApiError::internal)?;
        if names.is_empty() {
            return Err(ApiError::bad_request(
                "the service's clouds.yaml names no cloud: pass cloud=NAME",
            ));
        }
        names
            .into_iter()
            .map(|name| {
                let config = crate::cloud::config::from_clouds_yaml(&name, app.env())
                    .map_err(|e| e.to_string());
                (name, config)
            })
            .collect()
    };
    let request = collect::Request {
        all_projects,
        managed,
        managed_only,
        rates: None,
    };
    let (report, all_failed) = collect::collect(configs, &period, &request).await;
    if all_failed {
        return Err(ApiError::cloud("no cloud answered the usage call")
            .with("problems", json!(report.problems)));
    }
    match format.as_deref() {
        None | Some("json") => Ok(Json(json!(report)).into_response()),
        Some("csv") => {
            let csv = report.to_csv().map_err(ApiError::internal)?;
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"s2d-usage.csv\"",
                    ),
                ],
                csv,
            )
                .into_response())
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "format {other:?}: choose json or csv"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("a bug in a handler")
    }

    fn router() -> Router {
        Router::new()
            .route("/boom", get(boom))
            .route("/ok", get(health))
            .layer(axum::middleware::from_fn(log_request))
    }

    async fn call(router: Router, path: &str) -> (StatusCode, HeaderMap, Value) {
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .expect("request");
        let response = router.oneshot(request).await.expect("answer");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).expect("JSON"),
        )
    }

    #[tokio::test]
    async fn a_panicking_handler_fails_alone_with_a_request_id() {
        let (status, headers, body) = call(router(), "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let id = headers[REQUEST_ID].to_str().expect("id").to_string();
        assert!(id.starts_with("req-"), "{id}");
        assert_eq!(body["request_id"], id.as_str());
        assert!(
            body["error"]["help"]
                .as_str()
                .is_some_and(|h| h.contains(&id)),
            "{body:#}"
        );
        // The panic's own text (which may hold anything) is logged, not answered.
        assert!(!body.to_string().contains("a bug in a handler"), "{body:#}");
        // The same router goes on answering.
        let (status, headers, body) = call(router(), "/ok").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ok");
        assert_ne!(headers[REQUEST_ID].to_str().expect("id"), id);
    }
}
