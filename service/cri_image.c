/* CRI ImageService: thin handlers over the image store (image/image.h).
 * Shared: Linux's store (image/store.c: blobs and unpacked layers) and
 * uvmd.exe's (image/store_win.c: layers as VHDs) answer the same calls. */

#include <string.h>

#include "proto/api.pb-c.h"

#include "common/log.h"
#include "common/platform.h"
#include "image/image.h"
#include "service/cri.h"
#include "service/daemon.h"
#include "service/metrics_uvmd.h"
#include "service/validate.h"

#define IMAGE_REF_MAX 4096

/* The image named by an ImageSpec, checked. */
static int spec_image(const Runtime__V1__ImageSpec *spec, const char **ret, struct uvm_error **err)
{
        int r;

        if (!spec)
                return uvm_error_set(err, EINVAL, "image: missing ImageSpec");
        r = validate_string("image.image", spec->image, IMAGE_REF_MAX, err);
        if (r < 0)
                return r;
        *ret = spec->image;
        return 0;
}

static char **arena_strv(struct srv_ctx *ctx, char **v, size_t *ret_n)
{
        size_t n = 0;
        char **out;

        while (v && v[n])
                n++;
        out = srv_new_array(ctx, char *, n);
        for (size_t i = 0; out && i < n; i++)
                out[i] = srv_strdup(ctx, v[i]);
        *ret_n = n;
        return out;
}

/* An Image message from the store's record, built in the call's arena. */
static Runtime__V1__Image *to_image(struct srv_ctx *ctx, const struct img_info *i)
{
        Runtime__V1__Image *m = srv_new(ctx, Runtime__V1__Image);
        Runtime__V1__ImageSpec *spec = srv_new(ctx, Runtime__V1__ImageSpec);

        if (!m || !spec)
                return NULL;
        runtime__v1__image__init(m);
        runtime__v1__image_spec__init(spec);
        m->id = srv_strdup(ctx, i->id);
        m->repo_tags = arena_strv(ctx, i->repo_tags, &m->n_repo_tags);
        m->repo_digests = arena_strv(ctx, i->repo_digests, &m->n_repo_digests);
        m->size = i->size;
        spec->image = m->id;
        m->spec = spec;
        if (i->has_uid) {
                m->uid = srv_new(ctx, Runtime__V1__Int64Value);
                if (!m->uid)
                        return NULL;
                runtime__v1__int64_value__init(m->uid);
                m->uid->value = i->uid;
        }
        m->username = srv_strdup(ctx, i->username ? i->username : "");
        return m;
}

static struct img_store *store(struct srv_ctx *ctx)
{
        return ctx->daemon->images;
}

static int cri_pull_image(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                          struct uvm_error **err)
{
        const Runtime__V1__PullImageRequest *req = (const void *) m;
        Runtime__V1__PullImageResponse *r = srv_new(ctx, Runtime__V1__PullImageResponse);
        struct img_registry_auth auth = {0};
        _cleanup_free_ char *id = NULL;
        const char *ref = NULL;
        uint64_t t0;
        int rc;

        if (!r)
                return uvm_error_set(err, ENOMEM, "out of memory");
        rc = spec_image(req->image, &ref, err);
        if (rc < 0)
                return rc;
        if (req->auth) {
                auth.username = req->auth->username;
                auth.password = req->auth->password;
                auth.auth = req->auth->auth;
                auth.identity_token = req->auth->identity_token;
                auth.registry_token = req->auth->registry_token;
                auth.server_address = req->auth->server_address;
        }
        t0 = plat_now_ns();
        rc = img_pull(store(ctx), ref, &auth, &id, err);
        metrics_image_pull(rc >= 0, plat_now_ns() - t0);
        if (rc < 0)
                return rc;
        runtime__v1__pull_image_response__init(r);
        r->image_ref = srv_strdup(ctx, id);
        *ret = &r->base;
        return 0;
}

static Runtime__V1__ImageStatusResponse__InfoEntry **verbose_info(struct srv_ctx *ctx,
                                                                  const struct img_info *i)
{
        Runtime__V1__ImageStatusResponse__InfoEntry **v =
                srv_new_array(ctx, Runtime__V1__ImageStatusResponse__InfoEntry *, 1);
        Runtime__V1__ImageStatusResponse__InfoEntry *e =
                srv_new(ctx, Runtime__V1__ImageStatusResponse__InfoEntry);

        if (!v || !e)
                return NULL;
        runtime__v1__image_status_response__info_entry__init(e);
        e->key = "info";
        e->value = srv_strdup(ctx, i->pinned_or_verbose_json ? i->pinned_or_verbose_json : "{}");
        v[0] = e;
        return v;
}

