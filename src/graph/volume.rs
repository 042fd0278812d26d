//! A server's volumes: what the plan asks of them ([`DesiredVolumes`]), what the source cloud
//! tells of each ([`SourceVolume`]), and which of them come along, in which order and as what
//! ([`resolve_volumes`]). Knows nothing of Cinder's JSON or of the plan's syntax.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
