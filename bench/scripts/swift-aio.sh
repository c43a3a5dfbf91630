#!/bin/bash
# OpenStack Swift (Debian's packages) as an all-in-one on this machine, for side-by-side benchmarks.
#
#   bench/scripts/swift-aio.sh start  <dir> <port>   install if missing, build, start, wait for /healthcheck
#   bench/scripts/swift-aio.sh stop   <dir>          stop every server, unmount the XFS image
#   bench/scripts/swift-aio.sh status <dir>          exit 0 if all servers are alive
#   bench/scripts/swift-aio.sh purge  <dir>          stop, then delete <dir> (image included)
#   bench/scripts/swift-aio.sh wipe   <dir> <i>      stop the servers, empty node i's device (a replaced
#                                                    disk), start them again
#   bench/scripts/swift-aio.sh replicate <dir>       one pass of every node's object, container and
#                                                    account replicator, all at once (Swift's `once`)
#   bench/scripts/swift-aio.sh daemons <dir>         start the background daemons, running continuously
#                                                    with Swift's defaults: on each node the object,
#                                                    container and account replicators, the object and
#                                                    container updaters and the object auditor; one
#                                                    object expirer for the cluster (stop ends them)
#
# Layout, comparable to `swiftlet aio`: one proxy (tempauth) and 4 storage "nodes" (SAIO-style:
# node i = one account + one container + one object server on their own ports, one device d<i>,
# zone i), 3 replicas, part power 10, Swift's default fsync behaviour, workers = 1 for every server.
# Devices live on a sparse XFS image, loop-mounted at <dir>/mnt (Swift needs XFS's xattr space),
# the loop device in direct I/O mode like Swiftlet's (loop-direct-io.sh).
# Swift's tokens and info caches need memcached: one runs on 127.0.0.1:<port+1>.
# Replication as Swift ships it: rsync (its default sync method, and the only one for account and
# container databases) through an rsync daemon on 127.0.0.1:<port+5> with a module per server.
# Ports: proxy <port>; node i: object <port+10i>, container <port+10i+1>, account <port+10i+2>.
# swift.conf (hash prefix/suffix) is read from <dir>/etc via swift-run.py, never /etc/swift.
# Idempotent; needs root. Prints one JSON line {"msg":"swift aio ready",...} when up.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY=/usr/bin/python3
NODES=4
PART_POWER=10
IMAGE_SIZE=${SWIFT_AIO_IMAGE_SIZE:-16G}
PACKAGES=(swift swift-proxy swift-account swift-container swift-object xfsprogs memcached python3-swiftclient curl rsync)

die() { echo "swift-aio: $*" >&2; exit 1; }
log() { echo "swift-aio: $*" >&2; }

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

ensure_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
  fi
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

servers() {
  echo proxy
  for i in $(seq 1 $NODES); do echo "object-$i container-$i account-$i"; done
}

all_alive() {
  local dir=$1
  pid_alive "$dir/run/memcached.pid" || return 1
  pid_alive "$dir/run/rsyncd.pid" || return 1
  for s in $(servers); do pid_alive "$dir/run/$s.pid" || return 1; done
}

write_configs() {
  local dir=$1 port=$2 etc=$1/etc
  mkdir -p "$etc" "$dir/run" "$dir/log" "$dir/cache"
  if [[ ! -f $etc/swift.conf ]]; then
    cat >"$etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_prefix = $(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
swift_hash_path_suffix = $(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')

[storage-policy:0]
name = Policy-0
default = yes
EOF
  fi
  cat >"$etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 1
user = root
swift_dir = $etc
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats tempauth copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:tempauth]
use = egg:swift#tempauth
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
user_test_tester3 = testing3

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$((port + 1))

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
EOF
  local i kind kport
  for i in $(seq 1 $NODES); do
    for kind in object container account; do
      case $kind in object) kport=$((port + 10 * i)) ;; container) kport=$((port + 10 * i + 1)) ;; account) kport=$((port + 10 * i + 2)) ;; esac
      cat >"$etc/$kind-server-$i.conf" <<EOF
[DEFAULT]
devices = $dir/mnt/node$i
mount_check = false
recon_cache_path = $dir/cache
bind_ip = 127.0.0.1
bind_port = $kport
workers = 1
user = root
swift_dir = $etc
log_name = $kind-server-$i

[pipeline:main]
pipeline = healthcheck $kind-server

[app:$kind-server]
use = egg:swift#$kind

[filter:healthcheck]
use = egg:swift#healthcheck

[$kind-replicator]
rsync_module = rsync://{replication_ip}:$((port + 5))/$kind{replication_port}
EOF
      # the daemons' sections (Swift's defaults): run_daemon refuses a config without its section
      case $kind in
        object) printf '\n[object-updater]\n\n[object-auditor]\n' >>"$etc/$kind-server-$i.conf" ;;
        container) printf '\n[container-updater]\n' >>"$etc/$kind-server-$i.conf" ;;
      esac
    done
  done
  # The expirer's config doubles as its internal client's (Swift's object-expirer.conf-sample).
  cat >"$etc/object-expirer.conf" <<EOF
