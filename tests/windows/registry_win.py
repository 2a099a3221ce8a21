"""The registry client as Windows builds it (WinHTTP) under Wine: run by
registry_win_test.sh with the path of reg_fetch.exe. Everything is
served on loopback from here: Debian's docker-registry (plain, and behind
htpasswd) with images built and pushed by tests/integration/imagelib.py,
the bearer-token gate of tests/integration/test_registry_client.py in front
of it, and small servers that misbehave (a connection dropped before or
during a response, silence, a manifest over the size cap). Prints
"ok NAME" / "not ok NAME: why" per check."""
import hashlib
import http.server
import json
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import imagelib  # noqa: E402
from test_registry_client import _Gate  # noqa: E402 (the fake token server)

EXE = sys.argv[1]
failed = 0
IMG_MAX_JSON = 4 << 20  # image/manifest.h


def check(name, cond, why=""):
    global failed
    if cond:
        print("ok %s" % name)
    else:
        failed += 1
        print("not ok %s: %s" % (name, str(why)[-600:].replace("\n", " ")))
    sys.stdout.flush()


def winpath(p):
    return "Z:" + p.replace("/", "\\")


class Run:
    def __init__(self, p, secs):
        self.rc, self.out, self.err, self.secs = p.returncode, p.stdout, p.stderr, secs
        err = [x for x in p.stdout.splitlines() if x.startswith("error ")]
        self.errno = err[0].split()[1] if err else None
        self.msg = err[0] if err else ""

    def __str__(self):
        return "rc %d: %s %s" % (self.rc, self.out, self.err[-300:])


def fetch(*args, timeout=120):
    t0 = time.time()
    p = subprocess.run(["wine", EXE] + list(args), capture_output=True, text=True,
                       timeout=timeout)
    return Run(p, time.time() - t0)


def pull(ref, out, *opts):
    os.makedirs(out, exist_ok=True)
    return fetch(*(list(opts) + [ref, winpath(out)]))


def pulled_ok(img, out, r):
    """The client's answer and the files it wrote, each checked against its
    digest here (sha256 of the bytes), not only by the client."""
    if r.rc != 0:
        return False, str(r)
    if "manifest %s %s" % (img.manifest_digest, imagelib.OCI_MANIFEST) not in r.out:
        return False, "wrong manifest line: " + r.out
    want = {img.manifest_digest, img.config_digest} | {la.digest for la in img.layers}
    files = {"sha256:" + n for n in os.listdir(out)}
    if files != want:
        return False, "files %s, want %s" % (sorted(files), sorted(want))
    for dg in want:
        with open(os.path.join(out, dg.split(":", 1)[1]), "rb") as fh:
            if "sha256:" + hashlib.sha256(fh.read()).hexdigest() != dg:
                return False, "content of %s does not match its digest" % dg
    return True, ""


class Threaded(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class RawServer:
    """A TCP server on 127.0.0.1 that answers each connection with
    behave(conn) and counts connections."""

    def __init__(self, behave):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.behave = behave
        self.conns = []
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            self.conns.append(c)
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        try:
            c.settimeout(10)
            self.behave(c)
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def read_request(c):
    data = b""
    while b"\r\n\r\n" not in data:
        b = c.recv(4096)
        if not b:
            break
        data += b
    return data


def drop_at_once(c):
    read_request(c)
    c.close()


def drop_mid_body(c):
    read_request(c)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
              b"Content-Length: 1000\r\n\r\n{\"schemaVersion\":")
    time.sleep(0.2)
    c.close()


def silent(c):
    read_request(c)
    time.sleep(8)
    c.close()


