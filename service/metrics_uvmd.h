#pragma once

/*
 * uvmd's own metrics (docs/metrics.md lists them): one process-wide
 * registry, made on first use, and one function per thing that happens.
 * Every function is cheap, lock-free once its series exists, and safe from
 * any thread. Portable: the server core (call.c) counts on Windows too.
 */

#include <stdbool.h>
#include <stdint.h>

#include "service/metrics.h"

/* The registry, with every uvmd family declared; NULL only when out of
 * memory (then every function below does nothing). */
struct metrics_registry *metrics_uvmd(void);

/* A gRPC call finished: path NULL for an unknown method (counted as
 * "unknown", so that clients cannot grow the label set); code the gRPC
 * status code's name (status_code_name()), NULL for OK. */
void metrics_rpc_done(const char *path, const char *code, uint64_t duration_ns);

/* One phase of a pod's start: "network", "driver" or "container". */
void metrics_pod_phase(const char *phase, uint64_t duration_ns);

/* One phase of a sandbox call (sandbox/phase.h's sink): op and phase are
 * names from the code (a bounded set), never from a request. */
void metrics_phase(const char *op, const char *phase, uint64_t duration_ns);

/* The container phase is CreateContainer's time plus StartContainer's time
 * for the same container: the first is kept here (a bounded table) until
 * the second comes. */
void metrics_ctr_created(const char *ctr_id, uint64_t duration_ns);
/* Returns the container phase observed, in ns (create + start). */
uint64_t metrics_ctr_started(const char *ctr_id, uint64_t duration_ns);

/* A PullImage call ended (failed: ok is false). */
void metrics_image_pull(bool ok, uint64_t duration_ns);

/* The families the scrape-time collector fills (metrics_collect.c). */
struct metrics_uvmd_families {
        struct metrics_family *pods, *containers;        /* {state,driver} */
        struct metrics_family *crashes;                  /* {driver} */
        struct metrics_family *reattaches;               /* {driver,result} */
        struct metrics_family *pull_bytes;               /* no labels */
        struct metrics_family *rss, *open_fds, *threads; /* no labels */
};
const struct metrics_uvmd_families *metrics_uvmd_families(void);
