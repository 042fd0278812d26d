//! Volumes in TOML: `skip_volumes`, `volume_types`, `stop`, `keep_volume_intermediates` and
//! `volume_format` of `[defaults]` and a `[[server]]`.

use toml::de::DeValue;

use super::super::diag::Diagnostics;
use super::super::model::*;
use super::super::validate::Spelling;
use super::super::validate::volumes;
use super::{Reader, kind, table_of};

/// The volume options of `[defaults]` or a `[[server]]`, into `out`; false when one of them
/// is wrong (reported).
pub(super) fn options(r: &Reader<'_, '_>, out: &mut ServerOptions, d: &mut Diagnostics) -> bool {
    let mut ok = true;
    if let Some(list) = r.get("skip_volumes") {
        match list.get_ref() {
            DeValue::Array(items) => {
                let mut entries = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(v) => entries.push((v.to_string(), item.span())),
                        other => {
                            ok = false;
                            d.error(
                                Some(item.span()),
                                format!(
                                    "each volume in `skip_volumes` must be a string, not {}",
                                    kind(other)
                                ),
                                Some(
                                    "a volume's name or id, e.g. skip_volumes = [\"scratch\"]"
                                        .into(),
                                ),
                            );
                        }
                    }
                }
                out.skip_volumes = volumes::skip_list(entries, Spelling::Toml, d);
                ok &= out.skip_volumes.is_some();
            }
            other => {
                ok = false;
                d.error(
                    Some(list.span()),
                    format!(
                        "`skip_volumes` must be an array of strings, not {}",
                        kind(other)
                    ),
                    Some("e.g. skip_volumes = [\"scratch\"] (volume names or ids)".into()),
                );
            }
        }
    }
    if let Some((t, span)) = table_of(r, "volume_types", d) {
        let mut entries = Vec::new();
        for (key, value) in t.iter() {
            let from = (key.get_ref().to_string(), key.span());
            match value.get_ref() {
                DeValue::String(to) => entries.push((from, (to.to_string(), value.span()))),
                other => {
                    ok = false;
                    d.error(
                        Some(value.span()),
                        format!(
                            "the target volume type of `{}` must be a string, not {}",
                            from.0,
                            kind(other)
                        ),
                        Some(format!(
                            "e.g. volume_types = {{ \"{}\" = \"fast\" }}",
                            from.0
                        )),
                    );
                }
            }
        }
        // An entry of the wrong type is reported; the map is not empty for it.
        if entries.is_empty() && !t.is_empty() {
            ok = false;
        } else {
            match volumes::type_map(entries, span, Spelling::Toml, d) {
                Some(map) => out.volume_types = map,
                None => ok = false,
            }
        }
    } else {
        ok &= r.get("volume_types").is_none();
    }
    out.stop = r.boolean("stop", d);
    ok &= out.stop.is_some() || r.get("stop").is_none();
    out.keep_volume_intermediates = r.boolean("keep_volume_intermediates", d);
    ok &= out.keep_volume_intermediates.is_some() || r.get("keep_volume_intermediates").is_none();
    if let Some(value) = r.text("volume_format", d) {
        out.volume_format = volumes::format(value, Spelling::Toml, d);
        ok &= out.volume_format.is_some();
    } else {
        ok &= r.get("volume_format").is_none();
    }
    ok
}
