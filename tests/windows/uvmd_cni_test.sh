#!/usr/bin/env bash
# uvmd.exe's pods networked by a CNI plugin under Wine: the REAL uvmd.exe on
# the pods test's rig (hcs_rig_lib.sh: fake computecore/computenetwork DLLs,
# the fake agent) with a CNI config list and a fake Windows plugin
# (fakes/cni_plugin.c, "winfake.exe") that makes an HCN endpoint and puts it
# in the namespace CNI_NETNS names. Checks: the pod's IP is the plugin's, the
# namespace the plugin saw is the pod's, its endpoint became the VM's NIC;
# the pod's published ports and DNS config reach the plugin as
# runtimeConfig on ADD and DEL; the pod's resolv.conf is its DNS config,
# or the DNS ADD's result advised when it has none; StopPodSandbox runs
# DEL and leaves no namespace or endpoint; a failing
# plugin fails RunPodSandbox with its message and leaves nothing; a hanging
# plugin (and the child it started) killed at the timeout; uvmd.exe killed
# during ADD and restarted: the half-made pod's cleanup runs DEL; Status's
# NetworkReady follows the config (a missing plugin: not ready). Prints
# "ok NAME" / "not ok NAME" per check and exits non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) tests/windows/uvmd_cni_test.sh
set -uo pipefail
export WINEPREFIX=${UVMD_HCS_WINEPREFIX:-${UVMD_CACHE:-/var/cache/uvmd}/wineprefix-hcs}
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=hcs_rig_lib.sh source-path=SCRIPTDIR
. tests/windows/hcs_rig_lib.sh || exit 1
hcs_rig_setup uvmd-cni-test cni_client.py

# The plugin and its config list; uvmd.exe's config points at them.
cni=$dir/cni
mkdir -p "$cni/conf" "$cni/bin"
if ! x86_64-w64-mingw32-gcc -O2 -Wall -Werror -o "$cni/bin/winfake.exe" \
        tests/windows/fakes/cni_plugin.c -lcomputenetwork -lole32 2>"$dir/plugin.err"; then
        not_ok build-fake-plugin "$(head -c 300 "$dir/plugin.err")"
        exit 1
fi
cat >"$cni/conf/10-winfake.conflist" <<'JSON'
{"cniVersion": "1.0.0", "name": "winfake-net",
 "plugins": [{"type": "winfake", "networkId": "5e5e5e5e-0000-4000-8000-00000000beef",
              "capabilities": {"dns": true, "portMappings": true}}]}
JSON
$py - "$dir/config.json" "$windir" "$cni/conf/10-winfake.conflist" <<'PY'
import json, sys
path, win, conf = sys.argv[1], sys.argv[2], sys.argv[3]
l = json.load(open(conf))
l["plugins"][0]["fakeHcsDir"] = win + "\\hcs"
json.dump(l, open(conf, "w"))
c = json.load(open(path))
c.update(cni_conf_dir=win + "\\cni\\conf", cni_bin_dirs=[win + "\\cni\\bin"],
         cni_plugin_timeout_ms=4000)
json.dump(c, open(path, "w"))
PY

# the fake HCN's and HCS's files (names are GUIDs and pod ids)
namespaces() { find "$dir/hcs" -maxdepth 1 -name 'ns-*' ! -name '*.ep-*' -printf '%f\n'; }
endpoints() { find "$dir/hcs" -maxdepth 1 -name 'ep-*.json' -printf '%f\n'; }
systems() { find "$dir/hcs" -maxdepth 1 -name '*.state' -printf '%f\n'; }
nothing_left() { # nothing_left: no namespace, endpoint, system or pod record
        [ -z "$(namespaces)$(endpoints)$(systems)" ] && [ -z "$(ls "$dir/state/pods")" ]
}

start_uvmd "$dir/uvmd1.log"
client run a
pod=$(awk '/^pod /{print $2}' <<<"$out")
if [ -z "$pod" ]; then
        not_ok run-no-pod "$(tail -n 5 "$dir/uvmd1.log" | tr '\n' ' ')"
        exit 1
fi
ns=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["namespace_id"])' \
        "$dir/state/pods/$pod/hcs-pod.json")
