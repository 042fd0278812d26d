//! The TOML reader: walks the parsed document with the position of every key and value, builds
//! the [`Plan`] and reports every problem (syntax, unknown keys, wrong types, bad values,
//! missing and conflicting settings) with its place.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diag::Diagnostics;
use super::model::*;
use super::validate::{
    self, AUTH_KEYS, CloudFound, DISK_FORMATS, INTERFACES, OriginFound, SelectFound, ServerFound,
    Spelling, TRANSFER_MODES, VISIBILITIES, did_you_mean,
};

type Table<'i> = DeTable<'i>;

/// A table being read: the keys it may have; unknown ones are reported when it is done.
struct Reader<'a, 'i> {
    table: &'a Table<'i>,
    span: Range<usize>,
    what: &'static str,
    known: &'static [&'static str],
}

impl<'a, 'i> Reader<'a, 'i> {
    fn new(
        table: &'a Table<'i>,
        span: Range<usize>,
        what: &'static str,
        known: &'static [&'static str],
    ) -> Self {
        Reader {
            table,
            span,
            what,
            known,
        }
    }

    fn get(&self, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(_, v)| v)
    }

    fn string(&self, key: &str, d: &mut Diagnostics) -> Option<(String, Range<usize>)> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::String(s) if !s.trim().is_empty() => Some((s.to_string(), value.span())),
            DeValue::String(_) => {
                d.error(
                    Some(value.span()),
                    format!("`{key}` must not be empty"),
                    None,
                );
                None
            }
            other => {
                d.error(
                    Some(value.span()),
                    format!("`{key}` must be a string, not {}", kind(other)),
                    None,
                );
                None
            }
        }
    }

    fn enum_string(&self, key: &str, values: &[&str], d: &mut Diagnostics) -> Option<String> {
        let (s, span) = self.string(key, d)?;
        validate::one_of(key, s, span, values, d)
    }

    fn finish(&self, d: &mut Diagnostics) {
        for (key, _) in self.table.iter() {
            let name = key.get_ref().as_ref();
            if !self.known.contains(&name) {
                let help = did_you_mean(name, self.known)
                    .unwrap_or_else(|| format!("{} keys: {}", self.what, self.known.join(", ")));
                d.error(
                    Some(key.span()),
                    format!("unknown key `{name}` in {}", self.what),
                    Some(help),
                );
            }
        }
    }
}

fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

const TOP: &[&str] = &["version", "source", "target", "state", "defaults", "server"];
const STATE: &[&str] = &["location"];
const CLOUD: &[&str] = &[
    "cloud",
    "auth_url",
    "username",
    "user_id",
    "password_env",
    "password",
    "project_name",
    "project_id",
    "user_domain_name",
    "project_domain_name",
    "region",
    "application_credential_id",
    "application_credential_secret_env",
    "cacert",
    "interface",
];
const DEFAULTS: &[&str] = &[
    "network",
    "keypair",
    "security_group",
    "floating_ip",
    "transfer",
];
const SERVER: &[&str] = &[
    "source",
    "select",
    "name",
    "snapshot",
    "image",
    "flavor",
    "network",
    "keypair",
    "security_group",
    "floating_ip",
    "transfer",
];
const IMAGE: &[&str] = &["name", "disk_format", "visibility"];
const SELECT: &[&str] = &["name", "tags", "metadata"];
const KEYPAIR: &[&str] = &["import", "create", "existing"];
const FLOATING_IP: &[&str] = &["pool", "address"];
const TRANSFER: &[&str] = &["mode"];

