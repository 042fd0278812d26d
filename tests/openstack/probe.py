#!/usr/bin/env python3
"""The fidelity probe: error answers and discovery documents, devcloud next to OpenStack.

The end-to-end scenarios record the calls s2d makes when things go well (S2D_RECORD_SHAPES).
This probe sends one fixed list of requests that go wrong on purpose, or that only clients
make (401 without or with a bad token, 403, 404 of unknown ids, 409, 413, 416; the version
documents at the root of every endpoint; each with and without `Accept: application/json`),
the object-store requests of s2d's Swift state backend against the `hospital` cloud (a
container made and removed again: container PUT new and existing, HEAD; object PUT with its
MD5 as ETag, with `If-None-Match: *` new and existing (412), with a wrong ETag (422), with
`If-None-Match` of a value other than `*` (400); GET and HEAD with the ETag and
`X-Object-Meta-*`; DELETE; the 404s of a missing object, container and a PUT into a missing
container; 401 without or with a bad token), and, with --cli, runs the `openstack` CLI commands of devcloud's referee test with --debug
and records every answer the CLI got. It writes the answers in the format fidelity.py reads
(one JSON line: service, method, path template, status, shape), where the shape holds the
answer's Content-Type (media type), which of Location, WWW-Authenticate, Content-Range it
carries, and the body's keys and types (never values):

    probe.py CLOUDS_YAML OUT_DIR [--cloud provider] [--admin provider-admin]
             [--swift-cloud hospital] [--cli OPENSTACK]

Run it once against devcloud and once against the real clouds (ci-tier.sh does) into the
two directories fidelity.py compares. Uses only the standard library. The probe leaves the
cloud as it found it: the one image it makes (for the 409 of a second upload) is deleted.
"""

import argparse
import hashlib
import http.client
import ipaddress
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

UNKNOWN = "6f0c1a3e-5b7d-4c2a-9e8f-0123456789ab"  # an id no cloud holds
HEADERS = ("location", "www-authenticate", "content-range")


def read_clouds_yaml(path):
    """The `clouds:` map of a clouds.yaml (maps and scalars by indentation: all it holds)."""
    try:
        import yaml  # noqa: PLC0415 (optional)

        return yaml.safe_load(pathlib.Path(path).read_text())["clouds"]
    except ImportError:
        pass
    root, stack = {}, [(-1, None)]
    stack[0] = (-1, root)
    for line in pathlib.Path(path).read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        value = value.strip().strip("'\"")
        if value:
            parent[key] = value
        else:
            parent[key] = {}
            stack.append((indent, parent[key]))
    return root["clouds"]


def shape(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        merged = None
        for item in value:
            s = shape(item)
            merged = s if merged is None else merge(merged, s)
        return [] if merged is None else [merged]
    return {k: shape(v) for k, v in value.items()}


def merge(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if k in out else v
        return out
    if isinstance(a, list) and isinstance(b, list):
        return [merge(a[0], b[0])] if a and b else a or b
    if a == b:
        return a
    kinds = set()
    for v in (a, b):
        kinds.update(v.split("|") if isinstance(v, str) else [json.dumps(v, sort_keys=True)])
    return "|".join(sorted(kinds))


def media_type(value):
    return (value or "").split(";")[0].strip().lower() or "none"


def answer_shape(headers, body, extra=()):
    """Content type, the headers of interest (HEADERS and `extra`), and the body's shape."""
    headers = {k.lower(): v for k, v in headers}
    out = {"content-type": media_type(headers.get("content-type"))}
    for h in HEADERS + tuple(extra):
        if h in headers:
            out[h] = "string"
    if not body:
        out["body"] = "no body"
    else:
        try:
            out["body"] = shape(json.loads(body))
        except ValueError:
            out["body"] = "not JSON"
    return out


class Cloud:
    """One cloud of the clouds.yaml: a token, the catalog's public endpoints."""

    def __init__(self, entry):
        auth = entry["auth"]
        self.auth_url = auth["auth_url"].rstrip("/")
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": auth["username"],
                            "password": auth["password"],
                            "domain": {"name": auth.get("user_domain_name", "Default")},
                        }
                    },
                },
                "scope": {
                    "project": {
                        "name": auth["project_name"],
                        "domain": {"name": auth.get("project_domain_name", "Default")},
                    }
                },
            }
        }
        base = re.sub(r"/v3$", "", self.auth_url)
        status, headers, data = request("POST", base + "/v3/auth/tokens", body=body)
        if status != 201:
            raise SystemExit(f"probe: cannot log in at {base}: {status} {data[:200]!r}")
        self.token = dict((k.lower(), v) for k, v in headers)["x-subject-token"]
        doc = json.loads(data)["token"]
        self.project_id = doc["project"]["id"]
        self.user_id = doc["user"]["id"]
        self.roots = {"identity": base}
        for service in doc["catalog"]:
            for ep in service["endpoints"]:
                if ep["interface"] == "public":
                    url = ep["url"].rstrip("/")
                    if service["type"] == "compute":
                        url = re.sub(r"/v2(\.1)?(/[0-9a-f]+)?$", "", url)
                    if service["type"] == "network":
                        url = re.sub(r"/v2\.0$", "", url)
                    if service["type"] == "identity":
                        url = re.sub(r"/v3$", "", url)
                    # object-store: the account URL (.../v1/AUTH_<project>) as it is
                    self.roots[service["type"]] = url

    def call(self, service, method, path, token=True, headers=None, body=None, raw=None):
        url = self.roots[service] + path
        h = dict(headers or {})
        if token is True:
            h["X-Auth-Token"] = self.token
        elif token:
            h["X-Auth-Token"] = token
        return request(method, url, headers=h, body=body, raw=raw)


def request(method, url, headers=None, body=None, raw=None):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    h = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=h)
    resp = conn.getresponse()
    out = resp.read()
    conn.close()
    return resp.status, resp.getheaders(), out