[DEFAULT]
swift_dir = $etc
user = root
log_name = object-expirer

[object-expirer]

[pipeline:main]
pipeline = catch_errors proxy-logging cache proxy-server

[app:proxy-server]
use = egg:swift#proxy

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$((port + 1))

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:proxy-logging]
use = egg:swift#proxy_logging
EOF
  {
    echo "uid = root"
    echo "gid = root"
    echo "address = 127.0.0.1"
    echo "port = $((port + 5))"
    echo "pid file = $dir/run/rsyncd.pid"
    echo "log file = $dir/log/rsyncd.log"
    for i in $(seq 1 $NODES); do
      for kind in object container account; do
        case $kind in object) kport=$((port + 10 * i)) ;; container) kport=$((port + 10 * i + 1)) ;; account) kport=$((port + 10 * i + 2)) ;; esac
        printf '[%s%s]\npath = %s\nread only = false\nmax connections = 8\nlock file = %s\n' "$kind" "$kport" "$dir/mnt/node$i" "$dir/run/rsync-$kind$kport.lock"
      done
    done
  } >"$etc/rsyncd.conf"
}

build_rings() {
  local etc=$1/etc port=$2 i kind off
  for kind in object container account; do
    [[ -f $etc/$kind.ring.gz ]] && continue
    case $kind in object) off=0 ;; container) off=1 ;; account) off=2 ;; esac
    rm -f "$etc/$kind.builder"
    swift-ring-builder "$etc/$kind.builder" create $PART_POWER 3 1 >&2
    for i in $(seq 1 $NODES); do
      swift-ring-builder "$etc/$kind.builder" add "r1z$i-127.0.0.1:$((port + 10 * i + off))/d$i" 100 >&2
    done
    swift-ring-builder "$etc/$kind.builder" rebalance >&2 || [[ $? -eq 1 ]]
  done
}

mount_image() {
  local dir=$1 img=$1/xfs.img
  mkdir -p "$dir/mnt"
  if ! mountpoint -q "$dir/mnt"; then
    if [[ ! -f $img ]]; then
      truncate -s "$IMAGE_SIZE" "$img"
      mkfs.xfs -q "$img"
    fi
    mount -o loop,noatime "$img" "$dir/mnt"
  fi
  bash "$HERE/loop-direct-io.sh" "$dir/mnt"
  local i
  for i in $(seq 1 $NODES); do mkdir -p "$dir/mnt/node$i/d$i"; done
}

