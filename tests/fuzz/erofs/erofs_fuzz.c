/* libFuzzer harness: arbitrary bytes as a layer tar through the erofs
 * writer (image/erofs_write.h) into a sink that checks every write stays
 * inside the image the writer reports. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "image/erofs_write.h"

struct src {
        const uint8_t *p;
        size_t len, off;
};

static int src_read(void *ctx, void *buf, size_t n, size_t *ret_n)
{
        struct src *s = ctx;
        size_t k = s->len - s->off < n ? s->len - s->off : n;

        memcpy(buf, s->p + s->off, k);
        s->off += k;
        *ret_n = k;
        return 0;
}

static uint64_t high;

static int sink_write(void *ctx, const void *buf, size_t n, uint64_t off)
{
        (void) ctx;
        (void) buf;
        if (off % 4096 || n % 4096)
                abort(); /* the writer writes whole blocks */
        if (off + n > high)
                high = off + n;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct src s = {data, size, 0};
        struct img_tar_source in = {src_read, &s};
        struct img_erofs_sink out = {sink_write, NULL};
        struct img_erofs_opts opts = {.max_entries = 4096};
        struct img_erofs_stats st;
        struct uvm_error *err = NULL;
        int r;

        high = 0;
        r = img_erofs_from_tar(&in, &out, &opts, &st, &err);
        if (r == 0 && (err || st.image_bytes != high || st.tar_bytes != size))
                abort();
        if (r < 0 && (!err || !err->msg || uvm_error_code(err) != r))
                abort();
        uvm_error_free(err);
        return 0;
}
