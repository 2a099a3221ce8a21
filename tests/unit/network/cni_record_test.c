/* A pod's CNI attachment record and its arguments (cni_record.h,
 * cni_pod.h), shared by Linux's pod.c and Windows' net_hcn.c: the codec
 * with each platform's fields, records as the older code wrote them, every
 * refusal of a damaged one, CNI_ARGS and the runtime config from a pod's
 * config, and the undo steps against a fake executor. Runs on Linux and
 * under Wine. */

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
#include "network/cni_pod.h"
#include "network/cni_record.h"
#include "tests/unit/network/cni_env.h"

#ifdef _WIN32
#define PLUGIN_FILE(t) t ".exe"
#else
#define PLUGIN_FILE(t) t
#endif

#define GUID "5e5e5e5e-0000-4000-8000-000000000001"
#define LIST                                                                                       \
        "{\"cniVersion\":\"1.0.0\",\"name\":\"net\",\"plugins\":[{\"type\":\"fk\","                \
        "\"capabilities\":{\"dns\":true}}]}"

static const char *const linux_keys[] = {"netns", "ifname", NULL};
static const char *const win_keys[] = {"namespace", NULL};

static struct cni_conf *conf_of(void)
{
        struct cni_conf *c = NULL;

        assert_int_equal(cni_conf_parse("/etc/cni/net.d/10-net.conflist", LIST, &c, NULL), 0);
        return c;
}

static void record_fill(struct cni_record *rec, const char *f0, const char *f1)
{
        *rec = (struct cni_record){
                .pod_id = strdup("pod1"),
                .args = strdup("IgnoreUnknown=1;K8S_POD_NAME=web"),
                .runtime_config = strdup("{\"dns\":{\"servers\":[\"10.0.0.2\"]}}"),
                .conf = conf_of(),
                .fields = {f0 ? strdup(f0) : NULL, f1 ? strdup(f1) : NULL},
        };
}

static void test_roundtrip_linux(void **state)
{
        struct cni_record rec, back = {0};
        char *text = NULL;

        record_fill(&rec, "/run/uvmd/network/netns/pod1", "eth0");
        assert_int_equal(cni_record_encode(&rec, linux_keys, &text, NULL), 0);
        /* the layout the earlier pod.c wrote, so old records still read */
        assert_non_null(strstr(text, "{\"version\":1,\"podId\":\"pod1\",\"netns\":"
                                     "\"/run/uvmd/network/netns/pod1\",\"ifname\":\"eth0\","
                                     "\"args\":"));
        assert_null(strstr(text, "\"result\""));
        assert_int_equal(cni_record_decode(text, "pod1", linux_keys, &back, NULL), 0);
        assert_string_equal(back.fields[0], "/run/uvmd/network/netns/pod1");
        assert_string_equal(back.fields[1], "eth0");
        assert_string_equal(back.args, rec.args);
        assert_string_equal(back.runtime_config, rec.runtime_config);
        assert_string_equal(back.conf->file, rec.conf->file);
        assert_int_equal(back.conf->n_types, 1);
        assert_null(back.result);
        cni_record_clear(&back);
        free(text);

        /* with ADD's result */
        rec.result = strdup("{\"cniVersion\":\"1.0.0\",\"ips\":[]}");
        assert_int_equal(cni_record_encode(&rec, linux_keys, &text, NULL), 0);
        assert_int_equal(cni_record_decode(text, "pod1", linux_keys, &back, NULL), 0);
        assert_string_equal(back.result, rec.result);
        cni_record_clear(&back);
        free(text);
        cni_record_clear(&rec);
}

