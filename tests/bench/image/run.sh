#!/usr/bin/env bash
# Image pull benchmark: uvmd cold and warm PullImage of the ~50 MB "big" test
# image from a local docker-registry, against skopeo copy of the same image.
# Prints a markdown table; asserts nothing about time. Needs root (uvmd
# unpacks layers with their owners and overlayfs whiteouts), Debian's
# docker-registry, skopeo and python3-grpcio/grpc-tools; perf is optional.
#
#   UVMD_BIN=/path/to/uvmd tests/bench/image/run.sh [--runs N] [--no-perf]
#
# UVMD_BIN defaults to $(bazel info bazel-bin)/service/uvmd; build it first
# (bazel build //service:uvmd). Extra bazel startup flags for that lookup,
# such as --output_base, can be given in BAZEL_STARTUP_FLAGS.
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
UVMD_PYGEN="$(mktemp -d /tmp/imgbench-pygen-XXXXXX)"
export UVMD_PYGEN
trap 'rm -rf "$UVMD_PYGEN"' EXIT
# Debian's python3 carries grpcio and grpc-tools; a pyenv python may not.
/usr/bin/python3 tests/bench/image/bench_pull.py "$@"
