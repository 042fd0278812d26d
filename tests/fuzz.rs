//! The fuzz suite of the readers of outside input (issue 20): the committed corpus replayed,
//! a short seeded campaign per reader, and the hostile inputs (billion laughs, external
//! entities, 100,000-deep nesting) each refused in under a second and under 50 MiB.
//!
//! The long campaign is `cargo run --release --example fuzz_campaign` (docs/fuzzing.md).
//! `S2D_FUZZ_INPUTS` and `S2D_FUZZ_SEED` change this file's short campaign.

#[path = "fuzz/mod.rs"]
mod fuzz;

use std::process::Command;
use std::time::{Duration, Instant};

use fuzz::alloc::{self, Counting};
use fuzz::mutate::{Format, Limits, deep, laughs};
use fuzz::targets::{self, ALL, Reader, Scratch, Verdict};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1024 * 1024;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn every_reader_has_seeds() {
    for reader in ALL {
        let seeds = reader.seeds();
        assert!(seeds.len() >= 3, "{}: {} seeds", reader.name(), seeds.len());
    }
    // Every plan fixture and example is a seed of its syntax, and so is `s2d init`'s plan.
    assert!(Reader::Toml.seeds().len() > 30);
    assert!(Reader::Xml.seeds().len() > 30);
    // Fleets among them (`plans/fleet.*`, the fleet fixtures), so mutations reach `select`.
    let has = |reader: Reader, needle: &str| {
        reader
            .seeds()
            .iter()
            .any(|s| String::from_utf8_lossy(s).contains(needle))
    };
    assert!(has(Reader::Toml, "select = {"), "no TOML fleet seed");
    assert!(has(Reader::Xml, "<select"), "no XML fleet seed");
    // Networks too (`plans/two-nics.*`, `valid-networks.*`), so mutations reach them.
    assert!(has(Reader::Toml, "[[network]]"), "no TOML network seed");
    assert!(has(Reader::Xml, "<networks>"), "no XML network seed");
    // Volumes too (`plans/volumes.*`, `valid-volumes.*`).
    assert!(has(Reader::Toml, "skip_volumes"), "no TOML volume seed");
    assert!(has(Reader::Xml, "<volumes"), "no XML volume seed");
}

/// Every seed and every file of tests/fuzz-corpus/ (what the campaigns ever found) reads
/// without a panic.
#[test]
fn corpus_replays_without_panic() {
    let scratch = Scratch::new();
    let mut failures = Vec::new();
    let mut count = 0;
    for reader in ALL {
        for (i, input) in reader.seeds().iter().enumerate() {
            count += 1;
            if let Err(message) = fuzz::guarded(reader, input, &scratch) {
                failures.push(format!("{} seed {i}: {message}", reader.name()));
            }
        }
        for (path, input) in fuzz::seeds::corpus(reader.name()) {
            count += 1;
            if let Err(message) = fuzz::guarded(reader, &input, &scratch) {
                failures.push(format!("{}: {message}", path.display()));
            }
        }
    }
    assert!(count > 100, "only {count} inputs");
    assert!(failures.is_empty(), "panics:\n{}", failures.join("\n"));
}

/// The valid seeds are accepted (so the mutations start from inputs that get deep into the
/// readers).
#[test]
fn valid_seeds_are_accepted() {
    let scratch = Scratch::new();
    for reader in ALL {
        let accepted = reader
            .seeds()
            .iter()
            .filter(|s| fuzz::guarded(reader, s, &scratch) == Ok(Verdict::Accepted))
            .count();
        assert!(
            accepted >= 2,
            "{}: {accepted} seeds accepted",
            reader.name()
        );
    }
}

