//! Floating IPs: JSON shape, create (optionally associated), `PUT` to associate or
//! disassociate, delete.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{
    body_object, created, one, opt_str, owned, owner, parse_ip, required, resource, visible,
    with_std,
};
use crate::auth::Auth;
use crate::cloud::SharedCloud;
use crate::error::ApiError;
use crate::neutron::{FloatingIp, Port, State as NState, not_found};

/// A floating IP; `port_details` describes its port when associated (Neutron's
/// `fip-port-details` extension).
pub(crate) fn fip_json(st: &NState, f: &FloatingIp) -> Value {
    let port_details = f
        .port_id
        .as_ref()
        .and_then(|id| st.ports.get(id))
        .map(|p| {
            json!({"name": p.name, "network_id": p.network_id, "mac_address": p.mac_address,
                "admin_state_up": true, "status": "ACTIVE", "device_id": p.device_id,
                "device_owner": p.device_owner})
        })
        .unwrap_or(Value::Null);
    with_std(
        json!({"id": f.id, "floating_network_id": f.floating_network_id,
            "floating_ip_address": f.floating_ip_address.to_string(),
            "fixed_ip_address": f.fixed_ip_address.map(|i| i.to_string()), "port_id": f.port_id,
            "router_id": f.router_id, "status": if f.port_id.is_some() {"ACTIVE"} else {"DOWN"},
            "description": f.description, "dns_domain": "", "dns_name": "", "port_details": port_details,
            "qos_policy_id": null, "port_forwardings": []}),
        &f.project_id,
        f.created_at,
        f.revision,
    )
}

resource! {
    FloatingIp {
        key: "floatingip", collection: "floatingips", path: "floatingips", kind: "Floating IP",
        table: floatingips,
        json: |it, st| fip_json(st, it),
        visible: |it, _st, auth| visible(auth, &it.project_id),
    }
}

pub(super) async fn create_fip(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "floatingip",
        &[
            "floating_network_id",
            "floating_ip_address",
            "port_id",
            "fixed_ip_address",
            "description",
            "project_id",
            "tenant_id",
            "subnet_id",
            "dns_name",
            "dns_domain",
            "qos_policy_id",
        ],
    )?;
    let project = owner(&auth, &obj)?;
    super::check_quota(&cloud, &project, "floatingip", |st| {
        st.floatingips
            .values()
            .filter(|f| f.project_id == project)
            .count()
    })?;
    let net = required(&obj, "floating_network_id")?;
    let address = parse_ip(opt_str(&obj, "floating_ip_address")?, "floating_ip_address")?;
    let fixed = parse_ip(opt_str(&obj, "fixed_ip_address")?, "fixed_ip_address")?;
    let port = opt_str(&obj, "port_id")?;
    let desc = opt_str(&obj, "description")?.unwrap_or_default();
    let id = cloud.faults.random_uuid().to_string();
    let now = cloud.clock.now();
    let mut st = cloud.neutron.lock();
    if let Some(p) = &port {
        owned::<Port>(&st, &auth, p)?;
    }
    let f = crate::neutron::create_fip(&mut st, &project, &net, address, &desc, id.clone(), now)?;
    if port.is_some()
        && let Err(e) = crate::neutron::set_fip_port(&mut st, &f.id, port.as_deref(), fixed)
    {
        st.floatingips.remove(&f.id);
        return Err(e.into());
    }
    let f = st
        .floatingips
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("Floating IP", &id))?;
    Ok(created("floatingip", fip_json(&st, &f)))
}

pub(super) async fn update_fip(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "floatingip",
        &[
            "port_id",
            "fixed_ip_address",
            "description",
            "qos_policy_id",
        ],
    )?;
    let mut st = cloud.neutron.lock();
    owned::<FloatingIp>(&st, &auth, &id)?;
    if obj.contains_key("port_id") {
        let port = opt_str(&obj, "port_id")?;
        let fixed = parse_ip(opt_str(&obj, "fixed_ip_address")?, "fixed_ip_address")?;
        crate::neutron::set_fip_port(&mut st, &id, port.as_deref(), fixed)?;
    }
    if let Some(d) = opt_str(&obj, "description")?
        && let Some(f) = st.floatingips.get_mut(&id)
    {
        f.description = d;
        f.revision += 1;
    }
    let f = st
        .floatingips
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("Floating IP", &id))?;
    Ok(one("floatingip", fip_json(&st, &f)))
}

pub(super) async fn delete_fip(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut st = cloud.neutron.lock();
    owned::<FloatingIp>(&st, &auth, &id)?;
    st.floatingips.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}
