/* Fake HCS, HCN and guest tables (fakes.h). */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "tests/unit/hcs_driver/fakes.h"

#define MAX_SYSTEMS 8
#define MAX_NAMESPACES 8
#define MAX_RULES 8
#define MAX_KINDS 48

struct fake_world fake;

static struct fake_sys {
        char id[128];
        bool exists, running;
        int nics, guest_nics, containers;
        bool luns[64];         /* SCSI attachments on the host */
        bool guest_luns[64];   /* mounted in the guest */
        bool shares[64];       /* Plan9 shares "m<N>" on the host */
        bool guest_shares[64]; /* mounted at /run/mounts/m<N> in the guest */
} systems[MAX_SYSTEMS];

static struct fake_ns {
        char id[HCN_GUID_LEN + 1];
        int members;
} namespaces[MAX_NAMESPACES];

static struct {
        char call[32];
        int nth, err;
} rules[MAX_RULES];
static size_t n_rules;

static struct {
        char call[32];
        int count;
} kinds[MAX_KINDS];

static char log_text[FAKE_LOG_MAX * FAKE_LINE_MAX];

static struct {
        struct fake_world world;
        struct fake_sys systems[MAX_SYSTEMS];
        struct fake_ns namespaces[MAX_NAMESPACES];
} saved;

struct hcs_system {
        struct fake_sys *s;
};

struct hcs_guest {
        struct fake_sys *s;
};

void fake_reset(void)
{
        memset(&fake, 0, sizeof(fake));
        memset(systems, 0, sizeof(systems));
        memset(namespaces, 0, sizeof(namespaces));
        memset(rules, 0, sizeof(rules));
        memset(kinds, 0, sizeof(kinds));
        n_rules = 0;
        fake.state = "Running";
        fake.runtime_id = FAKE_RUNTIME_ID;
}

void fake_fail(const char *call, int nth, int err)
{
        if (n_rules == MAX_RULES)
                abort();
        snprintf(rules[n_rules].call, sizeof(rules[n_rules].call), "%s", call);
        rules[n_rules].nth = nth;
        rules[n_rules++].err = err;
}

/* Count this call of its kind: 0, or -errno when it is to fail. */
static int verdict(const char *call)
{
        size_t i;

        for (i = 0; i < MAX_KINDS && kinds[i].call[0]; i++)
                if (strcmp(kinds[i].call, call) == 0)
                        break;
        if (i == MAX_KINDS)
                abort();
        if (fake.on_step)
                fake.on_step(call, false);
        snprintf(kinds[i].call, sizeof(kinds[i].call), "%s", call);
        kinds[i].count++;
        for (size_t j = 0; j < n_rules; j++)
                if (strcmp(rules[j].call, call) == 0 && rules[j].nth == kinds[i].count)
                        return -rules[j].err;
        return 0;
}

/* Log "call args" (" !" when r < 0); returns r. */
static int note(int r, const char *call, const char *fmt, ...)
{
        char args[FAKE_LINE_MAX - 48] = "";
        va_list ap;

        if (fmt) {
                va_start(ap, fmt);
                vsnprintf(args, sizeof(args), fmt, ap);
                va_end(ap);
        }
        if (fake.n_log == FAKE_LOG_MAX)
                abort();
        snprintf(fake.log[fake.n_log++], FAKE_LINE_MAX, "%s%s%s%s", call, *args ? " " : "", args,
                 r < 0 ? " !" : "");
        return r;
}

/* A call did what it does: returns 0. */
static int done(const char *call)
{
        if (fake.on_step)
                fake.on_step(call, true);
        return 0;
}

void fake_crash_save(void)
{
        saved.world = fake;
        memcpy(saved.systems, systems, sizeof(systems));
        memcpy(saved.namespaces, namespaces, sizeof(namespaces));
}

void fake_crash_restore(void)
{
        fake_reset();
        fake = saved.world;
        memcpy(systems, saved.systems, sizeof(systems));
        memcpy(namespaces, saved.namespaces, sizeof(namespaces));
        fake.handles = fake.guests = 0;
        fake.hcs_cb = NULL;
        fake.hcs_cb_data = NULL;
        fake.guest_events = NULL;
        fake.on_step = NULL;
        fake.n_log = 0;
}

