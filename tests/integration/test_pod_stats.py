"""Container and pod usage, resource updates, OOM kills and container events
through the CRI, against a real uvmd, agent, runc and CNI (the fixtures of
test_pods.py)."""
import glob
import os
import queue
import threading
import time

import grpc

from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_pods import (_code, _create, _ctr_config, _exec, _pod_config, _run_pod, _status,  # noqa: F401
                       _wait_state, pods)
from uvmdlib import pb

MiB = 1 << 20


def _ctr_stats(c, cid):
    return c.rt("ContainerStats", container_id=cid).stats


def _wait_stats(c, cid, pred, timeout=30):
    end = time.time() + timeout
    while True:
        st = _ctr_stats(c, cid)
        if pred(st) or time.time() > end:
            return st
        time.sleep(0.2)


def _memory_cgroup(cid):
    """The memory cgroup runc made for the container (cgroupfs or systemd names)."""
    hits = glob.glob("/sys/fs/cgroup/memory/**/*%s*" % cid, recursive=True)
    hits = [h for h in hits if os.path.isdir(h)]
    assert len(hits) == 1, hits
    return hits[0]


def _cleanup(c, pod):
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_container_and_pod_stats(pods):
    d, c, m = pods, pods.client(), pb()
    pod_cfg = _pod_config(d, "s1")
    pod = _run_pod(c, pod_cfg)
    mem = _create(c, pod, _ctr_config(
        d, "mem", "dd if=/dev/zero of=/dev/shm/x bs=1M count=20; sleep 100"), pod_cfg)
    cpu = _create(c, pod, _ctr_config(
        d, "cpu", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 100"), pod_cfg)
    idle = _create(c, pod, _ctr_config(d, "idle", "sleep 100"), pod_cfg)

    # Created, not started: the record with zero usage, not an error.
    st = _ctr_stats(c, idle)
    assert st.attributes.id == idle and st.attributes.metadata.name == "idle"
    assert dict(st.attributes.labels) == {"ctr": "idle"}
    assert st.memory.usage_bytes.value == 0 and st.cpu.usage_core_nano_seconds.value == 0
    assert st.cpu.timestamp > 0

    for cid in (mem, cpu):
        c.rt("StartContainer", container_id=cid)
    st = _wait_stats(c, mem, lambda s: s.memory.usage_bytes.value >= 20 * MiB)
    # tmpfs pages are charged to the container's memory cgroup.
    assert st.memory.usage_bytes.value >= 10 * MiB, st
    assert st.memory.working_set_bytes.value >= 10 * MiB, st
    assert st.memory.timestamp > 0 and st.memory.page_faults.value > 0
    st = _wait_stats(c, cpu, lambda s: s.cpu.usage_core_nano_seconds.value >= 50_000_000)
    assert st.cpu.usage_core_nano_seconds.value > 0, st

    # ListContainerStats and its filters.
    listed = {s.attributes.id: s for s in c.rt("ListContainerStats").stats}
    assert set(listed) == {mem, cpu, idle}
    assert listed[mem].memory.usage_bytes.value >= 10 * MiB
    f = m.ContainerStatsFilter(id=mem[:12])
    assert [s.attributes.id for s in c.rt("ListContainerStats", filter=f).stats] == [mem]
    f = m.ContainerStatsFilter(label_selector={"ctr": "cpu"})
    assert [s.attributes.id for s in c.rt("ListContainerStats", filter=f).stats] == [cpu]
    f = m.ContainerStatsFilter(pod_sandbox_id=pod[:10], label_selector={"ctr": "nope"})
    assert list(c.rt("ListContainerStats", filter=f).stats) == []
    f = m.ContainerStatsFilter(pod_sandbox_id="0" * 64)
    assert list(c.rt("ListContainerStats", filter=f).stats) == []

    # PodSandboxStats: attributes, per-container stats, sums.
    ps = c.rt("PodSandboxStats", pod_sandbox_id=pod).stats
    assert ps.attributes.id == pod and ps.attributes.metadata.name == "s1"
    assert ps.attributes.metadata.uid == "uid-s1" and dict(ps.attributes.labels) == {"app": "s1"}
    per = {s.attributes.id: s for s in ps.linux.containers}
    assert set(per) == {mem, cpu, idle}
    total = sum(s.memory.usage_bytes.value for s in per.values())
    assert ps.linux.memory.usage_bytes.value == total >= 10 * MiB
    # Against the kernel's own count for the pod (its parent cgroup holds the
    # containers'), read now: the two samples are moments apart.
    pod_cg = os.path.dirname(_memory_cgroup(mem))
    with open(os.path.join(pod_cg, "memory.usage_in_bytes")) as f:
        kernel = int(f.read())
    assert abs(kernel - total) <= max(0.2 * kernel, 2 * MiB), (kernel, total)
    assert ps.linux.cpu.usage_core_nano_seconds.value == sum(
        s.cpu.usage_core_nano_seconds.value for s in per.values()) > 0

    pod2_cfg = _pod_config(d, "s2")
    pod2 = _run_pod(c, pod2_cfg)
    both = {s.attributes.id for s in c.rt("ListPodSandboxStats").stats}
    assert both == {pod, pod2}
    f = m.PodSandboxStatsFilter(label_selector={"app": "s2"})
    only = c.rt("ListPodSandboxStats", filter=f).stats
    assert [s.attributes.id for s in only] == [pod2]
    assert list(only[0].linux.containers) == [] and only[0].linux.memory.usage_bytes.value == 0
    f = m.PodSandboxStatsFilter(id=pod[:8])
    assert [s.attributes.id for s in c.rt("ListPodSandboxStats", filter=f).stats] == [pod]

    # Exited: the record with zero usage.
    c.rt("StopContainer", m.StopContainerRequest(container_id=cpu, timeout=0))
    st = _ctr_stats(c, cpu)
    assert st.attributes.id == cpu and st.cpu.usage_core_nano_seconds.value == 0

    code, _ = _code(lambda: c.rt("ContainerStats", container_id="f" * 64))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = _code(lambda: c.rt("PodSandboxStats", pod_sandbox_id="f" * 64))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = _code(lambda: c.rt("ContainerStats", container_id=""))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    _cleanup(c, pod)
    _cleanup(c, pod2)


def test_status_and_stats_the_kubelet_reads(pods):
    """What containerd reports and the kubelet reads: current resources in
    ContainerStatus, the CPU rate, available memory, the writable layer, and
    the pod's interfaces and process count."""
    d, c, m = pods, pods.client(), pb()
    pod_cfg = _pod_config(d, "k1")
    pod = _run_pod(c, pod_cfg)
    busy_cfg = _ctr_config(d, "busy", "dd if=/dev/zero of=/big bs=1024 count=2048; "
                           "while :; do :; done")
    res = busy_cfg.linux.resources
    res.cpu_period, res.cpu_quota, res.cpu_shares = 100000, 90000, 512
    res.memory_limit_in_bytes, res.cpuset_cpus, res.oom_score_adj = 256 * MiB, "0", 100
    busy = _create(c, pod, busy_cfg, pod_cfg)
    idle = _create(c, pod, _ctr_config(d, "idle", "sleep 1000"), pod_cfg)
    for cid in (busy, idle):
        c.rt("StartContainer", container_id=cid)

    lin = _status(c, busy).resources.linux
    assert (lin.cpu_period, lin.cpu_quota, lin.cpu_shares, lin.memory_limit_in_bytes,
            lin.cpuset_cpus, lin.oom_score_adj) == (100000, 90000, 512, 256 * MiB, "0", 100)
    # An update replaces what it sets and keeps the rest.
    c.rt("UpdateContainerResources", container_id=busy,
         linux=m.LinuxContainerResources(memory_limit_in_bytes=300 * MiB, cpu_quota=80000))
    lin = _status(c, busy).resources.linux
    assert (lin.memory_limit_in_bytes, lin.cpu_quota, lin.cpu_shares) == (300 * MiB, 80000, 512)

    # The CPU rate: a spinning container near a core, an idle one near zero.
    _ctr_stats(c, busy)
    time.sleep(2)
    st = _ctr_stats(c, busy)
    assert 0.3e9 < st.cpu.usage_nano_cores.value <= 1.2e9, st.cpu
    _ctr_stats(c, idle)
    time.sleep(1)
    assert _ctr_stats(c, idle).cpu.usage_nano_cores.value < 0.05e9
    # Available memory is the limit less the working set.
    assert st.memory.available_bytes.value == 300 * MiB - st.memory.working_set_bytes.value
    # The writable layer holds the 2 MiB it wrote, on the filesystem of the
    # state root (its mount point is the filesystem's id).
    wl = st.writable_layer
    assert wl.used_bytes.value >= 2 * MiB and wl.inodes_used.value >= 1, wl
    mnt = os.path.realpath(d.state)
    while not os.path.ismount(mnt):
        mnt = os.path.dirname(mnt)
    assert wl.fs_id.mountpoint == mnt, wl
    assert _ctr_stats(c, idle).writable_layer.used_bytes.value < 64 * 1024

    # The pod: its interfaces (traffic to the bridge shows) and processes.
    assert _exec(c, idle, ["ping", "-c", "2", "-W", "2", "10.88.66.1"])[0] == 0
    ps = c.rt("PodSandboxStats", pod_sandbox_id=pod).stats.linux
    ifs = {i.name: i for i in ps.network.interfaces}
    assert "eth0" in ifs and "lo" not in ifs, ifs
    assert ps.network.default_interface.name == "eth0"
    assert ifs["eth0"].rx_bytes.value > 0 and ifs["eth0"].tx_bytes.value > 0
    assert ps.process.process_count.value >= 2
    listed = {s.attributes.id: s for s in c.rt("ListPodSandboxStats").stats}
    assert listed[pod].linux.network.default_interface.name == "eth0"
    _cleanup(c, pod)


def test_update_container_resources(pods):
    d, c, m = pods, pods.client(), pb()
    pod_cfg = _pod_config(d, "u1")
    pod = _run_pod(c, pod_cfg)
    cid = _create(c, pod, _ctr_config(d, "u", "sleep 100"), pod_cfg)

    res = m.LinuxContainerResources(memory_limit_in_bytes=64 * MiB)
    code, msg = _code(lambda: c.rt("UpdateContainerResources", container_id=cid, linux=res))
    assert code == grpc.StatusCode.FAILED_PRECONDITION, msg

    c.rt("StartContainer", container_id=cid)
    cg = _memory_cgroup(cid)
    res = m.LinuxContainerResources(memory_limit_in_bytes=64 * MiB, cpu_shares=512,
                                    cpu_quota=50000, cpu_period=100000, cpuset_cpus="0")
    c.rt("UpdateContainerResources", container_id=cid, linux=res)
    assert int(open(os.path.join(cg, "memory.limit_in_bytes")).read()) == 64 * MiB
    cpu_cg = cg.replace("/memory/", "/cpu/")
    if os.path.isdir(cpu_cg):
        assert int(open(os.path.join(cpu_cg, "cpu.shares")).read()) == 512
        assert int(open(os.path.join(cpu_cg, "cpu.cfs_quota_us")).read()) == 50000
    # Raised again: the swap limit follows, so this works after a lower one.
    c.rt("UpdateContainerResources", container_id=cid,
         linux=m.LinuxContainerResources(memory_limit_in_bytes=128 * MiB))
    assert int(open(os.path.join(cg, "memory.limit_in_bytes")).read()) == 128 * MiB

    bad = [dict(cpu_shares=-1), dict(cpu_shares=262145), dict(cpu_quota=999),
           dict(cpu_quota=-2), dict(cpu_period=999), dict(cpu_period=1000001),
           dict(memory_limit_in_bytes=4 * MiB - 1), dict(memory_limit_in_bytes=-5),
           dict(cpuset_cpus="0-a"), dict(cpuset_cpus="3-1"), dict(cpuset_mems="0,,1"),
           dict(memory_limit_in_bytes=64 * MiB, memory_swap_limit_in_bytes=32 * MiB),
           dict(hugepage_limits=[m.HugepageLimit(page_size="2XB", limit=1)]),
           dict(unified={"../memory.max": "1"})]
    for kw in bad:
        code, msg = _code(lambda: c.rt("UpdateContainerResources", container_id=cid,
                                       linux=m.LinuxContainerResources(**kw)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (kw, code, msg)
    assert int(open(os.path.join(cg, "memory.limit_in_bytes")).read()) == 128 * MiB
    code, _ = _code(lambda: c.rt("UpdateContainerResources", container_id="e" * 64,
                                 linux=m.LinuxContainerResources(cpu_shares=2)))
    assert code == grpc.StatusCode.NOT_FOUND
    _cleanup(c, pod)


def test_oom_killed(pods):
    d, c, m = pods, pods.client(), pb()
    pod_cfg = _pod_config(d, "o1")
    pod = _run_pod(c, pod_cfg)
    cfg = _ctr_config(d, "big", "dd if=/dev/zero of=/dev/shm/big bs=1M count=64")
    cfg.linux.resources.memory_limit_in_bytes = 16 * MiB
    cid = _create(c, pod, cfg, pod_cfg)
    c.rt("StartContainer", container_id=cid)
    st = _wait_state(c, cid, m.CONTAINER_EXITED, timeout=60)
    assert st.reason == "OOMKilled" and st.exit_code == 137, st
    _cleanup(c, pod)


def _collect(stream, out):
    try:
        for ev in stream:
            out.put(ev)
    except grpc.RpcError as e:
        out.put(e)


def _subscribed(d, c, queues, timeout=15):
    """Make events (a container created and removed, again) until every
    queue has seen one; then drain them: the streams are subscribed."""
    m = pb()
    pod_cfg = _pod_config(d, "warm")
    pod = _run_pod(c, pod_cfg)
    end, seen, k = time.time() + timeout, [False] * len(queues), 0
    while not all(seen) and time.time() < end:
        cid = _create(c, pod, _ctr_config(d, "w%d" % k, "true"), pod_cfg)
        c.rt("RemoveContainer", container_id=cid)
        k += 1
        for i, q in enumerate(queues):
            try:
                while True:
                    ev = q.get(timeout=0.2)
                    assert isinstance(ev, m.ContainerEventResponse), ev
                    seen[i] = True
                    if ev.container_id == cid and \
                            ev.container_event_type == m.CONTAINER_DELETED_EVENT:
                        break
            except queue.Empty:
                pass
    assert all(seen), "an event stream never got an event"
    _cleanup(c, pod)
    for q in queues:  # what the warm pod's removal sent, if anything
        while True:
            try:
                q.get(timeout=0.3)
            except queue.Empty:
                break


def test_container_events(pods):
    d, c, m = pods, pods.client(), pb()
    path = "/runtime.v1.RuntimeService/GetContainerEvents"
    streams = [c.server_stream(path, m.GetEventsRequest(), m.ContainerEventResponse)
               for _ in range(2)]
    got = [queue.Queue() for _ in streams]
    for s, q in zip(streams, got):
        threading.Thread(target=_collect, args=(s, q), daemon=True).start()
    _subscribed(d, c, got)

    pod_cfg = _pod_config(d, "e1")
    pod = _run_pod(c, pod_cfg)
    cid = _create(c, pod, _ctr_config(d, "ev", "sleep 100"), pod_cfg)
    c.rt("StartContainer", container_id=cid)
    c.rt("StopContainer", m.StopContainerRequest(container_id=cid, timeout=0))
    c.rt("RemoveContainer", container_id=cid)

    want = [m.CONTAINER_CREATED_EVENT, m.CONTAINER_STARTED_EVENT, m.CONTAINER_STOPPED_EVENT,
            m.CONTAINER_DELETED_EVENT]
    for q in got:
        evs = [q.get(timeout=10) for _ in want]
        assert all(isinstance(e, m.ContainerEventResponse) for e in evs), evs
        assert [e.container_event_type for e in evs] == want
        assert all(e.container_id == cid for e in evs)
        assert all(e.pod_sandbox_status.id == pod for e in evs)
        assert evs[0].pod_sandbox_status.metadata.name == "e1"
        assert evs[0].pod_sandbox_status.state == m.SANDBOX_READY
        times = [e.created_at for e in evs]
        assert times == sorted(times) and times[0] > 0
        assert [e.containers_statuses[0].state for e in evs] == [
            m.CONTAINER_CREATED, m.CONTAINER_RUNNING, m.CONTAINER_EXITED, m.CONTAINER_EXITED]
        assert evs[0].containers_statuses[0].id == cid
        assert evs[0].containers_statuses[0].metadata.name == "ev"
        assert evs[2].containers_statuses[0].exit_code == 137
        assert q.empty()

    # A cancelled subscriber goes away; the other still gets events.
    streams[0].cancel()
    time.sleep(0.3)
    cid2 = _create(c, pod, _ctr_config(d, "ev2", "exit 0"), pod_cfg)
    ev = got[1].get(timeout=10)
    assert ev.container_id == cid2 and ev.container_event_type == m.CONTAINER_CREATED_EVENT
    _cleanup(c, pod)
    # Removing the pod removed its container: a DELETED event.
    types = []
    while True:
        try:
            ev = got[1].get(timeout=5)
        except queue.Empty:
            break
        types.append(ev.container_event_type)
        if ev.container_event_type == m.CONTAINER_DELETED_EVENT:
            break
    assert types[-1:] == [m.CONTAINER_DELETED_EVENT], types
    streams[1].cancel()


def test_events_end_on_shutdown(pods):
    d, c, m = pods, pods.client(), pb()
    s = c.server_stream("/runtime.v1.RuntimeService/GetContainerEvents", m.GetEventsRequest(),
                        m.ContainerEventResponse)
    out = queue.Queue()
    t = threading.Thread(target=_collect, args=(s, out), daemon=True)
    t.start()
    _subscribed(d, c, [out])
    d.stop()
    t.join(timeout=15)
    # It ended, and ended well: an OK status, not an error.
    assert not t.is_alive()
    assert out.empty(), out.get()
