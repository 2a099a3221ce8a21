#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/platform.h"
#include "sandbox/ids.h"
#include "sandbox/record.h"

void record_kv_free(struct record_kv *kv, size_t n)
{
        for (size_t i = 0; kv && i < n; i++) {
                free(kv[i].key);
                free(kv[i].value);
        }
        free(kv);
}

int record_kv_copy(const struct record_kv *src, size_t n, struct record_kv **ret)
{
        struct record_kv *v = calloc(n + 1, sizeof(*v));

        for (size_t i = 0; v && i < n; i++) {
                v[i].key = strdup(src[i].key);
                v[i].value = strdup(src[i].value);
                if (!v[i].key || !v[i].value) {
                        record_kv_free(v, i + 1);
                        return -ENOMEM;
                }
        }
        if (!v)
                return -ENOMEM;
        *ret = v;
        return 0;
}

json_object *record_kv_to_json(const struct record_kv *kv, size_t n)
{
        json_object *o = json_object_new_object();

        for (size_t i = 0; i < n; i++)
                json_object_object_add(o, kv[i].key, json_object_new_string(kv[i].value));
        return o;
}

int record_kv_check(const char *field, const struct record_kv *kv, size_t n, struct uvm_error **err)
{
        size_t bytes = 0;

        if (n > RECORD_MAX_KV)
                return uvm_error_set(err, EINVAL, "%s: %zu entries, at most %d", field, n,
                                     RECORD_MAX_KV);
        for (size_t i = 0; i < n; i++) {
                size_t k = strlen(kv[i].key);

                if (k == 0 || k > RECORD_MAX_KEY)
                        return uvm_error_set(err, EINVAL, "%s: key %zu is empty or over %d bytes",
                                             field, i, RECORD_MAX_KEY);
                bytes += k + strlen(kv[i].value);
        }
        if (bytes > RECORD_MAX_KV_BYTES)
                return uvm_error_set(err, EINVAL, "%s: %zu bytes of keys and values, at most %d",
                                     field, bytes, RECORD_MAX_KV_BYTES);
        return 0;
}