fn short_campaign(reader: Reader) {
    let inputs = env_u64("S2D_FUZZ_INPUTS", 1500);
    let seed = env_u64("S2D_FUZZ_SEED", 20);
    // Debug builds, on the test threads' 2 MiB stacks: shallower nesting than the release
    // campaign (the hostile tests below go to 100,000 in a process of their own).
    let limits = Limits {
        max_depth: 200,
        max_len: 64 * 1024,
    };
    let seeds = reader.seeds();
    let config = fuzz::Config {
        seed,
        limits,
        slow: Duration::from_secs(10),
    };
    let stats = fuzz::campaign(reader, &seeds, &config, 0, inputs, |_| {});
    eprintln!(
        "{}: {} inputs in {:.1?} ({} accepted, {} refused), {} panics, slowest {:.1?}",
        reader.name(),
        stats.inputs,
        stats.elapsed,
        stats.accepted,
        stats.refused,
        stats.panics,
        stats.slowest
    );
    assert_eq!(
        stats.panics,
        0,
        "{}: panics (kept in tests/fuzz-corpus/{}/):\n{}",
        reader.name(),
        reader.name(),
        stats.messages.join("\n")
    );
    assert_eq!(stats.slow, 0, "slow inputs:\n{}", stats.messages.join("\n"));
    assert!(
        stats.refused > 0,
        "{}: every mutation was accepted",
        reader.name()
    );
}

#[test]
fn campaign_toml() {
    short_campaign(Reader::Toml);
}

#[test]
fn campaign_xml() {
    short_campaign(Reader::Xml);
}

#[test]
fn campaign_clouds_yaml() {
    short_campaign(Reader::CloudsYaml);
}

#[test]
fn campaign_state() {
    short_campaign(Reader::State);
}

#[test]
fn campaign_saved_plan() {
    short_campaign(Reader::SavedPlan);
}

#[test]
fn campaign_job_options() {
    short_campaign(Reader::JobOptions);
}

#[test]
fn campaigns_are_reproducible_from_their_seed() {
    let limits = Limits {
        max_depth: 200,
        max_len: 64 * 1024,
    };
    for reader in ALL {
        let seeds = reader.seeds();
        for index in [0, 1, 77, 100_000] {
            let a = fuzz::input_for(reader, &seeds, 5, index, &limits);
            let b = fuzz::input_for(reader, &seeds, 5, index, &limits);
            assert_eq!(a, b, "{} input {index}", reader.name());
        }
        let a = fuzz::input_for(reader, &seeds, 5, 1, &limits);
        let b = fuzz::input_for(reader, &seeds, 6, 1, &limits);
        let c = fuzz::input_for(reader, &seeds, 5, 2, &limits);
        assert!(
            a != b || a != c,
            "{}: the seed changes nothing",
            reader.name()
        );
    }
}

// ---- Hostile inputs -------------------------------------------------------------------------

/// Run `body` in a child process of this test binary (only this test, on the test harness's
/// 2 MiB thread stack, a tokio worker's): a stack overflow kills the child, not every other
/// test, and is reported as this test's failure.
fn isolated(name: &str, body: impl FnOnce()) {
    const CHILD: &str = "S2D_FUZZ_HOSTILE_CHILD";
    if std::env::var(CHILD).as_deref() == Ok(name) {
        body();
        return;
    }
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .expect("running the test in a child process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} failed in its child process ({}; a signal means a stack overflow or an abort)\n\
         --- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("1 passed"),
        "{name} did not run in the child:\n{stdout}"
    );
    eprint!("{stderr}");
}

/// Feed `input` to `reader`: it must be refused (not accepted, not a panic) in under a second
/// with a peak under 50 MiB of heap.
fn refused_quickly(what: &str, reader: Reader, input: &[u8]) {
    let scratch = Scratch::new();
    let started = Instant::now();
    let (outcome, peak) = alloc::measure(|| fuzz::guarded(reader, input, &scratch));
    let took = started.elapsed();
    eprintln!(
        "{what}: {} bytes to {}: {outcome:?} in {took:.1?}, peak heap {:.1} MiB",
        input.len(),
        reader.name(),
        peak as f64 / MIB as f64
    );
    match outcome {
        Ok(Verdict::Refused) => {}
        Ok(Verdict::Accepted) => panic!("{what}: accepted"),
        Err(message) => panic!("{what}: panicked: {message}"),
    }
    assert!(
        took < Duration::from_secs(1),
        "{what}: took {took:?} (at most 1 s)"
    );
    assert!(
        peak < 50 * MIB,
        "{what}: peak heap {peak} bytes (at most 50 MiB)"
    );
}

const DEPTH: usize = 100_000;

