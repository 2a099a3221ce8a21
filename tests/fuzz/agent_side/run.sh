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
# Not main() nor the pause program (a genrule's source, freestanding).
for f in tests/fuzz/agent_side/agent_req_fuzz.c $(fuzz_srcs //agent:uvmd-agent |
        grep -v -e '^agent/agent_main\.c$' -e '^agent/pause\.c$'); do
        fuzz_cc "$out/obj/$(basename "$(dirname "$f")")_$(basename "$f" .c).o" "$f" \
                -Wno-gnu-variable-sized-type-not-at-end
done
fuzz_link "$out/agent_req_fuzz" -ljson-c -lpthread
fuzz_run "$out/agent_req_fuzz" "$secs" -max_len=16384
