#!/usr/bin/env bash
# Checks the built guest image (//guest:image) from the outside:
#   image_test.sh VMLINUX INITRD MANIFEST BUILD_SH AGENT DEB...
# the kernel (an ELF that QEMU boots by its PVH entry), the initramfs format
# and contents, that every library and module it needs is inside and in a
# valid order, that manifest.json tells the truth, that building again from
# the same inputs gives the same bytes, and that a kernel deb without a
# usable bzImage stops the build with a clear error.
set -euo pipefail

abs() { realpath -s "$1"; } # runfiles are symlinks: keep the names
vmlinux=$(abs "$1") initrd=$(abs "$2") manifest=$(abs "$3") build_sh=$(abs "$4") agent=$(abs "$5")
shift 5
debs=()
for d in "$@"; do debs+=("$(abs "$d")"); done
tmp=${TEST_TMPDIR:-$(mktemp -d)}
root=$tmp/root
wanted_modules=(virtio_console virtio_blk virtio_net virtio_pci virtio_mmio
        virtio_rng 9pnet_virtio 9p erofs overlay)
lib_dirs=(lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib usr/lib)

failures=0
fail() {
        echo "FAIL: $*" >&2
        failures=$((failures + 1))
}
fatal() {
        echo "FAIL: $*" >&2
        exit 1
}

# --- kernel -------------------------------------------------------------------

# An x86-64 ELF executable with the PVH entry note, and the same kernel as
# the deb's bzImage.
readelf -hW "$vmlinux" | grep -q 'Type: *EXEC' || fail "vmlinux is not an ELF executable"
readelf -hW "$vmlinux" | grep -q 'Machine: *Advanced Micro Devices X86-64' || fail "vmlinux is not x86-64"
readelf -nW "$vmlinux" | grep -Eq '^ +Xen .*(\(0x00000012\)|XEN_ELFNOTE_PHYS32_ENTRY)' ||
        fail "vmlinux has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)"
# build.sh cut the zeros at the end of the last segment (.bss) from its file
# size: QEMU would otherwise keep 24 MB of zeros resident per VM.
readelf -lW "$vmlinux" | awk '$1 == "LOAD" { last = $0 } END { split(last, f); exit !(f[5] != f[6]) }' ||
        fail "vmlinux's last LOAD segment still stores its zero tail in the file (FileSiz = MemSiz)"
mkdir -p "$tmp/kdeb"
for d in "${debs[@]}"; do
        case $(dpkg-deb -f "$d" Package) in linux-image-*) dpkg-deb -x "$d" "$tmp/kdeb" ;; esac
done
set -- "$tmp"/kdeb/boot/vmlinuz-*
[ -f "$1" ] || fatal "no /boot/vmlinuz-* in the kernel deb"
# The bzImage's header points at its version string, "RELEASE (builder)
# #BUILD"; the ELF's banner has the compiler between the two.
kbanner=$(od -An -tu2 -j 526 -N2 "$1" | tr -d ' ')
kbanner=$(dd if="$1" bs=200 skip=$((kbanner + 512)) count=1 iflag=skip_bytes status=none | tr '\0' '\n' | sed -n 1p)
krel=${kbanner%% *} kbuild="#${kbanner#*) #}"
if [ -z "$krel" ] || [ "$kbuild" = "#$kbanner" ] ||
        ! grep -aq "Linux version $krel (.*) $kbuild" "$vmlinux"; then
        fail "vmlinux does not hold the banner of the deb's kernel ($kbanner)"
fi
echo "vmlinux: $(stat -Lc %s "$vmlinux") bytes, from $(basename "$1") ($(stat -Lc %s "$1") bytes)"

# --- format -------------------------------------------------------------------

gzip -t "$initrd" || fatal "initrd.img is not a valid gzip stream"
[ "$(gzip -dc "$initrd" | head -c 6)" = 070701 ] || fatal "initrd.img does not hold a newc cpio archive"
gzip -dc "$initrd" | cpio -t --quiet >"$tmp/list" || fatal "cpio cannot list initrd.img"
mkdir -p "$root"
(cd "$root" && gzip -dc "$initrd" | cpio -idm --quiet) || fatal "cpio cannot unpack initrd.img"
echo "initrd.img: $(wc -l <"$tmp/list") entries, $(stat -Lc %s "$initrd") bytes"

