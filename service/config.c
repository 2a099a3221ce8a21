#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/platform.h"
#include "service/config.h"
#ifdef _WIN32
#include "service/windows/winsvc_args.h"
#endif

#define CONFIG_MAX_BYTES (1 << 20)

enum field_type {
        F_PATH,
        F_SOCKET, /* Linux: a path; Windows: "tcp://127.0.0.1:PORT" */
        F_WORD,
        F_UINT,
        F_BOOL,
        F_PATHS,
        F_LOG_LEVEL,
        F_LOG_FORMAT,
        F_HANDLERS,
        F_HOSTS,
        F_MIRRORS,
        F_ADDR, /* "HOST:PORT" or "[V6]:PORT" (the stream server checks the parts) */
};

struct field {
        const char *name;
        enum field_type type;
        size_t offset;
        unsigned min, max;          /* F_UINT */
        const char *const *choices; /* F_WORD: allowed values, NULL = any */
};

static const char *const cgroup_drivers[] = {"", "cgroupfs", "systemd", NULL};
static const char *const drivers[] = {"auto", "ns", "qemu", "hcs", NULL};
static const char *const accels[] = {"auto", "kvm", "tcg", NULL};
static const char *const ignore_allow[] = {"ignore", "allow", NULL};

#define OFF(f) offsetof(struct uvmd_config, f)
static const struct field fields[] = {
        {"socket", F_SOCKET, OFF(socket), 0, 0, NULL},
        {"state_root", F_PATH, OFF(state_root), 0, 0, NULL},
        {"data_root", F_PATH, OFF(data_root), 0, 0, NULL},
        {"log_level", F_LOG_LEVEL, OFF(log_level), 0, 0, NULL},
        {"log_format", F_LOG_FORMAT, OFF(log_format), 0, 0, NULL},
        {"cni_conf_dir", F_PATH, OFF(cni_conf_dir), 0, 0, NULL},
        {"cni_bin_dirs", F_PATHS, OFF(cni_bin_dirs), 0, 0, NULL},
        {"cni_plugin_timeout_ms", F_UINT, OFF(cni_plugin_timeout_ms), 100, 600000, NULL},
        {"cgroup_driver", F_WORD, OFF(cgroup_driver), 0, 0, cgroup_drivers},
        {"oci_runtime", F_WORD, OFF(oci_runtime), 0, 0, NULL},
        {"default_driver", F_WORD, OFF(default_driver), 0, 0, drivers},
        {"runtime_handlers", F_HANDLERS, 0, 0, 0, NULL},
        {"kvm_device", F_PATH, OFF(kvm_device), 0, 0, NULL},
        {"qemu_binary", F_WORD, OFF(qemu_binary), 0, 0, NULL},
        {"guest_dir", F_PATH, OFF(guest_dir), 0, 0, NULL},
        {"qemu_accel", F_WORD, OFF(qemu_accel), 0, 0, accels},
        {"vm_boot_timeout_ms", F_UINT, OFF(vm_boot_timeout_ms), 1000, 600000, NULL},
        {"vm_size_annotations", F_WORD, OFF(vm_size_annotations), 0, 0, ignore_allow},
        {"vm_templates", F_BOOL, OFF(vm_templates), 0, 0, NULL},
        {"insecure_registries", F_HOSTS, OFF(insecure_registries), 0, 0, NULL},
        {"registry_mirrors", F_MIRRORS, OFF(registry_mirrors), 0, 0, NULL},
        {"image_pull_timeout_ms", F_UINT, OFF(image_pull_timeout_ms), 1000, 3600000, NULL},
        {"io_threads", F_UINT, OFF(io_threads), 1, 16, NULL},
        {"queue_spin_us", F_UINT, OFF(queue_spin_us), 0, 10000, NULL},
        {"workers", F_UINT, OFF(workers), 1, 256, NULL},
        {"queue_limit", F_UINT, OFF(queue_limit), 1, 100000, NULL},
        {"max_streams", F_UINT, OFF(max_streams), 1, 10000, NULL},
        {"max_message_bytes", F_UINT, OFF(max_message_bytes), 4096, 256u << 20, NULL},
        {"shutdown_grace_ms", F_UINT, OFF(shutdown_grace_ms), 0, 600000, NULL},
        {"stream_address", F_ADDR, OFF(stream_address), 0, 0, NULL},
        {"stream_tls_cert", F_PATH, OFF(stream_tls_cert), 0, 0, NULL},
        {"stream_tls_key", F_PATH, OFF(stream_tls_key), 0, 0, NULL},
        {"stream_token_ttl_ms", F_UINT, OFF(stream_token_ttl_ms), 1000, 3600000, NULL},
        {"metrics_address", F_ADDR, OFF(metrics_address), 0, 0, NULL},
        {"hcs_bridge_address", F_ADDR, OFF(hcs_bridge_address), 0, 0, NULL},
        {"scratch_size_gb", F_UINT, OFF(scratch_size_gb), 0, 2040, NULL},
};

