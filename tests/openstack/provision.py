"""Provisioning of one harness cloud through its own APIs (run by up.sh).

Two steps, each one Python process (an `openstack` CLI call costs about two
seconds of start-up on a small machine; this does dozens of calls in one):

  provision.py catalog   service project, roles, the service users, the
                         service catalog (Keystone itself is in it already,
                         from `keystone-manage bootstrap`).
  provision.py seed      what s2d's tests expect, named as devcloud's seeds
                         (docs/devcloud.md), so the same plan files work
                         against devcloud and against these clouds.

Everything comes from the environment up.sh sets (C_NAME, HOST, P_*, passwords,
S2D_OS_*); P_SWIFT, when set, adds Swift (`object-store`) to the catalog and a
check that the tenant reaches its Swift account. `seed` for C_NAME=provider makes: project ehr, user alice, public
image ubuntu-22.04-base, keypair alice-key, security group analytics with
rules (22/tcp and ICMP from anywhere, 443/tcp from 10.0.0.0/8,
22/tcp over IPv6), networks private/public, router1, server ehr-analytics (ACTIVE). For
C_NAME=hospital: project research, user bob, networks private/public,
router1, one unassociated floating IP. Both: flavors m1.tiny..m1.large with
ids 1..4, an application credential <user>-appcred, admin's shared network
shared-net (subnet shared-net-subnet, 10.30.0.0/24 on provider, 10.40.0.0/24 on
hospital), a network the tenant does not own, and Cinder's volume types:
`standard` (the default; Cinder's own `__DEFAULT__` is removed) in both clouds,
`fast` too in hospital (both on the one file backend `s2d-file`); the seed ends
once the scheduler knows the volume service's pool.
"""

import io
import os
import random
import sys
import time

import openstack
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

ENV = os.environ
HOST = ENV["HOST"]
CLOUD = ENV["C_NAME"]
SVC_PW = ENV["SVC_PW"]
ADMIN_PW = ENV["ADMIN_PW"]
PORT = {
    "keystone": int(ENV["P_KEYSTONE"]),
    "glance": int(ENV["P_GLANCE"]),
    "placement": int(ENV["P_PLACEMENT"]),
    "nova": int(ENV["P_NOVA"]),
    "neutron": int(ENV["P_NEUTRON"]),
    "cinder": int(ENV["P_CINDER"]),
}
AUTH_URL = "http://%s:%d/v3" % (HOST, PORT["keystone"])

# service user -> (service type, endpoint URL)
CATALOG = {
    "glance": ("image", "http://%s:%d" % (HOST, PORT["glance"])),
    "placement": ("placement", "http://%s:%d" % (HOST, PORT["placement"])),
    "nova": ("compute", "http://%s:%d/v2.1" % (HOST, PORT["nova"])),
    "neutron": ("network", "http://%s:%d" % (HOST, PORT["neutron"])),
    # Cinder's official type is block-storage (devstack registers only that);
    # many deployments (kolla-ansible, OpenStack-Ansible) also register volumev3,
    # the type Nova's [cinder] catalog_info names by default. Both, one URL
    # without the project id (Cinder >= Yoga, microversion 3.67).
    "cinder": (("block-storage", "volumev3"),
               "http://%s:%d/v3" % (HOST, PORT["cinder"])),
}
# the block-storage service's name in the catalog per type, as deployments name them
SERVICE_NAMES = {"block-storage": "cinder", "volumev3": "cinderv3"}
# volume types per cloud: name -> (description, is the default)
VOLUME_TYPES = {
    "provider": {"standard": "s2d test: the default type"},
    "hospital": {"standard": "s2d test: the default type",
                 "fast": "s2d test: a second type, for type maps"},
}
VOLUME_BACKEND = "s2d-file"
# Swift, in the clouds that run one (up.sh's S2D_OS_SWIFT_CLOUDS): the account
# URL of the token's project, as Keystone-backed Swift deployments register it.
if ENV.get("P_SWIFT"):
    CATALOG["swift"] = ("object-store", "http://%s:%d/v1/AUTH_%%(project_id)s"
                        % (HOST, int(ENV["P_SWIFT"])))

# as devcloud: (id, name, ram MiB, vcpus, disk GB)
FLAVORS = [
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 1, 20),
    ("3", "m1.medium", 4096, 2, 40),
    ("4", "m1.large", 8192, 4, 80),
]

