//! The shape of every JSON answer, recorded for the fidelity report that compares devcloud
//! with real OpenStack (`tests/openstack/fidelity.py`).
//!
//! Off unless `S2D_RECORD_SHAPES` names a folder; then each process appends one JSON line per
//! answer to `<folder>/<pid>.jsonl`: the service, method, path template (ids replaced by
//! `{id}`, the endpoint's prefix dropped), status and the body's shape (keys and value types,
//! never values, so no token or secret can end up in it).

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use serde_json::{Map, Value, json};
use url::Url;

use super::types::Service;

fn target() -> Option<&'static Mutex<std::fs::File>> {
    static FILE: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = PathBuf::from(std::env::var_os("S2D_RECORD_SHAPES")?);
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join(format!("{}.jsonl", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()?;
        Some(Mutex::new(file))
    })
    .as_ref()
}

/// Record one answer (a no-op unless recording is on).
pub(crate) fn record(service: Service, method: &str, url: &Url, status: u16, body: Option<&[u8]>) {
    let Some(file) = target() else {
        return;
    };
    let shape = match body {
        None => json!("no body"),
        Some([]) => json!("no body"),
        Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Ok(v) => shape(&v),
            Err(_) => json!("not JSON"),
        },
    };
    let line = json!({
        "service": service.catalog_type(),
        "method": method,
        "path": template(url.path()),
        "status": status,
        "shape": shape,
    });
    if let Ok(mut f) = file.lock() {
        let _ = writeln!(f, "{line}");
    }
}

/// Keys and types of a JSON value; an array's shape is the merged shape of its elements.
pub fn shape(value: &Value) -> Value {
    match value {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
        Value::Array(items) => {
            let mut merged: Option<Value> = None;
            for item in items {
                let s = shape(item);
                merged = Some(match merged {
                    None => s,
                    Some(m) => merge(m, s),
                });
            }
            Value::Array(merged.into_iter().collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    // Maps keyed by data (metadata, addresses by network name) would list
                    // values as keys: keep only that it is a map of what.
                    let key = if is_data_key(k) {
                        "{key}".to_string()
                    } else {
                        k.clone()
                    };
                    (key, shape(v))
                })
                .collect::<Map<_, _>>(),
        ),
    }
}

/// Two shapes of elements of one array as one: objects by key union; differing types joined
/// with `|` in a stable order.
fn merge(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(mut x), Value::Object(y)) => {
            for (k, v) in y {
                let merged = match x.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                x.insert(k, merged);
            }
            Value::Object(x)
        }
        (Value::Array(x), Value::Array(y)) => match (x.into_iter().next(), y.into_iter().next()) {
            (Some(p), Some(q)) => Value::Array(vec![merge(p, q)]),
            (Some(p), None) | (None, Some(p)) => Value::Array(vec![p]),
            (None, None) => Value::Array(Vec::new()),
        },
        (a, b) if a == b => a,
        (a, b) => {
            let mut kinds: Vec<String> = [a, b]
                .iter()
                .flat_map(|v| match v {
                    Value::String(s) => s.split('|').map(str::to_string).collect(),
                    other => vec![other.to_string()],
                })
                .collect();
            kinds.sort();
            kinds.dedup();
            Value::String(kinds.join("|"))
        }
    }
}

fn is_data_key(key: &str) -> bool {
    looks_like_id(key)
        || key.starts_with("s2d_")
        || key.contains('.')
        || key.contains(':')
            && !key.contains("OS-")
            && !key.starts_with("os-")
            && !key.starts_with("router:")
}

fn looks_like_id(segment: &str) -> bool {
    let hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    (segment.len() == 36 && hex(segment))
        || (segment.len() == 32 && hex(segment))
        || (!segment.is_empty() && segment.chars().all(|c| c.is_ascii_digit()))
}

/// The path from the API version on, ids replaced: `/compute/v2.1/servers/<uuid>` and
/// `/v2.1/servers/<uuid>` both read `/v2.1/servers/{id}`.
pub fn template(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // No version segment: the service's root (its version document).
    let Some(start) = segments.iter().position(|s| {
        let v = s.trim_start_matches('v');
        s.starts_with('v') && !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.')
    }) else {
        return "/".into();
    };
    let mut out = String::new();
    let mut previous = "";
    for s in &segments[start..] {
        out.push('/');
        if looks_like_id(s) || previous == "os-keypairs" || previous == "os-simple-tenant-usage" {
            out.push_str("{id}");
        } else {
            out.push_str(s);
        }
        previous = s;
    }
    if out.is_empty() { "/".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_their_prefix_and_ids() {
        assert_eq!(
            template("/compute/v2.1/servers/0b6f3c2e-1111-4222-8333-944455556666/action"),
            "/v2.1/servers/{id}/action"
        );
        assert_eq!(
            template("/v2.1/os-keypairs/alice-key"),
            "/v2.1/os-keypairs/{id}"
        );
        assert_eq!(template("/image/v2/images"), "/v2/images");
        assert_eq!(template("/v3/auth/tokens"), "/v3/auth/tokens");
        assert_eq!(template("/"), "/");
        assert_eq!(template("/identity"), "/");
    }

    #[test]
    fn shapes_keep_keys_and_types_only() {
        let v = json!({"server": {"id": "x", "name": "secret-ish", "metadata": {"s2d_lineage": "l"},
                       "addresses": {"private": [{"addr": "10.0.0.1", "version": 4}]},
                       "fault": null, "tags": []}});
        let s = shape(&v);
        assert_eq!(s["server"]["id"], "string");
        assert_eq!(s["server"]["fault"], "null");
        assert_eq!(s["server"]["metadata"]["{key}"], "string");
        assert_eq!(s["server"]["tags"], json!([]));
        assert!(!s.to_string().contains("secret-ish"));
        let merged = shape(&json!([{"a": 1}, {"a": null, "b": true}]));
        assert_eq!(merged, json!([{"a": "null|number", "b": "bool"}]));
    }
}
