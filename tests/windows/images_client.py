"""uvmd.exe's ImageService from Linux python3-grpcio, for uvmd_images_test.sh.

usage: images_client.py PORT MODE [ARG...]
  setup WORK     (no uvmd.exe needed) Debian's docker-registry on 127.0.0.1
                 started detached, test images built from busybox-static
                 (tests/integration/imagelib.py) and pushed with skopeo or
                 raw; facts for the other modes in WORK/facts.json
  pull           by tag, by digest, through an index (linux/amd64 picked),
                 a three-layer image sharing the base layer, two concurrent
                 pulls of one reference; ImageStatus, ListImages and
                 ImageFsInfo fields
  disks          each image's disks: <data root>/images/disks/<chain id>.vhd,
                 a fixed VHD footer, the erofs part mounted (losetup
                 --sizelimit, mount -t erofs) and compared with busybox
  refused        an unknown digest, a layer whose diff id is wrong, a
                 corrupted blob: refused, nothing left in the store
  kept           after a restart: the images listed again
  bigpull        a big image's pull (the script kills uvmd.exe during it)
  afterkill      after the restart: no temp file, blob or disk left by it
  ctr            a pod and a container created from a pulled image (tag)
  inuse          a container left created from busybox: RemoveImage of it
                 refused as on Linux (FAILED_PRECONDITION, "in use by
                 container ID"), the record, blobs and disks untouched
  inuse-kept     after a restart, the container reloaded: still refused
  release        the container and its pod removed (RemoveImage then works:
                 "remove")
  remove         RemoveImage: a tag of two only untags; the image by id
                 removes its disks but not a layer another image shares;
                 twice is fine
Prints "ok NAME" / "not ok NAME # why"."""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time

import grpc

sys.path.insert(0, "tests/windows")
sys.path.insert(0, "tests/integration")
from hcs_client import check, connect, expect_error, one_line  # noqa: E402
import hcs_client  # noqa: E402
import imagelib  # noqa: E402

port, mode = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
rig = os.environ.get("UVMD_RIG_DIR", "")
images = os.path.join(rig, "data", "images")
facts_path = os.path.join(rig, "facts.json")


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def chain_ids(diff_ids):
    out = [diff_ids[0]]
    for d in diff_ids[1:]:
        out.append(sha((out[-1] + " " + d).encode()))
    return out


def facts_of(img, host, name, tag):
    diff = json.loads(img.config)["rootfs"]["diff_ids"]
    return {"ref": "%s/%s:%s" % (host, name, tag), "name": "%s/%s" % (host, name),
            "id": img.id, "manifest": img.manifest_digest,
            "size": len(img.manifest) + len(img.config) + sum(la.size for la in img.layers),
            "layers": [la.digest for la in img.layers], "chains": chain_ids(diff)}


def setup(work):
    reg = imagelib.Registry(os.path.join(work, "reg"))
    reg.start()
    host = reg.host
    single = imagelib.build_image(os.path.join(work, "single"), "single")
    multi = imagelib.build_image(os.path.join(work, "multi"), "multi")
    reg.push(single, "lib/busybox", "v1")
    reg.push(multi, "lib/multi", "v1")
    reg.push(single, "lib/conc", "v1")
    # An index naming an arm64 image first, then the amd64 one.
    reg.push(multi, "lib/idx", "arm")
    reg.push(single, "lib/idx", "amd")
    index = imagelib.canonical_json({"schemaVersion": 2, "mediaType": imagelib.OCI_INDEX,
        "manifests": [
            {"mediaType": imagelib.OCI_MANIFEST, "digest": multi.manifest_digest,
             "size": len(multi.manifest), "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": imagelib.OCI_MANIFEST, "digest": single.manifest_digest,
             "size": len(single.manifest), "platform": {"os": "linux", "architecture": "amd64"}}]})
    reg.push_raw("lib/idx", "multi", index, imagelib.OCI_INDEX, {})
    # A config whose diff id is not the layer's: the blobs are right, the
    # uncompressed tar is not what the config says.
    layer = single.layers[0]
    badcfg = imagelib.image_config([sha(b"not this layer")])
    bad = imagelib.canonical_json({"schemaVersion": 2, "mediaType": imagelib.OCI_MANIFEST,
        "config": {"mediaType": imagelib.OCI_CONFIG, "digest": sha(badcfg), "size": len(badcfg)},
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}]})
    reg.push_raw("lib/baddiff", "v1", bad, imagelib.OCI_MANIFEST,
                 {sha(badcfg): badcfg, layer.digest: single.blob(layer.digest)})
    # A blob the registry serves damaged (a layer of its own, so no other
    # image's copy of it is hurt).
    tar = imagelib.make_tar(imagelib.base_entries() + [imagelib.f("marker", b"corrupt\n")])
    corrupt = imagelib.build_layout(os.path.join(work, "corrupt"), [tar])
    reg.push(corrupt, "lib/corrupt", "v1")
    reg.corrupt_blob(corrupt.layers[0].digest)
    # Big enough that a pull is still running when uvmd.exe is killed.
    big = imagelib.build_layout(os.path.join(work, "big"),
                                [imagelib.make_tar(es) for es in imagelib.big_layers(n=2)],
                                level=1)
    reg.push(big, "lib/big", "v1")
    facts = {"pid": reg.proc.pid, "host": host,
             "busybox": facts_of(single, host, "lib/busybox", "v1"),
             "multi": facts_of(multi, host, "lib/multi", "v1"),
             "conc": facts_of(single, host, "lib/conc", "v1"),
             "idx": facts_of(single, host, "lib/idx", "multi"), "index_digest": sha(index),
             "baddiff": {"ref": host + "/lib/baddiff:v1", "id": sha(badcfg)},
             "corrupt": facts_of(corrupt, host, "lib/corrupt", "v1"),
             "big": facts_of(big, host, "lib/big", "v1")}
    with open(os.path.join(work, "facts.json"), "w") as fh:
        json.dump(facts, fh)
    print("registry %d %s" % (reg.proc.pid, host))