# per cloud: tenant project, user, networks
TENANTS = {
    "provider": {
        "project": "ehr", "user": "alice",
        "private_cidr": "10.10.0.0/24", "public_cidr": "198.51.100.0/24",
        "shared_cidr": "10.30.0.0/24",
    },
    "hospital": {
        "project": "research", "user": "bob",
        "private_cidr": "10.20.0.0/24", "public_cidr": "203.0.113.0/24",
        "shared_cidr": "10.40.0.0/24",
    },
}


def log(msg):
    print("[%s] %s" % (CLOUD, msg), flush=True)


def connect(user, password, project):
    return openstack.connect(
        auth_url=AUTH_URL, username=user, password=password,
        project_name=project, user_domain_name="Default",
        project_domain_name="Default", region_name="RegionOne",
        identity_api_version="3")


def admin():
    return connect("admin", ADMIN_PW, "admin")


def find_or_create_project(idc, name, description=""):
    return (idc.find_project(name, domain_id="default")
            or idc.create_project(name=name, domain_id="default",
                                  description=description))


def find_or_create_user(idc, name, password, project=None):
    user = idc.find_user(name, domain_id="default")
    if user is None:
        args = {"name": name, "password": password, "domain_id": "default"}
        if project is not None:
            args["default_project_id"] = project.id
        user = idc.create_user(**args)
    return user


def find_or_create_role(idc, name):
    return idc.find_role(name) or idc.create_role(name=name)


def catalog():
    conn = admin()
    idc = conn.identity
    admin_role = find_or_create_role(idc, "admin")
    service_role = find_or_create_role(idc, "service")
    find_or_create_role(idc, "member")
    find_or_create_role(idc, "reader")
    service_project = find_or_create_project(idc, "service",
                                             "OpenStack service users")
    for name, (stypes, url) in CATALOG.items():
        user = find_or_create_user(idc, name, SVC_PW)
        idc.assign_project_role_to_user(service_project, user, admin_role)
        # nova's service tokens must carry the 'service' role
        idc.assign_project_role_to_user(service_project, user, service_role)
        for stype in (stypes,) if isinstance(stypes, str) else stypes:
            service = next((s for s in idc.services() if s.type == stype), None)
            if service is None:
                service = idc.create_service(
                    name=SERVICE_NAMES.get(stype, name), type=stype,
                    is_enabled=True)
            have = {e.interface for e in idc.endpoints(service_id=service.id)}
            for interface in ("public", "internal", "admin"):
                if interface not in have:
                    idc.create_endpoint(service_id=service.id,
                                        interface=interface, url=url,
                                        region_id="RegionOne")
    glance_limits(idc)
    log("catalog: %s" % ", ".join(sorted(CATALOG)))


# Glance's unified limits (glance-api.conf: use_keystone_limits), registered for the image
# service with defaults no test reaches; a test sets a project limit below them.
GLANCE_LIMITS = {
    "image_size_total": 1000000,  # MiB
    "image_stage_total": 1000000,  # MiB
    "image_count_total": 10000,
    "image_count_uploading": 100,
}


def glance_limits(idc):
    """Glance reads Keystone's limits as a reader of the system (oslo.limit), and the four
    resources are registered (oslo.limit counts a resource without a limit as 0)."""
    glance = idc.find_user("glance", domain_id="default")
    idc.assign_system_role_to_user(glance, idc.find_role("reader"), "all")
    service = next(s for s in idc.services() if s.type == "image")
    have = {r.resource_name for r in idc.registered_limits(service_id=service.id)}
    for name, default in GLANCE_LIMITS.items():
        if name not in have:
            idc.create_registered_limit(service_id=service.id, region_id="RegionOne",
                                        resource_name=name, default_limit=default)
    log("glance's registered limits: %s" % ", ".join(
        "%s=%d" % item for item in sorted(GLANCE_LIMITS.items())))


def wait_for_compute(conn, timeout):
    """Until the hypervisor is up and placement holds its inventory."""
    deadline = time.time() + timeout
    while True:
        up = [h for h in conn.compute.hypervisors(details=True)
              if h.state == "up" and h.status == "enabled"]
        providers = list(conn.placement.resource_providers())
        ready = False
        for rp in providers:
            inv = list(conn.placement.resource_provider_inventories(rp))
            if any(i.resource_class == "VCPU" for i in inv):
                ready = True
        if up and ready:
            return
        if time.time() > deadline:
            sys.exit("[%s] nova-compute did not come up in %ds "
                     "(hypervisors up: %d, resource providers: %d)"
                     % (CLOUD, timeout, len(up), len(providers)))
        time.sleep(0.5)


