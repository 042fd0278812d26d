//! The plan: its model, the TOML and XML readers, validation, located diagnostics, and the
//! writers of both syntaxes.
//!
//! [`load`] reads a plan file and returns the plan (when usable) together with every problem
//! found, each with its place in the file; [`parse_str`] does the same for text;
//! [`to_toml`] and [`to_xml`] write a plan. The format is specified in `docs/plan-format.md`
//! and, for XML, by `schemas/s2d-plan-1.xsd`. Knows nothing of HTTP, clouds or the engine:
//! code that acts on a plan uses [`Server::resolved`] for every default.
//!
//! Layout: `model` (the types), `toml_reader`, `xml_reader`, `validate` (rules both readers
//! share), `diag` (diagnostics, line/column, miette and JSON forms), `writer`.

mod diag;
mod model;
mod toml_reader;
mod validate;
mod writer;
mod xml_reader;

pub use validate::boot::{
    GLANCE_ATTRIBUTES, MARKER_PREFIX, MAX_NAME_CHARS, MAX_PROPERTY_CHARS, SOURCE_ONLY_PROPERTIES,
    is_glance_attribute, is_source_only_property,
};
pub use validate::volumes::VOLUME_FORMATS;
pub use validate::{DISK_FORMATS, INTERFACES, TRANSFER_MODES, VISIBILITIES};
pub use writer::{WriteError, to_toml, to_xml};
pub use xml_reader::NAMESPACE;

use std::io::Read;
use std::path::Path;

pub use diag::{
    Diagnostic, Diagnostics, Excerpt, JsonDiagnostic, Located, MAX_DIAGNOSTICS, Severity,
    line_column,
};
pub use model::{
    CloudRef, FloatingIp, ImageOptions, InlineAuth, KeypairMode, NetworkBuild, NicMap, Plan,
    ResolvedServer, RouterBuild, SOURCE_PLACEHOLDER, Secret, Selection, Server, ServerGroupMode,
    ServerOptions, TransferMode, UserData, VolumeFormat, glob,
};

/// Plans larger than this are refused before they are read.
pub const MAX_PLAN_BYTES: u64 = 10 * 1024 * 1024;

/// The syntax of a plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// TOML (`.toml`).
    Toml,
    /// XML in the namespace `urn:s2d:plan:1` (`.xml`).
    Xml,
}

impl Syntax {
    /// The syntax a file's extension names (`.toml`, `.xml`), if any.
    pub fn from_path(path: &Path) -> Option<Syntax> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("toml") => Some(Syntax::Toml),
            Some(e) if e.eq_ignore_ascii_case("xml") => Some(Syntax::Xml),
            _ => None,
        }
    }

    /// The file extension of this syntax, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Syntax::Toml => "toml",
            Syntax::Xml => "xml",
        }
    }
}

/// A loaded plan file: its text, the plan if it could be built, and every diagnostic.
///
/// Use the plan only when [`Loaded::has_errors`] is false: a plan with errors may be built
/// (so that later checks can run) but is not fit to act on.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file's name as given (diagnostics name it so).
    pub file: String,
    /// The file's text, with any literal secret masked (`*`) byte for byte.
    pub text: String,
    /// The plan, when the file could be read into one.
    pub plan: Option<Plan>,
    /// Every problem found, in the order found.
    pub diagnostics: Diagnostics,
}

impl Loaded {
    /// Whether any diagnostic is an error (warnings do not make a plan invalid).
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
                    code: d.code,
                }
            })
            .collect()
    }

    /// The plan, if it has no errors.
    pub fn valid_plan(&self) -> Option<&Plan> {
        if self.has_errors() {
            None
        } else {
            self.plan.as_ref()
        }
    }

    /// The file's text as a miette source, for reports of one's own about this plan.
    pub fn source(&self) -> miette::NamedSource<String> {
        miette::NamedSource::new(&self.file, self.text.clone())
    }

    /// The diagnostics as miette reports, with the file's text for snippets.
    pub fn reports(&self) -> Vec<Located> {
        self.diagnostics
            .iter()
            .map(|d| Located::new(&self.file, &self.text, d))
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
///
/// Never fails: an unreadable, oversized (over [`MAX_PLAN_BYTES`], checked before reading)
/// or unnamed file gives a [`Loaded`] without a plan and with an error diagnostic.
pub fn load(path: &Path, syntax: Option<Syntax>) -> Loaded {
    let file = path.display().to_string();
    let syntax = match syntax.or_else(|| Syntax::from_path(path)) {
        Some(s) => s,
        None => {
            return Loaded::failed(
                &file,
                "cannot tell the plan's syntax from its name".into(),
                Some("name it .toml or .xml, or pass --format toml|xml".into()),
            );
        }
    };
    let too_big = |size: u64| {
        Loaded::failed(
            &file,
            format!(
                "the plan is {size} bytes or more; plans over {MAX_PLAN_BYTES} bytes (10 MiB) are refused"
            ),
            None,
        )
    };
    let cannot =
        |e: std::io::Error| Loaded::failed(&file, format!("cannot read the plan: {e}"), None);
    let opened = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return cannot(e),
    };
    match opened.metadata() {
        Ok(meta) if meta.len() > MAX_PLAN_BYTES => return too_big(meta.len()),
        Ok(_) => {}
        Err(e) => return cannot(e),
    }
    // The size is checked again while reading: the file may grow, or be a pipe.
    let mut bytes = Vec::new();
    if let Err(e) = opened.take(MAX_PLAN_BYTES + 1).read_to_end(&mut bytes) {
        return cannot(e);
    }
    if bytes.len() as u64 > MAX_PLAN_BYTES {
        return too_big(bytes.len() as u64);
    }
    match String::from_utf8(bytes) {
        Ok(text) => parse_str(&text, syntax, &file),
        Err(e) => Loaded::failed(
            &file,
            format!(
                "the plan is not UTF-8 text (at byte {})",
                e.utf8_error().valid_up_to()
            ),
            Some("save it as UTF-8".into()),
        ),
    }
}

/// Check a plan given as text; `file` names it in diagnostics. Text over [`MAX_PLAN_BYTES`] is
/// refused unread (callers that receive it should bound it earlier, as the service does).
pub fn parse_str(text: &str, syntax: Syntax, file: &str) -> Loaded {
    if text.len() as u64 > MAX_PLAN_BYTES {
        return Loaded::failed(
            file,
            format!(
                "the plan is {} bytes; plans over {MAX_PLAN_BYTES} bytes (10 MiB) are refused",
                text.len()
            ),
            None,
        );
    }
    let mut diagnostics = Diagnostics::default();
    let mut secrets = Vec::new();
    let plan = match syntax {
        Syntax::Toml => toml_reader::read(text, &mut diagnostics, &mut secrets),
        Syntax::Xml => xml_reader::read(text, &mut diagnostics, &mut secrets),
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
