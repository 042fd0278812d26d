//! `cloud::Error`: every way a call to a cloud can fail, each naming the cloud, and the
//! decoding of OpenStack error bodies (Nova, Neutron, Keystone, Glance's HTML and plain
//! text) into one message. Knows nothing of how errors are rendered to users.

use std::time::Duration;

use super::types::Service;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed cloud operation. Every variant names the cloud (the clouds.yaml name or the
/// plan's name for it). No variant ever holds a token, password or secret: URLs carry none
/// (tokens travel in headers), and auth bodies are never echoed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service answered with an error status.
    #[error("{cloud}: {service} {method} {url}: {status}: {message}{}", request_id_suffix(.request_id))]
    Api {
        cloud: String,
        service: Service,
        method: String,
        url: String,
        status: u16,
        message: String,
        request_id: Option<String>,
    },
    /// The request did not get an answer (connection refused, reset, TLS failure, ...).
    #[error("{cloud}: {service} {method} {url}: {source}")]
    Transport {
        cloud: String,
        service: Service,
        method: String,
        url: String,
        /// Whether the connection was never established (so the server certainly did not act).
        connect: bool,
        #[source]
        source: reqwest::Error,
    },
    /// Authentication failed or the identity service could not be used.
    #[error("{cloud}: authentication: {message}")]
    Auth { cloud: String, message: String },
    /// The identity service refused the credentials (401/403/400/404 on the token request).
    #[error(
        "{cloud}: authentication: {identity} rejected the credentials ({method} {status}: {message}){}",
        request_id_suffix(.request_id)
    )]
    Rejected {
        cloud: String,
        identity: String,
        /// The auth method (`password`, `v3applicationcredential`, `token`).
        method: &'static str,
        status: u16,
        message: String,
        request_id: Option<String>,
    },
    /// clouds.yaml has no entry of that name.
    #[error("{message}")]
    UnknownCloud { name: String, message: String },
    /// The cloud's configuration (clouds.yaml, environment, inline auth) is unusable.
    #[error("{message}")]
    Config {
        cloud: Option<String>,
        message: String,
    },
    /// The catalog has no usable endpoint for a service.
    #[error("{cloud}: {message}")]
    Catalog { cloud: String, message: String },
    /// A response body did not have the expected shape.
    #[error("{cloud}: {service} {method} {url}: decoding the response: {message}")]
    Decode {
        cloud: String,
        service: Service,
        method: String,
        url: String,
        message: String,
    },
    /// A request, a stalled stream or a wait ran out of time.
    #[error("{cloud}: {what}: timed out after {}", human_duration(*.after))]
    Timeout {
        cloud: String,
        what: String,
        after: Duration,
    },
    /// A resource went into a failed state while being waited for (server ERROR, image killed).
    #[error("{cloud}: {what} is in status {status}: {message}")]
    Failed {
        cloud: String,
        what: String,
        status: String,
        message: String,
    },
    /// The cloud does not offer something s2d needs (e.g. a microversion range it cannot read).
    #[error("{cloud}: {message}")]
    Unsupported { cloud: String, message: String },
    /// A request that is not safe to repeat (a create) failed in a way that may nevertheless
    /// have made what it asked for: a 5xx, a timeout, a connection broken after the request
    /// left. It is never sent again blindly: the caller looks for the resource by the marker
    /// it carries first ([`super::create_or_adopt`]).
    #[error(
        "{source} (the request may have taken effect: s2d looks for what it made before trying again)"
    )]
    Unconfirmed {
        #[source]
        source: Box<Error>,
    },
}

fn request_id_suffix(id: &Option<String>) -> String {
    match id {
        Some(id) => format!(" (request id {id})"),
        None => String::new(),
    }
}

fn human_duration(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64().round() as u64)
    }
}

/// What a user reads beside the error: a stable code, and what to do.
impl miette::Diagnostic for Error {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
}

/// Whether a refusal's message says a quota or limit ran out (Nova's 403 "Quota exceeded for
/// instances", Neutron's 409 "Quota exceeded for resources: ['floatingip']", Glance's 413
/// "... exceeds the quota", Cinder's 413 "VolumeLimitExceeded"; Nova's 403 when Neutron's
/// port quota is short, `PortLimitExceeded`: "Maximum number of ports exceeded" or "The number
/// of defined ports: N is over the limit: Q").
fn says_quota(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("quota")
        || m.contains("limitexceeded")
        || m.contains("limit exceeded")
        || m.contains("maximum number of ports exceeded")
        || m.contains("is over the limit")
}