def probes(cloud):
    """(service, method, template, actual path, options) of every probe. Looks up the ids the
    probes need (the base image, the seeded server, the subnet and security group in use)."""
    _, _, data = cloud.call("image", "GET", "/v2/images?name=ubuntu-22.04-base")
    image = json.loads(data)["images"][0]["id"]
    _, _, data = cloud.call("compute", "GET", "/v2.1/servers?name=ehr-analytics")
    server = json.loads(data)["servers"][0]["id"]
    _, _, data = cloud.call("network", "GET", "/v2.0/subnets?name=private-subnet")
    subnet = json.loads(data)["subnets"][0]["id"]
    _, _, data = cloud.call("network", "GET", "/v2.0/security-groups?name=analytics")
    group = json.loads(data)["security_groups"][0]["id"]
    u = UNKNOWN
    out = [
        # Discovery: the root of every endpoint and the version documents.
        ("identity", "GET", "/", "", {"token": None}),
        ("identity", "GET", "/v3", "/v3", {"token": None}),
        ("compute", "GET", "/", "", {"token": None}),
        ("compute", "GET", "/v2.1", "/v2.1", {"token": None}),
        ("compute", "GET", "/v2.1/", "/v2.1/", {"token": None}),
        ("image", "GET", "/", "", {"token": None}),
        ("image", "GET", "/versions", "/versions", {"token": None}),
        ("network", "GET", "/", "", {"token": None}),
        ("network", "GET", "/v2.0", "/v2.0", {}),
        ("identity", "GET", "/v3/", "/v3/", {"token": None}),
        ("compute", "GET", "/v2", "/v2", {"token": None}),
        ("compute", "GET", "/v2/", "/v2/", {"token": None}),
        ("image", "GET", "/v2", "/v2", {"token": None}),
        ("image", "GET", "/v2/", "/v2/", {"token": None}),
        ("network", "GET", "/v2.0/", "/v2.0/", {}),
        ("network", "GET", "/v2.0/extensions", "/v2.0/extensions", {}),
        # 404: paths no service has.
        ("identity", "GET", "/v3/no-such-thing", "/v3/no-such-thing", {}),
        ("compute", "GET", "/v2.1/no-such-thing", "/v2.1/no-such-thing", {}),
        ("image", "GET", "/v2/no-such-thing", "/v2/no-such-thing", {}),
        ("network", "GET", "/v2.0/no-such-thing", "/v2.0/no-such-thing", {}),
        # 401: no token, a bad token.
        ("identity", "GET", "/v3/auth/projects (no token)", "/v3/auth/projects", {"token": None}),
        ("identity", "GET", "/v3/auth/projects (bad token)", "/v3/auth/projects", {"token": "bogus"}),
        ("compute", "GET", "/v2.1/servers (no token)", "/v2.1/servers", {"token": None}),
        ("compute", "GET", "/v2.1/servers (bad token)", "/v2.1/servers", {"token": "bogus"}),
        ("image", "GET", "/v2/images (no token)", "/v2/images", {"token": None}),
        ("image", "GET", "/v2/images (bad token)", "/v2/images", {"token": "bogus"}),
        ("network", "GET", "/v2.0/networks (no token)", "/v2.0/networks", {"token": None}),
        ("network", "GET", "/v2.0/networks (bad token)", "/v2.0/networks", {"token": "bogus"}),
        (
            "identity", "POST", "/v3/auth/tokens (wrong password)", "/v3/auth/tokens",
            {"token": None, "body": {"auth": {"identity": {"methods": ["password"], "password": {
                "user": {"id": cloud.user_id, "password": "wrong"}}}}}},
        ),
        # 403: what the policy refuses a member.
        ("identity", "GET", "/v3/projects (member)", "/v3/projects", {}),
        ("compute", "GET", "/v2.1/os-simple-tenant-usage (member)", "/v2.1/os-simple-tenant-usage", {}),
        ("image", "DELETE", "/v2/images/{id} (public, not mine)", f"/v2/images/{image}", {}),
        (
            "image", "PATCH", "/v2/images/{id} (read-only attribute)", f"/v2/images/{image}",
            {"ctype": "application/openstack-images-v2.1-json-patch",
             "raw": b'[{"op": "replace", "path": "/status", "value": "queued"}]'},
        ),
        (
            "network", "POST", "/v2.0/networks (external, member)", "/v2.0/networks",
            {"body": {"network": {"name": "probe-ext", "router:external": True}}},
        ),
        # 404: unknown ids and paths.
        ("compute", "GET", "/v2.1/servers/{unknown}", f"/v2.1/servers/{u}", {}),
        ("compute", "GET", "/v2.1/flavors/{unknown}", "/v2.1/flavors/no-such-flavor", {}),
        ("compute", "GET", "/v2.1/os-keypairs/{unknown}", "/v2.1/os-keypairs/no-such-key", {}),
        ("compute", "POST", "/v2.1/servers/{unknown}/action", f"/v2.1/servers/{u}/action",
         {"body": {"os-start": None}}),
        ("image", "GET", "/v2/images/{unknown}", f"/v2/images/{u}", {}),
        ("image", "GET", "/v2/images/{unknown}/file", f"/v2/images/{u}/file", {}),
        ("network", "GET", "/v2.0/networks/{unknown}", f"/v2.0/networks/{u}", {}),
        ("network", "GET", "/v2.0/ports/{unknown}", f"/v2.0/ports/{u}", {}),
        ("network", "GET", "/v2.0/security-groups/{unknown}", f"/v2.0/security-groups/{u}", {}),
        ("network", "GET", "/v2.0/floatingips/{unknown}", f"/v2.0/floatingips/{u}", {}),
        ("identity", "GET", "/v3/users/{unknown}", f"/v3/users/{u}", {"admin": True}),
        # 409: a Nova action in the wrong state; a subnet in use; a rule that exists.
        ("compute", "POST", "/v2.1/servers/{id}/action (os-start while ACTIVE)",
         f"/v2.1/servers/{server}/action", {"body": {"os-start": None}}),
        ("network", "DELETE", "/v2.0/subnets/{id} (in use)", f"/v2.0/subnets/{subnet}", {}),
        (
            "network", "POST", "/v2.0/security-group-rules (exists)", "/v2.0/security-group-rules",
            {"body": {"security_group_rule": {
                "security_group_id": group, "direction": "ingress", "ethertype": "IPv4",
                "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
                "remote_ip_prefix": "0.0.0.0/0"}}},
        ),
        # 413: a body over keystone's max_request_body_size (114688 bytes).
        ("identity", "POST", "/v3/auth/tokens (200 KB body)", "/v3/auth/tokens",
         {"token": None, "raw": b'{"auth": "' + b"x" * 200_000 + b'"}',
          "ctype": "application/json"}),
        # 416: a Range beyond the image.
        ("image", "GET", "/v2/images/{id}/file (Range beyond the end)", f"/v2/images/{image}/file",
         {"headers": {"Range": "bytes=999999999999-"}}),
        # 400: malformed JSON.
        ("compute", "POST", "/v2.1/servers (malformed JSON)", "/v2.1/servers",
         {"raw": b"{not json", "ctype": "application/json"}),
        ("network", "POST", "/v2.0/networks (malformed JSON)", "/v2.0/networks",
         {"raw": b"{not json", "ctype": "application/json"}),
        ("image", "POST", "/v2/images (malformed JSON)", "/v2/images",
         {"raw": b"{not json", "ctype": "application/json"}),
    ]
    return out


def run(cloud, admin, accept):
    records = []
    for service, method, template, path, opt in probes(cloud):
        headers = dict(opt.get("headers", {}))
        if accept:
            headers["Accept"] = "application/json"
        if "ctype" in opt:
            headers["Content-Type"] = opt["ctype"]
        who = admin if opt.get("admin") else cloud
        token = opt.get("token", True)
        status, h, body = who.call(service, method, path, token=token, headers=headers,
                                   body=opt.get("body"), raw=opt.get("raw"))
        if status in (200, 201) and method == "POST" and service == "network":
            # A create that went through (it should not): undo it.
            for kind, collection in (("network", "networks"),
                                     ("security_group_rule", "security-group-rules")):
                made = json.loads(body).get(kind, {}).get("id")
                if made:
                    who.call("network", "DELETE", f"/v2.0/{collection}/{made}")
        records.append(record(service, method, template, accept, status, h, body))
    records.extend(upload_twice(cloud, accept))
    return records


def record(service, method, template, accept, status, headers, body, extra=()):
    return {
        "service": service,
        "method": method,
        "path": f"{template} [{'accept json' if accept else 'no accept'}]",
        "status": status,
        "shape": answer_shape(headers, body, extra),
    }