def volume_types(conn):
    """The cloud's volume types, `standard` the default (cinder.conf's
    default_volume_type names it); Cinder's own __DEFAULT__ goes once unused."""
    bs = conn.block_storage
    have = {t.name: t for t in bs.types()}
    for name, description in VOLUME_TYPES[CLOUD].items():
        if name not in have:
            bs.create_type(name=name, description=description, is_public=True,
                           extra_specs={"volume_backend_name": VOLUME_BACKEND})
    if "__DEFAULT__" in have:
        bs.delete_type(have["__DEFAULT__"])
    log("volume types: %s" % ", ".join(sorted(VOLUME_TYPES[CLOUD])))


def wait_for_volume_service(conn, timeout):
    """Until cinder-volume is up and the scheduler holds its pool's capacity."""
    deadline = time.time() + timeout
    while True:
        pools = conn.block_storage.get("/scheduler-stats/get_pools?detail=True")
        pools = pools.json().get("pools", []) if pools.ok else []
        if any(p.get("capabilities", {}).get("total_capacity_gb") for p in pools):
            log("cinder: pool %s" % ", ".join(p["name"] for p in pools))
            return
        if time.time() > deadline:
            sys.exit("[%s] cinder-volume's pool did not reach the scheduler in %ds"
                     % (CLOUD, timeout))
        time.sleep(0.5)


def deterministic_bytes(seed, size):
    return random.Random(seed).randbytes(size)


def upload_base_image(conn):
    """The public base image, by the plain Glance v2 calls a user would make.

    (openstacksdk's create_image would add its own owner_specified.openstack.*
    properties, which every snapshot of the server would then inherit.)
    """
    size = int(ENV.get("S2D_OS_IMAGE_BYTES", 1024 * 1024))
    created = conn.image.post("/images", json={
        "name": "ubuntu-22.04-base", "disk_format": "raw",
        "container_format": "bare", "visibility": "public",
        "os_distro": "ubuntu", "os_version": "22.04",
    })
    created.raise_for_status()
    image_id = created.json()["id"]
    uploaded = conn.image.put(
        "/images/%s/file" % image_id,
        data=io.BytesIO(deterministic_bytes("ubuntu-22.04-base", size)),
        headers={"Content-Type": "application/octet-stream"})
    uploaded.raise_for_status()
    return conn.image.get_image(image_id)


