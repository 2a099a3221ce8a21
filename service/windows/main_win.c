/*
 * uvmd.exe: the CRI runtime daemon on Windows, as a service or a console
 * program (daemon_win.h says what it serves today).
 *
 *   uvmd.exe --register-service [--config PATH] [--service-name N] [--event-log]
 *   uvmd.exe --unregister-service [--service-name N]
 *   uvmd.exe [--config PATH] [--log-level L]        console: Ctrl-C stops it
 *   uvmd.exe --service --config PATH                what the SCM runs
 *
 * Either way a stop (the SCM's STOP, SHUTDOWN, PRESHUTDOWN; Ctrl-C, Ctrl-Break
 * or closing the console) drains like SIGTERM on Linux.
 */

#include <windows.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <grpc/grpc.h>

#include "common/log.h"
#include "service/windows/daemon_win.h"
#include "service/windows/winsvc.h"
#include "service/windows/winsvc_log.h"

struct app {
        struct uvmd_win w;
        HANDLE stop_event; /* set by app_stop(), waited for by app_run() */
};

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: uvmd.exe [OPTIONS]\n"
                "       uvmd.exe --register-service [--config FILE] [--service-name NAME] "
                "[--event-log]\n"
                "       uvmd.exe --unregister-service [--service-name NAME]\n"
                "A Kubernetes CRI runtime: every pod sandbox is a Hyper-V utility VM.\n\n"
                "  -c, --config FILE      JSON config (default %s; optional unless given)\n"
                "  -l, --log-level LEVEL  debug, info, warn or error (default info)\n"
                "      --log-format FMT   text or json (default text)\n"
                "  -h, --help             show this help\n"
                "  -V, --version          show the version\n",
                UVMD_DEFAULT_CONFIG);
}

enum { OPT_LOG_FORMAT = 256 };

static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {0},
};

/* 0 to go on, 1 when done (help, version), -EINVAL on a bad command line;
 * the flags override the config file. */
