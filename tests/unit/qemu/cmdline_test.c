/* The QEMU command line of a pod VM: exact argv, and every check. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "sandbox/drivers/qemu/cmdline.h"

static const struct qemu_vm base = {
        .qemu = "/usr/bin/qemu-system-x86_64",
        .kernel = "/var/lib/uvmd/guest/vmlinux",
        .initrd = "/var/lib/uvmd/guest/initrd.img",
        .agent_sock = "/run/uvmd/pods/p1/agent.sock",
        .qmp_sock = "/run/uvmd/pods/p1/qmp.sock",
        .console_sock = "/run/uvmd/pods/p1/console.sock",
        .pidfile = "/run/uvmd/pods/p1/qemu.pid",
        .memory_mb = 256,
        .vcpus = 2,
        .tap_fd = -1,
};

/* The argv's head up to -append's value, for base. */
#define HEAD(machine, accel, cpu)                                                                  \
        "/usr/bin/qemu-system-x86_64", "-M", machine, "-accel", accel, "-cpu", cpu, "-m", "256",   \
                "-smp", "2", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",         \
                "-sandbox",                                                                        \
                "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",         \
                "-pidfile", "/run/uvmd/pods/p1/qemu.pid", "-kernel",                               \
                "/var/lib/uvmd/guest/vmlinux", "-initrd", "/var/lib/uvmd/guest/initrd.img",        \
                "-append"

/* TCG's accelerator option: a bounded translation cache. */
#define TCG "tcg,tb-size=48"
/* Free page reporting, on VMs whose RAM is anonymous. */
#define BALLOON "-device", "virtio-balloon-device,free-page-reporting=on"

#define DEVICES                                                                                    \
        "-chardev", "socket,id=console,path=/run/uvmd/pods/p1/console.sock,server=on,wait=off",    \
                "-serial", "chardev:console", "-chardev",                                          \
                "socket,id=qmp,path=/run/uvmd/pods/p1/qmp.sock,server=on,wait=off", "-mon",        \
                "chardev=qmp,mode=control", "-device", "virtio-serial-device", "-chardev",         \
                "socket,id=agent,path=/run/uvmd/pods/p1/agent.sock,server=on,wait=off", "-device", \
                "virtserialport,chardev=agent,name=agent", "-device", "virtio-rng-device"

static void assert_argv(char **argv, const char *const *want, size_t n)
{
        size_t i;

        for (i = 0; i < n; i++) {
                if (!argv[i])
                        fail_msg("argv ends at %zu, expected '%s'", i, want[i]);
                if (strcmp(argv[i], want[i]) != 0)
                        fail_msg("argv[%zu] is '%s', expected '%s'", i, argv[i], want[i]);
        }
        if (argv[i])
                fail_msg("argv[%zu] is '%s', expected the end", i, argv[i]);
}

static char **argv_ok(const struct qemu_vm *vm)
{
        struct uvm_error *err = NULL;
        char **argv = NULL;
        int r = qemu_argv(vm, &argv, &err);

        if (r < 0)
                fail_msg("qemu_argv: %d %s", r, err ? err->msg : "");
        assert_null(err);
        assert_non_null(argv);
        return argv;
}

static void test_tcg_minimal(void **state)
{
        const char *const want[] = {
                HEAD("microvm,x-option-roms=off,rtc=on,pit=on", TCG, "max"),
                "console=ttyS0 panic=-1 quiet rdinit=/init cryptomgr.notests",
                DEVICES,
                BALLOON,
        };
        char **argv = argv_ok(&base);

        assert_argv(argv, want, sizeof(want) / sizeof(want[0]));
        assert_null(qemu_argv_free(argv));
        assert_null(qemu_argv_free(NULL));
}