fn xml_plan_around(inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<plan xmlns=\"urn:s2d:plan:1\" version=\"1\">\
         <source cloud=\"a\"/><target cloud=\"b\"/>{inner}</plan>\n"
    )
}

#[test]
fn hostile_xml_billion_laughs() {
    isolated("hostile_xml_billion_laughs", || {
        refused_quickly(
            "XML billion laughs",
            Reader::Xml,
            laughs(Format::Xml, 10).as_bytes(),
        );
        // The entities used in an attribute and in text.
        let doc = laughs(Format::Xml, 10).replace(
            "</plan>",
            "<server source=\"&lol9;\" name=\"x\">&lol9;</server></plan>",
        );
        refused_quickly("XML billion laughs in text", Reader::Xml, doc.as_bytes());
        // Quadratic blowup: one big entity referenced many times.
        let big = "x".repeat(50_000);
        let refs = "&big;".repeat(50_000);
        let doc = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE plan [<!ENTITY big \"{big}\">]>\
             <plan xmlns=\"urn:s2d:plan:1\" version=\"1\"><source cloud=\"{refs}\"/></plan>"
        );
        refused_quickly("XML quadratic blowup", Reader::Xml, doc.as_bytes());
    });
}

#[test]
fn hostile_xml_external_entities() {
    isolated("hostile_xml_external_entities", || {
        for (what, doc) in [
            (
                "XML external entity (file)",
                "<?xml version=\"1.0\"?><!DOCTYPE plan [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\
                 <plan xmlns=\"urn:s2d:plan:1\" version=\"1\"><source cloud=\"&xxe;\"/><target cloud=\"b\"/>\
                 <server source=\"s\" name=\"n\"/></plan>",
            ),
            (
                "XML external entity (http)",
                "<?xml version=\"1.0\"?><!DOCTYPE plan [<!ENTITY xxe SYSTEM \"http://127.0.0.1:9/x\">]>\
                 <plan xmlns=\"urn:s2d:plan:1\" version=\"1\"><source cloud=\"a\"/><target cloud=\"b\"/>\
                 <server source=\"s\" name=\"n\">&xxe;</server></plan>",
            ),
            (
                "XML external parameter entity",
                "<?xml version=\"1.0\"?><!DOCTYPE plan [<!ENTITY % dtd SYSTEM \"http://127.0.0.1:9/evil.dtd\"> %dtd;]>\
                 <plan xmlns=\"urn:s2d:plan:1\" version=\"1\"><source cloud=\"a\"/><target cloud=\"b\"/>\
                 <server source=\"s\" name=\"n\"/></plan>",
            ),
            (
                "XML external DTD",
                "<?xml version=\"1.0\"?><!DOCTYPE plan SYSTEM \"file:///etc/passwd\">\
                 <plan xmlns=\"urn:s2d:plan:1\" version=\"1\"><source cloud=\"a\"/><target cloud=\"b\"/>\
                 <server source=\"s\" name=\"n\"/></plan>",
            ),
        ] {
            refused_quickly(what, Reader::Xml, doc.as_bytes());
        }
    });
}

#[test]
fn hostile_xml_deep_nesting() {
    isolated("hostile_xml_deep_nesting", || {
        let bare = deep(Format::Xml, DEPTH, "");
        refused_quickly("XML 100,000 deep", Reader::Xml, bare.as_bytes());
        let inside = xml_plan_around(&deep(Format::Xml, DEPTH, ""));
        refused_quickly("XML 100,000 deep in a plan", Reader::Xml, inside.as_bytes());
        let servers = xml_plan_around(&format!(
            "{}{}",
            "<server source=\"s\" name=\"n\">".repeat(DEPTH),
            "</server>".repeat(DEPTH)
        ));
        refused_quickly(
            "XML 100,000 nested servers",
            Reader::Xml,
            servers.as_bytes(),
        );
        // Unclosed: the reader sees the end of the text 100,000 elements deep.
        let unclosed = xml_plan_around(&"<server>".repeat(DEPTH));
        refused_quickly("XML 100,000 unclosed", Reader::Xml, unclosed.as_bytes());
    });
}