/* A record as the earlier net_hcn.c wrote it (key order and all). */
static void test_old_windows_record(void **state)
{
        const char *old = "{\"version\":1,\"podId\":\"pod1\",\"namespace\":\"" GUID "\","
                          "\"args\":\"IgnoreUnknown=1\",\"confFile\":\"C:\\\\cni\\\\10.conflist\","
                          "\"conflist\":" LIST ",\"runtimeConfig\":{},"
                          "\"result\":{\"cniVersion\":\"1.0.0\"}}";
        struct cni_record rec = {0};
        char *again = NULL;

        assert_int_equal(cni_record_decode(old, "pod1", win_keys, &rec, NULL), 0);
        assert_string_equal(rec.fields[0], GUID);
        assert_null(rec.fields[1]);
        assert_string_equal(rec.conf->file, "C:\\cni\\10.conflist");
        assert_string_equal(rec.runtime_config, "{}");
        assert_string_equal(rec.result, "{\"cniVersion\":\"1.0.0\"}");
        /* written back, the same bytes */
        assert_int_equal(cni_record_encode(&rec, win_keys, &again, NULL), 0);
        assert_string_equal(again, old);
        free(again);
        cni_record_clear(&rec);
}

static void test_decode_refused(void **state)
{
#define REC(version, id, ns, tail)                                                                 \
        "{\"version\":" version ",\"podId\":" id ",\"namespace\":" ns                              \
        ",\"args\":\"a\",\"confFile\":\"f\"" tail "}"
#define GOOD_TAIL ",\"conflist\":" LIST ",\"runtimeConfig\":{}"
        static const char *const bad[] = {
                "",
                "[]",
                REC("1", "\"pod1\"", "\"" GUID "\"", GOOD_TAIL) " trailing",
                REC("2", "\"pod1\"", "\"" GUID "\"", GOOD_TAIL),
                REC("\"1\"", "\"pod1\"", "\"" GUID "\"", GOOD_TAIL),
                REC("1", "\"pod2\"", "\"" GUID "\"", GOOD_TAIL),
                REC("1", "7", "\"" GUID "\"", GOOD_TAIL),
                REC("1", "\"pod1\"", "7", GOOD_TAIL),
                REC("1", "\"pod1\"", "\"a\\u0000b\"", GOOD_TAIL),
                REC("1", "\"pod1\"", "\"" GUID "\"", ",\"runtimeConfig\":{}"),
                REC("1", "\"pod1\"", "\"" GUID "\"", ",\"conflist\":[],\"runtimeConfig\":{}"),
                REC("1", "\"pod1\"", "\"" GUID "\"",
                    ",\"conflist\":{\"name\":\"n\",\"plugins\":[]},\"runtimeConfig\":{}"),
                REC("1", "\"pod1\"", "\"" GUID "\"", ",\"conflist\":" LIST),
                REC("1", "\"pod1\"", "\"" GUID "\"", ",\"conflist\":" LIST ",\"runtimeConfig\":[]"),
                REC("1", "\"pod1\"", "\"" GUID "\"", GOOD_TAIL ",\"result\":\"ok\""),
                "{\"version\":1,\"podId\":\"pod1\",\"args\":\"a\",\"confFile\":\"f\"" GOOD_TAIL "}",
        };
        struct cni_record rec = {0};

        assert_int_equal(cni_record_decode(REC("1", "\"pod1\"", "\"" GUID "\"", GOOD_TAIL), "pod1",
                                           win_keys, &rec, NULL),
                         0);
        cni_record_clear(&rec);
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct uvm_error *e = NULL;
                assert_int_equal(cni_record_decode(bad[i], "pod1", win_keys, &rec, &e), -EINVAL);
                assert_non_null(e);
                uvm_error_free(e);
                /* nothing written on failure */
                assert_null(rec.pod_id);
                assert_null(rec.fields[0]);
                assert_null(rec.conf);
        }
}

static void test_field_too_long(void **state)
{
        char *big = malloc(CNI_RECORD_MAX_FIELD + 2), *doc = NULL;
        struct cni_record rec = {0};

        memset(big, 'x', CNI_RECORD_MAX_FIELD + 1);
        big[CNI_RECORD_MAX_FIELD + 1] = '\0';
        assert_true(asprintf(&doc, REC("1", "\"pod1\"", "\"%s\"", GOOD_TAIL), big) > 0);
        assert_int_equal(cni_record_decode(doc, "pod1", win_keys, &rec, NULL), -EINVAL);
        free(doc);
        free(big);
}

