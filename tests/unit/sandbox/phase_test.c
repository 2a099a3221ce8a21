/* Per-phase timing (sandbox/phase.h): marks, additions, the text, the
 * debug line and what reaches the sink. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/log.h"
#include "sandbox/phase.h"

#define MS 1000000ull

static void sleep_ms(long ms)
{
        struct timespec ts = {0, ms * 1000000L};

        while (nanosleep(&ts, &ts) < 0)
                ;
}

static void test_marks_add_up(void **state)
{
        struct phase_clock pc;

        (void) state;
        phase_start(&pc, "run_pod");
        sleep_ms(3);
        phase_mark(&pc, "netns");
        phase_mark(&pc, "cni");
        sleep_ms(2);
        phase_mark(&pc, "netns"); /* again: adds to the first */
        assert_int_equal(pc.n, 2);
        assert_true(phase_ns(&pc, "netns") >= 5 * MS);
        assert_true(phase_ns(&pc, "cni") < 3 * MS);
        assert_int_equal(phase_ns(&pc, "driver"), 0);
        /* Every mark is charged once: the phases make up the elapsed time. */
        assert_true(phase_ns(&pc, "netns") + phase_ns(&pc, "cni") <= phase_elapsed(&pc));
        /* Added time does not move the clock. */
        phase_add(&pc, "cni", 40 * MS);
        phase_mark(&pc, "record");
        assert_true(phase_ns(&pc, "record") < 3 * MS);
        assert_true(phase_ns(&pc, "cni") >= 40 * MS);
}

static void test_full_clock_charges_last(void **state)
{
        static const char *const names[] = {"a", "b", "c", "d", "e", "f", "g",
                                            "h", "i", "j", "k", "l", "m", "n"};
        struct phase_clock pc;

        (void) state;
        phase_start(&pc, "op");
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                phase_add(&pc, names[i], MS);
        assert_int_equal(pc.n, PHASE_MAX);
        assert_int_equal(phase_ns(&pc, "a"), MS);
        assert_int_equal(phase_ns(&pc, "m"), 0);
        /* The 12th and the two past the end: none is lost. */
        assert_int_equal(phase_ns(&pc, "l"), 3 * MS);
}

static void test_format(void **state)
{
        struct phase_clock pc;
        char buf[64], small[12];

        (void) state;
        phase_start(&pc, "run_pod");
        assert_string_equal(phase_format(&pc, buf, sizeof(buf)), "");
        phase_add(&pc, "netns", 3140000);
        phase_add(&pc, "cni", 40249000);
        phase_add(&pc, "record", 0);
        assert_string_equal(phase_format(&pc, buf, sizeof(buf)), "netns 3.1, cni 40.2, record 0.0");
        /* Cut at the buffer, still terminated. */
        assert_string_equal(phase_format(&pc, small, sizeof(small)), "netns 3.1, ");
        assert_int_equal(strlen(small), sizeof(small) - 1);
}

static struct {
        char op[32][32], phase[32][32];
        unsigned long long ns[32];
        size_t n;
} seen;

static void sink(const char *op, const char *phase, uint64_t ns)
{
        if (seen.n == 32)
                return;
        snprintf(seen.op[seen.n], sizeof(seen.op[0]), "%s", op);
        snprintf(seen.phase[seen.n], sizeof(seen.phase[0]), "%s", phase);
        seen.ns[seen.n++] = ns;
}

static char logged[1024];

static void log_sink(const char *rec, size_t len, void *data)
{
        (void) data;
        snprintf(logged, sizeof(logged), "%.*s", (int) len, rec);
}

static void test_done_logs_and_sinks(void **state)
{
        struct phase_clock pc;

        (void) state;
        log_setup(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
        log_set_sink(log_sink, NULL);
        phase_set_sink(sink);
        memset(&seen, 0, sizeof(seen));
        phase_start(&pc, "create_container");
        phase_add(&pc, "spec", 2 * MS);
        phase_add(&pc, "driver", 30 * MS);
        phase_done(&pc, "p1", "c1", true);
        assert_non_null(strstr(logged, "pod=p1 ctr=c1 create_container done in "));
        assert_non_null(strstr(logged, " ms: spec 2.0, driver 30.0\n"));
        assert_int_equal(seen.n, 3);
        assert_string_equal(seen.op[0], "create_container");
        assert_string_equal(seen.phase[0], "spec");
        assert_int_equal(seen.ns[0], 2 * MS);
        assert_string_equal(seen.phase[1], "driver");
        assert_int_equal(seen.ns[1], 30 * MS);
        assert_string_equal(seen.phase[2], "total");

        /* A failed call is logged, never observed. */
        memset(&seen, 0, sizeof(seen));
        phase_start(&pc, "run_pod");
        phase_add(&pc, "cni", MS);
        phase_done(&pc, "p2", NULL, false);
        assert_non_null(strstr(logged, "pod=p2 run_pod failed in "));
        assert_int_equal(seen.n, 0);

        /* No sink: nothing observed, still logged. */
        phase_set_sink(NULL);
        logged[0] = '\0';
        phase_start(&pc, "stop_pod");
        phase_done(&pc, "p3", NULL, true);
        assert_int_equal(seen.n, 0);
        assert_non_null(strstr(logged, "pod=p3 stop_pod done in "));
        log_set_sink(NULL, NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_marks_add_up),
                cmocka_unit_test(test_full_clock_charges_last),
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_done_logs_and_sinks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
