#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the state-backend tests, from Debian's `postgresql`
# package, on 127.0.0.1 only, trusting local connections, owned by the invoking user (or by
# `postgres` through runuser when run as root, since postgres refuses to run as root).
#
#   eval "$(bash tests/postgres.sh start DIR [PORT])"   # exports S2D_TEST_POSTGRES, S2D_TEST_PGCTL
#   bash tests/postgres.sh stop DIR
#
# S2D_TEST_POSTGRES is the URL the tests add `?name=...` to; S2D_TEST_PGCTL is a command
# the tests call with `stop` or `start` to take the server away mid-apply and bring it back.
set -euo pipefail
cmd=${1:?start|stop|restart DIR [PORT]}
dir=${2:?DIR}
port=${3:-55432}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "tests/postgres.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2
  exit 1
fi
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
ctl() {
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off" "$@" >&2
}
case "$cmd" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    if [ ! -d "$dir/data" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -U s2d -A trust -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    ctl start
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U s2d s2d 2>/dev/null || true
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    echo "export S2D_TEST_POSTGRES='postgres://s2d@127.0.0.1:$port/s2d'"
    echo "export S2D_TEST_PGCTL='bash $here/postgres.sh ctl $dir $port'"
    ;;
  ctl)
    # ctl DIR PORT stop|start: what the tests call.
    action=${4:?stop|start}
    if [ "$action" = stop ]; then ctl stop -m fast; else ctl start; fi
    ;;
  stop)
    ctl stop -m fast || true
    ;;
  *)
    echo "tests/postgres.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
