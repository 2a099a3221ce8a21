#!/usr/bin/env bash
# uvmd.exe's pod calls end to end under Wine: the REAL uvmd.exe
# (//service/windows:uvmd-win) with fake computecore.dll and
# computenetwork.dll (tests/windows/fakes/, built here with mingw-w64 and
# put in this test's own Wine prefix's system32, where uvmd.exe's bindings
# load them from), its bridge pointed at a fake agent over loopback TCP
# (hcs_bridge_address; the agent is tests/windows/fakes:agent_server, a
# Linux program). Linux's python3-grpcio (pods_client.py) runs, lists,
# stops and removes pods; uvmd.exe is killed (-9) and restarted with a pod
# running, and stopped with Ctrl-C and restarted, reattaching each time;
# a VM that exits on its own makes its pod NOTREADY; a VM start that fails
# half-way leaves no record and no compute system. Prints "ok NAME" /
# "not ok NAME" per check and exits non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_pods_test.sh
#
# The rig (prefix, fakes, agent, client) is hcs_rig_lib.sh's.
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1

# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
hcs_rig_setup uvmd-pods-test pods_client.py

# --- a pod run, its records and its VM --------------------------------------
start_uvmd "$dir/uvmd1.log"
client run
pod=$(awk '/^pod /{print $2}' <<<"$out")
[ -n "$pod" ] || {
        not_ok run-no-pod-id
        exit 1
}
check record-written test -f "$dir/state/pods/$pod/pod.json"
check hcs-record-written grep -q '"ready"' "$dir/state/pods/$pod/hcs-pod.json"
check uvm-document grep -q '"ShouldTerminateOnLastHandleClosed":false' "$dir/hcs/$pod@vm.doc.json"
check uvm-document-kernel grep -qF 'guest\\vmlinux' "$dir/hcs/$pod@vm.doc.json"
check log-ready log_order "$dir/uvmd1.log" "hcs pod $pod: VM $pod@vm running" \
        "pod $pod: creating -> ready"
client refused

# --- killed and restarted: the pod is reattached ------------------------------
n=$(connections)
kill -9 "$uvmd_pid"
wait "$uvmd_pid" 2>/dev/null
uvmd_pid=
check kill-leaves-system grep -q '^Running' "$dir/hcs/$pod@vm.state"
start_uvmd "$dir/uvmd2.log"
client reattached "$pod"
check reattach-logged log_order "$dir/uvmd2.log" "hcs pod $pod: reattached to VM $pod@vm" \
        "pod $pod: reattached" "pods: 1 recovered"
check reattach-reconnected test "$(connections)" -gt "$n"

# --- a failure half-way, and a VM that exits ----------------------------------
client fail
check fail-no-record bash -c '[ "$(ls "$1")" = "$2" ]' _ "$dir/state/pods" "$pod"
client exit

# --- Ctrl-C (the drain) and restarted: reattached again -----------------------
kill -INT "$uvmd_pid"
rc=timeout
for _ in $(seq 1 100); do
        if ! kill -0 "$uvmd_pid" 2>/dev/null; then
                wait "$uvmd_pid"
                rc=$?
                break
        fi
        sleep 0.2
done
[ "$rc" = timeout ] && kill -9 "$uvmd_pid" 2>/dev/null
uvmd_pid=
check ctrl-c-exit-0 test "$rc" = 0
check ctrl-c-leaves-system grep -q '^Running' "$dir/hcs/$pod@vm.state"
start_uvmd "$dir/uvmd3.log"
client reattached "$pod"

# --- stopped and removed: nothing left -----------------------------------------
client stop "$pod"
check no-record-left bash -c '[ -z "$(ls "$1")" ]' _ "$dir/state/pods"
check no-namespace-left bash -c '! ls "$1" | grep -q "^ns-"' _ "$dir/hcs"

[ "$failed" -eq 0 ]
