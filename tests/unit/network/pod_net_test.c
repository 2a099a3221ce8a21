/* Pod networking for real (root, CNI plugins from /usr/lib/cni): two pods on
 * a test bridge reach each other, a restarted net object reloads them, and
 * teardown leaves no namespace, record or IP reservation. A failing plugin
 * leaves nothing behind. Skipped without root or the plugins. */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "network/cni_exec.h"
#include "network/net.h"
#include "network/netns.h"

#define BRIDGE "uvmdtest0"
#define SUBNET_PREFIX "10.88.77."

static char root[] = "/tmp/pod_net_test.XXXXXX";
static char conf_dir[256], state_dir[256], ipam_dir[256], bin_dir[256];

static bool have_plugins(void)
{
        const char *need[] = {"bridge", "host-local", "portmap", "loopback"};
        char p[128];

        if (geteuid() != 0)
                return false;
        for (size_t i = 0; i < ARRAY_SIZE(need); i++) {
                snprintf(p, sizeof(p), "/usr/lib/cni/%s", need[i]);
                if (access(p, X_OK) != 0)
                        return false;
        }
        return true;
}

static void put(const char *path, const char *text, mode_t mode)
{
        assert_int_equal(fs_write_atomic(path, text, strlen(text), mode), 0);
}

static void write_conflist(const char *dir, const char *name, const char *last_plugin)
{
        char path[300], *text = NULL;

        assert_int_equal(fs_mkdir_p(dir, 0755), 0);
        assert_true(asprintf(&text,
                             "{\"cniVersion\":\"1.0.0\",\"name\":\"%s\",\"plugins\":["
                             "{\"type\":\"bridge\",\"bridge\":\"" BRIDGE "\",\"isGateway\":true,"
                             "\"ipMasq\":false,\"ipam\":{\"type\":\"host-local\","
                             "\"ranges\":[[{\"subnet\":\"" SUBNET_PREFIX "0/24\"}]],"
                             "\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dataDir\":\"%s\"}},"
                             "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}},"
                             "{\"type\":\"%s\"}]}",
                             name, ipam_dir, last_plugin) > 0);
        snprintf(path, sizeof(path), "%s/10-%s.conflist", dir, name);
        put(path, text, 0644);
        free(text);
}

static int setup(void **state)
{
        (void) state;
        if (!have_plugins())
                return 0;
        if (!mkdtemp(root))
                return -1;
        snprintf(conf_dir, sizeof(conf_dir), "%s/net.d", root);
        snprintf(state_dir, sizeof(state_dir), "%s/state", root);
        snprintf(ipam_dir, sizeof(ipam_dir), "%s/ipam", root);
        snprintf(bin_dir, sizeof(bin_dir), "%s/bin", root);
        return fs_mkdir_p(bin_dir, 0755);
}

static int teardown(void **state)
{
        (void) state;
        if (!have_plugins())
                return 0;
        /* whatever a failed test left: namespaces first, fs_rm_rf stays on
         * one file system */
        for (const char *id = "podaaaa"; id; id = STR_EQ(id, "podaaaa") ? "podbbbb" : NULL) {
                char p[300];
                snprintf(p, sizeof(p), "%s/netns/%s", state_dir, id);
                netns_remove(p, NULL);
        }
        if (system("ip link del " BRIDGE " >/dev/null 2>&1") == -1)
                return -1;
        fs_rm_rf(root);
        return 0;
}

static struct net *new_net(const char *conf, char **bins)
{
        struct net_options o = {.conf_dir = conf,
                                .bin_dirs = bins,
                                .state_dir = state_dir,
                                .plugin_timeout_ms = 20000};
        struct uvm_error *err = NULL;
        struct net *n = NULL;

        assert_int_equal(net_new(&o, &n, &err), 0);
        return n;
}

struct probe {
        char addr[INET_ADDRSTRLEN];
        bool up;
};

