//! The plan file's model ([`crate::plan::Plan`]) read as what the user wants in the target
//! ([`Desired`]): every server with its defaults applied and each choice in engine terms.
//! Knows nothing of TOML or XML (the plan module has read them) nor of clouds.

use super::boot::UserDataRef;
use super::desired::{
    Desired, DesiredFleet, DesiredImage, DesiredServer, FloatingIpChoice, GroupChoice,
    KeypairChoice, KeypairMode, ServerGroupChoice, TransferMode,
};
use super::network::{DesiredNetwork, DesiredNics, DesiredRouter, NicTarget};
use super::volume::{DesiredVolumes, VolumeFormat};
use crate::plan::{self, Plan};

/// A plan that validates but that apply cannot carry out as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum FromPlanError {
    #[error(
        "server `{server}` names no target network: set `network` (or the `networks` map) on the server or in [defaults]"
    )]
    #[diagnostic(code(s2d::plan::no_network))]
    NoNetwork { server: String },
    #[error(
        "server `{server}` names no keypair: set `keypair = {{ import = \"NAME\" }}` (or create, \
         existing) on the server or in [defaults]"
    )]
    #[diagnostic(code(s2d::plan::no_keypair))]
    NoKeypair { server: String },
    #[error("server `{server}`: user_data file {path}: {reason}")]
    #[diagnostic(
        code(s2d::plan::user_data),
        help(
            "the path is relative to the plan's folder; Nova takes at most 65535 bytes of base64 (about 48 KiB of user data)"
        )
    )]
    UserData {
        server: String,
        path: String,
        reason: String,
    },
}

/// Reads a user-data file the plan names (a path as written in the plan) into what the engine
/// keeps of it: its resolved path and digest, or why it cannot be used.
pub type UserDataFiles<'a> = dyn Fn(&str) -> Result<UserDataRef, String> + 'a;

