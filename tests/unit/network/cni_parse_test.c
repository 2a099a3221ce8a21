/* The portable half of the CNI executor (cni_conf.c, cni_exec.c) on both
 * platforms: config lists, results, and the ADD/DEL chain against a fake
 * executor (prevResult chaining, reverse DEL order, the environment, the
 * plugin found in a bin dir: "<type>" on Linux, "<type>.exe" on Windows).
 * Runs on Linux and under Wine. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/macros.h"
#include "common/platform.h"
#include "network/cni_conf.h"
#include "network/cni_exec.h"
#include "tests/unit/network/cni_env.h"

#ifdef _WIN32
#define PLUGIN_FILE(t) t ".exe"
#define PATH_SEP ";"
#else
#define PLUGIN_FILE(t) t
#define PATH_SEP ":"
#endif

static void test_conf_single_wrapped(void **state)
{
        struct cni_conf *c = NULL;

        assert_int_equal(cni_conf_parse("a.conf",
                                        "{\"cniVersion\":\"0.4.0\",\"name\":\"n\","
                                        "\"type\":\"win-bridge\"}",
                                        &c, NULL),
                         0);
        assert_int_equal(c->n_types, 1);
        assert_string_equal(c->types[0], "win-bridge");
        assert_non_null(strstr(c->json, "\"plugins\":[{"));
        cni_conf_free(c);
}

static void test_conf_refused(void **state)
{
        const char *bad[] = {
                "[]",
                "{\"name\":\"n\",\"plugins\":[{\"type\":\"a\"}]}",
                "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[]}",
                "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"..\\\\x\"}]}",
                "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"a/b\"}]}",
                "{\"cniVersion\":\"1.0.0\",\"name\":\"\",\"plugins\":[{\"type\":\"a\"}]}",
        };
        struct cni_conf *c = NULL;

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct uvm_error *e = NULL;
                assert_int_equal(cni_conf_parse("x", bad[i], &c, &e), -EINVAL);
                assert_non_null(e);
                uvm_error_free(e);
        }
}

static void test_result_parse(void **state)
{
        struct cni_result r = {0};
        struct uvm_error *e = NULL;

        assert_int_equal(cni_result_parse("p",
                                          "{\"cniVersion\":\"1.0.0\",\"interfaces\":["
                                          "{\"name\":\"host0\"},{\"name\":\"eth0\",\"sandbox\":"
                                          "\"5e5e5e5e-0000-4000-8000-000000000001\"}],\"ips\":["
                                          "{\"address\":\"10.0.0.1/24\",\"interface\":0},"
                                          "{\"address\":\"10.0.0.9/24\",\"interface\":1},"
                                          "{\"address\":\"fd00::9/64\",\"interface\":1}]}",
                                          &r, NULL),
                         0);
        /* the host side's address is not the pod's */
        assert_int_equal(r.n_ips, 2);
        assert_string_equal(r.ips[0], "10.0.0.9");
        assert_string_equal(r.ips[1], "fd00::9");
        assert_string_equal(r.interface, "eth0");
        cni_result_clear(&r);
        /* 0.3.x/0.4.0 without interface indexes */
        assert_int_equal(
                cni_result_parse("p", "{\"ips\":[{\"address\":\"192.168.1.2/16\"}]}", &r, NULL), 0);
        assert_string_equal(r.ips[0], "192.168.1.2");
        cni_result_clear(&r);
        assert_int_equal(
                cni_result_parse("p", "{\"ips\":[{\"address\":\"10.0.0.300/24\"}]}", &r, &e), -EIO);
        uvm_error_free(e);
        e = NULL;
        assert_int_equal(cni_result_parse("p",
                                          "{\"ips\":[{\"address\":\"10.0.0.3/24\","
                                          "\"interface\":4}]}",
                                          &r, &e),
                         -EIO);
        uvm_error_free(e);
        e = NULL;
        assert_int_equal(cni_result_parse("p", "{} trailing", &r, &e), -EIO);
        uvm_error_free(e);
}

/* The fake executor: records each call, answers ADD with a result naming
 * the plugin so the chain can be followed. */
struct call {
        char type[32], cmd[8], path_env[512], netns[64];
        bool had_prev;
        char prev_from[32];
};