static char **strv_new2(const char *a, const char *b)
{
        char **v = calloc(3, sizeof(char *));

        if (!v)
                return NULL;
        v[0] = strdup(a);
        v[1] = b ? strdup(b) : NULL;
        return v;
}

static void set_str(char **dst, const char *s)
{
        char *n = strdup(s);

        if (!n)
                return; /* keep the old value; start-up checks catch NULL */
        free(*dst);
        *dst = n;
}

static int add_handler(struct uvmd_config *c, const char *name, const char *driver)
{
        for (size_t i = 0; i < c->n_handlers; i++)
                if (STR_EQ(c->handlers[i].name, name)) {
                        set_str(&c->handlers[i].driver, driver);
                        return 0;
                }
        if (c->n_handlers == UVMD_MAX_HANDLERS)
                return -E2BIG;
        c->handlers[c->n_handlers].name = strdup(name);
        c->handlers[c->n_handlers].driver = strdup(driver);
        c->n_handlers++;
        return 0;
}

/* Where things are by default. Windows: the CRI on TCP loopback (the
 * kubelet's --container-runtime-endpoint=tcp://127.0.0.1:3735), state and
 * data under ProgramData. */
#ifdef _WIN32
#define DEFAULT_SOCKET "tcp://127.0.0.1:3735"
#define DEFAULT_STATE_ROOT "C:\\ProgramData\\uvmd\\state"
#define DEFAULT_DATA_ROOT "C:\\ProgramData\\uvmd\\data"
#define DEFAULT_GUEST_DIR "C:\\Program Files\\uvmd\\guest"
/* containerd's on Windows: where node set-ups (flannel, Calico, AKS) put
 * the config list and the plugins. */
#define DEFAULT_CNI_CONF_DIR "C:\\Program Files\\containerd\\cni\\conf"
#define DEFAULT_CNI_BIN_DIR "C:\\Program Files\\containerd\\cni\\bin"
#else
#define DEFAULT_SOCKET "/run/uvmd/uvmd.sock"
#define DEFAULT_STATE_ROOT "/run/uvmd"
#define DEFAULT_DATA_ROOT "/var/lib/uvmd"
#define DEFAULT_GUEST_DIR "/usr/lib/uvmd/guest"
#define DEFAULT_CNI_CONF_DIR "/etc/cni/net.d"
#endif

static void default_handlers(struct uvmd_config *c)
{
#ifdef _WIN32
        add_handler(c, "uvm", "hcs");
#else
        add_handler(c, "runc", "ns");
        add_handler(c, "uvm", "qemu");
#endif
}

