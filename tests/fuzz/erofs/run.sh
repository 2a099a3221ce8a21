#!/bin/sh
# Build the layer-tar-to-erofs converter's libFuzzer harness with clang (not
# Bazel) and run it for N seconds (default 30), seeded with small tars.
#   tests/fuzz/erofs/run.sh [seconds]
set -eu

secs=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=${FUZZ_WORK:-/tmp/uvmd-fuzz-erofs}
bin="$work/erofs_fuzz"

mkdir -p "$work/corpus" "$work/artifacts"
clang -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I"$root" \
        "$here/erofs_fuzz.c" \
        "$root/image/erofs_tar.c" "$root/image/erofs_tree.c" "$root/image/erofs_write.c" \
        "$root/common/error.c" -o "$bin"

# Seeds: tars of every entry kind in GNU, PAX and ustar form.
/usr/bin/python3 - "$work/corpus" <<'PY'
import io, sys, tarfile
for fmt, name in ((tarfile.GNU_FORMAT, "gnu"), (tarfile.PAX_FORMAT, "pax"), (tarfile.USTAR_FORMAT, "ustar")):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        def add(n, typ=tarfile.REGTYPE, data=b"", **kw):
            ti = tarfile.TarInfo(n)
            ti.type, ti.size = typ, len(data)
            for k, v in kw.items():
                setattr(ti, k, v)
            t.addfile(ti, io.BytesIO(data) if data else None)
        add("d/", tarfile.DIRTYPE)
        add("d/f", data=b"x" * 5000)
        add("d/" + "l" * (90 if fmt == tarfile.USTAR_FORMAT else 120), data=b"long")
        add("d/s", tarfile.SYMTYPE, linkname="f")
        add("d/h", tarfile.LNKTYPE, linkname="d/f")
        add("d/c", tarfile.CHRTYPE, devmajor=1, devminor=3)
        add("d/p", tarfile.FIFOTYPE)
        add("d/.wh.gone")
        add("d/.wh..wh..opq")
    open(sys.argv[1] + "/" + name + ".tar", "wb").write(buf.getvalue())
PY

exec "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus"