static struct {
        struct call calls[8];
        size_t n;
        int fail_at; /* 1-based call that exits 1, 0 none */
} fx;

static int fx_run(void *data, const char *path, char *const *env, const char *in, unsigned ms,
                  char **ret_out, int *ret_exit, struct uvm_error **err)
{
        struct call *c = &fx.calls[fx.n++];
        const char *base = strrchr(path, '/'), *b2 = strrchr(path, '\\'), *prev;

        base = b2 && (!base || b2 > base) ? b2 : base;
        snprintf(c->type, sizeof(c->type), "%s", base ? base + 1 : path);
        snprintf(c->cmd, sizeof(c->cmd), "%s", cni_env(env, "CNI_COMMAND"));
        snprintf(c->path_env, sizeof(c->path_env), "%s", cni_env(env, "CNI_PATH"));
        snprintf(c->netns, sizeof(c->netns), "%s", cni_env(env, "CNI_NETNS"));
        prev = strstr(in, "\"prevResult\"");
        c->had_prev = prev != NULL;
        if (prev && (prev = strstr(prev, "\"by\":\"")))
                sscanf(prev + 6, "%31[^\"]", c->prev_from);
        *ret_exit = fx.fail_at == (int) fx.n;
        if (*ret_exit)
                *ret_out = strdup("{\"code\":7,\"msg\":\"nope\"}");
        else if (strcmp(c->cmd, "ADD") == 0) {
                char buf[256];
                snprintf(buf, sizeof(buf),
                         "{\"cniVersion\":\"1.0.0\",\"by\":\"%s\",\"ips\":[{\"address\":"
                         "\"10.1.0.%zu/24\"}]}",
                         c->type, fx.n);
                *ret_out = strdup(buf);
        } else
                *ret_out = strdup("");
        return 0;
}

static const struct cni_exec_ops fx_ops = {.run = fx_run};

struct rig {
        char *root, *bin1, *bin2;
        char *bins[3];
        struct cni_conf *conf;
};

static void touch(const char *dir, const char *name)
{
        char p[1024];

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        assert_int_equal(plat_write_file_atomic(p, "x", 1, 0755), 0);
}

static int setup(void **state)
{
        struct rig *g = calloc(1, sizeof(*g));

        memset(&fx, 0, sizeof(fx));
        assert_int_equal(plat_mkdtemp("cniparse", &g->root), 0);
        assert_true(asprintf(&g->bin1, "%s/b1", g->root) > 0);
        assert_true(asprintf(&g->bin2, "%s/b2", g->root) > 0);
        assert_int_equal(plat_mkdir_p(g->bin1, 0755), 0);
        assert_int_equal(plat_mkdir_p(g->bin2, 0755), 0);
        touch(g->bin1, PLUGIN_FILE("first"));
        touch(g->bin2, PLUGIN_FILE("second"));
        /* a file without the platform's form is no plugin */
        touch(g->bin2, "third.txt");
        g->bins[0] = g->bin1;
        g->bins[1] = g->bin2;
        assert_int_equal(cni_conf_parse("l.conflist",
                                        "{\"cniVersion\":\"1.0.0\",\"name\":\"net\",\"plugins\":["
                                        "{\"type\":\"first\"},{\"type\":\"second\"}]}",
                                        &g->conf, NULL),
                         0);
        *state = g;
        return 0;
}

static int teardown(void **state)
{
        struct rig *g = *state;

        cni_conf_free(g->conf);
        plat_rm_rf(g->root);
        free(g->root);
        free(g->bin1);
        free(g->bin2);
        free(g);
        return 0;
}

static const struct cni_invocation inv = {
        .container_id = "pod1",
        .netns = "5e5e5e5e-0000-4000-8000-000000000001",
        .ifname = "eth0",
};

/* The result's "dns" is advice: kept when every entry is one resolv.conf
 * can take, else dropped whole while the result still parses. */
