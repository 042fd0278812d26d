//! The readers under fuzz, each as the product calls it on outside input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use s2d::cloud::ConfigEnv;
use s2d::plan::{self, Syntax};

use super::mutate::Format;

/// In a clouds.yaml input, the line that starts its secure.yaml.
pub const SECURE_MARKER: &str = "#--- secure.yaml ---\n";

/// A reader under fuzz.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// `plan::parse_str` on TOML (`s2d validate`, `POST /v1/plans` as application/toml); a
    /// valid plan is also converted both ways and read back, and turned into the desired graph.
    Toml,
    /// The same for XML.
    Xml,
    /// clouds.yaml (and secure.yaml) as `s2d` finds a named cloud.
    CloudsYaml,
    /// The state file (`state::read`), and a destroy planned from what it holds.
    State,
    /// A saved plan, as `s2d apply SAVED` reads it.
    SavedPlan,
    /// The JSON body of the service's apply and destroy (`JobOptions`).
    JobOptions,
}

pub const ALL: [Reader; 6] = [
    Reader::Toml,
    Reader::Xml,
    Reader::CloudsYaml,
    Reader::State,
    Reader::SavedPlan,
    Reader::JobOptions,
];

impl Reader {
    pub fn name(self) -> &'static str {
        match self {
            Reader::Toml => "toml",
            Reader::Xml => "xml",
            Reader::CloudsYaml => "clouds_yaml",
            Reader::State => "state",
            Reader::SavedPlan => "saved_plan",
            Reader::JobOptions => "job_options",
        }
    }

    pub fn from_name(name: &str) -> Option<Reader> {
        ALL.into_iter().find(|r| r.name() == name)
    }

    pub fn format(self) -> Format {
        match self {
            Reader::Toml => Format::Toml,
            Reader::Xml => Format::Xml,
            Reader::CloudsYaml => Format::Yaml,
            Reader::State | Reader::SavedPlan | Reader::JobOptions => Format::Json,
        }
    }

    pub fn seeds(self) -> Vec<Vec<u8>> {
        use super::seeds;
        let mut out = match self {
            Reader::Toml => seeds::plans(Syntax::Toml),
            Reader::Xml => seeds::plans(Syntax::Xml),
            Reader::CloudsYaml => seeds::clouds_yaml(),
            Reader::State => seeds::state_files(),
            Reader::SavedPlan => seeds::saved_plans(),
            Reader::JobOptions => seeds::job_options(),
        };
        out.extend(seeds::corpus(self.name()).into_iter().map(|(_, b)| b));
        out
    }
}

/// What a reader made of an input (the product's errors are fine; only panics are findings).
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Refused,
}

/// A scratch directory for the readers that read files.
pub struct Scratch {
    _dir: tempfile::TempDir,
    file: PathBuf,
    secure: PathBuf,
    env: ConfigEnv,
}

