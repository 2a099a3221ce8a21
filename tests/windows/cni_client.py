"""uvmd.exe's pods networked by a CNI plugin (fakes/cni_plugin.c) from Linux
python3-grpcio, for uvmd_cni_test.sh.

usage: cni_client.py PORT MODE [POD]
  run NAME       RunPodSandbox with port mappings and a DNS config; its IP
                 in PodSandboxStatus is the plugin's, in the hosts the
                 agent got (PodFiles), resolv.conf from the pod's DNS
                 config; prints "pod ID"
  run-nodns NAME  the same without a DNS config: resolv.conf from the
                 DNS the plugin's ADD result advised
  stop POD       StopPodSandbox then RemovePodSandbox
  fail NAME      RunPodSandbox fails with the plugin's message
  hang NAME      RunPodSandbox fails: the plugin timed out and was killed
  expect-fail NAME  RunPodSandbox fails (uvmd.exe is killed under it)
  status ready|WHY  Status's NetworkReady holds, or not (WHY names the case)
Prints "ok NAME" / "not ok NAME # why"."""
import json
import os
import sys

import grpc

sys.path.insert(0, "tests/windows")
from hcs_client import check, connect, expect_error, one_line  # noqa: E402
import hcs_client  # noqa: E402

port, mode = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else ""
c, pb = connect(port, mode)


# Published ones reach the plugin (uvmd_cni_test.sh checks its stdin); the
# one without a host port does not.
PORTS = [dict(protocol=pb.TCP, container_port=80, host_port=8080),
         dict(protocol=pb.UDP, container_port=53),
         dict(protocol=pb.UDP, container_port=9000, host_port=9001, host_ip="127.0.0.1")]


def run_pod(name, timeout=60, dns=True):
    cfg = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, namespace="default", uid="uid-" + name),
        port_mappings=[pb.PortMapping(**p) for p in PORTS])
    if dns:
        cfg.dns_config.CopyFrom(pb.DNSConfig(servers=["10.99.0.2"], searches=["svc.local"]))
    return c.rt("RunPodSandbox", config=cfg, runtime_handler="uvm",
                timeout=timeout).pod_sandbox_id


def last_podfiles():
    """The pod files the agent got last (uvmd_podfiles_test.sh)."""
    agent_dir = os.environ["UVMD_FAKE_AGENT_DIR"]
    last = max((f for f in os.listdir(agent_dir) if f.startswith("podfiles-")),
               key=lambda f: int(f[9:-5]), default=None)
    return json.load(open(os.path.join(agent_dir, last))) if last else {}


if mode == "run-nodns":
    pod = run_pod(arg, dns=False)
    print("pod %s" % pod)
    pf = last_podfiles()
    # No DNS config of the pod's: what ADD's result advised (fakes/cni_plugin.c).
    check("podfiles-resolv-conf-from-cni",
          pf.get("ResolvConf") ==
          "nameserver 10.99.0.53\nsearch svc.winfake.local\noptions ndots:3\n",
          one_line(pf.get("ResolvConf")))
elif mode == "run":
    pod = run_pod(arg)
    print("pod %s" % pod)
    st = c.rt("PodSandboxStatus", pod_sandbox_id=pod).status
    ip = st.network.ip if st.HasField("network") else ""
    check("status-ip-from-plugin", ip.startswith("10.99.0."), one_line(st.network))
    # The pod's files the agent got (the last PodFiles): hosts with ADD's IP
    # and the pod's name (no hostname given), resolv.conf from the pod's DNS
    # config, not from the DNS ADD's result advised.
    pf = last_podfiles()
    check("podfiles-hosts-pod-ip", pf.get("Hosts", "").endswith("\n%s\t%s\n" % (ip, arg))
          and pf["Hosts"].startswith("127.0.0.1\tlocalhost\n"), one_line(pf.get("Hosts")))
    check("podfiles-resolv-conf",
          pf.get("ResolvConf") == "nameserver 10.99.0.2\nsearch svc.local\n",
          one_line(pf.get("ResolvConf")))
    check("status-ready", st.state == pb.SANDBOX_READY, str(st.state))
elif mode == "stop":
    c.rt("StopPodSandbox", pod_sandbox_id=arg)
    st = c.rt("PodSandboxStatus", pod_sandbox_id=arg).status
    check("stopped-notready", st.state == pb.SANDBOX_NOTREADY, str(st.state))
    c.rt("RemovePodSandbox", pod_sandbox_id=arg)
    expect_error("removed", lambda: c.rt("PodSandboxStatus", pod_sandbox_id=arg),
                 grpc.StatusCode.NOT_FOUND, "")
elif mode == "fail":
    expect_error("fail-run-refused", lambda: run_pod(arg), grpc.StatusCode.INTERNAL,
                 "told to fail (no subnet left)")
    pods = c.rt("ListPodSandbox").items
    check("fail-no-pod-listed", not pods, one_line(pods))
elif mode == "hang":
    expect_error("hang-run-timed-out", lambda: run_pod(arg), grpc.StatusCode.DEADLINE_EXCEEDED,
                 "timed out after")
    pods = c.rt("ListPodSandbox").items
    check("hang-no-pod-listed", not pods, one_line(pods))
elif mode == "status":
    conds = {x.type: x for x in c.rt("Status").status.conditions}
    nr = conds.get("NetworkReady")
    if arg == "ready":
        check("status-network-ready", nr is not None and nr.status, one_line(nr))
    else:
        check("status-network-not-ready-" + arg,
              nr is not None and not nr.status and nr.reason == "NetworkPluginNotReady"
              and "cni config uninitialized" in nr.message, one_line(nr))
elif mode == "expect-fail":
    try:
        run_pod(arg, timeout=90)
        print("answered")
    except grpc.RpcError as e:
        print("failed %s" % e.code())
sys.exit(1 if hcs_client.failed else 0)
