"""The Prometheus endpoint (issue 16, docs/metrics.md): uvmd with
metrics_address on a free loopback port, a short workload (pods with a
container each on the ns driver with real CNI, image pulls from a local
registry, one provoked error), two scrapes parsed by python3-prometheus-
client's parser (Debian's, not ours)."""
import os
import socket
import subprocess
import urllib.error
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import Daemon
from imagelib import image_dir, image_multi, image_single, registry, registry_factory  # noqa: F401
from test_pods import _create, _ctr_config, _pod_config, _run_pod, pods_cleanup, pods_daemon
from uvmdlib import pb

N_PODS = 3

# Every family docs/metrics.md names (the parser strips a counter's _total).
FAMILIES = {
    "uvmd_grpc_requests": "counter",
    "uvmd_grpc_errors": "counter",
    "uvmd_grpc_request_duration_seconds": "histogram",
    "uvmd_pods": "gauge",
    "uvmd_containers": "gauge",
    "uvmd_pod_start_duration_seconds": "histogram",
    "uvmd_phase_duration_seconds": "histogram",
    "uvmd_sandbox_crashes": "counter",
    "uvmd_sandbox_reattaches": "counter",
    "uvmd_image_pulls": "counter",
    "uvmd_image_pull_failures": "counter",
    "uvmd_image_pull_bytes": "counter",
    "uvmd_image_pull_duration_seconds": "histogram",
    "uvmd_process_resident_memory_bytes": "gauge",
    "uvmd_process_open_fds": "gauge",
    "uvmd_process_threads": "gauge",
}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port, path="/metrics"):
    return urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10)


def scrape(port):
    """{family: type} and {(sample name, sorted labels): value}."""
    with _get(port) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = r.read().decode()
    fams, samples = {}, {}
    for f in text_string_to_metric_families(text):
        fams[f.name] = f.type
        for s in f.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in samples, "duplicate sample %s" % (key,)
            samples[key] = s.value
    return fams, samples, text


def _value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def metered(daemon_factory, workdir, image_single, registry):
    port = _free_port()
    d = pods_daemon(daemon_factory, workdir, image_single,
                    extra_config={"metrics_address": "127.0.0.1:%d" % port,
                                  "insecure_registries": [registry.host]})
    d.port = port
    yield d
    pods_cleanup(d)


def _workload(d, c, registry, image):
    m = pb()
    for i in range(N_PODS):
        cfg = _pod_config(d, name="m%d" % i)
        pod = _run_pod(c, cfg)
        cid = _create(c, pod, _ctr_config(d, "c", "sleep 600"), cfg)
        c.rt("StartContainer", container_id=cid)
    # One provoked error: the status of a container that does not exist.
    with pytest.raises(grpc.RpcError) as e:
        c.rt("ContainerStatus", container_id="0" * 64)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # A pull that downloads, and one that fails (no such repository).
    ref = registry.push(image, "test/metrics")
    c.img("PullImage", image=m.ImageSpec(image=ref), timeout=300)
    with pytest.raises(grpc.RpcError):
        c.img("PullImage", image=m.ImageSpec(image="%s/test/absent:v1" % registry.host),
              timeout=300)


