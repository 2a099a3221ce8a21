/* A container's uid, gid and groups, from the CRI request and the image's
 * own /etc/passwd and /etc/group. */

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

#define ID_MAX 0xfffffffeLL /* (uid_t) -1 is "no change" to the kernel */
#define DB_MAX_BYTES (4 << 20)

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

static bool parse_id(const char *s, unsigned *ret)
{
        char *end;
        long long v;

        if (!*s || *s == '-' || *s == '+')
                return false;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (*end || errno || v < 0 || v > ID_MAX)
                return false;
        *ret = (unsigned) v;
        return true;
}

/* The fields of line split at ':' (in place); returns how many. */
static size_t split(char *line, char **f, size_t max)
{
        size_t n = 0;

        while (n < max) {
                f[n++] = line;
                line = strchr(line, ':');
                if (!line)
                        break;
                *line++ = '\0';
        }
        return n;
}

struct pw {
        char name[256];
        unsigned uid, gid;
};

/* An /etc/passwd entry by name (by_name) or by uid. */
static int passwd_find(char *const *layers, const char *name, unsigned uid, bool by_name,
                       struct pw *ret)
{
        _cleanup_free_ char *text = NULL;
        char *save = NULL;

        if (ctr_image_file(layers, "etc/passwd", DB_MAX_BYTES, &text) < 0)
                return -ENOENT;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *f[7];
                unsigned u, g;

                if (split(l, f, 7) < 4 || !parse_id(f[2], &u) || !parse_id(f[3], &g) ||
                    strlen(f[0]) >= sizeof(ret->name))
                        continue;
                if (by_name ? STR_EQ(f[0], name) : u == uid) {
                        snprintf(ret->name, sizeof(ret->name), "%s", f[0]);
                        ret->uid = u;
                        ret->gid = g;
                        return 0;
                }
        }
        return -ENOENT;
}

static void add_group(struct ctr_user *u, unsigned gid)
{
        for (size_t i = 0; i < u->n_groups; i++)
                if (u->groups[i] == gid)
                        return;
        if (u->n_groups < CTR_USER_MAX_GROUPS)
                u->groups[u->n_groups++] = gid;
}

static bool member_of(char *members, const char *user)
{
        char *save = NULL;

        for (char *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
                if (STR_EQ(m, user))
                        return true;
        return false;
}

/* A group's gid by name (name != NULL), and/or the groups user belongs to
 * (user != NULL, added to u). */
static int group_scan(char *const *layers, const char *name, unsigned *ret_gid, const char *user,
                      struct ctr_user *u)
{
        _cleanup_free_ char *text = NULL;
        char *save = NULL;
        int r = -ENOENT;

        if (ctr_image_file(layers, "etc/group", DB_MAX_BYTES, &text) < 0)
                return -ENOENT;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *f[4];
                unsigned g;

                if (split(l, f, 4) < 3 || !parse_id(f[2], &g))
                        continue;
                if (name && STR_EQ(f[0], name)) {
                        *ret_gid = g;
                        r = 0;
                }
                if (user && f[3] && member_of(f[3], user))
                        add_group(u, g);
        }
        return r;
}

/* The image's USER: "name", "uid", "name:group", "uid:gid", "uid:group". */
static int image_user(const char *spec, char *const *layers, struct ctr_user *u, char *username,
                      size_t username_len, struct uvm_error **err)
{
        _cleanup_free_ char *s = strdup(spec);
        char *group = NULL;
        struct pw pw;

        if (!s)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if ((group = strchr(s, ':')))
                *group++ = '\0';
        if (parse_id(s, &u->uid)) {
                if (passwd_find(layers, NULL, u->uid, false, &pw) == 0) {
                        u->gid = pw.gid;
                        snprintf(username, username_len, "%s", pw.name);
                }
        } else if (*s && passwd_find(layers, s, 0, true, &pw) == 0) {
                u->uid = pw.uid;
                u->gid = pw.gid;
                snprintf(username, username_len, "%s", pw.name);
        } else
                return uvm_error_set(err, EINVAL,
                                     "image user \"%.64s\": not in the image's /etc/passwd", s);
        if (group && *group && !parse_id(group, &u->gid) &&
            group_scan(layers, group, &u->gid, NULL, NULL) < 0)
                return uvm_error_set(err, EINVAL,
                                     "image group \"%.64s\": not in the image's /etc/group", group);
        return 0;
}

