/* LinuxContainerResources -> OCI linux.resources, every field checked first. */

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "sandbox/cri_resources.h"

#define MAX_CPU_ID 65535 /* well above any kernel's NR_CPUS/MAX_NUMNODES */
#define MAX_UNIFIED_VALUE 4096

/* One "N" or "N-M" item of a cpuset list, N <= M; *p moves past it. */
static bool cpuset_item(const char **p)
{
        long a, b;
        char *end;

        if (!isdigit((unsigned char) **p))
                return false;
        a = strtol(*p, &end, 10);
        b = a;
        if (*end == '-') {
                if (!isdigit((unsigned char) end[1]))
                        return false;
                b = strtol(end + 1, &end, 10);
        }
        *p = end;
        return a <= b && b <= MAX_CPU_ID;
}

int cri_cpuset_check(const char *field, const char *s, struct uvm_error **err)
{
        const char *p = s;

        if (strlen(s) > CRI_MAX_CPUSET_LEN)
                return uvm_error_set(err, EINVAL, "%s: longer than %d bytes", field,
                                     CRI_MAX_CPUSET_LEN);
        for (;;) {
                if (!cpuset_item(&p))
                        break;
                if (*p == '\0')
                        return 0;
                if (*p++ != ',')
                        break;
        }
        return uvm_error_set(err, EINVAL,
                             "%s \"%.64s\": want a list of CPU or node numbers and ranges "
                             "(\"0-3,8\"), each at most %d",
                             field, s, MAX_CPU_ID);
}

static int check_cpu(const Runtime__V1__LinuxContainerResources *r, struct uvm_error **err)
{
        if (r->cpu_shares < 0 || r->cpu_shares > CRI_MAX_CPU_SHARES)
                return uvm_error_set(err, EINVAL, "cpu_shares %lld: 0 to %d",
                                     (long long) r->cpu_shares, CRI_MAX_CPU_SHARES);
        if (r->cpu_quota < -1 || (r->cpu_quota > 0 && r->cpu_quota < CRI_MIN_CPU_QUOTA))
                return uvm_error_set(err, EINVAL, "cpu_quota %lld: -1 (none), 0 (unset) or >= %d",
                                     (long long) r->cpu_quota, CRI_MIN_CPU_QUOTA);
        if (r->cpu_period != 0 &&
            (r->cpu_period < CRI_MIN_CPU_PERIOD || r->cpu_period > CRI_MAX_CPU_PERIOD))
                return uvm_error_set(err, EINVAL, "cpu_period %lld: 0 (unset) or %d to %d",
                                     (long long) r->cpu_period, CRI_MIN_CPU_PERIOD,
                                     CRI_MAX_CPU_PERIOD);
        if (!STR_EMPTY(r->cpuset_cpus) && cri_cpuset_check("cpuset_cpus", r->cpuset_cpus, err) < 0)
                return -EINVAL;
        if (!STR_EMPTY(r->cpuset_mems) && cri_cpuset_check("cpuset_mems", r->cpuset_mems, err) < 0)
                return -EINVAL;
        return 0;
}

static int check_memory(const Runtime__V1__LinuxContainerResources *r, struct uvm_error **err)
{
        int64_t lim = r->memory_limit_in_bytes, swap = r->memory_swap_limit_in_bytes;

        if (lim < 0 || (lim > 0 && lim < CRI_MIN_MEMORY_LIMIT))
                return uvm_error_set(err, EINVAL,
                                     "memory_limit_in_bytes %lld: 0 (unset) or at least 4 MiB",
                                     (long long) lim);
        /* The swap limit counts memory plus swap, as cgroup v1's memsw does. */
        if (swap < -1 || (swap > 0 && swap < CRI_MIN_MEMORY_LIMIT) || (swap > 0 && swap < lim))
                return uvm_error_set(err, EINVAL,
                                     "memory_swap_limit_in_bytes %lld: -1 (unlimited), 0 (unset) "
                                     "or at least 4 MiB and the memory limit",
                                     (long long) swap);
        if (r->oom_score_adj < -1000 || r->oom_score_adj > 1000)
                return uvm_error_set(err, EINVAL, "oom_score_adj %lld: -1000 to 1000",
                                     (long long) r->oom_score_adj);
        return 0;
}