void config_init_defaults(struct uvmd_config *c)
{
        memset(c, 0, sizeof(*c));
        c->socket = strdup(DEFAULT_SOCKET);
        c->state_root = strdup(DEFAULT_STATE_ROOT);
        c->data_root = strdup(DEFAULT_DATA_ROOT);
        c->log_level = LOG_LEVEL_INFO;
        c->log_format = LOG_FORMAT_TEXT;
        c->cni_conf_dir = strdup(DEFAULT_CNI_CONF_DIR);
#ifdef _WIN32
        c->cni_bin_dirs = strv_new2(DEFAULT_CNI_BIN_DIR, NULL);
#else
        c->cni_bin_dirs = strv_new2("/opt/cni/bin", "/usr/lib/cni");
#endif
        /* Per plugin run: a hung plugin fails the pod and is killed with its
         * process group, well inside the kubelet's 2-minute call deadline. */
        c->cni_plugin_timeout_ms = 10000;
        c->cgroup_driver = strdup("");
        /* crun refuses hybrid cgroup hierarchies; runc handles v1, v2 and hybrid. */
        c->oci_runtime = strdup("runc");
        /* Chosen at start-up from what the drivers' probes find (service/handlers.c). */
        c->default_driver = strdup("auto");
        c->kvm_device = strdup("/dev/kvm");
        c->qemu_binary = strdup("qemu-system-x86_64");
        c->guest_dir = strdup(DEFAULT_GUEST_DIR);
        c->qemu_accel = strdup("auto");
        /* TCG on a loaded 2-core machine boots in 2-6 s; leave room. */
        c->vm_boot_timeout_ms = 60000;
        c->scratch_size_gb = 20;
        c->vm_size_annotations = strdup("ignore");
        /* Boot VM pods from a saved template when one is ready (docs/templates.md). */
        c->vm_templates = true;
        default_handlers(c);
        c->insecure_registries = calloc(1, sizeof(char *));
        c->registry_mirrors = calloc(1, sizeof(char *));
        c->io_threads = 1;
        /* A call's neighbour in a burst (the kubelet's relist, a client
         * looping) is read without a wake-up from another CPU; at most this
         * much CPU after each call (docs/PERFORMANCE.md, session 11). */
        c->queue_spin_us = 100;
        c->workers = 16;
        c->queue_limit = 1024;
        c->max_streams = 256;
        c->max_message_bytes = 16u << 20; /* the kubelet's own limit */
        c->shutdown_grace_ms = 5000;
        /* Loopback and an ephemeral port: the kubelet, on this node, proxies. */
        c->stream_address = strdup("127.0.0.1:0");
        c->stream_token_ttl_ms = 60000;
}

void config_free(struct uvmd_config *c)
{
        free(c->socket);
        free(c->state_root);
        free(c->data_root);
        free(c->cni_conf_dir);
        strv_free(c->cni_bin_dirs);
        free(c->cgroup_driver);
        free(c->oci_runtime);
        free(c->default_driver);
        free(c->kvm_device);
        free(c->qemu_binary);
        free(c->guest_dir);
        free(c->qemu_accel);
        free(c->vm_size_annotations);
        free(c->stream_address);
        free(c->metrics_address);
        free(c->hcs_bridge_address);
        free(c->stream_tls_cert);
        free(c->stream_tls_key);
        strv_free(c->insecure_registries);
        strv_free(c->registry_mirrors);
        for (size_t i = 0; i < c->n_handlers; i++) {
                free(c->handlers[i].name);
                free(c->handlers[i].driver);
        }
        memset(c, 0, sizeof(*c));
}

static bool is_word(const char *s)
{
        if (!*s || strlen(s) > 63)
                return false;
        for (; *s; s++)
                if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9') && *s != '-' &&
                    *s != '_' && *s != '.')
                        return false;
        return true;
}

static bool in_choices(const char *const *choices, const char *s)
{
        if (!choices)
                return true;
        for (; *choices; choices++)
                if (STR_EQ(*choices, s))
                        return true;
        return false;
}

/* Linux: "/..."; Windows: "X:\\..." or "\\\\server\\...". */
static bool path_is_absolute(const char *s)
{
#ifdef _WIN32
        return winsvc_path_is_absolute(s);
#else
        return s[0] == '/';
#endif
}

static int want_path(const char *src, const char *name, json_object *v, const char **ret,
                     struct uvm_error **err)
{
        const char *s;

