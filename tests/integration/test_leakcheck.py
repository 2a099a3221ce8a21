"""The leak checker itself must see what a pod takes: with a pod and a
container running, every kind it watches has grown; once they are removed,
nothing is left."""
from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from leakcheck import assert_no_leaks, leaked, snapshot
from test_pods import _create, _ctr_config, _pod_config, _run_pod, pods  # noqa: F401


def test_leakcheck_sees_a_pod_and_its_removal(pods):
    d = pods
    c = d.client()
    before = snapshot(d)
    cfg = _pod_config(d, "lk")
    pid = _run_pod(c, cfg)
    cid = _create(c, pid, _ctr_config(d, "c", "sleep 1000"), cfg)
    c.rt("StartContainer", container_id=cid)
    during = leaked(before, snapshot(d))
    for kind in ("processes", "mounts", "interfaces", "cgroups", "state files", "ip leases"):
        assert kind in during, (kind, during)
    assert any("uvmd-agent" in p for p in during["processes"]), during["processes"]
    assert any("sleep 1000" in p for p in during["processes"]), during["processes"]
    c.rt("StopPodSandbox", pod_sandbox_id=pid)
    c.rt("RemovePodSandbox", pod_sandbox_id=pid)
    # Logs live in the test's own directory, not in the roots; the bridge
    # stays for the next pod, as it would on a node.
    assert_no_leaks(before, snapshot(d), ignore=[r"^link uvmdtp0$"])
