/* The OCI spec builder: parse the JSON it makes and check the fields. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "sandbox/spec.h"

static char *img_ep[] = {"/bin/sh", "-c", NULL};
static char *img_cmd[] = {"echo hi", NULL};
static char *img_env[] = {"PATH=/bin", "A=image", NULL};
static const struct spec_image img = {img_ep, img_cmd, img_env, "/work"};
/* This machine's kind: every capability but CAP_SYS_RESOURCE (24). */
#define HELD (((uint64_t) 1 << 41) - 1 - ((uint64_t) 1 << 24))
static const struct spec_pod pod = {.id = "p1",
                                    .cgroup_parent = "/uvmd/p1",
                                    .hostname = "web",
                                    .oom_score_adj_floor = -500,
                                    .caps_held = HELD,
                                    .rro_mounts = true};
static const struct ctr_user user = {.uid = 1000, .gid = 1000, .groups = {1000, 10}, .n_groups = 2};

static json_object *build(const Runtime__V1__ContainerConfig *c, const struct spec_pod *p,
                          const char *want_err)
{
        struct uvm_error *err = NULL;
        char *s = NULL;
        json_object *o;
        int r = spec_build(c, &img, p ? p : &pod, "c1", &user, &s, &err);

        if (want_err) {
                assert_int_equal(r, -EINVAL);
                assert_non_null(err);
                if (!strstr(err->msg, want_err))
                        fail_msg("error '%s' lacks '%s'", err->msg, want_err);
                uvm_error_free(err);
                return NULL;
        }
        if (r < 0)
                fail_msg("spec_build: %s", err ? err->msg : "?");
        o = json_tokener_parse(s);
        free(s);
        assert_non_null(o);
        return o;
}

static json_object *at(json_object *o, const char *path)
{
        char buf[256], *save = NULL;

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
                if (json_object_is_type(o, json_type_array))
                        o = json_object_array_get_idx(o, (size_t) atoi(k));
                else if (!json_object_object_get_ex(o, k, &o))
                        return NULL;
        }
        return o;
}

static const char *str_at(json_object *o, const char *path)
{
        json_object *v = at(o, path);

        return v ? json_object_get_string(v) : "(missing)";
}

static bool has_string(json_object *arr, const char *s)
{
        for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
                if (strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s) == 0)
                        return true;
        return false;
}

static void test_defaults_from_image(void **state)
{
        Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        json_object *o = build(&c, NULL, NULL);

        assert_string_equal(str_at(o, "process.args.0"), "/bin/sh");
        assert_string_equal(str_at(o, "process.args.2"), "echo hi");
        assert_string_equal(str_at(o, "process.cwd"), "/work");
        assert_string_equal(str_at(o, "process.env.1"), "A=image");
        assert_int_equal(json_object_get_int(at(o, "process.user.uid")), 1000);
        assert_true(has_string(at(o, "process.capabilities.bounding"), "CAP_CHOWN"));
        assert_false(has_string(at(o, "process.capabilities.bounding"), "CAP_SYS_ADMIN"));
        assert_int_equal(json_object_get_int(at(o, "process.oomScoreAdj")), 0);
        assert_string_equal(str_at(o, "linux.cgroupsPath"), "/uvmd/p1/c1");
        assert_string_equal(str_at(o, "hostname"), "web");
        assert_string_equal(str_at(o, "mounts.0.destination"), "/proc");
        assert_true(has_string(at(o, "linux.maskedPaths"), "/proc/kcore"));
        assert_int_equal(json_object_array_length(at(o, "linux.namespaces")), 5);
        assert_false(json_object_get_boolean(at(o, "root.readonly")));
        json_object_put(o);
}

