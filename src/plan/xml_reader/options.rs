//! The server options of `<defaults>` and `<server>`: `<network>` (and `<networks>`, read
//! by `nets`), `<keypair>`,
//! `<securityGroup>`, `<floatingIp>`, `<transfer>`, and boot fidelity's `<availabilityZone>`,
//! `<zones>` and `<serverGroup>`, and `<volumes>` (read by `volumes`).

use super::super::diag::Diagnostics;
use super::super::model::*;
use super::super::validate::boot::{self, SERVER_GROUP_MODES};
use super::super::validate::nets;
use super::super::validate::{self, Spelling, TRANSFER_MODES};
use super::El;

/// The server options among the children of `r` (`<defaults>` or `<server>`).
pub(super) fn options(r: &El<'_>, d: &mut Diagnostics) -> Option<ServerOptions> {
    let mut ok = true;
    let mut out = ServerOptions::default();
    let named = |name: &'static str, d: &mut Diagnostics| {
        r.child(name).and_then(|el| {
            let e = El::new(el);
            e.finish(&["name"], &[], &[], d);
            e.required("name", d).map(|(v, _)| v)
        })
    };
    out.network = named("network", d);
    out.security_group = named("securityGroup", d);
    if let Some(el) = r.child("keypair") {
        let k = El::new(el);
        const MODES: &[&str] = &["import", "create", "existing"];
        k.finish(MODES, &[], &[], d);
        let modes: Vec<(&str, String)> = MODES
            .iter()
            .filter_map(|m| k.string(m, d).map(|(v, _)| (*m, v)))
            .collect();
        out.keypair = validate::keypair(
            &modes,
            el.name_span.clone(),
            "<keypair import=\"alice-key\"/>",
            d,
        );
        ok &= out.keypair.is_some();
    }
    if let Some(el) = r.child("floatingIp") {
        ok &= floating_ip(&El::new(el), &mut out, d);
    }
    if let Some(el) = r.child("transfer") {
        let t = El::new(el);
        t.finish(&["mode"], &[], &[], d);
        if t.attr("mode").is_none() {
            t.required("mode", d);
        }
        out.transfer = t.enum_string("mode", TRANSFER_MODES, d).map(|m| {
            if m == "spool" {
                TransferMode::Spool
            } else {
                TransferMode::Stream
            }
        });
    }
    ok &= boot_options(r, &mut out, d);
    ok &= super::nets::nic_map(r, &mut out, d);
    ok &= super::volumes::volumes(r, &mut out, d);
    ok.then_some(out)
}

/// `<availabilityZone name=""/>`, `<zones><zone from="" to=""/>...</zones>` and
/// `<serverGroup mode="copy|none"/>` or `<serverGroup existing=""/>`, into `out`; false when
/// one of them is wrong (reported).
fn boot_options(r: &El<'_>, out: &mut ServerOptions, d: &mut Diagnostics) -> bool {
    let mut ok = true;
    if let Some(el) = r.child("availabilityZone") {
        let z = El::new(el);
        z.finish(&["name"], &[], &[], d);
        out.availability_zone = z
            .required("name", d)
            .and_then(|(name, span)| boot::name("`name` on <availabilityZone>", name, span, d));
        ok &= out.availability_zone.is_some();
    }
    let mut zones_span = None;
    if let Some(el) = r.child("zones") {
        zones_span = Some(el.name_span.clone());
        let zs = El::new(el);
        zs.finish(&[], &["zone"], &["zone"], d);
        if zs.child("zone").is_none() {
            ok = false;
            d.error(
                Some(el.name_span.clone()),
                "<zones> needs at least one <zone from=\"...\" to=\"...\"/>",
                Some("leave <zones> out to let the target choose".into()),
            );
        }
        let mut entries = Vec::new();
        for zel in zs.children("zone") {
            let z = El::new(zel);
            z.finish(&["from", "to"], &[], &[], d);
            match (z.required("from", d), z.required("to", d)) {
                (Some((from, fspan)), Some((to, tspan))) => entries.push((from, fspan, to, tspan)),
                _ => ok = false,
            }
        }
        match boot::zones(entries, Spelling::Xml, d) {
            Some(zones) => out.zones = zones,
            None => ok = false,
        }
    }
    boot::zone_choice(
        out.availability_zone.is_some(),
        &out.zones,
        zones_span,
        Spelling::Xml,
        d,
    );
    if let Some(el) = r.child("serverGroup") {
        out.server_group = server_group(&El::new(el), d);
        ok &= out.server_group.is_some();
    }
    ok
}

fn server_group(g: &El<'_>, d: &mut Diagnostics) -> Option<ServerGroupMode> {
    g.finish(&["mode", "existing"], &[], &[], d);
    let given = (g.attr("mode").is_some(), g.attr("existing").is_some());
    match given {
        (true, false) => g
            .enum_string("mode", SERVER_GROUP_MODES, d)
            .map(|m| boot::server_group_mode(&m)),
        (false, true) => {
            let (name, span) = g.string("existing", d)?;
            boot::name("`existing` on <serverGroup>", name, span, d).map(ServerGroupMode::Existing)
        }
        _ => {
            d.error(
                Some(g.el.name_span.clone()),
                "<serverGroup> must have exactly one of `mode` or `existing`",
                Some(
                    "<serverGroup mode=\"copy\"/> (the source's group, made again), <serverGroup mode=\"none\"/>, or <serverGroup existing=\"NAME\"/> (a group in the target)"
                        .into(),
                ),
            );
            None
        }
    }
}

/// `<floatingIp pool|address [nic]/>` or `<floatingIp enabled="false"/>`, into `out`; false
/// when it is wrong (reported).
fn floating_ip(f: &El<'_>, out: &mut ServerOptions, d: &mut Diagnostics) -> bool {
    f.finish(&["pool", "address", "enabled", "nic"], &[], &[], d);
    let enabled = f.boolean("enabled", d);
    if f.attr("enabled").is_some() && enabled.is_none() {
        return false;
    }
    let nic = f
        .attr("nic")
        .map(|a| (a.value.clone(), a.value_span.clone()));
    let (nic, nic_ok) = nets::floating_ip_nic(nic, enabled == Some(false), Spelling::Xml, d);
    out.floating_ip_nic = nic;
    let pool = f.string("pool", d);
    let address = f.string("address", d);
    let given = (f.attr("pool").is_some(), f.attr("address").is_some());
    let span = Some(f.el.name_span.clone());
    out.floating_ip = match (enabled, given) {
        (Some(false), (false, false)) => Some(FloatingIp::Disabled),
        (Some(false), _) => {
            d.error(
                span,
                "<floatingIp enabled=\"false\"> takes no `pool` or `address`",
                None,
            );
            None
        }
        (_, (true, false)) => pool.map(|(p, _)| FloatingIp::Pool(p)),
        (_, (false, true)) => address
            .and_then(|(a, aspan)| validate::ip_address(&a, aspan, d).map(FloatingIp::Address)),
        (_, (true, true)) | (_, (false, false)) => {
            d.error(
                span,
                "<floatingIp> must have exactly one of `pool` or `address`",
                Some("or write <floatingIp enabled=\"false\"/> for none".into()),
            );
            None
        }
    };
    nic_ok && out.floating_ip.is_some()
}
