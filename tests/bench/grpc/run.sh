#!/usr/bin/env bash
# Version latency/throughput against a fresh uvmd (-O2 build), sequential and
# at 16 concurrent callers. Prints figures; asserts nothing about time.
set -euo pipefail
cd "$(dirname "$0")/../../.."
bazel build -c opt //service:uvmd //tests/bench/grpc:version_bench 2>&1 | tail -n 1
dir=$(mktemp -d /tmp/uvmd-bench-XXXXXX)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
echo '{}' >"$dir/config.json"
./bazel-bin/service/uvmd --config "$dir/config.json" --socket "$dir/uvmd.sock" \
        --state-root "$dir/state" --data-root "$dir/data" --log-level warn &
pid=$!
for _ in $(seq 100); do [ -S "$dir/uvmd.sock" ] && break; sleep 0.05; done
echo "machine: $(nproc) cores, $(uname -r), $(date -u +%F)"
./bazel-bin/tests/bench/grpc/version_bench "$dir/uvmd.sock" 1 20000
./bazel-bin/tests/bench/grpc/version_bench "$dir/uvmd.sock" 16 100000
echo "uvmd RSS after run: $(awk '/VmRSS/{print $2" "$3}' /proc/$pid/status)"
