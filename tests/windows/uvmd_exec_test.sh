#!/usr/bin/env bash
# uvmd.exe's ExecSync, container and pod stats and the CRI log end to end
# under Wine: the REAL uvmd.exe with fake computecore.dll and
# computenetwork.dll and the fake agent (hcs_rig_lib.sh), which runs
# scripted commands, answers stats with known numbers and relays a
# container's output on request (exec_client.py says what is checked).
# uvmd.exe is killed (-9) and restarted with the container running: its
# log is reopened and output still reaches it. Prints "ok NAME" /
# "not ok NAME" per check and exits non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_exec_test.sh
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
hcs_rig_setup uvmd-exec-test exec_client.py

# --- a known image in the node's store (as uvmd_ctrs_test.sh seeds it) --------
hcs_rig_seed_image
mkdir -p "$dir/logs"
export RIG_LOGS=$dir/logs RIG_LOGS_WIN="$windir\\logs"

start_uvmd "$dir/uvmd1.log"
client run
pod=$(awk '/^pod /{print $2}' <<<"$out")
ctr=$(awk '/^ctr /{print $2}' <<<"$out")
if [ -z "$pod" ] || [ -z "$ctr" ]; then
        not_ok run-no-ids "$(tail -n 5 "$dir/uvmd1.log" | tr '\n' ' ')"
        exit 1
fi
client exec "$pod" "$ctr"
client stats "$pod" "$ctr"
client log "$pod" "$ctr"

# --- killed with the container running, restarted: the log reopened ---------
kill -9 "$uvmd_pid"
wait "$uvmd_pid" 2>/dev/null
uvmd_pid=
start_uvmd "$dir/uvmd2.log"
client restarted "$pod" "$ctr"
check restart-no-log-warning bash -c '! grep -q "cannot reopen its log" "$1"' _ "$dir/uvmd2.log"

client stopped "$pod" "$ctr"
check no-record-left bash -c '[ -z "$(ls "$1")" ]' _ "$dir/state/pods"

[ "$failed" -eq 0 ]
