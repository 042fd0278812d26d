//! The rules both syntaxes share: allowed values, "did you mean" hints, and the checks of
//! clouds (inline Keystone v3 auth), keypairs, floating IPs, fleets (`select` and the
//! `{source}` templates) and server names.
//!
//! The readers gather what they found, with the place (byte range) of every value, and call
//! these; nothing here knows TOML or XML text, only how each syntax spells a key, so that a
//! message names the key as the user wrote it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;

use super::diag::{Diagnostics, line_column};
use super::model::{
    CloudRef, InlineAuth, KeypairMode, SOURCE_PLACEHOLDER, Selection, Server, ServerOptions,
};

/// Glance's disk formats.
pub const DISK_FORMATS: &[&str] = &[
    "raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "iso", "ami", "aki", "ari", "ploop",
];
/// Glance's image visibilities.
pub const VISIBILITIES: &[&str] = &["private", "shared", "community", "public"];
/// The catalog interfaces an inline cloud may use.
pub const INTERFACES: &[&str] = &["public", "internal", "admin"];
/// How image bytes move (`transfer.mode`).
pub const TRANSFER_MODES: &[&str] = &["stream", "spool"];

/// Inline auth keys as TOML spells them, and as XML attributes of `<auth>` do.
pub(super) const AUTH_KEYS: &[(&str, &str)] = &[
    ("auth_url", "url"),
    ("username", "username"),
    ("user_id", "userId"),
    ("password_env", "passwordEnv"),
    ("password", "password"),
    ("project_name", "project"),
    ("project_id", "projectId"),
    ("user_domain_name", "userDomain"),
    ("project_domain_name", "projectDomain"),
    ("region", "region"),
    ("application_credential_id", "applicationCredentialId"),
    (
        "application_credential_secret_env",
        "applicationCredentialSecretEnv",
    ),
    ("cacert", "cacert"),
    ("interface", "interface"),
];

/// Which syntax a message speaks: keys are named as the user wrote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spelling {
    Toml,
    Xml,
}

