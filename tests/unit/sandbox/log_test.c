/* CRI log files: full lines, partial chunks, long lines cut into P records,
 * trailing partials on flush, reopen after rotation. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/fs.h"
#include "sandbox/log.h"

static char dir[] = "/tmp/crilog-test-XXXXXX";
static char path[256];

static int setup(void **state)
{
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/c.log", dir);
        return 0;
}

static int teardown(void **state)
{
        fs_rm_rf(dir);
        return 0;
}

/* Split the file into records; check each is "<ts> <stream> <tag> <text>". */
static size_t read_records(char ***ret)
{
        char *buf = NULL, *save = NULL;
        char **v = calloc(4096, sizeof(char *));
        size_t n = 0;

        assert_int_equal(fs_read_file(path, 64 << 20, &buf, NULL), 0);
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                /* 2026-11-22T10:51:25.123456789Z */
                assert_true(strlen(line) >= 31);
                assert_int_equal(line[4], '-');
                assert_int_equal(line[10], 'T');
                assert_int_equal(line[19], '.');
                assert_int_equal(line[29], 'Z');
                assert_int_equal(line[30], ' ');
                v[n++] = strdup(line + 31);
        }
        free(buf);
        *ret = v;
        return n;
}

static void free_records(char **v)
{
        for (size_t i = 0; v[i]; i++)
                free(v[i]);
        free(v);
}

static void test_lines_and_partials(void **state)
{
        struct crilog *l = NULL;
        char **rec;

        unlink(path);
        assert_int_equal(crilog_open(path, &l, NULL), 0);
        crilog_write(l, DRV_STDOUT, "hel", 3);
        crilog_write(l, DRV_STDERR, "oops\n", 5);
        crilog_write(l, DRV_STDOUT, "lo\nworld\n\ntail", 14);
        crilog_free(l);
        assert_int_equal(read_records(&rec), 5);
        assert_string_equal(rec[0], "stderr F oops");
        assert_string_equal(rec[1], "stdout F hello");
        assert_string_equal(rec[2], "stdout F world");
        assert_string_equal(rec[3], "stdout F ");
        assert_string_equal(rec[4], "stdout P tail");
        free_records(rec);
}

static void test_long_line(void **state)
{
        size_t n = CRILOG_MAX_LINE * 2 + 10;
        char *big = malloc(n + 1);
        struct crilog *l = NULL;
        char **rec;

        memset(big, 'x', n);
        big[n] = '\n';
        unlink(path);
        assert_int_equal(crilog_open(path, &l, NULL), 0);
        /* In odd-sized chunks, as a pipe would deliver it. */
        for (size_t off = 0; off < n + 1; off += 1000)
                crilog_write(l, DRV_STDOUT, big + off, off + 1000 > n + 1 ? n + 1 - off : 1000);
        crilog_free(l);
        assert_int_equal(read_records(&rec), 3);
        assert_int_equal(strlen(rec[0]), 9 + CRILOG_MAX_LINE);
        assert_memory_equal(rec[0], "stdout P ", 9);
        assert_memory_equal(rec[1], "stdout P ", 9);
        assert_string_equal(rec[2], "stdout F xxxxxxxxxx");
        free_records(rec);
        free(big);
}

static void test_reopen(void **state)
{
        char rotated[300];
        struct crilog *l = NULL;
        struct uvm_error *err = NULL;
        char **rec;

        unlink(path);
        snprintf(rotated, sizeof(rotated), "%s.1", path);
        assert_int_equal(crilog_open(path, &l, NULL), 0);
        crilog_write(l, DRV_STDOUT, "before\nhalf", 11);
        assert_int_equal(rename(path, rotated), 0);
        assert_int_equal(crilog_reopen(l, &err), 0);
        crilog_write(l, DRV_STDOUT, "after\n", 6);
        crilog_free(l);
        assert_int_equal(read_records(&rec), 1);
        assert_string_equal(rec[0], "stdout F after");
        free_records(rec);
        /* The partial line was flushed into the old file before the switch. */
        assert_int_equal(rename(rotated, path), 0);
        assert_int_equal(read_records(&rec), 2);
        assert_string_equal(rec[1], "stdout P half");
        free_records(rec);
}

static void test_open_errors(void **state)
{
        struct crilog *l = NULL;
        struct uvm_error *err = NULL;
        char bad[300];

        snprintf(bad, sizeof(bad), "%s/missing/c.log", dir);
        assert_int_equal(crilog_open(bad, &l, &err), -ENOENT);
        assert_null(l);
        assert_non_null(strstr(err->msg, "missing/c.log"));
        uvm_error_free(err);
}

static void test_timestamp(void **state)
{
        char buf[64];

        crilog_timestamp(1700000000123456789ll, buf, sizeof(buf));
        assert_string_equal(buf, "2023-11-14T22:13:20.123456789Z");
        crilog_timestamp(0, buf, sizeof(buf));
        assert_string_equal(buf, "1970-01-01T00:00:00.000000000Z");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lines_and_partials),
                cmocka_unit_test(test_long_line),
                cmocka_unit_test(test_reopen),
                cmocka_unit_test(test_open_errors),
                cmocka_unit_test(test_timestamp),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