static void test_result_dns(void **state)
{
        static const char *const dropped[] = {
                "\"dns\":[]",
                "\"dns\":{\"nameservers\":\"10.0.0.2\"}",
                "\"dns\":{\"nameservers\":[\"not-an-ip\"]}",
                "\"dns\":{\"nameservers\":[\"10.0.0.2\\nnameserver 6.6.6.6\"]}",
                "\"dns\":{\"nameservers\":[7]}",
                "\"dns\":{\"search\":[\"a b\"]}",
                "\"dns\":{\"search\":[\"-bad.example\"]}",
                "\"dns\":{\"options\":[\"ndots:1;x\"]}",
                "\"dns\":{\"domain\":\"a\\u0000b\"}",
                "\"dns\":{\"domain\":5}",
        };
        struct cni_result r = {0};
        char doc[4096];
        int n;

        assert_int_equal(cni_result_parse("p",
                                          "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":"
                                          "\"10.0.0.9/24\"}],\"dns\":{\"nameservers\":["
                                          "\"10.0.0.2\",\"fd00::2\"],\"domain\":\"corp.example\","
                                          "\"search\":[\"a.example\",\"b.example\"],"
                                          "\"options\":[\"ndots:2\"]}}",
                                          &r, NULL),
                         0);
        assert_non_null(r.dns.nameservers);
        assert_string_equal(r.dns.nameservers[0], "10.0.0.2");
        assert_string_equal(r.dns.nameservers[1], "fd00::2");
        assert_null(r.dns.nameservers[2]);
        assert_string_equal(r.dns.domain, "corp.example");
        assert_string_equal(r.dns.search[0], "a.example");
        assert_string_equal(r.dns.search[1], "b.example");
        assert_null(r.dns.search[2]);
        assert_string_equal(r.dns.options[0], "ndots:2");
        assert_null(r.dns.options[1]);
        cni_result_clear(&r);

        /* none, and the empty lists of a plugin that prints them all */
        assert_int_equal(
                cni_result_parse("p", "{\"dns\":{\"nameservers\":[],\"search\":null}}", &r, NULL),
                0);
        assert_null(r.dns.nameservers);
        assert_null(r.dns.search);
        assert_null(r.dns.domain);
        cni_result_clear(&r);

        /* too many servers for resolv.conf's bounds */
        n = snprintf(doc, sizeof(doc), "{\"dns\":{\"nameservers\":[");
        for (int i = 0; i < 33; i++)
                n += snprintf(doc + n, sizeof(doc) - (size_t) n, "%s\"10.0.0.%d\"", i ? "," : "",
                              i + 1);
        snprintf(doc + n, sizeof(doc) - (size_t) n, "]}}");
        assert_int_equal(cni_result_parse("p", doc, &r, NULL), 0);
        assert_null(r.dns.nameservers);
        cni_result_clear(&r);

        for (size_t i = 0; i < ARRAY_SIZE(dropped); i++) {
                snprintf(doc, sizeof(doc),
                         "{\"ips\":[{\"address\":\"10.0.0.9/24\"}],%s,"
                         "\"interfaces\":[]}",
                         dropped[i]);
                assert_int_equal(cni_result_parse("p", doc, &r, NULL), 0);
                assert_int_equal(r.n_ips, 1);
                assert_null(r.dns.nameservers);
                assert_null(r.dns.search);
                assert_null(r.dns.domain);
                assert_null(r.dns.options);
                cni_result_clear(&r);
        }
}

static void test_find_plugin(void **state)
{
        struct rig *g = *state;
        char *p = NULL;

        assert_int_equal(cni_find_plugin(g->bins, "second", &p), 0);
        assert_non_null(strstr(p, PLUGIN_FILE("second")));
        free(p);
        assert_int_equal(cni_find_plugin(g->bins, "third", &p), -ENOENT);
}

