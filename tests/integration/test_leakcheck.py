"""The leak checker itself must see what a pod takes, with each runtime
handler: with a pod and a container running, every kind it watches has
grown; once they are removed, nothing is left."""
from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from leakcheck import assert_no_leaks, leaked, snapshot
from test_pods import (_create, _ctr_config, _pod_config, _run_pod, any_pods, handler,  # noqa: F401
                       pods, vm_pods_daemon)


def test_leakcheck_sees_a_pod_and_its_removal(any_pods):
    d = any_pods
    c = d.client()
    before = snapshot(d)
    cfg = _pod_config(d, "lk")
    pid = _run_pod(c, cfg, d.handler)
    cid = _create(c, pid, _ctr_config(d, "c", "sleep 1000"), cfg)
    c.rt("StartContainer", container_id=cid)
    now = snapshot(d)
    during = leaked(before, now)
    for kind in ("processes", "mounts", "interfaces", "cgroups", "state files", "ip leases"):
        assert kind in during, (kind, during)
    procs = during["processes"]
    if d.handler == "runc":
        assert any("uvmd-agent" in p for p in procs), procs
        assert any("sleep 1000" in p for p in procs), procs
    else:
        # The container runs in the guest: on the host, QEMU; in the pod's
        # directory its sockets and jail root; in uvmd, the VM's threads.
        assert any("qemu-system" in p for p in procs), procs
        assert not any("sleep 1000" in p for p in procs), procs
        files = during["state files"]
        for name in ("/qmp.sock", "/agent.sock", "/vmroot"):
            assert any(f.endswith(name) for f in files), (name, files)
        assert now.threads > before.threads, (before.threads, now.threads)
    c.rt("StopPodSandbox", pod_sandbox_id=pid)
    c.rt("RemovePodSandbox", pod_sandbox_id=pid)
    # Logs live in the test's own directory, not in the roots; the bridge
    # stays for the next pod, as it would on a node.
    assert_no_leaks(before, snapshot(d), ignore=[r"^link uvmdtp0$"])
