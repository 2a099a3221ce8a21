#pragma once

/*
 * Condition variables whose timed waits count on the monotonic clock
 * (plat_now_ns()), on both platforms. glibc takes CLOCK_MONOTONIC as a
 * condvar attribute. winpthreads refuses that attribute (EINVAL) and reads
 * pthread_cond_timedwait()'s deadline on the wall clock, so there each wait
 * turns the monotonic time left into a wall-clock deadline just before
 * waiting (winpthreads waits for the relative time it computes at once, so
 * a clock step during the wait does not move it), and an early return
 * before the monotonic deadline counts as a wake-up, not a timeout.
 */

#include <pthread.h>
#include <stdint.h>

#define COND_FOREVER UINT64_MAX

/* pthread_cond_init() with the monotonic clock where the platform has it.
 * 0 or -errno. */
int cond_init(pthread_cond_t *c);

/* The deadline timeout_ms from now on plat_now_ns()'s scale; COND_FOREVER
 * for timeout_ms < 0. */
uint64_t cond_deadline(int timeout_ms);

/* Wait on c (m held) until signalled or deadline_ns passed (COND_FOREVER:
 * no limit): 0 when woken (perhaps spuriously: re-check and wait again),
 * -ETIMEDOUT once the deadline passed. */
int cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, uint64_t deadline_ns);
