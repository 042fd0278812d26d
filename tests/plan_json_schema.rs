//! The TOML reader and the published JSON Schema `schemas/s2d-plan-1.schema.json` agree.
//!
//! Each TOML plan is converted to JSON (TOML -> `serde_json::Value`, as taplo and Even Better
//! TOML see it) and checked with the `jsonschema` crate (draft-07, formats checked); its
//! verdict is compared with `s2d validate`'s: every `valid-` fixture, example plan and plan
//! that s2d writes (`s2d init`, `s2d convert --to toml`) passes both; every `invalid-` fixture
//! fails both, except the few rules no JSON Schema can state ([`BEYOND_THE_SCHEMA`]), which
//! the schema must accept (so that list stays true). More structural cases (unknown key,
//! wrong type, missing key, bad enum) are written out here, and every key the schema knows is
//! checked to be a key the reader knows.

use std::path::{Path, PathBuf};
use std::process::Command;

use s2d::plan::{DISK_FORMATS, INTERFACES, Syntax, TRANSFER_MODES, VISIBILITIES, VOLUME_FORMATS};
use serde_json::Value;

const SCHEMA: &str = "schemas/s2d-plan-1.schema.json";

/// Invalid TOML fixtures whose rule is beyond what a JSON Schema can say, and why.
const BEYOND_THE_SCHEMA: &[(&str, &str)] = &[
    (
        "invalid-duplicate-names.toml",
        "target names unique across servers",
    ),
    (
        "invalid-duplicate-snapshots.toml",
        "snapshot names unique once defaults apply",
    ),
    (
        "invalid-property-set-and-dropped.toml",
        "a key of `properties` also in `drop_properties`",
    ),
    (
        "invalid-network-twice.toml",
        "each source network built once (`from` unique across [[network]])",
    ),
    (
        "invalid-network-name-taken.toml",
        "built networks' and routers' names unique once defaults apply",
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> Value {
    let text = std::fs::read_to_string(root().join(SCHEMA)).expect("the schema is readable");
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema())
        .expect("the schema compiles")
}

/// The schema's verdict on a TOML text, and what it said. Text that is not TOML has no JSON
/// form: the schema cannot accept it.
fn schema_says(v: &jsonschema::Validator, text: &str) -> (bool, String) {
    let json: Value = match toml::from_str(text) {
        Ok(json) => json,
        Err(e) => return (false, format!("not TOML: {e}")),
    };
    let errors: Vec<String> = v
        .iter_errors(&json)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    (errors.is_empty(), errors.join("\n"))
}

/// The reader's verdict (the library, as `s2d validate` calls it).
fn reader_says(text: &str) -> (bool, String) {
    let loaded = s2d::plan::parse_str(text, Syntax::Toml, "plan.toml");
    let said = loaded
        .json()
        .iter()
        .map(|d| serde_json::to_string(d).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    (!loaded.has_errors(), said)
}

/// `s2d validate`'s verdict on a file.
fn s2d_validate(file: &Path) -> (bool, String) {
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

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

fn verdict(ok: bool) -> &'static str {
    if ok { "accepts" } else { "rejects" }
}

#[test]
fn the_schema_is_draft_07_and_names_where_it_is_installed() {
    let schema = schema();
    jsonschema::draft7::meta::validate(&schema)
        .unwrap_or_else(|e| panic!("not a valid draft-07 schema: {e}"));
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(
        schema["$id"],
        format!("file://{}", s2d::cli::init::PLAN_JSON_SCHEMA)
    );
}

#[test]
fn the_schemas_enums_are_the_readers() {
    let schema = schema();
    let defs = &schema["definitions"];
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("{v} is not a list"))
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let same = |v: &Value, want: &[&str]| assert_eq!(list(v), want);
    same(
        &defs["image"]["properties"]["disk_format"]["enum"],
        DISK_FORMATS,
    );
    same(
        &defs["image"]["properties"]["visibility"]["enum"],
        VISIBILITIES,
    );
    same(
        &defs["cloud"]["properties"]["interface"]["enum"],
        INTERFACES,
    );
    same(
        &defs["transfer"]["properties"]["mode"]["enum"],
        TRANSFER_MODES,
    );
    same(&defs["volume_format"]["enum"], VOLUME_FORMATS);
}

#[test]
fn the_reader_and_the_schema_agree_on_every_toml_fixture() {
    let v = validator();
    let files = files("tests/fixtures/plans", "toml");
    let mut seen = [0usize; 3];
    let mut disagreements = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_string();
        if name == "expected.toml" {
            continue;
        }
        let beyond = BEYOND_THE_SCHEMA.iter().any(|(n, _)| *n == name);
        let (want_schema, want_s2d, kind) = if name.starts_with("valid-") {
            (true, true, 0)
        } else if name.starts_with("invalid-") && beyond {
            (true, false, 2)
        } else if name.starts_with("invalid-") {
            (false, false, 1)
        } else {
            panic!("{name}: a TOML fixture's name starts with valid- or invalid-");
        };
        seen[kind] += 1;
        let text = std::fs::read_to_string(file).expect("fixture");
        let (schema_ok, schema_said) = schema_says(&v, &text);
        let (s2d_ok, s2d_said) = s2d_validate(file);
        if schema_ok != want_schema || s2d_ok != want_s2d {
            disagreements.push(format!(
                "{name}: the schema {} (want {}), s2d {} (want {})\n--- schema:\n{schema_said}\n--- s2d:\n{s2d_said}",
                verdict(schema_ok),
                verdict(want_schema),
                verdict(s2d_ok),
                verdict(want_s2d)
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n\n"));
    assert!(seen[0] >= 5 && seen[1] >= 15, "valid/invalid: {seen:?}");
    assert_eq!(seen[2], BEYOND_THE_SCHEMA.len(), "{BEYOND_THE_SCHEMA:?}");
}

/// A plan that both accept, to which the cases below add or change one thing.
const BASE: &str = r#"version = 1
[source]
cloud = "provider"
[target]
cloud = "hospital"
[defaults]
network = "private"
[[server]]
source = "ehr-analytics"
"#;

/// [`BASE`] with its server a fleet: `server` replaces `source = ...`.
fn fleet(server: &str) -> String {
    BASE.replace("source = \"ehr-analytics\"\n", server)
}

#[test]
fn structural_mistakes_are_refused_by_both() {
    let v = validator();
    let wrong: &[(&str, String)] = &[
        ("unknown top-level key", format!("{BASE}servers = 2\n")),
        (
            "unknown section",
            BASE.replace("[defaults]", "[default]"),
        ),
        (
            "unknown key in [source]",
            BASE.replace("cloud = \"provider\"", "cloud = \"provider\"\nkloud = \"x\""),
        ),
        (
            "unknown key in [defaults]",
            BASE.replace("network = \"private\"", "network = \"private\"\nnetworkz = \"x\""),
        ),
        ("unknown key in a server", format!("{BASE}flavour = \"m1.small\"\n")),
        (
            "unknown key in keypair",
            format!("{BASE}keypair = {{ import = \"k\", mode = \"x\" }}\n"),
        ),
        (
            "unknown key in floating_ip",
            format!("{BASE}floating_ip = {{ pool = \"public\", size = 1 }}\n"),
        ),
        (
            "unknown key in transfer",
            format!("{BASE}transfer = {{ mode = \"spool\", speed = 1 }}\n"),
        ),
        ("missing version", BASE.replace("version = 1\n", "")),
        (
            "missing [target]",
            BASE.replace("[target]\ncloud = \"hospital\"\n", ""),
        ),
        ("no cloud at all", BASE.replace("cloud = \"hospital\"\n", "")),
        ("empty server list", "version = 1\nserver = []\n[source]\ncloud = \"a\"\n[target]\ncloud = \"b\"\n".to_string()),
        ("transfer without mode", format!("{BASE}transfer = {{}}\n")),
        ("keypair without a mode", format!("{BASE}keypair = {{}}\n")),
        ("floating_ip without pool or address", format!("{BASE}floating_ip = {{}}\n")),
        (
            "floating_ip with pool and address",
            format!("{BASE}floating_ip = {{ pool = \"p\", address = \"203.0.113.1\" }}\n"),
        ),
        ("version as a string", BASE.replace("version = 1", "version = \"1\"")),
        ("version 2", BASE.replace("version = 1", "version = 2")),
        ("server as a table", BASE.replace("[[server]]", "[server]")),
        ("flavor as a number", format!("{BASE}flavor = 3\n")),
        ("floating_ip = true", format!("{BASE}floating_ip = true\n")),
        ("network as an array", BASE.replace("network = \"private\"", "network = [\"private\"]")),
        ("empty name", format!("{BASE}name = \"  \"\n")),
        ("image as a string", format!("{BASE}image = \"ehr\"\n")),
        ("bad disk_format", format!("{BASE}image = {{ disk_format = \"QCOW2\" }}\n")),
        ("bad visibility", format!("{BASE}image = {{ visibility = \"hidden\" }}\n")),
        ("bad transfer mode", format!("{BASE}transfer = {{ mode = \"rsync\" }}\n")),
        ("date where a name goes", format!("{BASE}snapshot = 2026-12-06\n")),
        ("a server without source", format!("{BASE}[[server]]\nname = \"db\"\n")),
        // Rules of inline auth the schema states too.
        (
            "inline auth without a user",
            BASE.replace(
                "cloud = \"hospital\"",
                "auth_url = \"https://k:5000/v3\"\npassword_env = \"P\"\nproject_name = \"p\"",
            ),
        ),
        (
            "inline auth without auth_url",
            BASE.replace(
                "cloud = \"hospital\"",
                "username = \"u\"\npassword_env = \"P\"\nproject_name = \"p\"",
            ),
        ),
        (
            "auth_url that is not http",
            BASE.replace(
                "cloud = \"hospital\"",
                "auth_url = \"ftp://k/v3\"\nusername = \"u\"\npassword_env = \"P\"\nproject_name = \"p\"",
            ),
        ),
        (
            "a secret in password_env",
            BASE.replace(
                "cloud = \"hospital\"",
                "auth_url = \"https://k:5000/v3\"\nusername = \"u\"\npassword_env = \"hunter2!\"\nproject_name = \"p\"",
            ),
        ),
        (
            "application credential without its secret",
            BASE.replace(
                "cloud = \"hospital\"",
                "auth_url = \"https://k:5000/v3\"\napplication_credential_id = \"a\"",
            ),
        ),
        (
            "application credential secret without its id",
            BASE.replace(
                "cloud = \"hospital\"",
                "auth_url = \"https://k:5000/v3\"\nusername = \"u\"\npassword_env = \"P\"\nproject_name = \"p\"\napplication_credential_secret_env = \"S\"",
            ),
        ),
        (
            "application credential with a project",
            BASE.replace(
                "cloud = \"hospital\"",
                "auth_url = \"https://k:5000/v3\"\napplication_credential_id = \"a\"\napplication_credential_secret_env = \"S\"\nproject_id = \"p\"",
            ),
        ),
        ("not an IP address", format!("{BASE}floating_ip = {{ address = \"203.0.113.300\" }}\n")),
        // Fleets.
        ("source and select", format!("{BASE}select = {{ name = \"ehr-*\" }}\n")),
        ("an empty select", fleet("select = {}\n")),
        ("select as a string", fleet("select = \"ehr-*\"\n")),
        ("unknown key in select", fleet("select = { name = \"ehr-*\", names = \"x\" }\n")),
        ("tags as a string", fleet("select = { tags = \"migrate\" }\n")),
        ("an empty tags list", fleet("select = { tags = [] }\n")),
        ("a tag that is not a string", fleet("select = { tags = [1] }\n")),
        ("an empty tag", fleet("select = { tags = [\" \"] }\n")),
        ("a tag twice", fleet("select = { tags = [\"a\", \"a\"] }\n")),
        ("an empty metadata table", fleet("select = { metadata = {} }\n")),
        ("a metadata pattern that is a number", fleet("select = { metadata = { tier = 1 } }\n")),
        ("an empty metadata pattern", fleet("select = { metadata = { tier = \"\" } }\n")),
        ("an empty selection name", fleet("select = { name = \"\" }\n")),
        ("a fleet's name without {source}", fleet("select = { name = \"ehr-*\" }\nname = \"ehr\"\n")),
        ("a fleet's snapshot without {source}", fleet("select = { name = \"ehr-*\" }\nsnapshot = \"ehr-s2d\"\n")),
        ("a fleet's image name without {source}", fleet("select = { name = \"ehr-*\" }\nimage = { name = \"ehr\" }\n")),
        ("{source} in one server's name", format!("{BASE}name = \"{{source}}-copy\"\n")),
        ("{source} in one server's snapshot", format!("{BASE}snapshot = \"{{source}}-s2d\"\n")),
        ("{source} in one server's image name", format!("{BASE}image = {{ name = \"{{source}}\" }}\n")),
        // Boot fidelity.
        ("properties as an array", format!("{BASE}image = {{ properties = [\"a\"] }}\n")),
        ("an empty properties table", format!("{BASE}image = {{ properties = {{}} }}\n")),
        ("a property that is a boolean", format!("{BASE}image = {{ properties = {{ hw_vif_multiqueue_enabled = true }} }}\n")),
        ("an empty property value", format!("{BASE}image = {{ properties = {{ os_type = \"\" }} }}\n")),
        ("an empty property key", format!("{BASE}image = {{ properties = {{ \"\" = \"x\" }} }}\n")),
        ("a property key too long", format!("{BASE}image = {{ properties = {{ {} = \"x\" }} }}\n", "k".repeat(256))),
        ("a property value too long", format!("{BASE}image = {{ properties = {{ os_type = \"{}\" }} }}\n", "v".repeat(256))),
        ("an s2d marker set", format!("{BASE}image = {{ properties = {{ s2d_address = \"x\" }} }}\n")),
        ("an s2d marker dropped", format!("{BASE}image = {{ drop_properties = [\"s2d_lineage\"] }}\n")),
        ("a Glance attribute set", format!("{BASE}image = {{ properties = {{ min_disk = \"20\" }} }}\n")),
        ("a Glance attribute dropped", format!("{BASE}image = {{ drop_properties = [\"name\"] }}\n")),
        ("a reserved os_glance key", format!("{BASE}image = {{ properties = {{ os_glance_import_task = \"x\" }} }}\n")),
        ("drop_properties as a string", format!("{BASE}image = {{ drop_properties = \"os_type\" }}\n")),
        ("an empty drop list", format!("{BASE}image = {{ drop_properties = [] }}\n")),
        ("a key dropped twice", format!("{BASE}image = {{ drop_properties = [\"os_type\", \"os_type\"] }}\n")),
        ("an empty availability zone", format!("{BASE}availability_zone = \" \"\n")),
        ("an availability zone that is a table", format!("{BASE}availability_zone = {{ name = \"az\" }}\n")),
        ("an empty zone map", format!("{BASE}zones = {{}}\n")),
        ("a zone map with a number", format!("{BASE}zones = {{ nova = 1 }}\n")),
        ("a zone map to nowhere", format!("{BASE}zones = {{ nova = \"\" }}\n")),
        ("a zone map in [defaults] as a string", BASE.replace("network = \"private\"", "network = \"private\"\nzones = \"nova\"")),
        ("a bad server_group word", format!("{BASE}server_group = \"copy-it\"\n")),
        ("server_group = true", format!("{BASE}server_group = true\n")),
        ("server_group without existing", format!("{BASE}server_group = {{}}\n")),
        ("server_group with an unknown key", format!("{BASE}server_group = {{ existing = \"g\", policy = \"x\" }}\n")),
        ("user_data as a string", format!("{BASE}user_data = \"cloud-init.yaml\"\n")),
        ("user_data without file", format!("{BASE}user_data = {{}}\n")),
        ("user_data with an empty file", format!("{BASE}user_data = {{ file = \"\" }}\n")),
        ("user_data with an unknown key", format!("{BASE}user_data = {{ file = \"a\", path = \"b\" }}\n")),
        ("user_data naming a folder", format!("{BASE}user_data = {{ file = \"conf/\" }}\n")),
        ("user_data with a NUL", format!("{BASE}user_data = {{ file = \"a\\u0000b\" }}\n")),
        ("user_data in [defaults]", BASE.replace("network = \"private\"", "user_data = { file = \"a\" }")),
        // Networks.
        ("networks as a string", BASE.replace("network = \"private\"", "networks = \"private\"")),
        ("an empty NIC map", format!("{BASE}networks = {{}}\n")),
        ("a NIC mapped to an empty network", format!("{BASE}networks = {{ private = \" \" }}\n")),
        ("a NIC mapped to a number", format!("{BASE}networks = {{ private = 1 }}\n")),
        ("an empty source network", format!("{BASE}networks = {{ \"\" = \"private\" }}\n")),
        ("a NIC table without network", format!("{BASE}networks = {{ db = {{ keep_ip = true }} }}\n")),
        ("a NIC table with an unknown key", format!("{BASE}networks = {{ db = {{ network = \"n\", keep_ips = true }} }}\n")),
        ("keep_ip as a string", format!("{BASE}networks = {{ db = {{ network = \"n\", keep_ip = \"true\" }} }}\n")),
        ("keep_mac as a number", format!("{BASE}networks = {{ db = {{ network = \"n\", keep_mac = 1 }} }}\n")),
        ("a network name too long", format!("{BASE}networks = {{ db = \"{}\" }}\n", "n".repeat(256))),
        ("a floating IP's NIC without a pool", format!("{BASE}floating_ip = {{ nic = \"private\" }}\n")),
        ("an empty floating IP NIC", format!("{BASE}floating_ip = {{ pool = \"public\", nic = \"\" }}\n")),
        ("network at the top level as a string", format!("network = \"private\"\n{BASE}")),
        ("a [[network]] without from", format!("{BASE}[[network]]\nname = \"db\"\n")),
        ("a [[network]] with an empty from", format!("{BASE}[[network]]\nfrom = \"\"\n")),
        ("a [[network]] with an unknown key", format!("{BASE}[[network]]\nfrom = \"db\"\nmtu = 1500\n")),
        ("a router as a string", format!("{BASE}[[network]]\nfrom = \"db\"\nrouter = \"public\"\n")),
        ("a router without external", format!("{BASE}[[network]]\nfrom = \"db\"\nrouter = {{ name = \"r\" }}\n")),
        ("a router with an empty external", format!("{BASE}[[network]]\nfrom = \"db\"\nrouter = {{ external = \" \" }}\n")),
        ("a router with an unknown key", format!("{BASE}[[network]]\nfrom = \"db\"\nrouter = {{ external = \"public\", ha = true }}\n")),
        // Volumes.
        ("skip_volumes as a string", format!("{BASE}skip_volumes = \"scratch\"\n")),
        ("a skipped volume that is a number", format!("{BASE}skip_volumes = [1]\n")),
        ("an empty skipped volume", format!("{BASE}skip_volumes = [\" \"]\n")),
        ("a skipped volume name too long", format!("{BASE}skip_volumes = [\"{}\"]\n", "v".repeat(256))),
        ("a volume skipped twice", BASE.replace("network = \"private\"", "network = \"private\"\nskip_volumes = [\"a\", \"b\", \"a\"]")),
        ("an empty volume type map", format!("{BASE}volume_types = {{}}\n")),
        ("a volume type map as an array", format!("{BASE}volume_types = [\"ceph\"]\n")),
        ("a volume type mapped to a number", format!("{BASE}volume_types = {{ ceph = 1 }}\n")),
        ("a volume type mapped to nothing", format!("{BASE}volume_types = {{ ceph = \"\" }}\n")),
        ("an empty source volume type", format!("{BASE}volume_types = {{ \"\" = \"fast\" }}\n")),
        ("stop as a string", format!("{BASE}stop = \"true\"\n")),
        ("keep_volume_intermediates as a number", BASE.replace("network = \"private\"", "network = \"private\"\nkeep_volume_intermediates = 1")),
        ("a bad volume_format", format!("{BASE}volume_format = \"vmdk\"\n")),
        ("volume_format in capitals", format!("{BASE}volume_format = \"RAW\"\n")),
        ("volume_format as a boolean", format!("{BASE}volume_format = true\n")),
    ];
    let mut disagreements = Vec::new();
    for (what, text) in wrong {
        let (schema_ok, schema_said) = schema_says(&v, text);
        let (reader_ok, reader_said) = reader_says(text);
        if schema_ok || reader_ok {
            disagreements.push(format!(
                "{what}: the schema {}, the reader {} (both should reject)\n{text}--- schema:\n{schema_said}\n--- reader:\n{reader_said}",
                verdict(schema_ok),
                verdict(reader_ok)
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n\n"));
}

#[test]
fn what_both_accept_beyond_the_fixtures() {
    let v = validator();
    let right: &[(&str, String)] = &[
        ("the base", BASE.to_string()),
        (
            "the schema directive",
            format!("#:schema {}\n{BASE}", s2d::cli::init::PLAN_JSON_SCHEMA),
        ),
        ("no floating IP", format!("{BASE}floating_ip = false\n")),
        ("an IPv6 address", format!("{BASE}floating_ip = {{ address = \"2001:db8::10\" }}\n")),
        ("an empty image table", format!("{BASE}image = {{}}\n")),
        ("an empty [defaults]", BASE.replace("network = \"private\"\n", "")),
        (
            "every option in a server",
            format!("{BASE}name = \"n\"\nsnapshot = \"s\"\nimage = {{ name = \"i\", disk_format = \"vmdk\", visibility = \"community\" }}\nflavor = \"f\"\nnetwork = \"n\"\nkeypair = {{ existing = \"k\" }}\nsecurity_group = \"g\"\nfloating_ip = {{ pool = \"p\" }}\ntransfer = {{ mode = \"stream\" }}\n"),
        ),
        (
            "a literal password (a warning, not an error)",
            BASE.replace(
                "cloud = \"hospital\"",
                "auth_url = \"HTTPS://k:5000/v3\"\nuser_id = \"u\"\npassword = \"secret\"\nproject_id = \"p\"\ninterface = \"admin\"",
            ),
        ),
        ("a fleet by name", fleet("select = { name = \"ehr-*\" }\n")),
        ("a fleet of every server", fleet("select = { name = \"*\" }\n")),
        (
            "a fleet with every criterion and templates",
            fleet("select = { name = \"ehr-?\", tags = [\"a\", \"b\"], metadata = { tier = \"db*\", \"owner id\" = \"*\" } }\nname = \"{source}-copy\"\nsnapshot = \"s2d-{source}\"\nimage = { name = \"{source}\", visibility = \"shared\" }\nflavor = \"m1.large\"\n"),
        ),
        (
            "a fleet in a sub-table",
            fleet("[server.select]\nmetadata = { role = \"analytics\" }\n"),
        ),
        (
            "every boot fidelity setting in [defaults] and a server",
            BASE.replace("network = \"private\"", "network = \"private\"\nzones = { nova = \"az-b\" }\nserver_group = \"none\"\navailability_zone = \"az-1\"")
                .replace("source = \"ehr-analytics\"", "source = \"ehr-analytics\"\nimage = { properties = { hw_firmware_type = \"uefi\", \"trait:CUSTOM_X\" = \"required\" }, drop_properties = [\"os_type\"] }\nserver_group = { existing = \"g\" }\nuser_data = { file = \"cloud-init.yaml\" }"),
        ),
        (
            "a source-only property set (a warning)",
            format!("{BASE}image = {{ properties = {{ kernel_id = \"4a1c\" }}, drop_properties = [\"instance_uuid\"] }}\n"),
        ),
        (
            "a property key and value of 255 characters",
            format!("{BASE}image = {{ properties = {{ {} = \"{}\" }} }}\n", "k".repeat(255), "é".repeat(255)),
        ),
        (
            "a NIC map, a built network with a router and a floating IP's NIC",
            BASE.replace("network = \"private\"", "networks = { private = \"private\", \"src-db\" = { network = \"db-net\", keep_ip = true, keep_mac = false } }\nfloating_ip = { pool = \"public\", nic = \"private\" }")
                .replace("[[server]]", "[[network]]\nfrom = \"src-db\"\nname = \"db-net\"\nrouter = { external = \"public\", name = \"db-gw\" }\n\n[[network]]\nfrom = \"storage\"\n\n[[server]]")
                + "networks = { \"src-db\" = \"db-net\" }\nfloating_ip = { address = \"203.0.113.9\", nic = \"src-db\" }\n",
        ),
        ("no [[network]] at all, written as an empty array", format!("network = []\n{BASE}")),
        (
            "every volume setting in [defaults] and a server",
            BASE.replace("network = \"private\"", "network = \"private\"\nskip_volumes = [\"scratch\"]\nvolume_types = { ceph = \"fast\", \"hdd x\" = \"slow\" }\nstop = true\nkeep_volume_intermediates = false\nvolume_format = \"qcow2\"")
                + "skip_volumes = [\"logs\", \"0b7c5a3e-1111-4c2f-9d7e-3a1f2b3c4d5e\"]\nvolume_types = { ceph = \"nvme\" }\nstop = false\nkeep_volume_intermediates = true\nvolume_format = \"raw\"\n",
        ),
        ("a server that skips no volume", format!("{BASE}skip_volumes = []\n")),
        ("volume settings in a fleet", fleet("select = { name = \"batch-*\" }\nskip_volumes = [\"tmp\"]\nstop = true\n")),
        (
            "two fleets with one template beside a server",
            format!("{BASE}[[server]]\nselect = {{ name = \"web-*\" }}\nname = \"{{source}}-x\"\n[[server]]\nselect = {{ tags = [\"t\"] }}\nname = \"{{source}}-x\"\n"),
        ),
    ];
    let mut disagreements = Vec::new();
    for (what, text) in right {
        let (schema_ok, schema_said) = schema_says(&v, text);
        let (reader_ok, reader_said) = reader_says(text);
        if !schema_ok || !reader_ok {
            disagreements.push(format!(
                "{what}: the schema {}, the reader {} (both should accept)\n{text}--- schema:\n{schema_said}\n--- reader:\n{reader_said}",
                verdict(schema_ok),
                verdict(reader_ok)
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n\n"));
}

/// Every key the schema names (below the top level) is one the reader knows: with a value
/// of the wrong type, the reader complains about the value, never about an unknown key.
#[test]
fn every_key_the_schema_names_is_one_the_reader_knows() {
    let schema = schema();
    let defs = &schema["definitions"];
    let keys = |v: &Value| -> Vec<String> {
        v["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no properties in {v}"))
            .keys()
            .cloned()
            .collect()
    };
    let mut cases = Vec::new();
    for k in keys(&defs["cloud"]) {
        cases.push(BASE.replace("cloud = \"hospital\"", &format!("{k} = []")));
    }
    // `[]` is of the wrong type for every key but `skip_volumes`, where it is right.
    let wrong = |k: &str| if k == "skip_volumes" { "[1]" } else { "[]" };
    for k in keys(&schema["properties"]["defaults"]) {
        cases.push(BASE.replace("network = \"private\"", &format!("{k} = {}", wrong(&k))));
    }
    for k in keys(&defs["server"]) {
        cases.push(BASE.replace(
            "source = \"ehr-analytics\"",
            &format!("{k} = {}", wrong(&k)),
        ));
    }
    for k in keys(&defs["user_data"]) {
        cases.push(format!("{BASE}user_data = {{ {k} = [] }}\n"));
    }
    cases.push(format!("{BASE}server_group = {{ existing = [] }}\n"));
    for (table, def) in [
        ("select", "select"),
        ("image", "image"),
        ("keypair", "keypair"),
        ("transfer", "transfer"),
    ] {
        for k in keys(&defs[def]) {
            cases.push(format!("{BASE}{table} = {{ {k} = [] }}\n"));
        }
    }
    for k in ["pool", "address", "nic"] {
        cases.push(format!("{BASE}floating_ip = {{ {k} = [] }}\n"));
    }
    for k in keys(&defs["nic"]["oneOf"][1]) {
        cases.push(format!("{BASE}networks = {{ db = {{ {k} = [] }} }}\n"));
    }
    for k in keys(&defs["network_build"]) {
        cases.push(format!("{BASE}[[network]]\n{k} = []\n"));
    }
    for k in keys(&defs["router"]) {
        cases.push(format!(
            "{BASE}[[network]]\nfrom = \"db\"\nrouter = {{ {k} = [] }}\n"
        ));
    }
    assert!(cases.len() > 30, "{}", cases.len());
    for text in cases {
        let (ok, said) = reader_says(&text);
        assert!(!ok, "{text}");
        assert!(!said.contains("unknown key"), "{text}\n{said}");
    }
}

#[test]
fn the_example_plans_satisfy_the_schema() {
    let v = validator();
    let files = files("plans", "toml");
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("plan");
        let (ok, said) = schema_says(&v, &text);
        assert!(ok, "{}: {said}", file.display());
        let (ok, said) = s2d_validate(&file);
        assert!(ok, "{}: {said}", file.display());
    }
}

#[test]
fn the_plan_s2d_init_writes_names_the_schema_and_satisfies_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s2d.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_s2d"))
        .args(["init", "-q"])
        .arg(&path)
        .output()
        .expect("s2d runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).expect("written");
    assert_eq!(
        text.lines().next(),
        Some("#:schema /usr/share/s2d/schemas/s2d-plan-1.schema.json")
    );
    let (ok, said) = schema_says(&validator(), &text);
    assert!(ok, "{said}");
    let (ok, said) = s2d_validate(&path);
    assert!(ok, "{said}");
}

#[test]
fn what_s2d_convert_writes_satisfies_the_schema() {
    let v = validator();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    let mut inputs = files("tests/fixtures/plans", "toml");
    inputs.extend(files("tests/fixtures/plans", "xml"));
    inputs.extend(files("plans", "xml"));
    inputs.extend(files("plans", "toml"));
    for file in inputs {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let example = file
            .parent()
            .is_some_and(|p| p.ends_with("plans") && !p.ends_with("fixtures/plans"));
        if !(name.starts_with("valid-") || example) || name.contains("literal-password") {
            continue;
        }
        let out = dir.path().join(format!("{name}.toml"));
        let run = Command::new(env!("CARGO_BIN_EXE_s2d"))
            .args(["convert", "--to", "toml", "-q", "-o"])
            .arg(&out)
            .arg(&file)
            .output()
            .expect("s2d runs");
        assert!(
            run.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let text = std::fs::read_to_string(&out).expect("converted");
        let (ok, said) = schema_says(&v, &text);
        assert!(ok, "{name} converted:\n{text}\n{said}");
        checked += 1;
    }
    assert!(checked >= 13, "{checked}");
}
