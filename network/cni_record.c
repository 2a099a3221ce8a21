/* A pod's CNI attachment record and the steps that undo it (cni_record.h).
 * Portable. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "network/cni_pod.h"
#include "network/cni_record.h"

void cni_record_clear(struct cni_record *rec)
{
        if (!rec)
                return;
        free(rec->pod_id);
        free(rec->args);
        free(rec->runtime_config);
        cni_conf_free(rec->conf);
        free(rec->result);
        for (size_t i = 0; i < CNI_RECORD_MAX_FIELDS; i++)
                free(rec->fields[i]);
        memset(rec, 0, sizeof(*rec));
}

int cni_record_init(struct cni_record *rec, const struct net_pod_config *cfg,
                    struct uvm_error **err)
{
        int r = cni_pod_args(cfg, &rec->args, &rec->runtime_config, err);

        if (r < 0)
                return r;
        if (!(rec->pod_id = strdup(cfg->pod_id)))
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

static const char *to_text(json_object *o)
{
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

static json_object *parse_object(const char *text)
{
        json_object *o = text ? cni_json_parse(text) : NULL;

        if (o && !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static size_t keys_count(const char *const *keys)
{
        size_t n = 0;

        while (keys && keys[n])
                n++;
        return n;
}

int cni_record_encode(const struct cni_record *rec, const char *const *keys, char **ret_text,
                      struct uvm_error **err)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *list = NULL, *rc = NULL, *res = NULL;
        size_t nk = keys_count(keys);
        bool ok = o && rec && rec->pod_id && rec->args && rec->conf && nk <= CNI_RECORD_MAX_FIELDS;
        char *text;

        for (size_t i = 0; ok && i < nk; i++)
                ok = rec->fields[i] != NULL;
        if (ok) {
                list = parse_object(rec->conf->json);
                rc = parse_object(rec->runtime_config);
                res = parse_object(rec->result);
        }
        if (!ok || !list || !rc || (rec->result && !res)) {
                json_object_put(list);
                json_object_put(rc);
                json_object_put(res);
                return uvm_error_set(err, EINVAL, "pod %s: cannot encode network record",
                                     rec && rec->pod_id ? rec->pod_id : "");
        }
        json_object_object_add(o, "version", json_object_new_int(CNI_RECORD_VERSION));
        json_object_object_add(o, "podId", json_object_new_string(rec->pod_id));
        for (size_t i = 0; i < nk; i++)
                json_object_object_add(o, keys[i], json_object_new_string(rec->fields[i]));
        json_object_object_add(o, "args", json_object_new_string(rec->args));
        json_object_object_add(o, "confFile", json_object_new_string(rec->conf->file));
        json_object_object_add(o, "conflist", list);
        json_object_object_add(o, "runtimeConfig", rc);
        if (res)
                json_object_object_add(o, "result", res);
        if (!(text = strdup(to_text(o))))
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret_text = text;
        return 0;
}

/* o[key] as a string without NULs, of at most max bytes; NULL otherwise. */
static const char *string_at(json_object *o, const char *key, size_t max)
{
        json_object *v;
        const char *s;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        s = json_object_get_string(v);
        if (strlen(s) != (size_t) json_object_get_string_len(v) || strlen(s) > max)
                return NULL;
        return s;
}

static int decode_fields(json_object *o, const char *pod_id, const char *const *keys,
                         struct cni_record *rec, struct uvm_error **err)
{
        json_object *list, *rc, *res, *ver;
        const char *id = string_at(o, "podId", CNI_RECORD_MAX_FIELD);
        const char *args = string_at(o, "args", CNI_RECORD_MAX_FIELD);
        const char *file = string_at(o, "confFile", CNI_RECORD_MAX_FIELD);
        size_t nk = keys_count(keys);

