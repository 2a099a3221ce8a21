#!/usr/bin/env bash
# Cross-build the gRPC C core (Debian bookworm's grpc 1.51.1) and its
# dependencies for Windows x86_64 with Debian's mingw-w64 (posix threads
# variant), from Debian source packages only, into a static prefix; then link
# a tiny C program against it and run it under Wine. uvmd.exe links it
# through @mingw_grpc (bazel/mingw_grpc.BUILD).
#
# The library is gRPC's "grpc_unsecure" target: uvmd serves the CRI on TCP
# loopback without TLS on Windows (deploy/windows/README.md), and that
# target is the C core without the TLS, ALTS and xDS security code: half the
# sources of "grpc", and no OpenSSL to build at all.
#
# usage: grpc-cross.sh            (idempotent: every step leaves a stamp)
#   env: WIN_GRPC_DIR (default /var/cache/uvmd/win-grpc)
#        JOBS (default: every core when the machine is idle, 1 when it is
#        busy: it is shared) for every package, gRPC included; everything
#        runs under nice -n 19
#        WIN_GRPC_SERVER_TEST=0 to skip the server-under-Wine check
#
# Needs (Debian packages, installed when missing): g++-mingw-w64-x86-64-posix,
# cmake, ninja-build, perl, dpkg-dev, wine64 (wine), unicode-data and
# python3-six (re2 tables); python3-grpcio for the server check, and
# python3-grpc-tools for tests/windows/uvmd_exe_test.sh's CRI client.
#
# Why -posix: gcc/g++ 12 "win32" thread model has no std::mutex/std::thread,
# which abseil (absl/time/internal/cctz/src/time_zone_impl.cc) needs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
W=${WIN_GRPC_DIR:-/var/cache/uvmd/win-grpc}
SRC=$W/src
BLD=$W/build
P=$W/prefix
ST=$W/stamps
LOGD=$W/logs
HOST=x86_64-w64-mingw32
export CC=$HOST-gcc-posix CXX=$HOST-g++-posix AR=$HOST-ar RANLIB=$HOST-ranlib \
        RC=$HOST-windres WINDRES=$HOST-windres STRIP=$HOST-strip
# All cores while the 1-minute load is under half of them, else one.
default_jobs() {
        local n load
        n=$(nproc)
        load=$(cut -d' ' -f1 /proc/loadavg)
        awk -v l="$load" -v n="$n" 'BEGIN { exit !(l < n / 2) }' && echo "$n" || echo 1
}
JOBS=${JOBS:-$(default_jobs)}
NICE=(nice -n 19)
mkdir -p "$SRC" "$BLD" "$P" "$ST" "$LOGD"

log() { printf '== %s\n' "$*"; }

need=(g++-mingw-w64-x86-64-posix cmake ninja-build perl dpkg-dev wine64 wine unicode-data
        python3-six python3-grpcio python3-grpc-tools)
missing=()
for p in "${need[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                "${missing[@]}" >/dev/null
fi

# step NAME FUNCTION: run FUNCTION once (stamp), log to $LOGD/NAME.log, record time.
step() {
        local name=$1 fn=$2 rc=0
        if [ -e "$ST/$name" ]; then
                log "$name: already done"
                return 0
        fi
        log "$name: building (log: $LOGD/$name.log)"
        local TIMEFORMAT="$name: real %0Rs user %0Us sys %0Ss"
        # Not "if ! fn": bash would then ignore set -e inside fn.
        set +e
        { time { (set -e; "$fn") >"$LOGD/$name.log" 2>&1; }; } 2>"$ST/$name.time"
        rc=$?
        set -e
        if [ "$rc" != 0 ]; then
                log "$name: FAILED, last lines of $LOGD/$name.log:"
                tail -n 40 "$LOGD/$name.log"
                exit 1
        fi
        cat "$ST/$name.time" | tee -a "$W/times.txt"
        touch "$ST/$name"
}