ep=$(tr -d '\r\n' <"$cni/bin/ep-$pod" 2>/dev/null)
check add-ran-once [ "$(grep -c "^ADD $pod " "$cni/bin/cni.log")" -eq 1 ]
check add-saw-pod-namespace grep -q "^ADD $pod $ns " "$cni/bin/cni.log"
check namespace-exists test -f "$dir/hcs/ns-$ns"
check endpoint-in-namespace test -f "$dir/hcs/ns-$ns.ep-$ep"
check vm-got-nic test -f "$dir/hcs/$pod@vm.nic-$ep"
check vm-nic-modify-logged grep -q "NetworkAdapters/$ep" "$dir/hcs/$pod@vm.modify"
check namespace-external grep -q '"namespace_external":true' "$dir/state/pods/$pod/hcs-pod.json"
check cni-record-has-result grep -q '"result"' "$dir/state/pods/$pod/cni.json"
# runtime_config CMD POD: the runtimeConfig the plugin got on CMD is the
# pod's published ports and DNS config (cni_client.py's run_pod)
runtime_config() {
        $py - "$cni/bin/stdin-$1-$2.json" <<'PY'
import json, sys
try:
    got = json.load(open(sys.argv[1])).get("runtimeConfig")
except (OSError, ValueError) as e:
    got = str(e)
want = {"portMappings": [
            {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
            {"hostPort": 9001, "containerPort": 9000, "protocol": "udp", "hostIP": "127.0.0.1"}],
        "dns": {"servers": ["10.99.0.2"], "searches": ["svc.local"], "options": []}}
if got != want:
    print(json.dumps(got))
sys.exit(got != want)
PY
}
check add-runtime-config runtime_config ADD "$pod"

client stop "$pod"
check del-runtime-config runtime_config DEL "$pod"
check del-ran grep -q "^DEL $pod $ns " "$cni/bin/cni.log"
check del-took-endpoint-out grep -q "^remove $ns $ep" "$dir/hcs/hcn.log"
check del-deleted-endpoint grep -q "^delete-ep - $ep" "$dir/hcs/hcn.log"
check stop-leaves-nothing nothing_left

# --- no DNS config: resolv.conf from ADD's advised DNS ------------------------
client run-nodns d
dpod=$(awk '/^pod /{print $2}' <<<"$out")
check nodns-add-runtime-config-no-dns $py -c '
import json, sys
rc = json.load(open(sys.argv[1])).get("runtimeConfig", {})
sys.exit("dns" in rc or len(rc.get("portMappings", [])) != 2)' "$cni/bin/stdin-ADD-${dpod:-none}.json"
[ -n "$dpod" ] && client stop "$dpod"
check nodns-stop-leaves-nothing nothing_left

# --- a failing plugin: its message, nothing left -----------------------------
touch "$cni/bin/fail"
client fail f
rm -f "$cni/bin/fail"
check fail-namespace-deleted [ -z "$(namespaces)" ]
check fail-nothing-left nothing_left

# --- a hanging plugin: killed at the timeout, with its child -----------------
touch "$cni/bin/hang"
client hang h
rm -f "$cni/bin/hang"
sleep 1
# live ones only: Wine leaves the dead as zombies of uvmd.exe's process
live_plugins() { ps -eo stat=,args= | awk '$1 !~ /^Z/ && /winfake\.exe/' | grep -v awk || true; }
check hang-child-started test -s "$cni/bin/child.pid"
check hang-plugin-and-child-killed test -z "$(live_plugins)"
check hang-nothing-left nothing_left

# --- uvmd.exe killed during ADD, restarted: cleanup runs DEL ------------------
touch "$cni/bin/slow"
$py tests/windows/cni_client.py "$port" expect-fail k >"$dir/slow.out" 2>&1 &
slow_pid=$!
for _ in $(seq 1 100); do
        kpod=$(awk '/^ADD /{print $2}' "$cni/bin/cni.log" | tail -n 1)
        [ -n "$kpod" ] && [ "$kpod" != "$pod" ] && [ -f "$cni/bin/ep-$kpod" ] && break
        kpod=
        sleep 0.2
done
rm -f "$cni/bin/slow"
check killed-during-add [ -n "$kpod" ]
kill -9 "$uvmd_pid"
wait "$uvmd_pid" 2>/dev/null
uvmd_pid=
wait "$slow_pid" 2>/dev/null
check endpoint-left-by-kill [ -n "$(endpoints)" ]
start_uvmd "$dir/uvmd2.log"
client run b
bpod=$(awk '/^pod /{print $2}' <<<"$out")
check restart-del-ran grep -q "^DEL ${kpod:-none} " "$cni/bin/cni.log"
check restart-pod-gone test ! -e "$dir/state/pods/${kpod:-none}"
[ -n "$bpod" ] && client stop "$bpod"
check restart-nothing-left nothing_left

# NetworkReady follows the CNI config as it is now: a list whose plugin is
# missing holds pods back (the kubelet waits); put right, ready again.
client status ready
cp "$cni/conf/10-winfake.conflist" "$dir/conflist.good"
sed -i 's/"type": "winfake"/"type": "winmissing"/' "$cni/conf/10-winfake.conflist"
client status winmissing
cp "$dir/conflist.good" "$cni/conf/10-winfake.conflist"
client status ready

[ "$failed" -eq 0 ]
