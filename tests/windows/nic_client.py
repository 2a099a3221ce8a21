"""uvmd.exe's ComputeAgent (AddNIC, ModifyNIC, DeleteNIC on the CRI's own
listener, routed by container_id) from Linux python3-grpcio, for
uvmd_nic_test.sh.

usage: nic_client.py PORT MODE [POD_A POD_B]
  setup            two pods (a, b); HCN endpoints E1, E2, E3 made in the fake
                   HCN; NIC net1 added to each (E1, E2), one changed; an
                   unknown endpoint, a taken name or endpoint, a missing or
                   unknown container_id refused; the agent refusing a NIC
                   (E3) leaves nothing; prints "pods A B"
  restarted A B    after uvmd.exe was killed and restarted: a's net1 deleted
                   (nothing of it left), b's untouched; a second delete
                   NOT_FOUND
  stop A B         the pods stopped and removed: b's NIC and every namespace
                   gone
Prints "ok NAME" / "not ok NAME # why". The fake HCS's directory (Linux
path) is UVMD_FAKE_HCS_DIR_UNIX, the agent's UVMD_FAKE_AGENT_DIR, the rig's
UVMD_RIG_DIR."""
import glob
import json
import os
import sys

import grpc

sys.path.insert(0, "tests/windows")
from hcs_client import check, connect, expect_error, one_line  # noqa: E402
import hcs_client  # noqa: E402

PREFIX = "/uvmd.computeagent.v1.ComputeAgent/"
E = {1: "e1e1e1e1-0000-4000-8000-000000000001", 2: "E2E2E2E2-0000-4000-8000-000000000002",
     3: "e3e3e3e3-0000-4000-8000-000000000003"}

port, mode = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
hcs_dir = os.environ["UVMD_FAKE_HCS_DIR_UNIX"]
agent_dir = os.environ["UVMD_FAKE_AGENT_DIR"]
state = os.path.join(os.environ["UVMD_RIG_DIR"], "state", "pods")
c, pb = connect(port, mode)


def ca_pb():
    import computeagent_pb2
    return computeagent_pb2


def ca(method, **kw):
    m = ca_pb()
    return c.unary(PREFIX + method, getattr(m, method + "Request")(**kw),
                   getattr(m, method + "Response"), timeout=30)


def endpoint(**kw):
    return ca_pb().Endpoint(**kw)


def add(pod, nic, n):
    return ca("AddNIC", container_id=pod, nic_id=nic, endpoint=endpoint(host_interface=E[n]))


def write_endpoint(n):
    doc = {"ID": E[n], "MacAddress": "00-15-5D-00-01-0%d" % n,
           "IpConfigurations": [{"IpAddress": "10.1.%d.5" % n, "PrefixLength": 24}],
           "Routes": [{"NextHop": "10.1.%d.1" % n, "DestinationPrefix": "0.0.0.0/0"}]}
    with open(os.path.join(hcs_dir, "ep-%s.json" % E[n].lower()), "w") as f:
        json.dump(doc, f)


def host_nic(pod, n):
    """The fake HCS has the NIC of endpoint n on pod's VM."""
    return os.path.exists(os.path.join(hcs_dir, "%s@vm.nic-%s" % (pod, E[n].lower())))


def in_namespace(n):
    """Namespaces (fake HCN) endpoint n is in."""
    return glob.glob(os.path.join(hcs_dir, "ns-*.ep-" + E[n].lower()))


def namespaces():
    return [p for p in glob.glob(os.path.join(hcs_dir, "ns-*")) if ".ep-" not in p]


def added(pod):
    """The pod's hcs record's added_nics, by nic_id."""
    with open(os.path.join(state, pod, "hcs-pod.json")) as f:
        return {a["nic_id"]: a for a in json.load(f).get("added_nics", [])}


def calls():
    return [x for x in hcs_client.calls() if x.startswith("nic ")]


def run_pod(name):
    cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name=name, namespace="default",
                                                             uid="uid-" + name))
    return c.rt("RunPodSandbox", config=cfg, runtime_handler="uvm").pod_sandbox_id


