//! `s2d validate FILE...`: check plans and report every problem with its place.

use super::args::{PlanSyntax, ValidateArgs};
use super::{ExitStatus, Ui};
use crate::plan::{self, Syntax};

pub(crate) fn syntax(choice: Option<PlanSyntax>) -> Option<Syntax> {
    choice.map(|s| match s {
        PlanSyntax::Toml => Syntax::Toml,
        PlanSyntax::Xml => Syntax::Xml,
    })
}

pub fn run(args: &ValidateArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    let mut all_valid = true;
    let mut json = Vec::new();
    for file in &args.files {
        let loaded = plan::load(file, syntax(args.format));
        all_valid &= !loaded.has_errors();
        if args.json {
            json.extend(loaded.json());
            continue;
        }
        for report in loaded.reports() {
            eprintln!("{:?}", miette::Report::new(report));
        }
        if !ui.quiet || loaded.has_errors() {
            let errors = loaded
                .diagnostics
                .iter()
                .filter(|d| d.severity == plan::Severity::Error)
                .count();
            let warnings = loaded.diagnostics.0.len() - errors;
            let mut line = if errors == 0 {
                format!("{}: valid", loaded.file)
            } else {
                format!(
                    "{}: {errors} error{}",
                    loaded.file,
                    if errors == 1 { "" } else { "s" }
                )
            };
            if warnings > 0 {
                line.push_str(&format!(
                    ", {warnings} warning{}",
                    if warnings == 1 { "" } else { "s" }
                ));
            }
            eprintln!("{line}");
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(if all_valid {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
