"""The ComputeAgent on a VM pod (driver qemu): AddNIC hot-plugs a guest
adapter (tap + tc redirect in the pod's namespace, QMP netdev/device on a
root port, the guest agent configuring it), traffic reaches an httpd in the
VM over it from a network namespace the test made, ModifyNIC changes it in
the guest, a guest that refuses a route leaves nothing behind, and a uvmd
killed between AddNIC and DeleteNIC still deletes it (and drops an adapter
QEMU has but no record names). One VM for all of it: TCG boots are slow."""
import json
import os
import socket
import subprocess
import time

import grpc

from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_compute_agent import Agent, _code, _endpoint, _link_exists, _sh, _socket_of, ca_pb
from test_pods import _wait_for
from test_vm_pods import _ctr_config, _ok, _pod_config, _start, _vm_pod, vm  # noqa: F401

TEST_NS = "uvmdcavm"
HOST_A, PEER_A = "uvmdcv0", "uvmdcv1"  # PEER_* go into the pod
HOST_B, PEER_B = "uvmdcw0", "uvmdcw1"
MAC_A, MAC_B = "02:42:0a:63:09:02", "02:42:0a:63:0b:02"


def _test_ns():
    """A namespace of the test's own with the far ends of two veths."""
    _sh("ip", "netns", "del", TEST_NS, check=False)
    _sh("ip", "netns", "add", TEST_NS)
    for host, peer, addr in ((HOST_A, PEER_A, "10.99.9.1/24"), (HOST_B, PEER_B, "10.99.11.1/24")):
        _sh("ip", "link", "del", peer, check=False)
        _sh("ip", "link", "add", peer, "type", "veth", "peer", "name", host, "netns", TEST_NS)
        _in_test_ns("ip", "addr", "add", addr, "dev", host)
        _in_test_ns("ip", "link", "set", host, "up")


def _in_test_ns(*args, check=True):
    return _sh("ip", "netns", "exec", TEST_NS, *args, check=check)


def _pod_ns(d, pod):
    with open(os.path.join(d.state, "pods", pod, "pod.json")) as f:
        return json.load(f)["netnsPath"]


def _in_pod_ns(d, pod, *args):
    return _sh("nsenter", "--net=" + _pod_ns(d, pod), *args, check=False)


class Qmp:
    """The pod's QMP monitor, between uvmd's own calls (it takes one client)."""

    def __init__(self, d, pod):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(30)
        self.s.connect(os.path.join(d.state, "pods", pod, "qmp.sock"))
        self.f = self.s.makefile("r")
        self._read()
        self.call("qmp_capabilities")

    def _read(self):
        while True:
            m = json.loads(self.f.readline())
            if "event" not in m:
                return m

    def call(self, cmd, **args):
        self.s.sendall(json.dumps({"execute": cmd, "arguments": args}).encode())
        m = self._read()
        assert "return" in m, (cmd, m)
        return m["return"]

    def devices(self):
        return sorted(p["name"] for p in self.call("qom-list", path="/machine/peripheral")
                      if p["name"].startswith("nic-"))

    def close(self):
        self.f.close()
        self.s.close()


def _qmp_devices(d, pod):
    q = Qmp(d, pod)
    try:
        return q.devices()
    finally:
        q.close()


def _guest_link(c, ctr, mac):
    """The guest's interface with this MAC: its `ip -o addr` lines."""
    links = _ok(c, ctr, "ip -o link")
    name = [ln.split(":")[1].strip() for ln in links.splitlines() if mac in ln.lower()]
    if not name:
        return None
    return name[0], _ok(c, ctr, "ip -o link show dev %s; ip -o addr show dev %s" % (name[0],
                                                                                   name[0]))


def _records(d, pod):
    with open(os.path.join(d.state, "pods", pod, "nics.json")) as f:
        nics = json.load(f)["nics"]
    return {n["nicId"]: n for n in nics}, sorted(os.listdir(os.path.join(d.state, "pods", pod,
                                                                         "nics")))


def _http_get(ip):
    req = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 5 %s 8080" % ip
    return _in_test_ns("sh", "-c", req, check=False).stdout