static void test_command_args_env(void **state)
{
        Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        char *cmd[] = {"/bin/top"}, *args[] = {"-b", "-n1"};
        Runtime__V1__KeyValue kv1 = RUNTIME__V1__KEY_VALUE__INIT, kv2 = kv1;
        Runtime__V1__KeyValue *envs[] = {&kv1, &kv2};
        json_object *o;

        kv1.key = "A";
        kv1.value = "req";
        kv2.key = "B";
        kv2.value = "x=y";
        c.envs = envs;
        c.n_envs = 2;
        c.command = cmd;
        c.n_command = 1; /* drops the image cmd */
        o = build(&c, NULL, NULL);
        assert_int_equal(json_object_array_length(at(o, "process.args")), 1);
        assert_string_equal(str_at(o, "process.args.0"), "/bin/top");
        assert_string_equal(str_at(o, "process.env.1"), "A=req");
        assert_string_equal(str_at(o, "process.env.2"), "B=x=y");
        json_object_put(o);
        c.n_command = 0; /* args only: replace the image cmd, keep the entrypoint */
        c.args = args;
        c.n_args = 2;
        o = build(&c, NULL, NULL);
        assert_string_equal(str_at(o, "process.args.0"), "/bin/sh");
        assert_string_equal(str_at(o, "process.args.2"), "-b");
        assert_int_equal(json_object_array_length(at(o, "process.args")), 4);
        json_object_put(o);
        kv2.key = "B=C";
        build(&c, NULL, "envs[1]: invalid key");
}

static void test_mounts(void **state)
{
        Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        Runtime__V1__Mount m = RUNTIME__V1__MOUNT__INIT;
        Runtime__V1__Mount *ms[] = {&m};
        json_object *o;

        m.container_path = "/data";
        m.host_path = "/srv/data";
        m.readonly = true;
        m.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER;
        c.mounts = ms;
        c.n_mounts = 1;
        o = build(&c, NULL, NULL);
        assert_string_equal(str_at(o, "mounts.7.destination"), "/data");
        assert_string_equal(str_at(o, "mounts.7.source"), "/srv/data");
        assert_true(has_string(at(o, "mounts.7.options"), "ro"));
        assert_true(has_string(at(o, "mounts.7.options"), "rslave"));
        json_object_put(o);
        m.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL;
        m.readonly = false;
        o = build(&c, NULL, NULL);
        assert_true(has_string(at(o, "mounts.7.options"), "rshared"));
        assert_true(has_string(at(o, "mounts.7.options"), "rw"));
        json_object_put(o);
        m.host_path = "/srv/../etc";
        build(&c, NULL, "mounts[0].host_path");
        m.host_path = "relative";
        build(&c, NULL, "mounts[0].host_path");
        m.host_path = "/srv/..data"; /* a name, not a parent reference */
        json_object_put(build(&c, NULL, NULL));
        m.container_path = "/x/..";
        build(&c, NULL, "mounts[0].container_path");
        m.container_path = "/x";
        m.propagation = 9;
        build(&c, NULL, "propagation 9");
}

static void test_mount_propagation_and_rro(void **state)
{
        Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        Runtime__V1__Mount a = RUNTIME__V1__MOUNT__INIT, b = RUNTIME__V1__MOUNT__INIT;
        Runtime__V1__Mount *ms[] = {&a, &b};
        struct spec_pod no_rro = pod;
        json_object *o;

        a.container_path = "/a";
        a.host_path = "/srv/a";
        b.container_path = "/b";
        b.host_path = "/srv/b";
        c.mounts = ms;
        c.n_mounts = 2;
        o = build(&c, NULL, NULL);
        assert_null(at(o, "linux.rootfsPropagation")); /* all private */
        assert_true(has_string(at(o, "mounts.7.options"), "rprivate"));
        json_object_put(o);
        a.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER;
        o = build(&c, NULL, NULL);
        assert_string_equal(str_at(o, "linux.rootfsPropagation"), "rslave");
        json_object_put(o);
        b.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL;
        o = build(&c, NULL, NULL);
        assert_string_equal(str_at(o, "linux.rootfsPropagation"), "rshared");
        json_object_put(o);

        /* Recursive read-only: "rro", only read-only and private, only
         * where the handler can. */
        a.propagation = b.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE;
        a.recursive_read_only = true;
        build(&c, NULL, "needs readonly and PROPAGATION_PRIVATE");
        a.readonly = true;
        o = build(&c, NULL, NULL);
        assert_true(has_string(at(o, "mounts.7.options"), "rro"));
        assert_false(has_string(at(o, "mounts.7.options"), "ro"));
        assert_true(has_string(at(o, "mounts.8.options"), "rw"));
        json_object_put(o);
        a.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER;
        build(&c, NULL, "needs readonly and PROPAGATION_PRIVATE");
        a.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE;
        no_rro.rro_mounts = false;
        build(&c, &no_rro, "cannot make recursive read-only mounts");
}

