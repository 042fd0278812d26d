//! The rules of networks, both syntaxes: the NIC map (`networks`), the target networks built
//! from source networks (`[[network]]` / `<network>`, with their routers) and the NIC a
//! floating IP goes to. Only what the plan alone can tell: whether a NIC is mapped, a source
//! network exists or an IP can be kept needs the clouds, and is the engine's to check.

use std::collections::BTreeMap;
use std::ops::Range;

use super::super::diag::{Diagnostics, line_column};
use super::super::model::{NetworkBuild, NicMap, RouterBuild};
use super::Spelling;
use super::boot::MAX_NAME_CHARS;

/// A name that is empty (or only whitespace).
pub const EMPTY_NAME: &str = "s2d::plan::empty_name";
/// A name longer than Neutron takes.
pub const NAME_TOO_LONG: &str = "s2d::plan::name_too_long";
/// A NIC map without an entry.
pub const NIC_MAP_EMPTY: &str = "s2d::plan::nic_map_empty";
/// A NIC map entry whose target network is empty or missing.
pub const NIC_TO_NOTHING: &str = "s2d::plan::nic_to_nothing";
/// A source network mapped twice in one map (XML; TOML refuses a key twice itself).
pub const NIC_TWICE: &str = "s2d::plan::nic_twice";
/// A `[[network]]` without `from`.
pub const NETWORK_WITHOUT_FROM: &str = "s2d::plan::network_without_from";
/// Two `[[network]]` entries copying one source network.
pub const NETWORK_TWICE: &str = "s2d::plan::network_twice";
/// Two built networks, or two routers, with one target name.
pub const NAME_TAKEN: &str = "s2d::plan::network_name_taken";
/// A router without an external network.
pub const ROUTER_WITHOUT_EXTERNAL: &str = "s2d::plan::router_without_external";
/// A floating IP's `nic` on a floating IP that is disabled.
pub const NIC_WITHOUT_FLOATING_IP: &str = "s2d::plan::nic_without_floating_ip";

/// A text value as written (maybe empty) and its place.
pub(in super::super) type Text = (String, Range<usize>);

/// `what` (named as the user wrote it) holding `value`: not empty, at most
/// [`MAX_NAME_CHARS`] characters. Reports and returns `None` otherwise.
fn name(what: &str, value: Text, d: &mut Diagnostics) -> Option<String> {
    let (value, span) = value;
    if value.trim().is_empty() {
        d.coded(
            EMPTY_NAME,
            Some(span),
            format!("{what} must not be empty"),
            "give the network's (or router's) name, or leave the setting out",
        );
        return None;
    }
    let chars = value.chars().count();
    if chars > MAX_NAME_CHARS {
        d.coded(
            NAME_TOO_LONG,
            Some(span),
            format!("{what} is {chars} characters long; Neutron takes at most {MAX_NAME_CHARS}"),
            "use a shorter name",
        );
        return None;
    }
    Some(value)
}

/// One entry of a NIC map as a reader found it.
pub(in super::super) struct NicFound {
    /// The source network (TOML: the key; XML: `source`), as written.
    pub source: Text,
    /// The target network, as written; `None` when missing (`missing_at` says where) or of
    /// the wrong type (already reported: `missing_at` is `None` then).
    pub network: Option<Text>,
    /// Where to point when `network` is missing.
    pub missing_at: Option<Range<usize>>,
    pub keep_ip: bool,
    pub keep_mac: bool,
}

