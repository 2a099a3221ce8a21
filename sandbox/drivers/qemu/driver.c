/*
 * The "qemu" driver: a pod is a QEMU microVM (an agent pod whose process is
 * QEMU, sandbox/drivers/agent_pod.h). The guest boots the Debian kernel and
 * the initramfs of guest/ whose PID 1 is uvmd-agent; the host reaches it on
 * a virtio-serial port (QEMU's chardev socket, QEMU the server, so a
 * restarted uvmd reconnects). Once the guest answered, the host gives it
 * the time, entropy, hostname, sysctls, the pod's network (a tap in the pod
 * netns, tc-redirected to the CNI interface: network/vm.h) and the 9p share
 * where containers' layers and mounts appear (share.h).
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "network/vm.h"
#include "sandbox/cgroup.h"
#include "sandbox/drivers/agent_pod.h"
#include "sandbox/drivers/qemu.h"
#include "sandbox/drivers/qemu/cmdline.h"
#include "sandbox/drivers/qemu/console.h"
#include "sandbox/drivers/qemu/disks.h"
#include "sandbox/drivers/qemu/jail.h"
#include "sandbox/drivers/qemu/kvm_proof.h"
#include "sandbox/drivers/qemu/nic.h"
#include "sandbox/drivers/qemu/share.h"
#include "sandbox/drivers/qemu/template.h"
#include "sandbox/drivers/qemu/tpl.h"

/* The longest of a pod's socket names (agent.sock, qmp.sock, log.sock). */
#define CONSOLE_SOCK "console.sock"

#define EXIT_WAIT_MS 10000 /* after ShutdownForced: the guest powers off */
#define REATTACH_TIMEOUT_MS 5000
#define TEMPLATE_MEMORY_MB 1024 /* hcsshim's default size (sandbox/uvm_options.h) */
#define RESTORE_TIMEOUT_MS 30000
#define ENTROPY_BYTES 64

/* The host's TSC rate in kHz ("cpu MHz" of /proc/cpuinfo), or 0. */
static unsigned host_tsc_khz(void)
{
        _cleanup_free_ char *text = NULL;
        const char *m;
        double mhz;

        if (fs_read_file("/proc/cpuinfo", 1 << 20, &text, NULL) < 0 ||
            !(m = strstr(text, "cpu MHz")) || !(m = strchr(m, ':')) ||
            sscanf(m + 1, "%lf", &mhz) != 1 || mhz < 100 || mhz > 100000)
                return 0;
        return (unsigned) (mhz * 1000);
}

/* Node settings, from the probe (service/config.h). */
static struct {
        char qemu[4096];
        char kernel[4096], initrd[4096];
        bool kvm; /* atomic: the KVM proof may set it after start-up */
        unsigned boot_timeout_ms;
        char append[128];
} node;

struct drv_pod {
        struct agent_pod ap; /* first: the agent_pod_* entries use it */
        char *qmp_sock, *console_sock, *console_log, *pid_file, *share, *holder_file;
        char *log_sock, *guest_log; /* the guest agent's records, kept and relayed */
        char *cgroup_parent;        /* the pod's: QEMU goes in <parent>/vm */
        char *jail_root;            /* QEMU's root, in its own mount namespace (jail.h) */
        char *disk_dir;             /* the layer disks' directory, or NULL */
        bool share_pid;
        pid_t pidns_holder; /* in the guest; 0 without share_pid */
        struct qconsole *console, *agent_log;
        struct qdisks *disks; /* image layers, hot-plugged */
        int (*layer_disk)(void *data, const char *layer_dir, char **ret_path,
                          struct uvm_error **err); /* NULL: layers go through the share */
        void *layer_disk_data;
};

static struct drv_pod *pod_free_(struct drv_pod *p)
{
        if (!p)
                return NULL;
        qconsole_free(p->console);
        qconsole_free(p->agent_log);
        qdisks_free(p->disks);
        agent_pod_destroy(&p->ap);
        free(p->qmp_sock);
        free(p->console_sock);
        free(p->console_log);
        free(p->pid_file);
        free(p->share);
        free(p->holder_file);
        free(p->cgroup_parent);
        free(p->jail_root);
        free(p->disk_dir);
        free(p->log_sock);
        free(p->guest_log);
        free(p);
        return NULL;
}

static void pod_freep(struct drv_pod **p)
{
        pod_free_(*p);
}

