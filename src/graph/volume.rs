//! A server's volumes: what the plan asks of them ([`DesiredVolumes`]), what the source cloud
//! tells of each ([`SourceVolume`]), and which of them come along, in which order and as what
//! ([`resolve_volumes`]), their five stages in the graph and what `plan` says of them. Knows
//! nothing of Cinder's JSON or of the plan's syntax.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use petgraph::graph::NodeIndex;

use super::address::VolumeStage;
use super::boot::BootReport;
use super::build::{GraphError, Node, ResourceGraph};
use super::desired::{DesiredServer, SourceFacts};

/// How a server's volumes move (plan keys `skip_volumes`, `volume_types`, `stop`,
/// `keep_volume_intermediates`, `volume_format`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredVolumes {
    /// Source volumes left behind, by name or id.
    #[serde(default)]
    pub skip: Vec<String>,
    /// The target volume type for a source volume type; a type it does not name: the
    /// target's default type.
    #[serde(default)]
    pub types: BTreeMap<String, String>,
    /// Shut an ACTIVE source server off while its volumes are snapshotted, and start it again
    /// afterwards (else the copy is crash-consistent).
    #[serde(default)]
    pub stop: bool,
    /// Keep the source's volume snapshots and copies and both clouds' images of each volume
    /// once the target volume is available (else they are removed then).
    #[serde(default)]
    pub keep_intermediates: bool,
    /// The disk format the volume's bytes travel in between the two Glances.
    #[serde(default)]
    pub format: VolumeFormat,
}

/// The disk format of a volume's image on its way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeFormat {
    /// The volume's bytes as they are.
    #[default]
    Raw,
    /// Cinder converts the copy to qcow2 (smaller for a volume mostly empty).
    Qcow2,
}

impl VolumeFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeFormat::Raw => "raw",
            VolumeFormat::Qcow2 => "qcow2",
        }
    }
}

/// A volume attached to a source server, as read from Nova and Cinder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceVolume {
    pub id: String,
    pub name: String,
    pub size_gb: u64,
    /// Its volume type's name.
    #[serde(default)]
    pub volume_type: Option<String>,
    /// Encrypted with a key of the source's key manager (cannot be moved).
    #[serde(default)]
    pub encrypted: bool,
    /// The device it is attached at (`/dev/vdb`).
    #[serde(default)]
    pub device: Option<String>,
    /// The root disk of a server booted from a volume.
    #[serde(default)]
    pub boot: bool,
    /// Whether Nova deletes it with the server.
    #[serde(default)]
    pub delete_on_termination: bool,
}

/// Everything each stage of one volume's way needs (every stage's node carries it whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeNode {
    /// The target server it is attached to, and its position among the source's volumes.
    pub server: String,
    pub index: usize,
    pub source_server_id: String,
    pub source: SourceVolume,
    /// The names of what s2d makes for it (the target volume's is the source volume's).
    pub name: String,
    /// The target volume type (`None`: the target's default).
    pub volume_type: Option<String>,
    pub format: VolumeFormat,
    pub keep_intermediates: bool,
    /// Shut the source server off before its volume is snapshotted, and start it again
    /// before the copies are made (`stop` on a server that was ACTIVE when planned).
    #[serde(default)]
    pub stop_source: bool,
}

impl VolumeNode {
    /// The name of an intermediate of this volume (the target volume keeps the source's).
    pub fn name_at(&self, stage: super::VolumeStage) -> String {
        match stage {
            super::VolumeStage::Target => self.name.clone(),
            other => format!("s2d-{}-{}-{}", self.server, self.index, other.kind()),
        }
    }
}

/// A volume a target server boots with: its target volume, and how Nova attaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerVolume {
    pub volume: super::Address,
    /// `Some(0)` for the root volume of a server booted from a volume.
    pub boot_index: Option<u32>,
    pub delete_on_termination: bool,
}

