#!/usr/bin/env bash
# hcs pods' containers on their image's layers, end to end under Wine: the
# REAL uvmd.exe with the fake computecore.dll (which keeps each SCSI
# attachment as a file and notes every HcsGrantVmAccess and
# HcsRevokeVmAccess) and the fake agent
# (which notes each layer disk's mount and unmount), hcs_rig_lib.sh. The
# layers' disks are put in the store by hand (<data root>/images/disks/
# <chain id hex>.vhd, what the Windows pull writes). Two containers on one
# image: each layer granted, attached and mounted once; the first removed
# (still attached, still granted), the second removed (detached, every
# grant revoked); an image whose disk is missing refused; uvmd.exe killed
# (-9) while a new layer's mount hangs and restarted: the half-attached
# disk undone and revoked, the others kept; the pod's stop detaching every
# disk and revoking every grant. Prints "ok NAME" / "not ok NAME" per check and
# exits non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_layers_test.sh
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
hcs_rig_setup uvmd-layers-test layers_client.py

# --- the store: three images over four layers, three of which have a disk ---
images=$dir/data/images
mkdir -p "$images/blobs/sha256" "$images/disks"
# seed NAME DIFF... : the image's config blob and record; prints its id
seed() {
        $py - "$images" "$@" <<'PY'
import hashlib, json, os, sys
root, name, diffs = sys.argv[1], sys.argv[2], ["sha256:" + hashlib.sha256(d.encode()).hexdigest()
                                                for d in sys.argv[3:]]
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
hexid = hashlib.sha256(cfg).hexdigest()
open(os.path.join(root, "blobs/sha256", hexid), "wb").write(cfg)
layers, chain = [], None
for d in diffs:  # the store's record names each layer's chain id: its disk is kept
    chain = d if chain is None else "sha256:" + hashlib.sha256((chain + " " + d).encode()).hexdigest()
    layers.append({"digest": d, "chain": chain, "size": 1})
idx = os.path.join(root, "images.json")
recs = json.load(open(idx))["images"] if os.path.exists(idx) else []
recs.append({"id": "sha256:" + hexid, "manifest": "sha256:" + hexid, "size": 1,
             "tags": ["docker.io/library/%s:latest" % name], "digests": [], "layers": layers})
json.dump({"images": recs}, open(idx, "w"))
print("sha256:" + hexid)
PY
}
# chain N DIFF... : the chain id hex of layer N (OCI: sha256 over "parent diff")
chain() {
        $py - "$@" <<'PY'
import hashlib, sys
n, diffs = int(sys.argv[1]), ["sha256:" + hashlib.sha256(d.encode()).hexdigest() for d in sys.argv[2:]]
c = diffs[0]
for d in diffs[1:n + 1]:
    c = "sha256:" + hashlib.sha256((c + " " + d).encode()).hexdigest()
print(c[7:])
PY
}
img_a=$(seed alpha base mid)    # layers base, base+mid
img_b=$(seed beta base nodisk)  # base, base+nodisk: the second has no disk
img_c=$(seed gamma base other)  # base, base+other
for spec in "0 base mid" "1 base mid" "1 base other"; do
        # shellcheck disable=SC2086 # the words are chain's arguments
        printf 'fake VHD %s\n' "$spec" >"$images/disks/$(chain $spec).vhd"
done
missing=$(chain 1 base nodisk)

