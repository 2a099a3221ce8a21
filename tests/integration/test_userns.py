"""Pods in user namespaces (namespace_options.userns_options, mode POD): the
kubelet's mappings, idmapped image layers and volumes, the pod's network,
IPC and UTS namespaces owned by the pod's user namespace, a uvmd restart,
and clear errors for what cannot work."""
import os
import subprocess

import grpc
import pytest

from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_pods import (_code, _create, _ctr_config, _exec, _mounts_under,  # noqa: F401
                       _pod_config, _run_pod, pods)
from uvmdlib import pb

HOST_BASE = 3 * 65536  # as the kubelet picks: a multiple of 65536, length 65536


def _userns(m, host=HOST_BASE, length=65536, gids=None):
    uids = [m.IDMapping(host_id=host, container_id=0, length=length)]
    return m.UserNamespace(mode=m.POD, uids=uids, gids=gids if gids is not None else uids)


def _userns_pod_config(d, name, m, userns=None, share_pid=False):
    cfg = _pod_config(d, name)
    ns = cfg.linux.security_context.namespace_options
    ns.userns_options.CopyFrom(userns or _userns(m))
    if share_pid:
        ns.pid = m.POD
    cfg.linux.sysctls["kernel.shm_rmid_forced"] = "1"
    cfg.linux.sysctls["net.ipv4.ip_unprivileged_port_start"] = "80"
    return cfg


def _ctr(d, m, name, pod_cfg, args="sleep 1000", mounts=()):
    cfg = _ctr_config(d, name, args)
    # As the kubelet does: the container carries the pod's user namespace.
    cfg.linux.security_context.namespace_options.CopyFrom(
        pod_cfg.linux.security_context.namespace_options)
    cfg.mounts.extend(mounts)
    return cfg


