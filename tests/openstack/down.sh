#!/usr/bin/env bash
# tests/openstack/down.sh: stop exactly the processes tests/openstack/up.sh
# started, by the PIDs it recorded in $S2D_OS_RUN/pids/*.pid, together with
# the children each had when this script began (uwsgi and nova workers,
# RabbitMQ's beam.smp and its helpers). Nothing is looked up by name.
#
# Order: the OpenStack services of both clouds first, then RabbitMQ and epmd,
# MariaDB last. Each group gets SIGTERM, S2D_OS_STOP_GRACE seconds (default
# 20), then SIGKILL. State under $S2D_OS_RUN stays for reading the logs; the
# next up.sh wipes it. Re-runnable: with nothing recorded it does nothing.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=${S2D_OS_RUN:-$HERE/run}
GRACE=${S2D_OS_STOP_GRACE:-20}
PIDS=$RUN/pids
T0=$(date +%s.%N)

# MariaDB's data (in /dev/shm, i.e. memory, by default) is of no use once
# MariaDB is down; the logs stay in run/log. Only up.sh's marked directory.
drop_db_dir() {
  local dir
  [ -f "$RUN/mysql/db-dir" ] && [ ! -e "$PIDS/mysqld.pid" ] || return 0
  dir=$(cat "$RUN/mysql/db-dir")
  [ -n "$dir" ] && [ -e "$dir/.s2d-os-db" ] && rm -rf "$dir"
  rm -f "$RUN/mysql/db-dir"
}

if ! compgen -G "$PIDS/*.pid" > /dev/null; then
  drop_db_dir
  echo "down.sh: nothing recorded in $PIDS, nothing to stop"
  exit 0
fi

# A process whose parent exited stays a zombie until init reaps it, and
# `kill -0` succeeds on a zombie: read the state from /proc instead.
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
children_of() {  # every descendant of $1, from one snapshot of the process table
  ps -eo pid=,ppid= | awk -v root="$1" '
    { up[$1] = $2 }
    END {
      mine[root] = 1; grew = 1
      while (grew) { grew = 0
        for (p in up) if (!(p in mine) && (up[p] in mine)) { mine[p] = 1; grew = 1 } }
      for (p in mine) if (p != root) print p
    }'
}
stop() {  # stop <label> <recorded name>...
  local label=$1 name pid targets=() stopped=()
  shift
  for name in "$@"; do
    [ -f "$PIDS/$name.pid" ] || continue
    pid=$(cat "$PIDS/$name.pid")
    if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid"; then
      targets+=("$pid" $(children_of "$pid"))
      kill -TERM "$pid" 2> /dev/null
      stopped+=("$name")
    fi
  done
  if [ ${#targets[@]} -gt 0 ]; then
    local i p left=()
    for ((i = 0; i < GRACE * 10; i++)); do
      left=(); for p in "${targets[@]}"; do alive "$p" && left+=("$p"); done
      [ ${#left[@]} -eq 0 ] && break
      sleep 0.1
    done
    if [ ${#left[@]} -gt 0 ]; then
      # children that outlived their parent: TERM them, then KILL what is left
      for p in "${left[@]}"; do kill -TERM "$p" 2> /dev/null; done
      sleep 1
      for p in "${left[@]}"; do
        alive "$p" && { echo "down.sh: SIGKILL $p"; kill -KILL "$p" 2> /dev/null; }
      done
    fi
    printf 'down.sh: %s stopped (%s) at %s s\n' "$label" "${stopped[*]}" \
      "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
  fi
  for name in "$@"; do rm -f "$PIDS/$name.pid"; done
}

openstack=()
for f in "$PIDS"/*.pid; do
  name=$(basename "$f" .pid)
  case $name in mysqld | rabbitmq | epmd) ;; *) openstack+=("$name") ;; esac
done
# nova-compute first, so it does not log the API's disappearance at length
stop "nova-compute" $(printf '%s\n' "${openstack[@]}" | grep -- '-nova-compute$' || true)
stop "OpenStack services" "${openstack[@]}"
stop "RabbitMQ + epmd" rabbitmq epmd
stop "MariaDB" mysqld
drop_db_dir
echo "down.sh: done in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
