/* A container's uid, gid and groups, from the CRI request and the image's
 * own /etc/passwd and /etc/group read from its layers on the host (ns and
 * qemu pods); the rules are agent/user_db.c's, which the agent applies in
 * an hcs pod's VM. */

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/macros.h"
#include "sandbox/user.h"

static int read_fd(int fd, size_t max, char **ret)
{
        _cleanup_free_ char *buf = malloc(max + 1);
        size_t len = 0;
        ssize_t n;

        if (!buf)
                return -ENOMEM;
        while (len < max && (n = read(fd, buf + len, max - len)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                len += (size_t) n;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

int ctr_image_file(char *const *layers, const char *rel, size_t max, char **ret_text)
{
        struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        size_t n = 0;

        while (layers && layers[n])
                n++;
        for (size_t i = n; i-- > 0;) {
                _cleanup_close_ int root = open(layers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
                _cleanup_close_ int fd = -1;
                struct stat st;

                if (root < 0)
                        return -errno;
                fd = (int) syscall(SYS_openat2, root, rel, &how, sizeof(how));
                if (fd < 0 && errno == ENOENT)
                        continue;
                /* The topmost layer that names it decides: a whiteout (a
                 * device) or a directory there means there is none. */
                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                        return -ENOENT;
                return read_fd(fd, max, ret_text);
        }
        return -ENOENT;
}

/* What rel is in one layer: -ENOENT when absent (or whited out), else the
 * file type after following symlinks inside that layer (follow) or not. */
static int layer_type(const char *layer, const char *rel, bool follow, mode_t *ret)
{
        struct open_how how = {.flags = O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW),
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        _cleanup_close_ int root = open(layer, O_PATH | O_DIRECTORY | O_CLOEXEC), fd = -1;
        struct stat st;

        if (root < 0)
                return -errno;
        fd = (int) syscall(SYS_openat2, root, rel, &how, sizeof(how));
        if (fd < 0)
                return errno == ENOENT || errno == ENOTDIR ? -ENOENT : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISCHR(st.st_mode) && st.st_rdev == 0)
                return -ENOENT; /* an overlayfs whiteout */
        *ret = st.st_mode & S_IFMT;
        return 0;
}

int ctr_image_check_user_files(char *const *layers, struct uvm_error **err)
{
        static const char *const files[] = {"etc/passwd", "etc/group"};
        size_t n = 0;

        while (layers && layers[n])
                n++;
        for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
                mode_t type = 0;
                size_t top = n;
                int r = -ENOENT;

                /* The topmost layer naming the file decides... */
                while (top-- > 0 &&
                       (r = layer_type(layers[top], files[f], false, &type)) == -ENOENT)
                        ;
                if (r == -ENOENT || (r == 0 && type == S_IFREG))
                        continue;
                /* ...and a symlink is followed down the stack as the merged
                 * view would (approximately: per layer, from there down). */
                for (size_t i = top + 1; r == 0 && type == S_IFLNK && i-- > 0;) {
                        r = layer_type(layers[i], files[f], true, &type);
                        if (r == -ENOENT)
                                r = 0, type = S_IFLNK;
                }
                if (r < 0 && r != -ENOENT)
                        return uvm_error_set(err, EINVAL, "image /%s cannot be resolved: %s",
                                             files[f], strerror(-r));
                if (r == 0 && type != S_IFREG && type != S_IFLNK)
                        return uvm_error_set(err, EINVAL,
                                             "image /%s is not a regular file: the runtime "
                                             "reads it and could block on it",
                                             files[f]);
        }
        return 0;
}

/* The image's file text; NULL when the image has none (or it cannot be
 * read: a name then is not found). One that fills the read was cut: its
 * partial last line is dropped. */
static char *image_text(char *const *layers, const char *rel)
{
        char *text = NULL;

        if (ctr_image_file(layers, rel, USER_DB_MAX_BYTES, &text) < 0)
                return NULL;
        if (strlen(text) == USER_DB_MAX_BYTES)
                user_db_drop_partial_line(text, USER_DB_MAX_BYTES);
        return text;
}

int ctr_user_resolve(const Runtime__V1__LinuxContainerSecurityContext *sc, const char *img_user,
                     char *const *layers, struct ctr_user *ret, struct uvm_error **err)
{
        _cleanup_free_ char *passwd = NULL, *group = NULL;
        unsigned groups[CTR_USER_MAX_GROUPS];
        struct user_db_req req;
        struct user_db_ids ids;
        int r;

        r = ctr_user_request(sc, img_user, NULL, groups, &req, err);
        if (r < 0)
                return r;
        if (user_db_req_needs_files(&req)) {
                passwd = image_text(layers, "etc/passwd");
                group = image_text(layers, "etc/group");
        }
        r = user_db_resolve(&req, passwd, group, &ids, err);
        if (r < 0)
                return r;
        ctr_user_from_ids(ret, &ids);
        return 0;
}