/// Read a TOML plan, reporting every problem into `d`. Returns the plan when it is complete
/// enough to build (it may still carry errors).
/// The byte ranges of literal secrets go into `secrets`, so that snippets can mask them.
pub(super) fn read(
    text: &str,
    d: &mut Diagnostics,
    secrets: &mut Vec<Range<usize>>,
) -> Option<Plan> {
    let (root, errors) = DeTable::parse_recoverable(text);
    for e in &errors {
        d.error(
            e.span(),
            format!("TOML syntax: {}", e.message().trim()),
            None,
        );
    }
    if !errors.is_empty() {
        return None;
    }
    let root_span = root.span();
    let top = Reader::new(root.get_ref(), root_span.clone(), "the plan", TOP);

    let version = match top.get("version") {
        None => {
            d.error(
                Some(0..0),
                "the plan has no `version`",
                Some("add `version = 1` at the top".into()),
            );
            None
        }
        Some(v) => match v.get_ref() {
            DeValue::Integer(i) => match i.as_str().parse::<i64>() {
                Ok(1) => Some(1),
                _ => {
                    d.error(
                        Some(v.span()),
                        format!("plan version {} is not supported", i.as_str()),
                        Some("this s2d reads version 1".into()),
                    );
                    None
                }
            },
            other => {
                d.error(
                    Some(v.span()),
                    format!("`version` must be an integer, not {}", kind(other)),
                    Some("write `version = 1`".into()),
                );
                None
            }
        },
    };

    let source = cloud(&top, "source", d, secrets);
    let target = cloud(&top, "target", d, secrets);
    let state = match table_of(&top, "state", d) {
        Some((t, span)) => {
            let r = Reader::new(t, span.clone(), "[state]", STATE);
            r.finish(d);
            match r.string("location", d) {
                Some((value, at)) => validate::state_location(value, at, d),
                None => {
                    if r.get("location").is_none() {
                        d.error(
                            Some(span),
                            "[state] has no `location`",
                            Some(
                                "add `location = \"postgres://user@host:5432/db?name=NAME\"`, `\"swift://CLOUD/CONTAINER/OBJECT\"` or a path".into(),
                            ),
                        );
                    }
                    None
                }
            }
        }
        None => None,
    };
    let defaults = match table_of(&top, "defaults", d) {
        Some((t, span)) => options(&Reader::new(t, span, "[defaults]", DEFAULTS), d),
        None => Some(ServerOptions::default()),
    };

    let mut found = Vec::new();
    match top.get("server") {
        None => d.error(
            Some(root_span.start..root_span.start),
            "the plan has no servers",
            Some(
                "add a `[[server]]` table with `source = \"<server in the source cloud>\"`".into(),
            ),
        ),
        Some(v) => match v.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    let DeValue::Table(t) = item.get_ref() else {
                        d.error(Some(item.span()), "each `[[server]]` must be a table", None);
                        continue;
                    };
                    let r = Reader::new(t, item.span(), "[[server]]", SERVER);
                    found.extend(server(&r, d));
                }
                if items.is_empty() {
                    d.error(Some(v.span()), "the plan has no servers", None);
                }
            }
            other => d.error(
                Some(v.span()),
                format!(
                    "`server` must be an array of tables (`[[server]]`), not {}",
                    kind(other)
                ),
                None,
            ),
        },
    }
    if let Some(defaults) = &defaults {
        validate::servers(&found, defaults, text, d);
    }
    let servers = found.into_iter().map(|f| f.server).collect();
    top.finish(d);

    Some(Plan {
        version: version?,
        source: source?,
        target: target?,
        state,
        defaults: defaults?,
        servers,
    })
}

fn table_of<'a, 'i>(
    r: &Reader<'a, 'i>,
    key: &str,
    d: &mut Diagnostics,
) -> Option<(&'a Table<'i>, Range<usize>)> {
    let v = r.get(key)?;
    match v.get_ref() {
        DeValue::Table(t) => Some((t, v.span())),
        other => {
            d.error(
                Some(v.span()),
                format!("`{key}` must be a table, not {}", kind(other)),
                None,
            );
            None
        }
    }
}

fn cloud(
    top: &Reader<'_, '_>,
    side: &'static str,
    d: &mut Diagnostics,
    secrets: &mut Vec<Range<usize>>,
) -> Option<CloudRef> {
    let Some((t, span)) = table_of(top, side, d) else {
        if top.get(side).is_none() {
            d.error(
                Some(top.span.start..top.span.start),
                format!("the plan has no [{side}]"),
                Some(format!(
                    "add `[{side}]` with `cloud = \"<clouds.yaml entry>\"` or inline auth"
                )),
            );
        }
        return None;
    };
    let what = if side == "source" {
        "[source]"
    } else {
        "[target]"
    };
    let r = Reader::new(t, span.clone(), what, CLOUD);
    r.finish(d);
    let cloud = r.string("cloud", d);
    let mut auth = InlineAuth::default();
    let mut spans = BTreeMap::new();
    for (key, _) in AUTH_KEYS {
        if *key == "password" {
            continue;
        }
        let value = if *key == "interface" {
            r.enum_string(key, INTERFACES, d)
                .zip(r.get(key).map(|v| v.span()))
        } else {
            r.string(key, d)
        };
        if let (Some((value, vspan)), Some(slot)) = (value, auth.text_mut(key)) {
            *slot = Some(value);
            spans.insert(*key, vspan);
        }
    }
    if let Some((password, pspan)) = r.string("password", d) {
        auth.password = Some(Secret::new(password));
        secrets.push(pspan.clone());
        spans.insert("password", pspan.clone());
        d.warning(
            Some(pspan),
            format!("{what} holds a literal password"),
            Some(
                "a secret belongs in an environment variable (`password_env`) or clouds.yaml"
                    .into(),
            ),
        );
    }
    // A key that was given but is wrong still counts as inline auth, so that the message
    // is about that key and not about a missing cloud.
    let any_inline = AUTH_KEYS.iter().any(|(key, _)| r.get(key).is_some());
    validate::cloud_ref(
        CloudFound {
            what,
            span,
            cloud_invalid: cloud.is_none() && r.get("cloud").is_some(),
            cloud,
            inline: any_inline.then_some((auth, spans)),
        },
        Spelling::Toml,
        d,
        secrets,
    )
}

