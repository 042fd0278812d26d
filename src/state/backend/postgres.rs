//! The PostgreSQL backend (`postgres://user@host:port/db?name=NAME`): Terraform's `pg` layout,
//! a schema of s2d's own with a table of states (a unique name, the serial, the document) and
//! a table of lock notes. The lock is a session-level advisory lock (`pg_try_advisory_lock`
//! on a hash of the name) held on the connection that writes, so a runner that dies releases
//! it when the server sees its session end; the note in `s2d.locks` only says who holds it.
//! A write is an `UPDATE … WHERE serial = previous`: a stale writer changes no row and is
//! refused. What the URL leaves out comes from the `PG*` variables (`PGHOST`, `PGPORT`,
//! `PGUSER`, `PGPASSWORD`, `PGDATABASE`); a password is kept as a [`Secret`] and never shown.
//! Connections are plain TCP or a Unix socket (`?host=/run/postgresql`); TLS is not offered.

use std::fmt;
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::secret::Secret;
use crate::state::{LockInfo, State, StateError};

use super::ForceUnlockOutcome;

/// The schema s2d keeps its tables in.
pub const SCHEMA: &str = "s2d";

/// Where a state is in PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgLocation {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<Secret>,
    dbname: Option<String>,
    /// The state's name (its row).
    pub name: String,
}

impl PgLocation {
    pub(crate) fn parse(s: &str) -> Result<PgLocation, StateError> {
        let bad = |message: String| StateError::BadLocation {
            given: super::redact_url(s),
            message,
        };
        let url = url::Url::parse(s).map_err(|e| bad(format!("not a URL: {e}")))?;
        let mut loc = PgLocation {
            host: url.host_str().filter(|h| !h.is_empty()).map(decode),
            port: url.port(),
            user: Some(url.username()).filter(|u| !u.is_empty()).map(decode),
            password: url.password().map(|p| Secret::new(decode(p))),
            dbname: url
                .path()
                .strip_prefix('/')
                .filter(|d| !d.is_empty())
                .map(decode),
            name: String::new(),
        };
        for (key, value) in url.query_pairs() {
            match &*key {
                "name" => loc.name = value.into_owned(),
                "host" => loc.host = Some(value.into_owned()),
                "sslmode" if value == "disable" || value == "prefer" => {}
                "sslmode" => {
                    return Err(bad(format!(
                        "sslmode={value}: this s2d connects without TLS (use a Unix socket or a trusted network, with sslmode=disable)"
                    )));
                }
                other => {
                    return Err(bad(format!(
                        "unknown parameter {other:?} (name, host, sslmode)"
                    )));
                }
            }
        }
        if loc.name.is_empty() {
            return Err(bad(
                "no state name: add ?name=NAME (one name per plan, or per --target slice)".into(),
            ));
        }
        Ok(loc)
    }

    fn config(&self) -> tokio_postgres::Config {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut config = tokio_postgres::Config::new();
        let host = self.host.clone().or_else(|| env("PGHOST"));
        match host.as_deref() {
            Some(h) if h.starts_with('/') => config.host_path(h),
            Some(h) => config.host(h),
            None => config.host_path("/run/postgresql"),
        };
        let port = self
            .port
            .or_else(|| env("PGPORT").and_then(|p| p.parse().ok()));
        config.port(port.unwrap_or(5432));
        let user = self
            .user
            .clone()
            .or_else(|| env("PGUSER"))
            .unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "postgres".into()));
        config.user(&user);
        if let Some(p) = &self.password {
            config.password(p.expose());
        } else if let Some(p) = env("PGPASSWORD") {
            config.password(p);
        }
        config.dbname(
            self.dbname
                .clone()
                .or_else(|| env("PGDATABASE"))
                .unwrap_or(user),
        );
        config.application_name("s2d");
        config.connect_timeout(Duration::from_secs(10));
        config.keepalives_idle(Duration::from_secs(30));
        config
    }
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

impl fmt::Display for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postgres://")?;
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        match &self.host {
            Some(h) if !h.starts_with('/') => write!(f, "{h}")?,
            _ => {}
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(
            f,
            "/{}?name={}",
            self.dbname.as_deref().unwrap_or(""),
            self.name
        )?;
        if let Some(h) = self.host.as_deref().filter(|h| h.starts_with('/')) {
            write!(f, "&host={h}")?;
        }
        Ok(())
    }
}

fn backend_error(loc: &PgLocation, action: &'static str, e: tokio_postgres::Error) -> StateError {
    // A server that went away, a refused or reset connection: worth another try.
    let transient = e.is_closed()
        || e.code().is_none()
        || e.code().is_some_and(|c| {
            *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        });
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    };
    StateError::Backend {
        location: loc.to_string(),
        action,
        message,
        transient,
    }
}