if mode == "setup":
    for n in E:
        write_endpoint(n)
    a, b = run_pod("a"), run_pod("b")
    print("pods %s %s" % (a, b))
    st = c.rt("PodSandboxStatus", pod_sandbox_id=a).status
    check("status-announces-endpoint",
          st.annotations.get("io.uvmd.computeagent.address") == "tcp://127.0.0.1:" + port,
          one_line(st.annotations))
    add(a, "net1", 1)
    check("add-host-nic", host_nic(a, 1))
    check("add-in-namespace", len(in_namespace(1)) == 1 and len(namespaces()) == 1,
          one_line(os.listdir(hcs_dir)))
    check("add-guest-configured", "nic Network 00:15:5d:00:01:01 10.1.1.5/24" in calls(),
          one_line(calls()))
    r = added(a).get("net1", {})
    check("add-recorded", r.get("endpoint_id", "").lower() == E[1] and r.get("ready") is True
          and r.get("ip") == "10.1.1.5", one_line(r))
    add(b, "net1", 2)
    check("second-pod-add", host_nic(b, 2) and len(in_namespace(2)) == 1
          and len(namespaces()) == 2, one_line(os.listdir(hcs_dir)))

    before = sorted(os.listdir(hcs_dir))
    expect_error("unknown-endpoint", lambda: ca(
        "AddNIC", container_id=a, nic_id="net9",
        endpoint=endpoint(host_interface="99999999-0000-4000-8000-000000000009")),
        grpc.StatusCode.NOT_FOUND, "99999999-0000-4000-8000-000000000009")
    check("unknown-endpoint-nothing-made", sorted(os.listdir(hcs_dir)) == before
          and list(added(a)) == ["net1"], one_line(sorted(os.listdir(hcs_dir))))
    expect_error("same-name", lambda: add(a, "net1", 3), grpc.StatusCode.ALREADY_EXISTS, "net1")
    expect_error("same-endpoint", lambda: add(a, "net2", 1), grpc.StatusCode.ALREADY_EXISTS,
                 "is a NIC already")
    expect_error("other-pods-endpoint", lambda: add(a, "net2", 2),
                 grpc.StatusCode.ALREADY_EXISTS, "add HCN endpoint " + E[2])
    expect_error("no-container-id", lambda: ca("DeleteNIC", nic_id="net1"),
                 grpc.StatusCode.INVALID_ARGUMENT, "container_id is required")
    expect_error("unknown-pod", lambda: add("f" * 64, "net1", 3), grpc.StatusCode.NOT_FOUND, "")
    expect_error("add-mac-refused", lambda: ca(
        "AddNIC", container_id=a, nic_id="net3",
        endpoint=endpoint(host_interface=E[3], mac="02:00:00:00:00:01")),
        grpc.StatusCode.INVALID_ARGUMENT, "come from its HCN endpoint")
    check("refusals-nothing-made", sorted(os.listdir(hcs_dir)) == before,
          one_line(sorted(os.listdir(hcs_dir))))

    route = ca_pb().Route(destination="0.0.0.0/0", gateway="10.1.1.254")
    ca("ModifyNIC", container_id=a, nic_id="net1",
       endpoint=endpoint(addresses=["10.1.1.77/24"], routes=[route], mtu=1400))
    check("modify-guest", "nic Nic 00:15:5d:00:01:01 old 10.1.1.5/24 10.1.1.77/24" in calls(),
          one_line(calls()))
    r = added(a).get("net1", {})
    check("modify-recorded", r.get("ip") == "10.1.1.77" and r.get("gateway") == "10.1.1.254"
          and r.get("mtu") == 1400, one_line(r))
    expect_error("modify-two-addresses", lambda: ca(
        "ModifyNIC", container_id=a, nic_id="net1",
        endpoint=endpoint(addresses=["10.1.1.7/24", "10.1.1.8/24"])),
        grpc.StatusCode.INVALID_ARGUMENT, "one address")
    expect_error("modify-unknown-nic", lambda: ca(
        "ModifyNIC", container_id=a, nic_id="nope", endpoint=endpoint(mtu=1500)),
        grpc.StatusCode.NOT_FOUND, "nope")

    # The agent refuses the NIC: the host's side and the namespace entry go.
    open(os.path.join(agent_dir, "fail-nic"), "w").close()
    expect_error("guest-refusal", lambda: add(a, "net3", 3), grpc.StatusCode.INTERNAL,
                 "refused on purpose")
    os.unlink(os.path.join(agent_dir, "fail-nic"))
    check("guest-refusal-no-host-nic", not host_nic(a, 3))
    check("guest-refusal-no-namespace-entry", in_namespace(3) == [], one_line(in_namespace(3)))
    with open(os.path.join(hcs_dir, a + "@vm.modify")) as f:
        mods = [x for x in f.read().split("\n") if E[3] in x.lower()]
    check("guest-refusal-host-added-then-removed", len(mods) == 2 and '"Add"' in mods[0]
          and '"Remove"' in mods[1], one_line(mods))
    check("guest-refusal-not-recorded", list(added(a)) == ["net1"], one_line(added(a)))
    check("guest-refusal-others-kept", host_nic(a, 1) and host_nic(b, 2)
          and len(namespaces()) == 2)

elif mode == "restarted":
    a, b = args
    r = added(a).get("net1", {})
    check("restart-still-recorded", r.get("ready") is True, one_line(r))
    ca("DeleteNIC", container_id=a, nic_id="net1")
    check("delete-host-nic-gone", not host_nic(a, 1))
    check("delete-namespace-entry-gone", in_namespace(1) == [], one_line(in_namespace(1)))
    check("delete-namespace-gone", len(namespaces()) == 1, one_line(namespaces()))
    check("delete-not-recorded", added(a) == {}, one_line(added(a)))
    expect_error("delete-again", lambda: ca("DeleteNIC", container_id=a, nic_id="net1"),
                 grpc.StatusCode.NOT_FOUND, "net1")
    r = added(b).get("net1", {})
    check("second-pod-untouched", host_nic(b, 2) and len(in_namespace(2)) == 1
          and r.get("ready") is True and r.get("ip") == "10.1.2.5", one_line(r))

elif mode == "stop":
    for pod in args:
        c.rt("StopPodSandbox", pod_sandbox_id=pod)
        c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    check("stop-nics-gone", not host_nic(args[1], 2) and in_namespace(2) == [],
          one_line(os.listdir(hcs_dir)))
    check("stop-namespaces-gone", namespaces() == [], one_line(namespaces()))
    check("stop-pods-gone", len(c.rt("ListPodSandbox").items) == 0)

sys.exit(1 if hcs_client.failed else 0)
