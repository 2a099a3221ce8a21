/* libFuzzer harness for what uvmd decodes of CNI: the network config file
 * (network/cni_conf.c) and what the plugins print, results and error
 * objects (network/cni_exec.c), through ADD, CHECK and DEL with a fake
 * executor that answers from the input.
 *
 * The pod's attachment record (network/cni_record.c) is decoded from the
 * same bytes the result parser gets, with Linux's and Windows' fields.
 *
 * Input: byte 0 picks the command (% 4: ADD, CHECK, DEL, or the result
 * parser and the record decoder alone on the rest); bit i of byte 1 makes plugin i exit 1. The rest
 * is NUL-separated: the config file, the runtime config (empty: none), the
 * previous result (empty: none), then each plugin's stdout in call order.
 * Plugins named by the config exist for the call in a scratch CNI_PATH,
 * $CNI_FUZZ_BIN (made by run.sh) or a new folder under /tmp. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "network/cni_conf.h"
#include "network/cni_exec.h"
#include "network/cni_record.h"
#include "network/pod_files.h"

#define MAX_PARTS 24

struct fake {
        const char *const *outs;
        size_t n_outs, next;
        unsigned fail_bits;
};

static char bin_dir[256];

static int fake_run(void *data, const char *plugin_path, char *const *env, const char *stdin_json,
                    unsigned timeout_ms, char **ret_stdout, int *ret_exit, struct uvm_error **err)
{
        struct fake *f = data;
        json_object *in = json_tokener_parse(stdin_json);
        size_t i = f->next++;

        /* What a plugin is given is always one object with its name and version. */
        if (!json_object_is_type(in, json_type_object) ||
            !json_object_object_get_ex(in, "name", NULL) ||
            !json_object_object_get_ex(in, "cniVersion", NULL))
                abort();
        json_object_put(in);
        if (strncmp(plugin_path, bin_dir, strlen(bin_dir)) != 0 || !env[0])
                abort();
        *ret_stdout = strdup(i < f->n_outs ? f->outs[i] : "");
        *ret_exit = i < 32 && (f->fail_bits >> i & 1) ? 1 : 0;
        return *ret_stdout ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}

static const struct cni_exec_ops fake_ops = {.run = fake_run};

static void check_error(int r, struct uvm_error *err)
{
        if ((r < 0) != (err != NULL) || (err && (!err->msg || err->code != -r)))
                abort();
        uvm_error_free(err);
}

/* An advised DNS list: bounded, each entry one resolv.conf can take. */
static void check_dns_list(char *const *v, enum net_pod_dns_kind kind)
{
        for (size_t i = 0; v && v[i]; i++)
                if (i >= NET_POD_FILES_MAX_ENTRIES || !net_pod_files_dns_ok(kind, v[i]))
                        abort();
        if (v && !v[0])
                abort(); /* an empty list is NULL */
}

static bool same_list(char *const *a, char *const *b)
{
        size_t i = 0;

        for (; a && b && a[i] && b[i]; i++)
                if (strcmp(a[i], b[i]) != 0)
                        return false;
        return (!a || !a[i]) && (!b || !b[i]);
}

static void check_dns(const struct cni_dns *d, const struct cni_dns *again)
{
        check_dns_list(d->nameservers, NET_POD_DNS_SERVER);
        check_dns_list(d->search, NET_POD_DNS_SEARCH);
        check_dns_list(d->options, NET_POD_DNS_OPTION);
        if (d->domain && !net_pod_files_dns_ok(NET_POD_DNS_SEARCH, d->domain))
                abort();
        if (!same_list(d->nameservers, again->nameservers) ||
            !same_list(d->search, again->search) || !same_list(d->options, again->options) ||
            !d->domain != !again->domain || (d->domain && strcmp(d->domain, again->domain) != 0))
                abort();
}

static void check_result(const struct cni_result *res)
{
        unsigned char buf[16];
        struct cni_result again = {0};
        int r;

        if (res->n_ips > CNI_RESULT_MAX_IPS || !res->json)
                abort();
        for (size_t i = 0; i < res->n_ips; i++)
                if (inet_pton(strchr(res->ips[i], ':') ? AF_INET6 : AF_INET, res->ips[i], buf) != 1)
                        abort();
        /* The kept JSON is what a restart parses again: it must say the same. */
        r = cni_result_parse("again", res->json, &again, NULL);
        if (r < 0 || again.n_ips != res->n_ips || !again.interface != !res->interface ||
            (res->interface && strcmp(again.interface, res->interface) != 0))
                abort();
        for (size_t i = 0; i < res->n_ips; i++)
                if (strcmp(again.ips[i], res->ips[i]) != 0)
                        abort();
        check_dns(&res->dns, &again.dns);
        cni_result_clear(&again);
}