static int check_id(const char *field, int64_t v, struct uvm_error **err)
{
        if (v < 0 || v > ID_MAX)
                return uvm_error_set(err, EINVAL, "%s %lld: must be 0 to %lld", field,
                                     (long long) v, ID_MAX);
        return 0;
}

/* uid and gid from the request (run_as_user / run_as_username) or the image. */
static int primary_ids(const Runtime__V1__LinuxContainerSecurityContext *sc, const char *img_user,
                       char *const *layers, struct ctr_user *u, char *name, size_t name_len,
                       struct uvm_error **err)
{
        struct pw pw;
        int r;

        if (sc->run_as_user) {
                if ((r = check_id("run_as_user", sc->run_as_user->value, err)) < 0)
                        return r;
                u->uid = (unsigned) sc->run_as_user->value;
                /* The image's entry for that uid, if any, gives gid and name. */
                if (passwd_find(layers, NULL, u->uid, false, &pw) == 0) {
                        u->gid = pw.gid;
                        snprintf(name, name_len, "%s", pw.name);
                }
                return 0;
        }
        if (!STR_EMPTY(sc->run_as_username)) {
                if (passwd_find(layers, sc->run_as_username, 0, true, &pw) < 0)
                        return uvm_error_set(err, EINVAL,
                                             "run_as_username \"%.64s\": not in the image's "
                                             "/etc/passwd",
                                             sc->run_as_username);
                u->uid = pw.uid;
                u->gid = pw.gid;
                snprintf(name, name_len, "%s", pw.name);
                return 0;
        }
        return STR_EMPTY(img_user) ? 0 : image_user(img_user, layers, u, name, name_len, err);
}

int ctr_user_resolve(const Runtime__V1__LinuxContainerSecurityContext *sc, const char *img_user,
                     char *const *layers, struct ctr_user *ret, struct uvm_error **err)
{
        static const Runtime__V1__LinuxContainerSecurityContext none =
                RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        struct ctr_user u = {0};
        char name[256] = "";
        int r;

        if (!sc)
                sc = &none;
        /* The CRI: a group alone is an error, whatever the image says. */
        if (sc->run_as_group && !sc->run_as_user && STR_EMPTY(sc->run_as_username))
                return uvm_error_set(err, EINVAL,
                                     "run_as_group is set without run_as_user or "
                                     "run_as_username");
        if (sc->n_supplemental_groups > CTR_USER_MAX_GROUPS - 1)
                return uvm_error_set(err, EINVAL, "more than %d supplemental_groups",
                                     CTR_USER_MAX_GROUPS - 1);
        r = primary_ids(sc, img_user, layers, &u, name, sizeof(name), err);
        if (r < 0)
                return r;
        if (sc->run_as_group) {
                if ((r = check_id("run_as_group", sc->run_as_group->value, err)) < 0)
                        return r;
                u.gid = (unsigned) sc->run_as_group->value;
        }
        add_group(&u, u.gid);
        /* Merge (the default) adds the image's memberships; Strict does not. */
        if (*name &&
            sc->supplemental_groups_policy != RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict)
                (void) group_scan(layers, NULL, NULL, name, &u);
        for (size_t i = 0; i < sc->n_supplemental_groups; i++) {
                char field[48];
                snprintf(field, sizeof(field), "supplemental_groups[%zu]", i);
                if ((r = check_id(field, sc->supplemental_groups[i], err)) < 0)
                        return r;
                add_group(&u, (unsigned) sc->supplemental_groups[i]);
        }
        *ret = u;
        return 0;
}
