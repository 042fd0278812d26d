//! Volumes in XML: `<volumes stop keepIntermediates format skipNone>` with `<skip volume/>` and
//! `<type from to/>` children (in any order, each as often as needed) in `<defaults>` and
//! `<server>`.

use super::super::diag::Diagnostics;
use super::super::model::*;
use super::super::validate::Spelling;
use super::super::validate::nets::Text;
use super::super::validate::volumes::{self, SKIP_NONE_AND_SKIP};
use super::El;

const ATTRS: &[&str] = &["stop", "keepIntermediates", "format", "skipNone"];
const CHILDREN: &[&str] = &["skip", "type"];

/// An attribute as written (maybe empty: the shared rules decide), with its place.
fn raw(e: &El<'_>, name: &str) -> Option<Text> {
    e.attr(name)
        .map(|a| (a.value.clone(), a.value_span.clone()))
}

/// `<volumes>` of `<defaults>` or a `<server>`, into `out`; false when something is wrong
/// (reported).
pub(super) fn volumes(r: &El<'_>, out: &mut ServerOptions, d: &mut Diagnostics) -> bool {
    let Some(el) = r.child("volumes") else {
        return true;
    };
    let v = El::new(el);
    v.finish(ATTRS, CHILDREN, CHILDREN, d);
    let mut ok = true;
    out.stop = v.boolean("stop", d);
    ok &= out.stop.is_some() || v.attr("stop").is_none();
    out.keep_volume_intermediates = v.boolean("keepIntermediates", d);
    ok &= out.keep_volume_intermediates.is_some() || v.attr("keepIntermediates").is_none();
    if let Some(format) = raw(&v, "format") {
        out.volume_format = volumes::format(format, Spelling::Xml, d);
        ok &= out.volume_format.is_some();
    }
    let skip_none = v.boolean("skipNone", d);
    ok &= skip_none.is_some() || v.attr("skipNone").is_none();

    let mut skipped = Vec::new();
    for sel in v.children("skip") {
        let s = El::new(sel);
        s.finish(&["volume"], &[], &[], d);
        match raw(&s, "volume") {
            Some(volume) => skipped.push(volume),
            None => {
                ok = false;
                s.required("volume", d);
            }
        }
    }
    let mut types = Vec::new();
    for tel in v.children("type") {
        let t = El::new(tel);
        t.finish(&["from", "to"], &[], &[], d);
        match (raw(&t, "from"), raw(&t, "to")) {
            (Some(from), Some(to)) => types.push((from, to)),
            (from, to) => {
                ok = false;
                if from.is_none() {
                    t.required("from", d);
                }
                if to.is_none() {
                    t.required("to", d);
                }
            }
        }
    }
    let any_skip = v.child("skip").is_some();
    if skip_none == Some(true) && any_skip {
        ok = false;
        d.coded(
            SKIP_NONE_AND_SKIP,
            Some(el.name_span.clone()),
            "<volumes skipNone=\"true\"> takes no <skip>",
            "skipNone=\"true\" says that this server leaves no volume behind, whatever <defaults> says: remove it, or the <skip> elements",
        );
    } else if any_skip {
        out.skip_volumes = volumes::skip_list(skipped, Spelling::Xml, d);
        ok &= out.skip_volumes.is_some();
    } else if skip_none == Some(true) {
        out.skip_volumes = Some(Vec::new());
    }
    if v.child("type").is_some() {
        match volumes::type_map(types, el.name_span.clone(), Spelling::Xml, d) {
            Some(map) => out.volume_types = map,
            None => ok = false,
        }
    }
    if el.attrs.is_empty() && el.children.is_empty() {
        d.warning(
            Some(el.name_span.clone()),
            "<volumes> sets nothing",
            Some(
                "leave it out, or say what to do with the server's volumes: e.g. <volumes stop=\"true\"><skip volume=\"scratch\"/></volumes>"
                    .into(),
            ),
        );
    }
    ok
}