static void test_image_volume(void **state)
{
        Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        Runtime__V1__Mount m = RUNTIME__V1__MOUNT__INIT;
        Runtime__V1__ImageSpec is = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__Mount *ms[] = {&m};
        json_object *o;

        is.image = "example.com/data:1";
        m.image = &is;
        m.container_path = "/data";
        m.image_sub_path = "sub/dir";
        c.mounts = ms;
        c.n_mounts = 1;
        o = build(&c, NULL, NULL);
        assert_string_equal(str_at(o, "mounts.7.destination"), "/data");
        assert_string_equal(str_at(o, "mounts.7.source"), "");    /* the driver's mount */
        assert_true(has_string(at(o, "mounts.7.options"), "ro")); /* always */
        json_object_put(o);
        m.image_sub_path = "../escape";
        build(&c, NULL, "image_sub_path");
        m.image_sub_path = "/abs";
        build(&c, NULL, "image_sub_path");
        m.image_sub_path = "";
        m.host_path = "/srv";
        build(&c, NULL, "must be empty for an image volume");
        m.image = NULL;
        m.image_sub_path = "x";
        build(&c, NULL, "only for image volumes");
}

static void test_security(void **state)
{
        Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        Runtime__V1__LinuxContainerConfig l = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
        Runtime__V1__LinuxContainerSecurityContext sc =
                RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        Runtime__V1__Capability cap = RUNTIME__V1__CAPABILITY__INIT;
        char *add[] = {"net_admin"}, *drop[] = {"CAP_CHOWN"}, *bad[] = {"CAP_$"};
        int64_t groups[] = {10, 20};
        struct spec_device kvm = {"/dev/kvm", 'c', 10, 232, 0600};
        struct spec_pod priv_pod = pod;
        json_object *o;

        c.linux = &l;
        l.security_context = &sc;
        sc.capabilities = &cap;
        cap.add_capabilities = add;
        cap.n_add_capabilities = 1;
        cap.drop_capabilities = drop;
        cap.n_drop_capabilities = 1;
        sc.no_new_privs = true;
        sc.readonly_rootfs = true;
        sc.supplemental_groups = groups;
        sc.n_supplemental_groups = 2;
        priv_pod.host_devices = &kvm;
        priv_pod.n_host_devices = 1;
        o = build(&c, NULL, NULL);
        assert_true(has_string(at(o, "process.capabilities.bounding"), "CAP_NET_ADMIN"));
        assert_false(has_string(at(o, "process.capabilities.effective"), "CAP_CHOWN"));
        assert_true(json_object_get_boolean(at(o, "process.noNewPrivileges")));
        assert_true(json_object_get_boolean(at(o, "root.readonly")));
        /* The user as resolved (sandbox/user.c), groups as given. */
        assert_int_equal(json_object_get_int(at(o, "process.user.uid")), 1000);
        assert_int_equal(json_object_get_int(at(o, "process.user.additionalGids.1")), 10);
        assert_string_equal(str_at(o, "mounts.5.destination"), "/sys");
        assert_true(has_string(at(o, "mounts.5.options"), "ro"));
        assert_string_equal(str_at(o, "mounts.6.type"), "cgroup");
        assert_true(has_string(at(o, "mounts.6.options"), "ro"));
        json_object_put(o);
        drop[0] = "ALL"; /* then the named add */
        o = build(&c, NULL, NULL);
        assert_int_equal(json_object_array_length(at(o, "process.capabilities.bounding")), 1);
        assert_true(has_string(at(o, "process.capabilities.permitted"), "CAP_NET_ADMIN"));
        json_object_put(o);
        cap.add_capabilities = bad;
        build(&c, NULL, "unknown capability 'CAP_$'");
        sc.capabilities = NULL;
        sc.privileged = true;
        o = build(&c, &priv_pod, NULL);
        /* The host's devices, all allowed; /sys and cgroups writable. */
        assert_string_equal(str_at(o, "linux.devices.0.path"), "/dev/kvm");
        assert_string_equal(str_at(o, "linux.devices.0.type"), "c");
        assert_int_equal(json_object_get_int(at(o, "linux.devices.0.major")), 10);
        assert_true(json_object_get_boolean(at(o, "linux.resources.devices.0.allow")));
        assert_null(at(o, "linux.resources.devices.0.major"));
        assert_true(has_string(at(o, "mounts.5.options"), "rw"));
        assert_true(has_string(at(o, "mounts.6.options"), "rw"));
        assert_true(has_string(at(o, "process.capabilities.bounding"), "CAP_SYS_ADMIN"));
        assert_true(has_string(at(o, "process.capabilities.bounding"), "CAP_BPF"));
        assert_false(has_string(at(o, "process.capabilities.bounding"), "CAP_SYS_RESOURCE"));
        assert_null(at(o, "linux.maskedPaths"));
        json_object_put(o);
}

