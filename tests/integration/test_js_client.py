"""A second independent client: Node's @grpc/grpc-js (its own HTTP/2 stack)
with the third-party grpc-reflection-js client. Like grpcurl, it has no
.proto files: it lists services and learns the CRI types by reflection,
then calls Version and an unimplemented method."""
import json
import os
import shutil
import subprocess

import pytest

JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")


def test_reflection_with_grpc_js(daemon):
    if not os.path.isdir(os.path.join(JS, "node_modules", "grpc-reflection-js")):
        pytest.fail("node modules missing: run bazel/setup.sh (npm ci in tests/integration/js)")
    node = shutil.which("node")
    assert node, "node not installed"
    p = subprocess.run([node, os.path.join(JS, "reflect.js"), daemon.socket],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert {"runtime.v1.RuntimeService", "runtime.v1.ImageService",
            "grpc.health.v1.Health"} <= set(out["services"])
    assert {"Version", "RunPodSandbox", "GetContainerEvents",
            "UpdatePodSandboxResources"} <= set(out["methods"])
    assert out["version"]["runtime_name"] == "uvmd"
    assert out["version"]["runtime_api_version"] == "v1"
    assert out["unimplemented_code"] == 12  # UNIMPLEMENTED