static int cri_image_status(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                            struct uvm_error **err)
{
        const Runtime__V1__ImageStatusRequest *req = (const void *) m;
        Runtime__V1__ImageStatusResponse *r = srv_new(ctx, Runtime__V1__ImageStatusResponse);
        struct img_info info = {0};
        const char *ref = NULL;
        int rc;

        if (!r)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__image_status_response__init(r);
        rc = spec_image(req->image, &ref, err);
        if (rc < 0)
                return rc;
        rc = img_status(store(ctx), ref, &info, err);
        if (rc == -ENOENT) {
                /* Absent is not an error: the kubelet reads an empty image. */
                uvm_error_free(*err);
                *err = NULL;
                *ret = &r->base;
                return 0;
        }
        if (rc < 0)
                return rc;
        r->image = to_image(ctx, &info);
        if (r->image && req->verbose) {
                r->info = verbose_info(ctx, &info);
                r->n_info = r->info ? 1 : 0;
        }
        img_info_clear(&info);
        if (!r->image)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret = &r->base;
        return 0;
}

static int cri_list_images(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                           struct uvm_error **err)
{
        const Runtime__V1__ListImagesRequest *req = (const void *) m;
        Runtime__V1__ListImagesResponse *r = srv_new(ctx, Runtime__V1__ListImagesResponse);
        const char *filter = NULL;
        struct img_info *v = NULL;
        size_t n = 0;
        int rc;

        if (!r)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__list_images_response__init(r);
        if (req->filter && req->filter->image && req->filter->image->image &&
            *req->filter->image->image) {
                rc = spec_image(req->filter->image, &filter, err);
                if (rc < 0)
                        return rc;
        }
        rc = img_list(store(ctx), filter, &v, &n, err);
        if (rc < 0)
                return rc;
        r->images = srv_new_array(ctx, Runtime__V1__Image *, n);
        for (size_t i = 0; r->images && i < n; i++)
                if ((r->images[r->n_images] = to_image(ctx, &v[i])))
                        r->n_images++;
        for (size_t i = 0; i < n; i++)
                img_info_clear(&v[i]);
        free(v);
        if (r->n_images != n)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret = &r->base;
        return 0;
}

static int cri_remove_image(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                            struct uvm_error **err)
{
        const Runtime__V1__RemoveImageRequest *req = (const void *) m;
        Runtime__V1__RemoveImageResponse *r = srv_new(ctx, Runtime__V1__RemoveImageResponse);
        const char *ref = NULL;
        int rc;

        if (!r)
                return uvm_error_set(err, ENOMEM, "out of memory");
        rc = spec_image(req->image, &ref, err);
        if (rc < 0)
                return rc;
        rc = img_remove(store(ctx), ref, err);
        if (rc < 0)
                return rc;
        runtime__v1__remove_image_response__init(r);
        *ret = &r->base;
        return 0;
}

static int cri_image_fs_info(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                             struct uvm_error **err)
{
        Runtime__V1__ImageFsInfoResponse *r = srv_new(ctx, Runtime__V1__ImageFsInfoResponse);
        Runtime__V1__FilesystemUsage *u = srv_new(ctx, Runtime__V1__FilesystemUsage);
        Runtime__V1__FilesystemIdentifier *id = srv_new(ctx, Runtime__V1__FilesystemIdentifier);
        struct img_fs_usage usage = {0};
        int rc;

        (void) m;
        if (!r || !u || !id)
                return uvm_error_set(err, ENOMEM, "out of memory");
        rc = img_fs_usage(store(ctx), &usage, err);
        if (rc < 0)
                return rc;
        runtime__v1__image_fs_info_response__init(r);
        runtime__v1__filesystem_usage__init(u);
        runtime__v1__filesystem_identifier__init(id);
        id->mountpoint = srv_strdup(ctx, usage.mountpoint);
        free(usage.mountpoint);
        u->fs_id = id;
        u->timestamp = usage.timestamp_ns;
        u->used_bytes = cri_u64(ctx, usage.used_bytes);
        u->inodes_used = cri_u64(ctx, usage.inodes_used);
        r->image_filesystems = srv_new_array(ctx, Runtime__V1__FilesystemUsage *, 1);
        if (!r->image_filesystems || !u->used_bytes || !u->inodes_used)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r->image_filesystems[0] = u;
        r->n_image_filesystems = 1;
        *ret = &r->base;
        return 0;
}

const struct srv_binding cri_image_bindings[] = {
        {"runtime.v1.ImageService", "PullImage", SRV_UNARY, false, cri_pull_image, NULL},
        {"runtime.v1.ImageService", "ImageStatus", SRV_UNARY, false, cri_image_status, NULL},
        {"runtime.v1.ImageService", "ListImages", SRV_UNARY, false, cri_list_images, NULL},
        {"runtime.v1.ImageService", "RemoveImage", SRV_UNARY, false, cri_remove_image, NULL},
        {"runtime.v1.ImageService", "ImageFsInfo", SRV_UNARY, false, cri_image_fs_info, NULL},
        {0},
};
