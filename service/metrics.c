/* The metrics registry and its text exposition (see metrics.h). */

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "service/metrics.h"

struct metrics_series {
        struct metrics_series *next; /* immutable once published */
        struct metrics_family *family;
        uint64_t hash;             /* of the label values */
        char **values;             /* n_labels strings, immutable */
        _Atomic uint64_t value;    /* counter/gauge: a double's bits */
        _Atomic uint64_t sum;      /* histogram: a double's bits */
        _Atomic uint64_t counts[]; /* histogram: per bucket, +Inf last (not cumulative) */
};

struct metrics_family {
        struct metrics_family *next; /* registry order (registry lock) */
        enum metrics_type type;
        char *name, *help;
        char *labels[METRICS_MAX_LABELS];
        size_t n_labels;
        double buckets[METRICS_MAX_BUCKETS];
        size_t n_buckets;
        pthread_mutex_t lock; /* serialises making series */
        _Atomic(struct metrics_series *) head;
        size_t n_series; /* lock */
};

struct metrics_collector {
        void (*fn)(void *data);
        void *data;
};

struct metrics_registry {
        pthread_mutex_t lock; /* the family list, collectors, one scrape at a time */
        struct metrics_family *families, **tail;
        struct metrics_collector *collectors;
        size_t n_collectors;
};

static uint64_t dbits(double v)
{
        uint64_t u;

        memcpy(&u, &v, sizeof(u));
        return u;
}

static double bitsd(uint64_t u)
{
        double v;

        memcpy(&v, &u, sizeof(v));
        return v;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
        uint64_t old = atomic_load_explicit(p, memory_order_relaxed);

        while (!atomic_compare_exchange_weak_explicit(p, &old, dbits(bitsd(old) + v),
                                                      memory_order_relaxed, memory_order_relaxed))
                ;
}

struct metrics_registry *metrics_registry_new(void)
{
        struct metrics_registry *r = calloc(1, sizeof(*r));

        if (!r)
                return NULL;
        pthread_mutex_init(&r->lock, NULL);
        r->tail = &r->families;
        return r;
}

static void series_free(struct metrics_series *s, size_t n_labels)
{
        for (size_t i = 0; i < n_labels; i++)
                free(s->values[i]);
        free(s->values);
        free(s);
}

static void family_free(struct metrics_family *f)
{
        struct metrics_series *s = atomic_load(&f->head), *next;

        for (; s; s = next) {
                next = s->next;
                series_free(s, f->n_labels);
        }
        for (size_t i = 0; i < f->n_labels; i++)
                free(f->labels[i]);
        free(f->name);
        free(f->help);
        pthread_mutex_destroy(&f->lock);
        free(f);
}

struct metrics_registry *metrics_registry_free(struct metrics_registry *r)
{
        struct metrics_family *f, *next;

        if (!r)
                return NULL;
        for (f = r->families; f; f = next) {
                next = f->next;
                family_free(f);
        }
        free(r->collectors);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

static bool name_ok(const char *s, bool colon)
{
        if (!s || !*s || (*s >= '0' && *s <= '9'))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':')))
                        return false;
        return true;
}

static bool labels_ok(enum metrics_type t, const char *const *labels, size_t n)
{
        if (n > METRICS_MAX_LABELS || (n && !labels))
                return false;
        for (size_t i = 0; i < n; i++) {
                if (!name_ok(labels[i], false) || strncmp(labels[i], "__", 2) == 0 ||
                    (t == METRICS_HISTOGRAM && STR_EQ(labels[i], "le")))
                        return false;
                for (size_t k = 0; k < i; k++)
                        if (STR_EQ(labels[i], labels[k]))
                                return false;
        }
        return true;
}

static bool buckets_ok(const double *b, size_t n)
{
        if (n == 0 || n > METRICS_MAX_BUCKETS || !b)
                return false;
        for (size_t i = 0; i < n; i++)
                if (isnan(b[i]) || isinf(b[i]) || (i > 0 && b[i] <= b[i - 1]))
                        return false;
        return true;
}

