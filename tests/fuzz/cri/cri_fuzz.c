/* libFuzzer harness for CRI requests: the protobuf bytes a client sends,
 * unpacked by protobuf-c as the server does, then every check and pure
 * translation the handlers apply before the sandbox layer acts: the field
 * validators (service/validate.c), labels and annotations, user namespace
 * mappings, sysctls, cgroup parents, UVM sizing, resources (service/cri*.c),
 * and for CreateContainer the container's user and its OCI spec
 * (sandbox/user.c, sandbox/spec.c, seccomp and AppArmor).
 *
 * Input: byte 0 picks the request type (% N_KINDS), the rest is the message.
 * Two kinds are files instead: a Localhost seccomp profile's text, and an
 * image's etc/passwd, etc/group and USER (NUL-separated). A fake image
 * layer with etc/passwd and etc/group is made once, under $CRI_FUZZ_DIR
 * (run.sh) or a new folder in /tmp. Every check must return 0 or -errno
 * with a message; a built spec must be a JSON object. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "proto/api.pb-c.h"

#include "image/ref.h"
#include "sandbox/cgroup.h"
#include "sandbox/record.h"
#include "sandbox/seccomp.h"
#include "sandbox/spec.h"
#include "sandbox/sysctl.h"
#include "sandbox/uvm_options.h"
#include "sandbox/user.h"
#include "service/cri.h"
#include "sandbox/cri_resources.h"
#include "service/validate.h"

/* cri.c's response encoders allocate from the call's arena; the harness
 * decodes only, so they are never reached. */
void *srv_alloc(struct srv_ctx *ctx, size_t size)
{
        abort();
}

char *srv_strdup(struct srv_ctx *ctx, const char *s)
{
        abort();
}

static char dir[256];
static char *layers[2];
static char profile_path[300];
static char *user_layers[2]; /* the image_user kind's, written per input */
static uint64_t caps_held;

static void check(int r, struct uvm_error *err)
{
        if ((r < 0) != (err != NULL) || (err && (!err->msg || err->code != -r)))
                abort();
        uvm_error_free(err);
}

/* Each check on its own error record, as each handler call has one. */
#define CHECK(call)                                                                                \
        do {                                                                                       \
                struct uvm_error *err = NULL;                                                      \
                check((call), err);                                                                \
        } while (0)

/* The node's AppArmor as a test sees it: enabled, with uvmd's profile and
 * the k8s- ones loaded. */
static bool aa_enabled(void)
{
        return true;
}

static bool aa_loaded(const char *p)
{
        return strcmp(p, APPARMOR_DEFAULT_PROFILE) == 0 || strncmp(p, "k8s-", 4) == 0;
}

static int aa_load(const char *path, struct uvm_error **err)
{
        return 0;
}

static const struct apparmor_node aa_node = {aa_enabled, aa_loaded, aa_load};

static void labels(void *const *entries, size_t n, const char *field)
{
        struct uvm_error *err = NULL;
        struct record_kv *kv = NULL;
        size_t n_kv = 0;
        int r = cri_kv_from(entries, n, field, &kv, &n_kv, &err);

        check(r, err);
        if (r == 0) {
                if (n_kv != n)
                        abort();
                /* A record matches a selector made of its own labels. */
                if (!cri_labels_match(kv, n_kv, entries, n))
                        abort();
                record_kv_free(kv, n_kv);
        }
}

static void pod_userns(const Runtime__V1__NamespaceOption *ns, struct userns_map *ret)
{
        struct uvm_error *err = NULL;
        int r = cri_userns_from(ns ? ns->userns_options : NULL, ret, &err);

        check(r, err);
        if (r < 0)
                *ret = (struct userns_map){0};
}

static void sysctls(const Runtime__V1__LinuxPodSandboxConfig *l, bool host_net, bool host_ipc)
{
        for (size_t i = 0; l && i < l->n_sysctls && i < DRV_MAX_SYSCTLS; i++) {
                const char *k = l->sysctls[i]->key, *v = l->sysctls[i]->value;
                struct uvm_error *err = NULL;
                int r = validate_sysctl(k, v, &err);

                check(r, err);
                if (r == 0)
                        CHECK(sysctl_check_for_pod(k, host_net, host_ipc, &err));
        }
}

