/*
 * The QEMU command line of a pod VM (see cmdline.h). Every value is checked
 * first; paths inside QEMU's "key=value,..." options (-chardev, -fsdev) have
 * their commas doubled, QEMU's escape; -kernel, -initrd, -pidfile and -append
 * take their argument verbatim.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"
#include "sandbox/drivers/qemu/cmdline.h"

#define TAP_NAME_MAX 15 /* IFNAMSIZ - 1 */

/* A growing argv; on allocation failure it only remembers that. */
struct argv_builder {
        char **v;
        size_t n, cap;
        bool oom;
};

_printf_(2, 3) static void add(struct argv_builder *b, const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;

        if (b->oom)
                return;
        if (b->n + 2 > b->cap) {
                size_t cap = b->cap ? 2 * b->cap : 64;
                char **v = realloc(b->v, cap * sizeof(*v));

                if (!v) {
                        b->oom = true;
                        return;
                }
                b->v = v;
                b->cap = cap;
        }
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0) {
                b->oom = true;
                s = NULL;
        }
        va_end(ap);
        if (!s)
                return;
        b->v[b->n++] = s;
        b->v[b->n] = NULL;
}

/* s with every ',' doubled (QEMU's option syntax); NULL when out of memory. */
static char *escape_commas(const char *s)
{
        size_t extra = 0;
        char *out, *o;

        for (const char *p = s; *p; p++)
                extra += *p == ',';
        out = malloc(strlen(s) + extra + 1);
        if (!out)
                return NULL;
        o = out;
        for (const char *p = s; *p; p++) {
                *o++ = *p;
                if (*p == ',')
                        *o++ = ',';
        }
        *o = '\0';
        return out;
}

static bool has_control_char(const char *s)
{
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return true;
        return false;
}

static int check_path(const char *field, const char *path, struct uvm_error **err)
{
        if (STR_EMPTY(path))
                return uvm_error_set(err, EINVAL, "qemu VM: %s is required", field);
        if (path[0] != '/')
                return uvm_error_set(err, EINVAL, "qemu VM: %s '%s' is not an absolute path", field,
                                     path);
        if (has_control_char(path))
                return uvm_error_set(err, EINVAL, "qemu VM: %s '%s' has a control character", field,
                                     path);
        return 0;
}

