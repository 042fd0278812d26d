#!/usr/bin/env bash
# tests/openstack/check.sh: prove, with the real `openstack` CLI, that the two
# clouds up.sh started are usable for s2d: tokens, the seeded server, keypair
# and security group in `provider`, a snapshot whose bytes download intact,
# networks and a floating IP in `hospital`, matching flavors, usage. Cleans
# up what it creates. Prints one line per check; exit 1 if any failed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=${S2D_OS_RUN:-$HERE/run}
VENV=${S2D_OS_VENV:-$HERE/.venv}
export OS_CLIENT_CONFIG_FILE=${S2D_E2E_CLOUDS_YAML:-$RUN/clouds.yaml}
export PYTHONWARNINGS=ignore
OS=("$VENV/bin/openstack")
[ -f "$OS_CLIENT_CONFIG_FILE" ] || { echo "check.sh: no $OS_CLIENT_CONFIG_FILE (run up.sh first)" >&2; exit 1; }

passed=0 failed=0
T0=$(date +%s)
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
os() { "${OS[@]}" "$@" 2> /tmp/s2d-os-check.$$.err; }
expect() {  # expect <description> <expected substring> <actual>
  if [[ $3 == *"$2"* ]]; then ok "$1"; else bad "$1: expected '$2' in: $(echo "$3" | head -c 400) $(head -c 400 /tmp/s2d-os-check.$$.err)"; fi
}

for c in provider hospital provider-admin hospital-admin; do
  out=$(os --os-cloud "$c" token issue -f value -c expires)
  expect "token issue ($c)" "T" "$out"
done

out=$(os --os-cloud provider server list -f value -c Name -c Status)
expect "provider: server ehr-analytics ACTIVE" "ehr-analytics ACTIVE" "$out"
out=$(os --os-cloud provider server show ehr-analytics -f json -c key_name -c security_groups -c flavor)
expect "provider: ehr-analytics has keypair alice-key" '"key_name": "alice-key"' "$out"
expect "provider: ehr-analytics in group analytics" '"name": "analytics"' "$out"
out=$(os --os-cloud provider keypair list -f value -c Name)
expect "provider: keypair list" "alice-key" "$out"
out=$(os --os-cloud provider security group rule list analytics -f value -c "IP Protocol" -c "Port Range" -c Direction)
expect "provider: analytics allows tcp 22" "tcp 22:22 ingress" "$out"
expect "provider: analytics allows tcp 443" "tcp 443:443 ingress" "$out"

snap=check-snap-$$
start=$(date +%s.%N)
out=$(os --os-cloud provider server image create --name "$snap" --wait ehr-analytics -f value -c status)
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
expect "provider: server image create --wait (${secs} s)" "active" "$out"
want=$(os --os-cloud provider image show "$snap" -f value -c checksum -c size | tr '\n' ' ')
file=$(mktemp)
os --os-cloud provider image save --file "$file" "$snap"
got="$(md5sum < "$file" | cut -d' ' -f1) $(stat -c %s "$file") "
rm -f "$file"
if [ -n "${want// /}" ] && [ "$want" = "$got" ]; then
  ok "provider: image save gives the snapshot's bytes (md5, size: $want)"
else
  bad "provider: image save: Glance says '$want', downloaded '$got'"
fi
os --os-cloud provider image delete "$snap" || bad "provider: image delete $snap"

out=$(os --os-cloud hospital network list -f value -c Name)
expect "hospital: network private" "private" "$out"
expect "hospital: network public" "public" "$out"
fip=$(os --os-cloud hospital floating ip create public -f value -c id)
out=$([ -n "$fip" ] && os --os-cloud hospital floating ip show "$fip" -f value -c floating_ip_address)
expect "hospital: floating ip create public ($out)" "203.0.113." "$out"
[ -n "$fip" ] && { os --os-cloud hospital floating ip delete "$fip" || bad "hospital: floating ip delete"; }
out=$(os --os-cloud hospital router list -f value -c Name)
expect "hospital: router1" "router1" "$out"

p=$(os --os-cloud provider flavor list -f value -c Name -c RAM -c Disk -c VCPUs | sort)
h=$(os --os-cloud hospital flavor list -f value -c Name -c RAM -c Disk -c VCPUs | sort)
if [ -n "$p" ] && [ "$p" = "$h" ]; then ok "flavors match in both clouds ($(echo "$p" | awk '{print $1}' | tr '\n' ' '))"
else bad "flavors differ: provider [$p] hospital [$h]"; fi
expect "provider: flavor m1.small" "m1.small 2048 20" "$p"

out=$(os --os-cloud provider usage show -f value -c Servers)
expect "provider: usage show counts the server" "1" "$out"

rm -f /tmp/s2d-os-check.$$.err
echo "check.sh: $passed passed, $failed failed in $(($(date +%s) - T0)) s"
[ "$failed" = 0 ]
