#pragma once

/*
 * What an ns pod's agent leaves behind when it dies without shutting down
 * (SIGKILL, OOM): its containers keep running under the runtime, their
 * rootfs overlays stay mounted in uvmd's mount namespace. The driver removes
 * them before it reports the pod dead, and again at stop, so "every
 * container in it has exited" (sandbox/driver.h) holds.
 */

/* `runtime --root <state_dir>/runc delete --force` every container dir under
 * <state_dir>/ctr, then unmount everything mounted under that dir. Returns
 * how many containers were found, or -errno when the dir cannot be read;
 * each failure on the way is logged and the rest still tried. */
int ns_leftovers_remove(const char *pod_id, const char *state_dir, const char *runtime);
