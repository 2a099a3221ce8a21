#!/usr/bin/env bash
# Assemble the QEMU microVM guest image from Debian .debs and uvmd-agent:
#   build.sh --agent FILE --out DIR DEB...
# writes DIR/vmlinux (the kernel as a plain ELF, taken out of the deb's
# bzImage), DIR/initrd.img (gzip'd newc cpio) and DIR/manifest.json.
# Same inputs, same bytes: see docs/guest.md.
set -euo pipefail

# Modules the agent loads, in no particular order (dependencies are added).
# crc32c_generic: erofs needs libcrc32c, whose soft dependency "pre: crc32c"
# modprobe would follow; the guest has no modprobe, so it is named here.
# virtio_scsi + sd_mod: image layers arrive as hot-plugged SCSI disks; sd_mod
# needs crc64-rocksoft and crc-t10dif, whose soft dependencies crc64 and
# crct10dif_generic meet (named for the same reason).
wanted_modules=(virtio_console virtio_blk virtio_net virtio_pci virtio_mmio
        virtio_rng virtio_scsi sd_mod crc64 crct10dif_generic 9pnet_virtio 9p
        erofs overlay crc32c_generic virtio_balloon)
# Loaded only in a Hyper-V utility VM (an hcs pod, whose kernel command line
# names the bridge's vsock port: agent/guest_boot.c): VMBus, its sockets
# (the bridge), SCSI (layer disks), NICs, and the integration services (a
# graceful shutdown from HCS), ext4 for the containers' scratch disks
# (formatted by mke2fs when blank: agent/scratch.c), and 9p's fd transport
# for Plan9 shares (trans=fd over a vsock connection: agent/guest_plan9.c;
# a module of its own, CONFIG_NET_9P_FD=m, not part of 9pnet). They
# stay out of a QEMU guest's boot.
hyperv_modules=(hv_vmbus hv_utils hv_sock hv_storvsc hv_netvsc ext4 9pnet_fd)
# Where the guest's ld.so looks without /etc/ld.so.cache (Debian's glibc).
lib_dirs=(lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib usr/lib)
# Fixed mtime of every file in the initramfs (2024-01-01T00:00:00Z).
epoch=1704067200

die() {
        echo "guest/build: $*" >&2
        exit 1
}

agent='' out=''
while [ $# -gt 0 ]; do
        case $1 in
        --agent) agent=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --) shift; break ;;
        -*) die "unknown option $1" ;;
        *) break ;;
        esac
