#pragma once

/*
 * Seccomp for a container from its CRI security context: RuntimeDefault
 * blocks the system calls that let a process reach past its container
 * (module loading, kexec, mount, namespaces, keyrings, tracing of other
 * processes...) and allows the rest; Unconfined and privileged containers
 * get none; Localhost loads an OCI/Docker-format JSON profile from an
 * absolute host path. The legacy seccomp_profile_path forms
 * ("runtime/default", "unconfined", "localhost/<path>") are understood.
 */

#include <json-c/json.h>

#include "proto/api.pb-c.h"

#include "common/error.h"

/* *ret: the OCI linux.seccomp object, or NULL for none. -EINVAL naming the
 * profile when it cannot be used. */
int seccomp_profile(const Runtime__V1__LinuxContainerSecurityContext *sc, json_object **ret,
                    struct uvm_error **err);
