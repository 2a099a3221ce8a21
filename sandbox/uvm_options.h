#pragma once

/*
 * UVM sizing with hcsshim's defaults and validation: 1024 MB rounded up to
 * an even number of MB, 2 processors (1 on a 1-CPU host) clamped to the
 * host's CPUs, overcommit on, deferred commit only with overcommit.
 * Per-pod overrides come from the pod's resources (limits + overhead) and,
 * winning over those, from io.microsoft.virtualmachine.computetopology.*
 * annotations.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "sandbox/driver.h"

#define UVM_ANN_MEMORY "io.microsoft.virtualmachine.computetopology.memory.sizeinmb"
#define UVM_ANN_PROCESSORS "io.microsoft.virtualmachine.computetopology.processor.count"
#define UVM_ANN_OVERCOMMIT "io.microsoft.virtualmachine.computetopology.memory.allowovercommit"
#define UVM_ANN_DEFERRED "io.microsoft.virtualmachine.computetopology.memory.enabledeferredcommit"

#define UVM_DEFAULT_MEMORY_MB 1024
#define UVM_MIN_MEMORY_MB 64
#define UVM_MAX_MEMORY_MB (1024u * 1024u) /* 1 TiB */

struct uvm_kv {
        const char *key, *value;
};

struct uvm_options_input {
        const struct uvm_kv *annotations;
        size_t n_annotations;
        unsigned host_cpus; /* 0: ask the system */
        /* Whether the computetopology annotations count (config
         * vm_size_annotations "allow"); a pod's user writes them, so they
         * never size a VM beyond the pod's own limits plus overhead. */
        bool allow_annotations;
        /* From LinuxPodSandboxConfig resources + overhead; 0 = unset. */
        int64_t memory_limit_bytes;
        int64_t cpu_quota, cpu_period;
};

/* Fill *ret from the defaults and the overrides; -EINVAL naming the
 * annotation or resource that is out of range. */
int uvm_options_resolve(const struct uvm_options_input *in, struct drv_uvm_options *ret,
                        struct uvm_error **err);