int record_kv_from_json(json_object *o, struct record_kv **ret, size_t *ret_n, const char **ret_why)
{
        struct record_kv *v;
        size_t n = 0;

        if (!json_object_is_type(o, json_type_object) ||
            json_object_object_length(o) > RECORD_MAX_KV) {
                *ret_why = "expected an object of at most 256 strings";
                return -EINVAL;
        }
        v = calloc((size_t) json_object_object_length(o) + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        json_object_object_foreach (o, key, val) {
                if (!json_object_is_type(val, json_type_string)) {
                        record_kv_free(v, n);
                        *ret_why = "values must be strings";
                        return -EINVAL;
                }
                v[n].key = strdup(key);
                v[n].value = strdup(json_object_get_string(val));
                if (!v[n].key || !v[n].value) {
                        record_kv_free(v, n + 1);
                        return -ENOMEM;
                }
                n++;
        }
        if (record_kv_check("", v, n, NULL) < 0) {
                record_kv_free(v, n);
                *ret_why = "over the label/annotation limits";
                return -EINVAL;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

void pod_record_clear(struct pod_record *r)
{
        if (!r)
                return;
        free(r->id);
        free(r->name);
        free(r->namespace_);
        free(r->uid);
        free(r->runtime_handler);
        free(r->driver);
        free(r->hostname);
        free(r->log_directory);
        free(r->netns_path);
        for (size_t i = 0; i < r->n_ips && i < 2; i++)
                free(r->ips[i]);
        record_kv_free(r->labels, r->n_labels);
        record_kv_free(r->annotations, r->n_annotations);
        strv_free(r->sysctls);
        free(r->cgroup_parent);
        memset(r, 0, sizeof(*r));
}

static void add_str(json_object *o, const char *k, const char *v)
{
        if (v)
                json_object_object_add(o, k, json_object_new_string(v));
}

int pod_record_save(const char *pod_dir, const struct pod_record *r, struct uvm_error **err)
{
        json_object *o = json_object_new_object(), *u = json_object_new_object();
        _cleanup_free_ char *path = NULL;
        const char *text;
        int rc;

        add_str(o, "id", r->id);
        add_str(o, "name", r->name);
        add_str(o, "namespace", r->namespace_);
        add_str(o, "uid", r->uid);
        json_object_object_add(o, "attempt", json_object_new_int64(r->attempt));
        add_str(o, "state", pod_state_to_string(r->state));
        json_object_object_add(o, "createdNs", json_object_new_int64(r->created_ns));
        add_str(o, "runtimeHandler", r->runtime_handler);
        add_str(o, "driver", r->driver);
        add_str(o, "hostname", r->hostname);
        add_str(o, "logDirectory", r->log_directory);
        add_str(o, "netnsPath", r->netns_path);
        add_str(o, "cgroupParent", r->cgroup_parent);
        if (r->n_ips > 0) {
                json_object *ips = json_object_new_array();
                for (size_t i = 0; i < r->n_ips && i < 2; i++)
                        json_object_array_add(ips, json_object_new_string(r->ips[i]));
                json_object_object_add(o, "ips", ips);
        }
        json_object_object_add(o, "hostIPC", json_object_new_boolean(r->host_ipc));
        json_object_object_add(o, "hostPID", json_object_new_boolean(r->host_pid));
        json_object_object_add(o, "sharePID", json_object_new_boolean(r->share_pid));
        if (r->sysctls) {
                json_object *a = json_object_new_array();
                for (char **kv = r->sysctls; *kv; kv++)
                        json_object_array_add(a, json_object_new_string(*kv));
                json_object_object_add(o, "sysctls", a);
        }
        json_object_object_add(u, "memoryMB", json_object_new_int64(r->uvm.memory_mb));
        json_object_object_add(u, "processors", json_object_new_int64(r->uvm.processors));
        json_object_object_add(u, "allowOvercommit",
                               json_object_new_boolean(r->uvm.allow_overcommit));
        json_object_object_add(u, "deferredCommit",
                               json_object_new_boolean(r->uvm.deferred_commit));
        json_object_object_add(o, "uvm", u);
        if (sbx_pod_limits_set(&r->limits)) {
                json_object *li = json_object_new_object();

                json_object_object_add(li, "memoryBytes",
                                       json_object_new_int64(r->limits.memory_bytes));
                json_object_object_add(li, "cpuQuota", json_object_new_int64(r->limits.cpu_quota));
                json_object_object_add(li, "cpuPeriod",
                                       json_object_new_int64(r->limits.cpu_period));
                json_object_object_add(li, "cpuShares",
                                       json_object_new_int64(r->limits.cpu_shares));
                json_object_object_add(o, "limits", li);
        }
        if (userns_map_enabled(&r->userns)) {
                json_object *un = json_object_new_object();

                json_object_object_add(un, "uids", idmap_to_json(&r->userns.uids));
                json_object_object_add(un, "gids", idmap_to_json(&r->userns.gids));
                json_object_object_add(o, "userns", un);
        }
        json_object_object_add(o, "labels", record_kv_to_json(r->labels, r->n_labels));
        json_object_object_add(o, "annotations",
                               record_kv_to_json(r->annotations, r->n_annotations));
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        rc = asprintf(&path, "%s/pod.json", pod_dir) < 0
                     ? -ENOMEM
                     : plat_write_file_atomic(path, text, strlen(text), 0600);
        json_object_put(o);
        if (rc < 0)
                return uvm_error_set(err, -rc, "write %s/pod.json: %s", pod_dir, strerror(-rc));
        return 0;
}

struct loader {
        json_object *root;
        const char *file;
        struct uvm_error **err;
};

static int bad(struct loader *l, const char *field, const char *why)
{
        return uvm_error_set(l->err, EINVAL, "%s: field \"%s\": %s", l->file, field, why);
}

static int get_str(struct loader *l, const char *k, bool required, char **ret)
{
        json_object *v;

        if (!json_object_object_get_ex(l->root, k, &v))
                return required ? bad(l, k, "missing") : 0;
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) > 4096)
                return bad(l, k, "expected a string of at most 4096 bytes");
        *ret = strdup(json_object_get_string(v));
        return *ret ? 0 : -ENOMEM;
}

static int get_int(json_object *o, const char *k, int64_t min, int64_t max, int64_t *ret,
                   struct loader *l)
{
        json_object *v;

        if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) < min || json_object_get_int64(v) > max)
                return bad(l, k, "missing or out of range");
        *ret = json_object_get_int64(v);
        return 0;
}

