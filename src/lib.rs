//! s2d: software to data.
//!
//! A provider's OpenStack server (the software) is moved, declaratively, into the private
//! cloud where the data lives. The data flows one way through these modules:
//!
//! - [`plan`]: the plan model, its TOML and XML readers and writers, validation and
//!   located diagnostics. Knows nothing of HTTP or clouds.
//! - [`cloud`]: everything OpenStack (clouds.yaml, Keystone, the catalog, typed Nova, Glance
//!   and Neutron calls, retries). Knows nothing of plans or terminals.
//! - [`engine`]: the refresh and diff, apply and destroy over the concurrent graph walk,
//!   adoption by marker, the overview; the port to the clouds and its OpenStack adapter.
//! - [`graph`]: resource addresses, the desired resources and their dependency graph.
//! - [`state`]: the state file: format, atomic writes, the lock.
//! - [`transfer`]: moving image bytes: the checksummed stream pipe.
//! - [`usage`]: the usage report: figures, totals, rates, periods, CSV and JSON.
//! - [`secret`]: the one type of a password or token, never shown.
//! - [`files`]: reading what s2d is given within size limits, and the one whole-file write.
//! - [`workflow`]: the steps a plan goes through between a front end and the engine (clouds of
//!   the plan, state lock, diff, apply, destroy, overview, keys, saved plans, defaults, errors
//!   as users read them), written once for the CLI and the service.
//! - Front ends, which call `workflow` and never each other: [`cli`] (clap commands,
//!   rendering, prompts and exit codes; the only module that prints) and [`serve`] (`s2d
//!   serve`: the HTTP API and the web wizard; jobs, their event logs, the data directory).
//!
//! See `docs/architecture.md` for the whole picture.

pub mod cli;
pub mod cloud;
pub mod engine;
pub mod files;
pub mod graph;
pub mod plan;
pub mod secret;
pub mod serve;
pub mod state;
pub mod transfer;
pub mod usage;
pub mod workflow;
