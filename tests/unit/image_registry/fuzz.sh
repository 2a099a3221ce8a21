#!/bin/sh
# Build the registry auth decoders' libFuzzer harness with clang (not Bazel)
# and run it for N seconds (default 30).
#   tests/unit/image_registry/fuzz.sh [seconds]
set -eu

secs=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=${FUZZ_WORK:-/tmp/uvmd-fuzz-registry}
bin="$work/auth_fuzz"

mkdir -p "$work/corpus" "$work/artifacts"
clang -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I"$root" \
        "$here/auth_fuzz.c" "$root/image/registry-auth.c" "$root/image/registry-http.c" \
        "$root/image/registry-curl.c" "$root/image/digest.c" "$root/common/error.c" \
        "$root/common/encode.c" "$root/common/platform_linux.c" "$root/common/fs.c" \
        "$root/common/sha256_openssl.c" \
        -lcurl -ljson-c -lcrypto -lpthread -o "$bin"

printf '%s' 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"' >"$work/corpus/bearer"
printf '%s' 'Basic realm="Registry Realm"' >"$work/corpus/basic"
printf '%s' 'bearer realm=x , service="a\"b"' >"$work/corpus/escapes"
printf '%s' '{"token":"abc","access_token":"abc","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"}' >"$work/corpus/token"

exec "$bin" -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus"
