#!/usr/bin/env bash
# Fault injection (issue 15, part 5): uvmd SIGKILLed at each named step of
# its pod and container calls (common/fault.h; the steps: docs/pods.md,
# "Fault points"), restarted, then everything reported, removed and checked
# for leaks: tests/integration/test_fault_points.py, one case per step; and
# the environment's faults (the agent killed, runc failing, a CNI plugin
# hanging, ENOSPC, a read-only state root, a registry dropping connections):
# tests/integration/test_env_faults.py.
# Needs root, runc, /usr/lib/cni, iproute2, busybox-static and Debian's
# python3-grpcio/grpc-tools, like the other integration suites.
#
#   tests/integration/run-faults.sh [pytest args, e.g. -k stop_pod]
#
# Builds //service:uvmd, //service:uvmd-fault and the agent; UVMD_BIN
# overrides uvmd (uvmd-fault is taken from its directory). Holds
# /tmp/uvmd-integ.lock, as every run sharing the test bridge must.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${UVMD_BIN:-}" ]; then
        bazel build //service:uvmd //service:uvmd-fault //agent:uvmd-agent 2>&1 | tail -n 1
        UVMD_BIN="$(bazel info bazel-bin 2>/dev/null)/service/uvmd"
fi
export UVMD_BIN
cd tests/integration
exec flock /tmp/uvmd-integ.lock /usr/bin/python3 -m pytest -q -p no:cacheprovider \
        test_fault_points.py test_env_faults.py "$@"
