#!/usr/bin/env bash
# tests/openstack/tier.sh: the real-OpenStack test tier in one command.
# Brings both clouds up (up.sh), runs a command against them, and always
# brings them down again (down.sh, from an EXIT trap: also on failure or ^C).
# Prints how long bring-up and the command took. Exits with the command's
# status (or up.sh's when bring-up fails).
#
# Usage: tests/openstack/tier.sh [command args...]
#   default command, run from the repository root:
#     cargo test --workspace --locked --test e2e
# The command sees S2D_E2E_TARGET=openstack, S2D_E2E_CLOUDS_YAML and
# OS_CLIENT_CONFIG_FILE=<the clouds.yaml>, and the harness venv's bin/ (with
# `openstack`) first on PATH. Example:
#   tests/openstack/tier.sh openstack --os-cloud provider server list
# All of up.sh's S2D_OS_* settings apply.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export S2D_OS_RUN=${S2D_OS_RUN:-$HERE/run}
export S2D_OS_VENV=${S2D_OS_VENV:-$HERE/.venv}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
BRINGUP="" TIER=""
finish() {
  local rc=$?
  trap - EXIT INT TERM
  "$HERE/down.sh" || echo "tier.sh: down.sh failed" >&2
  echo "tier.sh: bring-up ${BRINGUP:-failed} s, tier ${TIER:-not run} s, exit $rc"
  exit $rc
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t=$(now)
"$HERE/up.sh" || exit $?
BRINGUP=$(secs "$t" "$(now)")
echo "tier.sh: both clouds up in $BRINGUP s"

export S2D_E2E_TARGET=openstack
export S2D_E2E_CLOUDS_YAML=$S2D_OS_RUN/clouds.yaml
export OS_CLIENT_CONFIG_FILE=$S2D_E2E_CLOUDS_YAML
export PATH=$S2D_OS_VENV/bin:$PATH
[ $# -gt 0 ] || set -- cargo test --workspace --locked --test e2e

t=$(now)
cd "$ROOT" && "$@"
rc=$?
TIER=$(secs "$t" "$(now)")
exit $rc
