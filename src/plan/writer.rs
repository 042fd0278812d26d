//! Writing a [`Plan`] in either syntax, for `s2d convert`: reading the output back gives the
//! same plan. A literal password is never written (see [`WriteError::LiteralPassword`]).
//! Knows nothing of files or of how plans are read.

use std::fmt::Write as _;

use super::model::*;
use super::validate::AUTH_KEYS;
use super::xml_reader::NAMESPACE;

/// Why a plan cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The plan holds a literal password: s2d never copies a secret into a file. Move the
    /// password into an environment variable, name it with `password_env` (`passwordEnv`),
    /// and write again.
    #[error(
        "the {side} cloud's inline auth holds a literal password, and s2d never writes a secret into a file"
    )]
    LiteralPassword {
        /// `source` or `target`.
        side: &'static str,
    },
}

fn check_secrets(plan: &Plan) -> Result<(), WriteError> {
    for (side, cloud) in [("source", &plan.source), ("target", &plan.target)] {
        if let CloudRef::Inline(auth) = cloud
            && auth.password.is_some()
        {
            return Err(WriteError::LiteralPassword { side });
        }
    }
    Ok(())
}

/// A TOML basic string.
fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The plan in the TOML syntax.
pub fn to_toml(plan: &Plan) -> Result<String, WriteError> {
    check_secrets(plan)?;
    let mut out = format!("version = {}\n", plan.version);
    for (side, cloud) in [("source", &plan.source), ("target", &plan.target)] {
        let _ = writeln!(out, "\n[{side}]");
        match cloud {
            CloudRef::Named(name) => {
                let _ = writeln!(out, "cloud = {}", q(name));
            }
            CloudRef::Inline(auth) => {
                for (key, _) in AUTH_KEYS {
                    if let Some(value) = auth.text(key) {
                        let _ = writeln!(out, "{key} = {}", q(value));
                    }
                }
            }
        }
    }
    if let Some(location) = &plan.state {
        let _ = writeln!(out, "\n[state]\nlocation = {}", q(location));
    }
    if plan.defaults != ServerOptions::default() {
        out.push_str("\n[defaults]\n");
        toml_options(&mut out, &plan.defaults);
    }
    for n in &plan.networks {
        let _ = writeln!(out, "\n[[network]]\nfrom = {}", q(&n.from));
        if let Some(name) = &n.name {
            let _ = writeln!(out, "name = {}", q(name));
        }
        if let Some(router) = &n.router {
            let mut parts = vec![format!("external = {}", q(&router.external))];
            if let Some(name) = &router.name {
                parts.push(format!("name = {}", q(name)));
            }
            let _ = writeln!(out, "router = {{ {} }}", parts.join(", "));
        }
    }
    for s in &plan.servers {
        out.push_str("\n[[server]]\n");
        match &s.select {
            Some(selection) => {
                let _ = writeln!(out, "select = {}", toml_selection(selection));
            }
            None => {
                let _ = writeln!(out, "source = {}", q(&s.source));
            }
        }
        if let Some(name) = &s.name {
            let _ = writeln!(out, "name = {}", q(name));
        }
        if let Some(snapshot) = &s.snapshot {
            let _ = writeln!(out, "snapshot = {}", q(snapshot));
        }
        if s.image != ImageOptions::default() {
            let parts: Vec<String> = [
                ("name", &s.image.name),
                ("disk_format", &s.image.disk_format),
                ("visibility", &s.image.visibility),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} = {}", q(v))))
            .chain(
                (!s.image.properties.is_empty())
                    .then(|| format!("properties = {}", toml_map(&s.image.properties))),
            )
            .chain((!s.image.drop_properties.is_empty()).then(|| {
                let keys: Vec<String> = s.image.drop_properties.iter().map(|k| q(k)).collect();
                format!("drop_properties = [{}]", keys.join(", "))
            }))
            .collect();
            let _ = writeln!(out, "image = {{ {} }}", parts.join(", "));
        }
        if let Some(flavor) = &s.flavor {
            let _ = writeln!(out, "flavor = {}", q(flavor));
        }
        if let Some(UserData::File(path)) = &s.user_data {
            let _ = writeln!(out, "user_data = {{ file = {} }}", q(path));
        }
        toml_options(&mut out, &s.options);
    }
    Ok(out)
}

/// A TOML key: bare when it can be, else quoted.
fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        q(k)
    }
}

