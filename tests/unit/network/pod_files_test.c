/* net_pod_write_files: resolv.conf / hosts / hostname generation. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "network/net.h"

static char *slurp(const char *dir, const char *name)
{
        char path[4096];
        char *buf = NULL;
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(fs_read_file(path, 65536, &buf, &len), 0);
        return buf;
}

static int setup(void **state)
{
        char tmpl[] = "/tmp/netfiles.XXXXXX";

        assert_non_null(mkdtemp(tmpl));
        *state = strdup(tmpl);
        return 0;
}

static int teardown(void **state)
{
        fs_rm_rf(*state);
        free(*state);
        return 0;
}

static void full_config(void **state)
{
        char *servers[] = {"10.96.0.10", "fd00::a", NULL};
        char *searches[] = {"default.svc.cluster.local", "cluster.local", NULL};
        char *options[] = {"ndots:5", "timeout:2", NULL};
        struct net_pod_config c = {.hostname = "web-0",
                                   .dns_servers = servers,
                                   .dns_searches = searches,
                                   .dns_options = options};
        struct uvm_error *err = NULL;
        char *s;

        assert_int_equal(net_pod_write_files(*state, &c, "10.88.0.7", &err), 0);
        s = slurp(*state, "resolv.conf");
        assert_string_equal(s, "nameserver 10.96.0.10\nnameserver fd00::a\n"
                               "search default.svc.cluster.local cluster.local\n"
                               "options ndots:5 timeout:2\n");
        free(s);
        s = slurp(*state, "hosts");
        assert_non_null(strstr(s, "127.0.0.1\tlocalhost\n"));
        assert_non_null(strstr(s, "\n10.88.0.7\tweb-0\n"));
        free(s);
        s = slurp(*state, "hostname");
        assert_string_equal(s, "web-0\n");
        free(s);
}

static void no_dns_no_ip(void **state)
{
        struct net_pod_config c = {.hostname = "h"};
        struct uvm_error *err = NULL;
        char *s;

        assert_int_equal(net_pod_write_files(*state, &c, NULL, &err), 0);
        s = slurp(*state, "resolv.conf");
        assert_string_equal(s, "");
        free(s);
        s = slurp(*state, "hosts");
        assert_null(strstr(s, "\th\n"));
        free(s);
}

static void expect_einval(const char *dir, const struct net_pod_config *c, const char *ip,
                          const char *needle)
{
        struct uvm_error *err = NULL;

        assert_int_equal(net_pod_write_files(dir, c, ip, &err), -EINVAL);
        assert_non_null(err);
        assert_non_null(strstr(err->msg, needle));
        uvm_error_free(err);
}

static void rejects_injection(void **state)
{
        char *bad_server[] = {"1.2.3.4\nnameserver 6.6.6.6", NULL};
        char *bad_opt[] = {"ndots:5 rotate", NULL};
        char *bad_search[] = {"a;b", NULL};
        struct net_pod_config c = {.hostname = "h"};

        c.dns_servers = bad_server;
        expect_einval(*state, &c, NULL, "invalid DNS servers");
        c.dns_servers = NULL;
        c.dns_options = bad_opt;
        expect_einval(*state, &c, NULL, "invalid DNS options");
        c.dns_options = NULL;
        c.dns_searches = bad_search;
        expect_einval(*state, &c, NULL, "invalid DNS searches");
        c.dns_searches = NULL;
        c.hostname = "bad host";
        expect_einval(*state, &c, NULL, "invalid pod hostname");
        c.hostname = "h";
        expect_einval(*state, &c, "10.0.0.300", "invalid pod IP");
}

static void bounds_entries(void **state)
{
        char *many[40];
        struct net_pod_config c = {.hostname = "h", .dns_options = many};

        for (int i = 0; i < 39; i++)
                many[i] = "ndots:1";
        many[39] = NULL;
        expect_einval(*state, &c, NULL, "too many DNS options");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(full_config, setup, teardown),
                cmocka_unit_test_setup_teardown(no_dns_no_ip, setup, teardown),
                cmocka_unit_test_setup_teardown(rejects_injection, setup, teardown),
                cmocka_unit_test_setup_teardown(bounds_entries, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
