"""The registry client (image/registry.c) end to end against a real
docker-registry, through the reg_fetch test driver
(tests/unit/image_registry/reg_fetch.c)."""
import errno
import hashlib
import http.server
import json
import os
import subprocess
import threading
import time

import pytest

from imagelib import (  # noqa: F401 (fixtures)
    OCI_MANIFEST, canonical_json, image_dir, image_multi, image_single, push_corrupt, registry, registry_auth,
    registry_factory)

# bazel/test.sh passes the path; by hand, the workspace's bazel-bin.
REG_FETCH = os.environ.get("REG_FETCH_BIN", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "bazel-bin", "tests", "unit",
    "image_registry", "reg_fetch"))


def reg_fetch(ref, out, *args, timeout=60):
    if not os.path.exists(REG_FETCH):
        pytest.fail("reg_fetch not built: %s (bazel build //tests/unit/image_registry:reg_fetch)"
                    % REG_FETCH)
    os.makedirs(out, exist_ok=True)
    host = ref.split("/", 1)[0]
    cmd = [REG_FETCH, "--insecure", host] + list(args) + [ref, out]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def check_pulled(img, out, r):
    assert r.returncode == 0, r.stderr
    assert ("manifest %s %s" % (img.manifest_digest, OCI_MANIFEST)) in r.stdout
    want = {img.manifest_digest, img.config_digest} | {la.digest for la in img.layers}
    files = {"sha256:" + n for n in os.listdir(out)}
    assert files == want
    for dg in want:
        with open(os.path.join(out, dg.split(":", 1)[1]), "rb") as fh:
            assert "sha256:" + hashlib.sha256(fh.read()).hexdigest() == dg


def test_pull_without_auth(registry, image_single, image_multi, tmp_path):
    registry.push(image_single, "lib/single", "v1")
    registry.push(image_multi, "lib/multi", "v1")
    out = str(tmp_path / "s")
    check_pulled(image_single, out, reg_fetch(registry.host + "/lib/single:v1", out))
    out = str(tmp_path / "m")
    check_pulled(image_multi, out, reg_fetch(registry.host + "/lib/multi:v1", out))
    # By digest too.
    out = str(tmp_path / "d")
    r = reg_fetch("%s/lib/multi@%s" % (registry.host, image_multi.manifest_digest), out)
    check_pulled(image_multi, out, r)


def test_unknown_tag_and_repository(registry, image_single, tmp_path):
    registry.push(image_single, "lib/single", "v1")
    r = reg_fetch(registry.host + "/lib/single:nope", str(tmp_path / "a"))
    assert r.returncode == errno.ENOENT, r.stderr
    assert "manifest unknown" in r.stderr and "lib/single:nope" in r.stderr
    r = reg_fetch(registry.host + "/lib/absent:v1", str(tmp_path / "b"))
    assert r.returncode == errno.ENOENT, r.stderr
    assert os.listdir(str(tmp_path / "a")) == []


def test_basic_auth(registry_auth, image_single, tmp_path):
    registry_auth.push(image_single, "lib/private", "v1")
    ref = registry_auth.host + "/lib/private:v1"
    out = str(tmp_path / "ok")
    check_pulled(image_single, out, reg_fetch(ref, out, "--user", "tester", "--password", "s3cret"))
    out = str(tmp_path / "auth")
    check_pulled(image_single, out, reg_fetch(ref, out, "--auth", "dGVzdGVyOnMzY3JldA=="))

    r = reg_fetch(ref, str(tmp_path / "bad"), "--user", "tester", "--password", "wrong")
    assert r.returncode == errno.EKEYREJECTED, r.stderr
    assert "unauthorized" in r.stderr and registry_auth.host in r.stderr
    r = reg_fetch(ref, str(tmp_path / "anon"))
    assert r.returncode == errno.EKEYREJECTED, r.stderr
    assert os.listdir(str(tmp_path / "bad")) == []