# inroot PATH: the file a guest path leads to, following symlinks inside the
# image (absolute targets are relative to its root); empty if it leads nowhere.
inroot() {
        local p=${1#/} t n=0
        while [ -L "$root/$p" ] && [ $n -lt 16 ]; do
                n=$((n + 1))
                t=$(readlink "$root/$p")
                case $t in /*) p=${t#/} ;; *) p=$(dirname "$p")/$t ;; esac
                p=$(realpath -ms --relative-to=/ "/$p")
        done
        [ -f "$root/$p" ] && echo "$p" || true
}

# --- files --------------------------------------------------------------------

for d in proc sys dev run tmp mnt etc var; do
        [ -d "$root/$d" ] || fail "/$d is missing"
done
for f in init usr/bin/uvmd-agent; do
        if [ ! -f "$root/$f" ] || [ ! -x "$root/$f" ]; then
                fail "/$f is missing or not executable"
        elif ! cmp -s "$root/$f" "$agent"; then
                fail "/$f is not the uvmd-agent binary"
        fi
done
[ -x "$root/usr/bin/crun" ] || fail "/usr/bin/crun is missing or not executable"
[ -x "$root/sbin/mke2fs" ] || fail "/sbin/mke2fs is missing or not executable (scratch disks)"
[ ! -e "$root/usr/sbin/runc" ] || fail "/usr/sbin/runc is in the image (the guest runs crun)"
grep -q '^root:x:0:0:' "$root/etc/passwd" || fail "/etc/passwd has no root"
grep -q '^nobody:x:65534:' "$root/etc/passwd" || fail "/etc/passwd has no nobody"
if [ -n "$(find "$root" -name busybox -o -name sh -o -name bash)" ]; then
        fail "the image holds a shell"
fi
if [ -n "$(find "$root" ! -user 0 -o ! -group 0)" ]; then
        fail "files not owned by 0:0"
fi

# --- libraries ----------------------------------------------------------------

# Every DT_NEEDED of /init, crun and mke2fs, recursively, and their
# interpreter.
queue=(init usr/bin/crun sbin/mke2fs)
found=()
declare -A seen=()
while [ ${#queue[@]} -gt 0 ]; do
        elf=${queue[0]}
        queue=("${queue[@]:1}")
        [ -f "$root/$elf" ] || continue
        interp=$(readelf -lW "$root/$elf" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
        if [ -n "$interp" ]; then
                p=$(inroot "$interp")
                [ -n "$p" ] && [ -x "$root/$p" ] || fail "/$elf: interpreter $interp is not in the image (or not executable)"
        fi
        for so in $(readelf -dW "$root/$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
                [ -z "${seen[$so]:-}" ] || continue
                seen[$so]=1
                p=
                for d in "${lib_dirs[@]}"; do
                        p=$(inroot "$d/$so")
                        [ -z "$p" ] || break
                done
                if [ -z "$p" ]; then
                        fail "/$elf needs $so, which is not in the image"
                else
                        queue+=("$p")
                        found+=("/$p")
                fi
        done
done
echo "libraries: ${found[*]}"

# --- modules ------------------------------------------------------------------

modinfo_field() { # KO FIELD -> every value of FIELD in the module's .modinfo
        readelf -p .modinfo "$1" 2>/dev/null | sed -n "s/^ *\[ *[0-9a-f]*\]  $2=//p"
}
kver=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kernel"]["version"])' "$manifest")
hyperv_modules=(hv_vmbus hv_utils hv_sock hv_storvsc hv_netvsc ext4 9pnet_fd)
[ -f "$root/etc/uvmd/modules" ] || fatal "/etc/uvmd/modules is missing"
[ -f "$root/etc/uvmd/modules.hyperv" ] || fatal "/etc/uvmd/modules.hyperv is missing"
declare -A loaded=()
# check_list FILE: each module in FILE after its dependencies (those of
# the lists checked before it count: the agent loads the lists in turn).
check_list() {
local m ko name deps d s a
while IFS= read -r m; do
        ko=$root$m
        case $m in
        "/lib/modules/$kver/"*.ko) ;;
        *) fail "module path $m is not /lib/modules/$kver/...ko" ;;
        esac
        if [ ! -f "$ko" ]; then
                fail "module $m is listed but not in the image"
                continue
        fi
        readelf -h "$ko" 2>/dev/null | grep -q 'REL (Relocatable file)' || fail "module $m is not a plain ELF module"
        case $(modinfo_field "$ko" vermagic) in
        "$kver "*) ;;
        *) fail "module $m was not built for $kver" ;;
        esac
        name=$(modinfo_field "$ko" name)
        deps=$(modinfo_field "$ko" depends)
        for d in ${deps//,/ }; do
                # Module names may be spelt with '-' or '_' (crc-t10dif): one name.
                [ -n "${loaded[${d//-/_}]:-}" ] || fail "module $name is listed before its dependency $d"
        done
        # softdep=pre: X ... post: Y: some earlier module must be or provide X.
        for s in $(modinfo_field "$ko" softdep | sed -n 's/^pre: *//p' | sed 's/ *post:.*//'); do
                [ -n "${loaded[${s//-/_}]:-}" ] || fail "module $name is listed before anything providing $s (softdep)"
        done
        loaded[${name//-/_}]=1
        for a in $(modinfo_field "$ko" alias); do loaded[${a//-/_}]=1; done
done <"$1"
}
builtin=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["builtin_modules"]))' "$manifest")
check_list "$root/etc/uvmd/modules"
for m in "${wanted_modules[@]}"; do
        [ -n "${loaded[$m]:-}" ] || [[ " $builtin " == *" $m "* ]] || fail "module $m is neither listed nor built in"
done
echo "modules: $(wc -l <"$root/etc/uvmd/modules") in order"
for m in "${hyperv_modules[@]}"; do
        [ -z "${loaded[$m]:-}" ] || fail "module $m is on the QEMU guest's list: Hyper-V's only"
done
check_list "$root/etc/uvmd/modules.hyperv"
for m in "${hyperv_modules[@]}"; do
        [ -n "${loaded[$m]:-}" ] || [[ " $builtin " == *" $m "* ]] || fail "Hyper-V module $m is neither listed nor built in"
done
echo "Hyper-V modules: $(wc -l <"$root/etc/uvmd/modules.hyperv") in order"

# --- manifest -----------------------------------------------------------------

for d in "${debs[@]}"; do
        echo "$(dpkg-deb -f "$d" Package) $(dpkg-deb -f "$d" Version) $(basename "$d")"
done | LC_ALL=C sort >"$tmp/debs.txt"
/usr/bin/python3 - "$manifest" "$vmlinux" "$initrd" "$root/etc/uvmd/modules" "$tmp/debs.txt" "$agent" <<'PY' || fail "manifest.json disagrees with the files (above)"
import hashlib, json, os, sys
man, vmlinux, initrd, modules, debs, agent = sys.argv[1:]
m = json.load(open(man))
bad = []
def check(what, got, want):
    if isinstance(got, list) and isinstance(want, list) and got != want:
        i = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        got, want = got[i:i + 1], want[i:i + 1]
        what = "%s (from entry %d)" % (what, i)
    if got != want:
        bad.append("%s: manifest says %r, files say %r" % (what, got, want))
for key, path in (("vmlinux", vmlinux), ("initrd", initrd)):
    check(key + ".sha256", m[key]["sha256"], hashlib.sha256(open(path, "rb").read()).hexdigest())
    check(key + ".bytes", m[key]["bytes"], os.path.getsize(path))
check("agent.sha256", m["agent"]["sha256"], hashlib.sha256(open(agent, "rb").read()).hexdigest())
check("modules", m["modules"], open(modules).read().split())
check("hyperv_modules", m["hyperv_modules"], open(modules + ".hyperv").read().split())
check("debs", [[d["package"], d["version"], d["file"]] for d in m["debs"]],
      [l.split() for l in open(debs).read().splitlines()])
if not any(d["package"] == m["kernel"]["package"] for d in m["debs"]):
    bad.append("kernel package %s is not among the debs" % m["kernel"]["package"])
for b in bad:
    print("FAIL:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
[ -d "$root/lib/modules/$kver" ] || fail "manifest kernel $kver has no /lib/modules/$kver"

# --- reproducibility ----------------------------------------------------------

"$build_sh" --agent "$agent" --out "$tmp/again" "${debs[@]}" || fatal "second build failed"
for f in vmlinux initrd.img manifest.json; do
        case $f in vmlinux) a=$vmlinux ;; initrd.img) a=$initrd ;; *) a=$manifest ;; esac
        cmp "$a" "$tmp/again/$f" || fail "$f differs when built again from the same inputs"
done

# --- a kernel deb without a usable bzImage -------------------------------------

# fake_kernel NAME FILE: a linux-image deb whose /boot/vmlinuz-9.9.9-test is
# FILE; it replaces the real kernel deb among the inputs.
fake_kernel() {
        local d=$tmp/fake-$1
        mkdir -p "$d/DEBIAN" "$d/boot"
        printf 'Package: linux-image-9.9.9-test\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: t\n' >"$d/DEBIAN/control"
        cp "$2" "$d/boot/vmlinuz-9.9.9-test"
        dpkg-deb -b --root-owner-group "$d" "$tmp/$1.deb" >/dev/null
        echo "$tmp/$1.deb"
}
# expect_build_error WHAT TEXT KERNEL_FILE: the build fails and says TEXT.
expect_build_error() {
        local args=() d out
        for d in "${debs[@]}"; do
                case $(dpkg-deb -f "$d" Package) in linux-image-*) ;; *) args+=("$d") ;; esac
        done
        args+=("$(fake_kernel "$1" "$3")")
        if out=$("$build_sh" --agent "$agent" --out "$tmp/bad-$1" "${args[@]}" 2>&1); then
                fail "build.sh accepted $1"
        elif [[ $out != *"$2"* ]]; then
                fail "build.sh on $1 said '$out', not '$2'"
        fi
}
head -c 4096 /dev/urandom >"$tmp/garbage"
expect_build_error "a non-bzImage" "is not a bzImage" "$tmp/garbage"
kernel=$(set -- "$tmp"/kdeb/boot/vmlinuz-*; echo "$1")
head -c 100000 "$kernel" >"$tmp/short"
expect_build_error "a truncated bzImage" "is not inside the file" "$tmp/short"
# The payload's bytes flipped past its header: it no longer unpacks.
cp "$kernel" "$tmp/flipped"
printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' | dd of="$tmp/flipped" bs=1 seek=200000 conv=notrunc status=none
expect_build_error "a corrupt payload" "its trailer says" "$tmp/flipped"

if [ $failures -gt 0 ]; then
        echo "image_test: $failures failure(s)" >&2
        exit 1
fi
echo "image_test: ok"
