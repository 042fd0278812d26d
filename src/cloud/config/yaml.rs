//! Reading clouds.yaml and secure.yaml within bounds: flow collections nested at most
//! [`MAX_FLOW_DEPTH`] deep (checked on the text, before the YAML parser's quadratic walk), and
//! at most [`MAX_YAML_VALUES`] values once aliases are expanded (a billion laughs is refused
//! in milliseconds).

use serde_json::{Map, Value};

/// How deep `[` and `{` may nest in clouds.yaml. The YAML parser's time grows with the square
/// of the depth (100,000 levels took minutes) before its own limit (128) refuses the document.
pub(super) const MAX_FLOW_DEPTH: usize = 128;

/// The line where flow collections first nest deeper than [`MAX_FLOW_DEPTH`], if they do.
/// Quoted scalars and comments are skipped; a bracket inside a plain scalar counts, which can
/// only refuse a document that nests over a hundred brackets anyway.
pub(super) fn too_deep(text: &str) -> Option<usize> {
    let (mut depth, mut line) = (0usize, 1usize);
    let mut chars = text.chars().peekable();
    let mut prev = '\n';
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '[' | '{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some(line);
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            '#' if prev.is_whitespace() => while chars.next_if(|&c| c != '\n').is_some() {},
            '"' | '\'' if prev.is_whitespace() || "[{,:-?".contains(prev) => {
                while let Some(q) = chars.next() {
                    if q == '\n' {
                        line += 1;
                    } else if q == '\\' && c == '"' {
                        chars.next();
                    } else if q == c {
                        if c == '\'' && chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
            }
            _ => {}
        }
        prev = c;
    }
    None
}

/// The most values a clouds.yaml or secure.yaml may hold, its aliases expanded. A billion
/// laughs padded to 64 KB (the YAML parser's own alias limit grows with the document) took
/// 1.7 s and 335 MiB before it was refused; a real clouds.yaml holds a few hundred values.
const MAX_YAML_VALUES: usize = 100_000;

/// YAML text as JSON values, as `serde_yaml_ng::from_str` reads it, but refused as soon as it
/// expands to more than [`MAX_YAML_VALUES`] values.
pub(super) fn bounded_yaml(text: &str) -> std::result::Result<Value, serde_yaml_ng::Error> {
    use serde::de::DeserializeSeed;
    let budget = std::cell::Cell::new(MAX_YAML_VALUES);
    Bounded(&budget).deserialize(serde_yaml_ng::Deserializer::from_str(text))
}

/// A JSON value read from any deserializer, one unit of the budget per value.
#[derive(Clone, Copy)]
struct Bounded<'b>(&'b std::cell::Cell<usize>);

impl Bounded<'_> {
    fn take<E: serde::de::Error>(self) -> std::result::Result<(), E> {
        match self.0.get() {
            0 => Err(E::custom(format!(
                "the document holds more than {MAX_YAML_VALUES} values once its aliases are \
                 expanded"
            ))),
            left => {
                self.0.set(left - 1);
                Ok(())
            }
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<Value, E> {
        self.take()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Value, E> {
        self.take()?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Value, E> {
        self.take()?;
        Ok(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Value, E> {
        self.take()?;
        Ok(Value::from(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Value, E> {
        self.take()?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<Value, E> {
        self.take()?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Value, E> {
        self.take()?;
        Ok(Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Value, D::Error> {
        serde::de::DeserializeSeed::deserialize(self, deserializer)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Value, A::Error> {
        self.take()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Value, A::Error> {
        self.take()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let v = map.next_value_seed(self)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_nesting_is_bounded_outside_quotes_and_comments() {
        let deep = |n: usize| format!("a:\n  b: {}1{}\n", "[".repeat(n), "]".repeat(n));
        assert_eq!(too_deep(&deep(MAX_FLOW_DEPTH)), None);
        assert_eq!(too_deep(&deep(MAX_FLOW_DEPTH + 1)), Some(2));
        assert_eq!(too_deep(&deep(100_000)), Some(2));
        let brackets = "[".repeat(1000);
        for text in [
            format!("password: \"{brackets}\"\n"),
            format!("password: '{brackets}'\n"),
            format!("password: 'it''s {brackets}'\n"),
            format!("password: \"a\\\"{brackets}\"\n"),
            format!("# {brackets}\nclouds: {{}}\n"),
            format!("regions: [\"{brackets}\", '{brackets}']\n"),
        ] {
            assert_eq!(too_deep(&text), None, "{text}");
        }
        assert_eq!(too_deep(&format!("x: {}", "{a: ".repeat(200))), Some(1));
    }

    #[test]
    fn yaml_is_read_as_before_and_a_padded_billion_laughs_is_refused_quickly() {
        let text = "clouds:\n  a: &a {auth: {auth_url: 'http://k', n: 1, f: 2.5, b: true, z: ~}}\n  \
                    b: *a\n  c: [1, -2, 18446744073709551615, .nan]\n";
        let ours = super::bounded_yaml(text).unwrap();
        let theirs: serde_json::Value = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(ours, theirs);
        let mut laughs =
            String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..9 {
            laughs.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                vec![format!("*a{}", i - 1); 10].join(", ")
            ));
        }
        laughs.push_str("clouds: {provider: *a8}\n");
        // The parser's own limit grows with the document: pad it.
        for i in 0..3000 {
            laughs.push_str(&format!("pad{i}: [x, y, z]\n"));
        }
        let started = std::time::Instant::now();
        let e = super::bounded_yaml(&laughs).unwrap_err().to_string();
        assert!(e.contains("more than 100000 values"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
