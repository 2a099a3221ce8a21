/* The CNI executor: chain semantics against a fake executor (env, stdin,
 * prevResult, runtimeConfig, results, errors, DEL order), and the real
 * posix_spawn executor against small shell-script plugins. */

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/fs.h"
#include "network/cni_conf.h"
#include "network/cni_exec.h"

#define MAX_CALLS 8

struct call {
        char *plugin;
        char **env;
        char *stdin_json;
};

struct canned {
        const char *out; /* NULL: echo the prevResult of stdin */
        int exit;
};

struct fake {
        struct call calls[MAX_CALLS];
        size_t n_calls;
        struct canned replies[MAX_CALLS];
};

static char bindir[] = "/tmp/cni_exec_test.XXXXXX";

static char *echo_prev(const char *in)
{
        json_object *o = json_tokener_parse(in), *prev;
        char *s;

        assert_non_null(o);
        assert_true(json_object_object_get_ex(o, "prevResult", &prev));
        s = strdup(json_object_to_json_string_ext(prev, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        return s;
}

static int fake_run(void *data, const char *plugin_path, char *const *env, const char *stdin_json,
                    unsigned timeout_ms, char **ret_stdout, int *ret_exit, struct uvm_error **err)
{
        struct fake *f = data;
        struct call *c;
        size_t n = 0;

        assert_true(f->n_calls < MAX_CALLS);
        c = &f->calls[f->n_calls];
        c->plugin = strdup(strrchr(plugin_path, '/') + 1);
        while (env[n])
                n++;
        c->env = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                c->env[i] = strdup(env[i]);
        c->stdin_json = strdup(stdin_json);
        *ret_exit = f->replies[f->n_calls].exit;
        *ret_stdout = f->replies[f->n_calls].out ? strdup(f->replies[f->n_calls].out)
                                                 : echo_prev(stdin_json);
        f->n_calls++;
        return 0;
}

static const struct cni_exec_ops fake_ops = {.run = fake_run};

static void fake_clear(struct fake *f)
{
        for (size_t i = 0; i < f->n_calls; i++) {
                free(f->calls[i].plugin);
                strv_free(f->calls[i].env);
                free(f->calls[i].stdin_json);
        }
        memset(f, 0, sizeof(*f));
}

static bool has_env(const struct call *c, const char *kv)
{
        for (char **e = c->env; *e; e++)
                if (STR_EQ(*e, kv))
                        return true;
        return false;
}

static json_object *stdin_of(const struct call *c)
{
        json_object *o = json_tokener_parse(c->stdin_json);

        assert_non_null(o);
        return o;
}

static const char *str_at(json_object *o, const char *key)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return NULL;
        return json_object_get_string(v);
}

static int setup(void **state)
{
        const char *types[] = {"bridge",  "portmap",   "tuning",  "okplug",
                               "errplug", "sleepplug", "bigplug", "bgplug"};
        (void) state;
        if (!mkdtemp(bindir))
                return -1;
        for (size_t i = 0; i < 5; i++) {
                char p[256];
                snprintf(p, sizeof(p), "%s/%s", bindir, types[i]);
                if (fs_write_atomic(p, "#!/bin/sh\nexit 1\n", 17, 0755) < 0)
                        return -1;
        }
        return 0;
}

static int teardown(void **state)
{
        (void) state;
        fs_rm_rf(bindir);
        return 0;
}

static struct cni_conf *conf(const char *text)
{
        struct cni_conf *c = NULL;
        struct uvm_error *err = NULL;

        assert_int_equal(cni_conf_parse("test.conflist", text, &c, &err), 0);
        return c;
}

static const char list040[] =
        "{\"cniVersion\":\"0.4.0\",\"name\":\"pods\",\"plugins\":["
        "{\"type\":\"bridge\",\"bridge\":\"cni0\",\"capabilities\":{\"portMappings\":false,"
        "\"ipRanges\":true},\"runtimeConfig\":{\"stale\":1}},"
        "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}},"
        "{\"type\":\"tuning\",\"name\":\"other\",\"cniVersion\":\"9.9.9\"}]}";

static const char result040[] =
        "{\"cniVersion\":\"0.4.0\",\"interfaces\":[{\"name\":\"cni0\",\"mac\":\"aa:bb:cc:dd:ee:"
        "ff\"},"
        "{\"name\":\"veth1\"},{\"name\":\"eth0\",\"sandbox\":\"/run/netns/x\"}],"
        "\"ips\":[{\"version\":\"4\",\"address\":\"10.1.0.5/24\",\"gateway\":\"10.1.0.1\","
        "\"interface\":2}],\"dns\":{}}";

static const char rc[] = "{\"portMappings\":[{\"hostPort\":8080,\"containerPort\":80,"
                         "\"protocol\":\"tcp\"}],\"dns\":{\"servers\":[\"1.1.1.1\"]},"
                         "\"ipRanges\":[[{\"subnet\":\"10.1.0.0/24\"}]]}";

static struct cni_exec exec_of(struct fake *f, char **bins)
{
        bins[0] = bindir;
        bins[1] = NULL;
        return (struct cni_exec){.ops = &fake_ops, .data = f, .bin_dirs = bins, .timeout_ms = 1000};
}

static void add_040_chains_prev_result(void **state)
{
        struct fake f = {.replies = {{result040, 0}, {NULL, 0}, {NULL, 0}}};
        char *bins[2], env_path[300];
        struct cni_exec x = exec_of(&f, bins);
        struct cni_invocation inv = {.container_id = "pod1",
                                     .netns = "/run/netns/x",
                                     .ifname = "eth0",
                                     .args = "IgnoreUnknown=1;K8S_POD_NAME=a",
                                     .runtime_config = rc};
        struct cni_conf *c = conf(list040);
        struct cni_result res = {0};
        struct uvm_error *err = NULL;
        json_object *in, *v, *prev;

        (void) state;
        assert_int_equal(cni_add(&x, c, &inv, &res, &err), 0);
        assert_null(err);
        assert_int_equal(f.n_calls, 3);
        assert_string_equal(f.calls[0].plugin, "bridge");
        assert_string_equal(f.calls[1].plugin, "portmap");
        assert_string_equal(f.calls[2].plugin, "tuning");
        snprintf(env_path, sizeof(env_path), "CNI_PATH=%s", bindir);
        for (size_t i = 0; i < 3; i++) {
                assert_true(has_env(&f.calls[i], "CNI_COMMAND=ADD"));
                assert_true(has_env(&f.calls[i], "CNI_CONTAINERID=pod1"));
                assert_true(has_env(&f.calls[i], "CNI_NETNS=/run/netns/x"));
                assert_true(has_env(&f.calls[i], "CNI_IFNAME=eth0"));
                assert_true(has_env(&f.calls[i], "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=a"));
                assert_true(has_env(&f.calls[i], env_path));
                in = stdin_of(&f.calls[i]);
                /* name and version come from the list, overriding the plugin's */
                assert_string_equal(str_at(in, "name"), "pods");
                assert_string_equal(str_at(in, "cniVersion"), "0.4.0");
                assert_int_equal(json_object_object_get_ex(in, "prevResult", &prev), i > 0);
                if (i > 0)
                        assert_non_null(strstr(json_object_to_json_string_ext(
                                                       prev, JSON_C_TO_STRING_NOSLASHESCAPE),
                                               "10.1.0.5/24"));
                json_object_put(in);
        }
        /* bridge: only ipRanges (portMappings is false there), stale value dropped */
        in = stdin_of(&f.calls[0]);
        assert_true(json_object_object_get_ex(in, "runtimeConfig", &v));
        assert_int_equal(json_object_object_length(v), 1);
        assert_true(json_object_object_get_ex(v, "ipRanges", NULL));
        assert_string_equal(str_at(in, "bridge"), "cni0");
        json_object_put(in);
        /* portmap: only portMappings */
        in = stdin_of(&f.calls[1]);
        assert_true(json_object_object_get_ex(in, "runtimeConfig", &v));
        assert_int_equal(json_object_object_length(v), 1);
        assert_non_null(
                strstr(json_object_to_json_string_ext(v, JSON_C_TO_STRING_NOSLASHESCAPE), "8080"));
        json_object_put(in);
        /* tuning declares nothing */
        in = stdin_of(&f.calls[2]);
        assert_false(json_object_object_get_ex(in, "runtimeConfig", NULL));
        json_object_put(in);

        assert_int_equal(res.n_ips, 1);
        assert_string_equal(res.ips[0], "10.1.0.5");
        assert_string_equal(res.interface, "eth0");
        assert_non_null(strstr(res.json, "10.1.0.5/24"));
        cni_result_clear(&res);
        cni_conf_free(c);
        fake_clear(&f);
}

static void add_100_two_families_host_ip_skipped(void **state)
{
        const char *out = "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"br0\"},"
                          "{\"name\":\"net1\",\"sandbox\":\"/x\"}],\"ips\":["
                          "{\"address\":\"192.168.0.1/24\",\"interface\":0},"
                          "{\"address\":\"192.168.0.7/24\",\"interface\":1},"
                          "{\"address\":\"fd00::7/64\",\"interface\":1},"
                          "{\"address\":\"fd00::8/64\",\"interface\":1}]}";
        struct fake f = {.replies = {{out, 0}}};
        char *bins[2];
        struct cni_exec x = exec_of(&f, bins);
        struct cni_invocation inv = {.container_id = "p", .netns = "/x", .ifname = "net1"};
        struct cni_conf *c =
                conf("{\"cniVersion\":\"1.0.0\",\"name\":\"single\",\"type\":\"bridge\"}");
        struct cni_result res = {0};
        struct uvm_error *err = NULL;

        (void) state;
        assert_int_equal(cni_add(&x, c, &inv, &res, &err), 0);
        assert_int_equal(f.n_calls, 1);
        assert_true(has_env(&f.calls[0], "CNI_ARGS="));
        assert_int_equal(res.n_ips, 2);
        assert_string_equal(res.ips[0], "192.168.0.7");
        assert_string_equal(res.ips[1], "fd00::7");
        assert_string_equal(res.interface, "net1");
        cni_result_clear(&res);
        cni_conf_free(c);
        fake_clear(&f);
}

static void add_plugin_error_stops_chain(void **state)
{
        struct fake f = {.replies = {{result040, 0},
                                     {"{\"code\":7,\"msg\":\"bad config\",\"details\":\"no "
                                      "chain\"}",
                                      1}}};
        char *bins[2];
        struct cni_exec x = exec_of(&f, bins);
        struct cni_invocation inv = {.container_id = "p", .netns = "/x", .ifname = "eth0"};
        struct cni_conf *c = conf(list040);
        struct cni_result res = {0};
        struct uvm_error *err = NULL;

        (void) state;
        assert_int_equal(cni_add(&x, c, &inv, &res, &err), -EIO);
        assert_int_equal(f.n_calls, 2);
        assert_non_null(err);
        assert_string_equal(err->msg, "CNI ADD on network 'pods': plugin portmap: bad config: no "
                                      "chain (code 7)");
        assert_null(res.json);
        uvm_error_free(err);
        cni_conf_free(c);
        fake_clear(&f);
}

static void expect_add_error(const char *out, int exit_status, const char *needle)
{
        struct fake f = {.replies = {{out, exit_status}}};
        char *bins[2];
        struct cni_exec x = exec_of(&f, bins);
        struct cni_invocation inv = {.container_id = "p", .netns = "/x", .ifname = "eth0"};
        struct cni_conf *c = conf("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"bridge\"}");
        struct cni_result res = {0};
        struct uvm_error *err = NULL;

        assert_true(cni_add(&x, c, &inv, &res, &err) < 0);
        assert_non_null(err);
        if (!strstr(err->msg, needle))
                fail_msg("'%s' not in '%s'", needle, err->msg);
        assert_null(res.json);
        uvm_error_free(err);
        cni_conf_free(c);
        fake_clear(&f);
}

static void add_bad_results(void **state)
{
        (void) state;
        expect_add_error("not json", 0, "not a JSON object");
        expect_add_error("{\"ips\":[]} trailing", 0, "not a JSON object");
        expect_add_error("[1,2]", 0, "not a JSON object");
        expect_add_error("", 0, "not a JSON object");
        expect_add_error("{\"ips\":[{\"address\":\"10.0.0.500/24\"}]}", 0, "invalid IP");
        expect_add_error("{\"ips\":[{\"address\":\"10.0.0.5/33\"}]}", 0, "invalid IP");
        expect_add_error("{\"ips\":[{\"address\":\"10.0.0.5\"}]}", 0, "invalid IP");
        expect_add_error("{\"ips\":[{\"address\":7}]}", 0, "invalid IP");
        expect_add_error("{\"ips\":{}}", 0, "must be arrays");
        expect_add_error("{\"ips\":[{\"address\":\"10.0.0.5/24\",\"interface\":3}],"
                         "\"interfaces\":[{\"name\":\"eth0\"}]}",
                         0, "not in the result");
        expect_add_error("{\"ips\":[{\"address\":\"10.0.0.5/24\",\"interface\":\"0\"}]}", 0,
                         "not an index");
        expect_add_error("{\"interfaces\":[{\"name\":\"a/b\",\"sandbox\":\"x\"}]}", 0,
                         "no valid name");
        /* failures without error JSON still say what happened */
        expect_add_error("garbage", 2, "plugin bridge: exited with status 2, output: garbage");
        expect_add_error("", 1, "plugin bridge: exited with status 1 and no error output");
        expect_add_error("{\"code\":11,\"msg\":\"busy\"}", 1, "plugin bridge: busy (code 11)");
}

static void del_reverse_and_continues(void **state)
{
        struct fake f = {.replies = {{"{\"code\":5,\"msg\":\"first\"}", 1},
                                     {"{\"code\":5,\"msg\":\"second\"}", 1},
                                     {"", 0}}};
        char *bins[2];
        struct cni_exec x = exec_of(&f, bins);
        struct cni_invocation inv = {.container_id = "p",
                                     .netns = "",
                                     .ifname = "eth0",
                                     .runtime_config = rc,
                                     .prev_result = result040};
        struct cni_conf *c = conf(list040);
        struct uvm_error *err = NULL;
        json_object *in, *prev;

        (void) state;
        assert_int_equal(cni_del(&x, c, &inv, &err), -EIO);
        assert_int_equal(f.n_calls, 3);
        assert_string_equal(f.calls[0].plugin, "tuning");
        assert_string_equal(f.calls[1].plugin, "portmap");
        assert_string_equal(f.calls[2].plugin, "bridge");
        for (size_t i = 0; i < 3; i++) {
                assert_true(has_env(&f.calls[i], "CNI_COMMAND=DEL"));
                assert_true(has_env(&f.calls[i], "CNI_NETNS="));
                in = stdin_of(&f.calls[i]);
                assert_true(json_object_object_get_ex(in, "prevResult", &prev));
                assert_non_null(
                        strstr(json_object_to_json_string_ext(prev, JSON_C_TO_STRING_NOSLASHESCAPE),
                               "10.1.0.5/24"));
                json_object_put(in);
        }
        assert_non_null(err);
        assert_non_null(strstr(err->msg, "plugin tuning: first (code 5)"));
        assert_null(strstr(err->msg, "second"));
        uvm_error_free(err);
        err = NULL;
        fake_clear(&f);

        /* all succeed: 0, and no error recorded */
        f = (struct fake){.replies = {{"", 0}, {"", 0}, {"", 0}}};
        assert_int_equal(cni_del(&x, c, &inv, &err), 0);
        assert_null(err);
        assert_int_equal(f.n_calls, 3);
        cni_conf_free(c);
        fake_clear(&f);
}

static void versions_refused(void **state)
{
        const char *bad[] = {"0.2.0", "0.1.0", "1.2.0", "2.0.0", "1.0", "abc"};
        struct fake f = {0};
        char *bins[2], text[256];
        struct cni_exec x = exec_of(&f, bins);
        struct cni_invocation inv = {.container_id = "p", .netns = "/x", .ifname = "eth0"};
        struct cni_result res = {0};

        (void) state;
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct uvm_error *err = NULL;
                struct cni_conf *c;
                snprintf(text, sizeof(text),
                         "{\"cniVersion\":\"%s\",\"name\":\"n\",\"type\":\"bridge\"}", bad[i]);
                c = conf(text);
                assert_int_equal(cni_add(&x, c, &inv, &res, &err), -ENOTSUP);
                assert_non_null(strstr(err->msg, "is not supported"));
                assert_non_null(strstr(err->msg, bad[i]));
                uvm_error_free(err);
                err = NULL;
                assert_int_equal(cni_del(&x, c, &inv, &err), -ENOTSUP);
                uvm_error_free(err);
                cni_conf_free(c);
        }
        assert_int_equal(f.n_calls, 0);
        assert_true(cni_version_supported("0.3.0"));
        assert_true(cni_version_supported("0.3.1"));
        assert_true(cni_version_supported("1.1.0"));
}

