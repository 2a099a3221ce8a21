#!/usr/bin/env bash
# uvmd.exe's pod calls end to end under Wine: the REAL uvmd.exe
# (//service/windows:uvmd-win) with fake computecore.dll and
# computenetwork.dll (tests/windows/fakes/, built here with mingw-w64 and
# put in this test's own Wine prefix's system32, where uvmd.exe's bindings
# load them from), its bridge pointed at a scripted agent over loopback TCP
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
# The prefix is its own (UVMD_HCS_WINEPREFIX, default
# /var/cache/uvmd/wineprefix-hcs, made on first use): the shared one must
# keep lacking computecore.dll for uvmd_exe_test.sh and bind_win_test.
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1

# shellcheck disable=SC2034 # winesvc_lib.sh's: no service is registered
name=uvmd-pods-test
bin=${UVMD_WINDOWS_BIN:-}/service/windows/uvmd-win
if [ -z "${UVMD_WINDOWS_BIN:-}" ] || [ ! -f "$bin" ]; then
        not_ok setup "no $bin (bazel build --config=mingw //service/windows:uvmd-win)"
        exit 1
fi
py=/usr/bin/python3
if ! $py -c 'import grpc, grpc_tools' 2>/dev/null; then
        not_ok setup "$py lacks grpc or grpc_tools (python3-grpcio, python3-grpc-tools)"
        exit 1
fi
if ! bazel build //tests/windows/fakes:agent_server >/dev/null 2>&1; then
        not_ok setup "bazel build //tests/windows/fakes:agent_server failed"
        exit 1
fi
agent_bin=$(bazel info bazel-bin 2>/dev/null)/tests/windows/fakes/agent_server

winesvc_setup # the prefix's lock, $dir
exe=$dir/uvmd.exe
cp "$bin" "$exe"
agent_pid=
uvmd_pid=
cleanup() {
        [ -z "$uvmd_pid" ] || kill -9 "$uvmd_pid" 2>/dev/null
        [ -z "$agent_pid" ] || kill "$agent_pid" 2>/dev/null
        winesvc_cleanup
}
trap cleanup EXIT

if [ ! -f "$WINEPREFIX/system.reg" ]; then
        timeout 300 wineboot -i >/dev/null 2>&1 || {
                not_ok setup "wineboot -i of $WINEPREFIX failed"
                exit 1
        }
fi
for dll in computecore computenetwork; do
        if ! x86_64-w64-mingw32-gcc -O2 -Wall -Werror -shared -o "$dir/$dll.dll" \
                "tests/windows/fakes/$dll.c" -lole32 2>"$dir/$dll.err"; then
                not_ok "build-fake-$dll" "$(head -c 300 "$dir/$dll.err")"
                exit 1
        fi
        cp "$dir/$dll.dll" "$WINEPREFIX/drive_c/windows/system32/$dll.dll"
done
winesvc_start # a persistent wineserver, the prefix booted, $windir

mkdir -p "$dir/hcs"
export UVMD_FAKE_HCS_DIR_UNIX=$dir/hcs UVMD_FAKE_HCS_DIR="$windir\\hcs" UVMD_PYGEN=$dir/pygen

"$agent_bin" >"$dir/agent.out" 2>&1 &
agent_pid=$!
for _ in $(seq 1 50); do
        agent_port=$(awk '/^port /{print $2}' "$dir/agent.out")
        [ -n "$agent_port" ] && break
        sleep 0.1
done
[ -n "$agent_port" ] || {
        not_ok setup "the agent server did not start: $(cat "$dir/agent.out")"
        exit 1
}

port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
root=${windir//\\/\\\\}
printf '{"socket": "tcp://127.0.0.1:%s", "state_root": "%s\\\\state", "data_root": "%s\\\\data",
 "guest_dir": "%s\\\\guest", "hcs_bridge_address": "127.0.0.1:%s", "shutdown_grace_ms": 2000,
 "log_level": "debug"}\n' "$port" "$root" "$root" "$root" "$agent_port" >"$dir/config.json"

start_uvmd() { # start_uvmd LOG
        wine "$exe" --config "$windir\\config.json" >"$1" 2>&1 &
        uvmd_pid=$!
}
client() { # client MODE [ARG]: its ok/not ok lines are this script's; its stdout in $out
        local rc
        out=$(timeout 120 $py tests/windows/pods_client.py "$port" "$@" 2>&1)
        rc=$?
        echo "$out" | grep -E "^(not )?ok " || true
        failed=$((failed + $(echo "$out" | grep -c "^not ok ")))
        if [ "$rc" -ne 0 ] && ! grep -q "^not ok " <<<"$out"; then
                not_ok "client-$1" "$(echo "$out" | tail -n 3 | tr '\n' ' ')"
        fi
}
connections() {
        grep -c "^connection " "$dir/agent.out"
}

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
