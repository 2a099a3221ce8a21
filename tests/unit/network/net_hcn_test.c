/* A Windows pod's network (net_hcn.h) against a fake HCN and a fake CNI
 * executor that plays a Windows plugin: on ADD it puts an endpoint in the
 * namespace named by CNI_NETNS, on DEL it takes it out. Portable: runs on
 * Linux and under Wine. */

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
#include "network/cni_exec.h"
#include "tests/unit/network/cni_env.h"
#include "network/net.h"
#include "network/net_hcn.h"
#include "network/pod_files.h"

#define EP_ID "0a1b2c3d-0000-4000-8000-000000000001"

static struct {
        char ns[HCN_GUID_LEN + 1]; /* the one namespace that exists, "" none */
        bool ep_in_ns;
        char seen_netns[64];
        int adds, dels, ns_deletes;
        int fail_add; /* exit status for ADD, 0 succeeds */
        bool no_attach;
        char add_rc[512], del_rc[512]; /* the runtimeConfig each got, "" none */
        const char *add_dns;           /* the result's "dns" member, or NULL */
} fk;

static int f_ns_create(const char *id, const char *settings, char **ret_error)
{
        if (fk.ns[0])
                return -EEXIST;
        snprintf(fk.ns, sizeof(fk.ns), "%s", id);
        return 0;
}

static int f_ns_delete(const char *id, char **ret_error)
{
        if (!fk.ns[0] || strcmp(fk.ns, id) != 0)
                return -ENOENT;
        fk.ns[0] = '\0';
        fk.ns_deletes++;
        return 0;
}

static int f_ns_modify(const char *id, const char *req, char **ret_error)
{
        return -EINVAL;
}

static int f_ep_query(const char *id, const char *q, char **ret_json, char **ret_error)
{
        return -ENOENT;
}

static int f_ns_query(const char *id, const char *q, char **ret_json, char **ret_error)
{
        char doc[256];

        if (!fk.ns[0] || strcmp(fk.ns, id) != 0)
                return -ENOENT;
        snprintf(doc, sizeof(doc),
                 "{\"ID\":\"%s\",\"Resources\":[{\"Type\":\"Container\",\"Data\":{}}%s]}", id,
                 fk.ep_in_ns ? ",{\"Type\":\"Endpoint\",\"Data\":{\"ID\":\"" EP_ID "\"}}" : "");
        *ret_json = strdup(doc);
        return 0;
}

static const struct hcn_api fake_hcn = {
        .name = "fake",
        .namespace_create = f_ns_create,
        .namespace_delete = f_ns_delete,
        .namespace_modify = f_ns_modify,
        .endpoint_query = f_ep_query,
        .namespace_query = f_ns_query,
};

static int f_run(void *data, const char *path, char *const *env, const char *in, unsigned ms,
                 char **ret_out, int *ret_exit, struct uvm_error **err)
{
        const char *cmd = cni_env(env, "CNI_COMMAND"), *netns = cni_env(env, "CNI_NETNS");
        const char *rc = strstr(in, "\"runtimeConfig\":");
        char out[1024];

        assert_true(cmd[0]);
        assert_true(netns[0]);
        assert_non_null(strstr(in, "\"cniVersion\":\"1.0.0\""));
        *ret_exit = 0;
        if (strcmp(cmd, "ADD") == 0) {
                fk.adds++;
                snprintf(fk.seen_netns, sizeof(fk.seen_netns), "%s", netns);
                snprintf(fk.add_rc, sizeof(fk.add_rc), "%s", rc ? rc : "");
                if (fk.fail_add) {
                        *ret_exit = fk.fail_add;
                        *ret_out = strdup("{\"code\":7,\"msg\":\"no subnet left\"}");
                        return 0;
                }
                fk.ep_in_ns = !fk.no_attach && strcmp(netns, fk.ns) == 0;
                snprintf(out, sizeof(out),
                         "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\","
                         "\"sandbox\":\"x\"}],\"ips\":[{\"address\":\"10.22.0.5/24\","
                         "\"interface\":0}]%s%s}",
                         fk.add_dns ? ",\"dns\":" : "", fk.add_dns ? fk.add_dns : "");
                *ret_out = strdup(out);
        } else {
                fk.dels++;
                snprintf(fk.del_rc, sizeof(fk.del_rc), "%s", rc ? rc : "");
                fk.ep_in_ns = false;
                *ret_out = strdup("");
        }
        return 0;
}

