//! The target's servers (markers in their metadata).

use super::*;
use crate::cloud::VolumeId;
use crate::cloud::compute::BlockDevice;

impl Servers for OpenStack {
    async fn server(&self, id: &str) -> PortResult<Option<Server>> {
        match self
            .target
            .compute
            .get_server(&ServerId::new(id))
            .await
            .map_err(api("target: get server"))?
        {
            Some(s) if !s.status.eq_ignore_ascii_case("DELETED") => {
                Ok(Some(self.server_of(s).await?))
            }
            _ => Ok(None),
        }
    }

    async fn servers(&self) -> PortResult<Vec<Server>> {
        let t = &self.target;
        let filters = self.target_project_filter(None).await?;
        let (servers, flavors, ports, fips) = tokio::try_join!(
            async {
                t.compute
                    .list_servers(&ServerQuery {
                        limit: Some(source_servers::PAGE),
                        ..ServerQuery::default()
                    })
                    .await
                    .map_err(api("target: list servers"))
            },
            async {
                t.compute
                    .list_flavors()
                    .await
                    .map_err(api("target: list flavors"))
            },
            async {
                t.network
                    .ports(&filters)
                    .await
                    .map_err(api("target: list ports"))
            },
            async {
                t.network
                    .floating_ips(&filters)
                    .await
                    .map_err(api("target: list floating IPs"))
            },
        )?;
        Ok(servers
            .into_iter()
            .filter(|s| !s.status.eq_ignore_ascii_case("DELETED"))
            .map(|s| server_from(s, &flavors, &ports, &fips))
            .collect())
    }

    async fn create_server(&self, spec: &ServerSpec) -> PortResult<Server> {
        let create = ServerCreate {
            name: spec.name.clone(),
            image: spec.image_id.clone().map(ImageId::new),
            flavor: spec.flavor_id.as_str().into(),
            key_name: Some(spec.key_name.clone()),
            networks: spec
                .nics
                .iter()
                .map(|n| match n {
                    NicSpec::Network(id) => ServerNetwork::Network(NetworkId::new(id)),
                    NicSpec::Port(id) => ServerNetwork::Port(cloud::PortId::new(id)),
                })
                .collect(),
            security_groups: spec.security_groups.clone(),
            metadata: spec
                .boot
                .metadata
                .clone()
                .into_iter()
                .chain(spec.marker.to_metadata())
                .collect(),
            tags: spec.boot.tags.clone(),
            availability_zone: spec.boot.availability_zone.clone(),
            description: spec.boot.description.clone(),
            config_drive: spec.boot.config_drive,
            hostname: spec.boot.hostname.clone(),
            user_data: spec.user_data.clone(),
            group: spec.group_id.clone(),
            block_devices: spec
                .volumes
                .iter()
                .map(|v| {
                    BlockDevice::volume(
                        VolumeId::new(&v.id),
                        v.boot_index.and_then(|i| i32::try_from(i).ok()),
                        v.delete_on_termination,
                    )
                })
                .collect(),
        };
        let id = cloud::create_or_adopt(
            &self.target.session.config().retry,
            CREATE_ATTEMPTS,
            || self.target.compute.create_server(&create),
            || async {
                let found = self
                    .target
                    .compute
                    .list_servers(&ServerQuery {
                        name: Some(spec.name.clone()),
                        ..ServerQuery::default()
                    })
                    .await?;
                Ok(found
                    .into_iter()
                    .find(|s| Marker::from_metadata(&s.metadata).as_ref() == Some(&spec.marker))
                    .map(|s| s.id))
            },
        )
        .await
        .map_err(api("target: create server"))?;
        let server = self
            .target
            .compute
            .get_server(&id)
            .await
            .map_err(api("target: get server"))?
            .ok_or_else(|| PortError::NotFound {
                what: format!("server {id}, just created"),
            })?;
        self.server_of(server).await
    }

    async fn wait_server_active(&self, id: &str, timeout: Duration) -> PortResult<Server> {
        let what = format!("server {id}");
        let server = self
            .target
            .compute
            .wait_for_server(&ServerId::new(id), "ACTIVE", timeout)
            .await
            .map_err(|e| match e {
                cloud::Error::Failed {
                    status, message, ..
                } if status.eq_ignore_ascii_case("ERROR") => PortError::ServerFault {
                    id: id.to_string(),
                    fault: message,
                },
                other => wait_error(&what, "ACTIVE", timeout)(other),
            })?;
        self.server_of(server).await
    }

    async fn update_server(&self, id: &str, update: &ServerUpdate) -> PortResult<()> {
        let t = &self.target;
        let server = ServerId::new(id);
        if let Some(metadata) = &update.metadata {
            // The marker stays: it is how the next plan knows the server is s2d's.
            let current = t
                .compute
                .get_server(&server)
                .await
                .map_err(api("target: get server"))?
                .ok_or_else(|| PortError::NotFound {
                    what: format!("server {id}"),
                })?;
            let marker: BTreeMap<String, String> = current
                .metadata
                .into_iter()
                .filter(|(k, _)| {
                    k.as_str() == super::super::port::MARKER_LINEAGE
                        || k.as_str() == super::super::port::MARKER_ADDRESS
                })
                .collect();
            let whole: BTreeMap<String, String> =
                metadata.clone().into_iter().chain(marker).collect();
            t.compute
                .set_server_metadata(&server, &whole)
                .await
                .map_err(api("target: set server metadata"))?;
        }
        if let Some(tags) = &update.tags {
            t.compute
                .set_server_tags(&server, tags)
                .await
                .map_err(api("target: set server tags"))?;
        }
        if let Some(description) = &update.description {
            t.compute
                .set_server_description(&server, description)
                .await
                .map_err(api("target: set server description"))?;
        }
        Ok(())
    }

    async fn keep_volume_on_delete(&self, id: &str, volume: &str) -> PortResult<()> {
        match self
            .target
            .compute
            .set_delete_on_termination(&ServerId::new(id), volume, false)
            .await
        {
            Err(e) if e.status() == Some(404) => Err(PortError::NotFound {
                what: format!("volume {volume} attached to server {id}"),
            }),
            other => other.map_err(api("target: keep volume on delete")),
        }
    }

    async fn delete_server(&self, id: &str) -> PortResult<()> {
        deleted(
            format!("server {id}"),
            self.target.compute.delete_server(&ServerId::new(id)).await,
            "target: delete server",
        )
    }

    async fn wait_server_gone(&self, id: &str, timeout: Duration) -> PortResult<()> {
        let what = format!("deletion of server {id}");
        self.target
            .compute
            .wait_for_server_deleted(&ServerId::new(id), timeout)
            .await
            .map_err(wait_error(&what, "gone", timeout))
    }
}
