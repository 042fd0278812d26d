//! The service's shared state: the registry of stored plans (each with its document, its
//! parsed plan and the job running on it, if any), every job, and the cloud connections the
//! wizard's pickers use. Handlers in `api` call these methods and turn their answers into
//! HTTP; the methods answer in [`ApiError`]s so that every refusal has its status here.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::task::TaskTracker;

use super::auth::Token;
use super::error::{ApiError, ApiResult};
use super::jobs::{self, Context, Job, JobOptions};
use super::store::{self, JobKind, JobRecord, PlanMeta, Store, StoreError};
use crate::cloud::{Cloud, ConfigEnv};
use crate::engine::PlanOutcome;
use crate::plan::{self, CloudRef, JsonDiagnostic, Plan, Severity, Syntax};
use crate::state::State;

/// A refusal of the preflight (`s2d::plan::preflight`: a kept IP or MAC the target will not
/// give, a built network that clashes with the target's) as its own fields, so that the
/// wizard can show it next to the NIC it concerns: the resource's address (`port.web[1]`,
/// `network.db-net`, `subnet.db-net[0]`), its kind, name and index, the reason and the help.
fn refusal(error: &crate::workflow::WorkflowError) -> Option<Value> {
    let crate::workflow::WorkflowError::Diff(inner) = error else {
        return None;
    };
    let crate::engine::PlanError::Preflight {
        address,
        reason,
        help,
    } = inner.as_ref()
    else {
        return None;
    };
    Some(json!({
        "address": address.to_string(),
        "kind": address.kind(),
        "name": address.name(),
        "index": address.index(),
        "reason": reason,
        "help": help,
    }))
}

/// A stored plan.
struct Entry {
    meta: PlanMeta,
    /// The document as stored (literal passwords masked).
    document: String,
    /// The plan read from the document as submitted (with its password, in memory only).
    plan: Plan,
    /// The document had a literal password that this process does not have (it was submitted
    /// before a restart): the plan cannot connect until it is submitted again.
    password_lost: bool,
    running: Option<String>,
}

/// A plan as listed.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummary {
    pub id: String,
    pub name: String,
    pub syntax: String,
    pub created_at: String,
    pub updated_at: String,
    pub source: String,
    pub target: String,
    pub servers: Vec<String>,
    /// Resources recorded in the plan's state.
    pub resources: usize,
    pub last_job: Option<JobRecord>,
    pub running_job: Option<String>,
    pub literal_password: bool,
    /// The literal password is not known since a restart: submit the plan again (PUT).
    pub needs_resubmit: bool,
}

/// The service.
pub struct App {
    ctx: Arc<Context>,
    plans: Mutex<BTreeMap<String, Entry>>,
    jobs: Mutex<BTreeMap<String, Arc<Job>>>,
    tasks: TaskTracker,
    clouds: tokio::sync::Mutex<HashMap<String, Arc<Cloud>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn has_literal_password(plan: &Plan) -> bool {
    [&plan.source, &plan.target]
        .into_iter()
        .any(|c| matches!(c, CloudRef::Inline(auth) if auth.password.is_some()))
}

/// The syntax a request's `Content-Type` names.
pub fn syntax_of_content_type(content_type: Option<&str>) -> ApiResult<Syntax> {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/toml" | "text/toml") => Ok(Syntax::Toml),
        Some("application/xml" | "text/xml") => Ok(Syntax::Xml),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "a plan is sent as application/xml or application/toml, not {}",
                other.unwrap_or("a body without a Content-Type")
            ),
        )),
    }
}

/// Read a submitted document; 422 with the located diagnostics when it is not a valid plan.
fn read_document(text: &str, syntax: Syntax) -> ApiResult<(plan::Loaded, Plan)> {
    let file = format!("plan.{}", syntax.extension());
    let loaded = plan::parse_str(text, syntax, &file);
    if loaded.has_errors() {
        return Err(
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "the plan is not valid")
                .help("each diagnostic names its line and column in the document")
                .with("diagnostics", json!(loaded.json())),
        );
    }
    let plan = loaded.plan.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the plan could not be read",
        )
    })?;
    Ok((loaded, plan))
}

