//! Security groups and rules in Neutron's state: the project's `default` group made on first
//! use, groups, validated rules, and what Nova asks about a server's groups.

use time::OffsetDateTime;

use super::{NetError, Neutron, Rule, RuleSpec, SecurityGroup, State, not_found};

impl Neutron {
    /// The project's `default` security group, created (with neutron's default rules) on
    /// first use. `ids` supplies fresh ids.
    pub fn ensure_default_group(
        &self,
        project_id: &str,
        now: OffsetDateTime,
        ids: &mut dyn FnMut() -> String,
    ) -> String {
        let mut st = self.lock();
        ensure_default(&mut st, project_id, now, ids)
    }

    /// Create a security group with the two default egress rules.
    pub fn create_group(
        &self,
        project_id: &str,
        name: &str,
        description: &str,
        now: OffsetDateTime,
        ids: &mut dyn FnMut() -> String,
    ) -> SecurityGroup {
        let mut st = self.lock();
        ensure_default(&mut st, project_id, now, ids);
        create_group(&mut st, project_id, name, description, now, ids)
    }

    /// Add a rule (validated; 409 on a duplicate).
    pub fn add_rule(
        &self,
        project_id: &str,
        group_id: &str,
        spec: RuleSpec,
        description: &str,
        id: String,
        now: OffsetDateTime,
    ) -> Result<Rule, NetError> {
        let mut st = self.lock();
        add_rule(&mut st, project_id, group_id, spec, description, id, now)
    }

    /// The security groups on a server's ports (unique, in port order).
    pub fn device_groups(&self, device_id: &str) -> Vec<SecurityGroup> {
        let st = self.lock();
        let mut out: Vec<SecurityGroup> = Vec::new();
        for p in st.ports.values().filter(|p| p.device_id == device_id) {
            for g in &p.security_groups {
                if let Some(g) = st.security_groups.get(g)
                    && !out.iter().any(|o| o.id == g.id)
                {
                    out.push(g.clone());
                }
            }
        }
        out
    }

    /// The rules of a group.
    pub fn group_rules(&self, group_id: &str) -> Vec<Rule> {
        self.lock()
            .rules
            .values()
            .filter(|r| r.security_group_id == group_id)
            .cloned()
            .collect()
    }
}

pub(super) fn ensure_default(
    st: &mut State,
    project_id: &str,
    now: OffsetDateTime,
    ids: &mut dyn FnMut() -> String,
) -> String {
    if let Some(g) = st
        .security_groups
        .values()
        .find(|g| g.project_id == project_id && g.name == "default")
    {
        return g.id.clone();
    }
    let g = create_group(
        st,
        project_id,
        "default",
        "Default security group",
        now,
        ids,
    );
    for ethertype in ["IPv4", "IPv6"] {
        let id = ids();
        let spec = RuleSpec {
            direction: "ingress".into(),
            ethertype: ethertype.into(),
            protocol: None,
            port_range_min: None,
            port_range_max: None,
            remote_ip_prefix: None,
            remote_group_id: Some(g.id.clone()),
        };
        st.rules.insert(
            id.clone(),
            Rule {
                id,
                security_group_id: g.id.clone(),
                project_id: project_id.into(),
                spec,
                description: String::new(),
                created_at: now,
            },
        );
    }
    g.id
}

pub(super) fn create_group(
    st: &mut State,
    project_id: &str,
    name: &str,
    description: &str,
    now: OffsetDateTime,
    ids: &mut dyn FnMut() -> String,
) -> SecurityGroup {
    let g = SecurityGroup {
        id: ids(),
        name: name.into(),
        description: description.into(),
        project_id: project_id.into(),
        created_at: now,
        revision: 1,
    };
    st.security_groups.insert(g.id.clone(), g.clone());
    for ethertype in ["IPv4", "IPv6"] {
        let id = ids();
        let spec = RuleSpec {
            direction: "egress".into(),
            ethertype: ethertype.into(),
            protocol: None,
            port_range_min: None,
            port_range_max: None,
            remote_ip_prefix: None,
            remote_group_id: None,
        };
        st.rules.insert(
            id.clone(),
            Rule {
                id,
                security_group_id: g.id.clone(),
                project_id: project_id.into(),
                spec,
                description: String::new(),
                created_at: now,
            },
        );
    }
    g
}

pub(super) fn add_rule(
    st: &mut State,
    project_id: &str,
    group_id: &str,
    spec: RuleSpec,
    description: &str,
    id: String,
    now: OffsetDateTime,
) -> Result<Rule, NetError> {
    let group = st
        .security_groups
        .get(group_id)
        .ok_or_else(|| not_found("Security group", group_id))?;
    if group.project_id != project_id {
        return Err(not_found("Security group", group_id));
    }
    let spec = spec.validated()?;
    if let Some(remote) = &spec.remote_group_id
        && !st.security_groups.contains_key(remote)
    {
        return Err(not_found("Security group", remote));
    }
    if let Some(existing) = st
        .rules
        .values()
        .find(|r| r.security_group_id == group_id && r.spec.same_as(&spec))
    {
        return Err(NetError::Conflict(
            "SecurityGroupRuleExists",
            format!(
                "Security group rule already exists. Rule id is {}.",
                existing.id
            ),
        ));
    }
    let rule = Rule {
        id: id.clone(),
        security_group_id: group_id.into(),
        project_id: project_id.into(),
        spec,
        description: description.into(),
        created_at: now,
    };
    st.rules.insert(id, rule.clone());
    if let Some(g) = st.security_groups.get_mut(group_id) {
        g.revision += 1;
    }
    Ok(rule)
}