static int pod_alloc(const struct drv_pod_spec *spec, struct drv_pod **ret, struct uvm_error **err)
{
        struct drv_pod *p;
        int r;

        if (!spec->id || !spec->state_dir)
                return uvm_error_set(err, EINVAL, "qemu pod: id and state dir are required");
        p = calloc(1, sizeof(*p));
        if (!p)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = agent_pod_init(&p->ap, "qemu", spec, "agent.sock", "qemu.log", err);
        p->share_pid = spec->share_pid;
        p->qmp_sock = fs_path_join(spec->state_dir, "qmp.sock");
        p->console_sock = fs_path_join(spec->state_dir, CONSOLE_SOCK);
        p->console_log = fs_path_join(spec->state_dir, "console.log");
        p->pid_file = fs_path_join(spec->state_dir, "qemu.pid");
        p->share = fs_path_join(spec->state_dir, "share");
        p->holder_file = fs_path_join(spec->state_dir, "pidns.pid");
        p->log_sock = fs_path_join(spec->state_dir, "log.sock");
        p->guest_log = fs_path_join(spec->state_dir, "agent-guest.log");
        p->cgroup_parent = spec->cgroup_parent ? strdup(spec->cgroup_parent) : NULL;
        p->layer_disk = spec->layer_disk;
        p->layer_disk_data = spec->layer_disk_data;
        p->jail_root = fs_path_join(spec->state_dir, "vmroot");
        p->disk_dir = spec->layer_disk_dir ? strdup(spec->layer_disk_dir) : NULL;
        if (r >= 0 && (!p->jail_root || (spec->layer_disk_dir && !p->disk_dir)))
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0 && (!p->qmp_sock || !p->console_sock || !p->console_log || !p->pid_file ||
                       !p->share || !p->holder_file || !p->log_sock || !p->guest_log))
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0)
                r = qdisks_open(spec->state_dir, p->qmp_sock, &p->disks, err);
        if (r < 0) {
                pod_free_(p);
                return r;
        }
        *ret = p;
        return 0;
}

/* What a VM pod cannot be. */
static int check_spec(const struct drv_pod_spec *spec, struct uvm_error **err)
{
        if (!spec->netns_path)
                return uvm_error_set(err, EINVAL,
                                     "a VM pod has its own network: hostNetwork is not available");
        if (spec->host_pid || spec->host_ipc)
                return uvm_error_set(err, EINVAL,
                                     "a VM pod has its own kernel: hostPID and hostIPC are not "
                                     "available");
        if (spec->userns_path)
                return uvm_error_set(err, EINVAL, "user namespaces are not available in VM pods");
        if (!node.kernel[0] || access(node.kernel, R_OK) < 0 || access(node.initrd, R_OK) < 0)
                return uvm_error_set(err, ENOENT,
                                     "the guest image is missing: '%s' and '%s' (build it with "
                                     "`bazel build //guest:image` and set guest_dir)",
                                     node.kernel, node.initrd);
        return 0;
}

/* Under TCG every vCPU is a host thread emulating it, and an idle second
 * one alone costs about 6 % of a host core (the guest's per-CPU timers):
 * measured 8 % for two idle vCPUs against 2 % for one. A TCG VM gets one;
 * KVM gets what the UVM options say. */
static uint32_t vcpus_of(const struct drv_pod_spec *spec)
{
        return __atomic_load_n(&node.kvm, __ATOMIC_ACQUIRE) ? spec->uvm.processors : 1;
}

/* QEMU keeps only the capabilities its 9p server needs to act for the
 * guest on the share's files (owners, modes, device nodes): no
 * CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_PTRACE or CAP_SYS_MODULE (the tap
 * comes as an fd). util-linux's setpriv sets the bounding set before it
 * execs QEMU; without it QEMU runs as is (logged once). argv's strings are
 * borrowed. */
#define SETPRIV "/usr/bin/setpriv"
static const char *const setpriv_args[] = {
        SETPRIV, "--inh-caps=-all",
        "--bounding-set=-all,+chown,+dac_override,+dac_read_search,+fowner,+fsetid,+mknod", "--"};

#define JAIL_ARGS 9

/* The length of path's directory part (an absolute path's). */
static int dir_len(const char *path)
{
        return (int) (strrchr(path, '/') - path);
}

/* uvmd re-executed as the jail (jail.h), then setpriv, then QEMU. The
 * strings of argv and jail are borrowed. */
static char **confined(char **argv, char *const *jail, size_t n_jail)
{
        static bool warned;
        size_t n = 0, k = ARRAY_SIZE(setpriv_args), at = 0;
        char **v;

        while (argv[n])
                n++;
        if (access(SETPRIV, X_OK) < 0) {
                if (!__atomic_exchange_n(&warned, true, __ATOMIC_RELAXED))
                        log_warn("qemu: %s is missing: QEMU keeps every capability", SETPRIV);
                k = 0;
        }
        v = calloc(n_jail + k + n + 1, sizeof(char *));
        for (size_t i = 0; v && i < n_jail; i++)
                v[at++] = jail[i];
        for (size_t i = 0; v && i < k; i++)
                v[at++] = (char *) setpriv_args[i];
        for (size_t i = 0; v && i < n; i++)
                v[at++] = argv[i];
        return v;
}

/* The jail's part of the command line: the pod's state dir (sockets, pid
 * file; without the share's mounts), the share with them, the guest image
 * and the layer disks, read-only. *ret holds malloc'd strings. */
