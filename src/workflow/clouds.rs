//! From a plan's `[source]`/`[target]` to a cloud configuration: a clouds.yaml entry, or the
//! plan's inline auth (secrets from the environment variables it names).

use crate::cloud::{self, CloudConfig, ConfigEnv};
use crate::plan::CloudRef;

/// The configuration of one side of a plan (`side` is `source` or `target`, the name used in
/// messages for an inline cloud).
pub fn config(side: &str, cloud_ref: &CloudRef, env: &ConfigEnv) -> cloud::Result<CloudConfig> {
    match cloud_ref {
        CloudRef::Named(name) => cloud::config::from_clouds_yaml(name, env),
        CloudRef::Inline(auth) => {
            let inline = cloud::InlineAuth {
                auth_url: auth.auth_url.clone().unwrap_or_default(),
                username: auth.username.clone(),
                user_id: auth.user_id.clone(),
                password_env: auth.password_env.clone(),
                password: auth.password.clone(),
                project_name: auth.project_name.clone(),
                project_id: auth.project_id.clone(),
                user_domain_name: auth.user_domain_name.clone(),
                project_domain_name: auth.project_domain_name.clone(),
                region: auth.region.clone(),
                application_credential_id: auth.application_credential_id.clone(),
                application_credential_secret_env: auth.application_credential_secret_env.clone(),
                cacert: auth.cacert.clone().map(Into::into),
                interface: auth.interface.clone(),
            };
            cloud::config::from_inline(side, &inline, env)
        }
    }
}

/// The name a side is known by in messages.
pub fn label(side: &str, cloud_ref: &CloudRef) -> String {
    match cloud_ref {
        CloudRef::Named(name) => name.clone(),
        CloudRef::Inline(_) => side.to_string(),
    }
}