async fn connect(loc: &PgLocation) -> Result<Client, StateError> {
    let (client, connection) = loc
        .config()
        .connect(NoTls)
        .await
        .map_err(|e| backend_error(loc, "connecting to PostgreSQL", e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "the PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// Create the schema and tables if they are missing (serialised by a transaction-level
/// advisory lock, so two first runners do not race on `CREATE`).
async fn ensure_schema(loc: &PgLocation, client: &Client) -> Result<(), StateError> {
    let sql = format!(
        "BEGIN;
         SELECT pg_advisory_xact_lock(hashtextextended('s2d schema', 0));
         CREATE SCHEMA IF NOT EXISTS {SCHEMA};
         CREATE TABLE IF NOT EXISTS {SCHEMA}.states (
             name text PRIMARY KEY,
             serial bigint NOT NULL,
             document text NOT NULL,
             updated_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE IF NOT EXISTS {SCHEMA}.locks (
             name text PRIMARY KEY,
             info text NOT NULL);
         COMMIT;"
    );
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| backend_error(loc, "creating the s2d schema", e))
}

const LOCK_KEY: &str = "hashtextextended('s2d state ' || $1, 0)";

async fn try_lock(loc: &PgLocation, client: &Client) -> Result<bool, StateError> {
    client
        .query_one(
            &format!("SELECT pg_try_advisory_lock({LOCK_KEY})"),
            &[&loc.name],
        )
        .await
        .map(|row| row.get::<_, bool>(0))
        .map_err(|e| backend_error(loc, "locking the state", e))
}

async fn note(loc: &PgLocation, client: &Client) -> Option<LockInfo> {
    let row = client
        .query_opt(
            &format!("SELECT info FROM {SCHEMA}.locks WHERE name = $1"),
            &[&loc.name],
        )
        .await
        .ok()??;
    serde_json::from_str(row.get::<_, &str>(0)).ok()
}

async fn write_note(loc: &PgLocation, client: &Client, info: &LockInfo) -> Result<(), StateError> {
    let text = serde_json::to_string(info).map_err(StateError::Encode)?;
    client
        .execute(
            &format!(
                "INSERT INTO {SCHEMA}.locks (name, info) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET info = EXCLUDED.info"
            ),
            &[&loc.name, &text],
        )
        .await
        .map(|_| ())
        .map_err(|e| backend_error(loc, "writing the lock note", e))
}

/// Connect, set up, and take the lock (or say who holds it).
async fn lock(loc: &PgLocation, info: &LockInfo) -> Result<Client, StateError> {
    let client = connect(loc).await?;
    ensure_schema(loc, &client).await?;
    if !try_lock(loc, &client).await? {
        return Err(StateError::Locked {
            path: loc.to_string().into(),
            holder: note(loc, &client).await.map(Box::new),
        });
    }
    write_note(loc, &client, info).await?;
    Ok(client)
}

async fn read_with(loc: &PgLocation, client: &Client) -> Result<Option<State>, StateError> {
    let row = client
        .query_opt(
            &format!("SELECT document FROM {SCHEMA}.states WHERE name = $1"),
            &[&loc.name],
        )
        .await;
    match row {
        Ok(Some(row)) => super::decode(row.get::<_, &str>(0), &loc.to_string()).map(Some),
        Ok(None) => Ok(None),
        Err(e)
            if e.code() == Some(&SqlState::UNDEFINED_TABLE)
                || e.code() == Some(&SqlState::INVALID_SCHEMA_NAME) =>
        {
            Ok(None)
        }
        Err(e) => Err(backend_error(loc, "reading the state", e)),
    }
}

/// Read the state without locking it.
pub(crate) async fn read(loc: &PgLocation) -> Result<Option<State>, StateError> {
    let client = connect(loc).await?;
    read_with(loc, &client).await
}

/// A held advisory lock and the connection that holds it.
pub(crate) struct Held {
    loc: PgLocation,
    info: LockInfo,
    client: Client,
}

impl fmt::Debug for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Held")
            .field("location", &self.loc.to_string())
            .field("lock", &self.info.id)
            .finish_non_exhaustive()
    }
}

impl Held {
    pub(crate) async fn acquire(
        loc: &PgLocation,
        operation: &str,
    ) -> Result<(Held, Option<State>), StateError> {
        let info = super::new_lock_info(operation);
        let client = lock(loc, &info).await?;
        let state = read_with(loc, &client).await?;
        Ok((
            Held {
                loc: loc.clone(),
                info,
                client,
            },
            state,
        ))
    }

    /// Write `state` in place of serial `previous`. A connection that was lost is made
    /// again first, and the lock taken again on it: if another runner took it meanwhile, the
    /// write is refused (and the serial check would refuse it anyway).
    pub(crate) async fn write(&mut self, state: &State, previous: u64) -> Result<(), StateError> {
        if self.client.is_closed() {
            tracing::warn!(state = %self.loc, "the PostgreSQL connection was lost; connecting again");
            self.client = lock(&self.loc, &self.info).await?;
        }
        let text = String::from_utf8(super::encode(state)?).map_err(|e| StateError::Backend {
            location: self.loc.to_string(),
            action: "encoding the state",
            message: e.to_string(),
            transient: false,
        })?;
        let (new, old) = (state.serial as i64, previous as i64);
        let updated = self
            .client
            .execute(
                &format!(
                    "UPDATE {SCHEMA}.states SET serial = $1, document = $2, updated_at = now()
                     WHERE name = $3 AND serial = $4"
                ),
                &[&new, &text, &self.loc.name, &old],
            )
            .await
            .map_err(|e| backend_error(&self.loc, "writing the state", e))?;
        if updated == 1 {
            return Ok(());
        }
        if previous == 0 {
            let inserted = self
                .client
                .execute(
                    &format!(
                        "INSERT INTO {SCHEMA}.states (name, serial, document) VALUES ($1, $2, $3)
                         ON CONFLICT (name) DO NOTHING"
                    ),
                    &[&self.loc.name, &new, &text],
                )
                .await
                .map_err(|e| backend_error(&self.loc, "writing the state", e))?;
            if inserted == 1 {
                return Ok(());
            }
        }
        let found = self
            .client
            .query_opt(
                &format!("SELECT serial FROM {SCHEMA}.states WHERE name = $1"),
                &[&self.loc.name],
            )
            .await
            .map_err(|e| backend_error(&self.loc, "reading the state's serial", e))?
            .map(|row| row.get::<_, i64>(0) as u64)
            .unwrap_or(0);
        Err(StateError::Stale {
            location: self.loc.to_string(),
            expected: previous,
            found,
        })
    }

    pub(crate) async fn release(self) {
        let _ = self
            .client
            .execute(
                &format!("DELETE FROM {SCHEMA}.locks WHERE name = $1"),
                &[&self.loc.name],
            )
            .await;
        let _ = self
            .client
            .query_one(
                &format!("SELECT pg_advisory_unlock({LOCK_KEY})"),
                &[&self.loc.name],
            )
            .await;
    }
}

/// Clear the note of a holder whose session is gone. A live session keeps its lock.
pub(crate) async fn force_unlock(
    loc: &PgLocation,
    id: Option<&str>,
) -> Result<ForceUnlockOutcome, StateError> {
    let client = connect(loc).await?;
    ensure_schema(loc, &client).await?;
    let stale = note(loc, &client).await;
    if !try_lock(loc, &client).await? {
        return Err(StateError::LockedByLiveProcess {
            path: loc.to_string().into(),
            holder: stale.map(Box::new),
        });
    }
    if let (Some(id), Some(info)) = (id, &stale)
        && info.id != id
    {
        return Err(StateError::LockIdMismatch {
            location: loc.to_string(),
            given: id.to_string(),
            holder: Box::new(info.clone()),
        });
    }
    client
        .execute(
            &format!("DELETE FROM {SCHEMA}.locks WHERE name = $1"),
            &[&loc.name],
        )
        .await
        .map_err(|e| backend_error(loc, "clearing the lock note", e))?;
    Ok(match stale {
        Some(info) => ForceUnlockOutcome::ClearedStale(info),
        None => ForceUnlockOutcome::NotLocked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_gives_the_connection_and_the_name() {
        let loc = PgLocation::parse("postgres://s2d:p%40ss@db.example:6543/fleet?name=wave-1")
            .expect("parses");
        assert_eq!(loc.host.as_deref(), Some("db.example"));
        assert_eq!(loc.port, Some(6543));
        assert_eq!(loc.user.as_deref(), Some("s2d"));
        assert_eq!(loc.password.as_ref().map(Secret::expose), Some("p@ss"));
        assert_eq!(loc.dbname.as_deref(), Some("fleet"));
        assert_eq!(loc.name, "wave-1");
        assert_eq!(
            loc.to_string(),
            "postgres://s2d@db.example:6543/fleet?name=wave-1"
        );
        let socket = PgLocation::parse("postgres:///s2d?name=a&host=/tmp/pg").expect("parses");
        assert_eq!(socket.host.as_deref(), Some("/tmp/pg"));
        assert_eq!(socket.to_string(), "postgres:///s2d?name=a&host=/tmp/pg");
    }

    #[test]
    fn a_url_without_a_name_or_with_tls_is_refused() {
        assert!(PgLocation::parse("postgres://db/s2d").is_err());
        assert!(PgLocation::parse("postgres://db/s2d?name=a&sslmode=require").is_err());
        assert!(PgLocation::parse("postgres://db/s2d?name=a&colour=red").is_err());
    }
}
