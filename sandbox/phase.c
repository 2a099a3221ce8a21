/* Per-phase timing of sandbox calls (phase.h). */

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "sandbox/phase.h"

static phase_sink_fn sink; /* atomic */

void phase_set_sink(phase_sink_fn fn)
{
        __atomic_store_n(&sink, fn, __ATOMIC_RELEASE);
}

void phase_start(struct phase_clock *pc, const char *op)
{
        *pc = (struct phase_clock){.op = op};
        pc->start_ns = pc->last_ns = plat_now_ns();
}

void phase_add(struct phase_clock *pc, const char *name, uint64_t ns)
{
        size_t i = 0;

        while (i < pc->n && !STR_EQ(pc->v[i].name, name))
                i++;
        if (i == pc->n && pc->n < PHASE_MAX)
                pc->v[pc->n++].name = name;
        else if (i == pc->n)
                i = PHASE_MAX - 1; /* full: the last phase takes it */
        pc->v[i].ns += ns;
}

void phase_mark(struct phase_clock *pc, const char *name)
{
        uint64_t now = plat_now_ns();

        phase_add(pc, name, now - pc->last_ns);
        pc->last_ns = now;
}

uint64_t phase_ns(const struct phase_clock *pc, const char *name)
{
        for (size_t i = 0; i < pc->n; i++)
                if (STR_EQ(pc->v[i].name, name))
                        return pc->v[i].ns;
        return 0;
}

uint64_t phase_elapsed(const struct phase_clock *pc)
{
        return plat_now_ns() - pc->start_ns;
}

char *phase_format(const struct phase_clock *pc, char *buf, size_t len)
{
        size_t at = 0;

        if (len > 0)
                buf[0] = '\0';
        for (size_t i = 0; i < pc->n && at < len; i++) {
                int w = snprintf(buf + at, len - at, "%s%s %.1f", i ? ", " : "", pc->v[i].name,
                                 (double) pc->v[i].ns / 1e6);
                if (w < 0)
                        break;
                at += (size_t) w;
        }
        return buf;
}

void phase_done(const struct phase_clock *pc, const char *pod_id, const char *ctr_id, bool ok)
{
        uint64_t total = phase_elapsed(pc);
        phase_sink_fn fn = __atomic_load_n(&sink, __ATOMIC_ACQUIRE);
        char buf[256];

        /* The log line's pod= and ctr= fields name the object. */
        if (log_enabled(LOG_LEVEL_DEBUG))
                log_ctr(LOG_LEVEL_DEBUG, pod_id, ctr_id, "%s %s in %.1f ms: %s", pc->op,
                        ok ? "done" : "failed", (double) total / 1e6,
                        phase_format(pc, buf, sizeof(buf)));
        if (!ok || !fn)
                return;
        for (size_t i = 0; i < pc->n; i++)
                fn(pc->op, pc->v[i].name, pc->v[i].ns);
        fn(pc->op, "total", total);
}
