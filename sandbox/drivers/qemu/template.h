#pragma once

/*
 * VM templates (docs/templates.md): one booted, saved VM per shape under
 * <data_root>/templates/<key>/ (mem: the guest's RAM, state: QEMU's
 * migration stream, meta.json written last), made on a background thread
 * of its own that never delays uvmd, at most one build at a time, retried
 * with backoff after a failure. A ready template's RAM is held in a sealed
 * memfd that clones map privately (copy-on-write): neither a clone's QEMU
 * nor anything else can write the pages the next clone starts from.
 */

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

struct qtpl_node {
        const char *data_root;
        const char *qemu, *kernel, *initrd, *append; /* as the driver's pods have them */
        unsigned boot_timeout_ms;
        uint32_t memory_mb, vcpus; /* the shape to keep a template of */
        bool kvm;
};

/* Start the builder (once; later calls change nothing). Strings are copied. */
int qtpl_start(const struct qtpl_node *node, struct uvm_error **err);

struct qtpl;

/* The ready template of this shape, a reference (NULL: none, cold-boot).
 * Checks that the guest image and QEMU are still the ones it was made
 * from (a stat each); when not, the builder is woken to make a new one. */
struct qtpl *qtpl_get(uint32_t memory_mb, uint32_t vcpus, bool kvm);
/* NULL is fine; returns NULL. */
struct qtpl *qtpl_put(struct qtpl *t);
/* The sealed memfd of its RAM (owned by t). */
int qtpl_mem_fd(const struct qtpl *t);
/* Its NIC's MAC (the clone's until the guest takes the pod's). */
const char *qtpl_mac(const struct qtpl *t);
/* Its state file, opened read-only (O_CLOEXEC): an fd the caller owns. */
int qtpl_open_state(const struct qtpl *t, struct uvm_error **err);
/* A clone of t failed in a way that blames t: drop it and build anew. */
void qtpl_failed(struct qtpl *t, const char *why);
