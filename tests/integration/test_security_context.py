"""Who a container runs as and what it may do, through the CRI against a real
uvmd, agent and runc: non-root users (request and image USER, names and
numbers, groups and their policy), privileged containers and capabilities
bounded by what uvmd holds, and a read-only root filesystem with the
kubelet's usual mounts."""
import os
import stat
import subprocess

import grpc
import pytest

import imagelib
from imagelib import image_dir, image_multi, image_single  # noqa: F401 (fixtures)
from test_pods import (_code, _create, _ctr_config, _exec, _pod_config, _run_pod,  # noqa: F401
                       _status, _wait_state, any_pods, handler, import_archive, pods,
                       vm_pods_daemon)
from uvmdlib import pb

CAP_SYS_RESOURCE = 24


@pytest.fixture(scope="session")
def user_images(image_dir):
    """Single-layer busybox images whose config USER is "1000:1000" and
    "app:wheel"; {user: image id}."""
    out = {}
    for tag, user in (("uidgid", "1000:1000"), ("namegroup", "app:wheel")):
        out[user] = imagelib.one_layer_archive(image_dir, "user-" + tag,
                                               imagelib.base_entries(), {"User": user}, tag)
    return out


def _start(c, pod, pod_cfg, cfg):
    cid = _create(c, pod, cfg, pod_cfg)
    c.rt("StartContainer", container_id=cid)
    return cid


def _sleeper(d, name, **sc):
    """A container that sleeps, with security_context fields from sc."""
    cfg = _ctr_config(d, name, "sleep 1000")
    for k, v in sc.items():
        f = getattr(cfg.linux.security_context, k)
        if hasattr(f, "CopyFrom") and not isinstance(v, (list, tuple)):
            f.value = v  # Int64Value
        elif isinstance(v, (list, tuple)):
            f.extend(v)
        else:
            setattr(cfg.linux.security_context, k, v)
    return cfg


def _ids(c, cid):
    rc, out, err = _exec(c, cid, ["sh", "-c", "id -u; id -g; id -G"])
    assert rc == 0, err
    u, g, groups = out.split("\n")[:3]
    return int(u), int(g), [int(x) for x in groups.split()]


def _writes(c, cid, path):
    return _exec(c, cid, ["sh", "-c", "echo x > %s && cat %s" % (path, path)])


def _caps(c, cid, which="CapEff"):
    out = _exec(c, cid, ["cat", "/proc/self/status"])[1]
    return int([ln for ln in out.splitlines() if ln.startswith(which + ":")][0].split()[1], 16)


def _uvmd_bounding(d):
    with open("/proc/%d/status" % d.proc.pid) as f:
        return int([ln for ln in f if ln.startswith("CapBnd:")][0].split()[1], 16)