/* A record that decodes encodes again, and that decodes to the same. */
static void record_only(const char *text, const char *const *keys)
{
        struct cni_record rec = {0}, again = {0};
        struct uvm_error *err = NULL;
        char *enc = NULL;
        int r = cni_record_decode(text, "pod1", keys, &rec, &err);

        check_error(r, err);
        if (r < 0)
                return;
        if (!rec.pod_id || !rec.args || !rec.runtime_config || !rec.conf)
                abort();
        for (size_t i = 0; keys[i]; i++)
                if (!rec.fields[i] || strlen(rec.fields[i]) > CNI_RECORD_MAX_FIELD)
                        abort();
        if (cni_record_encode(&rec, keys, &enc, NULL) < 0 ||
            cni_record_decode(enc, "pod1", keys, &again, NULL) < 0 ||
            strcmp(again.args, rec.args) != 0 ||
            strcmp(again.runtime_config, rec.runtime_config) != 0 ||
            strcmp(again.conf->json, rec.conf->json) != 0 || !again.result != !rec.result ||
            (rec.result && strcmp(again.result, rec.result) != 0))
                abort();
        for (size_t i = 0; keys[i]; i++)
                if (strcmp(again.fields[i], rec.fields[i]) != 0)
                        abort();
        free(enc);
        cni_record_clear(&again);
        cni_record_clear(&rec);
}

static void result_only(const char *text)
{
        struct cni_result res = {0};
        struct uvm_error *err = NULL;
        int r = cni_result_parse("fuzz", text, &res, &err);

        check_error(r, err);
        if (r == 0)
                check_result(&res);
        cni_result_clear(&res);
}

/* The config's plugins as files in bin_dir (removed again by unplug). */
static void plug(const struct cni_conf *c, bool on)
{
        for (size_t i = 0; i < c->n_types; i++) {
                char path[512];
                int fd;

                snprintf(path, sizeof(path), "%s/%s", bin_dir, c->types[i]);
                if (!on) {
                        unlink(path);
                        continue;
                }
                fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
                if (fd >= 0)
                        close(fd);
        }
}

static void check_conf(const struct cni_conf *c)
{
        struct cni_conf *again = NULL;

        if (c->n_types < 1 || c->n_types > CNI_MAX_PLUGINS || !c->name || !c->cni_version ||
            !c->json || !c->file)
                abort();
        /* The normalised list parses to the same chain. */
        if (cni_conf_parse("again", c->json, &again, NULL) < 0 || again->n_types != c->n_types)
                abort();
        for (size_t i = 0; i < c->n_types; i++)
                if (strcmp(again->types[i], c->types[i]) != 0)
                        abort();
        cni_conf_free(again);
}

static void run_chain(unsigned cmd, unsigned fail_bits, const char *const *parts, size_t n)
{
        struct cni_conf *c = NULL;
        struct uvm_error *err = NULL;
        struct fake f = {parts + 3, n > 3 ? n - 3 : 0, 0, fail_bits};
        char *const dirs[] = {bin_dir, NULL};
        struct cni_exec x = {&fake_ops, &f, dirs, 1000};
        struct cni_invocation inv = {
                .container_id = "0123abc",
                .netns = "/var/run/netns/cni-fuzz",
                .ifname = "eth0",
                .args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p",
                .runtime_config = n > 1 && *parts[1] ? parts[1] : NULL,
                .prev_result = n > 2 && *parts[2] ? parts[2] : NULL,
        };
        struct cni_result res = {0};
        int r = cni_conf_parse("/etc/cni/net.d/10-fuzz.conflist", parts[0], &c, &err);

        check_error(r, err);
        if (r < 0)
                return;
        check_conf(c);
        plug(c, true);
        err = NULL;
        if (cmd == 0) {
                r = cni_add(&x, c, &inv, &res, &err);
                if (r == 0)
                        check_result(&res);
                cni_result_clear(&res);
        } else if (cmd == 1) {
                r = cni_check(&x, c, &inv, &err);
        } else {
                r = cni_del(&x, c, &inv, &err);
        }
        check_error(r, err);
        if (f.next > c->n_types)
                abort();
        plug(c, false);
        cni_conf_free(c);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *dir = getenv("CNI_FUZZ_BIN");

        if (dir && strlen(dir) < sizeof(bin_dir)) {
                strcpy(bin_dir, dir);
                return 0;
        }
        snprintf(bin_dir, sizeof(bin_dir), "/tmp/uvmd-cni-fuzz-XXXXXX");
        if (!mkdtemp(bin_dir))
                abort();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *parts[MAX_PARTS];
        size_t n = 0;
        char *text;
        unsigned cmd, fail_bits;

        if (size < 2)
                return 0;
        cmd = data[0] % 4;
        fail_bits = data[1];
        text = malloc(size - 1);
        if (!text)
                return 0;
        memcpy(text, data + 2, size - 2);
        text[size - 2] = '\0';
        if (cmd == 3) {
                static const char *const linux_keys[] = {"netns", "ifname", NULL};
                static const char *const win_keys[] = {"namespace", NULL};

                result_only(text);
                record_only(text, linux_keys);
                record_only(text, win_keys);
                free(text);
                return 0;
        }
        for (char *p = text; n < MAX_PARTS;) {
                size_t len = strlen(p);

                parts[n++] = p;
                p += len + 1;
                if (p > text + (size - 2))
                        break;
        }
        run_chain(cmd, fail_bits, parts, n);
        free(text);
        return 0;
}
