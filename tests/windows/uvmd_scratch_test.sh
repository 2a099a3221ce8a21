#!/usr/bin/env bash
# hcs pods' containers on their scratch disks, end to end under Wine: the
# REAL uvmd.exe (scratch_size_gb 1) with the fake computecore.dll (each
# SCSI attachment kept as a file, every HcsGrantVmAccess and
# HcsRevokeVmAccess noted) and the
# fake agent (each Disk mount noted, a scratch's as "scratch-mount"),
# hcs_rig_lib.sh. A container on a one-layer image: its layer at LUN 0,
# its scratch <state>/pods/<pod>/scratch-<id>.vhd made (a sparse fixed
# VHD of 1 GiB: the footer's cookie at its end), granted, attached
# read-write at LUN 1 and mounted by the guest at /run/scratch/<id>;
# uvmd.exe killed (-9) and restarted: the scratch kept, not mounted again;
# the container removed: unmounted, detached, its grant revoked (before
# the file goes: the fake refuses a revoke of a missing file), the file
# gone; a second container's scratch gone with the pod's stop, every
# grant revoked. Prints "ok NAME" / "not ok
# NAME" per check and exits non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_scratch_test.sh
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
export UVMD_RIG_SCRATCH_GB=1
hcs_rig_setup uvmd-scratch-test layers_client.py

# --- the store: one image of one layer, its disk there -------------------------
images=$dir/data/images
mkdir -p "$images/blobs/sha256" "$images/disks"
img=$($py - "$images" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
diff = "sha256:" + hashlib.sha256(b"base").hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
hexid = hashlib.sha256(cfg).hexdigest()
open(os.path.join(root, "blobs/sha256", hexid), "wb").write(cfg)
open(os.path.join(root, "disks", diff[7:] + ".vhd"), "w").write("fake VHD base\n")
json.dump({"images": [{"id": "sha256:" + hexid, "manifest": "sha256:" + hexid, "size": 1,
                       "tags": ["docker.io/library/scratchy:latest"], "digests": [],
                       "layers": [{"digest": diff, "chain": diff, "size": 1}]}]},
          open(os.path.join(root, "images.json"), "w"))
print("sha256:" + hexid)
PY
)

start_uvmd "$dir/uvmd1.log"
client pod
pod=$(awk '/^pod /{print $2}' <<<"$out")
[ -n "$pod" ] || {
        not_ok setup-no-pod "$(tail -n 5 "$dir/uvmd1.log" | tr '\n' ' ')"
        exit 1
}
hcs=$dir/hcs/$pod@vm
poddir=$dir/state/pods/$pod
calls() { grep -cxF "$1" "$dir/agent/calls" 2>/dev/null; }
attached() { # attached LUN...: exactly these SCSI attachments exist
        local want got
        want=$([ $# -eq 0 ] || printf '%s\n' "$@" | sort | tr '\n' ' ')
        got=$(for f in "$hcs".scsi-*; do [ -e "$f" ] && echo "${f##*.scsi-}"; done | sort | tr '\n' ' ')
        [ "$want" = "$got" ] || {
                echo "attached: want '$want', got '$got'" >&2
                return 1
        }
}
vhd_ok() { # a fixed VHD of 1 GiB, sparse, its footer's cookie at the end
        [ "$(stat -c %s "$1")" = $(((1 << 30) + 512)) ] &&
                [ "$(stat -c %b "$1")" -lt 2048 ] &&
                [ "$(tail -c 512 "$1" | head -c 8)" = conectix ]
}

# --- a container: its layer, then its scratch ------------------------------------
client create "$pod" one "$img"
ctr=$(awk '/^ctr /{print $2}' <<<"$out")
scratch=$poddir/scratch-$ctr.vhd
check attached-layer-and-scratch attached 0 1
check scratch-read-write grep -q '"ReadOnly":false' "$hcs.scsi-1"
check layer-read-only grep -q '"ReadOnly":true' "$hcs.scsi-0"
check scratch-attached-path grep -qF "scratch-$ctr.vhd" "$hcs.scsi-1"
check scratch-file vhd_ok "$scratch"
check scratch-granted grep -qF "scratch-$ctr.vhd" "$dir/hcs/grants"
check scratch-grant-held grep -qF "scratch-$ctr.vhd " <<<"$(grants_left "$pod@vm")"
check scratch-mounted test "$(calls "scratch-mount 1 /run/scratch/$ctr")" = 1
check layer-mounted test "$(calls "mount 0 /run/layers/0")" = 1
check scratch-recorded grep -q "\"lun\":1,[^}]*\"ready\":true,\"scratch\":\"$ctr\",\"file\":true" \
        "$poddir/hcs-pod.json"

# --- uvmd.exe killed and restarted: the scratch kept ------------------------------
kill -9 "$uvmd_pid"
wait "$uvmd_pid" 2>/dev/null
uvmd_pid=
start_uvmd "$dir/uvmd2.log"
for _ in $(seq 1 300); do
        grep -q "pods: 1 recovered" "$dir/uvmd2.log" 2>/dev/null && break
        sleep 0.1
done
check restart-reattached grep -q "pod $pod: reattached" "$dir/uvmd2.log"
check restart-kept attached 0 1
check restart-file-kept vhd_ok "$scratch"
check restart-not-remounted test "$(calls "scratch-mount 1 /run/scratch/$ctr")" = 1

# --- removed: unmounted, detached, the file gone -----------------------------------
client remove "$ctr"
check removed-unmounted test "$(calls "unmount 1 /run/scratch/$ctr")" = 1
check removed-detached attached
check removed-file-gone test ! -e "$scratch"
check removed-revoked test "$(grep -cF "scratch-$ctr.vhd" "$dir/hcs/revokes")" = 1
check removed-all-revoked test -z "$(grants_left "$pod@vm")" # its layer too: no other user

# --- a second container's scratch goes with the pod's stop -------------------------
client create "$pod" two "$img"
ctr2=$(awk '/^ctr /{print $2}' <<<"$out")
check second-scratch vhd_ok "$poddir/scratch-$ctr2.vhd"
check second-attached attached 0 1
client stop "$pod"
check stop-detached attached
check stop-unmounted test "$(calls "unmount 1 /run/scratch/$ctr2")" = 1
check stop-file-gone test ! -e "$poddir/scratch-$ctr2.vhd"
check stop-revoked-all test -z "$(grants_left "$pod@vm")"

[ "$failed" -eq 0 ]
