//! Every default of a run, in one place: the CLI's flags, the service's job options and the
//! benchmarks take them from here.

use std::time::Duration;

use crate::engine::Timeouts;

/// Steps making cloud calls at once (`--parallelism`).
pub const PARALLELISM: u32 = 10;
/// Image copies at once (`--transfers`).
pub const TRANSFERS: u32 = 4;
/// Source snapshots at once (`--snapshots`): Nova's own default per compute host
/// (`max_concurrent_snapshots`), the most a tenant can count on without seeing the hosts.
pub const SNAPSHOTS: u32 = 5;
/// How long a snapshot may take to become active (`--snapshot-timeout`, seconds).
pub const SNAPSHOT_TIMEOUT_S: u64 = 30 * 60;
/// How long an image copy may take (`--image-timeout`, seconds).
pub const IMAGE_TIMEOUT_S: u64 = 60 * 60;
/// How long a volume, volume snapshot or volume upload may take (`--volume-timeout`, seconds).
pub const VOLUME_TIMEOUT_S: u64 = 2 * 60 * 60;
/// How long a server may take to become ACTIVE (`--server-timeout`, seconds).
pub const SERVER_TIMEOUT_S: u64 = 15 * 60;
/// How long a deletion may take (`--delete-timeout`, seconds).
pub const DELETE_TIMEOUT_S: u64 = 10 * 60;
/// How long a create refused for a quota waits, in all, for the quota to allow it
/// (`--quota-timeout`, seconds).
pub const QUOTA_TIMEOUT_S: u64 = 15 * 60;
/// The folder of spooled images, beside the state.
pub const SPOOL_DIR: &str = ".s2d-spool";

/// The default timeouts.
pub fn timeouts() -> Timeouts {
    Timeouts {
        snapshot: Duration::from_secs(SNAPSHOT_TIMEOUT_S),
        image: Duration::from_secs(IMAGE_TIMEOUT_S),
        server: Duration::from_secs(SERVER_TIMEOUT_S),
        delete: Duration::from_secs(DELETE_TIMEOUT_S),
        volume: Duration::from_secs(VOLUME_TIMEOUT_S),
        quota: Duration::from_secs(QUOTA_TIMEOUT_S),
        settle: crate::engine::SETTLE,
    }
}
