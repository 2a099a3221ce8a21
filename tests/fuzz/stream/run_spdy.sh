#!/bin/sh
# Build the SPDY/3.1 decoder fuzzer and run it for N seconds (default 30).
# Run from anywhere; builds from the repo root into $OUT (default /tmp/spdy-fuzz).
# Usage: tests/fuzz/stream/run_spdy.sh [seconds]
set -eu

secs=${1:-30}
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${OUT:-/tmp/spdy-fuzz}
mkdir -p "$out/corpus" "$out/crashes"
cd "$root"

clang -g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -I. \
        tests/fuzz/stream/spdy_fuzz.c stream/spdy.c stream/spdy_encode.c stream/spdy_flow.c \
        stream/spdy_zlib.c common/error.c \
        -o "$out/spdy_fuzz" -lz

# be32 VALUE: four big-endian bytes as printf escapes.
be32() {
        printf '\\%03o\\%03o\\%03o\\%03o' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) \
                $(($1 >> 8 & 255)) $(($1 & 255))
}

# ctl TYPE FLAGS LEN PAYLOAD: a version-3 control frame; PAYLOAD is printf escapes.
ctl() {
        printf "$(be32 $((0x80030000 | $1)))$(be32 $(($2 << 24 | $3)))$4"
}

# data STREAM FLAGS TEXT: a DATA frame.
data() {
        printf "$(be32 "$1")$(be32 $(($2 << 24 | ${#3})))"
        printf '%s' "$3"
}

# hex HEX: raw bytes.
hex() {
        h=$1
        while [ -n "$h" ]; do
                printf "\\$(printf '%03o' "0x${h%"${h#??}"}")"
                h=${h#??}
        done
}

# Written by moby/spdystream: three SYN_STREAMs (persistent zlib), DATA, PING,
# SETTINGS, WINDOW_UPDATE, HEADERS, RST_STREAM, GOAWAY (see the unit test).
go=80030001000000290000000100000000000078f9e3c6a7c26260606004a7b392a2d4c45c6851c29a0a0a68
go=${go}00000000ffff800300010000001700000003000000004000c22e555c92929907000000ffff8003000101
go=${go}00002a0000000500000000000002e529502aaed0cd2dcd29c90497a50c49188ad98a4b52f24b4b000000
go=${go}00ffff000000030100000568656c6c6f800300060000000400000001800300040000000c000000010000
go=${go}000700020000800300090000000800000003000003e8800300080000001200000001821ac408ca3c8c49
go=${go}00000000ffff8003000300000008000000030000000580030007000000080000000500000000

# nv NAME VALUE: one pair of a plain header block (no NUL, %, or \ in either).
nv() {
        printf '%s%s%s%s' "$(be32 ${#1})" "$1" "$(be32 ${#2})" "$2"
}

# stored LEN PLAIN: LEN bytes as one stored deflate block, which is how a sync
# flush ends; mutations of such a block reach the name/value parser directly.
stored() {
        printf '\\000\\%03o\\%03o\\%03o\\%03o%s' $(($1 & 255)) $(($1 >> 8 & 255)) \
                $((~$1 & 255)) $((~$1 >> 8 & 255)) "$2"
}

# The zlib header: deflate, no compression, FDICT with the SPDY/3 dictionary id.
zhead='\170\040\343\306\247\302'

seed() { cat > "$out/corpus/$1"; }

{ printf '\000'; hex "$go"; } | seed go-whole
{ printf '\001\000'; hex "$go"; } | seed go-bytewise
{ printf '\003\006\040\002'; hex "$go"; } | seed go-chunks
# SYN_STREAM 1 {streamtype: error, port: 8080}, SYN_STREAM 3 {streamtype: data},
# SYN_REPLY 3 {a: b}, HEADERS 1 FIN {}, all stored.
b1=$(be32 2)$(nv streamtype error)$(nv port 8080)
b2=$(be32 1)$(nv streamtype data)
b3=$(be32 1)$(nv a b)
{ printf '\000'; ctl 1 0 $((10 + 6 + 5 + 43)) "$(be32 1)$(be32 0)\040\000$zhead$(stored 43 "$b1")";
  ctl 1 0 $((10 + 5 + 26)) "$(be32 3)$(be32 0)\000\000$(stored 26 "$b2")";
  ctl 2 0 $((4 + 5 + 14)) "$(be32 3)$(stored 14 "$b3")";
  ctl 8 1 $((4 + 5 + 4)) "$(be32 1)$(stored 4 "$(be32 0)")"; } | seed stored-blocks

{ printf '\000'; ctl 6 0 4 "$(be32 7)"; ctl 4 0 20 "$(be32 2)$(be32 7)$(be32 131072)$(be32 0x01000004)$(be32 100)";
  ctl 9 0 8 "$(be32 0)$(be32 1000)"; ctl 9 0 8 "$(be32 3)$(be32 70000)";
  data 3 0 'hello'; data 3 1 ''; ctl 3 0 8 "$(be32 3)$(be32 5)"; ctl 7 0 8 "$(be32 3)$(be32 0)"; } \
        | seed control-mix
{ printf '\000'; ctl 5 0 0 ''; ctl 10 0 4 "$(be32 1)"; ctl 6 0 4 "$(be32 2)"; } | seed unknown-types
{ printf '\000'; ctl 9 0 8 "$(be32 1)$(be32 0x7fffffff)"; ctl 9 0 8 "$(be32 1)$(be32 0x7fffffff)"; } \
        | seed window-overflow
{ printf '\000'; printf "$(be32 0x80020006)$(be32 4)$(be32 1)"; } | seed bad-version
{ printf '\000'; printf "$(be32 1)$(be32 5000)"; } | seed oversized-data

"$out/spdy_fuzz" -max_total_time="$secs" -max_len=8192 -timeout=10 \
        -artifact_prefix="$out/crashes/" "$out/corpus" 2>&1 | tee "$out/fuzz.log" | tail -n 15
# The pipe above hides the fuzzer's exit status: a crash leaves an artifact.
if [ -n "$(find "$out/crashes" -type f)" ]; then
        echo "crashes in $out/crashes" >&2
        exit 1
fi
