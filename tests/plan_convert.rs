//! `s2d convert`, run as a user would: every valid fixture and example plan goes to the other
//! syntax and back and gives the same plan; a plan with a literal password or with errors is
//! refused and nothing is written.

use std::path::{Path, PathBuf};
use std::process::Command;

use s2d::plan::{self, Syntax};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn s2d() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s2d"));
    cmd.env("NO_COLOR", "1").current_dir(root());
    cmd
}

fn plans(dir: &str, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(prefix) && Syntax::from_path(p).is_some() && name != "expected.toml"
        })
        .collect();
    out.sort();
    out
}

/// stderr with miette's line wrapping undone, for matching phrases.
fn unwrapped(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|l| {
            l.trim_start()
                .trim_start_matches("| ")
                .trim_start_matches('|')
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn convert(input: &Path, to: &str, output: &Path) -> std::process::Output {
    s2d()
        .args(["convert", "--to", to, "-o"])
        .arg(output)
        .arg(input)
        .output()
        .expect("s2d runs")
}

#[test]
fn there_and_back_gives_the_same_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = plans("tests/fixtures/plans", "valid-");
    files.extend(plans("plans", ""));
    let mut converted = 0;
    for file in files {
        let name = file.file_name().and_then(|n| n.to_str()).expect("name");
        let original = plan::load(&file, None);
        assert!(!original.has_errors(), "{name}: {:?}", original.diagnostics);
        let has_password = original
            .diagnostics
            .iter()
            .any(|d| d.message.contains("literal password"));
        let (other, back) = match Syntax::from_path(&file) {
            Some(Syntax::Toml) => ("xml", "toml"),
            _ => ("toml", "xml"),
        };
        let there = dir.path().join(format!("{name}.{other}"));
        let out = convert(&file, other, &there);
        if has_password {
            // Covered by the test below.
            assert_eq!(out.status.code(), Some(1), "{name}");
            continue;
        }
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let middle = plan::load(&there, None);
        assert!(
            middle.diagnostics.0.is_empty(),
            "{name} as {other}: {:?}\n{}",
            middle.diagnostics,
            middle.text
        );
        assert_eq!(middle.plan, original.plan, "{name} as {other}");

        let again = dir.path().join(format!("{name}.again.{back}"));
        let out = convert(&there, back, &again);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let end = plan::load(&again, None);
        assert!(
            end.diagnostics.0.is_empty(),
            "{name}: {:?}",
            end.diagnostics
        );
        assert_eq!(end.plan, original.plan, "{name} there and back");
        converted += 1;
    }
    assert!(converted >= 12, "{converted} plans converted");
}

#[test]
fn convert_writes_to_stdout_without_o() {
    let out = s2d()
        .args(["convert", "--to", "xml", "plans/quickstart.toml"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let loaded = plan::parse_str(&text, Syntax::Xml, "stdout");
    assert!(loaded.diagnostics.0.is_empty(), "{:?}", loaded.diagnostics);
    assert_eq!(
        loaded.plan,
        plan::load(&root().join("plans/quickstart.toml"), None).plan
    );
}

#[test]
fn a_literal_password_is_never_copied() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (file, to) in [
        ("tests/fixtures/plans/valid-literal-password.xml", "toml"),
        ("tests/fixtures/plans/valid-literal-password.toml", "xml"),
    ] {
        let target = dir.path().join(format!("out.{to}"));
        let out = convert(Path::new(file), to, &target);
        assert_eq!(out.status.code(), Some(1), "{file}");
        let stderr = unwrapped(&out.stderr);
        assert!(stderr.contains("never writes a secret"), "{stderr}");
        assert!(stderr.contains("password_env"), "{stderr}");
        assert!(!stderr.contains("correct-horse"), "leaked: {stderr}");
        assert!(!target.exists(), "{file}: something was written");
        let stdout = s2d()
            .args(["convert", "--to", to, file])
            .output()
            .expect("runs");
        assert!(stdout.stdout.is_empty(), "{file}: wrote to stdout");
    }
}

#[test]
fn an_invalid_plan_is_not_converted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("out.xml");
    let out = convert(
        Path::new("tests/fixtures/plans/invalid-unknown-key.toml"),
        "xml",
        &target,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = unwrapped(&out.stderr);
    assert!(stderr.contains("unknown key `diskformat`"), "{stderr}");
    assert!(stderr.contains("nothing converted"), "{stderr}");
    assert!(!target.exists());
}

/// An example given in both syntaxes (`plans/two-nics.toml` and `plans/two-nics.xml`, ...)
/// is one plan.
#[test]
fn examples_in_both_syntaxes_are_the_same_plan() {
    let mut pairs = 0;
    for toml in plans("plans", "") {
        if Syntax::from_path(&toml) != Some(Syntax::Toml) {
            continue;
        }
        let xml = toml.with_extension("xml");
        if !xml.exists() {
            continue;
        }
        let (a, b) = (plan::load(&toml, None), plan::load(&xml, None));
        assert!(!a.has_errors(), "{}: {:?}", toml.display(), a.diagnostics);
        assert!(!b.has_errors(), "{}: {:?}", xml.display(), b.diagnostics);
        assert_eq!(a.plan, b.plan, "{} and {}", toml.display(), xml.display());
        pairs += 1;
    }
    assert!(
        plans("plans", "two-nics").len() == 2 && pairs >= 3,
        "{pairs} pairs"
    );
}
