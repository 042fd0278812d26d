//! Tests of `toml_reader`.

use super::*;

const QUICKSTART: &str = r#"version = 1
[source]
cloud = "provider"
[target]
cloud = "hospital"
[defaults]
network = "private"
keypair = { import = "alice-key" }
floating_ip = { pool = "public" }
[[server]]
source = "ehr-analytics"
"#;

fn read_str(text: &str) -> (Option<Plan>, Diagnostics) {
    let mut d = Diagnostics::default();
    (read(text, &mut d, &mut Vec::new()), d)
}

#[test]
fn a_quickstart_plan_reads_cleanly() {
    let (plan, d) = read_str(QUICKSTART);
    assert!(d.0.is_empty(), "{d:?}");
    let plan = plan.expect("plan");
    assert_eq!(plan.source, CloudRef::Named("provider".into()));
    assert_eq!(
        plan.servers[0].resolved(&plan.defaults).keypair,
        Some(KeypairMode::Import("alice-key".into()))
    );
}

#[test]
fn a_state_table_names_where_the_state_is_and_refuses_a_password() {
    let with = |location: &str| {
        QUICKSTART.replace(
            "[defaults]",
            &format!("[state]\nlocation = \"{location}\"\n[defaults]"),
        )
    };
    let (plan, d) = read_str(&with("postgres://s2d@db:5432/s2d?name=wave-1"));
    assert!(d.0.is_empty(), "{d:?}");
    assert_eq!(
        plan.expect("plan").state.as_deref(),
        Some("postgres://s2d@db:5432/s2d?name=wave-1")
    );
    let (_, d) = read_str(&with("postgres://s2d:hunter2@db/s2d?name=w"));
    assert_eq!(d.0.len(), 1, "{d:?}");
    assert!(d.0[0].message.contains("password"), "{d:?}");
    assert!(!d.0[0].message.contains("hunter2"));
    let (_, d) = read_str(&with("swift://hospital"));
    assert!(d.0[0].message.contains("swift://"), "{d:?}");
    let (_, d) = read_str(&QUICKSTART.replace("[defaults]", "[state]\nurl = \"x\"\n[defaults]"));
    let messages: Vec<_> = d.iter().map(|x| x.message.clone()).collect();
    assert!(
        messages.iter().any(|m| m.contains("unknown key `url`")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("no `location`")),
        "{messages:?}"
    );
}

#[test]
fn every_problem_is_reported_with_its_place() {
    let text = QUICKSTART.replace("source = \"ehr-analytics\"", "source = \"ehr-analytics\"\nimage = { diskformat = \"qcow2\", visibility = \"secret\" }\nfloating_ip = { address = \"300.1.2.3\" }");
    let (_, d) = read_str(&text);
    let messages: Vec<_> = d.iter().map(|x| x.message.clone()).collect();
    assert_eq!(d.0.len(), 3, "{messages:?}");
    assert!(d.0[0].message.contains("unknown key `diskformat`"));
    assert_eq!(d.0[0].help.as_deref(), Some("did you mean `disk_format`?"));
    let (line, col) =
        super::super::diag::line_column(&text, d.0[0].span.clone().expect("span").start);
    assert_eq!((line, col), (12, 11));
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`secret` is not a valid `visibility`"))
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`300.1.2.3` is not an IP address"))
    );
}

#[test]
fn cloud_and_server_rules() {
    let text = "version = 2\n[source]\ncloud = \"a\"\nauth_url = \"http://x\"\n[target]\nauth_url = \"http://k:5000/v3\"\npassword = \"p\"\n[[server]]\nsource = \"a\"\n[[server]]\nsource = \"b\"\nname = \"a\"\nkeypair = { import = \"k\", create = \"k\" }\n";
    let (_, d) = read_str(text);
    let all: String = d.iter().map(|x| format!("{}\n", x.message)).collect();
    for needle in [
        "plan version 2 is not supported",
        "[source] has both `cloud` and inline auth",
        "[target] holds a literal password",
        "[target]: inline auth needs `username` or `user_id`",
        "[target]: inline auth needs `project_name` or `project_id`",
        "two servers are named `a`",
        "exactly one of import, create, existing",
    ] {
        assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
    }
}

const BASE: &str = "version = 1\n[source]\ncloud = \"provider\"\n[target]\ncloud = \"hospital\"\n";

/// Every message of `text`, with its line and column, one a line.
fn located(text: &str) -> String {
    let (_, d) = read_str(text);
    d.iter()
        .map(|x| {
            let (line, col) = x
                .span
                .clone()
                .map_or((0, 0), |s| super::super::diag::line_column(text, s.start));
            format!("{line}:{col} {}\n", x.message)
        })
        .collect()
}