static void check_needs_040_and_prev(void **state)
{
        struct fake f = {.replies = {{"", 0}, {"", 0}, {"", 0}}};
        char *bins[2];
        struct cni_exec x = exec_of(&f, bins);
        struct cni_invocation inv = {.container_id = "p", .netns = "/x", .ifname = "eth0"};
        struct cni_conf *old =
                conf("{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"type\":\"bridge\"}");
        struct cni_conf *c = conf(list040);
        struct uvm_error *err = NULL;
        json_object *in;

        (void) state;
        inv.prev_result = result040;
        assert_int_equal(cni_check(&x, old, &inv, &err), -EOPNOTSUPP);
        uvm_error_free(err);
        err = NULL;
        inv.prev_result = NULL;
        assert_int_equal(cni_check(&x, c, &inv, &err), -EINVAL);
        uvm_error_free(err);
        err = NULL;
        assert_int_equal(f.n_calls, 0);
        inv.prev_result = result040;
        assert_int_equal(cni_check(&x, c, &inv, &err), 0);
        assert_int_equal(f.n_calls, 3);
        assert_string_equal(f.calls[0].plugin, "bridge");
        assert_true(has_env(&f.calls[0], "CNI_COMMAND=CHECK"));
        in = stdin_of(&f.calls[2]);
        assert_true(json_object_object_get_ex(in, "prevResult", NULL));
        json_object_put(in);
        cni_conf_free(old);
        cni_conf_free(c);
        fake_clear(&f);
}

