/* erofs_convert [--vhd] [--tail-budget N] [--max-entries N] OUT < layer.tar
 * Writes the layer's erofs image (and a fixed VHD footer with --vhd) to
 * OUT and prints one JSON line of figures; on failure the error and exit
 * status 1 (2 for bad usage). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#endif

#include "common/error.h"
#include "image/erofs_write.h"
#include "image/vhd.h"

static int usage(void)
{
        fprintf(stderr, "usage: erofs_convert [--vhd] [--tail-budget N] [--max-entries N] OUT "
                        "< layer.tar\n");
        return 2;
}

int main(int argc, char **argv)
{
        struct img_erofs_opts opts = {.uuid = {0x75, 0x76, 0x6d, 0x64}};
        struct img_erofs_stats st;
        struct uvm_error *err = NULL;
        struct img_tar_source src = img_erofs_file_source(stdin);
        struct img_erofs_sink sink;
        const char *out = NULL;
        uint64_t size;
        int vhd = 0, r;
        clock_t t0 = clock();
        FILE *f;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--vhd") == 0)
                        vhd = 1;
                else if (strcmp(argv[i], "--tail-budget") == 0 && i + 1 < argc)
                        opts.tail_budget = strtoull(argv[++i], NULL, 10);
                else if (strcmp(argv[i], "--max-entries") == 0 && i + 1 < argc)
                        opts.max_entries = (uint32_t) strtoul(argv[++i], NULL, 10);
                else if (!out && argv[i][0] != '-')
                        out = argv[i];
                else
                        return usage();
        }
        if (!out)
                return usage();
#ifdef _WIN32
        _setmode(_fileno(stdin), _O_BINARY); /* a tar is not text */
#endif
        f = fopen(out, "wb");
        if (!f) {
                perror(out);
                return 1;
        }
        sink = img_erofs_file_sink(f);
        r = img_erofs_from_tar(&src, &sink, &opts, &st, &err);
        size = st.image_bytes;
        if (r >= 0 && vhd)
                r = img_vhd_append(&sink, st.image_bytes, &size, &err);
        if (fclose(f) != 0 && r >= 0)
                r = uvm_error_set(&err, EIO, "close %s", out);
        if (r < 0) {
                fprintf(stderr, "erofs_convert: %s\n", err && err->msg ? err->msg : "failed");
                uvm_error_free(err);
                return 1;
        }
        printf("{\"image_bytes\": %llu, \"file_bytes\": %llu, \"tar_bytes\": %llu, "
               "\"inodes\": %llu, \"data_blocks\": %llu, \"cpu_s\": %.6f}\n",
               (unsigned long long) st.image_bytes, (unsigned long long) size,
               (unsigned long long) st.tar_bytes, (unsigned long long) st.inodes,
               (unsigned long long) st.data_blocks, (double) (clock() - t0) / CLOCKS_PER_SEC);
        return 0;
}