done
[ -n "$agent" ] && [ -n "$out" ] && [ $# -gt 0 ] || die "usage: build.sh --agent FILE --out DIR DEB..."
[ -f "$agent" ] || die "no agent binary at $agent"
depmod=$(command -v depmod || echo /sbin/depmod)
[ -x "$depmod" ] || die "depmod not found (apt-get install kmod; bazel/setup.sh does)"

work=$(mktemp -d "${TMPDIR:-/tmp}/uvmd-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT
debs=$work/debs # every .deb unpacked here, the way dpkg would install them
img=$work/img   # the initramfs tree
mkdir -p "$debs" "$img"

# Unpack; remember "package version file" per deb for the manifest.
kernel_pkg=
: >"$work/debs.txt"
for deb in "$@"; do
        [ -f "$deb" ] || die "no such .deb: $deb"
        pkg=$(dpkg-deb -f "$deb" Package)
        ver=$(dpkg-deb -f "$deb" Version)
        echo "$pkg $ver $(basename "$deb")" >>"$work/debs.txt"
        case $pkg in linux-image-*)
                [ -z "$kernel_pkg" ] || die "two kernel packages: $kernel_pkg and $pkg"
                kernel_pkg=$pkg ;;
        esac
        dpkg-deb -x "$deb" "$debs"
done
[ -n "$kernel_pkg" ] || die "no linux-image-* .deb among the inputs"

set -- "$debs"/boot/vmlinuz-*
[ $# -eq 1 ] && [ -f "$1" ] || die "expected one /boot/vmlinuz-* in $kernel_pkg"
kver=${1##*/vmlinuz-}
moddir=lib/modules/$kver

# --- kernel --------------------------------------------------------------------

# le32 BZIMAGE OFFSET: the little-endian 32-bit number at OFFSET.
le32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }

# vmlinux BZIMAGE OUT: the ELF kernel inside a bzImage. QEMU boots that
# directly through its PVH entry, skipping the decompression of the
# payload, which takes seconds under TCG (docs/guest.md). The payload is
# where the x86 boot protocol (2.08+) header says; the kernel's build
# appends the uncompressed size (le32) to it, which the result must match.
vmlinux() {
        local bz=$1 out=$2 setup off len size magic unpack
        [ "$(od -An -c -j 514 -N4 "$bz" | tr -d ' ')" = HdrS ] || die "$bz is not a bzImage"
        [ "$(od -An -tu2 -j 518 -N2 "$bz" | tr -d ' ')" -ge 520 ] ||
                die "$bz: boot protocol before 2.08 has no payload fields"
        setup=$(od -An -tu1 -j 497 -N1 "$bz" | tr -d ' ')
        [ "$setup" -ne 0 ] || setup=4
        off=$(((setup + 1) * 512 + $(le32 "$bz" 584)))
        len=$(le32 "$bz" 588)
        [ "$len" -gt 4 ] && [ $((off + len)) -le "$(stat -c %s "$bz")" ] ||
                die "$bz: the payload (offset $off, $len bytes) is not inside the file"
        dd if="$bz" of="$work/payload" bs=64K skip="$off" count="$len" \
                iflag=skip_bytes,count_bytes status=none
        size=$(le32 "$work/payload" $((len - 4)))
        magic=$(od -An -tx1 -N6 "$work/payload" | tr -d ' ')
        case $magic in
        fd377a585a00) unpack='xz -dc --single-stream' ;;
        1f8b*) unpack='gzip -dc' ;;
        28b52ffd*) unpack='zstd -qdc' ;;
        02214c18*) unpack='lz4 -dc' ;;
        *) die "$bz: unknown payload compression (magic $magic)" ;;
        esac
        # gzip and lz4 warn about the size trailer: the size check below is
        # what tells a good payload.
        $unpack <"$work/payload" >"$out" 2>/dev/null || true
        rm -f "$work/payload"
        [ "$(stat -c %s "$out")" = "$size" ] ||
                die "$bz: the payload unpacked to $(stat -c %s "$out") bytes, its trailer says $size"
        [ "$(od -An -tx1 -N4 "$out" | tr -d ' ')" = 7f454c46 ] || die "$bz: the payload is not an ELF file"
        # XEN_ELFNOTE_PHYS32_ENTRY (18): the PVH entry QEMU needs (CONFIG_PVH).
        readelf -nW "$out" | grep -Eq '^ +Xen +0x[0-9a-f]+[[:space:]]+(Unknown note type: \(0x00000012\)|XEN_ELFNOTE_PHYS32_ENTRY)' ||
                die "$bz: the kernel has no PVH entry note (CONFIG_PVH): QEMU cannot boot it as an ELF"
}

vmlinux "$debs/boot/vmlinuz-$kver" "$work/vmlinux"
# QEMU maps the ELF and keeps each loaded segment's file bytes resident (its
# ROM copy for a reset): 58 MB per VM. The last segment ends in .bss and
# friends, 24 MB of zeros stored in the file; each PT_LOAD's file size is
# cut to its last non-zero page, and QEMU zero-fills the rest up to the
# memory size, as the file would have.
/usr/bin/python3 - "$work/vmlinux" <<'PY' || die "cannot trim the kernel's zero tails"
import struct, sys
with open(sys.argv[1], "r+b") as f:
    d = f.read()
    if d[4:6] != b"\x02\x01":
        sys.exit("not a 64-bit little-endian ELF")
    phoff, = struct.unpack_from("<Q", d, 32)
    phentsize, phnum = struct.unpack_from("<HH", d, 54)
    for i in range(phnum):
        at = phoff + i * phentsize
        ptype, _, off, _, _, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", d, at)
        if ptype != 1:  # PT_LOAD
            continue
        keep = min(filesz, (len(d[off:off + filesz].rstrip(b"\0")) + 4095) & ~4095)
        if keep < filesz:
            f.seek(at + 32)  # p_filesz
            f.write(struct.pack("<Q", keep))
PY

# --- files -----------------------------------------------------------------

