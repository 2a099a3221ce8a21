/*
 * The users of a pod's numbered resources (refs.h): disks.c's LUNs,
 * shares.c's slots.
 */

#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "sandbox/drivers/hcs/driver-internal.h"

struct hcs_ref_user *hcs_refs_find(struct hcs_refs *t, const char *id)
{
        for (size_t i = 0; i < HCS_REFS_MAX_USERS; i++)
                if (t->u[i].id[0] && STR_EQ(t->u[i].id, id))
                        return &t->u[i];
        return NULL;
}

struct hcs_ref_user *hcs_refs_new(struct hcs_refs *t, const char *id)
{
        for (size_t i = 0; i < HCS_REFS_MAX_USERS; i++)
                if (!t->u[i].id[0]) {
                        t->u[i] = (struct hcs_ref_user){0};
                        memcpy(t->u[i].id, id, strlen(id) + 1);
                        return &t->u[i];
                }
        return NULL;
}

size_t hcs_refs_users_of(const struct hcs_refs *t, unsigned n)
{
        size_t count = 0;

        for (size_t i = 0; i < HCS_REFS_MAX_USERS; i++)
                for (size_t j = 0; t->u[i].id[0] && j < t->u[i].n; j++)
                        count += t->u[i].nums[j] == n;
        return count;
}

void hcs_refs_record(struct drv_pod *p)
{
        struct uvm_error *e = NULL;

        if (hcs_record_write(p, HCS_RECORD_READY, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: %s, ignoring", p->id, e->msg);
                uvm_error_free(e);
        }
}

static bool running(struct drv_pod *p)
{
        return p->created && p->guest && !hcs_pod_exited(p);
}

/* One side's step; -ENOENT (gone already) is done. */
static int side_off(struct drv_pod *p, unsigned n,
                    int (*off)(struct drv_pod *p, unsigned n, struct uvm_error **err),
                    struct uvm_error **err)
{
        struct uvm_error *e = NULL;
        int r = off(p, n, &e);

        if (r == -ENOENT)
                r = 0;
        else if (r < 0)
                r = uvm_error_set(err, -r, "%s", e ? e->msg : strerror(-r));
        uvm_error_free(e);
        return r;
}

int hcs_refs_unplug(struct drv_pod *p, const struct hcs_refs_ops *ops, unsigned n,
                    struct hcs_ref_flags f, struct uvm_error **err)
{
        int r;

        *f.ready = false;
        hcs_refs_record(p);
        if (*f.in_guest && running(p)) {
                r = side_off(p, n, ops->guest_off, err);
                if (r < 0)
                        return r;
        }
        *f.in_guest = false;
        if (*f.on_host && running(p)) {
                hcs_refs_record(p);
                r = side_off(p, n, ops->host_off, err);
                if (r < 0)
                        return r;
        }
        *f.on_host = false;
        return 0;
}

void hcs_refs_remove_logged(struct drv_pod *p, const struct hcs_refs_ops *ops, unsigned n)
{
        struct uvm_error *e = NULL;

        if (ops->remove(p, n, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: %s, ignoring", p->id,
                        e ? e->msg : ops->fallback);
                uvm_error_free(e);
        }
}

int hcs_refs_reuse(struct drv_pod *p, const struct hcs_refs *t, const struct hcs_refs_ops *ops,
                   int *found, struct uvm_error **err)
{
        int r;

        if (*found < 0 || ops->ready(p, (unsigned) *found) ||
            hcs_refs_users_of(t, (unsigned) *found) != 0)
                return 0;
        r = ops->remove(p, (unsigned) *found, err);
        if (r < 0)
                return uvm_error_wrap(err, "a %s left behind", ops->one);
        *found = -1;
        return 0;
}

void hcs_refs_release(struct drv_pod *p, struct hcs_refs *t, const struct hcs_refs_ops *ops,
                      const char *id)
{
        struct hcs_ref_user *u = hcs_refs_find(t, id);
        struct hcs_ref_user was;

        if (!u)
                return;
        was = *u;
        *u = (struct hcs_ref_user){0};
        hcs_refs_record(p);
        for (size_t i = was.n; i-- > 0;) {
                unsigned n = was.nums[i];

                if (ops->exists(p, n) && hcs_refs_users_of(t, n) == 0)
                        hcs_refs_remove_logged(p, ops, n);
        }
}

void hcs_refs_remove_all(struct drv_pod *p, struct hcs_refs *t, const struct hcs_refs_ops *ops)
{
        memset(t, 0, sizeof(*t));
        for (unsigned n = ops->max; n-- > 0;)
                if (ops->exists(p, n)) {
                        hcs_refs_remove_logged(p, ops, n);
                        /* The VM's end drops it anyway. */
                        ops->forget(p, n);
                }
}

void hcs_refs_settle(struct drv_pod *p, struct hcs_refs *t, const struct hcs_refs_ops *ops)
{
        for (unsigned n = 0; n < ops->max; n++) {
                if (!ops->exists(p, n) || ops->ready(p, n))
                        continue;
                for (size_t i = 0; i < HCS_REFS_MAX_USERS; i++) {
                        struct hcs_ref_user *u = &t->u[i];

                        for (size_t j = 0; u->id[0] && j < u->n; j++)
                                if (u->nums[j] == n) {
                                        log_pod(LOG_LEVEL_INFO, p->id,
                                                "hcs pod %s: container %s's create did not "
                                                "finish: its %s are not counted",
                                                p->id, u->id, ops->plural);
                                        *u = (struct hcs_ref_user){0};
                                        break;
                                }
                }
        }
        for (unsigned n = 0; n < ops->max; n++)
                if (ops->exists(p, n) &&
                    (!ops->ready(p, n) ||
                     ((!ops->counted || ops->counted(p, n)) && hcs_refs_users_of(t, n) == 0)))
                        hcs_refs_remove_logged(p, ops, n);
}

static json_object *user_json(const struct hcs_ref_user *u, const char *json_nums)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *nums = json_object_new_array(), *id;

        if (!o || !nums || json_object_object_add(o, json_nums, nums) < 0) {
                json_object_put(nums);
                return NULL;
        }
        for (size_t i = 0; i < u->n; i++)
                if (json_object_array_add(nums, json_object_new_int(u->nums[i])) < 0)
                        return NULL;
        id = json_object_new_string(u->id);
        if (!id || json_object_object_add(o, "id", id) < 0) {
                json_object_put(id);
                return NULL;
        }
        return TAKE_PTR(o);
}

