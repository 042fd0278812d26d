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
    self, AUTH_KEYS, CloudFound, INTERFACES, OriginFound, ServerFound, Spelling, TRANSFER_MODES,
    did_you_mean,
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

    /// A string value as written, empty or not (the caller's rules decide); a value of
    /// another type is reported.
    fn text(&self, key: &str, d: &mut Diagnostics) -> Option<(String, Range<usize>)> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::String(s) => Some((s.to_string(), value.span())),
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

    /// A boolean value; `None` when absent or of another type (reported).
    fn boolean(&self, key: &str, d: &mut Diagnostics) -> Option<bool> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                d.error(
                    Some(value.span()),
                    format!("`{key}` must be a boolean, not {}", kind(other)),
                    Some(format!("`{key} = true` or `{key} = false`")),
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

const TOP: &[&str] = &[
    "version", "source", "target", "state", "defaults", "network", "server",
];
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
    "networks",
    "keypair",
    "security_group",
    "floating_ip",
    "transfer",
    "availability_zone",
    "zones",
    "server_group",
    "skip_volumes",
    "volume_types",
    "stop",
    "keep_volume_intermediates",
    "volume_format",
];
const SERVER: &[&str] = &[
    "source",
    "select",
    "name",
    "snapshot",
    "image",
    "flavor",
    "network",
    "networks",
    "keypair",
    "security_group",
    "floating_ip",
    "transfer",
    "availability_zone",
    "zones",
    "server_group",
    "user_data",
    "skip_volumes",
    "volume_types",
    "stop",
    "keep_volume_intermediates",
    "volume_format",
];
const SELECT: &[&str] = &["name", "tags", "metadata"];
const KEYPAIR: &[&str] = &["import", "create", "existing"];
const FLOATING_IP: &[&str] = &["pool", "address", "nic"];
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

    let networks = nets::networks(&top, text, d);
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
        networks: networks?,
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
                let (nic, nic_ok) =
                    validate::nets::floating_ip_nic(f.text("nic", d), false, Spelling::Toml, d);
                ok &= nic_ok && (nic.is_some() || f.get("nic").is_none());
                out.floating_ip_nic = nic;
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
                            Some("or write `floating_ip = false` (`nic` goes with a `pool` or an `address`)".into()),
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
    ok &= boot::options(r, &mut out, d);
    ok &= nets::nic_map(r, &mut out, d);
    ok &= volumes::options(r, &mut out, d);
    ok.then_some(out)
}

fn server(r: &Reader<'_, '_>, d: &mut Diagnostics) -> Option<ServerFound> {
    r.finish(d);
    let source = r.string("source", d);
    let select = r.get("select").map(|v| (select::selection(v, d), v.span()));
    let name = r.string("name", d);
    let snapshot = r.string("snapshot", d);
    let (image, image_name_span) = boot::image(r, d);
    let flavor = r.string("flavor", d).map(|(s, _)| s);
    let user_data = boot::user_data(r, d);
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
            user_data,
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

mod boot;
mod nets;
mod select;
mod volumes;

#[cfg(test)]
mod tests;
