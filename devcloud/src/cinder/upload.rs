//! `os-volume_upload_image`: a volume's bytes into a new Glance image, with the volume's image
//! metadata carried over as Cinder carries it (core properties and reserved namespaces left
//! out), through the volume's `uploading` state.

use super::*;

/// The glance core properties Cinder keeps out of an uploaded image's properties
/// (`[DEFAULT] glance_core_properties`).
pub(super) const GLANCE_CORE_PROPERTIES: &[&str] = &[
    "checksum",
    "container_format",
    "disk_format",
    "image_name",
    "image_id",
    "min_disk",
    "min_ram",
    "name",
    "size",
];

/// The namespaces Cinder never carries from a volume's image metadata into an image it uploads
/// (`cinder/image/image_utils.py`: `GLANCE_RESERVED_NAMESPACES`, applied by
/// `filter_out_reserved_namespaces_metadata` in `copy_volume_to_image`; prefixes).
pub(super) const GLANCE_RESERVED_NAMESPACES: &[&str] =
    &["os_glance", "img_signature", "signature_verified"];

/// `volume_utils.get_volume_image_metadata`: the image's id and name, its core attributes and
/// its properties, every value a string as Cinder stores them.
pub(super) fn volume_image_metadata(
    summary: &crate::glance::ImageSummary,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in &summary.properties {
        let v = match v {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        out.insert(k.clone(), v);
    }
    out.insert("image_id".into(), summary.id.clone());
    if !summary.name.is_empty() {
        out.insert("image_name".into(), summary.name.clone());
    }
    if let Some(c) = &summary.checksum {
        out.insert("checksum".into(), c.clone());
    }
    if let Some(f) = &summary.container_format {
        out.insert("container_format".into(), f.clone());
    }
    if let Some(f) = &summary.disk_format {
        out.insert("disk_format".into(), f.clone());
    }
    out.insert("min_disk".into(), summary.min_disk.to_string());
    out.insert("min_ram".into(), summary.min_ram.to_string());
    if let Some(s) = summary.size {
        out.insert("size".into(), s.to_string());
    }
    out
}

/// What `os-volume_upload_image` asks for.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The image's name.
    pub image_name: String,
    /// `raw` (default) or another Glance disk format.
    pub disk_format: String,
    /// `bare` (default).
    pub container_format: String,
    /// `private` (default; 3.1+).
    pub visibility: String,
    /// Protected (3.1+).
    pub protected: bool,
}

/// `copy_volume_to_image`: the volume goes `uploading`, Glance gets a queued image with the
/// volume's image metadata as properties (but Glance's core ones), which goes `saving` after
/// `volume_upload_s`, then `active` with the volume's bytes after as long again, and the
/// volume returns to its previous status. With the `volume_upload_error` knob, or when the
/// image would be larger than Glance's `image_size_cap` knob, the upload fails as Cinder handles
/// it: the image is deleted and the volume returns to its previous status. Returns the
/// `os-volume_upload_image` answer.
pub fn upload_to_image(
    cloud: &SharedCloud,
    project_id: &str,
    volume_id: &str,
    up: Upload,
) -> Result<Value, ApiError> {
    let (volume, previous) = {
        let mut st = cloud.cinder.lock();
        let v = st.volume_mut(volume_id, Some(project_id))?;
        // `enable_force_upload` is off by default: `force` is ignored, as Cinder ignores it.
        if v.status != "available" {
            return Err(bad(format!(
                "Invalid volume: Volume {volume_id} status must be available"
            )));
        }
        let previous = std::mem::replace(&mut v.status, "uploading".into());
        v.updated_at = cloud.clock.now();
        (v.clone(), previous)
    };
    // What `qemu-img convert` makes of the volume for the image.
    let content = match up.disk_format.as_str() {
        "raw" => volume.content.clone(),
        "qcow2" => Content::qcow2_of(volume.content.clone()),
        other => {
            set_status(cloud, volume_id, &previous);
            return Err(bad(format!(
                "Invalid input received: devcloud uploads volumes as raw or qcow2 images, not {other}"
            )));
        }
    };
    let mut properties = Map::new();
    for (k, v) in &volume.image_metadata {
        if !GLANCE_CORE_PROPERTIES.contains(&k.as_str())
            && !GLANCE_RESERVED_NAMESPACES
                .iter()
                .any(|ns| k.starts_with(ns))
        {
            properties.insert(k.clone(), json!(v));
        }
    }
    let min_disk = volume
        .image_metadata
        .get("min_disk")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let min_ram = volume
        .image_metadata
        .get("min_ram")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let image_id = cloud.glance.create_snapshot_image(
        project_id,
        &up.image_name,
        &up.disk_format,
        &up.container_format,
        properties,
        min_disk,
        min_ram,
    );
    cloud
        .glance
        .set_visibility(&image_id, &up.visibility, up.protected);
    let settings = cloud.faults.get();
    let delay = seconds(settings.volume_upload_s);
    // Glance refuses the bytes of an image past its `image_size_cap` (413), and Cinder fails
    // the upload as for any other error.
    let too_large = settings
        .image_size_cap
        .is_some_and(|cap| content.size() > cap);
    let fail = settings.volume_upload_error || too_large;
    let (cloud2, vid, iid) = (Arc::clone(cloud), volume_id.to_string(), image_id.clone());
    let back = previous.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        if fail {
            cloud2.glance.discard_image(&iid);
            set_status(&cloud2, &vid, &back);
            return;
        }
        cloud2.glance.set_saving(&iid);
        tokio::time::sleep(delay).await;
        cloud2.glance.activate_then_hash(&iid, content);
        if cloud2
            .cinder
            .volume(&vid, None)
            .is_some_and(|v| v.status == "uploading")
        {
            set_status(&cloud2, &vid, &back);
        }
    });
    let vtype = find_type(cloud, &volume.volume_type_id);
    Ok(json!({
        "id": volume.id,
        "updated_at": crate::clock::iso_micros_naive(volume.updated_at),
        "status": "uploading",
        "display_description": volume.description,
        "size": volume.size,
        "volume_type": vtype.as_ref().map(type_object_json),
        "image_id": image_id,
        "container_format": up.container_format,
        "disk_format": up.disk_format,
        "image_name": up.image_name,
        "protected": up.protected,
        "visibility": up.visibility,
    }))
}
