//! Mutators: raw bytes for every format, plus structure-aware ones per format (XML elements
//! and markup, TOML/YAML/JSON value trees and their text). All randomness comes from the
//! `fastrand::Rng` passed in, so an input is reproducible from its seed.

use fastrand::Rng;
use serde_json::{Map, Value};

/// The syntax of a reader's input, which picks its structure-aware mutations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Toml,
    Xml,
    Yaml,
    Json,
}

/// Limits of one mutation run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The deepest nesting a mutation builds (the hostile tests go to 100,000 on their own).
    pub max_depth: usize,
    /// Inputs are cut to this size after each mutation (deep nesting excepted).
    pub max_len: usize,
}

/// A nesting depth up to `max`, log-uniform: mostly shallow, now and then the whole way.
pub fn depth(rng: &mut Rng, max: usize) -> usize {
    let bits = (max.max(1) as f64).log2();
    (2f64.powf(rng.f64() * bits) as usize).clamp(1, max.max(1))
}

/// Strings that break things: empty, huge, control characters, odd Unicode, paths, formats.
pub fn extreme_string(rng: &mut Rng) -> String {
    match rng.usize(0..22) {
        0 => String::new(),
        1 => " ".into(),
        2 => "a".repeat(rng.usize(256..70_000)),
        3 => "\0".into(),
        4 => "\u{FEFF}x".into(),
        5 => "\u{85}".into(),
        6 => "\u{2028}\u{2029}".into(),
        7 => "😀".repeat(rng.usize(1..2000)),
        8 => "../../../../etc/passwd".into(),
        9 => "${HOME}%s%n{0}".into(),
        10 => "\r\n\t".into(),
        11 => "-1".into(),
        12 => "NaN".into(),
        13 => "https://[::1".into(),
        14 => "http://".into(),
        15 => "\u{202E}evil".into(),
        16 => "é".repeat(rng.usize(1..5000)),
        17 => "x".repeat(255),
        18 => "server.".into(),
        19 => "security_group_rule.g[99999999999999999999]".into(),
        20 => (0..rng.usize(1..64))
            .map(|_| char::from_u32(rng.u32(0..0x11_0000)).unwrap_or('\u{FFFD}'))
            .collect(),
        _ => "\"'<>&;]]>".into(),
    }
}

fn extreme_number(rng: &mut Rng) -> Value {
    match rng.usize(0..12) {
        0 => Value::from(0),
        1 => Value::from(-1),
        2 => Value::from(u32::MAX as u64 + 1),
        3 => Value::from(i64::MAX),
        4 => Value::from(i64::MIN),
        5 => Value::from(u64::MAX),
        6 => Value::from(1e308),
        7 => Value::from(-1e-308),
        8 => Value::from(0.5),
        9 => Value::from(1),
        10 => Value::from(65536),
        _ => Value::from(rng.i64(..)),
    }
}

fn random_scalar(rng: &mut Rng) -> Value {
    match rng.usize(0..5) {
        0 => Value::String(extreme_string(rng)),
        1 => extreme_number(rng),
        2 => Value::Bool(rng.bool()),
        3 => Value::Null,
        _ => Value::Array(vec![]),
    }
}

/// Keys the readers know, so that mutations reach past "unknown key".
const KEYS: &[&str] = &[
    "version",
    "source",
    "target",
    "defaults",
    "server",
    "cloud",
    "auth_url",
    "username",
    "user_id",
    "password",
    "password_env",
    "project_name",
    "project_id",
    "user_domain_name",
    "project_domain_name",
    "region",
    "application_credential_id",
    "application_credential_secret",
    "application_credential_secret_env",
    "cacert",
    "interface",
    "network",
    "keypair",
    "import",
    "create",
    "public_key",
    "security_group",
    "floating_ip",
    "pool",
    "address",
    "transfer",
    "mode",
    "name",
    "snapshot",
    "image",
    "disk_format",
    "visibility",
    "flavor",
    "clouds",
    "auth",
    "auth_type",
    "token",
    "region_name",
    "regions",
    "verify",
    "insecure",
    "identity_api_version",
    "api_timeout",
    "cert",
    "key",
    "compute_endpoint_override",
    "format_version",
    "lineage",
    "serial",
    "s2d_version",
    "resources",
    "side",
    "id",
    "origin",
    "attributes",
    "recorded_at",
    "s2d_saved_plan",
    "plan_file",
    "plan_sha256",
    "state_file",
    "operation",
    "changes",
    "summary",
    "action",
    "kind",
    "node",
    "type",
    "depends_on",
    "before",
    "after",
    "targets",
    "parallelism",
    "transfers",
    "reason",
    "rules",
];

