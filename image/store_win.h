#pragma once

/*
 * The Windows image store (store_win.c, pull_win.c) serves image.h's calls
 * for uvmd.exe: PullImage, ImageStatus, ListImages, RemoveImage and
 * ImageFsInfo. Layout under <data root>\images:
 *
 *   images.json                 the records (store_index.h), written atomically
 *   blobs\sha256\<hex>          manifests and configs, by digest
 *   disks\<chain id hex>.vhd    each layer as a read-only erofs disk with a
 *                               fixed VHD footer (layer_vhd.h), made at pull
 *                               time; the hcs driver attaches these
 *   tmp\                        pulls in progress (emptied at start)
 *
 * Layer blobs are not kept: once a layer's disk exists its blob has no use
 * on a Windows host, which never unpacks Linux layers onto NTFS.
 */

#include "common/error.h"

/* The disks of an image's layers, lowest first (NULL-terminated,
 * "<images_root>\disks\<chain id hex>.vhd"), for the hcs driver to attach:
 * the image by id, id prefix, tag or digest, as ImageStatus takes it.
 * Reads images.json only; -ENOENT for an image not in the store. Portable
 * (store_win_disks.c), so Linux unit tests run it too. */
int img_win_layer_disks(const char *images_root, const char *ref, char ***ret_paths,
                        struct uvm_error **err);
