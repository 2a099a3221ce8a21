#!/bin/sh
# What uvmd decodes of CNI (network/cni_conf.c, network/cni_exec.c: config
# files, plugin results and error objects) under libFuzzer for N seconds
# (default 30), from the seeds in tests/fuzz/cni/corpus.
# Usage: tests/fuzz/cni/run.sh [seconds]   (work dir: $OUT)
set -eu

secs=${1:-30}
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
. tests/fuzz/lib.sh

fuzz_init cni
rm -rf "$out/bin"
mkdir -p "$out/bin"
for f in tests/fuzz/cni/cni_fuzz.c $(fuzz_srcs //network:cni); do
        fuzz_cc "$out/obj/$(basename "$f" .c).o" "$f"
done
fuzz_link "$out/cni_fuzz" -ljson-c -lpthread
export CNI_FUZZ_BIN="$out/bin"
fuzz_run "$out/cni_fuzz" "$secs" -max_len=8192
