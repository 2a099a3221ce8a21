"""uvmd SIGKILLed at each named step of a pod or container call (the fault
points of common/fault.h, listed in docs/pods.md), then restarted on the same
roots: every pod and container it finds must be reportable and removable, a
container started before the kill must still run, the kubelet's retry of
RunPodSandbox must work, and once everything is removed nothing may be left
(leakcheck.py: processes, mounts, netns, links, cgroups, state files, IP
leases, uvmd's fds).

The killing binary is //service:uvmd-fault, next to uvmd; UVMD_FAULT names
the step. Run this suite alone with tests/integration/run-faults.sh."""
import os
import re
import signal
import subprocess

import grpc
import pytest

from conftest import uvmd_binary
from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from leakcheck import assert_no_leaks, snapshot
from test_pods import (BRIDGE, _create, _ctr_config, _exec, _pod_config, _run_pod, _status, pods_cleanup,
                       pods_daemon)
from uvmdlib import pb

# step -> the call that reaches it (what the test drives up to the kill)
STEPS = {
    "run_pod.record_created": "run_pod",
    "run_pod.netns_created": "run_pod",
    "run_pod.cni_added": "run_pod",
    "run_pod.agent_spawned": "run_pod",
    "run_pod.record_written": "run_pod",
    "create_ctr.record_written": "create_ctr",
    "create_ctr.runc_created": "create_ctr",
    "start_ctr.started": "start_ctr",
    "remove_ctr.runc_deleted": "remove_ctr",
    "stop_pod.ctrs_stopped": "stop_pod",
    "stop_pod.cni_deleted": "stop_pod",
    "stop_pod.netns_removed": "stop_pod",
    "stop_pod.record_written": "stop_pod",
    "remove_pod.ctrs_removed": "remove_pod",
    "remove_pod.cgroup_removed": "remove_pod",
    "remove_pod.record_removed": "remove_pod",
}


def fault_binary():
    b = os.path.join(os.path.dirname(uvmd_binary()), "uvmd-fault")
    if not os.path.exists(b):
        pytest.fail("uvmd-fault not built: %s (bazel build //...)" % b)
    return b


def _start(d, binary, fault=None):
    """Start d's daemon on its roots with another binary (and UVMD_FAULT)."""
    args = d.args()
    args[0] = binary
    env = dict(os.environ)
    env.pop("UVMD_FAULT", None)
    if fault:
        env["UVMD_FAULT"] = fault
    d.logf = open(d.log_path, "ab")
    d.proc = subprocess.Popen(args, stdout=d.logf, stderr=subprocess.STDOUT, env=env)
    d.wait_ready()
    return d.client()


@pytest.fixture
def fpods(daemon_factory, workdir, image_single):
    d = pods_daemon(daemon_factory, workdir, image_single)
    yield d
    # A failed test may have left the fault daemon dead: pods outlive it.
    if d.proc.poll() is not None:
        try:
            _start(d, uvmd_binary())
        except RuntimeError:
            pass
    pods_cleanup(d)


def _not_ours(d):
    """leakcheck ignore patterns for what other runtimes on this machine (a
    soak run, containerd in a benchmark) make meanwhile: nsfs mounts outside
    our roots, containerd's named netns (uvmd pins its own under the state
    root), links not on our bridge, cgroups of pods our log never named."""
    ours = subprocess.run(["ip", "-o", "link", "show", "master", BRIDGE],
                          capture_output=True, text=True).stdout
    links = [BRIDGE] + re.findall(r"^\d+: ([^:@]+)", ours, re.M)
    ids = sorted(set(re.findall(r"\b[0-9a-f]{64}\b", d.log())))
    return [r"^nsfs (?!%s/)" % re.escape(d.workdir), r"^netns cni-",
            r"^link (?!(%s)$)" % "|".join(map(re.escape, links)),
            r"^cgroup [^ ]*/uvmd/(?!(%s)(/|$))" % "|".join(ids or ["-"])]


def _running(c, cid):
    st = _status(c, cid)
    assert st.state == pb().CONTAINER_RUNNING, st
    assert st.started_at > 0, st
    assert _exec(c, cid, ["echo", "alive"])[1] == "alive\n"


def _pod_and_keeper(d, c, cfg):
    """The pod under test with a container that must survive the kill."""
    pod = _run_pod(c, cfg)
    keep = _create(c, pod, _ctr_config(d, "keep", "sleep 100000"), cfg)
    c.rt("StartContainer", container_id=keep)
    return pod, keep


def _drive(d, c, op, cfg):
    """Calls up to the one that must kill uvmd; returns (ids made, killer)."""
    m = pb()
    made = {}
    if op == "run_pod":
        return made, lambda: _run_pod(c, cfg)
    made["pod"], made["keep"] = _pod_and_keeper(d, c, cfg)
    x = _ctr_config(d, "x", "sleep 100000")
    if op == "create_ctr":
        return made, lambda: _create(c, made["pod"], x, cfg)
    made["x"] = _create(c, made["pod"], x, cfg)
    if op == "start_ctr":
        return made, lambda: c.rt("StartContainer", container_id=made["x"])
    c.rt("StartContainer", container_id=made["x"])
    if op == "remove_ctr":
        c.rt("StopContainer", m.StopContainerRequest(container_id=made["x"], timeout=0))
        return made, lambda: c.rt("RemoveContainer", container_id=made["x"])
    if op == "stop_pod":
        return made, lambda: c.rt("StopPodSandbox", pod_sandbox_id=made["pod"])
    c.rt("StopPodSandbox", pod_sandbox_id=made["pod"])
    return made, lambda: c.rt("RemovePodSandbox", pod_sandbox_id=made["pod"])