const char *fake_log_text(void)
{
        size_t len = 0;

        log_text[0] = '\0';
        for (size_t i = 0; i < fake.n_log; i++)
                len += (size_t) snprintf(log_text + len, sizeof(log_text) - len, "%s%s",
                                         i ? "\n" : "", fake.log[i]);
        return log_text;
}

size_t fake_log_count(const char *prefix)
{
        size_t n = 0;

        for (size_t i = 0; i < fake.n_log; i++)
                n += strncmp(fake.log[i], prefix, strlen(prefix)) == 0;
        return n;
}

int fake_live(void)
{
        return fake.systems + fake.handles + fake.namespaces + fake.ns_members + fake.host_nics +
               fake.guests + fake.guest_nics + fake.containers + fake.host_disks +
               fake.guest_disks + fake.host_shares + fake.guest_shares + fake.n_grants;
}

static char *result_doc(const char *call)
{
        char buf[160];

        snprintf(buf, sizeof(buf), "{\"Error\":-2147467259,\"ErrorMessage\":\"fake %s failed\"}",
                 call);
        return strdup(buf);
}

/* ---- HCS ---------------------------------------------------------- */

static struct fake_sys *find_sys(const char *id)
{
        for (size_t i = 0; i < MAX_SYSTEMS; i++)
                if (systems[i].exists && strcmp(systems[i].id, id) == 0)
                        return &systems[i];
        return NULL;
}

/* The system stops: what was in it goes with it. */
static void sys_gone(struct fake_sys *s)
{
        fake.systems--;
        fake.host_nics -= s->nics;
        fake.guest_nics -= s->guest_nics;
        fake.containers -= s->containers;
        for (size_t i = 0; i < 64; i++) {
                fake.host_disks -= s->luns[i];
                fake.guest_disks -= s->guest_luns[i];
                s->luns[i] = s->guest_luns[i] = false;
                fake.host_shares -= s->shares[i];
                fake.guest_shares -= s->guest_shares[i];
                s->shares[i] = s->guest_shares[i] = false;
        }
        s->nics = s->guest_nics = s->containers = 0;
        s->exists = s->running = false;
}

void fake_hcs_forget_all(void)
{
        for (size_t i = 0; i < MAX_SYSTEMS; i++)
                if (systems[i].exists)
                        sys_gone(&systems[i]);
}

/* After a successful call: the VM exits now if the test said so. */
static void maybe_exit(const char *call)
{
        if (!fake.exit_after || strcmp(fake.exit_after, call) != 0 || --fake.exit_nth != 0)
                return;
        fake_hcs_forget_all();
        if (fake.hcs_cb)
                fake.hcs_cb(fake.hcs_cb_data, "SystemExited", NULL);
}

static struct hcs_system *new_handle(struct fake_sys *s)
{
        struct hcs_system *h = calloc(1, sizeof(*h));

        if (!h)
                abort();
        h->s = s;
        fake.handles++;
        return h;
}

static int hcs_fail(int r, const char *call, char **ret_result)
{
        if (ret_result)
                *ret_result = result_doc(call);
        return r;
}

static int f_create(const char *id, const char *doc, uint32_t timeout_ms,
                    struct hcs_system **ret_sys, char **ret_result)
{
        int r = verdict("hcs.create");
        struct fake_sys *s = NULL;

        if (r >= 0 && find_sys(id))
                r = -EEXIST;
        note(r, "hcs.create", "%s %u", id, timeout_ms);
        for (size_t i = 0; r >= 0 && !s && i < MAX_SYSTEMS; i++)
                if (!systems[i].exists)
                        s = &systems[i];
        if (r < 0 || !s)
                return hcs_fail(r < 0 ? r : -ENOSPC, "hcs.create", ret_result);
        snprintf(fake.uvm_doc, sizeof(fake.uvm_doc), "%s", doc);
        *s = (struct fake_sys){.exists = true};
        snprintf(s->id, sizeof(s->id), "%s", id);
        fake.systems++;
        *ret_sys = new_handle(s);
        return done("hcs.create");
}

static int f_open(const char *id, struct hcs_system **ret_sys, char **ret_result)
{
        int r = verdict("hcs.open");
        struct fake_sys *s = find_sys(id);

        if (r >= 0 && !s)
                r = -ENOENT;
        note(r, "hcs.open", "%s", id);
        if (r < 0)
                return hcs_fail(r, "hcs.open", ret_result);
        *ret_sys = new_handle(s);
        return done("hcs.open");
}