static int jail_args(struct drv_pod *p, char *ret[JAIL_ARGS], size_t *ret_n, struct uvm_error **err)
{
        size_t n = 0;
        int r = fs_mkdir_p(p->jail_root, 0700);

        if (r < 0)
                return uvm_error_set(err, -r, "create %s: %s", p->jail_root, strerror(-r));
        ret[n++] = strdup("/proc/self/exe");
        ret[n++] = strdup("vmm-jail");
        ret[n++] = strdup(p->jail_root);
        if (asprintf(&ret[n++], "rw:%s", p->ap.state_dir) < 0)
                ret[n - 1] = NULL;
        if (asprintf(&ret[n++], "rrw:%s", p->share) < 0)
                ret[n - 1] = NULL;
        if (asprintf(&ret[n++], "ro:%.*s", dir_len(node.kernel), node.kernel) < 0)
                ret[n - 1] = NULL;
        if (dir_len(node.initrd) != dir_len(node.kernel) ||
            strncmp(node.initrd, node.kernel, (size_t) dir_len(node.kernel)) != 0)
                if (asprintf(&ret[n++], "ro:%.*s", dir_len(node.initrd), node.initrd) < 0)
                        ret[n - 1] = NULL;
        if (p->disk_dir && asprintf(&ret[n++], "ro:%s", p->disk_dir) < 0)
                ret[n - 1] = NULL;
        ret[n++] = strdup("--");
        *ret_n = n;
        for (size_t i = 0; i < n; i++)
                if (!ret[i])
                        return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

/* The share is a mount point of its own, shared, so that what the host
 * binds into it later reaches QEMU's mount namespace (a slave of it). */
static int share_mount(const char *share, struct uvm_error **err)
{
        if (mount(share, share, NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, share, NULL, MS_SHARED, NULL) < 0)
                return uvm_error_set(err, errno, "make %s a shared mount: %m", share);
        return 0;
}

/* QEMU for the pod: a cold boot, or (t not NULL) a clone of template t
 * that waits for its state (fd 5) with its RAM mapped from t's memfd (fd 4). */
static int spawn_qemu(struct drv_pod *p, const struct drv_pod_spec *spec, int tap_fd,
                      const char *mac, const struct qtpl *t, int state_fd, struct uvm_error **err)
{
        int fds[3] = {tap_fd, t ? qtpl_mem_fd(t) : -1, state_fd};
        size_t n_fds = t ? 3 : tap_fd >= 0 ? 1 : 0;
        struct qemu_vm vm = {
                .qemu = node.qemu,
                .kernel = node.kernel,
                .initrd = node.initrd,
                .agent_sock = p->ap.sock_path,
                .qmp_sock = p->qmp_sock,
                .console_sock = p->console_sock,
                .log_sock = p->log_sock,
                .share_dir = p->share,
                .pidfile = p->pid_file,
                .memory_mb = spec->uvm.memory_mb,
                .vcpus = vcpus_of(spec),
                .kvm = __atomic_load_n(&node.kvm, __ATOMIC_ACQUIRE),
                .root_ports = QEMU_POD_ROOT_PORTS,
                .scsi = true,
                .append = node.append,
                .tap_fd = tap_fd >= 0 ? 3 : -1,
                .mac = tap_fd >= 0 ? mac : NULL,
                .mem_path = t ? "/proc/self/fd/4" : NULL,
                .incoming = t != NULL,
        };
        char **argv = NULL, **full = NULL, *jail[JAIL_ARGS] = {NULL};
        size_t n_jail = 0;
        int r = jail_args(p, jail, &n_jail, err);

        if (r >= 0)
                r = qemu_argv(&vm, &argv, err);
        if (r < 0) {
                for (size_t i = 0; i < n_jail; i++)
                        free(jail[i]);
                return r;
        }
        full = confined(argv, jail, n_jail);
        if (t && tap_fd < 0)
                r = uvm_error_set(err, EINVAL, "a clone needs its NIC");
        else if (!full)
                r = uvm_error_set(err, ENOMEM, "out of memory");
        else
                r = agent_pod_spawn(&p->ap, full, n_fds ? fds : NULL, n_fds, err);
        free(full); /* its strings are argv's and jail's */
        qemu_argv_free(argv);
        for (size_t i = 0; i < n_jail; i++)
                free(jail[i]);
        return r;
}

static json_object *str_array(char *const *v)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; v && v[i]; i++)
                json_object_array_add(a, json_object_new_string(v[i]));
        return a;
}

/* The pod's identity: clock, fresh entropy, hostname, sysctls, and a PID
 * namespace holder when the pod shares one. */
static int guest_identity(struct drv_pod *p, const struct drv_pod_spec *spec,
                          struct uvm_error **err)
{
        _cleanup_json_ json_object *s = json_object_new_object();
        _cleanup_json_ json_object *resp = NULL;
        unsigned char seed[ENTROPY_BYTES];
        char hex[2 * ENTROPY_BYTES + 1], text[32];
        struct timespec ts;
        int r;