# resolve PATH: the file a guest path leads to inside the unpacked debs,
# following symlinks (absolute ones relative to the unpack root).
resolve() {
        local p=$1 t n=0
        while [ -L "$debs/$p" ]; do
                n=$((n + 1))
                [ $n -le 16 ] || die "symlink loop at /$1"
                t=$(readlink "$debs/$p")
                case $t in
                /*) p=${t#/} ;;
                *) p=$(dirname "$p")/$t ;;
                esac
                p=$(realpath -ms --relative-to=/ "/$p")
        done
        echo "$p"
}

# add PATH: copy a guest path from the debs into the image; a symlink is kept
# as a symlink, and its target is added too. Files get 0755 if the deb made
# them executable (the interpreter must be), else 0644, whatever the umask.
add() {
        local p=$1 t mode=0644
        [ -e "$img/$p" ] || [ -L "$img/$p" ] && return 0
        mkdir -p "$img/$(dirname "$p")"
        if [ -L "$debs/$p" ]; then
                cp -P "$debs/$p" "$img/$p"
                t=$(readlink "$debs/$p")
                case $t in
                /*) add "${t#/}" ;;
                *) add "$(realpath -ms --relative-to=/ "/$(dirname "$p")/$t")" ;;
                esac
        elif [ -f "$debs/$p" ]; then
                [ $((0$(stat -c %a "$debs/$p") & 0100)) -eq 0 ] || mode=0755
                install -m "$mode" "$debs/$p" "$img/$p"
        else
                die "/$p is in none of the .debs"
        fi
}

# Fixed directory skeleton: what the agent mounts on or writes to.
for d in proc sys dev run tmp mnt etc etc/uvmd var usr/bin usr/sbin; do
        mkdir -p "$img/$d"
done
install -m 0755 "$agent" "$img/init"
install -m 0755 "$agent" "$img/usr/bin/uvmd-agent"
# crun, not runc: a C program starts in a fraction of a Go one's time under
# TCG, and runc create starts two (docs/guest.md).
add usr/bin/crun
# mke2fs: the agent formats a blank scratch disk (agent/scratch.c).
add sbin/mke2fs
# crun and the agent never look users up here, but a sane /etc costs nothing.
printf 'root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n' >"$img/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$img/etc/group"

# --- shared libraries ----------------------------------------------------------

# Breadth-first over DT_NEEDED, starting from the executables; each soname
# is looked up where the guest's ld.so will look, in the debs only.
queue=(init usr/bin/crun sbin/mke2fs)
declare -A seen=()
while [ ${#queue[@]} -gt 0 ]; do
        elf=${queue[0]}
        queue=("${queue[@]:1}")
        interp=$(readelf -lW "$img/$elf" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
        if [ -n "$interp" ] && [ -z "${seen[$interp]:-}" ]; then
                seen[$interp]=1
                add "${interp#/}"
        fi
        for so in $(readelf -dW "$img/$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
                [ -z "${seen[$so]:-}" ] || continue
                seen[$so]=1
                found=
                for d in "${lib_dirs[@]}"; do
                        if [ -L "$debs/$d/$so" ] || [ -e "$debs/$d/$so" ]; then found=$d/$so; break; fi
                done
                [ -n "$found" ] || die "/$elf needs $so, which none of the .debs provides"
                add "$found"
                queue+=("$(resolve "$found")")
        done
done

# --- kernel modules ------------------------------------------------------------

# The kernel deb ships no modules.dep (its postinst runs depmod): make one.
"$depmod" -b "$debs" "$kver"
declare -A mod_path=() mod_deps=() soft_pre=() provides=() builtin=()
modname() { # kernel/x/foo-bar.ko[.xz] -> foo_bar
        local n=${1##*/}
        n=${n%%.ko*}
        echo "${n//-/_}"
}
while IFS= read -r line; do
        m=$(modname "${line%%:*}")
        mod_path[$m]=${line%%:*}
        mod_deps[$m]=${line#*:}
done <"$debs/$moddir/modules.dep"
while read -r _ m rest; do
        case $rest in pre:*) rest=${rest#pre:}; soft_pre[${m//-/_}]+=" ${rest%%post:*}" ;; esac
done < <(grep '^softdep ' "$debs/$moddir/modules.softdep" || true)
while read -r _ a m; do
        provides[$a]="${provides[$a]:-} ${m//-/_}"
done < <(grep '^alias ' "$debs/$moddir/modules.alias" || true)
while read -r p; do
        builtin[$(modname "$p")]=1
done <"$debs/$moddir/modules.builtin"

declare -A is_wanted=() state=()
for m in "${wanted_modules[@]}"; do is_wanted[$m]=1; done
order=()
builtins=()
# visit NAME: depth-first, a module after everything it depends on.
visit() {
        local m=$1 d a p c
        case ${state[$m]:-} in done) return 0 ;; active) die "module dependency cycle at $m" ;; esac
        [ -n "${mod_path[$m]:-}" ] || die "module $m is not in $kernel_pkg"
        state[$m]=active
        for d in ${mod_deps[$m]}; do visit "$(modname "$d")"; done
        # A soft dependency must be met by a module on the wanted list.
        for a in ${soft_pre[$m]:-}; do
                p=
                for c in "${a//-/_}" ${provides[$a]:-}; do
                        if [ -n "${is_wanted[$c]:-}" ]; then p=$c; break; fi
                done
                [ -n "$p" ] || die "module $m wants \"$a\" loaded first (softdep); add a provider to wanted_modules"
                visit "$p"
        done
        state[$m]="done"
        order+=("$m")
}
for m in "${wanted_modules[@]}"; do
        if [ -n "${builtin[$m]:-}" ]; then
                builtins+=("$m")
        else
                visit "$m"
        fi