static int f_start(struct hcs_system *sys, uint32_t timeout_ms, char **ret_result)
{
        int r = note(verdict("hcs.start"), "hcs.start", "%s %u", sys->s->id, timeout_ms);

        if (r < 0)
                return hcs_fail(r, "hcs.start", ret_result);
        sys->s->running = true;
        maybe_exit("hcs.start");
        return done("hcs.start");
}

static int f_stop(struct hcs_system *sys, uint32_t timeout_ms, char **ret_result, const char *call)
{
        int r = verdict(call);

        if (r >= 0 && !sys->s->exists)
                r = -ENOENT;
        note(r, call, "%s %u", sys->s->id, timeout_ms);
        if (r < 0)
                return hcs_fail(r, call, ret_result);
        sys_gone(sys->s);
        return done(call);
}

static int f_shutdown(struct hcs_system *sys, uint32_t timeout_ms, char **ret_result)
{
        return f_stop(sys, timeout_ms, ret_result, "hcs.shutdown");
}

static int f_terminate(struct hcs_system *sys, uint32_t timeout_ms, char **ret_result)
{
        return f_stop(sys, timeout_ms, ret_result, "hcs.terminate");
}

/* A SCSI attachment: "VirtualMachine/Devices/Scsi/<controller>/Attachments/<lun>". */
static int scsi_modify(struct hcs_system *sys, const char *request, const char *path, bool add,
                       char **ret_result)
{
        const char *at = strstr(path, "/Attachments/");
        unsigned lun = at ? (unsigned) atoi(at + 13) : 64;
        int r = verdict("hcs.scsi");

        if (r >= 0 && (lun >= 64 || !sys->s->exists))
                r = -EINVAL;
        if (r >= 0 && add && sys->s->luns[lun])
                r = -EEXIST;
        if (r >= 0 && !add && !sys->s->luns[lun])
                r = -ENOENT;
        note(r, "hcs.scsi", "%s %u", add ? "Add" : "Remove", lun);
        if (r < 0)
                return hcs_fail(r, "hcs.scsi", ret_result);
        snprintf(fake.scsi_doc, sizeof(fake.scsi_doc), "%s", request);
        sys->s->luns[lun] = add;
        fake.host_disks += add ? 1 : -1;
        maybe_exit("hcs.scsi");
        return done("hcs.scsi");
}

/* A Plan9 share: "VirtualMachine/Devices/Plan9/Shares", named "m<N>". */
static int plan9_modify(struct hcs_system *sys, const char *request, json_object *o, bool add,
                        char **ret_result)
{
        json_object *set = json_object_object_get(o, "Settings");
        const char *name = json_string_of(set, "Name"), *path = json_string_of(set, "Path");
        unsigned n = name && name[0] == 'm' ? (unsigned) atoi(name + 1) : 64;
        int r = verdict("hcs.plan9");
        json_object *flags = json_object_object_get(set, "Flags");
        json_object *files = json_object_object_get(set, "AllowedFiles");
        char only[300] = "";

        if (r >= 0 && (n >= 64 || !sys->s->exists || (add && !path)))
                r = -EINVAL;
        if (r >= 0 && add && sys->s->shares[n])
                r = -EEXIST;
        if (r >= 0 && !add && !sys->s->shares[n])
                r = -ENOENT;
        /* A file's share: " [name]", and 0x80 in its flags (else "?"). */
        if (add && files) {
                const char *f =
                        json_object_is_type(files, json_type_array) &&
                                        json_object_array_length(files) == 1
                                ? json_object_get_string(json_object_array_get_idx(files, 0))
                                : NULL;

                snprintf(only, sizeof(only), " [%s]%s", f ? f : "?",
                         json_object_get_int(flags) & 0x80 ? "" : "?");
        }
        note(r, "hcs.plan9", "%s %s%s%s%s", add ? "Add" : "Remove", name ? name : "?",
             add ? (json_object_get_int(flags) & 1 ? " ro " : " rw ") : "", add ? path : "", only);
        if (r < 0)
                return hcs_fail(r, "hcs.plan9", ret_result);
        snprintf(fake.plan9_doc, sizeof(fake.plan9_doc), "%s", request);
        sys->s->shares[n] = add;
        fake.host_shares += add ? 1 : -1;
        maybe_exit("hcs.plan9");
        return done("hcs.plan9");
}

