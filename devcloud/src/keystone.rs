//! Keystone (identity v3 and v2.0): domains, projects, users, roles, application credentials,
//! tokens, the service catalog and version discovery, mounted at `/identity`. Knows nothing
//! about the other services except their endpoint paths for the catalog.

use std::sync::Mutex;

use axum::Router;
use time::OffsetDateTime;

use crate::auth::Auth;
use crate::cloud::SharedCloud;

/// Keystone state of one cloud.
#[derive(Debug, Default)]
pub struct Keystone {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {}

impl Keystone {
    /// An empty Keystone.
    pub fn new() -> Keystone {
        Keystone::default()
    }

    /// Validate a token at time `now`: the caller, or None when unknown or expired.
    pub fn validate(&self, token: &str, now: OffsetDateTime) -> Option<Auth> {
        let _state = self.state.lock().expect("keystone mutex poisoned");
        let _ = (token, now);
        None
    }

    /// Everything, for the state dump.
    pub fn dump(&self) -> serde_json::Value {
        let _s = self.state.lock().expect("keystone mutex poisoned");
        serde_json::json!({})
    }
}

/// The routes under `/identity`.
pub fn router() -> Router<SharedCloud> {
    Router::new()
}
