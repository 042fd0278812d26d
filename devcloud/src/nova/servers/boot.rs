//! Creating a server: the boot request (parsed and checked in [`super::request`]) carried out,
//! its ports made or bound in Neutron, its volumes attached, and the BUILD -> ACTIVE/ERROR
//! step.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::request::*;
use super::{Server, bad};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::{ApiError, Service, parse_json};
use crate::imagedata::{Content, Format};
use crate::nova::{Microversion, links};

/// Nova's instance system metadata from the boot's image (`get_system_metadata_from_image`:
/// every property as `image_<key>` (truncated to 255 characters) but the block device
/// mappings, then `min_ram`, `min_disk` (at least the flavor's root disk, the flavor's alone
/// for a vhd), `disk_format`, `container_format`; `image_base_image_ref`) and the booting
/// user's names and roles.
fn system_metadata(
    cloud: &Cloud,
    auth: &Auth,
    req: &BootRequest,
    root_volume: Option<&crate::cinder::Volume>,
) -> BTreeMap<String, String> {
    let mut sm = BTreeMap::new();
    let image = match root_volume {
        Some(v) => Some(image_of_volume(v)),
        None => req
            .image_id
            .as_ref()
            .and_then(|i| cloud.glance.image_summary(i)),
    };
    if let Some(image) = &image {
        const SKIP: &[&str] = &[
            "mappings",
            "block_device_mapping",
            "img_mappings",
            "img_block_device_mapping",
        ];
        for (k, v) in &image.properties {
            if SKIP.contains(&k.as_str()) {
                continue;
            }
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            sm.insert(format!("image_{k}"), v.chars().take(255).collect());
        }
        let root_gb = cloud
            .nova
            .lock()
            .flavors
            .get(&req.flavor_id)
            .map_or(0, |f| f.disk);
        let min_disk = if image.disk_format.as_deref() == Some("vhd") {
            root_gb
        } else {
            image.min_disk.max(root_gb)
        };
        sm.insert("image_min_ram".into(), image.min_ram.to_string());
        sm.insert("image_min_disk".into(), min_disk.to_string());
        if let Some(f) = &image.disk_format {
            sm.insert("image_disk_format".into(), f.clone());
        }
        if let Some(f) = &image.container_format {
            sm.insert("image_container_format".into(), f.clone());
        }
    }
    sm.insert(
        "image_base_image_ref".into(),
        req.image_id.clone().unwrap_or_default(),
    );
    sm.insert("owner_user_name".into(), auth.user_name.clone());
    sm.insert("owner_project_name".into(), auth.project_name.clone());
    sm.insert("boot_roles".into(), auth.roles.join(","));
    sm
}

/// Nova's `get_image_metadata_from_volume`: the volume's image metadata as the image's
/// properties, less the attributes Cinder copied (`VIM_IMAGE_ATTRIBUTES`), with `min_ram`
/// and `min_disk` as numbers and no formats.
fn image_of_volume(v: &crate::cinder::Volume) -> crate::glance::ImageSummary {
    const VIM_IMAGE_ATTRIBUTES: &[&str] = &[
        "image_id",
        "image_name",
        "size",
        "checksum",
        "container_format",
        "disk_format",
        "min_ram",
        "min_disk",
    ];
    let num = |k: &str| {
        v.image_metadata
            .get(k)
            .and_then(|x| x.parse().ok())
            .unwrap_or(0)
    };
    crate::glance::ImageSummary {
        id: String::new(),
        name: String::new(),
        status: "active".into(),
        size: Some(v.size * crate::cinder::GIB),
        min_disk: num("min_disk"),
        min_ram: num("min_ram"),
        owner: v.project_id.clone(),
        visibility: "private".into(),
        disk_format: None,
        container_format: None,
        properties: v
            .image_metadata
            .iter()
            .filter(|(k, _)| !VIM_IMAGE_ATTRIBUTES.contains(&k.as_str()))
            .map(|(k, x)| (k.clone(), json!(x)))
            .collect(),
        checksum: None,
    }
}

