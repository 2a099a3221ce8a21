"""The Go SPDY client (spdyclient/main.go, on Debian's spdystream) as a
library for tests that drive uvmd itself (tests/integration)."""
import json
import os
import subprocess
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GO = "/usr/bin/go"
GOPATH = "/usr/share/gocode"
_built = {}


def client():
    """Build the client once per process; skip without Go or spdystream."""
    if "path" in _built:
        return _built["path"]
    if not os.access(GO, os.X_OK) or not os.path.isdir(
            os.path.join(GOPATH, "src/github.com/moby/spdystream")):
        pytest.skip("the SPDY client needs Go and Debian's golang-github-moby-spdystream-dev")
    d = tempfile.mkdtemp(prefix="spdyclient-")
    out = os.path.join(d, "spdyclient")
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOCACHE=os.path.join(d, "cache"),
               GOFLAGS="")
    subprocess.run([GO, "build", "-o", out, os.path.join(HERE, "spdyclient", "main.go")],
                   env=env, check=True, cwd=HERE)
    _built["path"] = out
    return out


class Exec:
    def __init__(self, p):
        self.code = p.returncode
        self.stdout = p.stdout
        self.notes = {}
        self.stderr = b""
        for line in p.stderr.splitlines(keepends=True):
            if line.startswith(b"spdyclient: "):
                word, _, rest = line[len(b"spdyclient: "):].decode().rstrip("\n").partition(" ")
                self.notes[word] = rest
            else:
                self.stderr += line
        s = self.notes.get("STATUS")
        self.status = json.loads(s) if s else {}
        if isinstance(self.status, str):  # a Go-quoted Status
            self.status = json.loads(self.status) if self.status else {}


def exec_(path, url, stdin=None, tty=False, resize=None, version="v4.channel.k8s.io",
          timeout=60):
    streams = ["error"] + (["stdin"] if stdin is not None else []) + ["stdout"]
    streams += ["resize"] if tty else ["stderr"]
    cmd = [path, "-url", url, "-proto", version, "-streams", ",".join(streams)]
    if resize:
        cmd += ["-resize", json.dumps({"Width": resize[0], "Height": resize[1]})]
    p = subprocess.run(cmd + ["exec"], input=stdin or b"", capture_output=True,
                       timeout=timeout)
    return Exec(p)


def port_forward(path, url, port, payloads, timeout=60):
    """One SPDY connection, one request id per payload (all the same here)."""
    cmd = [path, "-url", url, "-proto", "portforward.k8s.io", "-port", str(port),
           "-requests", str(len(payloads)), "-send", payloads[0].decode(), "portforward"]
    p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    assert p.returncode == 0, p.stderr
    res = [json.loads(ln) for ln in p.stdout.splitlines()]
    return [r.get("data", "").encode() for r in res]
