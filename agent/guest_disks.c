/* ModifySettings "Disk" in a VM guest: an image layer the host hot-plugged
 * as a read-only SCSI disk (an erofs image) on the VM's one virtio-scsi
 * controller, named by its LUN (target 0), mounted read-only at Path. The
 * hot-plug event reaches the guest's SCSI layer asynchronously, so the disk
 * is waited for, within DISK_WAIT_MS. Mounting a Path that is already a
 * mount point succeeds: a restarted uvmd may say it again. With "Remove"
 * it is unmounted instead (one not mounted is no error).
 * With "Scratch": true the disk is a container's read-write scratch (hcs
 * pods), Path AGENT_SCRATCH_ROOT<container id>: formatted when blank and
 * mounted read-write (scratch.c), where agent_rootfs.c puts the container's
 * overlay upper and work dirs. */

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "agent/scratch.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"

#define DISK_WAIT_MS 10000
#define MAX_LUN 16383 /* virtio-scsi's */
#define SCSI_DEVICES "/sys/bus/scsi/devices"
#define DISK_ROOT "/run/layers/"

/* The block device name (sdX) of the disk at target 0, lun; 0, or -ENOENT
 * while it has not appeared. The controller is the guest's only SCSI host,
 * whatever its number. */
static int disk_name(unsigned lun, char *ret, size_t len)
{
        char suffix[32], path[512];
        struct dirent *e;
        int r = -ENOENT;
        DIR *d = opendir(SCSI_DEVICES);

        if (!d)
                return -ENOENT;
        snprintf(suffix, sizeof(suffix), ":0:0:%u", lun);
        while (r < 0 && (e = readdir(d))) {
                size_t n = strlen(e->d_name), k = strlen(suffix);
                DIR *b;
                struct dirent *be;

                if (n <= k || strcmp(e->d_name + n - k, suffix) != 0)
                        continue;
                snprintf(path, sizeof(path), SCSI_DEVICES "/%s/block", e->d_name);
                if (!(b = opendir(path)))
                        continue; /* sd has not bound it yet */
                while ((be = readdir(b)))
                        if (be->d_name[0] != '.' && strlen(be->d_name) < len) {
                                memcpy(ret, be->d_name, strlen(be->d_name) + 1);
                                r = 0;
                                break;
                        }
                closedir(b);
        }
        closedir(d);
        return r;
}

/* Whether the disk has its size yet: sd reads the capacity after the block
 * directory appears, and opening it before gives ENXIO. */
static bool disk_sized(const char *name)
{
        _cleanup_free_ char *text = NULL;
        char sys[256];

        snprintf(sys, sizeof(sys), "/sys/class/block/%s/size", name);
        return fs_read_file(sys, 64, &text, NULL) == 0 && strtoull(text, NULL, 10) > 0;
}

/* /dev/<name>, made from sysfs's major:minor when devtmpfs has not yet.
 * -ENODEV while sysfs has no device number for it yet (the caller waits). */
