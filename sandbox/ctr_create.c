/* CreateContainer: the name reserved, the host's part (ctr-plat.h: image,
 * spec, mounts, log), the record, then the driver; a failure at any step
 * leaves nothing. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fault.h"
#include "common/log.h"
#include "common/platform.h"
#include "sandbox/container-internal.h"
#include "sandbox/ctr-plat.h"
#include "sandbox/ids.h"
#include "sandbox/phase.h"

/* msvcrt's stdin is a macro; here it is only ever the CRI field. */
#undef stdin

static int check_unique_locked(struct sbx *s, const char *pod_id, const char *name,
                               uint32_t attempt, struct uvm_error **err)
{
        for (size_t k = 0; k < s->n_ctrs; k++) {
                const struct ctr_record *o = &s->ctrs[k]->rec; /* identity fields are immutable */
                if (STR_EQ(o->pod_id, pod_id) && STR_EQ(o->name, name) && o->attempt == attempt)
                        return uvm_error_set(err, EEXIST,
                                             "container \"%s\" (attempt %u) already exists in pod "
                                             "%s as %s",
                                             name, attempt, pod_id, o->id);
        }
        if (s->n_ctrs >= SBX_MAX_CTRS)
                return uvm_error_set(err, ENOSPC, "too many containers (%d)", SBX_MAX_CTRS);
        return 0;
}

static int new_ctr(struct sbx_pod *p, const Runtime__V1__ContainerConfig *cfg, struct sbx_ctr **ret,
                   struct uvm_error **err)
{
        struct sbx_ctr *c = calloc(1, sizeof(*c));
        char id[SBX_ID_LEN + 1];
        struct record_kv *kv[2] = {NULL, NULL};
        int r = 0;

        if (!c || sbx_id_new(id) < 0)
                goto oom;
        c->refs = 1;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->cond, NULL);
        c->pod = p;
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
        c->rec.id = strdup(id);
        c->rec.pod_id = strdup(p->rec.id);
        c->rec.name = strdup(cfg->metadata->name);
        c->rec.attempt = cfg->metadata->attempt;
        c->rec.image = strdup(cfg->image->image);
        c->rec.created_ns = ctr_now_ns();
        c->stop_signal = CTR_SIGTERM;
        c->rec.state = CTR_CREATED;
        kv[0] = calloc(cfg->n_labels + 1, sizeof(*kv[0]));
        kv[1] = calloc(cfg->n_annotations + 1, sizeof(*kv[1]));
        c->rec.labels = kv[0];
        c->rec.annotations = kv[1];
        for (size_t i = 0; kv[0] && i < cfg->n_labels; i++, c->rec.n_labels++)
                if (!(kv[0][i].key = strdup(cfg->labels[i]->key)) ||
                    !(kv[0][i].value = strdup(cfg->labels[i]->value)))
                        r = -ENOMEM;
        for (size_t i = 0; kv[1] && i < cfg->n_annotations; i++, c->rec.n_annotations++)
                if (!(kv[1][i].key = strdup(cfg->annotations[i]->key)) ||
                    !(kv[1][i].value = strdup(cfg->annotations[i]->value)))
                        r = -ENOMEM;
        if (r < 0 || !c->rec.id || !c->rec.pod_id || !c->rec.name || !c->rec.image || !kv[0] ||
            !kv[1] || asprintf(&c->path, "%s/containers/%s.json", p->dir, id) < 0)
                goto oom;
        /* What a restart could not read back is refused now. */
        if ((r = record_kv_check("labels", c->rec.labels, c->rec.n_labels, err)) < 0 ||
            (r = record_kv_check("annotations", c->rec.annotations, c->rec.n_annotations, err)) <
                    0) {
                ctr_unref(c);
                return r;
        }
        *ret = c;
        return 0;
oom:
        if (c && c->pod)
                ctr_unref(c);
        else
                free(c);
        return uvm_error_set(err, ENOMEM, "out of memory");
}

/* Hand the container to the pod's driver, under the pod's op_lock. */
static int driver_create(struct sbx_ctr *c, const struct drv_ctr_spec *ds, struct uvm_error **err)
{
        struct drv_pod *drv;
        int r;

        pthread_mutex_lock(&c->pod->op_lock);
        pthread_mutex_lock(&c->pod->lock);
        drv = c->pod->drv;
        pthread_mutex_unlock(&c->pod->lock);
        r = drv ? c->pod->ops->ctr_create(drv, ds, err)
                : uvm_error_set(err, EBUSY, "pod %s has no sandbox", c->pod->rec.id);
        pthread_mutex_unlock(&c->pod->op_lock);
        return r;
}

/* The user the agent resolved, into the record written before it ran. A
 * failed write leaves the right user in memory, and every state change
 * writes the record again. */
