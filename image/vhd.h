#pragma once

/*
 * Fixed VHDs: a raw disk image followed by the 512-byte footer of the VHD
 * format ("conectix", big-endian fields, one's-complement checksum). HCS
 * attaches a layer to a utility VM's SCSI controller only as a .vhd(x); a
 * fixed VHD is the erofs image as it is plus this footer, so the same file
 * serves both. Portable.
 */

#include <stdint.h>

#include "common/error.h"
#include "image/erofs_write.h"

#define IMG_VHD_FOOTER 512
#define IMG_VHD_MAX_SIZE (2040ull << 30) /* the format's limit for fixed disks */

/* The footer of a fixed disk of size bytes (a multiple of 512) into
 * ret_footer. timestamp: seconds since 2000-01-01 00:00:00 UTC. */
int img_vhd_footer(uint64_t size, const uint8_t unique_id[16], uint32_t timestamp,
                   unsigned char ret_footer[IMG_VHD_FOOTER], struct uvm_error **err);

/* Cylinders, heads and sectors per track for a disk of size bytes, by the
 * format's rule. */
void img_vhd_geometry(uint64_t size, uint16_t *ret_cylinders, uint8_t *ret_heads,
                      uint8_t *ret_sectors);

/* Pad the image of size bytes out to 512 and append a footer with a random
 * unique id and the current time; *ret_size is the file's new size. */
int img_vhd_append(const struct img_erofs_sink *out, uint64_t size, uint64_t *ret_size,
                   struct uvm_error **err);

/* A blank fixed VHD of size bytes (a multiple of 512) at path, replacing
 * any file there: its data a hole (sparse: FSCTL_SET_SPARSE on Windows,
 * a file system's holes elsewhere), then the footer. An hcs pod
 * container's scratch disk. */
int img_vhd_create_sparse(const char *path, uint64_t size, struct uvm_error **err);
