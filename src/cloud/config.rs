//! Finding a cloud's settings: clouds.yaml and secure.yaml as openstacksdk reads them, the
//! plain `OS_*` environment variables, and inline auth given by the caller (the plan). All
//! three end as one [`CloudConfig`]. The process environment is read only by
//! [`ConfigEnv::from_process`]; everything else takes a [`ConfigEnv`] so tests can pass their
//! own. Knows nothing of HTTP or of plans.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::error::{Error, Result};
use super::types::{Interface, Secret, Service};

mod yaml;
use yaml::{MAX_FLOW_DEPTH, bounded_yaml, too_deep};

/// Where configuration is looked for: the environment variables, the current directory, the
/// home directory and the system directory (`/etc/openstack`).
#[derive(Clone, Debug, Default)]
pub struct ConfigEnv {
    pub vars: BTreeMap<String, String>,
    pub cwd: PathBuf,
    pub home: Option<PathBuf>,
    pub system_dir: PathBuf,
}

impl ConfigEnv {
    /// The real process environment.
    pub fn from_process() -> ConfigEnv {
        let vars = std::env::vars().collect::<BTreeMap<_, _>>();
        let home = vars.get("HOME").map(PathBuf::from);
        ConfigEnv {
            vars,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            home,
            system_dir: PathBuf::from("/etc/openstack"),
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The directories searched, in openstacksdk's order (after `OS_CLIENT_CONFIG_FILE`).
    fn config_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.cwd.clone()];
        if let Some(home) = &self.home {
            dirs.push(home.join(".config").join("openstack"));
        }
        dirs.push(self.system_dir.clone());
        dirs
    }

    /// clouds.yaml candidates in search order.
    pub fn clouds_yaml_candidates(&self) -> Vec<PathBuf> {
        self.candidates("OS_CLIENT_CONFIG_FILE", "clouds")
    }

    /// secure.yaml candidates in search order.
    pub fn secure_yaml_candidates(&self) -> Vec<PathBuf> {
        self.candidates("OS_CLIENT_SECURE_FILE", "secure")
    }

    fn candidates(&self, var: &str, stem: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(file) = self.var(var) {
            out.push(PathBuf::from(file));
        }
        for dir in self.config_dirs() {
            for ext in ["yaml", "yml", "json"] {
                out.push(dir.join(format!("{stem}.{ext}")));
            }
        }
        out
    }
}

/// Which identity API to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityVersion {
    V2,
    V3,
}

/// How to authenticate.
#[derive(Clone, Debug, PartialEq)]
pub enum AuthMethod {
    /// Keystone v3 `password` (or v2.0 `passwordCredentials`).
    Password {
        username: Option<String>,
        user_id: Option<String>,
        password: Secret,
        user_domain_name: Option<String>,
        user_domain_id: Option<String>,
    },
    /// Keystone v3 `application_credential` (by id, or by name with the user).
    ApplicationCredential {
        id: Option<String>,
        name: Option<String>,
        secret: Secret,
        username: Option<String>,
        user_id: Option<String>,
        user_domain_name: Option<String>,
        user_domain_id: Option<String>,
    },
    /// An existing token, rescoped (v3 `token` method, v2.0 `token`).
    Token { token: Secret },
}

impl AuthMethod {
    pub fn kind(&self) -> &'static str {
        match self {
            AuthMethod::Password { .. } => "password",
            AuthMethod::ApplicationCredential { .. } => "v3applicationcredential",
            AuthMethod::Token { .. } => "token",
        }
    }
}

/// The project a token is scoped to (an application credential carries its own scope).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectScope {
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub project_domain_id: Option<String>,
    pub project_domain_name: Option<String>,
}

impl ProjectScope {
    pub fn is_empty(&self) -> bool {
        self.project_id.is_none() && self.project_name.is_none()
    }
}

/// Everything needed to authenticate.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthSpec {
    pub auth_url: String,
    pub method: AuthMethod,
    pub scope: ProjectScope,
    /// A domain name/id applied to user and project when their own is not given
    /// (clouds.yaml `domain_name`/`default_domain`).
    pub default_domain_id: Option<String>,
    pub default_domain_name: Option<String>,
}

