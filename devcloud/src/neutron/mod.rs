//! Neutron v2.0 (networks, subnets, ports, security groups and rules, floating IPs, routers),
//! mounted at `/network`. Knows nothing about Nova or Glance: Nova calls in to create ports.

use std::sync::Mutex;

use axum::Router;

use crate::cloud::SharedCloud;

/// Neutron state of one cloud.
#[derive(Debug, Default)]
pub struct Neutron {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {}

impl Neutron {
    /// An empty Neutron.
    pub fn new() -> Neutron {
        Neutron::default()
    }

    /// Everything, for the state dump.
    pub fn dump(&self) -> serde_json::Value {
        let _s = self.state.lock().expect("neutron mutex poisoned");
        serde_json::json!({})
    }
}

/// The routes under `/network`.
pub fn router() -> Router<SharedCloud> {
    Router::new()
}
