#pragma once

/*
 * A container's scratch disk in a VM guest (hcs pods: hcsshim's per-
 * container scratch VHD): a read-write block device that is formatted
 * (ext4, by mke2fs) when blank and mounted where the container's overlay
 * upper and work dirs go (agent_rootfs.c looks for AGENT_SCRATCH_ROOT<id>).
 */

#include "common/error.h"

#define AGENT_SCRATCH_ROOT "/run/scratch/"

/* Whether the device holds an ext2/3/4 file system (1), is blank (0: its
 * first MiB, or all of a smaller device, zeros) or holds something else
 * (-EMEDIUMTYPE: never formatted over). */
int agent_scratch_probe(const char *dev, struct uvm_error **err);

/* Runs argv (argv[0] the tool's path), stdout discarded: its exit code (>= 0), or -errno
 * (in err) when it could not run or was killed. The agent's reaps through
 * its reaper (agent_proc.c); a test's waits itself. */
typedef int (*agent_scratch_run_fn)(char *const argv[], struct uvm_error **err);

/* dev formatted if blank (mke2fs, through run), then mounted read-write
 * (nosuid, nodev) at path, an existing directory. */
int agent_scratch_mount(const char *dev, const char *path, agent_scratch_run_fn run,
                        struct uvm_error **err);