/// `{ key = "value", "odd key" = "value" }`.
fn toml_map(map: &std::collections::BTreeMap<String, String>) -> String {
    let entries: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), q(v)))
        .collect();
    format!("{{ {} }}", entries.join(", "))
}

/// `{ name = "web-*", tags = ["a"], metadata = { tier = "db" } }`, the parts given.
fn toml_selection(s: &Selection) -> String {
    let mut parts = Vec::new();
    if let Some(name) = &s.name {
        parts.push(format!("name = {}", q(name)));
    }
    if !s.tags.is_empty() {
        let tags: Vec<String> = s.tags.iter().map(|t| q(t)).collect();
        parts.push(format!("tags = [{}]", tags.join(", ")));
    }
    if !s.metadata.is_empty() {
        parts.push(format!("metadata = {}", toml_map(&s.metadata)));
    }
    format!("{{ {} }}", parts.join(", "))
}

/// `networks = { "SRC" = "DST", "SRC" = { network = "DST", keep_ip = true } }`.
fn toml_nic_map(map: &std::collections::BTreeMap<String, NicMap>) -> String {
    let entries: Vec<String> = map
        .iter()
        .map(|(source, nic)| {
            let value = if !nic.keep_ip && !nic.keep_mac {
                q(&nic.network)
            } else {
                let mut parts = vec![format!("network = {}", q(&nic.network))];
                if nic.keep_ip {
                    parts.push("keep_ip = true".into());
                }
                if nic.keep_mac {
                    parts.push("keep_mac = true".into());
                }
                format!("{{ {} }}", parts.join(", "))
            };
            format!("{} = {value}", key(source))
        })
        .collect();
    format!("{{ {} }}", entries.join(", "))
}

fn toml_options(out: &mut String, o: &ServerOptions) {
    if let Some(network) = &o.network {
        let _ = writeln!(out, "network = {}", q(network));
    }
    if !o.networks.is_empty() {
        let _ = writeln!(out, "networks = {}", toml_nic_map(&o.networks));
    }
    if let Some(k) = &o.keypair {
        let (mode, name) = keypair_parts(k);
        let _ = writeln!(out, "keypair = {{ {mode} = {} }}", q(name));
    }
    if let Some(group) = &o.security_group {
        let _ = writeln!(out, "security_group = {}", q(group));
    }
    let nic = o
        .floating_ip_nic
        .as_ref()
        .map(|n| format!(", nic = {}", q(n)))
        .unwrap_or_default();
    match &o.floating_ip {
        Some(FloatingIp::Pool(pool)) => {
            let _ = writeln!(out, "floating_ip = {{ pool = {}{nic} }}", q(pool));
        }
        Some(FloatingIp::Address(ip)) => {
            let _ = writeln!(
                out,
                "floating_ip = {{ address = {}{nic} }}",
                q(&ip.to_string())
            );
        }
        Some(FloatingIp::Disabled) => out.push_str("floating_ip = false\n"),
        None => {}
    }
    if let Some(mode) = o.transfer {
        let _ = writeln!(out, "transfer = {{ mode = \"{}\" }}", transfer_name(mode));
    }
    if let Some(zone) = &o.availability_zone {
        let _ = writeln!(out, "availability_zone = {}", q(zone));
    }
    if !o.zones.is_empty() {
        let _ = writeln!(out, "zones = {}", toml_map(&o.zones));
    }
    match &o.server_group {
        Some(ServerGroupMode::Copy) => out.push_str("server_group = \"copy\"\n"),
        Some(ServerGroupMode::None) => out.push_str("server_group = \"none\"\n"),
        Some(ServerGroupMode::Existing(name)) => {
            let _ = writeln!(out, "server_group = {{ existing = {} }}", q(name));
        }
        None => {}
    }
    if let Some(skip) = &o.skip_volumes {
        let volumes: Vec<String> = skip.iter().map(|v| q(v)).collect();
        let _ = writeln!(out, "skip_volumes = [{}]", volumes.join(", "));
    }
    if !o.volume_types.is_empty() {
        let _ = writeln!(out, "volume_types = {}", toml_map(&o.volume_types));
    }
    if let Some(stop) = o.stop {
        let _ = writeln!(out, "stop = {stop}");
    }
    if let Some(keep) = o.keep_volume_intermediates {
        let _ = writeln!(out, "keep_volume_intermediates = {keep}");
    }
    if let Some(format) = o.volume_format {
        let _ = writeln!(out, "volume_format = \"{}\"", format.as_str());
    }
}

