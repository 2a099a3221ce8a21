#pragma once

/*
 * Who a container's first process runs as, from what the CRI asked and the
 * image's own /etc/passwd and /etc/group (never the host's). Portable and
 * pure: the host resolves with the image's files it reads from the layers
 * (sandbox/user.c, ns and qemu pods); an hcs pod's image exists only in its
 * VM, so the host sends the request over the bridge (the create's "User")
 * and the agent resolves it against the container's assembled rootfs
 * (agent/agent_user.c). Both use this code, so the rules are the same.
 */

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "common/error.h"

#define USER_DB_MAX_GROUPS 128
/* Largest id: (uid_t) -1 is "no change" to the kernel. */
#define USER_DB_ID_MAX 0xfffffffeLL
/* What is read of /etc/passwd or /etc/group. */
#define USER_DB_MAX_BYTES (4u << 20)

/* What the CRI asked, ids already checked (0 to USER_DB_ID_MAX). */
struct user_db_req {
        const char *image_user; /* the image's USER: "name", "uid", "name:group", "uid:gid" */
        bool has_uid;           /* run_as_user */
        unsigned uid;
        const char *username; /* run_as_username, NULL or "" when not given */
        bool has_gid;         /* run_as_group */
        unsigned gid;
        bool strict; /* supplemental_groups_policy Strict: no image memberships */
        const unsigned *supplemental;
        size_t n_supplemental; /* below USER_DB_MAX_GROUPS */
        const char *image;     /* for messages only; NULL: "the image" */
};

struct user_db_ids {
        unsigned uid, gid;
        /* setgroups(): the primary gid first, then image memberships (Merge
         * policy) and the request's supplemental groups, without repeats. */
        unsigned groups[USER_DB_MAX_GROUPS];
        size_t n_groups;
};

/* Whether the answer depends on the image's files: false when no user is
 * named (root, with the request's groups), which needs no lookup. */
bool user_db_req_needs_files(const struct user_db_req *req);

/* passwd and group: the files' text (NULL when the image has none).
 * -EINVAL naming the user and the image when a name is not found. */
int user_db_resolve(const struct user_db_req *req, const char *passwd, const char *group,
                    struct user_db_ids *ret, struct uvm_error **err);

/* A decimal id, 0 to USER_DB_ID_MAX, nothing else. */
bool user_db_parse_id(const char *s, unsigned *ret);

/* A text whose read filled USER_DB_MAX_BYTES, so may have been cut: its
 * last line dropped unless it ends with a newline (an "app:x:1000:1" cut
 * from ":10" must not count). */
void user_db_drop_partial_line(char *text, size_t len);

/*
 * The bridge's form. The create request's "User": {"ImageUser", "Uid",
 * "Username", "Gid", "Strict", "Groups": [..], "Image"} (Uid and Gid only
 * when given). The answer's "User": {"Uid", "Gid", "Groups": [...]}.
 */
json_object *user_db_req_to_json(const struct user_db_req *req);
/* Strings and the groups point into o, or into *groups_buf (caller-freed). */
int user_db_req_from_json(json_object *o, struct user_db_req *ret, unsigned **ret_groups_buf,
                          struct uvm_error **err);
json_object *user_db_ids_to_json(const struct user_db_ids *ids);
int user_db_ids_from_json(json_object *o, struct user_db_ids *ret, struct uvm_error **err);
