#!/usr/bin/env bash
# uvmd.exe's container calls end to end under Wine: the REAL uvmd.exe with
# fake computecore.dll and computenetwork.dll and the fake agent
# (hcs_rig_lib.sh), a container created, started, listed, stopped and
# removed (ctrs_client.py) in an hcs pod; its image seeded in the node's
# image store (images.json and its config blob under the data root: the
# Windows build reads the store, it does not pull). uvmd.exe is killed
# (-9) with the container running and restarted: it is reattached, still
# RUNNING. The agent refusing a create leaves no record. Prints
# "ok NAME" / "not ok NAME" per check and exits non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_ctrs_test.sh
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
hcs_rig_setup uvmd-ctrs-test ctrs_client.py

# --- a known image: the store's record and config blob, as Linux writes them
hcs_rig_seed_image '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"WorkingDir":"/w","StopSignal":"SIGTERM"}}'

records() { # the pod's container records
        ls "$dir/state/pods/$pod/containers" 2>/dev/null
}

# --- created and started -------------------------------------------------------
start_uvmd "$dir/uvmd1.log"
client run
pod=$(awk '/^pod /{print $2}' <<<"$out")
ctr=$(awk '/^ctr /{print $2}' <<<"$out")
if [ -z "$pod" ] || [ -z "$ctr" ]; then
        not_ok run-no-ids "$(tail -n 5 "$dir/uvmd1.log" | tr '\n' ' ')"
        exit 1
fi
check record-written grep -q '"state":"running"' "$dir/state/pods/$pod/containers/$ctr.json"
check log-created-running log_order "$dir/uvmd1.log" "container app ($ctr) created" \
        "container $ctr: created -> running"
# The OCI spec the agent got: the command over the image's Cmd, the image's
# Env and WorkingDir with the config's env, the hosted document's root.
spec_ok() {
        $py - "$dir/agent/create-$ctr.json" <<'PY'
import json, sys
s = json.loads(json.load(open(sys.argv[1]))["Spec"])
p = s["process"]
sys.exit(not (p["args"] == ["/bin/sleep", "1000"] and p["env"] == ["PATH=/bin", "A=b"]
              and p["cwd"] == "/w" and s["root"]["path"] == "rootfs"))
PY
}
check spec-to-agent spec_ok
client refused "$pod"
check refused-no-record test "$(records)" = "$ctr.json"

# --- killed with the container running, restarted: reattached ----------------
kill -9 "$uvmd_pid"
wait "$uvmd_pid" 2>/dev/null
uvmd_pid=
start_uvmd "$dir/uvmd2.log"
client reattached "$pod" "$ctr"
check reattach-logged log_order "$dir/uvmd2.log" "pod $pod: reattached" "pods: 1 recovered"

# --- the agent refuses a create: nothing left --------------------------------
client failcreate "$pod"
check failcreate-no-record test "$(records)" = "$ctr.json"

# --- stopped and removed -----------------------------------------------------
client stop "$pod" "$ctr"
check no-record-left bash -c '[ -z "$(ls "$1")" ]' _ "$dir/state/pods"
check no-system-left bash -c '! ls "$1" | grep -q "\.state$"' _ "$dir/hcs"

[ "$failed" -eq 0 ]
