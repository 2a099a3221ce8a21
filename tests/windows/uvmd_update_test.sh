#!/usr/bin/env bash
# uvmd.exe's UpdateContainerResources and a Windows node's container
# resources end to end under Wine: the REAL uvmd.exe with fake
# computecore.dll and computenetwork.dll and the fake agent
# (hcs_rig_lib.sh), which keeps what each UpdateContainer and create
# brought (update_client.py says what is checked): windows resources
# mapped to Linux values for the pod's VM at create and update, linux
# ones as they are, ContainerStatus reporting them, bad input, unknown and
# stopped containers refused. uvmd.exe is killed (-9) and restarted: the
# resources are still reported. Prints "ok NAME" / "not ok NAME" per check
# and exits non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_update_test.sh
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
hcs_rig_setup uvmd-update-test update_client.py

# --- a known image in the node's store (as uvmd_ctrs_test.sh seeds it) --------
hcs_rig_seed_image

start_uvmd "$dir/uvmd1.log"
client run
pod=$(awk '/^pod /{print $2}' <<<"$out")
ctr=$(awk '/^ctr /{print $2}' <<<"$out")
idle=$(awk '/^idle /{print $2}' <<<"$out")
if [ -z "$pod" ] || [ -z "$ctr" ] || [ -z "$idle" ]; then
        not_ok run-no-ids "$(tail -n 5 "$dir/uvmd1.log" | tr '\n' ' ')"
        exit 1
fi
client update "$pod" "$ctr" "$idle"
check update-logged grep -q "container $ctr: resources updated" "$dir/uvmd1.log"

# --- killed, restarted: the record kept what the updates set -----------------
kill -9 "$uvmd_pid"
wait "$uvmd_pid" 2>/dev/null
uvmd_pid=
start_uvmd "$dir/uvmd2.log"
client restarted "$pod" "$ctr" "$idle"

client stopped "$pod" "$ctr" "$idle"
check no-record-left bash -c '[ -z "$(ls "$1")" ]' _ "$dir/state/pods"

[ "$failed" -eq 0 ]
