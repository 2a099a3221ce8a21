#!/usr/bin/env bash
# A genuinely older uvmd package for the upgrade test: the .deb built by an
# older commit's own deploy/debian/build-deb.sh, from its own sources.
#
#   tests/deb/old-deb.sh [REV]      prints the path of the old package
#
# REV defaults to 6331214, the last commit before the bridge's BridgeLimits
# negotiation (29e5658): its agent knows nothing of the offer, so an upgrade
# from it shows the new uvmd keeping the old defaults with the agents the
# old version started. The package is rebuilt in a throw-away git worktree
# (its own Bazel output base, and its own guest .debs: REV's guest/fetch.sh
# into /var/cache/uvmd/old-debs/guest-debs-<rev>; a few minutes, once) and
# kept in
# /var/cache/uvmd/old-debs/ as uvmd_<version>~git<rev>_amd64.deb (the
# worktree and its output base are removed afterwards): the old
# files and maintainer scripts, only the Version made lower than the
# current one so that dpkg sees an upgrade (both commits say 0.1.0).
# Then: UVMD_OLD_DEB=that tests/integration/test_deb.py -k upgrade
#       tests/deb/systemd-boot.sh --upgrade-from that
set -euo pipefail

rev=${1:-6331214}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
full=$(git -C "$repo" rev-parse --verify "$rev^{commit}")
short=${full:0:7}
cache=/var/cache/uvmd/old-debs
mkdir -p "$cache"
if out=$(ls "$cache"/uvmd_*~git"$short"_amd64.deb 2>/dev/null) && [ -n "$out" ]; then
	echo "$out"
	exit 0
fi

wt=$(mktemp -d /tmp/uvmd-old-wt.XXXXXX)
out=$(mktemp -d /tmp/uvmd-old-out.XXXXXX)
obase=
cleanup() {
	# The worktree's Bazel server and output base go with it: nothing else
	# uses them, and the package is kept.
	(cd "$wt" 2>/dev/null && bazel shutdown >/dev/null 2>&1) || true
	case "$obase" in */_bazel_*/*) rm -rf "$obase" ;; esac
	git -C "$repo" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"
	git -C "$repo" worktree prune
	rm -rf "$out"
}
trap cleanup EXIT
git -C "$repo" worktree add --detach "$wt" "$full" >/dev/null 2>&1
obase=$(cd "$wt" && bazel info output_base 2>/dev/null)
# The guest image is made from the .debs REV's guest/fetch.sh names (the
# shared /var/cache/uvmd/guest-debs follows the current tree: runc gave way
# to crun there): REV's own set, in a directory of its own, seeded from the
# shared one and completed from the Debian mirror.
debs=$cache/guest-debs-$short
mkdir -p "$debs"
cp -n /var/cache/uvmd/guest-debs/*.deb "$debs/" 2>/dev/null || true
grep -q UVMD_GUEST_DEBS "$wt/guest/fetch.sh" ||
	{ echo "old-deb: $short's guest/fetch.sh takes no UVMD_GUEST_DEBS" >&2; exit 1; }
UVMD_GUEST_DEBS=$debs "$wt/guest/fetch.sh" >&2
sed -i "s|\"/var/cache/uvmd/guest-debs\"|\"$debs\"|" "$wt/WORKSPACE"
grep -q "\"$debs\"" "$wt/WORKSPACE" || { echo "old-deb: no guest_debs path in WORKSPACE" >&2; exit 1; }
start=$(date +%s)
if ! deb=$("$wt/deploy/debian/build-deb.sh" "$out" | tail -n1) || [ ! -f "$deb" ]; then
	(cd "$wt" && bazel build //service:uvmd //agent:uvmd-agent //guest:image 2>&1 | grep -v '^INFO' | tail -n 20) >&2
	echo "old-deb: building $short failed" >&2
	exit 1
fi
echo "old-deb: built $short in $(( $(date +%s) - start )) s" >&2

version=$(dpkg-deb -f "$deb" Version)
x=$out/x
dpkg-deb -R "$deb" "$x"
sed -i "s/^Version: .*/Version: $version~git$short/" "$x/DEBIAN/control"
dst=$cache/uvmd_${version}~git${short}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$x" "$dst.tmp" >/dev/null
mv "$dst.tmp" "$dst"
echo "$dst"
