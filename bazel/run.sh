#!/usr/bin/env bash
# Set everything up, build, and run uvmd in the foreground on its default
# socket (/run/uvmd/uvmd.sock). Extra arguments go to uvmd.
set -euo pipefail
cd "$(dirname "$0")/.."
bazel/setup.sh
bazel build //service:uvmd //agent/... //guest:image 2>&1 | tail -n 3
# VM pods (handler "uvm") boot the guest image built here.
exec ./bazel-bin/service/uvmd --guest-dir "$PWD/bazel-bin/guest" "$@"
