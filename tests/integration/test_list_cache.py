"""Unfiltered List calls (the kubelet's relist) are answered from a cache of
packed replies while nothing they show has changed (service/list_cache.h).
Here List calls are interleaved with every kind of change -- pods run,
stopped and removed, containers created, started, stopped, removed, exiting
by themselves, a pod's agent dying, uvmd restarted -- and after each one
every unfiltered List (filter absent, and filter present but empty) must
say what the uncached calls say at that moment: Lists filtered by state and
the Status calls. Background threads list all the while (unfiltered and
filtered), so replies are also built and served while changes are under
way.

A cache hit is answered on the queue thread, without a worker: with every
worker held by ExecSync, unfiltered Lists still answer while nothing has
changed; a filtered List and a List after a change (the answer must be
built) wait for a worker."""
import os
import signal
import subprocess
import threading
import time

import grpc
import pytest

from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_pods import (_create, _ctr_config, _pod_config, _run_pod, pods,  # noqa: F401
                       pods_cleanup, pods_daemon)
from uvmdlib import pb


def _pods_unfiltered(c, m):
    a = {p.id: p for p in c.rt("ListPodSandbox").items}
    b = {p.id: p for p in c.rt("ListPodSandbox", filter=m.PodSandboxFilter()).items}
    assert a == b
    return a


def _ctrs_unfiltered(c, m):
    a = {x.id: x for x in c.rt("ListContainers").containers}
    b = {x.id: x for x in c.rt("ListContainers", filter=m.ContainerFilter()).containers}
    assert a == b
    return a


def _agree(c, m):
    """The unfiltered Lists (twice: the second one may come from the cache)
    equal the filtered Lists and the Status calls now. Returns them."""
    for _ in range(2):
        pods = _pods_unfiltered(c, m)
        ctrs = _ctrs_unfiltered(c, m)
    by_state = {}
    for st in (m.SANDBOX_READY, m.SANDBOX_NOTREADY):
        f = m.PodSandboxFilter(state=m.PodSandboxStateValue(state=st))
        by_state.update({p.id: p for p in c.rt("ListPodSandbox", filter=f).items})
    assert pods == by_state
    for pid, p in pods.items():
        assert list(c.rt("ListPodSandbox", filter=m.PodSandboxFilter(id=pid)).items) == [p]
        st = c.rt("PodSandboxStatus", pod_sandbox_id=pid).status
        assert (p.id, p.metadata, p.state, p.created_at, p.runtime_handler, dict(p.labels)) == (
            st.id, st.metadata, st.state, st.created_at, st.runtime_handler, dict(st.labels))
    by_state = {}
    for st in (m.CONTAINER_CREATED, m.CONTAINER_RUNNING, m.CONTAINER_EXITED,
               m.CONTAINER_UNKNOWN):
        f = m.ContainerFilter(state=m.ContainerStateValue(state=st))
        by_state.update({x.id: x for x in c.rt("ListContainers", filter=f).containers})
    assert ctrs == by_state
    for cid, x in ctrs.items():
        assert list(c.rt("ListContainers", filter=m.ContainerFilter(id=cid)).containers) == [x]
        st = c.rt("ContainerStatus", container_id=cid).status
        assert (x.id, x.metadata, x.image, x.image_ref, x.state, x.created_at,
                dict(x.labels)) == (st.id, st.metadata, st.image, st.image_ref, st.state,
                                    st.created_at, dict(st.labels))
        assert x.pod_sandbox_id in pods
    return pods, ctrs


