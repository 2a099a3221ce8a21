"""The foundation: CRI contract basics, health, reflection, limits, shutdown.

Everything here talks to a real uvmd over its unix socket with Debian's
python3-grpcio, using message classes generated from our own .proto files.
"""
import json
import os
import signal
import socket
import stat
import subprocess
import threading
import time

import grpc
import pytest

from conftest import Daemon, uvmd_binary
from uvmdlib import Client, health_pb, pb
from uvmdlib import reflection_pb as refl_pb


def test_version(client):
    v = client.version()
    assert v.runtime_name == "uvmd"
    assert v.runtime_api_version == "v1"
    assert v.runtime_version == "0.1.0"
    assert v.version == "0.1.0"


def test_status_conditions_are_real(daemon_factory, workdir):
    # No CNI config in an empty directory: NetworkReady is false with a reason.
    cni = os.path.join(workdir, "cni")
    os.makedirs(cni)
    d = daemon_factory(config={"cni_conf_dir": cni, "cni_bin_dirs": ["/usr/lib/cni"]})
    c = d.client()
    st = c.rt("Status", verbose=True)
    conds = {x.type: x for x in st.status.conditions}
    assert conds["RuntimeReady"].status is True
    assert conds["NetworkReady"].status is False
    assert conds["NetworkReady"].reason == "NetworkPluginNotReady"
    assert cni in conds["NetworkReady"].message
    info = json.loads(st.info["config"])
    assert info["cniConfDir"] == cni
    assert {h.name for h in st.runtime_handlers} == {"", "runc"}  # no qemu driver built

    # A valid config whose plugins exist makes the network ready.
    with open(os.path.join(cni, "10-test.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "t",
                   "plugins": [{"type": "bridge"}, {"type": "portmap"}]}, f)
    deadline = time.time() + 10
    while time.time() < deadline:
        conds = {x.type: x for x in c.rt("Status").status.conditions}
        if conds["NetworkReady"].status:
            break
        time.sleep(0.1)
    assert conds["NetworkReady"].status is True


def test_status_runtime_not_ready_without_oci_runtime(daemon_factory):
    d = daemon_factory(config={"oci_runtime": "/nonexistent/runc"})
    conds = {x.type: x for x in d.client().rt("Status").status.conditions}
    assert conds["RuntimeReady"].status is False
    assert conds["RuntimeReady"].reason == "OCIRuntimeMissing"
    assert "/nonexistent/runc" in conds["RuntimeReady"].message


def test_runtime_config_reports_cgroup_driver(daemon_factory):
    m = pb()
    d = daemon_factory(config={"cgroup_driver": "systemd"})
    assert d.client().rt("RuntimeConfig").linux.cgroup_driver == m.SYSTEMD
    d2 = daemon_factory(config={"cgroup_driver": "cgroupfs"}, sub="b")
    assert d2.client().rt("RuntimeConfig").linux.cgroup_driver == m.CGROUPFS


def test_update_runtime_config_stores_pod_cidr(daemon):
    m = pb()
    c = daemon.client()
    req = m.UpdateRuntimeConfigRequest(runtime_config=m.RuntimeConfig(
        network_config=m.NetworkConfig(pod_cidr="10.244.1.0/24,fd00:10:244:1::/64")))
    c.rt("UpdateRuntimeConfig", req)
    info = json.loads(c.rt("Status", verbose=True).info["config"])
    assert info["podCIDR"] == "10.244.1.0/24,fd00:10:244:1::/64"
    # An empty update (what the kubelet sends at start) changes nothing.
    c.rt("UpdateRuntimeConfig", m.UpdateRuntimeConfigRequest())
    assert json.loads(c.rt("Status", verbose=True).info["config"])["podCIDR"].startswith("10.244.1.0")
    # Bad CIDRs are refused with the field named.
    with pytest.raises(grpc.RpcError) as e:
        c.rt("UpdateRuntimeConfig", m.UpdateRuntimeConfigRequest(runtime_config=m.RuntimeConfig(
            network_config=m.NetworkConfig(pod_cidr="10.244.1.0/40"))))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pod_cidr" in e.value.details()
    # The CIDR survives a restart of uvmd.
    daemon.stop()
    daemon.start()
    info = json.loads(daemon.client().rt("Status", verbose=True).info["config"])
    assert info["podCIDR"] == "10.244.1.0/24,fd00:10:244:1::/64"


