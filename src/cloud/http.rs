//! The one request path. [`Session`] holds a cloud's HTTP client, its identity endpoint and
//! token (renewed before expiry and once after a 401), and sends every request s2d makes to
//! that cloud: through the cloud's shared limiter (concurrency, rate, and the pause a 429's
//! `Retry-After` puts on every task), with retries (exponential backoff with jitter on
//! connect errors, resets, 429, 500, 502, 503 and 504, only for requests safe to repeat; a
//! POST whose answer was lost fails as [`Error::Unconfirmed`] for the caller's marker
//! lookup), timeouts, error body decoding, request ids and a debug line per request in which
//! no secret appears.
//! Image streams go through here too, with a stall timeout instead of a total one. The HTTP
//! client itself is `client`, the retry rules `retry`. Knows nothing of what the services'
//! JSON means.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::HeaderMap;
use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use tokio::sync::{Mutex, OnceCell};
use url::Url;

use super::auth::{self, IdentityEndpoint, Token};
use super::body;
use super::client::build_client;
use super::config::{CloudConfig, IdentityVersion};
use super::error::{Error, Result, decode_error_body};
use super::request::{ApiRequest, ReqBody};
use super::retry::{Limiter, backoff, is_retryable_status, parse_retry_after};
use super::stream::ByteStream;
use super::types::{Secret, Service};

/// An authenticated connection to one cloud. Cheap to clone; clones share the token.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    config: CloudConfig,
    client: reqwest::Client,
    identity: IdentityEndpoint,
    token: Mutex<Option<Token>>,
    pub(crate) endpoints: Endpoints,
    limiter: Limiter,
    stats: Counters,
}

/// What the request path did, counted per cloud since connect.
#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    renewals: AtomicU64,
    rate_limited: AtomicU64,
}

/// A session's request figures (see [`Session::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Requests sent (every attempt counts).
    pub requests: u64,
    /// Attempts that were repeats of a failed one.
    pub retries: u64,
    /// Tokens renewed after a 401.
    pub renewals: u64,
    /// 429 answers (each paused the whole cloud).
    pub rate_limited: u64,
}

/// Per-service endpoints, resolved (catalog + version discovery) on first use.
#[derive(Default)]
pub(crate) struct Endpoints {
    pub compute: OnceCell<super::compute::ComputeEndpoint>,
    pub image: OnceCell<Url>,
    pub network: OnceCell<Url>,
    pub volume: OnceCell<super::volume::VolumeEndpoint>,
}

/// How one request is sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendOpts {
    /// Send `X-Auth-Token` (and renew on 401).
    pub auth: bool,
    /// Treat the request as safe to repeat even if its verb is not (token creation).
    pub repeatable: bool,
    /// Also accept this non-2xx status (version documents come with 300).
    pub accept: Option<u16>,
    /// Apply the request timeout (off for image downloads, which have a stall timeout).
    pub total_timeout: bool,
}

impl Default for SendOpts {
    fn default() -> SendOpts {
        SendOpts {
            auth: true,
            repeatable: false,
            accept: None,
            total_timeout: true,
        }
    }
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    [
        "x-openstack-request-id",
        "x-compute-request-id",
        "openstack-request-id",
    ]
    .iter()
    .find_map(|h| headers.get(*h)?.to_str().ok().map(str::to_string))
}

impl Session {
    /// Connect: build the HTTP client, find the identity version and authenticate.
    pub async fn connect(config: CloudConfig) -> Result<Session> {
        let client = build_client(&config)?;
        let placeholder = IdentityEndpoint {
            version: IdentityVersion::V3,
            url: config.auth.auth_url.clone(),
        };
        let mut session = Session {
            inner: Arc::new(Inner {
                client,
                identity: placeholder,
                token: Mutex::new(None),
                endpoints: Endpoints::default(),
                limiter: Limiter::new(&config.limits),
                stats: Counters::default(),
                config,
            }),
        };
        let identity = session.discover_identity().await?;
        // Nothing has cloned the session yet, so this always succeeds.
        let name = session.name().to_string();
        let inner = Arc::get_mut(&mut session.inner).ok_or_else(|| Error::Auth {
            cloud: name,
            message: "the session was shared before identity discovery finished".into(),
        })?;
        inner.identity = identity;
        session.token().await?;
        Ok(session)
    }