static void uvm(const Runtime__V1__PodSandboxConfig *c, bool allow)
{
        struct uvm_kv kv[256];
        struct uvm_options_input in = {.annotations = kv, .allow_annotations = allow};
        const Runtime__V1__LinuxContainerResources *res = c->linux ? c->linux->resources : NULL;
        struct drv_uvm_options o;

        for (size_t i = 0; i < c->n_annotations && i < 256; i++)
                kv[in.n_annotations++] =
                        (struct uvm_kv){c->annotations[i]->key, c->annotations[i]->value};
        if (res) {
                in.memory_limit_bytes = res->memory_limit_in_bytes;
                in.cpu_quota = res->cpu_quota;
                in.cpu_period = res->cpu_period;
        }
        in.host_cpus = 2;
        CHECK(uvm_options_resolve(&in, &o, &err));
}

/* RunPodSandbox's checks (service/cri_pod.c, pod_rec_from and net_cfg_from). */
static void pod_config(const Runtime__V1__PodSandboxConfig *c, struct userns_map *ret_userns)
{
        const Runtime__V1__NamespaceOption *ns =
                c->linux && c->linux->security_context
                        ? c->linux->security_context->namespace_options
                        : NULL;
        bool host_net = ns && ns->network == RUNTIME__V1__NAMESPACE_MODE__NODE;
        bool host_ipc = ns && ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE;
        struct sbx_pod_limits lim;

        *ret_userns = (struct userns_map){0};
        if (c->metadata) {
                CHECK(validate_string("metadata.name", c->metadata->name, 253, &err));
                CHECK(validate_string("metadata.namespace", c->metadata->namespace_, 253, &err));
                CHECK(validate_string("metadata.uid", c->metadata->uid, 253, &err));
        }
        if (!STR_EMPTY(c->log_directory))
                CHECK(validate_absolute_path("log_directory", c->log_directory, &err));
        if (!STR_EMPTY(c->hostname))
                CHECK(validate_hostname("hostname", c->hostname, &err));
        pod_userns(ns, ret_userns);
        sysctls(c->linux, host_net, host_ipc);
        if (c->linux && !STR_EMPTY(c->linux->cgroup_parent)) {
                CHECK(sbx_cgroup_parent_check(c->linux->cgroup_parent, false, &err));
                CHECK(sbx_cgroup_parent_check(c->linux->cgroup_parent, true, &err));
        }
        uvm(c, false);
        uvm(c, true);
        if (c->linux)
                CHECK(cri_pod_limits(c->linux->resources, c->linux->overhead, &lim, &err));
        labels((void *const *) c->labels, c->n_labels, "labels");
        labels((void *const *) c->annotations, c->n_annotations, "annotations");
}

static void resources(const Runtime__V1__LinuxContainerResources *res)
{
        struct uvm_error *err = NULL;
        char *json = NULL;
        int r = cri_resources_json(res, &json, &err);

        check(r, err);
        if (r == 0) {
                json_object *o = json_tokener_parse(json);

                if (!json_object_is_type(o, json_type_object))
                        abort();
                json_object_put(o);
        }
        free(json);
}

/* A Windows node's resources as Linux ones (cri_resources_from_windows):
 * what comes out must pass Linux's own checks. */
static void windows_resources(const Runtime__V1__WindowsContainerResources *w)
{
        static const struct cri_uvm_facts vms[] = {{0, 0}, {2, 20ll << 30}, {64, INT64_MAX}};
        Runtime__V1__LinuxContainerResources l;
        struct uvm_error *err = NULL;

        for (size_t i = 0; i < sizeof(vms) / sizeof(vms[0]); i++) {
                int r = cri_resources_from_windows(w, &vms[i], &l, &err);

                check(r, err); /* frees it */
                err = NULL;
                if (r == 0)
                        resources(&l);
        }
}