static int f_modify(struct hcs_system *sys, const char *request, uint32_t timeout_ms,
                    char **ret_result)
{
        json_object *o = json_tokener_parse(request);
        const char *type = json_string_of(o, "RequestType");
        const char *path = json_string_of(o, "ResourcePath");
        const char *nic = path ? strrchr(path, '/') : NULL;
        bool add = type && strcmp(type, "Add") == 0;
        int r;

        if (path && strstr(path, "/Plan9/")) {
                r = plan9_modify(sys, request, o, add, ret_result);
                json_object_put(o);
                return r;
        }
        if (path && strstr(path, "/Scsi/")) {
                r = scsi_modify(sys, request, path, add, ret_result);
                json_object_put(o);
                return r;
        }
        r = verdict("hcs.modify");
        if (r >= 0 && (!nic || !sys->s->exists))
                r = -EINVAL;
        if (r >= 0 && !add && sys->s->nics == 0)
                r = -ENOENT; /* as HCS for an adapter it does not have */
        note(r, "hcs.modify", "%s %s %u", type ? type : "?", nic ? nic + 1 : "?", timeout_ms);
        json_object_put(o);
        if (r < 0)
                return hcs_fail(r, "hcs.modify", ret_result);
        sys->s->nics += add ? 1 : -1;
        fake.host_nics += add ? 1 : -1;
        return done("hcs.modify");
}

/* The grants' entry of (id, path): its index, or -1. */
static int grant_find(const char *entry)
{
        for (int i = 0; i < fake.n_grants; i++)
                if (strcmp(fake.grants[i], entry) == 0)
                        return i;
        return -1;
}

static void grant_entry(const char *id, const char *path, char *buf, size_t size)
{
        const char *base = strrchr(path, '\\') ? strrchr(path, '\\') : strrchr(path, '/');

        snprintf(buf, size, "%s %s", id, base ? base + 1 : path);
}

static int f_grant(const char *id, const char *path, char **ret_result)
{
        char entry[FAKE_LINE_MAX];
        int r;

        grant_entry(id, path, entry, sizeof(entry));
        r = note(verdict("hcs.grant"), "hcs.grant", "%s", entry);
        if (r < 0)
                return hcs_fail(r, "hcs.grant", ret_result);
        if (grant_find(entry) < 0) {
                if (fake.n_grants == (int) (sizeof(fake.grants) / sizeof(fake.grants[0])))
                        abort();
                snprintf(fake.grants[fake.n_grants++], FAKE_LINE_MAX, "%s", entry);
        }
        return done("hcs.grant");
}

/* An entry the file lacks is no error (nothing to take out). */
static int f_revoke(const char *id, const char *path, char **ret_result)
{
        char entry[FAKE_LINE_MAX];
        int r, i;

        grant_entry(id, path, entry, sizeof(entry));
        r = note(verdict("hcs.revoke"), "hcs.revoke", "%s", entry);
        if (r < 0)
                return hcs_fail(r, "hcs.revoke", ret_result);
        if ((i = grant_find(entry)) >= 0) {
                memmove(fake.grants[i], fake.grants[i + 1],
                        (size_t) (fake.n_grants - i - 1) * sizeof(fake.grants[0]));
                fake.n_grants--;
        }
        return done("hcs.revoke");
}

static int f_properties(struct hcs_system *sys, const char *query, uint32_t timeout_ms,
                        char **ret_json, char **ret_result)
{
        char buf[384];
        int r = note(verdict("hcs.properties"), "hcs.properties", "%s", sys->s->id);

        if (r < 0)
                return hcs_fail(r, "hcs.properties", ret_result);
        snprintf(buf, sizeof(buf), "{\"Id\":\"%s\",\"State\":\"%s\"%s%s%s}", sys->s->id,
                 sys->s->exists ? fake.state : "Stopped",
                 fake.runtime_id[0] ? ",\"RuntimeId\":\"" : "", fake.runtime_id,
                 fake.runtime_id[0] ? "\"" : "");
        *ret_json = strdup(buf);
        return done("hcs.properties");
}

static int f_set_callback(struct hcs_system *sys, hcs_event_fn fn, void *data)
{
        int r = note(verdict("hcs.set_callback"), "hcs.set_callback", "%s", sys->s->id);

        if (r < 0)
                return r;
        fake.hcs_cb = fn;
        fake.hcs_cb_data = data;
        return done("hcs.set_callback");
}