    /// The cloud's name, as used in every message.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    pub fn config(&self) -> &CloudConfig {
        &self.inner.config
    }

    /// The request figures of this cloud so far (all clones of the session together).
    pub fn stats(&self) -> Stats {
        let c = &self.inner.stats;
        Stats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            renewals: c.renewals.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// The identity endpoint in use (version and versioned URL).
    pub fn identity(&self) -> &IdentityEndpoint {
        &self.inner.identity
    }

    pub(crate) fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// The project the token is scoped to.
    pub async fn project_id(&self) -> Result<Option<String>> {
        self.token().await?;
        let guard = self.inner.token.lock().await;
        Ok(guard.as_ref().and_then(|t| t.project_id.clone()))
    }

    /// A JSON answer's body, read within [`body::MAX_ANSWER_BYTES`].
    pub(crate) async fn answer(
        &self,
        service: Service,
        method: &str,
        url: &str,
        resp: Response,
    ) -> Result<Bytes> {
        body::read(resp, body::MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                body::Limited::Transport(e) => self.transport(service, method, url, e),
                body::Limited::TooLarge { limit, at_least } => Error::Decode {
                    cloud: self.name().to_string(),
                    service,
                    method: method.to_string(),
                    url: url.to_string(),
                    message: body::Limited::too_large_message(limit, at_least),
                },
            })
    }

    fn auth_err(&self, message: impl Into<String>) -> Error {
        Error::Auth {
            cloud: self.name().to_string(),
            message: message.into(),
        }
    }

    async fn discover_identity(&self) -> Result<IdentityEndpoint> {
        let cfg = &self.inner.config;
        let auth_url = cfg
            .endpoint_overrides
            .get(&Service::Identity)
            .unwrap_or(&cfg.auth.auth_url)
            .clone();
        let wanted = cfg.identity_api_version;
        if let Some(ep) = auth::versioned_auth_url(&auth_url)
            && wanted.is_none_or(|w| w == ep.version)
        {
            return Ok(ep);
        }
        let url = Url::parse(&auth_url)
            .map_err(|e| self.auth_err(format!("auth_url {auth_url:?} is not a URL: {e}")))?;
        let doc: serde_json::Value = self
            .send_json_opts(
                Service::Identity,
                ApiRequest::get(url),
                SendOpts {
                    auth: false,
                    accept: Some(300),
                    ..SendOpts::default()
                },
            )
            .await?;
        auth::choose_identity(&auth_url, &doc, wanted).map_err(|m| self.auth_err(m))
    }

    /// Authenticate now (a new token).
    async fn authenticate(&self) -> Result<Token> {
        let spec = &self.inner.config.auth;
        let identity = &self.inner.identity;
        let opts = SendOpts {
            auth: false,
            repeatable: true,
            ..SendOpts::default()
        };
        let base = Url::parse(&identity.url)
            .map_err(|e| self.auth_err(format!("identity URL {:?}: {e}", identity.url)))?;
        let (req, v3) = match identity.version {
            IdentityVersion::V3 => {
                let url = super::request::endpoint_url(&base, &["auth", "tokens"], &[]);
                (
                    ApiRequest::json(Method::POST, url, auth::v3_token_body(spec)),
                    true,
                )
            }
            IdentityVersion::V2 => {
                let url = super::request::endpoint_url(&base, &["tokens"], &[]);
                let body = auth::v2_token_body(spec).map_err(|m| self.auth_err(m))?;
                (ApiRequest::json(Method::POST, url, body), false)
            }
        };
        let (method, url) = (req.method.to_string(), req.url.to_string());
        let resp = match self.send(Service::Identity, req, opts).await {
            Ok(r) => r,
            Err(Error::Api {
                status,
                message,
                request_id,
                ..
            }) if status == 401 || status == 403 || status == 400 || status == 404 => {
                return Err(Error::Rejected {
                    cloud: self.name().to_string(),
                    identity: identity.url.clone(),
                    method: spec.method.kind(),
                    status,
                    message,
                    request_id,
                });
            }
            Err(e) => return Err(e),
        };
        let subject = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(Secret::new);
        let body = self.answer(Service::Identity, &method, &url, resp).await?;
        let now = OffsetDateTime::now_utc();
        let token = if v3 {
            let subject = subject
                .ok_or_else(|| self.auth_err("the token response has no X-Subject-Token header"))?;
            auth::parse_v3_token(subject, &body, now)
        } else {
            auth::parse_v2_token(&body, now)
        }
        .map_err(|m| Error::Decode {
            cloud: self.name().to_string(),
            service: Service::Identity,
            method,
            url,
            message: m,
        })?;
        tracing::debug!(cloud = %self.name(), expires_at = ?token.expires_at, "authenticated");
        Ok(token)
    }

    /// A valid token, renewing it when it is about to expire.
    async fn token(&self) -> Result<Secret> {
        let mut guard = self.inner.token.lock().await;
        let now = OffsetDateTime::now_utc();
        match guard.as_ref() {
            Some(t) if !t.needs_renewal(now) => Ok(t.value.clone()),
            _ => {
                // Boxed: authenticating sends a request (without a token) through `send`.
                let t = Box::pin(self.authenticate()).await?;
                let v = t.value.clone();
                *guard = Some(t);
                Ok(v)
            }
        }
    }

    /// After a 401 with `failed`: renew unless another request already did.
    async fn renew_after_401(&self, failed: &Secret) -> Result<()> {
        let mut guard = self.inner.token.lock().await;
        if guard.as_ref().is_some_and(|t| t.value != *failed) {
            return Ok(());
        }
        tracing::debug!(cloud = %self.name(), "token rejected (401), authenticating again");
        self.inner.stats.renewals.fetch_add(1, Ordering::Relaxed);
        *guard = Some(Box::pin(self.authenticate()).await?);
        Ok(())
    }

    /// The catalog URL of `service` (or its override), with the configured interface/region.
    pub(crate) async fn catalog_url(&self, service: Service) -> Result<String> {
        let cfg = &self.inner.config;
        if let Some(url) = cfg.endpoint_overrides.get(&service) {
            return Ok(url.clone());
        }
        self.token().await?;
        let guard = self.inner.token.lock().await;
        let token = guard.as_ref().ok_or_else(|| self.auth_err("no token"))?;
        // The first catalog type that has a usable endpoint; else the first type's reason.
        let mut first_err = None;
        for ty in service.catalog_types() {
            match token
                .catalog
                .endpoint(ty, cfg.interface, cfg.region.as_deref())
            {
                Ok(url) => return Ok(url.to_string()),
                Err(m) => {
                    first_err.get_or_insert(m);
                }
            }
        }
        Err(Error::Catalog {
            cloud: self.name().to_string(),
            message: first_err.unwrap_or_else(|| format!("the catalog has no {service} service")),
        })
    }

    pub(crate) fn transport(
        &self,
        service: Service,
        method: &str,
        url: &str,
        e: reqwest::Error,
    ) -> Error {
        if e.is_timeout() {
            return Error::Timeout {
                cloud: self.name().to_string(),
                what: format!("{service} {method} {url}"),
                after: self.inner.config.timeouts.request,
            };
        }
        Error::Transport {
            cloud: self.name().to_string(),
            service,
            method: method.to_string(),
            url: url.to_string(),
            connect: e.is_connect(),
            source: e.without_url(),
        }
    }

    fn build(
        &self,
        req: &ApiRequest,
        token: Option<&Secret>,
        opts: SendOpts,
    ) -> reqwest::RequestBuilder {
        let mut rb = self
            .inner
            .client
            .request(req.method.clone(), req.url.clone())
            .headers(req.headers.clone())
            .header("accept", "application/json");
        if let Some(t) = token {
            let mut v = reqwest::header::HeaderValue::from_str(t.expose())
                .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("invalid"));
            v.set_sensitive(true);
            rb = rb.header("x-auth-token", v);
        }
        if opts.total_timeout {
            rb = rb.timeout(self.inner.config.timeouts.request);
        }
        match &req.body {
            ReqBody::Empty => rb,
            ReqBody::Json(v) => rb
                .header("content-type", "application/json")
                .body(v.to_string()),
            ReqBody::JsonPatch(v) => rb
                .header(
                    "content-type",
                    "application/openstack-images-v2.1-json-patch",
                )
                .body(v.to_string()),
            ReqBody::Bytes {
                bytes,
                content_type,
            } => rb.header("content-type", *content_type).body(bytes.clone()),
        }
    }

    /// Send a request through the retry loop; return the response if its status is 2xx (or
    /// `opts.accept`), else the decoded API error.
    pub(crate) async fn send(
        &self,
        service: Service,
        req: ApiRequest,
        opts: SendOpts,
    ) -> Result<Response> {
        let policy = self.inner.config.retry;
        let repeatable = opts.repeatable || req.is_idempotent();
        let method = req.method.to_string();
        let url = req.url.to_string();
        let mut attempt = 0u32;
        let mut renewed = false;
        loop {
            let token = if opts.auth {
                Some(self.token().await?)
            } else {
                None
            };
            let permit = self.inner.limiter.acquire().await;
            self.inner.stats.requests.fetch_add(1, Ordering::Relaxed);
            if attempt > 0 {
                self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            let started = Instant::now();
            let result = self.build(&req, token.as_ref(), opts).send().await;
            drop(permit);
            let latency_ms = started.elapsed().as_millis() as u64;
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    let connect = e.is_connect();
                    tracing::debug!(cloud = %self.name(), %service, %method, %url, latency_ms, error = %e, "request failed");
                    // A connect error means the server never saw the request: safe for any verb.
                    let retry = connect || (repeatable && (e.is_timeout() || e.is_request()));
                    if retry && attempt < policy.max_retries {
                        let wait = backoff(&policy, attempt, None);
                        tracing::debug!(cloud = %self.name(), %method, %url, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, "retrying");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    let error = self.transport(service, &method, &url, e);
                    return Err(self.unconfirmed(repeatable, error));
                }
            };
            let status = resp.status();
            let rid = request_id(resp.headers());
            tracing::debug!(cloud = %self.name(), %service, %method, %url, status = status.as_u16(), latency_ms, request_id = rid.as_deref().unwrap_or("-"), "request");
            if status.is_success() || opts.accept == Some(status.as_u16()) {
                return Ok(resp);
            }
            if status == StatusCode::UNAUTHORIZED
                && opts.auth
                && !renewed
                && let Some(t) = &token
            {
                renewed = true;
                self.renew_after_401(t).await?;
                continue;
            }
            let limited = status == StatusCode::TOO_MANY_REQUESTS;
            let ra = limited
                .then(|| {
                    resp.headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, OffsetDateTime::now_utc()))
                })
                .flatten();
            if limited {
                // The whole cloud waits, not only this task.
                self.inner
                    .stats
                    .rate_limited
                    .fetch_add(1, Ordering::Relaxed);
                self.inner.limiter.pause(backoff(&policy, attempt, ra));
            }
            // A 429 was refused unseen: safe to repeat for any verb.
            if is_retryable_status(status)
                && (repeatable || limited)
                && attempt < policy.max_retries
            {
                let wait = if limited {
                    // The limiter holds the request until the pause is over.
                    Duration::ZERO
                } else {
                    backoff(&policy, attempt, None)
                };
                tracing::debug!(cloud = %self.name(), %method, %url, status = status.as_u16(), attempt = attempt + 1, wait_ms = wait.as_millis() as u64, "retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            let reason = status.canonical_reason().unwrap_or("").to_string();
            let body = body::read_cut(resp, body::MAX_ERROR_BYTES).await;
            if let Ok(u) = Url::parse(&url) {
                super::shapes::record(service, &method, &u, status.as_u16(), Some(body.as_bytes()));
            }
            let error = Error::Api {
                cloud: self.name().to_string(),
                service,
                method,
                url,
                status: status.as_u16(),
                message: decode_error_body(&body, &reason),
                request_id: rid,
            };
            return Err(self.unconfirmed(repeatable, error));
        }
    }

    /// A request that is not safe to repeat and failed in a way that may nevertheless have
    /// acted (a 5xx, a timeout, a reset after the request left) becomes
    /// [`Error::Unconfirmed`]: the caller looks for what it would have made before trying again.
    fn unconfirmed(&self, repeatable: bool, error: Error) -> Error {
        if repeatable || !error.is_ambiguous() || error.status() == Some(429) {
            return error;
        }
        Error::Unconfirmed {
            source: Box::new(error),
        }
    }

    /// Send and decode a JSON response.
    pub(crate) async fn send_json_opts<T: DeserializeOwned>(
        &self,
        service: Service,
        req: ApiRequest,
        opts: SendOpts,
    ) -> Result<T> {
        let (method, url) = (req.method.to_string(), req.url.to_string());
        let address = req.url.clone();
        let repeatable = opts.repeatable || req.is_idempotent();
        let policy = self.inner.config.retry;
        let mut attempt = 0u32;
        let (status, body) = loop {
            let resp = self.send(service, req.clone(), opts).await?;
            let status = resp.status().as_u16();
            match self.answer(service, &method, &url, resp).await {
                Ok(body) => break (status, body),
                // The connection broke while the answer was coming: ask again.
                Err(e @ (Error::Transport { .. } | Error::Timeout { .. }))
                    if repeatable && attempt < policy.max_retries =>
                {
                    let wait = backoff(&policy, attempt, None);
                    tracing::debug!(cloud = %self.name(), %method, %url, error = %e, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, "answer broken off; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(self.unconfirmed(repeatable, e)),
            }
        };
        super::shapes::record(service, &method, &address, status, Some(&body));
        serde_json::from_slice(&body).map_err(|e| Error::Decode {
            cloud: self.name().to_string(),
            service,
            method,
            url,
            message: e.to_string(),
        })
    }

    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        service: Service,
        req: ApiRequest,
    ) -> Result<T> {
        self.send_json_opts(service, req, SendOpts::default()).await
    }

    /// Send, expecting no body of interest.
    pub(crate) async fn send_empty(&self, service: Service, req: ApiRequest) -> Result<HeaderMap> {
        let (method, address) = (req.method.to_string(), req.url.clone());
        let resp = self.send(service, req, SendOpts::default()).await?;
        super::shapes::record(service, &method, &address, resp.status().as_u16(), None);
        let headers = resp.headers().clone();
        // Drain the body so the connection can be reused (a long one is dropped instead).
        body::drain(resp).await;
        Ok(headers)
    }

    /// Send; `Ok(None)` on 404.
    pub(crate) async fn send_json_opt<T: DeserializeOwned>(
        &self,
        service: Service,
        req: ApiRequest,
    ) -> Result<Option<T>> {
        match self.send_json(service, req).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// GET a byte stream (image download): retried like any GET until the headers arrive,
    /// then no total timeout; the stream fails if no bytes come for the stall timeout.
    pub(crate) async fn download(&self, service: Service, req: ApiRequest) -> Result<ByteStream> {
        let url = req.url.to_string();
        let opts = SendOpts {
            total_timeout: false,
            ..SendOpts::default()
        };
        let resp = self.send(service, req, opts).await?;
        let status = resp.status().as_u16();
        let h = resp.headers();
        let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        let content_md5 = header("content-md5");
        let content_range = header("content-range");
        let content_length = header("content-length").and_then(|v| v.parse().ok());
        let request_id = request_id(h);
        let stall = self.inner.config.timeouts.stall;
        let cloud = self.name().to_string();
        let session = self.clone();
        let body = resp.bytes_stream();
        let stream = futures_util::stream::unfold(Some(body), move |state| {
            let cloud = cloud.clone();
            let url = url.clone();
            let session = session.clone();
            async move {
                let mut body = state?;
                match tokio::time::timeout(stall, body.next()).await {
                    Err(_) => Some((
                        Err(Error::Timeout {
                            cloud,
                            what: format!("{service} download {url}: no bytes received (stall)"),
                            after: stall,
                        }),
                        None,
                    )),
                    Ok(None) => None,
                    Ok(Some(Ok(b))) => Some((Ok(b), Some(body))),
                    Ok(Some(Err(e))) => {
                        Some((Err(session.transport(service, "GET", &url, e)), None))
                    }
                }
            }
        });
        Ok(ByteStream {
            status,
            content_length,
            content_md5,
            content_range,
            request_id,
            stream: stream.boxed(),
        })
    }

    /// PUT a byte stream (image upload). Sent once (a stream cannot be replayed; the caller
    /// starts again). No total timeout: the request fails if the server takes no bytes for the
    /// stall timeout, or does not answer within the request timeout once all bytes are sent.
    pub(crate) async fn upload<S, E>(
        &self,
        service: Service,
        url: Url,
        content_length: Option<u64>,
        source: S,
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let token = self.token().await?;
        let start = Instant::now();
        let last = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (l2, d2) = (last.clone(), done.clone());
        let tracked = source
            .map(move |chunk| {
                l2.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
                chunk
            })
            .chain(futures_util::stream::poll_fn(move |_| {
                d2.store(true, Ordering::Relaxed);
                Poll::Ready(None)
            }));
        let mut req = ApiRequest::new(Method::PUT, url.clone())
            .header("content-type", "application/octet-stream");
        if let Some(n) = content_length {
            req = req.header("content-length", &n.to_string());
        }
        let rb = self
            .build(
                &req,
                Some(&token),
                SendOpts {
                    total_timeout: false,
                    ..SendOpts::default()
                },
            )
            .body(reqwest::Body::wrap_stream(tracked));
        let timeouts = self.inner.config.timeouts;
        let cloud = self.name().to_string();
        let watchdog = async {
            let mut done_at: Option<Instant> = None;
            loop {
                tokio::time::sleep(Duration::from_millis(200).min(timeouts.stall)).await;
                let now = start.elapsed();
                if done.load(Ordering::Relaxed) {
                    let at = *done_at.get_or_insert_with(Instant::now);
                    if at.elapsed() > timeouts.request {
                        return Error::Timeout {
                            cloud: cloud.clone(),
                            what: format!("{service} upload {url}: waiting for the answer"),
                            after: timeouts.request,
                        };
                    }
                } else if now.saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)))
                    > timeouts.stall
                {
                    return Error::Timeout {
                        cloud: cloud.clone(),
                        what: format!("{service} upload {url}: no bytes taken (stall)"),
                        after: timeouts.stall,
                    };
                }
            }
        };
        let started = Instant::now();
        let permit = self.inner.limiter.acquire().await;
        self.inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        drop(permit);
        let resp = tokio::select! {
            r = rb.send() => r.map_err(|e| self.transport(service, "PUT", url.as_str(), e))?,
            e = watchdog => return Err(e),
        };
        let status = resp.status();
        let rid = request_id(resp.headers());
        tracing::debug!(cloud = %self.name(), %service, method = "PUT", url = %url, status = status.as_u16(), latency_ms = started.elapsed().as_millis() as u64, request_id = rid.as_deref().unwrap_or("-"), "upload");
        if status.is_success() {
            return Ok(());
        }
        if status == StatusCode::UNAUTHORIZED {
            // The token expired during the copy: renew it now, so the caller's next attempt
            // (the stream cannot be replayed from here) goes out with a valid one.
            self.renew_after_401(&token).await?;
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.inner
                .stats
                .rate_limited
                .fetch_add(1, Ordering::Relaxed);
            let ra = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, OffsetDateTime::now_utc()));
            self.inner
                .limiter
                .pause(backoff(&self.inner.config.retry, 0, ra));
        }
        let reason = status.canonical_reason().unwrap_or("").to_string();
        let body = body::read_cut(resp, body::MAX_ERROR_BYTES).await;
        Err(Error::Api {
            cloud: self.name().to_string(),
            service,
            method: "PUT".into(),
            url: url.to_string(),
            status: status.as_u16(),
            message: decode_error_body(&body, &reason),
            request_id: rid,
        })
    }
}