static const struct cni_exec_ops fake_exec = {.run = f_run};

struct rig {
        char *root, *conf, *bin, *pod;
        struct net *n;
};

static void write_file(const char *dir, const char *name, const char *text)
{
        char path[1024];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(plat_write_file_atomic(path, text, strlen(text), 0755), 0);
}

static int setup(void **state)
{
        struct rig *g = calloc(1, sizeof(*g));
        char *bins[2] = {NULL, NULL};
        struct net_hcn_options o = {0};

        memset(&fk, 0, sizeof(fk));
        assert_int_equal(plat_mkdtemp("nethcn", &g->root), 0);
        assert_true(asprintf(&g->conf, "%s/conf", g->root) > 0);
        assert_true(asprintf(&g->bin, "%s/bin", g->root) > 0);
        assert_true(asprintf(&g->pod, "%s/pod", g->root) > 0);
        assert_int_equal(plat_mkdir_p(g->conf, 0755), 0);
        assert_int_equal(plat_mkdir_p(g->bin, 0755), 0);
        assert_int_equal(plat_mkdir_p(g->pod, 0755), 0);
#ifdef _WIN32
        write_file(g->bin, "winfake.exe", "MZ");
#else
        write_file(g->bin, "winfake", "#!/bin/sh\n");
#endif
        write_file(g->conf, "10-win.conflist",
                   "{\"cniVersion\":\"1.0.0\",\"name\":\"winnet\","
                   "\"plugins\":[{\"type\":\"winfake\",\"capabilities\":{\"dns\":true,"
                   "\"portMappings\":true}}]}");
        bins[0] = g->bin;
        o.conf_dir = g->conf;
        o.bin_dirs = bins;
        o.hcn = &fake_hcn;
        assert_int_equal(net_hcn_new(&o, &g->n, NULL), 0);
        net_hcn_set_exec(g->n, &fake_exec, NULL);
        *state = g;
        return 0;
}

static int teardown(void **state)
{
        struct rig *g = *state;

        net_hcn_free(g->n);
        plat_rm_rf(g->root);
        free(g->root);
        free(g->conf);
        free(g->bin);
        free(g->pod);
        free(g);
        return 0;
}

static const struct net_pod_config pod_cfg = {
        .pod_id = "podid1", .name = "web", .namespace_ = "default", .uid = "uid-1"};

static const struct net_port ports[] = {
        {0, 80, 8080, NULL}, {1, 53, 0, NULL}, {1, 5353, 5353, "10.1.0.1"}};
static char *servers[] = {"10.96.0.10", NULL};
static char *searches[] = {"default.svc.cluster.local", NULL};

static bool record_exists(const struct rig *g)
{
        char path[1024], *text = NULL;
        int r;

        snprintf(path, sizeof(path), "%s/%s", g->pod, NET_HCN_RECORD);
        r = plat_read_file(path, 1 << 20, &text, NULL);
        free(text);
        return r == 0;
}

static void test_setup_and_teardown(void **state)
{
        struct rig *g = *state;
        struct net_hcn_result res = {0};
        char *why = NULL;

        assert_true(net_hcn_in_use(g->n));
        assert_true(net_hcn_ready(g->n, &why));
        assert_int_equal(net_hcn_pod_setup(g->n, g->pod, &pod_cfg, &res, NULL), 0);
        /* the plugin ran in the pod's own, new namespace */
        assert_int_equal(fk.adds, 1);
        assert_string_equal(fk.seen_netns, res.ns_id);
        assert_string_equal(fk.ns, res.ns_id);
        assert_int_equal(res.n_endpoints, 1);
        assert_string_equal(res.endpoints[0], EP_ID);
        assert_int_equal(res.n_ips, 1);
        assert_string_equal(res.ips[0], "10.22.0.5");
        assert_true(record_exists(g));
        /* a second setup of the same pod is refused before anything runs */
        assert_int_equal(net_hcn_pod_setup(g->n, g->pod, &pod_cfg, &res, NULL), -EEXIST);
        assert_int_equal(fk.adds, 1);
        net_hcn_result_clear(&res);

        assert_int_equal(net_hcn_pod_teardown(g->n, g->pod, "podid1", NULL), 0);
        assert_int_equal(fk.dels, 1);
        assert_false(fk.ep_in_ns);
        assert_string_equal(fk.ns, "");
        assert_false(record_exists(g));
        /* idempotent */
        assert_int_equal(net_hcn_pod_teardown(g->n, g->pod, "podid1", NULL), 0);
        assert_int_equal(fk.dels, 1);
}