def test_unimplemented_names_the_method(client):
    # CheckpointContainer is part of CRI but not served: UNIMPLEMENTED, no hang.
    with pytest.raises(grpc.RpcError) as e:
        client.rt("CheckpointContainer", container_id="x", timeout=5)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "/runtime.v1.RuntimeService/CheckpointContainer" in e.value.details()
    # A method no service defines.
    with pytest.raises(grpc.RpcError) as e:
        client.raw_unary("/runtime.v1.RuntimeService/NoSuchCall", b"")
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "unknown method" in e.value.details()
    client.version()  # still serving


def test_malformed_request_body(client):
    # Field 1 as a length-delimited string claiming 100 bytes, with 2 present.
    with pytest.raises(grpc.RpcError) as e:
        client.raw_unary("/runtime.v1.RuntimeService/Version", b"\x0a\x64ab")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "runtime.v1.VersionRequest" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        client.raw_unary("/runtime.v1.RuntimeService/Status", b"\xff\xff\xff\xff")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert client.version().runtime_name == "uvmd"


def test_oversized_request(client):
    m = pb()
    big = m.VersionRequest(version="x" * (17 << 20))
    with pytest.raises(grpc.RpcError) as e:
        client.unary("/runtime.v1.RuntimeService/Version", big, m.VersionResponse, timeout=20)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert client.version().runtime_name == "uvmd"


def test_deadline_exceeded_is_reported(client):
    # A deadline already in the past fails fast with DEADLINE_EXCEEDED.
    with pytest.raises(grpc.RpcError) as e:
        client.rt("Status", timeout=0.000001)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert client.version().runtime_name == "uvmd"


def test_health_check_and_watch(daemon):
    h = health_pb()
    c = daemon.client()
    r = c.unary("/grpc.health.v1.Health/Check", h.HealthCheckRequest(), h.HealthCheckResponse)
    assert r.status == h.HealthCheckResponse.SERVING
    r = c.unary("/grpc.health.v1.Health/Check",
                h.HealthCheckRequest(service="runtime.v1.RuntimeService"), h.HealthCheckResponse)
    assert r.status == h.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as e:
        c.unary("/grpc.health.v1.Health/Check", h.HealthCheckRequest(service="nope.Svc"),
                h.HealthCheckResponse)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND

    w = c.server_stream("/grpc.health.v1.Health/Watch",
                        h.HealthCheckRequest(service="runtime.v1.ImageService"),
                        h.HealthCheckResponse, timeout=30)
    first = next(w)
    assert first.status == h.HealthCheckResponse.SERVING
    # Stopping the daemon flips the watched status, then ends the stream.
    seen = []
    t = threading.Thread(target=lambda: seen.extend(x.status for x in _drain(w)))
    t.start()
    time.sleep(0.2)
    assert daemon.stop() == 0
    t.join(10)
    assert not t.is_alive()
    assert h.HealthCheckResponse.NOT_SERVING in seen


def _drain(it):
    try:
        for x in it:
            yield x
    except grpc.RpcError:
        return