static void test_encode_refused(void **state)
{
        struct cni_record rec;
        char *text = NULL;

        /* a platform field without a value */
        record_fill(&rec, "/run/x", NULL);
        assert_int_equal(cni_record_encode(&rec, linux_keys, &text, NULL), -EINVAL);
        cni_record_clear(&rec);
        /* a runtime config that is no object */
        record_fill(&rec, GUID, NULL);
        free(rec.runtime_config);
        rec.runtime_config = strdup("[1]");
        assert_int_equal(cni_record_encode(&rec, win_keys, &text, NULL), -EINVAL);
        free(rec.runtime_config);
        rec.runtime_config = strdup("{}");
        rec.result = strdup("{\"ips\":[]} x");
        assert_int_equal(cni_record_encode(&rec, win_keys, &text, NULL), -EINVAL);
        assert_null(text);
        cni_record_clear(&rec);
}

static const struct net_port ports[] = {
        {0, 80, 8080, NULL},
        {1, 53, 0, NULL}, /* not published: no mapping */
        {2, 9000, 9000, "10.1.0.1"},
};
static char *servers[] = {"10.96.0.10", NULL};
static char *searches[] = {"svc.cluster.local", NULL};
static char *options[] = {"ndots:5", NULL};

static struct net_pod_config pod_cfg(void)
{
        return (struct net_pod_config){
                .pod_id = "pod1",
                .name = "web",
                .namespace_ = "default",
                .uid = "uid-1",
                .ports = ports,
                .n_ports = ARRAY_SIZE(ports),
                .dns_servers = servers,
                .dns_searches = searches,
                .dns_options = options,
        };
}

static void test_init_args(void **state)
{
        struct net_pod_config cfg = pod_cfg();
        struct cni_record rec = {0};

        assert_int_equal(cni_record_init(&rec, &cfg, NULL), 0);
        assert_string_equal(rec.pod_id, "pod1");
        assert_string_equal(rec.args, "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;"
                                      "K8S_POD_INFRA_CONTAINER_ID=pod1;K8S_POD_UID=uid-1");
        assert_string_equal(
                rec.runtime_config,
                "{\"portMappings\":[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"},"
                "{\"hostPort\":9000,\"containerPort\":9000,\"protocol\":\"sctp\","
                "\"hostIP\":\"10.1.0.1\"}],"
                "\"dns\":{\"servers\":[\"10.96.0.10\"],\"searches\":[\"svc.cluster.local\"],"
                "\"options\":[\"ndots:5\"]}}");
        cni_record_clear(&rec);

        /* nothing to pass: an empty object; bandwidth when limited */
        cfg = (struct net_pod_config){.pod_id = "pod1", .name = "a", .namespace_ = "b", .uid = "c"};
        assert_int_equal(cni_record_init(&rec, &cfg, NULL), 0);
        assert_string_equal(rec.runtime_config, "{}");
        cni_record_clear(&rec);
        cfg.egress_bps = 1000000;
        assert_int_equal(cni_record_init(&rec, &cfg, NULL), 0);
        assert_string_equal(rec.runtime_config,
                            "{\"bandwidth\":{\"egressRate\":1000000,\"egressBurst\":2147483647}}");
        cni_record_clear(&rec);
}

