//! Cinder's request and response types: volumes (with their attachments and image metadata),
//! volume snapshots, volume types and the volume limits. Plain serde types; knows nothing of
//! HTTP.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::cloud::types::{ImageId, ServerId, VolumeId, VolumeSnapshotId};

/// A volume as `GET /volumes/{id}` (and `/volumes/detail`) shows it (the fields s2d reads).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Volume {
    pub id: VolumeId,
    /// `null` (a volume Nova made) reads as the empty name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// `creating`, `downloading`, `available`, `reserved`, `attaching`, `in-use`,
    /// `uploading`, `detaching`, `extending`, `deleting`, `error`, `error_deleting`, ...
    #[serde(default)]
    pub status: String,
    /// GiB.
    #[serde(default)]
    pub size: u64,
    /// The type's name.
    #[serde(default)]
    pub volume_type: Option<String>,
    #[serde(default, deserialize_with = "loose_bool")]
    pub encrypted: bool,
    /// Cinder sends `"true"`/`"false"` (strings).
    #[serde(default, deserialize_with = "loose_bool")]
    pub bootable: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub attachments: Vec<VolumeAttachment>,
    #[serde(default, deserialize_with = "text_map")]
    pub metadata: BTreeMap<String, String>,
    /// The image the volume was made from (`image_id`, `image_name`, `disk_format`, ...,
    /// and the image's properties), every value as text; absent when none.
    #[serde(default, deserialize_with = "text_map")]
    pub volume_image_metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub snapshot_id: Option<VolumeSnapshotId>,
    #[serde(default)]
    pub source_volid: Option<VolumeId>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub availability_zone: Option<String>,
}

impl Volume {
    /// The size in bytes (Cinder counts in GiB).
    pub fn bytes(&self) -> u64 {
        self.size.saturating_mul(1 << 30)
    }
}

/// One server's hold on a volume (`attachments[]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct VolumeAttachment {
    pub server_id: ServerId,
    /// `/dev/vda`; absent or `null` while Nova has not said yet.
    #[serde(default)]
    pub device: Option<String>,
    /// The attachment's id (Cinder's attachments API, shown since Ocata).
    #[serde(default, deserialize_with = "null_default")]
    pub attachment_id: String,
}

/// A volume snapshot as `GET /snapshots/{id}` shows it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct VolumeSnapshot {
    pub id: VolumeSnapshotId,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// `creating`, `available`, `deleting`, `error`, `error_deleting`, ...
    #[serde(default)]
    pub status: String,
    /// GiB (the volume's size).
    #[serde(default)]
    pub size: u64,
    pub volume_id: VolumeId,
    #[serde(default, deserialize_with = "text_map")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A volume type (`GET /types`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct VolumeType {
    pub id: String,
    pub name: String,
}

/// The project's volume limits from `GET /limits` (`absolute`): `(limit, used)`, `None` when
/// unlimited (-1) or not shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VolumeLimits {
    /// GiB of volumes and snapshots (`maxTotalVolumeGigabytes`, `totalGigabytesUsed`).
    pub gigabytes: Option<(u64, u64)>,
    /// Volumes (`maxTotalVolumes`, `totalVolumesUsed`).
    pub volumes: Option<(u64, u64)>,
    /// Snapshots (`maxTotalSnapshots`, `totalSnapshotsUsed`).
    pub snapshots: Option<(u64, u64)>,
}

impl VolumeLimits {
    /// Read `limits.absolute`: a negative or missing limit is no limit; a missing use is 0.
    pub fn from_absolute(absolute: &BTreeMap<String, Value>) -> VolumeLimits {
        let pair = |max: &str, used: &str| {
            let limit = absolute.get(max).and_then(Value::as_i64)?;
            let limit = u64::try_from(limit).ok()?;
            let used = absolute
                .get(used)
                .and_then(Value::as_i64)
                .and_then(|u| u64::try_from(u).ok())
                .unwrap_or(0);
            Some((limit, used))
        };
        VolumeLimits {
            gigabytes: pair("maxTotalVolumeGigabytes", "totalGigabytesUsed"),
            volumes: pair("maxTotalVolumes", "totalVolumesUsed"),
            snapshots: pair("maxTotalSnapshots", "totalSnapshotsUsed"),
        }
    }
}

