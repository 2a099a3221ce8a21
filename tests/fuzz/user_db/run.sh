#!/bin/sh
# The user resolver host and agent share (agent/user_db.c) under libFuzzer
# for N seconds (default 30): the bridge's "User" request, the image's
# /etc/passwd and /etc/group text, the ids answer; from the seeds in
# tests/fuzz/user_db/corpus.
# Usage: tests/fuzz/user_db/run.sh [seconds]   (work dir: $OUT)
set -eu

secs=${1:-30}
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
. tests/fuzz/lib.sh

fuzz_init user_db
for f in tests/fuzz/user_db/user_db_fuzz.c agent/user_db.c common/error.c common/log.c \
        common/platform_linux.c common/fs.c; do
        fuzz_cc "$out/obj/$(basename "$f" .c).o" "$f"
done
fuzz_link "$out/user_db_fuzz" -ljson-c -lpthread
fuzz_run "$out/user_db_fuzz" "$secs" -max_len=8192
