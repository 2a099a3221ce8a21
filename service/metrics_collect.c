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

static const char *driver_of(const struct pod_record *pods, size_t n, const char *pod_id)
{
        for (size_t i = 0; i < n; i++)
                if (STR_EQ(pods[i].id, pod_id))
                        return pods[i].driver;
        return "unknown";
}

/* From the lists ListPodSandbox and ListContainers use: copies taken under
 * each object's own short lock, never waiting on a busy pod. */
static void collect_sandbox(struct uvmd *d, const struct metrics_uvmd_families *m)
{
        struct pod_record *pods = NULL;
        struct ctr_record *ctrs = NULL;
        size_t n_pods = 0, n_ctrs = 0;
        struct sbx_driver_counts counts[SBX_MAX_DRIVERS];
        size_t n;

        zero_states(m);
        if (sbx_pod_list(d->sbx, &pods, &n_pods, NULL) < 0) {
                log_debug("metrics: listing pods failed, ignoring");
                return;
        }
        for (size_t i = 0; i < n_pods; i++)
                add2(m->pods, pod_state_to_string(pods[i].state), pods[i].driver, 1);
        if (sbx_ctr_list(d->sbx, &ctrs, &n_ctrs, NULL) >= 0) {
                for (size_t i = 0; i < n_ctrs; i++)
                        add2(m->containers, ctr_state_to_string(ctrs[i].state),
                             driver_of(pods, n_pods, ctrs[i].pod_id), 1);
                sbx_ctr_list_free(ctrs, n_ctrs);
        }
        sbx_pod_list_free(pods, n_pods);

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