static void invalid_invocations(void **state)
{
        struct fake f = {0};
        char *bins[2];
        struct cni_exec x = exec_of(&f, bins);
        struct cni_conf *c = conf(list040);
        struct cni_invocation bad[] = {
                {.container_id = "../p", .netns = "/x", .ifname = "eth0"},
                {.container_id = "", .netns = "/x", .ifname = "eth0"},
                {.container_id = "p", .netns = "/x", .ifname = "averyveryverylongname"},
                {.container_id = "p", .netns = "/x", .ifname = "et/h0"},
                {.container_id = "p", .netns = "/x\n", .ifname = "eth0"},
                {.container_id = "p", .netns = "/x", .ifname = "eth0", .runtime_config = "[]"},
                {.container_id = "p", .netns = "/x", .ifname = "eth0", .runtime_config = "{"},
        };
        struct cni_result res = {0};

        (void) state;
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct uvm_error *err = NULL;
                assert_int_equal(cni_add(&x, c, &bad[i], &res, &err), -EINVAL);
                assert_non_null(err);
                uvm_error_free(err);
        }
        /* a missing plugin binary */
        {
                struct cni_conf *m =
                        conf("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"nosuch\"}");
                struct cni_invocation inv = {.container_id = "p", .netns = "/x", .ifname = "e"};
                struct uvm_error *err = NULL;
                assert_int_equal(cni_add(&x, m, &inv, &res, &err), -ENOENT);
                assert_non_null(strstr(err->msg, "plugin nosuch: not found"));
                uvm_error_free(err);
                cni_conf_free(m);
        }
        assert_int_equal(f.n_calls, 0);
        cni_conf_free(c);
}