/// Whether a 413's message is Glance's refusal of an image above its `image_size_cap`
/// (`ImageSizeLimitExceeded`: "The incoming image is too large: The provided image is too
/// large."), a cap of the deployment's configuration that no quota call shows.
fn says_size_cap(message: &str) -> bool {
    message.to_ascii_lowercase().contains("image is too large")
}

impl Error {
    /// The stable code of this error (`s2d::auth::rejected`, `s2d::cloud::conflict`, ...),
    /// the same in the CLI's report, its `--json` error and the service's answer.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Api {
                status, message, ..
            } => match status {
                401 => "s2d::auth::expired",
                403 | 409 | 413 if says_quota(message) => "s2d::cloud::quota",
                413 if says_size_cap(message) => "s2d::cloud::image_size_cap",
                403 => "s2d::cloud::forbidden",
                404 => "s2d::cloud::not_found",
                409 => "s2d::cloud::conflict",
                413 => "s2d::cloud::too_large",
                429 => "s2d::cloud::rate_limited",
                400..=499 => "s2d::cloud::refused",
                _ => "s2d::cloud::unavailable",
            },
            Error::Transport { .. } => "s2d::cloud::unreachable",
            Error::Auth { .. } => "s2d::auth::failed",
            Error::Rejected { .. } => "s2d::auth::rejected",
            Error::UnknownCloud { .. } => "s2d::config::unknown_cloud",
            Error::Config { .. } => "s2d::config::invalid",
            Error::Catalog { .. } => "s2d::cloud::catalog",
            Error::Decode { .. } => "s2d::cloud::bad_answer",
            Error::Timeout { .. } => "s2d::cloud::timeout",
            Error::Failed { .. } => "s2d::cloud::failed",
            Error::Unsupported { .. } => "s2d::cloud::unsupported",
            Error::Unconfirmed { .. } => "s2d::cloud::unconfirmed",
        }
    }

    /// What to do about it, naming the clouds.yaml entry or the variable to check.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            Error::Rejected { cloud, method, .. } => match *method {
                "password" => format!(
                    "check the username, password and project of `{cloud}`: its entry in clouds.yaml (the password may be in secure.yaml), or OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME for `envvars`, or the variable the plan's inline auth names in password_env"
                ),
                "v3applicationcredential" => format!(
                    "check the application credential of `{cloud}` (application_credential_id and _secret in clouds.yaml or secure.yaml, or OS_APPLICATION_CREDENTIAL_ID/_SECRET): it may have expired or been deleted (`openstack application credential list`)"
                ),
                _ => format!(
                    "the token given for `{cloud}` (OS_TOKEN or auth.token) is not valid any more: get a new one (`openstack token issue`)"
                ),
            },
            Error::Auth { cloud, .. } => format!(
                "check auth_url and the auth section of `{cloud}` in clouds.yaml (or OS_AUTH_URL); `openstack --os-cloud {cloud} token issue` shows whether the cloud accepts them"
            ),
            Error::UnknownCloud { name, .. } => format!(
                "add an entry `{name}` under `clouds:` in clouds.yaml, or name one of the entries it has in the plan's [source]/[target] (clouds.yaml is found through OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/ or /etc/openstack/)"
            ),
            Error::Config { .. } => {
                "fix the cloud's entry in clouds.yaml (or the OS_* variables, or the plan's inline auth) as the message says".into()
            }
            Error::Api {
                cloud,
                status,
                message,
                ..
            } => match status {
                401 => format!(
                    "`{cloud}` no longer accepts the token: s2d renews it once; run again, and check the clock of this machine"
                ),
                403 | 409 | 413 if says_quota(message) => format!(
                    "the project's quota in `{cloud}` ran out: free some (delete what is not needed) or ask the cloud's admin to raise it (`openstack quota show` lists them); then run again, s2d continues where it stopped"
                ),
                413 if says_size_cap(message) => format!(
                    "`{cloud}`'s Glance takes no image larger than its `image_size_cap` (glance-api.conf; 1 TiB unless its admin set another), which a project can neither read nor raise: ask the cloud's admin to raise it, or move a smaller image (for a volume mostly empty, `volume_format = \"qcow2\"`)"
                ),
                403 => format!(
                    "the user of `{cloud}` may not do this: ask for the role it needs (`member` in the project) or use another clouds.yaml entry"
                ),
                404 => "it was deleted meanwhile, or belongs to another project: run `s2d plan` to see the current state".into(),
                409 => format!(
                    "something in `{cloud}` is in the way (a resource of that name, or one busy in another task): run `s2d plan` to see it, resolve it, then apply again"
                ),
                429 => format!("`{cloud}` is limiting the rate of requests: run again later, or with a lower --parallelism"),
                500..=599 => format!("`{cloud}` failed on its side: run again (s2d continues where it stopped); if it persists, give the request id to the cloud's operators"),
                _ => "the cloud refused the request as the message says".into(),
            },
            Error::Transport { cloud, .. } => format!(
                "`{cloud}` could not be reached: check the network, auth_url and the endpoints in its catalog (`openstack --os-cloud {cloud} catalog list`); TLS problems: cacert in clouds.yaml"
            ),
            Error::Catalog { cloud, .. } => format!(
                "the catalog of `{cloud}` lacks that service for the region and interface asked: set region_name or interface in clouds.yaml, or an <service>_endpoint_override"
            ),
            Error::Timeout { .. } => "run again (s2d continues where it stopped), or give the step more time with --snapshot-timeout, --image-timeout, --server-timeout".into(),
            Error::Unconfirmed { source } => format!(
                "the answer to a create was lost ({}); s2d looked for the resource by its marker and tried again as often as allowed: run again, and `s2d plan` adopts what the create made (it carries this state's marker) instead of making it twice",
                source.code()
            ),
            Error::Decode { .. } | Error::Failed { .. } | Error::Unsupported { .. } => return None,
        })
    }

    /// The request id the cloud gave, for its operators.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api { request_id, .. } | Error::Rejected { request_id, .. } => {
                request_id.as_deref()
            }
            Error::Unconfirmed { source } => source.request_id(),
            _ => None,
        }
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::Unconfirmed { source } => source.status(),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// Whether a failed create may nevertheless have created the resource: the request may
    /// have reached the server (timeouts, resets, 5xx). The caller must look the resource up
    /// before creating it again (see [`super::create_or_adopt`]).
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Error::Transport { connect, .. } => !connect,
            Error::Timeout { .. } => true,
            Error::Api { status, .. } => *status >= 500 || *status == 429,
            Error::Unconfirmed { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::Config {
            cloud: None,
            message: message.into(),
        }
    }
}

