/* Scrape-time values of uvmd's metrics (metrics_collect.h). */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "image/image.h"
#include "sandbox/container.h"
#include "sandbox/driver.h"
#include "sandbox/ids.h"
#include "sandbox/list.h"
#include "sandbox/sandbox.h"
#include "sandbox/state.h"
#include "service/daemon.h"
#include "service/metrics_collect.h"
#include "service/metrics_uvmd.h"

static void set2(struct metrics_family *f, const char *a, const char *b, double v)
{
        metrics_set(metrics_series(f, (const char *[]){a, b}), v);
}

static void add2(struct metrics_family *f, const char *a, const char *b, double v)
{
        metrics_add(metrics_series(f, (const char *[]){a, b}), v);
}

/* Every state x driver shows, zeros too: a series does not vanish when the
 * last pod in it goes. */
static void zero_states(const struct metrics_uvmd_families *m)
{
        const struct drv_ops *o;

        metrics_family_reset(m->pods);
        metrics_family_reset(m->containers);
        for (size_t i = 0; (o = drv_at(i)); i++) {
                for (int s = 0; s < _POD_STATE_MAX; s++)
                        set2(m->pods, pod_state_to_string(s), o->name, 0);
                for (int s = 0; s < _CTR_STATE_MAX; s++)
                        set2(m->containers, ctr_state_to_string(s), o->name, 0);
        }
}

/* What the state gauges need of a pod or a container: its state, and its
 * (pod's) driver as one of the driver table's names, which outlive the
 * record's lock (sandbox/list.h). The series are made after the walk: the
 * scrape holds the metrics registry's lock, which must not be taken inside
 * a record's lock. */
struct seen {
        char pod_id[SBX_ID_LEN + 1];
        int state;
        const char *driver;
};

struct seen_list {
        struct seen *v;
        size_t n, cap;
};

static int seen_add(struct seen_list *l, const char *pod_id, int state, const char *driver)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 64;
                struct seen *v = realloc(l->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        snprintf(l->v[l->n].pod_id, sizeof(l->v[l->n].pod_id), "%s", pod_id ? pod_id : "");
        l->v[l->n].state = state;
        l->v[l->n++].driver = driver;
        return 0;
}

static const char *driver_name(const char *driver)
{
        const struct drv_ops *o;

        for (size_t i = 0; driver && (o = drv_at(i)); i++)
                if (STR_EQ(o->name, driver))
                        return o->name;
        return "unknown";
}

static int pod_seen(const struct pod_record *r, void *arg)
{
        return seen_add(arg, r->id, r->state, driver_name(r->driver));
}

static int ctr_seen(const struct ctr_record *r, void *arg)
{
        return seen_add(arg, r->pod_id, r->state, NULL);
}

static const char *driver_of(const struct seen_list *pods, const char *pod_id)
{
        for (size_t i = 0; i < pods->n; i++)
                if (STR_EQ(pods->v[i].pod_id, pod_id))
                        return pods->v[i].driver;
        return "unknown";
}

static void collect_sandbox(struct uvmd *d, const struct metrics_uvmd_families *m)
{
        struct seen_list pods = {0}, ctrs = {0};
        struct sbx_driver_counts counts[SBX_MAX_DRIVERS];
        size_t n;

        zero_states(m);
        if (sbx_pod_each(d->sbx, NULL, pod_seen, &pods, NULL) < 0) {
                log_debug("metrics: listing pods failed, ignoring");
                free(pods.v);
                return;
        }
        for (size_t i = 0; i < pods.n; i++)
                add2(m->pods, pod_state_to_string(pods.v[i].state), pods.v[i].driver, 1);
        if (sbx_ctr_each(d->sbx, NULL, ctr_seen, &ctrs, NULL) >= 0)
                for (size_t i = 0; i < ctrs.n; i++)
                        add2(m->containers, ctr_state_to_string(ctrs.v[i].state),
                             driver_of(&pods, ctrs.v[i].pod_id), 1);
        free(ctrs.v);
        free(pods.v);

        n = sbx_driver_counts(d->sbx, counts, ARRAY_SIZE(counts));
        for (size_t i = 0; i < n; i++) {
                metrics_set(metrics_series(m->crashes, &counts[i].driver),
                            (double) counts[i].crashes);
                set2(m->reattaches, counts[i].driver, "ok", (double) counts[i].reattached);
                set2(m->reattaches, counts[i].driver, "lost", (double) counts[i].lost);
        }
}

static int count_fds(void)
{
        DIR *dir = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        if (!dir)
                return -errno;
        while ((de = readdir(dir)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(dir);
        return n - 1; /* not the directory's own fd */
}

/* "Threads:" of /proc/self/status. */
static int count_threads(void)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        int n;

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "Threads: %d", &n) == 1)
                        return n;
        return -ENODATA;
}

int metrics_process_read(double *ret_rss, double *ret_fds, double *ret_threads)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/statm", "re");
        unsigned long long size, resident;
        int fds, threads;

        if (!f)
                return -errno;
        if (fscanf(f, "%llu %llu", &size, &resident) != 2)
                return -ENODATA;
        fds = count_fds();
        threads = count_threads();
        if (fds < 0)
                return fds;
        if (threads < 0)
                return threads;
        *ret_rss = (double) resident * (double) sysconf(_SC_PAGESIZE);
        *ret_fds = fds;
        *ret_threads = threads;
        return 0;
}

static void collect(void *data)
{
        const struct metrics_uvmd_families *m = metrics_uvmd_families();
        double rss, fds, threads;
        int r;

        collect_sandbox(data, m);
        metrics_set(metrics_series(m->pull_bytes, NULL), (double) img_pull_bytes_total());
        r = metrics_process_read(&rss, &fds, &threads);
        if (r < 0) {
                log_debug("metrics: /proc/self: %s, ignoring", strerror(-r));
                return;
        }
        metrics_set(metrics_series(m->rss, NULL), rss);
        metrics_set(metrics_series(m->open_fds, NULL), fds);
        metrics_set(metrics_series(m->threads, NULL), threads);
}

int metrics_collect_register(struct uvmd *d)
{
        struct metrics_registry *r = metrics_uvmd();

        return r ? metrics_add_collector(r, collect, d) : -ENOMEM;
}
