"""CRI ImageService against a real registry (Debian's docker-registry on
127.0.0.1) serving images the tests build from busybox-static."""
import http.server
import io
import os
import socketserver
import stat
import subprocess
import tarfile
import threading
import urllib.request

import grpc
import pytest

from imagelib import (  # noqa: F401 (fixtures)
    build_image, image_dir, image_multi, image_single, push_corrupt, registry, registry_auth,
    registry_factory, sha256, write_docker_archive)
from uvmdlib import pb


def _daemon(daemon_factory, *hosts):
    return daemon_factory(config={"insecure_registries": list(hosts)})


def _spec(ref):
    return pb().ImageSpec(image=ref)


def _pull(c, ref, auth=None, timeout=300):
    return c.img("PullImage", image=_spec(ref), auth=auth, timeout=timeout).image_ref


def _status(c, ref, verbose=False):
    return c.img("ImageStatus", image=_spec(ref), verbose=verbose)


def _code(fn):
    with pytest.raises(grpc.RpcError) as e:
        fn()
    return e.value.code(), e.value.details()


def _store(d):
    return os.path.join(d.data, "images")


def _left_over(d):
    """Files an aborted pull could leave: temp files and unreferenced blobs."""
    tmp = os.listdir(os.path.join(_store(d), "tmp"))
    blobs = os.listdir(os.path.join(_store(d), "blobs", "sha256"))
    layers = os.listdir(os.path.join(_store(d), "layers"))
    return tmp, blobs, layers


def test_pull_by_tag_status_list_and_layers(daemon_factory, registry, image_multi):
    registry.push(image_multi, "test/multi", "v1")
    d = _daemon(daemon_factory, registry.host)
    c = d.client()
    ref = "%s/test/multi:v1" % registry.host
    image_id = _pull(c, ref)
    assert image_id == image_multi.config_digest

    st = _status(c, ref, verbose=True)
    img = st.image
    assert img.id == image_id
    assert list(img.repo_tags) == [ref]
    assert list(img.repo_digests) == ["%s/test/multi@%s" % (registry.host, image_multi.manifest_digest)]
    assert img.size == len(image_multi.manifest) + len(image_multi.config) + sum(
        la.size for la in image_multi.layers)
    assert img.username == "app" and not img.HasField("uid")
    assert '"User":"app"' in st.info["info"].replace(" ", "")
    # Found again by id, by id prefix and by digest.
    for alias in (image_id, image_id[7:19], "%s/test/multi@%s" % (registry.host, image_multi.manifest_digest)):
        assert _status(c, alias).image.id == image_id
    ids = [i.id for i in c.img("ListImages").images]
    assert ids == [image_id]
    assert [i.id for i in c.img("ListImages", filter=pb().ImageFilter(image=_spec(ref))).images] == [image_id]
    assert list(c.img("ListImages", filter=pb().ImageFilter(image=_spec("nope:1"))).images) == []

    # Layers unpacked by chain id, overlayfs whiteouts, hard link kept.
    layers = sorted(os.listdir(os.path.join(_store(d), "layers")))
    assert len(layers) == 3
    found = {}
    for la in layers:
        root = os.path.join(_store(d), "layers", la)
        for p in ("data/.wh.gone", "data/gone", "data/hl", "data/a", "bin/busybox"):
            if os.path.lexists(os.path.join(root, p)):
                found[p] = os.lstat(os.path.join(root, p))
    assert "data/.wh.gone" not in found
    # "gone" exists in layer 2 as a file and in layer 3 as a 0/0 char device.
    gone = [os.lstat(os.path.join(_store(d), "layers", la, "data/gone")) for la in layers
            if os.path.lexists(os.path.join(_store(d), "layers", la, "data/gone"))]
    assert sorted(stat.S_IFMT(x.st_mode) for x in gone) == sorted([stat.S_IFCHR, stat.S_IFREG])
    assert [x.st_rdev for x in gone if stat.S_ISCHR(x.st_mode)] == [0]
    assert found["data/hl"].st_ino == found["data/a"].st_ino