#[test]
fn a_fleet_reads_into_a_selection() {
    let text = format!(
        "{BASE}[[server]]\nselect = {{ name = \"analytics-*\", tags = [\"migrate\", \"gpu\"], metadata = {{ tier = \"db\", \"owner id\" = \"*\" }} }}\nname = \"{{source}}-copy\"\nflavor = \"m1.large\"\n[[server]]\nsource = \"ehr\"\n[[server]]\n[server.select]\ntags = [\"batch\"]\n"
    );
    let (plan, d) = read_str(&text);
    assert!(d.0.is_empty(), "{d:?}");
    let plan = plan.expect("plan");
    let fleet = &plan.servers[0];
    assert_eq!(fleet.source, "");
    let sel = fleet.select.as_ref().expect("a fleet");
    assert_eq!(sel.name.as_deref(), Some("analytics-*"));
    assert_eq!(sel.tags, ["migrate", "gpu"]);
    assert_eq!(
        sel.metadata,
        BTreeMap::from([
            ("owner id".to_string(), "*".to_string()),
            ("tier".to_string(), "db".to_string())
        ])
    );
    let r = fleet.resolved(&plan.defaults);
    assert_eq!(
        (r.name.as_str(), r.snapshot.as_str()),
        ("{source}-copy", "{source}-s2d")
    );
    assert_eq!(plan.servers[1].select, None);
    assert_eq!(
        plan.servers[2].select.as_ref().map(|s| s.tags.clone()),
        Some(vec!["batch".to_string()])
    );
}

#[test]
fn fleet_mistakes_are_located() {
    let cases: &[(&str, &str)] = &[
        (
            "source = \"a\"\nselect = { name = \"b*\" }\n",
            "8:10 a `[[server]]` has both `source` and `select`\n",
        ),
        (
            "name = \"x\"\n",
            "6:1 a `[[server]]` needs `source` or `select`\n",
        ),
        (
            "select = {}\n",
            "7:10 `select` needs at least one of `name`, `tags`, `metadata`\n",
        ),
        (
            "select = \"web-*\"\n",
            "7:10 `select` must be a table, not a string\n",
        ),
        (
            "select = { names = \"web-*\" }\n",
            "7:12 unknown key `names` in `select`\n",
        ),
        (
            "select = { name = 3, tags = \"a\", metadata = [] }\n",
            "7:19 `name` must be a string, not an integer\n7:29 `tags` must be an array of strings, not a string\n7:45 `metadata` must be a table, not an array\n",
        ),
        (
            "select = { tags = [], metadata = {} }\n",
            "7:19 `tags` must list at least one tag\n7:34 `metadata` must have at least one key\n",
        ),
        (
            "select = { tags = [\"a\", 1, \" \", \"a\"], metadata = { tier = 2, x = \"\" } }\n",
            "7:25 each tag must be a string, not an integer\n7:28 a tag must not be empty\n7:59 the metadata pattern of `tier` must be a string, not an integer\n7:66 the metadata pattern of `x` must not be empty\n7:33 the tag `a` is listed twice in `tags`\n",
        ),
        (
            "select = { tags = [\"a\", \"a\"] }\n",
            "7:25 the tag `a` is listed twice in `tags`\n",
        ),
        (
            "select = { name = \"w*\" }\nname = \"web\"\nsnapshot = \"snap\"\nimage = { name = \"img\" }\n",
            "8:8 in a fleet, `name` must contain `{source}`\n9:12 in a fleet, `snapshot` must contain `{source}`\n10:18 in a fleet, `name` in `image` must contain `{source}`\n",
        ),
        (
            "source = \"web\"\nname = \"{source}-x\"\nsnapshot = \"{source}\"\n",
            "8:8 `name` holds `{source}`, which only a fleet (`select`) fills in\n9:12 `snapshot` holds `{source}`, which only a fleet (`select`) fills in\n",
        ),
    ];
    for (server, want) in cases {
        let text = format!("{BASE}[[server]]\n{server}");
        assert_eq!(&located(&text), want, "{text}");
    }
}

