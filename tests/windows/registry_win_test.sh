#!/usr/bin/env bash
# The registry client as Windows builds it (image/registry*.c over WinHTTP,
# //tests/unit/image_registry:reg_fetch) under Wine, against servers this test
# starts on loopback and stops again (registry_win.py): Debian's
# docker-registry with images pushed by skopeo, htpasswd and bearer-token
# auth, a redirect to blob storage, a manifest over the size cap, a blob
# over its size or with the wrong content, a 404, 503s, dropped
# connections and a silent server. Prints "ok NAME" / "not ok NAME" per
# check and exits non-zero if any failed.
#
#   tests/windows/registry_win_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
export WINEPREFIX=${WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix} WINEDEBUG=-all
py=/usr/bin/python3

for t in /usr/bin/docker-registry /usr/bin/skopeo /usr/bin/htpasswd /usr/bin/wine; do
        if [ ! -x "$t" ]; then
                echo "not ok setup: $t missing (docker-registry, skopeo, apache2-utils, wine)"
                exit 1
        fi
done
if ! bazel build --config=mingw //tests/unit/image_registry:reg_fetch >/dev/null 2>&1; then
        echo "not ok setup: bazel build --config=mingw //tests/unit/image_registry:reg_fetch failed"
        exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$(bazel info --config=mingw bazel-bin 2>/dev/null)/tests/unit/image_registry/reg_fetch" \
        "$dir/reg_fetch.exe"
# The servers are children of the driver, which stops them on its way out.
timeout 500 $py tests/windows/registry_win.py "$dir/reg_fetch.exe"