impl Scratch {
    pub fn new() -> Scratch {
        // In memory where there is a tmpfs: on ext4 every rewrite of a truncated file is
        // flushed to the disk (auto_da_alloc), which slowed the campaign tenfold.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).or_else(|_| tempfile::tempdir())
        } else {
            tempfile::tempdir()
        }
        .expect("scratch dir");
        let file = dir.path().join("input");
        let secure = dir.path().join("secure.yaml");
        let env = ConfigEnv {
            vars: BTreeMap::from([
                (
                    "OS_CLIENT_CONFIG_FILE".to_string(),
                    file.display().to_string(),
                ),
                (
                    "OS_CLIENT_SECURE_FILE".to_string(),
                    secure.display().to_string(),
                ),
            ]),
            cwd: dir.path().join("cwd"),
            home: None,
            system_dir: dir.path().join("etc"),
        };
        Scratch {
            _dir: dir,
            file,
            secure,
            env,
        }
    }

    fn write(&self, path: &Path, bytes: &[u8]) {
        std::fs::write(path, bytes).expect("writing the scratch input");
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

fn plan_text(syntax: Syntax, text: &str) -> Verdict {
    let loaded = plan::parse_str(text, syntax, "fuzz");
    // What the CLI and the service do with a loaded plan: render its diagnostics, list them
    // as JSON.
    for report in loaded.reports() {
        let _ = format!("{:?}", miette::Report::new(report));
    }
    let _ = loaded.json();
    let Some(plan) = loaded.valid_plan() else {
        return Verdict::Refused;
    };
    // Converting a valid plan gives a valid plan (the property `s2d convert` promises).
    for (to, written) in [
        (Syntax::Toml, plan::to_toml(plan)),
        (Syntax::Xml, plan::to_xml(plan)),
    ] {
        if let Ok(written) = written {
            let again = plan::parse_str(&written, to, "converted");
            if again.has_errors() {
                let why: Vec<String> = again.json().into_iter().map(|d| d.message).collect();
                panic!(
                    "a valid plan converted to {to:?} does not read back: {}\n{written}",
                    why.join("; ")
                );
            }
        }
    }
    let _ = s2d::graph::Desired::from_plan(plan, &|p: &str| Err(format!("no files here ({p})")));
    Verdict::Accepted
}

/// Feed one input to a reader.
pub fn run(reader: Reader, input: &[u8], scratch: &Scratch) -> Verdict {
    let verdict = |ok: bool| {
        if ok {
            Verdict::Accepted
        } else {
            Verdict::Refused
        }
    };
    match reader {
        // The CLI and the service refuse what is not UTF-8 before parsing; a lossy copy keeps
        // the mutation's structure for the parser.
        Reader::Toml => plan_text(Syntax::Toml, &String::from_utf8_lossy(input)),
        Reader::Xml => plan_text(Syntax::Xml, &String::from_utf8_lossy(input)),
        Reader::CloudsYaml => {
            let marker = SECURE_MARKER.as_bytes();
            let split = input.windows(marker.len()).position(|w| w == marker);
            match split {
                Some(at) => {
                    scratch.write(&scratch.file, &input[..at]);
                    scratch.write(&scratch.secure, &input[at + marker.len()..]);
                }
                None => {
                    scratch.write(&scratch.file, input);
                    let _ = std::fs::remove_file(&scratch.secure);
                }
            }
            let names = match s2d::cloud::config::cloud_names(&scratch.env) {
                Ok((_, names)) => names,
                Err(_) => return Verdict::Refused,
            };
            let mut ok = false;
            for name in names.iter().take(3).map(String::as_str).chain(["provider"]) {
                ok |= s2d::cloud::config::from_clouds_yaml(name, &scratch.env).is_ok();
            }
            verdict(ok)
        }
        Reader::State => {
            scratch.write(&scratch.file, input);
            match s2d::state::read(&scratch.file) {
                Ok(Some(state)) => {
                    let _ = state.server_ids();
                    let _ = s2d::engine::diff_destroy(&state, &[]);
                    let targets: Vec<_> = state.resources.keys().take(2).cloned().collect();
                    let _ = s2d::engine::diff_destroy(&state, &targets);
                    Verdict::Accepted
                }
                Ok(None) | Err(_) => Verdict::Refused,
            }
        }
        Reader::SavedPlan => match std::str::from_utf8(input) {
            Ok(text) => verdict(matches!(
                s2d::cli::migrate::check_saved_plan(text),
                Ok(true)
            )),
            Err(_) => Verdict::Refused,
        },
        Reader::JobOptions => {
            // As `job_options` in src/serve/api.rs, then what `App::start` checks.
            if input.iter().all(u8::is_ascii_whitespace) {
                return Verdict::Accepted;
            }
            match serde_json::from_slice::<s2d::serve::jobs::JobOptions>(input) {
                Ok(options) => verdict(options.check().is_ok() && options.addresses().is_ok()),
                Err(_) => Verdict::Refused,
            }
        }
    }
}
