//! Nova: microversion negotiation, and typed calls for servers (list, get, create, delete,
//! wait), createImage, a server's security groups, flavors, keypairs, simple tenant usage
//! and limits. Requests are built by pure methods on [`ComputeEndpoint`] (testable without a
//! network) and sent through the session. Knows nothing of Glance or Neutron bodies.

mod requests;
mod server_groups;
mod types;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use url::Url;

pub use requests::*;
pub use server_groups::ServerGroup;
pub use types::*;

use super::error::{Error, Result};
use super::http::{SendOpts, Session};
use super::request::{ApiRequest, Link, next_link};
use super::service::{gone_is_false, paged, poll_interval};
use super::types::{FlavorId, ImageId, Microversion, ServerId, Service};
use super::wait::{Poll, wait_for};

/// How long [`Compute::create_server`] waits for a server to leave BUILD before it can set
/// its tags (2.26 to 2.51).
pub const TAGS_WAIT: Duration = Duration::from_secs(600);

/// Typed Nova calls over a session.
#[derive(Clone)]
pub struct Compute {
    session: Session,
    ep: ComputeEndpoint,
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compute")
            .field("cloud", &self.session.name())
            .field("endpoint", &self.ep)
            .finish()
    }
}

#[derive(Deserialize)]
struct ServersPage {
    servers: Vec<Server>,
    #[serde(default)]
    servers_links: Vec<Link>,
}

#[derive(Deserialize)]
struct ServerBody {
    server: Server,
}

#[derive(Deserialize)]
struct CreatedServer {
    server: CreatedServerId,
}

#[derive(Deserialize)]
struct CreatedServerId {
    id: ServerId,
}

#[derive(Deserialize)]
struct SecurityGroupsBody {
    security_groups: Vec<ServerSecurityGroup>,
}

#[derive(Deserialize)]
struct FlavorsPage {
    flavors: Vec<Flavor>,
    #[serde(default)]
    flavors_links: Vec<Link>,
}

#[derive(Deserialize)]
struct FlavorBody {
    flavor: Flavor,
}

#[derive(Deserialize)]
struct KeypairsPage {
    keypairs: Vec<KeypairWrap>,
    #[serde(default)]
    keypairs_links: Vec<Link>,
}

#[derive(Deserialize)]
struct KeypairWrap {
    keypair: Keypair,
}

#[derive(Deserialize)]
struct UsagesPage {
    tenant_usages: Vec<TenantUsage>,
    #[serde(default)]
    tenant_usages_links: Vec<Link>,
}

#[derive(Deserialize)]
struct UsagePage {
    tenant_usage: Option<TenantUsageOrEmpty>,
    #[serde(default)]
    tenant_usage_links: Vec<Link>,
}

