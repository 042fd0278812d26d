#!/usr/bin/env bash
# s2d's test command (the one README.md gives): installs what the tests need when it is
# missing, then runs the whole suite of the workspace (s2d and devcloud).
#
#   bash tests/run.sh [extra cargo test arguments]
#
# Needs: cargo, python3 (with venv), and for a missing xmllint either root (apt-get) or a
# prior `apt-get install libxml2-utils`. Nothing here is skipped: a test whose tool is
# missing fails and says what to install.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# xmllint: the referee of the XML schema (tests/plan_xsd_agreement.rs).
if ! command -v xmllint >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tests/run.sh: installing libxml2-utils (xmllint)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libxml2-utils >/dev/null
  else
    echo "tests/run.sh: xmllint is missing: install libxml2-utils (e.g. sudo apt-get install libxml2-utils)" >&2
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

cargo test --workspace --locked "$@"
