#pragma once

/*
 * Seccomp for a container from its CRI security context: RuntimeDefault
 * is an allowlist (containerd's default profile, kept as data in
 * sandbox/seccomp_default.c; docs/seccomp.md): anything else is EPERM,
 * namespace flags of clone are refused and clone3 answers ENOSYS unless the
 * container holds CAP_SYS_ADMIN, and capability-gated calls are allowed
 * only with their capability; Unconfined and privileged containers
 * get none; Localhost loads an OCI/Docker-format JSON profile from an
 * absolute host path. The legacy seccomp_profile_path forms
 * ("runtime/default", "unconfined", "localhost/<path>") are understood.
 */

#include <stdint.h>

#include <json-c/json.h>

#include "proto/api.pb-c.h"

#include "common/error.h"

/* *ret: the OCI linux.seccomp object, or NULL for none. caps: the
 * container's capability bounding set (bit n = capability n). -EINVAL naming
 * the profile when it cannot be used. */
int seccomp_profile(const Runtime__V1__LinuxContainerSecurityContext *sc, uint64_t caps,
                    json_object **ret, struct uvm_error **err);
