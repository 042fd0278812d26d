//! What the wizard lists from a cloud of the service's clouds.yaml: servers (to choose the
//! one to bring over), keypairs, security groups with their rules, networks, floating IPs and
//! flavors; the NICs of one server (network, fixed IPs, MAC, in NIC order). Read-only calls
//! through [`crate::cloud`], answered in small JSON shapes that name things the way the plan
//! file does.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::Shared;
use super::error::{ApiError, ApiResult};
use crate::cloud::Cloud;
use crate::cloud::ServerId;
use crate::cloud::compute::ServerQuery;

/// `GET /v1/clouds`: the entries of the service's clouds.yaml.
pub async fn clouds(State(app): State<Shared>) -> ApiResult<Json<Value>> {
    let (path, names) = crate::cloud::config::cloud_names(app.env()).map_err(ApiError::internal)?;
    Ok(Json(json!({
        "clouds": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "clouds_yaml": path,
    })))
}

/// The project the cloud's token is scoped to, to list that project's network resources (an
/// admin token sees every project's).
async fn project_filter(cloud: &Cloud) -> ApiResult<Vec<(&'static str, String)>> {
    Ok(cloud
        .session
        .project_id()
        .await
        .map_err(ApiError::cloud)?
        .map(|p| vec![("project_id", p)])
        .unwrap_or_default())
}

/// `GET /v1/clouds/{cloud}/servers`.
pub async fn servers(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let cloud = app.cloud(&name).await?;
    let servers = cloud
        .compute
        .list_servers(&ServerQuery::default())
        .await
        .map_err(ApiError::cloud)?;
    let mut out: Vec<Value> = servers
        .iter()
        .map(|s| {
            let mut groups: Vec<&str> = s.security_groups.iter().map(|g| g.name.as_str()).collect();
            groups.sort_unstable();
            groups.dedup();
            json!({
                "id": s.id.as_str(),
                "name": s.name,
                "status": s.status,
                "flavor": s.flavor.as_ref().and_then(|f| f.original_name.clone()),
                "vcpus": s.flavor.as_ref().and_then(|f| f.vcpus),
                "ram": s.flavor.as_ref().and_then(|f| f.ram),
                "disk": s.flavor.as_ref().and_then(|f| f.disk),
                "key_name": s.key_name,
                "security_groups": groups,
                "networks": s.addresses.keys().collect::<Vec<_>>(),
                "image": s.image.as_ref().map(|i| i.as_str().to_string()),
            })
        })
        .collect();
    out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(Json(json!({ "servers": out })))
}

