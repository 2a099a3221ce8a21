/* A container's directories, its root filesystem and its image volumes.
 *
 * The rootfs is always an overlayfs with a private upper/work dir, also for
 * a read-only rootfs: the runtime must be able to create mount points for
 * the CRI mounts whatever the image holds, and makes the rootfs read-only
 * for the process afterwards (root.readonly). The upper dir takes the mode
 * and owner of the image's root, which is what the container sees as "/".
 *
 * An image volume is the image's layers mounted read-only at vol-<n> (an
 * overlayfs, or a read-only bind mount of a single layer: overlayfs needs
 * two lower dirs when it has no upper one). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "agent/scratch.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/nsfs.h"

#define MAX_LAYERS 128
#define MAX_VOLUMES 64
#define VOL_PREFIX "vol-"
#define IDMAP_PREFIX "idmap-"

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

static const char *layer_at(json_object *layers, size_t i)
{
        return json_object_get_string(json_object_array_get_idx(layers, i));
}

/* A detached clone of the tree at path, idmapped with the pod's user
 * namespace (plus attr), for a pod in its own user namespace. */
static int idmapped_clone(const char *path, uint64_t attr, bool recursive, struct uvm_error **err)
{
        const char *step = "";
        int fd = nsfs_idmapped_clone(path, agent_cfg.userns_fd, attr, recursive, &step);

        if (fd == -EINVAL && STR_EQ(step, "idmap"))
                return uvm_error_set(err, EINVAL,
                                     "'%s': its filesystem cannot make an idmapped mount, needed "
                                     "for the pod's user namespace",
                                     path);
        if (fd < 0)
                return uvm_error_set(err, -fd, "%s '%s': %s", step, path, strerror(-fd));
        return fd;
}

/* The layers as overlayfs reads them: the directories themselves or, in a
 * pod with its own user namespace, idmapped clones named by their fds, so
 * that files the image gives root belong to the pod's root. */
struct lower {
        size_t n;
        const char *path[MAX_LAYERS];
        int fd[MAX_LAYERS];
        char fd_path[MAX_LAYERS][32];
};

static void lower_close(struct lower *l)
{
        for (size_t i = 0; i < l->n; i++)
                if (l->fd[i] >= 0)
                        close(l->fd[i]);
        l->n = 0;
}

static int lower_open(json_object *layers, struct lower *l, struct uvm_error **err)
{
        size_t n = json_object_array_length(layers);

        l->n = 0;
        for (size_t i = 0; i < n && i < MAX_LAYERS; i++) {
                l->fd[i] = -1;
                l->path[i] = layer_at(layers, i);
                l->n = i + 1;
                if (agent_cfg.userns_fd < 0)
                        continue;
                l->fd[i] = idmapped_clone(l->path[i], 0, false, err);
                if (l->fd[i] < 0) {
                        lower_close(l);
                        return -EINVAL;
                }
                snprintf(l->fd_path[i], sizeof(l->fd_path[i]), "/proc/self/fd/%d", l->fd[i]);
                l->path[i] = l->fd_path[i];
        }
        return 0;
}

/* "lowerdir=top:...:bottom[,upperdir=D/upper,workdir=D/work]" */
static int overlay_options(const struct lower *l, const char *upper_of, char *buf, size_t size,
                           struct uvm_error **err)
{
        size_t len;

        len = (size_t) snprintf(buf, size, "lowerdir=");
        for (size_t i = l->n; i-- > 0 && len < size;)
                len += (size_t) snprintf(buf + len, size - len, "%s%s", l->path[i], i ? ":" : "");
        if (upper_of && len < size)
                len += (size_t) snprintf(buf + len, size - len,
                                         ",upperdir=%s/upper,workdir=%s/work", upper_of, upper_of);
        if (len >= size - 1)
                return uvm_error_set(err, E2BIG,
                                     "overlay options exceed %zu bytes: too many layers", size - 1);
        return 0;
}

/* upper/ is what "/" looks like: give it the image root's mode and owner
 * (as the pod sees it, through the idmap). */
