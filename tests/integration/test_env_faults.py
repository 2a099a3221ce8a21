"""Faults of the environment uvmd runs in (issue 15, part 5): the pod's agent
killed, the OCI runtime failing, a CNI plugin hanging past its timeout, the
data or state root full (ENOSPC), the state root read-only, a registry that
drops connections. Each must end the CRI call with a clear status (code and
words of the message), leave nothing behind (leakcheck.py, snapshot taken
after a warm-up pod), and leave the daemon working once the fault is gone.

Every fixture undoes its own mounts, processes and bridge, also when the test
fails."""
import json
import os
import select
import signal
import socket
import subprocess
import threading
import time

import grpc
import pytest

from imagelib import (  # noqa: F401 (fixtures)
    build_image, image_dir, image_multi, image_single, registry, registry_factory)
from leakcheck import files, leaked, snapshot
from test_pods import (BRIDGE, _conflist, _create, _ctr_config, _pod_config, _run_pod,
                       _status, _wait_for, _wait_state, pods_cleanup, pods_daemon)
from uvmdlib import pb

RUNC = "/usr/sbin/runc"
# The bridge stays for the next pod, as on a node; logs live outside the roots.
KEEP = [r"^link %s$" % BRIDGE]


def _code(fn):
    with pytest.raises(grpc.RpcError) as e:
        fn()
    # Shown with a failure (and with -s): what the client was told.
    print("status %s: %s" % (e.value.code().name, e.value.details()))
    return e.value.code(), e.value.details()


# ------------------------------------------------------------------ helpers


class Tmpfs:
    """A tmpfs of its own at path, unmounted (lazily, so a busy daemon cannot
    keep it) at the end of the test."""

    def __init__(self, path, size):
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0711" % size, "tmpfs", path],
                       check=True)
        self.path = path

    def remount(self, opts):
        subprocess.run(["mount", "-o", "remount," + opts, self.path], check=True)

    def fill(self, leave=0):
        """Fill it with one file, leaving about `leave` bytes free."""
        filler = os.path.join(self.path, "filler")
        st = os.statvfs(self.path)
        want = max(st.f_bavail * st.f_frsize - leave, 0)
        with open(filler, "wb") as f:
            try:
                while want > 0:
                    n = min(want, 1 << 20)
                    f.write(b"\0" * n)
                    want -= n
                f.flush()
            except OSError:
                pass
        return filler

    def umount(self):
        subprocess.run(["umount", "-l", self.path], capture_output=True)


def _agents(d):
    return _pgrep("uvmd-agent.*" + d.state)


def _pgrep(pattern):
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes: it holds nothing but its slot.
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def _warm_up(d):
    """One pod run and removed: the bridge and uvmd's directories exist
    before the snapshot."""
    c = d.client()
    cfg = _pod_config(d, "warm")
    pid = _run_pod(c, cfg)
    c.rt("StopPodSandbox", pod_sandbox_id=pid)
    c.rt("RemovePodSandbox", pod_sandbox_id=pid)


def _works(d, name="after"):
    """The daemon still runs a pod with a container once the fault is gone."""
    c, m = d.client(), pb()
    cfg = _pod_config(d, name)
    pid = _run_pod(c, cfg)
    cid = _create(c, pid, _ctr_config(d, "c", "echo ok; sleep 100"), cfg)
    c.rt("StartContainer", container_id=cid)
    assert _status(c, cid).state == m.CONTAINER_RUNNING
    c.rt("StopPodSandbox", pod_sandbox_id=pid)
    c.rt("RemovePodSandbox", pod_sandbox_id=pid)


def _on_bridge():
    out = subprocess.run(["ip", "-o", "link", "show", "master", BRIDGE], capture_output=True,
                         text=True).stdout
    return {ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines() if ":" in ln}


def _ours(d, bad):
    """What of a leak report is this daemon's: other uvmds, containerd and
    their pods may run on the machine at the same time (benchmarks, soaks),
    and nsfs mounts, interfaces and cgroups are machine-wide. Ours: under
    our work dir, on our bridge, or named in our daemon's log (pod ids)."""
    log = d.log()
    bridge = _on_bridge()

    def mine(kind, e):
        if kind == "mounts":
            return d.workdir in e
        if kind == "interfaces":
            name = e.split(" ", 1)[1]
            return name in bridge or name in log
        if kind in ("netns", "cgroups"):
            return any(part in log for part in e.split(" ", 1)[1].split("/") if len(part) >= 12)
        return True
    out = {}
    for kind, entries in bad.items():
        keep = [e for e in entries if mine(kind, e)]
        if keep:
            out[kind] = keep
    return out


