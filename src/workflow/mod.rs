//! The workflow: the steps a plan goes through between a front end (`cli`, `serve`) and the
//! engine, written once. It owns the plan-to-cloud configuration ([`clouds`]), connecting both
//! clouds, the state lock, the diff, apply, destroy and the overview ([`Migration`]), keeping
//! the private keys a target generated ([`keys`]), the saved-plan format ([`saved`]), every
//! default ([`defaults`]), and what a user is told about an error ([`Taught`]). Front ends call
//! it and render what it returns; it never prints.

pub mod clouds;
pub mod defaults;
mod error;
pub mod keys;
mod migration;
pub mod saved;
mod taught;

pub use error::WorkflowError;
pub use migration::{
    Locked, Migration, RunOptions, beside, connect, folder_of, graph, preview, preview_destroy,
};
pub use taught::{Taught, teach};