static void resolved_user(struct sbx_ctr *c, const struct user_db_ids *ids)
{
        pthread_mutex_lock(&c->lock);
        ctr_user_from_ids(&c->rec.user, ids);
        if (ctr_save_locked(c, NULL) < 0)
                log_pod(LOG_LEVEL_WARN, c->rec.pod_id,
                        "container %s: its resolved user not written, ignoring", c->rec.id);
        pthread_mutex_unlock(&c->lock);
}

static int create_steps(struct sbx *s, struct sbx_ctr *c, const Runtime__V1__ContainerConfig *cfg,
                        struct phase_clock *pc, struct uvm_error **err)
{
        _cleanup_free_ char *dir = NULL;
        struct ctr_plat_made made = {0};
        struct user_db_ids ids = {0};
        struct drv_ctr_spec ds;
        int r;

        r = ctr_plat_prepare(s, c, cfg, pc, &made, err);
        if (r >= 0 && asprintf(&dir, "%s/containers", c->pod->dir) < 0)
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r >= 0 && (r = plat_mkdir_p(dir, 0700)) < 0)
                uvm_error_set(err, -r, "create %s: %s", dir, strerror(-r));
        if (r >= 0)
                r = ctr_save_locked(c, err); /* not shared yet: no lock needed */
        if (r >= 0)
                fault_point("create_ctr.record_written"); /* the agent has not seen it */
        phase_mark(pc, "record");
        if (r >= 0) {
                ds = (struct drv_ctr_spec){
                        .id = c->rec.id,
                        .layers = made.layers,
                        .readonly_rootfs = cfg->linux && cfg->linux->security_context &&
                                           cfg->linux->security_context->readonly_rootfs,
                        .image_volumes = made.vols,
                        .n_image_volumes = made.n_vols,
                        .oci_spec_json = made.oci_spec_json,
                        /* Kept by the agent for attaches (CRI Attach). */
                        .stdin_open = cfg->stdin,
                        .stdin_once = cfg->stdin_once,
                        .user = made.user,
                        .user_out = &ids,
                };
                r = driver_create(c, &ds, err);
                if (r >= 0 && made.user)
                        resolved_user(c, &ids);
                if (r >= 0)
                        fault_point("create_ctr.runc_created");
                phase_mark(pc, "driver");
                if (r < 0)
                        ctr_plat_unlink(c->path);
        }
        ctr_plat_made_clear(&made);
        if (r < 0)
                ctr_plat_release(s, c);
        return r;
}

int sbx_ctr_create(struct sbx *s, const char *pod_id, const Runtime__V1__ContainerConfig *cfg,
                   char **ret_id, struct uvm_error **err)
{
        _cleanup_(pod_unrefp) struct sbx_pod *p = NULL;
        _cleanup_(ctr_unrefp) struct sbx_ctr *c = NULL;
        struct phase_clock pc;
        enum pod_state st;
        char *id;
        int r;

        phase_start(&pc, "create_container");
        if (!cfg->metadata || STR_EMPTY(cfg->metadata->name))
                return uvm_error_set(err, EINVAL, "config.metadata.name is required");
        if (!cfg->image || STR_EMPTY(cfg->image->image))
                return uvm_error_set(err, EINVAL, "config.image.image is required");
        r = pod_get_ref(s, pod_id, &p, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&p->lock);
        st = p->rec.state;
        pthread_mutex_unlock(&p->lock);
        if (st != POD_READY)
                return uvm_error_set(err, EBUSY, "pod %s is %s, not ready", p->rec.id,
                                     pod_state_to_string(st));
        r = new_ctr(p, cfg, &c, err);
        if (r < 0)
                return r;
        /* Reserve the name first so two concurrent creates cannot both pass. */
        pthread_mutex_lock(&s->lock);
        r = check_unique_locked(s, p->rec.id, c->rec.name, c->rec.attempt, err);
        if (r == 0) {
                __atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
                s->ctrs[s->n_ctrs++] = c;
        }
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
                return r;
        sbx_list_changed(s);
        phase_mark(&pc, "lookup");
        r = create_steps(s, c, cfg, &pc, err);
        phase_done(&pc, p->rec.id, c->rec.id, r >= 0);
        if (r < 0) {
                ctr_registry_drop(s, c);
                return uvm_error_wrap(err, "create container %s", c->rec.name);
        }
        id = strdup(c->rec.id);
        if (!id)
                return uvm_error_set(err, ENOMEM, "out of memory");
        log_pod(LOG_LEVEL_INFO, p->rec.id, "container %s (%s) created", c->rec.name, id);
        pthread_mutex_lock(&c->lock);
        ctr_emit_locked(c, CTR_EVENT_CREATED);
        pthread_mutex_unlock(&c->lock);
        *ret_id = id;
        return 0;
}