/// Turn an OpenStack error body into the service's own message.
///
/// Shapes understood: Nova's `{"itemNotFound": {"message", "code"}}` (any single wrapping
/// key), Neutron's `{"NeutronError": {"type", "message", "detail"}}`, Keystone's
/// `{"error": {"code", "title", "message"}}`, `{"message": ...}`, the `{"errors": [{"title",
/// "detail"}]}` list, and HTML or plain text (Glance, proxies) with tags stripped. When
/// nothing matches, the raw text (shortened) is kept; an empty body gives `reason`.
pub fn decode_error_body(body: &str, reason: &str) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return reason.to_string();
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(trimmed) {
        if let Some(msg) = json_message(&value) {
            return shorten(&msg);
        }
        return shorten(trimmed);
    }
    let text = strip_html(trimmed);
    if text.is_empty() {
        reason.to_string()
    } else {
        shorten(&text)
    }
}

fn json_message(v: &serde_json::Value) -> Option<String> {
    let obj = v.as_object()?;
    if let Some(n) = obj.get("NeutronError") {
        let message = n.get("message").and_then(|m| m.as_str()).unwrap_or("");
        let kind = n.get("type").and_then(|m| m.as_str()).unwrap_or("");
        return Some(match (kind.is_empty(), message.is_empty()) {
            (false, false) => format!("{kind}: {message}"),
            (true, _) => message.to_string(),
            (false, true) => kind.to_string(),
        });
    }
    if let Some(m) = obj.get("message").and_then(|m| m.as_str()) {
        return Some(m.to_string());
    }
    if let Some(errors) = obj.get("errors").and_then(|e| e.as_array()) {
        let parts: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                let detail = e.get("detail").and_then(|d| d.as_str());
                let title = e.get("title").and_then(|d| d.as_str());
                detail.or(title).map(str::to_string)
            })
            .collect();
        if !parts.is_empty() {
            return Some(parts.join("; "));
        }
    }
    // Nova and Keystone wrap the message in one key: badRequest, itemNotFound, error, ...
    if obj.len() == 1 {
        let (_, inner) = obj.iter().next()?;
        if let Some(m) = inner.get("message").and_then(|m| m.as_str()) {
            return Some(m.to_string());
        }
        if let Some(s) = inner.as_str() {
            return Some(s.to_string());
        }
    }
    None
}

