#!/usr/bin/env bash
# uvmd.exe (//service/windows:uvmd-win, the daemon with the cross-built
# gRPC C core) under Wine: registered and started through Wine's service
# manager, called over TCP loopback by Linux's python3-grpcio with the CRI
# messages generated from proto/api.proto (tests/integration/uvmdlib.py),
# stopped through the SCM with a drain, unregistered; then run as a
# console program and stopped with Ctrl-C (SIGINT, which Wine turns into a
# CTRL_C_EVENT). Prints "ok NAME" / "not ok NAME" per check and exits
# non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) \
#   WINEPREFIX=/var/cache/uvmd/wineprefix WINEDEBUG=-all tests/windows/uvmd_exe_test.sh
#
# Under Wine there is no computecore.dll nor computenetwork.dll: Status
# must say so (RuntimeReady and NetworkReady false, with the reasons) while
# the rest is served. winesvc_lib.sh explains how Wine's services differ
# from Windows' (persistent wineserver, boot-time automatic starts).
set -uo pipefail
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1
cd "$(dirname "$0")/../.." || exit 1

name=uvmd-exe-test

bin=${UVMD_WINDOWS_BIN:-}/service/windows/uvmd-win
if [ -z "${UVMD_WINDOWS_BIN:-}" ] || [ ! -f "$bin" ]; then
        not_ok setup "no $bin (bazel/windows/grpc-cross.sh, then bazel build --config=mingw //service/windows:uvmd-win)"
        exit 1
fi
py=/usr/bin/python3
if ! $py -c 'import grpc, grpc_tools' 2>/dev/null; then
        not_ok setup "$py lacks grpc or grpc_tools (python3-grpcio, python3-grpc-tools)"
        exit 1
fi

winesvc_setup
exe=$dir/uvmd.exe
log=$dir/data/uvmd.log
cp "$bin" "$exe"
console_pid=
# The console run (if it is still up), then no service left in the prefix.
cleanup() {
        [ -z "$console_pid" ] || kill -9 "$console_pid" 2>/dev/null
        winesvc_cleanup
}
trap cleanup EXIT
winesvc_start

