/*
 * What a restarted uvmd needs to find an hcs pod again, or to undo one
 * whose creation it did not finish: in <state_dir>/hcs-pod.json (written
 * whole: temp file, flush, rename; common/platform.h)
 *   {"state": "creating" | "ready", "system_id": "<id>@vm",
 *    "namespace_id": "<GUID>" | "", "endpoints": ["<GUID>", ...],
 *    "nics": [{"endpoint_id", "mac", "ip", "prefix_len", "gateway"}, ...]}
 * "nics" are the endpoints (in their order) that are NICs in the guest:
 * all of them once the pod is ready. A ready pod's NICs added through the
 * ComputeAgent (nic_ca.c) follow, each with what may exist of it:
 *    "added_nics": [{"nic_id", "endpoint_id", "mac", "ip", "prefix_len",
 *                    "gateway", "mtu", "namespace", "host", "guest",
 *                    "ready"}, ...]
 * and its layer disks (disks.c), with what may exist of each, and the
 * containers using them:
 *    "disks": [{"lun", "path", "host", "guest", "ready"
 *               [, "scratch": <container id>, "file"]}, ...],
 *    "layer_users": [{"id", "luns": [<lun>, ...]}, ...]
 * and its Plan9 shares (shares.c), likewise:
 *    "shares": [{"slot", "path", "read_only", "host", "guest", "ready"}, ...],
 *    "share_users": [{"id", "slots": [<slot>, ...]}, ...]
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "sandbox/drivers/hcs/driver-internal.h"

#define RECORD_MAX (1u << 20) /* 64 disks of long paths fit */

