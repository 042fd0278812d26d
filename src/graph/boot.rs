//! Boot fidelity: what a migrated server takes along so that it starts as the source did. The
//! rules for image properties (which describe how the guest boots and runs, and are carried;
//! which belong to the source cloud, and are never carried), and the per-server report of what
//! is carried and what is left behind, with why. Knows nothing of clouds: the facts are read
//! by the engine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan;

use super::desired::{DesiredServer, ServerGroupChoice, SourceFacts};

/// Property prefixes that describe how the guest boots and runs.
const BOOT_PREFIXES: &[&str] = &["hw_", "os_", "trait:", "img_"];

/// Single properties that describe how the guest boots and runs.
const BOOT_KEYS: &[&str] = &[
    "architecture",
    "hypervisor_type",
    "vm_mode",
    "auto_disk_config",
];

/// Why a property that is not the source's own is not carried either.
pub const NOT_BOOT: &str =
    "not a boot property (name it in the plan's image.properties to carry it)";

/// Why a property of the source image's own is never carried.
pub const SOURCE_ONLY: &str =
    "it belongs to the source cloud (its instance, owner, volumes, keys or signatures)";
/// Why a Glance attribute, or one of s2d's markers, is not carried as a property.
pub const NOT_A_PROPERTY: &str = "a Glance attribute or s2d's marker, not a property";

/// Whether a property of the source image is carried to the target, and if not, why (the
/// lists are the plan's: [`plan::SOURCE_ONLY_PROPERTIES`], [`plan::GLANCE_ATTRIBUTES`]).
pub fn carried(key: &str) -> Result<(), &'static str> {
    if plan::is_source_only_property(key) {
        return Err(SOURCE_ONLY);
    }
    if plan::is_glance_attribute(key) || key.starts_with(plan::MARKER_PREFIX) {
        return Err(NOT_A_PROPERTY);
    }
    if BOOT_PREFIXES.iter().any(|p| key.starts_with(p)) || BOOT_KEYS.contains(&key) {
        Ok(())
    } else {
        Err(NOT_BOOT)
    }
}

/// The properties a target image gets: the carried ones of `from` (the source image's, or
/// the snapshot's), then the plan's `overrides`, without the plan's `drops`.
pub fn image_properties(
    from: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
    drops: &[String],
) -> BTreeMap<String, String> {
    from.iter()
        .filter(|(k, _)| carried(k).is_ok())
        .chain(overrides)
        .filter(|(k, _)| !drops.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Flavor extra specs that change what the guest sees (CPU pinning, huge pages, NUMA, PCI
/// devices, vGPUs): a target flavor that differs in them runs the guest differently.
const GUEST_SPECS: &[&str] = &[
    "hw:cpu_policy",
    "hw:cpu_thread_policy",
    "hw:mem_page_size",
    "hw:numa_nodes",
    "hw:cpu_sockets",
    "hw:cpu_cores",
    "hw:cpu_threads",
    "pci_passthrough:alias",
    "resources:VGPU",
    "resources:PGPU",
];

/// How the target flavor differs from the source's in what the guest sees: extra specs of
/// [`GUEST_SPECS`] (when both clouds show them), and ephemeral and swap disks.
pub fn flavor_differences(
    source: &crate::graph::FlavorSpec,
    target: &crate::graph::FlavorSpec,
) -> Vec<Left> {
    let mut out = Vec::new();
    if let (Some(a), Some(b)) = (&source.extra_specs, &target.extra_specs) {
        for key in GUEST_SPECS {
            let (x, y) = (a.get(*key), b.get(*key));
            if x != y {
                out.push(Left {
                    what: format!(
                        "flavor extra spec {key}={}",
                        x.map_or("(none)", String::as_str)
                    ),
                    why: format!(
                        "the target flavor {} has {}",
                        target.name,
                        y.map_or("none".to_string(), |v| format!("{key}={v}"))
                    ),
                });
            }
        }
    }
    if source.ephemeral_gb != target.ephemeral_gb {
        out.push(Left {
            what: format!("an ephemeral disk of {} GB", source.ephemeral_gb),
            why: format!(
                "the target flavor {} has {} GB (its contents are never copied)",
                target.name, target.ephemeral_gb
            ),
        });
    }
    if source.swap_mb != target.swap_mb {
        out.push(Left {
            what: format!("a swap disk of {} MB", source.swap_mb),
            why: format!(
                "the target flavor {} has {} MB",
                target.name, target.swap_mb
            ),
        });
    }
    out
}

/// What a target server gets from its source server besides its image, flavor, network,
/// keypair and security group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boot {
    /// The source's metadata without s2d's markers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub config_drive: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The target zone (the plan's, or the source's mapped by the plan's zone map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<UserDataRef>,
}

/// Where the user data comes from at apply, with the SHA-256 of what was planned (of the
/// base64 text Nova takes): the content itself is never kept in a plan or the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "lowercase")]
pub enum UserDataRef {
    /// A file the plan names (its path made absolute when the plan was read).
    File { path: String, sha256: String },
    /// The source server's own, read again from the source cloud.
    Source { server_id: String, sha256: String },
}

impl UserDataRef {
    pub fn sha256(&self) -> &str {
        match self {
            UserDataRef::File { sha256, .. } | UserDataRef::Source { sha256, .. } => sha256,
        }
    }
}

/// What one server takes along and what it leaves, for `s2d plan` and the overview.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootReport {
    /// The target server's name.
    pub server: String,
    /// What is carried, in words (`image properties hw_disk_bus, os_type`, `2 tags`, ...).
    pub carried: Vec<String>,
    /// What is left behind, each with why.
    pub left: Vec<Left>,
}

/// Something of the source server that the target will not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Left {
    pub what: String,
    pub why: String,
}

