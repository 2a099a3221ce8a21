/* Usage: a container's (its cgroup's stats, what it wrote to its writable
 * layer) and the pod's (its network interfaces). On a host the stats come
 * from `runc events --stats`, which knows v1, v2 and hybrid hierarchies; in
 * a VM guest (cgroup v2 alone) they are read from the files, in the same
 * shape: crun, the guest's runtime, has no "events", and under TCG one
 * process start costs more than the reads. */

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

/* runc's stats "data" ({"cpu":..,"memory":..,"pids":..}) as ours. */
static int stats_of(json_object *data, json_object **ret)
{
        json_object *mem, *raw, *o;
        uint64_t usage, inactive;

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

/* runc events --stats prints {"type":"stats","id":..,"data":{"cpu":..,"memory":..}}. */
static int stats_parse(const char *text, json_object **ret, struct uvm_error **err)
{
        const char *start = strchr(text, '{');
        _cleanup_json_ json_object *ev = start ? json_tokener_parse(start) : NULL;
        json_object *data = ev ? path_get(ev, "data", NULL) : NULL;

        if (!data || !json_object_is_type(data, json_type_object))
                return uvm_error_set(err, EBADMSG, "runc events printed no stats object");
        return stats_of(data, ret);
}

/* obj[key] = { name: value } for each "name value" line of a cgroup file
 * (memory.stat, cpu.stat); false if it cannot be read. */
static bool flat_keyed(const char *dir, const char *file, json_object *obj, const char *key)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_object *o;

        if (asprintf(&path, "%s/%s", dir, file) < 0 || fs_read_file(path, 1 << 16, &text, NULL) < 0)
                return false;
        o = json_object_new_object();
        for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
                char name[64];
                unsigned long long v;

                if (sscanf(l, "%63s %llu", name, &v) == 2)
                        json_object_object_add(o, name, json_object_new_uint64(v));
        }
        json_object_object_add(obj, key, o);
        return true;
}

/* The single number in dir/file (memory.current, pids.current), or 0. */
static uint64_t single(const char *dir, const char *file)
{
        _cleanup_free_ char *path = NULL, *text = NULL;

        if (asprintf(&path, "%s/%s", dir, file) < 0 || fs_read_file(path, 64, &text, NULL) < 0)
                return 0;
        return strtoull(text, NULL, 10);
}

int agent_ctr_cgroup_dir(const char *bundle, char **ret, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_json_ json_object *spec = NULL;
        json_object *cg;
        const char *p;

        if (asprintf(&path, "%s/config.json", bundle) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (fs_read_file(path, 1 << 22, &text, NULL) < 0 || !(spec = json_tokener_parse(text)))
                return uvm_error_set(err, EIO, "cannot read %s", path);
        cg = path_get(spec, "linux", "cgroupsPath");
        p = cg && json_object_is_type(cg, json_type_string) ? json_object_get_string(cg) : NULL;
        if (!p || p[0] != '/' || strstr(p, "..") || strchr(p, ':'))
                return uvm_error_set(err, EINVAL, "%s has no cgroupfs linux.cgroupsPath", path);
        if (asprintf(ret, "/sys/fs/cgroup%s", p) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

/* What runc events --stats would say on cgroup v2, from the files. */
static int cgroup2_stats(const char *bundle, json_object **ret, struct uvm_error **err)
{
        _cleanup_free_ char *dir = NULL;
        _cleanup_json_ json_object *data = json_object_new_object();
        json_object *mem = json_object_new_object(), *cpu = json_object_new_object();
        json_object *o = json_object_new_object(), *pids = json_object_new_object();
        json_object *cpu_stat = NULL;
        int r = agent_ctr_cgroup_dir(bundle, &dir, err);

        json_object_object_add(data, "memory", mem);
        json_object_object_add(data, "cpu", cpu);
        json_object_object_add(data, "pids", pids);
        json_object_object_add(cpu, "usage", o);
        if (r < 0)
                return r;
        if (!flat_keyed(dir, "memory.stat", mem, "raw") || !flat_keyed(dir, "cpu.stat", o, "stat"))
                return uvm_error_set(err, ENOENT, "no cgroup v2 stats in %s", dir);
        json_object_object_get_ex(o, "stat", &cpu_stat);
        json_object_object_add(
                o, "total",
                json_object_new_uint64(
                        1000 * get_u64(cpu_stat, (const char *const[]){"usage_usec", NULL})));
        o = json_object_new_object();
        json_object_object_add(o, "usage", json_object_new_uint64(single(dir, "memory.current")));
        json_object_object_add(mem, "usage", o);
        json_object_object_add(pids, "current",
                               json_object_new_uint64(single(dir, "pids.current")));
        return stats_of(data, ret);
}

/* What the container wrote: bytes and inodes of its overlay upper dir. */
static void writable_usage(const char *bundle, json_object *o)
{
        _cleanup_free_ char *upper = NULL;
        uint64_t bytes, inodes;

        if (asprintf(&upper, "%s/upper/", bundle) < 0 || fs_usage(upper, &bytes, &inodes) < 0)
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
        if (agent_cfg.guest) {
                r = cgroup2_stats(bundle, ret, err);
        } else {
                r = agent_runc(bundle, (const char *[]){"events", "--stats", id, NULL}, NULL, &text,
                               err);
                if (r >= 0)
                        r = stats_parse(text ? text : "", ret, err);
        }
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