/// Why a server's volumes cannot be moved as the plan says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum VolumeError {
    #[error(
        "server.{server}: skip_volumes names `{name}`, which is none of its volumes ({volumes})"
    )]
    #[diagnostic(
        code(s2d::plan::unknown_volume),
        help(
            "name a volume attached to the source server, by name or id (`openstack server show` in the source)"
        )
    )]
    UnknownSkip {
        server: String,
        name: String,
        volumes: String,
    },
    #[error("server.{server}: skip_volumes names `{name}`, the volume it boots from")]
    #[diagnostic(
        code(s2d::plan::skip_root_volume),
        help(
            "a server booted from a volume cannot be moved without it: remove it from skip_volumes"
        )
    )]
    SkipRoot { server: String, name: String },
    #[error("server.{server}: volume `{name}` ({id}) is encrypted")]
    #[diagnostic(
        code(s2d::plan::encrypted_volume),
        help(
            "its key lives in the source cloud's key manager, which s2d cannot move: skip it with skip_volumes = [\"{name}\"], or copy its data into an unencrypted volume first"
        )
    )]
    Encrypted {
        server: String,
        name: String,
        id: String,
    },
}

/// A volume that comes along: its position among the source's, the source volume, and its
/// target type (`None`: the target's default).
pub type Moved<'a> = (usize, &'a SourceVolume, Option<String>);