static int probe_eth0(void *data)
{
        struct probe *p = data;
        struct ifreq ifr = {0};
        int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

        if (sk < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
        if (ioctl(sk, SIOCGIFFLAGS, &ifr) < 0)
                r = -errno;
        p->up = r == 0 && (ifr.ifr_flags & IFF_UP);
        if (r == 0 && ioctl(sk, SIOCGIFADDR, &ifr) < 0)
                r = -errno;
        if (r == 0)
                inet_ntop(AF_INET, &((struct sockaddr_in *) &ifr.ifr_addr)->sin_addr, p->addr,
                          sizeof(p->addr));
        close(sk);
        return r;
}

static void check_attached(const char *id, const struct net_pod_result *r)
{
        struct uvm_error *err = NULL;
        struct probe p = {{0}};
        char expect[300];

        snprintf(expect, sizeof(expect), "%s/netns/%s", state_dir, id);
        assert_string_equal(r->netns_path, expect);
        assert_true(netns_is_valid(r->netns_path));
        assert_int_equal(r->n_ips, 1);
        assert_memory_equal(r->ips[0], SUBNET_PREFIX, strlen(SUBNET_PREFIX));
        assert_string_equal(r->interface, "eth0");
        assert_int_equal(netns_run(r->netns_path, probe_eth0, &p, &err), 0);
        assert_true(p.up);
        assert_string_equal(p.addr, r->ips[0]);
}

static int ping_from(const char *netns, const char *ip)
{
        const char *ping = access("/usr/bin/ping", X_OK) == 0 || access("/bin/ping", X_OK) == 0
                                   ? "ping"
                                   : "busybox ping";
        char cmd[512];

        snprintf(cmd, sizeof(cmd), "nsenter --net=%s %s -c1 -W2 %s >/dev/null 2>&1", netns, ping,
                 ip);
        return system(cmd);
}

/* host-local keeps one file per reserved IP, named by the IP. */
static int reserved_ips(const char *network)
{
        char dir[300];
        struct dirent *e;
        unsigned char buf[16];
        int n = 0;
        DIR *d;

        snprintf(dir, sizeof(dir), "%s/%s", ipam_dir, network);
        d = opendir(dir);
        if (!d)
                return 0;
        while ((e = readdir(d)))
                if (inet_pton(AF_INET, e->d_name, buf) == 1)
                        n++;
        closedir(d);
        return n;
}

static bool exists(const char *fmt, const char *id)
{
        char p[300];
        struct stat st;

        snprintf(p, sizeof(p), fmt, state_dir, id);
        return lstat(p, &st) == 0;
}

/* portmap got pod a's published port through runtimeConfig */
static bool host_port_rule(void)
{
        return system("iptables -t nat -S 2>/dev/null | grep -q -- '--dport 18080'") == 0;
}

static void two_pods_ping_restart_teardown(void **state)
{
        char *bins[] = {(char *) "/usr/lib/cni", NULL};
        struct net_port ports[] = {{.protocol = 0, .container_port = 80, .host_port = 18080},
                                   {.protocol = 1, .container_port = 53}};
        char *dns[] = {(char *) "10.96.0.10", NULL};
        struct net_pod_config a = {.pod_id = "podaaaa",
                                   .name = "a",
                                   .namespace_ = "default",
                                   .uid = "uid-a",
                                   .hostname = "a",
                                   .ports = ports,
                                   .n_ports = 2,
                                   .dns_servers = dns,
                                   .ingress_bps = 1000000};
        struct net_pod_config b = {.pod_id = "podbbbb",
                                   .name = "b",
                                   .namespace_ = "default",
                                   .uid = "uid-b",
                                   .hostname = "b"};
        struct net_pod_result ra = {0}, rb = {0}, la = {0}, lb = {0};
        struct uvm_error *err = NULL;
        struct net *n;

        (void) state;
        if (!have_plugins())
                skip();
        write_conflist(conf_dir, "uvmdtest", "loopback");
        n = new_net(conf_dir, bins);
        if (net_pod_setup(n, &a, &ra, &err) < 0)
                fail_msg("setup a: %s", err->msg);
        if (net_pod_setup(n, &b, &rb, &err) < 0)
                fail_msg("setup b: %s", err->msg);
        check_attached("podaaaa", &ra);
        check_attached("podbbbb", &rb);
        assert_string_not_equal(ra.ips[0], rb.ips[0]);
        assert_int_equal(reserved_ips("uvmdtest"), 2);
        assert_true(exists("%s/pods/%s.json", "podaaaa"));

        /* a second setup of the same pod is refused and changes nothing */
        assert_int_equal(net_pod_setup(n, &a, &la, &err), -EEXIST);
        err = uvm_error_free(err);
        assert_true(netns_is_valid(ra.netns_path));

        assert_int_equal(ping_from(ra.netns_path, rb.ips[0]), 0);
        assert_true(host_port_rule());
        assert_int_equal(ping_from(rb.netns_path, ra.ips[0]), 0);

        /* uvmd restarts: a new net object finds both from their records, even
         * with the config dir emptied meanwhile */
        net_free(n);
        assert_int_equal(fs_rm_rf(conf_dir), 0);
        n = new_net(conf_dir, bins);
        assert_int_equal(net_pod_load(n, "podaaaa", &la, &err), 0);
        assert_int_equal(net_pod_load(n, "podbbbb", &lb, &err), 0);
        assert_string_equal(la.ips[0], ra.ips[0]);
        assert_string_equal(lb.ips[0], rb.ips[0]);
        assert_string_equal(la.netns_path, ra.netns_path);
        assert_string_equal(la.interface, "eth0");

        if (net_pod_teardown(n, "podaaaa", &err) < 0)
                fail_msg("teardown a: %s", err->msg);
        if (net_pod_teardown(n, "podbbbb", &err) < 0)
                fail_msg("teardown b: %s", err->msg);
        /* idempotent */
        assert_int_equal(net_pod_teardown(n, "podaaaa", &err), 0);
        assert_null(err);

        assert_int_equal(reserved_ips("uvmdtest"), 0);
        assert_false(host_port_rule());
        assert_false(exists("%s/netns/%s", "podaaaa"));
        assert_false(exists("%s/netns/%s", "podbbbb"));
        assert_false(exists("%s/pods/%s.json", "podaaaa"));
        assert_false(exists("%s/pods/%s.json", "podbbbb"));
        assert_int_equal(net_pod_load(n, "podaaaa", &la, &err), -ENOENT);
        err = uvm_error_free(err);

        net_pod_result_clear(&ra);
        net_pod_result_clear(&rb);
        net_pod_result_clear(&la);
        net_pod_result_clear(&lb);
        net_free(n);
        assert_int_equal(system("ip link del " BRIDGE), 0);
}

static void failing_plugin_leaves_nothing(void **state)
{
        char *bins[] = {(char *) "/usr/lib/cni", bin_dir, NULL};
        char dir[300], plug[300], marker[300], *script = NULL, *seen = NULL;
        struct net_pod_config a = {.pod_id = "podaaaa",
                                   .name = "a",
                                   .namespace_ = "default",
                                   .uid = "uid-a",
                                   .hostname = "a"};
        struct net_pod_result ra = {0};
        struct uvm_error *err = NULL;
        struct net *n;

        (void) state;
        if (!have_plugins())
                skip();
        snprintf(dir, sizeof(dir), "%s/net-broken.d", root);
        snprintf(plug, sizeof(plug), "%s/failplug", bin_dir);
        snprintf(marker, sizeof(marker), "%s/failplug.seen", root);
        /* it also notes whether the record existed while ADD ran */
        assert_true(
                asprintf(&script,
                         "#!/bin/sh\ncat >/dev/null\n"
                         "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
                         "  test -f %s/pods/$CNI_CONTAINERID.json && echo record >> %s\n"
                         "  test -n \"$CNI_NETNS\" && test -e \"$CNI_NETNS\" && echo netns >> "
                         "%s\n"
                         "fi\n"
                         "printf '{\"code\":7,\"msg\":\"refusing %%s\"}' $CNI_COMMAND\nexit 1\n",
                         state_dir, marker, marker) > 0);
        put(plug, script, 0755);
        free(script);
        write_conflist(dir, "uvmdbroken", "failplug");
        n = new_net(dir, bins);

        assert_true(net_pod_setup(n, &a, &ra, &err) < 0);
        assert_non_null(err);
        if (!strstr(err->msg, "plugin failplug: refusing ADD (code 7)"))
                fail_msg("unexpected error: %s", err->msg);
        err = uvm_error_free(err);
        assert_null(ra.netns_path);
        assert_int_equal(fs_read_file(marker, 4096, &seen, NULL), 0);
        assert_string_equal(seen, "record\nnetns\n");
        free(seen);

        /* the bridge plugin's address was given back by the rollback DEL */
        assert_int_equal(reserved_ips("uvmdbroken"), 0);
        assert_false(exists("%s/netns/%s", "podaaaa"));
        assert_false(exists("%s/pods/%s.json", "podaaaa"));
        assert_int_equal(net_pod_teardown(n, "podaaaa", &err), 0);

        /* not ready: no config at all */
        net_free(n);
        snprintf(dir, sizeof(dir), "%s/empty.d", root);
        n = new_net(dir, bins);
        assert_int_equal(net_pod_setup(n, &a, &ra, &err), -ENOENT);
        assert_non_null(strstr(err->msg, "network not ready"));
        err = uvm_error_free(err);
        assert_false(exists("%s/pods/%s.json", "podaaaa"));
        net_free(n);
        system("ip link del " BRIDGE " >/dev/null 2>&1");
}

static void bad_configs_refused(void **state)
{
        char *bins[] = {(char *) "/usr/lib/cni", NULL};
        struct net_port bad_port[] = {{.protocol = 5, .container_port = 1, .host_port = 1}};
        struct net_pod_config base = {.pod_id = "podaaaa",
                                      .name = "a",
                                      .namespace_ = "default",
                                      .uid = "u",
                                      .hostname = "a"};
        struct net_pod_config cases[6];
        struct net_pod_result r = {0};
        struct net *n;

        (void) state;
        if (geteuid() != 0 || !have_plugins())
                skip();
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
                cases[i] = base;
        cases[0].pod_id = "../etc";
        cases[1].pod_id = "";
        cases[2].name = "a;K8S_POD_NAME=evil";
        cases[3].namespace_ = NULL;
        cases[4].ports = bad_port;
        cases[4].n_ports = 1;
        cases[5].uid = "a b";
        n = new_net(conf_dir, bins);
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct uvm_error *err = NULL;
                assert_int_equal(net_pod_setup(n, &cases[i], &r, &err), -EINVAL);
                uvm_error_free(err);
        }
        assert_int_equal(net_pod_load(n, "../x", &r, NULL), -EINVAL);
        assert_int_equal(net_pod_teardown(n, "a/b", NULL), -EINVAL);
        net_free(n);
}