static void test_kvm_full(void **state)
{
        struct qemu_vm vm = base;
        const char *const want[] = {
                HEAD("microvm,x-option-roms=off,rtc=on,pit=on,pcie=on", "kvm", "host"),
                "console=ttyS0 panic=-1 quiet rdinit=/init cryptomgr.notests tsc_early_khz=2445000 "
                "8250.nr_uarts=1",
                DEVICES,
                "-fsdev",
                "local,id=share,path=/run/uvmd/pods/p1/share,security_model=none,multidevs=remap",
                "-device",
                "virtio-9p-device,fsdev=share,mount_tag=uvmdshare",
                "-netdev",
                "tap,id=net0,ifname=tap0_p1,script=no,downscript=no",
                "-device",
                "virtio-net-device,netdev=net0,mac=02:42:ac:11:00:02",
                "-device",
                "virtio-scsi-device,id=scsi0",
                BALLOON,
                "-device",
                "pcie-root-port,id=rp0,bus=pcie.0,chassis=1",
                "-device",
                "pcie-root-port,id=rp1,bus=pcie.0,chassis=2",
                "-device",
                "pcie-root-port,id=rp2,bus=pcie.0,chassis=3",
        };
        char **argv;

        vm.kvm = true;
        vm.append = "tsc_early_khz=2445000 8250.nr_uarts=1";
        vm.share_dir = "/run/uvmd/pods/p1/share";
        vm.tap = "tap0_p1";
        vm.mac = "02:42:ac:11:00:02";
        vm.root_ports = 3;
        vm.scsi = true;
        argv = argv_ok(&vm);
        assert_argv(argv, want, sizeof(want) / sizeof(want[0]));
        qemu_argv_free(argv);
}

static void test_tap_fd_and_sizes(void **state)
{
        struct qemu_vm vm = base;
        char **argv;
        size_t n;

        vm.tap_fd = 3;
        vm.mac = "0A:00:00:00:00:FF";
        vm.memory_mb = 1048576;
        vm.vcpus = 255;
        vm.append = "";
        vm.root_ports = 31;
        argv = argv_ok(&vm);
        for (n = 0; argv[n]; n++)
                ;
        assert_string_equal(argv[8], "1048576");
        assert_string_equal(argv[10], "255");
        assert_string_equal(argv[24],
                            "console=ttyS0 panic=-1 quiet rdinit=/init cryptomgr.notests");
        assert_string_equal(argv[n - 1], "pcie-root-port,id=rp30,bus=pcie.0,chassis=31");
        for (size_t i = 0; argv[i]; i++)
                if (strcmp(argv[i], "-netdev") == 0) {
                        assert_string_equal(argv[i + 1], "tap,id=net0,fd=3");
                        assert_string_equal(argv[i + 3],
                                            "virtio-net-device,netdev=net0,mac=0A:00:00:00:00:FF");
                }
        qemu_argv_free(argv);

        vm = base;
        vm.kvm = true;
        vm.vcpus = 256;
        vm.memory_mb = 64;
        vm.vcpus = 1;
        qemu_argv_free(argv_ok(&vm));
        vm.vcpus = 256;
        qemu_argv_free(argv_ok(&vm));
}

/* Paths in -chardev/-fsdev options get QEMU's ",," escape; the others are
 * taken verbatim. */
static void test_commas(void **state)
{
        struct qemu_vm vm = base;
        char **argv;

        vm.kernel = "/guest,1/vmlinux";
        vm.initrd = "/guest,1/initrd";
        vm.pidfile = "/p,1/qemu.pid";
        vm.agent_sock = "/p,1/agent.sock";
        vm.qmp_sock = "/p,1/q,,mp.sock";
        vm.console_sock = "/p,1/console.sock";
        vm.share_dir = "/p,1/share,";
        vm.append = "a,b=c";
        argv = argv_ok(&vm);
        assert_string_equal(argv[18], "/p,1/qemu.pid");
        assert_string_equal(argv[20], "/guest,1/vmlinux");
        assert_string_equal(argv[22], "/guest,1/initrd");
        assert_string_equal(argv[24],
                            "console=ttyS0 panic=-1 quiet rdinit=/init cryptomgr.notests a,b=c");
        assert_string_equal(argv[26],
                            "socket,id=console,path=/p,,1/console.sock,server=on,wait=off");
        assert_string_equal(argv[30], "socket,id=qmp,path=/p,,1/q,,,,mp.sock,server=on,wait=off");
        assert_string_equal(argv[36], "socket,id=agent,path=/p,,1/agent.sock,server=on,wait=off");
        assert_string_equal(
                argv[42], "local,id=share,path=/p,,1/share,,,security_model=none,multidevs=remap");
        qemu_argv_free(argv);
}

static void expect_einval(struct qemu_vm vm, const char *msg)
{
        struct uvm_error *err = NULL;
        char **argv = NULL;
        int r = qemu_argv(&vm, &argv, &err);

        if (r != -EINVAL)
                fail_msg("expected '%s', got %d", msg, r);
        assert_null(argv);
        assert_non_null(err);
        if (strcmp(err->msg, msg) != 0)
                fail_msg("error is '%s', expected '%s'", err->msg, msg);
        uvm_error_free(err);
}