/// A NIC map (`networks = { ... }` / `<networks>`): at least one entry, names given, each
/// source network once. `span` is the whole map. `None` when something is wrong (reported).
pub(in super::super) fn nic_map(
    entries: Vec<NicFound>,
    span: Range<usize>,
    spelling: Spelling,
    d: &mut Diagnostics,
) -> Option<BTreeMap<String, NicMap>> {
    if entries.is_empty() {
        let (message, help) = match spelling {
            Spelling::Toml => (
                "`networks` must map at least one network",
                "e.g. networks = { \"private\" = \"private\" }; leave it out to use `network`",
            ),
            Spelling::Xml => (
                "<networks> needs at least one <nic source=\"...\" network=\"...\"/>",
                "leave <networks> out to use <network name=\"...\"/>",
            ),
        };
        d.coded(NIC_MAP_EMPTY, Some(span), message, help);
        return None;
    }
    let mut ok = true;
    let mut map = BTreeMap::new();
    for e in entries {
        let source_what = match spelling {
            Spelling::Toml => "a source network in `networks`".to_string(),
            Spelling::Xml => "`source` on <nic>".to_string(),
        };
        let source = name(&source_what, e.source.clone(), d);
        let network = match e.network {
            Some((value, at)) if value.trim().is_empty() => {
                d.coded(
                    NIC_TO_NOTHING,
                    Some(at),
                    format!("the NIC on `{}` is mapped to an empty network", e.source.0),
                    "name the target network the NIC joins (one that exists, or one a [[network]] builds)",
                );
                None
            }
            Some(value) => {
                let what = match spelling {
                    Spelling::Toml => format!("the target network of `{}`", e.source.0),
                    Spelling::Xml => "`network` on <nic>".to_string(),
                };
                name(&what, value, d)
            }
            None => {
                if let Some(at) = e.missing_at {
                    let (message, help) = match spelling {
                        Spelling::Toml => (
                            format!("the NIC on `{}` names no `network`", e.source.0),
                            format!(
                                "e.g. \"{}\" = {{ network = \"NAME\", keep_ip = true }}",
                                e.source.0
                            ),
                        ),
                        Spelling::Xml => (
                            "<nic> needs `network`".to_string(),
                            "e.g. <nic source=\"src-db\" network=\"db-net\"/>".to_string(),
                        ),
                    };
                    d.coded(NIC_TO_NOTHING, Some(at), message, help);
                }
                None
            }
        };
        match (source, network) {
            (Some(source), Some(network)) => {
                if map.contains_key(&source) {
                    d.coded(
                        NIC_TWICE,
                        Some(e.source.1.clone()),
                        format!("the source network `{source}` is mapped twice"),
                        "a NIC goes to one network: keep one of the two entries",
                    );
                    ok = false;
                    continue;
                }
                map.insert(
                    source,
                    NicMap {
                        network,
                        keep_ip: e.keep_ip,
                        keep_mac: e.keep_mac,
                    },
                );
            }
            _ => ok = false,
        }
    }
    ok.then_some(map)
}

/// A router as a reader found it (TOML: `router = { ... }`; XML: `<router>`).
pub(in super::super) struct RouterFound {
    /// The whole router (TOML: its value; XML: the element's name).
    pub span: Range<usize>,
    /// `external` as written; `None` when missing or of the wrong type (`external_given`).
    pub external: Option<Text>,
    /// `external` was given, right or wrong (a wrong one is already reported).
    pub external_given: bool,
    pub name: Option<Text>,
}

/// A `[[network]]` (`<network>`) as a reader found it, each value as written.
pub(in super::super) struct NetworkFound {
    /// The entry (TOML: its table; XML: the element's name).
    pub span: Range<usize>,
    pub from: Option<Text>,
    /// `from` was given, right or wrong (a wrong one is already reported).
    pub from_given: bool,
    pub name: Option<Text>,
    pub router: Option<RouterFound>,
    /// A part was given but could not be read (reported): the entry is not built.
    pub invalid: bool,
}

