//! Networks in XML: the NIC map (`<networks><nic source network keepIp keepMac/></networks>`
//! in `<defaults>` and `<server>`) and the target networks built from the source
//! (`<network from name><router external name/></network>` under `<plan>`).

use super::super::diag::Diagnostics;
use super::super::model::*;
use super::super::validate::Spelling;
use super::super::validate::nets::{self, NetworkFound, NicFound, RouterFound, Text};
use super::El;

/// An attribute as written (maybe empty: the shared rules decide), with its place.
fn raw(e: &El<'_>, name: &str) -> Option<Text> {
    e.attr(name)
        .map(|a| (a.value.clone(), a.value_span.clone()))
}

/// `<networks>` of `<defaults>` or a `<server>`, into `out`; false when something is wrong
/// (reported).
pub(super) fn nic_map(r: &El<'_>, out: &mut ServerOptions, d: &mut Diagnostics) -> bool {
    let Some(el) = r.child("networks") else {
        return true;
    };
    let map = El::new(el);
    map.finish(&[], &["nic"], &["nic"], d);
    let mut ok = true;
    let mut entries = Vec::new();
    for nel in map.children("nic") {
        let n = El::new(nel);
        n.finish(&["source", "network", "keepIp", "keepMac"], &[], &[], d);
        let keep_ip = n.boolean("keepIp", d);
        let keep_mac = n.boolean("keepMac", d);
        ok &= keep_ip.is_some() || n.attr("keepIp").is_none();
        ok &= keep_mac.is_some() || n.attr("keepMac").is_none();
        let Some(source) = raw(&n, "source") else {
            ok = false;
            n.required("source", d);
            continue;
        };
        entries.push(NicFound {
            source,
            network: raw(&n, "network"),
            missing_at: Some(nel.name_span.clone()),
            keep_ip: keep_ip.unwrap_or(false),
            keep_mac: keep_mac.unwrap_or(false),
        });
    }
    match nets::nic_map(entries, el.name_span.clone(), Spelling::Xml, d) {
        Some(map) => out.networks = map,
        None => ok = false,
    }
    ok
}

/// The `<network>` children of `<plan>`: `Some` (maybe empty) when every one is right.
pub(super) fn networks(top: &El<'_>, text: &str, d: &mut Diagnostics) -> Option<Vec<NetworkBuild>> {
    let mut found = Vec::new();
    for el in top.children("network") {
        let n = El::new(el);
        n.finish(&["from", "name"], &["router"], &[], d);
        let router = n.child("router").map(|rel| {
            let r = El::new(rel);
            r.finish(&["external", "name"], &[], &[], d);
            RouterFound {
                span: rel.name_span.clone(),
                external_given: false,
                external: raw(&r, "external"),
                name: raw(&r, "name"),
            }
        });
        found.push(NetworkFound {
            span: el.name_span.clone(),
            from_given: false,
            from: raw(&n, "from"),
            name: raw(&n, "name"),
            router,
            invalid: false,
        });
    }
    let (built, ok) = nets::networks(found, Spelling::Xml, text, d);
    ok.then_some(built)
}