static int add_str(json_object *o, const char *key, const char *value)
{
        json_object *v = json_object_new_string(value);

        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static json_object *nic_json(const struct hcs_nic *nic)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *len = json_object_new_int(nic->ep.prefix_len);

        if (!o || !len || json_object_object_add(o, "prefix_len", len) < 0) {
                json_object_put(len);
                return NULL;
        }
        if (add_str(o, "endpoint_id", nic->ep.id) < 0 || add_str(o, "mac", nic->ep.mac) < 0 ||
            add_str(o, "ip", nic->ep.ip) < 0 || add_str(o, "gateway", nic->ep.gateway) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static int add_bool(json_object *o, const char *key, bool value)
{
        json_object *v = json_object_new_boolean(value);

        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static json_object *added_json(const struct hcs_added_nic *a)
{
        _cleanup_json_ json_object *o = nic_json(&a->nic);
        json_object *mtu = json_object_new_int((int) a->mtu);

        if (!o || !mtu || json_object_object_add(o, "mtu", mtu) < 0) {
                json_object_put(mtu);
                return NULL;
        }
        if (add_str(o, "nic_id", a->nic_id) < 0 || add_bool(o, "namespace", a->in_ns) < 0 ||
            add_bool(o, "host", a->nic.on_host) < 0 || add_bool(o, "guest", a->nic.in_guest) < 0 ||
            add_bool(o, "ready", a->ready) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static int added_add(struct drv_pod *p, json_object *o)
{
        json_object *a = json_object_new_array();

        if (!a || json_object_object_add(o, "added_nics", a) < 0) {
                json_object_put(a);
                return -ENOMEM;
        }
        for (size_t i = 0; i < p->n_added; i++) {
                json_object *n = added_json(&p->added[i]);

                if (!n || json_object_array_add(a, n) < 0) {
                        json_object_put(n);
                        return -ENOMEM;
                }
        }
        return 0;
}

static json_object *disk_json(unsigned lun, const struct hcs_disk *d)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *l = json_object_new_int((int) lun);

        if (!o || !l || json_object_object_add(o, "lun", l) < 0) {
                json_object_put(l);
                return NULL;
        }
        if (add_str(o, "path", d->path) < 0 || add_bool(o, "host", d->on_host) < 0 ||
            add_bool(o, "guest", d->in_guest) < 0 || add_bool(o, "ready", d->ready) < 0 ||
            (d->scratch_of &&
             (add_str(o, "scratch", d->scratch_of) < 0 || add_bool(o, "file", d->file) < 0)))
                return NULL;
        return TAKE_PTR(o);
}

static int add_array(json_object *o, const char *key, json_object **ret)
{
        json_object *a = json_object_new_array();

        if (!a || json_object_object_add(o, key, a) < 0) {
                json_object_put(a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}

static int disks_add(struct drv_pod *p, json_object *o)
{
        json_object *disks, *v;

        if (add_array(o, "disks", &disks) < 0)
                return -ENOMEM;
        for (unsigned lun = 0; lun < HCS_MAX_DISKS; lun++) {
                if (!p->disks[lun].path)
                        continue;
                v = disk_json(lun, &p->disks[lun]);
                if (!v || json_object_array_add(disks, v) < 0) {
                        json_object_put(v);
                        return -ENOMEM;
                }
        }
        return hcs_refs_record_add(&p->users, &hcs_disk_refs, o, "layer_users");
}

static const char *const state_names[] = {
        [HCS_RECORD_CREATING] = "creating",
        [HCS_RECORD_READY] = "ready",
};

static json_object *strings_json(const char (*ids)[HCN_GUID_LEN + 1], size_t n)
{
        _cleanup_json_ json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < n; i++) {
                json_object *v = json_object_new_string(ids[i]);

                if (!v || json_object_array_add(a, v) < 0) {
                        json_object_put(v);
                        return NULL;
                }
        }
        return TAKE_PTR(a);
}

static json_object *record_json(struct drv_pod *p, enum hcs_record_state state)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *nics = json_object_new_array(), *eps = strings_json(p->ep_ids, p->n_eps);

        if (!o || !nics || json_object_object_add(o, "nics", nics) < 0) {
                json_object_put(nics);
                json_object_put(eps);
                return NULL;
        }
        if (!eps || json_object_object_add(o, "endpoints", eps) < 0) {
                json_object_put(eps);
                return NULL;
        }
        if (add_str(o, "state", state_names[state]) < 0 ||
            add_str(o, "system_id", p->system_id) < 0 || add_str(o, "namespace_id", p->ns_id) < 0 ||
            json_object_object_add(o, "namespace_external",
                                   json_object_new_boolean(p->ns_external)) < 0 ||
            added_add(p, o) < 0 || disks_add(p, o) < 0 || hcs_shares_record_add(p, o) < 0)
                return NULL;
        for (size_t i = 0; i < p->n_eps && p->nics[i].in_guest; i++) {
                json_object *n = nic_json(&p->nics[i]);

                if (!n || json_object_array_add(nics, n) < 0) {
                        json_object_put(n);
                        return NULL;
                }
        }
        return TAKE_PTR(o);
}

int hcs_record_write(struct drv_pod *p, enum hcs_record_state state, struct uvm_error **err)
{
        _cleanup_json_ json_object *o = record_json(p, state);
        const char *text;
        int r;

        if (!o || !(text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)))
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_write_file_atomic(p->record_path, text, strlen(text), 0600);
        if (r < 0)
                return uvm_error_set(err, -r, "record the pod in %s: %s", p->record_path,
                                     strerror(-r));
        p->recorded = true;
        return 0;
}

/* s into buf (size), refused when it does not fit. */
static int copy_str(json_object *o, const char *key, char *buf, size_t size)
{
        const char *s = json_string_of(o, key);

        if (!s || strlen(s) >= size)
                return -EINVAL;
        memcpy(buf, s, strlen(s) + 1);
        return 0;
}

/* NIC n of the record, which must be endpoint ep_id's. */
static int read_nic(json_object *n, const char *ep_id, struct hcs_nic *nic)
{
        json_object *len;
        int prefix;

        *nic = (struct hcs_nic){0};
        if (copy_str(n, "endpoint_id", nic->ep.id, sizeof(nic->ep.id)) < 0 ||
            !STR_EQ(nic->ep.id, ep_id) ||
            copy_str(n, "mac", nic->ep.mac, sizeof(nic->ep.mac)) < 0 ||
            copy_str(n, "ip", nic->ep.ip, sizeof(nic->ep.ip)) < 0 ||
            copy_str(n, "gateway", nic->ep.gateway, sizeof(nic->ep.gateway)) < 0 ||
            !json_object_object_get_ex(n, "prefix_len", &len) ||
            !json_object_is_type(len, json_type_int))
                return -EINVAL;
        prefix = json_object_get_int(len);
        if (prefix < 0 || prefix > 128)
                return -EINVAL;
        nic->ep.prefix_len = (uint8_t) prefix;
        return 0;
}

static bool get_bool(json_object *o, const char *key, bool *ret)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
                return false;
        *ret = json_object_get_boolean(v);
        return true;
}

/* One of "added_nics", checked as the driver made it. */
static int read_added(json_object *n, struct hcs_added_nic *a)
{
        const char *id = json_string_of(n, "endpoint_id"), *nic_id = json_string_of(n, "nic_id");
        json_object *mtu;

        *a = (struct hcs_added_nic){0};
        if (!id || !hcs_guid_valid(id) || read_nic(n, id, &a->nic) < 0 || !nic_id || !*nic_id ||
            strlen(nic_id) > HCS_NIC_ID_MAX || strpbrk(nic_id, "/\\ ") ||
            !json_object_object_get_ex(n, "mtu", &mtu) ||
            !json_object_is_type(mtu, json_type_int) || json_object_get_int(mtu) < 0 ||
            json_object_get_int(mtu) > 65535 || !get_bool(n, "namespace", &a->in_ns) ||
            !get_bool(n, "host", &a->nic.on_host) || !get_bool(n, "guest", &a->nic.in_guest) ||
            !get_bool(n, "ready", &a->ready))
                return -EINVAL;
        strcpy(a->nic_id, nic_id);
        a->mtu = (unsigned) json_object_get_int(mtu);
        return 0;
}

/* "added_nics" (none in a record from before they existed); each endpoint
 * once, none of the spec's. */
static int read_added_all(struct drv_pod *p, json_object *o)
{
        json_object *list;
        size_t n;

        p->n_added = 0;
        if (!json_object_object_get_ex(o, "added_nics", &list))
                return 0;
        if (!json_object_is_type(list, json_type_array) ||
            (n = json_object_array_length(list)) > HCS_MAX_ADDED_NICS)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                struct hcs_added_nic *a = &p->added[i];

                if (read_added(json_object_array_get_idx(list, i), a) < 0 ||
                    (a->in_ns && !p->ns_id[0]))
                        return -EINVAL;
                for (size_t j = 0; j < p->n_eps; j++)
                        if (STR_EQ(p->ep_ids[j], a->nic.ep.id))
                                return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (STR_EQ(p->added[j].nic.ep.id, a->nic.ep.id) ||
                            STR_EQ(p->added[j].nic_id, a->nic_id))
                                return -EINVAL;
        }
        p->n_added = n;
        return 0;
}

static int read_disk(struct drv_pod *p, json_object *n)
{
        json_object *l;
        const char *path = json_string_of(n, "path");
        const char *scratch = json_string_of(n, "scratch");
        struct hcs_disk d = {0};
        int lun;

        if (!json_object_object_get_ex(n, "lun", &l) || !json_object_is_type(l, json_type_int) ||
            (lun = json_object_get_int(l)) < 0 || lun >= (int) HCS_MAX_DISKS ||
            p->disks[lun].path || !path || !*path || strlen(path) > 4096 ||
            !get_bool(n, "host", &d.on_host) || !get_bool(n, "guest", &d.in_guest) ||
            !get_bool(n, "ready", &d.ready) ||
            (scratch && (!*scratch || strlen(scratch) > HCS_CTR_ID_MAX || strchr(scratch, '/') ||
                         !get_bool(n, "file", &d.file))))
                return -EINVAL;
        for (unsigned i = 0; i < HCS_MAX_DISKS; i++)
                if (p->disks[i].path && STR_EQ(p->disks[i].path, path))
                        return -EINVAL;
        d.path = strdup(path);
        d.scratch_of = scratch ? strdup(scratch) : NULL;
        if (!d.path || (scratch && !d.scratch_of)) {
                free(d.path);
                free(d.scratch_of);
                return -ENOMEM;
        }
        p->disks[lun] = d;
        return 0;
}

/* "disks" and "layer_users" (none in a record from before they existed). */
static int read_disks(struct drv_pod *p, json_object *o)
{
        json_object *disks = NULL;
        int r;

        json_object_object_get_ex(o, "disks", &disks);
        if (disks && (!json_object_is_type(disks, json_type_array) ||
                      json_object_array_length(disks) > HCS_MAX_DISKS))
                return -EINVAL;
        for (size_t i = 0; disks && i < json_object_array_length(disks); i++)
                if ((r = read_disk(p, json_object_array_get_idx(disks, i))) < 0)
                        return r;
        return hcs_refs_record_read(p, &p->users, &hcs_disk_refs, o, "layer_users");
}

static int read_state(json_object *o, enum hcs_record_state *ret)
{
        const char *s = json_string_of(o, "state");

        for (size_t i = 0; s && i < ARRAY_SIZE(state_names); i++)
                if (STR_EQ(s, state_names[i])) {
                        *ret = (enum hcs_record_state) i;
                        return 0;
                }
        return -EINVAL;
}

/* "namespace_id" and "endpoints": GUIDs, each endpoint once. */
static int read_network(struct drv_pod *p, json_object *o)
{
        json_object *eps, *ext;
        size_t n;

        /* older records have none: the driver's own */
        p->ns_external = json_object_object_get_ex(o, "namespace_external", &ext) &&
                         json_object_get_boolean(ext);
        if (copy_str(o, "namespace_id", p->ns_id, sizeof(p->ns_id)) < 0 ||
            (p->ns_id[0] && !hcs_guid_valid(p->ns_id)) ||
            !json_object_object_get_ex(o, "endpoints", &eps) ||
            !json_object_is_type(eps, json_type_array) ||
            (n = json_object_array_length(eps)) > HCS_MAX_NICS)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                const char *id = json_object_get_string(json_object_array_get_idx(eps, i));

                if (!json_object_is_type(json_object_array_get_idx(eps, i), json_type_string) ||
                    !hcs_guid_valid(id))
                        return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (STR_EQ(p->ep_ids[j], id))
                                return -EINVAL;
                memcpy(p->ep_ids[i], id, HCN_GUID_LEN + 1);
        }
        p->n_eps = n;
        return 0;
}