static bool get_bool(json_object *o, const char *k)
{
        json_object *v;

        return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

static int get_kv(struct loader *l, const char *k, struct record_kv **ret, size_t *ret_n)
{
        const char *why = NULL;
        json_object *o;
        int r;

        if (!json_object_object_get_ex(l->root, k, &o))
                return 0;
        r = record_kv_from_json(o, ret, ret_n, &why);
        return r == -EINVAL ? bad(l, k, why) : r;
}

static int get_ips(struct loader *l, struct pod_record *p)
{
        json_object *a;

        if (!json_object_object_get_ex(l->root, "ips", &a))
                return 0;
        if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) > 2)
                return bad(l, "ips", "expected an array of at most 2 addresses");
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *v = json_object_array_get_idx(a, i);
                if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) > 64)
                        return bad(l, "ips", "expected address strings");
                p->ips[i] = strdup(json_object_get_string(v));
                if (!p->ips[i])
                        return -ENOMEM;
                p->n_ips = i + 1;
        }
        return 0;
}

static int get_sysctls(struct loader *l, struct pod_record *p)
{
        json_object *a;
        size_t n;

        if (!json_object_object_get_ex(l->root, "sysctls", &a))
                return 0;
        if (!json_object_is_type(a, json_type_array) ||
            (n = json_object_array_length(a)) > DRV_MAX_SYSCTLS)
                return bad(l, "sysctls", "expected an array of at most 64 strings");
        p->sysctls = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; p->sysctls && i < n; i++) {
                json_object *v = json_object_array_get_idx(a, i);
                if (!json_object_is_type(v, json_type_string) ||
                    !strchr(json_object_get_string(v), '='))
                        return bad(l, "sysctls", "expected \"name=value\" strings");
                if (!(p->sysctls[i] = strdup(json_object_get_string(v))))
                        return -ENOMEM;
        }
        return p->sysctls ? 0 : -ENOMEM;
}

/* Optional: absent when the pod gave none. */
static int get_limits(struct loader *l, struct pod_record *p)
{
        struct sbx_pod_limits *x = &p->limits;
        json_object *o;
        int r;

        if (!json_object_object_get_ex(l->root, "limits", &o))
                return 0;
        if (!json_object_is_type(o, json_type_object))
                return bad(l, "limits", "not an object");
        if ((r = get_int(o, "memoryBytes", 0, INT64_MAX, &x->memory_bytes, l)) < 0 ||
            (r = get_int(o, "cpuQuota", 0, INT64_MAX, &x->cpu_quota, l)) < 0 ||
            (r = get_int(o, "cpuPeriod", 0, 1000000, &x->cpu_period, l)) < 0 ||
            (r = get_int(o, "cpuShares", 0, 262144, &x->cpu_shares, l)) < 0)
                return r;
        return 0;
}

/* Optional: absent in records of pods in the host's user namespace. */
static int get_userns(struct loader *l, struct pod_record *p)
{
        const char *why = NULL;
        json_object *u;

        if (!json_object_object_get_ex(l->root, "userns", &u))
                return 0;
        if (!json_object_is_type(u, json_type_object) ||
            idmap_from_json(json_object_object_get(u, "uids"), &p->userns.uids, &why) < 0 ||
            idmap_from_json(json_object_object_get(u, "gids"), &p->userns.gids, &why) < 0 ||
            userns_map_check("userns", &p->userns, NULL) < 0)
                return bad(l, "userns", why ? why : "not valid mappings");
        return 0;
}