int hcs_refs_record_add(const struct hcs_refs *t, const struct hcs_refs_ops *ops, json_object *o,
                        const char *key)
{
        json_object *a = json_object_new_array(), *v;

        if (!a || json_object_object_add(o, key, a) < 0) {
                json_object_put(a);
                return -ENOMEM;
        }
        for (size_t i = 0; i < HCS_REFS_MAX_USERS; i++) {
                if (!t->u[i].id[0])
                        continue;
                v = user_json(&t->u[i], ops->json_nums);
                if (!v || json_object_array_add(a, v) < 0) {
                        json_object_put(v);
                        return -ENOMEM;
                }
        }
        return 0;
}

/* A container's numbers, each an existing resource. */
static int read_user(struct drv_pod *p, const struct hcs_refs_ops *ops, json_object *n,
                     struct hcs_ref_user *u)
{
        const char *id = json_string_of(n, "id");
        json_object *nums;

        *u = (struct hcs_ref_user){0};
        if (!id || !*id || strlen(id) > HCS_CTR_ID_MAX ||
            !json_object_object_get_ex(n, ops->json_nums, &nums) ||
            !json_object_is_type(nums, json_type_array) ||
            json_object_array_length(nums) > ops->max_per_user)
                return -EINVAL;
        for (size_t i = 0; i < json_object_array_length(nums); i++) {
                json_object *v = json_object_array_get_idx(nums, i);
                int num = json_object_get_int(v);

                if (!json_object_is_type(v, json_type_int) || num < 0 || num >= (int) ops->max ||
                    !ops->exists(p, (unsigned) num))
                        return -EINVAL;
                u->nums[u->n++] = (uint8_t) num;
        }
        memcpy(u->id, id, strlen(id) + 1);
        return 0;
}

int hcs_refs_record_read(struct drv_pod *p, struct hcs_refs *t, const struct hcs_refs_ops *ops,
                         json_object *o, const char *key)
{
        json_object *users = NULL;
        struct hcs_ref_user u;
        int r;

        if (!json_object_object_get_ex(o, key, &users) || !users)
                return 0;
        if (!json_object_is_type(users, json_type_array) ||
            json_object_array_length(users) > HCS_REFS_MAX_USERS)
                return -EINVAL;
        for (size_t i = 0; i < json_object_array_length(users); i++) {
                r = read_user(p, ops, json_object_array_get_idx(users, i), &u);
                if (r < 0)
                        return r;
                if (hcs_refs_find(t, u.id))
                        return -EINVAL;
                t->u[i] = u;
        }
        return 0;
}