#[test]
fn fleet_templates_are_not_compared_with_names() {
    // Two fleets with one template, and a literal name that a template could render: none
    // is a collision here (each source server goes to the first entry that selects it).
    let text = format!(
        "{BASE}[[server]]\nselect = {{ name = \"web-*\" }}\n[[server]]\nselect = {{ name = \"db-*\" }}\n[[server]]\nsource = \"x\"\nname = \"{{source}}\"\n"
    );
    assert_eq!(
        located(&text),
        "12:8 `name` holds `{source}`, which only a fleet (`select`) fills in\n"
    );
    let text = format!(
        "{BASE}[[server]]\nselect = {{ name = \"web-*\" }}\n[[server]]\nselect = {{ name = \"web-*\" }}\nname = \"{{source}}-2\"\n[[server]]\nsource = \"web-1-s2d\"\n"
    );
    let (plan, d) = read_str(&text);
    assert!(!d.has_errors(), "{d:?}");
    assert!(plan.is_some());
    assert_eq!(
        located(&text),
        "9:10 this fleet selects nothing: the fleet at line 7 has the same selection\n"
    );
}

#[test]
fn syntax_errors_are_located() {
    let (plan, d) = read_str("version = 1\n[source\n");
    assert!(plan.is_none());
    assert!(d.0[0].message.starts_with("TOML syntax"));
    assert!(d.0[0].span.is_some());
}

const TWO_NICS: &str = r#"version = 1
[source]
cloud = "provider"
[target]
cloud = "hospital"
[defaults]
networks = { "private" = "private", "src-db" = { network = "db-net", keep_ip = true } }
keypair = { import = "alice-key" }
floating_ip = { pool = "public", nic = "private" }

[[network]]
from = "src-db"
name = "db-net"
router = { external = "public" }

[[network]]
from = "storage"
router = { external = "public", name = "storage-gw" }

[[server]]
source = "ehr-db"
networks = { "src-db" = { network = "db-net", keep_ip = true, keep_mac = true } }

[[server]]
source = "ehr-web"
network = "private"
floating_ip = { address = "203.0.113.7", nic = "private" }
"#;

#[test]
fn nic_maps_built_networks_and_the_floating_ip_nic_read() {
    let (plan, d) = read_str(TWO_NICS);
    assert!(d.0.is_empty(), "{d:?}");
    let plan = plan.expect("plan");
    assert_eq!(plan.networks.len(), 2);
    let db = &plan.networks[0];
    assert_eq!((db.from.as_str(), db.target_name()), ("src-db", "db-net"));
    assert_eq!(
        db.router,
        Some(RouterBuild {
            external: "public".into(),
            name: None
        })
    );
    assert_eq!(db.router_name().as_deref(), Some("db-net-router"));
    assert_eq!(plan.networks[1].target_name(), "storage");
    assert_eq!(
        plan.networks[1].router_name().as_deref(),
        Some("storage-gw")
    );
    assert_eq!(plan.defaults.networks["private"], NicMap::to("private"));
    let r = plan.servers[0].resolved(&plan.defaults);
    assert_eq!(r.networks.len(), 2);
    assert_eq!(
        r.networks["src-db"],
        NicMap {
            network: "db-net".into(),
            keep_ip: true,
            keep_mac: true
        }
    );
    assert_eq!(r.floating_ip_nic.as_deref(), Some("private"));
    assert_eq!(r.security_group, None);
    let web = plan.servers[1].resolved(&plan.defaults);
    assert_eq!(web.network.as_deref(), Some("private"));
    assert_eq!(web.floating_ip_nic.as_deref(), Some("private"));
}

/// Every message of `text` with its place and code, one a line.
fn coded(text: &str) -> String {
    let (_, d) = read_str(text);
    d.iter()
        .map(|x| {
            let (line, col) = x
                .span
                .clone()
                .map_or((0, 0), |s| super::super::diag::line_column(text, s.start));
            format!("{line}:{col} {} [{}]\n", x.message, x.code.unwrap_or("-"))
        })
        .collect()
}

