"""The short soak of the test command (issue 15, part 4): 100 pod + container
lifecycles from 4 clients at once (tests/soak/soak.py, the same cycle as
tests/soak/run.sh), then nothing of this uvmd's may be left."""
import os
import shutil
import sys

import leakcheck
from conftest import uvmd_binary
from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_pods import (BRIDGE, _create, _ctr_config, _pod_config, _run_pod, pods,  # noqa: F401
                       pods_cleanup, pods_daemon)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "soak"))
import soak  # noqa: E402

CYCLES = int(os.environ.get("UVMD_SOAK_CYCLES", "100"))
CLIENTS = 4
RSS_LIMIT_MIB = 8.0


def _sanitized(pid):
    """ASan keeps freed memory in quarantine: RSS says nothing there."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def test_soak_short(pods):
    d = pods
    # One cycle per client first: threads, arenas and the bridge exist.
    warm = soak.run_cycles(d.socket, d.image, d.logs, CLIENTS, CLIENTS, first=-CLIENTS)
    assert not warm.failures, warm.failures
    before = leakcheck.snapshot(d)
    res = soak.run_cycles(d.socket, d.image, d.logs, CYCLES, CLIENTS)
    after, ours, others = soak.wait_no_leaks(d, before, res.pod_ids | warm.pod_ids, BRIDGE)
    print("\n".join(soak.summary(res, CLIENTS, before, after)))
    print("not this uvmd's, ignored: %r" % others)
    assert not res.failures, res.failures
    assert res.done == CYCLES and len(res.pod_ids) == CYCLES
    assert not ours, "left behind: %r" % ours
    c = d.client()
    assert list(c.rt("ListPodSandbox").items) == []
    assert list(c.rt("ListContainers").containers) == []
    if not _sanitized(d.proc.pid):
        growth = (after.rss_kib - before.rss_kib) / 1024.0
        assert growth <= RSS_LIMIT_MIB, "uvmd RSS grew by %.1f MiB" % growth


def test_soak_leak_filter_sees_our_pod(pods):
    """own_leaks() leaves out what other runtimes on the machine do; it
    must still see everything a pod of this uvmd holds."""
    d = pods
    c = d.client()
    soak.run_cycles(d.socket, d.image, d.logs, 1, 1)  # the bridge exists
    before = leakcheck.snapshot(d)
    cfg = _pod_config(d, "held")
    pod = _run_pod(c, cfg)
    cid = _create(c, pod, _ctr_config(d, "c", "sleep 1000"), cfg)
    c.rt("StartContainer", container_id=cid)
    ours, _ = soak.own_leaks(d, before, leakcheck.snapshot(d), {pod}, BRIDGE)
    for kind in ("processes", "mounts", "interfaces", "cgroups", "state files", "ip leases"):
        assert kind in ours, (kind, ours)
    assert any(pod in e for e in ours["cgroups"]), ours["cgroups"]
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    after, ours, _ = soak.wait_no_leaks(d, before, {pod}, BRIDGE)
    assert not ours, ours


def test_binary_replaced_while_running(daemon_factory, workdir, image_single, monkeypatch):
    """Found by the soak while the binary was rebuilt under it, as a
    package upgrade replaces it: uvmd must still find its agent when its
    own executable is gone (/proc/self/exe then names a deleted file)."""
    exe = soak.private_binaries(workdir, uvmd_binary())
    monkeypatch.setenv("UVMD_BIN", exe)
    d = pods_daemon(daemon_factory, workdir, image_single, sub="up")
    try:
        # What dpkg does: the new file next to the old, renamed over it.
        shutil.copy2(exe, exe + ".new")
        os.rename(exe + ".new", exe)
        res = soak.run_cycles(d.socket, d.image, d.logs, 1, 1)
        assert not res.failures, res.failures
    finally:
        pods_cleanup(d)
