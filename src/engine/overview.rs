//! The overview after apply: every moved server as the target cloud reports it now, with the
//! time each step took. Read back from the cloud, not from the plan. Knows nothing of tables.

use std::collections::BTreeMap;

use serde::Serialize;

use super::apply::{ApplyReport, NodeStatus};
use super::port::{CloudPort, PortError};
use crate::graph::Address;
use crate::state::State;

/// One step of one server's move and how long it took in this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub address: Address,
    pub elapsed_ms: u64,
    /// For the image step: the bytes copied (its average rate is bytes / elapsed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// One server as the target reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerOverview {
    pub address: Address,
    pub id: String,
    /// `ACTIVE`, `ERROR`, ... or `GONE` when the target no longer has it.
    pub status: String,
    pub flavor: String,
    pub image: String,
    pub keypair: String,
    pub security_groups: Vec<String>,
    pub fixed_ips: Vec<String>,
    pub floating_ips: Vec<String>,
    /// What it has of its source server's settings, as the target reports them (`tags 2`,
    /// `metadata 3`, `description`, `config drive`, `zone az1`, `group db (anti-affinity)`,
    /// `image properties 6`).
    pub carried: Vec<String>,
    /// The snapshot, image, server and floating IP steps that ran in this apply.
    pub steps: Vec<Step>,
}

/// What a target server has of its source's settings, in words.
fn carried(
    server: &crate::engine::port::Server,
    state: &State,
    image: Option<&Address>,
) -> Vec<String> {
    let boot = &server.boot;
    let mut out = Vec::new();
    let properties = image
        .and_then(|a| state.resources.get(a))
        .and_then(|r| r.attributes.get("properties"))
        .and_then(|p| p.as_object())
        .map_or(0, |p| p.len());
    if properties > 0 {
        out.push(format!("image properties {properties}"));
    }
    if !boot.metadata.is_empty() {
        out.push(format!("metadata {}", boot.metadata.len()));
    }
    if !boot.tags.is_empty() {
        out.push(format!("tags {}", boot.tags.len()));
    }
    if boot.description.is_some() {
        out.push("description".into());
    }
    if boot.config_drive {
        out.push("config drive".into());
    }
    if let Some(zone) = &boot.availability_zone {
        out.push(format!("zone {zone}"));
    }
    let group = state
        .resources
        .get(&Address::Server {
            name: server.name.clone(),
        })
        .and_then(|r| r.attributes.get("server_group"))
        .and_then(|g| g.as_str());
    if let Some(group) = group {
        let policy = state
            .resources
            .get(&Address::ServerGroup {
                name: group.to_string(),
            })
            .and_then(|r| r.attributes.get("policy"))
            .and_then(|p| p.as_str())
            .unwrap_or("?");
        out.push(format!("group {group} ({policy})"));
    }
    out
}

/// Read every server in `state` back from the target.
pub async fn overview<C: CloudPort>(
    cloud: &C,
    state: &State,
    report: Option<&ApplyReport>,
) -> Result<Vec<ServerOverview>, PortError> {
    let times: BTreeMap<&Address, u64> = report
        .map(|r| {
            r.nodes
                .iter()
                .filter(|n| n.status == NodeStatus::Done)
                .map(|n| (&n.address, n.elapsed_ms))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for (address, resource) in &state.resources {
        let Address::Server { name } = address else {
            continue;
        };
        let attr = |key: &str| {
            resource
                .attributes
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let image_address: Option<Address> = attr("image").parse().ok();
        let snapshot_address = image_address.as_ref().and_then(|image| {
            state.resources.get(image).and_then(|r| {
                super::diff::recorded_deps(r)
                    .into_iter()
                    .find(|d| matches!(d, Address::Snapshot { .. }))
            })
        });
        let fip_address = Address::FloatingIp {
            server: name.clone(),
        };
        let steps = [
            snapshot_address,
            image_address.clone(),
            Some(address.clone()),
            Some(fip_address),
        ]
        .into_iter()
        .flatten()
        .filter_map(|a| {
            times.get(&a).map(|ms| Step {
                bytes: matches!(a, Address::Image { .. })
                    .then(|| state.resources.get(&a))
                    .flatten()
                    .and_then(|r| r.attributes.get("size"))
                    .and_then(|v| v.as_u64()),
                address: a.clone(),
                elapsed_ms: *ms,
            })
        })
        .collect();
        let found = cloud.server(&resource.id).await?;
        let row = match found {
            Some(s) => ServerOverview {
                carried: carried(&s, state, image_address.as_ref()),
                address: address.clone(),
                id: s.id,
                status: s.status,
                flavor: s.flavor_name.unwrap_or(s.flavor_id),
                image: s.image_id.unwrap_or_default(),
                keypair: s.key_name.unwrap_or_default(),
                security_groups: s.security_groups,
                fixed_ips: s.fixed_ips,
                floating_ips: s.floating_ips,
                steps,
            },
            None => ServerOverview {
                address: address.clone(),
                id: resource.id.clone(),
                status: "GONE".into(),
                flavor: attr("flavor"),
                image: String::new(),
                keypair: attr("keypair"),
                security_groups: match resource.attributes.get("security_groups") {
                    Some(serde_json::Value::Array(names)) => names
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect(),
                    _ => vec![attr("security_group")],
                },
                fixed_ips: Vec::new(),
                floating_ips: Vec::new(),
                carried: Vec::new(),
                steps,
            },
        };
        out.push(row);
    }
    Ok(out)
}
