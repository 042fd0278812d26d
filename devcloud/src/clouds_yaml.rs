//! Writing the clouds.yaml that `openstack --os-cloud NAME` and s2d read: entries `provider`,
//! `hospital`, `provider-admin`, `hospital-admin`. Knows nothing about the services.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::DevCloud;
use crate::seed::logins;

/// The clouds.yaml document for `dc`.
pub fn document(dc: &DevCloud) -> serde_json::Value {
    let mut clouds = serde_json::Map::new();
    for c in [&dc.provider, &dc.hospital] {
        for login in logins(c.name()) {
            clouds.insert(
                login.entry.to_string(),
                json!({
                    "auth": {
                        "auth_url": c.auth_url(),
                        "username": login.user,
                        "password": login.password,
                        "project_name": login.project,
                        "user_domain_name": "Default",
                        "project_domain_name": "Default",
                    },
                    "region_name": c.cloud().region,
                    "interface": "public",
                    "identity_api_version": 3,
                }),
            );
        }
    }
    json!({ "clouds": clouds })
}

/// Write the clouds.yaml for `dc` to `path` (atomically: temp file + rename; mode 0600).
pub fn write(path: &Path, dc: &DevCloud) -> std::io::Result<()> {
    let text = serde_yaml_ng::to_string(&document(dc)).map_err(std::io::Error::other)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
