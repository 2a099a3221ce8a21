/* A scratch disk: probed, formatted when blank, mounted read-write. The
 * host creates it sparse and zeroed (a fixed VHD whose data is a hole), so
 * its first use finds no file system; a restarted uvmd's second mount finds
 * the one made before and keeps what the container wrote. */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "agent/scratch.h"
#include "common/macros.h"

#define PROBE_BYTES (1u << 20)
#define EXT_MAGIC_OFF 1080 /* superblock at 1024, s_magic at 56 */
#define EXT_MAGIC 0xEF53

int agent_scratch_probe(const char *dev, struct uvm_error **err)
{
        _cleanup_close_ int fd = open(dev, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ uint8_t *buf = NULL;
        size_t got = 0;
        ssize_t n;

        if (fd < 0)
                return uvm_error_set(err, errno, "open %s: %m", dev);
        if (!(buf = malloc(PROBE_BYTES)))
                return uvm_error_set(err, ENOMEM, "out of memory");
        while (got < PROBE_BYTES && (n = read(fd, buf + got, PROBE_BYTES - got)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return uvm_error_set(err, errno, "read %s: %m", dev);
                got += (size_t) n;
        }
        if (got > EXT_MAGIC_OFF + 1 &&
            (buf[EXT_MAGIC_OFF] | buf[EXT_MAGIC_OFF + 1] << 8) == EXT_MAGIC)
                return 1;
        for (size_t i = 0; i < got; i++)
                if (buf[i])
                        return uvm_error_set(err, EMEDIUMTYPE,
                                             "%s is neither blank nor an ext file system: "
                                             "not formatted over",
                                             dev);
        return 0;
}

/* e2fsprogs' mke2fs (the guest image's /sbin/mke2fs): ext4 as hcsshim's
 * scratch, its inode tables and journal left to be zeroed lazily (the disk
 * is known to be zeros: a sparse VHD's hole), so formatting 20 GiB writes
 * a few MiB. */
static int format(const char *dev, agent_scratch_run_fn run, struct uvm_error **err)
{
        static const char *const tools[] = {"/usr/sbin/mke2fs", "/sbin/mke2fs", "/bin/mke2fs",
                                            "/usr/bin/mke2fs"};
        /* clang-format off */
        char *argv[] = {NULL, "-q", "-F", "-t", "ext4", "-m", "0",
                        "-E", "lazy_itable_init=1,lazy_journal_init=1",
                        "-L", "uvmd-scratch", (char *) dev, NULL};
        /* clang-format on */
        const char *tool = NULL;
        int r;

        for (size_t i = 0; i < ARRAY_SIZE(tools) && !tool; i++)
                if (access(tools[i], X_OK) == 0)
                        tool = tools[i];
        /* Not ENOENT: guest_disks.c takes that for a disk still appearing
         * and would wait it out, then say the disk was never seen. */
        if (!tool)
                return uvm_error_set(err, ENOPKG, "format %s: no mke2fs in the guest", dev);
        argv[0] = (char *) tool;
        r = run(argv, err);
        if (r < 0)
                return uvm_error_wrap(err, "format %s", dev);
        if (r != 0)
                return uvm_error_set(err, EIO, "format %s: %s exited with %d", dev, tool, r);
        return 0;
}

int agent_scratch_mount(const char *dev, const char *path, agent_scratch_run_fn run,
                        struct uvm_error **err)
{
        int r = agent_scratch_probe(dev, err);

        if (r == 0)
                r = format(dev, run, err);
        if (r < 0)
                return r;
        if (mount(dev, path, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0)
                return uvm_error_set(err, errno, "mount %s on %s: %m", dev, path);
        return 0;
}
