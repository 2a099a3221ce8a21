"""Test images and a local registry for the image integration tests.

Images are built from Debian's busybox-static (/bin/busybox) with the Python
standard library only, reproducibly: entries sorted, every mtime fixed, owner
root, gzip header mtime 0 and a fixed compression level. Building the same
kind twice gives byte-identical blobs, so manifest digests are stable.

Kinds (build_image):
  single  one gzip layer: busybox with applet symlinks, /etc/passwd with root
          and app (uid 1000, home /home/app owned by it), /etc/group (app also
          in wheel, gid 10), /tmp.
  multi   three layers: the base above; /data/a, /data/b, a hard link
          /data/hl -> /data/a, /data/gone and /data/opq/old; then a whiteout
          for /data/gone, /data/opq made opaque (holding only "new") and
          /data/c. Config User "app" (uid 1000 by /etc/passwd).
  big     about 50 MB: the base plus three layers of incompressible random
          data from a fixed seed, for benchmarks.
  escape  the base plus a layer holding a "../escape" entry (must be refused).
  symlink-escape  the base plus a layer with a symlink "evil" -> "/" and a
          file "evil/escaped" behind it (must not land outside the rootfs).

The registry fixture runs Debian's docker-registry on a free 127.0.0.1 port
with filesystem storage in a temp dir, optionally behind htpasswd (Basic)
auth, and stops it on teardown. push() copies a layout with skopeo;
push_raw() uploads blobs and a manifest with urllib so a test can push what
skopeo would refuse; Registry.corrupt_blob() damages a stored blob in place
(the registry checks digests on upload, so that is the only way to make it
serve wrong content).
"""
import base64
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request

import pytest

BUSYBOX = "/bin/busybox"
REGISTRY_BIN = "/usr/bin/docker-registry"
SKOPEO = "/usr/bin/skopeo"
HTPASSWD = "/usr/bin/htpasswd"

MTIME = 0  # every tar entry
GZIP_LEVEL = 6

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
REF_NAME = "org.opencontainers.image.ref.name"

APPLETS = ("sh", "ls", "cat", "echo", "sleep", "ping", "httpd", "true", "false", "id", "env",
           "wc", "head", "yes", "dd")
PASSWD = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = b"root:x:0:\nwheel:x:10:app\napp:x:1000:\n"
BIG_SEED = 20240501
BIG_LAYER_BYTES = 16 << 20

# ---------------------------------------------------------------- blobs, tars


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def gzip_bytes(data, level=GZIP_LEVEL):
    buf = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of anything variable.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=level, mtime=0) as g:
        g.write(data)
    return buf.getvalue()


class Entry:
    """One tar entry. kind: 'dir', 'file', 'symlink', 'hardlink', 'fifo'."""

    def __init__(self, path, kind, data=b"", link="", mode=None, uid=0, gid=0):
        self.path = path.strip("/") if not path.startswith("..") else path
        self.kind = kind
        self.data = data
        self.link = link
        self.mode = mode if mode is not None else {"dir": 0o755, "file": 0o644}.get(kind, 0o777)
        self.uid, self.gid = uid, gid


def d(path, mode=0o755, uid=0, gid=0):
    return Entry(path, "dir", mode=mode, uid=uid, gid=gid)


def f(path, data, mode=0o644, uid=0, gid=0):
    return Entry(path, "file", data=data, mode=mode, uid=uid, gid=gid)


def sym(path, target):
    return Entry(path, "symlink", link=target)


def fifo(path):
    return Entry(path, "fifo", mode=0o644)


def hard(path, target):
    return Entry(path, "hardlink", link=target.strip("/"))