# --- sources ---------------------------------------------------------------
PKGS=(zlib c-ares abseil re2 protobuf-c grpc)
fetch() {
        "$here/fetch-src.sh" "$SRC" "${PKGS[@]}"
        cd "$SRC"
        local dsc
        for dsc in zlib_*.dsc c-ares_*.dsc abseil_*.dsc re2_*.dsc protobuf-c_*.dsc grpc_*.dsc; do
                # dpkg-source refuses to unpack over an existing directory.
                local d=${dsc%.dsc}
                d=${d%-*}
                d=${d/_/-}
                d=${d%%+*}
                ls -d "$d"* >/dev/null 2>&1 || dpkg-source -x --no-check "$dsc"
        done
}
srcdir() { # first unpacked directory of a source package
        local d
        d=$(find "$SRC" -maxdepth 1 -mindepth 1 -type d -name "$1-[0-9]*" | sort | head -1)
        [ -n "$d" ] || { echo "no source dir for $1" >&2; return 1; }
        echo "$d"
}

# --- cmake toolchain -------------------------------------------------------
TC=$W/mingw-w64-x86_64.cmake
cat >"$TC.new" <<EOF
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER $HOST-gcc-posix)
set(CMAKE_CXX_COMPILER $HOST-g++-posix)
set(CMAKE_RC_COMPILER $HOST-windres)
set(CMAKE_AR /usr/bin/$HOST-ar CACHE FILEPATH "")
set(CMAKE_RANLIB /usr/bin/$HOST-ranlib CACHE FILEPATH "")
# Only our prefix: /usr/$HOST also holds Debian's libz-mingw-w64.
set(CMAKE_FIND_ROOT_PATH $P)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
EOF
cmp -s "$TC.new" "$TC" 2>/dev/null && rm "$TC.new" || mv "$TC.new" "$TC"

CMAKE_COMMON=(-G Ninja -DCMAKE_TOOLCHAIN_FILE="$TC" -DCMAKE_BUILD_TYPE=Release
        -DCMAKE_INSTALL_PREFIX="$P" -DCMAKE_PREFIX_PATH="$P" -DBUILD_SHARED_LIBS=OFF
        -DCMAKE_CXX_STANDARD=17 -DCMAKE_POSITION_INDEPENDENT_CODE=OFF)

# apply_patch SRCDIR NAME: apply $here/patches/NAME once (skipped if already in).
apply_patch() {
        local f=$here/patches/$2
        if patch -d "$1" -p1 -R --dry-run -s -f <"$f" >/dev/null 2>&1; then
                echo "patch $2: already applied"
        else
                patch -d "$1" -p1 -N -f <"$f"
        fi
}

# --- packages --------------------------------------------------------------
build_zlib() {
        local s b=$BLD/zlib
        s=$(srcdir zlib)
        rm -rf "$b" && cp -a "$s" "$b" && cd "$b"
        # zlib's configure knows mingw from CHOST; the dfsg tarball has no win32/.
        CHOST=$HOST CFLAGS="-O2" ./configure --static --prefix="$P"
        "${NICE[@]}" make -j"$JOBS" libz.a
        make install
}

build_cares() {
        local s b=$BLD/c-ares
        s=$(srcdir c-ares)
        apply_patch "$s" c-ares-ns-inaddrsz.patch
        rm -rf "$b"
        cmake -S "$s" -B "$b" "${CMAKE_COMMON[@]}" -DCARES_STATIC=ON -DCARES_SHARED=OFF \
                -DCARES_BUILD_TOOLS=OFF -DCARES_BUILD_TESTS=OFF -DCARES_INSTALL=ON
        "${NICE[@]}" cmake --build "$b" -j "$JOBS"
        cmake --install "$b"
}

build_abseil() {
        local s b=$BLD/abseil
        s=$(srcdir abseil)
        rm -rf "$b"
        cmake -S "$s" -B "$b" "${CMAKE_COMMON[@]}" -DBUILD_TESTING=OFF \
                -DABSL_PROPAGATE_CXX_STD=ON -DABSL_ENABLE_INSTALL=ON
        "${NICE[@]}" cmake --build "$b" -j "$JOBS"
        cmake --install "$b"
}

