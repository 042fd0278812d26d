//! Names the commit s2d is built from, for `s2d --version` (`s2d 0.1.0 (abc1234 2026-12-06)`).
//!
//! In a git checkout: `git rev-parse --short HEAD`, `-dirty` when tracked files differ from
//! it, and the commit's date. Without git or `.git` (a source tarball, `cargo package`): the
//! environment variables `S2D_COMMIT` and `S2D_COMMIT_DATE` when set, else `unknown`.
//!
//! Sets `S2D_COMMIT` (hash, maybe `-dirty`, or `unknown`), `S2D_COMMIT_DATE` (YYYY-MM-DD or
//! empty) and `S2D_VERSION` (`0.1.0 (abc1234 2026-12-06)`) for the crate. It reruns when
//! HEAD moves (`.git/HEAD`, the branch's ref, `packed-refs`) and when `src/` changes (the
//! crate is rebuilt then anyway), not on every build; so `-dirty` reflects the tree as of
//! the last commit or source change (an edit to a file outside `src/` alone does not rerun it).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=S2D_COMMIT");
    println!("cargo:rerun-if-env-changed=S2D_COMMIT_DATE");

    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let (commit, date) = from_git(&manifest_dir).unwrap_or_else(from_env);

    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let detail = if date.is_empty() {
        commit.clone()
    } else {
        format!("{commit} {date}")
    };
    println!("cargo:rustc-env=S2D_COMMIT={commit}");
    println!("cargo:rustc-env=S2D_COMMIT_DATE={date}");
    println!("cargo:rustc-env=S2D_VERSION={version} ({detail})");
}

/// What the environment says (a packager's build from a tarball).
fn from_env() -> (String, String) {
    let commit = std::env::var("S2D_COMMIT")
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_graphic()))
        .unwrap_or_else(|| "unknown".to_string());
    let date = std::env::var("S2D_COMMIT_DATE")
        .ok()
        .map(|d| d.trim().to_string())
        .filter(|d| is_date(d))
        .unwrap_or_default();
    (commit, date)
}

/// What git says, when there is a `.git` here and git runs.
fn from_git(dir: &Path) -> Option<(String, String)> {
    if !dir.join(".git").exists() {
        return None;
    }
    watch_git(dir);
    let hash = git(dir, &["rev-parse", "--short", "HEAD"])?;
    if hash.is_empty() || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    // Tracked files only: an untracked scratch file does not make the build dirty.
    // --no-optional-locks: status must not refresh (write) the index while cargo builds.
    let dirty = git(
        dir,
        &[
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=no",
        ],
    )
    .is_some_and(|s| !s.is_empty());
    let date = git(dir, &["log", "-1", "--format=%cd", "--date=short", "HEAD"])
        .filter(|d| is_date(d))
        .unwrap_or_default();
    let commit = if dirty { format!("{hash}-dirty") } else { hash };
    Some((commit, date))
}

/// Rerun when HEAD moves or the sources change; `.git` may be a directory or, in a worktree,
/// a file naming one, so ask git where its files are.
fn watch_git(dir: &Path) {
    let mut watched = vec![dir.join("src")];
    for name in ["HEAD", "packed-refs"] {
        if let Some(p) = git(dir, &["rev-parse", "--git-path", name]) {
            watched.push(dir.join(p));
        }
    }
    if let Some(reference) = git(dir, &["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(dir, &["rev-parse", "--git-path", &reference])
    {
        watched.push(dir.join(p));
    }
    for path in watched {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}
