/* Usage: a container's (runc's cgroup stats, what it wrote to its writable
 * layer) and the pod's (its network interfaces). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/agent-internal.h"
#include "common/fs.h"

/* The first of keys present in obj, as an unsigned number (0 if none). */
static uint64_t get_u64(json_object *obj, const char *const *keys)
{
        json_object *v;

        for (; *keys; keys++)
                if (json_object_object_get_ex(obj, *keys, &v) &&
                    json_object_is_type(v, json_type_int))
                        return json_object_get_uint64(v);
        return 0;
}

static json_object *path_get(json_object *o, const char *a, const char *b)
{
        json_object *x = NULL, *y = NULL;

        if (!json_object_object_get_ex(o, a, &x))
                return NULL;
        if (b && !json_object_object_get_ex(x, b, &y))
                return NULL;
        return b ? y : x;
}

/* runc events --stats prints {"type":"stats","id":..,"data":{"cpu":..,"memory":..}}. */
static int stats_parse(const char *text, json_object **ret, struct uvm_error **err)
{
        const char *start = strchr(text, '{');
        _cleanup_json_ json_object *ev = start ? json_tokener_parse(start) : NULL;
        json_object *data = ev ? path_get(ev, "data", NULL) : NULL, *mem, *raw, *o;
        uint64_t usage, inactive;

        if (!data || !json_object_is_type(data, json_type_object))
                return uvm_error_set(err, EBADMSG, "runc events printed no stats object");
        mem = path_get(data, "memory", NULL);
        raw = mem ? path_get(mem, "raw", NULL) : NULL;
        usage = get_u64(path_get(mem, "usage", NULL), (const char *const[]){"usage", NULL});
        inactive =
                get_u64(raw, (const char *const[]){"total_inactive_file", "inactive_file", NULL});
        o = json_object_new_object();
        json_object_object_add(
                o, "CpuUsageNs",
                json_object_new_uint64(get_u64(path_get(data, "cpu", "usage"),
                                               (const char *const[]){"total", NULL})));
        json_object_object_add(o, "MemoryUsageBytes", json_object_new_uint64(usage));
        json_object_object_add(o, "MemoryWorkingSetBytes",
                               json_object_new_uint64(usage > inactive ? usage - inactive : 0));
        json_object_object_add(
                o, "MemoryRssBytes",
                json_object_new_uint64(
                        get_u64(raw, (const char *const[]){"total_rss", "rss", "anon", NULL})));
        json_object_object_add(
                o, "PageFaults",
                json_object_new_uint64(
                        get_u64(raw, (const char *const[]){"total_pgfault", "pgfault", NULL})));
        json_object_object_add(
                o, "MajorPageFaults",
                json_object_new_uint64(get_u64(
                        raw, (const char *const[]){"total_pgmajfault", "pgmajfault", NULL})));
        json_object_object_add(
                o, "Pids",
                json_object_new_uint64(get_u64(path_get(data, "pids", NULL),
                                               (const char *const[]){"current", NULL})));
        *ret = o;
        return 0;
}

/* What the container wrote: bytes and inodes of its overlay upper dir. */
static void writable_usage(const char *bundle, json_object *o)
{
        _cleanup_free_ char *upper = NULL;
        uint64_t bytes, inodes;

        if (asprintf(&upper, "%s/upper", bundle) < 0 || fs_usage(upper, &bytes, &inodes) < 0)
                return;
        json_object_object_add(o, "WritableBytes", json_object_new_uint64(bytes));
        json_object_object_add(o, "WritableInodes", json_object_new_uint64(inodes));
}

int agent_stats(const char *id, json_object **ret, struct uvm_error **err)
{
        _cleanup_free_ char *bundle = NULL, *text = NULL;
        int r;

        r = agent_ctr_bundle(id, false, &bundle, err);
        if (r < 0)
                return r;
        r = agent_runc(bundle, (const char *[]){"events", "--stats", id, NULL}, NULL, &text, err);
        if (r >= 0)
                r = stats_parse(text ? text : "", ret, err);
        if (r < 0)
                return uvm_error_wrap(err, "stats of container '%s'", id);
        writable_usage(bundle, *ret);
        return 0;
}

/* /proc/net/dev of the pod's network namespace (ours): every interface but
 * loopback, as [{Name, RxBytes, RxErrors, TxBytes, TxErrors}]. */
static json_object *interfaces(void)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/net/dev", "re");
        json_object *a = json_object_new_array();
        char line[512];

        while (f && fgets(line, sizeof(line), f)) {
                unsigned long long v[16];
                char name[64], *colon = strchr(line, ':');
                json_object *o;

                if (!colon || sscanf(line, " %63[^:]:", name) != 1 || STR_EQ(name, "lo") ||
                    sscanf(colon + 1,
                           "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
                           "%llu %llu %llu",
                           &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9],
                           &v[10], &v[11], &v[12], &v[13], &v[14], &v[15]) != 16)
                        continue;
                o = json_object_new_object();
                json_object_object_add(o, "Name", json_object_new_string(name));
                json_object_object_add(o, "RxBytes", json_object_new_uint64(v[0]));
                json_object_object_add(o, "RxErrors", json_object_new_uint64(v[2]));
                json_object_object_add(o, "TxBytes", json_object_new_uint64(v[8]));
                json_object_object_add(o, "TxErrors", json_object_new_uint64(v[10]));
                json_object_array_add(a, o);
        }
        return a;
}

int agent_pod_stats(json_object **ret, struct uvm_error **err)
{
        json_object *o = json_object_new_object();

        if (!o)
                return uvm_error_set(err, ENOMEM, "out of memory");
        /* A pod on the host's network has no interfaces of its own. */
        json_object_object_add(o, "Interfaces",
                               agent_cfg.own_netns ? interfaces() : json_object_new_array());
        *ret = o;
        return 0;
}