#[test]
fn network_mistakes_are_located_with_their_codes() {
    let cases: &[(&str, &str)] = &[
        (
            "[defaults]\nnetworks = {}\n",
            "7:12 `networks` must map at least one network [s2d::plan::nic_map_empty]\n",
        ),
        (
            "[defaults]\nnetworks = { \"\" = \"a\", b = \"\", c = { keep_ip = true }, d = 3 }\n",
            "7:60 the NIC on `d` must be a string or a table, not an integer [-]\n7:14 a source network in `networks` must not be empty [s2d::plan::empty_name]\n7:28 the NIC on `b` is mapped to an empty network [s2d::plan::nic_to_nothing]\n7:36 the NIC on `c` names no `network` [s2d::plan::nic_to_nothing]\n",
        ),
        (
            "[defaults]\nnetworks = { a = { network = \"n\", keep_ip = \"yes\", keep_mac = 1, mtu = 9000 } }\n",
            "7:66 unknown key `mtu` in a NIC of `networks` [-]\n7:45 `keep_ip` must be a boolean, not a string [-]\n7:63 `keep_mac` must be a boolean, not an integer [-]\n",
        ),
        (
            "[defaults]\nnetworks = \"private\"\n",
            "7:12 `networks` must be a table, not a string [-]\n",
        ),
        (
            "[defaults]\nfloating_ip = { pool = \"public\", nic = \"\" }\n",
            "7:40 `nic` of `floating_ip` must not be empty [s2d::plan::empty_name]\n",
        ),
        (
            "[defaults]\nfloating_ip = { nic = \"private\" }\n",
            "7:15 `floating_ip` must have exactly one of `pool` or `address` [-]\n",
        ),
        (
            "[[network]]\nfrom = \"a\"\nname = \"x\"\n[[network]]\nfrom = \"a\"\n[[network]]\nfrom = \"b\"\nname = \"x\"\n",
            "10:8 the source network `a` is built twice [s2d::plan::network_twice]\n13:8 the network name `x` is taken by another built network or router [s2d::plan::network_name_taken]\n",
        ),
        (
            "[[network]]\nname = \"x\"\nsubnets = 2\n[[network]]\nfrom = \" \"\nrouter = { name = \"r\" }\n[[network]]\nfrom = \"c\"\nrouter = { external = \"\" }\n[[network]]\nfrom = \"d\"\nrouter = \"public\"\n",
            "8:1 unknown key `subnets` in [[network]] [-]\n17:10 `router` must be a table, not a string [-]\n6:1 a `[[network]]` needs `from` [s2d::plan::network_without_from]\n10:8 `from` of a `[[network]]` must not be empty [s2d::plan::empty_name]\n11:10 a `router` needs `external` [s2d::plan::router_without_external]\n14:23 `external` of a `router` must not be empty [s2d::plan::router_without_external]\n",
        ),
    ];
    for (extra, want) in cases {
        let text = format!("{BASE}{extra}[[server]]\nsource = \"s\"\nnetwork = \"n\"\n");
        assert_eq!(&coded(&text), want, "{text}");
    }
    // `network` at the top level is the `[[network]]` array, not a server's network.
    let text = format!("network = \"private\"\n{BASE}[[server]]\nsource = \"s\"\n");
    assert_eq!(
        coded(&text),
        "1:11 `network` must be an array of tables (`[[network]]`), not a string [-]\n"
    );
}

#[test]
fn volume_options_read_in_defaults_and_servers() {
    let text = format!(
        "{BASE}[defaults]\nnetwork = \"private\"\nskip_volumes = [\"scratch\", \"0b7c5a3e-1111-4c2f-9d7e-3a1f2b3c4d5e\"]\nvolume_types = {{ \"ceph\" = \"fast\", hdd = \"slow\" }}\nstop = true\n[[server]]\nsource = \"db\"\nvolume_types = {{ ceph = \"nvme\" }}\nkeep_volume_intermediates = true\nvolume_format = \"qcow2\"\n[[server]]\nsource = \"web\"\nskip_volumes = []\nstop = false\nvolume_format = \"raw\"\n[[server]]\nselect = {{ name = \"batch-*\" }}\nskip_volumes = [\"tmp\"]\n"
    );
    let (plan, d) = read_str(&text);
    assert!(d.0.is_empty(), "{d:?}");
    let plan = plan.expect("plan");
    assert_eq!(
        plan.defaults.skip_volumes.as_deref(),
        Some(
            &[
                "scratch".to_string(),
                "0b7c5a3e-1111-4c2f-9d7e-3a1f2b3c4d5e".to_string()
            ][..]
        )
    );
    assert_eq!(plan.defaults.stop, Some(true));
    assert_eq!(plan.defaults.volume_format, None);
    let db = plan.servers[0].resolved(&plan.defaults);
    assert_eq!(db.skip_volumes.len(), 2);
    assert_eq!(
        db.volume_types,
        BTreeMap::from([
            ("ceph".to_string(), "nvme".to_string()),
            ("hdd".to_string(), "slow".to_string())
        ])
    );
    assert!(db.stop && db.keep_volume_intermediates);
    assert_eq!(db.volume_format, VolumeFormat::Qcow2);
    let web = plan.servers[1].resolved(&plan.defaults);
    assert_eq!(plan.servers[1].options.skip_volumes, Some(Vec::new()));
    assert!(web.skip_volumes.is_empty());
    assert!(!web.stop && !web.keep_volume_intermediates);
    assert_eq!(web.volume_format, VolumeFormat::Raw);
    let fleet = plan.servers[2].resolved(&plan.defaults);
    assert_eq!(fleet.skip_volumes, ["tmp"]);
    assert!(fleet.stop);
}

