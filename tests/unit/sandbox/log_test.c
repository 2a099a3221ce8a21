/* CRI log files: full lines, partial chunks, long lines cut into P records,
 * trailing partials on flush, reopen after rotation. Portable: runs on
 * Linux and, built with mingw-w64, under Wine (the same format code over
 * log_win.c's file). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifdef _WIN32
#include <windows.h>

#include "common/utf16.h"
#endif

#include "common/platform.h"
#include "sandbox/log.h"

static char *dir;
static char path[512];

/* rename() and remove() of UTF-8 paths: msvcrt's take the ANSI code page. */
static int file_rename(const char *from, const char *to)
{
#ifdef _WIN32
        wchar_t *a = NULL, *b = NULL;
        int r = -1;

        if (utf8_to_wide(from, UTF16_PATH_MAX, &a) == 0 &&
            utf8_to_wide(to, UTF16_PATH_MAX, &b) == 0)
                r = MoveFileW(a, b) ? 0 : -1;
        free(a);
        free(b);
        return r;
#else
        return rename(from, to);
#endif
}

static void file_remove(const char *p)
{
#ifdef _WIN32
        wchar_t *w = NULL;

        if (utf8_to_wide(p, UTF16_PATH_MAX, &w) == 0)
                DeleteFileW(w);
        free(w);
#else
        remove(p);
#endif
}

static int setup(void **state)
{
        /* Not ASCII: the path crosses the UTF-16 edge on Windows. */
        assert_int_equal(plat_mkdtemp("crilog-test-\xc3\xa9t\xc3\xa9-", &dir), 0);
        snprintf(path, sizeof(path), "%s/c.log", dir);
        return 0;
}

static int teardown(void **state)
{
        plat_rm_rf(dir);
        free(dir);
        return 0;
}

/* Split the file at p into records; check each is "<ts> <stream> <tag> <text>". */
static size_t read_records_at(const char *p, char ***ret)
{
        char *buf = NULL, *line, *nl;
        char **v = calloc(4096, sizeof(char *));
        size_t n = 0;

        assert_int_equal(plat_read_file(p, 64 << 20, &buf, NULL), 0);
        for (line = buf; *line; line = nl + 1) {
                nl = strchr(line, '\n');
                assert_non_null(nl); /* every record ends its line */
                *nl = '\0';
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

static size_t read_records(char ***ret)
{
        return read_records_at(path, ret);
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

        file_remove(path);
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

static void test_flush_then_more(void **state)
{
        struct crilog *l = NULL;
        char **rec;

        file_remove(path);
        assert_int_equal(crilog_open(path, &l, NULL), 0);
        crilog_write(l, DRV_STDERR, "a\r\nb", 4);
        assert_int_equal(crilog_flush(l), 0);
        assert_int_equal(crilog_flush(l), 0); /* nothing pending: nothing written */
        crilog_write(l, DRV_STDERR, "c\n", 2);
        crilog_free(l);
        assert_int_equal(read_records(&rec), 3);
        assert_string_equal(rec[0], "stderr F a\r"); /* bytes as written */
        assert_string_equal(rec[1], "stderr P b");
        assert_string_equal(rec[2], "stderr F c");
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
        file_remove(path);
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

/* A line of exactly the limit: a full P record, then its end as an empty F
 * (the kubelet joins them into the line). */
static void test_line_at_limit(void **state)
{
        char *big = malloc(CRILOG_MAX_LINE + 1);
        struct crilog *l = NULL;
        char **rec;

        memset(big, 'y', CRILOG_MAX_LINE);
        big[CRILOG_MAX_LINE] = '\n';
        file_remove(path);
        assert_int_equal(crilog_open(path, &l, NULL), 0);
        assert_int_equal(crilog_write(l, DRV_STDOUT, big, CRILOG_MAX_LINE + 1), 0);
        crilog_free(l);
        assert_int_equal(read_records(&rec), 2);
        assert_int_equal(strlen(rec[0]), 9 + CRILOG_MAX_LINE);
        assert_memory_equal(rec[0], "stdout P yyy", 12);
        assert_string_equal(rec[1], "stdout F ");
        free_records(rec);
        free(big);
}

static void test_reopen(void **state)
{
        char rotated[600];
        struct crilog *l = NULL;
        struct uvm_error *err = NULL;
        char **rec;

        file_remove(path);
        snprintf(rotated, sizeof(rotated), "%s.1", path);
        file_remove(rotated);
        assert_int_equal(crilog_open(path, &l, NULL), 0);
        crilog_write(l, DRV_STDOUT, "before\nhalf", 11);
        /* Renamed while open, as the kubelet rotates. */
        assert_int_equal(file_rename(path, rotated), 0);
        assert_int_equal(crilog_reopen(l, &err), 0);
        crilog_write(l, DRV_STDOUT, "after\n", 6);
        crilog_free(l);
        assert_int_equal(read_records(&rec), 1);
        assert_string_equal(rec[0], "stdout F after");
        free_records(rec);
        /* The partial line was flushed into the old file before the switch. */
        assert_int_equal(read_records_at(rotated, &rec), 2);
        assert_string_equal(rec[0], "stdout F before");
        assert_string_equal(rec[1], "stdout P half");
        free_records(rec);
}

static void test_appends(void **state)
{
        struct crilog *a = NULL, *b = NULL;
        char **rec;

        file_remove(path);
        assert_int_equal(crilog_open(path, &a, NULL), 0);
        assert_int_equal(crilog_open(path, &b, NULL), 0);
        crilog_write(a, DRV_STDOUT, "one\n", 4);
        crilog_write(b, DRV_STDOUT, "two\n", 4);
        crilog_write(a, DRV_STDOUT, "three\n", 6);
        crilog_free(a);
        crilog_free(b);
        assert_int_equal(read_records(&rec), 3);
        assert_string_equal(rec[0], "stdout F one");
        assert_string_equal(rec[1], "stdout F two");
        assert_string_equal(rec[2], "stdout F three");
        free_records(rec);
}

static void test_open_errors(void **state)
{
        struct crilog *l = NULL;
        struct uvm_error *err = NULL;
        char bad[600];

        snprintf(bad, sizeof(bad), "%s/missing/c.log", dir);
        assert_int_equal(crilog_open(bad, &l, &err), -ENOENT);
        assert_null(l);
        assert_non_null(strstr(err->msg, "missing/c.log"));
        err = uvm_error_free(err);
        /* A directory is not a log file. */
        assert_true(crilog_open(dir, &l, &err) < 0);
        assert_null(l);
        err = uvm_error_free(err);
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
                cmocka_unit_test(test_flush_then_more),
                cmocka_unit_test(test_long_line),
                cmocka_unit_test(test_line_at_limit),
                cmocka_unit_test(test_reopen),
                cmocka_unit_test(test_appends),
                cmocka_unit_test(test_open_errors),
                cmocka_unit_test(test_timestamp),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