/* --- the real executor ------------------------------------------------- */

static void plugin(const char *name, const char *body)
{
        char p[256], *text = NULL;

        snprintf(p, sizeof(p), "%s/%s", bindir, name);
        assert_true(asprintf(&text, "#!/bin/sh\n%s\n", body) > 0);
        assert_int_equal(fs_write_atomic(p, text, strlen(text), 0755), 0);
        free(text);
}

static int count_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        int n = 0;

        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static long long ms_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct cni_exec real_exec(char **bins, unsigned timeout_ms)
{
        bins[0] = bindir;
        bins[1] = NULL;
        return (struct cni_exec){
                .ops = &cni_exec_spawn, .bin_dirs = bins, .timeout_ms = timeout_ms};
}

static void real_success(void **state)
{
        char *bins[2], path[300], *text = NULL;
        struct cni_exec x = real_exec(bins, 5000);
        struct cni_invocation inv = {.container_id = "pod9",
                                     .netns = "/run/netns/p9",
                                     .ifname = "eth0",
                                     .args = "K8S_POD_NAME=a"};
        struct cni_conf *c = conf("{\"cniVersion\":\"1.0.0\",\"name\":\"rt\",\"type\":\"okplug\"}");
        struct cni_result res = {0};
        struct uvm_error *err = NULL;
        int fds = count_fds();

        (void) state;
        setenv("UVMD_TEST_SECRET", "leak", 1);
        snprintf(path, sizeof(path), "%s/seen", bindir);
        plugin("okplug", "cat > \"$(dirname \"$0\")/seen\"\n"
                         "env >> \"$(dirname \"$0\")/seen\"\n"
                         "echo 'some log' >&2\n"
                         "printf '{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"%s\","
                         "\"sandbox\":\"%s\"}],\"ips\":[{\"address\":\"10.9.0.2/16\","
                         "\"interface\":0}]}' \"$CNI_IFNAME\" \"$CNI_NETNS\"");
        assert_int_equal(cni_add(&x, c, &inv, &res, &err), 0);
        assert_null(err);
        assert_string_equal(res.ips[0], "10.9.0.2");
        assert_string_equal(res.interface, "eth0");
        assert_int_equal(fs_read_file(path, 1 << 20, &text, NULL), 0);
        assert_non_null(strstr(text, "\"name\":\"rt\""));
        assert_non_null(strstr(text, "CNI_COMMAND=ADD"));
        assert_non_null(strstr(text, "CNI_CONTAINERID=pod9"));
        assert_non_null(strstr(text, "CNI_ARGS=K8S_POD_NAME=a"));
        /* the daemon's environment is not passed on */
        assert_null(strstr(text, "UVMD_TEST_SECRET"));
        free(text);
        cni_result_clear(&res);
        cni_conf_free(c);
        assert_int_equal(count_fds(), fds);
}

