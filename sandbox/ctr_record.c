/* Container records: copies, and the record file <pod dir>/containers/<id>.json
 * written on every change and read back, every field checked, after a
 * restart. Fields added since the first release (mounts, user, resources)
 * are optional on reading, so records of an older uvmd still load. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/platform.h"
#include "sandbox/container-internal.h"
#include "sandbox/ids.h"

#define MAX_MOUNTS 256

static char *xstrdup(const char *s)
{
        return s ? strdup(s) : NULL;
}

void ctr_mounts_free(struct ctr_mount *m, size_t n)
{
        for (size_t i = 0; m && i < n; i++) {
                free(m[i].container_path);
                free(m[i].host_path);
                free(m[i].image);
                free(m[i].image_id);
                free(m[i].image_sub_path);
        }
        free(m);
}

void ctr_resources_clear(struct ctr_resources *r)
{
        free(r->cpuset_cpus);
        free(r->cpuset_mems);
        memset(r, 0, sizeof(*r));
}

void ctr_record_clear(struct ctr_record *r)
{
        if (!r)
                return;
        free(r->id);
        free(r->pod_id);
        free(r->name);
        free(r->image);
        free(r->image_id);
        free(r->log_path);
        free(r->reason);
        free(r->message);
        record_kv_free(r->labels, r->n_labels);
        record_kv_free(r->annotations, r->n_annotations);
        ctr_mounts_free(r->mounts, r->n_mounts);
        ctr_resources_clear(&r->res);
        memset(r, 0, sizeof(*r));
}

static int mounts_copy(const struct ctr_mount *src, size_t n, struct ctr_mount **ret)
{
        struct ctr_mount *m = calloc(n + 1, sizeof(*m));
        bool ok = m != NULL;

        for (size_t i = 0; ok && i < n; i++) {
                m[i] = src[i];
                m[i].container_path = xstrdup(src[i].container_path);
                m[i].host_path = xstrdup(src[i].host_path);
                m[i].image = xstrdup(src[i].image);
                m[i].image_id = xstrdup(src[i].image_id);
                m[i].image_sub_path = xstrdup(src[i].image_sub_path);
                ok = m[i].container_path && (m[i].host_path || !src[i].host_path) &&
                     (m[i].image || !src[i].image) && (m[i].image_id || !src[i].image_id) &&
                     (m[i].image_sub_path || !src[i].image_sub_path);
        }
        if (!ok) {
                ctr_mounts_free(m, n);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

int ctr_record_copy(const struct ctr_record *src, struct ctr_record *dst)
{
        struct ctr_record r = *src;
        bool ok;

        r.id = xstrdup(src->id);
        r.pod_id = xstrdup(src->pod_id);
        r.name = xstrdup(src->name);
        r.image = xstrdup(src->image);
        r.image_id = xstrdup(src->image_id);
        r.log_path = xstrdup(src->log_path);
        r.reason = xstrdup(src->reason);
        r.message = xstrdup(src->message);
        r.res.cpuset_cpus = xstrdup(src->res.cpuset_cpus);
        r.res.cpuset_mems = xstrdup(src->res.cpuset_mems);
        r.labels = r.annotations = NULL;
        r.n_labels = r.n_annotations = 0;
        r.mounts = NULL;
        r.n_mounts = 0;
        if (record_kv_copy(src->labels, src->n_labels, &r.labels) == 0)
                r.n_labels = src->n_labels;
        if (record_kv_copy(src->annotations, src->n_annotations, &r.annotations) == 0)
                r.n_annotations = src->n_annotations;
        if (mounts_copy(src->mounts, src->n_mounts, &r.mounts) == 0)
                r.n_mounts = src->n_mounts;
        ok = (r.res.cpuset_cpus || !src->res.cpuset_cpus) &&
             (r.res.cpuset_mems || !src->res.cpuset_mems);
        if (!ok || !r.id || !r.pod_id || !r.name || !r.labels || !r.annotations || !r.mounts) {
                ctr_record_clear(&r);
                return -ENOMEM;
        }
        *dst = r;
        return 0;
}

/* --- writing --- */

static void add_str(json_object *o, const char *k, const char *v)
{
        if (v)
                json_object_object_add(o, k, json_object_new_string(v));
}

static void add_int(json_object *o, const char *k, int64_t v)
{
        json_object_object_add(o, k, json_object_new_int64(v));
}