static int load_fields(struct loader *l, struct pod_record *p)
{
        _cleanup_free_ char *state = NULL;
        json_object *u;
        int64_t v;
        int r = 0;

        if ((r = get_str(l, "id", true, &p->id)) < 0 ||
            (r = get_str(l, "name", true, &p->name)) < 0 ||
            (r = get_str(l, "namespace", true, &p->namespace_)) < 0 ||
            (r = get_str(l, "uid", true, &p->uid)) < 0 ||
            (r = get_str(l, "state", true, &state)) < 0 ||
            (r = get_str(l, "runtimeHandler", false, &p->runtime_handler)) < 0 ||
            (r = get_str(l, "driver", true, &p->driver)) < 0 ||
            (r = get_str(l, "hostname", false, &p->hostname)) < 0 ||
            (r = get_str(l, "logDirectory", false, &p->log_directory)) < 0 ||
            (r = get_str(l, "netnsPath", false, &p->netns_path)) < 0 ||
            (r = get_str(l, "cgroupParent", false, &p->cgroup_parent)) < 0 ||
            (r = get_kv(l, "labels", &p->labels, &p->n_labels)) < 0 ||
            (r = get_kv(l, "annotations", &p->annotations, &p->n_annotations)) < 0 ||
            (r = get_ips(l, p)) < 0 || (r = get_sysctls(l, p)) < 0)
                return r;
        if (!sbx_id_valid(p->id))
                return bad(l, "id", "not a 64-digit hex id");
        if (pod_state_from_string(state, &p->state) < 0)
                return bad(l, "state", "unknown state");
        if ((r = get_int(l->root, "attempt", 0, UINT32_MAX, &v, l)) < 0)
                return r;
        p->attempt = (uint32_t) v;
        if ((r = get_int(l->root, "createdNs", 0, INT64_MAX, &p->created_ns, l)) < 0)
                return r;
        p->host_ipc = get_bool(l->root, "hostIPC");
        p->host_pid = get_bool(l->root, "hostPID");
        p->share_pid = get_bool(l->root, "sharePID");
        if (!json_object_object_get_ex(l->root, "uvm", &u) ||
            !json_object_is_type(u, json_type_object))
                return bad(l, "uvm", "missing");
        if ((r = get_int(u, "memoryMB", 1, UINT32_MAX, &v, l)) < 0)
                return r;
        p->uvm.memory_mb = (uint32_t) v;
        if ((r = get_int(u, "processors", 1, 1024, &v, l)) < 0)
                return r;
        p->uvm.processors = (uint32_t) v;
        p->uvm.allow_overcommit = get_bool(u, "allowOvercommit");
        p->uvm.deferred_commit = get_bool(u, "deferredCommit");
        r = get_limits(l, p);
        return r < 0 ? r : get_userns(l, p);
}

int pod_record_load(const char *pod_dir, struct pod_record *ret, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        struct pod_record p = {0};
        struct loader l = {.err = err};
        int r;

        if (asprintf(&path, "%s/pod.json", pod_dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_read_file(path, RECORD_MAX_BYTES, &text, NULL);
        if (r < 0)
                return uvm_error_set(err, -r, "read %s: %s", path, strerror(-r));
        l.file = path;
        l.root = json_tokener_parse(text);
        if (!l.root || !json_object_is_type(l.root, json_type_object)) {
                json_object_put(l.root);
                return uvm_error_set(err, EINVAL, "%s: not a JSON object", path);
        }
        r = load_fields(&l, &p);
        json_object_put(l.root);
        if (r == -ENOMEM)
                uvm_error_set(err, ENOMEM, "out of memory");
        if (r < 0) {
                pod_record_clear(&p);
                return r;
        }
        *ret = p;
        return 0;
}