class BigManifest(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        body = b"{" + b" " * IMG_MAX_JSON + b"}"
        self.send_response(200)
        self.send_header("Content-Type", imagelib.OCI_MANIFEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # the client stopped reading: what is tested


class Proxy(http.server.BaseHTTPRequestHandler):
    """A forward proxy for plain HTTP: "GET http://host/path" relayed with
    urllib; records what it relayed. Wine's WinHTTP sends the path alone
    (origin form) to a proxy, Windows' the whole URL: the target is the
    Host header's then."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        import urllib.error
        import urllib.request
        url = self.path if "://" in self.path else "http://%s%s" % (self.headers["Host"],
                                                                      self.path)
        self.server.seen.append(url)
        hd = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "authorization")}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=hd)) as r:
                code, body, rh = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            code, body, rh = e.code, e.read(), e.headers
        self.send_response(code)
        for k in ("Content-Type", "Docker-Content-Digest", "WWW-Authenticate", "Location"):
            if rh[k]:
                self.send_header(k, rh[k])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def drip(c):
    read_request(c)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
              b"Content-Length: 100\r\n\r\n")
    for _ in range(100):
        c.sendall(b" ")
        time.sleep(0.3)


def gate_for(reg):
    a = Threaded(("127.0.0.1", 0), _Gate)
    port = a.server_address[1]
    b = Threaded(("127.0.0.2", port), _Gate)
    st = {"port": port, "backend": reg.url, "tokens": 0, "valid": set(), "requests": [],
          "posts": [], "fail": 0, "auth": True, "ctype": None}
    a.state = b.state = st
    return serve(a), serve(b), st


def plain_registry(work, img, multi):
    reg = imagelib.Registry(os.path.join(work, "reg"))
    reg.start()
    reg.push(img, "lib/single", "v1")
    reg.push(multi, "lib/multi", "v1")
    return reg


def test_plain(work, reg, img, multi):
    h = reg.host
    out = os.path.join(work, "p1")
    check("pull-manifest-and-blobs", *pulled_ok(img, out, pull(h + "/lib/single:v1", out,
                                                                "--insecure", h)))
    out = os.path.join(work, "p2")
    r = pull("%s/lib/multi@%s" % (h, multi.manifest_digest), out, "--insecure", h)
    check("pull-by-digest-3-layers", *pulled_ok(multi, out, r))

    layer = img.layers[0]
    dest = os.path.join(work, "one-blob")
    r = fetch("--insecure", h, "blob", h + "/lib/single:v1", layer.digest, str(layer.size),
              winpath(dest))
    ok = r.rc == 0 and os.path.exists(dest)
    if ok:
        with open(dest, "rb") as fh:
            ok = "sha256:" + hashlib.sha256(fh.read()).hexdigest() == layer.digest
    check("blob-digest", ok, r)

    r = pull(h + "/lib/single:nope", os.path.join(work, "nf"), "--insecure", h)
    check("manifest-404-not-found", r.errno == "ENOENT" and "manifest unknown" in r.msg
          and "lib/single:nope" in r.msg, r)
    absent = "sha256:" + hashlib.sha256(b"not in the registry").hexdigest()
    dest = os.path.join(work, "absent-blob")
    r = fetch("--insecure", h, "blob", h + "/lib/single:v1", absent, "5", winpath(dest))
    check("blob-404-not-found", r.errno == "ENOENT" and "blob unknown" in r.msg
          and not os.path.exists(dest), r)

    proxy = serve(Threaded(("127.0.0.1", 0), Proxy))
    proxy.seen = []
    out = os.path.join(work, "proxied")
    r = pull(h + "/lib/single:v1", out, "--insecure", h, "--proxy",
             "http://127.0.0.1:%d" % proxy.server_address[1])
    ok, why = pulled_ok(img, out, r)
    check("through-a-proxy", ok and len(proxy.seen) == 2 + len(img.layers)
          and all(x.startswith(reg.url + "/v2/lib/single/") for x in proxy.seen),
          why or proxy.seen)
    proxy.shutdown()
    proxy.server_close()

    r = pull(h + "/lib/single:v1", os.path.join(work, "tls"), "--retries", "1")
    check("plain-http-needs-insecure", r.errno == "EAGAIN" and "unreachable" in r.msg, r)


def test_size_and_digest(work, reg, img, multi):
    h = reg.host
    m = json.loads(img.manifest)
    m["layers"][0]["size"] -= 10
    reg.push_raw("lib/size", "v1", imagelib.canonical_json(m), img.media_type, img.blobs())
    out = os.path.join(work, "size")
    r = pull(h + "/lib/size:v1", out, "--insecure", h)
    check("blob-over-its-size-refused", r.errno == "EBADMSG" and "larger than" in r.msg
          and img.layers[0].digest.split(":", 1)[1] not in os.listdir(out), r)

    # Its own registry: a damaged blob is damaged for every repository.
    bad_reg = imagelib.Registry(os.path.join(work, "reg-bad"))
    bad_reg.start()
    try:
        bad = imagelib.push_corrupt(bad_reg, multi, "lib/bad", "v1")
        out = os.path.join(work, "corrupt")
        r = pull(bad_reg.host + "/lib/bad:v1", out, "--insecure", bad_reg.host)
        check("blob-digest-mismatch-refused", r.errno == "EBADMSG" and "digest mismatch" in r.msg
              and bad in r.msg and bad.split(":", 1)[1] not in os.listdir(out), r)
    finally:
        bad_reg.stop()

    big = serve(Threaded(("127.0.0.1", 0), BigManifest))
    bh = "127.0.0.1:%d" % big.server_address[1]
    out = os.path.join(work, "big")
    r = pull(bh + "/lib/big:v1", out, "--insecure", bh)
    check("manifest-over-cap-refused", r.errno == "EFBIG" and "larger than" in r.msg
          and os.listdir(out) == [], r)
    big.shutdown()
    big.server_close()


def test_basic_auth(work, img):
    reg = imagelib.Registry(os.path.join(work, "reg-auth"), "tester", "s3cret")
    reg.start()
    try:
        reg.push(img, "lib/private", "v1")
        h = reg.host
        out = os.path.join(work, "basic")
        r = pull(h + "/lib/private:v1", out, "--insecure", h, "--user", "tester", "--password",
                 "s3cret")
        check("basic-auth", *pulled_ok(img, out, r))
        r = pull(h + "/lib/private:v1", os.path.join(work, "basic-bad"), "--insecure", h,
                 "--user", "tester", "--password", "wrong")
        check("basic-auth-refused", r.errno == "EKEYREJECTED" and "unauthorized" in r.msg, r)
    finally:
        reg.stop()


def test_token_flow(work, reg, img, multi):
    a, b, st = gate_for(reg)
    reg.push(multi, "lib/gated", "v1")
    h = "127.0.0.1:%d" % st["port"]
    ins = ["--insecure", "127.0.0.1", "--insecure", "127.0.0.2"]
    out = os.path.join(work, "tok")
    r = pull(h + "/lib/gated:v1", out, *(ins + ["--user", "tester", "--password", "s3cret"]))
    check("token-auth-pull", *pulled_ok(multi, out, r))
    token_reqs = [x for x in st["requests"] if x[1].startswith("/token")]
    check("token-fetched-once-scope-escaped", st["tokens"] == 1 and len(token_reqs) == 1
          and "scope=repository%3Alib%2Fgated%3Apull" in token_reqs[0][1], token_reqs)
    redirected = [x for x in st["requests"] if x[0] == "127.0.0.2"]
    check("redirect-to-storage-without-credentials",
          len(redirected) == 1 + len(multi.layers) and all(x[2] is None for x in redirected),
          redirected)

    r = pull(h + "/lib/gated:v1", os.path.join(work, "tok-bad"),
             *(ins + ["--user", "tester", "--password", "nope"]))
    check("token-server-refuses", r.errno == "EKEYREJECTED" and "token server" in r.msg, r)

    out = os.path.join(work, "tok-rt")
    r = pull(h + "/lib/gated:v1", out, *(ins + ["--identity-token", "rt-1"]))
    ok, why = pulled_ok(multi, out, r)
    check("identity-token-refresh-post", ok and st["posts"]
          and st["posts"][-1].get("grant_type") == "refresh_token", why or st["posts"])

    out = os.path.join(work, "noredir")
    r = pull(h + "/lib/gated:v1", out, "--insecure", "127.0.0.1", "--user", "tester",
             "--password", "s3cret")
    check("redirect-to-plain-http-refused", r.errno == "EPROTO" and "redirect" in r.msg
          and "127.0.0.2" in r.msg
          and os.listdir(out) == [multi.manifest_digest.split(":", 1)[1]], r)

    st["auth"] = False
    st["fail"] = 2
    out = os.path.join(work, "flaky")
    r = pull(h + "/lib/gated:v1", out, "--insecure", h)
    ok, why = pulled_ok(multi, out, r)
    check("503-retried-then-served", ok and st["fail"] == 0 and r.secs >= 0.6, why or r)
    for s in (a, b):
        s.shutdown()
        s.server_close()


def test_transport_failures(work):
    for name, behave, want, words in (
            ("dropped-connection-retried", drop_at_once, "EAGAIN", "unreachable"),
            ("dropped-mid-body-retried", drop_mid_body, "EAGAIN", "unreachable"),
            ("silent-server-times-out", silent, "ETIMEDOUT", "timed out")):
        srv = RawServer(behave)
        h = "127.0.0.1:%d" % srv.port
        r = pull(h + "/lib/x:v1", os.path.join(work, name), "--insecure", h, "--retries", "2",
                 "--timeout-ms", "1500")
        # 1 + 2 retries, 200 ms + 400 ms of backoff between them.
        check(name, r.errno == want and words in r.msg and h in r.msg and srv.count == 3
              and r.secs >= 0.6, "%s; %d connections" % (r, srv.count))
        srv.close()

    # A body trickling in slower than the limit: the limit is the whole
    # exchange's, as libcurl's, not each read's.
    srv = RawServer(drip)
    h = "127.0.0.1:%d" % srv.port
    r = pull(h + "/lib/x:v1", os.path.join(work, "drip"), "--insecure", h, "--retries", "1",
             "--timeout-ms", "1500")
    check("slow-body-times-out", r.errno == "ETIMEDOUT" and srv.count == 2 and r.secs < 10,
          "%s; %d connections" % (r, srv.count))
    srv.close()

    # HTTPS with a certificate nobody trusts: refused, nothing served (Wine
    # calls it a failed handshake, 12157, and so retries it as libcurl
    # retries one; Windows says the certificate is refused, 12175).
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], capture_output=True, check=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    served = []

    def tls(c):
        t = ctx.wrap_socket(c, server_side=True)
        served.append(read_request(t))
        t.close()

    srv = RawServer(tls)
    h = "127.0.0.1:%d" % srv.port
    r = pull(h + "/lib/x:v1", os.path.join(work, "tls-untrusted"), "--retries", "1")
    check("untrusted-tls-certificate-refused", r.errno == "EAGAIN" and "WinHTTP error 121" in r.msg
          and srv.count >= 1 and not any(served), "%s; served %r" % (r, served))
    srv.close()

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    h = "127.0.0.1:%d" % port
    r = pull(h + "/lib/x:v1", os.path.join(work, "refused"), "--insecure", h, "--retries", "1")
    check("connection-refused-unreachable", r.errno == "EAGAIN" and "unreachable" in r.msg, r)


def main():
    work = tempfile.mkdtemp(prefix="registry-win-")
    reg = None
    try:
        img = imagelib.build_image(os.path.join(work, "single"), "single", archive=True)
        multi = imagelib.build_image(os.path.join(work, "multi"), "multi", archive=True)
        reg = plain_registry(work, img, multi)
        test_plain(work, reg, img, multi)
        test_size_and_digest(work, reg, img, multi)
        test_basic_auth(work, img)
        test_token_flow(work, reg, img, multi)
        test_transport_failures(work)
    finally:
        if reg:
            reg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
