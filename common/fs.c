#include <dirent.h>
#include <ftw.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/macros.h"

static int write_all(int fd, const void *data, size_t len)
{
        const char *p = data;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static int fsync_parent(const char *path)
{
        _cleanup_free_ char *dir = strdup(path);
        _cleanup_close_ int fd = -1;
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (!slash)
                return 0;
        if (slash == dir)
                slash[1] = '\0';
        else
                *slash = '\0';
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return fsync(fd) < 0 ? -errno : 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        if (asprintf(&tmp, "%s.tmp.%d", path, (int) gettid()) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        r = write_all(fd, data, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        return fsync_parent(path);
}

int fs_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 4096;

        if (fd < 0)
                return -errno;
        buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (len == cap) {
                        char *nb;
                        if (cap > max)
                                return -EFBIG;
                        cap *= 2;
                        nb = realloc(buf, cap + 1);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = '\0';
        *ret_buf = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int fs_mkdir_p(const char *path, mode_t mode)
{
        char buf[PATH_MAX];
        struct stat st;
        size_t n = path ? strlen(path) : 0;

        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, path, n + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) == 0)
                return 0;
        if (errno != EEXIST)
                return -errno;
        /* Something is there already: fine only if it is a directory. */
        if (stat(buf, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return 0;
        errno = ENOTDIR; /* for callers that report errno */
        return -ENOTDIR;
}

/* Which mount an entry is on: the mount id where the kernel says (a bind
 * mount of a directory of the same filesystem has the same st_dev), else
 * the device. */
static uint64_t mount_key(int parent, const char *name, struct stat *st)
{
        struct statx sx;

        if (statx(parent, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MNT_ID, &sx) == 0 &&
            (sx.stx_mask & STATX_MNT_ID))
                return sx.stx_mnt_id | (1ull << 63);
        return (uint64_t) st->st_dev;
}

static int rm_rf_at(int parent, const char *name, uint64_t mnt)
{
        struct stat st;
        _cleanup_close_ int fd = -1;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (mount_key(parent, name, &st) != mnt)
                return -EXDEV; /* a mount point (a file one too): never delete into it */
        if (!S_ISDIR(st.st_mode))
                return unlinkat(parent, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        fd = -1; /* owned by d now */
        while ((de = readdir(d))) {
                int q;
                if (STR_EQ(de->d_name, ".") || STR_EQ(de->d_name, ".."))
                        continue;
                q = rm_rf_at(dirfd(d), de->d_name, mnt);
                if (q < 0 && r == 0)
                        r = q;
        }
        closedir(d);
        if (r == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                r = -errno;
        return r;
}

int fs_rm_rf(const char *path)
{
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        return rm_rf_at(AT_FDCWD, path, mount_key(AT_FDCWD, path, &st));
}

static __thread uint64_t du_bytes, du_inodes;

static int du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void) path;
        (void) flag;
        (void) ftw;
        du_bytes += (uint64_t) st->st_blocks * 512;
        du_inodes++;
        return 0;
}

int fs_usage(const char *path, uint64_t *ret_bytes, uint64_t *ret_inodes)
{
        du_bytes = du_inodes = 0;
        /* FTW_PHYS: never follow symlinks; FTW_MOUNT: stay on path's filesystem. */
        if (nftw(path, du_one, 32, FTW_PHYS | FTW_MOUNT) < 0)
                return -errno;
        *ret_bytes = du_bytes;
        *ret_inodes = du_inodes;
        return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
        char *o = s;

        for (; *s; s++) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
                    s[3] >= '0' && s[3] <= '7') {
                        *o++ = (char) ((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
                        s += 3;
                } else
                        *o++ = *s;
        }
        *o = '\0';
}

static bool under(const char *path, const char *mnt)
{
        size_t n = strlen(mnt);

        return STR_EQ(mnt, "/") ||
               (strncmp(path, mnt, n) == 0 && (path[n] == '/' || path[n] == '\0'));
}

int fs_mount_of(const char *path, char *ret_mnt, size_t mnt_len, bool *shared, bool *slave)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        _cleanup_free_ char *line = NULL;
        size_t cap = 0, best = 0;

        if (!f)
                return -errno;
        while (getline(&line, &cap, f) > 0) {
                char *save = NULL, *tok[6], *t, *opt;
                size_t n = 0, len;

                while (n < 6 && (t = strtok_r(n ? NULL : line, " ", &save)))
                        tok[n++] = t;
                if (n < 6)
                        continue;
                unescape(tok[4]);
                len = strlen(tok[4]);
                if (!under(path, tok[4]) || len < best || len >= mnt_len)
                        continue;
                best = len;
                snprintf(ret_mnt, mnt_len, "%s", tok[4]);
                *shared = *slave = false;
                /* optional fields after field 6, up to the "-" separator */
                while ((opt = strtok_r(NULL, " ", &save)) && !STR_EQ(opt, "-")) {
                        *shared = *shared || strncmp(opt, "shared:", 7) == 0;
                        *slave = *slave || strncmp(opt, "master:", 7) == 0;
                }
        }
        return best ? 0 : -ENOENT;
}

bool fs_searchable_by_all(const char *path, char *ret_dir, size_t len)
{
        char buf[4096];
        struct stat st;
        size_t n = strlen(path);

        if (path[0] != '/' || n >= sizeof(buf))
                return false;
        memcpy(buf, path, n + 1);
        /* From path up to "/": each prefix ends at a '/'. */
        for (;;) {
                if (stat(buf[0] ? buf : "/", &st) < 0 || !S_ISDIR(st.st_mode) ||
                    !(st.st_mode & S_IXOTH)) {
                        if (ret_dir)
                                snprintf(ret_dir, len, "%s", buf[0] ? buf : "/");
                        return false;
                }
                if (!buf[0])
                        return true;
                *strrchr(buf, '/') = '\0';
        }
}

int fs_write_string(const char *path, const char *s)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;
        size_t n = strlen(s);

        if (fd < 0)
                return -errno;
        if (write(fd, s, n) != (ssize_t) n)
                r = errno ? -errno : -EIO;
        close(fd);
        return r;
}

int fs_unmount_all(const char *path, int max)
{
        for (int i = 0; i < max; i++)
                if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                        /* EINVAL: not a mount point (any more) */
                        return errno == EINVAL || errno == ENOENT ? 0 : -errno;
        return 0;
}

static int longer_first(const void *a, const void *b)
{
        size_t la = strlen(*(char *const *) a), lb = strlen(*(char *const *) b);

        return la < lb ? 1 : la > lb ? -1 : 0;
}

int fs_unmount_below(const char *dir, size_t max)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        _cleanup_free_ char *line = NULL;
        _cleanup_free_ char **points = calloc(max ? max : 1, sizeof(*points));
        size_t cap = 0, n = 0, len = strlen(dir);
        int r = 0;

        if (!f)
                return -errno;
        if (!points)
                return -ENOMEM;
        while (n < max && getline(&line, &cap, f) > 0) {
                char *save = NULL, *point = NULL;

                for (int i = 0; i < 5; i++)
                        point = strtok_r(i ? NULL : line, " ", &save);
                if (!point)
                        continue;
                unescape(point);
                if (strncmp(point, dir, len) == 0 && point[len] == '/' &&
                    (points[n] = strdup(point)))
                        n++;
        }
        qsort(points, n, sizeof(points[0]), longer_first);
        for (size_t i = 0; i < n; i++) {
                if (umount2(points[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT &&
                    r == 0)
                        r = -errno;
                free(points[i]);
        }
        return r;
}

char *fs_path_join(const char *dir, const char *name)
{
        char *s = NULL;

        return asprintf(&s, "%s/%s", dir, name) < 0 ? NULL : s;
}

int fs_find_exec(const char *name, char **ret_path)
{
        const char *path = getenv("PATH");
        char *copy, *save = NULL;

        if (strchr(name, '/')) {
                if (access(name, X_OK) < 0)
                        return -errno;
                *ret_path = strdup(name);
                return *ret_path ? 0 : -ENOMEM;
        }
        copy = strdup(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        if (!copy)
                return -ENOMEM;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char *p = fs_path_join(dir, name);

                if (!p) {
                        free(copy);
                        return -ENOMEM;
                }
                if (access(p, X_OK) == 0) {
                        free(copy);
                        *ret_path = p;
                        return 0;
                }
                free(p);
        }
        free(copy);
        return -ENOENT;
}

int fs_find_tool(const char *name, char *ret, size_t len)
{
        static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};

        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
                if (snprintf(ret, len, "%s/%s", dirs[i], name) < (int) len &&
                    access(ret, X_OK) == 0)
                        return 0;
        return -ENOENT;
}