static int upper_like_image_root(const char *dir, const struct lower *l, struct uvm_error **err)
{
        _cleanup_free_ char *upper = NULL;
        const char *top = l->path[l->n - 1];
        struct stat st;

        if (asprintf(&upper, "%s/upper", dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (stat(top, &st) < 0)
                return uvm_error_set(err, errno, "stat layer '%s': %m", top);
        if (chown(upper, st.st_uid, st.st_gid) < 0 || chmod(upper, st.st_mode & 07777) < 0)
                return uvm_error_set(err, errno, "set mode of '%s': %m", upper);
        return 0;
}

/* The writable rootfs (overlayfs of layers, topmost first, over upper). */
int agent_rootfs_mount(const char *dir, json_object *layers, struct uvm_error **err)
{
        _cleanup_free_ char *rootfs = NULL;
        struct lower l;
        char opts[4096];
        int r;

        if (asprintf(&rootfs, "%s/rootfs", dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = lower_open(layers, &l, err);
        if (r < 0)
                return r;
        r = upper_like_image_root(dir, &l, err);
        if (r >= 0)
                r = overlay_options(&l, dir, opts, sizeof(opts), err);
        /* overlayfs takes its own private clones of the layers: ours can go. */
        if (r >= 0 && mount("overlay", rootfs, "overlay", 0, opts) < 0)
                r = uvm_error_set(err, errno, "mount overlay on '%s': %m", rootfs);
        lower_close(&l);
        return r;
}

static bool mount_point(const char *path)
{
        struct stat st, parent;
        _cleanup_free_ char *up = NULL;

        return asprintf(&up, "%s/..", path) >= 0 && stat(path, &st) == 0 &&
               stat(up, &parent) == 0 && st.st_dev != parent.st_dev;
}

/* upper and work on the container's scratch disk when the host gave it
 * one (mounted at AGENT_SCRATCH_ROOT<id>: guest_disks.c), the links in
 * dir naming them (overlayfs follows them; agent_rootfs_remove drops
 * the links, the host's Disk Remove the disk). */
static int scratch_dirs(const char *dir, bool *ret_done, struct uvm_error **err)
{
        const char *id = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
        const char *subs[] = {"upper", "work"};
        _cleanup_free_ char *scratch = NULL;

        *ret_done = false;
        if (asprintf(&scratch, AGENT_SCRATCH_ROOT "%s", id) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (!mount_point(scratch))
                return 0;
        for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
                _cleanup_free_ char *p = NULL, *link = NULL;

                if (asprintf(&p, "%s/%s", scratch, subs[i]) < 0 ||
                    asprintf(&link, "%s/%s", dir, subs[i]) < 0)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                if (mkdir(p, 0700) < 0)
                        return uvm_error_set(err, errno, "mkdir '%s': %m", p);
                if (symlink(p, link) < 0)
                        return uvm_error_set(err, errno, "symlink '%s': %m", link);
        }
        *ret_done = true;
        return 0;
}

int agent_rootfs_make_dirs(const char *dir, struct uvm_error **err)
{
        const char *subs[] = {"", "/rootfs", "/upper", "/work"};
        bool on_scratch = false;

        for (size_t i = 0; i < ARRAY_SIZE(subs) && !on_scratch; i++) {
                _cleanup_free_ char *p = NULL;
                int r;

                if (i == 2 && (r = scratch_dirs(dir, &on_scratch, err)) < 0)
                        return r;
                if (on_scratch)
                        break;
                if (asprintf(&p, "%s%s", dir, subs[i]) < 0)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                /* The container's dir: o+x, see agent_main.c setup_dirs. */
                if (mkdir(p, i == 0 ? 0711 : 0700) < 0)
                        return uvm_error_set(err, errno, "mkdir '%s': %m", p);
        }
        return 0;
}

/* A detached tree (an open_tree fd) onto target. */
static int attach_tree(int fd, const char *target, struct uvm_error **err)
{
        if (syscall(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return uvm_error_set(err, errno, "move_mount onto '%s': %m", target);
        return 0;
}

static int mount_image_readonly(const char *target, json_object *layers, struct uvm_error **err)
{
        struct lower l;
        char opts[4096];
        int r, fd;

        if (json_object_array_length(layers) == 1 && agent_cfg.userns_fd >= 0) {
                fd = idmapped_clone(layer_at(layers, 0), MOUNT_ATTR_RDONLY, false, err);
                if (fd < 0)
                        return fd;
                r = attach_tree(fd, target, err);
                close(fd);
                return r;
        }
        if (json_object_array_length(layers) == 1) {
                if (mount(layer_at(layers, 0), target, NULL, MS_BIND, NULL) < 0)
                        return uvm_error_set(err, errno, "bind mount '%s': %m",
                                             layer_at(layers, 0));
                if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
                        r = uvm_error_set(err, errno, "remount '%s' read-only: %m", target);
                        umount2(target, MNT_DETACH);
                        return r;
                }
                return 0;
        }
        r = lower_open(layers, &l, err);
        if (r < 0)
                return r;
        r = overlay_options(&l, NULL, opts, sizeof(opts), err);
        if (r >= 0 && mount("overlay", target, "overlay", MS_RDONLY, opts) < 0)
                r = uvm_error_set(err, errno, "mount overlay on '%s': %m", target);
        lower_close(&l);
        return r;
}

/* sub_path inside the volume at vol, resolved there (a symlink in the image
 * cannot lead out of it): the absolute path to bind. */
static int resolve_sub_path(const char *vol, const char *sub, char **ret, struct uvm_error **err)
{
        struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        _cleanup_close_ int root = -1, fd = -1;
        char link[64], real[4096];
        ssize_t n;

        if (STR_EMPTY(sub))
                return (*ret = strdup(vol)) ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
        root = open(vol, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root >= 0)
                fd = (int) syscall(SYS_openat2, root, sub, &how, sizeof(how));
        if (fd < 0)
                return uvm_error_set(err, errno == ENOENT ? ENOENT : errno,
                                     "image sub path '%s': %m", sub);
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, real, sizeof(real) - 1);
        if (n < 0)
                return uvm_error_set(err, errno, "image sub path '%s': %m", sub);
        real[n] = '\0';
        if (strncmp(real, vol, strlen(vol)) != 0 ||
            (real[strlen(vol)] != '/' && real[strlen(vol)] != '\0'))
                return uvm_error_set(err, EINVAL, "image sub path '%s' leaves the image", sub);
        return (*ret = strdup(real)) ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}

/* The spec mount at dest whose source was left empty for us. */
static json_object *volume_mount(json_object *spec, const char *dest)
{
        json_object *mounts = json_object_object_get(spec, "mounts");

        for (size_t i = 0;
             json_object_is_type(mounts, json_type_array) && i < json_object_array_length(mounts);
             i++) {
                json_object *m = json_object_array_get_idx(mounts, i);
                const char *d = json_object_get_string(json_object_object_get(m, "destination"));
                const char *s = json_object_get_string(json_object_object_get(m, "source"));

                if (d && s && STR_EQ(d, dest) && !*s)
                        return m;
        }
        return NULL;
}

static int one_volume(const char *dir, size_t k, json_object *v, json_object *spec,
                      struct uvm_error **err)
{
        json_object *layers = json_object_object_get(v, "Layers");
        const char *dest = json_object_get_string(json_object_object_get(v, "Destination"));
        const char *sub = json_object_get_string(json_object_object_get(v, "SubPath"));
        _cleanup_free_ char *target = NULL, *source = NULL;
        json_object *m;
        int r;

        if (!dest || !(m = volume_mount(spec, dest)))
                return uvm_error_set(err, EINVAL,
                                     "ImageVolumes[%zu]: no spec mount with an empty source at "
                                     "'%.256s'",
                                     k, dest ? dest : "");
        if (sub && (sub[0] == '/' || strstr(sub, "..")))
                return uvm_error_set(err, EINVAL,
                                     "ImageVolumes[%zu].SubPath '%.256s': must be "
                                     "relative, without '..'",
                                     k, sub);
        r = agent_rootfs_check_layers(layers, err);
        if (r < 0)
                return uvm_error_wrap(err, "ImageVolumes[%zu]", k);
        if (asprintf(&target, "%s/" VOL_PREFIX "%zu", dir, k) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (mkdir(target, 0700) < 0)
                return uvm_error_set(err, errno, "mkdir '%s': %m", target);
        r = mount_image_readonly(target, layers, err);
        if (r >= 0)
                r = resolve_sub_path(target, sub, &source, err);
        if (r < 0)
                return r;
        json_object_object_add(m, "source", json_object_new_string(source));
        return 0;
}

int agent_rootfs_volumes(const char *dir, json_object *vols, json_object *spec,
                         struct uvm_error **err)
{
        size_t n;

        if (!vols)
                return 0;
        if (!json_object_is_type(vols, json_type_array) ||
            (n = json_object_array_length(vols)) > MAX_VOLUMES)
                return uvm_error_set(err, EINVAL, "ImageVolumes: need an array of at most %d",
                                     MAX_VOLUMES);
        for (size_t k = 0; k < n; k++) {
                json_object *v = json_object_array_get_idx(vols, k);
                int r = json_object_is_type(v, json_type_object)
                                ? one_volume(dir, k, v, spec, err)
                                : uvm_error_set(err, EINVAL, "ImageVolumes[%zu]: not an object", k);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The spec's mounts with uidMappings/gidMappings (a CRI mount the kubelet
 * wants idmapped): an idmapped clone of the source, with the pod's user
 * namespace, at idmap-<k>, which becomes the source the runtime binds. The
 * mappings are taken off, so the runtime does not map again. */
static bool same_mappings(json_object *m, json_object *linux_, const char *key)
{
        json_object *a = json_object_object_get(m, key), *b = json_object_object_get(linux_, key);

        return a && b &&
               STR_EQ(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
                      json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN));
}

static int one_idmapped(const char *dir, size_t k, json_object *m, json_object *linux_,
                        struct uvm_error **err)
{
        const char *src = json_object_get_string(json_object_object_get(m, "source"));
        _cleanup_free_ char *target = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        if (agent_cfg.userns_fd < 0 || !same_mappings(m, linux_, "uidMappings") ||
            !same_mappings(m, linux_, "gidMappings"))
                return uvm_error_set(err, EINVAL,
                                     "mounts[%zu]: idmapped, but not with the mappings of the "
                                     "pod's user namespace",
                                     k);
        if (!src || src[0] != '/')
                return uvm_error_set(err, EINVAL, "mounts[%zu]: source '%.256s' is not absolute", k,
                                     src ? src : "");
        if (stat(src, &st) < 0)
                return uvm_error_set(err, errno, "mounts[%zu]: source '%.256s': %m", k, src);
        if (asprintf(&target, "%s/" IDMAP_PREFIX "%zu", dir, k) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        /* A bind mount's target is of its source's kind. */
        r = S_ISDIR(st.st_mode) ? mkdir(target, 0700)
                                : open(target, O_CREAT | O_EXCL | O_CLOEXEC | O_WRONLY, 0600);
        if (r < 0)
                return uvm_error_set(err, errno, "create '%s': %m", target);
        if (!S_ISDIR(st.st_mode))
                close(r);
        fd = idmapped_clone(src, 0, true, err);
        if (fd < 0)
                return uvm_error_wrap(err, "mounts[%zu]", k);
        r = attach_tree(fd, target, err);
        if (r < 0)
                return r;
        json_object_object_add(m, "source", json_object_new_string(target));
        json_object_object_del(m, "uidMappings");
        json_object_object_del(m, "gidMappings");
        return 0;
}

int agent_rootfs_idmapped_mounts(const char *dir, json_object *spec, struct uvm_error **err)
{
        json_object *mounts = json_object_object_get(spec, "mounts"),
                    *linux_ = json_object_object_get(spec, "linux");
        size_t n =
                json_object_is_type(mounts, json_type_array) ? json_object_array_length(mounts) : 0;

        for (size_t k = 0; k < n; k++) {
                json_object *m = json_object_array_get_idx(mounts, k);
                int r;

                if (!json_object_object_get(m, "uidMappings") &&
                    !json_object_object_get(m, "gidMappings"))
                        continue;
                r = one_idmapped(dir, k, m, linux_, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Mounts may be stacked (a runtime that bind-mounts the rootfs onto itself
 * outside a mount namespace): peel until none is left. */
static void unmount_all(const char *path)
{
        int r = fs_unmount_all(path, 16);

        if (r < 0)
                log_warn("umount '%s': %s, ignoring", path, strerror(-r));
}

/* Unmount and remove a container dir; errors are logged (cleanup paths). */
void agent_rootfs_remove(const char *dir)
{
        _cleanup_free_ char *rootfs = NULL;
        DIR *d = opendir(dir);
        struct dirent *e;
        int r;

        while (d && (e = readdir(d))) {
                _cleanup_free_ char *p = NULL;

                if ((strncmp(e->d_name, VOL_PREFIX, strlen(VOL_PREFIX)) == 0 ||
                     strncmp(e->d_name, IDMAP_PREFIX, strlen(IDMAP_PREFIX)) == 0) &&
                    asprintf(&p, "%s/%s", dir, e->d_name) >= 0)
                        unmount_all(p);
        }
        if (d)
                closedir(d);
        if (asprintf(&rootfs, "%s/rootfs", dir) < 0)
                return;
        unmount_all(rootfs);
        r = fs_rm_rf(dir);
        if (r < 0 && r != -ENOENT)
                log_warn("removing '%s': %s, ignoring", dir, strerror(-r));
}