# The answers' headers s2d's Swift backend reads (besides HEADERS).
SWIFT_HEADERS = ("etag", "x-object-meta-s2d-serial")


def object_store(cloud):
    """The requests of s2d's Swift state backend (src/cloud/object_store.rs,
    src/state/backend/swift.rs), each recorded; the container is removed afterwards."""
    if "object-store" not in cloud.roots:
        raise SystemExit("probe: the Swift cloud has no object-store in its catalog")
    c = f"probe-{uuid.uuid4().hex[:12]}"
    body = b'{"serial": 1}'
    etag = hashlib.md5(body).hexdigest()
    put = {"Content-Type": "application/json", "ETag": etag}
    serial = {"X-Object-Meta-S2d-Serial": "1"}
    steps = [
        # (method, template, path, headers, body, token)
        ("HEAD", "/{container} (missing)", f"/{c}", {}, None, True),
        ("PUT", "/{container}/{object} (missing container)", f"/{c}/state.json", put, body, True),
        ("PUT", "/{container} (new)", f"/{c}", {}, None, True),
        ("PUT", "/{container} (exists)", f"/{c}", {}, None, True),
        ("HEAD", "/{container}", f"/{c}", {}, None, True),
        ("GET", "/{container}/{object} (missing)", f"/{c}/state.json", {}, None, True),
        ("HEAD", "/{container}/{object} (missing)", f"/{c}/state.json", {}, None, True),
        ("PUT", "/{container}/{object} (If-None-Match: *, new)", f"/{c}/state.json.lock",
         dict(put, **{"If-None-Match": "*"}), body, True),
        ("PUT", "/{container}/{object} (If-None-Match: *, exists)", f"/{c}/state.json.lock",
         dict(put, **{"If-None-Match": "*"}), body, True),
        ("PUT", "/{container}/{object} (If-None-Match: an etag)", f"/{c}/state.json.lock",
         dict(put, **{"If-None-Match": etag}), body, True),
        ("PUT", "/{container}/{object} (wrong ETag)", f"/{c}/state.json",
         dict(put, ETag="0" * 32), body, True),
        ("PUT", "/{container}/{object} (metadata)", f"/{c}/state.json", dict(put, **serial),
         body, True),
        ("PUT", "/{container}/{object} (replace)", f"/{c}/state.json", dict(put, **serial),
         body, True),
        ("PUT", "/{container}/{object}.serial/{n}", f"/{c}/state.json.serial/1", put, body, True),
        ("GET", "/{container}/{object}", f"/{c}/state.json", {}, None, True),
        ("HEAD", "/{container}/{object}", f"/{c}/state.json", {}, None, True),
        ("GET", "/{container}/{object} (no token)", f"/{c}/state.json", {}, None, None),
        ("GET", "/{container}/{object} (bad token)", f"/{c}/state.json", {}, None, "bogus"),
        ("PUT", "/{container}/{object} (bad token)", f"/{c}/state.json", put, body, "bogus"),
        ("DELETE", "/{container}/{object}.serial/{n}", f"/{c}/state.json.serial/1", {}, None,
         True),
        ("DELETE", "/{container}/{object}", f"/{c}/state.json.lock", {}, None, True),
        ("DELETE", "/{container}/{object} (missing)", f"/{c}/state.json.lock", {}, None, True),
    ]
    records = []
    try:
        for method, template, path, headers, data, token in steps:
            status, h, answer = cloud.call("object-store", method, path, token=token,
                                           headers=headers, raw=data)
            records.append(record("object-store", method, template, False, status, h, answer,
                                  SWIFT_HEADERS))
    finally:
        for obj in ("state.json", "state.json.lock", "state.json.serial/1"):
            cloud.call("object-store", "DELETE", f"/{c}/{obj}")
        cloud.call("object-store", "DELETE", f"/{c}")
    return records