/// Mutate one value tree in place: the structure-aware part shared by TOML, YAML and JSON.
pub fn mutate_tree(rng: &mut Rng, root: &mut Value, limits: &Limits) {
    // A random node, by walking down from the root.
    let donor = pick(rng, root).clone();
    let node = pick_mut(rng, root);
    match rng.usize(0..11) {
        0 | 1 => *node = random_scalar(rng),
        2 => {
            // Another type with a related value.
            *node = match node.take() {
                Value::String(s) => s
                    .parse::<f64>()
                    .map(Value::from)
                    .unwrap_or(Value::Bool(true)),
                Value::Number(n) => Value::String(n.to_string()),
                Value::Bool(b) => Value::String(b.to_string()),
                Value::Array(a) => Value::Object(
                    a.into_iter()
                        .enumerate()
                        .map(|(i, v)| (i.to_string(), v))
                        .collect(),
                ),
                Value::Object(o) => Value::Array(o.into_iter().map(|(_, v)| v).collect()),
                Value::Null => Value::Object(Map::new()),
            }
        }
        3 => match node {
            Value::Object(o) if !o.is_empty() => {
                let k = o
                    .keys()
                    .nth(rng.usize(0..o.len()))
                    .cloned()
                    .unwrap_or_default();
                o.remove(&k);
            }
            Value::Array(a) if !a.is_empty() => {
                a.remove(rng.usize(0..a.len()));
            }
            other => *other = Value::Null,
        },
        4 => match node {
            // Duplicate (a [[server]], a resource, a target).
            Value::Array(a) if !a.is_empty() => {
                let v = a[rng.usize(0..a.len())].clone();
                for _ in 0..rng.usize(1..4) {
                    a.push(v.clone());
                }
            }
            Value::Object(o) if !o.is_empty() => {
                let (k, v) = o
                    .iter()
                    .nth(rng.usize(0..o.len()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .unwrap();
                o.insert(format!("{k}{}", rng.u8(..)), v);
            }
            other => *other = Value::Array(vec![other.clone(), other.clone()]),
        },
        5 => {
            if let Value::Object(o) = node {
                let key = if rng.bool() {
                    KEYS[rng.usize(0..KEYS.len())].to_string()
                } else {
                    extreme_string(rng)
                };
                o.insert(key, random_scalar(rng));
            } else {
                *node = donor;
            }
        }
        6 => {
            // Rename a key to another known one (or a near miss).
            if let Value::Object(o) = node
                && !o.is_empty()
            {
                let k = o
                    .keys()
                    .nth(rng.usize(0..o.len()))
                    .cloned()
                    .unwrap_or_default();
                if let Some(v) = o.remove(&k) {
                    let to = if rng.bool() {
                        KEYS[rng.usize(0..KEYS.len())].to_string()
                    } else {
                        format!("{k}_")
                    };
                    o.insert(to, v);
                }
            }
        }
        7 => *node = donor,
        8 => {
            let depth = depth(rng, limits.max_depth.min(64));
            let mut v = node.take();
            for _ in 0..depth {
                v = if rng.bool() {
                    Value::Array(vec![v])
                } else {
                    Value::Object(Map::from_iter([("a".to_string(), v)]))
                };
            }
            *node = v;
        }
        9 => {
            if let Value::String(s) = node {
                let cut = rng.usize(0..=s.len());
                if s.is_char_boundary(cut) {
                    s.insert_str(cut, &extreme_string(rng));
                }
            } else {
                *node = Value::String(extreme_string(rng));
            }
        }
        _ => *node = extreme_number(rng),
    }
}

fn pick<'a>(rng: &mut Rng, mut v: &'a Value) -> &'a Value {
    loop {
        let next = match v {
            Value::Object(o) if !o.is_empty() && rng.usize(0..4) != 0 => {
                o.values().nth(rng.usize(0..o.len()))
            }
            Value::Array(a) if !a.is_empty() && rng.usize(0..4) != 0 => {
                a.get(rng.usize(0..a.len()))
            }
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => return v,
        }
    }
}

