/* The metrics registry: exact exposition text for a small registry,
 * escaping, histograms, refusals, concurrent updates; uvmd's families. */

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sandbox/phase.h"
#include "service/metrics.h"
#include "service/metrics_uvmd.h"

static char *expose(struct metrics_registry *r)
{
        char *text = NULL;
        size_t len = 0;

        assert_int_equal(metrics_expose(r, &text, &len), 0);
        assert_int_equal(strlen(text), len);
        return text;
}

static void test_exposition_exact(void **state)
{
        static const char *const method[] = {"method"};
        static const double buckets[] = {0.1, 1, 2.5};
        struct metrics_registry *r = metrics_registry_new();
        struct metrics_family *c, *g, *h;
        char *text;

        c = metrics_counter(r, "t_requests_total", "Requests.", method, 1);
        g = metrics_gauge(r, "t_temperature", "A gauge without labels.", NULL, 0);
        h = metrics_histogram(r, "t_duration_seconds", "Durations.", method, 1, buckets, 3);
        assert_non_null(c);
        assert_non_null(g);
        assert_non_null(h);
        /* Series come out sorted by label value, not in creation order. */
        metrics_add(metrics_series(c, (const char *[]){"b"}), 1);
        metrics_add(metrics_series(c, (const char *[]){"a"}), 2);
        metrics_add(metrics_series(c, (const char *[]){"b"}), 1);
        metrics_set(metrics_series(g, NULL), -1.5);
        metrics_observe(metrics_series(h, (const char *[]){"x"}), 0.05);
        metrics_observe(metrics_series(h, (const char *[]){"x"}), 1); /* le is inclusive */
        metrics_observe(metrics_series(h, (const char *[]){"x"}), 7);
        text = expose(r);
        assert_string_equal(text, "# HELP t_requests_total Requests.\n"
                                  "# TYPE t_requests_total counter\n"
                                  "t_requests_total{method=\"a\"} 2\n"
                                  "t_requests_total{method=\"b\"} 2\n"
                                  "# HELP t_temperature A gauge without labels.\n"
                                  "# TYPE t_temperature gauge\n"
                                  "t_temperature -1.5\n"
                                  "# HELP t_duration_seconds Durations.\n"
                                  "# TYPE t_duration_seconds histogram\n"
                                  "t_duration_seconds_bucket{method=\"x\",le=\"0.1\"} 1\n"
                                  "t_duration_seconds_bucket{method=\"x\",le=\"1\"} 2\n"
                                  "t_duration_seconds_bucket{method=\"x\",le=\"2.5\"} 2\n"
                                  "t_duration_seconds_bucket{method=\"x\",le=\"+Inf\"} 3\n"
                                  "t_duration_seconds_sum{method=\"x\"} 8.05\n"
                                  "t_duration_seconds_count{method=\"x\"} 3\n");
        free(text);
        metrics_registry_free(r);
}

static void test_escaping(void **state)
{
        static const char *const labels[] = {"path", "code"};
        struct metrics_registry *r = metrics_registry_new();
        struct metrics_family *c;
        char *text;

        c = metrics_counter(r, "t_total", "Help with \\ and\nnewline and \"quotes\".", labels, 2);
        metrics_add(metrics_series(c, (const char *[]){"a\"b\\c\nd", NULL}), 1);
        text = expose(r);
        /* HELP: backslash and newline escaped, quotes kept; label values:
         * all three escaped; a NULL value reads as "". */
        assert_string_equal(text, "# HELP t_total Help with \\\\ and\\nnewline and \"quotes\".\n"
                                  "# TYPE t_total counter\n"
                                  "t_total{path=\"a\\\"b\\\\c\\nd\",code=\"\"} 1\n");
        free(text);
        metrics_registry_free(r);
}

