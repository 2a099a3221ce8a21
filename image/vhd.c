/* The fixed VHD footer (vhd.h), by the format's published layout: cookie,
 * features, version, data offset (none for a fixed disk), timestamp,
 * creator, sizes, CHS geometry, disk type 2, checksum, unique id. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#include <winioctl.h>
#else
#include <fcntl.h>
#include <unistd.h>
#endif

#include "common/error.h"
#include "common/macros.h"
#include "common/platform.h"
#include "common/utf16.h"
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

/* The file, empty and (where the file system needs telling) sparse, and
 * a pwrite sink on it. */
#ifdef _WIN32
static int sparse_pwrite(void *ctx, const void *buf, size_t len, uint64_t off)
{
        OVERLAPPED o = {.Offset = (DWORD) off, .OffsetHigh = (DWORD) (off >> 32)};
        DWORD n = 0;

        if (!WriteFile((HANDLE) ctx, buf, (DWORD) len, &n, &o))
                return -plat_errno_from_win32(GetLastError());
        return n == len ? 0 : -EIO;
}

int img_vhd_create_sparse(const char *path, uint64_t size, struct uvm_error **err)
{
        _cleanup_free_ wchar_t *w = NULL;
        struct img_erofs_sink sink = {.pwrite = sparse_pwrite};
        LARGE_INTEGER end = {.QuadPart = (LONGLONG) size};
        uint64_t total;
        DWORD n;
        HANDLE h;
        int r;

        if (size == 0 || size % SECTOR || size > IMG_VHD_MAX_SIZE)
                return uvm_error_set(err, EINVAL, "VHD size %llu: a multiple of 512 up to %llu",
                                     (unsigned long long) size, IMG_VHD_MAX_SIZE);
        r = utf8_to_wide(path, 32767 * 3, &w);
        if (r < 0)
                return uvm_error_set(err, -r, "%s: %s", path, strerror(-r));
        h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                        FILE_ATTRIBUTE_NORMAL, NULL);
        if (h == INVALID_HANDLE_VALUE) {
                r = -plat_errno_from_win32(GetLastError());
                return uvm_error_set(err, -r, "create %s: %s", path, strerror(-r));
        }
        /* Not sparse (a file system without it) is still a valid disk:
         * only its space is taken up front. */
        (void) DeviceIoControl(h, FSCTL_SET_SPARSE, NULL, 0, NULL, 0, &n, NULL);
        sink.ctx = h;
        if (!SetFilePointerEx(h, end, NULL, FILE_BEGIN) || !SetEndOfFile(h)) {
                r = -plat_errno_from_win32(GetLastError());
                r = uvm_error_set(err, -r, "size %s: %s", path, strerror(-r));
        } else {
                r = img_vhd_append(&sink, size, &total, err);
        }
        CloseHandle(h);
        return r;
}
#else
static int sparse_pwrite(void *ctx, const void *buf, size_t len, uint64_t off)
{
        ssize_t n = pwrite(*(int *) ctx, buf, len, (off_t) off);

        return n < 0 ? -errno : (size_t) n != len ? -EIO : 0;
}

int img_vhd_create_sparse(const char *path, uint64_t size, struct uvm_error **err)
{
        struct img_erofs_sink sink = {.pwrite = sparse_pwrite};
        uint64_t total;
        int fd, r;

        if (size == 0 || size % SECTOR || size > IMG_VHD_MAX_SIZE)
                return uvm_error_set(err, EINVAL, "VHD size %llu: a multiple of 512 up to %llu",
                                     (unsigned long long) size, IMG_VHD_MAX_SIZE);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return uvm_error_set(err, errno, "create %s: %m", path);
        sink.ctx = &fd;
        /* The footer past the end leaves the data a hole. */
        r = img_vhd_append(&sink, size, &total, err);
        if (close(fd) < 0 && r >= 0)
                r = uvm_error_set(err, errno, "close %s: %m", path);
        return r;
}
#endif