static void real_error_json(void **state)
{
        char *bins[2];
        struct cni_exec x = real_exec(bins, 5000);
        struct cni_invocation inv = {.container_id = "p", .netns = "/x", .ifname = "eth0"};
        struct cni_conf *c =
                conf("{\"cniVersion\":\"1.1.0\",\"name\":\"rt\",\"type\":\"errplug\"}");
        struct cni_result res = {0};
        struct uvm_error *err = NULL;

        (void) state;
        plugin("errplug", "cat >/dev/null\nprintf '{\"cniVersion\":\"1.1.0\",\"code\":11,"
                          "\"msg\":\"address pool busy\",\"details\":\"retry\"}'\nexit 1");
        assert_int_equal(cni_add(&x, c, &inv, &res, &err), -EAGAIN);
        assert_string_equal(err->msg,
                            "CNI ADD on network 'rt': plugin errplug: address pool busy: retry "
                            "(code 11)");
        uvm_error_free(err);
        err = NULL;
        /* killed by a signal */
        plugin("errplug", "kill -9 $$");
        assert_int_equal(cni_add(&x, c, &inv, &res, &err), -EIO);
        assert_non_null(strstr(err->msg, "exited with status 137"));
        uvm_error_free(err);
        cni_conf_free(c);
}

static void real_timeout_kills(void **state)
{
        char *bins[2];
        struct cni_exec x = real_exec(bins, 300);
        struct cni_invocation inv = {.container_id = "p", .netns = "/x", .ifname = "eth0"};
        struct cni_conf *c =
                conf("{\"cniVersion\":\"1.0.0\",\"name\":\"rt\",\"type\":\"sleepplug\"}");
        struct cni_result res = {0};
        struct uvm_error *err = NULL;
        long long t0;
        int fds = count_fds();

        (void) state;
        plugin("sleepplug", "sleep 20 &\nsleep 20");
        t0 = ms_now();
        assert_int_equal(cni_add(&x, c, &inv, &res, &err), -ETIMEDOUT);
        assert_true(ms_now() - t0 < 3000);
        assert_non_null(strstr(err->msg, "plugin sleepplug: timed out after 300 ms"));
        uvm_error_free(err);
        cni_conf_free(c);
        assert_int_equal(count_fds(), fds);
}

