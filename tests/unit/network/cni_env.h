#pragma once

/* For the network tests' fake CNI executors: a variable of the
 * environment the executor built for a plugin. */

#include <string.h>

/* key's value in env, or "" when it is not there. */
static inline const char *cni_env(char *const *env, const char *key)
{
        size_t n = strlen(key);

        for (size_t i = 0; env[i]; i++)
                if (strncmp(env[i], key, n) == 0 && env[i][n] == '=')
                        return env[i] + n + 1;
        return "";
}
