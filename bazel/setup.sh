#!/usr/bin/env bash
# Install what uvmd needs to build, run and test, from Debian's packages.
# Idempotent: packages already present are not touched, and apt-get runs
# only when something is missing.
set -euo pipefail

packages=(
        # build
        bazel-bootstrap gcc libc6-dev clang-format
        libgrpc-dev grpc-proto protobuf-compiler protobuf-c-compiler libprotobuf-c-dev
        libprotobuf-dev libjson-c-dev libcmocka-dev
        libcurl4-openssl-dev libssl-dev libarchive-dev libzstd-dev
        # run: OCI runtimes, CNI plugins, namespaces and mounts
        runc crun containernetworking-plugins iproute2 iptables util-linux
        # test: independent gRPC client, images, registry
        python3 python3-grpcio python3-grpc-tools python3-protobuf python3-pytest
        busybox-static skopeo docker-registry apache2-utils
        # fuzzing
        clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
                missing+=("$p")
        fi
done

if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
                echo "setup: missing packages: ${missing[*]} (run as root to install)" >&2
                exit 1
        fi
        echo "setup: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A default pod network when the node has none (bridge + host-local + portmap).
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$here/deploy/cni/install-default.sh" ]; then
        "$here/deploy/cni/install-default.sh"
fi
echo "setup: ok"
