#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <pthread.h>

static void *thr(void *a)
{
        return a;
}

static void test_json(void **state)
{
        struct json_object *o = json_tokener_parse("{\"a\":1}");
        assert_non_null(o);
        assert_int_equal(json_object_get_int(json_object_object_get(o, "a")), 1);
        json_object_put(o);
        pthread_t t;
        void *r = NULL;
        assert_int_equal(pthread_create(&t, NULL, thr, (void *) 7), 0);
        pthread_join(t, &r);
        assert_ptr_equal(r, (void *) 7);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_json)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