fn pick_mut<'a>(rng: &mut Rng, root: &'a mut Value) -> &'a mut Value {
    // The path first (by index), then down it mutably.
    let mut path = Vec::new();
    let mut v: &Value = root;
    loop {
        let go = rng.usize(0..4) != 0;
        let len = match v {
            Value::Object(o) => o.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        if !go || len == 0 {
            break;
        }
        let i = rng.usize(0..len);
        path.push(i);
        v = match v {
            Value::Object(o) => o.values().nth(i).expect("in range"),
            Value::Array(a) => &a[i],
            _ => unreachable!(),
        };
    }
    let mut node = root;
    for i in path {
        node = match node {
            Value::Object(o) => o.values_mut().nth(i).expect("in range"),
            Value::Array(a) => &mut a[i],
            _ => unreachable!(),
        };
    }
    node
}

/// Bytes and strings worth inserting, per format.
fn dictionary(format: Format) -> &'static [&'static str] {
    match format {
        Format::Xml => &[
            "<",
            ">",
            "/>",
            "</",
            "<!--",
            "-->",
            "<![CDATA[",
            "]]>",
            "<?xml version=\"1.0\"?>",
            "<?pi x?>",
            "&amp;",
            "&lt;",
            "&#0;",
            "&#x110000;",
            "&#xD800;",
            "&undefined;",
            "&",
            "xmlns=\"urn:s2d:plan:1\"",
            "xmlns:p=\"urn:s2d:plan:1\"",
            "xmlns=\"\"",
            "<!DOCTYPE plan>",
            "<!DOCTYPE plan [<!ENTITY e \"x\">]>",
            "&e;",
            "=\"",
            "\"",
            "<server source=\"s\" name=\"n\"/>",
            "<defaults/>",
            "<auth url=\"http://k/v3\"/>",
            "xsi:schemaLocation=\"a b\"",
            "\u{FEFF}",
            "<p:plan xmlns:p=\"urn:s2d:plan:1\">",
        ],
        Format::Toml => &[
            "[",
            "]",
            "[[",
            "]]",
            "=",
            "\"",
            "'",
            "\"\"\"",
            "'''",
            "{",
            "}",
            ",",
            "#",
            "\n",
            "[server]",
            "[[server]]",
            "[source]",
            "[defaults]",
            "version = 1",
            "version = 2",
            "1979-05-27T07:32:00Z",
            "inf",
            "nan",
            "-0",
            "0x7fffffffffffffff",
            "1e400",
            "\\u0000",
            "\\UFFFFFFFF",
            "a.b.c = 1",
            "\"\" = 1",
            "\r\n",
        ],
        Format::Yaml => &[
            ":",
            "- ",
            "&a ",
            "*a",
            "<<: *a",
            "!!binary",
            "!!str ",
            "!custom ",
            "---\n",
            "...\n",
            "{",
            "}",
            "[",
            "]",
            "? ",
            "|\n",
            ">\n",
            "%YAML 1.2\n",
            "'",
            "\"",
            "\t",
            "~",
            "null",
            ".inf",
            ".nan",
            "0x10",
            "0o7",
            "1e400",
            "\n  ",
            "clouds:",
            "auth:",
            "auth_url: ",
        ],
        Format::Json => &[
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "null",
            "true",
            "1e400",
            "-0",
            "\\ud800",
            "\\u0000",
            "18446744073709551616",
            "\"format_version\":1",
            "\"kind\":\"create\"",
            "\"type\":\"server\"",
            "\"targets\":[]",
            " ",
            "\u{FEFF}",
        ],
    }
}