static void f_close(struct hcs_system *sys)
{
        if (!sys)
                return;
        note(0, "hcs.close", "%s", sys->s->id);
        fake.hcs_cb = NULL; /* no event after close (one system at a time here) */
        fake.hcs_cb_data = NULL;
        fake.handles--;
        free(sys);
}

const struct hcs_api fake_hcs = {
        .name = "fake",
        .create = f_create,
        .open = f_open,
        .start = f_start,
        .shutdown = f_shutdown,
        .terminate = f_terminate,
        .modify = f_modify,
        .properties = f_properties,
        .set_callback = f_set_callback,
        .grant_vm_access = f_grant,
        .revoke_vm_access = f_revoke,
        .close = f_close,
};

/* ---- HCN ---------------------------------------------------------- */

static struct fake_ns *find_ns(const char *id)
{
        for (size_t i = 0; i < MAX_NAMESPACES; i++)
                if (namespaces[i].id[0] && strcmp(namespaces[i].id, id) == 0)
                        return &namespaces[i];
        return NULL;
}

static int hcn_fail(int r, const char *call, char **ret_error)
{
        if (ret_error)
                *ret_error = result_doc(call);
        return r;
}

static int f_ns_create(const char *ns_id, const char *settings, char **ret_error)
{
        int r = note(verdict("hcn.ns_create"), "hcn.ns_create", NULL);
        struct fake_ns *n = NULL;

        for (size_t i = 0; r >= 0 && !n && i < MAX_NAMESPACES; i++)
                if (!namespaces[i].id[0])
                        n = &namespaces[i];
        if (r < 0 || !n)
                return hcn_fail(r < 0 ? r : -ENOSPC, "hcn.ns_create", ret_error);
        snprintf(n->id, sizeof(n->id), "%s", ns_id);
        snprintf(fake.ns_id, sizeof(fake.ns_id), "%s", ns_id);
        fake.namespaces++;
        return done("hcn.ns_create");
}

static int f_ns_delete(const char *ns_id, char **ret_error)
{
        int r = verdict("hcn.ns_delete");
        struct fake_ns *n = find_ns(ns_id);

        if (r >= 0 && !n)
                r = -ENOENT;
        note(r, "hcn.ns_delete", NULL);
        if (r < 0)
                return hcn_fail(r, "hcn.ns_delete", ret_error);
        fake.ns_members -= n->members;
        fake.namespaces--;
        memset(n, 0, sizeof(*n));
        return done("hcn.ns_delete");
}

static int f_ns_modify(const char *ns_id, const char *request, char **ret_error)
{
        json_object *o = json_tokener_parse(request), *settings = NULL;
        const char *type = json_string_of(o, "RequestType");
        const char *ep;
        struct fake_ns *n = find_ns(ns_id);
        bool add = type && strcmp(type, "Add") == 0;
        int r;

        json_object_object_get_ex(o, "Settings", &settings);
        ep = json_string_of(settings, "EndpointId");
        r = verdict("hcn.ns_modify");
        if (r >= 0 && (!n || (!add && n->members == 0)))
                r = -ENOENT;
        note(r, "hcn.ns_modify", "%s %s", type ? type : "?", ep ? ep : "?");
        json_object_put(o);
        if (r < 0)
                return hcn_fail(r, "hcn.ns_modify", ret_error);
        n->members += add ? 1 : -1;
        fake.ns_members += add ? 1 : -1;
        return done("hcn.ns_modify");
}

static int f_ep_query(const char *ep_id, const char *query, char **ret_json, char **ret_error)
{
        int r = note(verdict("hcn.ep_query"), "hcn.ep_query", "%s", ep_id);
        unsigned d = (unsigned) (ep_id[0] - '0') & 0xf;
        char buf[320];

        if (r < 0)
                return hcn_fail(r, "hcn.ep_query", ret_error);
        snprintf(buf, sizeof(buf),
                 "{\"ID\":\"%s\",\"MacAddress\":\"00-15-5D-00-00-%02X\","
                 "\"IpConfigurations\":[{\"IpAddress\":\"10.0.0.%u\",\"PrefixLength\":24}],"
                 "\"Routes\":[{\"NextHop\":\"10.0.0.1\",\"DestinationPrefix\":\"0.0.0.0/0\"}]}",
                 ep_id, d, 10 + d);
        *ret_json = strdup(buf);
        return done("hcn.ep_query");
}

