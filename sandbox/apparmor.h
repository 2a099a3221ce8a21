#pragma once

/*
 * AppArmor for a container: the profile its security context names is
 * applied where AppArmor is enabled on the node, and refused with a clear
 * error where it is not (never silently dropped). Privileged containers and
 * Unconfined get none.
 */

#include <stdbool.h>

#include "proto/api.pb-c.h"

#include "common/error.h"

/* The name of uvmd's RuntimeDefault profile, which the node must have loaded. */
#define APPARMOR_DEFAULT_PROFILE "uvmd-default"

/* How the node looks: replaceable for tests. */
struct apparmor_node {
        bool (*enabled)(void);
        bool (*loaded)(const char *profile);
};

extern const struct apparmor_node apparmor_host;

/* *ret (malloc'd): the profile for process.apparmorProfile, or NULL for
 * none. -EINVAL naming the profile when it cannot be applied here. */
int apparmor_profile(const Runtime__V1__LinuxContainerSecurityContext *sc,
                     const struct apparmor_node *node, char **ret, struct uvm_error **err);
