/* Interfaces by MAC, waited for (link_wait.h). */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/link_wait.h"
#include "common/fs.h"
#include "common/macros.h"

static int read_index(const char *sys_net, const char *name)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        char *end;
        long v;

        if (asprintf(&path, "%s/%s/ifindex", sys_net, name) < 0 ||
            fs_read_file(path, 32, &text, NULL) < 0)
                return -ENODEV;
        v = strtol(text, &end, 10);
        return v > 0 && v < 1 << 30 && (*end == '\n' || *end == '\0') ? (int) v : -ENODEV;
}

int agent_link_by_mac(const char *sys_net, const char *mac, char *name, size_t len)
{
        DIR *d = opendir(sys_net);
        struct dirent *e;
        int r = -ENODEV;

        if (!d)
                return -ENODEV;
        while (r < 0 && (e = readdir(d))) {
                _cleanup_free_ char *path = NULL, *text = NULL;

                if (e->d_name[0] == '.' ||
                    asprintf(&path, "%s/%s/address", sys_net, e->d_name) < 0 ||
                    fs_read_file(path, 64, &text, NULL) < 0 || strncasecmp(text, mac, 17) != 0)
                        continue;
                r = read_index(sys_net, e->d_name);
                if (r >= 0)
                        snprintf(name, len, "%s", e->d_name);
        }
        closedir(d);
        return r;
}

static int64_t now_ms(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (int64_t) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int agent_link_wait(const char *sys_net, const char *mac, const char *from, int64_t wait_ms,
                    char *name, size_t len, bool *ret_from)
{
        const struct timespec poll = {0, AGENT_LINK_POLL_MS * 1000000L};
        int64_t deadline =
                now_ms() + (wait_ms < AGENT_LINK_MAX_WAIT_MS ? wait_ms : AGENT_LINK_MAX_WAIT_MS);
        int index;

        for (;;) {
                *ret_from = false;
                index = agent_link_by_mac(sys_net, mac, name, len);
                if (index < 0 && from) {
                        index = agent_link_by_mac(sys_net, from, name, len);
                        *ret_from = index >= 0;
                }
                if (index >= 0 || now_ms() >= deadline)
                        return index;
                nanosleep(&poll, NULL);
        }
}
