//! The XML reader (namespace `urn:s2d:plan:1`, schema `schemas/s2d-plan-1.xsd`): parses the
//! document into a small element tree that keeps the byte range of every element name and
//! attribute, then walks it as the TOML reader walks its tables, building the same [`Plan`] and
//! reporting every problem with its place.
//!
//! A document type declaration (and so any entity declaration) is refused as soon as it is
//! met: no entity is ever expanded, so billion-laughs and external-entity documents fail in
//! microseconds. Only the five predefined entities and character references are understood.
//! Knows nothing of the TOML syntax or of clouds.

use std::collections::BTreeMap;
use std::ops::Range;

use quick_xml::NsReader;
use quick_xml::escape::EscapeError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};

use super::diag::Diagnostics;
use super::model::*;
use super::validate::{self, AUTH_KEYS, CloudFound, INTERFACES, Spelling, did_you_mean};

/// The plan format's XML namespace.
pub const NAMESPACE: &str = "urn:s2d:plan:1";
const XSI: &[u8] = b"http://www.w3.org/2001/XMLSchema-instance";

/// How deep elements may nest. A plan nests four levels (`<plan><server><select><tag>`); the
/// limit leaves room for the format to grow while keeping hostile documents (100,000 nested
/// elements) from building a tree whose recursive drop or walk would overflow the stack.
pub const MAX_DEPTH: usize = 32;

/// How many elements a document may hold: ample for a fleet's plan, small enough that the
/// element tree of a hostile 10 MiB document of empty elements stays a few dozen MiB.
pub const MAX_ELEMENTS: usize = 200_000;

const PLAN_CHILDREN: &[&str] = &["source", "target", "state", "defaults", "network", "server"];
const CLOUD_CHILDREN: &[&str] = &["auth"];
const SELECT_CHILDREN: &[&str] = &["tag", "metadata"];
const OPTION_CHILDREN: &[&str] = &[
    "network",
    "networks",
    "keypair",
    "securityGroup",
    "floatingIp",
    "transfer",
    "availabilityZone",
    "zones",
    "serverGroup",
    "volumes",
];
const SERVER_CHILDREN: &[&str] = &[
    "select",
    "snapshot",
    "image",
    "flavor",
    "network",
    "networks",
    "keypair",
    "securityGroup",
    "floatingIp",
    "transfer",
    "availabilityZone",
    "zones",
    "serverGroup",
    "userData",
    "volumes",
];

/// An attribute: its name (local name, or the prefixed name when it is in some namespace),
/// its unescaped value, and where both are.
#[derive(Debug)]
struct Attr {
    name: String,
    value: String,
    name_span: Range<usize>,
    value_span: Range<usize>,
}

/// An element of the document.
#[derive(Debug)]
struct Element {
    /// The local name.
    name: String,
    /// Whether it is in the plan's namespace.
    in_ns: bool,
    /// Where its name stands in the start tag.
    name_span: Range<usize>,
    attrs: Vec<Attr>,
    children: Vec<Element>,
}

/// `s` without XML whitespace (space, tab, CR, LF) around it, as the schema's types see it.
fn xml_trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

/// Where `part`, a slice of `text`, starts in it.
fn offset(text: &str, part: &[u8]) -> Option<usize> {
    let start = text.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    (at >= start && at + part.len() <= start + text.len()).then(|| at - start)
}

fn span_of(text: &str, part: &[u8], fallback: usize) -> Range<usize> {
    match offset(text, part) {
        Some(at) => at..at + part.len(),
        None => fallback..fallback,
    }
}

