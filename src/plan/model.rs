//! The plan model: what both syntaxes load into. Names follow the plan format contract in
//! `docs/plan-format.md`.

use std::net::IpAddr;

use serde::Serialize;

/// A literal password in a plan.
pub use crate::secret::Secret;

/// A plan file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub version: i64,
    pub source: CloudRef,
    pub target: CloudRef,
    /// `[state] location`: where the plan's state is kept (a path, relative to the plan's
    /// folder, or a `postgres://` or `swift://` URL without a password); `None`: the default,
    /// `s2d.state.json` beside the plan. `--state` overrides it.
    pub state: Option<String>,
    pub defaults: ServerOptions,
    pub servers: Vec<Server>,
}

impl Plan {
    /// Every server with `[defaults]` and the format's defaults applied, in plan order.
    pub fn resolved_servers(&self) -> Vec<ResolvedServer> {
        self.servers
            .iter()
            .map(|s| s.resolved(&self.defaults))
            .collect()
    }
}

/// Which cloud: a clouds.yaml entry, or inline auth.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloudRef {
    Named(String),
    Inline(Box<InlineAuth>),
}

/// Inline Keystone v3 auth. `password_env` names an environment variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InlineAuth {
    pub auth_url: Option<String>,
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
    pub cacert: Option<String>,
    pub interface: Option<String>,
}

impl InlineAuth {
    /// A text setting by its TOML key (every key of [`AUTH_KEYS`](super::validate) but
    /// `password`), for the readers and writers, which go through the keys in one order.
    pub(super) fn text_mut(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "auth_url" => &mut self.auth_url,
            "username" => &mut self.username,
            "user_id" => &mut self.user_id,
            "password_env" => &mut self.password_env,
            "project_name" => &mut self.project_name,
            "project_id" => &mut self.project_id,
            "user_domain_name" => &mut self.user_domain_name,
            "project_domain_name" => &mut self.project_domain_name,
            "region" => &mut self.region,
            "application_credential_id" => &mut self.application_credential_id,
            "application_credential_secret_env" => &mut self.application_credential_secret_env,
            "cacert" => &mut self.cacert,
            "interface" => &mut self.interface,
            _ => return None,
        })
    }

    /// A text setting by its TOML key; `None` when unset or not a text setting.
    pub(super) fn text(&self, key: &str) -> Option<&str> {
        let value = match key {
            "auth_url" => &self.auth_url,
            "username" => &self.username,
            "user_id" => &self.user_id,
            "password_env" => &self.password_env,
            "project_name" => &self.project_name,
            "project_id" => &self.project_id,
            "user_domain_name" => &self.user_domain_name,
            "project_domain_name" => &self.project_domain_name,
            "region" => &self.region,
            "application_credential_id" => &self.application_credential_id,
            "application_credential_secret_env" => &self.application_credential_secret_env,
            "cacert" => &self.cacert,
            "interface" => &self.interface,
            _ => return None,
        };
        value.as_deref()
    }
}

/// How the target keypair is obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeypairMode {
    /// Copy the source keypair of this name into the target.
    Import(String),
    /// Create a new keypair of this name in the target.
    Create(String),
    /// Use this keypair, which already exists in the target.
    Existing(String),
}

/// The floating IP of a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FloatingIp {
    /// Allocate one from this external network.
    Pool(String),
    /// Use this existing, unassociated address.
    Address(IpAddr),
    /// No floating IP.
    Disabled,
}

/// How image bytes move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    Stream,
    Spool,
}

/// Options that `[defaults]` sets and a `[[server]]` may override.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerOptions {
    pub network: Option<String>,
    pub keypair: Option<KeypairMode>,
    pub security_group: Option<String>,
    pub floating_ip: Option<FloatingIp>,
    pub transfer: Option<TransferMode>,
}

/// The target image's options.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImageOptions {
    pub name: Option<String>,
    pub disk_format: Option<String>,
    pub visibility: Option<String>,
}

/// One server to bring over.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Server {
    /// Name or UUID of the server in the source cloud.
    pub source: String,
    pub name: Option<String>,
    pub snapshot: Option<String>,
    pub image: ImageOptions,
    pub flavor: Option<String>,
    pub options: ServerOptions,
}