def _assert_clean(d, before):
    after = snapshot(d)
    bad = _ours(d, leaked(before, after, ignore=KEEP))
    if before.fds is not None and after.fds is not None and after.fds > before.fds + 4:
        bad["uvmd fds"] = ["%d before, %d after" % (before.fds, after.fds)]
    assert not bad, "left behind: %r" % bad


def _finish(d, before):
    """Nothing listed, nothing left."""
    c = d.client()
    assert list(c.rt("ListPodSandbox").items) == []
    assert list(c.rt("ListContainers").containers) == []
    _assert_clean(d, before)


@pytest.fixture
def env(daemon_factory, workdir, image_single):
    """Starts a pods daemon with optional tmpfs roots and extra config;
    cleans up pods, the daemon and the mounts whatever happens."""
    made = {"daemons": [], "mounts": []}

    def start(extra_config=None, state_size=None, data_size=None):
        if state_size:
            made["mounts"].append(Tmpfs(os.path.join(workdir, "state"), state_size))
        if data_size:
            made["mounts"].append(Tmpfs(os.path.join(workdir, "data"), data_size))
        d = pods_daemon(daemon_factory, workdir, image_single, extra_config)
        made["daemons"].append(d)
        return d

    start.made = made
    yield start
    for t in made["mounts"]:
        subprocess.run(["mount", "-o", "remount,rw", t.path], capture_output=True)
        filler = os.path.join(t.path, "filler")
        if os.path.exists(filler):
            os.unlink(filler)
    for d in made["daemons"]:
        pods_cleanup(d)
        d.stop()
    for t in made["mounts"]:
        t.umount()


# ------------------------------------------------------- 1. the agent killed


def test_agent_killed(env):
    d = env()
    c, m = d.client(), pb()
    _warm_up(d)
    before = snapshot(d)
    cfg = _pod_config(d, "ak")
    pod = _run_pod(c, cfg)
    # A duration no other test uses: the container's process is found by it.
    cid = _create(c, pod, _ctr_config(d, "c", "sleep 987654"), cfg)
    c.rt("StartContainer", container_id=cid)
    assert _pgrep("sleep 987654")
    agents = _agents(d)
    assert len(agents) == 1, agents
    os.kill(agents[0], signal.SIGKILL)

    _wait_for("the pod to turn NOTREADY",
              lambda: c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.state ==
              m.SANDBOX_NOTREADY)
    _wait_for("the container to turn EXITED",
              lambda: _status(c, cid).state == m.CONTAINER_EXITED)
    st = _status(c, cid)
    assert st.reason, st
    assert st.finished_at > 0, st
    # EXITED means exited: the agent's container did not outlive it.
    assert _pgrep("sleep 987654") == []
    assert not [ln for ln in open("/proc/self/mountinfo") if d.state + "/pods/" in ln]
    listed = {x.id: x.state for x in c.rt("ListContainers").containers}
    assert listed == {cid: m.CONTAINER_EXITED}, listed
    # Calls that need the agent say it is gone.
    code, msg = _code(lambda: c.rt("ExecSync", pb().ExecSyncRequest(
        container_id=cid, cmd=["true"], timeout=5), timeout=30))
    assert code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.NOT_FOUND), (code, msg)
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemoveContainer", container_id=cid)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    _finish(d, before)
    _works(d)
    _finish(d, before)


def test_agent_killed_while_uvmd_is_away(env):
    d = env()
    c, m = d.client(), pb()
    _warm_up(d)
    before = snapshot(d)
    cfg = _pod_config(d, "aw")
    pod = _run_pod(c, cfg)
    cid = _create(c, pod, _ctr_config(d, "c", "sleep 987655"), cfg)
    c.rt("StartContainer", container_id=cid)
    d.proc.kill()
    d.proc.wait()
    agents = _agents(d)
    assert len(agents) == 1, agents
    os.kill(agents[0], signal.SIGKILL)
    _wait_for("the agent to go", lambda: not _agents(d))
    d.start()
    c = d.client()
    assert c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.state == m.SANDBOX_NOTREADY
    st = _wait_state(c, cid, m.CONTAINER_EXITED)
    assert st.reason, st
    assert _pgrep("sleep 987655") == []
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    # The restarted daemon's fds are not the first one's.
    before.fds = None
    _finish(d, before)
    _works(d)
    _finish(d, before)