/// Create a server (ports and volumes included) and schedule its BUILD -> ACTIVE/ERROR
/// transition (a volume-backed server waits for the volumes Nova makes, then attaches them).
pub fn boot(cloud: &SharedCloud, auth: &Auth, req: BootRequest) -> Result<Server, ApiError> {
    let now = cloud.clock.now();
    let id = cloud.faults.random_uuid().to_string();
    let server_volumes =
        super::volumes::prepare(cloud, auth, &req.block_devices, req.image_id.is_some())?;
    let root_volume = server_volumes
        .iter()
        .find(|v| v.boot_index == Some(0))
        .and_then(|v| cloud.cinder.volume(&v.volume_id, None));
    let disk = match (&req.disk, &req.image_id) {
        (Some(d), _) => d.clone(),
        (None, None) if root_volume.is_some() => root_volume
            .as_ref()
            .map(|v| v.content.clone())
            .unwrap_or_else(|| Content::zeros(0)),
        (None, Some(img)) => cloud
            .glance
            .image_content(img)
            .ok_or_else(|| bad(format!("Image {img} is not active.")))?,
        (None, None) => Content::Generated {
            seed: 0,
            size: 0,
            format: Format::Raw,
        },
    };
    let key_data = req.key_name.as_ref().and_then(|k| {
        cloud
            .nova
            .lock()
            .keypairs
            .get(&(auth.user_id.clone(), k.clone()))
            .map(|kp| kp.public_key.clone())
    });
    if let Some(g) = &req.group {
        crate::nova::groups::check_member_quota(cloud, g)?;
    }
    let system_metadata = system_metadata(cloud, auth, &req, root_volume.as_ref());
    for (index, nic) in req.nics.iter().enumerate() {
        let made = match nic {
            Nic::Network(net, fixed_ip) => {
                let port_id = cloud.faults.random_uuid().to_string();
                let mac = cloud.faults.random_u64();
                let mut next_id = || cloud.faults.random_uuid().to_string();
                cloud.neutron.create_server_port(
                    &auth.project_id,
                    net,
                    *fixed_ip,
                    &id,
                    &req.security_groups,
                    index,
                    port_id,
                    mac,
                    now,
                    &mut next_id,
                )
            }
            Nic::Port(port) => cloud.neutron.bind_port(port, &auth.project_id, &id, index),
        };
        if let Err(e) = made {
            cloud.neutron.delete_device_ports(&id);
            super::volumes::release(cloud, &id, &server_volumes);
            return Err(match e {
                crate::neutron::NetError::Conflict(_, m) => ApiError::nova(StatusCode::CONFLICT, m),
                crate::neutron::NetError::NotFound(_, m)
                | crate::neutron::NetError::BadRequest(_, m)
                | crate::neutron::NetError::Forbidden(_, m) => bad(m),
            });
        }
    }
    let server = Server {
        id: id.clone(),
        name: req.name.clone(),
        project_id: auth.project_id.clone(),
        user_id: auth.user_id.clone(),
        flavor_id: req.flavor_id,
        image_id: req.image_id,
        key_name: req.key_name,
        key_data,
        metadata: req.metadata,
        tags: req.tags,
        description: req.description,
        vm_state: "building".into(),
        task_state: Some("scheduling".into()),
        fault: None,
        created: now,
        updated: now,
        launched_at: None,
        terminated_at: None,
        disk,
        availability_zone: "nova".into(),
        requested_zone: req.availability_zone,
        system_metadata,
        config_drive: req.config_drive,
        hostname: req
            .hostname
            .unwrap_or_else(|| sanitize_hostname(&req.name, &id)),
        user_data: req.user_data,
        server_group: req.group.clone(),
        volumes: server_volumes.clone(),
    };
    // The group's policy as nova's scheduler filters apply it to devcloud's one host: decided
    // now, shown when the build ends (ERROR with "No valid host" when it does not fit).
    let no_host = {
        let mut st = cloud.nova.lock();
        let fits = match &req.group {
            Some(g) => crate::nova::groups::admit(&mut st, g, &id),
            None => true,
        };
        st.servers.insert(id.clone(), server.clone());
        !fits
    };
    let faults = cloud.faults.get();
    let cloud2 = Arc::clone(cloud);
    let delay = std::time::Duration::from_secs_f64(faults.server_build_s.max(0.0));
    let fail = faults.server_error || no_host;
    tokio::spawn(async move {
        tokio::time::sleep(delay / 2).await;
        if let Some(s) = cloud2.nova.lock().servers.get_mut(&id)
            && s.vm_state == "building"
        {
            s.task_state = Some("spawning".into());
            s.updated = cloud2.clock.now();
        }
        tokio::time::sleep(delay / 2).await;
        let fault = if fail {
            Some("No valid host was found. There are not enough hosts available.".to_string())
        } else {
            super::volumes::attach_all(&cloud2, &id, &server_volumes)
                .await
                .err()
        };
        finish_build(&cloud2, &id, fault);
    });
    Ok(server)
}

