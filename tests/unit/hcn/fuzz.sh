#!/bin/sh
# Build the HCN endpoint document parser's libFuzzer harness with clang (not
# Bazel) and run it for N seconds (default 30).
#   tests/unit/hcn/fuzz.sh [seconds]
set -eu

secs=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=${FUZZ_WORK:-/tmp/uvmd-fuzz-hcn}
bin="$work/endpoint_fuzz"

mkdir -p "$work/corpus" "$work/artifacts"
clang -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I"$root" \
        "$here/endpoint_fuzz.c" "$root/network/hcn.c" "$root/common/error.c" \
        "$root/common/log.c" "$root/common/platform_linux.c" "$root/common/fs.c" -ljson-c -lpthread -o "$bin"

printf '%s' '{"ID":"8F14E45F-CEEA-467A-9575-A1B2C3D4E5F6","Name":"cni-pod","HostComputeNetwork":"7A3B3A6F-1A2B-4C5D-8E9F-0A1B2C3D4E5F","Policies":[],"IpConfigurations":[{"IpAddress":"10.244.1.5","PrefixLength":24}],"Dns":{"ServerList":["10.96.0.10"]},"Routes":[{"NextHop":"10.244.1.1","DestinationPrefix":"0.0.0.0/0","Metric":0}],"MacAddress":"00-15-5D-8A-01-05","Flags":0,"SchemaVersion":{"Major":2,"Minor":0}}' \
        >"$work/corpus/v4"
printf '%s' '{"MacAddress":"00:15:5d:8a:01:05","IPConfigurations":[{"IPAddress":"fd00:10:244::5","PrefixLength":64},{"IPAddress":"10.0.0.2","PrefixLength":8}],"Routes":[{"NextHop":"fd00:10:244::1","DestinationPrefix":"::/0"},{"NextHop":"10.0.0.1","DestinationPrefix":"0.0.0.0/0"}]}' \
        >"$work/corpus/dual"
printf '%s' '{"MacAddress":"00-15-5D-8A-01-05","IpConfigurations":[{"IpAddress":"::ffff:1.2.3.4","PrefixLength":128}]}' \
        >"$work/corpus/v6"

exec "$bin" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus"
