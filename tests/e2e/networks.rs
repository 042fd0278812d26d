//! Networks end to end: a source server with two NICs (the tenant's `private` network, and a
//! second network `nets-db` with a fixed IP on it) is moved by the `s2d` binary with its first
//! NIC on the target's `private` and its second on a network s2d builds from the source's
//! (same CIDR, pools, DNS and routes, the fixed IP kept, a router to `public`), the floating IP
//! on that second NIC. The `openstack` CLI (the referee) then shows the two NICs in the
//! source's order, the kept IP, the built subnet and router; a second plan has nothing to do;
//! destroy returns the target's networks, subnets, routers and ports to exactly what they
//! were. A plan that keeps what the target cannot give is refused by its preflight with nothing
//! made. The plan names no security group: both of the source server's groups come along, and
//! the rule of one that admits a third group admits s2d's copy of that group. Runs on devcloud
//! and on the real clouds.

use std::collections::BTreeSet;

use crate::harness::{World, id_of, openstack, openstack_text, raw_image};

/// The ids of the target's networks, subnets, routers and ports, as the CLI lists them.
async fn topology(world: &World) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for kind in ["network", "subnet", "router", "port", "security group"] {
        let mut args: Vec<&str> = kind.split(' ').collect();
        args.push("list");
        let listed = openstack(world, "hospital", &args, true).await;
        for item in listed.as_array().expect("a list") {
            ids.insert(format!(
                "{kind} {} {}",
                item["ID"].as_str().unwrap_or_default(),
                item["Name"].as_str().unwrap_or_default()
            ));
        }
    }
    ids
}

/// The source: network `nets-db` with a subnet, a small image, groups `nets-app` (port 5432
/// open to members of `nets-peer`) and `nets-peer`, a server in `default` and `nets-app` on
/// `private` and `nets-db` (fixed IP 192.168.77.10). Returns (server, image, network) ids.
async fn source(world: &World) -> (String, String, String) {
    for group in ["nets-peer", "nets-app"] {
        openstack(
            world,
            "provider",
            &["security", "group", "create", group],
            true,
        )
        .await;
    }
    openstack(
        world,
        "provider",
        &[
            "security",
            "group",
            "rule",
            "create",
            "--protocol",
            "tcp",
            "--dst-port",
            "5432",
            "--remote-group",
            "nets-peer",
            "nets-app",
        ],
        true,
    )
    .await;
    let image = raw_image(world, "provider", "nets-base", &vec![0u8; 1 << 20]).await;
    let network = openstack(world, "provider", &["network", "create", "nets-db"], true).await;
    openstack(
        world,
        "provider",
        &[
            "subnet",
            "create",
            "--network",
            "nets-db",
            "--subnet-range",
            "192.168.77.0/24",
            "--allocation-pool",
            "start=192.168.77.20,end=192.168.77.99",
            "--dns-nameserver",
            "192.168.77.2",
            "--host-route",
            "destination=10.99.0.0/16,gateway=192.168.77.1",
            "nets-db-subnet",
        ],
        true,
    )
    .await;
    let nic = format!("net-id={},v4-fixed-ip=192.168.77.10", id_of(&network));
    let server = openstack(
        world,
        "provider",
        &[
            "server",
            "create",
            "--image",
            &image,
            "--flavor",
            "m1.small",
            "--network",
            "private",
            "--nic",
            &nic,
            "--key-name",
            "alice-key",
            "--security-group",
            "default",
            "--security-group",
            "nets-app",
            "--wait",
            "nets-src",
        ],
        true,
    )
    .await;
    (id_of(&server), image, id_of(&network))
}

async fn clean_source(world: &World, server: &str, image: &str, network: &str) {
    openstack(
        world,
        "provider",
        &["server", "delete", "--wait", server],
        false,
    )
    .await;
    openstack(world, "provider", &["network", "delete", network], false).await;
    openstack(world, "provider", &["image", "delete", image], false).await;
    for group in ["nets-app", "nets-peer"] {
        openstack(
            world,
            "provider",
            &["security", "group", "delete", group],
            false,
        )
        .await;
    }
}