const struct hcn_api fake_hcn = {
        .name = "fake",
        .namespace_create = f_ns_create,
        .namespace_delete = f_ns_delete,
        .namespace_modify = f_ns_modify,
        .endpoint_query = f_ep_query,
};

/* ---- The guest ---------------------------------------------------- */

static int guest_fail(int r, const char *call, struct uvm_error **err)
{
        return uvm_error_set(err, -r, "fake %s failed", call);
}

static int g_connect(const char *system_id, const char *runtime_id, uint32_t timeout_ms,
                     const struct hcs_guest_events *events, struct hcs_guest **ret,
                     struct uvm_error **err)
{
        int r = verdict("guest.connect");
        struct fake_sys *s = find_sys(system_id);

        if (r >= 0 && (!s || !s->running))
                r = -ETIMEDOUT; /* no agent answers in a VM that does not run */
        snprintf(fake.connect_runtime_id, sizeof(fake.connect_runtime_id), "%s",
                 runtime_id ? runtime_id : "(null)");
        note(r, "guest.connect", "%s %u", system_id, timeout_ms);
        if (r < 0)
                return guest_fail(r, "guest.connect", err);
        *ret = calloc(1, sizeof(**ret));
        if (!*ret)
                abort();
        (*ret)->s = s;
        fake.guest_events = events;
        fake.guests++;
        return done("guest.connect");
}

static int g_add_nic(struct hcs_guest *g, const char *ns_id, const char *nic_id,
                     const struct hcn_endpoint *ep, struct uvm_error **err)
{
        int r = note(verdict("guest.add_nic"), "guest.add_nic", "%s", nic_id);

        if (r < 0)
                return guest_fail(r, "guest.add_nic", err);
        snprintf(fake.nic_ns_id, sizeof(fake.nic_ns_id), "%s", ns_id);
        snprintf(fake.nic_mac, sizeof(fake.nic_mac), "%s", ep->mac);
        snprintf(fake.nic_ip, sizeof(fake.nic_ip), "%s", ep->ip);
        fake.nic_prefix = ep->prefix_len;
        g->s->guest_nics++;
        fake.guest_nics++;
        maybe_exit("guest.add_nic");
        return done("guest.add_nic");
}

static int g_remove_nic(struct hcs_guest *g, const char *ns_id, const char *nic_id,
                        struct uvm_error **err)
{
        int r = verdict("guest.remove_nic");

        if (r >= 0 && g->s->guest_nics == 0)
                r = -ENOENT;
        note(r, "guest.remove_nic", "%s", nic_id);
        if (r < 0)
                return guest_fail(r, "guest.remove_nic", err);
        g->s->guest_nics--;
        fake.guest_nics--;
        return done("guest.remove_nic");
}

static int g_modify_nic(struct hcs_guest *g, const char *ns_id, const char *nic_id,
                        const struct hcn_endpoint *old, const struct hcn_endpoint *ep, unsigned mtu,
                        struct uvm_error **err)
{
        int r = note(verdict("guest.modify_nic"), "guest.modify_nic",
                     "%s %s/%u->%s/%u gw %s mtu %u", nic_id, old->ip, (unsigned) old->prefix_len,
                     ep->ip, (unsigned) ep->prefix_len, ep->gateway[0] ? ep->gateway : "-", mtu);

        if (r < 0)
                return guest_fail(r, "guest.modify_nic", err);
        snprintf(fake.nic_ip, sizeof(fake.nic_ip), "%s", ep->ip);
        fake.nic_prefix = ep->prefix_len;
        return done("guest.modify_nic");
}

/* A layer's disk at /run/layers/<lun>; a scratch at /run/scratch/<id>
 * (mount_scratch; unmount takes either). */
