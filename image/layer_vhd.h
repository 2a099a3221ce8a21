#pragma once

/*
 * One image layer blob to a read-only disk for an hcs pod: the compressed
 * blob streamed through gunzip into the erofs writer (erofs_write.h), a
 * fixed VHD footer after it (vhd.h), both digests checked on the way (the
 * blob's, and the uncompressed tar's against the config's diff id). Nothing
 * is unpacked: NTFS never sees the layer's files. Portable (zlib, ISO C).
 */

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "image/digest.h"
#include "image/erofs_tar.h"
#include "image/erofs_write.h"

struct img_layer_vhd_want {
        const char *blob_digest; /* the compressed blob's, or NULL */
        const char *diff_id;     /* the uncompressed tar's, or NULL */
        bool gzip;               /* tar+gzip; else a plain tar */
        uint8_t uuid[16];        /* the erofs volume's */
};

struct img_layer_vhd_stats {
        char blob_digest[IMG_DIGEST_LEN + 1];
        char diff_id[IMG_DIGEST_LEN + 1];
        uint64_t blob_bytes, tar_bytes, file_bytes; /* file_bytes: image + footer */
};

/* Read the blob from src, write the VHD to out. -EBADMSG when a digest does
 * not match or the gzip stream is damaged or cut short; the erofs writer's
 * errors otherwise. */
int img_layer_vhd(const struct img_tar_source *src, const struct img_layer_vhd_want *want,
                  const struct img_erofs_sink *out, struct img_layer_vhd_stats *ret_stats,
                  struct uvm_error **err);