# --------------------------------------------------------- 2. runc failing


WRAPPER = """#!/bin/sh
# The real runc, unless a file fail-<command> exists next to this script:
# then that command fails as a runtime would, with a message on stderr.
sub=""
skip=0
for a in "$@"; do
        if [ $skip = 1 ]; then skip=0; continue; fi
        case "$a" in
        --root|--log|--log-format|--criu) skip=1 ;;
        -*) ;;
        *) sub="$a"; break ;;
        esac
done
if [ -n "$sub" ] && [ -e "{dir}/fail-$sub" ]; then
        echo "wrapper: injected failure of runc $sub" >&2
        exit 1
fi
exec {runc} "$@"
"""


@pytest.fixture
def runc_wrapper(workdir):
    wd = os.path.join(workdir, "rt")
    os.makedirs(wd)
    path = os.path.join(wd, "runc-wrap")
    with open(path, "w") as f:
        f.write(WRAPPER.replace("{dir}", wd).replace("{runc}", RUNC))
    os.chmod(path, 0o755)
    return path


def _fail(wrapper, cmd, on=True):
    flag = os.path.join(os.path.dirname(wrapper), "fail-" + cmd)
    if on:
        open(flag, "w").close()
    elif os.path.exists(flag):
        os.unlink(flag)


def test_runc_create_fails(env, runc_wrapper):
    d = env({"oci_runtime": runc_wrapper})
    c, m = d.client(), pb()
    _warm_up(d)
    before = snapshot(d)
    cfg = _pod_config(d, "rc")
    pod = _run_pod(c, cfg)
    ok = _create(c, pod, _ctr_config(d, "ok", "sleep 1000"), cfg)  # the pod's first container
    state_before = files(d.state)
    _fail(runc_wrapper, "create")
    code, msg = _code(lambda: _create(c, pod, _ctr_config(d, "bad", "sleep 1000"), cfg))
    assert code == grpc.StatusCode.INTERNAL, (code, msg)
    assert "runc create failed" in msg and "injected failure of runc create" in msg, msg
    # Not half made: not listed, no file of it under the state root.
    assert [x.id for x in c.rt("ListContainers").containers] == [ok]
    assert files(d.state) == state_before, files(d.state) ^ state_before
    _fail(runc_wrapper, "create", False)
    # The name is free again.
    again = _create(c, pod, _ctr_config(d, "bad", "sleep 1000"), cfg)
    c.rt("StartContainer", container_id=again)
    assert _status(c, again).state == m.CONTAINER_RUNNING
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    _finish(d, before)


def test_runc_start_fails(env, runc_wrapper):
    d = env({"oci_runtime": runc_wrapper})
    c, m = d.client(), pb()
    _warm_up(d)
    before = snapshot(d)
    cfg = _pod_config(d, "rs")
    pod = _run_pod(c, cfg)
    cid = _create(c, pod, _ctr_config(d, "c", "sleep 1000"), cfg)
    _fail(runc_wrapper, "start")
    code, msg = _code(lambda: c.rt("StartContainer", container_id=cid))
    assert code == grpc.StatusCode.INTERNAL, (code, msg)
    assert "runc start failed" in msg and "injected failure of runc start" in msg, msg
    # One state, the same in every call that reports it.
    st = _status(c, cid)
    assert st.state in (m.CONTAINER_CREATED, m.CONTAINER_EXITED), st
    listed = {x.id: x.state for x in c.rt("ListContainers").containers}
    assert listed == {cid: st.state}, (listed, st.state)
    if st.state == m.CONTAINER_EXITED:
        assert st.reason and st.finished_at > 0, st
    _fail(runc_wrapper, "start", False)
    c.rt("RemoveContainer", container_id=cid)
    assert list(c.rt("ListContainers").containers) == []
    # The same pod still runs containers.
    ok = _create(c, pod, _ctr_config(d, "c", "sleep 1000"), cfg)
    c.rt("StartContainer", container_id=ok)
    assert _status(c, ok).state == m.CONTAINER_RUNNING
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    _finish(d, before)


# ------------------------------------------ 3. a CNI plugin hanging on ADD