/// The built networks: each with a source network, names not empty and not too long, a
/// router with an external network; no source network copied twice, no target name (of a
/// network, or of a router once defaults apply) used twice. `text` is the plan, for "the
/// first is at line N". Returns the networks that are right, and whether all were.
pub(in super::super) fn networks(
    found: Vec<NetworkFound>,
    spelling: Spelling,
    text: &str,
    d: &mut Diagnostics,
) -> (Vec<NetworkBuild>, bool) {
    let (entry, example) = match spelling {
        Spelling::Toml => (
            "a `[[network]]`",
            "[[network]]\nfrom = \"src-db\"\nname = \"db-net\"",
        ),
        Spelling::Xml => ("<network>", "<network from=\"src-db\" name=\"db-net\"/>"),
    };
    let label = |key: &str| match spelling {
        Spelling::Toml => format!("`{key}` of {entry}"),
        Spelling::Xml => format!("`{key}` on {entry}"),
    };
    let mut ok = true;
    let mut out = Vec::new();
    let mut sources: BTreeMap<String, usize> = BTreeMap::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for f in found {
        let from = match f.from.clone() {
            Some(value) => name(&label("from"), value, d),
            None => {
                if !f.from_given {
                    d.coded(
                        NETWORK_WITHOUT_FROM,
                        Some(f.span.clone()),
                        format!("{entry} needs `from`"),
                        format!(
                            "`from` names the source network to copy (its name or id), e.g. {example}"
                        ),
                    );
                }
                None
            }
        };
        let target = f.name.clone().and_then(|v| name(&label("name"), v, d));
        let router = f.router.as_ref().map(|r| router(r, spelling, d));
        let router_ok = !f.invalid && !matches!(router, Some(None));
        let router = router.flatten();
        let Some(from) = from else {
            ok = false;
            continue;
        };
        if (f.name.is_some() && target.is_none()) || !router_ok {
            ok = false;
            continue;
        }
        let from_span = f.from.as_ref().map_or(f.span.clone(), |(_, s)| s.clone());
        if let Some(first) = sources.get(&from) {
            let (line, _) = line_column(text, *first);
            d.coded(
                NETWORK_TWICE,
                Some(from_span),
                format!("the source network `{from}` is built twice"),
                format!(
                    "the first is at line {line}; one source network makes one target network: keep one entry"
                ),
            );
            ok = false;
            continue;
        }
        sources.insert(from.clone(), from_span.start);
        let network = NetworkBuild {
            from,
            name: target,
            router,
        };
        let name_span = f
            .name
            .as_ref()
            .map_or(from_span.clone(), |(_, s)| s.clone());
        let router_span = f.router.as_ref().map_or(name_span.clone(), |r| {
            r.name.as_ref().map_or(r.span.clone(), |(_, s)| s.clone())
        });
        let mut taken = false;
        let mut claims = vec![(network.target_name().to_string(), name_span, "network")];
        if let Some(router_name) = network.router_name() {
            claims.push((router_name, router_span, "router"));
        }
        for (claimed, span, kind) in claims {
            if let Some(first) = names.get(&claimed) {
                let (line, _) = line_column(text, *first);
                d.coded(
                    NAME_TAKEN,
                    Some(span),
                    format!("the {kind} name `{claimed}` is taken by another built network or router"),
                    format!(
                        "the first is at line {line}; s2d tells what it made by name: give one of them another `name`"
                    ),
                );
                taken = true;
            } else {
                names.insert(claimed, span.start);
            }
        }
        if taken {
            ok = false;
            continue;
        }
        out.push(network);
    }
    (out, ok)
}

