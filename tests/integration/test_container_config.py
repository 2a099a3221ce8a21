"""What CreateContainer and RunPodSandbox settings do inside the container,
and the List filters, through the CRI against a real uvmd, agent and runc:
environment, working directory, no_new_privs, masked and read-only paths,
host network/IPC/PID pods, label selectors and NOT_FOUND."""
import os
import time

import grpc

from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_pods import (_code, _create, _ctr_config, _exec, _pod_config, _run_pod,  # noqa: F401
                       pods, pods_cleanup)
from uvmdlib import pb


def _start(c, pod, pod_cfg, cfg):
    cid = _create(c, pod, cfg, pod_cfg)
    c.rt("StartContainer", container_id=cid)
    return cid


def test_process_settings(pods):
    d, c, m = pods, pods.client(), pb()
    pod_cfg = _pod_config(d, "proc")
    pod = _run_pod(c, pod_cfg)
    cfg = _ctr_config(d, "p", "sleep 1000")
    # The image says PATH=..., IMAGELIB=1 and WorkingDir "/".
    cfg.envs.extend([m.KeyValue(key="IMAGELIB", value="overridden"),
                     m.KeyValue(key="NEW", value="a b=c")])
    cfg.working_dir = "/tmp"
    cfg.linux.security_context.no_new_privs = True
    cid = _start(c, pod, pod_cfg, cfg)
    env = dict(ln.split("=", 1) for ln in _exec(c, cid, ["env"])[1].splitlines())
    assert env["IMAGELIB"] == "overridden" and env["NEW"] == "a b=c"
    assert env["PATH"].startswith("/usr/local/sbin")  # from the image
    assert _exec(c, cid, ["sh", "-c", "pwd"])[1] == "/tmp\n"
    status = _exec(c, cid, ["cat", "/proc/self/status"])[1]
    assert "NoNewPrivs:\t1" in status, status
    # Masked paths read as nothing; read-only paths refuse writes.
    assert _exec(c, cid, ["cat", "/proc/kcore"])[1] == ""
    assert _exec(c, cid, ["ls", "/sys/firmware"])[1] == ""
    rc, _, err = _exec(c, cid, ["sh", "-c", "echo 1 > /proc/sys/kernel/domainname"])
    assert rc != 0 and "Read-only file system" in err, err
    # A container without no_new_privs keeps it off.
    other = _start(c, pod, pod_cfg, _ctr_config(d, "q", "sleep 1000"))
    assert "NoNewPrivs:\t0" in _exec(c, other, ["cat", "/proc/self/status"])[1]
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def _ns(c, cid, kind):
    return _exec(c, cid, ["/bin/busybox", "readlink", "/proc/self/ns/" + kind])[1].strip()


