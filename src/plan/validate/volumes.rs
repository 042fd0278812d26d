//! The rules of a server's volume options, both syntaxes: the volumes left behind
//! (`skip_volumes` / `<skip volume>`), the volume type map (`volume_types` / `<type from to>`)
//! and the format a volume travels in (`volume_format` / `format`). Only what the plan alone
//! can tell: whether a skipped volume is attached to the server, or a mapped type exists in
//! either cloud, needs the clouds, and is the engine's to check.

use std::collections::BTreeMap;
use std::ops::Range;

use super::super::diag::Diagnostics;
use super::super::model::VolumeFormat;
use super::Spelling;
use super::boot::MAX_NAME_CHARS;
use super::nets::{EMPTY_NAME, NAME_TOO_LONG, Text};

/// The formats a volume's image may travel in (`volume_format`), as a plan spells them.
pub const VOLUME_FORMATS: &[&str] = &["raw", "qcow2"];

/// A volume listed twice among those left behind.
pub const VOLUME_SKIPPED_TWICE: &str = "s2d::plan::volume_skipped_twice";
/// A volume type map without an entry (`volume_types = {}`).
pub const VOLUME_TYPES_EMPTY: &str = "s2d::plan::volume_types_empty";
/// A source volume type mapped twice in one map (XML; TOML refuses a key twice itself).
pub const VOLUME_TYPE_TWICE: &str = "s2d::plan::volume_type_twice";
/// A `volume_format` that is neither `raw` nor `qcow2`.
pub const VOLUME_FORMAT: &str = "s2d::plan::volume_format";
/// `<volumes skipNone="true">` with `<skip>` children (XML).
pub const SKIP_NONE_AND_SKIP: &str = "s2d::plan::skip_none_and_skip";

/// `what` (named as the user wrote it) holding `value`: not empty, at most
/// [`MAX_NAME_CHARS`] characters (Cinder's limit for a volume's and a type's name). Reports
/// and returns `None` otherwise.
fn name(what: &str, value: Text, help: &str, d: &mut Diagnostics) -> Option<String> {
    let (value, span) = value;
    if value.trim().is_empty() {
        d.coded(
            EMPTY_NAME,
            Some(span),
            format!("{what} must not be empty"),
            help,
        );
        return None;
    }
    let chars = value.chars().count();
    if chars > MAX_NAME_CHARS {
        d.coded(
            NAME_TOO_LONG,
            Some(span),
            format!("{what} is {chars} characters long; Cinder takes at most {MAX_NAME_CHARS}"),
            "a volume's or volume type's name (or a volume's id) is at most 255 characters",
        );
        return None;
    }
    Some(value)
}

/// The volumes left behind, each as written with its place: none empty or too long, none
/// twice. `None` when something is wrong (reported). An empty list is right: it says that
/// the server skips none, whatever `[defaults]` says.
pub(in super::super) fn skip_list(
    entries: Vec<Text>,
    spelling: Spelling,
    d: &mut Diagnostics,
) -> Option<Vec<String>> {
    let (what, help) = match spelling {
        Spelling::Toml => (
            "a volume in `skip_volumes`",
            "name a volume of the source server by its name or id, or leave the entry out",
        ),
        Spelling::Xml => (
            "`volume` on <skip>",
            "name a volume of the source server by its name or id, or leave the <skip> out",
        ),
    };
    let mut ok = true;
    let mut out: Vec<String> = Vec::with_capacity(entries.len());
    for entry in entries {
        let span = entry.1.clone();
        let Some(volume) = name(what, entry, help, d) else {
            ok = false;
            continue;
        };
        if out.contains(&volume) {
            ok = false;
            d.coded(
                VOLUME_SKIPPED_TWICE,
                Some(span),
                match spelling {
                    Spelling::Toml => {
                        format!("the volume `{volume}` is listed twice in `skip_volumes`")
                    }
                    Spelling::Xml => {
                        format!("<skip volume=\"{volume}\"> appears twice in <volumes>")
                    }
                },
                "a volume is left behind or not: list each volume once",
            );
            continue;
        }
        out.push(volume);
    }
    ok.then_some(out)
}

/// A volume type map's entries (source type, target type, each as written with its place):
/// at least one (`span` is the whole map), names not empty nor too long, each source type
/// once. `None` when something is wrong (reported).
pub(in super::super) fn type_map(
    entries: Vec<(Text, Text)>,
    span: Range<usize>,
    spelling: Spelling,
    d: &mut Diagnostics,
) -> Option<BTreeMap<String, String>> {
    if entries.is_empty() {
        // Only TOML can say it: XML has no map element to leave empty.
        d.coded(
            VOLUME_TYPES_EMPTY,
            Some(span),
            "`volume_types` must map at least one volume type",
            "e.g. volume_types = { \"ceph\" = \"fast\" }; leave it out to give every volume the target's default type",
        );
        return None;
    }
    let (from_what, to_what) = match spelling {
        Spelling::Toml => ("a source volume type in `volume_types`", None),
        Spelling::Xml => ("`from` on <type>", Some("`to` on <type>")),
    };
    let mut ok = true;
    let mut out = BTreeMap::new();
    for (from, to) in entries {
        let fspan = from.1.clone();
        let to_what = to_what
            .map(str::to_string)
            .unwrap_or_else(|| format!("the target volume type of `{}`", from.0));
        let from = name(
            from_what,
            from,
            "name the source volume type, or leave the entry out",
            d,
        );
        let to = name(
            &to_what,
            to,
            "name a volume type of the target, or leave the entry out to give those volumes the target's default type",
            d,
        );
        let (Some(from), Some(to)) = (from, to) else {
            ok = false;
            continue;
        };
        if out.contains_key(&from) {
            ok = false;
            d.coded(
                VOLUME_TYPE_TWICE,
                Some(fspan),
                match spelling {
                    Spelling::Toml => format!("the source volume type `{from}` is mapped twice"),
                    Spelling::Xml => format!("<type from=\"{from}\"> appears twice in <volumes>"),
                },
                "a source volume type goes to one target type",
            );
            continue;
        }
        out.insert(from, to);
    }
    ok.then_some(out)
}

/// A volume format as written: `raw` or `qcow2`, else an error with the allowed values.
pub(in super::super) fn format(
    value: Text,
    spelling: Spelling,
    d: &mut Diagnostics,
) -> Option<VolumeFormat> {
    let (value, span) = value;
    match value.as_str() {
        "raw" => Some(VolumeFormat::Raw),
        "qcow2" => Some(VolumeFormat::Qcow2),
        other => {
            let key = match spelling {
                Spelling::Toml => "volume_format",
                Spelling::Xml => "format",
            };
            let message = if other.trim().is_empty() {
                match spelling {
                    Spelling::Toml => format!("`{key}` must not be empty"),
                    Spelling::Xml => format!("`{key}` on <volumes> must not be empty"),
                }
            } else {
                format!("`{other}` is not a valid `{key}`")
            };
            d.coded(
                VOLUME_FORMAT,
                Some(span),
                message,
                format!(
                    "allowed values: {} (raw: the volume's bytes as they are, the default; qcow2: Cinder converts the copy, smaller for a volume mostly empty)",
                    VOLUME_FORMATS.join(", ")
                ),
            );
            None
        }
    }
}