/// A built network's router: an external network, and a name if given (not empty, not too
/// long). `None` when something is wrong (reported).
fn router(r: &RouterFound, spelling: Spelling, d: &mut Diagnostics) -> Option<RouterBuild> {
    let label = |key: &str| match spelling {
        Spelling::Toml => format!("`{key}` of a `router`"),
        Spelling::Xml => format!("`{key}` on <router>"),
    };
    let external = match r.external.clone() {
        Some((value, at)) if value.trim().is_empty() => {
            d.coded(
                ROUTER_WITHOUT_EXTERNAL,
                Some(at),
                format!("{} must not be empty", label("external")),
                "name the external network of the router's gateway, e.g. \"public\"",
            );
            None
        }
        Some(value) => name(&label("external"), value, d),
        None => {
            if !r.external_given {
                let (message, help) = match spelling {
                    Spelling::Toml => (
                        "a `router` needs `external`",
                        "e.g. router = { external = \"public\" }: the external network of the router's gateway",
                    ),
                    Spelling::Xml => (
                        "<router> needs `external`",
                        "e.g. <router external=\"public\"/>: the external network of the router's gateway",
                    ),
                };
                d.coded(ROUTER_WITHOUT_EXTERNAL, Some(r.span.clone()), message, help);
            }
            None
        }
    };
    let router_name = match r.name.clone() {
        Some(value) => Some(name(&label("name"), value, d)?),
        None => None,
    };
    Some(RouterBuild {
        external: external?,
        name: router_name,
    })
}