if mode == "setup":
    setup(args[0])
    sys.exit(0)

F = json.load(open(facts_path))
c, pb = connect(port, mode)


def pull(ref, timeout=120):
    return c.img("PullImage", image=pb.ImageSpec(image=ref), timeout=timeout).image_ref


def status(ref):
    return c.img("ImageStatus", image=pb.ImageSpec(image=ref)).image


def listed():
    return {i.id: i for i in c.img("ListImages").images}


def files(sub):
    try:
        return sorted(os.listdir(os.path.join(images, sub)))
    except FileNotFoundError:
        return []


def disk(chain):
    return os.path.join(images, "disks", chain.split(":", 1)[1] + ".vhd")


def store_clean():
    """Every blob and disk is one a record uses, tmp is empty."""
    idx = json.load(open(os.path.join(images, "images.json")))["images"]
    blobs, chains = set(), set()
    for r in idx:
        blobs |= {r["id"][7:], r["manifest"][7:]}
        chains |= {la["chain"][7:] + ".vhd" for la in r["layers"]}
    extra = (set(files("blobs/sha256")) - blobs) | (set(files("disks")) - chains)
    return not files("tmp") and not extra, "tmp %s, extra %s" % (files("tmp"), sorted(extra))


if mode == "pull":
    b, m = F["busybox"], F["multi"]
    t0 = time.time()
    got = pull(b["ref"])
    check("pull-by-tag", got == b["id"], got)
    print("# busybox pulled in %.1f s" % (time.time() - t0))
    s = status(b["ref"])
    check("status-fields", s.id == b["id"] and list(s.repo_tags) == [b["ref"]]
          and list(s.repo_digests) == [b["name"] + "@" + b["manifest"]]
          and s.size == b["size"] and s.spec.image == b["id"], one_line(s))
    check("status-by-id-prefix", status(b["id"][7:19]).id == b["id"])
    check("status-absent-empty", not c.img("ImageStatus", image=pb.ImageSpec(
        image="127.0.0.1:1/nope:v1")).HasField("image"))
    got = pull(b["name"] + "@" + b["manifest"])
    check("pull-by-digest", got == b["id"], got)
    check("by-digest-same-record", list(status(b["ref"]).repo_digests)
          == [b["name"] + "@" + b["manifest"]], one_line(status(b["ref"])))
    got = pull(F["idx"]["ref"])
    s = status(F["idx"]["ref"])
    check("pull-index-amd64", got == b["id"] and F["idx"]["ref"] in s.repo_tags
          and F["idx"]["name"] + "@" + F["index_digest"] in s.repo_digests, one_line(s))
    got = pull(m["ref"])
    check("pull-three-layers", got == m["id"], got)
    s = status(m["ref"])
    check("status-user", s.username == "app" and s.size == m["size"], one_line(s))
    check("disks-by-chain-id", all(os.path.exists(disk(x)) for x in b["chains"] + m["chains"])
          and sorted(files("disks")) == sorted({x[7:] + ".vhd" for x in b["chains"] + m["chains"]}),
          files("disks"))
    check("shared-base-layer", b["chains"][0] == m["chains"][0])
    # Two pulls of one reference at once: one download, both answered.
    res = [None, None]

    def one(i):
        try:
            res[i] = pull(F["conc"]["ref"])
        except grpc.RpcError as e:
            res[i] = e
    ts = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check("concurrent-pulls", res == [b["id"], b["id"]], res)
    lst = listed()
    check("list", sorted(lst) == sorted({b["id"], m["id"]})
          and sorted(lst[b["id"]].repo_tags) == sorted([b["ref"], F["idx"]["ref"], F["conc"]["ref"]]),
          one_line(lst))
    flt = c.img("ListImages", filter=pb.ImageFilter(image=pb.ImageSpec(image=m["ref"]))).images
    check("list-filtered", [i.id for i in flt] == [m["id"]], one_line(flt))
    fs = c.img("ImageFsInfo").image_filesystems
    want = sum(os.path.getsize(os.path.join(images, d, n))
               for d in ("blobs/sha256", "disks") for n in files(d))
    check("fs-info", len(fs) == 1 and fs[0].fs_id.mountpoint.endswith("images")
          and fs[0].used_bytes.value >= want > 0 and fs[0].inodes_used.value >= 5, one_line(fs))
    ok, why = store_clean()
    check("no-temp-left", ok, why)

