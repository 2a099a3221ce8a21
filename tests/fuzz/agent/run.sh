#!/bin/sh
# Build the agent frame decoder fuzzer and run it for N seconds (default 30).
# Run from anywhere; builds from the repo root into $OUT (default /tmp/agent-frame-fuzz).
# Usage: tests/fuzz/agent/run.sh [seconds]
set -eu

secs=${1:-30}
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${OUT:-/tmp/agent-frame-fuzz}
mkdir -p "$out/corpus" "$out/crashes"
cd "$root"

clang -g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -I. \
        tests/fuzz/agent/frame_fuzz.c agent/frame.c common/error.c \
        -o "$out/frame_fuzz" -ljson-c -lpthread

# le32 VALUE: four little-endian bytes as printf escapes.
le32() {
        printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) \
                $(($1 >> 16 & 255)) $(($1 >> 24 & 255))
}

# frame TYPE ID PAYLOAD: one frame with a correct size (ids < 2^32).
frame() {
        size=$((16 + ${#3}))
        printf "$(le32 "$1")$(le32 $size)$(le32 "$2")$(le32 0)"
        printf '%s' "$3"
}

req='{"ContainerId":"c1","ActivityId":"a1"}'
seed() { cat > "$out/corpus/$1"; }

{ printf '\000'; frame $((0x10100101)) 1 "$req"; } | seed request-whole
{ printf '\001\000'; frame $((0x10100501)) 2 "$req"; } | seed request-bytewise
{ printf '\002\006\040'; frame $((0x20100201)) 3 '{"Result":-2,"ErrorMessage":"no"}';
  frame $((0x30100101)) 0 '{"ContainerId":"c1","ExitCode":0}'; } | seed response-notify
{ printf '\003\017\000\377'; frame $((0x40000000)) 5 'hello stdout';
  frame $((0x40000002)) 5 '{"Credit":4096}'; frame $((0x40000001)) 5 ''; } | seed data-credit-close
{ printf '\000'; frame $((0x10100b01)) 9 '{"ContainerId":"","ActivityId":"x","Maximum":4}'; } \
        | seed negotiate
{ printf '\000'; frame $((0x10100101)) 1 '{"ContainerId":"c1"} x'; } | seed trailing
{ printf '\000'; frame $((0x10100101)) 1 '[1,2]'; } | seed not-object

"$out/frame_fuzz" -max_total_time="$secs" -max_len=8192 -timeout=10 \
        -artifact_prefix="$out/crashes/" "$out/corpus" 2>&1 | tee "$out/fuzz.log" | tail -n 15
