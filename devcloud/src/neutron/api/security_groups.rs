//! Security groups and their rules: JSON shapes, create, update (groups) and delete; the
//! project's `default` group is made on first use.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{
    body_object, created, ids, one, opt_port, opt_str, owned, owner, required, resource, visible,
    with_std,
};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::ApiError;
use crate::neutron::{Rule, RuleSpec, SecurityGroup, State as NState, not_found};

fn rule_json(r: &crate::neutron::Rule, default_group: bool) -> Value {
    with_std(
        json!({"id": r.id, "security_group_id": r.security_group_id, "direction": r.spec.direction,
            "ethertype": r.spec.ethertype, "protocol": r.spec.protocol, "port_range_min": r.spec.port_range_min,
            "port_range_max": r.spec.port_range_max, "remote_ip_prefix": r.spec.remote_ip_prefix,
            "remote_group_id": r.spec.remote_group_id, "remote_address_group_id": null,
            "normalized_cidr": r.spec.normalized_cidr(), "description": r.description,
            "belongs_to_default_sg": default_group}),
        &r.project_id,
        r.created_at,
        0,
    )
}

pub(crate) fn group_json(st: &NState, g: &SecurityGroup) -> Value {
    let rules: Vec<Value> = st
        .rules
        .values()
        .filter(|r| r.security_group_id == g.id)
        .map(|r| rule_json(r, g.name == "default"))
        .collect();
    with_std(
        json!({"id": g.id, "name": g.name, "description": g.description, "security_group_rules": rules,
            "stateful": true, "shared": false}),
        &g.project_id,
        g.created_at,
        g.revision,
    )
}

fn ensure_default_for(cloud: &Cloud, auth: &Auth) {
    let now = cloud.clock.now();
    let mut next_id = ids(cloud);
    cloud
        .neutron
        .ensure_default_group(&auth.project_id, now, &mut next_id);
}

resource! {
    SecurityGroup {
        key: "security_group", collection: "security_groups", path: "security-groups", kind: "Security group",
        table: security_groups,
        json: |it, st| group_json(st, it),
        visible: |it, _st, auth| visible(auth, &it.project_id),
    }

    fn before_list(cloud: &Cloud, auth: &Auth) {
        ensure_default_for(cloud, auth);

}

    fn before_show(cloud: &Cloud, auth: &Auth) {
        ensure_default_for(cloud, auth);
    }
}

resource! {
    Rule {
        key: "security_group_rule", collection: "security_group_rules", path: "security-group-rules", kind: "Security group rule",
        table: rules,
        json: |it, st| {
            let default_group = st
                .security_groups
                .get(&it.security_group_id)
                .is_some_and(|g| g.name == "default");
            rule_json(it, default_group)
        },
        visible: |it, _st, auth| visible(auth, &it.project_id),
    }

    fn before_list(cloud: &Cloud, auth: &Auth) {
        ensure_default_for(cloud, auth);

}
}

pub(super) async fn create_group(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "security_group",
        &["name", "description", "project_id", "tenant_id", "stateful"],
    )?;
    let project = owner(&auth, &obj)?;
    let name = opt_str(&obj, "name")?.unwrap_or_default();
    if name == "default" {
        let exists = cloud
            .neutron
            .lock()
            .security_groups
            .values()
            .any(|g| g.project_id == project && g.name == "default");
        if exists {
            return Err(ApiError::neutron(
                StatusCode::CONFLICT,
                "SecurityGroupDefaultAlreadyExists",
                "Default security group already exists.",
            ));
        }
    }
    let desc = opt_str(&obj, "description")?.unwrap_or_default();
    let now = cloud.clock.now();
    let mut next_id = ids(&cloud);
    let g = cloud
        .neutron
        .create_group(&project, &name, &desc, now, &mut next_id);
    let st = cloud.neutron.lock();
    Ok(created("security_group", group_json(&st, &g)))
}

pub(super) async fn update_group(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "security_group",
        &["name", "description", "stateful"],
    )?;
    let mut st = cloud.neutron.lock();
    let g = st
        .security_groups
        .get_mut(&id)
        .filter(|g| visible(&auth, &g.project_id))
        .ok_or_else(|| not_found("Security group", &id))?;
    if let Some(name) = opt_str(&obj, "name")? {
        if g.name == "default" && name != "default" {
            return Err(ApiError::neutron(
                StatusCode::CONFLICT,
                "SecurityGroupCannotUpdateDefault",
                "Updating default security group not allowed.",
            ));
        }
        g.name = name;
    }
    if let Some(d) = opt_str(&obj, "description")? {
        g.description = d;
    }
    g.revision += 1;
    let g = g.clone();
    Ok(one("security_group", group_json(&st, &g)))
}

pub(super) async fn delete_group(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut st = cloud.neutron.lock();
    let g = owned::<SecurityGroup>(&st, &auth, &id)?;
    if g.name == "default" && !auth.is_admin {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "SecurityGroupCannotRemoveDefault",
            "Insufficient rights for removing default security group.",
        ));
    }
    if st.ports.values().any(|p| p.security_groups.contains(&id)) {
        return Err(ApiError::neutron(
            StatusCode::CONFLICT,
            "SecurityGroupInUse",
            format!("Security Group {id} in use."),
        ));
    }
    st.security_groups.remove(&id);
    st.rules.retain(|_, r| r.security_group_id != id);
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn create_rule(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "security_group_rule",
        &[
            "security_group_id",
            "direction",
            "ethertype",
            "protocol",
            "port_range_min",
            "port_range_max",
            "remote_ip_prefix",
            "remote_group_id",
            "remote_address_group_id",
            "description",
            "project_id",
            "tenant_id",
        ],
    )?;
    let group_id = required(&obj, "security_group_id")?;
    let direction = required(&obj, "direction")?;
    let protocol = match obj.get("protocol") {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => opt_str(&obj, "protocol")?,
    };
    let spec = RuleSpec {
        direction,
        ethertype: opt_str(&obj, "ethertype")?.unwrap_or_else(|| "IPv4".into()),
        protocol,
        port_range_min: opt_port(&obj, "port_range_min")?,
        port_range_max: opt_port(&obj, "port_range_max")?,
        remote_ip_prefix: opt_str(&obj, "remote_ip_prefix")?,
        remote_group_id: opt_str(&obj, "remote_group_id")?,
    };
    // The group must be visible to the caller; the rule belongs to the group's project.
    let project = {
        let st = cloud.neutron.lock();
        let g = owned::<SecurityGroup>(&st, &auth, &group_id)?;
        g.project_id.clone()
    };
    let desc = opt_str(&obj, "description")?.unwrap_or_default();
    let id = cloud.faults.random_uuid().to_string();
    let rule = cloud
        .neutron
        .add_rule(&project, &group_id, spec, &desc, id, cloud.clock.now())?;
    let default = cloud
        .neutron
        .lock()
        .security_groups
        .get(&group_id)
        .is_some_and(|g| g.name == "default");
    Ok(created("security_group_rule", rule_json(&rule, default)))
}

pub(super) async fn delete_rule(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut st = cloud.neutron.lock();
    let r = owned::<Rule>(&st, &auth, &id)?;
    let gid = r.security_group_id.clone();
    st.rules.remove(&id);
    if let Some(g) = st.security_groups.get_mut(&gid) {
        g.revision += 1;
    }
    Ok(StatusCode::NO_CONTENT)
}