        if (!json_object_is_type(v, json_type_string))
                return uvm_error_set(err, EINVAL, "%s: field \"%s\": expected a string", src, name);
        s = json_object_get_string(v);
        if (!path_is_absolute(s) || strlen(s) >= 4096)
                return uvm_error_set(err, EINVAL,
                                     "%s: field \"%s\": \"%s\" is not an absolute path", src, name,
                                     s);
        *ret = s;
        return 0;
}

static int parse_paths(struct uvmd_config *c, const char *src, const struct field *f,
                       json_object *v, struct uvm_error **err)
{
        size_t n;
        char **out;
        int r;

        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0 ||
            json_object_array_length(v) > 32)
                return uvm_error_set(err, EINVAL,
                                     "%s: field \"%s\": expected an array of 1 to 32 paths", src,
                                     f->name);
        n = json_object_array_length(v);
        out = calloc(n + 1, sizeof(char *));
        if (!out)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const char *s;
                r = want_path(src, f->name, json_object_array_get_idx(v, i), &s, err);
                if (r < 0) {
                        strv_free(out);
                        return r;
                }
                out[i] = strdup(s);
        }
        strv_free(*(char ***) ((char *) c + f->offset));
        *(char ***) ((char *) c + f->offset) = out;
        return 0;
}

static int parse_handlers(struct uvmd_config *c, const char *src, json_object *v,
                          struct uvm_error **err)
{
        if (!json_object_is_type(v, json_type_object))
                return uvm_error_set(err, EINVAL,
                                     "%s: field \"runtime_handlers\": expected an object "
                                     "mapping handler names to drivers",
                                     src);
        json_object_object_foreach (v, key, val) {
                const char *drv = json_object_get_string(val);
                if (!is_word(key))
                        return uvm_error_set(
                                err, EINVAL,
                                "%s: field \"runtime_handlers\": bad handler name \"%s\"", src,
                                key);
                if (!json_object_is_type(val, json_type_string) || !in_choices(drivers, drv))
                        return uvm_error_set(err, EINVAL,
                                             "%s: field \"runtime_handlers.%s\": driver must be "
                                             "\"ns\", \"qemu\" or \"hcs\"",
                                             src, key);
                if (add_handler(c, key, drv) < 0)
                        return uvm_error_set(
                                err, E2BIG, "%s: field \"runtime_handlers\": more than %d handlers",
                                src, UVMD_MAX_HANDLERS);
        }
        return 0;
}

/* A registry host: "name[:port]" of letters, digits, '.', '-', '[', ']', ':'. */
static bool is_host(const char *s)
{
        return *s && strlen(s) <= 255 &&
               strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") ==
                       strlen(s);
}

static bool is_url(const char *s)
{
        return (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) &&
               strlen(s) <= 1024 && !strpbrk(s, " ,\t\n\"");
}

static int parse_hosts(const char *src, const char *name, json_object *v, char ***dst,
                       struct uvm_error **err)
{
        size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
        char **out;

        if (!json_object_is_type(v, json_type_array) || n > 64)
                return uvm_error_set(err, EINVAL,
                                     "%s: field \"%s\": expected an array of up to 64 hosts", src,
                                     name);
        out = calloc(n + 1, sizeof(char *));
        if (!out)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(v, i);
                const char *h = json_object_get_string(e);
                if (!json_object_is_type(e, json_type_string) || !is_host(h)) {
                        strv_free(out);
                        return uvm_error_set(err, EINVAL,
                                             "%s: field \"%s\": \"%s\" is not a host[:port]", src,
                                             name, h ? h : "");
                }
                out[i] = strdup(h);
        }
        strv_free(*dst);
        *dst = out;
        return 0;
}

/* "registry=url1,url2" from urls (1 to 8 checked http(s) URLs); NULL with
 * *ret_bad the first bad URL ("" for an entry that is not a string), or
 * with *ret_bad NULL when out of memory. Plain C: no open_memstream on
 * Windows. */
