#!/bin/bash
# A folder on its own sparse XFS image, loop-mounted (direct I/O, loop-direct-io.sh), so Swiftlet's
# data sits on the same kind of filesystem and loop device as the Swift all-in-one's devices in
# side-by-side runs.
#   bench/scripts/xfs-dir.sh mount  <image> <dir> [size=16G]   idempotent
#   bench/scripts/xfs-dir.sh umount <dir>                        idempotent
set -euo pipefail
case "${1:-}" in
  mount)
    img=$2 dir=$3 size=${4:-16G}
    [[ $(id -u) -eq 0 ]] || { echo "xfs-dir: needs root" >&2; exit 1; }
    command -v mkfs.xfs >/dev/null || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q xfsprogs >&2; }
    mkdir -p "$dir"
    if mountpoint -q "$dir"; then bash "$(dirname "$0")/loop-direct-io.sh" "$dir"; exit 0; fi
    if [[ ! -f $img ]]; then
      truncate -s "$size" "$img"
      mkfs.xfs -q "$img"
    fi
    mount -o loop,noatime "$img" "$dir"
    bash "$(dirname "$0")/loop-direct-io.sh" "$dir"
    ;;
  umount)
    dir=$2
    # A stopped system's last processes may still be exiting (slow on a loaded machine): wait.
    for _ in $(seq 1 30); do
      mountpoint -q "$dir" || exit 0
      umount "$dir" 2>/dev/null && exit 0
      sleep 1
    done
    umount "$dir"
    ;;
  *)
    sed -n '2,5p' "$0" >&2
    exit 2
    ;;
esac