def make_tar(entries, sort=True):
    """An uncompressed tar of entries. Sorting by path components puts every
    directory before its contents; sort=False keeps the given order (for
    hostile layers whose order matters)."""
    if sort:
        entries = sorted(entries, key=lambda e: e.path.split("/"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e.path)
            ti.mtime = MTIME
            ti.mode = e.mode
            ti.uid, ti.gid = e.uid, e.gid
            ti.uname = ti.gname = ""
            if e.kind == "dir":
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif e.kind == "file":
                ti.size = len(e.data)
                t.addfile(ti, io.BytesIO(e.data))
            elif e.kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e.link
                t.addfile(ti)
            elif e.kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, e.link
                t.addfile(ti)
            elif e.kind == "fifo":
                ti.type = tarfile.FIFOTYPE
                t.addfile(ti)
            else:
                raise ValueError("unknown entry kind %r" % e.kind)
    return buf.getvalue()


def _busybox():
    with open(BUSYBOX, "rb") as fh:
        return fh.read()


def base_entries():
    es = [d("bin"), f("bin/busybox", _busybox(), 0o755), d("etc"), f("etc/passwd", PASSWD),
          f("etc/group", GROUP), d("tmp", 0o1777), d("home"), d("home/app", 0o755, 1000, 1000), d("root", 0o700)]
    es += [sym("bin/" + a, "busybox") for a in APPLETS]
    return es


def multi_layer2():
    return [d("data"), f("data/a", b"file a\n"), f("data/b", b"file b\n"), hard("data/hl", "data/a"),
            f("data/gone", b"deleted in the next layer\n"), d("data/opq"),
            f("data/opq/old", b"hidden by the opaque dir above\n")]


def multi_layer3():
    return [d("data"), f("data/.wh.gone", b""), d("data/opq"), f("data/opq/.wh..wh..opq", b""),
            f("data/opq/new", b"only file left in opq\n"), f("data/c", b"file c\n")]


def big_layers(seed=BIG_SEED, n=3, size=BIG_LAYER_BYTES):
    rnd = random.Random(seed)
    return [[d("big"), f("big/blob%d.bin" % i, rnd.randbytes(size))] for i in range(n)]


BASE_CONFIG = {
    "Entrypoint": ["/bin/sh", "-c"],
    "Cmd": ["echo hello from busybox"],
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "IMAGELIB=1"],
    "WorkingDir": "/",
}


def kind_spec(kind):
    """(list of layer entry lists, config overrides, sort flag per layer)."""
    if kind == "single":
        return [base_entries()], {}
    if kind == "multi":
        return [base_entries(), multi_layer2(), multi_layer3()], {"User": "app", "WorkingDir": "/data"}
    if kind == "big":
        return [base_entries()] + big_layers(), {}
    if kind == "escape":
        return [base_entries(), [f("../escape", b"outside the rootfs\n")]], {}
    if kind == "symlink-escape":
        return [base_entries(), [sym("evil", "/"), f("evil/escaped", b"through a symlink\n")]], {}
    raise ValueError("unknown image kind %r" % kind)


# --------------------------------------------------------------- OCI layout


class Layer:
    def __init__(self, digest, size, diff_id, media_type):
        self.digest, self.size, self.diff_id, self.media_type = digest, size, diff_id, media_type


class Image:
    """An OCI image layout on disk and what a test needs to know about it."""

    def __init__(self, layout, tag, manifest, media_type, config, layers):
        self.layout = layout
        self.tag = tag
        self.manifest = manifest  # bytes, exactly as stored
        self.manifest_digest = sha256(manifest)
        self.media_type = media_type
        self.config = config
        self.config_digest = sha256(config)  # the image id
        self.layers = layers  # [Layer]
        self.archive = None  # OCI archive path, when written

    @property
    def id(self):
        return self.config_digest

    def blob_path(self, digest):
        return os.path.join(self.layout, "blobs", "sha256", digest.split(":", 1)[1])

    def blob(self, digest):
        with open(self.blob_path(digest), "rb") as fh:
            return fh.read()

    def blobs(self):
        """{digest: bytes} of the config and every layer."""
        out = {self.config_digest: self.config}
        for la in self.layers:
            out[la.digest] = self.blob(la.digest)
        return out

    def config_json(self):
        return json.loads(self.config)


def _write_blob(layout, data):
    dg = sha256(data)
    p = os.path.join(layout, "blobs", "sha256", dg.split(":", 1)[1])
    if not os.path.exists(p):
        with open(p, "wb") as fh:
            fh.write(data)
    return dg


def image_config(diff_ids, overrides=None):
    cfg = dict(BASE_CONFIG)
    cfg.update(overrides or {})
    return canonical_json({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "imagelib layer %d" % i}
                    for i in range(len(diff_ids))],
    })


