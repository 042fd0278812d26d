//! What a user is told about an error, the same in every front end: the whole message (with
//! its causes), a stable code, what to do, and the cloud's request id. The code and help come
//! from the innermost cause that has them (a cloud's 401 says more than "connecting"); no
//! secret is ever in an error, so none is here.

use std::error::Error;

use serde::{Deserialize, Serialize};

use crate::cloud;
use crate::engine::{ApplyError, PlanError, PortError};
use crate::graph::{FromPlanError, GraphError};
use crate::state::StateError;

use super::WorkflowError;

/// An error as a user reads it (`--json` prints it as `{"error": {...}}`; the service answers
/// with the same fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taught {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The code of an error nothing more is known of.
pub const UNKNOWN: &str = "s2d::error";

impl Taught {
    /// An error known only by its message, under `code`.
    pub fn plain(code: &str, message: impl Into<String>, help: Option<&str>) -> Taught {
        Taught {
            code: code.to_string(),
            message: message.into(),
            help: help.map(str::to_string),
            request_id: None,
        }
    }
}

/// Teach `error`: its message with every cause (`a: b: c`), and the code, help and request id
/// of the innermost cause that has them.
pub fn teach(error: &(dyn Error + 'static)) -> Taught {
    let mut message = error.to_string();
    let mut code = None;
    let mut help = None;
    let mut request_id = None;
    let mut cause = Some(error);
    let mut depth = 0;
    while let Some(e) = cause {
        if depth > 0 {
            let text = e.to_string();
            // thiserror messages often end with their source's text already.
            if !message.ends_with(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
        }
        if let Some(found) = known(e) {
            code = Some(found.0);
            if found.1.is_some() {
                help = found.1;
            }
            if found.2.is_some() {
                request_id = found.2;
            }
        }
        cause = e.source();
        depth += 1;
        if depth > 64 {
            break;
        }
    }
    Taught {
        code: code.unwrap_or_else(|| UNKNOWN.to_string()),
        message,
        help,
        request_id,
    }
}

type Found = (String, Option<String>, Option<String>);

fn diagnostic(d: &dyn miette::Diagnostic) -> Option<Found> {
    let code = d.code()?.to_string();
    Some((code, d.help().map(|h| h.to_string()), None))
}

/// `e` as a `T`, whether it is one or a box of one (large causes are boxed).
fn down<'a, T: Error + 'static>(e: &'a (dyn Error + 'static)) -> Option<&'a T> {
    e.downcast_ref::<T>()
        .or_else(|| e.downcast_ref::<Box<T>>().map(|b| b.as_ref()))
}

/// The code, help and request id of one error of a type s2d knows.
fn known(e: &(dyn Error + 'static)) -> Option<Found> {
    if let Some(e) = down::<cloud::Error>(e) {
        return Some((
            e.code().to_string(),
            e.help(),
            e.request_id().map(str::to_string),
        ));
    }
    if let Some(e) = down::<PortError>(e) {
        let d = e.diagnosis();
        return Some((d.code, d.help, d.request_id));
    }
    if let Some(e) = down::<StateError>(e) {
        return diagnostic(e);
    }
    // Transparent wrappers hide their inner error from `source()`: look inside.
    if let Some(e) = down::<ApplyError>(e) {
        return match e {
            ApplyError::State(inner) => diagnostic(inner),
            other => diagnostic(other),
        };
    }
    if let Some(e) = down::<PlanError>(e) {
        return match e {
            PlanError::Graph(inner) => diagnostic(inner),
            other => diagnostic(other),
        };
    }
    if let Some(e) = down::<WorkflowError>(e) {
        return match e {
            WorkflowError::State(inner) => diagnostic(inner.as_ref()),
            WorkflowError::Apply(inner) => match inner.as_ref() {
                ApplyError::State(state) => diagnostic(state),
                other => diagnostic(other),
            },
            other => diagnostic(other),
        };
    }
    if let Some(e) = down::<GraphError>(e) {
        return diagnostic(e);
    }
    if let Some(e) = down::<FromPlanError>(e) {
        return diagnostic(e);
    }
    None
}
