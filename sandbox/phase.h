#pragma once

/*
 * Per-phase timing of a sandbox call (RunPodSandbox, CreateContainer, ...):
 * a stopwatch that charges the time since its last mark to the phase named,
 * then one debug line per call and, through a process-wide sink, a
 * histogram (service/metrics_uvmd.c: uvmd_phase_duration_seconds).
 *
 *      struct phase_clock pc;
 *
 *      phase_start(&pc, "run_pod");
 *      netns_create(...);
 *      phase_mark(&pc, "netns");
 *      ...
 *      phase_done(&pc, pod_id, NULL, r >= 0);
 *
 * Names are static strings (labels of a bounded set). Not thread-safe: one
 * clock per call; a phase timed on another thread is added with phase_add.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PHASE_MAX 12

struct phase_clock {
        const char *op; /* "run_pod", "create_container", ... */
        uint64_t start_ns, last_ns;
        size_t n;
        struct {
                const char *name;
                uint64_t ns;
        } v[PHASE_MAX];
};

void phase_start(struct phase_clock *pc, const char *op);
/* The time since the last mark (or the start) goes to name; marking a name
 * again adds to it. Past PHASE_MAX names the time goes to the last one. */
void phase_mark(struct phase_clock *pc, const char *name);
/* Add ns to name without moving the clock: a phase that ran alongside. */
void phase_add(struct phase_clock *pc, const char *name, uint64_t ns);
/* ns charged to name so far (0: none). */
uint64_t phase_ns(const struct phase_clock *pc, const char *name);
/* From phase_start to now. */
uint64_t phase_elapsed(const struct phase_clock *pc);
/* "netns 3.1, cni 40.2" (ms, one decimal), cut at len; returns buf. */
char *phase_format(const struct phase_clock *pc, char *buf, size_t len);
/* The call ended: one debug line, in the pod's (and container's) context,
 * which names them: "run_pod done in 71.2 ms: netns 3.1, ..." ("failed"
 * when !ok); on success each phase and "total" go to the sink. */
void phase_done(const struct phase_clock *pc, const char *pod_id, const char *ctr_id, bool ok);

/* Where successful calls' phases go (NULL: nowhere). Set once at start-up. */
typedef void (*phase_sink_fn)(const char *op, const char *phase, uint64_t ns);
void phase_set_sink(phase_sink_fn fn);