static int parse_args(int argc, char **argv, struct uvmd_config *cfg)
{
        const char *config = NULL, *level = NULL, *format = NULL;
        struct uvm_error *err = NULL;
        int c, r;

        while ((c = getopt_long(argc, argv, "c:l:hV", options, NULL)) != -1) {
                if (c == 'h' || c == 'V') {
                        c == 'h' ? usage(stdout)
                                 : (void) printf("%s %s (CRI %s, Windows)\n", UVMD_NAME,
                                                 UVMD_VERSION, CRI_API_VERSION);
                        return 1;
                }
                if (c == '?') {
                        usage(stderr);
                        return -EINVAL;
                }
                *(c == 'c' ? &config : c == 'l' ? &level : &format) = optarg;
        }
        if (optind < argc) {
                fprintf(stderr, "uvmd: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        /* The default file is optional, a named one required. */
        r = config_load(cfg, config ? config : UVMD_DEFAULT_CONFIG, config != NULL, &err);
        if (r >= 0 && level && log_parse_level(level, &cfg->log_level) < 0)
                r = uvm_error_set(&err, EINVAL,
                                  "--log-level: '%s' is not debug, info, warn or error", level);
        if (r >= 0 && format && log_parse_format(format, &cfg->log_format) < 0)
                r = uvm_error_set(&err, EINVAL, "--log-format: '%s' is not text or json", format);
        if (r >= 0)
                r = config_validate(cfg, &err);
        if (r < 0)
                fprintf(stderr, "uvmd: %s\n", err->msg);
        uvm_error_free(err);
        return r < 0 ? -EINVAL : 0;
}

static int app_start(void *data)
{
        struct app *a = data;
        struct uvm_error *err = NULL;
        int r;

        r = uvmd_win_init(&a->w, &err);
        if (r >= 0)
                r = uvmd_win_start(&a->w, &err);
        if (r < 0) {
                log_error("start-up failed: %s", err ? err->msg : strerror(-r));
                uvm_error_free(err);
                return r;
        }
        log_info("%s %s ready on %s", UVMD_NAME, UVMD_VERSION, a->w.d.cfg.socket);
        return 0;
}

static int app_run(void *data)
{
        struct app *a = data;

        if (WaitForSingleObject(a->stop_event, INFINITE) != WAIT_OBJECT_0)
                return -EIO;
        log_info("shutting down: draining calls (up to %u ms)", a->w.d.cfg.shutdown_grace_ms);
        uvmd_win_stop(&a->w);
        log_info("stopped");
        return 0;
}

static void app_stop(void *data)
{
        struct app *a = data;

        SetEvent(a->stop_event);
}

/* The console's control handler has no context: the one app. */
static struct app *console_app;

static BOOL WINAPI console_ctrl(DWORD type)
{
        if (type != CTRL_C_EVENT && type != CTRL_BREAK_EVENT && type != CTRL_CLOSE_EVENT)
                return FALSE;
        log_info("console %s: stopping", type == CTRL_C_EVENT       ? "Ctrl-C"
                                         : type == CTRL_BREAK_EVENT ? "Ctrl-Break"
                                                                    : "close");
        app_stop(console_app);
        /* CTRL_CLOSE_EVENT ends the process when this returns: wait for the
         * drain (the system allows about 5 s). */
        if (type == CTRL_CLOSE_EVENT)
                Sleep(5000);
        return TRUE;
}

static int run_console(struct app *a)
{
        int r;

        console_app = a;
        if (!SetConsoleCtrlHandler(console_ctrl, TRUE))
                log_warn("no console control handler (error %lu): Ctrl-C ends uvmd without a drain",
                         (unsigned long) GetLastError());
        r = app_start(a);
        return r < 0 ? r : app_run(a);
}

/* As a service: logs to <data root>\uvmd.log (and the event log when
 * registered with --event-log), life cycle through the SCM. */
static int run_service(struct app *a, const struct winsvc_args *sa)
{
        const struct winsvc_app app = {sa->name, a, app_start, app_run, app_stop};
        _cleanup_free_ char *path = NULL;
        struct winsvc_log *l = NULL;
        struct uvm_error *err = NULL;
        int r;

        if (asprintf(&path, "%s\\uvmd.log", a->w.d.cfg.data_root) < 0)
                return -ENOMEM;
        r = winsvc_log_open(path, (sa->flags & WINSVC_EVENT_LOG) ? sa->name : NULL, &l, &err);
        if (r < 0) {
                fprintf(stderr, "uvmd: %s\n", err->msg);
                uvm_error_free(err);
                return r;
        }
        log_set_sink(winsvc_log_sink, l);
        r = winsvc_run(&app, &err);
        if (r < 0)
                log_error("%s", err ? err->msg : strerror(-r));
        log_info("exit %d", r < 0 ? 1 : 0);
        log_set_sink(NULL, NULL);
        winsvc_log_close(l);
        uvm_error_free(err);
        return r;
}

static int serve(const struct winsvc_args *sa, int argc, char **argv)
{
        static struct app a;
        int r;

        config_init_defaults(&a.w.d.cfg);
        r = parse_args(argc, argv, &a.w.d.cfg);
        if (r != 0) {
                config_free(&a.w.d.cfg);
                return r < 0 ? 2 : 0;
        }
        log_setup(a.w.d.cfg.log_level, a.w.d.cfg.log_format);
        a.stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
        if (!a.stop_event) {
                fprintf(stderr, "uvmd: CreateEvent failed (error %lu)\n",
                        (unsigned long) GetLastError());
                return 1;
        }
        grpc_init();
        r = sa->command == WINSVC_CMD_SERVICE ? run_service(&a, sa) : run_console(&a);
        uvmd_win_fini(&a.w);
        grpc_shutdown();
        CloseHandle(a.stop_event);
        return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
        struct winsvc_args sa;
        struct uvm_error *err = NULL;
        int r;

        r = winsvc_main_args(&argc, argv, UVMD_DEFAULT_CONFIG, &sa, &err);
        if (r < 0) {
                fprintf(stderr, "uvmd: %s\n", err->msg);
                uvm_error_free(err);
                return r == -EINVAL ? 2 : 1;
        }
        if (r > 0) {
                printf("uvmd: %s service '%s'\n",
                       sa.command == WINSVC_CMD_REGISTER ? "registered" : "unregistered", sa.name);
                return 0;
        }
        return serve(&sa, argc, argv);
}
