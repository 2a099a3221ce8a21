#!/bin/sh
# Build the image decoders' libFuzzer harness with clang (not Bazel) and run
# it for N seconds (default 30), seeded from the unit-test fixtures.
#   tests/fuzz/image/run.sh [seconds]
set -eu

secs=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=${FUZZ_WORK:-/tmp/uvmd-fuzz-image}
bin="$work/manifest_fuzz"

mkdir -p "$work/corpus" "$work/artifacts"
clang -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I"$root" \
        "$here/manifest_fuzz.c" \
        "$root/image/ref.c" "$root/image/digest.c" "$root/image/manifest.c" \
        "$root/common/error.c" \
        "$root/common/sha256_openssl.c" "$root/common/platform_linux.c" "$root/common/fs.c" \
        -ljson-c -lcrypto -o "$bin"

# Seeds: every JSON fixture plus a few references.
cp "$root"/tests/unit/image/testdata/*.json "$work/corpus/"
i=0
for ref in busybox busybox:1.36 localhost:5000/a/b:t "[::1]:5000/x" \
        "quay.io/a/b@sha256:4fbec69b941195fd56f8212a5000e304129451d82efca94ff0e0fb2d5355472e" \
        "a/b.c_d__e-f--g:_T.-x" "Registry.Example.com/app"; do
        printf '%s' "$ref" >"$work/corpus/ref$i"
        i=$((i + 1))
done

exec "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus"
