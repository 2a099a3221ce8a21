"""Self-test of the image fixtures: reproducible builds, a real registry,
skopeo pushes, raw pushes and auth."""
import gzip
import io
import json
import os
import tarfile

import pytest

from imagelib import (  # noqa: F401 (fixtures)
    OCI_MANIFEST, build_image, http_request, image_dir, image_multi, image_single, push_corrupt,
    registry, registry_auth, registry_factory, sha256, write_docker_archive)


def _layer_members(img, i):
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(img.blob(img.layers[i].digest)))) as t:
        return {m.name: m for m in t.getmembers()}


def test_builds_are_reproducible(image_dir, image_single, image_multi):
    again = build_image(os.path.join(image_dir, "single-again"), "single", archive=True)
    assert again.manifest_digest == image_single.manifest_digest
    with open(again.archive, "rb") as a, open(image_single.archive, "rb") as b:
        assert a.read() == b.read()
    assert image_multi.manifest_digest != image_single.manifest_digest


def test_layout_is_consistent(image_multi):
    img = image_multi
    with open(os.path.join(img.layout, "index.json")) as fh:
        index = json.load(fh)
    assert index["manifests"][0]["digest"] == img.manifest_digest
    m = json.loads(img.manifest)
    cfg = img.config_json()
    assert m["config"]["digest"] == sha256(img.config)
    assert len(m["layers"]) == 3 and len(cfg["rootfs"]["diff_ids"]) == 3
    for desc, diff_id in zip(m["layers"], cfg["rootfs"]["diff_ids"]):
        blob = img.blob(desc["digest"])
        assert sha256(blob) == desc["digest"] and len(blob) == desc["size"]
        assert sha256(gzip.decompress(blob)) == diff_id
        assert blob[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert cfg["config"]["User"] == "app" and cfg["os"] == "linux"
    assert cfg["architecture"] == "amd64"

    base = _layer_members(img, 0)
    assert base["bin/sh"].issym() and base["bin/sh"].linkname == "busybox"
    assert base["tmp"].mode == 0o1777
    assert all(x.mtime == 0 for x in base.values())
    # Owned by root but for app's home.
    assert {n for n, x in base.items() if x.uid or x.gid} == {"home/app"}
    assert (base["home/app"].uid, base["home/app"].gid) == (1000, 1000)
    l2, l3 = _layer_members(img, 1), _layer_members(img, 2)
    assert l2["data/hl"].islnk() and l2["data/hl"].linkname == "data/a"
    assert "data/.wh.gone" in l3 and "data/opq/.wh..wh..opq" in l3


def test_bad_images(image_dir):
    esc = build_image(os.path.join(image_dir, "escape"), "escape")
    assert "../escape" in _layer_members(esc, 1)
    sl = build_image(os.path.join(image_dir, "symesc"), "symlink-escape")
    assert list(_layer_members(sl, 1)) == ["evil", "evil/escaped"]


def test_docker_archive(image_dir, image_single, image_multi):
    p = write_docker_archive(os.path.join(image_dir, "save.tar"),
                             [(image_single, ["imagelib/single:v1"]),
                              (image_multi, ["imagelib/multi:v1", "imagelib/multi:latest"])])
    with tarfile.open(p) as t:
        man = json.load(t.extractfile("manifest.json"))
        assert [x["RepoTags"] for x in man] == [["imagelib/single:v1"],
                                                ["imagelib/multi:v1", "imagelib/multi:latest"]]
        cfg = json.load(t.extractfile(man[1]["Config"]))
        for name, diff_id in zip(man[1]["Layers"], cfg["rootfs"]["diff_ids"]):
            assert sha256(t.extractfile(name).read()) == diff_id


def test_push_and_fetch(registry, image_single, image_multi):
    for img, name in ((image_single, "lib/single"), (image_multi, "lib/multi")):
        registry.push(img, name, "v1")
        st, hd, body = registry.get_manifest(name, "v1")
        assert st == 200, body
        assert sha256(body) == img.manifest_digest
        assert hd["Docker-Content-Digest"] == img.manifest_digest
        assert hd["Content-Type"] == OCI_MANIFEST
        st, _, blob = http_request("GET", "%s/v2/%s/blobs/%s" % (registry.url, name, img.config_digest))
        assert st == 200 and blob == img.config
    st, _, _ = registry.get_manifest("lib/single", "nope")
    assert st == 404


def test_raw_push_and_corruption(registry, image_multi):
    dg = push_corrupt(registry, image_multi, "lib/bad")
    st, _, body = registry.get_manifest("lib/bad", "latest")
    assert st == 200 and sha256(body) == image_multi.manifest_digest
    st, _, blob = http_request("GET", "%s/v2/lib/bad/blobs/%s" % (registry.url, dg))
    assert st == 200
    assert len(blob) == len(image_multi.blob(dg)) and sha256(blob) != dg


def test_auth(registry_auth, image_single):
    st, hd, _ = http_request("GET", registry_auth.url + "/v2/")
    assert st == 401 and hd["WWW-Authenticate"].startswith("Basic ")
    st, _, _ = http_request("GET", registry_auth.url + "/v2/", creds=("tester", "wrong"))
    assert st == 401
    registry_auth.push(image_single, "lib/private", "v1")
    st, _, _ = registry_auth.get_manifest("lib/private", "v1", auth=False)
    assert st == 401
    st, _, body = registry_auth.get_manifest("lib/private", "v1")
    assert st == 200 and sha256(body) == image_single.manifest_digest


def test_stop_and_restart(registry_factory, image_single):
    r = registry_factory()
    r.push(image_single, "lib/s")
    r.stop()
    with pytest.raises(OSError):
        http_request("GET", r.url + "/v2/", timeout=2)
    r.restart()
    st, _, _ = r.get_manifest("lib/s", "latest")
    assert st == 200


def test_big_image(image_dir):
    img = build_image(os.path.join(image_dir, "big"), "big")
    total = sum(la.size for la in img.layers)
    assert len(img.layers) == 4 and 48 << 20 < total < 60 << 20