static int disk_node(const char *name, char *ret, size_t len)
{
        _cleanup_free_ char *text = NULL;
        char sys[256];
        unsigned maj, min;

        snprintf(ret, len, "/dev/%s", name);
        if (access(ret, F_OK) == 0)
                return 0;
        snprintf(sys, sizeof(sys), "/sys/class/block/%s/dev", name);
        if (fs_read_file(sys, 64, &text, NULL) < 0 || sscanf(text, "%u:%u", &maj, &min) != 2)
                return -ENODEV;
        if (mknod(ret, S_IFBLK | 0600, makedev(maj, min)) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* mke2fs for a scratch disk, reaped by the agent's reaper. */
static int run_tool(char *const argv[], struct uvm_error **err)
{
        int status;
        pid_t pid;
        int r = agent_spawn(argv, (int[3]){-1, -1, -1}, &pid, err);

        if (r < 0)
                return r;
        r = agent_reap_wait(pid, DISK_WAIT_MS * 6, &status);
        if (r < 0) {
                kill(pid, SIGKILL);
                (void) agent_reap_wait(pid, -1, &status);
                return uvm_error_set(err, -r, "%s: %s", argv[0], strerror(-r));
        }
        return agent_exit_code(status);
}

static bool path_under(const char *path, const char *root)
{
        return path && strncmp(path, root, strlen(root)) == 0 && path[strlen(root)] &&
               !strstr(path, "..") && strlen(path) <= 255 && !strchr(path + strlen(root), '/');
}

/* Mount the disk dev at path: a layer's read-only erofs, or a scratch. */
static int disk_mount(const char *dev, const char *path, bool scratch, struct uvm_error **err)
{
        if (scratch)
                return agent_scratch_mount(dev, path, run_tool, err);
        if (mount(dev, path, "erofs", MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
                return uvm_error_set(err, errno, "mount %s on %s: %m", dev, path);
        return 0;
}

static bool is_mount_point(const char *path)
{
        struct stat st, parent;
        char up[4096];

        snprintf(up, sizeof(up), "%s/..", path);
        return stat(path, &st) == 0 && stat(up, &parent) == 0 && st.st_dev != parent.st_dev;
}

int agent_guest_disk(json_object *s, struct uvm_error **err)
{
        const char *path = json_string_of(s, "Path");
        json_object *lo = json_object_object_get(s, "Lun");
        int64_t lun = json_object_is_type(lo, json_type_int) ? json_object_get_int64(lo) : -1;
        bool scratch = json_object_get_boolean(json_object_object_get(s, "Scratch"));
        bool remove = json_object_get_boolean(json_object_object_get(s, "Remove"));
        const char *root = scratch ? AGENT_SCRATCH_ROOT : DISK_ROOT;
        char name[64], dev[96];
        struct timespec nap = {0, 2000000};
        int r = -ENOENT;

        if (lun < 0 || lun > MAX_LUN)
                return uvm_error_set(err, EINVAL, "Disk: Lun must be 0 to %d", MAX_LUN);
        if (!path_under(path, root) && !(remove && path_under(path, AGENT_SCRATCH_ROOT)))
                return uvm_error_set(err, EINVAL, "Disk: Path must be a name under %s", root);
        /* "Remove": before the host detaches the disk (the hcs driver). */
        if (remove) {
                if (is_mount_point(path) && umount2(path, MNT_DETACH) < 0)
                        return uvm_error_set(err, errno, "unmount %s: %m", path);
                (void) rmdir(path);
                return 0;
        }
        if (is_mount_point(path))
                return 0;
        if (fs_mkdir_p(path, 0755) < 0)
                return uvm_error_set(err, errno, "create %s: %m", path);
        /* Until the disk is there, sized and mountable (ENXIO while sd still
         * sets it up), within DISK_WAIT_MS. */
        for (int waited = 0;; waited += (int) (nap.tv_nsec / 1000000)) {
                r = disk_name((unsigned) lun, name, sizeof(name));
                if (r == 0 && disk_sized(name)) {
                        /* The device number, too, may show up after the size
                         * (seen once: "sda has no device number"). */
                        r = disk_node(name, dev, sizeof(dev));
                        if (r < 0 && r != -ENODEV)
                                return uvm_error_set(err, -r, "mknod %s: %s", dev, strerror(-r));
                        if (r == 0) {
                                struct uvm_error *e = NULL;

                                r = disk_mount(dev, path, scratch, &e);
                                if (r == 0)
                                        break;
                                if (r != -ENXIO && r != -ENOENT) {
                                        r = uvm_error_set(err, -r, "lun %lld: %s", (long long) lun,
                                                          e ? e->msg : strerror(-r));
                                        uvm_error_free(e);
                                        return r;
                                }
                                uvm_error_free(e);
                        }
                }
                if (waited >= DISK_WAIT_MS)
                        return uvm_error_set(err, ETIMEDOUT,
                                             "Disk: no usable SCSI disk at lun %lld after %d ms "
                                             "(%s)",
                                             (long long) lun, DISK_WAIT_MS,
                                             r == -ENOENT ? "not seen" : strerror(-r));
                nanosleep(&nap, NULL);
                if (nap.tv_nsec < 50000000)
                        nap.tv_nsec *= 2;
        }
        log_debug("guest: %s disk %s (lun %lld) on %s", scratch ? "scratch" : "layer", dev,
                  (long long) lun, path);
        return 0;
}
