/* A VM pod's 9p share and its containers' specs for the guest (share.h). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/nsfs.h"
#include "sandbox/drivers/qemu/share.h"

#define MAX_LAYERS 128
#define MAX_MOUNTS 256

static json_object *get(json_object *o, const char *k)
{
        json_object *v = NULL;

        return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static bool has_option(json_object *m, const char *opt)
{
        json_object *opts = get(m, "options");

        for (size_t i = 0;
             json_object_is_type(opts, json_type_array) && i < json_object_array_length(opts); i++)
                if (STR_EQ(json_object_get_string(json_object_array_get_idx(opts, i)) ?: "", opt))
                        return true;
        return false;
}

static char *ctr_dir(const char *share, const char *ctr_id)
{
        char *s = NULL;

        return asprintf(&s, "%s/c/%s", share, ctr_id) < 0 ? NULL : s;
}

/* Bind src onto <dir>/<name> (made of src's kind), read-only if asked. */
static int bind_into(const char *src, const char *dir, const char *name, bool ro,
                     struct uvm_error **err)
{
        _cleanup_free_ char *target = NULL;
        struct stat st;
        int fd;

        if (stat(src, &st) < 0)
                return uvm_error_set(err, errno, "'%s': %m", src);
        if (asprintf(&target, "%s/%s", dir, name) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (S_ISDIR(st.st_mode)) {
                if (mkdir(target, 0755) < 0)
                        return uvm_error_set(err, errno, "mkdir %s: %m", target);
        } else {
                fd = open(target, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
                if (fd < 0)
                        return uvm_error_set(err, errno, "create %s: %m", target);
                close(fd);
        }
        if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0)
                return uvm_error_set(err, errno, "bind '%s' into the pod's share: %m", src);
        if (ro && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
                return uvm_error_set(err, errno, "make %s read-only: %m", target);
        return 0;
}

static int layers_into(const char *dir, const char *guest, char *const *layers, char ***ret,
                       struct uvm_error **err)
{
        size_t n = 0;
        char **v;
        int r = 0;

        while (layers && layers[n])
                n++;
        if (n == 0 || n > MAX_LAYERS)
                return uvm_error_set(err, EINVAL, "%zu layers, need 1 to %d", n, MAX_LAYERS);
        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                char name[32];

                snprintf(name, sizeof(name), "l%zu", i);
                r = bind_into(layers[i], dir, name, true, err);
                if (r >= 0 && asprintf(&v[i], "%s/%s", guest, name) < 0) {
                        v[i] = NULL;
                        r = uvm_error_set(err, ENOMEM, "out of memory");
                }
        }
        if (r < 0) {
                strv_free(v);
                return r;
        }
        *ret = v;
        return 0;
}

/* Host bind mounts become binds of their copy in the share. */
static int mounts_into(const char *dir, const char *guest, json_object *oci, struct uvm_error **err)
{
        json_object *mounts = get(oci, "mounts");
        size_t n =
                json_object_is_type(mounts, json_type_array) ? json_object_array_length(mounts) : 0;

        if (n > MAX_MOUNTS)
                return uvm_error_set(err, EINVAL, "more than %d mounts", MAX_MOUNTS);
        for (size_t k = 0; k < n; k++) {
                json_object *m = json_object_array_get_idx(mounts, k);
                const char *type = json_object_get_string(get(m, "type")) ?: "",
                           *src = json_object_get_string(get(m, "source")) ?: "",
                           *dst = json_object_get_string(get(m, "destination")) ?: "";
                _cleanup_free_ char *gsrc = NULL;
                char name[32];
                int r;

                if (!STR_EQ(type, "bind") && !has_option(m, "bind") && !has_option(m, "rbind"))
                        continue;
                if (!*src)
                        continue; /* an image volume: the guest mounts its layer disks */
                if (has_option(m, "rshared") || has_option(m, "shared"))
                        return uvm_error_set(err, EINVAL,
                                             "mount %s: bidirectional propagation cannot cross "
                                             "into a VM",
                                             dst);
                snprintf(name, sizeof(name), "m%zu", k);
                r = bind_into(src, dir, name, has_option(m, "ro"), err);
                if (r < 0)
                        return uvm_error_wrap(err, "mount %s", dst);
                if (asprintf(&gsrc, "%s/%s", guest, name) < 0)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                json_object_object_add(m, "source", json_object_new_string(gsrc));
        }
        return 0;
}

/* Set (path) or drop (NULL) the namespace entry of type. */
static void set_ns(json_object *nss, const char *type, const char *path)
{
        for (size_t i = 0; i < json_object_array_length(nss); i++) {
                json_object *x = json_object_array_get_idx(nss, i);

                if (!STR_EQ(json_object_get_string(get(x, "type")) ?: "", type))
                        continue;
                if (!path) {
                        json_object_array_del_idx(nss, i, 1);
                        return;
                }
                json_object_object_add(x, "path", json_object_new_string(path));
                return;
        }
}

/* The guest is the pod: its network, UTS and IPC namespaces (and hostname,
 * set by the host through the agent) are every container's. */
static int guest_namespaces(const struct qshare_pod *pod, const char *ctr_id, json_object *oci,
                            struct uvm_error **err)
{
        json_object *linux_ = get(oci, "linux"), *nss = linux_ ? get(linux_, "namespaces") : NULL;
        json_object *devs = linux_ ? get(linux_, "devices") : NULL;
        char pidns[64], cg[128];

