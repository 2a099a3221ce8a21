#pragma once

/*
 * QEMU in a mount namespace of its own that shows only what it needs: the
 * system's programs and libraries (read-only), a few device nodes, its own
 * /proc and /tmp, and the pod's paths it is given: the pod's state dir
 * (sockets, pid file), the pod's 9p share (with the host's later mounts
 * under it, which reach it as a slave), the guest image and the layer
 * disks' directory (read-only). Everything else of the host (other pods,
 * the image store's layers, /etc, /home, /var) is not there to be reached.
 *
 * uvmd re-executes itself as `uvmd vmm-jail ROOT SPEC... -- ARGV...` (the
 * child is single-threaded, so it may unshare and mount), which builds the
 * new root as a tmpfs on ROOT (an empty directory of the pod's), pivots into
 * it and execs ARGV. SPEC is "ro:PATH" or "rw:PATH" (a bind, without what is
 * mounted below PATH) or "rrw:PATH" (with it, a slave of the host's). PATH
 * appears at the same path inside, so QEMU's arguments need no rewriting.
 */

/* The `vmm-jail` command: argv[0] is ROOT. Returns only on failure (an
 * exit status: 125 for a setup error, 2 for bad usage). */
int qemu_jail_main(int argc, char **argv);
