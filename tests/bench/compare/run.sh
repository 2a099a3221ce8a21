#!/usr/bin/env bash
# uvmd against Debian's containerd 1.6, side by side, in one run (issue 15):
# every lifecycle call (p50/p90/p99), ExecSync, List/Status calls at 30, 110
# and 250 pods, 10 pods made in parallel, memory of daemon + per-pod
# processes, and the floors (ip netns, CNI ADD/DEL, bare runc) with each
# runtime's overhead above them. Prints markdown tables and writes them to a
# results file; asserts nothing about time. Needs root. Not part of the test
# command (a full run takes some minutes).
#
#   UVMD_BIN=/path/to/uvmd tests/bench/compare/run.sh [--pods-sizes 30,110,250]
#       [--calls 20] [--list-calls 200] [--quick] [--results FILE] [--order ...]
#       [--queries-only]
#
# --queries-only: only the List/Status calls, memory, growing and teardown
# at each size (no floors, lifecycle rounds or parallel pods): a few minutes
# less when only those figures are wanted.
#
# UVMD_BIN defaults to $(bazel info bazel-bin)/service/uvmd; build it and the
# agent first (bazel build //service:uvmd //agent:uvmd-agent). Both are copied
# into the run's temp dir, so a rebuild during the run changes nothing. Extra
# bazel startup flags for that lookup can be given in BAZEL_STARTUP_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/../../.."
if [ "$(id -u)" -ne 0 ]; then
        echo "needs root (namespaces, mounts, CNI, containerd)" >&2
        exit 1
fi
# Debian's packages this run needs (bazel/setup.sh installs all but
# containerd, which is this benchmark's alone); only missing ones are
# installed. Where systemd runs, the package also starts the node's own
# containerd; this run never talks to it (private socket, roots and config).
missing=()
for p in containerd runc containernetworking-plugins iproute2 docker-registry skopeo \
        busybox-static python3-grpcio python3-grpc-tools python3-protobuf python3-pytest \
        libgrpc-dev gcc libc6-dev; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
                missing+=("$p")
        fi
done
if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                "${missing[@]}" >/dev/null
fi
if [ -z "${UVMD_BIN:-}" ]; then
        # shellcheck disable=SC2086
        UVMD_BIN="$(bazel ${BAZEL_STARTUP_FLAGS:-} info bazel-bin 2>/dev/null)/service/uvmd"
fi
agent="$(dirname "$UVMD_BIN")/../agent/uvmd-agent"
if [ ! -x "$UVMD_BIN" ] || [ ! -x "$agent" ]; then
        echo "uvmd or uvmd-agent not found next to $UVMD_BIN (bazel build //service:uvmd" \
                "//agent:uvmd-agent, or set UVMD_BIN)" >&2
        exit 1
fi
work="$(mktemp -d /tmp/cmpbench-XXXXXX)"
trap 'rm -rf "$work"' EXIT
# uvmd finds its agent at ../agent/uvmd-agent next to itself.
mkdir -p "$work/bin/service" "$work/bin/agent"
cp "$UVMD_BIN" "$work/bin/service/uvmd"
cp "$agent" "$work/bin/agent/uvmd-agent"
src=tests/bench/compare
cc -O2 -Wall -Wextra -Wno-unused-parameter -o "$work/cri_bench" "$src/cri_bench.c" \
        -lgrpc -lgpr -lpthread
cc -O2 -static -o "$work/pause" "$src/pause.c"
export UVMD_PYGEN="$work/pygen" UVMD_SOURCE="$UVMD_BIN"
# Debian's python3 carries grpcio and grpc-tools; a pyenv python may not.
/usr/bin/python3 "$src/bench_compare.py" --uvmd "$work/bin/service/uvmd" \
        --cri-bench "$work/cri_bench" --pause "$work/pause" "$@"