        if (!json_object_is_type(nss, json_type_array))
                return uvm_error_set(err, EINVAL, "OCI spec: linux.namespaces is not an array");
        for (size_t i = 0; i < json_object_array_length(nss); i++)
                if (STR_EQ(json_object_get_string(get(json_object_array_get_idx(nss, i), "type"))
                                   ?: "",
                           "user"))
                        return uvm_error_set(err, EINVAL,
                                             "user namespaces are not available in VM pods");
        /* A non-privileged container asking for host devices cannot have
         * them in a VM; a privileged one gets the guest's own. */
        if (json_object_is_type(devs, json_type_array) && json_object_array_length(devs) > 0) {
                if (get(linux_, "maskedPaths"))
                        return uvm_error_set(err, EINVAL,
                                             "devices: the host's devices are not available in "
                                             "VM pods");
                json_object_object_del(linux_, "devices");
        }
        set_ns(nss, "network", NULL);
        set_ns(nss, "uts", NULL);
        set_ns(nss, "ipc", NULL);
        /* The guest is cgroup v2: a cgroup namespace makes the container's
         * own cgroup its /sys/fs/cgroup, as containerd does on v2. */
        set_ns(nss, "cgroup", NULL);
        json_object_array_add(nss, json_object_new_object());
        json_object_object_add(json_object_array_get_idx(nss, json_object_array_length(nss) - 1),
                               "type", json_object_new_string("cgroup"));
        snprintf(pidns, sizeof(pidns), "/proc/%d/ns/pid", (int) pod->pidns_holder);
        if (pod->share_pid)
                set_ns(nss, "pid", pidns);
        json_object_object_del(oci, "hostname");
        json_object_object_del(get(oci, "process"), "apparmorProfile");
        /* The guest's cgroups are the pod's alone (cgroup v2, cgroupfs). */
        snprintf(cg, sizeof(cg), "/pod/%s", ctr_id);
        json_object_object_add(linux_, "cgroupsPath", json_object_new_string(cg));
        return 0;
}

int qshare_ctr_prepare(const struct qshare_pod *pod, const char *ctr_id, char *const *layers,
                       json_object *oci, char ***ret_layers, struct uvm_error **err)
{
        _cleanup_free_ char *dir = ctr_dir(pod->share, ctr_id), *guest = NULL;
        int r;

        if (!dir || asprintf(&guest, QSHARE_GUEST "/c/%s", ctr_id) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (pod->share_pid && pod->pidns_holder <= 0)
                return uvm_error_set(err, EPROTO, "the guest has no PID namespace holder");
        r = guest_namespaces(pod, ctr_id, oci, err);
        if (r < 0)
                return r;
        r = fs_mkdir_p(dir, 0755);
        if (r < 0)
                return uvm_error_set(err, -r, "create %s: %s", dir, strerror(-r));
        *ret_layers = NULL;
        r = layers ? layers_into(dir, guest, layers, ret_layers, err) : 0;
        if (r >= 0) {
                r = mounts_into(dir, guest, oci, err);
                if (r < 0) {
                        strv_free(*ret_layers);
                        *ret_layers = NULL;
                }
        }
        if (r < 0)
                qshare_ctr_release(pod->share, ctr_id);
        return r;
}

/* Unmount every entry of dir (binds may stack: peel them all), remove it. */
static void release_dir(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;

        while (d && (e = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                int r;

                if (e->d_name[0] == '.' || asprintf(&p, "%s/%s", dir, e->d_name) < 0)
                        continue;
                r = fs_unmount_all(p, 16);
                if (r < 0)
                        log_warn("unmount %s: %s, ignoring", p, strerror(-r));
        }
        if (d)
                closedir(d);
        if (fs_rm_rf(dir) < 0)
                log_warn("remove %s: %m, ignoring", dir);
}

void qshare_ctr_release(const char *share, const char *ctr_id)
{
        _cleanup_free_ char *dir = ctr_dir(share, ctr_id);

        if (dir)
                release_dir(dir);
}

void qshare_release_all(const char *share)
{
        _cleanup_free_ char *c = NULL;
        DIR *d;
        struct dirent *e;

        if (asprintf(&c, "%s/c", share) < 0)
                return;
        d = opendir(c);
        while (d && (e = readdir(d)))
                if (e->d_name[0] != '.')
                        qshare_ctr_release(share, e->d_name);
        if (d)
                closedir(d);
        (void) fs_unmount_all(share, 4); /* the driver's self-bind */
        (void) fs_rm_rf(share);
}