def test_health_watch_unknown_service(client):
    h = health_pb()
    w = client.server_stream("/grpc.health.v1.Health/Watch", h.HealthCheckRequest(service="x.Y"),
                             h.HealthCheckResponse, timeout=5)
    assert next(w).status == h.HealthCheckResponse.SERVICE_UNKNOWN
    w.cancel()


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_list_and_describe(client, version):
    from google.protobuf import descriptor_pb2
    r = refl_pb(version)
    path = "/grpc.reflection.%s.ServerReflection/ServerReflectionInfo" % version
    reqs = [r.ServerReflectionRequest(host="h1", list_services=""),
            r.ServerReflectionRequest(file_containing_symbol="runtime.v1.RuntimeService.Version"),
            r.ServerReflectionRequest(file_containing_symbol="runtime.v1.PodSandboxConfig"),
            r.ServerReflectionRequest(file_by_filename="grpc/health/v1/health.proto"),
            r.ServerReflectionRequest(file_containing_symbol="no.such.Symbol"),
            r.ServerReflectionRequest(file_by_filename="nope.proto")]
    resps = list(client.stream_stream(path, iter(reqs), r.ServerReflectionResponse, timeout=10))
    assert len(resps) == len(reqs)
    names = {s.name for s in resps[0].list_services_response.service}
    assert {"runtime.v1.RuntimeService", "runtime.v1.ImageService", "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection"} <= names
    assert resps[0].valid_host == "h1"
    assert resps[0].original_request.list_services == ""
    fd = descriptor_pb2.FileDescriptorProto.FromString(
        resps[1].file_descriptor_response.file_descriptor_proto[0])
    assert fd.name == "api.proto" and fd.package == "runtime.v1"
    svc = {s.name: s for s in fd.service}["RuntimeService"]
    methods = {m.name: m for m in svc.method}
    assert methods["Version"].input_type == ".runtime.v1.VersionRequest"
    assert methods["GetContainerEvents"].server_streaming
    assert len(methods) >= 30
    fd2 = descriptor_pb2.FileDescriptorProto.FromString(
        resps[2].file_descriptor_response.file_descriptor_proto[0])
    assert fd2.name == "api.proto"
    fd3 = descriptor_pb2.FileDescriptorProto.FromString(
        resps[3].file_descriptor_response.file_descriptor_proto[0])
    assert fd3.package == "grpc.health.v1"
    assert resps[4].error_response.error_code == 5
    assert resps[5].error_response.error_code == 5


