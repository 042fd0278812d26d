//! Where a state lives: a [`Location`] (a path, `postgres://…` or `swift://…`) and the
//! backend behind it. Every backend gives the same guarantees: the state is locked for a
//! whole operation and the refused one is told who holds it ([`LockInfo`]); every write is
//! whole; a write carries the serial it replaces and is refused if the stored state has moved
//! on ([`StateError::Stale`]); a write that fails because the backend is unreachable is tried
//! again before the apply gives up ([`StateFile::commit`](super::StateFile::commit)).
//!
//! - [`local`]: the file beside the plan, locked with `flock` (the default).
//! - [`postgres`]: a row of `s2d.states`, locked with a session-level advisory lock on a
//!   dedicated connection (a runner that dies releases it with its session).
//! - [`swift`]: an object in a Swift container, locked by a second object created with
//!   `If-None-Match: *`.
//!
//! The backend is picked by the location's spelling alone; it knows nothing of plans.

pub mod local;
pub mod postgres;
pub mod swift;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{LockInfo, State, StateError};

/// Where a state is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A JSON file (locked by `<file>.lock`).
    File(PathBuf),
    /// `postgres://user@host:port/db?name=NAME` (and `PG*` variables for what is left out).
    Postgres(postgres::PgLocation),
    /// `swift://CLOUD/CONTAINER/OBJECT`, CLOUD an entry of clouds.yaml.
    Swift(swift::SwiftLocation),
}

impl Location {
    /// The file, when the state is a local file.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Location::File(p) => Some(p),
            _ => None,
        }
    }

    /// Whether the state is kept away from this machine.
    pub fn is_remote(&self) -> bool {
        !matches!(self, Location::File(_))
    }
}

impl FromStr for Location {
    type Err = StateError;

    fn from_str(s: &str) -> Result<Location, StateError> {
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return postgres::PgLocation::parse(s).map(Location::Postgres);
        }
        if lower.starts_with("swift://") {
            return swift::SwiftLocation::parse(s).map(Location::Swift);
        }
        if lower.contains("://") {
            return Err(StateError::BadLocation {
                given: redact_url(s),
                message: "only postgres:// and swift:// URLs name a remote state".into(),
            });
        }
        Ok(Location::File(PathBuf::from(s)))
    }
}

/// The location as users see it; a password in a URL is never shown.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(p) => write!(f, "{}", p.display()),
            Location::Postgres(pg) => pg.fmt(f),
            Location::Swift(sw) => sw.fmt(f),
        }
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Location {
        Location::File(p)
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Location {
        Location::File(p.to_path_buf())
    }
}

/// A URL with any password replaced by `***` (for messages about a URL that did not parse).
pub(crate) fn redact_url(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => match (s.find("://"), s.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}://***{}", &s[..scheme], &s[at..])
            }
            _ => s.to_string(),
        },
    }
}

/// Who is asking for the lock: `user@host`, for the note others see.
pub(crate) fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(user_of_this_process)
        .unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{host}")
}

/// The name of this process's user from `/proc` and `/etc/passwd` (CI runners often have no
/// `USER`).
fn user_of_this_process() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_string())
    })
}

/// A fresh lock note for `operation`.
pub(crate) fn new_lock_info(operation: &str) -> LockInfo {
    LockInfo {
        id: uuid::Uuid::new_v4().to_string(),
        who: who(),
        pid: std::process::id(),
        since: super::now_rfc3339(),
        operation: operation.to_string(),
    }
}

/// The state as the bytes every backend stores (pretty JSON, a final newline).
pub(crate) fn encode(state: &State) -> Result<Vec<u8>, StateError> {
    let mut text = serde_json::to_vec_pretty(state).map_err(StateError::Encode)?;
    text.push(b'\n');
    Ok(text)
}

/// Read a state's text, checking its format version before its shape (a newer state says
/// "newer", not "malformed"). `place` names it in errors.
pub(crate) fn decode(text: &str, place: &str) -> Result<State, StateError> {
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: u32,
    }
    let corrupt = |e: serde_json::Error| StateError::Corrupt {
        path: PathBuf::from(place),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    let version: Version = serde_json::from_str(text).map_err(corrupt)?;
    if version.format_version != super::FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion {
            path: PathBuf::from(place),
            found: version.format_version,
            supported: super::FORMAT_VERSION,
        });
    }
    serde_json::from_str(text).map_err(corrupt)
}

/// A lock held on a backend, with what is needed to write there.
#[derive(Debug)]
pub(crate) enum Held {
    Local(local::Held),
    Postgres(postgres::Held),
    Swift(swift::Held),
}

