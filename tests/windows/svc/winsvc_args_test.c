/* The service wrapper's portable half: options, checks, quoting. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#ifdef _WIN32
#include <windows.h>
#include <shellapi.h>
#endif

#include "service/windows/winsvc_args.h"

#define ARGC(v) ((int) ARRAY_SIZE(v) - 1)

/* Parses a NULL-terminated argv; on success checks what is left in it. */
static int parse(char **argv, int argc, struct winsvc_args *a, struct uvm_error **err)
{
        return winsvc_parse_args(&argc, argv, a, err) < 0 ? -1 : argc;
}

static void assert_err(struct uvm_error **err, int code, const char *part)
{
        assert_non_null(*err);
        assert_int_equal((*err)->code, code);
        if (!strstr((*err)->msg, part))
                fail_msg("error '%s' does not say '%s'", (*err)->msg, part);
        *err = uvm_error_free(*err);
}

static void test_parse_console(void **state)
{
        char *argv[] = {"uvmd", "--config", "C:\\c.json", "--log-level", "debug", NULL};
        struct winsvc_args a;
        struct uvm_error *err = NULL;

        assert_int_equal(parse(argv, ARGC(argv), &a, &err), 5);
        assert_int_equal(a.command, WINSVC_CMD_NONE);
        assert_string_equal(a.name, WINSVC_DEFAULT_NAME);
        assert_string_equal(a.config, "C:\\c.json");
        assert_int_equal(a.flags, 0);
        assert_string_equal(argv[3], "--log-level");
        assert_null(argv[5]);
}

static void test_parse_register(void **state)
{
        char *argv[] = {"uvmd",   "--register-service", "--config", "C:\\c.json", "--service-name",
                        "uvmd-2", "--event-log",        NULL};
        struct winsvc_args a;
        struct uvm_error *err = NULL;

        assert_int_equal(parse(argv, ARGC(argv), &a, &err), 3);
        assert_int_equal(a.command, WINSVC_CMD_REGISTER);
        assert_string_equal(a.name, "uvmd-2");
        assert_string_equal(a.config, "C:\\c.json");
        assert_int_equal(a.flags, WINSVC_EVENT_LOG);
        /* Only --config is left for the daemon's own parser. */
        assert_string_equal(argv[1], "--config");
        assert_string_equal(argv[2], "C:\\c.json");
        assert_null(argv[3]);
}

static void test_parse_service(void **state)
{
        char *argv[] = {"uvmd",  "--service", "--config=D:\\u\\c.json", "--service-name=x.y", "-l",
                        "debug", NULL};
        struct winsvc_args a;
        struct uvm_error *err = NULL;

        assert_int_equal(parse(argv, ARGC(argv), &a, &err), 4);
        assert_int_equal(a.command, WINSVC_CMD_SERVICE);
        assert_string_equal(a.name, "x.y");
        assert_string_equal(a.config, "D:\\u\\c.json");
        assert_string_equal(argv[1], "--config=D:\\u\\c.json");
        assert_string_equal(argv[2], "-l");
        assert_string_equal(argv[3], "debug");
        assert_null(argv[4]);
}

static void test_parse_unregister_and_dashdash(void **state)
{
        char *argv[] = {"uvmd", "--unregister-service", NULL};
        char *argv2[] = {"uvmd", "-c", "C:\\c", "--", "--service", NULL};
        struct winsvc_args a;
        struct uvm_error *err = NULL;

        assert_int_equal(parse(argv, ARGC(argv), &a, &err), 1);
        assert_int_equal(a.command, WINSVC_CMD_UNREGISTER);
        assert_null(a.config);
        /* After "--" nothing is an option, ours included. */
        assert_int_equal(parse(argv2, ARGC(argv2), &a, &err), 5);
        assert_int_equal(a.command, WINSVC_CMD_NONE);
        assert_string_equal(a.config, "C:\\c");
        assert_string_equal(argv2[4], "--service");
}