def networks(cloud, admin):
    """Issue 18's Neutron calls (s2d builds networks, subnets, routers and ports in the target
    and boots on them), each recorded, and the NeutronError of every refusal printed: a
    network with subnets (allocation pools, DNS servers, host routes, no gateway, IPv6 modes,
    an overlapping CIDR), ports with a chosen fixed IP and MAC and their conflicts, ports on
    the seeded `shared-net` (not the tenant's: no chosen IP or MAC), port security off with
    and without groups, a router with a gateway and an interface, a boot on two NICs (a port
    passed in, one Nova makes) and the delete order with its 409s. Everything is removed."""
    records = []
    made = {"servers": [], "ports": [], "routers": [], "interfaces": [], "networks": []}

    def call(method, template, path, who=cloud, service="network", **kw):
        status, h, body = who.call(service, method, path,
                                   headers={"Accept": "application/json"}, **kw)
        records.append(record(service, method, template, True, status, h, body))
        doc = None
        if body:
            try:
                doc = json.loads(body)
            except ValueError:
                pass
        if status >= 400:
            err = (doc or {}).get("NeutronError", doc)
            say(f"{method} {template}", [status, err])
        return status, doc

    def say(what, value):
        print(f"probe networks: {what}: {json.dumps(value, sort_keys=True)}", file=sys.stderr)

    def port(template, **fields):
        status, doc = call("POST", f"/v2.0/ports ({template})", "/v2.0/ports",
                           body={"port": fields})
        if status == 201:
            made["ports"].append(doc["port"]["id"])
            p = doc["port"]
            say(f"port ({template})", {k: p[k] for k in (
                "fixed_ips", "allowed_address_pairs", "port_security_enabled", "status",
                "device_owner", "description") if k in p}
                | {"security_groups": len(p["security_groups"])})
        return status, doc

    try:
        def lookup(collection, name):
            _, _, data = cloud.call("network", "GET", f"/v2.0/{collection}?name={name}")
            return json.loads(data)[collection.replace("-", "_")][0]["id"]

        public, private = lookup("networks", "public"), lookup("networks", "private")
        private_subnet = lookup("subnets", "private-subnet")
        shared, shared_subnet = lookup("networks", "shared-net"), lookup("subnets",
                                                                         "shared-net-subnet")
        group = lookup("security-groups", "default")
        # The network and its subnets.
        status, doc = call("POST", "/v2.0/networks (mtu, description, port security)",
                           "/v2.0/networks", body={"network": {
                               "name": "probe-net", "description": "probe network",
                               "mtu": 1400, "port_security_enabled": True}})
        net = doc["network"]["id"]
        made["networks"].append(net)
        say("network", {k: doc["network"].get(k) for k in (
            "mtu", "description", "port_security_enabled", "shared", "router:external")})
        status, doc = call("POST", "/v2.0/subnets (pools, DNS, routes, no DHCP)",
                           "/v2.0/subnets", body={"subnet": {
                               "network_id": net, "name": "probe-subnet", "ip_version": 4,
                               "cidr": "10.99.0.0/24", "gateway_ip": "10.99.0.1",
                               "allocation_pools": [{"start": "10.99.0.10",
                                                     "end": "10.99.0.100"}],
                               "dns_nameservers": ["10.0.0.53", "10.0.0.54"],
                               "host_routes": [{"destination": "10.98.0.0/24",
                                                "nexthop": "10.99.0.254"}],
                               "enable_dhcp": False, "description": "probe subnet"}})
        subnet = doc["subnet"]["id"]
        say("subnet", {k: doc["subnet"].get(k) for k in (
            "allocation_pools", "dns_nameservers", "host_routes", "enable_dhcp", "gateway_ip",
            "description", "ipv6_address_mode", "ipv6_ra_mode")})
        status, doc = call("POST", "/v2.0/subnets (default pool)", "/v2.0/subnets",
                           body={"subnet": {"network_id": net, "ip_version": 4,
                                            "cidr": "10.97.0.0/24", "name": "probe-subnet-2"}})
        subnet2 = doc["subnet"]["id"]
        say("subnet (default pool)", [doc["subnet"]["allocation_pools"],
                                      doc["subnet"]["gateway_ip"]])
        status, doc = call("POST", "/v2.0/subnets (no gateway)", "/v2.0/subnets",
                           body={"subnet": {"network_id": net, "ip_version": 4,
                                            "cidr": "10.96.0.0/24", "gateway_ip": None}})
        nogw = doc["subnet"]["id"]
        say("subnet (no gateway)", [doc["subnet"]["allocation_pools"],
                                    doc["subnet"]["gateway_ip"]])
        call("POST", "/v2.0/subnets (overlaps)", "/v2.0/subnets", body={"subnet": {
            "network_id": net, "ip_version": 4, "cidr": "10.99.0.128/25"}})
        call("POST", "/v2.0/subnets (pool outside the CIDR)", "/v2.0/subnets", body={"subnet": {
            "network_id": net, "ip_version": 4, "cidr": "10.95.0.0/24",
            "allocation_pools": [{"start": "10.94.0.10", "end": "10.94.0.20"}]}})
        call("POST", "/v2.0/subnets (pool holds the gateway)", "/v2.0/subnets",
             body={"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.95.0.0/24",
                              "gateway_ip": "10.95.0.15",
                              "allocation_pools": [{"start": "10.95.0.10",
                                                    "end": "10.95.0.20"}]}})
        status, doc = call("POST", "/v2.0/networks", "/v2.0/networks",
                           body={"network": {"name": "probe-net6"}})
        net6 = doc["network"]["id"]
        made["networks"].append(net6)
        status, doc = call("POST", "/v2.0/subnets (IPv6 modes)", "/v2.0/subnets",
                           body={"subnet": {"network_id": net6, "ip_version": 6,
                                            "cidr": "fd00:99::/64",
                                            "ipv6_address_mode": "dhcpv6-stateful",
                                            "ipv6_ra_mode": "dhcpv6-stateful"}})
        say("subnet (IPv6)", {k: doc["subnet"].get(k) for k in (
            "allocation_pools", "gateway_ip", "ipv6_address_mode", "ipv6_ra_mode")})
        call("POST", "/v2.0/subnets (IPv6 modes differ)", "/v2.0/subnets",
             body={"subnet": {"network_id": net6, "ip_version": 6, "cidr": "fd00:98::/64",
                              "ipv6_address_mode": "slaac", "ipv6_ra_mode": "dhcpv6-stateful"}})
        # Ports with a chosen address and MAC, and what conflicts with them.
        status, doc = port("fixed IP, MAC, address pairs", network_id=net, name="probe-port",
                           description="probe port",
                           fixed_ips=[{"subnet_id": subnet, "ip_address": "10.99.0.20"}],
                           mac_address="fa:16:3e:99:00:20",
                           allowed_address_pairs=[{"ip_address": "10.99.0.200"}],
                           port_security_enabled=True, security_groups=[group])
        p1 = doc["port"]["id"]
        port("IP in use", network_id=net, fixed_ips=[{"ip_address": "10.99.0.20"}])
        port("MAC in use", network_id=net, mac_address="fa:16:3e:99:00:20")
        port("IP outside the subnet", network_id=net,
             fixed_ips=[{"subnet_id": subnet, "ip_address": "10.98.0.5"}])
        port("IP on no subnet of the network", network_id=net,
             fixed_ips=[{"ip_address": "10.50.0.5"}])
        port("subnet of another network", network_id=net,
             fixed_ips=[{"subnet_id": private_subnet}])
        port("bad MAC", network_id=net, mac_address="not-a-mac")
        port("port security off, with a group", network_id=net, port_security_enabled=False,
             security_groups=[group])
        port("port security off, address pairs", network_id=net, port_security_enabled=False,
             allowed_address_pairs=[{"ip_address": "10.99.0.201"}])
        port("port security off", network_id=net, port_security_enabled=False)
        port("IP outside the pool", network_id=net, fixed_ips=[{"ip_address": "10.99.0.5"}])
        port("the gateway IP", network_id=net, fixed_ips=[{"ip_address": "10.97.0.1"}])
        port("from the pool", network_id=net, fixed_ips=[{"subnet_id": subnet}])
        port("no fixed_ips", network_id=net)
        # On a network the project does not own.
        port("shared network, subnet only", network_id=shared,
             fixed_ips=[{"subnet_id": shared_subnet}])
        port("shared network, IP", network_id=shared,
             fixed_ips=[{"subnet_id": shared_subnet, "ip_address": str(ipaddress_in(
                 cloud, shared_subnet, 33))}])
        port("shared network, MAC", network_id=shared, mac_address="fa:16:3e:99:00:21")
        port("shared network, port security off", network_id=shared,
             port_security_enabled=False)
        port("external network", network_id=public)
        # Filtered lists.
        call("GET", "/v2.0/ports?network_id&name", f"/v2.0/ports?network_id={net}&name=probe-port")
        call("GET", "/v2.0/ports?device_id&project_id",
             f"/v2.0/ports?device_id={UNKNOWN}&project_id={cloud.project_id}")
        call("GET", "/v2.0/subnets?network_id", f"/v2.0/subnets?network_id={net}")
        # The router: gateway, interface, and what they block.
        call("POST", "/v2.0/routers (gateway not external)", "/v2.0/routers",
             body={"router": {"name": "probe-bad", "external_gateway_info": {
                 "network_id": private}}})
        status, doc = call("POST", "/v2.0/routers (gateway, description)", "/v2.0/routers",
                           body={"router": {"name": "probe-router", "description": "probe router",
                                            "external_gateway_info": {"network_id": public}}})
        router = doc["router"]["id"]
        made["routers"].append(router)
        iface = f"/v2.0/routers/{router}/add_router_interface"
        status, doc = call("PUT", "/v2.0/routers/{id}/add_router_interface", iface,
                           body={"subnet_id": subnet})
        made["interfaces"].append((router, subnet))
        call("PUT", "/v2.0/routers/{id}/add_router_interface (again)", iface,
             body={"subnet_id": subnet})
        call("PUT", "/v2.0/routers/{id}/add_router_interface (no gateway)", iface,
             body={"subnet_id": nogw})
        call("PUT", "/v2.0/routers/{id}/add_router_interface (gateway IP taken)", iface,
             body={"subnet_id": subnet2})
        status, doc = call("GET", "/v2.0/ports?device_id={router}",
                           f"/v2.0/ports?device_id={router}&network_id={net}")
        say("router interface ports", [(p["device_owner"], p["fixed_ips"][0]["ip_address"])
                                       for p in doc["ports"]])
        call("DELETE", "/v2.0/subnets/{id} (router interface)", f"/v2.0/subnets/{subnet}")
        call("DELETE", "/v2.0/routers/{id} (interface)", f"/v2.0/routers/{router}")
        call("DELETE", "/v2.0/networks/{id} (ports)", f"/v2.0/networks/{net}")
        # A boot on two NICs: the port made above, then a port Nova makes.
        _, _, data = cloud.call("compute", "GET", "/v2.1/flavors")
        flavor = next(f["id"] for f in json.loads(data)["flavors"] if f["name"] == "m1.tiny")
        _, _, data = cloud.call("image", "GET", "/v2/images?name=ubuntu-22.04-base")
        image = json.loads(data)["images"][0]["id"]
        status, doc = call("POST", "/v2.1/servers (two NICs, a port)", "/v2.1/servers",
                           service="compute", body={"server": {
                               "name": "probe-nics", "flavorRef": flavor, "imageRef": image,
                               "networks": [{"port": p1}, {"uuid": private}]}})
        if status != 202:
            raise SystemExit(f"probe: boot failed: {status} {doc}")
        server = doc["server"]["id"]
        made["servers"].append(server)
        deadline = time.monotonic() + 120
        while True:
            _, _, data = cloud.call("compute", "GET", f"/v2.1/servers/{server}")
            doc = json.loads(data)["server"]
            if doc["status"] != "BUILD" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        call("GET", "/v2.1/servers/{id} (two NICs)", f"/v2.1/servers/{server}",
             service="compute")
        say("server (two NICs)", [doc["status"], [
            (n, [a["addr"] for a in addrs]) for n, addrs in doc["addresses"].items()]])
        status, doc = call("GET", "/v2.0/ports?device_id={server}",
                           f"/v2.0/ports?device_id={server}")
        say("server ports", sorted((p["id"] == p1, p["device_owner"], p["status"])
                                   for p in doc["ports"]))
        cloud.call("compute", "DELETE", f"/v2.1/servers/{server}")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status, _, _ = cloud.call("compute", "GET", f"/v2.1/servers/{server}")
            if status == 404:
                made["servers"].remove(server)
                break
            time.sleep(0.5)
        for _ in range(20):
            status, doc = call("GET", "/v2.0/ports?device_id={server} (deleted)",
                               f"/v2.0/ports?device_id={server}")
            if not doc["ports"]:
                break
            time.sleep(0.5)
        status, doc = call("GET", "/v2.0/ports/{id} (after the server)", f"/v2.0/ports/{p1}")
        say("port passed in, after the server", [status, doc["port"]["device_id"],
                                                doc["port"]["device_owner"]])
        # The delete order.
        remove = f"/v2.0/routers/{router}/remove_router_interface"
        call("PUT", "/v2.0/routers/{id}/remove_router_interface", remove,
             body={"subnet_id": subnet})
        made["interfaces"].clear()
        call("PUT", "/v2.0/routers/{id}/remove_router_interface (again)", remove,
             body={"subnet_id": subnet})
        call("DELETE", "/v2.0/routers/{id}", f"/v2.0/routers/{router}")
        made["routers"].clear()
        call("DELETE", "/v2.0/subnets/{id} (ports)", f"/v2.0/subnets/{subnet}")
        for p in list(made["ports"]):
            call("DELETE", "/v2.0/ports/{id}", f"/v2.0/ports/{p}")
            made["ports"].remove(p)
        call("DELETE", "/v2.0/subnets/{id}", f"/v2.0/subnets/{subnet}")
        call("DELETE", "/v2.0/networks/{id} (free subnets)", f"/v2.0/networks/{net}")
        made["networks"].remove(net)
        call("GET", "/v2.0/subnets/{id} (network deleted)", f"/v2.0/subnets/{nogw}")
        call("DELETE", "/v2.0/networks/{id} (IPv6 subnet)", f"/v2.0/networks/{net6}")
        made["networks"].remove(net6)
    finally:
        for server in made["servers"]:
            cloud.call("compute", "DELETE", f"/v2.1/servers/{server}")
        for router, subnet in made["interfaces"]:
            cloud.call("network", "PUT", f"/v2.0/routers/{router}/remove_router_interface",
                       body={"subnet_id": subnet})
        for router in made["routers"]:
            cloud.call("network", "DELETE", f"/v2.0/routers/{router}")
        for p in made["ports"]:
            cloud.call("network", "DELETE", f"/v2.0/ports/{p}")
        for net in made["networks"]:
            for _ in range(20):
                status, _, _ = cloud.call("network", "DELETE", f"/v2.0/networks/{net}")
                if status != 409:
                    break
                time.sleep(0.5)
    return records


