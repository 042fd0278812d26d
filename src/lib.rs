//! s2d: software to data.
//!
//! A provider's OpenStack server (the software) is moved, declaratively, into the private
//! cloud where the data lives. The data flows one way through these modules:
//!
//! - [`plan`]: the plan model, its TOML and XML readers and writers, validation and
//!   located diagnostics. Knows nothing of HTTP or clouds.
//! - [`cloud`]: everything OpenStack (clouds.yaml, Keystone, the catalog, typed Nova, Glance
//!   and Neutron calls, retries). Knows nothing of plans or terminals.
//! - [`engine`]: the concurrent graph walk (and, with the engine issue, plan/apply/destroy).
//! - [`graph`]: resource addresses (and, with the engine, the dependency graph).
//! - [`state`]: the state file: format, atomic writes, the lock.
//! - [`transfer`]: moving image bytes: the checksummed stream pipe.
//! - [`usage`]: the usage report: figures, totals, rates, periods, CSV and JSON.
//! - [`serve`]: `s2d serve`, the HTTP API (XML/TOML plans in, JSON out) and the web wizard,
//!   as a thin layer over the same modules; jobs, their event logs and the data directory.
//! - [`input`]: the size limits of what s2d reads from outside, and the bounded file read.
//! - [`cli`]: clap commands, rendering, prompts and exit codes. The only module that prints.
//!
//! See `docs/architecture.md` for the whole picture.

pub mod cli;
pub mod cloud;
pub mod engine;
pub mod graph;
pub mod input;
pub mod plan;
pub mod serve;
pub mod state;
pub mod transfer;
pub mod usage;
