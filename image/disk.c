/* Layers as read-only disk images, for VM pods (hcsshim's LCOW layer
 * model): <root>/disks/<chain hex>.erofs, made by mkfs.erofs from the
 * unpacked layer the first time a VM pod needs it. The disk belongs to its
 * layer: garbage collection removes it with the last image using the layer
 * (store.c), and ImageFsInfo counts it (it is under the store root).
 *
 * Files keep their mtimes, as in an ns pod. That costs byte-for-byte
 * reproducibility: erofs-utils 1.5 fixes the build time only by setting
 * every file's mtime to it (-T, SOURCE_DATE_EPOCH), and a node-local cache
 * does not need the same bytes twice. Two pods asking at once both build
 * and the second rename wins; a running VM keeps the file it opened. The
 * disk is synced before it takes its name: a name always means a whole
 * disk. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/macros.h"
#include "common/run.h"
#include "image/store-internal.h"

#define MKFS_TIMEOUT_MS (10u * 60 * 1000)
#define HEX_LEN 64

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

/* fsync of a file or directory by path; 0 or -errno. */
static int sync_path(const char *path)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

static int build(struct img_store *s, const char *layer_dir, const char *hex, const char *dest,
                 struct uvm_error **err)
{
        _cleanup_free_ char *tmp = img_tmp_path(s, "disk"), *out = NULL;
        char uuid[48], keep[] = "--preserve-mtime", quiet[] = "--quiet", mkfs[64];
        char *argv[] = {mkfs, keep, uuid, quiet, tmp, (char *) layer_dir, NULL};
        int status = 0, r;
        struct stat st;

        if (fs_find_tool("mkfs.erofs", mkfs, sizeof(mkfs)) < 0)
                return uvm_error_set(err, ENOENT,
                                     "mkfs.erofs is not installed (Debian package erofs-utils): "
                                     "VM pods need it for image layers");
        if (!tmp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (stat(layer_dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return uvm_error_set(err, ENOENT, "layer %.12s is not in the image store (%s)", hex,
                                     layer_dir);
        /* A UUID from the chain id: 8-4-4-4-12 hex digits. */
        snprintf(uuid, sizeof(uuid), "-U%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
                 hex + 16, hex + 20);
        r = run_capture(argv, MKFS_TIMEOUT_MS, 4096, &out, &status);
        if (r < 0 || status != 0) {
                (void) unlink(tmp);
                if (r < 0)
                        return uvm_error_set(err, -r, "make the disk image of layer %.12s: %s: %s",
                                             hex, argv[0], strerror(-r));
                return uvm_error_set(err, EIO,
                                     "make the disk image of layer %.12s: %s exited with %d", hex,
                                     argv[0], status);
        }
        r = sync_path(tmp);
        if (r >= 0 && rename(tmp, dest) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return uvm_error_set(err, -r, "store %s: %s", dest, strerror(-r));
        }
        (void) sync_path(s->disk_dir);
        return 0;
}

const char *img_layer_disk_dir(struct img_store *s)
{
        return s->disk_dir;
}

int img_layer_disk(struct img_store *s, const char *layer_dir, char **ret_path,
                   struct uvm_error **err)
{
        _cleanup_free_ char *dest = NULL;
        const char *hex = layer_hex(s, layer_dir), *dir = s->disk_dir;
        int r;

        if (!hex)
                return uvm_error_set(err, EINVAL, "'%s' is not a layer of the image store",
                                     layer_dir);
        if (asprintf(&dest, "%s/%s.erofs", dir, hex) < 0)
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
