#!/usr/bin/env bash
# VM pod benchmark (issue 11): RunPodSandbox of QEMU microVM pods broken down,
# the first container, idle host memory and CPU per VM. Prints markdown;
# asserts nothing about time. Needs root, QEMU, the CNI plugins and the guest
# image (bazel build //service:uvmd //agent:uvmd-agent //guest:image).
#
#   tests/bench/vm/run.sh [--pods N] [--parallel N] [--idle S] [--templates off|on] [--ksm off|on]
#   (--ksm on turns the host's KSM on for the measure, then restores it)
set -euo pipefail
cd "$(dirname "$0")/../../.."
bin="$(bazel ${BAZEL_STARTUP_FLAGS:-} info bazel-bin 2>/dev/null)"
UVMD_BIN="${UVMD_BIN:-$bin/service/uvmd}"
export UVMD_BIN
UVMD_PYGEN="$(mktemp -d /tmp/vmbench-pygen-XXXXXX)"
export UVMD_PYGEN
trap 'rm -rf "$UVMD_PYGEN"' EXIT
/usr/bin/python3 tests/bench/vm/bench_vm.py --guest "$bin/guest" "$@"