def test_non_root_users(pods, image_multi, user_images):
    d, c, m = pods, pods.client(), pb()
    import_archive(d, image_multi.archive)
    for img in user_images.values():
        import_archive(d, img.archive)
    pod_cfg = _pod_config(d, "users")
    pod = _run_pod(c, pod_cfg)

    # run_as_user: gid and name from the image's /etc/passwd; app is in wheel (10).
    a = _start(c, pod, pod_cfg, _sleeper(d, "uid", run_as_user=1000))
    assert _ids(c, a) == (1000, 1000, [1000, 10])
    assert _writes(c, a, "/tmp/f") == (0, "x\n", "")
    assert _writes(c, a, "/home/app/f") == (0, "x\n", "")
    assert _writes(c, a, "/root/f")[0] != 0  # not root any more
    st = _status(c, a)
    assert (st.user.linux.uid, st.user.linux.gid) == (1000, 1000)
    assert list(st.user.linux.supplemental_groups) == [1000, 10]

    # run_as_username, run_as_group and supplemental groups (Merge).
    b = _start(c, pod, pod_cfg, _sleeper(d, "name", run_as_username="app", run_as_group=2000,
                                         supplemental_groups=[3000]))
    assert _ids(c, b) == (1000, 2000, [2000, 10, 3000])
    # Strict: the image's memberships are left out.
    s = _start(c, pod, pod_cfg, _sleeper(d, "strict", run_as_user=1000,
                                         supplemental_groups=[3000],
                                         supplemental_groups_policy=m.Strict))
    assert _ids(c, s) == (1000, 1000, [1000, 3000])
    assert c.rt("Status").features.supplemental_groups_policy is True

    # The image's USER: a name (3-layer image), uid:gid, name:group.
    for name, image, want in (("imgname", image_multi.id, (1000, 1000, [1000, 10])),
                              ("imguidgid", user_images["1000:1000"].id, (1000, 1000, [1000, 10])),
                              ("imgnamegroup", user_images["app:wheel"].id, (1000, 10, [10]))):
        cfg = _ctr_config(d, name, "sleep 1000")
        cfg.image.image = image
        cid = _start(c, pod, pod_cfg, cfg)
        assert _ids(c, cid) == want, name
        assert _writes(c, cid, "/home/app/f") == (0, "x\n", ""), name
        assert _writes(c, cid, "/tmp/f") == (0, "x\n", ""), name

    # A group alone is an error (the CRI), so is a name the image lacks.
    for name, sc, needle in (("grouponly", {"run_as_group": 5}, "run_as_group is set without"),
                             ("nouser", {"run_as_username": "nobody"}, "\"nobody\"")):
        code, msg = _code(lambda: _create(c, pod, _sleeper(d, name, **sc), pod_cfg))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and needle in msg, msg
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_read_only_rootfs_with_kubelet_mounts(pods, workdir):
    d, c = pods, pods.client()
    m = pb()
    host = os.path.join(workdir, "kubelet")
    os.makedirs(os.path.join(host, "secrets"))
    os.makedirs(os.path.join(host, "scratch"))
    for name, text in (("hosts", "10.0.0.1 mine\n"), ("termination-log", ""),
                       ("secrets/token", "t0k3n\n")):
        with open(os.path.join(host, name), "w") as f:
            f.write(text)
    os.chmod(os.path.join(host, "scratch"), 0o777)
    pod_cfg = _pod_config(d, "ro")
    pod = _run_pod(c, pod_cfg)
    for user in (None, 1000):
        cfg = _sleeper(d, "ro%s" % (user or 0), readonly_rootfs=True)
        if user:
            cfg.linux.security_context.run_as_user.value = user
        # None of these destinations exists in the image.
        cfg.mounts.extend([
            m.Mount(container_path="/etc/hosts", host_path=os.path.join(host, "hosts")),
            m.Mount(container_path="/dev/termination-log",
                    host_path=os.path.join(host, "termination-log")),
            m.Mount(container_path="/var/run/secrets/kubernetes.io/serviceaccount",
                    host_path=os.path.join(host, "secrets"), readonly=True),
            m.Mount(container_path="/scratch", host_path=os.path.join(host, "scratch"))])
        cid = _start(c, pod, pod_cfg, cfg)
        assert _exec(c, cid, ["cat", "/etc/hosts"])[1] == "10.0.0.1 mine\n"
        assert _exec(c, cid, ["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"])[1] \
            == "t0k3n\n"
        rc, _, err = _exec(c, cid, ["sh", "-c", "echo x > /newfile"])
        assert rc != 0 and "Read-only file system" in err, err
        assert _exec(c, cid, ["sh", "-c", "echo x > /tmp/f"])[0] != 0
        assert _writes(c, cid, "/scratch/f%s" % user) == (0, "x\n", "")
        paths = {x.container_path for x in _status(c, cid).mounts}
        assert "/etc/hosts" in paths and "/scratch" in paths
        # The pod's own files are read-only for it too: they are shared.
        for f in ("/etc/resolv.conf", "/etc/hostname"):
            rc, _, err = _exec(c, cid, ["sh", "-c", "echo x >> " + f])
            assert rc != 0 and ("Read-only file system" in err or user), (f, err)
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_privileged_and_capabilities(pods):
    d, c, m = pods, pods.client(), pb()
    held = _uvmd_bounding(d)
    pod_cfg = _pod_config(d, "caps")
    pod = _run_pod(c, pod_cfg)

    # Privileged: every capability uvmd holds, and it runs where uvmd lacks some.
    p = _start(c, pod, pod_cfg, _sleeper(d, "priv", privileged=True))
    assert _wait_state(c, p, m.CONTAINER_RUNNING)
    assert _caps(c, p) == held and _caps(c, p, "CapBnd") == held
    # With a seccomp profile too (mount propagation tests run such containers).
    cfg = _sleeper(d, "privsec", privileged=True)
    cfg.linux.security_context.seccomp.profile_type = m.SecurityProfile.RuntimeDefault
    ps = _start(c, pod, pod_cfg, cfg)
    assert _caps(c, ps) == held

    # The host's devices and a writable /sys and cgroup mount, as containerd
    # gives; an unprivileged container has neither.
    plain = _start(c, pod, pod_cfg, _sleeper(d, "plain"))
    runc_own = {"null", "zero", "full", "random", "urandom", "tty", "console", "ptmx"}
    host_dev = sorted(n for n in os.listdir("/dev") if n not in runc_own and
                      (stat.S_ISCHR(os.lstat("/dev/" + n).st_mode) or
                       stat.S_ISBLK(os.lstat("/dev/" + n).st_mode)))[0]
    assert _exec(c, p, ["ls", "/dev/" + host_dev])[0] == 0, host_dev
    assert _exec(c, plain, ["ls", "/dev/" + host_dev])[0] != 0, host_dev
    for cid, mode in ((p, "rw"), (plain, "ro")):
        mounts = _exec(c, cid, ["cat", "/proc/mounts"])[1].splitlines()
        sysfs = [ln for ln in mounts if ln.split()[1] == "/sys"]
        cgroups = [ln for ln in mounts if ln.split()[2] == "cgroup"]
        assert sysfs and sysfs[0].split()[3].startswith(mode), sysfs
        assert cgroups and all(ln.split()[3].startswith(mode) for ln in cgroups), cgroups

    # add ALL on an unprivileged container: the same set.
    cfg = _sleeper(d, "addall")
    cfg.linux.security_context.capabilities.add_capabilities.append("ALL")
    assert _caps(c, _start(c, pod, pod_cfg, cfg)) == held
    # drop ALL, add one: exactly that one.
    cfg = _sleeper(d, "one")
    cfg.linux.security_context.capabilities.drop_capabilities.append("ALL")
    cfg.linux.security_context.capabilities.add_capabilities.append("NET_ADMIN")
    assert _caps(c, _start(c, pod, pod_cfg, cfg)) == 1 << 12
    # Asking by name for one uvmd lacks is refused clearly.
    if not held & (1 << CAP_SYS_RESOURCE):
        cfg = _sleeper(d, "noway")
        cfg.linux.security_context.capabilities.add_capabilities.append("CAP_SYS_RESOURCE")
        code, msg = _code(lambda: _create(c, pod, cfg, pod_cfg))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, msg
        assert "CAP_SYS_RESOURCE is not in uvmd's capability bounding set" in msg
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