/* Only what uvmd holds: add ALL means all of that; a named capability it
 * lacks is an error; the defaults lose what it lacks. */
static void test_capabilities_held(void **state)
{
        Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        Runtime__V1__LinuxContainerConfig l = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
        Runtime__V1__LinuxContainerSecurityContext sc =
                RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        Runtime__V1__Capability cap = RUNTIME__V1__CAPABILITY__INIT;
        char *all[] = {"ALL"}, *res[] = {"SYS_RESOURCE"}, *kill[] = {"KILL"};
        struct spec_pod few = pod;
        json_object *o;

        c.linux = &l;
        l.security_context = &sc;
        sc.capabilities = &cap;
        cap.add_capabilities = all;
        cap.n_add_capabilities = 1;
        o = build(&c, NULL, NULL);
        assert_int_equal(json_object_array_length(at(o, "process.capabilities.bounding")), 40);
        assert_true(has_string(at(o, "process.capabilities.effective"), "CAP_SYS_ADMIN"));
        assert_false(has_string(at(o, "process.capabilities.effective"), "CAP_SYS_RESOURCE"));
        json_object_put(o);
        cap.drop_capabilities = kill; /* add ALL, drop one */
        cap.n_drop_capabilities = 1;
        o = build(&c, NULL, NULL);
        assert_int_equal(json_object_array_length(at(o, "process.capabilities.bounding")), 39);
        assert_false(has_string(at(o, "process.capabilities.bounding"), "CAP_KILL"));
        json_object_put(o);
        cap.n_drop_capabilities = 0;
        cap.add_capabilities = res;
        build(&c, NULL, "CAP_SYS_RESOURCE is not in uvmd's capability bounding set");
        cap.n_add_capabilities = 0;
        few.caps_held = (uint64_t) 1 << 5; /* CAP_KILL only */
        o = build(&c, &few, NULL);
        assert_int_equal(json_object_array_length(at(o, "process.capabilities.bounding")), 1);
        assert_string_equal(str_at(o, "process.capabilities.bounding.0"), "CAP_KILL");
        json_object_put(o);
}

static void test_devices(void **state)
{
        Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        Runtime__V1__Device d = RUNTIME__V1__DEVICE__INIT;
        Runtime__V1__Device *ds[] = {&d};
        json_object *o;

        d.container_path = "/dev/xnull";
        d.host_path = "/dev/null";
        d.permissions = "rw";
        c.devices = ds;
        c.n_devices = 1;
        o = build(&c, NULL, NULL);
        assert_string_equal(str_at(o, "linux.devices.0.path"), "/dev/xnull");
        assert_string_equal(str_at(o, "linux.devices.0.type"), "c");
        assert_int_equal(json_object_get_int(at(o, "linux.devices.0.major")), 1);
        assert_int_equal(json_object_get_int(at(o, "linux.devices.0.minor")), 3);
        assert_null(at(o, "linux.devices.0.hostPath"));
        assert_true(json_object_get_boolean(at(o, "linux.resources.devices.0.allow")));
        assert_string_equal(str_at(o, "linux.resources.devices.0.access"), "rw");
        assert_int_equal(json_object_get_int(at(o, "linux.resources.devices.0.minor")), 3);
        json_object_put(o);
        d.host_path = "/dev/uvmd-no-such-device";
        build(&c, NULL, "devices[0].host_path '/dev/uvmd-no-such-device'");
        d.host_path = "/dev/shm";
        build(&c, NULL, "is not a device");
        d.host_path = "/etc/passwd";
        build(&c, NULL, "the host path under /dev");
        d.host_path = "/dev/null";
        d.permissions = "rwx";
        build(&c, NULL, "only r, w, m");
}

