/* The Windows-only parts of the service wrapper that need no service
 * process (tests/windows/service_test.sh drives a real one). */

#include <windows.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/log.h"
#include "service/windows/winsvc.h"
#include "service/windows/winsvc_log.h"

static void assert_err(struct uvm_error **err, int code, const char *part)
{
        assert_non_null(*err);
        if ((*err)->code != code || !strstr((*err)->msg, part))
                fail_msg("error %d '%s', wanted %d and '%s'", (*err)->code, (*err)->msg, code,
                         part);
        *err = uvm_error_free(*err);
}

/* A fresh absolute directory under the temp dir. */
static void temp_dir(char *buf, size_t size, const char *leaf)
{
        char tmp[MAX_PATH];

        assert_true(GetTempPathA(sizeof(tmp), tmp) > 0);
        snprintf(buf, size, "%swinsvc-test-%lu-%s", tmp, (unsigned long) GetCurrentProcessId(),
                 leaf);
}

static char *read_all(const char *path)
{
        FILE *f = fopen(path, "rb");
        char *buf = calloc(1, 65536);
        size_t n;

        assert_non_null(f);
        assert_non_null(buf);
        n = fread(buf, 1, 65535, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

static int count_lines(const char *s)
{
        int n = 0;

        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static void test_log_file(void **state)
{
        char dir[MAX_PATH], path[MAX_PATH];
        struct winsvc_log *l = NULL, *l2 = NULL;
        struct uvm_error *err = NULL;
        char *text;

        temp_dir(dir, sizeof(dir), "log");
        /* Two missing levels of directories are made. */
        snprintf(path, sizeof(path), "%s\\a\\b\\svc.log", dir);
        DeleteFileA(path); /* Wine reuses pids: a file of an earlier run */
        assert_int_equal(winsvc_log_open(path, NULL, &l, &err), 0);
        log_set_sink(winsvc_log_sink, l);
        log_info("first %d", 1);
        log_warn("second");
        log_debug("below the level, not written");
        log_set_sink(NULL, NULL);
        winsvc_log_close(l);
        /* Reopening appends. */
        assert_int_equal(winsvc_log_open(path, NULL, &l2, &err), 0);
        winsvc_log_sink("third\n", 6, l2);
        winsvc_log_close(l2);
        text = read_all(path);
        assert_int_equal(count_lines(text), 3);
        assert_non_null(strstr(text, " info  first 1\n"));
        assert_non_null(strstr(text, " warn  second\n"));
        assert_true(strstr(text, "first") < strstr(text, "second"));
        assert_non_null(strstr(text, "\nthird\n"));
        /* Each record starts with an ISO 8601 UTC timestamp. */
        assert_true(text[4] == '-' && text[10] == 'T' && strchr(text, 'Z') < strchr(text, ' ') + 1);
        free(text);
        DeleteFileA(path);
}

static void test_log_refusals(void **state)
{
        struct winsvc_log *l = (struct winsvc_log *) 0x1;
        struct uvm_error *err = NULL;
        char dir[MAX_PATH], path[MAX_PATH];
        FILE *f;

        assert_int_equal(winsvc_log_open("relative\\svc.log", NULL, &l, &err), -EINVAL);
        assert_err(&err, EINVAL, "not absolute");
        assert_int_equal(winsvc_log_open("C:\\x\".log", NULL, &l, &err), -EINVAL);
        assert_err(&err, EINVAL, "double quote");
        assert_int_equal(winsvc_log_open("C:\\x.log", "bad name", &l, &err), -EINVAL);
        assert_err(&err, EINVAL, "only letters");
        /* A file where a directory should be. */
        temp_dir(dir, sizeof(dir), "file");
        assert_non_null(f = fopen(dir, "w"));
        fclose(f);
        snprintf(path, sizeof(path), "%s\\svc.log", dir);
        assert_true(winsvc_log_open(path, NULL, &l, &err) < 0);
        assert_err(&err, err ? err->code : 0, "svc.log");
        assert_ptr_equal(l, (struct winsvc_log *) 0x1);
        DeleteFileA(dir);
}

static void test_event_type(void **state)
{
        static const struct {
                const char *rec;
                unsigned short type;
        } cases[] = {
                {"2024-01-01T00:00:00.000000Z error x\n", EVENTLOG_ERROR_TYPE},
                {"2024-01-01T00:00:00.000000Z warn  x\n", EVENTLOG_WARNING_TYPE},
                {"2024-01-01T00:00:00.000000Z info  an error\n", EVENTLOG_INFORMATION_TYPE},
                {"{\"time\":\"t\",\"level\":\"error\",\"msg\":\"m\"}\n", EVENTLOG_ERROR_TYPE},
                {"{\"time\":\"t\",\"level\":\"warn\",\"msg\":\"m\"}\n", EVENTLOG_WARNING_TYPE},
                {"{\"time\":\"t\",\"level\":\"info\",\"msg\":\"error\"}\n",
                 EVENTLOG_INFORMATION_TYPE},
                {"noseparator", EVENTLOG_INFORMATION_TYPE},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
                assert_int_equal(winsvc_log_event_type(cases[i].rec, strlen(cases[i].rec)),
                                 cases[i].type);
}

static void test_event_log_sink(void **state)
{
        char dir[MAX_PATH], path[MAX_PATH];
        struct winsvc_log *l = NULL;
        struct uvm_error *err = NULL;
        char *text;

        temp_dir(dir, sizeof(dir), "ev");
        snprintf(path, sizeof(path), "%s\\svc.log", dir);
        /* The event source opens; the file still gets every record. */
        assert_int_equal(winsvc_log_open(path, "uvmd-winsvc-test", &l, &err), 0);
        winsvc_log_sink("2024-01-01T00:00:00Z error to both\n", 35, l);
        winsvc_log_close(l);
        text = read_all(path);
        assert_non_null(strstr(text, "error to both\n"));
        free(text);
        DeleteFileA(path);
}

static int noop_start(void *data)
{
        return 0;
}

static int noop_run(void *data)
{
        return 0;
}

static void noop_stop(void *data)
{
}

static bool is_wine(void)
{
        HMODULE ntdll = GetModuleHandleA("ntdll.dll");

        return ntdll && GetProcAddress(ntdll, "wine_get_version");
}

static void test_run_outside_scm(void **state)
{
        struct winsvc_app app = {"uvmd-winsvc-test", NULL, noop_start, noop_run, noop_stop};
        struct winsvc_app nostop = {"uvmd-winsvc-test", NULL, noop_start, noop_run, NULL};
        struct winsvc_app badname = {"a b", NULL, noop_start, noop_run, noop_stop};
        struct uvm_error *err = NULL;
        int r;

        assert_int_equal(winsvc_run(&nostop, &err), -EINVAL);
        assert_err(&err, EINVAL, "start, run and stop");
        assert_int_equal(winsvc_run(&badname, &err), -EINVAL);
        assert_err(&err, EINVAL, "only letters");
        r = winsvc_run(&app, &err);
        /* Wine's dispatcher finds the SCM by the last service started
         * (ServiceCurrent), not by who started this process: when that
         * pipe is still open, a console process is served as that
         * service. Windows always refuses. */
        if (r == 0 && is_wine())
                print_message("Wine ran a console process as a service, not checking ENOTCONN\n");
        else {
                assert_int_equal(r, -ENOTCONN);
                assert_err(&err, ENOTCONN, "not started by the service control manager");
        }
        assert_int_equal(winsvc_run(&app, &err), -EBUSY);
        assert_err(&err, EBUSY, "once");
}

static void test_register_refusals(void **state)
{
        struct uvm_error *err = NULL;

        assert_int_equal(winsvc_register("", "d", "C:\\u.exe", "C:\\c", 0, &err), -EINVAL);
        assert_err(&err, EINVAL, "service name is empty");
        assert_int_equal(winsvc_register("u", "", "C:\\u.exe", "C:\\c", 0, &err), -EINVAL);
        assert_err(&err, EINVAL, "display name");
        assert_int_equal(winsvc_register("u", "d", "u.exe", "C:\\c", 0, &err), -EINVAL);
        assert_err(&err, EINVAL, "'u.exe' is not an absolute path");
        assert_int_equal(winsvc_register("u", "d", "C:\\u.exe", "c.json", 0, &err), -EINVAL);
        assert_err(&err, EINVAL, "'c.json' is not an absolute path");
        assert_int_equal(winsvc_register("u", "d", "C:\\u\".exe", "C:\\c", 0, &err), -EINVAL);
        assert_err(&err, EINVAL, "double quote");
        assert_int_equal(winsvc_unregister("a/b", &err), -EINVAL);
        assert_err(&err, EINVAL, "only letters");
}

#define RT_NAME "uvmd-winsvc-unit"

static void test_register_round_trip(void **state)
{
        struct uvm_error *err = NULL;
        char exe[MAX_PATH];

        GetModuleFileNameA(NULL, exe, sizeof(exe));
        winsvc_unregister(RT_NAME, NULL); /* a leftover of a killed run */
        assert_int_equal(winsvc_unregister(RT_NAME, &err), -ENOENT);
        assert_err(&err, ENOENT, "service '" RT_NAME "' is not registered");
        assert_int_equal(winsvc_register(RT_NAME, "unit", exe, "C:\\c.json", 0, &err), 0);
        assert_null(err);
        assert_int_equal(winsvc_register(RT_NAME, "unit", exe, "C:\\c.json", 0, &err), -EEXIST);
        assert_err(&err, EEXIST, "already registered");
        assert_int_equal(winsvc_unregister(RT_NAME, &err), 0);
        assert_int_equal(winsvc_unregister(RT_NAME, &err), -ENOENT);
        assert_err(&err, ENOENT, "not registered");
}

static void test_main_args(void **state)
{
        char *argv[] = {"t",
                        "--register-service",
                        "--config",
                        "C:\\no\\such\\config.json",
                        "--service-name",
                        RT_NAME,
                        NULL};
        char *bad[] = {"t", "--service", "--unregister-service", NULL};
        char *console[] = {"t", "--config", "C:\\c.json", NULL};
        struct winsvc_args a = {.command = WINSVC_CMD_REGISTER};
        struct uvm_error *err = NULL;
        int argc = 6;

        /* The config must exist: nothing is registered otherwise. */
        assert_true(winsvc_main_args(&argc, argv, NULL, &a, &err) < 0);
        assert_err(&err, ENOENT, "config 'C:\\no\\such\\config.json'");
        assert_int_equal(winsvc_unregister(RT_NAME, &err), -ENOENT);
        err = uvm_error_free(err);
        argc = 3;
        assert_int_equal(winsvc_main_args(&argc, bad, NULL, &a, &err), -EINVAL);
        assert_err(&err, EINVAL, "cannot be used together");
        argc = 3;
        assert_int_equal(winsvc_main_args(&argc, console, NULL, &a, &err), 0);
        assert_int_equal(a.command, WINSVC_CMD_NONE);
        assert_int_equal(argc, 3);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_log_file),
                cmocka_unit_test(test_log_refusals),
                cmocka_unit_test(test_event_type),
                cmocka_unit_test(test_event_log_sink),
                cmocka_unit_test(test_run_outside_scm),
                cmocka_unit_test(test_register_refusals),
                cmocka_unit_test(test_register_round_trip),
                cmocka_unit_test(test_main_args),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