/// A floating IP's `nic`: a name, and only on a floating IP that is not disabled. `None`
/// when absent or wrong (reported; `ok` says which).
pub(in super::super) fn floating_ip_nic(
    nic: Option<Text>,
    disabled: bool,
    spelling: Spelling,
    d: &mut Diagnostics,
) -> (Option<String>, bool) {
    let Some((value, span)) = nic else {
        return (None, true);
    };
    if disabled {
        let (message, help) = match spelling {
            Spelling::Toml => (
                "a disabled floating IP has no `nic`",
                "remove `nic`, or give the floating IP a `pool` or an `address`",
            ),
            Spelling::Xml => (
                "<floatingIp enabled=\"false\"> takes no `nic`",
                "remove `nic`, or give <floatingIp> a `pool` or an `address`",
            ),
        };
        d.coded(NIC_WITHOUT_FLOATING_IP, Some(span), message, help);
        return (None, false);
    }
    let what = match spelling {
        Spelling::Toml => "`nic` of `floating_ip`",
        Spelling::Xml => "`nic` on <floatingIp>",
    };
    let nic = name(what, (value, span), d);
    let ok = nic.is_some();
    (nic, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, at: usize) -> Text {
        (s.to_string(), at..at + s.len())
    }

    fn network(
        from: Option<Text>,
        name: Option<Text>,
        router: Option<RouterFound>,
    ) -> NetworkFound {
        NetworkFound {
            span: 0..1,
            from_given: from.is_some(),
            from,
            name,
            router,
            invalid: false,
        }
    }

    fn codes(d: &Diagnostics) -> Vec<&'static str> {
        d.iter().filter_map(|x| x.code).collect()
    }

    #[test]
    fn a_good_nic_map_reads_whole() {
        let mut d = Diagnostics::default();
        let map = nic_map(
            vec![
                NicFound {
                    source: t("private", 1),
                    network: Some(t("private", 10)),
                    missing_at: None,
                    keep_ip: false,
                    keep_mac: false,
                },
                NicFound {
                    source: t("src-db", 20),
                    network: Some(t("db-net", 30)),
                    missing_at: None,
                    keep_ip: true,
                    keep_mac: true,
                },
            ],
            0..40,
            Spelling::Toml,
            &mut d,
        )
        .expect("map");
        assert!(d.0.is_empty(), "{d:?}");
        assert_eq!(map["private"], NicMap::to("private"));
        assert!(map["src-db"].keep_ip && map["src-db"].keep_mac);
    }

    #[test]
    fn nic_map_mistakes_have_codes_and_places() {
        let mut d = Diagnostics::default();
        assert_eq!(nic_map(Vec::new(), 3..9, Spelling::Xml, &mut d), None);
        assert_eq!(codes(&d), [NIC_MAP_EMPTY]);
        assert_eq!(d.0[0].span, Some(3..9));

        let entry = |source: Text, network: Option<Text>| NicFound {
            source,
            network,
            missing_at: Some(0..1),
            keep_ip: false,
            keep_mac: false,
        };
        let mut d = Diagnostics::default();
        let map = nic_map(
            vec![
                entry(t(" ", 1), Some(t("a", 2))),
                entry(t("b", 3), Some(t("", 4))),
                entry(t("c", 5), None),
                entry(t("d", 6), Some(t(&"n".repeat(256), 7))),
                entry(t("e", 8), Some(t("x", 9))),
                entry(t("e", 10), Some(t("y", 11))),
            ],
            0..20,
            Spelling::Xml,
            &mut d,
        );
        assert_eq!(map, None);
        assert_eq!(
            codes(&d),
            [
                EMPTY_NAME,
                NIC_TO_NOTHING,
                NIC_TO_NOTHING,
                NAME_TOO_LONG,
                NIC_TWICE
            ]
        );
        let spans: Vec<_> = d.iter().map(|x| x.span.clone()).collect();
        assert_eq!(
            spans,
            [
                Some(1..2),
                Some(4..4),
                Some(0..1),
                Some(7..263),
                Some(10..11)
            ]
        );
        assert!(d.iter().all(|x| x.help.is_some()));
    }

    #[test]
    fn built_networks_are_checked_across_the_plan() {
        let text = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let router = |external: Option<Text>, name: Option<Text>| RouterFound {
            span: 0..1,
            external_given: external.is_some(),
            external,
            name,
        };
        let mut d = Diagnostics::default();
        let (built, ok) = networks(
            vec![
                network(
                    Some(t("src-db", 0)),
                    Some(t("db-net", 2)),
                    Some(router(Some(t("public", 2)), None)),
                ),
                network(Some(t("private", 4)), None, None),
                // The same source again.
                network(Some(t("src-db", 6)), Some(t("other", 6)), None),
                // A target name already taken, by a network and by a router.
                network(Some(t("x", 8)), Some(t("db-net", 8)), None),
                network(Some(t("y", 10)), Some(t("db-net-router", 10)), None),
                // No `from`; an empty name; a router without external, one with an empty one.
                network(None, None, None),
                network(Some(t("z", 12)), Some(t("", 12)), None),
                network(Some(t("w", 14)), None, Some(router(None, None))),
                network(Some(t("v", 14)), None, Some(router(Some(t(" ", 14)), None))),
            ],
            Spelling::Toml,
            text,
            &mut d,
        );
        assert!(!ok);
        assert_eq!(
            codes(&d),
            [
                NETWORK_TWICE,
                NAME_TAKEN,
                NAME_TAKEN,
                NETWORK_WITHOUT_FROM,
                EMPTY_NAME,
                ROUTER_WITHOUT_EXTERNAL,
                ROUTER_WITHOUT_EXTERNAL
            ],
            "{d:?}"
        );
        assert!(d.0[0].help.as_deref().is_some_and(|h| h.contains("line 1")));
        assert!(d.0[2].message.contains("`db-net-router`"), "{d:?}");
        assert_eq!(built.len(), 2);
        assert_eq!(built[0].router_name().as_deref(), Some("db-net-router"));
        assert_eq!(built[1].target_name(), "private");
    }

    #[test]
    fn a_floating_ip_nic_needs_a_floating_ip() {
        let mut d = Diagnostics::default();
        assert_eq!(
            floating_ip_nic(Some(t("private", 3)), false, Spelling::Toml, &mut d),
            (Some("private".to_string()), true)
        );
        assert_eq!(
            floating_ip_nic(None, true, Spelling::Toml, &mut d),
            (None, true)
        );
        assert!(d.0.is_empty());
        assert_eq!(
            floating_ip_nic(Some(t("private", 3)), true, Spelling::Xml, &mut d),
            (None, false)
        );
        assert_eq!(
            floating_ip_nic(Some(t("", 3)), false, Spelling::Xml, &mut d),
            (None, false)
        );
        assert_eq!(codes(&d), [NIC_WITHOUT_FLOATING_IP, EMPTY_NAME]);
        assert_eq!(d.0[0].span, Some(3..10));
    }
}
