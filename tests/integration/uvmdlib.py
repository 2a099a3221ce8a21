"""A small generic gRPC client for uvmd tests: protobuf classes generated from
our own .proto files (and the system gRPC protos) at test time, calls made
with grpc's generic unary/stream API by method path."""
import glob
import os
import subprocess
import sys

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
GEN = os.environ.get("UVMD_PYGEN", "/tmp/uvmd-pygen")
SYS_PROTO = "/usr/share/grpc-proto"


def gen_stubs():
    os.makedirs(GEN, exist_ok=True)
    protos = sorted(glob.glob(os.path.join(ROOT, "proto", "*.proto")))
    cmd = [sys.executable, "-m", "grpc_tools.protoc", "-I" + os.path.join(ROOT, "proto"),
           "-I" + SYS_PROTO, "--python_out=" + GEN] + protos + [
        os.path.join(SYS_PROTO, "grpc/health/v1/health.proto"),
        os.path.join(SYS_PROTO, "grpc/reflection/v1/reflection.proto"),
        os.path.join(SYS_PROTO, "grpc/reflection/v1alpha/reflection.proto")]
    subprocess.check_call(cmd)
    if GEN not in sys.path:
        sys.path.insert(0, GEN)


_loaded = {}


def load_generated(relpath, name):
    """Load a generated module by path: the system protos live under a
    grpc/ folder that would shadow the real grpc package if imported."""
    import importlib.util
    if name not in _loaded:
        spec = importlib.util.spec_from_file_location(name, os.path.join(GEN, relpath))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _loaded[name] = mod
    return _loaded[name]


def health_pb():
    return load_generated("grpc/health/v1/health_pb2.py", "uvmd_health_pb2")


def reflection_pb(version="v1"):
    return load_generated("grpc/reflection/%s/reflection_pb2.py" % version,
                          "uvmd_reflection_%s_pb2" % version)


def pb():
    """The runtime.v1 message module."""
    gen_stubs_loaded()
    import api_pb2
    return api_pb2


def gen_stubs_loaded():
    if GEN not in sys.path:
        sys.path.insert(0, GEN)


def _ser(m):
    return m.SerializeToString()


class Client:
    RT = "/runtime.v1.RuntimeService/"
    IMG = "/runtime.v1.ImageService/"

    def __init__(self, socket, max_msg=16 << 20):
        self.socket = socket
        self.channel = grpc.insecure_channel(
            "unix:" + socket,
            options=[("grpc.max_receive_message_length", max_msg),
                     ("grpc.max_send_message_length", 64 << 20)])

    def close(self):
        self.channel.close()

    def unary(self, path, req, resp_cls, timeout=30):
        f = self.channel.unary_unary(path, request_serializer=_ser,
                                     response_deserializer=resp_cls.FromString)
        return f(req, timeout=timeout)

    def raw_unary(self, path, body, timeout=10):
        """Send raw bytes, get raw bytes: for malformed-request tests."""
        f = self.channel.unary_unary(path, request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)
        return f(body, timeout=timeout)

    def server_stream(self, path, req, resp_cls, timeout=None):
        f = self.channel.unary_stream(path, request_serializer=_ser,
                                      response_deserializer=resp_cls.FromString)
        return f(req, timeout=timeout)

    def stream_stream(self, path, reqs, resp_cls, timeout=None):
        f = self.channel.stream_stream(path, request_serializer=_ser,
                                       response_deserializer=resp_cls.FromString)
        return f(reqs, timeout=timeout)

    def _call(self, prefix, method, req, timeout, kw):
        m = pb()
        if req is None:
            req = getattr(m, method + "Request")(**kw)
        return self.unary(prefix + method, req, getattr(m, method + "Response"), timeout=timeout)

    def rt(self, method, req=None, timeout=30, **kw):
        """RuntimeService call by method name; request built from kwargs."""
        return self._call(self.RT, method, req, timeout, kw)

    def img(self, method, req=None, timeout=120, **kw):
        """ImageService call by method name; request built from kwargs."""
        return self._call(self.IMG, method, req, timeout, kw)

    def version(self, timeout=5):
        return self.rt("Version", timeout=timeout)
