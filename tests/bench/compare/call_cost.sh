#!/usr/bin/env bash
# The per-call cost of uvmd's gRPC path, with no pods (issue 15): Version
# (answered on the queue thread) against unfiltered ListPodSandbox and
# ListContainers (cache hits, empty replies) through the C client
# cri_bench, one call at a time. Per method: client p50/p90/p99 in µs and
# uvmd's CPU per call over all its threads (schedstat); with --strace, also
# uvmd's syscalls per call (strace -f -c over the same calls). Give two or
# more binaries to compare them in alternating rounds. Asserts nothing.
#
#   tests/bench/compare/call_cost.sh [--calls 3000] [--rounds 1] [--strace] UVMD...
set -euo pipefail
cd "$(dirname "$0")/../../.."
calls=3000 rounds=1 trace=0
while [ $# -gt 0 ]; do
        case "$1" in
        --calls) calls=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --strace) trace=1; shift ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) break ;;
        esac
done
if [ $# -lt 1 ]; then
        echo "usage: $0 [--calls N] [--rounds N] [--strace] UVMD..." >&2
        exit 2
fi
work="$(mktemp -d /tmp/callcost-XXXXXX)"
pid=
cleanup() {
        [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
        rm -rf "$work"
}
trap cleanup EXIT
cc -O2 -Wall -o "$work/cri_bench" tests/bench/compare/cri_bench.c -lgrpc -lgpr -lpthread
: >"$work/empty.req" # an empty request: no filter
echo '{}' >"$work/config.json"

cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {print s}'; }

one() { # BINARY
        local d="$work/run" m n0 n1
        rm -rf "$d" && mkdir -p "$d"
        "$1" --config "$work/config.json" --socket "$d/u.sock" --state-root "$d/s" \
                --data-root "$d/data" --log-level warn >"$d/log" 2>&1 &
        pid=$!
        for _ in $(seq 200); do [ -S "$d/u.sock" ] && break; sleep 0.05; done
        echo "== $1 (load $(cut -d' ' -f1-3 /proc/loadavg))"
        for m in Version ListPodSandbox ListContainers; do
                # Warm: the first List builds the cache entry on a worker.
                "$work/cri_bench" "$d/u.sock" "/runtime.v1.RuntimeService/$m" 200 1 \
                        "$work/empty.req" >/dev/null
                n0=$(cpu_ns "$pid")
                "$work/cri_bench" "$d/u.sock" "/runtime.v1.RuntimeService/$m" 0 "$calls" \
                        "$work/empty.req" >"$d/$m.out"
                n1=$(cpu_ns "$pid")
                tail -n +2 "$d/$m.out" | sort -n | awk -v m="$m" -v cpu=$(((n1 - n0) / calls)) \
                        '{a[NR] = $1} END {printf "%-15s p50 %6.1f  p90 %6.1f  p99 %7.1f us;" \
                        "  uvmd CPU %5.1f us/call\n", m, a[int(NR * .5)], a[int(NR * .9)],
                        a[int(NR * .99)], cpu / 1000}'
                if [ "$trace" = 1 ]; then
                        strace -f -c -o "$d/strace" -p "$pid" 2>/dev/null &
                        local st=$!
                        sleep 0.5
                        "$work/cri_bench" "$d/u.sock" "/runtime.v1.RuntimeService/$m" 0 \
                                "$calls" "$work/empty.req" >/dev/null
                        kill -INT "$st"
                        wait "$st" || true
                        awk -v n="$calls" '$NF == "total" {printf "%-15s %.1f syscalls/call\n",
                                "", $4 / n}' "$d/strace"
                fi
        done
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        pid=
}

for _ in $(seq "$rounds"); do
        for b in "$@"; do
                one "$b"
        done
done