static json_object *mounts_json(const struct ctr_mount *m, size_t n)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_new_object();

                add_str(o, "containerPath", m[i].container_path);
                add_str(o, "hostPath", m[i].host_path);
                add_str(o, "image", m[i].image);
                add_str(o, "imageId", m[i].image_id);
                add_str(o, "imageSubPath", m[i].image_sub_path);
                json_object_object_add(o, "readonly", json_object_new_boolean(m[i].readonly));
                json_object_object_add(o, "recursiveReadOnly",
                                       json_object_new_boolean(m[i].recursive_read_only));
                add_int(o, "propagation", m[i].propagation);
                json_object_array_add(a, o);
        }
        return a;
}

static json_object *user_json(const struct ctr_user *u)
{
        json_object *o = json_object_new_object(), *g = json_object_new_array();

        add_int(o, "uid", u->uid);
        add_int(o, "gid", u->gid);
        for (size_t i = 0; i < u->n_groups; i++)
                json_object_array_add(g, json_object_new_int64(u->groups[i]));
        json_object_object_add(o, "groups", g);
        return o;
}

static json_object *resources_json(const struct ctr_resources *r)
{
        json_object *o = json_object_new_object();

        add_int(o, "cpuPeriod", r->cpu_period);
        add_int(o, "cpuQuota", r->cpu_quota);
        add_int(o, "cpuShares", r->cpu_shares);
        add_int(o, "memoryLimitInBytes", r->memory_limit_in_bytes);
        add_int(o, "memorySwapLimitInBytes", r->memory_swap_limit_in_bytes);
        add_int(o, "oomScoreAdj", r->oom_score_adj);
        add_str(o, "cpusetCpus", r->cpuset_cpus);
        add_str(o, "cpusetMems", r->cpuset_mems);
        return o;
}

int ctr_record_write(const char *path, const struct ctr_record *r, struct uvm_error **err)
{
        json_object *o = json_object_new_object();
        const char *text;
        int rc;

        add_str(o, "id", r->id);
        add_str(o, "podId", r->pod_id);
        add_str(o, "name", r->name);
        add_int(o, "attempt", r->attempt);
        add_str(o, "image", r->image);
        add_str(o, "imageId", r->image_id);
        add_str(o, "logPath", r->log_path);
        add_str(o, "state", ctr_state_to_string(r->state));
        add_int(o, "createdNs", r->created_ns);
        add_int(o, "startedNs", r->started_ns);
        add_int(o, "finishedNs", r->finished_ns);
        add_int(o, "exitCode", r->exit_code);
        add_str(o, "reason", r->reason);
        add_str(o, "message", r->message);
        json_object_object_add(o, "labels", record_kv_to_json(r->labels, r->n_labels));
        json_object_object_add(o, "annotations",
                               record_kv_to_json(r->annotations, r->n_annotations));
        json_object_object_add(o, "mounts", mounts_json(r->mounts, r->n_mounts));
        json_object_object_add(o, "user", user_json(&r->user));
        json_object_object_add(o, "resources", resources_json(&r->res));
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        rc = plat_write_file_atomic(path, text, strlen(text), 0600);
        json_object_put(o);
        if (rc < 0)
                return uvm_error_set(err, -rc, "write %s: %s", path, strerror(-rc));
        return 0;
}

/* --- reading --- */

/* A container record's labels or annotations: required. */
static int load_kv(json_object *o, const char *key, struct record_kv **ret, size_t *ret_n)
{
        const char *why;
        json_object *m;

        *ret = NULL;
        *ret_n = 0;
        if (!json_object_object_get_ex(o, key, &m))
                return -EINVAL;
        return record_kv_from_json(m, ret, ret_n, &why);
}

static char *get_s(json_object *o, const char *key, bool *ok, bool required)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v)) {
                *ok = *ok && !required;
                return NULL;
        }
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) > 4096) {
                *ok = false;
                return NULL;
        }
        return strdup(json_object_get_string(v));
}

static int64_t get_i(json_object *o, const char *key, bool *ok)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int)) {
                *ok = false;
                return 0;
        }
        return json_object_get_int64(v);
}

static bool get_b(json_object *o, const char *key, bool *ok)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean)) {
                *ok = false;
                return false;
        }
        return json_object_get_boolean(v);
}

static bool id_ok(int64_t v)
{
        return v >= 0 && v <= 0xfffffffeLL;
}

