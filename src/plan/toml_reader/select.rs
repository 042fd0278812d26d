//! A fleet's `select`: the source servers an entry stands for.

use toml::Spanned;
use toml::de::DeValue;

use super::super::diag::Diagnostics;
use super::super::model::*;
use super::super::validate::{self, SelectFound, Spelling};
use super::{Reader, SELECT, kind};

/// A fleet's `select = { name = "web-*", tags = [...], metadata = { key = "pattern" } }`.
pub(super) fn selection(v: &Spanned<DeValue<'_>>, d: &mut Diagnostics) -> Option<Selection> {
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