static struct metrics_family *family_new(struct metrics_registry *r, enum metrics_type t,
                                         const char *name, const char *help,
                                         const char *const *labels, size_t n_labels,
                                         const double *buckets, size_t n_buckets)
{
        struct metrics_family *f, *g;
        bool ok = true;

        if (!r || !name_ok(name, true) || !help || !labels_ok(t, labels, n_labels) ||
            (t == METRICS_HISTOGRAM && !buckets_ok(buckets, n_buckets)))
                return NULL;
        f = calloc(1, sizeof(*f));
        if (!f)
                return NULL;
        pthread_mutex_init(&f->lock, NULL);
        atomic_init(&f->head, NULL);
        f->type = t;
        f->name = strdup(name);
        f->help = strdup(help);
        ok = f->name && f->help;
        for (size_t i = 0; i < n_labels; i++, f->n_labels++)
                ok = ok && (f->labels[i] = strdup(labels[i]));
        if (t == METRICS_HISTOGRAM) {
                memcpy(f->buckets, buckets, n_buckets * sizeof(double));
                f->n_buckets = n_buckets;
        }
        pthread_mutex_lock(&r->lock);
        for (g = r->families; ok && g; g = g->next)
                ok = !STR_EQ(g->name, name);
        if (ok) {
                *r->tail = f;
                r->tail = &f->next;
        }
        pthread_mutex_unlock(&r->lock);
        if (!ok) {
                family_free(f);
                return NULL;
        }
        return f;
}

struct metrics_family *metrics_counter(struct metrics_registry *r, const char *name,
                                       const char *help, const char *const *labels, size_t n_labels)
{
        return family_new(r, METRICS_COUNTER, name, help, labels, n_labels, NULL, 0);
}

struct metrics_family *metrics_gauge(struct metrics_registry *r, const char *name, const char *help,
                                     const char *const *labels, size_t n_labels)
{
        return family_new(r, METRICS_GAUGE, name, help, labels, n_labels, NULL, 0);
}

struct metrics_family *metrics_histogram(struct metrics_registry *r, const char *name,
                                         const char *help, const char *const *labels,
                                         size_t n_labels, const double *buckets, size_t n_buckets)
{
        return family_new(r, METRICS_HISTOGRAM, name, help, labels, n_labels, buckets, n_buckets);
}

/* FNV-1a over the values, each with its terminating NUL. */
static uint64_t values_hash(const char *const *values, size_t n)
{
        uint64_t h = 14695981039346656037ull;

        for (size_t i = 0; i < n; i++) {
                const char *v = values && values[i] ? values[i] : "";
                do {
                        h ^= (unsigned char) *v;
                        h *= 1099511628211ull;
                } while (*v++);
        }
        return h;
}

static bool values_equal(const struct metrics_series *s, const char *const *values, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!STR_EQ(s->values[i], values && values[i] ? values[i] : ""))
                        return false;
        return true;
}

static struct metrics_series *find(struct metrics_family *f, uint64_t h, const char *const *values)
{
        struct metrics_series *s = atomic_load_explicit(&f->head, memory_order_acquire);

        for (; s; s = s->next)
                if (s->hash == h && values_equal(s, values, f->n_labels))
                        return s;
        return NULL;
}

static struct metrics_series *series_new(struct metrics_family *f, uint64_t h,
                                         const char *const *values)
{
        size_t n_counts = f->type == METRICS_HISTOGRAM ? f->n_buckets + 1 : 0;
        struct metrics_series *s = calloc(1, sizeof(*s) + n_counts * sizeof(s->counts[0]));
        bool ok;

        if (!s)
                return NULL;
        s->hash = h;
        s->family = f;
        s->values = calloc(f->n_labels + 1, sizeof(char *));
        ok = s->values != NULL;
        for (size_t i = 0; ok && i < f->n_labels; i++)
                ok = (s->values[i] = strdup(values && values[i] ? values[i] : "")) != NULL;
        if (!ok) {
                series_free(s, s->values ? f->n_labels : 0);
                return NULL;
        }
        atomic_init(&s->value, dbits(0));
        atomic_init(&s->sum, dbits(0));
        for (size_t i = 0; i < n_counts; i++)
                atomic_init(&s->counts[i], 0);
        return s;
}

struct metrics_series *metrics_series(struct metrics_family *f, const char *const *values)
{
        struct metrics_series *s;
        uint64_t h;

