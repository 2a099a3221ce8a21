#pragma once

/*
 * User namespace id mappings (a pod's userns_options, a mount's idmap), as
 * the kubelet gives them and the kernel takes them (uid_map/gid_map lines),
 * and the user namespace a pod's processes run in, pinned on a file.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/error.h"

/* Ranges per direction. The kernel takes 340; the kubelet sends one. */
#define IDMAP_MAX 8

struct idmap_range {
        uint32_t host, ctr, len;
};

struct idmap {
        size_t n;
        struct idmap_range r[IDMAP_MAX];
};

/* A pod's user namespace: no uid ranges means the host's. */
struct userns_map {
        struct idmap uids, gids;
};

static inline bool userns_map_enabled(const struct userns_map *m)
{
        return m && m->uids.n > 0;
}

/* -EINVAL naming field unless m is 1..IDMAP_MAX non-empty ranges that stay
 * below 2^32, overlap on neither side, map container id 0, and never map
 * host id 0 (a pod holding the host's root would not be isolated). */
int idmap_check(const char *field, const struct idmap *m, struct uvm_error **err);
int userns_map_check(const char *field, const struct userns_map *m, struct uvm_error **err);

bool idmap_equal(const struct idmap *a, const struct idmap *b);

/* The host id of container id, or -1 when it is not mapped. */
int64_t idmap_to_host(const struct idmap *m, uint32_t id);

/* "ctr host len\n" per range (the kernel's uid_map format); -E2BIG when it
 * does not fit. */
int idmap_format(const struct idmap *m, char *buf, size_t size);

/* [[host, ctr, len], ...] and back; from_json says what is wrong. */
json_object *idmap_to_json(const struct idmap *m);
int idmap_from_json(json_object *o, struct idmap *ret, const char **ret_why);

/* Create a user namespace with m's mappings and pin it on a new file at
 * path (an nsfs bind mount, as network namespaces are). On failure nothing
 * is left. */
int userns_pin(const char *path, const struct userns_map *m, struct uvm_error **err);

/* Unmount and remove path; a missing path is fine. */
int userns_unpin(const char *path, struct uvm_error **err);

/* Whether pods in user namespaces work here: a user namespace can be made
 * and an overlayfs mounted over an idmapped layer on dir's filesystem (where
 * the image layers are). why says what failed. */
bool userns_probe(const char *dir, char *why, size_t len);