def make_keypair(run_dir):
    """An ed25519 key pair; the private half goes to <run>/keys/alice-key."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption())
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH,
        serialization.PublicFormat.OpenSSH).decode() + " alice@s2d-test"
    keys = os.path.join(run_dir, "keys")
    os.makedirs(keys, exist_ok=True)
    path = os.path.join(keys, "alice-key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private)
    with open(path + ".pub", "w") as f:
        f.write(public + "\n")
    return public


def seed():
    tenant = TENANTS[CLOUD]
    user_pw = ENV["TENANT_PW"]
    conn = admin()
    idc = conn.identity

    member = find_or_create_role(idc, "member")
    project = find_or_create_project(idc, tenant["project"],
                                     "s2d test tenant (%s)" % CLOUD)
    user = find_or_create_user(idc, tenant["user"], user_pw, project)
    idc.assign_project_role_to_user(project, user, member)

    for fid, name, ram, vcpus, disk in FLAVORS:
        if conn.compute.find_flavor(name, ignore_missing=True) is None:
            conn.compute.create_flavor(id=fid, name=name, ram=ram,
                                       vcpus=vcpus, disk=disk,
                                       is_public=True)

    public = conn.network.find_network("public")
    if public is None:
        public = conn.network.create_network(
            name="public", is_router_external=True, is_shared=False,
            provider_network_type="flat", provider_physical_network="public")
        cidr = tenant["public_cidr"]
        prefix = cidr.rsplit(".", 1)[0]
        conn.network.create_subnet(
            network_id=public.id, name="public-subnet", ip_version=4,
            cidr=cidr, gateway_ip=prefix + ".1", is_dhcp_enabled=False,
            allocation_pools=[{"start": prefix + ".10",
                               "end": prefix + ".250"}])

    # A network the tenant uses but does not own (admin's, shared): Neutron's policy lets
    # the tenant make ports on it, but not choose their fixed IPs or MAC addresses.
    shared = conn.network.find_network("shared-net")
    if shared is None:
        shared = conn.network.create_network(name="shared-net", is_shared=True)
        conn.network.create_subnet(
            network_id=shared.id, name="shared-net-subnet", ip_version=4,
            cidr=tenant["shared_cidr"])

    volume_types(conn)

    base_image = None
    if CLOUD == "provider":
        base_image = conn.image.find_image("ubuntu-22.04-base")
        if base_image is None:
            base_image = upload_base_image(conn)

    # Everything below belongs to the tenant: made with its own token, as a
    # user would (keypairs are per user; the default group per project).
    tconn = connect(tenant["user"], user_pw, tenant["project"])
    net = tconn.network

    private = net.find_network("private")
    if private is None:
        private = net.create_network(name="private")
        subnet = net.create_subnet(
            network_id=private.id, name="private-subnet", ip_version=4,
            cidr=tenant["private_cidr"])
        router = net.create_router(
            name="router1", external_gateway_info={"network_id": public.id})
        net.add_interface_to_router(router, subnet_id=subnet.id)

    if ENV.get("P_SWIFT"):
        # authtoken + keystoneauth let the tenant's role (member) into its account
        tconn.object_store.get_account_metadata()
        log("swift: the tenant's account answers")

    appcred = tenant["user"] + "-appcred"
    if not list(tconn.identity.application_credentials(user.id,
                                                       name=appcred)):
        tconn.identity.create_application_credential(
            user.id, name=appcred, secret=appcred + "-secret",
            description="s2d test application credential")

    if CLOUD == "provider":
        if tconn.compute.find_keypair("alice-key") is None:
            tconn.compute.create_keypair(
                name="alice-key", public_key=make_keypair(ENV["RUN"]),
                type="ssh")
        group = net.find_security_group("analytics",
                                        project_id=project.id)
        if group is None:
            group = net.create_security_group(
                name="analytics", description="EHR analytics access")
            for rule in (
                {"protocol": "tcp", "port_range_min": 22,
                 "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"},
                {"protocol": "tcp", "port_range_min": 443,
                 "port_range_max": 443, "remote_ip_prefix": "10.0.0.0/8"},
                {"protocol": "icmp", "remote_ip_prefix": "0.0.0.0/0"},
                {"protocol": "tcp", "port_range_min": 22,
                 "port_range_max": 22, "remote_ip_prefix": "::/0",
                 "ether_type": "IPv6"},
            ):
                net.create_security_group_rule(
                    security_group_id=group.id, direction="ingress",
                    **dict({"ether_type": "IPv4"}, **rule))
        wait_for_compute(conn, int(ENV.get("S2D_OS_COMPUTE_TIMEOUT", 180)))
        boot_server(tconn, base_image, private)
    else:
        if not list(net.ips(project_id=project.id)):
            net.create_ip(floating_network_id=public.id,
                          description="pre-allocated, unassociated")
        wait_for_compute(conn, int(ENV.get("S2D_OS_COMPUTE_TIMEOUT", 180)))
    wait_for_volume_service(conn, int(ENV.get("S2D_OS_COMPUTE_TIMEOUT", 180)))
    log("seeded")


def boot_server(tconn, image, private):
    """ehr-analytics, ACTIVE; retried if the first boot races the scheduler."""
    if tconn.compute.find_server("ehr-analytics") is not None:
        return
    flavor = tconn.compute.find_flavor("m1.small")
    for attempt in range(3):
        server = tconn.compute.create_server(
            name="ehr-analytics", flavor_id=flavor.id, image_id=image.id,
            key_name="alice-key", networks=[{"uuid": private.id}],
            security_groups=[{"name": "default"}, {"name": "analytics"}],
            metadata={"role": "analytics"})
        try:
            server = tconn.compute.wait_for_server(
                server, status="ACTIVE", failures=["ERROR"], interval=0.5,
                wait=120)
            log("server ehr-analytics ACTIVE (%s)" % server.id)
            return
        except openstack.exceptions.ResourceFailure:
            server = tconn.compute.get_server(server.id)
        log("boot attempt %d ended in %s: %s"
            % (attempt + 1, server.status, server.fault))
        tconn.compute.delete_server(server)
        tconn.compute.wait_for_delete(server, interval=0.5, wait=60)
    sys.exit("[%s] could not boot ehr-analytics" % CLOUD)


if __name__ == "__main__":
    steps = {"catalog": catalog, "seed": seed}
    if len(sys.argv) != 2 or sys.argv[1] not in steps:
        sys.exit("usage: provision.py catalog|seed")
    steps[sys.argv[1]]()