/* CreateContainer's translation (sandbox/ctr_create.c, build_spec). */
static void container(const Runtime__V1__ContainerConfig *c, const struct userns_map *userns,
                      bool systemd)
{
        const Runtime__V1__LinuxContainerSecurityContext *sc =
                c->linux ? c->linux->security_context : NULL;
        static char *const entrypoint[] = {"/bin/sh", "-c", NULL}, *cmd[] = {"true", NULL},
                           *env[] = {"PATH=/usr/bin:/bin", "HOME=/root", "=bad", NULL};
        struct spec_image img = {entrypoint, cmd, env, "/"};
        struct spec_pod pod = {
                .id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                .cgroup_parent = systemd ? "uvmd-0123.slice" : "/uvmd/0123",
                .systemd_cgroups = systemd,
                .hostname = "fuzz",
                .caps_held = caps_held,
                .rro_mounts = systemd,
                .apparmor = &aa_node,
                .userns = userns,
        };
        const char *image_user = c->image ? c->image->user_specified_image : NULL;
        struct uvm_error *err = NULL;
        struct ctr_user user;
        char *json = NULL;
        int r;

        if (!c->metadata || STR_EMPTY(c->metadata->name) || !c->image || STR_EMPTY(c->image->image))
                return;
        labels((void *const *) c->labels, c->n_labels, "labels");
        labels((void *const *) c->annotations, c->n_annotations, "annotations");
        if (c->linux && c->linux->resources)
                resources(c->linux->resources);
        CHECK(spec_userns_check(c, &pod, &err));
        r = ctr_image_check_user_files(layers, &err);
        check(r, err);
        if (r < 0)
                return;
        err = NULL;
        /* The image's USER comes from its config: untrusted too. */
        r = ctr_user_resolve(sc, image_user ? image_user : "", layers, &user, &err);
        check(r, err);
        if (r < 0)
                return;
        if (user.n_groups > CTR_USER_MAX_GROUPS)
                abort();
        err = NULL;
        r = spec_build(c, &img, &pod, "c0ffee", &user, &json, &err);
        check(r, err);
        if (r == 0) {
                json_object *o = json_tokener_parse(json);

                if (!json_object_is_type(o, json_type_object))
                        abort();
                json_object_put(o);
        } else if (json) {
                abort(); /* ret_* written only on success */
        }
        free(json);
}

static void create_container(const Runtime__V1__CreateContainerRequest *req, bool systemd)
{
        struct userns_map userns = {0};

        CHECK(validate_string("pod_sandbox_id", req->pod_sandbox_id, 64, &err));
        if (req->sandbox_config)
                pod_config(req->sandbox_config, &userns);
        if (req->config)
                container(req->config, &userns, systemd);
}

static void exec_sync(const Runtime__V1__ExecSyncRequest *req)
{
        CHECK(validate_string("container_id", req->container_id, 64, &err));
        for (size_t i = 0; i < req->n_cmd; i++)
                if (!req->cmd[i])
                        abort();
}

static void filter_labels(void *const *sel, size_t n)
{
        static const struct record_kv kv[] = {{"app", "web"}, {"tier", ""}};

        cri_labels_match(kv, 2, sel, n);
        labels(sel, n, "label_selector");
}

static void seccomp_file(const uint8_t *data, size_t size, bool privileged)
{
        Runtime__V1__SecurityProfile prof = RUNTIME__V1__SECURITY_PROFILE__INIT;
        Runtime__V1__LinuxContainerSecurityContext sc =
                RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        struct uvm_error *err = NULL;
        json_object *o = NULL;
        FILE *f = fopen(profile_path, "we");
        int r;

        if (!f)
                abort();
        fwrite(data, 1, size, f);
        fclose(f);
        prof.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
        prof.localhost_ref = profile_path;
        sc.seccomp = &prof;
        sc.privileged = privileged;
        r = seccomp_profile(&sc, caps_held, &o, &err);
        check(r, err);
        if (r == 0 && o && !json_object_is_type(o, json_type_object))
                abort();
        json_object_put(o);
}

static void put_file(const char *layer, const char *name, const char *text, size_t len)
{
        char path[300];
        FILE *f;

        snprintf(path, sizeof(path), "%s/etc/%s", layer, name);
        f = fopen(path, "we");
        if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0)
                abort();
}

/* An image's own passwd and group files and its USER, resolved as a
 * container's user (sandbox/user.c). */
static void image_user(const uint8_t *data, size_t size)
{
        const char *parts[3] = {"", "", ""};
        size_t lens[3] = {0, 0, 0}, n = 0, start = 0;
        Runtime__V1__LinuxContainerSecurityContext sc =
                RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        Runtime__V1__Int64Value gid = RUNTIME__V1__INT64_VALUE__INIT;
        int64_t groups[] = {50, 1000};
        char *text = malloc(size + 1), *user;
        struct uvm_error *err = NULL;
        struct ctr_user u;
        int r;

        if (!text)
                return;
        memcpy(text, data, size);
        text[size] = '\0';
        for (size_t i = 0; i <= size && n < 3; i++)
                if (i == size || (text[i] == '\0' && n < 2)) {
                        parts[n] = text + start;
                        lens[n++] = i - start;
                        start = i + 1;
                }
        put_file(user_layers[0], "passwd", parts[0], lens[0]);
        put_file(user_layers[0], "group", parts[1], lens[1]);
        user = strndup(parts[2], lens[2]);
        if (user) {
                r = ctr_user_resolve(NULL, user, user_layers, &u, &err);
                check(r, err);
                /* As the request's run_as_username, with a group and
                 * supplemental groups on top. */
                gid.value = (int64_t) (size % 70000);
                sc.run_as_username = user;
                sc.run_as_group = &gid;
                sc.supplemental_groups = groups;
                sc.n_supplemental_groups = 2;
                err = NULL;
                r = ctr_user_resolve(&sc, user, user_layers, &u, &err);
                check(r, err);
                if (r == 0 && (u.n_groups > CTR_USER_MAX_GROUPS || u.groups[0] != u.gid))
                        abort();
        }
        free(user);
        free(text);
}

