//! `s2d convert FILE --to toml|xml [-o OUT]`: the same plan in the other syntax.
//!
//! Only a plan without errors is converted, and never one that holds a literal password:
//! s2d does not copy a secret into a new file (the user moves it into an environment variable
//! first). The output is written whole or not at all (a temporary file renamed into place).
//! Comments of the input are not carried over.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, anyhow, bail};

use super::args::{ConvertArgs, PlanSyntax};
use super::validate::syntax;
use super::{ExitStatus, Ui};
use crate::{files, plan};

pub fn run(args: &ConvertArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    let loaded = plan::load(&args.file, syntax(args.format));
    for report in loaded.reports() {
        eprintln!("{:?}", miette::Report::new(report));
    }
    let Some(p) = loaded.valid_plan() else {
        bail!(
            "{} is not a valid plan: nothing converted (see `s2d validate {}`)",
            loaded.file,
            loaded.file
        );
    };
    let text = match args.to {
        PlanSyntax::Toml => plan::to_toml(p),
        PlanSyntax::Xml => plan::to_xml(p),
    }
    .map_err(|e| {
        anyhow!(
            "{e}: put the password in an environment variable and name it with `password_env` (XML: `passwordEnv`), then convert again; nothing written"
        )
    })?;
    match &args.output {
        None => {
            std::io::stdout().write_all(text.as_bytes())?;
        }
        Some(out) => {
            write_whole(out, &text, true)?;
            if !ui.quiet {
                eprintln!("wrote {}", out.display());
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// Write `text` to `path` through a temporary file in the same directory, renamed into place:
/// a reader sees the old file or the new one, never half of it. Without `overwrite`, an
/// existing `path` is left alone and the error is an `io::Error` of kind `AlreadyExists`.
pub(crate) fn write_whole(path: &Path, text: &str, overwrite: bool) -> anyhow::Result<()> {
    let existing = if overwrite {
        files::Existing::Replace
    } else {
        files::Existing::Keep
    };
    files::write_whole(path, text.as_bytes(), existing)
        .with_context(|| format!("writing {}", path.display()))
}