def test_stopped_registry_is_unreachable(registry, image_single, tmp_path):
    registry.push(image_single, "lib/single", "v1")
    registry.stop()
    t0 = time.time()
    r = reg_fetch(registry.host + "/lib/single:v1", str(tmp_path / "x"), "--retries", "2")
    assert r.returncode == errno.EAGAIN, r.stderr
    assert "unreachable" in r.stderr and registry.host in r.stderr
    # Two retries with backoff: 200 ms + 400 ms at least.
    assert time.time() - t0 >= 0.6


def test_corrupt_blob_is_refused_and_removed(registry, image_multi, tmp_path):
    bad = push_corrupt(registry, image_multi, "lib/bad", "v1")
    out = str(tmp_path / "c")
    r = reg_fetch(registry.host + "/lib/bad:v1", out)
    assert r.returncode == errno.EBADMSG, r.stderr
    assert "digest mismatch" in r.stderr and bad in r.stderr
    assert bad.split(":", 1)[1] not in os.listdir(out)


def test_plain_http_needs_insecure(registry, image_single, tmp_path):
    registry.push(image_single, "lib/single", "v1")
    out = str(tmp_path / "x")
    os.makedirs(out)
    r = subprocess.run([REG_FETCH, "--retries", "1", registry.host + "/lib/single:v1", out],
                       capture_output=True, text=True, timeout=60)
    # Without --insecure the client speaks TLS to a plain HTTP port.
    assert r.returncode == errno.EAGAIN, r.stderr


def test_mirror_then_origin(registry_factory, image_single, image_multi, tmp_path):
    origin, mirror = registry_factory(), registry_factory()
    origin.push(image_single, "lib/img", "v1")
    origin.push(image_multi, "lib/img", "v2")
    mirror.push(image_multi, "lib/img", "v1")  # a stale mirror serves something else
    spec = "%s=http://%s" % (origin.host, mirror.host)
    out = str(tmp_path / "m")
    r = reg_fetch(origin.host + "/lib/img:v1", out, "--insecure", mirror.host, "--mirror", spec)
    check_pulled(image_multi, out, r)
    # Not on the mirror: falls back to the origin.
    mirror.stop()
    out = str(tmp_path / "o")
    r = reg_fetch(origin.host + "/lib/img:v2", out, "--insecure", mirror.host, "--mirror", spec,
                  "--retries", "1")
    check_pulled(image_multi, out, r)
    # A plain-HTTP mirror that is not listed insecure is a configuration error.
    r = reg_fetch(origin.host + "/lib/img:v2", str(tmp_path / "e"), "--mirror", spec)
    assert r.returncode == errno.EINVAL and "insecure" in r.stderr, r.stderr


