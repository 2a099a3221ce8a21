/* Who a container runs as, resolved here when the host could not: an hcs
 * pod's image exists only in its VM, so the create request names the user
 * ("User", user_db.h's bridge form) and its /etc/passwd and /etc/group are
 * read from the container's assembled rootfs, resolved inside it (a
 * symlink cannot lead to the guest's own files). The rules are the host's
 * (agent/user_db.c). */

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "agent/user_db.h"
#include "common/macros.h"

/* rel's text inside root (NULL when absent); one that is not a regular
 * file is refused: the runtime opens it too, and a FIFO would block it. */
static int rootfs_text(int root, const char *rel, char **ret, struct uvm_error **err)
{
        struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        _cleanup_close_ int fd = (int) syscall(SYS_openat2, root, rel, &how, sizeof(how));
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        struct stat st;
        ssize_t n;

        *ret = NULL;
        if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
                return 0;
        if (fd < 0 || fstat(fd, &st) < 0)
                return uvm_error_set(err, EINVAL, "image /%s cannot be resolved: %m", rel);
        if (!S_ISREG(st.st_mode))
                return uvm_error_set(err, EINVAL, "image /%s is not a regular file", rel);
        buf = malloc(USER_DB_MAX_BYTES + 1);
        if (!buf)
                return uvm_error_set(err, ENOMEM, "out of memory");
        while (len < USER_DB_MAX_BYTES && (n = read(fd, buf + len, USER_DB_MAX_BYTES - len)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return uvm_error_set(err, errno, "read image /%s: %m", rel);
                len += (size_t) n;
        }
        buf[len] = '\0';
        if (len == USER_DB_MAX_BYTES)
                user_db_drop_partial_line(buf, len);
        *ret = TAKE_PTR(buf);
        return 0;
}

/* process.user of spec: uid, gid and additionalGids (the groups beyond
 * the primary one, which the runtime adds itself). */
static int spec_set_user(json_object *spec, const struct user_db_ids *ids, struct uvm_error **err)
{
        json_object *proc, *user = json_object_new_object(), *extra = json_object_new_array();

        if (!user || !extra) {
                json_object_put(user);
                json_object_put(extra);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (!json_object_object_get_ex(spec, "process", &proc) ||
            !json_object_is_type(proc, json_type_object)) {
                json_object_put(user);
                json_object_put(extra);
                return uvm_error_set(err, EINVAL, "Spec: no process object");
        }
        json_object_object_add(user, "uid", json_object_new_int64(ids->uid));
        json_object_object_add(user, "gid", json_object_new_int64(ids->gid));
        for (size_t i = 1; i < ids->n_groups; i++)
                json_object_array_add(extra, json_object_new_int64(ids->groups[i]));
        json_object_object_add(user, "additionalGids", extra);
        json_object_object_add(proc, "user", user);
        return 0;
}

int agent_user_resolve(json_object *req, const char *rootfs, json_object *spec,
                       json_object **ret_user, struct uvm_error **err)
{
        _cleanup_free_ char *passwd = NULL, *group = NULL;
        _cleanup_free_ unsigned *groups = NULL;
        _cleanup_close_ int root = -1;
        json_object *o = json_object_object_get(req, "User");
        struct user_db_req q;
        struct user_db_ids ids;
        int r;

        *ret_user = NULL;
        if (!o)
                return 0;
        r = user_db_req_from_json(o, &q, &groups, err);
        if (r < 0)
                return r;
        if (user_db_req_needs_files(&q)) {
                root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (root < 0)
                        return uvm_error_set(err, errno, "open '%s': %m", rootfs);
                r = rootfs_text(root, "etc/passwd", &passwd, err);
                if (r >= 0)
                        r = rootfs_text(root, "etc/group", &group, err);
                if (r < 0)
                        return r;
        }
        r = user_db_resolve(&q, passwd, group, &ids, err);
        if (r >= 0)
                r = spec_set_user(spec, &ids, err);
        if (r < 0)
                return r;
        *ret_user = user_db_ids_to_json(&ids);
        return *ret_user ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}
