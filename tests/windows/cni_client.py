"""uvmd.exe's pods networked by a CNI plugin (fakes/cni_plugin.c) from Linux
python3-grpcio, for uvmd_cni_test.sh.

usage: cni_client.py PORT MODE [POD]
  run NAME       RunPodSandbox; its IP in PodSandboxStatus is the plugin's,
                 in the hosts the agent got (PodFiles); prints "pod ID"
  stop POD       StopPodSandbox then RemovePodSandbox
  fail NAME      RunPodSandbox fails with the plugin's message
  hang NAME      RunPodSandbox fails: the plugin timed out and was killed
  expect-fail NAME  RunPodSandbox fails (uvmd.exe is killed under it)
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


def run_pod(name, timeout=60):
    cfg = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, namespace="default", uid="uid-" + name),
        dns_config=pb.DNSConfig(servers=["10.99.0.2"], searches=["svc.local"]))
    return c.rt("RunPodSandbox", config=cfg, runtime_handler="uvm",
                timeout=timeout).pod_sandbox_id


if mode == "run":
    pod = run_pod(arg)
    print("pod %s" % pod)
    st = c.rt("PodSandboxStatus", pod_sandbox_id=pod).status
    ip = st.network.ip if st.HasField("network") else ""
    check("status-ip-from-plugin", ip.startswith("10.99.0."), one_line(st.network))
    # The pod's files the agent got (the last PodFiles, uvmd_podfiles_test.sh):
    # hosts with ADD's IP and the pod's name (no hostname given), resolv.conf
    # from the DNS config.
    agent_dir = os.environ["UVMD_FAKE_AGENT_DIR"]
    last = max((f for f in os.listdir(agent_dir) if f.startswith("podfiles-")),
               key=lambda f: int(f[9:-5]), default=None)
    pf = json.load(open(os.path.join(agent_dir, last))) if last else {}
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
elif mode == "expect-fail":
    try:
        run_pod(arg, timeout=90)
        print("answered")
    except grpc.RpcError as e:
        print("failed %s" % e.code())
sys.exit(1 if hcs_client.failed else 0)