free_port() {
        $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# write_config FILE SOCKET: the roots in the test's directory.
write_config() {
        local root=${windir//\\/\\\\}
        printf '{"socket": "%s", "state_root": "%s\\\\state", "data_root": "%s\\\\data",
 "shutdown_grace_ms": 3000, "log_level": "debug"}\n' "$2" "$root" "$root" >"$1"
}

# --- the client: Linux python3-grpcio, CRI messages from proto/api.proto ---
export UVMD_PYGEN=$dir/pygen
cat >"$dir/client.py" <<'EOF'
"""uvmd.exe's CRI endpoint from Linux: prints ok/not ok lines.
usage: client.py PORT full|version|closed"""
import json
import sys

import grpc

sys.path.insert(0, "tests/integration")
import uvmdlib  # noqa: E402

port, mode = sys.argv[1], sys.argv[2]
failed = 0


def check(name, cond, why=""):
    global failed
    print(("ok " if cond else "not ok ") + name + ("" if cond or not why else " # " + why))
    failed += not cond


uvmdlib.gen_stubs()
pb, health = uvmdlib.pb(), uvmdlib.health_pb()
c = uvmdlib.Client.__new__(uvmdlib.Client)
c.socket = "127.0.0.1:" + port
c.channel = grpc.insecure_channel(c.socket)
if mode == "closed":
    try:
        grpc.channel_ready_future(c.channel).result(timeout=3)
        check("endpoint-closed", False, "still accepting connections")
    except grpc.FutureTimeoutError:
        check("endpoint-closed", True)
    sys.exit(failed != 0)
try:
    grpc.channel_ready_future(c.channel).result(timeout=60)
except grpc.FutureTimeoutError:
    check(mode + "-connect", False, "no answer on " + c.socket)
    sys.exit(1)

v = c.version()
check(mode + "-version", v.runtime_name == "uvmd" and v.runtime_api_version == "v1"
      and v.runtime_version != "", str(v).replace("\n", " "))
if mode == "version":
    # The pod CIDR the service was given (full mode) outlived its stop.
    st = c.rt("Status", verbose=True)
    cfg = json.loads(st.info.get("config", "{}"))
    check("pod-cidr-persisted", cfg.get("podCIDR") == "10.244.7.0/24", str(cfg))
    sys.exit(failed != 0)

st = c.rt("Status", verbose=True)
cond = {x.type: x for x in st.status.conditions}
rr, nr = cond.get("RuntimeReady"), cond.get("NetworkReady")
check("status-runtime-not-ready", rr is not None and not rr.status and rr.reason == "HCSUnavailable"
      and "computecore.dll" in rr.message, str(rr).replace("\n", " "))
check("status-network-not-ready", nr is not None and not nr.status and nr.reason == "HCNUnavailable"
      and "computenetwork.dll" in nr.message, str(nr).replace("\n", " "))
check("status-no-handlers", len(st.runtime_handlers) == 0, str(list(st.runtime_handlers)))
rc = c.rt("RuntimeConfig")
check("runtime-config", not rc.HasField("linux"), str(rc))
# UpdateRuntimeConfig: the kubelet's empty start-up call, then the node's
# pod CIDR (kept across restarts: the console run below reads it back).
c.rt("UpdateRuntimeConfig", runtime_config=pb.RuntimeConfig())
c.rt("UpdateRuntimeConfig", runtime_config=pb.RuntimeConfig(
    network_config=pb.NetworkConfig(pod_cidr="10.244.7.0/24")))
cfg = json.loads(c.rt("Status", verbose=True).info.get("config", "{}"))
check("pod-cidr-set", cfg.get("podCIDR") == "10.244.7.0/24", str(cfg))
try:
    c.rt("UpdateRuntimeConfig", runtime_config=pb.RuntimeConfig(
        network_config=pb.NetworkConfig(pod_cidr="10.244.7.0/33")))
    check("pod-cidr-bad", False, "answered")
except grpc.RpcError as e:
    check("pod-cidr-bad", e.code() == grpc.StatusCode.INVALID_ARGUMENT
          and "pod_cidr" in e.details(), "%s %r" % (e.code(), e.details()))

h = c.unary("/grpc.health.v1.Health/Check", health.HealthCheckRequest(),
            health.HealthCheckResponse, timeout=10)
check("health-serving", h.status == health.HealthCheckResponse.SERVING, str(h))
try:
    c.unary("/grpc.health.v1.Health/Check", health.HealthCheckRequest(service="no.Such"),
            health.HealthCheckResponse, timeout=10)
    check("health-unknown-service", False, "answered")
except grpc.RpcError as e:
    check("health-unknown-service", e.code() == grpc.StatusCode.NOT_FOUND, str(e.code()))

# Pods are served (uvmd_pods_test.sh runs them on fake DLLs); here, with no
# computecore.dll, a pod is refused with the reason, and none is listed.
lp = c.rt("ListPodSandbox")
check("list-pods-empty", len(lp.items) == 0, str(lp))
try:
    c.rt("RunPodSandbox", config=pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name="p", namespace="n", uid="u")))
    check("run-pod-refused", False, "answered")
except grpc.RpcError as e:
    check("run-pod-refused", e.code() == grpc.StatusCode.FAILED_PRECONDITION
          and "computecore.dll" in e.details(), "%s %r" % (e.code(), e.details()))
# Containers are served too (uvmd_ctrs_test.sh, ExecSync uvmd_exec_test.sh,
# streaming uvmd_stream_test.sh, resource updates uvmd_update_test.sh);
# checkpoints are not, as on Linux.
lc = c.rt("ListContainers")
check("list-containers-empty", len(lc.containers) == 0, str(lc))
try:
    c.rt("UpdateContainerResources", container_id="f" * 64,
         windows=pb.WindowsContainerResources(cpu_count=1))
    check("update-unknown-container", False, "answered")
except grpc.RpcError as e:
    check("update-unknown-container", e.code() == grpc.StatusCode.NOT_FOUND,
          "%s %r" % (e.code(), e.details()))
try:
    c.rt("CheckpointContainer", container_id="f" * 64)
    check("unported-CheckpointContainer", False, "answered")
except grpc.RpcError as e:
    check("unported-CheckpointContainer", e.code() == grpc.StatusCode.UNIMPLEMENTED
          and "not implemented by uvmd" in e.details(), "%s %r" % (e.code(), e.details()))
# Images are served (uvmd_images_test.sh): an empty store lists nothing.
li = c.img("ListImages")
check("list-images-empty", len(li.images) == 0, str(li))
try:
    c.raw_unary("/runtime.v1.RuntimeService/NoSuchMethod", b"")
    check("unknown-method", False, "answered")
except grpc.RpcError as e:
    check("unknown-method", e.code() == grpc.StatusCode.UNIMPLEMENTED
          and "unknown method" in e.details(), repr(e.details()))

