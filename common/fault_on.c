/* The uvmd-fault binary's fault points (fault.h): UVMD_FAULT=<step>[:<n>]. */

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/fault.h"
#include "common/log.h"

#define STEP_MAX 96

static struct {
        pthread_once_t once;
        char step[STEP_MAX]; /* "" when UVMD_FAULT is unset or malformed */
        unsigned long nth;   /* the hit that kills, from 1 */
        unsigned long hits;  /* atomic */
} fault = {.once = PTHREAD_ONCE_INIT};

static void parse_env(void)
{
        const char *v = getenv("UVMD_FAULT"), *colon;
        size_t len;
        char *end;

        if (!v || !*v)
                return;
        colon = strchr(v, ':');
        len = colon ? (size_t) (colon - v) : strlen(v);
        fault.nth = 1;
        if (colon) {
                fault.nth = strtoul(colon + 1, &end, 10);
                if (end == colon + 1 || *end || fault.nth == 0) {
                        log_error("fault: UVMD_FAULT=\"%s\": want <step>[:<n>], n >= 1, ignoring",
                                  v);
                        return;
                }
        }
        if (len == 0 || len >= STEP_MAX) {
                log_error("fault: UVMD_FAULT=\"%s\": step name empty or too long, ignoring", v);
                return;
        }
        memcpy(fault.step, v, len);
        fault.step[len] = '\0';
        log_warn("fault: armed at %s, hit %lu", fault.step, fault.nth);
}

void fault_point(const char *step)
{
        pthread_once(&fault.once, parse_env);
        if (!fault.step[0] || strcmp(step, fault.step) != 0)
                return;
        if (__atomic_add_fetch(&fault.hits, 1, __ATOMIC_ACQ_REL) != fault.nth)
                return;
        log_error("fault: killed at %s", step);
        raise(SIGKILL);
}
