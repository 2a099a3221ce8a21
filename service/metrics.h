#pragma once

/*
 * A metrics registry in the Prometheus text exposition format (0.0.4).
 *
 * Families (counter, gauge, histogram) are declared once with their label
 * names; a series is one set of label values, made on first use and kept
 * until the registry is freed. Updates are lock-free (C11 atomics: a value
 * is a double's bits in an atomic word); only making a new series takes the
 * family's lock. Scrape-time values (gauges read from elsewhere) come from
 * collectors, run under the registry's scrape lock just before the text is
 * written. Portable: no Linux calls (the Windows build counts too).
 *
 *   r = metrics_registry_new();
 *   f = metrics_counter(r, "uvmd_x_total", "Things done.", labels, 1);
 *   metrics_add(metrics_series(f, (const char *[]){"a"}), 1);
 *   metrics_expose(r, &text, &len);
 */

#include <stdbool.h>
#include <stddef.h>

enum metrics_type {
        METRICS_COUNTER,
        METRICS_GAUGE,
        METRICS_HISTOGRAM,
};

#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BUCKETS 32
#define METRICS_MAX_SERIES 4096 /* per family; beyond it updates are dropped */

struct metrics_registry;
struct metrics_family;
struct metrics_series;

struct metrics_registry *metrics_registry_new(void);
struct metrics_registry *metrics_registry_free(struct metrics_registry *r);

/* Declare a family. labels: n_labels names (copied); buckets: strictly
 * increasing upper bounds, +Inf implied (copied). NULL on bad arguments (a
 * programmer error: a bad name, a reused name, too many labels or buckets)
 * or out of memory. Names and help are copied. */
struct metrics_family *metrics_counter(struct metrics_registry *r, const char *name,
                                       const char *help, const char *const *labels,
                                       size_t n_labels);
struct metrics_family *metrics_gauge(struct metrics_registry *r, const char *name, const char *help,
                                     const char *const *labels, size_t n_labels);
struct metrics_family *metrics_histogram(struct metrics_registry *r, const char *name,
                                         const char *help, const char *const *labels,
                                         size_t n_labels, const double *buckets, size_t n_buckets);

/* The series of these label values (as many as the family has labels;
 * NULL reads as ""), made on first use. NULL when f is NULL, out of memory
 * or the family is full; the update functions accept NULL and do nothing. */
struct metrics_series *metrics_series(struct metrics_family *f, const char *const *values);

void metrics_add(struct metrics_series *s, double v);     /* counter or gauge */
void metrics_set(struct metrics_series *s, double v);     /* gauge (collectors: counters too) */
void metrics_observe(struct metrics_series *s, double v); /* histogram */

/* Every series of a gauge family back to 0 (a collector, before it counts). */
void metrics_family_reset(struct metrics_family *f);

/* fn runs at each scrape, before the text is written, under the scrape lock
 * (one scrape at a time). -ENOMEM or 0. */
int metrics_add_collector(struct metrics_registry *r, void (*fn)(void *data), void *data);

/* The whole registry as exposition text (NUL-terminated, malloc'd): every
 * family in declaration order with HELP and TYPE, series sorted by their
 * label values. -ENOMEM or 0. */
int metrics_expose(struct metrics_registry *r, char **ret_text, size_t *ret_len);

/* Seconds from plat_now_ns() nanoseconds, for observations. */
static inline double metrics_seconds(unsigned long long ns)
{
        return (double) ns / 1e9;
}