static void test_paths(void **state)
{
        struct qemu_vm vm;
        char sock[120], msg[256];

        assert_int_equal(qemu_argv(NULL, NULL, NULL), -EINVAL);
        vm = base, vm.qemu = "qemu-system-x86_64";
        expect_einval(vm, "qemu VM: qemu 'qemu-system-x86_64' is not an absolute path");
        vm = base, vm.qemu = NULL;
        expect_einval(vm, "qemu VM: qemu is required");
        vm = base, vm.kernel = "";
        expect_einval(vm, "qemu VM: kernel is required");
        vm = base, vm.initrd = "initrd.img";
        expect_einval(vm, "qemu VM: initrd 'initrd.img' is not an absolute path");
        vm = base, vm.pidfile = NULL;
        expect_einval(vm, "qemu VM: pidfile is required");
        vm = base, vm.agent_sock = "./agent.sock";
        expect_einval(vm, "qemu VM: agent_sock './agent.sock' is not an absolute path");
        vm = base, vm.qmp_sock = NULL;
        expect_einval(vm, "qemu VM: qmp_sock is required");
        vm = base, vm.console_sock = "/run/a\nb";
        expect_einval(vm, "qemu VM: console_sock '/run/a\nb' has a control character");
        vm = base, vm.share_dir = "share";
        expect_einval(vm, "qemu VM: share_dir 'share' is not an absolute path");

        /* sun_path holds 107 bytes and a NUL. */
        memset(sock, 'a', sizeof(sock));
        sock[0] = '/';
        sock[108] = '\0';
        vm = base, vm.qmp_sock = sock;
        snprintf(msg, sizeof(msg),
                 "qemu VM: qmp_sock '%s' is longer than a unix socket path may be (107 bytes)",
                 sock);
        expect_einval(vm, msg);
        sock[107] = '\0';
        qemu_argv_free(argv_ok(&vm));
}

static void test_append(void **state)
{
        struct qemu_vm vm = base;
        char extra[2100];
        size_t room = 2047 - strlen(QEMU_BASE_APPEND) - 1;

        vm.append = "quiet\tloglevel=7";
        expect_einval(vm, "qemu VM: append has a control character");
        memset(extra, 'x', sizeof(extra));
        extra[room + 1] = '\0';
        vm.append = extra;
        expect_einval(vm, "qemu VM: append makes the kernel command line longer than 2047 bytes");
        extra[room] = '\0';
        qemu_argv_free(argv_ok(&vm));
}

static void test_sizes(void **state)
{
        struct qemu_vm vm;

        vm = base, vm.memory_mb = 63;
        expect_einval(vm, "qemu VM: memory_mb 63 is out of range (64..1048576)");
        vm = base, vm.memory_mb = 1048577;
        expect_einval(vm, "qemu VM: memory_mb 1048577 is out of range (64..1048576)");
        vm = base, vm.vcpus = 0;
        expect_einval(vm, "qemu VM: vcpus 0 is out of range (1..255 without KVM)");
        vm = base, vm.vcpus = 256;
        expect_einval(vm, "qemu VM: vcpus 256 is out of range (1..255 without KVM)");
        vm = base, vm.vcpus = 257, vm.kvm = true;
        expect_einval(vm, "qemu VM: vcpus 257 is out of range (1..256)");
        vm = base, vm.root_ports = 32;
        expect_einval(vm, "qemu VM: root_ports 32 is more than the 31 PCIe slots");
}