def _host_ids(marker):
    """Host uid/gid of the process whose command line holds marker."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if marker.encode() not in f.read().replace(b"\0", b" "):
                    continue
            with open("/proc/%s/status" % pid) as f:
                st = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
            return int(st["Uid"].split()[0]), int(st["Gid"].split()[0]), int(pid)
        except OSError:
            continue
    return None


def _ok(c, cid, cmd):
    rc, out, err = _exec(c, cid, ["sh", "-c", cmd])
    assert rc == 0, (cmd, out, err)
    return out.strip()


def test_handler_advertises_user_namespaces(pods):
    st = pods.client().rt("Status")
    feats = {h.name: h.features.user_namespaces for h in st.runtime_handlers}
    assert feats.get("runc") is True, feats


@pytest.mark.parametrize("share_pid", [False, True])
def test_user_namespace_pod(pods, workdir, share_pid):
    d, c, m = pods, pods.client(), pb()
    vol = os.path.join(workdir, "vol%d" % share_pid)
    os.makedirs(vol)
    with open(os.path.join(vol, "f"), "w") as f:
        f.write("kubelet's\n")
    os.chmod(vol, 0o755)
    pod_cfg = _userns_pod_config(d, "u%d" % share_pid, m, share_pid=share_pid)
    pod = _run_pod(c, pod_cfg)
    idm = _userns(m)
    marker = "sleep 1%d4711" % share_pid
    cfg = _ctr(d, m, "a", pod_cfg, marker, mounts=[
        m.Mount(container_path="/idm", host_path=vol, uidMappings=idm.uids,
                gidMappings=idm.gids),
        m.Mount(container_path="/plain", host_path=vol, readonly=True)])
    a = _create(c, pod, cfg, pod_cfg)
    c.rt("StartContainer", container_id=a)

    # Inside: root, with the kubelet's mapping; the image and the idmapped
    # volume belong to root, the plain volume to nobody.
    assert _ok(c, a, "id -u; id -g") == "0\n0"
    assert _ok(c, a, "cat /proc/self/uid_map").split() == ["0", str(HOST_BASE), "65536"]
    assert _ok(c, a, "cat /proc/self/gid_map").split() == ["0", str(HOST_BASE), "65536"]
    assert _ok(c, a, "stat -c %u:%g /bin/busybox /idm/f") == "0:0\n0:0"
    assert _ok(c, a, "stat -c %u /plain/f") == "65534"
    assert _ok(c, a, "echo w > /rootfile && cat /rootfile") == "w"
    assert _ok(c, a, "echo v > /idm/new && stat -c %u /idm/new") == "0"
    # The pod's namespaces are owned by its user namespace: its sysctls and
    # hostname were set there, and sysfs shows the pod's interfaces.
    assert _ok(c, a, "hostname") == pod_cfg.hostname
    assert _ok(c, a, "cat /proc/sys/kernel/shm_rmid_forced") == "1"
    assert _ok(c, a, "cat /proc/sys/net/ipv4/ip_unprivileged_port_start") == "80"
    assert "eth0" in _ok(c, a, "ls /sys/class/net").split()

    # Outside: the process runs as the mapped ids, in its own user namespace;
    # a file root made through the idmapped volume is the host's root's.
    uid, gid, pid = _host_ids(marker)
    assert (uid, gid) == (HOST_BASE, HOST_BASE)
    assert os.readlink("/proc/%d/ns/user" % pid) != os.readlink("/proc/self/ns/user")
    st = os.stat(os.path.join(vol, "new"))
    assert (st.st_uid, st.st_gid) == (0, 0)

    if share_pid:
        b = _create(c, pod, _ctr(d, m, "b", pod_cfg, "sleep 2000"), pod_cfg)
        c.rt("StartContainer", container_id=b)
        assert "sleep 2000" in _ok(c, a, "ps -o args")
        # PID 1 of the pod is nobody inside and shows no host file.
        assert _ok(c, a, "stat -c %u /proc/1") == "65534"
        assert _exec(c, a, ["ls", "/proc/1/root/"])[0] != 0

    # A restart of uvmd: the pod and its user namespace are found again, and
    # a new container joins the same user namespace.
    d.proc.kill()
    d.proc.wait()
    d.start()
    c = d.client()
    assert c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.state == m.SANDBOX_READY
    e = _create(c, pod, _ctr(d, m, "e", pod_cfg, "sleep 3000"), pod_cfg)
    c.rt("StartContainer", container_id=e)
    assert _ok(c, e, "cat /proc/self/uid_map").split() == ["0", str(HOST_BASE), "65536"]
    assert _ok(c, e, "hostname") == pod_cfg.hostname

    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    assert _host_ids(marker) is None
    assert _mounts_under(d.state) == []
    assert os.listdir(os.path.join(d.state, "pods")) == []


def test_user_namespace_bad_requests(pods, workdir):
    d, c, m = pods, pods.client(), pb()
    bad = {
        "no mappings": m.UserNamespace(mode=m.POD),
        "no gids": _userns(m, gids=[]),
        "host root mapped": _userns(m, host=0),
        "empty range": _userns(m, length=0),
        "range overflows": _userns(m, host=0xFFFFFFFF - 10, length=100),
        "overlap": m.UserNamespace(mode=m.POD, uids=[
            m.IDMapping(host_id=HOST_BASE, container_id=0, length=100),
            m.IDMapping(host_id=HOST_BASE + 50, container_id=1000, length=100)],
            gids=_userns(m).gids),
        "root unmapped": m.UserNamespace(
            mode=m.POD, uids=[m.IDMapping(host_id=HOST_BASE, container_id=1, length=10)],
            gids=[m.IDMapping(host_id=HOST_BASE, container_id=1, length=10)]),
        "mode CONTAINER": m.UserNamespace(mode=m.CONTAINER, uids=_userns(m).uids,
                                          gids=_userns(m).gids),
    }
    for why, u in bad.items():
        cfg = _userns_pod_config(d, "bad", m, userns=u)
        code, msg = _code(lambda: _run_pod(c, cfg))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "userns_options" in msg, (why, msg)
    cfg = _userns_pod_config(d, "hostnet", m)
    cfg.linux.security_context.namespace_options.network = m.NODE
    assert _code(lambda: _run_pod(c, cfg))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert len(c.rt("ListPodSandbox").items) == 0
    # A pod that fails once its user namespace exists (the kernel refuses a
    # sysctl value inside it) leaves nothing behind.
    cfg = _userns_pod_config(d, "late", m)
    cfg.linux.sysctls["net.ipv4.ip_unprivileged_port_start"] = "99999"
    code, msg = _code(lambda: _run_pod(c, cfg))
    assert "ip_unprivileged_port_start" in msg, msg
    assert len(c.rt("ListPodSandbox").items) == 0
    assert _mounts_under(d.state) == [] and os.listdir(os.path.join(d.state, "pods")) == []

    # Mount mappings must be the pod's, and need a pod user namespace.
    vol = os.path.join(workdir, "v")
    os.makedirs(vol)
    pod_cfg = _userns_pod_config(d, "ok", m)
    pod = _run_pod(c, pod_cfg)
    other = _userns(m, host=HOST_BASE + 65536)
    cfg = _ctr(d, m, "x", pod_cfg, mounts=[m.Mount(container_path="/v", host_path=vol,
                                                   uidMappings=other.uids,
                                                   gidMappings=other.gids)])
    assert _code(lambda: _create(c, pod, cfg, pod_cfg))[0] == grpc.StatusCode.INVALID_ARGUMENT
    cfg = _ctr(d, m, "y", pod_cfg)
    cfg.linux.security_context.namespace_options.userns_options.CopyFrom(other)
    assert _code(lambda: _create(c, pod, cfg, pod_cfg))[0] == grpc.StatusCode.INVALID_ARGUMENT
    plain_cfg = _pod_config(d, "plain")
    plain = _run_pod(c, plain_cfg)
    mine = _userns(m)
    cfg = _ctr_config(d, "z", "sleep 1")
    cfg.mounts.extend([m.Mount(container_path="/v", host_path=vol, uidMappings=mine.uids,
                               gidMappings=mine.gids)])
    assert _code(lambda: _create(c, plain, cfg, plain_cfg))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert len(c.rt("ListContainers").containers) == 0
    for p in (pod, plain):
        c.rt("StopPodSandbox", pod_sandbox_id=p)
        c.rt("RemovePodSandbox", pod_sandbox_id=p)
    assert _mounts_under(d.state) == []