        if (!f)
                return NULL;
        h = values_hash(values, f->n_labels);
        s = find(f, h, values);
        if (s)
                return s;
        pthread_mutex_lock(&f->lock);
        s = find(f, h, values);
        if (!s && f->n_series < METRICS_MAX_SERIES) {
                s = series_new(f, h, values);
                if (s) {
                        s->next = atomic_load_explicit(&f->head, memory_order_relaxed);
                        atomic_store_explicit(&f->head, s, memory_order_release);
                        f->n_series++;
                }
        }
        pthread_mutex_unlock(&f->lock);
        return s;
}

void metrics_add(struct metrics_series *s, double v)
{
        if (s)
                atomic_add_double(&s->value, v);
}

void metrics_set(struct metrics_series *s, double v)
{
        if (s)
                atomic_store_explicit(&s->value, dbits(v), memory_order_relaxed);
}

void metrics_observe(struct metrics_series *s, double v)
{
        struct metrics_family *f;
        size_t i = 0;

        if (!s || (f = s->family)->type != METRICS_HISTOGRAM)
                return;
        while (i < f->n_buckets && !(v <= f->buckets[i]))
                i++;
        atomic_fetch_add_explicit(&s->counts[i], 1, memory_order_relaxed);
        atomic_add_double(&s->sum, v);
}

void metrics_family_reset(struct metrics_family *f)
{
        struct metrics_series *s;

        if (!f || f->type != METRICS_GAUGE)
                return;
        for (s = atomic_load_explicit(&f->head, memory_order_acquire); s; s = s->next)
                atomic_store_explicit(&s->value, dbits(0), memory_order_relaxed);
}

int metrics_add_collector(struct metrics_registry *r, void (*fn)(void *data), void *data)
{
        struct metrics_collector *v;

        pthread_mutex_lock(&r->lock);
        v = realloc(r->collectors, (r->n_collectors + 1) * sizeof(*v));
        if (v) {
                v[r->n_collectors++] = (struct metrics_collector){fn, data};
                r->collectors = v;
        }
        pthread_mutex_unlock(&r->lock);
        return v ? 0 : -ENOMEM;
}

/* --- exposition --- */

struct buf {
        char *p;
        size_t len, cap;
        bool oom;
};

static void buf_grow(struct buf *b, size_t more)
{
        size_t cap = b->cap ? b->cap : 4096;
        char *p;

        while (cap < b->len + more + 1)
                cap *= 2;
        if (cap == b->cap)
                return;
        p = realloc(b->p, cap);
        if (!p) {
                b->oom = true;
                return;
        }
        b->p = p;
        b->cap = cap;
}

static void buf_put(struct buf *b, const char *s, size_t n)
{
        buf_grow(b, n);
        if (b->oom)
                return;
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
        buf_put(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...)
{
        char tmp[128];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= sizeof(tmp)) {
                b->oom = true; /* only short numbers come here */
                return;
        }
        buf_put(b, tmp, (size_t) n);
}

/* HELP text escapes backslash and newline; label values also '"'. */
static void buf_escaped(struct buf *b, const char *s, bool quote)
{
        for (; *s; s++) {
                if (*s == '\\')
                        buf_str(b, "\\\\");
                else if (*s == '\n')
                        buf_str(b, "\\n");
                else if (quote && *s == '"')
                        buf_str(b, "\\\"");
                else
                        buf_put(b, s, 1);
        }
}

/* The shortest text that reads back as v (Go's strconv 'g', -1). */
static void buf_value(struct buf *b, double v)
{
        char tmp[40];

        if (isnan(v)) {
                buf_str(b, "NaN");
                return;
        }
        if (isinf(v)) {
                buf_str(b, v > 0 ? "+Inf" : "-Inf");
                return;
        }
        if (v == floor(v) && fabs(v) < 1e15) { /* counts: all digits, no exponent */
                snprintf(tmp, sizeof(tmp), "%.0f", v);
                buf_str(b, tmp);
                return;
        }
        for (int prec = 1; prec <= 17; prec++) {
                snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
                if (strtod(tmp, NULL) == v)
                        break;
        }
        buf_str(b, tmp);
}

