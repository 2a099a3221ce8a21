#!/bin/sh
# The config file parser (service/config.c) under libFuzzer for N seconds
# (default 30), from the seeds in tests/fuzz/config/corpus.
# Usage: tests/fuzz/config/run.sh [seconds]   (work dir: $OUT)
set -eu

secs=${1:-30}
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
. tests/fuzz/lib.sh

fuzz_init config
for f in tests/fuzz/config/config_fuzz.c service/config.c common/error.c common/log.c \
        common/platform_linux.c common/fs.c; do
        fuzz_cc "$out/obj/$(basename "$f" .c).o" "$f"
done
fuzz_link "$out/config_fuzz" -ljson-c -lpthread
fuzz_run "$out/config_fuzz" "$secs" -max_len=4096