/* A fake executor that snapshots the record while ADD "runs" and then
 * fails, so the test can recreate what a crash mid-ADD leaves on disk. */
struct crash {
        char record[300], saved[300];
        char last_cmd[32];
        char *last_stdin;
        int n_del;
};

static int crash_run(void *data, const char *plugin_path, char *const *env, const char *stdin_json,
                     unsigned timeout_ms, char **ret_stdout, int *ret_exit, struct uvm_error **err)
{
        struct crash *c = data;
        char *text = NULL;

        for (; *env; env++)
                if (strncmp(*env, "CNI_COMMAND=", 12) == 0)
                        snprintf(c->last_cmd, sizeof(c->last_cmd), "%s", *env + 12);
        free(c->last_stdin);
        c->last_stdin = strdup(stdin_json);
        if (STR_EQ(c->last_cmd, "ADD") && fs_read_file(c->record, 1 << 20, &text, NULL) == 0) {
                put(c->saved, text, 0600);
                free(text);
        }
        if (STR_EQ(c->last_cmd, "DEL"))
                c->n_del++;
        *ret_stdout = strdup(STR_EQ(c->last_cmd, "ADD") ? "{\"code\":5,\"msg\":\"crash\"}" : "");
        *ret_exit = STR_EQ(c->last_cmd, "ADD") ? 1 : 0;
        return 0;
}

