//! Boot fidelity's keys: `image` (with `properties` and `drop_properties`),
//! `availability_zone`, `zones`, `server_group` and `user_data`.

use std::ops::Range;

use toml::de::DeValue;

use super::super::diag::Diagnostics;
use super::super::model::*;
use super::super::validate::boot::{self, PropertiesFound, SERVER_GROUP_MODES};
use super::super::validate::{DISK_FORMATS, Spelling, VISIBILITIES, allowed};
use super::{Reader, kind, table_of};

const IMAGE: &[&str] = &[
    "name",
    "disk_format",
    "visibility",
    "properties",
    "drop_properties",
];
const SERVER_GROUP: &[&str] = &["existing"];
const USER_DATA: &[&str] = &["file"];

/// `image = { name, disk_format, visibility, properties = { ... }, drop_properties = [...] }`:
/// the options and the place of the name, if given.
pub(super) fn image(
    r: &Reader<'_, '_>,
    d: &mut Diagnostics,
) -> (ImageOptions, Option<Range<usize>>) {
    let mut image = ImageOptions::default();
    let Some((t, span)) = table_of(r, "image", d) else {
        return (image, None);
    };
    let i = Reader::new(t, span, "`image`", IMAGE);
    i.finish(d);
    let name = i.string("name", d);
    image.disk_format = i.enum_string("disk_format", DISK_FORMATS, d);
    image.visibility = i.enum_string("visibility", VISIBILITIES, d);
    let mut found = PropertiesFound::default();
    if let Some((props, span)) = table_of(&i, "properties", d) {
        if props.is_empty() {
            d.error(
                Some(span),
                "`properties` must set at least one property",
                Some("e.g. properties = { hw_firmware_type = \"uefi\" }; leave it out to keep what s2d carries".into()),
            );
        }
        for (key, value) in props.iter() {
            let k = key.get_ref().as_ref();
            match value.get_ref() {
                DeValue::String(v) => {
                    found
                        .set
                        .push((k.to_string(), key.span(), v.to_string(), value.span()));
                }
                other => {
                    let help = match other {
                        DeValue::Boolean(b) => {
                            Some(format!("Glance's properties are text: `{k} = \"{b}\"`"))
                        }
                        DeValue::Integer(n) => Some(format!(
                            "Glance's properties are text: `{k} = \"{}\"`",
                            n.as_str()
                        )),
                        _ => None,
                    };
                    d.error(
                        Some(value.span()),
                        format!("the property `{k}` must be a string, not {}", kind(other)),
                        help,
                    );
                }
            }
        }
    }
    if let Some(list) = i.get("drop_properties") {
        match list.get_ref() {
            DeValue::Array(items) if items.is_empty() => d.error(
                Some(list.span()),
                "`drop_properties` must list at least one key",
                Some("leave it out to keep every property s2d carries".into()),
            ),
            DeValue::Array(items) => {
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(k) => found.dropped.push((k.to_string(), item.span())),
                        other => d.error(
                            Some(item.span()),
                            format!(
                                "each dropped property must be a string, not {}",
                                kind(other)
                            ),
                            None,
                        ),
                    }
                }
            }
            other => d.error(
                Some(list.span()),
                format!(
                    "`drop_properties` must be an array of strings, not {}",
                    kind(other)
                ),
                Some("e.g. drop_properties = [\"os_type\"]".into()),
            ),
        }
    }
    (image.properties, image.drop_properties) = boot::image_properties(found, Spelling::Toml, d);
    let name_span = name.map(|(n, span)| {
        image.name = Some(n);
        span
    });
    (image, name_span)
}

