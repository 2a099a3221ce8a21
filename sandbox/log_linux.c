/* The CRI log's file on Linux (log-plat.h). */

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "sandbox/log-plat.h"

int crilog_plat_open(const char *path, intptr_t *ret_file)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);

        if (fd < 0)
                return -errno;
        *ret_file = fd;
        return 0;
}

int crilog_plat_write(intptr_t file, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t w = write((int) file, p, len);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                p += w;
                len -= (size_t) w;
        }
        return 0;
}

void crilog_plat_close(intptr_t file)
{
        close((int) file);
}