PTRACE_PROBE = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
int main(void)
{
        if (ptrace(PTRACE_ATTACH, 1, 0, 0) == 0) {
                waitpid(1, 0, __WALL);
                ptrace(PTRACE_DETACH, 1, 0, 0);
                puts("attached");
                return 0;
        }
        printf("refused: %s\n", strerror(errno));
        return 1;
}
"""


SYSCALL_PROBE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static void say(const char *what, long r)
{
        printf("%s=%s\n", what, r < 0 ? strerrorname_np(errno) : "ok");
}
int main(void)
{
        char params[120] = {0};
        pid_t child;
        long r;

        say("unshare_user", unshare(CLONE_NEWUSER));
        say("io_uring_setup", syscall(SYS_io_uring_setup, 1, params));
        say("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
        say("bpf", syscall(SYS_bpf, 0, NULL, 0));
        say("mount", mount("t", "/mnt", "tmpfs", 0, NULL));
        say("clone3", syscall(SYS_clone3, NULL, 0));
        child = fork();
        if (child == 0) {
                pause();
                _exit(0);
        }
        r = ptrace(PTRACE_ATTACH, child, 0, 0);
        say("ptrace", r);
        kill(child, SIGKILL);
        waitpid(child, NULL, __WALL);
        return 0;
}
"""


def _static(image_dir, name, source):
    src = os.path.join(image_dir, name + ".c")
    exe = os.path.join(image_dir, name)
    with open(src, "w") as f:
        f.write(source)
    subprocess.run(["gcc", "-static", "-O2", "-o", exe, src], check=True)
    with open(exe, "rb") as f:
        return f.read()


@pytest.fixture(scope="session")
def probe_image(image_dir):
    """busybox plus static probes: /bin/ptrace1 tries to ptrace PID 1;
    /bin/sysprobe tries calls a RuntimeDefault container must not make."""
    extra = [imagelib.f("bin/ptrace1", _static(image_dir, "ptrace1", PTRACE_PROBE), 0o755),
             imagelib.f("bin/sysprobe", _static(image_dir, "sysprobe", SYSCALL_PROBE), 0o755),
             imagelib.d("mnt")]
    return imagelib.one_layer_archive(image_dir, "ptrace-probe", imagelib.base_entries() + extra,
                                      tag="probe")


