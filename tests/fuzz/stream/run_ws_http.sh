#!/bin/sh
# Build the WebSocket frame decoder and HTTP head parser fuzzers and run them
# for N seconds in all (default 30), split evenly between the two.
# Run from anywhere; builds from the repo root into $OUT (default /tmp/stream-fuzz).
# Usage: tests/fuzz/stream/run_ws_http.sh [seconds]
set -eu

secs=${1:-30}
half=$(((secs + 1) / 2))
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${OUT:-/tmp/stream-fuzz}
mkdir -p "$out/ws/corpus" "$out/ws/crashes" "$out/http/corpus" "$out/http/crashes"
cd "$root"

cflags="-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=undefined -I."
clang $cflags tests/fuzz/stream/ws_fuzz.c stream/ws.c stream/ws_sha1_openssl.c stream/http.c \
        common/error.c -o "$out/ws_fuzz" -lcrypto
clang $cflags tests/fuzz/stream/http_fuzz.c stream/http.c stream/ws.c stream/ws_sha1_openssl.c \
        common/error.c -o "$out/http_fuzz" -lcrypto

# frame OP PAYLOAD [FIN]: one client frame with a 7-bit length, masked with a
# zero key so the payload stays readable. OP and FIN (default 128) in decimal;
# PAYLOAD may hold printf %b escapes (\ooo octal).
frame() {
        printf '%b' "$2" > "$out/payload"
        n=$(wc -c < "$out/payload")
        printf "\\$(printf %03o $((${3:-128} | $1)))\\$(printf %03o $((128 | n)))\\0\\0\\0\\0"
        cat "$out/payload"
}
ws() { cat > "$out/ws/corpus/$1"; }
http() { cat > "$out/http/corpus/$1"; }

{ printf '\000'; frame 1 'Hello'; } | ws text-whole
{ printf '\001\000'; frame 2 '1stdout'; frame 9 'ping'; frame 10 ''; } | ws bytewise
{ printf '\002\002\006'; frame 1 'Hel' 0; frame 9 'p'; frame 0 'lo'; frame 8 '\003\350bye'; } | ws fragmented
{ printf '\004'; frame 1 '1aGk='; frame 1 '4eyJXaWR0aCI6ODB9'; frame 2 '\377\000'; } | ws channels
{ printf '\000\202\376\001\000\000\000\000\000'; head -c 256 /dev/zero; } | ws len16
{ printf '\000\202\377\000\000\000\000\000\001\000\000\000\000\000\000'; head -c 65536 /dev/zero; } \
        | ws len64
{ printf '\000'; frame 8 '\003'; } | ws close-short
{ printf '\000'; frame 1 '\316\273 \342\202\254 \360\237\230\200'; } | ws utf8

req='GET /exec/tok?command=sh&command=-c&stdin=1&tty=true HTTP/1.1\r\nHost: node:10250\r\n'
upg='Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n'
key='Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
{ printf '\000'; printf "$req$upg$key"'Sec-WebSocket-Protocol: v4.channel.k8s.io, v5.channel.k8s.io\r\n\r\n\201\200'; } \
        | http websocket
{ printf '\001\000'; printf "$req$upg$key"'\r\n'; } | http bytewise
{ printf '\000'; printf 'POST /portforward/t?port=80&port=443 HTTP/1.1\r\nHost: h\r\nUpgrade: SPDY/3.1\r\nConnection: Upgrade\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n'; } \
        | http spdy
{ printf '\000'; printf '\r\nGET /a%%20b?x=%%41+b&flag HTTP/1.1\r\nhost: h\r\nA: b\r\n c\r\n\r\n'; } | http fold
{ printf '\000'; printf 'GET / HTTP/1.0\r\nHost: h\r\n\r\n'; } | http http10

run() {
        "$out/$1_fuzz" -max_total_time="$half" -max_len="$2" -timeout=10 \
                -artifact_prefix="$out/$1/crashes/" "$out/$1/corpus" 2>&1 \
                | tee "$out/$1/fuzz.log" | tail -n 8
}
run ws 70000
run http 20000
# The pipes above hide the fuzzers' exit status: a crash leaves an artifact.
if [ -n "$(find "$out/ws/crashes" "$out/http/crashes" -type f)" ]; then
        echo "crashes in $out/ws/crashes or $out/http/crashes" >&2
        exit 1
fi
