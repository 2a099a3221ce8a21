/* ModifySettings "Plan9" in a VM guest (plan9.h): a host directory the
 * hcs driver shared into the VM, mounted as hcsshim's LCOW guest does: a
 * vsock connection to the host (CID 2) on the share's port, handed to the
 * kernel's 9p client as its transport (trans=fd: module 9pnet_fd, in the
 * image's Hyper-V list), the share picked by its access name. The
 * kernel holds the socket from then on. Mounting a Path that is already
 * a mount point succeeds (a restarted uvmd may say it again); "Remove"
 * unmounts (one not mounted is no error), before the host removes the
 * share. The vsock connect is not run here (no vsock host); the mount,
 * with this data over a TCP stream, is (tests/integration/
 * test_guest_hcs_paths.py). */

#include <errno.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "agent/plan9.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/macros.h"

/* Its device differs from its parent's. */
static bool mount_point(const char *path)
{
        char parent[300];
        struct stat a, b;

        snprintf(parent, sizeof(parent), "%s/..", path);
        return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static int vsock_host(uint32_t port, struct uvm_error **err)
{
        struct sockaddr_vm sa = {
                .svm_family = AF_VSOCK, .svm_cid = PLAN9_HOST_CID, .svm_port = port};
        int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return uvm_error_set(err, errno, "Plan9: vsock socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int e = errno;

                close(fd);
                return uvm_error_set(err, e, "Plan9: connect to the host's vsock port %u: %s", port,
                                     strerror(e));
        }
        return fd;
}

int agent_guest_plan9(json_object *s, struct uvm_error **err)
{
        struct plan9_req q;
        char data[256];
        int fd, r;

        r = plan9_parse(s, &q, err);
        if (r < 0)
                return r;
        if (q.remove) {
                if (mount_point(q.path) && umount2(q.path, MNT_DETACH) < 0)
                        return uvm_error_set(err, errno, "unmount %s: %m", q.path);
                (void) rmdir(q.path);
                return 0;
        }
        if (mount_point(q.path))
                return 0;
        if (fs_mkdir_p(q.path, 0755) < 0)
                return uvm_error_set(err, errno, "create %s: %m", q.path);
        fd = vsock_host(q.port, err);
        if (fd < 0)
                return fd;
        r = plan9_mount_data(fd, q.name, data, sizeof(data));
        if (r >= 0 && mount(q.name, q.path, "9p",
                            MS_NOSUID | MS_NODEV | (q.read_only ? MS_RDONLY : 0), data) < 0)
                r = -errno;
        close(fd); /* the mount holds its own reference */
        if (r < 0) {
                (void) rmdir(q.path);
                return uvm_error_set(err, -r, "mount Plan9 share %s at %s: %s", q.name, q.path,
                                     strerror(-r));
        }
        log_info("guest: Plan9 share %s mounted at %s%s", q.name, q.path,
                 q.read_only ? " read-only" : "");
        return 0;
}
