#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "service/dispatch.h"

struct dispatch_table {
        struct dispatch_entry *entries; /* sorted by path */
        size_t n;
};

static int entry_cmp(const void *a, const void *b)
{
        return strcmp(((const struct dispatch_entry *) a)->path,
                      ((const struct dispatch_entry *) b)->path);
}

static struct dispatch_entry *find(struct dispatch_table *t, const char *service,
                                   const char *method)
{
        for (size_t i = 0; i < t->n; i++)
                if (STR_EQ(t->entries[i].service->name, service) &&
                    STR_EQ(t->entries[i].method->name, method))
                        return &t->entries[i];
        return NULL;
}

static int bind_all(struct dispatch_table *t, const struct srv_binding *const *bindings,
                    size_t n_bindings, struct uvm_error **err)
{
        for (size_t i = 0; i < n_bindings; i++)
                for (const struct srv_binding *b = bindings[i]; b->service; b++) {
                        struct dispatch_entry *e = find(t, b->service, b->method);
                        if (!e)
                                return uvm_error_set(err, EINVAL,
                                                     "binding for unknown method %s/%s", b->service,
                                                     b->method);
                        if (e->binding)
                                return uvm_error_set(err, EEXIST, "method %s/%s bound twice",
                                                     b->service, b->method);
                        if ((b->kind == SRV_UNARY) != (b->unary != NULL) ||
                            (b->kind != SRV_UNARY) != (b->stream != NULL))
                                return uvm_error_set(err, EINVAL,
                                                     "binding %s/%s: handler does not match kind",
                                                     b->service, b->method);
                        e->binding = b;
                }
        return 0;
}

int dispatch_table_new(const ProtobufCServiceDescriptor *const *services, size_t n_services,
                       const struct srv_binding *const *bindings, size_t n_bindings,
                       struct dispatch_table **ret_table, struct uvm_error **err)
{
        struct dispatch_table *t = calloc(1, sizeof(*t));
        size_t total = 0, k = 0;
        int r;

        if (!t)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n_services; i++)
                total += services[i]->n_methods;
        t->entries = calloc(total ? total : 1, sizeof(*t->entries));
        if (!t->entries) {
                dispatch_table_free(t);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n_services; i++)
                for (unsigned j = 0; j < services[i]->n_methods; j++) {
                        struct dispatch_entry *e = &t->entries[k];
                        if (asprintf(&e->path, "/%s/%s", services[i]->name,
                                     services[i]->methods[j].name) < 0) {
                                t->n = k;
                                dispatch_table_free(t);
                                return uvm_error_set(err, ENOMEM, "out of memory");
                        }
                        e->service = services[i];
                        e->method = &services[i]->methods[j];
                        k++;
                }
        t->n = k;
        r = bind_all(t, bindings, n_bindings, err);
        if (r < 0) {
                dispatch_table_free(t);
                return r;
        }
        qsort(t->entries, t->n, sizeof(*t->entries), entry_cmp);
        for (size_t i = 1; i < t->n; i++)
                if (STR_EQ(t->entries[i - 1].path, t->entries[i].path)) {
                        r = uvm_error_set(err, EEXIST, "method %s listed twice",
                                          t->entries[i].path);
                        dispatch_table_free(t);
                        return r;
                }
        *ret_table = t;
        return 0;
}

struct dispatch_table *dispatch_table_free(struct dispatch_table *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n; i++)
                free(t->entries[i].path);
        free(t->entries);
        free(t);
        return NULL;
}

const struct dispatch_entry *dispatch_lookup(const struct dispatch_table *t, const char *path,
                                             size_t len)
{
        size_t lo = 0, hi = t->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const char *p = t->entries[mid].path;
                size_t plen = strlen(p);
                int c = memcmp(p, path, plen < len ? plen : len);
                if (c == 0)
                        c = plen < len ? -1 : plen > len ? 1 : 0;
                if (c == 0)
                        return &t->entries[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

size_t dispatch_count(const struct dispatch_table *t)
{
        return t->n;
}

const struct dispatch_entry *dispatch_at(const struct dispatch_table *t, size_t i)
{
        return i < t->n ? &t->entries[i] : NULL;
}