impl Desired {
    /// Every `[[server]]` of `plan`, in plan order; `files` reads the user-data files the
    /// plan names.
    pub fn from_plan(plan: &Plan, files: &UserDataFiles<'_>) -> Result<Desired, FromPlanError> {
        let resolved: Vec<(Option<plan::Selection>, DesiredServer)> = plan
            .resolved_servers()
            .into_iter()
            .map(|s| {
                let nics = DesiredNics {
                    map: s
                        .networks
                        .iter()
                        .map(|(from, to)| {
                            (
                                from.clone(),
                                NicTarget {
                                    network: to.network.clone(),
                                    keep_ip: to.keep_ip,
                                    keep_mac: to.keep_mac,
                                },
                            )
                        })
                        .collect(),
                    shorthand: s.network.clone(),
                    floating_ip_nic: s.floating_ip_nic.clone(),
                };
                if nics.shorthand.is_none() && nics.map.is_empty() {
                    return Err(FromPlanError::NoNetwork {
                        server: s.name.clone(),
                    });
                }
                let keypair = match s.keypair.clone() {
                    Some(plan::KeypairMode::Import(name)) => KeypairChoice {
                        mode: KeypairMode::Import,
                        name,
                    },
                    Some(plan::KeypairMode::Create(name)) => KeypairChoice {
                        mode: KeypairMode::Create,
                        name,
                    },
                    Some(plan::KeypairMode::Existing(name)) => KeypairChoice {
                        mode: KeypairMode::Existing,
                        name,
                    },
                    None => {
                        return Err(FromPlanError::NoKeypair {
                            server: s.name.clone(),
                        });
                    }
                };
                let security_group = match s.security_group.as_deref() {
                    None => GroupChoice::Copy,
                    Some("default") => GroupChoice::Default,
                    Some(named) => GroupChoice::Named(named.to_string()),
                };
                let floating_ip = match &s.floating_ip {
                    None | Some(plan::FloatingIp::Disabled) => FloatingIpChoice::None,
                    Some(plan::FloatingIp::Pool(pool)) => FloatingIpChoice::Pool(pool.clone()),
                    Some(plan::FloatingIp::Address(ip)) => {
                        FloatingIpChoice::Address(ip.to_string())
                    }
                };
                let user_data = match &s.user_data {
                    Some(plan::UserData::File(path)) => {
                        Some(files(path).map_err(|reason| FromPlanError::UserData {
                            server: s.name.clone(),
                            path: path.clone(),
                            reason,
                        })?)
                    }
                    None => None,
                };
                Ok((
                    s.select.clone(),
                    DesiredServer {
                        source: s.source.clone(),
                        name: s.name.clone(),
                        snapshot_name: s.snapshot.clone(),
                        image: DesiredImage {
                            name: s.image_name.clone(),
                            disk_format: s.disk_format.clone(),
                            visibility: s.visibility.clone(),
                            transfer: match s.transfer {
                                plan::TransferMode::Stream => TransferMode::Stream,
                                plan::TransferMode::Spool => TransferMode::Spool,
                            },
                            properties: s.image_properties.clone(),
                            drop_properties: s.drop_properties.clone(),
                        },
                        flavor: s.flavor.clone(),
                        nics,
                        volumes: DesiredVolumes {
                            skip: s.skip_volumes.clone(),
                            types: s.volume_types.clone(),
                            stop: s.stop,
                            keep_intermediates: s.keep_volume_intermediates,
                            format: match s.volume_format {
                                plan::VolumeFormat::Raw => VolumeFormat::Raw,
                                plan::VolumeFormat::Qcow2 => VolumeFormat::Qcow2,
                            },
                        },
                        keypair,
                        security_group,
                        floating_ip,
                        availability_zone: s.availability_zone.clone(),
                        zones: s.zones.clone(),
                        server_group: match &s.server_group {
                            plan::ServerGroupMode::Copy => ServerGroupChoice::Copy,
                            plan::ServerGroupMode::Existing(name) => {
                                ServerGroupChoice::Existing(name.clone())
                            }
                            plan::ServerGroupMode::None => ServerGroupChoice::None,
                        },
                        user_data,
                    },
                ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut desired = Desired {
            networks: plan
                .networks
                .iter()
                .map(|n| DesiredNetwork {
                    from: n.from.clone(),
                    name: n.target_name().to_string(),
                    router: n.router.as_ref().map(|r| DesiredRouter {
                        name: n.router_name().unwrap_or_default(),
                        external: r.external.clone(),
                    }),
                })
                .collect(),
            ..Desired::default()
        };
        for (select, server) in resolved {
            match select {
                Some(selection) => desired.fleets.push(DesiredFleet {
                    selection,
                    template: server,
                }),
                None => desired.servers.push(server),
            }
        }
        Ok(desired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_files(path: &str) -> Result<UserDataRef, String> {
        Err(format!("no files in this test ({path})"))
    }

    fn load(text: &str) -> Plan {
        let loaded = plan::parse_str(text, plan::Syntax::Toml, "test.toml");
        assert!(!loaded.has_errors(), "plan errors");
        loaded.plan.expect("plan")
    }

    #[test]
    fn the_quickstart_reads_as_one_server_with_its_defaults() {
        let plan = load(include_str!("../../plans/quickstart.toml"));
        let desired = Desired::from_plan(&plan, &no_files).expect("desired");
        assert_eq!(desired.servers.len(), 1);
        let s = &desired.servers[0];
        assert_eq!(s.source, "ehr-analytics");
        assert_eq!(s.name, "ehr-analytics");
        assert_eq!(s.snapshot_name, "ehr-analytics-s2d");
        assert_eq!(s.image.name, "ehr-analytics-s2d");
        assert_eq!(s.nics.shorthand.as_deref(), Some("private"));
        assert_eq!(
            s.keypair,
            KeypairChoice {
                mode: KeypairMode::Import,
                name: "alice-key".into()
            }
        );
        assert_eq!(s.security_group, GroupChoice::Default);
        assert_eq!(s.floating_ip, FloatingIpChoice::Pool("public".into()));
    }

    #[test]
    fn volume_options_reach_each_server_and_fleet_template() {
        let plan = load(
            "version = 1\n[source]\ncloud = \"a\"\n[target]\ncloud = \"b\"\n\
             [defaults]\nnetwork = \"private\"\nkeypair = { import = \"k\" }\n\
             skip_volumes = [\"scratch\"]\nvolume_types = { ceph = \"fast\", hdd = \"slow\" }\n\
             stop = true\n\
             [[server]]\nsource = \"db\"\nvolume_types = { ceph = \"nvme\" }\n\
             keep_volume_intermediates = true\nvolume_format = \"qcow2\"\n\
             [[server]]\nsource = \"web\"\nskip_volumes = []\nstop = false\n\
             [[server]]\nselect = { name = \"batch-*\" }\nskip_volumes = [\"tmp\", \"logs\"]\n",
        );
        let desired = Desired::from_plan(&plan, &no_files).expect("desired");
        let db = &desired.servers[0].volumes;
        assert_eq!(
            db,
            &DesiredVolumes {
                skip: vec!["scratch".into()],
                types: [("ceph", "nvme"), ("hdd", "slow")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                stop: true,
                keep_intermediates: true,
                format: VolumeFormat::Qcow2,
            }
        );
        let web = &desired.servers[1].volumes;
        assert!(web.skip.is_empty());
        assert!(!web.stop && !web.keep_intermediates);
        assert_eq!(web.format, VolumeFormat::Raw);
        assert_eq!(web.types.len(), 2);
        let fleet = &desired.fleets[0].template.volumes;
        assert_eq!(fleet.skip, ["tmp", "logs"]);
        assert!(fleet.stop);
    }

    #[test]
    fn a_server_without_a_keypair_is_refused_with_a_hint() {
        let plan = load(
            "version = 1\n[source]\ncloud = \"a\"\n[target]\ncloud = \"b\"\n\
             [[server]]\nsource = \"web\"\nnetwork = \"private\"\n",
        );
        let err = Desired::from_plan(&plan, &no_files).expect_err("no keypair");
        assert_eq!(
            err,
            FromPlanError::NoKeypair {
                server: "web".into()
            }
        );
        assert!(err.to_string().contains("[defaults]"));
    }
}