/* {a="x",b="y"[,le="..."]} or nothing at all. */
static void buf_labels(struct buf *b, const struct metrics_family *f,
                       const struct metrics_series *s, const double *le)
{
        if (f->n_labels == 0 && !le)
                return;
        buf_str(b, "{");
        for (size_t i = 0; i < f->n_labels; i++) {
                buf_str(b, i ? "," : "");
                buf_str(b, f->labels[i]);
                buf_str(b, "=\"");
                buf_escaped(b, s->values[i], true);
                buf_str(b, "\"");
        }
        if (le) {
                buf_str(b, f->n_labels ? ",le=\"" : "le=\"");
                buf_value(b, *le);
                buf_str(b, "\"");
        }
        buf_str(b, "}");
}

static void expose_series(struct buf *b, const struct metrics_family *f,
                          const struct metrics_series *s)
{
        static const double inf = INFINITY;
        uint64_t cum = 0;

        if (f->type != METRICS_HISTOGRAM) {
                buf_str(b, f->name);
                buf_labels(b, f, s, NULL);
                buf_str(b, " ");
                buf_value(b, bitsd(atomic_load_explicit(&s->value, memory_order_relaxed)));
                buf_str(b, "\n");
                return;
        }
        for (size_t i = 0; i <= f->n_buckets; i++) {
                cum += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
                buf_str(b, f->name);
                buf_str(b, "_bucket");
                buf_labels(b, f, s, i < f->n_buckets ? &f->buckets[i] : &inf);
                buf_printf(b, " %llu\n", (unsigned long long) cum);
        }
        buf_str(b, f->name);
        buf_str(b, "_sum");
        buf_labels(b, f, s, NULL);
        buf_str(b, " ");
        buf_value(b, bitsd(atomic_load_explicit(&s->sum, memory_order_relaxed)));
        buf_str(b, "\n");
        buf_str(b, f->name);
        buf_str(b, "_count");
        buf_labels(b, f, s, NULL);
        /* +Inf's cumulative count, so that the two always agree. */
        buf_printf(b, " %llu\n", (unsigned long long) cum);
}

static size_t sort_labels; /* n_labels of the family being sorted (scrape lock) */

static int series_cmp(const void *a, const void *b)
{
        const struct metrics_series *x = *(const struct metrics_series *const *) a;
        const struct metrics_series *y = *(const struct metrics_series *const *) b;

        for (size_t i = 0; i < sort_labels; i++) {
                int c = strcmp(x->values[i], y->values[i]);
                if (c)
                        return c;
        }
        return 0;
}

static void expose_family(struct buf *b, const struct metrics_family *f)
{
        static const char *const types[] = {"counter", "gauge", "histogram"};
        struct metrics_series *s, **v;
        size_t n = 0, cap;

        buf_str(b, "# HELP ");
        buf_str(b, f->name);
        buf_str(b, " ");
        buf_escaped(b, f->help, false);
        buf_str(b, "\n# TYPE ");
        buf_str(b, f->name);
        buf_str(b, " ");
        buf_str(b, types[f->type]);
        buf_str(b, "\n");
        /* New series may be published meanwhile: take what is there now. */
        cap = METRICS_MAX_SERIES;
        v = malloc(cap * sizeof(*v));
        if (!v) {
                b->oom = true;
                return;
        }
        for (s = atomic_load_explicit(&f->head, memory_order_acquire); s && n < cap; s = s->next)
                v[n++] = s;
        sort_labels = f->n_labels;
        qsort(v, n, sizeof(*v), series_cmp);
        for (size_t i = 0; i < n; i++)
                expose_series(b, f, v[i]);
        free(v);
}

int metrics_expose(struct metrics_registry *r, char **ret_text, size_t *ret_len)
{
        struct buf b = {0};

        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n_collectors; i++)
                r->collectors[i].fn(r->collectors[i].data);
        buf_grow(&b, 0);
        for (const struct metrics_family *f = r->families; f && !b.oom; f = f->next)
                expose_family(&b, f);
        pthread_mutex_unlock(&r->lock);
        if (b.oom) {
                free(b.p);
                return -ENOMEM;
        }
        *ret_text = b.p;
        *ret_len = b.len;
        return 0;
}
