/*
 * A Windows container's CRI mounts (ctr_win_mounts.h). hcsshim's LCOW
 * model: the host directory becomes a Plan9 share of the pod's VM, which
 * the guest mounts at /run/mounts/m<N>, and the container's spec binds
 * from there; a host file (the kubelet's termination-log, /etc/hosts)
 * is its directory shared restricted to it, the file bound. Here the
 * spec's mount keeps the host path as its source, a file's marked
 * DRV_HCS_MOUNT_FILE_KEY; the hcs driver, which owns the shares, rewrites
 * it. Host paths are UTF-8 until the check of what they name, UTF-16
 * there only.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <windows.h>

#include "common/macros.h"
#include "common/utf16.h"
#include "sandbox/ctr_win_mounts.h"
#include "sandbox/drivers/hcs/driver.h"

#define CTR_PATH_MAX 4096

/* The host path as the driver keys its shares: '/' made '\' (but in a
 * \\?\ path, which Windows takes literally), no trailing separator past
 * the root. */
static char *host_path_normal(const char *p)
{
        char *s = strdup(p);
        size_t n;

        if (!s)
                return NULL;
        if (strncmp(s, "\\\\?\\", 4) != 0)
                for (char *c = s; *c; c++)
                        if (*c == '/')
                                *c = '\\';
        n = strlen(s);
        while (n > 3 && s[n - 1] == '\\' && s[n - 2] != ':')
                s[--n] = '\0';
        return s;
}

