#pragma once

/* The KVM proof: a guest booted under -accel kvm until its agent answered,
 * kept per host boot (kvm_proof.c). */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "sandbox/drivers/qemu/cmdline.h"

/* The answer kept for this boot: 0 with *ret_kvm and why, or -ENOENT. */
int qemu_kvm_proof_cached(const char *data_root, bool *ret_kvm, char *why, size_t len);

/* Find it on a thread of its own: base's command line (kernel, initrd,
 * memory; its sockets are replaced) under KVM, the agent given timeout_ms
 * to answer; done(kvm, why) is called at the end, from that thread. */
int qemu_kvm_proof_start(const char *data_root, const struct qemu_vm *base, unsigned timeout_ms,
                         void (*done)(bool kvm, const char *why), struct uvm_error **err);