def ipaddress_in(cloud, subnet, n):
    """The n-th address of a subnet's CIDR."""
    _, _, data = cloud.call("network", "GET", f"/v2.0/subnets/{subnet}")
    return ipaddress.ip_network(json.loads(data)["subnet"]["cidr"])[n]


def upload_twice(cloud, accept):
    """409: a second upload to an active image (the image is made and deleted again)."""
    name = f"probe-{uuid.uuid4()}"
    status, _, data = cloud.call("image", "POST", "/v2/images", body={
        "name": name, "disk_format": "raw", "container_format": "bare"})
    if status != 201:
        raise SystemExit(f"probe: cannot create an image: {status} {data[:200]!r}")
    image = json.loads(data)["id"]
    try:
        octet = {"Content-Type": "application/octet-stream"}
        status, _, data = cloud.call("image", "PUT", f"/v2/images/{image}/file", headers=octet,
                                     raw=b"probe" * 100)
        if status != 204:
            raise SystemExit(f"probe: cannot upload: {status} {data[:200]!r}")
        if accept:
            octet["Accept"] = "application/json"
        status, h, data = cloud.call("image", "PUT", f"/v2/images/{image}/file", headers=octet,
                                     raw=b"again")
        return [record("image", "PUT", "/v2/images/{id}/file (active image)", accept, status, h,
                       data)]
    finally:
        cloud.call("image", "DELETE", f"/v2/images/{image}")


# Boot fidelity (issue 16): server groups, a boot with every field s2d carries, the server's
# metadata calls, a snapshot of a server booted from an image with boot properties, and the
# errors of each; recorded like the probes above (paths as templates). The values s2d relies
# on (not only the shapes) are printed, prefixed "probe boot:", for a reader to compare.
BOOT_PROPERTIES = {
    "hw_firmware_type": "uefi", "hw_machine_type": "q35", "hw_disk_bus": "scsi",
    "hw_scsi_model": "virtio-scsi", "os_distro": "ubuntu", "os_type": "linux",
    # Nova never lets a snapshot inherit these.
    "cache_in_nova": "True", "img_signature_hash_method": "SHA-256",
}
USER_DATA = "I2Nsb3VkLWNvbmZpZwpwYWNrYWdlczogW25naW54XQo="


