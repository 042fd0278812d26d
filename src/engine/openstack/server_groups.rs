//! The target's server groups (no marker: Nova keeps no metadata on a group; see
//! [`ServerGroups`]).

use super::*;

fn group(g: cloud::compute::ServerGroup) -> ServerGroup {
    ServerGroup {
        id: g.id,
        name: g.name,
        policy: g.policy,
        members: g.members,
    }
}

impl ServerGroups for OpenStack {
    async fn server_groups(&self) -> PortResult<Vec<ServerGroup>> {
        let listed = self
            .target
            .compute
            .list_server_groups()
            .await
            .map_err(api("target: list server groups"))?;
        Ok(listed.into_iter().map(group).collect())
    }

    async fn create_server_group(&self, name: &str, policy: &str) -> PortResult<ServerGroup> {
        // Not retried when its outcome is unknown: a group has no marker to find it by, and
        // the pending record in the state lets the next plan adopt one made meanwhile.
        let made = self
            .target
            .compute
            .create_server_group(name, policy)
            .await
            .map_err(api("target: create server group"))?;
        Ok(group(made))
    }

    async fn delete_server_group(&self, id: &str) -> PortResult<()> {
        deleted(
            format!("server group {id}"),
            self.target.compute.delete_server_group(id).await,
            "target: delete server group",
        )
    }
}
