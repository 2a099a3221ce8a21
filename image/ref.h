#pragma once

/*
 * Image references, normalised as Docker does: "busybox" is
 * docker.io/library/busybox:latest; a first component with a '.' or ':' or
 * equal to "localhost" is a registry host; "name@sha256:..." pins a digest.
 */

#include "common/error.h"

struct img_ref {
        char *domain; /* "docker.io", "127.0.0.1:5000" */
        char *path;   /* "library/busybox" */
        char *tag;    /* "latest" (default when there is no digest), or NULL */
        char *digest; /* "sha256:<64 hex>" or NULL */
};

/* -EINVAL with a message naming what is wrong (empty, upper case in the
 * repository, bad tag, bad digest, too long: 255 chars for the name). */
int img_ref_parse(const char *s, struct img_ref *ret, struct uvm_error **err);
void img_ref_clear(struct img_ref *r);

/* "docker.io/library/busybox" */
char *img_ref_name(const struct img_ref *r);
/* "docker.io/library/busybox:latest", or name@digest when only a digest. */
char *img_ref_string(const struct img_ref *r);
/* The host to talk to: docker.io is served by registry-1.docker.io. */
const char *img_ref_registry_host(const struct img_ref *r);
