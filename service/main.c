/* uvmd: the CRI runtime daemon. Parses flags, then serves until SIGTERM. */

#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <grpc/grpc.h>

#include "common/log.h"
#include "image/image.h"
#include "sandbox/drivers/qemu/jail.h"
#include "sandbox/sandbox.h"
#include "service/daemon.h"
#include "service/metrics_collect.h"
#include "service/metrics_server.h"
#include "service/metrics_uvmd.h"
#include "service/notify.h"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: uvmd [OPTIONS]\n"
                "       uvmd [OPTIONS] image import ARCHIVE...\n"
                "A Kubernetes CRI runtime: every pod sandbox is a utility VM.\n\n"
                "image import loads OCI or docker-save archives into the image store\n"
                "(under --data-root), for nodes without a registry; it works whether\n"
                "or not the daemon is running.\n\n"
                "  -c, --config FILE      JSON config (default %s; optional unless given)\n"
                "  -s, --socket PATH      CRI socket (default /run/uvmd/uvmd.sock)\n"
                "      --state-root DIR   runtime state (default /run/uvmd)\n"
                "      --data-root DIR    images and persistent data (default /var/lib/uvmd)\n"
                "      --guest-dir DIR    VM pods' guest image (default /usr/lib/uvmd/guest)\n"
                "  -l, --log-level LEVEL  debug, info, warn or error (default info)\n"
                "      --log-format FMT   text or json (default text)\n"
                "  -h, --help             show this help\n"
                "  -V, --version          show the version\n",
                UVMD_DEFAULT_CONFIG);
}

enum { OPT_STATE = 256, OPT_DATA, OPT_LOG_FORMAT, OPT_GUEST };

static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"socket", required_argument, NULL, 's'},
        {"state-root", required_argument, NULL, OPT_STATE},
        {"data-root", required_argument, NULL, OPT_DATA},
        {"guest-dir", required_argument, NULL, OPT_GUEST},
        {"log-level", required_argument, NULL, 'l'},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {0},
};

static int set_path(char **dst, const char *flag, const char *v)
{
        if (v[0] != '/') {
                fprintf(stderr, "uvmd: --%s: '%s' is not an absolute path\n", flag, v);
                return -EINVAL;
        }
        free(*dst);
        *dst = strdup(v);
        return 0;
}

/* Flags override the config file, so the file is loaded first. Positional
 * arguments (a sub-command) are left for the caller from *ret_optind. */
static int parse_args(int argc, char **argv, struct uvmd_config *cfg, int *ret_optind)
{
        const char *config = UVMD_DEFAULT_CONFIG;
        bool explicit_config = false;
        struct uvm_error *err = NULL;
        int c, r = 0;

        for (optind = 1; (c = getopt_long(argc, argv, "c:s:l:hV", options, NULL)) != -1;) {
                if (c == 'h') {
                        usage(stdout);
                        exit(0);
                } else if (c == 'V') {
                        printf("%s %s (CRI %s)\n", UVMD_NAME, UVMD_VERSION, CRI_API_VERSION);
                        exit(0);
                } else if (c == 'c') {
                        config = optarg;
                        explicit_config = true;
                } else if (c == '?') {
                        usage(stderr);
                        return -EINVAL;
                }
        }
        *ret_optind = optind;
        if (config_load(cfg, config, explicit_config, &err) < 0) {
                fprintf(stderr, "uvmd: %s\n", err->msg);
                uvm_error_free(err);
                return -EINVAL;
        }
        for (optind = 1;
             r == 0 && (c = getopt_long(argc, argv, "c:s:l:hV", options, NULL)) != -1;) {
                if (c == 's')
                        r = set_path(&cfg->socket, "socket", optarg);
                else if (c == OPT_STATE)
                        r = set_path(&cfg->state_root, "state-root", optarg);
                else if (c == OPT_DATA)
                        r = set_path(&cfg->data_root, "data-root", optarg);
                else if (c == OPT_GUEST)
                        r = set_path(&cfg->guest_dir, "guest-dir", optarg);
                else if (c == 'l' && log_parse_level(optarg, &cfg->log_level) < 0) {
                        fprintf(stderr,
                                "uvmd: --log-level: '%s' is not debug, info, warn or error\n",
                                optarg);
                        r = -EINVAL;
                } else if (c == OPT_LOG_FORMAT && log_parse_format(optarg, &cfg->log_format) < 0) {
                        fprintf(stderr, "uvmd: --log-format: '%s' is not text or json\n", optarg);
                        r = -EINVAL;
                }
        }
        if (r == 0 && config_validate(cfg, &err) < 0) {
                fprintf(stderr, "uvmd: %s\n", err->msg);
                uvm_error_free(err);
                r = -EINVAL;
        }
        return r;
}