        if (getrandom(seed, sizeof(seed), 0) != (ssize_t) sizeof(seed))
                return uvm_error_set(err, errno, "getrandom: %m");
        for (size_t i = 0; i < sizeof(seed); i++)
                snprintf(hex + 2 * i, 3, "%02x", seed[i]);
        clock_gettime(CLOCK_REALTIME, &ts);
        json_object_object_add(
                s, "TimeNs", json_object_new_int64((int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec));
        json_object_object_add(s, "Entropy", json_object_new_string(hex));
        if (!STR_EMPTY(spec->hostname))
                json_object_object_add(s, "Hostname", json_object_new_string(spec->hostname));
        json_object_object_add(s, "Sysctls", str_array(spec->sysctls));
        json_object_object_add(s, "SharePid", json_object_new_boolean(p->share_pid));
        r = agent_client_modify(p->ap.client, "Guest", s, &resp, err);
        if (r < 0 || !p->share_pid)
                return r;
        p->pidns_holder = (pid_t) json_object_get_int(json_object_object_get(resp, "PidNsHolder"));
        if (p->pidns_holder <= 1)
                return uvm_error_set(err, EPROTO, "the guest named no PID namespace holder");
        snprintf(text, sizeof(text), "%d\n", (int) p->pidns_holder);
        r = fs_write_atomic(p->holder_file, text, strlen(text), 0600);
        return r < 0 ? uvm_error_set(err, -r, "write %s: %s", p->holder_file, strerror(-r)) : 0;
}

/* from_mac: the NIC's address now (a clone's is its template's), or NULL. */
static int guest_network(struct drv_pod *p, const struct net_vm_nic *nic, const char *from_mac,
                         struct uvm_error **err)
{
        _cleanup_json_ json_object *s = json_object_new_object();
        json_object *ifc = json_object_new_object(), *ifcs = json_object_new_array(),
                    *addrs = json_object_new_array(), *routes = json_object_new_array();

        for (size_t i = 0; i < nic->n_addrs; i++)
                json_object_array_add(addrs, json_object_new_string(nic->addrs[i]));
        for (size_t i = 0; i < nic->n_routes; i++) {
                json_object *rt = json_object_new_object();

                json_object_object_add(rt, "Destination",
                                       json_object_new_string(nic->routes[i].dst));
                json_object_object_add(rt, "Gateway", json_object_new_string(nic->routes[i].gw));
                json_object_array_add(routes, rt);
        }
        json_object_object_add(ifc, "Mac", json_object_new_string(nic->mac));
        if (from_mac)
                json_object_object_add(ifc, "FromMac", json_object_new_string(from_mac));
        json_object_object_add(ifc, "Mtu", json_object_new_int(nic->mtu));
        json_object_object_add(ifc, "Addresses", addrs);
        json_object_array_add(ifcs, ifc);
        json_object_object_add(s, "Interfaces", ifcs);
        json_object_object_add(s, "Routes", routes);
        return agent_client_modify(p->ap.client, "Network", s, NULL, err);
}

static int guest_share(struct drv_pod *p, struct uvm_error **err)
{
        _cleanup_json_ json_object *s = json_object_new_object();

        json_object_object_add(s, "Tag", json_object_new_string(QSHARE_TAG));
        json_object_object_add(s, "Path", json_object_new_string(QSHARE_GUEST));
        return agent_client_modify(p->ap.client, "Share", s, NULL, err);
}

/* A boot that went wrong: say why, with the ends of QEMU's and the guest's logs. */
static int boot_failed(struct drv_pod *p, struct uvm_error **err)
{
        _cleanup_free_ char *console = NULL, *qemu = agent_pod_log_tail(&p->ap);
        size_t len = 0;

        if (fs_read_file(p->console_log, 1 << 20, &console, &len) == 0 && len > 400)
                memmove(console, console + len - 400, 401);
        return uvm_error_wrap(err, "boot the VM of pod %s (QEMU log %s: %s; console %s: %s)",
                              p->ap.id, p->ap.log_path, qemu ? qemu : "", p->console_log,
                              console ? console : "(empty)");
}

/* Forget a QEMU that was killed and reaped, so that another can be spawned. */
static void forget_qemu(struct drv_pod *p)
{
        agent_pod_kill(&p->ap);
        if (p->ap.pidfd >= 0)
                close(p->ap.pidfd);
        p->ap.pidfd = -1;
        p->ap.pid = 0;
        p->ap.is_child = false;
        p->ap.reaped = false;
}

/* Start the VM from the template when there is one of the pod's shape,
 * else (or when the clone fails before its guest runs) cold-boot it.
 * *ret_tpl: the template used, or NULL. */
static int start_vm(struct drv_pod *p, const struct drv_pod_spec *spec,
                    const struct net_vm_nic *nic, struct qtpl **ret_tpl, struct uvm_error **err)
{
        struct qtpl *t = qtpl_get(spec->uvm.memory_mb, vcpus_of(spec),
                                  __atomic_load_n(&node.kvm, __ATOMIC_ACQUIRE));
        _cleanup_error_ struct uvm_error *e = NULL;
        _cleanup_qmp_ struct qmp *q = NULL;
        _cleanup_close_ int state = -1;
        _cleanup_free_ char *tail = NULL;
        int r;

        *ret_tpl = NULL;
        if (!t)
                return spawn_qemu(p, spec, nic->tap_fd, nic->mac, NULL, -1, err);
        r = state = qtpl_open_state(t, &e);
        if (r >= 0)
                r = spawn_qemu(p, spec, nic->tap_fd, nic->mac, t, state, &e);
        if (r >= 0)
                r = qmp_connect(p->qmp_sock, RESTORE_TIMEOUT_MS, &q, &e);
        if (r >= 0)
                r = qtpl_qmp_restore(q, "fd:5", RESTORE_TIMEOUT_MS, &e);
        if (r >= 0) {
                *ret_tpl = t;
                return 0;
        }
        tail = p->ap.pid > 0 ? agent_pod_log_tail(&p->ap) : NULL;
        log_pod(LOG_LEVEL_WARN, p->ap.id,
                "qemu pod %s: clone of the template failed: %s%s%s; cold-booting", p->ap.id, e->msg,
                tail ? "; QEMU: " : "", tail ? tail : "");
        qtpl_failed(t, e->msg);
        qtpl_put(t);
        if (p->ap.pid > 0)
                forget_qemu(p);
        return spawn_qemu(p, spec, nic->tap_fd, nic->mac, NULL, -1, err);
}

static int qemu_pod_create(const struct drv_pod_spec *spec, struct drv_pod **ret,
                           struct uvm_error **err)
{
        _cleanup_(pod_freep) struct drv_pod *p = NULL;
        struct net_vm_nic nic = {.tap_fd = -1};
        struct qtpl *t = NULL;
        int64_t t0 = agent_pod_now_ms();
        bool cloned;
        int r;

