"""Shared fixtures: build-free access to the uvmd binary, a running daemon on a
temporary socket, and a generic gRPC client built from our own .proto files.

Stubs are generated at test time with python3-grpc-tools (Debian), so the
client is independent of the server's C code.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

from uvmdlib import Client, gen_stubs  # noqa: E402


def uvmd_binary():
    b = os.environ.get("UVMD_BIN") or os.path.join(ROOT, "bazel-bin", "service", "uvmd")
    if not os.path.exists(b):
        pytest.fail("uvmd binary not built: %s (run bazel build //...)" % b)
    return b


class Daemon:
    """One uvmd process with its own socket, state and data roots."""

    def __init__(self, workdir, config=None, extra_args=()):
        self.workdir = workdir
        self.socket = os.path.join(workdir, "uvmd.sock")
        self.state = os.path.join(workdir, "state")
        self.data = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "uvmd.log")
        self.config = config
        self.extra_args = list(extra_args)
        self.proc = None

    def args(self):
        a = [uvmd_binary(), "--socket", self.socket, "--state-root", self.state,
             "--data-root", self.data, "--log-level", "debug"]
        cfg = os.path.join(self.workdir, "config.json")
        if self.config is not None:
            with open(cfg, "w") as f:
                f.write(self.config if isinstance(self.config, str) else __import__("json").dumps(self.config))
            a += ["--config", cfg]
        else:
            # Never pick up the machine's /etc/uvmd/config.json in tests.
            with open(cfg, "w") as f:
                f.write("{}")
            a += ["--config", cfg]
        return a + self.extra_args

    def start(self, wait=True):
        self.logf = open(self.log_path, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=66")
        self.proc = subprocess.Popen(self.args(), stdout=self.logf, stderr=subprocess.STDOUT, env=env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("uvmd exited with %s:\n%s" % (self.proc.returncode, self.log()))
            if os.path.exists(self.socket):
                try:
                    Client(self.socket).version(timeout=1)
                    return
                except Exception:
                    pass
            time.sleep(0.02)
        raise RuntimeError("uvmd not ready after %ss:\n%s" % (timeout, self.log()))

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("uvmd did not stop within %ss:\n%s" % (timeout, self.log()))
        return rc

    def client(self):
        return Client(self.socket)


@pytest.fixture(scope="session", autouse=True)
def stubs():
    gen_stubs()


@pytest.fixture
def workdir():
    # Short paths: unix socket paths are limited to 108 bytes.
    d = tempfile.mkdtemp(prefix="uvmd-", dir="/tmp")
    # As /run is: a pod in a user namespace must be able to reach its rootfs.
    os.chmod(d, 0o711)
    yield d
    if not os.environ.get("UVMD_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemon_factory(workdir):
    made = []

    def make(config=None, extra_args=(), start=True, sub=None):
        wd = os.path.join(workdir, sub) if sub else workdir
        os.makedirs(wd, exist_ok=True)
        d = Daemon(wd, config=config, extra_args=extra_args)
        made.append(d)
        return d.start() if start else d

    yield make
    for d in made:
        rc = d.stop()
        # Leak reports from an ASan build make the exit code 66.
        assert rc in (0, None, -9), "uvmd exit code %s:\n%s" % (rc, d.log()[-4000:])


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory()


@pytest.fixture
def client(daemon):
    return daemon.client()
