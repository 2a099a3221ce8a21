/* Seccomp profiles for containers (see seccomp.h). */

#include <errno.h>
#include <string.h>

#include "common/fs.h"
#include "sandbox/seccomp.h"

#define PROFILE_MAX (1u << 20)

/* Not reachable from a RuntimeDefault container: these act on the host
 * (kernel modules, clocks, swap, reboot, accounting), on other processes'
 * memory, or make new namespaces and mounts. */
static const char *const blocked[] = {
        "acct",
        "add_key",
        "bpf",
        "clock_adjtime",
        "clock_settime",
        "create_module",
        "delete_module",
        "finit_module",
        "fsconfig",
        "fsmount",
        "fsopen",
        "fspick",
        "get_kernel_syms",
        "get_mempolicy",
        "init_module",
        "ioperm",
        "iopl",
        "kcmp",
        "kexec_file_load",
        "kexec_load",
        "keyctl",
        "lookup_dcookie",
        "mbind",
        "mount",
        "mount_setattr",
        "move_mount",
        "move_pages",
        "name_to_handle_at",
        "nfsservctl",
        "open_by_handle_at",
        "open_tree",
        "perf_event_open",
        "pivot_root",
        "process_vm_readv",
        "process_vm_writev",
        "ptrace",
        "query_module",
        "quotactl",
        "reboot",
        "request_key",
        "set_mempolicy",
        "setns",
        "settimeofday",
        "stime",
        "swapoff",
        "swapon",
        "sysfs",
        "_sysctl",
        "umount",
        "umount2",
        "unshare",
        "uselib",
        "userfaultfd",
        "ustat",
        "vm86",
        "vm86old",
};

static json_object *runtime_default(void)
{
        json_object *p = json_object_new_object(), *arches = json_object_new_array();
        json_object *rules = json_object_new_array(), *rule = json_object_new_object();
        json_object *names = json_object_new_array();

        json_object_object_add(p, "defaultAction", json_object_new_string("SCMP_ACT_ALLOW"));
        json_object_array_add(arches, json_object_new_string("SCMP_ARCH_X86_64"));
        json_object_array_add(arches, json_object_new_string("SCMP_ARCH_X86"));
        json_object_array_add(arches, json_object_new_string("SCMP_ARCH_X32"));
        json_object_object_add(p, "architectures", arches);
        for (size_t i = 0; i < ARRAY_SIZE(blocked); i++)
                json_object_array_add(names, json_object_new_string(blocked[i]));
        json_object_object_add(rule, "names", names);
        json_object_object_add(rule, "action", json_object_new_string("SCMP_ACT_ERRNO"));
        json_object_object_add(rule, "errnoRet", json_object_new_int(EPERM));
        json_object_array_add(rules, rule);
        json_object_object_add(p, "syscalls", rules);
        return p;
}

/* Keep what the OCI spec knows of a (possibly Docker-format) profile. */
static int localhost(const char *path, json_object **ret, struct uvm_error **err)
{
        static const char *const top[] = {"defaultAction", "defaultErrnoRet", "architectures",
                                          "flags", "syscalls"};
        static const char *const rule_keys[] = {"names", "action", "errnoRet", "args"};
        _cleanup_free_ char *text = NULL;
        json_object *in, *out, *v, *rules;
        int r;

        if (path[0] != '/' || strstr(path, ".."))
                return uvm_error_set(err, EINVAL,
                                     "seccomp profile \"%s\": must be an absolute path", path);
        r = fs_read_file(path, PROFILE_MAX, &text, NULL);
        if (r < 0)
                return uvm_error_set(err, EINVAL, "seccomp profile \"%s\": %s", path, strerror(-r));
        in = json_tokener_parse(text);
        if (!in || !json_object_is_type(in, json_type_object) ||
            !json_object_object_get_ex(in, "defaultAction", &v) ||
            !json_object_is_type(v, json_type_string)) {
                json_object_put(in);
                return uvm_error_set(err, EINVAL,
                                     "seccomp profile \"%s\": not a JSON object with a "
                                     "defaultAction",
                                     path);
        }
        out = json_object_new_object();
        for (size_t i = 0; i < ARRAY_SIZE(top); i++)
                if (json_object_object_get_ex(in, top[i], &v) && strcmp(top[i], "syscalls") != 0)
                        json_object_object_add(out, top[i], json_object_get(v));
        rules = json_object_new_array();
        if (json_object_object_get_ex(in, "syscalls", &v) &&
            json_object_is_type(v, json_type_array))
                for (size_t i = 0; i < json_object_array_length(v); i++) {
                        json_object *rin = json_object_array_get_idx(v, i), *rout, *x;
                        if (!json_object_is_type(rin, json_type_object))
                                continue;
                        rout = json_object_new_object();
                        for (size_t k = 0; k < ARRAY_SIZE(rule_keys); k++)
                                if (json_object_object_get_ex(rin, rule_keys[k], &x))
                                        json_object_object_add(rout, rule_keys[k],
                                                               json_object_get(x));
                        json_object_array_add(rules, rout);
                }
        json_object_object_add(out, "syscalls", rules);
        json_object_put(in);
        *ret = out;
        return 0;
}

int seccomp_profile(const Runtime__V1__LinuxContainerSecurityContext *sc, json_object **ret,
                    struct uvm_error **err)
{
        const Runtime__V1__SecurityProfile *p = sc->seccomp;
        const char *legacy;

        /* Older kubelets still send the string form. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        legacy = sc->seccomp_profile_path;
#pragma GCC diagnostic pop

        *ret = NULL;
        if (sc->privileged)
                return 0;
        if (p) {
                switch (p->profile_type) {
                case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault:
                        *ret = runtime_default();
                        return 0;
                case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined:
                        return 0;
                case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost:
                        return localhost(p->localhost_ref ? p->localhost_ref : "", ret, err);
                default:
                        return uvm_error_set(err, EINVAL, "seccomp: unknown profile type %d",
                                             p->profile_type);
                }
        }
        if (!legacy || !*legacy || strcmp(legacy, "unconfined") == 0)
                return 0;
        if (strcmp(legacy, "runtime/default") == 0 || strcmp(legacy, "docker/default") == 0) {
                *ret = runtime_default();
                return 0;
        }
        if (strncmp(legacy, "localhost/", 10) == 0)
                return localhost(legacy + 10, ret, err);
        return uvm_error_set(err, EINVAL, "seccomp_profile_path \"%s\": unknown form", legacy);
}
