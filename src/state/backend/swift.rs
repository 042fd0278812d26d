//! The Swift backend (`swift://CLOUD/CONTAINER/OBJECT`): the state is an object of a
//! container in OpenStack's object store, reached with the clouds.yaml entry CLOUD (the same
//! entry a plan's cloud uses, so an OpenStack team needs no other credentials).
//!
//! - The lock is the object `OBJECT.lock`, created with `If-None-Match: *` (Swift refuses
//!   the create with 412 when it exists) and holding the [`LockInfo`] (id, who, operation,
//!   when). Nothing on the server ends it when its holder dies: `s2d force-unlock ID` deletes
//!   it, and only when ID is the one the refusal showed.
//! - Each write checks that the lock object is still its own (a run whose lock was
//!   force-unlocked stops), that the stored object's serial (`X-Object-Meta-S2d-Serial`) is
//!   the one it replaces (a stale write is refused), records which lock writes serial N in
//!   `OBJECT.serial/N` (so a retried write whose first answer was lost knows its own), then
//!   writes the object whole with its MD5 as `ETag`. Swift has no compare-and-swap on an
//!   object's content: the lock object is what keeps two writers apart, the serial check is
//!   what catches one that lost it.

use std::fmt;

use bytes::Bytes;

use crate::cloud::object_store::{Created, ObjectStore};
use crate::cloud::{ConfigEnv, Session};
use crate::state::{LockInfo, State, StateError};

use super::ForceUnlockOutcome;

const SERIAL_META: &str = "s2d-serial";

/// Where a state is in Swift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwiftLocation {
    /// The clouds.yaml entry.
    pub cloud: String,
    pub container: String,
    pub object: String,
}

impl SwiftLocation {
    pub(crate) fn parse(s: &str) -> Result<SwiftLocation, StateError> {
        let bad = |message: &str| StateError::BadLocation {
            given: s.to_string(),
            message: message.to_string(),
        };
        let rest = s
            .get("swift://".len()..)
            .ok_or_else(|| bad("not a swift:// URL"))?;
        let mut parts = rest.splitn(3, '/');
        let (cloud, container, object) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        if cloud.is_empty() || container.is_empty() || object.is_empty() || object.ends_with('/') {
            return Err(bad(
                "expected swift://CLOUD/CONTAINER/OBJECT (CLOUD an entry of clouds.yaml)",
            ));
        }
        Ok(SwiftLocation {
            cloud: cloud.into(),
            container: container.into(),
            object: object.into(),
        })
    }

    fn lock_object(&self) -> String {
        format!("{}.lock", self.object)
    }

    fn serial_object(&self, serial: u64) -> String {
        format!("{}.serial/{serial}", self.object)
    }
}

impl fmt::Display for SwiftLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "swift://{}/{}/{}",
            self.cloud, self.container, self.object
        )
    }
}

fn backend_error(loc: &SwiftLocation, action: &'static str, e: crate::cloud::Error) -> StateError {
    let transient = e.is_ambiguous() || matches!(e, crate::cloud::Error::Transport { .. });
    StateError::Backend {
        location: loc.to_string(),
        action,
        message: e.to_string(),
        transient,
    }
}

async fn connect(loc: &SwiftLocation) -> Result<ObjectStore, StateError> {
    let env = ConfigEnv::from_process();
    let config = crate::cloud::config::from_clouds_yaml(&loc.cloud, &env)
        .map_err(|e| backend_error(loc, "finding the cloud in clouds.yaml", e))?;
    let session = Session::connect(config)
        .await
        .map_err(|e| backend_error(loc, "authenticating", e))?;
    ObjectStore::new(&session)
        .await
        .map_err(|e| backend_error(loc, "finding the object store", e))
}

async fn lock_note(
    loc: &SwiftLocation,
    store: &ObjectStore,
) -> Result<Option<LockInfo>, StateError> {
    let found = store
        .get(&loc.container, &loc.lock_object())
        .await
        .map_err(|e| backend_error(loc, "reading the lock", e))?;
    Ok(found.and_then(|o| serde_json::from_slice(&o.body).ok()))
}

async fn read_with(loc: &SwiftLocation, store: &ObjectStore) -> Result<Option<State>, StateError> {
    let Some(object) = store
        .get(&loc.container, &loc.object)
        .await
        .map_err(|e| backend_error(loc, "reading the state", e))?
    else {
        return Ok(None);
    };
    let text = String::from_utf8(object.body.to_vec()).map_err(|e| StateError::Corrupt {
        path: loc.to_string().into(),
        line: 0,
        column: 0,
        message: format!("not UTF-8 text (at byte {})", e.utf8_error().valid_up_to()),
    })?;
    super::decode(&text, &loc.to_string()).map(Some)
}

/// Read the state without locking it.
pub(crate) async fn read(loc: &SwiftLocation) -> Result<Option<State>, StateError> {
    let store = connect(loc).await?;
    read_with(loc, &store).await
}

