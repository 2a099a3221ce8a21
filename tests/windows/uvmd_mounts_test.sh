#!/usr/bin/env bash
# CRI mounts in hcs pods end to end under Wine: the REAL uvmd.exe with the
# fake computecore.dll (which keeps each VM's Plan9 shares as files and
# logs every modify request) and the fake agent (which notes each Plan9
# mount and unmount), hcs_rig_lib.sh's rig. Two containers mounting the
# same host directory get one share, a read-only mount its own; bad host
# paths are refused with nothing made; a share HCS refuses, or the guest
# cannot mount, leaves nothing; host files as the kubelet mounts them
# (termination-log, /etc/hosts) are shares of their directory restricted
# to the file, the spec binding the file; uvmd.exe killed (-9) and
# restarted knows the shares: removing a container removes only the
# shares no other uses; the pod's stop removes the rest. Prints "ok NAME" / "not ok NAME" per
# check and exits non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_mounts_test.sh
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
hcs_rig_setup uvmd-mounts-test mounts_client.py

# --- a known image (as uvmd_ctrs_test.sh seeds it) and the host's directories
hcs_rig_seed_image
mkdir -p "$dir/host/data" "$dir/host/cfg" "$dir/host/new"
data="$windir\\host\\data"
cfg="$windir\\host\\cfg"
new="$windir\\host\\new"

shares() { # the fake HCS's shares of the pod's VM, by name
        (cd "$dir/hcs" && ls -- "$pod@vm".plan9-* 2>/dev/null | sed 's/.*\.plan9-//' | tr '\n' ' ')
}
records() { # the pod's container records, sorted
        ls "$dir/state/pods/$pod/containers" 2>/dev/null | sort | tr '\n' ' '
}
two_records() { # the records of a and b alone
        test "$(records)" = "$(printf '%s.json\n' "$a" "$b" | sort | tr '\n' ' ')"
}

# --- two containers, one directory: one share; a read-only one of its own ---
start_uvmd "$dir/uvmd1.log"
client run "$data" "$cfg"
pod=$(awk '/^pod /{print $2}' <<<"$out")
a=$(awk '/^a /{print $2}' <<<"$out")
b=$(awk '/^b /{print $2}' <<<"$out")
if [ -z "$pod" ] || [ -z "$a" ] || [ -z "$b" ]; then
        not_ok run-no-ids "$(tail -n 5 "$dir/uvmd1.log" | tr '\n' ' ')"
        exit 1
fi
check hcs-shares-m0-m1 test "$(shares)" = "m0 m1 "
check hcs-share-readonly-flags grep -q '"Flags":5' "$dir/hcs/$pod@vm.plan9-m1"
check hcs-share-rw-flags grep -q '"Flags":4' "$dir/hcs/$pod@vm.plan9-m0"
check hcs-share-path grep -qF 'host\\data' "$dir/hcs/$pod@vm.plan9-m0"
check record-knows-shares grep -q '"share_users"' "$dir/state/pods/$pod/hcs-pod.json"

# --- refused before anything exists ------------------------------------------
client refused "$pod" "$data"
check refused-no-record two_records
client failhcs "$pod" "$new"
check failhcs-no-record two_records
check failhcs-shares-kept test "$(shares)" = "m0 m1 "

# --- host files, as the kubelet's termination-log and /etc/hosts ---------
mkdir -p "$dir/host/pods/p1/c1"
: >"$dir/host/pods/p1/c1/termination-log"
echo "127.0.0.1 localhost" >"$dir/host/pods/p1/c1/etc-hosts"
client file "$pod" "$windir\\host\\pods\\p1\\c1"
t=$(awk '/^t /{print $2}' <<<"$out")
u=$(awk '/^u /{print $2}' <<<"$out")
check file-shares-m2-m3 test "$(shares)" = "m0 m1 m2 m3 " -a "$(awk '/^tshare /{print $2}' <<<"$out")" = m2
check file-record-knows-file grep -q '"file":"termination-log"' "$dir/state/pods/$pod/hcs-pod.json"

# --- killed during a share's guest mount, restarted: the half-made share
# undone, the others known ------------------------------------------------
touch "$dir/agent/hang-share"
timeout 120 "$py" tests/windows/mounts_client.py "$port" hang "$pod" "$new" >"$dir/hang.out" 2>&1 &
hang_pid=$!
for _ in $(seq 1 300); do
        grep -q '^share-hang' "$dir/agent/calls" && break
        sleep 0.1
done
check hang-reached grep -q '^share-hang /run/mounts/m4$' "$dir/agent/calls"
check hang-share-on-host test "$(shares)" = "m0 m1 m2 m3 m4 "
kill -9 "$uvmd_pid"
wait "$uvmd_pid" 2>/dev/null
uvmd_pid=
rm -f "$dir/agent/hang-share"
wait "$hang_pid" 2>/dev/null
sleep 0.5 # the agent finishes the mount it was in
start_uvmd "$dir/uvmd2.log"
n_mounts=$(grep -c '^share-mount' "$dir/agent/calls")
client ready
check restart-half-share-removed test "$(shares)" = "m0 m1 m2 m3 "
check restart-half-share-unmounted grep -q '^share-unmount /run/mounts/m4$' "$dir/agent/calls"
check restart-log-order log_order "$dir/uvmd2.log" "pod $pod: reattached" "pods: 1 recovered"
client rm "$t"
check restart-rm-t-drops-hosts-share test "$(shares)" = "m0 m1 m2 "
check restart-agent-unmounted-m3 grep -q '^share-unmount /run/mounts/m3$' "$dir/agent/calls"
check restart-tlog-share-kept bash -c '! grep -q "^share-unmount /run/mounts/m2$" "$1"' _ \
        "$dir/agent/calls"
client rm "$u"
check restart-rm-u-drops-tlog-share test "$(shares)" = "m0 m1 "
check restart-agent-unmounted-m2 grep -q '^share-unmount /run/mounts/m2$' "$dir/agent/calls"
client rm "$a"
check restart-rm-a-drops-m1 test "$(shares)" = "m0 "
check restart-agent-unmounted-m1 grep -q '^share-unmount /run/mounts/m1$' "$dir/agent/calls"
check restart-m0-still-mounted bash -c '! grep -q "^share-unmount /run/mounts/m0$" "$1"' _ \
        "$dir/agent/calls"
check restart-no-new-mount test "$(grep -c '^share-mount' "$dir/agent/calls")" = "$n_mounts"

# --- the pod's stop removes the rest ----------------------------------------
client stop "$pod"
check stop-agent-unmounted-m0 grep -q '^share-unmount /run/mounts/m0$' "$dir/agent/calls"
check stop-hcs-removed-all bash -c '! ls "$1" | grep -q "\.plan9-"' _ "$dir/hcs"
check no-record-left bash -c '[ -z "$(ls "$1")" ]' _ "$dir/state/pods"
check no-system-left bash -c '! ls "$1" | grep -q "\.state$"' _ "$dir/hcs"

[ "$failed" -eq 0 ]
