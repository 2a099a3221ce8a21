/*
 * The "hcs" driver's table (driver.h): the binding to the HCS, HCN and
 * guest tables, the events that come back from HCS and from the agent, and
 * the container entries, which all go through the agent in the VM. The VM's
 * life is in pod.c, its network in nic.c.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "sandbox/drivers/hcs/driver-internal.h"

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hcs_binding *current; /* guarded by current_lock */
static char unavailable[256];       /* guarded by current_lock; "": none known */

void drv_hcs_config_init_defaults(struct drv_hcs_config *cfg)
{
        *cfg = (struct drv_hcs_config){
                .create_timeout_ms = DRV_HCS_CREATE_TIMEOUT_MS,
                .guest_connect_ms = DRV_HCS_GUEST_CONNECT_MS,
                .shutdown_wait_ms = DRV_HCS_SHUTDOWN_WAIT_MS,
                .terminate_wait_ms = DRV_HCS_TERMINATE_WAIT_MS,
                .host_cpus = 1,
        };
}

struct hcs_binding *hcs_binding_ref(struct hcs_binding *b)
{
        if (b)
                __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
        return b;
}

struct hcs_binding *hcs_binding_unref(struct hcs_binding *b)
{
        if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        free(b->kernel);
        free(b->initrd);
        free(b->cmdline);
        free(b);
        return NULL;
}

int hcs_binding_current(struct hcs_binding **ret, struct uvm_error **err)
{
        struct hcs_binding *b;

        pthread_mutex_lock(&current_lock);
        b = hcs_binding_ref(current);
        pthread_mutex_unlock(&current_lock);
        if (!b)
                return uvm_error_set(err, ENODEV,
                                     "the hcs driver is not bound to HCS on this host");
        *ret = b;
        return 0;
}

static int check_tables(const struct hcs_api *hcs, const struct hcn_api *hcn,
                        const struct hcs_guest_ops *g, struct uvm_error **err)
{
        if (!hcs || !hcs->create || !hcs->open || !hcs->start || !hcs->shutdown ||
            !hcs->terminate || !hcs->modify || !hcs->properties || !hcs->set_callback ||
            !hcs->grant_vm_access || !hcs->revoke_vm_access || !hcs->close)
                return uvm_error_set(err, EINVAL, "hcs driver: the HCS table is incomplete");
        if (!hcn || !hcn->namespace_create || !hcn->namespace_delete || !hcn->namespace_modify ||
            !hcn->endpoint_query)
                return uvm_error_set(err, EINVAL, "hcs driver: the HCN table is incomplete");
        if (!g || !g->connect || !g->add_nic || !g->remove_nic || !g->ctr_create || !g->ctr_start ||
            !g->ctr_signal || !g->ctr_delete || !g->ctr_state || !g->ctr_exec_sync ||
            !g->ctr_stop_all || !g->mount_disk || !g->unmount_disk || !g->mount_share ||
            !g->unmount_share || !g->disconnect)
                return uvm_error_set(err, EINVAL, "hcs driver: the guest table is incomplete");
        return 0;
}

static int check_config(const struct drv_hcs_config *c, struct uvm_error **err)
{
        if (!c->create_timeout_ms || !c->guest_connect_ms || !c->shutdown_wait_ms ||
            !c->terminate_wait_ms)
                return uvm_error_set(err, EINVAL, "hcs driver: every timeout must be above 0");
        if (STR_EMPTY(c->kernel_path) || STR_EMPTY(c->initrd_path))
                return uvm_error_set(err, EINVAL,
                                     "hcs driver: the guest's kernel and initrd are required");
        if (!c->host_cpus)
                return uvm_error_set(err, EINVAL, "hcs driver: host_cpus must be at least 1");
        return 0;
}

