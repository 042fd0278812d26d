//! Volume types: devstack's default and those of the `volume_types` knob (ids derived from
//! their names), found by id or name, and their JSON as a user and an admin see it.

use super::*;

/// The extra specs a non-admin sees of a volume type
/// (`cinder/policies/type_extra_specs.py`: `USER_VISIBLE_EXTRA_SPECS`; the rest needs
/// `read_sensitive`, admin only).
pub const USER_VISIBLE_EXTRA_SPECS: &[&str] = &[
    "RESKEY:availability_zones",
    "multiattach",
    "replication_enabled",
];

/// When devcloud's volume types were made (its "install"): what the type object in an
/// `os-volume_upload_image` answer shows as `created_at`.
pub(super) const TYPES_CREATED_AT: &str = "2026-01-01T00:00:00.000000";

/// A volume type.
#[derive(Debug, Clone)]
pub struct VolumeType {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Extra specs.
    pub extra_specs: BTreeMap<String, String>,
}

/// A volume type called `name`, its id derived from the name (so a type of the
/// `volume_types` knob keeps its id when the knob is set again).
pub(super) fn new_type(name: &str, description: Option<&str>) -> VolumeType {
    use md5::Digest;
    let digest: [u8; 16] = md5::Md5::digest(name.as_bytes()).into();
    let mut extra_specs = BTreeMap::new();
    if name != "__DEFAULT__" {
        extra_specs.insert("volume_backend_name".into(), name.into());
    }
    VolumeType {
        id: uuid::Builder::from_md5_bytes(digest)
            .into_uuid()
            .to_string(),
        name: name.into(),
        description: description.map(str::to_string),
        extra_specs,
    }
}

/// Every volume type of `cloud` by id: devstack's and those of the `volume_types` knob.
pub fn types(cloud: &Cloud) -> BTreeMap<String, VolumeType> {
    let mut all = cloud.cinder.lock().types.clone();
    for name in cloud.faults.get().volume_types {
        if !all.values().any(|t| t.name == name) {
            let t = new_type(&name, None);
            all.insert(t.id.clone(), t);
        }
    }
    all
}

/// A volume type by id or name.
pub fn find_type(cloud: &Cloud, key: &str) -> Option<VolumeType> {
    let all = types(cloud);
    all.get(key)
        .or_else(|| all.values().find(|t| t.name == key))
        .cloned()
}

/// A volume type as Cinder's v3 types view shows it (`cinder/api/v3/views/types.py`):
/// `extra_specs` to whom `access_types_extra_specs` allows (project readers), all of them
/// only with `types_extra_specs:read_sensitive` (admin), else only the user-visible ones;
/// `qos_specs_id` only with `access_types_qos_specs_id` (admin; `cinder/policies/volume_type.py`);
/// `os-volume-type-access:is_public` from the volume type access extension
/// (`cinder/api/contrib/volume_type_access.py`, project members).
pub fn type_json(t: &VolumeType, is_admin: bool) -> Value {
    let extra_specs: BTreeMap<&String, &String> = t
        .extra_specs
        .iter()
        .filter(|(k, _)| is_admin || USER_VISIBLE_EXTRA_SPECS.contains(&k.as_str()))
        .collect();
    let mut out = json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "is_public": true,
        "os-volume-type-access:is_public": true,
        "extra_specs": extra_specs,
    });
    if is_admin {
        out["qos_specs_id"] = Value::Null;
    }
    out
}

/// A volume type as the `VolumeType` object serializes (no view, no policy): what
/// `copy_volume_to_image` (`cinder/volume/api.py`) puts in its answer as `volume_type` =
/// `volume['volume_type']`, for any user: every extra spec, `qos_specs_id` and the
/// object's timestamps and `deleted`, no `os-volume-type-access:is_public`.
pub fn type_object_json(t: &VolumeType) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "is_public": true,
        "extra_specs": t.extra_specs,
        "qos_specs_id": null,
        "created_at": TYPES_CREATED_AT,
        "updated_at": null,
        "deleted": false,
        "deleted_at": null,
    })
}
