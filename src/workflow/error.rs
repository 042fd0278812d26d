//! [`WorkflowError`]: every way a step of the workflow can fail, keeping its cause (the cloud's,
//! the state's, the engine's error) so that [`super::teach`] finds its code and help.

use std::path::PathBuf;

use crate::cloud;
use crate::engine::{ApplyError, PlanError, PortError};
use crate::graph::FromPlanError;
use crate::state::StateError;

/// Large causes are boxed, so that a `Result` of this error stays small.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WorkflowError {
    /// A side of the plan has no usable cloud configuration.
    #[error("the {side} cloud")]
    #[diagnostic(code(s2d::config::invalid))]
    Config {
        side: &'static str,
        #[source]
        source: Box<cloud::Error>,
    },
    /// Authenticating to either cloud, or discovering its services, failed.
    #[error("connecting to the clouds")]
    #[diagnostic(code(s2d::cloud::connect))]
    Connect(#[source] Box<cloud::Error>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] Box<StateError>),
    #[error("the plan cannot be carried out as written")]
    #[diagnostic(code(s2d::plan::unsupported))]
    Desired(#[source] FromPlanError),
    #[error("planning")]
    #[diagnostic(code(s2d::plan::failed))]
    Diff(#[source] Box<PlanError>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Apply(#[from] Box<ApplyError>),
    #[error("reading the servers back from the target")]
    #[diagnostic(code(s2d::cloud::overview))]
    Overview(#[source] Box<PortError>),
    /// A saved plan (`s2d plan --out`) that cannot be used.
    #[error("{message}")]
    #[diagnostic(code(s2d::saved_plan::unusable), help("{help}"))]
    Saved { message: String, help: String },
    /// A file of the workflow's own (a saved plan, a private key) could not be written.
    #[error("writing {}", path.display())]
    #[diagnostic(
        code(s2d::io::write),
        help(
            "check that the folder exists and is writable by this user, and that the disk has room"
        )
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading {}", path.display())]
    #[diagnostic(code(s2d::io::read))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<StateError> for WorkflowError {
    fn from(e: StateError) -> Self {
        WorkflowError::State(Box::new(e))
    }
}

impl From<ApplyError> for WorkflowError {
    fn from(e: ApplyError) -> Self {
        WorkflowError::Apply(Box::new(e))
    }
}
