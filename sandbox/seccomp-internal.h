#pragma once

/* The RuntimeDefault profile's data (sandbox/seccomp_default.c), read by
 * sandbox/seccomp.c and by the tests that check it. */

#include <stddef.h>
#include <stdint.h>

#define SECCOMP_GATE_NAMES 32

struct seccomp_gate {
        int cap;                               /* -1 ends the table */
        const char *names[SECCOMP_GATE_NAMES]; /* NULL-terminated */
};

extern const char *const seccomp_default_allowed[]; /* NULL-terminated */
extern const struct seccomp_gate seccomp_default_gates[];
extern const uint64_t seccomp_default_personalities[];
extern const size_t seccomp_default_n_personalities;
extern const uint64_t seccomp_clone_ns_flags;
