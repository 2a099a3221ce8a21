/* Helpers shared by the CRI handlers (see cri.h). */

#include <stdlib.h>
#include <string.h>

#include "service/cri.h"
#ifndef _WIN32
#include "sandbox/spec.h"
#endif

/* Map entries (protoc-c generates one struct per map; they share a shape). */
struct kv_entry {
        ProtobufCMessage base;
        char *key, *value;
};

int cri_kv_from(void *const *entries, size_t n, const char *field, struct record_kv **ret,
                size_t *ret_n, struct uvm_error **err)
{
        struct record_kv *v;
        int r;

        if (n > RECORD_MAX_KV) /* before anything is copied */
                return record_kv_check(field, NULL, n, err);
        v = calloc(n + 1, sizeof(*v));
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const struct kv_entry *e = entries[i];
                v[i].key = strdup(e->key ? e->key : "");
                v[i].value = strdup(e->value ? e->value : "");
                if (!v[i].key || !v[i].value) {
                        record_kv_free(v, i + 1);
                        return uvm_error_set(err, ENOMEM, "out of memory");
                }
        }
        r = record_kv_check(field, v, n, err);
        if (r < 0) {
                record_kv_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

void *cri_kv_to(struct srv_ctx *ctx, const struct record_kv *kv, size_t n,
                const ProtobufCMessageDescriptor *desc, size_t *ret_n)
{
        void **v = srv_new_array(ctx, void *, n);
        /* The entries in one block: List calls build thousands. */
        char *block = n ? srv_alloc(ctx, n * desc->sizeof_message) : NULL;

        if (!v || (n && !block))
                return NULL;
        for (size_t i = 0; i < n; i++) {
                struct kv_entry *e = (void *) (block + i * desc->sizeof_message);
                protobuf_c_message_init(desc, e);
                e->key = srv_strdup(ctx, kv[i].key);
                e->value = srv_strdup(ctx, kv[i].value);
                if (!e->key || !e->value)
                        return NULL;
                v[i] = e;
        }
        *ret_n = n;
        return v;
}

void *cri_room(struct srv_ctx *ctx, void *v, size_t n, size_t *cap, size_t size)
{
        size_t want;
        void *nv;

        if (v && n < *cap)
                return v;
        want = *cap > n ? *cap : (n ? 2 * n : 16);
        nv = srv_alloc(ctx, want * size);
        if (!nv)
                return NULL;
        if (n)
                memcpy(nv, v, n * size);
        *cap = want;
        return nv;
}

bool cri_labels_match(const struct record_kv *kv, size_t n, void *const *sel, size_t n_sel)
{
        for (size_t i = 0; i < n_sel; i++) {
                const struct kv_entry *want = sel[i];
                bool found = false;
                for (size_t k = 0; k < n && !found; k++)
                        found = STR_EQ(kv[k].key, want->key) && STR_EQ(kv[k].value, want->value);
                if (!found)
                        return false;
        }
        return true;
}

Runtime__V1__UInt64Value *cri_u64(struct srv_ctx *ctx, uint64_t v)
{
        Runtime__V1__UInt64Value *m = srv_new(ctx, Runtime__V1__UInt64Value);

        if (m) {
                runtime__v1__uint64_value__init(m);
                m->value = v;
        }
        return m;
}

Runtime__V1__ContainerState cri_ctr_state(enum ctr_state s)
{
        switch (s) {
        case CTR_CREATED:
                return RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
        case CTR_RUNNING:
                return RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        case CTR_EXITED:
                return RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
        default:
                return RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
        }
}

/* User namespaces are Linux only. */
#ifndef _WIN32
int cri_userns_from(const Runtime__V1__UserNamespace *u, struct userns_map *ret,
                    struct uvm_error **err)
{
        const char *f = "namespace_options.userns_options";
        int r;

        *ret = (struct userns_map){0};
        if (!u || u->mode == RUNTIME__V1__NAMESPACE_MODE__NODE) {
                if (u && (u->n_uids || u->n_gids))
                        return uvm_error_set(err, EINVAL, "%s: mode NODE takes no mappings", f);
                return 0;
        }
        if (u->mode != RUNTIME__V1__NAMESPACE_MODE__POD)
                return uvm_error_set(err, EINVAL, "%s.mode: only POD and NODE are supported", f);
        r = spec_idmap_from_cri("namespace_options.userns_options.uids", u->uids, u->n_uids,
                                &ret->uids, err);
        if (r >= 0)
                r = spec_idmap_from_cri("namespace_options.userns_options.gids", u->gids, u->n_gids,
                                        &ret->gids, err);
        if (r < 0)
                *ret = (struct userns_map){0};
        return r;
}
#endif
