//! The target's security groups and rules (markers in their descriptions).

use super::*;

impl SecurityGroups for OpenStack {
    async fn security_groups(&self) -> PortResult<Vec<SecurityGroup>> {
        let filters = self.target_project_filter(None).await?;
        let mut groups: Vec<SecurityGroup> = self
            .target
            .network
            .security_groups(&filters)
            .await
            .map_err(api("target: list security groups"))?
            .into_iter()
            .map(security_group)
            .collect();
        name_remote_groups(&mut groups);
        Ok(groups)
    }

    async fn security_group(&self, id: &str) -> PortResult<Option<SecurityGroup>> {
        self.group_of(&self.target, id).await
    }

    async fn create_security_group(
        &self,
        name: &str,
        description: &str,
        marker: &Marker,
    ) -> PortResult<SecurityGroup> {
        let description = description_with_marker(description, marker);
        let made = cloud::create_or_adopt(
            &self.target.session.config().retry,
            CREATE_ATTEMPTS,
            || {
                self.target
                    .network
                    .create_security_group(name, Some(&description))
            },
            || async {
                let filters = self.target_project_filter(Some(name)).await.map_err(|e| {
                    cloud::Error::Unsupported {
                        cloud: self.target.name().to_string(),
                        message: e.to_string(),
                    }
                })?;
                let found = self.target.network.security_groups(&filters).await?;
                Ok(found
                    .into_iter()
                    .find(|g| g.description.as_deref() == Some(description.as_str())))
            },
        )
        .await
        .map_err(api("target: create security group"))?;
        Ok(security_group(made))
    }

    async fn delete_security_group(&self, id: &str) -> PortResult<()> {
        deleted(
            format!("security group {id}"),
            self.target
                .network
                .delete_security_group(&SecurityGroupId::new(id))
                .await,
            "target: delete security group",
        )
    }

    async fn create_rule(
        &self,
        group_id: &str,
        rule: &Rule,
        remote_group_id: Option<&str>,
        marker: &Marker,
    ) -> PortResult<RuleInfo> {
        let group = SecurityGroupId::new(group_id);
        let description = description_with_marker("", marker);
        let create = RuleCreate {
            direction: match rule.direction {
                RuleDirection::Ingress => "ingress".into(),
                RuleDirection::Egress => "egress".into(),
            },
            ethertype: Some(rule.ethertype.clone()),
            protocol: rule.protocol.clone(),
            port_range_min: rule.port_min.map(u32::from),
            port_range_max: rule.port_max.map(u32::from),
            remote_ip_prefix: rule.remote_ip_prefix.clone(),
            remote_group_id: match remote_group_id {
                Some(other) => Some(SecurityGroupId::new(other)),
                None => rule.remote_self.then(|| group.clone()),
            },
            description: Some(description.clone()),
        };
        let made = cloud::create_or_adopt(
            &self.target.session.config().retry,
            CREATE_ATTEMPTS,
            || self.target.network.create_rule(&group, &create),
            || async {
                let found = self
                    .target
                    .network
                    .rules(&[("security_group_id", group_id.to_string())])
                    .await?;
                Ok(found
                    .into_iter()
                    .find(|r| r.description.as_deref() == Some(description.as_str())))
            },
        )
        .await;
        match made {
            Ok(made) => Ok(rule_info(&made)),
            // Neutron gives a new group its own egress rules, and refuses a second copy of a
            // rule: the one that is there is the rule wanted.
            Err(e) if e.is_conflict() => {
                let existing = self
                    .target
                    .network
                    .rules(&[("security_group_id", group_id.to_string())])
                    .await
                    .map_err(api("target: list security group rules"))?
                    .iter()
                    .map(rule_info)
                    .find(|r| &r.rule == rule);
                existing.ok_or_else(|| port_error("target: create security group rule", e))
            }
            Err(e) => Err(port_error("target: create security group rule", e)),
        }
    }

    async fn delete_rule(&self, id: &str) -> PortResult<()> {
        deleted(
            format!("security group rule {id}"),
            self.target
                .network
                .delete_rule(&SecurityGroupRuleId::new(id))
                .await,
            "target: delete security group rule",
        )
    }
}
