//! Networks against the fake: a server with two NICs keeps the second one's IP and MAC on a
//! network built from the source (its subnet and a router to `public`), the floating IP goes
//! to that NIC, a replan is clean, a crash after any mutation converges without duplicates,
//! destroy removes all of it; the preflight refuses a kept IP outside the target's subnets and
//! a MAC on another project's network before anything is made; without `security_group` every
//! source group comes along, a rule admitting another group admitting the target's copy.

use super::*;
use crate::engine::fake::rule;
use crate::engine::port::{NetKind, SecurityGroup};
use crate::graph::{
    DesiredNetwork, DesiredNics, DesiredRouter, FixedIp, NicTarget, RuleDirection, SourceNetwork,
    SourceNic, SubnetSpec,
};

const DB_MAC: &str = "fa:16:3e:00:50:10";

/// The fake's `db` with a second NIC on `src-db` (192.168.50.10), and that source network.
fn env_with_two_nics() -> Env {
    let env = Env::new(&["db"], Script::default());
    env.cloud.edit_source(|servers| {
        let db = servers.get_mut("db").expect("db");
        db.nics.push(SourceNic {
            network_id: "src-db-net".into(),
            network_name: "src-db".into(),
            fixed_ips: vec![FixedIp {
                subnet_id: "src-db-subnet".into(),
                ip: "192.168.50.10".into(),
            }],
            mac: DB_MAC.into(),
            port_security: Some(true),
            allowed_address_pairs: Vec::new(),
        });
    });
    env.cloud.set_source_networks(vec![SourceNetwork {
        id: "src-db-net".into(),
        name: "src-db".into(),
        mtu: Some(1450),
        port_security: Some(true),
        subnets: vec![SubnetSpec {
            source_id: "src-db-subnet".into(),
            name: "src-db-subnet".into(),
            cidr: "192.168.50.0/24".into(),
            ip_version: 4,
            gateway_ip: Some("192.168.50.1".into()),
            allocation_pools: vec![("192.168.50.20".into(), "192.168.50.99".into())],
            dns_nameservers: vec!["192.168.50.2".into()],
            host_routes: Vec::new(),
            enable_dhcp: true,
            ipv6_address_mode: None,
            ipv6_ra_mode: None,
        }],
    }]);
    env
}

fn two_nics(db: NicTarget) -> Desired {
    let mut server = server("db", "alice", GroupChoice::Named("db".into()));
    server.nics = DesiredNics {
        map: BTreeMap::from([
            (
                "private".to_string(),
                NicTarget {
                    network: "private".into(),
                    keep_ip: false,
                    keep_mac: false,
                },
            ),
            ("src-db".to_string(), db),
        ]),
        shorthand: None,
        floating_ip_nic: Some("src-db".into()),
    };
    Desired {
        servers: vec![server],
        fleets: Vec::new(),
        networks: vec![DesiredNetwork {
            from: "src-db".into(),
            name: "db-net".into(),
            router: Some(DesiredRouter {
                name: "db-net-router".into(),
                external: "public".into(),
            }),
        }],
    }
}

fn kept() -> NicTarget {
    NicTarget {
        network: "db-net".into(),
        keep_ip: true,
        keep_mac: true,
    }
}

fn nets_of(contents: &Contents, kind: NetKind) -> Vec<&crate::engine::port::NetResource> {
    contents
        .nets
        .values()
        .filter(|(k, _)| *k == kind)
        .map(|(_, r)| r)
        .collect()
}

#[tokio::test]
async fn a_second_nic_keeps_its_ip_and_mac_on_a_network_built_from_the_source() {
    let env = env_with_two_nics();
    let before = env.cloud.contents();
    let desired = two_nics(kept());
    let planned = env.plan(&desired).await;
    let acts = actions(&planned);
    for address in [
        "network.db-net",
        "subnet.db-net[0]",
        "router.db-net-router",
        "port.db[1]",
    ] {
        assert_eq!(
            acts.get(address).map(String::as_str),
            Some("create"),
            "{acts:?}"
        );
    }
    assert!(
        !acts.contains_key("port.db[0]"),
        "the first NIC keeps nothing: {acts:?}"
    );
    let report = env.apply(&desired).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));

    let contents = env.cloud.contents();
    let ports = nets_of(&contents, NetKind::Port);
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert_eq!(ports[0].fixed_ips[0].1, "192.168.50.10");
    assert_eq!(ports[0].mac.as_deref(), Some(DB_MAC));
    let network = nets_of(&contents, NetKind::Network);
    assert_eq!(ports[0].network_id.as_deref(), Some(network[0].id.as_str()));
    let subnets = nets_of(&contents, NetKind::Subnet);
    assert_eq!(subnets[0].cidr.as_deref(), Some("192.168.50.0/24"));
    assert_eq!(nets_of(&contents, NetKind::Router).len(), 1);
    let fip = contents
        .floating_ips
        .values()
        .next()
        .expect("a floating IP");
    assert_eq!(
        fip.port_id.as_deref(),
        Some(ports[0].id.as_str()),
        "on the second NIC"
    );

    assert!(env.plan(&desired).await.is_empty(), "a replan is clean");
    let gone = env.destroy().await;
    assert!(gone.succeeded(), "{}", render::render_report(&gone));
    assert_eq!(env.cloud.contents(), before, "destroy removes all of it");
}

