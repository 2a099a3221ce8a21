#!/usr/bin/env bash
# uvmd.exe's ImageService end to end under Wine: the REAL uvmd.exe on the
# hcs rig (hcs_rig_lib.sh: fake computecore/computenetwork DLLs, the fake
# agent) pulls from Debian's docker-registry on 127.0.0.1 (images built
# from busybox-static by tests/integration/imagelib.py, pushed with
# skopeo) through its WinHTTP client; images_client.py (python3-grpcio)
# checks PullImage by tag, digest and index, ImageStatus, ListImages,
# ImageFsInfo, each layer's disk (<data root>\images\disks\<chain id>.vhd:
# a VHD footer, the erofs part loop-mounted here and compared with
# busybox), refusals leaving nothing, a restart keeping the images, a
# pull killed with uvmd.exe leaving nothing after the next start,
# CreateContainer from a pulled image, RemoveImage refused while a
# container (created; reloaded after a restart) uses the image, and
# RemoveImage once it is gone. Prints
# "ok NAME" / "not ok NAME" per check and exits non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_images_test.sh
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1
for tool in /usr/bin/docker-registry /usr/bin/skopeo /bin/busybox; do
        if [ ! -x "$tool" ]; then
                echo "not ok setup # $tool missing (docker-registry, skopeo, busybox-static)"
                exit 1
        fi
done
# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
hcs_rig_setup uvmd-images-test images_client.py

reg_pid=
images_cleanup() {
        [ -z "$reg_pid" ] || kill "$reg_pid" 2>/dev/null
        hcs_rig_cleanup
}
trap images_cleanup EXIT

t0=$(date +%s)
out=$($py tests/windows/images_client.py 0 setup "$dir" 2>&1)
reg_pid=$(awk '/^registry /{print $2}' <<<"$out")
host=$(awk '/^registry /{print $3}' <<<"$out")
if [ -z "$host" ]; then
        not_ok setup "registry and images: $(tail -n 5 <<<"$out" | tr '\n' ' ')"
        exit 1
fi
echo "# registry $host, images pushed in $(($(date +%s) - t0)) s"
# The registry is plain HTTP on loopback: listed as insecure.
$py - "$dir/config.json" "$host" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["insecure_registries"] = [sys.argv[2]]
json.dump(c, open(sys.argv[1], "w"))
PY

images=$dir/data/images
start_uvmd "$dir/uvmd1.log"
client pull
check pull-logged-once-concurrent test "$(grep -c "pulling $host/lib/conc:v1" "$dir/uvmd1.log")" -eq 1
client disks
client refused
client ctr
client inuse

# --- restarted: the images are kept -------------------------------------------
kill -9 "$uvmd_pid"
wait "$uvmd_pid" 2>/dev/null
uvmd_pid=
start_uvmd "$dir/uvmd2.log"
client kept
client inuse-kept

# --- a pull killed with uvmd.exe: nothing left after the next start --------------
$py tests/windows/images_client.py "$port" bigpull >"$dir/bigpull.out" 2>&1 &
bigpull_pid=$!
for _ in $(seq 1 300); do
        [ -n "$(ls "$images/tmp" 2>/dev/null)" ] && break
        sleep 0.05
done
check killed-mid-pull test -n "$(ls "$images/tmp" 2>/dev/null)"
kill -9 "$uvmd_pid"
wait "$uvmd_pid" 2>/dev/null
wait "$bigpull_pid" 2>/dev/null
uvmd_pid=
start_uvmd "$dir/uvmd3.log"
client afterkill
check tmp-emptied-at-start test -z "$(ls "$images/tmp")"

client release
client remove
echo "# $(($(date +%s) - t0)) s"
[ "$failed" -eq 0 ]