/// What `POST /volumes` needs: a blank volume, or one from an image (`imageRef`) or a
/// snapshot (`snapshot_id`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VolumeCreate {
    pub name: String,
    /// GiB; Cinder needs it except from a snapshot (then the snapshot's size).
    pub size: Option<u64>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// A type's name or id; `None`: the cloud's default type.
    pub volume_type: Option<String>,
    pub snapshot_id: Option<VolumeSnapshotId>,
    /// Sent as `imageRef`.
    pub image_id: Option<ImageId>,
    pub availability_zone: Option<String>,
}

/// What `POST /snapshots` needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SnapshotCreate {
    pub volume_id: VolumeId,
    pub name: String,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// `os-volume_upload_image`'s arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadToImage {
    pub image_name: String,
    /// `raw`, `qcow2`, ...
    pub disk_format: String,
    /// `bare`.
    pub container_format: String,
    /// Upload an in-use volume (refused unless the cloud sets `enable_force_upload`).
    pub force: bool,
}

impl UploadToImage {
    /// A raw, bare image of this name, not forced.
    pub fn raw(image_name: impl Into<String>) -> UploadToImage {
        UploadToImage {
            image_name: image_name.into(),
            disk_format: "raw".into(),
            container_format: "bare".into(),
            force: false,
        }
    }
}

impl Default for VolumeId {
    fn default() -> VolumeId {
        VolumeId::new("")
    }
}

/// `null` reads as the empty value.
fn null_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A boolean sent as `true`, `"true"`, `"True"` or `"1"`; anything else is false.
fn loose_bool<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::String(s) => matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "t" | "on" | "y"
        ),
        Value::Number(n) => n.as_i64().is_some_and(|n| n != 0),
        _ => false,
    })
}

