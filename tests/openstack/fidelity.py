#!/usr/bin/env python3
"""The fidelity report: does devcloud answer s2d's calls as real OpenStack does?

Both directories hold the JSON lines that s2d's client writes with S2D_RECORD_SHAPES=DIR
(src/cloud/shapes.rs): one line per answer with service, method, path template, status and
the body's shape (keys and value types, never values). The same end-to-end tests ran once
against devcloud and once against the real clouds, so the same calls were made.

    fidelity.py DEVCLOUD_DIR OPENSTACK_DIR [--explained FILE] [--out REPORT.md]

For every call (service, method, path) made against both, it compares the statuses and the
shapes, key by key. Each difference must be listed in the explained file (JSON: a list of
{"service", "method", "path", "field", "kind", "reason"}; "field" and "path" may end in "*"),
else it is unexplained and the exit status is 1. Calls made against only one side are listed
too (a different call sequence is a difference as well).
"""

import argparse
import fnmatch
import json
import pathlib
import re
import sys


def load(directory):
    calls = {}
    for path in sorted(pathlib.Path(directory).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            key = (r["service"], r["method"], r["path"])
            entry = calls.setdefault(key, {"statuses": set(), "shapes": {}})
            entry["statuses"].add(r["status"])
            old = entry["shapes"].get(r["status"])
            entry["shapes"][r["status"]] = r["shape"] if old is None else merge(old, r["shape"])
    return calls


def merge(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if k in out else v
        return out
    if isinstance(a, list) and isinstance(b, list):
        if a and b:
            return [merge(a[0], b[0])]
        return a or b
    if a == b:
        return a
    kinds = set()
    for v in (a, b):
        kinds.update(v.split("|") if isinstance(v, str) else [json.dumps(v, sort_keys=True)])
    return "|".join(sorted(kinds))


def kind_of(shape):
    """A shape's type(s), `|`-joined; merged shapes spelled as JSON text read as their kind."""
    if isinstance(shape, dict):
        return "object"
    if isinstance(shape, list):
        return "array"
    kinds = set()
    for k in str(shape).split("|"):
        kinds.add("object" if k.startswith("{") else "array" if k.startswith("[") else k)
    return "|".join(sorted(kinds))


def nullable_only(a, b):
    """Types that differ only in null: an optional value that one run did not set."""
    x, y = set(a.split("|")) - {"null"}, set(b.split("|")) - {"null"}
    return x == y or not x or not y


def compare(a, b, path=""):
    """Differences between two shapes: (field, kind, devcloud, openstack)."""
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            field = f"{path}.{k}" if path else k
            if k not in b:
                out.append((field, "devcloud only", kind_of(a[k]), "-"))
            elif k not in a:
                out.append((field, "openstack only", "-", kind_of(b[k])))
            else:
                out.extend(compare(a[k], b[k], field))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if a and b:
            return compare(a[0], b[0], path + "[]")
        return []  # an empty list on one side says nothing about its elements
    ta, tb = kind_of(a), kind_of(b)
    if ta != tb:
        kind = "nullable" if nullable_only(ta, tb) else "type"
        out.append((path or "(body)", kind, ta, tb))
    return out


def explained(rules, service, method, path, field, kind):
    """The reason of the first rule that matches; the probe's answers (tests/openstack/probe.py)
    also match the rules written for s2d's own calls: a path `cli /x` as `/x` and a field
    `200 body.x` as `200 x`."""
    reason = first_rule(rules, service, method, path, field, kind)
    if reason is None and path.startswith("cli "):
        bare = re.sub(r"^(\d+) body\.", r"\1 ", field)
        reason = first_rule(rules, service, method, path[4:], bare, kind)
    return reason


def first_rule(rules, service, method, path, field, kind):
    for r in rules:
        if r.get("service", "*") not in ("*", service):
            continue
        if r.get("method", "*") not in ("*", method):
            continue
        if not fnmatch.fnmatchcase(path, r.get("path", "*")):
            continue
        if not fnmatch.fnmatchcase(field, r.get("field", "*")):
            continue
        if r.get("kind", "*") not in ("*", kind):
            continue
        return r["reason"]
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("devcloud")
    p.add_argument("openstack")
    p.add_argument("--explained", default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    dev, real = load(args.devcloud), load(args.openstack)
    if not dev or not real:
        print("fidelity: no recorded answers on one side", file=sys.stderr)
        return 1
    rules = json.loads(pathlib.Path(args.explained).read_text()) if args.explained else []
    rows, unexplained = [], 0

    def add(service, method, path, field, kind, d, o):
        nonlocal unexplained
        reason = explained(rules, service, method, path, field, kind)
        if reason is None:
            unexplained += 1
        rows.append((service, method, path, field, kind, str(d), str(o), reason or "**UNEXPLAINED**"))

    both = sorted(set(dev) & set(real))
    for key in sorted(set(dev) | set(real)):
        service, method, path = key
        if key not in real:
            add(service, method, path, "(call)", "devcloud only", sorted(dev[key]["statuses"]), "-")
            continue
        if key not in dev:
            add(service, method, path, "(call)", "openstack only", "-", sorted(real[key]["statuses"]))
            continue
        d, o = dev[key], real[key]
        if d["statuses"] != o["statuses"]:
            add(service, method, path, "(status)", "status", sorted(d["statuses"]), sorted(o["statuses"]))
        for status in sorted(d["statuses"] & o["statuses"]):
            for field, kind, dv, ov in compare(d["shapes"][status], o["shapes"][status]):
                add(service, method, path, f"{status} {field}", kind, dv, ov)

    lines = [
        "# devcloud fidelity report",
        "",
        f"{len(both)} calls made against both, {len(set(dev) - set(real))} only against devcloud, "
        f"{len(set(real) - set(dev))} only against OpenStack; {len(rows)} differences, "
        f"{unexplained} unexplained.",
        "",
        "| service | method | path | field | difference | devcloud | OpenStack | reason |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    text = "\n".join(lines) + "\n"
    if args.out:
        pathlib.Path(args.out).write_text(text)
    print(text)
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