/* "2MB", "1GB", "64KB": what the kernel's hugetlb controller names sizes. */
static bool page_size_ok(const char *s)
{
        size_t n = 0;

        if (STR_EMPTY(s) || *s == '0')
                return false;
        while (isdigit((unsigned char) s[n]) && n < 8)
                n++;
        return n > 0 && (STR_EQ(s + n, "KB") || STR_EQ(s + n, "MB") || STR_EQ(s + n, "GB"));
}

static int check_hugepages(const Runtime__V1__LinuxContainerResources *r, struct uvm_error **err)
{
        if (r->n_hugepage_limits > CRI_MAX_HUGEPAGE_LIMITS)
                return uvm_error_set(err, EINVAL, "hugepage_limits: at most %d entries",
                                     CRI_MAX_HUGEPAGE_LIMITS);
        for (size_t i = 0; i < r->n_hugepage_limits; i++) {
                const char *ps = r->hugepage_limits[i]->page_size;
                if (!page_size_ok(ps))
                        return uvm_error_set(err, EINVAL,
                                             "hugepage_limits[%zu].page_size \"%.32s\": want a "
                                             "size such as 2MB or 1GB",
                                             i, ps ? ps : "");
                for (size_t k = 0; k < i; k++)
                        if (STR_EQ(r->hugepage_limits[k]->page_size, ps))
                                return uvm_error_set(err, EINVAL,
                                                     "hugepage_limits: page size %s given twice",
                                                     ps);
        }
        return 0;
}

/* cgroup v2 file names ("memory.high"): lower-case words joined by dots. */
static bool unified_key_ok(const char *k)
{
        size_t n = strlen(k);

        if (n == 0 || n > 64 || !strchr(k, '.') || k[0] == '.' || k[n - 1] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!islower((unsigned char) k[i]) && !isdigit((unsigned char) k[i]) &&
                    k[i] != '.' && k[i] != '_')
                        return false;
        return true;
}

static int check_unified(const Runtime__V1__LinuxContainerResources *r, struct uvm_error **err)
{
        if (r->n_unified > CRI_MAX_UNIFIED)
                return uvm_error_set(err, EINVAL, "unified: at most %d entries", CRI_MAX_UNIFIED);
        for (size_t i = 0; i < r->n_unified; i++) {
                const char *k = r->unified[i]->key, *v = r->unified[i]->value;
                if (!k || !unified_key_ok(k))
                        return uvm_error_set(err, EINVAL,
                                             "unified key \"%.64s\": want a cgroup file name "
                                             "such as memory.high",
                                             k ? k : "");
                if (!v || strlen(v) > MAX_UNIFIED_VALUE || strpbrk(v, "\n\r"))
                        return uvm_error_set(err, EINVAL,
                                             "unified[%s]: one line of at most %d bytes", k,
                                             MAX_UNIFIED_VALUE);
        }
        return 0;
}

static void add_i64(json_object *o, const char *k, int64_t v)
{
        if (v)
                json_object_object_add(o, k, json_object_new_int64(v));
}

static void add_str(json_object *o, const char *k, const char *v)
{
        if (!STR_EMPTY(v))
                json_object_object_add(o, k, json_object_new_string(v));
}

/* Add sub under key unless it stayed empty. */
static void add_obj(json_object *o, const char *k, json_object *sub)
{
        if (json_object_object_length(sub) > 0)
                json_object_object_add(o, k, sub);
        else
                json_object_put(sub);
}

