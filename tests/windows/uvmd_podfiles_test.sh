#!/usr/bin/env bash
# An hcs pod's /etc/resolv.conf, /etc/hosts and /etc/hostname end to end
# under Wine: the REAL uvmd.exe with the fake computecore.dll and
# computenetwork.dll and the fake agent (hcs_rig_lib.sh). A pod with a
# hostname and a DNS config: the agent gets them once at the create
# (PodFiles, kept by the fake as podfiles-N.json) with the text the
# Linux pods get (no CNI here: hosts has the localhost lines only); each
# container's OCI spec binds the three from the agent's /run/uvmd/pod,
# read-only for a read-only rootfs. A bad DNS config is refused before
# anything is made. Prints "ok NAME" / "not ok NAME" per check and exits
# non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_podfiles_test.sh
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
hcs_rig_setup uvmd-podfiles-test podfiles_client.py

# --- a known image: the store's record and config blob (as uvmd_ctrs_test.sh)
hcs_rig_seed_image

start_uvmd "$dir/uvmd.log"
client run
pod=$(awk '/^pod /{print $2}' <<<"$out")
ctr=$(awk '/^ctr /{print $2}' <<<"$out")
ro=$(awk '/^ro /{print $2}' <<<"$out")
if [ -z "$pod" ] || [ -z "$ctr" ] || [ -z "$ro" ]; then
        not_ok run-no-ids "$(tail -n 5 "$dir/uvmd.log" | tr '\n' ' ')"
        exit 1
fi
check host-pod-dir-files test -s "$dir/state/pods/$pod/resolv.conf" -a \
        -s "$dir/state/pods/$pod/hosts" -a -s "$dir/state/pods/$pod/hostname"
check agent-noted-podfiles grep -qx "podfiles 1" "$dir/agent/calls"
# The OCI spec the agent got: the three bind mounts, each once, from the
# guest's files, rw (ro with a read-only rootfs).
spec_mounts() { # spec_mounts CTR rw|ro
        $py - "$dir/agent/create-$1.json" "$2" <<'PY'
import json, sys
s = json.loads(json.load(open(sys.argv[1]))["Spec"])
want = {"/etc/" + n: "/run/uvmd/pod/" + n for n in ("hosts", "resolv.conf", "hostname")}
got = {m["destination"]: m for m in s.get("mounts", []) if m["destination"] in want}
ok = len([m for m in s.get("mounts", []) if m["destination"] in want]) == 3 and all(
    got[d]["source"] == src and got[d]["type"] == "bind" and sys.argv[2] in got[d]["options"]
    for d, src in want.items())
if not ok:
    print(json.dumps(s.get("mounts")))
sys.exit(not ok)
PY
}
check spec-binds-podfiles-rw spec_mounts "$ctr" rw
check spec-binds-podfiles-ro spec_mounts "$ro" ro

client bad-dns
client stop "$pod"
no_pods() { [ -z "$(ls "$dir/state/pods")" ]; }
check no-record-left no_pods

[ "$failed" -eq 0 ]
