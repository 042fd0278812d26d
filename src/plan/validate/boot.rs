//! The rules of boot fidelity's settings, both syntaxes: the target image's `properties` and
//! `drop_properties`, availability zones, the server group and user data.

use std::collections::BTreeMap;
use std::ops::Range;

use super::super::diag::Diagnostics;
use super::super::model::ServerGroupMode;
use super::Spelling;

/// Glance's longest property key and value, in characters.
pub const MAX_PROPERTY_CHARS: usize = 255;
/// Nova's longest availability zone and server group name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Image properties that belong to the source image and that s2d never carries into the
/// target image (a pattern ending in `*` is a prefix). A plan may still set one (a warning):
/// `kernel_id = "<target image id>"` is how a plan points a target image at its kernel.
pub const SOURCE_ONLY_PROPERTIES: &[&str] = &[
    "instance_uuid",
    "base_image_ref",
    "image_location",
    "image_state",
    "image_type",
    "owner_*",
    "user_id",
    "boot_roles",
    "block_device_mapping",
    "bdm_v2",
    "root_device_name",
    "cinder_encryption_key_*",
    "img_signature*",
    "kernel_id",
    "ramdisk_id",
];

/// Glance's image attributes and reserved keys: not properties, so a plan neither sets nor
/// drops them (`os_glance*` is reserved by Glance, which refuses it).
pub const GLANCE_ATTRIBUTES: &[&str] = &[
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "owner",
    "size",
    "virtual_size",
    "min_disk",
    "min_ram",
    "disk_format",
    "container_format",
    "created_at",
    "updated_at",
    "tags",
    "direct_url",
    "locations",
    "self",
    "file",
    "schema",
    "stores",
    "os_glance*",
];

/// The prefix of s2d's own markers (`s2d_lineage`, `s2d_address`), which s2d alone sets.
pub const MARKER_PREFIX: &str = "s2d_";

fn matches_any(key: &str, patterns: &[&str]) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == *p,
    })
}

/// Whether s2d never carries this property from the source image (see
/// [`SOURCE_ONLY_PROPERTIES`]).
pub fn is_source_only_property(key: &str) -> bool {
    matches_any(key, SOURCE_ONLY_PROPERTIES)
}

/// Whether this key is a Glance image attribute or reserved by Glance, not a property.
pub fn is_glance_attribute(key: &str) -> bool {
    matches_any(key, GLANCE_ATTRIBUTES)
}

/// What a reader found of an image's properties: each key, its place, its value and the
/// value's place; each dropped key and its place. The reader has checked the types.
#[derive(Default)]
pub(in super::super) struct PropertiesFound {
    pub set: Vec<(String, Range<usize>, String, Range<usize>)>,
    pub dropped: Vec<(String, Range<usize>)>,
}

/// The properties and drops of an image, checked: keys and values not empty and at most
/// [`MAX_PROPERTY_CHARS`] long, no key set or dropped twice, no key both set and dropped, no
/// marker of s2d's and no Glance attribute; a source-only key set (a warning) or dropped
/// (a warning: it is never carried anyway).
pub(in super::super) fn image_properties(
    found: PropertiesFound,
    spelling: Spelling,
    d: &mut Diagnostics,
) -> (BTreeMap<String, String>, Vec<String>) {
    let (set_word, drop_word) = match spelling {
        Spelling::Toml => ("`properties`", "`drop_properties`"),
        Spelling::Xml => ("a <property>", "a <drop>"),
    };
    let mut properties = BTreeMap::new();
    let mut drops: Vec<String> = Vec::new();
    let key_ok = |key: &str, span: &Range<usize>, d: &mut Diagnostics| -> bool {
        if key.trim().is_empty() {
            d.error(Some(span.clone()), "a property key must not be empty", None);
            return false;
        }
        let chars = key.chars().count();
        if chars > MAX_PROPERTY_CHARS {
            d.error(
                Some(span.clone()),
                format!(
                    "the property key `{}…` is {chars} characters long; Glance takes at most {MAX_PROPERTY_CHARS}",
                    key.chars().take(20).collect::<String>()
                ),
                None,
            );
            return false;
        }
        if key.starts_with(MARKER_PREFIX) {
            d.error(
                Some(span.clone()),
                format!("`{key}` is one of s2d's own markers"),
                Some(format!(
                    "s2d sets the `{MARKER_PREFIX}*` properties itself to find what it made; a plan neither sets nor drops them"
                )),
            );
            return false;
        }
        if is_glance_attribute(key) {
            let help = match key {
                "name" | "disk_format" | "visibility" => match spelling {
                    Spelling::Toml => format!("set it with `image = {{ {key} = \"...\" }}`"),
                    Spelling::Xml => {
                        let attr = if key == "disk_format" { "diskFormat" } else { key };
                        format!("set it with <image {attr}=\"...\">")
                    }
                },
                _ if key.starts_with("os_glance") => {
                    "Glance reserves the `os_glance*` keys and refuses them".into()
                }
                _ => "Glance keeps it for the image itself; s2d carries the source's where it applies (`min_disk`, `min_ram`)".into(),
            };
            d.error(
                Some(span.clone()),
                format!("`{key}` is a Glance image attribute, not a property"),
                Some(help),
            );
            return false;
        }
        true
    };
    for (key, span) in found.dropped {
        if !key_ok(&key, &span, d) {
            continue;
        }
        if drops.contains(&key) {
            d.error(
                Some(span),
                format!("`{key}` is dropped twice"),
                Some(format!("list each key once in {drop_word}")),
            );
            continue;
        }
        if is_source_only_property(&key) {
            d.warning(
                Some(span.clone()),
                format!("dropping `{key}` changes nothing: s2d never carries it from the source"),
                Some(
                    "it describes the source image (see docs/plan-format.md, *Image properties*)"
                        .into(),
                ),
            );
        }
        drops.push(key);
    }
    for (key, kspan, value, vspan) in found.set {
        if !key_ok(&key, &kspan, d) {
            continue;
        }
        if properties.contains_key(&key) {
            d.error(
                Some(kspan),
                format!("the property `{key}` is set twice"),
                Some(format!("give each key once in {set_word}")),
            );
            continue;
        }
        if drops.contains(&key) {
            d.error(
                Some(kspan),
                format!("the property `{key}` is both set and dropped"),
                Some(match spelling {
                    Spelling::Toml => format!(
                        "a value in `properties` already replaces the source's: remove `{key}` from `drop_properties`, or do not set it"
                    ),
                    Spelling::Xml => format!(
                        "a <property> already replaces the source's value: remove <drop key=\"{key}\"/>, or the <property>"
                    ),
                }),
            );
            continue;
        }
        if value.trim().is_empty() {
            d.error(
                Some(vspan),
                format!("the value of the property `{key}` must not be empty"),
                Some(format!(
                    "to keep the source's `{key}` off the target image, list it in {drop_word}"
                )),
            );
            continue;
        }
        let chars = value.chars().count();
        if chars > MAX_PROPERTY_CHARS {
            d.error(
                Some(vspan),
                format!(
                    "the value of the property `{key}` is {chars} characters long; Glance takes at most {MAX_PROPERTY_CHARS}"
                ),
                None,
            );
            continue;
        }
        if is_source_only_property(&key) {
            d.warning(
                Some(kspan),
                format!(
                    "`{key}` describes a source image: s2d never carries it, and sets the value given here"
                ),
                Some(
                    "set it only when the target needs it (`kernel_id`, `ramdisk_id`: an image id in the target cloud)"
                        .into(),
                ),
            );
        }
        properties.insert(key, value);
    }
    (properties, drops)
}