#[test]
fn volume_mistakes_are_located_with_their_codes() {
    let cases: &[(&str, &str)] = &[
        (
            "skip_volumes = [\"a\", \"\", \" \", \"a\"]\n",
            "9:22 a volume in `skip_volumes` must not be empty [s2d::plan::empty_name]\n9:26 a volume in `skip_volumes` must not be empty [s2d::plan::empty_name]\n9:31 the volume `a` is listed twice in `skip_volumes` [s2d::plan::volume_skipped_twice]\n",
        ),
        (
            "skip_volumes = \"scratch\"\n",
            "9:16 `skip_volumes` must be an array of strings, not a string [-]\n",
        ),
        (
            "skip_volumes = [\"a\", 1, { name = \"b\" }]\n",
            "9:22 each volume in `skip_volumes` must be a string, not an integer [-]\n9:25 each volume in `skip_volumes` must be a string, not a table [-]\n",
        ),
        (
            "volume_types = {}\n",
            "9:16 `volume_types` must map at least one volume type [s2d::plan::volume_types_empty]\n",
        ),
        (
            "volume_types = { \"\" = \"fast\", ceph = \"\", hdd = 3 }\n",
            "9:48 the target volume type of `hdd` must be a string, not an integer [-]\n9:18 a source volume type in `volume_types` must not be empty [s2d::plan::empty_name]\n9:38 the target volume type of `ceph` must not be empty [s2d::plan::empty_name]\n",
        ),
        (
            "volume_types = { ceph = true }\n",
            "9:25 the target volume type of `ceph` must be a string, not a boolean [-]\n",
        ),
        (
            "volume_types = [\"ceph\"]\n",
            "9:16 `volume_types` must be a table, not an array [-]\n",
        ),
        (
            "stop = \"yes\"\nkeep_volume_intermediates = 1\n",
            "9:8 `stop` must be a boolean, not a string [-]\n10:29 `keep_volume_intermediates` must be a boolean, not an integer [-]\n",
        ),
        (
            "volume_format = \"vmdk\"\n",
            "9:17 `vmdk` is not a valid `volume_format` [s2d::plan::volume_format]\n",
        ),
        (
            "volume_format = \"QCOW2\"\n",
            "9:17 `QCOW2` is not a valid `volume_format` [s2d::plan::volume_format]\n",
        ),
        (
            "volume_format = \"\"\n",
            "9:17 `volume_format` must not be empty [s2d::plan::volume_format]\n",
        ),
        (
            "volume_format = true\n",
            "9:17 `volume_format` must be a string, not a boolean [-]\n",
        ),
        (
            "volume_fromat = \"raw\"\nskip_volume = []\n",
            "10:1 unknown key `skip_volume` in [[server]] [-]\n9:1 unknown key `volume_fromat` in [[server]] [-]\n",
        ),
    ];
    for (server, want) in cases {
        let text = format!("{BASE}[[server]]\nsource = \"s\"\nnetwork = \"n\"\n{server}");
        assert_eq!(&coded(&text), want, "{text}");
    }
    // The same rules in [defaults], and a name longer than Cinder takes.
    let text = format!(
        "{BASE}[defaults]\nskip_volumes = [\"{}\"]\nvolume_types = {{ ceph = \"fast\", \"hdd\" = \"{}\" }}\n[[server]]\nsource = \"s\"\n",
        "v".repeat(256),
        "t".repeat(256)
    );
    assert_eq!(
        coded(&text),
        "7:17 a volume in `skip_volumes` is 256 characters long; Cinder takes at most 255 [s2d::plan::name_too_long]\n8:41 the target volume type of `hdd` is 256 characters long; Cinder takes at most 255 [s2d::plan::name_too_long]\n"
    );
    // The hints: the allowed formats, and the near-miss key.
    let text = format!(
        "{BASE}[[server]]\nsource = \"s\"\nvolume_format = \"vmdk\"\nvolume_fromat = \"raw\"\n"
    );
    let (_, d) = read_str(&text);
    let helps: Vec<&str> = d.iter().filter_map(|x| x.help.as_deref()).collect();
    assert!(
        helps
            .iter()
            .any(|h| h.starts_with("allowed values: raw, qcow2")),
        "{helps:?}"
    );
    assert!(
        helps.contains(&"did you mean `volume_format`?"),
        "{helps:?}"
    );
}
