#!/usr/bin/env bash
# Download the .deb files the guest image is made from into
# /var/cache/uvmd/guest-debs (Bazel's @guest_debs): Debian's kernel, and
# crun with the libraries it and uvmd-agent need. libc, libseccomp and
# json-c are pinned to the versions installed on the host, so guest and host
# run the same libc; crun and the libraries only it needs are taken at apt's
# candidate version, like the kernel (the host may hold older ones that the
# mirror no longer has). Nothing is installed.
# Idempotent: files already present are kept, other versions of the same
# package are removed, so the directory holds exactly one version of each.
set -euo pipefail

dest=${UVMD_GUEST_DEBS:-/var/cache/uvmd/guest-debs}
# Pinned to the host's installed version.
host_pkgs=(libseccomp2 libc6 libjson-c5)
# At the candidate version: crun and the rest of its DT_NEEDED closure
# (libsystemd0 brings libgcrypt20 with libgpg-error0, liblzma5, libzstd1
# and liblz4-1); e2fsprogs' mke2fs (hcs pods' scratch disks, formatted in
# the guest) and its libraries (libext2fs2 holds libe2p too).
candidate_pkgs=(crun libcap2 libyajl2 libsystemd0 libgcrypt20 libgpg-error0 liblzma5 libzstd1
        liblz4-1 e2fsprogs libext2fs2 libcom-err2 libblkid1 libuuid1)

# The versioned kernel package that linux-image-amd64 currently depends on
# (linux-image-6.1.0-NN-amd64), at apt's candidate version.
kernel_pkg=$(apt-cache depends linux-image-amd64 |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
if [ -z "$kernel_pkg" ]; then
        echo "guest/fetch: cannot resolve the kernel package of linux-image-amd64 (apt-get update?)" >&2
        exit 1
fi
kernel_ver=$(apt-cache policy "$kernel_pkg" | sed -n 's/^ *Candidate: //p')
if [ -z "$kernel_ver" ] || [ "$kernel_ver" = "(none)" ]; then
        echo "guest/fetch: no candidate version of $kernel_pkg" >&2
        exit 1
fi

wanted=("$kernel_pkg=$kernel_ver")
for p in "${candidate_pkgs[@]}"; do
        v=$(apt-cache policy "$p" | sed -n 's/^ *Candidate: //p')
        if [ -z "$v" ] || [ "$v" = "(none)" ]; then
                echo "guest/fetch: no candidate version of $p (apt-get update?)" >&2
                exit 1
        fi
        wanted+=("$p=$v")
done
for p in "${host_pkgs[@]}"; do
        v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
        if [ -z "$v" ]; then
                echo "guest/fetch: $p is not installed on the host; run bazel/setup.sh" >&2
                exit 1
        fi
        wanted+=("$p=$v")
done

mkdir -p "$dest"
# Downloads land in a private directory first, so an interrupted run never
# leaves a partial .deb where Bazel would pick it up.
tmp=$(mktemp -d "$dest/../.guest-debs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# apt drops privileges to _apt for downloads; let it write here.
if id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi

for pv in "${wanted[@]}"; do
        pkg=${pv%%=*}
        ver=${pv#*=}
        have=
        # The '_' after the name keeps libc6 from matching libc6-dev, etc.
        for f in "$dest/${pkg}"_*.deb; do
                [ -e "$f" ] || continue
                if [ "$(dpkg-deb -f "$f" Package)" = "$pkg" ] &&
                        [ "$(dpkg-deb -f "$f" Version)" = "$ver" ] && [ -z "$have" ]; then
                        have=$f
                else
                        echo "guest/fetch: removing stale $(basename "$f")"
                        rm -f "$f"
                fi
        done
        [ -n "$have" ] && continue
        echo "guest/fetch: downloading $pkg $ver"
        # The pinned version may be newer than the package lists.
        if ! (cd "$tmp" && apt-get download -qq "$pkg=$ver" >/dev/null); then
                apt-get update -qq
                (cd "$tmp" && apt-get download -qq "$pkg=$ver" >/dev/null)
        fi
        mv "$tmp"/"${pkg}"_*.deb "$dest/"
done

# Anything else (a package dropped from the list, a superseded kernel) goes.
for f in "$dest"/*; do
        [ -e "$f" ] || continue
        keep=
        for pv in "${wanted[@]}"; do
                case $(basename "$f") in "${pv%%=*}"_*.deb) keep=1 ;; esac
        done
        if [ -z "$keep" ]; then
                echo "guest/fetch: removing $(basename "$f")"
                rm -rf "$f"
        fi
done