static json_object *build(const Runtime__V1__LinuxContainerResources *r)
{
        json_object *o = json_object_new_object(), *cpu = json_object_new_object();
        json_object *mem = json_object_new_object(), *hp, *uni;

        add_i64(cpu, "shares", r->cpu_shares);
        add_i64(cpu, "quota", r->cpu_quota);
        add_i64(cpu, "period", r->cpu_period);
        add_str(cpu, "cpus", r->cpuset_cpus);
        add_str(cpu, "mems", r->cpuset_mems);
        add_obj(o, "cpu", cpu);
        add_i64(mem, "limit", r->memory_limit_in_bytes);
        /* No swap limit given: none beyond the memory limit, as the kubelet
         * asks when swap is off; otherwise a lowered limit would let the
         * container spill into swap. */
        add_i64(mem, "swap",
                r->memory_swap_limit_in_bytes ? r->memory_swap_limit_in_bytes
                                              : r->memory_limit_in_bytes);
        add_obj(o, "memory", mem);
        if (r->n_hugepage_limits) {
                hp = json_object_new_array();
                for (size_t i = 0; i < r->n_hugepage_limits; i++) {
                        json_object *e = json_object_new_object();
                        json_object_object_add(
                                e, "pageSize",
                                json_object_new_string(r->hugepage_limits[i]->page_size));
                        json_object_object_add(
                                e, "limit", json_object_new_uint64(r->hugepage_limits[i]->limit));
                        json_object_array_add(hp, e);
                }
                json_object_object_add(o, "hugepageLimits", hp);
        }
        if (r->n_unified) {
                uni = json_object_new_object();
                for (size_t i = 0; i < r->n_unified; i++)
                        json_object_object_add(uni, r->unified[i]->key,
                                               json_object_new_string(r->unified[i]->value));
                json_object_object_add(o, "unified", uni);
        }
        return o;
}

int cri_resources_obj(const Runtime__V1__LinuxContainerResources *r, json_object **ret,
                      struct uvm_error **err)
{
        int rc = check_cpu(r, err);

        if (rc >= 0)
                rc = check_memory(r, err);
        if (rc >= 0)
                rc = check_hugepages(r, err);
        if (rc >= 0)
                rc = check_unified(r, err);
        if (rc < 0)
                return rc;
        *ret = build(r);
        return *ret ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}

int cri_resources_json(const Runtime__V1__LinuxContainerResources *r, char **ret_json,
                       struct uvm_error **err)
{
        json_object *o;
        char *s;
        int rc = cri_resources_obj(r, &o, err);

        if (rc < 0)
                return rc;
        s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        if (!s)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret_json = s;
        return 0;
}

static int pod_part(const char *field, const Runtime__V1__LinuxContainerResources *r,
                    struct uvm_error **err)
{
        int rc;

        if (!r)
                return 0;
        rc = check_cpu(r, err);
        if (rc >= 0)
                rc = check_memory(r, err);
        return rc < 0 ? uvm_error_wrap(err, "%s", field) : 0;
}

int cri_pod_limits(const Runtime__V1__LinuxContainerResources *res,
                   const Runtime__V1__LinuxContainerResources *overhead, struct sbx_pod_limits *ret,
                   struct uvm_error **err)
{
        static const Runtime__V1__LinuxContainerResources none =
                RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
        const Runtime__V1__LinuxContainerResources *o = overhead ? overhead : &none;
        struct sbx_pod_limits l = {0};
        int r;

        *ret = l;
        r = pod_part("linux.resources", res, err);
        if (r >= 0)
                r = pod_part("linux.overhead", overhead, err);
        if (r < 0 || !res)
                return r;
        /* Sums that would pass 2^63-1 stay there: unbounded in effect. */
        if (res->memory_limit_in_bytes > 0 &&
            __builtin_add_overflow(res->memory_limit_in_bytes,
                                   o->memory_limit_in_bytes > 0 ? o->memory_limit_in_bytes : 0,
                                   &l.memory_bytes))
                l.memory_bytes = INT64_MAX;
        if (res->cpu_quota > 0) {
                int64_t period = res->cpu_period > 0 ? res->cpu_period : 100000,
                        operiod = o->cpu_period > 0 ? o->cpu_period : 100000, extra = 0;

                l.cpu_period = period;
                if (o->cpu_quota > 0 && __builtin_mul_overflow(o->cpu_quota, period, &extra))
                        extra = INT64_MAX;
                extra /= operiod;
                if (__builtin_add_overflow(res->cpu_quota, extra, &l.cpu_quota))
                        l.cpu_quota = INT64_MAX;
        }
        if (res->cpu_shares > 0) {
                l.cpu_shares = res->cpu_shares + (o->cpu_shares > 0 ? o->cpu_shares : 0);
                if (l.cpu_shares > CRI_MAX_CPU_SHARES)
                        l.cpu_shares = CRI_MAX_CPU_SHARES;
        }
        *ret = l;
        return 0;
}

/* --- WindowsContainerResources, for a Linux container in a VM --- */

