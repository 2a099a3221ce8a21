#pragma once

/*
 * Layer unpack (libarchive). A layer blob (tar, tar+gzip or tar+zstd,
 * detected from its content) is extracted into an empty directory in one
 * pass, hashing the uncompressed stream to give its diff id. OCI whiteouts
 * become overlayfs ones: ".wh.NAME" a 0/0 character device NAME,
 * ".wh..wh..opq" the xattr trusted.overlay.opaque=y on its directory.
 * Hard links, symlinks, device nodes, modes, ownership, mtimes and xattrs are
 * kept. An entry whose path, or hard link target, would leave the directory
 * (absolute, "..", through a symlink) is refused with -EPERM and the whole
 * unpack fails.
 */

#include "common/error.h"
#include "image/digest.h"

int img_unpack_layer(const char *blob_path, const char *dir, char ret_diff_id[IMG_DIGEST_LEN + 1],
                     struct uvm_error **err);
