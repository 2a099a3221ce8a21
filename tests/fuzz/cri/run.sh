#!/bin/sh
# CRI requests under libFuzzer for N seconds (default 30): protobuf-c's
# unpacking of the main request types, then the handlers' checks and pure
# translations (service/validate.c, service/cri*.c, the container's user and
# OCI spec in sandbox/), from the seeds in tests/fuzz/cri/corpus. The CRI's
# C code is generated here with protoc-c, as //proto:api_c_gen does.
# Usage: tests/fuzz/cri/run.sh [seconds]   (work dir: $OUT)
set -eu

secs=${1:-30}
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
. tests/fuzz/lib.sh

fuzz_init cri
rm -rf "$out/gen" "$out/fixture"
mkdir -p "$out/gen/proto" "$out/fixture"
protoc-c -Iproto --c_out="$out/gen/proto" proto/api.proto
# Generated tables need no coverage: plain and quick to compile.
clang -std=c11 -O0 -w -I"$out/gen" -c "$out/gen/proto/api.pb-c.c" -o "$out/obj/api.pb-c.o" &
fuzz_pids=$!
for f in tests/fuzz/cri/cri_fuzz.c service/validate.c service/cri.c sandbox/cri_resources.c \
        sandbox/spec.c sandbox/spec_userns.c sandbox/seccomp.c sandbox/seccomp_default.c \
        sandbox/apparmor.c sandbox/user.c sandbox/user_req.c agent/user_db.c sandbox/sysctl.c \
        sandbox/uvm_options.c sandbox/idmap_map.c sandbox/record.c sandbox/state.c sandbox/cgroup.c sandbox/ids.c \
        image/ref.c image/digest.c common/sha256_openssl.c common/error.c common/log.c common/fs.c common/run.c common/platform_linux.c; do
        fuzz_cc "$out/obj/$(basename "$(dirname "$f")")_$(basename "$f" .c).o" "$f" \
                -I"$out/gen" -Wno-deprecated-declarations
done
fuzz_link "$out/cri_fuzz" -lprotobuf-c -ljson-c -lcrypto -lpthread
export CRI_FUZZ_DIR="$out/fixture"
fuzz_run "$out/cri_fuzz" "$secs" -max_len=16384
