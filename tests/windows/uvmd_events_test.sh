#!/usr/bin/env bash
# uvmd.exe's GetContainerEvents end to end under Wine: the REAL uvmd.exe
# with fake computecore.dll and computenetwork.dll and the fake agent
# (hcs_rig_lib.sh). events_client.py keeps three event streams open while
# an hcs pod's containers are created, started, stopped (by StopContainer,
# by the agent reporting an exit of its own, by the pod's stop) and
# removed, and checks each stream's events: order, types, container ids,
# the container's and the pod's status in them; a cancelled stream leaves
# the others served; Ctrl-C ends the open ones with status OK. Prints
# "ok NAME" / "not ok NAME" per check and exits non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_events_test.sh
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
hcs_rig_setup uvmd-events-test events_client.py

# --- a known image in the node's store (as uvmd_ctrs_test.sh seeds it) --------
hcs_rig_seed_image
mkdir -p "$dir/logs"
export RIG_LOGS_WIN="$windir\\logs"

start_uvmd "$dir/uvmd.log"
client all "$uvmd_pid"
echo "$out" | grep "^# " || true

# --- the client's Ctrl-C: uvmd.exe drained and exited 0 -------------------------
rc=timeout
for _ in $(seq 1 100); do
        kill -0 "$uvmd_pid" 2>/dev/null || break
        sleep 0.2
done
if ! kill -0 "$uvmd_pid" 2>/dev/null; then
        wait "$uvmd_pid"
        rc=$?
        uvmd_pid=
fi
check stop-exit-0 test "$rc" = 0
check stop-drain-logged log_order "$dir/uvmd.log" "console Ctrl-C: stopping" \
        "shutting down: draining calls" "stopped"
check no-slow-client-warning bash -c '! grep -q "slow client lost" "$1"' _ "$dir/uvmd.log"
check no-record-left bash -c '[ -z "$(ls "$1")" ]' _ "$dir/state/pods"

[ "$failed" -eq 0 ]
