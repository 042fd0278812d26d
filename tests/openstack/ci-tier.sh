#!/usr/bin/env bash
# The real-OpenStack tier as CI runs it, after the fast tests (so the build is done and the
# clouds do not start during it):
#   1. the end-to-end scenarios (tests/e2e, and the web wizard's browser test tests/wizard.rs)
#      against devcloud, with every answer's shape recorded (S2D_RECORD_SHAPES); when
#      S2D_E2E_RECORD_SHAPES=DIR names the recordings of a run of the fast suite (.ci/run runs
#      tests/run.sh so: tests/e2e/harness.rs records each test binary into DIR/<binary>), the
#      scenarios are not run again: DIR/e2e and DIR/wizard are the devcloud side (without
#      DIR/e2e_faults and the other binaries' answers; the kill -9 trials there are the fast
#      suite's, S2D_E2E_KILL_TRIALS or 20, where this step runs 3);
#   2. both real clouds up (tier.sh), the same scenarios against them, recorded too (among
#      them the 50-server fleet, tests/e2e/fleet.rs, and boot fidelity, tests/e2e/boot.rs),
#      the wait for quota (quota-wait.sh), the Swift state backend's end-to-end tests
#      (tests/e2e_state_backends.rs, those named `swift`: the state in the hospital cloud's
#      real Swift, whose proxy one of them stops and restarts mid-apply; the PostgreSQL ones
#      ran in the fast suite), and the image transfer benchmark on them; the clouds are always
#      shut down;
#      Before the scenarios, Cinder's smoke (cinder-smoke.sh: image -> volume -> snapshot ->
#      volume -> image with the bytes compared, a server booted from a volume with a data
#      volume, its volume-backed snapshot, nothing left behind), then the probe (probe.py)
#      sends its error and discovery requests and the Swift backend's object-store requests, and runs the referee's openstack CLI
#      commands against a fresh devcloud and against the real clouds (the harness venv's CLI
#      for both), recorded the same way;
#   3. the fidelity report (fidelity.py): every difference between devcloud's and the real
#      services' answers must be explained in fidelity-explained.json.
# Prints how long bring-up and the tier took (tier.sh) and exits non-zero if anything failed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
shapes=$(mktemp -d)
trap 'rm -rf "$shapes"' EXIT
export S2D_OS_DISK_MB=${S2D_OS_DISK_MB:-16}

recorded=${S2D_E2E_RECORD_SHAPES:-}
unset S2D_E2E_RECORD_SHAPES # the runs below record with S2D_RECORD_SHAPES, into $shapes
if [ -n "$recorded" ] && compgen -G "$recorded/e2e/*.jsonl" >/dev/null \
  && compgen -G "$recorded/wizard/*.jsonl" >/dev/null; then
  echo "ci-tier: the scenarios against devcloud: answers recorded by the fast suite ($recorded)"
  mkdir -p "$shapes/devcloud"
  for bin in e2e wizard; do
    for f in "$recorded/$bin"/*.jsonl; do cp "$f" "$shapes/devcloud/$bin-${f##*/}"; done
  done
else
  [ -z "$recorded" ] || echo "ci-tier: no recordings of tests/e2e and tests/wizard.rs in $recorded" >&2
  echo "ci-tier: the scenarios against devcloud (answers recorded)"
  S2D_RECORD_SHAPES="$shapes/devcloud" S2D_E2E_KILL_TRIALS=3 \
    cargo test --locked --test e2e --test wizard
fi

# Built before the clouds start (two cores: no compiling while they run). The benchmark is
# built already when .ci/run's packaging/build-deb.sh built it with s2d (S2D_DEB_BUILD_ALSO).
# The debug build is the fast suite's (`cargo test --workspace`: after tests/run.sh nothing is
# compiled again): devcloud's binary (built for its tests) and e2e_state_backends among it.
# (`cargo build -p s2d-devcloud` would resolve the features for devcloud alone and compile
# tokio, hyper, axum, ... once more.)
cargo build --locked --release --example transfer_bench
cargo test --locked --workspace --no-run
target="$(cargo metadata -q --format-version 1 --no-deps \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
export S2D_CI_BENCH="$target/release/examples/transfer_bench"
export S2D_CI_DEVCLOUD="$target/debug/s2d-devcloud"

echo "ci-tier: the same scenarios against the real clouds, then the transfer benchmark there"
# One real tier at a time on a machine (fixed loopback ports): wait for another run's to end.
flock /tmp/s2d-tier.lock "$here/tier.sh" bash -c '
  set -e
  bash "'"$here"'/cinder-smoke.sh"
  # The probe, first against a fresh devcloud, then against the real clouds as seeded.
  mkdir -p "'"$shapes"'/dc"
  "$S2D_CI_DEVCLOUD" --clouds-yaml "'"$shapes"'/dc/clouds.yaml" \
    --ready-file "'"$shapes"'/dc/ready.json" --image-size 4MiB > "'"$shapes"'/dc/log" 2>&1 &
  dc=$!
  for _ in $(seq 100); do [ -s "'"$shapes"'/dc/ready.json" ] && break; sleep 0.1; done
  python3 "'"$here"'/probe.py" "'"$shapes"'/dc/clouds.yaml" "'"$shapes"'/devcloud" \
    --cli "$(command -v openstack)" || { kill $dc; exit 1; }
  kill $dc; wait $dc || true
  python3 "'"$here"'/probe.py" "$S2D_E2E_CLOUDS_YAML" "'"$shapes"'/openstack" \
    --cli "$(command -v openstack)"
  S2D_RECORD_SHAPES="'"$shapes"'/openstack" S2D_E2E_KILL_TRIALS=${S2D_E2E_KILL_TRIALS:-3} \
    cargo test --locked --test e2e --test wizard
  S2D_BIN="'"$target"'/debug/s2d" "'"$here"'/quota-wait.sh"
  # The two waves at once included: both snapshot ehr-analytics; the real Nova answers the
  # second createImage of one server with a 500 and leaves a queued image, which the engine
  # deletes and takes again (engine/openstack/source_servers.rs).
  cargo test --locked --test e2e_state_backends swift
  S2D_BENCH_CLOUDS_YAML="$S2D_E2E_CLOUDS_YAML" S2D_BENCH_IMAGE_MB=${S2D_BENCH_IMAGE_MB:-1024} \
    "$S2D_CI_BENCH"
'

echo "ci-tier: fidelity report"
python3 "$here/fidelity.py" "$shapes/devcloud" "$shapes/openstack" \
  --explained "$here/fidelity-explained.json"