class _Gate(http.server.BaseHTTPRequestHandler):
    """A bearer-token front for a registry: /token hands out tokens for
    basic credentials tester:s3cret (or a refresh token), /v2/ needs one;
    blob GETs redirect to a second address (127.0.0.2) that must not see the
    Authorization header."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _token(self, ok):
        st = self.server.state
        if not ok:
            return self._send(401, b'{"details":"bad credentials"}')
        st["tokens"] += 1
        tok = "tok-%d" % st["tokens"]
        st["valid"].add(tok)
        self._send(200, json.dumps({"token": tok, "expires_in": 300}).encode(),
                   [("Content-Type", "application/json")])

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        form = dict(x.split("=", 1) for x in self.rfile.read(n).decode().split("&"))
        self.server.state["posts"].append(form)
        self._token(form.get("grant_type") == "refresh_token" and form.get("refresh_token") == "rt-1")

    def do_GET(self):
        st = self.server.state
        st["requests"].append((self.server.server_address[0], self.path,
                               self.headers.get("Authorization")))
        if self.path.startswith("/token"):
            return self._token(self.headers.get("Authorization") == "Basic dGVzdGVyOnMzY3JldA==")
        if self.path.startswith("/storage/"):
            return self._proxy(self.path[len("/storage"):])
        if self.server.server_address[0] != "127.0.0.1":
            return self._send(404)
        if st["fail"] > 0:  # flaky: the next n requests fail
            st["fail"] -= 1
            return self._send(503, b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')
        if not st["auth"]:
            return self._proxy(self.path)
        authz = self.headers.get("Authorization") or ""
        if not authz.startswith("Bearer ") or authz[7:] not in st["valid"]:
            ch = 'Bearer realm="http://127.0.0.1:%d/token",service="gate",scope="repository:%s:pull"' % (
                st["port"], self.path.split("/")[2] + "/" + self.path.split("/")[3])
            return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"need a token"}]}',
                              [("WWW-Authenticate", ch)])
        if "/blobs/" in self.path:
            return self._send(307, headers=[("Location", "http://127.0.0.2:%d/storage%s" % (
                st["port"], self.path))])
        self._proxy(self.path)

    def _proxy(self, path):
        import urllib.request
        req = urllib.request.Request(self.server.state["backend"] + path,
                                     headers={"Accept": self.headers.get("Accept") or "*/*"})
        with urllib.request.urlopen(req) as r:
            body = r.read()
            hd = [(k, r.headers[k]) for k in ("Content-Type", "Docker-Content-Digest") if r.headers[k]]
        if "/manifests/" in path and self.server.state["ctype"]:
            hd = [("Content-Type", self.server.state["ctype"])]
        self._send(200, body, hd)


@pytest.fixture
def gate(registry):
    from socketserver import ThreadingMixIn

    class Server(ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    a = Server(("127.0.0.1", 0), _Gate)
    port = a.server_address[1]
    b = Server(("127.0.0.2", port), _Gate)
    state = {"port": port, "backend": registry.url, "tokens": 0, "valid": set(), "requests": [],
             "posts": [], "fail": 0, "auth": True, "ctype": None}
    a.state = b.state = state
    for s in (a, b):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield registry, state
    for s in (a, b):
        s.shutdown()
        s.server_close()


def test_bearer_token_flow_and_redirect(gate, image_multi, tmp_path):
    reg, st = gate
    reg.push(image_multi, "lib/gated", "v1")
    host = "127.0.0.1:%d" % st["port"]
    out = str(tmp_path / "ok")
    r = reg_fetch(host + "/lib/gated:v1", out, "--insecure", "127.0.0.1", "--insecure",
                  "127.0.0.2", "--user", "tester", "--password", "s3cret")
    check_pulled(image_multi, out, r)
    # One token for the whole pull: it is cached per (host, scope, credentials).
    assert st["tokens"] == 1
    token_reqs = [x for x in st["requests"] if x[1].startswith("/token")]
    assert len(token_reqs) == 1 and "scope=repository%3Alib%2Fgated%3Apull" in token_reqs[0][1]
    redirected = [x for x in st["requests"] if x[0] == "127.0.0.2"]
    assert len(redirected) == 4  # config + 3 layers
    assert all(x[2] is None for x in redirected), redirected

    r = reg_fetch(host + "/lib/gated:v1", str(tmp_path / "bad"), "--insecure", "127.0.0.1",
                  "--user", "tester", "--password", "nope")
    assert r.returncode == errno.EKEYREJECTED, r.stderr

    out = str(tmp_path / "rt")
    r = reg_fetch(host + "/lib/gated:v1", out, "--insecure", "127.0.0.1", "--insecure",
                  "127.0.0.2", "--identity-token", "rt-1")
    check_pulled(image_multi, out, r)
    assert st["posts"][-1]["grant_type"] == "refresh_token"
    assert st["posts"][-1]["scope"] == "repository%3Alib%2Fgated%3Apull"

    # A redirect to plain HTTP is refused unless that host is listed: without
    # 127.0.0.2 the blobs cannot be fetched, and nothing is left behind.
    out = str(tmp_path / "noredir")
    r = reg_fetch(host + "/lib/gated:v1", out, "--insecure", "127.0.0.1", "--user", "tester",
                  "--password", "s3cret")
    assert r.returncode == errno.EPROTO, r.stderr
    assert "redirect" in r.stderr and "127.0.0.2" in r.stderr
    assert os.listdir(out) == [image_multi.manifest_digest.split(":", 1)[1]]


def test_transient_failures_are_retried(gate, image_single, tmp_path):
    reg, st = gate
    reg.push(image_single, "lib/flaky", "v1")
    st["auth"] = False
    host = "127.0.0.1:%d" % st["port"]
    st["fail"] = 2
    out = str(tmp_path / "ok")
    t0 = time.time()
    check_pulled(image_single, out, reg_fetch(host + "/lib/flaky:v1", out, "--insecure", host))
    assert st["fail"] == 0 and time.time() - t0 >= 0.6  # 200 ms + 400 ms backoff
    st["fail"] = 5
    r = reg_fetch(host + "/lib/flaky:v1", str(tmp_path / "no"), "--insecure", host,
                  "--retries", "1")
    assert r.returncode == errno.EAGAIN, r.stderr
    assert "HTTP 503" in r.stderr and "try later" in r.stderr


def test_unsupported_media_type(gate, image_single, tmp_path):
    reg, st = gate
    reg.push(image_single, "lib/old", "v1")
    st["auth"] = False
    st["ctype"] = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    host = "127.0.0.1:%d" % st["port"]
    r = reg_fetch(host + "/lib/old:v1", str(tmp_path / "x"), "--insecure", host)
    assert r.returncode == errno.ENOTSUP, r.stderr
    assert "unsupported media type" in r.stderr and "prettyjws" in r.stderr


def test_blob_larger_than_descriptor(registry, image_single, tmp_path):
    m = json.loads(image_single.manifest)
    m["layers"][0]["size"] -= 10
    registry.push_raw("lib/size", "v1", canonical_json(m), image_single.media_type,
                      image_single.blobs())
    out = str(tmp_path / "s")
    r = reg_fetch(registry.host + "/lib/size:v1", out)
    assert r.returncode == errno.EBADMSG, r.stderr
    assert "larger than" in r.stderr
    assert image_single.layers[0].digest.split(":", 1)[1] not in os.listdir(out)


def test_disk_full(registry, image_multi, tmp_path):
    registry.push(image_multi, "lib/multi", "v1")
    out = str(tmp_path / "small")
    os.makedirs(out)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", out],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        r = reg_fetch(registry.host + "/lib/multi:v1", out)
        assert r.returncode == errno.ENOSPC, r.stderr
        # The partial blob was removed; what is left are whole files.
        big = image_multi.layers[0].digest.split(":", 1)[1]
        assert big not in os.listdir(out)
    finally:
        subprocess.run(["umount", out])


def test_registry_token_is_sent_as_is(gate, image_single, tmp_path):
    reg, st = gate
    reg.push(image_single, "lib/rt", "v1")
    host = "127.0.0.1:%d" % st["port"]
    st["valid"].add("given-token")
    out = str(tmp_path / "ok")
    r = reg_fetch(host + "/lib/rt:v1", out, "--insecure", "127.0.0.1", "--insecure", "127.0.0.2",
                  "--registry-token", "given-token")
    check_pulled(image_single, out, r)
    assert st["tokens"] == 0  # no token server round trip
    # A registry token that is refused is not traded for another one.
    r = reg_fetch(host + "/lib/rt:v1", str(tmp_path / "no"), "--insecure", "127.0.0.1",
                  "--registry-token", "stale")
    assert r.returncode == errno.EKEYREJECTED, r.stderr
    assert st["tokens"] == 0