        r = check_spec(spec, err);
        if (r >= 0)
                r = pod_alloc(spec, &p, err);
        if (r < 0)
                return r;
        r = fs_mkdir_p(p->share, 0755);
        if (r < 0)
                return uvm_error_set(err, -r, "create %s: %s", p->share, strerror(-r));
        r = share_mount(p->share, err);
        if (r >= 0)
                r = net_vm_attach(spec->netns_path, "eth0", &nic, err);
        if (r >= 0)
                r = start_vm(p, spec, &nic, &t, err);
        if (nic.tap_fd >= 0)
                close(nic.tap_fd); /* QEMU holds it: the tap goes when QEMU does */
        /* The VM's host memory and CPU count where the kubelet looks. */
        if (r >= 0)
                r = sbx_cgroup_place(p->cgroup_parent, "vm", p->ap.pid, err);
        if (r >= 0)
                r = qconsole_start(p->ap.id, p->console_sock, p->console_log, 10000, &p->console,
                                   err);
        if (r >= 0)
                r = qconsole_start(p->ap.id, p->log_sock, p->guest_log, 10000, &p->agent_log, err);
        if (r >= 0)
                r = agent_pod_connect(&p->ap, node.boot_timeout_ms, err);
        if (r < 0 && p->ap.pid > 0)
                r = boot_failed(p, err);
        /* A clone reseeds its RNG, sets its clock and takes the pod's MAC here. */
        if (r >= 0)
                r = guest_identity(p, spec, err);
        if (r >= 0)
                r = guest_network(p, &nic, t ? qtpl_mac(t) : NULL, err);
        if (r >= 0)
                r = guest_share(p, err);
        cloned = t != NULL;
        t = qtpl_put(t);
        if (r < 0) {
                agent_pod_kill(&p->ap);
                qshare_release_all(p->share);
                sbx_cgroup_unplace(p->cgroup_parent, "vm");
                return uvm_error_wrap(err, "start the VM of pod %s", spec->id);
        }
        agent_pod_go_live(&p->ap);
        log_pod(LOG_LEVEL_INFO, p->ap.id, "qemu pod %s: VM %d ready (%s, %s) in %lld ms", p->ap.id,
                p->ap.pid, __atomic_load_n(&node.kvm, __ATOMIC_ACQUIRE) ? "KVM" : "TCG",
                cloned ? "from the template" : "cold boot", (long long) (agent_pod_now_ms() - t0));
        *ret = TAKE_PTR(p);
        return 0;
}

/* Whether pid's command line is QEMU with our agent socket. */
static bool is_our_qemu(pid_t pid, void *data)
{
        _cleanup_free_ char *buf = NULL, *path = NULL;
        const char *sock = data;
        size_t len = 0;

        if (asprintf(&path, "/proc/%d/cmdline", pid) < 0 ||
            fs_read_file(path, 64 << 10, &buf, &len) < 0)
                return false;
        for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
                if (strstr(buf + i, sock))
                        return true;
        return false;
}

static int qemu_pod_reattach(const struct drv_pod_spec *spec, struct drv_pod **ret,
                             struct uvm_error **err)
{
        _cleanup_(pod_freep) struct drv_pod *p = NULL;
        struct uvm_error *e = NULL;
        int r;