static void real_background_child_does_not_block(void **state)
{
        char *bins[2];
        struct cni_exec x = real_exec(bins, 10000);
        struct cni_invocation inv = {.container_id = "p", .netns = "/x", .ifname = "eth0"};
        struct cni_conf *c = conf("{\"cniVersion\":\"1.0.0\",\"name\":\"rt\",\"type\":\"bgplug\"}");
        struct cni_result res = {0};
        struct uvm_error *err = NULL;
        long long t0;

        (void) state;
        /* a child that keeps stdout open must not hold up the result */
        plugin("bgplug", "sleep 5 &\nprintf '{\"ips\":[{\"address\":\"10.0.0.9/8\"}]}'");
        t0 = ms_now();
        assert_int_equal(cni_add(&x, c, &inv, &res, &err), 0);
        assert_true(ms_now() - t0 < 3000);
        assert_string_equal(res.ips[0], "10.0.0.9");
        cni_result_clear(&res);
        cni_conf_free(c);
}

static void real_too_much_output(void **state)
{
        char *bins[2];
        struct cni_exec x = real_exec(bins, 10000);
        struct cni_invocation inv = {.container_id = "p", .netns = "/x", .ifname = "eth0"};
        struct cni_conf *c =
                conf("{\"cniVersion\":\"1.0.0\",\"name\":\"rt\",\"type\":\"bigplug\"}");
        struct cni_result res = {0};
        struct uvm_error *err = NULL;

        (void) state;
        plugin("bigplug", "head -c 3000000 /dev/zero | tr '\\0' a");
        assert_int_equal(cni_add(&x, c, &inv, &res, &err), -EFBIG);
        assert_non_null(strstr(err->msg, "plugin bigplug: output larger than"));
        uvm_error_free(err);
        cni_conf_free(c);
}