fn default_name(plan: &Plan) -> String {
    let names: Vec<String> = plan
        .resolved_servers()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    match names.as_slice() {
        [] => "plan".into(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (+{})", rest.len()),
    }
}

impl App {
    /// Open the data directory: the token, every stored plan and job (a job that was running
    /// when the service stopped is marked interrupted). Returns the app, the token, whether it
    /// is new, and how many jobs were found interrupted.
    pub fn open(
        data_dir: &Path,
        env: ConfigEnv,
    ) -> Result<(Arc<App>, Token, bool, usize), StoreError> {
        let store = Store::open(data_dir)?;
        let (token, new_token) = Token::load_or_create(data_dir)?;
        let mut plans = BTreeMap::new();
        let mut jobs = BTreeMap::new();
        let mut interrupted = 0;
        for (meta, document) in store.load_plans()? {
            let syntax = if meta.syntax == "xml" {
                Syntax::Xml
            } else {
                Syntax::Toml
            };
            let loaded = plan::parse_str(&document, syntax, &format!("plan.{}", meta.syntax));
            let Some(plan) = loaded.plan.filter(|_| !loaded.diagnostics.has_errors()) else {
                tracing::warn!(
                    "stored plan {} no longer reads as a valid plan; skipped",
                    meta.id
                );
                continue;
            };
            for record in store.load_jobs(&meta.id)? {
                if record.status == store::JobStatus::Running {
                    interrupted += 1;
                }
                let job = Job::from_disk(record, &store)?;
                jobs.insert(job.record().id, Arc::new(job));
            }
            plans.insert(
                meta.id.clone(),
                Entry {
                    password_lost: meta.literal_password,
                    meta,
                    document,
                    plan,
                    running: None,
                },
            );
        }
        let app = Arc::new(App {
            ctx: Arc::new(Context { store, env }),
            plans: Mutex::new(plans),
            jobs: Mutex::new(jobs),
            tasks: TaskTracker::new(),
            clouds: tokio::sync::Mutex::new(HashMap::new()),
        });
        Ok((app, token, new_token, interrupted))
    }

    pub fn env(&self) -> &ConfigEnv {
        &self.ctx.env
    }

    pub fn store(&self) -> &Store {
        &self.ctx.store
    }

    /// Plan `id`'s state, read without its lock, from wherever it is kept.
    pub fn read_state(
        &self,
        id: &str,
        plan: &Plan,
    ) -> Result<Option<State>, crate::state::StateError> {
        crate::state::backend::read_blocking(&self.store().state_location(id, plan))
    }

    /// Plan `id`'s state, by its id (`Ok(None)` too when there is no such plan).
    pub fn read_state_of(&self, id: &str) -> Result<Option<State>, crate::state::StateError> {
        let plan = lock(&self.plans).get(id).map(|e| e.plan.clone());
        match plan {
            Some(plan) => self.read_state(id, &plan),
            None => Ok(None),
        }
    }

    fn summary(&self, entry: &Entry) -> PlanSummary {
        let resources = self
            .read_state(&entry.meta.id, &entry.plan)
            .ok()
            .flatten()
            .map_or(0, |s| s.resources.len());
        let last_job = self.jobs_of(&entry.meta.id).into_iter().next();
        PlanSummary {
            id: entry.meta.id.clone(),
            name: entry.meta.name.clone(),
            syntax: entry.meta.syntax.clone(),
            created_at: entry.meta.created_at.clone(),
            updated_at: entry.meta.updated_at.clone(),
            source: crate::workflow::clouds::label("source", &entry.plan.source),
            target: crate::workflow::clouds::label("target", &entry.plan.target),
            servers: entry
                .plan
                .resolved_servers()
                .iter()
                .map(|s| s.name.clone())
                .collect(),
            resources,
            last_job,
            running_job: self.running(entry),
            literal_password: entry.meta.literal_password,
            needs_resubmit: entry.password_lost,
        }
    }

    /// The job running on a plan (its task may not have cleared `running` yet when the job's
    /// record already says it ended).
    fn running(&self, entry: &Entry) -> Option<String> {
        let id = entry.running.as_ref()?;
        lock(&self.jobs)
            .get(id)
            .is_some_and(|j| j.is_running())
            .then(|| id.clone())
    }

    /// Store a new plan. Returns its summary and the warnings found in it.
    pub fn submit(
        &self,
        text: &str,
        syntax: Syntax,
        name: Option<String>,
    ) -> ApiResult<(PlanSummary, Vec<JsonDiagnostic>)> {
        let (loaded, plan) = read_document(text, syntax)?;
        let now = store::now();
        let meta = PlanMeta {
            id: store::new_id("p"),
            name: name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| default_name(&plan)),
            syntax: syntax.extension().into(),
            created_at: now.clone(),
            updated_at: now,
            literal_password: has_literal_password(&plan),
        };
        // `loaded.text` is the document with any literal password masked byte for byte.
        self.store().save_plan(&meta, &loaded.text)?;
        let entry = Entry {
            meta,
            document: loaded.text.clone(),
            plan,
            password_lost: false,
            running: None,
        };
        let summary = self.summary(&entry);
        lock(&self.plans).insert(entry.meta.id.clone(), entry);
        Ok((summary, loaded.json()))
    }

    /// Replace a plan's document (its state stays).
    pub fn replace(
        &self,
        id: &str,
        text: &str,
        syntax: Syntax,
        name: Option<String>,
    ) -> ApiResult<(PlanSummary, Vec<JsonDiagnostic>)> {
        let (loaded, plan) = read_document(text, syntax)?;
        let mut plans = lock(&self.plans);
        let entry = plans
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found("such plan"))?;
        if let Some(job) = self.running(entry) {
            return Err(
                ApiError::conflict("a job runs on this plan: wait for it to end")
                    .with("job", json!(job)),
            );
        }
        let mut meta = entry.meta.clone();
        meta.syntax = syntax.extension().into();
        meta.updated_at = store::now();
        meta.literal_password = has_literal_password(&plan);
        // A name given now wins; a name that was the default follows the new document.
        if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
            meta.name = name;
        } else if meta.name == default_name(&entry.plan) {
            meta.name = default_name(&plan);
        }
        self.store().save_plan(&meta, &loaded.text)?;
        entry.meta = meta;
        entry.document = loaded.text.clone();
        entry.plan = plan;
        entry.password_lost = false;
        let summary = self.summary(entry);
        Ok((summary, loaded.json()))
    }

    /// Every plan, newest first.
    pub fn list(&self) -> Vec<PlanSummary> {
        let plans = lock(&self.plans);
        let mut out: Vec<PlanSummary> = plans.values().map(|e| self.summary(e)).collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        out
    }

    /// One plan, with the resources of its state.
    pub fn get(&self, id: &str) -> ApiResult<Value> {
        let plans = lock(&self.plans);
        let entry = plans
            .get(id)
            .ok_or_else(|| ApiError::not_found("such plan"))?;
        let mut value = json!(self.summary(entry));
        let state = self
            .read_state(id, &entry.plan)
            .map_err(ApiError::internal)?
            .unwrap_or_default();
        value["resources"] = state
            .resources
            .iter()
            .map(|(address, r)| {
                json!({
                    "address": address.to_string(),
                    "id": r.id,
                    "name": address.name(),
                    "origin": r.origin,
                    "recorded_at": r.recorded_at,
                })
            })
            .collect();
        Ok(value)
    }

    /// Forget a plan whose state is empty.
    pub fn delete(&self, id: &str) -> ApiResult<()> {
        let mut plans = lock(&self.plans);
        let entry = plans
            .get(id)
            .ok_or_else(|| ApiError::not_found("such plan"))?;
        if self.running(entry).is_some() {
            return Err(ApiError::conflict("a job runs on this plan"));
        }
        let state = self
            .read_state(id, &entry.plan)
            .map_err(ApiError::internal)?;
        if state.is_some_and(|s| !s.resources.is_empty()) {
            return Err(ApiError::conflict(
                "the plan's state still records resources in the clouds",
            )
            .help("destroy them first (POST /v1/plans/{id}/destroy), so that nothing is left that s2d cannot find again"));
        }
        plans.remove(id);
        lock(&self.jobs).retain(|_, j| j.record().plan_id != id);
        drop(plans);
        self.store().remove_plan(id)?;
        Ok(())
    }

    /// The plan in TOML or XML (never with a literal password).
    pub fn document(&self, id: &str, syntax: Syntax) -> ApiResult<String> {
        let plans = lock(&self.plans);
        let entry = plans
            .get(id)
            .ok_or_else(|| ApiError::not_found("such plan"))?;
        if entry.meta.syntax == syntax.extension() && !entry.meta.literal_password {
            return Ok(entry.document.clone());
        }
        let written = match syntax {
            Syntax::Toml => plan::to_toml(&entry.plan),
            Syntax::Xml => plan::to_xml(&entry.plan),
        };
        written.map_err(|e| {
            ApiError::conflict(e.to_string()).help(
                "name an environment variable with password_env instead of a literal password",
            )
        })
    }

    /// A usable plan: 409 when its literal password was lost in a restart.
    fn runnable(&self, id: &str) -> ApiResult<Plan> {
        let plans = lock(&self.plans);
        let entry = plans
            .get(id)
            .ok_or_else(|| ApiError::not_found("such plan"))?;
        if entry.password_lost {
            return Err(ApiError::conflict(
                "this plan's literal password was kept only in the service's memory, and the \
                 service has restarted since",
            )
            .help("submit the plan again with PUT /v1/plans/{id} (its state is kept), or name an environment variable with password_env"));
        }
        Ok(entry.plan.clone())
    }

    /// What apply (or destroy) would change now: the `s2d plan --json` document.
    pub async fn diff(&self, id: &str, destroy: bool) -> ApiResult<PlanOutcome> {
        let plan = self.runnable(id)?;
        // Read without the lock: a job may hold it, and a diff changes nothing.
        let state = self
            .read_state(id, &plan)
            .map_err(ApiError::internal)?
            .unwrap_or_else(State::new);
        if destroy {
            return Ok(crate::workflow::preview_destroy(&state));
        }
        crate::workflow::preview(&plan, &state, &self.ctx.env, self.store().spool_dir(id))
            .await
            .map_err(|e| {
                let refusal = refusal(&e);
                let error = ApiError::taught(crate::workflow::teach(&e));
                match refusal {
                    Some(r) => error.with("refusal", r),
                    None => error,
                }
            })
    }

    /// Start an apply or destroy; 409 when one runs on the plan.
    pub fn start(
        self: &Arc<Self>,
        id: &str,
        kind: JobKind,
        options: JobOptions,
    ) -> ApiResult<JobRecord> {
        options
            .check()
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
        let plan = self.runnable(id)?;
        let job = {
            let mut plans = lock(&self.plans);
            let entry = plans
                .get_mut(id)
                .ok_or_else(|| ApiError::not_found("such plan"))?;
            if let Some(running) = self.running(entry) {
                return Err(ApiError::conflict("a job already runs on this plan")
                    .help("wait for it to end (GET /v1/jobs/{job}), or cancel it")
                    .with("job", json!(running)));
            }
            let job = jobs::create(self.store(), id, kind)?;
            entry.running = Some(job.record().id);
            job
        };
        let record = job.record();
        lock(&self.jobs).insert(record.id.clone(), job.clone());
        let app = self.clone();
        let plan_id = id.to_string();
        // Held until the job ends: `wait_for_jobs` waits for it.
        let tracked = self.tasks.token();
        // A task on the service's runtime. A panic in the engine ends this job failed (its
        // state holds what finished), never the service or another job.
        tokio::spawn(async move {
            use futures_util::FutureExt;
            let id = job.record().id;
            let run = jobs::run(app.ctx.clone(), job.clone(), plan, options);
            if let Err(panic) = std::panic::AssertUnwindSafe(run).catch_unwind().await {
                let message = super::api::panic_message(panic.as_ref()).to_string();
                tracing::error!("job {id}: the engine panicked: {message}");
                job.fail(
                    &app.ctx.store,
                    crate::workflow::Taught::plain(
                        "s2d::serve::panic",
                        format!(
                            "s2d failed inside this job (a bug: {message}); the state holds what finished: apply again"
                        ),
                        Some("apply again to continue from the state, and report the bug with the service's log"),
                    ),
                );
            }
            if let Some(entry) = lock(&app.plans).get_mut(&plan_id)
                && entry.running.as_deref() == Some(id.as_str())
            {
                entry.running = None;
            }
            drop(tracked);
        });
        Ok(record)
    }

    pub fn job(&self, id: &str) -> ApiResult<Arc<Job>> {
        lock(&self.jobs)
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("such job"))
    }

    /// A plan's jobs, newest first.
    pub fn jobs_of(&self, plan: &str) -> Vec<JobRecord> {
        let mut out: Vec<JobRecord> = lock(&self.jobs)
            .values()
            .map(|j| j.record())
            .filter(|r| r.plan_id == plan)
            .collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        out
    }

    pub fn has_plan(&self, id: &str) -> bool {
        lock(&self.plans).contains_key(id)
    }

    /// The plan's clouds (for usage), named as the plan names them.
    pub fn plan_clouds(
        &self,
        id: &str,
    ) -> ApiResult<Vec<(String, Result<crate::cloud::CloudConfig, String>)>> {
        let plan = self.runnable(id)?;
        Ok([("source", &plan.source), ("target", &plan.target)]
            .into_iter()
            .map(|(side, c)| {
                (
                    crate::workflow::clouds::label(side, c),
                    crate::workflow::clouds::config(side, c, self.env()).map_err(|e| e.to_string()),
                )
            })
            .collect())
    }

    /// A connection to a clouds.yaml entry (kept for the next request).
    pub async fn cloud(&self, name: &str) -> ApiResult<Arc<Cloud>> {
        let mut clouds = self.clouds.lock().await;
        if let Some(c) = clouds.get(name) {
            return Ok(c.clone());
        }
        let (_, names) = crate::cloud::config::cloud_names(self.env()).map_err(ApiError::cloud)?;
        if !names.iter().any(|n| n == name) {
            return Err(ApiError::not_found(format!(
                "cloud {name:?} in the service's clouds.yaml"
            )));
        }
        let config =
            crate::cloud::config::from_clouds_yaml(name, self.env()).map_err(ApiError::cloud)?;
        let cloud = Arc::new(Cloud::connect(config).await.map_err(ApiError::cloud)?);
        clouds.insert(name.to_string(), cloud.clone());
        Ok(cloud)
    }

    /// Stop starting steps in every running job.
    pub fn cancel_jobs(&self) {
        for job in lock(&self.jobs).values() {
            if job.is_running() {
                job.cancel();
            }
        }
    }

    /// Abort every running job's steps.
    pub fn abort_jobs(&self) {
        for job in lock(&self.jobs).values() {
            if job.is_running() {
                job.abort();
            }
        }
    }

    /// Wait until every job has ended.
    pub async fn wait_for_jobs(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Severity filter for the warnings answered with a new plan.
pub fn warnings(diagnostics: Vec<JsonDiagnostic>) -> Vec<JsonDiagnostic> {
    diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect()
}
