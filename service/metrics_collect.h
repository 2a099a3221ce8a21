#pragma once

/* The scrape-time part of uvmd's metrics (Linux): pods and containers by
 * state and driver from the sandbox layer's lists, sandbox crash and
 * reattach counts, image pull bytes, and the process's own RSS, open fds
 * and threads from /proc/self. */

#include "service/metrics.h"

struct uvmd;

/* Adds the collector to metrics_uvmd()'s registry; d must outlive it (the
 * registry is process-wide: call once). -ENOMEM or 0. */
int metrics_collect_register(struct uvmd *d);

/* /proc/self, for tests: resident bytes, open fds, threads (-errno each). */
int metrics_process_read(double *ret_rss, double *ret_fds, double *ret_threads);