static void test_init_refused(void **state)
{
        static char *too_many[40];
        struct net_port bad_proto = {3, 80, 80, NULL}, bad_ip = {0, 80, 80, "10.0.0.300"},
                        no_ctr = {0, 0, 80, NULL};
        struct net_pod_config cfg;
        struct cni_record rec = {0};
        struct uvm_error *e = NULL;

        for (size_t i = 0; i < ARRAY_SIZE(too_many) - 1; i++)
                too_many[i] = "ndots:1";
        cfg = pod_cfg();
        cfg.ports = &bad_proto;
        cfg.n_ports = 1;
        assert_int_equal(cni_record_init(&rec, &cfg, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "protocol"));
        e = uvm_error_free(e);
        cfg.ports = &bad_ip;
        assert_int_equal(cni_record_init(&rec, &cfg, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "host IP"));
        e = uvm_error_free(e);
        cfg.ports = &no_ctr;
        assert_int_equal(cni_record_init(&rec, &cfg, NULL), -EINVAL);
        cfg.ports = NULL;
        assert_int_equal(cni_record_init(&rec, &cfg, NULL), -EINVAL);
        cfg.n_ports = CNI_POD_MAX_PORTS + 1;
        cfg.ports = ports;
        assert_int_equal(cni_record_init(&rec, &cfg, NULL), -EINVAL);

        cfg = pod_cfg();
        cfg.name = "web;K8S_POD_NAME=evil";
        assert_int_equal(cni_record_init(&rec, &cfg, NULL), -EINVAL);
        cfg = pod_cfg();
        cfg.uid = NULL;
        assert_int_equal(cni_record_init(&rec, &cfg, NULL), -EINVAL);
        cfg = pod_cfg();
        cfg.pod_id = "../pod";
        assert_int_equal(cni_record_init(&rec, &cfg, NULL), -EINVAL);
        cfg = pod_cfg();
        cfg.dns_options = too_many;
        assert_int_equal(cni_record_init(&rec, &cfg, NULL), -EINVAL);
        assert_null(rec.pod_id);
        assert_null(rec.args);
}

/* The undo steps against a fake plugin and a fake namespace. */
static struct {
        int dels, del_exit, ns_removes, ns_fail;
        char netns[64];
        char rc[256];
} fk;

static int f_run(void *data, const char *path, char *const *env, const char *in, unsigned ms,
                 char **ret_out, int *ret_exit, struct uvm_error **err)
{
        const char *rc = strstr(in, "\"runtimeConfig\":");

        assert_string_equal(cni_env(env, "CNI_COMMAND"), "DEL");
        fk.dels++;
        snprintf(fk.netns, sizeof(fk.netns), "%s", cni_env(env, "CNI_NETNS"));
        snprintf(fk.rc, sizeof(fk.rc), "%s", rc ? rc : "");
        *ret_exit = fk.del_exit;
        *ret_out = strdup(fk.del_exit ? "{\"code\":11,\"msg\":\"busy\"}" : "");
        return 0;
}

static const struct cni_exec_ops f_ops = {.run = f_run};

static int f_ns_remove(void *data, struct uvm_error **err)
{
        fk.ns_removes++;
        return fk.ns_fail ? uvm_error_set(err, EBUSY, "namespace busy") : 0;
}

struct rig {
        char *root, *bin, *path;
        char *bins[2];
};

static int setup(void **state)
{
        struct rig *g = calloc(1, sizeof(*g));
        char *plugin = NULL;

        memset(&fk, 0, sizeof(fk));
        assert_int_equal(plat_mkdtemp("cnirec", &g->root), 0);
        assert_true(asprintf(&g->bin, "%s/bin", g->root) > 0);
        assert_true(asprintf(&g->path, "%s/cni.json", g->root) > 0);
        assert_true(asprintf(&plugin, "%s/%s", g->bin, PLUGIN_FILE("fk")) > 0);
        assert_int_equal(plat_mkdir_p(g->bin, 0755), 0);
        assert_int_equal(plat_write_file_atomic(plugin, "x", 1, 0755), 0);
        free(plugin);
        g->bins[0] = g->bin;
        *state = g;
        return 0;
}

static int teardown(void **state)
{
        struct rig *g = *state;

        plat_rm_rf(g->root);
        free(g->root);
        free(g->bin);
        free(g->path);
        free(g);
        return 0;
}

