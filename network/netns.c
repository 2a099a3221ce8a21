/* Network namespaces persisted as bind mounts (see netns.h). */

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/macros.h"
#include "common/nsfs.h"
#include "network/netns.h"

/* What a helper thread reports back: the failing step and its errno. */
struct netns_job {
        const char *path;
        int fd; /* namespace to join (netns_run) */
        netns_fn fn;
        void *data;
        int r;
        const char *step;
};

static int loopback_up(void)
{
        _cleanup_close_ int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr = {0};

        if (sk < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (ioctl(sk, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(sk, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        return 0;
}

/* Runs on its own thread: the new namespace is this thread's alone and goes
 * away with it unless the bind mount pins it. */
static void *create_thread(void *arg)
{
        struct netns_job *j = arg;
        char self[64];

        if (unshare(CLONE_NEWNET) < 0) {
                j->r = -errno;
                j->step = "unshare";
                return NULL;
        }
        j->r = loopback_up();
        if (j->r < 0) {
                j->step = "bring up loopback";
                return NULL;
        }
        snprintf(self, sizeof(self), "/proc/self/task/%d/ns/net", (int) gettid());
        if (mount(self, j->path, NULL, MS_BIND, NULL) < 0) {
                j->r = -errno;
                j->step = "bind mount";
        }
        return NULL;
}

/* Start fn on a fresh thread and wait for it. */
static int run_thread(void *(*fn)(void *), struct netns_job *j)
{
        pthread_t t;
        int r = pthread_create(&t, NULL, fn, j);

        if (r != 0) {
                j->step = "create thread";
                return -r;
        }
        pthread_join(t, NULL);
        return 0;
}

int netns_create(const char *path, struct uvm_error **err)
{
        struct netns_job j = {.path = path};
        int fd, r;

        if (STR_EMPTY(path))
                return uvm_error_set(err, EINVAL, "netns: empty path");
        fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (fd < 0)
                return uvm_error_set(err, errno, "netns '%s': create mount point: %s", path,
                                     strerror(errno));
        close(fd);
        r = run_thread(create_thread, &j);
        if (r == 0)
                r = j.r;
        if (r < 0) {
                /* the mount is the last step, so only the file is left */
                unlink(path);
                return uvm_error_set(err, -r, "netns '%s': %s: %s", path, j.step, strerror(-r));
        }
        return 0;
}

/* In the child (system calls only): join the owner, then a new namespace. */
static int owned_child(void *data, const char **step)
{
        int fd = open(data, O_RDONLY | O_CLOEXEC), r;

        *step = "open the user namespace";
        if (fd < 0)
                return -errno;
        *step = "join the user namespace";
        r = setns(fd, CLONE_NEWUSER);
        close(fd);
        if (r < 0)
                return -errno;
        *step = "unshare";
        if (unshare(CLONE_NEWNET) < 0)
                return -errno;
        *step = "bring up loopback";
        return loopback_up();
}

int netns_create_owned(const char *path, const char *userns_path, struct uvm_error **err)
{
        const char *step = "";
        int r;

        if (!userns_path)
                return netns_create(path, err);
        if (STR_EMPTY(path))
                return uvm_error_set(err, EINVAL, "netns: empty path");
        r = nsfs_pin_child(path, "net", owned_child, NULL, (void *) userns_path, &step);
        if (r < 0)
                return uvm_error_set(err, -r, "netns '%s' in user namespace '%s': %s: %s", path,
                                     userns_path, step, strerror(-r));
        return 0;
}

int netns_remove(const char *path, struct uvm_error **err)
{
        const char *step;
        int r;

        if (STR_EMPTY(path))
                return uvm_error_set(err, EINVAL, "netns: empty path");
        r = nsfs_unpin(path, &step);
        if (r < 0)
                return uvm_error_set(err, -r, "netns '%s': %s: %s", path, step, strerror(-r));
        return 0;
}

bool netns_is_valid(const char *path)
{
        _cleanup_close_ int fd = -1;
        struct statfs sf;

        if (STR_EMPTY(path))
                return false;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstatfs(fd, &sf) < 0 || sf.f_type != NSFS_MAGIC)
                return false;
        return ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET;
}

static void *enter_thread(void *arg)
{
        struct netns_job *j = arg;

        if (setns(j->fd, CLONE_NEWNET) < 0) {
                j->r = -errno;
                j->step = "setns";
                return NULL;
        }
        j->r = j->fn(j->data);
        return NULL;
}

int netns_run(const char *path, netns_fn fn, void *data, struct uvm_error **err)
{
        _cleanup_close_ int fd = -1;
        struct netns_job j = {.fn = fn, .data = data};
        int r;

        if (STR_EMPTY(path) || !fn)
                return uvm_error_set(err, EINVAL, "netns: path and function are required");
        if (!netns_is_valid(path))
                return uvm_error_set(err, ENOENT, "netns '%s' is not a network namespace", path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return uvm_error_set(err, errno, "netns '%s': open: %s", path, strerror(errno));
        j.fd = fd;
        r = run_thread(enter_thread, &j);
        if (r < 0)
                return uvm_error_set(err, -r, "netns '%s': %s: %s", path, j.step, strerror(-r));
        if (j.step)
                return uvm_error_set(err, -j.r, "netns '%s': %s: %s", path, j.step, strerror(-j.r));
        return j.r;
}

int netns_run_job(const char *path, netns_fn fn, void *data, struct uvm_error **job_err,
                  struct uvm_error **err)
{
        int r = netns_run(path, fn, data, err);

        if (*job_err) {
                uvm_error_set(err, uvm_error_code(*job_err), "%s", (*job_err)->msg);
                *job_err = uvm_error_free(*job_err);
        }
        return r;
}
