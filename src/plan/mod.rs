//! The plan: its model, the TOML reader, validation and located diagnostics.
//!
//! `load` reads a plan file and returns the plan (when usable) together with every problem
//! found, each with its place in the file. Knows nothing of HTTP or clouds. The XML syntax
//! (`urn:s2d:plan:1`) is specified in `docs/plan-format.md` and is not read yet.

mod diag;
mod model;
mod toml_reader;
mod validate;

pub use validate::{DISK_FORMATS, VISIBILITIES};

use std::path::Path;

pub use diag::{Diagnostic, Diagnostics, JsonDiagnostic, Located, Severity, line_column};
pub use model::{
    CloudRef, FloatingIp, ImageOptions, InlineAuth, KeypairMode, Plan, ResolvedServer, Secret,
    Server, ServerOptions, TransferMode,
};

/// Plans larger than this are refused before they are read.
pub const MAX_PLAN_BYTES: u64 = 10 * 1024 * 1024;

/// The syntax of a plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Toml,
    Xml,
}

/// A loaded plan file: its text, the plan if it could be built, and every diagnostic.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub file: String,
    pub text: String,
    pub plan: Option<Plan>,
    pub diagnostics: Diagnostics,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.has_errors()
    }

    /// The diagnostics as `--json` prints them.
    pub fn json(&self) -> Vec<JsonDiagnostic> {
        self.diagnostics
            .iter()
            .map(|d| {
                let at = d.span.as_ref().map(|s| line_column(&self.text, s.start));
                JsonDiagnostic {
                    file: self.file.clone(),
                    line: at.map(|a| a.0),
                    column: at.map(|a| a.1),
                    message: d.message.clone(),
                    severity: d.severity,
                    help: d.help.clone(),
                }
            })
            .collect()
    }

    /// The diagnostics as miette reports, with the file's text for snippets.
    pub fn reports(&self) -> Vec<Located> {
        self.diagnostics
            .iter()
            .map(|d| Located {
                message: d.message.clone(),
                severity: d.severity,
                help: d.help.clone(),
                code: miette::NamedSource::new(&self.file, self.text.clone()),
                span: d
                    .span
                    .as_ref()
                    .map(|s| (s.start, s.end.saturating_sub(s.start)).into()),
            })
            .collect()
    }

    fn failed(file: &str, message: String, help: Option<String>) -> Loaded {
        let mut diagnostics = Diagnostics::default();
        diagnostics.error(None, message, help);
        Loaded {
            file: file.into(),
            text: String::new(),
            plan: None,
            diagnostics,
        }
    }
}

/// Read and check a plan file. The syntax comes from `syntax`, else from the extension.
pub fn load(path: &Path, syntax: Option<Syntax>) -> Loaded {
    let file = path.display().to_string();
    let syntax = match syntax.or_else(|| match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => Some(Syntax::Toml),
        Some("xml") => Some(Syntax::Xml),
        _ => None,
    }) {
        Some(s) => s,
        None => {
            return Loaded::failed(
                &file,
                "cannot tell the plan's syntax from its name".into(),
                Some("name it .toml or .xml, or pass --format toml|xml".into()),
            );
        }
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_PLAN_BYTES => {
            return Loaded::failed(
                &file,
                format!(
                    "the plan is {} bytes; plans over {MAX_PLAN_BYTES} bytes (10 MiB) are refused",
                    meta.len()
                ),
                None,
            );
        }
        Ok(_) => {}
        Err(e) => return Loaded::failed(&file, format!("cannot read the plan: {e}"), None),
    }
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, syntax, &file),
        Err(e) => Loaded::failed(&file, format!("cannot read the plan: {e}"), None),
    }
}

/// Check a plan given as text; `file` names it in diagnostics.
pub fn parse_str(text: &str, syntax: Syntax, file: &str) -> Loaded {
    let mut diagnostics = Diagnostics::default();
    let mut secrets = Vec::new();
    let plan = match syntax {
        Syntax::Toml => toml_reader::read(text, &mut diagnostics, &mut secrets),
        Syntax::Xml => {
            diagnostics.error(
                None,
                "the XML plan syntax is not supported by this build yet".to_string(),
                Some("write the plan in TOML (see docs/plan-format.md)".into()),
            );
            None
        }
    };
    // Snippets show the file; a literal secret in it is masked byte for byte, so every offset
    // stays right.
    let mut shown = text.as_bytes().to_vec();
    for span in secrets {
        for b in shown.get_mut(span).into_iter().flatten() {
            if *b != b'"' && *b != b'\'' {
                *b = b'*';
            }
        }
    }
    Loaded {
        file: file.into(),
        text: String::from_utf8_lossy(&shown).into_owned(),
        plan,
        diagnostics,
    }
}
