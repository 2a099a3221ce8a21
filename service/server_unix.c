/* The server's address on Linux: a unix socket in the filesystem (bound
 * with its mode from the start) or in the abstract namespace. */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "service/server-internal.h"

/* A filesystem unix socket: refuse a missing directory or a live socket,
 * remove a stale one. */
static int prepare_socket_path(const char *path, struct uvm_error **err)
{
        _cleanup_free_ char *dir = strdup(path);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -1;
        struct stat st;
        char *slash;

        if (!dir)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (strlen(path) >= sizeof(sa.sun_path))
                return uvm_error_set(err, ENAMETOOLONG, "socket path '%s' is longer than %zu bytes",
                                     path, sizeof(sa.sun_path) - 1);
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                        return uvm_error_set(err, ENOENT, "socket directory '%s' does not exist",
                                             dir);
        }
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0
                                       : uvm_error_set(err, errno, "cannot stat '%s': %s", path,
                                                       strerror(errno));
        if (!S_ISSOCK(st.st_mode))
                return uvm_error_set(err, EEXIST, "'%s' exists and is not a socket", path);
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return uvm_error_set(err, errno, "socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                return uvm_error_set(err, EADDRINUSE,
                                     "socket '%s' is in use by another running server", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return uvm_error_set(err, errno, "cannot remove stale socket '%s': %s", path,
                                     strerror(errno));
        log_info("removed stale socket '%s'", path);
        return 0;
}

/* A private directory beside path (mode 0700), for binding there first. */
static int bind_dir_new(const char *path, char **ret_dir, int *ret_fd, struct uvm_error **err)
{
        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *dir = NULL;

        if (!slash)
                return uvm_error_set(err, EINVAL, "socket path '%s' is not absolute", path);
        if (asprintf(&dir, "%.*s/.bXXXXXX", (int) (slash - path), path) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (!mkdtemp(dir))
                return uvm_error_set(err, errno, "create a directory beside '%s': %m", path);
        *ret_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (*ret_fd < 0) {
                int e = errno;
                rmdir(dir);
                return uvm_error_set(err, e, "open '%s': %s", dir, strerror(e));
        }
        *ret_dir = TAKE_PTR(dir);
        return 0;
}

/* A filesystem socket is bound in a private directory, given its mode
 * there, then renamed into place: it is never reachable with a wider mode,
 * and the process umask, shared by every thread, is never touched. gRPC
 * binds through the directory's fd (so any path length works) and may
 * unlink that name at shutdown: the fd stays open until then. */
static int bind_unix(struct srv *s, struct uvm_error **err)
{
        _cleanup_free_ char *dir = NULL, *via = NULL, *tmp = NULL;
        int r;

        r = prepare_socket_path(s->socket_path, err);
        if (r >= 0)
                r = bind_dir_new(s->socket_path, &dir, &s->bind_dir_fd, err);
        if (r < 0)
                return r;
        if (asprintf(&via, "unix:/proc/self/fd/%d/s", s->bind_dir_fd) < 0 ||
            asprintf(&tmp, "%s/s", dir) < 0) {
                rmdir(dir);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (srv_listen(s, via) == 0)
                r = uvm_error_set(err, EADDRINUSE, "cannot listen on '%s'", s->address);
        else if (chmod(tmp, s->opts.socket_mode ? s->opts.socket_mode : 0660) < 0 ||
                 rename(tmp, s->socket_path) < 0)
                r = uvm_error_set(err, errno, "put the socket at '%s': %s", s->socket_path,
                                  strerror(errno));
        unlink(tmp);
        rmdir(dir);
        return r;
}

int srv_bind(struct srv *s, struct uvm_error **err)
{
        if (strncmp(s->address, "unix:", 5) == 0) {
                s->socket_path = strdup(s->address + 5);
                return s->socket_path ? bind_unix(s, err)
                                      : uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (strncmp(s->address, "unix-abstract:", 14) != 0)
                return uvm_error_set(err, EINVAL,
                                     "address '%s': only unix: and unix-abstract: are served",
                                     s->address);
        if (srv_listen(s, s->address) == 0)
                return uvm_error_set(err, EADDRINUSE, "cannot listen on '%s'", s->address);
        return 0;
}

void srv_unbind(struct srv *s)
{
        if (s->socket_path)
                unlink(s->socket_path);
}

void srv_bind_release(struct srv *s)
{
        free(s->socket_path);
        s->socket_path = NULL;
        if (s->bind_dir_fd > 0)
                close(s->bind_dir_fd);
        s->bind_dir_fd = 0;
}
