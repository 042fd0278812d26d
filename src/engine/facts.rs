//! What the graph is built from, read off the source's inventory: the plan's fleets matched
//! against the source's servers, each server's facts (its flavor, groups and rules, keypair,
//! image properties, boot settings, server group, NICs and volumes), and the source networks the plan builds target networks from.

use std::collections::{BTreeMap, BTreeSet};

use super::diff::PlanError;
use super::inventory::Inventory;
use crate::graph::{Address, Candidate, Desired, FleetMatch, Rule, SourceFacts, SourceNetwork};
use crate::state::Side;

/// The source facts the graph needs, for every server of `desired`, from the inventory.
pub fn read_sources(
    inventory: &Inventory,
    desired: &Desired,
) -> Result<BTreeMap<String, SourceFacts>, PlanError> {
    let mut facts = BTreeMap::new();
    for server in &desired.servers {
        let found = inventory
            .source_server(&server.source)
            .map_err(|many| PlanError::AmbiguousSource {
                server: server.name.clone(),
                source_name: many.name,
                ids: many.ids.join(", "),
            })?
            .ok_or_else(|| PlanError::SourceServerNotFound {
                server: server.name.clone(),
                source_name: server.source.clone(),
            })?;
        let rules: BTreeSet<Rule> = found
            .security_groups
            .iter()
            .flat_map(|g| g.rules.iter().map(|r| r.rule.clone()))
            .collect();
        facts.insert(
            server.name.clone(),
            SourceFacts {
                server_id: found.id.clone(),
                status: found.status.clone(),
                flavor: found.flavor.clone(),
                rules: rules.into_iter().collect(),
                groups: found
                    .security_groups
                    .iter()
                    .map(|g| {
                        let mut rules: Vec<Rule> = g.rules.iter().map(|r| r.rule.clone()).collect();
                        rules.sort();
                        rules.dedup();
                        (g.name.clone(), rules)
                    })
                    .collect(),
                public_key: found.keypair.as_ref().map(|k| k.public_key.clone()),
                fingerprint: found.keypair.as_ref().map(|k| k.fingerprint.clone()),
                disk_format: found.image_disk_format.clone(),
                image_properties: found
                    .image_id
                    .as_deref()
                    .and_then(|id| inventory.image(Side::Source, id))
                    .map(|i| i.properties.clone()),
                boot: found.boot.clone(),
                server_group: found.server_group.clone(),
                nics: found.nics.clone(),
                volumes: found.volumes.clone(),
            },
        );
    }
    Ok(facts)
}

/// The source networks the plan builds from, by the `from` of each `[[network]]` (a name or
/// an id; a name two networks share is refused).
pub fn read_networks(
    inventory: &Inventory,
    desired: &Desired,
) -> Result<BTreeMap<String, SourceNetwork>, PlanError> {
    let mut found = BTreeMap::new();
    for build in &desired.networks {
        let by_id = inventory
            .source_networks
            .iter()
            .find(|n| n.id == build.from);
        let named: Vec<&SourceNetwork> = inventory
            .source_networks
            .iter()
            .filter(|n| n.name == build.from)
            .collect();
        let network = match (by_id, named.as_slice()) {
            (Some(n), _) => n.clone(),
            (None, [n]) => (*n).clone(),
            (None, []) => {
                return Err(PlanError::Missing {
                    address: Address::Network {
                        name: build.name.clone(),
                    },
                    what: "source network",
                    name: build.from.clone(),
                });
            }
            (None, many) => {
                return Err(PlanError::AmbiguousSourceNetwork {
                    name: build.from.clone(),
                    ids: many
                        .iter()
                        .map(|n| n.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        };
        found.insert(build.from.clone(), network);
    }
    Ok(found)
}

/// `desired` with its fleets matched against the source's servers.
pub fn select(inventory: &Inventory, desired: &Desired) -> (Desired, Vec<FleetMatch>) {
    let candidates: Vec<Candidate<'_>> = inventory
        .source_servers
        .iter()
        .map(|s| Candidate {
            id: &s.id,
            name: &s.name,
            tags: &s.tags,
            metadata: &s.metadata,
        })
        .collect();
    desired.expand(&candidates)
}
