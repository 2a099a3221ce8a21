#pragma once

/*
 * VM templates, the pure parts (template.h runs them): the key of a
 * template's shape, its meta.json (written last: the "complete" marker),
 * and the QMP sequences that save a booted VM and restore a clone from it.
 * docs/templates.md has the design.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "sandbox/drivers/qemu/qmp.h"

#define QTPL_KEY_LEN 32           /* hex digits: 128 bits of a SHA-256 */
#define QTPL_MAX_STATE (64 << 20) /* a state file is ~100 KB; more is not ours */
#define QTPL_META_VERSION 1
/* The NIC's MAC in every template, so in a clone until the guest is given
 * the pod's (locally administered, unicast). */
#define QTPL_MAC "02:75:76:6d:64:00"

/* What a template must match to be used: the VM's shape. */
struct qtpl_shape {
        char image[65]; /* SHA-256 (hex) of the kernel and initrd contents */
        char qemu[512]; /* the QEMU binary: "<path>:<size>:<mtime ns>" */
        uint32_t memory_mb, vcpus;
        bool kvm;
        const char *append; /* the extra kernel command line, or NULL */
};

/* The key (QTPL_KEY_LEN hex digits and a NUL) of shape, with the device
 * layout (QEMU_LAYOUT_VERSION) in it. */
int qtpl_key(const struct qtpl_shape *shape, char ret[QTPL_KEY_LEN + 1]);
bool qtpl_key_valid(const char *s);

struct qtpl_meta {
        char key[QTPL_KEY_LEN + 1];
        uint32_t memory_mb, vcpus;
        char mac[18];
        uint64_t state_bytes;
        int64_t boot_ms; /* how long the template's boot took */
};

/* meta.json's text for m (malloc'd), or NULL when out of memory. */
char *qtpl_meta_format(const struct qtpl_meta *m);
/* Parse and check meta.json: every field present, typed and in range, the
 * key the one expected. -EINVAL naming what is wrong. */
int qtpl_meta_parse(const char *text, const char *want_key, struct qtpl_meta *ret,
                    struct uvm_error **err);

/* Saving (the template VM, running and ready): stop, the x-ignore-shared
 * capability (RAM stays in the memory-backend file), migrate to uri. */
int qtpl_qmp_save_start(struct qmp *q, const char *uri, int timeout_ms, struct uvm_error **err);
/* Poll query-migrate until "completed"; a failed or cancelled migration is
 * -EIO with QEMU's reason. */
int qtpl_qmp_wait_done(struct qmp *q, int timeout_ms, struct uvm_error **err);
/* A clone started with -incoming defer: x-ignore-shared (on the
 * destination too, or the load fails), migrate-incoming uri, wait, cont. */
int qtpl_qmp_restore(struct qmp *q, const char *uri, int timeout_ms, struct uvm_error **err);