def _expect(c, step, made, pods, ctrs):
    """What each step must leave, beyond 'reportable and removable'."""
    m = pb()
    op = STEPS[step]
    pod = made.get("pod") or next((p.id for p in pods.values() if p.metadata.name == "f"), None)
    if step == "run_pod.record_written":
        # Complete but unanswered: the kubelet finds it READY by its labels.
        assert pod and pods[pod].state == m.SANDBOX_READY, pods
    elif op == "run_pod":
        # Half made: gone, or NOTREADY for the kubelet to remove.
        assert pod is None or pods[pod].state == m.SANDBOX_NOTREADY, pods
    if op in ("create_ctr", "start_ctr", "remove_ctr"):
        assert pods[pod].state == m.SANDBOX_READY
        _running(c, made["keep"])  # pods and containers outlive uvmd
    if step == "start_ctr.started":
        _running(c, made["x"])  # the agent started it: it runs
    if step == "create_ctr.runc_created":
        new = [x for x in ctrs.values() if x.metadata.name == "x"]
        assert [x.state for x in new] == [m.CONTAINER_CREATED], new
    if op == "stop_pod":
        assert pods[pod].state == m.SANDBOX_NOTREADY, pods[pod]
        assert ctrs[made["keep"]].state == m.CONTAINER_EXITED
    if step in ("remove_pod.ctrs_removed", "remove_pod.cgroup_removed"):
        left = [x for x in ctrs.values() if x.pod_sandbox_id == pod]
        assert pods[pod].state == m.SANDBOX_NOTREADY and not left, (pods[pod], left)
    if step == "remove_pod.record_removed":
        assert pod not in pods, pods


def _remove_everything(c):
    """As the kubelet would: report, stop and remove every container and pod."""
    m = pb()
    pods = {p.id: p for p in c.rt("ListPodSandbox").items}
    ctrs = {x.id: x for x in c.rt("ListContainers").containers}
    for cid in ctrs:
        c.rt("ContainerStatus", container_id=cid)
        c.rt("StopContainer", m.StopContainerRequest(container_id=cid, timeout=0))
        c.rt("RemoveContainer", container_id=cid)
    for pid in pods:
        c.rt("PodSandboxStatus", pod_sandbox_id=pid, verbose=True)
        c.rt("StopPodSandbox", pod_sandbox_id=pid)
        c.rt("RemovePodSandbox", pod_sandbox_id=pid)
    assert list(c.rt("ListPodSandbox").items) == []
    assert list(c.rt("ListContainers").containers) == []


@pytest.mark.parametrize("step", list(STEPS))
def test_killed_at_step(fpods, step):
    d, c = fpods, fpods.client()
    m = pb()
    # Warm-up: the network's and the image store's first-use files exist.
    w_cfg = _pod_config(d, "warm")
    w = _run_pod(c, w_cfg)
    c.rt("StartContainer", container_id=_create(c, w, _ctr_config(d, "w", "sleep 100"), w_cfg))
    c.rt("StopPodSandbox", pod_sandbox_id=w)
    c.rt("RemovePodSandbox", pod_sandbox_id=w)
    before = snapshot(d)
    # A bystander pod the kill must not touch.
    b_cfg = _pod_config(d, "by")
    by = _run_pod(c, b_cfg)
    by_ctr = _create(c, by, _ctr_config(d, "b", "sleep 100000"), b_cfg)
    c.rt("StartContainer", container_id=by_ctr)

    assert d.stop() == 0
    # The keeper's own create and start are the first hits of those steps.
    nth = 2 if STEPS[step] in ("create_ctr", "start_ctr") else 1
    c = _start(d, fault_binary(), fault="%s:%d" % (step, nth))
    cfg = _pod_config(d, "f")
    made, killer = _drive(d, c, STEPS[step], cfg)
    with pytest.raises(grpc.RpcError):
        killer()
    try:
        rc = d.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        rc = None
    # A misnamed or unreached step must not pass: uvmd died of the fault.
    assert rc == -signal.SIGKILL, "uvmd exit %s:\n%s" % (rc, d.log()[-3000:])
    assert ("fault: killed at " + step) in d.log()

    c = _start(d, uvmd_binary())
    pods = {p.id: p for p in c.rt("ListPodSandbox").items}
    ctrs = {x.id: x for x in c.rt("ListContainers").containers}
    for pid in pods:
        c.rt("PodSandboxStatus", pod_sandbox_id=pid)
    for cid in ctrs:
        c.rt("ContainerStatus", container_id=cid)
    assert pods[by].state == m.SANDBOX_READY
    _running(c, by_ctr)
    _expect(c, step, made, pods, ctrs)

    _remove_everything(c)
    # The kubelet's retry, with the same metadata.
    pod = _run_pod(c, cfg)
    cid = _create(c, pod, _ctr_config(d, "again", "sleep 100000"), cfg)
    c.rt("StartContainer", container_id=cid)
    _running(c, cid)
    assert c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.network.ip
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    # The bridge stays for the next pod, as it would on a node.
    assert_no_leaks(before, snapshot(d), ignore=[r"^link uvmdtp0$"] + _not_ours(d))
