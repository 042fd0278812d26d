//! The source servers to copy, and their snapshots (createImage, one at a time per server, once it is idle).

use super::*;

impl SourceServers for OpenStack {
    async fn source_server(&self, name_or_id: &str) -> PortResult<Option<SourceServer>> {
        let compute = &self.source.compute;
        let mut found = None;
        if looks_like_uuid(name_or_id) {
            found = compute
                .get_server(&ServerId::new(name_or_id))
                .await
                .map_err(api("source: get server"))?;
        }
        if found.is_none() {
            let mut named = compute
                .list_servers(&ServerQuery {
                    name: Some(name_or_id.to_string()),
                    ..ServerQuery::default()
                })
                .await
                .map_err(api("source: list servers"))?;
            named.retain(|s| s.name == name_or_id);
            if named.len() > 1 {
                return Err(PortError::Api {
                    diagnosis: Diagnosis::default(),
                    call: "source: find server".into(),
                    status: None,
                    message: format!(
                        "{} servers are named `{name_or_id}` in the source cloud ({}): name it by id",
                        named.len(),
                        named
                            .iter()
                            .map(|s| s.id.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            found = named.pop();
        }
        let Some(server) = found else {
            return Ok(None);
        };
        let flavor = server.flavor.clone().unwrap_or_default();
        let spec = match (flavor.vcpus, flavor.ram, flavor.disk, &flavor.id) {
            (Some(vcpus), Some(ram), Some(disk), _) => FlavorSpec {
                name: flavor.original_name.clone().unwrap_or_default(),
                vcpus,
                ram_mb: ram,
                disk_gb: disk,
            },
            (_, _, _, Some(id)) => {
                let f = compute
                    .get_flavor(id)
                    .await
                    .map_err(api("source: get flavor"))?
                    .ok_or_else(|| PortError::NotFound {
                        what: format!("flavor {id} of source server {}", server.name),
                    })?;
                FlavorSpec {
                    name: f.name,
                    vcpus: f.vcpus,
                    ram_mb: f.ram,
                    disk_gb: f.disk,
                }
            }
            _ => {
                return Err(PortError::Api {
                    diagnosis: Diagnosis::default(),
                    call: "source: server flavor".into(),
                    status: None,
                    message: format!("source server {} shows no flavor", server.name),
                });
            }
        };
        // The groups the server's ports are in (Neutron's truth); Nova's names as a fallback.
        let ports = self
            .source
            .network
            .server_ports(&server.id)
            .await
            .map_err(api("source: ports of server"))?;
        let mut group_ids: Vec<String> = ports
            .iter()
            .flat_map(|p| p.security_groups.iter().map(ToString::to_string))
            .collect();
        if ports.is_empty() {
            for named in &server.security_groups {
                let groups = self
                    .source
                    .network
                    .security_groups(&[("name", named.name.clone())])
                    .await
                    .map_err(api("source: list security groups"))?;
                let owner = server.tenant_id.clone();
                group_ids.extend(
                    groups
                        .into_iter()
                        .filter(|g| owner.is_none() || g.project_id == owner)
                        .map(|g| g.id.to_string()),
                );
            }
        }
        group_ids.sort();
        group_ids.dedup();
        let mut security_groups = Vec::new();
        for id in &group_ids {
            let Some(mut group) = self.group_of(&self.source, id).await? else {
                continue;
            };
            group.rules.retain(|r| {
                let foreign = r
                    .rule
                    .remote_ip_prefix
                    .as_deref()
                    .is_some_and(|p| p.starts_with("group:"));
                if foreign {
                    tracing::warn!(
                        group = %group.name,
                        rule = %r.id,
                        "a source rule admits another security group; rules between groups are not copied"
                    );
                }
                !foreign
            });
            security_groups.push(group);
        }
        let keypair = match &server.key_name {
            Some(name) if !name.is_empty() => compute
                .get_keypair(name)
                .await
                .map_err(api("source: get keypair"))?
                .as_ref()
                .map(keypair),
            _ => None,
        };
        let image_disk_format = match &server.image {
            Some(id) => self
                .source
                .image
                .get(id)
                .await
                .map_err(api("source: get image"))?
                .and_then(|i| i.disk_format),
            None => None,
        };
        Ok(Some(SourceServer {
            id: server.id.to_string(),
            name: server.name.clone(),
            status: server.status.clone(),
            flavor: spec,
            security_groups,
            key_name: server.key_name.clone(),
            keypair,
            image_id: server.image.as_ref().map(ToString::to_string),
            image_disk_format,
        }))
    }

    async fn create_snapshot(
        &self,
        server_id: &str,
        name: &str,
        marker: &Marker,
    ) -> PortResult<String> {
        let metadata = marker.to_metadata();
        let server = ServerId::new(server_id);
        // Nova takes one snapshot of a server at a time: while one is taken or uploaded, a
        // second createImage is refused (devcloud: 409; real Nova may answer 500 and leave a
        // queued image behind). Two servers of a plan may copy one source, so s2d takes its
        // turns: one createImage per server at a time, each once the server is idle.
        let turn = {
            let mut turns = self
                .snapshot_turns
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            turns.entry(server_id.to_string()).or_default().clone()
        };
        let _turn = turn.lock().await;
        self.wait_source_idle(&server).await?;
        let mut pause = Duration::from_millis(250);
        let mut busy_since = None;
        let id = loop {
            let made = cloud::create_or_adopt(
                &self.source.session.config().retry,
                CREATE_ATTEMPTS,
                || self.source.compute.create_image(&server, name, &metadata),
                || async {
                    let images = self
                        .source
                        .image
                        .list(&GlanceQuery {
                            name: Some(name.to_string()),
                            ..GlanceQuery::default()
                        })
                        .await?;
                    Ok(images
                        .into_iter()
                        .map(image)
                        .find(|i| i.marker.as_ref() == Some(marker))
                        .map(|i| ImageId::new(i.id)))
                },
            )
            .await;
            match made {
                Ok(id) => break id,
                Err(e) if e.is_conflict() && e.to_string().contains("task_state") => {
                    let since = *busy_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() > SNAPSHOT_BUSY_LIMIT {
                        return Err(port_error("source: createImage", e));
                    }
                    tracing::debug!(
                        server = server_id,
                        "the server is busy with another snapshot; waiting"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 3 / 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(port_error("source: createImage", e)),
            }
        };
        Ok(id.to_string())
    }
}
