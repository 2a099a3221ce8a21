"""The portable layer-tar-to-erofs converter (image/erofs_write.h, driven by
//image:erofs_convert) checked against the kernel: tars with every entry
kind in ustar, GNU and PAX form are converted, fsck.erofs'd, mounted with
-t erofs -o loop,ro and the mounted tree compared with a model of the tar
(the unpacker's rules: later entries replace earlier ones, directories
merge, whiteouts become char 0/0 and the opaque xattr). Needs root (loop
mounts) and erofs-utils. The busybox layer is also converted with
--vhd (footer checked by hand) and timed against mkfs.erofs on the same
tree (printed, never asserted)."""
import io
import os
import random
import shutil
import stat
import struct
import subprocess
import tarfile
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="loop mounts need root"),
    pytest.mark.skipif(not shutil.which("fsck.erofs"), reason="erofs-utils not installed"),
]

MTIME = 1700000000


def converter():
    uvmd = os.environ.get("UVMD_BIN") or os.path.join(ROOT, "bazel-bin", "service", "uvmd")
    b = os.path.join(os.path.dirname(os.path.dirname(uvmd)), "image", "erofs_convert")
    if not os.path.exists(b):
        pytest.fail("converter not built: %s (bazel build //image:erofs_convert)" % b)
    return b


def convert(tar_bytes, out, *args):
    p = subprocess.run([converter(), *args, out], input=tar_bytes, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class Mount:
    def __init__(self, image):
        self.dir = tempfile.mkdtemp(prefix="erofs-mnt-")
        subprocess.run(["mount", "-t", "erofs", "-o", "loop,ro", image, self.dir], check=True)

    def __enter__(self):
        return self.dir

    def __exit__(self, *a):
        subprocess.run(["umount", self.dir], check=True)
        os.rmdir(self.dir)


# ---- tars -------------------------------------------------------------------

def ti(name, kind=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, mtime=MTIME, **kw):
    t = tarfile.TarInfo(name)
    t.type, t.mode, t.uid, t.gid, t.mtime = kind, mode, uid, gid, mtime
    t.uname = t.gname = ""
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def make_tar(entries, fmt):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return buf.getvalue()


def rich_entries(fmt):
    """Every kind of entry, sizes around block edges, long names, big ids."""
    rnd = random.Random(13)
    long_dir = "d" * 120
    e = [
        (ti("./", tarfile.DIRTYPE, 0o755), None),
        (ti("bin/", tarfile.DIRTYPE, 0o755), None),
        (ti("bin/empty"), b""),
        (ti("bin/small", mode=0o4755), b"hello\n"),
        (ti("bin/block", mode=0o600, uid=7, gid=8), rnd.randbytes(4096)),
        (ti("bin/block1", mode=0o640), rnd.randbytes(4097)),
        (ti("bin/big", mode=0o755), rnd.randbytes(1 << 20 | 123)),
        (ti("bin/nearly", mode=0o644), rnd.randbytes(3 * 4096 - 1)),
        (ti("bin/sh", tarfile.SYMTYPE, 0o777, linkname="busybox"), None),
        (ti("bin/far", tarfile.SYMTYPE, 0o777, linkname="/" + "x/" * 1400 + "end"), None),
        (ti("bin/hl", tarfile.LNKTYPE, linkname="bin/small"), None),
        (ti("bin/hl2", tarfile.LNKTYPE, linkname="./bin/small"), None),
        (ti("dev/null", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3), None),
        (ti("dev/sda1", tarfile.BLKTYPE, 0o660, gid=6, devmajor=8, devminor=1), None),
        (ti("dev/big", tarfile.CHRTYPE, 0o600, devmajor=259, devminor=70000), None),
        (ti("dev/fifo", tarfile.FIFOTYPE, 0o620), None),
        (ti("implicit/parent/file"), b"parents made\n"),
        (ti(long_dir + "/", tarfile.DIRTYPE, 0o700), None),
        (ti(long_dir + "/" + "n" * 120, mode=0o644), b"long name\n"),
        (ti("name255/", tarfile.DIRTYPE), None),
        (ti("name255/" + "z" * 255), b"255\n"),
        (ti("owners/", tarfile.DIRTYPE, 0o755, uid=1000, gid=1000), None),
        (ti("owners/mid", uid=65535, gid=65534), b"compact ids\n"),
        (ti("owners/huge", uid=3000000, gid=4000000), b"extended ids\n"),
        (ti("times/", tarfile.DIRTYPE), None),
        (ti("times/old", mtime=86400), b"old\n"),
        (ti("times/new", mtime=2000000000), b"new\n"),
        # replaced entries: the last wins, directories merge
        (ti("repl/", tarfile.DIRTYPE, 0o700), None),
        (ti("repl/f"), b"first\n"),
        (ti("repl/f", mode=0o600), b"second\n"),
        (ti("repl/d/", tarfile.DIRTYPE), None),
        (ti("repl/d/inner"), b"gone with its dir\n"),
        (ti("repl/d"), b"a file now\n"),
        (ti("repl/", tarfile.DIRTYPE, 0o750, uid=5), None),
        (ti("repl/x"), b"merged\n"),
        # whiteouts
        (ti("wh/", tarfile.DIRTYPE), None),
        (ti("wh/keep"), b"kept\n"),
        (ti("wh/.wh.gone"), b""),
        (ti("wh/opq/", tarfile.DIRTYPE), None),
        (ti("wh/opq/.wh..wh..opq"), b""),
        (ti("wh/opq/new"), b"new\n"),
        (ti("wh/.wh..wh.plnk"), b""),
        (ti("wh/lost"), b"whited out later\n"),
        (ti("wh/.wh.lost"), b""),
    ]
    e.append((ti("many/", tarfile.DIRTYPE), None))
    e += [(ti("many/entry-%04d-%s" % (i, "q" * (i % 50))), b"%d\n" % i) for i in range(700)]
    e.append((ti("mid/", tarfile.DIRTYPE), None))
    e += [(ti("mid/f%03d" % i), b"") for i in range(150)]
    if fmt == tarfile.PAX_FORMAT:
        x = ti("pax/xattrs")
        x.pax_headers = {"SCHILY.xattr.user.test": "value", "SCHILY.xattr.trusted.t": "tv",
                         "SCHILY.xattr.security.s": "sv", "SCHILY.xattr.trusted.overlay.opaque": "y",
                         "SCHILY.xattr.unknown.ns": "dropped"}
        # A file capability (v2, cap_net_raw effective) and an access ACL
        # with a named user, in the kernel's xattr formats, as Go's
        # archive/tar carries them.
        cap = struct.pack("<5I", 0x02000001, 1 << 13, 0, 0, 0)
        acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, uid) for tag, perm, uid in (
            (0x01, 6, 0xffffffff), (0x02, 4, 1000), (0x04, 4, 0xffffffff), (0x10, 4, 0xffffffff),
            (0x20, 4, 0xffffffff)))
        caps = ti("pax/ping", mode=0o755)
        caps.pax_headers = {"SCHILY.xattr.security.capability": cap.decode("utf-8", "surrogateescape"),
                            "SCHILY.xattr.system.posix_acl_access": acl.decode("utf-8", "surrogateescape")}
        e.append((caps, b"ping\n"))
        ns = ti("pax/nanos")
        ns.pax_headers = {"mtime": "1700000001.123456789"}
        od = ti("pax/opq/", tarfile.DIRTYPE)
        od.pax_headers = {"SCHILY.xattr.user.d": "dir"}
        e += [(ti("pax/", tarfile.DIRTYPE), None), (x, b"x\n"), (ns, b"ns\n"), (od, None),
              (ti("pax/opq/.wh..wh..opq"), b""), (ti("pax/" + "p" * 200), b"pax path\n")]
    return e


