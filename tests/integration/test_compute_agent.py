"""The per-pod ComputeAgent endpoint: a veth moved into a running pod with
AddNIC, traffic over it, ModifyNIC, DeleteNIC, bad requests, the endpoint
surviving a uvmd restart, and pod teardown removing what was added."""
import json
import os
import subprocess
import tempfile
import time

import grpc
import pytest

from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_pods import _code, _create, _ctr_config, _exec, _pod_config, _run_pod, pods  # noqa: F401
from uvmdlib import Client, gen_stubs_loaded

ANNOTATION = "io.uvmd.computeagent.address"
PREFIX = "/uvmd.computeagent.v1.ComputeAgent/"
HOST_IF, PEER_IF = "uvmdca0", "uvmdca1"
MAC = "02:42:0a:63:07:02"


def ca_pb():
    gen_stubs_loaded()
    import computeagent_pb2
    return computeagent_pb2


class Agent:
    """A client of one pod's endpoint. The socket lives deep in the test's
    state dir, past the 108-byte sun_path limit, so connect through a short
    symlink (connect() follows it)."""

    def __init__(self, socket):
        self.link = tempfile.mktemp(prefix="uvmd-ca-", suffix=".sock", dir="/tmp")
        os.symlink(socket, self.link)
        self.client = Client(self.link)

    def call(self, method, timeout=30, **kw):
        m = ca_pb()
        req = getattr(m, method + "Request")(**kw)
        return self.client.unary(PREFIX + method, req, getattr(m, method + "Response"),
                                 timeout=timeout)

    def close(self):
        self.client.close()
        os.unlink(self.link)


