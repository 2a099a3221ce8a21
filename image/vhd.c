/* The fixed VHD footer (vhd.h), by the format's published layout: cookie,
 * features, version, data offset (none for a fixed disk), timestamp,
 * creator, sizes, CHS geometry, disk type 2, checksum, unique id. */

#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/platform.h"
#include "image/vhd.h"

#define SECTOR 512
#define UNIX_TO_VHD_EPOCH 946684800ull /* 2000-01-01T00:00:00Z */
#define DISK_FIXED 2
#define FEATURES_RESERVED 2       /* always set */
#define FORMAT_VERSION 0x00010000 /* 1.0 */
#define CREATOR_VERSION 0x00010000
#define HOST_WINDOWS 0x5769326bu /* "Wi2k" */

static void be16(unsigned char *p, uint16_t v)
{
        p[0] = (unsigned char) (v >> 8);
        p[1] = (unsigned char) v;
}

static void be32(unsigned char *p, uint32_t v)
{
        be16(p, (uint16_t) (v >> 16));
        be16(p + 2, (uint16_t) v);
}

static void be64(unsigned char *p, uint64_t v)
{
        be32(p, (uint32_t) (v >> 32));
        be32(p + 4, (uint32_t) v);
}

void img_vhd_geometry(uint64_t size, uint16_t *ret_cylinders, uint8_t *ret_heads,
                      uint8_t *ret_sectors)
{
        uint64_t total = size / SECTOR, cth;
        uint32_t spt, heads;

        if (total > 65535ull * 16 * 255)
                total = 65535ull * 16 * 255;
        if (total >= 65535ull * 16 * 63) {
                spt = 255;
                heads = 16;
                cth = total / spt;
        } else {
                spt = 17;
                cth = total / spt;
                heads = (uint32_t) ((cth + 1023) / 1024);
                if (heads < 4)
                        heads = 4;
                if (cth >= heads * 1024ull || heads > 16) {
                        spt = 31;
                        heads = 16;
                        cth = total / spt;
                }
                if (cth >= heads * 1024ull) {
                        spt = 63;
                        heads = 16;
                        cth = total / spt;
                }
        }
        *ret_cylinders = (uint16_t) (cth / heads);
        *ret_heads = (uint8_t) heads;
        *ret_sectors = (uint8_t) spt;
}

int img_vhd_footer(uint64_t size, const uint8_t unique_id[16], uint32_t timestamp,
                   unsigned char ret_footer[IMG_VHD_FOOTER], struct uvm_error **err)
{
        unsigned char *f = ret_footer;
        uint32_t sum = 0;
        uint16_t cyl;
        uint8_t heads, spt;

        if (size == 0 || size % SECTOR)
                return uvm_error_set(err, EINVAL,
                                     "a VHD of %llu bytes: not a whole number of "
                                     "sectors",
                                     (unsigned long long) size);
        if (size > IMG_VHD_MAX_SIZE)
                return uvm_error_set(err, EFBIG,
                                     "a fixed VHD of %llu bytes is over the format's "
                                     "limit",
                                     (unsigned long long) size);
        memset(f, 0, IMG_VHD_FOOTER);
        memcpy(f, "conectix", 8);
        be32(f + 8, FEATURES_RESERVED);
        be32(f + 12, FORMAT_VERSION);
        be64(f + 16, UINT64_MAX); /* no dynamic header */
        be32(f + 24, timestamp);
        memcpy(f + 28, "uvmd", 4);
        be32(f + 32, CREATOR_VERSION);
        be32(f + 36, HOST_WINDOWS);
        be64(f + 40, size);
        be64(f + 48, size);
        img_vhd_geometry(size, &cyl, &heads, &spt);
        be16(f + 56, cyl);
        f[58] = heads;
        f[59] = spt;
        be32(f + 60, DISK_FIXED);
        memcpy(f + 68, unique_id, 16);
        for (size_t i = 0; i < IMG_VHD_FOOTER; i++)
                sum += f[i];
        be32(f + 64, ~sum);
        return 0;
}

int img_vhd_append(const struct img_erofs_sink *out, uint64_t size, uint64_t *ret_size,
                   struct uvm_error **err)
{
        unsigned char footer[IMG_VHD_FOOTER], pad[SECTOR] = {0};
        uint64_t padded = (size + SECTOR - 1) / SECTOR * SECTOR;
        uint64_t now = plat_realtime_ns() / 1000000000u;
        uint8_t id[16];
        int r = plat_random(id, sizeof(id));

        if (r < 0)
                return uvm_error_set(err, -r, "random VHD id: %s", strerror(-r));
        r = img_vhd_footer(padded, id,
                           (uint32_t) (now > UNIX_TO_VHD_EPOCH ? now - UNIX_TO_VHD_EPOCH : 0),
                           footer, err);
        if (r < 0)
                return r;
        if (padded > size) {
                r = out->pwrite(out->ctx, pad, (size_t) (padded - size), size);
                if (r < 0)
                        return uvm_error_set(err, -r, "pad the VHD: %s", strerror(-r));
        }
        r = out->pwrite(out->ctx, footer, sizeof(footer), padded);
        if (r < 0)
                return uvm_error_set(err, -r, "write the VHD footer: %s", strerror(-r));
        *ret_size = padded + IMG_VHD_FOOTER;
        return 0;
}