impl Held {
    /// Take the lock at `location` for `operation`, and read the state there.
    pub(crate) async fn acquire(
        location: &Location,
        operation: &str,
    ) -> Result<(Held, Option<State>), StateError> {
        match location {
            Location::File(path) => {
                let (held, state) = local::Held::acquire(path, operation)?;
                Ok((Held::Local(held), state))
            }
            Location::Postgres(pg) => {
                let (held, state) = postgres::Held::acquire(pg, operation).await?;
                Ok((Held::Postgres(held), state))
            }
            Location::Swift(sw) => {
                let (held, state) = swift::Held::acquire(sw, operation).await?;
                Ok((Held::Swift(held), state))
            }
        }
    }

    /// Write `state` (whose serial is already the new one) in place of serial `previous`.
    /// Refused with [`StateError::Stale`] when the stored serial is not `previous`.
    pub(crate) async fn write(&mut self, state: &State, previous: u64) -> Result<(), StateError> {
        match self {
            Held::Local(h) => h.write(state),
            Held::Postgres(h) => h.write(state, previous).await,
            Held::Swift(h) => h.write(state, previous).await,
        }
    }

    /// Give the lock back (dropping also does, as well as it can).
    pub(crate) async fn release(self) {
        match self {
            Held::Local(h) => drop(h),
            Held::Postgres(h) => h.release().await,
            Held::Swift(h) => h.release().await,
        }
    }
}

/// Read the state at `location` without locking it (`show`, `usage --managed`, `state
/// pull`). `Ok(None)` when there is none yet.
pub async fn read(location: &Location) -> Result<Option<State>, StateError> {
    match location {
        Location::File(path) => super::file::read(path),
        Location::Postgres(pg) => postgres::read(pg).await,
        Location::Swift(sw) => swift::read(sw).await,
    }
}

/// [`read`] for synchronous callers running on a multi-threaded tokio runtime (the
/// service's handlers): a local file is read right here; a remote state blocks this thread
/// for the read.
pub fn read_blocking(location: &Location) -> Result<Option<State>, StateError> {
    if let Location::File(path) = location {
        return super::file::read(path);
    }
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(read(location)))
        }
        _ => Err(StateError::Backend {
            location: location.to_string(),
            action: "reading the state",
            message: "a remote state is read from a multi-threaded runtime only".into(),
            transient: false,
        }),
    }
}

/// What [`force_unlock`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForceUnlockOutcome {
    /// Nothing held the lock and no note was left.
    NotLocked,
    /// The lock of a holder that is gone was cleared; this was its note.
    ClearedStale(LockInfo),
}

/// Clear a lock whose holder is gone. `id` is the lock id the refusal showed: required for
/// Swift (whose lock object outlives a killed holder), checked when given elsewhere. A lock
/// held by a live process or session (file, PostgreSQL) is not taken from it.
pub async fn force_unlock(
    location: &Location,
    id: Option<&str>,
) -> Result<ForceUnlockOutcome, StateError> {
    match location {
        Location::File(path) => super::lock::force_unlock(path, id),
        Location::Postgres(pg) => postgres::force_unlock(pg, id).await,
        Location::Swift(sw) => swift::force_unlock(sw, id).await,
    }
}

/// How many times, and how long apart, a write that failed because the backend could not
/// be reached is tried again: about a minute in all, enough for a database restart or a
/// proxy's failover.
pub(crate) const WRITE_RETRIES: u32 = 6;

pub(crate) fn write_backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(500u64 << attempt.min(5))
        .min(std::time::Duration::from_secs(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_told_apart_by_their_spelling() {
        assert_eq!(
            "s2d.state.json".parse::<Location>().expect("path"),
            Location::File("s2d.state.json".into())
        );
        assert!(matches!(
            "postgres://s2d@db:5432/s2d?name=wave1".parse::<Location>(),
            Ok(Location::Postgres(_))
        ));
        assert!(matches!(
            "swift://hospital/s2d/wave1.json".parse::<Location>(),
            Ok(Location::Swift(_))
        ));
        let err = "s3://bucket/x"
            .parse::<Location>()
            .expect_err("unknown scheme");
        assert!(matches!(err, StateError::BadLocation { .. }), "{err}");
    }

    #[test]
    fn the_holder_is_named_user_at_host() {
        let who = who();
        let (user, host) = who.split_once('@').expect("user@host");
        assert!(!user.is_empty() && !host.is_empty(), "{who}");
    }

    #[test]
    fn a_password_never_shows() {
        let loc: Location = "postgres://s2d:hunter2@db/s2d?name=w"
            .parse()
            .expect("parses");
        let shown = loc.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!format!("{loc:?}").contains("hunter2"));
        let err = "ftp://u:hunter2@h/x"
            .parse::<Location>()
            .expect_err("refused");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
