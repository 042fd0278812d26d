#!/usr/bin/env bash
# The main job, end to end, on the built-in test clouds: start devcloud (the `provider` and
# `hospital` clouds on loopback), then run s2d on plans/quickstart.toml as a user would:
# validate -> plan -> apply -> plan (no changes) -> usage -> destroy. Exits non-zero if any
# step does not do what it should. Needs only a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q --locked --workspace --bins
bin="$(cargo metadata -q --format-version 1 --no-deps \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug"

work="$(mktemp -d)"
dc_pid=""
cleanup() {
  if [ -n "$dc_pid" ]; then kill "$dc_pid" 2>/dev/null || true; wait "$dc_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/s2d-devcloud" --clouds-yaml "$work/clouds.yaml" --ready-file "$work/ready.json" \
  --image-size 64MiB >"$work/devcloud.log" 2>&1 &
dc_pid=$!
for _ in $(seq 100); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
[ -s "$work/ready.json" ] || { echo "devcloud did not start:"; cat "$work/devcloud.log"; exit 1; }

cp plans/quickstart.toml "$work/"
cd "$work"
export OS_CLIENT_CONFIG_FILE="$work/clouds.yaml"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step s2d validate quickstart.toml
"$bin/s2d" validate quickstart.toml
step s2d plan quickstart.toml
"$bin/s2d" plan quickstart.toml
step s2d apply quickstart.toml --auto-approve
"$bin/s2d" apply quickstart.toml --auto-approve
step s2d plan quickstart.toml --detailed-exitcode
"$bin/s2d" plan quickstart.toml --detailed-exitcode
step s2d usage quickstart.toml --managed
"$bin/s2d" usage quickstart.toml --managed
step s2d destroy quickstart.toml --auto-approve
"$bin/s2d" destroy quickstart.toml --auto-approve
printf '\nThe quickstart ran end to end: the server was moved, checked and rolled back.\n'