# ---- the model ---------------------------------------------------------------

class Node:
    def __init__(self, kind, mode, uid=0, gid=0, mtime_ns=0, data=b"", link="", rdev=(0, 0),
                 xattrs=None, implicit=False):
        self.kind, self.mode, self.uid, self.gid, self.mtime_ns = kind, mode, uid, gid, mtime_ns
        self.data, self.link, self.rdev, self.xattrs = data, link, rdev, dict(xattrs or {})
        self.implicit = implicit


def norm(name):
    return "/".join(p for p in name.split("/") if p not in ("", "."))


def keep_xattr(name):
    if name.startswith("trusted.overlay."):
        return False
    return name.startswith(("user.", "trusted.", "security.")) or name in (
        "system.posix_acl_access", "system.posix_acl_default")


def model(tar_bytes):
    tree = {"": Node("dir", 0o755, implicit=True)}

    def drop(p):
        for k in [k for k in tree if k.startswith(p + "/")]:
            del tree[k]

    def parents(p):
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            q = "/".join(parts[:i])
            if q not in tree:
                tree[q] = Node("dir", 0o755, implicit=True)

    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as t:
        for m in t:
            p = norm(m.name)
            mt = m.pax_headers.get("mtime")
            mtime_ns = int(m.mtime) * 10**9
            if mt:
                s, _, f = mt.partition(".")
                mtime_ns = int(s) * 10**9 + int((f + "000000000")[:9])
            xattrs = {k[len("SCHILY.xattr."):]: v.encode("utf-8", "surrogateescape")
                      for k, v in m.pax_headers.items()
                      if k.startswith("SCHILY.xattr.") and keep_xattr(k[len("SCHILY.xattr."):])}
            if p == "":
                n = tree[""]
                n.mode, n.uid, n.gid, n.mtime_ns, n.xattrs = m.mode, m.uid, m.gid, mtime_ns, xattrs
                n.implicit = False
                continue
            parents(p)
            base = p.rsplit("/", 1)[-1]
            parent = p.rsplit("/", 1)[0] if "/" in p else ""
            if base == ".wh..wh..opq":
                tree[parent].xattrs["trusted.overlay.opaque"] = b"y"
                continue
            if base.startswith(".wh..wh."):
                continue
            if base.startswith(".wh."):
                q = (parent + "/" if parent else "") + base[4:]
                drop(q)
                tree[q] = Node("chr", 0, mtime_ns=mtime_ns)
                continue
            if m.isdir():
                old = tree.get(p)
                if old is not None and old.kind == "dir":
                    keep = old.xattrs.get("trusted.overlay.opaque")
                    old.mode, old.uid, old.gid, old.mtime_ns = m.mode, m.uid, m.gid, mtime_ns
                    old.xattrs, old.implicit = xattrs, False
                    if keep:
                        old.xattrs["trusted.overlay.opaque"] = keep
                    continue
                drop(p)
                tree[p] = Node("dir", m.mode, m.uid, m.gid, mtime_ns, xattrs=xattrs)
                continue
            drop(p)
            if m.islnk():
                tree[p] = tree[norm(m.linkname)]
            elif m.issym():
                tree[p] = Node("lnk", m.mode, m.uid, m.gid, mtime_ns, link=m.linkname, xattrs=xattrs)
            elif m.ischr() or m.isblk():
                tree[p] = Node("chr" if m.ischr() else "blk", m.mode, m.uid, m.gid, mtime_ns,
                               rdev=(m.devmajor, m.devminor), xattrs=xattrs)
            elif m.isfifo():
                tree[p] = Node("fifo", m.mode, m.uid, m.gid, mtime_ns, xattrs=xattrs)
            else:
                tree[p] = Node("reg", m.mode, m.uid, m.gid, mtime_ns, data=t.extractfile(m).read(),
                               xattrs=xattrs)
    newest = max(n.mtime_ns for n in tree.values() if not n.implicit)
    for n in tree.values():
        if n.implicit:
            n.mtime_ns = newest
    return tree


