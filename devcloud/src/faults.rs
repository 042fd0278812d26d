//! Fault knobs (latency, 500/503, 429, resets, token TTL, build/snapshot timing), the request
//! log, and the `/devcloud/...` admin endpoints (faults, state dump, request log, clock).
//! The services read the knobs; this module knows nothing about their state except through
//! the `dump` functions it calls for `/devcloud/state`.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The fault settings of one cloud. JSON of this is what `GET/PUT /devcloud/faults` speak
/// (`PATCH` merges the given fields). Defaults: no faults, builds take 0.2 s, snapshots 0.2 s.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Added latency per request, in milliseconds.
    pub latency_ms: u64,
    /// Probability (0..=1) that a request is answered 500 or 503 (in the service's error format).
    pub fail_rate: f64,
    /// Probability (0..=1) that a request is served (its effects happen) but answered 503,
    /// as by a proxy that gave up waiting for the backend: a client that blindly repeats such
    /// a create makes a duplicate.
    pub fail_after_rate: f64,
    /// Probability (0..=1) that a request is answered 429 with `Retry-After`.
    pub rate_limit_rate: f64,
    /// The `Retry-After` value of those 429 answers, in seconds.
    pub retry_after_s: u64,
    /// Reset the connection after this many bytes of an image download (Glance).
    pub reset_download_after_bytes: Option<u64>,
    /// Reset the connection after this many bytes of an image upload (Glance).
    pub reset_upload_after_bytes: Option<u64>,
    /// How many transfers get reset (0 = every one while a reset setting is set).
    pub reset_count: u32,
    /// Flip the byte at this offset in image downloads (Glance).
    pub corrupt_download_byte: Option<u64>,
    /// Token lifetime in seconds (default 3600).
    pub token_ttl_s: Option<u64>,
    /// Seconds a new server stays in BUILD.
    pub server_build_s: f64,
    /// New servers go to ERROR (with a `fault`) instead of ACTIVE.
    pub server_error: bool,
    /// Seconds a snapshot (createImage) takes at least.
    pub snapshot_s: f64,
    /// Seconds Nova's `POST /servers` and `createImage` take before the server or snapshot
    /// exists and the answer goes back (a real Nova asks Glance, Neutron, Placement and
    /// Keystone first). The work goes on when the client is gone, as Nova's does.
    pub create_accept_s: f64,
    /// The highest compute microversion offered (`"2.44"`); `None` = 2.96. Version documents
    /// show it and higher requests get 406, as an older Nova.
    pub compute_max_microversion: Option<String>,
    /// The largest page of `os-simple-tenant-usage` (2.40+), and its size when the request
    /// names no `limit`: nova's `[api] max_limit` (default 1000).
    pub usage_max_limit: usize,
    /// The largest page of a list: nova's `[api] max_limit` (servers; default 1000), glance's
    /// `api_limit_max` (images; default 1000), neutron's `pagination_max_limit` (every
    /// collection; default unlimited). `None`: those defaults.
    pub max_limit: Option<usize>,
    /// The projects' quotas (each project the same); unset ones are unlimited.
    pub quota: Quotas,
    /// When not empty: the catalog lists every service in each of these regions with a
    /// distinct URL per region and interface (`{base}/ep/{region}/{interface}/compute/v2.1`,
    /// ...), all served by this cloud; the request log shows the prefixed path. Empty: one
    /// region (`RegionOne`), the same URL for every interface.
    pub catalog_regions: Vec<String>,
    /// The object store is away: every `/object-store` request is answered 503 with the
    /// page a load balancer gives when no backend is up (a stopped Swift proxy behind
    /// HAProxy), its objects kept for when the knob is cleared.
    pub object_store_down: bool,
    /// Seconds a new volume takes to become `available` (a volume from an image spends half
    /// of it `downloading`); half of it for a delete or an extend.
    pub volume_create_s: f64,
    /// Seconds a volume snapshot stays `creating`.
    pub volume_snapshot_s: f64,
    /// Seconds an `os-volume_upload_image` waits before the bytes go to Glance.
    pub volume_upload_s: f64,
    /// Volume types this cloud offers besides devstack's `__DEFAULT__` and `lvmdriver-1`
    /// (e.g. `["ceph-ssd"]`); each one's id is derived from its name.
    pub volume_types: Vec<String>,
    /// New volumes go to `error` instead of `available`.
    pub volume_create_error: bool,
    /// Uploads to image fail as Cinder handles a failed upload: the image is deleted, the
    /// volume returns to its previous status.
    pub volume_upload_error: bool,
    /// Glance's `image_size_cap` (glance-api.conf), in bytes: an upload past it is refused
    /// as Glance refuses it, 413 "The incoming image is too large", the image back to
    /// `queued`. `None`: Glance's default, 1 TiB.
    pub image_size_cap: Option<u64>,
}