static char *mirror_line(const char *key, json_object *urls, const char **ret_bad)
{
        size_t m = json_object_array_length(urls), len = strlen(key) + 2;
        char *line;

        *ret_bad = NULL;
        for (size_t i = 0; i < m; i++) {
                const char *u = json_object_get_string(json_object_array_get_idx(urls, i));
                if (!u || !is_url(u)) {
                        *ret_bad = u ? u : "";
                        return NULL;
                }
                len += strlen(u) + 1;
        }
        line = malloc(len);
        if (!line)
                return NULL;
        strcpy(line, key);
        strcat(line, "=");
        for (size_t i = 0; i < m; i++) {
                if (i)
                        strcat(line, ",");
                strcat(line, json_object_get_string(json_object_array_get_idx(urls, i)));
        }
        return line;
}

/* {"docker.io": ["https://mirror.example"]} → "docker.io=https://mirror.example" */
static int parse_mirrors(const char *src, const char *name, json_object *v, char ***dst,
                         struct uvm_error **err)
{
        size_t n = 0,
               cap = json_object_is_type(v, json_type_object) ? json_object_object_length(v) : 0;
        _cleanup_strv_ char **out = NULL;

        if (!json_object_is_type(v, json_type_object) || cap > 64)
                return uvm_error_set(
                        err, EINVAL,
                        "%s: field \"%s\": expected an object mapping up to 64 registries "
                        "to lists of mirror URLs",
                        src, name);
        out = calloc(cap + 1, sizeof(char *));
        if (!out)
                return uvm_error_set(err, ENOMEM, "out of memory");
        json_object_object_foreach (v, key, val) {
                size_t m = json_object_is_type(val, json_type_array) ? json_object_array_length(val)
                                                                     : 0;
                const char *bad;

                if (!is_host(key) || m == 0 || m > 8)
                        return uvm_error_set(
                                err, EINVAL,
                                "%s: field \"%s.%s\": expected a registry host and 1 to 8 "
                                "mirror URLs",
                                src, name, key);
                out[n] = mirror_line(key, val, &bad);
                if (!out[n] && bad)
                        return uvm_error_set(err, EINVAL,
                                             "%s: field \"%s.%s\": \"%s\" is not an http(s) URL",
                                             src, name, key, bad);
                if (!out[n++])
                        return uvm_error_set(err, ENOMEM, "out of memory");
        }
        strv_free(*dst);
        *dst = TAKE_PTR(out);
        return 0;
}