start_uvmd "$dir/uvmd1.log"
client pod
pod=$(awk '/^pod /{print $2}' <<<"$out")
[ -n "$pod" ] || {
        not_ok setup-no-pod "$(tail -n 5 "$dir/uvmd1.log" | tr '\n' ' ')"
        exit 1
}
hcs=$dir/hcs/$pod@vm
calls() { # how many agent call lines are exactly "$1"
        grep -cxF "$1" "$dir/agent/calls" 2>/dev/null
}
count() { # how many agent call lines match the regex "$1"
        grep -c "$1" "$dir/agent/calls" 2>/dev/null
}
granted() { # LAYER-SPEC...: exactly these disks are granted and not revoked
        local want got
        # shellcheck disable=SC2086 # each spec is chain's arguments
        want=$(for spec in "$@"; do echo "$(chain $spec).vhd"; done | sort | tr '\n' ' ')
        got=$(grants_left "$pod@vm")
        [ "$want" = "$got" ] || {
                echo "granted: want '$want', got '$got'" >&2
                return 1
        }
}
attached() { # attached LUN...: exactly these SCSI attachments exist
        local want got
        want=$([ $# -eq 0 ] || printf '%s\n' "$@" | sort | tr '\n' ' ')
        got=$(for f in "$hcs".scsi-*; do [ -e "$f" ] && echo "${f##*.scsi-}"; done | sort | tr '\n' ' ')
        [ "$want" = "$got" ] || {
                echo "attached: want '$want', got '$got'" >&2
                return 1
        }
}

# --- two containers on one image: each layer attached and mounted once -----
client create "$pod" one "$img_a"
ctr1=$(awk '/^ctr /{print $2}' <<<"$out")
client create "$pod" two "$img_a"
ctr2=$(awk '/^ctr /{print $2}' <<<"$out")
check two-layers-attached attached 0 1
check attached-read-only grep -q '"ReadOnly":true' "$hcs.scsi-1"
check attached-vhd-path grep -qF "$(chain 1 base mid).vhd" "$hcs.scsi-1"
check granted-once test "$(grep -c "^$pod@vm " "$dir/hcs/grants")" = 2
check granted-both granted "0 base mid" "1 base mid"
check mounted-once test "$(count '^mount ')" = 2
check mount-lun0 test "$(calls "mount 0 /run/layers/0")" = 1
check mount-lun1 test "$(calls "mount 1 /run/layers/1")" = 1
layers_ok() { # the agent's create request: the guest's layer paths, lowest first
        $py -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["Layers"] != ["/run/layers/0", "/run/layers/1"])' \
                "$dir/agent/create-$1.json"
}
check ctr1-layers layers_ok "$ctr1"
check ctr2-layers layers_ok "$ctr2"
check record-users grep -q "\"luns\":\[0,1\],\"id\":\"$ctr1\"}.*\"luns\":\[0,1\],\"id\":\"$ctr2\"" \
        "$dir/state/pods/$pod/hcs-pod.json"

# --- a layer without its disk: refused before anything -----------------------
client refused "$pod" "$img_b"
check refused-names-disk grep -q "no disk .*$missing.vhd" "$dir/uvmd1.log"
check refused-nothing-attached attached 0 1

# --- the first removed: still attached; the second: detached -----------------
client remove "$ctr1"
check first-removed-still-attached attached 0 1
check first-removed-no-unmount test "$(count '^unmount ')" = 0
check first-removed-still-granted granted "0 base mid" "1 base mid"
check first-removed-no-revoke test ! -e "$dir/hcs/revokes"
client remove "$ctr2"
check second-removed-detached attached
check second-removed-unmounted test "$(count '^unmount ')" = 2
check second-removed-revoked granted
check second-removed-revoked-once test "$(grep -c "^$pod@vm " "$dir/hcs/revokes")" = 2
check record-no-disks grep -q '"disks":\[\]' "$dir/state/pods/$pod/hcs-pod.json"

# --- uvmd.exe killed while a new layer's mount hangs, then restarted -----------
client create "$pod" three "$img_a"
ctr3=$(awk '/^ctr /{print $2}' <<<"$out")
check reattached-again attached 0 1
touch "$dir/agent/hang-mount"
timeout 120 $py tests/windows/layers_client.py "$port" maybe "$pod" four "$img_c" >"$dir/four.out" 2>&1 &
four=$!
for _ in $(seq 1 200); do
        [ "$(calls "mount-hang 2 /run/layers/2")" = 1 ] && break
        sleep 0.1
done
check hang-reached test "$(calls "mount-hang 2 /run/layers/2")" = 1
check hang-disk-attached attached 0 1 2
check hang-recorded grep -q '"lun":2,"path":"[^"]*","host":true,"guest":true,"ready":false' \
        "$dir/state/pods/$pod/hcs-pod.json"
kill -9 "$uvmd_pid"
wait "$uvmd_pid" 2>/dev/null
uvmd_pid=
rm -f "$dir/agent/hang-mount"
for _ in $(seq 1 100); do
        [ "$(calls "mount 2 /run/layers/2")" = 1 ] && break
        sleep 0.1
done
wait "$four" 2>/dev/null
start_uvmd "$dir/uvmd2.log"
for _ in $(seq 1 300); do
        grep -q "pods: 1 recovered" "$dir/uvmd2.log" 2>/dev/null && break
        sleep 0.1
done
check restart-reattached grep -q "pod $pod: reattached" "$dir/uvmd2.log"
check restart-half-disk-undone attached 0 1
check restart-half-disk-unmounted test "$(calls "unmount 2 /run/layers/2")" = 1
check restart-half-disk-revoked granted "0 base mid" "1 base mid"
check restart-kept-disks-not-remounted test "$(calls "mount 0 /run/layers/0")" = 2
check restart-record grep -q "\"luns\":\[0,1\],\"id\":\"$ctr3\"" "$dir/state/pods/$pod/hcs-pod.json"
no_lun2() { ! grep -q '"lun":2,' "$1"; }
check restart-record-no-lun2 no_lun2 "$dir/state/pods/$pod/hcs-pod.json"

# --- the pod's stop detaches every disk ------------------------------------------
client stop "$pod"
check stop-detached-all attached
check stop-unmounted test "$(count '^unmount [01] ')" = 4
check stop-revoked-all granted
check stop-no-record bash -c '[ -z "$(ls "$1")" ]' _ "$dir/state/pods"
check stop-no-system bash -c '! ls "$1" | grep -q "\.state$"' _ "$dir/hcs"

[ "$failed" -eq 0 ]
