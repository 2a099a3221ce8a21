/* Pod and container state machines: every allowed move, every refused one. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "sandbox/state.h"

static char last_log[512];

static void sink(const char *record, size_t len, void *userdata)
{
        snprintf(last_log, sizeof(last_log), "%.*s", (int) len, record);
}

static int setup(void **state)
{
        log_setup(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
        log_set_sink(sink, NULL);
        return 0;
}

static void test_pod_table(void **state)
{
        /* from \ to: creating ready notready */
        static const bool want[_POD_STATE_MAX][_POD_STATE_MAX] = {
                {true, true, true},
                {false, true, true},
                {false, false, true},
        };

        for (int f = 0; f < _POD_STATE_MAX; f++)
                for (int t = 0; t < _POD_STATE_MAX; t++)
                        assert_int_equal(pod_state_allowed(f, t), want[f][t]);
        assert_false(pod_state_allowed(-1, POD_READY));
        assert_false(pod_state_allowed(POD_READY, _POD_STATE_MAX));
}

static void test_ctr_table(void **state)
{
        /* from \ to: created running exited unknown */
        static const bool want[_CTR_STATE_MAX][_CTR_STATE_MAX] = {
                {true, true, true, true},
                {false, true, true, true},
                {false, false, true, false},
                {true, true, true, true},
        };

        for (int f = 0; f < _CTR_STATE_MAX; f++)
                for (int t = 0; t < _CTR_STATE_MAX; t++)
                        assert_int_equal(ctr_state_allowed(f, t), want[f][t]);
}

static void test_pod_change_logs(void **state)
{
        struct uvm_error *err = NULL;
        enum pod_state s = POD_CREATING;

        last_log[0] = 0;
        assert_int_equal(pod_state_change("abc", &s, POD_READY, &err), 0);
        assert_int_equal(s, POD_READY);
        assert_non_null(strstr(last_log, "pod abc: creating -> ready"));
        last_log[0] = 0;
        assert_int_equal(pod_state_change("abc", &s, POD_READY, &err), 0);
        assert_string_equal(last_log, ""); /* no change, no record */
        assert_int_equal(pod_state_change("abc", &s, POD_NOTREADY, &err), 0);
        assert_int_equal(pod_state_change("abc", &s, POD_READY, &err), -EBUSY);
        assert_int_equal(s, POD_NOTREADY);
        assert_non_null(err);
        assert_string_equal(err->msg, "pod abc is notready, it cannot become ready");
        uvm_error_free(err);
}

static void test_ctr_change_refused(void **state)
{
        struct uvm_error *err = NULL;
        enum ctr_state s = CTR_CREATED;

        assert_int_equal(ctr_state_change("p", "c", &s, CTR_RUNNING, &err), 0);
        assert_non_null(strstr(last_log, "container c: created -> running"));
        assert_int_equal(ctr_state_change("p", "c", &s, CTR_EXITED, &err), 0);
        assert_int_equal(ctr_state_change("p", "c", &s, CTR_RUNNING, &err), -EBUSY);
        assert_int_equal(s, CTR_EXITED);
        assert_string_equal(err->msg, "container c is exited, it cannot become running");
        uvm_error_free(err);
}

static void test_strings(void **state)
{
        enum pod_state p;
        enum ctr_state c;

        for (int i = 0; i < _POD_STATE_MAX; i++) {
                assert_int_equal(pod_state_from_string(pod_state_to_string(i), &p), 0);
                assert_int_equal(p, i);
        }
        for (int i = 0; i < _CTR_STATE_MAX; i++) {
                assert_int_equal(ctr_state_from_string(ctr_state_to_string(i), &c), 0);
                assert_int_equal(c, i);
        }
        assert_int_equal(pod_state_from_string("READY", &p), -EINVAL);
        assert_int_equal(ctr_state_from_string(NULL, &c), -EINVAL);
        assert_string_equal(pod_state_to_string(99), "invalid");
        assert_string_equal(ctr_state_to_string(-1), "invalid");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pod_table),       cmocka_unit_test(test_ctr_table),
                cmocka_unit_test(test_pod_change_logs), cmocka_unit_test(test_ctr_change_refused),
                cmocka_unit_test(test_strings),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