static void test_parse_refusals(void **state)
{
        char *two[] = {"uvmd", "--register-service", "--unregister-service", NULL};
        char *extra[] = {"uvmd", "--register-service", "--log-level", "debug", NULL};
        char *novalue[] = {"uvmd", "--service", "--service-name", NULL};
        char *badname[] = {"uvmd", "--service", "--service-name", "a\"b", NULL};
        char *alone[] = {"uvmd", "--event-log", NULL};
        char *named[] = {"uvmd", "--service-name", "x", NULL};
        char *noconfig[] = {"uvmd", "--service", "--config", NULL};
        char *emptyconfig[] = {"uvmd", "--service", "--config=", NULL};
        struct winsvc_args a = {.command = WINSVC_CMD_SERVICE, .name = "sentinel"};
        struct uvm_error *err = NULL;

        assert_int_equal(parse(two, ARGC(two), &a, &err), -1);
        assert_err(&err, EINVAL, "--register-service and --unregister-service");
        assert_int_equal(parse(extra, ARGC(extra), &a, &err), -1);
        assert_err(&err, EINVAL, "takes only --config");
        assert_int_equal(parse(novalue, ARGC(novalue), &a, &err), -1);
        assert_err(&err, EINVAL, "--service-name needs a value");
        assert_int_equal(parse(badname, ARGC(badname), &a, &err), -1);
        assert_err(&err, EINVAL, "only letters");
        assert_int_equal(parse(alone, ARGC(alone), &a, &err), -1);
        assert_err(&err, EINVAL, "go with --register-service");
        assert_int_equal(parse(named, ARGC(named), &a, &err), -1);
        assert_err(&err, EINVAL, "go with --register-service");
        assert_int_equal(parse(noconfig, ARGC(noconfig), &a, &err), -1);
        assert_err(&err, EINVAL, "--config needs a value");
        assert_int_equal(parse(emptyconfig, ARGC(emptyconfig), &a, &err), -1);
        assert_err(&err, EINVAL, "path is empty");
        /* Nothing written on failure. */
        assert_int_equal(a.command, WINSVC_CMD_SERVICE);
        assert_string_equal(a.name, "sentinel");
}

static void test_check_name(void **state)
{
        char name[WINSVC_NAME_MAX + 2];
        struct uvm_error *err = NULL;

        memset(name, 'n', sizeof(name));
        name[WINSVC_NAME_MAX] = '\0';
        assert_int_equal(winsvc_check_name(name, &err), 0);
        assert_int_equal(winsvc_check_name("uvmd_1.test-x", &err), 0);
        name[WINSVC_NAME_MAX] = 'n';
        name[WINSVC_NAME_MAX + 1] = '\0';
        assert_int_equal(winsvc_check_name(name, &err), -EINVAL);
        assert_err(&err, EINVAL, "257 characters");
        assert_int_equal(winsvc_check_name("", &err), -EINVAL);
        assert_err(&err, EINVAL, "empty");
        assert_int_equal(winsvc_check_name(NULL, &err), -EINVAL);
        assert_err(&err, EINVAL, "empty");
        const char *bad[] = {"a b", "a\"b", "a/b", "a\\b", "caf\xc3\xa9"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                assert_int_equal(winsvc_check_name(bad[i], &err), -EINVAL);
                assert_err(&err, EINVAL, "only letters");
        }
}

static void test_check_path(void **state)
{
        char path[WINSVC_PATH_MAX + 2];
        struct uvm_error *err = NULL;

        memset(path, 'p', sizeof(path));
        path[WINSVC_PATH_MAX] = '\0';
        assert_int_equal(winsvc_check_path("config", path, &err), 0);
        path[WINSVC_PATH_MAX] = 'p';
        path[WINSVC_PATH_MAX + 1] = '\0';
        assert_int_equal(winsvc_check_path("config", path, &err), -EINVAL);
        assert_err(&err, EINVAL, "config path is 1025 bytes");
        assert_int_equal(winsvc_check_path("executable", "C:\\Program Files\\x.exe", &err), 0);
        assert_int_equal(winsvc_check_path("executable", "", &err), -EINVAL);
        assert_err(&err, EINVAL, "executable path is empty");
        assert_int_equal(winsvc_check_path("config", "C:\\a\"b", &err), -EINVAL);
        assert_err(&err, EINVAL, "double quote");
        assert_int_equal(winsvc_check_path("config", "C:\\a\nb", &err), -EINVAL);
        assert_err(&err, EINVAL, "control character");
}

static void test_absolute(void **state)
{
        const char *yes[] = {"C:\\x", "c:/x", "Z:\\", "\\\\srv\\share\\x"};
        const char *no[] = {"C:x", "x\\y", "\\x", "\\\\\\x", "\\\\", "", "1:\\x"};

        for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
                if (!winsvc_path_is_absolute(yes[i]))
                        fail_msg("'%s' is absolute", yes[i]);
        for (size_t i = 0; i < ARRAY_SIZE(no); i++)
                if (winsvc_path_is_absolute(no[i]))
                        fail_msg("'%s' is not absolute", no[i]);
        assert_false(winsvc_path_is_absolute(NULL));
}