fn finish_build(cloud: &SharedCloud, id: &str, fault: Option<String>) {
    let now = cloud.clock.now();
    let mut st = cloud.nova.lock();
    let Some(s) = st.servers.get_mut(id) else {
        return;
    };
    if s.vm_state != "building" {
        return;
    }
    s.task_state = None;
    s.updated = now;
    if let Some(message) = fault {
        s.vm_state = "error".into();
        s.fault = Some((500, message, now));
        let volumes = std::mem::take(&mut s.volumes);
        drop(st);
        cloud.neutron.delete_device_ports(id);
        super::volumes::release(cloud, id, &volumes);
    } else {
        s.vm_state = "active".into();
        s.launched_at = Some(now);
    }
}

/// Mark a server ACTIVE now (seeding).
pub fn make_active(cloud: &Cloud, id: &str, launched_at: OffsetDateTime) {
    if let Some(s) = cloud.nova.lock().servers.get_mut(id) {
        s.vm_state = "active".into();
        s.task_state = None;
        s.launched_at = Some(launched_at);
        s.created = launched_at;
        s.updated = launched_at;
    }
}

pub(super) async fn create(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let req = parse_boot(&cloud, &auth, mv, &body)?;
    crate::nova::check_boot_quota(&cloud, &auth.project_id, &req.flavor_id)?;
    let server = crate::nova::Nova::accepted(&cloud, move |cloud| boot(cloud, &auth, req)).await?;
    let groups: Vec<Value> = {
        let mut names: Vec<String> = cloud
            .neutron
            .device_groups(&server.id)
            .into_iter()
            .map(|g| g.name)
            .collect();
        if names.is_empty() {
            names.push("default".into());
        }
        names.into_iter().map(|n| json!({"name": n})).collect()
    };
    let admin_pass: String = (0..12)
        .map(|_| char::from(b'a' + (cloud.faults.random_u64() % 26) as u8))
        .collect();
    let body = json!({"server": {"id": server.id, "links": links(&cloud, &format!("servers/{}", server.id)),
        "OS-DCF:diskConfig": "MANUAL", "security_groups": groups, "adminPass": admin_pass}});
    let location = format!("{}/compute/v2.1/servers/{}", cloud.base_url, server.id);
    Ok((StatusCode::ACCEPTED, [("location", location)], Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_python_decodebytes_takes_it() {
        for ok in [
            "",
            "YQ==",
            "YWI=",
            "YWJj",
            "YW Jj\n",
            "YQ==garbage-after",
            "!!!!",
        ] {
            assert!(is_base64(ok), "{ok:?}");
        }
        for bad in ["abc", "a", "YQ=", "YWJjZ"] {
            assert!(!is_base64(bad), "{bad:?}");
        }
    }

    #[test]
    fn hostnames_are_sanitized_as_nova_does() {
        assert_eq!(sanitize_hostname("ehr-analytics", "x"), "ehr-analytics");
        assert_eq!(sanitize_hostname("Web 1_a.b", "x"), "web-1-a-b");
        assert_eq!(sanitize_hostname("-db!-", "x"), "db");
        assert_eq!(sanitize_hostname("!!!", "id"), "Server-id");
        assert_eq!(sanitize_hostname(&"a".repeat(80), "x").len(), 63);
        let (v290, v294) = (Microversion(2, 90), Microversion(2, 94));
        assert!(hostname(&json!("web-1"), v290).is_ok());
        assert!(hostname(&json!("web-1.example"), v290).is_err());
        assert!(hostname(&json!("-web"), v290).is_err());
        assert!(hostname(&json!("a"), v290).is_err());
        assert!(hostname(&json!("web-1.example"), v294).is_ok());
        assert!(hostname(&json!("a"), v294).is_ok());
        assert!(hostname(&json!("web 1"), v294).is_err());
    }

    #[test]
    fn descriptions_allow_null_and_refuse_control_characters() {
        assert_eq!(description(&Value::Null).unwrap(), None);
        assert_eq!(description(&json!("d")).unwrap(), Some("d".into()));
        assert!(description(&json!("a\u{7}b")).is_err());
        assert!(description(&json!("x".repeat(256))).is_err());
    }
}