int drv_hcs_new(const struct hcs_api *hcs, const struct hcn_api *hcn,
                const struct hcs_guest_ops *guest, const struct drv_hcs_config *cfg,
                const struct drv_ops **ret_ops, struct uvm_error **err)
{
        struct hcs_binding *b, *old;
        int r;

        r = check_tables(hcs, hcn, guest, err);
        if (r >= 0)
                r = cfg ? check_config(cfg, err)
                        : uvm_error_set(err, EINVAL, "hcs driver: no config");
        if (r < 0)
                return r;
        b = calloc(1, sizeof(*b));
        if (!b)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *b = (struct hcs_binding){.refs = 1, .hcs = hcs, .hcn = hcn, .guest = guest, .cfg = *cfg};
        b->cfg.kernel_path = b->kernel = strdup(cfg->kernel_path);
        b->cfg.initrd_path = b->initrd = strdup(cfg->initrd_path);
        b->cfg.kernel_cmdline = b->cmdline =
                cfg->kernel_cmdline ? strdup(cfg->kernel_cmdline) : NULL;
        if (!b->kernel || !b->initrd || (cfg->kernel_cmdline && !b->cmdline)) {
                hcs_binding_unref(b);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_lock(&current_lock);
        old = current;
        current = b;
        pthread_mutex_unlock(&current_lock);
        hcs_binding_unref(old);
        log_debug("hcs driver: bound to %s, %s and %s", hcs->name, hcn->name, guest->name);
        *ret_ops = &drv_hcs_ops;
        return 0;
}

void drv_hcs_set_unavailable(const char *reason)
{
        pthread_mutex_lock(&current_lock);
        snprintf(unavailable, sizeof(unavailable), "%s", reason ? reason : "");
        pthread_mutex_unlock(&current_lock);
}

/* Usable while bound: the binding is made by loading HCS and HCN and
 * resolving every entry point (drv_hcs_system), which is the trying. */
static void hcs_probe(const struct drv_probe_env *env, struct drv_probe *ret)
{
        *ret = (struct drv_probe){0};
        pthread_mutex_lock(&current_lock);
        ret->usable = current != NULL;
        if (current)
                snprintf(ret->reason, sizeof(ret->reason),
                         "Hyper-V utility VMs through %s, %s and the %s agent connection",
                         current->hcs->name, current->hcn->name, current->guest->name);
        else
                snprintf(ret->reason, sizeof(ret->reason), "%s",
                         unavailable[0] ? unavailable
                                        : "not bound to HCS: the hcs driver runs only on a "
                                          "Windows host with Hyper-V");
        pthread_mutex_unlock(&current_lock);
}

void drv_hcs_unbind(void)
{
        struct hcs_binding *old;

        pthread_mutex_lock(&current_lock);
        old = current;
        current = NULL;
        pthread_mutex_unlock(&current_lock);
        hcs_binding_unref(old);
}

int hcs_call_error(struct uvm_error **err, int r, char *result, const char *what,
                   const char *system_id)
{
        _cleanup_json_ json_object *doc = result ? json_tokener_parse(result) : NULL;
        const char *msg = json_string_of(doc, "ErrorMessage");
        json_object *code = NULL;

        if (r >= 0)
                r = -EIO; /* a table broke its contract: never report success */
        /* HCS's result document: {"Error": <HRESULT>, "ErrorMessage": ...}. */
        if (msg && json_object_object_get_ex(doc, "Error", &code) &&
            json_object_is_type(code, json_type_int))
                r = uvm_error_set(err, -r, "%s %s: %.400s (HRESULT 0x%08x)", what, system_id, msg,
                                  (unsigned) json_object_get_int64(code));
        else
                r = uvm_error_set(err, -r, "%s %s: %.512s", what, system_id,
                                  msg                  ? msg
                                  : !STR_EMPTY(result) ? result
                                                       : strerror(-r));
        free(result);
        return r;
}

/* The VM is gone: report it once, unless the pod is not up yet (its
 * create fails instead) or being stopped. */
static void pod_gone(struct drv_pod *p, const char *reason)
{
        bool report;

        pthread_mutex_lock(&p->lock);
        p->exited = true;
        report = !p->quiet && !p->died_reported;
        if (report)
                p->died_reported = true;
        pthread_mutex_unlock(&p->lock);
        log_pod(LOG_LEVEL_INFO, p->id, "hcs pod %s: %s", p->id, reason);
        if (report && p->events && p->events->pod_died)
                p->events->pod_died(p->events->data, reason);
}

void hcs_pod_on_system_event(void *data, const char *kind, const char *detail)
{
        struct drv_pod *p = data;
        char reason[160];

        if (!kind || !STR_EQ(kind, "SystemExited")) {
                log_pod(LOG_LEVEL_DEBUG, p->id, "hcs pod %s: HCS event %s", p->id,
                        kind ? kind : "(none)");
                return;
        }
        snprintf(reason, sizeof(reason), "the VM %s exited%s%.100s", p->system_id,
                 detail ? ": " : "", detail ? detail : "");
        pod_gone(p, reason);
}

static void guest_ctr_exited(void *data, const char *ctr_id, int exit_code, int64_t finished_ns,
                             bool oom_killed)
{
        struct drv_pod *p = data;

        if (p->events && p->events->ctr_exited)
                p->events->ctr_exited(p->events->data, ctr_id, exit_code, finished_ns, oom_killed);
}

static void guest_ctr_output(void *data, const char *ctr_id, enum drv_stream stream,
                             const char *buf, size_t len)
{
        struct drv_pod *p = data;

        if (p->events && p->events->ctr_output)
                p->events->ctr_output(p->events->data, ctr_id, stream, buf, len);
}

static void guest_died(void *data, const char *reason)
{
        char why[200];

        snprintf(why, sizeof(why), "the agent in the VM is gone: %.150s",
                 reason ? reason : "connection closed");
        pod_gone(data, why);
}

const struct hcs_guest_events hcs_pod_guest_events_template = {
        .ctr_exited = guest_ctr_exited,
        .ctr_output = guest_ctr_output,
        .died = guest_died,
};

bool hcs_pod_exited(struct drv_pod *p)
{
        bool exited;

        pthread_mutex_lock(&p->lock);
        exited = p->exited;
        pthread_mutex_unlock(&p->lock);
        return exited;
}

void hcs_pod_set_quiet(struct drv_pod *p, bool quiet)
{
        pthread_mutex_lock(&p->lock);
        p->quiet = quiet;
        pthread_mutex_unlock(&p->lock);
}

bool hcs_pod_go_live(struct drv_pod *p)
{
        bool exited;

        pthread_mutex_lock(&p->lock);
        exited = p->exited;
        p->quiet = exited;
        pthread_mutex_unlock(&p->lock);
        return !exited;
}

/* Alive: no exit seen, and HCS (when it answers) says it runs. */
static bool hcs_pod_alive(struct drv_pod *p)
{
        _cleanup_json_ json_object *props = NULL;
        _cleanup_free_ char *json = NULL;
        const char *state;
        char *result = NULL;
        int r;

        if (!p->sys || !p->started || hcs_pod_exited(p))
                return false;
        r = p->b->hcs->properties(p->sys, NULL, HCS_ALIVE_QUERY_MS, &json, &result);
        free(result);
        if (r == -ENOENT)
                return false;
        if (r < 0)
                return true; /* HCS is busy: the events are the truth */
        props = json ? json_tokener_parse(json) : NULL;
        state = json_string_of(props, "State");
        return !state || STR_EQ(state, "Running");
}

/* The agent of a running pod. */
static int pod_guest(struct drv_pod *p, const char *ctr_id, struct hcs_guest **ret,
                     struct uvm_error **err)
{
        if (STR_EMPTY(ctr_id))
                return uvm_error_set(err, EINVAL, "hcs pod %s: no container id", p->id);
        if (!p->guest || !p->started || hcs_pod_exited(p))
                return uvm_error_set(err, ENOTCONN, "hcs pod %s: its VM is not running", p->id);
        *ret = p->guest;
        return 0;
}

/* The layers' disks first (the guest mounts them), then its scratch disk,
 * the shares of its CRI mounts, then the container on them; the disks and
 * shares it alone used go again when its create fails. */
static int hcs_ctr_create(struct drv_pod *p, const struct drv_ctr_spec *spec,
                          struct uvm_error **err)
{
        _cleanup_free_ char *doc = NULL, *shared_spec = NULL, *scratch = NULL;
        _cleanup_(strv_freep) char **paths = NULL;
        struct drv_ctr_spec ds;
        struct hcs_guest *g;
        int r;

        r = pod_guest(p, spec ? spec->id : NULL, &g, err);
        if (r >= 0)
                r = hcs_disks_attach(p, spec->id, spec->layers, &paths, err);
        if (r >= 0) {
                ds = *spec;
                ds.layers = paths;
                r = hcs_scratch_attach(p, spec->id, &scratch, err);
                if (r >= 0)
                        r = hcs_shares_attach(p, spec->id, spec->oci_spec_json, &shared_spec, err);
                if (shared_spec)
                        ds.oci_spec_json = shared_spec;
                if (r >= 0)
                        r = hcs_doc_hosted(p->system_id, &ds, scratch, &doc, err);
                if (r >= 0)
                        r = p->b->guest->ctr_create(g, &ds, doc, err);
                if (r < 0) {
                        hcs_shares_release(p, spec->id);
                        hcs_scratch_release(p, spec->id);
                        hcs_disks_release(p, spec->id);
                }
        }
        if (r < 0)
                return uvm_error_wrap(err, "create container %s in pod %s",
                                      spec && spec->id ? spec->id : "", p->id);
        return 0;
}

static int hcs_ctr_start(struct drv_pod *p, const char *ctr_id, struct uvm_error **err)
{
        struct hcs_guest *g;
        int r = pod_guest(p, ctr_id, &g, err);

        return r < 0 ? r : p->b->guest->ctr_start(g, ctr_id, err);
}

static int hcs_ctr_signal(struct drv_pod *p, const char *ctr_id, int sig, struct uvm_error **err)
{
        struct hcs_guest *g;
        int r = pod_guest(p, ctr_id, &g, err);

        return r < 0 ? r : p->b->guest->ctr_signal(g, ctr_id, sig, err);
}

/* The container, then its scratch disk, the shares and disks no other
 * container uses. */
static int hcs_ctr_delete(struct drv_pod *p, const char *ctr_id, struct uvm_error **err)
{
        struct hcs_guest *g;
        int r = pod_guest(p, ctr_id, &g, err);

        if (r >= 0)
                r = p->b->guest->ctr_delete(g, ctr_id, err);
        if (r >= 0 || r == -ENOENT) {
                hcs_shares_release(p, ctr_id);
                hcs_scratch_release(p, ctr_id);
                hcs_disks_release(p, ctr_id);
        }
        return r;
}

static int hcs_ctr_state(struct drv_pod *p, const char *ctr_id, enum drv_ctr_state *ret_state,
                         int *ret_exit_code, struct uvm_error **err)
{
        struct hcs_guest *g;
        int r = pod_guest(p, ctr_id, &g, err);

        return r < 0 ? r : p->b->guest->ctr_state(g, ctr_id, ret_state, ret_exit_code, err);
}

static int hcs_ctr_exec_sync(struct drv_pod *p, const char *ctr_id,
                             const struct drv_exec_spec *spec, struct drv_exec_result *ret,
                             struct uvm_error **err)
{
        struct hcs_guest *g;
        int r = pod_guest(p, ctr_id, &g, err);

        return r < 0 ? r : p->b->guest->ctr_exec_sync(g, ctr_id, spec, ret, err);
}

/* The agent runs runc update in the VM, as for qemu pods. */
static int hcs_ctr_update(struct drv_pod *p, const char *ctr_id, const char *resources_json,
                          struct uvm_error **err)
{
        struct hcs_guest *g;
        int r = pod_guest(p, ctr_id, &g, err);

        if (r >= 0 && !p->b->guest->ctr_update)
                r = uvm_error_set(err, EOPNOTSUPP, "hcs pod %s: the agent cannot update resources",
                                  p->id);
        return r < 0 ? r : p->b->guest->ctr_update(g, ctr_id, resources_json, err);
}

static int hcs_ctr_stats(struct drv_pod *p, const char *ctr_id, struct drv_ctr_stats *ret,
                         struct uvm_error **err)
{
        struct hcs_guest *g;
        int r = pod_guest(p, ctr_id, &g, err);

        if (r >= 0 && !p->b->guest->ctr_stats)
                r = uvm_error_set(err, EOPNOTSUPP, "hcs pod %s: the agent gives no stats", p->id);
        return r < 0 ? r : p->b->guest->ctr_stats(g, ctr_id, ret, err);
}

/* The pod's own usage: its interfaces in the VM. */
static int hcs_pod_stats(struct drv_pod *p, struct drv_pod_stats *ret, struct uvm_error **err)
{
        if (!p->guest || !p->started || hcs_pod_exited(p))
                return uvm_error_set(err, ENOTCONN, "hcs pod %s: its VM is not running", p->id);
        if (!p->b->guest->pod_stats)
                return uvm_error_set(err, EOPNOTSUPP, "hcs pod %s: the agent gives no stats",
                                     p->id);
        return p->b->guest->pod_stats(p->guest, ret, err);
}

/* The agent's connection for streaming sessions (sandbox/stream.c), while
 * the pod's VM runs; the sandbox layer holds the pod while it uses it. */
static struct agent_client *hcs_pod_agent(struct drv_pod *p)
{
        bool exited;

        pthread_mutex_lock(&p->lock);
        exited = p->exited;
        pthread_mutex_unlock(&p->lock);
        if (!p->guest || !p->started || exited || !p->b->guest->client)
                return NULL;
        return p->b->guest->client(p->guest);
}

const struct drv_ops drv_hcs_ops = {
        .name = "hcs",
        .probe = hcs_probe,
        .pod_create = hcs_pod_create,
        .pod_reattach = hcs_pod_reattach,
        .pod_stop = hcs_pod_stop,
        .pod_free = hcs_pod_free,
        .pod_alive = hcs_pod_alive,
        .ctr_create = hcs_ctr_create,
        .ctr_start = hcs_ctr_start,
        .ctr_signal = hcs_ctr_signal,
        .ctr_delete = hcs_ctr_delete,
        .ctr_state = hcs_ctr_state,
        .ctr_exec_sync = hcs_ctr_exec_sync,
        .ctr_update = hcs_ctr_update,
        .nic_add = hcs_ca_nic_add,
        .nic_modify = hcs_ca_nic_modify,
        .nic_remove = hcs_ca_nic_remove,
        .ctr_stats = hcs_ctr_stats,
        .pod_stats = hcs_pod_stats,
        .agent = hcs_pod_agent,
};
