#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/platform.h"
#include "sandbox/uvm_options.h"

static const char *find(const struct uvm_options_input *in, const char *key)
{
        if (!in->allow_annotations)
                return NULL;
        const char *v = NULL;

        /* The last one wins, as with a map built from the list. */
        for (size_t i = 0; i < in->n_annotations; i++)
                if (in->annotations[i].key && STR_EQ(in->annotations[i].key, key))
                        v = in->annotations[i].value;
        return v;
}

static int parse_uint(const char *key, const char *s, uint64_t min, uint64_t max, uint64_t *ret,
                      struct uvm_error **err)
{
        char *end = NULL;
        unsigned long long v;

        if (!s || !*s || *s == '-' || *s == '+' || strlen(s) > 20)
                goto bad;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v < min || v > max)
                goto bad;
        *ret = v;
        return 0;
bad:
        return uvm_error_set(err, EINVAL, "annotation %s: '%s' is not an integer from %llu to %llu",
                             key, s ? s : "", (unsigned long long) min, (unsigned long long) max);
}

static int parse_bool(const char *key, const char *s, bool *ret, struct uvm_error **err)
{
        if (s && (STR_EQ(s, "true") || STR_EQ(s, "1")))
                *ret = true;
        else if (s && (STR_EQ(s, "false") || STR_EQ(s, "0")))
                *ret = false;
        else
                return uvm_error_set(err, EINVAL, "annotation %s: '%s' is not true or false", key,
                                     s ? s : "");
        return 0;
}

static unsigned host_cpus(const struct uvm_options_input *in)
{
        return in->host_cpus ? in->host_cpus : plat_host_cpus();
}

/* Memory: resources first, then the annotation; always an even MB count. */
static int resolve_memory(const struct uvm_options_input *in, uint32_t *ret, struct uvm_error **err)
{
        const char *a = find(in, UVM_ANN_MEMORY);
        uint64_t mb = UVM_DEFAULT_MEMORY_MB;
        int r;

        if (in->memory_limit_bytes < 0)
                return uvm_error_set(err, EINVAL, "pod memory limit %lld is negative",
                                     (long long) in->memory_limit_bytes);
        if (in->memory_limit_bytes > 0) {
                mb = ((uint64_t) in->memory_limit_bytes + (1 << 20) - 1) >> 20;
                if (mb < UVM_MIN_MEMORY_MB)
                        mb = UVM_MIN_MEMORY_MB;
                if (mb > UVM_MAX_MEMORY_MB)
                        return uvm_error_set(err, EINVAL,
                                             "pod memory limit %lld bytes exceeds %u MB",
                                             (long long) in->memory_limit_bytes, UVM_MAX_MEMORY_MB);
        }
        if (a) {
                uint64_t limit = mb;

                r = parse_uint(UVM_ANN_MEMORY, a, UVM_MIN_MEMORY_MB, UVM_MAX_MEMORY_MB, &mb, err);
                if (r < 0)
                        return r;
                if (in->memory_limit_bytes > 0 && mb > limit)
                        mb = limit; /* never beyond the pod's limit plus overhead */
        }
        mb += mb & 1; /* hcsshim aligns UVM memory to 2 MB */
        *ret = (uint32_t) mb;
        return 0;
}

static int resolve_processors(const struct uvm_options_input *in, uint32_t *ret,
                              struct uvm_error **err)
{
        const char *a = find(in, UVM_ANN_PROCESSORS);
        unsigned host = host_cpus(in);
        uint64_t n = host > 1 ? 2 : 1;
        int r;

        if (in->cpu_quota < -1 || in->cpu_period < 0)
                return uvm_error_set(err, EINVAL, "pod cpu quota/period %lld/%lld is invalid",
                                     (long long) in->cpu_quota, (long long) in->cpu_period);
        if (in->cpu_quota > 0 && in->cpu_period > 0) {
                uint64_t q = (uint64_t) in->cpu_quota, p = (uint64_t) in->cpu_period;
                n = (q + p - 1) / p;
        }
        if (a) {
                uint64_t limit = n;

                r = parse_uint(UVM_ANN_PROCESSORS, a, 1, 1024, &n, err);
                if (r < 0)
                        return r;
                if (in->cpu_quota > 0 && in->cpu_period > 0 && n > limit)
                        n = limit;
        }
        if (n > host) {
                log_debug("uvm: %llu processors requested, clamped to the host's %u",
                          (unsigned long long) n, host);
                n = host;
        }
        *ret = (uint32_t) n;
        return 0;
}

int uvm_options_resolve(const struct uvm_options_input *in, struct drv_uvm_options *ret,
                        struct uvm_error **err)
{
        struct drv_uvm_options o = {.allow_overcommit = true, .deferred_commit = false};
        const char *s;
        int r;

        r = resolve_memory(in, &o.memory_mb, err);
        if (r < 0)
                return r;
        r = resolve_processors(in, &o.processors, err);
        if (r < 0)
                return r;
        s = find(in, UVM_ANN_OVERCOMMIT);
        if (s && (r = parse_bool(UVM_ANN_OVERCOMMIT, s, &o.allow_overcommit, err)) < 0)
                return r;
        s = find(in, UVM_ANN_DEFERRED);
        if (s && (r = parse_bool(UVM_ANN_DEFERRED, s, &o.deferred_commit, err)) < 0)
                return r;
        if (o.deferred_commit && !o.allow_overcommit)
                return uvm_error_set(err, EINVAL, "annotation %s: deferred commit requires %s=true",
                                     UVM_ANN_DEFERRED, UVM_ANN_OVERCOMMIT);
        *ret = o;
        return 0;
}
