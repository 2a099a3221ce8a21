/* img_import: OCI layout archives and `docker save` archives from a file,
 * for nodes that cannot reach a registry. */

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "common/fs.h"
#include "common/log.h"
#include "image/manifest.h"
#include "image/ref.h"
#include "image/store-internal.h"

#define IMPORT_MAX_ENTRIES 100000
#define IMPORT_MAX_IMAGES 256

/* Archive entry names: relative, no "..", no empty components. */
static int safe_name(const char *name, char **ret)
{
        _cleanup_free_ char *copy = NULL;
        char *save = NULL, *c;
        size_t len;

        while (name[0] == '.' && name[1] == '/')
                name += 2;
        if (!*name || name[0] == '/' || strlen(name) >= PATH_MAX)
                return -EPERM;
        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        for (c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
                if (strcmp(c, "..") == 0)
                        return -EPERM;
        len = strlen(name);
        *ret = strndup(name, name[len - 1] == '/' ? len - 1 : len);
        return *ret ? 0 : -ENOMEM;
}

static int copy_data(struct archive *a, int fd)
{
        const void *buf;
        size_t size;
        int64_t off;
        int r;

        while ((r = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
                if (pwrite(fd, buf, size, off) != (ssize_t) size)
                        return -errno;
        return r == ARCHIVE_EOF ? 0 : -EIO;
}

/* Only directories and regular files are taken: nothing in an image archive
 * needs more, and without links nothing can point out of dir. */
static int extract_entry(struct archive *a, struct archive_entry *e, const char *dir,
                         struct uvm_error **err)
{
        _cleanup_free_ char *name = NULL, *path = NULL;
        _cleanup_close_ int fd = -1;
        mode_t type = archive_entry_filetype(e);
        char *slash;
        int r;

        r = safe_name(archive_entry_pathname(e), &name);
        if (r < 0)
                return uvm_error_set(err, -r, "archive entry \"%s\" is not a safe relative path",
                                     archive_entry_pathname(e));
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (type == AE_IFDIR)
                return fs_mkdir_p(path, 0700) < 0 ? uvm_error_set(err, errno, "mkdir %s: %m", path)
                                                  : 0;
        if (type != AE_IFREG)
                return uvm_error_set(err, ENOTSUP,
                                     "archive entry \"%s\": only files and directories are "
                                     "supported in image archives",
                                     name);
        slash = strrchr(path, '/');
        *slash = '\0';
        r = fs_mkdir_p(path, 0700);
        *slash = '/';
        if (r < 0)
                return uvm_error_set(err, -r, "mkdir for %s: %s", path, strerror(-r));
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return uvm_error_set(err, errno, "create %s: %m", path);
        r = copy_data(a, fd);
        if (r < 0)
                return uvm_error_set(err, -r, "extract %s: %s", name,
                                     r == -EIO ? archive_error_string(a) : strerror(-r));
        return 0;
}

static int extract(const char *archive_path, const char *dir, struct uvm_error **err)
{
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        size_t n = 0;
        int r = 0, ar;

        if (!a)
                return uvm_error_set(err, ENOMEM, "out of memory");
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        if (archive_read_open_filename(a, archive_path, 64 * 1024) != ARCHIVE_OK) {
                r = uvm_error_set(err, errno ? errno : EINVAL, "open %s: %s", archive_path,
                                  archive_error_string(a));
                archive_read_free(a);
                return r;
        }
        while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                if (++n > IMPORT_MAX_ENTRIES) {
                        r = uvm_error_set(err, EFBIG, "more than %d entries", IMPORT_MAX_ENTRIES);
                        break;
                }
                r = extract_entry(a, e, dir, err);
                if (r < 0)
                        break;
        }
        if (r >= 0 && ar != ARCHIVE_EOF)
                r = uvm_error_set(err, EINVAL, "%s: not a tar archive: %s", archive_path,
                                  archive_error_string(a));
        archive_read_free(a);
        return r;
}

/* --- blobs from the extracted directory --- */

struct dir_blob {
        char *digest, *path;
};

struct dir_source {
        const char *dir;
        struct dir_blob *map; /* docker archives name layers by path */
        size_t n_map;
};

static int copy_verified(const char *from, const char *digest, int64_t size, const char *dest,
                         struct uvm_error **err)
{
        _cleanup_close_ int in = -1, out = -1;
        struct img_hasher *h = img_hasher_new();
        char got[IMG_DIGEST_LEN + 1], buf[64 * 1024];
        int64_t total = 0;
        ssize_t n;
        int r = 0;

        if (!h)
                return uvm_error_set(err, ENOMEM, "out of memory");
        in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        out = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (in < 0 || out < 0)
                r = uvm_error_set(err, errno, "blob %s: %m", digest);
        while (r >= 0 && (n = read(in, buf, sizeof(buf))) != 0) {
                if (n < 0 || write(out, buf, n) != n)
                        r = uvm_error_set(err, errno, "copy blob %s: %m", digest);
                else {
                        img_hasher_update(h, buf, n);
                        total += n;
                }
        }
        img_hasher_final(h, got);
        img_hasher_free(h);
        if (r >= 0 && (strcmp(got, digest) != 0 || (size >= 0 && total != size)))
                r = uvm_error_set(err, EBADMSG, "blob %s: content is %s (%lld bytes)", digest, got,
                                  (long long) total);
        return r;
}

static int dir_fetch(void *data, const char *digest, int64_t size, const char *dest,
                     struct uvm_error **err)
{
        struct dir_source *ds = data;
        _cleanup_free_ char *from = NULL;

        for (size_t i = 0; i < ds->n_map; i++)
                if (strcmp(ds->map[i].digest, digest) == 0)
                        return copy_verified(ds->map[i].path, digest, size, dest, err);
        if (asprintf(&from, "%s/blobs/sha256/%s", ds->dir, digest + 7) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (access(from, F_OK) < 0)
                return uvm_error_set(err, ENOENT, "archive lacks blob %s", digest);
        return copy_verified(from, digest, size, dest, err);
}

static int read_json(const char *path, json_object **ret, struct uvm_error **err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = fs_read_file(path, IMG_MAX_JSON, &buf, &len);

        if (r < 0)
                return uvm_error_set(err, -r, "read %s: %s", path, strerror(-r));
        *ret = json_tokener_parse(buf);
        if (!*ret)
                return uvm_error_set(err, EINVAL, "%s: malformed JSON", path);
        return 0;
}

static int add_id(char ***ids, const char *id, struct uvm_error **err)
{
        return img_idx_strv_add(ids, id) < 0 ? uvm_error_set(err, ENOMEM, "out of memory") : 0;
}

/* A reference from an archive, normalised ("busybox:1" →
 * "docker.io/library/busybox:1"); NULL when it is not a full name:tag. */
static char *archive_name(const char *s)
{
        struct img_ref ref = {0};
        char *name = NULL, *full = NULL;

        if (!s || (!strchr(s, ':') && !strchr(s, '/')) || img_ref_parse(s, &ref, NULL) < 0)
                return NULL;
        name = img_ref_name(&ref);
        if (name && ref.tag && asprintf(&full, "%s:%s", name, ref.tag) < 0)
                full = NULL;
        free(name);
        img_ref_clear(&ref);
        return full;
}

static const char *jget_str(json_object *o, const char *key)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* Map an archive-relative path to its blob digest and size. */
static int map_blob(struct dir_source *ds, const char *rel, char ret_digest[IMG_DIGEST_LEN + 1],
                    int64_t *ret_size, struct uvm_error **err)
{
        _cleanup_free_ char *safe = NULL, *path = NULL;
        unsigned long long size;
        struct dir_blob *nm;
        int r;

        if (!rel || safe_name(rel, &safe) < 0)
                return uvm_error_set(err, EINVAL, "manifest.json: bad path \"%s\"",
                                     rel ? rel : "(missing)");
        if (asprintf(&path, "%s/%s", ds->dir, safe) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = img_digest_file(path, ret_digest, &size);
        if (r < 0)
                return uvm_error_set(err, -r, "archive file %s: %s", safe, strerror(-r));
        nm = realloc(ds->map, (ds->n_map + 1) * sizeof(*nm));
        if (!nm || !(nm[ds->n_map].digest = strdup(ret_digest))) {
                if (nm)
                        ds->map = nm;
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        ds->map = nm;
        nm[ds->n_map].path = TAKE_PTR(path);
        ds->n_map++;
        *ret_size = (int64_t) size;
        return 0;
}

static json_object *descriptor(const char *media_type, const char *digest, int64_t size)
{
        json_object *d = json_object_new_object();

        json_object_object_add(d, "mediaType", json_object_new_string(media_type));
        json_object_object_add(d, "digest", json_object_new_string(digest));
        json_object_object_add(d, "size", json_object_new_int64(size));
        return d;
}

/* One manifest.json entry: an OCI manifest is written for it, so it goes in
 * through the same path as any pulled image. */
static int import_docker_one(struct img_store *s, struct dir_source *ds, json_object *ent,
                             char ***ids, struct uvm_error **err)
{
        json_object *layers, *tags_j, *man = NULL, *jl;
        char digest[IMG_DIGEST_LEN + 1];
        _cleanup_strv_ char **tags = calloc(1, sizeof(char *));
        _cleanup_free_ char *id = NULL;
        const char *text;
        int64_t size;
        int r;

        if (!tags)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (!json_object_object_get_ex(ent, "Layers", &layers) ||
            !json_object_is_type(layers, json_type_array) ||
            json_object_array_length(layers) > IMG_MAX_LAYERS)
                return uvm_error_set(err, EINVAL, "manifest.json: entry without a Layers list");
        r = map_blob(ds, jget_str(ent, "Config"), digest, &size, err);
        if (r < 0)
                return r;
        man = json_object_new_object();
        json_object_object_add(man, "schemaVersion", json_object_new_int(2));
        json_object_object_add(
                man, "mediaType",
                json_object_new_string("application/vnd.oci.image.manifest.v1+json"));
        json_object_object_add(
                man, "config",
                descriptor("application/vnd.oci.image.config.v1+json", digest, size));
        jl = json_object_new_array();
        json_object_object_add(man, "layers", jl);
        for (size_t i = 0; r >= 0 && i < json_object_array_length(layers); i++) {
                r = map_blob(ds, json_object_get_string(json_object_array_get_idx(layers, i)),
                             digest, &size, err);
                if (r >= 0)
                        json_object_array_add(
                                jl,
                                descriptor("application/vnd.oci.image.layer.v1.tar", digest, size));
        }
        if (r >= 0 && json_object_object_get_ex(ent, "RepoTags", &tags_j) &&
            json_object_is_type(tags_j, json_type_array))
                for (size_t i = 0; r >= 0 && i < json_object_array_length(tags_j); i++) {
                        _cleanup_free_ char *n = archive_name(
                                json_object_get_string(json_object_array_get_idx(tags_j, i)));
                        if (n && img_idx_strv_add(&tags, n) < 0)
                                r = uvm_error_set(err, ENOMEM, "out of memory");
                }
        if (r >= 0) {
                text = json_object_to_json_string_ext(man, JSON_C_TO_STRING_PLAIN);
                r = img_ingest(s, text, strlen(text), NULL,
                               &(struct img_blob_source){.fetch = dir_fetch, .data = ds}, tags,
                               NULL, &id, err);
        }
        json_object_put(man);
        return r < 0 ? r : add_id(ids, id, err);
}

static int import_docker(struct img_store *s, const char *dir, char ***ids, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL;
        struct dir_source ds = {.dir = dir};
        json_object *top = NULL;
        size_t n;
        int r;

        if (asprintf(&path, "%s/manifest.json", dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = read_json(path, &top, err);
        if (r < 0)
                return r;
        n = json_object_is_type(top, json_type_array) ? json_object_array_length(top) : 0;
        if (n == 0 || n > IMPORT_MAX_IMAGES)
                r = uvm_error_set(err, EINVAL, "manifest.json: expected a list of 1 to %d images",
                                  IMPORT_MAX_IMAGES);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = import_docker_one(s, &ds, json_object_array_get_idx(top, i), ids, err);
        json_object_put(top);
        for (size_t i = 0; i < ds.n_map; i++) {
                free(ds.map[i].digest);
                free(ds.map[i].path);
        }
        free(ds.map);
        return r;
}

static int read_blob(const char *dir, const char *digest, char **ret, size_t *ret_len,
                     struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        char got[IMG_DIGEST_LEN + 1];
        size_t len;
        int r;

        if (asprintf(&path, "%s/blobs/sha256/%s", dir, digest + 7) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_read_file(path, IMG_MAX_JSON, &buf, &len);
        if (r < 0)
                return uvm_error_set(err, -r, "archive blob %s: %s", digest, strerror(-r));
        img_digest_buf(buf, len, got);
        if (strcmp(got, digest) != 0)
                return uvm_error_set(err, EBADMSG, "archive blob %s: content is %s", digest, got);
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* An OCI layout entry: a manifest, or an index resolved to linux/amd64. */
static int import_oci_one(struct img_store *s, struct dir_source *ds,
                          const struct img_descriptor *d, char ***ids, struct uvm_error **err)
{
        _cleanup_free_ char *body = NULL, *id = NULL, *name = archive_name(d->ref_name);
        const char *digest = d->digest;
        char *tags[2] = {name, NULL};
        struct img_index ix = {0};
        size_t len;
        int r, pick;

        r = read_blob(ds->dir, digest, &body, &len, err);
        if (r < 0)
                return r;
        r = img_manifest_sniff(body, len, d->media_type);
        if (r == IMG_MEDIA_OCI_INDEX || r == IMG_MEDIA_DOCKER_LIST) {
                r = img_index_parse(body, len, &ix, err);
                if (r < 0)
                        return r;
                pick = img_index_select(&ix, "linux", "amd64", NULL);
                free(TAKE_PTR(body));
                r = pick < 0 ? uvm_error_set(err, ENOENT, "no linux/amd64 image in %s", digest)
                             : read_blob(ds->dir, ix.manifests[pick].digest, &body, &len, err);
                digest = pick < 0 ? NULL : ix.manifests[pick].digest;
        }
        if (r >= 0)
                r = img_ingest(s, body, len, digest,
                               &(struct img_blob_source){.fetch = dir_fetch, .data = ds}, tags,
                               NULL, &id, err);
        img_index_clear(&ix);
        return r < 0 ? r : add_id(ids, id, err);
}

static int import_oci(struct img_store *s, const char *dir, char ***ids, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        struct dir_source ds = {.dir = dir};
        struct img_index ix = {0};
        size_t len;
        int r;

        if (asprintf(&path, "%s/index.json", dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_read_file(path, IMG_MAX_JSON, &buf, &len);
        if (r < 0)
                return uvm_error_set(err, -r, "archive has neither manifest.json nor index.json");
        r = img_index_parse(buf, len, &ix, err);
        if (r < 0)
                return uvm_error_wrap(err, "index.json");
        for (size_t i = 0; r >= 0 && i < ix.n_manifests; i++)
                r = import_oci_one(s, &ds, &ix.manifests[i], ids, err);
        img_index_clear(&ix);
        return r;
}

int img_import(struct img_store *s, const char *archive_path, char ***ret_ids,
               struct uvm_error **err)
{
        _cleanup_free_ char *dir = img_tmp_path(s, "import"), *docker = NULL;
        _cleanup_strv_ char **ids = calloc(1, sizeof(char *));
        int r;

        if (!dir || !ids || asprintf(&docker, "%s/manifest.json", dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        /* Counted as an ingest from the start: the extracted files live in
         * tmp/, which a starting uvmd empties only when no ingest runs. */
        img_ingest_begin(s);
        r = mkdir(dir, 0700) < 0 ? uvm_error_set(err, errno, "create %s: %m", dir) : 0;
        if (r >= 0)
                r = extract(archive_path, dir, err);
        /* docker save archives may carry an index.json too; manifest.json
         * is the one that names their tags. */
        if (r >= 0)
                r = access(docker, F_OK) == 0 ? import_docker(s, dir, &ids, err)
                                              : import_oci(s, dir, &ids, err);
        (void) fs_rm_rf(dir);
        img_ingest_end(s, r < 0);
        if (r < 0)
                return uvm_error_wrap(err, "import %s", archive_path);
        *ret_ids = TAKE_PTR(ids);
        return 0;
}