static int g_disk_as(struct hcs_guest *g, const char *call, bool mount, bool scratch, unsigned lun,
                     const char *path, struct uvm_error **err)
{
        char want[200];
        int r = verdict(call);

        snprintf(want, sizeof(want), "/run/layers/%u", lun);
        if (strncmp(path, "/run/scratch/", 13) == 0 && path[13] && (scratch || !mount))
                snprintf(want, sizeof(want), "%s", path);
        else if (scratch)
                want[0] = '\0';
        if (r >= 0 && (lun >= 64 || strcmp(path, want) != 0))
                r = -EINVAL;
        if (r >= 0 && mount && !g->s->luns[lun])
                r = -ETIMEDOUT; /* the agent waits for a disk that never comes */
        note(r, call, "%u %s", lun, path);
        if (r < 0)
                return guest_fail(r, call, err);
        if (g->s->guest_luns[lun] != mount)
                fake.guest_disks += mount ? 1 : -1;
        g->s->guest_luns[lun] = mount;
        maybe_exit(call);
        return done(call);
}

static int g_disk(struct hcs_guest *g, bool mount, unsigned lun, const char *path,
                  struct uvm_error **err)
{
        return g_disk_as(g, mount ? "guest.mount" : "guest.unmount", mount, false, lun, path, err);
}

static int g_mount_disk(struct hcs_guest *g, unsigned lun, const char *path, struct uvm_error **err)
{
        return g_disk(g, true, lun, path, err);
}

static int g_unmount_disk(struct hcs_guest *g, unsigned lun, const char *path,
                          struct uvm_error **err)
{
        return g_disk(g, false, lun, path, err);
}

static int g_mount_scratch(struct hcs_guest *g, unsigned lun, const char *path,
                           struct uvm_error **err)
{
        return g_disk_as(g, "guest.mount_scratch", true, true, lun, path, err);
}

static int g_share(struct hcs_guest *g, bool mount, const char *name, const char *path, bool ro,
                   struct uvm_error **err)
{
        const char *call = mount ? "guest.mount_share" : "guest.unmount_share";
        const char *at = strrchr(path, 'm');
        unsigned n = at ? (unsigned) atoi(at + 1) : 64;
        char want[32];
        int r = verdict(call);

        snprintf(want, sizeof(want), "/run/mounts/m%u", n);
        if (r >= 0 && (n >= 64 || strcmp(path, want) != 0 || (mount && strcmp(name, want + 12))))
                r = -EINVAL;
        if (r >= 0 && mount && !g->s->shares[n])
                r = -ENOENT; /* the host serves no such share: the 9p attach fails */
        if (mount)
                note(r, call, "%s %s %s", name, path, ro ? "ro" : "rw");
        else
                note(r, call, "%s", path);
        if (r < 0)
                return guest_fail(r, call, err);
        if (g->s->guest_shares[n] != mount)
                fake.guest_shares += mount ? 1 : -1;
        g->s->guest_shares[n] = mount;
        maybe_exit(call);
        return done(call);
}

static int g_mount_share(struct hcs_guest *g, unsigned port, const char *name, const char *path,
                         bool ro, struct uvm_error **err)
{
        if (port != 564)
                return guest_fail(-EINVAL, "guest.mount_share", err);
        return g_share(g, true, name, path, ro, err);
}

static int g_unmount_share(struct hcs_guest *g, const char *path, struct uvm_error **err)
{
        return g_share(g, false, NULL, path, false, err);
}

static int g_pod_files(struct hcs_guest *g, const char *resolv, const char *hosts,
                       const char *hostname, struct uvm_error **err)
{
        int r = note(verdict("guest.pod_files"), "guest.pod_files", "%zu %zu %zu", strlen(resolv),
                     strlen(hosts), strlen(hostname));

        if (r < 0)
                return guest_fail(r, "guest.pod_files", err);
        snprintf(fake.pod_resolv, sizeof(fake.pod_resolv), "%s", resolv);
        snprintf(fake.pod_hosts, sizeof(fake.pod_hosts), "%s", hosts);
        snprintf(fake.pod_hostname, sizeof(fake.pod_hostname), "%s", hostname);
        return done("guest.pod_files");
}

static int g_ctr_create(struct hcs_guest *g, const struct drv_ctr_spec *spec, const char *doc,
                        struct uvm_error **err)
{
        int r = note(verdict("guest.ctr_create"), "guest.ctr_create", "%s", spec->id);
        size_t len = 0;

