#!/usr/bin/env bash
# Streaming benchmark (issue 12): Exec round trip vs ExecSync, port-forward
# throughput vs a direct connection. Prints markdown; asserts nothing about
# time. Needs root and the CNI plugins (bazel build //service:uvmd //agent:uvmd-agent).
#
#   tests/bench/stream/run.sh [--calls N] [--mib M] [--runs R]   (--calls 0 / --runs 0: skip that part)
set -euo pipefail
cd "$(dirname "$0")/../../.."
bin="$(bazel ${BAZEL_STARTUP_FLAGS:-} info bazel-bin 2>/dev/null)"
UVMD_BIN="${UVMD_BIN:-$bin/service/uvmd}"
export UVMD_BIN
UVMD_PYGEN="$(mktemp -d /tmp/streambench-pygen-XXXXXX)"
export UVMD_PYGEN
trap 'rm -rf "$UVMD_PYGEN"' EXIT
/usr/bin/python3 tests/bench/stream/bench_stream.py "$@"
