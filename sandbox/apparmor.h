#pragma once

/*
 * AppArmor for a container: the profile its security context names is
 * applied where AppArmor is enabled on the node. A Localhost profile where
 * AppArmor is not enabled is refused with a clear error (never silently
 * dropped); RuntimeDefault there means no profile, as containerd and CRI-O
 * have it (the runtime's default on such a node is none). Privileged
 * containers and Unconfined get none. uvmd's RuntimeDefault profile is
 * uvmd's own, loaded at start-up where AppArmor is enabled.
 */

#include <stdbool.h>

#include "proto/api.pb-c.h"

#include "common/error.h"

/* The name of uvmd's RuntimeDefault profile (apparmor_load_default). */
#define APPARMOR_DEFAULT_PROFILE "uvmd-default"

/* How the node looks: replaceable for tests. */
struct apparmor_node {
        bool (*enabled)(void);
        bool (*loaded)(const char *profile);
        /* Load (or replace) the profiles in the file at path. 0 or -errno. */
        int (*load)(const char *path, struct uvm_error **err);
};

extern const struct apparmor_node apparmor_host;

/* *ret (malloc'd): the profile for process.apparmorProfile, or NULL for
 * none. -EINVAL naming the profile when it cannot be applied here. */
int apparmor_profile(const Runtime__V1__LinuxContainerSecurityContext *sc,
                     const struct apparmor_node *node, char **ret, struct uvm_error **err);

/* The text of uvmd's RuntimeDefault profile. */
extern const char apparmor_default_text[];

/* Where AppArmor is enabled and uvmd-default is not loaded, write it to
 * <dir>/uvmd-default and load it. 0 when loaded or not needed. */
int apparmor_load_default(const struct apparmor_node *node, const char *dir,
                          struct uvm_error **err);
