#!/usr/bin/env bash
# Pod benchmark (issues 4 and 5): RunPodSandbox with and without CNI, the
# CNI ADD cost alone, CreateContainer/StartContainer, List/Status latency and
# uvmd/agent memory with 110 pods x 3 containers running, Stop/Remove.
# Prints markdown tables; asserts nothing about time. Needs root (namespaces,
# mounts, CNI), runc, Debian's containernetworking-plugins (/usr/lib/cni),
# iproute2, busybox-static and python3-grpcio/grpc-tools.
#
#   UVMD_BIN=/path/to/uvmd tests/bench/pods/run.sh [--pods N] [--ctrs N]
#       [--host-pods N] [--calls N] [--cni-by-hand N]
#
# UVMD_BIN defaults to $(bazel info bazel-bin)/service/uvmd; build it and the
# agent first (bazel build //service:uvmd //agent:uvmd-agent): uvmd finds
# uvmd-agent at ../agent/uvmd-agent next to itself. Extra bazel startup flags
# for that lookup, such as --output_base, can be given in BAZEL_STARTUP_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/../../.."
if [ -z "${UVMD_BIN:-}" ]; then
        # shellcheck disable=SC2086
        UVMD_BIN="$(bazel ${BAZEL_STARTUP_FLAGS:-} info bazel-bin 2>/dev/null)/service/uvmd"
fi
if [ ! -x "$UVMD_BIN" ]; then
        echo "uvmd binary not found: $UVMD_BIN (bazel build //service:uvmd, or set UVMD_BIN)" >&2
        exit 1
fi
export UVMD_BIN
# The generated protobuf modules go to a private dir, removed afterwards.
UVMD_PYGEN="$(mktemp -d /tmp/podbench-pygen-XXXXXX)"
export UVMD_PYGEN
trap 'rm -rf "$UVMD_PYGEN"' EXIT
# Debian's python3 carries grpcio and grpc-tools; a pyenv python may not.
/usr/bin/python3 tests/bench/pods/bench_pods.py "$@"
