#!/usr/bin/env bash
# uvmd.exe's Exec, Attach and PortForward end to end under Wine: the REAL
# uvmd.exe (its streaming server on loopback) with fake computecore.dll and
# computenetwork.dll and the fake agent (hcs_rig_lib.sh), which runs
# scripted sessions; the client speaks WebSocket from Linux
# (stream_client.py says what is checked). Prints "ok NAME" / "not ok
# NAME" per check and exits non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_stream_test.sh
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
hcs_rig_setup uvmd-stream-test stream_client.py
if ! /usr/bin/python3 -c 'import websockets.client' 2>/dev/null; then
        not_ok setup "/usr/bin/python3 lacks websockets (python3-websockets)"
        exit 1
fi
# Tokens expire after 2 s here (the test waits for one to).
sed -i 's/^{/{"stream_token_ttl_ms": 2000, /' "$dir/config.json"

# --- a known image in the node's store (as uvmd_ctrs_test.sh seeds it) --------
hcs_rig_seed_image

start_uvmd "$dir/uvmd.log"
client run
pod=$(awk '/^pod /{print $2}' <<<"$out")
ctr=$(awk '/^ctr /{print $2}' <<<"$out")
if [ -z "$pod" ] || [ -z "$ctr" ]; then
        not_ok run-no-ids "$(tail -n 5 "$dir/uvmd.log" | tr '\n' ' ')"
        exit 1
fi
check streaming-server-started grep -q "streaming server on 127.0.0.1:" "$dir/uvmd.log"
client stream "$pod" "$ctr"
client stopped "$pod" "$ctr"
check no-record-left bash -c '[ -z "$(ls "$1")" ]' _ "$dir/state/pods"

if [ "$failed" -ne 0 ]; then
        echo "--- uvmd.log (end) and the agent's calls:" >&2
        tail -n 40 "$dir/uvmd.log" >&2
        tail -n 30 "$dir/agent/calls" >&2
fi
[ "$failed" -eq 0 ]