static int record_parse(struct drv_pod *p, const char *text, enum hcs_record_state *ret_state,
                        struct uvm_error **err)
{
        _cleanup_json_ json_object *o = json_tokener_parse(text);
        const char *sys = json_string_of(o, "system_id");
        enum hcs_record_state state;
        json_object *nics;
        size_t n;

        if (!o || !sys || !STR_EQ(sys, p->system_id) || read_state(o, &state) < 0)
                return uvm_error_set(err, EINVAL, "%s is not the record of VM %s", p->record_path,
                                     p->system_id);
        /* A ready pod has every endpoint as a NIC, all in its namespace. */
        if (read_network(p, o) < 0 || !json_object_object_get_ex(o, "nics", &nics) ||
            !json_object_is_type(nics, json_type_array) ||
            (n = json_object_array_length(nics)) > p->n_eps ||
            (state == HCS_RECORD_READY && n != p->n_eps) ||
            ((n || state == HCS_RECORD_READY) && p->n_eps && !p->ns_id[0]))
                return uvm_error_set(err, EINVAL, "%s: bad namespace, endpoints or NICs",
                                     p->record_path);
        for (size_t i = 0; i < n; i++)
                if (read_nic(json_object_array_get_idx(nics, i), p->ep_ids[i], &p->nics[i]) < 0)
                        return uvm_error_set(err, EINVAL, "%s: NIC %zu is malformed",
                                             p->record_path, i);
        if (read_added_all(p, o) < 0)
                return uvm_error_set(err, EINVAL, "%s: bad added_nics", p->record_path);
        if (read_disks(p, o) < 0)
                return uvm_error_set(err, EINVAL, "%s: bad disks or layer_users", p->record_path);
        if (hcs_shares_record_read(p, o) < 0)
                return uvm_error_set(err, EINVAL, "%s: bad shares or share_users", p->record_path);
        *ret_state = state;
        return 0;
}