/// TLS settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// `verify: false` turns off certificate checks (a warning is logged every run).
    pub verify: bool,
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl Default for TlsOptions {
    fn default() -> TlsOptions {
        TlsOptions {
            verify: true,
            cacert: None,
            cert: None,
            key: None,
        }
    }
}

/// Timeouts of the request path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a connection.
    pub connect: Duration,
    /// A whole API request (not image streams).
    pub request: Duration,
    /// An image stream with no bytes moving for this long is aborted.
    pub stall: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(15),
            request: Duration::from_secs(120),
            stall: Duration::from_secs(120),
        }
    }
}

/// The retry rules of the request path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff; doubled each retry, with jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured (longer ones are cut to this).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            // A cloud failing a fifth of its answers fails one request 9 times in a row
            // once in two million: a fleet's thousands of requests get through.
            max_retries: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// The limits every request to one cloud shares (all tasks of a run together): clouds.yaml's
/// `rate_limit` (requests per second, as openstacksdk reads it) and `concurrency` (requests
/// waiting for their answer at once).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestLimits {
    /// At most this many requests in flight; `None`: no cap.
    pub concurrency: Option<usize>,
    /// At most this many request starts per second; `None`: no cap.
    pub requests_per_second: Option<f64>,
}

impl Default for RequestLimits {
    fn default() -> RequestLimits {
        RequestLimits {
            concurrency: Some(DEFAULT_CONCURRENCY),
            requests_per_second: None,
        }
    }
}

/// Requests in flight to one cloud by default.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// One cloud, fully resolved: how to reach it and how to authenticate.
#[derive(Clone, Debug, PartialEq)]
pub struct CloudConfig {
    /// The name used in every message (the clouds.yaml key, `envvars`, or the plan's name).
    pub name: String,
    pub auth: AuthSpec,
    pub region: Option<String>,
    pub interface: Interface,
    pub identity_api_version: Option<IdentityVersion>,
    /// `<service>_endpoint_override`: used instead of the catalog.
    pub endpoint_overrides: BTreeMap<Service, String>,
    pub tls: TlsOptions,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    pub limits: RequestLimits,
}

/// Auth written inline (in the plan). Secrets come from the environment via `password_env` /
/// `application_credential_secret_env`, or directly as a [`Secret`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InlineAuth {
    pub auth_url: String,
    pub username: Option<String>,
    pub user_id: Option<String>,
    pub password_env: Option<String>,
    pub password: Option<Secret>,
    pub project_name: Option<String>,
    pub project_id: Option<String>,
    pub user_domain_name: Option<String>,
    pub project_domain_name: Option<String>,
    pub region: Option<String>,
    pub application_credential_id: Option<String>,
    pub application_credential_secret_env: Option<String>,
    pub cacert: Option<PathBuf>,
    pub interface: Option<String>,
}

/// Where a cloud's settings come from.
#[derive(Clone, Debug)]
pub enum CloudSource {
    /// A name in clouds.yaml; `None` means `OS_CLOUD`.
    Named(Option<String>),
    /// The `OS_*` environment variables.
    Env,
    /// Inline auth, named `name` in messages.
    Inline { name: String, auth: Box<InlineAuth> },
}

/// Resolve a cloud's settings.
pub fn resolve(source: &CloudSource, env: &ConfigEnv) -> Result<CloudConfig> {
    match source {
        CloudSource::Named(name) => {
            let name = match name {
                Some(n) => n.clone(),
                None => env
                    .var("OS_CLOUD")
                    .map(str::to_string)
                    .ok_or_else(|| Error::config("no cloud named and OS_CLOUD is not set"))?,
            };
            from_clouds_yaml(&name, env)
        }
        CloudSource::Env => from_env(env),
        CloudSource::Inline { name, auth } => from_inline(name, auth, env),
    }
}