def test_pod_pid_1_reveals_nothing_of_the_host(any_pods, probe_image):
    # In a VM pod the holder is made after the agent's reaper started, and
    # the guest's root cannot be pivoted away from (docs/agent.md).
    d, c, m = any_pods, any_pods.client(), pb()
    import_archive(d, probe_image.archive)
    pod_cfg = _pod_config(d, "pid1")
    pod_cfg.linux.security_context.namespace_options.pid = m.POD
    pod = _run_pod(c, pod_cfg, d.handler)
    ctrs = {}
    for name, caps in (("plain", []), ("ptracer", ["SYS_PTRACE"])):
        cfg = _sleeper(d, name)
        cfg.image.image = probe_image.id
        cfg.linux.security_context.capabilities.add_capabilities.extend(caps)
        ctrs[name] = _start(c, pod, pod_cfg, cfg)
    host_root = sorted(os.listdir("/"))
    for name, cid in ctrs.items():
        # Nothing of the host: not its files, its mounts, its environment.
        rc, out, _ = _exec(c, cid, ["ls", "-A", "/proc/1/root/"])
        assert rc != 0 or out.split() == [], (name, out)
        assert sorted(out.split()) != host_root
        rc, out, _ = _exec(c, cid, ["ls", "-A", "/proc/1/cwd/"])
        assert rc != 0 or out.split() == [], (name, out)
        rc, out, _ = _exec(c, cid, ["cat", "/proc/1/environ"])
        assert rc != 0 or out == "", (name, out)
        rc, out, _ = _exec(c, cid, ["cat", "/proc/1/mountinfo"])
        lines = out.splitlines()
        assert rc != 0 or (len(lines) == 1 and " - tmpfs " in lines[0]), (name, out)
        assert d.state not in out and " - ext4 " not in out, (name, out)
        rc, out, _ = _exec(c, cid, ["/bin/busybox", "readlink", "/proc/1/exe"])
        assert rc != 0 or out.startswith("/memfd:uvmd-pause"), (name, out)
        # No ptrace of PID 1, not even with CAP_SYS_PTRACE.
        rc, out, _ = _exec(c, cid, ["/bin/ptrace1"])
        assert rc == 1 and out.startswith("refused"), (name, rc, out)
    # The pod's processes still share one namespace under that PID 1.
    ps = _exec(c, ctrs["plain"], ["/bin/busybox", "ps", "-o", "pid,args"])[1]
    assert "sleep 1000" in ps and ps.count("sleep 1000") == 2, ps
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
    out = subprocess.run(["pgrep", "-x", "uvmd-pause"], capture_output=True, text=True)
    assert out.stdout.strip() == "", "a PID 1 holder outlived its pod"


@pytest.fixture(scope="session")
def hostile_user_images(image_dir):
    """Images whose user databases try to reach the host or to block: one
    with /etc/passwd a symlink to the host's /etc/passwd, one with /etc/group
    a FIFO."""
    e, out = imagelib, {}
    base = [x for x in e.base_entries() if x.path not in ("etc/passwd", "etc/group")]
    for tag, extra in (("passwd-link", [e.sym("etc/passwd", "/etc/passwd"),
                                        e.f("etc/group", e.GROUP)]),
                       ("group-fifo", [e.f("etc/passwd", e.PASSWD), e.fifo("etc/group")])):
        out[tag] = e.one_layer_archive(image_dir, "hostile-" + tag, base + extra, tag=tag)
    return out


def test_user_lookup_stays_in_the_image(pods, hostile_user_images):
    d, c = pods, pods.client()
    for img in hostile_user_images.values():
        import_archive(d, img.archive)
    pod_cfg = _pod_config(d, "hostile")
    pod = _run_pod(c, pod_cfg)
    # "daemon" is in the host's /etc/passwd, not in the image: the symlink
    # must not lead there.
    with open("/etc/passwd") as f:
        assert any(ln.startswith("daemon:") for ln in f)
    cfg = _sleeper(d, "link", run_as_username="daemon")
    cfg.image.image = hostile_user_images["passwd-link"].id
    code, msg = _code(lambda: _create(c, pod, cfg, pod_cfg))
    # (The link resolves to itself inside the image.)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "image /etc/passwd" in msg, msg
    # A FIFO as /etc/group blocks nothing: uvmd does not open it, and the
    # image is refused since runc would (and hang there).
    cfg = _sleeper(d, "fifo", run_as_user=1000)
    cfg.image.image = hostile_user_images["group-fifo"].id
    code, msg = _code(lambda: c.rt("CreateContainer", pod_sandbox_id=pod, config=cfg,
                                   sandbox_config=pod_cfg, timeout=20))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, msg
    assert "image /etc/group is not a regular file" in msg, msg
    assert list(c.rt("ListContainers").containers) == []
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_devices(pods):
    d, c, m = pods, pods.client(), pb()
    pod_cfg = _pod_config(d, "dev")
    pod = _run_pod(c, pod_cfg)
    cfg = _sleeper(d, "dev")
    cfg.devices.append(m.Device(container_path="/dev/xnull", host_path="/dev/null",
                                permissions="rwm"))
    cid = _start(c, pod, pod_cfg, cfg)
    assert _exec(c, cid, ["sh", "-c", "echo hi > /dev/xnull"])[0] == 0
    out = _exec(c, cid, ["ls", "-l", "/dev/xnull"])[1]
    assert out.startswith("c") and "1,   3" in out, out
    cfg = _sleeper(d, "nodev")
    cfg.devices.append(m.Device(container_path="/dev/x", host_path="/dev/uvmd-none"))
    code, msg = _code(lambda: _create(c, pod, cfg, pod_cfg))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "/dev/uvmd-none" in msg, msg
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def _probe(c, cid):
    rc, out, err = _exec(c, cid, ["/bin/sysprobe"])
    assert rc == 0, err
    return dict(ln.split("=", 1) for ln in out.splitlines())


