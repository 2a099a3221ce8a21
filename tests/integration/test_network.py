"""Pod networking through the daemon: CNI readiness, pods on a test bridge
(ping between pods, hostPort through portmap), a failing plugin."""

import json
import os
import shutil

import pytest


def _network_ready(client):
    conds = {x.type: x for x in client.rt("Status").status.conditions}
    return conds["NetworkReady"]


def test_network_ready_follows_the_config_dir(daemon_factory, workdir):
    # The dir does not exist at start-up; it appears, gets a config, loses it,
    # and is removed and re-created: readiness follows every step without a
    # restart (the module watches the dir instead of polling a cache).
    cni = os.path.join(workdir, "cni-later")
    d = daemon_factory(config={"cni_conf_dir": cni, "cni_bin_dirs": ["/usr/lib/cni"]})
    c = d.client()
    assert _network_ready(c).status is False

    conf = os.path.join(cni, "10-t.conflist")
    os.makedirs(cni)
    with open(conf, "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "t", "plugins": [{"type": "bridge"}]}, f)
    assert _network_ready(c).status is True

    os.unlink(conf)
    st = _network_ready(c)
    assert st.status is False and cni in st.message

    shutil.rmtree(cni)
    assert _network_ready(c).status is False
    os.makedirs(cni)
    with open(conf, "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "t", "plugins": [{"type": "bridge"}]}, f)
    assert _network_ready(c).status is True


def test_network_ready_ignores_config_with_missing_plugin(daemon_factory, workdir):
    cni = os.path.join(workdir, "cni")
    os.makedirs(cni)
    with open(os.path.join(cni, "10-bad.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "t",
                   "plugins": [{"type": "no-such-plugin-uvmd"}]}, f)
    d = daemon_factory(config={"cni_conf_dir": cni, "cni_bin_dirs": ["/usr/lib/cni"]})
    assert _network_ready(d.client()).status is False


# ---- pods on the test bridge (fixtures from test_pods) ----

import socket  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

from imagelib import image_dir, image_single  # noqa: E402,F401
from test_pods import _create, _ctr_config, _exec, _pod_config, _run_pod, pods  # noqa: E402,F401
from uvmdlib import pb  # noqa: E402


def test_two_pods_ping_each_other(pods):
    c = pods.client()
    ips, ids, ctrs = [], [], []
    for name in ("na", "nb"):
        cfg = _pod_config(pods, name)
        pod = _run_pod(c, cfg)
        ids.append(pod)
        ips.append(c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.network.ip)
        cid = _create(c, pod, _ctr_config(pods, "main", "sleep 1000"), cfg)
        c.rt("StartContainer", container_id=cid)
        ctrs.append(cid)
    assert ips[0] != ips[1]
    code, out, err = _exec(c, ctrs[0], ["ping", "-c", "1", "-W", "3", ips[1]])
    assert code == 0, out + err
    code, out, err = _exec(c, ctrs[1], ["ping", "-c", "1", "-W", "3", ips[0]])
    assert code == 0, out + err
    for pod in ids:
        c.rt("StopPodSandbox", pod_sandbox_id=pod)
        c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_host_port_reaches_httpd(pods):
    c, m = pods.client(), pb()
    port = _free_port()
    cfg = _pod_config(pods, "web")
    cfg.port_mappings.append(m.PortMapping(protocol=m.TCP, container_port=8080, host_port=port,
                                           host_ip="127.0.0.1"))
    pod = _run_pod(c, cfg)
    ip = c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.network.ip
    cid = _create(c, pod, _ctr_config(pods, "httpd", "mkdir -p /www && echo served-by-pod > "
                                                     "/www/index.html && exec httpd -f -p 8080 -h /www"),
                  cfg)
    c.rt("StartContainer", container_id=cid)
    body, last = None, None
    end = time.time() + 15
    while time.time() < end and body is None:
        for url in ("http://127.0.0.1:%d/" % port, "http://%s:8080/" % ip):
            try:
                body = urllib.request.urlopen(url, timeout=2).read().decode()
                break
            except OSError as e:
                last = (url, e)
        time.sleep(0.2)
    assert body == "served-by-pod\n", last
    # Through the hostPort itself (portmap's DNAT on 127.0.0.1).
    assert urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5).read() == \
        b"served-by-pod\n"
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    # The hostPort rule went with the pod.
    rules = __import__("subprocess").run(["iptables-save", "-t", "nat"], capture_output=True,
                                         text=True).stdout
    assert ("--dport %d " % port) not in rules and ("--dport %d\n" % port) not in rules


def test_broken_plugin_leaves_nothing(daemon_factory, workdir, image_single):  # noqa: F811
    cni = os.path.join(workdir, "cni-bad")
    os.makedirs(cni)
    bin_dir = os.path.join(workdir, "bin")
    os.makedirs(bin_dir)
    plugin = os.path.join(bin_dir, "failing")
    with open(plugin, "w") as f:
        f.write("#!/bin/sh\ncat >/dev/null\necho '{\"cniVersion\":\"1.0.0\",\"code\":7,"
                "\"msg\":\"no addresses left in the test pool\"}'\nexit 1\n")
    os.chmod(plugin, 0o755)
    with open(os.path.join(cni, "10-bad.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "bad", "plugins": [{"type": "failing"}]}, f)
    d = daemon_factory(config={"cni_conf_dir": cni, "cni_bin_dirs": [bin_dir]})
    c, m = d.client(), pb()
    cfg = m.PodSandboxConfig(metadata=m.PodSandboxMetadata(name="x", namespace="d", uid="u"),
                             hostname="x")
    import grpc
    with pytest.raises(grpc.RpcError) as e:
        c.rt("RunPodSandbox", config=cfg, runtime_handler="runc")
    assert "no addresses left in the test pool" in e.value.details()
    assert list(c.rt("ListPodSandbox").items) == []
    assert os.listdir(os.path.join(d.state, "pods")) == []
    netns = os.path.join(d.state, "network", "netns")
    assert not os.path.exists(netns) or os.listdir(netns) == []