/// Strip tags from an HTML error page, drop the `<title>` (it repeats the `<h1>`) and
/// collapse whitespace.
fn strip_html(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut body = text.to_string();
    if let (Some(a), Some(b)) = (lower.find("<head"), lower.find("</head>"))
        && a < b
    {
        body = format!("{}{}", &text[..a], &text[b + "</head>".len()..]);
    }
    let mut out = String::with_capacity(body.len());
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn shorten(s: &str) -> String {
    const MAX: usize = 600;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nova_bodies() {
        let b = r#"{"itemNotFound": {"code": 404, "message": "Instance abc could not be found."}}"#;
        assert_eq!(
            decode_error_body(b, "Not Found"),
            "Instance abc could not be found."
        );
        let b = r#"{"badRequest": {"code": 400, "message": "Invalid flavorRef provided."}}"#;
        assert_eq!(decode_error_body(b, ""), "Invalid flavorRef provided.");
    }

    #[test]
    fn neutron_body() {
        let b = r#"{"NeutronError": {"type": "SecurityGroupNotFound", "message": "Security group x does not exist", "detail": ""}}"#;
        assert_eq!(
            decode_error_body(b, ""),
            "SecurityGroupNotFound: Security group x does not exist"
        );
    }

    #[test]
    fn keystone_body() {
        let b = r#"{"error":{"code":401,"title":"Unauthorized","message":"The request you have made requires authentication."}}"#;
        assert_eq!(
            decode_error_body(b, ""),
            "The request you have made requires authentication."
        );
    }

    #[test]
    fn glance_html_and_plain() {
        let b = "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  No image found with ID 1234<br /><br />\n\n\n </body>\n</html>";
        assert_eq!(
            decode_error_body(b, ""),
            "404 Not Found No image found with ID 1234"
        );
        let b =
            "409 Conflict\n\nImage status transition from active to saving is not allowed\n\n   ";
        assert_eq!(
            decode_error_body(b, ""),
            "409 Conflict Image status transition from active to saving is not allowed"
        );
    }

    #[test]
    fn empty_and_unknown() {
        assert_eq!(
            decode_error_body("  ", "Service Unavailable"),
            "Service Unavailable"
        );
        assert_eq!(
            decode_error_body(r#"{"x":1,"y":2}"#, ""),
            r#"{"x":1,"y":2}"#
        );
        let long = "x".repeat(2000);
        assert!(decode_error_body(&long, "").len() < 700);
    }

    #[test]
    fn quota_refusals_as_the_services_word_them() {
        let refusal = |status: u16, message: &str| Error::Api {
            cloud: "hospital".into(),
            service: Service::Compute,
            method: "POST".into(),
            url: "http://h/x".into(),
            status,
            message: message.into(),
            request_id: None,
        };
        for (status, message) in [
            (
                403,
                "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances",
            ),
            (403, "Maximum number of ports exceeded"),
            (403, "The number of defined ports: 12 is over the limit: 10"),
            (
                409,
                "OverQuota: Quota exceeded for resources: ['floatingip'].",
            ),
            (
                413,
                "The request returned a 413 Request Entity Too Large. This generally means that rate limiting or a quota threshold was breached. The response body: Project p is over a limit for [Resource image_count_uploading is over limit of 1 due to current usage 1 and delta 0]",
            ),
        ] {
            assert_eq!(
                refusal(status, message).code(),
                "s2d::cloud::quota",
                "{message}"
            );
        }
        assert_eq!(
            refusal(413, "Image storage media is full: disk").code(),
            "s2d::cloud::too_large"
        );
        // The legacy `user_storage_quota` is a quota (it frees up when images are deleted).
        assert_eq!(
            refusal(
                413,
                "Image exceeds the storage quota: The size of the data 5368709120 will exceed the limit. 1048576 bytes remaining."
            )
            .code(),
            "s2d::cloud::quota"
        );
        // Glance's `image_size_cap`: no wait frees it, and the help names it.
        let cap = refusal(
            413,
            "The incoming image is too large: The provided image is too large.",
        );
        assert_eq!(cap.code(), "s2d::cloud::image_size_cap");
        assert!(
            cap.help().is_some_and(|h| h.contains("image_size_cap")),
            "{:?}",
            cap.help()
        );
        assert_eq!(
            refusal(403, "Policy doesn't allow os_compute_api:servers:create").code(),
            "s2d::cloud::forbidden"
        );
    }

    #[test]
    fn api_error_display_names_everything() {
        let e = Error::Api {
            cloud: "hospital".into(),
            service: Service::Compute,
            method: "GET".into(),
            url: "http://h/compute/v2.1/servers/x".into(),
            status: 404,
            message: "Instance x could not be found.".into(),
            request_id: Some("req-1".into()),
        };
        assert_eq!(
            e.to_string(),
            "hospital: compute GET http://h/compute/v2.1/servers/x: 404: Instance x could not be found. (request id req-1)"
        );
        assert!(e.is_not_found());
        assert!(!e.is_ambiguous());
    }
}