int hcs_record_read(struct drv_pod *p, enum hcs_record_state *ret_state, struct uvm_error **err)
{
        _cleanup_free_ char *text = NULL;
        int r;

        r = plat_read_file(p->record_path, RECORD_MAX, &text, NULL);
        if (r == -ENOENT)
                return r;
        if (r < 0)
                return uvm_error_set(err, -r, "read %s: %s", p->record_path, strerror(-r));
        r = record_parse(p, text, ret_state, err);
        if (r < 0) {
                p->ns_id[0] = '\0';
                p->n_eps = p->n_added = 0;
                hcs_disks_clear(p);
                memset(&p->users, 0, sizeof(p->users));
                hcs_shares_clear(p);
        }
        return r;
}

bool hcs_record_exists(struct drv_pod *p)
{
        FILE *f = NULL;
        int r = plat_fopen_read(p->record_path, &f);

        if (f)
                fclose(f);
        return r != -ENOENT;
}

int hcs_record_remove(struct drv_pod *p)
{
        int r = plat_rm_rf(p->record_path);

        if (r < 0)
                log_pod(LOG_LEVEL_WARN, p->id,
                        "hcs pod %s: remove %s: %s, ignoring (a reattach undoes what it lists)",
                        p->id, p->record_path, strerror(-r));
        return r;
}
