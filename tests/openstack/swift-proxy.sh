#!/usr/bin/env bash
# tests/openstack/swift-proxy.sh stop|start [CLOUD]: take the Swift proxy of one harness
# cloud (default hospital) away and bring it back, as a test does to lose the object store
# in the middle of an apply (tests/e2e_state_backends.rs). The account, container and
# object servers keep running, so the objects stay.
#
#   stop    SIGTERM to the PID up.sh recorded in $S2D_OS_RUN/pids/CLOUD-swift-proxy.pid
#           (SIGKILL after 10 s), returns once its port refuses connections
#   start   starts the proxy again as up.sh did (same configuration, log appended to
#           $S2D_OS_RUN/log/CLOUD-swift-proxy.out), rewrites the PID file (so down.sh
#           stops the new one), returns once /healthcheck answers
#
# S2D_OS_RUN and S2D_OS_VENV as for up.sh (tier.sh exports both).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=${S2D_OS_RUN:-$HERE/run}
VENV=${S2D_OS_VENV:-$HERE/.venv}
action=${1:-}
cloud=${2:-hospital}
conf=$RUN/$cloud/etc/swift/proxy-server.conf
pidfile=$RUN/pids/$cloud-swift-proxy.pid
die() { echo "swift-proxy.sh: $*" >&2; exit 1; }
[ -f "$conf" ] || die "no Swift in $cloud ($conf is missing: is the harness up, with $cloud in S2D_OS_SWIFT_CLOUDS?)"
port=$(sed -n 's/^bind_port *= *//p' "$conf")
host=$(sed -n 's/^bind_ip *= *//p' "$conf")

alive() { [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat")" != Z ]; }
answers() { curl -s -o /dev/null --max-time 1 "http://$host:$port/healthcheck"; }

case $action in
  stop)
    pid=$(cat "$pidfile" 2> /dev/null || true)
    alive "$pid" || die "the $cloud Swift proxy is not running"
    kill -TERM "$pid"
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid"
    for _ in $(seq 50); do answers || break; sleep 0.1; done
    answers && die "something still answers on $host:$port"
    echo "swift-proxy.sh: $cloud's Swift proxy ($host:$port, pid $pid) stopped"
    ;;
  start)
    pid=$(cat "$pidfile" 2> /dev/null || true)
    alive "$pid" && die "the $cloud Swift proxy is running already (pid $pid)"
    PYTHONWARNINGS=ignore setsid "$VENV/bin/swift-proxy-server" "$conf" --verbose \
      >> "$RUN/log/$cloud-swift-proxy.out" 2>&1 < /dev/null &
    echo $! > "$pidfile"
    for _ in $(seq 200); do answers && break; sleep 0.1; done
    answers || die "the $cloud Swift proxy did not answer within 20 s, see $RUN/log/$cloud-swift-proxy.out"
    echo "swift-proxy.sh: $cloud's Swift proxy ($host:$port, pid $!) answers again"
    ;;
  *)
    echo "usage: swift-proxy.sh stop|start [CLOUD]" >&2
    exit 2
    ;;
esac