HANG_PLUGIN = """#!/bin/sh
# ADD never answers (and has a child that would outlive a plain kill of the
# shell); everything else answers at once.
case "$CNI_COMMAND" in
ADD)
        echo $$ >> {dir}/pids
        sleep 3600 &
        echo $! >> {dir}/pids
        wait
        ;;
VERSION)
        echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}'
        ;;
esac
exit 0
"""


def test_cni_plugin_hangs_past_its_timeout(env, workdir):
    bindir = os.path.join(workdir, "cnibin")
    os.makedirs(bindir)
    plugin = os.path.join(bindir, "uvmd-hang")
    with open(plugin, "w") as f:
        f.write(HANG_PLUGIN.replace("{dir}", bindir))
    os.chmod(plugin, 0o755)
    d = env({"cni_bin_dirs": [bindir, "/usr/lib/cni"], "cni_plugin_timeout_ms": 1500})
    c = d.client()
    _warm_up(d)
    before = snapshot(d)
    conf = os.path.join(d.workdir, "cni", "10-test.conflist")
    good = _conflist(os.path.dirname(conf), d.ipam)
    hang = dict(good, plugins=good["plugins"] + [{"type": "uvmd-hang"}])
    with open(conf, "w") as f:
        json.dump(hang, f)
    t0 = time.time()
    code, msg = _code(lambda: _run_pod(c, _pod_config(d, "hang")))
    took = time.time() - t0
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED, (code, msg)
    assert "uvmd-hang" in msg and "timed out" in msg, msg
    assert took < 30, took
    # The plugin and its child were killed; bridge's ADD was undone (DEL ran).
    pids = [int(x) for x in open(os.path.join(bindir, "pids")).read().split()]
    assert len(pids) == 2 and not [p for p in pids if _alive(p)], pids
    _finish(d, before)
    with open(conf, "w") as f:
        json.dump(good, f)
    _works(d)
    _finish(d, before)


def test_cni_plugin_timeout_is_bounded(workdir):
    from conftest import Daemon
    for bad in (0, 10 ** 9, "10"):
        d = Daemon(workdir, config={"cni_plugin_timeout_ms": bad})
        r = subprocess.run(d.args(), capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "cni_plugin_timeout_ms" in r.stderr, (bad, r.stderr)


# ------------------------------------------------------------- 4. ENOSPC


@pytest.fixture(scope="module")
def image_big(image_dir):
    return build_image(os.path.join(image_dir, "big"), "big")


def test_enospc_during_a_pull(env, registry, image_big):
    registry.push(image_big, "test/big", "latest")
    d = env({"insecure_registries": [registry.host]}, data_size="8m")
    c = d.client()
    t = env.made["mounts"][-1]
    before = files(d.data)
    ref = "%s/test/big:latest" % registry.host
    code, msg = _code(lambda: c.img("PullImage", image=pb().ImageSpec(image=ref), timeout=300))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, msg)
    assert "No space left" in msg, msg
    # No partial blob, ingest file or unpacked layer.
    assert files(d.data) == before, sorted(files(d.data) ^ before)
    assert [i.id for i in c.img("ListImages").images] == [d.image]
    t.remount("size=400m")
    got = c.img("PullImage", image=pb().ImageSpec(image=ref), timeout=300).image_ref
    assert got == image_big.config_digest
    c.img("RemoveImage", image=pb().ImageSpec(image=ref))
    assert files(d.data) == before, sorted(files(d.data) ^ before)


def test_enospc_during_a_container_create(env):
    d = env(state_size="64m")
    c, m = d.client(), pb()
    t = env.made["mounts"][-1]
    _warm_up(d)
    before = snapshot(d)
    cfg = _pod_config(d, "full")
    pod = _run_pod(c, cfg)
    state_before = files(d.state)
    filler = t.fill()
    code, msg = _code(lambda: _create(c, pod, _ctr_config(d, "c", "sleep 1000"), cfg))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, msg)
    assert "No space left" in msg, msg
    assert list(c.rt("ListContainers").containers) == []
    # The pod's containers dir is the pod's (made by its first create).
    left = {f for f in files(d.state) - state_before - {"filler"}
            if not f.endswith("/" + pod + "/containers")}
    assert not left, sorted(left)
    os.unlink(filler)
    cid = _create(c, pod, _ctr_config(d, "c", "sleep 1000"), cfg)
    c.rt("StartContainer", container_id=cid)
    assert _status(c, cid).state == m.CONTAINER_RUNNING
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    _finish(d, before)