def boot_fidelity(cloud, admin):
    records = []
    made = {"servers": [], "images": [], "groups": []}

    def mv(v):
        return {"OpenStack-API-Version": f"compute {v}", "Accept": "application/json"}

    def call(service, method, template, path, version="2.1", who=cloud, **kw):
        headers = mv(version) if service == "compute" else {"Accept": "application/json"}
        headers.update(kw.pop("headers", {}))
        status, h, body = who.call(service, method, path, headers=headers, **kw)
        records.append(record(service, method, f"{template} @{version}", True, status, h, body))
        try:
            return status, json.loads(body) if body else None
        except ValueError:
            return status, None

    def wait(path, key, done, version="2.1", who=cloud, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            status, _, body = who.call("compute" if key == "server" else "image", "GET", path,
                                       headers=mv(version))
            doc = json.loads(body) if status == 200 else {}
            doc = doc.get(key, doc)
            if status == 404 or done(doc) or time.monotonic() > deadline:
                return doc
            time.sleep(0.5)

    def say(what, value):
        print(f"probe boot: {what}: {json.dumps(value, sort_keys=True)}", file=sys.stderr)

    try:
        _, _, data = cloud.call("compute", "GET", "/v2.1/flavors")
        flavor = next(f["id"] for f in json.loads(data)["flavors"] if f["name"] == "m1.tiny")
        _, _, data = cloud.call("network", "GET", "/v2.0/networks?name=private")
        net = json.loads(data)["networks"][0]["id"]
        # The base image: a few bytes (the fake hypervisors boot anything) with the properties.
        status, doc = call("image", "POST", "/v2/images (boot properties)", "/v2/images",
                           body={"name": f"probe-uefi-{uuid.uuid4()}", "disk_format": "raw",
                                 "container_format": "bare", "min_ram": 128, **BOOT_PROPERTIES})
        image = doc["id"]
        made["images"].append(image)
        cloud.call("image", "PUT", f"/v2/images/{image}/file",
                   headers={"Content-Type": "application/octet-stream"}, raw=b"probe" * 100)
        # Server groups: the old and the new body, their errors, list and show.
        groups = "/v2.1/os-server-groups"
        _, doc = call("compute", "POST", groups, groups, "2.1",
                      body={"server_group": {"name": "probe-old", "policies": ["affinity"]}})
        made["groups"].append(doc["server_group"]["id"])
        _, doc = call("compute", "POST", groups, groups, "2.64",
                      body={"server_group": {"name": "probe-anti", "policy": "anti-affinity"}})
        group = doc["server_group"]["id"]
        made["groups"].append(group)
        for name, version, body in [
            ("rules with affinity", "2.64", {"server_group": {
                "name": "x", "policy": "affinity", "rules": {"max_server_per_host": 2}}}),
            ("rules below 1", "2.64", {"server_group": {
                "name": "x", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}}),
            ("unknown policy", "2.64", {"server_group": {"name": "x", "policy": "bogus"}}),
            ("policies from 2.64", "2.64", {"server_group": {"name": "x",
                                                             "policies": ["affinity"]}}),
            ("soft before 2.15", "2.14", {"server_group": {"name": "x",
                                                          "policies": ["soft-affinity"]}}),
        ]:
            status, doc = call("compute", "POST", f"{groups} ({name})", groups, version, body=body)
            say(f"server group create ({name})", [status, doc])
            if status == 200:
                made["groups"].append(doc["server_group"]["id"])
        call("compute", "GET", groups, groups, "2.64")
        _, doc = call("compute", "GET", f"{groups}?all_projects", f"{groups}?all_projects=True",
                      "2.64", who=admin)
        call("compute", "GET", groups + "/{id}", f"{groups}/{group}", "2.1")
        call("compute", "GET", groups + "/{unknown}", f"{groups}/{UNKNOWN}", "2.64")
        # Boots refused.
        base = {"name": "probe-boot", "flavorRef": flavor, "imageRef": image,
                "networks": [{"uuid": net}]}
        for name, version, extra, hints in [
            ("user_data not base64", "2.90", {"user_data": "abc"}, None),
            ("hostname before 2.90", "2.89", {"hostname": "probe-1"}, None),
            ("hostname with a space", "2.90", {"hostname": "probe 1"}, None),
            ("unknown group", "2.90", {}, {"group": UNKNOWN}),
            ("unknown zone", "2.90", {"availability_zone": "elsewhere"}, None),
            ("config_drive not boolean", "2.90", {"config_drive": "maybe"}, None),
        ]:
            body = {"server": {**base, **extra}}
            if hints:
                body["os:scheduler_hints"] = hints
            status, doc = call("compute", "POST", f"/v2.1/servers ({name})", "/v2.1/servers",
                               version, body=body)
            say(f"boot ({name})", [status, doc])
            if status == 202:
                made["servers"].append(doc["server"]["id"])
        # The boot s2d makes.
        body = {"server": {**base, "description": "probe server", "config_drive": True,
                           "hostname": "probe-1", "user_data": USER_DATA,
                           "availability_zone": "nova", "tags": ["web", "prod"],
                           "metadata": {"role": "web"}},
                "os:scheduler_hints": {"group": group}}
        status, doc = call("compute", "POST", "/v2.1/servers (every field, group hint)",
                           "/v2.1/servers", "2.90", body=body)
        if status != 202:
            raise SystemExit(f"probe: boot failed: {status} {doc}")
        server = doc["server"]["id"]
        made["servers"].append(server)
        wait(f"/v2.1/servers/{server}", "server", lambda s: s.get("status") != "BUILD")
        for version, who, tag in [("2.90", cloud, ""), ("2.89", cloud, ""),
                                  ("2.96", cloud, ""), ("2.3", admin, " (admin)")]:
            _, doc = call("compute", "GET", "/v2.1/servers/{id}" + tag,
                          f"/v2.1/servers/{server}", version, who=who)
            s = doc["server"]
            say(f"server show @{version}{tag}", {k: s.get(k) for k in (
                "status", "description", "config_drive", "OS-EXT-SRV-ATTR:hostname",
                "OS-EXT-SRV-ATTR:user_data", "OS-EXT-AZ:availability_zone", "tags", "metadata",
                "server_groups", "pinned_availability_zone")})
        call("compute", "GET", "/v2.1/servers/detail", "/v2.1/servers/detail?name=probe-boot",
             "2.90")
        # A second member of the anti-affinity group on the one compute host.
        body = {"server": {**base, "name": "probe-boot-2"},
                "os:scheduler_hints": {"group": group}}
        status, doc = call("compute", "POST", "/v2.1/servers (second anti-affinity member)",
                           "/v2.1/servers", "2.64", body=body)
        if status == 202:
            second = doc["server"]["id"]
            made["servers"].append(second)
            s = wait(f"/v2.1/servers/{second}", "server", lambda s: s.get("status") != "BUILD")
            _, doc = call("compute", "GET", "/v2.1/servers/{id} (second member)",
                          f"/v2.1/servers/{second}", "2.64")
            say("second anti-affinity member", {k: doc["server"].get(k)
                                                for k in ("status", "fault")})
        _, doc = call("compute", "GET", groups + "/{id}", f"{groups}/{group}", "2.64")
        say("group after two boots", doc)
        _, doc = call("compute", "GET", "/v2.1/limits", "/v2.1/limits", "2.64")
        say("limits", {k: v for k, v in doc["limits"]["absolute"].items() if "Group" in k})
        # Description and metadata calls.
        path = f"/v2.1/servers/{server}"
        call("compute", "PUT", "/v2.1/servers/{id} (description)", path, "2.19",
             body={"server": {"description": "probe server, renamed"}})
        meta = path + "/metadata"
        for method, template, p, body in [
            ("GET", "/metadata", meta, None),
            ("POST", "/metadata", meta, {"metadata": {"tier": "db"}}),
            ("PUT", "/metadata", meta, {"metadata": {"role": "web", "a": "1"}}),
            ("PUT", "/metadata/{key}", meta + "/b", {"meta": {"b": "2"}}),
            ("PUT", "/metadata/{key} (mismatch)", meta + "/b", {"meta": {"c": "2"}}),
            ("GET", "/metadata/{key}", meta + "/b", None),
            ("DELETE", "/metadata/{key}", meta + "/a", None),
            ("DELETE", "/metadata/{key} (unknown)", meta + "/a", None),
            ("GET", "/metadata/{key} (unknown)", meta + "/a", None),
            ("POST", "/metadata (bad key)", meta, {"metadata": {"a/b": "1"}}),
        ]:
            status, doc = call("compute", method, "/v2.1/servers/{id}" + template, p, "2.1",
                               body=body)
            say(f"{method} {template}", [status, doc])
        # The snapshot and what it inherited.
        status, doc = call("compute", "POST", "/v2.1/servers/{id}/action (createImage)",
                           path + "/action", "2.45",
                           body={"createImage": {"name": "probe-snap-uefi",
                                                 "metadata": {"extra": "x"}}})
        snap = doc["image_id"]
        made["images"].append(snap)
        img = wait(f"/v2/images/{snap}", "image", lambda i: i.get("status") == "active")
        call("image", "GET", "/v2/images/{id} (snapshot of a booted image)",
             f"/v2/images/{snap}")
        say("snapshot", {k: v for k, v in img.items() if k not in (
            "id", "checksum", "os_hash_value", "created_at", "updated_at", "file", "self",
            "schema", "direct_url", "locations", "size", "virtual_size")})
    finally:
        for server in made["servers"]:
            cloud.call("compute", "DELETE", f"/v2.1/servers/{server}")
        for server in made["servers"]:
            wait(f"/v2.1/servers/{server}", "server", lambda s: False, timeout=60)
        for group in made["groups"]:
            cloud.call("compute", "DELETE", f"/v2.1/os-server-groups/{group}")
        for image in made["images"]:
            cloud.call("image", "DELETE", f"/v2/images/{image}")
    return records


# The referee's openstack CLI commands (devcloud/tests/referee.rs), in its order; each runs
# with --debug and every answer the CLI got is recorded. `{name}` is replaced by a value an
# earlier command printed (see run_cli); what the commands make is deleted afterwards.
PUBKEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKYe3XRTKXGCuCDZfUWc6Wmz2P66cLSSJwBXTZfst8K5 "
          "probe@s2d")