wait_http() {
  local url=$1 i
  for i in $(seq 1 150); do
    curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

start_server() {
  local dir=$1 name=$2 kind=$3 conf=$4
  pid_alive "$dir/run/$name.pid" && return 0
  setsid "$PY" "$HERE/swift-run.py" "$dir/etc" "$kind" "$conf" </dev/null >>"$dir/log/$name.log" 2>&1 &
  echo $! >"$dir/run/$name.pid"
}

cmd_start() {
  local dir=$1 port=$2
  [[ $(id -u) -eq 0 ]] || die "needs root (loop mount)"
  [[ $port =~ ^[0-9]+$ ]] || die "bad port $port"
  dir=$(mkdir -p "$dir" && cd "$dir" && pwd)
  ensure_packages
  if [[ -f $dir/port ]] && [[ $(cat "$dir/port") != "$port" ]] && all_alive "$dir"; then
    die "already running in $dir on port $(cat "$dir/port")"
  fi
  echo "$port" >"$dir/port"
  mount_image "$dir"
  write_configs "$dir" "$port"
  build_rings "$dir" "$port"
  if ! pid_alive "$dir/run/memcached.pid"; then
    memcached -d -u root -l 127.0.0.1 -p $((port + 1)) -U 0 -m 64 -c 4096 -P "$dir/run/memcached.pid"
    sleep 0.2
  fi
  if ! pid_alive "$dir/run/rsyncd.pid"; then
    rm -f "$dir/run/rsyncd.pid"
    # stdin must not be a socket (Node's pipes are): rsync would take it for an inetd connection
    rsync --daemon --config="$dir/etc/rsyncd.conf" </dev/null >/dev/null 2>&1
  fi
  start_servers "$dir"
  wait_servers "$dir" "$port"
  local pids=() s
  for s in memcached $(servers); do pids+=("\"$s\":$(cat "$dir/run/$s.pid")"); done
  local IFS=,
  echo "{\"msg\":\"swift aio ready\",\"auth_url\":\"http://127.0.0.1:$port/auth/v1.0\",\"user\":\"test:tester\",\"key\":\"testing\",\"dir\":\"$dir\",\"pids\":{${pids[*]}}}"
}

start_servers() {
  local dir=$1 i kind
  for i in $(seq 1 $NODES); do
    for kind in object container account; do
      start_server "$dir" "$kind-$i" "$kind" "$dir/etc/$kind-server-$i.conf"
    done
  done
  start_server "$dir" proxy proxy "$dir/etc/proxy-server.conf"
}

wait_servers() {
  local dir=$1 port=$2 i kind
  for i in $(seq 1 $NODES); do
    for kind in 0 1 2; do
      wait_http "http://127.0.0.1:$((port + 10 * i + kind))/healthcheck" || die "storage server on port $((port + 10 * i + kind)) did not come up (see $dir/log)"
    done
  done
  wait_http "http://127.0.0.1:$port/healthcheck" || die "proxy did not come up (see $dir/log/proxy.log)"
}

stop_pidfile() {
  local f=$1 pid i
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    # setsid made each server its own process group: the manager and its worker stop together.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

daemon_names() {
  local i
  for i in $(seq 1 $NODES); do
    echo "object-replicator-$i container-replicator-$i account-replicator-$i object-updater-$i container-updater-$i object-auditor-$i"
  done
  echo object-expirer
}

stop_servers() {
  local dir=$1 s
  for s in $(daemon_names) $(servers); do stop_pidfile "$dir/run/$s.pid"; done
}

# The background daemons, each in its own process group (stop_pidfile ends a daemon with its workers).
cmd_daemons() {
  local dir=$1 name d i conf
  dir=$(cd "$dir" && pwd)
  all_alive "$dir" || die "start the servers first"
  for name in $(daemon_names); do
    pid_alive "$dir/run/$name.pid" && continue
    if [[ $name == object-expirer ]]; then
      d=object-expirer conf=$dir/etc/object-expirer.conf
    else
      d=${name%-*} i=${name##*-}
      conf=$dir/etc/${d%%-*}-server-$i.conf
    fi
    setsid "$PY" "$HERE/swift-run.py" "$dir/etc" "$d" "$conf" forever </dev/null >>"$dir/log/$name.log" 2>&1 &
    echo $! >"$dir/run/$name.pid"
  done
  sleep 3
  for name in $(daemon_names); do
    pid_alive "$dir/run/$name.pid" || die "$name exited at start (see $dir/log/$name.log)"
  done
  log "daemons running ($dir)"
}

cmd_stop() {
  local dir=$1
  [[ -d $dir ]] || return 0
  dir=$(cd "$dir" && pwd)
  stop_servers "$dir"
  stop_pidfile "$dir/run/memcached.pid"
  stop_pidfile "$dir/run/rsyncd.pid"
  if mountpoint -q "$dir/mnt"; then
    umount "$dir/mnt" || { sleep 1; umount "$dir/mnt"; }
  fi
  log "stopped ($dir)"
}

# A replaced disk: the servers stop (as for a disk swap), node i's device is emptied, they start again.
cmd_wipe() {
  local dir=$1 node=$2
  dir=$(cd "$dir" && pwd)
  [[ $node =~ ^[1-9][0-9]*$ ]] && [[ -d $dir/mnt/node$node/d$node ]] || die "no device d$node under $dir/mnt"
  stop_servers "$dir"
  find "$dir/mnt/node$node/d$node" -mindepth 1 -delete
  start_servers "$dir"
  wait_servers "$dir" "$(cat "$dir/port")"
  log "wiped d$node ($dir)"
}

# One pass of every replicator on every node, all at once; exit status 1 if any pass failed.
cmd_replicate() {
  local dir=$1 i kind pids=() failed=0 p
  dir=$(cd "$dir" && pwd)
  for i in $(seq 1 $NODES); do
    for kind in object container account; do
      "$PY" "$HERE/swift-run.py" "$dir/etc" "$kind-replicator" "$dir/etc/$kind-server-$i.conf" </dev/null >>"$dir/log/$kind-replicator-$i.log" 2>&1 &
      pids+=($!)
    done
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  return $failed
}

cmd="${1:-}"
case "$cmd" in
  start) [[ $# -eq 3 ]] || usage; cmd_start "$2" "$3" ;;
  stop) [[ $# -eq 2 ]] || usage; cmd_stop "$2" ;;
  status) [[ $# -eq 2 ]] || usage; all_alive "$2" ;;
  purge) [[ $# -eq 2 ]] || usage; cmd_stop "$2"; rm -rf "$2" ;;
  wipe) [[ $# -eq 3 ]] || usage; cmd_wipe "$2" "$3" ;;
  replicate) [[ $# -eq 2 ]] || usage; cmd_replicate "$2" ;;
  daemons) [[ $# -eq 2 ]] || usage; cmd_daemons "$2" ;;
  *) usage ;;
esac
