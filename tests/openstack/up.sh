#!/usr/bin/env bash
# tests/openstack/up.sh: bring up two real, independent OpenStack clouds on
# loopback for s2d's tests: `provider` and `hospital`, each with its own
# Keystone, Glance, Placement, Nova, Neutron and Cinder (2026.2 series, from PyPI,
# one shared venv), one shared MariaDB (unix socket only) and one shared
# RabbitMQ node (one vhost per cloud), both from Debian. No hypervisor and no
# network agents and no storage: three TEST-ONLY plug-ins (plugins/) stand in
# for them (Cinder's volumes are sparse files under <run>/<cloud>/data/cinder).
#
# The clouds in S2D_OS_SWIFT_CLOUDS (default: hospital) also get a real Swift
# (2.38, from PyPI): a proxy with keystonemiddleware against that cloud's
# Keystone, one account, container and object server, rings of one replica,
# the devices in memory beside MariaDB's data, and `object-store` in the catalog.
#
# Usage:  tests/openstack/up.sh          (as root: apt, MariaDB run as root)
#         tests/openstack/down.sh        stops exactly what up.sh started
# Prints the path of the clouds.yaml it writes (entries provider, hospital,
# provider-admin, hospital-admin). Re-runnable: a running harness is stopped
# and its state wiped first; the venv is kept while its inputs are unchanged.
# See README.md for what gets provisioned, timings, memory and pitfalls.
#
# Environment (all optional):
#   S2D_OS_RUN        state, configs, logs, pids, clouds.yaml  [tests/openstack/run]
#   S2D_OS_VENV       the venv                                  [tests/openstack/.venv]
#   S2D_OS_DISK_MB    size of a server's snapshot-able disk      [64]
#   S2D_OS_DB_DIR     MariaDB's data and Swift's devices (swift/<cloud>/d1)
#                     [/dev/shm/s2d-os-<hash of S2D_OS_RUN>, or S2D_OS_RUN/mysql/data
#                     when /dev/shm is not a writable tmpfs]
#   S2D_OS_SWIFT_CLOUDS  the clouds that get a Swift               [hospital]
#                     ("provider hospital": both; "": none)
#   S2D_OS_PROVIDER_PORT_OFFSET / S2D_OS_HOSPITAL_PORT_OFFSET   [10000 / 20000]
#                     added to the usual ports (keystone 5000, glance 9292,
#                     placement 8778, nova 8774, neutron 9696, cinder 8776, swift proxy 8080,
#                     its object, container and account servers 6200, 6201, 6202)
#   S2D_OS_RABBIT_PORT, S2D_OS_RABBIT_DIST_PORT, S2D_OS_EPMD_PORT [15672, 26672, 14369]
#   S2D_OS_KEEP_ON_FAIL=1   leave processes running when up.sh fails (debugging)
#   PYTHON            interpreter for the venv                   [python3]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=${S2D_OS_RUN:-$HERE/run}
VENV=${S2D_OS_VENV:-$HERE/.venv}
PYTHON=${PYTHON:-python3}
HOST=127.0.0.1
DISK_MB=${S2D_OS_DISK_MB:-64}
PROVIDER_OFFSET=${S2D_OS_PROVIDER_PORT_OFFSET:-10000}
HOSPITAL_OFFSET=${S2D_OS_HOSPITAL_PORT_OFFSET:-20000}
RABBIT_PORT=${S2D_OS_RABBIT_PORT:-15672}
RABBIT_DIST_PORT=${S2D_OS_RABBIT_DIST_PORT:-26672}
EPMD_PORT=${S2D_OS_EPMD_PORT:-14369}
RABBIT_NODE=s2d-os@localhost
CLOUDS="provider hospital"
SWIFT_CLOUDS=${S2D_OS_SWIFT_CLOUDS-hospital}
for c in $SWIFT_CLOUDS; do
  case $c in provider | hospital) ;; *) echo "up.sh: S2D_OS_SWIFT_CLOUDS: no cloud $c" >&2; exit 2 ;; esac
done
has_swift() { [[ " $SWIFT_CLOUDS " == *" $1 "* ]]; }
# Throwaway clouds: fixed, documented passwords (also in the clouds.yaml).
SVC_PW=s2d-service-secret
ADMIN_PW=admin-secret
BIN=$VENV/bin
SOCK=$RUN/mysql/mysqld.sock
export PYTHONWARNINGS=ignore   # every service prints eventlet/pkg_resources banners

[[ $DISK_MB =~ ^[0-9]+$ ]] || { echo "up.sh: S2D_OS_DISK_MB must be a whole number of MiB" >&2; exit 2; }

