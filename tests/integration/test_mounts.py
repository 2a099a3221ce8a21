"""CRI mounts through a real uvmd, agent and runc: propagation (private,
rslave, rshared) seen from both sides, read-only and recursive read-only
mounts together with the handler feature that advertises them, the mounts
ContainerStatus reports, and image volumes (the ImageVolume feature)."""
import os
import subprocess

import grpc
import pytest

import imagelib
from imagelib import image_dir, image_single  # noqa: F401 (fixtures)
from test_pods import (_code, _create, _ctr_config, _exec, _pod_config, _run_pod,  # noqa: F401
                       _status, import_archive, pods)
from uvmdlib import pb

PRIVATE, HOST_TO_CONTAINER, BIDIRECTIONAL = 0, 1, 2


def _sh(*args):
    subprocess.run(args, check=True, capture_output=True)


@pytest.fixture
def host_mounts(workdir):
    """Mounts the test makes on the host; all undone at the end."""
    made = []

    def mount(*args, target):
        os.makedirs(target, exist_ok=True)
        _sh("mount", *args, target)
        made.append(target)
        return target

    yield mount
    for t in reversed(made):
        subprocess.run(["umount", "-R", "-l", t], capture_output=True)


def _start(c, pod, pod_cfg, cfg):
    cid = _create(c, pod, cfg, pod_cfg)
    c.rt("StartContainer", container_id=cid)
    return cid


def _with_mount(d, name, privileged=False, **mount):
    m = pb()
    cfg = _ctr_config(d, name, "sleep 1000")
    cfg.linux.security_context.privileged = privileged
    cfg.mounts.append(m.Mount(**mount))
    return cfg


def _visible(c, cid, path):
    return _exec(c, cid, ["cat", path])[0] == 0


def test_mount_propagation(pods, workdir, host_mounts):
    d, c = pods, pods.client()
    vol = host_mounts("-t", "tmpfs", "tmpfs", target=os.path.join(workdir, "prop"))
    _sh("mount", "--make-shared", vol)
    pod_cfg = _pod_config(d, "prop")
    pod = _run_pod(c, pod_cfg)
    ctrs = {p: _start(c, pod, pod_cfg, _with_mount(d, "p%d" % p, privileged=True,
                                                   container_path="/mnt/v", host_path=vol,
                                                   propagation=p))
            for p in (PRIVATE, HOST_TO_CONTAINER, BIDIRECTIONAL)}

    # Host -> container: only rslave and rshared see a mount made later.
    sub = host_mounts("-t", "tmpfs", "tmpfs", target=os.path.join(vol, "fromhost"))
    with open(os.path.join(sub, "mark"), "w") as f:
        f.write("host\n")
    assert not _visible(c, ctrs[PRIVATE], "/mnt/v/fromhost/mark")
    assert _visible(c, ctrs[HOST_TO_CONTAINER], "/mnt/v/fromhost/mark")
    assert _visible(c, ctrs[BIDIRECTIONAL], "/mnt/v/fromhost/mark")

    # Container -> host: only rshared.
    for p, name in ((HOST_TO_CONTAINER, "fromslave"), (BIDIRECTIONAL, "fromshared")):
        rc, _, err = _exec(c, ctrs[p], ["sh", "-c", "mkdir -p /mnt/v/%s && mount -t tmpfs t "
                                        "/mnt/v/%s && echo ctr > /mnt/v/%s/mark" % (name, name, name)])
        assert rc == 0, err
    assert os.path.exists(os.path.join(vol, "fromshared", "mark"))
    assert not os.path.exists(os.path.join(vol, "fromslave", "mark"))
    # What the status says is what was asked for.
    assert [x.propagation for x in _status(c, ctrs[BIDIRECTIONAL]).mounts] == [BIDIRECTIONAL]
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    subprocess.run(["umount", "-l", os.path.join(vol, "fromshared")], capture_output=True)


