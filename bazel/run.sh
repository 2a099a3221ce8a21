#!/usr/bin/env bash
# Set everything up, build, and run uvmd in the foreground on its default
# socket (/run/uvmd/uvmd.sock). Extra arguments go to uvmd.
set -euo pipefail
cd "$(dirname "$0")/.."
bazel/setup.sh
bazel build //service:uvmd //agent/... 2>&1 | tail -n 3
exec ./bazel-bin/service/uvmd "$@"