def test_reflection_lets_a_client_build_messages(client):
    """A client with no .proto files: build the CRI types from reflection and
    call Version, as grpcurl does."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    r = refl_pb("v1")
    path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
    resp = list(client.stream_stream(path, iter([r.ServerReflectionRequest(
        file_containing_symbol="runtime.v1.RuntimeService")]), r.ServerReflectionResponse,
        timeout=10))[0]
    pool = descriptor_pool.DescriptorPool()
    for raw in reversed(resp.file_descriptor_response.file_descriptor_proto):
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(raw))
    req_cls = message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("runtime.v1.VersionRequest"))
    resp_cls = message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("runtime.v1.VersionResponse"))
    v = client.unary("/runtime.v1.RuntimeService/Version", req_cls(), resp_cls)
    assert v.runtime_name == "uvmd"


def test_concurrent_callers(client):
    errors = []
    counts = []

    def worker():
        n = 0
        try:
            for _ in range(200):
                assert client.version().runtime_name == "uvmd"
                client.rt("Status")
                n += 1
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        counts.append(n)

    ts = [threading.Thread(target=worker) for _ in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors
    assert sum(counts) == 16 * 200


def test_sigterm_with_calls_in_flight(daemon):
    h = health_pb()
    c = daemon.client()
    stop = threading.Event()
    ok, failed_other = [0], []

    def hammer():
        cl = Client(daemon.socket)
        while not stop.is_set():
            try:
                cl.rt("Status", timeout=5)
                ok[0] += 1
            except grpc.RpcError as e:
                if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                    failed_other.append(e)
                time.sleep(0.01)

    watch = c.server_stream("/grpc.health.v1.Health/Watch", h.HealthCheckRequest(),
                            h.HealthCheckResponse, timeout=60)
    assert next(watch).status == h.HealthCheckResponse.SERVING
    ts = [threading.Thread(target=hammer) for _ in range(8)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    t0 = time.time()
    rc = daemon.stop(signal.SIGTERM)
    took = time.time() - t0
    stop.set()
    for t in ts:
        t.join(10)
    assert rc == 0, daemon.log()[-3000:]
    assert ok[0] > 0
    assert not failed_other, failed_other[:3]
    assert not os.path.exists(daemon.socket)
    # The open Watch stream did not hold shutdown for the whole grace period.
    assert took < 5, "shutdown took %.1fs" % took
    assert "shutting down" in daemon.log()


def test_sigterm_with_an_idle_client(daemon_factory):
    """A client that made a call and keeps its connection open (as the
    kubelet does) must not hold shutdown for the grace period, which is
    for calls still running."""
    d = daemon_factory(config={"shutdown_grace_ms": 20000})
    c = d.client()
    assert c.version().runtime_name == "uvmd"
    t0 = time.time()
    rc = d.stop(signal.SIGTERM)
    took = time.time() - t0
    assert rc == 0, d.log()[-3000:]
    assert took < 5, "shutdown took %.1fs with no call running" % took
    assert "still running" not in d.log()
    c.close()


def test_socket_mode_and_busy_socket(daemon_factory, workdir):
    d = daemon_factory()
    st = os.stat(d.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    # A second daemon on the same socket refuses with a clear error.
    d2 = Daemon(d.workdir, config={})
    d2.state = os.path.join(workdir, "state2")
    d2.log_path = os.path.join(workdir, "second.log")
    d2.start(wait=False)
    assert d2.proc.wait(10) == 1
    assert "in use by another running server" in d2.log()
    assert d.client().version().runtime_name == "uvmd"


def test_stale_socket_is_replaced(daemon_factory, workdir):
    path = os.path.join(workdir, "uvmd.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()  # a socket file nobody listens on
    d = daemon_factory()
    assert d.client().version().runtime_name == "uvmd"
    assert "removed stale socket" in d.log()


def test_missing_socket_directory(workdir):
    p = subprocess.run([uvmd_binary(), "--config", "/dev/null", "--socket",
                        os.path.join(workdir, "no", "such", "dir", "u.sock"),
                        "--state-root", os.path.join(workdir, "s"), "--data-root",
                        os.path.join(workdir, "d")], capture_output=True, text=True, timeout=20)
    assert p.returncode == 1
    assert "socket directory" in p.stderr and "does not exist" in p.stderr


def test_bad_config_file_names_file_and_field(workdir):
    cfg = os.path.join(workdir, "bad.json")
    with open(cfg, "w") as f:
        f.write('{"workers": -3}')
    p = subprocess.run([uvmd_binary(), "--config", cfg], capture_output=True, text=True, timeout=20)
    assert p.returncode == 2
    assert cfg in p.stderr and '"workers"' in p.stderr
    with open(cfg, "w") as f:
        f.write('{"socket": "/tmp/x.sock", "colour": "blue"}')
    p = subprocess.run([uvmd_binary(), "--config", cfg], capture_output=True, text=True, timeout=20)
    assert p.returncode == 2
    assert 'unknown field "colour"' in p.stderr
    p = subprocess.run([uvmd_binary(), "--config", os.path.join(workdir, "missing.json")],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 2 and "missing.json" in p.stderr


def test_help_version_and_bad_flags():
    p = subprocess.run([uvmd_binary(), "--help"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 0 and "--socket" in p.stdout and "--log-format" in p.stdout
    p = subprocess.run([uvmd_binary(), "--version"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 0 and p.stdout.startswith("uvmd 0.1.0")
    p = subprocess.run([uvmd_binary(), "--log-level", "loud"], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 2 and "--log-level" in p.stderr
    p = subprocess.run([uvmd_binary(), "--nope"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 2


def test_json_log_format(daemon_factory):
    d = daemon_factory(extra_args=["--log-format", "json"])
    d.client().version()
    lines = [l for l in d.log().splitlines() if l.startswith("{")]
    assert lines
    rec = json.loads(lines[0])
    assert {"time", "level", "msg"} <= set(rec)
