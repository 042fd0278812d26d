//! Networks in TOML: the NIC map (`networks = { ... }` in `[defaults]` and `[[server]]`) and
//! the target networks built from the source (`[[network]]`, with `router = { ... }`).

use toml::de::DeValue;

use super::super::diag::Diagnostics;
use super::super::model::*;
use super::super::validate::Spelling;
use super::super::validate::nets::{self, NetworkFound, NicFound, RouterFound};
use super::{Reader, kind, table_of};

const NIC: &[&str] = &["network", "keep_ip", "keep_mac"];
const NETWORK: &[&str] = &["from", "name", "router"];
const ROUTER: &[&str] = &["external", "name"];

/// `networks = { "SRC" = "DST", "SRC" = { network = "DST", keep_ip = true, keep_mac = true } }`
/// of `[defaults]` or a `[[server]]`, into `out`; false when something is wrong (reported).
pub(super) fn nic_map(r: &Reader<'_, '_>, out: &mut ServerOptions, d: &mut Diagnostics) -> bool {
    let Some((t, span)) = table_of(r, "networks", d) else {
        return r.get("networks").is_none();
    };
    let mut ok = true;
    let mut entries = Vec::new();
    for (key, value) in t.iter() {
        let source = (key.get_ref().to_string(), key.span());
        match value.get_ref() {
            DeValue::String(to) => entries.push(NicFound {
                source,
                network: Some((to.to_string(), value.span())),
                missing_at: None,
                keep_ip: false,
                keep_mac: false,
            }),
            DeValue::Table(nic) => {
                let n = Reader::new(nic, value.span(), "a NIC of `networks`", NIC);
                n.finish(d);
                let keep_ip = n.boolean("keep_ip", d);
                let keep_mac = n.boolean("keep_mac", d);
                ok &= keep_ip.is_some() || n.get("keep_ip").is_none();
                ok &= keep_mac.is_some() || n.get("keep_mac").is_none();
                let network = n.text("network", d);
                entries.push(NicFound {
                    source,
                    missing_at: n.get("network").is_none().then(|| value.span()),
                    network,
                    keep_ip: keep_ip.unwrap_or(false),
                    keep_mac: keep_mac.unwrap_or(false),
                });
            }
            other => {
                ok = false;
                d.error(
                    Some(value.span()),
                    format!(
                        "the NIC on `{}` must be a string or a table, not {}",
                        source.0,
                        kind(other)
                    ),
                    Some(format!(
                        "e.g. \"{0}\" = \"NAME\", or \"{0}\" = {{ network = \"NAME\", keep_ip = true }}",
                        source.0
                    )),
                );
            }
        }
    }
    match nets::nic_map(entries, span, Spelling::Toml, d) {
        Some(map) => out.networks = map,
        None => ok = false,
    }
    ok
}

/// The `[[network]]` tables of the plan: `Some` (maybe empty) when every one is right.
pub(super) fn networks(
    top: &Reader<'_, '_>,
    text: &str,
    d: &mut Diagnostics,
) -> Option<Vec<NetworkBuild>> {
    let Some(v) = top.get("network") else {
        return Some(Vec::new());
    };
    let DeValue::Array(items) = v.get_ref() else {
        d.error(
            Some(v.span()),
            format!(
                "`network` must be an array of tables (`[[network]]`), not {}",
                kind(v.get_ref())
            ),
            Some("a network to build from the source is a `[[network]]` table with `from = \"<source network>\"`; a server's target network is `network` in [defaults] or [[server]]".into()),
        );
        return None;
    };
    let mut ok = true;
    let mut found = Vec::new();
    for item in items.iter() {
        let DeValue::Table(t) = item.get_ref() else {
            ok = false;
            d.error(
                Some(item.span()),
                "each `[[network]]` must be a table",
                None,
            );
            continue;
        };
        let r = Reader::new(t, item.span(), "[[network]]", NETWORK);
        r.finish(d);
        let mut invalid = false;
        let router = match r.get("router") {
            None => None,
            Some(v) => match v.get_ref() {
                DeValue::Table(rt) => {
                    let rr = Reader::new(rt, v.span(), "`router`", ROUTER);
                    rr.finish(d);
                    let external = rr.text("external", d);
                    let name = rr.text("name", d);
                    invalid |= rr.get("name").is_some() && name.is_none();
                    Some(RouterFound {
                        span: v.span(),
                        external_given: rr.get("external").is_some(),
                        external,
                        name,
                    })
                }
                other => {
                    invalid = true;
                    d.error(
                        Some(v.span()),
                        format!("`router` must be a table, not {}", kind(other)),
                        Some("e.g. router = { external = \"public\" }".into()),
                    );
                    None
                }
            },
        };
        let name = r.text("name", d);
        invalid |= r.get("name").is_some() && name.is_none();
        found.push(NetworkFound {
            span: item.span(),
            from_given: r.get("from").is_some(),
            from: r.text("from", d),
            name,
            router,
            invalid,
        });
    }
    let (built, all_ok) = nets::networks(found, Spelling::Toml, text, d);
    (ok && all_ok).then_some(built)
}