def test_host_namespace_pods(pods):
    d, c, m = pods, pods.client(), pb()
    host = {k: os.readlink("/proc/self/ns/" + k) for k in ("net", "ipc", "pid")}
    for kind, field in (("net", "network"), ("ipc", "ipc"), ("pid", "pid")):
        pod_cfg = _pod_config(d, "host" + kind)
        setattr(pod_cfg.linux.security_context.namespace_options, field, m.NODE)
        pod = _run_pod(c, pod_cfg)
        cid = _start(c, pod, pod_cfg, _ctr_config(d, "h", "sleep 1000"))
        for k in ("net", "ipc", "pid"):
            same = _ns(c, cid, k) == host[k]
            assert same == (k == kind), (kind, k)
        if kind == "pid":  # the node's processes are visible, uvmd among them
            assert _exec(c, cid, ["cat", "/proc/%d/comm" % d.proc.pid])[1] == "uvmd\n"
        if kind == "net":
            st = c.rt("PodSandboxStatus", pod_sandbox_id=pod).status
            assert st.linux.namespaces.options.network == m.NODE
        c.rt("StopPodSandbox", pod_sandbox_id=pod)
        c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_list_filters_and_not_found(pods):
    d, c, m = pods, pods.client(), pb()
    a_cfg, b_cfg = _pod_config(d, "fa"), _pod_config(d, "fb")
    a_cfg.labels["tier"] = "web"
    b_cfg.labels["tier"] = "db"
    a, b = _run_pod(c, a_cfg), _run_pod(c, b_cfg)
    x = _start(c, a, a_cfg, _ctr_config(d, "x", "sleep 1000"))
    y = _create(c, b, _ctr_config(d, "y", "sleep 1000"), b_cfg)

    def pods_where(**kw):
        return sorted(p.id for p in c.rt("ListPodSandbox", filter=m.PodSandboxFilter(**kw)).items)

    assert pods_where(label_selector={"tier": "web"}) == [a]
    assert pods_where(label_selector={"tier": "web", "app": "fb"}) == []
    assert pods_where(id=b[:10]) == [b]
    c.rt("StopPodSandbox", pod_sandbox_id=b)
    assert pods_where(state=m.PodSandboxStateValue(state=m.SANDBOX_READY)) == [a]
    assert pods_where(state=m.PodSandboxStateValue(state=m.SANDBOX_NOTREADY)) == [b]

    def ctrs_where(**kw):
        return sorted(x.id for x in
                      c.rt("ListContainers", filter=m.ContainerFilter(**kw)).containers)

    assert ctrs_where(label_selector={"ctr": "x"}) == [x]
    assert ctrs_where(pod_sandbox_id=b) == [y]
    assert ctrs_where(id=x[:12], pod_sandbox_id=b) == []
    assert ctrs_where(state=m.ContainerStateValue(state=m.CONTAINER_RUNNING)) == [x]

    gone = "e" * 64
    for call, kw in (("PodSandboxStatus", {"pod_sandbox_id": gone}),
                     ("ContainerStatus", {"container_id": gone}),
                     ("ContainerStats", {"container_id": gone}),
                     ("PodSandboxStats", {"pod_sandbox_id": gone}),
                     ("StartContainer", {"container_id": gone})):
        code, msg = _code(lambda: c.rt(call, **kw))
        assert code == grpc.StatusCode.NOT_FOUND and gone in msg, (call, code, msg)
    for p in (a, b):
        c.rt("StopPodSandbox", pod_sandbox_id=p)
        c.rt("RemovePodSandbox", pod_sandbox_id=p)