static int parse_field(struct uvmd_config *c, const char *src, const struct field *f,
                       json_object *v, struct uvm_error **err)
{
        void *dst = (char *) c + f->offset;
        const char *s;
        int64_t n;
        int r;

        switch (f->type) {
        case F_PATH:
                r = want_path(src, f->name, v, &s, err);
                if (r == 0)
                        set_str(dst, s);
                return r;
        case F_SOCKET:
#ifdef _WIN32
                s = json_object_get_string(v);
                if (!json_object_is_type(v, json_type_string))
                        return uvm_error_set(err, EINVAL, "%s: field \"%s\": expected a string",
                                             src, f->name);
                r = config_tcp_endpoint_port(s, NULL, err);
                if (r < 0)
                        return uvm_error_wrap(err, "%s: field \"%s\"", src, f->name);
                set_str(dst, s);
                return 0;
#else
                r = want_path(src, f->name, v, &s, err);
                if (r == 0)
                        set_str(dst, s);
                return r;
#endif
        case F_WORD:
                s = json_object_get_string(v);
                if (!json_object_is_type(v, json_type_string) || (!in_choices(f->choices, s)) ||
                    (!f->choices && !is_word(s) && s[0] != '/'))
                        return uvm_error_set(err, EINVAL, "%s: field \"%s\": invalid value %s", src,
                                             f->name, json_object_to_json_string(v));
                set_str(dst, s);
                return 0;
        case F_ADDR:
                s = json_object_get_string(v);
                if (!json_object_is_type(v, json_type_string) || strlen(s) > 64 ||
                    !strchr(s, ':') || strpbrk(s, " \t/"))
                        return uvm_error_set(err, EINVAL,
                                             "%s: field \"%s\": expected HOST:PORT, got %s", src,
                                             f->name, json_object_to_json_string(v));
                set_str(dst, s);
                return 0;
        case F_UINT:
                n = json_object_get_int64(v);
                if (!json_object_is_type(v, json_type_int) || n < f->min || n > f->max)
                        return uvm_error_set(err, EINVAL,
                                             "%s: field \"%s\": expected an integer from %u to %u",
                                             src, f->name, f->min, f->max);
                *(unsigned *) dst = (unsigned) n;
                return 0;
        case F_BOOL:
                if (!json_object_is_type(v, json_type_boolean))
                        return uvm_error_set(err, EINVAL,
                                             "%s: field \"%s\": expected true or false", src,
                                             f->name);
                *(bool *) dst = json_object_get_boolean(v);
                return 0;
        case F_PATHS:
                return parse_paths(c, src, f, v, err);
        case F_LOG_LEVEL:
                if (log_parse_level(json_object_get_string(v), dst) < 0 ||
                    !json_object_is_type(v, json_type_string))
                        return uvm_error_set(
                                err, EINVAL,
                                "%s: field \"%s\": expected debug, info, warn or error", src,
                                f->name);
                return 0;
        case F_LOG_FORMAT:
                if (log_parse_format(json_object_get_string(v), dst) < 0 ||
                    !json_object_is_type(v, json_type_string))
                        return uvm_error_set(err, EINVAL, "%s: field \"%s\": expected text or json",
                                             src, f->name);
                return 0;
        case F_HANDLERS:
                return parse_handlers(c, src, v, err);
        case F_HOSTS:
                return parse_hosts(src, f->name, v, dst, err);
        case F_MIRRORS:
                return parse_mirrors(src, f->name, v, dst, err);
        }
        return uvm_error_set(err, EINVAL, "%s: field \"%s\": unsupported", src, f->name);
}

int config_parse(struct uvmd_config *c, const char *source, const char *text,
                 struct uvm_error **err)
{
        struct json_tokener *tok = json_tokener_new();
        json_object *root = NULL;
        int r = 0;

        if (!tok)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (text[strspn(text, " \t\r\n")] == '\0') /* an empty file sets nothing */
                goto out;
        root = json_tokener_parse_ex(tok, text, (int) strlen(text));
        if (json_tokener_get_error(tok) == json_tokener_continue) {
                r = uvm_error_set(err, EINVAL, "%s: invalid JSON: unexpected end of file", source);
                goto out;
        }
        if (!root || json_tokener_get_error(tok) != json_tokener_success) {
                r = uvm_error_set(err, EINVAL, "%s: invalid JSON at offset %zu: %s", source,
                                  json_tokener_get_parse_end(tok),
                                  json_tokener_error_desc(json_tokener_get_error(tok)));
                goto out;
        }
        if (!json_object_is_type(root, json_type_object)) {
                r = uvm_error_set(err, EINVAL, "%s: the top level must be a JSON object", source);
                goto out;
        }
        json_object_object_foreach (root, key, val) {
                const struct field *f = NULL;
                for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
                        if (STR_EQ(fields[i].name, key))
                                f = &fields[i];
                if (!f) {
                        r = uvm_error_set(err, EINVAL, "%s: unknown field \"%s\"", source, key);
                        goto out;
                }
                r = parse_field(c, source, f, val, err);
                if (r < 0)
                        goto out;
        }
out:
        json_object_put(root);
        json_tokener_free(tok);
        return r;
}

int config_load(struct uvmd_config *c, const char *path, bool required, struct uvm_error **err)
{
        _cleanup_free_ char *text = NULL;
        int r = plat_read_file(path, CONFIG_MAX_BYTES, &text, NULL);

        if (r == -ENOENT && !required)
                return 0;
        if (r == -EFBIG)
                return uvm_error_set(err, EFBIG, "%s: larger than %d bytes", path,
                                     CONFIG_MAX_BYTES);
        if (r < 0)
                return uvm_error_set(err, -r, "%s: %s", path, strerror(-r));
        return config_parse(c, path, text, err);
}

