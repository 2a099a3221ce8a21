"""uvmd.exe's pod calls from Linux python3-grpcio, for uvmd_pods_test.sh.

usage: pods_client.py PORT MODE [POD_ID]
  run            Status, then a pod run, checked by Status and List: prints
                 "pod ID" for the script
  reattached ID  after a restart: the pod is READY and listed as before
  fail           RunPodSandbox while the fake HCS refuses to start VMs
  exit           a pod whose VM exits on its own turns NOTREADY; removed
  refused        what an hcs pod cannot have is refused before anything
  stop ID        Stop then Remove, each twice (idempotent), List empty
Prints "ok NAME" / "not ok NAME # why"; the fake HCS's directory (Linux
path) is UVMD_FAKE_HCS_DIR_UNIX."""
import os
import sys
import time

import grpc

sys.path.insert(0, "tests/windows")
from hcs_client import check, connect, expect_error, one_line  # noqa: E402
import hcs_client  # noqa: E402

port, mode = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else None
hcs_dir = os.environ["UVMD_FAKE_HCS_DIR_UNIX"]
c, pb = connect(port, mode)


def config(name, **kw):
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, namespace="default", uid="uid-" + name),
        labels={"app": name}, annotations={"note": "from linux"}, **kw)


def status(pod_id, verbose=False):
    return c.rt("PodSandboxStatus", pod_sandbox_id=pod_id, verbose=verbose)


def listed():
    return {p.id: p for p in c.rt("ListPodSandbox").items}


def system_state(pod_id):
    """The fake HCS's state line of the pod's VM, None when it is gone."""
    try:
        with open(os.path.join(hcs_dir, pod_id + "@vm.state")) as f:
            return f.read()
    except FileNotFoundError:
        return None


def systems():
    return sorted(n for n in os.listdir(hcs_dir) if n.endswith(".state"))



READY = pb.SANDBOX_READY
NOTREADY = pb.SANDBOX_NOTREADY

if mode == "run":
    st = c.rt("Status")
    cond = {x.type: x for x in st.status.conditions}
    rr = cond.get("RuntimeReady")
    check("status-runtime-ready", rr is not None and rr.status, one_line(rr))
    check("status-handlers", sorted(h.name for h in st.runtime_handlers) == ["", "uvm"],
          one_line(st.runtime_handlers))
    check("list-empty-at-start", listed() == {}, one_line(listed()))
    r = c.rt("RunPodSandbox", config=config("web"), runtime_handler="uvm")
    pod = r.pod_sandbox_id
    check("run-pod", len(pod) == 64, pod)
    print("pod " + pod)
    s = status(pod, verbose=True)
    check("status-ready", s.status.state == READY and s.status.metadata.name == "web"
          and s.status.runtime_handler == "uvm" and dict(s.status.labels) == {"app": "web"}
          and s.status.linux.namespaces.options.network == pb.POD,
          one_line(s.status))
    check("status-info", '"driver":"hcs"' in s.info.get("info", ""), one_line(s.info))
    items = listed()
    check("list-one", list(items) == [pod] and items[pod].state == READY
          and dict(items[pod].annotations) == {"note": "from linux"}, one_line(items))
    f = pb.PodSandboxFilter(label_selector={"app": "web"})
    check("list-filtered", [p.id for p in c.rt("ListPodSandbox", filter=f).items] == [pod])
    f = pb.PodSandboxFilter(label_selector={"app": "nope"})
    check("list-filtered-none", len(c.rt("ListPodSandbox", filter=f).items) == 0)
    state = system_state(pod)
    check("hcs-system-running", state is not None and state.startswith("Running {"), repr(state))
    expect_error("run-same-name-refused",
                 lambda: c.rt("RunPodSandbox", config=config("web"), runtime_handler="uvm"),
                 grpc.StatusCode.ALREADY_EXISTS, pod)