done
main_order=("${order[@]}")
# The Hyper-V list goes on from the first: what that one loads is not repeated.
order=()
for m in "${hyperv_modules[@]}"; do is_wanted[$m]=1; done
for m in "${hyperv_modules[@]}"; do
        if [ -n "${builtin[$m]:-}" ]; then
                builtins+=("$m")
        else
                visit "$m"
        fi
done
hyperv_order=("${order[@]}")

mkdir -p "$img/$moddir"
# install_modules LIST MODULE...: into the image, their paths into LIST.
install_modules() {
        local list=$1 m src dst
        shift
        : >"$list"
        for m in "$@"; do
                src=$debs/$moddir/${mod_path[$m]}
                dst=$moddir/${mod_path[$m]%.ko*}.ko
                mkdir -p "$img/$(dirname "$dst")"
                # The agent loads with finit_module and no flags: store them plain.
                case $src in
                *.ko) cat "$src" ;;
                *.ko.xz) xz -dc "$src" ;;
                *.ko.zst) zstd -qdc "$src" ;;
                *.ko.gz) gzip -dc "$src" ;;
                *) die "unknown module format: $src" ;;
                esac >"$img/$dst"
                chmod 0644 "$img/$dst"
                echo "/$dst" >>"$list"
        done
}
install_modules "$img/etc/uvmd/modules" "${main_order[@]}"
install_modules "$img/etc/uvmd/modules.hyperv" ${hyperv_order[@]+"${hyperv_order[@]}"}

# --- archive -------------------------------------------------------------------

# Everything that is not a symlink gets a fixed mode; then one mtime for all.
find "$img" -type d -exec chmod 0755 {} +
chmod 0644 "$img/etc/passwd" "$img/etc/group" "$img/etc/uvmd/modules" "$img/etc/uvmd/modules.hyperv"
find "$img" -exec touch -h -d "@$epoch" {} +

mkdir -p "$out"
# Sorted names (parents first), owner 0:0, no device or inode numbers.
(cd "$img" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort |
        cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -n -9 >"$out/initrd.img"
install -m 0644 "$work/vmlinux" "$out/vmlinux"

# --- manifest ------------------------------------------------------------------

sha() { sha256sum "$1" | cut -d' ' -f1; }
json_list() { # ITEM... -> ["a","b"] (items never contain quotes here)
        local s='' i
        for i in "$@"; do s="$s${s:+, }\"$i\""; done
        echo "[$s]"
}
{
        echo "{"
        echo "  \"kernel\": {\"version\": \"$kver\", \"package\": \"$kernel_pkg\"},"
        echo "  \"vmlinux\": {\"sha256\": \"$(sha "$out/vmlinux")\", \"bytes\": $(stat -c %s "$out/vmlinux"), \"from\": \"/boot/vmlinuz-$kver\"},"
        echo "  \"initrd\": {\"sha256\": \"$(sha "$out/initrd.img")\", \"bytes\": $(stat -c %s "$out/initrd.img")},"
        echo "  \"agent\": {\"sha256\": \"$(sha "$agent")\", \"paths\": [\"/init\", \"/usr/bin/uvmd-agent\"]},"
        mapfile -t paths <"$img/etc/uvmd/modules"
        echo "  \"modules\": $(json_list "${paths[@]}"),"
        mapfile -t paths <"$img/etc/uvmd/modules.hyperv"
        echo "  \"hyperv_modules\": $(json_list ${paths[@]+"${paths[@]}"}),"
        echo "  \"builtin_modules\": $(json_list ${builtins[@]+"${builtins[@]}"}),"
        echo "  \"debs\": ["
        LC_ALL=C sort "$work/debs.txt" | awk '{ printf "%s    {\"package\": \"%s\", \"version\": \"%s\", \"file\": \"%s\"}", (NR > 1 ? ",\n" : ""), $1, $2, $3 } END { print "" }'
        echo "  ]"
        echo "}"
} >"$out/manifest.json"