impl BootReport {
    pub fn leave(&mut self, what: impl Into<String>, why: impl Into<String>) {
        self.left.push(Left {
            what: what.into(),
            why: why.into(),
        });
    }
}

/// What the target server gets from its source server, and the report of what it takes
/// along and what it leaves.
pub(super) fn carried_by(server: &DesiredServer, fact: &SourceFacts) -> (Boot, BootReport) {
    let source = &fact.boot;
    let mut report = BootReport {
        server: server.name.clone(),
        ..BootReport::default()
    };
    let availability_zone = server.availability_zone.clone().or_else(|| {
        source
            .availability_zone
            .as_ref()
            .and_then(|zone| server.zones.get(zone).cloned())
    });
    if let (None, Some(zone)) = (&availability_zone, &source.availability_zone) {
        report.leave(
            format!("availability zone {zone}"),
            "the plan maps no target zone to it (zones = { SRC = DST }): the target chooses",
        );
    }
    let user_data = match (&server.user_data, &source.user_data_sha256) {
        (Some(planned), _) => Some(planned.clone()),
        (None, Some(sha256)) => Some(UserDataRef::Source {
            server_id: fact.server_id.clone(),
            sha256: sha256.clone(),
        }),
        (None, None) => {
            if !source.user_data_readable {
                report.leave(
                    "user data",
                    "the source cloud does not show it to this user (Nova shows it to admins); give it in the plan: user_data = { file = \"...\" }",
                );
            }
            None
        }
    };
    let image_props = fact.image_properties.as_ref();
    let volume_backed = fact.volumes.iter().any(|v| v.boot);
    match image_props {
        // Cinder carries the root volume's image metadata into its uploaded image.
        None if volume_backed => report
            .carried
            .push("boot properties of the root volume's image metadata".into()),
        None => report.leave(
            "the source image's properties",
            "the image the source server was booted from is gone or not visible: the snapshot's are read at apply",
        ),
        Some(props) => {
            // Properties that are neither the source's own (never carried, by design) nor
            // boot properties, unless the plan carries them anyway.
            let dropped: Vec<String> = props
                .keys()
                .filter(|k| !server.image.properties.contains_key(*k))
                .filter(|k| carried(k) == Err(NOT_BOOT))
                .cloned()
                .collect();
            if !dropped.is_empty() {
                report.leave(
                    format!("image properties {}", dropped.join(", ")),
                    "not boot properties (name them in image.properties to carry them)",
                );
            }
        }
    }
    if !server.image.drop_properties.is_empty() {
        report.leave(
            format!(
                "image properties {}",
                server.image.drop_properties.join(", ")
            ),
            "the plan drops them",
        );
    }
    let carried = Boot {
        metadata: source.metadata.clone(),
        tags: source.tags.clone(),
        description: source.description.clone(),
        config_drive: source.config_drive,
        hostname: source.hostname.clone(),
        availability_zone,
        user_data,
    };
    let mut words = Vec::new();
    if !carried.metadata.is_empty() {
        words.push(format!("metadata {}", keys(carried.metadata.keys())));
    }
    if !carried.tags.is_empty() {
        words.push(format!("tags {}", carried.tags.join(", ")));
    }
    if carried.description.is_some() {
        words.push("description".to_string());
    }
    if carried.config_drive {
        words.push("config drive".to_string());
    }
    if let Some(h) = &carried.hostname {
        words.push(format!("hostname {h}"));
    }
    if let Some(z) = &carried.availability_zone {
        words.push(format!("availability zone {z}"));
    }
    if let Some(u) = &carried.user_data {
        words.push(match u {
            UserDataRef::File { path, .. } => format!("user data from {path}"),
            UserDataRef::Source { .. } => "the source's user data".to_string(),
        });
    }
    match (&server.server_group, &fact.server_group) {
        (ServerGroupChoice::Copy, Some(g)) => {
            words.push(format!("server group {} ({})", g.name, g.policy))
        }
        (ServerGroupChoice::Existing(name), _) => {
            words.push(format!("server group {name} (existing)"))
        }
        (ServerGroupChoice::None, Some(g)) => report.leave(
            format!("server group {} ({})", g.name, g.policy),
            "the plan says server_group = \"none\"",
        ),
        _ => {}
    }
    if let Some(merged) = server.security_group.merged() {
        for rule in &fact.rules {
            if let Some(other) = rule
                .remote_group
                .as_ref()
                .filter(|g| !fact.groups.contains_key(*g))
            {
                report.leave(
                    format!("security group rule \"{rule}\""),
                    format!("it admits group {other}, which security_group = \"{merged}\" does not bring along (without security_group every group comes along)"),
                );
            }
        }
    }
    report.carried = words;
    (carried, report)
}