        r = pod_alloc(spec, &p, err);
        if (r >= 0)
                r = agent_pod_adopt_file(&p->ap, p->pid_file, is_our_qemu, p->ap.sock_path, err);
        if (r >= 0 && p->share_pid) {
                r = agent_pod_read_pid_file(p->holder_file, &p->pidns_holder, err);
                if (r == 0)
                        r = uvm_error_set(err, EPROTO, "%s is missing", p->holder_file);
        }
        if (r >= 0 &&
            qconsole_start(p->ap.id, p->console_sock, p->console_log, 1000, &p->console, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->ap.id, "qemu pod %s: %s, ignoring", p->ap.id, e->msg);
                e = uvm_error_free(e);
        }
        if (r >= 0)
                r = agent_pod_connect(&p->ap, REATTACH_TIMEOUT_MS, err);
        if (r < 0)
                return uvm_error_wrap(err, "reattach to the VM of pod %s", spec->id);
        agent_pod_go_live(&p->ap);
        qnic_reconcile(&(struct qnic_pod){p->ap.id, p->ap.state_dir, p->qmp_sock, p->ap.client});
        log_pod(LOG_LEVEL_INFO, p->ap.id, "qemu pod %s: reattached to VM %d", p->ap.id, p->ap.pid);
        *ret = TAKE_PTR(p);
        return 0;
}

static int qemu_pod_stop(struct drv_pod *p, uint32_t timeout_ms, struct uvm_error **err)
{
        int r = agent_pod_stop(&p->ap, timeout_ms, EXIT_WAIT_MS, err);

        if (r >= 0) {
                p->console = qconsole_free(p->console);
                p->agent_log = qconsole_free(p->agent_log);
                qshare_release_all(p->share);
                sbx_cgroup_unplace(p->cgroup_parent, "vm");
        }
        return r;
}

static void qemu_pod_free(struct drv_pod *p)
{
        pod_free_(p);
}

/* Containers: their layers come as disks (disks.h), or through the share
 * where the node makes no disks; their mounts go through the share. */

struct create_job {
        struct drv_pod *p;
        bool disks;    /* the layers are disks' guest paths already */
        char **layers; /* the share's guest paths, while the create runs */
};

static int patch(void *data, const struct drv_ctr_spec *spec, json_object *oci,
                 struct uvm_error **err)
{
        struct create_job *j = data;
        struct qshare_pod pod = {j->p->share, j->p->share_pid, j->p->pidns_holder};
        struct drv_ctr_spec *s = (struct drv_ctr_spec *) spec;
        int r = qshare_ctr_prepare(&pod, spec->id, j->disks ? NULL : spec->layers, oci, &j->layers,
                                   err);

        if (r >= 0 && j->layers)
                s->layers = j->layers;
        return r;
}

/* What a create needs in guest paths: layers and image volumes as disks. */
struct guest_layers {
        char **layers;
        struct drv_image_volume *vols;
        char ***vol_layers;
        size_t n_vols;
};

static void guest_layers_clear(struct guest_layers *g)
{
        strv_free(g->layers);
        for (size_t i = 0; g->vol_layers && i < g->n_vols; i++)
                strv_free(g->vol_layers[i]);
        free(g->vol_layers);
        free(g->vols);
}

static int attach_layers(struct drv_pod *p, const struct drv_ctr_spec *spec, struct guest_layers *g,
                         struct uvm_error **err)
{
        size_t n = spec->n_image_volumes;
        int r = qdisks_attach(p->disks, p->ap.client, p->layer_disk, p->layer_disk_data,
                              spec->layers, &g->layers, err);

        if (r < 0 || n == 0)
                return r;
        g->vols = calloc(n, sizeof(*g->vols));
        g->vol_layers = calloc(n, sizeof(char **));
        if (!g->vols || !g->vol_layers)
                return uvm_error_set(err, ENOMEM, "out of memory");
        g->n_vols = n;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                g->vols[i] = spec->image_volumes[i];
                r = qdisks_attach(p->disks, p->ap.client, p->layer_disk, p->layer_disk_data,
                                  spec->image_volumes[i].layers, &g->vol_layers[i], err);
                g->vols[i].layers = g->vol_layers[i];
        }
        return r < 0 ? uvm_error_wrap(err, "image volume") : r;
}

static int qemu_ctr_create(struct drv_pod *p, const struct drv_ctr_spec *spec,
                           struct uvm_error **err)
{
        struct create_job j = {p, p->layer_disk != NULL, NULL};
        struct guest_layers g = {0};
        struct drv_ctr_spec ds = *spec;
        int r = 0;

