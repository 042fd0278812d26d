//! The seeds of each reader: every plan fixture and example, what `s2d init` writes in both
//! syntaxes, each valid plan converted to the other syntax, the clouds.yaml documents of the
//! tests, state files and saved plans as s2d writes them, the service's job options, and the
//! committed corpus (`tests/fuzz-corpus/<reader>/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use s2d::engine::{Action, Change, Operation, PLAN_FORMAT_VERSION, PlanOutcome, Summary};
use s2d::graph::{Address, Desired, FlavorSpec, ResourceGraph, Rule, RuleDirection, SourceFacts};
use s2d::plan::{self, Syntax};
use s2d::state::{Origin, Resource, Side, State};
use serde_json::{Map, Value, json};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed corpus of a reader.
pub fn corpus_dir(reader: &str) -> PathBuf {
    root().join("tests/fuzz-corpus").join(reader)
}

/// Every file of a reader's corpus, sorted by name.
pub fn corpus(reader: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(corpus_dir(reader))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect();
    out.sort();
    out
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

/// Plan seeds of one syntax: fixtures, examples, the starter plan, and every valid plan of the
/// other syntax converted.
pub fn plans(syntax: Syntax) -> Vec<Vec<u8>> {
    let (ext, starter) = match syntax {
        Syntax::Toml => ("toml", s2d::cli::init::STARTER_TOML),
        Syntax::Xml => ("xml", s2d::cli::init::STARTER_XML),
    };
    let mut out = vec![starter.as_bytes().to_vec()];
    let mut all = files(&root().join("tests/fixtures/plans"), "toml");
    all.extend(files(&root().join("tests/fixtures/plans"), "xml"));
    all.extend(files(&root().join("plans"), "toml"));
    all.extend(files(&root().join("plans"), "xml"));
    for path in all {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == ext) {
            out.push(bytes);
        } else if let Some(plan) = valid_plan(&path) {
            let converted = match syntax {
                Syntax::Toml => plan::to_toml(&plan),
                Syntax::Xml => plan::to_xml(&plan),
            };
            if let Ok(text) = converted {
                out.push(text.into_bytes());
            }
        }
    }
    out
}

fn valid_plan(path: &Path) -> Option<plan::Plan> {
    let loaded = plan::load(path, None);
    if loaded.has_errors() {
        return None;
    }
    loaded.plan
}

/// Every valid plan among the fixtures and examples.
fn valid_plans() -> Vec<plan::Plan> {
    let mut all = files(&root().join("tests/fixtures/plans"), "toml");
    all.extend(files(&root().join("plans"), "toml"));
    all.extend(files(&root().join("tests/fixtures/plans"), "xml"));
    all.iter().filter_map(|p| valid_plan(p)).collect()
}

/// Raw strings of the tests' sources that hold a clouds.yaml (`clouds:`), as written there.
pub fn clouds_yaml() -> Vec<Vec<u8>> {
    let mut out = vec![
        b"clouds:\n  provider:\n    auth:\n      auth_url: http://127.0.0.1:5000/v3\n      username: alice\n      password: pw\n      project_name: p\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n".to_vec(),
        b"clouds:\n  hospital:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: https://h/identity\n      application_credential_id: ac\n      application_credential_secret: s\n    regions: [{name: R1}, R2]\n    api_timeout: 2.5\n    verify: 'no'\n".to_vec(),
        b"{\"clouds\": {\"j\": {\"auth\": {\"auth_url\": \"http://k\", \"token\": \"t\"}, \"auth_type\": \"token\", \"interface\": \"admin\"}}}\n".to_vec(),
    ];
    // secure.yaml beside clouds.yaml: both in one input, split at the marker line.
    out.push(
        format!(
            "clouds:\n  provider:\n    auth:\n      auth_url: http://k/v3\n      username: u\n{}clouds:\n  provider:\n    auth:\n      password: from-secure\n",
            super::targets::SECURE_MARKER
        )
        .into_bytes(),
    );
    for path in files(&root().join("tests"), "rs") {
        let Ok(source) = std::fs::read_to_string(&path) else {
            continue;
        };
        for piece in source.split("r#\"").skip(1) {
            let Some(end) = piece.find("\"#") else {
                continue;
            };
            let text = &piece[..end];
            if text.contains("clouds:") {
                out.push(text.as_bytes().to_vec());
            }
        }
    }
    out
}

