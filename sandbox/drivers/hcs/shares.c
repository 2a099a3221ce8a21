/*
 * An hcs pod's CRI mounts, hcsshim's LCOW model: a host directory is a
 * Plan9 share of the VM (HCS modify "VirtualMachine/Devices/Plan9/Shares",
 * served on vsock port 564), which the guest mounts (9p over a vsock
 * connection to the host, trans=fd) at /run/mounts/m<slot>; the
 * container's OCI spec then binds from there. A host file is shared as
 * hcsshim shares one: its directory, restricted to that file (HCS's
 * RestrictFileAccess flag and AllowedFiles), the spec binding
 * <mount point>/<name>. A share is one host path, file (or none) and
 * read-only flag, shared by every container of the pod that mounts it:
 * made for the first, removed after the last. Add: HCS add, guest
 * mount; remove: guest unmount, HCS remove. The record is written before
 * each step (struct hcs_share), so a uvmd killed in between finds what may
 * exist (hcs_shares_settle). The structure follows disks.c.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "sandbox/drivers/hcs/documents.h"
#include "sandbox/drivers/hcs/driver-internal.h"

#define SHARE_PATH_MAX 4096

static void share_name(unsigned slot, char *buf, size_t size)
{
        snprintf(buf, size, "m%u", slot);
}

static void guest_path(unsigned slot, char *buf, size_t size)
{
        snprintf(buf, size, HCS_SHARE_GUEST_ROOT "%u", slot);
}

static bool is_sep(char c)
{
        return c == '\\' || c == '/';
}

int drv_hcs_share_path_check(const char *path, struct uvm_error **err)
{
        const char *s = path, *rest;
        size_t len = path ? strlen(path) : 0;

        if (!len || len > SHARE_PATH_MAX)
                return uvm_error_set(err, EINVAL, "host path '%.64s' is empty or too long",
                                     path ? path : "");
        for (const char *c = path; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f || *c == '*' || *c == '?' ||
                    *c == '"' || *c == '<' || *c == '>' || *c == '|')
                        if (!(c - path == 2 && *c == '?' && strncmp(path, "\\\\?\\", 4) == 0))
                                return uvm_error_set(err, EINVAL,
                                                     "host path '%.200s' has a character a "
                                                     "Windows path cannot have",
                                                     path);
        if (strncmp(s, "\\\\?\\", 4) == 0) {
                s += 4; /* taken literally by Windows: only '\' separates */
                if (strchr(s, '/'))
                        return uvm_error_set(err, EINVAL,
                                             "host path '%.200s' mixes '/' into a "
                                             "\\\\?\\ path",
                                             path);
        }
        if (((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) && s[1] == ':' &&
            is_sep(s[2]))
                rest = s + 3;
        else if (s == path && is_sep(s[0]) && is_sep(s[1]) && s[2] && !is_sep(s[2]) &&
                 s[2] != '.' && s[2] != '?')
                rest = s + 2; /* \\server\share\... */
        else
                return uvm_error_set(err, EINVAL,
                                     "host path '%.200s' is not an absolute Windows path "
                                     "(C:\\... or \\\\?\\C:\\... or \\\\server\\share\\...)",
                                     path);
        if (strchr(rest, ':'))
                return uvm_error_set(err, EINVAL,
                                     "host path '%.200s' names a stream or device (':')", path);
        /* No ".", ".." or empty components: the path is the directory meant. */
        for (const char *c = rest; *c;) {
                size_t n = strcspn(c, "\\/");

                if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.') ||
                    (n == 0 && c[n]))
                        return uvm_error_set(err, EINVAL,
                                             "host path '%.200s' has an empty, '.' or '..' "
                                             "component",
                                             path);
                c += n + (c[n] != '\0');
        }
        return 0;
}

/* The last component of a host file's path, and the directory before it. */
int drv_hcs_share_file_split(const char *path, char **ret_dir, char **ret_name,
                             struct uvm_error **err)
{
        _cleanup_free_ char *dir = NULL, *name = NULL;
        const char *sep = NULL;
        size_t keep;
        int r = drv_hcs_share_path_check(path, err);