/// The lock object, created by this process.
pub(crate) struct Held {
    loc: SwiftLocation,
    store: ObjectStore,
    info: LockInfo,
    released: bool,
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
        loc: &SwiftLocation,
        operation: &str,
    ) -> Result<(Held, Option<State>), StateError> {
        let store = connect(loc).await?;
        store
            .ensure_container(&loc.container)
            .await
            .map_err(|e| backend_error(loc, "creating the container", e))?;
        let info = super::new_lock_info(operation);
        let body = Bytes::from(serde_json::to_vec(&info).map_err(StateError::Encode)?);
        let created = store
            .create(&loc.container, &loc.lock_object(), body, &[])
            .await
            .map_err(|e| backend_error(loc, "creating the lock", e))?;
        if created == Created::Exists {
            // A retried create whose first try landed finds its own note.
            let holder = lock_note(loc, &store).await?;
            if holder.as_ref().is_none_or(|h| h.id != info.id) {
                return Err(StateError::Locked {
                    path: loc.to_string().into(),
                    holder: holder.map(Box::new),
                });
            }
        }
        let mut held = Held {
            loc: loc.clone(),
            store,
            info,
            released: false,
        };
        match read_with(loc, &held.store).await {
            Ok(state) => Ok((held, state)),
            Err(e) => {
                held.delete_lock().await;
                held.released = true;
                Err(e)
            }
        }
    }

    pub(crate) async fn write(&mut self, state: &State, previous: u64) -> Result<(), StateError> {
        let (loc, store) = (&self.loc, &self.store);
        // Still ours? A lock cleared by force-unlock (and maybe taken by another run) is not.
        let holder = lock_note(loc, store).await?;
        if holder.as_ref().is_none_or(|h| h.id != self.info.id) {
            return Err(StateError::LockLost {
                location: loc.to_string(),
                holder: holder.map(Box::new),
            });
        }
        let found = store
            .head(&loc.container, &loc.object)
            .await
            .map_err(|e| backend_error(loc, "reading the state's serial", e))?
            .map(|meta| {
                meta.get(SERIAL_META)
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        let mine = Bytes::from(self.info.id.clone());
        let marker = loc.serial_object(state.serial);
        // The new serial already stored is fine only if this very write put it there (a retry
        // after an answer that was lost): the serial's marker names the lock that wrote it.
        let landed = found == state.serial
            && store
                .get(&loc.container, &marker)
                .await
                .map_err(|e| backend_error(loc, "reading the serial's marker", e))?
                .is_some_and(|o| o.body == mine);
        if found != previous && !landed {
            return Err(StateError::Stale {
                location: loc.to_string(),
                expected: previous,
                found,
            });
        }
        store
            .put(&loc.container, &marker, mine, &[])
            .await
            .map_err(|e| backend_error(loc, "marking the serial", e))?;
        let body = Bytes::from(super::encode(state)?);
        store
            .put(
                &loc.container,
                &loc.object,
                body,
                &[(SERIAL_META, state.serial.to_string())],
            )
            .await
            .map_err(|e| backend_error(loc, "writing the state", e))?;
        if previous > 0 {
            let _ = store
                .delete(&loc.container, &loc.serial_object(previous))
                .await;
        }
        Ok(())
    }

    /// Delete the lock object if it is still this process's.
    async fn delete_lock(&self) {
        match lock_note(&self.loc, &self.store).await {
            Ok(Some(info)) if info.id == self.info.id => {
                if let Err(e) = self
                    .store
                    .delete(&self.loc.container, &self.loc.lock_object())
                    .await
                {
                    tracing::warn!(state = %self.loc, error = %e, "could not remove the lock; `s2d force-unlock {}` removes it", self.info.id);
                }
            }
            _ => {}
        }
    }

    pub(crate) async fn release(mut self) {
        self.delete_lock().await;
        self.released = true;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // Dropped without release (an error path): remove the lock if a runtime that can
        // block here is around; otherwise say how to remove it.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(self.delete_lock()));
            }
            _ => tracing::warn!(
                state = %self.loc,
                "the lock was left in place; `s2d force-unlock --state {} {}` removes it",
                self.loc,
                self.info.id
            ),
        }
    }
}

/// Delete the lock object, if `id` is the id it holds.
pub(crate) async fn force_unlock(
    loc: &SwiftLocation,
    id: Option<&str>,
) -> Result<ForceUnlockOutcome, StateError> {
    let store = connect(loc).await?;
    let Some(info) = lock_note(loc, &store).await? else {
        return Ok(ForceUnlockOutcome::NotLocked);
    };
    match id {
        Some(id) if id == info.id => {}
        Some(id) => {
            return Err(StateError::LockIdMismatch {
                location: loc.to_string(),
                given: id.to_string(),
                holder: Box::new(info),
            });
        }
        None => {
            return Err(StateError::LockIdNeeded {
                location: loc.to_string(),
                holder: Box::new(info),
            });
        }
    }
    store
        .delete(&loc.container, &loc.lock_object())
        .await
        .map_err(|e| backend_error(loc, "deleting the lock", e))?;
    Ok(ForceUnlockOutcome::ClearedStale(info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_cloud_container_and_object() {
        let loc =
            SwiftLocation::parse("swift://hospital/s2d-states/fleet/wave-1.json").expect("parses");
        assert_eq!(loc.cloud, "hospital");
        assert_eq!(loc.container, "s2d-states");
        assert_eq!(loc.object, "fleet/wave-1.json");
        assert_eq!(loc.lock_object(), "fleet/wave-1.json.lock");
        assert_eq!(loc.serial_object(4), "fleet/wave-1.json.serial/4");
        assert_eq!(
            loc.to_string(),
            "swift://hospital/s2d-states/fleet/wave-1.json"
        );
        for bad in [
            "swift://hospital",
            "swift://hospital/c",
            "swift://h/c/",
            "swift:///c/o",
        ] {
            assert!(SwiftLocation::parse(bad).is_err(), "{bad}");
        }
    }
}
