# shellcheck shell=bash
# shellcheck disable=SC2154 # dir and windir: winesvc_lib.sh's
# The rig uvmd_pods_test.sh and uvmd_ctrs_test.sh share: the REAL
# uvmd.exe (//service/windows:uvmd-win) in its own Wine prefix with fake
# computecore.dll and computenetwork.dll (tests/windows/fakes/, built here
# with mingw-w64 and put in the prefix's system32, where uvmd.exe's
# bindings load them from), its bridge pointed at the fake agent over
# loopback TCP (hcs_bridge_address; tests/windows/fakes:agent_server, a
# Linux program), and a client on Linux's python3-grpcio. Sourced after
# winesvc_lib.sh, not run (its name does not end in _test.sh).
#
#   hcs_rig_setup NAME CLIENT.py  all of it built and started: $exe, $dir,
#                                 $windir, $port, $py; the fake HCS's
#                                 directory $dir/hcs, the agent's $dir/agent
#   start_uvmd LOG                uvmd.exe in the background: $uvmd_pid
#   client MODE [ARG...]          CLIENT.py PORT MODE ARG...: its ok/not ok
#                                 lines are the test's, its stdout in $out
#   connections                   how many bridge connections the agent saw
#
# uvmd.exe's scratch_size_gb is UVMD_RIG_SCRATCH_GB, 0 (no scratch disks)
# unless the test sets it before hcs_rig_setup (uvmd_scratch_test.sh).
#
# The prefix is its own (UVMD_HCS_WINEPREFIX, default
# /var/cache/uvmd/wineprefix-hcs, made on first use): the shared one must
# keep lacking computecore.dll for uvmd_exe_test.sh and bind_win_test.

agent_pid=
uvmd_pid=
hcs_rig_cleanup() {
        [ -z "$uvmd_pid" ] || kill -9 "$uvmd_pid" 2>/dev/null
        [ -z "$agent_pid" ] || kill "$agent_pid" 2>/dev/null
        winesvc_cleanup
}

# hcs_rig_seed_image [CONFIG]: the node's store holds busybox:latest, a
# record and its image config blob (CONFIG, a plain one by default) and no
# layers, as a pull would leave it; IMAGE_ID names it, $images the store.
hcs_rig_seed_image() {
        local config=${1:-'{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]}}'}
        local hex
        images=$dir/data/images
        mkdir -p "$images/blobs/sha256"
        hex=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
        printf '%s' "$config" >"$images/blobs/sha256/$hex"
        printf '{"images":[{"id":"sha256:%s","manifest":"sha256:%s","size":1,"tags":["docker.io/library/busybox:latest"],"digests":[],"layers":[]}]}' \
                "$hex" "$hex" >"$images/images.json"
        export IMAGE_ID=sha256:$hex
}

hcs_rig_setup() { # hcs_rig_setup NAME CLIENT.py
        local bin=${UVMD_WINDOWS_BIN:-}/service/windows/uvmd-win agent_bin agent_port root dll
        # shellcheck disable=SC2034 # winesvc_lib.sh's: no service is registered
        name=$1
        rig_client=$2
        if [ -z "${UVMD_WINDOWS_BIN:-}" ] || [ ! -f "$bin" ]; then
                not_ok setup "no $bin (bazel build --config=mingw //service/windows:uvmd-win)"
                exit 1
        fi
        py=/usr/bin/python3
        if ! $py -c 'import grpc, grpc_tools' 2>/dev/null; then
                not_ok setup "$py lacks grpc or grpc_tools (python3-grpcio, python3-grpc-tools)"
                exit 1
        fi
        if ! bazel build //tests/windows/fakes:agent_server >/dev/null 2>&1; then
                not_ok setup "bazel build //tests/windows/fakes:agent_server failed"
                exit 1
        fi
        agent_bin=$(bazel info bazel-bin 2>/dev/null)/tests/windows/fakes/agent_server

        winesvc_setup # the prefix's lock, $dir
        exe=$dir/uvmd.exe
        cp "$bin" "$exe"
        trap hcs_rig_cleanup EXIT

        if [ ! -f "$WINEPREFIX/system.reg" ]; then
                timeout 300 wineboot -i >/dev/null 2>&1 || {
                        not_ok setup "wineboot -i of $WINEPREFIX failed"
                        exit 1
                }
        fi
        for dll in computecore computenetwork; do
                if ! x86_64-w64-mingw32-gcc -O2 -Wall -Werror -shared -o "$dir/$dll.dll" \
                        "tests/windows/fakes/$dll.c" -lole32 2>"$dir/$dll.err"; then
                        not_ok "build-fake-$dll" "$(head -c 300 "$dir/$dll.err")"
                        exit 1
                fi
                cp "$dir/$dll.dll" "$WINEPREFIX/drive_c/windows/system32/$dll.dll"
        done
        winesvc_start # a persistent wineserver, the prefix booted, $windir

        mkdir -p "$dir/hcs" "$dir/agent"
        export UVMD_FAKE_HCS_DIR_UNIX=$dir/hcs UVMD_FAKE_HCS_DIR="$windir\\hcs" \
                UVMD_PYGEN=$dir/pygen UVMD_FAKE_AGENT_DIR=$dir/agent UVMD_RIG_DIR=$dir

        "$agent_bin" >"$dir/agent.out" 2>&1 &
        agent_pid=$!
        for _ in $(seq 1 50); do
                agent_port=$(awk '/^port /{print $2}' "$dir/agent.out")
                [ -n "$agent_port" ] && break
                sleep 0.1
        done
        [ -n "$agent_port" ] || {
                not_ok setup "the agent server did not start: $(cat "$dir/agent.out")"
                exit 1
        }

        port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        root=${windir//\\/\\\\}
        printf '{"socket": "tcp://127.0.0.1:%s", "state_root": "%s\\\\state", "data_root": "%s\\\\data",
 "guest_dir": "%s\\\\guest", "hcs_bridge_address": "127.0.0.1:%s", "shutdown_grace_ms": 2000,
 "scratch_size_gb": %s, "log_level": "debug"}\n' "$port" "$root" "$root" "$root" "$agent_port" \
                "${UVMD_RIG_SCRATCH_GB:-0}" >"$dir/config.json"
}

start_uvmd() { # start_uvmd LOG
        wine "$exe" --config "$windir\\config.json" >"$1" 2>&1 &
        uvmd_pid=$!
}
client() { # client MODE [ARG...]: its ok/not ok lines are the test's; its stdout in $out
        local rc
        out=$(timeout 120 $py "tests/windows/$rig_client" "$port" "$@" 2>&1)
        rc=$?
        echo "$out" | grep -E "^(not )?ok " || true
        failed=$((failed + $(echo "$out" | grep -c "^not ok ")))
        if [ "$rc" -ne 0 ] && ! grep -q "^not ok " <<<"$out"; then
                not_ok "client-$1" "$(echo "$out" | tail -n 3 | tr '\n' ' ')"
        fi
}
connections() {
        grep -c "^connection " "$dir/agent.out"
}
grants_left() { # grants_left VM: the files granted to VM and not revoked (the fake
        # computecore's grants less its revokes), by name, sorted, each followed by a space
        $py - "$dir/hcs/grants" "$dir/hcs/revokes" "$1" <<'PY'
import collections, os, sys
def names(p):
    return [l.split("\\")[-1] for l in open(p).read().splitlines()
            if l.startswith(sys.argv[3] + " ")] if os.path.exists(p) else []
left = collections.Counter(names(sys.argv[1])) - collections.Counter(names(sys.argv[2]))
print("".join(n + " " for n in sorted(left.elements())), end="")
PY
}