static void test_quote(void **state)
{
        static const struct {
                const char *in, *out;
        } cases[] = {
                {"C:\\Program Files\\uvmd\\uvmd.exe", "\"C:\\Program Files\\uvmd\\uvmd.exe\""},
                {"C:\\dir\\", "\"C:\\dir\\\\\""},
                {"C:\\a\\\\", "\"C:\\a\\\\\\\\\""},
                {"a\\\\b", "\"a\\\\b\""},
                {"", "\"\""},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                char *line = NULL;
                assert_int_equal(winsvc_append_quoted(&line, cases[i].in), 0);
                assert_string_equal(line, cases[i].out);
                free(line);
        }
        char *line = strdup("x");
        assert_int_equal(winsvc_append_quoted(&line, "y z"), 0);
        assert_string_equal(line, "x \"y z\"");
        free(line);
}

static void test_command_line(void **state)
{
        struct uvm_error *err = NULL;
        char *line = NULL, *sentinel = (char *) "unchanged";

        assert_int_equal(winsvc_command_line("C:\\Program Files\\uvmd\\uvmd.exe",
                                             "C:\\ProgramData\\uvmd\\config.json", "uvmd", 0, &line,
                                             &err),
                         0);
        assert_string_equal(line, "\"C:\\Program Files\\uvmd\\uvmd.exe\" --service --config "
                                  "\"C:\\ProgramData\\uvmd\\config.json\"");
        free(line);
        assert_int_equal(winsvc_command_line("C:\\u.exe", "C:\\c dir\\", "uvmd-2", WINSVC_EVENT_LOG,
                                             &line, &err),
                         0);
        assert_string_equal(line, "\"C:\\u.exe\" --service --config \"C:\\c dir\\\\\" "
                                  "--service-name uvmd-2 --event-log");
        free(line);
        line = sentinel;
        assert_int_equal(winsvc_command_line("C:\\u\".exe", "C:\\c", "uvmd", 0, &line, &err),
                         -EINVAL);
        assert_err(&err, EINVAL, "executable path");
        assert_int_equal(winsvc_command_line("C:\\u\\", "C:\\c", "uvmd", 0, &line, &err), -EINVAL);
        assert_err(&err, EINVAL, "names a directory");
        assert_int_equal(winsvc_command_line("C:\\u.exe", "", "uvmd", 0, &line, &err), -EINVAL);
        assert_err(&err, EINVAL, "config path is empty");
        assert_int_equal(winsvc_command_line("C:\\u.exe", "C:\\c", "u v", 0, &line, &err), -EINVAL);
        assert_err(&err, EINVAL, "service name");
        assert_ptr_equal(line, sentinel);
}

#ifdef _WIN32
/* The line reads back, through Windows' own parser, as the arguments. */
static void test_round_trip(void **state)
{
        static const char *const configs[] = {"C:\\c dir\\", "C:\\a\\\\b\\\\", "C:\\x y\\c.json",
                                              "\\\\srv\\share\\c.json"};
        struct uvm_error *err = NULL;

        for (size_t i = 0; i < ARRAY_SIZE(configs); i++) {
                char *line = NULL, out[2048];
                wchar_t wline[2048];
                int n = 0;

                assert_int_equal(winsvc_command_line("C:\\Program Files\\u\\u.exe", configs[i],
                                                     "s-1", 0, &line, &err),
                                 0);
                MultiByteToWideChar(CP_UTF8, 0, line, -1, wline, ARRAY_SIZE(wline));
                wchar_t **wargv = CommandLineToArgvW(wline, &n);
                assert_non_null(wargv);
                assert_int_equal(n, 6);
                WideCharToMultiByte(CP_UTF8, 0, wargv[0], -1, out, sizeof(out), NULL, NULL);
                assert_string_equal(out, "C:\\Program Files\\u\\u.exe");
                WideCharToMultiByte(CP_UTF8, 0, wargv[3], -1, out, sizeof(out), NULL, NULL);
                assert_string_equal(out, configs[i]);
                WideCharToMultiByte(CP_UTF8, 0, wargv[5], -1, out, sizeof(out), NULL, NULL);
                assert_string_equal(out, "s-1");
                LocalFree(wargv);
                free(line);
        }
}
#endif

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_console),
                cmocka_unit_test(test_parse_register),
                cmocka_unit_test(test_parse_service),
                cmocka_unit_test(test_parse_unregister_and_dashdash),
                cmocka_unit_test(test_parse_refusals),
                cmocka_unit_test(test_check_name),
                cmocka_unit_test(test_check_path),
                cmocka_unit_test(test_absolute),
                cmocka_unit_test(test_quote),
                cmocka_unit_test(test_command_line),
#ifdef _WIN32
                cmocka_unit_test(test_round_trip),
#endif
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