static void test_add_fails(void **state)
{
        struct rig *g = *state;
        struct net_hcn_result res = {0};
        struct uvm_error *e = NULL;

        fk.fail_add = 1;
        assert_int_equal(net_hcn_pod_setup(g->n, g->pod, &pod_cfg, &res, &e), -EIO);
        assert_non_null(strstr(e->msg, "no subnet left"));
        uvm_error_free(e);
        /* undone: DEL ran, the namespace and the record are gone */
        assert_int_equal(fk.dels, 1);
        assert_int_equal(fk.ns_deletes, 1);
        assert_string_equal(fk.ns, "");
        assert_false(record_exists(g));
}

/* uvmd killed after ADD, before the result was recorded: the record made
 * before ADD is enough for DEL and the namespace. */
static void test_killed_after_add(void **state)
{
        struct rig *g = *state;
        struct net_hcn_result res = {0};
        char path[1024], *text = NULL;

        assert_int_equal(net_hcn_pod_setup(g->n, g->pod, &pod_cfg, &res, NULL), 0);
        net_hcn_result_clear(&res);
        /* drop the result from the record: as it was while ADD ran */
        snprintf(path, sizeof(path), "%s/%s", g->pod, NET_HCN_RECORD);
        assert_int_equal(plat_read_file(path, 1 << 20, &text, NULL), 0);
        char *cut = strstr(text, ",\"result\":");
        assert_non_null(cut);
        strcpy(cut, "}");
        assert_int_equal(plat_write_file_atomic(path, text, strlen(text), 0600), 0);
        free(text);
        assert_int_equal(net_hcn_pod_teardown(g->n, g->pod, "podid1", NULL), 0);
        assert_int_equal(fk.dels, 1);
        assert_string_equal(fk.ns, "");
        assert_false(record_exists(g));
}

/* A plugin that succeeds but attaches nothing: no NIC for the VM, undone. */
static void test_no_endpoint(void **state)
{
        struct rig *g = *state;
        struct net_hcn_result res = {0};
        struct uvm_error *e = NULL;

        fk.no_attach = true;
        assert_int_equal(net_hcn_pod_setup(g->n, g->pod, &pod_cfg, &res, &e), -EIO);
        assert_non_null(strstr(e->msg, "no HCN endpoint"));
        uvm_error_free(e);
        assert_int_equal(fk.dels, 1);
        assert_string_equal(fk.ns, "");
        assert_false(record_exists(g));
}

#define WANT_RC                                                                                    \
        "\"runtimeConfig\":{\"portMappings\":[{\"hostPort\":8080,\"containerPort\":80,"            \
        "\"protocol\":\"tcp\"},{\"hostPort\":5353,\"containerPort\":5353,\"protocol\":\"udp\","    \
        "\"hostIP\":\"10.1.0.1\"}],\"dns\":{\"servers\":[\"10.96.0.10\"],\"searches\":["           \
        "\"default.svc.cluster.local\"],\"options\":[]}}"

/* The pod's published ports and DNS reach the plugin as runtimeConfig, on
 * ADD and on DEL (from the record), as on Linux. */
