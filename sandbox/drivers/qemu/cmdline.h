#pragma once

/*
 * The QEMU command line of a pod VM: a microvm (-M microvm) with the serial
 * console, the QMP monitor and the agent's virtio-serial port on unix
 * sockets where QEMU is the server (a restarted uvmd reconnects), a
 * virtio-rng, optionally a 9p share, a virtio-net on a tap and PCIe root
 * ports kept free for hot-plug. Checked against QEMU 7.2.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* Bounds of the VM's size (the same as sandbox/uvm_options.h's). */
#define QEMU_MIN_MEMORY_MB 64u
#define QEMU_MAX_MEMORY_MB (1024u * 1024u)
#define QEMU_MAX_VCPUS_KVM 256u
#define QEMU_MAX_VCPUS_TCG 255u /* more needs KVM's x2APIC support */
/* pcie.0 has 32 slots and the host bridge takes slot 0. */
#define QEMU_MAX_ROOT_PORTS 31u
/* The 9p mount tag of share_dir in the guest. */
#define QEMU_SHARE_TAG "uvmdshare"
/* What the guest kernel command line always starts with. cryptomgr.notests:
 * the crypto self-tests took ~0.25 s of a cold boot under TCG, for
 * algorithms the guest does not use to protect anything. */
#define QEMU_BASE_APPEND "console=ttyS0 panic=-1 quiet rdinit=/init cryptomgr.notests"
/* The device layout this file makes. A VM restored from a template must
 * have the template's devices: bump it with any change to add_devices() or
 * add_machine() that a migration stream would notice (templates are keyed
 * by it, docs/templates.md). */
#define QEMU_LAYOUT_VERSION 1
/* A pod VM's PCIe root ports, kept free for hot-plug (a template has them too). */
#define QEMU_POD_ROOT_PORTS 4u
/* TCG's translation cache, MiB (QEMU's default: 1 GiB). A VM's RSS grows
 * with all the code it ever translated, up to this; below a VM's working
 * set TCG flushes and translates again, at a CPU cost (docs/guest.md,
 * "Host memory"). Not in the migration stream: templates do not care. */
#define QEMU_TCG_TB_MB 48u
/* The x86 kernel's COMMAND_LINE_SIZE, less its NUL. */
#define QEMU_MAX_APPEND 2047u

struct qemu_vm {
        const char *qemu;   /* binary path */
        const char *kernel; /* absolute paths, all of them */
        const char *initrd;
        const char *append;       /* extra kernel command line, or NULL */
        const char *agent_sock;   /* virtio-serial port "agent" */
        const char *qmp_sock;     /* the QMP monitor */
        const char *console_sock; /* the serial console, ttyS0 (uvmd reads and rotates it) */
        const char *log_sock;     /* virtio-serial port "log": the guest agent's records, or NULL */
        const char *share_dir;    /* 9p share with tag QEMU_SHARE_TAG, or NULL */
        const char *pidfile;
        uint32_t memory_mb, vcpus; /* from the UVM options */
        bool kvm;                  /* -accel kvm -cpu host, else -accel tcg -cpu max */
        unsigned root_ports;       /* pcie-root-port rp0..rp<n-1> for hot-plug; 0: no PCIe */
        bool scsi;                 /* virtio-scsi controller "scsi0" for hot-plugged disks */
        /* A virtio-net NIC with MAC address mac (NULL: no NIC), on either the
         * tap named tap (QEMU opens it: QEMU must run in the tap's network
         * namespace) or the tap fd tap_fd that QEMU inherits (>= 3). The other
         * one is NULL / -1 (or 0). */
        const char *mac;
        const char *tap;
        int tap_fd;
        bool nic_unplugged; /* the NIC on a netdev that goes nowhere (a template's) */
        /* Guest RAM in a file (memory-backend-file "mem"), or NULL: anonymous.
         * mem_shared: MAP_SHARED, the guest writes the file (a template being
         * made); else a private copy-on-write mapping (a clone). */
        const char *mem_path;
        bool mem_shared;
        bool incoming; /* -incoming defer: the state comes over QMP (a clone) */
};

/* A NULL-terminated, malloc'd argv for vm; free it with qemu_argv_free.
 * -EINVAL naming the field that is wrong. */
int qemu_argv(const struct qemu_vm *vm, char ***ret_argv, struct uvm_error **err);

/* NULL is fine. Returns NULL. */
char **qemu_argv_free(char **argv);

/* QEMU started from argv as a child with stdin on /dev/null and stdout and
 * stderr in the file log (truncated), for the short-lived VMs uvmd boots for
 * itself (the KVM proof, a template build). background: the child also dies
 * with the calling thread and runs niced, as such a VM is never more urgent
 * than a pod. -errno from fork. */
int qemu_spawn_logged(char **argv, const char *log, bool background, pid_t *ret_pid,
                      struct uvm_error **err);
