#!/usr/bin/env bash
# tests/openstack/status.sh: which of the processes up.sh recorded are alive,
# and their memory (each with its children: uwsgi workers, nova workers,
# rabbitmq's beam). RSS counts shared pages once per process, so its sum
# overstates; PSS splits shared pages between the processes sharing them.
# Exit status 1 when a recorded process is gone.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=${S2D_OS_RUN:-$HERE/run}
[ -d "$RUN/pids" ] || { echo "no harness state in $RUN"; exit 1; }
exec python3 - "$RUN/pids" <<'PY'
import os, sys

piddir = sys.argv[1]
parent = {}
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            stat = open("/proc/%s/stat" % entry).read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            parent[int(entry)] = int(fields[1])

def tree(root):
    found = {root} if root in parent else set()
    grew = True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found

def kib(pid, path, key):
    try:
        for line in open("/proc/%d/%s" % (pid, path)):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0

totals = {}
dead = []
print("%-26s %8s %6s %9s %9s" % ("process", "pid", "procs", "RSS MiB", "PSS MiB"))
for name in sorted(os.listdir(piddir)):
    if not name.endswith(".pid"):
        continue
    label = name[:-4]
    pid = int(open(os.path.join(piddir, name)).read().strip() or 0)
    procs = tree(pid)
    if not procs:
        dead.append(label)
        print("%-26s %8d %6s" % (label, pid, "DEAD"))
        continue
    rss = sum(kib(p, "status", "VmRSS") for p in procs)
    pss = sum(kib(p, "smaps_rollup", "Pss") for p in procs)
    group = label.split("-")[0] if label.split("-")[0] in ("provider", "hospital") else "shared"
    t = totals.setdefault(group, [0, 0])
    t[0] += rss
    t[1] += pss
    print("%-26s %8d %6d %9.0f %9.0f" % (label, pid, len(procs), rss / 1024, pss / 1024))
for group, (rss, pss) in sorted(totals.items()):
    print("%-26s %8s %6s %9.0f %9.0f" % ("subtotal " + group, "", "", rss / 1024, pss / 1024))
rss = sum(t[0] for t in totals.values())
pss = sum(t[1] for t in totals.values())
print("TOTAL RSS %.0f MiB, PSS %.0f MiB%s" % (rss / 1024, pss / 1024,
      (", DEAD: " + " ".join(dead)) if dead else ""))
sys.exit(1 if dead else 0)
PY