        if (r < 0)
                return r;
        for (const char *c = path; *c; c++)
                if (is_sep(*c))
                        sep = c;
        if (!sep || !sep[1])
                return uvm_error_set(err, EINVAL, "host file '%.200s' names no file", path);
        keep = (size_t) (sep - path);
        if (path[keep - 1] == ':')
                keep++; /* a drive root keeps its separator: C:\ */
        dir = malloc(keep + 1);
        name = strdup(sep + 1);
        if (!dir || !name)
                return uvm_error_set(err, ENOMEM, "out of memory");
        memcpy(dir, path, keep);
        dir[keep] = '\0';
        r = hcs_check_file_name("host file name", name, err);
        if (r < 0)
                return r;
        /* \\server\share is the least a UNC directory is. */
        if (is_sep(path[0]) && is_sep(path[1]) && (keep <= 2 || !strpbrk(dir + 2, "\\/")))
                return uvm_error_set(err, EINVAL,
                                     "host file '%.200s': its directory is a server, not a share",
                                     path);
        *ret_dir = TAKE_PTR(dir);
        *ret_name = TAKE_PTR(name);
        return 0;
}

static int host_share(struct drv_pod *p, bool add, unsigned slot, struct uvm_error **err)
{
        struct hcs_share *sh = &p->shares[slot];
        _cleanup_free_ char *doc = NULL;
        char *result = NULL, name[16], what[96];
        struct hcs_plan9_share s = {.port = HCS_PLAN9_DEFAULT_PORT};
        int r;

        share_name(slot, name, sizeof(name));
        s.name = name;
        s.host_path = sh->path;
        s.read_only = sh->read_only;
        s.allowed_file = sh->file;
        snprintf(what, sizeof(what), "%s Plan9 share %s of", add ? "add" : "remove", name);
        r = hcs_modify_plan9_document(add ? HCS_REQUEST_ADD : HCS_REQUEST_REMOVE, &s, &doc, err);
        if (r < 0)
                return uvm_error_wrap(err, "%s %s", what, p->system_id);
        r = p->b->hcs->modify(p->sys, doc, p->b->cfg.create_timeout_ms, &result);
        if (r < 0)
                return hcs_call_error(err, r, result, what, p->system_id);
        free(result);
        return 0;
}

static int share_unmount(struct drv_pod *p, unsigned slot, struct uvm_error **err)
{
        char gp[32];
        int r;

        guest_path(slot, gp, sizeof(gp));
        r = p->b->guest->unmount_share(p->guest, gp, err);
        if (r < 0) {
                uvm_error_set(err, -r, "%s", strerror(-r)); /* when the guest said nothing */
                uvm_error_wrap(err, "unmount share %s in %s", gp, p->system_id);
        }
        return r;
}

static int share_detach(struct drv_pod *p, unsigned slot, struct uvm_error **err)
{
        return host_share(p, false, slot, err);
}

static const struct hcs_refs_ops share_refs;

/* hcs_refs_unplug; the slot freed once both sides are gone. */
static int share_remove(struct drv_pod *p, unsigned slot, struct uvm_error **err)
{
        struct hcs_share *sh = &p->shares[slot];
        struct hcs_ref_flags f = {&sh->ready, &sh->in_guest, &sh->on_host};
        int r = hcs_refs_unplug(p, &share_refs, slot, f, err);

        if (r < 0)
                return r;
        free(sh->path);
        free(sh->file);
        sh->path = sh->file = NULL;
        hcs_refs_record(p);
        return 0;
}

static bool share_exists(struct drv_pod *p, unsigned slot)
{
        return p->shares[slot].path != NULL;
}

static bool share_ready(struct drv_pod *p, unsigned slot)
{
        return p->shares[slot].ready;
}

static void share_forget(struct drv_pod *p, unsigned slot)
{
        free(p->shares[slot].path);
        free(p->shares[slot].file);
        p->shares[slot] = (struct hcs_share){0};
}

static const struct hcs_refs_ops share_refs = {
        .max = HCS_MAX_SHARES,
        .max_per_user = HCS_MAX_CTR_MOUNTS,
        .plural = "shares",
        .one = "share",
        .fallback = "remove a share failed",
        .json_nums = "slots",
        .exists = share_exists,
        .ready = share_ready,
        .remove = share_remove,
        .forget = share_forget,
        .guest_off = share_unmount,
        .host_off = share_detach,
};

/* A new share of path (restricted to file unless NULL) at a free slot:
 * added, mounted. On failure what was done is removed again. */
