//! Nova v2.1 (servers, flavors, keypairs, createImage, os-security-groups,
//! os-simple-tenant-usage, limits, microversions), mounted at `/compute`. Talks to Neutron for
//! ports and security groups and to Glance for images; knows nothing about Keystone beyond `Auth`.

use std::sync::Mutex;

use axum::Router;

use crate::cloud::SharedCloud;

/// Nova state of one cloud.
#[derive(Debug, Default)]
pub struct Nova {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {}

impl Nova {
    /// An empty Nova.
    pub fn new() -> Nova {
        Nova::default()
    }

    /// Everything, for the state dump.
    pub fn dump(&self) -> serde_json::Value {
        let _s = self.state.lock().expect("nova mutex poisoned");
        serde_json::json!({})
    }
}

/// The routes under `/compute`.
pub fn router() -> Router<SharedCloud> {
    Router::new()
}