/// A server with every default applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedServer {
    pub source: String,
    pub name: String,
    pub snapshot: String,
    pub image_name: String,
    /// `None`: the source image's format.
    pub disk_format: Option<String>,
    pub visibility: String,
    /// `None`: the source server's flavor, matched by name, else by size.
    pub flavor: Option<String>,
    pub network: Option<String>,
    pub keypair: Option<KeypairMode>,
    pub security_group: String,
    pub floating_ip: Option<FloatingIp>,
    pub transfer: TransferMode,
}

impl Server {
    /// The target name: `name`, else the source's.
    pub fn target_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.source)
    }

    /// Apply `defaults` and the format's defaults.
    pub fn resolved(&self, defaults: &ServerOptions) -> ResolvedServer {
        let snapshot = self
            .snapshot
            .clone()
            .unwrap_or_else(|| format!("{}-s2d", self.source));
        let pick = |own: &Option<String>, default: &Option<String>| {
            own.clone().or_else(|| default.clone())
        };
        ResolvedServer {
            source: self.source.clone(),
            name: self.target_name().to_string(),
            image_name: self.image.name.clone().unwrap_or_else(|| snapshot.clone()),
            snapshot,
            disk_format: self.image.disk_format.clone(),
            visibility: self
                .image
                .visibility
                .clone()
                .unwrap_or_else(|| "private".into()),
            flavor: self.flavor.clone(),
            network: pick(&self.options.network, &defaults.network),
            keypair: self
                .options
                .keypair
                .clone()
                .or_else(|| defaults.keypair.clone()),
            security_group: pick(&self.options.security_group, &defaults.security_group)
                .unwrap_or_else(|| "default".into()),
            floating_ip: self
                .options
                .floating_ip
                .clone()
                .or_else(|| defaults.floating_ip.clone()),
            transfer: self
                .options
                .transfer
                .or(defaults.transfer)
                .unwrap_or(TransferMode::Stream),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_field_by_field() {
        let defaults = ServerOptions {
            network: Some("private".into()),
            keypair: Some(KeypairMode::Import("alice-key".into())),
            security_group: None,
            floating_ip: Some(FloatingIp::Pool("public".into())),
            transfer: None,
        };
        let server = Server {
            source: "ehr".into(),
            name: None,
            snapshot: None,
            image: ImageOptions::default(),
            flavor: None,
            options: ServerOptions {
                network: Some("other".into()),
                ..ServerOptions::default()
            },
        };
        let r = server.resolved(&defaults);
        assert_eq!(r.name, "ehr");
        assert_eq!(r.snapshot, "ehr-s2d");
        assert_eq!(r.image_name, "ehr-s2d");
        assert_eq!(r.visibility, "private");
        assert_eq!(r.network.as_deref(), Some("other"));
        assert_eq!(r.keypair, Some(KeypairMode::Import("alice-key".into())));
        assert_eq!(r.security_group, "default");
        assert_eq!(r.transfer, TransferMode::Stream);
        assert_eq!(r.floating_ip, Some(FloatingIp::Pool("public".into())));
        assert_eq!(r.flavor, None);
        assert_eq!(r.disk_format, None);

        // A server's own settings win, field by field; the image name follows the snapshot.
        let own = Server {
            snapshot: Some("snap".into()),
            name: Some("target-name".into()),
            options: ServerOptions {
                keypair: Some(KeypairMode::Existing("k".into())),
                security_group: Some("web".into()),
                floating_ip: Some(FloatingIp::Disabled),
                transfer: Some(TransferMode::Spool),
                ..ServerOptions::default()
            },
            ..server
        };
        let r = own.resolved(&defaults);
        assert_eq!(r.name, "target-name");
        assert_eq!(r.snapshot, "snap");
        assert_eq!(r.image_name, "snap");
        assert_eq!(r.network.as_deref(), Some("private"));
        assert_eq!(r.keypair, Some(KeypairMode::Existing("k".into())));
        assert_eq!(r.security_group, "web");
        assert_eq!(r.floating_ip, Some(FloatingIp::Disabled));
        assert_eq!(r.transfer, TransferMode::Spool);
    }

    #[test]
    fn secrets_never_show() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(serde_json::to_string(&s).expect("json"), "\"***\"");
        assert_eq!(s.expose(), "hunter2");
    }
}
