#!/bin/bash
# Switches the loop device under a mounted image to direct I/O (losetup --direct-io=on), so the
# image's writes go straight to the disk holding it instead of through a second page cache: the
# image then behaves like a disk of its own, with no double caching and no extra writeback.
# Both all-in-ones of a side-by-side run use it (xfs-dir.sh, swift-aio.sh).
# SWIFTLET_BENCH_LOOP_DIRECT_IO=off leaves the loop device buffered (the kernel's default).
#   bench/scripts/loop-direct-io.sh <mountpoint>
set -euo pipefail
dir=$1
[[ ${SWIFTLET_BENCH_LOOP_DIRECT_IO:-on} == off ]] && exit 0
dev=$(findmnt -n -o SOURCE --target "$dir")
[[ $dev == /dev/loop* ]] || exit 0
losetup --direct-io=on "$dev" 2>/dev/null || echo "loop-direct-io: $dev stays buffered (direct I/O refused by the filesystem under it)" >&2