/// Parse the document into its element tree. `None` after a syntax error (reported).
fn parse_tree(text: &str, d: &mut Diagnostics) -> Option<Element> {
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let before = reader.buffer_position() as usize;
        let (in_ns, event) = match reader.read_resolved_event() {
            Ok((ns, event)) => (
                matches!(ns, ResolveResult::Bound(Namespace(n)) if n == NAMESPACE.as_bytes()),
                event,
            ),
            Err(e) => {
                let at = (reader.error_position() as usize).min(text.len());
                d.error(Some(at..at), format!("XML syntax: {e}"), None);
                return None;
            }
        };
        let after = (reader.buffer_position() as usize).min(text.len());
        match event {
            Event::DocType(_) => {
                // Point at the declaration's first line, not at all of it.
                let end = text
                    .get(before..after)
                    .and_then(|t| t.find('\n'))
                    .map_or(after, |n| before + n);
                d.error(
                    Some(before..end),
                    "the plan has a document type declaration (<!DOCTYPE ...>): DTDs and entity declarations are refused",
                    Some(
                        "s2d plans need no DTD and s2d never expands entities; remove the <!DOCTYPE ...> declaration"
                            .into(),
                    ),
                );
                return None;
            }
            Event::Start(e) => {
                let el = element(&reader, text, &e, in_ns, before, d)?;
                within_limits(&el, stack.len() + 1, &mut elements, d)?;
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = element(&reader, text, &e, in_ns, before, d)?;
                within_limits(&el, stack.len() + 1, &mut elements, d)?;
                attach(el, &mut stack, &mut root, d);
            }
            Event::End(_) => match stack.pop() {
                Some(el) => attach(el, &mut stack, &mut root, d),
                None => {
                    d.error(
                        Some(before..after),
                        "XML syntax: an end tag without its start tag",
                        None,
                    );
                    return None;
                }
            },
            Event::Text(t) => {
                if t.iter().any(|b| !b.is_ascii_whitespace()) {
                    text_not_allowed(before..after, d);
                }
            }
            Event::CData(_) | Event::GeneralRef(_) => text_not_allowed(before..after, d),
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        d.error(
            Some(open.name_span.clone()),
            format!("XML syntax: <{}> is never closed", open.name),
            None,
        );
        return None;
    }
    if root.is_none() {
        d.error(
            Some(0..0),
            "the document has no root element",
            Some(format!(
                "a plan is <plan xmlns=\"{NAMESPACE}\" version=\"1\">...</plan>"
            )),
        );
    }
    root
}

/// Count one more element at `depth` (the root is 1): `None`, with the error reported at the
/// element, once the document nests deeper than [`MAX_DEPTH`] or holds more than
/// [`MAX_ELEMENTS`] elements. Reading stops there, so no tree beyond the limits is ever built.
fn within_limits(el: &Element, depth: usize, count: &mut usize, d: &mut Diagnostics) -> Option<()> {
    *count += 1;
    if depth > MAX_DEPTH {
        d.error(
            Some(el.name_span.clone()),
            format!("<{}> nests elements deeper than {MAX_DEPTH} levels", el.name),
            Some(
                "a plan nests four levels (<plan><server><select><tag>); this document is not a plan"
                    .into(),
            ),
        );
        return None;
    }
    if *count > MAX_ELEMENTS {
        d.error(
            Some(el.name_span.clone()),
            format!("the document holds more than {MAX_ELEMENTS} elements"),
            Some("split the migration into several plans".into()),
        );
        return None;
    }
    Some(())
}

fn text_not_allowed(span: Range<usize>, d: &mut Diagnostics) {
    d.error(
        Some(span),
        "text is not allowed here: a plan says everything with elements and attributes",
        None,
    );
}

fn attach(el: Element, stack: &mut [Element], root: &mut Option<Element>, d: &mut Diagnostics) {
    if let Some(parent) = stack.last_mut() {
        parent.children.push(el);
    } else if root.is_none() {
        *root = Some(el);
    } else {
        d.error(
            Some(el.name_span.clone()),
            format!("<{}> stands after the root element", el.name),
            Some("a document has one root element, <plan>".into()),
        );
    }
}

