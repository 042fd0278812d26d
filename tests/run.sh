#!/usr/bin/env bash
# s2d's test command (the one README.md gives): installs what the tests need when it is
# missing, then runs the whole suite of the workspace (s2d and devcloud).
#
#   bash tests/run.sh [extra cargo test arguments]
#
# Needs: cargo, python3 (with venv), openssl, and for a missing xmllint, qemu-img, chromium,
# chromedriver, man or PostgreSQL either root (apt-get) or a prior
# `apt-get install libxml2-utils qemu-utils chromium chromium-driver man-db postgresql`. Nothing here is skipped:
# a test whose tool is missing fails and says what to install.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# xmllint (the referee of the XML schema), qemu-img (disk format conversion), and headless
# Chromium with its driver (the web wizard's browser test, tests/wizard.rs).
missing=()
command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)
command -v qemu-img >/dev/null 2>&1 || missing+=(qemu-utils)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# man (with groff) renders the manual pages s2d writes (tests/release.rs).
command -v man >/dev/null 2>&1 || missing+=(man-db)
# PostgreSQL, the server of the state-backend tests (tests/e2e_state_backends.rs).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tests/run.sh: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "tests/run.sh: missing ${missing[*]}: install them (e.g. sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# python-openstackclient: the referee of devcloud's fidelity (devcloud/tests/referee.rs).
venv=${S2D_VENV:-$root/.venv}
if [ ! -x "$venv/bin/openstack" ]; then
  echo "tests/run.sh: installing python-openstackclient into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/referee-requirements.txt
fi
export S2D_OPENSTACK_CLI="$venv/bin/openstack"

# A throwaway PostgreSQL cluster on 127.0.0.1 for the state-backend tests, unless the caller
# names a server of its own in S2D_TEST_POSTGRES (its user must be able to create a schema).
if [ -z "${S2D_TEST_POSTGRES:-}" ]; then
  pgdir=$(mktemp -d /tmp/s2d-pg.XXXXXX)
  chmod 755 "$pgdir"
  eval "$(bash tests/postgres.sh start "$pgdir" "${S2D_TEST_PGPORT:-55432}")"
  trap 'bash tests/postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
fi

cargo test --workspace --locked "$@"
