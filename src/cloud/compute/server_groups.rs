//! Nova's server groups (`/os-server-groups`): list, create with one policy, delete. A group
//! shows its policy as `policy` from 2.64 and as a `policies` list before; both read as one.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::Compute;
use crate::cloud::error::Result;
use crate::cloud::service::gone_is_false;
use crate::cloud::types::Service;

/// A server group as Nova shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ServerGroup {
    pub id: String,
    pub name: String,
    /// `affinity`, `anti-affinity`, `soft-affinity` or `soft-anti-affinity`.
    pub policy: String,
    /// The ids of the servers in it.
    pub members: Vec<String>,
}

impl<'de> Deserialize<'de> for ServerGroup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            id: String,
            #[serde(default)]
            name: Option<String>,
            #[serde(default)]
            policy: Option<String>,
            #[serde(default)]
            policies: Vec<String>,
            #[serde(default)]
            members: Vec<Value>,
        }
        let raw = Raw::deserialize(d)?;
        Ok(ServerGroup {
            id: raw.id,
            name: raw.name.unwrap_or_default(),
            policy: raw
                .policy
                .or_else(|| raw.policies.into_iter().next())
                .unwrap_or_default(),
            members: raw
                .members
                .into_iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect(),
        })
    }
}

#[derive(Deserialize)]
struct GroupsBody {
    server_groups: Vec<ServerGroup>,
}

#[derive(Deserialize)]
struct GroupBody {
    server_group: ServerGroup,
}

impl Compute {
    /// The project's server groups.
    pub async fn list_server_groups(&self) -> Result<Vec<ServerGroup>> {
        let b: GroupsBody = self
            .session
            .send_json(Service::Compute, self.ep.list_server_groups_request())
            .await?;
        Ok(b.server_groups)
    }

    /// A new group with this name and policy.
    pub async fn create_server_group(&self, name: &str, policy: &str) -> Result<ServerGroup> {
        let b: GroupBody = self
            .session
            .send_json(
                Service::Compute,
                self.ep.create_server_group_request(name, policy),
            )
            .await?;
        Ok(b.server_group)
    }

    /// Delete a group; `false` if it was already gone.
    pub async fn delete_server_group(&self, id: &str) -> Result<bool> {
        gone_is_false(
            self.session
                .send_empty(Service::Compute, self.ep.delete_server_group_request(id))
                .await,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_reads_its_policy_before_and_after_2_64() {
        let old: ServerGroup = serde_json::from_value(serde_json::json!({
            "id": "g1", "name": "db", "policies": ["anti-affinity"], "members": ["s1"],
            "metadata": {}
        }))
        .expect("2.1 group");
        assert_eq!(old.policy, "anti-affinity");
        assert_eq!(old.members, vec!["s1".to_string()]);
        let new: ServerGroup = serde_json::from_value(serde_json::json!({
            "id": "g2", "name": "db", "policy": "affinity", "rules": {}, "members": []
        }))
        .expect("2.64 group");
        assert_eq!(new.policy, "affinity");
        assert!(new.members.is_empty());
    }
}