/// Try each source in turn; if all fail, the error lists why each one failed.
pub fn resolve_first(sources: &[CloudSource], env: &ConfigEnv) -> Result<CloudConfig> {
    let mut why = Vec::new();
    for s in sources {
        match resolve(s, env) {
            Ok(c) => return Ok(c),
            Err(e) => why.push(format!("{}: {e}", source_label(s))),
        }
    }
    Err(Error::config(format!(
        "no usable cloud configuration: {}",
        why.join("; ")
    )))
}

fn source_label(s: &CloudSource) -> String {
    match s {
        CloudSource::Named(Some(n)) => format!("clouds.yaml cloud {n:?}"),
        CloudSource::Named(None) => "clouds.yaml (OS_CLOUD)".to_string(),
        CloudSource::Env => "OS_* environment".to_string(),
        CloudSource::Inline { name, .. } => format!("inline auth for {name:?}"),
    }
}

fn read_first(candidates: &[PathBuf]) -> Result<Option<(PathBuf, Value)>> {
    for path in candidates {
        let text = match crate::files::read_text(path, crate::files::MAX_CLOUDS_YAML_BYTES) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::config(format!("reading {}: {e}", path.display())));
            }
        };
        if let Some(line) = too_deep(&text) {
            return Err(Error::config(format!(
                "{}: brackets nest deeper than {MAX_FLOW_DEPTH} levels at line {line}",
                path.display()
            )));
        }
        let value =
            bounded_yaml(&text).map_err(|e| Error::config(format!("{}: {e}", path.display())))?;
        return Ok(Some((path.clone(), value)));
    }
    Ok(None)
}

/// Merge `over` into `base`, objects key by key (secure.yaml over clouds.yaml).
fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The cloud `name` from clouds.yaml (merged with secure.yaml).
pub fn from_clouds_yaml(name: &str, env: &ConfigEnv) -> Result<CloudConfig> {
    let candidates = env.clouds_yaml_candidates();
    let found = read_first(&candidates)?;
    let secure = read_first(&env.secure_yaml_candidates())?;
    let (path, mut doc) = match found {
        Some(f) => f,
        None => {
            let list: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            return Err(Error::Config {
                cloud: Some(name.to_string()),
                message: format!(
                    "cloud {name:?}: no clouds.yaml found (searched {})",
                    list.join(", ")
                ),
            });
        }
    };
    if let Some((_, sec)) = &secure {
        deep_merge(&mut doc, sec);
    }
    let clouds = doc.get("clouds").and_then(Value::as_object);
    let entry = clouds.and_then(|c| c.get(name)).and_then(Value::as_object);
    let Some(entry) = entry else {
        let names: Vec<&str> = clouds
            .map(|c| c.keys().map(String::as_str).collect())
            .unwrap_or_default();
        return Err(Error::UnknownCloud {
            name: name.to_string(),
            message: format!(
                "cloud {name:?} not found in {} (it has: {}){}",
                path.display(),
                if names.is_empty() {
                    "no clouds".to_string()
                } else {
                    names.join(", ")
                },
                match &secure {
                    Some((p, _)) => format!("; merged with {}", p.display()),
                    None => String::new(),
                }
            ),
        });
    };
    from_entry(name, entry).map_err(|m| Error::Config {
        cloud: Some(name.to_string()),
        message: format!("cloud {name:?} in {}: {m}", path.display()),
    })
}