fn keypair_parts(k: &KeypairMode) -> (&'static str, &str) {
    match k {
        KeypairMode::Import(n) => ("import", n),
        KeypairMode::Create(n) => ("create", n),
        KeypairMode::Existing(n) => ("existing", n),
    }
}

fn transfer_name(mode: TransferMode) -> &'static str {
    match mode {
        TransferMode::Stream => "stream",
        TransferMode::Spool => "spool",
    }
}

/// An attribute value, escaped so that it reads back unchanged (whitespace other than a
/// space is written as a character reference, since XML normalizes it in attributes).
fn x(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// The plan in the XML syntax (`urn:s2d:plan:1`).
pub fn to_xml(plan: &Plan) -> Result<String, WriteError> {
    check_secrets(plan)?;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<plan xmlns=\"{NAMESPACE}\" version=\"{}\">",
        plan.version
    );
    for (side, cloud) in [("source", &plan.source), ("target", &plan.target)] {
        match cloud {
            CloudRef::Named(name) => {
                let _ = writeln!(out, "  <{side} cloud=\"{}\"/>", x(name));
            }
            CloudRef::Inline(auth) => {
                let attrs: Vec<String> = AUTH_KEYS
                    .iter()
                    .filter_map(|(key, xml)| auth.text(key).map(|v| format!("{xml}=\"{}\"", x(v))))
                    .collect();
                let _ = writeln!(
                    out,
                    "  <{side}>\n    <auth {}/>\n  </{side}>",
                    attrs.join("\n          ")
                );
            }
        }
    }
    if let Some(location) = &plan.state {
        let _ = writeln!(out, "  <state location=\"{}\"/>", x(location));
    }
    if plan.defaults != ServerOptions::default() {
        out.push_str("  <defaults>\n");
        xml_options(&mut out, &plan.defaults);
        out.push_str("  </defaults>\n");
    }
    for n in &plan.networks {
        let _ = write!(out, "  <network from=\"{}\"", x(&n.from));
        if let Some(name) = &n.name {
            let _ = write!(out, " name=\"{}\"", x(name));
        }
        match &n.router {
            None => out.push_str("/>\n"),
            Some(router) => {
                let _ = write!(out, ">\n    <router external=\"{}\"", x(&router.external));
                if let Some(name) = &router.name {
                    let _ = write!(out, " name=\"{}\"", x(name));
                }
                out.push_str("/>\n  </network>\n");
            }
        }
    }
    for s in &plan.servers {
        let mut head = String::from("  <server");
        if s.select.is_none() {
            let _ = write!(head, " source=\"{}\"", x(&s.source));
        }
        if let Some(name) = &s.name {
            let _ = write!(head, " name=\"{}\"", x(name));
        }
        let mut body = String::new();
        if let Some(selection) = &s.select {
            xml_selection(&mut body, selection);
        }
        if let Some(snapshot) = &s.snapshot {
            let _ = writeln!(body, "    <snapshot name=\"{}\"/>", x(snapshot));
        }
        if s.image != ImageOptions::default() {
            let attrs: Vec<String> = [
                ("name", &s.image.name),
                ("diskFormat", &s.image.disk_format),
                ("visibility", &s.image.visibility),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!(" {k}=\"{}\"", x(v))))
            .collect();
            let image = &s.image;
            if image.properties.is_empty() && image.drop_properties.is_empty() {
                let _ = writeln!(body, "    <image{}/>", attrs.concat());
            } else {
                let _ = writeln!(body, "    <image{}>", attrs.concat());
                for (k, v) in &image.properties {
                    let _ = writeln!(
                        body,
                        "      <property key=\"{}\" value=\"{}\"/>",
                        x(k),
                        x(v)
                    );
                }
                for k in &image.drop_properties {
                    let _ = writeln!(body, "      <drop key=\"{}\"/>", x(k));
                }
                body.push_str("    </image>\n");
            }
        }
        if let Some(flavor) = &s.flavor {
            let _ = writeln!(body, "    <flavor name=\"{}\"/>", x(flavor));
        }
        if let Some(UserData::File(path)) = &s.user_data {
            let _ = writeln!(body, "    <userData file=\"{}\"/>", x(path));
        }
        xml_options(&mut body, &s.options);
        if body.is_empty() {
            let _ = writeln!(out, "{head}/>");
        } else {
            let _ = write!(out, "{head}>\n{body}  </server>\n");
        }
    }
    out.push_str("</plan>\n");
    Ok(out)
}