/// Raw byte mutations: flips, interesting bytes, inserts, deletes, duplicates, truncation,
/// splices from another seed.
pub fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>, format: Format, other: &[u8]) {
    const INTERESTING: &[u8] = &[
        0, 0xff, 0x7f, 0x80, 0xc3, 0xe2, 0xf0, b'<', b'>', b'"', b'\'', b'=', b'[', b']', b'{',
        b'}', b'\n', b'\r', b'&', b':', b'-', b'#', b' ', b'\\', b'/', b'*', b'!', b'\t',
    ];
    let len = data.len();
    match rng.usize(0..10) {
        0 if len > 0 => {
            let i = rng.usize(0..len);
            data[i] ^= 1 << rng.u8(0..8);
        }
        1 if len > 0 => {
            let i = rng.usize(0..len);
            data[i] = INTERESTING[rng.usize(0..INTERESTING.len())];
        }
        2 => {
            let at = rng.usize(0..=len);
            let n = rng.usize(1..16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            data.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let a = rng.usize(0..len);
            let b = (a + rng.usize(1..64)).min(len);
            data.drain(a..b);
        }
        4 if len > 0 => {
            let a = rng.usize(0..len);
            let b = (a + rng.usize(1..256)).min(len);
            let copy = data[a..b].to_vec();
            let at = rng.usize(0..=data.len());
            data.splice(at..at, copy);
        }
        5 => data.truncate(rng.usize(0..=len)),
        6 | 7 => {
            let words = dictionary(format);
            let w = words[rng.usize(0..words.len())];
            let at = rng.usize(0..=len);
            data.splice(at..at, w.bytes());
        }
        8 if !other.is_empty() => {
            // Splice: our head, another seed's tail.
            let cut = rng.usize(0..=len);
            let from = rng.usize(0..other.len());
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        _ if len > 1 => {
            // Swap two bytes.
            let (a, b) = (rng.usize(0..len), rng.usize(0..len));
            data.swap(a, b);
        }
        _ => data.push(rng.u8(..)),
    }
}

/// Line mutations (TOML and YAML are line-structured): duplicate, delete, swap, re-indent.
fn mutate_lines(rng: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return text.to_string();
    }
    let n = lines.len();
    let i = rng.usize(0..n);
    match rng.usize(0..5) {
        0 => {
            let l = lines[i].clone();
            lines.insert(rng.usize(0..=n), l);
        }
        1 => {
            lines.remove(i);
        }
        2 => lines.swap(i, rng.usize(0..n)),
        3 => lines[i] = format!("{}{}", " ".repeat(rng.usize(0..9)), lines[i].trim_start()),
        _ => {
            // Duplicate a block (a whole table, a whole mapping).
            let end = (i + rng.usize(1..12)).min(n);
            let block = lines[i..end].to_vec();
            let at = rng.usize(0..=lines.len());
            lines.splice(at..at, block);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Nest `inner` `depth` deep in the format's own nesting construct.
pub fn deep(format: Format, depth: usize, inner: &str) -> String {
    match format {
        Format::Xml => format!("{}{inner}{}", "<a>".repeat(depth), "</a>".repeat(depth)),
        Format::Toml | Format::Json | Format::Yaml => {
            format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
        }
    }
}

/// A billion laughs of `levels` levels, 10 references each, in the format's own way.
pub fn laughs(format: Format, levels: usize) -> String {
    match format {
        Format::Xml => {
            let mut s = String::from(
                "<?xml version=\"1.0\"?>\n<!DOCTYPE plan [\n <!ENTITY lol0 \"lol\">\n",
            );
            for i in 1..levels {
                s.push_str(&format!(
                    " <!ENTITY lol{i} \"{}\">\n",
                    format!("&lol{};", i - 1).repeat(10)
                ));
            }
            s.push_str(&format!("]>\n<plan xmlns=\"urn:s2d:plan:1\" version=\"1\"><source cloud=\"&lol{};\"/></plan>\n", levels - 1));
            s
        }
        _ => {
            let mut s = String::from(
                "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
            );
            for i in 1..levels {
                let refs = vec![format!("*a{}", i - 1); 10].join(",");
                s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
            }
            s.push_str(&format!("clouds:\n  provider: *a{}\n", levels - 1));
            s
        }
    }
}

/// The byte spans of the elements of a well-formed XML text (start tag to end tag).
fn xml_elements(text: &str) -> Vec<(usize, usize)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut open = Vec::new();
    let mut spans = Vec::new();
    loop {
        let before = reader.buffer_position() as usize;
        match reader.read_event() {
            Ok(Event::Start(_)) => open.push(before),
            Ok(Event::End(_)) => {
                if let Some(start) = open.pop() {
                    spans.push((start, reader.buffer_position() as usize));
                }
            }
            Ok(Event::Empty(_)) => spans.push((before, reader.buffer_position() as usize)),
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
        if spans.len() > 4096 {
            break;
        }
    }
    spans.retain(|&(a, b)| {
        a < b && b <= text.len() && text.is_char_boundary(a) && text.is_char_boundary(b)
    });
    spans
}

/// The byte spans of attribute values (between the quotes) of an XML text.
fn xml_attribute_values(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < bytes.len() && out.len() < 4096 {
        if bytes[i] == b'=' && (bytes[i + 1] == b'"' || bytes[i + 1] == b'\'') {
            let quote = bytes[i + 1];
            if let Some(len) = bytes[i + 2..].iter().position(|&b| b == quote) {
                out.push((i + 2, i + 2 + len));
                i += 2 + len;
            }
        }
        i += 1;
    }
    out
}

/// One structure-aware XML mutation.
fn mutate_xml(rng: &mut Rng, text: &str, limits: &Limits) -> String {
    let elements = xml_elements(text);
    let attrs = xml_attribute_values(text);
    let mut s = text.to_string();
    let pick = |rng: &mut Rng, v: &[(usize, usize)]| v[rng.usize(0..v.len())];
    match rng.usize(0..12) {
        0 if !elements.is_empty() => {
            let (a, b) = pick(rng, &elements);
            let copy = s[a..b].to_string();
            for _ in 0..rng.usize(1..4) {
                s.insert_str(b, &copy);
            }
        }
        1 if !elements.is_empty() => {
            let (a, b) = pick(rng, &elements);
            s.replace_range(a..b, "");
        }
        2 if elements.len() > 1 => {
            // Swap two elements that do not overlap.
            let (x, y) = (pick(rng, &elements), pick(rng, &elements));
            let (first, second) = if x.0 < y.0 { (x, y) } else { (y, x) };
            if first.1 <= second.0 {
                let (fa, fb) = (
                    s[first.0..first.1].to_string(),
                    s[second.0..second.1].to_string(),
                );
                s.replace_range(second.0..second.1, &fa);
                s.replace_range(first.0..first.1, &fb);
            }
        }
        3 if elements.len() > 1 => {
            // Nest an element inside another (or itself).
            let (a, b) = pick(rng, &elements);
            let copy = s[a..b].to_string();
            let (c, d) = pick(rng, &elements);
            let inside = s[c..d].rfind("</").map(|i| c + i).unwrap_or(d);
            let at = if s[c..d].ends_with("/>") { d } else { inside };
            s.insert_str(at, &copy);
        }
        4 | 5 if !attrs.is_empty() => {
            let (a, b) = pick(rng, &attrs);
            let value = extreme_string(rng)
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('"', "&quot;");
            s.replace_range(a..b, &value);
        }
        6 if !attrs.is_empty() => {
            // A duplicate or unknown attribute.
            let (a, _) = pick(rng, &attrs);
            let name_start = s[..a.saturating_sub(2)]
                .rfind(' ')
                .map(|i| i + 1)
                .unwrap_or(0);
            let attr = if rng.bool() {
                s[name_start..a.saturating_sub(2)].to_string()
            } else {
                KEYS[rng.usize(0..KEYS.len())].to_string()
            };
            s.insert_str(name_start, &format!("{attr}=\"x\" "));
        }
        7 => {
            // DOCTYPE: internal entities, an external entity, a small billion laughs.
            let doctype = match rng.usize(0..4) {
                0 => "<!DOCTYPE plan [<!ENTITY e \"expanded\">]>".to_string(),
                1 => "<!DOCTYPE plan [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>".to_string(),
                2 => "<!DOCTYPE plan SYSTEM \"http://127.0.0.1:9/plan.dtd\">".to_string(),
                _ => laughs(Format::Xml, rng.usize(2..6))
                    .split("<plan")
                    .next()
                    .unwrap_or("")
                    .to_string(),
            };
            let at = s.find("<plan").or_else(|| s.find("<p:plan")).unwrap_or(0);
            s.insert_str(at, &doctype);
            if !attrs.is_empty() && rng.bool() {
                let (a, b) = pick(rng, &attrs);
                if a >= at {
                    let r = ["&e;", "&xxe;", "&lol3;", "&lol1;"][rng.usize(0..4)];
                    s.replace_range(a + doctype.len()..b + doctype.len(), r);
                }
            }
        }
        8 if !elements.is_empty() => {
            // CDATA, a comment, a processing instruction, text, or an entity between elements.
            let (_, b) = pick(rng, &elements);
            let what = [
                "<![CDATA[x]]>",
                "<!-- c -->",
                "<?pi data?>",
                "text",
                "&amp;",
                "&#65;",
                "&nope;",
            ][rng.usize(0..7)];
            s.insert_str(b, what);
        }
        9 if !elements.is_empty() => {
            // Deep nesting around an element.
            let (a, b) = pick(rng, &elements);
            let depth = depth(rng, limits.max_depth);
            let inner = s[a..b].to_string();
            s.replace_range(a..b, &deep(Format::Xml, depth, &inner));
        }
        10 => {
            // Another namespace, or a prefix.
            s = match rng.usize(0..3) {
                0 => s.replacen("urn:s2d:plan:1", "urn:s2d:plan:2", 1),
                1 => s.replacen("xmlns=", "xmlns:q=", 1),
                _ => s.replacen("<plan", "<p:plan xmlns:p=\"urn:s2d:plan:1\"", 1),
            };
        }
        _ => {
            let mut bytes = s.into_bytes();
            mutate_bytes(rng, &mut bytes, Format::Xml, &[]);
            s = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    s
}

fn tree_to_text(format: Format, v: &Value) -> Option<String> {
    match format {
        Format::Toml => toml::to_string(v).ok(),
        Format::Yaml => serde_yaml_ng::to_string(v).ok(),
        Format::Json => serde_json::to_string(v).ok(),
        Format::Xml => None,
    }
}

fn text_to_tree(format: Format, text: &str) -> Option<Value> {
    // The YAML parser takes time in the square of the nesting depth: deep inputs get text
    // mutations only (the readers' own time on them is what the campaign measures).
    let mut depth = 0usize;
    for b in text.bytes() {
        match b {
            b'[' | b'{' | b'<' => depth += 1,
            b']' | b'}' | b'>' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > 64 {
            return None;
        }
    }
    // Nor would the fuzzer expand a billion laughs itself: YAML with aliases gets text
    // mutations only.
    if format == Format::Yaml && text.contains('*') {
        return None;
    }
    match format {
        Format::Toml => toml::from_str::<toml::Table>(text)
            .ok()
            .and_then(|t| serde_json::to_value(t).ok()),
        Format::Yaml => serde_yaml_ng::from_str::<Value>(text).ok(),
        Format::Json => serde_json::from_str(text).ok(),
        Format::Xml => None,
    }
}

/// Text-level mutations of TOML, YAML and JSON that a value tree cannot express.
fn mutate_data_text(rng: &mut Rng, format: Format, text: &str, limits: &Limits) -> String {
    let levels = depth(rng, limits.max_depth);
    match (format, rng.usize(0..5)) {
        (Format::Toml, 0) => {
            // Deep inline tables or arrays as the value of a new key.
            let v = if rng.bool() {
                deep(Format::Toml, levels, "1")
            } else {
                format!("{}1{}", "{a=".repeat(levels), "}".repeat(levels))
            };
            format!("x = {v}\n{text}")
        }
        (Format::Toml, 1) => {
            // A duplicate table or key.
            let header = text
                .lines()
                .filter(|l| l.starts_with('['))
                .nth(rng.usize(0..4))
                .unwrap_or("[source]");
            format!("{text}\n{header}\ncloud = \"dup\"\n")
        }
        (Format::Toml, 2) => format!(
            "{text}\nlong = \"{}\"\n",
            "l".repeat(rng.usize(1000..100_000))
        ),
        (Format::Yaml, 0) => {
            // Anchors and aliases: a billion laughs before the document, or an alias loop.
            match rng.usize(0..3) {
                0 => format!("{}{text}", laughs(Format::Yaml, rng.usize(2..12))),
                1 => {
                    text.replacen("auth:", "auth: &auth", 1).replacen(
                        "clouds:",
                        "base: {}\nclouds:",
                        1,
                    ) + "\n  again:\n    auth: *auth\n    <<: *auth\n"
                }
                _ => format!("x: *undefined\n{text}"),
            }
        }
        (Format::Yaml, 1) => {
            let v = if rng.bool() {
                deep(Format::Yaml, levels, "1")
            } else {
                format!("{}1{}", "{a: ".repeat(levels), "}".repeat(levels))
            };
            format!("x: {v}\n{text}")
        }
        (Format::Yaml, 2) => format!("{text}\nhuge: {}\n", "h".repeat(rng.usize(1000..200_000))),
        (Format::Json, 0) => {
            // Deep arrays as a value (or as the whole document).
            let v = deep(Format::Json, levels, "1");
            match text.find('{') {
                Some(i) if rng.bool() => format!("{}{{\"deep\":{v},{}", &text[..i], &text[i + 1..]),
                _ => v,
            }
        }
        (Format::Json, 1) => {
            // A duplicate key: the first key again, after the opening brace.
            let key = KEYS[rng.usize(0..KEYS.len())];
            match text.find('{') {
                Some(i) => format!(
                    "{}{{\"{key}\":{},{}",
                    &text[..i],
                    ["1", "null", "\"x\"", "[]", "{}"][rng.usize(0..5)],
                    &text[i + 1..]
                ),
                None => text.to_string(),
            }
        }
        (Format::Json, 2) => {
            // A huge number somewhere a number is.
            let huge = [
                "1e400",
                "-1e400",
                "18446744073709551616",
                "1.7976931348623157e309",
                &"9".repeat(rng.usize(20..5000)),
                "-0",
                "0.0000000000000000000001",
            ][rng.usize(0..7)]
            .to_string();
            let digits: Vec<usize> = text
                .char_indices()
                .filter(|(_, c)| c.is_ascii_digit())
                .map(|(i, _)| i)
                .collect();
            match digits.get(rng.usize(0..digits.len().max(1))) {
                Some(&i) => format!("{}{huge}{}", &text[..i], &text[i + 1..]),
                None => format!("{text}{huge}"),
            }
        }
        _ => mutate_lines(rng, text),
    }
}

/// One input from a seed: one to four stacked mutations, structure-aware or raw.
pub fn mutate(
    rng: &mut Rng,
    format: Format,
    seed: &[u8],
    other: &[u8],
    limits: &Limits,
) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let structural = rng.usize(0..3) != 0;
        if structural && let Ok(text) = std::str::from_utf8(&data) {
            let out = match format {
                Format::Xml => mutate_xml(rng, text, limits),
                _ if rng.bool() => match text_to_tree(format, text) {
                    Some(mut tree) => {
                        mutate_tree(rng, &mut tree, limits);
                        tree_to_text(format, &tree).unwrap_or_else(|| text.to_string())
                    }
                    None => mutate_data_text(rng, format, text, limits),
                },
                _ => mutate_data_text(rng, format, text, limits),
            };
            data = out.into_bytes();
        } else {
            mutate_bytes(rng, &mut data, format, other);
        }
        if data.len() > limits.max_len && !looks_deep(&data) {
            data.truncate(limits.max_len);
        }
    }
    data
}

/// Deep nesting is kept whole (cut, it would be only a truncated document).
fn looks_deep(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&data[..data.len().min(1 << 16)]);
    text.contains(&"[".repeat(64))
        || text.contains(&"<a>".repeat(64))
        || text.contains(&"{a=".repeat(64))
        || text.contains(&"{a: ".repeat(64))
}