/// A project with no usage is shown as `{"tenant_usage": {}}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum TenantUsageOrEmpty {
    Usage(TenantUsage),
    Empty(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct LimitsBody {
    limits: Limits,
}

#[derive(Deserialize)]
struct CreateImageBody {
    image_id: ImageId,
}

impl Compute {
    /// Resolve the compute endpoint (catalog, override, version discovery) and negotiate the
    /// microversion; cached in the session.
    pub async fn new(session: &Session) -> Result<Compute> {
        let ep = session
            .endpoints()
            .compute
            .get_or_try_init(|| discover(session))
            .await?
            .clone();
        Ok(Compute {
            session: session.clone(),
            ep,
        })
    }

    /// A handle over a known endpoint (no discovery).
    pub fn with_endpoint(session: &Session, ep: ComputeEndpoint) -> Compute {
        Compute {
            session: session.clone(),
            ep,
        }
    }

    pub fn endpoint(&self) -> &ComputeEndpoint {
        &self.ep
    }

    pub fn microversion(&self) -> Option<Microversion> {
        self.ep.microversion
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// All servers matching `q` (every page).
    pub async fn list_servers(&self, q: &ServerQuery) -> Result<Vec<Server>> {
        paged(
            &self.session,
            Service::Compute,
            self.ep.list_servers_request(q),
            |p: ServersPage| (p.servers, next_link(&p.servers_links).map(str::to_string)),
        )
        .await
    }

    /// The server, or `None` if it does not exist.
    pub async fn get_server(&self, id: &ServerId) -> Result<Option<Server>> {
        let b: Option<ServerBody> = self
            .session
            .send_json_opt(Service::Compute, self.ep.get_server_request(id))
            .await?;
        Ok(b.map(|b| b.server))
    }

    /// Create a server; returns its id (it is still BUILD: see [`Compute::wait_for_server`]).
    /// Tags are sent on create from 2.52; from 2.26 they are set once the server has left
    /// BUILD (Nova refuses tag updates while it builds), so this then waits for that.
    pub async fn create_server(&self, s: &ServerCreate) -> Result<ServerId> {
        let created: CreatedServer = self
            .session
            .send_json(Service::Compute, self.ep.create_server_request(s))
            .await?;
        let id = created.server.id;
        if !s.tags.is_empty() && self.ep.at_least(MV_TAGS) && !self.ep.at_least(MV_TAGS_ON_CREATE) {
            self.set_tags_once_built(&id, &s.tags).await?;
        }
        Ok(id)
    }

    /// `PUT /servers/{id}/tags`, repeated while Nova answers 409 because the server is still
    /// in BUILD (at most [`TAGS_WAIT`]). A server that went to ERROR cannot be tagged: its id is
    /// still returned (with a warning), so that the caller's wait reports the fault and the
    /// server is not lost.
    async fn set_tags_once_built(&self, id: &ServerId, tags: &[String]) -> Result<()> {
        let started = std::time::Instant::now();
        // Fast first (devcloud and small flavors build in a second), then every 5 s.
        let mut pause = Duration::from_millis(250);
        loop {
            let sent = self
                .session
                .send_empty(Service::Compute, self.ep.set_server_tags_request(id, tags))
                .await;
            let refused = match sent {
                Ok(_) => return Ok(()),
                Err(e) if e.is_conflict() && started.elapsed() < TAGS_WAIT => e,
                Err(e) => return Err(e),
            };
            match self.get_server(id).await?.map(|s| s.status) {
                Some(status) if status == "ERROR" => {
                    tracing::warn!(cloud = %self.session.name(), server = %id, "server went to ERROR before its tags could be set");
                    return Ok(());
                }
                Some(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                None => return Err(refused),
            }
        }
    }

    /// A new description (2.19+; before, a server has none and this is refused).
    pub async fn set_server_description(&self, id: &ServerId, description: &str) -> Result<()> {
        self.session
            .send_empty(
                Service::Compute,
                self.ep.set_server_description_request(id, description),
            )
            .await
            .map(|_| ())
    }

    /// The server's metadata replaced by `metadata` (keys not in it are removed).
    pub async fn set_server_metadata(
        &self,
        id: &ServerId,
        metadata: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.session
            .send_empty(
                Service::Compute,
                self.ep.set_server_metadata_request(id, metadata),
            )
            .await
            .map(|_| ())
    }

    /// The server's tags replaced by `tags` (2.26+).
    pub async fn set_server_tags(&self, id: &ServerId, tags: &[String]) -> Result<()> {
        self.session
            .send_empty(Service::Compute, self.ep.set_server_tags_request(id, tags))
            .await
            .map(|_| ())
    }

    /// Whether this cloud takes server descriptions (2.19+).
    pub fn has_descriptions(&self) -> bool {
        self.ep.at_least(MV_DESCRIPTION)
    }

    /// Whether this cloud takes a hostname on create (2.90+).
    pub fn has_hostnames(&self) -> bool {
        self.ep.at_least(MV_HOSTNAME)
    }

    /// Whether this cloud has server tags (2.26+).
    pub fn has_tags(&self) -> bool {
        self.ep.at_least(MV_TAGS)
    }

    /// Delete a server; `false` if it was already gone.
    pub async fn delete_server(&self, id: &ServerId) -> Result<bool> {
        gone_is_false(
            self.session
                .send_empty(Service::Compute, self.ep.delete_server_request(id))
                .await,
        )
    }

    /// Poll until the server has `status` (e.g. `ACTIVE`, `SHUTOFF`). ERROR fails with the
    /// server's fault; a vanished server fails too.
    pub async fn wait_for_server(
        &self,
        id: &ServerId,
        status: &str,
        timeout: Duration,
    ) -> Result<Server> {
        let what = format!("server {id}");
        wait_for(
            self.session.name(),
            &what,
            timeout,
            poll_interval(timeout),
            || async {
                match self.get_server(id).await? {
                    None => Err(Error::Failed {
                        cloud: self.session.name().to_string(),
                        what: what.clone(),
                        status: "deleted".into(),
                        message: format!("the server disappeared while waiting for {status}"),
                    }),
                    Some(s) if s.status.eq_ignore_ascii_case(status) => Ok(Poll::Ready(s)),
                    Some(s) if s.status.eq_ignore_ascii_case("ERROR") => Err(Error::Failed {
                        cloud: self.session.name().to_string(),
                        what: what.clone(),
                        status: s.status.clone(),
                        message: s
                            .fault
                            .as_ref()
                            .map(|f| match f.code {
                                Some(c) => format!("{} (fault code {c})", f.message),
                                None => f.message.clone(),
                            })
                            .unwrap_or_else(|| "no fault recorded".into()),
                    }),
                    Some(s) => Ok(Poll::Pending(format!(
                        "status {}{}",
                        s.status,
                        s.task_state
                            .map(|t| format!(", task {t}"))
                            .unwrap_or_default()
                    ))),
                }
            },
        )
        .await
    }

    /// Whether deleting the server deletes its attached volume `volume`: Nova's attachment
    /// update, at 2.85 and later (a cloud below that cannot change it after boot).
    pub async fn set_delete_on_termination(
        &self,
        id: &ServerId,
        volume: &str,
        delete_on_termination: bool,
    ) -> Result<()> {
        if !self.ep.at_least(requests::MV_ATTACHMENT_UPDATE) {
            return Err(Error::Unsupported {
                cloud: self.session.name().to_string(),
                message: format!(
                    "this cloud's compute API ({}) cannot change an attached volume's delete_on_termination (microversion {} and later can)",
                    self.ep
                        .microversion
                        .map_or("without microversions".to_string(), |m| m.to_string()),
                    requests::MV_ATTACHMENT_UPDATE
                ),
            });
        }
        self.session
            .send_empty(
                Service::Compute,
                self.ep
                    .delete_on_termination_request(id, volume, delete_on_termination),
            )
            .await
            .map(|_| ())
    }

    /// `os-stop`: shut the server off (it goes SHUTOFF: see [`Compute::wait_for_server`]).
    pub async fn stop_server(&self, id: &ServerId) -> Result<()> {
        self.session
            .send_empty(
                Service::Compute,
                self.ep.server_action_request(id, "os-stop"),
            )
            .await
            .map(|_| ())
    }

    /// `os-start`: start a SHUTOFF server (it goes ACTIVE: see [`Compute::wait_for_server`]).
    pub async fn start_server(&self, id: &ServerId) -> Result<()> {
        self.session
            .send_empty(
                Service::Compute,
                self.ep.server_action_request(id, "os-start"),
            )
            .await
            .map(|_| ())
    }

    /// Poll until the server is gone (404 or DELETED).
    pub async fn wait_for_server_deleted(&self, id: &ServerId, timeout: Duration) -> Result<()> {
        let what = format!("deletion of server {id}");
        wait_for(
            self.session.name(),
            &what,
            timeout,
            poll_interval(timeout),
            || async {
                match self.get_server(id).await? {
                    None => Ok(Poll::Ready(())),
                    Some(s) if s.status.eq_ignore_ascii_case("DELETED") => Ok(Poll::Ready(())),
                    Some(s) => Ok(Poll::Pending(format!("status {}", s.status))),
                }
            },
        )
        .await
    }

    /// `createImage`: snapshot the server; returns the new image's id (from the body at 2.45+,
    /// from the `Location` header before).
    pub async fn create_image(
        &self,
        id: &ServerId,
        name: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<ImageId> {
        let req = self.ep.create_image_request(id, name, metadata);
        let (method, url) = (req.method.to_string(), req.url.to_string());
        let resp = self
            .session
            .send(Service::Compute, req, SendOpts::default())
            .await?;
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = self
            .session
            .answer(Service::Compute, &method, &url, resp)
            .await?;
        let decode = |message: String| Error::Decode {
            cloud: self.session.name().to_string(),
            service: Service::Compute,
            method: method.clone(),
            url: url.clone(),
            message,
        };
        if self.ep.at_least(MV_CREATE_IMAGE_BODY) {
            let b: CreateImageBody =
                serde_json::from_slice(&body).map_err(|e| decode(e.to_string()))?;
            Ok(b.image_id)
        } else {
            location
                .as_deref()
                .and_then(image_id_from_location)
                .ok_or_else(|| decode("createImage answered without a Location header".into()))
        }
    }

    pub async fn server_security_groups(&self, id: &ServerId) -> Result<Vec<ServerSecurityGroup>> {
        let b: SecurityGroupsBody = self
            .session
            .send_json(Service::Compute, self.ep.server_security_groups_request(id))
            .await?;
        Ok(b.security_groups)
    }

    pub async fn list_flavors(&self) -> Result<Vec<Flavor>> {
        paged(
            &self.session,
            Service::Compute,
            self.ep.list_flavors_request(),
            |p: FlavorsPage| (p.flavors, next_link(&p.flavors_links).map(str::to_string)),
        )
        .await
    }

    pub async fn get_flavor(&self, id: &FlavorId) -> Result<Option<Flavor>> {
        let b: Option<FlavorBody> = self
            .session
            .send_json_opt(Service::Compute, self.ep.get_flavor_request(id))
            .await?;
        Ok(b.map(|b| b.flavor))
    }

    pub async fn list_keypairs(&self) -> Result<Vec<Keypair>> {
        paged(
            &self.session,
            Service::Compute,
            self.ep.list_keypairs_request(),
            |p: KeypairsPage| {
                (
                    p.keypairs.into_iter().map(|k| k.keypair).collect(),
                    next_link(&p.keypairs_links).map(str::to_string),
                )
            },
        )
        .await
    }

    pub async fn get_keypair(&self, name: &str) -> Result<Option<Keypair>> {
        let b: Option<KeypairWrap> = self
            .session
            .send_json_opt(Service::Compute, self.ep.get_keypair_request(name))
            .await?;
        Ok(b.map(|b| b.keypair))
    }

    /// Import a public key as keypair `name`.
    pub async fn import_keypair(
        &self,
        name: &str,
        public_key: &str,
        key_type: Option<&str>,
    ) -> Result<Keypair> {
        let b: KeypairWrap = self
            .session
            .send_json(
                Service::Compute,
                self.ep
                    .create_keypair_request(name, Some(public_key), key_type),
            )
            .await?;
        Ok(b.keypair)
    }

    /// Have Nova generate keypair `name` (the private key is in the answer, once). Clouds
    /// whose minimum microversion is above 2.91 cannot do this.
    pub async fn create_keypair(&self, name: &str, key_type: Option<&str>) -> Result<Keypair> {
        if let Some((min, _)) = self.ep.range
            && min > MV_KEYPAIR_GENERATE_LAST
        {
            return Err(Error::Unsupported {
                cloud: self.session.name().to_string(),
                message: format!(
                    "this cloud cannot generate keypairs (minimum microversion {min}); import a public key instead"
                ),
            });
        }
        let b: KeypairWrap = self
            .session
            .send_json(
                Service::Compute,
                self.ep.create_keypair_request(name, None, key_type),
            )
            .await?;
        Ok(b.keypair)
    }

    pub async fn delete_keypair(&self, name: &str) -> Result<bool> {
        gone_is_false(
            self.session
                .send_empty(Service::Compute, self.ep.delete_keypair_request(name))
                .await,
        )
    }

    /// Usage of every project over [start, end), all pages merged per project.
    pub async fn usage_all(
        &self,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Result<Vec<TenantUsage>> {
        let pages = paged(
            &self.session,
            Service::Compute,
            self.ep.usage_request(None, start, end),
            |p: UsagesPage| {
                (
                    p.tenant_usages,
                    next_link(&p.tenant_usages_links).map(str::to_string),
                )
            },
        )
        .await?;
        let mut merged: Vec<TenantUsage> = Vec::new();
        for u in pages {
            match merged.iter_mut().find(|m| m.tenant_id == u.tenant_id) {
                Some(m) => m.absorb(u),
                None => merged.push(u),
            }
        }
        Ok(merged)
    }

    /// Usage of one project over [start, end), all pages merged; `None` if it had none.
    pub async fn usage_project(
        &self,
        project_id: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Result<Option<TenantUsage>> {
        let pages = paged(
            &self.session,
            Service::Compute,
            self.ep.usage_request(Some(project_id), start, end),
            |p: UsagePage| {
                let items = match p.tenant_usage {
                    Some(TenantUsageOrEmpty::Usage(u)) => vec![u],
                    _ => Vec::new(),
                };
                (items, next_link(&p.tenant_usage_links).map(str::to_string))
            },
        )
        .await?;
        let mut iter = pages.into_iter();
        let Some(mut first) = iter.next() else {
            return Ok(None);
        };
        for u in iter {
            first.absorb(u);
        }
        Ok(Some(first))
    }

    pub async fn limits(&self) -> Result<Limits> {
        let b: LimitsBody = self
            .session
            .send_json(Service::Compute, self.ep.limits_request())
            .await?;
        Ok(b.limits)
    }
}

/// Find the compute endpoint and its microversion range.
async fn discover(session: &Session) -> Result<ComputeEndpoint> {
    let cloud = session.name().to_string();
    let raw = session.catalog_url(Service::Compute).await?;
    let url = Url::parse(&raw).map_err(|e| Error::Catalog {
        cloud: cloud.clone(),
        message: format!("compute endpoint {raw:?} is not a URL: {e}"),
    })?;
    let opts = SendOpts {
        accept: Some(300),
        ..SendOpts::default()
    };
    let parse = |v: Option<String>| v.and_then(|m| m.parse::<Microversion>().ok());
    let (base, min, max) = match compute_version_root(&url) {
        Some(root) => {
            let doc: Result<Value> = session
                .send_json_opts(Service::Compute, ApiRequest::get(root.clone()), opts)
                .await;
            let doc = match doc {
                Ok(d) => Some(d),
                Err(Error::Api { .. }) | Err(Error::Decode { .. }) => {
                    // Some deployments only answer under `root/`.
                    let mut slash = root.clone();
                    slash.set_path(&format!("{}/", root.path()));
                    session
                        .send_json_opts::<Value>(Service::Compute, ApiRequest::get(slash), opts)
                        .await
                        .ok()
                }
                Err(e) => return Err(e),
            };
            let v = doc.and_then(|d| super::auth::discovery_versions(&d).into_iter().next());
            match v {
                Some(v) => (url, parse(v.min_microversion), parse(v.max_microversion)),
                None => (url, None, None),
            }
        }
        None => {
            let doc: Value = session
                .send_json_opts(Service::Compute, ApiRequest::get(url.clone()), opts)
                .await?;
            let versions = super::auth::discovery_versions(&doc);
            let pick = versions
                .iter()
                .find(|v| v.id == "v2.1")
                .or_else(|| versions.iter().find(|v| v.id.starts_with("v2")))
                .ok_or_else(|| Error::Unsupported {
                    cloud: cloud.clone(),
                    message: format!("the compute endpoint {url} offers no v2 API"),
                })?;
            let base = super::auth::rebase(url.as_str(), pick.self_href.as_deref(), &pick.id);
            let base = Url::parse(&base).map_err(|e| Error::Catalog {
                cloud: cloud.clone(),
                message: format!("compute endpoint {base:?}: {e}"),
            })?;
            (
                base,
                parse(pick.min_microversion.clone()),
                parse(pick.max_microversion.clone()),
            )
        }
    };
    let microversion = negotiate(min, max).map_err(|m| Error::Unsupported {
        cloud: cloud.clone(),
        message: m,
    })?;
    tracing::debug!(cloud = %cloud, base = %base, ?min, ?max, ?microversion, "compute endpoint");
    Ok(ComputeEndpoint {
        base,
        microversion,
        range: min.zip(max),
    })
}