impl Default for FaultSettings {
    fn default() -> Self {
        FaultSettings {
            latency_ms: 0,
            fail_rate: 0.0,
            fail_after_rate: 0.0,
            rate_limit_rate: 0.0,
            retry_after_s: 1,
            reset_download_after_bytes: None,
            reset_upload_after_bytes: None,
            reset_count: 0,
            corrupt_download_byte: None,
            token_ttl_s: None,
            server_build_s: 0.2,
            server_error: false,
            snapshot_s: 0.2,
            create_accept_s: 0.0,
            compute_max_microversion: None,
            usage_max_limit: 1000,
            max_limit: None,
            quota: Quotas::default(),
            catalog_regions: Vec::new(),
            object_store_down: false,
            volume_create_s: 0.2,
            volume_snapshot_s: 0.2,
            volume_upload_s: 0.2,
            volume_types: Vec::new(),
            volume_create_error: false,
            volume_upload_error: false,
            image_size_cap: None,
        }
    }
}

/// The quotas of every project, answered as the services answer them when one runs out:
/// Nova 403 `Quota exceeded for instances: Requested 1, but already used 2 of 2 instances`,
/// Neutron 409 `OverQuota` (`Quota exceeded for resources: ['port'].`), Glance 413 (oslo.limit's
/// `image_count_uploading`, `image_count_total` at a create, `image_size_total` at an
/// upload). `None`: unlimited (`-1` in `limits`). Glance's four are Keystone's unified limits:
/// while none is set, Glance runs as with `use_keystone_limits = False` (its default), and
/// `GET /v2/info/usage` answers `{"usage": {}}`; once one is, as with unified limits on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    /// Nova: servers of the project.
    pub instances: Option<u64>,
    /// Nova: vCPUs of the project's servers.
    pub cores: Option<u64>,
    /// Nova: RAM (MiB) of the project's servers.
    pub ram: Option<u64>,
    /// Neutron: ports of the project (made through the ports API).
    pub port: Option<u64>,
    /// Neutron: floating IPs of the project.
    pub floatingip: Option<u64>,
    /// Glance: images of the project receiving data at once.
    pub image_count_uploading: Option<u64>,
    /// Glance: the project's images, neither killed nor deleted.
    pub image_count_total: Option<u64>,
    /// Glance: MiB of the project's images.
    pub image_size_total: Option<u64>,
    /// Glance: MiB of the project's images staged for import (devcloud has no import: none
    /// is ever used).
    pub image_stage_total: Option<u64>,
    /// Nova: server groups of the project (`None`: Nova's default, 10).
    pub server_groups: Option<u64>,
    /// Nova: servers in one server group (`None`: Nova's default, 10).
    pub server_group_members: Option<u64>,
    /// Cinder: volumes of the project (`None`: Cinder's default, 10).
    pub volumes: Option<u64>,
    /// Cinder: volume snapshots of the project (`None`: Cinder's default, 10).
    pub snapshots: Option<u64>,
    /// Cinder: GiB of the project's volumes and snapshots (`None`: Cinder's default, 1000).
    pub gigabytes: Option<u64>,
}

impl Quotas {
    /// Whether Glance runs with Keystone's unified limits (any of its four is set).
    pub fn glance_limited(&self) -> bool {
        self.image_count_uploading.is_some()
            || self.image_count_total.is_some()
            || self.image_size_total.is_some()
            || self.image_stage_total.is_some()
    }
}

impl FaultSettings {
    /// Nova's page size for a request's `limit` (`None`: not given): at most `max_limit`.
    pub fn nova_limit(&self, asked: Option<usize>) -> usize {
        let max = self.max_limit.unwrap_or(1000);
        asked.unwrap_or(max).min(max)
    }

    /// The token lifetime in effect.
    pub fn token_ttl(&self) -> time::Duration {
        time::Duration::seconds(self.token_ttl_s.unwrap_or(3600) as i64)
    }
}

/// What a request should suffer, decided once per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// Serve normally.
    None,
    /// Answer with this 5xx status.
    ServerError(u16),
    /// Answer 429 with `Retry-After: secs`.
    RateLimited(u64),
}