static int check_socket(const char *field, const char *path, struct uvm_error **err)
{
        int r = check_path(field, path, err);

        if (r < 0)
                return r;
        if (strlen(path) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return uvm_error_set(err, EINVAL,
                                     "qemu VM: %s '%s' is longer than a unix socket path may be "
                                     "(%zu bytes)",
                                     field, path,
                                     sizeof(((struct sockaddr_un *) NULL)->sun_path) - 1);
        return 0;
}

static bool valid_tap_name(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > TAP_NAME_MAX || STR_EQ(s, ".") || STR_EQ(s, ".."))
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* xx:xx:xx:xx:xx:xx, unicast, not all zero. */
static bool valid_mac(const char *s)
{
        unsigned bytes[6], any = 0;

        if (strlen(s) != 17)
                return false;
        for (int i = 0; i < 6; i++) {
                int hi = hex_digit_value(s[3 * i]), lo = hex_digit_value(s[3 * i + 1]);

                if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
                        return false;
                bytes[i] = (unsigned) (hi << 4 | lo);
                any |= bytes[i];
        }
        return any != 0 && (bytes[0] & 1) == 0;
}

static int check_nic(const struct qemu_vm *vm, struct uvm_error **err)
{
        if (!vm->mac) {
                if (vm->tap || vm->tap_fd > 0 || vm->nic_unplugged)
                        return uvm_error_set(err, EINVAL, "qemu VM: a tap needs a mac");
                return 0;
        }
        if (!valid_mac(vm->mac))
                return uvm_error_set(err, EINVAL,
                                     "qemu VM: mac '%s' is not a unicast MAC address "
                                     "(xx:xx:xx:xx:xx:xx)",
                                     vm->mac);
        if ((vm->tap && vm->tap_fd > 0) || (vm->nic_unplugged && (vm->tap || vm->tap_fd > 0)))
                return uvm_error_set(err, EINVAL,
                                     "qemu VM: give one of tap, tap_fd and nic_unplugged");
        if (vm->nic_unplugged)
                return 0;
        if (vm->tap && !valid_tap_name(vm->tap))
                return uvm_error_set(err, EINVAL,
                                     "qemu VM: tap '%s' is not an interface name (1-%d of "
                                     "A-Z a-z 0-9 _ . -)",
                                     vm->tap, TAP_NAME_MAX);
        if (!vm->tap && vm->tap_fd < 3)
                return uvm_error_set(err, EINVAL,
                                     "qemu VM: the NIC needs tap or tap_fd (>= 3), tap_fd is %d",
                                     vm->tap_fd);
        return 0;
}

static int check_sizes(const struct qemu_vm *vm, struct uvm_error **err)
{
        uint32_t max_vcpus = vm->kvm ? QEMU_MAX_VCPUS_KVM : QEMU_MAX_VCPUS_TCG;

        if (vm->memory_mb < QEMU_MIN_MEMORY_MB || vm->memory_mb > QEMU_MAX_MEMORY_MB)
                return uvm_error_set(err, EINVAL, "qemu VM: memory_mb %u is out of range (%u..%u)",
                                     vm->memory_mb, QEMU_MIN_MEMORY_MB, QEMU_MAX_MEMORY_MB);
        if (vm->vcpus < 1 || vm->vcpus > max_vcpus)
                return uvm_error_set(err, EINVAL, "qemu VM: vcpus %u is out of range (1..%u%s)",
                                     vm->vcpus, max_vcpus, vm->kvm ? "" : " without KVM");
        if (vm->root_ports > QEMU_MAX_ROOT_PORTS)
                return uvm_error_set(err, EINVAL,
                                     "qemu VM: root_ports %u is more than the %u PCIe slots",
                                     vm->root_ports, QEMU_MAX_ROOT_PORTS);
        return 0;
}

static int check_vm(const struct qemu_vm *vm, struct uvm_error **err)
{
        const struct {
                const char *field, *value;
                bool socket;
        } paths[] = {
                {"qemu", vm->qemu, false},
                {"kernel", vm->kernel, false},
                {"initrd", vm->initrd, false},
                {"pidfile", vm->pidfile, false},
                {"agent_sock", vm->agent_sock, true},
                {"qmp_sock", vm->qmp_sock, true},
                {"console_sock", vm->console_sock, true},
        };
        int r0 = vm->log_sock ? check_socket("log_sock", vm->log_sock, err) : 0;
        int r;

        if (r0 < 0)
                return r0;
        for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
                r = paths[i].socket ? check_socket(paths[i].field, paths[i].value, err)
                                    : check_path(paths[i].field, paths[i].value, err);
                if (r < 0)
                        return r;
        }
        if (vm->share_dir) {
                r = check_path("share_dir", vm->share_dir, err);
                if (r < 0)
                        return r;
        }
        if (vm->mem_path) {
                r = check_path("mem_path", vm->mem_path, err);
                if (r < 0)
                        return r;
        }
        if (vm->append && has_control_char(vm->append))
                return uvm_error_set(err, EINVAL, "qemu VM: append has a control character");
        if (vm->append && strlen(QEMU_BASE_APPEND) + 1 + strlen(vm->append) > QEMU_MAX_APPEND)
                return uvm_error_set(err, EINVAL,
                                     "qemu VM: append makes the kernel command line longer than "
                                     "%u bytes",
                                     QEMU_MAX_APPEND);
        r = check_sizes(vm, err);
        if (r < 0)
                return r;
        return check_nic(vm, err);
}

/* -chardev socket,id=<id>,path=<path>,server=on,wait=off */
static void add_chardev(struct argv_builder *b, const char *id, const char *path)
{
        _cleanup_free_ char *p = escape_commas(path);

        if (!p) {
                b->oom = true;
                return;
        }
        add(b, "-chardev");
        add(b, "socket,id=%s,path=%s,server=on,wait=off", id, p);
}

