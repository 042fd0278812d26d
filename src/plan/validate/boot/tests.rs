//! Tests of the boot fidelity rules, through both readers: each rule says the same in TOML and
//! XML, at the place of the key.

use super::super::super::diag::{Severity, line_column};
use super::super::super::model::UserData;
use super::super::super::{Syntax, parse_str};
use super::*;

const TOML_HEAD: &str =
    "version = 1\n[source]\ncloud = \"a\"\n[target]\ncloud = \"b\"\n[[server]]\nsource = \"s\"\n";
const XML_HEAD: &str = "<plan xmlns=\"urn:s2d:plan:1\" version=\"1\"><source cloud=\"a\"/><target cloud=\"b\"/>\n<server source=\"s\">\n";

/// (severity, line, message) of each diagnostic.
fn said(text: &str, syntax: Syntax) -> Vec<(Severity, usize, String)> {
    let loaded = parse_str(text, syntax, "p");
    loaded
        .diagnostics
        .iter()
        .map(|d| {
            let line = d
                .span
                .as_ref()
                .map_or(0, |s| line_column(&loaded.text, s.start).0);
            (d.severity, line, d.message.clone())
        })
        .collect()
}

fn toml(server: &str) -> Vec<(Severity, usize, String)> {
    said(&format!("{TOML_HEAD}{server}\n"), Syntax::Toml)
}

fn xml(server: &str) -> Vec<(Severity, usize, String)> {
    said(
        &format!("{XML_HEAD}{server}\n</server></plan>\n"),
        Syntax::Xml,
    )
}

/// The one diagnostic, on line 8 (TOML) or 3 (XML): the line of the server's body.
fn one(found: Vec<(Severity, usize, String)>, severity: Severity, line: usize, piece: &str) {
    assert_eq!(found.len(), 1, "{found:?}");
    let (s, l, m) = &found[0];
    assert_eq!((*s, *l), (severity, line), "{found:?}");
    assert!(m.contains(piece), "{m}");
}

#[test]
fn property_rules_agree_in_both_syntaxes() {
    use Severity::{Error, Warning};
    let long = "k".repeat(256);
    let cases: &[(&str, &str, Severity, &str)] = &[
        (
            "image = { properties = { s2d_lineage = \"x\" } }",
            "<image><property key=\"s2d_lineage\" value=\"x\"/></image>",
            Error,
            "one of s2d's own markers",
        ),
        (
            "image = { drop_properties = [\"s2d_address\"] }",
            "<image><drop key=\"s2d_address\"/></image>",
            Error,
            "one of s2d's own markers",
        ),
        (
            "image = { properties = { os_type = \"linux\" }, drop_properties = [\"os_type\"] }",
            "<image><property key=\"os_type\" value=\"linux\"/><drop key=\"os_type\"/></image>",
            Error,
            "both set and dropped",
        ),
        (
            "image = { drop_properties = [\"os_type\", \"os_type\"] }",
            "<image><drop key=\"os_type\"/><drop key=\"os_type\"/></image>",
            Error,
            "dropped twice",
        ),
        (
            "image = { properties = { min_disk = \"20\" } }",
            "<image><property key=\"min_disk\" value=\"20\"/></image>",
            Error,
            "a Glance image attribute",
        ),
        (
            "image = { properties = { os_glance_x = \"1\" } }",
            "<image><property key=\"os_glance_x\" value=\"1\"/></image>",
            Error,
            "a Glance image attribute",
        ),
        (
            "image = { properties = { os_type = \"\" } }",
            "<image><property key=\"os_type\" value=\"\"/></image>",
            Error,
            "must not be empty",
        ),
        (
            "image = { properties = { kernel_id = \"k\" } }",
            "<image><property key=\"kernel_id\" value=\"k\"/></image>",
            Warning,
            "s2d never carries it",
        ),
        (
            "image = { drop_properties = [\"instance_uuid\"] }",
            "<image><drop key=\"instance_uuid\"/></image>",
            Warning,
            "changes nothing",
        ),
        (
            "server_group = \"sometimes\"",
            "<serverGroup mode=\"sometimes\"/>",
            Error,
            "is not a valid",
        ),
        (
            "zones = { nova = \"az-b\" }\navailability_zone = \"az\"",
            "<availabilityZone name=\"az\"/><zones><zone from=\"nova\" to=\"az-b\"/></zones>",
            Warning,
            "is never used",
        ),
        (
            "user_data = { file = \"conf/\" }",
            "<userData file=\"conf/\"/>",
            Error,
            "names a folder",
        ),
    ];
    for (t, x, severity, piece) in cases {
        one(toml(t), *severity, 8, piece);
        one(xml(x), *severity, 3, piece);
    }
    let too_long = format!("image = {{ properties = {{ {long} = \"v\" }} }}");
    one(toml(&too_long), Error, 8, "Glance takes at most 255");
}

#[test]
fn what_the_plan_says_reaches_the_model() {
    let text = format!(
        "{TOML_HEAD}image = {{ properties = {{ hw_firmware_type = \"uefi\" }}, drop_properties = [\"os_type\"] }}\nuser_data = {{ file = \"ci.yaml\" }}\nzones = {{ nova = \"az-b\" }}\nserver_group = {{ existing = \"g\" }}\n[defaults]\navailability_zone = \"az-1\"\nserver_group = \"none\"\n"
    );
    let loaded = parse_str(&text, Syntax::Toml, "p");
    let plan = loaded.plan.expect("plan");
    // The server's zone map is dead under the default zone: a warning, not an error.
    assert!(!loaded.diagnostics.has_errors(), "{:?}", loaded.diagnostics);
    assert_eq!(loaded.diagnostics.0.len(), 1, "{:?}", loaded.diagnostics);
    assert!(
        loaded.diagnostics.0[0]
            .message
            .contains("zone map is never used")
    );
    let r = plan.servers[0].resolved(&plan.defaults);
    assert_eq!(r.image_properties["hw_firmware_type"], "uefi");
    assert_eq!(r.drop_properties, vec!["os_type".to_string()]);
    assert_eq!(r.user_data, Some(UserData::File("ci.yaml".into())));
    assert_eq!(r.availability_zone.as_deref(), Some("az-1"));
    assert_eq!(r.zones["nova"], "az-b");
    assert_eq!(r.server_group, ServerGroupMode::Existing("g".into()));
    assert_eq!(plan.defaults.server_group, Some(ServerGroupMode::None));
}

#[test]
fn the_lists_say_what_they_mean() {
    assert!(is_source_only_property("owner_specified.openstack.md5"));
    assert!(is_source_only_property("img_signature_hash_method"));
    assert!(is_source_only_property("kernel_id"));
    assert!(!is_source_only_property("hw_firmware_type"));
    assert!(!is_source_only_property("os_distro"));
    assert!(is_glance_attribute("os_glance_import_task"));
    assert!(is_glance_attribute("min_ram"));
    assert!(!is_glance_attribute("os_type"));
    assert!(!is_glance_attribute("hw_disk_bus"));
}
