/*
 * uvmd-svc-test: a stand-in for uvmd.exe under the SCM, built on the same
 * wrapper (service/windows/winsvc.h) but without gRPC. Its main loop waits
 * for the stop request and writes marker lines to its log file, which
 * tests/windows/service_test.sh reads:
 *   app: started / app: stop requested / app: stopping / app: stopped
 *
 *   uvmd-svc-test --register-service --config CONFIG [--service-name N] [--event-log]
 *   uvmd-svc-test --unregister-service [--service-name N]
 *   uvmd-svc-test --service --config CONFIG      (what the SCM runs)
 *
 * CONFIG is JSON: {"data_root": "C:\\dir", "fail_start": 0, "drain_ms": 0}
 * (fail_start: an errno start() fails with; drain_ms: how long the main
 * loop "drains" after the stop request). It is read at every start, so a
 * test changes the behaviour between two starts by rewriting it.
 */

#include <windows.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "common/log.h"
#include "service/windows/winsvc.h"
#include "service/windows/winsvc_log.h"

struct svc_test {
        HANDLE stop_event; /* set by stop(), waited for by run() */
        int fail_start;
        int drain_ms;
};

static int test_start(void *data)
{
        struct svc_test *t = data;

        if (t->fail_start > 0) {
                log_error("app: failing start with error %d, as configured", t->fail_start);
                return -t->fail_start;
        }
        log_info("app: started");
        return 0;
}

static int test_run(void *data)
{
        struct svc_test *t = data;

        if (WaitForSingleObject(t->stop_event, INFINITE) != WAIT_OBJECT_0)
                return -EIO;
        log_info("app: stopping (draining %d ms)", t->drain_ms);
        Sleep((DWORD) t->drain_ms);
        log_info("app: stopped");
        return 0;
}

static void test_stop(void *data)
{
        struct svc_test *t = data;

        log_info("app: stop requested");
        SetEvent(t->stop_event);
}

static int int_field(json_object *o, const char *key, int max, int *ret)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return 0;
        if (!json_object_is_type(v, json_type_int) || json_object_get_int(v) < 0 ||
            json_object_get_int(v) > max) {
                fprintf(stderr, "uvmd-svc-test: config: %s must be an integer 0..%d\n", key, max);
                return -EINVAL;
        }
        *ret = json_object_get_int(v);
        return 0;
}

/* The log file path and the behaviour from CONFIG. */
static int load_config(const char *path, struct svc_test *t, char **ret_log)
{
        json_object *o = json_object_from_file(path), *root;
        char *log = NULL;
        int r = -EINVAL;

        if (!o) {
                fprintf(stderr, "uvmd-svc-test: cannot read config '%s'\n", path);
                return -EINVAL;
        }
        if (!json_object_object_get_ex(o, "data_root", &root) ||
            !json_object_is_type(root, json_type_string))
                fprintf(stderr, "uvmd-svc-test: config: data_root (a string) is missing\n");
        else if (int_field(o, "fail_start", 200, &t->fail_start) == 0 &&
                 int_field(o, "drain_ms", 60000, &t->drain_ms) == 0 &&
                 asprintf(&log, "%s\\uvmd-svc-test.log", json_object_get_string(root)) >= 0) {
                *ret_log = log;
                r = 0;
        }
        json_object_put(o);
        return r;
}

static int serve(const struct winsvc_args *sa, const char *config)
{
        struct svc_test t = {0};
        struct winsvc_app app = {sa->name, &t, test_start, test_run, test_stop};
        _cleanup_free_ char *log_path = NULL;
        struct winsvc_log *l = NULL;
        struct uvm_error *err = NULL;
        int r;

        if (load_config(config, &t, &log_path) < 0)
                return 2;
        if (winsvc_log_open(log_path, (sa->flags & WINSVC_EVENT_LOG) ? sa->name : NULL, &l, &err) <
            0) {
                fprintf(stderr, "uvmd-svc-test: %s\n", err->msg);
                uvm_error_free(err);
                return 1;
        }
        log_set_sink(winsvc_log_sink, l);
        t.stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
        log_info("app: pid %lu, config %s", (unsigned long) GetCurrentProcessId(), config);
        r = t.stop_event ? winsvc_run(&app, &err) : -ENOMEM;
        if (r < 0)
                log_error("app: %s", err ? err->msg : "out of memory");
        log_info("app: exit %d", r < 0 ? 1 : 0);
        log_set_sink(NULL, NULL);
        winsvc_log_close(l);
        uvm_error_free(err);
        if (t.stop_event)
                CloseHandle(t.stop_event);
        return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
        struct winsvc_args sa;
        struct uvm_error *err = NULL;
        const char *config = NULL;
        int r;

        r = winsvc_main_args(&argc, argv, NULL, &sa, &err);
        if (r < 0) {
                fprintf(stderr, "uvmd-svc-test: %s\n", err->msg);
                uvm_error_free(err);
                return r == -EINVAL ? 2 : 1;
        }
        if (r > 0) {
                printf("uvmd-svc-test: %s service '%s'\n",
                       sa.command == WINSVC_CMD_REGISTER ? "registered" : "unregistered", sa.name);
                return 0;
        }
        for (int i = 1; i < argc; i++)
                if ((STR_EQ(argv[i], "--config") || STR_EQ(argv[i], "-c")) && i + 1 < argc)
                        config = argv[++i];
                else if (strncmp(argv[i], "--config=", 9) == 0)
                        config = argv[i] + 9;
        if (sa.command != WINSVC_CMD_SERVICE || !config) {
                fprintf(stderr, "usage: uvmd-svc-test --register-service --config CONFIG | "
                                "--unregister-service | --service --config CONFIG\n");
                return 2;
        }
        return serve(&sa, config);
}