/// `availability_zone`, `zones` and `server_group` of `[defaults]` or a `[[server]]`, into
/// `out`; false when one of them is wrong (reported).
pub(super) fn options(r: &Reader<'_, '_>, out: &mut ServerOptions, d: &mut Diagnostics) -> bool {
    let mut ok = true;
    if let Some((zone, span)) = r.string("availability_zone", d) {
        out.availability_zone = boot::name("`availability_zone`", zone, span, d);
        ok &= out.availability_zone.is_some();
    } else {
        ok &= r.get("availability_zone").is_none();
    }
    let mut zones_span = None;
    if let Some((t, span)) = table_of(r, "zones", d) {
        if t.is_empty() {
            ok = false;
            d.error(
                Some(span.clone()),
                "`zones` must map at least one zone",
                Some(
                    "e.g. zones = { \"nova\" = \"az-b\" }; leave it out to let the target choose"
                        .into(),
                ),
            );
        }
        zones_span = Some(span);
        let mut entries = Vec::new();
        for (key, value) in t.iter() {
            let from = key.get_ref().as_ref();
            if from.trim().is_empty() {
                ok = false;
                d.error(Some(key.span()), "a source zone must not be empty", None);
                continue;
            }
            match value.get_ref() {
                DeValue::String(to) if !to.trim().is_empty() => {
                    entries.push((from.to_string(), key.span(), to.to_string(), value.span()));
                }
                DeValue::String(_) => {
                    ok = false;
                    d.error(
                        Some(value.span()),
                        format!("the target zone of `{from}` must not be empty"),
                        Some("leave the zone out to let the target choose".into()),
                    );
                }
                other => {
                    ok = false;
                    d.error(
                        Some(value.span()),
                        format!(
                            "the target zone of `{from}` must be a string, not {}",
                            kind(other)
                        ),
                        Some(format!("e.g. zones = {{ \"{from}\" = \"az-b\" }}")),
                    );
                }
            }
        }
        match boot::zones(entries, Spelling::Toml, d) {
            Some(zones) => out.zones = zones,
            None => ok = false,
        }
    } else {
        ok &= r.get("zones").is_none();
    }
    boot::zone_choice(
        out.availability_zone.is_some(),
        &out.zones,
        zones_span,
        Spelling::Toml,
        d,
    );
    if let Some(v) = r.get("server_group") {
        out.server_group = server_group(v, d);
        ok &= out.server_group.is_some();
    }
    ok
}

fn server_group(v: &toml::Spanned<DeValue<'_>>, d: &mut Diagnostics) -> Option<ServerGroupMode> {
    let help = || {
        Some(format!(
            "{}, or {{ existing = \"NAME\" }} for a group that exists in the target",
            allowed(SERVER_GROUP_MODES)
        ))
    };
    match v.get_ref() {
        DeValue::String(word) if SERVER_GROUP_MODES.contains(&word.as_ref()) => {
            Some(boot::server_group_mode(word))
        }
        DeValue::String(word) => {
            d.error(
                Some(v.span()),
                format!("`{word}` is not a valid `server_group`"),
                help(),
            );
            None
        }
        DeValue::Table(t) => {
            let g = Reader::new(t, v.span(), "`server_group`", SERVER_GROUP);
            g.finish(d);
            match g.string("existing", d) {
                Some((name, span)) => {
                    boot::name("`existing`", name, span, d).map(ServerGroupMode::Existing)
                }
                None => {
                    if g.get("existing").is_none() {
                        d.error(
                            Some(v.span()),
                            "`server_group` needs `existing`",
                            Some("e.g. server_group = { existing = \"anti-affinity\" }".into()),
                        );
                    }
                    None
                }
            }
        }
        other => {
            d.error(
                Some(v.span()),
                format!(
                    "`server_group` must be a string or a table, not {}",
                    kind(other)
                ),
                help(),
            );
            None
        }
    }
}

/// `user_data = { file = "cloud-init.yaml" }`: `None` when absent or wrong (reported).
pub(super) fn user_data(r: &Reader<'_, '_>, d: &mut Diagnostics) -> Option<UserData> {
    let v = r.get("user_data")?;
    let DeValue::Table(t) = v.get_ref() else {
        d.error(
            Some(v.span()),
            format!("`user_data` must be a table, not {}", kind(v.get_ref())),
            Some(
                "e.g. user_data = { file = \"cloud-init.yaml\" } (relative to the plan's folder)"
                    .into(),
            ),
        );
        return None;
    };
    let u = Reader::new(t, v.span(), "`user_data`", USER_DATA);
    u.finish(d);
    match u.string("file", d) {
        Some((path, span)) => boot::user_data_path(path, span, d).map(UserData::File),
        None => {
            if u.get("file").is_none() {
                d.error(
                    Some(v.span()),
                    "`user_data` needs `file`",
                    Some("e.g. user_data = { file = \"cloud-init.yaml\" } (relative to the plan's folder)".into()),
                );
            }
            None
        }
    }
}