def _sh(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, "%s: %s" % (args, r.stderr)
    return r


def _host_veth():
    _sh("ip", "link", "del", HOST_IF, check=False)
    _sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", PEER_IF)
    _sh("ip", "addr", "add", "10.99.7.1/24", "dev", HOST_IF)
    _sh("ip", "link", "set", HOST_IF, "up")


def _socket_of(c, pod):
    r = c.rt("PodSandboxStatus", pod_sandbox_id=pod, verbose=True)
    ann = dict(r.status.annotations).get(ANNOTATION)
    info = json.loads(r.info["info"])
    assert ann and ann.startswith("unix://"), dict(r.status.annotations)
    assert info.get("computeAgent") == ann, info
    return ann[len("unix://"):]


def _endpoint(**kw):
    return ca_pb().Endpoint(**kw)


def _link_exists(name):
    return _sh("ip", "link", "show", name, check=False).returncode == 0


def test_compute_agent_nic_lifecycle(pods):
    d, c = pods, pods.client()
    pod_cfg = _pod_config(d, "ca1")
    pod = _run_pod(c, pod_cfg)
    ctr = _create(c, pod, _ctr_config(d, "s", "sleep 1000"), pod_cfg)
    c.rt("StartContainer", container_id=ctr)
    sock = _socket_of(c, pod)
    assert os.path.exists(sock) and (os.stat(sock).st_mode & 0o777) == 0o600
    # Only the status announces it: the stored annotations are the kubelet's.
    assert ANNOTATION not in dict(c.rt("ListPodSandbox").items[0].annotations)
    agent = None
    try:
        _host_veth()
        agent = Agent(sock)
        r = agent.call("AddNIC", container_id=pod, nic_id="ca1",
                       endpoint=_endpoint(host_interface=PEER_IF, interface_name="net1", mac=MAC,
                                          addresses=["10.99.7.2/24"], mtu=1400))
        assert r.interface_name == "net1"
        assert not _link_exists(PEER_IF)  # it left the host
        code, out, err = _exec(c, ctr, ["ping", "-c", "1", "-W", "3", "10.99.7.1"])
        assert code == 0, out + err
        assert _exec(c, ctr, ["cat", "/sys/class/net/net1/address"])[1].strip() == MAC
        assert _exec(c, ctr, ["cat", "/sys/class/net/net1/mtu"])[1].strip() == "1400"

        # A second one with the same id, or the same interface name: taken.
        assert _code(lambda: agent.call("AddNIC", container_id=pod, nic_id="ca1",
                                        endpoint=_endpoint(host_interface=HOST_IF)))[0] == \
            grpc.StatusCode.ALREADY_EXISTS

        agent.call("ModifyNIC", nic_id="ca1",
                   endpoint=_endpoint(addresses=["10.99.7.3/24"],
                                      routes=[ca_pb().Route(destination="10.99.8.0/24",
                                                            gateway="10.99.7.1")]))
        code, out, err = _exec(c, ctr, ["ping", "-c", "1", "-W", "3", "10.99.7.1"])
        assert code == 0, out + err
        assert _sh("busybox", "ping", "-c", "1", "-W", "3", "10.99.7.3", check=False).returncode == 0
        assert _sh("busybox", "ping", "-c", "1", "-W", "1", "10.99.7.2", check=False).returncode != 0
        routes = _exec(c, ctr, ["cat", "/proc/net/route"])[1]
        assert "0008630A" in routes, routes  # 10.99.8.0, little-endian hex
        assert _code(lambda: agent.call("ModifyNIC", nic_id="nope",
                                        endpoint=_endpoint(mtu=1500)))[0] == \
            grpc.StatusCode.NOT_FOUND

        agent.call("DeleteNIC", container_id=pod, nic_id="ca1")
        assert _exec(c, ctr, ["test", "-e", "/sys/class/net/net1"])[0] != 0
        assert not _link_exists(HOST_IF)  # a veth goes as a pair
        assert _code(lambda: agent.call("DeleteNIC", container_id=pod, nic_id="ca1"))[0] == \
            grpc.StatusCode.NOT_FOUND
    finally:
        if agent:
            agent.close()
        _sh("ip", "link", "del", HOST_IF, check=False)
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    assert not os.path.exists(sock)
    assert ANNOTATION not in dict(c.rt("PodSandboxStatus", pod_sandbox_id=pod).status.annotations)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_compute_agent_bad_requests(pods):
    d, c, m = pods, pods.client(), ca_pb()
    pod = _run_pod(c, _pod_config(d, "ca2"))
    agent = Agent(_socket_of(c, pod))
    try:
        def add(**ep):
            nic = ep.pop("nic_id", "x1")
            cid = ep.pop("container_id", pod)
            return _code(lambda: agent.call("AddNIC", container_id=cid, nic_id=nic,
                                            endpoint=m.Endpoint(**ep)))

        bad = grpc.StatusCode.INVALID_ARGUMENT
        assert add(host_interface="uvmdnope0")[0] == grpc.StatusCode.NOT_FOUND
        code, msg = add(host_interface="lo", addresses=["10.99.7.300/24"])
        assert code == bad and "10.99.7.300/24" in msg, msg
        assert add(host_interface="lo", addresses=["10.99.7.2"])[0] == bad
        assert add(host_interface="lo", addresses=["10.99.7.2/33"])[0] == bad
        code, msg = add(host_interface="lo", mac="02:00:00:00:00")
        assert code == bad and "mac" in msg, msg
        assert add(host_interface="lo", mac="03:00:00:00:00:01")[0] == bad  # multicast
        assert add(host_interface="lo", mac="02:00:00:00:00:0g")[0] == bad
        assert add(host_interface="lo", mtu=67)[0] == bad
        assert add(host_interface="lo", mtu=65536)[0] == bad
        assert add(host_interface="lo", addresses=["10.0.0.%d/32" % i for i in range(17)])[0] == bad
        assert add(host_interface="lo", routes=[m.Route(destination="10.1.0.0/16",
                                                        gateway="fe80::1")])[0] == bad
        assert add(host_interface="a" * 16)[0] == bad
        assert add(host_interface="a/b")[0] == bad
        assert add(host_interface="")[0] == bad
        assert add(host_interface="lo", nic_id="a" * 65)[0] == bad
        assert add(host_interface="lo", nic_id="bad id")[0] == bad
        assert add(host_interface="lo", nic_id="a" * 20)[0] == bad  # no name: id too long for one
        assert add(host_interface="lo", container_id="0" * 64)[0] == bad  # another pod
        assert add(host_interface="lo")[0] == bad  # the host's loopback stays
        assert _code(lambda: agent.call("AddNIC", container_id=pod, nic_id="x1"))[0] == bad
        assert _code(lambda: agent.call("ModifyNIC", nic_id="x1",
                                        endpoint=m.Endpoint(host_interface="eth9")))[0] == bad
    finally:
        agent.close()
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_compute_agent_restart_and_teardown(pods):
    d, c = pods, pods.client()
    pod_cfg = _pod_config(d, "ca3")
    pod = _run_pod(c, pod_cfg)
    ctr = _create(c, pod, _ctr_config(d, "s", "sleep 1000"), pod_cfg)
    c.rt("StartContainer", container_id=ctr)
    sock = _socket_of(c, pod)
    try:
        _host_veth()
        agent = Agent(sock)
        agent.call("AddNIC", container_id=pod, nic_id="keep",
                   endpoint=_endpoint(host_interface=PEER_IF, addresses=["10.99.7.2/24"]))
        agent.close()
        assert _exec(c, ctr, ["cat", "/sys/class/net/keep/operstate"])[1].strip() == "up"
        # uvmd goes away without cleaning up and comes back: the endpoint is
        # served again and still knows the NIC.
        d.proc.kill()
        d.proc.wait()
        assert os.path.exists(sock)  # stale
        d.start()
        c = d.client()
        assert _socket_of(c, pod) == sock
        agent = Agent(sock)
        agent.call("ModifyNIC", nic_id="keep", endpoint=_endpoint(mtu=1300))
        agent.close()
        assert _exec(c, ctr, ["cat", "/sys/class/net/keep/mtu"])[1].strip() == "1300"
        # Teardown deletes what is still attached (and so the host end too).
        c.rt("StopPodSandbox", pod_sandbox_id=pod)
        assert not os.path.exists(sock)
        assert not _link_exists(HOST_IF)
        with pytest.raises(OSError):
            os.stat(sock)
        c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    finally:
        _sh("ip", "link", "del", HOST_IF, check=False)