static bool container_path_ok(const char *p)
{
        size_t n = p ? strlen(p) : 0;

        if (!n || n > CTR_PATH_MAX || p[0] != '/')
                return false;
        for (const char *c = p; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        return false;
        for (const char *c = p; *c;) {
                size_t k = strcspn(c, "/");

                if (k == 2 && c[0] == '.' && c[1] == '.')
                        return false;
                c += k + (c[k] != '\0');
        }
        return true;
}

/* An existing directory (0) or file (1): the file must exist at create,
 * as the kubelet makes its termination-log before; its share is of its
 * directory, so that must be one a share can be. */
static int host_kind(size_t i, const char *path, struct uvm_error **err)
{
        _cleanup_free_ wchar_t *w = NULL;
        _cleanup_free_ char *dir = NULL, *name = NULL;
        struct uvm_error *e = NULL;
        DWORD a;
        int r = utf8_to_wide(path, UTF16_PATH_MAX, &w);

        if (r < 0)
                return uvm_error_set(err, EINVAL, "mounts[%zu].host_path '%.200s': not UTF-8", i,
                                     path);
        a = GetFileAttributesW(w);
        if (a == INVALID_FILE_ATTRIBUTES)
                return uvm_error_set(err, ENOENT,
                                     "mounts[%zu].host_path '%.200s': no such file or directory "
                                     "(Windows error %lu)",
                                     i, path, (unsigned long) GetLastError());
        if (a & FILE_ATTRIBUTE_DIRECTORY)
                return 0;
        r = drv_hcs_share_file_split(path, &dir, &name, &e);
        if (r < 0) {
                r = uvm_error_set(err, -r, "mounts[%zu]: %s", i, e->msg);
                uvm_error_free(e);
                return r;
        }
        return 1;
}

static int check_one(size_t i, const Runtime__V1__Mount *m, struct uvm_error **err)
{
        _cleanup_free_ char *host = NULL;
        struct uvm_error *e = NULL;
        int r;

        if (m->image && !STR_EMPTY(m->image->image))
                return uvm_error_set(err, EOPNOTSUPP,
                                     "mounts[%zu]: image volumes are not in the Windows build", i);
        if (!container_path_ok(m->container_path))
                return uvm_error_set(err, EINVAL,
                                     "mounts[%zu].container_path '%.200s': not an absolute path "
                                     "without '..'",
                                     i, m->container_path ? m->container_path : "");
        if (m->propagation != RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE)
                return uvm_error_set(err, EOPNOTSUPP,
                                     "mounts[%zu] (%.200s): propagation %d: a Plan9 share into an "
                                     "hcs pod is private only",
                                     i, m->container_path, (int) m->propagation);
        if (m->recursive_read_only)
                return uvm_error_set(err, EOPNOTSUPP,
                                     "mounts[%zu] (%.200s): recursive read-only is not possible "
                                     "through a Plan9 share",
                                     i, m->container_path);
        if (m->n_uidmappings || m->n_gidmappings)
                return uvm_error_set(err, EOPNOTSUPP,
                                     "mounts[%zu] (%.200s): idmapped mounts are not possible "
                                     "through a Plan9 share",
                                     i, m->container_path);
        if (STR_EMPTY(m->host_path))
                return uvm_error_set(err, EINVAL, "mounts[%zu].host_path is required", i);
        host = host_path_normal(m->host_path);
        if (!host)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = drv_hcs_share_path_check(host, &e);
        if (r < 0) {
                r = uvm_error_set(err, -r, "mounts[%zu]: %s", i, e->msg);
                uvm_error_free(e);
                return r;
        }
        r = host_kind(i, host, err);
        return r < 0 ? r : 0;
}

int ctr_win_mounts_check(const Runtime__V1__ContainerConfig *cfg, struct uvm_error **err)
{
        int r;

        for (size_t i = 0; i < cfg->n_mounts; i++) {
                r = check_one(i, cfg->mounts[i], err);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (STR_EQ(cfg->mounts[i]->container_path, cfg->mounts[j]->container_path))
                                return uvm_error_set(err, EINVAL,
                                                     "mounts[%zu].container_path '%.200s' is "
                                                     "mounted twice",
                                                     i, cfg->mounts[i]->container_path);
        }
        return 0;
}

static json_object *spec_mount(const char *dest, const char *source, bool ro, bool file)
{
        json_object *m = json_object_new_object(), *opts = json_object_new_array();

        if (!m || !opts) {
                json_object_put(m);
                json_object_put(opts);
                return NULL;
        }
        json_object_object_add(m, "destination", json_object_new_string(dest));
        json_object_object_add(m, "type", json_object_new_string("bind"));
        json_object_object_add(m, "source", json_object_new_string(source));
        json_object_array_add(opts, json_object_new_string("rbind"));
        json_object_array_add(opts, json_object_new_string("rprivate"));
        json_object_array_add(opts, json_object_new_string(ro ? "ro" : "rw"));
        json_object_object_add(m, "options", opts);
        if (file)
                json_object_object_add(m, DRV_HCS_MOUNT_FILE_KEY, json_object_new_boolean(true));
        return m;
}

int ctr_win_mounts_add(struct sbx_ctr *c, const Runtime__V1__ContainerConfig *cfg,
                       json_object *spec, struct uvm_error **err)
{
        struct ctr_mount *rec = calloc(cfg->n_mounts + 1, sizeof(*rec));
        json_object *mounts = json_object_new_array();
        bool ok = rec && mounts;
        int kind = 0;

        for (size_t i = 0; ok && i < cfg->n_mounts; i++) {
                const Runtime__V1__Mount *m = cfg->mounts[i];
                json_object *o;

                rec[i] = (struct ctr_mount){
                        .container_path = strdup(m->container_path),
                        .host_path = host_path_normal(m->host_path),
                        .readonly = m->readonly,
                        .propagation = m->propagation,
                };
                ok = rec[i].container_path && rec[i].host_path;
                /* Asked again: ctr_win_mounts_check's answer is not kept. */
                if (ok && (kind = host_kind(i, rec[i].host_path, err)) < 0)
                        break;
                o = ok ? spec_mount(m->container_path, rec[i].host_path, m->readonly, kind == 1)
                       : NULL;
                ok = o && json_object_array_add(mounts, o) >= 0;
        }
        if (kind < 0 || !ok || json_object_object_add(spec, "mounts", mounts) < 0) {
                ctr_mounts_free(rec, cfg->n_mounts);
                json_object_put(mounts);
                return kind < 0 ? kind : uvm_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_lock(&c->lock);
        ctr_mounts_free(c->rec.mounts, c->rec.n_mounts);
        c->rec.mounts = rec;
        c->rec.n_mounts = cfg->n_mounts;
        pthread_mutex_unlock(&c->lock);
        return 0;
}
