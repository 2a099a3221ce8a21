#!/usr/bin/python3
"""The few crictl calls tests/deb/systemd-boot.sh makes inside the booted
node (crictl is not in Debian 12): Debian's python3-grpcio and the runtime.v1
messages generated from proto/api.proto next to this file (api_pb2.py).

  cri.py [--runtime-endpoint unix:///run/uvmd/uvmd.sock] version
  cri.py ... runp NAME        an ns ("runc" handler) pod; prints its id
  cri.py ... pods             id, state and name of every pod
  cri.py ... ready            exit 0 when the Status says RuntimeReady

version prints what `crictl version` prints."""
import os
import sys

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_pb2 as pb  # noqa: E402

RT = "/runtime.v1.RuntimeService/"


def call(ch, method, req, timeout=60):
    f = ch.unary_unary(RT + method, request_serializer=lambda m: m.SerializeToString(),
                       response_deserializer=getattr(pb, method + "Response").FromString)
    return f(req, timeout=timeout)


def main(argv):
    endpoint = "unix:///run/uvmd/uvmd.sock"
    if len(argv) > 2 and argv[1] == "--runtime-endpoint":
        endpoint = argv[2]
        argv = argv[:1] + argv[3:]
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    ch = grpc.insecure_channel("unix:" + endpoint[len("unix://"):])
    cmd = argv[1]
    if cmd == "version":
        v = call(ch, "Version", pb.VersionRequest(version="v1"), timeout=10)
        print("Version:  %s\nRuntimeName:  %s\nRuntimeVersion:  %s\nRuntimeApiVersion:  %s"
              % (v.version, v.runtime_name, v.runtime_version, v.runtime_api_version))
    elif cmd == "runp" and len(argv) == 3:
        name = argv[2]
        cfg = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, namespace="default", uid="uid-" + name),
            hostname=name, log_directory="/var/log/pods/" + name)
        r = call(ch, "RunPodSandbox", pb.RunPodSandboxRequest(config=cfg, runtime_handler="runc"),
                 timeout=180)
        print(r.pod_sandbox_id)
    elif cmd == "pods":
        for p in call(ch, "ListPodSandbox", pb.ListPodSandboxRequest()).items:
            print(p.id, pb.PodSandboxState.Name(p.state), p.metadata.name)
    elif cmd == "ready":
        st = call(ch, "Status", pb.StatusRequest(), timeout=10).status
        return 0 if {c.type: c.status for c in st.conditions}.get("RuntimeReady") else 1
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