KINDS = {"dir": stat.S_IFDIR, "reg": stat.S_IFREG, "lnk": stat.S_IFLNK, "chr": stat.S_IFCHR,
         "blk": stat.S_IFBLK, "fifo": stat.S_IFIFO}


def compare(mnt, tree):
    """Every difference between the mounted tree and the model, as strings."""
    bad, seen = [], {}
    found = {""}
    for dirpath, dirs, files in os.walk(mnt):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(dirpath, name), mnt))
    if found != set(tree):
        bad.append("paths: extra %s missing %s" % (sorted(found - set(tree))[:5],
                                                     sorted(set(tree) - found)[:5]))
    links = {}
    for p, n in tree.items():
        links[id(n)] = links.get(id(n), 0) + 1
    for p in sorted(set(tree) & found):
        n, full = tree[p], os.path.join(mnt, p)
        st = os.lstat(full)
        want = (KINDS[n.kind], n.mode & 0o7777, n.uid, n.gid, n.mtime_ns)
        got = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns)
        if want != got:
            bad.append("%s: want %o %o %d:%d %d got %o %o %d:%d %d" % ((p,) + want + got))
        if n.kind == "reg":
            with open(full, "rb") as fh:
                if fh.read() != n.data or st.st_size != len(n.data):
                    bad.append("%s: content differs" % p)
        if n.kind == "lnk" and os.readlink(full) != n.link:
            bad.append("%s: link target differs" % p)
        if n.kind in ("chr", "blk") and (os.major(st.st_rdev), os.minor(st.st_rdev)) != n.rdev:
            bad.append("%s: rdev %d:%d" % (p, os.major(st.st_rdev), os.minor(st.st_rdev)))
        if n.kind != "lnk":
            got_x = {k: os.getxattr(full, k, follow_symlinks=False)
                     for k in os.listxattr(full, follow_symlinks=False)}
            if got_x != n.xattrs:
                bad.append("%s: xattrs %r want %r" % (p, got_x, n.xattrs))
        if n.kind == "dir":
            sub = sum(1 for q, m in tree.items() if q and m.kind == "dir" and
                      (q.rsplit("/", 1)[0] if "/" in q else "") == p)
            if st.st_nlink != 2 + sub:
                bad.append("%s: nlink %d want %d" % (p, st.st_nlink, 2 + sub))
        else:
            if st.st_nlink != links[id(n)]:
                bad.append("%s: nlink %d want %d" % (p, st.st_nlink, links[id(n)]))
            if seen.setdefault(id(n), st.st_ino) != st.st_ino:
                bad.append("%s: a hard link with its own inode" % p)
    inos = {}
    for p in set(tree) & found:
        inos.setdefault(os.lstat(os.path.join(mnt, p)).st_ino, set()).add(id(tree[p]))
    bad += ["inode %d shared by unrelated entries" % i for i, s in inos.items() if len(s) > 1]
    return bad