        if (spec->n_image_volumes > 0 && !j.disks)
                return uvm_error_set(err, EINVAL,
                                     "container %s: image volumes in VM pods need layer disks, "
                                     "which this node does not make",
                                     spec->id);
        if (j.disks) {
                r = attach_layers(p, spec, &g, err);
                ds.layers = g.layers;
                ds.image_volumes = g.vols;
        }
        if (r >= 0)
                r = agent_pod_ctr_create(&p->ap, &ds, patch, &j, err);
        strv_free(j.layers);
        guest_layers_clear(&g);
        if (r < 0)
                qshare_ctr_release(p->share, spec->id);
        return r;
}

static int qemu_ctr_delete(struct drv_pod *p, const char *ctr_id, struct uvm_error **err)
{
        int r = agent_pod_ctr_delete(p, ctr_id, err);

        if (r >= 0)
                qshare_ctr_release(p->share, ctr_id);
        return r;
}

/* Added NICs (nic.h). */
static struct qnic_pod nic_pod(struct drv_pod *p)
{
        return (struct qnic_pod){p->ap.id, p->ap.state_dir, p->qmp_sock, p->ap.client};
}

static int qemu_nic_add(struct drv_pod *p, const char *nic_id, const struct drv_nic *nic,
                        struct uvm_error **err)
{
        struct qnic_pod np = nic_pod(p);

        return qnic_add(&np, nic_id, nic, err);
}

static int qemu_nic_modify(struct drv_pod *p, const char *nic_id, const struct drv_nic *old,
                           const struct drv_nic *nic, struct uvm_error **err)
{
        struct qnic_pod np = nic_pod(p);

        return qnic_modify(&np, nic_id, old, nic, err);
}

static int qemu_nic_remove(struct drv_pod *p, const char *nic_id, const struct drv_nic *nic,
                           struct uvm_error **err)
{
        struct qnic_pod np = nic_pod(p);

        return qnic_remove(&np, nic_id, nic, err);
}

static void proven(bool kvm, const char *why)
{
        (void) why;
        if (kvm)
                __atomic_store_n(&node.kvm, true, __ATOMIC_RELEASE);
}

/* KVM: from this boot's proof when there is one, else a proof is started
 * in the background (new VM pods take KVM once it succeeds). */
static bool kvm_known(const struct drv_probe_env *env, char *why, size_t len)
{
        struct qemu_vm base = {.qemu = node.qemu,
                               .kernel = node.kernel,
                               .initrd = node.initrd,
                               .append = node.append,
                               .memory_mb = 256,
                               .vcpus = 1,
                               .tap_fd = -1};
        _cleanup_error_ struct uvm_error *e = NULL;
        bool kvm = false;
        int fd;

        if (env->data_root && qemu_kvm_proof_cached(env->data_root, &kvm, why, len) == 0)
                return kvm;
        fd = env->kvm_device ? open(env->kvm_device, O_RDWR | O_CLOEXEC) : -1;
        if (fd < 0) {
                snprintf(why, len, "%s cannot be opened",
                         env->kvm_device ? env->kvm_device : "no KVM device");
                return false;
        }
        close(fd);
        if (!env->data_root ||
            qemu_kvm_proof_start(env->data_root, &base, node.boot_timeout_ms, proven, &e) < 0)
                snprintf(why, len, "the KVM proof could not start: %s", e ? e->msg : "?");
        else
                snprintf(why, len, "a guest has not been seen booting under KVM yet (trying)");
        return false;
}

/* The guest image's files, resolved (links followed): QEMU's mount
 * namespace shows only their real directories. The kernel is the plain ELF
 * (vmlinux), booted by its PVH entry: a bzImage's decompression alone took
 * over 2 s under TCG (docs/guest.md). */
static int find_guest(const char *dir)
{
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/vmlinux", dir);
        if (!realpath(path, node.kernel))
                return -errno;
        snprintf(path, sizeof(path), "%s/initrd.img", dir);
        if (!realpath(path, node.initrd))
                return -errno;
        return access(node.kernel, R_OK) < 0 || access(node.initrd, R_OK) < 0 ? -errno : 0;
}

/* VM templates (template.h), unless the config's vm_templates is false. The
 * shape kept is a default pod's. */
static void start_templates(const struct drv_probe_env *env, bool kvm)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        struct qtpl_node tn = {.data_root = env->data_root,
                               .qemu = node.qemu,
                               .kernel = node.kernel,
                               .initrd = node.initrd,
                               .append = node.append,
                               .boot_timeout_ms = node.boot_timeout_ms,
                               .memory_mb = TEMPLATE_MEMORY_MB,
                               .vcpus = kvm ? (cpus >= 2 ? 2 : 1) : 1,
                               .kvm = kvm};
        _cleanup_error_ struct uvm_error *e = NULL;

        if (!env->vm_templates) {
                log_info("qemu: VM templates are off (config vm_templates)");
                return;
        }
        if (!env->data_root)
                return;
        if (qtpl_start(&tn, &e) < 0)
                log_warn("qemu: %s; VM pods cold-boot", e->msg);
}