def build_layout(out_dir, layer_tars, config_overrides=None, tag="latest", docker_media=False,
                 level=GZIP_LEVEL):
    """Write an OCI image layout at out_dir from uncompressed layer tars."""
    os.makedirs(os.path.join(out_dir, "blobs", "sha256"), exist_ok=True)
    layers = []
    lmt = DOCKER_LAYER_GZIP if docker_media else OCI_LAYER_GZIP
    for tar in layer_tars:
        gz = gzip_bytes(tar, level)
        layers.append(Layer(_write_blob(out_dir, gz), len(gz), sha256(tar), lmt))
    config = image_config([la.diff_id for la in layers], config_overrides)
    _write_blob(out_dir, config)
    mt = DOCKER_MANIFEST if docker_media else OCI_MANIFEST
    manifest = canonical_json({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": DOCKER_CONFIG if docker_media else OCI_CONFIG,
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": la.media_type, "digest": la.digest, "size": la.size} for la in layers],
    })
    mdg = _write_blob(out_dir, manifest)
    with open(os.path.join(out_dir, "oci-layout"), "wb") as fh:
        fh.write(canonical_json({"imageLayoutVersion": "1.0.0"}))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [{"mediaType": mt, "digest": mdg, "size": len(manifest),
                            "annotations": {REF_NAME: tag}}]}
    with open(os.path.join(out_dir, "index.json"), "wb") as fh:
        fh.write(canonical_json(index))
    return Image(out_dir, tag, manifest, mt, config, layers)


def build_image(out_dir, kind, tag="latest", archive=None, docker_media=False):
    """Build a test image of the given kind as an OCI layout at out_dir; with
    archive (a path, or True for out_dir + ".tar") also an OCI archive."""
    specs, overrides = kind_spec(kind)
    # A hostile last layer keeps its order: the escape needs the link first.
    hostile = kind.endswith("escape")
    tars = [make_tar(es, sort=not (hostile and i == len(specs) - 1)) for i, es in enumerate(specs)]
    # Random data does not compress: level 1 saves time and changes nothing.
    img = build_layout(out_dir, tars, overrides, tag, docker_media,
                       level=1 if kind == "big" else GZIP_LEVEL)
    if archive:
        img.archive = out_dir.rstrip("/") + ".tar" if archive is True else archive
        write_oci_archive(out_dir, img.archive)
    return img


def one_layer_archive(image_dir, name, entries, config_overrides=None, tag="latest"):
    """A single-layer image of entries as an OCI layout and archive under
    image_dir/name; the Image, with .archive set."""
    layout = os.path.join(image_dir, name)
    img = build_layout(layout, [make_tar(entries)], config_overrides or {}, tag=tag)
    img.archive = layout + ".tar"
    write_oci_archive(layout, img.archive)
    return img


def _tar_tree(root, path):
    """Tar a directory's contents (relative names, sorted, fixed metadata)."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            entries.append(d(rel))
        for n in sorted(filenames):
            with open(os.path.join(dirpath, n), "rb") as fh:
                entries.append(f(os.path.normpath(os.path.join(rel, n)), fh.read()))
    with open(path, "wb") as fh:
        fh.write(make_tar(entries))
    return path


def write_oci_archive(layout_dir, path):
    """An OCI archive: a tar of the layout (oci-layout, index.json, blobs/)."""
    return _tar_tree(layout_dir, path)


def write_docker_archive(path, images):
    """A `docker save` archive. images: [(Image, ["name:tag", ...])].
    Layers are stored uncompressed as <diff_id hex>/layer.tar."""
    entries, manifest, repos = [], [], {}
    seen = set()
    for img, tags in images:
        cfg_name = img.config_digest.split(":", 1)[1] + ".json"
        if cfg_name not in seen:
            entries.append(f(cfg_name, img.config))
            seen.add(cfg_name)
        names = []
        for la in img.layers:
            hexid = la.diff_id.split(":", 1)[1]
            names.append(hexid + "/layer.tar")
            if hexid in seen:
                continue
            seen.add(hexid)
            tar = gzip.decompress(img.blob(la.digest))
            assert sha256(tar) == la.diff_id
            entries += [d(hexid), f(hexid + "/layer.tar", tar), f(hexid + "/VERSION", b"1.0")]
        manifest.append({"Config": cfg_name, "RepoTags": list(tags), "Layers": names})
        top = names[-1].split("/", 1)[0] if names else ""
        for t in tags:
            name, _, tag = t.rpartition(":")
            repos.setdefault(name, {})[tag] = top
    entries.append(f("manifest.json", json.dumps(manifest).encode()))
    entries.append(f("repositories", json.dumps(repos, sort_keys=True).encode()))
    with open(path, "wb") as fh:
        fh.write(make_tar(entries))
    return path


# ------------------------------------------------------------------ registry


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REGISTRY_CONFIG = """version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {addr}
  secret: imagelib-test-secret
{auth}"""

AUTH_CONFIG = """auth:
  htpasswd:
    realm: imagelib
    path: {path}