fn xml_selection(out: &mut String, s: &Selection) {
    out.push_str("    <select");
    if let Some(name) = &s.name {
        let _ = write!(out, " name=\"{}\"", x(name));
    }
    if s.tags.is_empty() && s.metadata.is_empty() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    for tag in &s.tags {
        let _ = writeln!(out, "      <tag name=\"{}\"/>", x(tag));
    }
    for (k, v) in &s.metadata {
        let _ = writeln!(out, "      <metadata key=\"{}\" value=\"{}\"/>", x(k), x(v));
    }
    out.push_str("    </select>\n");
}

fn xml_options(out: &mut String, o: &ServerOptions) {
    if let Some(network) = &o.network {
        let _ = writeln!(out, "    <network name=\"{}\"/>", x(network));
    }
    if !o.networks.is_empty() {
        out.push_str("    <networks>\n");
        for (source, nic) in &o.networks {
            let _ = write!(
                out,
                "      <nic source=\"{}\" network=\"{}\"",
                x(source),
                x(&nic.network)
            );
            if nic.keep_ip {
                out.push_str(" keepIp=\"true\"");
            }
            if nic.keep_mac {
                out.push_str(" keepMac=\"true\"");
            }
            out.push_str("/>\n");
        }
        out.push_str("    </networks>\n");
    }
    if let Some(k) = &o.keypair {
        let (mode, name) = keypair_parts(k);
        let _ = writeln!(out, "    <keypair {mode}=\"{}\"/>", x(name));
    }
    if let Some(group) = &o.security_group {
        let _ = writeln!(out, "    <securityGroup name=\"{}\"/>", x(group));
    }
    let nic = o
        .floating_ip_nic
        .as_ref()
        .map(|n| format!(" nic=\"{}\"", x(n)))
        .unwrap_or_default();
    match &o.floating_ip {
        Some(FloatingIp::Pool(pool)) => {
            let _ = writeln!(out, "    <floatingIp pool=\"{}\"{nic}/>", x(pool));
        }
        Some(FloatingIp::Address(ip)) => {
            let _ = writeln!(out, "    <floatingIp address=\"{ip}\"{nic}/>");
        }
        Some(FloatingIp::Disabled) => out.push_str("    <floatingIp enabled=\"false\"/>\n"),
        None => {}
    }
    if let Some(mode) = o.transfer {
        let _ = writeln!(out, "    <transfer mode=\"{}\"/>", transfer_name(mode));
    }
    if let Some(zone) = &o.availability_zone {
        let _ = writeln!(out, "    <availabilityZone name=\"{}\"/>", x(zone));
    }
    if !o.zones.is_empty() {
        out.push_str("    <zones>\n");
        for (from, to) in &o.zones {
            let _ = writeln!(out, "      <zone from=\"{}\" to=\"{}\"/>", x(from), x(to));
        }
        out.push_str("    </zones>\n");
    }
    match &o.server_group {
        Some(ServerGroupMode::Copy) => out.push_str("    <serverGroup mode=\"copy\"/>\n"),
        Some(ServerGroupMode::None) => out.push_str("    <serverGroup mode=\"none\"/>\n"),
        Some(ServerGroupMode::Existing(name)) => {
            let _ = writeln!(out, "    <serverGroup existing=\"{}\"/>", x(name));
        }
        None => {}
    }
    xml_volumes(out, o);
}