def test_list_filters_many_pods(pods):
    """Label selector and state together over 24 pods with a container each
    (more than the first step of a list answer's growing array holds), and
    the listed items carry what the status calls say."""
    d, c, m = pods, pods.client(), pb()
    n = 24
    pod_ids, ctr_ids = [], []
    for i in range(n):
        pod_cfg = _pod_config(d, "many%d" % i)
        pod_cfg.labels["group"] = "g%d" % (i % 3)
        pod_cfg.annotations["note"] = "n%d" % i
        pod = _run_pod(c, pod_cfg)
        cfg = _ctr_config(d, "c%d" % i, "sleep 1000")
        cfg.labels["group"] = "g%d" % (i % 3)
        cfg.annotations["note"] = "n%d" % i
        cid = _create(c, pod, cfg, pod_cfg)
        if i % 2 == 0:
            c.rt("StartContainer", container_id=cid)
        pod_ids.append(pod)
        ctr_ids.append(cid)
    # Pods 0, 4, 8...: stopped, their (started) containers exited. Odd ones'
    # containers were never started; the rest run.
    for i in range(0, n, 4):
        c.rt("StopPodSandbox", pod_sandbox_id=pod_ids[i])

    def pod_state(i):
        return m.SANDBOX_NOTREADY if i % 4 == 0 else m.SANDBOX_READY

    def ctr_state(i):
        return (m.CONTAINER_CREATED if i % 2 else
                m.CONTAINER_EXITED if i % 4 == 0 else m.CONTAINER_RUNNING)

    def pods_where(**kw):
        return sorted(p.id for p in c.rt("ListPodSandbox", filter=m.PodSandboxFilter(**kw)).items)

    def ctrs_where(**kw):
        return sorted(x.id for x in
                      c.rt("ListContainers", filter=m.ContainerFilter(**kw)).containers)

    assert set(pod_ids) <= {p.id for p in c.rt("ListPodSandbox").items}
    assert set(ctr_ids) <= {x.id for x in c.rt("ListContainers").containers}
    for g in range(3):
        sel = {"group": "g%d" % g}
        for st in (m.SANDBOX_READY, m.SANDBOX_NOTREADY):
            want = sorted(pod_ids[i] for i in range(n) if i % 3 == g and pod_state(i) == st)
            assert pods_where(label_selector=sel, state=m.PodSandboxStateValue(state=st)) == want
        for st in (m.CONTAINER_CREATED, m.CONTAINER_RUNNING, m.CONTAINER_EXITED):
            want = sorted(ctr_ids[i] for i in range(n) if i % 3 == g and ctr_state(i) == st)
            assert want, (g, st)  # every combination occurs
            assert ctrs_where(label_selector=sel, state=m.ContainerStateValue(state=st)) == want
    assert ctrs_where(pod_sandbox_id=pod_ids[5][:16]) == [ctr_ids[5]]
    assert ctrs_where(pod_sandbox_id=pod_ids[5],
                      state=m.ContainerStateValue(state=m.CONTAINER_RUNNING)) == []
    assert ctrs_where(label_selector={"group": "g1", "ctr": "c7"}) == [ctr_ids[7]]

    # What a listed item says is what its status says.
    item = c.rt("ListPodSandbox", filter=m.PodSandboxFilter(id=pod_ids[7])).items
    st = c.rt("PodSandboxStatus", pod_sandbox_id=pod_ids[7]).status
    assert len(item) == 1
    item = item[0]
    assert (item.id, item.metadata, item.state, item.created_at, item.runtime_handler) == (
        st.id, st.metadata, st.state, st.created_at, st.runtime_handler)
    assert dict(item.labels) == dict(st.labels) == {"app": "many7", "group": "g1"}
    # Status adds the pod's ComputeAgent address to what the kubelet gave.
    assert dict(item.annotations) == {"note": "n7"}
    assert dict(st.annotations)["note"] == "n7"
    item = c.rt("ListContainers", filter=m.ContainerFilter(id=ctr_ids[6])).containers
    st = c.rt("ContainerStatus", container_id=ctr_ids[6]).status
    assert len(item) == 1
    item = item[0]
    assert item.pod_sandbox_id == pod_ids[6]
    assert (item.id, item.metadata, item.image, item.image_ref, item.state, item.created_at) == (
        st.id, st.metadata, st.image, st.image_ref, st.state, st.created_at)
    assert dict(item.labels) == dict(st.labels) == {"ctr": "c6", "group": "g0"}
    assert dict(item.annotations) == dict(st.annotations) == {"note": "n6"}

    # The stats lists filter the same way.
    stats = c.rt("ListPodSandboxStats",
                 filter=m.PodSandboxStatsFilter(label_selector={"group": "g2"})).stats
    assert sorted(s.attributes.id for s in stats) == sorted(
        pod_ids[i] for i in range(n) if i % 3 == 2)
    for s in stats:
        i = pod_ids.index(s.attributes.id)
        assert [x.attributes.id for x in s.linux.containers] == [ctr_ids[i]]
        assert s.attributes.metadata.name == "many%d" % i
        assert dict(s.attributes.annotations) == {"note": "n%d" % i}
    stats = c.rt("ListContainerStats",
                 filter=m.ContainerStatsFilter(pod_sandbox_id=pod_ids[2])).stats
    assert [(s.attributes.id, s.attributes.metadata.name) for s in stats] == [(ctr_ids[2], "c2")]
    assert stats[0].cpu.usage_core_nano_seconds.value > 0  # running: asked of the driver
    for p in pod_ids:
        c.rt("StopPodSandbox", pod_sandbox_id=p)
        c.rt("RemovePodSandbox", pod_sandbox_id=p)