"""


class Registry:
    """Debian's docker-registry on 127.0.0.1:<free port>, plain HTTP."""

    def __init__(self, workdir, user=None, password=None):
        self.workdir = workdir
        self.user, self.password = user, password
        self.root = os.path.join(workdir, "storage")
        self.port = None
        self.proc = None
        self.log_path = os.path.join(workdir, "registry.log")

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://" + self.host

    @property
    def creds(self):
        return "%s:%s" % (self.user, self.password) if self.user else None

    def _write_config(self):
        auth = ""
        if self.user:
            line = subprocess.check_output([HTPASSWD, "-Bbn", self.user, self.password]).strip()
            hp = os.path.join(self.workdir, "htpasswd")
            with open(hp, "wb") as fh:
                fh.write(line + b"\n")
            auth = AUTH_CONFIG.format(path=hp)
        cfg = os.path.join(self.workdir, "config.yml")
        with open(cfg, "w") as fh:
            fh.write(REGISTRY_CONFIG.format(root=self.root, addr=self.host, auth=auth))
        return cfg

    def start(self, timeout=20):
        os.makedirs(self.root, exist_ok=True)
        for _ in range(5):  # the free port may be taken again before we bind it
            self.port = self.port or free_port()
            cfg = self._write_config()
            logf = open(self.log_path, "ab")
            self.proc = subprocess.Popen([REGISTRY_BIN, "serve", cfg], stdout=logf,
                                         stderr=subprocess.STDOUT)
            logf.close()
            if self._wait_ready(timeout):
                return self
            self.stop()
            self.port = None
        raise RuntimeError("docker-registry did not start:\n" + self.log())

    def _wait_ready(self, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                return False
            try:
                status, _, _ = http_request("GET", self.url + "/v2/", timeout=1)
                if status in (200, 401):
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self):
        """Start again on the same port and storage (after stop())."""
        self.stop()
        self.proc = None
        return self.start()

    def log(self):
        try:
            with open(self.log_path, "rb") as fh:
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def blob_data_path(self, digest):
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.root, "docker", "registry", "v2", "blobs", "sha256", hexd[:2], hexd,
                            "data")

    def corrupt_blob(self, digest, offset=None):
        """Flip one byte of a stored blob (same length, so the registry's
        cached size still matches); the registry then serves content that no
        longer has this digest."""
        p = self.blob_data_path(digest)
        with open(p, "r+b") as fh:
            data = bytearray(fh.read())
            i = len(data) // 2 if offset is None else offset
            data[i] ^= 0xFF
            fh.seek(0)
            fh.write(data)

    def push(self, image_or_layout, name, tag=None):
        """skopeo copy a layout to <host>/<name>:<tag>; returns the reference."""
        return push(image_or_layout, "%s/%s:%s" % (self.host, name, tag or "latest"), self.creds)

    def push_raw(self, name, reference, manifest, media_type, blobs):
        return push_raw(self.url, name, reference, manifest, media_type, blobs,
                        (self.user, self.password) if self.user else None)

    def get_manifest(self, name, reference, accept=(OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX),
                     auth=True):
        creds = (self.user, self.password) if (self.user and auth) else None
        return http_request("GET", "%s/v2/%s/manifests/%s" % (self.url, name, reference),
                            headers={"Accept": ", ".join(accept)}, creds=creds)