T0=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '[up %6ss] %s\n' "$(since "$T0")" "$*"; }
die() { echo "up.sh: $*" >&2; exit 1; }
STEP_T=$T0
step_done() {  # step_done <label>: time since the previous step, to timings.txt
  printf '%-40s %6s s\n' "$1" "$(since "$STEP_T")" >> "$RUN/timings.txt"
  STEP_T=$(date +%s.%N)
}

on_exit() {
  local rc=$?
  if [ $rc -ne 0 ] && [ -d "$RUN/pids" ]; then
    if [ "${S2D_OS_KEEP_ON_FAIL:-0}" = 1 ]; then
      echo "up.sh: failed (rc=$rc); processes kept (S2D_OS_KEEP_ON_FAIL=1), logs in $RUN/log" >&2
    else
      echo "up.sh: failed (rc=$rc); logs in $RUN/log and $RUN/*/log; stopping what it started" >&2
      S2D_OS_RUN=$RUN "$HERE/down.sh" >&2 || true
    fi
  fi
}
trap on_exit EXIT

port_of() {  # port_of <cloud> <service>
  local base off
  case $2 in
    keystone) base=5000 ;; glance) base=9292 ;; placement) base=8778 ;;
    nova) base=8774 ;; neutron) base=9696 ;; cinder) base=8776 ;; swift) base=8080 ;;
    swift-object) base=6200 ;; swift-container) base=6201 ;; swift-account) base=6202 ;;
    *) die "no port for $2" ;;
  esac
  case $1 in provider) off=$PROVIDER_OFFSET ;; hospital) off=$HOSPITAL_OFFSET ;; esac
  echo $((base + off))
}

# ------------------------------------------------------------ start over ----
STOPPED_PREVIOUS=0
if compgen -G "$RUN/pids/*.pid" > /dev/null; then
  say "stopping the harness that is still running"
  S2D_OS_RUN=$RUN "$HERE/down.sh"
  STOPPED_PREVIOUS=1
fi
rm -rf "$RUN"
mkdir -p "$RUN"/{pids,log,mysql,rabbitmq/home,rabbitmq/mnesia,rabbitmq/log,keys}
# MariaDB's data in memory: the schema migrations are mostly DDL, and on disk
# each statement waits for file creation and fsync. Neutron's migration took
# 22 s on disk (17 s with every fsync-avoiding InnoDB setting), 6 s on tmpfs.
if [ -n "${S2D_OS_DB_DIR:-}" ]; then
  DB_DIR=$S2D_OS_DB_DIR
