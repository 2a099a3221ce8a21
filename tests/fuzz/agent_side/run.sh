#!/bin/sh
# The agent's side of the bridge under libFuzzer for N seconds (default 30):
# request frames from the host, decoded and dispatched into each request's
# decoders (agent/agent_main.c and the modules it calls), from the seeds in
# tests/fuzz/agent_side/corpus. The agent has no containers and no working
# state dir or runtime here (see agent_req_fuzz.c).
# Usage: tests/fuzz/agent_side/run.sh [seconds]   (work dir: $OUT)
set -eu

secs=${1:-30}
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
. tests/fuzz/lib.sh

fuzz_init agent_side
mkdir -p "$out/gen"
# The pause binary is never run here: one byte stands for it.
printf '\0' >"$out/gen/pause"
bazel/embed.sh "$out/gen/pause" "$out/gen/pause_bin.c" agent_pause_bin
fuzz_cc "$out/obj/pause_bin.o" "$out/gen/pause_bin.c"
for f in tests/fuzz/agent_side/agent_req_fuzz.c $(ls agent/agent_*.c agent/guest_*.c |
        grep -v '^agent/agent_main\.c$') agent/conn.c agent/conn_errno.c agent/frame.c \
        agent/bridge_types.c agent/cmdline.c agent/plan9.c common/error.c common/log.c common/fs.c common/nsfs.c common/run.c \
        common/sock_linux.c common/cond.c common/platform_linux.c; do
        fuzz_cc "$out/obj/$(basename "$(dirname "$f")")_$(basename "$f" .c).o" "$f" \
                -Wno-gnu-variable-sized-type-not-at-end
done
fuzz_link "$out/agent_req_fuzz" -ljson-c -lpthread
fuzz_run "$out/agent_req_fuzz" "$secs" -max_len=16384