static int share_add(struct drv_pod *p, const char *path, const char *file, bool ro,
                     unsigned *ret_slot, struct uvm_error **err)
{
        struct uvm_error *e = NULL;
        struct hcs_share *sh = NULL;
        char gp[32], name[16];
        unsigned slot;
        int r;

        for (slot = 0; slot < HCS_MAX_SHARES && !sh; slot++)
                if (!p->shares[slot].path)
                        sh = &p->shares[slot];
        if (!sh)
                return uvm_error_set(err, ENOSPC, "the VM %s has %d shares: no more for %s",
                                     p->system_id, HCS_MAX_SHARES, path);
        slot--;
        *sh = (struct hcs_share){.path = strdup(path),
                                 .file = file ? strdup(file) : NULL,
                                 .read_only = ro,
                                 .on_host = true};
        if (!sh->path || (file && !sh->file)) {
                share_forget(p, slot);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = hcs_record_write(p, HCS_RECORD_READY, err);
        if (r >= 0)
                r = host_share(p, true, slot, err);
        if (r >= 0) {
                sh->in_guest = true;
                guest_path(slot, gp, sizeof(gp));
                share_name(slot, name, sizeof(name));
                r = hcs_record_write(p, HCS_RECORD_READY, err);
                if (r >= 0 && (r = p->b->guest->mount_share(p->guest, HCS_PLAN9_DEFAULT_PORT, name,
                                                            gp, ro, err)) < 0)
                        uvm_error_wrap(err, "mount share %s (%s) at %s in %s", name, path, gp,
                                       p->system_id);
        }
        if (r < 0) {
                if (share_remove(p, slot, &e) < 0) {
                        log_pod(LOG_LEVEL_WARN, p->id, "hcs pod %s: %s, ignoring", p->id, e->msg);
                        uvm_error_free(e);
                }
                return r;
        }
        sh->ready = true;
        *ret_slot = slot;
        return 0;
}

/* The share of path with file (NULL: the whole directory) and ro. */
static int share_find(struct drv_pod *p, const char *path, const char *file, bool ro)
{
        for (unsigned i = 0; i < HCS_MAX_SHARES; i++) {
                const struct hcs_share *sh = &p->shares[i];

                if (sh->path && sh->read_only == ro && STR_EQ(sh->path, path) &&
                    (sh->file ? file && STR_EQ(sh->file, file) : !file))
                        return (int) i;
        }
        return -1;
}

/* The share of one mount, for user u: the pod's, or a new one. A share a
 * removal left behind (not ready) is removed first. */
static int mount_share(struct drv_pod *p, struct hcs_ref_user *u, const char *path,
                       const char *file, bool ro, unsigned *ret_slot, struct uvm_error **err)
{
        int found = share_find(p, path, file, ro);
        unsigned slot = 0;
        int r;

        r = hcs_refs_reuse(p, &p->share_users, &share_refs, &found, err);
        if (r < 0)
                return r;
        if (found >= 0) {
                slot = (unsigned) found;
        } else {
                r = share_add(p, path, file, ro, &slot, err);
                if (r < 0)
                        return r;
        }
        u->nums[u->n++] = (uint8_t) slot;
        *ret_slot = slot;
        return 0;
}

static bool has_option(json_object *opts, const char *name)
{
        for (size_t i = 0; opts && i < json_object_array_length(opts); i++) {
                const char *o = json_object_get_string(json_object_array_get_idx(opts, i));

                if (o && STR_EQ(o, name))
                        return true;
        }
        return false;
}

/* A bind mount whose source is not a guest path is from a host directory
 * or, marked so, a host file: its source, read-only flag and whether a
 * file, 1; 0 for any other mount (a guest path, a tmpfs), left as it is. */
static int host_mount(json_object *m, const char **ret_src, bool *ret_ro, bool *ret_file,
                      struct uvm_error **err)
{
        static const char *const shared[] = {"shared", "rshared", "slave", "rslave"};
        const char *src = json_string_of(m, "source"), *type = json_string_of(m, "type");
        json_object *opts = NULL, *marker = NULL;
        bool file = false;
        int r;

        json_object_object_get_ex(m, "options", &opts);
        if (opts && !json_object_is_type(opts, json_type_array))
                return uvm_error_set(err, EINVAL, "a spec mount's options is not an array");
        if (json_object_object_get_ex(m, DRV_HCS_MOUNT_FILE_KEY, &marker)) {
                if (!json_object_is_type(marker, json_type_boolean))
                        return uvm_error_set(err, EINVAL,
                                             "a spec mount's " DRV_HCS_MOUNT_FILE_KEY
                                             " is not a boolean");
                file = json_object_get_boolean(marker);
        }
        if ((!(type && STR_EQ(type, "bind")) && !has_option(opts, "bind") &&
             !has_option(opts, "rbind")) ||
            (src && src[0] == '/')) {
                if (file) /* only a host bind is shared */
                        return uvm_error_set(err, EINVAL,
                                             "a spec mount marked a host file is not a bind "
                                             "of a host path");
                return 0;
        }
        r = drv_hcs_share_path_check(src, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ARRAY_SIZE(shared); i++)
                if (has_option(opts, shared[i]))
                        return uvm_error_set(err, EINVAL,
                                             "mount of %.200s: propagation '%s' is not "
                                             "possible through a Plan9 share",
                                             src, shared[i]);
        *ret_src = src;
        *ret_ro = has_option(opts, "ro");
        *ret_file = file;
        return 1;
}

static int user_new(struct drv_pod *p, const char *ctr_id, struct hcs_ref_user **ret,
                    struct uvm_error **err)
{
        if (strlen(ctr_id) > HCS_CTR_ID_MAX)
                return uvm_error_set(err, EINVAL, "container id '%.64s' is too long", ctr_id);
        if (hcs_refs_find(&p->share_users, ctr_id))
                return uvm_error_set(err, EEXIST, "container %s has shares already", ctr_id);
        *ret = hcs_refs_new(&p->share_users, ctr_id);
        if (!*ret)
                return uvm_error_set(err, ENOSPC, "pod %s has %d containers with mounts: no more",
                                     p->id, HCS_MAX_SHARE_CTRS);
        return 0;
}

/* One host mount's share, its source made the guest's mount point (a
 * file's: the file in it), the file marker gone. */
static int attach_one(struct drv_pod *p, struct hcs_ref_user *u, json_object *m, const char *src,
                      bool ro, bool file, struct uvm_error **err)
{
        _cleanup_free_ char *dir = NULL, *name = NULL;
        char gp[32 + HCS_FILE_NAME_MAX + 1];
        unsigned slot = 0;
        int r;

        if (file && (r = drv_hcs_share_file_split(src, &dir, &name, err)) < 0)
                return r;
        r = mount_share(p, u, file ? dir : src, name, ro, &slot, err);
        if (r < 0)
                return r;
        guest_path(slot, gp, sizeof(gp));
        if (file)
                snprintf(gp + strlen(gp), sizeof(gp) - strlen(gp), "/%s", name);
        json_object_object_del(m, DRV_HCS_MOUNT_FILE_KEY);
        if (json_object_object_add(m, "source", json_object_new_string(gp)) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

/* Each host mount's share (attach_one). */
static int attach_mounts(struct drv_pod *p, const char *ctr_id, json_object *mounts, size_t *ret_n,
                         struct uvm_error **err)
{
        struct hcs_ref_user *u = NULL;
        size_t n = json_object_array_length(mounts);
        const char *src = NULL;
        bool ro = false, file = false;
        int r;

        for (size_t i = 0; i < n; i++) {
                json_object *m = json_object_array_get_idx(mounts, i);

                r = json_object_is_type(m, json_type_object)
                            ? host_mount(m, &src, &ro, &file, err)
                            : uvm_error_set(err, EINVAL, "a spec mount is not an object");
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                if (!u && (r = user_new(p, ctr_id, &u, err)) < 0)
                        return r;
                if (u->n == HCS_MAX_CTR_MOUNTS)
                        return uvm_error_set(err, EINVAL, "container %s has more than %d mounts",
                                             ctr_id, HCS_MAX_CTR_MOUNTS);
                r = attach_one(p, u, m, src, ro, file, err);
                if (r < 0)
                        return r;
        }
        *ret_n = u ? u->n : 0;
        return 0;
}

int hcs_shares_attach(struct drv_pod *p, const char *ctr_id, const char *oci_spec_json,
                      char **ret_spec, struct uvm_error **err)
{
        _cleanup_json_ json_object *spec = NULL;
        json_object *mounts = NULL;
        const char *text;
        size_t n = 0;
        int r;

        *ret_spec = NULL;
        if (!oci_spec_json)
                return 0;
        /* Refused before anything: a failure below releases ctr_id's shares. */
        if (hcs_refs_find(&p->share_users, ctr_id))
                return uvm_error_set(err, EEXIST, "container %s has shares already", ctr_id);
        spec = json_tokener_parse(oci_spec_json);
        if (!json_object_is_type(spec, json_type_object))
                return uvm_error_set(err, EINVAL, "container %s: its OCI spec is not an object",
                                     ctr_id);
        if (!json_object_object_get_ex(spec, "mounts", &mounts) || !mounts)
                return 0;
        if (!json_object_is_type(mounts, json_type_array))
                return uvm_error_set(err, EINVAL, "container %s: the spec's mounts is not an array",
                                     ctr_id);
        r = attach_mounts(p, ctr_id, mounts, &n, err);
        if (r >= 0 && n == 0)
                return 0;
        if (r >= 0)
                r = hcs_record_write(p, HCS_RECORD_READY, err);
        if (r >= 0) {
                text = json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN);
                if (!text || !(*ret_spec = strdup(text)))
                        r = uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (r < 0) {
                hcs_shares_release(p, ctr_id);
                return uvm_error_wrap(err, "mounts of container %s", ctr_id);
        }
        return 0;
}

void hcs_shares_release(struct drv_pod *p, const char *ctr_id)
{
        hcs_refs_release(p, &p->share_users, &share_refs, ctr_id);
}

void hcs_shares_remove_all(struct drv_pod *p)
{
        hcs_refs_remove_all(p, &p->share_users, &share_refs);
}

void hcs_shares_settle(struct drv_pod *p)
{
        hcs_refs_settle(p, &p->share_users, &share_refs);
}

void hcs_shares_clear(struct drv_pod *p)
{
        for (unsigned slot = 0; slot < HCS_MAX_SHARES; slot++)
                share_forget(p, slot);
        memset(&p->share_users, 0, sizeof(p->share_users));
}

/* --- the record: "shares": [{"slot", "path", ["file",] "read_only",
 * "host", "guest", "ready"}], "share_users": [{"id", "slots": [...]}];
 * a directory's share has no "file", as all had before files. --- */

static int put(json_object *o, const char *key, json_object *v)
{
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static json_object *share_json(unsigned slot, const struct hcs_share *sh)
{
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o || put(o, "slot", json_object_new_int((int) slot)) < 0 ||
            put(o, "path", json_object_new_string(sh->path)) < 0 ||
            (sh->file && put(o, "file", json_object_new_string(sh->file)) < 0) ||
            put(o, "read_only", json_object_new_boolean(sh->read_only)) < 0 ||
            put(o, "host", json_object_new_boolean(sh->on_host)) < 0 ||
            put(o, "guest", json_object_new_boolean(sh->in_guest)) < 0 ||
            put(o, "ready", json_object_new_boolean(sh->ready)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

int hcs_shares_record_add(struct drv_pod *p, json_object *o)
{
        json_object *shares = json_object_new_array();

        if (put(o, "shares", shares) < 0)
                return -ENOMEM;
        for (unsigned slot = 0; slot < HCS_MAX_SHARES; slot++)
                if (p->shares[slot].path) {
                        json_object *v = share_json(slot, &p->shares[slot]);

                        if (!v || json_object_array_add(shares, v) < 0) {
                                json_object_put(v);
                                return -ENOMEM;
                        }
                }
        return hcs_refs_record_add(&p->share_users, &share_refs, o, "share_users");
}

static bool get_bool(json_object *o, const char *key, bool *ret)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
                return false;
        *ret = json_object_get_boolean(v);
        return true;
}

static bool get_index(json_object *v, int max, int *ret)
{
        if (!json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_int(v);
        return *ret >= 0 && *ret < max;
}

static int read_share(struct drv_pod *p, json_object *n)
{
        const char *path = json_string_of(n, "path"), *file = NULL;
        struct hcs_share sh = {0};
        json_object *v = NULL, *f = NULL;
        int slot;

        if (json_object_object_get_ex(n, "file", &f) &&
            (!json_object_is_type(f, json_type_string) ||
             hcs_check_file_name("file", (file = json_object_get_string(f)), NULL) < 0))
                return -EINVAL;
        if (!json_object_object_get_ex(n, "slot", &v) || !get_index(v, HCS_MAX_SHARES, &slot) ||
            p->shares[slot].path || !path || drv_hcs_share_path_check(path, NULL) < 0 ||
            !get_bool(n, "read_only", &sh.read_only) || !get_bool(n, "host", &sh.on_host) ||
            !get_bool(n, "guest", &sh.in_guest) || !get_bool(n, "ready", &sh.ready) ||
            share_find(p, path, file, sh.read_only) >= 0)
                return -EINVAL;
        if (!(sh.path = strdup(path)) || (file && !(sh.file = strdup(file)))) {
                free(sh.path);
                return -ENOMEM;
        }
        p->shares[slot] = sh;
        return 0;
}

/* None in a record from before shares existed. On failure the caller
 * clears what was read (hcs_shares_clear). */
int hcs_shares_record_read(struct drv_pod *p, json_object *o)
{
        json_object *shares = NULL;
        int r;

        json_object_object_get_ex(o, "shares", &shares);
        if (shares && (!json_object_is_type(shares, json_type_array) ||
                       json_object_array_length(shares) > HCS_MAX_SHARES))
                return -EINVAL;
        for (size_t i = 0; shares && i < json_object_array_length(shares); i++)
                if ((r = read_share(p, json_object_array_get_idx(shares, i))) < 0)
                        return r;
        return hcs_refs_record_read(p, &p->share_users, &share_refs, o, "share_users");
}
