"""What CreateContainer and RunPodSandbox settings do inside the container,
and the List filters, through the CRI against a real uvmd, agent and runc:
environment, working directory, no_new_privs, masked and read-only paths,
host network/IPC/PID pods, label selectors and NOT_FOUND."""
import os

import grpc

from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_pods import (_code, _create, _ctr_config, _exec, _pod_config, _run_pod,  # noqa: F401
                       pods)
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