const PLAN: &str = "version = 1\n\
    [source]\ncloud = \"provider\"\n[target]\ncloud = \"hospital\"\n\
    [defaults]\nkeypair = { import = \"alice-key\" }\n\
    floating_ip = { pool = \"public\", nic = \"nets-db\" }\n\
    [[network]]\nfrom = \"nets-db\"\nrouter = { external = \"public\" }\n\
    [[server]]\nsource = \"nets-src\"\nname = \"nets-copy\"\n\
    networks = { \"private\" = \"private\", \"nets-db\" = { network = \"nets-db\", keep_ip = true } }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nics_land_on_a_target_network_and_on_one_built_from_the_source() {
    let world = World::start().await;
    let (server_id, image_id, network_id) = source(&world).await;
    let before = topology(&world).await;
    std::fs::write(world.path().join("nets.toml"), PLAN).expect("plan");

    let planned = world.s2d_ok(&["plan", "nets.toml"], 0).await;
    let text = String::from_utf8_lossy(&planned.stdout);
    for address in [
        "network.nets-db",
        "subnet.nets-db[0]",
        "router.nets-db-router",
        "port.nets-copy[1]",
    ] {
        assert!(text.contains(address), "the plan shows {address}: {text}");
    }
    assert!(
        !text.contains("port.nets-copy[0]"),
        "a NIC that keeps nothing needs no port of s2d's: {text}"
    );
    for group in ["security_group.nets-app", "security_group.nets-peer"] {
        assert!(text.contains(group), "every group comes along: {text}");
    }

    world
        .s2d_ok(&["apply", "nets.toml", "--auto-approve"], 0)
        .await;

    // The NICs in the source's order, the second with its kept IP on the built network.
    let copy = world.id("server.nets-copy");
    let addresses = openstack_text(
        &world,
        "hospital",
        &["server", "show", &copy, "-f", "value", "-c", "addresses"],
    )
    .await;
    let (private_at, db_at) = (addresses.find("private"), addresses.find("nets-db"));
    assert!(
        private_at.is_some() && db_at.is_some() && private_at < db_at,
        "private first, nets-db second: {addresses}"
    );
    assert!(addresses.contains("192.168.77.10"), "{addresses}");
    let ports = openstack(
        &world,
        "hospital",
        &["port", "list", "--server", &copy],
        true,
    )
    .await;
    assert_eq!(ports.as_array().map(Vec::len), Some(2), "{ports}");
    let kept_port = world.id("port.nets-copy[1]");
    let port = openstack(&world, "hospital", &["port", "show", &kept_port], true).await;
    assert!(
        port["fixed_ips"].to_string().contains("192.168.77.10"),
        "{port}"
    );

    // The built subnet and router.
    let subnet = openstack(
        &world,
        "hospital",
        &["subnet", "show", &world.id("subnet.nets-db[0]")],
        true,
    )
    .await;
    assert_eq!(subnet["cidr"], "192.168.77.0/24", "{subnet}");
    let shown = subnet.to_string();
    for part in [
        "192.168.77.20",
        "192.168.77.99",
        "192.168.77.2",
        "10.99.0.0/16",
    ] {
        assert!(shown.contains(part), "{part} in {subnet}");
    }
    let router = openstack(
        &world,
        "hospital",
        &["router", "show", &world.id("router.nets-db-router")],
        true,
    )
    .await;
    assert!(
        router.to_string().contains(&world.id("subnet.nets-db[0]")),
        "an interface on the built subnet: {router}"
    );
    let fip = world.state();
    let fip = fip
        .resources
        .iter()
        .find(|(a, _)| a.to_string() == "floating_ip.nets-copy")
        .map(|(_, r)| {
            r.attributes["address"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .expect("a floating IP");
    let fips = openstack(&world, "hospital", &["floating", "ip", "show", &fip], true).await;
    assert_eq!(
        fips["port_id"],
        kept_port.as_str(),
        "on the second NIC: {fips}"
    );

    // Both groups, the rule between groups admitting the target's copy of nets-peer.
    let shown = openstack_text(
        &world,
        "hospital",
        &[
            "server",
            "show",
            &copy,
            "-f",
            "value",
            "-c",
            "security_groups",
        ],
    )
    .await;
    assert!(
        shown.contains("nets-app") && shown.contains("default"),
        "{shown}"
    );
    let peer = world.id("security_group.nets-peer");
    let rules = openstack(
        &world,
        "hospital",
        &[
            "security",
            "group",
            "rule",
            "list",
            "--long",
            &world.id("security_group.nets-app"),
        ],
        true,
    )
    .await;
    assert!(
        rules
            .as_array()
            .expect("rules")
            .iter()
            .any(|r| r["Remote Security Group"] == peer.as_str()),
        "a rule admitting nets-peer's copy: {rules}"
    );

    world
        .s2d_ok(&["plan", "nets.toml", "--detailed-exitcode"], 0)
        .await;
    world
        .s2d_ok(&["destroy", "nets.toml", "--auto-approve"], 0)
        .await;
    assert_eq!(
        topology(&world).await,
        before,
        "destroy returns the target's networks, subnets, routers and ports to what they were"
    );
    clean_source(&world, &server_id, &image_id, &network_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_that_keeps_what_the_target_cannot_give_is_refused_before_anything_is_made() {
    let world = World::start().await;
    let (server_id, image_id, network_id) = source(&world).await;
    let before = topology(&world).await;
    let refused = [
        // The kept IP lies outside the target network's subnet.
        (
            "\"nets-db\" = { network = \"private\", keep_ip = true }",
            "lies in none of network `private`'s subnets",
        ),
        // A MAC on a network another project owns.
        (
            "\"nets-db\" = { network = \"public\", keep_mac = true }",
            "belongs to another project",
        ),
    ];
    for (entry, why) in refused {
        let plan = format!(
            "version = 1\n[source]\ncloud = \"provider\"\n[target]\ncloud = \"hospital\"\n\
             [defaults]\nkeypair = {{ import = \"alice-key\" }}\nsecurity_group = \"default\"\n\
             [[server]]\nsource = \"nets-src\"\nname = \"nets-refused\"\n\
             networks = {{ \"private\" = \"private\", {entry} }}\n"
        );
        std::fs::write(world.path().join("refused.toml"), plan).expect("plan");
        let out = world.s2d(&["plan", "refused.toml"]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("s2d::plan::preflight"), "{stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
        let out = world
            .s2d(&["apply", "refused.toml", "--auto-approve"])
            .await;
        assert_eq!(out.status.code(), Some(1), "apply refuses too");
    }
    assert_eq!(topology(&world).await, before, "nothing was made");
    assert!(
        !world.path().join("s2d.state.json").exists() || world.state().resources.is_empty(),
        "nothing recorded"
    );
    clean_source(&world, &server_id, &image_id, &network_id).await;
}