def test_runtime_default_seccomp_is_an_allowlist(pods, probe_image):
    d, c, m = pods, pods.client(), pb()
    import_archive(d, probe_image.archive)
    pod_cfg = _pod_config(d, "seccomp")
    pod = _run_pod(c, pod_cfg)
    ctrs = {}
    for name, profile, caps in (("default", m.SecurityProfile.RuntimeDefault, []),
                                ("ptracer", m.SecurityProfile.RuntimeDefault, ["SYS_PTRACE"]),
                                ("unconfined", m.SecurityProfile.Unconfined, [])):
        cfg = _sleeper(d, name)
        cfg.image.image = probe_image.id
        cfg.linux.security_context.seccomp.profile_type = profile
        cfg.linux.security_context.capabilities.add_capabilities.extend(caps)
        ctrs[name] = _start(c, pod, pod_cfg, cfg)
    got = _probe(c, ctrs["default"])
    assert got == {"unshare_user": "EPERM", "io_uring_setup": "EPERM", "keyctl": "EPERM",
                   "bpf": "EPERM", "mount": "EPERM", "clone3": "ENOSYS", "ptrace": "EPERM"}, got
    # The same calls without the filter: what blocked them was the profile.
    free = _probe(c, ctrs["unconfined"])
    assert free["unshare_user"] == "ok" and free["ptrace"] == "ok", free
    assert free["io_uring_setup"] != "EPERM" and free["keyctl"] != "EPERM", free
    # CAP_SYS_PTRACE unlocks ptrace, and only that.
    traced = _probe(c, ctrs["ptracer"])
    assert traced["ptrace"] == "ok" and traced["unshare_user"] == "EPERM", traced
    # An ordinary workload runs under it.
    rc, out, _ = _exec(c, ctrs["default"], ["sh", "-c", "echo hi | wc -c; ls / >/dev/null; "
                                            "id -u; sleep 0.1 & wait"])
    assert rc == 0 and out.split() == ["3", "0"], out
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)


def test_apparmor_where_the_node_has_none(pods):
    """This kind of node has no AppArmor: a named profile is refused clearly
    (never silently dropped); RuntimeDefault (no profile on such a node, as
    containerd has it) and Unconfined run."""
    d, c, m = pods, pods.client(), pb()
    assert not os.path.exists("/sys/kernel/security/apparmor")
    pod_cfg = _pod_config(d, "aa")
    pod = _run_pod(c, pod_cfg)
    cfg = _sleeper(d, "aa")
    cfg.linux.security_context.apparmor.profile_type = m.SecurityProfile.Localhost
    cfg.linux.security_context.apparmor.localhost_ref = "my-profile"
    code, msg = _code(lambda: _create(c, pod, cfg, pod_cfg))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, msg
    assert "AppArmor is not enabled on this node" in msg, msg
    for kind in (m.SecurityProfile.RuntimeDefault, m.SecurityProfile.Unconfined):
        cfg = _sleeper(d, "free%d" % kind)
        cfg.linux.security_context.apparmor.profile_type = kind
        cid = _start(c, pod, pod_cfg, cfg)
        assert _exec(c, cid, ["cat", "/proc/self/attr/current"])[1].strip() in ("", "unconfined")
    c.rt("StopPodSandbox", pod_sandbox_id=pod)
    c.rt("RemovePodSandbox", pod_sandbox_id=pod)
