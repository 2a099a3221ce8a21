#!/usr/bin/env bash
# uvmd.exe's ComputeAgent end to end under Wine: the REAL uvmd.exe with fake
# computecore.dll and computenetwork.dll and the fake agent (hcs_rig_lib.sh);
# HCN endpoints made in the fake HCN as a network plugin would. AddNIC,
# ModifyNIC and DeleteNIC on uvmd.exe's CRI listener (nic_client.py): the
# NIC's host side (the fake HCS's NIC file), its namespace entry, the
# agent's configuration and the pod's hcs record checked at each step; an
# unknown endpoint is NOT_FOUND with nothing made; the agent refusing a NIC
# leaves neither the host's side nor the namespace entry; uvmd.exe killed
# (-9) between AddNIC and DeleteNIC, restarted, and the delete leaves
# nothing; a second pod's NIC stays untouched until its pod stops. Prints
# "ok NAME" / "not ok NAME" per check and exits non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_nic_test.sh
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
hcs_rig_setup uvmd-nic-test nic_client.py

start_uvmd "$dir/uvmd1.log"
client setup
read -r pod_a pod_b < <(awk '/^pods /{print $2, $3}' <<<"$out")
if [ -z "${pod_a:-}" ] || [ -z "${pod_b:-}" ]; then
        not_ok setup-no-pods "$(tail -n 5 "$dir/uvmd1.log" | tr '\n' ' ')"
        exit 1
fi
check add-logged grep -q "hcs pod $pod_a: NIC net1 (endpoint" "$dir/uvmd1.log"

# --- killed between AddNIC and DeleteNIC, restarted ---------------------------
kill -9 "$uvmd_pid"
wait "$uvmd_pid" 2>/dev/null
uvmd_pid=
start_uvmd "$dir/uvmd2.log"
client restarted "$pod_a" "$pod_b"
check reattached log_order "$dir/uvmd2.log" "pod $pod_a: reattached" "pods: 2 recovered"

# --- the pods stopped: what is left of their NICs goes with them --------------
client stop "$pod_a" "$pod_b"
# shellcheck disable=SC2016 # $1 is the inner shell's
check no-record-left bash -c '[ -z "$(ls "$1")" ]' _ "$dir/state/pods"
# shellcheck disable=SC2016
check no-system-left bash -c '! ls "$1" | grep -q "\.state$"' _ "$dir/hcs"

[ "$failed" -eq 0 ]