fn str_of(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn bool_of(map: &Map<String, Value>, key: &str) -> Option<bool> {
    match map.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// One clouds.yaml entry (also the shape the environment variables are mapped into).
fn from_entry(name: &str, entry: &Map<String, Value>) -> Result<CloudConfig, String> {
    let empty = Map::new();
    let auth = entry
        .get("auth")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let auth_url = str_of(auth, "auth_url").ok_or("auth.auth_url is missing")?;
    let auth_type = str_of(entry, "auth_type").unwrap_or_else(|| {
        if auth.contains_key("application_credential_secret") {
            "v3applicationcredential".into()
        } else if auth.contains_key("token") && !auth.contains_key("password") {
            "token".into()
        } else {
            "password".into()
        }
    });
    let mut identity_api_version = match str_of(entry, "identity_api_version").as_deref() {
        None => None,
        Some("2") | Some("2.0") => Some(IdentityVersion::V2),
        Some("3") | Some("3.0") => Some(IdentityVersion::V3),
        Some(other) => return Err(format!("identity_api_version {other:?} is not 2 or 3")),
    };
    let method = match auth_type.as_str() {
        "password" | "v3password" | "v2password" => {
            if auth_type == "v2password" {
                identity_api_version = Some(IdentityVersion::V2);
            }
            let password = str_of(auth, "password").ok_or("auth.password is missing")?;
            let username = str_of(auth, "username");
            let user_id = str_of(auth, "user_id");
            if username.is_none() && user_id.is_none() {
                return Err("auth needs username or user_id".into());
            }
            AuthMethod::Password {
                username,
                user_id,
                password: Secret::new(password),
                user_domain_name: str_of(auth, "user_domain_name"),
                user_domain_id: str_of(auth, "user_domain_id"),
            }
        }
        "v3applicationcredential" | "applicationcredential" => {
            let secret = str_of(auth, "application_credential_secret")
                .ok_or("auth.application_credential_secret is missing")?;
            let id = str_of(auth, "application_credential_id");
            let cred_name = str_of(auth, "application_credential_name");
            if id.is_none() && cred_name.is_none() {
                return Err(
                    "auth needs application_credential_id or application_credential_name".into(),
                );
            }
            AuthMethod::ApplicationCredential {
                id,
                name: cred_name,
                secret: Secret::new(secret),
                username: str_of(auth, "username"),
                user_id: str_of(auth, "user_id"),
                user_domain_name: str_of(auth, "user_domain_name"),
                user_domain_id: str_of(auth, "user_domain_id"),
            }
        }
        "token" | "v3token" | "v2token" => AuthMethod::Token {
            token: Secret::new(str_of(auth, "token").ok_or("auth.token is missing")?),
        },
        other => {
            return Err(format!(
                "auth_type {other:?} is not supported (s2d supports password, v3password, \
                 v3applicationcredential, token)"
            ));
        }
    };
    let scope = ProjectScope {
        project_id: str_of(auth, "project_id").or_else(|| str_of(auth, "tenant_id")),
        project_name: str_of(auth, "project_name").or_else(|| str_of(auth, "tenant_name")),
        project_domain_id: str_of(auth, "project_domain_id"),
        project_domain_name: str_of(auth, "project_domain_name"),
    };
    let interface = match str_of(entry, "interface").or_else(|| str_of(entry, "endpoint_type")) {
        Some(i) => i.parse::<Interface>()?,
        None => Interface::Public,
    };
    let mut verify = bool_of(entry, "verify").unwrap_or(true);
    if bool_of(entry, "insecure") == Some(true) {
        verify = false;
    }
    let mut endpoint_overrides = BTreeMap::new();
    for service in [
        Service::Identity,
        Service::Compute,
        Service::Image,
        Service::Network,
        Service::ObjectStore,
        Service::BlockStorage,
    ] {
        // clouds.yaml spells `object-store` as `object_store_endpoint_override`.
        let key = format!(
            "{}_endpoint_override",
            service.catalog_type().replace('-', "_")
        );
        if let Some(url) = str_of(entry, &key) {
            endpoint_overrides.insert(service, url);
        }
    }
    let region = str_of(entry, "region_name").or_else(|| {
        // `regions: [a, b]` (first wins) or `regions: [{name: a}]`.
        let first = entry.get("regions")?.as_array()?.first()?;
        first
            .as_str()
            .map(str::to_string)
            .or_else(|| first.get("name")?.as_str().map(str::to_string))
    });
    let mut timeouts = Timeouts::default();
    if let Some(t) = entry.get("api_timeout").and_then(Value::as_f64)
        && t > 0.0
    {
        // A number too big for a Duration (18446744073709551615, 1e300) was a panic.
        timeouts.request = Duration::try_from_secs_f64(t)
            .map_err(|_| format!("api_timeout {t} is too long a number of seconds"))?;
    }
    Ok(CloudConfig {
        name: name.to_string(),
        auth: AuthSpec {
            auth_url,
            method,
            scope,
            default_domain_id: str_of(auth, "domain_id")
                .or_else(|| str_of(auth, "default_domain_id")),
            default_domain_name: str_of(auth, "domain_name")
                .or_else(|| str_of(auth, "default_domain_name")),
        },
        region,
        interface,
        identity_api_version,
        endpoint_overrides,
        tls: TlsOptions {
            verify,
            cacert: str_of(entry, "cacert").map(PathBuf::from),
            cert: str_of(entry, "cert").map(PathBuf::from),
            key: str_of(entry, "key").map(PathBuf::from),
        },
        timeouts,
        retry: RetryPolicy::default(),
        limits: request_limits(entry)?,
    })
}

/// `rate_limit` (a number of requests per second; openstacksdk also takes a map per service,
/// of which the smallest is used) and `concurrency` of a clouds.yaml entry.
fn request_limits(entry: &Map<String, Value>) -> std::result::Result<RequestLimits, String> {
    let mut limits = RequestLimits::default();
    let rate = match entry.get("rate_limit") {
        Some(Value::Object(per_service)) => per_service
            .values()
            .filter_map(Value::as_f64)
            .min_by(f64::total_cmp),
        Some(v) => Some(
            v.as_f64()
                .ok_or_else(|| format!("rate_limit {v} is not a number of requests per second"))?,
        ),
        None => None,
    };
    if let Some(r) = rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(format!(
                "rate_limit {r} must be a positive number of requests per second"
            ));
        }
        limits.requests_per_second = Some(r);
    }
    if let Some(v) = entry.get("concurrency") {
        let n = v
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("concurrency {v} must be a positive whole number"))?;
        limits.concurrency = Some(usize::try_from(n).unwrap_or(usize::MAX));
    }
    Ok(limits)
}