def _poll(what, fn, timeout=30):
    """Wait, with Status calls only (never a List), until fn() is true."""
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class Lister(threading.Thread):
    """Lists, one after another, until stopped: unfiltered replies built,
    replaced and served from the cache while the test changes things; with
    filtered ones in between, which always take a worker."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.d, self.stop, self.calls, self.errors = d, threading.Event(), 0, []

    def run(self):
        m = pb()
        c = self.d.client()
        running = m.ContainerFilter(state=m.ContainerStateValue(state=m.CONTAINER_RUNNING))
        while not self.stop.is_set():
            try:
                c.rt("ListPodSandbox")
                c.rt("ListContainers", filter=m.ContainerFilter())
                c.rt("ListContainers", filter=running)
                c.rt("ListContainers")
                self.calls += 1
            except grpc.RpcError as e:
                # uvmd being restarted by the test
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    self.errors.append(e)
                time.sleep(0.05)
                c = self.d.client()

    def end(self):
        self.stop.set()
        self.join(30)
        assert not self.errors, self.errors
        assert self.calls > 0


def _agent_of(d, pod):
    out = subprocess.run(["pgrep", "-f", "uvmd-agent.*%s/pods/%s" % (d.state, pod)],
                         capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def test_unfiltered_lists_follow_every_change(pods):
    d, m = pods, pb()
    listers = [Lister(d) for _ in range(3)]
    for x in listers:
        x.start()
    try:
        _run_changes(d, m, listers)
    finally:
        for x in listers:
            x.stop.set()
    for x in listers:
        x.end()


def _run_changes(d, m, listers):
    c = d.client()
    assert _agree(c, m) == ({}, {})

    # A pod runs.
    a_cfg = _pod_config(d, "lca")
    a = _run_pod(c, a_cfg)
    pods, _ = _agree(c, m)
    assert pods[a].state == m.SANDBOX_READY

    # A container is created, started, stopped, removed.
    a1 = _create(c, a, _ctr_config(d, "a1", "sleep 1000"), a_cfg)
    _, ctrs = _agree(c, m)
    assert ctrs[a1].state == m.CONTAINER_CREATED and ctrs[a1].image_ref
    c.rt("StartContainer", container_id=a1)
    assert _agree(c, m)[1][a1].state == m.CONTAINER_RUNNING

    # One exits by itself: the cache is warm with it running, then only
    # Status calls see the exit, then the unfiltered List must show it.
    a2 = _create(c, a, _ctr_config(d, "a2", "sleep 2; exit 3"), a_cfg)
    c.rt("StartContainer", container_id=a2)
    assert _agree(c, m)[1][a2].state == m.CONTAINER_RUNNING
    _poll("a2 to exit", lambda: c.rt("ContainerStatus", container_id=a2).status.state ==
          m.CONTAINER_EXITED)
    assert _ctrs_unfiltered(c, m)[a2].state == m.CONTAINER_EXITED
    _agree(c, m)

    c.rt("StopContainer", container_id=a1, timeout=2)
    assert _ctrs_unfiltered(c, m)[a1].state == m.CONTAINER_EXITED
    _agree(c, m)
    c.rt("RemoveContainer", container_id=a1)
    assert a1 not in _ctrs_unfiltered(c, m)
    _agree(c, m)

    # A second pod whose agent dies: the pod and its container change by
    # themselves.
    b_cfg = _pod_config(d, "lcb")
    b = _run_pod(c, b_cfg)
    b1 = _create(c, b, _ctr_config(d, "b1", "sleep 1000"), b_cfg)
    c.rt("StartContainer", container_id=b1)
    pods, ctrs = _agree(c, m)
    assert pods[b].state == m.SANDBOX_READY and ctrs[b1].state == m.CONTAINER_RUNNING
    agents = _agent_of(d, b)
    assert len(agents) == 1, agents
    os.kill(agents[0], signal.SIGKILL)
    _poll("pod b to be not ready", lambda: c.rt("PodSandboxStatus", pod_sandbox_id=b).status.state
          == m.SANDBOX_NOTREADY)
    _poll("b1 to be exited", lambda: c.rt("ContainerStatus", container_id=b1).status.state ==
          m.CONTAINER_EXITED)
    assert _pods_unfiltered(c, m)[b].state == m.SANDBOX_NOTREADY
    assert _ctrs_unfiltered(c, m)[b1].state == m.CONTAINER_EXITED
    _agree(c, m)

    # Pod a stopped (its containers with it), then removed.
    a3 = _create(c, a, _ctr_config(d, "a3", "sleep 1000"), a_cfg)
    c.rt("StartContainer", container_id=a3)
    _agree(c, m)
    c.rt("StopPodSandbox", pod_sandbox_id=a)
    assert _pods_unfiltered(c, m)[a].state == m.SANDBOX_NOTREADY
    assert _ctrs_unfiltered(c, m)[a3].state == m.CONTAINER_EXITED
    _agree(c, m)
    c.rt("RemovePodSandbox", pod_sandbox_id=a)
    assert a not in _pods_unfiltered(c, m)
    assert not {a2, a3} & set(_ctrs_unfiltered(c, m))
    _agree(c, m)

    # uvmd killed while a container exits, then restarted: the Lists of the
    # new uvmd show what it found.
    c_cfg = _pod_config(d, "lcc")
    p = _run_pod(c, c_cfg)
    c1 = _create(c, p, _ctr_config(d, "c1", "sleep 2; exit 4"), c_cfg)
    c2 = _create(c, p, _ctr_config(d, "c2", "sleep 1000"), c_cfg)
    c.rt("StartContainer", container_id=c1)
    c.rt("StartContainer", container_id=c2)
    assert _agree(c, m)[1][c1].state == m.CONTAINER_RUNNING
    d.proc.kill()
    d.proc.wait()
    time.sleep(2.5)
    d.start()
    c = d.client()
    _poll("c1 to be exited", lambda: c.rt("ContainerStatus", container_id=c1).status.state ==
          m.CONTAINER_EXITED)
    pods, ctrs = _agree(c, m)
    assert pods[p].state == m.SANDBOX_READY and pods[b].state == m.SANDBOX_NOTREADY
    assert ctrs[c1].state == m.CONTAINER_EXITED and ctrs[c2].state == m.CONTAINER_RUNNING
    # And after the restart, changes still show.
    c.rt("StopContainer", container_id=c2, timeout=2)
    assert _ctrs_unfiltered(c, m)[c2].state == m.CONTAINER_EXITED
    for pod in (p, b):
        c.rt("StopPodSandbox", pod_sandbox_id=pod)
        c.rt("RemovePodSandbox", pod_sandbox_id=pod)
        assert pod not in _pods_unfiltered(c, m)
    assert _agree(c, m) == ({}, {})


@pytest.fixture
def pods2(daemon_factory, workdir, image_single):  # noqa: F811
    """A pods daemon with two workers: two ExecSyncs hold them all."""
    d = pods_daemon(daemon_factory, workdir, image_single, extra_config={"workers": 2})
    yield d
    pods_cleanup(d)


def _code(fn):
    try:
        fn()
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def _exec_sleep(c, cid, secs, out):
    r = c.rt("ExecSync", pb().ExecSyncRequest(container_id=cid, cmd=["sleep", str(secs)],
                                              timeout=secs + 10), timeout=secs + 30)
    out.append(r.exit_code)


def test_cache_hits_need_no_worker(pods2):
    d, m = pods2, pb()
    c = d.client()
    cfg = _pod_config(d, "lcw")
    p = _run_pod(c, cfg)
    busy = _create(c, p, _ctr_config(d, "busy", "sleep 1000"), cfg)
    victim = _create(c, p, _ctr_config(d, "victim", "sleep 7731"), cfg)
    for x in (busy, victim):
        c.rt("StartContainer", container_id=x)
    pods, ctrs = _agree(c, m)  # the cache holds these now
    ready = m.PodSandboxFilter(state=m.PodSandboxStateValue(state=m.SANDBOX_READY))

    # Both workers held by an ExecSync each.
    done = []
    threads = [threading.Thread(target=_exec_sleep, args=(d.client(), busy, 8, done))
               for _ in range(2)]
    for t in threads:
        t.start()
    try:
        end = time.time() + 5
        while _code(lambda: c.rt("ListPodSandbox", filter=ready, timeout=0.3)) == \
                grpc.StatusCode.OK:
            assert time.time() < end, "the workers never got busy"
        # Hits answer without a worker, the same as before; a filtered List
        # and a Status call still need one.
        for _ in range(20):
            for f in (None, m.PodSandboxFilter()):
                r = c.rt("ListPodSandbox", filter=f, timeout=2)
                assert {x.id: x for x in r.items} == pods
            for f in (None, m.ContainerFilter()):
                r = c.rt("ListContainers", filter=f, timeout=2)
                assert {x.id: x for x in r.containers} == ctrs
        assert _code(lambda: c.rt("ListPodSandbox", filter=ready, timeout=0.5)) == \
            grpc.StatusCode.DEADLINE_EXCEEDED
        assert _code(lambda: c.rt("ListContainers", filter=m.ContainerFilter(id=busy),
                                  timeout=0.5)) == grpc.StatusCode.DEADLINE_EXCEEDED
        assert _code(lambda: c.rt("PodSandboxStatus", pod_sandbox_id=p, timeout=0.5)) == \
            grpc.StatusCode.DEADLINE_EXCEEDED
        # A change no worker made: the victim is killed. Its exit moves the
        # generation; the cached answer must stop being served (it would
        # still show the victim running), and the new one needs a worker.
        pids = subprocess.run(["pgrep", "-f", "sleep 7731"], capture_output=True,
                              text=True).stdout.split()
        assert pids
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)
        end = time.time() + 5
        while True:
            code = _code(lambda: c.rt("ListContainers", timeout=0.3))
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                break
            assert code == grpc.StatusCode.OK
            assert time.time() < end, "the cached answer outlived the victim's exit"
            time.sleep(0.05)
        assert _code(lambda: c.rt("ListPodSandbox", timeout=0.3)) == \
            grpc.StatusCode.DEADLINE_EXCEEDED
        assert all(t.is_alive() for t in threads)  # the workers were busy throughout
    finally:
        for t in threads:
            t.join(40)
    assert done == [0, 0]
    # Workers free again: the new answer is built, then served as a hit.
    pods2_, ctrs2 = _agree(c, m)
    assert pods2_ == pods
    assert ctrs2[victim].state == m.CONTAINER_EXITED
    assert ctrs2[busy] == ctrs[busy]
    c.rt("StopPodSandbox", pod_sandbox_id=p)
    c.rt("RemovePodSandbox", pod_sandbox_id=p)
    assert _agree(c, m) == ({}, {})