static bool load_mounts(json_object *o, struct ctr_record *r)
{
        json_object *a;
        size_t n;
        bool ok = true;

        if (!json_object_object_get_ex(o, "mounts", &a))
                return (r->mounts = calloc(1, sizeof(*r->mounts))) != NULL;
        if (!json_object_is_type(a, json_type_array) ||
            (n = json_object_array_length(a)) > MAX_MOUNTS ||
            !(r->mounts = calloc(n + 1, sizeof(*r->mounts))))
                return false;
        for (size_t i = 0; ok && i < n; i++) {
                json_object *m = json_object_array_get_idx(a, i);
                struct ctr_mount *x = &r->mounts[i];

                r->n_mounts = i + 1; /* cleared by the caller even when damaged */
                if (!json_object_is_type(m, json_type_object))
                        return false;
                x->container_path = get_s(m, "containerPath", &ok, true);
                x->host_path = get_s(m, "hostPath", &ok, false);
                x->image = get_s(m, "image", &ok, false);
                x->image_id = get_s(m, "imageId", &ok, false);
                x->image_sub_path = get_s(m, "imageSubPath", &ok, false);
                x->readonly = get_b(m, "readonly", &ok);
                x->recursive_read_only = get_b(m, "recursiveReadOnly", &ok);
                x->propagation = (int) get_i(m, "propagation", &ok);
                ok = ok && x->propagation >= 0 && x->propagation <= 2;
        }
        return ok;
}

static bool load_user(json_object *o, struct ctr_user *u)
{
        json_object *x, *g;
        bool ok = true;
        int64_t v;

        if (!json_object_object_get_ex(o, "user", &x))
                return true;
        v = get_i(x, "uid", &ok);
        u->uid = (unsigned) v;
        ok = ok && id_ok(v);
        v = get_i(x, "gid", &ok);
        u->gid = (unsigned) v;
        ok = ok && id_ok(v) && json_object_object_get_ex(x, "groups", &g) &&
             json_object_is_type(g, json_type_array) &&
             json_object_array_length(g) <= CTR_USER_MAX_GROUPS;
        for (size_t i = 0; ok && i < json_object_array_length(g); i++) {
                json_object *e = json_object_array_get_idx(g, i);
                v = json_object_get_int64(e);
                ok = json_object_is_type(e, json_type_int) && id_ok(v);
                u->groups[u->n_groups++] = (unsigned) v;
        }
        return ok;
}

static bool load_resources(json_object *o, struct ctr_resources *r)
{
        json_object *x;
        bool ok = true;

        if (!json_object_object_get_ex(o, "resources", &x))
                return true;
        r->cpu_period = get_i(x, "cpuPeriod", &ok);
        r->cpu_quota = get_i(x, "cpuQuota", &ok);
        r->cpu_shares = get_i(x, "cpuShares", &ok);
        r->memory_limit_in_bytes = get_i(x, "memoryLimitInBytes", &ok);
        r->memory_swap_limit_in_bytes = get_i(x, "memorySwapLimitInBytes", &ok);
        r->oom_score_adj = get_i(x, "oomScoreAdj", &ok);
        r->cpuset_cpus = get_s(x, "cpusetCpus", &ok, false);
        r->cpuset_mems = get_s(x, "cpusetMems", &ok, false);
        return ok;
}

/* Read one record file; every field checked. */
int ctr_record_load(const char *path, struct ctr_record *r)
{
        _cleanup_free_ char *text = NULL, *state = NULL;
        json_object *o;
        bool ok = true;
        int64_t v;

        if (plat_read_file(path, RECORD_MAX_BYTES, &text, NULL) < 0)
                return -EIO;
        o = json_tokener_parse(text);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EINVAL;
        }
        r->id = get_s(o, "id", &ok, true);
        r->pod_id = get_s(o, "podId", &ok, true);
        r->name = get_s(o, "name", &ok, true);
        r->image = get_s(o, "image", &ok, true);
        r->image_id = get_s(o, "imageId", &ok, false);
        r->log_path = get_s(o, "logPath", &ok, false);
        r->reason = get_s(o, "reason", &ok, false);
        r->message = get_s(o, "message", &ok, false);
        state = get_s(o, "state", &ok, true);
        v = get_i(o, "attempt", &ok);
        r->attempt = v >= 0 && v <= UINT32_MAX ? (uint32_t) v : 0;
        r->created_ns = get_i(o, "createdNs", &ok);
        r->started_ns = get_i(o, "startedNs", &ok);
        r->finished_ns = get_i(o, "finishedNs", &ok);
        r->exit_code = (int) get_i(o, "exitCode", &ok);
        ok = ok && load_kv(o, "labels", &r->labels, &r->n_labels) == 0 &&
             load_kv(o, "annotations", &r->annotations, &r->n_annotations) == 0;
        ok = ok && load_mounts(o, r) && load_user(o, &r->user) && load_resources(o, &r->res);
        json_object_put(o);
        ok = ok && r->id && sbx_id_valid(r->id) && state &&
             ctr_state_from_string(state, &r->state) == 0;
        return ok ? 0 : -EINVAL;
}