CG = "/sys/fs/cgroup"


def _hierarchies():
    """The v1 hierarchies (and the v2 one) where a parent must exist."""
    return [os.path.join(CG, h) for h in sorted(os.listdir(CG))
            if os.path.isdir(os.path.join(CG, h)) and not os.path.islink(os.path.join(CG, h))]


def test_kubelet_cgroup_parent_and_pids_limit(pods):
    """The kubelet's pod cgroup (here made by the test, as the kubelet would,
    with a pids limit) holds the pod's containers, and its limit holds."""
    d, c, m = pods, pods.client(), pb()
    parent = "/kubepods-uvmdtest/pod-k1"
    made = []
    try:
        for h in _hierarchies():
            path = h + parent
            os.makedirs(path, exist_ok=True)
            made.append(path)
        with open(os.path.join(CG, "pids") + parent + "/pids.max", "w") as f:
            f.write("20")
        pod_cfg = _pod_config(d, "k1")
        pod_cfg.linux.cgroup_parent = parent
        pod = _run_pod(c, pod_cfg)
        # An inner shell forks until it cannot (and dies of it, as ash
        # does); the container's init outlives it.
        cid = _start(c, pod, pod_cfg, _ctr_config(
            d, "bomb", "sh -c 'i=0; while [ $i -lt 60 ]; do sleep 1000 & i=$((i+1)); done'; "
                       "sleep 1000"))
        procs = os.path.join(CG, "pids") + parent + "/" + cid + "/cgroup.procs"
        end = time.time() + 10
        while time.time() < end and not os.path.exists(procs):
            time.sleep(0.05)
        log = os.path.join(d.logs, "k1", "bomb.log")
        while time.time() < end and "fork" not in (open(log).read() if os.path.exists(log) else ""):
            time.sleep(0.05)
        with open(os.path.join(CG, "pids") + parent + "/pids.current") as f:
            current = int(f.read())
        assert 10 < current <= 20, current
        with open(procs) as f:
            assert len(f.read().split()) >= 5  # its processes are there
        text = open(log).read()
        assert "can't fork" in text or "Resource temporarily unavailable" in text, text[-500:]
        c.rt("StopPodSandbox", pod_sandbox_id=pod)
        c.rt("RemovePodSandbox", pod_sandbox_id=pod)
        # The container's cgroup went; the kubelet's parent stays its own.
        assert not os.path.exists(os.path.dirname(procs))
        assert os.path.isdir(os.path.join(CG, "pids") + parent)
        bad = _pod_config(d, "k2")
        bad.linux.cgroup_parent = "kubepods/../../escape"
        code, msg = _code(lambda: _run_pod(c, bad))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "cgroup_parent" in msg, msg
    finally:
        pods_cleanup(d)  # a failed assert must not leave the pod in the parent
        for path in reversed(made):
            for sub in (path, os.path.dirname(path)):
                try:
                    os.rmdir(sub)
                except OSError:
                    pass


def _read(path):
    with open(path) as f:
        return f.read().strip()


