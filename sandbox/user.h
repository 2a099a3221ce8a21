#pragma once

/*
 * Who a container's first process runs as: the CRI security context
 * (run_as_user, run_as_username, run_as_group, supplemental_groups and their
 * policy) over the image's USER, with names and group memberships looked up
 * in the image's own /etc/passwd and /etc/group (never the host's). The
 * rules are agent/user_db.c's; user.c reads the files from the layers on
 * the host (Linux).
 */

#include <stddef.h>

#include "proto/api.pb-c.h"

#include "agent/user_db.h"
#include "common/error.h"

#define CTR_USER_MAX_GROUPS USER_DB_MAX_GROUPS

struct ctr_user {
        unsigned uid, gid;
        /* setgroups(): the primary gid first, then image memberships (Merge
         * policy) and the request's supplemental_groups, without repeats. */
        unsigned groups[CTR_USER_MAX_GROUPS];
        size_t n_groups;
};

static inline void ctr_user_from_ids(struct ctr_user *ret, const struct user_db_ids *ids)
{
        ret->uid = ids->uid;
        ret->gid = ids->gid;
        ret->n_groups = ids->n_groups;
        for (size_t i = 0; i < ids->n_groups; i++)
                ret->groups[i] = ids->groups[i];
}

/* The CRI's user fields checked (ids 0 to USER_DB_ID_MAX, run_as_group
 * only with a user, fewer than CTR_USER_MAX_GROUPS supplemental groups)
 * into *ret, whose supplemental groups are kept in groups (room for
 * CTR_USER_MAX_GROUPS) and strings point into sc and image_user. image
 * (may be NULL) is named in messages. Portable (user_req.c): an hcs pod's
 * agent resolves the result in the VM (user_db.h). */
int ctr_user_request(const Runtime__V1__LinuxContainerSecurityContext *sc, const char *image_user,
                     const char *image, unsigned *groups, struct user_db_req *ret,
                     struct uvm_error **err);

/* layers: the image's layer directories, lowest first (NULL-terminated).
 * -EINVAL naming the field for a bad or unresolvable user. */
int ctr_user_resolve(const Runtime__V1__LinuxContainerSecurityContext *sc, const char *image_user,
                     char *const *layers, struct ctr_user *ret, struct uvm_error **err);

/* The file at rel (say "etc/passwd") in the topmost layer that has it,
 * resolved inside that layer: a symlink cannot lead out to the host.
 * -ENOENT when no layer has it. */
int ctr_image_file(char *const *layers, const char *rel, size_t max, char **ret_text);

/* The OCI runtime opens the image's /etc/passwd and /etc/group inside the
 * container whatever the user: -EINVAL when either is something other than a
 * regular file (a FIFO or device would block it). */
int ctr_image_check_user_files(char *const *layers, struct uvm_error **err);