/// The cloud described by `OS_*` environment variables (named `envvars`, as openstacksdk does).
pub fn from_env(env: &ConfigEnv) -> Result<CloudConfig> {
    let mut auth = Map::new();
    let mut entry = Map::new();
    let put = |map: &mut Map<String, Value>, key: &str, vars: &[&str]| {
        if let Some(v) = vars.iter().find_map(|v| env.var(v)) {
            map.insert(key.to_string(), Value::String(v.to_string()));
        }
    };
    put(&mut auth, "auth_url", &["OS_AUTH_URL"]);
    put(&mut auth, "username", &["OS_USERNAME"]);
    put(&mut auth, "user_id", &["OS_USER_ID"]);
    put(&mut auth, "password", &["OS_PASSWORD"]);
    put(&mut auth, "token", &["OS_TOKEN"]);
    put(
        &mut auth,
        "project_name",
        &["OS_PROJECT_NAME", "OS_TENANT_NAME"],
    );
    put(&mut auth, "project_id", &["OS_PROJECT_ID", "OS_TENANT_ID"]);
    put(&mut auth, "user_domain_name", &["OS_USER_DOMAIN_NAME"]);
    put(&mut auth, "user_domain_id", &["OS_USER_DOMAIN_ID"]);
    put(
        &mut auth,
        "project_domain_name",
        &["OS_PROJECT_DOMAIN_NAME"],
    );
    put(&mut auth, "project_domain_id", &["OS_PROJECT_DOMAIN_ID"]);
    put(&mut auth, "domain_name", &["OS_DOMAIN_NAME"]);
    put(&mut auth, "domain_id", &["OS_DOMAIN_ID"]);
    put(
        &mut auth,
        "application_credential_id",
        &["OS_APPLICATION_CREDENTIAL_ID"],
    );
    put(
        &mut auth,
        "application_credential_name",
        &["OS_APPLICATION_CREDENTIAL_NAME"],
    );
    put(
        &mut auth,
        "application_credential_secret",
        &["OS_APPLICATION_CREDENTIAL_SECRET"],
    );
    put(&mut entry, "auth_type", &["OS_AUTH_TYPE"]);
    put(&mut entry, "region_name", &["OS_REGION_NAME"]);
    put(
        &mut entry,
        "interface",
        &["OS_INTERFACE", "OS_ENDPOINT_TYPE"],
    );
    put(&mut entry, "cacert", &["OS_CACERT"]);
    put(&mut entry, "cert", &["OS_CERT"]);
    put(&mut entry, "key", &["OS_KEY"]);
    put(
        &mut entry,
        "identity_api_version",
        &["OS_IDENTITY_API_VERSION"],
    );
    put(&mut entry, "insecure", &["OS_INSECURE"]);
    for service in ["compute", "image", "network", "identity"] {
        let var = format!("OS_{}_ENDPOINT_OVERRIDE", service.to_ascii_uppercase());
        put(
            &mut entry,
            &format!("{service}_endpoint_override"),
            &[var.as_str()],
        );
    }
    if !auth.contains_key("auth_url") {
        return Err(Error::config("OS_AUTH_URL is not set"));
    }
    entry.insert("auth".into(), Value::Object(auth));
    from_entry("envvars", &entry).map_err(|m| Error::Config {
        cloud: Some("envvars".into()),
        message: format!("OS_* environment: {m}"),
    })
}

