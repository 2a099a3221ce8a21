/* img_win_layer_disks (store_win.h): the path contract between the
 * Windows store and the hcs driver. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "common/platform.h"
#include "image/store_index.h"
#include "image/store_win.h"

#ifdef _WIN32
#define SEP "\\"
#else
#define SEP "/"
#endif

int img_win_layer_disks(const char *images_root, const char *ref, char ***ret_paths,
                        struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        struct img_idx_rec *list = NULL, *rec;
        char **v = NULL;
        int r;

        if (asprintf(&path, "%s" SEP "images.json", images_root) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_read_file(path, IMG_IDX_MAX_BYTES, &text, NULL);
        if (r == -ENOENT)
                return uvm_error_set(err, ENOENT, "image \"%s\" not found", ref);
        if (r < 0)
                return uvm_error_set(err, -r, "read %s: %s", path, strerror(-r));
        r = img_idx_parse(text, &list, err);
        if (r < 0)
                return uvm_error_wrap(err, "%s", path);
        rec = img_idx_lookup(list, ref);
        if (!rec)
                r = uvm_error_set(err, ENOENT, "image \"%s\" not found", ref);
        else if (!(v = calloc(rec->n_layers + 1, sizeof(char *))))
                r = uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; r >= 0 && i < rec->n_layers; i++)
                if (asprintf(&v[i], "%s" SEP "disks" SEP "%s.vhd", images_root,
                             rec->layers[i].chain + 7) < 0) {
                        v[i] = NULL;
                        r = uvm_error_set(err, ENOMEM, "out of memory");
                }
        img_idx_free(list);
        if (r < 0) {
                strv_free(v);
                return r;
        }
        *ret_paths = v;
        return 0;
}
