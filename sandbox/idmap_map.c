/* User namespace id mappings: checks, the kernel's format, records (see
 * idmap.h). Portable: the pinned namespaces are in idmap.c (Linux). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "sandbox/idmap.h"

static bool overlaps(uint32_t a, uint32_t alen, uint32_t b, uint32_t blen)
{
        return (uint64_t) a < (uint64_t) b + blen && (uint64_t) b < (uint64_t) a + alen;
}

int idmap_check(const char *field, const struct idmap *m, struct uvm_error **err)
{
        if (m->n == 0 || m->n > IDMAP_MAX)
                return uvm_error_set(err, EINVAL, "%s: %zu ranges, need 1 to %d", field, m->n,
                                     IDMAP_MAX);
        for (size_t i = 0; i < m->n; i++) {
                const struct idmap_range *x = &m->r[i];

                if (x->len == 0)
                        return uvm_error_set(err, EINVAL, "%s[%zu]: length is 0", field, i);
                if ((uint64_t) x->host + x->len > UINT32_MAX ||
                    (uint64_t) x->ctr + x->len > UINT32_MAX)
                        return uvm_error_set(err, EINVAL,
                                             "%s[%zu]: the range passes 2^32-1 (not an id)", field,
                                             i);
                if (x->host == 0)
                        return uvm_error_set(err, EINVAL,
                                             "%s[%zu]: maps host id 0 into the pod, which would "
                                             "not isolate it",
                                             field, i);
                for (size_t j = 0; j < i; j++)
                        if (overlaps(x->host, x->len, m->r[j].host, m->r[j].len) ||
                            overlaps(x->ctr, x->len, m->r[j].ctr, m->r[j].len))
                                return uvm_error_set(err, EINVAL, "%s[%zu] overlaps %s[%zu]", field,
                                                     i, field, j);
        }
        if (idmap_to_host(m, 0) < 0)
                return uvm_error_set(err, EINVAL, "%s: container id 0 is not mapped", field);
        return 0;
}

int userns_map_check(const char *field, const struct userns_map *m, struct uvm_error **err)
{
        char sub[128];
        int r;

        snprintf(sub, sizeof(sub), "%s.uids", field);
        r = idmap_check(sub, &m->uids, err);
        if (r >= 0) {
                snprintf(sub, sizeof(sub), "%s.gids", field);
                r = idmap_check(sub, &m->gids, err);
        }
        return r;
}

bool idmap_equal(const struct idmap *a, const struct idmap *b)
{
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (a->r[i].host != b->r[i].host || a->r[i].ctr != b->r[i].ctr ||
                    a->r[i].len != b->r[i].len)
                        return false;
        return true;
}

int64_t idmap_to_host(const struct idmap *m, uint32_t id)
{
        for (size_t i = 0; i < m->n && i < IDMAP_MAX; i++)
                if (id >= m->r[i].ctr && (uint64_t) id < (uint64_t) m->r[i].ctr + m->r[i].len)
                        return (int64_t) m->r[i].host + (id - m->r[i].ctr);
        return -1;
}

int idmap_format(const struct idmap *m, char *buf, size_t size)
{
        size_t len = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < m->n && i < IDMAP_MAX; i++) {
                int n = snprintf(buf + len, size - len, "%u %u %u\n", m->r[i].ctr, m->r[i].host,
                                 m->r[i].len);
                if (n < 0 || (size_t) n >= size - len)
                        return -E2BIG;
                len += (size_t) n;
        }
        return (int) len;
}

json_object *idmap_to_json(const struct idmap *m)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < m->n && i < IDMAP_MAX; i++) {
                json_object *t = json_object_new_array();

                json_object_array_add(t, json_object_new_int64(m->r[i].host));
                json_object_array_add(t, json_object_new_int64(m->r[i].ctr));
                json_object_array_add(t, json_object_new_int64(m->r[i].len));
                json_object_array_add(a, t);
        }
        return a;
}

static bool u32_at(json_object *t, size_t i, uint32_t *ret)
{
        json_object *v = json_object_array_get_idx(t, i);
        int64_t x;

        if (!json_object_is_type(v, json_type_int))
                return false;
        x = json_object_get_int64(v);
        if (x < 0 || x > UINT32_MAX)
                return false;
        *ret = (uint32_t) x;
        return true;
}

int idmap_from_json(json_object *o, struct idmap *ret, const char **ret_why)
{
        struct idmap m = {0};

        if (!json_object_is_type(o, json_type_array) || json_object_array_length(o) > IDMAP_MAX) {
                *ret_why = "not an array of at most 8 ranges";
                return -EINVAL;
        }
        m.n = json_object_array_length(o);
        for (size_t i = 0; i < m.n; i++) {
                json_object *t = json_object_array_get_idx(o, i);

                if (!json_object_is_type(t, json_type_array) || json_object_array_length(t) != 3 ||
                    !u32_at(t, 0, &m.r[i].host) || !u32_at(t, 1, &m.r[i].ctr) ||
                    !u32_at(t, 2, &m.r[i].len)) {
                        *ret_why = "a range is not [host, container, length] of 32-bit ids";
                        return -EINVAL;
                }
        }
        *ret = m;
        return 0;
}
