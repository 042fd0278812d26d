//! `s2d completions SHELL` and `s2d man [--out DIR]`: what a package installs beside the
//! binary, generated from the clap definition itself so it never drifts from `--help`.
//!
//! `s2d man` without `--out` prints the top page (s2d.1) on stdout, e.g. for
//! `s2d man | man -l -`; with `--out DIR` it writes s2d.1 and one page per subcommand, named
//! after its path (s2d-plan.1, s2d-state-list.1), and prints nothing but the file names with
//! `-v`. `packaging/build-deb.sh` runs both for the Debian package.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_mangen::Man;

use super::args::{Cli, CompletionsArgs, ManArgs};
use super::{ExitStatus, Ui};

/// What can go wrong while writing the manual pages.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ReleaseError {
    #[error("cannot create the directory {}", path.display())]
    #[diagnostic(code(s2d::man::create_dir))]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the manual page {}", path.display())]
    #[diagnostic(code(s2d::man::write))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write to stdout")]
    #[diagnostic(code(s2d::io::stdout))]
    Stdout(#[source] std::io::Error),
}

pub fn completions(args: &CompletionsArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "s2d", &mut script);
    std::io::stdout()
        .write_all(&script)
        .map_err(ReleaseError::Stdout)?;
    Ok(ExitStatus::Success)
}

pub fn man(args: &ManArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    match &args.out {
        None => {
            let mut page = Vec::new();
            page_of(top_command())
                .render(&mut page)
                .map_err(ReleaseError::Stdout)?;
            std::io::stdout()
                .write_all(&page)
                .map_err(ReleaseError::Stdout)?;
        }
        Some(dir) => {
            for path in write_pages(dir)? {
                tracing::info!("wrote {}", path.display());
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// Write s2d.1 and a page for every (nested) subcommand into `dir`; returns the files written.
pub fn write_pages(dir: &Path) -> Result<Vec<PathBuf>, ReleaseError> {
    std::fs::create_dir_all(dir).map_err(|source| ReleaseError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let mut todo = vec![top_command()];
    while let Some(cmd) = todo.pop() {
        todo.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
        let man = page_of(cmd);
        let path = dir.join(man.get_filename());
        let mut page = Vec::new();
        man.render(&mut page)
            .and_then(|()| std::fs::write(&path, &page))
            .map_err(|source| ReleaseError::Write {
                path: path.clone(),
                source,
            })?;
        written.push(path);
    }
    written.sort();
    Ok(written)
}

/// The whole command, built (global flags propagated, subcommands named `s2d-plan`, ...),
/// without clap's `help` subcommand, which needs no page.
fn top_command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

fn page_of(cmd: clap::Command) -> Man {
    let man = Man::new(cmd).manual("s2d manual");
    let date = env!("S2D_COMMIT_DATE");
    if date.is_empty() { man } else { man.date(date) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_for_every_subcommand_with_its_path_in_the_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = write_pages(dir.path()).expect("pages");
        let names: Vec<String> = written
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect();
        for want in [
            "s2d.1",
            "s2d-plan.1",
            "s2d-state.1",
            "s2d-state-list.1",
            "s2d-man.1",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
    }
}
