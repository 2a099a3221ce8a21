/* Layers as read-only disk images, for VM pods (hcsshim's LCOW layer
 * model): <root>/disks/<chain hex>.erofs, made by mkfs.erofs from the
 * unpacked layer the first time a VM pod needs it. The disk belongs to its
 * layer: garbage collection removes it with the last image using the layer
 * (store.c), and ImageFsInfo counts it (it is under the store root).
 *
 * Same layer, same bytes: a fixed timestamp and a UUID taken from the chain
 * id. Two pods asking at once both build and the second rename wins with
 * identical content; a running VM keeps the file it opened either way. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/macros.h"
#include "common/run.h"
#include "image/store-internal.h"

#define MKFS_TIMEOUT_MS (10u * 60 * 1000)
#define HEX_LEN 64

static const char *mkfs_binary(void)
{
        static const char *const paths[] = {"/usr/bin/mkfs.erofs", "/usr/sbin/mkfs.erofs",
                                            "/sbin/mkfs.erofs", "/bin/mkfs.erofs"};

        for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
                if (access(paths[i], X_OK) == 0)
                        return paths[i];
        return NULL;
}

/* The chain hex of a layer directory of this store, or NULL. */
static const char *layer_hex(struct img_store *s, const char *layer_dir)
{
        size_t n = strlen(s->root);
        const char *hex;

        if (strncmp(layer_dir, s->root, n) != 0 || strncmp(layer_dir + n, "/layers/", 8) != 0)
                return NULL;
        hex = layer_dir + n + 8;
        if (strlen(hex) != HEX_LEN || strspn(hex, "0123456789abcdef") != HEX_LEN)
                return NULL;
        return hex;
}

static int build(struct img_store *s, const char *layer_dir, const char *hex, const char *dest,
                 struct uvm_error **err)
{
        _cleanup_free_ char *tmp = img_tmp_path(s, "disk"), *out = NULL;
        char uuid[40], tflag[] = "-T0";
        const char *mkfs = mkfs_binary();
        int status = 0, r;

        if (!mkfs)
                return uvm_error_set(err, ENOENT,
                                     "mkfs.erofs is not installed (Debian package erofs-utils): "
                                     "VM pods need it for image layers");
        if (!tmp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        /* A UUID from the chain id: 8-4-4-4-12 hex digits. */
        snprintf(uuid, sizeof(uuid), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
                 hex + 20);
        {
                char uflag[48];
                char *argv[] = {(char *) mkfs,      tflag, uflag, "--quiet", tmp,
                                (char *) layer_dir, NULL};

                snprintf(uflag, sizeof(uflag), "-U%s", uuid);
                r = run_capture(argv, MKFS_TIMEOUT_MS, 4096, &out, &status);
        }
        if (r < 0 || status != 0) {
                (void) unlink(tmp);
                return uvm_error_set(err, r < 0 ? -r : EIO,
                                     "make the disk image of layer %.12s: %s %s", hex, mkfs,
                                     r < 0 ? strerror(-r) : "failed (exit status)");
        }
        if (rename(tmp, dest) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return uvm_error_set(err, -r, "rename %s: %s", dest, strerror(-r));
        }
        return 0;
}

int img_layer_disk(struct img_store *s, const char *layer_dir, char **ret_path,
                   struct uvm_error **err)
{
        _cleanup_free_ char *dir = NULL, *dest = NULL;
        const char *hex = layer_hex(s, layer_dir);
        int r;

        if (!hex)
                return uvm_error_set(err, EINVAL, "'%s' is not a layer of the image store",
                                     layer_dir);
        if (asprintf(&dir, "%s/disks", s->root) < 0 || asprintf(&dest, "%s/%s.erofs", dir, hex) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (access(dest, R_OK) == 0) {
                *ret_path = TAKE_PTR(dest);
                return 0;
        }
        r = fs_mkdir_p(dir, 0700);
        if (r < 0)
                return uvm_error_set(err, -r, "create %s: %s", dir, strerror(-r));
        /* Collection waits while the disk is made (it would not know it). */
        img_ingest_begin(s);
        r = build(s, layer_dir, hex, dest, err);
        img_ingest_end(s, r < 0);
        if (r < 0)
                return r;
        *ret_path = TAKE_PTR(dest);
        return 0;
}
