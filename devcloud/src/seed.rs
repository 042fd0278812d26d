//! The seed data of each cloud, exactly as issue 3 describes: in `provider` project `ehr`,
//! user `alice`, server `ehr-analytics` and its image, keypair and security groups; in
//! `hospital` project `research`, user `bob`, flavors, networks, a floating IP. Both get an
//! `admin` user in an `admin` project, the m1 flavors, a `private` network and an external
//! `public` network with a router. Knows the services only through their public methods.

use ipnet::IpNet;

use crate::Options;
use crate::auth::Auth;
use crate::cloud::Cloud;
use crate::imagedata::{Content, Format};
use crate::neutron::RuleSpec;
use crate::nova::{self, BootRequest, Flavor, Nic};

/// A seeded login: (clouds.yaml entry, user, password, project).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Login {
    /// clouds.yaml entry name (`provider`, `provider-admin`, ...).
    pub entry: &'static str,
    /// User name.
    pub user: &'static str,
    /// Password.
    pub password: &'static str,
    /// Project name.
    pub project: &'static str,
}

/// The logins of a cloud (`provider` or `hospital`): the tenant user first, then admin.
pub fn logins(cloud: &str) -> [Login; 2] {
    if cloud == "provider" {
        [
            Login {
                entry: "provider",
                user: "alice",
                password: "alice-secret",
                project: "ehr",
            },
            Login {
                entry: "provider-admin",
                user: "admin",
                password: "admin-secret",
                project: "admin",
            },
        ]
    } else {
        [
            Login {
                entry: "hospital",
                user: "bob",
                password: "bob-secret",
                project: "research",
            },
            Login {
                entry: "hospital-admin",
                user: "admin",
                password: "admin-secret",
                project: "admin",
            },
        ]
    }
}

/// The application credential seeded for the tenant user: (name, secret).
pub fn app_credential(cloud: &str) -> (&'static str, &'static str) {
    if cloud == "provider" {
        ("alice-appcred", "alice-appcred-secret")
    } else {
        ("bob-appcred", "bob-appcred-secret")
    }
}

/// The public key of the seeded `alice-key` for `seed` (deterministic ed25519).
pub fn alice_key(seed: u64) -> Option<(String, String)> {
    let mut bytes = [0u8; 32];
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xa11ce);
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&rng.u64(..).to_le_bytes());
    }
    nova::generate_keypair(bytes, "alice@ehr")
}

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Seed `cloud` (by its name) with its fixed data.
pub fn seed(cloud: &std::sync::Arc<Cloud>, options: &Options) -> Result<(), String> {
    let now = cloud.clock.now();
    let id = || cloud.faults.random_uuid().simple().to_string();
    let uuid = || cloud.faults.random_uuid().to_string();
    let [tenant, admin] = logins(&cloud.name);

    // Keystone.
    let admin_project = id();
    let project = id();
    cloud.keystone.create_project(&admin_project, admin.project);
    cloud.keystone.create_project(&project, tenant.project);
    let admin_user = id();
    let user = id();
    cloud.keystone.create_user(
        &admin_user,
        admin.user,
        admin.password,
        Some(&admin_project),
    );
    cloud
        .keystone
        .create_user(&user, tenant.user, tenant.password, Some(&project));
    cloud.keystone.grant(&admin_user, &admin_project, "admin");
    cloud.keystone.grant(&user, &project, "member");
    let (ac_name, ac_secret) = app_credential(&cloud.name);
    cloud
        .keystone
        .create_app_credential(&id(), ac_name, &user, &project, ac_secret);

    // Nova flavors (devstack's ids and sizes).
    for (fid, name, ram, vcpus, disk) in [
        ("1", "m1.tiny", 512, 1, 1),
        ("2", "m1.small", 2048, 1, 20),
        ("3", "m1.medium", 4096, 2, 40),
        ("4", "m1.large", 8192, 4, 80),
    ] {
        cloud
            .nova
            .add_flavor(Flavor::new(fid, name, ram, vcpus, disk));
    }

    // Neutron: external `public` (admin's), tenant `private`, a router between them.
    let (public_cidr, private_cidr): (IpNet, IpNet) = if cloud.name == "provider" {
        (
            "198.51.100.0/24".parse().map_err(err("cidr"))?,
            "10.10.0.0/24".parse().map_err(err("cidr"))?,
        )
    } else {
        (
            "203.0.113.0/24".parse().map_err(err("cidr"))?,
            "10.20.0.0/24".parse().map_err(err("cidr"))?,
        )
    };
    let public = uuid();
    cloud
        .neutron
        .create_network(&public, &admin_project, "public", true, false, now);
    cloud.neutron.create_subnet(
        &uuid(),
        &admin_project,
        &public,
        "public-subnet",
        public_cidr,
        now,
    );
    let private = uuid();
    cloud
        .neutron
        .create_network(&private, &project, "private", false, false, now);
    let private_subnet = uuid();
    cloud.neutron.create_subnet(
        &private_subnet,
        &project,
        &private,
        "private-subnet",
        private_cidr,
        now,
    );
    cloud
        .neutron
        .create_router(
            &uuid(),
            &uuid(),
            &project,
            "router1",
            &public,
            &private_subnet,
            cloud.faults.random_u64(),
            now,
        )
        .map_err(err("router"))?;
    let mut next_id = || cloud.faults.random_uuid().to_string();
    cloud
        .neutron
        .ensure_default_group(&project, now, &mut next_id);

    let tenant_auth = Auth {
        token: String::new(),
        user_id: user.clone(),
        user_name: tenant.user.into(),
        project_id: project.clone(),
        project_name: tenant.project.into(),
        roles: vec!["member".into(), "reader".into()],
        is_admin: false,
    };
    if cloud.name == "provider" {
        seed_provider(cloud, options, &tenant_auth, &admin_project, &private)?;
    } else {
        cloud
            .neutron
            .create_floatingip(&project, &public, None, uuid(), now)
            .map_err(err("floating ip"))?;
    }

    // A network the tenant uses but does not own (admin's, shared): Neutron's policy lets the
    // tenant make ports on it, but not choose their fixed IPs or MAC addresses. Made last, so
    // the ids drawn before it stay what they were.
    let shared_cidr: IpNet = if cloud.name == "provider" {
        "10.30.0.0/24"
    } else {
        "10.40.0.0/24"
    }
    .parse()
    .map_err(err("cidr"))?;
    let shared = uuid();
    cloud
        .neutron
        .create_network(&shared, &admin_project, "shared-net", false, true, now);
    cloud.neutron.create_subnet(
        &uuid(),
        &admin_project,
        &shared,
        "shared-net-subnet",
        shared_cidr,
        now,
    );
    Ok(())
}