static void real_unread_stdin_and_bad_path(void **state)
{
        char *env[] = {NULL}, *out = NULL, p[300];
        struct uvm_error *err = NULL;
        size_t big = 600000;
        char *in = malloc(big + 1);
        int status = -1;

        (void) state;
        /* more stdin than a pipe holds, and the plugin never reads it */
        memset(in, ' ', big);
        in[big] = '\0';
        plugin("okplug", "exit 3");
        snprintf(p, sizeof(p), "%s/okplug", bindir);
        assert_int_equal(cni_exec_spawn.run(NULL, p, env, in, 5000, &out, &status, &err), 0);
        assert_int_equal(status, 3);
        assert_string_equal(out, "");
        free(out);
        free(in);
        assert_true(cni_exec_spawn.run(NULL, "/nonexistent/plug", env, "{}", 5000, &out, &status,
                                       &err) < 0);
        assert_non_null(strstr(err->msg, "cannot start"));
        uvm_error_free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(add_040_chains_prev_result),
                cmocka_unit_test(add_100_two_families_host_ip_skipped),
                cmocka_unit_test(add_plugin_error_stops_chain),
                cmocka_unit_test(add_bad_results),
                cmocka_unit_test(del_reverse_and_continues),
                cmocka_unit_test(versions_refused),
                cmocka_unit_test(check_needs_040_and_prev),
                cmocka_unit_test(invalid_invocations),
                cmocka_unit_test(real_success),
                cmocka_unit_test(real_error_json),
                cmocka_unit_test(real_timeout_kills),
                cmocka_unit_test(real_background_child_does_not_block),
                cmocka_unit_test(real_too_much_output),
                cmocka_unit_test(real_unread_stdin_and_bad_path),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