elif mode == "disks":
    b, m = F["busybox"], F["multi"]
    mnt = tempfile.mkdtemp(prefix="uvmd-img-")

    def footer_ok(p):
        data = open(p, "rb").read()
        f = data[-512:]
        size = struct.unpack(">Q", f[48:56])[0]
        csum = struct.unpack(">I", f[64:68])[0]
        calc = ~sum(f[:64] + b"\0\0\0\0" + f[68:]) & 0xFFFFFFFF
        return (f[:8] == b"conectix" and size == len(data) - 512 and size % 4096 == 0
                and struct.unpack(">I", f[60:64])[0] == 2 and csum == calc), size

    def mounted(p, size, fn):
        loop = subprocess.run(["losetup", "-f", "--show", "-r", "--sizelimit", str(size), p],
                              capture_output=True, text=True, check=True).stdout.strip()
        try:
            subprocess.run(["mount", "-t", "erofs", "-o", "ro", loop, mnt], check=True,
                           capture_output=True)
            try:
                return fn()
            finally:
                subprocess.run(["umount", mnt], check=True)
        finally:
            subprocess.run(["losetup", "-d", loop])

    ok, size = footer_ok(disk(b["chains"][0]))
    check("vhd-footer", ok, size)

    def busybox_same():
        same = open(os.path.join(mnt, "bin/busybox"), "rb").read() == open("/bin/busybox", "rb").read()
        return (same and os.readlink(os.path.join(mnt, "bin/sh")) == "busybox"
                and open(os.path.join(mnt, "etc/passwd"), "rb").read() == imagelib.PASSWD
                and os.stat(os.path.join(mnt, "bin/busybox")).st_mode & 0o777 == 0o755)
    try:
        check("erofs-busybox", mounted(disk(b["chains"][0]), size, busybox_same))
    except subprocess.CalledProcessError as e:
        check("erofs-busybox", False, "%s %s" % (e.cmd, e.stderr))
    # The third layer of the multi image: its whiteout and opaque directory.
    ok, size = footer_ok(disk(m["chains"][2]))

    def whiteout():
        st = os.lstat(os.path.join(mnt, "data/gone"))
        import stat as S
        return S.S_ISCHR(st.st_mode) and st.st_rdev == 0 and os.path.exists(
            os.path.join(mnt, "data/c"))
    try:
        check("erofs-whiteout", ok and mounted(disk(m["chains"][2]), size, whiteout))
    except subprocess.CalledProcessError as e:
        check("erofs-whiteout", False, "%s %s" % (e.cmd, e.stderr))
    os.rmdir(mnt)

elif mode == "refused":
    b = F["busybox"]
    before = sorted(listed())
    disks_before = files("disks")
    expect_error("unknown-digest", lambda: pull(b["name"] + "@sha256:" + "0" * 64),
                 grpc.StatusCode.NOT_FOUND, "")
    expect_error("wrong-diff-id", lambda: pull(F["baddiff"]["ref"]), grpc.StatusCode.INVALID_ARGUMENT,
                 "diff id")
    expect_error("corrupt-blob", lambda: pull(F["corrupt"]["ref"]), grpc.StatusCode.INVALID_ARGUMENT,
                 "")
    check("refused-no-record", sorted(listed()) == before, one_line(listed()))
    check("refused-no-disk", files("disks") == disks_before, files("disks"))
    check("refused-no-config", F["baddiff"]["id"][7:] not in files("blobs/sha256")
          and F["corrupt"]["id"][7:] not in files("blobs/sha256"))
    ok, why = store_clean()
    check("refused-nothing-left", ok, why)

elif mode == "kept":
    lst = listed()
    check("restart-keeps-images", sorted(lst) == sorted({F["busybox"]["id"], F["multi"]["id"]}),
          one_line(lst))
    check("restart-status", status(F["multi"]["ref"]).id == F["multi"]["id"])

elif mode == "bigpull":
    try:
        pull(F["big"]["ref"], timeout=60)
        print("# big pull finished before the kill")
    except grpc.RpcError as e:
        print("# big pull: %s" % e.code())

