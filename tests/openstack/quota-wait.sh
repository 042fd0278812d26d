#!/usr/bin/env bash
# The wait for quota against the real clouds: the quickstart plan is saved while the hospital
# has room, then its admin sets the research project's Nova `instances` quota to 0 and its
# Neutron `floating-ips` quota to what it uses (Neutron refuses less), as if other users took
# the room. `s2d apply SAVED` must say once
# per step that it waits for quota (Nova's 403, Neutron's 409 as these services word them),
# go on as each quota is raised again, and finish with exactly one server and one floating IP;
# then destroy leaves nothing behind.
#
# Run inside the tier (it needs the harness's clouds.yaml and `openstack`):
#   flock /tmp/s2d-tier.lock tests/openstack/tier.sh tests/openstack/quota-wait.sh
# S2D_BIN names the s2d binary (default: target/debug/s2d, built by `cargo build`).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
S2D=${S2D_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/s2d}
[ -x "$S2D" ] || { echo "quota-wait.sh: no s2d binary at $S2D (cargo build first)" >&2; exit 1; }
: "${OS_CLIENT_CONFIG_FILE:?run inside tests/openstack/tier.sh}"
WORK=$(mktemp -d)
APPLY_PID=""
cleanup() {
  [ -n "$APPLY_PID" ] && kill "$APPLY_PID" 2>/dev/null || true
  openstack --os-cloud hospital-admin quota set --instances -1 --floating-ips -1 research >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cp "$ROOT/plans/quickstart.toml" "$WORK/"
cd "$WORK"
export NO_COLOR=1

wait_line() { # pattern, within seconds
  local deadline=$((SECONDS + $2))
  until grep -q -- "$1" apply.err; do
    if ! kill -0 "$APPLY_PID" 2>/dev/null; then
      echo "quota-wait.sh: apply ended before: $1" >&2; cat apply.err >&2; exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "quota-wait.sh: no line $1 within $2 s" >&2; cat apply.err >&2; exit 1
    fi
    sleep 0.2
  done
}

"$S2D" plan quickstart.toml --out saved.json >/dev/null
used_fips=$(openstack --os-cloud hospital floating ip list -f value -c ID | wc -l)
openstack --os-cloud hospital-admin quota set --instances 0 --floating-ips "$used_fips" research
started=$SECONDS
"$S2D" apply saved.json >apply.out 2>apply.err &
APPLY_PID=$!
wait_line "server.ehr-analytics: waiting for quota" 300
openstack --os-cloud hospital-admin quota set --instances -1 research
wait_line "floating_ip.ehr-analytics: waiting for quota" 300
openstack --os-cloud hospital-admin quota set --floating-ips -1 research
rc=0
wait "$APPLY_PID" || rc=$?
APPLY_PID=""
echo "--- what apply said about quota:"
grep "waiting for quota" apply.err
[ "$rc" -eq 0 ] || { echo "quota-wait.sh: apply exited $rc" >&2; cat apply.err >&2; exit 1; }
for address in server.ehr-analytics floating_ip.ehr-analytics; do
  n=$(grep -c "^$address: waiting for quota" apply.err)
  [ "$n" -eq 1 ] || { echo "quota-wait.sh: $address told its wait $n times" >&2; exit 1; }
done
grep -q "Quota exceeded for instances" apply.err || { echo "quota-wait.sh: Nova's refusal not shown" >&2; exit 1; }
grep -q "OverQuota" apply.err || { echo "quota-wait.sh: Neutron's refusal not shown" >&2; exit 1; }
servers=$(openstack --os-cloud hospital server list --name '^ehr-analytics$' -f value -c ID | wc -l)
[ "$servers" -eq 1 ] || { echo "quota-wait.sh: $servers servers named ehr-analytics" >&2; exit 1; }
echo "apply with two quota waits: $((SECONDS - started)) s"
"$S2D" plan quickstart.toml --detailed-exitcode >/dev/null
"$S2D" destroy quickstart.toml --auto-approve >/dev/null 2>destroy.err || { cat destroy.err >&2; exit 1; }
echo "quota-wait.sh: ok"