build_re2() {
        local s b=$BLD/re2
        s=$(srcdir re2)
        # The dfsg tarball drops the generated tables: regenerate them like
        # Debian does (REBUILD_TABLES=1), from unicode-data's /usr/share/unicode.
        local t
        for t in perl_groups unicode_casefold unicode_groups; do
                [ -s "$s/re2/$t.cc" ] && continue
                case $t in
                perl_groups) perl "$s/re2/make_perl_groups.pl" >"$s/re2/$t.cc.tmp" ;;
                *) (cd "$s/re2" && /usr/bin/python3 "make_$t.py") >"$s/re2/$t.cc.tmp" ;;
                esac
                mv "$s/re2/$t.cc.tmp" "$s/re2/$t.cc"
        done
        rm -rf "$b"
        cmake -S "$s" -B "$b" "${CMAKE_COMMON[@]}" -DRE2_BUILD_TESTING=OFF
        "${NICE[@]}" cmake --build "$b" -j "$JOBS"
        cmake --install "$b"
}

build_protobuf_c() {
        local s b=$BLD/protobuf-c
        s=$(srcdir protobuf-c)
        rm -rf "$b" && mkdir -p "$b" && cd "$b"
        # Runtime library only: protoc-c (the code generator) needs C++ protobuf.
        "$s/configure" --host=$HOST --prefix="$P" --disable-protoc --enable-static \
                --disable-shared
        "${NICE[@]}" make -j"$JOBS"
        make install
}

build_grpc() {
        local s b=$BLD/grpc_unsecure
        s=$(srcdir grpc)
        echo "grpc: -j$JOBS"
        # No "rm -rf $b" here: after a failure, a rerun resumes the (long) build.
        # C core only: no protobuf (C++ runtime), no codegen, no tests. No
        # TLS either (grpc_unsecure): the "module" SSL provider without a
        # BoringSSL tree only warns, and nothing built here needs it.
        cmake -S "$s" -B "$b" "${CMAKE_COMMON[@]}" -Wno-dev \
                -DgRPC_BUILD_TESTS=OFF -DgRPC_BUILD_CODEGEN=OFF \
                -DgRPC_BUILD_CSHARP_EXT=OFF \
                -DgRPC_ABSL_PROVIDER=package -DgRPC_CARES_PROVIDER=package \
                -DgRPC_RE2_PROVIDER=package -DgRPC_SSL_PROVIDER=module \
                -DBORINGSSL_ROOT_DIR="$b/no-boringssl" \
                -DgRPC_ZLIB_PROVIDER=package -DgRPC_PROTOBUF_PROVIDER=none \
                -DgRPC_BENCHMARK_PROVIDER=none -DgRPC_INSTALL=OFF -DZLIB_ROOT="$P"
        "${NICE[@]}" cmake --build "$b" -j "$JOBS" --target grpc_unsecure
        # gRPC_INSTALL would also install the C++ libraries: install the C core by hand.
        mkdir -p "$P/include" "$P/lib/pkgconfig"
        cp -a "$s/include/grpc" "$P/include/"
        local l
        for l in grpc_unsecure gpr address_sorting upb; do
                install -m 644 "$b/lib$l.a" "$P/lib/"
        done
        install -m 644 "$b/libs/opt/pkgconfig/grpc_unsecure.pc" "$b/libs/opt/pkgconfig/gpr.pc" \
                "$P/lib/pkgconfig/"
}

# One archive of the C core and everything it needs but protobuf-c, the
# one @mingw_grpc links (bazel/mingw_grpc.BUILD says why): ar's MRI script.
BUNDLE=$P/lib/libgrpc_core_bundle.a
build_bundle() {
        local l
        {
                echo "CREATE $BUNDLE.tmp"
                for l in grpc_unsecure upb gpr address_sorting re2 cares z; do
                        echo "ADDLIB $P/lib/lib$l.a"
                done
                for l in "$P"/lib/libabsl_*.a; do
                        echo "ADDLIB $l"
                done
                echo SAVE
                echo END
        } >"$W/bundle.mri"
        rm -f "$BUNDLE.tmp"
        $AR -M <"$W/bundle.mri"
        $RANLIB "$BUNDLE.tmp"
        mv "$BUNDLE.tmp" "$BUNDLE"
        ls -l "$BUNDLE"
}