elif [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
  DB_DIR=/dev/shm/s2d-os-$(echo "$RUN" | sha256sum | cut -c1-12)
else
  DB_DIR=$RUN/mysql/data
fi
# Only a directory carrying our marker is ever removed.
if [ -e "$DB_DIR" ] && [ -n "$(ls -A "$DB_DIR" 2>/dev/null)" ] && [ ! -e "$DB_DIR/.s2d-os-db" ]; then
  die "S2D_OS_DB_DIR $DB_DIR is not empty and not made by up.sh; refusing to wipe it"
fi
rm -rf "$DB_DIR"
mkdir -p "$DB_DIR/data"
: > "$DB_DIR/.s2d-os-db"
echo "$DB_DIR" > "$RUN/mysql/db-dir"   # down.sh removes it after stopping MariaDB
if [ -n "$SWIFT_CLOUDS" ]; then
  # Swift keeps an object's metadata in user.* extended attributes of its file.
  mkdir -p "$DB_DIR/swift"
  "$PYTHON" -c 'import os, sys; f = sys.argv[1] + "/.xattr"; open(f, "w").close(); os.setxattr(f, "user.s2d", b"x" * 254); os.remove(f)' "$DB_DIR/swift" ||
    die "$DB_DIR does not take user.* extended attributes, which Swift needs (set S2D_OS_DB_DIR elsewhere)"
fi
: > "$RUN/timings.txt"
[ $STOPPED_PREVIOUS = 1 ] && step_done "stop the previous harness"

# Every port must be free on 127.0.0.1 before anything starts: a clash shows
# up here as one clear line instead of a service dying later.
PORTS=("$RABBIT_PORT" "$RABBIT_DIST_PORT" "$EPMD_PORT")
for c in $CLOUDS; do for s in keystone glance placement nova neutron cinder; do PORTS+=("$(port_of "$c" "$s")"); done; done
for c in $SWIFT_CLOUDS; do for s in swift swift-object swift-container swift-account; do PORTS+=("$(port_of "$c" "$s")"); done; done
"$PYTHON" - "${PORTS[@]}" <<'PY' || die "ports in use (set S2D_OS_*_PORT_OFFSET / S2D_OS_*_PORT to move them)"
import socket, sys
busy = []
for port in map(int, sys.argv[1:]):
    s = socket.socket()
    # as servers do: connections in TIME_WAIT from a previous run don't count
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        busy.append(port)
    finally:
        s.close()
if busy:
    sys.exit("up.sh: busy on 127.0.0.1: %s" % " ".join(map(str, busy)))
PY
step_done "wipe run/, port check"

# --------------------------------------------------------- Debian packages ---
MISSING=()
# qemu-utils: qemu-img, which Cinder's image_utils (image <-> volume) and the fake
# Nova driver's non-raw snapshots run
for p in mariadb-server rabbitmq-server qemu-utils; do dpkg -s "$p" > /dev/null 2>&1 || MISSING+=("$p"); done
if [ ${#MISSING[@]} -gt 0 ]; then
  say "apt-get install ${MISSING[*]}"
  # The packages' maintainer scripts would start system-wide daemons
  # (RabbitMQ and epmd on every address, MariaDB on :3306). A policy-rc.d
  # that exits 101 forbids that; the harness runs its own instances.
  OWN_POLICY=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# tests/openstack/up.sh: no daemons from apt\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d; OWN_POLICY=1
  fi
  { apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${MISSING[@]}"
  } > "$RUN/log/apt.log" 2>&1 || { [ $OWN_POLICY = 1 ] && rm -f /usr/sbin/policy-rc.d; die "apt-get failed, see $RUN/log/apt.log"; }
  [ $OWN_POLICY = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
step_done "apt packages"

# -------------------------------------------------------------------- venv ---
VENV_STAMP=$( { cat "$HERE/constraints.txt"; "$PYTHON" -VV; } | sha256sum | cut -c1-16)
if [ "$(cat "$VENV/.s2d-stamp" 2>/dev/null)" != "$VENV_STAMP" ]; then
  say "venv $VENV: pip install (about a minute)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  { "$BIN/pip" install -q --upgrade pip setuptools wheel &&
    "$BIN/pip" install -c "$HERE/constraints.txt" keystone glance openstack-placement nova \
      neutron cinder swift python-openstackclient uwsgi PyMySQL
  } > "$RUN/log/pip.log" 2>&1 || die "pip install failed, see $RUN/log/pip.log"
  echo "$VENV_STAMP" > "$VENV/.s2d-stamp"
fi
PLUGIN_STAMP=$(cat "$HERE/plugins/pyproject.toml" "$HERE"/plugins/s2d_os_plugins/*.py | sha256sum | cut -c1-16)
if [ "$(cat "$VENV/.s2d-plugins-stamp" 2>/dev/null)" != "$PLUGIN_STAMP" ]; then
  # built from a copy: pip would leave build/ and *.egg-info in the work tree
  tmp=$(mktemp -d)
  cp -r "$HERE/plugins" "$tmp/"
  "$BIN/pip" install --no-deps --force-reinstall "$tmp/plugins" >> "$RUN/log/pip.log" 2>&1 ||
    { rm -rf "$tmp"; die "installing the test plug-ins failed, see $RUN/log/pip.log"; }
  rm -rf "$tmp"
  echo "$PLUGIN_STAMP" > "$VENV/.s2d-plugins-stamp"
fi
# nova imports compute drivers only as nova.virt.<compute_driver>
NOVA_VIRT=$("$BIN/python" -c 'import nova.virt, os; print(os.path.dirname(nova.virt.__file__))')
printf '"""TEST-ONLY, written by tests/openstack/up.sh: nova loads drivers only from nova.virt."""\nfrom s2d_os_plugins.nova_snapshot_driver import SnapshotFakeDriver  # noqa: F401\n' \
  > "$NOVA_VIRT/s2d_test_fake.py"
step_done "venv"

# ----------------------------------------------------------------- helpers ---
render() {  # render <template> <dest>: ${NAME} from the environment, all required
  "$PYTHON" - "$HERE/templates/$1" "$2" <<'PY'
import os, string, sys
src, dst = sys.argv[1], sys.argv[2]
try:
    text = string.Template(open(src).read()).substitute(os.environ)
except KeyError as e:
    sys.exit("render %s: %s is not set" % (src, e))
open(dst, "w").write(text)
PY
}
spawn() {  # spawn <name> <cmd...>: start detached (own session), record the PID
  local name=$1; shift
  setsid "$@" > "$RUN/log/$name.out" 2>&1 < /dev/null &
  echo $! > "$RUN/pids/$name.pid"
}
wait_http() {  # wait_http <url> <seconds>: until the URL answers below 500
  local code i
  for ((i = 0; i < $2 * 4; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)
    [[ $code =~ ^[234] ]] && return 0
    sleep 0.25
  done
  die "$1 did not answer within $2 s"
}
sql() { mariadb --socket="$SOCK" -uroot -N -B "$@"; }
rabbit_env() {  # for rabbitmq-server and rabbitmqctl alike
  export HOME=$RUN/rabbitmq/home   # the Erlang cookie lives here
  export ERL_EPMD_ADDRESS=$HOST ERL_EPMD_PORT=$EPMD_PORT
  export RABBITMQ_NODENAME=$RABBIT_NODE RABBITMQ_NODE_IP_ADDRESS=$HOST
  export RABBITMQ_NODE_PORT=$RABBIT_PORT RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT
  export RABBITMQ_CONFIG_FILE=$RUN/rabbitmq/rabbitmq.conf
  export RABBITMQ_CONF_ENV_FILE=$RUN/rabbitmq/rabbitmq-env.conf
  export RABBITMQ_ENABLED_PLUGINS_FILE=$RUN/rabbitmq/enabled_plugins
  export RABBITMQ_MNESIA_BASE=$RUN/rabbitmq/mnesia RABBITMQ_LOG_BASE=$RUN/rabbitmq/log
  export RABBITMQ_PID_FILE=$RUN/rabbitmq/beam.pid
  export ERL_CRASH_DUMP=$RUN/log/erl_crash.dump
  # Erlang distribution would listen on 0.0.0.0 otherwise
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}
rabbitmqctl() { ( rabbit_env; /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$RABBIT_NODE" "$@" ); }

# ----------------------------------------------------------------- MariaDB ---
say "mariadb: one server for both clouds, socket $SOCK, no TCP, data in $DB_DIR"
export RUN HOST SVC_PW RABBIT_PORT DB_DIR VENV
if [ "$(id -u)" = 0 ]; then export MYSQL_USER_LINE="user = root"; else export MYSQL_USER_LINE=""; fi
render my.cnf "$RUN/mysql/my.cnf"
INSTALL_DB=$(command -v mariadb-install-db || command -v mysql_install_db) || die "mariadb-install-db not found"
"$INSTALL_DB" --defaults-file="$RUN/mysql/my.cnf" --auth-root-authentication-method=socket \
  --skip-test-db > "$RUN/log/mysql-install.log" 2>&1 || die "mariadb-install-db failed, see $RUN/log/mysql-install.log"
spawn mysqld "$(command -v mariadbd || echo /usr/sbin/mariadbd)" --defaults-file="$RUN/mysql/my.cnf"
for i in $(seq 1 120); do sql -e 'select 1' > /dev/null 2>&1 && break; sleep 0.25; done
sql -e "CREATE USER 's2d'@'localhost' IDENTIFIED BY '$SVC_PW'; GRANT ALL PRIVILEGES ON *.* TO 's2d'@'localhost';" ||
  die "mariadb did not start, see $RUN/log/mysqld.log"
step_done "mariadb"

# ---------------------------------------------------------------- RabbitMQ ---
say "rabbitmq: one node, vhosts $CLOUDS, $HOST:$RABBIT_PORT"
render rabbitmq.conf "$RUN/rabbitmq/rabbitmq.conf"
echo '[].' > "$RUN/rabbitmq/enabled_plugins"
: > "$RUN/rabbitmq/rabbitmq-env.conf"
(
  rabbit_env
  # The first Erlang node would otherwise start epmd itself: a daemon on
  # every address whose PID nobody records. Start it first, loopback only.
  spawn epmd "$(command -v epmd || echo /usr/bin/epmd)" -address "$HOST" -port "$EPMD_PORT"
  sleep 0.3
  # /usr/sbin/rabbitmq-server switches to the rabbitmq user and its
  # /var/lib/rabbitmq; the script below it runs as us, with our paths.
  spawn rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server
)
rabbitmqctl wait --timeout 120 "$RUN/rabbitmq/beam.pid" > "$RUN/log/rabbitmq-wait.log" 2>&1 ||
  die "rabbitmq did not start, see $RUN/rabbitmq/log and $RUN/log/rabbitmq.out"
for c in $CLOUDS; do
  rabbitmqctl add_vhost "$c" > /dev/null
  rabbitmqctl set_permissions -p "$c" s2d '.*' '.*' '.*' > /dev/null
done
step_done "rabbitmq"

# ------------------------------------------------------------- one cloud ----
uwsgi_ini() {  # uwsgi_ini <service> <port> <wsgi module> <env assignment>...
  local svc=$1 port=$2 module=$3; shift 3
  {
    cat <<EOF
# uWSGI for $C_NAME's $svc (written by up.sh). The services no longer ship
# *-wsgi scripts; each has a <service>.wsgi.*:application module instead.
[uwsgi]
http-socket = $HOST:$port
module = $module
virtualenv = $VENV
master = true
processes = 1
threads = 4
enable-threads = true
lazy-apps = true
die-on-term = true
hook-master-start = unix_signal:15 gracefully_kill_them_all
buffer-size = 65535
http-keepalive = false
add-header = Connection: close
# Request bodies (image uploads) are streamed; chunked uploads allowed.
http-chunked-input = true
http-raw-body = true
http-auto-chunked = true
socket-timeout = 300
# The default limit (1 MiB) turns chunks of 1 MiB and more into HTTP 500
# "unable to receive chunked part"; glanceclient, which nova-compute uses to
# upload snapshots, sends exactly 1 MiB chunks.
chunked-input-limit = 67108864
chunked-input-timeout = 300
env = PYTHONWARNINGS=ignore
EOF
    for e in "$@"; do echo "env = $e"; done
  } > "$C_DIR/etc/$svc/uwsgi.ini"
}

up_cloud() {  # up_cloud <name>: configure, start and seed one cloud (runs in a subshell)
  export C_NAME=$1
  export C_DIR=$RUN/$C_NAME
  local t
  ts() { printf '%-40s %6s s\n' "$C_NAME: $1" "$(since "$t")" >> "$RUN/timings-$C_NAME.txt"; t=$(date +%s.%N); }
  t=$(date +%s.%N)
  export P_KEYSTONE P_GLANCE P_PLACEMENT P_NOVA P_NEUTRON P_CINDER
  P_KEYSTONE=$(port_of "$C_NAME" keystone); P_GLANCE=$(port_of "$C_NAME" glance)
  P_PLACEMENT=$(port_of "$C_NAME" placement); P_NOVA=$(port_of "$C_NAME" nova)
  P_NEUTRON=$(port_of "$C_NAME" neutron); P_CINDER=$(port_of "$C_NAME" cinder)
  export P_SWIFT="" P_SWIFT_OBJECT="" P_SWIFT_CONTAINER="" P_SWIFT_ACCOUNT="" SWIFT_DEVICES=""
  export SWIFT_USER
  SWIFT_USER=$(id -un)
  if has_swift "$C_NAME"; then
    P_SWIFT=$(port_of "$C_NAME" swift); P_SWIFT_OBJECT=$(port_of "$C_NAME" swift-object)
    P_SWIFT_CONTAINER=$(port_of "$C_NAME" swift-container)
    P_SWIFT_ACCOUNT=$(port_of "$C_NAME" swift-account)
    SWIFT_DEVICES=$DB_DIR/swift/$C_NAME
  fi
  export TRANSPORT_URL="rabbit://s2d:$SVC_PW@$HOST:$RABBIT_PORT/$C_NAME"
  local db
  dburl() { echo "mysql+pymysql://s2d:$SVC_PW@localhost/${C_NAME}_$1?unix_socket=$SOCK&charset=utf8mb4"; }
  export DB_KEYSTONE DB_GLANCE DB_PLACEMENT DB_NOVA_API DB_NOVA DB_NEUTRON DB_CINDER
  DB_KEYSTONE=$(dburl keystone); DB_GLANCE=$(dburl glance); DB_PLACEMENT=$(dburl placement)
  DB_NOVA_API=$(dburl nova_api); DB_NOVA=$(dburl nova); DB_NEUTRON=$(dburl neutron)
  DB_CINDER=$(dburl cinder)
  for db in keystone glance placement nova_api nova_cell0 nova neutron cinder; do
    sql -e "CREATE DATABASE ${C_NAME}_$db CHARACTER SET utf8mb4"
  done

  mkdir -p "$C_DIR"/etc/{keystone,glance,placement,nova,neutron/plugins/ml2} "$C_DIR"/log \
    "$C_DIR"/data/glance/{images,staging,tasks} "$C_DIR"/data/nova/{instances,locks} \
    "$C_DIR"/data/neutron/locks "$C_DIR"/etc/cinder \
    "$C_DIR"/data/cinder/{volumes,conversion,locks}
  render keystone.conf "$C_DIR/etc/keystone/keystone.conf"
  render glance-api.conf "$C_DIR/etc/glance/glance-api.conf"
  render placement.conf "$C_DIR/etc/placement/placement.conf"
  render nova.conf "$C_DIR/etc/nova/nova.conf"
  render nova-db.conf "$C_DIR/etc/nova/nova-db.conf"
  render neutron.conf "$C_DIR/etc/neutron/neutron.conf"
  render ml2_conf.ini "$C_DIR/etc/neutron/plugins/ml2/ml2_conf.ini"
  render cinder.conf "$C_DIR/etc/cinder/cinder.conf"
  if has_swift "$C_NAME"; then
    mkdir -p "$C_DIR/etc/swift" "$SWIFT_DEVICES/d1"
    for f in swift.conf swift-proxy-server.conf swift-account-server.conf \
      swift-container-server.conf swift-object-server.conf; do
      render "$f" "$C_DIR/etc/swift/${f#swift-}"
    done
  fi
  cp "$VENV/etc/glance/glance-api-paste.ini" "$C_DIR/etc/glance/"
  cp "$VENV/etc/nova/api-paste.ini" "$C_DIR/etc/nova/"
  cp "$VENV/etc/neutron/api-paste.ini" "$C_DIR/etc/neutron/"
  cp "$VENV/etc/cinder/api-paste.ini" "$VENV/etc/cinder/resource_filters.json" "$C_DIR/etc/cinder/"
  uwsgi_ini keystone "$P_KEYSTONE" keystone.wsgi.api:application \
    "OS_KEYSTONE_CONFIG_FILES=$C_DIR/etc/keystone/keystone.conf"
  uwsgi_ini glance "$P_GLANCE" glance.wsgi.api:application "OS_GLANCE_CONFIG_DIR=$C_DIR/etc/glance"
  uwsgi_ini placement "$P_PLACEMENT" placement.wsgi.api:application \
    "OS_PLACEMENT_CONFIG_DIR=$C_DIR/etc/placement"
  uwsgi_ini nova "$P_NOVA" nova.wsgi.osapi_compute:application \
    "OS_NOVA_CONFIG_DIR=$C_DIR/etc/nova" "OS_NOVA_CONFIG_FILES=api-paste.ini;nova.conf;nova-db.conf"
  uwsgi_ini neutron "$P_NEUTRON" neutron.wsgi.api:application \
    "OS_NEUTRON_CONFIG_DIR=$C_DIR/etc/neutron" "OS_NEUTRON_CONFIG_FILES=neutron.conf;plugins/ml2/ml2_conf.ini"
  # Cinder's WSGI application reads its configuration from sys.argv: uwsgi's pyargv
  uwsgi_ini cinder "$P_CINDER" cinder.wsgi.api:application
  echo "pyargv = --config-file $C_DIR/etc/cinder/cinder.conf" >> "$C_DIR/etc/cinder/uwsgi.ini"
  ts "configs + databases"

  local km=("$BIN/keystone-manage" --config-file "$C_DIR/etc/keystone/keystone.conf")
  local nm=("$BIN/nova-manage" --config-file "$C_DIR/etc/nova/nova.conf" --config-file "$C_DIR/etc/nova/nova-db.conf")
  local ncfg=(--config-file "$C_DIR/etc/neutron/neutron.conf" --config-file "$C_DIR/etc/neutron/plugins/ml2/ml2_conf.ini")
  local me; me=$(id -un); local mygroup; mygroup=$(id -gn)

  # The other services' schema migrations need nothing from Keystone: they
  # run while Keystone is set up (the longest of them, Neutron's, takes as
  # long as all of Keystone's steps).
  local pids=() p
  "$BIN/glance-manage" --config-file "$C_DIR/etc/glance/glance-api.conf" db_sync \
    > "$C_DIR/log/glance-manage.log" 2>&1 & pids+=($!)
  "$BIN/placement-manage" --config-file "$C_DIR/etc/placement/placement.conf" db sync \
    > "$C_DIR/log/placement-manage.log" 2>&1 & pids+=($!)
  "$BIN/neutron-db-manage" "${ncfg[@]}" upgrade heads > "$C_DIR/log/neutron-db-manage.log" 2>&1 & pids+=($!)
  { "${nm[@]}" api_db sync &&
    "${nm[@]}" cell_v2 map_cell0 --database_connection "$(dburl nova_cell0)" &&
    "${nm[@]}" cell_v2 create_cell --name cell1 &&
    "${nm[@]}" db sync; } > "$C_DIR/log/nova-manage.log" 2>&1 & pids+=($!)
  "$BIN/cinder-manage" --config-file "$C_DIR/etc/cinder/cinder.conf" db sync \
    > "$C_DIR/log/cinder-manage.log" 2>&1 & pids+=($!)
  if has_swift "$C_NAME"; then
    # Swift's three rings in one process (swift-ring-builder would take nine):
    # one device, one replica, 2^6 partitions; min_part_hours 0 (no rebalance waits).
    "$BIN/python" - "$C_DIR/etc/swift" "$HOST" "$P_SWIFT_ACCOUNT" "$P_SWIFT_CONTAINER" \
      "$P_SWIFT_OBJECT" > "$C_DIR/log/swift-rings.log" 2>&1 <<'PY' & pids+=($!)
import os, sys
from swift.common.ring import RingBuilder
swift_dir, host = sys.argv[1], sys.argv[2]
for name, port in zip(("account", "container", "object"), map(int, sys.argv[3:6])):
    builder = RingBuilder(6, 1, 0)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": host, "port": port,
                     "device": "d1", "weight": 100, "meta": ""})
    builder.rebalance()
    builder.save(os.path.join(swift_dir, name + ".builder"))
    builder.get_ring().save(os.path.join(swift_dir, name + ".ring.gz"))
    print("%s ring: 127.0.0.1:%d/d1, 1 replica, 64 partitions" % (name, port))
PY
  fi

  # Keystone is the critical path: its key repositories (files only) are made
  # while its schema migrates.
  local kpids=()
  "${km[@]}" fernet_setup --keystone-user "$me" --keystone-group "$mygroup" \
    > "$C_DIR/log/keystone-fernet.log" 2>&1 & kpids+=($!)
  "${km[@]}" credential_setup --keystone-user "$me" --keystone-group "$mygroup" \
    > "$C_DIR/log/keystone-credential.log" 2>&1 & kpids+=($!)
  "${km[@]}" db_sync > "$C_DIR/log/keystone-manage.log" 2>&1 ||
    die "$C_NAME: keystone-manage db_sync failed, see $C_DIR/log/keystone-manage.log"
  for p in "${kpids[@]}"; do
    wait "$p" || die "$C_NAME: keystone-manage fernet_setup/credential_setup failed, see $C_DIR/log/keystone-*.log"
  done
  {
    "${km[@]}" bootstrap --bootstrap-password "$ADMIN_PW" \
      --bootstrap-admin-url "http://$HOST:$P_KEYSTONE/v3" \
      --bootstrap-internal-url "http://$HOST:$P_KEYSTONE/v3" \
      --bootstrap-public-url "http://$HOST:$P_KEYSTONE/v3" --bootstrap-region-id RegionOne
  } >> "$C_DIR/log/keystone-manage.log" 2>&1 || die "$C_NAME: keystone-manage bootstrap failed, see $C_DIR/log/keystone-manage.log"
  ts "keystone schema, keys, bootstrap"
  spawn "$C_NAME-keystone" "$BIN/uwsgi" --ini "$C_DIR/etc/keystone/uwsgi.ini"
  wait_http "http://$HOST:$P_KEYSTONE/v3" 120
  ADMIN_PW=$ADMIN_PW "$BIN/python" "$HERE/provision.py" catalog > "$C_DIR/log/provision.log" 2>&1 ||
    die "$C_NAME: catalog provisioning failed, see $C_DIR/log/provision.log"
  ts "keystone up, catalog"

  for p in "${pids[@]}"; do wait "$p" || die "$C_NAME: a schema migration failed, see $C_DIR/log/*-manage.log"; done
  ts "other schema migrations done"

  spawn "$C_NAME-glance" "$BIN/uwsgi" --ini "$C_DIR/etc/glance/uwsgi.ini"
  spawn "$C_NAME-placement" "$BIN/uwsgi" --ini "$C_DIR/etc/placement/uwsgi.ini"
  spawn "$C_NAME-neutron" "$BIN/uwsgi" --ini "$C_DIR/etc/neutron/uwsgi.ini"
  spawn "$C_NAME-nova-api" "$BIN/uwsgi" --ini "$C_DIR/etc/nova/uwsgi.ini"
  spawn "$C_NAME-nova-conductor" "$BIN/nova-conductor" --config-file "$C_DIR/etc/nova/nova.conf" \
    --config-file "$C_DIR/etc/nova/nova-db.conf" --log-file "$C_DIR/log/nova-conductor.log"
  spawn "$C_NAME-nova-scheduler" "$BIN/nova-scheduler" --config-file "$C_DIR/etc/nova/nova.conf" \
    --config-file "$C_DIR/etc/nova/nova-db.conf" --log-file "$C_DIR/log/nova-scheduler.log"
  # Cinder's three services start with the others (the seed waits for the volume
  # service's pool to reach the scheduler).
  spawn "$C_NAME-cinder-api" "$BIN/uwsgi" --ini "$C_DIR/etc/cinder/uwsgi.ini"
  spawn "$C_NAME-cinder-scheduler" "$BIN/cinder-scheduler" --config-file "$C_DIR/etc/cinder/cinder.conf" \
    --log-file "$C_DIR/log/cinder-scheduler.log"
  spawn "$C_NAME-cinder-volume" "$BIN/cinder-volume" --config-file "$C_DIR/etc/cinder/cinder.conf" \
    --log-file "$C_DIR/log/cinder-volume.log"
  if has_swift "$C_NAME"; then
    # workers = 0: each is one process, the one whose PID is recorded
    for s in account container object proxy; do
      spawn "$C_NAME-swift-$s" "$BIN/swift-$s-server" "$C_DIR/etc/swift/$s-server.conf" --verbose
    done
  fi
  wait_http "http://$HOST:$P_GLANCE/" 180
  wait_http "http://$HOST:$P_PLACEMENT/" 180
  wait_http "http://$HOST:$P_NEUTRON/" 180
  wait_http "http://$HOST:$P_NOVA/" 180
  wait_http "http://$HOST:$P_CINDER/" 180
  if has_swift "$C_NAME"; then wait_http "http://$HOST:$P_SWIFT/healthcheck" 120; fi
  ts "APIs answering"

  # nova-compute started before the conductor has registered times out its
  # first conductor call and sleeps; once the conductor's service row exists
  # it registers at once.
  local n=0
  for i in $(seq 1 240); do
    n=$(sql -e "select count(*) from ${C_NAME}_nova.services where \`binary\`='nova-conductor' and deleted=0" 2>/dev/null || echo 0)
    [ "${n:-0}" -gt 0 ] && break
    sleep 0.5
  done
  [ "${n:-0}" -gt 0 ] || die "$C_NAME: nova-conductor never registered, see $C_DIR/log/nova-conductor.log"
  S2D_OS_DISK_BYTES=$((DISK_MB * 1024 * 1024)) spawn "$C_NAME-nova-compute" "$BIN/nova-compute" \
    --config-file "$C_DIR/etc/nova/nova.conf" --log-file "$C_DIR/log/nova-compute.log"

  ADMIN_PW=$ADMIN_PW TENANT_PW=$([ "$C_NAME" = provider ] && echo alice-secret || echo bob-secret) \
    "$BIN/python" "$HERE/provision.py" seed >> "$C_DIR/log/provision.log" 2>&1 ||
    die "$C_NAME: seeding failed, see $C_DIR/log/provision.log"
  ts "compute up + seed"
}

say "starting both clouds side by side (logs: $RUN/log/up-<cloud>.log)"
CLOUD_PIDS=()
for c in $CLOUDS; do
  ( up_cloud "$c" ) > "$RUN/log/up-$c.log" 2>&1 &
  CLOUD_PIDS+=($!)
done
FAILED=""
i=0
for c in $CLOUDS; do
  wait "${CLOUD_PIDS[$i]}" || FAILED+=" $c"
  i=$((i + 1))
done
if [ -n "$FAILED" ]; then
  for c in $FAILED; do echo "--- $RUN/log/up-$c.log" >&2; tail -n 20 "$RUN/log/up-$c.log" >&2; done
  die "cloud(s)$FAILED did not come up"
fi
cat "$RUN"/timings-*.txt >> "$RUN/timings.txt"
step_done "both clouds (in parallel)"

# ------------------------------------------------------------- clouds.yaml ---
entry() {  # entry <name> <cloud> <user> <password> <project>
  cat <<EOF
  $1:
    auth:
      auth_url: http://$HOST:$(port_of "$2" keystone)/v3
      username: $3
      password: $4
      project_name: $5
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
EOF
}
{
  echo "# Written by tests/openstack/up.sh: two throwaway test clouds on loopback."
  echo "clouds:"
  entry provider provider alice alice-secret ehr
  entry hospital hospital bob bob-secret research
  entry provider-admin provider admin "$ADMIN_PW" admin
  entry hospital-admin hospital admin "$ADMIN_PW" admin
} > "$RUN/clouds.yaml.tmp"
mv "$RUN/clouds.yaml.tmp" "$RUN/clouds.yaml"
cat > "$RUN/env.sh" <<EOF
# source me: the harness's clouds and its openstack CLI
export OS_CLIENT_CONFIG_FILE=$RUN/clouds.yaml
export PATH=$BIN:\$PATH
EOF

# ------------------------------------------------------------------ report ---
printf '%-40s %6s s\n' "TOTAL" "$(since "$T0")" >> "$RUN/timings.txt"
S2D_OS_RUN=$RUN "$HERE/status.sh" > "$RUN/memory.txt"
cat "$RUN/timings.txt"
grep '^TOTAL' "$RUN/memory.txt"
say "both clouds are up. clouds.yaml: $RUN/clouds.yaml (provider, hospital, provider-admin, hospital-admin)"
echo "$RUN/clouds.yaml"