/// `GET /v1/clouds/{cloud}/servers/{id}/nics`: the server's ports in NIC order (the order of
/// Nova's `addresses`, which decides `eth0`, `eth1`, ... in the guest), each with its network
/// (the key of the plan's NIC map), fixed IPs with their subnets, and MAC address.
pub async fn server_nics(
    State(app): State<Shared>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let cloud = app.cloud(&name).await?;
    let server_id = ServerId::new(id.as_str());
    let server = cloud
        .compute
        .get_server(&server_id)
        .await
        .map_err(ApiError::cloud)?
        .ok_or_else(|| ApiError::not_found(format!("server {id} in {name}")))?;
    let (ports, networks, subnets) = tokio::try_join!(
        cloud.network.server_ports(&server_id),
        cloud.network.networks(&[]),
        cloud.network.subnets(&[]),
    )
    .map_err(ApiError::cloud)?;
    let network_names: BTreeMap<&str, &str> = networks
        .iter()
        .map(|n| (n.id.as_str(), n.name.as_str()))
        .collect();
    let subnets: BTreeMap<&str, &crate::cloud::network::Subnet> =
        subnets.iter().map(|s| (s.id.as_str(), s)).collect();
    let nics: Vec<Value> = crate::engine::openstack::ports_in_nic_order(&server, ports.iter().collect())
        .into_iter()
        .enumerate()
        .map(|(index, p)| {
            let network = network_names
                .get(p.network_id.as_str())
                .copied()
                .filter(|n| !n.is_empty())
                .unwrap_or(p.network_id.as_str());
            json!({
                "index": index,
                "network": network,
                "network_id": p.network_id.as_str(),
                "port_id": p.id.as_str(),
                "mac": p.mac_address,
                "fixed_ips": p.fixed_ips.iter().map(|f| {
                    let subnet = f.subnet_id.as_ref().and_then(|s| subnets.get(s.as_str()));
                    json!({
                        "ip": f.ip_address,
                        "subnet": subnet.map(|s| if s.name.is_empty() { s.id.as_str() } else { s.name.as_str() }),
                        "cidr": subnet.map(|s| s.cidr.as_str()),
                    })
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({
        "server": {"id": server.id.as_str(), "name": server.name},
        "nics": nics,
    })))
}

/// `GET /v1/clouds/{cloud}/keypairs`.
pub async fn keypairs(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let cloud = app.cloud(&name).await?;
    let keypairs = cloud
        .compute
        .list_keypairs()
        .await
        .map_err(ApiError::cloud)?;
    Ok(Json(json!({
        "keypairs": keypairs
            .iter()
            .map(|k| json!({"name": k.name, "fingerprint": k.fingerprint, "type": k.key_type}))
            .collect::<Vec<_>>()
    })))
}

/// `GET /v1/clouds/{cloud}/security-groups`, with their rules.
pub async fn security_groups(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let cloud = app.cloud(&name).await?;
    let filter = project_filter(&cloud).await?;
    let groups = cloud
        .network
        .security_groups(&filter)
        .await
        .map_err(ApiError::cloud)?;
    let names: BTreeMap<&str, &str> = groups
        .iter()
        .map(|g| (g.id.as_str(), g.name.as_str()))
        .collect();
    Ok(Json(json!({
        "security_groups": groups
            .iter()
            .map(|g| json!({
                "id": g.id.as_str(),
                "name": g.name,
                "description": g.description,
                "rules": g.security_group_rules.iter().map(|r| json!({
                    "direction": r.direction,
                    "ethertype": r.ethertype,
                    "protocol": r.protocol,
                    "port_range_min": r.port_range_min,
                    "port_range_max": r.port_range_max,
                    "remote_ip_prefix": r.remote_ip_prefix,
                    "remote_group": r.remote_group_id.as_ref()
                        .map(|id| names.get(id.as_str()).map_or(id.as_str(), |n| *n)),
                })).collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>()
    })))
}

/// `GET /v1/clouds/{cloud}/networks`.
pub async fn networks(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let cloud = app.cloud(&name).await?;
    let networks = cloud.network.networks(&[]).await.map_err(ApiError::cloud)?;
    Ok(Json(json!({
        "networks": networks
            .iter()
            .map(|n| json!({
                "id": n.id.as_str(),
                "name": n.name,
                "external": n.external,
                "shared": n.shared,
                "project_id": n.project_id,
            }))
            .collect::<Vec<_>>()
    })))
}

/// `GET /v1/clouds/{cloud}/floating-ips` (`port_id` null: free to use).
pub async fn floating_ips(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let cloud = app.cloud(&name).await?;
    let filter = project_filter(&cloud).await?;
    let (fips, networks) = tokio::try_join!(
        cloud.network.floating_ips(&filter),
        cloud.network.networks(&[])
    )
    .map_err(ApiError::cloud)?;
    let names: BTreeMap<&str, &str> = networks
        .iter()
        .map(|n| (n.id.as_str(), n.name.as_str()))
        .collect();
    Ok(Json(json!({
        "floating_ips": fips
            .iter()
            .map(|f| json!({
                "id": f.id.as_str(),
                "address": f.floating_ip_address,
                "network": names.get(f.floating_network_id.as_str()).copied().unwrap_or(f.floating_network_id.as_str()),
                "port_id": f.port_id.as_ref().map(|p| p.as_str().to_string()),
                "fixed_ip_address": f.fixed_ip_address,
                "status": f.status,
            }))
            .collect::<Vec<_>>()
    })))
}

/// `GET /v1/clouds/{cloud}/flavors`.
pub async fn flavors(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let cloud = app.cloud(&name).await?;
    let flavors = cloud
        .compute
        .list_flavors()
        .await
        .map_err(ApiError::cloud)?;
    Ok(Json(json!({
        "flavors": flavors
            .iter()
            .map(|f| json!({"id": f.id.as_str(), "name": f.name, "vcpus": f.vcpus, "ram": f.ram, "disk": f.disk}))
            .collect::<Vec<_>>()
    })))
}

/// `GET /v1/clouds/{cloud}/servers/{id}/volumes`: the volumes attached to the server, in the
/// order the engine reads them (the root volume of a server booted from a volume first, then
/// by device), each with its size in GiB, type, device, whether it is the root volume,
/// whether it is encrypted (s2d cannot move those: their key stays in the source's key
/// manager) and whether Nova deletes it with the server. Cinder is asked only when the server
/// has volumes, so a cloud without Cinder still answers for a server booted from an image.
pub async fn server_volumes(
    State(app): State<Shared>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let cloud = app.cloud(&name).await?;
    let server_id = ServerId::new(id.as_str());
    let server = cloud
        .compute
        .get_server(&server_id)
        .await
        .map_err(ApiError::cloud)?
        .ok_or_else(|| ApiError::not_found(format!("server {id} in {name}")))?;
    let volumes: BTreeMap<String, crate::cloud::volume::Volume> =
        if server.volumes_attached.is_empty() {
            BTreeMap::new()
        } else {
            cloud
                .volume()
                .await
                .map_err(ApiError::cloud)?
                .volumes()
                .await
                .map_err(ApiError::cloud)?
                .into_iter()
                .map(|v| (v.id.to_string(), v))
                .collect()
        };
    let listed: Vec<Value> = crate::engine::openstack::source_volumes(&server, &volumes)
        .into_iter()
        .map(|v| {
            json!({
                "id": v.id,
                "name": v.name,
                "size_gb": volumes.contains_key(&v.id).then_some(v.size_gb),
                "volume_type": v.volume_type,
                "device": v.device,
                "root": v.boot,
                "encrypted": v.encrypted,
                "delete_on_termination": v.delete_on_termination,
                "status": volumes.get(&v.id).map(|c| c.status.as_str()),
            })
        })
        .collect();
    Ok(Json(json!({
        "server": {"id": server.id.as_str(), "name": server.name},
        "booted_from_volume": server.image.is_none() && !listed.is_empty(),
        "volumes": listed,
    })))
}

/// `GET /v1/clouds/{cloud}/volume-types`: the cloud's Cinder volume types, by name (the
/// values of the plan's `volume_types` map).
pub async fn volume_types(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let cloud = app.cloud(&name).await?;
    let mut types = cloud
        .volume()
        .await
        .map_err(ApiError::cloud)?
        .types()
        .await
        .map_err(ApiError::cloud)?;
    types.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(json!({
        "volume_types": types
            .iter()
            .map(|t| json!({"id": t.id, "name": t.name}))
            .collect::<Vec<_>>()
    })))
}