static void test_runtime_config(void **state)
{
        struct rig *g = *state;
        struct net_pod_config cfg = pod_cfg;
        struct net_hcn_result res = {0};

        cfg.ports = ports;
        cfg.n_ports = ARRAY_SIZE(ports);
        cfg.dns_servers = servers;
        cfg.dns_searches = searches;
        assert_int_equal(net_hcn_pod_setup(g->n, g->pod, &cfg, &res, NULL), 0);
        assert_non_null(strstr(fk.add_rc, WANT_RC));
        net_hcn_result_clear(&res);
        assert_int_equal(net_hcn_pod_teardown(g->n, g->pod, "podid1", NULL), 0);
        assert_non_null(strstr(fk.del_rc, WANT_RC));
}

/* Checked as on Linux, before anything is made. */
static void test_bad_port_refused(void **state)
{
        struct rig *g = *state;
        struct net_port bad = {0, 80, 8080, "not-an-ip"};
        struct net_pod_config cfg = pod_cfg;
        struct net_hcn_result res = {0};
        struct uvm_error *e = NULL;

        cfg.ports = &bad;
        cfg.n_ports = 1;
        assert_int_equal(net_hcn_pod_setup(g->n, g->pod, &cfg, &res, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "host IP"));
        uvm_error_free(e);
        assert_int_equal(fk.adds, 0);
        assert_string_equal(fk.ns, "");
        assert_false(record_exists(g));
}

/* ADD's advised DNS: in the result, and the pod's files take it when the
 * pod's own DNS config is empty. */
static void test_result_dns(void **state)
{
        struct rig *g = *state;
        struct net_pod_config cfg = pod_cfg;
        struct net_hcn_result res = {0};
        struct net_pod_files_in in = {0};

        fk.add_dns = "{\"nameservers\":[\"10.22.0.2\"],\"domain\":\"corp.example\","
                     "\"options\":[\"ndots:2\"]}";
        assert_int_equal(net_hcn_pod_setup(g->n, g->pod, &cfg, &res, NULL), 0);
        assert_string_equal(res.dns_servers[0], "10.22.0.2");
        assert_null(res.dns_servers[1]);
        /* no "search": the domain is the one */
        assert_string_equal(res.dns_searches[0], "corp.example");
        assert_null(res.dns_searches[1]);
        assert_string_equal(res.dns_options[0], "ndots:2");

        net_hcn_pod_dns(&cfg, &res, &in);
        assert_ptr_equal(in.dns_servers, res.dns_servers);
        assert_ptr_equal(in.dns_searches, res.dns_searches);
        assert_ptr_equal(in.dns_options, res.dns_options);
        /* any entry of the pod's own: all of its config, none of CNI's */
        in = (struct net_pod_files_in){0};
        cfg.dns_searches = searches;
        net_hcn_pod_dns(&cfg, &res, &in);
        assert_null(in.dns_servers);
        assert_ptr_equal(in.dns_searches, searches);
        assert_null(in.dns_options);
        /* no network at all */
        in = (struct net_pod_files_in){0};
        net_hcn_pod_dns(NULL, NULL, &in);
        assert_null(in.dns_servers);
        net_hcn_result_clear(&res);

        /* a result whose DNS is bad: ignored, the pod still made */
        assert_int_equal(net_hcn_pod_teardown(g->n, g->pod, "podid1", NULL), 0);
        fk.add_dns = "{\"nameservers\":[\"10.22.0.2\\nsearch evil\"]}";
        assert_int_equal(net_hcn_pod_setup(g->n, g->pod, &cfg, &res, NULL), 0);
        assert_null(res.dns_servers);
        assert_null(res.dns_searches);
        net_hcn_result_clear(&res);
}

static void test_no_conf_dir(void **state)
{
        struct rig *g = *state;
        char *why = NULL;

        plat_rm_rf(g->conf);
        assert_false(net_hcn_in_use(g->n));
        assert_false(net_hcn_ready(g->n, &why));
        assert_non_null(why);
        free(why);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_setup_and_teardown, setup, teardown),
                cmocka_unit_test_setup_teardown(test_add_fails, setup, teardown),
                cmocka_unit_test_setup_teardown(test_killed_after_add, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_endpoint, setup, teardown),
                cmocka_unit_test_setup_teardown(test_runtime_config, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_port_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_result_dns, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_conf_dir, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