static bool exists(const char *path)
{
        char *text = NULL;
        int r = plat_read_file(path, CNI_RECORD_MAX, &text, NULL);

        free(text);
        return r == 0;
}

static void test_write_read(void **state)
{
        struct rig *g = *state;
        struct cni_record rec, back = {0};
        struct uvm_error *e = NULL;

        assert_int_equal(cni_record_read(g->path, "pod1", win_keys, &back, &e), -ENOENT);
        assert_null(e);
        record_fill(&rec, GUID, NULL);
        assert_int_equal(cni_record_write(g->path, &rec, win_keys, NULL), 0);
        assert_int_equal(cni_record_read(g->path, "pod1", win_keys, &back, NULL), 0);
        assert_string_equal(back.fields[0], GUID);
        cni_record_clear(&back);
        /* read with the other platform's keys: corrupt, and says so */
        assert_int_equal(cni_record_read(g->path, "pod1", linux_keys, &back, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "is corrupt"));
        assert_non_null(strstr(e->msg, "\"netns\""));
        uvm_error_free(e);
        cni_record_clear(&rec);
}

static void test_undo(void **state)
{
        struct rig *g = *state;
        struct cni_exec x = {&f_ops, NULL, g->bins, 1000};
        struct cni_undo u = {
                .exec = &x, .netns = GUID, .ifname = "eth0", .del = true, .ns_remove = f_ns_remove};
        struct cni_record rec;
        struct uvm_error *e = NULL;

        record_fill(&rec, GUID, NULL);
        assert_int_equal(cni_record_write(g->path, &rec, win_keys, NULL), 0);

        /* DEL fails: stop there, the record kept for another try */
        fk.del_exit = 1;
        assert_int_equal(cni_record_undo(&rec, g->path, &u, &e), -EAGAIN);
        assert_non_null(strstr(e->msg, "busy"));
        e = uvm_error_free(e);
        assert_int_equal(fk.ns_removes, 0);
        assert_true(exists(g->path));

        /* the namespace refuses: the record kept */
        fk.del_exit = 0;
        fk.ns_fail = 1;
        assert_int_equal(cni_record_undo(&rec, g->path, &u, &e), -EBUSY);
        e = uvm_error_free(e);
        assert_true(exists(g->path));

        /* DEL got the recorded runtime config and namespace */
        fk.ns_fail = 0;
        fk.dels = 0;
        assert_int_equal(cni_record_undo(&rec, g->path, &u, NULL), 0);
        assert_int_equal(fk.dels, 1);
        assert_string_equal(fk.netns, GUID);
        assert_non_null(strstr(fk.rc, "\"runtimeConfig\":{\"dns\":"));
        assert_false(exists(g->path));

        /* a rollback: every step, failures logged, the caller's error kept */
        assert_int_equal(cni_record_write(g->path, &rec, win_keys, NULL), 0);
        fk.del_exit = 1;
        fk.ns_fail = 1;
        fk.ns_removes = 0;
        u.best_effort = true;
        uvm_error_set(&e, EIO, "ADD failed");
        assert_int_equal(cni_record_undo(&rec, g->path, &u, &e), 0);
        assert_string_equal(e->msg, "ADD failed");
        e = uvm_error_free(e);
        assert_int_equal(fk.ns_removes, 1);
        assert_false(exists(g->path));

        /* no ADD ran: no DEL */
        fk.dels = 0;
        u.del = false;
        assert_int_equal(cni_record_undo(&rec, g->path, &u, NULL), 0);
        assert_int_equal(fk.dels, 0);
        cni_record_clear(&rec);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip_linux),
                cmocka_unit_test(test_old_windows_record),
                cmocka_unit_test(test_decode_refused),
                cmocka_unit_test(test_field_too_long),
                cmocka_unit_test(test_encode_refused),
                cmocka_unit_test(test_init_args),
                cmocka_unit_test(test_init_refused),
                cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
                cmocka_unit_test_setup_teardown(test_undo, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