/* A VM pod's longest socket path, <state_root>/pods/<64-hex id>/console.sock,
 * must fit a unix socket address (QEMU binds them): a longer state_root
 * would fail every VM pod, so the handler is not offered at all. */
static bool sockets_fit(const char *state_root, char *why, size_t len)
{
        size_t max = sizeof(((struct sockaddr_un *) NULL)->sun_path) - 1,
               extra = strlen("/pods/") + 64 + strlen("/" CONSOLE_SOCK);

        if (!state_root || strlen(state_root) + extra <= max)
                return true;
        snprintf(why, len,
                 "state_root '%.100s' is too long for a VM pod's unix sockets (%zu bytes at most)",
                 state_root, max - extra);
        return false;
}

/* Usable where the binary and the guest image are; KVM only once a guest
 * was seen booting under it. */
static void qemu_probe(const struct drv_probe_env *env, struct drv_probe *ret)
{
        const char *accel = env->qemu_accel ? env->qemu_accel : "auto";
        _cleanup_free_ char *qemu = NULL;
        char why[200] = "qemu_accel is \"tcg\"";
        unsigned tsc_khz;
        bool kvm = false;
        int r;

        *ret = (struct drv_probe){0};
        node.boot_timeout_ms = env->vm_boot_timeout_ms ? env->vm_boot_timeout_ms : 60000;
        node.kvm = false;
        r = fs_find_exec(env->qemu_binary ? env->qemu_binary : "qemu-system-x86_64", &qemu);
        if (r >= 0 && snprintf(node.qemu, sizeof(node.qemu), "%s", qemu) >= (int) sizeof(node.qemu))
                r = -ENAMETOOLONG;
        if (r < 0) {
                snprintf(ret->reason, sizeof(ret->reason), "QEMU '%.200s' is not installed",
                         env->qemu_binary ? env->qemu_binary : "qemu-system-x86_64");
                return;
        }
        if (!env->guest_dir || find_guest(env->guest_dir) < 0) {
                snprintf(ret->reason, sizeof(ret->reason),
                         "no guest image in '%.200s' (vmlinux, initrd.img)",
                         env->guest_dir ? env->guest_dir : "");
                return;
        }
        if (!sockets_fit(env->state_root, ret->reason, sizeof(ret->reason)))
                return;
        /* Hot-plugged disks on microvm's root ports are seen only with the
         * kernel's own PCIe hot-plug (no ACPI _OSC here). Under TCG a loaded
         * host can make the guest's TSC calibration fail, and microvm has no
         * other clock to fall back on: the boot then stalls. The TSC runs at
         * the host's rate: say it (KVM gives the guest a known rate). */
        snprintf(node.append, sizeof(node.append), "pcie_ports=native");
        if (!STR_EQ(accel, "tcg"))
                kvm = kvm_known(env, why, sizeof(why));
        node.kvm = kvm;
        tsc_khz = kvm ? 0 : host_tsc_khz();
        if (tsc_khz > 0)
                snprintf(node.append, sizeof(node.append), "pcie_ports=native tsc_early_khz=%u",
                         tsc_khz);
        if (STR_EQ(accel, "kvm") && !kvm) {
                snprintf(ret->reason, sizeof(ret->reason), "qemu_accel is \"kvm\", but %.150s",
                         why);
                return;
        }
        ret->usable = true;
        ret->accelerated = kvm;
        start_templates(env, kvm);
        if (snprintf(ret->reason, sizeof(ret->reason), "QEMU %.80s with %s (%.120s)", node.qemu,
                     kvm ? "KVM" : "TCG emulation, which is not a security boundary", why) < 0)
                ret->reason[0] = '\0';
}

const struct drv_ops drv_qemu_ops = {
        .name = "qemu",
        .probe = qemu_probe,
        .pod_create = qemu_pod_create,
        .pod_reattach = qemu_pod_reattach,
        .pod_stop = qemu_pod_stop,
        .pod_free = qemu_pod_free,
        .pod_alive = agent_pod_alive,
        .ctr_create = qemu_ctr_create,
        .ctr_start = agent_pod_ctr_start,
        .ctr_signal = agent_pod_ctr_signal,
        .ctr_delete = qemu_ctr_delete,
        .ctr_state = agent_pod_ctr_state,
        .ctr_exec_sync = agent_pod_ctr_exec_sync,
        .ctr_update = agent_pod_ctr_update,
        .ctr_stats = agent_pod_ctr_stats,
        .pod_stats = agent_pod_stats,
        .agent = agent_pod_client,
        .nic_add = qemu_nic_add,
        .nic_modify = qemu_nic_modify,
        .nic_remove = qemu_nic_remove,
};