static int win_cpu(const Runtime__V1__WindowsContainerResources *w, unsigned vcpus,
                   Runtime__V1__LinuxContainerResources *ret, struct uvm_error **err)
{
        if (w->cpu_shares < 0 || w->cpu_shares > CRI_WIN_CPU_MAX)
                return uvm_error_set(err, EINVAL, "windows.cpu_shares %lld: 0 (unset) or 1 to %d",
                                     (long long) w->cpu_shares, CRI_WIN_CPU_MAX);
        if (w->cpu_count < 0)
                return uvm_error_set(err, EINVAL, "windows.cpu_count %lld: 0 (unset) or at least 1",
                                     (long long) w->cpu_count);
        if (w->cpu_maximum < 0 || w->cpu_maximum > CRI_WIN_CPU_MAX)
                return uvm_error_set(err, EINVAL, "windows.cpu_maximum %lld: 0 (unset) or 1 to %d",
                                     (long long) w->cpu_maximum, CRI_WIN_CPU_MAX);
        /* Windows refuses both too (one job object CPU rate); here both
         * would be the one quota. */
        if (w->cpu_count && w->cpu_maximum)
                return uvm_error_set(err, EINVAL,
                                     "windows.cpu_count and windows.cpu_maximum: set at most "
                                     "one (both are the CPU quota)");
        /* Linear, both ends kept: 1 -> 2 (the kernel's least), 10000 ->
         * 262144 (its most). */
        if (w->cpu_shares)
                ret->cpu_shares =
                        2 + (w->cpu_shares - 1) * (CRI_MAX_CPU_SHARES - 2) / (CRI_WIN_CPU_MAX - 1);
        /* A count beyond the VM's CPUs gets them all, as hcsshim
         * normalises a container's processor count to its VM's. */
        if (w->cpu_count)
                ret->cpu_quota = (w->cpu_count < vcpus ? w->cpu_count : vcpus) * CRI_CFS_PERIOD;
        /* A share of the VM's CPUs, as the job object's rate is of the
         * processors it runs on; at least the kernel's 1 ms. */
        if (w->cpu_maximum) {
                ret->cpu_quota =
                        w->cpu_maximum * CRI_CFS_PERIOD * (int64_t) vcpus / CRI_WIN_CPU_MAX;
                if (ret->cpu_quota < CRI_MIN_CPU_QUOTA)
                        ret->cpu_quota = CRI_MIN_CPU_QUOTA;
        }
        if (ret->cpu_quota)
                ret->cpu_period = CRI_CFS_PERIOD;
        return 0;
}

int cri_resources_from_windows(const Runtime__V1__WindowsContainerResources *w,
                               const struct cri_uvm_facts *uvm,
                               Runtime__V1__LinuxContainerResources *ret, struct uvm_error **err)
{
        Runtime__V1__LinuxContainerResources l = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
        unsigned vcpus = uvm->vcpus ? uvm->vcpus : 1;
        int r = win_cpu(w, vcpus, &l, err);

        if (r < 0)
                return r;
        if (w->memory_limit_in_bytes < 0 ||
            (w->memory_limit_in_bytes > 0 && w->memory_limit_in_bytes < CRI_MIN_MEMORY_LIMIT))
                return uvm_error_set(err, EINVAL,
                                     "windows.memory_limit_in_bytes %lld: 0 (unset) or at least "
                                     "4 MiB",
                                     (long long) w->memory_limit_in_bytes);
        l.memory_limit_in_bytes = w->memory_limit_in_bytes;
        /* The writable layer is the node's scratch for every container:
         * a size is only checked, never made (docs/windows.md). */
        if (w->rootfs_size_in_bytes < 0 || w->rootfs_size_in_bytes > uvm->rootfs_max_bytes)
                return uvm_error_set(err, EINVAL,
                                     "windows.rootfs_size_in_bytes %lld: 0 (unset) to %lld, what "
                                     "a container's writable layer holds here",
                                     (long long) w->rootfs_size_in_bytes,
                                     (long long) uvm->rootfs_max_bytes);
        if (w->n_affinity_cpus)
                return uvm_error_set(err, EINVAL,
                                     "windows.affinity_cpus: the host's CPUs cannot be pinned for "
                                     "a container in a utility VM");
        *ret = l;
        return 0;
}
