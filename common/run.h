#pragma once

/* Run a short-lived helper command (a probe, a version query) to its end:
 * posix_spawn (the daemon is multi-threaded), stdout captured up to a bound,
 * stderr to /dev/null, killed and reaped at the deadline. */

#include <stddef.h>

/* argv[0] is a path. ret_out gets stdout (NUL-terminated, malloc'd, cut at
 * max_out bytes), ret_status the exit code (128+signal when killed).
 * -ETIMEDOUT when it outlived timeout_ms, or -errno. */
int run_capture(char *const *argv, unsigned timeout_ms, size_t max_out, char **ret_out,
                int *ret_status);
