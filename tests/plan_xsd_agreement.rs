//! `s2d validate` and the published schema `schemas/s2d-plan-1.xsd` agree.
//!
//! Runs `xmllint --noout --schema schemas/s2d-plan-1.xsd` (libxml2-utils) over every XML
//! fixture in `tests/fixtures/plans/` and compares its verdict with `s2d validate`'s:
//! `valid-` both accept, `invalid-` both reject (structural cases), `semantic-` the schema
//! accepts and s2d rejects (rules XML Schema 1.0 cannot express; see the README there). The
//! example plans in `plans/` must satisfy both. Without xmllint this test fails: install
//! libxml2-utils.

use std::path::{Path, PathBuf};
use std::process::Command;

const SCHEMA: &str = "schemas/s2d-plan-1.xsd";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn xml_files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("fixture dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    out.sort();
    out
}

/// xmllint's verdict on `file`, and what it said.
fn xmllint(file: &Path) -> (bool, String) {
    let out = match Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(root().join(SCHEMA))
        .arg(file)
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!(
            "xmllint could not be run ({e}): install libxml2-utils (e.g. `apt-get install -y libxml2-utils`); this test is the referee of the XML schema and is never skipped"
        ),
    };
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `s2d validate`'s verdict on `file`, and what it said.
fn s2d(file: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_s2d"))
        .env("NO_COLOR", "1")
        .arg("validate")
        .arg(file)
        .output()
        .expect("s2d runs");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}: exit {:?}",
        file.display(),
        out.status.code()
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_schema_itself_is_well_formed_and_xmllint_is_present() {
    let out = Command::new("xmllint")
        .args(["--noout"])
        .arg(root().join(SCHEMA))
        .output()
        .unwrap_or_else(|e| panic!("xmllint could not be run ({e}): install libxml2-utils"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn s2d_and_the_xsd_agree_on_every_xml_fixture() {
    let files = xml_files("tests/fixtures/plans");
    assert!(files.len() >= 20, "{} XML fixtures", files.len());
    let mut seen = [0usize; 3];
    let mut disagreements = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_string();
        let (want_xsd, want_s2d, kind) = if name.starts_with("valid-") {
            (true, true, 0)
        } else if name.starts_with("invalid-") {
            (false, false, 1)
        } else if name.starts_with("semantic-") {
            (true, false, 2)
        } else {
            panic!("{name}: a fixture's name starts with valid-, invalid- or semantic-");
        };
        seen[kind] += 1;
        let (xsd_ok, xsd_says) = xmllint(file);
        let (s2d_ok, s2d_says) = s2d(file);
        if xsd_ok != want_xsd || s2d_ok != want_s2d {
            disagreements.push(format!(
                "{name}: xmllint {} (want {}), s2d {} (want {})\n--- xmllint:\n{xsd_says}\n--- s2d:\n{s2d_says}",
                verdict(xsd_ok),
                verdict(want_xsd),
                verdict(s2d_ok),
                verdict(want_s2d)
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n\n"));
    assert!(
        seen.iter().all(|n| *n >= 3),
        "valid/invalid/semantic fixtures: {seen:?}"
    );
}

#[test]
fn the_example_plans_satisfy_the_schema() {
    let files = xml_files("plans");
    assert!(!files.is_empty());
    for file in files {
        let (ok, says) = xmllint(&file);
        assert!(ok, "{}: {says}", file.display());
        let (ok, says) = s2d(&file);
        assert!(ok, "{}: {says}", file.display());
    }
}

#[test]
fn what_s2d_writes_satisfies_the_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    for file in std::fs::read_dir(root().join("tests/fixtures/plans"))
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
    {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.starts_with("valid-") || name.contains("literal-password") {
            continue;
        }
        let out = dir.path().join(format!("{name}.xml"));
        let run = Command::new(env!("CARGO_BIN_EXE_s2d"))
            .args(["convert", "--to", "xml", "-q", "-o"])
            .arg(&out)
            .arg(&file)
            .output()
            .expect("s2d runs");
        assert!(
            run.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let (ok, says) = xmllint(&out);
        assert!(ok, "{name} converted: {says}");
        checked += 1;
    }
    assert!(checked >= 8, "{checked}");
}

fn verdict(ok: bool) -> &'static str {
    if ok { "accepts" } else { "rejects" }
}