static const struct cni_exec_ops crash_ops = {.run = crash_run};

static void crash_mid_add_still_gets_del(void **state)
{
        char *bins[] = {bin_dir, NULL};
        char dir[300], plug[400], netns[300], *text = NULL;
        struct net_pod_config a = {.pod_id = "podaaaa",
                                   .name = "a",
                                   .namespace_ = "default",
                                   .uid = "uid-a",
                                   .hostname = "a"};
        struct crash c = {0};
        struct net_pod_result r = {0};
        struct uvm_error *err = NULL;
        struct net *n;

        (void) state;
        if (!have_plugins())
                skip();
        snprintf(dir, sizeof(dir), "%s/net-fake.d", root);
        snprintf(plug, sizeof(plug), "%s/fakeplug", bin_dir);
        put(plug, "#!/bin/sh\nexit 1\n", 0755);
        assert_int_equal(fs_mkdir_p(dir, 0755), 0);
        snprintf(plug, sizeof(plug), "%s/10-first.conflist", dir);
        put(plug,
            "{\"cniVersion\":\"1.0.0\",\"name\":\"first\",\"plugins\":[{\"type\":"
            "\"fakeplug\"}]}",
            0644);
        snprintf(c.record, sizeof(c.record), "%s/pods/podaaaa.json", state_dir);
        snprintf(c.saved, sizeof(c.saved), "%s/saved.json", root);
        snprintf(netns, sizeof(netns), "%s/netns/podaaaa", state_dir);

        n = new_net(dir, bins);
        net_set_cni_exec(n, &crash_ops, &c);
        assert_int_equal(net_pod_setup(n, &a, &r, &err), -EIO);
        err = uvm_error_free(err);
        assert_int_equal(c.n_del, 1); /* the rollback */
        assert_false(exists("%s/pods/%s.json", "podaaaa"));

        /* what the disk held at the crash: the record and the namespace */
        assert_int_equal(fs_read_file(c.saved, 1 << 20, &text, NULL), 0);
        put(c.record, text, 0600);
        free(text);
        assert_int_equal(netns_create(netns, NULL), 0);
        /* the config changed meanwhile: DEL must still use the recorded one */
        put(plug,
            "{\"cniVersion\":\"1.0.0\",\"name\":\"second\",\"plugins\":[{\"type\":"
            "\"fakeplug\"}]}",
            0644);
        net_free(n);
        n = new_net(dir, bins);
        net_set_cni_exec(n, &crash_ops, &c);
        assert_int_equal(net_pod_load(n, "podaaaa", &r, &err), -ENOENT);
        assert_non_null(strstr(err->msg, "did not complete"));
        err = uvm_error_free(err);
        c.n_del = 0;
        assert_int_equal(net_pod_teardown(n, "podaaaa", &err), 0);
        assert_int_equal(c.n_del, 1);
        assert_non_null(strstr(c.last_stdin, "\"name\":\"first\""));
        assert_false(exists("%s/pods/%s.json", "podaaaa"));
        assert_false(exists("%s/netns/%s", "podaaaa"));

        /* a corrupt record is reported, not guessed at */
        assert_int_equal(fs_mkdir_p(dir, 0755), 0);
        put(c.record, "{\"version\":1,\"podId\":\"podaaaa\",\"netns\":\"/etc/passwd\"}", 0600);
        assert_int_equal(net_pod_load(n, "podaaaa", &r, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "corrupt"));
        err = uvm_error_free(err);
        assert_int_equal(net_pod_teardown(n, "podaaaa", &err), -EINVAL);
        err = uvm_error_free(err);
        put(c.record, "not json", 0600);
        assert_int_equal(net_pod_teardown(n, "podaaaa", &err), -EINVAL);
        err = uvm_error_free(err);
        unlink(c.record);
        free(c.last_stdin);
        net_free(n);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(two_pods_ping_restart_teardown),
                cmocka_unit_test(failing_plugin_leaves_nothing),
                cmocka_unit_test(bad_configs_refused),
                cmocka_unit_test(crash_mid_add_still_gets_del),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
