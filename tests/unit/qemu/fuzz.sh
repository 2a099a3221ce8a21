#!/bin/sh
# Build the QMP client's libFuzzer harness with clang (not Bazel) and run it
# for N seconds (default 30).
#   tests/unit/qemu/fuzz.sh [seconds]
set -eu

secs=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=${FUZZ_WORK:-/tmp/uvmd-fuzz-qmp}
bin="$work/qmp_fuzz"

mkdir -p "$work/corpus" "$work/artifacts"
clang -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I"$root" \
        "$here/qmp_fuzz.c" "$root/sandbox/drivers/qemu/qmp.c" "$root/common/error.c" \
        "$root/common/log.c" -ljson-c -lpthread -o "$bin"

greeting='{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}'
caps='{"return": {}, "id": 1}'
printf '%s\r\n' "$greeting" "$caps" '{"return": {"status": "prelaunch", "singlestep": false, "running": false}, "id": 2}' \
        >"$work/corpus/status"
printf '%s\r\n' "$greeting" "$caps" \
        '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}' \
        '{"return": {}, "id": 2}' '{"id": 3, "error": {"class": "GenericError", "desc": "no"}}' >"$work/corpus/events"
printf '%s\n' "$greeting" "$caps" '{"return": {}, "id": 9}' >"$work/corpus/wrong-id"
printf '%s\n' "$greeting" "$caps" '{"event": "SHUT\u0000DOWN", "data": {}}' '{"return": {}, "id": 2}' \
        >"$work/corpus/event-nul"
printf '{\n  "QMP": {\n    "capabilities": []\n  }\n}\n{"return": {}, "id": 1}\n{"return": [1, "x", null, 2.5, {"a": [true]}], "id": 2}\n' \
        >"$work/corpus/pretty"

exec "$bin" -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus"