static void test_resources(void **state)
{
        Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        Runtime__V1__LinuxContainerConfig l = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
        Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
        json_object *o;

        c.linux = &l;
        l.resources = &r;
        r.cpu_shares = 512;
        r.cpu_quota = 50000;
        r.cpu_period = 100000;
        r.memory_limit_in_bytes = 64 << 20;
        r.cpuset_cpus = "0";
        r.oom_score_adj = -999; /* clamped to the floor */
        o = build(&c, NULL, NULL);
        assert_int_equal(json_object_get_int(at(o, "linux.resources.cpu.shares")), 512);
        assert_int_equal(json_object_get_int(at(o, "linux.resources.cpu.quota")), 50000);
        assert_string_equal(str_at(o, "linux.resources.cpu.cpus"), "0");
        assert_int_equal(json_object_get_int64(at(o, "linux.resources.memory.limit")), 64 << 20);
        assert_int_equal(json_object_get_int(at(o, "process.oomScoreAdj")), -500);
        /* No swap asked: none beyond the memory limit, as an update sets. */
        assert_int_equal(json_object_get_int64(at(o, "linux.resources.memory.swap")), 64 << 20);
        assert_null(at(o, "linux.resources.hugepageLimits"));
        json_object_put(o);

        /* What the kubelet sends at create besides cpu and memory: the
         * swap limit, a limit per huge page size, cgroup v2 files. */
        {
                Runtime__V1__HugepageLimit hp = RUNTIME__V1__HUGEPAGE_LIMIT__INIT;
                Runtime__V1__HugepageLimit *hps[] = {&hp};
                Runtime__V1__LinuxContainerResources__UnifiedEntry u =
                        RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT;
                Runtime__V1__LinuxContainerResources__UnifiedEntry *us[] = {&u};

                hp.page_size = "2MB";
                hp.limit = 0;
                r.hugepage_limits = hps;
                r.n_hugepage_limits = 1;
                u.key = "memory.high";
                u.value = "max";
                r.unified = us;
                r.n_unified = 1;
                r.memory_swap_limit_in_bytes = 128 << 20;
                o = build(&c, NULL, NULL);
                assert_int_equal(json_object_get_int64(at(o, "linux.resources.memory.swap")),
                                 128 << 20);
                assert_string_equal(str_at(o, "linux.resources.hugepageLimits.0.pageSize"), "2MB");
                assert_string_equal(json_object_get_string(json_object_object_get(
                                            at(o, "linux.resources.unified"), "memory.high")),
                                    "max");
                json_object_put(o);
                hp.page_size = "2XB";
                build(&c, NULL, "page_size");
                r.n_hugepage_limits = 0;
                r.memory_swap_limit_in_bytes = 1 << 20;
                build(&c, NULL, "memory_swap_limit_in_bytes");
                r.memory_swap_limit_in_bytes = 0;
                r.n_unified = 0;
        }
        r.oom_score_adj = 5000;
        build(&c, NULL, "oom_score_adj");
        r.oom_score_adj = 0;
        r.memory_limit_in_bytes = 100;
        build(&c, NULL, "memory_limit_in_bytes");
        r.memory_limit_in_bytes = 0;
        r.cpu_shares = -1;
        build(&c, NULL, "cpu_shares");
        r.cpu_shares = 0;
        r.cpu_period = 5;
        build(&c, NULL, "cpu_period");
}

static void test_pod_namespaces_and_cgroups(void **state)
{
        Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        struct spec_pod p = pod;
        json_object *o;

        p.host_network = true;
        p.host_pid = true;
        p.systemd_cgroups = true;
        p.cgroup_parent = "uvmd-p1.slice";
        o = build(&c, &p, NULL);
        assert_int_equal(json_object_array_length(at(o, "linux.namespaces")), 2); /* mount, ipc */
        assert_string_equal(str_at(o, "linux.namespaces.1.type"), "ipc");
        assert_string_equal(str_at(o, "linux.cgroupsPath"), "uvmd-p1.slice:uvmd:c1");
        assert_null(at(o, "hostname"));
        json_object_put(o);
}