CLI = [
    ("provider", ["token", "issue"]),
    ("hospital", ["catalog", "list"]),
    ("provider", ["server", "list"]),
    ("provider", ["server", "show", "ehr-analytics"]),
    ("provider", ["keypair", "show", "alice-key"]),
    ("provider", ["keypair", "list"]),
    ("hospital", ["flavor", "list"]),
    ("hospital", ["network", "list"]),
    ("provider", ["security", "group", "list"]),
    ("provider", ["security", "group", "rule", "list", "analytics"]),
    ("hospital", ["security", "group", "rule", "list", "default"]),
    ("hospital", ["security", "group", "rule", "create", "--protocol", "tcp", "--dst-port",
                  "8443", "--remote-ip", "10.1.0.0/16", "default"]),
    ("provider", ["server", "image", "create", "--name", "probe-snap", "--wait",
                  "ehr-analytics"]),
    ("provider", ["image", "show", "probe-snap"]),
    ("provider", ["image", "list"]),
    ("provider", ["image", "save", "--file", "{dir}/snap.img", "probe-snap"]),
    ("hospital", ["keypair", "create", "--public-key", "{dir}/probe.pub", "probe-key"]),
    ("hospital", ["keypair", "show", "probe-key"]),
    ("hospital", ["image", "create", "--disk-format", "raw", "--container-format", "bare",
                  "--file", "{dir}/probe.pub", "probe-image"]),
    ("hospital", ["image", "show", "probe-image"]),
    ("hospital", ["server", "create", "--flavor", "m1.tiny", "--image", "probe-image",
                  "--network", "private", "--key-name", "probe-key", "--wait", "probe-vm"]),
    ("hospital", ["port", "list", "--server", "probe-vm"]),
    ("hospital", ["floating", "ip", "create", "public"]),
    ("hospital", ["floating", "ip", "list"]),
    ("hospital", ["floating", "ip", "set", "--port", "{port}", "{address}"]),
    ("hospital", ["floating", "ip", "show", "{address}"]),
    ("hospital", ["server", "show", "probe-vm"]),
    ("hospital", ["floating", "ip", "delete", "{address}"]),
    ("provider", ["usage", "show"]),
    ("provider-admin", ["usage", "list"]),
]
# Run afterwards (not recorded), also when a command above failed.
CLEANUP = [
    ("hospital", ["floating", "ip", "delete", "{address}"]),
    ("hospital", ["server", "delete", "--wait", "probe-vm"]),
    ("hospital", ["image", "delete", "probe-image"]),
    ("hospital", ["keypair", "delete", "probe-key"]),
    ("provider", ["image", "delete", "probe-snap"]),
    ("hospital", ["security", "group", "rule", "delete", "{rule}"]),
]

