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
        libcurl4-openssl-dev libssl-dev libarchive-dev libzstd-dev zlib1g-dev
        # run: OCI runtimes, CNI plugins, namespaces and mounts
        runc crun containernetworking-plugins iproute2 iptables util-linux
        # run: QEMU microVM pods; kmod's depmod, cpio and xz (the kernel's
        # payload) build the guest image
        qemu-system-x86 erofs-utils cpio kmod xz-utils
        # test: independent gRPC client, images, registry
        python3 python3-grpcio python3-grpc-tools python3-protobuf python3-pytest
        python3-prometheus-client
        busybox-static skopeo docker-registry apache2-utils
        # test: a 9P2000.L server for the guest's Plan9 mounts (trans=fd)
        diod
        # test: the Debian package (deploy/debian), its checks, and the unit's
        # systemd-analyze verify
        dpkg-dev lintian systemd
        # test: streaming clients that are not ours (WebSocket; SPDY on spdystream)
        python3-websockets golang-go golang-github-docker-spdystream-dev openssl
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

here=$(cd "$(dirname "$0")/.." && pwd)

# The second test client (Node: @grpc/grpc-js + grpc-reflection-js), pinned
# by its lockfile; installed only when missing or when the lockfile changed.
js=$here/tests/integration/js
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        if [ "$(id -u)" -eq 0 ]; then
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
        fi
fi
if command -v npm >/dev/null && ! cmp -s "$js/package-lock.json" "$js/node_modules/.uvmd-stamp"; then
        (cd "$js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null &&
                cp package-lock.json node_modules/.uvmd-stamp)
fi

# The .debs the QEMU guest image is assembled from (guest/, docs/guest.md).
if [ "$(id -u)" -eq 0 ]; then
        "$here/guest/fetch.sh"
elif [ ! -d /var/cache/uvmd/guest-debs ]; then
        echo "setup: /var/cache/uvmd/guest-debs is missing (run as root to fetch it)" >&2
fi

# A default pod network when the node has none (bridge + host-local + portmap).
if [ -x "$here/deploy/cni/install-default.sh" ]; then
        "$here/deploy/cni/install-default.sh"
fi
echo "setup: ok"