enum kind {
        K_RUN_POD,
        K_CREATE_CTR,
        K_CREATE_CTR_SYSTEMD,
        K_EXEC_SYNC,
        K_EXEC,
        K_ATTACH,
        K_PORT_FORWARD,
        K_UPDATE_CTR,
        K_UPDATE_POD,
        K_LIST_CTRS,
        K_LIST_PODS,
        K_LIST_CTR_STATS,
        K_LIST_POD_STATS,
        K_PULL_IMAGE,
        K_UPDATE_RUNTIME,
        K_SECCOMP_FILE,
        K_IMAGE_USER,
        N_KINDS,
};

static const ProtobufCMessageDescriptor *const descs[N_KINDS] = {
        [K_RUN_POD] = &runtime__v1__run_pod_sandbox_request__descriptor,
        [K_CREATE_CTR] = &runtime__v1__create_container_request__descriptor,
        [K_CREATE_CTR_SYSTEMD] = &runtime__v1__create_container_request__descriptor,
        [K_EXEC_SYNC] = &runtime__v1__exec_sync_request__descriptor,
        [K_EXEC] = &runtime__v1__exec_request__descriptor,
        [K_ATTACH] = &runtime__v1__attach_request__descriptor,
        [K_PORT_FORWARD] = &runtime__v1__port_forward_request__descriptor,
        [K_UPDATE_CTR] = &runtime__v1__update_container_resources_request__descriptor,
        [K_UPDATE_POD] = &runtime__v1__update_pod_sandbox_resources_request__descriptor,
        [K_LIST_CTRS] = &runtime__v1__list_containers_request__descriptor,
        [K_LIST_PODS] = &runtime__v1__list_pod_sandbox_request__descriptor,
        [K_LIST_CTR_STATS] = &runtime__v1__list_container_stats_request__descriptor,
        [K_LIST_POD_STATS] = &runtime__v1__list_pod_sandbox_stats_request__descriptor,
        [K_PULL_IMAGE] = &runtime__v1__pull_image_request__descriptor,
        [K_UPDATE_RUNTIME] = &runtime__v1__update_runtime_config_request__descriptor,
};

