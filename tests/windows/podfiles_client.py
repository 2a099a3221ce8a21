"""An hcs pod's resolv.conf, hosts and hostname, from Linux python3-grpcio,
for uvmd_podfiles_test.sh.

usage: podfiles_client.py PORT MODE [POD_ID]
  run         a pod with a hostname and a DNS config; the agent got its
              PodFiles once, with their text; two containers (one with a
              read-only rootfs) created; prints "pod ID", "ctr ID", "ro ID"
  bad-dns     a DNS config with an injected line, too many options, a bad
              server: INVALID_ARGUMENT, no pod and no PodFiles
  stop POD    the pod stopped and removed
Prints "ok NAME" / "not ok NAME # why". The fake agent's directory (Linux
path) is UVMD_FAKE_AGENT_DIR."""
import json
import os
import sys

import grpc

sys.path.insert(0, "tests/windows")
from hcs_client import check, connect, expect_error, one_line  # noqa: E402
import hcs_client  # noqa: E402

port, mode = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
agent_dir = os.environ["UVMD_FAKE_AGENT_DIR"]
c, pb = connect(port, mode)


def podfiles():
    return sorted(f for f in os.listdir(agent_dir) if f.startswith("podfiles-"))


def pod_config(name, dns):
    return pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name=name, namespace="default",
                                                              uid="uid-" + name),
                               hostname=name + "-0", dns_config=dns)


def create(pod, name, **kw):
    cfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name, attempt=0),
                             image=pb.ImageSpec(image="busybox"), command=["/bin/sleep"],
                             args=["1000"], **kw)
    return c.rt("CreateContainer", pod_sandbox_id=pod, config=cfg,
                sandbox_config=pb.PodSandboxConfig()).container_id


if mode == "run":
    dns = pb.DNSConfig(servers=["10.96.0.10", "fd00::10"],
                       searches=["default.svc.cluster.local", "cluster.local"],
                       options=["ndots:5", "edns0"])
    pod = c.rt("RunPodSandbox", config=pod_config("web", dns),
               runtime_handler="uvm").pod_sandbox_id
    print("pod " + pod)
    got = podfiles()
    check("agent-got-podfiles-once", got == ["podfiles-1.json"], one_line(got))
    s = json.load(open(os.path.join(agent_dir, "podfiles-1.json"))) if got else {}
    check("resolv-conf", s.get("ResolvConf") ==
          "nameserver 10.96.0.10\nnameserver fd00::10\n"
          "search default.svc.cluster.local cluster.local\noptions ndots:5 edns0\n",
          one_line(s.get("ResolvConf")))
    # No CNI in this rig: the pod has no IP, hosts has the localhost lines.
    check("hosts-localhost-only", s.get("Hosts") ==
          "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
          one_line(s.get("Hosts")))
    check("hostname", s.get("Hostname") == "web-0\n", one_line(s.get("Hostname")))
    ctr = create(pod, "app")
    print("ctr " + ctr)
    sc = pb.LinuxContainerSecurityContext(readonly_rootfs=True)
    ro = create(pod, "ro", linux=pb.LinuxContainerConfig(security_context=sc))
    print("ro " + ro)
    check("no-podfiles-per-container", podfiles() == ["podfiles-1.json"], one_line(podfiles()))

elif mode == "bad-dns":
    before = podfiles()
    for name, dns in [
            ("inject", pb.DNSConfig(servers=["10.0.0.1\nnameserver 6.6.6.6"])),
            ("options", pb.DNSConfig(options=["ndots:1"] * 33)),
            ("server", pb.DNSConfig(servers=["not-an-ip"])),
            ("search", pb.DNSConfig(searches=["a b"]))]:
        expect_error("bad-dns-" + name,
                     lambda: c.rt("RunPodSandbox", config=pod_config("bad", dns),
                                  runtime_handler="uvm"),
                     grpc.StatusCode.INVALID_ARGUMENT, "DNS")
    check("bad-dns-no-pod", len(c.rt("ListPodSandbox").items) == 1,
          one_line(c.rt("ListPodSandbox")))
    check("bad-dns-no-podfiles", podfiles() == before, one_line(podfiles()))

elif mode == "stop":
    pod, = args
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    check("pod-removed", len(c.rt("ListPodSandbox").items) == 0)

sys.exit(hcs_client.failed != 0)