def check_image(tar_bytes, tmp, *args):
    img = os.path.join(tmp, "layer.erofs")
    rc, out, err = convert(tar_bytes, img, *args)
    assert rc == 0, err
    fsck = subprocess.run(["fsck.erofs", "--extract", img], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    with Mount(img) as mnt:
        bad = compare(mnt, model(tar_bytes))
    assert not bad, "\n".join(bad[:20])
    return img, out


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT],
                         ids=["pax", "gnu", "ustar"])
def test_every_entry_kind_matches_the_tar(tmp_path, fmt):
    entries = rich_entries(fmt)
    if fmt == tarfile.USTAR_FORMAT:  # no long link targets, no big ids in ustar
        entries = [(i, d) for i, d in entries if len(i.linkname) <= 100 and i.uid < 2097152
                   and len(i.name.rstrip("/").rsplit("/", 1)[-1]) <= 100]
    check_image(make_tar(entries, fmt), str(tmp_path))


@pytest.mark.parametrize("budget", ["18446744073709551615", "5000"], ids=["no-packing", "small-budget"])
def test_tails_in_blocks_when_not_packed(tmp_path, budget):
    tar = make_tar(rich_entries(tarfile.PAX_FORMAT), tarfile.PAX_FORMAT)
    plain, _ = check_image(tar, str(tmp_path), "--tail-budget", budget)
    packed = os.path.join(str(tmp_path), "packed.erofs")
    assert convert(tar, packed)[0] == 0
    assert os.path.getsize(packed) < os.path.getsize(plain)


def test_same_tar_same_bytes(tmp_path):
    tar = make_tar(rich_entries(tarfile.PAX_FORMAT), tarfile.PAX_FORMAT)
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert convert(tar, a)[0] == 0 and convert(tar, b)[0] == 0
    assert open(a, "rb").read() == open(b, "rb").read()


@pytest.mark.parametrize("entries,needle", [
    ([(ti("../escape"), b"x")], '".."'),
    ([(ti("a/../../b"), b"x")], '".."'),
    ([(ti("/abs"), b"x")], "absolute"),
    ([(ti("hl", tarfile.LNKTYPE, linkname="nowhere"), None)], "not in the layer"),
    ([(ti("d/", tarfile.DIRTYPE), None), (ti("hl", tarfile.LNKTYPE, linkname="d"), None)], "directory"),
    ([(ti("f"), b"x"), (ti("f/g"), b"y")], "not a directory"),
], ids=["dotdot", "dotdot-deep", "absolute", "dangling-hardlink", "dir-hardlink", "file-parent"])
def test_hostile_layers_refused(tmp_path, entries, needle):
    rc, _, err = convert(make_tar(entries, tarfile.GNU_FORMAT), str(tmp_path / "x"))
    assert rc == 1 and needle in err, err


def test_too_many_entries_refused(tmp_path):
    tar = make_tar([(ti("f%d" % i), b"") for i in range(50)], tarfile.GNU_FORMAT)
    rc, _, err = convert(tar, str(tmp_path / "x"), "--max-entries", "49")
    assert rc == 1 and "more than 49 entries" in err, err
    assert convert(tar, str(tmp_path / "y"), "--max-entries", "50")[0] == 0


def busybox_tar():
    import sys
    sys.path.insert(0, HERE)
    import imagelib
    return imagelib.make_tar(imagelib.base_entries())