# Boot fidelity (issue 16) through the CLI, as the referee's boot test runs it.
BOOT_CLI = [
    ("provider", ["server", "group", "create", "--policy", "anti-affinity", "probe-group"]),
    ("provider", ["server", "group", "show", "probe-group"]),
    ("provider", ["image", "create", "--disk-format", "raw", "--container-format", "bare",
                  "--file", "{dir}/probe.pub", "--property", "hw_firmware_type=uefi",
                  "--property", "hw_machine_type=q35", "--property", "hw_disk_bus=scsi",
                  "--property", "hw_scsi_model=virtio-scsi", "--property", "os_distro=ubuntu",
                  "--property", "os_type=linux", "probe-uefi"]),
    ("provider", ["--os-compute-api-version", "2.90", "server", "create", "--flavor", "m1.tiny",
                  "--image", "probe-uefi", "--network", "private", "--property", "role=web",
                  "--tag", "web", "--tag", "prod", "--description", "probe server",
                  "--config-drive", "True", "--hint", "group={group}",
                  "--user-data", "{dir}/user-data.yaml", "--wait", "probe-web"]),
    ("provider", ["--os-compute-api-version", "2.90", "server", "show", "probe-web"]),
    ("provider", ["server", "group", "show", "probe-group"]),
    ("provider", ["server", "image", "create", "--name", "probe-snap-uefi", "--wait",
                  "probe-web"]),
    ("provider", ["image", "show", "probe-snap-uefi"]),
]
BOOT_CLEANUP = [
    ("provider", ["server", "delete", "--wait", "probe-web"]),
    ("provider", ["image", "delete", "probe-snap-uefi"]),
    ("provider", ["image", "delete", "probe-uefi"]),
    ("provider", ["server", "group", "delete", "probe-group"]),
]
CLI += BOOT_CLI
CLEANUP += BOOT_CLEANUP
# devcloud's referee test of issue 18's networks (its commands that succeed): a network built
# as s2d builds one, a port with a chosen address and MAC, a router with an interface, and the
# delete order.
NET_CLI = [
    ("provider", ["network", "create", "--mtu", "1400", "--description", "built",
                  "probe-refnet"]),
    ("provider", ["subnet", "create", "--network", "probe-refnet", "--subnet-range",
                  "10.77.0.0/24", "--allocation-pool", "start=10.77.0.10,end=10.77.0.50",
                  "--dns-nameserver", "10.0.0.53", "--host-route",
                  "destination=10.78.0.0/24,gateway=10.77.0.254", "--no-dhcp",
                  "probe-refsub"]),
    ("provider", ["port", "create", "--network", "probe-refnet", "--fixed-ip",
                  "subnet=probe-refsub,ip-address=10.77.0.20", "--mac-address",
                  "fa:16:3e:77:00:20", "--allowed-address", "ip-address=10.77.0.200",
                  "probe-refport"]),
    ("provider", ["router", "create", "--external-gateway", "public", "probe-refrouter"]),
    ("provider", ["router", "add", "subnet", "probe-refrouter", "probe-refsub"]),
    ("provider", ["router", "show", "probe-refrouter"]),
    ("provider", ["port", "show", "probe-refport"]),
    ("provider", ["router", "remove", "subnet", "probe-refrouter", "probe-refsub"]),
    ("provider", ["router", "delete", "probe-refrouter"]),
    ("provider", ["port", "delete", "probe-refport"]),
    ("provider", ["network", "delete", "probe-refnet"]),
]
NET_CLEANUP = [
    ("provider", ["router", "remove", "subnet", "probe-refrouter", "probe-refsub"]),
    ("provider", ["router", "delete", "probe-refrouter"]),
    ("provider", ["port", "delete", "probe-refport"]),
    ("provider", ["network", "delete", "probe-refnet"]),
]
CLI += NET_CLI
CLEANUP += NET_CLEANUP

REQ = re.compile(r"^REQ: curl -g -i (?:--insecure )?-X (\w+) \"?([^\" ]+)")
RESP = re.compile(r"^RESP: \[(\d+)\] (.*)$")
BODY = re.compile(r"^RESP BODY: (.*)$")


def run_cli(cli, clouds_yaml, clouds):
    """Every request/answer of the referee's commands, from the CLI's --debug log."""
    records = []
    roots = sorted(
        ((url, s) for name in {n for n, _ in CLI} for s, url in
         Cloud(clouds[name]).roots.items()),
        key=lambda r: -len(r[0]),
    )
    env = {"OS_CLIENT_CONFIG_FILE": str(clouds_yaml), "PATH": "/usr/bin:/bin"}
    work = tempfile.mkdtemp(prefix="s2d-probe-")
    pathlib.Path(work, "probe.pub").write_text(PUBKEY + "\n")
    pathlib.Path(work, "user-data.yaml").write_text("#cloud-config\npackages: [nginx]\n")
    values = {"dir": work}

    def osc(name, args, debug):
        args = [a.format(**values) for a in args]
        # Commands that print nothing take no output format.
        quiet = {"save", "set", "delete", "add", "remove"} & set(args[:4])
        return subprocess.run([cli, "--os-cloud", name, *(["--debug"] if debug else []),
                               *args, *([] if quiet else ["-f", "json"])],
                              capture_output=True, text=True, env=env, timeout=600)

    try:
        for name, args in CLI:
            out = osc(name, args, True)
            if out.returncode != 0:
                raise SystemExit(f"probe: openstack {' '.join(args)} failed:\n"
                                 f"{out.stderr[-3000:]}")
            remember(args, out.stdout, values)
            records.extend(parse_debug(out.stderr, roots))
    finally:
        for name, args in CLEANUP:
            try:
                osc(name, args, False)
            except KeyError:
                pass  # made nothing of that kind
        shutil.rmtree(work, ignore_errors=True)
    return records


def remember(args, stdout, values):
    """The values later commands name: the new rule's id, the server's port, the address."""
    try:
        doc = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        return
    if args[:4] == ["security", "group", "rule", "create"]:
        values["rule"] = doc["id"]
    elif args[:2] == ["port", "list"]:
        values["port"] = doc[0]["ID"]
    elif args[:3] == ["floating", "ip", "create"]:
        values["address"] = doc["floating_ip_address"]
    elif args[:3] == ["server", "group", "create"]:
        values["group"] = doc["id"]


def parse_debug(log, roots):
    records = []
    pending = None
    for line in log.splitlines():
        m = REQ.match(line)
        if m:
            pending = [m.group(1), m.group(2), None, None]
            continue
        m = RESP.match(line)
        if m and pending:
            pending[2] = int(m.group(1))
            pending[3] = re.findall(r"([A-Za-z-]+): ", m.group(2)), m.group(2)
            continue
        m = BODY.match(line)
        if m and pending and pending[2] is not None:
            method, url, status, (names, raw_headers) = pending
            pending = None
            body = m.group(1)
            if body.startswith("Omitted"):
                body = ""
            ctype = re.search(r"content-type: ([^ ]+)", raw_headers, re.IGNORECASE)
            headers = [("content-type", ctype.group(1) if ctype else "")]
            headers += [(n, "") for n in names if n.lower() in HEADERS]
            service, path = "?", url
            for root, s in roots:
                if url.startswith(root):
                    service, path = s, url[len(root):] or "/"
                    break
            records.append({
                "service": service,
                "method": method,
                "path": "cli " + template(path.split("?")[0]),
                "status": status,
                "shape": answer_shape(headers, body.encode()),
            })
    return records


ID = re.compile(r"^([0-9a-f]{32}|[0-9a-f-]{36}|[0-9]+|[0-9.]+|[0-9a-f:]+:[0-9a-f:]*)$")


def template(path):
    names = {"ehr-analytics", "alice-key", "ubuntu-22.04-base", "analytics", "default"}
    return "/".join("{id}" if ID.match(p) or p in names or p.startswith("probe-") else p
                    for p in path.split("/"))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("clouds_yaml")
    p.add_argument("out_dir")
    p.add_argument("--cloud", default="provider")
    p.add_argument("--admin", default="provider-admin")
    p.add_argument("--swift-cloud", default="hospital",
                   help="the cloud whose object store is probed")
    p.add_argument("--cli", default=None, help="the openstack CLI: also record the referee's calls")
    p.add_argument("--only", choices=["networks"], default=None,
                   help="only this part of the probe (to read its answers on stderr)")
    args = p.parse_args()
    clouds = read_clouds_yaml(args.clouds_yaml)
    cloud, admin = Cloud(clouds[args.cloud]), Cloud(clouds[args.admin])
    if args.only == "networks":
        records = networks(cloud, admin)
    else:
        records = run(cloud, admin, False) + run(cloud, admin, True)
        records += boot_fidelity(cloud, admin)
        records += networks(cloud, admin)
        records += object_store(Cloud(clouds[args.swift_cloud]))
    if args.cli:
        records += run_cli(args.cli, pathlib.Path(args.clouds_yaml).resolve(), clouds)
    out = pathlib.Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "probe.jsonl", "w") as f:
        for r in records:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    print(f"probe: {len(records)} answers recorded in {out / 'probe.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
