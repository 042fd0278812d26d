//! A `<server>`: its origin (`source` or a fleet's `<select>`), names, `<image>` (with its
//! `<property>` and `<drop>` children), `<flavor>`, `<userData>` and its options.

use super::super::diag::Diagnostics;
use super::super::model::*;
use super::super::validate::boot::{self, PropertiesFound};
use super::super::validate::{
    self, DISK_FORMATS, OriginFound, SelectFound, ServerFound, Spelling, VISIBILITIES,
};
use super::options::options;
use super::{El, SELECT_CHILDREN, SERVER_CHILDREN};

pub(super) fn server(r: &El<'_>, d: &mut Diagnostics) -> Option<ServerFound> {
    r.finish(&["source", "name"], SERVER_CHILDREN, &[], d);
    let source = r.string("source", d);
    let select = r
        .child("select")
        .map(|el| (selection(&El::new(el), d), el.name_span.clone()));
    let name = r.string("name", d);
    let mut snapshot = None;
    if let Some(el) = r.child("snapshot") {
        let s = El::new(el);
        s.finish(&["name"], &[], &[], d);
        snapshot = s.required("name", d);
    }
    let (image, image_name_span) = match r.child("image") {
        Some(el) => image(&El::new(el), d),
        None => (ImageOptions::default(), None),
    };
    let flavor = r.child("flavor").and_then(|el| {
        let f = El::new(el);
        f.finish(&["name"], &[], &[], d);
        f.required("name", d).map(|(v, _)| v)
    });
    let user_data = r.child("userData").and_then(|el| {
        let u = El::new(el);
        u.finish(&["file"], &[], &[], d);
        let (path, span) = u.required("file", d)?;
        boot::user_data_path(path, span, d).map(UserData::File)
    });
    let options = options(r, d);
    let (select_value, select_span) = match select {
        Some((value, span)) => (value, Some(span)),
        None => (None, None),
    };
    let (source, select, origin_span) = validate::origin(
        OriginFound {
            server_span: r.el.name_span.clone(),
            source_given: r.attr("source").is_some(),
            source,
            select: select_value,
            select_span,
        },
        Spelling::Xml,
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
    validate::templates(&found, Spelling::Xml, d);
    Some(found)
}

/// `<image name="" diskFormat="" visibility="">` with `<property key="" value=""/>` and
/// `<drop key=""/>` children (in any order, each as often as needed): the options and the
/// place of the name, if given.
fn image(i: &El<'_>, d: &mut Diagnostics) -> (ImageOptions, Option<std::ops::Range<usize>>) {
    i.finish(
        &["name", "diskFormat", "visibility"],
        &["property", "drop"],
        &["property", "drop"],
        d,
    );
    let mut image = ImageOptions::default();
    let name = i.string("name", d);
    image.disk_format = i.enum_string("diskFormat", DISK_FORMATS, d);
    image.visibility = i.enum_string("visibility", VISIBILITIES, d);
    let mut found = PropertiesFound::default();
    for el in &i.el.children {
        if !el.in_ns {
            continue;
        }
        let p = El::new(el);
        match el.name.as_str() {
            "property" => {
                p.finish(&["key", "value"], &[], &[], d);
                // An empty value is the shared rule's to report (it has a better help).
                let key = p.required("key", d);
                let value = match p.attr("value") {
                    Some(a) => Some((a.value.clone(), a.value_span.clone())),
                    None => p.required("value", d),
                };
                if let (Some((key, kspan)), Some((value, vspan))) = (key, value) {
                    found.set.push((key, kspan, value, vspan));
                }
            }
            "drop" => {
                p.finish(&["key"], &[], &[], d);
                if let Some((key, span)) = p.required("key", d) {
                    found.dropped.push((key, span));
                }
            }
            _ => {}
        }
    }
    (image.properties, image.drop_properties) = boot::image_properties(found, Spelling::Xml, d);
    let name_span = name.map(|(n, span)| {
        image.name = Some(n);
        span
    });
    (image, name_span)
}

/// A fleet's `<select name="web-*"><tag name="migrate"/><metadata key="tier" value="db"/></select>`
/// (`<tag>` and `<metadata>` in any order, each as often as needed).
fn selection(r: &El<'_>, d: &mut Diagnostics) -> Option<Selection> {
    r.finish(&["name"], SELECT_CHILDREN, SELECT_CHILDREN, d);
    let mut ok = true;
    let name = r.string("name", d);
    ok &= name.is_some() || r.attr("name").is_none();
    let mut tags = Vec::new();
    for el in r.children("tag") {
        let t = El::new(el);
        t.finish(&["name"], &[], &[], d);
        match t.required("name", d) {
            Some((tag, span)) => tags.push((tag, span)),
            None => ok = false,
        }
    }
    let mut metadata = Vec::new();
    for el in r.children("metadata") {
        let m = El::new(el);
        m.finish(&["key", "value"], &[], &[], d);
        let key = m.required("key", d);
        let value = m.required("value", d);
        match (key, value) {
            (Some((key, span)), Some((value, _))) => metadata.push((key, value, span)),
            _ => ok = false,
        }
    }
    validate::selection(
        SelectFound {
            span: r.el.name_span.clone(),
            name: name.map(|(n, _)| n),
            tags,
            metadata,
            // An unknown attribute or element is reported as such, not as an empty selection.
            any_given: !r.el.attrs.is_empty() || !r.el.children.is_empty(),
            ok,
        },
        Spelling::Xml,
        d,
    )
}