# --- smoke test ------------------------------------------------------------
T=$W/test
export WINEPREFIX=$W/wineprefix WINEDEBUG=-all

link_exe() { # link_exe OUT.exe SRC.c
        # Fully static .exe (libstdc++, libgcc, winpthread included): no DLL to ship.
        # Not pkg-config: abseil's .pc files are unusable for mingw (bare "advapi32",
        # "bcrypt", "dbghelp" words; pkg-config dedups the -Wl,--push-state/--pop-state
        # pairs around -latomic, and ld fails with "no state pushed before popping").
        # The bundle without a --start-group: what Bazel's link of uvmd.exe does.
        "${NICE[@]}" $CXX -O2 -static -o "$1" -x c "$2" -x none -I"$P/include" \
                "$BUNDLE" "$P/lib/libprotobuf-c.a" \
                -lws2_32 -liphlpapi -lcrypt32 -lbcrypt -ladvapi32 -luser32 -ldbghelp -lgdi32
}

build_hello() {
        mkdir -p "$T"
        cat >"$T/hello.c" <<'EOF'
#include <stdio.h>
#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
int main(void) {
        grpc_init();
        printf("grpc C core %s (gRPC 1.51.1)\n", grpc_version_string());
        grpc_shutdown();
        printf("protobuf-c runtime %s\n", protobuf_c_version());
        return 0;
}
EOF
        link_exe "$T/hello.exe" "$T/hello.c"
        ls -l "$T/hello.exe"
}

wine_init() {
        [ -d "$WINEPREFIX/drive_c" ] || wineboot -i >/dev/null 2>&1 || true
}

# --- optional: a gRPC C core server under Wine, called from Linux ----------
# It answers /grpc.health.v1.Health/Check with SERVING (hand-encoded protobuf
# 08 01) and every other method with UNIMPLEMENTED, then exits after 2 calls.
build_server() {
        mkdir -p "$T"
        cat >"$T/server.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/byte_buffer.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#define TAG_NEW ((void *)1)
#define TAG_DONE ((void *)2)
#define TAG_SHUT ((void *)3)

static gpr_timespec in_seconds(int s) {
        return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(s, GPR_TIMESPAN));
}

