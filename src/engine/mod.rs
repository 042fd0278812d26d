//! The engine: turns what is wanted ([`crate::graph::Desired`]), the clouds and the state into
//! changes, and carries them out.
//!
//! Owns the port to the clouds ([`port::CloudPort`], in engine terms), the refresh and diff
//! ([`plan`]), apply and destroy over the concurrent graph walk ([`walk`]), adoption of
//! orphans by marker, and the overview read back after apply. Never prints: it returns data and reports progress as [`Event`]s on a
//! channel. Knows nothing of OpenStack JSON, HTTP or terminals.

pub mod apply;
pub mod diff;
mod facts;
pub mod inventory;
pub mod openstack;
pub mod overview;
mod pending;
pub mod port;
mod quota;
mod refresh;
mod steps;
pub mod walk;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

pub use apply::{
    ApplyError, ApplyOptions, ApplyReport, Event, NodeReport, NodeStatus, Peak, PrivateKey,
    Timeouts, apply, destroy,
};
pub use diff::{
    Action, AttrChange, Change, Operation, PLAN_FORMAT_VERSION, PlanError, PlanOptions,
    PlanOutcome, Summary, build_graph, diff, diff_destroy,
};
pub use facts::read_sources;
pub use overview::{ServerOverview, Step, overview};
pub use pending::SETTLE;
pub use port::{CloudPort, Diagnosis, Marker, PortError, PortResult};
