#!/usr/bin/env bash
# Installs what test/interop/swift-functional.test.ts needs to run OpenStack Swift's own
# functional tests (test/functional of Swift 2.30.1 as Debian bookworm ships it):
#   - Debian's python3-swift (the swift modules the tests import and their dependencies),
#     python3-pytest (the runner), python3-pytest-timeout (a hung test fails instead of hanging
#     the run) and python3-mock;
#   - Swift's source package from Debian (`apt-get source swift`, patches applied), unpacked into
#     $SWIFTLET_SWIFT_SRC (default /var/cache/swiftlet/swift-src): the binary packages carry no
#     tests. apt reads a deb-src entry from a private state folder beside it, so the machine's
#     apt sources and caches are left as they are.
# Idempotent and quick when everything is there already. Needs root only when something is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SRC=${SWIFTLET_SWIFT_SRC:-/var/cache/swiftlet/swift-src}
WANT_UPSTREAM=2.30.1

pkgs=(python3-swift python3-pytest python3-pytest-timeout python3-mock)
command -v dpkg-source >/dev/null 2>&1 || pkgs+=(dpkg-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "swift-functional: installing ${missing[*]}" >&2
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ -f "$SRC/.swiftlet-ready" ]]; then exit 0; fi

state="$SRC.apt"
rm -rf "$state" "$SRC"
mkdir -p "$state/parts" "$state/lists/partial" "$state/dl"
cat >"$state/parts/bookworm-src.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_opts=(
  -o "Dir::Etc::SourceList=$state/none.list" -o "Dir::Etc::SourceParts=$state/parts"
  -o "Dir::State::Lists=$state/lists" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
)
echo "swift-functional: fetching Swift's Debian source package" >&2
apt-get -qq "${apt_opts[@]}" update
(cd "$state/dl" && apt-get -qq "${apt_opts[@]}" source --download-only swift 2>/dev/null)
dsc=$(ls "$state"/dl/swift_*.dsc)
version=$(sed -n 's/^Version: //p' "$dsc")
if [[ "${version%%-*}" != "$WANT_UPSTREAM" ]]; then
  echo "swift-functional: Debian's source is swift $version, expected $WANT_UPSTREAM" >&2
  exit 1
fi
# apt checked every file against the signed Release; the .dsc signer's key is not installed.
dpkg-source --no-copy --no-check -x "$dsc" "$SRC" >/dev/null
echo "$version" >"$SRC/.swiftlet-ready"
rm -rf "$state"
echo "swift-functional: Swift $version test sources in $SRC" >&2
