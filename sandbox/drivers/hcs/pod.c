/*
 * An hcs pod's VM, from creation to close. pod_create runs its steps in
 * hcsshim's order: the UVM document (checked) -> HCS create "<id>@vm" ->
 * exit callback -> start -> connect to the agent (the guest's NIC changes
 * need it) -> HCN namespace with the pod's endpoints -> each NIC, host then
 * guest. A failure at any step undoes the ones before it in reverse order
 * (pod_undo); the first error is the one reported.
 *
 * uvmd may die at any point of that: the record (record.c) is written
 * "creating" before the system is made and before the namespace is, and
 * again as each NIC is in, then "ready" at the end. A reattach to a
 * "creating" record undoes what it lists; so does one to a ready pod whose
 * agent no longer answers (nothing could manage that VM).
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

static char *path_join(const char *dir, const char *name)
{
        size_t n = strlen(dir) + strlen(name) + 2;
        char *s = malloc(n);

        if (s)
                snprintf(s, n, "%s/%s", dir, name);
        return s;
}

static struct drv_pod *pod_release(struct drv_pod *p)
{
        if (!p)
                return NULL;
        if (p->guest)
                p->b->guest->disconnect(p->guest);
        if (p->sys)
                p->b->hcs->close(p->sys); /* no event comes after it */
        hcs_disks_clear(p);
        hcs_shares_clear(p);
        pthread_mutex_destroy(&p->lock);
        hcs_binding_unref(p->b);
        free(p->id);
        free(p->system_id);
        free(p->state_dir);
        free(p->record_path);
        free(p);
        return NULL;
}

static void pod_releasep(struct drv_pod **p)
{
        pod_release(*p);
}