/// The volumes of a source server that come along, each with its position among the
/// source's volumes (which its addresses carry: skipping one does not renumber the others)
/// and its target type.
pub fn resolve_volumes<'a>(
    server: &str,
    desired: &DesiredVolumes,
    source: &'a [SourceVolume],
) -> Result<Vec<Moved<'a>>, VolumeError> {
    for name in &desired.skip {
        let Some(v) = source.iter().find(|v| &v.id == name || &v.name == name) else {
            return Err(VolumeError::UnknownSkip {
                server: server.to_string(),
                name: name.clone(),
                volumes: if source.is_empty() {
                    "it has none".to_string()
                } else {
                    source
                        .iter()
                        .map(|v| {
                            if v.name.is_empty() {
                                v.id.clone()
                            } else {
                                v.name.clone()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            });
        };
        if v.boot {
            return Err(VolumeError::SkipRoot {
                server: server.to_string(),
                name: name.clone(),
            });
        }
    }
    let mut out = Vec::new();
    for (index, v) in source.iter().enumerate() {
        if desired.skip.iter().any(|s| s == &v.id || s == &v.name) {
            continue;
        }
        if v.encrypted {
            return Err(VolumeError::Encrypted {
                server: server.to_string(),
                name: if v.name.is_empty() {
                    v.id.clone()
                } else {
                    v.name.clone()
                },
                id: v.id.clone(),
            });
        }
        let volume_type = v
            .volume_type
            .as_ref()
            .and_then(|t| desired.types.get(t))
            .cloned();
        out.push((index, v, volume_type));
    }
    Ok(out)
}

/// What the plan says of a server's volumes: each that comes along (size, place, type), each
/// left behind, and how consistent the copy is.
pub(super) fn report(
    server: &DesiredServer,
    fact: &SourceFacts,
    volumes: &[(NodeIndex, SourceVolume)],
) -> BootReport {
    let mut report = BootReport::default();
    for (_, v) in volumes {
        let place = if v.boot {
            "root".to_string()
        } else {
            v.device.clone().unwrap_or_else(|| "data".into())
        };
        let target_type = v
            .volume_type
            .as_ref()
            .and_then(|t| server.volumes.types.get(t))
            .map_or("the target's default".to_string(), |t| format!("`{t}`"));
        report.carried.push(format!(
            "volume {} ({} GiB, {place}, type {} -> {target_type})",
            if v.name.is_empty() { &v.id } else { &v.name },
            v.size_gb,
            v.volume_type.as_deref().unwrap_or("none"),
        ));
    }
    for v in &fact.volumes {
        if server
            .volumes
            .skip
            .iter()
            .any(|s| s == &v.id || s == &v.name)
        {
            report.leave(
                format!("volume {}", if v.name.is_empty() { &v.id } else { &v.name }),
                "skip_volumes leaves it behind",
            );
        }
    }
    if !volumes.is_empty() && fact.status == "ACTIVE" {
        if server.volumes.stop {
            report.carried.push(
                "volumes snapshotted with the source shut off (started again right after)".into(),
            );
        } else {
            report.leave(
                "application consistency of the volumes",
                "the source keeps running while its volumes are snapshotted: the copy is crash-consistent (set stop = true to shut it off for the snapshots)",
            );
        }
    }
    report
}

impl ResourceGraph {
    /// The stages of each volume the server takes along, chained in order; returns each
    /// target volume's node with its source volume.
    pub(super) fn add_volumes(
        &mut self,
        server: &DesiredServer,
        fact: &SourceFacts,
    ) -> Result<Vec<(NodeIndex, SourceVolume)>, GraphError> {
        let mut out = Vec::new();
        let (mut snapshots, mut copies) = (Vec::new(), Vec::new());
        for (index, source, volume_type) in
            resolve_volumes(&server.name, &server.volumes, &fact.volumes)?
        {
            let volume = Box::new(VolumeNode {
                server: server.name.clone(),
                index,
                source_server_id: fact.server_id.clone(),
                name: if source.name.is_empty() {
                    format!("{}-volume-{index}", server.name)
                } else {
                    source.name.clone()
                },
                source: source.clone(),
                volume_type,
                format: server.volumes.format,
                keep_intermediates: server.volumes.keep_intermediates,
                stop_source: server.volumes.stop && fact.status == "ACTIVE",
            });
            let mut previous = None;
            for stage in VolumeStage::ALL {
                let node = self.add(Node::Volume {
                    stage,
                    volume: volume.clone(),
                })?;
                if let Some(previous) = previous {
                    self.edge(previous, node);
                }
                match stage {
                    VolumeStage::Snapshot => snapshots.push(node),
                    VolumeStage::Copy => copies.push(node),
                    _ => {}
                }
                previous = Some(node);
            }
            if let Some(target) = previous {
                out.push((target, source.clone()));
            }
        }
        // A source stopped for its snapshots: one snapshot after the other while it is off,
        // and every copy (whose step starts it again) after the last of them.
        if server.volumes.stop && fact.status == "ACTIVE" {
            for pair in snapshots.windows(2) {
                self.edge(pair[0], pair[1]);
            }
            if let Some(last) = snapshots.last() {
                for copy in &copies {
                    self.edge(*last, *copy);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(id: &str, name: &str, boot: bool) -> SourceVolume {
        SourceVolume {
            id: id.into(),
            name: name.into(),
            size_gb: 1,
            volume_type: Some("ceph".into()),
            boot,
            ..SourceVolume::default()
        }
    }

    #[test]
    fn every_volume_comes_unless_skipped_and_keeps_its_position() {
        let source = [
            vol("r", "root", true),
            vol("d1", "data", false),
            vol("d2", "scratch", false),
        ];
        let desired = DesiredVolumes {
            skip: vec!["data".into()],
            types: BTreeMap::from([("ceph".into(), "fast".into())]),
            ..DesiredVolumes::default()
        };
        let got = resolve_volumes("db", &desired, &source).expect("resolves");
        let ids: Vec<(usize, &str, Option<&str>)> = got
            .iter()
            .map(|(i, v, t)| (*i, v.id.as_str(), t.as_deref()))
            .collect();
        assert_eq!(ids, [(0, "r", Some("fast")), (2, "d2", Some("fast"))]);
    }

    #[test]
    fn refusals_name_the_volume() {
        let mut source = vec![vol("r", "root", true), vol("d1", "data", false)];
        let skip = |name: &str| DesiredVolumes {
            skip: vec![name.into()],
            ..DesiredVolumes::default()
        };
        assert!(matches!(
            resolve_volumes("db", &skip("nope"), &source),
            Err(VolumeError::UnknownSkip { volumes, .. }) if volumes == "root, data"
        ));
        assert!(matches!(
            resolve_volumes("db", &skip("r"), &source),
            Err(VolumeError::SkipRoot { .. })
        ));
        source[1].encrypted = true;
        assert!(matches!(
            resolve_volumes("db", &DesiredVolumes::default(), &source),
            Err(VolumeError::Encrypted { name, .. }) if name == "data"
        ));
        assert_eq!(
            resolve_volumes("db", &skip("data"), &source).map(|v| v.len()),
            Ok(1)
        );
    }
}