int config_validate(const struct uvmd_config *c, struct uvm_error **err)
{
        if (!c->socket || !c->state_root || !c->data_root || !c->cni_conf_dir || !c->oci_runtime ||
            !c->default_driver || !c->cni_bin_dirs || !c->kvm_device || !c->qemu_binary ||
            !c->guest_dir || !c->qemu_accel || !c->vm_size_annotations || !c->stream_address)
                return uvm_error_set(err, ENOMEM, "out of memory building the configuration");
#ifdef _WIN32
        if (config_tcp_endpoint_port(c->socket, NULL, err) < 0)
                return uvm_error_wrap(err, "socket");
#else
        if (c->socket[0] != '/' || strlen(c->socket) >= 108)
                return uvm_error_set(err, EINVAL,
                                     "socket \"%s\": must be an absolute path under 108 bytes",
                                     c->socket);
#endif
        if (!path_is_absolute(c->state_root) || !path_is_absolute(c->data_root))
                return uvm_error_set(err, EINVAL, "state and data roots must be absolute paths");
        if (c->metrics_address && config_loopback_address(c->metrics_address, NULL, NULL, err) < 0)
                return uvm_error_wrap(err, "metrics_address");
        if (c->hcs_bridge_address &&
            config_loopback_address(c->hcs_bridge_address, NULL, NULL, err) < 0)
                return uvm_error_wrap(err, "hcs_bridge_address");
        if (!c->stream_tls_cert != !c->stream_tls_key)
                return uvm_error_set(err, EINVAL,
                                     "stream_tls_cert and stream_tls_key go together: both or "
                                     "neither");
        return 0;
}

int config_tcp_endpoint_port(const char *endpoint, unsigned *ret_port, struct uvm_error **err)
{
        static const char prefix[] = "tcp://127.0.0.1:";
        const char *p = endpoint + strlen(prefix);
        unsigned long port;
        char *end;

        if (strncmp(endpoint, "tcp://", 6) != 0)
                return uvm_error_set(err, EINVAL,
                                     "\"%.128s\" is not a tcp:// endpoint (tcp://127.0.0.1:PORT)",
                                     endpoint);
        if (strncmp(endpoint, prefix, strlen(prefix)) != 0)
                return uvm_error_set(err, EINVAL,
                                     "\"%.128s\": the CRI is served on loopback only, "
                                     "tcp://127.0.0.1:PORT (any process that reaches the port "
                                     "can run pods)",
                                     endpoint);
        port = *p >= '1' && *p <= '9' && strlen(p) <= 5 ? strtoul(p, &end, 10) : 0;
        if (!port || *end || port > 65535)
                return uvm_error_set(err, EINVAL, "\"%.128s\": the port must be 1 to 65535",
                                     endpoint);
        if (ret_port)
                *ret_port = (unsigned) port;
        return 0;
}

int config_loopback_address(const char *addr, bool *ret_v6, unsigned *ret_port,
                            struct uvm_error **err)
{
        const char *p;
        unsigned long port;
        char *end;
        bool v6;

        if (strncmp(addr, "127.0.0.1:", 10) == 0)
                v6 = false, p = addr + 10;
        else if (strncmp(addr, "[::1]:", 6) == 0)
                v6 = true, p = addr + 6;
        else
                return uvm_error_set(err, EINVAL,
                                     "\"%.128s\": only loopback is served, 127.0.0.1:PORT or "
                                     "[::1]:PORT (put a proxy in front to expose it)",
                                     addr);
        port = *p >= '1' && *p <= '9' && strlen(p) <= 5 ? strtoul(p, &end, 10) : 0;
        if (!port || *end || port > 65535)
                return uvm_error_set(err, EINVAL, "\"%.128s\": the port must be 1 to 65535", addr);
        if (ret_v6)
                *ret_v6 = v6;
        if (ret_port)
                *ret_port = (unsigned) port;
        return 0;
}