fn element(
    reader: &NsReader<&[u8]>,
    text: &str,
    e: &BytesStart<'_>,
    in_ns: bool,
    at: usize,
    d: &mut Diagnostics,
) -> Option<Element> {
    let qname = e.name();
    let name_span = span_of(text, qname.as_ref(), at);
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = match a {
            Ok(a) => a,
            Err(err) => {
                d.error(Some(name_span), format!("XML syntax: {err}"), None);
                return None;
            }
        };
        if a.key.as_namespace_binding().is_some() {
            continue;
        }
        let (ns, local) = reader.resolve_attribute(a.key);
        let name = match ns {
            ResolveResult::Unbound => String::from_utf8_lossy(local.as_ref()).into_owned(),
            ResolveResult::Bound(Namespace(n)) if n == XSI => continue,
            _ => String::from_utf8_lossy(a.key.as_ref()).into_owned(),
        };
        let attr_name_span = span_of(text, a.key.as_ref(), name_span.start);
        let value_span = span_of(text, &a.value, attr_name_span.end);
        let value = match a.unescape_value() {
            Ok(v) => v.into_owned(),
            Err(err) => {
                let message = match err {
                    quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(_, entity)) => {
                        format!("the entity `&{entity};` is not defined")
                    }
                    other => format!("XML: {other}"),
                };
                d.error(
                    Some(value_span),
                    message,
                    Some(
                        "only the predefined entities (&amp; &lt; &gt; &quot; &apos;) and character references (&#10;) are understood; s2d expands no other entity"
                            .into(),
                    ),
                );
                return None;
            }
        };
        attrs.push(Attr {
            name,
            value,
            name_span: attr_name_span,
            value_span,
        });
    }
    Some(Element {
        name: String::from_utf8_lossy(qname.local_name().as_ref()).into_owned(),
        in_ns,
        name_span,
        attrs,
        children: Vec::new(),
    })
}

/// An element being read: what it may hold; anything else is reported by [`El::finish`].
struct El<'a> {
    el: &'a Element,
    what: String,
}

impl<'a> El<'a> {
    fn new(el: &'a Element) -> Self {
        El {
            el,
            what: format!("<{}>", el.name),
        }
    }

