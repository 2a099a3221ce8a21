/* registry-plat.h on Linux. */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "image/registry-plat.h"

struct reg_file {
        int fd;
};

int reg_file_create(const char *path, struct reg_file **ret)
{
        struct reg_file *f = malloc(sizeof(*f));

        if (!f)
                return -ENOMEM;
        f->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (f->fd < 0) {
                int r = -errno;

                free(f);
                return r;
        }
        *ret = f;
        return 0;
}

int reg_file_write(struct reg_file *f, const void *data, size_t n)
{
        const char *p = data;

        while (n > 0) {
                ssize_t w = write(f->fd, p, n);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                p += w;
                n -= (size_t) w;
        }
        return 0;
}

int reg_file_truncate(struct reg_file *f)
{
        if (ftruncate(f->fd, 0) < 0 || lseek(f->fd, 0, SEEK_SET) < 0)
                return -errno;
        return 0;
}

int reg_file_sync(struct reg_file *f)
{
        return fsync(f->fd) < 0 ? -errno : 0;
}

int reg_file_close(struct reg_file *f)
{
        int r = 0;

        if (!f)
                return 0;
        if (close(f->fd) < 0)
                r = -errno;
        free(f);
        return r;
}

int reg_file_remove(const char *path)
{
        return unlink(path) < 0 ? -errno : 0;
}

void reg_sleep_ms(unsigned ms)
{
        struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}