/// A map whose values are text: strings as they are, numbers and booleans in their JSON
/// spelling, `null` left out (image metadata carries `min_disk` as `"0"` or `0` by release).
fn text_map<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    let Some(map) = Option::<BTreeMap<String, Value>>::deserialize(d)? else {
        return Ok(BTreeMap::new());
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Null => None,
            Value::String(s) => Some((k, s)),
            other => Some((k, other.to_string())),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `volume-show-response.json` of the block-storage api-ref (v3, 3.65), trimmed of
    /// nothing that s2d reads.
    #[test]
    fn a_volume_as_the_api_ref_shows_it() {
        let v: Volume = serde_json::from_value(json!({
            "attachments": [{
                "id": "ad7d2dc4-6e3b-4bb4-8bbe-8fa3da3d3b3e",
                "attachment_id": "3b8b6631-1cf7-4fd7-9afb-c01e541a073c",
                "volume_id": "ad7d2dc4-6e3b-4bb4-8bbe-8fa3da3d3b3e",
                "server_id": "f4fda93b-06e0-4743-8117-bc8bcecd651b",
                "host_name": null,
                "device": "/dev/vdb",
                "attached_at": "2016-02-01T21:30:15.000000"
            }],
            "availability_zone": "nova",
            "bootable": "false",
            "consistencygroup_id": null,
            "created_at": "2018-11-29T06:50:07.770785",
            "description": null,
            "encrypted": false,
            "id": "f7223234-1afc-4d19-bfa3-d19deb6235ef",
            "links": [],
            "metadata": {"readonly": "False"},
            "migration_status": null,
            "multiattach": false,
            "name": null,
            "os-vol-tenant-attr:tenant_id": "89afd400-b646-4bbc-b12b-c0a4d63e5bd3",
            "replication_status": null,
            "size": 10,
            "snapshot_id": null,
            "source_volid": null,
            "status": "in-use",
            "updated_at": "2018-11-29T06:50:09.905436",
            "user_id": "c853ca26-e8ea-4797-8a52-ee124a013d0e",
            "volume_image_metadata": {
                "checksum": "9a3cd1e1ae4b4b3b4a8a6f6e0e6a7b8c",
                "min_ram": "0",
                "min_disk": 0,
                "image_id": "c6e5a8f0-1a4b-4e37-9f21-4b8a3f2c1d0e",
                "hw_disk_bus": "scsi",
                "signature_verified": "False"
            },
            "volume_type": "lvmdriver-1",
            "group_id": null,
            "provider_id": null,
            "service_uuid": null,
            "shared_targets": true,
            "volume_type_id": "5fed9d7c-401d-46e2-8e80-f30c70cb7e1d",
            "consumes_quota": true
        }))
        .unwrap();
        assert_eq!(v.name, "");
        assert_eq!(v.status, "in-use");
        assert_eq!(v.size, 10);
        assert_eq!(v.bytes(), 10 << 30);
        assert!(!v.bootable);
        assert!(!v.encrypted);
        assert_eq!(v.volume_type.as_deref(), Some("lvmdriver-1"));
        assert_eq!(
            v.attachments,
            [VolumeAttachment {
                server_id: ServerId::from("f4fda93b-06e0-4743-8117-bc8bcecd651b"),
                device: Some("/dev/vdb".into()),
                attachment_id: "3b8b6631-1cf7-4fd7-9afb-c01e541a073c".into(),
            }]
        );
        assert_eq!(v.metadata["readonly"], "False");
        assert_eq!(v.volume_image_metadata["min_disk"], "0");
        assert_eq!(v.volume_image_metadata["hw_disk_bus"], "scsi");
        assert_eq!(v.snapshot_id, None);
        assert_eq!(v.availability_zone.as_deref(), Some("nova"));
    }

    #[test]
    fn bootable_strings_and_missing_fields() {
        let v: Volume = serde_json::from_value(json!({
            "id": "v", "status": "available", "size": 1, "bootable": "true",
            "attachments": null, "metadata": null, "snapshot_id": "s",
            "attachments_extra": 1
        }))
        .unwrap();
        assert!(v.bootable);
        assert!(v.attachments.is_empty());
        assert!(v.volume_image_metadata.is_empty());
        assert_eq!(v.snapshot_id, Some(VolumeSnapshotId::from("s")));
        let v: Volume =
            serde_json::from_value(json!({"id": "v", "bootable": true, "encrypted": "True"}))
                .unwrap();
        assert!(v.bootable && v.encrypted);
    }

    /// `snapshot-show-response.json` of the api-ref.
    #[test]
    fn a_snapshot_as_the_api_ref_shows_it() {
        let s: VolumeSnapshot = serde_json::from_value(json!({
            "snapshot": null,
            "created_at": "2019-03-11T16:24:34.469003",
            "description": "Daily backup",
            "id": "b1323cda-8e4b-41c1-afc5-2fc791809c8c",
            "metadata": {"key": "v3"},
            "name": "snap-001",
            "os-extended-snapshot-attributes:progress": "100%",
            "os-extended-snapshot-attributes:project_id": "0c2eba2c5af04d3f9e9d0d410b371fde",
            "size": 10,
            "status": "available",
            "updated_at": "2019-03-11T16:24:36.464445",
            "volume_id": "ebd80b99-bc3d-4154-9d28-5583baa80580",
            "group_snapshot_id": null,
            "user_id": "0c2eba2c5af04d3f9e9d0d410b371fde",
            "consumes_quota": true
        }))
        .unwrap();
        assert_eq!(s.name, "snap-001");
        assert_eq!(s.size, 10);
        assert_eq!(
            s.volume_id,
            VolumeId::from("ebd80b99-bc3d-4154-9d28-5583baa80580")
        );
        assert_eq!(s.metadata["key"], "v3");
        assert_eq!(s.description.as_deref(), Some("Daily backup"));
    }

    /// `limits-show-response.json` of the api-ref, and -1 as no limit.
    #[test]
    fn limits_read_minus_one_as_unlimited() {
        let absolute: BTreeMap<String, Value> = serde_json::from_value(json!({
            "totalSnapshotsUsed": 0,
            "maxTotalBackups": 10,
            "maxTotalVolumeGigabytes": 1000,
            "maxTotalSnapshots": -1,
            "maxTotalBackupGigabytes": 1000,
            "totalBackupGigabytesUsed": 0,
            "maxTotalVolumes": 10,
            "totalVolumesUsed": 2,
            "totalBackupsUsed": 0,
            "totalGigabytesUsed": 20
        }))
        .unwrap();
        assert_eq!(
            VolumeLimits::from_absolute(&absolute),
            VolumeLimits {
                gigabytes: Some((1000, 20)),
                volumes: Some((10, 2)),
                snapshots: None,
            }
        );
        assert_eq!(
            VolumeLimits::from_absolute(&BTreeMap::new()),
            VolumeLimits::default()
        );
    }
}