static void test_values(void **state)
{
        struct metrics_registry *r = metrics_registry_new();
        struct metrics_family *g = metrics_gauge(r, "t_g", "G.", (const char *[]){"k"}, 1);
        char *text;

        metrics_set(metrics_series(g, (const char *[]){"big"}), 1e21);
        metrics_set(metrics_series(g, (const char *[]){"inf"}), INFINITY);
        metrics_set(metrics_series(g, (const char *[]){"int"}), 123456789012.0);
        metrics_set(metrics_series(g, (const char *[]){"nan"}), NAN);
        metrics_set(metrics_series(g, (const char *[]){"tenth"}), 0.1);
        text = expose(r);
        assert_string_equal(text, "# HELP t_g G.\n# TYPE t_g gauge\n"
                                  "t_g{k=\"big\"} 1e+21\n"
                                  "t_g{k=\"inf\"} +Inf\n"
                                  "t_g{k=\"int\"} 123456789012\n"
                                  "t_g{k=\"nan\"} NaN\n"
                                  "t_g{k=\"tenth\"} 0.1\n");
        free(text);
        /* A reset gauge family keeps its series, at 0. */
        metrics_family_reset(g);
        text = expose(r);
        assert_non_null(strstr(text, "t_g{k=\"big\"} 0\n"));
        free(text);
        metrics_registry_free(r);
}

static void test_refusals(void **state)
{
        static const double good[] = {1, 2}, unsorted[] = {2, 1};
        struct metrics_registry *r = metrics_registry_new();

        assert_null(metrics_counter(r, "9bad", "x", NULL, 0));
        assert_null(metrics_counter(r, "bad-name", "x", NULL, 0));
        assert_null(metrics_counter(r, "t_ok", "x", (const char *[]){"__reserved"}, 1));
        assert_null(metrics_counter(r, "t_ok", "x", (const char *[]){"a", "a"}, 2));
        assert_null(metrics_histogram(r, "t_h", "x", (const char *[]){"le"}, 1, good, 2));
        assert_null(metrics_histogram(r, "t_h", "x", NULL, 0, unsorted, 2));
        assert_null(metrics_histogram(r, "t_h", "x", NULL, 0, good, 0));
        assert_non_null(metrics_counter(r, "t_ok", "x", NULL, 0));
        assert_null(metrics_gauge(r, "t_ok", "a second family of one name", NULL, 0));
        /* Updates through NULL do nothing. */
        metrics_add(metrics_series(NULL, NULL), 1);
        metrics_observe(NULL, 1);
        metrics_registry_free(r);
}

static int collected;

static void collector(void *data)
{
        collected++;
        metrics_set(metrics_series(data, NULL), collected);
}

static void test_collector(void **state)
{
        struct metrics_registry *r = metrics_registry_new();
        struct metrics_family *g = metrics_gauge(r, "t_scraped", "S.", NULL, 0);
        char *text;

        assert_int_equal(metrics_add_collector(r, collector, g), 0);
        text = expose(r);
        assert_string_equal(text, "# HELP t_scraped S.\n# TYPE t_scraped gauge\nt_scraped 1\n");
        free(text);
        text = expose(r);
        assert_non_null(strstr(text, "t_scraped 2\n"));
        free(text);
        metrics_registry_free(r);
}

static struct metrics_family *race_c, *race_h;

static void *racer(void *arg)
{
        for (int i = 0; i < 20000; i++) {
                metrics_add(metrics_series(race_c, (const char *[]){i % 2 ? "odd" : "even"}), 1);
                metrics_observe(metrics_series(race_h, NULL), 0.5);
        }
        return NULL;
}

static void test_concurrent_updates(void **state)
{
        static const double b[] = {1};
        struct metrics_registry *r = metrics_registry_new();
        pthread_t t[4];
        char *text;

        race_c = metrics_counter(r, "t_c_total", "C.", (const char *[]){"k"}, 1);
        race_h = metrics_histogram(r, "t_h_seconds", "H.", NULL, 0, b, 1);
        for (int i = 0; i < 4; i++)
                pthread_create(&t[i], NULL, racer, NULL);
        for (int i = 0; i < 4; i++)
                pthread_join(t[i], NULL);
        text = expose(r);
        assert_non_null(strstr(text, "t_c_total{k=\"even\"} 40000\n"));
        assert_non_null(strstr(text, "t_c_total{k=\"odd\"} 40000\n"));
        assert_non_null(strstr(text, "t_h_seconds_bucket{le=\"1\"} 80000\n"));
        assert_non_null(strstr(text, "t_h_seconds_sum 40000\n"));
        assert_non_null(strstr(text, "t_h_seconds_count 80000\n"));
        free(text);
        metrics_registry_free(r);
}