elif mode == "reattached":
    s = status(arg)
    check("reattached-ready", s.status.state == READY and dict(s.status.labels) == {"app": "web"},
          one_line(s.status))
    items = listed()
    check("reattached-listed", list(items) == [arg] and items[arg].state == READY,
          one_line(items))
    check("reattached-system-kept", (system_state(arg) or "").startswith("Running"),
          repr(system_state(arg)))

elif mode == "fail":
    before = systems()
    open(os.path.join(hcs_dir, "fail-start"), "w").close()
    try:
        expect_error("run-start-fails",
                     lambda: c.rt("RunPodSandbox", config=config("broken")),
                     # HCS_E_INVALID_STATE is EBUSY
                     (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.FAILED_PRECONDITION),
                     "start the VM")
    finally:
        os.unlink(os.path.join(hcs_dir, "fail-start"))
    check("failed-pod-not-listed", all(p.metadata.name != "broken" for p in listed().values()),
          one_line(listed()))
    check("failed-pod-no-system", systems() == before, "%s -> %s" % (before, systems()))
    # Nothing of it is left to block the name either.
    r = c.rt("RunPodSandbox", config=config("broken"))
    check("failed-name-reusable", status(r.pod_sandbox_id).status.state == READY)
    c.rt("StopPodSandbox", pod_sandbox_id=r.pod_sandbox_id)
    c.rt("RemovePodSandbox", pod_sandbox_id=r.pod_sandbox_id)
    check("failed-then-removed", systems() == before, "%s -> %s" % (before, systems()))

elif mode == "exit":
    r = c.rt("RunPodSandbox", config=config("crashy"))
    pod = r.pod_sandbox_id
    open(os.path.join(hcs_dir, pod + "@vm.exit"), "w").close()
    state = None
    for _ in range(100):
        state = status(pod).status.state
        if state == NOTREADY:
            break
        time.sleep(0.1)
    check("vm-exit-notready", state == NOTREADY, "state %s" % state)
    check("vm-exit-system-gone", system_state(pod) is None, repr(system_state(pod)))
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    check("vm-exit-removed", pod not in listed(), one_line(listed()))

elif mode == "refused":
    before = systems()
    sc = pb.LinuxSandboxSecurityContext(
        namespace_options=pb.NamespaceOption(network=pb.NODE))
    expect_error("host-network-refused",
                 lambda: c.rt("RunPodSandbox",
                              config=config("hostnet", linux=pb.LinuxPodSandboxConfig(
                                  security_context=sc))),
                 grpc.StatusCode.INVALID_ARGUMENT, "cannot share the node's network")
    expect_error("unknown-handler-refused",
                 lambda: c.rt("RunPodSandbox", config=config("h"), runtime_handler="nope"),
                 grpc.StatusCode.INVALID_ARGUMENT, "is not configured")
    expect_error("status-unknown-pod", lambda: status("f" * 64), grpc.StatusCode.NOT_FOUND, "")
    check("refused-made-nothing", systems() == before and len(listed()) == 1,
          "%s -> %s" % (before, systems()))

elif mode == "stop":
    c.rt("StopPodSandbox", pod_sandbox_id=arg)
    s = status(arg)
    check("stopped-notready", s.status.state == NOTREADY, one_line(s.status))
    check("stopped-system-gone", system_state(arg) is None, repr(system_state(arg)))
    c.rt("StopPodSandbox", pod_sandbox_id=arg)
    check("stop-again", status(arg).status.state == NOTREADY)
    c.rt("RemovePodSandbox", pod_sandbox_id=arg)
    expect_error("removed-not-found", lambda: status(arg), grpc.StatusCode.NOT_FOUND, "")
    c.rt("RemovePodSandbox", pod_sandbox_id=arg)
    check("remove-again", True)
    check("list-empty-at-end", listed() == {}, one_line(listed()))
    check("no-system-left", systems() == [], str(systems()))

sys.exit(hcs_client.failed != 0)