static void test_add_chain_and_del(void **state)
{
        struct rig *g = *state;
        struct cni_exec x = {&fx_ops, NULL, g->bins, 1000};
        struct cni_invocation di = inv;
        struct cni_result r = {0};
        char want_path[1024];

        assert_int_equal(cni_add(&x, g->conf, &inv, &r, NULL), 0);
        assert_int_equal(fx.n, 2);
        assert_string_equal(fx.calls[0].type, PLUGIN_FILE("first"));
        assert_false(fx.calls[0].had_prev);
        /* the second plugin got the first one's result */
        assert_string_equal(fx.calls[1].prev_from, PLUGIN_FILE("first"));
        assert_string_equal(fx.calls[1].netns, inv.netns);
        snprintf(want_path, sizeof(want_path), "%s" PATH_SEP "%s", g->bin1, g->bin2);
        assert_string_equal(fx.calls[0].path_env, want_path);
        /* the last result is the answer */
        assert_string_equal(r.ips[0], "10.1.0.2");

        di.prev_result = r.json;
        assert_int_equal(cni_del(&x, g->conf, &di, NULL), 0);
        assert_int_equal(fx.n, 4);
        /* reverse order, each with the ADD result */
        assert_string_equal(fx.calls[2].type, PLUGIN_FILE("second"));
        assert_string_equal(fx.calls[3].type, PLUGIN_FILE("first"));
        assert_string_equal(fx.calls[3].cmd, "DEL");
        assert_string_equal(fx.calls[3].prev_from, PLUGIN_FILE("second"));
        cni_result_clear(&r);
}

static void test_add_fails_del_goes_on(void **state)
{
        struct rig *g = *state;
        struct cni_exec x = {&fx_ops, NULL, g->bins, 1000};
        struct cni_result r = {0};
        struct uvm_error *e = NULL;

        fx.fail_at = 1;
        assert_int_equal(cni_add(&x, g->conf, &inv, &r, &e), -EIO);
        assert_non_null(strstr(e->msg, "nope"));
        assert_int_equal(fx.n, 1); /* the chain stops */
        e = uvm_error_free(e);
        /* DEL runs every plugin past a failure, the first error kept */
        fx.n = 0;
        fx.fail_at = 1;
        assert_int_equal(cni_del(&x, g->conf, &inv, &e), -EIO);
        assert_int_equal(fx.n, 2);
        uvm_error_free(e);
}

static void test_bad_invocation(void **state)
{
        struct rig *g = *state;
        struct cni_exec x = {&fx_ops, NULL, g->bins, 1000};
        struct cni_invocation bad = inv;
        struct cni_result r = {0};
        struct uvm_error *e = NULL;

        bad.container_id = "-starts-with-dash";
        assert_int_equal(cni_add(&x, g->conf, &bad, &r, &e), -EINVAL);
        e = uvm_error_free(e);
        bad = inv;
        bad.ifname = "an-interface-name-too-long";
        assert_int_equal(cni_add(&x, g->conf, &bad, &r, &e), -EINVAL);
        uvm_error_free(e);
        assert_int_equal(fx.n, 0);
}

static void test_load_dir(void **state)
{
        struct rig *g = *state;
        struct cni_conf *c = NULL;
        char *conf = NULL, p[1024];
        const char *text = "{\"cniVersion\":\"1.0.0\",\"name\":\"second-net\","
                           "\"plugins\":[{\"type\":\"second\"}]}";
        const char *missing = "{\"cniVersion\":\"1.0.0\",\"name\":\"m\","
                              "\"plugins\":[{\"type\":\"third\"}]}";

        assert_true(asprintf(&conf, "%s/conf", g->root) > 0);
        assert_int_equal(plat_mkdir_p(conf, 0755), 0);
        /* lexically first, but its plugin is missing: skipped */
        snprintf(p, sizeof(p), "%s/05-missing.conflist", conf);
        assert_int_equal(plat_write_file_atomic(p, missing, strlen(missing), 0644), 0);
        snprintf(p, sizeof(p), "%s/10-ok.conflist", conf);
        assert_int_equal(plat_write_file_atomic(p, text, strlen(text), 0644), 0);
        snprintf(p, sizeof(p), "%s/20-later.conf", conf);
        assert_int_equal(plat_write_file_atomic(p, text, strlen(text), 0644), 0);
        assert_int_equal(cni_conf_load_dir(conf, g->bins, &c, NULL), 0);
        assert_non_null(strstr(c->file, "10-ok.conflist"));
        cni_conf_free(c);
        free(conf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_conf_single_wrapped),
                cmocka_unit_test(test_conf_refused),
                cmocka_unit_test(test_result_parse),
                cmocka_unit_test(test_result_dns),
                cmocka_unit_test_setup_teardown(test_find_plugin, setup, teardown),
                cmocka_unit_test_setup_teardown(test_add_chain_and_del, setup, teardown),
                cmocka_unit_test_setup_teardown(test_add_fails_del_goes_on, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_invocation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_dir, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