def test_pod_limits_on_uvmds_own_cgroup(pods):
    """Without a kubelet parent, the pod's resources plus its overhead bound
    uvmd's own pod cgroup, and UpdatePodSandboxResources changes them."""
    d, c, m = pods, pods.client(), pb()
    pod_cfg = _pod_config(d, "lim")
    pod_cfg.linux.resources.CopyFrom(m.LinuxContainerResources(
        memory_limit_in_bytes=64 << 20, cpu_quota=50000, cpu_period=100000, cpu_shares=512))
    pod_cfg.linux.overhead.CopyFrom(m.LinuxContainerResources(
        memory_limit_in_bytes=16 << 20, cpu_quota=5000, cpu_period=50000, cpu_shares=128))
    pod = _run_pod(c, pod_cfg)
    try:
        mem = os.path.join(CG, "memory", "uvmd", pod)
        cpu = os.path.join(CG, "cpu", "uvmd", pod)
        assert _read(mem + "/memory.limit_in_bytes") == str(80 << 20)
        # The overhead's 5 ms per 50 ms is 10 ms per the pod's 100 ms.
        assert _read(cpu + "/cpu.cfs_quota_us") == "60000"
        assert _read(cpu + "/cpu.cfs_period_us") == "100000"
        assert _read(cpu + "/cpu.shares") == "640"
        cid = _start(c, pod, pod_cfg, _ctr_config(d, "in", "sleep 1000"))
        assert os.path.isdir(os.path.join(mem, cid))  # the container is below the bound
        # A resize; the overhead stays.
        c.rt("UpdatePodSandboxResources", pod_sandbox_id=pod,
             resources=m.LinuxContainerResources(memory_limit_in_bytes=128 << 20),
             overhead=m.LinuxContainerResources(memory_limit_in_bytes=16 << 20))
        assert _read(mem + "/memory.limit_in_bytes") == str(144 << 20)
        assert int(_read(cpu + "/cpu.cfs_quota_us")) == -1  # no quota given now: unbounded
        code, msg = _code(lambda: c.rt("UpdatePodSandboxResources", pod_sandbox_id="0" * 64,
                                       resources=m.LinuxContainerResources()))
        assert code == grpc.StatusCode.NOT_FOUND, msg
        code, msg = _code(lambda: c.rt("UpdatePodSandboxResources", pod_sandbox_id=pod,
                                       resources=m.LinuxContainerResources(cpu_quota=5)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "linux.resources" in msg, msg
        # A restart keeps what was set, and the pod's record says it.
        d.proc.kill()
        d.proc.wait()
        d.start()
        c = d.client()
        assert _read(mem + "/memory.limit_in_bytes") == str(144 << 20)
        c.rt("StopPodSandbox", pod_sandbox_id=pod)
        c.rt("RemovePodSandbox", pod_sandbox_id=pod)
        assert not os.path.exists(mem) and not os.path.exists(cpu)
    finally:
        pods_cleanup(d)


def test_container_resources_as_the_kubelet_sends_them(pods):
    """CreateContainer's resources as a kubelet on this node sends them: a
    memory limit with the swap limit equal to it (no swap), and a 0 limit
    per huge page size the kernel knows, although this host mounts no
    hugetlb controller (dropped, as containerd does). The container runs
    and its cgroup has the limits."""
    d, c, m = pods, pods.client(), pb()
    pod_cfg = _pod_config(d, "res")
    pod = _run_pod(c, pod_cfg)
    try:
        cfg = _ctr_config(d, "r", "sleep 1000")
        cfg.linux.resources.CopyFrom(m.LinuxContainerResources(
            memory_limit_in_bytes=48 << 20, memory_swap_limit_in_bytes=48 << 20,
            cpu_shares=256,
            hugepage_limits=[m.HugepageLimit(page_size=s, limit=0) for s in ("2MB", "1GB")]))
        cid = _start(c, pod, pod_cfg, cfg)
        st = c.rt("ContainerStatus", container_id=cid).status
        assert st.state == m.CONTAINER_RUNNING, st
        assert st.resources.linux.memory_limit_in_bytes == 48 << 20, st.resources
        mem = os.path.join(CG, "memory", "uvmd", pod, cid)
        assert _read(mem + "/memory.limit_in_bytes") == str(48 << 20)
        if os.path.exists(mem + "/memory.memsw.limit_in_bytes"):
            assert _read(mem + "/memory.memsw.limit_in_bytes") == str(48 << 20)
        assert _read(os.path.join(CG, "cpu", "uvmd", pod, cid, "cpu.shares")) == "256"
        bad = _ctr_config(d, "b", "sleep 1")
        bad.linux.resources.CopyFrom(m.LinuxContainerResources(
            hugepage_limits=[m.HugepageLimit(page_size="2XB", limit=0)]))
        code, msg = _code(lambda: _create(c, pod, bad, pod_cfg))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "page_size" in msg, msg
    finally:
        pods_cleanup(d)
