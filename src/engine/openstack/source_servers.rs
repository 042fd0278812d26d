//! The source servers to copy, and their snapshots (createImage, one at a time per server, once it is idle).

use super::*;

/// The largest page s2d asks of Nova and Glance (their default maxima: Nova's `[api]
/// max_limit` and Glance's `api_limit_max` are both 1000).
pub(super) const PAGE: u32 = 1000;

impl SourceServers for OpenStack {
    async fn source_servers(&self) -> PortResult<Vec<SourceServer>> {
        let src = &self.source;
        let project = src
            .session
            .project_id()
            .await
            .map_err(api("source: project of the token"))?;
        let in_project: Vec<(&'static str, String)> =
            project.iter().map(|p| ("project_id", p.clone())).collect();
        let (servers, ports, groups, keypairs, images, server_groups, networks) = tokio::try_join!(
            async {
                src.compute
                    .list_servers(&ServerQuery {
                        limit: Some(PAGE),
                        ..ServerQuery::default()
                    })
                    .await
                    .map_err(api("source: list servers"))
            },
            async {
                src.network
                    .ports(&in_project)
                    .await
                    .map_err(api("source: list ports"))
            },
            async {
                src.network
                    .security_groups(&in_project)
                    .await
                    .map_err(api("source: list security groups"))
            },
            async {
                src.compute
                    .list_keypairs()
                    .await
                    .map_err(api("source: list keypairs"))
            },
            async {
                src.image
                    .list(&GlanceQuery {
                        limit: Some(PAGE),
                        ..GlanceQuery::default()
                    })
                    .await
                    .map_err(api("source: list images"))
            },
            async {
                src.compute
                    .list_server_groups()
                    .await
                    .map_err(api("source: list server groups"))
            },
            async {
                src.network
                    .networks(&[])
                    .await
                    .map_err(api("source: list networks"))
            },
        )?;
        let network_names: BTreeMap<String, String> = networks
            .into_iter()
            .map(|n| (n.id.to_string(), n.name))
            .collect();
        let group_of: BTreeMap<&str, SourceGroup> = server_groups
            .iter()
            .flat_map(|g| {
                g.members.iter().map(|m| {
                    (
                        m.as_str(),
                        SourceGroup {
                            name: g.name.clone(),
                            policy: g.policy.clone(),
                        },
                    )
                })
            })
            .collect();
        // Before 2.47 a server names its flavor by id only: the flavors are listed once
        // (and a private or deleted one fetched by id).
        let mut flavors: BTreeMap<String, FlavorSpec> = BTreeMap::new();
        let by_id_only = servers.iter().any(|s| {
            s.flavor
                .as_ref()
                .is_none_or(|f| f.vcpus.is_none() || f.ram.is_none() || f.disk.is_none())
        });
        if by_id_only {
            for f in src
                .compute
                .list_flavors()
                .await
                .map_err(api("source: list flavors"))?
            {
                flavors.insert(f.id.to_string(), flavor_spec(&f));
            }
        }
        let mut ports_of: BTreeMap<&str, Vec<&cloud::network::Port>> = BTreeMap::new();
        for port in &ports {
            ports_of
                .entry(port.device_id.as_str())
                .or_default()
                .push(port);
        }
        let mut groups: Vec<SecurityGroup> = groups.into_iter().map(security_group).collect();
        name_remote_groups(&mut groups);
        let keypairs: BTreeMap<&str, &cloud::compute::Keypair> =
            keypairs.iter().map(|k| (k.name.as_str(), k)).collect();
        let formats: BTreeMap<String, Option<String>> = images
            .into_iter()
            .map(|i| (i.id.to_string(), i.disk_format))
            .collect();
        // Cinder is read only when a server has volumes (a cloud may have none).
        let volumes: BTreeMap<String, cloud::volume::Volume> =
            if servers.iter().any(|s| !s.volumes_attached.is_empty()) {
                self.source
                    .volume()
                    .await
                    .map_err(api("source: block-storage endpoint"))?
                    .volumes()
                    .await
                    .map_err(api("source: list volumes"))?
                    .into_iter()
                    .map(|v| (v.id.to_string(), v))
                    .collect()
            } else {
                BTreeMap::new()
            };
        let mut found = Vec::with_capacity(servers.len());
        for server in servers {
            let flavor = self.source_flavor(&server, &mut flavors).await?;
            let ports = ports_of
                .get(server.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let security_groups = self.groups_of_server(&server, ports, &groups).await?;
            let keypair = server
                .key_name
                .as_deref()
                .and_then(|name| keypairs.get(name))
                .map(|k| keypair(k));
            let image_disk_format = server
                .image
                .as_ref()
                .and_then(|id| formats.get(id.as_str()).cloned().flatten());
            found.push(SourceServer {
                id: server.id.to_string(),
                name: server.name.clone(),
                status: server.status.clone(),
                flavor,
                security_groups,
                key_name: server.key_name.clone(),
                keypair,
                image_id: server.image.as_ref().map(ToString::to_string),
                image_disk_format,
                metadata: server.metadata.clone(),
                tags: server.tags.clone(),
                boot: server_boot(&server),
                server_group: group_of.get(server.id.as_str()).cloned(),
                nics: super::networks::source_nics(&server, ports, &network_names),
                volumes: source_volumes(&server, &volumes),
            });
        }
        Ok(found)
    }

    async fn source_networks(&self) -> PortResult<Vec<crate::graph::SourceNetwork>> {
        self.read_source_networks().await
    }

    async fn source_user_data(&self, server_id: &str) -> PortResult<Option<String>> {
        let server = self
            .source
            .compute
            .get_server(&ServerId::new(server_id))
            .await
            .map_err(api("source: get server"))?;
        Ok(server
            .and_then(|s| s.user_data.flatten())
            .filter(|u| !u.is_empty()))
    }

    async fn set_source_power(
        &self,
        server_id: &str,
        on: bool,
        timeout: Duration,
    ) -> PortResult<()> {
        let compute = &self.source.compute;
        let id = ServerId::new(server_id);
        let wanted = if on { "ACTIVE" } else { "SHUTOFF" };
        let server = compute
            .get_server(&id)
            .await
            .map_err(api("source: get server"))?
            .ok_or_else(|| PortError::NotFound {
                what: format!("source server {server_id}"),
            })?;
        if !server.status.eq_ignore_ascii_case(wanted) {
            let asked = if on {
                compute.start_server(&id).await
            } else {
                compute.stop_server(&id).await
            };
            // 409: it is on its way there already (another run asked).
            match asked {
                Ok(()) => {}
                Err(e) if e.status() == Some(409) => {}
                Err(e) => {
                    return Err(port_error(
                        if on {
                            "source: start server"
                        } else {
                            "source: stop server"
                        },
                        e,
                    ));
                }
            }
        }
        compute
            .wait_for_server(&id, wanted, timeout)
            .await
            .map_err(wait_error("source server", wanted, timeout))?;
        Ok(())
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
        // Another runner (another s2d process) may snapshot the same server at the same time:
        // real Nova then answers the second createImage with a 500 and leaves its image
        // `queued` for good, and the lookup by marker finds that image. A snapshot whose image
        // is still queued once the server is idle again never started: it is deleted and
        // taken again.
        let mut attempts = 0;
        loop {
            let id = self
                .take_snapshot(&server, server_id, name, marker, &metadata)
                .await?;
            match self.snapshot_started(&server, &id).await? {
                true => return Ok(id.to_string()),
                false if attempts < DEAD_SNAPSHOT_RETRIES => {
                    attempts += 1;
                    tracing::warn!(
                        server = server_id,
                        image = %id,
                        "the snapshot never started (its image is still queued and the server is idle): taking it again"
                    );
                    match self.source.image.delete(&id).await {
                        Ok(_) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(port_error("source: delete image", e)),
                    }
                }
                false => {
                    return Err(PortError::Api {
                        diagnosis: Diagnosis::default(),
                        call: "source: createImage".into(),
                        status: None,
                        message: format!(
                            "the snapshot of source server {server_id} never started ({DEAD_SNAPSHOT_RETRIES} tries): its image stays queued while the server is idle"
                        ),
                    });
                }
            }
        }
    }
}

/// How often a snapshot that never started is taken again.
const DEAD_SNAPSHOT_RETRIES: u32 = 3;
/// How long an image may stay `queued` once its server is idle before it counts as dead.
const DEAD_SNAPSHOT_GRACE: Duration = Duration::from_secs(15);

impl OpenStack {
    /// createImage once the server is idle (waiting while another snapshot runs); the image's
    /// id, also when the answer was lost and the image is found by its marker.
    async fn take_snapshot(
        &self,
        server: &ServerId,
        server_id: &str,
        name: &str,
        marker: &Marker,
        metadata: &BTreeMap<String, String>,
    ) -> PortResult<ImageId> {
        self.wait_source_idle(server).await?;
        let mut pause = Duration::from_millis(250);
        let mut busy_since = None;
        let id = loop {
            let made = cloud::create_or_adopt(
                &self.source.session.config().retry,
                CREATE_ATTEMPTS,
                || self.source.compute.create_image(server, name, metadata),
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
        Ok(id)
    }

    /// Whether a snapshot is under way or done: its image has left `queued`, or the server is
    /// still busy (with it or another). `false` when the image is still queued
    /// [`DEAD_SNAPSHOT_GRACE`] after the server became idle.
    async fn snapshot_started(&self, server: &ServerId, id: &ImageId) -> PortResult<bool> {
        let mut idle_since: Option<std::time::Instant> = None;
        let started = std::time::Instant::now();
        loop {
            let image = self
                .source
                .image
                .get(id)
                .await
                .map_err(api("source: get image"))?;
            match image {
                // Gone: the wait that follows reports it.
                None => return Ok(true),
                Some(i) if i.status != "queued" => return Ok(true),
                Some(_) => {}
            }
            let task = self
                .source
                .compute
                .get_server(server)
                .await
                .map_err(api("source: get server"))?
                .and_then(|s| s.task_state);
            match task {
                Some(_) => idle_since = None,
                None => {
                    let since = *idle_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() >= DEAD_SNAPSHOT_GRACE {
                        return Ok(false);
                    }
                }
            }
            if started.elapsed() > SNAPSHOT_BUSY_LIMIT {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

fn flavor_spec(f: &cloud::compute::Flavor) -> FlavorSpec {
    FlavorSpec {
        name: f.name.clone(),
        vcpus: f.vcpus,
        ram_mb: f.ram,
        disk_gb: f.disk,
        ephemeral_gb: f.ephemeral,
        swap_mb: f.swap,
        extra_specs: f.extra_specs.clone(),
    }
}

impl OpenStack {
    /// A source server's flavor: as the server shows it (2.47+), else from the listed flavors,
    /// else fetched by id (a private or deleted flavor) and kept for the next server.
    async fn source_flavor(
        &self,
        server: &cloud::compute::Server,
        flavors: &mut BTreeMap<String, FlavorSpec>,
    ) -> PortResult<FlavorSpec> {
        let flavor = server.flavor.clone().unwrap_or_default();
        if let (Some(vcpus), Some(ram), Some(disk)) = (flavor.vcpus, flavor.ram, flavor.disk) {
            return Ok(FlavorSpec {
                name: flavor.original_name.clone().unwrap_or_default(),
                vcpus,
                ram_mb: ram,
                disk_gb: disk,
                ephemeral_gb: flavor.ephemeral.unwrap_or(0),
                swap_mb: flavor.swap.unwrap_or(0),
                extra_specs: flavor.extra_specs.clone(),
            });
        }
        let Some(id) = &flavor.id else {
            return Err(PortError::Api {
                diagnosis: Diagnosis::default(),
                call: "source: server flavor".into(),
                status: None,
                message: format!("source server {} shows no flavor", server.name),
            });
        };
        if let Some(spec) = flavors.get(id.as_str()) {
            return Ok(spec.clone());
        }
        let f = self
            .source
            .compute
            .get_flavor(id)
            .await
            .map_err(api("source: get flavor"))?
            .ok_or_else(|| PortError::NotFound {
                what: format!("flavor {id} of source server {}", server.name),
            })?;
        let spec = flavor_spec(&f);
        flavors.insert(id.to_string(), spec.clone());
        Ok(spec)
    }

    /// The groups a source server's ports are in (Neutron's truth; Nova's names when it has
    /// no port), with their rules; a rule admitting a group this project does not see (another
    /// project's) is left out with a warning.
    async fn groups_of_server(
        &self,
        server: &cloud::compute::Server,
        ports: &[&cloud::network::Port],
        listed: &[SecurityGroup],
    ) -> PortResult<Vec<SecurityGroup>> {
        let mut ids: Vec<String> = ports
            .iter()
            .flat_map(|p| p.security_groups.iter().map(ToString::to_string))
            .collect();
        if ports.is_empty() {
            for named in &server.security_groups {
                ids.extend(
                    listed
                        .iter()
                        .filter(|g| g.name == named.name)
                        .map(|g| g.id.clone()),
                );
            }
        }
        ids.sort();
        ids.dedup();
        let mut groups = Vec::new();
        for id in &ids {
            let group = match listed.iter().find(|g| &g.id == id) {
                Some(g) => Some(g.clone()),
                // Another project's group (shared with this one): fetched by id.
                None => self.group_of(&self.source, id).await?,
            };
            let Some(mut group) = group else {
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
                        "a source rule admits a security group this project does not see; it is not copied"
                    );
                }
                !foreign
            });
            groups.push(group);
        }
        Ok(groups)
    }
}

/// A source server's volumes as Nova lists them (`volumes_attached`), read in Cinder: the
/// root volume of a server booted from a volume first, then in the order of their devices
/// (the wizard lists them in this order too).
pub fn source_volumes(
    server: &cloud::compute::Server,
    volumes: &BTreeMap<String, cloud::volume::Volume>,
) -> Vec<crate::graph::SourceVolume> {
    let mut out: Vec<crate::graph::SourceVolume> = server
        .volumes_attached
        .iter()
        .map(|attached| {
            let id = attached.id.to_string();
            let volume = volumes.get(&id);
            crate::graph::SourceVolume {
                name: volume.map(|v| v.name.clone()).unwrap_or_default(),
                size_gb: volume.map_or(0, |v| v.size),
                volume_type: volume.and_then(|v| v.volume_type.clone()),
                encrypted: volume.is_some_and(|v| v.encrypted),
                device: volume.and_then(|v| {
                    v.attachments
                        .iter()
                        .find(|a| a.server_id == server.id)
                        .and_then(|a| a.device.clone())
                }),
                boot: false,
                delete_on_termination: attached.delete_on_termination.unwrap_or(false),
                id,
            }
        })
        .collect();
    // A device Nova has not named yet sorts last.
    out.sort_by(|a, b| {
        (a.device.is_none(), &a.device, &a.id).cmp(&(b.device.is_none(), &b.device, &b.id))
    });
    if server.image.is_none()
        && let Some(root) = out
            .iter()
            .position(|v| volumes.get(&v.id).is_some_and(|c| c.bootable))
            .or(if out.is_empty() { None } else { Some(0) })
    {
        let mut root_volume = out.remove(root);
        root_volume.boot = true;
        out.insert(0, root_volume);
    }
    out
}