/// Inline auth (from the plan); `name` names the cloud in messages.
pub fn from_inline(name: &str, inline: &InlineAuth, env: &ConfigEnv) -> Result<CloudConfig> {
    let fail = |m: String| Error::Config {
        cloud: Some(name.to_string()),
        message: format!("inline auth for cloud {name:?}: {m}"),
    };
    if inline.auth_url.is_empty() {
        return Err(fail("auth_url is empty".into()));
    }
    let from_env = |var: &str| -> Result<Secret> {
        env.var(var)
            .map(Secret::new)
            .ok_or_else(|| fail(format!("environment variable {var} is not set")))
    };
    let method = if let Some(id) = &inline.application_credential_id {
        let var = inline
            .application_credential_secret_env
            .as_deref()
            .ok_or_else(|| fail("application_credential_secret_env is missing".into()))?;
        AuthMethod::ApplicationCredential {
            id: Some(id.clone()),
            name: None,
            secret: from_env(var)?,
            username: None,
            user_id: None,
            user_domain_name: None,
            user_domain_id: None,
        }
    } else {
        let password = match (&inline.password, &inline.password_env) {
            (Some(p), _) => p.clone(),
            (None, Some(var)) => from_env(var)?,
            (None, None) => return Err(fail("password_env is missing".into())),
        };
        if inline.username.is_none() && inline.user_id.is_none() {
            return Err(fail("username or user_id is needed".into()));
        }
        AuthMethod::Password {
            username: inline.username.clone(),
            user_id: inline.user_id.clone(),
            password,
            user_domain_name: inline.user_domain_name.clone(),
            user_domain_id: None,
        }
    };
    let interface = match &inline.interface {
        Some(i) => i.parse::<Interface>().map_err(fail)?,
        None => Interface::Public,
    };
    Ok(CloudConfig {
        name: name.to_string(),
        auth: AuthSpec {
            auth_url: inline.auth_url.clone(),
            method,
            scope: ProjectScope {
                project_id: inline.project_id.clone(),
                project_name: inline.project_name.clone(),
                project_domain_id: None,
                project_domain_name: inline.project_domain_name.clone(),
            },
            default_domain_id: None,
            default_domain_name: None,
        },
        region: inline.region.clone(),
        interface,
        identity_api_version: None,
        endpoint_overrides: BTreeMap::new(),
        tls: TlsOptions {
            verify: true,
            cacert: inline.cacert.clone(),
            cert: None,
            key: None,
        },
        timeouts: Timeouts::default(),
        retry: RetryPolicy::default(),
        limits: RequestLimits::default(),
    })
}

/// Names of the clouds in the first clouds.yaml found (for `s2d init` and messages).
pub fn cloud_names(env: &ConfigEnv) -> Result<(Option<PathBuf>, Vec<String>)> {
    match read_first(&env.clouds_yaml_candidates())? {
        None => Ok((None, Vec::new())),
        Some((path, doc)) => {
            let names = doc
                .get("clouds")
                .and_then(Value::as_object)
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default();
            Ok((Some(path), names))
        }
    }
}

#[cfg(test)]
mod tests;