def test_propagation_needs_a_shared_host_mount(pods, workdir, host_mounts):
    d, c = pods, pods.client()
    vol = host_mounts("-t", "tmpfs", "tmpfs", target=os.path.join(workdir, "priv"))
    _sh("mount", "--make-private", vol)
    pod_cfg = _pod_config(d, "noprop")
    pod = _run_pod(c, pod_cfg)
    for p, needle in ((BIDIRECTIONAL, "not a shared mount"),
                      (HOST_TO_CONTAINER, "neither shared nor a slave")):
        code, msg = _code(lambda: _create(c, pod, _with_mount(d, "x%d" % p, container_path="/v",
                                                              host_path=vol, propagation=p),
                                          pod_cfg))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and needle in msg, msg
    assert list(c.rt("ListContainers").containers) == []
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_read_only_and_recursive_read_only(pods, workdir, host_mounts):
    d, c = pods, pods.client()
    top = os.path.join(workdir, "rro")
    os.makedirs(top)
    sub = host_mounts("-t", "tmpfs", "tmpfs", target=os.path.join(top, "sub"))
    # The feature is advertised for every handler offered, and it works.
    handlers = {h.name: h.features for h in c.rt("Status").runtime_handlers}
    assert handlers[""].recursive_read_only_mounts and handlers["runc"].recursive_read_only_mounts
    pod_cfg = _pod_config(d, "rro")
    pod = _run_pod(c, pod_cfg)
    ro = _start(c, pod, pod_cfg, _with_mount(d, "ro", container_path="/v", host_path=top,
                                             readonly=True))
    rro = _start(c, pod, pod_cfg, _with_mount(d, "rro", container_path="/v", host_path=top,
                                              readonly=True, recursive_read_only=True))
    # Non-recursive: the top is read-only, the submount below it is not.
    assert _exec(c, ro, ["sh", "-c", "echo x > /v/top"])[0] != 0
    assert _exec(c, ro, ["sh", "-c", "echo x > /v/sub/f"])[0] == 0
    # Recursive: neither.
    assert _exec(c, rro, ["sh", "-c", "echo x > /v/top"])[0] != 0
    rc, _, err = _exec(c, rro, ["sh", "-c", "echo x > /v/sub/g"])
    assert rc != 0 and "Read-only file system" in err, err
    assert os.path.exists(os.path.join(sub, "f")) and not os.path.exists(os.path.join(sub, "g"))
    st = _status(c, rro).mounts
    assert [(x.container_path, x.host_path, x.readonly, x.recursive_read_only) for x in st] == \
        [("/v", top, True, True)]
    # Recursive read-only needs readonly and private propagation.
    code, msg = _code(lambda: _create(c, pod, _with_mount(d, "bad", container_path="/v",
                                                          host_path=top,
                                                          recursive_read_only=True), pod_cfg))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "recursive_read_only" in msg, msg
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


@pytest.fixture(scope="session")
def volume_image(image_dir):
    """An image of data only: /data/hello, /data/sub/deep, and a symlink
    /data/etc -> /etc that must resolve inside the image."""
    e = imagelib
    entries = [e.d("data"), e.f("data/hello", b"from the image\n"), e.d("data/sub"),
               e.f("data/sub/deep", b"deep\n"), e.sym("data/etc", "/etc"), e.d("etc"),
               e.f("etc/passwd", b"image-only:x:7:7::/:/bin/false\n")]
    return e.one_layer_archive(image_dir, "volume", entries, tag="vol")


def test_image_volumes(pods, volume_image):
    d, c, m = pods, pods.client(), pb()
    import_archive(d, volume_image.archive)
    pod_cfg = _pod_config(d, "imgvol")
    pod = _run_pod(c, pod_cfg)
    cfg = _ctr_config(d, "iv", "sleep 1000")
    cfg.mounts.extend([
        m.Mount(container_path="/vol", image=m.ImageSpec(image=volume_image.id)),
        m.Mount(container_path="/sub", image=m.ImageSpec(image=volume_image.id),
                image_sub_path="data/sub"),
        m.Mount(container_path="/etcvol", image=m.ImageSpec(image=volume_image.id),
                image_sub_path="data/etc")])
    cid = _start(c, pod, pod_cfg, cfg)
    assert _exec(c, cid, ["cat", "/vol/data/hello"])[1] == "from the image\n"
    assert _exec(c, cid, ["cat", "/sub/deep"])[1] == "deep\n"
    # The symlink resolved inside the image, never to the host's /etc.
    assert _exec(c, cid, ["cat", "/etcvol/passwd"])[1] == "image-only:x:7:7::/:/bin/false\n"
    rc, _, err = _exec(c, cid, ["sh", "-c", "echo x > /vol/new"])
    assert rc != 0 and "Read-only file system" in err
    mounts = {x.container_path: x for x in _status(c, cid).mounts}
    assert mounts["/vol"].image.image == volume_image.id and mounts["/vol"].readonly
    assert mounts["/sub"].image_sub_path == "data/sub"
    # The image is in use while the container exists.
    code, _ = _code(lambda: c.img("RemoveImage", image=m.ImageSpec(image=volume_image.id)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION

    # Bad requests: unknown image, sub path leaving the image, missing sub path.
    for name, mount, want in (
            ("unknown", m.Mount(container_path="/x", image=m.ImageSpec(image="nope:1")),
             grpc.StatusCode.NOT_FOUND),
            ("escape", m.Mount(container_path="/x", image=m.ImageSpec(image=volume_image.id),
                               image_sub_path="../../"), grpc.StatusCode.INVALID_ARGUMENT),
            ("missing", m.Mount(container_path="/x", image=m.ImageSpec(image=volume_image.id),
                                image_sub_path="data/none"), grpc.StatusCode.NOT_FOUND)):
        bad = _ctr_config(d, name, "true")
        bad.mounts.append(mount)
        code, msg = _code(lambda: _create(c, pod, bad, pod_cfg))
        assert code == want, (name, code, msg)
    assert [x.id for x in c.rt("ListContainers").containers] == [cid]

    c.rt("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=0))
    c.rt("RemoveContainer", container_id=cid)
    c.img("RemoveImage", image=m.ImageSpec(image=volume_image.id))
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    mounted = [ln for ln in open("/proc/self/mountinfo") if d.state in ln]
    assert mounted == []