impl Spelling {
    /// An inline auth key (given in its TOML spelling) as this syntax spells it.
    pub(super) fn auth_key(self, key: &'static str) -> &'static str {
        match self {
            Spelling::Toml => key,
            Spelling::Xml => AUTH_KEYS
                .iter()
                .find(|(toml, _)| *toml == key)
                .map(|(_, xml)| *xml)
                .unwrap_or(key),
        }
    }
}

/// The closest of `candidates` to a misspelt `word`, if any is close.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

/// "allowed values: a, b, c" for an enum-valued key.
pub fn allowed(values: &[&str]) -> String {
    format!("allowed values: {}", values.join(", "))
}

/// `value` if it is one of `values`, else an error at `span`.
pub(super) fn one_of(
    key: &str,
    value: String,
    span: Range<usize>,
    values: &[&str],
    d: &mut Diagnostics,
) -> Option<String> {
    if values.contains(&value.as_str()) {
        Some(value)
    } else {
        d.error(
            Some(span),
            format!("`{value}` is not a valid `{key}`"),
            Some(allowed(values)),
        );
        None
    }
}

/// Whether `name` can name an environment variable (POSIX: letters, digits, `_`, not
/// starting with a digit).
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// What a reader found in `[source]`/`[target]` (or `<source>`/`<target>`).
pub(super) struct CloudFound {
    /// How messages name the section: `[source]`, `<target>`, ...
    pub what: &'static str,
    /// The whole section.
    pub span: Range<usize>,
    /// `cloud = "NAME"` and the place of its value.
    pub cloud: Option<(String, Range<usize>)>,
    /// `cloud` was given but its value is wrong (already reported).
    pub cloud_invalid: bool,
    /// Inline auth, if any of its keys was given, and the place of each value by TOML key.
    pub inline: Option<(InlineAuth, BTreeMap<&'static str, Range<usize>>)>,
}

/// Check a cloud section: exactly one of `cloud` and inline auth, and inline auth complete
/// for Keystone v3. Values that look like secrets in the wrong place are added to `secrets`
/// so that snippets mask them.
pub(super) fn cloud_ref(
    found: CloudFound,
    spelling: Spelling,
    d: &mut Diagnostics,
    secrets: &mut Vec<Range<usize>>,
) -> Option<CloudRef> {
    let what = found.what;
    let k = |key| spelling.auth_key(key);
    match (found.cloud, found.inline) {
        (Some((name, _)), None) => Some(CloudRef::Named(name)),
        (Some((_, at)), Some(_)) => {
            d.error(
                Some(at),
                format!("{what} has both `cloud` and inline auth"),
                Some("use one of them".into()),
            );
            None
        }
        (None, None) if found.cloud_invalid => None,
        (None, None) => {
            let help = match spelling {
                Spelling::Toml => {
                    "set `cloud = \"<clouds.yaml entry>\"` or inline auth (`auth_url`, `username`, `password_env`, `project_name`)"
                }
                Spelling::Xml => {
                    "set `cloud=\"<clouds.yaml entry>\"` or add <auth url=\"...\" username=\"...\" passwordEnv=\"...\" project=\"...\"/>"
                }
            };
            d.error(
                Some(found.span),
                format!("{what} names no cloud"),
                Some(help.into()),
            );
            None
        }
        (None, Some((auth, spans))) => {
            let at = |key: &str| Some(spans.get(key).cloned().unwrap_or(found.span.clone()));
            check_inline(&auth, what, &k, &at, &found.span, d, secrets, &spans);
            Some(CloudRef::Inline(Box::new(auth)))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check_inline(
    auth: &InlineAuth,
    what: &str,
    k: &dyn Fn(&'static str) -> &'static str,
    at: &dyn Fn(&str) -> Option<Range<usize>>,
    section: &Range<usize>,
    d: &mut Diagnostics,
    secrets: &mut Vec<Range<usize>>,
    spans: &BTreeMap<&'static str, Range<usize>>,
) {
    let whole = Some(section.clone());
    match &auth.auth_url {
        None => d.error(
            whole.clone(),
            format!("{what}: inline auth needs `{}`", k("auth_url")),
            Some("Keystone's URL, e.g. https://keystone.example:5000/v3".into()),
        ),
        Some(u) => match url::Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(url) => d.error(
                at("auth_url"),
                format!(
                    "`{}` must be an http or https URL, not {}:",
                    k("auth_url"),
                    url.scheme()
                ),
                None,
            ),
            Err(e) => d.error(
                at("auth_url"),
                format!("`{u}` is not a URL: {e}"),
                Some("Keystone's URL, e.g. https://keystone.example:5000/v3".into()),
            ),
        },
    }
    for key in ["password_env", "application_credential_secret_env"] {
        let value = if key == "password_env" {
            &auth.password_env
        } else {
            &auth.application_credential_secret_env
        };
        if let Some(v) = value
            && !is_env_name(v)
        {
            // It may well be the secret itself: never echo it, and mask it in snippets.
            if let Some(span) = spans.get(key) {
                secrets.push(span.clone());
            }
            d.error(
                at(key),
                format!(
                    "`{}` must be the name of an environment variable (letters, digits and `_`)",
                    k(key)
                ),
                Some("it names the variable that holds the secret, never the secret itself".into()),
            );
        }
    }
    if auth.application_credential_id.is_some() {
        if auth.application_credential_secret_env.is_none() {
            d.error(
                whole.clone(),
                format!(
                    "{what}: an application credential needs `{}`",
                    k("application_credential_secret_env")
                ),
                Some("the name of an environment variable that holds its secret".into()),
            );
        }
        let mixed = [
            ("username", auth.username.is_some()),
            ("user_id", auth.user_id.is_some()),
            ("password_env", auth.password_env.is_some()),
            ("password", auth.password.is_some()),
            ("project_name", auth.project_name.is_some()),
            ("project_id", auth.project_id.is_some()),
            ("user_domain_name", auth.user_domain_name.is_some()),
            ("project_domain_name", auth.project_domain_name.is_some()),
        ];
        for (key, _) in mixed.iter().filter(|(_, set)| *set) {
            d.error(
                at(key),
                format!(
                    "{what}: `{}` does not go with an application credential",
                    k(key)
                ),
                Some(format!(
                    "an application credential carries its own user and project (Keystone refuses a scope with it): remove `{}` or `{}`",
                    k(key),
                    k("application_credential_id")
                )),
            );
        }
        return;
    }
    if auth.application_credential_secret_env.is_some() {
        d.error(
            at("application_credential_secret_env"),
            format!(
                "{what}: `{}` needs `{}`",
                k("application_credential_secret_env"),
                k("application_credential_id")
            ),
            None,
        );
    }
    if auth.username.is_none() && auth.user_id.is_none() {
        d.error(
            whole.clone(),
            format!(
                "{what}: inline auth needs `{}` or `{}`",
                k("username"),
                k("user_id")
            ),
            None,
        );
    }
    if auth.password_env.is_none() && auth.password.is_none() {
        d.error(
            whole.clone(),
            format!("{what}: inline auth needs `{}`", k("password_env")),
            Some("the name of an environment variable that holds the password".into()),
        );
    }
    if auth.project_name.is_none() && auth.project_id.is_none() {
        d.error(
            whole,
            format!(
                "{what}: inline auth needs `{}` or `{}`",
                k("project_name"),
                k("project_id")
            ),
            None,
        );
    }
}

/// The keypair mode of the modes given (`import`, `create`, `existing`): exactly one.
pub(super) fn keypair(
    modes: &[(&str, String)],
    span: Range<usize>,
    example: &str,
    d: &mut Diagnostics,
) -> Option<KeypairMode> {
    match modes {
        [(mode, name)] => Some(match *mode {
            "import" => KeypairMode::Import(name.clone()),
            "create" => KeypairMode::Create(name.clone()),
            _ => KeypairMode::Existing(name.clone()),
        }),
        _ => {
            d.error(
                Some(span),
                format!(
                    "`keypair` must have exactly one of import, create, existing (it has {})",
                    modes.len()
                ),
                Some(format!("e.g. {example}")),
            );
            None
        }
    }
}

/// A floating IP address as written.
pub(super) fn ip_address(value: &str, span: Range<usize>, d: &mut Diagnostics) -> Option<IpAddr> {
    match value.trim().parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            d.error(
                Some(span),
                format!("`{value}` is not an IP address"),
                Some("an IPv4 or IPv6 address, e.g. 203.0.113.10".into()),
            );
            None
        }
    }
}

/// What a reader found of a `select` (a TOML table, an XML element), each part with its place.
/// The reader has checked each part's type and reported what was wrong.
pub(super) struct SelectFound {
    /// The whole `select` (TOML: its value; XML: the element's name).
    pub span: Range<usize>,
    pub name: Option<String>,
    /// Each tag and its place.
    pub tags: Vec<(String, Range<usize>)>,
    /// Each metadata key, its value pattern, and the key's place.
    pub metadata: Vec<(String, String, Range<usize>)>,
    /// Some criterion was given, right or wrong: the selection is not empty.
    pub any_given: bool,
    /// Every criterion given was right.
    pub ok: bool,
}

/// The selection of a fleet: at least one criterion, no tag or metadata key twice.
pub(super) fn selection(
    found: SelectFound,
    spelling: Spelling,
    d: &mut Diagnostics,
) -> Option<Selection> {
    let mut ok = found.ok;
    if !found.any_given {
        let (message, help) = match spelling {
            Spelling::Toml => (
                "`select` needs at least one of `name`, `tags`, `metadata`",
                "a fleet without a criterion would take every server of the source project; to mean that, say so: `select = { name = \"*\" }`",
            ),
            Spelling::Xml => (
                "<select> needs at least one of `name`, <tag>, <metadata>",
                "a fleet without a criterion would take every server of the source project; to mean that, say so: <select name=\"*\"/>",
            ),
        };
        d.error(Some(found.span.clone()), message, Some(help.into()));
        return None;
    }
    let mut tags: Vec<String> = Vec::with_capacity(found.tags.len());
    for (tag, span) in found.tags {
        if tags.contains(&tag) {
            ok = false;
            d.error(
                Some(span),
                match spelling {
                    Spelling::Toml => format!("the tag `{tag}` is listed twice in `tags`"),
                    Spelling::Xml => format!("<tag name=\"{tag}\"> appears twice in <select>"),
                },
                Some("a server carries a tag or not: list each tag once".into()),
            );
        } else {
            tags.push(tag);
        }
    }
    let mut metadata = BTreeMap::new();
    for (key, value, span) in found.metadata {
        match metadata.entry(key) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(value);
            }
            std::collections::btree_map::Entry::Occupied(slot) => {
                ok = false;
                let key = slot.key();
                d.error(
                    Some(span),
                    match spelling {
                        Spelling::Toml => format!("the metadata key `{key}` is given twice"),
                        Spelling::Xml => {
                            format!("<metadata key=\"{key}\"> appears twice in <select>")
                        }
                    },
                    Some(
                        "a metadata key has one value: give each key once, with a pattern (`*`: any value)"
                            .into(),
                    ),
                );
            }
        }
    }
    ok.then_some(Selection {
        name: found.name,
        tags,
        metadata,
    })
}

/// What a reader found of a server's origin: `source` (one server) and `select` (a fleet).
pub(super) struct OriginFound {
    /// The server entry (TOML: the `[[server]]` table; XML: the `<server>` element's name).
    pub server_span: Range<usize>,
    /// `source`, when given and right, with its place.
    pub source: Option<(String, Range<usize>)>,
    /// `source` was given (maybe wrong, and reported).
    pub source_given: bool,
    /// The selection, when given and right.
    pub select: Option<Selection>,
    /// The place of `select`, when given (maybe wrong, and reported).
    pub select_span: Option<Range<usize>>,
}

/// Exactly one of `source` and `select`: the server's source (empty for a fleet), its
/// selection, and the place of whichever was given. `None` when neither is usable.
pub(super) fn origin(
    found: OriginFound,
    spelling: Spelling,
    d: &mut Diagnostics,
) -> Option<(String, Option<Selection>, Range<usize>)> {
    let (select, select_elem) = match spelling {
        Spelling::Toml => ("`select`", "select = { name = \"web-*\" }"),
        Spelling::Xml => ("<select>", "<select name=\"web-*\"/>"),
    };
    let entry = match spelling {
        Spelling::Toml => "a `[[server]]`",
        Spelling::Xml => "<server>",
    };
    match (found.source_given, found.select_span) {
        (true, Some(span)) => {
            d.error(
                Some(span),
                format!("{entry} has both `source` and {select}"),
                Some(format!(
                    "`source` names one server, {select} a fleet of them: keep one (write two entries for both; a server an entry names by `source` is never selected by a fleet)"
                )),
            );
            None
        }
        (false, None) => {
            d.error(
                Some(found.server_span),
                format!("{entry} needs `source` or {select}"),
                Some(format!(
                    "`source`: the name or UUID of one server in the source cloud; {select}: a fleet of them, e.g. {select_elem}"
                )),
            );
            None
        }
        (true, None) => found.source.map(|(source, span)| (source, None, span)),
        (false, Some(span)) => found
            .select
            .map(|selection| (String::new(), Some(selection), span)),
    }
}

/// The `{source}` templates: in a fleet, an explicit target name, snapshot name or image name
/// holds `{source}` (else every server selected would get the same one); elsewhere, nothing
/// does (it stands for a selected server's name, and this server selects none).
pub(super) fn templates(found: &ServerFound, spelling: Spelling, d: &mut Diagnostics) {
    let s = &found.server;
    let fleet = s.select.is_some();
    let parts = [
        (
            s.name.as_deref(),
            &found.name_span,
            "target name",
            "`{source}`",
        ),
        (
            s.snapshot.as_deref(),
            &found.snapshot_span,
            "snapshot name",
            "`{source}-s2d`",
        ),
        (
            s.image.name.as_deref(),
            &found.image_span,
            "image name",
            "the snapshot's name",
        ),
    ];
    for (i, (value, span, what, default)) in parts.into_iter().enumerate() {
        let Some(value) = value else {
            continue;
        };
        let (label, example) = match (spelling, i) {
            (Spelling::Toml, 0) => ("`name`", "`name = \"{source}-copy\"`"),
            (Spelling::Toml, 1) => ("`snapshot`", "`snapshot = \"{source}-s2d\"`"),
            (Spelling::Toml, _) => (
                "`name` in `image`",
                "`image = { name = \"{source}-image\" }`",
            ),
            (Spelling::Xml, 0) => ("`name` on <server>", "`name=\"{source}-copy\"`"),
            (Spelling::Xml, 1) => (
                "`name` on <snapshot>",
                "`<snapshot name=\"{source}-s2d\"/>`",
            ),
            (Spelling::Xml, _) => ("`name` on <image>", "`<image name=\"{source}-image\"/>`"),
        };
        let has = value.contains(SOURCE_PLACEHOLDER);
        if fleet && !has {
            d.error(
                Some(span.clone()),
                format!("in a fleet, {label} must contain `{SOURCE_PLACEHOLDER}`"),
                Some(format!(
                    "every server the fleet selects would get the {what} `{value}`; `{SOURCE_PLACEHOLDER}` stands for each one's name: write e.g. {example}, or leave it out (default: {default})"
                )),
            );
        } else if !fleet && has {
            d.error(
                Some(span.clone()),
                format!(
                    "{label} holds `{SOURCE_PLACEHOLDER}`, which only a fleet (`select`) fills in"
                ),
                Some(format!(
                    "`{SOURCE_PLACEHOLDER}` stands for the name of each server a fleet selects; this server names its source: write the {what} in full"
                )),
            );
        }
    }
}

/// A server as read, with the places plan-wide checks point at.
pub(super) struct ServerFound {
    pub server: Server,
    /// The place of `source`, or of `select` for a fleet.
    pub origin_span: Range<usize>,
    /// The place of `name`, else of `source` (or `select`).
    pub name_span: Range<usize>,
    /// The place of `snapshot`, else of the server's name.
    pub snapshot_span: Range<usize>,
    /// The place of the image's name, else of the server's name.
    pub image_span: Range<usize>,
}

/// Plan-wide checks of the servers: target names, snapshot names and image names are unique
/// once defaults are applied (two servers sharing one would fight over it).
///
/// A fleet's names are templates, compared with nothing here: each source server goes to the
/// first entry that selects it (one named by `source` is never selected), so two fleets with
/// one template never render the same name for one server, and whether a template renders a
/// literal name of another entry depends on what the source holds (`s2d plan` sees that).
/// A fleet whose selection is an earlier fleet's selects nothing: a warning.
pub(super) fn servers(
    found: &[ServerFound],
    defaults: &ServerOptions,
    text: &str,
    d: &mut Diagnostics,
) {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut snapshots: BTreeMap<String, usize> = BTreeMap::new();
    let mut images: BTreeMap<String, usize> = BTreeMap::new();
    let mut fleets: Vec<(&Selection, usize)> = Vec::new();
    for s in found {
        let own = &s.server.options;
        if own.availability_zone.is_none()
            && defaults.availability_zone.is_some()
            && !own.zones.is_empty()
        {
            d.warning(
                Some(s.origin_span.clone()),
                "this server's zone map is never used: the default availability zone wins",
                Some(
                    "an availability zone puts the server in that zone whatever its source zone; give this server its own availability zone, or move the default's into the servers that need it"
                        .into(),
                ),
            );
        }
        if let Some(selection) = &s.server.select {
            if let Some((_, first)) = fleets.iter().find(|(other, _)| *other == selection) {
                let (line, _) = line_column(text, *first);
                d.warning(
                    Some(s.origin_span.clone()),
                    format!(
                        "this fleet selects nothing: the fleet at line {line} has the same selection"
                    ),
                    Some(
                        "each source server goes to the first entry that selects it: merge the two, or narrow the first"
                            .into(),
                    ),
                );
            } else {
                fleets.push((selection, s.origin_span.start));
            }
            continue;
        }
        let r = s.server.resolved(defaults);
        for (map, value, span, what, key) in [
            (
                &mut names,
                r.name,
                &s.name_span,
                "two servers are named",
                "name",
            ),
            (
                &mut snapshots,
                r.snapshot,
                &s.snapshot_span,
                "two servers use the snapshot name",
                "snapshot",
            ),
            (
                &mut images,
                r.image_name,
                &s.image_span,
                "two servers use the image name",
                "image name",
            ),
        ] {
            if let Some(first) = map.get(&value) {
                let (line, _) = line_column(text, *first);
                d.error(
                    Some(span.clone()),
                    format!(
                        "{what} `{value}`{}",
                        if key == "name" { " in the target" } else { "" }
                    ),
                    Some(format!(
                        "the first is at line {line}; give one of them another {key}"
                    )),
                );
                // One report per server is enough: the rest follow from the name.
                break;
            }
            map.insert(value, span.start);
        }
    }
}

/// `[state] location` (TOML) / `<state location>` (XML): a path or a state URL that parses,
/// with no password in it (a plan lives in version control; PostgreSQL takes `PGPASSWORD`).
pub(super) fn state_location(
    value: String,
    span: Range<usize>,
    d: &mut Diagnostics,
) -> Option<String> {
    if let Ok(url) = url::Url::parse(&value)
        && url.password().is_some()
    {
        d.error(
            Some(span),
            "the state location holds a password",
            Some(
                "a plan is kept in version control: remove the password from the URL and set PGPASSWORD (or ~/.pgpass) where s2d runs".into(),
            ),
        );
        return None;
    }
    match value.parse::<crate::state::Location>() {
        Ok(_) => Some(value),
        Err(e) => {
            let help = miette::Diagnostic::help(&e).map(|h| h.to_string());
            d.error(Some(span), e.to_string(), help);
            None
        }
    }
}

pub(super) mod boot;
pub(super) mod nets;
pub(super) mod volumes;

#[cfg(test)]
mod tests;