fn options(r: &Reader<'_, '_>, d: &mut Diagnostics) -> Option<ServerOptions> {
    if r.known == DEFAULTS {
        r.finish(d);
    }
    let mut ok = true;
    let mut out = ServerOptions {
        network: r.string("network", d).map(|(s, _)| s),
        security_group: r.string("security_group", d).map(|(s, _)| s),
        ..ServerOptions::default()
    };
    if let Some((t, span)) = table_of(r, "keypair", d) {
        let k = Reader::new(t, span.clone(), "`keypair`", KEYPAIR);
        k.finish(d);
        let modes: Vec<(&str, String)> = KEYPAIR
            .iter()
            .filter_map(|m| k.string(m, d).map(|(v, _)| (*m, v)))
            .collect();
        out.keypair = validate::keypair(&modes, span, "keypair = { import = \"alice-key\" }", d);
        ok &= out.keypair.is_some();
    }
    if let Some(v) = r.get("floating_ip") {
        match v.get_ref() {
            DeValue::Boolean(false) => out.floating_ip = Some(FloatingIp::Disabled),
            DeValue::Table(t) => {
                let f = Reader::new(t, v.span(), "`floating_ip`", FLOATING_IP);
                f.finish(d);
                match (f.string("pool", d), f.string("address", d)) {
                    (Some((pool, _)), None) => out.floating_ip = Some(FloatingIp::Pool(pool)),
                    (None, Some((address, aspan))) => {
                        out.floating_ip =
                            validate::ip_address(&address, aspan, d).map(FloatingIp::Address);
                        ok &= out.floating_ip.is_some();
                    }
                    _ => {
                        ok = false;
                        d.error(
                            Some(v.span()),
                            "`floating_ip` must have exactly one of `pool` or `address`",
                            Some("or write `floating_ip = false`".into()),
                        );
                    }
                }
            }
            other => {
                ok = false;
                d.error(
                    Some(v.span()),
                    format!(
                        "`floating_ip` must be a table or `false`, not {}",
                        kind(other)
                    ),
                    Some("e.g. floating_ip = { pool = \"public\" }".into()),
                );
            }
        }
    }
    if let Some((t, span)) = table_of(r, "transfer", d) {
        let tr = Reader::new(t, span.clone(), "`transfer`", TRANSFER);
        tr.finish(d);
        if tr.get("mode").is_none() {
            ok = false;
            d.error(
                Some(span),
                "`transfer` needs `mode`",
                Some(format!("one of {}", TRANSFER_MODES.join(", "))),
            );
        }
        out.transfer = tr.enum_string("mode", TRANSFER_MODES, d).map(|m| {
            if m == "spool" {
                TransferMode::Spool
            } else {
                TransferMode::Stream
            }
        });
    }
    ok.then_some(out)
}

fn server(r: &Reader<'_, '_>, d: &mut Diagnostics) -> Option<ServerFound> {
    r.finish(d);
    let source = r.string("source", d);
    let select = r.get("select").map(|v| (selection(v, d), v.span()));
    let name = r.string("name", d);
    let snapshot = r.string("snapshot", d);
    let mut image = ImageOptions::default();
    let mut image_name_span = None;
    if let Some((t, span)) = table_of(r, "image", d) {
        let i = Reader::new(t, span, "`image`", IMAGE);
        i.finish(d);
        if let Some((n, nspan)) = i.string("name", d) {
            image.name = Some(n);
            image_name_span = Some(nspan);
        }
        image.disk_format = i.enum_string("disk_format", DISK_FORMATS, d);
        image.visibility = i.enum_string("visibility", VISIBILITIES, d);
    }
    let flavor = r.string("flavor", d).map(|(s, _)| s);
    let options = options(r, d);
    let (select_value, select_span) = match select {
        Some((value, span)) => (value, Some(span)),
        None => (None, None),
    };
    let (source, select, origin_span) = validate::origin(
        OriginFound {
            server_span: r.span.clone(),
            source_given: r.get("source").is_some(),
            source,
            select: select_value,
            select_span,
        },
        Spelling::Toml,
        d,
    )?;
    let name_span = name
        .as_ref()
        .map(|(_, s)| s.clone())
        .unwrap_or(origin_span.clone());
    let snapshot_span = snapshot
        .as_ref()
        .map(|(_, s)| s.clone())
        .unwrap_or(name_span.clone());
    let found = ServerFound {
        server: Server {
            select,
            source,
            name: name.map(|(n, _)| n),
            snapshot: snapshot.map(|(s, _)| s),
            image,
            flavor,
            // A bad option is already reported; keep the server for the plan-wide checks.
            options: options.unwrap_or_default(),
        },
        image_span: image_name_span.unwrap_or(snapshot_span.clone()),
        snapshot_span,
        name_span,
        origin_span,
    };
    validate::templates(&found, Spelling::Toml, d);
    Some(found)
}