/// The live fault settings of one cloud plus its seeded random source.
#[derive(Debug)]
pub struct Faults {
    settings: Mutex<FaultSettings>,
    rng: Mutex<fastrand::Rng>,
}

impl Faults {
    /// Faults with these settings and a random source seeded with `seed`.
    pub fn new(settings: FaultSettings, seed: u64) -> Faults {
        Faults {
            settings: Mutex::new(settings),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        }
    }

    /// A copy of the current settings.
    pub fn get(&self) -> FaultSettings {
        self.settings.lock().expect("faults mutex poisoned").clone()
    }

    /// Replace the settings.
    pub fn set(&self, settings: FaultSettings) {
        *self.settings.lock().expect("faults mutex poisoned") = settings;
    }

    /// Decide whether this request gets a 5xx or a 429 (draws from the seeded random source).
    pub fn draw(&self) -> Injected {
        let s = self.get();
        if s.fail_rate <= 0.0 && s.rate_limit_rate <= 0.0 {
            return Injected::None;
        }
        let mut rng = self.rng.lock().expect("faults rng mutex poisoned");
        let x = rng.f64();
        if x < s.fail_rate {
            return Injected::ServerError(if rng.bool() { 500 } else { 503 });
        }
        if x < s.fail_rate + s.rate_limit_rate {
            return Injected::RateLimited(s.retry_after_s);
        }
        Injected::None
    }

    /// Decide whether this request, once served, has its answer replaced by a 503
    /// (`fail_after_rate`; draws only when that knob is set, so other seeded runs are unchanged).
    pub fn draw_after(&self) -> bool {
        let rate = self.get().fail_after_rate;
        if rate <= 0.0 {
            return false;
        }
        self.rng.lock().expect("faults rng mutex poisoned").f64() < rate
    }

    /// A random u64 from the cloud's seeded source (ids, MACs, keys).
    pub fn random_u64(&self) -> u64 {
        self.rng.lock().expect("faults rng mutex poisoned").u64(..)
    }

    /// A random (v4-shaped) UUID from the cloud's seeded source, so seeded ids are stable.
    pub fn random_uuid(&self) -> uuid::Uuid {
        let mut rng = self.rng.lock().expect("faults rng mutex poisoned");
        let hi = rng.u64(..).to_le_bytes();
        let lo = rng.u64(..).to_le_bytes();
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&hi);
        bytes[8..].copy_from_slice(&lo);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    fn take_reset(&self, upload: bool) -> Option<u64> {
        let mut s = self.settings.lock().expect("faults mutex poisoned");
        let after = if upload {
            s.reset_upload_after_bytes
        } else {
            s.reset_download_after_bytes
        }?;
        if s.reset_count > 0 {
            s.reset_count -= 1;
            if s.reset_count == 0 {
                if upload {
                    s.reset_upload_after_bytes = None;
                } else {
                    s.reset_download_after_bytes = None;
                }
            }
        }
        Some(after)
    }

    /// If downloads are to be reset: the byte count after which to reset this one (and count
    /// it against `reset_count`).
    pub fn take_reset_download(&self) -> Option<u64> {
        self.take_reset(false)
    }

    /// If uploads are to be reset: the byte count after which to reset this one (and count it
    /// against `reset_count`).
    pub fn take_reset_upload(&self) -> Option<u64> {
        self.take_reset(true)
    }
}

/// One logged request.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// The `Range` request header, if any.
    pub range: Option<String>,
    /// The `OpenStack-API-Version` / microversion request header, if any.
    pub api_version: Option<String>,
}

/// The request log of one cloud (`GET/DELETE /devcloud/requests`).
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Mutex<Vec<LoggedRequest>>,
}

impl RequestLog {
    /// How many entries the log keeps (a long-running devcloud must not grow without bound).
    pub const CAPACITY: usize = 100_000;

    /// Append one entry (the oldest are dropped beyond [`RequestLog::CAPACITY`]).
    pub fn push(&self, entry: LoggedRequest) {
        let mut entries = self.entries.lock().expect("log mutex poisoned");
        if entries.len() >= Self::CAPACITY {
            let excess = entries.len() + 1 - Self::CAPACITY;
            entries.drain(..excess);
        }
        entries.push(entry);
    }

    /// All entries, oldest first.
    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.entries.lock().expect("log mutex poisoned").clone()
    }

    /// Forget all entries.
    pub fn clear(&self) {
        self.entries.lock().expect("log mutex poisoned").clear();
    }
}