def test_compute_agent_vm_nic(vm):
    d, c, m = vm, vm.client(), ca_pb()
    pod_cfg = _pod_config(d, "cavm")
    pod = _vm_pod(c, pod_cfg)
    web = _start(c, pod, pod_cfg, _ctr_config(d, "httpd", "mkdir -p /www && echo served-by-vm > "
                                                          "/www/index.html && exec httpd -f -p "
                                                          "8080 -h /www"))
    sock = _socket_of(c, pod)
    agent = None
    try:
        _test_ns()
        agent = Agent(sock)

        # Bad input is refused before anything moves.
        code, msg = _code(lambda: agent.call("AddNIC", container_id=pod, nic_id="vn1",
                                             endpoint=_endpoint(host_interface=PEER_A,
                                                                mac="03:00:00:00:00:01")))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "mac" in msg, msg
        assert _link_exists(PEER_A)

        # Added: the host end leaves the host, a tap and the tc redirect stand
        # in the pod's namespace, the adapter is on rp0, the guest has it.
        t = time.time()
        r = agent.call("AddNIC", container_id=pod, nic_id="vn1", timeout=120,
                       endpoint=_endpoint(host_interface=PEER_A, interface_name="vnet1",
                                          mac=MAC_A, addresses=["10.99.9.2/24"], mtu=1400))
        print("AddNIC on a VM pod: %.1f s" % (time.time() - t))
        assert r.interface_name == "vnet1"
        assert not _link_exists(PEER_A)
        assert "vnic0" in _in_pod_ns(d, pod, "ip", "-o", "link").stdout
        assert "ingress" in _in_pod_ns(d, pod, "tc", "qdisc", "show", "dev", "vnet1").stdout
        assert "mirred" in _in_pod_ns(d, pod, "tc", "filter", "show", "dev", "vnet1",
                                      "ingress").stdout
        nics, ports = _records(d, pod)
        assert nics["vn1"]["guest"] is True and ports == ["vn1"]
        name, info = _guest_link(c, web, MAC_A)
        assert "mtu 1400" in info and "10.99.9.2/24" in info and "UP" in info, info
        # Traffic into the VM over it, from the test's namespace.
        _wait_for("httpd over the added NIC",
                  lambda: _http_get("10.99.9.2").endswith("served-by-vm\n"), timeout=30)
        assert _in_test_ns("busybox", "ping", "-c", "1", "-W", "5", "10.99.9.2", check=False).returncode == 0

        # Modified: the guest takes the new address and a route through it.
        agent.call("ModifyNIC", nic_id="vn1", timeout=60,
                   endpoint=_endpoint(addresses=["10.99.9.3/24"], mtu=1300,
                                      routes=[m.Route(destination="10.99.10.0/24",
                                                      gateway="10.99.9.1")]))
        _, info = _guest_link(c, web, MAC_A)
        assert "10.99.9.3/24" in info and "10.99.9.2/" not in info and "mtu 1300" in info, info
        assert "10.99.10.0/24 via 10.99.9.1 dev %s" % name in _ok(c, web, "ip route")
        assert "mtu 1300" in _in_pod_ns(d, pod, "ip", "-o", "link", "show", "vnic0").stdout
        assert _in_test_ns("busybox", "ping", "-c", "1", "-W", "5", "10.99.9.3", check=False).returncode == 0
        assert _http_get("10.99.9.3").endswith("served-by-vm\n")
        # A change the guest refuses halfway is undone there.
        code, msg = _code(lambda: agent.call(
            "ModifyNIC", nic_id="vn1", timeout=60,
            endpoint=_endpoint(addresses=["10.99.9.4/24"],
                               routes=[m.Route(destination="10.99.12.0/24",
                                               gateway="10.99.13.1")])))
        assert code != grpc.StatusCode.OK and "route 10.99.12.0/24" in msg, (code, msg)
        _, info = _guest_link(c, web, MAC_A)
        assert "10.99.9.3/24" in info and "10.99.9.4/" not in info, info
        assert "10.99.10.0/24 via 10.99.9.1 dev %s" % name in _ok(c, web, "ip route")
        assert _records(d, pod)[0]["vn1"]["addresses"] == ["10.99.9.3/24"]
        assert _http_get("10.99.9.3").endswith("served-by-vm\n")

        # Failure halfway: the guest refuses a route whose gateway is not on
        # any of its links. Nothing is left: no adapter in QEMU or the guest,
        # no tap or redirect, no record; the host end is back on the host.
        t = time.time()
        code, msg = _code(lambda: agent.call(
            "AddNIC", container_id=pod, nic_id="vn2", timeout=120,
            endpoint=_endpoint(host_interface=PEER_B, mac=MAC_B, addresses=["10.99.11.2/24"],
                               routes=[m.Route(destination="10.99.12.0/24",
                                               gateway="10.99.13.1")])))
        # (ENETUNREACH from the guest: UNAVAILABLE by the status table)
        assert code != grpc.StatusCode.OK and "route 10.99.12.0/24" in msg, (code, msg)
        print("AddNIC refused by the guest, undone in %.1f s" % (time.time() - t))
        assert _link_exists(PEER_B)
        assert _qmp_devices(d, pod) == ["nic-vn1"]
        assert _guest_link(c, web, MAC_B) is None
        assert "vnic1" not in _in_pod_ns(d, pod, "ip", "-o", "link").stdout
        nics, ports = _records(d, pod)
        assert list(nics) == ["vn1"] and ports == ["vn1"]

        # An adapter QEMU has but no record names (as if uvmd died between
        # device_del and forgetting it), on the root port the next NIC would
        # take: QEMU refuses that NIC's device_add, and its netdev, tap and
        # redirect go again.
        q = Qmp(d, pod)
        q.call("netdev_add", type="hubport", id="net-orphan", hubid=7)
        q.call("device_add", driver="virtio-net-pci", id="nic-orphan", netdev="net-orphan",
               bus="rp1", mac="02:42:0a:63:0d:02")
        assert q.devices() == ["nic-orphan", "nic-vn1"]
        q.close()
        code, msg = _code(lambda: agent.call(
            "AddNIC", container_id=pod, nic_id="vn3", timeout=120,
            endpoint=_endpoint(host_interface=PEER_B, mac=MAC_B, addresses=["10.99.11.2/24"])))
        assert code != grpc.StatusCode.OK and "device_add" in msg and "rp1" in msg, (code, msg)
        assert _link_exists(PEER_B)
        q = Qmp(d, pod)
        assert q.devices() == ["nic-orphan", "nic-vn1"]
        netdevs = q.call("human-monitor-command", **{"command-line": "info network"})
        assert "net-vn3" not in netdevs and "net-vn1" in netdevs, netdevs
        q.close()
        assert "vnic1" not in _in_pod_ns(d, pod, "ip", "-o", "link").stdout
        assert list(_records(d, pod)[0]) == ["vn1"] and _records(d, pod)[1] == ["vn1"]

        # The next uvmd drops the adapter no record names. (Once the guest
        # took it: an unplug requested right after the plug was once seen
        # never to end, likely lost while pciehp still handled the plug.)
        _wait_for("the guest took the orphan", lambda: _guest_link(c, web, "02:42:0a:63:0d:02"),
                  timeout=30)

        # uvmd killed between add and delete: the new one still deletes it.
        agent.close()
        agent = None
        d.proc.kill()
        d.proc.wait()
        d.start()
        c = d.client()
        _wait_for("the orphan adapter removed", lambda: _qmp_devices(d, pod) == ["nic-vn1"],
                  timeout=60)
        agent = Agent(_socket_of(c, pod))
        t = time.time()
        agent.call("DeleteNIC", container_id=pod, nic_id="vn1", timeout=120)
        print("DeleteNIC on a VM pod: %.1f s" % (time.time() - t))
        assert _qmp_devices(d, pod) == []
        assert _guest_link(c, web, MAC_A) is None
        pod_links = _in_pod_ns(d, pod, "ip", "-o", "link").stdout
        assert "vnic0" not in pod_links and "vnet1" not in pod_links, pod_links
        assert HOST_A not in _in_test_ns("ip", "-o", "link").stdout  # a veth goes as a pair
        nics, ports = _records(d, pod)
        assert nics == {} and ports == []
        assert _code(lambda: agent.call("DeleteNIC", container_id=pod, nic_id="vn1"))[0] == \
            grpc.StatusCode.NOT_FOUND
        # The pod's own network still works.
        assert _ok(c, web, "echo alive") == "alive"

        # Four root ports, four added NICs; the pod's teardown takes those
        # still attached (and so their veths' other ends).
        for i in range(5):
            _sh("ip", "link", "add", "uvmdcx%da" % i, "type", "veth", "peer", "name",
                "uvmdcx%db" % i)
        for i in range(4):
            agent.call("AddNIC", container_id=pod, nic_id="x%d" % i, timeout=120,
                       endpoint=_endpoint(host_interface="uvmdcx%da" % i,
                                          addresses=["10.99.%d.2/24" % (20 + i)]))
        code, msg = _code(lambda: agent.call("AddNIC", container_id=pod, nic_id="x4",
                                             endpoint=_endpoint(host_interface="uvmdcx4a")))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "root ports" in msg, msg
        assert _link_exists("uvmdcx4a")
        assert _qmp_devices(d, pod) == ["nic-x0", "nic-x1", "nic-x2", "nic-x3"]
    finally:
        if agent:
            agent.close()
        for peer in [PEER_A, PEER_B] + ["uvmdcx%da" % i for i in range(5)]:
            _sh("ip", "link", "del", peer, check=False)  # those still on the host
        _sh("ip", "netns", "del", TEST_NS, check=False)
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    assert not any(_link_exists("uvmdcx%db" % i) for i in range(5))
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    assert subprocess.run(["pgrep", "-f", "qemu-system.*" + d.state]).returncode != 0