fn seed_provider(
    cloud: &std::sync::Arc<Cloud>,
    options: &Options,
    auth: &Auth,
    admin_project: &str,
    private: &str,
) -> Result<(), String> {
    let now = cloud.clock.now();
    // Security group `analytics` with the rules.
    let mut next_id = || cloud.faults.random_uuid().to_string();
    let group = cloud.neutron.create_group(
        &auth.project_id,
        "analytics",
        "EHR analytics access",
        now,
        &mut next_id,
    );
    let rule = |ethertype: &str,
                protocol: Option<&str>,
                ports: Option<(u32, u32)>,
                prefix: Option<&str>| RuleSpec {
        direction: "ingress".into(),
        ethertype: ethertype.into(),
        protocol: protocol.map(str::to_string),
        port_range_min: ports.map(|p| p.0),
        port_range_max: ports.map(|p| p.1),
        remote_ip_prefix: prefix.map(str::to_string),
        remote_group_id: None,
    };
    for spec in [
        rule("IPv4", Some("tcp"), Some((22, 22)), Some("0.0.0.0/0")),
        rule("IPv4", Some("tcp"), Some((443, 443)), Some("10.0.0.0/8")),
        rule("IPv4", Some("icmp"), None, Some("0.0.0.0/0")),
        rule("IPv6", Some("tcp"), Some((22, 22)), Some("::/0")),
    ] {
        let rid = cloud.faults.random_uuid().to_string();
        cloud
            .neutron
            .add_rule(&auth.project_id, &group.id, spec, "", rid, now)
            .map_err(err("rule"))?;
    }
    // Keypair.
    let (_, public_key) = alice_key(options.seed).ok_or("cannot generate alice-key")?;
    nova::insert_keypair(cloud, &auth.user_id, "alice-key", &public_key)
        .ok_or("alice-key has no fingerprint")?;
    // Base image and the server booted from it, whose disk is generated data.
    let image = cloud.glance.seed_image(
        admin_project,
        "ubuntu-22.04-base",
        "qcow2",
        "public",
        Content::Generated {
            seed: options.seed.wrapping_add(1000),
            size: options.image_size,
            format: Format::Qcow2,
        },
    );
    let req = BootRequest {
        name: "ehr-analytics".into(),
        flavor_id: "2".into(),
        image_id: Some(image),
        key_name: Some("alice-key".into()),
        nics: vec![Nic::Network(private.to_string(), None)],
        security_groups: vec!["default".into(), "analytics".into()],
        metadata: [("role".to_string(), "analytics".to_string())]
            .into_iter()
            .collect(),
        tags: Vec::new(),
        description: None,
        config_drive: false,
        hostname: None,
        user_data: None,
        availability_zone: None,
        group: None,
        block_devices: Vec::new(),
        disk: Some(Content::Generated {
            seed: options.seed,
            size: options.image_size,
            format: Format::Qcow2,
        }),
    };
    let server =
        nova::boot(cloud, auth, req).map_err(|e| format!("boot ehr-analytics: {}", e.body))?;
    nova::make_active(cloud, &server.id, now - time::Duration::days(1));
    Ok(())
}