        if (!json_object_object_get_ex(o, "version", &ver) ||
            !json_object_is_type(ver, json_type_int) ||
            json_object_get_int64(ver) != CNI_RECORD_VERSION || !id || !pod_id ||
            !STR_EQ(id, pod_id) || !args || !file || nk > CNI_RECORD_MAX_FIELDS ||
            !json_object_object_get_ex(o, "conflist", &list) ||
            !json_object_is_type(list, json_type_object) ||
            !json_object_object_get_ex(o, "runtimeConfig", &rc) ||
            !json_object_is_type(rc, json_type_object))
                return uvm_error_set(err, EINVAL, "a field is missing or wrong");
        if (json_object_object_get_ex(o, "result", &res) &&
            !json_object_is_type(res, json_type_object))
                return uvm_error_set(err, EINVAL, "the result is not an object");
        for (size_t i = 0; i < nk; i++) {
                const char *v = string_at(o, keys[i], CNI_RECORD_MAX_FIELD);
                if (!v)
                        return uvm_error_set(err, EINVAL, "\"%s\" is missing or wrong", keys[i]);
                if (!(rec->fields[i] = strdup(v)))
                        return uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (cni_conf_parse(file, to_text(list), &rec->conf, err) < 0)
                return -EINVAL;
        rec->pod_id = strdup(id);
        rec->args = strdup(args);
        rec->runtime_config = strdup(to_text(rc));
        if (res && !(rec->result = strdup(to_text(res))))
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (!rec->pod_id || !rec->args || !rec->runtime_config)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

int cni_record_decode(const char *text, const char *pod_id, const char *const *keys,
                      struct cni_record *ret, struct uvm_error **err)
{
        _cleanup_json_ json_object *o = parse_object(text);
        struct cni_record rec = {0};
        int r;

        if (!o)
                return uvm_error_set(err, EINVAL, "not a JSON object");
        r = decode_fields(o, pod_id, keys, &rec, err);
        if (r < 0) {
                cni_record_clear(&rec);
                /* a list that no longer parses is a corrupt record too */
                return r == -ENOMEM ? r : -EINVAL;
        }
        *ret = rec;
        return 0;
}

int cni_record_write(const char *path, const struct cni_record *rec, const char *const *keys,
                     struct uvm_error **err)
{
        _cleanup_free_ char *text = NULL;
        int r = cni_record_encode(rec, keys, &text, err);

        if (r < 0)
                return r;
        r = plat_write_file_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return uvm_error_set(err, -r, "pod %s: write network record '%s': %s", rec->pod_id,
                                     path, strerror(-r));
        return 0;
}

int cni_record_read(const char *path, const char *pod_id, const char *const *keys,
                    struct cni_record *ret, struct uvm_error **err)
{
        _cleanup_free_ char *text = NULL;
        struct uvm_error *e = NULL;
        int r = plat_read_file(path, CNI_RECORD_MAX, &text, NULL);

        if (r == -ENOENT)
                return r;
        if (r < 0)
                return uvm_error_set(err, -r, "pod %s: read network record '%s': %s", pod_id, path,
                                     strerror(-r));
        r = cni_record_decode(text, pod_id, keys, ret, &e);
        if (r < 0) {
                uvm_error_set(err, -r, "pod %s: network record '%s' is corrupt%s%s", pod_id, path,
                              e ? ": " : "", e && e->msg ? e->msg : "");
                uvm_error_free(e);
                return r;
        }
        return 0;
}

void cni_record_invocation(const struct cni_record *rec, const char *netns, const char *ifname,
                           struct cni_invocation *ret)
{
        *ret = (struct cni_invocation){
                .container_id = rec->pod_id,
                .netns = netns,
                .ifname = ifname,
                .args = rec->args,
                .runtime_config = rec->runtime_config,
                .prev_result = rec->result,
        };
}

/* One step's failure: returned, or with best_effort logged (the first
 * error is the caller's). */
static int step_failed(const struct cni_record *rec, const struct cni_undo *u, int r,
                       enum log_level level, struct uvm_error **e, struct uvm_error **err)
{
        if (!u->best_effort) {
                if (err && !*err)
                        *err = TAKE_PTR(*e);
                uvm_error_free(*e);
                *e = NULL;
                return r;
        }
        log_pod(level, rec->pod_id, "rollback: %s, ignoring",
                *e && (*e)->msg ? (*e)->msg : "failed");
        *e = uvm_error_free(*e);
        return 0;
}

int cni_record_undo(const struct cni_record *rec, const char *path, const struct cni_undo *u,
                    struct uvm_error **err)
{
        struct uvm_error *e = NULL;
        struct cni_invocation inv;
        int r;

        if (u->del) {
                cni_record_invocation(rec, u->netns, u->ifname, &inv);
                r = cni_del(u->exec, rec->conf, &inv, &e);
                /* a rollback's DEL after a failed ADD often fails too */
                if (r < 0 && (r = step_failed(rec, u, r, LOG_LEVEL_DEBUG, &e, err)) < 0)
                        return r;
        }
        r = u->ns_remove(u->data, &e);
        if (r < 0 && (r = step_failed(rec, u, r, LOG_LEVEL_WARN, &e, err)) < 0)
                return r;
        r = plat_rm_rf(path);
        if (r < 0) {
                uvm_error_set(&e, -r, "pod %s: remove network record: %s", rec->pod_id,
                              strerror(-r));
                return step_failed(rec, u, r, LOG_LEVEL_WARN, &e, err);
        }
        return 0;
}