    fn attr(&self, name: &str) -> Option<&'a Attr> {
        self.el.attrs.iter().find(|a| a.name == name)
    }

    /// A non-empty attribute value: one of only whitespace (any Unicode whitespace, as the TOML
    /// reader sees it, not only XML's four) is empty.
    fn string(&self, name: &str, d: &mut Diagnostics) -> Option<(String, Range<usize>)> {
        let a = self.attr(name)?;
        if a.value.trim().is_empty() {
            d.error(
                Some(a.value_span.clone()),
                format!("`{name}` on {} must not be empty", self.what),
                None,
            );
            return None;
        }
        Some((a.value.clone(), a.value_span.clone()))
    }

    /// A non-empty attribute value that the element must have.
    fn required(&self, name: &str, d: &mut Diagnostics) -> Option<(String, Range<usize>)> {
        if self.attr(name).is_none() {
            d.error(
                Some(self.el.name_span.clone()),
                format!("{} needs `{name}`", self.what),
                None,
            );
            return None;
        }
        self.string(name, d)
    }

    /// An `xs:boolean` attribute (`true`, `false`, `1`, `0`); `None` when absent or not a
    /// boolean (reported).
    fn boolean(&self, name: &str, d: &mut Diagnostics) -> Option<bool> {
        let a = self.attr(name)?;
        match xml_trim(&a.value) {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            other => {
                d.error(
                    Some(a.value_span.clone()),
                    format!("`{other}` is not a valid `{name}`"),
                    Some("allowed values: true, false".into()),
                );
                None
            }
        }
    }

    fn enum_string(&self, name: &str, values: &[&str], d: &mut Diagnostics) -> Option<String> {
        let (value, span) = self.string(name, d)?;
        validate::one_of(name, value, span, values, d)
    }

    fn children(&self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.el
            .children
            .iter()
            .filter(move |c| c.in_ns && c.name == name)
    }

    fn child(&self, name: &'a str) -> Option<&'a Element> {
        self.children(name).next()
    }

    /// Report unknown attributes and elements, and elements given twice (but `repeat`).
    fn finish(&self, attrs: &[&str], children: &[&str], repeat: &[&str], d: &mut Diagnostics) {
        for a in &self.el.attrs {
            if !attrs.contains(&a.name.as_str()) {
                let help = if attrs.is_empty() {
                    format!("{} takes no attributes", self.what)
                } else {
                    did_you_mean(&a.name, attrs).unwrap_or_else(|| {
                        format!("attributes of {}: {}", self.what, attrs.join(", "))
                    })
                };
                d.error(
                    Some(a.name_span.clone()),
                    format!("unknown attribute `{}` on {}", a.name, self.what),
                    Some(help),
                );
            }
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &self.el.children {
            if !c.in_ns {
                d.error(
                    Some(c.name_span.clone()),
                    format!("<{}> is not in the plan's namespace {NAMESPACE}", c.name),
                    Some(format!(
                        "plan elements carry no prefix under <plan xmlns=\"{NAMESPACE}\">"
                    )),
                );
            } else if !children.contains(&c.name.as_str()) {
                let help = if children.is_empty() {
                    format!("{} holds no elements", self.what)
                } else {
                    did_you_mean(&c.name, children).unwrap_or_else(|| {
                        format!("elements of {}: {}", self.what, children.join(", "))
                    })
                };
                d.error(
                    Some(c.name_span.clone()),
                    format!("unknown element <{}> in {}", c.name, self.what),
                    Some(help),
                );
            } else {
                let count = seen.entry(c.name.as_str()).or_default();
                *count += 1;
                if *count == 2 && !repeat.contains(&c.name.as_str()) {
                    d.error(
                        Some(c.name_span.clone()),
                        format!("<{}> appears twice in {}", c.name, self.what),
                        Some("each setting is given once".into()),
                    );
                }
            }
        }
    }
}

/// Read an XML plan, reporting every problem into `d`; the byte ranges of literal secrets go
/// into `secrets`. Returns the plan when it is complete enough to build.
pub(super) fn read(
    text: &str,
    d: &mut Diagnostics,
    secrets: &mut Vec<Range<usize>>,
) -> Option<Plan> {
    let root = parse_tree(text, d)?;
    if root.name != "plan" || !root.in_ns {
        d.error(
            Some(root.name_span.clone()),
            if root.name == "plan" {
                format!("<plan> is not in the namespace {NAMESPACE}")
            } else {
                format!("the root element is <{}>, not <plan>", root.name)
            },
            Some(format!(
                "a plan starts <plan xmlns=\"{NAMESPACE}\" version=\"1\">"
            )),
        );
        return None;
    }
    let top = El::new(&root);
    top.finish(&["version"], PLAN_CHILDREN, &["network", "server"], d);
    check_order(&root, d);

    let version = match top.required("version", d) {
        None => None,
        Some((v, span)) => match xml_trim(&v).parse::<i64>() {
            Ok(1) => Some(1),
            Ok(_) => {
                d.error(
                    Some(span),
                    format!("plan version {} is not supported", xml_trim(&v)),
                    Some("this s2d reads version 1".into()),
                );
                None
            }
            Err(_) => {
                d.error(
                    Some(span),
                    format!("`version` must be an integer, not `{v}`"),
                    Some("write version=\"1\"".into()),
                );
                None
            }
        },
    };
    let source = cloud(&top, "source", d, secrets);
    let target = cloud(&top, "target", d, secrets);
    let state = top.child("state").and_then(|el| {
        let r = El::new(el);
        r.finish(&["location"], &[], &[], d);
        let value = r.required("location", d)?;
        validate::state_location(value.0, value.1, d)
    });
    let defaults = match top.child("defaults") {
        Some(el) => {
            let r = El::new(el);
            r.finish(&[], OPTION_CHILDREN, &[], d);
            options::options(&r, d)
        }
        None => Some(ServerOptions::default()),
    };
    let networks = nets::networks(&top, text, d);
    let mut found = Vec::new();
    for el in top.children("server") {
        found.extend(server::server(&El::new(el), d));
    }
    if top.child("server").is_none() {
        d.error(
            Some(root.name_span.clone()),
            "the plan has no servers",
            Some("add <server source=\"<server in the source cloud>\"/>".into()),
        );
    }
    if let Some(defaults) = &defaults {
        validate::servers(&found, defaults, text, d);
    }
    Some(Plan {
        version: version?,
        source: source?,
        target: target?,
        state,
        defaults: defaults?,
        networks: networks?,
        servers: found.into_iter().map(|f| f.server).collect(),
    })
}

/// `<plan>` lists `<source>`, `<target>`, `<state>` and `<defaults>` (optional), the
/// `<network>`s (optional), then the `<server>`s.
fn check_order(root: &Element, d: &mut Diagnostics) {
    let mut last: Option<(usize, &str)> = None;
    for c in root.children.iter().filter(|c| c.in_ns) {
        let Some(rank) = PLAN_CHILDREN.iter().position(|n| *n == c.name) else {
            continue;
        };
        match last {
            Some((seen, name)) if rank < seen => d.error(
                Some(c.name_span.clone()),
                format!("<{}> must come before <{name}>", c.name),
                Some(
                    "a plan lists <source>, <target>, <state> and <defaults> (optional), its <network> elements (optional), then its <server> elements"
                        .into(),
                ),
            ),
            _ => last = Some((rank, PLAN_CHILDREN[rank])),
        }
    }
}

fn cloud(
    top: &El<'_>,
    side: &'static str,
    d: &mut Diagnostics,
    secrets: &mut Vec<Range<usize>>,
) -> Option<CloudRef> {
    let Some(el) = top.child(side) else {
        d.error(
            Some(top.el.name_span.clone()),
            format!("the plan has no <{side}>"),
            Some(format!(
                "add <{side} cloud=\"<clouds.yaml entry>\"/> or <{side}><auth .../></{side}>"
            )),
        );
        return None;
    };
    let what = if side == "source" {
        "<source>"
    } else {
        "<target>"
    };
    let r = El::new(el);
    r.finish(&["cloud"], CLOUD_CHILDREN, &[], d);
    let cloud = r.string("cloud", d);
    let inline = r.child("auth").map(|auth_el| {
        let a = El::new(auth_el);
        let names: Vec<&str> = AUTH_KEYS.iter().map(|(_, xml)| *xml).collect();
        a.finish(&names, &[], &[], d);
        let mut auth = InlineAuth::default();
        let mut spans = BTreeMap::new();
        for (key, xml) in AUTH_KEYS {
            if *key == "password" {
                continue;
            }
            let value = if *key == "interface" {
                a.enum_string(xml, INTERFACES, d)
                    .zip(a.attr(xml).map(|x| x.value_span.clone()))
            } else {
                a.string(xml, d)
            };
            if let (Some((value, vspan)), Some(slot)) = (value, auth.text_mut(key)) {
                *slot = Some(value);
                spans.insert(*key, vspan);
            }
        }
        if let Some(p) = a.attr("password") {
            secrets.push(p.value_span.clone());
            spans.insert("password", p.value_span.clone());
            auth.password = Some(Secret::new(p.value.clone()));
            d.warning(
                Some(p.value_span.clone()),
                format!("{what} holds a literal password"),
                Some(
                    "a secret belongs in an environment variable (`passwordEnv`) or clouds.yaml"
                        .into(),
                ),
            );
        }
        (auth, spans)
    });
    validate::cloud_ref(
        CloudFound {
            what,
            span: r
                .child("auth")
                .map(|a| a.name_span.clone())
                .unwrap_or(el.name_span.clone()),
            cloud_invalid: cloud.is_none() && r.attr("cloud").is_some(),
            cloud,
            inline,
        },
        Spelling::Xml,
        d,
        secrets,
    )
}

mod nets;
mod options;
mod server;
mod volumes;

#[cfg(test)]
mod tests;