def test_busybox_layer_as_vhd(tmp_path):
    tar = busybox_tar()
    img = str(tmp_path / "layer.vhd")
    rc, out, err = convert(tar, img, "--vhd")
    assert rc == 0, err
    size = os.path.getsize(img)
    with open(img, "rb") as fh:
        fh.seek(size - 512)
        foot = bytearray(fh.read())
    assert foot[:8] == b"conectix"
    cur, = struct.unpack(">Q", foot[48:56])
    assert cur == size - 512 and cur % 4096 == 0
    assert struct.unpack(">Q", foot[40:48])[0] == cur
    assert struct.unpack(">I", foot[60:64])[0] == 2  # fixed
    assert struct.unpack(">Q", foot[16:24])[0] == 2**64 - 1
    want, = struct.unpack(">I", foot[64:68])
    foot[64:68] = b"\0\0\0\0"
    assert want == (~sum(foot)) & 0xffffffff
    cyl, heads, spt = struct.unpack(">HBB", foot[56:60])
    assert cyl * heads * spt * 512 <= cur and heads >= 4 and spt == 17  # a small disk
    assert any(foot[68:84])
    if shutil.which("qemu-img"):
        info = subprocess.run(["qemu-img", "info", "-f", "vpc", img], capture_output=True, text=True)
        assert info.returncode == 0, info.stderr
    with Mount(img) as mnt:
        bad = compare(mnt, model(tar))
        assert not bad, "\n".join(bad[:20])


def test_busybox_layer_against_mkfs_erofs(tmp_path):
    """Figures for the report: the converter from the tar versus untar +
    mkfs.erofs on the tree (as image/disk.c does). Nothing is asserted about
    times."""
    tar = busybox_tar()
    tarf = str(tmp_path / "layer.tar")
    with open(tarf, "wb") as fh:
        fh.write(tar)
    ours, theirs, untar = [], [], []
    for i in range(5):
        t0 = time.perf_counter()
        rc, out, err = convert(tar, str(tmp_path / "ours.erofs"))
        ours.append(time.perf_counter() - t0)
        assert rc == 0, err
        tree = str(tmp_path / ("tree%d" % i))
        os.mkdir(tree)
        t0 = time.perf_counter()
        subprocess.run(["tar", "-xpf", tarf, "--numeric-owner", "-C", tree], check=True)
        untar.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run(["mkfs.erofs", "--preserve-mtime", "--quiet", str(tmp_path / "mkfs.erofs"),
                        tree], check=True, capture_output=True)
        theirs.append(time.perf_counter() - t0)
    print("\nbusybox layer: tar %d bytes; erofs_convert %d bytes best %.1f ms; "
          "mkfs.erofs %d bytes best %.1f ms (+ untar best %.1f ms); load %s" % (
              len(tar), os.path.getsize(tmp_path / "ours.erofs"), min(ours) * 1e3,
              os.path.getsize(tmp_path / "mkfs.erofs"), min(theirs) * 1e3, min(untar) * 1e3,
              os.getloadavg()))
    with Mount(str(tmp_path / "ours.erofs")) as a:
        assert not compare(a, model(tar))


def test_whiteouts_work_in_overlayfs(tmp_path):
    """Two converted layers stacked read-only by overlayfs: the upper one's
    whiteout hides a lower file, its opaque directory the lower contents."""
    lower = make_tar([(ti("data/", tarfile.DIRTYPE, 0o755), None), (ti("data/keep"), b"k\n"),
                      (ti("data/gone"), b"g\n"), (ti("data/opq/", tarfile.DIRTYPE, 0o755), None),
                      (ti("data/opq/old"), b"o\n")], tarfile.PAX_FORMAT)
    upper = make_tar([(ti("data/", tarfile.DIRTYPE, 0o755), None), (ti("data/.wh.gone"), b""),
                      (ti("data/opq/", tarfile.DIRTYPE, 0o755), None),
                      (ti("data/opq/.wh..wh..opq"), b""), (ti("data/opq/new"), b"n\n")],
                     tarfile.PAX_FORMAT)
    imgs = []
    for name, tar in (("lower", lower), ("upper", upper)):
        imgs.append(str(tmp_path / (name + ".erofs")))
        rc, _, err = convert(tar, imgs[-1])
        assert rc == 0, err
    with Mount(imgs[0]) as lo, Mount(imgs[1]) as up:
        merged = tempfile.mkdtemp(prefix="erofs-ovl-")
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=%s:%s" % (up, lo),
                        merged], check=True)
        try:
            assert sorted(os.listdir(os.path.join(merged, "data"))) == ["keep", "opq"]
            assert os.listdir(os.path.join(merged, "data", "opq")) == ["new"]
        finally:
            subprocess.run(["umount", merged], check=True)
            os.rmdir(merged)
