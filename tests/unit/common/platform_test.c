/* common/platform.h, for real in a temp directory: built and run on Linux
 * and, with --config=mingw, under Wine (bazel/test-windows.sh). */

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/macros.h"
#include "common/platform.h"

struct fixture {
        char *dir;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(plat_mkdtemp("plat-test-", &f->dir), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(plat_rm_rf(f->dir), 0);
        free(f->dir);
        free(f);
        return 0;
}

static char *path_in(const struct fixture *f, const char *name)
{
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", f->dir, name) > 0);
        return p;
}

static void put_file(const char *path, const char *content)
{
        FILE *fp = fopen(path, "wb");

        assert_non_null(fp);
        assert_int_equal(fwrite(content, 1, strlen(content), fp), strlen(content));
        assert_int_equal(fclose(fp), 0);
}

static int file_kind(const char *path)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return 0;
        return S_ISDIR(st.st_mode) ? 'd' : 'f';
}

static size_t count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (!STR_EQ(de->d_name, ".") && !STR_EQ(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void test_clocks(void **state)
{
        uint64_t a = plat_now_ns(), b, wall = plat_realtime_ns();
        struct timespec ts = {.tv_nsec = 20 * 1000 * 1000};
        int64_t skew = (int64_t) (wall / 1000000000ull) - (int64_t) time(NULL);

        /* The wall clock agrees with time() to within a few seconds. */
        assert_true(skew > -5 && skew < 5);
        for (int i = 0; i < 1000; i++) {
                b = plat_now_ns();
                assert_true(b >= a);
                a = b;
        }
        assert_int_equal(nanosleep(&ts, NULL), 0);
        b = plat_now_ns();
        assert_true(b - a >= 15 * 1000 * 1000ull);
        assert_true(b - a < 10 * 1000 * 1000 * 1000ull);
        assert_true(plat_realtime_ns() >= wall);
}

static void test_random(void **state)
{
        unsigned char a[32] = {0}, b[32] = {0}, zero[32] = {0};
        size_t big = 1 << 20;
        _cleanup_free_ unsigned char *buf = calloc(1, big);

        assert_int_equal(plat_random(a, sizeof(a)), 0);
        assert_int_equal(plat_random(b, sizeof(b)), 0);
        assert_memory_not_equal(a, b, sizeof(a));
        assert_memory_not_equal(a, zero, sizeof(a));
        assert_int_equal(plat_random(a, 0), 0);
        /* A large request is filled to its end (getrandom returns short
         * counts above 256 bytes). */
        assert_non_null(buf);
        assert_int_equal(plat_random(buf, big), 0);
        assert_memory_not_equal(buf + big - sizeof(zero), zero, sizeof(zero));
}

static void test_host_cpus(void **state)
{
        unsigned n = plat_host_cpus();

        assert_true(n >= 1 && n <= 4096);
}

static void test_write_atomic_replaces(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *p = path_in(f, "record.json");
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;

        assert_int_equal(plat_write_file_atomic(p, "first version, long", 19, 0600), 0);
        assert_int_equal(plat_read_file(p, 100, &buf, &len), 0);
        assert_int_equal(len, 19);
        assert_string_equal(buf, "first version, long");
        free(TAKE_PTR(buf));

        /* Over an existing file: the new content whole, nothing of the old. */
        assert_int_equal(plat_write_file_atomic(p, "v2", 2, 0600), 0);
        assert_int_equal(plat_read_file(p, 100, &buf, &len), 0);
        assert_int_equal(len, 2);
        assert_string_equal(buf, "v2");
        free(TAKE_PTR(buf));

        /* Empty content is a valid file. */
        assert_int_equal(plat_write_file_atomic(p, "", 0, 0600), 0);
        assert_int_equal(plat_read_file(p, 100, &buf, &len), 0);
        assert_int_equal(len, 0);
        /* No temp file left behind. */
        assert_int_equal(count_entries(f->dir), 1);
}

static void test_write_atomic_errors(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *missing = path_in(f, "no-such-dir/file");
        _cleanup_free_ char *dir = path_in(f, "a-dir");

        assert_int_equal(plat_write_file_atomic(missing, "x", 1, 0600), -ENOENT);
        assert_int_equal(plat_write_file_atomic("", "x", 1, 0600), -EINVAL);
        assert_int_equal(plat_write_file_atomic(dir, NULL, 1, 0600), -EINVAL);
        /* A directory in the way is not replaced by a file. */
        assert_int_equal(plat_mkdir_p(dir, 0700), 0);
        assert_true(plat_write_file_atomic(dir, "x", 1, 0600) < 0);
        assert_int_equal(file_kind(dir), 'd');
        assert_int_equal(count_entries(f->dir), 1);
}

static void test_read_bounded(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *p = path_in(f, "data");
        _cleanup_free_ char *missing = path_in(f, "missing");
        _cleanup_free_ char *big = malloc(10000);
        char *buf = (char *) 0x1;
        size_t len = 7;

        assert_non_null(big);
        memset(big, 'x', 10000);
        big[5000] = '\0'; /* binary content: the length, not strlen, counts */
        assert_int_equal(plat_write_file_atomic(p, big, 10000, 0600), 0);
        assert_int_equal(plat_read_file(p, 9999, &buf, &len), -EFBIG);
        assert_ptr_equal(buf, (char *) 0x1); /* untouched on failure */
        assert_int_equal(len, 7);
        assert_int_equal(plat_read_file(p, 10000, &buf, &len), 0);
        assert_int_equal(len, 10000);
        assert_memory_equal(buf, big, 10000);
        assert_int_equal(buf[10000], '\0');
        free(buf);
        assert_int_equal(plat_read_file(p, 0, &buf, NULL), -EFBIG);
        assert_int_equal(plat_read_file(missing, 100, &buf, NULL), -ENOENT);
}

static void test_fopen_read(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *p = path_in(f, "blob");
        _cleanup_free_ char *missing = path_in(f, "missing");
        char buf[16] = {0};
        FILE *fp = NULL;

        /* Binary: "\r\n" and "\x1a" come back as they are on Windows too. */
        assert_int_equal(plat_write_file_atomic(p,
                                                "a\r\nb\x1a"
                                                "c",
                                                6, 0600),
                         0);
        assert_int_equal(plat_fopen_read(p, &fp), 0);
        assert_int_equal(fread(buf, 1, sizeof(buf), fp), 6);
        assert_memory_equal(buf,
                            "a\r\nb\x1a"
                            "c",
                            6);
        assert_int_equal(fclose(fp), 0);
        fp = NULL;
        assert_int_equal(plat_fopen_read(missing, &fp), -ENOENT);
        assert_int_equal(plat_fopen_read(f->dir, &fp), -EINVAL);
        assert_int_equal(plat_fopen_read("", &fp), -EINVAL);
        assert_null(fp);
#ifndef _WIN32
        {
                _cleanup_free_ char *fifo = path_in(f, "fifo");

                /* Refused at once, not blocked waiting for a writer. */
                assert_int_equal(mkfifo(fifo, 0600), 0);
                assert_int_equal(plat_fopen_read(fifo, &fp), -EINVAL);
        }
#endif
}

static void test_mkdir_p(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *nested = path_in(f, "a/b//c/d/");
        _cleanup_free_ char *d = path_in(f, "a/b/c/d");
        _cleanup_free_ char *file = path_in(f, "a/file");
        _cleanup_free_ char *under_file = path_in(f, "a/file/x");

        assert_int_equal(plat_mkdir_p(nested, 0755), 0);
        assert_int_equal(file_kind(d), 'd');
        assert_int_equal(plat_mkdir_p(d, 0755), 0); /* already there */
        put_file(file, "not a directory");
        assert_int_equal(plat_mkdir_p(file, 0755), -ENOTDIR);
        assert_int_equal(plat_mkdir_p(under_file, 0755), -ENOTDIR);
        assert_int_equal(plat_mkdir_p("", 0755), -EINVAL);
        assert_int_equal(file_kind(file), 'f');
}

static void test_utf8_names(void **state)
{
        struct fixture *f = *state;
        /* "déjà-vu/naïve.json": non-ASCII names survive the round trip
         * (UTF-16 at the Windows edge). */
        _cleanup_free_ char *dir = path_in(f, "d\xc3\xa9j\xc3\xa0-vu");
        _cleanup_free_ char *p = path_in(f, "d\xc3\xa9j\xc3\xa0-vu/na\xc3\xafve.json");
        _cleanup_free_ char *buf = NULL;

        assert_int_equal(plat_mkdir_p(dir, 0700), 0);
        assert_int_equal(plat_write_file_atomic(p, "{}", 2, 0600), 0);
        assert_int_equal(plat_read_file(p, 10, &buf, NULL), 0);
        assert_string_equal(buf, "{}");
        assert_int_equal(plat_rm_rf(dir), 0);
        assert_int_equal(count_entries(f->dir), 0);
#ifdef _WIN32
        /* Not UTF-8: refused, not mangled into some other name. */
        assert_int_equal(plat_mkdir_p("bad-\xff-name", 0700), -EINVAL);
#endif
}

struct seen {
        char names[8][64];
        bool dirs[8];
        size_t n;
};

static void see(void *data, const char *name, bool is_dir)
{
        struct seen *s = data;

        assert_true(s->n < 8);
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
        s->dirs[s->n++] = is_dir;
}

/* Each entry once, dot names left out, directories said; a missing
 * directory has none. */
static void test_dir_each(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *sub = path_in(f, "sub.d");
        _cleanup_free_ char *file = path_in(f, "na\xc3\xafve.json");
        _cleanup_free_ char *dot = path_in(f, ".hidden");
        _cleanup_free_ char *missing = path_in(f, "missing");
        struct seen s = {.n = 0};
        int got_file = -1, got_dir = -1;

        assert_int_equal(plat_mkdir_p(sub, 0700), 0);
        /* Not put_file: fopen takes the ANSI code page's names on Windows. */
        assert_int_equal(plat_write_file_atomic(file, "{}", 2, 0600), 0);
        put_file(dot, "x");
        assert_int_equal(plat_dir_each(f->dir, see, &s), 0);
        assert_int_equal(s.n, 2);
        for (size_t i = 0; i < s.n; i++) {
                if (STR_EQ(s.names[i], "sub.d"))
                        got_dir = s.dirs[i];
                else if (STR_EQ(s.names[i], "na\xc3\xafve.json"))
                        got_file = s.dirs[i];
        }
        assert_int_equal(got_dir, 1);
        assert_int_equal(got_file, 0);
        s.n = 0;
        assert_int_equal(plat_dir_each(missing, see, &s), 0);
        assert_int_equal(s.n, 0);
}

static void test_rm_rf(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *top = path_in(f, "tree");
        _cleanup_free_ char *deep = path_in(f, "tree/x/y/z");
        _cleanup_free_ char *f1 = path_in(f, "tree/one");
        _cleanup_free_ char *f2 = path_in(f, "tree/x/y/two");
        _cleanup_free_ char *ro = path_in(f, "tree/x/read-only");

        assert_int_equal(plat_mkdir_p(deep, 0755), 0);
        put_file(f1, "1");
        put_file(f2, "2");
        put_file(ro, "3");
        assert_int_equal(chmod(ro, 0444), 0);
        assert_int_equal(plat_rm_rf(top), 0);
        assert_int_equal(file_kind(top), 0);
        assert_int_equal(count_entries(f->dir), 0);
        assert_int_equal(plat_rm_rf(top), 0); /* gone already: fine */
        /* A single file. */
        put_file(top, "x");
        assert_int_equal(plat_rm_rf(top), 0);
        assert_int_equal(file_kind(top), 0);
        assert_int_equal(plat_rm_rf(""), -EINVAL);
}

#ifndef _WIN32
static void test_rm_rf_keeps_link_target(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *outside = path_in(f, "outside");
        _cleanup_free_ char *kept = path_in(f, "outside/kept");
        _cleanup_free_ char *top = path_in(f, "tree");
        _cleanup_free_ char *link = path_in(f, "tree/link");

        assert_int_equal(plat_mkdir_p(outside, 0755), 0);
        assert_int_equal(plat_mkdir_p(top, 0755), 0);
        put_file(kept, "keep me");
        assert_int_equal(symlink(outside, link), 0);
        assert_int_equal(plat_rm_rf(top), 0);
        assert_int_equal(file_kind(top), 0);
        assert_int_equal(file_kind(kept), 'f');
}
#endif

static void test_mkdtemp(void **state)
{
        _cleanup_free_ char *a = NULL, *b = NULL;
        char *none = NULL;

        assert_int_equal(plat_mkdtemp("plat-tmp-", &a), 0);
        assert_int_equal(plat_mkdtemp("plat-tmp-", &b), 0);
        assert_string_not_equal(a, b);
        assert_int_equal(file_kind(a), 'd');
        assert_int_equal(file_kind(b), 'd');
        assert_int_equal(plat_mkdtemp("bad/prefix", &none), -EINVAL);
        assert_null(none);
        assert_int_equal(plat_rm_rf(a), 0);
        assert_int_equal(plat_rm_rf(b), 0);
        assert_int_equal(file_kind(a), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_clocks),
                cmocka_unit_test(test_random),
                cmocka_unit_test(test_host_cpus),
                cmocka_unit_test_setup_teardown(test_write_atomic_replaces, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_atomic_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fopen_read, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
                cmocka_unit_test_setup_teardown(test_utf8_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dir_each, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rm_rf, setup, teardown),
#ifndef _WIN32
                cmocka_unit_test_setup_teardown(test_rm_rf_keeps_link_target, setup, teardown),
#endif
                cmocka_unit_test(test_mkdtemp),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
