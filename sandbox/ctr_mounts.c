/* A container's CRI mounts: what the record keeps of them, the host mount
 * propagation they need, and the images behind image volumes. */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/log.h"
#include "image/image.h"
#include "sandbox/container-internal.h"
#include "sandbox/spec.h"

static char *xstrdup(const char *s)
{
        return s ? strdup(s) : NULL;
}

int ctr_mounts_from(const Runtime__V1__ContainerConfig *cfg, struct ctr_mount **ret, size_t *ret_n,
                    struct uvm_error **err)
{
        struct ctr_mount *v = calloc(cfg->n_mounts + 1, sizeof(*v));
        bool ok = v != NULL;

        for (size_t i = 0; ok && i < cfg->n_mounts; i++) {
                const Runtime__V1__Mount *m = cfg->mounts[i];
                bool image = spec_mount_is_image(m);

                v[i] = (struct ctr_mount){
                        .container_path = xstrdup(m->container_path),
                        .host_path = image ? NULL : xstrdup(m->host_path),
                        .image = image ? xstrdup(m->image->image) : NULL,
                        .image_sub_path = image ? xstrdup(m->image_sub_path ?: "") : NULL,
                        .readonly = m->readonly || image,
                        .recursive_read_only = m->recursive_read_only,
                        .propagation = m->propagation,
                };
                ok = v[i].container_path &&
                     (image ? v[i].image && v[i].image_sub_path : v[i].host_path != NULL);
        }
        if (!ok) {
                ctr_mounts_free(v, cfg->n_mounts);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = v;
        *ret_n = cfg->n_mounts;
        return 0;
}

/* containerd's rule: rshared needs a shared host mount, rslave a shared or
 * slave one; otherwise the propagation asked for could never happen. */
int ctr_mounts_check_propagation(const struct ctr_mount *m, size_t n, struct uvm_error **err)
{
        for (size_t i = 0; i < n; i++) {
                char real[PATH_MAX], mnt[PATH_MAX];
                bool shared = false, slave = false;
                int p = m[i].propagation;

                if (!m[i].host_path || p == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE)
                        continue;
                if (!realpath(m[i].host_path, real))
                        return uvm_error_set(err, errno == ENOENT ? EINVAL : errno,
                                             "mounts[%zu].host_path '%s': %m", i, m[i].host_path);
                if (fs_mount_of(real, mnt, sizeof(mnt), &shared, &slave) < 0)
                        return uvm_error_set(err, EINVAL,
                                             "mounts[%zu].host_path '%s': no mount holds it", i,
                                             m[i].host_path);
                if (p == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL && !shared)
                        return uvm_error_set(err, EINVAL,
                                             "mounts[%zu]: BIDIRECTIONAL propagation: '%s' is on "
                                             "mount '%s', which is not a shared mount",
                                             i, m[i].host_path, mnt);
                if (!shared && !slave)
                        return uvm_error_set(err, EINVAL,
                                             "mounts[%zu]: HOST_TO_CONTAINER propagation: '%s' is "
                                             "on mount '%s', which is neither shared nor a slave",
                                             i, m[i].host_path, mnt);
        }
        return 0;
}

static char *volume_user(const char *ctr_id, size_t i)
{
        char *u = NULL;

        return asprintf(&u, "%s/volume/%zu", ctr_id, i) < 0 ? NULL : u;
}

void ctr_image_volumes_release(struct img_store *images, const char *ctr_id,
                               const struct ctr_mount *m, size_t n)
{
        for (size_t i = 0; images && i < n; i++) {
                _cleanup_free_ char *user = NULL;

                if (!m[i].image_id || !(user = volume_user(ctr_id, i)))
                        continue;
                img_release(images, m[i].image_id, user);
        }
}

void ctr_image_hold(struct img_store *images, const char *image_id, const char *user)
{
        _cleanup_strv_ char **layers = NULL;
        _cleanup_free_ char *id = NULL;
        struct img_config ic = {0};

        if (!images || !image_id)
                return;
        if (img_use(images, image_id, user, &id, &layers, &ic, NULL) >= 0)
                img_config_clear(&ic);
        else
                log_warn("image %s of %s is gone, ignoring", image_id, user);
}

void ctr_image_volumes_hold(struct img_store *images, const char *ctr_id, const struct ctr_mount *m,
                            size_t n)
{
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *user = volume_user(ctr_id, i);

                if (user && m[i].image_id)
                        ctr_image_hold(images, m[i].image_id, user);
        }
}

void ctr_image_volumes_free(struct drv_image_volume *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                strv_free((char **) v[i].layers);
        free(v);
}

int ctr_image_volumes_take(struct img_store *images, const char *ctr_id, struct ctr_mount *m,
                           size_t n, struct drv_image_volume **ret, size_t *ret_n,
                           struct uvm_error **err)
{
        struct drv_image_volume *v = calloc(n + 1, sizeof(*v));
        size_t k = 0;
        int r = v ? 0 : uvm_error_set(err, ENOMEM, "out of memory");

        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *user = NULL;
                struct img_config ic = {0};
                char **layers = NULL;

                if (!m[i].image)
                        continue;
                if (!images || !(user = volume_user(ctr_id, i))) {
                        r = uvm_error_set(err, images ? ENOMEM : ENOTSUP, "image volume: %s",
                                          images ? "out of memory" : "no image store");
                        break;
                }
                r = img_use(images, m[i].image, user, &m[i].image_id, &layers, &ic, err);
                if (r < 0) {
                        uvm_error_wrap(err, "mounts[%zu]: image volume", i);
                        break;
                }
                img_config_clear(&ic);
                v[k++] =
                        (struct drv_image_volume){m[i].container_path, layers, m[i].image_sub_path};
        }
        if (r < 0) {
                ctr_image_volumes_release(images, ctr_id, m, n);
                ctr_image_volumes_free(v, k);
                return r;
        }
        *ret = v;
        *ret_n = k;
        return 0;
}