static void test_uvmd_families(void **state)
{
        char *text;

        metrics_rpc_done("/runtime.v1.RuntimeService/Version", NULL, 1000000);
        metrics_rpc_done("/runtime.v1.RuntimeService/ContainerStatus", "NOT_FOUND", 2000000);
        metrics_rpc_done(NULL, "UNIMPLEMENTED", 1000);
        metrics_ctr_created("c1", 3000000000u);
        assert_int_equal(metrics_ctr_started("c1", 1000000000u), 4000000000u);
        /* Started again (or never created): start alone. */
        assert_int_equal(metrics_ctr_started("c1", 5), 5);
        metrics_image_pull(false, 1000);
        text = expose(metrics_uvmd());
        assert_non_null(strstr(text, "uvmd_grpc_requests_total{method=\"/runtime.v1."
                                     "RuntimeService/Version\"} 1\n"));
        assert_non_null(strstr(text, "uvmd_grpc_errors_total{method=\"/runtime.v1.RuntimeService/"
                                     "ContainerStatus\",code=\"NOT_FOUND\"} 1\n"));
        assert_non_null(strstr(text, "uvmd_grpc_requests_total{method=\"unknown\"} 1\n"));
        assert_non_null(
                strstr(text, "uvmd_pod_start_duration_seconds_count{phase=\"container\"} 2\n"));
        assert_non_null(strstr(text, "uvmd_pod_start_duration_seconds_sum{phase=\"container\"} 4"));
        assert_non_null(
                strstr(text, "uvmd_pod_start_duration_seconds_count{phase=\"network\"} 0\n"));
        assert_non_null(strstr(text, "uvmd_image_pull_failures_total 1\n"));
        assert_non_null(strstr(text, "uvmd_image_pulls_total 1\n"));
        assert_non_null(strstr(text, "# TYPE uvmd_process_threads gauge\n"));
        free(text);
}

/* Sandbox call phases, from the phase clock through its sink. */
static void test_phase_histogram(void **state)
{
        struct phase_clock pc;
        char *text;

        (void) state;
        phase_set_sink(metrics_phase);
        phase_start(&pc, "run_pod");
        phase_add(&pc, "cni", 40000000);  /* 40 ms */
        phase_add(&pc, "record", 300000); /* 0.3 ms */
        phase_done(&pc, "p1", NULL, true);
        phase_start(&pc, "run_pod");
        phase_add(&pc, "cni", 1000000);
        phase_done(&pc, "p2", NULL, false); /* failed: not observed */
        phase_set_sink(NULL);
        text = expose(metrics_uvmd());
        assert_non_null(strstr(text, "# TYPE uvmd_phase_duration_seconds histogram\n"));
        assert_non_null(strstr(
                text, "uvmd_phase_duration_seconds_count{op=\"run_pod\",phase=\"cni\"} 1\n"));
        assert_non_null(strstr(
                text, "uvmd_phase_duration_seconds_sum{op=\"run_pod\",phase=\"cni\"} 0.04\n"));
        assert_non_null(strstr(text, "uvmd_phase_duration_seconds_bucket{op=\"run_pod\",phase="
                                     "\"cni\",le=\"0.025\"} 0\n"));
        assert_non_null(strstr(text, "uvmd_phase_duration_seconds_bucket{op=\"run_pod\",phase="
                                     "\"cni\",le=\"0.05\"} 1\n"));
        assert_non_null(strstr(text, "uvmd_phase_duration_seconds_bucket{op=\"run_pod\",phase="
                                     "\"record\",le=\"0.0005\"} 1\n"));
        assert_non_null(strstr(
                text, "uvmd_phase_duration_seconds_count{op=\"run_pod\",phase=\"total\"} 1\n"));
        free(text);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exposition_exact), cmocka_unit_test(test_escaping),
                cmocka_unit_test(test_values),           cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_collector),        cmocka_unit_test(test_concurrent_updates),
                cmocka_unit_test(test_uvmd_families),    cmocka_unit_test(test_phase_histogram),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
