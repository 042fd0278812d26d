//! What a package installs beside the binary, checked on the real `s2d`: the shell
//! completions load and complete, the manual pages render with `man -l`, and `--version`
//! names the commit.
//!
//! Needs bash and `man` (Debian's man-db, which brings groff); tests/run.sh installs man-db
//! when it is missing. Nothing here is skipped.

use std::path::Path;
use std::process::{Command, Output};

use clap::CommandFactory;
use s2d::cli::Cli;

fn s2d(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_s2d"))
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("s2d runs");
    assert!(
        out.status.success(),
        "s2d {args:?}: exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(args: &[&str]) -> String {
    String::from_utf8(s2d(args).stdout).expect("UTF-8")
}

/// clap's own list of s2d's subcommands (not a copy that could drift).
fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

fn bash(script: &str) -> Output {
    Command::new("bash")
        .args(["--norc", "--noprofile", "-c", script])
        .output()
        .unwrap_or_else(|e| panic!("bash could not be run ({e})"))
}

#[test]
fn the_bash_completion_is_valid_bash_and_completes_subcommands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("s2d.bash");
    std::fs::write(&file, stdout(&["completions", "bash"])).expect("write");

    let check = Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .expect("bash runs");
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    // What bash does on `s2d pl<TAB>`, `s2d state <TAB>` and `s2d completions <TAB>`.
    let script = format!(
        r#"source '{}' || exit 9
complete -p s2d || exit 8
ask() {{ COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}
  COMPREPLY=(); _s2d s2d "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
  echo "$1 ${{COMP_WORDS[*]:1}} => ${{COMPREPLY[*]}}"; }}
ask s2d pl
ask s2d state ''
ask s2d completions ''
"#,
        file.display()
    );
    let out = bash(&script);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = said.lines().collect();
    let replies = |prefix: &str| -> Vec<String> {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in:\n{said}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert!(lines[0].starts_with("complete "), "{said}");
    assert!(lines[0].contains("-F _s2d s2d"), "{said}");
    assert_eq!(replies("s2d pl => "), ["plan"], "{said}");
    let state = replies("s2d state  => ");
    assert!(
        state.contains(&"list".into()) && state.contains(&"rm".into()),
        "{said}"
    );
    let shells = replies("s2d completions  => ");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        assert!(shells.contains(&shell.to_string()), "{shell}: {said}");
    }
}

#[test]
fn the_other_shells_get_a_script_naming_every_subcommand() {
    let names = subcommands();
    assert!(names.len() >= 14, "{names:?}");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let script = stdout(&["completions", shell]);
        assert!(script.len() > 1000, "{shell}: {} bytes", script.len());
        for name in &names {
            assert!(script.contains(name.as_str()), "{shell}: no `{name}`");
        }
    }
    assert!(stdout(&["completions", "zsh"]).starts_with("#compdef s2d"));
}

#[test]
fn an_unknown_shell_is_refused_with_the_choices() {
    let out = Command::new(env!("CARGO_BIN_EXE_s2d"))
        .args(["completions", "tcsh"])
        .output()
        .expect("s2d runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bash") && err.contains("powershell"), "{err}");
}

fn man_l(page: &Path) -> String {
    let out = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| {
            panic!("man could not be run ({e}): install man-db (`apt-get install -y man-db`); tests/run.sh does")
        });
    assert!(
        out.status.success(),
        "man -l {}: {}",
        page.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn man_writes_a_page_per_subcommand_and_they_render() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("man1");
    s2d(&["man", "--out", out_dir.to_str().expect("UTF-8 path")]);

    let mut want = vec!["s2d.1".to_string()];
    let cmd = Cli::command();
    for sub in cmd.get_subcommands() {
        want.push(format!("s2d-{}.1", sub.get_name()));
        for nested in sub.get_subcommands().filter(|n| n.get_name() != "help") {
            want.push(format!("s2d-{}-{}.1", sub.get_name(), nested.get_name()));
        }
    }
    assert!(want.contains(&"s2d-state-list.1".to_string()), "{want:?}");
    for name in &want {
        assert!(out_dir.join(name).is_file(), "{name} not written");
    }

    let top = man_l(&out_dir.join("s2d.1"));
    assert!(top.contains("NAME") && top.contains("SUBCOMMANDS"), "{top}");
    for name in subcommands() {
        assert!(
            top.contains(&format!("s2d-{name}(1)")),
            "no s2d-{name}(1) in:\n{top}"
        );
    }
    let plan = man_l(&out_dir.join("s2d-plan.1"));
    assert!(plan.contains("--detailed-exitcode"), "{plan}");
    let list = man_l(&out_dir.join("s2d-state-list.1"));
    assert!(list.contains("--state"), "{list}");
}

#[test]
fn man_without_out_prints_the_top_page() {
    let page = stdout(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH s2d 1"),
        "{page}"
    );
    assert!(page.contains("s2d\\-plan(1)") || page.contains("s2d-plan(1)"));
}

/// `s2d 0.1.0 (abc1234 2026-12-06)`, `-dirty` after the hash in a changed tree, `unknown`
/// where neither git nor S2D_COMMIT said.
#[test]
fn version_names_the_commit() {
    let line = stdout(&["--version"]);
    let line = line.trim_end();
    let rest = line
        .strip_prefix(&format!("s2d {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("`{line}`"));
    let (commit, date) = match rest.split_once(' ') {
        Some((c, d)) => (c, Some(d)),
        None => (rest, None),
    };
    let hash = commit.strip_suffix("-dirty").unwrap_or(commit);
    assert!(
        hash == "unknown" || (hash.len() >= 7 && hash.chars().all(|c| c.is_ascii_hexdigit())),
        "`{line}`"
    );
    if let Some(date) = date {
        let ok = date.len() == 10
            && date.char_indices().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            });
        assert!(ok, "`{line}`");
    }
    // In a git checkout the hash is HEAD's (the build script ran git the same way).
    if Path::new(env!("CARGO_MANIFEST_DIR")).join(".git").exists()
        && let Ok(out) = Command::new("git")
            .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
            .output()
        && out.status.success()
        && hash != "unknown"
    {
        // HEAD may have moved since the build (another commit); only the shape is certain then.
        let head = String::from_utf8_lossy(&out.stdout);
        if !head.starts_with(hash) {
            eprintln!("s2d was built at {hash}; HEAD is now {}", head.trim());
        }
    }
}