static void test_nic(void **state)
{
        static const char *const bad_macs[] = {
                "02:42:ac:11:00",    "02:42:ac:11:00:02:", "02-42-ac-11-00-02",
                "02:42:ac:11:00:0g", "01:00:5e:00:00:01",  "ff:ff:ff:ff:ff:ff",
                "00:00:00:00:00:00", "2:42:ac:11:00:002",  "",
        };
        static const char *const bad_taps[] = {
                "", "tap0123456789abc", "tap,0", "tap 0", "tap/0", "tap:0", ".", "..",
        };
        struct qemu_vm vm;
        char msg[160];

        vm = base, vm.tap = "tap0";
        expect_einval(vm, "qemu VM: a tap needs a mac");
        vm = base, vm.tap_fd = 5;
        expect_einval(vm, "qemu VM: a tap needs a mac");
        vm = base, vm.mac = "02:42:ac:11:00:02";
        expect_einval(vm, "qemu VM: the NIC needs tap or tap_fd (>= 3), tap_fd is -1");
        vm.tap_fd = 0;
        expect_einval(vm, "qemu VM: the NIC needs tap or tap_fd (>= 3), tap_fd is 0");
        vm.tap_fd = 2;
        expect_einval(vm, "qemu VM: the NIC needs tap or tap_fd (>= 3), tap_fd is 2");
        vm.tap_fd = 3, vm.tap = "tap0";
        expect_einval(vm, "qemu VM: give one of tap, tap_fd and nic_unplugged");
        vm = base, vm.mac = "02:42:ac:11:00:02", vm.nic_unplugged = true, vm.tap_fd = 3;
        expect_einval(vm, "qemu VM: give one of tap, tap_fd and nic_unplugged");
        vm = base, vm.nic_unplugged = true;
        expect_einval(vm, "qemu VM: a tap needs a mac");
        for (size_t i = 0; i < sizeof(bad_macs) / sizeof(bad_macs[0]); i++) {
                vm = base, vm.tap = "tap0", vm.mac = bad_macs[i];
                snprintf(msg, sizeof(msg),
                         "qemu VM: mac '%s' is not a unicast MAC address (xx:xx:xx:xx:xx:xx)",
                         bad_macs[i]);
                expect_einval(vm, msg);
        }
        for (size_t i = 0; i < sizeof(bad_taps) / sizeof(bad_taps[0]); i++) {
                vm = base, vm.tap = bad_taps[i], vm.mac = "02:42:ac:11:00:02";
                snprintf(msg, sizeof(msg),
                         "qemu VM: tap '%s' is not an interface name (1-15 of A-Z a-z 0-9 _ . -)",
                         bad_taps[i]);
                expect_einval(vm, msg);
        }
        vm = base, vm.tap = "tap0123456789ab", vm.mac = "fe:ff:ff:ff:ff:ff";
        qemu_argv_free(argv_ok(&vm));
}

/* Remove argv[at] and argv[at + 1]. */
static void drop_two(char **argv, size_t at)
{
        size_t n = 0;

        while (argv[n])
                n++;
        free(argv[at]);
        free(argv[at + 1]);
        memmove(argv + at, argv + at + 2, (n - at - 1) * sizeof(char *));
}

/* A template (RAM in a shared file, a NIC on no network) and its clone
 * (the file mapped privately, the state coming over QMP). */
static void test_template_and_clone(void **state)
{
        static const char *const tpl[] = {
                HEAD("microvm,x-option-roms=off,rtc=on,pit=on,memory-backend=mem", TCG, "max"),
                QEMU_BASE_APPEND,
                DEVICES,
                "-netdev",
                "hubport,id=net0,hubid=0",
                "-device",
                "virtio-net-device,netdev=net0,mac=02:75:76:6d:64:00",
        };
        static const char *const clone[] = {
                HEAD("microvm,x-option-roms=off,rtc=on,pit=on,memory-backend=mem", TCG, "max"),
                QEMU_BASE_APPEND,
                DEVICES,
                "-incoming",
                "defer",
        };
        struct qemu_vm vm = base;
        char **argv;

        (void) state;
        vm.mem_path = "/var/lib/uvmd/templates/k,1/mem", vm.mem_shared = true;
        vm.mac = "02:75:76:6d:64:00", vm.nic_unplugged = true;
        argv = argv_ok(&vm);
        /* -object comes right after -M's value. */
        assert_string_equal(argv[3], "-object");
        assert_string_equal(argv[4], "memory-backend-file,id=mem,size=256M,"
                                     "mem-path=/var/lib/uvmd/templates/k,,1/mem,share=on");
        drop_two(argv, 3); /* the rest checked without them */
        assert_argv(argv, tpl, sizeof(tpl) / sizeof(tpl[0]));
        qemu_argv_free(argv);

        vm = base, vm.mem_path = "/proc/self/fd/4", vm.incoming = true;
        argv = argv_ok(&vm);
        assert_string_equal(argv[4], "memory-backend-file,id=mem,size=256M,"
                                     "mem-path=/proc/self/fd/4,share=off");
        drop_two(argv, 3);
        assert_argv(argv, clone, sizeof(clone) / sizeof(clone[0]));
        qemu_argv_free(argv);
        vm = base, vm.mem_path = "relative/mem";
        expect_einval(vm, "qemu VM: mem_path 'relative/mem' is not an absolute path");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_template_and_clone),
                cmocka_unit_test(test_tcg_minimal),
                cmocka_unit_test(test_kvm_full),
                cmocka_unit_test(test_tap_fd_and_sizes),
                cmocka_unit_test(test_commas),
                cmocka_unit_test(test_paths),
                cmocka_unit_test(test_append),
                cmocka_unit_test(test_sizes),
                cmocka_unit_test(test_nic),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