/* uvmd image import ARCHIVE...: straight into the store; a running daemon
 * sees the result through the store's shared index. */
static int image_import(const struct uvmd_config *cfg, char **files, int n)
{
        struct img_options o = {
                .insecure_registries = cfg->insecure_registries,
                .mirrors = cfg->registry_mirrors,
        };
        _cleanup_free_ char *root = NULL;
        struct img_store *s = NULL;
        struct uvm_error *err = NULL;
        int rc = 0;

        if (asprintf(&root, "%s/images", cfg->data_root) < 0)
                return 1;
        o.root = root;
        if (img_store_new(&o, &s, &err) < 0) {
                fprintf(stderr, "uvmd: %s\n", err->msg);
                uvm_error_free(err);
                return 1;
        }
        for (int i = 0; i < n; i++) {
                char **ids = NULL;
                if (img_import(s, files[i], &ids, &err) < 0) {
                        fprintf(stderr, "uvmd: %s\n", err->msg);
                        err = uvm_error_free(err);
                        rc = 1;
                        continue;
                }
                for (char **id = ids; *id; id++)
                        printf("%s\n", *id);
                strv_free(ids);
        }
        img_store_free(s);
        return rc;
}

static int sub_command(const struct uvmd_config *cfg, int argc, char **argv)
{
        if (argc >= 3 && STR_EQ(argv[0], "image") && STR_EQ(argv[1], "import"))
                return image_import(cfg, argv + 2, argc - 2);
        fprintf(stderr, "uvmd: unknown command '%s'%s\n", argv[0],
                STR_EQ(argv[0], "image") ? " (try: image import ARCHIVE...)" : "");
        return 2;
}

/* The Prometheus endpoint, when metrics_address is set; before the CRI
 * socket serves, so that a busy port fails the start. */
static int start_metrics(struct uvmd *d, struct metrics_server **ret, struct uvm_error **err)
{
        if (!d->cfg.metrics_address)
                return 0;
        if (metrics_collect_register(d) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return metrics_server_start(d->cfg.metrics_address, metrics_uvmd(), ret, err);
}

int main(int argc, char **argv)
{
        static struct uvmd d;
        struct metrics_server *metrics = NULL;
        struct uvm_error *err = NULL;
        sigset_t set;
        int sig = 0, first_arg = argc;

        /* Each call's arena is freed at its end; without this glibc hands
         * the pages back after every large call and faults them in again on
         * the next (ListContainers at 330 containers: ~4x the CPU). */
        mallopt(M_TRIM_THRESHOLD, 16 << 20);
        /* The qemu driver's own re-execution, before anything else runs. */
        if (argc > 1 && STR_EQ(argv[1], "vmm-jail"))
                return qemu_jail_main(argc - 2, argv + 2);
        config_init_defaults(&d.cfg);
        if (parse_args(argc, argv, &d.cfg, &first_arg) < 0)
                return 2;
        log_setup(d.cfg.log_level, d.cfg.log_format);
        /* Before any thread exists: it edits the environment. */
        notify_init();
        if (first_arg < argc) {
                int rc = sub_command(&d.cfg, argc - first_arg, argv + first_arg);
                config_free(&d.cfg);
                return rc;
        }

        /* gRPC's threads inherit this mask: signals reach only sigwait. */
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);

        grpc_init();
        notify_sendf("STATUS=starting: recovering pods, probing drivers");
        if (uvmd_init(&d, &err) < 0 || start_metrics(&d, &metrics, &err) < 0 ||
            uvmd_start(&d, &err) < 0) {
                log_error("start-up failed: %s", err ? err->msg : "unknown error");
                notify_sendf("STATUS=start-up failed: %s\nERRNO=%d",
                             err ? err->msg : "unknown error", err ? err->code : EIO);
                uvm_error_free(err);
                metrics_server_stop(metrics);
                uvmd_fini(&d);
                grpc_shutdown();
                return 1;
        }
        log_info("%s %s ready on %s", UVMD_NAME, UVMD_VERSION, d.cfg.socket);
        /* Only now: srv_start returned, so the socket is bound, listening
         * and polled; a client connecting on READY=1 is served. */
        notify_sendf("READY=1\nSTATUS=serving on %s, %zu pods", d.cfg.socket, sbx_pod_count(d.sbx));
        while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
                log_info("SIGHUP: nothing to reload, ignoring");
        log_info("%s received, shutting down", strsignal(sig));
        notify_sendf("STOPPING=1\nSTATUS=draining calls (%s), then stopping", strsignal(sig));
        uvmd_stop(&d);
        metrics = metrics_server_stop(metrics);
        uvmd_fini(&d);
        grpc_shutdown();
        log_info("stopped");
        return 0;
}