elif mode == "afterkill":
    ok, why = store_clean()
    check("killed-pull-left-nothing", ok, why)
    check("killed-pull-no-record", F["big"]["id"] not in listed())

elif mode == "ctr":
    b = F["busybox"]
    cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="img", namespace="default",
                                                             uid="uid-img"))
    pod = c.rt("RunPodSandbox", config=cfg, runtime_handler="uvm").pod_sandbox_id
    conf = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="bb", attempt=0),
                              image=pb.ImageSpec(image=b["ref"]))
    try:
        ctr = c.rt("CreateContainer", pod_sandbox_id=pod, config=conf,
                   sandbox_config=cfg).container_id
        s = c.rt("ContainerStatus", container_id=ctr).status
        check("create-from-pulled", s.image_ref == b["id"] and s.state == pb.CONTAINER_CREATED,
              one_line(s))
        c.rt("RemoveContainer", container_id=ctr)
    except grpc.RpcError as e:
        check("create-from-pulled", False, "%s %s" % (e.code(), e.details()))
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)

elif mode in ("inuse", "inuse-kept"):
    b = F["busybox"]
    held = os.path.join(rig, "inuse.json")
    if mode == "inuse":
        cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="inuse", namespace="default",
                                                                 uid="uid-inuse"))
        pod = c.rt("RunPodSandbox", config=cfg, runtime_handler="uvm").pod_sandbox_id
        conf = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="holder", attempt=0),
                                  image=pb.ImageSpec(image=b["ref"]))
        ctr = c.rt("CreateContainer", pod_sandbox_id=pod, config=conf,
                   sandbox_config=cfg).container_id
        with open(held, "w") as fh:
            json.dump({"pod": pod, "ctr": ctr}, fh)
    else:
        ctr = json.load(open(held))["ctr"]
    s = c.rt("ContainerStatus", container_id=ctr).status
    check(mode + "-ctr-there", s.state == pb.CONTAINER_CREATED and s.image_ref == b["id"],
          one_line(s))
    tags_before = sorted(status(b["id"]).repo_tags)
    blobs_before, disks_before = files("blobs/sha256"), files("disks")
    expect_error(mode + "-remove-refused",
                 lambda: c.img("RemoveImage", image=pb.ImageSpec(image=b["id"])),
                 grpc.StatusCode.FAILED_PRECONDITION, "in use by container " + ctr)
    s = status(b["id"])
    idx = json.load(open(os.path.join(images, "images.json")))["images"]
    check(mode + "-record-kept", s.id == b["id"] and sorted(s.repo_tags) == tags_before
          and any(r["id"] == b["id"] and sorted(r["tags"]) == tags_before for r in idx),
          one_line(s))
    check(mode + "-files-kept", files("blobs/sha256") == blobs_before
          and files("disks") == disks_before and b["id"][7:] in blobs_before
          and all(os.path.exists(disk(x)) for x in b["chains"]),
          files("disks"))

elif mode == "release":
    held = json.load(open(os.path.join(rig, "inuse.json")))
    c.rt("RemoveContainer", container_id=held["ctr"])
    c.rt("StopPodSandbox", pod_sandbox_id=held["pod"])
    c.rt("RemovePodSandbox", pod_sandbox_id=held["pod"])
    check("release-ctr-gone", not [x for x in c.rt("ListContainers").containers
                                   if x.id == held["ctr"]])

elif mode == "remove":
    b, m = F["busybox"], F["multi"]
    c.img("RemoveImage", image=pb.ImageSpec(image=b["ref"]))
    s = status(b["id"])
    check("remove-tag-untags", b["ref"] not in s.repo_tags and len(s.repo_tags) == 2
          and os.path.exists(disk(b["chains"][0])), one_line(s))
    c.img("RemoveImage", image=pb.ImageSpec(image=b["id"]))
    check("remove-by-id", b["id"] not in listed()
          and not c.img("ImageStatus", image=pb.ImageSpec(image=b["id"])).HasField("image"))
    check("remove-keeps-shared-disk", os.path.exists(disk(m["chains"][0])), files("disks"))
    check("remove-config-blob", b["id"][7:] not in files("blobs/sha256")
          and b["manifest"][7:] not in files("blobs/sha256"))
    c.img("RemoveImage", image=pb.ImageSpec(image=m["ref"]))
    check("remove-disks", files("disks") == [] and files("blobs/sha256") == [], files("disks"))
    c.img("RemoveImage", image=pb.ImageSpec(image=m["ref"]))
    check("remove-twice", listed() == {})
    ok, why = store_clean()
    check("remove-nothing-left", ok, why)

else:
    print("unknown mode " + mode)
    sys.exit(2)
sys.exit(1 if hcs_client.failed else 0)