/// `<volumes stop keepIntermediates format skipNone>` with its `<skip>` and `<type>`
/// children, when any volume option is set.
fn xml_volumes(out: &mut String, o: &ServerOptions) {
    let mut attrs = String::new();
    if let Some(stop) = o.stop {
        let _ = write!(attrs, " stop=\"{stop}\"");
    }
    if let Some(keep) = o.keep_volume_intermediates {
        let _ = write!(attrs, " keepIntermediates=\"{keep}\"");
    }
    if let Some(format) = o.volume_format {
        let _ = write!(attrs, " format=\"{}\"", format.as_str());
    }
    if o.skip_volumes.as_ref().is_some_and(Vec::is_empty) {
        attrs.push_str(" skipNone=\"true\"");
    }
    let mut children = String::new();
    for volume in o.skip_volumes.iter().flatten() {
        let _ = writeln!(children, "      <skip volume=\"{}\"/>", x(volume));
    }
    for (from, to) in &o.volume_types {
        let _ = writeln!(
            children,
            "      <type from=\"{}\" to=\"{}\"/>",
            x(from),
            x(to)
        );
    }
    match (attrs.is_empty(), children.is_empty()) {
        (true, true) => {}
        (_, true) => {
            let _ = writeln!(out, "    <volumes{attrs}/>");
        }
        _ => {
            let _ = write!(out, "    <volumes{attrs}>\n{children}    </volumes>\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Syntax, parse_str};
    use super::*;

    fn full() -> Plan {
        Plan {
            version: 1,
            source: CloudRef::Named("provider".into()),
            target: CloudRef::Inline(Box::new(InlineAuth {
                auth_url: Some("https://hospital.example:5000/v3".into()),
                username: Some("bob \"the\" <admin> & co".into()),
                password_env: Some("HOSPITAL_PASSWORD".into()),
                project_name: Some("research\tlab\nline".into()),
                user_domain_name: Some("Default".into()),
                region: Some("RegionOne".into()),
                interface: Some("internal".into()),
                cacert: Some("/etc/ssl/ca.pem".into()),
                ..InlineAuth::default()
            })),
            state: Some("postgres://s2d@db.example:5432/s2d?name=wave-1".into()),
            defaults: ServerOptions {
                network: Some("private".into()),
                keypair: Some(KeypairMode::Import("alice-key".into())),
                security_group: Some("web".into()),
                floating_ip: Some(FloatingIp::Pool("public".into())),
                transfer: Some(TransferMode::Spool),
                availability_zone: None,
                zones: [
                    ("nova".to_string(), "az-b".to_string()),
                    ("zone \"one\" & <two>".to_string(), "az\tc".to_string()),
                ]
                .into_iter()
                .collect(),
                server_group: Some(ServerGroupMode::None),
                skip_volumes: Some(vec!["scratch".into(), "tmp \"x\" & <y>".into()]),
                volume_types: [
                    ("ceph".to_string(), "fast".to_string()),
                    (
                        "hdd \"old\" & <slow>".to_string(),
                        "standard\tb".to_string(),
                    ),
                ]
                .into_iter()
                .collect(),
                stop: Some(true),
                keep_volume_intermediates: Some(false),
                volume_format: Some(VolumeFormat::Qcow2),
                networks: [
                    ("private".to_string(), NicMap::to("private")),
                    (
                        "src db \"x\" & <y>".to_string(),
                        NicMap {
                            network: "db\tnet".into(),
                            keep_ip: true,
                            keep_mac: false,
                        },
                    ),
                    (
                        "mac-only".to_string(),
                        NicMap {
                            network: "m".into(),
                            keep_ip: false,
                            keep_mac: true,
                        },
                    ),
                ]
                .into_iter()
                .collect(),
                floating_ip_nic: Some("private".into()),
            },
            networks: vec![
                NetworkBuild {
                    from: "src-db".into(),
                    name: Some("db <net> & \"co\"".into()),
                    router: Some(RouterBuild {
                        external: "public".into(),
                        name: Some("edge\nrouter".into()),
                    }),
                },
                NetworkBuild {
                    from: "storage".into(),
                    name: None,
                    router: Some(RouterBuild {
                        external: "public".into(),
                        name: None,
                    }),
                },
                NetworkBuild {
                    from: "0b7c5a3e-1111-4c2f-9d7e-3a1f2b3c4d5e".into(),
                    name: Some("backup".into()),
                    router: None,
                },
            ],
            servers: vec![
                Server {
                    source: "ehr-analytics".into(),
                    select: None,
                    name: Some("ehr".into()),
                    snapshot: Some("ehr-snap".into()),
                    image: ImageOptions {
                        name: Some("ehr-image".into()),
                        disk_format: Some("raw".into()),
                        visibility: None,
                        properties: [
                            ("hw_firmware_type", "uefi"),
                            ("trait:HW_CPU_X86_AVX2", "required"),
                            ("odd key \"x\" <&>", "line\nbreak\tand tab"),
                        ]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                        drop_properties: vec!["os_type".into(), "hw_vif model".into()],
                    },
                    flavor: Some("m1.small".into()),
                    user_data: Some(UserData::File("cloud-init/ehr \"a\".yaml".into())),
                    options: ServerOptions {
                        keypair: Some(KeypairMode::Existing("ops".into())),
                        floating_ip: Some(FloatingIp::Address("2001:db8::7".parse().expect("ip"))),
                        floating_ip_nic: Some("src db \"x\" & <y>".into()),
                        networks: [(
                            "private".to_string(),
                            NicMap {
                                network: "private-2".into(),
                                keep_ip: true,
                                keep_mac: true,
                            },
                        )]
                        .into_iter()
                        .collect(),
                        availability_zone: Some("az-1".into()),
                        server_group: Some(ServerGroupMode::Existing("anti <affinity>".into())),
                        skip_volumes: Some(Vec::new()),
                        volume_types: [("ceph".to_string(), "nvme".to_string())]
                            .into_iter()
                            .collect(),
                        stop: Some(false),
                        ..ServerOptions::default()
                    },
                },
                Server {
                    source: String::new(),
                    select: Some(Selection {
                        name: Some("analytics-*".into()),
                        tags: vec!["migrate".into(), "two words & <more>".into()],
                        metadata: [
                            ("tier".to_string(), "d?".to_string()),
                            ("odd key\t\"x\"".to_string(), "*".to_string()),
                        ]
                        .into_iter()
                        .collect(),
                    }),
                    name: Some("{source}-copy".into()),
                    snapshot: None,
                    image: ImageOptions {
                        name: Some("img-{source}".into()),
                        drop_properties: vec!["os_distro".into()],
                        ..ImageOptions::default()
                    },
                    flavor: Some("m1.large".into()),
                    user_data: Some(UserData::File("fleet.yaml".into())),
                    options: ServerOptions {
                        zones: [("nova".to_string(), "az-c".to_string())]
                            .into_iter()
                            .collect(),
                        server_group: Some(ServerGroupMode::Copy),
                        skip_volumes: Some(vec!["0b7c5a3e-2222-4c2f-9d7e-3a1f2b3c4d5e".into()]),
                        keep_volume_intermediates: Some(true),
                        volume_format: Some(VolumeFormat::Raw),
                        ..ServerOptions::default()
                    },
                },
                Server {
                    source: String::new(),
                    select: Some(Selection {
                        name: Some("*".into()),
                        ..Selection::default()
                    }),
                    name: None,
                    snapshot: Some("{source}-snap".into()),
                    image: ImageOptions::default(),
                    flavor: None,
                    user_data: None,
                    options: ServerOptions::default(),
                },
                Server {
                    source: "db".into(),
                    select: None,
                    name: None,
                    snapshot: None,
                    image: ImageOptions::default(),
                    flavor: None,
                    user_data: None,
                    options: ServerOptions {
                        floating_ip: Some(FloatingIp::Disabled),
                        transfer: Some(TransferMode::Stream),
                        keypair: Some(KeypairMode::Create("new".into())),
                        stop: Some(true),
                        ..ServerOptions::default()
                    },
                },
            ],
        }
    }

    #[test]
    fn both_syntaxes_read_back_the_same_plan() {
        let plan = full();
        let toml = to_toml(&plan).expect("toml");
        let back = parse_str(&toml, Syntax::Toml, "p.toml");
        assert!(
            back.diagnostics.0.is_empty(),
            "{:?}\n{toml}",
            back.diagnostics
        );
        assert_eq!(back.plan.as_ref(), Some(&plan), "{toml}");

        let xml = to_xml(&plan).expect("xml");
        let back = parse_str(&xml, Syntax::Xml, "p.xml");
        assert!(
            back.diagnostics.0.is_empty(),
            "{:?}\n{xml}",
            back.diagnostics
        );
        assert_eq!(back.plan.as_ref(), Some(&plan), "{xml}");
    }

    #[test]
    fn a_literal_password_is_never_written() {
        let mut plan = full();
        if let CloudRef::Inline(auth) = &mut plan.target {
            auth.password = Some(Secret::new("hunter2"));
        }
        assert_eq!(
            to_toml(&plan),
            Err(WriteError::LiteralPassword { side: "target" })
        );
        assert_eq!(
            to_xml(&plan),
            Err(WriteError::LiteralPassword { side: "target" })
        );
    }
}
