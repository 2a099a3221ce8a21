/* common/cond.h: the one difference between the platforms is the clock a
 * condvar's deadline is read on. */

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "common/cond.h"
#include "common/platform.h"

#define NS_PER_SEC 1000000000ull

int cond_init(pthread_cond_t *c)
{
#ifdef _WIN32
        return -pthread_cond_init(c, NULL);
#else
        pthread_condattr_t a;
        int r;

        r = pthread_condattr_init(&a);
        if (r == 0)
                r = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
        if (r == 0)
                r = pthread_cond_init(c, &a);
        pthread_condattr_destroy(&a);
        return -r;
#endif
}

uint64_t cond_deadline(int timeout_ms)
{
        if (timeout_ms < 0)
                return COND_FOREVER;
        return plat_now_ns() + (uint64_t) timeout_ms * 1000000ull;
}

/* The absolute time on the condvar's clock for deadline_ns. */
static struct timespec cond_abstime(uint64_t deadline_ns, uint64_t now)
{
        uint64_t at = deadline_ns;
        struct timespec ts;

#ifdef _WIN32
        at = plat_realtime_ns() + (deadline_ns - now);
#endif
        ts.tv_sec = (time_t) (at / NS_PER_SEC);
        ts.tv_nsec = (long) (at % NS_PER_SEC);
        return ts;
}

int cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, uint64_t deadline_ns)
{
        struct timespec ts;
        uint64_t now;

        if (deadline_ns == COND_FOREVER) {
                pthread_cond_wait(c, m);
                return 0;
        }
        now = plat_now_ns();
        if (now >= deadline_ns)
                return -ETIMEDOUT;
        ts = cond_abstime(deadline_ns, now);
        if (pthread_cond_timedwait(c, m, &ts) == ETIMEDOUT && plat_now_ns() >= deadline_ns)
                return -ETIMEDOUT;
        return 0;
}
