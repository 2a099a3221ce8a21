#!/usr/bin/env bash
# Soak (issue 15, part 4): pod + container lifecycles from several clients
# at once against a fresh uvmd, then a leak check (see soak.py). Needs root,
# runc, Debian's containernetworking-plugins (/usr/lib/cni), iproute2,
# busybox-static and python3-grpcio/grpc-tools. Exit status 0 = passed.
#
#   tests/soak/run.sh [--cycles 1000] [--clients 4] [--report-every 100]
#       [--rss-limit-mib 8] [--keep]
#
# UVMD_BIN defaults to $(bazel info bazel-bin)/service/uvmd (build it and the
# agent first: bazel build //service:uvmd //agent:uvmd-agent). Against the
# ASan build, leaks are reported when uvmd stops and fail the run (its RSS
# grows by ASan's quarantine of freed memory, ~256 MiB, so lift that bound):
#   bazel build --config=asan //service:uvmd //agent:uvmd-agent
#   UVMD_BIN=$(bazel info --config=asan bazel-bin)/service/uvmd \
#       ASAN_OPTIONS=detect_leaks=1 tests/soak/run.sh --cycles 200 --rss-limit-mib 1024
# The binaries are copied into the run's work dir first: a rebuild during
# the run does not change what is soaked.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${UVMD_BIN:-}" ]; then
        UVMD_BIN="$(bazel info bazel-bin 2>/dev/null)/service/uvmd"
fi
if [ ! -x "$UVMD_BIN" ]; then
        echo "uvmd binary not found: $UVMD_BIN (bazel build //service:uvmd, or set UVMD_BIN)" >&2
        exit 1
fi
export UVMD_BIN
# The generated protobuf modules go to a private dir, removed afterwards.
UVMD_PYGEN="$(mktemp -d /tmp/soak-pygen-XXXXXX)"
export UVMD_PYGEN
trap 'rm -rf "$UVMD_PYGEN"' EXIT
# Debian's python3 carries grpcio and grpc-tools; a pyenv python may not.
/usr/bin/python3 tests/soak/soak.py "$@"