static int pod_alloc(const struct drv_pod_spec *spec, struct drv_pod **ret, struct uvm_error **err)
{
        struct drv_pod *p;
        size_t n;

        if (!spec || STR_EMPTY(spec->id) || STR_EMPTY(spec->state_dir))
                return uvm_error_set(err, EINVAL, "hcs pod: id and state dir are required");
        if (strlen(spec->id) > 128 || strpbrk(spec->id, "/\\@"))
                return uvm_error_set(err, EINVAL, "hcs pod: id '%.64s' is not usable", spec->id);
        if (spec->host_pid || spec->host_ipc || spec->userns_path)
                return uvm_error_set(err, EINVAL,
                                     "a VM pod has its own kernel: hostPID, hostIPC and user "
                                     "namespaces are not available");
        p = calloc(1, sizeof(*p));
        if (!p)
                return uvm_error_set(err, ENOMEM, "out of memory");
        pthread_mutex_init(&p->lock, NULL);
        p->quiet = true;
        p->events = spec->events;
        p->guest_events = hcs_pod_guest_events_template;
        p->guest_events.data = p;
        n = strlen(spec->id) + sizeof("@vm");
        p->id = strdup(spec->id);
        p->state_dir = strdup(spec->state_dir);
        p->record_path = path_join(spec->state_dir, HCS_RECORD_FILE);
        p->system_id = malloc(n);
        if (p->system_id)
                snprintf(p->system_id, n, "%s@vm", spec->id);
        if (!p->id || !p->state_dir || !p->record_path || !p->system_id) {
                pod_release(p);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (hcs_binding_current(&p->b, err) < 0) {
                pod_release(p);
                return -ENODEV;
        }
        *ret = p;
        return 0;
}

/* Down with the VM: terminate it (a created one too: closing the handle
 * alone would leave it). */
static int vm_terminate(struct drv_pod *p, struct uvm_error **err)
{
        char *result = NULL;
        int r;

        if (!p->created)
                return 0;
        r = p->b->hcs->terminate(p->sys, p->b->cfg.terminate_wait_ms, &result);
        if (r < 0 && r != -ENOENT)
                return hcs_call_error(err, r, result, "terminate the VM", p->system_id);
        free(result);
        p->created = p->started = false;
        return 0;
}

/* Undo what a failed create did, in reverse order, then its record when
 * nothing it lists is left. Failures are logged: the step's error is the
 * one that counts; a record kept lets the next reattach try again. */
static void pod_undo(struct drv_pod *p)
{
        struct uvm_error *e = NULL;
        bool left = false;

        hcs_nics_remove(p); /* the VM's end drops them too */
        if (p->ns_id[0] && hcs_net_delete_namespace(p, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: %s, ignoring", p->id, e->msg);
                e = uvm_error_free(e);
                left = true;
        }
        if (p->guest) {
                p->b->guest->disconnect(p->guest);
                p->guest = NULL;
        }
        if (vm_terminate(p, &e) < 0) {
                log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: %s, ignoring", p->id, e->msg);
                e = uvm_error_free(e);
                left = true;
        }
        if (p->sys) {
                p->b->hcs->close(p->sys);
                p->sys = NULL;
        }
        if (p->recorded && !left)
                hcs_record_remove(p);
}

/* HCS's basic properties of the VM, parsed. */
static int vm_props(struct drv_pod *p, json_object **ret, struct uvm_error **err)
{
        _cleanup_free_ char *json = NULL;
        char *result = NULL;
        json_object *props;
        int r;

        r = p->b->hcs->properties(p->sys, NULL, p->b->cfg.create_timeout_ms, &json, &result);
        if (r < 0)
                return hcs_call_error(err, r, result, "query the VM", p->system_id);
        free(result);
        props = json ? json_tokener_parse(json) : NULL;
        if (!json_object_is_type(props, json_type_object)) {
                json_object_put(props);
                return uvm_error_set(err, EIO, "query the VM %s: HCS's answer is not a JSON object",
                                     p->system_id);
        }
        *ret = props;
        return 0;
}

/* The VM's RuntimeId from its properties (braces allowed): what the agent
 * is dialled at. */
static int vm_runtime_id(struct drv_pod *p, json_object *props, struct uvm_error **err)
{
        const char *id = json_string_of(props, "RuntimeId");
        char guid[HCN_GUID_LEN + 1] = "";

        if (id && strlen(id) == HCN_GUID_LEN + 2 && id[0] == '{' && id[HCN_GUID_LEN + 1] == '}')
                memcpy(guid, id + 1, HCN_GUID_LEN);
        else if (id && strlen(id) == HCN_GUID_LEN)
                memcpy(guid, id, HCN_GUID_LEN);
        if (!hcs_guid_valid(guid))
                return uvm_error_set(err, EIO,
                                     "HCS reports no valid RuntimeId for the VM %s (%.60s)",
                                     p->system_id, id ? id : "none");
        memcpy(p->runtime_id, guid, sizeof(guid));
        return 0;
}

static int vm_create(struct drv_pod *p, const struct drv_pod_spec *spec, struct uvm_error **err)
{
        const struct hcs_api *hcs = p->b->hcs;
        _cleanup_json_ json_object *props = NULL;
        _cleanup_free_ char *doc = NULL;
        char *result = NULL;
        int r;

        r = hcs_doc_uvm(p->b, spec, p->system_id, &doc, err);
        if (r < 0)
                return uvm_error_wrap(err, "the document of VM %s", p->system_id);
        /* Its id first: a uvmd that dies once HCS made it finds it. */
        r = hcs_record_write(p, HCS_RECORD_CREATING, err);
        if (r < 0)
                return r;
        r = hcs->create(p->system_id, doc, p->b->cfg.create_timeout_ms, &p->sys, &result);
        if (r < 0)
                return hcs_call_error(err, r, result, "create the VM", p->system_id);
        free(result);
        p->created = true;
        r = hcs->set_callback(p->sys, hcs_pod_on_system_event, p);
        if (r < 0)
                return uvm_error_set(err, -r, "watch the VM %s: %s", p->system_id, strerror(-r));
        /* The RuntimeId exists once the system does (hcsshim reads it here). */
        r = vm_props(p, &props, err);
        if (r >= 0)
                r = vm_runtime_id(p, props, err);
        if (r < 0)
                return r;
        result = NULL;
        r = hcs->start(p->sys, p->b->cfg.create_timeout_ms, &result);
        if (r < 0)
                return hcs_call_error(err, r, result, "start the VM", p->system_id);
        free(result);
        p->started = true;
        return 0;
}

static int guest_connect(struct drv_pod *p, struct uvm_error **err)
{
        int r = p->b->guest->connect(p->system_id, p->runtime_id, p->b->cfg.guest_connect_ms,
                                     &p->guest_events, &p->guest, err);

        if (r < 0)
                return uvm_error_wrap(err, "connect to the agent in VM %s", p->system_id);
        return 0;
}

/* The pod's resolv.conf, hosts and hostname, which the sandbox layer
 * wrote into its directory (sandbox_win.c), into the VM for the
 * containers' bind mounts (ctr_win.c). A directory without them (a pod
 * made by an older uvmd) sends none. */
static int pod_files_send(struct drv_pod *p, struct uvm_error **err)
{
        static const char *const names[] = {"resolv.conf", "hosts", "hostname"};
        char *text[ARRAY_SIZE(names)] = {NULL};
        int r = 0;

        if (!p->b->guest->pod_files)
                return 0;
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(names); i++) {
                _cleanup_free_ char *path = path_join(p->state_dir, names[i]);
                size_t len;

                if (!path)
                        r = uvm_error_set(err, ENOMEM, "out of memory");
                else if ((r = plat_read_file(path, 65536, &text[i], &len)) == -ENOENT)
                        r = 1; /* none: stop, send nothing */
                else if (r < 0)
                        r = uvm_error_set(err, -r, "read %s: %s", path, strerror(-r));
                else if (strlen(text[i]) != len)
                        r = uvm_error_set(err, EINVAL, "%s: a NUL byte", path);
        }
        if (r == 0)
                r = p->b->guest->pod_files(p->guest, text[0], text[1], text[2], err);
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                free(text[i]);
        if (r < 0)
                return uvm_error_wrap(err, "the pod's resolv.conf, hosts and hostname");
        return 0;
}

int hcs_pod_create(const struct drv_pod_spec *spec, struct drv_pod **ret_pod,
                   struct uvm_error **err)
{
        _cleanup_(pod_releasep) struct drv_pod *p = NULL;
        int r;

        r = pod_alloc(spec, &p, err);
        if (r >= 0)
                r = hcs_net_set_endpoints(p, spec->hcn_endpoints, err);
        if (r >= 0 && spec->hcn_namespace)
                r = hcs_net_set_namespace(p, spec->hcn_namespace, err);
        if (r >= 0 && hcs_record_exists(p))
                r = uvm_error_set(err, EEXIST, "%s exists: the pod has a VM already",
                                  p->record_path);
        if (r >= 0)
                r = vm_create(p, spec, err);
        if (r >= 0)
                r = guest_connect(p, err);
        if (r >= 0)
                r = hcs_net_setup(p, err);
        if (r >= 0)
                r = pod_files_send(p, err);
        if (r >= 0)
                r = hcs_record_write(p, HCS_RECORD_READY, err);
        if (r >= 0 && !hcs_pod_go_live(p))
                r = uvm_error_set(err, EIO, "the VM %s exited while it was set up", p->system_id);
        if (r < 0) {
                if (p)
                        pod_undo(p);
                return uvm_error_wrap(err, "hcs pod %s", spec && spec->id ? spec->id : "");
        }
        log_pod(LOG_LEVEL_INFO, p->id, "hcs pod %s: VM %s running with %zu NICs", p->id,
                p->system_id, p->n_eps);
        *ret_pod = TAKE_PTR(p);
        return 0;
}

/* Whether HCS still runs the system, and its RuntimeId: -ESRCH (nothing
 * in err) and why in ret_why when it stopped. */
static int vm_running(struct drv_pod *p, char *ret_why, size_t size, struct uvm_error **err)
{
        _cleanup_json_ json_object *props = NULL;
        const char *state;
        int r;

        r = vm_props(p, &props, err);
        if (r < 0)
                return r;
        state = json_string_of(props, "State");
        if (state && !STR_EQ(state, "Running")) {
                snprintf(ret_why, size, "the VM %s is %.32s", p->system_id, state);
                return -ESRCH;
        }
        return vm_runtime_id(p, props, err);
}

/* What the record lists goes: the VM (its NICs go with it), its handle,
 * the namespace (the endpoints leave it), then the record. -ESRCH with
 * why in err, or the first failure (the record kept for another try). */
static int reattach_teardown(struct drv_pod *p, const char *why, struct uvm_error **err)
{
        int r;

        if (p->guest) {
                p->b->guest->disconnect(p->guest);
                p->guest = NULL;
        }
        r = vm_terminate(p, err);
        if (p->sys) {
                p->b->hcs->close(p->sys);
                p->sys = NULL;
        }
        if (r >= 0)
                hcs_disks_remove_all(p); /* the VM is gone: its grants and scratch files */
        if (r >= 0 && p->ns_id[0])
                r = hcs_net_delete_namespace(p, err);
        if (r >= 0)
                r = hcs_record_remove(p);
        if (r < 0)
                return uvm_error_wrap(err, "%s; undo it", why);
        log_pod(LOG_LEVEL_INFO, p->id, "hcs pod %s: %s: removed what was recorded", p->id, why);
        return uvm_error_set(err, ESRCH, "%s: removed what was recorded", why);
}

/* Open the recorded system: false when HCS does not know it (anymore). */
static int vm_open(struct drv_pod *p, bool *ret_found, struct uvm_error **err)
{
        char *result = NULL;
        int r = p->b->hcs->open(p->system_id, &p->sys, &result);

        *ret_found = r >= 0;
        if (r == -ENOENT) {
                free(result);
                return 0;
        }
        if (r < 0)
                return hcs_call_error(err, r, result, "open the VM", p->system_id);
        free(result);
        return 0;
}

/* uvmd died while it created the pod: whatever exists of it goes. */
static int reattach_unfinished(struct drv_pod *p, struct uvm_error **err)
{
        bool found;
        int r = vm_open(p, &found, err);

        if (r < 0)
                return r;
        p->created = found;
        return reattach_teardown(p, "uvmd stopped while it created the pod", err);
}

/* Connect to the agent of the running VM. When it does not answer in
 * time nothing can manage the VM (its containers count as exited), so it
 * goes, with its namespace and record: -ESRCH. */
static int reattach_agent(struct drv_pod *p, struct uvm_error **err)
{
        struct uvm_error *e = NULL;
        char why[400];
        int r = p->b->guest->connect(p->system_id, p->runtime_id, p->b->cfg.guest_connect_ms,
                                     &p->guest_events, &p->guest, &e);

        if (r >= 0)
                return 0;
        snprintf(why, sizeof(why), "the agent in VM %s does not answer (%.300s)", p->system_id,
                 e ? e->msg : strerror(-r));
        uvm_error_free(e);
        return reattach_teardown(p, why, err);
}

static int reattach_steps(struct drv_pod *p, struct uvm_error **err)
{
        enum hcs_record_state state;
        char why[160];
        bool found;
        int r;

        r = hcs_record_read(p, &state, err);
        if (r == -ENOENT)
                return uvm_error_set(err, ESRCH, "no VM recorded in %s", p->record_path);
        if (r < 0)
                return r;
        if (state == HCS_RECORD_CREATING)
                return reattach_unfinished(p, err);
        r = vm_open(p, &found, err);
        if (r >= 0 && !found) {
                snprintf(why, sizeof(why), "the VM %s is gone", p->system_id);
                return reattach_teardown(p, why, err);
        }
        if (r >= 0 && (r = vm_running(p, why, sizeof(why), err)) == -ESRCH)
                return reattach_teardown(p, why, err);
        if (r >= 0 && (r = p->b->hcs->set_callback(p->sys, hcs_pod_on_system_event, p)) < 0)
                r = uvm_error_set(err, -r, "watch the VM %s: %s", p->system_id, strerror(-r));
        if (r < 0)
                return r;
        p->created = p->started = true;
        for (size_t i = 0; i < p->n_eps; i++)
                p->nics[i].on_host = p->nics[i].in_guest = true;
        r = reattach_agent(p, err);
        if (r >= 0) {
                hcs_ca_nics_settle(p); /* an add or delete a dead uvmd left midway */
                hcs_disks_settle(p);
                hcs_shares_settle(p);
        }
        return r;
}

int hcs_pod_reattach(const struct drv_pod_spec *spec, struct drv_pod **ret_pod,
                     struct uvm_error **err)
{
        _cleanup_(pod_releasep) struct drv_pod *p = NULL;
        int r;

        r = pod_alloc(spec, &p, err);
        if (r >= 0)
                r = reattach_steps(p, err);
        if (r < 0)
                return uvm_error_wrap(err, "reattach to hcs pod %s",
                                      spec && spec->id ? spec->id : "");
        if (!hcs_pod_go_live(p))
                return uvm_error_set(err, ESRCH, "reattach to hcs pod %s: the VM %s exited", p->id,
                                     p->system_id);
        log_pod(LOG_LEVEL_INFO, p->id, "hcs pod %s: reattached to VM %s", p->id, p->system_id);
        *ret_pod = TAKE_PTR(p);
        return 0;
}

/* Graceful shutdown first; terminate when it fails or times out. */
static int vm_down(struct drv_pod *p, struct uvm_error **err)
{
        struct uvm_error *e = NULL;
        char *result = NULL;
        int r;

        if (!p->created)
                return 0;
        if (hcs_pod_exited(p)) {
                p->created = p->started = false;
                return 0;
        }
        r = p->b->hcs->shutdown(p->sys, p->b->cfg.shutdown_wait_ms, &result);
        if (r >= 0 || r == -ENOENT) {
                free(result);
                p->created = p->started = false;
                return 0;
        }
        hcs_call_error(&e, r, result, "shut down the VM", p->system_id);
        log_pod(LOG_LEVEL_INFO, p->id, "hcs pod %s: %s: terminating it", p->id, e->msg);
        uvm_error_free(e);
        return vm_terminate(p, err);
}

int hcs_pod_stop(struct drv_pod *p, uint32_t timeout_ms, struct uvm_error **err)
{
        struct uvm_error *e = NULL;
        int r, q;

        hcs_pod_set_quiet(p, true);
        if (p->guest && p->created && !hcs_pod_exited(p) &&
            p->b->guest->ctr_stop_all(p->guest, timeout_ms, &e) < 0) {
                /* The VM's end stops them all the same. */
                log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: stop containers: %s, ignoring", p->id,
                        e->msg);
                e = uvm_error_free(e);
        }
        hcs_shares_remove_all(p);
        hcs_disks_remove_all(p);
        hcs_nics_remove(p);
        r = vm_down(p, err);
        /* The agent's connection stays until pod_free (driver.h): the
         * sandbox layer ends the pod's streaming sessions on it after the
         * stop. Its end is quiet (p->quiet). */
        if (p->ns_id[0] && (q = hcs_net_delete_namespace(p, &e)) < 0) {
                if (r < 0)
                        log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: %s, ignoring", p->id, e->msg);
                else
                        r = uvm_error_set(err, -q, "%s", e->msg);
                e = uvm_error_free(e);
        }
        if (r < 0)
                return uvm_error_wrap(err, "stop hcs pod %s", p->id);
        hcs_record_remove(p);
        return 0;
}

void hcs_pod_free(struct drv_pod *p)
{
        pod_release(p);
}
