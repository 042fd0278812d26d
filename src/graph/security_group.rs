//! A server's security groups in the target: which groups it joins and the rules each gets
//! from the source (every source group by its name, or one merged group), and their nodes in
//! the graph (a group, then its rules, each after any group it admits).

use std::collections::BTreeMap;

use petgraph::graph::NodeIndex;

use super::Address;
use super::build::{GraphError, Node, ResourceGraph};
use super::desired::{DesiredServer, Rule, SourceFacts};

/// The target groups a server joins, each with the rules it gets from this server: every
/// source group by its name, or (a merging choice) one group with the rules of all of them,
/// where a rule admitting one of the server's groups admits the merged group itself and a rule
/// admitting any other group has no counterpart (left out).
pub(super) fn groups_of(server: &DesiredServer, fact: &SourceFacts) -> BTreeMap<String, Vec<Rule>> {
    match server.security_group.merged() {
        Some(name) => {
            let rules = fact
                .rules
                .iter()
                .filter_map(|r| match &r.remote_group {
                    None => Some(r.clone()),
                    Some(g) if fact.groups.contains_key(g) => Some(Rule {
                        remote_group: None,
                        remote_self: true,
                        ..r.clone()
                    }),
                    Some(_) => None,
                })
                .collect();
            BTreeMap::from([(name.to_string(), rules)])
        }
        None if fact.groups.is_empty() => BTreeMap::from([("default".to_string(), Vec::new())]),
        None => fact.groups.clone(),
    }
}

impl ResourceGraph {
    /// A security group by name (the target's `default` is adopted, never made).
    pub(super) fn add_group(&mut self, name: &str) -> Result<NodeIndex, GraphError> {
        self.add(Node::SecurityGroup {
            name: name.to_string(),
            default: name == "default",
        })
    }

    /// The `index`th rule of a group; a rule that admits another group comes after that
    /// group (made too, when no server of the plan is in it).
    pub(super) fn add_rule(
        &mut self,
        group_name: &str,
        group: NodeIndex,
        index: usize,
        rule: &Rule,
    ) -> Result<(), GraphError> {
        let address = Address::SecurityGroupRule {
            group: group_name.to_string(),
            index,
        };
        let node = Node::SecurityGroupRule {
            group: group_name.to_string(),
            rule: rule.clone(),
        };
        let at = self.add_at(address, node)?;
        self.edge(group, at);
        if let Some(remote) = &rule.remote_group {
            let other = self.add_group(remote)?;
            self.edge(other, at);
        }
        Ok(())
    }
}
