/* net_pod_files_build (network/pod_files.h): the text alone, portable, so
 * it runs on Linux and under Wine. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "network/pod_files.h"

static void full(void **state)
{
        char *servers[] = {"10.96.0.10", "fd00::a", NULL};
        char *searches[] = {"ns.svc.cluster.local", "cluster.local", NULL};
        char *options[] = {"ndots:5", "edns0", NULL};
        struct net_pod_files f = {0};
        struct uvm_error *e = NULL;

        (void) state;
        assert_int_equal(net_pod_files_build(&(struct net_pod_files_in){"web-0", "10.88.66.7",
                                                                        servers, searches, options},
                                             &f, &e),
                         0);
        assert_string_equal(f.resolv_conf, "nameserver 10.96.0.10\nnameserver fd00::a\n"
                                           "search ns.svc.cluster.local cluster.local\n"
                                           "options ndots:5 edns0\n");
        assert_string_equal(f.hosts, "127.0.0.1\tlocalhost\n"
                                     "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                     "10.88.66.7\tweb-0\n");
        assert_string_equal(f.hostname, "web-0\n");
        net_pod_files_clear(&f);
        assert_null(f.hosts);
}

static void no_network(void **state)
{
        struct net_pod_files f = {0};
        struct uvm_error *e = NULL;

        (void) state;
        assert_int_equal(
                net_pod_files_build(&(struct net_pod_files_in){.hostname = "solo"}, &f, &e), 0);
        assert_string_equal(f.resolv_conf, "");
        assert_string_equal(f.hosts, "127.0.0.1\tlocalhost\n"
                                     "::1\tlocalhost ip6-localhost ip6-loopback\n");
        net_pod_files_clear(&f);
}

static void refused(const struct net_pod_files_in *in, const char *what)
{
        struct net_pod_files f = {.hosts = (char *) "untouched"};
        struct uvm_error *e = NULL;

        assert_int_equal(net_pod_files_build(in, &f, &e), -EINVAL);
        assert_non_null(e);
        assert_non_null(strstr(e->msg, what));
        assert_string_equal(f.hosts, "untouched");
        uvm_error_free(e);
}

static void rejects(void **state)
{
        char *inject[] = {"1.1.1.1\nnameserver 6.6.6.6", NULL};
        char *bad_search[] = {"a b", NULL};
        char *bad_opt[] = {"nd#ots", NULL};
        char long_tok[NET_POD_FILES_MAX_TOKEN + 2];
        char *too_long[] = {long_tok, NULL};
        char *many[NET_POD_FILES_MAX_ENTRIES + 2];

        (void) state;
        memset(long_tok, 'a', sizeof(long_tok) - 1);
        long_tok[sizeof(long_tok) - 1] = '\0';
        for (size_t i = 0; i < NET_POD_FILES_MAX_ENTRIES + 1; i++)
                many[i] = "ndots:1";
        many[NET_POD_FILES_MAX_ENTRIES + 1] = NULL;
        refused(&(struct net_pod_files_in){.hostname = "h", .dns_servers = inject}, "servers");
        refused(&(struct net_pod_files_in){.hostname = "h", .dns_searches = bad_search},
                "searches");
        refused(&(struct net_pod_files_in){.hostname = "h", .dns_options = bad_opt}, "options");
        refused(&(struct net_pod_files_in){.hostname = "h", .dns_searches = too_long}, "searches");
        refused(&(struct net_pod_files_in){.hostname = "h", .dns_options = many}, "too many");
        refused(&(struct net_pod_files_in){.hostname = "-h"}, "hostname");
        refused(&(struct net_pod_files_in){.hostname = NULL}, "hostname");
        refused(&(struct net_pod_files_in){.hostname = "h", .ip = "10.0.0.300"}, "IP");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(full),
                cmocka_unit_test(no_network),
                cmocka_unit_test(rejects),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
