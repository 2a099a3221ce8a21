/* The per-call arena and the descriptor index used by reflection. */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "service/arena.h"
#include "service/descdb.h"

extern const unsigned char uvmd_descriptor_set[];
extern const size_t uvmd_descriptor_set_len;

static void test_arena(void **state)
{
        struct arena a = {0};
        char *big, *s;
        int *small[100];

        for (int i = 0; i < 100; i++) {
                small[i] = arena_alloc(&a, sizeof(int) * 10);
                assert_non_null(small[i]);
                assert_int_equal(small[i][9], 0);
                small[i][0] = i;
        }
        big = arena_alloc(&a, 100000); /* larger than a chunk */
        assert_non_null(big);
        memset(big, 'x', 100000);
        for (int i = 0; i < 100; i++)
                assert_int_equal(small[i][0], i);
        s = arena_printf(&a, "%s-%d", "pod", 7);
        assert_string_equal(s, "pod-7");
        assert_string_equal(arena_strdup(&a, NULL), "");
        assert_int_equal((uintptr_t) arena_alloc(&a, 1) % sizeof(max_align_t), 0);
        arena_release(&a);
        assert_null(a.head);
}

static void test_descdb(void **state)
{
        struct descdb *db = NULL;
        size_t order[64];
        long f, g;
        size_t n;
        bool found_rt = false;

        assert_int_equal(descdb_new(uvmd_descriptor_set, uvmd_descriptor_set_len, &db, NULL), 0);
        f = descdb_find_file(db, "api.proto");
        assert_true(f >= 0);
        assert_int_equal(descdb_find_symbol(db, "runtime.v1.RuntimeService"), f);
        assert_int_equal(descdb_find_symbol(db, "runtime.v1.RuntimeService.Version"), f);
        assert_int_equal(descdb_find_symbol(db, "runtime.v1.VersionRequest"), f);
        assert_int_equal(descdb_find_symbol(db, "runtime.v1.VersionRequest.version"), f);
        assert_int_equal(descdb_find_symbol(db, "runtime.v1.PodSandboxState"), f);
        assert_int_equal(descdb_find_symbol(db, "runtime.v1.SANDBOX_READY"), f);
        assert_int_equal(descdb_find_symbol(db, "runtime.v1.Nope"), -1);
        g = descdb_find_symbol(db, "grpc.health.v1.Health");
        assert_true(g >= 0 && g != f);
        n = descdb_closure(db, (size_t) f, order);
        assert_true(n >= 1);
        assert_int_equal(order[0], f);
        for (size_t i = 0; i < descdb_n_services(db); i++)
                found_rt |= strcmp(descdb_service(db, i), "runtime.v1.RuntimeService") == 0;
        assert_true(found_rt);
        descdb_free(db);
        /* Garbage is refused, not crashed on. */
        assert_true(descdb_new((const uint8_t *) "\xff\xff\xff", 3, &db, NULL) < 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_arena),
                cmocka_unit_test(test_descdb),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