        if (r < 0)
                return guest_fail(r, "guest.ctr_create", err);
        snprintf(fake.hosted_doc, sizeof(fake.hosted_doc), "%s", doc ? doc : "");
        snprintf(fake.ctr_spec, sizeof(fake.ctr_spec), "%s",
                 spec->oci_spec_json ? spec->oci_spec_json : "");
        fake.ctr_layers[0] = '\0';
        for (size_t i = 0; spec->layers && spec->layers[i] && len < sizeof(fake.ctr_layers); i++)
                len += (size_t) snprintf(fake.ctr_layers + len, sizeof(fake.ctr_layers) - len,
                                         "%s%s", i ? " " : "", spec->layers[i]);
        g->s->containers++;
        fake.containers++;
        return done("guest.ctr_create");
}

static int g_ctr_start(struct hcs_guest *g, const char *id, struct uvm_error **err)
{
        int r = note(verdict("guest.ctr_start"), "guest.ctr_start", "%s", id);

        return r < 0 ? guest_fail(r, "guest.ctr_start", err) : 0;
}

static int g_ctr_signal(struct hcs_guest *g, const char *id, int sig, struct uvm_error **err)
{
        int r = note(verdict("guest.ctr_signal"), "guest.ctr_signal", "%s %d", id, sig);

        return r < 0 ? guest_fail(r, "guest.ctr_signal", err) : 0;
}

static int g_ctr_delete(struct hcs_guest *g, const char *id, struct uvm_error **err)
{
        int r = verdict("guest.ctr_delete");

        if (r >= 0 && g->s->containers == 0)
                r = -ENOENT;
        note(r, "guest.ctr_delete", "%s", id);
        if (r < 0)
                return guest_fail(r, "guest.ctr_delete", err);
        g->s->containers--;
        fake.containers--;
        return done("guest.ctr_delete");
}

static int g_ctr_state(struct hcs_guest *g, const char *id, enum drv_ctr_state *ret_state,
                       int *ret_exit_code, struct uvm_error **err)
{
        int r = note(verdict("guest.ctr_state"), "guest.ctr_state", "%s", id);

        if (r < 0)
                return guest_fail(r, "guest.ctr_state", err);
        *ret_state = DRV_CTR_EXITED;
        *ret_exit_code = 3;
        return 0;
}

static int g_ctr_exec_sync(struct hcs_guest *g, const char *id, const struct drv_exec_spec *spec,
                           struct drv_exec_result *ret, struct uvm_error **err)
{
        int r = note(verdict("guest.ctr_exec_sync"), "guest.ctr_exec_sync", "%s %s", id,
                     spec->argv[0]);

        if (r < 0)
                return guest_fail(r, "guest.ctr_exec_sync", err);
        *ret = (struct drv_exec_result){.exit_code = 7};
        return 0;
}

static int g_ctr_update(struct hcs_guest *g, const char *id, const char *resources_json,
                        struct uvm_error **err)
{
        int r = note(verdict("guest.ctr_update"), "guest.ctr_update", "%s %s", id, resources_json);

        return r < 0 ? guest_fail(r, "guest.ctr_update", err) : 0;
}

static int g_ctr_stop_all(struct hcs_guest *g, uint32_t timeout_ms, struct uvm_error **err)
{
        int r = note(verdict("guest.stop_all"), "guest.stop_all", "%u", timeout_ms);

        return r < 0 ? guest_fail(r, "guest.stop_all", err) : 0;
}

static void g_disconnect(struct hcs_guest *g)
{
        if (!g)
                return;
        note(0, "guest.disconnect", NULL);
        fake.guest_events = NULL;
        fake.guests--;
        free(g);
}

const struct hcs_guest_ops fake_guest = {
        .name = "fake",
        .connect = g_connect,
        .add_nic = g_add_nic,
        .remove_nic = g_remove_nic,
        .modify_nic = g_modify_nic,
        .mount_disk = g_mount_disk,
        .unmount_disk = g_unmount_disk,
        .mount_scratch = g_mount_scratch,
        .mount_share = g_mount_share,
        .unmount_share = g_unmount_share,
        .pod_files = g_pod_files,
        .ctr_create = g_ctr_create,
        .ctr_start = g_ctr_start,
        .ctr_signal = g_ctr_signal,
        .ctr_delete = g_ctr_delete,
        .ctr_state = g_ctr_state,
        .ctr_exec_sync = g_ctr_exec_sync,
        .ctr_update = g_ctr_update,
        .ctr_stop_all = g_ctr_stop_all,
        .disconnect = g_disconnect,
};