# -------------------------------------------------- 5. state root read-only


def test_state_root_read_only(env):
    d = env(state_size="64m")
    c = d.client()
    t = env.made["mounts"][-1]
    _warm_up(d)
    before = snapshot(d)
    t.remount("ro")
    code, msg = _code(lambda: _run_pod(c, _pod_config(d, "ro")))
    assert code != grpc.StatusCode.OK
    assert "Read-only file system" in msg, (code, msg)
    assert list(c.rt("ListPodSandbox").items) == []
    _assert_clean(d, before)
    t.remount("rw")
    _works(d)
    _finish(d, before)


# ------------------------------------- 6. a registry that drops connections


class DropProxy:
    """A TCP proxy on 127.0.0.1 in front of a registry. Modes: "pass";
    "accept" closes each connection right after accepting it; "cut" closes
    a connection once `cut_after` bytes of a blob's response went through.
    `times` limits how many connections are broken (None: all)."""

    def __init__(self, upstream_port):
        self.upstream = ("127.0.0.1", upstream_port)
        self.mode, self.cut_after, self.times = "pass", 0, None
        self.broken = 0
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.host = "127.0.0.1:%d" % self.srv.getsockname()[1]
        self.stopped = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode, cut_after=0, times=None):
        with self.lock:
            self.mode, self.cut_after, self.times, self.broken = mode, cut_after, times, 0

    def _take(self, mode):
        with self.lock:
            if self.mode != mode or (self.times is not None and self.broken >= self.times):
                return False
            self.broken += 1
            return True

    def _accept(self):
        while not self.stopped:
            try:
                s, _ = self.srv.accept()
            except OSError:
                return
            if self._take("accept"):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                s.close()
                continue
            self.conns.append(s)
            threading.Thread(target=self._relay, args=(s,), daemon=True).start()

    def _relay(self, a):
        try:
            b = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            a.close()
            return
        self.conns.append(b)
        blob, sent, cut = False, 0, False
        try:
            while True:
                r, _, _ = select.select([a, b], [], [], 30)
                if not r:
                    break
                if a in r:
                    data = a.recv(65536)
                    if not data:
                        break
                    if b"GET " in data:
                        blob = b"/blobs/sha256:" in data
                        sent = 0
                        cut = blob and self.mode == "cut" and self._take("cut")
                    b.sendall(data)
                if b in r:
                    data = b.recv(65536)
                    if not data:
                        break
                    if cut and sent + len(data) > self.cut_after:
                        a.sendall(data[: max(self.cut_after - sent, 0)])
                        break
                    sent += len(data)
                    a.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self):
        self.stopped = True
        self.srv.close()
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture
def drop_proxy(registry):
    p = DropProxy(registry.port)
    yield p
    p.close()


@pytest.mark.parametrize("mode", ["accept", "cut"])
def test_registry_drops_connections(daemon_factory, registry, drop_proxy, image_multi, mode):
    registry.push(image_multi, "test/multi", "latest")
    p = drop_proxy
    d = daemon_factory(config={"insecure_registries": [p.host]})
    c = d.client()
    ref = "%s/test/multi:latest" % p.host
    spec = pb().ImageSpec(image=ref)
    before = files(d.data)
    p.set(mode, cut_after=20000)
    t0 = time.time()
    code, msg = _code(lambda: c.img("PullImage", image=spec, timeout=120))
    assert code == grpc.StatusCode.UNAVAILABLE, (code, msg)
    assert p.host in msg, msg
    if mode == "cut":
        assert "sha256:" in msg, msg  # which blob
    assert time.time() - t0 < 60
    # No partial blob, temp file or unpacked layer.
    assert files(d.data) == before, sorted(files(d.data) ^ before)
    assert list(c.img("ListImages").images) == []
    # A connection broken once is retried within the same pull.
    p.set(mode, cut_after=20000, times=1)
    assert c.img("PullImage", image=spec, timeout=120).image_ref == image_multi.config_digest
    assert p.broken == 1
    c.img("RemoveImage", image=spec)
    p.set("pass")
    assert c.img("PullImage", image=spec, timeout=120).image_ref == image_multi.config_digest
    c.img("RemoveImage", image=spec)
    # The store's index stays once written, empty.
    assert files(d.data) - {"images/images.json"} == before, sorted(files(d.data) ^ before)
    with open(os.path.join(d.data, "images", "images.json")) as f:
        assert json.load(f)["images"] == []