static void dispatch(enum kind k, const void *m)
{
        struct userns_map userns;
        struct sbx_pod_limits lim;

        switch (k) {
        case K_RUN_POD: {
                const Runtime__V1__RunPodSandboxRequest *req = m;
                if (req->config)
                        pod_config(req->config, &userns);
                break;
        }
        case K_CREATE_CTR:
        case K_CREATE_CTR_SYSTEMD:
                create_container(m, k == K_CREATE_CTR_SYSTEMD);
                break;
        case K_EXEC_SYNC:
                exec_sync(m);
                break;
        case K_EXEC:
                CHECK(validate_string("container_id",
                                      ((const Runtime__V1__ExecRequest *) m)->container_id, 64,
                                      &err));
                break;
        case K_ATTACH:
                CHECK(validate_string("container_id",
                                      ((const Runtime__V1__AttachRequest *) m)->container_id, 64,
                                      &err));
                break;
        case K_PORT_FORWARD:
                CHECK(validate_string("pod_sandbox_id",
                                      ((const Runtime__V1__PortForwardRequest *) m)->pod_sandbox_id,
                                      64, &err));
                break;
        case K_UPDATE_CTR: {
                const Runtime__V1__UpdateContainerResourcesRequest *req = m;
                CHECK(validate_string("container_id", req->container_id, 64, &err));
                if (req->linux)
                        resources(req->linux);
                if (req->windows)
                        windows_resources(req->windows);
                break;
        }
        case K_UPDATE_POD: {
                const Runtime__V1__UpdatePodSandboxResourcesRequest *req = m;
                CHECK(cri_pod_limits(req->resources, req->overhead, &lim, &err));
                break;
        }
        case K_LIST_CTRS: {
                const Runtime__V1__ContainerFilter *f =
                        ((const Runtime__V1__ListContainersRequest *) m)->filter;
                if (f)
                        filter_labels((void *const *) f->label_selector, f->n_label_selector);
                break;
        }
        case K_LIST_PODS: {
                const Runtime__V1__PodSandboxFilter *f =
                        ((const Runtime__V1__ListPodSandboxRequest *) m)->filter;
                if (f)
                        filter_labels((void *const *) f->label_selector, f->n_label_selector);
                break;
        }
        case K_LIST_CTR_STATS: {
                const Runtime__V1__ContainerStatsFilter *f =
                        ((const Runtime__V1__ListContainerStatsRequest *) m)->filter;
                if (f)
                        filter_labels((void *const *) f->label_selector, f->n_label_selector);
                break;
        }
        case K_LIST_POD_STATS: {
                const Runtime__V1__PodSandboxStatsFilter *f =
                        ((const Runtime__V1__ListPodSandboxStatsRequest *) m)->filter;
                if (f)
                        filter_labels((void *const *) f->label_selector, f->n_label_selector);
                break;
        }
        case K_PULL_IMAGE: {
                const Runtime__V1__PullImageRequest *req = m;
                struct uvm_error *err = NULL;
                struct img_ref ref;
                int r;

                if (!req->image)
                        break;
                r = validate_string("image.image", req->image->image, 4096, &err);
                check(r, err);
                if (r < 0)
                        break;
                err = NULL;
                r = img_ref_parse(req->image->image, &ref, &err);
                check(r, err);
                if (r == 0)
                        img_ref_clear(&ref);
                break;
        }
        case K_UPDATE_RUNTIME: {
                const Runtime__V1__UpdateRuntimeConfigRequest *req = m;
                if (req->runtime_config && req->runtime_config->network_config)
                        CHECK(validate_cidrs("pod_cidr",
                                             req->runtime_config->network_config->pod_cidr, &err));
                break;
        }
        default:
                abort();
        }
}

static void write_file(const char *name, const char *text)
{
        char path[300];
        FILE *f;

        snprintf(path, sizeof(path), "%s/layer/etc/%s", dir, name);
        f = fopen(path, "we");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *d = getenv("CRI_FUZZ_DIR");
        char path[300];

        if (d && strlen(d) < sizeof(dir) - 32)
                snprintf(dir, sizeof(dir), "%s", d);
        else if (snprintf(dir, sizeof(dir), "/tmp/uvmd-cri-fuzz-XXXXXX") < 0 || !mkdtemp(dir))
                abort();
        snprintf(path, sizeof(path), "%s/layer", dir);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/layer/etc", dir);
        mkdir(path, 0755);
        write_file("passwd", "root:x:0:0:root:/root:/bin/sh\n"
                             "app:x:1000:1000:App:/home/app:/bin/sh\n"
                             "nobody:x:65534:65534::/:/sbin/nologin\n"
                             "broken:x:abc\n");
        write_file("group", "root:x:0:\nstaff:x:50:app,root\napp:x:1000:\n"
                            "nogroup:x:65534:\nbig:x:4294967295:app\n");
        layers[0] = strdup(path);
        layers[0][strlen(layers[0]) - 4] = '\0'; /* <dir>/layer */
        snprintf(profile_path, sizeof(profile_path), "%s/seccomp.json", dir);
        snprintf(path, sizeof(path), "%s/image", dir);
        user_layers[0] = strdup(path);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/image/etc", dir);
        mkdir(path, 0755);
        caps_held = spec_caps_held();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ProtobufCMessage *m;
        enum kind k;

        if (size < 1)
                return 0;
        k = (enum kind)(data[0] % N_KINDS);
        if (k == K_SECCOMP_FILE) {
                seccomp_file(data + 1, size - 1, false);
                return 0;
        }
        if (k == K_IMAGE_USER) {
                image_user(data + 1, size - 1);
                return 0;
        }
        m = protobuf_c_message_unpack(descs[k], NULL, size - 1, data + 1);
        if (!m)
                return 0; /* the server answers INVALID_ARGUMENT */
        dispatch(k, m);
        protobuf_c_message_free_unpacked(m, NULL);
        return 0;
}