static void add_machine(struct argv_builder *b, const struct qemu_vm *vm)
{
        add(b, "%s", vm->qemu);
        add(b, "-M");
        /* The PIT: without it the kernel's TSC calibration may fail under a
         * loaded TCG host and the boot stalls (no other timer on microvm). */
        add(b, "microvm,x-option-roms=off,rtc=on,pit=on%s%s", vm->root_ports > 0 ? ",pcie=on" : "",
            vm->mem_path ? ",memory-backend=mem" : "");
        if (vm->mem_path) {
                _cleanup_free_ char *path = escape_commas(vm->mem_path);

                if (!path) {
                        b->oom = true;
                        return;
                }
                add(b, "-object");
                add(b, "memory-backend-file,id=mem,size=%uM,mem-path=%s,share=%s", vm->memory_mb,
                    path, vm->mem_shared ? "on" : "off");
        }
        add(b, "-accel");
        if (vm->kvm)
                add(b, "kvm");
        else
                add(b, "tcg,tb-size=%u", QEMU_TCG_TB_MB);
        add(b, "-cpu");
        add(b, vm->kvm ? "host" : "max");
        add(b, "-m");
        add(b, "%u", vm->memory_mb);
        add(b, "-smp");
        add(b, "%u", vm->vcpus);
        add(b, "-nodefaults");
        add(b, "-no-user-config");
        add(b, "-nographic");
        add(b, "-no-reboot");
        add(b, "-sandbox");
        add(b, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
        add(b, "-pidfile");
        add(b, "%s", vm->pidfile);
        add(b, "-kernel");
        add(b, "%s", vm->kernel);
        add(b, "-initrd");
        add(b, "%s", vm->initrd);
        add(b, "-append");
        if (vm->append && *vm->append)
                add(b, "%s %s", QEMU_BASE_APPEND, vm->append);
        else
                add(b, "%s", QEMU_BASE_APPEND);
}

static void add_devices(struct argv_builder *b, const struct qemu_vm *vm)
{
        add_chardev(b, "console", vm->console_sock);
        add(b, "-serial");
        add(b, "chardev:console");
        add_chardev(b, "qmp", vm->qmp_sock);
        add(b, "-mon");
        add(b, "chardev=qmp,mode=control");
        add(b, "-device");
        add(b, "virtio-serial-device");
        add_chardev(b, "agent", vm->agent_sock);
        add(b, "-device");
        add(b, "virtserialport,chardev=agent,name=agent");
        /* The guest agent's log records, on their own port. */
        if (vm->log_sock) {
                add_chardev(b, "log", vm->log_sock);
                add(b, "-device");
                add(b, "virtserialport,chardev=log,name=log");
        }
        add(b, "-device");
        add(b, "virtio-rng-device");
        if (vm->share_dir) {
                _cleanup_free_ char *dir = escape_commas(vm->share_dir);

                if (!dir) {
                        b->oom = true;
                        return;
                }
                add(b, "-fsdev");
                add(b, "local,id=share,path=%s,security_model=none,multidevs=remap", dir);
                add(b, "-device");
                add(b, "virtio-9p-device,fsdev=share,mount_tag=%s", QEMU_SHARE_TAG);
        }
        if (vm->mac) {
                add(b, "-netdev");
                if (vm->nic_unplugged)
                        add(b, "hubport,id=net0,hubid=0");
                else if (vm->tap)
                        add(b, "tap,id=net0,ifname=%s,script=no,downscript=no", vm->tap);
                else
                        add(b, "tap,id=net0,fd=%d", vm->tap_fd);
                add(b, "-device");
                add(b, "virtio-net-device,netdev=net0,mac=%s", vm->mac);
        }
        /* On virtio-mmio: SCSI disks hot-plug through the controller's
         * own events, with no PCI slot. */
        if (vm->scsi) {
                add(b, "-device");
                add(b, "virtio-scsi-device,id=scsi0");
        }
        /* Free page reporting: the guest hands back the pages it frees.
         * Only where guest RAM is anonymous: QEMU 7.2 discards a page of
         * file-backed RAM by punching a hole in the file, even when mapped
         * privately, which a clone's sealed template memfd refuses (and
         * must: every clone maps it). */
        if (!vm->mem_path) {
                add(b, "-device");
                add(b, "virtio-balloon-device,free-page-reporting=on");
        }
        for (unsigned i = 0; i < vm->root_ports; i++) {
                /* Each port needs its own chassis number (1..255). */
                add(b, "-device");
                add(b, "pcie-root-port,id=rp%u,bus=pcie.0,chassis=%u", i, i + 1);
        }
}

int qemu_argv(const struct qemu_vm *vm, char ***ret_argv, struct uvm_error **err)
{
        struct argv_builder b = {.v = NULL};
        int r;

        if (!vm)
                return uvm_error_set(err, EINVAL, "qemu VM: no description");
        r = check_vm(vm, err);
        if (r < 0)
                return r;
        add_machine(&b, vm);
        add_devices(&b, vm);
        if (vm->incoming) {
                add(&b, "-incoming");
                add(&b, "defer");
        }
        if (b.oom) {
                qemu_argv_free(b.v);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret_argv = b.v;
        return 0;
}

char **qemu_argv_free(char **argv)
{
        strv_free(argv);
        return NULL;
}

int qemu_spawn_logged(char **argv, const char *log, bool background, pid_t *ret_pid,
                      struct uvm_error **err)
{
        pid_t pid = fork();

        if (pid == 0) {
                /* Only system calls here: this process has other threads. */
                int in = open("/dev/null", O_RDONLY | O_CLOEXEC),
                    out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

                /* As a pod's QEMU (jail.c): no transparent huge pages. */
                prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
                if (background) {
                        prctl(PR_SET_PDEATHSIG, SIGKILL);
                        setpriority(PRIO_PROCESS, 0, 10);
                }
                if (in >= 0 && out >= 0) {
                        dup2(in, 0);
                        dup2(out, 1);
                        dup2(out, 2);
                }
                execv(argv[0], argv);
                _exit(127);
        }
        if (pid < 0)
                return uvm_error_set(err, errno, "fork: %s", strerror(errno));
        *ret_pid = pid;
        return 0;
}