fn keys<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    keys.map(String::as_str).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn boot_properties_are_carried_and_the_sources_are_not() {
        for key in [
            "hw_firmware_type",
            "hw_machine_type",
            "hw_disk_bus",
            "hw_scsi_model",
            "os_distro",
            "os_type",
            "os_secure_boot",
            "os_require_quiesce",
            "trait:HW_CPU_X86_AVX2",
            "architecture",
            "hypervisor_type",
            "vm_mode",
            "img_config_drive",
        ] {
            assert_eq!(carried(key), Ok(()), "{key}");
        }
        for key in [
            "instance_uuid",
            "base_image_ref",
            "image_location",
            "image_state",
            "image_type",
            "owner_id",
            "owner_project_name",
            "user_id",
            "boot_roles",
            "block_device_mapping",
            "bdm_v2",
            "root_device_name",
            "stores",
            "os_glance_importing_to_stores",
            "os_hash_algo",
            "os_hash_value",
            "cinder_encryption_key_id",
            "img_signature",
            "img_signature_hash_method",
            "kernel_id",
            "ramdisk_id",
            "s2d_lineage",
            "self",
            "file",
            "department",
        ] {
            assert!(carried(key).is_err(), "{key}");
        }
    }

    #[test]
    fn a_target_flavor_that_runs_the_guest_differently_is_reported() {
        let source = crate::graph::FlavorSpec {
            name: "pinned".into(),
            vcpus: 4,
            ram_mb: 8192,
            disk_gb: 40,
            ephemeral_gb: 10,
            swap_mb: 0,
            extra_specs: Some(map(&[
                ("hw:cpu_policy", "dedicated"),
                ("hw:mem_page_size", "large"),
                ("quota:disk_read_iops_sec", "100"),
            ])),
        };
        let same = source.clone();
        assert!(flavor_differences(&source, &same).is_empty());
        let target = crate::graph::FlavorSpec {
            name: "shared".into(),
            ephemeral_gb: 0,
            extra_specs: Some(map(&[("hw:cpu_policy", "shared")])),
            ..source.clone()
        };
        let whats: Vec<String> = flavor_differences(&source, &target)
            .into_iter()
            .map(|l| l.what)
            .collect();
        assert_eq!(
            whats,
            [
                "flavor extra spec hw:cpu_policy=dedicated",
                "flavor extra spec hw:mem_page_size=large",
                "an ephemeral disk of 10 GB",
            ]
        );
        // Extra specs a cloud does not show are not guessed at.
        let unknown = crate::graph::FlavorSpec {
            extra_specs: None,
            ephemeral_gb: 10,
            ..target
        };
        assert!(flavor_differences(&source, &unknown).is_empty());
    }

    #[test]
    fn the_plan_overrides_and_drops() {
        let from = map(&[
            ("hw_firmware_type", "uefi"),
            ("os_type", "linux"),
            ("instance_uuid", "abc"),
        ]);
        let got = image_properties(
            &from,
            &map(&[("hw_firmware_type", "bios"), ("department", "lab")]),
            &["os_type".to_string()],
        );
        assert_eq!(
            got,
            map(&[("department", "lab"), ("hw_firmware_type", "bios")])
        );
    }
}