/// A fleet's `select = { name = "web-*", tags = [...], metadata = { key = "pattern" } }`.
fn selection(v: &Spanned<DeValue<'_>>, d: &mut Diagnostics) -> Option<Selection> {
    let DeValue::Table(t) = v.get_ref() else {
        d.error(
            Some(v.span()),
            format!("`select` must be a table, not {}", kind(v.get_ref())),
            Some("e.g. select = { name = \"web-*\", tags = [\"migrate\"] }".into()),
        );
        return None;
    };
    let r = Reader::new(t, v.span(), "`select`", SELECT);
    r.finish(d);
    let mut ok = true;
    let name = r.string("name", d);
    ok &= name.is_some() || r.get("name").is_none();
    let mut tags = Vec::new();
    if let Some(list) = r.get("tags") {
        match list.get_ref() {
            DeValue::Array(items) if items.is_empty() => {
                ok = false;
                d.error(
                    Some(list.span()),
                    "`tags` must list at least one tag",
                    Some("leave `tags` out to select by name or metadata alone".into()),
                );
            }
            DeValue::Array(items) => {
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(tag) if !tag.trim().is_empty() => {
                            tags.push((tag.to_string(), item.span()));
                        }
                        DeValue::String(_) => {
                            ok = false;
                            d.error(Some(item.span()), "a tag must not be empty", None);
                        }
                        other => {
                            ok = false;
                            d.error(
                                Some(item.span()),
                                format!("each tag must be a string, not {}", kind(other)),
                                None,
                            );
                        }
                    }
                }
            }
            other => {
                ok = false;
                d.error(
                    Some(list.span()),
                    format!("`tags` must be an array of strings, not {}", kind(other)),
                    Some("e.g. tags = [\"migrate\"]".into()),
                );
            }
        }
    }
    let mut metadata = Vec::new();
    if let Some(table) = r.get("metadata") {
        match table.get_ref() {
            DeValue::Table(entries) if entries.is_empty() => {
                ok = false;
                d.error(
                    Some(table.span()),
                    "`metadata` must have at least one key",
                    Some("e.g. metadata = { tier = \"db\" }; leave `metadata` out to select by name or tags alone".into()),
                );
            }
            DeValue::Table(entries) => {
                for (key, value) in entries.iter() {
                    let k = key.get_ref().as_ref();
                    if k.trim().is_empty() {
                        ok = false;
                        d.error(Some(key.span()), "a metadata key must not be empty", None);
                        continue;
                    }
                    match value.get_ref() {
                        DeValue::String(p) if !p.trim().is_empty() => {
                            metadata.push((k.to_string(), p.to_string(), key.span()));
                        }
                        DeValue::String(_) => {
                            ok = false;
                            d.error(
                                Some(value.span()),
                                format!("the metadata pattern of `{k}` must not be empty"),
                                Some("`*` matches any value".into()),
                            );
                        }
                        other => {
                            ok = false;
                            d.error(
                                Some(value.span()),
                                format!(
                                    "the metadata pattern of `{k}` must be a string, not {}",
                                    kind(other)
                                ),
                                Some(format!("e.g. {k} = \"*\" (any value)")),
                            );
                        }
                    }
                }
            }
            other => {
                ok = false;
                d.error(
                    Some(table.span()),
                    format!("`metadata` must be a table, not {}", kind(other)),
                    Some("e.g. metadata = { tier = \"db\" }".into()),
                );
            }
        }
    }
    validate::selection(
        SelectFound {
            span: v.span(),
            name: name.map(|(n, _)| n),
            tags,
            metadata,
            // An unknown key is reported as such, not as an empty selection.
            any_given: !t.is_empty(),
            ok,
        },
        Spelling::Toml,
        d,
    )
}

#[cfg(test)]
mod tests {
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
        let (_, d) =
            read_str(&QUICKSTART.replace("[defaults]", "[state]\nurl = \"x\"\n[defaults]"));
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

    const BASE: &str =
        "version = 1\n[source]\ncloud = \"provider\"\n[target]\ncloud = \"hospital\"\n";

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
}