refl = uvmdlib.reflection_pb()
resp = list(c.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                            iter([refl.ServerReflectionRequest(list_services="")]),
                            refl.ServerReflectionResponse, timeout=10))
names = [s.name for r in resp for s in r.list_services_response.service]
check("reflection", "runtime.v1.RuntimeService" in names and "grpc.health.v1.Health" in names,
      str(names))
sys.exit(failed != 0)
EOF
client() { # client PORT MODE: its ok/not ok lines are this script's
        local out rc
        out=$($py "$dir/client.py" "$@" 2>&1)
        rc=$?
        echo "$out" | grep -E "^(not )?ok " || true
        failed=$((failed + $(echo "$out" | grep -c "^not ok ")))
        if [ "$rc" -ne 0 ] && ! grep -q "^not ok " <<<"$out"; then
                not_ok "client-$2" "$(echo "$out" | tail -n 3 | tr '\n' ' ')"
        fi
}

# --- configuration refusals (console, before anything starts) -------------
write_config "$dir/bad.json" "tcp://10.0.0.1:3735"
out=$(svc --config "$windir\\bad.json" 2>&1)
rc=$?
check config-refuses-other-host bash -c '[ "$1" = 2 ] && grep -q "loopback only" <<<"$2"' _ "$rc" "$out"
write_config "$dir/bad.json" "tcp://127.0.0.1:0"
out=$(svc --config "$windir\\bad.json" 2>&1)
check config-refuses-port-0 grep -q "port must be 1 to 65535" <<<"$out"
write_config "$dir/bad.json" "/run/uvmd/uvmd.sock"
out=$(svc --config "$windir\\bad.json" 2>&1)
check config-refuses-unix-path grep -q "is not a tcp:// endpoint" <<<"$out"

# --- as a service ----------------------------------------------------------
port=$(free_port)
write_config "$dir/config.json" "tcp://127.0.0.1:$port"
out=$(svc --register-service --config "$config_win" --service-name "$name" 2>&1)
check register grep -q "registered service '$name'" <<<"$out"

timeout 60 wine sc start "$name" >/dev/null 2>&1
check service-running wait_state 4 60
check service-start-logged log_order "$log" "service $name: INITIAL -> START_PENDING" \
        "hcs driver unavailable: computecore.dll" "serving on 127.0.0.1:$port" \
        "ready on tcp://127.0.0.1:$port" "service $name: START_PENDING -> RUNNING"
client "$port" full

out=$(timeout 60 wine sc stop "$name" 2>/dev/null | tr -d '\r')
check service-stop-pending grep -qE "STATE +: 3 +STOP_PENDING" <<<"$out"
check service-stopped wait_state 1 30
check service-exit-code bash -c '[ "$1" = 0 ] && [ "$2" = 0 ]' _ "$(field WIN32_EXIT_CODE)" "$(field SERVICE_EXIT_CODE)"
check service-drain-logged log_order "$log" "service $name: STOP, draining" \
        "RUNNING -> STOP_PENDING" "shutting down: draining calls (up to 3000 ms)" "stopped" \
        "service $name: STOP_PENDING -> STOPPED" "exit 0"
client "$port" closed

out=$(svc --unregister-service --service-name "$name" 2>&1)
check unregister grep -q "unregistered service '$name'" <<<"$out"
out=$(WINEDEBUG=-all,err+sc timeout 60 wine sc query "$name" 2>&1)
check unregistered-absent grep -q "1060" <<<"$out"

# --- as a console program: Ctrl-C drains and exits 0 -----------------------
port=$(free_port)
write_config "$dir/console.json" "tcp://127.0.0.1:$port"
wine "$exe" --config "$windir\\console.json" >"$dir/console.log" 2>&1 &
console_pid=$!
client "$port" version
kill -INT "$console_pid"
rc=0
for _ in $(seq 1 100); do
        kill -0 "$console_pid" 2>/dev/null || break
        sleep 0.2
done
if kill -0 "$console_pid" 2>/dev/null; then
        rc=timeout
else
        wait "$console_pid"
        rc=$?
fi
console_pid=
check console-ctrl-c-exit-0 bash -c '[ "$1" = 0 ]' _ "$rc"
check console-drain-logged log_order "$dir/console.log" "ready on tcp://127.0.0.1:$port" \
        "console Ctrl-C: stopping" "shutting down: draining calls" "stopped"

[ "$failed" -eq 0 ]