int main(int argc, char **argv) {
        char addr[64];
        int calls = argc > 2 ? atoi(argv[2]) : 2, served = 0, rc = 0;
        snprintf(addr, sizeof addr, "127.0.0.1:%s", argc > 1 ? argv[1] : "50051");
        grpc_init();
        grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server *server = grpc_server_create(NULL, NULL);
        grpc_server_register_completion_queue(server, cq, NULL);
        grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
        int port = grpc_server_add_http2_port(server, addr, creds);
        grpc_server_credentials_release(creds);
        if (port == 0) {
                fprintf(stderr, "cannot listen on %s\n", addr);
                return 1;
        }
        grpc_server_start(server);
        printf("server (grpc %s) listening on %s\n", grpc_version_string(), addr);
        fflush(stdout);
        while (served < calls) {
                grpc_call *call = NULL;
                grpc_call_details details;
                grpc_metadata_array md;
                grpc_call_details_init(&details);
                grpc_metadata_array_init(&md);
                if (grpc_server_request_call(server, &call, &details, &md, cq, cq, TAG_NEW) != GRPC_CALL_OK) {
                        rc = 1;
                        break;
                }
                grpc_event ev = grpc_completion_queue_next(cq, in_seconds(120), NULL);
                if (ev.type != GRPC_OP_COMPLETE || ev.tag != TAG_NEW || !ev.success) {
                        fprintf(stderr, "no call (event type %d)\n", ev.type);
                        rc = 1;
                        break;
                }
                char *method = grpc_slice_to_c_string(details.method);
                int health = strcmp(method, "/grpc.health.v1.Health/Check") == 0;
                grpc_byte_buffer *req = NULL, *resp = NULL;
                int cancelled = 0;
                grpc_slice details_slice = grpc_slice_from_static_string(health ? "" : "method not implemented");
                grpc_op ops[5];
                size_t n = 0;
                memset(ops, 0, sizeof ops);
                ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
                n++;
                ops[n].op = GRPC_OP_RECV_MESSAGE;
                ops[n].data.recv_message.recv_message = &req;
                n++;
                ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
                ops[n].data.recv_close_on_server.cancelled = &cancelled;
                n++;
                if (health) {
                        grpc_slice msg = grpc_slice_from_static_buffer("\x08\x01", 2);
                        resp = grpc_raw_byte_buffer_create(&msg, 1);
                        ops[n].op = GRPC_OP_SEND_MESSAGE;
                        ops[n].data.send_message.send_message = resp;
                        n++;
                }
                ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
                ops[n].data.send_status_from_server.status = health ? GRPC_STATUS_OK : GRPC_STATUS_UNIMPLEMENTED;
                ops[n].data.send_status_from_server.status_details = &details_slice;
                n++;
                if (grpc_call_start_batch(call, ops, n, TAG_DONE, NULL) != GRPC_CALL_OK) {
                        rc = 1;
                        break;
                }
                ev = grpc_completion_queue_next(cq, in_seconds(60), NULL);
                printf("server: %s -> %s\n", method, health ? "OK (SERVING)" : "UNIMPLEMENTED");
                fflush(stdout);
                gpr_free(method);
                if (req) grpc_byte_buffer_destroy(req);
                if (resp) grpc_byte_buffer_destroy(resp);
                grpc_call_unref(call);
                grpc_call_details_destroy(&details);
                grpc_metadata_array_destroy(&md);
                served++;
        }
        grpc_server_shutdown_and_notify(server, cq, TAG_SHUT);
        grpc_server_cancel_all_calls(server);
        for (;;) { /* the shutdown tag, and a pending request_call if any */
                grpc_event ev = grpc_completion_queue_next(cq, in_seconds(10), NULL);
                if (ev.type != GRPC_OP_COMPLETE || ev.tag == TAG_SHUT) break;
        }
        grpc_server_destroy(server);
        grpc_completion_queue_shutdown(cq);
        while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN) {
        }
        grpc_completion_queue_destroy(cq);
        grpc_shutdown();
        printf("server: done, served %d call(s)\n", served);
        fflush(stdout);
        return rc;
}
EOF
        link_exe "$T/server.exe" "$T/server.c"
        ls -l "$T/server.exe"
}

run_server_test() {
        local port spid rc=0
        port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        log "server.exe under Wine on 127.0.0.1:$port, client: Linux python3-grpcio"
        wine "$T/server.exe" "$port" 2 &
        spid=$!
        /usr/bin/python3 - "$port" <<'EOF' || rc=$?
import sys, grpc
ch = grpc.insecure_channel("127.0.0.1:" + sys.argv[1])
grpc.channel_ready_future(ch).result(timeout=120)
resp = ch.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=30)
print("client: Health/Check ->", resp.hex(), "(SERVING)" if resp == b"\x08\x01" else "(unexpected)")
ok = resp == b"\x08\x01"
try:
    ch.unary_unary("/uvmd.Test/Nothing")(b"", timeout=30)
    print("client: /uvmd.Test/Nothing -> OK (unexpected)")
    ok = False
except grpc.RpcError as e:
    print("client: /uvmd.Test/Nothing ->", e.code(), repr(e.details()))
    ok = ok and e.code() == grpc.StatusCode.UNIMPLEMENTED
sys.exit(0 if ok else 1)
EOF
        if [ "$rc" != 0 ]; then
                kill "$spid" 2>/dev/null || true
        fi
        wait "$spid" || rc=$?
        if [ "$rc" = 0 ]; then
                log "server test: PASS"
        else
                log "server test: FAIL ($rc)"
                return 1
        fi
}

fetch_step() { fetch; }
step fetch fetch_step
step zlib build_zlib
step c-ares build_cares
step abseil build_abseil
step re2 build_re2
step protobuf-c build_protobuf_c
# Stamp names: an earlier version built "grpc" (with TLS, over OpenSSL).
step grpc_unsecure build_grpc
step bundle build_bundle
step hello_unsecure build_hello

wine_init
log "running hello.exe under Wine"
wine "$T/hello.exe"

if [ "${WIN_GRPC_SERVER_TEST:-1}" != 0 ]; then
        step server_unsecure build_server
        run_server_test
fi