#[test]
fn hostile_toml_deep_nesting() {
    isolated("hostile_toml_deep_nesting", || {
        let arrays = format!("version = 1\nx = {}\n", deep(Format::Toml, DEPTH, "1"));
        refused_quickly("TOML 100,000 deep arrays", Reader::Toml, arrays.as_bytes());
        let tables = format!(
            "version = 1\nx = {}1{}\n",
            "{a=".repeat(DEPTH),
            "}".repeat(DEPTH)
        );
        refused_quickly(
            "TOML 100,000 deep inline tables",
            Reader::Toml,
            tables.as_bytes(),
        );
        let dotted = format!("version = 1\n{}a = 1\n", "a.".repeat(DEPTH));
        refused_quickly("TOML 100,000 dotted keys", Reader::Toml, dotted.as_bytes());
        let header = format!("version = 1\n[{}a]\n", "a.".repeat(DEPTH));
        refused_quickly(
            "TOML 100,000 deep table header",
            Reader::Toml,
            header.as_bytes(),
        );
    });
}

#[test]
fn hostile_yaml_billion_laughs() {
    isolated("hostile_yaml_billion_laughs", || {
        refused_quickly(
            "YAML billion laughs",
            Reader::CloudsYaml,
            laughs(Format::Yaml, 10).as_bytes(),
        );
        // In secure.yaml, merged over a good clouds.yaml.
        let both = format!(
            "clouds:\n  provider:\n    auth:\n      auth_url: http://k/v3\n      username: u\n      password: p\n{}{}",
            targets::SECURE_MARKER,
            laughs(Format::Yaml, 10)
        );
        refused_quickly(
            "YAML billion laughs in secure.yaml",
            Reader::CloudsYaml,
            both.as_bytes(),
        );
    });
}

#[test]
fn hostile_yaml_deep_nesting() {
    isolated("hostile_yaml_deep_nesting", || {
        let flow = format!("clouds: {}\n", deep(Format::Yaml, DEPTH, "1"));
        refused_quickly(
            "YAML 100,000 deep sequences",
            Reader::CloudsYaml,
            flow.as_bytes(),
        );
        let maps = format!("clouds: {}1{}\n", "{a: ".repeat(DEPTH), "}".repeat(DEPTH));
        refused_quickly(
            "YAML 100,000 deep mappings",
            Reader::CloudsYaml,
            maps.as_bytes(),
        );
        // Block nesting costs its indentation: 2,000 levels are 2 MB, under clouds.yaml's 4 MiB.
        let block: String = (0..2000)
            .map(|i| format!("{}- \n", " ".repeat(i)))
            .collect();
        let block = format!("clouds:\n{block}");
        refused_quickly(
            "YAML 2,000 deep block sequences",
            Reader::CloudsYaml,
            block.as_bytes(),
        );
    });
}

#[test]
fn hostile_json_deep_nesting() {
    isolated("hostile_json_deep_nesting", || {
        let arrays = deep(Format::Json, DEPTH, "1");
        let objects = format!("{}1{}", "{\"a\":".repeat(DEPTH), "}".repeat(DEPTH));
        let in_field = |field: &str, v: &str| {
            format!("{{\"format_version\":1,\"s2d_saved_plan\":1,\"{field}\":{v}}}")
        };
        for reader in [Reader::State, Reader::SavedPlan, Reader::JobOptions] {
            refused_quickly("JSON 100,000 deep arrays", reader, arrays.as_bytes());
            refused_quickly("JSON 100,000 deep objects", reader, objects.as_bytes());
        }
        refused_quickly(
            "JSON deep in a state's attributes",
            Reader::State,
            in_field("resources", &objects).as_bytes(),
        );
        refused_quickly(
            "JSON deep in a saved plan's changes",
            Reader::SavedPlan,
            in_field("changes", &arrays).as_bytes(),
        );
        refused_quickly(
            "JSON deep in job targets",
            Reader::JobOptions,
            in_field("targets", &arrays).as_bytes(),
        );
    });
}

/// The peak-heap measure itself: a 60 MiB allocation is seen, a small one is not.
#[test]
fn the_allocator_counts() {
    let (_, peak) = alloc::measure(|| vec![0u8; 60 * MIB].len());
    assert!(peak >= 60 * MIB, "{peak}");
    let (_, peak) = alloc::measure(|| vec![0u8; 1000].len());
    assert!(peak < MIB, "{peak}");
}