def test_metrics_during_a_workload(metered, registry, image_single, image_multi):
    d, c = metered, metered.client()
    fams1, before, _ = scrape(d.port)
    # Declared from the start, before anything happened (HELP and TYPE).
    assert set(FAMILIES) <= set(fams1), set(FAMILIES) - set(fams1)
    _workload(d, c, registry, image_multi)
    fams, after, text = scrape(d.port)

    for name, kind in FAMILIES.items():
        assert fams.get(name) == kind, "family %s (%s) missing or mistyped:\n%s" % (name, kind, text)
    for name, kind in fams.items():
        assert name.startswith("uvmd_"), name

    # Pod starts: every phase counted for each pod, with time spent in it.
    for phase in ("network", "driver", "container"):
        count = _value(after, "uvmd_pod_start_duration_seconds_count", phase=phase)
        total = _value(after, "uvmd_pod_start_duration_seconds_sum", phase=phase)
        assert count >= N_PODS and total > 0, (phase, count, total)
        assert _value(after, "uvmd_pod_start_duration_seconds_bucket", phase=phase,
                      le="+Inf") == count

    # Sandbox call phases (sandbox/phase.h): each call once per pod, every
    # phase it went through timed, the whole call as "total".
    for op, phases in (("run_pod", ("netns", "cni", "files", "driver", "record")),
                       ("create_container", ("image", "spec", "record", "driver")),
                       ("start_container", ("driver", "record"))):
        total = _value(after, "uvmd_phase_duration_seconds_count", op=op, phase="total")
        assert total == N_PODS, (op, total, text)
        for phase in phases:
            count = _value(after, "uvmd_phase_duration_seconds_count", op=op, phase=phase)
            assert count == N_PODS, (op, phase, count)
            assert _value(after, "uvmd_phase_duration_seconds_bucket", op=op, phase=phase,
                          le="+Inf") == count
        assert _value(after, "uvmd_phase_duration_seconds_sum", op=op, phase="driver") > 0
    # The whole call covers its driver phase (ADD runs alongside it).
    assert (_value(after, "uvmd_phase_duration_seconds_sum", op="run_pod", phase="total") >=
            _value(after, "uvmd_phase_duration_seconds_sum", op="run_pod", phase="driver"))
    assert _value(after, "uvmd_phase_duration_seconds_count", op="stop_pod", phase="total") is None

    # The provoked error, under its gRPC code name.
    status = "/runtime.v1.RuntimeService/ContainerStatus"
    assert _value(after, "uvmd_grpc_errors_total", method=status, code="NOT_FOUND") >= 1
    run = "/runtime.v1.RuntimeService/RunPodSandbox"
    assert _value(after, "uvmd_grpc_requests_total", method=run) == N_PODS
    assert _value(after, "uvmd_grpc_request_duration_seconds_count", method=run) == N_PODS
    assert _value(after, "uvmd_grpc_errors_total", method=run, code="INTERNAL") is None

    # What runs now, by state and driver.
    assert _value(after, "uvmd_pods", state="ready", driver="ns") == N_PODS
    assert _value(after, "uvmd_pods", state="notready", driver="ns") == 0
    assert _value(after, "uvmd_containers", state="running", driver="ns") == N_PODS
    assert _value(after, "uvmd_sandbox_crashes_total", driver="ns") == 0

    # Image pulls: two calls, one failed, bytes from the registry.
    assert _value(after, "uvmd_image_pulls_total") == 2
    assert _value(after, "uvmd_image_pull_failures_total") == 1
    assert _value(after, "uvmd_image_pull_duration_seconds_count") == 2
    # Only what the store lacked is downloaded (image_single was imported).
    have = {layer.digest for layer in image_single.layers}
    fetched = sum(layer.size for layer in image_multi.layers if layer.digest not in have)
    fetched += len(image_multi.config)
    assert _value(after, "uvmd_image_pull_bytes_total") > fetched > 0

    # The process itself.
    assert _value(after, "uvmd_process_resident_memory_bytes") > 1 << 20
    assert _value(after, "uvmd_process_open_fds") > 3
    assert _value(after, "uvmd_process_threads") > 2

    # Counters (and histograms' parts) never go down between scrapes.
    monotonic = {n for n, k in FAMILIES.items() if k in ("counter", "histogram")}
    for (name, labels), v in before.items():
        fam = next((f for f in monotonic if name.startswith(f)), None)
        if fam:
            assert after[(name, labels)] >= v, (name, labels, v, after[(name, labels)])
    _, again, _ = scrape(d.port)
    for (name, labels), v in after.items():
        if name.endswith("_total") or name.endswith("_count") or name.endswith("_bucket"):
            assert again[(name, labels)] >= v, (name, labels)


def test_other_paths_and_methods(metered):
    with pytest.raises(urllib.error.HTTPError) as e:
        _get(metered.port, "/")
    assert e.value.code == 404
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % metered.port, method="POST",
                                 data=b"x")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 405
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % metered.port, method="HEAD")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200 and r.read() == b""
    # A client that connects and says nothing does not stop the endpoint for long.
    with socket.create_connection(("127.0.0.1", metered.port)):
        fams, _, _ = scrape(metered.port)
    assert "uvmd_process_threads" in fams


@pytest.mark.parametrize("addr", ["0.0.0.0:9100", "10.1.2.3:9100", "[::]:9100",
                                  "localhost:9100", "127.0.0.1:0"])
def test_refuses_a_non_loopback_address(workdir, addr):
    d = Daemon(workdir, config={"metrics_address": addr})
    r = subprocess.run(d.args(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "metrics_address" in r.stderr and addr in r.stderr, r.stderr
    want = "1 to 65535" if addr.endswith(":0") else "only loopback is served"
    assert want in r.stderr, r.stderr


def test_off_by_default(daemon_factory):
    d = daemon_factory()
    assert "metrics on" not in d.log()
