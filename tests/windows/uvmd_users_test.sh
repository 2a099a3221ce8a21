#!/usr/bin/env bash
# uvmd.exe's container users and UpdatePodSandboxResources end to end
# under Wine: the REAL uvmd.exe with fake computecore.dll and
# computenetwork.dll and the fake agent (hcs_rig_lib.sh). An hcs pod's
# image is only in its VM, so a named user (the image's USER,
# run_as_username, or a run_as_user whose gid is the image's) is sent with
# the create and resolved by the agent: the fake one resolves it with the
# agent's own code (agent/user_db.c) against the passwd and group files
# put here, as the real one does against the container's rootfs
# (users_client.py says what is checked). uvmd.exe is killed (-9) and
# restarted: the resolved user and the pod's limits are still there.
# Prints "ok NAME" / "not ok NAME" per check and exits non-zero if any
# failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_users_test.sh
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
hcs_rig_setup uvmd-users-test users_client.py

# --- images in the node's store: none, a named USER, name:group, bad ones ---
images=$dir/data/images
mkdir -p "$images/blobs/sha256"
records=
for spec in busybox: app:app appgrp:app:staff badgrp:app:nogroup nouser:nobody-here; do
        name=${spec%%:*}
        user=${spec#*:}
        config='{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]'
        [ -z "$user" ] || config+=',"User":"'$user'"'
        config+='}}'
        hex=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
        printf '%s' "$config" >"$images/blobs/sha256/$hex"
        records+=${records:+,}$(printf '{"id":"sha256:%s","manifest":"sha256:%s","size":1,"tags":["docker.io/library/%s:latest"],"digests":[],"layers":[]}' \
                "$hex" "$hex" "$name")
done
printf '{"images":[%s]}' "$records" >"$images/images.json"

# --- the image's /etc/passwd and /etc/group, as the agent sees them ---------
# Malformed lines are skipped; a long line is only a line.
long=$(head -c 70000 /dev/zero | tr '\0' 'x')
cat >"$dir/agent/passwd" <<PASSWD
root:x:0:0:root:/root:/bin/sh
this line has no fields
neg:x:-1:5::/:/bin/sh
$long:x:5:5::/:/bin/sh
app:x:1000:1000::/home/app:/bin/sh
web:x:33:33::/var/www:/bin/false
PASSWD
cat >"$dir/agent/group" <<GROUP
root:x:0:root
wheel:x:10:app,root
staff:x:50:web
broken:x:
app:x:1000:
audio:x:63:web,app,$long
GROUP

start_uvmd "$dir/uvmd1.log"
client run
pod=$(awk '/^pod /{print $2}' <<<"$out")
ctr=$(awk '/^ctr /{print $2}' <<<"$out")
if [ -z "$pod" ] || [ -z "$ctr" ]; then
        not_ok run-no-ids "$(tail -n 5 "$dir/uvmd1.log" | tr '\n' ' ')"
        exit 1
fi
client refused "$pod"
client limits "$pod"

# --- killed, restarted: the user and the limits read back from the records ---
kill -9 "$uvmd_pid"
wait "$uvmd_pid" 2>/dev/null
uvmd_pid=
start_uvmd "$dir/uvmd2.log"
client restarted "$pod" "$ctr"

[ "$failed" -eq 0 ]
