#!/usr/bin/env bash
# Build uvmd_<version>_amd64.deb into OUTDIR with dpkg-deb, offline.
#
#   deploy/debian/build-deb.sh [--no-build] OUTDIR
#
# Builds //service:uvmd, //agent:uvmd-agent and //guest:image with Bazel
# (--no-build: takes what Bazel built last), stages the package tree and
# prints the .deb's path. The version is UVMD_VERSION of service/daemon.h and
# must be the top entry of deploy/debian/changelog.
#
# Layout (uvmd finds its agent next to its own binary, resolved through
# /proc/self/exe, and its guest image in guest_dir's default):
#   /usr/libexec/uvmd/uvmd          the daemon; /usr/bin/uvmd links to it
#   /usr/libexec/uvmd/uvmd-agent    the ns pods' agent
#   /usr/libexec/uvmd/cni-install-default   deploy/cni/install-default.sh
#   /usr/lib/uvmd/guest/            vmlinux, initrd.img, manifest.json
#   /etc/uvmd/config.json           deploy/config.json (conffile)
#   /etc/init.d/uvmd                for nodes without systemd (conffile)
#   /lib/systemd/system/uvmd.service   deploy/uvmd.service
#   /usr/share/man/man8/uvmd.8.gz   generated from the sources (gen-man.py)
set -euo pipefail

build=1
if [ "${1:-}" = "--no-build" ]; then
        build=0
        shift
fi
if [ $# -ne 1 ]; then
        echo "usage: $0 [--no-build] OUTDIR" >&2
        exit 2
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

version=$(sed -n 's/^#define UVMD_VERSION "\(.*\)"$/\1/p' service/daemon.h)
top=$(sed -n '1s/^uvmd (\([^)]*\)).*/\1/p' "$here/changelog")
if [ -z "$version" ] || [ "$version" != "$top" ]; then
        echo "build-deb: UVMD_VERSION is '$version' but deploy/debian/changelog starts with '$top'" >&2
        exit 1
fi
# Reproducible: every date is the changelog's.
SOURCE_DATE_EPOCH=$(date -d "$(sed -n 's/^ -- .*>  //p' "$here/changelog" | head -n1)" +%s)
export SOURCE_DATE_EPOCH

targets=(//service:uvmd //agent:uvmd-agent //guest:image)
if [ $build = 1 ]; then
        bazel build "${targets[@]}" 2>&1 | tail -n 3
fi
bin=$(bazel info bazel-bin 2>/dev/null)
for f in service/uvmd agent/uvmd-agent guest/vmlinux guest/initrd.img guest/manifest.json; do
        if [ ! -f "$bin/$f" ]; then
                echo "build-deb: $bin/$f is missing (bazel build ${targets[*]})" >&2
                exit 1
        fi
done

stage=$(mktemp -d "${TMPDIR:-/tmp}/uvmd-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/uvmd
umask 022
install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/libexec/uvmd" "$root/usr/lib/uvmd/guest" \
        "$root/etc/uvmd" "$root/etc/init.d" "$root/lib/systemd/system" \
        "$root/usr/share/man/man8" "$root/usr/share/doc/uvmd" "$root/usr/share/lintian/overrides"

# Binaries, stripped as dh_strip does (the build keeps debug info).
for b in service/uvmd agent/uvmd-agent; do
        install -m 0755 "$bin/$b" "$root/usr/libexec/uvmd/"
        strip --remove-section=.comment --remove-section=.note --strip-unneeded \
                "$root/usr/libexec/uvmd/$(basename "$b")"
done
ln -s ../libexec/uvmd/uvmd "$root/usr/bin/uvmd"
install -m 0755 deploy/cni/install-default.sh "$root/usr/libexec/uvmd/cni-install-default"
for f in vmlinux initrd.img manifest.json; do
        install -m 0644 "$bin/guest/$f" "$root/usr/lib/uvmd/guest/"
done

install -m 0644 deploy/config.json "$root/etc/uvmd/config.json"
install -m 0755 "$here/uvmd.init" "$root/etc/init.d/uvmd"
if ! grep -q '^ExecStart=/usr/bin/uvmd\( \|$\)' deploy/uvmd.service; then
        echo "build-deb: deploy/uvmd.service must start /usr/bin/uvmd" >&2
        exit 1
fi
install -m 0644 deploy/uvmd.service "$root/lib/systemd/system/uvmd.service"

date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
/usr/bin/python3 "$here/gen-man.py" "$repo" "$version" "$date" >"$stage/uvmd.8"
gzip -9n <"$stage/uvmd.8" >"$root/usr/share/man/man8/uvmd.8.gz"
install -m 0644 "$here/copyright" "$root/usr/share/doc/uvmd/copyright"
# A native package (the version has no Debian revision): changelog.gz.
gzip -9n <"$here/changelog" >"$root/usr/share/doc/uvmd/changelog.gz"
install -m 0644 README.md "$root/usr/share/doc/uvmd/README.md"
install -m 0644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/uvmd"

# Maintainer scripts; the purge program goes into postrm (uvmd's own files
# are gone by the time purge runs).
install -m 0755 "$here/postinst" "$here/prerm" "$root/DEBIAN/"
/usr/bin/python3 - "$here/postrm.in" "$here/uvmd-purge.py" "$root/DEBIAN/postrm" <<'PY'
import sys
tpl, helper, dst = sys.argv[1:]
body = open(helper).read()
assert "\nPURGE\n" not in body
open(dst, "w").write(open(tpl).read().replace("@PURGE_HELPER@\n", body))
PY
chmod 0755 "$root/DEBIAN/postrm"
printf '/etc/init.d/uvmd\n/etc/uvmd/config.json\n' >"$root/DEBIAN/conffiles"

# Depends: the shared libraries' packages, from the binaries' NEEDED entries
# (dpkg-shlibdeps, with the libraries' own version rules where dpkg-dev is
# installed; else the packages that own the libraries, unversioned).
if command -v dpkg-shlibdeps >/dev/null; then
        mkdir -p "$stage/src/debian"
        printf 'Source: uvmd\n\nPackage: uvmd\nArchitecture: amd64\n' >"$stage/src/debian/control"
        shlibs=$(cd "$stage/src" && dpkg-shlibdeps -O "$root/usr/libexec/uvmd/uvmd" \
                "$root/usr/libexec/uvmd/uvmd-agent" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
else
        shlibs=$(for b in "$root"/usr/libexec/uvmd/uvmd "$root"/usr/libexec/uvmd/uvmd-agent; do
                objdump -p "$b" | awk '/NEEDED/ {print $2}'
        done | sort -u | while read -r lib; do
                path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')
                dpkg -S "$(readlink -f "$path")" 2>/dev/null | cut -d: -f1 | head -n1
        done | sort -u | paste -sd, | sed 's/,/, /g')
fi
if [ -z "$shlibs" ]; then
        echo "build-deb: could not work out the shared library dependencies" >&2
        exit 1
fi
size=$(du -k -s --apparent-size --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" \
        "$here/control.in" >"$root/DEBIAN/control"
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z |
        xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

deb=$out/uvmd_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