def push(image_or_layout, dest, creds=None, timeout=300):
    """skopeo copy oci:<layout>:<tag> docker://<dest> (plain HTTP), digests kept."""
    layout = getattr(image_or_layout, "layout", image_or_layout)
    tag = getattr(image_or_layout, "tag", "latest")
    cmd = [SKOPEO, "--insecure-policy", "copy", "--quiet", "--preserve-digests",
           "--dest-tls-verify=false"]
    if creds:
        cmd += ["--dest-creds", creds]
    cmd += ["oci:%s:%s" % (layout, tag), "docker://" + dest]
    r = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("skopeo copy to %s failed: %s" % (dest, r.stderr.decode(errors="replace")))
    return dest


def http_request(method, url, data=None, headers=None, creds=None, timeout=30):
    """(status, headers, body) without raising on HTTP errors."""
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if creds:
        tok = base64.b64encode(("%s:%s" % creds).encode()).decode()
        req.add_header("Authorization", "Basic " + tok)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def push_raw(base_url, name, reference, manifest, media_type, blobs, creds=None):
    """Upload blobs ({digest: bytes}; the digest is what we claim, the
    registry checks it) with POST + monolithic PUT, then PUT the manifest
    bytes as given. Returns the manifest digest the registry reports."""
    for dg, data in blobs.items():
        st, _, _ = http_request("HEAD", "%s/v2/%s/blobs/%s" % (base_url, name, dg), creds=creds)
        if st == 200:
            continue
        st, hd, body = http_request("POST", "%s/v2/%s/blobs/uploads/" % (base_url, name), data=b"",
                                    creds=creds)
        if st != 202:
            raise RuntimeError("start upload %s: HTTP %d %r" % (dg, st, body))
        loc = hd["Location"]
        if loc.startswith("/"):
            loc = base_url + loc
        loc += ("&" if "?" in loc else "?") + "digest=" + dg
        st, _, body = http_request("PUT", loc, data=data, creds=creds,
                                   headers={"Content-Type": "application/octet-stream"})
        if st != 201:
            raise RuntimeError("upload %s: HTTP %d %r" % (dg, st, body))
    st, hd, body = http_request("PUT", "%s/v2/%s/manifests/%s" % (base_url, name, reference),
                                data=manifest, creds=creds, headers={"Content-Type": media_type})
    if st != 201:
        raise RuntimeError("put manifest %s:%s: HTTP %d %r" % (name, reference, st, body))
    return hd.get("Docker-Content-Digest")


def push_corrupt(reg, image, name, tag="latest", which=-1):
    """Push image and then damage one of its layers (default the last) in the
    registry's storage: the manifest points to a blob with wrong content.
    Returns the damaged layer's digest."""
    reg.push_raw(name, tag, image.manifest, image.media_type, image.blobs())
    dg = image.layers[which].digest
    reg.corrupt_blob(dg)
    return dg


# ------------------------------------------------------------ pytest fixtures


@pytest.fixture
def registry_factory():
    made, dirs = [], []

    def make(user=None, password=None):
        wd = tempfile.mkdtemp(prefix="imgreg-", dir="/tmp")
        dirs.append(wd)
        r = Registry(wd, user, password)
        made.append(r)
        return r.start()

    yield make
    for r in made:
        r.stop()
    for wd in dirs:
        shutil.rmtree(wd, ignore_errors=True)


@pytest.fixture
def registry(registry_factory):
    """A registry without auth."""
    return registry_factory()


@pytest.fixture
def registry_auth(registry_factory):
    """A registry with htpasswd (Basic) auth: user "tester", password "s3cret"."""
    return registry_factory("tester", "s3cret")


@pytest.fixture(scope="session")
def image_dir():
    d_ = tempfile.mkdtemp(prefix="imglib-", dir="/tmp")
    yield d_
    shutil.rmtree(d_, ignore_errors=True)


@pytest.fixture(scope="session")
def image_single(image_dir):
    return build_image(os.path.join(image_dir, "single"), "single", archive=True)


@pytest.fixture(scope="session")
def image_multi(image_dir):
    return build_image(os.path.join(image_dir, "multi"), "multi", archive=True)