fn resource(side: Side, id: &str, origin: Origin, attributes: Value) -> Resource {
    Resource {
        side,
        id: id.into(),
        origin,
        attributes: match attributes {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        recorded_at: "2026-01-02T03:04:05Z".into(),
    }
}

/// States as s2d writes them: empty, and with every kind of resource.
fn states() -> Vec<State> {
    let empty = State::new();
    let mut full = State::new();
    full.serial = 7;
    let a = |s: &str| s.parse::<Address>().expect("address");
    full.record(
        a("snapshot.web-s2d"),
        resource(
            Side::Source,
            "img-1",
            Origin::Created,
            json!({"name": "web-s2d", "checksum": "abc"}),
        ),
    );
    full.record(
        a("image.web"),
        resource(
            Side::Target,
            "img-2",
            Origin::Created,
            json!({"name": "web", "disk_format": "qcow2", "visibility": "private"}),
        ),
    );
    full.record(
        a("keypair.alice-key"),
        resource(
            Side::Target,
            "alice-key",
            Origin::Adopted,
            json!({"fingerprint": "aa:bb"}),
        ),
    );
    full.record(
        a("security_group.web"),
        resource(
            Side::Target,
            "sg-1",
            Origin::Created,
            json!({"name": "web"}),
        ),
    );
    full.record(a("security_group_rule.web[0]"), resource(Side::Target, "r-1", Origin::Created, json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_min": 22, "port_max": 22})));
    full.record(
        a("server.web"),
        resource(
            Side::Target,
            "srv-1",
            Origin::Created,
            json!({"name": "web", "flavor": "m1.small"}),
        ),
    );
    full.record(
        a("floating_ip.web"),
        resource(
            Side::Target,
            "fip-1",
            Origin::Created,
            json!({"address": "203.0.113.7"}),
        ),
    );
    vec![empty, full]
}

pub fn state_files() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = states()
        .iter()
        .map(|s| serde_json::to_vec_pretty(s).expect("state JSON"))
        .collect();
    out.push(b"{\"format_version\": 2}".to_vec());
    out
}

fn facts() -> SourceFacts {
    SourceFacts {
        status: "ACTIVE".into(),
        server_id: "srv-source".into(),
        flavor: FlavorSpec {
            name: "m1.small".into(),
            vcpus: 1,
            ram_mb: 2048,
            disk_gb: 20,
            ..Default::default()
        },
        rules: vec![Rule {
            direction: RuleDirection::Ingress,
            ethertype: "IPv4".into(),
            protocol: Some("tcp".into()),
            port_min: Some(22),
            port_max: Some(22),
            remote_ip_prefix: Some("0.0.0.0/0".into()),
            remote_self: false,
            remote_group: None,
        }],
        public_key: Some("ssh-ed25519 AAAA alice".into()),
        fingerprint: Some("aa:bb".into()),
        disk_format: Some("qcow2".into()),
        image_properties: None,
        boot: Default::default(),
        server_group: None,
        volumes: Vec::new(),
        nics: Vec::new(),
        groups: Default::default(),
    }
}

fn saved(outcome: &PlanOutcome) -> Vec<u8> {
    let mut doc = serde_json::to_value(outcome).expect("plan JSON");
    let extra = json!({
        "s2d_saved_plan": 1,
        "plan_file": "/tmp/plan.toml",
        "plan_sha256": "0".repeat(64),
        "state_file": "/tmp/s2d.state.json",
    });
    if let (Value::Object(d), Value::Object(e)) = (&mut doc, extra) {
        d.extend(e);
    }
    serde_json::to_vec_pretty(&doc).expect("saved plan JSON")
}

/// Saved plans as `s2d plan --out` writes them: every valid plan's creation, and a destroy.
pub fn saved_plans() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for plan in valid_plans().into_iter().take(6) {
        let Ok(desired) = Desired::from_plan(&plan, &|p: &str| Err(format!("no files here ({p})")))
        else {
            continue;
        };
        let facts: BTreeMap<String, SourceFacts> = desired
            .servers
            .iter()
            .map(|s| (s.name.clone(), facts()))
            .collect();
        let Ok(graph) = ResourceGraph::build(&desired, &facts, &BTreeMap::new()) else {
            continue;
        };
        let changes: Vec<Change> = graph
            .graph
            .node_weights()
            .map(|entry| Change {
                address: entry.address.clone(),
                action: Action::Create,
                reason: None,
                origin: Origin::Created,
                before: None,
                after: Some(Map::new()),
                node: Some(entry.node.clone()),
                depends_on: graph.dependencies(&entry.address),
            })
            .collect();
        let outcome = PlanOutcome {
            format_version: PLAN_FORMAT_VERSION,
            operation: Operation::Apply,
            lineage: "6f1f3c1e-0000-4000-8000-000000000000".into(),
            serial: 0,
            summary: Summary {
                add: changes.len(),
                ..Summary::default()
            },
            changes,
            selected: Vec::new(),
            boot: Vec::new(),
        };
        out.push(saved(&outcome));
    }
    for state in states() {
        let mut outcome = s2d::engine::diff_destroy(&state, &[]);
        outcome.operation = Operation::Destroy;
        out.push(saved(&outcome));
    }
    out
}

/// Bodies of `POST /v1/plans/{id}/apply` and `.../destroy`.
pub fn job_options() -> Vec<Vec<u8>> {
    [
        "",
        "  \n",
        "{}",
        "{\"targets\": [\"server.web\"], \"parallelism\": 4, \"transfers\": 2}",
        "{\"targets\": [\"security_group_rule.web[0]\", \"floating_ip.web\", \"keypair.alice-key\", \"snapshot.web-s2d\", \"image.web\", \"security_group.web\"]}",
        "{\"parallelism\": 1000, \"transfers\": 1}",
        "{\"targets\": []}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}
