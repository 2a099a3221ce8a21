/* The node's device nodes, for privileged containers (containerd gives
 * them all the host's devices too). */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/macros.h"
#include "sandbox/spec.h"

#define MAX_DEVICES 1024

/* What the runtime sets up itself, or what is per container. */
static bool skipped(const char *path)
{
        static const char *const skip[] = {"/dev/pts",     "/dev/shm",  "/dev/mqueue", "/dev/fd",
                                           "/dev/console", "/dev/ptmx", "/dev/tty"};

        for (size_t i = 0; i < ARRAY_SIZE(skip); i++)
                if (STR_EQ(path, skip[i]))
                        return true;
        return false;
}

static void walk(const char *dir, int depth, struct spec_device *v, size_t *n)
{
        DIR *d = opendir(dir);
        struct dirent *e;

        while (d && (e = readdir(d)) && *n < MAX_DEVICES) {
                char path[sizeof(v->path)];
                struct stat st;

                if (e->d_name[0] == '.' ||
                    (size_t) snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >=
                            sizeof(path) ||
                    skipped(path) || lstat(path, &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode) && depth < 3)
                        walk(path, depth + 1, v, n);
                if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
                        continue;
                v[*n] = (struct spec_device){.type = S_ISCHR(st.st_mode) ? 'c' : 'b',
                                             .major = major(st.st_rdev),
                                             .minor = minor(st.st_rdev),
                                             .mode = st.st_mode & 0777};
                memcpy(v[*n].path, path, sizeof(path));
                (*n)++;
        }
        if (d)
                closedir(d);
}

int spec_host_devices(struct spec_device **ret, size_t *ret_n)
{
        struct spec_device *v = calloc(MAX_DEVICES, sizeof(*v));
        size_t n = 0;

        if (!v)
                return -ENOMEM;
        walk("/dev", 0, v, &n);
        *ret = v;
        *ret_n = n;
        return 0;
}
