/* A container's directories and root filesystem: overlayfs of the image
 * layers with a private upper/work dir, or a read-only stack (a read-only bind
 * mount when there is a single layer). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "agent/agent-internal.h"
#include "common/fs.h"
#include "common/log.h"

#define MAX_LAYERS 128

int agent_rootfs_check_layers(json_object *layers, struct uvm_error **err)
{
        size_t n;

        if (!layers || !json_object_is_type(layers, json_type_array))
                return uvm_error_set(err, EINVAL, "Layers must be an array of directories");
        n = json_object_array_length(layers);
        if (n == 0 || n > MAX_LAYERS)
                return uvm_error_set(err, EINVAL, "Layers: %zu layers, need 1 to %d", n,
                                     MAX_LAYERS);
        for (size_t i = 0; i < n; i++) {
                json_object *l = json_object_array_get_idx(layers, i);
                const char *p = json_object_get_string(l);
                struct stat st;

                if (!json_object_is_type(l, json_type_string) || p[0] != '/' ||
                    strpbrk(p, ":,\n") || strlen(p) > 1024)
                        return uvm_error_set(err, EINVAL,
                                             "Layers[%zu]: need an absolute path without ':' "
                                             "or ','",
                                             i);
                if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
                        return uvm_error_set(err, ENOENT, "layer '%s' is not a directory", p);
        }
        return 0;
}

/* overlayfs wants the topmost lower dir first; the request lists lowest first. */
int agent_rootfs_mount(const char *dir, json_object *layers, bool readonly, struct uvm_error **err)
{
        _cleanup_free_ char *rootfs = NULL, *opts = NULL;
        size_t n = json_object_array_length(layers), len = 0;
        char buf[4096];
        int w;

        if (asprintf(&rootfs, "%s/rootfs", dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (n == 1 && readonly) {
                const char *l = json_object_get_string(json_object_array_get_idx(layers, 0));

                if (mount(l, rootfs, NULL, MS_BIND, NULL) < 0)
                        return uvm_error_set(err, errno, "bind mount '%s': %m", l);
                if (mount(NULL, rootfs, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
                        int r = uvm_error_set(err, errno, "remount '%s' read-only: %m", rootfs);
                        umount2(rootfs, MNT_DETACH);
                        return r;
                }
                return 0;
        }
        w = snprintf(buf, sizeof(buf), "lowerdir=");
        len = (size_t) w;
        for (size_t i = n; i-- > 0 && len < sizeof(buf);)
                len += (size_t) snprintf(
                        buf + len, sizeof(buf) - len, "%s%s",
                        json_object_get_string(json_object_array_get_idx(layers, i)), i ? ":" : "");
        if (!readonly && len < sizeof(buf))
                len += (size_t) snprintf(buf + len, sizeof(buf) - len,
                                         ",upperdir=%s/upper,workdir=%s/work", dir, dir);
        if (len >= sizeof(buf) - 1)
                return uvm_error_set(err, E2BIG,
                                     "overlay options exceed %zu bytes: too many "
                                     "layers",
                                     sizeof(buf) - 1);
        if (mount("overlay", rootfs, "overlay", readonly ? MS_RDONLY : 0, buf) < 0)
                return uvm_error_set(err, errno, "mount overlay on '%s': %m", rootfs);
        return 0;
}

int agent_rootfs_make_dirs(const char *dir, bool readonly, struct uvm_error **err)
{
        const char *subs[] = {"", "/rootfs", "/upper", "/work"};

        for (size_t i = 0; i < (readonly ? 2u : ARRAY_SIZE(subs)); i++) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s%s", dir, subs[i]) < 0)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                if (mkdir(p, 0700) < 0)
                        return uvm_error_set(err, errno, "mkdir '%s': %m", p);
        }
        return 0;
}

/* Unmount and remove a container dir; errors are logged (cleanup paths). */
void agent_rootfs_remove(const char *dir)
{
        _cleanup_free_ char *rootfs = NULL;
        int r;

        if (asprintf(&rootfs, "%s/rootfs", dir) < 0)
                return;
        /* Mounts may be stacked (a runtime that bind-mounts the rootfs onto
         * itself outside a mount namespace): peel until none is left. */
        for (int i = 0; i < 16; i++)
                if (umount2(rootfs, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) {
                        if (errno != EINVAL && errno != ENOENT)
                                log_warn("umount '%s': %m, ignoring", rootfs);
                        break;
                }
        r = fs_rm_rf(dir);
        if (r < 0 && r != -ENOENT)
                log_warn("removing '%s': %s, ignoring", dir, strerror(-r));
}