static void test_user_namespace(void **state)
{
        static const struct userns_map m = {.uids = {1, {{196608, 0, 65536}}},
                                            .gids = {1, {{196608, 0, 65536}}}};
        Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        Runtime__V1__IDMapping mine = RUNTIME__V1__IDMAPPING__INIT, other = mine, *pm = &mine,
                               *po = &other;
        Runtime__V1__Mount mnt = RUNTIME__V1__MOUNT__INIT, *mp = &mnt;
        Runtime__V1__LinuxContainerConfig lc = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
        Runtime__V1__LinuxContainerSecurityContext sc =
                RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        Runtime__V1__NamespaceOption nso = RUNTIME__V1__NAMESPACE_OPTION__INIT;
        Runtime__V1__UserNamespace un = RUNTIME__V1__USER_NAMESPACE__INIT;
        struct spec_pod p = pod;
        json_object *o;

        mine.host_id = 196608;
        mine.length = 65536;
        other.host_id = 262144;
        other.length = 65536;
        p.userns = &m;
        /* The pod's: a user namespace (the driver fills the path), the mappings. */
        o = build(&c, &p, NULL);
        assert_string_equal(str_at(o, "linux.namespaces.1.type"), "user");
        assert_string_equal(str_at(o, "linux.uidMappings.0.hostID"), "196608");
        assert_string_equal(str_at(o, "linux.gidMappings.0.containerID"), "0");
        assert_string_equal(str_at(o, "linux.uidMappings.0.size"), "65536");
        json_object_put(o);
        /* A mount with the pod's mappings is marked for the agent to idmap. */
        mnt.container_path = "/data";
        mnt.host_path = "/var/lib/kubelet/x";
        mnt.n_uidmappings = mnt.n_gidmappings = 1;
        mnt.uidmappings = mnt.gidmappings = &pm;
        c.mounts = &mp;
        c.n_mounts = 1;
        o = build(&c, &p, NULL);
        assert_string_equal(str_at(o, "mounts.7.destination"), "/data");
        assert_string_equal(str_at(o, "mounts.7.uidMappings.0.hostID"), "196608");
        json_object_put(o);
        /* ... any other mappings cannot be honoured, nor any without a userns. */
        mnt.gidmappings = &po;
        build(&c, &p, "differ from the pod's user namespace");
        build(&c, NULL, "need a pod with its own user namespace");
        c.n_mounts = 0;
        /* The container repeats the pod's userns_options, or leaves them out. */
        c.linux = &lc;
        lc.security_context = &sc;
        sc.namespace_options = &nso;
        nso.userns_options = &un;
        un.mode = RUNTIME__V1__NAMESPACE_MODE__POD;
        un.n_uids = un.n_gids = 1;
        un.uids = un.gids = &pm;
        json_object_put(build(&c, &p, NULL));
        un.gids = &po;
        build(&c, &p, "differ from the pod's");
        build(&c, NULL, "the pod runs in the node's user namespace");
        un.mode = RUNTIME__V1__NAMESPACE_MODE__NODE;
        build(&c, &p, "the pod has its own user namespace");
        un.mode = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
        build(&c, &p, "only POD and NODE");
}

static void test_no_command(void **state)
{
        Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        struct spec_image empty = {0};
        struct uvm_error *err = NULL;
        char *s = NULL;

        assert_int_equal(spec_build(&c, &empty, &pod, "c1", &user, &s, &err), -EINVAL);
        assert_null(s);
        assert_non_null(strstr(err->msg, "no command"));
        uvm_error_free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_from_image),
                cmocka_unit_test(test_command_args_env),
                cmocka_unit_test(test_mounts),
                cmocka_unit_test(test_mount_propagation_and_rro),
                cmocka_unit_test(test_image_volume),
                cmocka_unit_test(test_security),
                cmocka_unit_test(test_capabilities_held),
                cmocka_unit_test(test_devices),
                cmocka_unit_test(test_resources),
                cmocka_unit_test(test_pod_namespaces_and_cgroups),
                cmocka_unit_test(test_user_namespace),
                cmocka_unit_test(test_no_command),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