/// An availability zone or server group name: at most [`MAX_NAME_CHARS`] characters (the
/// reader has refused an empty one).
pub(in super::super) fn name(
    what: &str,
    value: String,
    span: Range<usize>,
    d: &mut Diagnostics,
) -> Option<String> {
    let chars = value.chars().count();
    if chars > MAX_NAME_CHARS {
        d.error(
            Some(span),
            format!("{what} is {chars} characters long; Nova takes at most {MAX_NAME_CHARS}"),
            None,
        );
        return None;
    }
    Some(value)
}

/// A zone map's entries (source zone, its place, target zone, its place): names checked, and
/// no source zone twice.
pub(in super::super) fn zones(
    entries: Vec<(String, Range<usize>, String, Range<usize>)>,
    spelling: Spelling,
    d: &mut Diagnostics,
) -> Option<BTreeMap<String, String>> {
    let mut ok = true;
    let mut out = BTreeMap::new();
    for (from, fspan, to, tspan) in entries {
        let from = name("a source zone", from, fspan.clone(), d);
        let to = name("a target zone", to, tspan, d);
        let (Some(from), Some(to)) = (from, to) else {
            ok = false;
            continue;
        };
        if out.contains_key(&from) {
            ok = false;
            d.error(
                Some(fspan),
                match spelling {
                    Spelling::Toml => format!("the source zone `{from}` is mapped twice"),
                    Spelling::Xml => format!("<zone from=\"{from}\"> appears twice in <zones>"),
                },
                Some("a source zone goes to one target zone".into()),
            );
            continue;
        }
        out.insert(from, to);
    }
    ok.then_some(out)
}

/// Both `availability_zone` and `zones` in one table: the zone map is never used.
pub(in super::super) fn zone_choice(
    availability_zone: bool,
    zones: &BTreeMap<String, String>,
    zones_span: Option<Range<usize>>,
    spelling: Spelling,
    d: &mut Diagnostics,
) {
    if availability_zone && !zones.is_empty() {
        let (az, map) = match spelling {
            Spelling::Toml => ("`availability_zone`", "`zones`"),
            Spelling::Xml => ("<availabilityZone>", "<zones>"),
        };
        d.warning(
            zones_span,
            format!("{map} is never used: {az} beside it wins"),
            Some(format!(
                "{az} puts every server in one zone whatever its source zone; keep one of the two"
            )),
        );
    }
}

/// A server group mode by its word (`copy`, `none`); `existing` takes a name.
pub(in super::super) const SERVER_GROUP_MODES: &[&str] = &["copy", "none"];

/// `copy` or `none` as a mode (the reader has checked the word is one of them).
pub(in super::super) fn server_group_mode(word: &str) -> ServerGroupMode {
    if word == "none" {
        ServerGroupMode::None
    } else {
        ServerGroupMode::Copy
    }
}

/// A user-data file's path as written: not empty (the reader checks), no NUL, not a folder.
pub(in super::super) fn user_data_path(
    path: String,
    span: Range<usize>,
    d: &mut Diagnostics,
) -> Option<String> {
    if path.contains('\0') {
        d.error(Some(span), "the user-data path holds a NUL character", None);
        return None;
    }
    if path.ends_with('/') || path.ends_with('\\') {
        d.error(
            Some(span),
            format!("the user-data path `{path}` names a folder"),
            Some("name the file, e.g. `cloud-init.yaml` (relative to the plan's folder)".into()),
        );
        return None;
    }
    Some(path)
}

#[cfg(test)]
mod tests;