def test_pull_by_digest_and_twice_downloads_once(daemon_factory, registry, image_single):
    registry.push(image_single, "test/single", "latest")
    d = _daemon(daemon_factory, registry.host)
    c = d.client()
    by_digest = "%s/test/single@%s" % (registry.host, image_single.manifest_digest)
    assert _pull(c, by_digest) == image_single.config_digest
    img = _status(c, by_digest).image
    assert list(img.repo_tags) == [] and list(img.repo_digests) == [by_digest]

    # Damage the layer in the registry: a second pull must not fetch it again.
    registry.corrupt_blob(image_single.layers[0].digest)
    tag_ref = "%s/test/single:latest" % registry.host
    assert _pull(c, tag_ref) == image_single.config_digest
    assert list(_status(c, tag_ref).image.repo_tags) == [tag_ref]
    assert len(c.img("ListImages").images) == 1


def test_concurrent_pulls_share_one_result(daemon_factory, registry, image_multi):
    registry.push(image_multi, "test/multi", "latest")
    d = _daemon(daemon_factory, registry.host)
    c = d.client()
    ref = "%s/test/multi" % registry.host
    out, errs = [], []

    def pull():
        try:
            out.append(_pull(d.client(), ref))
        except Exception as e:  # noqa: BLE001 (reported below)
            errs.append(e)

    ts = [threading.Thread(target=pull) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errs and out == [image_multi.config_digest] * 6
    tmp, blobs, layers = _left_over(d)
    assert tmp == [] and len(layers) == 3 and len(blobs) == 5  # manifest + config + 3 layers
    assert len(c.img("ListImages").images) == 1


def test_remove_by_tag_keeps_other_tags_then_frees_everything(daemon_factory, registry,
                                                              image_single):
    registry.push(image_single, "test/single", "a")
    registry.push(image_single, "test/single", "b")
    d = _daemon(daemon_factory, registry.host)
    c = d.client()
    a, b = "%s/test/single:a" % registry.host, "%s/test/single:b" % registry.host
    _pull(c, a)
    _pull(c, b)
    assert sorted(_status(c, a).image.repo_tags) == [a, b]
    c.img("RemoveImage", image=_spec(a))
    assert list(_status(c, b).image.repo_tags) == [b]
    assert not _status(c, a).HasField("image")
    fs_before = c.img("ImageFsInfo").image_filesystems[0]
    assert fs_before.used_bytes.value > 0 and fs_before.inodes_used.value > 0
    assert fs_before.fs_id.mountpoint == _store(d)
    c.img("RemoveImage", image=_spec(image_single.config_digest))
    assert list(c.img("ListImages").images) == []
    assert _left_over(d) == ([], [], [])
    fs_after = c.img("ImageFsInfo").image_filesystems[0]
    assert fs_after.used_bytes.value < fs_before.used_bytes.value
    # A missing image is success.
    c.img("RemoveImage", image=_spec(a))
    c.img("RemoveImage", image=_spec("sha256:" + "0" * 64))


def test_images_survive_a_restart(daemon_factory, registry, image_single):
    registry.push(image_single, "test/single", "latest")
    d = _daemon(daemon_factory, registry.host)
    ref = "%s/test/single:latest" % registry.host
    _pull(d.client(), ref)
    assert d.stop() == 0
    d.start()
    assert _status(d.client(), ref).image.id == image_single.config_digest


def test_bad_reference_and_unknown_tag(daemon_factory, registry, image_single):
    registry.push(image_single, "test/single", "latest")
    d = _daemon(daemon_factory, registry.host)
    c = d.client()
    for bad in ("library/UPPER", "a:b:c", "x@sha256:1234", "", "name:" + "t" * 200):
        code, msg = _code(lambda: _pull(c, bad))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (bad, code, msg)
    code, msg = _code(lambda: _pull(c, "%s/test/single:nope" % registry.host))
    assert code == grpc.StatusCode.NOT_FOUND and "nope" in msg
    code, msg = _code(lambda: _pull(c, "%s/test/absent:latest" % registry.host))
    assert code == grpc.StatusCode.NOT_FOUND
    assert _left_over(d)[0] == []


def test_auth_from_auth_config(daemon_factory, registry_auth, image_single):
    registry_auth.push(image_single, "test/private", "latest")
    d = _daemon(daemon_factory, registry_auth.host)
    c = d.client()
    ref = "%s/test/private:latest" % registry_auth.host
    code, msg = _code(lambda: _pull(c, ref))
    assert code == grpc.StatusCode.UNAUTHENTICATED, msg
    code, msg = _code(lambda: _pull(c, ref, pb().AuthConfig(username="tester", password="wrong")))
    assert code == grpc.StatusCode.UNAUTHENTICATED and registry_auth.host in msg
    assert _pull(c, ref, pb().AuthConfig(username="tester", password="s3cret")) == \
        image_single.config_digest
    c.img("RemoveImage", image=_spec(ref))
    import base64
    tok = base64.b64encode(b"tester:s3cret").decode()
    assert _pull(c, ref, pb().AuthConfig(auth=tok)) == image_single.config_digest


def test_unreachable_registry(daemon_factory, registry, image_single):
    host = registry.host
    registry.stop()
    d = _daemon(daemon_factory, host)
    code, msg = _code(lambda: _pull(d.client(), "%s/test/single:latest" % host))
    assert code == grpc.StatusCode.UNAVAILABLE and host in msg


class _CutProxy(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Forwards to the registry but cuts every blob body in half: a registry
    that goes away in the middle of a download."""
    daemon_threads = True


def _cut_handler(upstream):
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_HEAD(self):
            self._go(head=True)

        def do_GET(self):
            self._go(head=False)

        def _go(self, head):
            req = urllib.request.Request(upstream + self.path, method="HEAD" if head else "GET",
                                         headers={k: v for k, v in self.headers.items()
                                                  if k.lower() in ("accept", "authorization")})
            try:
                r = urllib.request.urlopen(req, timeout=10)
                status, headers, body = r.status, r.headers, r.read()
            except urllib.error.HTTPError as e:
                status, headers, body = e.code, e.headers, e.read()
            self.send_response(status)
            for k, v in headers.items():
                if k.lower() not in ("transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.end_headers()
            if head:
                return
            if "/blobs/" in self.path and len(body) > 1000:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            self.wfile.write(body)
    return H


def test_registry_gone_mid_pull_leaves_nothing(daemon_factory, registry, image_multi):
    registry.push(image_multi, "test/multi", "latest")
    proxy = _CutProxy(("127.0.0.1", 0), _cut_handler(registry.url))
    t = threading.Thread(target=proxy.serve_forever, daemon=True)
    t.start()
    try:
        host = "127.0.0.1:%d" % proxy.server_address[1]
        d = _daemon(daemon_factory, host)
        code, msg = _code(lambda: _pull(d.client(), "%s/test/multi:latest" % host))
        assert code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INVALID_ARGUMENT,
                        grpc.StatusCode.INTERNAL), (code, msg)
        assert _left_over(d) == ([], [], [])
        assert list(d.client().img("ListImages").images) == []
    finally:
        proxy.shutdown()


def test_corrupted_blob_is_refused_and_nothing_kept(daemon_factory, registry, image_multi):
    bad = push_corrupt(registry, image_multi, "test/corrupt")
    d = _daemon(daemon_factory, registry.host)
    c = d.client()
    code, msg = _code(lambda: _pull(c, "%s/test/corrupt:latest" % registry.host))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and bad in msg, msg
    assert _left_over(d) == ([], [], [])
    assert list(c.img("ListImages").images) == []


@pytest.mark.parametrize("kind", ["escape", "symlink-escape"])
def test_layer_escaping_the_root_is_refused(daemon_factory, registry, image_dir, kind):
    img = build_image(os.path.join(image_dir, kind), kind)
    registry.push(img, "test/" + kind, "latest")
    d = _daemon(daemon_factory, registry.host)
    c = d.client()
    code, msg = _code(lambda: _pull(c, "%s/test/%s:latest" % (registry.host, kind)))
    assert code == grpc.StatusCode.PERMISSION_DENIED, (code, msg)
    assert list(c.img("ListImages").images) == []
    assert _left_over(d) == ([], [], [])
    assert not os.path.exists(os.path.join(_store(d), "escape"))
    assert not os.path.exists("/escaped")


def _import(d, *archives):
    return subprocess.run([d.args()[0], "--config", os.path.join(d.workdir, "config.json"),
                           "--data-root", d.data, "--log-level", "warn", "image", "import",
                           *archives], capture_output=True, text=True, timeout=300)


def test_import_archives_while_the_daemon_runs(daemon_factory, image_dir, image_single,
                                                image_multi):
    d = daemon_factory()
    c = d.client()
    docker_tar = os.path.join(image_dir, "docker-save.tar")
    write_docker_archive(docker_tar, [(image_multi, ["example.com/team/multi:1", "multi:2"])])
    r = _import(d, image_single.archive, docker_tar)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [image_single.config_digest, image_multi.config_digest]
    # The running daemon sees what the command imported.
    multi = _status(c, "example.com/team/multi:1").image
    assert multi.id == image_multi.config_digest
    assert sorted(multi.repo_tags) == ["docker.io/library/multi:2", "example.com/team/multi:1"]
    assert _status(c, "multi:2").image.id == image_multi.config_digest
    assert _status(c, image_single.config_digest).image.id == image_single.config_digest
    assert len(c.img("ListImages").images) == 2
    # And its own changes land next to them.
    c.img("RemoveImage", image=_spec("multi:2"))
    assert list(_status(c, "example.com/team/multi:1").image.repo_tags) == [
        "example.com/team/multi:1"]
    # Importing again changes nothing; a missing or hostile archive fails clearly.
    assert _import(d, docker_tar).returncode == 0
    assert len(c.img("ListImages").images) == 2
    r = _import(d, os.path.join(image_dir, "absent.tar"))
    assert r.returncode == 1 and "absent.tar" in r.stderr
    evil = os.path.join(image_dir, "evil.tar")
    with tarfile.open(evil, "w") as t:
        info = tarfile.TarInfo("../evil")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    r = _import(d, evil)
    assert r.returncode == 1 and "../evil" in r.stderr
    assert not os.path.exists(os.path.join(_store(d), "evil"))
    assert os.listdir(os.path.join(_store(d), "tmp")) == []


class RecordingMirror:
    """An HTTP "mirror" on loopback that asks for credentials (Basic), has
    nothing (404), and remembers every request's Authorization header."""

    def __init__(self):
        import http.server
        import threading
        seen = self.seen = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                authz = self.headers.get("Authorization")
                seen.append((self.path, authz))
                self.send_response(404 if authz else 401)
                if not authz:
                    self.send_header("WWW-Authenticate", 'Basic realm="mirror"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_HEAD = do_GET

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.host = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_credentials_go_only_to_their_registry(daemon_factory, registry_auth, image_single):
    registry_auth.push(image_single, "test/private", "latest")
    mirror = RecordingMirror()
    try:
        d = daemon_factory(config={"insecure_registries": [registry_auth.host, mirror.host],
                                   "registry_mirrors": {registry_auth.host:
                                                        ["http://" + mirror.host]}})
        c, m = d.client(), pb()
        ref = "%s/test/private:latest" % registry_auth.host
        assert _pull(c, ref, m.AuthConfig(username="tester", password="s3cret")) == \
            image_single.config_digest
        # The mirror was asked first, and never given the secret.
        assert mirror.seen and all(a is None for _, a in mirror.seen), mirror.seen
        c.img("RemoveImage", image=_spec(ref))
        # Credentials for another registry are not the image registry's.
        code, msg = _code(lambda: _pull(c, ref, m.AuthConfig(
            username="tester", password="s3cret", server_address="other.example:5000")))
        assert code == grpc.StatusCode.UNAUTHENTICATED, msg
        # Given for this one (as a URL): used.
        assert _pull(c, ref, m.AuthConfig(username="tester", password="s3cret",
                                          server_address="http://%s/" % registry_auth.host)) \
            == image_single.config_digest
        assert all(a is None for _, a in mirror.seen), mirror.seen
    finally:
        mirror.close()