#[tokio::test]
async fn a_crash_after_any_network_mutation_converges_without_duplicates() {
    let probe = env_with_two_nics();
    assert!(probe.apply(&two_nics(kept())).await.succeeded());
    let total = probe.cloud.mutations();
    for crash_at in 1..=total {
        let env = env_with_two_nics();
        env.cloud.script(|s| s.crash_after = Some(crash_at));
        let before = env.cloud.contents();
        let report = env.apply(&two_nics(kept())).await;
        assert!(!report.succeeded(), "crash at {crash_at} went unnoticed");
        env.cloud.script(|s| s.crash_after = None);
        let report = env.apply(&two_nics(kept())).await;
        assert!(
            report.succeeded(),
            "crash at {crash_at}: {}",
            render::render_report(&report)
        );
        let contents = env.cloud.contents();
        for kind in [
            NetKind::Network,
            NetKind::Subnet,
            NetKind::Router,
            NetKind::Port,
        ] {
            assert_eq!(
                nets_of(&contents, kind).len(),
                1,
                "crash at {crash_at}: {kind:?}"
            );
        }
        assert!(
            env.plan(&two_nics(kept())).await.is_empty(),
            "crash at {crash_at}"
        );
        assert!(env.destroy().await.succeeded(), "crash at {crash_at}");
        assert_eq!(
            env.cloud.contents(),
            before,
            "crash at {crash_at}: leftovers"
        );
    }
}

#[tokio::test]
async fn the_preflight_refuses_what_the_target_cannot_give_before_anything_is_made() {
    let env = env_with_two_nics();
    let cases = [
        (
            NicTarget {
                network: "private".into(),
                keep_ip: true,
                keep_mac: false,
            },
            "192.168.50.10 lies in none of network `private`'s subnets",
        ),
        (
            NicTarget {
                network: "public".into(),
                keep_ip: false,
                keep_mac: true,
            },
            "belongs to another project",
        ),
    ];
    for (db, why) in cases {
        let mut desired = two_nics(db);
        desired.networks.clear();
        let file = env.state();
        let err = diff(env.cloud.as_ref(), &desired, file.state(), &quick())
            .await
            .expect_err("refused");
        assert!(matches!(err, PlanError::Preflight { .. }), "{err:?}");
        assert!(err.to_string().contains(why), "{why}: {err}");
    }
    assert_eq!(env.cloud.mutations(), 0, "nothing made");
}

#[tokio::test]
async fn an_unmapped_nic_is_named_and_a_built_cidr_must_not_overlap_the_targets() {
    let env = env_with_two_nics();
    let mut desired = two_nics(kept());
    desired.servers[0].nics.map.remove("src-db");
    let file = env.state();
    let err = diff(env.cloud.as_ref(), &desired, file.state(), &quick())
        .await
        .expect_err("unmapped");
    assert!(err.to_string().contains("`src-db`"), "{err}");
    // A subnet of the project's in the target holds the source's CIDR.
    env.cloud.edit(|c| {
        c.nets.insert(
            "their-subnet".into(),
            (
                NetKind::Subnet,
                crate::engine::port::NetResource {
                    id: "their-subnet".into(),
                    name: "lab".into(),
                    network_id: Some("lab-net".into()),
                    project_id: Some("project-1".into()),
                    cidr: Some("192.168.0.0/16".into()),
                    ..Default::default()
                },
            ),
        );
    });
    let err = diff(
        env.cloud.as_ref(),
        &two_nics(kept()),
        file.state(),
        &quick(),
    )
    .await
    .expect_err("overlap");
    assert!(
        err.to_string()
            .contains("overlaps the target's subnet 192.168.0.0/16"),
        "{err}"
    );
}

#[tokio::test]
async fn every_source_group_comes_along_and_rules_between_groups_are_translated() {
    let env = Env::new(&["web"], Script::default());
    env.cloud.edit_source(|servers| {
        let web = servers.get_mut("web").expect("web");
        let mut from_db = rule(RuleDirection::Ingress, Some("tcp"), Some(8080));
        from_db.remote_ip_prefix = None;
        from_db.remote_group = Some("db".into());
        web.security_groups[0]
            .rules
            .push(crate::engine::port::RuleInfo {
                id: "src-rule-db".into(),
                rule: from_db,
                marker: None,
            });
        web.security_groups.push(SecurityGroup {
            id: "src-ops".into(),
            name: "ops".into(),
            description: String::new(),
            rules: vec![crate::engine::port::RuleInfo {
                id: "src-rule-ops".into(),
                rule: rule(RuleDirection::Ingress, Some("tcp"), Some(9100)),
                marker: None,
            }],
            marker: None,
        });
    });
    let before = env.cloud.contents();
    let desired = Desired {
        servers: vec![server("web", "alice", GroupChoice::Copy)],
        ..Desired::default()
    };
    let planned = env.plan(&desired).await;
    let acts = actions(&planned);
    for group in [
        "security_group.web",
        "security_group.ops",
        "security_group.db",
    ] {
        assert_eq!(
            acts.get(group).map(String::as_str),
            Some("create"),
            "{acts:?}"
        );
    }
    let report = env.apply(&desired).await;
    assert!(report.succeeded(), "{}", render::render_report(&report));
    let contents = env.cloud.contents();
    let web = contents
        .groups
        .values()
        .find(|g| g.name == "web")
        .expect("web");
    assert!(
        web.rules
            .iter()
            .any(|r| r.rule.remote_group.as_deref() == Some("db") && r.rule.port_min == Some(8080)),
        "{:?}",
        web.rules
    );
    let server = contents.servers.values().next().expect("server");
    let mut joined = server.security_groups.clone();
    joined.sort();
    assert_eq!(joined, ["ops", "web"]);
    assert!(env.plan(&desired).await.is_empty(), "a replan is clean");
    assert!(env.destroy().await.succeeded());
    assert_eq!(env.cloud.contents(), before);
}
