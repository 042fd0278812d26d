//! How the CLI shows an error that ended a command: the workflow's [`Taught`] form (message
//! with its causes, stable code, help, request id) as a miette report on stderr, and as
//! `{"error": {...}}` for `--json` commands.

use crate::workflow::Taught;

/// The error as a miette diagnostic: `× message`, the code beside it, `help:` under it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Shown {
    message: String,
    code: String,
    help: Option<String>,
}

impl miette::Diagnostic for Shown {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(&self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
}

/// The error for a person, rendered with miette's graphical handler: colour when asked,
/// wrapped to `width` columns (`None`: not wrapped, as for a log or a pipe).
pub fn human(taught: &Taught, color: bool, width: Option<usize>) -> String {
    let mut message = taught.message.clone();
    if let Some(id) = &taught.request_id
        && !message.contains(id.as_str())
    {
        message.push_str(&format!(" (request id {id})"));
    }
    let shown = Shown {
        message,
        code: taught.code.clone(),
        help: taught.help.clone(),
    };
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(width.unwrap_or(usize::MAX / 4));
    if handler.render_report(&mut out, &shown).is_err() {
        return format!("error[{}]: {}", taught.code, taught.message);
    }
    out.trim_end().to_string()
}

/// The error as `--json` prints it.
pub fn json(taught: &Taught) -> String {
    serde_json::json!({ "error": taught }).to_string()
}
