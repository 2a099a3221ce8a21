/* The Linux side of common/platform.h. The file helpers are the ones of
 * common/fs.c, so there is one implementation of each on Linux. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/macros.h"
#include "common/platform.h"

static uint64_t clock_ns(clockid_t id)
{
        struct timespec ts;

        /* Cannot fail for these clocks with a valid pointer. */
        clock_gettime(id, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

uint64_t plat_now_ns(void)
{
        return clock_ns(CLOCK_MONOTONIC);
}

uint64_t plat_realtime_ns(void)
{
        return clock_ns(CLOCK_REALTIME);
}

int plat_random(void *buf, size_t n)
{
        unsigned char *p = buf;

        /* getrandom() may return short counts above 256 bytes or on a
         * signal: loop until all is filled. */
        while (n > 0) {
                ssize_t got = getrandom(p, n, 0);

                if (got < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += got;
                n -= (size_t) got;
        }
        return 0;
}

unsigned plat_host_cpus(void)
{
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        return n > 0 ? (unsigned) n : 1;
}

int plat_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
        if (STR_EMPTY(path) || (!data && len > 0))
                return -EINVAL;
        return fs_write_atomic(path, data, len, mode);
}

int plat_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
        if (STR_EMPTY(path) || !ret_buf)
                return -EINVAL;
        return fs_read_file(path, max, ret_buf, ret_len);
}

int plat_fopen_read(const char *path, FILE **ret_file)
{
        /* O_NONBLOCK: a FIFO must not block the open; regular files ignore
         * it. */
        _cleanup_close_ int fd = -1;
        struct stat st;
        FILE *f;

        if (STR_EMPTY(path) || !ret_file)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        f = fdopen(fd, "rb");
        if (!f)
                return -errno;
        fd = -1; /* owned by f now */
        *ret_file = f;
        return 0;
}

int plat_mkdir_p(const char *path, mode_t mode)
{
        return fs_mkdir_p(path, mode);
}

int plat_dir_each(const char *dir, void (*fn)(void *data, const char *name, bool is_dir),
                  void *data)
{
        struct dirent *e;
        DIR *d = opendir(dir);

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((e = readdir(d))) {
                struct stat st;
                bool is_dir = e->d_type == DT_DIR;

                if (e->d_name[0] == '.')
                        continue;
                if (e->d_type == DT_UNKNOWN)
                        is_dir = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                                 S_ISDIR(st.st_mode);
                fn(data, e->d_name, is_dir);
        }
        closedir(d);
        return 0;
}

int plat_rm_rf(const char *path)
{
        if (STR_EMPTY(path))
                return -EINVAL;
        return fs_rm_rf(path);
}

int plat_mkdtemp(const char *prefix, char **ret_path)
{
        const char *dir = getenv("TMPDIR");
        _cleanup_free_ char *path = NULL;

        if (!prefix || strchr(prefix, '/'))
                return -EINVAL;
        if (STR_EMPTY(dir))
                dir = "/tmp";
        if (asprintf(&path, "%s/%sXXXXXX", dir, prefix) < 0)
                return -ENOMEM;
        if (!mkdtemp(path))
                return -errno;
        *ret_path = TAKE_PTR(path);
        return 0;
}
